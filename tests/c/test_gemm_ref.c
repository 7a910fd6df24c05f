/*
 * fp8_gemm / fp8_gemm_w8a16 numerics: the op (reference kernel at ISA level scalar,
 * whatever the dispatcher picks at higher levels) against an fp64 computation written
 * here from the decoded operands and the scale semantics of ops.md, with the ops.md
 * bound |out - ref| <= gamma_K * sum_k |a_k b_k| + ulp_out(ref) / 2 (a bias counts as
 * one more addend), for every scheme, fp8 dtype and out dtype at M, N, K drawn from
 * {1, 2, 7, 31, 32, 33, 127, 128, 129, 300}, NN / NT / batched weights, strided and
 * permuted inputs, every bias form; then NaN propagation.
 */
#include <stdio.h>

#include "check.h"
#include "gemm_test_util.h"
#include "kernels/gemm_kernels.h"

static const int64_t sizes[] = {1, 2, 7, 31, 32, 33, 127, 128, 129, 300};
static const fp8gemm_dtype fp8s[] = {FP8GEMM_E4M3FN, FP8GEMM_E5M2, FP8GEMM_E4M3FNUZ,
                                     FP8GEMM_E5M2FNUZ};
static const fp8gemm_dtype wides[] = {FP8GEMM_BF16, FP8GEMM_F16, FP8GEMM_F32};

typedef enum { A_NONE, A_TENSOR, A_TOKEN, A_BLOCK, A_MX } aform;
typedef enum { W_NONE, W_TENSOR, W_CHANNEL, W_GROUP, W_BLOCK, W_MX } wform;
typedef enum { B_NONE, B_SCALAR, B_COL, B_ROW, B_FULL, B_EMPTY } bform;

typedef struct gcase {
  bool w8a16;
  fp8gemm_dtype a_dt, b_dt, out_dt, ws_dt, bias_dt;
  int64_t batch; /* 0: 2-D weight */
  int64_t m, n, k, g;
  aform af;
  wform wf;
  bool w_per_batch, mx_extreme;
  bform bias;
  bool block_as_channel; /* w8a16 [ceil(K/g), ceil(N/g)] == [N, 1]: documented as per-channel */
} gcase;

/* ------------------------------------------------------------ value generation */
/* Codes of `dt` with a finite decoded value of magnitude <= cap. */
static int finite_codes(fp8gemm_dtype dt, double cap, uint8_t *codes) {
  int n = 0;
  for (int c = 0; c < 256; c++) {
    float v = fp8g_decode(dt, (uint8_t)c);
    if (isfinite(v) && fabs(v) <= cap) codes[n++] = (uint8_t)c;
  }
  return n;
}

static float rand_scale(rng *r, fp8gemm_dtype dt) {
  return round_to(dt, (float)(0.25 + 1.75 * rng_unit(r)));
}

static float rand_wide(rng *r, fp8gemm_dtype dt, double cap) {
  double v = ldexp(1.0 + rng_unit(r), (int)rng_int(r, -8, 0)) * cap / 2.0;
  return round_to(dt, (float)(rng_int(r, 0, 1) ? -v : v));
}

/* ------------------------------------------------------------ the case */
typedef struct built {
  tbuf a, w, sa, sw, bias;
  bool has_sa, has_sw, has_bias;
  int64_t rows;
} built;

static void fill_codes(tbuf *b, rng *r, const uint8_t *codes, int ncodes) {
  for (int64_t i = 0; i < tb_numel(b); i++) tb_set_code(b, i, codes[rng_int(r, 0, ncodes - 1)]);
}

static void fill_scales(tbuf *b, rng *r, const gcase *c, bool is_a) {
  for (int64_t i = 0; i < tb_numel(b); i++) {
    if (b->t.dtype == FP8GEMM_E8M0) {
      int code = c->out_dt == FP8GEMM_F16 ? (int)rng_int(r, 124, 127) : (int)rng_int(r, 124, 130);
      if (c->mx_extreme) code = is_a ? (int)rng_int(r, 3, 251) : 127; /* fixed up below */
      tb_set_code(b, i, (uint8_t)code);
    } else {
      tb_set_wide(b, i, rand_scale(r, b->t.dtype));
    }
  }
}

