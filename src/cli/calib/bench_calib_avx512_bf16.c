/* The bf16-dot peak loop (built with FP8GEMM_FLAGS_avx512_bf16): VDPBF16PS zmm into 24
 * independent accumulators, two B vectors held in registers and one broadcast A pair in
 * a register: a GEMM micro-kernel's arithmetic without its loads. */
#include <immintrin.h>

#include "bench_calib.h"

float bench_bf16dot_loop_avx512bf16(long iters) {
  /* bf16 pairs of 1/1024 and 1/512: 2e7 iterations add < 0.1 to each chain. */
  __m512bh a = (__m512bh)_mm512_set1_epi32(0x3A803A80);
  __m512bh b0 = (__m512bh)_mm512_set1_epi32(0x3B003B00);
  __m512bh b1 = (__m512bh)_mm512_set1_epi32(0x3B003A80);
#define DECL(j) __m512 c##j = _mm512_set1_ps(0.1f + 0.05f * (float)(j));
#define STEP(j) c##j = _mm512_dpbf16_ps(c##j, a, (j) & 1 ? b1 : b0);
#define KEEP(j) "+v"(c##j),
#define SUM(j) s = _mm512_add_ps(s, c##j);
  BENCH_ZMM_CHAINS(DECL)
  for (long i = 0; i < iters; i++) {
    BENCH_ZMM_CHAINS(STEP)
    __asm__ volatile("" : BENCH_ZMM_CHAINS_LO(KEEP) "+v"(a));
    __asm__ volatile("" : BENCH_ZMM_CHAINS_HI(KEEP) "+v"(b0), "+v"(b1));
  }
  __m512 s = _mm512_setzero_ps();
  BENCH_ZMM_CHAINS(SUM)
  return _mm512_reduce_add_ps(s);
#undef DECL
#undef STEP
#undef KEEP
#undef SUM
}
