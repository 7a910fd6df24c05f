/*
 * Driver of the AVX-512 BF16 decode kernels: what they take, the per-call data checks
 * that send a call to gemv_avx2 instead, the activation decode (once per call, to bf16
 * in the tile decoder's K order), fixed N panels over threads, scales and epilogue.
 * MX weight exponents are read as [K/32, N] or, column-major (eb_ld), as a checkpoint's
 * [N, K/32]; a call handed to gemv_avx2 gets them as [K/32, N] (see fall_back).
 *
 * Numerics: every fp8 value is exact and normal in bf16. VDPBF16PS reads denormal
 * inputs as zero and flushes denormal results, so a call runs here only when no product
 * and no nonzero partial sum can fall below 2^-126:
 *  - fp8 x fp8: products are multiples of 2^-34 at worst (e5m2fnuz subnormals squared);
 *  - bf16 activations (w8a16): every nonzero |a| >= 2^(8 - lsb_w - 127) (checked per
 *    call), every finite |a| small enough that no lane sum overflows;
 *  - MX: e8m0 exponents added to the bf16 operands only when the folded operands and
 *    products stay normal (mx_fold_ok), NaN codes aside;
 *  - block scales: per 64-multiple K block, fma(block sum, sa * sb, part); the fp32
 *    product sa * sb must be normal (W8A8, checked). M = 2, 3 scale the block's 16
 *    lanes (lane_table), other M its lanes summed to 4 first.
 * Per K block fp32 sums (one chain per lane), lanes summed in fp32 in a fixed order,
 * tensor / row / column scales and bias in double, one rounding to the output dtype.
 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/dense_gather.h"
#include "../avx2/gemv_avx2.h"
#include "../gemm_bf16.h"
#include "gemv_avx512bf16.h"
#include "gemv_bf16_decode.h"

enum { PANEL = GEMV_BF16_PANEL, ROWS_MAX = GEMV_BF16_ROWS_MAX, LANE_ROWS_MAX = 3 };

typedef struct bf16_call {
  const fp8g_gemm_problem *p;
  uint16_t *a;        /* [batch * m][lda] bf16, decoder order */
  int64_t lda;
  int64_t nchunks;
  int64_t seg;        /* K per scale segment (k rounded up to 64 when unsegmented) */
  int64_t nseg;
  bool mx, segmented;
  int mx_bias;        /* MX: gemv_bf16_vtab_mx_of's bias for the weight dtype */
  bool mx_sat;        /* MX: every weight exponent d <= mx_bias (the tiles' fast fold) */
  uint32_t *amask;    /* MX, M = 1: per row, chunk q: the nonzero finite activations of
                         K 0..31 and 32..63 (the one-row tiles fold the weight exponents
                         into the activations); NULL otherwise */
  int64_t batch;
  uint32_t *mx_buf;   /* per slot: [nchunks][PANEL], 64-byte aligned */
  float *sb_buf;      /* per slot: [nseg][PANEL] */
  float *sa_rows;     /* segmented W8A8: [batch * m][nseg] */
  bool lanes;         /* block scales on every lane (KIND_LANE): 2 <= m <= LANE_ROWS_MAX */
  float *pr_buf;      /* lanes, W8A8: per slot the products sa * sb, [nseg][m][PANEL] */
  atomic_int *busy;
  int nslots;
  int nthreads;
} bf16_call;

/* ------------------------------------------------------------ support */

static bool is_out_dtype(fp8gemm_dtype d) {
  return d == FP8GEMM_F32 || d == FP8GEMM_BF16 || d == FP8GEMM_F16;
}

/* NT weights, a decode shape, scale blocks that are whole 64-code chunks. */
static bool supports_common(const fp8g_gemm_problem *p) {
  if (p->batch < 1 || p->m < 1 || p->batch > ROWS_MAX || p->m > ROWS_MAX ||
      p->batch * p->m > ROWS_MAX || p->n < 1 || p->k < 1)
    return false;
  if (!fp8gemm_dtype_is_fp8(p->b_dtype) || !is_out_dtype(p->out_dtype)) return false;
  if (p->b_stride_k != 1) return false; /* NN weights: gemv_avx2 */
  switch (p->scale_kind) {
    case FP8G_SCALE_NONE:
    case FP8G_SCALE_TENSOR:
    case FP8G_SCALE_ROWCOL: return true;
    case FP8G_SCALE_BLOCK: return p->block_k >= 64 && p->block_k % 64 == 0 && p->block_n >= 1;
    case FP8G_SCALE_MX: return p->block_k == 32;
    default: return false;
  }
}

static bool supports_w8a8(const fp8g_gemm_problem *p) {
  return fp8gemm_dtype_is_fp8(p->a_dtype) && supports_common(p);
}

static bool supports_w8a16(const fp8g_gemm_problem *p) {
  return p->a_dtype == FP8GEMM_BF16 && p->scale_kind != FP8G_SCALE_MX && supports_common(p);
}

/* ------------------------------------------------------------ per-call data checks */

/* bf16 activations: the rule of fp8g_bf16_w8a16_range_ok over the decoded rows (the
 * zero padding past K changes nothing). */
static bool bf16_acts_ok(const bf16_call *c, int64_t rows) {
  int emin = 255, emax = 0; /* biased exponent fields of nonzero finite values */
  for (int64_t r = 0; r < rows; r++) fp8g_bf16_exp_range(c->a + r * c->lda, c->lda, 1, &emin, &emax);
  return fp8g_bf16_w8a16_range_ok(emin, emax, c->p->b_dtype, c->p->k); /* shared with the GEMM */
}

/* Widens [*lo, *hi] by the e8m0 codes other than NaN (0xFF) of `runs` runs of n codes,
 * ld apart, 64 at a time: the weight codes are 1/32 of the weight bytes, so this pass
 * must stream. */
static void e8m0_range(const uint8_t *v, int64_t runs, int64_t n, int64_t ld, int *lo, int *hi) {
  const __m512i nan = _mm512_set1_epi8((char)0xFF);
  __m512i mn = nan, mx = _mm512_setzero_si512();
  for (int64_t r = 0; r < runs; r++)
    for (int64_t i = 0; i < n; i += 64) {
      __mmask64 in = n - i >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << (n - i)) - 1);
      __m512i x = _mm512_mask_loadu_epi8(nan, in, v + r * ld + i);
      mn = _mm512_min_epu8(mn, x); /* 0xFF never lowers the minimum */
      mx = _mm512_mask_max_epu8(mx, _mm512_cmpneq_epu8_mask(x, nan), mx, x);
    }
  uint8_t a[64], b[64];
  _mm512_storeu_si512((void *)a, mn);
  _mm512_storeu_si512((void *)b, mx);
  for (int q = 0; q < 64; q++) {
    if (a[q] != 0xFF && a[q] < *lo) *lo = a[q];
    if (a[q] != 0xFF && b[q] > *hi) *hi = b[q];
  }
}

