/*
 * Every GEMM kernel against an fp64 oracle (the ops.md bound) and against each other:
 *   - kernel level: every kernel of both tables (and the AVX2 kernels by name) on
 *     canonical problems at awkward shapes, permuted / strided A rows, NN / NT /
 *     generic-stride / batched B, every scale kind, fp8 dtype, out dtype, bias kind;
 *   - bitwise: 1 vs 2 threads, default vs tiny block sizes (every blocking loop runs),
 *     packed vs plain weights through the public API;
 *   - NaN in an element or a scale reaches exactly the outputs it feeds;
 *   - the AVX2 fp8 decoder against fp8g_decode for all 256 codes of every dtype;
 *   - the BF16-dot GEMM's logic through its plain-C emulation (gemm_bf16_emul.h), on
 *     every CPU with AVX2, in addition to the real kernel at level avx512_bf16.
 * Levels the CPU lacks are reported, not passed.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "gemm_bf16_emul.h"
#include "kernels/avx2/gemm_avx2.h"
#include "ops/gemm_infer.h"

#include "internal.h"
#if defined(FP8G_ASAN)
#include <sanitizer/asan_interface.h>
#endif

/* ------------------------------------------------------------ small helpers */
typedef struct rng {
  uint64_t s;
} rng;
static uint64_t rng_next(rng *r) { /* xorshift64* (any fixed seed but 0) */
  uint64_t x = r->s ? r->s : 0x2545F4914F6CDD1Dull;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  r->s = x;
  return x * 0x2545F4914F6CDD1Dull;
}
static int64_t rng_int(rng *r, int64_t lo, int64_t hi) {
  return lo + (int64_t)(rng_next(r) % (uint64_t)(hi - lo + 1));
}
static double rng_unit(rng *r) { return (double)(rng_next(r) >> 11) * 0x1p-53; }
#define RNG_PICK(r, arr) ((arr)[rng_int((r), 0, (int64_t)(sizeof(arr) / sizeof((arr)[0])) - 1)])

/* A byte that reads as NaN in the dtype (fills unused storage). */
static uint8_t nan_byte(fp8gemm_dtype dt) {
  return dt == FP8GEMM_E4M3FNUZ || dt == FP8GEMM_E5M2FNUZ ? 0x80 : 0xFF;
}
static double out_value(const void *data, fp8gemm_dtype dt, int64_t i) {
  return fp8g_load_wide(data, dt, i);
}

static const fp8gemm_dtype fp8s[] = {FP8GEMM_E4M3FN, FP8GEMM_E5M2, FP8GEMM_E4M3FNUZ,
                                     FP8GEMM_E5M2FNUZ};
static const fp8gemm_dtype wides[] = {FP8GEMM_BF16, FP8GEMM_F16, FP8GEMM_F32};
static bool sanitized;

/* ------------------------------------------------------------ problem builder */
enum { BL_NN, BL_NT, BL_GENERIC, BL_COUNT };

typedef struct kcase {
  bool w8a16;
  fp8gemm_dtype a_dt, b_dt, out_dt;
  fp8g_scale_kind kind;
  int64_t block_k, block_n; /* BLOCK: K and N extents of a weight block */
  bool exact_scales;        /* w8a16 BLOCK: bf16-representable (foldable) scales */
  int64_t batch, m, n, k;
  fp8g_bias_kind bias;
  int b_layout;
  bool a_strided;           /* permuted rows, K stride 2 */
  bool batched_b;           /* batch > 1 with one B per batch */
} kcase;

typedef struct kprob {
  fp8g_gemm_problem p;
  uint8_t *a8;
  float *aw; /* wide A storage (bytes reinterpreted per dtype) */
  int64_t *rows;
  uint8_t *b;
  float *sa, *sb, *bias;
  uint8_t *ea, *eb;
  int64_t a_span;
} kprob;

static uint8_t codes_of[4][256];
static int ncodes_of[4];

static int fp8_index(fp8gemm_dtype d) {
  for (int i = 0; i < 4; i++)
    if (fp8s[i] == d) return i;
  return 0;
}

/* Finite codes with |value| <= 32, so sums stay far from every format's overflow. */
static void init_codes(void) {
  for (int i = 0; i < 4; i++) {
    ncodes_of[i] = 0;
    for (int c = 0; c < 256; c++) {
      float v = fp8g_decode(fp8s[i], (uint8_t)c);
      if (isfinite(v) && fabsf(v) <= 32.0f) codes_of[i][ncodes_of[i]++] = (uint8_t)c;
    }
  }
}

static uint8_t rand_code(rng *r, fp8gemm_dtype d) {
  int i = fp8_index(d);
  return codes_of[i][rng_int(r, 0, ncodes_of[i] - 1)];
}

static float rand_scale(rng *r, bool exact) {
  float s = (float)(0.01 + rng_unit(r) * 0.1);
  return exact ? fp8g_bf16_to_f32(fp8g_f32_to_bf16(s)) : s;
}

static size_t wide_bytes(fp8gemm_dtype d) { return d == FP8GEMM_F32 ? 4 : 2; }

static void build(const kcase *c, rng *r, kprob *kp) {
  memset(kp, 0, sizeof *kp);
  fp8g_gemm_problem *p = &kp->p;
  int64_t rows = c->batch * c->m, k = c->k, n = c->n;
  p->batch = c->batch;
  p->m = c->m;
  p->n = n;
  p->k = k;
  p->nthreads = 1;
  /* A: rows in a shuffled order, each row `pitch` elements apart, K stride 1 or 2;
   * unused elements hold NaN so a stray read poisons the result. */
  int64_t sk = c->a_strided ? 2 : 1, pitch = k * sk + (c->a_strided ? 3 : 0);
  kp->a_span = rows * pitch;
  kp->rows = malloc((size_t)rows * sizeof(int64_t));
  for (int64_t i = 0; i < rows; i++) kp->rows[i] = i;
  if (c->a_strided)
    for (int64_t i = rows - 1; i > 0; i--) {
      int64_t j = rng_int(r, 0, i), t = kp->rows[i];
      kp->rows[i] = kp->rows[j];
      kp->rows[j] = t;
    }
  for (int64_t i = 0; i < rows; i++) kp->rows[i] *= pitch;
  p->a_row_offset = kp->rows;
  p->a_stride_k = sk;
  p->a_dtype = c->a_dt;
  if (c->w8a16) {
    kp->aw = malloc((size_t)kp->a_span * 4);
    memset(kp->aw, 0xFF, (size_t)kp->a_span * 4);
    for (int64_t i = 0; i < rows; i++)
      for (int64_t kk = 0; kk < k; kk++) {
        float v = (float)((rng_unit(r) - 0.5) * 8.0);
        int64_t off = kp->rows[i] + kk * sk;
        if (c->a_dt == FP8GEMM_F32) ((float *)kp->aw)[off] = v;
        else if (c->a_dt == FP8GEMM_BF16) ((uint16_t *)kp->aw)[off] = fp8g_f32_to_bf16(v);
        else ((uint16_t *)kp->aw)[off] = fp8g_f32_to_f16(v);
      }
    p->a = kp->aw;
  } else {
    kp->a8 = malloc((size_t)kp->a_span);
    memset(kp->a8, nan_byte(c->a_dt), (size_t)kp->a_span);
    for (int64_t i = 0; i < rows; i++)
      for (int64_t kk = 0; kk < k; kk++) kp->a8[kp->rows[i] + kk * sk] = rand_code(r, c->a_dt);
    p->a = kp->a8;
  }
  /* B: per batch (or shared), NN / NT / generic strides. */
  int64_t nb = c->batched_b ? c->batch : 1, bsk, bsn, bspan;
  switch (c->b_layout) {
    case BL_NN: bsk = n; bsn = 1; bspan = k * n; break;
    case BL_NT: bsk = 1; bsn = k; bspan = k * n; break;
    default: bsk = 2 * n + 1; bsn = 2; bspan = k * bsk; break;
  }
  kp->b = malloc((size_t)(nb * bspan));
  memset(kp->b, nan_byte(c->b_dt), (size_t)(nb * bspan));
  for (int64_t b = 0; b < nb; b++)
    for (int64_t kk = 0; kk < k; kk++)
      for (int64_t j = 0; j < n; j++) kp->b[b * bspan + kk * bsk + j * bsn] = rand_code(r, c->b_dt);
  p->b = kp->b;
  p->b_dtype = c->b_dt;
  p->b_stride_k = bsk;
  p->b_stride_n = bsn;
  p->b_batch_stride = c->batched_b ? bspan : 0;
  /* Scales. */
  p->scale_kind = c->kind;
  p->block_k = k;
  p->block_n = 1;
  if (c->kind == FP8G_SCALE_BLOCK) {
    p->block_k = c->block_k;
    p->block_n = c->block_n;
  } else if (c->kind == FP8G_SCALE_MX) {
    p->block_k = 32;
  }
  p->a_kblocks = (k + p->block_k - 1) / p->block_k;
  p->b_nblocks = (n + p->block_n - 1) / p->block_n;
  int64_t n_sa = 1, n_sb = 1;
  switch (c->kind) {
    case FP8G_SCALE_ROWCOL: n_sa = rows; n_sb = n; break;
    case FP8G_SCALE_BLOCK: n_sa = rows * p->a_kblocks; n_sb = p->a_kblocks * p->b_nblocks; break;
    default: break;
  }
  kp->sa = malloc((size_t)n_sa * sizeof(float));
  kp->sb = malloc((size_t)(nb * n_sb) * sizeof(float));
  for (int64_t i = 0; i < n_sa; i++) kp->sa[i] = c->kind == FP8G_SCALE_NONE ? 1.0f : rand_scale(r, false);
  for (int64_t i = 0; i < nb * n_sb; i++)
    kp->sb[i] = c->kind == FP8G_SCALE_NONE ? 1.0f : rand_scale(r, c->exact_scales);
  p->sa = c->w8a16 ? NULL : kp->sa;
  p->sb = kp->sb;
  p->sb_batch_stride = c->batched_b ? n_sb : 0;
  if (c->kind == FP8G_SCALE_MX) {
    kp->ea = malloc((size_t)(rows * p->a_kblocks));
    kp->eb = malloc((size_t)(nb * p->a_kblocks * n));
    for (int64_t i = 0; i < rows * p->a_kblocks; i++) kp->ea[i] = (uint8_t)rng_int(r, 116, 128);
    for (int64_t i = 0; i < nb * p->a_kblocks * n; i++) kp->eb[i] = (uint8_t)rng_int(r, 116, 128);
    p->ea = kp->ea;
    p->eb = kp->eb;
    p->sb_batch_stride = c->batched_b ? p->a_kblocks * n : 0;
  }
  /* Bias. */
  p->bias_kind = c->bias;
  int64_t n_bias = c->bias == FP8G_BIAS_SCALAR ? 1 : c->bias == FP8G_BIAS_COL ? n
                   : c->bias == FP8G_BIAS_ROW ? rows : c->bias == FP8G_BIAS_FULL ? rows * n : 1;
  kp->bias = malloc((size_t)n_bias * sizeof(float));
  for (int64_t i = 0; i < n_bias; i++) kp->bias[i] = (float)(rng_unit(r) - 0.5);
  p->bias = kp->bias;
  p->out_dtype = c->out_dt;
}

