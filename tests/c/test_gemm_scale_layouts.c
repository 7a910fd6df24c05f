/*
 * fp8_gemm / fp8_gemm_w8a16: the result does not depend on how the scales and the bias
 * are laid out. The op layer reads dense f32 / e8m0 scales in place and gathers every
 * other layout (docs/c-api.md, "Scale layouts"); for every scale kind of both ops the
 * output with the scales passed
 *   (a) contiguous,
 *   (b) as the NT view of transposed storage (a checkpoint's [N, K/32] MX scale, an
 *       [N/128, K/128] block scale, ...),
 *   (c) padded / stepped / permuted, or at an odd address,
 *   (d) in the batched [B, ...] forms (and a stride-0 batch dim),
 * is bitwise that of (a), on every ISA level of this CPU, 1 and 2 threads, M = 1, 5, 40.
 * NaN codes in the strided layouts give NaN in exactly the right columns; bad strides
 * give the documented errors with `out` untouched. The MX weight scale read natively as
 * [N, K/32] by the decode kernel (its NT view, padded rows too; its hand-offs to
 * gemv_avx2) gives the contiguous bits (mx_native), and the op layer really hands that
 * kernel the caller's codes, not a copy (mx_native_in_place). fp8g_gather_dense itself is checked
 * against per-element indexing at awkward sizes.
 */
#include <stdio.h>

#include "check.h"
#include "gemm_test_util.h"
#include "kernels/avx2/gemv_avx2.h"
#include "kernels/avx512_bf16/gemv_avx512bf16.h"
#include "core/dense_gather.h"
#include "ops/gemm_infer.h"
#if defined(__SSE__) || defined(__x86_64__)
#include <xmmintrin.h>
#endif

enum { N = 200, K = 576, B = 3 }; /* N, K not multiples of 64 / 128: partial panels and blocks */

/* ------------------------------------------------------------------ layouts */
typedef enum layout { L_CONTIG, L_NT, L_PADDED, L_RANDOM, L_ODD, L_COUNT } layout;
static const char *const layout_names[] = {"contiguous", "nt-view", "padded", "random", "odd-address"};

/* A tensor of logical dims in `lay` whose element i holds vals[i] (codes for e8m0 and
 * fp8, floats for wide dtypes). Bytes outside the view are NaN. */
typedef struct vals {
  fp8gemm_dtype dt;
  int ndim;
  int64_t dims[4];
  uint8_t *codes;
  float *f;
} vals;

static int64_t vals_numel(const vals *v) { return fp8g_dims_product(v->dims, 0, v->ndim); }

static void make(tbuf *b, const vals *v, layout lay, rng *r) {
  switch (lay) {
    case L_NT: tb_make(b, v->dt, v->ndim, v->dims, r, TB_SWAP_LAST); break;
    case L_RANDOM: tb_make(b, v->dt, v->ndim, v->dims, r, TB_RANDOM); break;
    case L_PADDED: { /* row-major order, every dim padded by 1..3, innermost step 2 */
      tb_make(b, v->dt, v->ndim, v->dims, r, TB_CONTIGUOUS);
      tb_free(b);
      int64_t stride = 2, span = 1;
      for (int d = v->ndim - 1; d >= 0; d--) {
        b->t.strides[d] = stride;
        span += (v->dims[d] - 1) * stride;
        stride *= v->dims[d] + rng_int(r, 1, 3);
      }
      b->bytes = (size_t)span * elem_bytes(v->dt);
      b->mem = malloc(b->bytes);
      memset(b->mem, nan_byte(v->dt), b->bytes);
      b->t.data = b->mem;
      break;
    }
    case L_ODD: { /* contiguous, data one element past a 64-byte boundary (+1 byte for codes) */
      tb_make(b, v->dt, v->ndim, v->dims, r, TB_CONTIGUOUS);
      size_t shift = elem_bytes(v->dt) == 1 ? 3 : elem_bytes(v->dt);
      uint8_t *mem = malloc(b->bytes + 64 + shift);
      memset(mem, nan_byte(v->dt), b->bytes + 64 + shift);
      free(b->mem);
      b->mem = mem;
      b->t.data = mem + 64 + shift; /* the dtype's alignment, not more */
      b->bytes += 64 + shift;
      break;
    }
    default: tb_make(b, v->dt, v->ndim, v->dims, r, TB_CONTIGUOUS); break;
  }
  int64_t n = vals_numel(v);
  const fp8gemm_tensor *t = &b->t;
  uint8_t *base = t->data;
  for (int64_t i = 0; i < n; i++) {
    int64_t off = fp8g_offset_of(t, t->ndim, i);
    if (v->codes) base[off] = v->codes[i];
    else if (v->dt == FP8GEMM_F32) memcpy(base + off * 4, &v->f[i], 4);
    else {
      uint16_t h = v->dt == FP8GEMM_BF16 ? fp8g_f32_to_bf16(v->f[i]) : fp8g_f32_to_f16(v->f[i]);
      memcpy(base + off * 2, &h, 2);
    }
  }
}

/* L_ODD puts data at mem + 64 + shift; tb_free frees mem. */
static void unmake(tbuf *b) { tb_free(b); }

