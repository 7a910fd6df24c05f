/*
 * NT decode tiles: weights stored [N][K] (the transposed view of a checkpoint weight),
 * K contiguous per output column. Each 32-code step multiplies 32 codes of each of cn
 * columns with 32 activations of each of mr rows into one 8-lane accumulator per
 * (row, column); the lanes are summed in a fixed order at the end. The F16C and table
 * routes decode a column's 32 codes at once (NT_STEP_BODY); the integer route decodes
 * 8 at a time, K-chunk by K-chunk across the columns (NT_CHUNK_BODY). Both give each
 * accumulator the same sequence of FMAs, so the routes agree bit for bit. The
 * interleaved routes (GEMV_DEC_*_X, TABLE_X: the driver's choice for M >= 4) decode 32
 * codes at once into vectors of codes 4j + r and run the step body against activations
 * the driver permuted to match; their sums differ from the other routes' in order, and
 * agree with their own table route bit for bit.
 */
#include <string.h>

#include "gemv_avx2.h"
#include "gemv_avx2_decode.h"

enum { NT_STEP = 32 };
/* Bytes of each column of the next tile fetched while this one starts: a tile's columns
 * are new memory streams, which the hardware prefetchers pick up only after a few
 * misses; starting them early measured +20% at M = 1 and M = 4 from memory (Zen 3).
 * Prefetching more of them (up to the whole next tile) measured the same. */
enum { NT_NEXT_BYTES = 1024 };

/* One 32-code step: decode each column, 4 FMAs per (row, column); with SCALED, the
 * step's sum is formed apart (from +0: see NT_CHUNK_BODY) and multiplied by the
 * column's factor. */
#define NT_STEP_BODY(BPTR, LDB, APTR, LDA, STEP)                                   \
  _Pragma("GCC unroll 8") for (int c = 0; c < cn; c++) {                           \
    __m256 w[4];                                                                   \
    gemv_dec32(route, (BPTR) + c * (LDB), t->table, &nan_max, w);                  \
    __m256 f = scaled ? _mm256_broadcast_ss(t->cscale + (STEP) * t->ldcs +         \
                                            c * t->cs_cstride)                     \
                      : _mm256_setzero_ps();                                       \
    _Pragma("GCC unroll 8") for (int i = 0; i < mr; i++) {                         \
      const float *ai = (APTR) + i * (LDA);                                        \
      __m256 sum = _mm256_fmadd_ps(w[0], _mm256_loadu_ps(ai),                      \
                                   scaled ? _mm256_setzero_ps() : acc[i][c]);      \
      sum = _mm256_fmadd_ps(w[1], _mm256_loadu_ps(ai + 8), sum);                   \
      sum = _mm256_fmadd_ps(w[2], _mm256_loadu_ps(ai + 16), sum);                  \
      sum = _mm256_fmadd_ps(w[3], _mm256_loadu_ps(ai + 24), sum);                  \
      acc[i][c] = scaled ? _mm256_fmadd_ps(sum, f, acc[i][c]) : sum;               \
    }                                                                              \
  }

/* The same sums for the integer routes, K in chunks of 8: the activations of a chunk
 * are loaded once for every column (the F16C decoder needs 32 codes at a time, the
 * integer one does not). Each accumulator still takes its chunks in K order, so the
 * sums are NT_STEP_BODY's, bit for bit. With SCALED (while sums and accumulators fit
 * the registers) each step's sum is formed apart, its first product by an FMA onto +0
 * rather than a multiply: the integer route's weights can be f32 subnormals, which
 * cost vmulps a microcode assist on Zen 3 but not vfmadd (measured: 1.45x on MX at
 * M = 1). Only the sign of a zero sum can differ, and fma(sum, f, acc) drops it (acc
 * starts at +0 and never becomes -0). The 4 x 4 tile (16 accumulators, no registers left
 * for a chunk's activations) runs NT_STEP_BODY instead, with activations as memory
 * operands: in cache 1.1x faster at M = 4, 1.2x at M = 8 (Zen 3); 3 x 4 keeps this body
 * (1.08x faster than the step body at M = 3). */
