/*
 * fp8_dequantize: x = decode(q) * s in f32, then RNE to out_dtype. The scale's shape
 * says its granularity (as fp8_quantize / mx_quantize produce it).
 */
#include "rows.h"
#include "scale_layout.h"

#define OP "fp8_dequantize"

static bool same_dims(const int64_t *a, const int64_t *b, int n) {
  for (int i = 0; i < n; i++)
    if (a[i] != b[i]) return false;
  return true;
}

/* Reads the granularity off the scale's shape. */
static fp8gemm_status layout_of(const fp8gemm_tensor *q, const fp8gemm_tensor *scale,
                                int64_t group_size, fp8g_scale_layout *L) {
  fp8g_scale_layout_init(L, (fp8gemm_granularity)0, 1, q->dims, q->ndim);
  if (!scale) return FP8GEMM_OK;
  fp8gemm_status s = fp8g_check_tensor(OP, "scale", scale, false);
  if (s != FP8GEMM_OK) return s;
  if (scale->dtype != FP8GEMM_F32 && scale->dtype != FP8GEMM_E8M0)
    return fp8g_error(FP8GEMM_INVALID_ARGUMENT, OP ": scale.dtype: expected f32 or e8m0, got %s",
                      fp8g_dtype_str(scale->dtype));
  int64_t g = group_size ? group_size : scale->dtype == FP8GEMM_E8M0 ? 32 : 128;
  int n = q->ndim, sn = scale->ndim;
  int64_t numel = fp8g_dims_product(scale->dims, 0, sn);
  int64_t rows = fp8g_dims_product(q->dims, 0, n - 1), K = q->dims[n - 1];
  fp8g_scale_layout_init(L, FP8GEMM_PER_TENSOR, g, q->dims, n);
  if (numel == 1) return FP8GEMM_OK;
  if (sn >= 1 && scale->dims[sn - 1] == 1 && numel == rows) {
    fp8g_scale_layout_init(L, FP8GEMM_PER_TOKEN, g, q->dims, n);
    return FP8GEMM_OK;
  }
  int64_t nbk = fp8g_ceil_div(K, g);
  if (sn == n && same_dims(scale->dims, q->dims, n - 1) && scale->dims[n - 1] == nbk) {
    fp8g_scale_layout_init(L, FP8GEMM_PER_BLOCK, g, q->dims, n);
    return FP8GEMM_OK;
  }
  if (sn == n && n >= 2 && same_dims(scale->dims, q->dims, n - 2) &&
      scale->dims[n - 2] == fp8g_ceil_div(q->dims[n - 2], g) && scale->dims[n - 1] == nbk) {
    fp8g_scale_layout_init(L, FP8GEMM_PER_BLOCK2D, g, q->dims, n);
    return FP8GEMM_OK;
  }
  char qs[128], ss[128];
  return fp8g_error(FP8GEMM_INVALID_ARGUMENT,
                    OP ": scale.shape: expected numel 1, [*, 1] with numel %lld (rows), "
                       "q.shape[:-1] + [%lld] (1 x %lld blocks) or q.shape[:-2] + [ceil(R/%lld), "
                       "%lld] (blocks) for q of shape %s, got %s",
                    (long long)rows, (long long)nbk, (long long)g, (long long)g, (long long)nbk,
                    fp8g_shape_str(q, qs, sizeof qs), fp8g_shape_str(scale, ss, sizeof ss));
}

