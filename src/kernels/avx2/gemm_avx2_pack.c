/*
 * Packing: decode a block of A (fp8 or bf16/f16/f32) and B (fp8) into the fp32
 * panels the micro-kernel streams, folding exact scales in on the way (a multiply by
 * a power of two, or by a scale short enough that the product is exact), and laying
 * out per-K-block scales for the SEGMENTED mode. Packing is amortised over a whole
 * block of the other operand, so table lookups are fine here; B rows that are
 * contiguous along N (NN weights, prepacked weights) use the SIMD decoder.
 */
#include <immintrin.h>
#include <string.h>

#include "gemm_avx2.h"
#include "gemm_avx2_decode_inl.h"

#define MR FP8G_AVX2_MR
#define NR FP8G_AVX2_NR

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* ---------------------------------------------------------------- A */

/* 16 elements of a contiguous A row -> fp32 (exact). */
static inline void widen16(fp8gemm_dtype dt, const void *src, float *dst, const float *lut) {
  switch (dt) {
    case FP8GEMM_F32:
      _mm256_storeu_ps(dst, _mm256_loadu_ps(src));
      _mm256_storeu_ps(dst + 8, _mm256_loadu_ps((const float *)src + 8));
      break;
    case FP8GEMM_BF16: {
      __m256i h = _mm256_loadu_si256(src);
      __m256i lo = _mm256_cvtepu16_epi32(_mm256_castsi256_si128(h));
      __m256i hi = _mm256_cvtepu16_epi32(_mm256_extracti128_si256(h, 1));
      _mm256_storeu_ps(dst, _mm256_castsi256_ps(_mm256_slli_epi32(lo, 16)));
      _mm256_storeu_ps(dst + 8, _mm256_castsi256_ps(_mm256_slli_epi32(hi, 16)));
      break;
    }
    case FP8GEMM_F16:
      _mm256_storeu_ps(dst, _mm256_cvtph_ps(_mm_loadu_si128(src)));
      _mm256_storeu_ps(dst + 8, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)src + 1)));
      break;
    default: fp8g_avx2_decode16_inline(dt, src, dst, lut); break;
  }
}

/* One element of A -> fp32 (exact). */
static inline float widen1(fp8gemm_dtype dt, const float *lut, const void *a, int64_t off) {
  switch (dt) {
    case FP8GEMM_F32: return ((const float *)a)[off];
    case FP8GEMM_BF16: return fp8g_bf16_to_f32(((const uint16_t *)a)[off]);
    case FP8GEMM_F16: return _cvtsh_ss(((const uint16_t *)a)[off]);
    default: return lut[((const uint8_t *)a)[off]];
  }
}

/* Row `row` (flat), K range [k0, k0 + len) widened to fp32, times `scale`, written
 * with stride MR. Contiguous rows go 16 at a time through the SIMD widening. */
static void widen_row(const fp8g_gemm_problem *p, const float *lut, int64_t row, int64_t k0,
                      int64_t len, float scale, float *dst) {
  int64_t base = p->a_row_offset[row] + k0 * p->a_stride_k, sk = p->a_stride_k;
  size_t esz = (size_t)fp8gemm_dtype_bits(p->a_dtype) / 8;
  int64_t k = 0;
  if (sk == 1) {
    const char *src = (const char *)p->a + (size_t)base * esz;
    _Alignas(32) float tmp[16];
    for (; k + 16 <= len; k += 16) {
      widen16(p->a_dtype, src + (size_t)k * esz, tmp, lut);
      for (int i = 0; i < 16; i++) dst[(k + i) * MR] = tmp[i] * scale;
    }
  }
  for (; k < len; k++) dst[k * MR] = widen1(p->a_dtype, lut, p->a, base + k * sk) * scale;
}

/* Rows r[0..5] (8 K each) -> 48 floats at d in [k][6] order: an 8 x 8 transpose with two
 * zero rows. Each 8-wide store's two pad lanes are overwritten by the next store; the
 * last one is split so nothing past d + 48 is touched (masked stores are slow on Zen). */
