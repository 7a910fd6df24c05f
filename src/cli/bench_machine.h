/* What `fp8gemm bench` measures about the machine itself, in the same run as the
 * kernels: the compute peaks (bf16 dot product where the CPU has one, fp32 FMA at the
 * widest vector width), streaming-read bandwidth, L3 size; plus timing helpers. */
#ifndef FP8GEMM_CLI_BENCH_MACHINE_H
#define FP8GEMM_CLI_BENCH_MACHINE_H

#include <stddef.h>

/* Monotonic clock in seconds. */
double bench_now(void);
/* Median of n values (sorts v in place). */
double bench_median(double *v, int n);

/* The limits of one thread count, each the best of several repetitions on `threads`
 * threads pinned to distinct CPUs of the caller's affinity mask and started together.
 * Loops are chosen by fp8gemm_isa_active() (the CPU's ISA under FP8GEMM_MAX_ISA); a
 * figure is 0 where the ISA in force has no such instruction. */
typedef struct bench_peaks {
  double bf16_gflops; /* VDPBF16PS zmm, 64 FLOP per instruction */
  double fma_gflops;  /* fp32 FMA at the widest width: zmm with AVX-512, else ymm */
  double read_gbps;   /* streaming read of `read_bytes`, 1e9 bytes/s: the faster of
                       * 256-bit and 512-bit loads where both exist; a malloc'd buffer,
                       * as a caller's weights are */
  double read_huge_gbps; /* the same over a buffer placed as packed weights are (the
                          * library's 2 MiB-aligned, MADV_HUGEPAGE allocation) */
  double read_huge_share, read_small_share; /* fraction of each buffer the kernel put on
                                             * 2 MiB pages (smaps AnonHugePages; -1 unknown) */
  const char *fma_what, *read_what, *read_huge_what; /* e.g. "zmm", "512-bit loads" */
} bench_peaks;
void bench_measure_peaks(int threads, size_t read_bytes, bench_peaks *out);

/* Last-level cache size in bytes (sysfs), or 32 MiB if unknown. */
size_t bench_llc_bytes(void);

#endif
