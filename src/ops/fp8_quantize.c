/*
 * fp8_quantize: q = quantize(x / s), s per tensor / token / 1 x g block / g x g block,
 * dynamic (from amax) or static. Infer validates everything; the op writes nothing
 * until every check has passed.
 */
#include <float.h>
#include <math.h>
#include <string.h>

#include "rows.h"
#include "scale_layout.h"

#define OP "fp8_quantize"

/* Strided rows up to this length are gathered once into f32 (contiguous rows are read in
 * place by the fused kernels, whatever their length). */
#define ROW_BUF 8192

static fp8gemm_status check_scale_ub(const fp8gemm_tensor *scale_ub, bool need_data) {
  fp8gemm_status s = fp8g_check_tensor(OP, "scale_ub", scale_ub, need_data);
  if (s != FP8GEMM_OK) return s;
  if (scale_ub->dtype != FP8GEMM_F32)
    return fp8g_error(FP8GEMM_INVALID_ARGUMENT, OP ": scale_ub.dtype: expected f32, got %s",
                      fp8g_dtype_str(scale_ub->dtype));
  int64_t n = fp8g_dims_product(scale_ub->dims, 0, scale_ub->ndim);
  if (n != 1)
    return fp8g_error(FP8GEMM_INVALID_ARGUMENT, OP ": scale_ub: expected numel 1, got %lld",
                      (long long)n);
  return FP8GEMM_OK;
}

static fp8gemm_status check_static_scale(const fp8gemm_tensor *scale, const fp8gemm_tensor *want,
                                         bool need_data) {
  char a[128], b[128];
  fp8gemm_status s = fp8g_check_tensor(OP, "scale", scale, need_data);
  if (s != FP8GEMM_OK) return s;
  if (scale->dtype != FP8GEMM_F32)
    return fp8g_error(FP8GEMM_INVALID_ARGUMENT, OP ": scale.dtype: expected f32, got %s",
                      fp8g_dtype_str(scale->dtype));
  bool same = scale->ndim == want->ndim;
  for (int i = 0; same && i < want->ndim; i++) same = scale->dims[i] == want->dims[i];
  /* A per-tensor scale may come as any numel-1 shape (0-d, [1], [1, 1]). */
  if (want->ndim == 1 && want->dims[0] == 1 && fp8g_dims_product(scale->dims, 0, scale->ndim) == 1)
    same = true;
  if (!same)
    return fp8g_error(FP8GEMM_INVALID_ARGUMENT, OP ": scale.shape: expected %s, got %s",
                      fp8g_shape_str(want, a, sizeof a), fp8g_shape_str(scale, b, sizeof b));
  return FP8GEMM_OK;
}

