/*
 * Plan, blocking and threads of the BF16-dot GEMM (the BLIS loops of the AVX2 driver,
 * around a micro-kernel passed in by the ISA file):
 *
 *   for batch b, for row super-block (MS rows):
 *     region 0 (parallel, with several column blocks and A(rows, all of K) within
 *                          A_ALL_WS workspaces): pack A(rows, all of K) once, in
 *                          MC-row x KC tasks (else A(rows, pc) is packed in region 1)
 *     for column block jc (NC columns):
 *     for K block pc (KC, even):                -- sequential: K is never split
 *       region 1 (parallel): B(pc, jc) in panel groups (and A(rows, pc) in MC-row tasks)
 *       region 2 (parallel): MC-row blocks x column chunks of jc run the micro-kernel
 *                            and, in the last pc, each tile's epilogue right after it.
 *   Fused (super-blocks of at most fused_rows rows, the mid-size M of LLM layers):
 *     region 1 (parallel): pack A(rows, all of K), one task per K block
 *     for column block jc:
 *       region 2 (parallel): one worker per thread takes column chunks in turn; per
 *                            64-column panel, per K block: packs the B panel into
 *                            its own scratch (L2), runs every row tile on it (in
 *                            the last K block each tile's epilogue right after it).
 *   Before all this, fp8 activations of M ~ 128..512 with NT weights and a CHAIN plan
 *   go to the C^T = W A^T loops instead (gemm_bf16_wt.c: no transposes of weights).
 *   B is decoded once per call, never round-trips through memory packed, and each
 *   weight column (one 4 KiB page of an NT weight with K = 4096) is read for all K
 *   blocks back to back (one TLB miss, not one per K block).
 *
 * K pairs are (even, odd) global indices whatever the block sizes, each output is one
 * VDPBF16PS chain in K order (or one per scale block, folded in order), and partial
 * sums are stored as fp32 between K blocks: results are bitwise the same for any
 * block sizes, task split and thread count.
 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "avx2/gemm_avx2.h" /* fp8g_avx2_epilogue: scales, bias, output rounding */
#include "gemm_bf16.h"
#include "workspace.h"

#define MR FP8G_BF16_MR
#define NR FP8G_BF16_NR

enum { PANELS_PER_TASK = 2 }; /* B panels packed per task (128 columns) */
/* Separate loops: A is packed for all of K at once when that takes at most this many
 * C workspaces (ws_floats each: 64 MiB by default, which holds a full MS = 2304-row
 * super-block up to K = 14336, i.e. 2304 x 7168 pairs). */
enum { A_ALL_WS = 8 };

/* Measured on Zen 4 (docs/kernels.md): KC 1024 puts a B panel (512 pairs x 64 columns
 * x 4 bytes = 128 KiB) in L2, which the micro-kernel streams at full rate, and makes
 * the C tile loads / stores per K block rare; MC 192 rows of A (384 KiB) in L2 too;
 * the MS x NC fp32 accumulator workspace near 8 MiB. */
#define BF16_DEFAULT_BLOCKING \
  {.kc = 1024, .mc = 192, .ms = 2304, .nc_min = 256, .nc_max = 4096, .ws_floats = 1 << 21, .fused_rows = 384}
static const fp8g_bf16_blocking default_blocking = BF16_DEFAULT_BLOCKING;
static fp8g_bf16_blocking blocking = BF16_DEFAULT_BLOCKING;

void fp8g_bf16_set_blocking(const fp8g_bf16_blocking *b) { blocking = b ? *b : default_blocking; }

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }
static int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }
static int64_t round_up(int64_t a, int64_t b) { return cdiv(a, b) * b; }

/* ------------------------------------------------------------ plan */

/* Binary exponents of the smallest nonzero and the largest finite value of a dtype
 * (every value is a multiple of the smallest). */
