/*
 * Register-blocked tiles of the AVX-512 BF16 decode kernel. Per 64-code chunk: each of
 * the cn columns is loaded once and decoded to two zmm of bf16 pairs (MX: its e8m0
 * exponent added to every nonzero finite value, exact under the driver's checks), then
 * every row's two activation vectors meet every column in one VDPBF16PS each. One
 * accumulator per (row, column), so a column's result is the same sequence of
 * operations whatever the tile shape, row group or thread that computes it.
 *
 * Each shape is its own function with the dtype's fnuz patch, MX and the masked last
 * chunk as constants: no test in the chunk loop, and the per-segment partial sums live
 * in memory so the accumulators, weights and tables alone fill the 32 zmm registers.
 */
#include <immintrin.h>
#include <string.h>

#include "gemv_avx512bf16.h"
#include "gemv_bf16_decode.h"

/* No software prefetch: the columns of a tile are adjacent, so consecutive tiles read
 * one sequential region, which the hardware prefetchers follow. Prefetching ahead in
 * each stream, or the first KiB of the next tile's columns, measured no better (the
 * latter worse at M = 1). */

static inline __m512 dot(__m512 acc, __m512i a, __m512i w) {
  return _mm512_dpbf16_ps(acc, (__m512bh)a, (__m512bh)w);
}

