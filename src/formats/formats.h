/*
 * Bit-level description of the narrow floating formats (fp8, e2m1). One row per
 * format drives the generic encoder and decoder in convert.c; SIMD kernels may read
 * the same rows to build their constants. e8m0 has no sign or mantissa and its own
 * rounding rule, so it is handled apart (fp8g_format_of returns NULL for it).
 */
#ifndef FP8GEMM_FORMATS_H
#define FP8GEMM_FORMATS_H

#include <string.h>

#include "../internal.h"

/* Which codes are not finite numbers. */
typedef enum fp8g_special {
  FP8G_SPECIAL_IEEE, /* exponent all ones: Inf (M == 0) or NaN (e5m2) */
  FP8G_SPECIAL_FN,   /* only S.1111.111 is NaN, no Inf (e4m3fn) */
  FP8G_SPECIAL_FNUZ, /* only 0x80 (the would-be -0) is NaN (fnuz) */
  FP8G_SPECIAL_NONE  /* every code is finite (e2m1) */
} fp8g_special;

typedef struct fp8g_format {
  int ebits, mbits, bias;
  uint8_t sign_bit;         /* 0x80, or 0x08 for the e2m1 nibble */
  uint8_t max_mag;          /* magnitude code of the largest finite value */
  fp8g_special special;
  bool neg_zero;            /* false for fnuz: -0 encodes as +0 */
  uint8_t nan_pos, nan_neg; /* code for a NaN input of either sign */
  uint8_t ovf_pos, ovf_neg; /* non-saturating overflow and +-Inf */
} fp8g_format;

/* The row for an fp8 dtype or e2m1; NULL for anything else (e8m0 included). */
const fp8g_format *fp8g_format_of(fp8gemm_dtype dtype);

/* True for the dtypes fp8g_encode / fp8g_decode accept: fp8, e2m1, e8m0. */
bool fp8g_is_narrow(fp8gemm_dtype dtype);

/* ---- the generic encoder, inline so the reference kernels avoid a call per element */
/* Rounds sig / 2^shift to an integer, ties to even. sig < 2^24, shift >= 1. */
static inline uint32_t fp8g_shift_rne(uint32_t sig, int shift) {
  if (shift > 25) return 0; /* below half of one unit */
  uint32_t q = sig >> shift, rem = sig & ((1u << shift) - 1), half = 1u << (shift - 1);
  if (rem > half || (rem == half && (q & 1u))) q++;
  return q;
}

/*
 * Magnitude code of the finite f32 magnitude `a` (bits, sign cleared), rounded once.
 * Codes are monotonic in value: a normal (E, M) is (E - 1) * 2^m + (2^m + M), a
 * subnormal M is M, so a rounding carry walks into the next binade by itself.
 * The result may exceed max_mag (overflow); it stays small enough for uint32.
 */
static inline uint32_t fp8g_round_magnitude(const fp8g_format *f, uint32_t a) {
  int e = (int)(a >> 23);
  uint32_t sig = a & 0x7fffffu;
  if (e == 0) e = 1; /* f32 subnormal: no implicit bit, same scale as e == 1 */
  else sig |= 0x800000u;
  int target_e = e - 127 + f->bias; /* biased exponent if the result is normal */
  int shift = 23 - f->mbits;
  uint32_t base = 0;
  if (target_e >= 1) base = (uint32_t)(target_e - 1) << f->mbits;
  else shift += 1 - target_e; /* gradual underflow: fewer mantissa bits survive */
  return base + fp8g_shift_rne(sig, shift);
}

/* f32 -> code of the format described by f (fp8 or the e2m1 nibble). */
static inline uint8_t fp8g_encode_format(const fp8g_format *f, float x, bool saturate) {
  uint32_t u, a;
  memcpy(&u, &x, sizeof u);
  a = u & 0x7fffffffu;
  bool neg = (u >> 31) != 0;
  if (a > 0x7f800000u) return neg ? f->nan_neg : f->nan_pos;
  uint32_t mag = a == 0x7f800000u ? UINT32_MAX : fp8g_round_magnitude(f, a);
  if (mag > f->max_mag) {
    /* Clamping before rounding == clamping the rounded code: values <= max never
     * round above max_mag, and everything above max rounds to >= max_mag. */
    if (!saturate) return neg ? f->ovf_neg : f->ovf_pos;
    mag = f->max_mag;
  }
  if (mag == 0 && !f->neg_zero) return 0;
  return (uint8_t)((neg ? f->sign_bit : 0) | mag);
}

#endif /* FP8GEMM_FORMATS_H */