static void vals_init(vals *v, fp8gemm_dtype dt, int ndim, const int64_t *dims, rng *r) {
  memset(v, 0, sizeof *v);
  v->dt = dt;
  v->ndim = ndim;
  for (int i = 0; i < ndim; i++) v->dims[i] = dims[i];
  int64_t n = vals_numel(v);
  if (dt == FP8GEMM_E8M0 || fp8gemm_dtype_is_fp8(dt)) {
    v->codes = malloc((size_t)(n > 0 ? n : 1));
    for (int64_t i = 0; i < n; i++)
      v->codes[i] = dt == FP8GEMM_E8M0 ? (uint8_t)rng_int(r, 122, 132)
                                       : fp8g_encode(dt, (float)(rng_int(r, -8, 8) * 0.25), true);
  } else { /* 4 significant bits: exact in bf16 and f16 */
    v->f = malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
    for (int64_t i = 0; i < n; i++)
      v->f[i] = ldexpf(1.0f + (float)rng_int(r, 0, 7) / 8.0f, (int)rng_int(r, -3, 2)) *
                (rng_int(r, 0, 5) == 0 ? -1.0f : 1.0f);
  }
}

static void vals_free(vals *v) {
  free(v->codes);
  free(v->f);
}

/* ------------------------------------------------------------------ cases */
typedef enum kind {
  W8A8_TENSOR, W8A8_TOKEN_CHANNEL, W8A8_TOKEN_TENSOR, W8A8_TENSOR_CHANNEL, W8A8_BLOCK, W8A8_MX,
  W8A16_TENSOR, W8A16_CHANNEL, W8A16_GROUP, W8A16_BLOCK, KIND_COUNT
} kind;
static const char *const kind_names[] = {
    "w8a8 per-tensor", "w8a8 per-token x per-channel", "w8a8 per-token x per-tensor",
    "w8a8 per-tensor x per-channel", "w8a8 block", "w8a8 mx", "w8a16 per-tensor",
    "w8a16 per-channel", "w8a16 groups", "w8a16 blocks"};

typedef struct problem {
  kind k;
  bool w8a16, batched, has_sa, has_bias;
  int64_t m, g;
  fp8gemm_dtype sw_dt, bias_dt;
  vals x, w, sa, sw, bias;
  tbuf xt, wt; /* the input (contiguous) and the weight (NT view), built once */
} problem;

static int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

static void problem_init(problem *p, kind k, int64_t m, bool batched, fp8gemm_dtype sw_dt,
                         int64_t g, rng *r) {
  memset(p, 0, sizeof *p);
  p->k = k;
  p->m = m;
  p->g = g;
  p->batched = batched;
  p->w8a16 = k >= W8A16_TENSOR;
  p->sw_dt = sw_dt;
  int64_t xd[3] = {B, m, K}, wd[3] = {B, K, N};
  int lead = batched ? 1 : 0; /* the [B] dim of batched forms */
  vals_init(&p->x, p->w8a16 ? FP8GEMM_BF16 : FP8GEMM_E4M3FN, 2 + lead, xd + 1 - lead, r);
  vals_init(&p->w, FP8GEMM_E4M3FN, 2 + lead, wd + 1 - lead, r);
  make(&p->xt, &p->x, L_CONTIG, r);
  make(&p->wt, &p->w, L_NT, r);
  /* Input scales: [rows, x] written [B, M, x] when batched. */
  int64_t sa_last = 0;
  fp8gemm_dtype sa_dt = FP8GEMM_F32;
  switch (k) {
    case W8A8_TENSOR: case W8A8_TENSOR_CHANNEL: sa_last = -1; break;
    case W8A8_TOKEN_CHANNEL: case W8A8_TOKEN_TENSOR: sa_last = 1; break;
    case W8A8_BLOCK: sa_last = cdiv(K, 128); break;
    case W8A8_MX: sa_last = K / 32; sa_dt = FP8GEMM_E8M0; break;
    default: break;
  }
  p->has_sa = sa_last != 0;
  if (sa_last == -1) {
    int64_t one[1] = {1};
    vals_init(&p->sa, sa_dt, 1, one, r);
  } else if (sa_last > 0) {
    int64_t sd[3] = {B, m, sa_last};
    vals_init(&p->sa, sa_dt, 2 + lead, sd + 1 - lead, r);
  }
  /* Weight scales: [x, y], per batch [B, x, y] when batched. */
  int64_t x = 1, y = 1;
  switch (k) {
    case W8A8_TOKEN_CHANNEL: case W8A8_TENSOR_CHANNEL: case W8A16_CHANNEL: y = N; break;
    case W8A8_BLOCK: x = cdiv(K, 128), y = cdiv(N, 128); break;
    case W8A8_MX: x = K / 32, y = N; break;
    case W8A16_GROUP: x = cdiv(K, g), y = N; break;
    case W8A16_BLOCK: x = cdiv(K, g), y = cdiv(N, g); break;
    default: break;
  }
  if (k == W8A8_TENSOR_CHANNEL) x = N, y = 1; /* the [N, 1] reading of per-channel */
  int64_t swd[3] = {B, x, y};
  vals_init(&p->sw, sw_dt, 2 + lead, swd + 1 - lead, r);
  /* A bias per column on every other kind, full on the rest. */
  p->has_bias = k % 2 == 0;
  if (p->has_bias) {
    p->bias_dt = k % 4 == 0 ? FP8GEMM_F32 : FP8GEMM_BF16;
    int64_t bd[3] = {B, m, N};
    if (k % 3 == 0) vals_init(&p->bias, p->bias_dt, 2 + lead, bd + 1 - lead, r);
    else vals_init(&p->bias, p->bias_dt, 1, bd + 2, r);
  }
}

