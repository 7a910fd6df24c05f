/*
 * The AVX2 decode kernels (kernels/avx2/gemv_avx2*.c) against the reference kernel:
 * every M in 1..16, awkward N and K, NN and NT weights, every scale kind, fp8 dtype,
 * output dtype and bias form, strided / permuted activations, batched weights, NaN
 * propagation, and 1 vs 2 threads bitwise equal. Outputs must agree with the reference
 * within the ops.md bound: |out - ref| <= gamma_K * sum_k |a_k b_k| (scaled) + one ulp
 * of the output (half for each side's rounding). The dispatch is checked at every ISA
 * level the CPU has; levels it lacks are reported, not counted. On CPUs with
 * AVX512_BF16 the same sweep runs the BF16-dot decode kernels (gemv_avx512bf16), with
 * checks of which calls they hand back to gemv_avx2.
 */
#include <immintrin.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "kernels/avx2/gemv_avx2.h"
#include "kernels/avx512_bf16/gemv_avx512bf16.h"
#include "kernels/gemm_kernels.h"

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint32_t next_u32(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (uint32_t)(rng >> 16);
}
static int64_t pick(const int64_t *v, int n) { return v[next_u32() % (uint32_t)n]; }

static bool is_special(fp8gemm_dtype d, uint8_t code) {
  float v = fp8g_decode(d, code);
  return isnan(v) || isinf(v);
}

/* A random finite fp8 code of dtype d. */
static uint8_t finite_code(fp8gemm_dtype d) {
  for (;;) {
    uint8_t c = (uint8_t)next_u32();
    if (!is_special(d, c)) return c;
  }
}

static size_t dtype_size(fp8gemm_dtype d) { return (size_t)fp8gemm_dtype_bits(d) / 8; }

static void store_wide(void *buf, fp8gemm_dtype d, int64_t i, float v) {
  if (d == FP8GEMM_F32) ((float *)buf)[i] = v;
  else if (d == FP8GEMM_BF16) ((uint16_t *)buf)[i] = fp8g_f32_to_bf16(v);
  else ((uint16_t *)buf)[i] = fp8g_f32_to_f16(v);
}

static double load_out(const void *buf, fp8gemm_dtype d, int64_t i) {
  return fp8g_load_wide(buf, d, i);
}

/* ulp of |x| in the output format (the subnormal ulp at the bottom). */
static double ulp_of(double x, fp8gemm_dtype d) {
  int p = d == FP8GEMM_F32 ? 24 : d == FP8GEMM_BF16 ? 8 : 11;
  int emin = d == FP8GEMM_F16 ? -14 : -126;
  int e = emin;
  if (x != 0.0 && isfinite(x)) {
    frexp(x, &e);
    e = e - 1 < emin ? emin : e - 1;
  }
  return ldexp(1.0, e - (p - 1));
}

/* ------------------------------------------------------------ one test case */

typedef struct case_spec {
  bool w8a16;
  int64_t batch, m, n, k;
  bool nt;
  fp8gemm_dtype a_dtype, b_dtype, out_dtype;
  fp8g_scale_kind kind;
  int64_t block_k, block_n;
  fp8g_bias_kind bias;
  int a_stride;          /* activation stride along K (elements) */
  bool permuted_rows;    /* rows laid out in reverse order */
  int nan_mode;          /* 0 none, 1 NaN weight code, 2 NaN activation, 3 NaN scale */
  int a_range;           /* wide activations: 0 within +-10.3, 1 some beyond 2^16, 2 tiny
                            (f32 subnormals, or the format's smallest values) */
} case_spec;

typedef struct case_data {
  fp8g_gemm_problem p;
  void *a, *out_ref, *out1, *out2;
  uint8_t *b, *ea, *eb;
  int64_t *rows;
  float *sa, *sb, *bias;
  double *bound; /* gamma_K * sum |scaled products| per output */
} case_data;

static void free_case(case_data *d) {
  free(d->a);
  free(d->out_ref);
  free(d->out1);
  free(d->out2);
  free(d->b);
  free(d->ea);
  free(d->eb);
  free(d->rows);
  free(d->sa);
  free(d->sb);
  free(d->bias);
  free(d->bound);
}

/* Random draws go into separate statements throughout: C leaves the order of two calls
 * in one expression open, and gcc and clang would then test different cases. */
static float rand_scale(void) {
  float mant = 1.0f + (float)(next_u32() % 1024) / 1024.0f;
  int e = (int)(next_u32() % 5) - 3;
  return ldexpf(mant, e);
}

/* A code of magnitude 1..small (a subnormal mantissa) with a random sign. */
static uint8_t rand_small_code(uint32_t small) {
  uint32_t mag = next_u32() % small + 1;
  return (uint8_t)(mag | (next_u32() & 0x80));
}

static double a_value(const case_data *d, int64_t row, int64_t kk) {
  const fp8g_gemm_problem *p = &d->p;
  int64_t off = p->a_row_offset[row] + kk * p->a_stride_k;
  if (fp8gemm_dtype_is_fp8(p->a_dtype)) return fp8g_decode(p->a_dtype, ((const uint8_t *)p->a)[off]);
  return fp8g_load_wide(p->a, p->a_dtype, off);
}

static double e8m0_val(uint8_t c) { return c == 0xFF ? NAN : ldexp(1.0, c - 127); }

static double scale_of(const case_data *d, int64_t bt, int64_t row, int64_t kb, int64_t col) {
  const fp8g_gemm_problem *p = &d->p;
  double sa = 1.0, sb = 1.0;
  switch (p->scale_kind) {
    case FP8G_SCALE_TENSOR: sa = p->sa ? p->sa[0] : 1.0; sb = p->sb[bt * p->sb_batch_stride]; break;
    case FP8G_SCALE_ROWCOL: sa = p->sa ? p->sa[row] : 1.0; sb = p->sb[bt * p->sb_batch_stride + col]; break;
    case FP8G_SCALE_BLOCK:
      sa = p->sa ? p->sa[row * p->a_kblocks + kb] : 1.0;
      sb = p->sb[bt * p->sb_batch_stride + kb * p->b_nblocks + col / p->block_n];
      break;
    case FP8G_SCALE_MX:
      sa = e8m0_val(p->ea[row * p->a_kblocks + kb]);
      sb = e8m0_val(p->eb[bt * p->sb_batch_stride + kb * p->n + col]);
      break;
    default: break;
  }
  return fabs(sa * sb);
}

/* A wide activation for range s->a_range: 0 and 2 keep the kernels on their integer
 * weight decoders (|a| < 2^16), 1 sends the call to the F16C ones. */
static float wide_value(const case_spec *s) {
  float v = ((float)(int32_t)(next_u32() % 2001) - 1000.0f) / 97.0f;
  if (s->a_range == 1 && next_u32() % 8 == 0) return v * 40000.0f;
  if (s->a_range == 2) return ldexpf(v, s->a_dtype == FP8GEMM_F32 ? -136 : s->a_dtype == FP8GEMM_BF16 ? -128 : -20);
  return v;
}

/* bound[row][col] = gamma_K * sum_k |scaled a_k b_k| (again after a test changes data). */
static void compute_bounds(case_data *d) {
  const fp8g_gemm_problem *p = &d->p;
  int64_t k = p->k, n = p->n;
  double u = ldexp(1.0, -24), gamma = (double)k * u / (1.0 - (double)k * u);
  for (int64_t r = 0; r < p->batch * p->m; r++) {
    int64_t bt = r / p->m;
    const uint8_t *bw = d->b + bt * p->b_batch_stride;
    for (int64_t j = 0; j < n; j++) {
      double sum = 0.0;
      for (int64_t kk = 0; kk < k; kk++) {
        double b = fp8g_decode(p->b_dtype, bw[kk * p->b_stride_k + j * p->b_stride_n]);
        sum += fabs(a_value(d, r, kk) * b) * scale_of(d, bt, r, kk / p->block_k, j);
      }
      d->bound[r * n + j] = gamma * sum;
    }
  }
}

static bool build_case(const case_spec *s, case_data *d) {
  memset(d, 0, sizeof *d);
  fp8g_gemm_problem *p = &d->p;
  int64_t rows = s->batch * s->m, n = s->n, k = s->k;
  p->batch = s->batch;
  p->m = s->m;
  p->n = n;
  p->k = k;
  p->a_dtype = s->a_dtype;
  p->b_dtype = s->b_dtype;
  p->out_dtype = s->out_dtype;
  /* activations: rows of length k * a_stride, optionally stored in reverse order */
  size_t asz = dtype_size(s->a_dtype);
  int64_t row_len = k * s->a_stride + 3;
  d->a = calloc((size_t)(rows * row_len), asz);
  d->rows = malloc((size_t)rows * sizeof(int64_t));
  for (int64_t r = 0; r < rows; r++) {
    int64_t slot = s->permuted_rows ? rows - 1 - r : r;
    d->rows[r] = slot * row_len + 1;
    for (int64_t kk = 0; kk < k; kk++) {
      int64_t off = d->rows[r] + kk * s->a_stride;
      if (fp8gemm_dtype_is_fp8(s->a_dtype))
        ((uint8_t *)d->a)[off] = finite_code(s->a_dtype);
      else
        store_wide(d->a, s->a_dtype, off, wide_value(s));
    }
  }
  p->a = d->a;
  p->a_row_offset = d->rows;
  p->a_stride_k = s->a_stride;
  /* weights: padded leading dimension, one matrix per batch */
  int64_t ld = s->nt ? k + 5 : n + 3;
  int64_t per_batch = s->nt ? n * ld : k * ld;
  d->b = malloc((size_t)(per_batch * s->batch));
  for (int64_t i = 0; i < per_batch * s->batch; i++) d->b[i] = finite_code(s->b_dtype);
  p->b = d->b;
  p->b_batch_stride = s->batch > 1 ? per_batch : 0;
  p->b_stride_k = s->nt ? 1 : ld;
  p->b_stride_n = s->nt ? ld : 1;
  /* scales */
  p->scale_kind = s->kind;
  bool blocked = s->kind == FP8G_SCALE_BLOCK || s->kind == FP8G_SCALE_MX;
  p->block_k = blocked ? s->block_k : k;
  p->block_n = blocked ? s->block_n : 1;
  p->a_kblocks = (k + p->block_k - 1) / p->block_k;
  p->b_nblocks = (n + p->block_n - 1) / p->block_n;
  int64_t n_sa = 1, n_sb = 1;
  if (s->kind == FP8G_SCALE_ROWCOL) n_sa = rows, n_sb = n;
  if (s->kind == FP8G_SCALE_BLOCK) n_sa = rows * p->a_kblocks, n_sb = p->a_kblocks * p->b_nblocks;
  bool shared_sb = s->batch > 1 && (next_u32() & 1);
  p->sb_batch_stride = s->batch > 1 && !shared_sb ? n_sb : 0;
  if (s->kind == FP8G_SCALE_MX) {
    int64_t n_eb = p->a_kblocks * n;
    p->sb_batch_stride = s->batch > 1 && !shared_sb ? n_eb : 0;
    d->ea = malloc((size_t)(rows * p->a_kblocks));
    d->eb = malloc((size_t)(n_eb * s->batch));
    for (int64_t i = 0; i < rows * p->a_kblocks; i++) d->ea[i] = (uint8_t)(120 + next_u32() % 15);
    for (int64_t i = 0; i < n_eb * s->batch; i++) d->eb[i] = (uint8_t)(120 + next_u32() % 15);
    if (next_u32() % 3 == 0) { /* extreme exponents: the kernels must not fold them in fp32 */
      uint32_t ia = next_u32() % (uint32_t)(rows * p->a_kblocks);
      d->ea[ia] = (uint8_t)(next_u32() & 1 ? 3 : 250);
      uint32_t ib = next_u32() % (uint32_t)(n_eb * s->batch);
      d->eb[ib] = (uint8_t)(next_u32() & 1 ? 2 : 240);
    }
    p->ea = d->ea;
    p->eb = d->eb;
  } else {
    d->sa = malloc((size_t)n_sa * sizeof(float));
    d->sb = malloc((size_t)(n_sb * s->batch) * sizeof(float));
    for (int64_t i = 0; i < n_sa; i++) d->sa[i] = s->kind == FP8G_SCALE_NONE ? 1.0f : rand_scale();
    for (int64_t i = 0; i < n_sb * s->batch; i++) d->sb[i] = s->kind == FP8G_SCALE_NONE ? 1.0f : rand_scale();
    p->sa = s->w8a16 ? NULL : d->sa;
    p->sb = d->sb;
  }
  /* bias */
  p->bias_kind = s->bias;
  int64_t n_bias = s->bias == FP8G_BIAS_SCALAR ? 1 : s->bias == FP8G_BIAS_COL ? n
                   : s->bias == FP8G_BIAS_ROW ? rows : s->bias == FP8G_BIAS_FULL ? rows * n : 0;
  if (n_bias) {
    d->bias = malloc((size_t)n_bias * sizeof(float));
    for (int64_t i = 0; i < n_bias; i++) d->bias[i] = ((float)(next_u32() % 201) - 100.0f) / 8.0f;
    p->bias = d->bias;
  }
  /* NaN injection */
  int64_t nr = next_u32() % (uint32_t)rows, nc = next_u32() % (uint32_t)n, nk = next_u32() % (uint32_t)k;
  if (s->nan_mode == 1) { /* a NaN weight code at (nk, nc) of batch nr / m */
    uint8_t nan_code = 0x80;
    for (int c = 0; c < 256; c++)
      if (isnan(fp8g_decode(s->b_dtype, (uint8_t)c))) { nan_code = (uint8_t)c; if (next_u32() & 1) break; }
    int64_t bt = nr / s->m;
    d->b[bt * per_batch + (s->nt ? nc * ld + nk : nk * ld + nc)] = nan_code;
  } else if (s->nan_mode == 2) {
    int64_t off = d->rows[nr] + nk * s->a_stride;
    if (fp8gemm_dtype_is_fp8(s->a_dtype)) {
      for (int c = 0; c < 256; c++)
        if (isnan(fp8g_decode(s->a_dtype, (uint8_t)c))) ((uint8_t *)d->a)[off] = (uint8_t)c;
    } else {
      store_wide(d->a, s->a_dtype, off, NAN);
    }
  } else if (s->nan_mode == 3) {
    if (s->kind == FP8G_SCALE_MX) d->eb[next_u32() % (uint32_t)(p->a_kblocks * n)] = 0xFF;
    else if (s->kind != FP8G_SCALE_NONE) d->sb[next_u32() % (uint32_t)n_sb] = NAN;
  }
  /* outputs and bounds */
  size_t osz = dtype_size(s->out_dtype);
  d->out_ref = malloc((size_t)(rows * n) * osz);
  d->out1 = malloc((size_t)(rows * n) * osz);
  d->out2 = malloc((size_t)(rows * n) * osz);
  d->bound = malloc((size_t)(rows * n) * sizeof(double));
  if (d->bound) compute_bounds(d);
  return d->a && d->rows && d->b && d->out_ref && d->out1 && d->out2 && d->bound;
}