/* Binary exponents of the smallest nonzero and the largest finite value of a dtype. */
static int exp_lo(fp8gemm_dtype d) { return ilogbf(fp8g_decode(d, 0x01)); }
static int exp_hi(fp8gemm_dtype d) { return ilogbf(fp8g_traits(d)->max_finite); }

/*
 * MX: the exponents are added to the bf16 operands when, over all codes of the call
 * (NaN codes aside: they give NaN either way), every folded nonzero value is a normal
 * bf16, every product is at least 2^-126 in its last bit (partial sums are multiples of
 * a normal number, never flushed), and products times K stay below 2^124. The same
 * conditions as gemm_bf16's fold, taken over the whole call instead of per K block.
 */
static bool mx_fold_ok(const fp8g_gemm_problem *p, int *eb_max, bool *act_ok) {
  if (!p->ea || !p->eb || p->block_k != 32) return false;
  int ea_lo = 255, ea_hi = -1, eb_lo = 255, eb_hi = -1;
  e8m0_range(p->ea, 1, p->batch * p->m * p->a_kblocks, 0, &ea_lo, &ea_hi);
  int64_t batches = p->sb_batch_stride ? p->batch : 1;
  bool dense = !p->eb_ld || p->eb_ld == p->a_kblocks; /* either layout: one run */
  for (int64_t b = 0; b < batches; b++)
    e8m0_range(p->eb + b * p->sb_batch_stride, dense ? 1 : p->n, dense ? p->a_kblocks * p->n : p->a_kblocks,
               p->eb_ld, &eb_lo, &eb_hi);
  *eb_max = eb_hi;
  *act_ok = true;
  if (ea_lo > ea_hi || eb_lo > eb_hi) return true; /* NaN scales only */
  int a_lo = exp_lo(p->a_dtype) + ea_lo - 127, a_hi = exp_hi(p->a_dtype) + ea_hi - 127;
  int b_lo = exp_lo(p->b_dtype) + eb_lo - 127, b_hi = exp_hi(p->b_dtype) + eb_hi - 127;
  /* both exponents on the activations (the one-row tiles): still normal (implied by the
   * product conditions below, checked for itself) */
  *act_ok = a_lo + eb_lo - 127 >= -126 && a_hi + eb_hi - 127 <= 127;
  return a_lo >= -126 && b_lo >= -126 && a_hi <= 127 && b_hi <= 127 && a_lo + b_lo >= -126 &&
         a_hi + b_hi + fp8g_ceil_log2(p->k) <= 124;
}

/* The bias of the tiles' fast MX fold (gemv_bf16_vtab_mx_of): even, and the raised
 * exponent of the dtype's largest value stays <= 253. Calls whose weight exponents all
 * stay <= it take that fold (e4m3: d <= 118, e5m2: d <= 110; larger d scale the weights
 * to >= 2^126). */
static int mx_bias_of(fp8gemm_dtype d) { return (126 - exp_hi(d)) & ~1; }

/* Range of |x| over the nonzero finite values of n floats. */
static void abs_range(const float *x, int64_t n, float *lo, float *hi) {
  for (int64_t i = 0; i < n; i++) {
    float v = fabsf(x[i]);
    if (v == 0.0f || !isfinite(v)) continue;
    *lo = v < *lo ? v : *lo;
    *hi = v > *hi ? v : *hi;
  }
}

/* W8A8 block scales: every fp32 product sa * sb normal, and far from overflow. */
static bool block_scales_ok(const fp8g_gemm_problem *p) {
  if (!p->sa) return true;
  float alo = INFINITY, ahi = 0.0f, blo = INFINITY, bhi = 0.0f;
  abs_range(p->sa, p->batch * p->m * p->a_kblocks, &alo, &ahi);
  int64_t batches = p->sb_batch_stride ? p->batch : 1;
  for (int64_t b = 0; b < batches; b++)
    abs_range(p->sb + b * p->sb_batch_stride, p->a_kblocks * p->b_nblocks, &blo, &bhi);
  if (ahi == 0.0f || bhi == 0.0f) return true;
  return (double)alo * blo >= 0x1p-126 && (double)ahi * bhi <= 0x1p64;
}

/* ------------------------------------------------------------ activations */

/* Position of K index kk (0..63) of a chunk in the decoder's order (gemv_bf16_k_of^-1). */
static int pos_of(int kk) { return (kk % 16) / 8 * 32 + kk / 16 * 8 + kk % 8; }

/* bf16 v times 2^s for MX (apply only where the plan folds: stays normal), 0xFF: NaN. */
static uint16_t mx_fold(uint16_t v, uint8_t code) {
  if (code == 0xFF) return 0x7FC0;
  uint16_t e = v & 0x7F80;
  if (e == 0 || e == 0x7F80) return v;
  return (uint16_t)(v + (uint16_t)(((int)code - 127) * 128));
}

/* Contiguous rows without MX, 64 K at a time: fp8 through the weights' decoder (its
 * tables are the LUT's bytes, so the same bits), bf16 permuted into the decoder's order.
 * The scalar loop below took ~10% of an M = 16 call. */
static void decode_row_vec(const fp8g_gemm_problem *p, const void *src, uint16_t *dst, int64_t nchunks) {
  bool fp8 = fp8gemm_dtype_is_fp8(p->a_dtype);
  gemv_bf16_vtab v = gemv_bf16_vtab_of(fp8 ? p->a_dtype : p->b_dtype);
  _Alignas(64) uint16_t idx[64];
  for (int pos = 0; pos < 64; pos++) idx[pos] = (uint16_t)gemv_bf16_k_of(pos);
  const __m512i i0 = _mm512_load_si512((const void *)idx), i1 = _mm512_load_si512((const void *)(idx + 32));
  for (int64_t q = 0; q < nchunks; q++) {
    int64_t left = p->k - q * 64;
    __mmask64 m = left >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << left) - 1);
    __m512i w[2];
    if (fp8) {
      __m512i codes = _mm512_maskz_loadu_epi8(m, (const uint8_t *)src + q * 64);
      if (v.nan80) gemv_bf16_dec64(&v, codes, true, w);
      else gemv_bf16_dec64(&v, codes, false, w);
    } else {
      const uint16_t *h = (const uint16_t *)src + q * 64;
      __m512i x0 = _mm512_maskz_loadu_epi16((__mmask32)m, h), x1 = _mm512_maskz_loadu_epi16((__mmask32)(m >> 32), h + 32);
      w[0] = _mm512_permutex2var_epi16(x0, i0, x1);
      w[1] = _mm512_permutex2var_epi16(x0, i1, x1);
    }
    _mm512_store_si512((void *)(dst + q * 64), w[0]);
    _mm512_store_si512((void *)(dst + q * 64 + 32), w[1]);
  }
}

