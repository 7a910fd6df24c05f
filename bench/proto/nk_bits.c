/*
 * Bit check for the N-interleaved decode plan (session 17, branch nkimpl17): does one
 * VDPBF16PS chain per output over K pairs in K order, followed by the GEMM's epilogue,
 * give bitwise the GEMM path's result for the same row? Not part of the library, the
 * default build or the tests. Build after the library's Release build in build/:
 *
 *   gcc -O2 -std=c11 -Wall -Wextra -mavx2 -mfma -Iinclude -Isrc -Itests/c \
 *     bench/proto/nk_bits.c build/libfp8gemm.a -lpthread -lm -o build/nk_bits
 *   build/nk_bits
 *
 * For e4m3fn data (every non-NaN code) and each scale scheme it runs the real
 * gemm_avx512bf16 at M = 17..32 (the GEMM path; fused loops, separate loops with a small
 * KC, and the C^T path where the plan allows it; 1 and 2 threads) and the NT decode
 * kernel gemv_avx512bf16 at M = 1, 16, and compares every output bitwise with a plain-C
 * model: per output one chain of emulated VDPBF16PS lanes (tests/c/gemm_bf16_emul.h)
 * over the pairs (2p, 2p+1), the last one zero-padded; block scales and MX "segmented":
 * one chain per scale block from 0, folded with fmaf(acc, sa * sb, C) (C = 0 at first);
 * MX "folded": the operands times 2^(e-127) in bf16, one chain; then the epilogue in
 * double (acc * (sa * sb) + bias) rounded to f32, then to bf16 either by RNE of that f32
 * ("gemm" rounding, two roundings) or from the double directly ("odd": the decode
 * kernel's round-to-odd f32 then RNE). Prints mismatch counts per case.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gemm_bf16_emul.h" /* emu_dpbf16_lane */
#include "kernels/avx512_bf16/gemv_avx512bf16.h"
#include "kernels/gemm_bf16.h"

static uint64_t lcg = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(void) {
  lcg = lcg * 6364136223846793005ull + 1442695040888963407ull;
  return (uint32_t)(lcg >> 33);
}
static uint8_t rnd_code(void) { /* every non-NaN e4m3fn code */
  for (;;) {
    uint8_t c = (uint8_t)rnd();
    if ((c & 0x7F) != 0x7F) return c;
  }
}
static float unit(void) { return (float)(rnd() % 4096) / 4096.0f; }

enum { MMAX = 32, KB = 128 };
typedef enum scheme { S_NONE, S_TENSOR, S_ROWCOL, S_BLOCK, S_MX_FOLD, S_MX_SEG, S_COUNT } scheme;
static const char *const scheme_name[S_COUNT] = {"none", "tensor", "rowcol", "block128", "mx_fold", "mx_seg"};

typedef struct data {
  int64_t n, k, kbl, kmx;
  uint8_t *a, *b; /* [MMAX][K], NT [N][K] */
  float *sa_t, *sb_t, *sa_r, *sb_c, *sa_blk, *sb_blk, *bias;
  uint8_t *ea, *eb; /* MX: [MMAX][K/32], [K/32][N] */
  int64_t offs[MMAX];
} data;

static void *xcalloc(size_t n, size_t sz) {
  void *p = calloc(n ? n : 1, sz);
  if (!p) abort();
  return p;
}

