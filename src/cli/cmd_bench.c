/*
 * fp8gemm bench: LLM layer shapes through fp8_gemm / fp8_gemm_w8a16 for each scale
 * scheme, with this machine's limits measured in the same run (bf16-dot peak where the
 * CPU has VDPBF16PS, fp32 FMA peak, streaming-read bandwidth) and the naive path
 * (dequantize to fp32 + fp32 GEMM) on the same data. A table by default, one JSON
 * object per line with --json.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_case.h"
#include "bench_machine.h"
#include "calib/bench_calib.h"
#include "commands.h"
#include "fp8gemm.h"

enum { MAX_SHAPES = 256, MAX_THREAD_COUNTS = 8 };
/* Text table: the kernel column fits the longest kernel name (gemm_w8a16_avx512bf16). */
enum { KERNEL_COL = 21 };

typedef struct shape {
  int64_t m, n, k;
} shape;

typedef struct bench_opts {
  shape shapes[MAX_SHAPES];
  int n_shapes;
  bool scheme_on[BENCH_SCHEME_COUNT];
  bool any_scheme;
  int threads[MAX_THREAD_COUNTS];
  int n_threads;
  bool json, full, in_cache;
  bench_config cfg;
} bench_opts;

void cmd_bench_help(void) {
  printf(
      "usage: fp8gemm bench [--shape MxNxK[,...]]... [--scheme NAME]... [--threads N[,N...]]\n"
      "                     [--layout nt|nn] [--full] [--min-time SECONDS] [--no-naive] [--json]\n"
      "                     [--in-cache] [--weight-offset BYTES] [--packed]\n"
      "\n"
      "Times fp8_gemm / fp8_gemm_w8a16 on LLM layer shapes and prints, per case: the kernel,\n"
      "threads, median time, GFLOP/s, GB/s of fp8 weights streamed, the fraction of this\n"
      "machine's streaming-read bandwidth (%%bw) and of the compute peak of the kernel's\n"
      "class (%%peak: the bf16-dot peak for kernels that need AVX512_BF16, else the fp32\n"
      "FMA peak; column 'vs'), all measured in the same run, and the speedup over the naive\n"
      "path (dequantize to fp32 + our fp32 GEMM).\n"
      "\n"
      "  --shape MxNxK   a problem (M rows, N outputs, K inputs); repeatable or\n"
      "                  comma-separated (1x14336x4096,4x14336x4096). Default suite:\n"
      "                  (N, K) in 4096x4096, 14336x4096, 4096x14336; M in 1, 4, 16, 256\n"
      "  --full          the whole suite: (N, K) pairs of 4096 / 11008 / 14336 and\n"
      "                  M in 1, 4, 8, 16, 64, 256, 1024, 4096 (takes long)\n"
      "  --scheme NAME   per_token (per-token x per-channel), per_tensor, block (1x128 x\n"
      "                  128x128), mx (MXFP8), w8a16 (bf16 activations, per-channel fp8\n"
      "                  weights); repeatable or comma-separated. Default: all\n"
      "  --threads LIST  thread counts, e.g. 1,2 (default: the library's, FP8GEMM_NUM_THREADS\n"
      "                  or every CPU)\n"
      "  --layout nt|nn  weights as the NT view of a [N, K] checkpoint (default) or [K, N];\n"
      "                  with nt, block / MX weight scales are checkpoint-shaped too\n"
      "  --min-time S    seconds of timed runs per measurement (default 0.25; >= 3 runs)\n"
      "  --no-naive      skip the naive baseline\n"
      "  --json          one JSON object per line: op, scheme, m, n, k, threads, kernel,\n"
      "                  seconds, gflops, gbps, peak_fraction (the larger of the compute\n"
      "                  and bandwidth fractions) + compute_fraction, bw_fraction,\n"
      "                  peak_class, peak_gflops, read_gbps (bw_fraction's baseline),\n"
      "                  weights (plain or packed), naive_seconds, speedup, ...\n"
      "\n"
      "  --in-cache      reuse two weight buffers instead of rotating: weights that fit the\n"
      "                  caches run from them (the kernels' compute rate, not a model's)\n"
      "  --weight-offset B  start each weight buffer B bytes (0..63) past a 64-byte boundary:\n"
      "                  0 (default) as PyTorch allocates tensors, 16 as malloc places large\n"
      "                  blocks (what this bench used before)\n"
      "  --packed        time the prepacked calls (fp8gemm_fp8_gemm_packed / _w8a16_packed):\n"
      "                  each weight buffer packed once by fp8gemm_pack_weight, outside the\n"
      "                  timing, into memory the library places (2 MiB pages where the OS\n"
      "                  allows); %%bw is then of the streaming read over such memory (both\n"
      "                  reads are printed). Not with --layout nn or --weight-offset (packed\n"
      "                  weights have one layout and placement)\n"
      "\n"
      "Weights rotate through buffers totalling more than 4x the last-level cache. Shapes\n"
      "served only by the scalar reference kernel and bigger than 4 GFLOP are skipped.\n");
}

