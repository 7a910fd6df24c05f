/*
 * Meta vs real for fp8_gemm and fp8_gemm_w8a16. Thousands of generated cases, valid
 * and invalid (ranks 1..4, random strides and permutations, every scale and bias form,
 * wrong K, wrong scale shapes / dtypes, wrong out_dtype, zero-size dims, NULL
 * pointers, overflowing dims). For each: the generator's expectation (from ops.md),
 * the infer function and the real op agree -- both succeed, the real op writing every
 * element of exactly the inferred shape and nothing past it, or both fail with the same
 * status and message and the output untouched. Then named tests for the cases where
 * vLLM PR #39984's fake disagreed with the real kernel.
 */
#include <stdio.h>
#include <time.h>

#include "check.h"
#include "gemm_test_util.h"

static const fp8gemm_dtype fp8s[] = {FP8GEMM_E4M3FN, FP8GEMM_E5M2, FP8GEMM_E4M3FNUZ,
                                     FP8GEMM_E5M2FNUZ};
static const fp8gemm_dtype wides[] = {FP8GEMM_BF16, FP8GEMM_F16, FP8GEMM_F32};

typedef struct mcase {
  bool w8a16;
  tbuf in, w, sa, sw, bias;
  bool has_in, has_w, has_sa, has_sw, has_bias;
  fp8gemm_dtype out_dtype;
  bool expect_ok;
  const char *what; /* the form or mutation, for messages */
  int64_t rows, k, n, batch;
  int lead; /* input leading dims */
} mcase;

/* ------------------------------------------------------------ filling */
static void fill(tbuf *b, rng *r) {
  int64_t n = tb_numel(b);
  fp8gemm_dtype dt = b->t.dtype;
  for (int64_t i = 0; i < n; i++) {
    if (dt == FP8GEMM_E8M0) tb_set_code(b, i, (uint8_t)rng_int(r, 125, 129));
    else if (fp8gemm_dtype_is_fp8(dt))
      tb_set_code(b, i, fp8g_encode(dt, (float)(rng_int(r, -4, 4) * 0.5), true));
    else if (fp8g_traits(dt) && fp8g_traits(dt)->is_wide)
      tb_set_wide(b, i, (float)(rng_int(r, -8, 8) * 0.25));
  }
}

static void mk(tbuf *b, fp8gemm_dtype dt, int ndim, const int64_t *dims, rng *r) {
  tb_make(b, dt, ndim, dims, r, rng_int(r, 0, 1) ? TB_RANDOM : TB_CONTIGUOUS);
  fill(b, r);
}

static int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

/* [*lead, last] either with the input's leading dims or flattened to [rows, last]. */
static void mk_rows(mcase *c, tbuf *b, fp8gemm_dtype dt, int64_t last, rng *r) {
  int64_t d[FP8GEMM_MAX_DIMS];
  int rank;
  if (rng_int(r, 0, 1) && c->lead > 0) {
    for (int i = 0; i < c->lead; i++) d[i] = c->in.t.dims[i];
    rank = c->lead;
  } else {
    d[0] = c->rows;
    rank = 1;
  }
  d[rank] = last;
  mk(b, dt, rank + 1, d, r);
}

/* A weight-scale form [x, y]: rank 2, or [1|B, x, y] for batched weights. */
static void mk_w2d(mcase *c, tbuf *b, fp8gemm_dtype dt, int64_t x, int64_t y, rng *r) {
  int64_t d[3] = {rng_int(r, 0, 1) ? c->batch : 1, x, y};
  if (c->batch >= 0 && rng_int(r, 0, 2)) mk(b, dt, 3, d, r);
  else mk(b, dt, 2, d + 1, r);
}

/* ------------------------------------------------------------ valid cases */
typedef enum { F_NONE, F_TENSOR, F_TOKEN, F_CHANNEL, F_GROUP, F_BLOCK, F_MX } form;

static void input_scale(mcase *c, form f, rng *r) {
  int64_t one[2] = {1, 1};
  c->has_sa = f != F_NONE;
  switch (f) {
    case F_TENSOR: mk(&c->sa, FP8GEMM_F32, (int)rng_int(r, 0, 2), one, r); break;
    case F_TOKEN: mk_rows(c, &c->sa, FP8GEMM_F32, 1, r); break;
    case F_BLOCK: mk_rows(c, &c->sa, FP8GEMM_F32, cdiv(c->k, 128), r); break;
    case F_MX: mk_rows(c, &c->sa, FP8GEMM_E8M0, c->k / 32, r); break;
    default: break;
  }
}

static void weight_scale(mcase *c, form f, fp8gemm_dtype dt, int64_t g, rng *r) {
  int64_t one[2] = {1, 1};
  c->has_sw = f != F_NONE;
  switch (f) {
    case F_TENSOR:
      if (c->batch >= 0 && rng_int(r, 0, 1)) mk_w2d(c, &c->sw, dt, 1, 1, r);
      else mk(&c->sw, dt, (int)rng_int(r, 0, 2), one, r);
      break;
    case F_CHANNEL:
      if (rng_int(r, 0, 2) == 0) mk(&c->sw, dt, 1, &c->n, r);
      else if (rng_int(r, 0, 1)) mk_w2d(c, &c->sw, dt, 1, c->n, r);
      else mk_w2d(c, &c->sw, dt, c->n, 1, r);
      break;
    case F_GROUP: mk_w2d(c, &c->sw, dt, cdiv(c->k, g), c->n, r); break;
    case F_BLOCK: mk_w2d(c, &c->sw, dt, cdiv(c->k, g), cdiv(c->n, g), r); break;
    case F_MX: mk_w2d(c, &c->sw, FP8GEMM_E8M0, c->k / 32, c->n, r); break;
    default: break;
  }
}

