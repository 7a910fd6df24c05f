/*
 * Register-blocked tiles of the AVX-512 BF16 decode kernel. Per 64-code chunk: each of
 * the cn columns is loaded once and decoded to two zmm of bf16 pairs (MX: its e8m0
 * exponents folded into every nonzero finite value in the decode, one saturating
 * subtract per 32 values, exact under the driver's checks), then
 * every row's two activation vectors meet every column in one VDPBF16PS each. One
 * accumulator per (row, column) in every tile, so a result depends on the row group's
 * size (batch * M, as the choice of kernel does) but not on the tile width, panel or
 * thread that computes it, nor on how far apart the tile's columns are (ldb: the
 * driver's far-apart spans).
 */
#include <immintrin.h>
#include <string.h>

#include "gemv_avx512bf16.h"
#include "gemv_bf16_decode.h"

/* Software prefetch (the first row group of a panel, the driver's choice): each column of a 4-column
 * tile is its own 4 KiB page at K = 4096, so the hardware prefetchers restart on four
 * pages at once at every tile; prefetching ~3 KiB ahead into L2 along each stream, into
 * the next tile's columns near the end, cut M = 2..4 from memory by ~30% on one thread
 * (docs/gemv.md, session 4, has the figures). The first row group's tiles also
 * prefetch their columns' place in the panel their thread likely takes next (`far`):
 * another 7-14% at M = 2..4 on one thread (session 5). M = 1 runs the same way: a
 * one-column tile (one sequential stream, two accumulators against the VDPBF16PS latency,
 * no prefetch) measured slower from memory on one thread than 1 x 4 with the prefetch
 * (docs/gemv.md, session 5). Every tile sums a (row, column) in one accumulator, so a
 * column's bits do not depend on the tile width that serves it (panel edges). */
static inline __m512 dot(__m512 acc, __m512i a, __m512i w) {
  return _mm512_dpbf16_ps(acc, (__m512bh)a, (__m512bh)w);
}

/* The halfword add of chunk q for the low 256 bits (K 0..31) from the dword's low half,
 * for the high 256 bits from its high half. */
static inline __m512i mx_spread(uint32_t x) {
  const __m512i ctl = _mm512_set_epi8(3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2,  /* lane 3 */
                                      3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2,  /* lane 2 */
                                      1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0,  /* lane 1 */
                                      1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0); /* lane 0 */
  return _mm512_shuffle_epi8(_mm512_set1_epi32((int)x), ctl);
}

/* a + b with a as the first source operand: where two NaNs meet, a's propagates (the
 * compiler may swap the operands of a plain add). */
static inline __attribute__((always_inline)) __m512 add_first(__m512 a, __m512 b) {
  __m512 r;
  __asm__("vaddps %2, %1, %0" : "=v"(r) : "v"(a), "v"(b));
  return r;
}

/* The 16 horizontal sums _mm512_reduce_add_ps(v[n]) into out[0..15] in one pass: the
 * same pairings (upper 256 + lower 256 bits, then 128, 64, 32), so the same sums, in 15
 * adds and 31 shuffles instead of 16 dependent chains of 8 (~60 cycles of a ~2400-cycle
 * 4 x 4 tile at K = 4096). First operands as in gcc's code for the reduce (upper half;
 * upper half; elements 2, 3; element 0), so that where two NaNs meet the same one
 * propagates (its sign shows in the output). */
static inline __attribute__((always_inline)) void reduce16(const __m512 v[16], float *out) {
  __m512 s1[8], s2[4], s3[2];
  for (int n = 0; n < 8; n++)
    s1[n] = add_first(_mm512_shuffle_f32x4(v[n], v[n + 8], _MM_SHUFFLE(3, 2, 3, 2)),
                      _mm512_shuffle_f32x4(v[n], v[n + 8], _MM_SHUFFLE(1, 0, 1, 0)));
  for (int n = 0; n < 4; n++)
    s2[n] = add_first(_mm512_shuffle_f32x4(s1[n], s1[n + 4], _MM_SHUFFLE(3, 1, 3, 1)),
                      _mm512_shuffle_f32x4(s1[n], s1[n + 4], _MM_SHUFFLE(2, 0, 2, 0)));
  for (int n = 0; n < 2; n++)
    s3[n] = add_first(_mm512_shuffle_ps(s2[n], s2[n + 2], _MM_SHUFFLE(3, 2, 3, 2)),
                      _mm512_shuffle_ps(s2[n], s2[n + 2], _MM_SHUFFLE(1, 0, 1, 0)));
  __m512 r = add_first(_mm512_shuffle_ps(s3[0], s3[1], _MM_SHUFFLE(2, 0, 2, 0)),
                       _mm512_shuffle_ps(s3[0], s3[1], _MM_SHUFFLE(3, 1, 3, 1)));
  /* lane p of r holds the sum of v[{0, 2, 1, 3, 8, 10, 9, 11, 4, 6, 5, 7, 12, 14, 13, 15}[p]] */
  const __m512i order = _mm512_set_epi32(15, 13, 14, 12, 7, 5, 6, 4, 11, 9, 10, 8, 3, 1, 2, 0);
  _mm512_storeu_ps(out, _mm512_permutexvar_ps(order, r));
}

