/*
 * The BF16-dot GEMM's micro-kernel and fp8 decoder on AVX-512 BF16 (+ BW, VBMI): the
 * vocabulary of gemm_bf16_ukernel_body.h as intrinsics (bk_dot is VDPBF16PS,
 * bk_b_perm2 VPERMT2B), and the kernel entry.
 * Packing, plan, blocking, threads and epilogue are the portable gemm_bf16_*.c.
 * Compiled with -mavx512bf16 (CMakeLists.txt); chosen only on CPUs that report
 * AVX512_BF16 (the kernel's isa in the gemm_dispatch.c table).
 */
#include <immintrin.h>
#include <stdbool.h>
#include <stdint.h>

#include "../avx2/gemm_avx2.h" /* gemm_w8a16_avx2: where w8a16 calls are handed back */
#include "../gemm_bf16.h"
#include "gemv_bf16_decode.h" /* gemv_bf16_exp_add: the MX fold in 16-bit lanes */

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
/* PREFETCHW: the line in this core's L1 in a writable state (every AVX512_BF16 CPU has
 * the instruction; inline asm as it needs no compiler flag). */
static inline void bk_prefetch_c(const float *p) { __asm__("prefetchw %0" : : "m"(*(const char *)p)); }
static inline bk_f bk_mul(bk_f a, bk_f b) { return _mm512_mul_ps(a, b); }
static inline bk_f bk_fma(bk_f a, bk_f b, bk_f c) { return _mm512_fmadd_ps(a, b, c); }

typedef __m512i bk_b;
static inline __mmask64 bk_first(int n) { return n >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << n) - 1); }
static inline bk_b bk_b_load(const uint8_t *p) { return _mm512_loadu_si512((const void *)p); }
/* Masked: bytes past n are neither read (no fault) nor written. */
static inline bk_b bk_b_loadn(const uint8_t *p, int n) { return _mm512_maskz_loadu_epi8(bk_first(n), p); }
static inline void bk_b_store(uint8_t *p, bk_b v) { _mm512_storeu_si512((void *)p, v); }
static inline void bk_b_storen(uint8_t *p, bk_b v, int n) { _mm512_mask_storeu_epi8(p, bk_first(n), v); }
static inline bk_b bk_b_set1(uint8_t x) { return _mm512_set1_epi8((char)x); }
static inline bk_b bk_b_and(bk_b a, bk_b b) { return _mm512_and_si512(a, b); }
static inline bk_b bk_b_or(bk_b a, bk_b b) { return _mm512_or_si512(a, b); }
static inline bk_b bk_b_perm2(bk_b t0, bk_b idx, bk_b t1) { return _mm512_permutex2var_epi8(t0, idx, t1); }
static inline bk_b bk_b_blend_eq(bk_b c, uint8_t code, bk_b x, uint8_t v) {
  return _mm512_mask_blend_epi8(_mm512_cmpeq_epi8_mask(c, bk_b_set1(code)), x, bk_b_set1(v));
}

static inline bk_p bk_p_loadu(const uint32_t *p) { return _mm512_loadu_si512((const void *)p); }
static inline void bk_p_storeu(uint32_t *p, bk_p v) { _mm512_storeu_si512((void *)p, v); }
static inline bk_p bk_p_unpacklo32(bk_p a, bk_p b) { return _mm512_unpacklo_epi32(a, b); }
static inline bk_p bk_p_unpackhi32(bk_p a, bk_p b) { return _mm512_unpackhi_epi32(a, b); }
static inline bk_p bk_p_unpacklo64(bk_p a, bk_p b) { return _mm512_unpacklo_epi64(a, b); }
static inline bk_p bk_p_unpackhi64(bk_p a, bk_p b) { return _mm512_unpackhi_epi64(a, b); }
static inline bk_p bk_p_shuf128_even(bk_p a, bk_p b) { return _mm512_shuffle_i32x4(a, b, 0x88); }
static inline bk_p bk_p_shuf128_odd(bk_p a, bk_p b) { return _mm512_shuffle_i32x4(a, b, 0xDD); }

#define BK_UKERNEL ukernel_avx512bf16
#define BK_DECODE decode_avx512bf16
#define BK_TRANSPOSE transpose_avx512bf16
#define BK_UKERNEL_ROWS ukernel_rows_avx512bf16
#include "../gemm_bf16_ukernel_body.h"

/* fp8g_bf16_fold32_fn: one 32-halfword vector per MX block (the packers' portable fold
 * costs a call and a short loop per block: ~6% of an MX GEMM at M = 256). */
static void fold32_avx512bf16(uint16_t *h, int64_t n, const uint8_t *codes, int64_t kstride) {
  for (int64_t q = 0; q < n; q += 32) {
    int len = n - q < 32 ? (int)(n - q) : 32;
    __mmask32 m = len == 32 ? ~(__mmask32)0 : (((__mmask32)1 << len) - 1);
    uint8_t c = codes[(q / 32) * kstride];
    __m512i v = c == 0xFF ? _mm512_set1_epi16(0x7FC0)
                          : gemv_bf16_exp_add(_mm512_maskz_loadu_epi16(m, h + q),
                                              _mm512_set1_epi16((short)(uint16_t)(((int)c - 127) * 128)));
    _mm512_mask_storeu_epi16(h + q, m, v);
  }
}

static const fp8g_bf16_isa_ops ops = {ukernel_avx512bf16, decode_avx512bf16, transpose_avx512bf16,
                                      fold32_avx512bf16, ukernel_rows_avx512bf16};

static fp8gemm_status run(const fp8g_gemm_problem *p) {
  return fp8g_bf16_gemm_run(p, &ops, &fp8g_gemm_ref_w8a8);
}

const fp8g_gemm_kernel fp8g_gemm_avx512bf16_w8a8 = {"gemm_avx512bf16", FP8GEMM_ISA_AVX512_BF16,
                                                    fp8g_bf16_supports, run, false};

/* w8a16 (bf16 activations): calls whose activations fail the range check (in the
 * driver) or that run with DAZ / FTZ or a rounding mode other than nearest-even set
 * (VDPBF16PS ignores MXCSR, the scale FMAs and the AVX2 kernel follow it) go to the
 * AVX2 kernel. */
static fp8gemm_status run_w8a16(const fp8g_gemm_problem *p) {
  if (_mm_getcsr() & 0xE040u) {
    fp8g_bf16_count_handback();
    return fp8g_gemm_avx2_w8a16.run(p);
  }
  return fp8g_bf16_gemm_run(p, &ops, &fp8g_gemm_avx2_w8a16);
}

const fp8g_gemm_kernel fp8g_gemm_avx512bf16_w8a16 = {"gemm_w8a16_avx512bf16", FP8GEMM_ISA_AVX512_BF16,
                                                     fp8g_bf16_supports_w8a16, run_w8a16, false};
