/*
 * The exact fp8 -> fp32 decoder of 16 codes, inline for the packers (a call per 16
 * codes cost ~30% of the decode). Only for files compiled with -mavx2 -mfma -mf16c.
 * See gemm_avx2_decode.c for the method.
 */
#ifndef FP8GEMM_GEMM_AVX2_DECODE_INL_H
#define FP8GEMM_GEMM_AVX2_DECODE_INL_H

#include <immintrin.h>

#include "gemm_avx2.h"

/* 16 fp16 codes (one ymm of u16) -> 16 floats, times s0 (lanes 0..7) and s1 (8..15). */
static inline __attribute__((always_inline)) void halves_to_f32_v(__m256i h, __m256 s0, __m256 s1,
                                                                  float *dst) {
  __m256 lo = _mm256_cvtph_ps(_mm256_castsi256_si128(h));
  __m256 hi = _mm256_cvtph_ps(_mm256_extracti128_si256(h, 1));
  _mm256_storeu_ps(dst, _mm256_mul_ps(lo, s0));
  _mm256_storeu_ps(dst + 8, _mm256_mul_ps(hi, s1));
}

/* 16 fp16 codes (one ymm of u16) -> 16 floats, times `scale`. */
static inline __attribute__((always_inline)) void halves_to_f32(__m256i h, float scale, float *dst) {
  halves_to_f32_v(h, _mm256_set1_ps(scale), _mm256_set1_ps(scale), dst);
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

/* The power of two fp8g_avx2_decode16_inline multiplies the widened fp16 by. */
static inline __attribute__((always_inline)) float fp8g_avx2_decode_factor(fp8gemm_dtype dtype) {
  return dtype == FP8GEMM_E4M3FN ? 256.0f : dtype == FP8GEMM_E4M3FNUZ ? 128.0f : 1.0f;
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
  __m256i w = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)src));
  const __m256i fp16_nan = _mm256_set1_epi16(0x7E00);
  switch (dtype) {
    case FP8GEMM_E5M2:
      halves_to_f32_v(_mm256_slli_epi16(w, 8), fv0, fv1, dst);
      return;
    case FP8GEMM_E4M3FN: {
      __m256i nan = _mm256_cmpeq_epi16(_mm256_and_si256(w, _mm256_set1_epi16(0x7F)),
                                       _mm256_set1_epi16(0x7F));
      __m256i h = _mm256_or_si256(e4m3_to_half_bits(w), _mm256_and_si256(nan, fp16_nan));
      halves_to_f32_v(h, fv0, fv1, dst);
      return;
    }
    case FP8GEMM_E4M3FNUZ: {
      __m256i nan = _mm256_cmpeq_epi16(w, _mm256_set1_epi16(0x80));
      __m256i h = _mm256_or_si256(e4m3_to_half_bits(w), _mm256_and_si256(nan, fp16_nan));
      halves_to_f32_v(h, fv0, fv1, dst);
      return;
    }
    default: {
      __m256i lo = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)src));
      __m256i hi = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(src + 8)));
      _mm256_storeu_ps(dst, _mm256_mul_ps(_mm256_i32gather_ps(lut, lo, 4), fv0));
      _mm256_storeu_ps(dst + 8, _mm256_mul_ps(_mm256_i32gather_ps(lut, hi, 4), fv1));
      return;
    }
  }
}

#endif /* FP8GEMM_GEMM_AVX2_DECODE_INL_H */
