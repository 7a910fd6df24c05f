/*
 * Blocking and threads for the AVX2 GEMM (BLIS-style loops around one micro-kernel):
 *
 *   for batch b, for row super-block (MS rows), for column block jc (NC columns):
 *     for K block pc (KC):                      -- sequential: K is never split
 *       region 1 (parallel): pack A(rows, pc) in MC-row tasks and B(pc, jc) in
 *                            panel-group tasks, decoding fp8 to fp32 once
 *       region 2 (parallel): tasks = MC-row blocks x column chunks of jc; each runs
 *                            the micro-kernel over its tiles (B panel kept in L1
 *                            across the row panels) and, after the last pc, its
 *                            epilogue.
 *
 * Each output element is one FMA chain in K order (or, for block scales, one chain
 * per K block folded in order), whatever the block sizes, the task split or the
 * number of threads, so results are bitwise identical for every thread count.
 * Accumulators live in `out` itself when it is f32, else in an fp32 workspace of
 * MS x NC.
 */
#include <immintrin.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "gemm_avx2.h"
#include "../workspace.h"

#define MR FP8G_AVX2_MR
#define NR FP8G_AVX2_NR

enum { PANELS_PER_TASK = 8 }; /* B panels packed per task (128 columns) */

/* Defaults: KC 256 keeps a B panel (KC x NR fp32 = 16 KiB) in L1; MC 144 an A block
 * (144 x 256 fp32 = 144 KiB) in L2; NC up to 4096 a B block (4 MiB) in L3; the MS x NC
 * accumulator workspace near 8 MiB; up to 384 rows (A block <= 384 KiB, in L2) the
 * B panels are decoded inside the compute tasks. */
static const fp8g_avx2_blocking default_blocking = {
    .kc = 256, .mc = 144, .ms = 2304, .nc_min = 256, .nc_max = 4096, .ws_floats = 1 << 21,
    .fused_rows = 384};
static fp8g_avx2_blocking blocking = {
    .kc = 256, .mc = 144, .ms = 2304, .nc_min = 256, .nc_max = 4096, .ws_floats = 1 << 21,
    .fused_rows = 384};

void fp8g_avx2_set_blocking(const fp8g_avx2_blocking *b) { blocking = b ? *b : default_blocking; }

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }
static int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }
static int64_t round_up(int64_t a, int64_t b) { return cdiv(a, b) * b; }

typedef struct run_ctx {
  fp8g_avx2_plan pl;
  int64_t b;               /* batch */
  int64_t r0, rows;        /* super-block rows (within the batch) */
  int64_t mc, n_ic;        /* row blocks of the super-block */
  int64_t j0, ncols;       /* column block */
  int64_t k0, kc, nseg;    /* current K block */
  bool first, last;
  int64_t n_apack, n_bpack;
  bool fused;              /* B panels decoded by the compute tasks, right before use */
  int64_t nsub, sub_w;     /* column chunks of the compute tasks */
  float *apack, *ascale, *bpack, *bscale;
  float *cbuf;             /* element (0, 0) = output (r0, j0) of this batch */
  int64_t ldc;
} run_ctx;

static void pack_task(void *vctx, int64_t t) {
  run_ctx *x = vctx;
  if (t < x->n_apack) {
    int64_t r = t * x->mc, pan = r / MR;
    fp8g_avx2_pack_a(&x->pl, x->b, x->r0 + r, min64(x->mc, x->rows - r), x->k0, x->kc,
                     x->apack + pan * x->kc * MR, x->ascale + pan * x->nseg * MR);
    return;
  }
  int64_t g = t - x->n_apack, c = g * PANELS_PER_TASK * NR, pan = c / NR;
  fp8g_avx2_pack_b(&x->pl, x->b, x->j0 + c, min64(PANELS_PER_TASK * NR, x->ncols - c), x->k0,
                   x->kc, x->bpack + pan * x->kc * NR, x->bscale + pan * x->nseg * NR);
}

