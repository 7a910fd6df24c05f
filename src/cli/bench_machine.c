/* Calibration for `fp8gemm bench`: the machine's own limits, measured in the same run as
 * the kernels so that "% of peak" compares like with like. The loops live in
 * src/cli/calib/, one file per ISA level with its own compiler flags; this file picks
 * them from the ISA in force and runs them on pinned threads. */
#define _GNU_SOURCE
#include "bench_machine.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "calib/bench_calib.h"
#include "fp8gemm.h"
#include "internal.h" /* fp8g_big_alloc: the huge-page read buffer is placed as packed weights are */

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

/* ------------------------------------------------------------ pinned workers */
enum { MAX_WORKERS = 64 };

typedef struct worker {
  int cpu;
  atomic_int *ready, *go; /* count of pinned workers; all spin on go, then start */
  float (*compute)(long iters);
  long iters;
  uint64_t (*read)(const uint8_t *p, size_t bytes);
  const uint8_t *buf;
  size_t bytes;
  double start, end; /* bench_now() around the loop */
  uint64_t sink;
} worker;

static void pin_to_cpu(int cpu) {
  if (cpu < 0) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  (void)sched_setaffinity(0, sizeof set, &set);
}

static void run_loop(worker *w) {
  w->start = bench_now();
  if (w->compute) w->sink = (uint64_t)(w->compute(w->iters) != 0.0f);
  else w->sink = w->read(w->buf, w->bytes);
  w->end = bench_now();
}

static void *worker_main(void *arg) {
  worker *w = arg;
  pin_to_cpu(w->cpu);
  atomic_fetch_add_explicit(w->ready, 1, memory_order_acq_rel);
  while (!atomic_load_explicit(w->go, memory_order_acquire)) {
  }
  run_loop(w);
  return NULL;
}

/* Runs the workers together (the caller is worker 0), each pinned to its own CPU of the
 * caller's mask, and restores the caller's mask: the library's pool threads created
 * later inherit it. Returns the time from the first worker's start to the last one's
 * end (workers that did not overlap would otherwise each see a whole core's share of
 * the memory: 2 threads once "streamed" 55 GB/s here), or 0 if a thread did not start. */
static double run_workers(worker *w, int n) {
  cpu_set_t saved;
  int cpus[MAX_WORKERS], ncpu = 0;
  int have_mask = sched_getaffinity(0, sizeof saved, &saved) == 0;
  for (int c = 0; have_mask && c < CPU_SETSIZE && ncpu < MAX_WORKERS; c++)
    if (CPU_ISSET(c, &saved)) cpus[ncpu++] = c;
  atomic_int ready, go;
  atomic_init(&ready, 0);
  atomic_init(&go, 0);
  for (int i = 0; i < n; i++) {
    w[i].cpu = ncpu ? cpus[i % ncpu] : -1;
    w[i].ready = &ready;
    w[i].go = &go;
  }
  pthread_t th[MAX_WORKERS];
  int started = 0;
  while (started < n - 1 && pthread_create(&th[started + 1], NULL, worker_main, &w[started + 1]) == 0)
    started++;
  if (started == n - 1) { /* worker 0 pins itself, waits for the others to be pinned */
    pin_to_cpu(w[0].cpu);
    while (atomic_load_explicit(&ready, memory_order_acquire) < n - 1) {
    }
    atomic_store_explicit(&go, 1, memory_order_release);
    run_loop(&w[0]);
  } else {
    atomic_store_explicit(&go, 1, memory_order_release); /* release the started ones */
  }
  for (int i = 1; i <= started; i++) pthread_join(th[i], NULL);
  if (have_mask) (void)sched_setaffinity(0, sizeof saved, &saved);
  if (started != n - 1) return 0.0;
  double first = w[0].start, last = w[0].end;
  for (int i = 1; i < n; i++) {
    if (w[i].start < first) first = w[i].start;
    if (w[i].end > last) last = w[i].end;
  }
  return last - first;
}

/* Best rate (units per second) of `reps` runs of one compute loop on every worker. */
static double compute_peak(float (*loop)(long), long iters, double flops_per_iter, int threads,
                           int reps) {
  double best = 0.0;
  for (int rep = 0; rep < reps; rep++) {
    worker w[MAX_WORKERS];
    memset(w, 0, sizeof w);
    for (int i = 0; i < threads; i++) w[i] = (worker){.compute = loop, .iters = iters};
    double t = run_workers(w, threads);
    double rate = t > 0 ? (double)threads * (double)iters * flops_per_iter / t : 0.0;
    if (rate > best) best = rate;
  }
  return best;
}

/* Best rate of `reps` passes over buf, each worker reading its own contiguous part. */
static double read_peak(uint64_t (*loop)(const uint8_t *, size_t), const uint8_t *buf,
                        size_t bytes, int threads, int reps) {
  size_t part = bytes / (size_t)threads / 4096 * 4096;
  double best = 0.0;
  for (int rep = 0; rep < reps; rep++) {
    worker w[MAX_WORKERS];
    memset(w, 0, sizeof w);
    for (int i = 0; i < threads; i++)
      w[i] = (worker){.read = loop, .buf = buf + (size_t)i * part, .bytes = part};
    double t = run_workers(w, threads);
    double rate = t > 0 ? (double)(part * (size_t)threads) / t : 0.0;
    if (rate > best) best = rate;
  }
  return best;
}