#define NT_CHUNK_BODY(BPTR, LDB, APTR, LDA, STEP)                                       \
  {                                                                                     \
    __m256 sum[GEMV_MR_MAX][8];                                                         \
    _Pragma("GCC unroll 4") for (int q = 0; q < NT_STEP; q += 8) {                      \
      __m256 av[GEMV_MR_MAX];                                                           \
      _Pragma("GCC unroll 8") for (int i = 0; i < mr; i++) av[i] =                      \
          _mm256_loadu_ps((APTR) + i * (LDA) + q);                                      \
      _Pragma("GCC unroll 8") for (int c = 0; c < cn; c++) {                            \
        __m256 w = gemv_int8(route, (BPTR) + c * (LDB) + q);                            \
        _Pragma("GCC unroll 8") for (int i = 0; i < mr; i++) {                          \
          if (scaled)                                                                   \
            sum[i][c] =                                                                 \
                _mm256_fmadd_ps(w, av[i], q == 0 ? _mm256_setzero_ps() : sum[i][c]);    \
          else                                                                          \
            acc[i][c] = _mm256_fmadd_ps(w, av[i], acc[i][c]);                           \
        }                                                                               \
      }                                                                                 \
    }                                                                                   \
    _Pragma("GCC unroll 8") for (int c = 0; c < cn; c++) {                              \
      gemv_track((BPTR) + c * (LDB), NT_STEP, &nan_max);                                \
      if (scaled) {                                                                     \
        const float *fc = t->cscale + (STEP) * t->ldcs + c * t->cs_cstride;             \
        __m256 f = _mm256_broadcast_ss(fc);                                             \
        _Pragma("GCC unroll 8") for (int i = 0; i < mr; i++) acc[i][c] =                \
            _mm256_fmadd_ps(sum[i][c], f, acc[i][c]);                                   \
      }                                                                                 \
    }                                                                                   \
  }

#define NT_BODY(BPTR, LDB, APTR, LDA, STEP)                    \
  if (GEMV_ROUTE_IS_INT(route) && mr * cn <= (scaled ? 8 : 12)) { \
    NT_CHUNK_BODY(BPTR, LDB, APTR, LDA, STEP)                  \
  } else {                                                     \
    NT_STEP_BODY(BPTR, LDB, APTR, LDA, STEP)                   \
  }

/* Sum of the 8 lanes in a fixed order: (l0+l4 + l2+l6) + (l1+l5 + l3+l7). */
GEMV_INLINE float lane_sum(__m256 v) {
  __m128 x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  x = _mm_add_ps(x, _mm_movehl_ps(x, x));
  x = _mm_add_ss(x, _mm_movehdup_ps(x));
  return _mm_cvtss_f32(x);
}

