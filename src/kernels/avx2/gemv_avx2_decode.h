/*
 * fp8 -> fp32 decoders for the AVX2 decode (GEMV) kernels. Only included by files
 * under src/kernels/avx2/ (compiled with -mavx2 -mfma -mf16c).
 *
 * F16C route (e5m2, e4m3fn): put the code in the high byte of a 16-bit word and
 * convert that word as fp16 with F16C.
 *   - e5m2 is fp16 with the low mantissa byte cut off: exact, factor 1, Inf/NaN kept.
 *   - e4m3fn: arithmetic shift right by one and clear bit 14 gives sign | 0 | eeee mmm
 *     in fp16's exponent/mantissa fields: the value times 2^-8 for every finite code
 *     (subnormals included). The kernels multiply by 2^8 (exactly, in double) when
 *     they apply the scales. The NaN codes 0x7F / 0xFF come out finite, so the fast
 *     loop tracks max(code | 0x80) over its tile and the tile is recomputed through
 *     the table route when a NaN code was seen (rare).
 * Integer route (e5m2, e4m3fn; the driver's choice when every activation is below
 * 2^16 in magnitude and MXCSR.DAZ is off): the code sign-extended to 32 bits, shifted
 * left by 20 (e4m3fn) or 21 (e5m2) and masked to sign | exponent | mantissa is the f32
 * whose value is the fp8 value times 2^-120 (e4m3fn) or 2^-112 (e5m2), subnormal codes
 * as f32 subnormals: three single-uop instructions per 8 codes, against F16C's
 * vcvtph2ps that issues once per two cycles on Zen 3. The driver multiplies the
 * activations by 2^112 or more (exact: they stay below 2^128), so every product is the
 * F16C route's real number times a power of two and the FMAs round alike. FMAs take
 * subnormal operands at full speed on Zen 3 (vmulps does not: see the NT tiles). Inf /
 * NaN codes come out finite: tracked as above.
 * Table route (fnuz formats, tiles holding NaN / Inf codes, column tails): a 256-entry
 * fp32 table holding the value the fast route of the call would produce, read with
 * gathers, so both routes give bit-identical values.
 *
 * Every decoder but the interleaved ones (gemv_intx32, gemv_tablex32: NT tiles whose
 * activations are permuted to match) yields vectors in code order: v[0] = codes 0-7,
 * v[1] = 8-15, ...
 */
#ifndef FP8GEMM_GEMV_AVX2_DECODE_H
#define FP8GEMM_GEMV_AVX2_DECODE_H

#include <immintrin.h>
#include <stdint.h>

#define GEMV_INLINE static inline __attribute__((always_inline))

/* The decoder routes (GEMV_DEC_*) are in gemv_avx2.h. */

/* Routes whose decoders can produce finite values for Inf / NaN codes. */
#define GEMV_ROUTE_TRACKS(route)                                                         \
  ((route) == GEMV_DEC_E4M3FN || (route) == GEMV_DEC_E4M3FN_I || (route) == GEMV_DEC_E5M2_I || \
   (route) == GEMV_DEC_E4M3FN_X || (route) == GEMV_DEC_E5M2_X)
#define GEMV_ROUTE_IS_INT(route) ((route) == GEMV_DEC_E4M3FN_I || (route) == GEMV_DEC_E5M2_I)
#define GEMV_ROUTE_IS_X(route) ((route) == GEMV_DEC_E4M3FN_X || (route) == GEMV_DEC_E5M2_X)
/* Routes whose codes and activations are in the interleaved order (gemv_intx32). */
#define GEMV_ROUTE_INTERLEAVED(route) (GEMV_ROUTE_IS_X(route) || (route) == GEMV_DEC_TABLE_X)
/* The route that recomputes a tile in which a tracking route saw an Inf / NaN code. */
#define GEMV_TABLE_FOR(route) (GEMV_ROUTE_IS_X(route) ? GEMV_DEC_TABLE_X : GEMV_DEC_TABLE)

/* 8 codes at p -> 8 fp32 on an integer route (no tracking: see gemv_track32). */
GEMV_INLINE __m256 gemv_int8(int route, const uint8_t *p) {
  __m256i d = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)p));
  if (route == GEMV_DEC_E4M3FN_I)
    return _mm256_castsi256_ps(
        _mm256_and_si256(_mm256_slli_epi32(d, 20), _mm256_set1_epi32((int)0x87F00000u)));
  return _mm256_castsi256_ps(
      _mm256_and_si256(_mm256_slli_epi32(d, 21), _mm256_set1_epi32((int)0x8FE00000u)));
}

/* Folds n (8, 16 or 32) codes at p into the running max of (code | 0x80). */
GEMV_INLINE void gemv_track(const uint8_t *p, int n, __m256i *nan_max) {
  __m256i c;
  if (n == 32) c = _mm256_loadu_si256((const __m256i *)p);
  else if (n == 16) c = _mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)p));
  else c = _mm256_castsi128_si256(_mm_loadl_epi64((const __m128i *)p));
  if (n < 32) c = _mm256_inserti128_si256(c, _mm_setzero_si128(), 1); /* loadl zeroes 8..15 */
  *nan_max = _mm256_max_epu8(*nan_max, _mm256_or_si256(c, _mm256_set1_epi8((char)0x80)));
}