fp8gemm_status fp8gemm_fp8_quantize_infer(const fp8gemm_tensor *input, fp8gemm_dtype fp8_dtype,
                                          fp8gemm_granularity granularity, int64_t group_size,
                                          const fp8gemm_tensor *scale,
                                          const fp8gemm_tensor *scale_ub, double min_scale,
                                          fp8gemm_tensor *q_desc, fp8gemm_tensor *scale_desc) {
  bool block = granularity == FP8GEMM_PER_BLOCK || granularity == FP8GEMM_PER_BLOCK2D;
  if (granularity < FP8GEMM_PER_TENSOR || granularity > FP8GEMM_PER_BLOCK2D)
    return fp8g_error(FP8GEMM_INVALID_ARGUMENT,
                      OP ": granularity: expected 1 (tensor), 2 (token), 3 (block) or 4 (block2d), "
                         "got %d",
                      (int)granularity);
  fp8gemm_status s = fp8g_require_wide(OP, "input", input,
                                       granularity == FP8GEMM_PER_BLOCK2D ? 2 : 1);
  if (s != FP8GEMM_OK) return s;
  if (!fp8gemm_dtype_is_fp8(fp8_dtype))
    return fp8g_error(FP8GEMM_INVALID_ARGUMENT,
                      OP ": fp8_dtype: expected e4m3fn, e5m2, e4m3fnuz or e5m2fnuz, got %s",
                      fp8g_dtype_str(fp8_dtype));
  if (block && group_size < 1)
    return fp8g_error(FP8GEMM_INVALID_ARGUMENT, OP ": group_size: expected >= 1, got %lld",
                      (long long)group_size);
  /* range-checked in double first: the conversion to f32 is then defined */
  if (!(min_scale > 0 && min_scale <= FLT_MAX) || !((float)min_scale > 0))
    return fp8g_error(FP8GEMM_INVALID_ARGUMENT,
                      OP ": min_scale: expected a finite value > 0 (also as f32), got %g",
                      min_scale);
  if (scale_ub) {
    if (scale)
      return fp8g_error(FP8GEMM_INVALID_ARGUMENT,
                        OP ": scale_ub: applies to dynamic scales only, expected NULL with a "
                           "static scale");
    if ((s = check_scale_ub(scale_ub, false)) != FP8GEMM_OK) return s;
  }
  fp8g_scale_layout L;
  fp8g_scale_layout_init(&L, granularity, group_size, input->dims, input->ndim);
  int64_t sdims[FP8GEMM_MAX_DIMS];
  int srank = fp8g_scale_layout_shape(&L, input->dims, input->ndim, sdims);
  /* An empty input (K == 0) can still have a scale shape whose product overflows. */
  if (fp8g_dims_product(sdims, 0, srank) < 0)
    return fp8g_error(FP8GEMM_INVALID_ARGUMENT,
                      OP ": input: the scale shape for this granularity overflows a 64-bit "
                         "element count");
  fp8gemm_tensor qd, sd;
  fp8g_make_contiguous(&qd, fp8_dtype, input->ndim, input->dims);
  fp8g_make_contiguous(&sd, FP8GEMM_F32, srank, sdims);
  if (scale && (s = check_static_scale(scale, &sd, false)) != FP8GEMM_OK) return s;
  if (!q_desc) return fp8g_error(FP8GEMM_INVALID_ARGUMENT, OP ": q_desc is NULL");
  if (!scale_desc) return fp8g_error(FP8GEMM_INVALID_ARGUMENT, OP ": scale_desc is NULL");
  *q_desc = qd;
  *scale_desc = sd;
  return FP8GEMM_OK;
}

/* ------------------------------------------------------------------------ the run */

typedef struct quant_job {
  fp8g_rows in;
  const fp8g_quant_kernels *kern;
  fp8gemm_dtype to;
  fp8g_scale_layout L;
  float fp8_max, ub, min_scale;
  bool dynamic;
  bool nt; /* per token: codes written with non-temporal stores (quantize_wide_pf_nt) */
  uint8_t *q;
  float *s;
  int64_t rows_per_task, ntasks;
  float partial[FP8G_MAX_TASKS]; /* per-tensor amax of each span task */
} quant_job;

/* s = max(min(amax, ub) / fp8_max, min_scale); a NaN ub bounds nothing. */
static float dynamic_scale(const quant_job *j, float amax) {
  if (j->ub < amax) amax = j->ub;
  float s = amax / j->fp8_max;
  return s > j->min_scale ? s : j->min_scale;
}

/* Rows [r0, r1) of a task: a run of rows, or for block2d one g-row band of one matrix. */
static void rows_of_task(const quant_job *j, int64_t task, int64_t *r0, int64_t *r1) {
  if (j->L.gran == FP8GEMM_PER_BLOCK2D) {
    int64_t matrix = task / j->L.nbr, band = task % j->L.nbr;
    *r0 = matrix * j->L.R + band * j->L.gr;
    int64_t left = (matrix + 1) * j->L.R - *r0;
    *r1 = *r0 + (left < j->L.gr ? left : j->L.gr);
    return;
  }
  *r0 = task * j->rows_per_task;
  *r1 = j->in.rows - *r0 > j->rows_per_task ? *r0 + j->rows_per_task : j->in.rows;
}

