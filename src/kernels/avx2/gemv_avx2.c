/*
 * Driver of the AVX2 decode kernels: decodes the (few) activation rows to fp32 once,
 * splits N into fixed panels (one task each, whatever the thread count), walks K in
 * segments that never cross a scale block, and applies scales and bias in double.
 *
 * Numerics: per K block, fp32 FMA partial sums (the fp8 x fp8 / fp8 x wide products
 * feed FMAs exactly); each partial is scaled and accumulated in double (MX exponents
 * become exact powers of two there), then rounded once to the output dtype (via
 * round-to-odd to fp32 for bf16 / f16, which is exact single rounding).
 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "gemv_avx2.h"
#include "gemv_avx2_decode.h"

/* Columns per task, and the NN K chunk: a chunk of a panel's weights (16 KiB) stays in
 * L1 while the tiles and row groups of the panel reuse it. */
enum { NN_PANEL = 2048, NN_KC = 16, NN_KC_MAX = 32, NT_PANEL = 64 };
/* NT column groups of 8 run NT_QUAD at a time when a panel has them: tile j takes column
 * j of each group, so its four weight streams lie 8 columns apart instead of adjacent.
 * On Zen 3 one core reads streams only 4 KiB apart (adjacent columns of K = 4096) at
 * about the rate of a single stream, ~60% of what far-apart streams get (docs/gemv.md,
 * session 12). The fold tables of a task hold NT_QUAD groups: nsteps x NT_CS_LD
 * factors (gemv_call.cscale: step-major, or column-major for MX codes read in place). */
enum { NT_QUAD = 4, NT_CS_LD = 8 * NT_QUAD };
/* NT rows per group: 4 rows x 2 columns use the FMA pipes better than 8 x 1, even though
 * a second group decodes the (L1-resident) columns again. */
enum { NT_MR = 4 };

typedef struct gemv_call {
  const fp8g_gemm_problem *p;
  const float *a;     /* decoded activations [batch * m][lda], zero padded */
  int64_t lda;
  int route;          /* fast route for the weight dtype */
  const float *table; /* decode(code) / wfactor, 256 entries */
  double wfactor;     /* what the decoders left out (2^8 for e4m3fn) */
  const double *e8m0; /* 2^(code - 127), NaN for 0xFF: exact in double */
  bool nt;
  bool blocked;       /* BLOCK / MX: scales per K block */
  bool mx_fold;       /* MX on NT weights with safe activation exponents: 2^(ea-127) folded
                         into the activations; 2^(eb-127) into each 32-code step (exact) in
                         the column groups whose codes allow it (mx_group_ok), per K block
                         in double in the others */
  int ea_lo, ea_hi, log2kb; /* mx_fold: range of ea - 127, ceil(log2(k / 32)) */
  bool group_fold;    /* block scales (block_k a multiple of 32) on NT weights, K >= 64:
                         each 32-code step times its fp32 weight scale, the activations
                         times their block's scale (W8A8); one fp32 rounding each */
  int64_t nsteps;     /* ceil(k / 32) */
  int64_t nn_panel;   /* NN columns per task (<= NN_PANEL, a multiple of 64) */
  float *cscale;      /* folds: per slot, nsteps x NT_CS_LD column factors, entry (step q,
                         column j of the task's group run) at q * cs_step + j * cs_col:
                         step-major (NT_CS_LD, 1), or column-major (1, nsteps) for MX codes
                         read in place, whose columns are contiguous (no transpose) */
  int64_t cs_step, cs_col;
  int64_t batch;      /* batch being run */
  double row_unscale[GEMV_ROWS_MAX]; /* per row: undoes the integer route's lift beyond
                                        2^112 (1 on the F16C routes) */
  struct panel_state *states; /* NN: one per concurrently running task */
  atomic_int *busy;
  int nslots;
} gemv_call;

/* ------------------------------------------------------------ tables (built once) */

/* Per fp8 dtype: decode(code) for activations, decode(code) / weight factor for
 * weights (the table route must give what the fast route gives), and e8m0 values. */
static float act_tables[FP8GEMM_DTYPE_COUNT][256], weight_tables[FP8GEMM_DTYPE_COUNT][256];
/* What the integer routes produce: decode(code) * 2^-120 (e4m3fn) / 2^-112 (e5m2). */
static float int_tables[2][256];
static double e8m0_table[256];
static float e8m0f_table[256]; /* as float: exact for codes 0..254 */
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

/* ------------------------------------------------------------ support */

static bool is_out_dtype(fp8gemm_dtype d) {
  return d == FP8GEMM_F32 || d == FP8GEMM_BF16 || d == FP8GEMM_F16;
}

static bool supports_common(const fp8g_gemm_problem *p) {
  if (p->batch < 1 || p->m < 1 || p->batch > GEMV_ROWS_MAX || p->m > GEMV_ROWS_MAX ||
      p->batch * p->m > GEMV_ROWS_MAX || p->n < 1 || p->k < 1)
    return false;
  if (!fp8gemm_dtype_is_fp8(p->b_dtype) || !is_out_dtype(p->out_dtype)) return false;
  if (p->b_stride_n != 1 && p->b_stride_k != 1) return false; /* neither NN nor NT */
  bool blocked = p->scale_kind == FP8G_SCALE_BLOCK || p->scale_kind == FP8G_SCALE_MX;
  if (blocked && (p->block_k < 1 || p->block_n < 1)) return false;
  return p->scale_kind >= FP8G_SCALE_NONE && p->scale_kind <= FP8G_SCALE_MX;
}

static bool supports_w8a8(const fp8g_gemm_problem *p) {
  return fp8gemm_dtype_is_fp8(p->a_dtype) && supports_common(p);
}

static bool supports_w8a16(const fp8g_gemm_problem *p) {
  return (p->a_dtype == FP8GEMM_BF16 || p->a_dtype == FP8GEMM_F16 ||
          p->a_dtype == FP8GEMM_F32) &&
         supports_common(p);
}

