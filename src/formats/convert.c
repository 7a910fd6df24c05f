/*
 * f32 <-> narrow formats (fp8, e2m1, e8m0): the bit-exact reference of docs/numerics.md.
 * One table row per format; a single encoder rounds the exact f32 value once (RNE,
 * gradual underflow) to a magnitude code and then applies the row's overflow rules.
 */
#include "formats.h"

/* e2m1 NaN -> zero of the NaN's sign: see docs/numerics.md. */
static const fp8g_format formats[FP8GEMM_DTYPE_COUNT] = {
    [FP8GEMM_E4M3FN] = {4, 3, 7, 0x80, 0x7E, FP8G_SPECIAL_FN, true, 0x7F, 0xFF, 0x7F, 0xFF},
    [FP8GEMM_E5M2] = {5, 2, 15, 0x80, 0x7B, FP8G_SPECIAL_IEEE, true, 0x7E, 0xFE, 0x7C, 0xFC},
    [FP8GEMM_E4M3FNUZ] = {4, 3, 8, 0x80, 0x7F, FP8G_SPECIAL_FNUZ, false, 0x80, 0x80, 0x80, 0x80},
    [FP8GEMM_E5M2FNUZ] = {5, 2, 16, 0x80, 0x7F, FP8G_SPECIAL_FNUZ, false, 0x80, 0x80, 0x80, 0x80},
    [FP8GEMM_E2M1] = {2, 1, 1, 0x08, 0x07, FP8G_SPECIAL_NONE, true, 0x00, 0x08, 0x07, 0x0F},
};

const fp8g_format *fp8g_format_of(fp8gemm_dtype dtype) {
  if (dtype == FP8GEMM_E2M1 || fp8gemm_dtype_is_fp8(dtype)) return &formats[dtype];
  return NULL;
}

bool fp8g_is_narrow(fp8gemm_dtype dtype) {
  return fp8g_format_of(dtype) != NULL || dtype == FP8GEMM_E8M0;
}

/*
 * e8m0 = 2^(code - 127), rounded half up in the linear domain (x >= 1.5 * 2^k goes to
 * 2^(k+1)). NaN, Inf and negatives -> 0xFF in both flavours; 0 -> 0xFF (cast, as
 * ml_dtypes) or 0x00 (saturate: clamped to the smallest scale); finite overflow ->
 * 0xFF (cast) or 0xFE (saturate). Positive values below 2^-127 go to 0x00.
 */
static uint8_t encode_e8m0(float x, bool saturate) {
  uint32_t u = fp8g_f32_bits(x), a = u & 0x7fffffffu;
  if (a >= 0x7f800000u) return 0xFF;
  if (a == 0) return saturate ? 0x00 : 0xFF;
  if (u >> 31) return 0xFF;
  uint32_t e = a >> 23, frac = a & 0x7fffffu;
  uint32_t code;
  if (e == 0) code = frac >= 0x600000u; /* f32 subnormal: x >= 1.5 * 2^-127 -> 2^-126 */
  else code = e + (frac >= 0x400000u);
  if (code == 0xFF) return saturate ? 0xFE : 0xFF;
  return (uint8_t)code;
}

uint8_t fp8g_encode(fp8gemm_dtype to, float x, bool saturate) {
  if (to == FP8GEMM_E8M0) return encode_e8m0(x, saturate);
  const fp8g_format *f = fp8g_format_of(to);
  return f ? fp8g_encode_format(f, x, saturate) : 0;
}

static float decode_format(const fp8g_format *f, uint8_t code) {
  int width = 1 + f->ebits + f->mbits;
  code &= (uint8_t)((1u << width) - 1u);
  uint32_t mag = code & (uint32_t)(f->sign_bit - 1u);
  bool neg = (code & f->sign_bit) != 0;
  uint32_t e = mag >> f->mbits, m = mag & ((1u << f->mbits) - 1u);
  uint32_t e_all = (1u << f->ebits) - 1u;
  uint32_t sign = neg ? 0x80000000u : 0;
  switch (f->special) {
    case FP8G_SPECIAL_IEEE:
      if (e == e_all) return fp8g_f32_from_bits(sign | (m ? 0x7fc00000u : 0x7f800000u));
      break;
    case FP8G_SPECIAL_FN:
      if (mag == f->sign_bit - 1u) return fp8g_f32_from_bits(sign | 0x7fc00000u);
      break;
    case FP8G_SPECIAL_FNUZ:
      if (code == f->sign_bit) return fp8g_f32_from_bits(0x7fc00000u);
      break;
    case FP8G_SPECIAL_NONE: break;
  }
  if (e == 0) {
    /* subnormal: m * 2^(1 - bias - mbits), exact (a power of two times a small integer) */
    float unit = fp8g_f32_from_bits((uint32_t)(127 + 1 - f->bias - f->mbits) << 23);
    return fp8g_f32_from_bits(sign | fp8g_f32_bits((float)m * unit));
  }
  uint32_t fe = e - (uint32_t)f->bias + 127u;
  return fp8g_f32_from_bits(sign | (fe << 23) | (m << (23 - f->mbits)));
}

static float decode_e8m0(uint8_t code) {
  if (code == 0xFF) return fp8g_f32_from_bits(0x7fc00000u);
  if (code == 0) return fp8g_f32_from_bits(0x00400000u); /* 2^-127 is an f32 subnormal */
  return fp8g_f32_from_bits((uint32_t)code << 23);
}

float fp8g_decode(fp8gemm_dtype from, uint8_t code) {
  if (from == FP8GEMM_E8M0) return decode_e8m0(code);
  const fp8g_format *f = fp8g_format_of(from);
  return f ? decode_format(f, code) : fp8g_f32_from_bits(0x7fc00000u);
}

/* ------------------------------------------------------------ public one-value API */
static fp8gemm_status check_narrow(const char *fn, fp8gemm_dtype dtype) {
  if (fp8g_is_narrow(dtype)) return FP8GEMM_OK;
  return fp8g_error(FP8GEMM_INVALID_ARGUMENT,
                    "%s: dtype: expected e4m3fn, e5m2, e4m3fnuz, e5m2fnuz, e2m1 or e8m0, got %s", fn,
                    fp8g_dtype_str(dtype));
}

fp8gemm_status fp8gemm_encode_value(float x, fp8gemm_dtype to, int saturate, uint8_t *code) {
  fp8gemm_status s = check_narrow("encode_value", to);
  if (s != FP8GEMM_OK) return s;
  if (!code) return fp8g_error(FP8GEMM_INVALID_ARGUMENT, "encode_value: code is NULL");
  *code = fp8g_encode(to, x, saturate != 0);
  return FP8GEMM_OK;
}

fp8gemm_status fp8gemm_decode_value(uint8_t code, fp8gemm_dtype from, float *value) {
  fp8gemm_status s = check_narrow("decode_value", from);
  if (s != FP8GEMM_OK) return s;
  if (!value) return fp8g_error(FP8GEMM_INVALID_ARGUMENT, "decode_value: value is NULL");
  *value = fp8g_decode(from, code);
  return FP8GEMM_OK;
}