static void bias_form(mcase *c, rng *r) {
  int64_t d[2] = {1, c->n}, z[2] = {0, c->n};
  int f = (int)rng_int(r, 0, 6);
  fp8gemm_dtype dt = RNG_PICK(r, wides);
  c->has_bias = f != 0;
  switch (f) {
    case 1: mk(&c->bias, dt, (int)rng_int(r, 1, 2), z, r); break; /* empty: none */
    case 2: mk(&c->bias, dt, (int)rng_int(r, 0, 2), d, r); break;  /* numel 1 */
    case 3: if (rng_int(r, 0, 1)) mk(&c->bias, dt, 1, &c->n, r); else mk(&c->bias, dt, 2, d, r);
      break;                                                        /* [N], [1, N] */
    case 4: mk_rows(c, &c->bias, dt, 1, r); break;
    case 5: case 6: mk_rows(c, &c->bias, dt, c->n, r); break;
    default: break;
  }
}

static void valid_case(mcase *c, rng *r) {
  static const int64_t ks[] = {0, 1, 5, 32, 64, 129, 160}, ns[] = {0, 1, 2, 5, 129};
  memset(c, 0, sizeof *c);
  c->w8a16 = rng_int(r, 0, 1);
  c->expect_ok = true;
  c->what = "valid";
  /* scheme first: MX needs K % 32 == 0 */
  static const form a_forms[] = {F_NONE, F_TENSOR, F_TOKEN, F_NONE, F_TENSOR, F_TOKEN,
                                 F_TOKEN, F_BLOCK, F_MX};
  static const form w_forms[] = {F_NONE, F_NONE, F_NONE, F_TENSOR, F_TENSOR, F_TENSOR,
                                 F_CHANNEL, F_BLOCK, F_MX};
  static const form w16_forms[] = {F_NONE, F_TENSOR, F_CHANNEL, F_GROUP, F_BLOCK};
  int pair = (int)rng_int(r, 0, 8);
  form wf16 = RNG_PICK(r, w16_forms);
  bool mx = !c->w8a16 && a_forms[pair] == F_MX;
  for (;;) {
    c->k = RNG_PICK(r, ks);
    c->n = RNG_PICK(r, ns);
    if (mx && c->k % 32) continue;
    break;
  }
  c->batch = rng_int(r, 0, 4) == 0 ? rng_int(r, 0, 3) : -1;
  int64_t d[FP8GEMM_MAX_DIMS];
  if (c->batch >= 0) {
    c->lead = 2;
    d[0] = c->batch;
    d[1] = rng_int(r, 0, 4);
  } else {
    c->lead = (int)rng_int(r, 0, 3);
    for (int i = 0; i < c->lead; i++) d[i] = rng_int(r, 0, 9) == 0 ? 0 : rng_int(r, 1, 4);
  }
  d[c->lead] = c->k;
  c->rows = fp8g_dims_product(d, 0, c->lead);
  if (c->rows * c->n * c->k > 40000) c->k = c->k > 64 ? 32 + 32 * (c->k % 32 == 0) : c->k;
  d[c->lead] = c->k;
  fp8gemm_dtype in_dt = c->w8a16 ? RNG_PICK(r, wides) : RNG_PICK(r, fp8s);
  int layout = (int)rng_int(r, 0, 2) == 0 ? TB_RANDOM : TB_CONTIGUOUS;
  if (c->lead >= 2 && rng_int(r, 0, 3) == 0) layout = TB_SWAP_FIRST;
  tb_make(&c->in, in_dt, c->lead + 1, d, r, layout);
  fill(&c->in, r);
  c->has_in = true;
  int64_t wd[3] = {c->batch, c->k, c->n};
  tb_make(&c->w, RNG_PICK(r, fp8s), c->batch >= 0 ? 3 : 2, c->batch >= 0 ? wd : wd + 1, r,
          (int)rng_int(r, 0, 2));
  fill(&c->w, r);
  c->has_w = true;
  if (c->w8a16) {
    static const fp8gemm_dtype sdts[] = {FP8GEMM_F32, FP8GEMM_BF16, FP8GEMM_E8M0};
    static const int64_t gs[] = {32, 64, 128};
    weight_scale(c, wf16, RNG_PICK(r, sdts), RNG_PICK(r, gs), r);
  } else {
    static const fp8gemm_dtype outs[] = {FP8GEMM_DTYPE_NONE, FP8GEMM_BF16, FP8GEMM_F16,
                                         FP8GEMM_F32};
    c->out_dtype = RNG_PICK(r, outs);
    input_scale(c, a_forms[pair], r);
    weight_scale(c, w_forms[pair], FP8GEMM_F32, 128, r);
  }
  bias_form(c, r);
}

/* ------------------------------------------------------------ mutations */
static void drop(tbuf *b, bool *has) {
  if (*has) tb_free(b);
  *has = false;
}

/* New input and weight buffers with reduction length k (same leading dims, batch, N). */
static void rebuild_k(mcase *c, int64_t k, rng *r) {
  int64_t d[FP8GEMM_MAX_DIMS], wd[3] = {c->batch, k, c->n};
  for (int i = 0; i < c->lead; i++) d[i] = c->in.t.dims[i];
  d[c->lead] = k;
  fp8gemm_dtype in_dt = c->in.t.dtype, w_dt = c->w.t.dtype;
  drop(&c->in, &c->has_in);
  drop(&c->w, &c->has_w);
  mk(&c->in, in_dt, c->lead + 1, d, r);
  mk(&c->w, w_dt, c->batch >= 0 ? 3 : 2, c->batch >= 0 ? wd : wd + 1, r);
  c->has_in = c->has_w = true;
  c->k = k;
}