/* Input leading dims for `rows` rows: rank 1..4, a factorisation of rows. */
static int leading_dims(rng *r, const gcase *c, int64_t *dims) {
  if (c->batch) {
    dims[0] = c->batch;
    dims[1] = c->m;
    return 2;
  }
  int64_t m = c->m;
  int kind = (int)rng_int(r, 0, 3);
  if (kind == 0 && m == 1) return 0; /* 1-D input */
  if (kind <= 1) {
    dims[0] = m;
    return 1;
  }
  int64_t d = 1;
  for (int64_t t = 2; t <= m; t++)
    if (m % t == 0 && rng_int(r, 0, 1)) {
      d = t;
      break;
    }
  dims[0] = d;
  dims[1] = m / d;
  if (kind == 3) {
    dims[2] = 1;
    return 3;
  }
  return 2;
}

static void build(gcase *c, rng *r, built *bt) {
  memset(bt, 0, sizeof *bt);
  int64_t dims[FP8GEMM_MAX_DIMS];
  int lead = leading_dims(r, c, dims);
  dims[lead] = c->k;
  int in_layout = (int)rng_int(r, 0, 2) == 0 ? TB_CONTIGUOUS : TB_RANDOM;
  if (lead + 1 >= 3 && rng_int(r, 0, 2) == 0) in_layout = TB_SWAP_FIRST;
  tb_make(&bt->a, c->a_dt, lead + 1, dims, r, in_layout);
  bt->rows = fp8g_dims_product(dims, 0, lead);
  bool small = c->out_dt == FP8GEMM_F16;
  uint8_t codes[256];
  if (c->w8a16) {
    for (int64_t i = 0; i < tb_numel(&bt->a); i++)
      tb_set_wide(&bt->a, i, rand_wide(r, c->a_dt, small ? 4.0 : 64.0));
  } else {
    fill_codes(&bt->a, r, codes, finite_codes(c->a_dt, small ? 4.0 : 1e9, codes));
  }

  int64_t wd[3] = {c->batch, c->k, c->n};
  int w_layout = (int)rng_int(r, 0, 2); /* contiguous NN, random, or NT */
  tb_make(&bt->w, c->b_dt, c->batch ? 3 : 2, c->batch ? wd : wd + 1, r, w_layout);
  fill_codes(&bt->w, r, codes, finite_codes(c->b_dt, small ? 4.0 : 1e9, codes));

  /* input scales, shaped like the input's leading dims (or flattened) */
  int64_t sd[FP8GEMM_MAX_DIMS];
  int srank = lead;
  for (int i = 0; i < lead; i++) sd[i] = dims[i];
  if (rng_int(r, 0, 1)) {
    srank = 1;
    sd[0] = bt->rows;
  }
  int64_t kb128 = (c->k + 127) / 128, nb128 = (c->n + 127) / 128;
  bt->has_sa = c->af != A_NONE;
  switch (c->af) {
    case A_NONE: break;
    case A_TENSOR: {
      int64_t one[2] = {1, 1};
      tb_make(&bt->sa, FP8GEMM_F32, (int)rng_int(r, 0, 2), one, r, TB_RANDOM);
      break;
    }
    case A_TOKEN:
    case A_BLOCK:
    case A_MX:
      sd[srank] = c->af == A_TOKEN ? 1 : c->af == A_BLOCK ? kb128 : c->k / 32;
      tb_make(&bt->sa, c->af == A_MX ? FP8GEMM_E8M0 : FP8GEMM_F32, srank + 1, sd, r, TB_RANDOM);
      break;
  }
  if (bt->has_sa) fill_scales(&bt->sa, r, c, true);

  /* weight scale: 2-D forms, or [B, x, y] per batch */
  bt->has_sw = c->wf != W_NONE;
  int64_t x = 1, y = 1;
  fp8gemm_dtype sdt = c->w8a16 ? c->ws_dt : FP8GEMM_F32;
  switch (c->wf) {
    case W_NONE: break;
    case W_TENSOR: break;
    case W_CHANNEL:
      if (rng_int(r, 0, 1)) x = c->n; else y = c->n;
      break;
    case W_GROUP: x = (c->k + c->g - 1) / c->g; y = c->n; break;
    case W_BLOCK:
      x = c->w8a16 ? (c->k + c->g - 1) / c->g : kb128;
      y = c->w8a16 ? (c->n + c->g - 1) / c->g : nb128;
      break;
    case W_MX: x = c->k / 32; y = c->n; sdt = FP8GEMM_E8M0; break;
  }
  /* The one shape two forms share with different meanings; docs/ops.md: per-channel wins. */
  c->block_as_channel = c->w8a16 && c->wf == W_BLOCK && x == c->n && y == 1;
  if (bt->has_sw) {
    int64_t swd[3] = {c->batch, x, y};
    if (c->w_per_batch) tb_make(&bt->sw, sdt, 3, swd, r, TB_RANDOM);
    else if (c->wf == W_CHANNEL && rng_int(r, 0, 1)) tb_make(&bt->sw, sdt, 1, &c->n, r, TB_RANDOM);
    else if (c->wf == W_TENSOR) tb_make(&bt->sw, sdt, (int)rng_int(r, 0, 1), swd + 1, r, TB_RANDOM);
    else tb_make(&bt->sw, sdt, 2, swd + 1, r, TB_RANDOM);
    fill_scales(&bt->sw, r, c, false);
    if (c->mx_extreme) /* eb = 254 - ea + small: the combined scale is moderate, the parts are not */
      for (int64_t i = 0; i < tb_numel(&bt->sw); i++) {
        int64_t kb = (i % (x * y)) / y;
        int ea = tb_code(&bt->sa, kb); /* one row */
        tb_set_code(&bt->sw, i, (uint8_t)(254 - ea + (int)rng_int(r, -2, 2)));
      }
  }

  bt->has_bias = c->bias != B_NONE;
  int64_t bd[FP8GEMM_MAX_DIMS];
  int brank = 0;
  switch (c->bias) {
    case B_NONE: break;
    case B_EMPTY: bd[0] = 0; brank = 1; break;
    case B_SCALAR: brank = (int)rng_int(r, 0, 2); bd[0] = bd[1] = 1; break;
    case B_COL: bd[0] = 1; bd[1] = c->n; brank = (int)rng_int(r, 1, 2);
      if (brank == 1) bd[0] = c->n;
      break;
    case B_ROW:
    case B_FULL:
      for (int i = 0; i < lead; i++) bd[i] = dims[i];
      bd[lead] = c->bias == B_ROW ? 1 : c->n;
      brank = lead + 1;
      break;
  }
  if (bt->has_bias) {
    tb_make(&bt->bias, c->bias_dt, brank, bd, r, TB_RANDOM);
    for (int64_t i = 0; i < tb_numel(&bt->bias); i++)
      tb_set_wide(&bt->bias, i, rand_wide(r, c->bias_dt, 4.0));
  }
}