static void unbuild(kprob *kp) {
  free(kp->a8); free(kp->aw); free(kp->rows); free(kp->b); free(kp->sa); free(kp->sb);
  free(kp->bias); free(kp->ea); free(kp->eb);
}

/* ------------------------------------------------------------ fp64 oracle */
static double a_val(const fp8g_gemm_problem *p, int64_t row, int64_t kk) {
  int64_t off = p->a_row_offset[row] + kk * p->a_stride_k;
  if (fp8gemm_dtype_is_fp8(p->a_dtype)) return fp8g_decode(p->a_dtype, ((const uint8_t *)p->a)[off]);
  return fp8g_load_wide(p->a, p->a_dtype, off);
}

static double e8m0(uint8_t code) { return code == 0xFF ? NAN : ldexp(1.0, code - 127); }

static double scale_of(const fp8g_gemm_problem *p, int64_t b, int64_t row, int64_t kb, int64_t col) {
  const float *sb = p->sb + b * p->sb_batch_stride;
  double sa = 1.0;
  switch (p->scale_kind) {
    case FP8G_SCALE_TENSOR: return (p->sa ? p->sa[0] : 1.0) * sb[0];
    case FP8G_SCALE_ROWCOL: return (p->sa ? p->sa[row] : 1.0) * sb[col];
    case FP8G_SCALE_BLOCK:
      if (p->sa) sa = p->sa[row * p->a_kblocks + kb];
      return sa * sb[kb * p->b_nblocks + col / p->block_n];
    case FP8G_SCALE_MX:
      return e8m0(p->ea[row * p->a_kblocks + kb]) *
             e8m0(p->eb[b * p->sb_batch_stride + kb * p->n + col]);
    default: return 1.0;
  }
}

static double bias_of(const fp8g_gemm_problem *p, int64_t row, int64_t col) {
  switch (p->bias_kind) {
    case FP8G_BIAS_SCALAR: return p->bias[0];
    case FP8G_BIAS_COL: return p->bias[col];
    case FP8G_BIAS_ROW: return p->bias[row];
    case FP8G_BIAS_FULL: return p->bias[row * p->n + col];
    default: return 0.0;
  }
}

static double ulp_out(fp8gemm_dtype dt, double x) {
  int prec = dt == FP8GEMM_F32 ? 24 : dt == FP8GEMM_BF16 ? 8 : 11;
  int emin = dt == FP8GEMM_F16 ? -14 : -126;
  int e = x == 0.0 || !isfinite(x) ? emin : ilogb(x);
  return ldexp(1.0, (e < emin ? emin : e) - prec + 1);
}

static double out_max(fp8gemm_dtype dt) {
  return dt == FP8GEMM_F16 ? 65504.0 : dt == FP8GEMM_BF16 ? 0x1.fep127 : 0x1.fffffep127;
}

/* out within gamma_{K+1} * sum|terms| + ulp_out/2 of the exact value (NaN where the
 * exact value is NaN). Returns the number of violations (reports the first few). */
static int check_bound(const fp8g_gemm_problem *p, const void *out, const char *what) {
  int bad = 0;
  double gamma = (double)(p->k + 1) * 0x1p-24 / (1.0 - (double)(p->k + 1) * 0x1p-24);
  for (int64_t row = 0; row < p->batch * p->m; row++) {
    int64_t b = row / p->m;
    const uint8_t *bb = p->b + b * p->b_batch_stride;
    for (int64_t j = 0; j < p->n; j++) {
      double acc = 0, mag = 0;
      for (int64_t kk = 0; kk < p->k; kk++) {
        double t = a_val(p, row, kk) * fp8g_decode(p->b_dtype, bb[kk * p->b_stride_k + j * p->b_stride_n]) *
                   scale_of(p, b, row, kk / p->block_k, j);
        acc += t;
        mag += fabs(t);
      }
      double bias = bias_of(p, row, j);
      acc += bias;
      mag += fabs(bias);
      double got = out_value(out, p->out_dtype, row * p->n + j);
      double tol = gamma * mag + ulp_out(p->out_dtype, acc) / 2;
      bool ok = isnan(acc) ? isnan(got) : fabs(got - acc) <= tol;
      /* Past the format's range (the overflow threshold is max + ulp(max) / 2) the
       * output is an infinity of the sign of the exact value. */
      double maxf = out_max(p->out_dtype), limit = maxf + ulp_out(p->out_dtype, maxf) / 2;
      if (!ok && isinf(got) && (got > 0) == (acc > 0) && fabs(acc) + tol >= limit) ok = true;
      if (!ok && ++bad <= 3)
        CHECK(false, "%s: out[%lld,%lld] = %.9g, exact %.9g (m=%lld n=%lld k=%lld batch=%lld)", what,
              (long long)row, (long long)j, got, acc, (long long)p->m, (long long)p->n,
              (long long)p->k, (long long)p->batch);
    }
  }
  return bad;
}

/* ------------------------------------------------------------ runs */
static void *alloc_out(const fp8g_gemm_problem *p) {
  size_t bytes = (size_t)(p->batch * p->m * p->n) * wide_bytes(p->out_dtype);
  void *o = malloc(bytes + 64);
  memset(o, 0xFF, bytes + 64);
  return o;
}

static bool canary_ok(const fp8g_gemm_problem *p, const void *o) {
  size_t bytes = (size_t)(p->batch * p->m * p->n) * wide_bytes(p->out_dtype);
  for (size_t i = 0; i < 64; i++)
    if (((const uint8_t *)o)[bytes + i] != 0xFF) return false;
  return true;
}

