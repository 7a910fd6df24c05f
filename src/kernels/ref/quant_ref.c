/*
 * Portable reference of the elementwise quant kernels: one element at a time through
 * the scalar conversions of formats/. Every SIMD table must match it bit for bit.
 */
#include <math.h>
#include <string.h>

#include "../../formats/formats.h"
#include "../quant_kernels.h"

static void widen_ref(const void *x, fp8gemm_dtype dtype, float *y, size_t n) {
  for (size_t i = 0; i < n; i++) y[i] = fp8g_load_wide(x, dtype, (int64_t)i);
}

static void narrow_ref(const float *x, fp8gemm_dtype dtype, void *y, size_t n) {
  uint16_t *h = y;
  switch (dtype) {
    case FP8GEMM_F32: memmove(y, x, n * sizeof *x); break;
    case FP8GEMM_BF16:
      for (size_t i = 0; i < n; i++) h[i] = fp8g_f32_to_bf16(x[i]);
      break;
    case FP8GEMM_F16:
      for (size_t i = 0; i < n; i++) h[i] = fp8g_f32_to_f16(x[i]);
      break;
    default: break;
  }
}

static float amax_ref(const float *x, size_t n) {
  float m = 0.0f;
  for (size_t i = 0; i < n; i++) {
    float a = fabsf(x[i]);
    if (a > m) m = a; /* false for NaN: NaN is ignored */
  }
  return m;
}

static void quantize_ref(const float *x, size_t n, float scale, fp8gemm_dtype to, bool saturate,
                         uint8_t *q) {
  const fp8g_format *f = fp8g_format_of(to);
  if (!f) { /* e8m0 */
    for (size_t i = 0; i < n; i++) q[i] = fp8g_encode(to, x[i] / scale, saturate);
    return;
  }
  /* x / 1 == x for every input (NaN stays NaN): skip the division for plain casts. */
  bool divide = scale != 1.0f;
  if (to == FP8GEMM_E2M1) {
    for (size_t i = 0; i + 1 < n; i += 2) {
      float a = divide ? x[i] / scale : x[i], b = divide ? x[i + 1] / scale : x[i + 1];
      q[i / 2] = (uint8_t)(fp8g_encode_format(f, a, saturate) |
                           fp8g_encode_format(f, b, saturate) << 4);
    }
    if (n % 2) q[n / 2] = fp8g_encode_format(f, divide ? x[n - 1] / scale : x[n - 1], saturate);
    return;
  }
  if (divide)
    for (size_t i = 0; i < n; i++) q[i] = fp8g_encode_format(f, x[i] / scale, saturate);
  else
    for (size_t i = 0; i < n; i++) q[i] = fp8g_encode_format(f, x[i], saturate);
}

static void dequantize_ref(const uint8_t *q, size_t n, fp8gemm_dtype from, float scale, float *y) {
  if (from == FP8GEMM_E2M1) {
    for (size_t i = 0; i < n; i++)
      y[i] = fp8g_decode(from, (uint8_t)(q[i / 2] >> (4 * (i % 2)))) * scale;
    return;
  }
  for (size_t i = 0; i < n; i++) y[i] = fp8g_decode(from, q[i]) * scale;
}

/* ------------------------------------------------------------------------------ MX */
/* emax of the element format and the mantissa of its largest value (max = mmax * 2^emax). */
static void elem_limits(fp8gemm_dtype elem, int *emax, float *mmax) {
  switch (elem) {
    case FP8GEMM_E5M2: *emax = 15; *mmax = 1.75f; break;
    case FP8GEMM_E2M1: *emax = 2; *mmax = 1.5f; break;
    default: *emax = 8; *mmax = 1.75f; break; /* e4m3fn */
  }
}

/* e8m0 code of the block scale for a finite amax > 0. */
static uint8_t mx_scale_code(float amax, fp8gemm_dtype elem, fp8gemm_mx_scale_mode mode) {
  int emax;
  float mmax;
  elem_limits(elem, &emax, &mmax);
  int e;
  float mant = 2.0f * frexpf(amax, &e); /* amax = mant * 2^(e-1), mant in [1, 2), exact */
  e -= 1;
  int k = e - emax; /* floor: 2^(floor(log2 amax) - emax) */
  /* rceil: smallest k with amax <= elem_max * 2^k, decided exactly on the mantissas. */
  if (mode == FP8GEMM_MX_RCEIL && mant > mmax) k += 1;
  int code = k + 127;
  return (uint8_t)(code < 0 ? 0 : code > 254 ? 254 : code);
}

