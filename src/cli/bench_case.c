/*
 * One bench case through the public API. Weights are random finite e4m3fn codes in
 * several buffers used in turn (their total exceeds the last-level cache several times,
 * so a decode shape streams its weights from memory as it would in a model). The naive
 * path dequantizes the same codes to fp32 (fp8gemm_fp8_dequantize, no scales: applying
 * them would only add to its time) and multiplies with bench_sgemm.
 */
#include "bench_case.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_machine.h"
#include "bench_sgemm.h"
#include "fp8gemm.h"

static const char *const scheme_names[BENCH_SCHEME_COUNT] = {"per_token", "per_tensor", "block",
                                                             "mx", "w8a16"};

const char *bench_scheme_name(bench_scheme s) { return scheme_names[s]; }

int bench_scheme_from_name(const char *name, bench_scheme *s) {
  for (int i = 0; i < BENCH_SCHEME_COUNT; i++)
    if (strcmp(name, scheme_names[i]) == 0) {
      *s = (bench_scheme)i;
      return 0;
    }
  return -1;
}

static uint64_t lcg = 0x2545F4914F6CDD1Dull;
static uint8_t next_byte(void) {
  lcg = lcg * 6364136223846793005ull + 1442695040888963407ull;
  return (uint8_t)(lcg >> 56);
}
/* A random finite e4m3fn code of modest magnitude (exponent field <= 7: |x| < 2). */
static uint8_t random_e4m3(void) {
  uint8_t c = next_byte();
  return (uint8_t)(c & 0xBF);
}

/* The weight buffers of one shape, shared by every scheme timed on it (all take the
 * same e4m3fn codes; each scheme brings its own scales). */
typedef struct weight_pool {
  uint8_t **w;     /* weights: each at cfg->weight_offset bytes past a 64-byte boundary */
  uint8_t **w_mem; /* their allocations */
  int nw;
} weight_pool;

static void free_pool(weight_pool *p) {
  for (int i = 0; i < p->nw; i++)
    if (p->w_mem) free(p->w_mem[i]);
  free(p->w);
  free(p->w_mem);
  memset(p, 0, sizeof *p);
}

static int fill_pool(weight_pool *p, int64_t n, int64_t k, const bench_config *cfg) {
  size_t wbytes = (size_t)(n * k);
  /* enough buffers to exceed rotate_bytes, within reason for tiny weights (which then
   * run from cache whatever we do) */
  size_t nw = cfg->rotate_bytes / (wbytes ? wbytes : 1) + 1;
  p->nw = nw < 2 ? 2 : nw > 64 ? 64 : (int)nw;
  p->w = calloc((size_t)p->nw, sizeof *p->w);
  p->w_mem = calloc((size_t)p->nw, sizeof *p->w_mem);
  if (!p->w || !p->w_mem) return -1;
  for (int i = 0; i < p->nw; i++) {
    /* placed as a caller's weights are: PyTorch's allocator gives 64-byte-aligned tensors
     * (the default offset 0), malloc 16 bytes past one (a chunk header) */
    p->w_mem[i] = aligned_alloc(64, (wbytes + (size_t)cfg->weight_offset + 63) / 64 * 64);
    if (!p->w_mem[i]) return -1;
    p->w[i] = p->w_mem[i] + cfg->weight_offset;
    size_t j = 0;
    for (; j + 8 <= wbytes; j += 8) { /* 8 codes per step: same law as random_e4m3 */
      lcg = lcg * 6364136223846793005ull + 1442695040888963407ull;
      uint64_t v = (lcg ^ (lcg >> 29)) & 0xBFBFBFBFBFBFBFBFull;
      memcpy(p->w[i] + j, &v, 8);
    }
    for (; j < wbytes; j++) p->w[i][j] = random_e4m3();
  }
  return 0;
}

