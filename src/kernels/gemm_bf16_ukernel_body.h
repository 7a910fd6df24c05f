/*
 * The 6 x 64 BF16-dot micro-kernel and the 64-code fp8 -> bf16 decoder (gemm_bf16.h's
 * contracts), written once over a small vector vocabulary that the including file
 * defines first:
 *
 *   bk_f  16 fp32 lanes            bk_p  16 dwords, each a pair of bf16 (lo, hi)
 *   bk_zero()  bk_loadf(p)  bk_storef(p, v)  bk_bcastf(p)      fp32 vectors
 *   bk_load_pairs(p)  (64-byte aligned)  bk_bcast_pair(p)       pair vectors
 *   bk_dot(acc, a, b)   per lane: acc += a.hi * b.hi, then acc += a.lo * b.lo, each
 *                       an fp32 FMA rounded to nearest even, denormal inputs read as
 *                       zero, denormal results flushed (VDPBF16PS, whatever MXCSR says)
 *   bk_mul(a, b)  bk_fma(a, b, c) = a * b + c                  (IEEE, MXCSR)
 *   bk_prefetch_c(p)    a hint only (may do nothing): C at p is read and written soon
 *   bk_b  64 bytes: bk_b_load(p)  bk_b_loadn(p, n) (n bytes, zeros after; no read past)
 *         bk_b_store(p, v)  bk_b_storen(p, v, n) (the first n bytes only)  bk_b_set1(x)  bk_b_and  bk_b_or
 *         bk_b_perm2(t0, idx, t1)  byte i = (idx[i] & 64 ? t1 : t0)[idx[i] & 63]  (VPERMT2B)
 *         bk_b_blend_eq(c, code, x, v)  byte i = c[i] == code ? v : x[i]
 *   bk_p_loadu(p)  bk_p_storeu(p, v)  (unaligned 16 dwords)
 *   bk_p_unpacklo32 / hi32 / lo64 / hi64(a, b)   per 128-bit lane as VPUNPCK{L,H}{DQ,QDQ}
 *   bk_p_shuf128_even(a, b) = lanes a0 a2 b0 b2, bk_p_shuf128_odd = a1 a3 b1 b3
 *                       (VSHUFI32X4 with 0x88 / 0xDD)
 *   BK_UKERNEL, BK_DECODE, BK_TRANSPOSE   the names to give the micro-kernel, the
 *                       decoder and the 16 x 16 dword transpose
 *   BK_UKERNEL_ROWS     optional: the name of a table of micro-kernels for tiles of
 *                       1..MR-1 rows (index = rows)
 *   BK_UKERNEL_WT       optional: the name of a table of C^T = W A^T micro-kernels
 *                       (rows 1..MR, each row's pairs from its own run; CHAIN only;
 *                       they also decode a share of the next step's weight runs), with
 *                       bk_prefetch_r(p): a read hint only (may do nothing)
 *   BK_DECODE_FOLD32    optional: the name of a decoder that also applies MX folds
 *                       (fp8g_bf16_decode_fold32_fn), with bk_b_fold32(v, code): the 32
 *                       halfwords of v folded as fp8g_bf16_fold32_fn does one block
 *
 * avx512_bf16/gemm_avx512bf16.c maps it to AVX-512 intrinsics; tests/c/gemm_bf16_emul.h
 * to plain C with the instruction's exact semantics, so this code is tested on CPUs
 * without AVX512_BF16 too.
 *
 * Registers (AVX-512): 24 accumulators + 4 B vectors + 1 broadcast A pair of 32.
 * VDPBF16PS has latency 6 and two pipes: 24 independent chains keep both busy.
 */
#if !defined(BK_UKERNEL) || !defined(BK_DECODE) || !defined(BK_TRANSPOSE)
#error "define the vector vocabulary, BK_UKERNEL, BK_DECODE and BK_TRANSPOSE before including gemm_bf16_ukernel_body.h"
#endif

#include "gemm_bf16.h"

_Static_assert(FP8G_BF16_MR == 6 && FP8G_BF16_NR == 64, "the macros below spell out 6 x 4 vectors");

#define BK_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5)
/* Row i exists in a tile of R rows (R a compile-time constant in every caller: the
 * guards vanish and rows past R take no registers). */
