/*
 * Walking a tensor of any rank and strides as rows of its last dim, [rows, K], in
 * contiguous chunks the quant kernels can take. Shared by the quantization ops.
 */
#ifndef FP8GEMM_OPS_ROWS_H
#define FP8GEMM_OPS_ROWS_H

#include "../kernels/quant_kernels.h"

/* Largest span handed to a kernel at once (floats on the stack). A multiple of 32. */
#define FP8G_CHUNK 2048

/* Outputs of at least this many bytes (larger than the last-level cache here, 32 MiB) go
 * through the kernels' streaming-store entries: their consumer reads them from memory
 * anyway, and no line of them is read for ownership first. One threshold for fp8_cast,
 * per-token fp8_quantize, mx_quantize and fp8_dequantize (fp8 codes: one byte each). */
#define FP8G_NT_OUT_BYTES ((int64_t)32 << 20)

typedef struct fp8g_rows {
  const fp8gemm_tensor *t;
  int64_t rows, K; /* rank 0 is one row of one element */
  int64_t kstride; /* stride of the last dim (elements) */
} fp8g_rows;

void fp8g_rows_init(fp8g_rows *v, const fp8gemm_tensor *t);
/* Element offset of x[row, 0]. */
int64_t fp8g_rows_offset(const fp8g_rows *v, int64_t row);
/* x[row, k0 .. k0+n) as f32 (x is f32, bf16 or f16): a pointer into the tensor when it
 * is contiguous f32 already, else widened into buf (n <= its size). */
const float *fp8g_rows_load(const fp8g_rows *v, const fp8g_quant_kernels *kern, int64_t row,
                            int64_t k0, size_t n, float *buf);
/* x[row, k0 .. k0+n) in the tensor's own dtype (for the fused kernels): a pointer into
 * the tensor when the span is contiguous, else NULL. */
const void *fp8g_rows_wide(const fp8g_rows *v, int64_t row, int64_t k0, size_t n);
/* The 8-bit codes x[row, k0 .. k0+n): a pointer into the tensor when the row is
 * contiguous, else gathered into buf. e2m1 rows are always contiguous (k0 even). */
const uint8_t *fp8g_rows_codes(const fp8g_rows *v, int64_t row, int64_t k0, size_t n,
                               uint8_t *buf);

/* The shared input rule of the quant ops: a checked tensor of dtype f32, bf16 or f16
 * with rank >= min_rank. */
fp8gemm_status fp8g_require_wide(const char *op, const char *arg, const fp8gemm_tensor *t,
                                 int min_rank);

/* Threads for an op touching `elements` elements: 1 for small work. */
int fp8g_op_threads(int64_t elements);

/* Most tasks fp8g_for_spans makes (callers may keep one partial result per task). */
#define FP8G_MAX_TASKS 256

/* How many tasks to split `elements` of work into for `threads` threads (> 1): up to
 * 32 per thread, none under 64 Ki elements, but at least 4 per thread. Fine tasks keep
 * both threads busy to the end when one runs slower (a shared vCPU, a late wake-up):
 * with 4 per thread, one thread sat idle for a median 8-12% of a 2-thread MX /
 * dequantize call on the Zen 4 VM, with 32 per thread ~2% (docs/quant_kernels.md,
 * "Zen 4, session 7"). */
int64_t fp8g_task_count(int threads, int64_t elements);

/*
 * Calls fn(ctx, task, row, k0, n) over every span of a [rows, K] iteration space, each
 * span inside one row, n <= FP8G_CHUNK, k0 a multiple of `align` (K must be one too),
 * in parallel over disjoint flat ranges (tasks 0 .. FP8G_MAX_TASKS-1) when the work is
 * large. Spans of one task run in order on one thread.
 */
typedef void (*fp8g_span_fn)(void *ctx, int64_t task, int64_t row, int64_t k0, size_t n);
void fp8g_for_spans(int64_t rows, int64_t K, int64_t align, fp8g_span_fn fn, void *ctx);
/* The same with spans of up to max_span (>= FP8G_CHUNK) elements, for callers that need
 * no per-span stack buffer (fewer kernel calls, less per-call setup). */
void fp8g_for_spans_max(int64_t rows, int64_t K, int64_t align, int64_t max_span, fp8g_span_fn fn,
                        void *ctx);

#endif /* FP8GEMM_OPS_ROWS_H */
