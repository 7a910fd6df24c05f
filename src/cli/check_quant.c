/*
 * `fp8gemm check` for the quantization ops, by consistency with the element format:
 *   fp8_quantize / mx_quantize: the chosen scale follows its rule (dynamic: amax / max,
 *     floored at min_scale and capped by scale_ub; MX floor / rceil powers of two), and
 *     dequantize(quantize(x)) is within half the format's gap around x/s, times s (plus
 *     the clamp when x/s is beyond the format's max, plus one f32 rounding);
 *   fp8_dequantize: f32 output equals decode(q) * s rounded once; bf16 / f16 outputs are
 *     that value rounded to nearest (within half an ulp);
 *   fp8_cast: every code equals fp8gemm_encode_value's, both flavours, specials included.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_cases.h"
#include "check_util.h"

static int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

typedef struct qshape {
  int ndim;
  int64_t dims[3];
} qshape;

static const qshape shapes[] = {
    {2, {1, 1}}, {2, {7, 33}}, {3, {3, 5, 129}}, {2, {300, 7}}, {3, {2, 33, 300}}, {1, {129}},
};
static const fp8gemm_dtype wide[] = {FP8GEMM_F32, FP8GEMM_BF16, FP8GEMM_F16};

static int64_t rows_of(const fp8gemm_tensor *t) {
  int64_t r = 1;
  for (int i = 0; i + 1 < t->ndim; i++) r *= t->dims[i];
  return r;
}

/* Scale index of element (row, k) of a [*, (R,) K] input for fp8_quantize's layouts. */
static int64_t scale_index(fp8gemm_granularity g, const fp8gemm_tensor *x, int64_t gs, int64_t row,
                           int64_t k) {
  int64_t kdim = x->dims[x->ndim - 1];
  switch (g) {
    case FP8GEMM_PER_TENSOR: return 0;
    case FP8GEMM_PER_TOKEN: return row;
    case FP8GEMM_PER_BLOCK: return row * cdiv(kdim, gs) + k / gs;
    default: {
      int64_t r_dim = x->dims[x->ndim - 2], kb = cdiv(kdim, gs), rb = cdiv(r_dim, gs);
      return (row / r_dim) * rb * kb + ((row % r_dim) / gs) * kb + k / gs;
    }
  }
}

/* |x - deq| against half the format gap at |x|/s (and the clamp beyond max), times s. */
static void check_roundtrip(check_result *res, fp8gemm_dtype fmt, double x, double s, double deq,
                            const char *label, int64_t i) {
  double fmt_max, c = fabs(x) / s, gap = half_gap_narrow(fmt, c, &fmt_max);
  double bound = s * (gap + (c > fmt_max ? c - fmt_max : 0)) + ldexp(fabs(x) + s, -22);
  check_record(res, fabs(x - deq), bound, "%s: element %lld: x %.9g, scale %g, dequantized %.9g",
               label, (long long)i, x, s, deq);
}

static fp8gemm_status dequantize(const fp8gemm_tensor *q, const fp8gemm_tensor *s, int64_t gs,
                                 fp8gemm_dtype out_dtype, owned_tensor *out) {
  fp8gemm_tensor desc;
  fp8gemm_status st = fp8gemm_fp8_dequantize_infer(q, s, out_dtype, gs, &desc);
  if (st != FP8GEMM_OK) return st;
  if (owned_alloc(out, desc.dtype, desc.ndim, desc.dims) != 0) return FP8GEMM_OUT_OF_MEMORY;
  return fp8gemm_fp8_dequantize(q, s, out_dtype, gs, &out->t);
}