/* Turns a valid case into one that breaks exactly the rule named by c->what. */
static void mutate(mcase *c, rng *r) {
  c->expect_ok = false;
  int64_t bad[2] = {c->n + 1, c->n + 3}; /* matches no scale or bias form */
  switch (rng_int(r, 0, 19)) {
    case 0:
      c->what = "wrong K";
      c->w.t.dims[c->w.t.ndim - 2] += 1;
      break;
    case 1:
      c->what = "wrong input dtype";
      c->in.t.dtype = c->w8a16 ? FP8GEMM_E4M3FN : FP8GEMM_BF16;
      break;
    case 2:
      c->what = "wrong weight dtype";
      c->w.t.dtype = rng_int(r, 0, 1) ? FP8GEMM_E8M0 : FP8GEMM_BF16;
      break;
    case 3:
      if (c->w8a16) { c->what = "NULL weight"; drop(&c->w, &c->has_w); break; }
      c->what = "wrong out_dtype";
      c->out_dtype = rng_int(r, 0, 1) ? FP8GEMM_E4M3FN : (fp8gemm_dtype)42;
      break;
    case 4:
      c->what = "wrong input_scales / weight_scale shape";
      if (!c->w8a16 && rng_int(r, 0, 1)) {
        drop(&c->sa, &c->has_sa);
        int64_t d[2] = {c->rows + 2, 3};
        mk(&c->sa, rng_int(r, 0, 1) ? FP8GEMM_E8M0 : FP8GEMM_F32, 2, d, r);
        c->has_sa = true;
      } else {
        drop(&c->sw, &c->has_sw);
        mk(&c->sw, c->w8a16 ? FP8GEMM_BF16 : FP8GEMM_F32, 2, bad, r);
        c->has_sw = true;
      }
      break;
    case 5: {
      c->what = "wrong scale dtype";
      int64_t one[1] = {1};
      if (c->w8a16) {
        drop(&c->sw, &c->has_sw);
        mk(&c->sw, FP8GEMM_F16, 1, one, r);
        c->has_sw = true;
      } else if (rng_int(r, 0, 1)) {
        drop(&c->sa, &c->has_sa);
        mk(&c->sa, FP8GEMM_BF16, 1, one, r);
        c->has_sa = true;
      } else {
        drop(&c->sw, &c->has_sw);
        mk(&c->sw, FP8GEMM_E4M3FN, 1, one, r);
        c->has_sw = true;
      }
      break;
    }
    case 6:
      if (c->w8a16) { c->what = "NULL input"; drop(&c->in, &c->has_in); break; }
      c->what = "unpaired scales (mx x per-channel / per-tensor x block)";
      drop(&c->sa, &c->has_sa);
      drop(&c->sw, &c->has_sw);
      if (c->k % 32 == 0 && rng_int(r, 0, 1)) {
        mk_rows(c, &c->sa, FP8GEMM_E8M0, c->k / 32, r);
        mk(&c->sw, FP8GEMM_F32, 1, &c->n, r);
      } else { /* per-tensor x a block scale that is nothing else: K = 300 -> [3, nb] */
        int64_t one[1] = {1}, d[2] = {3, cdiv(c->n, 128)};
        rebuild_k(c, 300, r);
        mk(&c->sa, FP8GEMM_F32, 1, one, r);
        mk(&c->sw, FP8GEMM_F32, 2, d, r);
      }
      c->has_sa = c->has_sw = true;
      break;
    case 7:
      c->what = "bias shape";
      drop(&c->bias, &c->has_bias);
      mk(&c->bias, FP8GEMM_F32, 2, bad, r);
      c->has_bias = true;
      break;
    case 8:
      c->what = "bias dtype";
      drop(&c->bias, &c->has_bias);
      mk(&c->bias, rng_int(r, 0, 1) ? FP8GEMM_E4M3FN : FP8GEMM_E8M0, 1, &c->n, r);
      c->has_bias = true;
      break;
    case 9:
      c->what = "rank-0 input";
      c->in.t.ndim = 0;
      break;
    case 10:
      c->what = "weight rank 1 or 4";
      c->w.t.ndim = rng_int(r, 0, 1) ? 1 : 4;
      c->w.t.dims[3] = 1;
      c->w.t.strides[3] = 1;
      break;
    case 11:
      c->what = "batch mismatch";
      if (c->batch >= 0) c->w.t.dims[0] += 1;
      else { /* a batched weight with a 2-D / 4-D input */
        int64_t d[3] = {2, c->k, c->n};
        drop(&c->w, &c->has_w);
        mk(&c->w, FP8GEMM_E4M3FN, 3, d, r);
        c->has_w = true;
        if (c->in.t.ndim == 3) c->in.t.dims[0] = 3;
      }
      break;
    case 12:
      c->what = "negative dim or stride";
      if (rng_int(r, 0, 1)) c->in.t.dims[0] = -1;
      else c->w.t.strides[0] = -1;
      break;
    case 13:
      c->what = "overflowing dims";
      for (int i = 1; i < c->in.t.ndim - 1; i++)
        if (c->in.t.dims[i] == 0) c->in.t.dims[i] = 1;
      c->in.t.dims[0] = INT64_MAX / 2;
      if (c->in.t.ndim == 1) c->in.t.dims[0] = INT64_MAX / 2 + 1; /* reaches past 2^63 bytes */
      else c->in.t.dims[c->in.t.ndim - 1] = 3; /* numel overflows */
      break;
    case 14:
      c->what = "overflowing output (K = 0)";
      c->in.t.ndim = 3;
      c->in.t.dims[0] = (int64_t)1 << 40;
      c->in.t.dims[1] = (int64_t)1 << 22;
      c->in.t.dims[2] = 0;
      c->in.t.data = NULL;
      c->w.t.ndim = 2;
      c->w.t.dims[0] = 0;
      c->w.t.dims[1] = 5;
      drop(&c->sa, &c->has_sa);
      drop(&c->sw, &c->has_sw);
      drop(&c->bias, &c->has_bias);
      break;
    case 15:
      c->what = "ndim 9";
      c->in.t.ndim = 9;
      break;
    case 16:
      c->what = "invalid dtype value";
      c->w.t.dtype = (fp8gemm_dtype)99;
      break;
    case 17:
      c->what = "MX with K % 32 != 0";
      if (c->w8a16) { c->what = "e2m1 weight"; c->w.t.dtype = FP8GEMM_E2M1; break; }
      drop(&c->sa, &c->has_sa);
      drop(&c->sw, &c->has_sw);
      {
        int64_t k = c->k % 32 ? c->k : c->k + 1, da[2] = {c->rows, k / 32}, dw[2] = {k / 32, c->n};
        rebuild_k(c, k, r);
        mk(&c->sa, FP8GEMM_E8M0, 2, da, r);
        mk(&c->sw, FP8GEMM_E8M0, 2, dw, r);
      }
      c->has_sa = c->has_sw = true;
      break;
    case 18:
      c->what = "NULL input";
      drop(&c->in, &c->has_in);
      break;
    default:
      c->what = "NULL weight";
      drop(&c->w, &c->has_w);
      break;
  }
}

