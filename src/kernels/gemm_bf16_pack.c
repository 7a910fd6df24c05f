/*
 * Packing for the BF16-dot GEMM: fp8 codes -> exact bf16, two consecutive K values per
 * dword (the pair VDPBF16PS multiplies), MX powers of two added to the bf16 exponent
 * when the plan folds them, and per-K-block scales laid out for the SEGMENTED fold.
 * Contiguous codes (A rows, NN weight rows, NT weight columns) go through the ISA's
 * 64-code vector decoder (plan.decode), MX folds applied to the decoded halfwords;
 * other strides through the 256-entry table, one code at a time. Portable C: the real kernel and the test's
 * emulation run this same code.
 */
#include <pthread.h>
#include <string.h>

#include "gemm_bf16.h"

#define MR FP8G_BF16_MR
#define NR FP8G_BF16_NR
_Static_assert(MR == 6, "pack_a spells out the 6 rows of a panel");
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "pack_a reads two decoded halfwords as one little-endian pair dword"
#endif

static uint16_t luts[4][256];
static fp8g_bf16_dec_tables dec_tables[4];
static pthread_once_t luts_once = PTHREAD_ONCE_INIT;
static const fp8gemm_dtype lut_order[4] = {FP8GEMM_E4M3FN, FP8GEMM_E5M2, FP8GEMM_E4M3FNUZ,
                                           FP8GEMM_E5M2FNUZ};

/* fp8 values have at most 4 significant bits and exponents in [-17, 15]: the bf16
 * rounding below is exact, and NaN stays NaN. */
static void build_luts(void) {
  for (int t = 0; t < 4; t++) {
    for (int c = 0; c < 256; c++) luts[t][c] = fp8g_f32_to_bf16(fp8g_decode(lut_order[t], (uint8_t)c));
    for (int c = 0; c < 128; c++) {
      dec_tables[t].lo[c / 64][c % 64] = (uint8_t)(luts[t][c] & 0xFF);
      dec_tables[t].hi[c / 64][c % 64] = (uint8_t)(luts[t][c] >> 8);
    }
    dec_tables[t].nan80 = lut_order[t] == FP8GEMM_E4M3FNUZ || lut_order[t] == FP8GEMM_E5M2FNUZ;
    dec_tables[t].nan_lo = (uint8_t)(luts[t][0x80] & 0xFF);
    dec_tables[t].nan_hi = (uint8_t)(luts[t][0x80] >> 8);
  }
}

static int lut_index(fp8gemm_dtype dtype) {
  pthread_once(&luts_once, build_luts);
  for (int t = 0; t < 3; t++)
    if (lut_order[t] == dtype) return t;
  return 3; /* e5m2fnuz: callers only pass fp8 dtypes */
}

const uint16_t *fp8g_bf16_lut(fp8gemm_dtype dtype) { return luts[lut_index(dtype)]; }
const fp8g_bf16_dec_tables *fp8g_bf16_tables(fp8gemm_dtype dtype) { return &dec_tables[lut_index(dtype)]; }

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/*
 * A bf16 value times 2^s, where `add` = s << 7 is added to the exponent field. The
 * plan folds only when every nonzero result stays a normal bf16, so the integer add
 * is the exact product; zero, Inf and NaN stay as they are. An e8m0 NaN code makes
 * the whole block NaN (as 0 * NaN would).
 */
typedef struct fold {
  int32_t add;
  bool nan;
} fold;

static inline uint32_t apply_fold(uint32_t v, fold f) {
  if (f.nan) return 0x7FC0u;
  uint32_t e = v & 0x7F80u;
  if (f.add == 0 || e == 0 || e == 0x7F80u) return v;
  return (uint32_t)((int32_t)v + f.add) & 0xFFFFu;
}

static fold e8m0_fold(uint8_t code) {
  return (fold){.add = code == 0xFF ? 0 : ((int32_t)code - 127) * 128, .nan = code == 0xFF};
}