static void problem_free(problem *p) {
  unmake(&p->xt);
  unmake(&p->wt);
  vals_free(&p->x);
  vals_free(&p->w);
  if (p->has_sa) vals_free(&p->sa);
  vals_free(&p->sw);
  if (p->has_bias) vals_free(&p->bias);
}

/* Runs the op with the scales (and bias) in `lay`; the weight is its NT view, the input
 * contiguous. Writes f32 out (rows x N) and returns the status. */
static fp8gemm_status run(const problem *p, layout lay, rng *r, float *out) {
  const tbuf *x = &p->xt, *w = &p->wt;
  tbuf sa = {0}, sw, bias = {0};
  if (p->has_sa) make(&sa, &p->sa, lay, r);
  make(&sw, &p->sw, lay, r);
  if (p->has_bias) make(&bias, &p->bias, lay, r);
  int64_t od[3] = {B, p->m, N};
  int lead = p->batched ? 1 : 0;
  fp8gemm_tensor o;
  fp8gemm_tensor_init(&o, p->w8a16 ? FP8GEMM_BF16 : FP8GEMM_F32, 2 + lead, od + 1 - lead, NULL);
  int64_t rows = p->batched ? B * p->m : p->m;
  uint16_t *o16 = malloc((size_t)(rows * N) * 2);
  o.data = p->w8a16 ? (void *)o16 : (void *)out;
  fp8gemm_status s =
      p->w8a16 ? fp8gemm_fp8_gemm_w8a16(&x->t, &w->t, &sw.t, p->has_bias ? &bias.t : NULL, &o)
               : fp8gemm_fp8_gemm(&x->t, &w->t, FP8GEMM_F32, p->has_sa ? &sa.t : NULL, &sw.t,
                                  p->has_bias ? &bias.t : NULL, &o);
  if (p->w8a16)
    for (int64_t i = 0; i < rows * N; i++) out[i] = fp8g_bf16_to_f32(o16[i]);
  free(o16);
  if (p->has_sa) unmake(&sa);
  unmake(&sw);
  if (p->has_bias) unmake(&bias);
  return s;
}

static long cases;

/* Every layout gives the bits of the contiguous one. */
static void check_problem(problem *p, rng *r, const char *what) {
  int64_t rows = p->batched ? B * p->m : p->m;
  float *ref = malloc((size_t)(rows * N) * sizeof(float));
  float *got = malloc((size_t)(rows * N) * sizeof(float));
  fp8gemm_status s = run(p, L_CONTIG, r, ref);
  CHECK(s == FP8GEMM_OK, "%s: %s", what, fp8gemm_last_error());
  for (int lay = L_NT; lay < L_COUNT && s == FP8GEMM_OK; lay++) {
    fp8gemm_status s2 = run(p, (layout)lay, r, got);
    CHECK(s2 == FP8GEMM_OK, "%s %s: %s", what, layout_names[lay], fp8gemm_last_error());
    CHECK(s2 != FP8GEMM_OK || memcmp(ref, got, (size_t)(rows * N) * sizeof(float)) == 0,
          "%s: %s scales differ from contiguous ones", what, layout_names[lay]);
    cases++;
  }
  free(ref);
  free(got);
}

/* quick: M = 1 and 5 only (the sanitizer run below the best ISA level) */
static void sweep(rng *r, bool quick) {
  static const int64_t ms[] = {1, 5, 40};
  for (int k = 0; k < KIND_COUNT; k++)
    for (size_t mi = 0; mi < (quick ? 2 : sizeof ms / sizeof ms[0]); mi++)
      for (int batched = 0; batched < 2; batched++) {
        /* weight-scale dtypes and group sizes of the kind */
        fp8gemm_dtype dts[3] = {k == W8A8_MX ? FP8GEMM_E8M0 : FP8GEMM_F32};
        int ndt = 1;
        if (k >= W8A16_TENSOR) dts[ndt++] = FP8GEMM_BF16;
        if (k == W8A16_TENSOR || k == W8A16_GROUP || k == W8A16_BLOCK) dts[ndt++] = FP8GEMM_E8M0;
        static const int64_t groups[] = {32, 64, 128};
        int ng = k == W8A16_GROUP || k == W8A16_BLOCK ? 3 : 1;
        for (int d = 0; d < ndt; d++)
          for (int gi = 0; gi < ng; gi++) {
            problem p;
            problem_init(&p, (kind)k, ms[mi], batched, dts[d], groups[gi], r);
            char what[160];
            snprintf(what, sizeof what, "%s, sw %s, g %lld, M %lld%s, isa %s, %d threads",
                     kind_names[k], fp8g_dtype_str(dts[d]), (long long)groups[gi],
                     (long long)ms[mi], batched ? ", batched" : "",
                     fp8gemm_isa_name(fp8gemm_isa_active()), fp8gemm_get_num_threads());
            check_problem(&p, r, what);
            problem_free(&p);
          }
      }
}

