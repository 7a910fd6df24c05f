/*
 * The C^T = W A^T path of the BF16-dot GEMM, for fp8 activations of the mid-size M of
 * LLM layers (M ~ 128..512) with NT weights ([N, K] storage, also every prepacked
 * weight) and a CHAIN plan (no scales, per-tensor, per-token x per-channel):
 *
 *   per batch:
 *     region 1 (parallel): the activations packed once, as the B operand of the
 *                          fused path packs NT weight columns (64 rows a panel, K pairs)
 *     region 2 (parallel): one worker per thread takes chunks of weight rows in turn;
 *                          a step (the chunk's weight rows x one K block) runs every
 *                          6-weight-row x 64-activation-row tile of C^T on the rows'
 *                          plain bf16 runs (no transposes, no interleave: a pair of a
 *                          run is already the dword VDPBF16PS broadcasts); the tiles
 *                          also decode the next step's runs into a second buffer, 64
 *                          codes every few dozen pair steps; after the last K block
 *                          C^T goes back through the epilogue, transposed.
 *
 * Why: at M = 256 the weights' packing (decode, 16 x 16 transposes, packer) was most of
 * what the fused path lost against the micro-kernel's rate (docs/kernels.md); here the
 * weights are only decoded, and the 1/16 as many activation codes take the transposes.
 * The decode runs inside the tiles' K loops since session 16: decoded at a step's start
 * it waited on the weight codes (prefetched or not) with nothing to compute, 2-5% of
 * the time; spread in the K loop its lookups run on the shuffle pipes beside the
 * VDPBF16PS chains and each unit's codes are prefetched a few units ahead.
 * Each output is the same VDPBF16PS chain as in the other loops (the same exact
 * products, K pairs in order, the high pair first, partial sums stored as fp32 between
 * K blocks), so results are bitwise those of the fused and separate loops, for any
 * thread count.
 */
#include <stdatomic.h>
#include <string.h>

#include "avx2/gemm_avx2.h" /* fp8g_avx2_epilogue */
#include "gemm_bf16.h"
#include "workspace.h"

#define MR FP8G_BF16_MR
#define NR FP8G_BF16_NR

/* Weight rows per chunk, at most: a multiple of MR (whole tiles) and of 16 (whole
 * transposes in the epilogue). At 96 rows and KC 1024 the two decoded K blocks (this
 * step's and the next, 2 x 192 KiB), one activation panel's K block (128 KiB) and C^T
 * of the chunk (96 KiB at M = 256) fit the 1 MiB L2 of Zen 4; 192-row chunks measured
 * slower (docs/kernels.md, session 8), 48 / 64 / 128 the same (session 16). */
enum { WT_ROWS = 96, WT_STEP = 48 };

static int wt_mode = -1;
void fp8g_bf16_set_wt(int mode) { wt_mode = mode; }
static atomic_long wt_calls;
long fp8g_bf16_wt_calls(void) { return atomic_load(&wt_calls); }

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }
static int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }
static int64_t round_up(int64_t a, int64_t b) { return cdiv(a, b) * b; }

typedef struct wt_ctx {
  const fp8g_gemm_problem *p;
  const fp8g_bf16_plan *pl;
  const fp8g_bf16_isa_ops *ops;
  fp8g_gemm_problem ap; /* batch b's activations as an NT B operand ([M, K] rows) */
  fp8g_bf16_plan apl;   /* its plan: decode and transposes only */
  fp8g_avx2_plan epi;
  int64_t b;
  int64_t kc, nkb, kp_stride, npm; /* K block, K blocks, pairs per block, activation panels */
  int64_t lda, ldc;                /* dwords per decoded weight row, floats per C^T row */
  int64_t rpc, nchunks;            /* weight rows per chunk, chunks */
  uint32_t *act;                   /* [npm][nkb][kp_stride][NR] */
  uint32_t *wdec;                  /* per worker: two of [rpc][lda] (this step, the next) */
  float *ct;                       /* per worker: [rpc][ldc] */
  int64_t wdec_stride, ct_stride;
  atomic_llong next;
} wt_ctx;

