/* fp8_cast: elementwise f32 / bf16 / f16 -> any narrow format, cast or quantize flavour. */
#include "../formats/formats.h"
#include "rows.h"

#define OP "fp8_cast"

/* fp8 outputs of >= FP8G_NT_OUT_BYTES (rows.h), from a contiguous f32 tensor, are written with
 * non-temporal stores: they are larger than the last-level cache here (32 MiB), so a
 * consumer reads them from memory anyway, and streaming saves the read-for-ownership
 * of every line (cast f32 -> fp8 moves 5 bytes per element instead of 6). The tensor is
 * walked flat in spans of NT_SPAN elements: each kernel call ends with an sfence,
 * which per 2 Ki-element span (or per row) cost more than the streaming saved. The AVX2
 * kernel walks such a span as 4 far-apart parts in turn (QS_STREAMS): 1 Mi elements put
 * them 1 MiB apart in x (64 Ki: 64 KiB; docs/quant_kernels.md, "Zen 3, session 12"). */
#define NT_SPAN ((int64_t)1 << 20)

fp8gemm_status fp8gemm_fp8_cast_infer(const fp8gemm_tensor *x, fp8gemm_dtype to, int saturate,
                                      fp8gemm_tensor *out_desc) {
  (void)saturate; /* any value: 0 is the cast, non-zero the saturating quantize */
  fp8gemm_status s = fp8g_require_wide(OP, "x", x, 0);
  if (s != FP8GEMM_OK) return s;
  if (!fp8g_is_narrow(to))
    return fp8g_error(FP8GEMM_INVALID_ARGUMENT,
                      OP ": to: expected e4m3fn, e5m2, e4m3fnuz, e5m2fnuz, e2m1 or e8m0, got %s",
                      fp8g_dtype_str(to));
  if (to == FP8GEMM_E2M1 && x->ndim == 0)
    return fp8g_error(FP8GEMM_INVALID_ARGUMENT,
                      OP ": x: e2m1 packs two per byte, expected rank >= 1, got a scalar");
  if (to == FP8GEMM_E2M1 && x->dims[x->ndim - 1] % 2 != 0)
    return fp8g_error(FP8GEMM_INVALID_ARGUMENT,
                      OP ": x.shape[-1]: e2m1 packs two per byte, expected an even length, got %lld",
                      (long long)x->dims[x->ndim - 1]);
  if (!out_desc) return fp8g_error(FP8GEMM_INVALID_ARGUMENT, OP ": out_desc is NULL");
  fp8g_make_contiguous(out_desc, to, x->ndim, x->dims);
  return FP8GEMM_OK;
}

typedef struct cast_job {
  fp8g_rows in;
  const fp8g_quant_kernels *kern;
  fp8gemm_dtype to;
  bool saturate;
  uint8_t *out;
} cast_job;

/* a contiguous f32 tensor as one flat row (k0 = the flat index), codes streamed */
static void cast_span_nt(void *ctx, int64_t task, int64_t row, int64_t k0, size_t n) {
  const cast_job *j = ctx;
  (void)task;
  (void)row;
  j->kern->quantize_nt((const float *)j->in.t->data + k0, n, 1.0f, j->to, j->saturate,
                       j->out + k0);
}

static void cast_span(void *ctx, int64_t task, int64_t row, int64_t k0, size_t n) {
  const cast_job *j = ctx;
  float buf[FP8G_CHUNK];
  (void)task;
  const float *x = fp8g_rows_load(&j->in, j->kern, row, k0, n, buf);
  int64_t flat = row * j->in.K + k0;
  j->kern->quantize(x, n, 1.0f, j->to, j->saturate,
                    j->out + (j->to == FP8GEMM_E2M1 ? flat / 2 : flat));
}

fp8gemm_status fp8gemm_fp8_cast(const fp8gemm_tensor *x, fp8gemm_dtype to, int saturate,
                                fp8gemm_tensor *out) {
  fp8gemm_tensor od;
  fp8gemm_status s = fp8gemm_fp8_cast_infer(x, to, saturate, &od);
  if (s != FP8GEMM_OK) return s;
  if ((s = fp8g_check_tensor(OP, "x", x, true)) != FP8GEMM_OK) return s;
  if ((s = fp8g_check_out(OP, "out", out, &od)) != FP8GEMM_OK) return s;
  cast_job j = {{0}, fp8g_quant_kernels_for(fp8g_isa()), to, saturate != 0, out->data};
  fp8g_rows_init(&j.in, x);
  int64_t numel = j.in.rows * j.in.K;
  if (to != FP8GEMM_E2M1 && x->dtype == FP8GEMM_F32 && fp8g_is_contiguous(x) &&
      numel >= FP8G_NT_OUT_BYTES)
    fp8g_for_spans_max(1, numel, 1, NT_SPAN, cast_span_nt, &j);
  else
    fp8g_for_spans(j.in.rows, j.in.K, to == FP8GEMM_E2M1 ? 2 : 1, cast_span, &j);
  return FP8GEMM_OK;
}
