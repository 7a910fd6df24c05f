/*
 * Exact fp8 -> fp32 decode for the packers. e5m2 is a prefix of fp16 (code << 8);
 * e4m3fn / e4m3fnuz move their 4-bit exponent into fp16's 5-bit field, which is the
 * value times 2^-8 / 2^-7 (exact, subnormals included), so one multiply by a power of
 * two restores it; their NaN codes are patched to an fp16 NaN first. e5m2fnuz uses
 * all 32 exponents, which fp16 cannot hold, so it goes through the value table.
 */
#include <immintrin.h>
#include <pthread.h>
#include <string.h>

#include "gemm_avx2.h"

static float luts[4][256];
static pthread_once_t luts_once = PTHREAD_ONCE_INIT;

static int lut_index(fp8gemm_dtype d) {
  switch (d) {
    case FP8GEMM_E4M3FN: return 0;
    case FP8GEMM_E5M2: return 1;
    case FP8GEMM_E4M3FNUZ: return 2;
    default: return 3; /* e5m2fnuz: callers only pass fp8 dtypes */
  }
}

static void build_luts(void) {
  static const fp8gemm_dtype order[4] = {FP8GEMM_E4M3FN, FP8GEMM_E5M2, FP8GEMM_E4M3FNUZ,
                                         FP8GEMM_E5M2FNUZ};
  for (int t = 0; t < 4; t++)
    for (int c = 0; c < 256; c++) luts[t][c] = fp8g_decode(order[t], (uint8_t)c);
}

const float *fp8g_avx2_lut(fp8gemm_dtype dtype) {
  pthread_once(&luts_once, build_luts);
  return luts[lut_index(dtype)];
}

float fp8g_avx2_e8m0(uint8_t e) {
  uint32_t bits = e == 0xFF ? 0x7FC00000u : e == 0 ? 0x00400000u : (uint32_t)e << 23;
  float f;
  memcpy(&f, &bits, sizeof f);
  return f;
}

/* 16 fp16 codes (one ymm of u16) -> 16 floats, times `scale`. */
static inline void halves_to_f32(__m256i h, float scale, float *dst) {
  __m256 s = _mm256_set1_ps(scale);
  __m256 lo = _mm256_cvtph_ps(_mm256_castsi256_si128(h));
  __m256 hi = _mm256_cvtph_ps(_mm256_extracti128_si256(h, 1));
  _mm256_storeu_ps(dst, _mm256_mul_ps(lo, s));
  _mm256_storeu_ps(dst + 8, _mm256_mul_ps(hi, s));
}

/* e4m3 layout (1.4.3) -> fp16 bits with the exponent field's top bit clear. */
static inline __m256i e4m3_to_half_bits(__m256i w) {
  __m256i sign = _mm256_slli_epi16(_mm256_and_si256(w, _mm256_set1_epi16(0x80)), 8);
  __m256i mag = _mm256_slli_epi16(_mm256_and_si256(w, _mm256_set1_epi16(0x7F)), 7);
  return _mm256_or_si256(sign, mag);
}

void fp8g_avx2_decode16(fp8gemm_dtype dtype, const uint8_t *src, float *dst) {
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
      const float *lut = fp8g_avx2_lut(dtype);
      __m256i lo = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)src));
      __m256i hi = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(src + 8)));
      _mm256_storeu_ps(dst, _mm256_i32gather_ps(lut, lo, 4));
      _mm256_storeu_ps(dst + 8, _mm256_i32gather_ps(lut, hi, 4));
      return;
    }
  }
}
