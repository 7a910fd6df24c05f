/*
 * mx_quantize: OCP MX blocks of 32 along the last dim, one e8m0 scale per block,
 * floor or rceil scale rule (docs/numerics.md). Elements e4m3fn, e5m2 or e2m1.
 */
#include "rows.h"

#define OP "mx_quantize"
#define MX_BLOCK 32

fp8gemm_status fp8gemm_mx_quantize_infer(const fp8gemm_tensor *input, fp8gemm_dtype elem_dtype,
                                         int64_t block_size, fp8gemm_mx_scale_mode mode,
                                         fp8gemm_tensor *q_desc, fp8gemm_tensor *scales_desc) {
  fp8gemm_status s = fp8g_require_wide(OP, "input", input, 1);
  if (s != FP8GEMM_OK) return s;
  if (elem_dtype != FP8GEMM_E4M3FN && elem_dtype != FP8GEMM_E5M2 && elem_dtype != FP8GEMM_E2M1)
    return fp8g_error(FP8GEMM_INVALID_ARGUMENT,
                      OP ": elem_dtype: expected e4m3fn, e5m2 or e2m1, got %s",
                      fp8g_dtype_str(elem_dtype));
  if (block_size < 1)
    return fp8g_error(FP8GEMM_INVALID_ARGUMENT, OP ": block_size: expected 32, got %lld",
                      (long long)block_size);
  if (block_size != MX_BLOCK)
    return fp8g_error(FP8GEMM_UNIMPLEMENTED,
                      OP ": block_size: only 32 (OCP MX v1.0) is implemented, got %lld",
                      (long long)block_size);
  if (mode != FP8GEMM_MX_FLOOR && mode != FP8GEMM_MX_RCEIL)
    return fp8g_error(FP8GEMM_INVALID_ARGUMENT,
                      OP ": mode: expected 1 (floor) or 2 (rceil), got %d", (int)mode);
  int last = input->ndim - 1;
  int64_t K = input->dims[last];
  if (K % MX_BLOCK != 0)
    return fp8g_error(FP8GEMM_INVALID_ARGUMENT,
                      OP ": input.shape[-1]: expected a multiple of %d, got %lld", MX_BLOCK,
                      (long long)K);
  if (!q_desc) return fp8g_error(FP8GEMM_INVALID_ARGUMENT, OP ": q_desc is NULL");
  if (!scales_desc) return fp8g_error(FP8GEMM_INVALID_ARGUMENT, OP ": scales_desc is NULL");
  int64_t sdims[FP8GEMM_MAX_DIMS];
  for (int i = 0; i < last; i++) sdims[i] = input->dims[i];
  sdims[last] = K / MX_BLOCK;
  fp8g_make_contiguous(q_desc, elem_dtype, input->ndim, input->dims);
  fp8g_make_contiguous(scales_desc, FP8GEMM_E8M0, input->ndim, sdims);
  return FP8GEMM_OK;
}

/* Contiguous f32 input is read in place, so spans need no stack buffer: up to this many
 * elements (whole blocks) per kernel call instead of FP8G_CHUNK, as fp8_dequantize does. */
#define MX_SPAN ((int64_t)1 << 16)

/* fp8 codes of f32 input at least this large are streamed (mx_quantize_nt), as
 * fp8_cast and per-token fp8_quantize do (FP8G_NT_OUT_BYTES): larger than
 * the last-level cache here (32 MiB), so a consumer reads them from memory anyway, and
 * no line is read for ownership first. A kernel call that streamed ends with an sfence,
 * so those spans are longer: one fence per Mi codes. Task and span bounds are multiples
 * of 32 elements, not of 64 codes, so two calls (two threads) may share a line: safe
 * because the kernel streams only the whole 64-byte lines inside its own output and
 * writes a half line at either end with ordinary stores. */
#define MX_NT_SPAN ((int64_t)1 << 20)