/* Every loop of the driver runs many times; the separate-B-pack path (fused_rows 0)
 * is compared with the default (fused below 384 rows). */
static const fp8g_avx2_blocking tiny_blocking = {
    .kc = 40, .mc = 12, .ms = 20, .nc_min = 16, .nc_max = 48, .ws_floats = 64, .fused_rows = 0};

/* The same for the BF16-dot GEMM (K blocks stay even). */
static const fp8g_bf16_blocking tiny_bf16_blocking = {
    .kc = 40, .mc = 12, .ms = 20, .nc_min = 64, .nc_max = 128, .ws_floats = 64};

static long kernel_cases;

/* Runs kernel `kern` on the case: bound vs fp64; bitwise equal across 1 / 2 threads
 * and (AVX2) across default / tiny block sizes. */
static void run_kernel_case(const fp8g_gemm_kernel *kern, const kcase *c, rng *r, const char *tag) {
  kprob kp;
  build(c, r, &kp);
  fp8g_gemm_problem p = kp.p;
  if (!kern->supports(&p)) {
    unbuild(&kp);
    return;
  }
  char what[200];
  snprintf(what, sizeof what, "%s %s kind=%d a=%s b=%s out=%s bias=%d bl=%d astr=%d bb=%d bk=%lld",
           kern->name, tag, (int)c->kind, fp8g_dtype_str(c->a_dt), fp8g_dtype_str(c->b_dt),
           fp8g_dtype_str(c->out_dt), (int)c->bias, c->b_layout, (int)c->a_strided,
           (int)c->batched_b, (long long)c->block_k);
  size_t bytes = (size_t)(p.batch * p.m * p.n) * wide_bytes(p.out_dtype);
  void *o1 = alloc_out(&p), *o2 = alloc_out(&p);
  p.out = o1;
  p.nthreads = 1;
  CHECK(kern->run(&p) == FP8GEMM_OK, "%s: run failed: %s", what, fp8gemm_last_error());
  CHECK(canary_ok(&p, o1), "%s: wrote past the output", what);
  if (check_bound(&p, o1, what) == 0) CHECK(true, "bound");
  p.out = o2;
  p.nthreads = 2;
  CHECK(kern->run(&p) == FP8GEMM_OK, "%s: 2 threads", what);
  CHECK(memcmp(o1, o2, bytes) == 0, "%s: 2 threads differ from 1", what);
  if (kern == &fp8g_gemm_avx2_w8a8 || kern == &fp8g_gemm_avx2_w8a16) {
    memset(o2, 0xFF, bytes);
    fp8g_avx2_set_blocking(&tiny_blocking);
    CHECK(kern->run(&p) == FP8GEMM_OK, "%s: tiny blocks", what);
    fp8g_avx2_set_blocking(NULL);
    CHECK(memcmp(o1, o2, bytes) == 0, "%s: tiny block sizes change the result", what);
  }
  if (kern->supports == fp8g_bf16_supports || kern->supports == fp8g_bf16_supports_w8a16) { /* BF16 kernels, real and emulated */
    memset(o2, 0xFF, bytes);
    fp8g_bf16_set_blocking(&tiny_bf16_blocking);
    CHECK(kern->run(&p) == FP8GEMM_OK, "%s: tiny blocks", what);
    fp8g_bf16_set_blocking(NULL);
    CHECK(memcmp(o1, o2, bytes) == 0, "%s: tiny block sizes change the result", what);
  }
  kernel_cases++;
  free(o1);
  free(o2);
  unbuild(&kp);
}

static const int64_t awkward[] = {1, 2, 5, 6, 7, 13, 16, 17, 31, 37, 64, 97, 129, 145, 257};

static void random_dims(rng *r, kcase *c, int64_t cap) {
  for (;;) {
    c->m = RNG_PICK(r, awkward);
    c->n = RNG_PICK(r, awkward);
    c->k = RNG_PICK(r, awkward);
    if (c->kind == FP8G_SCALE_MX) c->k = 32 * rng_int(r, 1, 9);
    if (c->batch * c->m * c->n * c->k <= cap) return;
  }
}

static void kernel_sweep(const fp8g_gemm_kernel *kern, bool w8a16, rng *r) {
  int64_t cap = sanitized ? 60000 : 400000;
  int reps = sanitized ? 1 : 3;
  static const fp8g_scale_kind kinds[] = {FP8G_SCALE_NONE, FP8G_SCALE_TENSOR, FP8G_SCALE_ROWCOL,
                                          FP8G_SCALE_BLOCK, FP8G_SCALE_MX};
  /* 8 and 16: below the ops' group sizes, allowed by the kernel contract (gemm_avx2's
   * fused path once wrote past its stack scale buffer there). */
  static const int64_t gs[] = {8, 16, 32, 64, 128};
  for (size_t ki = 0; ki < 5; ki++) {
    if (w8a16 && kinds[ki] == FP8G_SCALE_MX) continue;
    for (int rep = 0; rep < reps; rep++)
      for (size_t d = 0; d < 4; d++) {
        kcase c = {0};
        c.w8a16 = w8a16;
        c.kind = kinds[ki];
        c.b_dt = fp8s[d];
        c.a_dt = w8a16 ? RNG_PICK(r, wides) : fp8s[(d + (size_t)rep) % 4];
        c.out_dt = w8a16 ? c.a_dt : RNG_PICK(r, wides);
        c.batch = rng_int(r, 0, 3) == 0 ? rng_int(r, 2, 3) : 1;
        c.batched_b = c.batch > 1 && rng_int(r, 0, 1);
        c.b_layout = (int)rng_int(r, 0, BL_COUNT - 1);
        c.a_strided = rng_int(r, 0, 1);
        c.bias = (fp8g_bias_kind)rng_int(r, 0, 4);
        if (c.kind == FP8G_SCALE_BLOCK) {
          c.block_k = w8a16 ? RNG_PICK(r, gs) : 128;
          c.block_n = w8a16 && rng_int(r, 0, 1) ? 1 : c.block_k;
          c.exact_scales = w8a16 && rng_int(r, 0, 1);
        }
        random_dims(r, &c, cap);
        run_kernel_case(kern, &c, r, "sweep");
      }
  }
  /* N a multiple of 1024 with f32 out: the AVX2 driver accumulates in its padded
   * workspace instead of in place. */
  {
    kcase c = {.w8a16 = w8a16, .kind = FP8G_SCALE_ROWCOL, .b_dt = FP8GEMM_E5M2, .batch = 1,
               .m = 9, .n = 1024, .k = 40, .bias = FP8G_BIAS_FULL, .b_layout = BL_NN};
    c.a_dt = w8a16 ? FP8GEMM_F32 : FP8GEMM_E4M3FN;
    c.out_dt = FP8GEMM_F32;
    run_kernel_case(kern, &c, r, "n1024");
  }
  /* Segments of 8 K over a long K: more scale segments per K block than gemm_avx2's
   * fused path once held on its stack (ASan showed the write past it). */
  {
    kcase c = {.w8a16 = w8a16, .kind = FP8G_SCALE_BLOCK, .b_dt = FP8GEMM_E4M3FN, .batch = 1,
               .m = 20, .n = 40, .k = 600, .block_k = 8, .block_n = 1, .bias = FP8G_BIAS_COL,
               .b_layout = BL_NT};
    c.a_dt = w8a16 ? FP8GEMM_BF16 : FP8GEMM_E4M3FN;
    c.out_dt = w8a16 ? c.a_dt : FP8GEMM_F32;
    run_kernel_case(kern, &c, r, "block8");
  }
  /* Every awkward size in every position (M, N, K), the others moderate. */
  for (size_t v = 0; v < sizeof awkward / sizeof awkward[0]; v++)
    for (int pos = 0; pos < 3; pos++) {
      kcase c = {0};
      c.w8a16 = w8a16;
      c.kind = w8a16 ? FP8G_SCALE_BLOCK : (pos == 2 ? FP8G_SCALE_BLOCK : FP8G_SCALE_ROWCOL);
      c.block_k = w8a16 ? 32 : 128;
      c.block_n = w8a16 ? 1 : 128;
      c.exact_scales = v % 2;
      c.a_dt = w8a16 ? FP8GEMM_BF16 : FP8GEMM_E4M3FN;
      c.b_dt = FP8GEMM_E4M3FN;
      c.out_dt = w8a16 ? c.a_dt : FP8GEMM_F32;
      c.batch = 1;
      c.bias = FP8G_BIAS_COL;
      c.m = pos == 0 ? awkward[v] : 7;
      c.n = pos == 1 ? awkward[v] : 19;
      c.k = pos == 2 ? awkward[v] : 129;
      run_kernel_case(kern, &c, r, "awkward");
    }
}