static void compute_task(void *vctx, int64_t t) {
  run_ctx *x = vctx;
  int64_t ic = t / x->nsub, s = t % x->nsub;
  int64_t r_lo = ic * x->mc, r_hi = min64(r_lo + x->mc, x->rows);
  int64_t c_lo = s * x->sub_w, c_hi = min64(c_lo + x->sub_w, x->ncols);
  if (c_lo >= c_hi) return;
  fp8g_avx2_tile tile = {.kc = x->kc, .seg = x->pl.seg, .ldc = x->ldc, .first = x->first};
  for (int64_t c = c_lo; c < c_hi; c += NR) {
    tile.b = x->bpack + (c / NR) * x->kc * NR;
    tile.bscale = x->bscale + (c / NR) * x->nseg * NR;
    tile.nr = (int)min64(NR, c_hi - c);
    for (int64_t r = r_lo; r < r_hi; r += MR) {
      tile.a = x->apack + (r / MR) * x->kc * MR;
      tile.ascale = x->ascale + (r / MR) * x->nseg * MR;
      tile.mr = (int)min64(MR, r_hi - r);
      tile.c = x->cbuf + r * x->ldc + c;
      /* The next tile's accumulators come from L2/L3: start fetching them now. */
      if (r + MR < r_hi && !x->first)
        for (int i = 0; i < MR; i++) _mm_prefetch((const char *)(tile.c + (MR + i) * x->ldc), _MM_HINT_T0);
      fp8g_avx2_ukernel(&tile, x->pl.mode);
    }
  }
  if (x->last)
    fp8g_avx2_epilogue(&x->pl, x->b * x->pl.p->m + x->r0 + r_lo, r_hi - r_lo, x->j0 + c_lo,
                       c_hi - c_lo, x->cbuf + r_lo * x->ldc + c_lo, x->ldc);
}

/*
 * Small row counts (the whole super-block's A block fits in L2): each task decodes one
 * B panel at a time into an L1-resident scratch and sweeps every row panel with it, so
 * the decoded B never makes a round trip through L3 (at M = 256 that round trip was
 * ~10% of the time). Same arithmetic per output as compute_task.
 */
enum { FUSED_PANELS = 2, FUSED_KC_MAX = 512, FUSED_NSEG_MAX = FUSED_KC_MAX / 32 + 1 };

static void fused_task(void *vctx, int64_t t) {
  run_ctx *x = vctx;
  int64_t c_lo = t * FUSED_PANELS * NR, c_hi = min64(c_lo + FUSED_PANELS * NR, x->ncols);
  _Alignas(64) float bpanel[FUSED_KC_MAX * NR];
  _Alignas(64) float bsc[FUSED_NSEG_MAX * NR];
  fp8g_avx2_tile tile = {.kc = x->kc, .seg = x->pl.seg, .ldc = x->ldc, .first = x->first,
                         .b = bpanel, .bscale = bsc};
  for (int64_t c = c_lo; c < c_hi; c += NR) {
    tile.nr = (int)min64(NR, c_hi - c);
    fp8g_avx2_pack_b(&x->pl, x->b, x->j0 + c, tile.nr, x->k0, x->kc, bpanel, bsc);
    /* The next panel's codes load while the micro-kernel runs on this one. */
    if (c + NR < x->ncols) fp8g_avx2_prefetch_b(&x->pl, x->b, x->j0 + c + NR, x->k0, x->kc);
    for (int64_t r = 0; r < x->rows; r += MR) {
      tile.a = x->apack + (r / MR) * x->kc * MR;
      tile.ascale = x->ascale + (r / MR) * x->nseg * MR;
      tile.mr = (int)min64(MR, x->rows - r);
      tile.c = x->cbuf + r * x->ldc + c;
      if (r + MR < x->rows && !x->first)
        for (int i = 0; i < MR; i++) _mm_prefetch((const char *)(tile.c + (MR + i) * x->ldc), _MM_HINT_T0);
      fp8g_avx2_ukernel(&tile, x->pl.mode);
    }
  }
  if (x->last)
    fp8g_avx2_epilogue(&x->pl, x->b * x->pl.p->m + x->r0, x->rows, x->j0 + c_lo, c_hi - c_lo,
                       x->cbuf + c_lo, x->ldc);
}