static void unbuild(built *bt) {
  tb_free(&bt->a);
  tb_free(&bt->w);
  if (bt->has_sa) tb_free(&bt->sa);
  if (bt->has_sw) tb_free(&bt->sw);
  if (bt->has_bias) tb_free(&bt->bias);
}

/* ------------------------------------------------------------ the fp64 oracle */
static double e8m0(uint8_t code) { return code == 0xFF ? NAN : ldexp(1.0, code - 127); }

static double scale_value(const tbuf *t, int64_t flat) {
  return t->t.dtype == FP8GEMM_E8M0 ? e8m0(tb_code(t, flat)) : tb_wide(t, flat);
}

static double sa_at(const gcase *c, const built *bt, int64_t row, int64_t k) {
  switch (c->af) {
    case A_NONE: return 1.0;
    case A_TENSOR: return scale_value(&bt->sa, 0);
    case A_TOKEN: return scale_value(&bt->sa, row);
    case A_BLOCK: return scale_value(&bt->sa, row * ((c->k + 127) / 128) + k / 128);
    case A_MX: return scale_value(&bt->sa, row * (c->k / 32) + k / 32);
  }
  return NAN;
}

static double sb_at(const gcase *c, const built *bt, int64_t b, int64_t k, int64_t j) {
  int64_t per = 1, base;
  if (c->wf == W_NONE) return 1.0;
  per = tb_numel(&bt->sw) / (c->w_per_batch ? c->batch : 1);
  base = c->w_per_batch ? b * per : 0;
  switch (c->block_as_channel ? W_CHANNEL : c->wf) {
    case W_TENSOR: return scale_value(&bt->sw, base);
    case W_CHANNEL: return scale_value(&bt->sw, base + j);
    case W_GROUP: return scale_value(&bt->sw, base + (k / c->g) * c->n + j);
    case W_BLOCK: {
      int64_t g = c->w8a16 ? c->g : 128, nb = (c->n + g - 1) / g;
      return scale_value(&bt->sw, base + (k / g) * nb + j / g);
    }
    case W_MX: return scale_value(&bt->sw, base + (k / 32) * c->n + j);
    default: return NAN;
  }
}