static const char *kind_name(fp8g_scale_kind k) {
  static const char *const names[] = {"none", "tensor", "rowcol", "block", "mx"};
  return names[k];
}

static void describe(const case_spec *s, char *buf, size_t n) {
  snprintf(buf, n, "%s b%lld m%lld n%lld k%lld %s a=%s b=%s out=%s %s bk%lld bn%lld bias%d as%d perm%d nan%d range%d",
           s->w8a16 ? "w8a16" : "w8a8", (long long)s->batch, (long long)s->m, (long long)s->n,
           (long long)s->k, s->nt ? "NT" : "NN", fp8gemm_dtype_name(s->a_dtype),
           fp8gemm_dtype_name(s->b_dtype), fp8gemm_dtype_name(s->out_dtype), kind_name(s->kind),
           (long long)s->block_k, (long long)s->block_n, (int)s->bias, s->a_stride,
           (int)s->permuted_rows, s->nan_mode, s->a_range);
}

/* Compares `out` with the reference output; returns the number of mismatches. */
static long compare(const case_data *d, const void *out, const char *what, const char *desc) {
  const fp8g_gemm_problem *p = &d->p;
  long bad = 0;
  for (int64_t i = 0; i < p->batch * p->m * p->n; i++) {
    double ref = load_out(d->out_ref, p->out_dtype, i), got = load_out(out, p->out_dtype, i);
    bool ok;
    if (isnan(ref) || isnan(got)) ok = isnan(ref) && isnan(got);
    else if (isinf(ref) || isinf(got)) ok = ref == got;
    else {
      double big = fabs(ref) > fabs(got) ? fabs(ref) : fabs(got);
      ok = fabs(got - ref) <= d->bound[i] * 1.000001 + ulp_of(big, p->out_dtype);
    }
    if (!ok && ++bad <= 3)
      fprintf(stderr, "  %s [%s] out[%lld] = %.9g, reference %.9g, bound %.3g\n", what, desc,
              (long long)i, got, ref, d->bound[i]);
  }
  return bad;
}

/* describe + build_case; on failure the allocation failure is counted and d freed. */
static bool prepare_case(const case_spec *s, case_data *d, char *desc, size_t n) {
  describe(s, desc, n);
  if (build_case(s, d)) return true;
  CHECK(0, "allocation for %s", desc);
  free_case(d);
  return false;
}

/* Runs the case through `kern` with 1 and 2 threads; checks vs reference and bit equality. */
static void run_case(const case_spec *s, const fp8g_gemm_kernel *kern) {
  case_data d;
  char desc[256];
  if (!prepare_case(s, &d, desc, sizeof desc)) return;
  const fp8g_gemm_kernel *ref = s->w8a16 ? &fp8g_gemm_ref_w8a16 : &fp8g_gemm_ref_w8a8;
  size_t bytes = (size_t)(s->batch * s->m * s->n) * dtype_size(s->out_dtype);
  d.p.nthreads = 1;
  d.p.out = d.out_ref;
  CHECK(ref->run(&d.p) == FP8GEMM_OK, "reference runs: %s", desc);
  CHECK(kern->supports(&d.p), "%s supports %s", kern->name, desc);
  d.p.out = d.out1;
  CHECK(kern->run(&d.p) == FP8GEMM_OK, "%s runs: %s", kern->name, desc);
  d.p.nthreads = 2;
  d.p.out = d.out2;
  CHECK(kern->run(&d.p) == FP8GEMM_OK, "%s runs on 2 threads: %s", kern->name, desc);
  CHECK(compare(&d, d.out1, kern->name, desc) == 0, "%s within the bound of the reference: %s",
        kern->name, desc);
  CHECK(memcmp(d.out1, d.out2, bytes) == 0, "%s: 1 and 2 threads bitwise equal: %s", kern->name,
        desc);
  free_case(&d);
}

/* ------------------------------------------------------------ case generators */

static bool sanitized;

static const fp8gemm_dtype fp8_types[] = {FP8GEMM_E4M3FN, FP8GEMM_E5M2, FP8GEMM_E4M3FNUZ,
                                          FP8GEMM_E5M2FNUZ};
static fp8gemm_dtype rand_fp8(void) { return fp8_types[next_u32() % 4]; }
static const fp8gemm_dtype wide_types[] = {FP8GEMM_BF16, FP8GEMM_F16, FP8GEMM_F32};

static case_spec random_spec(bool w8a16, int64_t m, bool nt, fp8gemm_dtype b_dtype,
                             fp8g_scale_kind kind) {
  static const int64_t ns[] = {1, 7, 8, 9, 31, 33, 64, 97, 130, 257, 300};
  static const int64_t ks[] = {1, 2, 5, 31, 32, 33, 64, 100, 129, 257, 515};
  static const int64_t ns_small[] = {1, 7, 9, 33, 70};
  static const int64_t ks_small[] = {1, 5, 32, 37, 70};
  case_spec s = {0};
  s.w8a16 = w8a16;
  s.batch = 1;
  s.m = m;
  s.nt = nt;
  s.n = sanitized ? pick(ns_small, 5) : pick(ns, 11);
  s.k = sanitized ? pick(ks_small, 5) : pick(ks, 11);
  s.b_dtype = b_dtype;
  s.a_dtype = w8a16 ? wide_types[next_u32() % 3] : fp8_types[next_u32() % 4];
  s.out_dtype = w8a16 ? s.a_dtype : wide_types[next_u32() % 3];
  s.kind = kind;
  s.block_k = s.block_n = 1;
  if (kind == FP8G_SCALE_BLOCK) {
    static const int64_t gs[] = {32, 64, 128};
    s.block_k = w8a16 ? gs[next_u32() % 3] : 128;
    s.block_n = w8a16 ? ((next_u32() & 1) ? s.block_k : 1) : 128;
    if (next_u32() % 4 == 0) s.block_k = 40; /* not a multiple of the 32-wide steps */
  }
  if (kind == FP8G_SCALE_MX) {
    s.block_k = 32;
    s.block_n = 1;
    s.k = (s.k + 31) / 32 * 32;
  }
  s.bias = (fp8g_bias_kind)(next_u32() % 5);
  s.a_stride = 1 + (int)(next_u32() % 4 == 0);
  s.permuted_rows = next_u32() % 4 == 0;
  return s;
}

static void test_kernel_vs_reference(void) {
  static const fp8g_scale_kind w8a8_kinds[] = {FP8G_SCALE_NONE, FP8G_SCALE_TENSOR, FP8G_SCALE_ROWCOL,
                                               FP8G_SCALE_BLOCK, FP8G_SCALE_MX};
  static const fp8g_scale_kind w8a16_kinds[] = {FP8G_SCALE_NONE, FP8G_SCALE_TENSOR,
                                                FP8G_SCALE_ROWCOL, FP8G_SCALE_BLOCK};
  for (int w = 0; w < 2; w++) {
    const fp8g_gemm_kernel *kern = w ? &fp8g_gemv_avx2_w8a16 : &fp8g_gemv_avx2_w8a8;
    int nkinds = w ? 4 : 5;
    for (int64_t m = 1; m <= GEMV_ROWS_MAX; m++) {
      if (sanitized && m % 5 != 1 && m != 8) continue;
      for (int nt = 0; nt < 2; nt++)
        for (int t = 0; t < 4; t++)
          for (int kd = 0; kd < nkinds; kd++) {
            case_spec s = random_spec(w, m, nt, fp8_types[t], w ? w8a16_kinds[kd] : w8a8_kinds[kd]);
            run_case(&s, kern);
          }
    }
  }
}

static void test_batched(void) {
  for (int i = 0; i < (sanitized ? 6 : 40); i++) {
    bool w = i & 1;
    int64_t m = 1 + next_u32() % 4;
    bool nt = next_u32() & 1;
    fp8gemm_dtype bt = rand_fp8();
    case_spec s = random_spec(w, m, nt, bt, (fp8g_scale_kind)(next_u32() % (w ? 4 : 5)));
    s.batch = 1 + next_u32() % (GEMV_ROWS_MAX / m);
    run_case(&s, w ? &fp8g_gemv_avx2_w8a16 : &fp8g_gemv_avx2_w8a8);
  }
}

static void test_nan_propagation(void) {
  for (int i = 0; i < (sanitized ? 12 : 120); i++) {
    bool w = i & 1;
    int64_t m = 1 + next_u32() % GEMV_ROWS_MAX;
    case_spec s = random_spec(w, m, (i >> 1) & 1, fp8_types[(i >> 2) % 4],
                              (fp8g_scale_kind)(1 + next_u32() % (w ? 3 : 4)));
    s.nan_mode = 1 + (i / 8) % 3;
    run_case(&s, w ? &fp8g_gemv_avx2_w8a16 : &fp8g_gemv_avx2_w8a8);
  }
}

/* Wide activations beyond 2^16 (the F16C decoders) and tiny ones (the integer decoders
 * with activations near the bottom of their format) against the reference. */
static void test_activation_ranges(void) {
  for (int i = 0; i < (sanitized ? 8 : 96); i++) {
    int64_t m = 1 + next_u32() % GEMV_ROWS_MAX;
    case_spec s = random_spec(true, m, i & 1, (i >> 1) & 1 ? FP8GEMM_E5M2 : FP8GEMM_E4M3FN,
                              (fp8g_scale_kind)(next_u32() % 4));
    s.a_range = 1 + (i >> 2) % 2;
    run_case(&s, &fp8g_gemv_avx2_w8a16);
  }
}

/* The decoder a call uses never changes a bit: a row computed next to a row beyond 2^16
 * (the whole call on F16C decoders) equals the same row computed alone (integer ones).
 * Except where the integer route is the interleaved one (NT weights, M >= 4, K blocks
 * a multiple of 32 or none): its lanes sum the codes of a step in another order, so there
 * both calls are only checked against the reference. */
static void test_routes_agree(void) {
  for (int i = 0; i < (sanitized ? 8 : 64); i++) {
    case_spec s = random_spec(true, (i >> 4) & 1 ? 5 : 2, i & 1, (i >> 1) & 1 ? FP8GEMM_E5M2 : FP8GEMM_E4M3FN,
                              (fp8g_scale_kind)((i >> 2) % 4));
    s.a_dtype = FP8GEMM_F32;
    s.out_dtype = FP8GEMM_F32;
    s.a_stride = 1;
    s.permuted_rows = false;
    s.bias = FP8G_BIAS_NONE;
    case_data d;
    char desc[256];
    if (!prepare_case(&s, &d, desc, sizeof desc)) continue;
    float *a = (float *)d.a;
    int64_t row1 = d.rows[1];
    d.p.nthreads = 1;
    d.p.out = d.out1; /* both rows below 2^16 */
    CHECK(fp8g_gemv_avx2_w8a16.run(&d.p) == FP8GEMM_OK, "runs: %s", desc);
    bool blocks = s.kind == FP8G_SCALE_BLOCK || s.kind == FP8G_SCALE_MX;
    bool interleaved = s.nt && s.m >= 4 && !(blocks && s.block_k % 32 != 0);
    if (interleaved) {
      d.p.out = d.out_ref;
      CHECK(fp8g_gemm_ref_w8a16.run(&d.p) == FP8GEMM_OK, "reference runs: %s", desc);
      CHECK(compare(&d, d.out1, "interleaved", desc) == 0, "within the bound: %s", desc);
    }
    a[row1] = 70000.0f; /* row 1 now needs the F16C decoders */
    d.p.out = d.out2;
    CHECK(fp8g_gemv_avx2_w8a16.run(&d.p) == FP8GEMM_OK, "runs: %s", desc);
    if (!interleaved)
      CHECK(memcmp(d.out1, d.out2, (size_t)s.n * sizeof(float)) == 0,
            "row 0 is bitwise the same on both decoder routes: %s", desc);
    else {
      compute_bounds(&d);
      d.p.out = d.out_ref; /* the reference of the changed call */
      CHECK(fp8g_gemm_ref_w8a16.run(&d.p) == FP8GEMM_OK, "reference runs: %s", desc);
      CHECK(compare(&d, d.out2, "F16C", desc) == 0, "within the bound: %s", desc);
    }
    free_case(&d);
  }
}

/* MX weight scales read in place as the checkpoint's [N, K/32] (eb_ld > 0, with and
 * without padding between columns, per batch or shared) give the bits of the same call
 * with [K/32, N] codes, on 1 and 2 threads, NT and NN weights, the fold (8 x 8 transposed
 * blocks and their tails, n % 8 != 0 column groups) and the double path (extreme
 * exponents, NaN codes). The [K/32, N] call itself is checked against the reference. */
static void test_mx_scale_columns(void) {
  static const int64_t ns[] = {1, 7, 8, 9, 33, 64, 70, 130, 257};
  static const int64_t ks[] = {32, 64, 224, 256, 288, 544, 1056};
  for (int i = 0; i < (sanitized ? 12 : 160); i++) {
    int64_t m = 1 + next_u32() % GEMV_ROWS_MAX;
    case_spec s = random_spec(false, m, i % 4 != 3, rand_fp8(), FP8G_SCALE_MX);
    s.n = pick(ns, 9);
    s.k = pick(ks, 7);
    if (i % 5 == 4) { /* batched weights, scales per batch or shared */
      s.m = 1 + next_u32() % 4;
      s.batch = 1 + next_u32() % (GEMV_ROWS_MAX / s.m);
    }
    s.nan_mode = i % 9 == 8 ? 3 : 0;
    case_data d;
    char desc[256];
    if (!prepare_case(&s, &d, desc, sizeof desc)) continue;
    fp8g_gemm_problem *p = &d.p;
    size_t bytes = (size_t)(s.batch * s.m * s.n) * dtype_size(s.out_dtype);
    p->nthreads = 1;
    p->out = d.out_ref;
    CHECK(fp8g_gemm_ref_w8a8.run(p) == FP8GEMM_OK, "reference runs: %s", desc);
    p->out = d.out1;
    CHECK(fp8g_gemv_avx2_w8a8.run(p) == FP8GEMM_OK, "runs: %s", desc);
    CHECK(compare(&d, d.out1, "gemv_avx2 [K/32, N]", desc) == 0, "within the bound: %s", desc);
    int64_t kb = p->a_kblocks, ld = kb + (i & 1 ? 0 : 1 + (int64_t)(next_u32() % 7));
    int64_t batches = p->sb_batch_stride ? s.batch : 1;
    uint8_t *cols = malloc((size_t)(batches * s.n * ld));
    if (!cols) {
      CHECK(0, "allocation for %s", desc);
      free_case(&d);
      continue;
    }
    memset(cols, 0xFF, (size_t)(batches * s.n * ld)); /* padding: NaN codes, never read */
    for (int64_t b = 0; b < batches; b++)
      for (int64_t q = 0; q < kb; q++)
        for (int64_t j = 0; j < s.n; j++)
          cols[b * s.n * ld + j * ld + q] = d.eb[b * p->sb_batch_stride + q * s.n + j];
    fp8g_gemm_problem cp = *p;
    cp.eb = cols;
    cp.eb_ld = ld;
    cp.sb_batch_stride = p->sb_batch_stride ? s.n * ld : 0;
    for (int t = 1; t <= 2; t++) {
      cp.nthreads = t;
      cp.out = d.out2;
      memset(d.out2, 0, bytes);
      CHECK(fp8g_gemv_avx2_w8a8.run(&cp) == FP8GEMM_OK, "runs with eb_ld %lld: %s", (long long)ld, desc);
      CHECK(memcmp(d.out1, d.out2, bytes) == 0,
            "[N, K/32] codes (eb_ld %lld, %d threads) give the bits of [K/32, N]: %s", (long long)ld, t, desc);
    }
    free(cols);
    free_case(&d);
  }
}