/* ------------------------------------------------------------ the comparison */
static void free_case(mcase *c) {
  drop(&c->in, &c->has_in);
  drop(&c->w, &c->has_w);
  drop(&c->sa, &c->has_sa);
  drop(&c->sw, &c->has_sw);
  drop(&c->bias, &c->has_bias);
}

static fp8gemm_status call_infer(const mcase *c, fp8gemm_tensor *desc, size_t *ws) {
  const fp8gemm_tensor *in = c->has_in ? &c->in.t : NULL, *w = c->has_w ? &c->w.t : NULL,
                       *sa = c->has_sa ? &c->sa.t : NULL, *sw = c->has_sw ? &c->sw.t : NULL,
                       *bias = c->has_bias ? &c->bias.t : NULL;
  return c->w8a16 ? fp8gemm_fp8_gemm_w8a16_infer(in, w, sw, bias, desc, ws)
                  : fp8gemm_fp8_gemm_infer(in, w, c->out_dtype, sa, sw, bias, desc, ws);
}

static fp8gemm_status call_real(const mcase *c, fp8gemm_tensor *out) {
  const fp8gemm_tensor *in = c->has_in ? &c->in.t : NULL, *w = c->has_w ? &c->w.t : NULL,
                       *sa = c->has_sa ? &c->sa.t : NULL, *sw = c->has_sw ? &c->sw.t : NULL,
                       *bias = c->has_bias ? &c->bias.t : NULL;
  return c->w8a16 ? fp8gemm_fp8_gemm_w8a16(in, w, sw, bias, out)
                  : fp8gemm_fp8_gemm(in, w, c->out_dtype, sa, sw, bias, out);
}

/* The shape and dtype ops.md promises: input.shape[:-1] + [N], contiguous. */
static void expected_out(const mcase *c, fp8gemm_tensor *e) {
  int64_t d[FP8GEMM_MAX_DIMS];
  int rank = c->has_in && c->in.t.ndim >= 1 && c->in.t.ndim <= FP8GEMM_MAX_DIMS ? c->in.t.ndim : 1;
  for (int i = 0; i < rank - 1; i++) d[i] = c->in.t.dims[i] < 0 ? 1 : c->in.t.dims[i];
  d[rank - 1] = c->n;
  fp8gemm_dtype dt = c->w8a16 ? (c->has_in ? c->in.t.dtype : FP8GEMM_BF16)
                   : c->out_dtype == FP8GEMM_DTYPE_NONE ? FP8GEMM_F16 : c->out_dtype;
  if (!fp8g_traits(dt) || !fp8g_traits(dt)->is_wide) dt = FP8GEMM_F32;
  memset(e, 0, sizeof *e);
  e->dtype = dt;
  e->ndim = rank;
  int64_t stride = 1;
  for (int i = rank - 1; i >= 0; i--) { /* torch's contiguous strides: dims of 0 count as 1 */
    e->dims[i] = d[i];
    e->strides[i] = stride;
    int64_t di = d[i] > 0 ? d[i] : 1;
    stride = stride > INT64_MAX / di ? INT64_MAX : stride * di; /* only for rejected shapes */
  }
}

static long n_valid, n_invalid;

static void compare(mcase *c) {
  fp8gemm_tensor expect, desc;
  expected_out(c, &expect);
  memset(&desc, 0xAB, sizeof desc);
  fp8gemm_tensor desc_before = desc;
  size_t ws = 12345;
  fp8gemm_status si = call_infer(c, &desc, &ws);
  char infer_msg[512];
  snprintf(infer_msg, sizeof infer_msg, "%s", fp8gemm_last_error());

  int64_t numel = fp8g_dims_product(expect.dims, 0, expect.ndim);
  bool small = numel >= 0 && numel <= 1 << 20;
  size_t esz = elem_bytes(expect.dtype), bytes = small ? (size_t)numel * esz + 64 : 64;
  uint8_t *buf = malloc(bytes);
  memset(buf, 0xFF, bytes); /* NaN sentinel: the valid data below never yields NaN */
  fp8gemm_tensor out = expect;
  out.data = buf;
  fp8gemm_status sr = call_real(c, &out);

  if (c->expect_ok) {
    n_valid++;
    CHECK(si == FP8GEMM_OK, "%s: infer rejected a valid case: %s", c->what, infer_msg);
    CHECK(sr == FP8GEMM_OK, "%s: real op rejected a valid case: %s", c->what, fp8gemm_last_error());
    bool same = si == FP8GEMM_OK && desc.dtype == expect.dtype && desc.ndim == expect.ndim &&
                desc.data == NULL;
    for (int i = 0; same && i < expect.ndim; i++)
      same = desc.dims[i] == expect.dims[i] && desc.strides[i] == expect.strides[i];
    CHECK(same, "%s: inferred descriptor differs from input.shape[:-1] + [N] contiguous",
          c->what);
    CHECK(si != FP8GEMM_OK || (numel == 0) == (ws == 0), "workspace %zu for numel %lld", ws,
          (long long)numel);
    if (sr == FP8GEMM_OK && small) {
      int64_t unwritten = 0;
      for (int64_t i = 0; i < numel; i++)
        if (isnan(out_value(buf, expect.dtype, i))) unwritten++;
      CHECK(unwritten == 0, "%s: %lld of %lld outputs not written", c->what, (long long)unwritten,
            (long long)numel);
      bool canary = true;
      for (size_t i = (size_t)numel * esz; i < bytes; i++) canary = canary && buf[i] == 0xFF;
      CHECK(canary, "%s: wrote past the output", c->what);
    }
  } else {
    n_invalid++;
    CHECK(si != FP8GEMM_OK, "%s: infer accepted an invalid case", c->what);
    CHECK(sr == si, "%s: real status %d, infer status %d (%s)", c->what, (int)sr, (int)si,
          infer_msg);
    CHECK(strcmp(infer_msg, fp8gemm_last_error()) == 0, "%s: messages differ: '%s' vs '%s'",
          c->what, infer_msg, fp8gemm_last_error());
    const char *op = c->w8a16 ? "fp8_gemm_w8a16: " : "fp8_gemm: ";
    CHECK(strncmp(infer_msg, op, strlen(op)) == 0, "%s: message names the op: '%s'", c->what,
          infer_msg);
    CHECK(memcmp(&desc, &desc_before, sizeof desc) == 0, "%s: infer wrote out_desc on error",
          c->what);
    bool untouched = true;
    for (size_t i = 0; i < bytes; i++) untouched = untouched && buf[i] == 0xFF;
    CHECK(untouched, "%s: the real op wrote out on error", c->what);
  }
  free(buf);
}