static double bias_at(const gcase *c, const built *bt, int64_t row, int64_t j) {
  switch (c->bias) {
    case B_SCALAR: return tb_wide(&bt->bias, 0);
    case B_COL: return tb_wide(&bt->bias, j);
    case B_ROW: return tb_wide(&bt->bias, row);
    case B_FULL: return tb_wide(&bt->bias, row * c->n + j);
    default: return 0.0;
  }
}

/* ulp of the out format at |x| (the subnormal ulp below the normal range). */
static double ulp_out(fp8gemm_dtype dt, double x) {
  int p = dt == FP8GEMM_F32 ? 24 : dt == FP8GEMM_BF16 ? 8 : 11;
  int emin = dt == FP8GEMM_F16 ? -14 : -126;
  int e = x == 0.0 ? emin : ilogb(x);
  return ldexp(1.0, (e < emin ? emin : e) - p + 1);
}

static const char *scheme_str(const gcase *c) {
  static char buf[96];
  static const char *an[] = {"none", "tensor", "token", "block", "mx"};
  static const char *wn[] = {"none", "tensor", "channel", "group", "block", "mx"};
  snprintf(buf, sizeof buf, "%s %s x %s%s g=%lld", c->w8a16 ? "w8a16" : "w8a8", an[c->af],
           wn[c->wf], c->w_per_batch ? " per-batch" : "", (long long)c->g);
  return buf;
}

static long cases_run;

static void run_case(gcase *c, rng *r) {
  built bt;
  build(c, r, &bt);
  int64_t rows = bt.rows, n = c->n, k = c->k;
  size_t esz = elem_bytes(c->out_dt), nout = (size_t)(rows * n);
  uint8_t *out = malloc(nout * esz + 64);
  memset(out, 0xFF, nout * esz + 64); /* NaN: an unwritten element fails the bound */
  fp8gemm_tensor out_t;
  int64_t od[FP8GEMM_MAX_DIMS];
  for (int i = 0; i < bt.a.t.ndim - 1; i++) od[i] = bt.a.t.dims[i];
  od[bt.a.t.ndim - 1] = n;
  fp8gemm_tensor_init(&out_t, c->out_dt, bt.a.t.ndim, od, out);
  const fp8gemm_tensor *sa = bt.has_sa ? &bt.sa.t : NULL, *sw = bt.has_sw ? &bt.sw.t : NULL,
                       *bias = bt.has_bias ? &bt.bias.t : NULL;
  fp8gemm_status s = c->w8a16 ? fp8gemm_fp8_gemm_w8a16(&bt.a.t, &bt.w.t, sw, bias, &out_t)
                              : fp8gemm_fp8_gemm(&bt.a.t, &bt.w.t, c->out_dt, sa, sw, bias, &out_t);
  CHECK(s == FP8GEMM_OK, "%s: status %d: %s", scheme_str(c), (int)s, fp8gemm_last_error());
  cases_run++;
  int bad = 0;
  double gamma = (double)(k + 1) * 0x1p-24 / (1.0 - (double)(k + 1) * 0x1p-24);
  int64_t m = c->batch ? c->m : rows;
  for (int64_t row = 0; s == FP8GEMM_OK && row < rows && bad < 3; row++) {
    int64_t b = c->batch ? row / m : 0, i = row % m;
    for (int64_t j = 0; j < n && bad < 3; j++) {
      double acc = 0.0, mag = 0.0;
      for (int64_t kk = 0; kk < k; kk++) {
        double av = tb_value(&bt.a, row * k + kk) * (c->w8a16 ? 1.0 : sa_at(c, &bt, row, kk));
        int64_t wi = (c->batch ? b * k * n : 0) + kk * n + j;
        double bv = tb_value(&bt.w, wi) * sb_at(c, &bt, b, kk, j);
        acc += av * bv;
        mag += fabs(av * bv);
      }
      double bias_v = bias_at(c, &bt, row, j);
      acc += bias_v;
      mag += fabs(bias_v);
      double got = out_value(out, c->out_dt, row * n + j);
      double bound = gamma * mag + ulp_out(c->out_dt, acc) / 2;
      if (!(fabs(got - acc) <= bound)) {
        bad++;
        CHECK(false,
              "isa %s: %s a=%s b=%s out=%s batch=%lld m=%lld n=%lld k=%lld bias=%d: out[%lld,%lld] "
              "(b %lld i %lld) = %.9g, ref %.9g, bound %.3g",
              fp8gemm_isa_name(fp8gemm_isa_active()), scheme_str(c), fp8g_dtype_str(c->a_dt), fp8g_dtype_str(c->b_dt),
              fp8g_dtype_str(c->out_dt), (long long)c->batch, (long long)m, (long long)n,
              (long long)k, (int)c->bias, (long long)row, (long long)j, (long long)b, (long long)i,
              got, acc, bound);
      }
    }
  }
  if (s == FP8GEMM_OK && bad == 0) CHECK(true, "case");
  uint8_t canary[64];
  memset(canary, 0xFF, sizeof canary);
  CHECK(memcmp(out + nout * esz, canary, 64) == 0, "%s: wrote past the output", scheme_str(c));
  free(out);
  unbuild(&bt);
}