/* ------------------------------------------------------------------ stride 0 batch */
/* A per-batch weight scale [B, x, y] whose batch stride is 0 (one matrix, expanded) is the
 * shared [x, y] one: in place or transposed. */
static void broadcast_batch(rng *r) {
  problem p;
  problem_init(&p, W8A8_MX, 5, true, FP8GEMM_E8M0, 32, r);
  int64_t rows = B * p.m;
  float *ref = malloc((size_t)(rows * N) * sizeof(float)), *got = malloc((size_t)(rows * N) * sizeof(float));
  /* shared: [K/32, N] with batch 0's codes */
  problem shared = p;
  vals sw2 = p.sw;
  sw2.ndim = 2;
  sw2.dims[0] = K / 32;
  sw2.dims[1] = N;
  shared.sw = sw2;
  fp8gemm_status s = run(&shared, L_CONTIG, r, ref);
  CHECK(s == FP8GEMM_OK, "broadcast: %s", fp8gemm_last_error());
  for (int nt = 0; nt < 2; nt++) {
    tbuf sa, sw;
    make(&sa, &p.sa, L_CONTIG, r);
    make(&sw, &sw2, nt ? L_NT : L_CONTIG, r);
    fp8gemm_tensor view = sw.t; /* [B, K/32, N], batch stride 0 */
    view.ndim = 3;
    view.dims[0] = B, view.dims[1] = K / 32, view.dims[2] = N;
    view.strides[0] = 0, view.strides[1] = sw.t.strides[0], view.strides[2] = sw.t.strides[1];
    int64_t od[3] = {B, p.m, N};
    fp8gemm_tensor o;
    fp8gemm_tensor_init(&o, FP8GEMM_F32, 3, od, got);
    s = fp8gemm_fp8_gemm(&p.xt.t, &p.wt.t, FP8GEMM_F32, &sa.t, &view, NULL, &o);
    CHECK(s == FP8GEMM_OK, "broadcast: %s", fp8gemm_last_error());
    CHECK(memcmp(ref, got, (size_t)(rows * N) * sizeof(float)) == 0,
          "stride-0 batch dim (%s) differs from the shared scale", nt ? "nt" : "contiguous");
    unmake(&sa), unmake(&sw);
  }
  free(ref);
  free(got);
  problem_free(&p);
}

/* ------------------------------------------------------------------ NaN */
/* NaN scales in strided layouts: NaN in exactly the columns they scale. */
static void nan_columns(rng *r) {
  static const kind kinds[] = {W8A8_MX, W8A8_BLOCK, W8A16_GROUP, W8A8_TOKEN_CHANNEL};
  for (size_t ki = 0; ki < sizeof kinds / sizeof kinds[0]; ki++)
    for (int batched = 0; batched < 2; batched++) {
      kind k = kinds[ki];
      fp8gemm_dtype dt = k == W8A8_MX || k == W8A16_GROUP ? FP8GEMM_E8M0 : FP8GEMM_F32;
      problem p;
      problem_init(&p, k, 5, batched, dt, 32, r);
      p.has_bias = false;
      vals_free(&p.bias);
      memset(&p.bias, 0, sizeof p.bias);
      bool nan_col[N] = {false};
      int64_t per = vals_numel(&p.sw) / (batched ? B : 1), y = p.sw.dims[p.sw.ndim - 1];
      /* Entries of the last batch's [x, y] matrix: (1, 7) and the last one; for block
       * scales (K block 1, N block 1) only, which covers columns 128..N-1. */
      int64_t at[2] = {(per / y > 1 ? y : 0) + (y > 7 ? 7 : 1), per - 1};
      int nat = k == W8A8_BLOCK ? 1 : 2;
      for (int i = 0; i < nat; i++) {
        int64_t flat = (batched ? (B - 1) * per : 0) + at[i];
        if (p.sw.codes) p.sw.codes[flat] = 0xFF;
        else p.sw.f[flat] = NAN;
        int64_t col = at[i] % y;
        int64_t c0 = k == W8A8_BLOCK ? col * 128 : col, c1 = k == W8A8_BLOCK ? c0 + 128 : c0 + 1;
        for (int64_t c = c0; c < c1 && c < N; c++) nan_col[c] = true;
      }
      int64_t rows = batched ? B * p.m : p.m;
      float *out = malloc((size_t)(rows * N) * sizeof(float));
      for (int lay = 0; lay < L_COUNT; lay++) {
        fp8gemm_status s = run(&p, (layout)lay, r, out);
        CHECK(s == FP8GEMM_OK, "nan %s: %s", kind_names[k], fp8gemm_last_error());
        int wrong = 0;
        for (int64_t row = 0; row < rows; row++) {
          bool scaled = !batched || row / p.m == B - 1; /* the NaNs sit in the last batch */
          for (int64_t c = 0; c < N; c++) wrong += (bool)isnan(out[row * N + c]) != (scaled && nan_col[c]);
        }
        CHECK(s != FP8GEMM_OK || wrong == 0, "nan %s%s, %s scales: %d outputs wrong", kind_names[k],
              batched ? " batched" : "", layout_names[lay], wrong);
      }
      free(out);
      problem_free(&p);
    }
}