/* ------------------------------------------------------------ scales and output */

/* Row factor of K block kb (1 for w8a16, which scales only the weight). */
static double row_scale(const gemv_call *c, int64_t row, int64_t kb) {
  const fp8g_gemm_problem *p = c->p;
  double u = c->row_unscale[row];
  if (c->mx_fold || c->group_fold) return u;
  switch (p->scale_kind) {
    case FP8G_SCALE_TENSOR: return u * (p->sa ? p->sa[0] : 1.0);
    case FP8G_SCALE_ROWCOL: return u * (p->sa ? p->sa[row] : 1.0);
    case FP8G_SCALE_BLOCK: return u * (p->sa ? p->sa[row * p->a_kblocks + kb] : 1.0);
    case FP8G_SCALE_MX: return u * (p->ea ? c->e8m0[p->ea[row * p->a_kblocks + kb]] : 1.0);
    default: return u;
  }
}

/* Column factors of K block kb for columns [j0, j0 + nc), times the decoders' missing
 * factor. One loop per kind so that the common ones stay simple. */
static void col_scales(const gemv_call *c, bool folded, int64_t kb, int64_t j0, int64_t nc,
                       double *out) {
  const fp8g_gemm_problem *p = c->p;
  int64_t off = c->batch * p->sb_batch_stride;
  double wf = c->wfactor;
  switch (folded ? FP8G_SCALE_NONE : p->scale_kind) {
    case FP8G_SCALE_TENSOR: {
      double s = (p->sb ? p->sb[off] : 1.0) * wf;
      for (int64_t j = 0; j < nc; j++) out[j] = s;
      break;
    }
    case FP8G_SCALE_ROWCOL:
      for (int64_t j = 0; j < nc; j++) out[j] = (p->sb ? p->sb[off + j0 + j] : 1.0) * wf;
      break;
    case FP8G_SCALE_BLOCK: {
      const float *sb = p->sb + off + kb * p->b_nblocks;
      for (int64_t j = 0; j < nc; j++) out[j] = (p->sb ? sb[(j0 + j) / p->block_n] : 1.0) * wf;
      break;
    }
    case FP8G_SCALE_MX: {
      if (p->eb && p->eb_ld) { /* the checkpoint's [N, K/32], column by column */
        const uint8_t *eb = p->eb + off + j0 * p->eb_ld + kb;
        for (int64_t j = 0; j < nc; j++) out[j] = c->e8m0[eb[j * p->eb_ld]] * wf;
        break;
      }
      const uint8_t *eb = p->eb + off + kb * p->n + j0;
      for (int64_t j = 0; j < nc; j++) out[j] = (p->eb ? c->e8m0[eb[j]] : 1.0) * wf;
      break;
    }
    default:
      for (int64_t j = 0; j < nc; j++) out[j] = wf;
      break;
  }
}

/* d rounded toward zero to fp32 with the last bit set when inexact ("round to odd"):
 * rounding that to a format with at least two fewer bits is one correct rounding. */
static float f32_round_odd(double d) {
  float f = (float)d;
  if (isnan(d) || isinf(d) || (double)f == d) return f;
  if (fabs((double)f) > fabs(d)) f = nextafterf(f, 0.0f);
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  u |= 1u;
  memcpy(&f, &u, sizeof f);
  return f;
}

static void store_out(const fp8g_gemm_problem *p, int64_t idx, double v) {
  switch (p->out_dtype) {
    case FP8GEMM_F32: ((float *)p->out)[idx] = (float)v; break;
    case FP8GEMM_BF16: ((uint16_t *)p->out)[idx] = fp8g_f32_to_bf16(f32_round_odd(v)); break;
    default: ((uint16_t *)p->out)[idx] = fp8g_f32_to_f16(f32_round_odd(v)); break;
  }
}

/* ------------------------------------------------------------ folding K blocks */

/* tot[i][j] += part[i][j] * row_scale(i) * col_scale(j) for block kb of columns
 * [j0, j0 + nc) and rows [0, m); folded: the weight scales are in the sums already. */
static void fold_block(const gemv_call *c, bool folded, int64_t kb, int64_t j0, int64_t nc,
                       const float *part, int64_t ldpart, double *tot, int64_t ldtot,
                       double *col_s) {
  const fp8g_gemm_problem *p = c->p;
  col_scales(c, folded, kb, j0, nc, col_s);
  for (int64_t i = 0; i < p->m; i++) {
    double rs = row_scale(c, c->batch * p->m + i, kb);
    double *t = tot + i * ldtot;
    const float *pt = part + i * ldpart;
    for (int64_t j = 0; j < nc; j++) t[j] += (double)pt[j] * (rs * col_s[j]);
  }
}

static void write_outputs(const gemv_call *c, int64_t j0, int64_t nc, const double *tot,
                          int64_t ldtot) {
  const fp8g_gemm_problem *p = c->p;
  for (int64_t i = 0; i < p->m; i++) {
    int64_t row = c->batch * p->m + i;
    for (int64_t j = 0; j < nc; j++)
      store_out(p, row * p->n + j0 + j, tot[i * ldtot + j] + fp8g_bias_at(p, row, j0 + j));
  }
}

/* Next K block boundary after k0 (k when the kind has no K blocks or they are folded). */
static int64_t block_end(const gemv_call *c, bool blocked, int64_t k0) {
  const fp8g_gemm_problem *p = c->p;
  if (!blocked) return p->k;
  int64_t e = (k0 / p->block_k + 1) * p->block_k;
  return e < p->k ? e : p->k;
}

/* ------------------------------------------------------------ NN panels */

/* One panel's scratch (NN): fp32 partial sums of the current K block, scaled sums of
 * finished blocks, and the prefetch list of the next K chunk. */
struct panel_state {
  float acc[GEMV_ROWS_MAX * NN_PANEL];
  double tot[GEMV_ROWS_MAX * NN_PANEL];
  double col_s[NN_PANEL];
  const void *pf[NN_KC_MAX * (NN_PANEL / 64)];
};
typedef struct panel_state panel_state;