/* Folds 32 codes held in x into the running max of (code | 0x80). */
GEMV_INLINE void gemv_track_reg(__m256i x, __m256i *nan_max) {
  *nan_max = _mm256_max_epu8(*nan_max, _mm256_or_si256(x, _mm256_set1_epi8((char)0x80)));
}

/*
 * Interleaved integer decode of 32 codes x (byte r of 32-bit lane j = code 4j + r):
 * v[r] = codes 4j + r, no widening shuffle. A code c at bits 31..24 of a lane, shifted
 * right arithmetically by 4 (e4m3fn) or 3 (e5m2), has its sign at bit 31 (smeared into
 * bits 30..28, which the mask clears) and its other 7 bits at 26..20 (27..21): masked
 * with 0x87F00000 (0x8FE00000) that is gemv_int8's f32, fp8 value times 2^-120
 * (2^-112). The shifts work on 16-bit words, so the word holding codes 4j+3 : 4j+2
 * gives code 4j+3 in its high byte's place (code 4j+2's bits land below bit 20, cleared),
 * the low word code 4j+1 16 bits too low (one 32-bit shift left by 16 moves it up,
 * shifting zeros in); a 16-bit shift left by 8 first does the same for codes 4j+2 and
 * 4j. Five shifts and four ANDs per 32 codes (gemv_int8: four shuffles, four shifts,
 * four ANDs).
 */
GEMV_INLINE void gemv_intx32(int route, __m256i x, __m256 v[4]) {
  const int e4 = route == GEMV_DEC_E4M3FN_X;
  const __m256i m = _mm256_set1_epi32((int)(e4 ? 0x87F00000u : 0x8FE00000u));
  __m256i hi = e4 ? _mm256_srai_epi16(x, 4) : _mm256_srai_epi16(x, 3); /* codes 4j+3, 4j+1 */
  __m256i x8 = _mm256_slli_epi16(x, 8);
  __m256i lo = e4 ? _mm256_srai_epi16(x8, 4) : _mm256_srai_epi16(x8, 3); /* 4j+2, 4j */
  v[0] = _mm256_castsi256_ps(_mm256_and_si256(_mm256_slli_epi32(lo, 16), m));
  v[1] = _mm256_castsi256_ps(_mm256_and_si256(_mm256_slli_epi32(hi, 16), m));
  v[2] = _mm256_castsi256_ps(_mm256_and_si256(lo, m));
  v[3] = _mm256_castsi256_ps(_mm256_and_si256(hi, m));
}

/* The table route in the same order: v[r] = table[byte r of each lane]. */
GEMV_INLINE void gemv_tablex32(__m256i x, const float *table, __m256 v[4]) {
  const __m256i ff = _mm256_set1_epi32(0xFF);
  v[0] = _mm256_i32gather_ps(table, _mm256_and_si256(x, ff), 4);
  v[1] = _mm256_i32gather_ps(table, _mm256_and_si256(_mm256_srli_epi32(x, 8), ff), 4);
  v[2] = _mm256_i32gather_ps(table, _mm256_and_si256(_mm256_srli_epi32(x, 16), ff), 4);
  v[3] = _mm256_i32gather_ps(table, _mm256_srli_epi32(x, 24), 4);
}

/* fp16 bit patterns (times 2^-8 for e4m3fn) of 16 codes held in the high bytes. */
GEMV_INLINE __m256i gemv_e4m3_words(__m256i hi_bytes) {
  return _mm256_and_si256(_mm256_srai_epi16(hi_bytes, 1), _mm256_set1_epi16((short)0xBFFF));
}
GEMV_INLINE __m128i gemv_e4m3_words128(__m128i hi_bytes) {
  return _mm_and_si128(_mm_srai_epi16(hi_bytes, 1), _mm_set1_epi16((short)0xBFFF));
}

/* 32 codes at p -> v[0..3]. */
GEMV_INLINE void gemv_dec32(int route, const uint8_t *p, const float *table, __m256i *nan_max,
                            __m256 v[4]) {
  if (GEMV_ROUTE_INTERLEAVED(route)) {
    __m256i x = _mm256_loadu_si256((const __m256i *)p);
    if (route == GEMV_DEC_TABLE_X) {
      gemv_tablex32(x, table, v);
      return;
    }
    gemv_track_reg(x, nan_max);
    gemv_intx32(route, x, v);
    return;
  }
  if (route == GEMV_DEC_TABLE) {
    for (int q = 0; q < 4; q++) {
      __m256i idx = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(p + 8 * q)));
      v[q] = _mm256_i32gather_ps(table, idx, 4);
    }
    return;
  }
  if (GEMV_ROUTE_IS_INT(route)) {
    gemv_track(p, 32, nan_max);
    for (int q = 0; q < 4; q++) v[q] = gemv_int8(route, p + 8 * q);
    return;
  }
  __m256i c = _mm256_loadu_si256((const __m256i *)p);
  __m256i z = _mm256_setzero_si256();
  __m256i lo = _mm256_unpacklo_epi8(z, c); /* codes 0-7 | 16-23, each << 8 */
  __m256i hi = _mm256_unpackhi_epi8(z, c); /* codes 8-15 | 24-31 */
  if (route == GEMV_DEC_E4M3FN) {
    *nan_max = _mm256_max_epu8(*nan_max, _mm256_or_si256(c, _mm256_set1_epi8((char)0x80)));
    lo = gemv_e4m3_words(lo);
    hi = gemv_e4m3_words(hi);
  }
  v[0] = _mm256_cvtph_ps(_mm256_castsi256_si128(lo));
  v[1] = _mm256_cvtph_ps(_mm256_castsi256_si128(hi));
  v[2] = _mm256_cvtph_ps(_mm256_extracti128_si256(lo, 1));
  v[3] = _mm256_cvtph_ps(_mm256_extracti128_si256(hi, 1));
}