static inline void interleave6x8(const __m256 r[6], float *d) {
  __m256 z = _mm256_setzero_ps();
  __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
  __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
  __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
  __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
  __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
  __m256 s4 = _mm256_shuffle_ps(t4, z, 0x44), s5 = _mm256_shuffle_ps(t4, z, 0xEE);
  __m256 s6 = _mm256_shuffle_ps(t5, z, 0x44), s7 = _mm256_shuffle_ps(t5, z, 0xEE);
  _mm256_storeu_ps(d + 0 * MR, _mm256_permute2f128_ps(s0, s4, 0x20));
  _mm256_storeu_ps(d + 1 * MR, _mm256_permute2f128_ps(s1, s5, 0x20));
  _mm256_storeu_ps(d + 2 * MR, _mm256_permute2f128_ps(s2, s6, 0x20));
  _mm256_storeu_ps(d + 3 * MR, _mm256_permute2f128_ps(s3, s7, 0x20));
  _mm256_storeu_ps(d + 4 * MR, _mm256_permute2f128_ps(s0, s4, 0x31));
  _mm256_storeu_ps(d + 5 * MR, _mm256_permute2f128_ps(s1, s5, 0x31));
  _mm256_storeu_ps(d + 6 * MR, _mm256_permute2f128_ps(s2, s6, 0x31));
  __m256 last = _mm256_permute2f128_ps(s3, s7, 0x31);
  _mm_storeu_ps(d + 7 * MR, _mm256_castps256_ps128(last));
  _mm_storel_pi((__m64 *)(void *)(d + 7 * MR + 4), _mm256_extractf128_ps(last, 1));
}

/* A full panel of 6 rows contiguous along K: 16 K at a time widened per row, scaled,
 * and interleaved with two 6 x 8 transposes. Returns how many K it packed (a multiple
 * of 16); the caller packs the rest row by row. */
static int64_t pack_a_panel_fast(const fp8g_avx2_plan *pl, const float *lut, const int64_t *rowid,
                                 int64_t k0, int64_t kc, float *panel) {
  const fp8g_gemm_problem *p = pl->p;
  size_t esz = (size_t)fp8gemm_dtype_bits(p->a_dtype) / 8;
  int64_t k = 0;
  for (; k + 16 <= kc; k += 16) {
    _Alignas(32) float tmp[MR][16];
    for (int i = 0; i < MR; i++) {
      const char *src = (const char *)p->a + (size_t)(p->a_row_offset[rowid[i]] + k0 + k) * esz;
      widen16(p->a_dtype, src, tmp[i], lut);
      if (pl->fold_a) { /* 16 K never straddle a 32-K MX block: k0 + k is a multiple of 16 */
        __m256 sc = _mm256_set1_ps(fp8g_avx2_e8m0(p->ea[rowid[i] * p->a_kblocks + (k0 + k) / p->block_k]));
        _mm256_store_ps(tmp[i], _mm256_mul_ps(_mm256_load_ps(tmp[i]), sc));
        _mm256_store_ps(tmp[i] + 8, _mm256_mul_ps(_mm256_load_ps(tmp[i] + 8), sc));
      }
    }
    for (int h = 0; h < 16; h += 8) {
      __m256 r[MR];
      for (int i = 0; i < MR; i++) r[i] = _mm256_load_ps(tmp[i] + h);
      interleave6x8(r, panel + (k + h) * MR);
    }
  }
  return k;
}