/* ------------------------------------------------------------------ MX [N, K/32] natively */
/* The decode kernel reads a column-major MX weight scale (the NT view of [N, K/32], also
 * with padded rows) in place; everything else, and its own fallbacks to gemv_avx2
 * (codes that fail its fold check, a non-default MXCSR), gets it as [K/32, N]. Both must
 * give the bits of the contiguous scale: K/32 odd, N not a multiple of 64, shared and
 * per-batch scales, NaN codes. */
typedef enum codes_mode { CODES_NORMAL, CODES_EXTREME, CODES_NAN, CODES_MXCSR, CODES_COUNT } codes_mode;
static const char *const codes_names[] = {"normal codes", "extreme codes", "NaN codes", "normal codes, FTZ"};

/* The weight scale [*, K/32, N] (lead: 0 none, 1 shared [1, ...], 2 per batch [B, ...])
 * as the column-major view of [*, N, ld] storage, ld >= K/32. */
static void make_cols(tbuf *b, const vals *v, int lead, int64_t ld) {
  int64_t x = v->dims[v->ndim - 2], y = v->dims[v->ndim - 1], nb = lead == 2 ? v->dims[0] : 1;
  int64_t per = y * ld + 5; /* batches a few bytes apart too */
  b->bytes = (size_t)(nb * per);
  b->mem = malloc(b->bytes);
  memset(b->mem, 0xFF, b->bytes); /* NaN codes outside the view */
  fp8gemm_tensor_init(&b->t, FP8GEMM_E8M0, v->ndim, v->dims, b->mem);
  int d = v->ndim - 2;
  b->t.strides[d] = 1;
  b->t.strides[d + 1] = ld;
  if (lead) b->t.strides[0] = lead == 2 ? per : 0;
  for (int64_t i = 0; i < nb * x * y; i++) b->mem[fp8g_offset_of(&b->t, b->t.ndim, i)] = v->codes[i];
}

static void mx_native(rng *r) {
  static const struct { int64_t m, n, k; } shapes[] = {
      {1, 200, 576}, {1, 67, 544}, {16, 64, 1056}, {5, 129, 96}, {2, 131, 2080}, {3, 1, 64}, {4, 70, 32}};
  bool bf16_kernel = fp8gemm_isa_active() >= FP8GEMM_ISA_AVX512_BF16;
  for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
    for (int lead = 0; lead < 3; lead++)
      for (int mode = 0; mode < CODES_COUNT; mode++) {
        int64_t m = shapes[si].m, n = shapes[si].n, k = shapes[si].k, kb = k / 32, nb = lead ? B : 1;
        if (lead && nb * m > 16) m = 16 / nb; /* keep it a decode call */
        int64_t xd[3] = {nb, m, k}, wd[3] = {nb, k, n}, ad[3] = {nb, m, kb}, sd[3] = {nb, kb, n};
        int x_lead = lead ? 1 : 0;
        vals x, w, sa, sw;
        vals_init(&x, FP8GEMM_E4M3FN, 2 + x_lead, xd + 1 - x_lead, r);
        vals_init(&w, FP8GEMM_E4M3FN, 2 + x_lead, wd + 1 - x_lead, r);
        vals_init(&sa, FP8GEMM_E8M0, 2 + x_lead, ad + 1 - x_lead, r);
        sd[0] = lead == 2 ? B : 1;
        vals_init(&sw, FP8GEMM_E8M0, 2 + x_lead, sd + 1 - x_lead, r);
        int64_t nsw = vals_numel(&sw);
        if (mode == CODES_EXTREME) /* the fold check fails: 2^-125 times an fp8 subnormal */
          for (int i = 0; i < 2; i++) sw.codes[rng_int(r, 0, nsw - 1)] = 2;
        if (mode == CODES_NAN)
          for (int i = 0; i < 2; i++) sw.codes[rng_int(r, 0, nsw - 1)] = 0xFF;
        tbuf xt, wt, sat, swt[3];
        make(&xt, &x, L_CONTIG, r);
        make(&wt, &w, L_NT, r);
        make(&sat, &sa, L_CONTIG, r);
        make(&swt[0], &sw, L_CONTIG, r);
        make_cols(&swt[1], &sw, lead, kb);                  /* the NT view of [N, K/32] */
        make_cols(&swt[2], &sw, lead, kb + rng_int(r, 1, 9)); /* rows padded */
        int64_t rows = nb * m;
        float *out[3];
        unsigned csr = 0;
#if defined(__SSE__) || defined(__x86_64__)
        csr = _mm_getcsr();
        if (mode == CODES_MXCSR) _mm_setcsr(csr | 0x8000u); /* FTZ: the kernel hands the call on */
#endif
        long fb0 = fp8g_gemv_bf16_fallbacks();
        for (int l = 0; l < 3; l++) {
          out[l] = malloc((size_t)(rows * n) * sizeof(float));
          int64_t od[3] = {nb, m, n};
          fp8gemm_tensor o;
          fp8gemm_tensor_init(&o, FP8GEMM_F32, 2 + x_lead, od + 1 - x_lead, out[l]);
          fp8gemm_status st = fp8gemm_fp8_gemm(&xt.t, &wt.t, FP8GEMM_F32, &sat.t, &swt[l].t, NULL, &o);
          CHECK(st == FP8GEMM_OK, "mx native: %s", fp8gemm_last_error());
        }
        long fb = fp8g_gemv_bf16_fallbacks() - fb0;
#if defined(__SSE__) || defined(__x86_64__)
        _mm_setcsr(csr);
#endif
        char what[200];
        snprintf(what, sizeof what, "mx %lld x %lld x %lld, %s, %s, isa %s, %d threads", (long long)m,
                 (long long)n, (long long)k, lead == 2 ? "per-batch" : lead ? "shared [1, ...]" : "2-D",
                 codes_names[mode], fp8gemm_isa_name(fp8gemm_isa_active()), fp8gemm_get_num_threads());
        for (int l = 1; l < 3; l++)
          CHECK(memcmp(out[0], out[l], (size_t)(rows * n) * sizeof(float)) == 0, "%s: %s scale differs from the contiguous one",
                what, l == 1 ? "nt-view" : "padded nt-view");
        int nans = 0;
        for (int64_t i = 0; i < rows * n; i++) nans += isnan(out[0][i]) != 0;
        CHECK((mode == CODES_NAN) == (nans > 0), "%s: %d NaN outputs", what, nans);
        /* on the decode kernel: the three calls stayed (normal, NaN) or were all handed on */
        bool fold_fails = mode == CODES_EXTREME || mode == CODES_MXCSR;
        CHECK(!bf16_kernel || fb == (fold_fails ? 3 : 0), "%s: %ld of 3 calls handed to gemv_avx2", what, fb);
        cases += 2;
        for (int l = 0; l < 3; l++) free(out[l]), tb_free(&swt[l]);
        unmake(&xt), unmake(&wt), unmake(&sat);
        vals_free(&x), vals_free(&w), vals_free(&sa), vals_free(&sw);
      }
}