static void generated(rng *r, int count) {
  for (int i = 0; i < count; i++) {
    mcase c;
    valid_case(&c, r);
    if (rng_int(r, 0, 1)) mutate(&c, r); /* tbuf.mem still owns each buffer */
    compare(&c);
    free_case(&c);
  }
}

/* ------------------------------------------------------------ named tests */
static fp8gemm_tensor desc_of(fp8gemm_dtype dt, int ndim, const int64_t *dims, void *data) {
  fp8gemm_tensor t;
  fp8gemm_tensor_init(&t, dt, ndim, dims, data);
  return t;
}

static void spec_example(void) {
  int64_t in[3] = {2, 7, 4096}, w[2] = {4096, 11008}, sa[3] = {2, 7, 1}, sw[1] = {11008};
  fp8gemm_tensor A = desc_of(FP8GEMM_E4M3FN, 3, in, NULL), W = desc_of(FP8GEMM_E4M3FN, 2, w, NULL),
                 SA = desc_of(FP8GEMM_F32, 3, sa, NULL), SW = desc_of(FP8GEMM_F32, 1, sw, NULL), O;
  size_t ws = 0;
  fp8gemm_status s = fp8gemm_fp8_gemm_infer(&A, &W, FP8GEMM_BF16, &SA, &SW, NULL, &O, &ws);
  CHECK(s == FP8GEMM_OK && O.dtype == FP8GEMM_BF16 && O.ndim == 3 && O.dims[0] == 2 &&
            O.dims[1] == 7 && O.dims[2] == 11008 && O.strides[0] == 7 * 11008 &&
            O.strides[1] == 11008 && O.strides[2] == 1,
        "spec example: bf16:2x7x11008 (%s)", fp8gemm_last_error());
  /* timing, reported not asserted */
  struct timespec t0, t1;
  enum { REPS = 200000 };
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (int i = 0; i < REPS; i++) fp8gemm_fp8_gemm_infer(&A, &W, FP8GEMM_BF16, &SA, &SW, NULL, &O, &ws);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double ns = ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) / REPS;
  printf("fp8_gemm_infer: %.0f ns per call (spec example)\n", ns);

  W.dims[0] = 4096;
  A.dims[2] = 4095;
  s = fp8gemm_fp8_gemm_infer(&A, &W, FP8GEMM_BF16, NULL, NULL, NULL, &O, &ws);
  CHECK(s == FP8GEMM_INVALID_ARGUMENT &&
            strcmp(fp8gemm_last_error(),
                   "fp8_gemm: q_weight.shape[0] (4096) must equal q_input.shape[-1] (4095)") == 0,
        "K message: %s", fp8gemm_last_error());
  CHECK(fp8gemm_fp8_gemm_infer(&A, &W, FP8GEMM_BF16, NULL, NULL, NULL, NULL, &ws) ==
            FP8GEMM_INVALID_ARGUMENT,
        "NULL out_desc");
}

/* Random small operands: e4m3fn input [*, K], weight [K, N], per-token-free scales. */
static void fill_fp8(tbuf *b, rng *r) { fill(b, r); }

/* Runs fp8_gemm with f32 out into a fresh buffer; returns it (caller frees). */
static float *run_f32(const fp8gemm_tensor *a, const fp8gemm_tensor *w, const fp8gemm_tensor *sa,
                      const fp8gemm_tensor *sw, int ndim, const int64_t *od) {
  int64_t n = fp8g_dims_product(od, 0, ndim);
  float *out = malloc((size_t)n * sizeof(float));
  fp8gemm_tensor o = desc_of(FP8GEMM_F32, ndim, od, out);
  fp8gemm_status s = fp8gemm_fp8_gemm(a, w, FP8GEMM_F32, sa, sw, NULL, &o);
  CHECK(s == FP8GEMM_OK, "run: %s", fp8gemm_last_error());
  return out;
}