void fp8g_avx2_pack_a(const fp8g_avx2_plan *pl, int64_t b, int64_t r0, int64_t rows, int64_t k0,
                      int64_t kc, float *dst, float *ascale) {
  const fp8g_gemm_problem *p = pl->p;
  const float *lut = fp8gemm_dtype_is_fp8(p->a_dtype) ? fp8g_avx2_lut(p->a_dtype) : NULL;
  int64_t npanels = (rows + MR - 1) / MR;
  int64_t fold_blk = pl->fold_a ? p->block_k : kc;
  /* Segment scales of a panel are laid out for a full K block (the driver's stride). */
  bool segmented = pl->mode == FP8G_AVX2_SEGMENTED;
  int64_t nseg = segmented ? (kc + pl->seg - 1) / pl->seg : 0;
  int64_t sstride = segmented ? (pl->kc + pl->seg - 1) / pl->seg : 0;
  /* The fast path needs 16-K chunks inside fold blocks (MX: 32). */
  bool fast_ok = p->a_stride_k == 1 && (!pl->fold_a || p->block_k % 16 == 0);
  for (int64_t pi = 0; pi < npanels; pi++) {
    float *panel = dst + pi * kc * MR;
    int64_t rowid[MR];
    for (int i = 0; i < MR; i++) rowid[i] = b * p->m + r0 + pi * MR + i;
    int64_t kdone = fast_ok && pi * MR + MR <= rows ? pack_a_panel_fast(pl, lut, rowid, k0, kc, panel) : 0;
    for (int i = 0; i < MR; i++) {
      int64_t r = pi * MR + i;
      if (r >= rows) {
        for (int64_t k = 0; k < kc; k++) panel[k * MR + i] = 0.0f;
        for (int64_t s = 0; s < nseg; s++) ascale[(pi * sstride + s) * MR + i] = 0.0f;
        continue;
      }
      int64_t row = rowid[i];
      /* K blocks of a folded scale start at multiples of block_k; k0 is one. The fast
       * path's kdone is a multiple of 16, so the rest starts inside one block. */
      for (int64_t k = kdone; k < kc;) {
        int64_t blk_end = (k / fold_blk + 1) * fold_blk, len = min64(blk_end, kc) - k;
        float scale = 1.0f;
        if (pl->fold_a) scale = fp8g_avx2_e8m0(p->ea[row * p->a_kblocks + (k0 + k) / p->block_k]);
        widen_row(p, lut, row, k0 + k, len, scale, panel + k * MR + i);
        k += len;
      }
      for (int64_t s = 0; s < nseg; s++)
        ascale[(pi * sstride + s) * MR + i] =
            p->sa ? p->sa[row * p->a_kblocks + k0 / pl->seg + s] : 1.0f;
    }
  }
}

/* ---------------------------------------------------------------- B */

enum { PREFETCH_ROWS = 8 }; /* B rows fetched ahead in the NN loops */

/* Scale of weight K block kb for column col of batch b: the folded or segment scale. */
static float b_block_scale(const fp8g_gemm_problem *p, int64_t b, int64_t kb, int64_t col) {
  if (p->scale_kind == FP8G_SCALE_MX)
    return fp8g_avx2_e8m0(p->eb[b * p->sb_batch_stride + kb * p->n + col]);
  return p->sb[b * p->sb_batch_stride + kb * p->b_nblocks + col / p->block_n];
}

/* Column scales as decode_row takes them: times the decoder's factor (exact). */
static inline __attribute__((always_inline)) __m256 fold_scales(fp8gemm_dtype dt, const float *v) {
  return _mm256_mul_ps(_mm256_loadu_ps(v), _mm256_set1_ps(fp8g_avx2_decode_factor(dt)));
}

/* Decodes 16 codes (one K step of a panel) into d, times the column scales when folding
 * (v0, v1 from fold_scales). */
static inline __attribute__((always_inline)) void decode_row(fp8gemm_dtype dt, const uint8_t *codes,
                                                             const float *lut, bool fold, __m256 v0,
                                                             __m256 v1, float *d) {
  if (fold)
    fp8g_avx2_decode16_scaled(dt, codes, d, lut, v0, v1); /* the decoder's factor folded into v */
  else
    fp8g_avx2_decode16_inline(dt, codes, d, lut);
}

/* 16 x 16 byte transpose on both 128-bit lanes at once (four rounds of unpacks): in[j]
 * holds 32 K of column j; out[kk] lane 0 is K step kk, lane 1 K step 16 + kk (16 columns
 * each). A 16-K step uses lane 0 only. */
