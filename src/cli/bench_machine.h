/* What `fp8gemm bench` measures about the machine itself, in the same run as the
 * kernels: fp32 FMA peak, streaming-read bandwidth, L3 size; plus timing helpers. */
#ifndef FP8GEMM_CLI_BENCH_MACHINE_H
#define FP8GEMM_CLI_BENCH_MACHINE_H

#include <stddef.h>

/* Monotonic clock in seconds. */
double bench_now(void);
/* Median of n values (sorts v in place). */
double bench_median(double *v, int n);

/* fp32 FMA peak in GFLOP/s with `threads` threads, each pinned to its own CPU
 * (a loop of independent 8-wide FMAs: 2 FLOP per lane). 0 if the CPU has no AVX2/FMA. */
double bench_fma_peak_gflops(int threads);
/* Streaming-read bandwidth in GB/s (1e9 bytes/s) with `threads` pinned threads reading
 * disjoint halves of a buffer much larger than the last-level cache. */
double bench_read_bandwidth_gbps(int threads, size_t bytes);
/* Last-level cache size in bytes (sysfs), or 32 MiB if unknown. */
size_t bench_llc_bytes(void);
/* Pins the calling thread to CPU `cpu` (best effort). */
void bench_pin_to_cpu(int cpu);

#endif