fp8gemm_status fp8gemm_fp8_dequantize_infer(const fp8gemm_tensor *q, const fp8gemm_tensor *scale,
                                            fp8gemm_dtype out_dtype, int64_t group_size,
                                            fp8gemm_tensor *out_desc) {
  fp8gemm_status s = fp8g_check_tensor(OP, "q", q, false);
  if (s != FP8GEMM_OK) return s;
  if (!fp8gemm_dtype_is_fp8(q->dtype) && q->dtype != FP8GEMM_E2M1)
    return fp8g_error(FP8GEMM_INVALID_ARGUMENT,
                      OP ": q.dtype: expected e4m3fn, e5m2, e4m3fnuz, e5m2fnuz or e2m1, got %s",
                      fp8g_dtype_str(q->dtype));
  if (q->ndim < 1)
    return fp8g_error(FP8GEMM_INVALID_ARGUMENT, OP ": q: expected rank >= 1, got 0");
  if (out_dtype != FP8GEMM_F32 && out_dtype != FP8GEMM_BF16 && out_dtype != FP8GEMM_F16)
    return fp8g_error(FP8GEMM_INVALID_ARGUMENT, OP ": out_dtype: expected f32, bf16 or f16, got %s",
                      fp8g_dtype_str(out_dtype));
  if (group_size < 0)
    return fp8g_error(FP8GEMM_INVALID_ARGUMENT,
                      OP ": group_size: expected >= 1 (or 0 for the default), got %lld",
                      (long long)group_size);
  fp8g_scale_layout L;
  if ((s = layout_of(q, scale, group_size, &L)) != FP8GEMM_OK) return s;
  if (!out_desc) return fp8g_error(FP8GEMM_INVALID_ARGUMENT, OP ": out_desc is NULL");
  fp8g_make_contiguous(out_desc, out_dtype, q->ndim, q->dims);
  return FP8GEMM_OK;
}

typedef struct dequant_job {
  fp8g_rows in;
  const fp8g_quant_kernels *kern;
  const fp8gemm_tensor *scale;
  fp8g_scale_layout L;
  fp8gemm_dtype out_dtype;
  char *out;
  size_t out_bytes;
  bool nt; /* flat spans through dequantize_narrow_nt */
} dequant_job;

static float scale_at(const dequant_job *j, int64_t row, int64_t group) {
  const fp8gemm_tensor *t = j->scale;
  if (!t) return 1.0f;
  int64_t off = fp8g_offset_of(t, t->ndim, fp8g_scale_index(&j->L, row, group));
  if (t->dtype == FP8GEMM_E8M0) return fp8g_decode(FP8GEMM_E8M0, ((const uint8_t *)t->data)[off]);
  return ((const float *)t->data)[off];
}

/* Decoded, scaled and rounded to out_dtype in one fused pass per scale group. */
static void dequant_span(void *ctx, int64_t task, int64_t row, int64_t k0, size_t n) {
  const dequant_job *j = ctx;
  (void)task;
  uint8_t codes_buf[FP8G_CHUNK];
  fp8gemm_dtype from = j->in.t->dtype, to = j->out_dtype;
  const uint8_t *codes = fp8g_rows_codes(&j->in, row, k0, n, codes_buf);
  char *out = j->out + (size_t)(row * j->in.K + k0) * j->out_bytes;
  int64_t end = k0 + (int64_t)n;
  bool per_group = j->L.gran == FP8GEMM_PER_BLOCK || j->L.gran == FP8GEMM_PER_BLOCK2D;
  if (!per_group) {
    j->kern->dequantize_narrow(codes, n, from, scale_at(j, row, 0), to, out);
  } else if (from == FP8GEMM_E2M1 && j->L.gk % 2) {
    /* Odd groups split packed bytes: decode exactly (times 1), then one multiply each. */
    float buf[FP8G_CHUNK];
    j->kern->dequantize(codes, n, from, 1.0f, buf);
    for (int64_t k = k0; k < end; k++) buf[k - k0] *= scale_at(j, row, k / j->L.gk);
    j->kern->narrow(buf, to, out, n);
  } else {
    for (int64_t k = k0; k < end;) {
      int64_t g = k / j->L.gk, c0, c1;
      fp8g_scale_group_cols(&j->L, g, &c0, &c1);
      if (c1 > end) c1 = end;
      size_t at = (size_t)(k - k0);
      const uint8_t *c = from == FP8GEMM_E2M1 ? codes + at / 2 : codes + at;
      j->kern->dequantize_narrow(c, (size_t)(c1 - k), from, scale_at(j, row, g), to,
                                 out + at * j->out_bytes);
      k = c1;
    }
  }
}