static inline __attribute__((always_inline)) void transpose16x2(const __m256i in[16], __m256i out[16]) {
  __m256i y[16], z[16];
  for (int i = 0; i < 8; i++) {
    y[i] = _mm256_unpacklo_epi8(in[2 * i], in[2 * i + 1]);
    y[i + 8] = _mm256_unpackhi_epi8(in[2 * i], in[2 * i + 1]);
  }
  for (int h = 0; h < 16; h += 8)
    for (int i = 0; i < 4; i++) {
      z[h + i] = _mm256_unpacklo_epi16(y[h + 2 * i], y[h + 2 * i + 1]);
      z[h + 4 + i] = _mm256_unpackhi_epi16(y[h + 2 * i], y[h + 2 * i + 1]);
    }
  for (int b = 0; b < 16; b += 4) {
    __m256i w0 = _mm256_unpacklo_epi32(z[b], z[b + 1]), w1 = _mm256_unpackhi_epi32(z[b], z[b + 1]);
    __m256i w2 = _mm256_unpacklo_epi32(z[b + 2], z[b + 3]), w3 = _mm256_unpackhi_epi32(z[b + 2], z[b + 3]);
    out[b] = _mm256_unpacklo_epi64(w0, w2);
    out[b + 1] = _mm256_unpackhi_epi64(w0, w2);
    out[b + 2] = _mm256_unpacklo_epi64(w1, w3);
    out[b + 3] = _mm256_unpackhi_epi64(w1, w3);
  }
}

/*
 * A full 16-column panel, K range [k0, k0 + len), with the dtype a compile-time constant
 * (always inlined into a switch, so the decoder's dtype switch folds away; ~2x faster
 * per code than the generic loops, which matters where B is decoded per call for few
 * rows, M = 17..64). NN rows decode 16 codes per K step; NT columns go through 16 x 32
 * byte transposes (two 16 x 16 at once). Folded scales: K step k uses the 16 column
 * scales vt[(k / vblk) * NR ..]; vblk is len (one row of scales) or a multiple of 32
 * (several scale blocks in one call). Returns the K steps packed; the caller packs
 * the rest (NT: len % 16) with the generic code. vt is read (fold_scales) even when fold
 * is false: the callers then pass pack_b's 16 column values (all 1), and decode_row
 * drops the product; a `fold` test there cost more than the two multiplies it saves per
 * K block (NN) or 32 K (NT) (docs/kernels.md, session 14).
 */
static inline __attribute__((always_inline)) int64_t panel_dt(fp8gemm_dtype dt, const fp8g_gemm_problem *p,
                                                              const uint8_t *base, const float *lut,
                                                              int64_t col0, int64_t k0, int64_t len,
                                                              bool fold, const float *vt, int64_t vblk,
                                                              float *dst) {
  int64_t sk = p->b_stride_k, sn = p->b_stride_n, k = 0;
  if (sn == 1) {
    const uint8_t *src = base + k0 * sk + col0;
    for (int64_t kb = 0; kb < len; kb += vblk, vt += NR) {
      __m256 v0 = fold_scales(dt, vt), v1 = fold_scales(dt, vt + 8);
      for (int64_t end = min64(kb + vblk, len); k < end; k++) {
        /* Rows a page or more apart: fetch a few ahead, inside the K block only. */
        if (k + PREFETCH_ROWS < len) _mm_prefetch((const char *)(src + (k + PREFETCH_ROWS) * sk), _MM_HINT_T0);
        decode_row(dt, src + k * sk, lut, fold, v0, v1, dst + k * NR);
      }
    }
    return k;
  }
  const uint8_t *cols = base + col0 * sn + k0;
  const float *vr = vt; /* scales of K step k: row k / vblk, without dividing */
  int64_t kin = 0;      /* k % vblk */
  for (; k + 32 <= len; k += 32) {
    __m256 v0 = fold_scales(dt, vr), v1 = fold_scales(dt, vr + 8);
    if ((kin += 32) >= vblk) kin = 0, vr += NR;
    __m256i in[16], out[16];
    /* 16 streams: help the prefetcher, within the column's K extent. */
    bool pf = k0 + k + 32 + 128 <= p->k;
    for (int j = 0; j < 16; j++) {
      const uint8_t *col = cols + j * sn + k;
      if (pf) _mm_prefetch((const char *)col + 128, _MM_HINT_T0);
      in[j] = _mm256_loadu_si256((const __m256i *)col);
    }
    transpose16x2(in, out);
    _Alignas(32) uint8_t rows[16][32];
    for (int kk = 0; kk < 16; kk++) _mm256_store_si256((__m256i *)rows[kk], out[kk]);
    for (int kk = 0; kk < 16; kk++) {
      decode_row(dt, rows[kk], lut, fold, v0, v1, dst + (k + kk) * NR);
      decode_row(dt, rows[kk] + 16, lut, fold, v0, v1, dst + (k + 16 + kk) * NR);
    }
  }
  for (; k + 16 <= len; k += 16) { /* at most once: lane 0 of the same transpose */
    __m256 v0 = fold_scales(dt, vr), v1 = fold_scales(dt, vr + 8);
    __m256i in[16], out[16];
    for (int j = 0; j < 16; j++)
      in[j] = _mm256_zextsi128_si256(_mm_loadu_si128((const __m128i *)(cols + j * sn + k)));
    transpose16x2(in, out);
    _Alignas(16) uint8_t rows[16][16];
    for (int kk = 0; kk < 16; kk++) _mm_store_si128((__m128i *)rows[kk], _mm256_castsi256_si128(out[kk]));
    for (int kk = 0; kk < 16; kk++) decode_row(dt, rows[kk], lut, fold, v0, v1, dst + (k + kk) * NR);
  }
  return k;
}