/* Block scales (KIND_SEG, M = 1 and M > 3; M = 2, 3 take KIND_LANE: every lane times the
 * product, no sums before it): a segment's 16 lanes of a (row, column) are first summed to 4,
 * lane j = (l[j] + l[j + 8]) + (l[j + 4] + l[j + 12]) (first operands first), then
 * scaled: one FMA per row for 4 columns (their 4 lanes each) instead of one per (row,
 * column). Per (row, column) and 128-K segment that FMA (on VDPBF16PS's pipes), its scale
 * multiply and broadcast, the spilled segment parts and the restarts made the block
 * tiles ~1.45-1.65x the per-tensor ones in cache (docs/gemv.md, session 9); the tree's
 * shuffles and adds mostly run beside VDPBF16PS (~1.45x left in cache). The
 * one-column tiles do the same per column on 4-lane vectors, so a column's bits do not
 * depend on the tile width. */
static inline __attribute__((always_inline)) __m256 add_first8(__m256 a, __m256 b) {
  __m256 r;
  __asm__("vaddps %2, %1, %0" : "=v"(r) : "v"(a), "v"(b));
  return r;
}
static inline __attribute__((always_inline)) __m128 add_first4(__m128 a, __m128 b) {
  __m128 r;
  __asm__("vaddps %2, %1, %0" : "=v"(r) : "v"(a), "v"(b));
  return r;
}
/* One column's segment sum to 4 lanes. */
static inline __attribute__((always_inline)) __m128 seg_lanes1(__m512 a) {
  __m256 h = add_first8(_mm512_castps512_ps256(a), _mm512_extractf32x8_ps(a, 1));
  return add_first4(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
}
/* Four columns' segment sums to 4 lanes each, column c in lanes 4c .. 4c + 3. */
static inline __attribute__((always_inline)) __m512 seg_lanes4(__m512 a0, __m512 a1, __m512 a2, __m512 a3) {
  __m512 t01 = add_first(_mm512_shuffle_f32x4(a0, a1, _MM_SHUFFLE(1, 0, 1, 0)),
                         _mm512_shuffle_f32x4(a0, a1, _MM_SHUFFLE(3, 2, 3, 2)));
  __m512 t23 = add_first(_mm512_shuffle_f32x4(a2, a3, _MM_SHUFFLE(1, 0, 1, 0)),
                         _mm512_shuffle_f32x4(a2, a3, _MM_SHUFFLE(3, 2, 3, 2)));
  return add_first(_mm512_shuffle_f32x4(t01, t23, _MM_SHUFFLE(2, 0, 2, 0)),
                   _mm512_shuffle_f32x4(t01, t23, _MM_SHUFFLE(3, 1, 3, 1)));
}
/* The scales of segment s for 4 columns, column c's in lanes 4c .. 4c + 3; times the
 * row's sa when given (the same fp32 products sa * sb as the one-column tiles form). */
static inline __attribute__((always_inline)) __m512 seg_scales4(const float *sb, int64_t sb_ld, int64_t s) {
  __m128 b4 = _mm_set_ps(sb[3 * sb_ld + s], sb[2 * sb_ld + s], sb[sb_ld + s], sb[s]);
  const __m512i rep = _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0);
  return _mm512_permutexvar_ps(rep, _mm512_castps128_ps512(b4));
}
/* Lane 4c of the result: (p[4c] + p[4c + 1]) + (p[4c + 2] + p[4c + 3]); the same
 * operations per 128 bits for 4-lane and 16-lane vectors. */
static inline __attribute__((always_inline)) __m512 seg_final4(__m512 p) {
  __m512 u = add_first(p, _mm512_permute_ps(p, _MM_SHUFFLE(2, 3, 0, 1)));
  return add_first(u, _mm512_permute_ps(u, _MM_SHUFFLE(1, 0, 3, 2)));
}
static inline __attribute__((always_inline)) float seg_final1(__m128 p) {
  __m128 u = add_first4(p, _mm_permute_ps(p, _MM_SHUFFLE(2, 3, 0, 1)));
  return _mm_cvtss_f32(add_first4(u, _mm_permute_ps(u, _MM_SHUFFLE(1, 0, 3, 2))));
}
/* Row i's 4 column results of seg_final4 to out[0..3]. */
static inline __attribute__((always_inline)) void seg_store4(__m512 v, float *out) {
  const __m512i pick = _mm512_set_epi32(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 12, 8, 4, 0);
  _mm_storeu_ps(out, _mm512_castps512_ps128(_mm512_permutexvar_ps(pick, v)));
}