/* The MX fold is decided per group of 8 columns from that group's weight codes. Here
 * every activation and weight is a small code (fp8 subnormals), activation exponents are
 * 0, and each column group gets codes that fold (120..134), codes 0..4 (folded, the
 * 32-code step sums would fall below fp32's normal range and lose bits; such a group
 * must be scaled in double, and its outputs are small subnormals the reference gets
 * exactly) or normal codes with a NaN code (0xFF) somewhere; or activation exponents 40
 * and every group's codes 0..2, which fold (code 0 is fp32's subnormal 2^-127). Against
 * the reference and
 * 1 vs 2 threads, [K/32, N] and [N, K/32] codes alike. */
static void test_mx_group_fold(void) {
  static const int64_t ns[] = {9, 24, 67, 131};
  static const int64_t ks[] = {256, 288, 544};
  for (int i = 0; i < (sanitized ? 6 : 48); i++) {
    fp8gemm_dtype bt = i & 1 ? FP8GEMM_E5M2 : FP8GEMM_E4M3FN;
    case_spec s = random_spec(false, 1 + next_u32() % GEMV_ROWS_MAX, true, bt, FP8G_SCALE_MX);
    s.n = ns[i / 2 % 4];
    s.k = ks[i / 8 % 3];
    s.a_dtype = FP8GEMM_E4M3FN;
    s.out_dtype = i % 3 ? FP8GEMM_F32 : FP8GEMM_BF16;
    s.bias = FP8G_BIAS_NONE;
    case_data d;
    char desc[256];
    if (!prepare_case(&s, &d, desc, sizeof desc)) continue;
    fp8g_gemm_problem *p = &d.p;
    int64_t rows = s.m, kb = p->a_kblocks, ldb = p->b_stride_n;
    uint8_t small = bt == FP8GEMM_E5M2 ? 0x03 : 0x07; /* subnormal mantissas */
    for (int64_t col = 0; col < s.n; col++)
      for (int64_t kk = 0; kk < s.k; kk++)
        d.b[col * ldb + kk] = rand_small_code(small);
    for (int64_t r = 0; r < rows; r++) {
      for (int64_t kk = 0; kk < s.k; kk++)
        ((uint8_t *)d.a)[d.rows[r] + kk * s.a_stride] = rand_small_code(7);
      for (int64_t q = 0; q < kb; q++) d.ea[r * kb + q] = (uint8_t)(i % 4 == 3 ? 167 : 127);
    }
    int low = 0;
    for (int64_t g = 0; g * 8 < s.n; g++) {
      int mode = i % 4 == 3 ? 3 : (int)((g + (int64_t)i) % 3);
      if (mode == 3) { /* activations times 2^40: codes 0..2 fold, 0 as the subnormal 2^-127 */
        for (int64_t j = g * 8; j < s.n && j < g * 8 + 8; j++)
          for (int64_t q = 0; q < kb; q++) d.eb[q * s.n + j] = (uint8_t)(next_u32() % 3);
        continue;
      }
      low += mode == 1;
      for (int64_t j = g * 8; j < s.n && j < g * 8 + 8; j++)
        for (int64_t q = 0; q < kb; q++)
          d.eb[q * s.n + j] = (uint8_t)(mode == 1 ? next_u32() % 5 : 120 + next_u32() % 15);
      if (mode == 2) d.eb[(int64_t)(next_u32() % (uint32_t)kb) * s.n + g * 8] = 0xFF;
    }
    compute_bounds(&d);
    size_t bytes = (size_t)(rows * s.n) * dtype_size(s.out_dtype);
    p->nthreads = 1;
    p->out = d.out_ref;
    CHECK(fp8g_gemm_ref_w8a8.run(p) == FP8GEMM_OK, "reference runs: %s", desc);
    p->out = d.out1;
    CHECK(fp8g_gemv_avx2_w8a8.run(p) == FP8GEMM_OK, "runs: %s", desc);
    CHECK(compare(&d, d.out1, "gemv_avx2 MX groups", desc) == 0,
          "MX groups (%d of them low) within the bound: %s", low, desc);
    uint8_t *cols = malloc((size_t)(s.n * kb));
    if (cols) {
      for (int64_t q = 0; q < kb; q++)
        for (int64_t j = 0; j < s.n; j++) cols[j * kb + q] = d.eb[q * s.n + j];
      fp8g_gemm_problem cp = *p;
      cp.eb = cols;
      cp.eb_ld = kb;
      cp.nthreads = 2;
      cp.out = d.out2;
      CHECK(fp8g_gemv_avx2_w8a8.run(&cp) == FP8GEMM_OK, "runs: %s", desc);
      CHECK(memcmp(d.out1, d.out2, bytes) == 0, "MX groups: [N, K/32] on 2 threads gives the bits: %s", desc);
    }
    free(cols);
    free_case(&d);
  }
}

/* Runs d's problem through gemv_avx2 with [K/32, N] codes (or the fp32 block scales) on
 * 1, 2 and 3 threads and, for MX, with the same codes as [N, K/32] at leading dimension
 * ld (padding 0xFF): every output within the reference's bound, all bitwise equal. */
static void check_layouts_and_threads(case_data *d, const case_spec *s, const char *desc, int64_t pad) {
  fp8g_gemm_problem *p = &d->p;
  const fp8g_gemm_kernel *kern = s->w8a16 ? &fp8g_gemv_avx2_w8a16 : &fp8g_gemv_avx2_w8a8;
  const fp8g_gemm_kernel *ref = s->w8a16 ? &fp8g_gemm_ref_w8a16 : &fp8g_gemm_ref_w8a8;
  size_t bytes = (size_t)(s->batch * s->m * s->n) * dtype_size(s->out_dtype);
  p->nthreads = 1;
  p->out = d->out_ref;
  CHECK(ref->run(p) == FP8GEMM_OK, "reference runs: %s", desc);
  p->out = d->out1;
  CHECK(kern->run(p) == FP8GEMM_OK, "runs: %s", desc);
  CHECK(compare(d, d->out1, kern->name, desc) == 0, "within the bound: %s", desc);
  for (int t = 2; t <= 3; t++) {
    p->nthreads = t;
    p->out = d->out2;
    memset(d->out2, 0x5A, bytes);
    CHECK(kern->run(p) == FP8GEMM_OK, "runs: %s", desc);
    CHECK(memcmp(d->out1, d->out2, bytes) == 0, "%d threads bitwise = 1 thread: %s", t, desc);
  }
  if (s->kind != FP8G_SCALE_MX) return;
  int64_t kb = p->a_kblocks, ld = kb + pad, batches = p->sb_batch_stride ? s->batch : 1;
  size_t nb = (size_t)(batches * s->n * ld);
  uint8_t *cols = malloc(nb ? nb : 1);
  CHECK(cols != NULL, "allocation for %s", desc);
  if (!cols) return;
  memset(cols, 0xFF, nb); /* padding: NaN codes, never read */
  for (int64_t b = 0; b < batches; b++)
    for (int64_t q = 0; q < kb; q++)
      for (int64_t j = 0; j < s->n; j++)
        cols[b * s->n * ld + j * ld + q] = d->eb[b * p->sb_batch_stride + q * s->n + j];
  fp8g_gemm_problem cp = *p;
  cp.eb = cols;
  cp.eb_ld = ld;
  cp.sb_batch_stride = p->sb_batch_stride ? s->n * ld : 0;
  for (int t = 1; t <= 3; t++) {
    cp.nthreads = t;
    cp.out = d->out2;
    memset(d->out2, 0x5A, bytes);
    CHECK(kern->run(&cp) == FP8GEMM_OK, "runs: %s", desc);
    CHECK(memcmp(d->out1, d->out2, bytes) == 0, "[N, K/32] ld %lld on %d threads bitwise: %s",
          (long long)ld, t, desc);
  }
  free(cols);
}

/* MX weight codes per 8-column group, read in place or not: N = 1..17 and around the
 * 64-column panels, K / 32 below, at and past 8 (the 8 x 8 transposes and their tail),
 * K not a multiple of 32 (the kernel takes ceil(K / 32) blocks), batched weights with
 * per-batch or shared scales. Activation codes normal, all 2^40, all 2^-60 or mixed;
 * each group's weight codes (per batch) one of: normal (0), 0..5 (1), 200..219 (2),
 * normal with one NaN (3), 0..2 (4: fold against 2^40 activations), all 254 (5), any
 * finite code (6). Against the reference, 1..3 threads, both layouts bitwise. */
static void test_mx_group_codes(void) {
  static const int64_t ns[] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12,
                               13, 14, 15, 16, 17, 63, 64, 65, 127, 129, 200};
  static const int64_t ks[] = {32, 64, 96, 224, 256, 288, 320, 480, 512, 544, 100, 250, 1000};
  for (int i = 0; i < (sanitized ? 40 : 600); i++) {
    int64_t m = 1 + next_u32() % GEMV_ROWS_MAX;
    fp8gemm_dtype bt = fp8_types[next_u32() % 4];
    case_spec s = random_spec(false, m, i % 5 != 4, bt, FP8G_SCALE_MX);
    s.n = pick(ns, 23);
    s.k = pick(ks, 13);
    if (i % 3 == 2) {
      s.m = 1 + next_u32() % 4;
      s.batch = 1 + next_u32() % (GEMV_ROWS_MAX / s.m);
    }
    case_data d;
    char desc[256];
    if (!prepare_case(&s, &d, desc, sizeof desc)) continue;
    fp8g_gemm_problem *p = &d.p;
    int64_t kb = p->a_kblocks, rows = s.batch * s.m;
    int64_t nbat = p->sb_batch_stride ? s.batch : 1;
    int amode = next_u32() % 4; /* ea: 0 normal, 1 high (2^40), 2 low (2^-60), 3 mixed */
    for (int64_t r = 0; r < rows * kb; r++)
      d.ea[r] = (uint8_t)(amode == 1   ? 167
                          : amode == 2 ? 67
                          : amode == 3 ? 100 + next_u32() % 60
                                       : 120 + next_u32() % 15);
    char modes[64] = {0};
    for (int64_t b = 0; b < nbat; b++)
      for (int64_t g = 0; g * 8 < s.n; g++) {
        int mode = next_u32() % 7;
        if (g < 63) modes[g] = (char)('0' + mode);
        for (int64_t j = g * 8; j < s.n && j < g * 8 + 8; j++)
          for (int64_t q = 0; q < kb; q++) {
            uint8_t *e = &d.eb[b * p->sb_batch_stride + q * s.n + j];
            switch (mode) {
              case 0: *e = (uint8_t)(120 + next_u32() % 15); break;
              case 1: *e = (uint8_t)(next_u32() % 6); break;
              case 2: *e = (uint8_t)(200 + next_u32() % 20); break;
              case 3: *e = (uint8_t)(120 + next_u32() % 15); break;
              case 4: *e = (uint8_t)(next_u32() % 3); break;
              case 5: *e = 254; break;
              default: *e = (uint8_t)(next_u32() % 255); break;
            }
          }
        if (mode == 3) {
          int64_t j = g * 8 + (int64_t)(next_u32() % 8);
          if (j >= s.n) j = s.n - 1;
          d.eb[b * p->sb_batch_stride + (int64_t)(next_u32() % (uint32_t)kb) * s.n + j] = 0xFF;
        }
      }
    compute_bounds(&d);
    char full[400];
    snprintf(full, sizeof full, "%s ea%d groups %s", desc, amode, modes);
    check_layouts_and_threads(&d, &s, full, i % 2 ? 0 : 1 + next_u32() % 9);
    free_case(&d);
  }
}

/* Block scales with block_n not 128 (and not dividing 8 or N), block_k multiples of 32
 * and not, w8a8 and w8a16, small and panel-edge N, batched. */
static void test_block_scale_widths(void) {
  static const int64_t ns[] = {1, 5, 8, 9, 15, 16, 17, 63, 64, 65, 127, 129, 200};
  static const int64_t ks[] = {32, 64, 96, 100, 128, 256, 288, 300, 544};
  static const int64_t bns[] = {1, 2, 3, 4, 5, 7, 8, 9, 12, 16, 24, 60, 64, 100, 128, 256};
  static const int64_t bks[] = {32, 64, 96, 128, 160, 40, 256};
  for (int i = 0; i < (sanitized ? 40 : 500); i++) {
    bool w = i & 1;
    int64_t m = 1 + next_u32() % GEMV_ROWS_MAX;
    fp8gemm_dtype bt = fp8_types[next_u32() % 4];
    case_spec s = random_spec(w, m, i % 5 != 4, bt, FP8G_SCALE_BLOCK);
    s.n = pick(ns, 13);
    s.k = pick(ks, 9);
    s.block_n = pick(bns, 16);
    s.block_k = pick(bks, 7);
    if (i % 3 == 2) {
      s.m = 1 + next_u32() % 4;
      s.batch = 1 + next_u32() % (GEMV_ROWS_MAX / s.m);
    }
    if (i % 11 == 10) s.nan_mode = 3;
    case_data d;
    char desc[256];
    if (!prepare_case(&s, &d, desc, sizeof desc)) continue;
    check_layouts_and_threads(&d, &s, desc, 0);
    free_case(&d);
  }
}

/* One code decides a group's fold: in each 8-column group a single (column, K block)
 * position, anywhere in the 8 x 8 transposed blocks or their tail, gets a code that must
 * not fold (a low code while the rest of the group folds, or NaN); the column's other K
 * blocks have zero weights, so its output is that block's alone: a small f32 subnormal
 * (folding it would round each lane's step sum to a subnormal) or NaN. Against the
 * reference, [K/32, N] and [N, K/32] codes, 1..3 threads. */