/* w[h] + add on every halfword whose exponent is neither 0 (zero) nor all ones. */
static inline __attribute__((always_inline)) __m512i exp_add(__m512i w, __m512i add) {
  const __m512i e_mask = _mm512_set1_epi16(0x7F80);
  __m512i e = _mm512_and_si512(w, e_mask);
  __mmask32 m = _mm512_mask_cmpneq_epu16_mask(_mm512_test_epi16_mask(w, e_mask), e, e_mask);
  return _mm512_mask_add_epi16(w, m, w, add);
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

/* The fixed configuration of one compiled tile. */
typedef struct tile_cfg {
  int mr, cn;
  bool fnuz, dual, mx;
} tile_cfg;

/* Chunks [q0, q1) into acc / acc1; tail: one chunk, the codes past k masked to 0. */
static inline __attribute__((always_inline)) void chunks(const gemv_bf16_tile *t, const tile_cfg f,
                                                         const gemv_bf16_vtab *v, int64_t q0, int64_t q1,
                                                         bool tail, __mmask64 tmask,
                                                         __m512 acc[GEMV_BF16_MR][GEMV_BF16_CN_MAX],
                                                         __m512 acc1[GEMV_BF16_MR][GEMV_BF16_CN_MAX]) {
  const int64_t ldb = t->ldb, lda = t->lda;
  for (int64_t q = q0; q < q1; q++) {
    const uint8_t *bq = t->b + q * GEMV_BF16_CHUNK;
    __m512i w[GEMV_BF16_CN_MAX][2];
    _Pragma("GCC unroll 4") for (int c = 0; c < f.cn; c++) {
      __m512i codes = tail ? _mm512_maskz_loadu_epi8(tmask, bq + c * ldb)
                           : _mm512_loadu_si512((const void *)(bq + c * ldb));
      gemv_bf16_dec64(v, codes, f.fnuz, w[c]);
      if (f.mx) {
        __m512i add = mx_spread(t->mx[q * GEMV_BF16_PANEL + c]);
        w[c][0] = exp_add(w[c][0], add);
        w[c][1] = exp_add(w[c][1], add);
      }
    }
    const uint16_t *aq = t->a + q * GEMV_BF16_CHUNK;
    if (f.dual) {
      _Pragma("GCC unroll 16") for (int i = 0; i < f.mr; i++)
        _Pragma("GCC unroll 4") for (int c = 0; c < f.cn; c++) {
          acc[i][c] = dot(acc[i][c], _mm512_loadu_si512((const void *)(aq + i * lda)), w[c][0]);
          acc1[i][c] = dot(acc1[i][c], _mm512_loadu_si512((const void *)(aq + i * lda + 32)), w[c][1]);
        }
    } else {
      /* first halves of all (row, column) pairs, then the second halves: each
       * accumulator's two steps are mr * cn steps apart, not adjacent */
      _Pragma("GCC unroll 2") for (int h = 0; h < 2; h++)
        _Pragma("GCC unroll 16") for (int i = 0; i < f.mr; i++) {
          __m512i a = _mm512_loadu_si512((const void *)(aq + i * lda + 32 * h));
          _Pragma("GCC unroll 4") for (int c = 0; c < f.cn; c++) acc[i][c] = dot(acc[i][c], a, w[c][h]);
        }
    }
  }
}

/* Chunks [t->q0, t->q1) of the tile, the running sums carried in t->state. */
static inline __attribute__((always_inline)) void tile_body(const gemv_bf16_tile *t, const tile_cfg f,
                                                            const gemv_bf16_vtab *v) {
  const int64_t k = t->k;
  const int64_t nchunks = (k + GEMV_BF16_CHUNK - 1) / GEMV_BF16_CHUNK;
  const int64_t full = k / GEMV_BF16_CHUNK;
  const __mmask64 tmask = (k % 64) ? (((__mmask64)1 << (k % 64)) - 1) : ~(__mmask64)0;
  const int64_t seg_chunks = t->seg / GEMV_BF16_CHUNK;
  /* state: acc, then acc1 (dual), then part (the scaled sum of the finished segments),
   * each [mr][cn][16]; touched once per call and per segment, not per chunk */
  float *st_acc = t->state, *st_acc1 = st_acc + f.mr * f.cn * 16, *st_part = st_acc1 + (f.dual ? f.mr * f.cn * 16 : 0);
  if (t->q0 == 0)
    for (int x = 0; x < f.mr * f.cn * (f.dual ? 3 : 2); x++) _mm512_store_ps(t->state + 16 * x, _mm512_setzero_ps());
  __m512 acc[GEMV_BF16_MR][GEMV_BF16_CN_MAX], acc1[GEMV_BF16_MR][GEMV_BF16_CN_MAX];
  _Pragma("GCC unroll 16") for (int i = 0; i < f.mr; i++)
    _Pragma("GCC unroll 4") for (int c = 0; c < f.cn; c++) {
      acc[i][c] = _mm512_load_ps(st_acc + (i * f.cn + c) * 16);
      acc1[i][c] = f.dual ? _mm512_load_ps(st_acc1 + (i * f.cn + c) * 16) : _mm512_setzero_ps();
    }
  for (int64_t x = t->q0; x < t->q1;) {
    int64_t s = x / seg_chunks, send = (s + 1) * seg_chunks;
    int64_t y = send < t->q1 ? send : t->q1;
    int64_t xf = y < full ? y : full > x ? full : x; /* chunks [x, xf) are whole */
    chunks(t, f, v, x, xf, false, tmask, acc, acc1);
    if (xf < y) chunks(t, f, v, xf, y, true, tmask, acc, acc1);
    if (y == send || y == nchunks) { /* segment s ends: fold it into part */
      _Pragma("GCC unroll 16") for (int i = 0; i < f.mr; i++) {
        float sa = t->sa ? t->sa[i * t->sa_ld + s] : 1.0f;
        _Pragma("GCC unroll 4") for (int c = 0; c < f.cn; c++) {
          float sb = t->sb ? t->sb[s * GEMV_BF16_PANEL + c] : 1.0f;
          __m512 sum = f.dual ? _mm512_add_ps(acc[i][c], acc1[i][c]) : acc[i][c];
          float *pp = st_part + (i * f.cn + c) * 16;
          _mm512_store_ps(pp, _mm512_fmadd_ps(sum, _mm512_set1_ps(sa * sb), _mm512_load_ps(pp)));
          acc[i][c] = acc1[i][c] = _mm512_setzero_ps();
        }
      }
    }
    x = y;
  }
  _Pragma("GCC unroll 16") for (int i = 0; i < f.mr; i++)
    _Pragma("GCC unroll 4") for (int c = 0; c < f.cn; c++) {
      _mm512_store_ps(st_acc + (i * f.cn + c) * 16, acc[i][c]);
      if (f.dual) _mm512_store_ps(st_acc1 + (i * f.cn + c) * 16, acc1[i][c]);
    }
  if (t->q1 == nchunks)
    _Pragma("GCC unroll 16") for (int i = 0; i < f.mr; i++)
      _Pragma("GCC unroll 4") for (int c = 0; c < f.cn; c++)
        t->out[i * t->ldo + c] = _mm512_reduce_add_ps(_mm512_load_ps(st_part + (i * f.cn + c) * 16));
}

/* One function per shape; the dtype's fnuz patch and MX are constants inside. */
#define TILE_FN(MR, CN, DUAL)                                                                    \
  static void tile_##MR##x##CN(const gemv_bf16_tile *t, fp8gemm_dtype d) {                    \
    gemv_bf16_vtab v = gemv_bf16_vtab_of(d);                                                   \
    bool mx = t->mx != NULL;                                                                   \
    if (v.nan80 && mx) tile_body(t, (tile_cfg){MR, CN, true, DUAL, true}, &v);             \
    else if (v.nan80) tile_body(t, (tile_cfg){MR, CN, true, DUAL, false}, &v);             \
    else if (mx) tile_body(t, (tile_cfg){MR, CN, false, DUAL, true}, &v);                  \
    else tile_body(t, (tile_cfg){MR, CN, false, DUAL, false}, &v);                         \
  }
