/* The naive baseline's matrix multiply for `fp8gemm bench`: a plain fp32 GEMM of our
 * own (GotoBLAS-style blocking, 6 x 16 AVX2/FMA micro-kernel, N split over threads). */
#ifndef FP8GEMM_CLI_BENCH_SGEMM_H
#define FP8GEMM_CLI_BENCH_SGEMM_H

#include <stdint.h>

/* c[m][n] = a[m][k] * B, all fp32 row-major; B is b[k][n], or b[n][k] transposed when
 * b_trans (a checkpoint weight). Returns 0, or -1 if out of memory. */
int bench_sgemm(int64_t m, int64_t n, int64_t k, const float *a, const float *b, int b_trans,
                float *c, int threads);

#endif