/* ------------------------------------------------------------ NaN propagation */
/* A NaN code in A (row 2), B (column 3), or a NaN / 0xFF scale: exactly the fed
 * outputs are NaN (the oracle in check_bound decides which). */
static void nan_cases(const fp8g_gemm_kernel *kern, bool w8a16) {
  static const fp8g_scale_kind kinds[] = {FP8G_SCALE_ROWCOL, FP8G_SCALE_BLOCK, FP8G_SCALE_MX};
  for (size_t ki = 0; ki < 3; ki++)
    for (int where = 0; where < 4; where++)
      for (size_t d = 0; d < 4; d++) {
        if (w8a16 && kinds[ki] == FP8G_SCALE_MX) continue;
        rng r = {ki * 100 + (uint64_t)where * 10 + d};
        kcase c = {.w8a16 = w8a16, .kind = kinds[ki], .b_dt = fp8s[d], .batch = 1, .m = 9,
                   .n = 21, .k = 96, .block_k = w8a16 ? 32 : 128, .block_n = w8a16 ? 1 : 128,
                   .out_dt = FP8GEMM_F32, .b_layout = BL_NN};
        c.a_dt = w8a16 ? FP8GEMM_F32 : fp8s[d];
        if (w8a16 && d % 2) c.a_dt = c.out_dt = FP8GEMM_BF16; /* what the BF16 kernels take */
        kprob kp;
        build(&c, &r, &kp);
        fp8g_gemm_problem p = kp.p;
        uint8_t nan_code = nan_byte(c.b_dt);
        switch (where) {
          case 0: /* A element */
            if (w8a16 && c.a_dt == FP8GEMM_BF16) ((uint16_t *)kp.aw)[kp.rows[2] + 40] = 0x7FC0;
            else if (w8a16) ((float *)kp.aw)[kp.rows[2] + 40] = NAN;
            else kp.a8[kp.rows[2] + 40] = nan_byte(c.a_dt);
            break;
          case 1: kp.b[40 * p.b_stride_k + 3 * p.b_stride_n] = nan_code; break;
          case 2: /* input-side scale of row 2 (weight scale for w8a16) */
            if (c.kind == FP8G_SCALE_MX) kp.ea[2 * p.a_kblocks + 1] = 0xFF;
            else if (w8a16) kp.sb[c.kind == FP8G_SCALE_BLOCK ? p.b_nblocks + 3 : 3] = NAN;
            else kp.sa[c.kind == FP8G_SCALE_BLOCK ? 2 * p.a_kblocks : 2] = NAN;
            break;
          default: /* weight-side scale feeding column 3 */
            if (c.kind == FP8G_SCALE_MX) kp.eb[1 * p.n + 3] = 0xFF;
            else kp.sb[c.kind == FP8G_SCALE_BLOCK ? 0 : 3] = NAN;
            break;
        }
        if (!kern->supports(&p)) {
          unbuild(&kp);
          continue;
        }
        void *o = alloc_out(&p);
        p.out = o;
        p.nthreads = 2;
        CHECK(kern->run(&p) == FP8GEMM_OK, "nan run");
        char what[120];
        snprintf(what, sizeof what, "%s NaN kind=%d where=%d dtype=%s", kern->name, (int)c.kind,
                 where, fp8g_dtype_str(c.b_dt));
        int64_t nans = 0;
        for (int64_t i = 0; i < p.m * p.n; i++) nans += isnan(out_value(o, p.out_dtype, i));
        CHECK(nans > 0, "%s: no NaN output", what);
        if (check_bound(&p, o, what) == 0) CHECK(true, "nan bound");
        free(o);
        unbuild(&kp);
      }
}

/* Runs p on the kernel (when it takes it) and checks every output against the bound
 * of the exact value. */
static void run_within_bound(const fp8g_gemm_kernel *kern, fp8g_gemm_problem *p, const char *what) {
  if (!kern->supports(p)) return;
  void *o = alloc_out(p);
  p->out = o;
  CHECK(kern->run(p) == FP8GEMM_OK, "%s: run", what);
  if (check_bound(p, o, what) == 0) CHECK(true, "%s", what);
  free(o);
}

/* MX scale codes so large that a scaled operand overflows fp32 (the AVX2 kernel
 * hands these to the reference): still within the bound of the exact value. */
static void mx_extreme(const fp8g_gemm_kernel *kern) {
  rng r = {77};
  kcase c = {.kind = FP8G_SCALE_MX, .a_dt = FP8GEMM_E4M3FN, .b_dt = FP8GEMM_E5M2, .batch = 1,
             .m = 7, .n = 18, .k = 64, .out_dt = FP8GEMM_F32, .b_layout = BL_NT};
  kprob kp;
  build(&c, &r, &kp);
  fp8g_gemm_problem p = kp.p;
  /* A's scale 2^125 in odd K blocks, B's in even ones: products stay near 1. */
  for (int64_t i = 0; i < p.batch * p.m; i++)
    for (int64_t kb = 0; kb < p.a_kblocks; kb++) kp.ea[i * p.a_kblocks + kb] = kb % 2 ? 252 : 2;
  for (int64_t kb = 0; kb < p.a_kblocks; kb++)
    for (int64_t j = 0; j < p.n; j++) kp.eb[kb * p.n + j] = kb % 2 ? 2 : 252;
  run_within_bound(kern, &p, "mx extreme scales");
  unbuild(&kp);
}

/* One e8m0 code just above the foldable limit (e5m2 weight: 240, 2^113 x 57344
 * overflows fp32; e4m3fn input: 247, 2^120 x 448 does), next to the format's largest
 * value, the other side's scale bringing the product back into range; every other code
 * 127, and 0xFF (NaN, never "too large") in one column or row. The code sits in the
 * first or second 32-code step of the kernel's foldability scan (low or high 16 bytes of
 * the step) or in its tail (40 x 2 weight codes, 20 x 2 input codes): folding it anyway
 * gives Inf, the bound check fails. */
static void mx_limit_scan(const fp8g_gemm_kernel *kern) {
  static const struct { bool on_b; int64_t idx; } spots[] = {
      {true, 5}, {true, 37}, {true, 70}, {false, 3}, {false, 35},
      /* the upper 16 bytes of a 32-code step (movemask bits 16..31) */
      {true, 20}, {true, 58}, {false, 21}};
  for (size_t t = 0; t < sizeof spots / sizeof spots[0]; t++) {
    rng r = {91 + t};
    kcase c = {.kind = FP8G_SCALE_MX, .a_dt = FP8GEMM_E4M3FN, .b_dt = FP8GEMM_E5M2, .batch = 1,
               .m = 20, .n = 40, .k = 64, .out_dt = FP8GEMM_F32, .b_layout = BL_NT};
    kprob kp;
    build(&c, &r, &kp);
    fp8g_gemm_problem p = kp.p;
    int64_t nka = p.m * p.a_kblocks, nkb = p.a_kblocks * p.n;
    for (int64_t i = 0; i < nka; i++) kp.ea[i] = 127;
    for (int64_t i = 0; i < nkb; i++) kp.eb[i] = 127;
    uint8_t *bcodes = kp.b;
    if (spots[t].on_b) {
      int64_t kb = spots[t].idx / p.n, j = spots[t].idx % p.n;
      kp.eb[spots[t].idx] = 240;
      kp.eb[kb * p.n + (j + 1) % p.n] = 0xFF;
      for (int64_t kk = kb * 32; kk < kb * 32 + 32; kk++) bcodes[kk * p.b_stride_k + j * p.b_stride_n] = 0x7B;
      for (int64_t i = 0; i < p.m; i++) kp.ea[i * p.a_kblocks + kb] = 14; /* 2^-113 */
    } else {
      int64_t row = spots[t].idx / p.a_kblocks, kb = spots[t].idx % p.a_kblocks;
      kp.ea[spots[t].idx] = 247;
      kp.ea[((row + 1) % p.m) * p.a_kblocks + kb] = 0xFF;
      for (int64_t kk = kb * 32; kk < kb * 32 + 32; kk++) kp.a8[p.a_row_offset[row] + kk * p.a_stride_k] = 0x7E;
      for (int64_t j = 0; j < p.n; j++) kp.eb[kb * p.n + j] = 7; /* 2^-120 */
    }
    run_within_bound(kern, &p, "mx code above the foldable limit");
    unbuild(&kp);
  }
}

