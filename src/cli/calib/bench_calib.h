/* Calibration loops of `fp8gemm bench`, one translation unit per ISA level, each built
 * with that level's compiler flags (CMakeLists.txt) and called only when the CPU has it
 * (bench_machine.c picks them from fp8gemm_isa_active()). */
#ifndef FP8GEMM_CLI_BENCH_CALIB_H
#define FP8GEMM_CLI_BENCH_CALIB_H

#include <stddef.h>
#include <stdint.h>

/* Independent accumulators per loop iteration: enough to cover latency x throughput of
 * the instruction on current x86 cores (FMA / VDPBF16PS: 4-5 cycles x 2 per cycle). */
enum { BENCH_FMA_CHAINS_YMM = 12, BENCH_CHAINS_ZMM = 24 };
/* Independent read streams per thread: a single sequential stream leaves the hardware
 * prefetchers short of what the memory can deliver (measured on Zen 4: ~19 vs ~24 GB/s
 * on one core). */
enum { BENCH_READ_STREAMS = 8 };

/* FLOP per iteration of each compute loop. FMA: 2 per lane; VDPBF16PS: two bf16
 * products and two adds per fp32 lane. */
#define BENCH_FMA_AVX2_FLOPS (BENCH_FMA_CHAINS_YMM * 8.0 * 2.0)
#define BENCH_FMA_AVX512_FLOPS (BENCH_CHAINS_ZMM * 16.0 * 2.0)
#define BENCH_BF16DOT_FLOPS (BENCH_CHAINS_ZMM * 16.0 * 4.0)

/* X(j) for each of the BENCH_CHAINS_ZMM chains, and the same split in two halves for
 * asm barriers (at most 30 operands each): the loops name every chain as its own
 * variable so that the compiler keeps them all in registers (an array with a loop
 * over it stayed in memory with gcc 12). */
#define BENCH_ZMM_CHAINS_LO(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
#define BENCH_ZMM_CHAINS_HI(X) \
  X(12) X(13) X(14) X(15) X(16) X(17) X(18) X(19) X(20) X(21) X(22) X(23)
#define BENCH_ZMM_CHAINS(X) BENCH_ZMM_CHAINS_LO(X) BENCH_ZMM_CHAINS_HI(X)

/* Compute loops: `iters` iterations; the return value depends on every chain so that
 * none can be dropped. */
float bench_fma_loop_avx2(long iters);          /* 12 x VFMADD ymm per iteration */
float bench_fma_loop_avx512(long iters);        /* 24 x VFMADD zmm */
float bench_bf16dot_loop_avx512bf16(long iters); /* 24 x VDPBF16PS zmm */

/* Streaming reads of p[0, bytes): BENCH_READ_STREAMS interleaved streams of 256-bit /
 * 512-bit loads, any alignment and size (the tail is read bytewise). Returns an XOR of
 * everything read. */
uint64_t bench_read_avx2(const uint8_t *p, size_t bytes);
uint64_t bench_read_avx512(const uint8_t *p, size_t bytes);

#endif