static void test_mx_one_code_decides(void) {
  static const int64_t ns[] = {8, 9, 16, 24, 65, 131};
  static const int64_t ks[] = {96, 256, 288, 512, 544};
  for (int i = 0; i < (sanitized ? 16 : 240); i++) {
    fp8gemm_dtype bt = i & 1 ? FP8GEMM_E5M2 : FP8GEMM_E4M3FN;
    case_spec s = random_spec(false, 1 + next_u32() % GEMV_ROWS_MAX, true, bt, FP8G_SCALE_MX);
    s.n = pick(ns, 6);
    s.k = pick(ks, 5);
    s.a_dtype = FP8GEMM_E4M3FN;
    s.out_dtype = FP8GEMM_F32;
    s.bias = FP8G_BIAS_NONE;
    case_data d;
    char desc[256];
    if (!prepare_case(&s, &d, desc, sizeof desc)) continue;
    fp8g_gemm_problem *p = &d.p;
    int64_t kb = p->a_kblocks, ldb = p->b_stride_n;
    uint8_t small = bt == FP8GEMM_E5M2 ? 0x03 : 0x07; /* subnormal mantissas */
    for (int64_t r = 0; r < s.m; r++) {
      for (int64_t kk = 0; kk < s.k; kk++)
        ((uint8_t *)d.a)[d.rows[r] + kk * s.a_stride] = rand_small_code(7);
      for (int64_t q = 0; q < kb; q++) d.ea[r * kb + q] = 127;
    }
    for (int64_t col = 0; col < s.n; col++)
      for (int64_t kk = 0; kk < s.k; kk++)
        d.b[col * ldb + kk] = rand_small_code(small);
    for (int64_t q = 0; q < kb; q++)
      for (int64_t j = 0; j < s.n; j++) d.eb[q * s.n + j] = (uint8_t)(126 + next_u32() % 4);
    for (int64_t g = 0; g * 8 < s.n; g++) {
      int64_t nc = s.n - g * 8 < 8 ? s.n - g * 8 : 8;
      int64_t jj = g * 8 + (int64_t)(next_u32() % (uint32_t)nc), qq = next_u32() % (uint32_t)kb;
      if ((g + i) % 3 == 2) {
        d.eb[qq * s.n + jj] = 0xFF;
        continue;
      }
      d.eb[qq * s.n + jj] = (uint8_t)(next_u32() % 5);
      for (int64_t kk = 0; kk < s.k; kk++)
        if (kk / 32 != qq) d.b[jj * ldb + kk] = 0;
    }
    compute_bounds(&d);
    check_layouts_and_threads(&d, &s, desc, i % 2 ? 0 : 1 + next_u32() % 9);
    free_case(&d);
  }
}

/* The MX fold is decided per 8-column group, from that group's codes alone: giving one
 * group a NaN or a too-small code leaves every other group's bits as they were (a
 * decision per panel or per call would change them). The changed group's own columns
 * may change bits: folded and double paths round differently. */
static void test_mx_fold_per_group(void) {
  static const int64_t ns[] = {16, 24, 65, 131};
  for (int i = 0; i < (sanitized ? 4 : 40); i++) {
    int64_t m = 1 + next_u32() % 4;
    case_spec s = random_spec(false, m, true, rand_fp8(), FP8G_SCALE_MX);
    s.n = pick(ns, 4);
    s.k = 32 * (int64_t)(1 + next_u32() % 20);
    s.out_dtype = FP8GEMM_F32;
    s.a_dtype = FP8GEMM_E4M3FN;
    case_data d;
    char desc[256];
    if (!prepare_case(&s, &d, desc, sizeof desc)) continue;
    fp8g_gemm_problem *p = &d.p;
    int64_t kb = p->a_kblocks, rows = s.m;
    for (int64_t q = 0; q < rows * kb; q++) d.ea[q] = (uint8_t)(120 + next_u32() % 15);
    for (int64_t q = 0; q < kb * s.n; q++) d.eb[q] = (uint8_t)(120 + next_u32() % 15);
    p->nthreads = 1 + (i & 1);
    p->out = d.out1;
    CHECK(fp8g_gemv_avx2_w8a8.run(p) == FP8GEMM_OK, "runs: %s", desc);
    int64_t groups = (s.n + 7) / 8, g = next_u32() % (uint32_t)groups;
    int64_t j = g * 8 + (int64_t)(next_u32() % 8), q = next_u32() % (uint32_t)kb;
    d.eb[q * s.n + (j < s.n ? j : s.n - 1)] = (uint8_t)(i % 4 < 2 ? 0xFF : 2);
    p->out = d.out2;
    CHECK(fp8g_gemv_avx2_w8a8.run(p) == FP8GEMM_OK, "runs: %s", desc);
    int64_t changed = 0;
    for (int64_t r = 0; r < rows; r++)
      for (int64_t col = 0; col < s.n; col++) {
        const float *o1 = (const float *)d.out1 + r * s.n + col, *o2 = (const float *)d.out2 + r * s.n + col;
        changed += col / 8 != g && memcmp(o1, o2, sizeof(float)) != 0;
      }
    CHECK(changed == 0, "a code in group %lld changed %lld outputs of other groups: %s", (long long)g,
          (long long)changed, desc);
    free_case(&d);
  }
}

/* The MX weight scale of d as the checkpoint's [N, K/32] (NULL: no memory); with bad >= 0
 * column bad's first code becomes `code` (an extreme or NaN exponent). */
static uint8_t *mx_columns(case_data *d, int64_t n, int64_t bad, uint8_t code) {
  fp8g_gemm_problem *p = &d->p;
  int64_t kb = p->a_kblocks;
  uint8_t *cols = malloc((size_t)(n * kb));
  if (!cols) return NULL;
  for (int64_t q = 0; q < kb; q++)
    for (int64_t j = 0; j < n; j++) cols[j * kb + q] = d->eb[q * n + j];
  if (bad >= 0) cols[bad * kb] = code;
  p->eb = cols;
  p->eb_ld = kb;
  return cols;
}

/* Runs d's problem with kern on the whole of N into d->out1, then on each group of `width`
 * columns alone (views of the weights, scales and bias at the group's first column) into
 * d->out2, and counts the outputs whose bits differ (NaN: any NaN). cols: the MX scale of
 * mx_columns. Returns -1 as soon as kern hands a call to gemv_avx2 (another kernel, other
 * sums: nothing to compare). */
static long column_views_differ(const case_spec *s, case_data *d, const fp8g_gemm_kernel *kern,
                                const uint8_t *cols, int64_t width, const char *desc, long *groups) {
  fp8g_gemm_problem *p = &d->p;
  long fell = fp8g_gemv_bf16_fallbacks();
  p->out = d->out1;
  CHECK(kern->run(p) == FP8GEMM_OK, "runs: %s", desc);
  if (fp8g_gemv_bf16_fallbacks() != fell) return -1;
  size_t osz = dtype_size(s->out_dtype);
  long bad = 0;
  for (int64_t j0 = 0; j0 < s->n; j0 += width, (*groups)++) {
    fp8g_gemm_problem v = *p;
    v.n = s->n - j0 < width ? s->n - j0 : width;
    v.b = p->b + j0 * p->b_stride_n;
    if (s->kind == FP8G_SCALE_ROWCOL) v.sb = p->sb + j0;
    if (s->kind == FP8G_SCALE_BLOCK) v.sb = p->sb + j0 / p->block_n; /* rows stay b_nblocks apart */
    if (s->kind == FP8G_SCALE_MX) v.eb = cols + j0 * p->a_kblocks;
    if (s->bias == FP8G_BIAS_COL) v.bias = p->bias + j0;
    v.out = d->out2;
    CHECK(kern->run(&v) == FP8GEMM_OK, "runs on columns %lld..: %s", (long long)j0, desc);
    if (fp8g_gemv_bf16_fallbacks() != fell) return -1;
    for (int64_t r = 0; r < s->m; r++)
      for (int64_t j = 0; j < v.n; j++) {
        double whole = load_out(d->out1, s->out_dtype, r * s->n + j0 + j);
        double alone = load_out(d->out2, s->out_dtype, r * v.n + j);
        bool same = isnan(whole) ? isnan(alone)
                                 : memcmp((const char *)d->out1 + (size_t)(r * s->n + j0 + j) * osz,
                                          (const char *)d->out2 + (size_t)(r * v.n + j) * osz, osz) == 0;
        if (!same && ++bad <= 3)
          fprintf(stderr, "  [%s] row %lld col %lld: %.9g in the whole call, %.9g alone\n", desc,
                  (long long)r, (long long)(j0 + j), whole, alone);
      }
  }
  return bad;
}

/* NT column groups of 8 run as quads (tile j takes column j of four groups) where a
 * panel has 32 columns left, alone elsewhere. A column's bits must not depend on that:
 * each group run alone, as a view of the weights, scales and bias starting at its first
 * column, gives the bits the whole call gave it. Every scale kind (MX with the codes
 * read as [N, K/32], so that a view is a pointer; groups that do not fold or that hold a
 * NaN code included), W8A8 and W8A16, M up to 16 (several row groups), 1 and 2 threads. */
static void test_nt_quads_match_groups(void) {
  static const int64_t ns[] = {32, 40, 64, 65, 100, 131};
  static const fp8g_scale_kind kinds[] = {FP8G_SCALE_NONE, FP8G_SCALE_TENSOR, FP8G_SCALE_ROWCOL,
                                          FP8G_SCALE_BLOCK, FP8G_SCALE_MX};
  long groups = 0;
  for (int i = 0; i < (sanitized ? 10 : 100); i++) {
    bool w8a16 = i % 3 == 2;
    fp8g_scale_kind kind = kinds[i % (w8a16 ? 4 : 5)];
    int64_t m = 1 + next_u32() % GEMV_ROWS_MAX;
    case_spec s = random_spec(w8a16, m, true, rand_fp8(), kind);
    s.n = pick(ns, 6);
    /* block_n: 1 and 8 rebuild each group's fold table, 16 and more reuse it from the
     * group's previous quad (cs_key per group); any width that keeps the 8 columns of a
     * group in one block or divides 8 lets a group be a view */
    static const int64_t bns[] = {1, 8, 16, 24, 128};
    if (kind == FP8G_SCALE_BLOCK) s.block_n = pick(bns, 5);
    if (s.bias == FP8G_BIAS_FULL) s.bias = FP8G_BIAS_COL; /* [rows, N]: no column view */
    s.nan_mode = i % 7 == 3 ? 1 : 0;
    case_data d;
    char desc[256];
    if (!prepare_case(&s, &d, desc, sizeof desc)) continue;
    const fp8g_gemm_kernel *kern = w8a16 ? &fp8g_gemv_avx2_w8a16 : &fp8g_gemv_avx2_w8a8;
    uint8_t *cols = NULL;
    if (kind == FP8G_SCALE_MX) { /* [N, K/32]; one group in four with an extreme code */
      int64_t at = i % 2 ? (int64_t)(next_u32() % (uint32_t)s.n) : -1;
      cols = mx_columns(&d, s.n, at, (uint8_t)(i % 4 == 1 ? 0xFF : 2));
      if (!cols) {
        CHECK(0, "allocation for %s", desc);
        free_case(&d);
        continue;
      }
    }
    d.p.nthreads = 1 + (i & 1);
    long bad = column_views_differ(&s, &d, kern, cols, 8, desc, &groups);
    CHECK(bad == 0, "NT column groups alone give the bits of the whole call: %s", desc);
    free(cols);
    free_case(&d);
  }
  CHECK(groups > 0, "quad test ran %ld column groups", groups);
}

/* Under denormals-are-zero (a host built with -ffast-math) the kernels must still use
 * every weight: subnormal fp8 codes may not vanish. Weights are all subnormal codes
 * here, activations and scales are normal, so the reference is unaffected by DAZ. */
static void test_daz_keeps_subnormal_weights(void) {
  static const fp8gemm_dtype types[] = {FP8GEMM_E4M3FN, FP8GEMM_E5M2};
  unsigned saved = _mm_getcsr();
  for (int i = 0; i < (sanitized ? 4 : 16); i++) {
    case_spec s = random_spec(false, 1 + i % 4, i & 1, types[(i >> 1) & 1], FP8G_SCALE_ROWCOL);
    s.out_dtype = FP8GEMM_F32;
    case_data d;
    char desc[256];
    if (!prepare_case(&s, &d, desc, sizeof desc)) continue;
    int64_t nbytes = (s.nt ? s.n * (s.k + 5) : s.k * (s.n + 3)) * s.batch;
    uint8_t mant = s.b_dtype == FP8GEMM_E5M2 ? 3 : 7; /* zero exponent field, mantissa != 0 */
    for (int64_t j = 0; j < nbytes; j++) d.b[j] = (uint8_t)((d.b[j] & 0x80) | (1 + d.b[j] % mant));
    d.p.nthreads = 1;
    d.p.out = d.out_ref;
    fp8g_gemm_ref_w8a8.run(&d.p);
    _mm_setcsr(saved | 0x8040u); /* FTZ | DAZ */
    d.p.out = d.out1;
    fp8gemm_status st = fp8g_gemv_avx2_w8a8.run(&d.p);
    _mm_setcsr(saved);
    CHECK(st == FP8GEMM_OK && compare(&d, d.out1, "gemv_avx2 (DAZ)", desc) == 0,
          "subnormal weights count under DAZ/FTZ: %s", desc);
    free_case(&d);
  }
}

/* Weights whose non-finite codes sit at every position of a 32-wide decode step:
 * e4m3fn's NaN pair, e5m2's Inf and NaN codes. */
static void test_special_code_positions(fp8gemm_dtype dtype) {
  static const uint8_t e4m3[] = {0x7F, 0xFF}, e5m2[] = {0x7C, 0xFC, 0x7E, 0xFF};
  for (int pos = 0; pos < 40; pos += sanitized ? 13 : 1) {
    /* M >= 4 takes the interleaved routes on NT weights (5: a 4-row and a 1-row tile) */
    case_spec s = random_spec(false, 1 + pos % 5, pos & 1, dtype, FP8G_SCALE_TENSOR);
    s.out_dtype = FP8GEMM_F32; /* e5m2 sums can overflow bf16 / f16 on their own */
    s.n = 70;
    s.k = 70;
    case_data d;
    char desc[256];
    if (!prepare_case(&s, &d, desc, sizeof desc)) continue;
    int64_t kk = pos, col = pos;
    uint8_t *at = &d.b[s.nt ? col * (s.k + 5) + kk : kk * (s.n + 3) + col], saved = *at;
    *at = dtype == FP8GEMM_E5M2 ? e5m2[(pos >> 1) % 4] : e4m3[(pos >> 1) % 2];
    d.p.nthreads = 1;
    d.p.out = d.out_ref;
    fp8g_gemm_ref_w8a8.run(&d.p);
    d.p.out = d.out1;
    fp8g_gemv_avx2_w8a8.run(&d.p);
    long bad_cols = 0;
    for (int64_t j = 0; j < s.n; j++)
      bad_cols += !isfinite(load_out(d.out1, s.out_dtype, j));
    CHECK(compare(&d, d.out1, "gemv_avx2", desc) == 0 && bad_cols == 1,
          "%s code at k=%d col=%d reaches exactly its column (%ld non-finite columns): %s",
          fp8gemm_dtype_name(dtype), pos, pos, bad_cols, desc);
    /* the other columns of the recomputed tile (table route) keep the fast route's bits */
    *at = saved;
    d.p.out = d.out2;
    fp8g_gemv_avx2_w8a8.run(&d.p);
    long diff = 0;
    for (int64_t i = 0; i < s.m; i++)
      for (int64_t j = 0; j < s.n; j++)
        if (j != col) diff += memcmp((float *)d.out1 + i * s.n + j, (float *)d.out2 + i * s.n + j, sizeof(float)) != 0;
    CHECK(diff == 0, "%s code at k=%d col=%d: the other columns bitwise as without it (%ld differ): %s",
          fp8gemm_dtype_name(dtype), pos, pos, diff, desc);
    free_case(&d);
  }
}