GEMV_INLINE int nt_tile(const gemv_nt_tile *t, const int mr, const int cn, const int route,
                        const int scaled) {
  __m256 acc[GEMV_MR_MAX][8];
#pragma GCC unroll 8
  for (int i = 0; i < mr; i++)
#pragma GCC unroll 8
    for (int c = 0; c < cn; c++) acc[i][c] = _mm256_setzero_ps();
  __m256i nan_max = _mm256_setzero_si256();
  const int64_t ldb = t->ldb, lda = t->lda;
  int64_t s = 0;
  for (; s + NT_STEP <= t->nk; s += NT_STEP) {
    const uint8_t *bp = t->b + s;
    const float *ap = t->a + s;
    if ((s & 63) == 0 && s < NT_NEXT_BYTES) /* the next tile's first lines, one per column */
      for (int c = 0; c < t->next_cols; c++)
        _mm_prefetch((const char *)t->next + c * ldb + s, _MM_HINT_T0);
    NT_BODY(bp, ldb, ap, lda, s / NT_STEP)
  }
  if (s < t->nk) { /* ragged end of the segment: zero-padded copies, no read past it */
    int64_t rest = t->nk - s;
    uint8_t bt[8 * NT_STEP];
    float at[GEMV_MR_MAX * NT_STEP];
    memset(bt, 0, sizeof bt);
    memset(at, 0, sizeof at);
    for (int c = 0; c < cn; c++) memcpy(bt + c * NT_STEP, t->b + c * ldb + s, (size_t)rest);
    /* interleaved routes: the activations of the step are permuted over all 32
     * places, the ones past K zero (the segment ends at K: lda is padded to 32) */
    int64_t acopy = GEMV_ROUTE_INTERLEAVED(route) ? NT_STEP : rest;
    for (int i = 0; i < mr; i++)
      memcpy(at + i * NT_STEP, t->a + i * lda + s, (size_t)acopy * sizeof(float));
    NT_BODY(bt, NT_STEP, at, NT_STEP, s / NT_STEP)
  }
  if (GEMV_ROUTE_TRACKS(route) && gemv_saw_nan(route, nan_max)) return 1;
#pragma GCC unroll 8
  for (int i = 0; i < mr; i++)
#pragma GCC unroll 8
    for (int c = 0; c < cn; c++) t->part[i * t->ldpart + c * t->cstride] = lane_sum(acc[i][c]);
  return 0;
}

/* Four columns per tile for 1..4 rows: activations are loaded once per chunk for four
 * columns, and four weight streams run at once. At 4 x 4 the 16 accumulators leave the
 * activations to memory operands, which still beats 4 x 2 (measured, Zen 3, from
 * memory: M = 2 +50%, M = 3 +35%, M = 4 +10%; 3 columns lose to the 1-column tiles an
 * 8-column group then needs). */
int gemv_avx2_nt_width(int mr) { (void)mr; return 4; }

#define NT_SCALED(MR, CN, SCALED)                                                  \
  switch (route) {                                                                 \
    case GEMV_DEC_E4M3FN: return nt_tile(t, MR, CN, GEMV_DEC_E4M3FN, SCALED);     \
    case GEMV_DEC_E5M2: return nt_tile(t, MR, CN, GEMV_DEC_E5M2, SCALED);         \
    case GEMV_DEC_E4M3FN_I: return nt_tile(t, MR, CN, GEMV_DEC_E4M3FN_I, SCALED); \
    case GEMV_DEC_E5M2_I: return nt_tile(t, MR, CN, GEMV_DEC_E5M2_I, SCALED);     \
    case GEMV_DEC_E4M3FN_X: return nt_tile(t, MR, CN, GEMV_DEC_E4M3FN_X, SCALED); \
    case GEMV_DEC_E5M2_X: return nt_tile(t, MR, CN, GEMV_DEC_E5M2_X, SCALED);     \
    case GEMV_DEC_TABLE_X: return nt_tile(t, MR, CN, GEMV_DEC_TABLE_X, SCALED);   \
    default: return nt_tile(t, MR, CN, GEMV_DEC_TABLE, SCALED);                   \
  }
#define NT_ROUTES(MR, CN)        \
  case (MR) * 16 + (CN):         \
    if (t->cscale) NT_SCALED(MR, CN, 1) \
    NT_SCALED(MR, CN, 0)

int gemv_avx2_nt_tile(const gemv_nt_tile *t, int mr, int cn, int route) {
  switch (mr * 16 + cn) {
    NT_ROUTES(1, 4) NT_ROUTES(2, 4) NT_ROUTES(3, 4) NT_ROUTES(4, 4)
    NT_ROUTES(1, 1) NT_ROUTES(2, 1) NT_ROUTES(3, 1) NT_ROUTES(4, 1)
    default: break;
  }
  return -1; /* unreachable: the driver only asks for the shapes above */
}
