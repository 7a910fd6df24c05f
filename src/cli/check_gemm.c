/*
 * `fp8gemm check` for fp8_gemm and fp8_gemm_w8a16: random operands at awkward shapes and
 * layouts (1-D, 3-D, 4-D, permuted [m, b, K] inputs, NT and batched weights, every bias
 * form), run through the public op, compared with an fp64 sum of the decoded operands:
 *   |out - ref| <= gamma_K' * sum_k |a_k b_k| (+|bias|) + ulp_out(|ref| + that) / 2,
 * gamma_K' = K'u / (1 - K'u), u = 2^-24, K' = K (+1 with a bias): the bound of ops.md.
 * Scales are powers of two so that applying them is exact and the bound stays tight.
 * Each scheme also gets a NaN case: a NaN operand makes exactly its row (or column) NaN.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_cases.h"
#include "check_util.h"

typedef struct gemm_shape {
  int lead_ndim;    /* leading dims of the input; 0 = 1-D input [K] */
  int64_t lead[3];
  int64_t n, k;
  int nt;           /* weight is the transposed view of [N, K] */
  int permuted;     /* input is the [m, b, K] view of a [b, m, K] buffer */
  int batched;      /* weight [B, K, N], input [B, M, K] */
  int bias;         /* bias form, see make_bias */
} gemm_shape;

enum { BIAS_NONE, BIAS_SCALAR, BIAS_COL, BIAS_ROW, BIAS_FULL, BIAS_FORMS };

/* N, K among 1, 7, 17, 31, 33, 64, 128, 129, 300 (neighbours of the tile and block sizes). */
static const gemm_shape shapes[] = {
    {1, {1}, 1, 1, 0, 0, 0, BIAS_NONE},
    {1, {7}, 33, 129, 1, 0, 0, BIAS_COL},
    {2, {2, 7}, 31, 300, 0, 0, 0, BIAS_FULL},
    {0, {0}, 129, 33, 1, 0, 0, BIAS_SCALAR},
    {2, {7, 2}, 17, 128, 0, 1, 0, BIAS_ROW},
    {2, {3, 5}, 33, 64, 0, 0, 1, BIAS_COL},
    {2, {2, 3}, 7, 33, 1, 0, 1, BIAS_NONE},
    {1, {300}, 7, 129, 1, 0, 0, BIAS_NONE},
    {1, {33}, 300, 33, 0, 0, 0, BIAS_SCALAR},
    {1, {1}, 300, 300, 1, 0, 0, BIAS_COL},
    {3, {2, 2, 3}, 7, 7, 0, 0, 0, BIAS_FULL},
};

/* Everything one case allocates, so that one function frees it. */
typedef struct gemm_case {
  fp8gemm_op op;
  fp8gemm_scheme scheme;
  gemm_shape s;
  int64_t rows, m, batch;
  int g;                      /* w8a16 group / block size */
  owned_tensor x, w, sa, sb, bias, out;
  int has_sa, has_sb, has_bias;
} gemm_case;

static void case_free(gemm_case *c) {
  owned_free(&c->x);
  owned_free(&c->w);
  owned_free(&c->sa);
  owned_free(&c->sb);
  owned_free(&c->bias);
  owned_free(&c->out);
}

static int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

/* Element offset of row r (row-major over the leading dims) of a [*, K] view. */
static int64_t row_offset(const fp8gemm_tensor *t, int64_t r) {
  int64_t off = 0;
  for (int d = t->ndim - 2; d >= 0; d--) {
    off += (r % t->dims[d]) * t->strides[d];
    r /= t->dims[d];
  }
  return off;
}

/* A random power-of-two scale 2^[-2, 1], as f32, bf16 or an e8m0 code. */
static void set_scale(check_rng *r, owned_tensor *o, int64_t i) {
  int e = (int)rng_int(r, -2, 1);
  uint8_t *p = o->mem;
  if (o->t.dtype == FP8GEMM_E8M0) {
    p[i] = (uint8_t)(127 + e);
  } else if (o->t.dtype == FP8GEMM_BF16) {
    uint16_t h = (uint16_t)((127 + e) << 7);
    memcpy(p + 2 * i, &h, 2);
  } else {
    float f = ldexpf(1.0f, e);
    memcpy(p + 4 * i, &f, 4);
  }
}

static int fill_scales(check_rng *r, owned_tensor *o, fp8gemm_dtype dt, int ndim,
                       const int64_t *dims) {
  if (owned_alloc(o, dt, ndim, dims) != 0) return -1;
  int64_t n = fp8gemm_tensor_numel(&o->t);
  for (int64_t i = 0; i < n; i++) set_scale(r, o, i);
  return 0;
}

