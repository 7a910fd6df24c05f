/*
 * AVX2 decode kernels (M * batch <= 16) for fp8_gemm and fp8_gemm_w8a16: fp8 weights
 * are streamed once, decoded in registers and multiplied in fp32 (FMA). N is split
 * across threads in fixed panels (never K), so every thread count gives the same bits.
 *
 * gemv_avx2.c drives a problem (activation decode, panels, scales, epilogue);
 * gemv_avx2_nn.c and gemv_avx2_nt.c hold the register-blocked tile loops for the two
 * weight layouts. This header is plain C so the kernel table can include it.
 */
#ifndef FP8GEMM_GEMV_AVX2_H
#define FP8GEMM_GEMV_AVX2_H

#include "../gemm_kernels.h"

extern const fp8g_gemm_kernel fp8g_gemv_avx2_w8a8;
extern const fp8g_gemm_kernel fp8g_gemv_avx2_w8a16;

/* Largest batch * m the decode kernels take; rows are run in groups of GEMV_MR_MAX. */
enum { GEMV_ROWS_MAX = 16, GEMV_MR_MAX = 8 };

/*
 * NN tile (N contiguous, axpy form): acc[i][j] += sum_k a[i][k] * w[k][j] for mr rows
 * and nv * 8 columns over nk rows of K. acc is fp32 carried in memory between calls.
 */
typedef struct gemv_nn_tile {
  const uint8_t *b; /* &B[k0][col0] */
  int64_t ldb;      /* elements between consecutive k */
  const float *a;   /* &A[row0][k0] (decoded activations) */
  int64_t lda;
  float *acc;       /* &acc[row0][col0] */
  int64_t ldacc;
  int64_t nk;
  const float *table; /* decode(code) / factor for the table route */
  const void *const *pf; /* addresses to prefetch, one per row of K run (npf <= nk) */
  int64_t npf;
} gemv_nn_tile;

/*
 * NT tile (K contiguous per column, dot form): part[i][c] = sum_k a[i][k] * w[c][k]
 * for mr rows and cn columns over nk values of K (8 lanes, summed in a fixed order).
 */
typedef struct gemv_nt_tile {
  const uint8_t *b; /* &B[col0][k0]: column c at b + c * ldb */
  int64_t ldb;
  const float *a;   /* &A[row0][k0] */
  int64_t lda;
  float *part;      /* sum of row i, column c at part[i * ldpart + c * cstride] */
  int64_t ldpart;
  int64_t cstride;  /* between the part entries of consecutive columns */
  int64_t nk;
  const float *table;
  /* NULL, or per-step column factors (MX weights folded in exactly): the 32-code step q
   * of column c is multiplied by cscale[q * ldcs + c * cs_cstride] before it is
   * accumulated (the driver's tables are step-major or, for MX codes read in place,
   * column-major). */
  const float *cscale;
  int64_t ldcs, cs_cstride;
  /* The columns the next tile will read (next_cols of them, row stride ldb, same K
   * range; 0 columns: none): their first bytes are prefetched. */
  const uint8_t *next;
  int next_cols;
} gemv_nt_tile;

/* Decoder routes; values are template parameters of the tile kernels. */
enum {
  GEMV_DEC_E4M3FN = 0,   /* F16C, value * 2^-8 */
  GEMV_DEC_E5M2 = 1,     /* F16C, exact */
  GEMV_DEC_TABLE = 2,    /* gathers from the call's table */
  GEMV_DEC_E4M3FN_I = 3, /* integer, value * 2^-120 */
  GEMV_DEC_E5M2_I = 4,   /* integer, value * 2^-112 */
  /* The "interleaved" routes of the NT tiles: 32 codes per load, v[r] holds codes
   * 4j + r in lane j (gemv_intx32); the activations are permuted to match. */
  GEMV_DEC_E4M3FN_X = 5, /* integer, value * 2^-120 */
  GEMV_DEC_E5M2_X = 6,   /* integer, value * 2^-112 */
  GEMV_DEC_TABLE_X = 7   /* gathers, same order as the two above */
};

/* Preferred tile widths for mr rows (vectors of 8 columns for NN, columns for NT). */
int gemv_avx2_nn_width(int mr);
int gemv_avx2_nt_width(int mr);

/* Run one tile with decoder `route` (GEMV_DEC_*). nv / cn is the preferred width or 1.
 * Returns 1, writing nothing, if the e4m3fn fast route met a NaN code: the caller
 * reruns the tile with the table route. */
int gemv_avx2_nn_tile(const gemv_nn_tile *t, int mr, int nv, int route);
int gemv_avx2_nt_tile(const gemv_nt_tile *t, int mr, int cn, int route);

#endif /* FP8GEMM_GEMV_AVX2_H */