/* What a tile applies per K segment, a constant of each compiled tile so that the plain
 * ones carry no segment sums (with 4 x 4 accumulators those spilled to the stack).
 * KIND_MX_SAT: MX with the exponents folded by the saturating subtract
 * (gemv_bf16_dec64_mx), valid when the tile's weights hold no Inf / NaN code; the tile
 * then reports (false) that it saw one, writes nothing, and is run again as KIND_MX
 * (exact decode, then the masked exponent add). */
typedef enum { KIND_PLAIN, KIND_SEG, KIND_MX, KIND_LANE, KIND_COUNT, KIND_MX_SAT = KIND_COUNT, KIND_MX_ACT } tile_kind;

/* Decodes 64 codes (MX: folds the chunk's exponents); KIND_MX_SAT: *lo gets the low
 * bytes that carry the Inf / NaN mark (mark_cols records them), *nan80 fnuz NaN codes. */
static inline __attribute__((always_inline)) void decode_col(const gemv_bf16_vtab *v, __m512i codes, const bool fnuz,
                                                             const tile_kind kind, uint32_t mx, int mx_bias,
                                                             __m512i w[2], __m512i *lo, __mmask64 *nan80) {
  if (kind == KIND_MX_SAT) {
    gemv_bf16_dec64_mx(v, codes, fnuz, mx_spread(mx), w, lo, nan80);
    return;
  }
  gemv_bf16_dec64(v, codes, fnuz, w);
  if (kind == KIND_MX) { /* the table's (bias - d) << 7 back to the add d << 7 */
    __m512i add = _mm512_sub_epi16(_mm512_set1_epi16((short)(mx_bias * 128)), mx_spread(mx));
    w[0] = gemv_bf16_exp_add(w[0], add);
    w[1] = gemv_bf16_exp_add(w[1], add);
  }
}

/* KIND_MX_SAT: the cn columns' Inf / NaN marks into *rec, two columns per op. */
static inline __attribute__((always_inline)) void mark_cols(__m512i *rec, const __m512i lo[], const int cn) {
  _Pragma("GCC unroll 4") for (int c = 0; c < cn; c += 2) *rec = gemv_bf16_mx_mark(*rec, lo[c], lo[c + 1 < cn ? c + 1 : c]);
}

/* The driver's prefetch for chunk q (only the first row group of a panel gets
 * t->prefetch): each of the cn columns `t->prefetch` bytes ahead, wrapping to the next
 * tile's columns past K, and, with t->far, the place the thread likely takes next.
 * Addresses only (a prefetch never faults), so no pointer past the weights; one
 * displacement per chunk from each column's load address, no branch per column. */
static inline __attribute__((always_inline)) void prefetch_step(const gemv_bf16_tile *t, const uint8_t *bq,
                                                                int64_t q, const int cn, int64_t ldb,
                                                                int64_t k) {
  int64_t off = q * GEMV_BF16_CHUNK + t->prefetch;
  uintptr_t at = (uintptr_t)bq + (uintptr_t)(off < k ? t->prefetch : t->next + t->prefetch - k);
  _Pragma("GCC unroll 4") for (int c = 0; c < cn; c++) _mm_prefetch((const char *)(at + (uintptr_t)(c * ldb)), _MM_HINT_T1);
  if (t->far) {
    uintptr_t fa = (uintptr_t)bq + (uintptr_t)t->far;
    _Pragma("GCC unroll 4") for (int c = 0; c < cn; c++) _mm_prefetch((const char *)(fa + (uintptr_t)(c * ldb)), _MM_HINT_T1);
  }
}

/* Column c's 64 codes of chunk q (masked by `tail` from chunk `full` on: the last,
 * partial chunk), decoded. */
static inline __attribute__((always_inline)) void load_decode_col(const gemv_bf16_tile *t, const uint8_t *bq,
                                                                  int64_t q, int64_t ldb, int64_t full,
                                                                  __mmask64 tail, const int c,
                                                                  const gemv_bf16_vtab *v, const bool fnuz,
                                                                  const tile_kind kind, __m512i w[2],
                                                                  __m512i *lo, __mmask64 *nan80) {
  __m512i codes = q < full ? _mm512_loadu_si512((const void *)(bq + c * ldb))
                           : _mm512_maskz_loadu_epi8(tail, bq + c * ldb);
  decode_col(v, codes, fnuz, kind, kind == KIND_MX || kind == KIND_MX_SAT ? t->mx[q * GEMV_BF16_PANEL + c * t->mx_cs] : 0,
             t->mx_bias, w, lo, nan80);
}