/* Columns beyond the last full 8-wide vector of an NN panel: plain fmaf in the same
 * order as a vector lane (table decode), so it is as exact as the vector path. */
static void nn_columns_scalar(const gemv_call *c, const uint8_t *b, int64_t ldb, int64_t row0,
                              int mr, int64_t k0, int64_t nk, float *acc, int64_t ncols) {
  for (int i = 0; i < mr; i++) {
    const float *a = c->a + (row0 + i) * c->lda + k0;
    float *ac = acc + i * NN_PANEL;
    for (int64_t j = 0; j < ncols; j++) {
      float s = ac[j];
      for (int64_t k = 0; k < nk; k++) s = fmaf(a[k], c->table[b[k * ldb + j]], s);
      ac[j] = s;
    }
  }
}

/* Rows [k0, k0 + nk) of a panel; npf prefetches of the next chunk are spread over the
 * tiles' row loops so the next chunk streams in row by row while this one computes. */
static void nn_segment(const gemv_call *c, panel_state *st, const uint8_t *bw, int64_t j0,
                       int64_t nc, int64_t k0, int64_t nk, int64_t npf) {
  const fp8g_gemm_problem *p = c->p;
  int64_t ldb = p->b_stride_k, pf_next = 0;
  for (int64_t r0 = 0; r0 < p->m; r0 += GEMV_MR_MAX) {
    int mr = (int)(p->m - r0 < GEMV_MR_MAX ? p->m - r0 : GEMV_MR_MAX);
    int64_t row0 = c->batch * p->m + r0;
    gemv_nn_tile t = {.ldb = ldb, .a = c->a + row0 * c->lda + k0, .lda = c->lda,
                      .ldacc = NN_PANEL, .nk = nk, .table = c->table};
    int64_t j = 0;
    for (int nv = gemv_avx2_nn_width(mr);; nv = 1) {
      for (; j + 8 * nv <= nc; j += 8 * nv) {
        t.b = bw + k0 * ldb + j0 + j;
        t.acc = st->acc + r0 * NN_PANEL + j;
        t.pf = st->pf + pf_next;
        t.npf = npf - pf_next < nk ? npf - pf_next : nk;
        pf_next += t.npf;
        if (gemv_avx2_nn_tile(&t, mr, nv, c->route)) {
          t.npf = 0;
          gemv_avx2_nn_tile(&t, mr, nv, GEMV_DEC_TABLE);
        }
      }
      if (nv == 1) break;
    }
    if (j < nc)
      nn_columns_scalar(c, bw + k0 * ldb + j0 + j, ldb, row0, mr, k0, nk,
                        st->acc + r0 * NN_PANEL + j, nc - j);
  }
}

/* At most nslots tasks run at once (one per pool thread), so a free slot exists. */
static int claim_slot(const gemv_call *c) {
  for (;;)
    for (int s = 0; s < c->nslots; s++)
      if (atomic_exchange(&c->busy[s], 1) == 0) return s;
}

static void nn_panel_task(void *ctx, int64_t task) {
  const gemv_call *c = ctx;
  const fp8g_gemm_problem *p = c->p;
  int64_t j0 = task * c->nn_panel;
  int64_t nc = p->n - j0 < c->nn_panel ? p->n - j0 : c->nn_panel;
  /* a second row group reuses the chunk: keep it small enough for L1 then */
  int64_t kc = p->m > GEMV_MR_MAX && c->nn_panel <= NN_PANEL / 4 ? NN_KC_MAX : NN_KC;
  int64_t ldb = p->b_stride_k, lines = (nc + 63) / 64;
  const uint8_t *bw = p->b + c->batch * p->b_batch_stride;
  int slot = claim_slot(c);
  panel_state *st = &c->states[slot];
  for (int64_t i = 0; i < p->m; i++)
    for (int64_t j = 0; j < nc; j++) {
      st->acc[i * NN_PANEL + j] = 0.0f;
      st->tot[i * NN_PANEL + j] = 0.0;
    }
  for (int64_t k0 = 0; k0 < p->k;) {
    int64_t be = block_end(c, c->blocked, k0);
    int64_t k1 = k0 + kc < be ? k0 + kc : be;
    int64_t npf = 0, pf_end = k1 + kc < p->k ? k1 + kc : p->k;
    for (int64_t r = k1; r < pf_end; r++)
      for (int64_t l = 0; l < lines; l++) st->pf[npf++] = bw + r * ldb + j0 + 64 * l;
    nn_segment(c, st, bw, j0, nc, k0, k1 - k0, npf);
    if (k1 == be) {
      fold_block(c, false, k0 / (c->blocked ? p->block_k : p->k), j0, nc, st->acc, NN_PANEL,
                 st->tot, NN_PANEL, st->col_s);
      for (int64_t i = 0; i < p->m; i++) memset(st->acc + i * NN_PANEL, 0, (size_t)nc * sizeof(float));
    }
    k0 = k1;
  }
  write_outputs(c, j0, nc, st->tot, NN_PANEL);
  atomic_store(&c->busy[slot], 0);
}

/* ------------------------------------------------------------ NT panels */

/* 8 e8m0 codes (the low 8 bytes of x) as fp32 2^(code - 127): the code is the exponent
 * field; code 0 is the subnormal 2^-127 (bits 0x00400000, below every other code's
 * 0x00800000 and up: one max). Codes 0xFF are never used (mx_group_ok). */
static inline __m256 e8m0x8_to_f32(__m128i x) {
  __m256i bits = _mm256_slli_epi32(_mm256_cvtepu8_epi32(x), 23);
  return _mm256_castsi256_ps(_mm256_max_epi32(bits, _mm256_set1_epi32(0x00400000)));
}

/* Whether weight exponents in [lo, hi] (codes) can be folded into the steps of a call
 * whose activations were folded (mx_fold): every product and partial sum then stays a
 * normal fp32 (activations |a| in [2^-17, 2^16] times 2^ea, step sums of 32 products,
 * |a w| in [2^-34, 2^32], times 2^eb, summed over K). NaN codes (0xFF) never fold. */