static void data_init(data *d, int64_t n, int64_t k, bool mx_seg) {
  d->n = n, d->k = k, d->kbl = (k + KB - 1) / KB, d->kmx = (k + 31) / 32;
  d->a = xcalloc((size_t)(MMAX * k), 1);
  d->b = xcalloc((size_t)(n * k), 1);
  for (int64_t i = 0; i < MMAX * k; i++) d->a[i] = rnd_code();
  for (int64_t i = 0; i < n * k; i++) d->b[i] = rnd_code();
  d->sa_t = xcalloc(1, sizeof(float)), d->sb_t = xcalloc(1, sizeof(float));
  d->sa_t[0] = 0.013f * (1 + unit()), d->sb_t[0] = 0.0071f * (1 + unit());
  d->sa_r = xcalloc(MMAX, sizeof(float)), d->sb_c = xcalloc((size_t)n, sizeof(float));
  for (int i = 0; i < MMAX; i++) d->sa_r[i] = 0.01f * (1 + unit());
  for (int64_t j = 0; j < n; j++) d->sb_c[j] = 0.003f * (1 + unit());
  int64_t nbl = (n + KB - 1) / KB;
  d->sa_blk = xcalloc((size_t)(MMAX * d->kbl), sizeof(float));
  d->sb_blk = xcalloc((size_t)(d->kbl * nbl), sizeof(float));
  for (int64_t i = 0; i < MMAX * d->kbl; i++) d->sa_blk[i] = 0.02f * (1 + unit());
  for (int64_t i = 0; i < d->kbl * nbl; i++) d->sb_blk[i] = 0.005f * (1 + unit());
  d->bias = xcalloc((size_t)n, sizeof(float));
  for (int64_t j = 0; j < n; j++) d->bias[j] = unit() - 0.5f;
  d->ea = xcalloc((size_t)(MMAX * d->kmx), 1), d->eb = xcalloc((size_t)(d->kmx * n), 1);
  /* folded: 2^(-8..+7) each; segmented: weight scales 2^(-120..-105), so small that
   * folded weights would be bf16 denormals, activations 2^(100..115) (products normal) */
  int ba = mx_seg ? 127 + 100 : 127 - 8, bb = mx_seg ? 127 - 120 : 127 - 8;
  for (int64_t i = 0; i < MMAX * d->kmx; i++) d->ea[i] = (uint8_t)(ba + rnd() % 16);
  for (int64_t i = 0; i < d->kmx * n; i++) d->eb[i] = (uint8_t)(bb + rnd() % 16);
  for (int i = 0; i < MMAX; i++) d->offs[i] = i * k;
}

static void data_free(data *d) {
  free(d->a), free(d->b), free(d->sa_t), free(d->sb_t), free(d->sa_r), free(d->sb_c);
  free(d->sa_blk), free(d->sb_blk), free(d->bias), free(d->ea), free(d->eb);
}

/* Rows [r0, r0 + m) of d as a problem. */
static fp8g_gemm_problem problem(const data *d, scheme s, int64_t r0, int64_t m, bool bias,
                                 fp8gemm_dtype out_dt, void *out, int threads) {
  fp8g_gemm_problem p = {.batch = 1, .m = m, .n = d->n, .k = d->k, .a_dtype = FP8GEMM_E4M3FN,
                         .a = d->a, .a_row_offset = d->offs + r0, .a_stride_k = 1,
                         .b_dtype = FP8GEMM_E4M3FN, .b = d->b, .b_stride_k = 1, .b_stride_n = d->k,
                         .block_k = d->k, .block_n = 1, .a_kblocks = 1, .b_nblocks = d->n,
                         .out_dtype = out_dt, .out = out, .nthreads = threads};
  static const float one = 1.0f;
  p.sa = p.sb = &one;
  switch (s) {
    case S_NONE: p.scale_kind = FP8G_SCALE_NONE; break;
    case S_TENSOR: p.scale_kind = FP8G_SCALE_TENSOR, p.sa = d->sa_t, p.sb = d->sb_t; break;
    case S_ROWCOL: p.scale_kind = FP8G_SCALE_ROWCOL, p.sa = d->sa_r + r0, p.sb = d->sb_c; break;
    case S_BLOCK:
      p.scale_kind = FP8G_SCALE_BLOCK, p.block_k = KB, p.block_n = KB, p.a_kblocks = d->kbl;
      p.b_nblocks = (d->n + KB - 1) / KB, p.sa = d->sa_blk + r0 * d->kbl, p.sb = d->sb_blk;
      break;
    default:
      p.scale_kind = FP8G_SCALE_MX, p.block_k = 32, p.a_kblocks = d->kmx, p.sa = p.sb = NULL;
      p.ea = d->ea + r0 * d->kmx, p.eb = d->eb;
      break;
  }
  if (bias) p.bias_kind = FP8G_BIAS_COL, p.bias = d->bias;
  return p;
}

/* bf16 of an operand code, times 2^e (MX fold) when e != 0: exact for these ranges. */
static uint32_t opnd(const uint8_t *row, int64_t k, int64_t kk, int e) {
  if (kk >= k) return 0;
  return fp8g_f32_to_bf16(ldexpf(fp8g_decode(FP8GEMM_E4M3FN, row[kk]), e));
}
static int mx_e(const uint8_t *codes, int64_t kk, int64_t stride) { return (int)codes[(kk / 32) * stride] - 127; }