/* Chunk q's dots of the tile into acc (decoding its columns first), for tile_body's two
 * loops. A macro, not a function: as an always_inline function taking acc gcc 12
 * versioned the plain tiles' chunk loop otherwise (+24 instructions per chunk, per-tensor
 * 2.5-4% slower at M = 3..16 in cache); as text the plain and MX tiles compile as before. */
#define CHUNK_DOTS(q)                                                                                          \
  do {                                                                                                         \
    const uint8_t *bq = t->b + (q) * GEMV_BF16_CHUNK;                                                          \
    __m512i w[GEMV_BF16_CN_MAX][2], lo[GEMV_BF16_CN_MAX];                                                      \
    if (t->prefetch) prefetch_step(t, bq, (q), cn, ldb, k);                                                    \
    _Pragma("GCC unroll 4") for (int c = 0; c < cn; c++)                                                       \
        load_decode_col(t, bq, (q), ldb, full, tail, c, v, fnuz, kind, w[c], &lo[c], &nan80);                  \
    if (kind == KIND_MX_SAT) mark_cols(&rec, lo, cn);                                                          \
    const uint16_t *aq = t->a + (q) * GEMV_BF16_CHUNK;                                                         \
    _Pragma("GCC unroll 16") for (int i = 0; i < mr; i++) {                                                    \
      __m512i a0 = _mm512_loadu_si512((const void *)(aq + i * lda));                                           \
      __m512i a1 = _mm512_loadu_si512((const void *)(aq + i * lda + 32));                                      \
      _Pragma("GCC unroll 4") for (int c = 0; c < cn; c++) {                                                   \
        if (kind == KIND_MX_ACT) { /* one row: the column's exponents on a copy of the activations */          \
          __m512i sub = mx_spread(t->mx[(q) * GEMV_BF16_PANEL + c * t->mx_cs]);                                \
          acc[i][c] = dot(acc[i][c], _mm512_mask_sub_epi16(a0, (__mmask32)t->amask[2 * (q)], a0, sub), w[c][0]); \
          acc[i][c] = dot(acc[i][c], _mm512_mask_sub_epi16(a1, (__mmask32)t->amask[2 * (q) + 1], a1, sub), w[c][1]); \
          continue;                                                                                            \
        }                                                                                                      \
        acc[i][c] = dot(acc[i][c], a0, w[c][0]);                                                               \
        acc[i][c] = dot(acc[i][c], a1, w[c][1]);                                                               \
      }                                                                                                        \
    }                                                                                                          \
  } while (0)

/* Segment S's sums acc folded into the tile's parts (tile_body's three forms); a macro
 * for the reason of CHUNK_DOTS (as a function the 4 x 4 per-lane tile's chunk loop spilled
 * more). */
#define SEG_FOLD(S)                                                                                                       \
  do {                                                                                                                    \
    if (kind == KIND_SEG && cn == 4) { /* the driver's tables: sb always, sa NULL when sb holds sa * sb */              \
      __m512 sb4 = seg_scales4(t->sb, t->sb_ld, (S));                                                                     \
      _Pragma("GCC unroll 16") for (int i = 0; i < mr; i++) {                                                             \
        __m512 sc = t->sa ? _mm512_mul_ps(_mm512_set1_ps(t->sa[i * t->sa_ld + (S)]), sb4) : sb4;                          \
        part4[i] = _mm512_fmadd_ps(seg_lanes4(acc[i][0], acc[i][1], acc[i][2], acc[i][3]), sc, part4[i]);                 \
      }                                                                                                                   \
    } else if (kind == KIND_SEG) {                                                                                        \
      _Pragma("GCC unroll 16") for (int i = 0; i < mr; i++) {                                                             \
        float sc = t->sb[(S)];                                                                                            \
        if (t->sa) sc = t->sa[i * t->sa_ld + (S)] * sc;                                                                   \
        part1[i] = _mm_fmadd_ps(seg_lanes1(acc[i][0]), _mm_set1_ps(sc), part1[i]);                                        \
      }                                                                                                                   \
    } else if (kind == KIND_LANE) { /* every lane times its product, a broadcast operand */                               \
      const float *ps = t->pr + (S) * t->pr_ls;                                                                           \
      _Pragma("GCC unroll 16") for (int i = 0; i < mr; i++)                                                               \
        _Pragma("GCC unroll 4") for (int c = 0; c < cn; c++) {                                                            \
          part[i][c] = _mm512_fmadd_ps(acc[i][c], _mm512_set1_ps(ps[i * t->pr_lr + c * t->pr_lc]), part[i][c]);           \
        }                                                                                                                 \
    } else {                                                                                                              \
      _Pragma("GCC unroll 16") for (int i = 0; i < mr; i++)                                                               \
        _Pragma("GCC unroll 4") for (int c = 0; c < cn; c++)                                                              \
          part[i][c] = _mm512_add_ps(acc[i][c], part[i][c]); /* one segment: the bits of fma(sum, 1, 0) */                \
    }                                                                                                                     \
  } while (0)