static int parse_shape(const char *s, shape *out) {
  long long m, n, k;
  char tail;
  if (sscanf(s, "%lldx%lldx%lld%c", &m, &n, &k, &tail) != 3 || m < 1 || n < 1 || k < 1 ||
      m > (1 << 20) || n > (1 << 20) || k > (1 << 20))
    return -1;
  *out = (shape){m, n, k};
  return 0;
}

/* One shape or a comma-separated list of them, appended to o->shapes. */
static int parse_shapes(const char *list, bench_opts *o) {
  char buf[1024];
  if (snprintf(buf, sizeof buf, "%s", list) >= (int)sizeof buf) return -1;
  int n = 0;
  for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ","), n++)
    if (o->n_shapes == MAX_SHAPES || parse_shape(tok, &o->shapes[o->n_shapes++]) != 0) return -1;
  return n ? 0 : -1;
}

static int parse_schemes(const char *list, bench_opts *o) {
  char buf[256];
  snprintf(buf, sizeof buf, "%s", list);
  for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
    bench_scheme s;
    if (bench_scheme_from_name(tok, &s) != 0) return -1;
    o->scheme_on[s] = true;
    o->any_scheme = true;
  }
  return 0;
}

static int parse_threads(const char *list, bench_opts *o) {
  char buf[128];
  snprintf(buf, sizeof buf, "%s", list);
  o->n_threads = 0;
  for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
    char *end;
    long v = strtol(tok, &end, 10);
    if (*end || v < 1 || v > 256 || o->n_threads == MAX_THREAD_COUNTS) return -1;
    o->threads[o->n_threads++] = (int)v;
  }
  return o->n_threads ? 0 : -1;
}

/* The options followed by a value (a last argument that is none of them is unknown). */
static bool takes_value(const char *a) {
  static const char *const with_value[] = {"--shape", "--scheme", "--threads", "--layout",
                                           "--weight-offset", "--min-time"};
  for (size_t i = 0; i < sizeof with_value / sizeof *with_value; i++)
    if (strcmp(a, with_value[i]) == 0) return true;
  return false;
}