/* panel_dt with the dtype fixed per case (e5m2fnuz keeps its table gather). */
static int64_t panel_fast(const fp8g_gemm_problem *p, const uint8_t *base, const float *lut,
                          int64_t col0, int64_t k0, int64_t len, bool fold, const float *vt,
                          int64_t vblk, float *dst) {
  switch (p->b_dtype) {
    case FP8GEMM_E4M3FN: return panel_dt(FP8GEMM_E4M3FN, p, base, lut, col0, k0, len, fold, vt, vblk, dst);
    case FP8GEMM_E5M2: return panel_dt(FP8GEMM_E5M2, p, base, lut, col0, k0, len, fold, vt, vblk, dst);
    case FP8GEMM_E4M3FNUZ: return panel_dt(FP8GEMM_E4M3FNUZ, p, base, lut, col0, k0, len, fold, vt, vblk, dst);
    default: return panel_dt(FP8GEMM_E5M2FNUZ, p, base, lut, col0, k0, len, fold, vt, vblk, dst);
  }
}

/* One NR-column panel, K range [k0, k0 + len) of one scale block; v[] the 16 column
 * scales (1 when nothing is folded). Full panels with NN rows (stride_n 1) or NT
 * columns (stride_k 1) take panel_fast; the rest goes through the table. */
static void pack_b_block(const fp8g_gemm_problem *p, const uint8_t *base, const float *lut,
                         int64_t col0, int ncols, int64_t k0, int64_t len, const float *v,
                         bool fold, float *dst) {
  int64_t sk = p->b_stride_k, sn = p->b_stride_n, k = 0;
  if (ncols == NR && (sn == 1 || sk == 1)) k = panel_fast(p, base, lut, col0, k0, len, fold, v, len, dst);
  if (k == len) return;
  for (int j = 0; j < NR; j++) {
    if (j >= ncols) {
      for (int64_t kk = k; kk < len; kk++) dst[kk * NR + j] = 0.0f;
      continue;
    }
    const uint8_t *src = base + (col0 + j) * sn + k0 * sk;
    for (int64_t kk = k; kk < len; kk++) dst[kk * NR + j] = lut[src[kk * sk]] * v[j];
  }
}

/* Fetches into L2 the codes of columns [c0, c0 + NR) (clipped to N), K range [k0, k0 + kc)
 * of batch b: the fused path calls it for the next panel while the micro-kernel runs on
 * this one, so the next decode does not wait on memory. NT columns: whole lines of each
 * column; NN rows: the line of each row holding the panel's first code; other layouts:
 * nothing. Only addresses inside B are touched. */
void fp8g_avx2_prefetch_b(const fp8g_avx2_plan *pl, int64_t b, int64_t c0, int64_t k0, int64_t kc) {
  const fp8g_gemm_problem *p = pl->p;
  const uint8_t *base = p->b + b * p->b_batch_stride;
  int64_t cols = min64(NR, p->n - c0);
  if (cols <= 0) return;
  if (p->b_stride_k == 1) {
    for (int64_t j = 0; j < cols; j++) {
      const char *col = (const char *)(base + (c0 + j) * p->b_stride_n + k0);
      for (int64_t k = 0; k < kc; k += 64) _mm_prefetch(col + k, _MM_HINT_T1);
      _mm_prefetch(col + kc - 1, _MM_HINT_T1); /* a K block not aligned to lines */
    }
  } else if (p->b_stride_n == 1) {
    for (int64_t k = 0; k < kc; k++)
      _mm_prefetch((const char *)(base + (k0 + k) * p->b_stride_k + c0), _MM_HINT_T1);
  }
}