/* ------------------------------------------------------------ case generation */
/* Draws M, N, K from the size list, keeping M*N*K (the cost) under `cap`. */
static void pick_dims(rng *r, gcase *c, int64_t cap, bool k_mult32) {
  for (;;) {
    c->m = RNG_PICK(r, sizes);
    c->n = RNG_PICK(r, sizes);
    c->k = RNG_PICK(r, sizes);
    if (k_mult32) c->k = (c->k / 32 + (c->k < 32)) * 32;
    if (c->m * c->n * c->k * (c->batch ? c->batch : 1) <= cap) return;
  }
}

static void finish_case(rng *r, gcase *c, int64_t cap) {
  if (rng_int(r, 0, 3) == 0) c->batch = rng_int(r, 2, 3);
  bool mx = c->af == A_MX || c->wf == W_MX;
  pick_dims(r, c, cap, mx);
  c->w_per_batch = c->batch && c->wf != W_NONE && rng_int(r, 0, 1);
  c->bias = (bform)rng_int(r, 0, 5);
  c->bias_dt = RNG_PICK(r, wides);
}

typedef struct scheme {
  aform a;
  wform w;
} scheme;

static const scheme w8a8_schemes[] = {
    {A_NONE, W_NONE},      {A_TENSOR, W_TENSOR}, {A_TOKEN, W_CHANNEL}, {A_TENSOR, W_CHANNEL},
    {A_TOKEN, W_TENSOR},   {A_NONE, W_CHANNEL},  {A_TOKEN, W_NONE},    {A_BLOCK, W_BLOCK},
    {A_MX, W_MX},
};

static void w8a8_case(rng *r, const scheme *sc, fp8gemm_dtype a_dt, fp8gemm_dtype out_dt,
                      int64_t cap) {
  gcase c = {0};
  c.af = sc->a;
  c.wf = sc->w;
  c.a_dt = a_dt;
  c.b_dt = rng_int(r, 0, 3) == 0 ? RNG_PICK(r, fp8s) : a_dt; /* mixed dtypes sometimes */
  c.out_dt = out_dt;
  finish_case(r, &c, cap);
  c.mx_extreme = c.af == A_MX && out_dt != FP8GEMM_F16 && !c.w_per_batch && c.batch == 0 &&
                 c.m == 1 && rng_int(r, 0, 1);
  run_case(&c, r);
}

static void w8a16_case(rng *r, wform wf, int64_t g, fp8gemm_dtype in_dt, fp8gemm_dtype b_dt,
                       int64_t cap) {
  static const fp8gemm_dtype scale_dts[] = {FP8GEMM_F32, FP8GEMM_BF16, FP8GEMM_E8M0};
  gcase c = {0};
  c.w8a16 = true;
  c.af = A_NONE;
  c.wf = wf;
  c.g = g;
  c.a_dt = in_dt;
  c.out_dt = in_dt;
  c.b_dt = b_dt;
  c.ws_dt = RNG_PICK(r, scale_dts);
  finish_case(r, &c, cap);
  run_case(&c, r);
}

