/* AVX-512 calibration loops (built with FP8GEMM_FLAGS_avx512). */
#include <immintrin.h>
#include <string.h>

#include "bench_calib.h"

/* c = c * x + y on 24 zmm chains with distinct starting values (gcc merges chains that
 * start equal); the asm barriers keep every chain and take "v" so that zmm16-31 serve. */
float bench_fma_loop_avx512(long iters) {
  __m512 x = _mm512_set1_ps(0.999f), y = _mm512_set1_ps(1e-3f);
#define DECL(j) __m512 c##j = _mm512_set1_ps(0.1f + 0.05f * (float)(j));
#define STEP(j) c##j = _mm512_fmadd_ps(c##j, x, y);
#define KEEP(j) "+v"(c##j),
#define SUM(j) s = _mm512_add_ps(s, c##j);
  BENCH_ZMM_CHAINS(DECL)
  for (long i = 0; i < iters; i++) {
    BENCH_ZMM_CHAINS(STEP)
    __asm__ volatile("" : BENCH_ZMM_CHAINS_LO(KEEP) "+v"(x));
    __asm__ volatile("" : BENCH_ZMM_CHAINS_HI(KEEP) "+v"(y));
  }
  __m512 s = _mm512_setzero_ps();
  BENCH_ZMM_CHAINS(SUM)
  return _mm512_reduce_add_ps(s);
#undef DECL
#undef STEP
#undef KEEP
#undef SUM
}

uint64_t bench_read_avx512(const uint8_t *p, size_t bytes) {
  enum { S = BENCH_READ_STREAMS, STEP = 128 }; /* two loads per stream per iteration */
  size_t part = bytes / S / STEP * STEP;
  __m512i acc[S];
  for (int s = 0; s < S; s++) acc[s] = _mm512_setzero_si512();
  for (size_t i = 0; i < part; i += STEP)
    for (int s = 0; s < S; s++) {
      const uint8_t *q = p + (size_t)s * part + i;
      acc[s] = _mm512_ternarylogic_epi64(acc[s], _mm512_loadu_si512(q),
                                         _mm512_loadu_si512(q + 64), 0x96); /* a ^ b ^ c */
    }
  __m512i r = acc[0];
  for (int s = 1; s < S; s++) r = _mm512_xor_si512(r, acc[s]);
  uint64_t lanes[8], out = 0;
  memcpy(lanes, &r, sizeof lanes);
  for (int l = 0; l < 8; l++) out ^= lanes[l];
  for (size_t i = part * S; i < bytes; i++) out ^= p[i];
  return out;
}