/* ------------------------------------------------------------ plan */

/* Largest e8m0 code whose scale times the dtype's largest value stays finite in fp32. */
static int max_foldable_e8m0(fp8gemm_dtype dtype) {
  int e;
  frexpf(fp8g_traits(dtype)->max_finite, &e); /* max = f * 2^e, f in [0.5, 1) */
  return 254 - (e - 1);
}

/* No code other than 0xFF (NaN) above `limit` (0..254). 32 codes a step: c > limit is
 * max(c, limit + 1) == c; the scan runs once per call over K/32 x (M + N) codes (a byte
 * at a time it was ~1% of an MX call at M = 64). */
static bool codes_foldable(const uint8_t *codes, int64_t count, int limit) {
  const __m256i above = _mm256_set1_epi8((char)(limit + 1)), nan = _mm256_set1_epi8((char)0xFF);
  int64_t i = 0;
  for (; i + 32 <= count; i += 32) {
    __m256i c = _mm256_loadu_si256((const __m256i *)(codes + i));
    __m256i big = _mm256_cmpeq_epi8(_mm256_max_epu8(c, above), c);
    if (_mm256_movemask_epi8(_mm256_andnot_si256(_mm256_cmpeq_epi8(c, nan), big))) return false;
  }
  for (; i < count; i++)
    if (codes[i] != 0xFF && codes[i] > limit) return false;
  return true;
}

/* s * decode(b) is exact in fp32 for every fp8 b (<= 4 significant bits, |b| < 2^16,
 * smallest step 2^-17) when s has <= 20 significant bits and 2^-100 <= |s| < 2^112;
 * zero, Inf and NaN fold as they would multiply. */
static bool scale_foldable(float s) {
  uint32_t u;
  memcpy(&u, &s, sizeof u);
  uint32_t exp = (u >> 23) & 0xFF;
  if (exp == 0xFF || (u & 0x7fffffffu) == 0) return true;
  return (u & 0xF) == 0 && exp >= 127 - 100 && exp < 127 + 112;
}

static int64_t weight_batches(const fp8g_gemm_problem *p) {
  return p->sb_batch_stride ? p->batch : 1;
}

/* Fills the plan; false when the problem needs the reference (MX scales so large that
 * a scaled operand would overflow fp32). */
static bool make_plan(const fp8g_gemm_problem *p, fp8g_avx2_plan *pl) {
  *pl = (fp8g_avx2_plan){.p = p, .mode = FP8G_AVX2_CHAIN};
  bool blocked = false;
  if (p->scale_kind == FP8G_SCALE_MX) {
    int64_t nb = weight_batches(p);
    if (!codes_foldable(p->ea, p->batch * p->m * p->a_kblocks, max_foldable_e8m0(p->a_dtype)))
      return false;
    for (int64_t b = 0; b < nb; b++)
      if (!codes_foldable(p->eb + b * p->sb_batch_stride, p->a_kblocks * p->n,
                          max_foldable_e8m0(p->b_dtype)))
        return false;
    pl->fold_a = pl->fold_b = blocked = true;
  } else if (p->scale_kind == FP8G_SCALE_BLOCK) {
    blocked = true;
    bool exact = p->sa == NULL; /* w8a16: only weight scales, maybe foldable */
    for (int64_t b = 0; exact && b < weight_batches(p); b++)
      for (int64_t i = 0; exact && i < p->a_kblocks * p->b_nblocks; i++)
        exact = scale_foldable(p->sb[b * p->sb_batch_stride + i]);
    if (exact) {
      pl->fold_b = true;
    } else {
      pl->mode = FP8G_AVX2_SEGMENTED;
      pl->seg = p->block_k;
    }
  }
  /* K blocks must hold whole scale blocks. */
  int64_t kc = blocking.kc;
  if (blocked) kc = p->block_k >= kc ? p->block_k : (kc / p->block_k) * p->block_k;
  pl->kc = min64(kc, p->k);
  return true;
}

