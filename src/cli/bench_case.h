/* `fp8gemm bench` measurements: ops on one shape through the public API, every scheme
 * asked for timed in the same rounds, and the naive path (dequantize to fp32 + fp32 GEMM)
 * on the same data. */
#ifndef FP8GEMM_CLI_BENCH_CASE_H
#define FP8GEMM_CLI_BENCH_CASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fp8gemm.h"

typedef enum bench_scheme {
  BENCH_PER_TOKEN = 0, /* fp8_gemm, per-token activations x per-channel weights */
  BENCH_PER_TENSOR,    /* fp8_gemm, one scale each */
  BENCH_BLOCK,         /* fp8_gemm, 1x128 activations x 128x128 weights */
  BENCH_MX,            /* fp8_gemm, MXFP8: e8m0 per 32 along K */
  BENCH_W8A16,         /* fp8_gemm_w8a16, bf16 activations, per-channel weight scale */
  BENCH_SCHEME_COUNT
} bench_scheme;

const char *bench_scheme_name(bench_scheme s);
int bench_scheme_from_name(const char *name, bench_scheme *s); /* 0 on success */

typedef struct bench_config {
  double min_time;   /* seconds of timed runs per measurement (at least 3 runs) */
  size_t rotate_bytes; /* weight buffers rotated per case total at least this */
  bool nt;           /* weights as the NT view of a [N, K] checkpoint tensor */
  int weight_offset; /* bytes (0..63) past a 64-byte boundary at which each weight starts */
  bool naive;        /* also time the naive path */
  bool packed;       /* time the *_packed calls: each weight buffer (with each scheme's
                      * scale) packed once by fp8gemm_pack_weight, outside the timing */
} bench_config;

enum { BENCH_MAX_RUNS = 200 }; /* timed runs per case at most */

typedef struct bench_result {
  const char *op;
  char kernel[48];
  fp8gemm_isa kernel_isa; /* the ISA level the kernel needs: tells its compute peak */
  double seconds;       /* median of the op */
  double naive_seconds; /* median of the naive path, 0 if not run */
  int runs, buffers;
  bool skipped;         /* not run (note says why) */
  bool failed;          /* setup or a call failed (note says what) */
  char note[160];       /* why skipped / what failed */
} bench_result;

/*
 * Times schemes[0..count) on one shape with fp8gemm_set_num_threads(threads): one
 * warm-up call each, then rounds in which every scheme runs once, the order rotating by
 * one each round, until each has run 3 times and for cfg->min_time seconds (at most
 * BENCH_MAX_RUNS rounds); results[i] gets scheme i's median (and the naive path's).
 * The schemes share one set of weight buffers (with cfg->packed, each scheme times its
 * own packed copies of them). Returns -1 only for a bad count; a case
 * that cannot run is marked skipped or failed in its result.
 */
int bench_run_group(const bench_scheme *schemes, int count, int64_t m, int64_t n, int64_t k,
                    int threads, const bench_config *cfg, bench_result *results);

#endif