static inline __attribute__((always_inline)) bool tile_body(const gemv_bf16_tile *t, const int mr,
                                                            const int cn, const gemv_bf16_vtab *v,
                                                            const bool fnuz,
                                                            const tile_kind kind) {
  const int64_t ldb = t->ldb, lda = t->lda, k = t->k;
  const int64_t nchunks = (k + GEMV_BF16_CHUNK - 1) / GEMV_BF16_CHUNK;
  const int64_t full = k / GEMV_BF16_CHUNK;
  const __mmask64 tail = (k % 64) ? (((__mmask64)1 << (k % 64)) - 1) : ~(__mmask64)0;
  __m512 part[GEMV_BF16_MR][GEMV_BF16_CN_MAX];
  __m512 part4[GEMV_BF16_MR]; /* KIND_SEG, 4 columns: seg_lanes4's lanes, scaled */
  __m128 part1[GEMV_BF16_MR]; /* KIND_SEG, 1 column */
  __m512i rec = _mm512_setzero_si512(); /* KIND_MX_SAT */
  __mmask64 nan80 = 0;
  _Pragma("GCC unroll 16") for (int i = 0; i < mr; i++) {
    part4[i] = _mm512_setzero_ps();
    part1[i] = _mm_setzero_ps();
    _Pragma("GCC unroll 4") for (int c = 0; c < cn; c++) part[i][c] = _mm512_setzero_ps();
  }
  if (kind == KIND_SEG || kind == KIND_LANE) {
    __m512 acc[GEMV_BF16_MR][GEMV_BF16_CN_MAX];
    _Pragma("GCC unroll 16") for (int i = 0; i < mr; i++)
      _Pragma("GCC unroll 4") for (int c = 0; c < cn; c++) acc[i][c] = _mm512_setzero_ps();
    /* One chunk loop, a segment's fold after its last chunk: a loop of segments around a
     * loop of their (2) chunks cost the block tiles 2-13% in cache (docs/gemv.md,
     * session 17). */
    const int64_t seg_chunks = t->seg / GEMV_BF16_CHUNK;
    for (int64_t q = 0, s = 0, q1 = seg_chunks < nchunks ? seg_chunks : nchunks; q < nchunks; q++) {
      CHUNK_DOTS(q);
      if (q + 1 < q1) continue;
      SEG_FOLD(s);
      _Pragma("GCC unroll 16") for (int i = 0; i < mr; i++)
        _Pragma("GCC unroll 4") for (int c = 0; c < cn; c++) acc[i][c] = _mm512_setzero_ps();
      s++;
      q1 = q1 + seg_chunks < nchunks ? q1 + seg_chunks : nchunks;
    }
  } else { /* plain and MX: one segment over all of K. The loop runs once; written as a
            * loop because gcc 12 then compiles these tiles exactly as before session 17
            * (without it: other register allocation, decode-table broadcasts inside the
            * tile; not timed, so not taken) */
    const int64_t seg_chunks = nchunks;
    for (int64_t q0 = 0, s = 0; q0 < nchunks; q0 += seg_chunks, s++) {
      int64_t q1 = q0 + seg_chunks < nchunks ? q0 + seg_chunks : nchunks;
      __m512 acc[GEMV_BF16_MR][GEMV_BF16_CN_MAX];
      _Pragma("GCC unroll 16") for (int i = 0; i < mr; i++)
        _Pragma("GCC unroll 4") for (int c = 0; c < cn; c++) acc[i][c] = _mm512_setzero_ps();
      for (int64_t q = q0; q < q1; q++) CHUNK_DOTS(q);
      SEG_FOLD(s);
    }
  }
  if (kind == KIND_MX_SAT && gemv_bf16_mx_nf_seen(rec, nan80)) return false;
  if (kind == KIND_SEG && cn == 4) {
    _Pragma("GCC unroll 16") for (int i = 0; i < mr; i++) seg_store4(seg_final4(part4[i]), t->out + i * t->ldo);
    if (t->ldo == 4) /* the driver's layout: 16 floats, rows past mr get 0 */
      for (int i = mr; i < GEMV_BF16_MR; i++) _mm_storeu_ps(t->out + 4 * i, _mm_setzero_ps());
    return true;
  }
  if (kind == KIND_SEG) {
    _Pragma("GCC unroll 16") for (int i = 0; i < mr; i++) t->out[i * t->ldo] = seg_final1(part1[i]);
    return true;
  }
  if (cn == 4 && t->ldo == 4) { /* the driver's layout: 16 floats, rows past mr unused */
    __m512 v[16];
    _Pragma("GCC unroll 16") for (int n = 0; n < 16; n++) v[n] = n / 4 < mr ? part[n / 4][n % 4] : _mm512_setzero_ps();
    reduce16(v, t->out);
    return true;
  }
  _Pragma("GCC unroll 16") for (int i = 0; i < mr; i++)
    _Pragma("GCC unroll 4") for (int c = 0; c < cn; c++) t->out[i * t->ldo + c] = _mm512_reduce_add_ps(part[i][c]);
  return true;
}