/* Leading dims of the input followed by `last`. */
static int lead_plus(const gemm_case *c, int64_t last, int64_t *dims) {
  for (int i = 0; i < c->s.lead_ndim; i++) dims[i] = c->s.lead[i];
  dims[c->s.lead_ndim] = last;
  return c->s.lead_ndim + 1;
}

static const fp8gemm_dtype wide[] = {FP8GEMM_BF16, FP8GEMM_F16, FP8GEMM_F32};

static int make_operands(gemm_case *c, fp8gemm_dtype dtype, fp8gemm_dtype in_dtype, check_rng *r) {
  const gemm_shape *s = &c->s;
  int64_t dims[4];
  int nd = lead_plus(c, s->k, dims);
  /* Input: allocate the physical layout, then describe the view. */
  int64_t phys[4];
  memcpy(phys, dims, sizeof phys);
  if (s->permuted) {
    phys[0] = dims[1];
    phys[1] = dims[0];
  }
  if (owned_alloc(&c->x, in_dtype, nd, phys) != 0) return -1;
  int64_t nx = fp8gemm_tensor_numel(&c->x.t);
  for (int64_t i = 0; i < nx; i++) {
    if (fp8gemm_dtype_is_fp8(in_dtype)) ((uint8_t *)c->x.mem)[i] = random_code(r, in_dtype, 4.0);
    else wide_set_random(r, c->x.mem, in_dtype, i, -3, 3);
  }
  if (s->permuted) {
    c->x.t.dims[0] = dims[0];
    c->x.t.dims[1] = dims[1];
    c->x.t.strides[0] = s->k;
    c->x.t.strides[1] = dims[0] * s->k;
  }
  c->rows = 1;
  for (int i = 0; i < s->lead_ndim; i++) c->rows *= s->lead[i];
  c->batch = s->batched ? s->lead[0] : 1;
  c->m = c->rows / c->batch;
  /* Weight [B?, K, N], NT: the transposed view of [B?, N, K]. */
  int64_t wd[3] = {c->batch, s->k, s->n};
  int wn = s->batched ? 3 : 2, o = s->batched ? 0 : 1;
  int64_t wphys[3] = {c->batch, s->nt ? s->n : s->k, s->nt ? s->k : s->n};
  if (owned_alloc(&c->w, dtype, wn, wphys + o) != 0) return -1;
  int64_t nw = fp8gemm_tensor_numel(&c->w.t);
  for (int64_t i = 0; i < nw; i++) ((uint8_t *)c->w.mem)[i] = random_code(r, dtype, 4.0);
  if (s->nt) {
    c->w.t.dims[wn - 2] = wd[1];
    c->w.t.dims[wn - 1] = wd[2];
    c->w.t.strides[wn - 2] = 1;
    c->w.t.strides[wn - 1] = s->k;
  }
  return 0;
}

static int make_scales(gemm_case *c, int variant, check_rng *r) {
  const gemm_shape *s = &c->s;
  int64_t dims[4], k = s->k, n = s->n;
  int w8a16 = c->op == FP8GEMM_OP_FP8_GEMM_W8A16;
  int64_t one = 1;
  c->has_sa = !w8a16;
  c->has_sb = 1;
  switch (c->scheme) {
    case FP8GEMM_SCHEME_PER_TENSOR:
      c->has_sa = c->has_sa && variant % 3 != 1; /* sometimes absent */
      c->has_sb = variant % 3 != 2;
      if (c->has_sa && fill_scales(r, &c->sa, FP8GEMM_F32, 1, &one)) return -1;
      if (c->has_sb && fill_scales(r, &c->sb, FP8GEMM_F32, 1, &one)) return -1;
      return 0;
    case FP8GEMM_SCHEME_PER_TOKEN: /* per-token x per-channel ([N], [1, N] or [N, 1]) */
      if (c->has_sa && fill_scales(r, &c->sa, FP8GEMM_F32, lead_plus(c, 1, dims), dims)) return -1;
      {
        int64_t ch[2] = {variant % 3 == 2 ? n : 1, variant % 3 == 2 ? 1 : n};
        fp8gemm_dtype dt = w8a16 && variant % 2 ? FP8GEMM_BF16 : FP8GEMM_F32;
        return variant % 3 == 0 ? fill_scales(r, &c->sb, dt, 1, &n) : fill_scales(r, &c->sb, dt, 2, ch);
      }
    case FP8GEMM_SCHEME_BLOCK:
      if (!w8a16) {
        if (fill_scales(r, &c->sa, FP8GEMM_F32, lead_plus(c, cdiv(k, 128), dims), dims)) return -1;
        int64_t wd[2] = {cdiv(k, 128), cdiv(n, 128)};
        return fill_scales(r, &c->sb, FP8GEMM_F32, 2, wd);
      } else {
        int64_t wd[2] = {cdiv(k, c->g), cdiv(n, c->g)};
        return fill_scales(r, &c->sb, variant % 2 ? FP8GEMM_BF16 : FP8GEMM_F32, 2, wd);
      }
    case FP8GEMM_SCHEME_GROUP: {
      int64_t wd[2] = {cdiv(k, c->g), n};
      static const fp8gemm_dtype dts[] = {FP8GEMM_F32, FP8GEMM_BF16, FP8GEMM_E8M0};
      return fill_scales(r, &c->sb, dts[variant % 3], 2, wd);
    }
    case FP8GEMM_SCHEME_MX:
      if (c->has_sa && fill_scales(r, &c->sa, FP8GEMM_E8M0, lead_plus(c, k / 32, dims), dims))
        return -1;
      {
        int64_t wd[2] = {k / 32, n};
        return fill_scales(r, &c->sb, FP8GEMM_E8M0, 2, wd);
      }
    default: return -1;
  }
}