TILE_FN(1, 1, true)
TILE_FN(2, 4, false) TILE_FN(2, 1, false)
TILE_FN(3, 4, false) TILE_FN(3, 1, false)
TILE_FN(4, 4, false) TILE_FN(4, 1, false)
TILE_FN(5, 2, false) TILE_FN(5, 1, false)
TILE_FN(6, 2, false) TILE_FN(6, 1, false)
TILE_FN(7, 2, false) TILE_FN(7, 1, false)
TILE_FN(8, 2, false) TILE_FN(8, 1, false)

typedef void (*tile_fn)(const gemv_bf16_tile *, fp8gemm_dtype);
/* [rows][narrow, wide] */
static const tile_fn tiles[GEMV_BF16_MR + 1][2] = {
    {NULL, NULL},         {tile_1x1, tile_1x1}, {tile_2x1, tile_2x4}, {tile_3x1, tile_3x4}, {tile_4x1, tile_4x4},
    {tile_5x1, tile_5x2}, {tile_6x1, tile_6x2}, {tile_7x1, tile_7x2}, {tile_8x1, tile_8x2},
};

gemv_bf16_shape gemv_bf16_shape_of(int mr) {
  /* One row: one column at a time is one sequential stream (the best from memory here),
   * with two accumulators so the VDPBF16PS latency is not the limit. Up to 4 rows: 4
   * columns (4 x 4 accumulators); 5..8 rows: 2 columns (<= 16 accumulators), so each
   * decoded chunk meets up to 16 activation vector pairs. */
  if (mr == 1) return (gemv_bf16_shape){.cn = 1, .dual = true};
  if (mr <= 4) return (gemv_bf16_shape){.cn = 4, .dual = false};
  return (gemv_bf16_shape){.cn = 2, .dual = false};
}

int gemv_bf16_group_rows(int64_t rows_left) {
  return (int)(rows_left < GEMV_BF16_MR ? rows_left : GEMV_BF16_MR);
}

int64_t gemv_bf16_kblock(int mr, int64_t nchunks) {
  /* Up to 4 rows: all of K at once (each column one sequential stream, the rows'
   * activations <= 32 KiB). More rows: 1024 K (16 rows x 2 KiB of bf16 at most in L1),
   * else the tile's activation loads come from L2 and limit it. */
  if (mr <= 4) return nchunks;
  return 16;
}

void gemv_bf16_run_tile(const gemv_bf16_tile *t, int mr, int cn, fp8gemm_dtype b_dtype) {
  tiles[mr][cn != 1](t, b_dtype);
}
