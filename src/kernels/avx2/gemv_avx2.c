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
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "gemv_avx2.h"
#include "gemv_avx2_decode.h"

/* Panel widths (columns per task) and K chunk: one chunk of a panel's weights stays in
 * L1 while several row groups / tiles reuse it. */
enum { NN_PANEL = 256, NT_PANEL = 64, NN_KC = 64, NT_KC = 512 };

typedef struct gemv_call {
  const fp8g_gemm_problem *p;
  const float *a;     /* decoded activations [batch * m][lda], zero padded */
  int64_t lda;
  int route;          /* fast route for the weight dtype */
  float table[256];   /* decode(code) / wfactor */
  double wfactor;     /* what the decoders left out (2^8 for e4m3fn) */
  bool nt;
  bool blocked;       /* BLOCK / MX: scales per K block */
  int64_t batch;      /* batch being run */
  struct panel_state *states; /* one per concurrently running task */
  atomic_int *busy;
  int nslots;
} gemv_call;

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

static double e8m0(uint8_t code) { return code == 0xFF ? NAN : ldexp(1.0, (int)code - 127); }

/* Row factor of K block kb (1 for w8a16, which scales only the weight). */
static double row_scale(const fp8g_gemm_problem *p, int64_t row, int64_t kb) {
  switch (p->scale_kind) {
    case FP8G_SCALE_TENSOR: return p->sa ? p->sa[0] : 1.0;
    case FP8G_SCALE_ROWCOL: return p->sa ? p->sa[row] : 1.0;
    case FP8G_SCALE_BLOCK: return p->sa ? p->sa[row * p->a_kblocks + kb] : 1.0;
    case FP8G_SCALE_MX: return p->ea ? e8m0(p->ea[row * p->a_kblocks + kb]) : 1.0;
    default: return 1.0;
  }
}

/* Column factor of K block kb, times the decoders' missing factor. */
static double col_scale(const gemv_call *c, int64_t kb, int64_t col) {
  const fp8g_gemm_problem *p = c->p;
  int64_t off = c->batch * p->sb_batch_stride;
  double s = 1.0;
  switch (p->scale_kind) {
    case FP8G_SCALE_TENSOR: s = p->sb ? p->sb[off] : 1.0; break;
    case FP8G_SCALE_ROWCOL: s = p->sb ? p->sb[off + col] : 1.0; break;
    case FP8G_SCALE_BLOCK:
      s = p->sb ? p->sb[off + kb * p->b_nblocks + col / p->block_n] : 1.0;
      break;
    case FP8G_SCALE_MX: s = p->eb ? e8m0(p->eb[off + kb * p->n + col]) : 1.0; break;
    default: break;
  }
  return s * c->wfactor;
}

static double bias_at(const fp8g_gemm_problem *p, int64_t row, int64_t col) {
  switch (p->bias_kind) {
    case FP8G_BIAS_SCALAR: return p->bias[0];
    case FP8G_BIAS_COL: return p->bias[col];
    case FP8G_BIAS_ROW: return p->bias[row];
    case FP8G_BIAS_FULL: return p->bias[row * p->n + col];
    default: return 0.0;
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

/* ------------------------------------------------------------ per-task scratch */

struct panel_state {
  float acc[GEMV_ROWS_MAX * NT_PANEL * 8]; /* NN: [m][NN_PANEL]; NT: [m][NT_PANEL][8] */
  double tot[GEMV_ROWS_MAX * NN_PANEL];    /* [m][panel] scaled sums of finished blocks */
  double col_s[NN_PANEL];
};
typedef struct panel_state panel_state;

_Static_assert(NN_PANEL <= NT_PANEL * 8, "NN accumulators must fit the shared buffer");

/* Folds the finished block kb into tot: tot += partial * row_scale * col_scale. */
static void fold_block(const gemv_call *c, panel_state *st, int64_t j0, int64_t nc,
                       int64_t kb, int64_t panel) {
  const fp8g_gemm_problem *p = c->p;
  for (int64_t j = 0; j < nc; j++) st->col_s[j] = col_scale(c, kb, j0 + j);
  for (int64_t i = 0; i < p->m; i++) {
    double rs = row_scale(p, c->batch * p->m + i, kb);
    double *tot = st->tot + i * panel;
    for (int64_t j = 0; j < nc; j++) {
      double part;
      if (c->nt) { /* lane sums in a fixed order */
        const float *l = st->acc + (i * NT_PANEL + j) * 8;
        part = (double)(((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7])));
      } else {
        part = (double)st->acc[i * NN_PANEL + j];
      }
      tot[j] += part * (rs * st->col_s[j]);
    }
    if (c->nt)
      memset(st->acc + i * NT_PANEL * 8, 0, (size_t)nc * 8 * sizeof(float));
    else
      memset(st->acc + i * NN_PANEL, 0, (size_t)nc * sizeof(float));
  }
}

/* ------------------------------------------------------------ tiles over one segment */

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

static void nn_segment(const gemv_call *c, panel_state *st, const uint8_t *bw, int64_t j0,
                       int64_t nc, int64_t k0, int64_t nk) {
  const fp8g_gemm_problem *p = c->p;
  int64_t ldb = p->b_stride_k;
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
        if (gemv_avx2_nn_tile(&t, mr, nv, c->route))
          gemv_avx2_nn_tile(&t, mr, nv, GEMV_DEC_TABLE);
      }
      if (nv == 1) break;
    }
    if (j < nc)
      nn_columns_scalar(c, bw + k0 * ldb + j0 + j, ldb, row0, mr, k0, nk,
                        st->acc + r0 * NN_PANEL + j, nc - j);
  }
}

