/* Calibration loops for `fp8gemm bench`: the machine's own limits, measured in the
 * same run as the kernels so that "% of peak" compares like with like. */
#define _GNU_SOURCE
#include "bench_machine.h"

#include <immintrin.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

double bench_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

double bench_median(double *v, int n) {
  if (n <= 0) return 0.0;
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

void bench_pin_to_cpu(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  (void)sched_setaffinity(0, sizeof set, &set);
}

size_t bench_llc_bytes(void) {
  size_t best = 0;
  for (int idx = 0; idx < 8; idx++) {
    char path[128];
    snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/size", idx);
    FILE *f = fopen(path, "r");
    if (!f) continue;
    unsigned long v = 0;
    char unit = 0;
    if (fscanf(f, "%lu%c", &v, &unit) >= 1) {
      size_t bytes = v * (unit == 'K' ? 1024ul : unit == 'M' ? 1024ul * 1024 : 1ul);
      if (bytes > best) best = bytes;
    }
    fclose(f);
  }
  return best ? best : (size_t)32 << 20;
}

/* ------------------------------------------------------------ threads */

typedef struct worker {
  int cpu;
  const uint8_t *buf;
  size_t bytes;
  long iters;
  double seconds;
  volatile float sink;
} worker;

/* Runs fn on `threads` threads (the caller is thread 0) and restores the caller's CPU
 * mask afterwards: threads the library creates later inherit it. */
static void run_workers(worker *w, int threads, void *(*fn)(void *)) {
  cpu_set_t saved;
  int have_mask = sched_getaffinity(0, sizeof saved, &saved) == 0;
  pthread_t th[64];
  int started = 0;
  for (int i = 1; i < threads && i < 64; i++)
    if (pthread_create(&th[i], NULL, fn, &w[i]) == 0) started = i;
  fn(&w[0]);
  for (int i = 1; i <= started; i++) pthread_join(th[i], NULL);
  if (have_mask) (void)sched_setaffinity(0, sizeof saved, &saved);
}

/* 12 independent accumulators: enough to cover FMA latency x throughput (4 x 2). */
__attribute__((target("avx2,fma"))) static void *fma_loop(void *arg) {
  worker *w = arg;
  bench_pin_to_cpu(w->cpu);
  __m256 x = _mm256_set1_ps(0.999f), y = _mm256_set1_ps(1e-3f);
  /* Distinct starting values and every chain in the asm barrier: chains that start
   * equal are merged by the compiler (seen with gcc 12: 7 FMAs left of 12, and a
   * "peak" 1.45x the real one). */
  __m256 c0 = _mm256_set1_ps(0.1f), c1 = _mm256_set1_ps(0.2f), c2 = _mm256_set1_ps(0.3f),
         c3 = _mm256_set1_ps(0.4f), c4 = _mm256_set1_ps(0.5f), c5 = _mm256_set1_ps(0.6f),
         c6 = _mm256_set1_ps(0.7f), c7 = _mm256_set1_ps(0.8f), c8 = _mm256_set1_ps(0.9f),
         c9 = _mm256_set1_ps(1.1f), c10 = _mm256_set1_ps(1.2f), c11 = _mm256_set1_ps(1.3f);
  double t0 = bench_now();
  for (long i = 0; i < w->iters; i++) {
    c0 = _mm256_fmadd_ps(c0, x, y);
    c1 = _mm256_fmadd_ps(c1, x, y);
    c2 = _mm256_fmadd_ps(c2, x, y);
    c3 = _mm256_fmadd_ps(c3, x, y);
    c4 = _mm256_fmadd_ps(c4, x, y);
    c5 = _mm256_fmadd_ps(c5, x, y);
    c6 = _mm256_fmadd_ps(c6, x, y);
    c7 = _mm256_fmadd_ps(c7, x, y);
    c8 = _mm256_fmadd_ps(c8, x, y);
    c9 = _mm256_fmadd_ps(c9, x, y);
    c10 = _mm256_fmadd_ps(c10, x, y);
    c11 = _mm256_fmadd_ps(c11, x, y);
    __asm__ volatile("" : "+x"(c0), "+x"(c1), "+x"(c2), "+x"(c3), "+x"(c4), "+x"(c5), "+x"(c6),
                     "+x"(c7), "+x"(c8), "+x"(c9), "+x"(c10), "+x"(c11)); /* keep 12 chains */
  }
  w->seconds = bench_now() - t0;
  __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(c0, c1), _mm256_add_ps(c2, c3)),
                           _mm256_add_ps(_mm256_add_ps(c4, c5), _mm256_add_ps(c6, c7)));
  s = _mm256_add_ps(s, _mm256_add_ps(_mm256_add_ps(c8, c9), _mm256_add_ps(c10, c11)));
  w->sink = _mm256_cvtss_f32(s);
  return NULL;
}