/* PR #39984's fake returned [prod(leading), N]; the op keeps the leading dims. */
static void named_3d_input(rng *r) {
  int64_t in3[3] = {2, 7, 64}, in2[2] = {14, 64}, w[2] = {64, 48}, o3[3] = {2, 7, 48},
          o2[2] = {14, 48};
  tbuf a, wt;
  tb_make(&a, FP8GEMM_E4M3FN, 3, in3, r, TB_CONTIGUOUS);
  tb_make(&wt, FP8GEMM_E4M3FN, 2, w, r, TB_SWAP_LAST);
  fill_fp8(&a, r);
  fill_fp8(&wt, r);
  fp8gemm_tensor O;
  CHECK(fp8gemm_fp8_gemm_infer(&a.t, &wt.t, FP8GEMM_F32, NULL, NULL, NULL, &O, NULL) ==
                FP8GEMM_OK &&
            O.ndim == 3 && O.dims[0] == 2 && O.dims[1] == 7 && O.dims[2] == 48,
        "3-D input [2, 7, 64] -> [2, 7, 48], not [14, 48]");
  float *got = run_f32(&a.t, &wt.t, NULL, NULL, 3, o3);
  fp8gemm_tensor flat = a.t;
  flat.ndim = 2;
  flat.dims[0] = in2[0];
  flat.dims[1] = in2[1];
  flat.strides[0] = 64;
  flat.strides[1] = 1;
  float *ref = run_f32(&flat, &wt.t, NULL, NULL, 2, o2);
  CHECK(memcmp(got, ref, 14 * 48 * sizeof(float)) == 0, "3-D equals its 2-D flattening");
  /* a [14, N] out descriptor is rejected for a 3-D input, out untouched */
  memset(got, 0x5A, 14 * 48 * sizeof(float));
  fp8gemm_tensor wrong = desc_of(FP8GEMM_F32, 2, o2, got);
  CHECK(fp8gemm_fp8_gemm(&a.t, &wt.t, FP8GEMM_F32, NULL, NULL, NULL, &wrong) ==
                FP8GEMM_INVALID_ARGUMENT &&
            ((uint8_t *)got)[0] == 0x5A && ((uint8_t *)got)[14 * 48 * 4 - 1] == 0x5A,
        "a flattened out is rejected: %s", fp8gemm_last_error());
  free(got);
  free(ref);
  tb_free(&a);
  tb_free(&wt);
}

static void named_permuted_input(rng *r) {
  /* logical [m = 3, b = 2, K] viewing storage [b, m, K] */
  int64_t view[3] = {3, 2, 64}, w[2] = {64, 10}, o[3] = {3, 2, 10};
  tbuf a, wt;
  tb_make(&a, FP8GEMM_E5M2, 3, view, r, TB_SWAP_FIRST);
  tb_make(&wt, FP8GEMM_E5M2, 2, w, r, TB_CONTIGUOUS);
  fill_fp8(&a, r);
  fill_fp8(&wt, r);
  CHECK(a.t.strides[0] == 64 && a.t.strides[1] == 3 * 64, "the view is permuted");
  int64_t sd[3] = {3, 2, 1};
  tbuf sa;
  tb_make(&sa, FP8GEMM_F32, 3, sd, r, TB_RANDOM);
  fill(&sa, r);
  fp8gemm_tensor O;
  CHECK(fp8gemm_fp8_gemm_infer(&a.t, &wt.t, FP8GEMM_F32, &sa.t, NULL, NULL, &O, NULL) ==
                FP8GEMM_OK &&
            O.ndim == 3 && O.dims[0] == 3 && O.dims[1] == 2 && O.dims[2] == 10 &&
            O.strides[0] == 20 && O.strides[1] == 10 && O.strides[2] == 1,
        "permuted [3, 2, 64] -> contiguous [3, 2, 10]");
  float *got = run_f32(&a.t, &wt.t, &sa.t, NULL, 3, o);
  /* a contiguous copy of the view must give the same numbers */
  tbuf c;
  tb_make(&c, FP8GEMM_E5M2, 3, view, r, TB_CONTIGUOUS);
  for (int64_t i = 0; i < 3 * 2 * 64; i++) tb_set_code(&c, i, tb_code(&a, i));
  float *ref = run_f32(&c.t, &wt.t, &sa.t, NULL, 3, o);
  CHECK(memcmp(got, ref, 60 * sizeof(float)) == 0, "permuted view equals its contiguous copy");
  free(got);
  free(ref);
  tb_free(&a);
  tb_free(&wt);
  tb_free(&sa);
  tb_free(&c);
}

static void named_absent_out_dtype(rng *r) {
  int64_t in[2] = {4, 32}, w[2] = {32, 8}, o[2] = {4, 8};
  tbuf a, wt;
  tb_make(&a, FP8GEMM_E4M3FN, 2, in, r, TB_CONTIGUOUS);
  tb_make(&wt, FP8GEMM_E4M3FN, 2, w, r, TB_CONTIGUOUS);
  fill_fp8(&a, r);
  fill_fp8(&wt, r);
  fp8gemm_tensor O;
  CHECK(fp8gemm_fp8_gemm_infer(&a.t, &wt.t, FP8GEMM_DTYPE_NONE, NULL, NULL, NULL, &O, NULL) ==
                FP8GEMM_OK &&
            O.dtype == FP8GEMM_F16,
        "absent out_dtype -> f16");
  uint16_t buf[32];
  memset(buf, 0xEE, sizeof buf);
  fp8gemm_tensor bf = desc_of(FP8GEMM_BF16, 2, o, buf);
  CHECK(fp8gemm_fp8_gemm(&a.t, &wt.t, FP8GEMM_DTYPE_NONE, NULL, NULL, NULL, &bf) ==
                FP8GEMM_INVALID_ARGUMENT &&
            buf[0] == 0xEEEE && buf[31] == 0xEEEE,
        "a bf16 out for an absent out_dtype is rejected, untouched");
  fp8gemm_tensor f16 = desc_of(FP8GEMM_F16, 2, o, buf);
  CHECK(fp8gemm_fp8_gemm(&a.t, &wt.t, FP8GEMM_DTYPE_NONE, NULL, NULL, NULL, &f16) == FP8GEMM_OK,
        "f16 out accepted: %s", fp8gemm_last_error());
  /* equal to an explicit f16 request */
  uint16_t buf2[32];
  f16.data = buf2;
  fp8gemm_fp8_gemm(&a.t, &wt.t, FP8GEMM_F16, NULL, NULL, NULL, &f16);
  CHECK(memcmp(buf, buf2, sizeof buf) == 0, "absent == explicit f16");
  tb_free(&a);
  tb_free(&wt);
}