/* Everything one scheme's case allocates besides the shared weights. */
typedef struct case_buffers {
  const weight_pool *pool;
  void **w_scale; /* one per weight buffer: a layer's scales travel with its weight */
  fp8gemm_packed_weight **packed; /* cfg->packed: buffer i with w_scale[i], packed once */
  void *input, *out, *in_scale;
  float *a32, *w32, *c32;
  fp8gemm_tensor input_t, in_scale_t, w_scale_t, out_t;
  bool has_in_scale;
} case_buffers;

static void free_naive(case_buffers *b) {
  free(b->a32);
  free(b->w32);
  free(b->c32);
  b->a32 = b->w32 = b->c32 = NULL;
}

static void free_buffers(case_buffers *b) {
  if (b->w_scale)
    for (int i = 0; i < b->pool->nw; i++) free(b->w_scale[i]);
  free(b->w_scale);
  if (b->packed)
    for (int i = 0; i < b->pool->nw; i++) fp8gemm_packed_weight_free(b->packed[i]);
  free(b->packed);
  free(b->input);
  free(b->out);
  free(b->in_scale);
  free_naive(b);
  memset(b, 0, sizeof *b);
}

/* Logical [K, N] weight over buffer `data`: contiguous, or the NT view of [N, K]. */
static void weight_tensor(fp8gemm_tensor *t, int64_t n, int64_t k, bool nt, void *data) {
  int64_t dims[2] = {k, n};
  fp8gemm_tensor_init(t, FP8GEMM_E4M3FN, 2, dims, data);
  if (nt) {
    t->strides[0] = 1;
    t->strides[1] = k;
  }
}

static void *filled_f32(int64_t count, float base) {
  float *v = malloc((size_t)(count > 0 ? count : 1) * sizeof(float));
  if (v)
    for (int64_t i = 0; i < count; i++) v[i] = base * (1.0f + (float)(next_byte() % 16) / 64.0f);
  return v;
}

static void *filled_e8m0(int64_t count) {
  uint8_t *v = malloc((size_t)(count > 0 ? count : 1));
  if (v)
    for (int64_t i = 0; i < count; i++) v[i] = (uint8_t)(125 + next_byte() % 5);
  return v;
}