/* Contiguous fp8 codes under one scale (per tensor, or none) as one flat row (k0 = the
 * flat index): spans cross rows, so a tensor of short rows costs a kernel call (and its
 * per-call table setup) per 1 Mi codes, not per row. The codes map one to one onto the
 * output, so the values do not depend on where the spans fall. */
static void dequant_span_flat(void *ctx, int64_t task, int64_t row, int64_t k0, size_t n) {
  const dequant_job *j = ctx;
  (void)task;
  (void)row;
  (j->nt ? j->kern->dequantize_narrow_nt : j->kern->dequantize_narrow)(
      (const uint8_t *)j->in.t->data + k0, n, j->in.t->dtype, scale_at(j, 0, 0), j->out_dtype,
      j->out + (size_t)k0 * j->out_bytes);
}

fp8gemm_status fp8gemm_fp8_dequantize(const fp8gemm_tensor *q, const fp8gemm_tensor *scale,
                                      fp8gemm_dtype out_dtype, int64_t group_size,
                                      fp8gemm_tensor *out) {
  fp8gemm_tensor od;
  fp8gemm_status s = fp8gemm_fp8_dequantize_infer(q, scale, out_dtype, group_size, &od);
  if (s != FP8GEMM_OK) return s;
  if ((s = fp8g_check_tensor(OP, "q", q, true)) != FP8GEMM_OK) return s;
  if (scale && (s = fp8g_check_tensor(OP, "scale", scale, true)) != FP8GEMM_OK) return s;
  if ((s = fp8g_check_out(OP, "out", out, &od)) != FP8GEMM_OK) return s;
  dequant_job j = {{0}, fp8g_quant_kernels_for(fp8g_isa()), scale, {0}, out_dtype, out->data,
                   out_dtype == FP8GEMM_F32 ? 4u : 2u, false};
  fp8g_rows_init(&j.in, q);
  layout_of(q, scale, group_size, &j.L);
  /* Contiguous codes need no gather buffer: long spans (the odd-e2m1-group path keeps
   * its f32 buffer of FP8G_CHUNK). max_span stays a multiple of 32 and of 2. 1 Mi: the
   * AVX2 kernel walks a span as 4 far-apart parts in turn (QS_STREAMS), 256 KiB of codes
   * apart (docs/quant_kernels.md, "Zen 3, session 12"). */
  bool odd_e2m1 = q->dtype == FP8GEMM_E2M1 && j.L.gk % 2 &&
                  (j.L.gran == FP8GEMM_PER_BLOCK || j.L.gran == FP8GEMM_PER_BLOCK2D);
  bool contiguous = q->dtype == FP8GEMM_E2M1 || j.in.kstride == 1 || j.in.K == 1;
  int64_t max_span = contiguous && !odd_e2m1 ? (int64_t)1 << 20 : FP8G_CHUNK;
  if (q->dtype != FP8GEMM_E2M1 && (!scale || j.L.gran == FP8GEMM_PER_TENSOR) &&
      fp8g_is_contiguous(q)) {
    /* Flat outputs of >= FP8G_NT_OUT_BYTES stream (bf16: 5 bytes of traffic per code
     * -> 3; docs/quant_kernels.md, "Zen 4, session 15"); spans of 1 Mi codes, one sfence
     * each. Per-token / per-block spans do not stream. */
    j.nt = j.in.rows * j.in.K * (int64_t)j.out_bytes >= FP8G_NT_OUT_BYTES;
    fp8g_for_spans_max(1, j.in.rows * j.in.K, 1, max_span, dequant_span_flat, &j);
    return FP8GEMM_OK;
  }
  fp8g_for_spans_max(j.in.rows, j.in.K, q->dtype == FP8GEMM_E2M1 ? 2 : 1, max_span, dequant_span, &j);
  return FP8GEMM_OK;
}