static void named_batched_weight(rng *r) {
  enum { B = 3, M = 5, K = 64, N = 7 };
  int64_t in[3] = {B, M, K}, w[3] = {B, K, N}, sw[3] = {B, 1, N}, o[3] = {B, M, N};
  tbuf a, wt, s;
  tb_make(&a, FP8GEMM_E4M3FN, 3, in, r, TB_RANDOM);
  tb_make(&wt, FP8GEMM_E4M3FN, 3, w, r, TB_SWAP_LAST);
  tb_make(&s, FP8GEMM_F32, 3, sw, r, TB_RANDOM);
  fill_fp8(&a, r);
  fill_fp8(&wt, r);
  fill(&s, r);
  fp8gemm_tensor O;
  CHECK(fp8gemm_fp8_gemm_infer(&a.t, &wt.t, FP8GEMM_F32, NULL, &s.t, NULL, &O, NULL) ==
                FP8GEMM_OK &&
            O.ndim == 3 && O.dims[0] == B && O.dims[1] == M && O.dims[2] == N,
        "batched [3, 5, 64] x [3, 64, 7] -> [3, 5, 7]: %s", fp8gemm_last_error());
  float *got = run_f32(&a.t, &wt.t, NULL, &s.t, 3, o);
  for (int b = 0; b < B; b++) { /* each batch = a 2-D call on its slices */
    fp8gemm_tensor ab = a.t, wb = wt.t, sb = s.t;
    ab.ndim = wb.ndim = 2;
    ab.data = (uint8_t *)a.t.data + b * a.t.strides[0];
    wb.data = (uint8_t *)wt.t.data + b * wt.t.strides[0];
    sb.data = (float *)s.t.data + b * s.t.strides[0];
    for (int i = 0; i < 2; i++) {
      ab.dims[i] = a.t.dims[i + 1];
      ab.strides[i] = a.t.strides[i + 1];
      wb.dims[i] = wt.t.dims[i + 1];
      wb.strides[i] = wt.t.strides[i + 1];
      sb.dims[i] = s.t.dims[i + 1];
      sb.strides[i] = s.t.strides[i + 1];
    }
    sb.ndim = 2;
    int64_t o2[2] = {M, N};
    float *ref = run_f32(&ab, &wb, NULL, &sb, 2, o2);
    CHECK(memcmp(got + b * M * N, ref, M * N * sizeof(float)) == 0,
          "batch %d equals its own 2-D GEMM", b);
    free(ref);
  }
  /* a batched weight needs a [B, M, K] input */
  fp8gemm_tensor a2 = a.t;
  a2.ndim = 2;
  a2.dims[0] = B * M;
  a2.dims[1] = K;
  CHECK(fp8gemm_fp8_gemm_infer(&a2, &wt.t, FP8GEMM_F32, NULL, NULL, NULL, &O, NULL) ==
            FP8GEMM_INVALID_ARGUMENT,
        "batched weight with a 2-D input is rejected");
  free(got);
  tb_free(&a);
  tb_free(&wt);
  tb_free(&s);
}

static void named_edges(rng *r) {
  /* NULL data: shapes are fine (infer OK), the real op rejects */
  int64_t in[2] = {2, 32}, w[2] = {32, 3};
  fp8gemm_tensor A = desc_of(FP8GEMM_E4M3FN, 2, in, NULL), W = desc_of(FP8GEMM_E4M3FN, 2, w, NULL), O;
  float out[6];
  CHECK(fp8gemm_fp8_gemm_infer(&A, &W, FP8GEMM_F32, NULL, NULL, NULL, &O, NULL) == FP8GEMM_OK,
        "infer needs no data");
  O.data = out;
  CHECK(fp8gemm_fp8_gemm(&A, &W, FP8GEMM_F32, NULL, NULL, NULL, &O) == FP8GEMM_INVALID_ARGUMENT &&
            strstr(fp8gemm_last_error(), "data is NULL"),
        "the real op needs data: %s", fp8gemm_last_error());
  /* huge but empty: [2^40, 0] x [0, 0] -> [2^40, 0], nothing allocated */
  int64_t hin[2] = {(int64_t)1 << 40, 0}, hw[2] = {0, 0};
  fp8gemm_tensor HA = desc_of(FP8GEMM_E4M3FN, 2, hin, NULL), HW = desc_of(FP8GEMM_E4M3FN, 2, hw, NULL);
  size_t ws = 1;
  CHECK(fp8gemm_fp8_gemm_infer(&HA, &HW, FP8GEMM_BF16, NULL, NULL, NULL, &O, &ws) == FP8GEMM_OK &&
            O.dims[0] == hin[0] && O.dims[1] == 0 && ws == 0,
        "empty output with huge rows: %s", fp8gemm_last_error());
  CHECK(fp8gemm_fp8_gemm(&HA, &HW, FP8GEMM_BF16, NULL, NULL, NULL, &O) == FP8GEMM_OK,
        "empty output runs: %s", fp8gemm_last_error());
  /* K = 0: out = bias */
  int64_t zin[2] = {3, 0}, zw[2] = {0, 4}, zo[2] = {3, 4}, bd[1] = {4};
  float bias[4] = {1.5f, -2.0f, 0.0f, 1e-3f}, zout[12];
  uint8_t dummy[1];
  fp8gemm_tensor ZA = desc_of(FP8GEMM_E4M3FN, 2, zin, dummy), ZW = desc_of(FP8GEMM_E4M3FN, 2, zw, dummy),
                 ZB = desc_of(FP8GEMM_F32, 1, bd, bias), ZO = desc_of(FP8GEMM_F32, 2, zo, zout);
  CHECK(fp8gemm_fp8_gemm(&ZA, &ZW, FP8GEMM_F32, NULL, NULL, &ZB, &ZO) == FP8GEMM_OK &&
            memcmp(zout, bias, sizeof bias) == 0 && memcmp(zout + 8, bias, sizeof bias) == 0,
        "K = 0 gives the bias: %s", fp8gemm_last_error());
  /* coinciding shapes mean the same numbers: K <= 128, N <= 128: [M, 1] input scales with
   * a [1, 1] weight scale (per-token x per-tensor, or block x block) == with a [1] one */
  int64_t cin[2] = {4, 100}, cw[2] = {100, 6}, co[2] = {4, 6}, cs[2] = {4, 1}, one[2] = {1, 1};
  tbuf a, wt, sa, sw1, sw2;
  tb_make(&a, FP8GEMM_E4M3FN, 2, cin, r, TB_RANDOM);
  tb_make(&wt, FP8GEMM_E4M3FN, 2, cw, r, TB_RANDOM);
  tb_make(&sa, FP8GEMM_F32, 2, cs, r, TB_RANDOM);
  tb_make(&sw1, FP8GEMM_F32, 2, one, r, TB_CONTIGUOUS);
  tb_make(&sw2, FP8GEMM_F32, 1, one, r, TB_CONTIGUOUS);
  fill(&a, r);
  fill(&wt, r);
  fill(&sa, r);
  fill(&sw1, r);
  tb_set_wide(&sw2, 0, (float)tb_wide(&sw1, 0));
  float *x = run_f32(&a.t, &wt.t, &sa.t, &sw1.t, 2, co), *y = run_f32(&a.t, &wt.t, &sa.t, &sw2.t, 2, co);
  CHECK(memcmp(x, y, 24 * sizeof(float)) == 0, "coinciding scale shapes agree");
  free(x);
  free(y);
  tb_free(&a);
  tb_free(&wt);
  tb_free(&sa);
  tb_free(&sw1);
  tb_free(&sw2);
}