/* A row as the kernels take it: p in dtype dt (the tensor itself when contiguous, read
 * by the fused amax_wide / quantize_wide; else f32 gathered into a buffer), or p NULL:
 * too long for the buffer, the callers stream it in chunks. */
typedef struct row_view {
  const void *p;
  fp8gemm_dtype dt;
} row_view;

static const void *view_at(row_view v, int64_t k) {
  return (const char *)v.p + (size_t)k * (v.dt == FP8GEMM_F32 ? 4 : 2);
}

static row_view whole_row(const quant_job *j, int64_t row, float *buf) {
  int64_t K = j->in.K;
  row_view v = {buf, FP8GEMM_F32};
  if (K <= 0) return v;
  const void *p = fp8g_rows_wide(&j->in, row, 0, (size_t)K);
  if (p) {
    v.p = p;
    v.dt = j->in.t->dtype;
    return v;
  }
  if (K > ROW_BUF) {
    v.p = NULL;
    return v;
  }
  for (int64_t k = 0; k < K; k += FP8G_CHUNK) {
    size_t n = (size_t)(K - k < FP8G_CHUNK ? K - k : FP8G_CHUNK);
    const float *x = fp8g_rows_load(&j->in, j->kern, row, k, n, buf + k);
    if (x != buf + k) memcpy(buf + k, x, n * sizeof *x);
  }
  return v;
}

/* max |x| over group g of a row, NaN ignored. */
static float group_amax(const quant_job *j, int64_t row, int64_t g, row_view x) {
  int64_t c0, c1;
  fp8g_scale_group_cols(&j->L, g, &c0, &c1);
  if (x.p) return c1 > c0 ? j->kern->amax_wide(view_at(x, c0), x.dt, (size_t)(c1 - c0)) : 0.0f;
  float buf[FP8G_CHUNK], m = 0.0f;
  for (int64_t k = c0; k < c1; k += FP8G_CHUNK) {
    size_t n = (size_t)(c1 - k < FP8G_CHUNK ? c1 - k : FP8G_CHUNK);
    float a = j->kern->amax(fp8g_rows_load(&j->in, j->kern, row, k, n, buf), n);
    if (a > m) m = a;
  }
  return m;
}

/* q of group g of a row = quantize(x / s). next: a span of the same length and dtype for
 * the kernel to prefetch meanwhile (NULL: none). With j->nt the codes are streamed, and
 * the task ends with the kernel's nt_fence. */
static void group_quantize(const quant_job *j, int64_t row, int64_t g, row_view x, float s,
                           const void *next) {
  int64_t c0, c1;
  fp8g_scale_group_cols(&j->L, g, &c0, &c1);
  uint8_t *q = j->q + row * j->in.K;
  if (x.p) {
    if (c1 > c0)
      (j->nt ? j->kern->quantize_wide_pf_nt : j->kern->quantize_wide_pf)(
          view_at(x, c0), x.dt, (size_t)(c1 - c0), s, j->to, true, q + c0, next);
    return;
  }
  float buf[FP8G_CHUNK];
  for (int64_t k = c0; k < c1; k += FP8G_CHUNK) {
    size_t n = (size_t)(c1 - k < FP8G_CHUNK ? c1 - k : FP8G_CHUNK);
    j->kern->quantize(fp8g_rows_load(&j->in, j->kern, row, k, n, buf), n, s, j->to, true, q + k);
  }
}