/* 16 codes at p -> v[0..1]. */
GEMV_INLINE void gemv_dec16(int route, const uint8_t *p, const float *table, __m256i *nan_max,
                            __m256 v[2]) {
  if (route == GEMV_DEC_TABLE) {
    for (int q = 0; q < 2; q++) {
      __m256i idx = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(p + 8 * q)));
      v[q] = _mm256_i32gather_ps(table, idx, 4);
    }
    return;
  }
  if (GEMV_ROUTE_IS_INT(route)) {
    gemv_track(p, 16, nan_max);
    v[0] = gemv_int8(route, p);
    v[1] = gemv_int8(route, p + 8);
    return;
  }
  __m128i c = _mm_loadu_si128((const __m128i *)p);
  __m128i z = _mm_setzero_si128();
  __m128i lo = _mm_unpacklo_epi8(z, c), hi = _mm_unpackhi_epi8(z, c);
  if (route == GEMV_DEC_E4M3FN) {
    __m256i c256 = _mm256_castsi128_si256(_mm_or_si128(c, _mm_set1_epi8((char)0x80)));
    c256 = _mm256_inserti128_si256(c256, _mm_setzero_si128(), 1);
    *nan_max = _mm256_max_epu8(*nan_max, c256);
    lo = gemv_e4m3_words128(lo);
    hi = gemv_e4m3_words128(hi);
  }
  v[0] = _mm256_cvtph_ps(lo);
  v[1] = _mm256_cvtph_ps(hi);
}

/* 8 codes at p -> v[0]. */
GEMV_INLINE void gemv_dec8(int route, const uint8_t *p, const float *table, __m256i *nan_max,
                           __m256 v[1]) {
  if (GEMV_ROUTE_IS_INT(route)) {
    gemv_track(p, 8, nan_max);
    v[0] = gemv_int8(route, p);
    return;
  }
  __m128i c = _mm_loadl_epi64((const __m128i *)p);
  if (route == GEMV_DEC_TABLE) {
    v[0] = _mm256_i32gather_ps(table, _mm256_cvtepu8_epi32(c), 4);
    return;
  }
  __m128i lo = _mm_unpacklo_epi8(_mm_setzero_si128(), c);
  if (route == GEMV_DEC_E4M3FN) {
    /* upper 8 bytes of c are zero: they never look like a NaN code */
    __m256i c256 = _mm256_castsi128_si256(_mm_or_si128(c, _mm_set1_epi8((char)0x80)));
    c256 = _mm256_inserti128_si256(c256, _mm_setzero_si128(), 1);
    *nan_max = _mm256_max_epu8(*nan_max, c256);
    lo = gemv_e4m3_words128(lo);
  }
  v[0] = _mm256_cvtph_ps(lo);
}

/* nv (1, 2, 4 or 8) vectors of 8 codes each at p. */
GEMV_INLINE void gemv_dec(int route, int nv, const uint8_t *p, const float *table,
                          __m256i *nan_max, __m256 *v) {
  switch (nv) {
    case 8:
      gemv_dec32(route, p, table, nan_max, v);
      gemv_dec32(route, p + 32, table, nan_max, v + 4);
      break;
    case 4: gemv_dec32(route, p, table, nan_max, v); break;
    case 2: gemv_dec16(route, p, table, nan_max, v); break;
    default: gemv_dec8(route, p, table, nan_max, v); break;
  }
}

/* True if an Inf / NaN code passed through a tracking decoder: e4m3fn's NaN pair is
 * 0x7F / 0xFF, e5m2's specials are 0x7C..0x7F / 0xFC..0xFF. */
GEMV_INLINE int gemv_saw_nan(int route, __m256i nan_max) {
  __m256i lim = _mm256_set1_epi8(
      (char)(route == GEMV_DEC_E5M2_I || route == GEMV_DEC_E5M2_X ? 0xFC : 0xFF));
  return _mm256_movemask_epi8(_mm256_cmpeq_epi8(_mm256_max_epu8(nan_max, lim), nan_max)) != 0;
}

#endif /* FP8GEMM_GEMV_AVX2_DECODE_H */
