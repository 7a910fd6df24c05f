/*
 * The exact fp8 -> fp32 decoder of 16 codes, inline for the packers (a call per 16
 * codes cost ~30% of the decode). Only for files compiled with -mavx2 -mfma -mf16c.
 * See gemm_avx2_decode.c for the method.
 */
#ifndef FP8GEMM_GEMM_AVX2_DECODE_INL_H
#define FP8GEMM_GEMM_AVX2_DECODE_INL_H

#include <immintrin.h>

#include "gemm_avx2.h"

/* e4m3 layout (1.4.3) -> fp16 bits with the exponent field's top bit clear. */
static inline __attribute__((always_inline)) __m256i e4m3_to_half_bits(__m256i w) {
  __m256i sign = _mm256_slli_epi16(_mm256_and_si256(w, _mm256_set1_epi16(0x80)), 8);
  __m256i mag = _mm256_slli_epi16(_mm256_and_si256(w, _mm256_set1_epi16(0x7F)), 7);
  return _mm256_or_si256(sign, mag);
}

/* The power of two the plain decoder multiplies decode16_widen's values by (exact). */
static inline __attribute__((always_inline)) float fp8g_avx2_decode_factor(fp8gemm_dtype dtype) {
  return dtype == FP8GEMM_E4M3FN ? 256.0f : dtype == FP8GEMM_E4M3FNUZ ? 128.0f : 1.0f;
}

/*
 * The shared core of the two decoders below: 16 codes -> their values divided by
 * fp8g_avx2_decode_factor(dtype), lanes 0..7 in *lo, 8..15 in *hi; returns that factor
 * (a constant per case, so that callers' tests of it fold into the switch). e5m2 /
 * e4m3fn / e4m3fnuz through fp16 (NaN codes patched to an fp16 NaN), e5m2fnuz from lut
 * (fp8g_avx2_lut(dtype), read for e5m2fnuz only).
 */
static inline __attribute__((always_inline)) float decode16_widen(fp8gemm_dtype dtype,
                                                                  const uint8_t *src, const float *lut,
                                                                  __m256 *lo, __m256 *hi) {
  __m256i w = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)src));
  const __m256i fp16_nan = _mm256_set1_epi16(0x7E00);
  __m256i h;
  float factor;
  switch (dtype) {
    case FP8GEMM_E5M2:
      h = _mm256_slli_epi16(w, 8);
      factor = fp8g_avx2_decode_factor(FP8GEMM_E5M2);
      break;
    case FP8GEMM_E4M3FN: {
      __m256i nan = _mm256_cmpeq_epi16(_mm256_and_si256(w, _mm256_set1_epi16(0x7F)),
                                       _mm256_set1_epi16(0x7F));
      h = _mm256_or_si256(e4m3_to_half_bits(w), _mm256_and_si256(nan, fp16_nan));
      factor = fp8g_avx2_decode_factor(FP8GEMM_E4M3FN);
      break;
    }
    case FP8GEMM_E4M3FNUZ: {
      __m256i nan = _mm256_cmpeq_epi16(w, _mm256_set1_epi16(0x80));
      h = _mm256_or_si256(e4m3_to_half_bits(w), _mm256_and_si256(nan, fp16_nan));
      factor = fp8g_avx2_decode_factor(FP8GEMM_E4M3FNUZ);
      break;
    }
    default:
      *lo = _mm256_i32gather_ps(lut, _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)src)), 4);
      *hi = _mm256_i32gather_ps(lut, _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(src + 8))), 4);
      return 1.0f;
  }
  *lo = _mm256_cvtph_ps(_mm256_castsi256_si128(h));
  *hi = _mm256_cvtph_ps(_mm256_extracti128_si256(h, 1));
  return factor;
}

/* 16 codes -> their exact fp32 values at dst; lut: fp8g_avx2_lut(dtype). */
static inline __attribute__((always_inline)) void fp8g_avx2_decode16_inline(
    fp8gemm_dtype dtype, const uint8_t *src, float *dst, const float *lut) {
  __m256 lo, hi;
  float factor = decode16_widen(dtype, src, lut, &lo, &hi);
  if (factor != 1.0f) {
    lo = _mm256_mul_ps(lo, _mm256_set1_ps(factor));
    hi = _mm256_mul_ps(hi, _mm256_set1_ps(factor));
  }
  _mm256_storeu_ps(dst, lo);
  _mm256_storeu_ps(dst + 8, hi);
}

/*
 * decode(src[i]) * v[i] for 16 codes, given fv = (fv0, fv1) = fp8g_avx2_decode_factor *
 * v, the column scales with the decoder's factor folded in (once per block of codes):
 * one multiply per lane instead of two. Same bits as fp8g_avx2_decode16_inline
 * followed by * v whenever factor * v is finite (the callers' scales: MX codes <= the
 * foldable limit, so 2^8 v <= 2^127; w8a16 scales < 2^112): the fp16 value times the
 * factor is exact, so both forms round the same exact product once; a NaN code gives
 * its own NaN (first operand) either way, a NaN scale its NaN.
 */
static inline __attribute__((always_inline)) void fp8g_avx2_decode16_scaled(
    fp8gemm_dtype dtype, const uint8_t *src, float *dst, const float *lut, __m256 fv0, __m256 fv1) {
  __m256 lo, hi;
  (void)decode16_widen(dtype, src, lut, &lo, &hi);
  _mm256_storeu_ps(dst, _mm256_mul_ps(lo, fv0));
  _mm256_storeu_ps(dst + 8, _mm256_mul_ps(hi, fv1));
}

#endif /* FP8GEMM_GEMM_AVX2_DECODE_INL_H */