double bench_fma_peak_gflops(int threads) {
  if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) return 0.0;
  if (threads < 1) threads = 1;
  if (threads > 64) threads = 64;
  double best = 0.0;
  for (int rep = 0; rep < 3; rep++) {
    worker w[64];
    memset(w, 0, sizeof w);
    for (int i = 0; i < threads; i++) w[i] = (worker){.cpu = i, .iters = 20000000};
    run_workers(w, threads, fma_loop);
    double flops = 0.0, slowest = 0.0;
    for (int i = 0; i < threads; i++) {
      flops += (double)w[i].iters * 12 * 16;
      if (w[i].seconds > slowest) slowest = w[i].seconds;
    }
    if (slowest > 0 && flops / slowest / 1e9 > best) best = flops / slowest / 1e9;
  }
  return best;
}

__attribute__((target("avx2"))) static void *read_loop(void *arg) {
  worker *w = arg;
  bench_pin_to_cpu(w->cpu);
  __m256i a = _mm256_setzero_si256(), b = a, c = a, d = a;
  double t0 = bench_now();
  for (size_t i = 0; i + 128 <= w->bytes; i += 128) {
    a = _mm256_xor_si256(a, _mm256_loadu_si256((const __m256i *)(w->buf + i)));
    b = _mm256_xor_si256(b, _mm256_loadu_si256((const __m256i *)(w->buf + i + 32)));
    c = _mm256_xor_si256(c, _mm256_loadu_si256((const __m256i *)(w->buf + i + 64)));
    d = _mm256_xor_si256(d, _mm256_loadu_si256((const __m256i *)(w->buf + i + 96)));
  }
  w->seconds = bench_now() - t0;
  __m256i s = _mm256_xor_si256(_mm256_xor_si256(a, b), _mm256_xor_si256(c, d));
  w->sink = (float)_mm256_extract_epi32(s, 0);
  return NULL;
}

double bench_read_bandwidth_gbps(int threads, size_t bytes) {
  if (!__builtin_cpu_supports("avx2")) return 0.0;
  if (threads < 1) threads = 1;
  if (threads > 64) threads = 64;
  uint8_t *buf = aligned_alloc(4096, bytes);
  if (!buf) return 0.0;
  memset(buf, 1, bytes);
  double times[7];
  int reps = 7;
  size_t part = bytes / (size_t)threads / 128 * 128;
  for (int rep = 0; rep < reps; rep++) {
    worker w[64];
    memset(w, 0, sizeof w);
    for (int i = 0; i < threads; i++)
      w[i] = (worker){.cpu = i, .buf = buf + (size_t)i * part, .bytes = part};
    double t0 = bench_now();
    run_workers(w, threads, read_loop);
    times[rep] = bench_now() - t0;
  }
  free(buf);
  double t = bench_median(times, reps);
  return t > 0 ? (double)(part * (size_t)threads) / t / 1e9 : 0.0;
}