/* The capability query: the reference under the scalar cap, never a kernel above the cap,
 * UNIMPLEMENTED for what the ops do not serve. */
static void query(void) {
  static const fp8gemm_scheme w8a8[] = {FP8GEMM_SCHEME_PER_TENSOR, FP8GEMM_SCHEME_PER_TOKEN,
                                        FP8GEMM_SCHEME_BLOCK, FP8GEMM_SCHEME_MX};
  static const fp8gemm_scheme w8a16[] = {FP8GEMM_SCHEME_PER_TENSOR, FP8GEMM_SCHEME_PER_TOKEN,
                                         FP8GEMM_SCHEME_GROUP, FP8GEMM_SCHEME_BLOCK,
                                         FP8GEMM_SCHEME_MX};
  for (int isa = 0; isa <= (int)fp8gemm_isa_detected(); isa++) {
    fp8gemm_set_max_isa((fp8gemm_isa)isa);
    for (size_t d = 0; d < 4; d++) {
      for (int op = 0; op < 2; op++) {
        const fp8gemm_scheme *sc = op ? w8a16 : w8a8;
        size_t n = op ? 5 : 4;
        for (size_t i = 0; i < n; i++) {
          fp8gemm_kernel_info info = {NULL, FP8GEMM_ISA_COUNT};
          fp8gemm_status s = op ? fp8g_query_fp8_gemm_w8a16(sc[i], fp8s[d], &info)
                                : fp8g_query_fp8_gemm(sc[i], fp8s[d], &info);
          CHECK(s == FP8GEMM_OK && info.name && (int)info.isa <= isa,
                "query op %d scheme %d dtype %s isa %d: %s", op, (int)sc[i],
                fp8g_dtype_str(fp8s[d]), isa, fp8gemm_last_error());
          if (isa == 0)
            CHECK(s == FP8GEMM_OK && strstr(info.name, "ref") != NULL,
                  "scalar cap: the reference serves (%s)", info.name ? info.name : "NULL");
        }
      }
    }
  }
  fp8gemm_kernel_info info;
  CHECK(fp8g_query_fp8_gemm(FP8GEMM_SCHEME_GROUP, FP8GEMM_E4M3FN, &info) == FP8GEMM_UNIMPLEMENTED,
        "fp8_gemm has no group scheme");
  CHECK(fp8g_query_fp8_gemm(FP8GEMM_SCHEME_PER_TENSOR, FP8GEMM_BF16, &info) ==
            FP8GEMM_UNIMPLEMENTED && strstr(fp8gemm_last_error(), "bf16"),
        "fp8_gemm on bf16: %s", fp8gemm_last_error());
  CHECK(fp8g_query_fp8_gemm_w8a16(FP8GEMM_SCHEME_BLOCK2D, FP8GEMM_E5M2, &info) ==
            FP8GEMM_UNIMPLEMENTED,
        "w8a16 has no block2d scheme");
  CHECK(fp8g_query_fp8_gemm_w8a16((fp8gemm_scheme)99, FP8GEMM_E5M2, &info) ==
            FP8GEMM_UNIMPLEMENTED && strstr(fp8gemm_last_error(), "invalid"),
        "invalid scheme: %s", fp8gemm_last_error());
}

int main(void) {
  bool sanitized = getenv("FP8GEMM_SANITIZED") != NULL;
  rng r = {0x6d657461u};
  spec_example();
  query();
  fp8gemm_set_max_isa(FP8GEMM_ISA_SCALAR); /* bitwise comparisons below: one kernel */
  named_3d_input(&r);
  named_permuted_input(&r);
  named_absent_out_dtype(&r);
  named_batched_weight(&r);
  named_edges(&r);
  for (int isa = 0; isa <= (int)fp8gemm_isa_detected(); isa++) {
    fp8gemm_set_max_isa((fp8gemm_isa)isa);
    n_valid = n_invalid = 0;
    generated(&r, sanitized ? 1500 : 4000);
    printf("isa %s: %ld valid and %ld invalid generated cases\n", fp8gemm_isa_name(isa), n_valid,
           n_invalid);
  }
  for (int isa = (int)fp8gemm_isa_detected() + 1; isa < FP8GEMM_ISA_COUNT; isa++)
    printf("isa %s: not available on this CPU, not tested\n", fp8gemm_isa_name(isa));
  return test_summary();
}