static void sweep(rng *r, bool sanitized) {
  int64_t cap = sanitized ? 300000 : 1500000;
  for (size_t s = 0; s < sizeof w8a8_schemes / sizeof w8a8_schemes[0]; s++)
    for (size_t a = 0; a < 4; a++)
      for (size_t o = 0; o < 3; o++) w8a8_case(r, &w8a8_schemes[s], fp8s[a], wides[o], cap);
  static const struct { wform w; int64_t g; } w8a16_forms[] = {
      {W_NONE, 0},    {W_TENSOR, 0},   {W_CHANNEL, 0}, {W_GROUP, 32}, {W_GROUP, 64},
      {W_GROUP, 128}, {W_BLOCK, 32},   {W_BLOCK, 64},  {W_BLOCK, 128},
  };
  for (size_t f = 0; f < sizeof w8a16_forms / sizeof w8a16_forms[0]; f++)
    for (size_t in = 0; in < 3; in++)
      for (size_t b = 0; b < 4; b++)
        w8a16_case(r, w8a16_forms[f].w, w8a16_forms[f].g, wides[in], fp8s[b], cap);
  /* every size of the list in every position, once for each op */
  for (size_t v = 0; v < sizeof sizes / sizeof sizes[0]; v++) {
    for (int pos = 0; pos < 3; pos++) {
      gcase c = {0};
      c.af = A_BLOCK;
      c.wf = W_BLOCK;
      c.a_dt = RNG_PICK(r, fp8s);
      c.b_dt = c.a_dt;
      c.out_dt = RNG_PICK(r, wides);
      c.bias = B_COL;
      c.bias_dt = FP8GEMM_F32;
      c.m = pos == 0 ? sizes[v] : 7;
      c.n = pos == 1 ? sizes[v] : 31;
      c.k = pos == 2 ? sizes[v] : 129;
      run_case(&c, r);
      gcase d = c;
      d.w8a16 = true;
      d.af = A_NONE;
      d.wf = W_GROUP;
      d.g = 32;
      d.a_dt = d.out_dt = RNG_PICK(r, wides);
      d.ws_dt = FP8GEMM_BF16;
      run_case(&d, r);
    }
  }
  if (!sanitized) { /* the largest shape of the list, once per op */
    gcase c = {0};
    c.af = A_BLOCK;
    c.wf = W_BLOCK;
    c.a_dt = c.b_dt = FP8GEMM_E4M3FN;
    c.out_dt = FP8GEMM_BF16;
    c.m = c.n = c.k = 300;
    run_case(&c, r);
    c.w8a16 = true;
    c.af = A_NONE;
    c.wf = W_GROUP;
    c.g = 128;
    c.a_dt = c.out_dt = FP8GEMM_BF16;
    c.ws_dt = FP8GEMM_F32;
    run_case(&c, r);
  }
}

/* ------------------------------------------------------------ NaN propagation */
/*
 * One operand element or scale set to NaN; the outputs it feeds must be NaN and only
 * those. M = 5, N = 6, K = 64; the NaN sits at row 2 / column 3 / K block 1.
 */
enum { NM = 5, NN = 6, NK = 160 };

typedef enum {
  NAN_A_ELEM, NAN_B_ELEM, NAN_SA_TOKEN, NAN_SB_CHANNEL, NAN_SA_BLOCK, NAN_SB_BLOCK, NAN_EA, NAN_EB,
  NAN_BIAS, NAN_W8A16_INPUT, NAN_W8A16_GROUP_E8M0, NAN_W8A16_GROUP_F32, NAN_CASES
} nan_case;

