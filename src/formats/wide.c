/* bf16 and fp16 <-> f32: exact widening, RNE narrowing. */
#include "../internal.h"

float fp8g_bf16_to_f32(uint16_t h) { return fp8g_f32_from_bits((uint32_t)h << 16); }

uint16_t fp8g_f32_to_bf16(float x) {
  uint32_t u = fp8g_f32_bits(x);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); /* quiet NaN */
  u += 0x7fffu + ((u >> 16) & 1u);
  return (uint16_t)(u >> 16);
}

float fp8g_f16_to_f32(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu;
  if (exp == 0x1f) return fp8g_f32_from_bits(sign | 0x7f800000u | (mant << 13));
  if (exp == 0) {
    /* zero or subnormal: mant * 2^-24, exact in f32 */
    float v = (float)mant * 0x1p-24f;
    return sign ? -v : v;
  }
  return fp8g_f32_from_bits(sign | ((exp + 112u) << 23) | (mant << 13));
}

uint16_t fp8g_f32_to_f16(float x) {
  uint32_t u = fp8g_f32_bits(x);
  uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
  uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return (uint16_t)(sign | 0x7e00u | ((a >> 13) & 0x3ffu));
  if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* >= 65520 rounds to Inf */
  if (a < 0x38800000u) {
    /* result is subnormal (or zero): round a * 2^24 to an integer, ties to even */
    uint32_t e = a >> 23;
    if (e < 102) return sign; /* below half the smallest subnormal */
    uint32_t m = (a & 0x7fffffu) | 0x800000u;
    uint32_t shift = 126 - e; /* value = m * 2^(e-150); want units of 2^-24 */
    uint32_t q = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rem > half || (rem == half && (q & 1u))) q++;
    return (uint16_t)(sign | q);
  }
  uint32_t r = a + 0xfffu + ((a >> 13) & 1u);
  return (uint16_t)(sign | ((r - 0x38000000u) >> 13));
}