/* MX: mx_fold of every value of a row decoded by decode_row_vec, in vectors (the low
 * 256 bits of each decoded half chunk are block 2q, the high ones block 2q + 1). A NaN
 * code makes its block's values NaN up to K only: the zero padding past K stays zero,
 * as in the scalar loop. */
static void fold_row_mx(uint16_t *dst, const uint8_t *ea, int64_t k, int64_t nchunks) {
  const int64_t kblocks = (k + 31) / 32;
  _Alignas(64) uint16_t kidx[64];
  for (int pos = 0; pos < 64; pos++) kidx[pos] = (uint16_t)gemv_bf16_k_of(pos);
  const __m512i k0 = _mm512_load_si512((const void *)kidx), k1 = _mm512_load_si512((const void *)(kidx + 32));
  const __m512i nan = _mm512_set1_epi16(0x7FC0);
  for (int64_t q = 0; q < nchunks; q++) {
    int c0 = ea[2 * q], c1 = 2 * q + 1 < kblocks ? ea[2 * q + 1] : 127;
    __m512i add = _mm512_mask_blend_epi16((__mmask32)0xFFFF0000u, _mm512_set1_epi16((short)((c0 - 127) * 128)),
                                          _mm512_set1_epi16((short)((c1 - 127) * 128)));
    __mmask32 blk_nan = (c0 == 0xFF ? 0x0000FFFFu : 0u) | (c1 == 0xFF ? 0xFFFF0000u : 0u);
    __m512i left = _mm512_set1_epi16((short)(k - q * 64 < 64 ? k - q * 64 : 64));
    __mmask32 in0 = _mm512_cmplt_epu16_mask(k0, left), in1 = _mm512_cmplt_epu16_mask(k1, left);
    __m512i w0 = _mm512_load_si512((const void *)(dst + q * 64)), w1 = _mm512_load_si512((const void *)(dst + q * 64 + 32));
    w0 = _mm512_mask_mov_epi16(gemv_bf16_exp_add(w0, add), blk_nan & in0, nan);
    w1 = _mm512_mask_mov_epi16(gemv_bf16_exp_add(w1, add), blk_nan & in1, nan);
    _mm512_store_si512((void *)(dst + q * 64), w0);
    _mm512_store_si512((void *)(dst + q * 64 + 32), w1);
  }
}

static void decode_activations(const bf16_call *c) {
  const fp8g_gemm_problem *p = c->p;
  bool fp8 = fp8gemm_dtype_is_fp8(p->a_dtype);
  const uint16_t *lut = fp8 ? fp8g_bf16_lut(p->a_dtype) : NULL;
  size_t esize = fp8 ? 1 : 2;
  for (int64_t r = 0; r < p->batch * p->m; r++) {
    if (p->a_stride_k == 1) {
      decode_row_vec(p, (const uint8_t *)p->a + p->a_row_offset[r] * esize, c->a + r * c->lda, c->nchunks);
      if (c->mx) fold_row_mx(c->a + r * c->lda, p->ea + r * p->a_kblocks, p->k, c->nchunks);
      continue;
    }
    uint16_t *dst = c->a + r * c->lda;
    memset(dst, 0, (size_t)c->lda * sizeof *dst);
    int64_t off = p->a_row_offset[r];
    for (int64_t kk = 0; kk < p->k; kk++, off += p->a_stride_k) {
      uint16_t v = fp8 ? lut[((const uint8_t *)p->a)[off]] : ((const uint16_t *)p->a)[off];
      if (c->mx) v = mx_fold(v, p->ea[r * p->a_kblocks + kk / 32]);
      dst[kk / 64 * 64 + pos_of((int)(kk % 64))] = v;
    }
  }
}

/* MX, one row: per chunk the masks of the nonzero finite activations of K 0..31 and
 * 32..63 (the values the weight exponents are added to, as gemv_bf16_exp_add picks). */
static void act_masks(const bf16_call *c, int64_t rows) {
  const __m512i e_mask = _mm512_set1_epi16(0x7F80);
  for (int64_t r = 0; r < rows; r++)
    for (int64_t q = 0; q < c->nchunks; q++)
      for (int h = 0; h < 2; h++) {
        __m512i w = _mm512_load_si512((const void *)(c->a + r * c->lda + q * 64 + 32 * h));
        __m512i e = _mm512_and_si512(w, e_mask);
        c->amask[(r * c->nchunks + q) * 2 + h] =
            _mm512_mask_cmpneq_epu16_mask(_mm512_test_epi16_mask(w, e_mask), e, e_mask);
      }
}

/* ------------------------------------------------------------ epilogue */

/* d rounded toward zero to fp32, last bit set when inexact ("round to odd"): rounding
 * that to bf16 / f16 is one correct rounding of d. Inline bit steps, no libm call: the
 * epilogue runs once per output, next to only K / 32 VDPBF16PS. */
static inline float f32_round_odd(double d) {
  float f = (float)d;
  double back = (double)f;
  if (back == d || d != d) return f;
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  if (fabs(back) > fabs(d)) u -= 1; /* one step toward zero (f != 0 here) */
  u |= 1u;
  memcpy(&f, &u, sizeof f);
  return f;
}

static inline uint16_t bf16_rne(float x) {
  uint32_t u;
  memcpy(&u, &x, sizeof u);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); /* quiet NaN */
  return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

/* Row `row`, columns [col, col + nc): out = sum * rf * cf[j] + bias, rounded once. */
static void store_row(const fp8g_gemm_problem *p, int64_t row, int64_t col, int nc, const float *sum,
                      double rf, const double *cf, const bool *nan_col) {
  double v[GEMV_BF16_CN_MAX];
  for (int j = 0; j < nc; j++) v[j] = nan_col[j] ? NAN : (double)sum[j] * (rf * cf[j]);
  switch (p->bias_kind) {
    case FP8G_BIAS_SCALAR: for (int j = 0; j < nc; j++) v[j] += p->bias[0]; break;
    case FP8G_BIAS_COL: for (int j = 0; j < nc; j++) v[j] += p->bias[col + j]; break;
    case FP8G_BIAS_ROW: for (int j = 0; j < nc; j++) v[j] += p->bias[row]; break;
    case FP8G_BIAS_FULL: for (int j = 0; j < nc; j++) v[j] += p->bias[row * p->n + col + j]; break;
    default: break;
  }
  int64_t idx = row * p->n + col;
  switch (p->out_dtype) {
    case FP8GEMM_F32:
      for (int j = 0; j < nc; j++) ((float *)p->out)[idx + j] = (float)v[j];
      break;
    case FP8GEMM_BF16:
      for (int j = 0; j < nc; j++) ((uint16_t *)p->out)[idx + j] = bf16_rne(f32_round_odd(v[j]));
      break;
    default:
      for (int j = 0; j < nc; j++) ((uint16_t *)p->out)[idx + j] = fp8g_f32_to_f16(f32_round_odd(v[j]));
      break;
  }
}

