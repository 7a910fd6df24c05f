/*
 * The BF16-dot GEMM's micro-kernel on AVX-512 BF16: the vocabulary of
 * gemm_bf16_ukernel_body.h as intrinsics (bk_dot is VDPBF16PS), and the kernel entry.
 * Packing, plan, blocking, threads and epilogue are the portable gemm_bf16_*.c.
 * Compiled with -mavx512bf16 (CMakeLists.txt); chosen only on CPUs that report
 * AVX512_BF16 (the kernel's isa in the gemm_dispatch.c table).
 */
#include <immintrin.h>
#include <stdbool.h>
#include <stdint.h>

#include "../gemm_bf16.h"

typedef __m512 bk_f;
typedef __m512i bk_p;

static inline bk_f bk_zero(void) { return _mm512_setzero_ps(); }
static inline bk_f bk_loadf(const float *p) { return _mm512_loadu_ps(p); }
static inline void bk_storef(float *p, bk_f v) { _mm512_storeu_ps(p, v); }
static inline bk_f bk_bcastf(const float *p) { return _mm512_set1_ps(*p); }
static inline bk_p bk_load_pairs(const uint32_t *p) { return _mm512_load_si512((const void *)p); }
/* Into a register: a memory-broadcast operand on every VDPBF16PS costs rate. */
static inline bk_p bk_bcast_pair(const uint32_t *p) { return _mm512_set1_epi32((int)*p); }
static inline bk_f bk_dot(bk_f acc, bk_p a, bk_p b) {
  return _mm512_dpbf16_ps(acc, (__m512bh)a, (__m512bh)b);
}
static inline bk_f bk_mul(bk_f a, bk_f b) { return _mm512_mul_ps(a, b); }
static inline bk_f bk_fma(bk_f a, bk_f b, bk_f c) { return _mm512_fmadd_ps(a, b, c); }

#define BK_UKERNEL ukernel_avx512bf16
#include "../gemm_bf16_ukernel_body.h"

static fp8gemm_status run(const fp8g_gemm_problem *p) {
  return fp8g_bf16_gemm_run(p, ukernel_avx512bf16, &fp8g_gemm_ref_w8a8);
}

const fp8g_gemm_kernel fp8g_gemm_avx512bf16_w8a8 = {"gemm_avx512bf16", FP8GEMM_ISA_AVX512_BF16,
                                                    fp8g_bf16_supports, run};