static int setup(bench_scheme s, int64_t m, int64_t n, int64_t k, const bench_config *cfg,
                 const weight_pool *pool, case_buffers *b, bench_result *r) {
  b->pool = pool;
  b->w_scale = calloc((size_t)pool->nw, sizeof *b->w_scale);
  if (!b->w_scale) return -1;
  r->buffers = pool->nw;
  int64_t in_dims[2] = {m, k};
  if (s == BENCH_W8A16) {
    uint16_t *in = malloc((size_t)(m * k) * 2);
    if (!in) return -1;
    for (int64_t i = 0; i < m * k; i++) in[i] = (uint16_t)(0x3C00 | (next_byte() << 1)) ^ (uint16_t)((next_byte() & 1) << 15);
    b->input = in;
    fp8gemm_tensor_init(&b->input_t, FP8GEMM_BF16, 2, in_dims, in);
  } else {
    uint8_t *in = malloc((size_t)(m * k));
    if (!in) return -1;
    for (int64_t i = 0; i < m * k; i++) in[i] = random_e4m3();
    b->input = in;
    fp8gemm_tensor_init(&b->input_t, FP8GEMM_E4M3FN, 2, in_dims, in);
  }
  int64_t kb128 = (k + 127) / 128, nb128 = (n + 127) / 128;
  int64_t d_tok[2] = {m, 1}, d_one[1] = {1}, d_chan[1] = {n}, d_ablk[2] = {m, kb128},
          d_wblk[2] = {kb128, nb128}, d_amx[2] = {m, k / 32}, d_wmx[2] = {k / 32, n};
  b->has_in_scale = true;
  bool mx = s == BENCH_MX;
  switch (s) {
    case BENCH_PER_TOKEN:
      b->in_scale = filled_f32(m, 0.01f);
      fp8gemm_tensor_init(&b->in_scale_t, FP8GEMM_F32, 2, d_tok, b->in_scale);
      fp8gemm_tensor_init(&b->w_scale_t, FP8GEMM_F32, 1, d_chan, NULL);
      break;
    case BENCH_PER_TENSOR:
      b->in_scale = filled_f32(1, 0.01f);
      fp8gemm_tensor_init(&b->in_scale_t, FP8GEMM_F32, 1, d_one, b->in_scale);
      fp8gemm_tensor_init(&b->w_scale_t, FP8GEMM_F32, 1, d_one, NULL);
      break;
    case BENCH_BLOCK:
      b->in_scale = filled_f32(m * kb128, 0.01f);
      fp8gemm_tensor_init(&b->in_scale_t, FP8GEMM_F32, 2, d_ablk, b->in_scale);
      fp8gemm_tensor_init(&b->w_scale_t, FP8GEMM_F32, 2, d_wblk, NULL);
      break;
    case BENCH_MX:
      if (k % 32) {
        snprintf(r->note, sizeof r->note, "mx needs K %% 32 == 0");
        return -1;
      }
      b->in_scale = filled_e8m0(m * (k / 32));
      fp8gemm_tensor_init(&b->in_scale_t, FP8GEMM_E8M0, 2, d_amx, b->in_scale);
      fp8gemm_tensor_init(&b->w_scale_t, FP8GEMM_E8M0, 2, d_wmx, NULL);
      break;
    default: /* w8a16: per-channel weight scale only */
      b->has_in_scale = false;
      fp8gemm_tensor_init(&b->w_scale_t, FP8GEMM_F32, 1, d_chan, NULL);
      break;
  }
  /* A 2-D weight scale ([K/128, N/128] blocks, [K/32, N] MX codes) is stored the way a
   * checkpoint stores it next to an [N, K] weight, [N/128, K/128] / [N, K/32], and passed
   * as its transposed view, as vLLM passes `weight_scale.t()`. */
  if (cfg->nt && b->w_scale_t.ndim == 2) {
    b->w_scale_t.strides[0] = 1;
    b->w_scale_t.strides[1] = b->w_scale_t.dims[0];
  }
  int64_t ns = fp8gemm_tensor_numel(&b->w_scale_t);
  for (int i = 0; i < pool->nw; i++) {
    b->w_scale[i] = mx ? filled_e8m0(ns) : filled_f32(ns, 0.02f);
    if (!b->w_scale[i]) return -1;
  }
  if (b->has_in_scale && !b->in_scale) return -1;
  return 0;
}

static fp8gemm_status run_packed(bench_scheme s, case_buffers *b, const fp8gemm_packed_weight *pw,
                                 bool infer_only) {
  if (s == BENCH_W8A16) {
    if (infer_only) return fp8gemm_fp8_gemm_w8a16_packed_infer(&b->input_t, pw, NULL, &b->out_t, NULL);
    return fp8gemm_fp8_gemm_w8a16_packed(&b->input_t, pw, NULL, &b->out_t);
  }
  if (infer_only)
    return fp8gemm_fp8_gemm_packed_infer(&b->input_t, pw, FP8GEMM_BF16, &b->in_scale_t, NULL,
                                         &b->out_t, NULL);
  return fp8gemm_fp8_gemm_packed(&b->input_t, pw, FP8GEMM_BF16, &b->in_scale_t, NULL, &b->out_t);
}