/* store_row for 4 columns, f32 / bf16 out, none NaN-marked: the same operations per
 * element in 4-lane vectors (so the same bits); the scalar form took ~9% of an M = 4..16
 * call (16 outputs per 4 x 4 tile). */
_Static_assert(GEMV_BF16_CN_MAX == 4, "store_row4 takes the widest tile");
static void store_row4(const fp8g_gemm_problem *p, int64_t row, int64_t col, const float *sum, double rf,
                       __m256d cf) {
  __m256d v = _mm256_mul_pd(_mm256_cvtps_pd(_mm_loadu_ps(sum)), _mm256_mul_pd(_mm256_set1_pd(rf), cf));
  switch (p->bias_kind) {
    case FP8G_BIAS_SCALAR: v = _mm256_add_pd(v, _mm256_set1_pd(p->bias[0])); break;
    case FP8G_BIAS_COL: v = _mm256_add_pd(v, _mm256_cvtps_pd(_mm_loadu_ps(p->bias + col))); break;
    case FP8G_BIAS_ROW: v = _mm256_add_pd(v, _mm256_set1_pd(p->bias[row])); break;
    case FP8G_BIAS_FULL: v = _mm256_add_pd(v, _mm256_cvtps_pd(_mm_loadu_ps(p->bias + row * p->n + col))); break;
    default: break;
  }
  int64_t idx = row * p->n + col;
  __m128 f = _mm256_cvtpd_ps(v);
  if (p->out_dtype == FP8GEMM_F32) {
    _mm_storeu_ps((float *)p->out + idx, f);
    return;
  }
  /* f32_round_odd */
  const __m256d nosign = _mm256_castsi256_pd(_mm256_set1_epi64x(0x7FFFFFFFFFFFFFFF));
  const __m128i one = _mm_set1_epi32(1);
  __m256d back = _mm256_cvtps_pd(f);
  __mmask8 keep = _mm256_cmp_pd_mask(back, v, _CMP_EQ_OQ) | _mm256_cmp_pd_mask(v, v, _CMP_UNORD_Q);
  __mmask8 down = _mm256_cmp_pd_mask(_mm256_and_pd(back, nosign), _mm256_and_pd(v, nosign), _CMP_GT_OQ);
  __m128i u = _mm_castps_si128(f);
  u = _mm_mask_sub_epi32(u, down, u, one);
  u = _mm_mask_or_epi32(u, (__mmask8)(~keep & 0xF), u, one);
  /* bf16_rne */
  __mmask8 nan = _mm_cmpgt_epi32_mask(_mm_and_si128(u, _mm_set1_epi32(0x7FFFFFFF)), _mm_set1_epi32(0x7F800000));
  __m128i hi = _mm_srli_epi32(u, 16);
  __m128i r = _mm_srli_epi32(_mm_add_epi32(_mm_add_epi32(u, _mm_set1_epi32(0x7FFF)), _mm_and_si128(hi, one)), 16);
  r = _mm_mask_mov_epi32(r, nan, _mm_or_si128(hi, _mm_set1_epi32(0x40)));
  _mm_storel_epi64((__m128i *)((uint16_t *)p->out + idx), _mm_packus_epi32(r, r));
}

/* Tensor / row / column factors (the segmented kinds have theirs inside the sums). */
static double row_factor(const fp8g_gemm_problem *p, int64_t row) {
  if (!p->sa) return 1.0;
  if (p->scale_kind == FP8G_SCALE_TENSOR) return p->sa[0];
  if (p->scale_kind == FP8G_SCALE_ROWCOL) return p->sa[row];
  return 1.0;
}
static double col_factor(const fp8g_gemm_problem *p, int64_t b, int64_t col) {
  const float *sb = p->sb ? p->sb + b * p->sb_batch_stride : NULL;
  if (sb && p->scale_kind == FP8G_SCALE_TENSOR) return sb[0];
  if (sb && p->scale_kind == FP8G_SCALE_ROWCOL) return sb[col];
  return 1.0;
}

/* ------------------------------------------------------------ panels */

static int claim_slot(const bf16_call *c) {
  for (;;)
    for (int s = 0; s < c->nslots; s++)
      if (atomic_exchange(&c->busy[s], 1) == 0) return s;
}

/* The tiles' halfwords (bias - d) << 7 = (127 + bias - code) << 7 (mod 2^16) of 64 e8m0
 * codes: two vectors of 32. */
static inline void e8m0_subs(__m512i x, int bias, __m512i out[2]) {
  const __m512i top = _mm512_set1_epi16((short)(127 + bias));
  out[0] = _mm512_slli_epi16(_mm512_sub_epi16(top, _mm512_cvtepu8_epi16(_mm512_castsi512_si256(x))), 7);
  out[1] = _mm512_slli_epi16(_mm512_sub_epi16(top, _mm512_cvtepu8_epi16(_mm512_extracti64x4_epi64(x, 1))), 7);
}

/* MX weight exponents of columns [j0, j0 + nc) (nc <= 64), tab[chunk][column]: the
 * halfwords of e8m0_subs of the chunk's two 32-K blocks in one dword; a NaN code (0xFF)
 * marks the column NaN instead. Vectorized over the panel's 64 columns. */
static void mx_table(const bf16_call *c, int64_t j0, int64_t nc, uint32_t *tab, bool *nan_col) {
  const fp8g_gemm_problem *p = c->p;
  const uint8_t *eb = p->eb + c->batch * p->sb_batch_stride + j0;
  /* The panel's bytes of each of the K / 32 rows of eb: issue all the misses first so
   * they overlap (one after the other they cost more than the panel's weights). */
  for (int64_t kb = 0; kb < p->a_kblocks; kb++) {
    _mm_prefetch((const char *)(eb + kb * p->n), _MM_HINT_T0);
    _mm_prefetch((const char *)(eb + kb * p->n + nc - 1), _MM_HINT_T0);
  }
  /* The same rows of the panel this thread likely takes next, into L2: exponents read
   * in place from the caller's tensor come from memory, one line per row. */
  int64_t ahead = (int64_t)PANEL * c->nthreads;
  if (j0 + ahead < p->n) {
    int64_t last = (p->n - j0 - ahead < PANEL ? p->n - j0 - ahead : PANEL) - 1;
    for (int64_t kb = 0; kb < p->a_kblocks; kb++) {
      _mm_prefetch((const char *)(eb + ahead + kb * p->n), _MM_HINT_T1);
      _mm_prefetch((const char *)(eb + ahead + kb * p->n + last), _MM_HINT_T1);
    }
  }
  const __mmask64 live = nc >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << nc) - 1);
  __mmask64 nan = 0;
  /* dword j of a 32-column half = add0[j] | add1[j] << 16 */
  _Alignas(64) uint16_t idx_lo[32], idx_hi[32];
  for (int i = 0; i < 16; i++) {
    idx_lo[2 * i] = (uint16_t)i, idx_lo[2 * i + 1] = (uint16_t)(32 + i);
    idx_hi[2 * i] = (uint16_t)(16 + i), idx_hi[2 * i + 1] = (uint16_t)(48 + i);
  }
  const __m512i ilo = _mm512_load_si512((const void *)idx_lo), ihi = _mm512_load_si512((const void *)idx_hi);
  for (int64_t q = 0; q < c->nchunks; q++) {
    __m512i add[2][2]; /* [block of the chunk][32-column half] */
    for (int h = 0; h < 2; h++) {
      int64_t kb = 2 * q + h;
      if (kb < p->a_kblocks) {
        __m512i x = _mm512_maskz_loadu_epi8(live, eb + kb * p->n);
        nan |= _mm512_mask_cmpeq_epi8_mask(live, x, _mm512_set1_epi8((char)0xFF));
        e8m0_subs(x, c->mx_bias, add[h]);
      } else {
        add[h][0] = add[h][1] = _mm512_setzero_si512(); /* past K: the weight codes there are 0 */
      }
    }
    uint32_t *row = tab + q * PANEL;
    for (int g = 0; g < 2; g++) {
      _mm512_store_si512((void *)(row + 32 * g), _mm512_permutex2var_epi16(add[0][g], ilo, add[1][g]));
      _mm512_store_si512((void *)(row + 32 * g + 16), _mm512_permutex2var_epi16(add[0][g], ihi, add[1][g]));
    }
  }
  for (int64_t j = 0; j < nc; j++) nan_col[j] = (nan >> j) & 1;
}

