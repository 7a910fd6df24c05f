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
#include "gemm_avx2_decode_inl.h"

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

void fp8g_avx2_decode16(fp8gemm_dtype dtype, const uint8_t *src, float *dst) {
  fp8g_avx2_decode16_inline(dtype, src, dst, fp8g_avx2_lut(dtype));
}