/* Scale of a segment as fp32: block scales as given, MX codes as 2^(e-127). */
static float a_seg_scale(const fp8g_gemm_problem *p, int64_t row, int64_t kb) {
  if (!p->sa && p->scale_kind != FP8G_SCALE_MX) return 1.0f; /* w8a16: weight scales only */
  if (p->scale_kind == FP8G_SCALE_MX) return fp8g_decode(FP8GEMM_E8M0, p->ea[row * p->a_kblocks + kb]);
  return p->sa[row * p->a_kblocks + kb];
}

static float b_seg_scale(const fp8g_gemm_problem *p, int64_t b, int64_t kb, int64_t col) {
  if (p->scale_kind == FP8G_SCALE_MX)
    return fp8g_decode(FP8GEMM_E8M0, p->eb[b * p->sb_batch_stride + kb * p->n + col]);
  return p->sb[b * p->sb_batch_stride + kb * p->b_nblocks + col / p->block_n];
}

/* n contiguous codes (n <= CHUNK here) -> bf16 through the ISA's decoder. */
static void decode_run(const fp8g_bf16_plan *pl, const fp8g_bf16_dec_tables *t, const uint8_t *src,
                       int64_t n, uint16_t *dst) {
  pl->decode(t, src, (int)n, dst);
}

/* apply_fold over a run of decoded halfwords (branch-free, so it vectorises). */
static void fold_run(uint16_t *h, int64_t n, fold f) {
  if (f.nan) {
    for (int64_t i = 0; i < n; i++) h[i] = 0x7FC0;
    return;
  }
  uint16_t add = (uint16_t)f.add; /* modulo 2^16, as apply_fold's mask */
  for (int64_t i = 0; i < n; i++) {
    uint16_t e = h[i] & 0x7F80;
    h[i] = (uint16_t)(h[i] + (e != 0 && e != 0x7F80 ? add : 0));
  }
}

/* The MX folds of a run that starts at K index k (a multiple of block_k): one per
 * block_k codes, taken from codes[kb * kstride]. The ISA's vector fold when it has one
 * (MX blocks are 32 codes). */
static void fold_blocks(const fp8g_bf16_plan *pl, uint16_t *h, int64_t n, int64_t k,
                        const uint8_t *codes, int64_t kstride) {
  const fp8g_gemm_problem *p = pl->p;
  if (pl->fold32) {
    pl->fold32(h, n, codes + (k / 32) * kstride, kstride);
    return;
  }
  for (int64_t q = 0; q < n; q += p->block_k)
    fold_run(h + q, min64(p->block_k, n - q), e8m0_fold(codes[((k + q) / p->block_k) * kstride]));
}

/* Pair jp of a decoded run of halfwords (h[2jp] low, h[2jp + 1] high). */
static inline uint32_t pair_at(const uint16_t *h, int64_t jp) {
  return (uint32_t)h[2 * jp] | (uint32_t)h[2 * jp + 1] << 16;
}

enum { CHUNK = 256 }; /* K codes decoded per row or column at a time (even) */
_Static_assert(CHUNK % 32 == 0, "a chunk holds whole MX blocks (the NT packer gathers their codes)");
enum { PF_COLS = 16 }; /* NT weight columns prefetched ahead */
enum { PF_ROWS = 16 }; /* NN weight rows prefetched ahead (even) */

/* ---------------------------------------------------------------- A */

/* len K values of one row (stride sk) as ceil(len/2) pairs written `dstride` apart. */
static void pack_row_pairs(const uint8_t *src, int64_t sk, int64_t len, const uint16_t *lut,
                           fold f, uint32_t *dst, int64_t dstride) {
  int64_t j = 0;
  for (; 2 * j + 1 < len; j++) {
    uint32_t lo = apply_fold(lut[src[2 * j * sk]], f), hi = apply_fold(lut[src[(2 * j + 1) * sk]], f);
    dst[j * dstride] = lo | hi << 16;
  }
  if (2 * j < len) dst[j * dstride] = apply_fold(lut[src[2 * j * sk]], f);
}

/* bf16 activations (w8a16): already the operand, no decode; a contiguous row's pair
 * is one unaligned dword. Rows past the end zero. */