/* Prefetches the lines of bytes [v, v + n) into L1 (l2: into L2). Both prefetch helpers
 * are forced inline: gcc 12 treats a function whose only effect is prefetching as free of
 * side effects and deletes the call (prefetch_cols compiled to nothing). */
static inline __attribute__((always_inline)) void prefetch_run(const uint8_t *v, int64_t n, bool l2) {
  if (n <= 0) return; /* no address before v */
  for (int64_t i = 0; i < n + 63; i += 64) {
    const char *at = (const char *)(v + (i < n ? i : n - 1));
    if (l2) _mm_prefetch(at, _MM_HINT_T1);
    else _mm_prefetch(at, _MM_HINT_T0);
  }
}

/* The codes of nc columns of column-major exponents (ld bytes apart, kb codes each):
 * one run when they are dense. */
static inline __attribute__((always_inline)) void prefetch_cols(const uint8_t *eb, int64_t ld, int64_t kb, int64_t nc, bool l2) {
  if (ld == kb) {
    prefetch_run(eb, nc * kb, l2);
    return;
  }
  for (int64_t j = 0; j < nc; j++) prefetch_run(eb + j * ld, kb, l2);
}

/* 16 x 16 transpose of 16-bit elements: v[i] halfword j -> v[j] halfword i. */
static inline void transpose16x16_epi16(__m256i v[16]) {
  __m256i t[16];
  for (int i = 0; i < 8; i++) { /* rows 2i, 2i+1 interleaved */
    t[2 * i] = _mm256_unpacklo_epi16(v[2 * i], v[2 * i + 1]);
    t[2 * i + 1] = _mm256_unpackhi_epi16(v[2 * i], v[2 * i + 1]);
  }
  for (int i = 0; i < 4; i++)
    for (int h = 0; h < 2; h++) {
      v[4 * i + 2 * h] = _mm256_unpacklo_epi32(t[4 * i + h], t[4 * i + 2 + h]);
      v[4 * i + 2 * h + 1] = _mm256_unpackhi_epi32(t[4 * i + h], t[4 * i + 2 + h]);
    }
  for (int i = 0; i < 2; i++)
    for (int h = 0; h < 4; h++) {
      t[8 * i + 2 * h] = _mm256_unpacklo_epi64(v[8 * i + h], v[8 * i + 4 + h]);
      t[8 * i + 2 * h + 1] = _mm256_unpackhi_epi64(v[8 * i + h], v[8 * i + 4 + h]);
    }
  for (int h = 0; h < 8; h++) {
    v[h] = _mm256_permute2x128_si256(t[h], t[8 + h], 0x20);
    v[8 + h] = _mm256_permute2x128_si256(t[h], t[8 + h], 0x31);
  }
}

/*
 * mx_table for column-major exponents (p->eb_ld > 0, the checkpoint's [N, K/32]): a
 * column's codes of chunk q are the halfword at byte 2q, so 16 columns x 16 chunks of
 * halfwords are transposed in registers and each chunk's 16 halfwords then widen, byte
 * by byte, to the table's dwords sub(2q) | sub(2q + 1) << 16 (as e8m0_subs). The panel's codes are one
 * contiguous run (64 x K/32 bytes) when the scale is dense.
 */
static void mx_table_cols(const bf16_call *c, int64_t j0, int64_t nc, uint32_t *tab, bool *nan_col) {
  const fp8g_gemm_problem *p = c->p;
  const int64_t ld = p->eb_ld, nkb = p->a_kblocks;
  const uint8_t *eb = p->eb + c->batch * p->sb_batch_stride + j0 * ld;
  prefetch_cols(eb, ld, nkb, nc, false);
  int64_t ahead = (int64_t)PANEL * c->nthreads; /* the panel this thread likely takes next */
  if (j0 + ahead < p->n)
    prefetch_cols(eb + ahead * ld, ld, nkb, p->n - j0 - ahead < PANEL ? p->n - j0 - ahead : PANEL, true);
  const __m256i unit = _mm256_set1_epi8(127), nan_code = _mm256_set1_epi8((char)0xFF);
  const __m512i top = _mm512_set1_epi16((short)(127 + c->mx_bias)); /* as e8m0_subs */
  uint64_t nan = 0;
  for (int64_t q0 = 0; q0 < c->nchunks; q0 += 16) {
    int64_t left = nkb - 2 * q0; /* codes of this 32-block group; past K: 127 (add 0) */
    __mmask32 in = left >= 32 ? ~(__mmask32)0 : (((__mmask32)1 << left) - 1);
    int nq = c->nchunks - q0 < 16 ? (int)(c->nchunks - q0) : 16;
    for (int64_t g = 0; g < PANEL; g += 16) {
      __m256i v[16];
      for (int i = 0; i < 16; i++) {
        if (g + i >= nc) {
          v[i] = unit;
          continue;
        }
        v[i] = _mm256_mask_loadu_epi8(unit, in, eb + (g + i) * ld + 2 * q0);
        if (_mm256_cmpeq_epi8_mask(v[i], nan_code)) nan |= (uint64_t)1 << (g + i);
      }
      transpose16x16_epi16(v);
      for (int i = 0; i < nq; i++) {
        __m512i w = _mm512_slli_epi16(_mm512_sub_epi16(top, _mm512_cvtepu8_epi16(v[i])), 7);
        _mm512_store_si512((void *)(tab + (q0 + i) * PANEL + g), w);
      }
    }
  }
  for (int64_t j = 0; j < nc; j++) nan_col[j] = (nan >> j) & 1;
}

