/* Private declarations shared by the library's layers. Not installed. */
#ifndef FP8GEMM_INTERNAL_H
#define FP8GEMM_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fp8gemm.h"

#if defined(__GNUC__)
#define FP8G_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define FP8G_PRINTF(f, a)
#endif

/* ------------------------------------------------------------ errors (core/status.c) */
/* Records a formatted message as the thread's last error and returns `status`. */
fp8gemm_status fp8g_error(fp8gemm_status status, const char *fmt, ...) FP8G_PRINTF(2, 3);

/* ------------------------------------------------------------ dtype traits (core/dtype.c) */
typedef struct fp8g_dtype_traits {
  const char *name;
  int bits;          /* storage bits per element */
  bool is_fp8;       /* e4m3fn, e5m2, e4m3fnuz, e5m2fnuz */
  bool is_wide;      /* bf16, f16, f32 */
  float max_finite;  /* largest finite value (narrow formats and wide ones) */
} fp8g_dtype_traits;

/* NULL for FP8GEMM_DTYPE_NONE or out-of-range values. */
const fp8g_dtype_traits *fp8g_traits(fp8gemm_dtype dtype);
/* Name for messages: the dtype's name, "none" or "invalid(N)". Never NULL. */
const char *fp8g_dtype_str(fp8gemm_dtype dtype);

/* ------------------------------------------------------------ tensors (core/tensor.c) */
/*
 * Checks a descriptor: non-NULL, valid dtype, 0 <= ndim <= MAX, dims >= 0, numel and
 * every reachable element offset fit in int64, e2m1 layout rules. `op` and `arg` name
 * it in the error message. When need_data is true, data must be non-NULL if numel > 0.
 */
fp8gemm_status fp8g_check_tensor(const char *op, const char *arg, const fp8gemm_tensor *t,
                                 bool need_data);
/* Product of dims[from..to), -1 on overflow. */
int64_t fp8g_dims_product(const int64_t *dims, int from, int to);
/* Writes a row-major contiguous descriptor (data = NULL). Caller guarantees no overflow. */
void fp8g_make_contiguous(fp8gemm_tensor *t, fp8gemm_dtype dtype, int ndim, const int64_t *dims);
/* True if the tensor is row-major contiguous (dims of size 1 ignore their stride). */
bool fp8g_is_contiguous(const fp8gemm_tensor *t);
/* The same over dims [from, ndim) only (the outer dims may have any strides). */
bool fp8g_is_contiguous_from(const fp8gemm_tensor *t, int from);
/* "2x7x4096" (or "scalar") into buf; returns buf. */
const char *fp8g_shape_str(const fp8gemm_tensor *t, char *buf, size_t size);
/* Checks that `out` has exactly the dtype, dims and strides of `expected` and data. */
fp8gemm_status fp8g_check_out(const char *op, const char *arg, const fp8gemm_tensor *out,
                              const fp8gemm_tensor *expected);
/* Element offset (in elements) of the flat row-major index `flat` over dims[0..ndim). */
int64_t fp8g_offset_of(const fp8gemm_tensor *t, int ndim, int64_t flat);
/* Reads element at element offset `off` of a f32/bf16/f16 tensor as f32 (exact). */
float fp8g_load_wide(const void *data, fp8gemm_dtype dtype, int64_t off);

/* ------------------------------------------------------------ scalar formats (formats/) */
/* The bits of an f32 and back (memcpy: no aliasing UB; compiles to a register move). */
static inline uint32_t fp8g_f32_bits(float x) {
  uint32_t u;
  __builtin_memcpy(&u, &x, sizeof u);
  return u;
}
static inline float fp8g_f32_from_bits(uint32_t u) {
  float x;
  __builtin_memcpy(&x, &u, sizeof x);
  return x;
}

/* The portable, bit-exact reference conversions of docs/numerics. */
float fp8g_decode(fp8gemm_dtype from, uint8_t code);              /* fp8, e2m1 nibble, e8m0 */
uint8_t fp8g_encode(fp8gemm_dtype to, float x, bool saturate);    /* fp8, e2m1 nibble, e8m0 */
float fp8g_bf16_to_f32(uint16_t h);
uint16_t fp8g_f32_to_bf16(float x);   /* RNE, NaN stays NaN */
float fp8g_f16_to_f32(uint16_t h);
uint16_t fp8g_f32_to_f16(float x);    /* RNE, overflow -> Inf */

/* ------------------------------------------------------------ CPU / ISA (core/cpu.c) */
fp8gemm_isa fp8g_isa(void); /* = fp8gemm_isa_active(), cheap */

/* ------------------------------------------------------------ threads (core/threads.c) */
/* Runs fn(ctx, i) for i in [0, n_tasks) on up to nthreads threads (the caller's
 * included) of a pool kept across calls. Task-to-thread assignment must not change
 * results: kernels make each task write a disjoint output region. */
typedef void (*fp8g_task_fn)(void *ctx, int64_t task);
void fp8g_parallel_for(int64_t n_tasks, int nthreads, fp8g_task_fn fn, void *ctx);

/* ------------------------------------------------------------ big buffers (core/huge_pages.c) */
/* Long-lived buffers of >= FP8G_HUGE_PAGE bytes (prepacked weights) on 2 MiB pages where
 * Linux offers them: a fresh mapping, 2 MiB-aligned, its length rounded up to a 2 MiB
 * multiple, madvise(MADV_HUGEPAGE) before anything touches it (a hint: its failure is
 * ignored; with THP "never" the pages stay 4 KiB). Smaller buffers, other systems, or a
 * failed mapping: malloc. *mapped = the mapping's length, 0 when malloc'd; pass it to
 * fp8g_big_free. NULL when out of memory. */
enum { FP8G_HUGE_PAGE = 2 << 20 };
void *fp8g_big_alloc(size_t bytes, size_t *mapped);
void fp8g_big_free(void *p, size_t mapped);

/* FP8G_ASAN: defined when built with AddressSanitizer (gcc or clang). Under it the bytes
 * a mapping holds past `bytes` are poisoned until fp8g_big_free. */
#if defined(__SANITIZE_ADDRESS__)
#define FP8G_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FP8G_ASAN 1
#endif
#endif

/* ------------------------------------------------------------ capability (per op family) */
/* Each op family answers fp8gemm_query for its ops; registry/registry.c dispatches here.
 * OK and *info filled when served, else FP8GEMM_UNIMPLEMENTED with a message. */
fp8gemm_status fp8g_query_fp8_gemm(fp8gemm_scheme scheme, fp8gemm_dtype dtype,
                                   fp8gemm_kernel_info *info);
fp8gemm_status fp8g_query_fp8_gemm_w8a16(fp8gemm_scheme scheme, fp8gemm_dtype dtype,
                                         fp8gemm_kernel_info *info);
/* fp8_quantize, mx_quantize, fp8_dequantize, fp8_cast. */
fp8gemm_status fp8g_query_quant(fp8gemm_op op, fp8gemm_scheme scheme, fp8gemm_dtype dtype,
                                fp8gemm_kernel_info *info);

#endif /* FP8GEMM_INTERNAL_H */