/* ------------------------------------------------------------ workspace */
static fp8g_ws_cache ws_cache = FP8G_WS_CACHE_INIT;

/* ------------------------------------------------------------ run */

static fp8gemm_status run_avx2(const fp8g_gemm_problem *p, const fp8g_gemm_kernel *ref) {
  fp8g_avx2_plan pl;
  if (!make_plan(p, &pl)) return ref->run(p);
  int nthreads = p->nthreads < 1 ? 1 : p->nthreads;

  const fp8g_avx2_blocking bl = blocking;
  int64_t n_sb = cdiv(p->m, bl.ms), ms = cdiv(p->m, n_sb);
  /* f32 outputs accumulate in place, unless their row stride is a multiple of 4 KiB
   * (same L1 set for every row of a tile): then the padded workspace is faster. */
  bool c_is_out = p->out_dtype == FP8GEMM_F32 && p->n % 1024 != 0;
  /* Wide column blocks decode A fewer times; only the fp32 accumulator workspace (not
   * needed when out is f32) bounds them. */
  int64_t nc_ws = c_is_out ? bl.nc_max : (bl.ws_floats / ms) / NR * NR;
  int64_t nc = min64(round_up(p->n, NR), max64(bl.nc_min, min64(bl.nc_max, nc_ws)));
  nc = round_up(nc, NR);
  int64_t kc = pl.kc;
  int64_t nseg = pl.mode == FP8G_AVX2_SEGMENTED ? cdiv(kc, pl.seg) : 0;

  int64_t ms_pad = round_up(ms, MR), nc_pad = round_up(nc, NR);
  size_t fl_a = (size_t)(ms_pad * kc), fl_as = (size_t)(ms_pad * nseg);
  size_t fl_b = (size_t)(nc_pad * kc), fl_bs = (size_t)(nc_pad * nseg);
  /* Workspace rows are padded by one cache line: a power-of-two row stride would put
   * the six rows of a C tile in one L1 set. */
  size_t fl_c = c_is_out ? 0 : (size_t)(ms * (nc + 16));
  /* Each piece starts on a 64-byte boundary (16 floats). */
  size_t off_as = round_up((int64_t)fl_a, 16), off_b = off_as + round_up((int64_t)fl_as, 16);
  size_t off_bs = off_b + round_up((int64_t)fl_b, 16), off_c = off_bs + round_up((int64_t)fl_bs, 16);
  size_t total = off_c + round_up((int64_t)fl_c, 16);
  bool cached;
  float *ws = fp8g_ws_acquire(&ws_cache, total * sizeof(float), &cached);
  if (!ws) return fp8g_error(FP8GEMM_OUT_OF_MEMORY, "fp8_gemm: %zu bytes of AVX2 GEMM workspace",
                             total * sizeof(float));

  run_ctx x = {.pl = pl, .nseg = nseg, .apack = ws, .ascale = ws + off_as, .bpack = ws + off_b,
               .bscale = ws + off_bs};
  x.pl.nc = nc;
  for (int64_t b = 0; b < p->batch; b++) {
    x.b = b;
    for (int64_t r0 = 0; r0 < p->m; r0 += ms) {
      x.r0 = r0;
      x.rows = min64(ms, p->m - r0);
      /* Even row blocks near MC_TARGET, multiples of MR. */
      x.n_ic = cdiv(x.rows, bl.mc);
      x.mc = round_up(cdiv(x.rows, x.n_ic), MR);
      x.n_ic = cdiv(x.rows, x.mc);
      x.pl.mc = x.mc;
      for (int64_t j0 = 0; j0 < p->n; j0 += nc) {
        x.j0 = j0;
        x.ncols = min64(nc, p->n - j0);
        int64_t npan = cdiv(x.ncols, NR);
        /* Enough compute tasks to balance the threads; one chunk when single-threaded. */
        x.nsub = nthreads == 1 ? 1 : min64(npan, cdiv(8 * (int64_t)nthreads, x.n_ic));
        x.sub_w = cdiv(npan, x.nsub) * NR;
        x.nsub = cdiv(npan * NR, x.sub_w);
        x.n_apack = x.n_ic;
        x.n_bpack = cdiv(npan, PANELS_PER_TASK);
        /* The fused tasks keep a panel's codes and scales on the stack: segments of
         * fewer than 32 K (blocks the ops never make, the kernel contract allows)
         * take the workspace path. */
        x.fused = x.rows <= bl.fused_rows && kc <= FUSED_KC_MAX && nseg <= FUSED_NSEG_MAX;
        if (x.fused) x.n_bpack = 0;
        if (c_is_out) {
          x.cbuf = (float *)p->out + (b * p->m + r0) * p->n + j0;
          x.ldc = p->n;
        } else {
          x.cbuf = ws + off_c;
          x.ldc = round_up(x.ncols, 16) + 16;
        }
        for (int64_t k0 = 0; k0 < p->k; k0 += kc) {
          x.k0 = k0;
          x.kc = min64(kc, p->k - k0);
          x.first = k0 == 0;
          x.last = k0 + kc >= p->k;
          fp8g_parallel_for(x.n_apack + x.n_bpack, nthreads, pack_task, &x);
          if (x.fused)
            fp8g_parallel_for(cdiv(npan, FUSED_PANELS), nthreads, fused_task, &x);
          else
            fp8g_parallel_for(x.n_ic * x.nsub, nthreads, compute_task, &x);
        }
      }
    }
  }
  fp8g_ws_release(&ws_cache, ws, cached);
  return FP8GEMM_OK;
}