static bool mx_group_ok(const gemv_call *c, int lo, int hi) {
  if (hi == 0xFF) return false;
  return c->ea_lo + lo - 127 >= -92 && c->ea_hi + hi - 127 + 37 + c->log2kb <= 120;
}

/* lo = min(lo, the bytes of mn), hi = max(hi, the bytes of mx) */
static void fold_code_range(__m128i mn, __m128i mx, int *lo, int *hi) {
  uint8_t lo16[16], hi16[16];
  _mm_storeu_si128((__m128i *)lo16, mn);
  _mm_storeu_si128((__m128i *)hi16, mx);
  for (int i = 0; i < 16; i++) {
    *lo = lo16[i] < *lo ? lo16[i] : *lo;
    *hi = hi16[i] > *hi ? hi16[i] : *hi;
  }
}

/* MX fold: the factors 2^(eb(q, j0 + j) - 127) of the nsteps 32-K blocks and the nc
 * columns (0 past nc) at cs[q * cs_step + j * cs_col]. The codes are read as [k/32][n]
 * rows (8 columns at a time, step-major table) or, with eb_ld, as the checkpoint's
 * [N, K/32] in place, one contiguous column at a time into a column-major table (no
 * transpose). Returns mx_group_ok of the codes read; when false the group takes the
 * double path and the table is not used (it then may hold +Inf / NaN for 0xFF). */
static bool mx_cscale(const gemv_call *c, int64_t j0, int64_t nc, float *cs) {
  const fp8g_gemm_problem *p = c->p;
  const uint8_t *eb = p->eb + c->batch * p->sb_batch_stride;
  int64_t ns = c->nsteps, ld = p->eb_ld, q = 0;
  int lo = 0xFF, hi = 0;
  if (ld) { /* cs_step 1, cs_col nsteps (run() sets the layout) */
    __m256i mn = _mm256_set1_epi8((char)0xFF), mx = _mm256_setzero_si256();
    for (int64_t j = 0; j < 8; j++) {
      float *cj = cs + j * c->cs_col;
      if (j >= nc) {
        for (q = 0; q < ns; q++) cj[q] = 0.0f;
        continue;
      }
      const uint8_t *col = eb + (j0 + j) * ld;
      for (q = 0; q + 32 <= ns; q += 32) {
        __m256i x = _mm256_loadu_si256((const __m256i *)(col + q));
        mn = _mm256_min_epu8(mn, x);
        mx = _mm256_max_epu8(mx, x);
      }
      for (; q < ns; q++) {
        lo = col[q] < lo ? col[q] : lo;
        hi = col[q] > hi ? col[q] : hi;
      }
      for (q = 0; q + 8 <= ns; q += 8)
        _mm256_storeu_ps(cj + q, e8m0x8_to_f32(_mm_loadl_epi64((const __m128i *)(col + q))));
      for (; q < ns; q++) cj[q] = e8m0f_table[col[q]];
    }
    fold_code_range(_mm_min_epu8(_mm256_castsi256_si128(mn), _mm256_extracti128_si256(mn, 1)),
                    _mm_max_epu8(_mm256_castsi256_si128(mx), _mm256_extracti128_si256(mx, 1)), &lo, &hi);
    return mx_group_ok(c, lo, hi);
  }
  __m128i mn = _mm_set1_epi8((char)0xFF), mx = _mm_setzero_si128();
  if (nc == 8) {
    for (; q < ns; q++) {
      __m128i x = _mm_loadl_epi64((const __m128i *)(eb + q * p->n + j0));
      __m128i x2 = _mm_unpacklo_epi64(x, x); /* the 8 codes twice: no zero bytes */
      mn = _mm_min_epu8(mn, x2);
      mx = _mm_max_epu8(mx, x2);
      _mm256_storeu_ps(cs + q * NT_CS_LD, e8m0x8_to_f32(x));
    }
  }
  fold_code_range(mn, mx, &lo, &hi);
  for (; q < ns; q++)
    for (int64_t j = 0; j < 8; j++) {
      int code = j < nc ? eb[q * p->n + j0 + j] : -1;
      cs[q * NT_CS_LD + j] = code >= 0 ? e8m0f_table[code] : 0.0f;
      if (code >= 0) {
        lo = code < lo ? code : lo;
        hi = code > hi ? code : hi;
      }
    }
  return mx_group_ok(c, lo, hi);
}

/* Block fold: cs[q * NT_CS_LD + j] = the weight scale of step q (K block q * 32 / block_k) and
 * column j0 + j (0 past nc). *key remembers which column block the table was last built
 * for (-1: none), so that the column groups of one block reuse it. */
static void block_cscale(const gemv_call *c, int64_t j0, int64_t nc, float *cs, int64_t *key) {
  const fp8g_gemm_problem *p = c->p;
  const float *sb = p->sb + c->batch * p->sb_batch_stride;
  int64_t per_block = p->block_k / 32, nb0 = j0 / p->block_n;
  if (nc == 8 && (j0 + 7) / p->block_n == nb0) { /* one weight block for all 8 columns */
    if (*key == nb0) return;
    *key = nb0;
    for (int64_t q0 = 0, kb = 0; q0 < c->nsteps; q0 += per_block, kb++) {
      __m256 v = _mm256_set1_ps(sb[kb * p->b_nblocks + nb0]);
      for (int64_t q = q0; q < q0 + per_block && q < c->nsteps; q++) _mm256_storeu_ps(cs + q * NT_CS_LD, v);
    }
    return;
  }
  *key = -1;
  int64_t nb[8];
  for (int64_t j = 0; j < 8; j++) nb[j] = j < nc ? (j0 + j) / p->block_n : 0;
  for (int64_t q = 0; q < c->nsteps; q++) {
    const float *row = sb + q / per_block * p->b_nblocks;
    for (int64_t j = 0; j < 8; j++) cs[q * NT_CS_LD + j] = j < nc ? row[nb[j]] : 0.0f;
  }
}