/* Block scales of columns [j0, j0 + nc), column j's segments contiguous at tab[j * nseg]
 * (a column's tile then reads one or two cache lines, not one per segment). One-row
 * calls (m == 1) store the fp32 products sa * sb of their row instead (row_sa). True
 * when all nc columns are in one column block (the same scales). */
static bool sb_table(const bf16_call *c, int64_t j0, int64_t nc, const float *row_sa, float *tab) {
  const fp8g_gemm_problem *p = c->p;
  const float *sb = p->sb + c->batch * p->sb_batch_stride;
  /* Column block of each column by stepping, not dividing: a 64-bit division per
   * (segment, column) cost ~1 ms of a 4.5 ms M = 1 call at N = 14336, K = 4096. */
  int64_t nb[PANEL];
  for (int64_t j = 0, b = j0 / p->block_n, left = p->block_n - j0 % p->block_n; j < nc; j++) {
    nb[j] = b;
    if (--left == 0) b++, left = p->block_n;
  }
  for (int64_t j = 0; j < nc; j++) {
    float *col = tab + j * c->nseg;
    if (j > 0 && nb[j] == nb[j - 1]) { /* same column block: same scales */
      memcpy(col, col - c->nseg, (size_t)c->nseg * sizeof *col);
      continue;
    }
    for (int64_t s = 0; s < c->nseg; s++) col[s] = sb[s * p->b_nblocks + nb[j]] * (row_sa ? row_sa[s] : 1.0f);
  }
  return nb[nc - 1] == nb[0];
}

/* Per-lane block scales (KIND_LANE tiles): the product of row i, segment s and panel
 * column j at p[s * ls + i * lr + j * lc]. Row groups without one (no lane_tab passed)
 * run the lane tree on sa, sb. */
typedef struct lane_tab {
  const float *p;
  int64_t ls, lr, lc;
} lane_tab;

/* The lane table of a panel from its sb_table (uniform: one column block). W8A16: sb
 * itself (no row factor). W8A8: the fp32 products sa * sb into prt, per segment and row
 * one value (uniform) or the panel's 64 columns. */
static lane_tab lane_table(const bf16_call *c, int64_t nc, const float *sbt, bool uniform, float *prt) {
  const int64_t m = c->p->m, nseg = c->nseg;
  if (!c->sa_rows) return (lane_tab){sbt, 1, 0, nseg};
  const float *sa = c->sa_rows + c->batch * m * nseg;
  if (uniform) {
    for (int64_t s = 0; s < nseg; s++)
      for (int64_t i = 0; i < m; i++) prt[s * m + i] = sa[i * nseg + s] * sbt[s];
    return (lane_tab){prt, m, 1, 0};
  }
  const __m512i step = _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                                          _mm512_set1_epi32((int)nseg));
  for (int64_t s = 0; s < nseg; s++)
    for (int64_t j = 0; j < nc; j += 16) { /* column j's segment s at sbt[j * nseg + s] */
      __mmask16 in = nc - j >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (nc - j)) - 1);
      __m512 b = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), in, step, sbt + j * nseg + s, 4);
      for (int64_t i = 0; i < m; i++)
        _mm512_storeu_ps(prt + (s * m + i) * PANEL + j, _mm512_mul_ps(_mm512_set1_ps(sa[i * nseg + s]), b));
    }
  return (lane_tab){prt, m * PANEL, PANEL, 1};
}

enum { SPAN = 4 * GEMV_BF16_SPREAD };

/* The columns [j, j + span) of the panel at j0 (span 1, 4 or SPAN) in tiles of 4 columns
 * span / 4 apart (or one column) for rows [r0, r0 + mr) of the batch (mr > GEMV_BF16_MR:
 * all rows, block / MX decoded once for all row groups); sum[i][c]: row i, span column c.
 * Far-apart columns: on this Zen 4, with the prefetch below, M = 1..4 -5..-13% from memory
 * against adjacent columns (docs/gemv.md, session 15). */
static void run_span(const bf16_call *c, int64_t r0, int mr, int64_t j0, int64_t j, int64_t span,
                     const uint32_t *mxt, const float *sbt, const lane_tab *lt, int64_t prefetch,
                     int64_t far, float (*sum)[SPAN]) {
  const fp8g_gemm_problem *p = c->p;
  int64_t ldb = p->b_stride_n, row0 = c->batch * p->m + r0;
  int cn = span == 1 ? 1 : GEMV_BF16_CN_MAX;
  int64_t d = span / cn;
  float out[GEMV_BF16_ROWS_MAX * GEMV_BF16_CN_MAX];
  for (int64_t u = 0; u < d; u++) {
    gemv_bf16_tile t = {.b = p->b + c->batch * p->b_batch_stride + (j0 + j + u) * ldb, .ldb = d * ldb,
                        .a = c->a + row0 * c->lda, .lda = c->lda, .k = p->k, .seg = c->seg,
                        .prefetch = prefetch, .next = (u + 1 < d ? 1 : span - u) * ldb, .far = far,
                        .sa = c->sa_rows && p->m > 1 ? c->sa_rows + row0 * c->nseg : NULL, .sa_ld = c->nseg,
                        .sb = sbt ? sbt + (j + u) * c->nseg : NULL, .sb_ld = d * c->nseg,
                        .pr = lt ? lt->p + (j + u) * lt->lc : NULL,
                        .pr_ls = lt ? lt->ls : 0, .pr_lr = lt ? lt->lr : 0, .pr_lc = lt ? d * lt->lc : 0,
                        .mx = mxt ? mxt + j + u : NULL, .mx_cs = d, .mx_bias = c->mx_bias, .mx_sat = c->mx_sat,
                        .out = out, .ldo = GEMV_BF16_CN_MAX,
                        .amask = mxt && c->amask && mr == 1 ? c->amask + row0 * c->nchunks * 2 : NULL};
    if (mr > GEMV_BF16_MR) gemv_bf16_run_tile_rows(&t, mr, p->b_dtype);
    else gemv_bf16_run_tile(&t, mr, cn, p->b_dtype);
    for (int i = 0; i < mr; i++)
      for (int cc = 0; cc < cn; cc++) sum[i][u + cc * d] = out[i * GEMV_BF16_CN_MAX + cc];
  }
}

/* Rows [r0, r0 + mr) of the batch, columns [j, j + span) of the panel at j0, from the
 * sums of run_span. */
