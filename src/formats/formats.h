/*
 * Bit-level description of the narrow floating formats (fp8, e2m1). One row per
 * format drives the generic encoder and decoder in convert.c; SIMD kernels may read
 * the same rows to build their constants. e8m0 has no sign or mantissa and its own
 * rounding rule, so it is handled apart (fp8g_format_of returns NULL for it).
 */
#ifndef FP8GEMM_FORMATS_H
#define FP8GEMM_FORMATS_H

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

#endif /* FP8GEMM_FORMATS_H */
