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
 * Every decoder yields vectors in code order: v[0] = codes 0-7, v[1] = 8-15, ...
 */
#ifndef FP8GEMM_GEMV_AVX2_DECODE_H
#define FP8GEMM_GEMV_AVX2_DECODE_H

#include <immintrin.h>
#include <stdint.h>

#define GEMV_INLINE static inline __attribute__((always_inline))

/* Decoder routes; values are template parameters of the tile kernels. */
enum {
  GEMV_DEC_E4M3FN = 0,   /* F16C, value * 2^-8 */
  GEMV_DEC_E5M2 = 1,     /* F16C, exact */
  GEMV_DEC_TABLE = 2,    /* gathers from the call's table */
  GEMV_DEC_E4M3FN_I = 3, /* integer, value * 2^-120 */
  GEMV_DEC_E5M2_I = 4    /* integer, value * 2^-112 */
};

/* Routes whose decoders can produce finite values for Inf / NaN codes. */
#define GEMV_ROUTE_TRACKS(route) \
  ((route) == GEMV_DEC_E4M3FN || (route) == GEMV_DEC_E4M3FN_I || (route) == GEMV_DEC_E5M2_I)
#define GEMV_ROUTE_IS_INT(route) ((route) == GEMV_DEC_E4M3FN_I || (route) == GEMV_DEC_E5M2_I)

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
  __m256i lim = _mm256_set1_epi8((char)(route == GEMV_DEC_E5M2_I ? 0xFC : 0xFF));
  return _mm256_movemask_epi8(_mm256_cmpeq_epi8(_mm256_max_epu8(nan_max, lim), nan_max)) != 0;
}

#endif /* FP8GEMM_GEMV_AVX2_DECODE_H */
