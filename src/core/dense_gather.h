/*
 * Copying a strided view into its dense row-major form without per-element index
 * arithmetic: dims of size 1 are dropped and mergeable dims merged, the innermost two
 * dims are copied as a matrix (rows, or cache-blocked tiles when the view is a
 * transpose: the NT view of a checkpoint's [N, K/32] scale), and the outer dims are
 * stepped like an odometer. Used by the GEMM op layer for scales and bias that are not
 * already in the layout the kernels read, and by gemv_avx512bf16 when it hands a call
 * with column-major MX codes to a kernel that reads them by row.
 */
#ifndef FP8GEMM_CORE_DENSE_GATHER_H
#define FP8GEMM_CORE_DENSE_GATHER_H

#include "../internal.h"

/*
 * dst[i] = element i (row-major logical order) of the view t, for every element.
 * to_f32 false: t is e8m0 and dst receives its codes (uint8_t).
 * to_f32 true: t is f32, bf16, f16 or e8m0 and dst receives fp32 values (float): f32
 * bits copied as they are (NaN payloads included), bf16 / f16 widened exactly, e8m0
 * as 2^(code - 127) with 0xFF -> NaN. t->data must be valid when t has elements.
 */
void fp8g_gather_dense(const fp8gemm_tensor *t, bool to_f32, void *dst);

#endif /* FP8GEMM_CORE_DENSE_GATHER_H */
