/*
 * bench_gemm: the GEMM kernels (M > 16 path) against this machine's peak measured in
 * the same run. Not the user-facing `fp8gemm bench`; a kernel developer's tool. Usage:
 *   bench_gemm [M N K [reps [nt|nn [avx2|bf16]]]]  (default 1024 1024 1024 3 nn avx2)
 *   "nt": weight stored [N, K]; "bf16": gemm_avx512bf16 / gemm_w8a16_avx512bf16 against a
 *   VDPBF16PS peak loop
 *   (24 independent accumulators), "avx2": gemm_avx2 against the fp32 FMA peak.
 * Prints, per scheme and thread count: kernel, median seconds, GFLOP/s, % of peak
 * (per CPU-second, so 2 threads compare with 1 core's peak); schemes the kernel does
 * not support are skipped.
 * On a shared machine, count cycles instead of time: BENCH_ONLY=<scheme index> and
 * BENCH_THREADS=<n> run one configuration without calibration, e.g.
 *   BENCH_ONLY=0 BENCH_THREADS=1 perf stat -e cycles:u build/bench_gemm 2048 2048 2048 3
 * (FLOP per cycle = 2 M N K (reps + 1) / cycles; the FMA peak is 32 per cycle).
 */
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernels/avx2/gemm_avx2.h"
#include "kernels/gemm_bf16.h"