/* The tiles of one K segment [k0, be), every row group: column groups [g0, g0 + ng) of
 * nc columns each (ng > 1: full groups). quad: tile j takes column j of each group
 * (weight streams 8 columns apart); else 4 adjacent columns, then single ones. The row
 * groups of a tile run one after the other, while its columns are in L1. Each column's
 * sums are the same operations either way (the tile kernels compute columns
 * independently), so the bits depend neither on the grouping nor on the order. */
static void nt_tiles(const gemv_call *c, const uint8_t *bw, int64_t j0, int g0, int ng, int64_t nc,
                     bool quad, const float *cscale, int64_t k0, int64_t be, float *part) {
  const fp8g_gemm_problem *p = c->p;
  int64_t ldb = p->b_stride_n, spread = quad ? 8 : 1; /* columns between a tile's streams */
  gemv_nt_tile t = {.ldb = spread * ldb, .lda = c->lda, .ldpart = NT_CS_LD, .cstride = spread,
                    .nk = be - k0, .table = c->table, .ldcs = c->cs_step,
                    .cs_cstride = spread * c->cs_col};
  for (int g = g0; g < g0 + ng; g += quad ? ng : 1) {
    int cn = quad ? ng : gemv_avx2_nt_width(NT_MR);
    for (int64_t j = 0; j < nc; j += quad ? 1 : cn) {
      if (!quad && j + cn > nc) cn = 1;
      int64_t col = j0 + 8 * g + j; /* the tile's first column */
      t.b = bw + col * ldb + k0;
      t.cscale = cscale ? cscale + (8 * g + j) * c->cs_col : NULL;
      /* the next tile (maybe another task's: prefetching is only a hint): the next
       * column of each group, or the first tile of the groups that follow */
      int64_t next = quad && j + 1 < nc ? col + 1 : quad ? j0 + 8 * (g + ng) : col + cn;
      int64_t left = (p->n - next + spread - 1) / spread;
      for (int64_t r0 = 0; r0 < p->m; r0 += NT_MR) {
        int mr = (int)(p->m - r0 < NT_MR ? p->m - r0 : NT_MR);
        t.a = c->a + (c->batch * p->m + r0) * c->lda + k0;
        t.part = part + r0 * NT_CS_LD + 8 * g + j;
        t.next = left > 0 && r0 == 0 ? bw + next * ldb + k0 : bw;
        t.next_cols = (int)(left <= 0 || r0 > 0 ? 0 : left < cn ? left : cn);
        if (gemv_avx2_nt_tile(&t, mr, cn, c->route))
          gemv_avx2_nt_tile(&t, mr, cn, GEMV_TABLE_FOR(c->route));
      }
    }
  }
}

/* Column groups [j0, j0 + 8 ng) (ng <= NT_QUAD; the last one may have nc < 8 columns),
 * every row: per K segment the tiles, then each group's block fold. Groups whose weight
 * scales fold into the steps (cscale) run as a quad only together with groups that fold
 * too (a tile is scaled or not as a whole). */
static void nt_columns(const gemv_call *c, const uint8_t *bw, int64_t j0, int ng, int64_t nc,
                       float *cscale, int64_t *cs_key) {
  const fp8g_gemm_problem *p = c->p;
  bool folded[NT_QUAD];
  for (int g = 0; g < ng; g++) {
    int64_t ncg = g + 1 < ng ? 8 : nc;
    /* folded: the weight scales go into the steps' sums (cscale); else per K block */
    folded[g] = c->group_fold;
    float *csg = cscale ? cscale + 8 * g * c->cs_col : NULL;
    if (c->mx_fold) folded[g] = mx_cscale(c, j0 + 8 * g, ncg, csg);
    else if (folded[g]) block_cscale(c, j0 + 8 * g, ncg, csg, cs_key + g);
  }
  bool quad = ng == NT_QUAD && nc == 8;
  for (int g = 1; g < ng; g++) quad = quad && folded[g] == folded[0];
  bool kind_blocked = p->scale_kind == FP8G_SCALE_BLOCK || p->scale_kind == FP8G_SCALE_MX;
  float part[GEMV_ROWS_MAX * NT_CS_LD];
  double tot[GEMV_ROWS_MAX * NT_CS_LD], col_s[8];
  for (int64_t i = 0; i < p->m * NT_CS_LD; i++) tot[i] = 0.0;
  /* one pass per run of groups with the same K segments: all of them, or each alone */
  for (int g0 = 0; g0 < ng; g0 += quad ? ng : 1) {
    int gn = quad ? ng : 1;
    bool blocked = !folded[g0] && kind_blocked;
    for (int64_t k0 = 0; k0 < p->k;) {
      int64_t be = block_end(c, blocked, k0);
      nt_tiles(c, bw, j0, g0, gn, g0 + gn < ng ? 8 : nc, quad, folded[g0] ? cscale : NULL, k0,
               be, part);
      for (int g = g0; g < g0 + gn; g++)
        fold_block(c, folded[g], k0 / (blocked ? p->block_k : p->k), j0 + 8 * g,
                   g + 1 < ng ? 8 : nc, part + 8 * g, NT_CS_LD, tot + 8 * g, NT_CS_LD, col_s);
      k0 = be;
    }
  }
  for (int g = 0; g < ng; g++)
    write_outputs(c, j0 + 8 * g, g + 1 < ng ? 8 : nc, tot + 8 * g, NT_CS_LD);
}