/* fp8g_avx2_e8m0 of 8 codes: e << 23, with 0x00 -> 2^-127 (0x00400000) and 0xFF -> NaN. */
static inline __m256 e8m0x8(const uint8_t *e) {
  __m256i w = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)e));
  __m256i bits = _mm256_slli_epi32(w, 23);
  bits = _mm256_blendv_epi8(bits, _mm256_set1_epi32(0x00400000), _mm256_cmpeq_epi32(w, _mm256_setzero_si256()));
  bits = _mm256_blendv_epi8(bits, _mm256_set1_epi32(0x7FC00000), _mm256_cmpeq_epi32(w, _mm256_set1_epi32(0xFF)));
  return _mm256_castsi256_ps(bits);
}

enum { GROUP = 8 };         /* panels packed together: 8 x 16 codes = two cache lines per B row */
enum { MULTI_BLOCKS = 8 };  /* scale blocks decoded in one panel pass (MX: 256 K) */

/* The 16 column scales of K block kb (absolute) for the panel at col0 with ncols real
 * columns: MX e8m0 codes, fp32 block / group scales (sb_scales: column block indices
 * nblk), or 1 (0 past the edge) when nothing is applied per K block. */
static inline void panel_scales(const fp8g_avx2_plan *pl, int64_t b, int64_t kb, int64_t col0,
                                int ncols, bool sb_scales, const float *sb, const int64_t *nblk,
                                float *v) {
  const fp8g_gemm_problem *p = pl->p;
  if (p->scale_kind == FP8G_SCALE_MX && ncols == NR) {
    /* 16 e8m0 codes of one K block row: SIMD, as fp8g_avx2_e8m0 per code. */
    const uint8_t *e = p->eb + b * p->sb_batch_stride + kb * p->n + col0;
    _mm256_store_ps(v, e8m0x8(e));
    _mm256_store_ps(v + 8, e8m0x8(e + 8));
  } else if (sb_scales) {
    const float *row = sb + kb * p->b_nblocks;
    for (int j = 0; j < NR; j++) v[j] = j < ncols ? row[nblk[j]] : 0.0f;
  } else {
    bool per_block = pl->fold_b || pl->mode == FP8G_AVX2_SEGMENTED;
    for (int j = 0; j < NR; j++)
      v[j] = per_block && j < ncols ? b_block_scale(p, b, kb, col0 + j) : (j < ncols ? 1.0f : 0.0f);
  }
}