static int exp_lo(fp8gemm_dtype d) { return ilogbf(fp8g_decode(d, 0x01)); }
static int exp_hi(fp8gemm_dtype d) { return ilogbf(fp8g_traits(d)->max_finite); }

typedef struct code_range {
  int lo, hi; /* e8m0 codes other than NaN; lo > hi when there are none */
} code_range;

/* Widens r by the codes c[0], c[stride], ... (n of them) other than NaN (0xFF): the
 * smallest code is below 0xFF exactly when there is a non-NaN one. The plan reads
 * K/32 x (M + N) codes on every MX call, serially; contiguous codes go RB at a time
 * through fixed-length loops the compiler turns into byte min / max vectors (the
 * plain loop stayed scalar: ~1% of an M = 256 MX GEMM). */
enum { RB = 64 };
static void range_run(code_range *r, const uint8_t *c, int64_t n, int64_t stride) {
  uint8_t lo = 255, hi = 0;
  int64_t i = 0;
  if (stride == 1 && n >= RB) {
    uint8_t lov[RB], hiv[RB];
    for (int j = 0; j < RB; j++) lov[j] = 255, hiv[j] = 0;
    for (; i + RB <= n; i += RB)
      for (int j = 0; j < RB; j++) {
        uint8_t v = c[i + j], w = v == 0xFF ? 0 : v;
        lov[j] = v < lov[j] ? v : lov[j];
        hiv[j] = w > hiv[j] ? w : hiv[j];
      }
    for (int j = 0; j < RB; j++) {
      lo = lov[j] < lo ? lov[j] : lo;
      hi = hiv[j] > hi ? hiv[j] : hi;
    }
  }
  for (; i < n; i++) {
    uint8_t v = c[i * stride], w = v == 0xFF ? 0 : v;
    lo = v < lo ? v : lo;
    hi = w > hi ? w : hi;
  }
  if (lo == 0xFF) return; /* NaN codes only (or none) */
  if (lo < r->lo) r->lo = lo;
  if (hi > r->hi) r->hi = hi;
}

typedef enum mx_way { MX_FOLD, MX_SEGMENT, MX_REFERENCE } mx_way;

/*
 * MX scales, per 32-K block kb, from the ranges of the codes of A (all rows) and B
 * (all columns):
 *  - fold into the bf16 operands when every folded value is a normal bf16 and every
 *    product is at least 2^-126 in its last bit and below 2^126: then no operand is a
 *    denormal (VDPBF16PS would read it as 0), every partial sum is a multiple of a
 *    normal number (never flushed), and no product overflows;
 *  - else sum each block unscaled and fold with sa * sb when 2^(ea + eb - 254) is a
 *    normal fp32 for every pair of codes;
 *  - else the reference.
 */
static mx_way mx_plan(const fp8g_gemm_problem *p) {
  int la = exp_lo(p->a_dtype), ha = exp_hi(p->a_dtype);
  int lb = exp_lo(p->b_dtype), hb = exp_hi(p->b_dtype);
  int64_t nb = p->sb_batch_stride ? p->batch : 1;
  bool fold = true, seg = true;
  for (int64_t kb = 0; kb < p->a_kblocks; kb++) {
    code_range ra = {255, -1}, rb = {255, -1};
    range_run(&ra, p->ea + kb, p->batch * p->m, p->a_kblocks);
    for (int64_t b = 0; b < nb; b++) range_run(&rb, p->eb + b * p->sb_batch_stride + kb * p->n, p->n, 1);
    if (ra.lo > ra.hi || rb.lo > rb.hi) continue; /* NaN scales only: NaN either way */
    int a_lo = la + ra.lo - 127, a_hi = ha + ra.hi - 127;
    int b_lo = lb + rb.lo - 127, b_hi = hb + rb.hi - 127;
    if (a_lo < -126 || b_lo < -126 || a_hi > 127 || b_hi > 127 || a_lo + b_lo < -126 ||
        a_hi + b_hi > 124)
      fold = false;
    if (ra.lo + rb.lo - 254 < -126 || ra.hi + rb.hi - 254 > 127) seg = false;
  }
  return fold ? MX_FOLD : seg ? MX_SEGMENT : MX_REFERENCE;
}