/* The interleaved NT routes (GEMV_DEC_*_X, TABLE_X) run directly on tiles: activations
 * permuted per 32-K group as the driver does (a'[32g + 8r + j] = a[32g + 4j + r]), one
 * activation per row set to 1 (the others 0), so each part must be exactly the table
 * value of the code at that K, times the step factor when scaled: a wrong lane pairing,
 * mask or shift shows up as another code's value. Every code of e4m3fn / e5m2 at
 * positions sweeping all 32 byte places, mr 1..4, cn 1 and 4, nk multiples of 32 and
 * ragged (< 32 too). Inf / NaN codes: the integer route reports them (returns 1) and
 * the table route gives the reference's non-finite value in exactly that column. */
static void test_nt_interleaved_tiles(void) {
  static const int64_t nks[] = {32, 64, 96, 5, 31, 37, 70};
  static const fp8gemm_dtype types[] = {FP8GEMM_E4M3FN, FP8GEMM_E5M2};
  for (int ty = 0; ty < 2; ty++) {
    fp8gemm_dtype dt = types[ty];
    int route = ty ? GEMV_DEC_E5M2_X : GEMV_DEC_E4M3FN_X;
    float table[256];
    for (int code = 0; code < 256; code++)
      table[code] = (float)ldexp(fp8g_decode(dt, (uint8_t)code), ty ? -112 : -120);
    for (int ni = 0; ni < 7; ni++) {
      int64_t nk = nks[ni], lda = (nk + 31) / 32 * 32, ldb = nk + 3, nsteps = lda / 32;
      uint8_t *b = malloc((size_t)(4 * ldb));
      float *a = malloc((size_t)(4 * lda) * sizeof(float));
      /* part and cscale with the driver's layouts: columns 1 apart (adjacent tiles) or
       * more (a quad's columns are 8 apart; 3 here), rows / steps NT_LD apart; or cscale
       * column-major (steps 1 apart, columns nsteps + 1: the driver's MX table for codes
       * read in place), so the tile's cscale and part column strides are checked apart */
      enum { NT_LD = 12 };
      float *cscale = malloc((size_t)(nsteps * NT_LD) * sizeof(float));
      for (int64_t q = 0; q < nsteps * NT_LD; q++) cscale[q] = ldexpf(1.0f, (int)(q % 5) - 2);
      long bad = 0, calls = 0;
      for (int mr = 1; mr <= 4; mr++)
        for (int cn = 1; cn <= 4; cn += 3)
          for (int code = 0; code < 256; code += sanitized ? 7 : 1)
            for (int scaled = 0; scaled < 2; scaled++) {
              for (int64_t i = 0; i < 4 * ldb; i++) b[i] = finite_code(dt);
              int64_t hot[4];
              int col = code % cn;
              for (int i = 0; i < mr; i++) {
                hot[i] = (code * 5 + i * 11 + scaled * 3) % nk;
                for (int64_t kk = 0; kk < lda; kk++) a[i * lda + kk] = 0.0f;
                int64_t g = hot[i] / 32 * 32, r = hot[i] % 32;
                a[i * lda + g + 8 * (r % 4) + r / 4] = 1.0f; /* permuted place of hot[i] */
              }
              /* the code at row 0's hot place, in column col; rows > 0 read other codes */
              b[col * ldb + hot[0]] = (uint8_t)code;
              bool special = is_special(dt, (uint8_t)code);
              float part[4 * NT_LD];
              int64_t cst = 1 + 2 * ((code & 1) ^ scaled);
              bool colmaj = (code >> 1) & 1;
              int64_t ldcs = colmaj ? 1 : NT_LD, cs_cst = colmaj ? nsteps + 1 : cst;
              gemv_nt_tile t = {.b = b, .ldb = ldb, .a = a, .lda = lda, .part = part,
                                .ldpart = NT_LD, .cstride = cst, .nk = nk, .table = table,
                                .cscale = scaled ? cscale : NULL, .ldcs = ldcs,
                                .cs_cstride = cs_cst, .next = b, .next_cols = 0};
              for (int rt = 0; rt < 2; rt++) {
                for (int i = 0; i < 4 * NT_LD; i++) part[i] = -1.0f;
                int ret = gemv_avx2_nt_tile(&t, mr, cn, rt ? GEMV_DEC_TABLE_X : route);
                calls++;
                if (!rt && special) {
                  bad += ret != 1;
                  continue;
                }
                bad += ret != 0;
                for (int i = 0; i < mr; i++)
                  for (int c = 0; c < cn; c++) {
                    uint8_t cc = b[c * ldb + hot[i]];
                    double f = scaled ? cscale[hot[i] / 32 * ldcs + c * cs_cst] : 1.0;
                    double want = (double)table[cc] * f, got = part[i * NT_LD + c * cst];
                    if (special && c == col && hot[i] != hot[0]) want = NAN; /* 0 * Inf / NaN */
                    bool ok = isnan(want) ? isnan(got) : got == want;
                    if (!ok && ++bad <= 3)
                      fprintf(stderr, "  %s route %d nk %lld mr %d cn %d code 0x%02x row %d col %d: %g, want %g\n",
                              fp8gemm_dtype_name(dt), rt ? GEMV_DEC_TABLE_X : route, (long long)nk, mr, cn,
                              code, i, c, got, want);
                  }
              }
            }
      CHECK(bad == 0, "%s interleaved NT tiles, nk %lld: each code pairs with its own activation (%ld calls)",
            fp8gemm_dtype_name(dt), (long long)nk, calls);
      free(b);
      free(a);
      free(cscale);
    }
  }
}

/* The kernel table picks a kernel at every ISA cap; each pick matches the reference. */
static void test_dispatch_per_isa(void) {
  fp8gemm_isa saved = fp8gemm_get_max_isa();
  for (int isa = 0; isa < FP8GEMM_ISA_COUNT; isa++) {
    if (!test_use_isa(isa)) continue;
    for (int i = 0; i < (sanitized ? 4 : 24); i++) {
      bool w = i & 1;
      int64_t m = 1 + next_u32() % GEMV_ROWS_MAX;
      bool nt = next_u32() & 1;
      fp8gemm_dtype bt = rand_fp8();
      case_spec s = random_spec(w, m, nt, bt, (fp8g_scale_kind)(next_u32() % (w ? 4 : 5)));
      case_data d;
      char desc[256];
      if (!prepare_case(&s, &d, desc, sizeof desc)) continue;
      fp8gemm_op op = w ? FP8GEMM_OP_FP8_GEMM_W8A16 : FP8GEMM_OP_FP8_GEMM;
      const fp8g_gemm_kernel *k = fp8g_gemm_select(op, &d.p);
      CHECK(k != NULL && (int)k->isa <= isa, "a kernel within cap %s serves %s", fp8gemm_isa_name((fp8gemm_isa)isa), desc);
      if (isa >= FP8GEMM_ISA_AVX2)
        CHECK(k != NULL && k->isa >= FP8GEMM_ISA_AVX2, "cap %s picks a vector kernel for %s (got %s)",
              fp8gemm_isa_name((fp8gemm_isa)isa), desc, k ? k->name : "none");
      if (k) {
        d.p.nthreads = 2;
        d.p.out = d.out_ref;
        (w ? &fp8g_gemm_ref_w8a16 : &fp8g_gemm_ref_w8a8)->run(&d.p);
        d.p.out = d.out1;
        CHECK(k->run(&d.p) == FP8GEMM_OK && compare(&d, d.out1, k->name, desc) == 0,
              "%s at cap %s matches the reference: %s", k->name, fp8gemm_isa_name((fp8gemm_isa)isa), desc);
      }
      free_case(&d);
    }
  }
  fp8gemm_set_max_isa(saved);
}

static void test_supports(void) {
  case_spec s = random_spec(false, 4, false, FP8GEMM_E4M3FN, FP8G_SCALE_TENSOR);
  case_data d;
  if (!build_case(&s, &d)) {
    CHECK(0, "allocation");
    free_case(&d);
    return;
  }
  fp8g_gemm_problem p = d.p;
  CHECK(fp8g_gemv_avx2_w8a8.supports(&p) && !fp8g_gemv_avx2_w8a16.supports(&p), "op by activation dtype");
  p.m = 17;
  CHECK(!fp8g_gemv_avx2_w8a8.supports(&p), "m = 17 goes to the GEMM kernels");
  p.m = 4;
  p.batch = 5;
  CHECK(!fp8g_gemv_avx2_w8a8.supports(&p), "batch * m = 20 goes to the GEMM kernels");
  p.batch = 1;
  p.b_stride_k = 3;
  p.b_stride_n = 2;
  CHECK(!fp8g_gemv_avx2_w8a8.supports(&p), "weights with neither stride 1 are not served");
  free_case(&d);
}

/* fp8gemm_query_shape names the decode kernels exactly where they serve. */
static void test_query_shape(void) {
  fp8gemm_kernel_info info = {0};
  fp8gemm_isa saved = fp8gemm_get_max_isa();
  fp8gemm_set_max_isa(FP8GEMM_ISA_AVX2);
  CHECK(fp8gemm_query_shape(FP8GEMM_OP_FP8_GEMM, FP8GEMM_SCHEME_PER_TOKEN, FP8GEMM_E4M3FN, 1,
                            4096, 4096, 1, &info) == FP8GEMM_OK &&
            strcmp(info.name, "gemv_avx2") == 0,
        "M = 1 fp8_gemm -> gemv_avx2 (got %s)", info.name ? info.name : "none");
  CHECK(fp8gemm_query_shape(FP8GEMM_OP_FP8_GEMM_W8A16, FP8GEMM_SCHEME_GROUP, FP8GEMM_E5M2, 16,
                            100, 256, 0, &info) == FP8GEMM_OK &&
            strcmp(info.name, "gemv_w8a16_avx2") == 0,
        "M = 16 w8a16 -> gemv_w8a16_avx2 (got %s)", info.name ? info.name : "none");
  CHECK(fp8gemm_query_shape(FP8GEMM_OP_FP8_GEMM, FP8GEMM_SCHEME_MX, FP8GEMM_E4M3FN, 17, 4096,
                            4096, 1, &info) == FP8GEMM_OK &&
            strncmp(info.name, "gemv", 4) != 0,
        "M = 17 is not a decode shape (got %s)", info.name ? info.name : "none");
  fp8gemm_set_max_isa(FP8GEMM_ISA_SCALAR);
  CHECK(fp8gemm_query_shape(FP8GEMM_OP_FP8_GEMM, FP8GEMM_SCHEME_PER_TENSOR, FP8GEMM_E4M3FN, 1,
                            64, 64, 0, &info) == FP8GEMM_OK &&
            info.isa == FP8GEMM_ISA_SCALAR,
        "the scalar cap gives the reference (got %s)", info.name ? info.name : "none");
  fp8gemm_set_max_isa(saved);
  CHECK(fp8gemm_query_shape(FP8GEMM_OP_FP8_GEMM, FP8GEMM_SCHEME_PER_TOKEN, FP8GEMM_E4M3FN, 0,
                            64, 64, 0, &info) == FP8GEMM_INVALID_ARGUMENT &&
            strstr(fp8gemm_last_error(), "m, n, k") != NULL,
        "m = 0 rejected: %s", fp8gemm_last_error());
  CHECK(fp8gemm_query_shape(FP8GEMM_OP_FP8_QUANTIZE, FP8GEMM_SCHEME_PER_TOKEN, FP8GEMM_E4M3FN, 1,
                            64, 64, 0, &info) == FP8GEMM_INVALID_ARGUMENT,
        "non-GEMM op rejected");
  CHECK(fp8gemm_query_shape(FP8GEMM_OP_FP8_GEMM, FP8GEMM_SCHEME_PER_TOKEN, FP8GEMM_BF16, 1, 64,
                            64, 0, &info) == FP8GEMM_INVALID_ARGUMENT,
        "non-fp8 dtype rejected");
  CHECK(fp8gemm_query_shape(FP8GEMM_OP_FP8_GEMM, FP8GEMM_SCHEME_GROUP, FP8GEMM_E4M3FN, 1, 64, 64,
                            0, &info) == FP8GEMM_UNIMPLEMENTED,
        "group is a w8a16 scheme only");
}

/* ------------------------------------------------------------ gemv_avx512bf16 */

/* A spec the BF16 decode kernels take: NT weights, bf16 activations for w8a16, block
 * scales in whole 64-code chunks. */
static case_spec bf16_spec(bool w8a16, int64_t m, fp8gemm_dtype b_dtype, fp8g_scale_kind kind) {
  static const int64_t ns[] = {1, 4, 7, 31, 33, 63, 65, 97, 131, 257};
  /* 1089 and 2113: more than one K block of the row groups above 4 rows (1024 K) */
  static const int64_t ks[] = {1, 2, 7, 31, 33, 63, 64, 65, 127, 129, 191, 257, 521, 1089, 2113};
  case_spec s = random_spec(w8a16, m, true, b_dtype, kind);
  if (!sanitized) {
    s.n = pick(ns, 10);
    s.k = pick(ks, 15);
  }
  if (w8a16) s.a_dtype = s.out_dtype = FP8GEMM_BF16;
  if (kind == FP8G_SCALE_BLOCK) {
    s.block_k = 64 * (1 + (int64_t)(next_u32() % 3)); /* 192: segments across K blocks */
    s.block_n = w8a16 && (next_u32() & 1) ? 1 : s.block_k;
  }
  if (kind == FP8G_SCALE_MX) s.k = (s.k + 31) / 32 * 32;
  return s;
}

/* Runs s through kern (1 and 2 threads, vs the reference) and checks whether the call
 * was handed back to gemv_avx2 (expect_fallback: 1 yes, 0 no, -1 either). */