/* One function per shape and kind with the decoder's fnuz patch as a constant. */
#define TILE_FN(MR, CN, KIND, NAME)                                                        \
  static void tile_##MR##x##CN##_##NAME(const gemv_bf16_tile *t, fp8gemm_dtype d) {      \
    gemv_bf16_vtab v = gemv_bf16_vtab_of(d);                                              \
    if (KIND == KIND_MX && MR == 1 && t->amask) {                                         \
      if (v.nan80) tile_body(t, MR, CN, &v, true, KIND_MX_ACT);                           \
      else tile_body(t, MR, CN, &v, false, KIND_MX_ACT);                                  \
      return;                                                                             \
    }                                                                                     \
    if (KIND == KIND_MX && t->mx_sat) {                                                   \
      gemv_bf16_vtab vm = gemv_bf16_vtab_mx_of(d, t->mx_bias);                            \
      if (vm.nan80 ? tile_body(t, MR, CN, &vm, true, KIND_MX_SAT)                         \
                   : tile_body(t, MR, CN, &vm, false, KIND_MX_SAT))                       \
        return;                                                                           \
    }                                                                                     \
    if (v.nan80) tile_body(t, MR, CN, &v, true, KIND);                                    \
    else tile_body(t, MR, CN, &v, false, KIND);                                           \
  }
#define TILE_FNS(KIND, NAME)                                                              \
  TILE_FN(1, 4, KIND, NAME) TILE_FN(1, 1, KIND, NAME)                                     \
  TILE_FN(2, 4, KIND, NAME) TILE_FN(2, 1, KIND, NAME)                                     \
  TILE_FN(3, 4, KIND, NAME) TILE_FN(3, 1, KIND, NAME)                                     \
  TILE_FN(4, 4, KIND, NAME) TILE_FN(4, 1, KIND, NAME)
TILE_FNS(KIND_PLAIN, plain)
TILE_FNS(KIND_SEG, seg)
TILE_FNS(KIND_MX, mx)
/* Per-lane block scales serve M = 2, 3 only (the driver's c->lanes; at M = 4 the 32
 * accumulators and parts spill): no 1- or 4-row tiles compiled. */
TILE_FN(2, 4, KIND_LANE, lane) TILE_FN(2, 1, KIND_LANE, lane)
TILE_FN(3, 4, KIND_LANE, lane) TILE_FN(3, 1, KIND_LANE, lane)