/* ------------------------------------------------------------ decoder */
static void decoder_exhaustive(void) {
  for (size_t d = 0; d < 4; d++) {
    uint8_t codes[256];
    _Alignas(32) float got[256];
    for (int c = 0; c < 256; c++) codes[c] = (uint8_t)c;
    for (int c = 0; c < 256; c += 16) fp8g_avx2_decode16(fp8s[d], codes + c, got + c);
    int bad = 0;
    for (int c = 0; c < 256; c++) {
      float want = fp8g_decode(fp8s[d], (uint8_t)c);
      bool same = isnan(want) ? isnan(got[c]) : memcmp(&want, &got[c], 4) == 0;
      if (!same && ++bad <= 3)
        CHECK(false, "decode16 %s code 0x%02x: %g, want %g", fp8g_dtype_str(fp8s[d]), c, got[c], want);
    }
    if (!bad) CHECK(true, "decoder");
  }
}

/* ------------------------------------------------------------ B panel packer */
/*
 * fp8g_avx2_pack_b against the scalar decode, bit for bit, for every fp8 dtype, NN / NT /
 * generic strides, and each way scales meet the panel: none, folded (exact w8a16 block
 * scales; MX e8m0), segmented (scales laid out beside the panel). The K range covers the
 * packer's 32-K and 16-K transpose steps of NT columns and a scalar remainder, starts
 * off a 16-byte boundary, and the column range has two full panels and a 5-column edge.
 * The codes run through all 256 values (NaNs included) along K and across columns.
 */
static void pack_b_exhaustive(void) {
  enum { N = 43, K = 352, C0 = 3, COLS = 37 };
  static const struct { fp8g_scale_kind kind; fp8g_avx2_mode mode; bool fold; int64_t bk, k0, kc, bn; }
  modes[] = {
      {FP8G_SCALE_TENSOR, FP8G_AVX2_CHAIN, false, K, 5, 135, 1},  /* 4 x 32 + 7: 32-K steps + rest */
      {FP8G_SCALE_TENSOR, FP8G_AVX2_CHAIN, false, K, 9, 55, 1},   /* 32 + 16 + 7: the 16-K step too */
      {FP8G_SCALE_BLOCK, FP8G_AVX2_CHAIN, true, 64, 64, 80, 1},   /* folded: blocks of 64 and 16 */
      {FP8G_SCALE_BLOCK, FP8G_AVX2_SEGMENTED, false, 64, 64, 80, 1},
      {FP8G_SCALE_MX, FP8G_AVX2_CHAIN, true, 32, 96, 80, 1},      /* e8m0 folded: 32, 32, 16 */
      /* whole blocks: full panels in one pass over several blocks (8 + 3, 3), the edge
       * panel block by block */
      {FP8G_SCALE_MX, FP8G_AVX2_CHAIN, true, 32, 0, 352, 1},
      {FP8G_SCALE_MX, FP8G_AVX2_CHAIN, true, 32, 64, 96, 1},
      {FP8G_SCALE_BLOCK, FP8G_AVX2_CHAIN, true, 64, 64, 256, 1},
      /* column blocks of 5 / 24 / 7 from column 3: block edges inside a panel, not where
       * col0 % block_n == 0 would put them (the once-per-call column block indices) */
      {FP8G_SCALE_BLOCK, FP8G_AVX2_CHAIN, true, 64, 64, 256, 5},
      {FP8G_SCALE_BLOCK, FP8G_AVX2_SEGMENTED, false, 64, 64, 80, 24},
      {FP8G_SCALE_BLOCK, FP8G_AVX2_CHAIN, true, 96, 96, 192, 7},
      /* blocks of 64 and 36: a K range not a multiple of 16 (NT remainder) stays block by
       * block, as the multi-block pass does not pack the last K % 16 */
      {FP8G_SCALE_BLOCK, FP8G_AVX2_CHAIN, true, 64, 64, 100, 1},
  };
  uint8_t *b = malloc((size_t)K * N * 2 + 16);
  float *sb = malloc(sizeof(float) * (K / 32) * N);
  uint8_t eb[(K / 32) * N];
  rng r = {0x9a7b};
  for (int64_t i = 0; i < (K / 32) * N; i++) {
    sb[i] = (float)(0.01 + rng_unit(&r) * 0.1);
    eb[i] = i % 11 == 0 ? 0x00 : i % 13 == 0 ? 0xFF : (uint8_t)rng_int(&r, 110, 140); /* 2^-127, NaN */
  }
  int64_t npan = (COLS + 15) / 16;
  float *dst = aligned_alloc(64, sizeof(float) * (size_t)(npan * K * 16));
  float *bs = aligned_alloc(64, sizeof(float) * (size_t)(npan * (K / 32) * 16));
  int bad = 0;
  for (size_t d = 0; d < 4; d++)
    for (int lay = 0; lay < 3; lay++)
      for (size_t mi = 0; mi < sizeof modes / sizeof modes[0]; mi++) {
        /* NN: [K, N]; NT: [N, K]; generic: element (kk, j) at 2 * (kk * N + j) */
        int64_t sk = lay == 0 ? N : lay == 1 ? 1 : 2 * N, sn = lay == 0 ? 1 : lay == 1 ? K : 2;
        memset(b, 0, (size_t)K * N * 2 + 16);
        for (int64_t kk = 0; kk < K; kk++)
          for (int64_t j = 0; j < N; j++) b[kk * sk + j * sn] = (uint8_t)(kk * 7 + j * 45 + (kk / 32) * 3);
        fp8g_gemm_problem p = {.batch = 1, .m = 1, .n = N, .k = K, .b_dtype = fp8s[d], .b = b,
                               .b_stride_k = sk, .b_stride_n = sn, .scale_kind = modes[mi].kind,
                               .block_k = modes[mi].bk, .block_n = modes[mi].bn, .a_kblocks = K / modes[mi].bk,
                               .b_nblocks = (N + modes[mi].bn - 1) / modes[mi].bn, .sb = sb, .eb = eb};
        fp8g_avx2_plan pl = {.p = &p, .mode = modes[mi].mode, .fold_b = modes[mi].fold,
                             .seg = modes[mi].mode == FP8G_AVX2_SEGMENTED ? modes[mi].bk : 0,
                             .kc = modes[mi].kc};
        int64_t k0 = modes[mi].k0, kc = modes[mi].kc, nseg = pl.seg ? (kc + pl.seg - 1) / pl.seg : 0;
        memset(dst, 0xFF, sizeof(float) * (size_t)(npan * K * 16));
        fp8g_avx2_pack_b(&pl, 0, C0, COLS, k0, kc, dst, bs);
        for (int64_t pj = 0; pj < npan; pj++)
          for (int64_t kk = 0; kk < kc; kk++)
            for (int j = 0; j < 16; j++) {
              int64_t col = C0 + pj * 16 + j, kb = (k0 + kk) / modes[mi].bk;
              float want = 0.0f;
              if (col < C0 + COLS) {
                want = fp8g_decode(fp8s[d], b[(k0 + kk) * sk + col * sn]);
                if (modes[mi].fold)
                  want *= p.scale_kind == FP8G_SCALE_MX ? fp8g_avx2_e8m0(eb[kb * N + col])
                                                        : sb[kb * p.b_nblocks + col / p.block_n];
              }
              float got = dst[(pj * kc + kk) * 16 + j];
              bool same = isnan(want) ? isnan(got) : memcmp(&want, &got, 4) == 0;
              if (!same && ++bad <= 3)
                CHECK(false, "pack_b %s layout %d mode %zu: panel %lld k %lld col %d: %g, want %g",
                      fp8g_dtype_str(fp8s[d]), lay, mi, (long long)pj, (long long)kk, j, got, want);
            }
        for (int64_t pj = 0; pj < npan; pj++)
          for (int64_t s = 0; s < nseg; s++)
            for (int j = 0; j < 16; j++) {
              int64_t col = C0 + pj * 16 + j;
              float want = col < C0 + COLS ? sb[(k0 / pl.seg + s) * p.b_nblocks + col / p.block_n] : 0.0f;
              if (bs[(pj * nseg + s) * 16 + j] != want && ++bad <= 3)
                CHECK(false, "pack_b segment scale %lld/%lld/%d", (long long)pj, (long long)s, j);
            }
        /* The next-panel prefetch touches only B, whatever the column (edge panel too). */
        for (int64_t c = 0; c < N; c += 5) fp8g_avx2_prefetch_b(&pl, 0, c, k0, kc);
      }
  if (!bad) CHECK(true, "pack_b");
  free(b);
  free(sb);
  free(dst);
  free(bs);
}