static void run_bf16_case(const case_spec *s, int expect_fallback) {
  const fp8g_gemm_kernel *kern = s->w8a16 ? &fp8g_gemv_avx512bf16_w8a16 : &fp8g_gemv_avx512bf16_w8a8;
  long before = fp8g_gemv_bf16_fallbacks();
  run_case(s, kern);
  long fell = fp8g_gemv_bf16_fallbacks() - before; /* 0 or 2 (two runs) */
  if (expect_fallback >= 0) {
    char desc[256];
    describe(s, desc, sizeof desc);
    CHECK(fell == (expect_fallback ? 2 : 0), "%s: %s to gemv_avx2: %s", kern->name,
          expect_fallback ? "handed back" : "not handed back", desc);
  }
}

static void test_bf16_vs_reference(void) {
  static const fp8g_scale_kind kinds[] = {FP8G_SCALE_NONE, FP8G_SCALE_TENSOR, FP8G_SCALE_ROWCOL,
                                          FP8G_SCALE_BLOCK, FP8G_SCALE_MX};
  for (int w = 0; w < 2; w++)
    for (int64_t m = 1; m <= GEMV_ROWS_MAX; m++) {
      if (sanitized && m % 5 != 1 && m != 8) continue;
      for (int t = 0; t < 4; t++)
        for (int kd = 0; kd < (w ? 4 : 5); kd++) {
          case_spec s = bf16_spec(w, m, fp8_types[t], kinds[kd]);
          /* MX with extreme exponents may go back to gemv_avx2; others never */
          run_bf16_case(&s, kinds[kd] == FP8G_SCALE_MX ? -1 : 0);
        }
    }
}

static void test_bf16_batched_and_nan(void) {
  for (int i = 0; i < (sanitized ? 8 : 80); i++) {
    bool w = i & 1;
    int64_t m = 1 + next_u32() % 4;
    fp8g_scale_kind kind = (fp8g_scale_kind)(next_u32() % (w ? 4 : 5));
    case_spec s = bf16_spec(w, m, fp8_types[next_u32() % 4], kind);
    if (i % 4 < 2) s.batch = 1 + next_u32() % (GEMV_ROWS_MAX / m);
    else s.nan_mode = 1 + (i / 4) % 3;
    run_bf16_case(&s, -1);
  }
}

/* MX scales: usual codes run folded; codes that would leave the normal range go back to
 * gemv_avx2; NaN codes (0xFF) give NaN exactly where the reference does. */
static void test_bf16_mx_ranges(void) {
  for (int i = 0; i < (sanitized ? 6 : 48); i++) {
    case_spec s = bf16_spec(false, 1 + next_u32() % GEMV_ROWS_MAX, fp8_types[i % 4], FP8G_SCALE_MX);
    case_data d;
    char desc[256];
    if (!prepare_case(&s, &d, desc, sizeof desc)) continue;
    int64_t na = s.batch * s.m * d.p.a_kblocks, nb = d.p.a_kblocks * s.n;
    int mode = (i / 4) % 3; /* 0 usual, 1 extreme (2^-125 / 2^+120), 2 NaN codes */
    for (int64_t j = 0; j < na; j++) d.ea[j] = (uint8_t)(118 + next_u32() % 20);
    for (int64_t j = 0; j < nb; j++) d.eb[j] = (uint8_t)(118 + next_u32() % 20);
    if (mode == 1) {
      uint32_t at = next_u32() % (uint32_t)nb;
      d.eb[at] = (uint8_t)(next_u32() & 1 ? 2 : 247);
    }
    if (mode == 2) {
      d.eb[next_u32() % (uint32_t)nb] = 0xFF;
      d.ea[next_u32() % (uint32_t)na] = 0xFF;
    }
    compute_bounds(&d);
    long before = fp8g_gemv_bf16_fallbacks();
    d.p.nthreads = 1;
    d.p.out = d.out_ref;
    fp8g_gemm_ref_w8a8.run(&d.p);
    d.p.out = d.out1;
    CHECK(fp8g_gemv_avx512bf16_w8a8.run(&d.p) == FP8GEMM_OK, "runs: %s", desc);
    d.p.nthreads = 2;
    d.p.out = d.out2;
    CHECK(fp8g_gemv_avx512bf16_w8a8.run(&d.p) == FP8GEMM_OK, "runs: %s", desc);
    long fell = fp8g_gemv_bf16_fallbacks() - before;
    CHECK(compare(&d, d.out1, "gemv_avx512bf16", desc) == 0, "MX mode %d matches the reference: %s", mode, desc);
    CHECK(memcmp(d.out1, d.out2, (size_t)(s.batch * s.m * s.n) * dtype_size(s.out_dtype)) == 0,
          "MX mode %d: 1 and 2 threads bitwise: %s", mode, desc);
    CHECK(mode == 1 ? fell == 2 : fell == 0, "MX mode %d %s gemv_avx2 (%ld): %s", mode,
          mode == 1 ? "goes back to" : "stays off", fell, desc);
    free_case(&d);
  }
}

/* bf16 activations: tiny ones (products could be flushed) and subnormal ones go back to
 * gemv_avx2; ordinary ones, Inf and NaN stay. */
static void test_bf16_activation_ranges(void) {
  for (int i = 0; i < (sanitized ? 6 : 48); i++) {
    int64_t m = 1 + next_u32() % GEMV_ROWS_MAX;
    fp8g_scale_kind kind = (fp8g_scale_kind)(next_u32() % 4);
    case_spec s = bf16_spec(true, m, fp8_types[i % 4], kind);
    int mode = (i / 4) % 4; /* 0 usual, 1 one tiny value, 2 one subnormal, 3 one Inf */
    case_data d;
    char desc[256];
    if (!prepare_case(&s, &d, desc, sizeof desc)) continue;
    int64_t row = d.rows[next_u32() % (uint32_t)(s.batch * s.m)];
    int64_t off = row + (int64_t)(next_u32() % (uint32_t)s.k) * s.a_stride;
    uint16_t *a = d.a;
    if (mode == 1) a[off] = fp8g_f32_to_bf16(ldexpf(1.5f, -112));
    if (mode == 2) a[off] = 0x0003;
    if (mode == 3) a[off] = 0xFF80; /* -Inf */
    compute_bounds(&d);
    long before = fp8g_gemv_bf16_fallbacks();
    d.p.nthreads = 1;
    d.p.out = d.out_ref;
    fp8g_gemm_ref_w8a16.run(&d.p);
    d.p.out = d.out1;
    CHECK(fp8g_gemv_avx512bf16_w8a16.run(&d.p) == FP8GEMM_OK, "runs: %s", desc);
    long fell = fp8g_gemv_bf16_fallbacks() - before;
    CHECK(compare(&d, d.out1, "gemv_w8a16_avx512bf16", desc) == 0, "activation mode %d matches the reference: %s",
          mode, desc);
    CHECK((mode == 1 || mode == 2) == (fell == 1), "activation mode %d: fallback %ld: %s", mode, fell, desc);
    free_case(&d);
  }
}

/* W8A8 block scales whose fp32 product sa * sb would be subnormal go back to gemv_avx2. */
static void test_bf16_block_scale_range(void) {
  for (int i = 0; i < (sanitized ? 2 : 8); i++) {
    case_spec s = bf16_spec(false, 1 + i % 4, fp8_types[i % 4], FP8G_SCALE_BLOCK);
    case_data d;
    char desc[256];
    if (!prepare_case(&s, &d, desc, sizeof desc)) continue;
    d.sa[0] = 0x1p-70f;
    d.sb[0] = 0x1p-70f;
    compute_bounds(&d);
    long before = fp8g_gemv_bf16_fallbacks();
    d.p.nthreads = 1;
    d.p.out = d.out_ref;
    fp8g_gemm_ref_w8a8.run(&d.p);
    d.p.out = d.out1;
    CHECK(fp8g_gemv_avx512bf16_w8a8.run(&d.p) == FP8GEMM_OK, "runs: %s", desc);
    CHECK(fp8g_gemv_bf16_fallbacks() - before == 1, "subnormal block scale product goes back: %s", desc);
    CHECK(compare(&d, d.out1, "gemv_avx512bf16", desc) == 0, "matches the reference: %s", desc);
    free_case(&d);
  }
}

/* Block scales at M = 2, 3 scale every lane by a product from the driver's per-panel
 * table: one value per row and segment when the panel's columns share a column block,
 * per column otherwise (block_n not a multiple of the 64-column panel, or a panel across
 * two blocks), sb itself for W8A16 (M = 4 here: the lane tree, for contrast). Column
 * blocks of 1..128 columns and N over several panels, W8A8 and W8A16, against the
 * reference (1 and 2 threads). */
static void test_bf16_block_lane_tables(void) {
  static const int64_t bns[] = {1, 3, 24, 60, 64, 100, 128};
  static const int64_t ns[] = {5, 67, 131, 200};
  for (int i = 0; i < (sanitized ? 8 : 56); i++) {
    bool w = i % 4 == 3;
    case_spec s = bf16_spec(w, 2 + i % 3, fp8_types[(i / 3) % 4], FP8G_SCALE_BLOCK);
    s.block_n = bns[i % 7];
    s.block_k = 64 * (1 + (int64_t)(i / 7 % 2));
    s.n = ns[i / 2 % 4];
    s.k = 64 + 127 * (int64_t)(1 + i % 3); /* 2 .. 6 segments, the last partial */
    s.batch = i % 5 == 4 ? 2 : 1;
    run_bf16_case(&s, 0);
  }
}

/* MXCSR with DAZ | FTZ, or rounding toward zero: VDPBF16PS would ignore it, the scale
 * FMAs and gemv_avx2 follow it, so the call goes back and gives gemv_avx2's bits. */
static void test_bf16_mxcsr_handback(void) {
  static const struct { unsigned bits; const char *what; } modes[] = {{0x8040u, "DAZ | FTZ"},
                                                                      {0x6000u, "round toward zero"}};
  for (size_t mi = 0; mi < sizeof modes / sizeof modes[0]; mi++)
    for (int w = 0; w < 2; w++) {
      case_spec s = bf16_spec(w, 3, FP8GEMM_E4M3FN, FP8G_SCALE_ROWCOL);
      s.out_dtype = FP8GEMM_F32;
      case_data d;
      char desc[256];
      if (!prepare_case(&s, &d, desc, sizeof desc)) continue;
      const fp8g_gemm_kernel *kern = w ? &fp8g_gemv_avx512bf16_w8a16 : &fp8g_gemv_avx512bf16_w8a8;
      const fp8g_gemm_kernel *avx2 = w ? &fp8g_gemv_avx2_w8a16 : &fp8g_gemv_avx2_w8a8;
      d.p.nthreads = 1;
      unsigned saved = _mm_getcsr();
      _mm_setcsr(saved | modes[mi].bits);
      long before = fp8g_gemv_bf16_fallbacks();
      d.p.out = d.out1;
      fp8gemm_status st1 = kern->run(&d.p);
      long fell = fp8g_gemv_bf16_fallbacks() - before;
      d.p.out = d.out2;
      fp8gemm_status st2 = avx2->run(&d.p);
      _mm_setcsr(saved);
      size_t bytes = (size_t)(s.batch * s.m * s.n) * sizeof(float);
      CHECK(st1 == FP8GEMM_OK && st2 == FP8GEMM_OK && fell == 1 && memcmp(d.out1, d.out2, bytes) == 0,
            "%s: %s handed back with gemv_avx2's bits (fell %ld): %s", modes[mi].what, kern->name, fell, desc);
      free_case(&d);
    }
}

/* Non-finite weight codes at every position of a 64-code chunk reach exactly their column:
 * per-tensor, MX (whose tiles first run an exponent add that assumes finite codes and
 * run again when they saw one) and block scales, one row group and several (the tiles
 * that decode once for all groups; block: segments of 64 K or of 9 chunks, longer than
 * their decode buffer). */
static void test_bf16_special_codes(void) {
  static const uint8_t e4m3[] = {0x7F, 0xFF}, e5m2[] = {0x7C, 0xFC, 0x7E, 0xFF};
  static const fp8gemm_dtype types[] = {FP8GEMM_E4M3FN, FP8GEMM_E5M2, FP8GEMM_E4M3FNUZ, FP8GEMM_E5M2FNUZ};
  static const fp8g_scale_kind kinds[] = {FP8G_SCALE_TENSOR, FP8G_SCALE_MX, FP8G_SCALE_BLOCK};
  for (int pos = 0; pos < 70 * 3; pos += sanitized ? 13 : 1) {
    /* every format with one and with several row groups (pos % 2), long and short block
     * segments (pos / 2 % 2) */
    fp8gemm_dtype dtype = types[pos / 4 % 4];
    fp8g_scale_kind kind = kinds[pos / 70];
    int64_t m = kind == FP8G_SCALE_TENSOR || pos % 2 ? 1 + pos % 3 : 5 + pos % 12;
    case_spec s = bf16_spec(false, m, dtype, kind);
    s.out_dtype = FP8GEMM_F32;
    s.nan_mode = 0;
    s.n = 70;
    s.k = kind == FP8G_SCALE_MX ? 96 : 70;
    if (kind == FP8G_SCALE_BLOCK) {
      bool long_seg = pos / 2 % 2 == 0;
      s.block_k = long_seg ? 576 : 64;
      s.block_n = 64;
      s.k = long_seg ? 1300 : 70;
    }
    case_data d;
    char desc[256];
    if (!prepare_case(&s, &d, desc, sizeof desc)) continue;
    uint8_t code = dtype == FP8GEMM_E5M2 ? e5m2[pos / 16 % 4] : dtype == FP8GEMM_E4M3FN ? e4m3[pos / 16 % 2] : 0x80;
    if (kind == FP8G_SCALE_MX) { /* no extreme exponents: every column but one stays finite */
      for (int64_t i = 0; i < d.p.batch * d.p.m * d.p.a_kblocks; i++) d.ea[i] = (uint8_t)(124 + i % 7);
      for (int64_t i = 0; i < d.p.a_kblocks * d.p.n; i++) d.eb[i] = (uint8_t)(124 + i % 5);
      compute_bounds(&d);
    }
    int col = pos % 70;
    d.b[col * (s.k + 5) + col] = code;
    d.p.nthreads = 1;
    d.p.out = d.out_ref;
    fp8g_gemm_ref_w8a8.run(&d.p);
    d.p.out = d.out1;
    fp8g_gemv_avx512bf16_w8a8.run(&d.p);
    long bad_cols = 0;
    for (int64_t j = 0; j < s.n; j++) bad_cols += !isfinite(load_out(d.out1, s.out_dtype, j));
    CHECK(compare(&d, d.out1, "gemv_avx512bf16", desc) == 0 && bad_cols == 1,
          "%s code 0x%02X at k=%d col=%d reaches exactly its column (%ld): %s", fp8gemm_dtype_name(dtype), code, col,
          col, bad_cols, desc);
    free_case(&d);
  }
}