static fp8gemm_status run_op(bench_scheme s, case_buffers *b, int64_t n, int64_t k, bool nt,
                             int which, bool infer_only) {
  int nw = b->pool->nw;
  if (b->packed) return run_packed(s, b, b->packed[which % nw], infer_only);
  fp8gemm_tensor w;
  weight_tensor(&w, n, k, nt, b->pool->w[which % nw]);
  b->w_scale_t.data = b->w_scale[which % nw];
  if (s == BENCH_W8A16) {
    if (infer_only) return fp8gemm_fp8_gemm_w8a16_infer(&b->input_t, &w, &b->w_scale_t, NULL, &b->out_t, NULL);
    return fp8gemm_fp8_gemm_w8a16(&b->input_t, &w, &b->w_scale_t, NULL, &b->out_t);
  }
  if (infer_only)
    return fp8gemm_fp8_gemm_infer(&b->input_t, &w, FP8GEMM_BF16, &b->in_scale_t, &b->w_scale_t,
                                  NULL, &b->out_t, NULL);
  return fp8gemm_fp8_gemm(&b->input_t, &w, FP8GEMM_BF16, &b->in_scale_t, &b->w_scale_t, NULL,
                          &b->out_t);
}

/* Repeats fn until min_time has passed (3 to max_runs runs) after one warm-up; median. */
typedef int (*timed_fn)(void *ctx, int run);
static double time_median(timed_fn fn, void *ctx, double min_time, int max_runs, int *runs) {
  double t[BENCH_MAX_RUNS];
  if (max_runs > BENCH_MAX_RUNS) max_runs = BENCH_MAX_RUNS;
  if (fn(ctx, 0) != 0) return -1.0;
  int n = 0;
  double start = bench_now();
  while (n < max_runs && (n < 3 || bench_now() - start < min_time)) {
    double t0 = bench_now();
    if (fn(ctx, n + 1) != 0) return -1.0;
    t[n++] = bench_now() - t0;
  }
  *runs = n;
  return bench_median(t, n);
}

typedef struct op_ctx {
  bench_scheme s;
  case_buffers *b;
  int64_t m, n, k;
  int threads;
  bool nt;
} op_ctx;

/* Naive: dequantize weight codes (and fp8 activations) to fp32, then sgemm. */
static int naive_once(void *vctx, int run) {
  op_ctx *c = vctx;
  case_buffers *b = c->b;
  fp8gemm_tensor w, w32;
  /* the stored tensor as it is: [N, K] for a checkpoint (NT), [K, N] otherwise */
  int64_t wd[2] = {c->nt ? c->n : c->k, c->nt ? c->k : c->n}, ad[2] = {c->m, c->k};
  fp8gemm_tensor_init(&w, FP8GEMM_E4M3FN, 2, wd, b->pool->w[run % b->pool->nw]);
  fp8gemm_tensor_init(&w32, FP8GEMM_F32, 2, wd, b->w32);
  if (fp8gemm_fp8_dequantize(&w, NULL, FP8GEMM_F32, 0, &w32) != FP8GEMM_OK) return -1;
  if (c->s == BENCH_W8A16) {
    const uint16_t *in = b->input;
    for (int64_t i = 0; i < c->m * c->k; i++) {
      uint32_t u = (uint32_t)in[i] << 16;
      memcpy(&b->a32[i], &u, sizeof u);
    }
  } else {
    fp8gemm_tensor a32;
    fp8gemm_tensor_init(&a32, FP8GEMM_F32, 2, ad, b->a32);
    if (fp8gemm_fp8_dequantize(&b->input_t, NULL, FP8GEMM_F32, 0, &a32) != FP8GEMM_OK) return -1;
  }
  return bench_sgemm(c->m, c->n, c->k, b->a32, b->w32, c->nt, b->c32, c->threads);
}

static const fp8gemm_scheme api_scheme[BENCH_SCHEME_COUNT] = {
    FP8GEMM_SCHEME_PER_TOKEN, FP8GEMM_SCHEME_PER_TENSOR, FP8GEMM_SCHEME_BLOCK, FP8GEMM_SCHEME_MX,
    FP8GEMM_SCHEME_PER_TOKEN};

/* Names the case's op and kernel; marks it skipped where only the scalar reference
 * would run a large problem. */