static double clock_s(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
static double now(void) { return clock_s(CLOCK_MONOTONIC); }
/* CPU seconds of the whole process: unlike wall time, not inflated when other
 * processes share the cores, so GFLOP per CPU-second is comparable across runs. */
static double cpu_now(void) { return clock_s(CLOCK_PROCESS_CPUTIME_ID); }

/* 12 independent FMA chains of 8 lanes: 2 FMA ports x latency 4 need >= 8. */
__attribute__((target("avx2,fma"))) static double fma_peak_gflops(void) {
  __m256 acc[12];
  for (int i = 0; i < 12; i++) acc[i] = _mm256_set1_ps((float)i);
  __m256 x = _mm256_set1_ps(0.999999f), y = _mm256_set1_ps(1e-7f);
  const long iters = 20000000;
  double best = 0;
  for (int rep = 0; rep < 3; rep++) {
    double t0 = cpu_now();
    for (long it = 0; it < iters; it++) {
      for (int i = 0; i < 12; i++) acc[i] = _mm256_fmadd_ps(acc[i], x, y);
    }
    double t = cpu_now() - t0;
    double g = (double)iters * 12 * 8 * 2 / t * 1e-9;
    if (g > best) best = g;
  }
  __m256 all = acc[0];
  for (int i = 1; i < 12; i++) all = _mm256_add_ps(all, acc[i]);
  float sink[8];
  _mm256_storeu_ps(sink, all);
  if (sink[0] == 12345.0f) printf(" ");
  return best;
}

/* 24 independent VDPBF16PS chains (latency 6, ~1 per cycle on Zen 4 as two halves),
 * operands in registers: the bf16-dot peak of one core. */
__attribute__((target("avx512f,avx512bf16"))) static double bf16_peak_gflops(void) {
  /* 24 named accumulators: an array would live in memory. */
#define PK_EACH(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) \
  X(12) X(13) X(14) X(15) X(16) X(17) X(18) X(19) X(20) X(21) X(22) X(23)
#define PK_DECL(i) __m512 c##i = _mm512_set1_ps((float)(i));
#define PK_DOT(i) c##i = _mm512_dpbf16_ps(c##i, (__m512bh)x, (__m512bh)y);
#define PK_SUM(i) all = _mm512_add_ps(all, c##i);
  PK_EACH(PK_DECL)
  __m512i x = _mm512_set1_epi32(0x3f803f80), y = _mm512_set1_epi32(0x33d633d6);
  const long iters = 10000000;
  double best = 0;
  for (int rep = 0; rep < 3; rep++) {
    double t0 = cpu_now();
    for (long it = 0; it < iters; it++) {
      PK_EACH(PK_DOT)
      __asm__ volatile("" : "+v"(x), "+v"(y)); /* operands stay registers, not constants */
    }
    double t = cpu_now() - t0;
    double g = (double)iters * 24 * 16 * 4 / t * 1e-9;
    if (g > best) best = g;
  }
  __m512 all = _mm512_setzero_ps();
  PK_EACH(PK_SUM)
#undef PK_EACH
#undef PK_DECL
#undef PK_DOT
#undef PK_SUM
  float sink[16];
  _mm512_storeu_ps(sink, all);
  if (sink[0] == 12345.0f) printf(" ");
  return best;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

typedef struct setup {
  const char *name;
  fp8g_scale_kind kind;
  bool w8a16;
} setup;

int main(int argc, char **argv) {
  int64_t m = 1024, n = 1024, k = 1024;
  int reps = 3;
  if (argc >= 4) {
    m = atoll(argv[1]);
    n = atoll(argv[2]);
    k = atoll(argv[3]);
  }
  if (argc >= 5) reps = atoi(argv[4]);
  bool nt = argc >= 6 && strcmp(argv[5], "nt") == 0;
  bool bf16 = argc >= 7 && strcmp(argv[6], "bf16") == 0;
  if (bf16 && fp8gemm_isa_detected() < FP8GEMM_ISA_AVX512_BF16) {
    printf("bench_gemm: CPU lacks AVX512_BF16; nothing to measure\n");
    return 0;
  }
  if (fp8gemm_isa_detected() < FP8GEMM_ISA_AVX2) {
    printf("bench_gemm: CPU lacks AVX2+FMA+F16C; nothing to measure\n");
    return 0;
  }
  const char *only = getenv("BENCH_ONLY"), *env_threads = getenv("BENCH_THREADS");
  /* BENCH_BLOCKING="kc mc ms nc_min nc_max ws_floats fused_rows" overrides the block sizes. */
  const char *env_bl = getenv("BENCH_BLOCKING");
  fp8g_avx2_blocking bl;
  if (env_bl && sscanf(env_bl, "%ld %ld %ld %ld %ld %ld %ld", &bl.kc, &bl.mc, &bl.ms, &bl.nc_min,
                       &bl.nc_max, &bl.ws_floats, &bl.fused_rows) == 7)
    fp8g_avx2_set_blocking(&bl);
  /* BENCH_BF16_BLOCKING="kc mc ms nc_min nc_max ws_floats fused_rows": gemm_avx512bf16's. */
  const char *env_bb = getenv("BENCH_BF16_BLOCKING");
  fp8g_bf16_blocking bb;
  if (env_bb && sscanf(env_bb, "%ld %ld %ld %ld %ld %ld %ld", &bb.kc, &bb.mc, &bb.ms, &bb.nc_min,
                       &bb.nc_max, &bb.ws_floats, &bb.fused_rows) == 7)
    fp8g_bf16_set_blocking(&bb);
  double peak = only ? 0.0 : bf16 ? bf16_peak_gflops() : fma_peak_gflops();
  printf("%s peak (1 thread, measured per CPU-second): %.1f GFLOP/s\n",
         bf16 ? "VDPBF16PS" : "fp32 FMA", peak);
  printf("shape M=%lld N=%lld K=%lld, weight %s, median of %d\n", (long long)m, (long long)n,
         (long long)k, nt ? "NT ([N, K] storage)" : "NN", reps);

  uint8_t *a = malloc((size_t)(m * k)), *bw = malloc((size_t)(k * n));
  uint16_t *a16 = malloc((size_t)(m * k) * 2);
  int64_t *rows = malloc((size_t)m * sizeof *rows);
  uint16_t *out = malloc((size_t)(m * n) * 2);
  int64_t kb128 = (k + 127) / 128, nb128 = (n + 127) / 128, kb32 = (k + 31) / 32;
  float *sa = malloc((size_t)(m * kb128) * sizeof(float));
  int64_t n_sb = kb32 * n; /* the largest: w8a16 groups [K/32, N] */
  float *sb = malloc((size_t)n_sb * sizeof(float));
  uint8_t *ea = malloc((size_t)(m * kb32)), *eb = malloc((size_t)(kb32 * n));
  srand(1);
  for (int64_t i = 0; i < m * k; i++) {
    a[i] = (uint8_t)(rand() & 0x77); /* finite e4m3fn codes */
    a16[i] = (uint16_t)(0x3f80 + (rand() & 0x7f));
  }
  for (int64_t i = 0; i < k * n; i++) bw[i] = (uint8_t)(rand() & 0x77);
  for (int64_t i = 0; i < m; i++) rows[i] = i * k;
  for (int64_t i = 0; i < m * kb128; i++) sa[i] = 0.01f + (float)(rand() % 100) * 1e-4f;
  for (int64_t i = 0; i < n_sb; i++)
    sb[i] = 0.02f + (float)(rand() % 100) * 1e-4f;
  for (int64_t i = 0; i < m * kb32; i++) ea[i] = (uint8_t)(120 + rand() % 8);
  for (int64_t i = 0; i < kb32 * n; i++) eb[i] = (uint8_t)(120 + rand() % 8);

  static const setup setups[] = {
      {"w8a8 per-token x per-channel", FP8G_SCALE_ROWCOL, false},
      {"w8a8 per-tensor", FP8G_SCALE_TENSOR, false},
      {"w8a8 block 1x128 x 128x128", FP8G_SCALE_BLOCK, false},
      {"w8a8 mx (e8m0 / 32)", FP8G_SCALE_MX, false},
      {"w8a16 bf16 per-channel", FP8G_SCALE_ROWCOL, true},
      {"w8a16 bf16 group 128 (fp32 scales)", FP8G_SCALE_BLOCK, true},
      {"w8a16 bf16 group 32 (fp32 scales)", FP8G_SCALE_BLOCK, true},
  };
  int max_threads = fp8gemm_get_num_threads();
  double flops = 2.0 * (double)m * (double)n * (double)k;
  for (size_t s = 0; s < sizeof setups / sizeof setups[0]; s++) {
    if (only && (size_t)atoi(only) != s) continue;
    const setup *st = &setups[s];
    fp8g_gemm_problem p = {.batch = 1, .m = m, .n = n, .k = k, .a_row_offset = rows,
                           .a_stride_k = 1, .b = bw, .b_stride_k = nt ? 1 : n, .b_stride_n = nt ? k : 1,
                           .scale_kind = st->kind, .block_k = k, .block_n = 1, .a_kblocks = 1,
                           .b_nblocks = n, .sa = sa, .sb = sb, .out = out,
                           .out_dtype = FP8GEMM_BF16, .b_dtype = FP8GEMM_E4M3FN};
    p.a_dtype = st->w8a16 ? FP8GEMM_BF16 : FP8GEMM_E4M3FN;
    p.a = st->w8a16 ? (const void *)a16 : (const void *)a;
    if (st->w8a16) p.sa = NULL;
    if (st->kind == FP8G_SCALE_BLOCK && strstr(st->name, "group 32")) {
      p.block_k = 32;
      p.a_kblocks = kb32;
    } else if (st->kind == FP8G_SCALE_BLOCK) {
      p.block_k = 128;
      p.block_n = st->w8a16 ? 1 : 128;
      p.a_kblocks = kb128;
      p.b_nblocks = st->w8a16 ? n : nb128;
    } else if (st->kind == FP8G_SCALE_MX) {
      p.block_k = 32;
      p.a_kblocks = kb32;
      p.ea = ea;
      p.eb = eb;
    }
    const fp8g_gemm_kernel *kern = bf16 ? (st->w8a16 ? &fp8g_gemm_avx512bf16_w8a16 : &fp8g_gemm_avx512bf16_w8a8)
                                   : st->w8a16 ? &fp8g_gemm_avx2_w8a16 : &fp8g_gemm_avx2_w8a8;
    if (!kern->supports(&p)) continue;
    double base = 0;
    int nt_lo = env_threads ? atoi(env_threads) : 1, nt_hi = env_threads ? nt_lo : max_threads;
    for (int nt = nt_lo; nt <= nt_hi; nt++) {
      p.nthreads = nt;
      double *t = malloc((size_t)reps * sizeof(double)), *c = malloc((size_t)reps * sizeof(double));
      kern->run(&p); /* warm-up */
      for (int r = 0; r < reps; r++) {
        double t0 = now(), c0 = cpu_now();
        kern->run(&p);
        t[r] = now() - t0;
        c[r] = cpu_now() - c0;
      }
      qsort(t, (size_t)reps, sizeof(double), cmp);
      qsort(c, (size_t)reps, sizeof(double), cmp);
      double med = t[reps / 2], g = flops / med * 1e-9, gc = flops / c[reps / 2] * 1e-9;
      if (nt == nt_lo) base = g;
      printf("%-36s %-16s threads=%d  %.4f s  %7.1f GFLOP/s (x%.2f vs %d thr)  per CPU-s %6.1f = "
             "%5.1f%% of peak\n",
             st->name, kern->name, nt, med, g, g / base, nt_lo, gc, peak > 0 ? 100.0 * gc / peak : 0.0);
      free(t);
      free(c);
    }
  }
  free(a); free(bw); free(a16); free(rows); free(out); free(sa); free(sb); free(ea); free(eb);
  return 0;
}