static void pack_a_bf16(const fp8g_gemm_problem *p, int64_t b, int64_t r0, int64_t rows, int64_t k0,
                        int64_t kc, uint32_t *panel, int64_t pi) {
  const uint16_t *a = p->a;
  int64_t kp = fp8g_bf16_pairs(kc), full = kc / 2, sk = p->a_stride_k;
  for (int i = 0; i < MR; i++) {
    int64_t r = pi * MR + i;
    if (r >= rows) {
      for (int64_t j = 0; j < kp; j++) panel[j * MR + i] = 0;
      continue;
    }
    int64_t row = b * p->m + r0 + r;
    const uint16_t *src = a + p->a_row_offset[row] + k0 * sk;
    if (sk == 1 && r + MR < rows) /* the next panel's row, into L2 (a strided row would
                                     * touch kc lines, one element each) */
      for (int64_t q = 0; q < kc; q += 32)
        __builtin_prefetch(a + p->a_row_offset[row + MR] + k0 + q, 0, 2);
    if (sk == 1) {
      for (int64_t j = 0; j < full; j++) {
        uint32_t w;
        memcpy(&w, src + 2 * j, sizeof w); /* little-endian: k low, k + 1 high */
        panel[j * MR + i] = w;
      }
    } else {
      for (int64_t j = 0; j < full; j++)
        panel[j * MR + i] = (uint32_t)src[2 * j * sk] | (uint32_t)src[(2 * j + 1) * sk] << 16;
    }
    if (kc % 2) panel[full * MR + i] = src[(kc - 1) * sk];
  }
}

void fp8g_bf16_pack_a(const fp8g_bf16_plan *pl, int64_t b, int64_t r0, int64_t rows, int64_t k0,
                      int64_t kc, uint32_t *dst, float *ascale, int64_t sstride) {
  const fp8g_gemm_problem *p = pl->p;
  if (p->a_dtype == FP8GEMM_BF16) {
    int64_t kp = fp8g_bf16_pairs(kc), nseg = pl->mode == FP8G_BF16_SEGMENTED ? (kc + pl->seg - 1) / pl->seg : 0;
    for (int64_t pi = 0; pi < (rows + MR - 1) / MR; pi++) {
      pack_a_bf16(p, b, r0, rows, k0, kc, dst + pi * kp * MR, pi);
      for (int64_t s = 0; s < nseg; s++)
        for (int i = 0; i < MR; i++) ascale[(pi * sstride + s) * MR + i] = pi * MR + i < rows ? 1.0f : 0.0f;
    }
    return;
  }
  const uint16_t *lut = fp8g_bf16_lut(p->a_dtype);
  const uint8_t *a = p->a;
  int64_t kp = fp8g_bf16_pairs(kc), npanels = (rows + MR - 1) / MR;
  bool segmented = pl->mode == FP8G_BF16_SEGMENTED;
  int64_t nseg = segmented ? (kc + pl->seg - 1) / pl->seg : 0;
  /* Folded scales change every block_k (even, and k0 is a multiple of it). */
  int64_t blk = pl->fold_mx ? p->block_k : kc;
  /* Contiguous rows: the vector decoder into a [MR][CHUNK] buffer (MX folds applied
   * there; CHUNK is a multiple of block_k), then a 6-way interleave of dwords. */
  bool vec = pl->decode && p->a_stride_k == 1;
  const fp8g_bf16_dec_tables *tab = vec ? fp8g_bf16_tables(p->a_dtype) : NULL;
  for (int64_t pi = 0; pi < npanels; pi++) {
    uint32_t *panel = dst + pi * kp * MR;
    for (int64_t kk = 0; vec && kk < kc; kk += CHUNK) {
      int64_t len = min64(CHUNK, kc - kk), np = fp8g_bf16_pairs(len);
      /* Halfwords written, pairs read: a union makes the two views legal. */
      union {
        _Alignas(64) uint16_t h[MR][CHUNK];
        uint32_t w[MR][CHUNK / 2];
      } buf;
      for (int i = 0; i < MR; i++) {
        int64_t r = pi * MR + i;
        if (r >= rows) {
          memset(buf.h[i], 0, sizeof buf.h[i]);
          continue;
        }
        int64_t row = b * p->m + r0 + r;
        /* The next panel's row, into L2 (rows at a 4 KiB stride share L1 sets). */
        if (kk == 0 && r + MR < rows)
          for (int64_t q = 0; q < kc; q += 64)
            __builtin_prefetch(a + p->a_row_offset[row + MR] + k0 + q, 0, 2);
        const uint8_t *arow = a + p->a_row_offset[row] + k0 + kk;
        if (pl->decode_fold32) /* implies fold32: 32-code blocks, k0 + kk a multiple of 32 */
          pl->decode_fold32(tab, arow, (int)len, buf.h[i], p->ea + row * p->a_kblocks + (k0 + kk) / 32);
        else decode_run(pl, tab, arow, len, buf.h[i]);
        if (pl->fold_mx && !pl->decode_fold32) fold_blocks(pl, buf.h[i], len, k0 + kk, p->ea + row * p->a_kblocks, 1);
        if (len % 2) buf.h[i][len] = 0;
      }
      /* Little-endian: w[i][jp] is the pair (h[i][2jp] low, h[i][2jp + 1] high). */
      uint32_t *d = panel + (kk / 2) * MR;
      for (int64_t jp = 0; jp < np; jp++) {
        uint32_t *o = d + jp * MR;
        o[0] = buf.w[0][jp]; o[1] = buf.w[1][jp]; o[2] = buf.w[2][jp];
        o[3] = buf.w[3][jp]; o[4] = buf.w[4][jp]; o[5] = buf.w[5][jp];
      }
    }
    for (int i = 0; i < MR; i++) {
      int64_t r = pi * MR + i;
      if (r >= rows) {
        for (int64_t j = 0; j < kp; j++) panel[j * MR + i] = 0;
        for (int64_t s = 0; s < nseg; s++) ascale[(pi * sstride + s) * MR + i] = 0.0f;
        continue;
      }
      int64_t row = b * p->m + r0 + r;
      const uint8_t *src = a + p->a_row_offset[row] + k0 * p->a_stride_k;
      for (int64_t k = 0; !vec && k < kc; k += blk) {
        fold f = {0, false};
        if (pl->fold_mx) f = e8m0_fold(p->ea[row * p->a_kblocks + (k0 + k) / p->block_k]);
        pack_row_pairs(src + k * p->a_stride_k, p->a_stride_k, min64(blk, kc - k), lut, f,
                       panel + (k / 2) * MR + i, MR);
      }
      for (int64_t s = 0; s < nseg; s++)
        ascale[(pi * sstride + s) * MR + i] = a_seg_scale(p, row, k0 / pl->seg + s);
    }
  }
}