bool fp8g_bf16_make_plan(const fp8g_gemm_problem *p, fp8g_bf16_plan *pl) {
  *pl = (fp8g_bf16_plan){.p = p, .mode = FP8G_BF16_CHAIN};
  bool blocked = p->scale_kind == FP8G_SCALE_BLOCK || p->scale_kind == FP8G_SCALE_MX;
  if (p->scale_kind == FP8G_SCALE_MX) {
    switch (mx_plan(p)) {
      case MX_FOLD: pl->fold_mx = true; break;
      case MX_SEGMENT: pl->mode = FP8G_BF16_SEGMENTED; break;
      default: return false;
    }
  } else if (p->scale_kind == FP8G_SCALE_BLOCK) {
    pl->mode = FP8G_BF16_SEGMENTED;
  }
  if (blocked && p->block_k % 2 != 0) return false; /* a pair would straddle two blocks */
  if (pl->mode == FP8G_BF16_SEGMENTED) pl->seg = p->block_k;
  /* Even K blocks holding whole scale blocks. */
  int64_t kc = max64(2, blocking.kc / 2 * 2);
  if (blocked) kc = p->block_k >= kc ? p->block_k : (kc / p->block_k) * p->block_k;
  /* No larger than K needs, still even and whole scale blocks. */
  pl->kc = min64(kc, round_up(max64(p->k, 1), blocked ? p->block_k : 2));
  return true;
}

bool fp8g_bf16_supports(const fp8g_gemm_problem *p) {
  bool out_ok = p->out_dtype == FP8GEMM_F32 || p->out_dtype == FP8GEMM_BF16 ||
                p->out_dtype == FP8GEMM_F16;
  if (!fp8gemm_dtype_is_fp8(p->a_dtype) || !fp8gemm_dtype_is_fp8(p->b_dtype) || !out_ok) return false;
  if (p->scale_kind == FP8G_SCALE_BLOCK || p->scale_kind == FP8G_SCALE_MX)
    return p->block_k >= 2 && p->block_k % 2 == 0;
  return p->scale_kind >= FP8G_SCALE_NONE && p->scale_kind <= FP8G_SCALE_ROWCOL;
}

/* bf16 activations only: f16 and f32 values are not exact in the bf16 operands. Weight
 * scales (sa is NULL) in the epilogue, or per group / block SEGMENTED. */
bool fp8g_bf16_supports_w8a16(const fp8g_gemm_problem *p) {
  if (p->a_dtype != FP8GEMM_BF16 || p->out_dtype != FP8GEMM_BF16 || !fp8gemm_dtype_is_fp8(p->b_dtype))
    return false;
  if (p->scale_kind == FP8G_SCALE_BLOCK) return p->block_k >= 2 && p->block_k % 2 == 0;
  return p->scale_kind >= FP8G_SCALE_NONE && p->scale_kind <= FP8G_SCALE_ROWCOL;
}

/* ------------------------------------------------------------ tasks */