void fp8g_avx2_pack_b(const fp8g_avx2_plan *pl, int64_t b, int64_t c0, int64_t cols, int64_t k0,
                      int64_t kc, float *dst, float *bscale) {
  const fp8g_gemm_problem *p = pl->p;
  const uint8_t *base = p->b + b * p->b_batch_stride;
  const float *lut = fp8g_avx2_lut(p->b_dtype);
  bool segmented = pl->mode == FP8G_AVX2_SEGMENTED;
  int64_t blk = pl->fold_b || segmented ? p->block_k : kc;
  int64_t sstride = segmented ? (pl->kc + blk - 1) / blk : 0; /* as in pack_a */
  int64_t npanels = (cols + NR - 1) / NR;
  /* fp32 weight scales (block / group, folded or segmented): column j of panel g reads
   * sb[.. + kb * b_nblocks + nblk[g][j]]; the column block indices are found once per
   * call, not per K block (a division per column per K block cost ~2% at M = 64). */
  bool sb_scales = (pl->fold_b || segmented) && p->scale_kind != FP8G_SCALE_MX;
  const float *sb = sb_scales ? p->sb + b * p->sb_batch_stride : NULL;
  /* Folded scales in blocks of 32 K or a multiple (MX, exact w8a16 groups), every block
   * of this K range full: a full NT / NN panel is decoded in one pass over up to
   * MULTI_BLOCKS blocks with a table of their scales, not one call per block. The NN
   * group loop below keeps its own order. Same values: each code is decoded and
   * multiplied by its block's scale either way. */
  bool multi = pl->fold_b && !segmented && blk % 32 == 0 && kc % blk == 0 && kc > blk &&
               (p->b_stride_k == 1 || p->b_stride_n == 1);
  int64_t nblk[GROUP][NR];
  for (int64_t g0 = 0; g0 < npanels; g0 += GROUP) {
    int ng = (int)min64(GROUP, npanels - g0);
    int ncols[GROUP];
    bool done[GROUP];
    for (int g = 0; g < ng; g++) {
      int64_t col0 = c0 + (g0 + g) * NR;
      ncols[g] = (int)min64(NR, c0 + cols - col0);
      done[g] = false;
      if (!sb_scales) continue;
      int64_t q = col0 / p->block_n, r = col0 % p->block_n;
      for (int j = 0; j < NR; j++) {
        nblk[g][j] = q;
        if (++r == p->block_n) r = 0, q++;
      }
    }
    bool nn_group = p->b_stride_n == 1 && ncols[ng - 1] == NR && ng > 1;
    if (multi && !nn_group)
      for (int g = 0; g < ng; g++) {
        if (ncols[g] != NR) continue;
        int64_t col0 = c0 + (g0 + g) * NR;
        float *pdst = dst + (g0 + g) * kc * NR;
        for (int64_t k = 0; k < kc; k += MULTI_BLOCKS * blk) {
          int64_t len = min64(MULTI_BLOCKS * blk, kc - k);
          _Alignas(32) float vt[MULTI_BLOCKS][NR];
          for (int64_t i = 0; i * blk < len; i++)
            panel_scales(pl, b, (k0 + k) / p->block_k + i, col0, NR, sb_scales, sb, nblk[g], vt[i]);
          panel_fast(p, base, lut, col0, k0 + k, len, true, &vt[0][0], blk, pdst + k * NR);
        }
        done[g] = true;
      }
    for (int64_t k = 0, s = 0; k < kc; k += blk, s++) {
      int64_t len = min64(blk, kc - k);
      _Alignas(32) float v[GROUP][NR];
      for (int g = 0; g < ng; g++) {
        if (done[g]) continue;
        int64_t pj = g0 + g, col0 = c0 + pj * NR;
        panel_scales(pl, b, (k0 + k) / p->block_k, col0, ncols[g], sb_scales, sb, nblk[g], v[g]);
        if (segmented) {
          memcpy(bscale + (pj * sstride + s) * NR, v[g], sizeof v[g]);
          for (int j = 0; j < NR; j++) v[g][j] = 1.0f;
        }
      }
      if (nn_group) {
        /* NN rows: walk K outside the panels so each source row is read once, in full
         * cache lines (panel-major order strides 4 KiB apart and thrashes one L1 set). */
        for (int64_t kk = k; kk < k + len; kk++) {
          const uint8_t *row = base + (k0 + kk) * p->b_stride_k + c0 + g0 * NR;
          /* Rows sit a page apart or more, beyond the hardware prefetcher's reach:
           * fetch a few rows ahead (prefetches of addresses past the end are harmless). */
          const uint8_t *ahead = row + PREFETCH_ROWS * p->b_stride_k;
          for (int g = 0; g < ng * NR; g += 64) _mm_prefetch((const char *)ahead + g, _MM_HINT_T0);
          for (int g = 0; g < ng; g++) { /* v[g]: all 1 when not folding (unused then) */
            __m256 v0 = fold_scales(p->b_dtype, v[g]), v1 = fold_scales(p->b_dtype, v[g] + 8);
            decode_row(p->b_dtype, row + g * NR, lut, pl->fold_b, v0, v1,
                       dst + (g0 + g) * kc * NR + kk * NR);
          }
        }
        continue;
      }
      for (int g = 0; g < ng; g++)
        if (!done[g])
          pack_b_block(p, base, lut, c0 + (g0 + g) * NR, ncols[g], k0 + k, len, v[g], pl->fold_b,
                       dst + (g0 + g) * kc * NR + k * NR);
    }
  }
}