static void nt_segment(const gemv_call *c, panel_state *st, const uint8_t *bw, int64_t j0,
                       int64_t nc, int64_t k0, int64_t nk) {
  const fp8g_gemm_problem *p = c->p;
  int64_t ldb = p->b_stride_n;
  for (int64_t r0 = 0; r0 < p->m; r0 += GEMV_MR_MAX) {
    int mr = (int)(p->m - r0 < GEMV_MR_MAX ? p->m - r0 : GEMV_MR_MAX);
    int64_t row0 = c->batch * p->m + r0;
    gemv_nt_tile t = {.ldb = ldb, .a = c->a + row0 * c->lda + k0, .lda = c->lda,
                      .ldacc = NT_PANEL * 8, .nk = nk, .table = c->table};
    int64_t j = 0;
    for (int cn = gemv_avx2_nt_width(mr);; cn = 1) {
      for (; j + cn <= nc; j += cn) {
        t.b = bw + (j0 + j) * ldb + k0;
        t.acc = st->acc + (r0 * NT_PANEL + j) * 8;
        if (gemv_avx2_nt_tile(&t, mr, cn, c->route))
          gemv_avx2_nt_tile(&t, mr, cn, GEMV_DEC_TABLE);
      }
      if (cn == 1) break;
    }
  }
}

/* ------------------------------------------------------------ one panel = one task */

/* At most nslots tasks run at once (one per pool thread), so a free slot exists. */
static int claim_slot(const gemv_call *c) {
  for (;;)
    for (int s = 0; s < c->nslots; s++)
      if (atomic_exchange(&c->busy[s], 1) == 0) return s;
}

static void panel_task(void *ctx, int64_t task) {
  const gemv_call *c = ctx;
  const fp8g_gemm_problem *p = c->p;
  int64_t panel = c->nt ? NT_PANEL : NN_PANEL;
  int64_t j0 = task * panel;
  int64_t nc = p->n - j0 < panel ? p->n - j0 : panel;
  const uint8_t *bw = p->b + c->batch * p->b_batch_stride;
  int slot = claim_slot(c);
  panel_state *st = &c->states[slot];
  memset(st->acc, 0, sizeof st->acc);
  for (int64_t i = 0; i < p->m * panel; i++) st->tot[i] = 0.0;

  int64_t block = c->blocked ? p->block_k : p->k;
  int64_t kc = c->nt ? (p->m > GEMV_MR_MAX ? NT_KC : p->k) : NN_KC;
  for (int64_t k0 = 0; k0 < p->k;) {
    int64_t kb = k0 / block;
    int64_t block_end = (kb + 1) * block < p->k ? (kb + 1) * block : p->k;
    int64_t k1 = k0 + kc < block_end ? k0 + kc : block_end;
    if (c->nt)
      nt_segment(c, st, bw, j0, nc, k0, k1 - k0);
    else
      nn_segment(c, st, bw, j0, nc, k0, k1 - k0);
    if (k1 == block_end) fold_block(c, st, j0, nc, kb, panel);
    k0 = k1;
  }
  for (int64_t i = 0; i < p->m; i++) {
    int64_t row = c->batch * p->m + i;
    for (int64_t j = 0; j < nc; j++)
      store_out(p, row * p->n + j0 + j, st->tot[i * panel + j] + bias_at(p, row, j0 + j));
  }
  atomic_store(&c->busy[slot], 0);
}