/* The bits above would be the same if the op layer gathered [K/32, N] for the decode
 * kernel too; what proves that the checkpoint layout is read in place is the problem the
 * op layer hands to the selected kernel. A decode call selects gemv_avx512bf16 on
 * AVX512_BF16 and gemv_avx2 on AVX2; both declare reads_eb_cols and get the caller's
 * codes with their column stride; on lower levels the reference gets a [K/32, N] copy in
 * the workspace. */
static void mx_native_in_place(rng *r) {
  int64_t m = 3, n = 200, k = 576, kb = k / 32, ld = kb + 3;
  int64_t xd[2] = {m, k}, wd[2] = {k, n}, ad[2] = {m, kb}, sd[2] = {kb, n};
  vals x, w, sa, sw;
  vals_init(&x, FP8GEMM_E4M3FN, 2, xd, r);
  vals_init(&w, FP8GEMM_E4M3FN, 2, wd, r);
  vals_init(&sa, FP8GEMM_E8M0, 2, ad, r);
  vals_init(&sw, FP8GEMM_E8M0, 2, sd, r);
  tbuf xt, wt, sat, swt;
  make(&xt, &x, L_CONTIG, r);
  make(&wt, &w, L_NT, r);
  make(&sat, &sa, L_CONTIG, r);
  make_cols(&swt, &sw, 0, ld);
  fp8g_gemm_args a = {.op = FP8GEMM_OP_FP8_GEMM, .input = &xt.t, .weight = &wt.t, .out_dtype = FP8GEMM_BF16,
                      .input_scales = &sat.t, .weight_scale = &swt.t, .need_data = true};
  fp8g_gemm_plan plan;
  fp8gemm_status st = fp8g_gemm_infer(&a, &plan);
  CHECK(st == FP8GEMM_OK && plan.w_eb_ld == ld, "mx in place: infer %d, w_eb_ld %lld, expected %lld", (int)st,
        (long long)plan.w_eb_ld, (long long)ld);
  if (st == FP8GEMM_OK) {
    char *ws = aligned_alloc(64, (plan.workspace + 63) / 64 * 64);
    uint16_t out[3 * 200];
    fp8g_gemm_problem p;
    fp8g_gemm_prepare(&a, &plan, ws, out, &p);
    const fp8g_gemm_kernel *kern = fp8g_gemm_select(FP8GEMM_OP_FP8_GEMM, &p);
    fp8g_gemm_fit_scales(&a, &plan, ws, kern, &p);
    bool bf16_kernel = fp8gemm_isa_active() >= FP8GEMM_ISA_AVX512_BF16;
    bool decode_kernel = fp8gemm_isa_active() >= FP8GEMM_ISA_AVX2;
    const char *isa = fp8gemm_isa_name(fp8gemm_isa_active());
    const fp8g_gemm_kernel *want = bf16_kernel ? &fp8g_gemv_avx512bf16_w8a8 : &fp8g_gemv_avx2_w8a8;
    CHECK(!decode_kernel || kern == want, "mx in place, isa %s: selected %s, expected %s", isa, kern->name,
          want->name);
    uintptr_t eb = (uintptr_t)p.eb, w0 = (uintptr_t)ws;
    bool in_ws = eb >= w0 && eb < w0 + plan.workspace;
    if (decode_kernel)
      CHECK(p.eb == swt.mem && p.eb_ld == ld, "mx in place, isa %s: %s gets eb %s with eb_ld %lld, expected the caller's codes with %lld",
            isa, kern->name, in_ws ? "in the workspace" : "elsewhere", (long long)p.eb_ld, (long long)ld);
    else
      CHECK(in_ws && p.eb_ld == 0, "mx in place, isa %s: %s gets eb %s with eb_ld %lld, expected a [K/32, N] copy", isa,
            kern->name, in_ws ? "in the workspace" : "outside the workspace", (long long)p.eb_ld);
    cases++;
    free(ws);
  }
  tb_free(&swt);
  unmake(&xt), unmake(&wt), unmake(&sat);
  vals_free(&x), vals_free(&w), vals_free(&sa), vals_free(&sw);
}