/* ------------------------------------------------------------------ fp8_quantize */
static void quantize_case(fp8gemm_scheme scheme, fp8gemm_dtype dtype, size_t ci, check_rng *r,
                          check_result *res) {
  static const fp8gemm_granularity gran[] = {0, FP8GEMM_PER_TENSOR, FP8GEMM_PER_TOKEN,
                                             FP8GEMM_PER_BLOCK, FP8GEMM_PER_BLOCK2D};
  static const int64_t groups[] = {128, 32, 7};
  fp8gemm_granularity g = gran[scheme];
  qshape sh = shapes[ci];
  if (g == FP8GEMM_PER_BLOCK2D && sh.ndim < 2) return;
  int64_t gs = g >= FP8GEMM_PER_BLOCK ? groups[ci % 3] : 128;
  int is_static = ci == 2, with_ub = ci == 3, zeros = ci == 4 && scheme == FP8GEMM_SCHEME_PER_TOKEN;
  owned_tensor x = {0}, q = {0}, s = {0}, st_scale = {0}, deq = {0};
  float ub = 8.0f;
  fp8gemm_tensor ub_t;
  int64_t one = 1;
  fp8gemm_tensor_init(&ub_t, FP8GEMM_F32, 1, &one, &ub);
  char label[160];
  snprintf(label, sizeof label, "fp8_quantize %s %s in %s%s%s, group %lld", fp8gemm_scheme_name(scheme),
           fp8gemm_dtype_name(dtype), fp8gemm_dtype_name(wide[ci % 3]),
           is_static ? " static" : "", with_ub ? " scale_ub 8" : "", (long long)gs);
  if (owned_alloc(&x, wide[ci % 3], sh.ndim, sh.dims)) goto oom;
  int64_t n = fp8gemm_tensor_numel(&x.t);
  for (int64_t i = 0; i < n && !zeros; i++) wide_set_random(r, x.mem, x.t.dtype, i, -6, 6);
  fp8gemm_tensor qd, sd;
  if (fp8gemm_fp8_quantize_infer(&x.t, dtype, g, gs, NULL, NULL, FP8GEMM_DEFAULT_MIN_SCALE, &qd,
                                 &sd) != FP8GEMM_OK) {
    check_fail(res, "%s: infer: %s", label, fp8gemm_last_error());
    goto done;
  }
  if (owned_alloc(&q, qd.dtype, qd.ndim, qd.dims) || owned_alloc(&s, sd.dtype, sd.ndim, sd.dims))
    goto oom;
  if (is_static) {
    if (owned_alloc(&st_scale, sd.dtype, sd.ndim, sd.dims)) goto oom;
    int64_t ns = fp8gemm_tensor_numel(&st_scale.t);
    for (int64_t i = 0; i < ns; i++) ((float *)st_scale.mem)[i] = ldexpf(1.0f, (int)rng_int(r, -4, 4));
  }
  res->cases++;
  if (fp8gemm_fp8_quantize(&x.t, dtype, g, gs, is_static ? &st_scale.t : NULL,
                           with_ub ? &ub_t : NULL, FP8GEMM_DEFAULT_MIN_SCALE, &q.t,
                           &s.t) != FP8GEMM_OK) {
    check_fail(res, "%s: %s", label, fp8gemm_last_error());
    goto done;
  }
  if (dequantize(&q.t, &s.t, g >= FP8GEMM_PER_BLOCK ? gs : 0, FP8GEMM_F32, &deq) != FP8GEMM_OK) {
    check_fail(res, "%s: dequantize: %s", label, fp8gemm_last_error());
    goto done;
  }
  /* Per-scale amax, for the dynamic rule. */
  int64_t ns = fp8gemm_tensor_numel(&s.t), rows = rows_of(&x.t), kdim = x.t.dims[x.t.ndim - 1];
  double *amax = calloc((size_t)ns, sizeof *amax), fmt_max;
  if (!amax) goto oom;
  half_gap_narrow(dtype, 0, &fmt_max);
  for (int64_t row = 0; row < rows; row++)
    for (int64_t k = 0; k < kdim; k++) {
      int64_t i = row * kdim + k, si = scale_index(g, &x.t, gs, row, k);
      double xv = elem_get(x.mem, x.t.dtype, i), sv = elem_get(s.mem, FP8GEMM_F32, si);
      if (fabs(xv) > amax[si]) amax[si] = fabs(xv);
      check_roundtrip(res, dtype, xv, sv, elem_get(deq.mem, FP8GEMM_F32, i), label, i);
    }
  for (int64_t si = 0; si < ns; si++) {
    double sv = elem_get(s.mem, FP8GEMM_F32, si), want;
    if (is_static) want = ((float *)st_scale.mem)[si];
    else want = fmax(fmin(amax[si], with_ub ? ub : INFINITY) / fmt_max, FP8GEMM_DEFAULT_MIN_SCALE);
    check_record(res, fabs(sv - want), ldexp(want, -22), "%s: scale[%lld] = %g, expected %g", label,
                 (long long)si, sv, want);
  }
  free(amax);
  goto done;
oom:
  check_fail(res, "%s: out of memory", label);
done:
  owned_free(&x);
  owned_free(&q);
  owned_free(&s);
  owned_free(&st_scale);
  owned_free(&deq);
}