#define BK_IF_ROW(i, body) if ((i) < R) { body }
#define BK_DECL(i) bk_f c##i##0 = bk_zero(), c##i##1 = bk_zero(), c##i##2 = bk_zero(), c##i##3 = bk_zero();
#define BK_LOAD(i)                                                                          \
  BK_IF_ROW(i, c##i##0 = bk_loadf(c + (i) * ldc);      c##i##1 = bk_loadf(c + (i) * ldc + 16); \
               c##i##2 = bk_loadf(c + (i) * ldc + 32); c##i##3 = bk_loadf(c + (i) * ldc + 48);)
#define BK_STORE(i)                                                                          \
  BK_IF_ROW(i, bk_storef(c + (i) * ldc, c##i##0);      bk_storef(c + (i) * ldc + 16, c##i##1); \
               bk_storef(c + (i) * ldc + 32, c##i##2); bk_storef(c + (i) * ldc + 48, c##i##3);)
#define BK_DOT_ROW(i)                                  \
  BK_IF_ROW(i,                                         \
    bk_p ai = bk_bcast_pair(a + (i));                  \
    c##i##0 = bk_dot(c##i##0, ai, b0);                 \
    c##i##1 = bk_dot(c##i##1, ai, b1);                 \
    c##i##2 = bk_dot(c##i##2, ai, b2);                 \
    c##i##3 = bk_dot(c##i##3, ai, b3);)
/* `len` pair steps; one step per iteration (hand unrolling made gcc copy registers in
 * the AVX2 kernel). */
#define BK_K_LOOP(len)                                                                \
  for (int64_t kk = (len); kk > 0; kk--) {                                           \
    bk_p b0 = bk_load_pairs(b), b1 = bk_load_pairs(b + 16), b2 = bk_load_pairs(b + 32), \
         b3 = bk_load_pairs(b + 48);                                                  \
    BK_ROWS(BK_DOT_ROW)                                                               \
    a += FP8G_BF16_MR;                                                                \
    b += FP8G_BF16_NR;                                                                \
  }

/* C(i, :) = fma(acc(i, :), as[i] * bs[:], C(i, :)), C taken as 0 on the first fold. */
#define BK_FOLD1(i, v)                                                            \
  bk_storef(c + (i) * ldc + 16 * (v),                                             \
            bk_fma(c##i##v, bk_mul(s, bs##v),                                     \
                   first ? bk_zero() : bk_loadf(c + (i) * ldc + 16 * (v))));
#define BK_FOLD_ROW(i)                  \
  BK_IF_ROW(i,                          \
    bk_f s = bk_bcastf(as + (i));       \
    BK_FOLD1(i, 0) BK_FOLD1(i, 1)       \
    BK_FOLD1(i, 2) BK_FOLD1(i, 3))
/* The same when every column has the scale sb: as[i] * sb once per row (the same
 * product in every lane), 6 multiplies per fold instead of 24. */
#define BK_FOLDU1(i, v)                                                           \
  bk_storef(c + (i) * ldc + 16 * (v),                                             \
            bk_fma(c##i##v, s, first ? bk_zero() : bk_loadf(c + (i) * ldc + 16 * (v))));
#define BK_FOLDU_ROW(i)                 \
  BK_IF_ROW(i,                          \
    bk_f s = bk_mul(bk_bcastf(as + (i)), sb); \
    BK_FOLDU1(i, 0) BK_FOLDU1(i, 1)     \
    BK_FOLDU1(i, 2) BK_FOLDU1(i, 3))

/* The next tile's C rows (4 lines each), for writing (AVX-512: PREFETCHW), issued
 * BK_PF_TAIL pairs (~1500 cycles) before this tile's end. Its loads at the start of a
 * tile would otherwise stall every accumulator chain, and its stores at the end miss:
 * with the rows only prefetched into L2, a 4096^3 GEMM (C workspace 8 MiB, rows read
 * and written once per K block) ran the micro-kernel at 92-94% of the peak, with
 * PREFETCHW at the tile's start 96-97%; issued near the end the lines are still in L1
 * when the next tile loads them (the tile streams ~140 KiB of A and B through L1 in
 * between otherwise; docs/kernels.md, session 15). */
enum { BK_PF_TAIL = 64 };
#define BK_PF_ROW(i)                                                   \
  BK_IF_ROW(i, bk_prefetch_c(t->c_next + (i) * ldc);                   \
               bk_prefetch_c(t->c_next + (i) * ldc + 16);              \
               bk_prefetch_c(t->c_next + (i) * ldc + 32);              \
               bk_prefetch_c(t->c_next + (i) * ldc + 48);)
/* Pair steps before that prefetch (0 when the tile is that short). */
static inline int64_t bk_pf_head(int64_t kp) { return kp > BK_PF_TAIL ? kp - BK_PF_TAIL : 0; }

/* The micro-kernel for the first R rows of an MR-row A panel (R <= MR; the A panel
 * keeps its MR-row layout). Each lane's arithmetic is the same for every R, so a tile
 * of R < MR rows gives the bits of the full tile's first R rows. */
static inline __attribute__((always_inline)) void bk_ukernel_rows(const fp8g_bf16_tile *t,
                                                                  fp8g_bf16_mode mode, const int R) {
  float *c = t->c;
  int64_t ldc = t->ldc;
  const uint32_t *a = t->a, *b = t->b;
  int64_t head = bk_pf_head(t->kp);
  if (mode == FP8G_BF16_CHAIN) {
    BK_ROWS(BK_DECL)
    if (!t->first) {
      BK_ROWS(BK_LOAD)
    }
    BK_K_LOOP(head)
    if (t->c_next) {
      BK_ROWS(BK_PF_ROW)
    }
    BK_K_LOOP(t->kp - head)
    BK_ROWS(BK_STORE)
    return;
  }
  bool first = t->first;
  for (int64_t k0 = 0, s_i = 0; k0 < t->kp; k0 += t->seg_pairs, s_i++) {
    int64_t len = t->kp - k0 < t->seg_pairs ? t->kp - k0 : t->seg_pairs;
    if (t->c_next && k0 <= head && head < k0 + len) { /* at the start of the segment holding step head */
      BK_ROWS(BK_PF_ROW)
    }
    BK_ROWS(BK_DECL)
    BK_K_LOOP(len)
    const float *as = t->ascale + s_i * FP8G_BF16_MR, *bsp = t->bscale + s_i * FP8G_BF16_NR;
    if (t->bs_uniform) {
      bk_f sb = bk_bcastf(bsp);
      BK_ROWS(BK_FOLDU_ROW)
    } else {
      bk_f bs0 = bk_loadf(bsp), bs1 = bk_loadf(bsp + 16), bs2 = bk_loadf(bsp + 32),
           bs3 = bk_loadf(bsp + 48);
      BK_ROWS(BK_FOLD_ROW)
    }
    first = false;
  }
}

static void BK_UKERNEL(const fp8g_bf16_tile *t, fp8g_bf16_mode mode) {
  bk_ukernel_rows(t, mode, FP8G_BF16_MR);
}

#ifdef BK_UKERNEL_ROWS
/* Tiles of 1..MR-1 full-width rows, run in place (the M edge: 256 = 42 x 6 + 4 rows);
 * index = rows, entry 0 unused. */
#define BK_UK_CAT(a, b) a##b
#define BK_UK_NAME(base, r) BK_UK_CAT(base, r)
#define BK_UK_DEF(r)                                                                         \
  static void BK_UK_NAME(BK_UKERNEL_ROWS, r)(const fp8g_bf16_tile *t, fp8g_bf16_mode mode) { \
    bk_ukernel_rows(t, mode, r);                                                              \
  }
BK_UK_DEF(1) BK_UK_DEF(2) BK_UK_DEF(3) BK_UK_DEF(4) BK_UK_DEF(5)
static const fp8g_bf16_ukernel_fn BK_UKERNEL_ROWS[FP8G_BF16_MR] = {
    NULL, BK_UK_NAME(BK_UKERNEL_ROWS, 1), BK_UK_NAME(BK_UKERNEL_ROWS, 2), BK_UK_NAME(BK_UKERNEL_ROWS, 3),
    BK_UK_NAME(BK_UKERNEL_ROWS, 4), BK_UK_NAME(BK_UKERNEL_ROWS, 5)};
#undef BK_UK_DEF
#undef BK_UK_NAME
#undef BK_UK_CAT
#endif

/*
 * dst[0..n) = bf16 of the fp8 codes src[0..n), n >= 1, 64 codes a step: two table
 * lookups on the low 7 bits (VPERMT2B over 128-byte tables of low and high bytes), the
 * sign OR-ed into the high byte, the fnuz NaN code patched, and the two byte vectors
 * interleaved into little-endian halfwords. Tables loaded once per call (a call per 64
 * codes cost more than the lookups); the last step masked.
 */
static const uint8_t bk_interleave[2][64] = {
#define BK_IL(h, i) (uint8_t)((i) % 2 ? 64 + 32 * (h) + (i) / 2 : 32 * (h) + (i) / 2)
#define BK_IL8(h, i) BK_IL(h, i), BK_IL(h, i + 1), BK_IL(h, i + 2), BK_IL(h, i + 3), \
                     BK_IL(h, i + 4), BK_IL(h, i + 5), BK_IL(h, i + 6), BK_IL(h, i + 7)
    {BK_IL8(0, 0), BK_IL8(0, 8), BK_IL8(0, 16), BK_IL8(0, 24), BK_IL8(0, 32), BK_IL8(0, 40),
     BK_IL8(0, 48), BK_IL8(0, 56)},
    {BK_IL8(1, 0), BK_IL8(1, 8), BK_IL8(1, 16), BK_IL8(1, 24), BK_IL8(1, 32), BK_IL8(1, 40),
     BK_IL8(1, 48), BK_IL8(1, 56)}};
#undef BK_IL8
#undef BK_IL

/* The decoder's tables and constants, in registers for a run. */
typedef struct bk_dec_regs {
  bk_b lo0, lo1, hi0, hi1, il0, il1, m7f, m80;
} bk_dec_regs;
static inline __attribute__((always_inline)) bk_dec_regs bk_dec_load(const fp8g_bf16_dec_tables *t) {
  bk_dec_regs r = {bk_b_load(t->lo[0]), bk_b_load(t->lo[1]), bk_b_load(t->hi[0]), bk_b_load(t->hi[1]),
                   bk_b_load(bk_interleave[0]), bk_b_load(bk_interleave[1]), bk_b_set1(0x7F),
                   bk_b_set1(0x80)};
  return r;
}
/* 64 codes c -> halfwords h0 (codes 0..31), h1 (32..63). */
static inline __attribute__((always_inline)) void bk_dec64(const fp8g_bf16_dec_tables *t, const bk_dec_regs *r,
                                                           bk_b c, bk_b *h0, bk_b *h1) {
  bk_b mag = bk_b_and(c, r->m7f);
  bk_b lo = bk_b_perm2(r->lo0, mag, r->lo1);
  bk_b hi = bk_b_or(bk_b_perm2(r->hi0, mag, r->hi1), bk_b_and(c, r->m80));
  if (t->nan80) {
    lo = bk_b_blend_eq(c, 0x80, lo, t->nan_lo);
    hi = bk_b_blend_eq(c, 0x80, hi, t->nan_hi);
  }
  *h0 = bk_b_perm2(lo, r->il0, hi);
  *h1 = bk_b_perm2(lo, r->il1, hi);
}

/* The decoder's loop; with `codes` (only where the ISA defines BK_DECODE_FOLD32) each
 * 32-halfword vector, one MX block, also gets the fold of its e8m0 code codes[q]
 * before it is stored (no store and reload of the decoded run, no call per block). */
static inline __attribute__((always_inline)) void bk_decode_run(const fp8g_bf16_dec_tables *t,
                                                                const uint8_t *src, int n, uint16_t *dst,
                                                                const uint8_t *codes) {
  bk_dec_regs r = bk_dec_load(t);
  for (int i = 0; i < n; i += 64) {
    int len = n - i < 64 ? n - i : 64;
    bk_b c = len == 64 ? bk_b_load(src + i) : bk_b_loadn(src + i, len);
    uint8_t *d = (uint8_t *)(dst + i);
    bk_b h0, h1;
    bk_dec64(t, &r, c, &h0, &h1);
#ifdef BK_DECODE_FOLD32
    if (codes) {
      h0 = bk_b_fold32(h0, codes[i / 32]);
      if (len > 32) h1 = bk_b_fold32(h1, codes[i / 32 + 1]);
    }
#else
    (void)codes;
#endif
    if (len == 64) {
      bk_b_store(d, h0);
      bk_b_store(d + 64, h1);
      continue;
    }
    bk_b_storen(d, h0, len < 32 ? 2 * len : 64);
    if (len > 32) bk_b_storen(d + 64, h1, 2 * (len - 32));
  }
}

static void BK_DECODE(const fp8g_bf16_dec_tables *t, const uint8_t *src, int n, uint16_t *dst) {
  bk_decode_run(t, src, n, dst, NULL);
}

#ifdef BK_DECODE_FOLD32
/* fp8g_bf16_decode_fold32_fn: decode, then the MX fold of each 32-code block. */
static void BK_DECODE_FOLD32(const fp8g_bf16_dec_tables *t, const uint8_t *src, int n, uint16_t *dst,
                             const uint8_t *codes) {
  bk_decode_run(t, src, n, dst, codes);
}
#endif

#ifdef BK_UKERNEL_WT
/* The C^T = W A^T tiles (gemm_bf16_wt.c, CHAIN only): row i of the tile takes its pairs
 * from its own contiguous run a + i * lda (a decoded weight row: pair j is K indices
 * 2j, 2j + 1, as in a panel), so weight rows need no interleave and no transpose;
 * each lane's arithmetic is the panel kernel's. */
#define BK_DOT_ROWW(i)                                 \
  BK_IF_ROW(i,                                         \
    bk_p ai = bk_bcast_pair(a##i + j);                 \
    c##i##0 = bk_dot(c##i##0, ai, b0);                 \
    c##i##1 = bk_dot(c##i##1, ai, b1);                 \
    c##i##2 = bk_dot(c##i##2, ai, b2);                 \
    c##i##3 = bk_dot(c##i##3, ai, b3);)
/* Pair steps [j0, j1) of a C^T tile. */
#define BK_WT_STEPS(j0, j1)                                                                 \
  for (int64_t j = (j0); j < (j1); j++) {                                                    \
    bk_p b0 = bk_load_pairs(b), b1 = bk_load_pairs(b + 16), b2 = bk_load_pairs(b + 32),     \
         b3 = bk_load_pairs(b + 48);                                                         \
    BK_ROWS(BK_DOT_ROWW)                                                                     \
    b += FP8G_BF16_NR;                                                                       \
  }
/* A unit of a fp8g_bf16_wt_dec: u, at row r = u / upr, piece q = u % upr. */
typedef struct bk_dec_pos {
  int64_t u, r, q;
} bk_dec_pos;
static inline bk_dec_pos bk_dec_at(const fp8g_bf16_wt_dec *d, int64_t u) {
  bk_dec_pos p = {u, u / d->upr, u % d->upr};
  return p;
}
static inline void bk_dec_next(const fp8g_bf16_wt_dec *d, bk_dec_pos *p) {
  p->u++;
  if (++p->q == d->upr) p->q = 0, p->r++;
}
static inline __attribute__((always_inline)) void bk_ukernel_wt(const fp8g_bf16_tile *t, const int R) {
  float *c = t->c;
  int64_t ldc = t->ldc, lda = t->lda;
  const uint32_t *b = t->b;
  /* rows past R point at row 0 (never read): no pointer past the caller's rows */
  const uint32_t *a0 = t->a, *a1 = R > 1 ? a0 + lda : a0, *a2 = R > 2 ? a0 + 2 * lda : a0,
                 *a3 = R > 3 ? a0 + 3 * lda : a0, *a4 = R > 4 ? a0 + 4 * lda : a0,
                 *a5 = R > 5 ? a0 + 5 * lda : a0;
  int64_t head = bk_pf_head(t->kp), s = 0;
  BK_ROWS(BK_DECL)
  if (!t->first) {
    BK_ROWS(BK_LOAD)
  }
  /* The tile's units of the next step's decode, one per `every` pair steps: the
   * out-of-order window runs them beside the dots (VPERMT2B on other pipes); each
   * unit's codes were prefetched FP8G_BF16_DEC_AHEAD units before. */
  const fp8g_bf16_wt_dec *d = t->dec;
  int64_t nu = d ? t->du1 - t->du0 : 0;
  if (nu > 0) {
    int64_t every = head / nu;
    bk_dec_pos at = bk_dec_at(d, t->du0), pf = bk_dec_at(d, t->du0 + FP8G_BF16_DEC_AHEAD);
    for (int64_t n = 0; n < nu; n++) {
      BK_WT_STEPS(s, s + every)
      s += every;
      if (pf.u < d->units) bk_prefetch_r(d->src + pf.r * d->src_stride + 64 * pf.q);
      bk_dec_next(d, &pf);
      /* the tables again per unit: 29 of 32 registers hold the tile, so they come from
       * L1 (gcc folds them into the lookups as memory operands) */
      bk_dec_regs rg = bk_dec_load(d->tab);
      bk_b h0, h1;
      bk_dec64(d->tab, &rg, bk_b_load(d->src + at.r * d->src_stride + 64 * at.q), &h0, &h1);
      uint8_t *o = (uint8_t *)(d->dst + at.r * d->dst_stride + 64 * at.q);
      bk_b_store(o, h0);
      bk_b_store(o + 64, h1);
      bk_dec_next(d, &at);
    }
  }
  BK_WT_STEPS(s, head)
  if (t->c_next) {
    BK_ROWS(BK_PF_ROW)
  }
  BK_WT_STEPS(head, t->kp)
  BK_ROWS(BK_STORE)
  (void)a1, (void)a2, (void)a3, (void)a4, (void)a5;
}
#undef BK_DOT_ROWW
#undef BK_WT_STEPS
#define BK_WT_CAT(a, b) a##b
#define BK_WT_XCAT(a, b) BK_WT_CAT(a, b)
#define BK_WT_NAME(r) BK_WT_XCAT(BK_UKERNEL_WT, r)
#define BK_WT_DEF(r) \
  static void BK_WT_NAME(r)(const fp8g_bf16_tile *t, fp8g_bf16_mode mode) { (void)mode; bk_ukernel_wt(t, r); }
BK_WT_DEF(1) BK_WT_DEF(2) BK_WT_DEF(3) BK_WT_DEF(4) BK_WT_DEF(5) BK_WT_DEF(6)
/* index = rows (1..MR), entry 0 unused */
static const fp8g_bf16_ukernel_fn BK_UKERNEL_WT[FP8G_BF16_MR + 1] = {
    NULL, BK_WT_NAME(1), BK_WT_NAME(2), BK_WT_NAME(3), BK_WT_NAME(4), BK_WT_NAME(5), BK_WT_NAME(6)};
#undef BK_WT_DEF
#undef BK_WT_NAME
#undef BK_WT_XCAT
#undef BK_WT_CAT
#endif

/*
 * dst[c * dstride + r] = src[r * sstride + c], r, c < 16: dwords interleaved in pairs
 * (unpack 32), quads (unpack 64), then 128-bit lanes gathered twice; the usual 4-stage
 * 16 x 16 transpose, 64 shuffles for 256 dwords.
 */
static void BK_TRANSPOSE(const uint32_t *src, int64_t sstride, uint32_t *dst, int64_t dstride) {
  bk_p r[16], t[16];
  for (int i = 0; i < 16; i++) r[i] = bk_p_loadu(src + i * sstride);
  for (int i = 0; i < 8; i++) { /* t[2i], t[2i+1]: rows 2i, 2i+1 interleaved */
    t[2 * i] = bk_p_unpacklo32(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = bk_p_unpackhi32(r[2 * i], r[2 * i + 1]);
  }
  for (int g = 0; g < 4; g++) { /* r[4g + c], lane L: rows 4g..4g+3 of column 4L + c */
    r[4 * g] = bk_p_unpacklo64(t[4 * g], t[4 * g + 2]);
    r[4 * g + 1] = bk_p_unpackhi64(t[4 * g], t[4 * g + 2]);
    r[4 * g + 2] = bk_p_unpacklo64(t[4 * g + 1], t[4 * g + 3]);
    r[4 * g + 3] = bk_p_unpackhi64(t[4 * g + 1], t[4 * g + 3]);
  }
  for (int c = 0; c < 4; c++) {
    /* t[c]: rows 0-3 / 0-3 / 4-7 / 4-7 of columns c, 8+c, c, 8+c (odd: 4+c, 12+c);
     * t[8+c] the same for rows 8-15 */
    t[c] = bk_p_shuf128_even(r[c], r[4 + c]);
    t[4 + c] = bk_p_shuf128_odd(r[c], r[4 + c]);
    t[8 + c] = bk_p_shuf128_even(r[8 + c], r[12 + c]);
    t[12 + c] = bk_p_shuf128_odd(r[8 + c], r[12 + c]);
    bk_p_storeu(dst + c * dstride, bk_p_shuf128_even(t[c], t[8 + c]));
    bk_p_storeu(dst + (8 + c) * dstride, bk_p_shuf128_odd(t[c], t[8 + c]));
    bk_p_storeu(dst + (4 + c) * dstride, bk_p_shuf128_even(t[4 + c], t[12 + c]));
    bk_p_storeu(dst + (12 + c) * dstride, bk_p_shuf128_odd(t[4 + c], t[12 + c]));
  }
}

#undef BK_ROWS
#undef BK_IF_ROW
#undef BK_DECL
#undef BK_LOAD
#undef BK_STORE
#undef BK_DOT_ROW
#undef BK_K_LOOP
#undef BK_FOLD1
#undef BK_FOLD_ROW
#undef BK_FOLDU1
#undef BK_FOLDU_ROW
#undef BK_PF_ROW