static void nt_panel_task(void *ctx, int64_t task) {
  const gemv_call *c = ctx;
  const fp8g_gemm_problem *p = c->p;
  const uint8_t *bw = p->b + c->batch * p->b_batch_stride;
  int64_t end = (task + 1) * NT_PANEL < p->n ? (task + 1) * NT_PANEL : p->n;
  bool fold = c->mx_fold || c->group_fold;
  int slot = fold ? claim_slot(c) : -1;
  float *cscale = fold ? c->cscale + slot * c->nsteps * NT_CS_LD : NULL;
  int64_t cs_key[NT_QUAD] = {-1, -1, -1, -1};
  for (int64_t j0 = task * NT_PANEL; j0 < end;) {
    int64_t left = end - j0;
    int ng = left >= 8 * NT_QUAD ? NT_QUAD : (int)((left + 7) / 8);
    int64_t nc = left >= 8 * ng ? 8 : left - 8 * (ng - 1);
    nt_columns(c, bw, j0, ng, nc, cscale, cs_key);
    j0 += 8 * (ng - 1) + nc;
  }
  if (slot >= 0) atomic_store(&c->busy[slot], 0);
}

/* ------------------------------------------------------------ entry */

/* ------------------------------------------------------------ tables (built once) */


static double weight_factor(fp8gemm_dtype d) { return d == FP8GEMM_E4M3FN ? 256.0 : 1.0; }

static void build_tables(void) {
  static const fp8gemm_dtype fp8[] = {FP8GEMM_E4M3FN, FP8GEMM_E5M2, FP8GEMM_E4M3FNUZ,
                                      FP8GEMM_E5M2FNUZ};
  for (int t = 0; t < 4; t++)
    for (int code = 0; code < 256; code++) {
      float v = fp8g_decode(fp8[t], (uint8_t)code);
      act_tables[fp8[t]][code] = v;
      weight_tables[fp8[t]][code] = (float)(v / weight_factor(fp8[t]));
    }
  for (int code = 0; code < 256; code++) {
    int_tables[0][code] = (float)ldexp(fp8g_decode(FP8GEMM_E4M3FN, (uint8_t)code), -120);
    int_tables[1][code] = (float)ldexp(fp8g_decode(FP8GEMM_E5M2, (uint8_t)code), -112);
  }
  for (int code = 0; code < 256; code++) {
    e8m0_table[code] = code == 0xFF ? NAN : ldexp(1.0, code - 127);
    e8m0f_table[code] = (float)e8m0_table[code];
  }
}

/* Activations of every row as fp32 [rows][lda], K padded with zeros. */
static void decode_activations(const fp8g_gemm_problem *p, float *a, int64_t lda, bool mx_fold,
                               bool block_fold) {
  bool fp8 = fp8gemm_dtype_is_fp8(p->a_dtype);
  const float *a_table = fp8 ? act_tables[p->a_dtype] : NULL;
  for (int64_t r = 0; r < p->batch * p->m; r++) {
    float *dst = a + r * lda;
    int64_t off = p->a_row_offset[r];
    if (fp8) {
      const uint8_t *src = p->a;
      for (int64_t kk = 0; kk < p->k; kk++, off += p->a_stride_k) dst[kk] = a_table[src[off]];
      if (mx_fold) /* exact: a power of two times an fp8 value, range checked */
        for (int64_t kk = 0; kk < p->k; kk++)
          dst[kk] *= e8m0f_table[p->ea[r * p->a_kblocks + kk / 32]];
      if (block_fold && p->sa)
        for (int64_t kb = 0; kb < p->a_kblocks; kb++) {
          float sa = p->sa[r * p->a_kblocks + kb];
          int64_t end = (kb + 1) * p->block_k < p->k ? (kb + 1) * p->block_k : p->k;
          for (int64_t kk = kb * p->block_k; kk < end; kk++) dst[kk] *= sa;
        }
    } else {
      for (int64_t kk = 0; kk < p->k; kk++, off += p->a_stride_k)
        dst[kk] = fp8g_load_wide(p->a, p->a_dtype, off);
    }
    for (int64_t kk = p->k; kk < lda; kk++) dst[kk] = 0.0f;
  }
}

static void set_weight_route(gemv_call *c, fp8gemm_dtype b_dtype) {
  c->route = b_dtype == FP8GEMM_E4M3FN ? GEMV_DEC_E4M3FN
             : b_dtype == FP8GEMM_E5M2 ? GEMV_DEC_E5M2
                                       : GEMV_DEC_TABLE;
  c->wfactor = weight_factor(b_dtype);
  c->table = weight_tables[b_dtype];
  c->e8m0 = e8m0_table;
}

/*
 * The integer decode routes leave out 2^120 (e4m3fn) / 2^112 (e5m2) where the F16C ones
 * leave out 2^8 / 1; multiplying every decoded activation by 2^112 puts it back, so the
 * products, and the weight factor applied later, are the F16C route's (bit for bit,
 * unless the F16C route's own sums would have gone subnormal). Exact when every
 * activation is below 2^16 in magnitude (then below 2^128 after), which fp8 activations
 * always are (MX / block folds aside) and 16-bit ones usually are; otherwise (or for Inf
 * / NaN activations) the call keeps the F16C route.
 */