/* ------------------------------------------------------------ public API: packed vs plain */
/* A tensor over its own storage; `order` lists dims from outermost to innermost storage. */
typedef struct tens {
  fp8gemm_tensor t;
  uint8_t *mem;
} tens;

static void tens_make(tens *x, fp8gemm_dtype dt, int nd, const int64_t *dims, const int *order) {
  memset(x, 0, sizeof *x);
  x->t.dtype = dt;
  x->t.ndim = nd;
  int64_t stride = 1, numel = 1;
  for (int s = nd - 1; s >= 0; s--) {
    x->t.dims[order[s]] = dims[order[s]];
    x->t.strides[order[s]] = stride;
    stride *= dims[order[s]];
  }
  for (int i = 0; i < nd; i++) numel *= dims[i];
  size_t esz = (size_t)fp8gemm_dtype_bits(dt) / 8;
  x->mem = malloc((size_t)numel * esz);
  x->t.data = x->mem;
}

/* Fills storage: fp8 codes from the finite set, or wide values in [0.01, 0.11). */
static void tens_fill(tens *x, rng *r) {
  int64_t numel = fp8gemm_tensor_numel(&x->t);
  for (int64_t i = 0; i < numel; i++) {
    if (fp8gemm_dtype_is_fp8(x->t.dtype)) {
      x->mem[i] = rand_code(r, x->t.dtype);
    } else {
      float v = rand_scale(r, false);
      if (x->t.dtype == FP8GEMM_F32) memcpy(x->mem + 4 * i, &v, 4);
      else {
        uint16_t h = x->t.dtype == FP8GEMM_BF16 ? fp8g_f32_to_bf16(v) : fp8g_f32_to_f16(v);
        memcpy(x->mem + 2 * i, &h, 2);
      }
    }
  }
}

/* The smaps entry of the mapping that holds address p: 1 (and its THPeligible flag in
 * *eligible, -1 where the kernel prints none), 0 when p is not mapped, -1 without smaps. */
static int mapping_of(const void *p, int *eligible) {
  FILE *f = fopen("/proc/self/smaps", "r");
  if (!f) return -1;
  char line[512];
  int found = 0;
  *eligible = -1;
  while (fgets(line, sizeof line, f)) {
    unsigned long lo, hi;
    char perm;
    if (sscanf(line, "%lx-%lx %c", &lo, &hi, &perm) == 3) { /* a mapping's first line */
      if (found) break;
      found = (uintptr_t)p >= lo && (uintptr_t)p < hi;
    } else if (found) {
      (void)sscanf(line, "THPeligible: %d", eligible);
    }
  }
  fclose(f);
  return found;
}

/* Transparent huge pages off ("never", or turned off for this process by
 * prctl(PR_SET_THP_DISABLE), as some container runtimes do), on (madvise, always), or
 * unknown (-1). */
static int thp_on(void) {
  FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
  char buf[128] = "";
  if (f) {
    if (!fgets(buf, sizeof buf, f)) buf[0] = 0;
    fclose(f);
  }
  int on = strstr(buf, "[never]") ? 0 : strstr(buf, "[madvise]") || strstr(buf, "[always]") ? 1 : -1;
  if (on == 1 && (f = fopen("/proc/self/status", "r")) != NULL) {
    char line[256];
    int process_on = -1;
    while (fgets(line, sizeof line, f))
      if (sscanf(line, "THP_enabled: %d", &process_on) == 1) break;
    fclose(f);
    if (process_on == 0) on = 0;
  }
  return on;
}

/* What fp8g_big_alloc holds for `bytes` (internal.h): on Linux, >= 2 MiB goes to a
 * 2 MiB-aligned mapping rounded up to a 2 MiB multiple; else malloc, the bytes asked. */
static size_t big_held(size_t bytes) {
#if defined(__linux__)
  if (bytes >= FP8G_HUGE_PAGE) return (bytes + FP8G_HUGE_PAGE - 1) / FP8G_HUGE_PAGE * FP8G_HUGE_PAGE;
#endif
  return 0;
}

/* A buffer of `held` bytes from fp8g_big_alloc (held != 0): 2 MiB-aligned, mapped to its
 * last byte, eligible for transparent huge pages exactly when they are on (so, in
 * "madvise" mode, advised). */
static void check_huge_placement(const void *p, size_t held, const char *what) {
  int e0 = -1, e1 = -1;
  int m0 = mapping_of(p, &e0), m1 = mapping_of((const uint8_t *)p + held - 1, &e1);
  CHECK((uintptr_t)p % FP8G_HUGE_PAGE == 0, "%s: 2 MiB-aligned (%p)", what, p);
  if (m0 < 0) return; /* no /proc: nothing more to see */
  CHECK(m0 == 1 && m1 == 1, "%s: mapped from first to last byte", what);
  int on = thp_on();
  if (on >= 0 && e0 >= 0)
    CHECK(e0 == on && e1 == on, "%s: THPeligible %d / %d with THP %s", what, e0, e1, on ? "on" : "never");
}

/* fp8g_big_alloc / fp8g_big_free on both sides of 2 MiB: placement, the bytes held, and a
 * mapping that is gone after the free (ASan catches a free() of it; LSan does not see
 * mappings, so the free is checked here). */
static void big_alloc_sizes(void) {
  const size_t sizes[] = {FP8G_HUGE_PAGE - 1, FP8G_HUGE_PAGE, FP8G_HUGE_PAGE + 1,
                          3 * (size_t)FP8G_HUGE_PAGE + 4096};
  for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
    size_t mapped = 7;
    uint8_t *p = fp8g_big_alloc(sizes[i], &mapped);
    CHECK(p != NULL && mapped == big_held(sizes[i]), "big_alloc(%zu): held %zu, expected %zu",
          sizes[i], mapped, big_held(sizes[i]));
    if (!p) continue;
    memset(p, 0xA5, sizes[i]);
    if (mapped) check_huge_placement(p, mapped, "big_alloc");
#if defined(FP8G_ASAN) /* the rounded-up tail is poisoned: a read past the bytes asked is caught */
    if (mapped > sizes[i]) {
      CHECK(!__asan_address_is_poisoned(p + sizes[i] - 1) && __asan_address_is_poisoned(p + sizes[i]) &&
                __asan_address_is_poisoned(p + mapped - 1),
            "big_alloc(%zu): ASan sees the bytes asked, not the %zu bytes after them", sizes[i], mapped - sizes[i]);
    }
#endif
    fp8g_big_free(p, mapped);
#if defined(FP8G_ASAN) /* and unpoisoned before the unmap: the next mapping there starts clean */
    if (mapped) CHECK(__asan_region_is_poisoned(p, mapped) == NULL, "big_free(%zu): shadow left poisoned", sizes[i]);
#endif
    int e, m0 = mapped ? mapping_of(p, &e) : 0, m1 = mapped ? mapping_of(p + mapped - 1, &e) : 0;
    CHECK(m0 <= 0 && m1 <= 0, "big_free(%zu): unmapped afterwards (%d, %d)", sizes[i], m0, m1);
  }
  fp8g_big_free(NULL, 0);
}

/* out of the plain op on an NT q_weight (threads 1 and 2) == out with the packed weight,
 * and == out with the weight packed from a contiguous [K, N] copy of the same values.
 * m rows per batch: decode sizes (B * m <= 16) and GEMM sizes. Codes of >= 2 MiB in
 * all (B x k x n when batched) are packed onto 2 MiB pages: placed so, and the bytes
 * held rounded up. */