/* One task: rows [r0, r1), which own every scale they touch (token / block / block2d). */
static void quant_task(void *ctx, int64_t task) {
  const quant_job *j = ctx;
  float buf[ROW_BUF];
  int64_t r0, r1;
  rows_of_task(j, task, &r0, &r1);
  if (j->dynamic && j->L.gran != FP8GEMM_PER_BLOCK2D) {
    /* A row owns its scales: amax, scale and codes group by group, one read of the row
     * when it fits in buf. Per token, the next row (when read in place) is prefetched
     * while this one is quantized: its amax pass then reads cache, and the memory
     * stream overlaps the arithmetic instead of alternating with it. */
    for (int64_t r = r0; r < r1; r++) {
      row_view x = whole_row(j, r, buf);
      const void *next = NULL;
      if (j->L.nbk == 1 && x.p && x.dt == j->in.t->dtype && r + 1 < r1)
        next = fp8g_rows_wide(&j->in, r + 1, 0, (size_t)j->in.K);
      for (int64_t g = 0; g < j->L.nbk; g++) {
        float s = dynamic_scale(j, group_amax(j, r, g, x));
        j->s[fp8g_scale_index(&j->L, r, g)] = s;
        group_quantize(j, r, g, x, s, next);
      }
    }
    if (j->nt) j->kern->nt_fence();
    return;
  }
  if (j->dynamic) {
    /* block2d: the band's rows share its scales: amax over the band first. */
    for (int64_t g = 0; g < j->L.nbk; g++) j->s[fp8g_scale_index(&j->L, r0, g)] = 0.0f;
    for (int64_t r = r0; r < r1; r++) {
      row_view x = whole_row(j, r, buf);
      for (int64_t g = 0; g < j->L.nbk; g++) {
        int64_t idx = fp8g_scale_index(&j->L, r, g);
        float a = group_amax(j, r, g, x);
        if (a > j->s[idx]) j->s[idx] = a;
      }
    }
    for (int64_t g = 0; g < j->L.nbk; g++) {
      int64_t idx = fp8g_scale_index(&j->L, r0, g);
      j->s[idx] = dynamic_scale(j, j->s[idx]);
    }
  }
  for (int64_t r = r0; r < r1; r++) {
    row_view x = whole_row(j, r, buf);
    for (int64_t g = 0; g < j->L.nbk; g++)
      group_quantize(j, r, g, x, j->s[fp8g_scale_index(&j->L, r, g)], NULL);
  }
}

/* Per tensor: amax of the spans of each task, then codes of every span with s[0]. */
static void tensor_amax_span(void *ctx, int64_t task, int64_t row, int64_t k0, size_t n) {
  quant_job *j = ctx;
  float buf[FP8G_CHUNK];
  const void *p = fp8g_rows_wide(&j->in, row, k0, n);
  float a = p ? j->kern->amax_wide(p, j->in.t->dtype, n)
              : j->kern->amax(fp8g_rows_load(&j->in, j->kern, row, k0, n, buf), n);
  if (a > j->partial[task]) j->partial[task] = a;
}

static void tensor_quantize_span(void *ctx, int64_t task, int64_t row, int64_t k0, size_t n) {
  const quant_job *j = ctx;
  float buf[FP8G_CHUNK];
  (void)task;
  uint8_t *q = j->q + row * j->in.K + k0;
  const void *p = fp8g_rows_wide(&j->in, row, k0, n);
  if (p) j->kern->quantize_wide(p, j->in.t->dtype, n, j->s[0], j->to, true, q);
  else j->kern->quantize(fp8g_rows_load(&j->in, j->kern, row, k0, n, buf), n, j->s[0], j->to, true, q);
}

/* Splits rows into tasks (block2d: one task per g-row band of a matrix). */
static void plan_tasks(quant_job *j, int threads) {
  if (j->L.gran == FP8GEMM_PER_BLOCK2D) {
    j->rows_per_task = j->L.gr;
    j->ntasks = j->L.R ? j->in.rows / j->L.R * j->L.nbr : 0;
    return;
  }
  int64_t rows = j->in.rows, want = threads > 1 ? fp8g_task_count(threads, rows * j->in.K) : 1;
  int64_t per = rows / want + (rows % want != 0);
  j->rows_per_task = per < 1 ? 1 : per;
  j->ntasks = rows / j->rows_per_task + (rows % j->rows_per_task != 0);
}