static void describe(bench_scheme s, int64_t m, int64_t n, int64_t k, const bench_config *cfg,
                     bench_result *r) {
  memset(r, 0, sizeof *r);
  r->op = s == BENCH_W8A16 ? "fp8_gemm_w8a16" : "fp8_gemm";
  snprintf(r->kernel, sizeof r->kernel, "?");
  fp8gemm_op op = s == BENCH_W8A16 ? FP8GEMM_OP_FP8_GEMM_W8A16 : FP8GEMM_OP_FP8_GEMM;
  fp8gemm_kernel_info info = {0};
  /* packed weights (cmd_bench: only from NT ones) run the op's kernels on the NT view of
   * the packed [N, K] codes: the same query names them */
  if (fp8gemm_query_shape(op, api_scheme[s], FP8GEMM_E4M3FN, m, n, k, cfg->nt, &info) == FP8GEMM_OK) {
    snprintf(r->kernel, sizeof r->kernel, "%s", info.name);
    r->kernel_isa = info.isa;
  }
  if (info.isa == FP8GEMM_ISA_SCALAR && 2.0 * (double)m * (double)n * (double)k > 4e9) {
    r->skipped = true;
    snprintf(r->note, sizeof r->note, "only the scalar reference serves this shape: skipped");
  }
}

/* Marks r failed; the first note written (the most specific reason) is kept. */
static void fail(bench_result *r, const char *what) {
  r->failed = true;
  if (!r->note[0]) snprintf(r->note, sizeof r->note, "%s: %s", what, fp8gemm_last_error());
}

static void fail_oom(bench_result *r) {
  r->failed = true;
  if (!r->note[0]) snprintf(r->note, sizeof r->note, "out of memory");
}

/* cfg->packed: every weight buffer with this scheme's scale for it, packed once. */
static int pack_all(bench_scheme s, int64_t n, int64_t k, const bench_config *cfg, case_buffers *b,
                    bench_result *r) {
  int nw = b->pool->nw;
  b->packed = calloc((size_t)nw, sizeof *b->packed);
  if (!b->packed) {
    fail_oom(r);
    return -1;
  }
  fp8gemm_op op = s == BENCH_W8A16 ? FP8GEMM_OP_FP8_GEMM_W8A16 : FP8GEMM_OP_FP8_GEMM;
  for (int i = 0; i < nw; i++) {
    fp8gemm_tensor w;
    weight_tensor(&w, n, k, cfg->nt, b->pool->w[i]);
    b->w_scale_t.data = b->w_scale[i];
    if (fp8gemm_pack_weight(op, &w, &b->w_scale_t, &b->packed[i]) != FP8GEMM_OK) {
      fail(r, "pack_weight");
      return -1;
    }
  }
  return 0;
}

/* Buffers, infer and output of case i; on failure the case is marked failed. */
static void open_case(bench_scheme s, int64_t m, int64_t n, int64_t k, const bench_config *cfg,
                      const weight_pool *pool, case_buffers *b, bench_result *r) {
  if (setup(s, m, n, k, cfg, pool, b, r) != 0) {
    fail_oom(r);
    return;
  }
  if (cfg->packed && pack_all(s, n, k, cfg, b, r) != 0) return;
  if (run_op(s, b, n, k, cfg->nt, 0, true) != FP8GEMM_OK) {
    fail(r, "infer");
    return;
  }
  b->out = malloc(fp8gemm_tensor_nbytes(&b->out_t));
  if (!b->out) {
    fail_oom(r);
    return;
  }
  b->out_t.data = b->out;
}