/* ------------------------------------------------------------------- mx_quantize */
static void mx_case(fp8gemm_dtype dtype, fp8gemm_mx_scale_mode mode, size_t ci, check_rng *r,
                    check_result *res) {
  qshape sh = shapes[ci];
  sh.dims[sh.ndim - 1] = cdiv(sh.dims[sh.ndim - 1], 32) * 32;
  owned_tensor x = {0}, q = {0}, s = {0}, deq = {0};
  char label[160];
  snprintf(label, sizeof label, "mx_quantize %s %s in %s", fp8gemm_dtype_name(dtype),
           mode == FP8GEMM_MX_FLOOR ? "floor" : "rceil", fp8gemm_dtype_name(wide[ci % 3]));
  if (owned_alloc(&x, wide[ci % 3], sh.ndim, sh.dims)) goto oom;
  int64_t n = fp8gemm_tensor_numel(&x.t);
  for (int64_t i = 0; i < n; i++) wide_set_random(r, x.mem, x.t.dtype, i, -6, 6);
  fp8gemm_tensor qd, sd;
  if (fp8gemm_mx_quantize_infer(&x.t, dtype, 32, mode, &qd, &sd) != FP8GEMM_OK) {
    check_fail(res, "%s: infer: %s", label, fp8gemm_last_error());
    goto done;
  }
  if (owned_alloc(&q, qd.dtype, qd.ndim, qd.dims) || owned_alloc(&s, sd.dtype, sd.ndim, sd.dims))
    goto oom;
  res->cases++;
  if (fp8gemm_mx_quantize(&x.t, dtype, 32, mode, &q.t, &s.t) != FP8GEMM_OK) {
    check_fail(res, "%s: %s", label, fp8gemm_last_error());
    goto done;
  }
  if (dequantize(&q.t, &s.t, 0, FP8GEMM_F32, &deq) != FP8GEMM_OK) {
    check_fail(res, "%s: dequantize: %s", label, fp8gemm_last_error());
    goto done;
  }
  double fmt_max;
  half_gap_narrow(dtype, 0, &fmt_max);
  int emax = ilogb(fmt_max);
  int64_t blocks = n / 32;
  for (int64_t b = 0; b < blocks; b++) {
    double amax = 0, sv = elem_get(s.mem, FP8GEMM_E8M0, b);
    for (int64_t k = 0; k < 32; k++) {
      int64_t i = b * 32 + k;
      double xv = elem_get(x.mem, x.t.dtype, i);
      amax = fmax(amax, fabs(xv));
      check_roundtrip(res, dtype, xv, sv, elem_get(deq.mem, FP8GEMM_F32, i), label, i);
    }
    if (amax == 0) continue;
    double want = mode == FP8GEMM_MX_FLOOR ? ldexp(1.0, ilogb(amax) - emax)
                                           : ldexp(1.0, (int)ceil(log2(amax / fmt_max)));
    check_record(res, fabs(sv - want), 0, "%s: block %lld: scale %g, expected %g (amax %g)", label,
                 (long long)b, sv, want, amax);
  }
  goto done;
oom:
  check_fail(res, "%s: out of memory", label);
done:
  owned_free(&x);
  owned_free(&q);
  owned_free(&s);
  owned_free(&deq);
}

