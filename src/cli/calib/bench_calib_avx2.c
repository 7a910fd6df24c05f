/* AVX2 calibration loops (built with FP8GEMM_FLAGS_avx2). */
#include <immintrin.h>
#include <string.h>

#include "bench_calib.h"

float bench_fma_loop_avx2(long iters) {
  const __m256 x = _mm256_set1_ps(0.999f), y = _mm256_set1_ps(1e-3f);
  /* Distinct starting values and every chain in the asm barrier: chains that start
   * equal are merged by the compiler (gcc 12 kept 7 FMAs of 12 and reported a peak
   * 1.45x the real one). */
  __m256 c0 = _mm256_set1_ps(0.1f), c1 = _mm256_set1_ps(0.2f), c2 = _mm256_set1_ps(0.3f),
         c3 = _mm256_set1_ps(0.4f), c4 = _mm256_set1_ps(0.5f), c5 = _mm256_set1_ps(0.6f),
         c6 = _mm256_set1_ps(0.7f), c7 = _mm256_set1_ps(0.8f), c8 = _mm256_set1_ps(0.9f),
         c9 = _mm256_set1_ps(1.1f), c10 = _mm256_set1_ps(1.2f), c11 = _mm256_set1_ps(1.3f);
  for (long i = 0; i < iters; i++) {
    c0 = _mm256_fmadd_ps(c0, x, y);
    c1 = _mm256_fmadd_ps(c1, x, y);
    c2 = _mm256_fmadd_ps(c2, x, y);
    c3 = _mm256_fmadd_ps(c3, x, y);
    c4 = _mm256_fmadd_ps(c4, x, y);
    c5 = _mm256_fmadd_ps(c5, x, y);
    c6 = _mm256_fmadd_ps(c6, x, y);
    c7 = _mm256_fmadd_ps(c7, x, y);
    c8 = _mm256_fmadd_ps(c8, x, y);
    c9 = _mm256_fmadd_ps(c9, x, y);
    c10 = _mm256_fmadd_ps(c10, x, y);
    c11 = _mm256_fmadd_ps(c11, x, y);
    __asm__ volatile("" : "+x"(c0), "+x"(c1), "+x"(c2), "+x"(c3), "+x"(c4), "+x"(c5), "+x"(c6),
                     "+x"(c7), "+x"(c8), "+x"(c9), "+x"(c10), "+x"(c11));
  }
  __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(c0, c1), _mm256_add_ps(c2, c3)),
                           _mm256_add_ps(_mm256_add_ps(c4, c5), _mm256_add_ps(c6, c7)));
  s = _mm256_add_ps(s, _mm256_add_ps(_mm256_add_ps(c8, c9), _mm256_add_ps(c10, c11)));
  return _mm256_cvtss_f32(s);
}

uint64_t bench_read_avx2(const uint8_t *p, size_t bytes) {
  enum { S = BENCH_READ_STREAMS, STEP = 64 }; /* two loads per stream per iteration */
  size_t part = bytes / S / STEP * STEP;
  __m256i acc[S];
  for (int s = 0; s < S; s++) acc[s] = _mm256_setzero_si256();
  for (size_t i = 0; i < part; i += STEP)
    for (int s = 0; s < S; s++) {
      const uint8_t *q = p + (size_t)s * part + i;
      __m256i v = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(const void *)q),
                                   _mm256_loadu_si256((const __m256i *)(const void *)(q + 32)));
      acc[s] = _mm256_xor_si256(acc[s], v);
    }
  __m256i r = acc[0];
  for (int s = 1; s < S; s++) r = _mm256_xor_si256(r, acc[s]);
  uint64_t lanes[4], out = 0;
  memcpy(lanes, &r, sizeof lanes);
  for (int l = 0; l < 4; l++) out ^= lanes[l];
  for (size_t i = part * S; i < bytes; i++) out ^= p[i];
  return out;
}