/* ---------------------------------------------------------------- B */

void fp8g_bf16_pack_b(const fp8g_bf16_plan *pl, int64_t b, int64_t c0, int64_t cols, int64_t k0,
                      int64_t kc, uint32_t *dst, float *bscale, int64_t sstride) {
  const fp8g_gemm_problem *p = pl->p;
  const uint16_t *lut = fp8g_bf16_lut(p->b_dtype);
  const uint8_t *base = p->b + b * p->b_batch_stride;
  int64_t sk = p->b_stride_k, sn = p->b_stride_n;
  int64_t kp = fp8g_bf16_pairs(kc), npanels = (cols + NR - 1) / NR;
  bool segmented = pl->mode == FP8G_BF16_SEGMENTED;
  int64_t nseg = segmented ? (kc + pl->seg - 1) / pl->seg : 0;
  int64_t blk = pl->fold_mx ? p->block_k : kc;
  /* Contiguous codes go through the vector decoder: NN rows 64 columns at a time (two
   * rows make the pairs), NT columns CHUNK K at a time; MX folds applied to the
   * decoded halfwords. */
  bool vec_nn = pl->decode && sn == 1;
  bool vec_nt = pl->decode && sk == 1 && !vec_nn;
  const uint8_t *eb = pl->fold_mx ? p->eb + b * p->sb_batch_stride : NULL;
  const fp8g_bf16_dec_tables *tab = pl->decode ? fp8g_bf16_tables(p->b_dtype) : NULL;
  for (int64_t pj = 0; pj < npanels; pj++) {
    uint32_t *panel = dst + pj * kp * NR;
    int64_t col0 = c0 + pj * NR;
    int nc = (int)min64(NR, c0 + cols - col0);
    if (vec_nn) {
      for (int64_t jp = 0; jp < kp; jp++) {
        _Alignas(64) uint16_t h0[NR], h1[NR];
        const uint8_t *r_lo = base + (k0 + 2 * jp) * sk + col0;
        if (2 * jp + PF_ROWS + 1 < kc) { /* rows ahead: one short run each, far apart */
          __builtin_prefetch(r_lo + PF_ROWS * sk, 0, 2);
          __builtin_prefetch(r_lo + (PF_ROWS + 1) * sk, 0, 2);
        }
        pl->decode(tab, r_lo, nc, h0);
        bool has_hi = 2 * jp + 1 < kc;
        if (has_hi) pl->decode(tab, r_lo + sk, nc, h1);
        else memset(h1, 0, sizeof h1);
        if (pl->fold_mx) { /* a pair never straddles a block: block_k is even */
          const uint8_t *e = eb + ((k0 + 2 * jp) / p->block_k) * p->n + col0;
          for (int j = 0; j < nc; j++) {
            fold_run(h0 + j, 1, e8m0_fold(e[j]));
            if (has_hi) fold_run(h1 + j, 1, e8m0_fold(e[j]));
          }
        }
        uint32_t *d = panel + jp * NR;
        for (int j = 0; j < nc; j++) d[j] = (uint32_t)h0[j] | (uint32_t)h1[j] << 16;
        for (int j = nc; j < NR; j++) d[j] = 0;
      }
    } else if (vec_nt) {
      /* 16 columns at a time: decode CHUNK K of each into h (a row per column), then
       * 16 x 16 dword transposes write 16 pair rows of 16 columns (scalar for the
       * last < 16 pairs, or without an ISA transpose). Columns past nc are zeros. */
      for (int g = 0; g < NR; g += 16) {
        for (int64_t kk = 0; kk < kc; kk += CHUNK) {
          int64_t len = min64(CHUNK, kc - kk), np = fp8g_bf16_pairs(len);
          _Alignas(64) uint16_t h[16][CHUNK];
          /* MX codes of the 16 columns' blocks, gathered once per chunk: read per block
           * from rows n bytes apart (4 KiB: one L1 set), each was an L1 miss. */
          uint8_t ec[16][CHUNK / 32];
          bool gather = pl->fold32 != NULL;
          for (int64_t q = 0; gather && q < (len + 31) / 32; q++) {
            const uint8_t *erow = eb + ((k0 + kk) / 32 + q) * p->n + col0 + g;
            for (int jj = 0; jj < 16 && g + jj < nc; jj++) ec[jj][q] = erow[jj];
          }
          for (int jj = 0; jj < 16; jj++) {
            int j = g + jj;
            if (j >= nc) {
              memset(h[jj], 0, sizeof h[jj]);
              continue;
            }
            const uint8_t *src = base + (col0 + j) * sn + k0;
            /* Each column is a short run at a large stride: ask for the run PF_COLS
             * columns ahead (maybe the next panel's) now, not as a chain of misses.
             * Into L2: at a stride of 4 KiB the columns share a few L1 sets. */
            if (kk == 0 && col0 + j + PF_COLS < p->n)
              for (int64_t q = 0; q < kc; q += 64) __builtin_prefetch(src + PF_COLS * sn + q, 0, 2);
            if (gather && pl->decode_fold32) {
              pl->decode_fold32(tab, src + kk, (int)len, h[jj], ec[jj]);
            } else {
              decode_run(pl, tab, src + kk, len, h[jj]);
              if (gather) pl->fold32(h[jj], len, ec[jj], 1);
              else if (pl->fold_mx) fold_blocks(pl, h[jj], len, k0 + kk, eb + col0 + j, p->n);
            }
            if (len % 2) h[jj][len] = 0;
          }
          uint32_t *d = panel + (kk / 2) * NR + g;
          int64_t jp = 0;
          /* the transposer reads h bytewise (intrinsics / memcpy), so no aliasing issue */
          if (pl->transpose)
            for (; jp + 16 <= np; jp += 16)
              pl->transpose((const uint32_t *)(const void *)&h[0][2 * jp], CHUNK / 2, d + jp * NR, NR);
          for (; jp < np; jp++)
            for (int jj = 0; jj < 16; jj++) d[jp * NR + jj] = pair_at(h[jj], jp);
        }
      }
    }
    for (int64_t k = 0; !vec_nn && !vec_nt && k < kc; k += blk) {
      int64_t len = min64(blk, kc - k);
      fold f[NR];
      for (int j = 0; j < NR; j++) {
        f[j] = (fold){0, false};
        if (pl->fold_mx && j < nc) f[j] = e8m0_fold(p->eb[b * p->sb_batch_stride + ((k0 + k) / p->block_k) * p->n + col0 + j]);
      }
      for (int64_t jp = 0; jp < (len + 1) / 2; jp++) {
        uint32_t *d = panel + (k / 2 + jp) * NR;
        const uint8_t *r_lo = base + (k0 + k + 2 * jp) * sk + col0 * sn;
        bool has_hi = 2 * jp + 1 < len;
        const uint8_t *r_hi = has_hi ? r_lo + sk : r_lo; /* never past the last row */
        int j = 0;
        if (sn == 1 && !pl->fold_mx && has_hi) /* NN rows: contiguous codes, no fold */
          for (; j < nc; j++) d[j] = lut[r_lo[j]] | (uint32_t)lut[r_hi[j]] << 16;
        for (; j < nc; j++) {
          uint32_t lo = apply_fold(lut[r_lo[j * sn]], f[j]);
          uint32_t hi = has_hi ? apply_fold(lut[r_hi[j * sn]], f[j]) : 0;
          d[j] = lo | hi << 16;
        }
        for (; j < NR; j++) d[j] = 0;
      }
    }
    for (int64_t s = 0; s < nseg; s++) {
      float *bs = bscale + (pj * sstride + s) * NR;
      int j = 0;
      if (p->scale_kind == FP8G_SCALE_BLOCK) { /* block_n columns a scale, no division per column */
        const float *sb = p->sb + b * p->sb_batch_stride + (k0 / pl->seg + s) * p->b_nblocks;
        int64_t blk = col0 / p->block_n, in = col0 % p->block_n;
        for (; j < nc; j++) {
          bs[j] = sb[blk];
          if (++in == p->block_n) in = 0, blk++;
        }
      }
      for (; j < nc; j++) bs[j] = b_seg_scale(p, b, k0 / pl->seg + s, col0 + j);
      for (; j < NR; j++) bs[j] = 0.0f;
    }
  }
}