static void nan_test(nan_case nc, fp8gemm_dtype dt) {
  rng r = {(uint64_t)nc * 977 + (uint64_t)dt};
  bool w8a16 = nc >= NAN_W8A16_INPUT;
  int64_t ad[2] = {NM, NK}, wd[2] = {NK, NN};
  tbuf a, w, sa, sw, bias;
  tb_make(&a, w8a16 ? FP8GEMM_F32 : dt, 2, ad, &r, TB_CONTIGUOUS);
  tb_make(&w, dt, 2, wd, &r, TB_CONTIGUOUS);
  uint8_t codes[256];
  int nc_codes = finite_codes(dt, 4.0, codes);
  if (w8a16)
    for (int64_t i = 0; i < NM * NK; i++) tb_set_wide(&a, i, rand_wide(&r, FP8GEMM_F32, 4.0));
  else fill_codes(&a, &r, codes, nc_codes);
  fill_codes(&w, &r, codes, nc_codes);
  /* per-token x per-channel unless the case is about block / MX / group scales */
  bool mx = nc == NAN_EA || nc == NAN_EB, block = nc == NAN_SA_BLOCK || nc == NAN_SB_BLOCK;
  bool group = nc == NAN_W8A16_GROUP_E8M0 || nc == NAN_W8A16_GROUP_F32;
  int64_t sad[2] = {NM, 1}, swd[2] = {1, NN};
  if (block) { sad[1] = 2; swd[0] = 2; swd[1] = 1; } /* [5, ceil(160/128)], [2, ceil(6/128)] */
  if (mx) { sad[1] = NK / 32; swd[0] = NK / 32; }
  if (group) swd[0] = NK / 32;
  fp8gemm_dtype sdt = mx || nc == NAN_W8A16_GROUP_E8M0 ? FP8GEMM_E8M0 : FP8GEMM_F32;
  tb_make(&sa, mx ? FP8GEMM_E8M0 : FP8GEMM_F32, 2, sad, &r, TB_CONTIGUOUS);
  tb_make(&sw, sdt, 2, swd, &r, TB_CONTIGUOUS);
  for (int64_t i = 0; i < tb_numel(&sa); i++)
    if (mx) tb_set_code(&sa, i, 127); else tb_set_wide(&sa, i, 0.5f);
  for (int64_t i = 0; i < tb_numel(&sw); i++)
    if (sdt == FP8GEMM_E8M0) tb_set_code(&sw, i, 126); else tb_set_wide(&sw, i, 2.0f);
  int64_t bd[1] = {NN};
  tb_make(&bias, FP8GEMM_F32, 1, bd, &r, TB_CONTIGUOUS);
  for (int64_t j = 0; j < NN; j++) tb_set_wide(&bias, j, 1.0f);

  /* expected[row][col]: NaN? */
  bool expect[NM][NN] = {{false}};
  uint8_t nan_code = nan_byte(dt) == 0x80 ? 0x80 : 0x7F;
  switch (nc) {
    case NAN_A_ELEM: tb_set_code(&a, 2 * NK + 40, nan_code); break;
    case NAN_B_ELEM: tb_set_code(&w, 40 * NN + 3, nan_code); break;
    case NAN_SA_TOKEN: tb_set_wide(&sa, 2, NAN); break;
    case NAN_SB_CHANNEL: tb_set_wide(&sw, 3, NAN); break;
    case NAN_SA_BLOCK: tb_set_wide(&sa, 2 * 2 + 1, NAN); break; /* row 2, K block 1 */
    case NAN_SB_BLOCK: tb_set_wide(&sw, 1, NAN); break;  /* K block 1, the only N block */
    case NAN_EA: tb_set_code(&sa, 2 * 5 + 1, 0xFF); break;   /* row 2, K block 1 */
    case NAN_EB: tb_set_code(&sw, 1 * NN + 3, 0xFF); break;  /* K block 1, column 3 */
    case NAN_BIAS: tb_set_wide(&bias, 3, NAN); break;
    case NAN_W8A16_INPUT: tb_set_wide(&a, 2 * NK + 40, NAN); break;
    case NAN_W8A16_GROUP_E8M0: tb_set_code(&sw, 1 * NN + 3, 0xFF); break;
    case NAN_W8A16_GROUP_F32: tb_set_wide(&sw, 1 * NN + 3, NAN); break;
    default: break;
  }
  for (int i = 0; i < NM; i++)
    for (int j = 0; j < NN; j++) {
      bool row = i == 2, col = j == 3;
      switch (nc) {
        case NAN_A_ELEM: case NAN_SA_TOKEN: case NAN_SA_BLOCK: case NAN_EA:
        case NAN_W8A16_INPUT: expect[i][j] = row; break;
        case NAN_SB_BLOCK: expect[i][j] = true; break;
        case NAN_BIAS: case NAN_B_ELEM: case NAN_SB_CHANNEL: case NAN_EB:
        case NAN_W8A16_GROUP_E8M0: case NAN_W8A16_GROUP_F32: expect[i][j] = col; break;
        default: break;
      }
    }
  float out[NM * NN];
  int64_t od[2] = {NM, NN};
  fp8gemm_tensor out_t;
  fp8gemm_tensor_init(&out_t, FP8GEMM_F32, 2, od, out);
  fp8gemm_status s;
  if (w8a16) s = fp8gemm_fp8_gemm_w8a16(&a.t, &w.t, &sw.t, &bias.t, &out_t);
  else
    s = fp8gemm_fp8_gemm(&a.t, &w.t, FP8GEMM_F32, &sa.t, &sw.t, &bias.t, &out_t);
  CHECK(s == FP8GEMM_OK, "nan case %d: %s", (int)nc, fp8gemm_last_error());
  int wrong = 0;
  for (int i = 0; i < NM; i++)
    for (int j = 0; j < NN; j++)
      if ((bool)isnan(out[i * NN + j]) != expect[i][j]) wrong++;
  CHECK(s == FP8GEMM_OK && wrong == 0, "nan case %d dtype %s isa %s: %d outputs wrong", (int)nc,
        fp8g_dtype_str(dt), fp8gemm_isa_name(fp8gemm_isa_active()), wrong);
  tb_free(&a);
  tb_free(&w);
  tb_free(&sa);
  tb_free(&sw);
  tb_free(&bias);
}