/* ------------------------------------------------------------ entry */

/* Activations of every row as fp32 [rows][lda], K padded with zeros. */
static void decode_activations(const fp8g_gemm_problem *p, float *a, int64_t lda) {
  float a_table[256];
  bool fp8 = fp8gemm_dtype_is_fp8(p->a_dtype);
  if (fp8)
    for (int code = 0; code < 256; code++) a_table[code] = fp8g_decode(p->a_dtype, (uint8_t)code);
  for (int64_t r = 0; r < p->batch * p->m; r++) {
    float *dst = a + r * lda;
    int64_t off = p->a_row_offset[r];
    for (int64_t kk = 0; kk < p->k; kk++, off += p->a_stride_k)
      dst[kk] = fp8 ? a_table[((const uint8_t *)p->a)[off]] : fp8g_load_wide(p->a, p->a_dtype, off);
    for (int64_t kk = p->k; kk < lda; kk++) dst[kk] = 0.0f;
  }
}

static void set_weight_route(gemv_call *c, fp8gemm_dtype b_dtype) {
  c->route = b_dtype == FP8GEMM_E4M3FN ? GEMV_DEC_E4M3FN
             : b_dtype == FP8GEMM_E5M2 ? GEMV_DEC_E5M2
                                       : GEMV_DEC_TABLE;
  c->wfactor = b_dtype == FP8GEMM_E4M3FN ? 256.0 : 1.0;
  for (int code = 0; code < 256; code++)
    c->table[code] = (float)(fp8g_decode(b_dtype, (uint8_t)code) / c->wfactor);
}

static fp8gemm_status run(const fp8g_gemm_problem *p) {
  gemv_call *c = calloc(1, sizeof *c);
  if (!c) return fp8g_error(FP8GEMM_OUT_OF_MEMORY, "gemv_avx2: out of memory");
  c->p = p;
  /* NT when K is contiguous, unless N is contiguous too and wide enough for NN tiles */
  c->nt = p->b_stride_k == 1 && (p->b_stride_n != 1 || p->n < 8);
  c->blocked = p->scale_kind == FP8G_SCALE_BLOCK || p->scale_kind == FP8G_SCALE_MX;
  set_weight_route(c, p->b_dtype);
  int64_t panel = c->nt ? NT_PANEL : NN_PANEL;
  int64_t n_tasks = (p->n + panel - 1) / panel;
  int nthreads = p->nthreads < 1 ? 1 : p->nthreads;
  c->nslots = n_tasks < nthreads ? (int)n_tasks : nthreads;
  c->lda = (p->k + 31) / 32 * 32;
  int64_t rows = p->batch * p->m;
  float *a = NULL;
  if (c->lda <= (int64_t)(SIZE_MAX / sizeof(float) / GEMV_ROWS_MAX))
    a = malloc((size_t)(rows * c->lda) * sizeof(float));
  c->states = malloc((size_t)c->nslots * sizeof *c->states);
  c->busy = calloc((size_t)c->nslots, sizeof *c->busy);
  if (!a || !c->states || !c->busy) {
    free(a);
    free(c->states);
    free(c->busy);
    free(c);
    return fp8g_error(FP8GEMM_OUT_OF_MEMORY, "gemv_avx2: out of memory for %lld x %lld activations",
                      (long long)rows, (long long)p->k);
  }
  decode_activations(p, a, c->lda);
  c->a = a;
  for (int64_t b = 0; b < p->batch; b++) {
    c->batch = b;
    fp8g_parallel_for(n_tasks, nthreads, panel_task, c);
  }
  free(a);
  free(c->states);
  free(c->busy);
  free(c);
  return FP8GEMM_OK;
}

const fp8g_gemm_kernel fp8g_gemv_avx2_w8a8 = {"gemv_avx2", FP8GEMM_ISA_AVX2, supports_w8a8, run};
const fp8g_gemm_kernel fp8g_gemv_avx2_w8a16 = {"gemv_w8a16_avx2", FP8GEMM_ISA_AVX2, supports_w8a16,
                                               run};