static void store_span(const bf16_call *c, int64_t r0, int mr, int64_t j0, int64_t j, int64_t span,
                       float (*sum)[SPAN], const bool *nan_col) {
  const fp8g_gemm_problem *p = c->p;
  int64_t row0 = c->batch * p->m + r0;
  int cn = span == 1 ? 1 : GEMV_BF16_CN_MAX;
  for (int64_t g = j; g < j + span; g += cn) {
    double cf[GEMV_BF16_CN_MAX];
    for (int jj = 0; jj < cn; jj++) cf[jj] = col_factor(p, c->batch, j0 + g + jj);
    bool vec = cn == 4 && (p->out_dtype == FP8GEMM_F32 || p->out_dtype == FP8GEMM_BF16) &&
               !(nan_col[g] | nan_col[g + 1] | nan_col[g + 2] | nan_col[g + 3]);
    for (int i = 0; i < mr; i++) {
      if (vec)
        store_row4(p, row0 + i, j0 + g, sum[i] + (g - j), row_factor(p, row0 + i), _mm256_loadu_pd(cf));
      else
        store_row(p, row0 + i, j0 + g, cn, sum[i] + (g - j), row_factor(p, row0 + i), cf, nan_col + g);
    }
  }
}

/* The width of the next run of columns from j of [0, nc): a far-apart span, 4 adjacent
 * columns, or 1. */
static int64_t span_at(int64_t j, int64_t nc) {
  return nc - j >= SPAN ? SPAN : nc - j >= GEMV_BF16_CN_MAX ? GEMV_BF16_CN_MAX : 1;
}

/* Rows [r0, r0 + mr) of the batch times columns [j0, j0 + nc) of a panel. 4 columns per
 * tile for every row count and scheme (2 columns with block or MX scales, free of spills,
 * measured slower from memory: M = 4 block 6.3 -> 7.3 ms, docs/gemv.md). */
static void row_group(const bf16_call *c, int64_t r0, int mr, int64_t j0, int64_t nc,
                      const uint32_t *mxt, const float *sbt, const lane_tab *lt, const bool *nan_col) {
  const fp8g_gemm_problem *p = c->p;
  /* The first row group's tiles prefetch their column streams (gemv_avx512bf16_nt.c); the
   * later row groups of a panel find its columns in L2. */
  int64_t prefetch = r0 == 0 ? GEMV_BF16_PREFETCH : 0;
  /* The first row group also prefetches the same columns of the panel this thread likely
   * takes next (tasks are claimed in turn), a panel ahead, so the memory stream does not
   * wait for each tile to start its four new pages (one thread: M = 4 -10-14%, M = 2
   * -7-10%, M = 8 / 16 -2%; two threads: within noise). */
  int64_t step = (int64_t)PANEL * c->nthreads;
  int64_t far = prefetch && j0 + step < p->n ? step * p->b_stride_n : 0;
  float sum[GEMV_BF16_MR][SPAN];
  for (int64_t j = 0, span; j < nc; j += span) {
    span = span_at(j, nc);
    run_span(c, r0, mr, j0, j, span, mxt, sbt, lt, prefetch, far, sum);
    store_span(c, r0, mr, j0, j, span, sum, nan_col);
  }
}

/* Block / MX with more than one row group: all rows of the batch per tile, each weight
 * chunk decoded once (gemv_bf16_run_tile_rows); a panel's last nc % 4 columns as
 * row_group does them. */
static void row_groups_shared(const bf16_call *c, int64_t j0, int64_t nc, const uint32_t *mxt, const float *sbt,
                              const bool *nan_col) {
  const fp8g_gemm_problem *p = c->p;
  int64_t step = (int64_t)PANEL * c->nthreads;
  int64_t far = j0 + step < p->n ? step * p->b_stride_n : 0; /* as row_group's first group */
  int64_t wide = nc / GEMV_BF16_CN_MAX * GEMV_BF16_CN_MAX;
  float sum[GEMV_BF16_ROWS_MAX][SPAN];
  for (int64_t j = 0, span; j < wide; j += span) {
    span = span_at(j, wide);
    run_span(c, 0, (int)p->m, j0, j, span, mxt, sbt, NULL, GEMV_BF16_PREFETCH, far, sum);
    store_span(c, 0, (int)p->m, j0, j, span, sum, nan_col);
  }
  if (wide < nc)
    for (int64_t r0 = 0; r0 < p->m; r0 += GEMV_BF16_MR)
      row_group(c, r0, (int)(p->m - r0 < GEMV_BF16_MR ? p->m - r0 : GEMV_BF16_MR), j0 + wide, nc - wide,
                mxt ? mxt + wide : NULL, sbt ? sbt + wide * c->nseg : NULL, NULL, nan_col + wide);
}

static void panel_task(void *ctx, int64_t task) {
  const bf16_call *c = ctx;
  const fp8g_gemm_problem *p = c->p;
  int64_t j0 = task * PANEL, nc = p->n - j0 < PANEL ? p->n - j0 : PANEL;
  int slot = claim_slot(c);
  uint32_t *mxt = c->mx ? c->mx_buf + slot * c->nchunks * PANEL : NULL;
  float *sbt = c->segmented ? c->sb_buf + slot * c->nseg * PANEL : NULL;
  bool nan_col[PANEL] = {false};
  if (mxt && p->eb_ld) mx_table_cols(c, j0, nc, mxt, nan_col);
  else if (mxt) mx_table(c, j0, nc, mxt, nan_col);
  /* one row: the products sa * sb in the table (the same fp32 products the tile forms) */
  const float *row_sa = p->m == 1 && c->sa_rows ? c->sa_rows + c->batch * c->nseg : NULL;
  bool uniform = sbt ? sb_table(c, j0, nc, row_sa, sbt) : false;
  lane_tab lt = {0};
  float *prt = c->pr_buf ? c->pr_buf + slot * c->nseg * LANE_ROWS_MAX * PANEL : NULL;
  if (c->lanes) lt = lane_table(c, nc, sbt, uniform, prt);
  if ((mxt || sbt) && p->m > GEMV_BF16_MR) {
    row_groups_shared(c, j0, nc, mxt, sbt, nan_col);
    atomic_store(&c->busy[slot], 0);
    return;
  }
  for (int64_t r0 = 0; r0 < p->m; r0 += GEMV_BF16_MR)
    row_group(c, r0, (int)(p->m - r0 < GEMV_BF16_MR ? p->m - r0 : GEMV_BF16_MR), j0, nc, mxt, sbt,
              c->lanes ? &lt : NULL, nan_col);
  atomic_store(&c->busy[slot], 0);
}

/* ------------------------------------------------------------ entry */

static atomic_long fallbacks;
long fp8g_gemv_bf16_fallbacks(void) { return atomic_load(&fallbacks); }

/* Column-major MX weight exponents are transposed to [k/32][n] in scratch first (per
 * batch when each has its own). gemv_avx2 reads the column-major form in place since
 * session 10 (docs/gemv.md, dec10), so this copy is no longer needed; it stays until the
 * change can be tested on a CPU with AVX512_BF16 (the session 10 machine had none). */