/* The naive path's median on case b's data (its fp32 buffers live only meanwhile). */
static double naive_median(op_ctx *ctx, const bench_config *cfg) {
  case_buffers *b = ctx->b;
  b->a32 = malloc((size_t)(ctx->m * ctx->k) * sizeof(float));
  b->w32 = malloc((size_t)(ctx->k * ctx->n) * sizeof(float));
  b->c32 = malloc((size_t)(ctx->m * ctx->n) * sizeof(float));
  int runs = 0;
  double t = b->a32 && b->w32 && b->c32 ? time_median(naive_once, ctx, cfg->min_time, 3, &runs) : 0;
  free_naive(b);
  return t > 0 ? t : 0;
}

int bench_run_group(const bench_scheme *schemes, int count, int64_t m, int64_t n, int64_t k,
                    int threads, const bench_config *cfg, bench_result *results) {
  if (count < 1 || count > BENCH_SCHEME_COUNT) return -1;
  case_buffers b[BENCH_SCHEME_COUNT];
  memset(b, 0, sizeof b);
  int live[BENCH_SCHEME_COUNT], nlive = 0;
  /* threads first: the kernel named is the one the tables pick under this setting */
  bool threads_ok = fp8gemm_set_num_threads(threads) == FP8GEMM_OK;
  for (int i = 0; i < count; i++) {
    describe(schemes[i], m, n, k, cfg, &results[i]);
    if (!threads_ok) {
      results[i].skipped = false;
      results[i].note[0] = 0;
      fail(&results[i], "threads");
    } else if (!results[i].skipped) live[nlive++] = i;
  }
  if (!nlive) return 0;
  weight_pool pool = {0};
  if (fill_pool(&pool, n, k, cfg) != 0) {
    for (int q = 0; q < nlive; q++) fail_oom(&results[live[q]]);
    free_pool(&pool);
    return 0;
  }
  int ok = 0;
  for (int q = 0; q < nlive; q++) {
    int i = live[q];
    open_case(schemes[i], m, n, k, cfg, &pool, &b[i], &results[i]);
    if (!results[i].failed) live[ok++] = i;
  }
  nlive = ok;
  /* One call counter for the whole group: consecutive calls always take different
   * weight buffers, whichever scheme makes them, so none finds its predecessor's
   * weights in cache. One warm-up call per scheme. */
  int call = 0;
  for (int q = 0; q < nlive; q++)
    if (run_op(schemes[live[q]], &b[live[q]], n, k, cfg->nt, call++, false) != FP8GEMM_OK)
      fail(&results[live[q]], "run");
  double t[BENCH_SCHEME_COUNT][BENCH_MAX_RUNS];
  double spent[BENCH_SCHEME_COUNT] = {0};
  /* Rounds: every scheme once, starting one scheme later each round, so each runs in
   * every position and after every other; the host's drift then falls on all alike. */
  for (int round = 0; round < BENCH_MAX_RUNS; round++) {
    bool more = false;
    for (int q = 0; q < nlive; q++) {
      int i = live[q];
      if (!results[i].failed && (round < 3 || spent[i] < cfg->min_time)) more = true;
    }
    if (!more) break;
    for (int q = 0; q < nlive; q++) {
      int i = live[(round + q) % nlive];
      if (results[i].failed) continue;
      double t0 = bench_now();
      if (run_op(schemes[i], &b[i], n, k, cfg->nt, call++, false) != FP8GEMM_OK) {
        fail(&results[i], "run");
        continue;
      }
      t[i][round] = bench_now() - t0;
      spent[i] += t[i][round];
      results[i].runs = round + 1;
    }
  }
  for (int q = 0; q < nlive; q++) {
    int i = live[q];
    if (results[i].failed) continue;
    results[i].seconds = bench_median(t[i], results[i].runs);
    if (cfg->naive) {
      op_ctx ctx = {schemes[i], &b[i], m, n, k, threads, cfg->nt};
      results[i].naive_seconds = naive_median(&ctx, cfg);
    }
  }
  for (int i = 0; i < count; i++)
    if (b[i].pool) free_buffers(&b[i]);
  free_pool(&pool);
  return 0;
}