typedef struct run_ctx {
  fp8g_bf16_plan pl;
  fp8g_avx2_plan epi; /* the AVX2 epilogue reads only .p */
  fp8g_bf16_ukernel_fn uk;
  const fp8g_bf16_ukernel_fn *uk_rows; /* tiles of 1..MR-1 full-width rows, or NULL */
  fp8g_bf16_epilogue_fn epi_nr;        /* the ISA's epilogue of a full-width tile, or NULL */
  int64_t b;              /* batch */
  int64_t r0, rows;       /* super-block rows (within the batch) */
  int64_t mc, n_ic;       /* row blocks of the super-block */
  int64_t j0, ncols;      /* column block */
  int64_t k0, kc, kp;     /* current K block; kp its pairs */
  int64_t sstride;        /* segment-scale stride per panel (segments of a full K block) */
  int64_t kp_stride;      /* pairs per panel in the buffers (of a full K block) */
  bool first, last;
  int64_t n_apack, n_bpack;
  int64_t nsub, sub_w;    /* column chunks of the compute tasks */
  atomic_llong next_chunk; /* fused: the next column chunk a worker takes */
  bool fused;             /* compute tasks pack their B panels (one row block) */
  bool a_all;             /* A packed for all K blocks once per super-block (fused, or
                           * separate loops with several column blocks) */
  int64_t nkb;            /* K blocks */
  int64_t a_kb, as_kb;    /* a_all: A / A-scale buffer stride per K block */
  uint32_t *apack, *bpack;
  float *ascale, *bscale;
  uint32_t *acur;         /* separate loops: A / A scales of the current K block */
  float *ascur;
  float *cbuf;            /* element (0, 0) = output (r0, j0) of this batch */
  int64_t ldc;
} run_ctx;

static void pack_task(void *vctx, int64_t t) {
  run_ctx *x = vctx;
  if (t < x->n_apack) {
    int64_t r = t * x->mc, pan = r / MR;
    fp8g_bf16_pack_a(&x->pl, x->b, x->r0 + r, min64(x->mc, x->rows - r), x->k0, x->kc,
                     x->acur + pan * x->kp * MR, x->ascur + pan * x->sstride * MR, x->sstride);
    return;
  }
  int64_t c = (t - x->n_apack) * PANELS_PER_TASK * NR, pan = c / NR;
  fp8g_bf16_pack_b(&x->pl, x->b, x->j0 + c, min64(PANELS_PER_TASK * NR, x->ncols - c), x->k0, x->kc,
                   x->bpack + pan * x->kp * NR, x->bscale + pan * x->sstride * NR, x->sstride);
}

/* A full tile runs in place, and so does a full-width tile of fewer rows when the ISA
 * has row kernels (the M edge, e.g. 256 = 42 x 6 + 4: the 6-row kernel on scratch
 * wasted 2 of 6 rows and two copies of the tile); other edge tiles run on a
 * zero-padded scratch tile. The same per-lane arithmetic everywhere, so the bits do
 * not depend on where a tile edge falls. */
static void run_tile(const run_ctx *x, fp8g_bf16_tile *t, int mr, int nr) {
  if (mr == MR && nr == NR) {
    x->uk(t, x->pl.mode);
    return;
  }
  if (nr == NR && x->uk_rows && x->uk_rows[mr]) {
    x->uk_rows[mr](t, x->pl.mode);
    return;
  }
  _Alignas(64) float tmp[MR * NR];
  memset(tmp, 0, sizeof tmp);
  if (!t->first)
    for (int i = 0; i < mr; i++) memcpy(tmp + i * NR, t->c + i * t->ldc, (size_t)nr * sizeof(float));
  fp8g_bf16_tile e = *t;
  e.c = tmp;
  e.ldc = NR;
  x->uk(&e, x->pl.mode);
  for (int i = 0; i < mr; i++) memcpy(t->c + i * t->ldc, tmp + i * NR, (size_t)nr * sizeof(float));
}

/* Block scales: a full panel of columns [col, col + NR) inside one block_n-wide
 * scale block has one weight scale per segment (fp8g_bf16_tile.bs_uniform). */
static bool bs_uniform(const run_ctx *x, int64_t col, int64_t nr) {
  const fp8g_gemm_problem *p = x->pl.p;
  return x->pl.mode == FP8G_BF16_SEGMENTED && p->scale_kind == FP8G_SCALE_BLOCK && nr == NR &&
         p->block_n >= NR && col % p->block_n + NR <= p->block_n;
}