/* Binary exponents of the smallest nonzero and the largest finite value of an fp8 dtype. */
static int fp8_exp_lo(fp8gemm_dtype d) { return ilogbf(fp8g_decode(d, 0x01)); }
static int ceil_log2(int64_t x) {
  int e = 0;
  while (((int64_t)1 << e) < x) e++;
  return e;
}
static int fp8_exp_hi(fp8gemm_dtype d) {
  float mx = 0.0f;
  for (int c = 0; c < 128; c++) {
    float v = fp8g_decode(d, (uint8_t)c);
    if (isfinite(v) && v > mx) mx = v;
  }
  return ilogbf(mx);
}

/*
 * MX weight exponents at the edges of the decode kernels' folds, every format, M = 1..16
 * (one-row, one-group and shared tiles), odd N and K, every finite weight code (zero,
 * -0, subnormals) in every column and every finite activation code in every row. With
 * more than one row the tiles fold the exponents d = code - 127 with a saturating
 * subtract from tables raised by an even bias (126 - largest exponent, rounded down to
 * even: e4m3 118, e5m2 110) when every d <= bias, else with the exact add; one row adds
 * them to the nonzero finite activations instead. Modes: 0 d in [bias - 3, bias] (the
 * fast fold at its top), 1 one d = bias + 1 (the exact add, still in the kernel), 2 d at
 * the lowest the kernel takes (-126 - smallest exponent), 3 one e8m0 code 0, 1 or 254
 * (back to gemv_avx2), 4 NaN scale codes (0xFF) among mode 0's, 5 mode 0 with Inf / NaN
 * weight codes (the fast tile runs again exactly). Activation
 * exponents are picked inside the kernel's range check.
 */
static void test_bf16_mx_fold_edges(void) {
  static const uint8_t far_codes[] = {0, 1, 254};
  int cases = 0;
  for (int i = 0; i < (sanitized ? 12 : 96); i++) {
    fp8gemm_dtype bt = fp8_types[i % 4];
    int mode = i / 4 % 6;
    int64_t m = i % 3 == 0 ? 1 : 2 + (i * 7 + i / 24) % (GEMV_ROWS_MAX - 1); /* one row: every format and mode */
    case_spec s = bf16_spec(false, m, bt, FP8G_SCALE_MX);
    static const int64_t ns[] = {1, 3, 5, 67, 131}, ks[] = {31, 33, 97, 161, 1089};
    s.n = ns[i % 5];
    s.k = m == 1 ? (i % 2 ? 521 : 1089) : ks[i / 5 % (sanitized ? 4 : 5)]; /* one row: past every activation code */
    s.nan_mode = 0;
    case_data d;
    char desc[256];
    if (!prepare_case(&s, &d, desc, sizeof desc)) continue;
    const fp8g_gemm_problem *p = &d.p;
    int64_t na = p->batch * p->m * p->a_kblocks, nb = p->a_kblocks * p->n, ld = s.k + 5;
    int bias = (126 - fp8_exp_hi(bt)) & ~1, lowest = -126 - fp8_exp_lo(bt);
    int dlo = mode == 2 ? lowest : bias - 3, dhi = mode == 2 ? lowest + 3 : bias;
    for (int64_t j = 0; j < nb; j++) d.eb[j] = (uint8_t)(127 + dlo + (int)(next_u32() % (uint32_t)(dhi - dlo + 1)));
    d.eb[next_u32() % (uint32_t)nb] = (uint8_t)(127 + dhi); /* the edge itself */
    if (mode == 1) d.eb[next_u32() % (uint32_t)nb] = (uint8_t)(127 + bias + 1);
    if (mode == 3) d.eb[next_u32() % (uint32_t)nb] = far_codes[i / 24 % 3];
    if (mode == 4)
      for (int j = 0; j < 3; j++) d.eb[next_u32() % (uint32_t)nb] = 0xFF;
    /* activation exponents inside the check: a_lo + b_lo >= -126, a_hi + b_hi + log2 K <= 124 */
    int b_lo = fp8_exp_lo(bt) + dlo, b_hi = fp8_exp_hi(bt) + (mode == 1 ? bias + 1 : dhi);
    int ca_min = -126 - b_lo - fp8_exp_lo(s.a_dtype) + 127, ca_max = 124 - b_hi - ceil_log2(s.k) - fp8_exp_hi(s.a_dtype) + 127;
    ca_min = ca_min < 1 - fp8_exp_lo(s.a_dtype) ? 1 - fp8_exp_lo(s.a_dtype) : ca_min; /* a_lo >= -126 */
    ca_max = ca_max > 254 - fp8_exp_hi(s.a_dtype) ? 254 - fp8_exp_hi(s.a_dtype) : ca_max; /* a_hi <= 127 */
    CHECK(ca_min <= ca_max, "activation exponents exist for %s mode %d (%d..%d)", fp8gemm_dtype_name(bt), mode, ca_min, ca_max);
    for (int64_t j = 0; j < na; j++) d.ea[j] = (uint8_t)(ca_min + (int)(next_u32() % (uint32_t)(ca_max - ca_min + 1)));
    /* every finite weight code in each column, from a column-dependent start */
    for (int64_t col = 0; col < p->n; col++)
      for (int64_t kk = 0, c = col * 37; kk < s.k; kk++, c++) {
        while (is_special(bt, (uint8_t)c)) c++;
        d.b[col * ld + kk] = (uint8_t)c;
      }
    /* every finite activation code in each row too (zero, -0 and subnormals: the one-row
     * tiles add the weight exponents to the nonzero finite activations only) */
    for (int64_t r = 0; r < p->batch * p->m; r++)
      for (int64_t kk = 0, c = r * 53 + 11; kk < s.k; kk++, c++) {
        while (is_special(s.a_dtype, (uint8_t)c)) c++;
        ((uint8_t *)d.a)[d.rows[r] + kk * s.a_stride] = (uint8_t)c;
      }
    if (mode == 5) {
      uint8_t sp = 0;
      for (int c = 255; c >= 0; c--)
        if (is_special(bt, (uint8_t)c)) sp = (uint8_t)c;
      int64_t col = next_u32() % (uint32_t)p->n;
      d.b[col * ld + (int64_t)(next_u32() % (uint32_t)s.k)] = sp;
    }
    compute_bounds(&d);
    long before = fp8g_gemv_bf16_fallbacks();
    d.p.nthreads = 1;
    d.p.out = d.out_ref;
    fp8g_gemm_ref_w8a8.run(&d.p);
    d.p.out = d.out1;
    CHECK(fp8g_gemv_avx512bf16_w8a8.run(&d.p) == FP8GEMM_OK, "runs: %s", desc);
    d.p.nthreads = 2;
    d.p.out = d.out2;
    CHECK(fp8g_gemv_avx512bf16_w8a8.run(&d.p) == FP8GEMM_OK, "runs on 2 threads: %s", desc);
    long fell = fp8g_gemv_bf16_fallbacks() - before;
    CHECK(compare(&d, d.out1, "gemv_avx512bf16", desc) == 0, "MX fold edge mode %d matches the reference: %s", mode, desc);
    CHECK(memcmp(d.out1, d.out2, (size_t)(p->batch * p->m * p->n) * dtype_size(s.out_dtype)) == 0,
          "MX fold edge mode %d: 1 and 2 threads bitwise: %s", mode, desc);
    CHECK(fell == (mode == 3 ? 2 : 0), "MX fold edge mode %d: %ld runs handed to gemv_avx2: %s", mode, fell, desc);
    free_case(&d);
    cases++;
  }
  CHECK(cases > 0, "MX fold edge cases ran");
}

/* MX activations: contiguous rows are decoded and folded in vectors, strided ones one
 * value at a time; both must give the same bits, NaN scale codes (0xFF) included, also
 * in a last block that ends before the chunk does (its padding must stay zero). */
static void test_bf16_mx_activation_paths(void) {
  static const int64_t ks[] = {32, 33, 95, 97, 161, 1000};
  for (int i = 0; i < (sanitized ? 4 : 24); i++) {
    case_spec s = bf16_spec(false, 1 + (i * 5) % GEMV_ROWS_MAX, fp8_types[i % 4], FP8G_SCALE_MX);
    s.k = ks[i % 6];
    s.a_stride = 2;
    s.permuted_rows = false;
    s.nan_mode = 0;
    case_data d;
    char desc[256];
    if (!prepare_case(&s, &d, desc, sizeof desc)) continue;
    fp8g_gemm_problem *p = &d.p;
    int64_t rows = p->batch * p->m, na = rows * p->a_kblocks;
    for (int64_t j = 0; j < na; j++) d.ea[j] = (uint8_t)(120 + next_u32() % 15);
    for (int64_t j = 0; j < p->a_kblocks * p->n; j++) d.eb[j] = (uint8_t)(120 + next_u32() % 15);
    if (i % 2) d.ea[(int64_t)(next_u32() % (uint32_t)rows) * p->a_kblocks + p->a_kblocks - 1] = 0xFF;
    if (i % 3 == 0) d.ea[next_u32() % (uint32_t)na] = 0xFF;
    /* the same rows, contiguous */
    uint8_t *dense = malloc((size_t)(rows * s.k));
    int64_t *offs = malloc((size_t)rows * sizeof *offs);
    if (!dense || !offs) {
      CHECK(0, "allocation");
      free(dense);
      free(offs);
      free_case(&d);
      continue;
    }
    for (int64_t r = 0; r < rows; r++) {
      offs[r] = r * s.k;
      for (int64_t kk = 0; kk < s.k; kk++) dense[r * s.k + kk] = ((const uint8_t *)d.a)[d.rows[r] + kk * 2];
    }
    p->nthreads = 1;
    p->out = d.out1;
    CHECK(fp8g_gemv_avx512bf16_w8a8.run(p) == FP8GEMM_OK, "strided runs: %s", desc);
    p->a = dense;
    p->a_row_offset = offs;
    p->a_stride_k = 1;
    p->out = d.out2;
    CHECK(fp8g_gemv_avx512bf16_w8a8.run(p) == FP8GEMM_OK, "contiguous runs: %s", desc);
    CHECK(memcmp(d.out1, d.out2, (size_t)(rows * p->n) * dtype_size(s.out_dtype)) == 0,
          "MX activations: contiguous and strided rows give the same bits: %s", desc);
    p->a = d.a;
    p->a_row_offset = d.rows;
    p->a_stride_k = 2;
    free(dense);
    free(offs);
    free_case(&d);
  }
}

/* What the BF16 decode kernels take, and that the tables pick them at cap avx512_bf16. */
static void test_bf16_supports(void) {
  case_spec s = bf16_spec(true, 4, FP8GEMM_E4M3FN, FP8G_SCALE_ROWCOL);
  case_data d;
  if (!build_case(&s, &d)) {
    CHECK(0, "allocation");
    free_case(&d);
    return;
  }
  fp8g_gemm_problem p = d.p;
  CHECK(fp8g_gemv_avx512bf16_w8a16.supports(&p), "w8a16 bf16 NT per channel");
  p.a_dtype = FP8GEMM_F16;
  CHECK(!fp8g_gemv_avx512bf16_w8a16.supports(&p), "f16 activations stay on gemv_avx2");
  p.a_dtype = FP8GEMM_F32;
  CHECK(!fp8g_gemv_avx512bf16_w8a16.supports(&p), "f32 activations stay on gemv_avx2");
  p.a_dtype = FP8GEMM_BF16;
  p.b_stride_n = 1;
  p.b_stride_k = p.n + 3;
  CHECK(!fp8g_gemv_avx512bf16_w8a16.supports(&p), "NN weights stay on gemv_avx2");
  p = d.p;
  p.scale_kind = FP8G_SCALE_BLOCK;
  p.block_k = 32;
  CHECK(!fp8g_gemv_avx512bf16_w8a16.supports(&p), "groups of 32 stay on gemv_avx2");
  p.block_k = 128;
  CHECK(fp8g_gemv_avx512bf16_w8a16.supports(&p), "groups of 128 served");
  p = d.p;
  p.m = 17;
  CHECK(!fp8g_gemv_avx512bf16_w8a16.supports(&p), "m = 17 is not a decode shape");
  free_case(&d);
  fp8gemm_isa saved = fp8gemm_get_max_isa();
  fp8gemm_kernel_info info = {0};
  fp8gemm_set_max_isa(FP8GEMM_ISA_AVX512_BF16);
  CHECK(fp8gemm_query_shape(FP8GEMM_OP_FP8_GEMM, FP8GEMM_SCHEME_PER_TOKEN, FP8GEMM_E4M3FN, 1, 4096, 4096, 1,
                            &info) == FP8GEMM_OK && strcmp(info.name, "gemv_avx512bf16") == 0,
        "M = 1 NT fp8_gemm -> gemv_avx512bf16 (got %s)", info.name ? info.name : "none");
  CHECK(fp8gemm_query_shape(FP8GEMM_OP_FP8_GEMM_W8A16, FP8GEMM_SCHEME_GROUP, FP8GEMM_E5M2, 16, 100, 256, 1,
                            &info) == FP8GEMM_OK && strcmp(info.name, "gemv_w8a16_avx512bf16") == 0,
        "M = 16 NT w8a16 -> gemv_w8a16_avx512bf16 (got %s)", info.name ? info.name : "none");
  CHECK(fp8gemm_query_shape(FP8GEMM_OP_FP8_GEMM, FP8GEMM_SCHEME_PER_TOKEN, FP8GEMM_E4M3FN, 1, 4096, 4096, 0,
                            &info) == FP8GEMM_OK && strcmp(info.name, "gemv_avx2") == 0,
        "M = 1 NN fp8_gemm -> gemv_avx2 (got %s)", info.name ? info.name : "none");
  fp8gemm_set_max_isa(FP8GEMM_ISA_AVX512);
  CHECK(fp8gemm_query_shape(FP8GEMM_OP_FP8_GEMM, FP8GEMM_SCHEME_PER_TOKEN, FP8GEMM_E4M3FN, 1, 4096, 4096, 1,
                            &info) == FP8GEMM_OK && strcmp(info.name, "gemv_avx2") == 0,
        "cap avx512: M = 1 NT -> gemv_avx2 (got %s)", info.name ? info.name : "none");
  fp8gemm_set_max_isa(saved);
}


/* Through the public API: an NT weight (the [N, K] checkpoint tensor's transposed view)
 * and the same weight packed give bitwise the same output, on 1 and 2 threads, at the
 * decode sizes the BF16 kernels serve (and the query names them), with per-token /
 * per-channel and with block / group scales given as a transposed view (the packed copy
 * must follow its strides; no other test packs a strided block scale). */