/* A uniform row stride of the activations in every batch, or 0. */
static int64_t act_stride(const fp8g_gemm_problem *p) {
  int64_t lda = p->m > 1 ? p->a_row_offset[1] - p->a_row_offset[0] : p->k;
  if (lda < 1) return 0;
  for (int64_t b = 0; b < p->batch; b++) {
    const int64_t *ro = p->a_row_offset + b * p->m;
    for (int64_t i = 1; i < p->m; i++)
      if (ro[i] - ro[0] != i * lda) return 0;
  }
  return lda;
}

/* Auto: M near whole 64-row activation panels (the lanes past M are computed and
 * dropped) and at most 512 rows (the activations' K block, 64 KiB per 32 rows at KC
 * 1024, is read once per chunk and K block; C^T of a chunk takes 384 bytes per row).
 * With the decode inside the K loops (session 16) this path beat the separate loops at
 * M = 512, not at M = 1024 (docs/kernels.md). */
static bool wt_wanted(const fp8g_gemm_problem *p) {
  if (wt_mode >= 0) return wt_mode == 1;
  return p->m >= 128 && p->m <= 512 && (round_up(p->m, NR) - p->m) * 16 <= p->m;
}

static void pack_act_task(void *vctx, int64_t t) {
  wt_ctx *x = vctx;
  int64_t pm = t / x->nkb, kb = t % x->nkb;
  int64_t k0 = kb * x->kc, kc = min64(x->kc, x->p->k - k0);
  fp8g_bf16_pack_b(&x->apl, 0, pm * NR, min64(NR, x->p->m - pm * NR), k0, kc,
                   x->act + (pm * x->nkb + kb) * x->kp_stride * NR, NULL, 0);
}

typedef struct wt_step {
  int64_t n0, nn, kb; /* weight rows [n0, n0 + nn), K block kb; nn == 0: none */
} wt_step;

/* Step s's weight rows decoded into runs in wdec, all at once (a worker's first step,
 * and a step whose K block is not whole 64-code units). */
static void decode_step(wt_ctx *x, wt_step s, uint32_t *wdec) {
  const fp8g_gemm_problem *p = x->p;
  int64_t k0 = s.kb * x->kc, kc = min64(x->kc, p->k - k0);
  const uint8_t *wb = p->b + x->b * p->b_batch_stride;
  const fp8g_bf16_dec_tables *tab = fp8g_bf16_tables(p->b_dtype);
  for (int64_t r = 0; r < s.nn; r++) {
    uint16_t *h = (uint16_t *)(void *)(wdec + r * x->lda);
    x->pl->decode(tab, wb + (s.n0 + r) * p->b_stride_n + k0, (int)kc, h);
    if (kc % 2) memset(h + kc, 0, sizeof *h); /* the last pair's high half */
  }
}

/* Every C^T tile of step s on its decoded runs wdec. When step `next`'s K block is
 * whole 64-code units, the tiles decode it into wnext, an even share of its units per
 * tile (returns true); else its codes are prefetched into L2 over the second half of
 * the tiles and it is decoded at its start (returns false). */