/* ------------------------------------------------------------ kernel entries */

static bool out_ok(fp8gemm_dtype d) {
  return d == FP8GEMM_F32 || d == FP8GEMM_BF16 || d == FP8GEMM_F16;
}

static bool supports_w8a8(const fp8g_gemm_problem *p) {
  return fp8gemm_dtype_is_fp8(p->a_dtype) && fp8gemm_dtype_is_fp8(p->b_dtype) &&
         out_ok(p->out_dtype) && p->scale_kind >= FP8G_SCALE_NONE &&
         p->scale_kind <= FP8G_SCALE_MX;
}

static bool supports_w8a16(const fp8g_gemm_problem *p) {
  const fp8g_dtype_traits *t = fp8g_traits(p->a_dtype);
  return t && t->is_wide && fp8gemm_dtype_is_fp8(p->b_dtype) && out_ok(p->out_dtype) &&
         p->scale_kind >= FP8G_SCALE_NONE && p->scale_kind <= FP8G_SCALE_BLOCK;
}

static fp8gemm_status run_w8a8(const fp8g_gemm_problem *p) { return run_avx2(p, &fp8g_gemm_ref_w8a8); }
static fp8gemm_status run_w8a16(const fp8g_gemm_problem *p) { return run_avx2(p, &fp8g_gemm_ref_w8a16); }

const fp8g_gemm_kernel fp8g_gemm_avx2_w8a8 = {.name = "gemm_avx2", .isa = FP8GEMM_ISA_AVX2,
    .supports = supports_w8a8, .run = run_w8a8};
const fp8g_gemm_kernel fp8g_gemm_avx2_w8a16 = {.name = "gemm_w8a16_avx2", .isa = FP8GEMM_ISA_AVX2,
    .supports = supports_w8a16, .run = run_w8a16};