static void test_bf16_packed_weights(void) {
  static const int64_t ms[] = {1, 2, 3, 4, 7, 16};
  int threads_before = fp8gemm_get_num_threads();
  for (int blk = 0; blk < 2; blk++) /* per-token / per-channel, then block (w8a16: groups along K) */
  for (int w = 0; w < 2; w++)
    for (int mi = 0; mi < 6; mi++) {
      /* block: N = 133 has two column blocks (w8a8) and a one-column tile at the end, K = 333
       * a partial last segment; the weight scale is the .t() view of [N / 128, K / 128]
       * (w8a16: of [N, K / 128]) and neighbouring blocks differ by 2^20 */
      int64_t m = ms[mi], n = blk ? 133 : 77, k = 333, kb = (k + 127) / 128;
      int64_t nsw = blk ? kb * (w ? n : (n + 127) / 128) : n;
      fp8gemm_dtype adt = w ? FP8GEMM_BF16 : FP8GEMM_E4M3FN;
      uint8_t *wmem = malloc((size_t)(n * k)), *amem = malloc((size_t)(m * k) * 2);
      float *sa = malloc((size_t)(m * kb) * sizeof(float)), *sw = malloc((size_t)nsw * sizeof(float));
      uint16_t *o[3];
      for (int i = 0; i < 3; i++) o[i] = malloc((size_t)(m * n) * 2);
      for (int64_t i = 0; i < n * k; i++) wmem[i] = finite_code(FP8GEMM_E4M3FN);
      for (int64_t i = 0; i < m * k; i++) {
        if (w) ((uint16_t *)amem)[i] = fp8g_f32_to_bf16(((float)(next_u32() % 2001) - 1000.0f) / 97.0f);
        else amem[i] = finite_code(FP8GEMM_E4M3FN);
      }
      for (int64_t i = 0; i < m * kb; i++) sa[i] = rand_scale();
      for (int64_t i = 0; i < nsw; i++) sw[i] = blk ? ldexpf(rand_scale(), (i + i / kb) % 2 ? 10 : -10) : rand_scale();
      fp8gemm_tensor a, wt, sat, swt, od;
      int64_t ad[2] = {m, k}, wd[2] = {k, n}, sad[2] = {m, blk ? kb : 1}, swd[2] = {blk ? kb : n, nsw / kb},
              odims[2] = {m, n};
      fp8gemm_tensor_init(&a, adt, 2, ad, amem);
      fp8gemm_tensor_init(&wt, FP8GEMM_E4M3FN, 2, wd, wmem);
      wt.strides[0] = 1; /* [K, N] view of the [N, K] tensor */
      wt.strides[1] = k;
      fp8gemm_tensor_init(&sat, FP8GEMM_F32, 2, sad, sa);
      fp8gemm_tensor_init(&swt, FP8GEMM_F32, blk ? 2 : 1, blk ? swd : &n, sw);
      if (blk) swt.strides[0] = 1, swt.strides[1] = kb; /* [K / 128, *] view of [*, K / 128] */
      fp8gemm_tensor_init(&od, FP8GEMM_BF16, 2, odims, NULL);
      long fell = fp8g_gemv_bf16_fallbacks();
      for (int i = 0; i < 2; i++) {
        fp8gemm_set_num_threads(i + 1);
        od.data = o[i];
        fp8gemm_status st = w ? fp8gemm_fp8_gemm_w8a16(&a, &wt, &swt, NULL, &od)
                              : fp8gemm_fp8_gemm(&a, &wt, FP8GEMM_BF16, &sat, &swt, NULL, &od);
        CHECK(st == FP8GEMM_OK, "plain m=%lld w8a16=%d: %s", (long long)m, w, fp8gemm_last_error());
      }
      fp8gemm_set_num_threads(threads_before);
      fp8gemm_op op = w ? FP8GEMM_OP_FP8_GEMM_W8A16 : FP8GEMM_OP_FP8_GEMM;
      fp8gemm_packed_weight *pw = NULL;
      CHECK(fp8gemm_pack_weight(op, &wt, &swt, &pw) == FP8GEMM_OK, "pack: %s", fp8gemm_last_error());
      od.data = o[2];
      fp8gemm_status st = w ? fp8gemm_fp8_gemm_w8a16_packed(&a, pw, NULL, &od)
                            : fp8gemm_fp8_gemm_packed(&a, pw, FP8GEMM_BF16, &sat, NULL, &od);
      CHECK(st == FP8GEMM_OK, "packed: %s", fp8gemm_last_error());
      size_t bytes = (size_t)(m * n) * 2;
      CHECK(memcmp(o[0], o[1], bytes) == 0 && memcmp(o[0], o[2], bytes) == 0,
            "%s m=%lld w8a16=%d: 1 thread, 2 threads and packed bitwise equal", blk ? "block" : "per-token",
            (long long)m, w);
      CHECK(fp8g_gemv_bf16_fallbacks() == fell, "%s m=%lld w8a16=%d: no call handed back to gemv_avx2",
            blk ? "block" : "per-token", (long long)m, w);
      fp8gemm_kernel_info info = {0};
      fp8gemm_scheme scheme = !blk ? FP8GEMM_SCHEME_PER_TOKEN : w ? FP8GEMM_SCHEME_GROUP : FP8GEMM_SCHEME_BLOCK;
      CHECK(fp8gemm_query_shape(op, scheme, FP8GEMM_E4M3FN, m, n, k, 1, &info) == FP8GEMM_OK &&
                strstr(info.name, "avx512bf16") != NULL,
            "%s m=%lld w8a16=%d served by the BF16 decode kernel (got %s)", blk ? "block" : "per-token",
            (long long)m, w, info.name ? info.name : "none");
      fp8gemm_packed_weight_free(pw);
      for (int i = 0; i < 3; i++) free(o[i]);
      free(wmem);
      free(amem);
      free(sa);
      free(sw);
    }
}

/* A column's bits do not depend on the tile width that serves it: columns 64..66 of an
 * N = 68 call run in a 4-column tile (vector epilogue, one reduction tree), those of the
 * N = 67 call on the same weight rows one column at a time (scalar epilogue); every row
 * count of a tile group (M = 1..5: M = 5 runs the shared block tiles and, at the edge,
 * one-column tiles), every output dtype, with and without a bias, per-token and block
 * scales (1 x 128 and 128 x 128 blocks: the block tiles sum a segment's lanes in a tree
 * that the one-column tiles must repeat). */
static void test_bf16_tile_width(void) {
  enum { N = 68, K = 200, MMAX = 5 };
  static const fp8gemm_dtype outs[] = {FP8GEMM_F32, FP8GEMM_BF16, FP8GEMM_F16};
  uint8_t *wmem = malloc((size_t)N * K), *amem = malloc((size_t)MMAX * K);
  enum { KB = (K + 127) / 128 };
  float sa[MMAX * KB], sw[N], bias[N];
  float *o[2] = {malloc((size_t)MMAX * N * 4), malloc((size_t)MMAX * N * 4)};
  for (int64_t i = 0; i < (int64_t)N * K; i++) wmem[i] = finite_code(FP8GEMM_E4M3FN);
  for (int64_t i = 0; i < (int64_t)MMAX * K; i++) amem[i] = finite_code(FP8GEMM_E4M3FN);
  for (int i = 0; i < MMAX * KB; i++) sa[i] = rand_scale();
  for (int i = 0; i < N; i++) sw[i] = rand_scale(), bias[i] = ((float)(next_u32() % 2001) - 1000.0f) / 64.0f;
  for (int blk = 0; blk < 2; blk++)
  for (int64_t m = 1; m <= MMAX; m++)
    for (int od_i = 0; od_i < 3; od_i++)
      for (int with_bias = 0; with_bias < 2; with_bias++) {
        size_t es = dtype_size(outs[od_i]);
        for (int v = 0; v < 2; v++) {
          int64_t n = N - v; /* v = 1: the panel's last 3 columns one at a time */
          fp8gemm_tensor a, wt, sat, swt, bt, od;
          int64_t ad[2] = {m, K}, wd[2] = {K, n}, sad[2] = {m, blk ? KB : 1}, nd[1] = {n}, odims[2] = {m, n};
          int64_t swd[2] = {KB, 1}; /* block: [K / 128, N / 128], one column block */
          fp8gemm_tensor_init(&a, FP8GEMM_E4M3FN, 2, ad, amem);
          fp8gemm_tensor_init(&wt, FP8GEMM_E4M3FN, 2, wd, wmem);
          wt.strides[0] = 1; /* [K, n] view of the first n rows of the [N, K] tensor */
          wt.strides[1] = K;
          fp8gemm_tensor_init(&sat, FP8GEMM_F32, 2, sad, sa);
          if (blk) fp8gemm_tensor_init(&swt, FP8GEMM_F32, 2, swd, sw);
          else fp8gemm_tensor_init(&swt, FP8GEMM_F32, 1, nd, sw);
          fp8gemm_tensor_init(&bt, FP8GEMM_F32, 1, nd, bias);
          fp8gemm_tensor_init(&od, outs[od_i], 2, odims, o[v]);
          fp8gemm_status st = fp8gemm_fp8_gemm(&a, &wt, outs[od_i], &sat, &swt, with_bias ? &bt : NULL, &od);
          CHECK(st == FP8GEMM_OK, "tile width m=%lld n=%lld: %s", (long long)m, (long long)n, fp8gemm_last_error());
        }
        bool same = true;
        for (int64_t r = 0; r < m; r++)
          same = same && memcmp((char *)o[0] + (size_t)(r * N) * es, (char *)o[1] + (size_t)(r * (N - 1)) * es,
                                (size_t)(N - 1) * es) == 0;
        CHECK(same, "%s m=%lld out %s bias %d: columns 0..66 bitwise the same with N = 68 and N = 67",
              blk ? "block" : "per-token", (long long)m, fp8gemm_dtype_name(outs[od_i]), with_bias);
      }
  fp8gemm_kernel_info info = {0};
  CHECK(fp8gemm_query_shape(FP8GEMM_OP_FP8_GEMM, FP8GEMM_SCHEME_PER_TOKEN, FP8GEMM_E4M3FN, 1, N - 1, K, 1,
                            &info) == FP8GEMM_OK && strstr(info.name, "avx512bf16") != NULL,
        "N = 67 served by the BF16 decode kernel (got %s)", info.name ? info.name : "none");
  free(o[0]);
  free(o[1]);
  free(wmem);
  free(amem);
}

/* Far-apart tiles (GEMV_BF16_SPREAD): a full span of a panel runs its columns in tiles of
 * 4 columns SPREAD apart, the rest as adjacent 4-column and single-column tiles. Each
 * group of 4 columns run alone (a view: adjacent tiles only) must give the bits of the
 * whole call, every scale kind, W8A8 and W8A16, M 1..16, 1 or 2 threads. */
static void test_bf16_spreads_match_tiles(void) {
  static const int64_t ns[] = {32, 35, 36, 63, 64, 68, 97, 100, 131, 160};
  static const fp8g_scale_kind kinds[] = {FP8G_SCALE_NONE, FP8G_SCALE_TENSOR, FP8G_SCALE_ROWCOL,
                                          FP8G_SCALE_BLOCK, FP8G_SCALE_MX};
  long groups = 0, compared = 0, cases = 0;
  for (int i = 0; i < (sanitized ? 10 : 80); i++) {
    bool w8a16 = i % 3 == 2;
    fp8g_scale_kind kind = kinds[i % (w8a16 ? 4 : 5)];
    int64_t m = 1 + next_u32() % GEMV_ROWS_MAX;
    case_spec s = bf16_spec(w8a16, m, rand_fp8(), kind);
    s.n = pick(ns, (int)(sizeof ns / sizeof ns[0]));
    if (s.bias == FP8G_BIAS_FULL) s.bias = FP8G_BIAS_COL; /* [rows, N]: no column view */
    s.nan_mode = i % 7 == 3 ? 1 : 0;
    case_data d;
    char desc[256];
    if (!prepare_case(&s, &d, desc, sizeof desc)) continue;
    const fp8g_gemm_kernel *kern = w8a16 ? &fp8g_gemv_avx512bf16_w8a16 : &fp8g_gemv_avx512bf16_w8a8;
    uint8_t *cols = NULL;
    if (kind == FP8G_SCALE_MX) { /* [N, K/32]; one call in two with a NaN code in one column */
      int64_t at = i % 2 ? (int64_t)(next_u32() % (uint32_t)s.n) : -1;
      cols = mx_columns(&d, s.n, at, 0xFF);
      if (!cols) {
        CHECK(0, "allocation for %s", desc);
        free_case(&d);
        continue;
      }
    }
    d.p.nthreads = 1 + (i & 1);
    cases++;
    long bad = column_views_differ(&s, &d, kern, cols, 4, desc, &groups);
    if (bad >= 0) compared++;
    CHECK(bad <= 0, "4-column groups alone give the bits of the whole call (far-apart tiles): %s", desc);
    free(cols);
    free_case(&d);
  }
  /* MX codes and block scales over the whole call may send it back to gemv_avx2 and not a
   * view (or the reverse), and then the comparison means nothing: 10 of 80 calls here */
  CHECK(groups > 0 && compared * 4 >= cases * 3, "far-apart tile test compared %ld of %ld calls (%ld groups)",
        compared, cases, groups);
}

static void test_bf16_kernels(void) {
  if (fp8gemm_isa_detected() < FP8GEMM_ISA_AVX512_BF16) {
    printf("gemv_avx512bf16: this CPU has no AVX512_BF16, not tested\n");
    return;
  }
  test_bf16_supports();
  test_bf16_vs_reference();
  test_bf16_batched_and_nan();
  test_bf16_mx_ranges();
  test_bf16_mx_fold_edges();
  test_bf16_mx_activation_paths();
  test_bf16_activation_ranges();
  test_bf16_block_scale_range();
  test_bf16_block_lane_tables();
  test_bf16_mxcsr_handback();
  test_bf16_special_codes();
  test_bf16_tile_width();
  test_bf16_spreads_match_tiles();
  test_bf16_packed_weights();
}

int main(void) {
  sanitized = getenv("FP8GEMM_SANITIZED") != NULL;
  if (fp8gemm_isa_detected() < FP8GEMM_ISA_AVX2) {
    printf("gemv_avx2: this CPU has no AVX2: the AVX2 decode kernels cannot run here, not tested\n");
    test_dispatch_per_isa();
    return test_summary();
  }
  /* The kernels are tested at every level the CPU has, whatever FP8GEMM_MAX_ISA says:
   * sections that go through the ops expect the best decode kernel, and
   * test_dispatch_per_isa sets each cap itself. */
  fp8gemm_set_max_isa(FP8GEMM_ISA_AVX512_BF16);
  test_supports();
  test_query_shape();
  test_kernel_vs_reference();
  test_batched();
  test_nan_propagation();
  test_activation_ranges();
  test_routes_agree();
  test_mx_scale_columns();
  test_mx_group_fold();
  test_mx_group_codes();
  test_mx_one_code_decides();
  test_mx_fold_per_group();
  test_nt_quads_match_groups();
  test_block_scale_widths();
  test_daz_keeps_subnormal_weights();
  test_special_code_positions(FP8GEMM_E4M3FN);
  test_special_code_positions(FP8GEMM_E5M2);
  test_nt_interleaved_tiles();
  test_bf16_kernels();
  test_dispatch_per_isa();
  return test_summary();
}