/* The epilogue of one tile (super-block row r, column c of the block) right after its
 * last K block, while its C is in L1: the ISA's for a full-width tile (whole-line
 * output stores), else the AVX2 one; the same bits either way. A whole panel's
 * epilogue after its last tile (before session 7) read C back from L2 and stalled on
 * its output stores with nothing else to do. */
static void tile_epilogue(const run_ctx *x, int64_t r, int64_t c, const fp8g_bf16_tile *t, int mr, int nr) {
  int64_t row = x->b * x->pl.p->m + x->r0 + r;
  if (nr == NR && x->epi_nr) x->epi_nr(x->pl.p, row, mr, x->j0 + c, t->c, t->ldc);
  else fp8g_avx2_epilogue(&x->epi, row, mr, x->j0 + c, nr, t->c, t->ldc);
}

static void compute_task(void *vctx, int64_t t) {
  run_ctx *x = vctx;
  int64_t ic = t / x->nsub, s = t % x->nsub;
  int64_t r_lo = ic * x->mc, r_hi = min64(r_lo + x->mc, x->rows);
  int64_t c_lo = s * x->sub_w, c_hi = min64(c_lo + x->sub_w, x->ncols);
  if (c_lo >= c_hi) return;
  fp8g_bf16_tile tile = {.kp = x->kp, .seg_pairs = x->pl.seg / 2, .ldc = x->ldc, .first = x->first};
  for (int64_t c = c_lo; c < c_hi; c += NR) {
    tile.b = x->bpack + (c / NR) * x->kp * NR;
    tile.bscale = x->bscale + (c / NR) * x->sstride * NR;
    tile.bs_uniform = bs_uniform(x, x->j0 + c, min64(NR, c_hi - c));
    for (int64_t r = r_lo; r < r_hi; r += MR) {
      tile.a = x->acur + (r / MR) * x->kp * MR;
      tile.ascale = x->ascur + (r / MR) * x->sstride * MR;
      tile.c = x->cbuf + r * x->ldc + c;
      tile.c_next = r + 2 * MR <= r_hi && c + NR <= c_hi ? tile.c + MR * x->ldc : NULL; /* full next tile */
      run_tile(x, &tile, (int)min64(MR, r_hi - r), (int)min64(NR, c_hi - c));
      if (x->last) tile_epilogue(x, r, c, &tile, (int)min64(MR, r_hi - r), (int)min64(NR, c_hi - c));
    }
  }
}

/* a_all region: A(row block t % n_ic, K block t / n_ic) at its place in the all-K
 * buffers (panel stride: the pairs of that K block, as the tiles read it). */
static void pack_a_all_task(void *vctx, int64_t t) {
  run_ctx *x = vctx;
  int64_t kb = t / x->n_ic, r = (t % x->n_ic) * x->mc, pan = r / MR;
  int64_t k0 = kb * x->pl.kc, kc = min64(x->pl.kc, x->pl.p->k - k0);
  fp8g_bf16_pack_a(&x->pl, x->b, x->r0 + r, min64(x->mc, x->rows - r), k0, kc,
                   x->apack + kb * x->a_kb + pan * fp8g_bf16_pairs(kc) * MR,
                   x->ascale + kb * x->as_kb + pan * x->sstride * MR, x->sstride);
}

/* A fused step: the B panel at column c (nr wide) and K block kb. */
typedef struct fused_step {
  int64_t c, kb;
  int nr;
} fused_step;

/* Fused: B panel of step s into scratch (bp, bs); every row tile on it. The weight
 * codes of the step to run next (if nr > 0) are prefetched into L2 a part per tile, so
 * its packing finds them there instead of waiting on memory with nothing to compute. */