static void try_int_route(gemv_call *c, float *a, int64_t rows) {
  if (c->route != GEMV_DEC_E4M3FN && c->route != GEMV_DEC_E5M2) return;
  /* denormals-are-zero (MXCSR.DAZ, e.g. a host built with -ffast-math) would turn the
   * subnormal weights of this route into zeros; the F16C route never makes any */
  if (_mm_getcsr() & 0x0040u) return;
  float amax[GEMV_ROWS_MAX];
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
  const __m256 limit = _mm256_set1_ps(65536.0f);
  for (int64_t r = 0; r < rows; r++) { /* lda is a multiple of 32 */
    const float *x = a + r * c->lda;
    __m256 mx = _mm256_setzero_ps(), bad = _mm256_setzero_ps();
    for (int64_t i = 0; i < c->lda; i += 8) {
      __m256 v = _mm256_and_ps(_mm256_loadu_ps(x + i), abs_mask);
      bad = _mm256_or_ps(bad, _mm256_cmp_ps(v, limit, _CMP_NLT_UQ)); /* >= 2^16 or NaN */
      mx = _mm256_max_ps(mx, v);
    }
    if (_mm256_movemask_ps(bad)) return;
    float lanes[8];
    _mm256_storeu_ps(lanes, mx);
    amax[r] = 0.0f;
    for (int l = 0; l < 8; l++) amax[r] = lanes[l] > amax[r] ? lanes[l] : amax[r];
  }
  /* Folded MX / block scales were checked for 2^112 exactly; other calls lift each row
   * to just below 2^126 instead (at least 2^112), which keeps partial sums of rows of
   * tiny activations out of the fp32 subnormal range; the row factor undoes it. */
  bool fixed = c->mx_fold || c->group_fold;
  for (int64_t r = 0; r < rows; r++) {
    int e = 0;
    if (amax[r] > 0.0f) frexpf(amax[r], &e); /* amax < 2^e */
    int up = fixed ? 112 : 126 - e < 112 ? 112 : 126 - e > 252 ? 252 : 126 - e;
    float f1 = ldexpf(1.0f, up / 2), f2 = ldexpf(1.0f, up - up / 2); /* <= 2^126 each */
    float *x = a + r * c->lda;
    for (int64_t i = 0; i < c->lda; i++) x[i] = x[i] * f1 * f2; /* exact: no overflow */
    c->row_unscale[r] = ldexp(1.0, 112 - up);
  }
  bool e4m3 = c->route == GEMV_DEC_E4M3FN;
  c->route = e4m3 ? GEMV_DEC_E4M3FN_I : GEMV_DEC_E5M2_I;
  c->table = int_tables[e4m3 ? 0 : 1];
}

/*
 * NT calls on an integer route switch to its interleaved twin (gemv_intx32: 32 codes
 * per load, vector r holding codes 4j + r) when every tile segment starts at a multiple
 * of 32 in K (K blocks a multiple of 32, or none), so that each 32-K group of a row's
 * activations can be permuted to match: a'[32g + 8r + j] = a[32g + 4j + r]. The K
 * tail's group is zero past K before and after (lda is a multiple of 32). The folds
 * are per 32-K group (MX exponents, step scales) or per K block (block activation
 * scales, applied before): a permutation inside a group leaves them as they are.
 */
static void try_interleave(gemv_call *c, float *a, int64_t rows) {
  const fp8g_gemm_problem *p = c->p;
  /* M = 1..3 (per batch: a call's row groups are 4 rows and the rest) measured no
   * faster (M = 1, 1 thread, from memory) or slower (M = 2: gcc spills the 2 x 4
   * tile's accumulators) on this route; M >= 4 (4 x 4 tiles) 3-8% faster (Zen 3,
   * docs/gemv.md session 11) */
  if (!c->nt || !GEMV_ROUTE_IS_INT(c->route) || p->m < 4) return;
  bool blocks = p->scale_kind == FP8G_SCALE_BLOCK || p->scale_kind == FP8G_SCALE_MX;
  if (blocks && p->block_k % 32 != 0) return;
  /* vector q of a group holds a[8q + e] = lane j = 2q + e / 4 of output r = e % 4:
   * ordering each vector (r, j) with j's parity innermost leaves a 4 x 4 transpose of
   * 64-bit pairs */
  const __m256i pairs = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  for (int64_t r = 0; r < rows; r++)
    for (int64_t g = 0; g < c->lda; g += 32) {
      float *x = a + r * c->lda + g;
      __m256d d[4], u[4];
      for (int q = 0; q < 4; q++)
        d[q] = _mm256_castps_pd(_mm256_permutevar8x32_ps(_mm256_loadu_ps(x + 8 * q), pairs));
      u[0] = _mm256_unpacklo_pd(d[0], d[1]); /* (q0 r0, q1 r0 | q0 r2, q1 r2) */
      u[1] = _mm256_unpackhi_pd(d[0], d[1]); /* r1 | r3 */
      u[2] = _mm256_unpacklo_pd(d[2], d[3]);
      u[3] = _mm256_unpackhi_pd(d[2], d[3]);
      _mm256_storeu_ps(x, _mm256_castpd_ps(_mm256_permute2f128_pd(u[0], u[2], 0x20))); /* r0 */
      _mm256_storeu_ps(x + 8, _mm256_castpd_ps(_mm256_permute2f128_pd(u[1], u[3], 0x20))); /* r1 */
      _mm256_storeu_ps(x + 16, _mm256_castpd_ps(_mm256_permute2f128_pd(u[0], u[2], 0x31)));
      _mm256_storeu_ps(x + 24, _mm256_castpd_ps(_mm256_permute2f128_pd(u[1], u[3], 0x31)));
    }
  c->route = c->route == GEMV_DEC_E4M3FN_I ? GEMV_DEC_E4M3FN_X : GEMV_DEC_E5M2_X;
}

/*
 * MX scales can be folded into the operands when every product and partial sum then
 * stays a normal fp32: activations |a| in [2^-17, 2^16] times 2^ea, step sums of 32
 * products (|a w| in [2^-34, 2^32]) times 2^eb, summed over K. The activation codes are
 * checked once per call (mx_fold_ok); the weight codes per group of 8 columns as their
 * step table is built (mx_group_ok), so no pass over the whole weight scale precedes
 * the panels. A group whose codes do not fold (and NaN codes) has its K blocks scaled in
 * double, from the same folded activations: the sums only differ by the exact power of
 * two 2^ea, which then is not in the row factor.
 */
/* Widens [*lo, *hi] to cover the n bytes at v. */
static void byte_range(const uint8_t *v, int64_t n, int *lo, int *hi) {
  __m256i mn = _mm256_set1_epi8((char)0xFF), mx = _mm256_setzero_si256();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    __m256i x = _mm256_loadu_si256((const __m256i *)(v + i));
    mn = _mm256_min_epu8(mn, x);
    mx = _mm256_max_epu8(mx, x);
  }
  uint8_t a[32], b[32];
  _mm256_storeu_si256((__m256i *)a, mn);
  _mm256_storeu_si256((__m256i *)b, mx);
  for (int q = 0; q < 32; q++) {
    *lo = a[q] < *lo ? a[q] : *lo;
    *hi = b[q] > *hi ? b[q] : *hi;
  }
  for (; i < n; i++) {
    *lo = v[i] < *lo ? v[i] : *lo;
    *hi = v[i] > *hi ? v[i] : *hi;
  }
}