/* ---------------------------------------------------------------- fp8_dequantize */
static void dequantize_case(fp8gemm_dtype dtype, size_t ci, check_rng *r, check_result *res) {
  qshape sh = shapes[ci];
  int64_t *kdim = &sh.dims[sh.ndim - 1];
  if (dtype == FP8GEMM_E2M1) *kdim = cdiv(*kdim, 32) * 32; /* e2m1 pairs, MX blocks */
  /* Scale layouts: none, per tensor, per row, 1 x 32 blocks (e8m0 for e2m1). */
  int form = (int)(ci % 4);
  if (dtype == FP8GEMM_E2M1) form = ci % 2 ? 3 : 0;
  owned_tensor q, s, out[3];
  memset(&q, 0, sizeof q);
  memset(&s, 0, sizeof s);
  memset(out, 0, sizeof out);
  char label[160];
  snprintf(label, sizeof label, "fp8_dequantize %s, scale form %d", fp8gemm_dtype_name(dtype), form);
  if (owned_alloc(&q, dtype, sh.ndim, sh.dims)) goto oom;
  int64_t n = fp8gemm_tensor_numel(&q.t), kd = *kdim, rows = n / kd;
  uint8_t *qb = q.mem;
  if (dtype == FP8GEMM_E2M1)
    for (int64_t i = 0; i < n / 2; i++)
      qb[i] = (uint8_t)(random_code(r, dtype, 6) | random_code(r, dtype, 6) << 4);
  else
    for (int64_t i = 0; i < n; i++) qb[i] = (uint8_t)rng_int(r, 0, 255); /* NaN and Inf too */
  int64_t sdims[3];
  int snd = sh.ndim;
  memcpy(sdims, sh.dims, sizeof sdims);
  fp8gemm_dtype sdt = dtype == FP8GEMM_E2M1 ? FP8GEMM_E8M0 : FP8GEMM_F32;
  int64_t gs = form == 3 ? 32 : 0, per_row = form == 3 ? cdiv(kd, 32) : 1;
  if (form == 1) {
    snd = 1;
    sdims[0] = 1;
  }
  if (form >= 2) sdims[snd - 1] = per_row;
  if (form && owned_alloc(&s, sdt, snd, sdims)) goto oom;
  int64_t ns = form ? fp8gemm_tensor_numel(&s.t) : 0;
  for (int64_t i = 0; i < ns; i++) {
    int e = (int)rng_int(r, -8, 8);
    if (sdt == FP8GEMM_E8M0) ((uint8_t *)s.mem)[i] = (uint8_t)(127 + e);
    else ((float *)s.mem)[i] = (float)ldexp(1.0 + (double)rng_int(r, 0, 1023) / 1024, e);
  }
  res->cases++;
  static const fp8gemm_dtype outs[] = {FP8GEMM_F32, FP8GEMM_BF16, FP8GEMM_F16};
  for (int o = 0; o < 3; o++) {
    if (dequantize(&q.t, form ? &s.t : NULL, gs, outs[o], &out[o]) != FP8GEMM_OK) {
      check_fail(res, "%s -> %s: %s", label, fp8gemm_dtype_name(outs[o]), fp8gemm_last_error());
      goto done;
    }
  }
  for (int64_t row = 0; row < rows; row++)
    for (int64_t k = 0; k < kd; k++) {
      int64_t i = row * kd + k;
      int64_t si = form == 0 ? -1 : form == 1 ? 0 : form == 2 ? row : row * per_row + k / 32;
      float want = (float)elem_get(q.mem, dtype, i) * (si < 0 ? 1.0f : (float)elem_get(s.mem, sdt, si));
      for (int o = 0; o < 3; o++) {
        double got = elem_get(out[o].mem, outs[o], i);
        double err = isnan(want) ? (isnan(got) ? 0 : INFINITY)
                     : isinf(want) || isinf(got) ? (got == want ? 0 : INFINITY)
                                                 : fabs(got - (double)want);
        /* f16 overflow: values past its max round to Inf, which is right. */
        if (outs[o] == FP8GEMM_F16 && isinf(got) && fabs(want) >= 65520.0 && (got > 0) == (want > 0))
          err = 0;
        double bound = o == 0 ? 0 : half_ulp_wide(outs[o], want);
        check_record(res, err, bound, "%s -> %s: element %lld = %.9g, expected %.9g", label,
                     fp8gemm_dtype_name(outs[o]), (long long)i, got, (double)want);
      }
    }
  goto done;
oom:
  check_fail(res, "%s: out of memory", label);
done:
  owned_free(&q);
  owned_free(&s);
  for (int o = 0; o < 3; o++) owned_free(&out[o]);
}