static bool run_step(wt_ctx *x, wt_step s, wt_step next, const uint32_t *wdec, uint32_t *wnext, float *ct) {
  const fp8g_gemm_problem *p = x->p;
  int64_t kc = min64(x->kc, p->k - s.kb * x->kc), kp = fp8g_bf16_pairs(kc);
  fp8g_bf16_tile t = {.kp = kp, .lda = x->lda, .ldc = x->ldc, .first = s.kb == 0};
  int64_t ngroups = cdiv(s.nn, MR), ntiles = ngroups * x->npm;
  int64_t nk0 = next.kb * x->kc, nkc = min64(x->kc, p->k - nk0), i0 = ntiles / 2;
  bool spread = next.nn && nkc % 64 == 0;
  fp8g_bf16_wt_dec dec = {0};
  if (spread) {
    dec = (fp8g_bf16_wt_dec){.tab = fp8g_bf16_tables(p->b_dtype),
                             .src = p->b + x->b * p->b_batch_stride + next.n0 * p->b_stride_n + nk0,
                             .src_stride = p->b_stride_n, .dst = (uint16_t *)(void *)wnext,
                             .dst_stride = 2 * x->lda, .upr = nkc / 64, .units = next.nn * (nkc / 64)};
    t.dec = &dec;
    /* the first units' codes (the kernel prefetches each unit's a few units ahead) */
    for (int64_t u = 0; u < FP8G_BF16_DEC_AHEAD && u < dec.units; u++)
      __builtin_prefetch(dec.src + (u / dec.upr) * dec.src_stride + 64 * (u % dec.upr), 0, 3);
  }
  for (int64_t pm = 0, i = 0; pm < x->npm; pm++) {
    t.b = x->act + (pm * x->nkb + s.kb) * x->kp_stride * NR;
    for (int64_t g = 0; g < ngroups; g++, i++) {
      int rows = (int)min64(MR, s.nn - g * MR);
      t.a = wdec + g * MR * x->lda;
      t.c = ct + g * MR * x->ldc + pm * NR;
      t.c_next = s.nn - (g + 1) * MR >= MR ? t.c + MR * x->ldc : NULL; /* a full next tile */
      if (spread) {
        t.du0 = dec.units * i / ntiles;
        t.du1 = dec.units * (i + 1) / ntiles;
      } else if (next.nn && i >= i0) { /* the second half of the tiles: closer to its use */
        fp8g_bf16_prefetch_b(x->pl, x->b, next.n0, next.nn, nk0, nkc, next.nn * (i - i0) / (ntiles - i0),
                             next.nn * (i - i0 + 1) / (ntiles - i0));
      }
      x->ops->ukernel_wt[rows](&t, FP8G_BF16_CHAIN);
    }
  }
  return spread;
}

/* C^T of weight rows [n0, n0 + nn) -> out through the epilogue, 64 x 64 blocks
 * transposed on the way (16 x 16 dword transposes; rows of C^T past nn are read, never
 * written out). */
static void chunk_epilogue(wt_ctx *x, int64_t n0, int64_t nn, const float *ct) {
  const fp8g_gemm_problem *p = x->p;
  _Alignas(64) float tmp[NR * NR];
  for (int64_t pm = 0; pm < x->npm; pm++) {
    int64_t m0 = pm * NR, rows = min64(NR, p->m - m0), row = x->b * p->m + m0;
    for (int64_t c = 0; c < nn; c += NR) {
      int64_t w = min64(NR, nn - c);
      for (int64_t jb = 0; jb < w; jb += 16)
        for (int64_t ib = 0; ib < NR; ib += 16)
          x->ops->transpose((const uint32_t *)(const void *)(ct + (c + jb) * x->ldc + m0 + ib), x->ldc,
                            (uint32_t *)(void *)(tmp + ib * NR + jb), NR);
      if (w == NR && x->ops->epilogue_nr) x->ops->epilogue_nr(p, row, rows, n0 + c, tmp, NR);
      else fp8g_avx2_epilogue(&x->epi, row, rows, n0 + c, w, tmp, NR);
    }
  }
}

/* Worker w: chunks of weight rows until none are left, into its own scratch (two
 * decoded-run buffers, C^T). It claims its next chunk before running this one, so that
 * the last K block can decode (or prefetch) that chunk's first step. Which worker runs
 * a chunk does not change its bits. */
static void wt_worker(void *vctx, int64_t w) {
  wt_ctx *x = vctx;
  uint32_t *wdec[2] = {x->wdec + 2 * w * x->wdec_stride, x->wdec + (2 * w + 1) * x->wdec_stride};
  float *ct = x->ct + w * x->ct_stride;
  int64_t t = atomic_fetch_add(&x->next, 1);
  int cur = 0;
  bool ready = false; /* this step's runs are in wdec[cur] already */
  while (t < x->nchunks) {
    int64_t tn = atomic_fetch_add(&x->next, 1);
    int64_t n0 = t * x->rpc, nn = min64(x->rpc, x->p->n - n0);
    for (int64_t kb = 0; kb < x->nkb; kb++) {
      wt_step s = {n0, nn, kb}, next = {0, 0, 0};
      if (kb + 1 < x->nkb) next = (wt_step){n0, nn, kb + 1};
      else if (tn < x->nchunks) next = (wt_step){tn * x->rpc, min64(x->rpc, x->p->n - tn * x->rpc), 0};
      if (!ready) decode_step(x, s, wdec[cur]);
      ready = run_step(x, s, next, wdec[cur], wdec[1 - cur], ct);
      cur = 1 - cur;
    }
    chunk_epilogue(x, n0, nn, ct);
    t = tn;
  }
}