static int make_bias(gemm_case *c, int variant, check_rng *r) {
  int64_t dims[4], one = 1;
  int nd = 0;
  c->has_bias = c->s.bias != BIAS_NONE;
  switch (c->s.bias) {
    case BIAS_NONE: return 0;
    case BIAS_SCALAR: nd = 1; dims[0] = one; break;
    case BIAS_COL: nd = 1; dims[0] = c->s.n; break;
    case BIAS_ROW: nd = lead_plus(c, 1, dims); break;
    case BIAS_FULL: nd = lead_plus(c, c->s.n, dims); break;
  }
  if (owned_alloc(&c->bias, wide[variant % 3], nd, dims) != 0) return -1;
  int64_t nb = fp8gemm_tensor_numel(&c->bias.t);
  for (int64_t i = 0; i < nb; i++) wide_set_random(r, c->bias.mem, c->bias.t.dtype, i, -2, 4);
  return 0;
}

/* Scale of input element (row, k) and of weight element (b, k, n). */
static double scale_a(const gemm_case *c, int64_t row, int64_t k) {
  if (!c->has_sa) return 1;
  const fp8gemm_tensor *t = &c->sa.t;
  switch (c->scheme) {
    case FP8GEMM_SCHEME_PER_TENSOR: return elem_get(t->data, t->dtype, 0);
    case FP8GEMM_SCHEME_PER_TOKEN: return elem_get(t->data, t->dtype, row);
    case FP8GEMM_SCHEME_BLOCK: return elem_get(t->data, t->dtype, row * cdiv(c->s.k, 128) + k / 128);
    default: return elem_get(t->data, t->dtype, row * (c->s.k / 32) + k / 32);
  }
}

static double scale_b(const gemm_case *c, int64_t k, int64_t n) {
  if (!c->has_sb) return 1;
  const fp8gemm_tensor *t = &c->sb.t;
  int64_t gk = c->g, gn = c->g;
  switch (c->scheme) {
    case FP8GEMM_SCHEME_PER_TENSOR: return elem_get(t->data, t->dtype, 0);
    case FP8GEMM_SCHEME_PER_TOKEN: return elem_get(t->data, t->dtype, n);
    case FP8GEMM_SCHEME_GROUP: return elem_get(t->data, t->dtype, (k / gk) * c->s.n + n);
    case FP8GEMM_SCHEME_BLOCK:
      if (c->op == FP8GEMM_OP_FP8_GEMM) gk = gn = 128;
      return elem_get(t->data, t->dtype, (k / gk) * cdiv(c->s.n, gn) + n / gn);
    default: return elem_get(t->data, t->dtype, (k / 32) * c->s.n + n);
  }
}

static double bias_at(const gemm_case *c, int64_t row, int64_t n) {
  const fp8gemm_tensor *t = &c->bias.t;
  switch (c->s.bias) {
    case BIAS_SCALAR: return elem_get(t->data, t->dtype, 0);
    case BIAS_COL: return elem_get(t->data, t->dtype, n);
    case BIAS_ROW: return elem_get(t->data, t->dtype, row);
    case BIAS_FULL: return elem_get(t->data, t->dtype, row * c->s.n + n);
    default: return 0;
  }
}