/* Portable stand-in where there is no AVX2 (the scalar build of the library). */
static uint64_t read_u64(const uint8_t *p, size_t bytes) {
  uint64_t acc[4] = {0, 0, 0, 0};
  size_t i = 0;
  for (; i + 32 <= bytes; i += 32)
    for (int l = 0; l < 4; l++) {
      uint64_t v;
      memcpy(&v, p + i + 8 * l, sizeof v);
      acc[l] ^= v;
    }
  for (; i < bytes; i++) acc[0] ^= p[i];
  return acc[0] ^ acc[1] ^ acc[2] ^ acc[3];
}

/* Fraction of the mapping holding p (of `bytes`) on 2 MiB pages: its AnonHugePages in
 * /proc/self/smaps; -1 where that is not available. */
static double huge_share(const void *p, size_t bytes) {
  FILE *f = fopen("/proc/self/smaps", "r");
  if (!f) return -1.0;
  char line[512];
  bool in = false;
  double kb = -1.0;
  while (fgets(line, sizeof line, f)) {
    unsigned long lo, hi;
    char perm;
    if (sscanf(line, "%lx-%lx %c", &lo, &hi, &perm) == 3) {
      if (in) break;
      in = (uintptr_t)p >= lo && (uintptr_t)p < hi;
    } else if (in && sscanf(line, "AnonHugePages: %lf", &kb) == 1) {
      break;
    }
  }
  fclose(f);
  if (kb < 0) return -1.0;
  double share = kb * 1024.0 / (double)bytes;
  return share < 1.0 ? share : 1.0;
}

/* The streaming read of buf (already touched): 256-bit loads, and 512-bit ones where
 * AVX-512 is in force, the faster counting. */
static double read_rate(fp8gemm_isa isa, const uint8_t *buf, size_t bytes, int threads,
                        const char **what) {
  double gbps;
  if (isa >= FP8GEMM_ISA_AVX2) {
    gbps = read_peak(bench_read_avx2, buf, bytes, threads, 7) / 1e9;
    *what = "256-bit loads";
  } else {
    gbps = read_peak(read_u64, buf, bytes, threads, 7) / 1e9;
    *what = "64-bit loads";
  }
  if (isa >= FP8GEMM_ISA_AVX512) {
    double wide = read_peak(bench_read_avx512, buf, bytes, threads, 7) / 1e9;
    if (wide > gbps) {
      gbps = wide;
      *what = "512-bit loads";
    }
  }
  return gbps;
}

void bench_measure_peaks(int threads, size_t read_bytes, bench_peaks *out) {
  memset(out, 0, sizeof *out);
  if (threads < 1) threads = 1;
  if (threads > MAX_WORKERS) threads = MAX_WORKERS;
  fp8gemm_isa isa = fp8gemm_isa_active();
  /* Short repetitions (~10-15 ms on a 3-4 GHz core), best of 9: on a shared machine
   * a short window is more likely to run undisturbed than a long one. ~0.2 s of
   * uncounted FMA work comes first: once, on an otherwise idle machine, all 9 reps of
   * the 1-thread bf16 loop read 166 instead of 234 GFLOP/s (cause not established; a
   * core ramping up from idle is the usual suspect), inflating every %peak of the run. */
  float (*warm)(long) = isa >= FP8GEMM_ISA_AVX512 ? bench_fma_loop_avx512
                        : isa >= FP8GEMM_ISA_AVX2 ? bench_fma_loop_avx2
                                                  : NULL;
  if (warm) compute_peak(warm, 2000000, 1.0, threads, 20);
  if (isa >= FP8GEMM_ISA_AVX512_BF16)
    out->bf16_gflops =
        compute_peak(bench_bf16dot_loop_avx512bf16, 2000000, BENCH_BF16DOT_FLOPS, threads, 9) / 1e9;
  if (isa >= FP8GEMM_ISA_AVX512) {
    out->fma_gflops =
        compute_peak(bench_fma_loop_avx512, 2000000, BENCH_FMA_AVX512_FLOPS, threads, 9) / 1e9;
    out->fma_what = "zmm";
  } else if (isa >= FP8GEMM_ISA_AVX2) {
    out->fma_gflops =
        compute_peak(bench_fma_loop_avx2, 6000000, BENCH_FMA_AVX2_FLOPS, threads, 9) / 1e9;
    out->fma_what = "ymm";
  } else {
    out->fma_what = "none";
  }
  out->read_huge_share = out->read_small_share = -1.0;
  if (!read_bytes) return;
  /* With AVX-512 both widths run and the faster counts: on Zen 4, 256-bit loads
   * stream ~10% faster than 512-bit ones (30 vs 27 GB/s on one core), and a kernel may
   * use either. Two buffers: a malloc'd one (4 KiB pages unless THP is "always"), as a
   * caller's weights are, and one from the allocator of packed weights (2 MiB pages
   * where THP allows), which one core may stream faster (docs/bench.md): each weight
   * form is compared with the read over its own kind of memory. */
  uint8_t *buf = aligned_alloc(4096, (read_bytes + 4095) / 4096 * 4096);
  if (buf) {
    memset(buf, 1, read_bytes); /* touch every page before timing */
    out->read_small_share = huge_share(buf, read_bytes);
    out->read_gbps = read_rate(isa, buf, read_bytes, threads, &out->read_what);
    free(buf);
  }
  size_t mapped;
  buf = fp8g_big_alloc(read_bytes, &mapped);
  if (buf) {
    memset(buf, 1, read_bytes);
    out->read_huge_share = mapped ? huge_share(buf, read_bytes) : 0.0;
    out->read_huge_gbps = read_rate(isa, buf, read_bytes, threads, &out->read_huge_what);
    fp8g_big_free(buf, mapped);
  }
}