static void mx_quantize_ref(const float *x, size_t nblocks, fp8gemm_dtype elem,
                            fp8gemm_mx_scale_mode mode, uint8_t *q, uint8_t *scales) {
  const size_t B = 32;
  size_t qbytes = elem == FP8GEMM_E2M1 ? B / 2 : B;
  const fp8g_format *f = fp8g_format_of(elem);
  for (size_t b = 0; b < nblocks; b++) {
    const float *xb = x + b * B;
    uint8_t *qb = q + b * qbytes;
    float amax = 0.0f;
    bool special = false;
    for (size_t i = 0; i < B; i++) {
      float a = fabsf(xb[i]);
      special |= !(a <= 0x1.fffffep127f); /* NaN or Inf */
      if (a > amax) amax = a;
    }
    if (special) {
      /* X = NaN makes the whole block NaN; e2m1 has no NaN code, its elements are 0. */
      scales[b] = 0xFF;
      memset(qb, elem == FP8GEMM_E2M1 ? 0 : f->nan_pos, qbytes);
      continue;
    }
    uint8_t code = amax == 0.0f ? 0x00 : mx_scale_code(amax, elem, mode);
    scales[b] = code;
    quantize_ref(xb, B, fp8g_decode(FP8GEMM_E8M0, code), elem, true, qb);
  }
}

/* ------------------------------------------------------------------------ fused forms */
/* Each is its composition, run over stack blocks of REF_BLOCK elements (even, so e2m1
 * blocks start on whole bytes). Every step is elementwise (amax: a max of maxima of
 * non-negative numbers), so blocking changes no bit. */
#define REF_BLOCK 256

static float amax_wide_ref(const void *x, fp8gemm_dtype dtype, size_t n) {
  if (dtype == FP8GEMM_F32) return amax_ref(x, n);
  float buf[REF_BLOCK], m = 0.0f;
  for (size_t i = 0; i < n; i += REF_BLOCK) {
    size_t c = n - i < REF_BLOCK ? n - i : REF_BLOCK;
    widen_ref((const uint16_t *)x + i, dtype, buf, c);
    float a = amax_ref(buf, c);
    if (a > m) m = a;
  }
  return m;
}

static void quantize_wide_ref(const void *x, fp8gemm_dtype dtype, size_t n, float scale,
                              fp8gemm_dtype to, bool saturate, uint8_t *q) {
  if (dtype == FP8GEMM_F32) {
    quantize_ref(x, n, scale, to, saturate, q);
    return;
  }
  float buf[REF_BLOCK];
  for (size_t i = 0; i < n; i += REF_BLOCK) {
    size_t c = n - i < REF_BLOCK ? n - i : REF_BLOCK;
    widen_ref((const uint16_t *)x + i, dtype, buf, c);
    quantize_ref(buf, c, scale, to, saturate, q + (to == FP8GEMM_E2M1 ? i / 2 : i));
  }
}

static void dequantize_narrow_ref(const uint8_t *q, size_t n, fp8gemm_dtype from, float scale,
                                  fp8gemm_dtype out, void *y) {
  if (out == FP8GEMM_F32) {
    dequantize_ref(q, n, from, scale, y);
    return;
  }
  float buf[REF_BLOCK];
  for (size_t i = 0; i < n; i += REF_BLOCK) {
    size_t c = n - i < REF_BLOCK ? n - i : REF_BLOCK;
    dequantize_ref(q + (from == FP8GEMM_E2M1 ? i / 2 : i), c, from, scale, buf);
    narrow_ref(buf, out, (uint16_t *)y + i, c);
  }
}

/* The reference does not prefetch. */
static void quantize_wide_pf_ref(const void *x, fp8gemm_dtype dtype, size_t n, float scale,
                                 fp8gemm_dtype to, bool saturate, uint8_t *q, const void *next) {
  (void)next;
  quantize_wide_ref(x, dtype, n, scale, to, saturate, q);
}

/* Nothing streams. */
static void nt_fence_ref(void) {}

const fp8g_quant_kernels fp8g_quant_ref = {
    "quant_ref",   FP8GEMM_ISA_SCALAR, widen_ref,      narrow_ref,
    amax_ref,      quantize_ref,       dequantize_ref, mx_quantize_ref,
    amax_wide_ref, quantize_wide_ref,  dequantize_narrow_ref, quantize_wide_pf_ref,
    quantize_ref,  quantize_wide_pf_ref, nt_fence_ref,
    mx_quantize_ref, dequantize_narrow_ref,
};
