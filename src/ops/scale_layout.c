/* Scale shapes and indexing per granularity. */
#include "scale_layout.h"

int64_t fp8g_ceil_div(int64_t a, int64_t b) { return a / b + (a % b != 0); }

void fp8g_scale_layout_init(fp8g_scale_layout *L, fp8gemm_granularity gran, int64_t g,
                            const int64_t *dims, int ndim) {
  L->gran = gran;
  L->K = ndim > 0 ? dims[ndim - 1] : 1;
  L->gk = L->K > 0 ? L->K : 1;
  L->nbk = 1;
  L->R = 1;
  L->gr = 1;
  L->nbr = 1;
  if (gran == FP8GEMM_PER_BLOCK || gran == FP8GEMM_PER_BLOCK2D) {
    L->gk = g;
    L->nbk = fp8g_ceil_div(L->K, g);
  }
  if (gran == FP8GEMM_PER_BLOCK2D) {
    L->R = dims[ndim - 2];
    L->gr = g;
    L->nbr = fp8g_ceil_div(L->R, g);
  }
}

int fp8g_scale_layout_shape(const fp8g_scale_layout *L, const int64_t *dims, int ndim,
                            int64_t *out_dims) {
  switch (L->gran) {
    case FP8GEMM_PER_TOKEN:
    case FP8GEMM_PER_BLOCK:
      for (int i = 0; i < ndim - 1; i++) out_dims[i] = dims[i];
      out_dims[ndim - 1] = L->nbk;
      return ndim;
    case FP8GEMM_PER_BLOCK2D:
      for (int i = 0; i < ndim - 2; i++) out_dims[i] = dims[i];
      out_dims[ndim - 2] = L->nbr;
      out_dims[ndim - 1] = L->nbk;
      return ndim;
    default: out_dims[0] = 1; return 1;
  }
}

int64_t fp8g_scale_index(const fp8g_scale_layout *L, int64_t row, int64_t j) {
  switch (L->gran) {
    case FP8GEMM_PER_TOKEN: return row;
    case FP8GEMM_PER_BLOCK: return row * L->nbk + j;
    case FP8GEMM_PER_BLOCK2D: {
      int64_t matrix = row / L->R, r = row % L->R;
      return (matrix * L->nbr + r / L->gr) * L->nbk + j;
    }
    default: return 0;
  }
}

void fp8g_scale_group_cols(const fp8g_scale_layout *L, int64_t j, int64_t *begin, int64_t *end) {
  *begin = j * L->gk;
  *end = L->K - *begin > L->gk ? *begin + L->gk : L->K; /* no overflow for huge g */
}