static void fused_panel(const run_ctx *x, fused_step s, fused_step next, uint32_t *bp, float *bs) {
  int64_t k0 = s.kb * x->pl.kc, kc = min64(x->pl.kc, x->pl.p->k - k0);
  fp8g_bf16_pack_b(&x->pl, x->b, x->j0 + s.c, s.nr, k0, kc, bp, bs, x->sstride);
  fp8g_bf16_tile tile = {.kp = fp8g_bf16_pairs(kc), .seg_pairs = x->pl.seg / 2, .b = bp,
                         .bscale = bs, .ldc = x->ldc, .first = s.kb == 0,
                         .bs_uniform = bs_uniform(x, x->j0 + s.c, s.nr)};
  int64_t nk0 = next.kb * x->pl.kc, nkc = min64(x->pl.kc, x->pl.p->k - nk0);
  int64_t units = next.nr > 0 ? fp8g_bf16_pack_units(&x->pl, next.nr, nkc) : 0;
  int64_t ntiles = cdiv(x->rows, MR);
  for (int64_t r = 0, i = 0; r < x->rows; r += MR, i++) {
    tile.a = x->apack + s.kb * x->a_kb + (r / MR) * tile.kp * MR;
    tile.ascale = x->ascale + s.kb * x->as_kb + (r / MR) * x->sstride * MR;
    tile.c = x->cbuf + r * x->ldc + s.c;
    tile.c_next = r + 2 * MR <= x->rows && s.nr == NR ? tile.c + MR * x->ldc : NULL;
    if (units)
      fp8g_bf16_prefetch_b(&x->pl, x->b, x->j0 + next.c, next.nr, nk0, nkc, units * i / ntiles,
                           units * (i + 1) / ntiles);
    run_tile(x, &tile, (int)min64(MR, x->rows - r), s.nr);
    if (s.kb == x->nkb - 1) tile_epilogue(x, r, s.c, &tile, (int)min64(MR, x->rows - r), s.nr);
  }
}

/* Fused region 2: column chunk t, every row, all K blocks in order for each output (the
 * same chains as the unfused loops), B panels packed into scratch (bp, bs). NT weights go
 * panel by panel (a column's K blocks back to back: its page stays in the TLB), NN
 * weights K block by K block (the kc rows of a block, each its own page, stay in the
 * TLB across the panels). */
static void fused_chunk(run_ctx *x, int64_t t, uint32_t *bp, float *bs) {
  int64_t c_lo = t * x->sub_w, c_hi = min64(c_lo + x->sub_w, x->ncols);
  const fused_step none = {0, 0, 0};
  if (x->pl.p->b_stride_k == 1) {
    for (int64_t c = c_lo; c < c_hi; c += NR) {
      int nr = (int)min64(NR, c_hi - c);
      for (int64_t kb = 0; kb < x->nkb; kb++) {
        fused_step next = kb + 1 < x->nkb ? (fused_step){c, kb + 1, nr}
                          : c + NR < c_hi ? (fused_step){c + NR, 0, (int)min64(NR, c_hi - c - NR)}
                                          : none;
        fused_panel(x, (fused_step){c, kb, nr}, next, bp, bs);
      }
    }
    return;
  }
  for (int64_t kb = 0; kb < x->nkb; kb++)
    for (int64_t c = c_lo; c < c_hi; c += NR) {
      fused_step next = c + NR < c_hi     ? (fused_step){c + NR, kb, (int)min64(NR, c_hi - c - NR)}
                        : kb + 1 < x->nkb ? (fused_step){c_lo, kb + 1, (int)min64(NR, c_hi - c_lo)}
                                          : none;
      fused_panel(x, (fused_step){c, kb, (int)min64(NR, c_hi - c)}, next, bp, bs);
    }
}

/* Fused region 2, worker w of at most nthreads: takes column chunks until none are left,
 * each into its own scratch panel w. Scratch per worker, not per chunk: a chunk's B
 * panels are then written into lines already in this core's L2 (per-chunk scratch
 * made every chunk's first panel miss, often into the other core's cache). Which
 * worker runs a chunk does not change its bits. */