static int parse_args(int argc, char **argv, bench_opts *o) {
  memset(o, 0, sizeof *o);
  o->cfg.min_time = 0.25;
  o->cfg.nt = true;
  o->cfg.naive = true;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--json") == 0) o->json = true;
    else if (strcmp(a, "--full") == 0) o->full = true;
    else if (strcmp(a, "--no-naive") == 0) o->cfg.naive = false;
    else if (strcmp(a, "--in-cache") == 0) o->in_cache = true;
    else if (strcmp(a, "--packed") == 0) o->cfg.packed = true;
    else if (!v && !takes_value(a))
      return cli_usage_error("bench: unknown option '%s' (see 'fp8gemm bench --help')", a);
    else if (!v) return cli_usage_error("bench: %s: expected a value (see 'fp8gemm bench --help')", a);
    else if (strcmp(a, "--shape") == 0) {
      if (parse_shapes(v, o) != 0)
        return cli_usage_error("bench: --shape: expected MxNxK with 1 <= each <= 2^20 "
                               "(comma-separated, at most %d shapes), got '%s'", MAX_SHAPES, v);
      i++;
    } else if (strcmp(a, "--scheme") == 0) {
      if (parse_schemes(v, o) != 0)
        return cli_usage_error("bench: --scheme: expected per_token, per_tensor, block, mx or "
                               "w8a16 (comma-separated), got '%s'", v);
      i++;
    } else if (strcmp(a, "--threads") == 0) {
      if (parse_threads(v, o) != 0)
        return cli_usage_error("bench: --threads: expected a list of 1..256, got '%s'", v);
      i++;
    } else if (strcmp(a, "--layout") == 0) {
      if (strcmp(v, "nt") != 0 && strcmp(v, "nn") != 0)
        return cli_usage_error("bench: --layout: expected nt or nn, got '%s'", v);
      o->cfg.nt = strcmp(v, "nt") == 0;
      i++;
    } else if (strcmp(a, "--weight-offset") == 0) {
      char *end;
      long off = strtol(v, &end, 10);
      if (*end || end == v || off < 0 || off > 63)
        return cli_usage_error("bench: --weight-offset: expected bytes in [0, 63], got '%s'", v);
      o->cfg.weight_offset = (int)off;
      i++;
    } else if (strcmp(a, "--min-time") == 0) {
      char *end;
      o->cfg.min_time = strtod(v, &end);
      if (*end || !(o->cfg.min_time >= 0.0 && o->cfg.min_time <= 60.0))
        return cli_usage_error("bench: --min-time: expected seconds in [0, 60], got '%s'", v);
      i++;
    } else {
      return cli_usage_error("bench: unknown option '%s' (see 'fp8gemm bench --help')", a);
    }
  }
  /* A packed weight is the library's contiguous [N, K] copy in memory it allocates: the
   * caller's layout and placement do not reach the timed calls. */
  if (o->cfg.packed && !o->cfg.nt)
    return cli_usage_error("bench: --packed: packed weights are [N, K] whatever the source "
                           "layout; --layout nn does not apply");
  if (o->cfg.packed && o->cfg.weight_offset)
    return cli_usage_error("bench: --packed: the library places packed weights; "
                           "--weight-offset does not apply");
  if (!o->any_scheme)
    for (int s = 0; s < BENCH_SCHEME_COUNT; s++) o->scheme_on[s] = true;
  if (!o->n_threads) {
    o->threads[0] = fp8gemm_get_num_threads();
    o->n_threads = 1;
  }
  if (!o->n_shapes) {
    static const int64_t nk_default[][2] = {{4096, 4096}, {14336, 4096}, {4096, 14336}};
    static const int64_t nk_full[][2] = {{4096, 4096},  {11008, 4096}, {4096, 11008},
                                         {14336, 4096}, {4096, 14336}};
    static const int64_t m_default[] = {1, 4, 16, 256};
    static const int64_t m_full[] = {1, 4, 8, 16, 64, 256, 1024, 4096};
    int n_nk = o->full ? 5 : 3, n_m = o->full ? 8 : 4;
    for (int p = 0; p < n_nk; p++)
      for (int q = 0; q < n_m; q++)
        o->shapes[o->n_shapes++] = (shape){o->full ? m_full[q] : m_default[q],
                                           o->full ? nk_full[p][0] : nk_default[p][0],
                                           o->full ? nk_full[p][1] : nk_default[p][1]};
  }
  return 0;
}

static void cpu_model(char *buf, size_t size) {
  snprintf(buf, size, "unknown CPU");
  FILE *f = fopen("/proc/cpuinfo", "r");
  if (!f) return;
  char line[256];
  while (fgets(line, sizeof line, f))
    if (strncmp(line, "model name", 10) == 0) {
      char *c = strchr(line, ':');
      if (c) {
        c += 2;
        c[strcspn(c, "\n")] = 0;
        snprintf(buf, size, "%s", c);
      }
      break;
    }
  fclose(f);
}

/* "37%" or "?" (unknown) */
static void share_str(double share, char *buf, size_t size) {
  if (share < 0) snprintf(buf, size, "?");
  else snprintf(buf, size, "%.0f%%", 100 * share);
}

