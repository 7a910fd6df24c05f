/*
 * The 6 x 16 fp32 micro-kernel: 12 ymm accumulators, two B vectors and one broadcast
 * A value per K step (15 of 16 registers). Two FMAs per cycle with latency 4 need at
 * least 8 independent chains; 12 leave slack for the loads. Every output element is
 * one FMA chain in K order, so edge tiles (computed in a zero-padded scratch tile)
 * give the same bits as full ones.
 */
#include <immintrin.h>
#include <string.h>

#include "gemm_avx2.h"

#define MR FP8G_AVX2_MR
#define NR FP8G_AVX2_NR

#define ACC_DECL(i) __m256 c##i##0, c##i##1
#define ACC_ZERO(i) c##i##0 = _mm256_setzero_ps(), c##i##1 = _mm256_setzero_ps()
#define ACC_LOAD(i) \
  c##i##0 = _mm256_loadu_ps(c + (i) * ldc), c##i##1 = _mm256_loadu_ps(c + (i) * ldc + 8)
#define ACC_STORE(i) \
  _mm256_storeu_ps(c + (i) * ldc, c##i##0), _mm256_storeu_ps(c + (i) * ldc + 8, c##i##1)
#define FMA_ROW(i)                                \
  do {                                            \
    __m256 ai = _mm256_broadcast_ss(a + (i));     \
    c##i##0 = _mm256_fmadd_ps(ai, b0, c##i##0);   \
    c##i##1 = _mm256_fmadd_ps(ai, b1, c##i##1);   \
  } while (0)
#define STEP                                     \
  do {                                           \
    __m256 b0 = _mm256_load_ps(b);               \
    __m256 b1 = _mm256_load_ps(b + 8);           \
    FMA_ROW(0); FMA_ROW(1); FMA_ROW(2);          \
    FMA_ROW(3); FMA_ROW(4); FMA_ROW(5);          \
    a += MR;                                     \
    b += NR;                                     \
  } while (0)
#define ALL_ROWS(X) X(0); X(1); X(2); X(3); X(4); X(5)

/* Runs `len` K steps on the accumulators. Not unrolled by hand: GCC then spends
 * register moves on the broadcasts and loses ~8% (measured); one step per iteration
 * keeps 15 registers live with no copies. */
#define K_LOOP(len)                              \
  do {                                           \
    for (int64_t kk = (len); kk > 0; kk--) STEP; \
  } while (0)

static void chain(int64_t kc, const float *a, const float *b, float *c, int64_t ldc, bool first) {
  ALL_ROWS(ACC_DECL);
  if (first) {
    ALL_ROWS(ACC_ZERO);
  } else {
    ALL_ROWS(ACC_LOAD);
  }
  K_LOOP(kc);
  ALL_ROWS(ACC_STORE);
}

/* C(i, :) = fma(acc(i, :), as[i] * bs[:], C(i, :)) with C = 0 on the first fold. */
#define FOLD_ROW(i)                                                               \
  do {                                                                            \
    __m256 s = _mm256_broadcast_ss(as + (i));                                     \
    __m256 p0 = first ? _mm256_setzero_ps() : _mm256_loadu_ps(c + (i) * ldc);     \
    __m256 p1 = first ? _mm256_setzero_ps() : _mm256_loadu_ps(c + (i) * ldc + 8); \
    _mm256_storeu_ps(c + (i) * ldc, _mm256_fmadd_ps(c##i##0, _mm256_mul_ps(s, bs0), p0)); \
    _mm256_storeu_ps(c + (i) * ldc + 8, _mm256_fmadd_ps(c##i##1, _mm256_mul_ps(s, bs1), p1)); \
  } while (0)

static void segmented(const fp8g_avx2_tile *t, float *c, int64_t ldc) {
  const float *a = t->a, *b = t->b;
  bool first = t->first;
  for (int64_t k0 = 0, s = 0; k0 < t->kc; k0 += t->seg, s++) {
    int64_t len = t->kc - k0 < t->seg ? t->kc - k0 : t->seg;
    ALL_ROWS(ACC_DECL);
    ALL_ROWS(ACC_ZERO);
    K_LOOP(len);
    const float *as = t->ascale + s * MR;
    __m256 bs0 = _mm256_load_ps(t->bscale + s * NR), bs1 = _mm256_load_ps(t->bscale + s * NR + 8);
    ALL_ROWS(FOLD_ROW);
    first = false;
  }
}

static void run(const fp8g_avx2_tile *t, fp8g_avx2_mode mode, float *c, int64_t ldc) {
  if (mode == FP8G_AVX2_CHAIN)
    chain(t->kc, t->a, t->b, c, ldc, t->first);
  else
    segmented(t, c, ldc);
}

void fp8g_avx2_ukernel(const fp8g_avx2_tile *t, fp8g_avx2_mode mode) {
  if (t->mr == MR && t->nr == NR) {
    run(t, mode, t->c, t->ldc);
    return;
  }
  /* Edge tile: same arithmetic on a scratch tile; padding lanes are discarded. */
  _Alignas(32) float tmp[MR * NR];
  memset(tmp, 0, sizeof tmp);
  if (!t->first)
    for (int i = 0; i < t->mr; i++) memcpy(tmp + i * NR, t->c + i * t->ldc, (size_t)t->nr * sizeof(float));
  run(t, mode, tmp, NR);
  for (int i = 0; i < t->mr; i++) memcpy(t->c + i * t->ldc, tmp + i * NR, (size_t)t->nr * sizeof(float));
}