static void fused_worker(void *vctx, int64_t w) {
  run_ctx *x = vctx;
  uint32_t *bp = x->bpack + w * x->kp_stride * NR;
  float *bs = x->bscale + w * x->sstride * NR;
  for (;;) {
    int64_t t = atomic_fetch_add(&x->next_chunk, 1);
    if (t >= x->nsub) return;
    fused_chunk(x, t, bp, bs);
  }
}

/* ------------------------------------------------------------ workspace */
static fp8g_ws_cache ws_cache = FP8G_WS_CACHE_INIT;

/* ------------------------------------------------------------ run */

fp8gemm_status fp8g_bf16_gemm_run(const fp8g_gemm_problem *p, const fp8g_bf16_isa_ops *ops,
                                  const fp8g_gemm_kernel *fallback) {
  run_ctx x = {.uk = ops->ukernel, .uk_rows = ops->ukernel_rows, .epi_nr = ops->epilogue_nr};
  if (!fp8g_bf16_make_plan(p, &x.pl)) return fallback->run(p);
  /* w8a16: activations that a VDPBF16PS chain could flush or overflow go elsewhere. */
  if (p->a_dtype == FP8GEMM_BF16 && !fp8g_bf16_w8a16_acts_ok(p)) {
    fp8g_bf16_count_handback();
    return fallback->run(p);
  }
  x.pl.decode = ops->decode;
  x.pl.transpose = ops->transpose;
  x.pl.fold32 = x.pl.fold_mx && p->block_k == 32 ? ops->fold32 : NULL; /* MX: 32-code blocks */
  x.pl.decode_fold32 = x.pl.fold32 ? ops->decode_fold32 : NULL;
  fp8gemm_status wt_status;
  if (fp8g_bf16_wt_run(p, &x.pl, ops, &wt_status)) return wt_status;
  x.epi = (fp8g_avx2_plan){.p = p};
  int nthreads = p->nthreads < 1 ? 1 : p->nthreads;

  const fp8g_bf16_blocking bl = blocking;
  int64_t n_sb = cdiv(p->m, bl.ms), ms = cdiv(p->m, n_sb);
  /* f32 outputs accumulate in place unless their row stride is a multiple of 4 KiB
   * (every row of a tile in one L1 set): then the padded workspace is faster. */
  bool c_is_out = p->out_dtype == FP8GEMM_F32 && p->n % 1024 != 0;
  int64_t nc_ws = c_is_out ? bl.nc_max : (bl.ws_floats / ms) / NR * NR;
  /* Fused: no packed B block bounds NC, only the workspace (fewer parallel regions). */
  x.fused = ms <= bl.fused_rows;
  int64_t nc_cap = !x.fused ? min64(bl.nc_max, nc_ws) : c_is_out ? p->n : nc_ws;
  int64_t nc = round_up(min64(round_up(p->n, NR), max64(bl.nc_min, nc_cap)), NR);
  int64_t kc = x.pl.kc;
  x.kp_stride = fp8g_bf16_pairs(kc);
  x.sstride = x.pl.mode == FP8G_BF16_SEGMENTED ? cdiv(kc, x.pl.seg) : 0;

  /* 4-byte units, each piece on a 64-byte boundary. */
  int64_t ms_pad = round_up(ms, MR);
  int64_t n_a = round_up(ms_pad * x.kp_stride, 16), n_as = round_up(ms_pad * x.sstride, 16);
  x.nkb = cdiv(p->k, kc);
  x.a_kb = n_a;
  x.as_kb = n_as;
  /* A for all K blocks, packed once per super-block: always when fused; in the
   * separate loops when there are several column blocks (else A would be decoded again
   * for each) and the buffer stays within A_ALL_WS workspaces. */
  x.a_all = x.fused || (nc < p->n && (n_a + n_as) * x.nkb <= A_ALL_WS * bl.ws_floats);
  if (x.a_all) {
    n_a *= x.nkb;
    n_as *= x.nkb;
  }
  /* Fused: one scratch panel per worker. */
  int64_t max_tasks = 8 * (int64_t)nthreads;
  int64_t b_cols = x.fused ? nthreads * NR : nc;
  int64_t n_b = round_up(b_cols * x.kp_stride, 16), n_bs = round_up(b_cols * x.sstride, 16);
  /* Workspace rows padded by a cache line: a power-of-two row stride would put the
   * rows of a C tile in one L1 set. */
  int64_t n_c = c_is_out ? 0 : round_up(ms * (nc + 16), 16);
  size_t bytes = (size_t)(n_a + n_as + n_b + n_bs + n_c) * 4;
  bool cached;
  void *ws = fp8g_ws_acquire(&ws_cache, bytes, &cached);
  if (!ws)
    return fp8g_error(FP8GEMM_OUT_OF_MEMORY, "fp8_gemm: %zu bytes of BF16 GEMM workspace", bytes);
  x.apack = ws;
  x.ascale = (float *)(x.apack + n_a);
  x.bpack = (uint32_t *)(x.ascale + n_as);
  x.bscale = (float *)(x.bpack + n_b);
  float *cws = x.bscale + n_bs;

  for (int64_t b = 0; b < p->batch; b++) {
    x.b = b;
    for (int64_t r0 = 0; r0 < p->m; r0 += ms) {
      x.r0 = r0;
      x.rows = min64(ms, p->m - r0);
      x.n_ic = x.fused ? 1 : cdiv(x.rows, bl.mc); /* even row blocks near MC, multiples of MR */
      x.mc = round_up(cdiv(x.rows, x.n_ic), MR);
      x.n_ic = cdiv(x.rows, x.mc);
      if (x.a_all) fp8g_parallel_for(x.n_ic * x.nkb, nthreads, pack_a_all_task, &x);
      for (int64_t j0 = 0; j0 < p->n; j0 += nc) {
        x.j0 = j0;
        x.ncols = min64(nc, p->n - j0);
        int64_t npan = cdiv(x.ncols, NR);
        x.nsub = nthreads == 1 ? 1 : min64(npan, cdiv(max_tasks, x.n_ic));
        x.sub_w = cdiv(npan, x.nsub) * NR;
        x.nsub = cdiv(npan * NR, x.sub_w);
        x.n_apack = x.a_all ? 0 : x.n_ic;
        x.n_bpack = x.fused ? 0 : cdiv(npan, PANELS_PER_TASK);
        if (c_is_out) {
          x.cbuf = (float *)p->out + (b * p->m + r0) * p->n + j0;
          x.ldc = p->n;
        } else {
          x.cbuf = cws;
          x.ldc = round_up(x.ncols, 16) + 16;
        }
        if (x.fused) {
          atomic_store(&x.next_chunk, 0);
          fp8g_parallel_for(min64(nthreads, x.nsub), nthreads, fused_worker, &x);
          continue;
        }
        for (int64_t k0 = 0; k0 < p->k; k0 += kc) {
          x.k0 = k0;
          x.kc = min64(kc, p->k - k0);
          x.kp = fp8g_bf16_pairs(x.kc);
          x.first = k0 == 0;
          x.last = k0 + kc >= p->k;
          x.acur = x.a_all ? x.apack + (k0 / kc) * x.a_kb : x.apack;
          x.ascur = x.a_all ? x.ascale + (k0 / kc) * x.as_kb : x.ascale;
          fp8g_parallel_for(x.n_apack + x.n_bpack, nthreads, pack_task, &x);
          fp8g_parallel_for(x.n_ic * x.nsub, nthreads, compute_task, &x);
        }
      }
    }
  }
  fp8g_ws_release(&ws_cache, ws, cached);
  return FP8GEMM_OK;
}