/* One chain over the pairs of K range [k0, k1) (k0 even) from acc. */
static float chain(const data *d, scheme s, int64_t r, int64_t j, int64_t k0, int64_t k1, float acc) {
  const uint8_t *ar = d->a + r * d->k, *bc = d->b + j * d->k;
  for (int64_t kk = k0; kk < k1; kk += 2) {
    int ea0 = 0, ea1 = 0, eb0 = 0, eb1 = 0;
    if (s == S_MX_FOLD) {
      ea0 = mx_e(d->ea + r * d->kmx, kk, 1), ea1 = kk + 1 < d->k ? mx_e(d->ea + r * d->kmx, kk + 1, 1) : 0;
      eb0 = mx_e(d->eb + j, kk, d->n), eb1 = kk + 1 < d->k ? mx_e(d->eb + j, kk + 1, d->n) : 0;
    }
    uint32_t ap = opnd(ar, k1, kk, ea0) | opnd(ar, k1, kk + 1, ea1) << 16;
    uint32_t bp = opnd(bc, k1, kk, eb0) | opnd(bc, k1, kk + 1, eb1) << 16;
    acc = emu_dpbf16_lane(acc, ap, bp);
  }
  return acc;
}

/* The model's accumulator of output (r, j), before the epilogue. */
static float model_acc(const data *d, scheme s, int64_t r, int64_t j) {
  if (s != S_BLOCK && s != S_MX_SEG) return chain(d, s, r, j, 0, d->k, 0.0f);
  int64_t seg = s == S_BLOCK ? KB : 32;
  float c = 0.0f;
  for (int64_t k0 = 0, kb = 0; k0 < d->k; k0 += seg, kb++) {
    float acc = chain(d, s, r, j, k0, k0 + seg < d->k ? k0 + seg : d->k, 0.0f);
    float sc = s == S_BLOCK ? d->sa_blk[r * d->kbl + kb] * d->sb_blk[kb * ((d->n + KB - 1) / KB) + j / KB]
                            : fp8g_decode(FP8GEMM_E8M0, d->ea[r * d->kmx + kb]) *
                                  fp8g_decode(FP8GEMM_E8M0, d->eb[kb * d->n + j]);
    c = fmaf(acc, sc, kb == 0 ? 0.0f : c);
  }
  return c;
}

/* The epilogue in double; *f32 the RNE f32, returned the double. */
static double model_epi(const data *d, scheme s, int64_t r, int64_t j, float acc, bool bias) {
  double v = acc;
  if (s == S_TENSOR) v = v * ((double)d->sa_t[0] * (double)d->sb_t[0]);
  if (s == S_ROWCOL) v = v * ((double)d->sa_r[r] * (double)d->sb_c[j]);
  if (bias) v += (double)d->bias[j];
  return v;
}

static uint16_t bf16_odd(double v) { /* one rounding of v to bf16 (round to odd, then RNE) */
  float f = (float)v;
  if ((double)f == v || v != v) return fp8g_f32_to_bf16(f);
  uint32_t u = fp8g_f32_bits(f);
  if (fabs((double)f) > fabs(v)) u -= 1;
  return fp8g_f32_to_bf16(fp8g_f32_from_bits(u | 1u));
}

typedef struct tally {
  long outputs, f32_bad, bf16_gemm_bad, bf16_odd_bad;
} tally;

/* Compare rows [0, m) of a run (f32 out and bf16 out, rows r0..) with the model. */
static void compare(const data *d, scheme s, int64_t r0, int64_t m, bool bias, const float *of,
                    const uint16_t *ob, tally *t) {
  for (int64_t i = 0; i < m; i++)
    for (int64_t j = 0; j < d->n; j++) {
      int64_t r = r0 + i;
      double v = model_epi(d, s, r, j, model_acc(d, s, r, j), bias);
      float f = (float)v;
      t->outputs++;
      t->f32_bad += fp8g_f32_bits(f) != fp8g_f32_bits(of[i * d->n + j]);
      t->bf16_gemm_bad += fp8g_f32_to_bf16(f) != ob[i * d->n + j];
      t->bf16_odd_bad += bf16_odd(v) != ob[i * d->n + j];
    }
}

typedef enum path { P_FUSED, P_SEPARATE, P_WT, P_DECODE1, P_DECODE16, P_COUNT } path;
static const char *const path_name[P_COUNT] = {"gemm fused", "gemm separate kc=64", "gemm C^T", "decode M=1",
                                               "decode M=16"};