static void packed_case(bool w8a16, bool batched, int64_t m, int64_t n, int64_t k, rng *r) {
  int64_t B = 2;
  static const int perm3[3] = {1, 0, 2}, nt2[2] = {1, 0}, nt3[3] = {0, 2, 1}, id2[2] = {0, 1};
  int64_t ad[3] = {B, m, k}, wd2[2] = {k, n}, wd3[3] = {B, k, n}, sad[3] = {B, m, 1}, swd[1] = {n};
  tens a, w, sa, sw;
  tens_make(&a, w8a16 ? FP8GEMM_BF16 : FP8GEMM_E4M3FN, 3, ad, perm3); /* permuted [m, B, K] storage */
  if (batched) tens_make(&w, FP8GEMM_E5M2, 3, wd3, nt3);             /* batched NT */
  else tens_make(&w, FP8GEMM_E4M3FN, 2, wd2, nt2);                   /* NT checkpoint view */
  tens_make(&sa, FP8GEMM_F32, 3, sad, perm3);
  tens_make(&sw, FP8GEMM_F32, 1, swd, id2);
  tens_fill(&a, r);
  tens_fill(&w, r);
  tens_fill(&sa, r);
  tens_fill(&sw, r);
  fp8gemm_dtype odt = w8a16 ? FP8GEMM_BF16 : FP8GEMM_F16;
  const fp8gemm_tensor *sat = w8a16 ? NULL : &sa.t;
  fp8gemm_tensor desc;
  size_t ws;
  fp8gemm_status s = w8a16 ? fp8gemm_fp8_gemm_w8a16_infer(&a.t, &w.t, &sw.t, NULL, &desc, &ws)
                           : fp8gemm_fp8_gemm_infer(&a.t, &w.t, odt, sat, &sw.t, NULL, &desc, &ws);
  CHECK(s == FP8GEMM_OK, "infer: %s", fp8gemm_last_error());
  size_t bytes = fp8gemm_tensor_nbytes(&desc);
  uint8_t *o[3];
  int threads_before = fp8gemm_get_num_threads();
  for (int i = 0; i < 3; i++) o[i] = malloc(bytes);
  for (int i = 0; i < 2; i++) { /* plain, on 1 then 2 threads */
    fp8gemm_set_num_threads(i + 1);
    fp8gemm_tensor od = desc;
    od.data = o[i];
    s = w8a16 ? fp8gemm_fp8_gemm_w8a16(&a.t, &w.t, &sw.t, NULL, &od)
              : fp8gemm_fp8_gemm(&a.t, &w.t, odt, sat, &sw.t, NULL, &od);
    CHECK(s == FP8GEMM_OK, "plain: %s", fp8gemm_last_error());
  }
  fp8gemm_set_num_threads(threads_before);
  CHECK(memcmp(o[0], o[1], bytes) == 0, "op level: 2 threads differ from 1 (w8a16=%d)", (int)w8a16);
  fp8gemm_op op = w8a16 ? FP8GEMM_OP_FP8_GEMM_W8A16 : FP8GEMM_OP_FP8_GEMM;
  fp8gemm_packed_weight *pw = NULL;
  CHECK(fp8gemm_pack_weight(op, &w.t, &sw.t, &pw) == FP8GEMM_OK, "pack: %s", fp8gemm_last_error());
  int64_t numel = fp8gemm_tensor_numel(&w.t);
  size_t held = big_held((size_t)numel);
  fp8gemm_tensor pdesc, info_desc;
  fp8gemm_op info_op;
  size_t info_bytes;
  CHECK(fp8gemm_packed_weight_info(pw, &info_op, &info_desc, &info_bytes) == FP8GEMM_OK &&
            info_op == op && info_desc.ndim == w.t.ndim &&
            memcmp(info_desc.dims, w.t.dims, sizeof w.t.dims) == 0 &&
            info_bytes == (held ? held : (size_t)numel) + 4 * (size_t)n,
        "packed_weight_info: bytes %zu (codes %lld, held %zu)", info_bytes, (long long)numel, held);
  if (held) check_huge_placement(fp8g_packed_codes(pw), held, "packed codes");
  s = w8a16 ? fp8gemm_fp8_gemm_w8a16_packed_infer(&a.t, pw, NULL, &pdesc, &ws)
            : fp8gemm_fp8_gemm_packed_infer(&a.t, pw, odt, sat, NULL, &pdesc, &ws);
  CHECK(s == FP8GEMM_OK && pdesc.ndim == desc.ndim && pdesc.dtype == desc.dtype &&
            memcmp(pdesc.dims, desc.dims, sizeof desc.dims) == 0 &&
            memcmp(pdesc.strides, desc.strides, sizeof desc.strides) == 0,
        "packed infer = plain infer: %s", fp8gemm_last_error());
  fp8gemm_tensor od = desc;
  od.data = o[2];
  s = w8a16 ? fp8gemm_fp8_gemm_w8a16_packed(&a.t, pw, NULL, &od)
            : fp8gemm_fp8_gemm_packed(&a.t, pw, odt, sat, NULL, &od);
  CHECK(s == FP8GEMM_OK, "packed: %s", fp8gemm_last_error());
  CHECK(memcmp(o[0], o[2], bytes) == 0, "packed weight result differs from plain (w8a16=%d batched=%d m=%lld)",
        (int)w8a16, (int)batched, (long long)m);
  { /* packing the same values stored [K, N] gives the same packed weight */
    static const int id3[3] = {0, 1, 2};
    tens wn;
    tens_make(&wn, w.t.dtype, w.t.ndim, w.t.dims, batched ? id3 : id2);
    for (int64_t i = 0; i < numel; i++)
      wn.mem[fp8g_offset_of(&wn.t, wn.t.ndim, i)] = w.mem[fp8g_offset_of(&w.t, w.t.ndim, i)];
    fp8gemm_packed_weight *pn = NULL;
    CHECK(fp8gemm_pack_weight(op, &wn.t, &sw.t, &pn) == FP8GEMM_OK, "pack NN: %s", fp8gemm_last_error());
    uint8_t *o3 = malloc(bytes);
    fp8gemm_tensor o3d = desc;
    o3d.data = o3;
    s = w8a16 ? fp8gemm_fp8_gemm_w8a16_packed(&a.t, pn, NULL, &o3d)
              : fp8gemm_fp8_gemm_packed(&a.t, pn, odt, sat, NULL, &o3d);
    CHECK(s == FP8GEMM_OK && memcmp(o3, o[0], bytes) == 0,
          "weight packed from [K, N] storage gives the NT plain result (w8a16=%d batched=%d m=%lld)",
          (int)w8a16, (int)batched, (long long)m);
    fp8gemm_packed_weight_free(pn);
    free(o3);
    free(wn.mem);
  }
  /* The other op's packed call is refused and writes nothing. */
  memset(o[2], 0x5A, bytes);
  s = w8a16 ? fp8gemm_fp8_gemm_packed(&a.t, pw, odt, NULL, NULL, &od)
            : fp8gemm_fp8_gemm_w8a16_packed(&a.t, pw, NULL, &od);
  CHECK(s == FP8GEMM_INVALID_ARGUMENT && strstr(fp8gemm_last_error(), "packed for") != NULL,
        "wrong op refused: %s", fp8gemm_last_error());
  CHECK(o[2][0] == 0x5A && o[2][bytes - 1] == 0x5A, "nothing written on error");
  fp8gemm_packed_weight_free(pw);
  fp8gemm_packed_weight_free(NULL);
  for (int i = 0; i < 3; i++) free(o[i]);
  free(a.mem); free(w.mem); free(sa.mem); free(sw.mem);
}