/* MX exponent arithmetic: 2^127 * 2^-126 must give 2 * sum, not Inf (one fp32 multiply of
 * the accumulator by 2^127 first would overflow). */
static void mx_extreme_scales(void) {
  uint8_t a[32], w[32], ea[1] = {0xFE}, eb[1] = {0x01};
  for (int i = 0; i < 32; i++) a[i] = w[i] = 0x7E; /* e4m3fn 448 */
  int64_t ad[2] = {1, 32}, wd[2] = {32, 1}, sd[2] = {1, 1};
  fp8gemm_tensor A, W, EA, EB, O;
  float out[1];
  fp8gemm_tensor_init(&A, FP8GEMM_E4M3FN, 2, ad, a);
  fp8gemm_tensor_init(&W, FP8GEMM_E4M3FN, 2, wd, w);
  fp8gemm_tensor_init(&EA, FP8GEMM_E8M0, 2, sd, ea);
  fp8gemm_tensor_init(&EB, FP8GEMM_E8M0, 2, sd, eb);
  int64_t od[2] = {1, 1};
  fp8gemm_tensor_init(&O, FP8GEMM_F32, 2, od, out);
  fp8gemm_status s = fp8gemm_fp8_gemm(&A, &W, FP8GEMM_F32, &EA, &EB, NULL, &O);
  CHECK(s == FP8GEMM_OK && out[0] == 2.0f * 32 * 448 * 448, "2^127 * 2^-126 scales: got %g",
        (double)out[0]);
  ea[0] = 0x00; /* 2^-127 * 2^-126 * 32 * 448^2: below f32's range -> 0, not NaN */
  s = fp8gemm_fp8_gemm(&A, &W, FP8GEMM_F32, &EA, &EB, NULL, &O);
  CHECK(s == FP8GEMM_OK && out[0] == 0.0f, "tiny MX scales underflow to 0, got %g", (double)out[0]);
}

int main(void) {
  bool sanitized = getenv("FP8GEMM_SANITIZED") != NULL;
  for (int isa = 0; isa < FP8GEMM_ISA_COUNT; isa++) {
    if (!test_use_isa(isa)) continue;
    rng r = {0x5eed0000u + (uint64_t)isa};
    cases_run = 0;
    sweep(&r, sanitized);
    for (int nc = 0; nc < NAN_CASES; nc++)
      for (size_t d = 0; d < 4; d++) nan_test((nan_case)nc, fp8s[d]);
    mx_extreme_scales();
    printf("isa %s: %ld GEMM cases against fp64\n", fp8gemm_isa_name(isa), cases_run);
  }
  return test_summary();
}