fp8gemm_status fp8gemm_fp8_quantize(const fp8gemm_tensor *input, fp8gemm_dtype fp8_dtype,
                                    fp8gemm_granularity granularity, int64_t group_size,
                                    const fp8gemm_tensor *scale, const fp8gemm_tensor *scale_ub,
                                    double min_scale, fp8gemm_tensor *q,
                                    fp8gemm_tensor *scale_out) {
  fp8gemm_tensor qd, sd;
  fp8gemm_status s = fp8gemm_fp8_quantize_infer(input, fp8_dtype, granularity, group_size, scale,
                                                scale_ub, min_scale, &qd, &sd);
  if (s != FP8GEMM_OK) return s;
  if ((s = fp8g_check_tensor(OP, "input", input, true)) != FP8GEMM_OK) return s;
  if (scale && (s = fp8g_check_tensor(OP, "scale", scale, true)) != FP8GEMM_OK) return s;
  if (scale_ub && (s = check_scale_ub(scale_ub, true)) != FP8GEMM_OK) return s;
  if ((s = fp8g_check_out(OP, "q", q, &qd)) != FP8GEMM_OK) return s;
  if ((s = fp8g_check_out(OP, "scale_out", scale_out, &sd)) != FP8GEMM_OK) return s;

  static quant_job zero_job;
  quant_job j = zero_job;
  fp8g_rows_init(&j.in, input);
  j.kern = fp8g_quant_kernels_for(fp8g_isa());
  j.to = fp8_dtype;
  fp8g_scale_layout_init(&j.L, granularity, group_size, input->dims, input->ndim);
  j.fp8_max = fp8g_traits(fp8_dtype)->max_finite;
  j.ub = scale_ub ? *(const float *)scale_ub->data : INFINITY;
  j.min_scale = (float)min_scale;
  j.dynamic = scale == NULL;
  j.q = q->data;
  j.s = scale_out->data;
  int64_t nscales = fp8g_dims_product(sd.dims, 0, sd.ndim);
  if (scale) {
    for (int64_t i = 0; i < nscales; i++)
      j.s[i] = ((const float *)scale->data)[fp8g_offset_of(scale, scale->ndim, i)];
  }
  if (granularity == FP8GEMM_PER_TENSOR) {
    if (j.dynamic) {
      fp8g_for_spans(j.in.rows, j.in.K, 1, tensor_amax_span, &j);
      float m = 0.0f;
      for (int t = 0; t < FP8G_MAX_TASKS; t++)
        if (j.partial[t] > m) m = j.partial[t];
      j.s[0] = dynamic_scale(&j, m);
    }
    fp8g_for_spans(j.in.rows, j.in.K, 1, tensor_quantize_span, &j);
    return FP8GEMM_OK;
  }
  /* Per token, codes larger than the last-level cache (FP8G_NT_OUT_BYTES) are
   * streamed: a consumer reads them from memory anyway, and no line of them is read for
   * ownership first. The kernel streams only bf16 rows that own whole lines (q 64-byte
   * aligned, K a multiple of 64), so e.g. a caller's 64-byte-aligned [M, 4096] tensor.
   * Per token only: that branch of quant_task is the one that ends with nt_fence. */
  j.nt = j.dynamic && j.L.gran == FP8GEMM_PER_TOKEN && j.in.rows * j.in.K >= FP8G_NT_OUT_BYTES;
  int threads = fp8g_op_threads(j.in.rows * j.in.K);
  plan_tasks(&j, threads);
  fp8g_parallel_for(j.ntasks, threads, quant_task, &j);
  return FP8GEMM_OK;
}