static void packed_vs_plain(void) {
  rng r = {4242};
  for (int i = 0; i < 2; i++) {
    int64_t m = i == 0 ? 5 : sanitized ? 19 : 67; /* B * m = 10: the decode kernels */
    packed_case(false, false, m, 45, 160, &r);
    packed_case(false, true, m, 45, 160, &r);
    packed_case(true, false, m, 45, 160, &r);
    packed_case(true, true, m, 45, 160, &r);
  }
  /* M = 128: fp8 activations take the C^T = W A^T path of gemm_avx512bf16 (packed
   * weights are NT) */
  packed_case(false, false, 128, 45, 160, &r);
  packed_case(false, true, 128, 45, 160, &r);
  fp8gemm_packed_weight *pw = (fp8gemm_packed_weight *)&r;
  CHECK(fp8gemm_pack_weight(FP8GEMM_OP_FP8_CAST, NULL, NULL, &pw) == FP8GEMM_INVALID_ARGUMENT &&
            pw == (fp8gemm_packed_weight *)&r,
        "pack_weight refuses other ops, output untouched");
  { /* a sub-byte (e2m1) weight scale is refused, not copied as zero-byte elements */
    uint8_t codes[4 * 8] = {0}, nibbles[4] = {0};
    fp8gemm_tensor w, s;
    int64_t wd[2] = {4, 8}, sd[1] = {8};
    fp8gemm_tensor_init(&w, FP8GEMM_E4M3FN, 2, wd, codes);
    fp8gemm_tensor_init(&s, FP8GEMM_E2M1, 1, sd, nibbles);
    CHECK(fp8gemm_pack_weight(FP8GEMM_OP_FP8_GEMM, &w, &s, &pw) == FP8GEMM_INVALID_ARGUMENT &&
              pw == (fp8gemm_packed_weight *)&r && strstr(fp8gemm_last_error(), "weight_scale"),
          "pack_weight refuses an e2m1 weight_scale: %s", fp8gemm_last_error());
  }
  fp8gemm_kernel_info plain, packed;
  CHECK(fp8gemm_query(FP8GEMM_OP_FP8_GEMM, FP8GEMM_SCHEME_MX, FP8GEMM_E4M3FN, &plain) == FP8GEMM_OK &&
            fp8gemm_query_packed(FP8GEMM_OP_FP8_GEMM, FP8GEMM_SCHEME_MX, FP8GEMM_E4M3FN, &packed) ==
                FP8GEMM_OK &&
            strcmp(plain.name, packed.name) == 0,
        "query_packed answers like query");
  CHECK(fp8gemm_query_packed(FP8GEMM_OP_FP8_CAST, FP8GEMM_SCHEME_ELEMENTWISE, FP8GEMM_E4M3FN,
                             &packed) == FP8GEMM_UNIMPLEMENTED,
        "no packed form for fp8_cast");
}

/* Packed weights of >= 2 MiB (codes on 2 MiB pages) give the plain call's bits like
 * small ones, for both ops at decode (2 rows) and GEMM (34 rows) sizes: 2 MiB + 4 KiB
 * codes (a partial last huge page), a batched weight whose batches straddle a 2 MiB
 * boundary, exactly 2 MiB (no rounding) and 4 KiB under it (malloc'd, as before). */
static void packed_huge_pages(void) {
  rng r = {0x2d2d};
  big_alloc_sizes();
  packed_case(false, false, 1, 513, 4096, &r);
  packed_case(false, false, 17, 513, 4096, &r);
  packed_case(true, false, 1, 513, 4096, &r);
  packed_case(true, false, 17, 513, 4096, &r);
  packed_case(false, true, 1, 1025, 1024, &r);
  packed_case(true, true, 17, 1025, 1024, &r);
  packed_case(false, false, 1, 512, 4096, &r);
  packed_case(true, false, 1, 511, 4096, &r);
}

/* ------------------------------------------------------------ host threads, nesting */
/* Two host threads calling at once (one finds the pool busy and runs alone), and a
 * call nested inside a pool task: same bits as a lone single-threaded call. */
typedef struct conc_job {
  const fp8g_gemm_kernel *kern;
  fp8g_gemm_problem p;
  int reps;
  int status;
} conc_job;

static void *conc_main(void *arg) {
  conc_job *j = arg;
  for (int i = 0; i < j->reps; i++)
    if (j->kern->run(&j->p) != FP8GEMM_OK) j->status = 1;
  return NULL;
}

static void nested_task(void *ctx, int64_t t) {
  conc_job *jobs = ctx;
  conc_main(&jobs[t]);
}

static void host_threads(const fp8g_gemm_kernel *kern) {
  rng r = {99};
  kcase c = {.kind = FP8G_SCALE_BLOCK, .a_dt = FP8GEMM_E4M3FN, .b_dt = FP8GEMM_E4M3FN,
             .out_dt = FP8GEMM_BF16, .batch = 1, .m = sanitized ? 40 : 150, .n = 70, .k = 300,
             .block_k = 128, .block_n = 128, .bias = FP8G_BIAS_COL, .b_layout = BL_NT};
  kprob kp;
  build(&c, &r, &kp);
  if (!kern->supports(&kp.p)) {
    unbuild(&kp);
    return;
  }
  size_t bytes = (size_t)(c.m * c.n) * 2;
  void *want = alloc_out(&kp.p);
  kp.p.out = want;
  kp.p.nthreads = 1;
  CHECK(kern->run(&kp.p) == FP8GEMM_OK, "lone run");
  conc_job jobs[2];
  void *outs[2];
  for (int i = 0; i < 2; i++) {
    outs[i] = alloc_out(&kp.p);
    jobs[i] = (conc_job){kern, kp.p, 3, 0};
    jobs[i].p.out = outs[i];
    jobs[i].p.nthreads = 2;
  }
  pthread_t th[2];
  int started = 0;
  for (int i = 0; i < 2; i++) started += pthread_create(&th[i], NULL, conc_main, &jobs[i]) == 0;
  CHECK(started == 2, "pthread_create");
  for (int i = 0; i < started; i++) pthread_join(th[i], NULL);
  for (int i = 0; i < 2; i++)
    CHECK(jobs[i].status == 0 && memcmp(outs[i], want, bytes) == 0,
          "%s: concurrent host thread %d differs from a lone call", kern->name, i);
  for (int i = 0; i < 2; i++) {
    memset(outs[i], 0xFF, bytes);
    jobs[i].reps = 1;
  }
  fp8g_parallel_for(2, 2, nested_task, jobs);
  for (int i = 0; i < 2; i++)
    CHECK(jobs[i].status == 0 && memcmp(outs[i], want, bytes) == 0,
          "%s: call nested in a pool task %d differs from a lone call", kern->name, i);
  free(want);
  free(outs[0]);
  free(outs[1]);
  unbuild(&kp);
}

/* ------------------------------------------------------------ main */
static void sweep_table(fp8gemm_op op, bool w8a16, fp8gemm_isa level) {
  size_t count = 0;
  const fp8g_gemm_kernel *const *table = fp8g_gemm_kernel_table(op, &count);
  for (size_t i = 0; i < count; i++) {
    if (table[i]->isa != level) continue;
    rng r = {0xfa57 + i * 31 + (uint64_t)w8a16};
    kernel_sweep(table[i], w8a16, &r);
    nan_cases(table[i], w8a16);
    if (!w8a16) mx_extreme(table[i]);
    if (!w8a16) mx_limit_scan(table[i]);
    if (!w8a16) host_threads(table[i]);
  }
}

int main(void) {
  sanitized = getenv("FP8GEMM_SANITIZED") != NULL;
  init_codes();
  fp8gemm_isa detected = fp8gemm_isa_detected();
  for (int isa = 0; isa < FP8GEMM_ISA_COUNT; isa++) {
    if (!test_use_isa(isa)) continue;
    kernel_cases = 0;
    sweep_table(FP8GEMM_OP_FP8_GEMM, false, (fp8gemm_isa)isa);
    sweep_table(FP8GEMM_OP_FP8_GEMM_W8A16, true, (fp8gemm_isa)isa);
    if (isa == FP8GEMM_ISA_AVX2) {
      decoder_exhaustive();
      pack_b_exhaustive();
    }
    packed_vs_plain();
    printf("isa %s: %ld kernel cases\n", fp8gemm_isa_name((fp8gemm_isa)isa), kernel_cases);
  }
  fp8gemm_set_max_isa((fp8gemm_isa)(FP8GEMM_ISA_COUNT - 1));
  packed_huge_pages(); /* at the top level only: placement is the same for every kernel */
  /* The BF16-dot GEMM through the emulated instruction (it shares the AVX2 epilogue). */
  if (detected >= FP8GEMM_ISA_AVX2) {
    rng r = {0xbf16};
    kernel_cases = 0;
    kernel_sweep(&gemm_bf16_emul, false, &r);
    nan_cases(&gemm_bf16_emul, false);
    mx_extreme(&gemm_bf16_emul);
    mx_limit_scan(&gemm_bf16_emul);
    host_threads(&gemm_bf16_emul);
    printf("%s (plain-C VDPBF16PS): %ld kernel cases\n", gemm_bf16_emul.name, kernel_cases);
    kernel_cases = 0;
    kernel_sweep(&gemm_bf16_emul_w8a16, true, &r);
    nan_cases(&gemm_bf16_emul_w8a16, true);
    printf("%s (plain-C VDPBF16PS): %ld kernel cases\n", gemm_bf16_emul_w8a16.name, kernel_cases);
  } else {
    printf("%s: needs avx2 for the shared epilogue, not tested\n", gemm_bf16_emul.name);
  }
  return test_summary();
}