typedef void (*tile_fn)(const gemv_bf16_tile *, fp8gemm_dtype);
/* [kind][rows][narrow, wide] */
#define TILE_ROW(NAME)                                                                              \
  {{NULL, NULL}, {tile_1x1_##NAME, tile_1x4_##NAME}, {tile_2x1_##NAME, tile_2x4_##NAME},            \
   {tile_3x1_##NAME, tile_3x4_##NAME}, {tile_4x1_##NAME, tile_4x4_##NAME}}
static const tile_fn tiles[KIND_COUNT][GEMV_BF16_MR + 1][2] = {
    TILE_ROW(plain), TILE_ROW(seg), TILE_ROW(mx),
    {{NULL, NULL}, {NULL, NULL}, {tile_2x1_lane, tile_2x4_lane}, {tile_3x1_lane, tile_3x4_lane}, {NULL, NULL}}};

void gemv_bf16_run_tile(const gemv_bf16_tile *t, int mr, int cn, fp8gemm_dtype b_dtype) {
  tile_kind kind = t->mx ? KIND_MX : t->pr ? KIND_LANE : (t->sa || t->sb) ? KIND_SEG : KIND_PLAIN;
  tiles[kind][mr][cn != 1](t, b_dtype);
}

/*
 * Block / MX tiles over all row groups at once (batch * M > GEMV_BF16_MR): per block of
 * up to SHARED_KB chunks, the first row group decodes the 4 columns (MX: exponents added)
 * into an L1 buffer as it uses them, and the later groups read the decoded values back
 * instead of decoding again; each group's accumulators wait in L1 between blocks. Every
 * (row, column) accumulator sees the same VDPBF16PS / segment sequence as in tile_body,
 * so the bits are the same. The decode and MX adds were paid once per row group.
 */
enum { SHARED_KB = 8 };

typedef struct shared_state {
  __m512 acc[GEMV_BF16_ROWS_MAX][GEMV_BF16_CN_MAX];  /* open segment sums between blocks */
  __m512 part[GEMV_BF16_ROWS_MAX][GEMV_BF16_CN_MAX]; /* scaled segment sums (KIND_SEG: part[row][0],
                                                        seg_lanes4's lanes) */
  __m512i w[SHARED_KB][GEMV_BF16_CN_MAX][2];         /* the block's decoded columns */
  __m512i rec;                                       /* KIND_MX_SAT: mark_cols' record */
  __mmask64 nan80;
} shared_state;

/* Rows 4g .. 4g + mr - 1 over chunks [b0, b1) of segment s; `decode`: this group decodes
 * the chunks (and prefetches, as the first row group of tile_body does). */
static inline __attribute__((always_inline)) void shared_pass(const gemv_bf16_tile *t, shared_state *st,
                                                              const int mr, const int g, const bool decode,
                                                              int64_t b0, int64_t b1, bool first, bool last,
                                                              int64_t s, const gemv_bf16_vtab *v,
                                                              const bool fnuz, const tile_kind kind) {
  enum { CN = GEMV_BF16_CN_MAX };
  const int64_t ldb = t->ldb, lda = t->lda, k = t->k;
  const int64_t full = k / GEMV_BF16_CHUNK;
  const __mmask64 tail = (k % 64) ? (((__mmask64)1 << (k % 64)) - 1) : ~(__mmask64)0;
  const int r0 = 4 * g;
  __m512 acc[GEMV_BF16_MR][CN];
  _Pragma("GCC unroll 4") for (int i = 0; i < mr; i++)
    _Pragma("GCC unroll 4") for (int c = 0; c < CN; c++) acc[i][c] = first ? _mm512_setzero_ps() : st->acc[r0 + i][c];
  for (int64_t q = b0; q < b1; q++) {
    __m512i w[CN][2], lo[CN];
    const uint8_t *bq = t->b + q * GEMV_BF16_CHUNK;
    if (decode) {
      if (t->prefetch) prefetch_step(t, bq, q, CN, ldb, k);
      _Pragma("GCC unroll 4") for (int c = 0; c < CN; c++) {
        load_decode_col(t, bq, q, ldb, full, tail, c, v, fnuz, kind, w[c], &lo[c], &st->nan80);
        _mm512_store_si512((void *)&st->w[q - b0][c][0], w[c][0]);
        _mm512_store_si512((void *)&st->w[q - b0][c][1], w[c][1]);
      }
      if (kind == KIND_MX_SAT) mark_cols(&st->rec, lo, CN);
    } else {
      _Pragma("GCC unroll 4") for (int c = 0; c < CN; c++) {
        w[c][0] = _mm512_load_si512((const void *)&st->w[q - b0][c][0]);
        w[c][1] = _mm512_load_si512((const void *)&st->w[q - b0][c][1]);
      }
    }
    const uint16_t *aq = t->a + q * GEMV_BF16_CHUNK + r0 * lda;
    _Pragma("GCC unroll 4") for (int i = 0; i < mr; i++) {
      __m512i a0 = _mm512_loadu_si512((const void *)(aq + i * lda));
      __m512i a1 = _mm512_loadu_si512((const void *)(aq + i * lda + 32));
      _Pragma("GCC unroll 4") for (int c = 0; c < CN; c++) {
        acc[i][c] = dot(acc[i][c], a0, w[c][0]);
        acc[i][c] = dot(acc[i][c], a1, w[c][1]);
      }
    }
  }
  if (last && kind == KIND_SEG) { /* as in tile_body */
    __m512 sb4 = seg_scales4(t->sb, t->sb_ld, s);
    _Pragma("GCC unroll 4") for (int i = 0; i < mr; i++) {
      __m512 sc = t->sa ? _mm512_mul_ps(_mm512_set1_ps(t->sa[(r0 + i) * t->sa_ld + s]), sb4) : sb4;
      st->part[r0 + i][0] = _mm512_fmadd_ps(seg_lanes4(acc[i][0], acc[i][1], acc[i][2], acc[i][3]), sc,
                                            st->part[r0 + i][0]);
    }
    return;
  }
  _Pragma("GCC unroll 4") for (int i = 0; i < mr; i++) {
    _Pragma("GCC unroll 4") for (int c = 0; c < CN; c++) {
      if (!last) st->acc[r0 + i][c] = acc[i][c];
      else st->part[r0 + i][c] = _mm512_add_ps(acc[i][c], st->part[r0 + i][c]);
    }
  }
}

/* The pass of group g with its row count as a constant. */
static inline __attribute__((always_inline)) void shared_group(const gemv_bf16_tile *t, shared_state *st, int m,
                                                               int g, int64_t b0, int64_t b1, bool first,
                                                               bool last, int64_t s, const gemv_bf16_vtab *v,
                                                               const bool fnuz, const tile_kind kind) {
  int mr = m - 4 * g < GEMV_BF16_MR ? m - 4 * g : GEMV_BF16_MR;
  if (g == 0) {
    shared_pass(t, st, GEMV_BF16_MR, 0, true, b0, b1, first, last, s, v, fnuz, kind); /* m > 4 */
    return;
  }
  switch (mr) {
    case 1: shared_pass(t, st, 1, g, false, b0, b1, first, last, s, v, fnuz, kind); break;
    case 2: shared_pass(t, st, 2, g, false, b0, b1, first, last, s, v, fnuz, kind); break;
    case 3: shared_pass(t, st, 3, g, false, b0, b1, first, last, s, v, fnuz, kind); break;
    default: shared_pass(t, st, 4, g, false, b0, b1, first, last, s, v, fnuz, kind); break;
  }
}

static inline __attribute__((always_inline)) bool shared_body(const gemv_bf16_tile *t, int m, const gemv_bf16_vtab *v,
                                                              const bool fnuz, const tile_kind kind) {
  _Alignas(64) shared_state st;
  st.rec = _mm512_setzero_si512();
  st.nan80 = 0;
  const int ng = (m + GEMV_BF16_MR - 1) / GEMV_BF16_MR;
  const int64_t nchunks = (t->k + GEMV_BF16_CHUNK - 1) / GEMV_BF16_CHUNK;
  const int64_t seg_chunks = kind == KIND_SEG ? t->seg / GEMV_BF16_CHUNK : nchunks;
  for (int i = 0; i < 4 * ng; i++)
    for (int c = 0; c < GEMV_BF16_CN_MAX; c++) st.part[i][c] = _mm512_setzero_ps();
  for (int64_t q0 = 0, s = 0; q0 < nchunks; q0 += seg_chunks, s++) {
    int64_t q1 = q0 + seg_chunks < nchunks ? q0 + seg_chunks : nchunks;
    for (int64_t b0 = q0; b0 < q1; b0 += SHARED_KB) {
      int64_t b1 = b0 + SHARED_KB < q1 ? b0 + SHARED_KB : q1;
      for (int g = 0; g < ng; g++) shared_group(t, &st, m, g, b0, b1, b0 == q0, b1 == q1, s, v, fnuz, kind);
    }
  }
  if (kind == KIND_MX_SAT && gemv_bf16_mx_nf_seen(st.rec, st.nan80)) return false;
  if (kind == KIND_SEG) { /* rows past m: zero sums, written but unused */
    for (int i = 0; i < 4 * ng; i++) seg_store4(seg_final4(st.part[i][0]), t->out + 4 * i);
    return true;
  }
  for (int g = 0; g < ng; g++) /* rows past m: zero sums, written but unused */
    reduce16(&st.part[4 * g][0], t->out + 16 * g);
  return true;
}

#define SHARED_FN(KIND, NAME)                                                             \
  static void shared_##NAME(const gemv_bf16_tile *t, int m, fp8gemm_dtype d) {         \
    if (KIND == KIND_MX && t->mx_sat) {                                                   \
      gemv_bf16_vtab vm = gemv_bf16_vtab_mx_of(d, t->mx_bias);                            \
      if (vm.nan80 ? shared_body(t, m, &vm, true, KIND_MX_SAT)                            \
                   : shared_body(t, m, &vm, false, KIND_MX_SAT))                          \
        return;                                                                           \
    }                                                                                     \
    gemv_bf16_vtab v = gemv_bf16_vtab_of(d);                                              \
    if (v.nan80) shared_body(t, m, &v, true, KIND);                                       \
    else shared_body(t, m, &v, false, KIND);                                              \
  }
SHARED_FN(KIND_SEG, seg)
SHARED_FN(KIND_MX, mx)

void gemv_bf16_run_tile_rows(const gemv_bf16_tile *t, int m, fp8gemm_dtype b_dtype) {
  if (t->mx) shared_mx(t, m, b_dtype);
  else shared_seg(t, m, b_dtype);
}