/* The activation half of the MX fold (mx_group_ok has the weight half, per column group):
 * fp8 activations times 2^(ea - 127) stay in [2^-17, 2^16] (times 2^112 on the integer
 * route: no overflow). Sets the call's ea range. NaN activation codes (0xFF) never fold. */
static bool mx_fold_ok(gemv_call *c, const fp8g_gemm_problem *p) {
  if (p->scale_kind != FP8G_SCALE_MX || !p->ea || !p->eb || p->block_k != 32 || !fp8gemm_dtype_is_fp8(p->a_dtype))
    return false;
  int ea_min = 255, ea_max = 0;
  byte_range(p->ea, p->batch * p->m * p->a_kblocks, &ea_min, &ea_max);
  if (ea_max == 0xFF) return false;
  int log2k = 0;
  while (log2k < 63 && ((int64_t)1 << log2k) < p->a_kblocks) log2k++;
  c->ea_lo = ea_min - 127;
  c->ea_hi = ea_max - 127;
  c->log2kb = log2k;
  return c->ea_lo >= -92 && c->ea_hi + 37 <= 120;
}

static fp8gemm_status run(const fp8g_gemm_problem *p) {
  gemv_call *c = calloc(1, sizeof *c);
  if (!c) return fp8g_error(FP8GEMM_OUT_OF_MEMORY, "gemv_avx2: out of memory");
  c->p = p;
  /* NT when K is contiguous, unless N is contiguous too and wide enough for NN tiles */
  c->nt = p->b_stride_k == 1 && (p->b_stride_n != 1 || p->n < 8);
  c->mx_fold = c->nt && mx_fold_ok(c, p);
  c->group_fold = c->nt && p->scale_kind == FP8G_SCALE_BLOCK && p->sb &&
                  p->block_k % 32 == 0 && p->k >= 64;
  c->blocked = !c->mx_fold && !c->group_fold &&
               (p->scale_kind == FP8G_SCALE_BLOCK || p->scale_kind == FP8G_SCALE_MX);
  c->nsteps = (p->k + 31) / 32;
  bool cs_cols = c->mx_fold && p->eb_ld;
  c->cs_step = cs_cols ? 1 : NT_CS_LD;
  c->cs_col = cs_cols ? c->nsteps : 1;
  pthread_once(&tables_once, build_tables);
  set_weight_route(c, p->b_dtype);
  int nthreads = p->nthreads < 1 ? 1 : p->nthreads;
  /* NN panels: as wide as possible (long contiguous runs of each weight row), in a
   * multiple of the thread count; NN results do not depend on the panel width. */
  int64_t per_thread = (p->n + (int64_t)NN_PANEL * nthreads - 1) / ((int64_t)NN_PANEL * nthreads);
  c->nn_panel = (p->n + per_thread * nthreads - 1) / (per_thread * nthreads);
  c->nn_panel = (c->nn_panel + 63) / 64 * 64;
  int64_t panel = c->nt ? NT_PANEL : c->nn_panel;
  int64_t n_tasks = (p->n + panel - 1) / panel;
  c->nslots = n_tasks < nthreads ? (int)n_tasks : nthreads;
  c->lda = (p->k + 31) / 32 * 32;
  int64_t rows = p->batch * p->m;
  float *a = NULL;
  if (c->lda <= (int64_t)(SIZE_MAX / sizeof(float) / GEMV_ROWS_MAX))
    /* 64-byte aligned (lda is a multiple of 32 floats, so every row is): the 4 x 4 NT
     * tiles take activations as memory operands, and malloc's 16-byte offset made half
     * of those 32-byte loads split cache lines (in cache, M = 16: 3.15 -> 2.45 ms) */
    a = aligned_alloc(64, (size_t)(rows * c->lda) * sizeof(float));
  c->states = malloc((size_t)(c->nt ? 1 : c->nslots) * sizeof *c->states);
  c->busy = calloc((size_t)c->nslots, sizeof *c->busy);
  bool fold = c->mx_fold || c->group_fold;
  if (fold) c->cscale = malloc((size_t)(c->nslots * c->nsteps * NT_CS_LD) * sizeof(float));
  if (!a || !c->states || !c->busy || (fold && !c->cscale)) {
    free(c->cscale);
    free(a);
    free(c->states);
    free(c->busy);
    free(c);
    return fp8g_error(FP8GEMM_OUT_OF_MEMORY, "gemv_avx2: out of memory for %lld x %lld activations",
                      (long long)rows, (long long)p->k);
  }
  decode_activations(p, a, c->lda, c->mx_fold, c->group_fold);
  for (int64_t r = 0; r < rows; r++) c->row_unscale[r] = 1.0;
  try_int_route(c, a, rows);
  try_interleave(c, a, rows);
  c->a = a;
  for (int64_t b = 0; b < p->batch; b++) {
    c->batch = b;
    fp8g_parallel_for(n_tasks, nthreads, c->nt ? nt_panel_task : nn_panel_task, c);
  }
  free(a);
  free(c->states);
  free(c->busy);
  free(c->cscale);
  free(c);
  return FP8GEMM_OK;
}

/* Both read a column-major MX weight scale (eb_ld > 0) in place (w8a16 calls never have
 * one: their weight scales arrive as fp32). */
const fp8g_gemm_kernel fp8g_gemv_avx2_w8a8 = {.name = "gemv_avx2", .isa = FP8GEMM_ISA_AVX2,
    .supports = supports_w8a8, .run = run, .reads_eb_cols = true};
const fp8g_gemm_kernel fp8g_gemv_avx2_w8a16 = {.name = "gemv_w8a16_avx2", .isa = FP8GEMM_ISA_AVX2,
    .supports = supports_w8a16, .run = run, .reads_eb_cols = true};