static fp8gemm_status run_op(gemm_case *c, fp8gemm_dtype out_dtype) {
  const fp8gemm_tensor *sa = c->has_sa ? &c->sa.t : NULL, *sb = c->has_sb ? &c->sb.t : NULL;
  const fp8gemm_tensor *bias = c->has_bias ? &c->bias.t : NULL;
  fp8gemm_tensor desc;
  size_t ws;
  fp8gemm_status st =
      c->op == FP8GEMM_OP_FP8_GEMM
          ? fp8gemm_fp8_gemm_infer(&c->x.t, &c->w.t, out_dtype, sa, sb, bias, &desc, &ws)
          : fp8gemm_fp8_gemm_w8a16_infer(&c->x.t, &c->w.t, sb, bias, &desc, &ws);
  if (st != FP8GEMM_OK) return st;
  if (owned_alloc(&c->out, desc.dtype, desc.ndim, desc.dims) != 0) return FP8GEMM_OUT_OF_MEMORY;
  return c->op == FP8GEMM_OP_FP8_GEMM
             ? fp8gemm_fp8_gemm(&c->x.t, &c->w.t, out_dtype, sa, sb, bias, &c->out.t)
             : fp8gemm_fp8_gemm_w8a16(&c->x.t, &c->w.t, sb, bias, &c->out.t);
}

/* Compares every output element with the fp64 reference. The scaled operands are
 * decoded once into dense fp64 arrays, so the triple loop is plain arithmetic. */
static void compare(const gemm_case *c, const char *label, check_result *res) {
  const fp8gemm_tensor *x = &c->x.t, *w = &c->w.t;
  int64_t k_n = c->s.k, n_n = c->s.n, wb = w->ndim - 2;
  double kk = (double)(k_n + (c->has_bias ? 1 : 0)), u = 0x1p-24, gamma = kk * u / (1 - kk * u);
  double *a = malloc(sizeof *a * (size_t)(c->rows * k_n + 1));
  double *b = malloc(sizeof *b * (size_t)(c->batch * k_n * n_n + 1));
  if (!a || !b) {
    check_fail(res, "%s: out of memory", label);
    free(a);
    free(b);
    return;
  }
  for (int64_t row = 0; row < c->rows; row++) {
    int64_t xo = row_offset(x, row);
    for (int64_t k = 0; k < k_n; k++)
      a[row * k_n + k] =
          elem_get(x->data, x->dtype, xo + k * x->strides[x->ndim - 1]) * scale_a(c, row, k);
  }
  for (int64_t bi = 0; bi < c->batch; bi++)
    for (int64_t k = 0; k < k_n; k++)
      for (int64_t n = 0; n < n_n; n++) {
        int64_t wo = (wb ? bi * w->strides[0] : 0) + k * w->strides[wb] + n * w->strides[wb + 1];
        b[(bi * k_n + k) * n_n + n] = elem_get(w->data, w->dtype, wo) * scale_b(c, k, n);
      }
  for (int64_t row = 0; row < c->rows; row++) {
    const double *ar = a + row * k_n, *bb = b + (row / c->m) * k_n * n_n;
    for (int64_t n = 0; n < n_n; n++) {
      double ref = 0, mag = 0;
      for (int64_t k = 0; k < k_n; k++) {
        double p = ar[k] * bb[k * n_n + n];
        ref += p;
        mag += fabs(p);
      }
      if (c->has_bias) {
        double bv = bias_at(c, row, n);
        ref += bv;
        mag += fabs(bv);
      }
      double got = elem_get(c->out.mem, c->out.t.dtype, row * n_n + n);
      double acc = gamma * mag, bound = acc + half_ulp_wide(c->out.t.dtype, fabs(ref) + acc);
      check_record(res, fabs(got - ref), bound,
                   "%s: out[%lld, %lld] = %.9g, reference %.9g, bound %.3g", label,
                   (long long)row, (long long)n, got, ref, bound);
    }
  }
  free(a);
  free(b);
}

/* The scheme's adjustment of a shape: MX needs K % 32 == 0. */
static gemm_shape shape_for(fp8gemm_scheme scheme, gemm_shape s) {
  if (scheme == FP8GEMM_SCHEME_MX) s.k = cdiv(s.k, 32) * 32;
  return s;
}

static void label_of(const gemm_case *c, fp8gemm_dtype in_dtype, fp8gemm_dtype out_dtype, char *buf,
                     size_t size) {
  snprintf(buf, size, "%s %s in %s x %s%s%s, N %lld, K %lld, out %s", fp8gemm_op_name(c->op),
           fp8gemm_scheme_name(c->scheme), fp8gemm_dtype_name(in_dtype),
           c->s.batched ? "batched " : "", c->s.nt ? "NT" : "NN", c->s.permuted ? " permuted" : "",
           (long long)c->s.n, (long long)c->s.k, fp8gemm_dtype_name(out_dtype));
}

