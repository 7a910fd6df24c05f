/*
 * The exact fp8 -> fp32 decoder of 16 codes, inline for the packers (a call per 16
 * codes cost ~30% of the decode). Only for files compiled with -mavx2 -mfma -mf16c.
 * See gemm_avx2_decode.c for the method.
 */
#ifndef FP8GEMM_GEMM_AVX2_DECODE_INL_H
#define FP8GEMM_GEMM_AVX2_DECODE_INL_H

#include <immintrin.h>

#include "gemm_avx2.h"

/* 16 fp16 codes (one ymm of u16) -> 16 floats, times `scale`. */
static inline __attribute__((always_inline)) void halves_to_f32(__m256i h, float scale, float *dst) {
  __m256 s = _mm256_set1_ps(scale);
  __m256 lo = _mm256_cvtph_ps(_mm256_castsi256_si128(h));
  __m256 hi = _mm256_cvtph_ps(_mm256_extracti128_si256(h, 1));
  _mm256_storeu_ps(dst, _mm256_mul_ps(lo, s));
  _mm256_storeu_ps(dst + 8, _mm256_mul_ps(hi, s));
}

/* e4m3 layout (1.4.3) -> fp16 bits with the exponent field's top bit clear. */
static inline __attribute__((always_inline)) __m256i e4m3_to_half_bits(__m256i w) {
  __m256i sign = _mm256_slli_epi16(_mm256_and_si256(w, _mm256_set1_epi16(0x80)), 8);
  __m256i mag = _mm256_slli_epi16(_mm256_and_si256(w, _mm256_set1_epi16(0x7F)), 7);
  return _mm256_or_si256(sign, mag);
}

/* lut: fp8g_avx2_lut(dtype), used for e5m2fnuz only. */
static inline __attribute__((always_inline)) void fp8g_avx2_decode16_inline(
    fp8gemm_dtype dtype, const uint8_t *src, float *dst, const float *lut) {
  __m256i w = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)src));
  const __m256i fp16_nan = _mm256_set1_epi16(0x7E00);
  switch (dtype) {
    case FP8GEMM_E5M2:
      halves_to_f32(_mm256_slli_epi16(w, 8), 1.0f, dst);
      return;
    case FP8GEMM_E4M3FN: {
      __m256i nan = _mm256_cmpeq_epi16(_mm256_and_si256(w, _mm256_set1_epi16(0x7F)),
                                       _mm256_set1_epi16(0x7F));
      __m256i h = _mm256_or_si256(e4m3_to_half_bits(w), _mm256_and_si256(nan, fp16_nan));
      halves_to_f32(h, 256.0f, dst);
      return;
    }
    case FP8GEMM_E4M3FNUZ: {
      __m256i nan = _mm256_cmpeq_epi16(w, _mm256_set1_epi16(0x80));
      __m256i h = _mm256_or_si256(e4m3_to_half_bits(w), _mm256_and_si256(nan, fp16_nan));
      halves_to_f32(h, 128.0f, dst);
      return;
    }
    default: {
      __m256i lo = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)src));
      __m256i hi = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(src + 8)));
      _mm256_storeu_ps(dst, _mm256_i32gather_ps(lut, lo, 4));
      _mm256_storeu_ps(dst + 8, _mm256_i32gather_ps(lut, hi, 4));
      return;
    }
  }
}

#endif /* FP8GEMM_GEMM_AVX2_DECODE_INL_H */