typedef struct mx_job {
  fp8g_rows in;
  const fp8g_quant_kernels *kern;
  fp8gemm_dtype elem;
  fp8gemm_mx_scale_mode mode;
  bool nt; /* f32 spans through mx_quantize_nt */
  uint8_t *q, *scales;
} mx_job;

/* Blocks of x[flat .. flat+n) to q and scales (flat and n multiples of 32). */
static void mx_put(const mx_job *j, const float *x, int64_t flat, size_t n) {
  uint8_t *q = j->q + (j->elem == FP8GEMM_E2M1 ? flat / 2 : flat);
  (j->nt ? j->kern->mx_quantize_nt : j->kern->mx_quantize)(x, n / MX_BLOCK, j->elem, j->mode, q,
                                                           j->scales + flat / MX_BLOCK);
}

static void mx_span(void *ctx, int64_t task, int64_t row, int64_t k0, size_t n) {
  const mx_job *j = ctx;
  float buf[FP8G_CHUNK];
  (void)task;
  const float *x = fp8g_rows_load(&j->in, j->kern, row, k0, n, buf);
  mx_put(j, x, row * j->in.K + k0, n); /* k0 multiple of 32 */
}

/* A contiguous f32 tensor as one flat row (k0 = the flat index). K is a multiple of 32,
 * so every block of the flat walk lies inside one row of the tensor. */
static void mx_span_flat(void *ctx, int64_t task, int64_t row, int64_t k0, size_t n) {
  const mx_job *j = ctx;
  (void)task;
  (void)row;
  mx_put(j, (const float *)j->in.t->data + k0, k0, n);
}

/* f32 rows of unit stride (the outer strides arbitrary): each row read in place. */
static void mx_span_rows(void *ctx, int64_t task, int64_t row, int64_t k0, size_t n) {
  const mx_job *j = ctx;
  (void)task;
  mx_put(j, fp8g_rows_wide(&j->in, row, k0, n), row * j->in.K + k0, n);
}

fp8gemm_status fp8gemm_mx_quantize(const fp8gemm_tensor *input, fp8gemm_dtype elem_dtype,
                                   int64_t block_size, fp8gemm_mx_scale_mode mode,
                                   fp8gemm_tensor *q, fp8gemm_tensor *scales) {
  fp8gemm_tensor qd, sd;
  fp8gemm_status s = fp8gemm_mx_quantize_infer(input, elem_dtype, block_size, mode, &qd, &sd);
  if (s != FP8GEMM_OK) return s;
  if ((s = fp8g_check_tensor(OP, "input", input, true)) != FP8GEMM_OK) return s;
  if ((s = fp8g_check_out(OP, "q", q, &qd)) != FP8GEMM_OK) return s;
  if ((s = fp8g_check_out(OP, "scales", scales, &sd)) != FP8GEMM_OK) return s;
  mx_job j = {{0}, fp8g_quant_kernels_for(fp8g_isa()), elem_dtype, mode, false, q->data,
              scales->data};
  fp8g_rows_init(&j.in, input);
  /* Task bounds stay multiples of 32 in every walk (align), so blocks are never split. */
  if (input->dtype != FP8GEMM_F32 || j.in.kstride != 1) {
    fp8g_for_spans(j.in.rows, j.in.K, MX_BLOCK, mx_span, &j);
    return FP8GEMM_OK;
  }
  j.nt = elem_dtype != FP8GEMM_E2M1 && j.in.rows * j.in.K >= FP8G_NT_OUT_BYTES;
  int64_t span = j.nt ? MX_NT_SPAN : MX_SPAN;
  if (fp8g_is_contiguous(input))
    fp8g_for_spans_max(1, j.in.rows * j.in.K, MX_BLOCK, span, mx_span_flat, &j);
  else
    fp8g_for_spans_max(j.in.rows, j.in.K, MX_BLOCK, span, mx_span_rows, &j);
  return FP8GEMM_OK;
}
