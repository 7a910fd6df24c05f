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

/* 64 codes -> w[0], w[1] (bf16, order above). FNUZ must be the constant v->nan80. */
static inline __attribute__((always_inline)) void gemv_bf16_dec64(const gemv_bf16_vtab *v, __m512i codes,
                                                                 bool fnuz, __m512i w[2]) {
  __m512i lo = _mm512_permutex2var_epi8(v->lo0, codes, v->lo1);
  __m512i hi = _mm512_permutex2var_epi8(v->hi0, codes, v->hi1);
  /* hi | (codes & 0x80): A | (B & C) is truth table 0xF8 */
  hi = _mm512_ternarylogic_epi32(hi, codes, _mm512_set1_epi8((char)0x80), 0xF8);
  if (fnuz) {
    __mmask64 nan = _mm512_cmpeq_epi8_mask(codes, _mm512_set1_epi8((char)0x80));
    lo = _mm512_mask_mov_epi8(lo, nan, v->nan_lo);
    hi = _mm512_mask_mov_epi8(hi, nan, v->nan_hi);
  }
  w[0] = _mm512_unpacklo_epi8(lo, hi);
  w[1] = _mm512_unpackhi_epi8(lo, hi);
}

/*
 * MX decode with the block exponent folded in one op per 32 values (the decode kernels'
 * fast path). The tables of gemv_bf16_vtab_mx_of hold every nonzero finite magnitude
 * with its exponent raised by `bias` (even, <= 126 - the dtype's largest finite
 * exponent, so the raised exponent stays <= 253) and bit 7 of its high byte set as a
 * "nonzero" mark; zero stays 0; Inf / NaN magnitudes become high byte 0xFF. Per 64
 * codes: the two lookups, hi = mark & sign | the rest (a zero's sign is dropped: a
 * product with +0 or -0 weight adds nothing to a sum that starts at +0, and NaN * 0 is
 * the default NaN either way), the unpacks, then w - s (unsigned saturating, halfwords)
 * with s = (bias - d) << 7 for the block's exponent d = e8m0 - 127 <= bias: a nonzero
 * value's exponent E + bias becomes E + d (>= 1 under the driver's range check, so no
 * saturation, and the sign bit above is untouched), a zero saturates to 0. Inf / NaN
 * codes come out wrong: their low byte carries bit 0 as a mark (finite fp8 values have
 * at most 3 mantissa bits, so bits 0..3 of a finite low byte are 0), which the caller
 * ORs into a record (gemv_bf16_mx_mark: one VPTERNLOG per two columns, where a byte max
 * of the high bytes cost one op per column), and fnuz NaN codes (0x80, decoded here as
 * 0) show in *nan80; the caller redoes such tiles with gemv_bf16_dec64 +
 * gemv_bf16_exp_add.
 */
static inline gemv_bf16_vtab gemv_bf16_vtab_mx_of(fp8gemm_dtype dtype, int bias) {
  gemv_bf16_vtab v = gemv_bf16_vtab_of(dtype);
  const __m512i zero = _mm512_setzero_si512(), nf = _mm512_set1_epi8(0x7F);
  __m512i *hi[2] = {&v.hi0, &v.hi1}, *lo[2] = {&v.lo0, &v.lo1};
  for (int i = 0; i < 2; i++) {
    __mmask64 nz = _mm512_cmpneq_epi8_mask(*hi[i], zero), fin = _mm512_cmpneq_epi8_mask(*hi[i], nf);
    *hi[i] = _mm512_mask_add_epi8(*hi[i], nz & fin, *hi[i], _mm512_set1_epi8((char)(bias / 2)));
    *hi[i] = _mm512_or_si512(*hi[i], _mm512_maskz_set1_epi8(nz, (char)0x80));
    *lo[i] = _mm512_or_si512(*lo[i], _mm512_maskz_set1_epi8(~fin, 0x01)); /* the Inf / NaN mark */
  }
  return v;
}

/* 64 codes -> w[0], w[1] with the block exponents folded (see above); s: the halfword
 * subtrahends (bias - d) << 7, per 256-bit half as the decoder's output order needs;
 * *lo: the looked-up low bytes, for gemv_bf16_mx_mark. */
static inline __attribute__((always_inline)) void gemv_bf16_dec64_mx(const gemv_bf16_vtab *v, __m512i codes,
                                                                    bool fnuz, __m512i s, __m512i w[2],
                                                                    __m512i *lo, __mmask64 *nan80) {
  *lo = _mm512_permutex2var_epi8(v->lo0, codes, v->lo1);
  __m512i hb = _mm512_permutex2var_epi8(v->hi0, codes, v->hi1);
  /* hb & (codes | 0x7F): A & (B | C) is truth table 0xE0 */
  __m512i hi = _mm512_ternarylogic_epi32(hb, codes, _mm512_set1_epi8(0x7F), 0xE0);
  if (fnuz) *nan80 |= _mm512_cmpeq_epi8_mask(codes, _mm512_set1_epi8((char)0x80));
  w[0] = _mm512_subs_epu16(_mm512_unpacklo_epi8(*lo, hi), s);
  w[1] = _mm512_subs_epu16(_mm512_unpackhi_epi8(*lo, hi), s);
}

/* The record of Inf / NaN marks: rec | lo0 | lo1 (truth table 0xFE), two columns' low
 * bytes per op. */
static inline __attribute__((always_inline)) __m512i gemv_bf16_mx_mark(__m512i rec, __m512i lo0, __m512i lo1) {
  return _mm512_ternarylogic_epi32(rec, lo0, lo1, 0xFE);
}

/* Whether gemv_bf16_dec64_mx saw an Inf / NaN code (rec: gemv_bf16_mx_mark's record). */
static inline bool gemv_bf16_mx_nf_seen(__m512i rec, __mmask64 nan80) {
  return (_mm512_test_epi8_mask(rec, _mm512_set1_epi8(0x01)) | nan80) != 0;
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

#endif /* FP8GEMM_GEMV_BF16_DECODE_H */