/* ---------------------------------------------------------------- B prefetch */

/* NT (contiguous K): a unit is one column's kc codes; otherwise one K row's cols codes. */
int64_t fp8g_bf16_pack_units(const fp8g_bf16_plan *pl, int64_t cols, int64_t kc) {
  return pl->p->b_stride_k == 1 && pl->p->b_stride_n != 1 ? cols : kc;
}

void fp8g_bf16_prefetch_b(const fp8g_bf16_plan *pl, int64_t b, int64_t c0, int64_t cols, int64_t k0,
                          int64_t kc, int64_t u0, int64_t u1) {
  const fp8g_gemm_problem *p = pl->p;
  const uint8_t *base = p->b + b * p->b_batch_stride;
  int64_t sk = p->b_stride_k, sn = p->b_stride_n;
  if (sk == 1 && sn != 1) {
    for (int64_t j = u0; j < u1; j++) {
      const uint8_t *col = base + (c0 + j) * sn + k0;
      for (int64_t q = 0; q < kc; q += 64) __builtin_prefetch(col + q, 0, 2);
      __builtin_prefetch(col + kc - 1, 0, 2); /* the last line when col is not aligned */
    }
    return;
  }
  if (sn != 1) return; /* strided rows: one element per line, not worth it */
  for (int64_t k = u0; k < u1; k++) {
    const uint8_t *row = base + (k0 + k) * sk + c0;
    __builtin_prefetch(row, 0, 2);
    __builtin_prefetch(row + cols - 1, 0, 2);
  }
}