static fp8gemm_status fall_back(const fp8g_gemm_problem *p, const fp8g_gemm_kernel *fallback) {
  atomic_fetch_add(&fallbacks, 1);
  if (!p->eb_ld) return fallback->run(p);
  int64_t batches = p->sb_batch_stride ? p->batch : 1, per = p->a_kblocks * p->n;
  uint8_t *eb = malloc(batches * per > 0 ? (size_t)(batches * per) : 1);
  if (!eb) return fp8g_error(FP8GEMM_OUT_OF_MEMORY, "gemv_avx512bf16: out of memory for the MX weight scale");
  for (int64_t b = 0; b < batches; b++) { /* the op layer's gather of the same view */
    int64_t dims[2] = {p->a_kblocks, p->n};
    fp8gemm_tensor t;
    fp8gemm_tensor_init(&t, FP8GEMM_E8M0, 2, dims, (void *)(p->eb + b * p->sb_batch_stride));
    t.strides[0] = 1;
    t.strides[1] = p->eb_ld;
    fp8g_gather_dense(&t, false, eb + b * per);
  }
  fp8g_gemm_problem q = *p;
  q.eb = eb;
  q.eb_ld = 0;
  q.sb_batch_stride = p->sb_batch_stride ? per : 0;
  fp8gemm_status s = fallback->run(&q);
  free(eb);
  return s;
}

/* Frees a call and its buffers (any of them may be NULL). */
static void free_call(bf16_call *c) {
  free(c->a);
  free(c->busy);
  free(c->mx_buf);
  free(c->sb_buf);
  free(c->sa_rows);
  free(c->pr_buf);
  free(c->amask);
  free(c);
}

static fp8gemm_status run_with(const fp8g_gemm_problem *p, const fp8g_gemm_kernel *fallback) {
  /* DAZ / FTZ and the rounding mode do not change VDPBF16PS, but they would change the
   * scale FMAs and the lane sums, which then no longer match the fallback's semantics. */
  if (_mm_getcsr() & 0xE040u) return fall_back(p, fallback);
  bf16_call *c = calloc(1, sizeof *c);
  if (!c) return fp8g_error(FP8GEMM_OUT_OF_MEMORY, "gemv_avx512bf16: out of memory");
  c->p = p;
  c->mx = p->scale_kind == FP8G_SCALE_MX;
  c->segmented = p->scale_kind == FP8G_SCALE_BLOCK;
  c->nchunks = (p->k + GEMV_BF16_CHUNK - 1) / GEMV_BF16_CHUNK;
  c->lda = c->nchunks * GEMV_BF16_CHUNK;
  c->seg = c->segmented ? p->block_k : c->lda;
  c->nseg = (c->lda + c->seg - 1) / c->seg;
  bool ok = true;
  bool act_ok = false;
  if (c->mx) {
    int eb_max = -1;
    ok = mx_fold_ok(p, &eb_max, &act_ok);
    c->mx_bias = mx_bias_of(p->b_dtype);
    c->mx_sat = eb_max - 127 <= c->mx_bias;
    /* one row: the weight exponents go on the activations (a masked subtract of the
     * table's (0 - d) << 7 per 32 values and column, the same products) */
    if (p->m == 1 && act_ok) c->mx_bias = 0, c->mx_sat = false;
  } else if (c->segmented && p->sa) {
    ok = block_scales_ok(p);
  }
  if (!ok) {
    free(c);
    return fall_back(p, fallback);
  }
  int nthreads = p->nthreads < 1 ? 1 : p->nthreads;
  int64_t n_tasks = (p->n + PANEL - 1) / PANEL, rows = p->batch * p->m;
  c->nslots = n_tasks < nthreads ? (int)n_tasks : nthreads;
  c->nthreads = nthreads;
  size_t a_elems = c->lda <= INT64_MAX / ROWS_MAX ? (size_t)(rows * c->lda) : SIZE_MAX;
  c->a = a_elems < SIZE_MAX / 2 ? aligned_alloc(64, (a_elems * 2 + 63) / 64 * 64) : NULL;
  c->busy = calloc((size_t)c->nslots, sizeof *c->busy);
  if (c->mx) c->mx_buf = aligned_alloc(64, (size_t)(c->nslots * c->nchunks * PANEL) * sizeof(uint32_t));
  if (c->segmented) c->sb_buf = malloc((size_t)(c->nslots * c->nseg * PANEL) * sizeof(float));
  if (c->segmented && p->sa) c->sa_rows = malloc((size_t)(rows * c->nseg) * sizeof(float));
  /* M = 2, 3: 12 accumulators and 12 parts at most (M = 4's 32 spilled in the chunk loop:
   * 1.5 -> 1.6-1.8x per-tensor in cache; docs/gemv.md, session 17) */
  c->lanes = c->segmented && p->m >= 2 && p->m <= LANE_ROWS_MAX;
  if (c->lanes && p->sa) c->pr_buf = malloc((size_t)(c->nslots * c->nseg * LANE_ROWS_MAX * PANEL) * sizeof(float));
  if (c->mx && p->m == 1 && act_ok) c->amask = malloc((size_t)(rows * c->nchunks * 2) * sizeof(uint32_t));
  if (!c->a || !c->busy || (c->mx && !c->mx_buf) || (c->segmented && !c->sb_buf) ||
      (c->segmented && p->sa && !c->sa_rows) || (c->lanes && p->sa && !c->pr_buf) ||
      (c->mx && p->m == 1 && act_ok && !c->amask)) {
    free_call(c);
    return fp8g_error(FP8GEMM_OUT_OF_MEMORY, "gemv_avx512bf16: out of memory for %lld x %lld activations",
                      (long long)rows, (long long)p->k);
  }
  decode_activations(c);
  if (c->amask) act_masks(c, rows);
  fp8gemm_status st = FP8GEMM_OK;
  if (p->a_dtype == FP8GEMM_BF16 && !bf16_acts_ok(c, rows)) {
    st = fall_back(p, fallback);
  } else {
    if (c->sa_rows)
      for (int64_t r = 0; r < rows; r++)
        for (int64_t s = 0; s < c->nseg; s++) c->sa_rows[r * c->nseg + s] = p->sa[r * p->a_kblocks + s];
    for (int64_t b = 0; b < p->batch; b++) {
      c->batch = b;
      fp8g_parallel_for(n_tasks, nthreads, panel_task, c);
    }
  }
  free_call(c);
  return st;
}

static fp8gemm_status run_w8a8(const fp8g_gemm_problem *p) { return run_with(p, &fp8g_gemv_avx2_w8a8); }
static fp8gemm_status run_w8a16(const fp8g_gemm_problem *p) { return run_with(p, &fp8g_gemv_avx2_w8a16); }

const fp8g_gemm_kernel fp8g_gemv_avx512bf16_w8a8 = {.name = "gemv_avx512bf16", .isa = FP8GEMM_ISA_AVX512_BF16,
    .supports = supports_w8a8, .run = run_w8a8, .reads_eb_cols = true};
const fp8g_gemm_kernel fp8g_gemv_avx512bf16_w8a16 = {.name = "gemv_w8a16_avx512bf16", .isa = FP8GEMM_ISA_AVX512_BF16,
    .supports = supports_w8a16, .run = run_w8a16};