/* ------------------------------------------------------------------ bad strides */
static void bad_strides(rng *r) {
  problem p;
  problem_init(&p, W8A8_MX, 5, false, FP8GEMM_E8M0, 32, r);
  tbuf sa, sw;
  const tbuf *x = &p.xt, *w = &p.wt;
  make(&sa, &p.sa, L_CONTIG, r);
  make(&sw, &p.sw, L_NT, r);
  float out[5 * N];
  int64_t od[2] = {5, N};
  fp8gemm_tensor o;
  fp8gemm_tensor_init(&o, FP8GEMM_F32, 2, od, out);
  struct { bool weight; int dim; int64_t stride; const char *msg; } bad[] = {
      {true, 0, -1, "fp8_gemm: weight_scale.stride[0]: expected >= 0, got -1"},
      {true, 1, -(K / 32), "fp8_gemm: weight_scale.stride[1]: expected >= 0, got -18"},
      {false, 1, -1, "fp8_gemm: input_scales.stride[1]: expected >= 0, got -1"},
      {true, 1, INT64_MAX / 8, "fp8_gemm: weight_scale: the strides reach past a 64-bit byte offset"},
      {false, 0, INT64_MAX / 2, "fp8_gemm: input_scales: the strides reach past a 64-bit byte offset"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    fp8gemm_tensor a_s = sa.t, w_s = sw.t;
    fp8gemm_tensor *t = bad[i].weight ? &w_s : &a_s;
    t->strides[bad[i].dim] = bad[i].stride;
    memset(out, 0x5A, sizeof out);
    fp8gemm_status s = fp8gemm_fp8_gemm(&x->t, &w->t, FP8GEMM_F32, &a_s, &w_s, NULL, &o);
    CHECK(s == FP8GEMM_INVALID_ARGUMENT && strcmp(fp8gemm_last_error(), bad[i].msg) == 0,
          "bad stride %zu: status %d, message '%s', expected '%s'", i, (int)s,
          fp8gemm_last_error(), bad[i].msg);
    bool untouched = true;
    for (size_t j = 0; j < sizeof out; j++) untouched &= ((uint8_t *)out)[j] == 0x5A;
    CHECK(untouched, "bad stride %zu: out was written", i);
  }
  /* w8a16 groups, the same rule */
  problem q;
  problem_init(&q, W8A16_GROUP, 5, false, FP8GEMM_BF16, 64, r);
  tbuf qs;
  make(&qs, &q.sw, L_NT, r);
  qs.t.strides[1] = -3;
  uint16_t o16[5 * N];
  fp8gemm_tensor_init(&o, FP8GEMM_BF16, 2, od, o16);
  fp8gemm_status s = fp8gemm_fp8_gemm_w8a16(&q.xt.t, &q.wt.t, &qs.t, NULL, &o);
  CHECK(s == FP8GEMM_INVALID_ARGUMENT &&
            strcmp(fp8gemm_last_error(), "fp8_gemm_w8a16: weight_scale.stride[1]: expected >= 0, got -3") == 0,
        "w8a16 bad stride: %d '%s'", (int)s, fp8gemm_last_error());
  unmake(&sa), unmake(&sw), unmake(&qs);
  problem_free(&p);
  problem_free(&q);
}

/* ------------------------------------------------------------------ the gather itself */
static float e8m0_ref(uint8_t c) { return c == 0xFF ? NAN : ldexpf(1.0f, (int)c - 127); }

static void gather_unit(rng *r) {
  /* e8m0 -> f32: the bits of the old per-element conversion, every code */
  uint8_t codes[256];
  for (int c = 0; c < 256; c++) codes[c] = (uint8_t)c;
  int64_t d256[1] = {256};
  fp8gemm_tensor t;
  fp8gemm_tensor_init(&t, FP8GEMM_E8M0, 1, d256, codes);
  float f[256];
  fp8g_gather_dense(&t, true, f);
  int bad = 0;
  for (int c = 0; c < 256; c++) {
    float e = e8m0_ref((uint8_t)c);
    bad += memcmp(&e, &f[c], 4) != 0;
  }
  CHECK(bad == 0, "e8m0 -> f32: %d codes differ from 2^(c - 127)", bad);

  /* Views of every rank against element-by-element indexing; matrices at sizes around the
   * 16 x 16 and 64 x 64 blocks. */
  static const fp8gemm_dtype dts[] = {FP8GEMM_E8M0, FP8GEMM_F32, FP8GEMM_BF16, FP8GEMM_F16};
  static const int64_t sizes[] = {1, 2, 15, 16, 17, 63, 64, 65, 130, 200};
  int wrong = 0;
  for (int it = 0; it < 600; it++) {
    fp8gemm_dtype dt = RNG_PICK(r, dts);
    int ndim = (int)rng_int(r, 0, 5);
    int64_t dims[5];
    for (int i = 0; i < ndim; i++) dims[i] = i >= ndim - 2 ? RNG_PICK(r, sizes) : rng_int(r, 1, 2);
    int lay = it % 3 == 0 ? TB_SWAP_LAST : it % 3 == 1 ? TB_RANDOM : TB_CONTIGUOUS;
    tbuf b;
    tb_make(&b, dt, ndim, dims, r, lay);
    int64_t n = tb_numel(&b);
    for (size_t i = 0; i < b.bytes; i++) b.mem[i] = (uint8_t)rng_next(r); /* NaNs and all */
    bool codes_out = dt == FP8GEMM_E8M0 && it % 2 == 0;
    size_t esz = codes_out ? 1 : 4;
    uint8_t *dst = malloc((size_t)n * esz + 1);
    fp8g_gather_dense(&b.t, !codes_out, dst);
    for (int64_t i = 0; i < n; i++) {
      int64_t off = fp8g_offset_of(&b.t, b.t.ndim, i);
      if (codes_out) {
        wrong += dst[i] != b.mem[off];
        continue;
      }
      float want = dt == FP8GEMM_E8M0 ? e8m0_ref(b.mem[off]) : fp8g_load_wide(b.mem, dt, off);
      wrong += memcmp(&want, dst + i * 4, 4) != 0;
    }
    free(dst);
    tb_free(&b);
  }
  CHECK(wrong == 0, "fp8g_gather_dense: %d elements differ from per-element indexing", wrong);
}

/* Dense scales are read in place: infer reports no workspace for them; a strided view of
 * the same scale is gathered and its copy shows in the workspace. (Without this check a
 * regression to copying every scale would pass every bitwise comparison above.) */
static void in_place_workspace(void) {
  static char dummy[1];
  int64_t m = 5, k = 4096, n = 4096;
  int64_t xd[2] = {m, k}, wd[2] = {k, n}, ead[2] = {m, k / 32}, ebd[2] = {k / 32, n};
  int64_t tokd[2] = {m, 1}, chd[1] = {n};
  fp8gemm_tensor x, w, ea, eb, st, sc, o;
  fp8gemm_tensor_init(&x, FP8GEMM_E4M3FN, 2, xd, dummy);
  fp8gemm_tensor_init(&w, FP8GEMM_E4M3FN, 2, wd, dummy);
  w.strides[0] = 1, w.strides[1] = k; /* NT view */
  fp8gemm_tensor_init(&ea, FP8GEMM_E8M0, 2, ead, dummy);
  fp8gemm_tensor_init(&eb, FP8GEMM_E8M0, 2, ebd, dummy);
  fp8gemm_tensor_init(&st, FP8GEMM_F32, 2, tokd, dummy);
  fp8gemm_tensor_init(&sc, FP8GEMM_F32, 1, chd, dummy);
  size_t ws = 0, codes = (size_t)(k / 32 * n), chan = (size_t)n * sizeof(float);
  fp8gemm_status s = fp8gemm_fp8_gemm_infer(&x, &w, FP8GEMM_BF16, &ea, &eb, NULL, &o, &ws);
  CHECK(s == FP8GEMM_OK && ws < codes, "contiguous MX weight scale: workspace %zu (a copy is %zu)", ws, codes);
  eb.strides[0] = 1, eb.strides[1] = k / 32 + 1; /* padded NT view: gathered for some kernel */
  eb.dims[0] = k / 32;
  s = fp8gemm_fp8_gemm_infer(&x, &w, FP8GEMM_BF16, &ea, &eb, NULL, &o, &ws);
  CHECK(s == FP8GEMM_OK && ws >= codes, "strided MX weight scale: workspace %zu, expected >= %zu", ws, codes);
  s = fp8gemm_fp8_gemm_infer(&x, &w, FP8GEMM_BF16, &st, &sc, NULL, &o, &ws);
  CHECK(s == FP8GEMM_OK && ws < chan, "contiguous per-channel scale: workspace %zu (a copy is %zu)", ws, chan);
  sc.strides[0] = 2; /* every other float of a [2N] buffer */
  s = fp8gemm_fp8_gemm_infer(&x, &w, FP8GEMM_BF16, &st, &sc, NULL, &o, &ws);
  CHECK(s == FP8GEMM_OK && ws >= chan, "strided per-channel scale: workspace %zu, expected >= %zu", ws, chan);
}

int main(void) {
  /* Under the sanitizers the levels below the best one run M = 1, 5 on 2 threads. */
  bool sanitized = getenv("FP8GEMM_SANITIZED") != NULL;
  rng r = {0x5ca1e5u};
  gather_unit(&r);
  fp8gemm_isa detected = fp8gemm_isa_detected();
  for (int isa = 0; isa < FP8GEMM_ISA_COUNT; isa++) {
    if (!test_use_isa(isa)) continue;
    bool quick = sanitized && isa < (int)detected;
    for (int threads = quick ? 2 : 1; threads <= 2; threads++) {
      fp8gemm_set_num_threads(threads);
      cases = 0;
      sweep(&r, quick);
      broadcast_batch(&r);
      nan_columns(&r);
      mx_native(&r);
      mx_native_in_place(&r);
      printf("isa %s, %d threads: %ld layout comparisons\n", fp8gemm_isa_name(isa), threads, cases);
    }
  }
  bad_strides(&r);
  in_place_workspace();
  return test_summary();
}