/* Runs path on rows [0, m) of d (decode M=1: each row alone); false if not applicable. */
static bool run_path(const data *d, scheme s, path pa, int64_t m, bool bias, int threads, float *of,
                     uint16_t *ob) {
  const fp8g_gemm_kernel *kern = pa >= P_DECODE1 ? &fp8g_gemv_avx512bf16_w8a8 : &fp8g_gemm_avx512bf16_w8a8;
  fp8g_bf16_blocking small = {.kc = 64, .mc = 12, .ms = 2304, .nc_min = 64, .nc_max = 128,
                              .ws_floats = 1 << 21, .fused_rows = 0};
  fp8g_bf16_set_blocking(pa == P_SEPARATE ? &small : NULL);
  fp8g_bf16_set_wt(pa == P_WT ? 1 : 0);
  long wt0 = fp8g_bf16_wt_calls();
  int64_t step = pa == P_DECODE1 ? 1 : m;
  for (int64_t r0 = 0; r0 < m; r0 += step) {
    for (int o = 0; o < 2; o++) {
      fp8g_gemm_problem p = problem(d, s, r0, step, bias, o ? FP8GEMM_BF16 : FP8GEMM_F32,
                                    o ? (void *)(ob + r0 * d->n) : (void *)(of + r0 * d->n), threads);
      if (!kern->supports(&p)) return false;
      if (kern->run(&p) != FP8GEMM_OK) {
        fprintf(stderr, "run failed: %s\n", path_name[pa]);
        exit(1);
      }
    }
  }
  bool ok = pa != P_WT || fp8g_bf16_wt_calls() > wt0;
  fp8g_bf16_set_blocking(NULL);
  fp8g_bf16_set_wt(-1);
  return ok;
}

/* The GEMM's MX plan (fold or segmented) is chosen from the codes of every row: one
 * large activation exponent in row 16 changes the bits of rows 0..15. */
static void mx_plan_rows(void) {
  data d;
  data_init(&d, 96, 1001, false);
  int64_t m = 17;
  float *of = xcalloc((size_t)(m * d.n), sizeof(float));
  uint16_t *ob = xcalloc((size_t)(m * d.n), sizeof(uint16_t));
  for (int big = 0; big < 2; big++) {
    if (big) d.ea[16 * d.kmx] = 127 + 118; /* folded, row 16 would leave the safe range */
    run_path(&d, S_MX_FOLD, P_FUSED, m, false, 1, of, ob);
    tally tf = {0}, ts = {0};
    compare(&d, S_MX_FOLD, 0, 16, false, of, ob, &tf);
    compare(&d, S_MX_SEG, 0, 16, false, of, ob, &ts);
    printf("MX rows 0..15 of M = 17, row 16 %s: f32 != folded model %ld, != segmented model %ld (of %ld)\n",
           big ? "with ea = 2^118" : "like the others", tf.f32_bad, ts.f32_bad, tf.outputs);
  }
  free(of), free(ob);
  data_free(&d);
}

int main(void) {
  if (fp8g_isa() < FP8GEMM_ISA_AVX512_BF16) {
    printf("needs AVX512_BF16\n");
    return 0;
  }
  static const int64_t shapes[][2] = {{80, 1}, {80, 7}, {96, 130}, {200, 1001}, {64, 4096}};
  printf("%-9s %-6s %-4s %-20s %3s %2s %8s %8s %10s %9s\n", "scheme", "N", "K", "path", "M", "th", "outputs",
         "f32 !=", "bf16 2RNE!=", "bf16 odd!=");
  for (size_t sh = 0; sh < sizeof shapes / sizeof shapes[0]; sh++)
    for (int s = 0; s < S_COUNT; s++) {
      data d;
      data_init(&d, shapes[sh][0], shapes[sh][1], s == S_MX_SEG);
      for (int pa = 0; pa < P_COUNT; pa++)
        for (int64_t m = pa >= P_DECODE1 ? 16 : 17; m <= (pa >= P_DECODE1 ? 16 : MMAX); m += 15)
          for (int threads = 1; threads <= 2; threads++) {
            bool bias = (sh + (size_t)m) % 2 == 0;
            float *of = xcalloc((size_t)(m * d.n), sizeof(float));
            uint16_t *ob = xcalloc((size_t)(m * d.n), sizeof(uint16_t));
            if (run_path(&d, (scheme)s, (path)pa, m, bias, threads, of, ob)) {
              tally t = {0};
              compare(&d, (scheme)s, 0, m, bias, of, ob, &t);
              printf("%-9s %-6lld %-4lld %-20s %3lld %2d %8ld %8ld %10ld %9ld%s\n", scheme_name[s],
                     (long long)d.n, (long long)d.k, path_name[pa], (long long)m, threads, t.outputs, t.f32_bad,
                     t.bf16_gemm_bad, t.bf16_odd_bad, bias ? " bias" : "");
            }
            free(of), free(ob);
          }
      data_free(&d);
    }
  mx_plan_rows();
  return 0;
}