static fp8g_ws_cache ws_cache = FP8G_WS_CACHE_INIT;

bool fp8g_bf16_wt_run(const fp8g_gemm_problem *p, const fp8g_bf16_plan *pl, const fp8g_bf16_isa_ops *ops,
                      fp8gemm_status *status) {
  if (!ops->ukernel_wt || !ops->transpose || !pl->decode) return false;
  if (pl->mode != FP8G_BF16_CHAIN || pl->fold_mx || !fp8gemm_dtype_is_fp8(p->a_dtype)) return false;
  if (p->b_stride_k != 1 || p->b_stride_n == 1 || p->a_stride_k != 1) return false;
  if (p->m < 1 || p->n < 1 || p->k < 1 || p->k > INT32_MAX || !wt_wanted(p)) return false;
  int64_t lda_act = act_stride(p);
  if (!lda_act) return false;

  wt_ctx x = {.p = p, .pl = pl, .ops = ops, .epi = {.p = p}};
  int nthreads = p->nthreads < 1 ? 1 : p->nthreads;
  x.kc = pl->kc;
  x.nkb = cdiv(p->k, x.kc);
  x.kp_stride = fp8g_bf16_pairs(x.kc);
  x.npm = cdiv(p->m, NR);
  x.lda = x.kp_stride + 16; /* rows a cache line past a power of two apart */
  x.ldc = x.npm * NR + 16;
  /* About 8 chunks per thread for the balance, within [WT_STEP, WT_ROWS] rows. */
  x.rpc = min64(WT_ROWS, max64(WT_STEP, round_up(cdiv(p->n, 8 * (int64_t)nthreads), WT_STEP)));
  x.nchunks = cdiv(p->n, x.rpc);
  int64_t nworkers = min64(nthreads, x.nchunks);
  x.wdec_stride = round_up(x.rpc * x.lda, 16);
  x.ct_stride = round_up(x.rpc * x.ldc, 16);
  int64_t n_act = x.npm * x.nkb * x.kp_stride * NR;
  size_t bytes = (size_t)(n_act + nworkers * (2 * x.wdec_stride + x.ct_stride)) * 4;
  bool cached;
  void *ws = fp8g_ws_acquire(&ws_cache, bytes, &cached);
  if (!ws) {
    *status = fp8g_error(FP8GEMM_OUT_OF_MEMORY, "fp8_gemm: %zu bytes of BF16 GEMM workspace", bytes);
    return true;
  }
  atomic_fetch_add(&wt_calls, 1);
  x.act = ws;
  x.wdec = x.act + n_act;
  x.ct = (float *)(x.wdec + 2 * nworkers * x.wdec_stride);

  x.apl = (fp8g_bf16_plan){.p = &x.ap, .decode = pl->decode, .transpose = pl->transpose,
                           .mode = FP8G_BF16_CHAIN, .kc = pl->kc};
  for (int64_t b = 0; b < p->batch; b++) {
    x.b = b;
    x.ap = *p;
    x.ap.n = p->m;
    x.ap.b_dtype = p->a_dtype;
    x.ap.b = (const uint8_t *)p->a + p->a_row_offset[b * p->m];
    x.ap.b_batch_stride = 0;
    x.ap.b_stride_k = 1;
    x.ap.b_stride_n = lda_act;
    x.ap.scale_kind = FP8G_SCALE_NONE;
    x.ap.eb = NULL;
    fp8g_parallel_for(x.npm * x.nkb, nthreads, pack_act_task, &x);
    atomic_store(&x.next, 0);
    fp8g_parallel_for(nworkers, nthreads, wt_worker, &x);
  }
  fp8g_ws_release(&ws_cache, ws, cached);
  *status = FP8GEMM_OK;
  return true;
}