/* ---------------------------------------------------------------------- fp8_cast */
static void cast_case(fp8gemm_dtype dtype, int saturate, check_rng *r, check_result *res) {
  enum { N = 4100 };
  static const float specials[] = {0.0f, -0.0f, NAN, -NAN, INFINITY, -INFINITY, 448.0f, 464.0f,
                                   465.0f, 480.0f, 57344.0f, 61440.0f, 240.0f, 6.0f, 7.0f, 0x1p-9f,
                                   0x1p-10f, 0x1.8p-10f, 0x1p-17f, 0x1p-16f, 0x1p127f, 0x1p-127f,
                                   0x1p-149f, 3.4e38f, 0.25f, 0.75f, 1.0f, 1.0625f, 1.125f};
  float *xs = malloc(2 * N * sizeof *xs);
  owned_tensor out = {0};
  char label[96];
  snprintf(label, sizeof label, "fp8_cast to %s%s", fp8gemm_dtype_name(dtype),
           saturate ? " saturate" : "");
  if (!xs) goto oom;
  /* Every other element of a 2N buffer: a strided [N] view. */
  for (int64_t i = 0; i < 2 * N; i++) {
    uint32_t bits = (uint32_t)rng_next(r);
    if (i % 3 == 0) bits = (bits & 0x807fffffu) | (uint32_t)rng_int(r, 100, 160) << 23;
    memcpy(&xs[i], &bits, sizeof bits);
    if (i / 2 < (int64_t)(sizeof specials / sizeof specials[0])) xs[i] = specials[i / 2];
  }
  int64_t dims[1] = {N}, two_n = 2 * N;
  fp8gemm_tensor x;
  fp8gemm_tensor_init(&x, FP8GEMM_F32, 1, &two_n, xs);
  x.dims[0] = N;
  x.strides[0] = 2;
  if (owned_alloc(&out, dtype, 1, dims)) goto oom;
  res->cases++;
  if (fp8gemm_fp8_cast(&x, dtype, saturate, &out.t) != FP8GEMM_OK) {
    check_fail(res, "%s: %s", label, fp8gemm_last_error());
    goto done;
  }
  const uint8_t *ob = out.mem;
  for (int64_t i = 0; i < N; i++) {
    uint8_t want = 0, got = dtype == FP8GEMM_E2M1 ? (uint8_t)(ob[i / 2] >> (4 * (i % 2)) & 0xf) : ob[i];
    fp8gemm_encode_value(xs[2 * i], dtype, saturate, &want);
    check_record(res, got != want, 0, "%s: %a -> code 0x%02x, fp8gemm_encode_value gives 0x%02x",
                 label, (double)xs[2 * i], got, want);
  }
  goto done;
oom:
  check_fail(res, "%s: out of memory", label);
done:
  free(xs);
  owned_free(&out);
}

void check_quant(fp8gemm_op op, fp8gemm_scheme scheme, fp8gemm_dtype dtype, check_result *res) {
  check_rng r = {0x9a11700u + (uint64_t)op * 1000 + (uint64_t)scheme * 10 + (uint64_t)dtype};
  size_t n_shapes = sizeof shapes / sizeof shapes[0];
  for (size_t ci = 0; ci < n_shapes; ci++) {
    switch (op) {
      case FP8GEMM_OP_FP8_QUANTIZE: quantize_case(scheme, dtype, ci, &r, res); break;
      case FP8GEMM_OP_MX_QUANTIZE:
        mx_case(dtype, ci % 2 ? FP8GEMM_MX_RCEIL : FP8GEMM_MX_FLOOR, ci, &r, res);
        break;
      case FP8GEMM_OP_FP8_DEQUANTIZE: dequantize_case(dtype, ci, &r, res); break;
      default:
        if (ci < 2) cast_case(dtype, (int)ci, &r, res);
        break;
    }
  }
}
