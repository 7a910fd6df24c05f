/* Helpers of `fp8gemm check` (see check_util.h). */
#include "check_util.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint64_t rng_next(check_rng *r) { /* splitmix64 */
  uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

int64_t rng_int(check_rng *r, int64_t lo, int64_t hi) {
  return lo + (int64_t)(rng_next(r) % (uint64_t)(hi - lo + 1));
}

int owned_alloc(owned_tensor *o, fp8gemm_dtype dtype, int ndim, const int64_t *dims) {
  memset(o, 0, sizeof *o);
  if (fp8gemm_tensor_init(&o->t, dtype, ndim, dims, NULL) != FP8GEMM_OK) return -1;
  size_t bytes = fp8gemm_tensor_nbytes(&o->t);
  o->mem = calloc(bytes ? bytes : 1, 1);
  o->t.data = o->mem;
  return o->mem ? 0 : -1;
}

void owned_free(owned_tensor *o) {
  free(o->mem);
  o->mem = NULL;
}

static float f32_from_bits(uint32_t u) {
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

static float f16_to_f32(uint16_t h) {
  uint32_t sign = (uint32_t)(h >> 15), exp = (h >> 10) & 0x1f, man = h & 0x3ff;
  float v;
  if (exp == 0) v = ldexpf((float)man, -24);
  else if (exp == 31) v = man ? NAN : INFINITY;
  else v = ldexpf((float)(man | 0x400), (int)exp - 25);
  return sign ? -v : v;
}

double elem_get(const void *data, fp8gemm_dtype dtype, int64_t off) {
  const uint8_t *p = data;
  switch (dtype) {
    case FP8GEMM_F32: {
      float f;
      memcpy(&f, p + 4 * off, 4);
      return f;
    }
    case FP8GEMM_BF16: {
      uint16_t h;
      memcpy(&h, p + 2 * off, 2);
      return f32_from_bits((uint32_t)h << 16);
    }
    case FP8GEMM_F16: {
      uint16_t h;
      memcpy(&h, p + 2 * off, 2);
      return f16_to_f32(h);
    }
    case FP8GEMM_E2M1: {
      uint8_t byte = p[off / 2];
      float v = 0;
      fp8gemm_decode_value(off % 2 ? (uint8_t)(byte >> 4) : (uint8_t)(byte & 0xf), dtype, &v);
      return v;
    }
    default: {
      float v = 0;
      fp8gemm_decode_value(p[off], dtype, &v);
      return v;
    }
  }
}

double wide_set_random(check_rng *r, void *data, fp8gemm_dtype dtype, int64_t off, int lo, int hi) {
  uint8_t *p = data;
  uint32_t sign = (uint32_t)(rng_next(r) & 1) << 31;
  uint32_t exp = (uint32_t)(127 + rng_int(r, lo, hi - 1));
  uint32_t bits = sign | exp << 23 | (uint32_t)(rng_next(r) & 0x7fffff);
  if (rng_int(r, 0, 63) == 0) bits = sign; /* a few zeros */
  switch (dtype) {
    case FP8GEMM_F32: memcpy(p + 4 * off, &bits, 4); return f32_from_bits(bits);
    case FP8GEMM_BF16: {
      uint16_t h = (uint16_t)(bits >> 16); /* truncation: the value written is the value read */
      memcpy(p + 2 * off, &h, 2);
      return f32_from_bits((uint32_t)h << 16);
    }
    case FP8GEMM_F16: { /* f16 has 5 exponent bits: rebuild from the f32 pieces */
      int e = (int)exp - 127;
      uint16_t h = (uint16_t)(sign >> 16);
      if (bits << 1) h |= (uint16_t)((uint32_t)(e + 15) << 10 | ((bits >> 13) & 0x3ff));
      memcpy(p + 2 * off, &h, 2);
      return f16_to_f32(h);
    }
    default: return 0;
  }
}

uint8_t random_code(check_rng *r, fp8gemm_dtype dtype, double max_abs) {
  int codes = dtype == FP8GEMM_E2M1 ? 16 : 256;
  for (;;) {
    uint8_t c = (uint8_t)rng_int(r, 0, codes - 1);
    float v;
    if (fp8gemm_decode_value(c, dtype, &v) == FP8GEMM_OK && isfinite(v) && fabs(v) <= max_abs)
      return c;
  }
}

uint8_t nan_code(fp8gemm_dtype dtype) {
  for (int c = 0; c < 256; c++) {
    float v;
    if (fp8gemm_decode_value((uint8_t)c, dtype, &v) == FP8GEMM_OK && isnan(v)) return (uint8_t)c;
  }
  return 0;
}

double half_ulp_wide(fp8gemm_dtype dtype, double x) {
  int mant = dtype == FP8GEMM_BF16 ? 7 : dtype == FP8GEMM_F16 ? 10 : 23;
  int emin = dtype == FP8GEMM_F16 ? -14 : -126;
  x = fabs(x);
  int e = x > 0 ? ilogb(x) : emin;
  if (e < emin) e = emin;
  return ldexp(1.0, e - mant - 1);
}

/* Sorted non-negative finite values of each narrow format, from its decode table
 * (built on first use; the CLI is single-threaded). */
static int narrow_values(fp8gemm_dtype dtype, const double **values) {
  static double table[FP8GEMM_DTYPE_COUNT][256];
  static int count[FP8GEMM_DTYPE_COUNT];
  if ((int)dtype <= 0 || (int)dtype >= FP8GEMM_DTYPE_COUNT) return 0;
  double *v = table[dtype];
  if (!count[dtype]) {
    int n = 0, codes = dtype == FP8GEMM_E2M1 ? 16 : 256;
    for (int c = 0; c < codes; c++) {
      float f;
      if (fp8gemm_decode_value((uint8_t)c, dtype, &f) != FP8GEMM_OK || !isfinite(f) || f < 0 ||
          (f == 0 && signbit(f)))
        continue;
      int i = n++;
      for (; i > 0 && v[i - 1] > f; i--) v[i] = v[i - 1]; /* insertion sort */
      v[i] = f;
    }
    count[dtype] = n;
  }
  *values = v;
  return count[dtype];
}

double half_gap_narrow(fp8gemm_dtype dtype, double x, double *max_out) {
  const double *v;
  int n = narrow_values(dtype, &v);
  double max = n ? v[n - 1] : 0;
  if (max_out) *max_out = max;
  x = fabs(x);
  if (x >= max || n < 2) return 0;
  int lo = 0, hi = n - 1; /* v[lo] <= x < v[hi] */
  while (hi - lo > 1) {
    int mid = (lo + hi) / 2;
    if (v[mid] <= x) lo = mid;
    else hi = mid;
  }
  return v[lo] == x ? 0 : (v[hi] - v[lo]) / 2;
}

/* Marks the row failed; only its first failure is described. */
__attribute__((format(printf, 2, 0))) static void note_failure(check_result *res,
                                                               const char *fmt, va_list ap) {
  if (!res->failed) vsnprintf(res->note, sizeof res->note, fmt, ap);
  res->failed = 1;
}

void check_fail(check_result *res, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  note_failure(res, fmt, ap);
  va_end(ap);
}

void check_record(check_result *res, double err, double bound, const char *fmt, ...) {
  double ratio = err == 0 ? 0 : bound > 0 ? err / bound : INFINITY;
  if (isnan(err) || isnan(bound)) ratio = INFINITY;
  if (ratio > res->worst || isnan(ratio)) res->worst = ratio;
  if (err <= bound) return;
  va_list ap;
  va_start(ap, fmt);
  note_failure(res, fmt, ap);
  va_end(ap);
}