/* A NaN input element (fp8_gemm) or weight element (w8a16) poisons exactly its row or column. */
static void nan_case(fp8gemm_op op, fp8gemm_scheme scheme, fp8gemm_dtype dtype, check_rng *r,
                     check_result *res) {
  static const gemm_shape nan_shape = {1, {3}, 5, 64, 0, 0, 0, BIAS_NONE};
  gemm_case c;
  memset(&c, 0, sizeof c);
  c.op = op;
  c.scheme = scheme;
  c.s = nan_shape;
  c.g = 32;
  fp8gemm_dtype in_dtype = op == FP8GEMM_OP_FP8_GEMM ? dtype : FP8GEMM_F32;
  if (make_operands(&c, dtype, in_dtype, r) || make_scales(&c, 0, r) || make_bias(&c, 0, r)) {
    check_fail(res, "NaN case: out of memory");
    case_free(&c);
    return;
  }
  int w8a16 = op == FP8GEMM_OP_FP8_GEMM_W8A16;
  if (!w8a16) {
    ((uint8_t *)c.x.mem)[1 * 64 + 3] = nan_code(dtype); /* row 1 */
  } else {
    ((uint8_t *)c.w.mem)[3 * 5 + 2] = nan_code(dtype); /* column 2 */
  }
  fp8gemm_status st = run_op(&c, FP8GEMM_F32);
  res->cases++;
  if (st != FP8GEMM_OK) {
    check_fail(res, "%s %s NaN case: %s", fp8gemm_op_name(op), fp8gemm_scheme_name(scheme),
               fp8gemm_last_error());
  } else {
    for (int64_t row = 0; row < 3; row++)
      for (int64_t n = 0; n < 5; n++) {
        int want_nan = w8a16 ? n == 2 : row == 1;
        double v = elem_get(c.out.mem, FP8GEMM_F32, row * 5 + n);
        if (want_nan != (isnan(v) != 0))
          check_fail(res, "%s %s: out[%lld, %lld] = %g with a NaN in %s", fp8gemm_op_name(op),
                     fp8gemm_scheme_name(scheme), (long long)row, (long long)n, v,
                     w8a16 ? "weight column 2" : "input row 1");
      }
  }
  case_free(&c);
}

void check_gemm(fp8gemm_op op, fp8gemm_scheme scheme, fp8gemm_dtype dtype, check_result *res) {
  check_rng r = {0x5eed0000u + (uint64_t)op * 1000 + (uint64_t)scheme * 10 + (uint64_t)dtype};
  static const fp8gemm_dtype outs[] = {FP8GEMM_BF16, FP8GEMM_F16, FP8GEMM_F32};
  static const int groups[] = {128, 64, 32};
  int w8a16 = op == FP8GEMM_OP_FP8_GEMM_W8A16;
  for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
    gemm_case c;
    memset(&c, 0, sizeof c);
    c.op = op;
    c.scheme = scheme;
    c.s = shape_for(scheme, shapes[i]);
    c.g = groups[i % 3];
    int v = (int)i;
    fp8gemm_dtype in_dtype = w8a16 ? wide[i % 3] : dtype;
    fp8gemm_dtype out_dtype = w8a16 ? in_dtype : outs[(i + 1) % 3];
    if (!w8a16 && i == 3) out_dtype = FP8GEMM_DTYPE_NONE; /* absent: f16 */
    char label[192];
    label_of(&c, in_dtype, out_dtype, label, sizeof label);
    if (make_operands(&c, dtype, in_dtype, &r) || make_scales(&c, v, &r) || make_bias(&c, v, &r)) {
      check_fail(res, "%s: out of memory", label);
    } else {
      fp8gemm_status st = run_op(&c, out_dtype);
      res->cases++;
      if (st != FP8GEMM_OK) check_fail(res, "%s: %s", label, fp8gemm_last_error());
      else if (!w8a16 && out_dtype == FP8GEMM_DTYPE_NONE && c.out.t.dtype != FP8GEMM_F16)
        check_fail(res, "%s: absent out_dtype gave %s, expected f16", label,
                   fp8gemm_dtype_name(c.out.t.dtype));
      else compare(&c, label, res);
    }
    case_free(&c);
  }
  nan_case(op, scheme, dtype, &r, res);
}