int cmd_bench(int argc, char **argv) {
  bench_opts o;
  int rc = parse_args(argc, argv, &o);
  if (rc) return rc;
  size_t llc = bench_llc_bytes();
  o.cfg.rotate_bytes = o.in_cache ? 0 : 4 * llc;
  size_t read_bytes = 4 * llc > ((size_t)256 << 20) ? 4 * llc : (size_t)256 << 20;
  bench_peaks pk[MAX_THREAD_COUNTS];
  for (int t = 0; t < o.n_threads; t++) bench_measure_peaks(o.threads[t], read_bytes, &pk[t]);
  char model[128];
  cpu_model(model, sizeof model);
  if (!o.json) {
    printf("fp8gemm %s bench on %s (%s; ISA in use: %s), LLC %zu MiB\n",
           fp8gemm_version_string(), model, fp8gemm_cpu_features(),
           fp8gemm_isa_name(fp8gemm_isa_active()), llc >> 20);
    for (int t = 0; t < o.n_threads; t++) {
      char bf16[64] = "bf16-dot peak n/a (no AVX512_BF16 in force)";
      if (pk[t].bf16_gflops > 0)
        snprintf(bf16, sizeof bf16, "bf16-dot peak %.1f GFLOP/s (VDPBF16PS zmm)", pk[t].bf16_gflops);
      char small[16], huge[16];
      share_str(pk[t].read_small_share, small, sizeof small);
      share_str(pk[t].read_huge_share, huge, sizeof huge);
      printf("machine, %d thread%s: %s, fp32 FMA peak %.1f GFLOP/s (%s), streaming read %.1f GB/s "
             "(%d streams/thread, %s, %zu MiB, malloc'd: %s on 2 MiB pages), %.1f GB/s over "
             "packed-weight memory (%s, 2 MiB-aligned, MADV_HUGEPAGE: %s on 2 MiB pages)\n",
             o.threads[t], o.threads[t] > 1 ? "s" : "", bf16, pk[t].fma_gflops, pk[t].fma_what,
             pk[t].read_gbps, BENCH_READ_STREAMS, pk[t].read_what, read_bytes >> 20, small,
             pk[t].read_huge_gbps, pk[t].read_huge_what ? pk[t].read_huge_what : "-", huge);
    }
    if (o.cfg.packed)
      printf("weights: e4m3fn, packed once by fp8gemm_pack_weight (contiguous [N, K] in the "
             "library's memory; %%bw of the read over packed-weight memory)%s; output bf16; "
             "naive = dequantize to fp32 + fp32 GEMM (bench_sgemm)\n\n",
             o.in_cache ? ", two buffers reused (--in-cache)" : "");
    else
      printf("weights: e4m3fn, %s, %d bytes past a 64-byte boundary%s; output bf16; naive = "
             "dequantize to fp32 + fp32 GEMM (bench_sgemm)\n\n",
             o.cfg.nt ? "NT view of [N, K]" : "[K, N] contiguous", o.cfg.weight_offset,
             o.in_cache ? ", two buffers reused (--in-cache)" : "");
    printf("%-14s %-10s %5s %6s %6s %3s %-*s %9s %8s %7s %5s %6s %-4s %9s %7s\n", "op", "scheme",
           "M", "N", "K", "thr", KERNEL_COL, "kernel", "ms", "GFLOP/s", "GB/s", "%bw", "%peak", "vs",
           "naive ms", "speedup");
  }
  int failures = 0;
  bench_scheme on[BENCH_SCHEME_COUNT];
  int n_on = 0;
  for (int s = 0; s < BENCH_SCHEME_COUNT; s++)
    if (o.scheme_on[s]) on[n_on++] = (bench_scheme)s;
  for (int si = 0; si < o.n_shapes; si++)
    for (int t = 0; t < o.n_threads; t++) {
      shape sh = o.shapes[si];
      bench_result res[BENCH_SCHEME_COUNT];
      bench_run_group(on, n_on, sh.m, sh.n, sh.k, o.threads[t], &o.cfg, res);
      for (int i = 0; i < n_on; i++) {
        bench_scheme s = on[i];
        bench_result r = res[i];
        if (r.failed) {
          fprintf(stderr, "fp8gemm: bench: %s %s %lldx%lldx%lld: %s\n", r.op, bench_scheme_name(s),
                  (long long)sh.m, (long long)sh.n, (long long)sh.k, r.note);
          failures++;
          continue;
        }
        double flops = 2.0 * (double)sh.m * (double)sh.n * (double)sh.k;
        double wbytes = (double)sh.n * (double)sh.k;
        if (r.skipped) {
          if (!o.json)
            printf("%-14s %-10s %5lld %6lld %6lld %3d %-*s %s\n", r.op,
                   bench_scheme_name(s), (long long)sh.m, (long long)sh.n,
                   (long long)sh.k, o.threads[t], KERNEL_COL, r.kernel, r.note);
          continue;
        }
        double gflops = flops / r.seconds / 1e9, gbps = wbytes / r.seconds / 1e9;
        /* the compute peak of the kernel's class: bf16 dot products for kernels built on
         * VDPBF16PS, fp32 FMA for the others */
        bool bf16 = r.kernel_isa >= FP8GEMM_ISA_AVX512_BF16 && pk[t].bf16_gflops > 0;
        double peak = bf16 ? pk[t].bf16_gflops : pk[t].fma_gflops;
        const char *peak_class = bf16 ? "bf16_dot" : peak > 0 ? "fp32_fma" : "none";
        /* each weight form against the read over its own kind of memory */
        double read = o.cfg.packed ? pk[t].read_huge_gbps : pk[t].read_gbps;
        double fbw = read > 0 ? gbps / read : 0;
        double fpeak = peak > 0 ? gflops / peak : 0;
        double frac = fbw > fpeak ? fbw : fpeak; /* of the limit that binds (roofline) */
        double speedup = r.naive_seconds > 0 ? r.naive_seconds / r.seconds : 0;
        if (o.json) {
          printf("{\"op\":\"%s\",\"scheme\":\"%s\",\"m\":%lld,\"n\":%lld,\"k\":%lld,\"threads\":%d,"
                 "\"kernel\":\"%s\",\"seconds\":%.6e,\"gflops\":%.3f,\"gbps\":%.3f,"
                 "\"peak_fraction\":%.4f,\"compute_fraction\":%.4f,\"bw_fraction\":%.4f,"
                 "\"peak_class\":\"%s\",\"peak_gflops\":%.3f,\"read_gbps\":%.3f,"
                 "\"read_gbps_malloc\":%.3f,\"read_gbps_huge_pages\":%.3f,\"weights\":\"%s\","
                 "\"naive_seconds\":%.6e,\"speedup\":%.3f,\"layout\":\"%s\",\"weight_offset\":%d,\"runs\":%d}\n",
                 r.op, bench_scheme_name(s), (long long)sh.m, (long long)sh.n,
                 (long long)sh.k, o.threads[t], r.kernel, r.seconds, gflops, gbps, frac, fpeak,
                 fbw, peak_class, peak, read, pk[t].read_gbps, pk[t].read_huge_gbps,
                 o.cfg.packed ? "packed" : "plain", r.naive_seconds, speedup,
                 o.cfg.nt ? "nt" : "nn", o.cfg.weight_offset, r.runs);
        } else {
          char naive[16] = "-", sp[16] = "-";
          if (r.naive_seconds > 0) {
            snprintf(naive, sizeof naive, "%.3f", r.naive_seconds * 1e3);
            snprintf(sp, sizeof sp, "%.2fx", speedup);
          }
          printf("%-14s %-10s %5lld %6lld %6lld %3d %-*s %9.3f %8.1f %7.1f %4.0f%% %5.0f%% %-4s %9s %7s\n",
                 r.op, bench_scheme_name(s), (long long)sh.m, (long long)sh.n,
                 (long long)sh.k, o.threads[t], KERNEL_COL, r.kernel, r.seconds * 1e3, gflops, gbps,
                 100 * fbw, 100 * fpeak, bf16 ? "bf16" : "fma", naive, sp);
        }
        fflush(stdout);
      }
    }
  return failures ? CLI_FAILED : CLI_OK;
}
