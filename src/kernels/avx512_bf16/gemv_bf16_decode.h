/*
 * In-register fp8 -> bf16 decoder (AVX-512 BW + VBMI): 64 fp8 codes in one zmm become
 * two zmm of exact bf16 values, using the split tables of fp8g_bf16_tables()
 * (gemm_bf16_pack.c). Per 64 codes: two VPERMT2B lookups on the low 7 bits (VPERMT2B
 * ignores bit 7 of each index, so no mask is needed), one VPTERNLOG for the sign, two
 * byte unpacks to halfwords; fnuz dtypes add a compare and two masked moves for their
 * NaN code 0x80.
 *
 * Output order: the unpacks work per 128-bit lane, so halfword h of the first output
 * holds K index 16 * (h / 8) + h % 8 of the 64, the second output K index
 * 16 * (h / 8) + 8 + h % 8. Consecutive halfword pairs are consecutive (even, odd) K
 * pairs, as VDPBF16PS wants them; the other operand must be laid out the same way
 * (gemv_bf16_k_of gives the K index of a position). The low 256 bits of each output
 * hold K 0..31 of the 64, the high 256 bits K 32..63.
 */
#ifndef FP8GEMM_GEMV_BF16_DECODE_H
#define FP8GEMM_GEMV_BF16_DECODE_H

#include <immintrin.h>
#include <stdbool.h>
#include <stdint.h>

#include "../gemm_bf16.h"

typedef struct gemv_bf16_vtab {
  __m512i lo0, lo1, hi0, hi1; /* bf16 low / high bytes of magnitude codes 0..63, 64..127 */
  __m512i nan_lo, nan_hi;     /* fnuz: the bytes of the NaN that code 0x80 decodes to */
  bool nan80;
} gemv_bf16_vtab;

static inline gemv_bf16_vtab gemv_bf16_vtab_of(fp8gemm_dtype dtype) {
  const fp8g_bf16_dec_tables *t = fp8g_bf16_tables(dtype);
  gemv_bf16_vtab v;
  v.lo0 = _mm512_load_si512((const void *)t->lo[0]);
  v.lo1 = _mm512_load_si512((const void *)t->lo[1]);
  v.hi0 = _mm512_load_si512((const void *)t->hi[0]);
  v.hi1 = _mm512_load_si512((const void *)t->hi[1]);
  v.nan_lo = _mm512_set1_epi8((char)t->nan_lo);
  v.nan_hi = _mm512_set1_epi8((char)t->nan_hi);
  v.nan80 = t->nan80;
  return v;
}

/* K index (0..63) of halfword position pos (0..63) of a decoded 64-code chunk: the first
 * output's 32 halfwords, then the second's. */
static inline int gemv_bf16_k_of(int pos) {
  int half = pos / 32, h = pos % 32;
  return 16 * (h / 8) + 8 * half + h % 8;
}

/* 64 codes -> w[0], w[1] (bf16, order above), recording non-finite codes for
 * gemv_bf16_exp_add_finite: the high byte of a decoded magnitude is 0x7F exactly for
 * Inf / NaN (finite fp8 magnitudes stay below 2^16: at most 0x47), so *hmax (bytewise
 * max of those bytes) reaches 0x7F, and fnuz NaN codes (0x80) set their bits in *nan80.
 * FNUZ must be the constant v->nan80. */
static inline __attribute__((always_inline)) void gemv_bf16_dec64_nf(const gemv_bf16_vtab *v, __m512i codes,
                                                                    bool fnuz, __m512i w[2], __m512i *hmax,
                                                                    __mmask64 *nan80) {
  __m512i lo = _mm512_permutex2var_epi8(v->lo0, codes, v->lo1);
  __m512i hi = _mm512_permutex2var_epi8(v->hi0, codes, v->hi1);
  *hmax = _mm512_max_epu8(*hmax, hi);
  /* hi | (codes & 0x80): A | (B & C) is truth table 0xF8 */
  hi = _mm512_ternarylogic_epi32(hi, codes, _mm512_set1_epi8((char)0x80), 0xF8);
  if (fnuz) {
    __mmask64 nan = _mm512_cmpeq_epi8_mask(codes, _mm512_set1_epi8((char)0x80));
    *nan80 |= nan;
    lo = _mm512_mask_mov_epi8(lo, nan, v->nan_lo);
    hi = _mm512_mask_mov_epi8(hi, nan, v->nan_hi);
  }
  w[0] = _mm512_unpacklo_epi8(lo, hi);
  w[1] = _mm512_unpackhi_epi8(lo, hi);
}

/* The decode alone: the records go to locals the compiler drops (the same instructions
 * as a decoder without them; checked on the objects). */
static inline __attribute__((always_inline)) void gemv_bf16_dec64(const gemv_bf16_vtab *v,
                                                                 __m512i codes, bool fnuz,
                                                                 __m512i w[2]) {
  __m512i hmax = _mm512_setzero_si512();
  __mmask64 nan80 = 0;
  gemv_bf16_dec64_nf(v, codes, fnuz, w, &hmax, &nan80);
}

/* Whether gemv_bf16_dec64_nf saw an Inf / NaN code. */
static inline bool gemv_bf16_nf_seen(__m512i hmax, __mmask64 nan80) {
  return (_mm512_cmpeq_epi8_mask(hmax, _mm512_set1_epi8(0x7F)) | nan80) != 0;
}

/* The MX fold of decoded bf16 values: w + add (mod 2^16) on every halfword whose
 * exponent field is neither 0 (zero, subnormal) nor all ones (Inf, NaN); add holds
 * (e8m0 code - 127) << 7 per halfword. The decode kernels and the GEMM packers' fold
 * (gemm_avx512bf16.c) both use it. */
static inline __attribute__((always_inline)) __m512i gemv_bf16_exp_add(__m512i w, __m512i add) {
  const __m512i e_mask = _mm512_set1_epi16(0x7F80);
  __m512i e = _mm512_and_si512(w, e_mask);
  __mmask32 m = _mm512_mask_cmpneq_epu16_mask(_mm512_test_epi16_mask(w, e_mask), e, e_mask);
  return _mm512_mask_add_epi16(w, m, w, add);
}

/* gemv_bf16_exp_add for values with no Inf / NaN among them (every fp8 value decodes
 * to zero or a normal bf16): the same result with half the operations. */
static inline __attribute__((always_inline)) __m512i gemv_bf16_exp_add_finite(__m512i w, __m512i add) {
  return _mm512_mask_add_epi16(w, _mm512_test_epi16_mask(w, _mm512_set1_epi16(0x7F80)), w, add);
}

#endif /* FP8GEMM_GEMV_BF16_DECODE_H */
