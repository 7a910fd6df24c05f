/*
 * Where the scale of element [row, k] of a [rows, K] view lives, for every
 * granularity of docs/numerics.md: per tensor, per row, 1 x g blocks along K and
 * g x g blocks over the last two dims. Shared by fp8_quantize and fp8_dequantize.
 */
#ifndef FP8GEMM_OPS_SCALE_LAYOUT_H
#define FP8GEMM_OPS_SCALE_LAYOUT_H

#include "../internal.h"

typedef struct fp8g_scale_layout {
  fp8gemm_granularity gran; /* 0: no scale (s = 1) */
  int64_t K;                /* length of a row */
  int64_t gk;               /* columns sharing a scale (>= 1) */
  int64_t nbk;              /* scale groups along K (1 for tensor / token) */
  int64_t R, gr, nbr;       /* block2d: rows per matrix, rows per block, blocks along R */
} fp8g_scale_layout;

/* Fills the layout for an input of shape dims[0..ndim) (ndim >= 1; >= 2 for block2d). */
void fp8g_scale_layout_init(fp8g_scale_layout *L, fp8gemm_granularity gran, int64_t g,
                            const int64_t *dims, int ndim);
/* Shape of the scale tensor for that input: writes dims, returns the rank. */
int fp8g_scale_layout_shape(const fp8g_scale_layout *L, const int64_t *dims, int ndim,
                            int64_t *out_dims);
/* Flat index of the scale of [row, column group j]. */
int64_t fp8g_scale_index(const fp8g_scale_layout *L, int64_t row, int64_t j);
/* Columns [*begin, *end) of group j. */
void fp8g_scale_group_cols(const fp8g_scale_layout *L, int64_t j, int64_t *begin, int64_t *end);
/* ceil(a / b) for a >= 0, b >= 1 without overflow. */
int64_t fp8g_ceil_div(int64_t a, int64_t b);

#endif /* FP8GEMM_OPS_SCALE_LAYOUT_H */
