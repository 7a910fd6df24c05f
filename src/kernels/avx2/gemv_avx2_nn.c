/*
 * NN decode tiles: weights [K][N] with N contiguous. Each K row of the tile is decoded
 * once into nv vectors and multiplied into mr x nv fp32 accumulators held in registers
 * (a broadcast of a[i][k] per row). Tiles are instantiated per (mr, nv, route) so the
 * accumulators stay in registers.
 */
#include "gemv_avx2.h"
#include "gemv_avx2_decode.h"

GEMV_INLINE int nn_tile(const gemv_nn_tile *t, const int mr, const int nv, const int route) {
  __m256 acc[GEMV_MR_MAX][8];
#pragma GCC unroll 8
  for (int i = 0; i < mr; i++)
#pragma GCC unroll 8
    for (int v = 0; v < nv; v++) acc[i][v] = _mm256_loadu_ps(t->acc + i * t->ldacc + 8 * v);
  __m256i nan_max = _mm256_setzero_si256();
  const uint8_t *bp = t->b;
  const float *ap = t->a;
  const int64_t ldb = t->ldb, lda = t->lda;
  for (int64_t k = 0; k < t->nk; k++, bp += ldb, ap++) {
    if (k < t->npf) _mm_prefetch((const char *)t->pf[k], _MM_HINT_T0);
    if (GEMV_ROUTE_IS_INT(route) && nv >= 4) {
      /* wide tiles (1 x 8, 2 x 4): decode and use one vector at a time, as 8 decoded
       * vectors next to 8 accumulators do not fit the 16 registers (a spilled
       * accumulator chains through memory); tall tiles keep the broadcasts transient */
      __m256 av[GEMV_MR_MAX];
#pragma GCC unroll 8
      for (int i = 0; i < mr; i++) av[i] = _mm256_broadcast_ss(ap + i * lda);
#pragma GCC unroll 8
      for (int v = 0; v < nv; v++) {
        if (v % 4 == 0) gemv_track(bp + 8 * v, nv < 4 ? 8 * nv : 32, &nan_max);
        __m256 w = gemv_int8(route, bp + 8 * v);
#pragma GCC unroll 8
        for (int i = 0; i < mr; i++) acc[i][v] = _mm256_fmadd_ps(av[i], w, acc[i][v]);
      }
    } else {
      __m256 w[8];
      gemv_dec(route, nv, bp, t->table, &nan_max, w);
#pragma GCC unroll 8
      for (int i = 0; i < mr; i++) {
        __m256 av = _mm256_broadcast_ss(ap + i * lda);
#pragma GCC unroll 8
        for (int v = 0; v < nv; v++) acc[i][v] = _mm256_fmadd_ps(av, w[v], acc[i][v]);
      }
    }
  }
  if (GEMV_ROUTE_TRACKS(route) && gemv_saw_nan(route, nan_max)) return 1;
#pragma GCC unroll 8
  for (int i = 0; i < mr; i++)
#pragma GCC unroll 8
    for (int v = 0; v < nv; v++) _mm256_storeu_ps(t->acc + i * t->ldacc + 8 * v, acc[i][v]);
  return 0;
}

int gemv_avx2_nn_width(int mr) { return mr == 1 ? 8 : mr == 2 ? 4 : mr <= 4 ? 2 : 1; }

#define NN_ROUTES(MR, NV)                                              \
  case (MR) * 16 + (NV):                                               \
    switch (route) {                                                   \
      case GEMV_DEC_E4M3FN: return nn_tile(t, MR, NV, GEMV_DEC_E4M3FN); \
      case GEMV_DEC_E5M2: return nn_tile(t, MR, NV, GEMV_DEC_E5M2);     \
      case GEMV_DEC_E4M3FN_I: return nn_tile(t, MR, NV, GEMV_DEC_E4M3FN_I); \
      case GEMV_DEC_E5M2_I: return nn_tile(t, MR, NV, GEMV_DEC_E5M2_I); \
      default: return nn_tile(t, MR, NV, GEMV_DEC_TABLE);               \
    }

int gemv_avx2_nn_tile(const gemv_nn_tile *t, int mr, int nv, int route) {
  switch (mr * 16 + nv) {
    NN_ROUTES(1, 8) NN_ROUTES(2, 4) NN_ROUTES(3, 2) NN_ROUTES(4, 2)
    NN_ROUTES(1, 1) NN_ROUTES(2, 1) NN_ROUTES(3, 1) NN_ROUTES(4, 1)
    NN_ROUTES(5, 1) NN_ROUTES(6, 1) NN_ROUTES(7, 1) NN_ROUTES(8, 1)
    default: break;
  }
  return -1; /* unreachable: the driver only asks for the shapes above */
}
