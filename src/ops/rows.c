/* Row walking and the parallel span driver of the quantization ops. */
#include "rows.h"

void fp8g_rows_init(fp8g_rows *v, const fp8gemm_tensor *t) {
  v->t = t;
  if (t->ndim == 0) {
    v->rows = 1;
    v->K = 1;
    v->kstride = 1;
    return;
  }
  v->K = t->dims[t->ndim - 1];
  v->rows = fp8g_dims_product(t->dims, 0, t->ndim - 1);
  v->kstride = t->strides[t->ndim - 1];
}

int64_t fp8g_rows_offset(const fp8g_rows *v, int64_t row) {
  return v->t->ndim == 0 ? 0 : fp8g_offset_of(v->t, v->t->ndim - 1, row);
}

static size_t wide_bytes(fp8gemm_dtype dtype) { return dtype == FP8GEMM_F32 ? 4 : 2; }

const float *fp8g_rows_load(const fp8g_rows *v, const fp8g_quant_kernels *kern, int64_t row,
                            int64_t k0, size_t n, float *buf) {
  int64_t off = fp8g_rows_offset(v, row) + k0 * v->kstride;
  const char *base = (const char *)v->t->data;
  if (v->kstride == 1 || n == 1) {
    const char *p = base + (size_t)off * wide_bytes(v->t->dtype);
    if (v->t->dtype == FP8GEMM_F32) return (const float *)(const void *)p;
    kern->widen(p, v->t->dtype, buf, n);
    return buf;
  }
  for (size_t i = 0; i < n; i++)
    buf[i] = fp8g_load_wide(v->t->data, v->t->dtype, off + (int64_t)i * v->kstride);
  return buf;
}

const void *fp8g_rows_wide(const fp8g_rows *v, int64_t row, int64_t k0, size_t n) {
  if (v->kstride != 1 && n != 1) return NULL;
  int64_t off = fp8g_rows_offset(v, row) + k0 * v->kstride;
  return (const char *)v->t->data + (size_t)off * wide_bytes(v->t->dtype);
}

const uint8_t *fp8g_rows_codes(const fp8g_rows *v, int64_t row, int64_t k0, size_t n,
                               uint8_t *buf) {
  const uint8_t *base = v->t->data;
  int64_t off = fp8g_rows_offset(v, row);
  if (v->t->dtype == FP8GEMM_E2M1) return base + (off + k0) / 2;
  off += k0 * v->kstride;
  if (v->kstride == 1 || n == 1) return base + off;
  for (size_t i = 0; i < n; i++) buf[i] = base[off + (int64_t)i * v->kstride];
  return buf;
}

fp8gemm_status fp8g_require_wide(const char *op, const char *arg, const fp8gemm_tensor *t,
                                 int min_rank) {
  fp8gemm_status s = fp8g_check_tensor(op, arg, t, false);
  if (s != FP8GEMM_OK) return s;
  const fp8g_dtype_traits *tr = fp8g_traits(t->dtype);
  if (!tr->is_wide)
    return fp8g_error(FP8GEMM_INVALID_ARGUMENT, "%s: %s.dtype: expected f32, bf16 or f16, got %s",
                      op, arg, tr->name);
  if (t->ndim < min_rank)
    return fp8g_error(FP8GEMM_INVALID_ARGUMENT, "%s: %s: expected rank >= %d, got %d", op, arg,
                      min_rank, (int)t->ndim);
  return FP8GEMM_OK;
}

int fp8g_op_threads(int64_t elements) {
  if (elements < (int64_t)1 << 16) return 1;
  return fp8gemm_get_num_threads();
}

int64_t fp8g_task_count(int threads, int64_t elements) {
  int64_t most = (int64_t)threads * 32, least = (int64_t)threads * 4;
  int64_t n = elements / ((int64_t)1 << 16);
  n = n < least ? least : n > most ? most : n;
  return n < FP8G_MAX_TASKS ? n : FP8G_MAX_TASKS;
}

typedef struct spans_job {
  int64_t rows, K, total, per_task, max_span;
  fp8g_span_fn fn;
  void *ctx;
} spans_job;

/* Walks flat [begin, end) of the row-major [rows, K] space in row-bounded chunks. */
static void walk(const spans_job *j, int64_t task, int64_t begin, int64_t end) {
  int64_t pos = begin;
  while (pos < end) {
    int64_t row = pos / j->K, k = pos % j->K;
    int64_t n = j->K - k;
    if (n > end - pos) n = end - pos;
    if (n > j->max_span) n = j->max_span;
    j->fn(j->ctx, task, row, k, (size_t)n);
    pos += n;
  }
}

static void spans_task(void *ctx, int64_t task) {
  const spans_job *j = ctx;
  int64_t begin = task * j->per_task;
  int64_t end = begin + j->per_task < j->total ? begin + j->per_task : j->total;
  walk(j, task, begin, end);
}

void fp8g_for_spans(int64_t rows, int64_t K, int64_t align, fp8g_span_fn fn, void *ctx) {
  fp8g_for_spans_max(rows, K, align, FP8G_CHUNK, fn, ctx);
}

void fp8g_for_spans_max(int64_t rows, int64_t K, int64_t align, int64_t max_span, fp8g_span_fn fn,
                        void *ctx) {
  if (rows <= 0 || K <= 0) return;
  spans_job j = {rows, K, rows * K, 0, max_span < FP8G_CHUNK ? FP8G_CHUNK : max_span, fn, ctx};
  int threads = fp8g_op_threads(j.total);
  if (threads <= 1) {
    walk(&j, 0, 0, j.total);
    return;
  }
  /* Task bounds aligned so every span starts on an aligned column (K is a multiple of
   * align). */
  int64_t ntasks = fp8g_task_count(threads, j.total);
  int64_t per = (j.total + ntasks - 1) / ntasks;
  int64_t unit = align > 1 ? align : 1;
  if (per < FP8G_CHUNK) per = FP8G_CHUNK;
  per = (per + unit - 1) / unit * unit;
  j.per_task = per;
  fp8g_parallel_for((j.total + per - 1) / per, threads, spans_task, &j);
}
