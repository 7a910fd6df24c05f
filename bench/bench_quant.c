/*
 * bench_quant: bandwidth of the elementwise quant kernels on large tensors, each next to
 * a streaming-read baseline over the same input measured in the same run (interleaved
 * repetitions, medians), so the ratio means something on a noisy machine.
 *
 *   bench_quant [--mib N] [--reps R] [--threads 1,2] [--isa NAME] [--only SUBSTR] [--qoff B]
 *               [--thp 0|1]
 *
 * --qoff B: the code outputs start B bytes past a 64-byte boundary (default 0: aligned,
 * as PyTorch allocates tensors; -1: wherever malloc puts them, which for glibc's large
 * blocks is 16 bytes past a page, the default before session 8). --thp 1: the large
 * buffers on transparent huge pages (madvise), stream baseline included.
 *
 * Workloads (N = MiB / 4 elements, K = 4096 per row):
 *   cast f32->e4m3fn            quantize(scale 1, non-saturating)
 *   token f32->e4m3fn           per row: amax, s = max(amax / 448, min_scale), quantize
 *                               (prefetching the next row, as the op does; no-pf: without)
 *   token bf16 3-pass           per row: widen to f32 (L1), amax, quantize
 *   token bf16 fused            per row: amax_wide, quantize_wide (bf16 read directly),
 *                               prefetching the next row (no-pf: without)
 *   ... nt                      the same with non-temporal code stores (quantize_wide_pf_nt,
 *                               one nt_fence per task)
 *   mx f32->e4m3fn (floor)      mx_quantize (nt: mx_quantize_nt, codes streamed; diag
 *                               mx f32 q1: every call's codes to one 4 Ki piece, no writes)
 *   dequant ->bf16 2-pass       per 4096: dequantize (scale) to f32 (L1), narrow
 *   dequant ->bf16 fused        dequantize_narrow (decode, scale, round in registers)
 * and the same through the public ops (fp8gemm_fp8_cast, _fp8_quantize per token,
 * _mx_quantize, _fp8_dequantize), which add the op layer's row walking.
 * The streaming read is `fp8gemm bench`'s (src/cli/calib: 8 interleaved streams per
 * 4 MiB task, the faster of 256-bit and 512-bit loads), run through the library's pool
 * like the kernels. GB/s count bytes read + written (rw) and bytes read (rd). "l2 rw" is the kernel rows
 * run on one thread over an L2-resident slice, timed in thread CPU time: the compute
 * ceiling, which tells whether a figure below the streaming read is compute-bound.
 */
#define _DEFAULT_SOURCE /* madvise (--thp) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
#include <xmmintrin.h>

#include "cli/calib/bench_calib.h"
#include "internal.h"
#include "kernels/quant_kernels.h"

#define K_ROW 4096

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static double cpu_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* ------------------------------------------------------------ streaming-read baseline */
typedef struct stream_job {
  const uint8_t *p;
  size_t bytes, per_task;
  int bits; /* load width: 512, 256 or 64 */
  float sink[64];
} stream_job;

static uint64_t read_plain(const uint8_t *p, size_t bytes) {
  uint64_t acc = 0;
  for (size_t i = 0; i + 8 <= bytes; i += 8) {
    uint64_t v;
    memcpy(&v, p + i, sizeof v);
    acc ^= v;
  }
  return acc;
}

/* The streaming read of `fp8gemm bench` (src/cli/calib): BENCH_READ_STREAMS interleaved
 * streams per task of 256-bit or 512-bit loads. */
static void stream_task(void *ctx, int64_t t) {
  stream_job *j = ctx;
  size_t off = (size_t)t * j->per_task, n = j->bytes - off < j->per_task ? j->bytes - off : j->per_task;
  uint64_t v = j->bits == 512   ? bench_read_avx512(j->p + off, n)
               : j->bits == 256 ? bench_read_avx2(j->p + off, n)
                                : read_plain(j->p + off, n);
  j->sink[t % 64] += (float)(v & 0xff);
}

static double stream_pass(const void *p, size_t bytes, int threads, int bits) {
  stream_job j = {p, bytes, 4u << 20, bits, {0}};
  double t0 = now();
  fp8g_parallel_for((int64_t)((bytes + j.per_task - 1) / j.per_task), threads, stream_task, &j);
  return now() - t0;
}

/* Seconds of the faster streaming read of p: with AVX-512 both load widths run (on
 * Zen 4, 256-bit loads stream ~10% faster than 512-bit ones). */
static double stream_read(const void *p, size_t bytes, int threads) {
  fp8gemm_isa isa = fp8gemm_isa_active();
  double t = stream_pass(p, bytes, threads, isa >= FP8GEMM_ISA_AVX2 ? 256 : 64);
  if (isa >= FP8GEMM_ISA_AVX512) {
    double t512 = stream_pass(p, bytes, threads, 512);
    if (t512 < t) t = t512;
  }
  return t;
}

/* ------------------------------------------------------------ workloads */
typedef struct bench {
  const fp8g_quant_kernels *k;
  size_t n;        /* elements */
  float *x32;      /* n f32 */
  uint16_t *x16;   /* n bf16 */
  uint8_t *q;      /* n codes (input of dequant, output of quantize) */
  uint8_t *qout;   /* n codes out */
  uint8_t *sc8;    /* n / 32 e8m0 */
  float *scales;   /* n / K_ROW */
  uint16_t *y16;   /* n bf16 out */
  int threads;
} bench;

#define TASK_ELEMS ((size_t)1 << 20)
#define L2_ELEMS ((size_t)K_ROW * 16) /* 256 KiB of f32 */

static size_t task_count(const bench *b) { return (b->n + TASK_ELEMS - 1) / TASK_ELEMS; }
static size_t task_len(const bench *b, int64_t t) {
  size_t off = (size_t)t * TASK_ELEMS;
  return b->n - off < TASK_ELEMS ? b->n - off : TASK_ELEMS;
}

static void cast_task(void *ctx, int64_t t) {
  bench *b = ctx;
  size_t off = (size_t)t * TASK_ELEMS;
  b->k->quantize(b->x32 + off, task_len(b, t), 1.0f, FP8GEMM_E4M3FN, false, b->qout + off);
}

static float token_scale(float amax) {
  float s = amax / 448.0f, floor_s = (float)FP8GEMM_DEFAULT_MIN_SCALE;
  return s > floor_s ? s : floor_s;
}

/* tasks of whole rows: TASK_ELEMS / K_ROW rows each; as the op does, each row's
 * quantize prefetches the next row of the task */
static bool has_next_row(const bench *b, size_t r, size_t r0) {
  return r + 1 < r0 + TASK_ELEMS / K_ROW && (r + 1) * K_ROW < b->n;
}

/* per-token f32 rows of task t, with the op's next-row prefetch or without it (the
 * pre-prefetch kernel calls) */
static void token_f32_rows(bench *b, int64_t t, bool prefetch) {
  size_t rows = TASK_ELEMS / K_ROW, r0 = (size_t)t * rows;
  for (size_t r = r0; r < r0 + rows && r * K_ROW < b->n; r++) {
    const float *x = b->x32 + r * K_ROW;
    float s = token_scale(b->k->amax(x, K_ROW));
    b->scales[r] = s;
    if (prefetch)
      b->k->quantize_wide_pf(x, FP8GEMM_F32, K_ROW, s, FP8GEMM_E4M3FN, true,
                             b->qout + r * K_ROW, has_next_row(b, r, r0) ? x + K_ROW : NULL);
    else
      b->k->quantize(x, K_ROW, s, FP8GEMM_E4M3FN, true, b->qout + r * K_ROW);
  }
}
/* per-token rows of task t read in place (f32 or bf16): the amax pass, then the quantize.
 * ROW_PF: prefetching the next row of the task, as the op does; ROW_NT:
 * quantize_wide_pf_nt (non-temporal code stores), one nt_fence per task; ROW_Q1
 * (diagnostic): every row's codes overwrite one 4 KiB row, so no write traffic reaches
 * memory; ROW_NOAMAX (diagnostic): no amax pass, the scale fixed. */
enum { ROW_PF = 1, ROW_NT = 2, ROW_Q1 = 4, ROW_NOAMAX = 8 };
static void token_wide_rows(bench *b, int64_t t, bool bf16, unsigned how) {
  size_t rows = TASK_ELEMS / K_ROW, r0 = (size_t)t * rows, w = bf16 ? 2 : 4;
  fp8gemm_dtype dt = bf16 ? FP8GEMM_BF16 : FP8GEMM_F32;
  const char *base = bf16 ? (const char *)b->x16 : (const char *)b->x32;
  for (size_t r = r0; r < r0 + rows && r * K_ROW < b->n; r++) {
    const char *x = base + r * K_ROW * w;
    float s = token_scale((how & ROW_NOAMAX) ? 512.0f : b->k->amax_wide(x, dt, K_ROW));
    b->scales[r] = s;
    uint8_t *q = b->qout + ((how & ROW_Q1) ? (size_t)t : r) * K_ROW;
    const char *next = (how & ROW_PF) && has_next_row(b, r, r0) ? x + K_ROW * w : NULL;
    if (how & ROW_NT)
      b->k->quantize_wide_pf_nt(x, dt, K_ROW, s, FP8GEMM_E4M3FN, true, q, next);
    else
      b->k->quantize_wide_pf(x, dt, K_ROW, s, FP8GEMM_E4M3FN, true, q, next);
  }
  if (how & ROW_NT) b->k->nt_fence();
}
static void token_f32_nt_task(void *ctx, int64_t t) { token_wide_rows(ctx, t, false, ROW_PF | ROW_NT); }
static void token_bf16_nt_task(void *ctx, int64_t t) { token_wide_rows(ctx, t, true, ROW_PF | ROW_NT); }
static void token_f32_task(void *ctx, int64_t t) { token_f32_rows(ctx, t, true); }
static void token_f32_nopf_task(void *ctx, int64_t t) { token_f32_rows(ctx, t, false); }

static void token_bf16_task(void *ctx, int64_t t) {
  bench *b = ctx;
  size_t rows = TASK_ELEMS / K_ROW, r0 = (size_t)t * rows;
  float buf[K_ROW];
  for (size_t r = r0; r < r0 + rows && r * K_ROW < b->n; r++) {
    b->k->widen(b->x16 + r * K_ROW, FP8GEMM_BF16, buf, K_ROW);
    float s = token_scale(b->k->amax(buf, K_ROW));
    b->scales[r] = s;
    b->k->quantize(buf, K_ROW, s, FP8GEMM_E4M3FN, true, b->qout + r * K_ROW);
  }
}

/* the fused entries: amax and quantize read bf16 directly (with / without the prefetch) */
static void token_bf16_fused_task(void *ctx, int64_t t) { token_wide_rows(ctx, t, true, ROW_PF); }
static void token_bf16_nopf_task(void *ctx, int64_t t) { token_wide_rows(ctx, t, true, 0); }

/* Diagnostics (rows named "diag ...", run only with --only diag...): where the per-token
 * time goes. q1: the codes of every row overwrite one 4 KiB row (no write traffic to
 * memory). pfonly: per row the amax pass and a T2 prefetch of the next row, no
 * quantize (the rate one core pulls rows in with software prefetches). noamax (below):
 * no amax pass. */
static void diag_f32_q1_task(void *ctx, int64_t t) { token_wide_rows(ctx, t, false, ROW_PF | ROW_Q1); }
static void diag_bf16_q1_task(void *ctx, int64_t t) { token_wide_rows(ctx, t, true, ROW_PF | ROW_Q1); }

/* noamax: per row only the quantize with the next-row prefetch, the scale fixed (no amax
 * pass: what the per-token rows would cost if the next row's amax were free; other
 * codes than the real rows, same data). */
static void diag_f32_noamax_task(void *ctx, int64_t t) { token_wide_rows(ctx, t, false, ROW_PF | ROW_NOAMAX); }
static void diag_bf16_noamax_task(void *ctx, int64_t t) { token_wide_rows(ctx, t, true, ROW_PF | ROW_NOAMAX); }

static void diag_f32_pfonly_task(void *ctx, int64_t t) {
  bench *b = ctx;
  size_t rows = TASK_ELEMS / K_ROW, r0 = (size_t)t * rows;
  for (size_t r = r0; r < r0 + rows && r * K_ROW < b->n; r++) {
    const float *x = b->x32 + r * K_ROW;
    b->scales[r] = token_scale(b->k->amax(x, K_ROW));
    if (has_next_row(b, r, r0))
      for (size_t i = 0; i < K_ROW * 4; i += 64) _mm_prefetch((const char *)(x + K_ROW) + i, _MM_HINT_T2);
  }
}

/* amaxonly: the amax pass alone, no software prefetch (what the hardware prefetcher gives
 * one demand stream). ilv: row r quantized in DIAG_PIECES pieces, each after the amax of
 * the same piece of row r + 1 (demand loads that the hardware prefetcher runs ahead of,
 * no software prefetch); the same bits as amax-then-quantize per row. */
static void diag_f32_amaxonly_task(void *ctx, int64_t t) {
  bench *b = ctx;
  size_t rows = TASK_ELEMS / K_ROW, r0 = (size_t)t * rows;
  for (size_t r = r0; r < r0 + rows && r * K_ROW < b->n; r++)
    b->scales[r] = token_scale(b->k->amax(b->x32 + r * K_ROW, K_ROW));
}

static int diag_pieces(void) {
  const char *e = getenv("DIAG_PIECES");
  int p = e ? atoi(e) : 4;
  return p >= 1 && p <= 64 && K_ROW % (32 * p) == 0 ? p : 4;
}

static void diag_ilv(bench *b, int64_t t, bool bf16) {
  size_t rows = TASK_ELEMS / K_ROW, r0 = (size_t)t * rows;
  int P = diag_pieces();
  size_t L = K_ROW / (size_t)P, w = bf16 ? 2 : 4;
  fp8gemm_dtype dt = bf16 ? FP8GEMM_BF16 : FP8GEMM_F32;
  const char *base = bf16 ? (const char *)b->x16 : (const char *)b->x32;
  float a = b->k->amax_wide(base + r0 * K_ROW * w, dt, K_ROW);
  for (size_t r = r0; r < r0 + rows && r * K_ROW < b->n; r++) {
    const char *x = base + r * K_ROW * w;
    bool next = has_next_row(b, r, r0);
    float s = token_scale(a), an = 0.0f;
    b->scales[r] = s;
    for (int p = 0; p < P; p++) {
      if (next) {
        float m = b->k->amax_wide(x + (K_ROW + p * L) * w, dt, L);
        an = m > an ? m : an;
      }
      b->k->quantize_wide(x + p * L * w, dt, L, s, FP8GEMM_E4M3FN, true, b->qout + r * K_ROW + p * L);
    }
    a = an;
  }
}
static void diag_f32_ilv_task(void *ctx, int64_t t) { diag_ilv(ctx, t, false); }
static void diag_bf16_ilv_task(void *ctx, int64_t t) { diag_ilv(ctx, t, true); }

static void mx_task(void *ctx, int64_t t) {
  bench *b = ctx;
  size_t off = (size_t)t * TASK_ELEMS;
  b->k->mx_quantize(b->x32 + off, task_len(b, t) / 32, FP8GEMM_E4M3FN, FP8GEMM_MX_FLOOR,
                    b->qout + off, b->sc8 + off / 32);
}

/* the same with the codes streamed (q 64-byte aligned with --qoff 0) */
static void mx_nt_task(void *ctx, int64_t t) {
  bench *b = ctx;
  size_t off = (size_t)t * TASK_ELEMS;
  b->k->mx_quantize_nt(b->x32 + off, task_len(b, t) / 32, FP8GEMM_E4M3FN, FP8GEMM_MX_FLOOR,
                       b->qout + off, b->sc8 + off / 32);
}

/* diag mx q1: the task's codes (and scales) overwrite one K_ROW-value piece, call by
 * call: the read and the arithmetic without the code write traffic */
static void diag_mx_q1_task(void *ctx, int64_t t) {
  bench *b = ctx;
  size_t off = (size_t)t * TASK_ELEMS, n = task_len(b, t);
  for (size_t i = 0; i < n; i += K_ROW)
    b->k->mx_quantize(b->x32 + off + i, (n - i < K_ROW ? n - i : K_ROW) / 32, FP8GEMM_E4M3FN,
                      FP8GEMM_MX_FLOOR, b->qout + (size_t)t * K_ROW, b->sc8 + (size_t)t * K_ROW / 32);
}

static void dequant_task(void *ctx, int64_t t) {
  bench *b = ctx;
  size_t off = (size_t)t * TASK_ELEMS, n = task_len(b, t);
  float buf[K_ROW];
  for (size_t i = 0; i < n; i += K_ROW) {
    size_t m = n - i < K_ROW ? n - i : K_ROW;
    b->k->dequantize(b->q + off + i, m, FP8GEMM_E4M3FN, 0.0123f, buf);
    b->k->narrow(buf, FP8GEMM_BF16, b->y16 + off + i, m);
  }
}

static void dequant_fused_task(void *ctx, int64_t t) {
  bench *b = ctx;
  size_t off = (size_t)t * TASK_ELEMS;
  b->k->dequantize_narrow(b->q + off, task_len(b, t), FP8GEMM_E4M3FN, 0.0123f, FP8GEMM_BF16,
                          b->y16 + off);
}

/* The public ops over the same data ([n / K, K] tensors). */
static void op_cast(bench *b) {
  fp8gemm_tensor x, q;
  int64_t dims[2] = {(int64_t)(b->n / K_ROW), K_ROW};
  fp8gemm_tensor_init(&x, FP8GEMM_F32, 2, dims, b->x32);
  fp8gemm_tensor_init(&q, FP8GEMM_E4M3FN, 2, dims, b->qout);
  if (fp8gemm_fp8_cast(&x, FP8GEMM_E4M3FN, 0, &q) != FP8GEMM_OK) fprintf(stderr, "%s\n", fp8gemm_last_error());
}

static void op_token(bench *b, bool bf16) {
  fp8gemm_tensor x, q, s;
  int64_t dims[2] = {(int64_t)(b->n / K_ROW), K_ROW}, sd[2] = {dims[0], 1};
  fp8gemm_tensor_init(&x, bf16 ? FP8GEMM_BF16 : FP8GEMM_F32, 2, dims, bf16 ? (void *)b->x16 : (void *)b->x32);
  fp8gemm_tensor_init(&q, FP8GEMM_E4M3FN, 2, dims, b->qout);
  fp8gemm_tensor_init(&s, FP8GEMM_F32, 2, sd, b->scales);
  if (fp8gemm_fp8_quantize(&x, FP8GEMM_E4M3FN, FP8GEMM_PER_TOKEN, 0, NULL, NULL,
                           FP8GEMM_DEFAULT_MIN_SCALE, &q, &s) != FP8GEMM_OK)
    fprintf(stderr, "%s\n", fp8gemm_last_error());
}
static void op_token_f32(bench *b) { op_token(b, false); }
static void op_token_bf16(bench *b) { op_token(b, true); }

static void op_mx(bench *b) {
  fp8gemm_tensor x, q, s;
  int64_t dims[2] = {(int64_t)(b->n / K_ROW), K_ROW}, sd[2] = {dims[0], K_ROW / 32};
  fp8gemm_tensor_init(&x, FP8GEMM_F32, 2, dims, b->x32);
  fp8gemm_tensor_init(&q, FP8GEMM_E4M3FN, 2, dims, b->qout);
  fp8gemm_tensor_init(&s, FP8GEMM_E8M0, 2, sd, b->sc8);
  if (fp8gemm_mx_quantize(&x, FP8GEMM_E4M3FN, 32, FP8GEMM_MX_FLOOR, &q, &s) != FP8GEMM_OK)
    fprintf(stderr, "%s\n", fp8gemm_last_error());
}

static void op_dequant(bench *b) {
  fp8gemm_tensor q, s, y;
  int64_t dims[2] = {(int64_t)(b->n / K_ROW), K_ROW}, one = 1;
  float scale = 0.0123f;
  fp8gemm_tensor_init(&q, FP8GEMM_E4M3FN, 2, dims, b->q);
  fp8gemm_tensor_init(&s, FP8GEMM_F32, 1, &one, &scale);
  fp8gemm_tensor_init(&y, FP8GEMM_BF16, 2, dims, b->y16);
  if (fp8gemm_fp8_dequantize(&q, &s, FP8GEMM_BF16, 0, &y) != FP8GEMM_OK)
    fprintf(stderr, "%s\n", fp8gemm_last_error());
}

typedef struct workload {
  const char *name;
  fp8g_task_fn task;     /* kernel-level: tasks over the table */
  void (*op)(bench *b);  /* op-level: one public call */
  int in_bytes, out_bytes; /* per element (scales excluded: < 1/32) */
  int input;             /* 0: f32, 1: bf16, 2: codes */
} workload;

static const workload workloads[] = {
    {"cast f32->e4m3fn", cast_task, NULL, 4, 1, 0},
    {"token f32->e4m3fn", token_f32_task, NULL, 4, 1, 0},
    {"token f32->e4m3fn no-pf", token_f32_nopf_task, NULL, 4, 1, 0},
    {"token f32->e4m3fn nt", token_f32_nt_task, NULL, 4, 1, 0},
    {"token bf16->e4m3fn 3-pass", token_bf16_task, NULL, 2, 1, 1},
    {"token bf16->e4m3fn fused", token_bf16_fused_task, NULL, 2, 1, 1},
    {"token bf16->e4m3fn fused no-pf", token_bf16_nopf_task, NULL, 2, 1, 1},
    {"token bf16->e4m3fn fused nt", token_bf16_nt_task, NULL, 2, 1, 1},
    {"diag token f32 q1", diag_f32_q1_task, NULL, 4, 1, 0},
    {"diag token bf16 q1", diag_bf16_q1_task, NULL, 2, 1, 1},
    {"diag token f32 noamax", diag_f32_noamax_task, NULL, 4, 1, 0},
    {"diag token bf16 noamax", diag_bf16_noamax_task, NULL, 2, 1, 1},
    {"diag token f32 pfonly", diag_f32_pfonly_task, NULL, 4, 0, 0},
    {"diag token f32 amaxonly", diag_f32_amaxonly_task, NULL, 4, 0, 0},
    {"diag token f32 ilv", diag_f32_ilv_task, NULL, 4, 1, 0},
    {"diag token bf16 ilv", diag_bf16_ilv_task, NULL, 2, 1, 1},
    {"mx f32->e4m3fn floor", mx_task, NULL, 4, 1, 0},
    {"mx f32->e4m3fn floor nt", mx_nt_task, NULL, 4, 1, 0},
    {"diag mx f32 q1", diag_mx_q1_task, NULL, 4, 1, 0},
    {"dequant e4m3fn->bf16 2-pass", dequant_task, NULL, 1, 2, 2},
    {"dequant e4m3fn->bf16 fused", dequant_fused_task, NULL, 1, 2, 2},
    {"op fp8_cast f32->e4m3fn", NULL, op_cast, 4, 1, 0},
    {"op fp8_quantize token f32", NULL, op_token_f32, 4, 1, 0},
    {"op fp8_quantize token bf16", NULL, op_token_bf16, 2, 1, 1},
    {"op mx_quantize f32 e4m3fn", NULL, op_mx, 4, 1, 0},
    {"op fp8_dequantize ->bf16", NULL, op_dequant, 1, 2, 2},
};

static void run(bench *b, const workload *w, int reps) {
  const void *in = w->input == 0 ? (const void *)b->x32 : w->input == 1 ? (const void *)b->x16 : (const void *)b->q;
  size_t in_bytes = b->n * (size_t)w->in_bytes, out_bytes = b->n * (size_t)w->out_bytes;
  double ts[64], tk[64];
  if (w->op) fp8gemm_set_num_threads(b->threads);
  for (int r = -1; r < reps; r++) { /* r == -1: warm-up */
    double stream_s = stream_read(in, in_bytes, b->threads);
    double t1 = now();
    if (w->task) fp8g_parallel_for((int64_t)task_count(b), b->threads, w->task, b);
    else w->op(b);
    double t2 = now();
    if (r >= 0) {
      ts[r] = stream_s;
      tk[r] = t2 - t1;
    }
  }
  double s = median(ts, reps), k = median(tk, reps), l2 = 0;
  if (w->task) {
    /* compute ceiling: task 0 over an L2-sized slice, repeated, in CPU time */
    bench c = *b;
    c.n = L2_ELEMS;
    w->task(&c, 0);
    double t0 = cpu_now();
    for (int r = 0; r < 200; r++) w->task(&c, 0);
    l2 = 200.0 * (double)c.n * (w->in_bytes + w->out_bytes) / (cpu_now() - t0) / 1e9;
  }
  double rd = (double)in_bytes / k / 1e9, rw = (double)(in_bytes + out_bytes) / k / 1e9;
  double st = (double)in_bytes / s / 1e9;
  printf("%-30s %-13s %-7s %3d %9.2f %8.2f %8.2f %8.2f %7.0f%% %7.0f%%", w->name,
         w->task ? b->k->name : "op", fp8gemm_isa_name(fp8gemm_isa_active()), b->threads, k * 1e3,
         rw, rd, st, 100 * rw / st, 100 * rd / st);
  if (w->task) printf(" %8.2f", l2);
  printf("\n");
}

/* The large buffers: malloc's, or (thp) 2 MiB-aligned with a transparent-huge-page hint
 * (this VM's THP mode is "madvise": without the hint they are 4 KiB pages). */
static void *big_alloc(size_t bytes, bool thp) {
  if (!thp) return malloc(bytes);
  size_t huge = (size_t)2 << 20, rounded = (bytes + huge - 1) / huge * huge;
  void *p = aligned_alloc(huge, rounded);
  if (p) madvise(p, rounded, MADV_HUGEPAGE);
  return p;
}

static void usage(void) {
  fprintf(stderr, "usage: bench_quant [--mib N] [--reps R] [--threads 1,2] [--isa NAME] [--only SUBSTR] [--qoff -1..63] [--thp 0|1]\n");
  exit(2);
}

int main(int argc, char **argv) {
  size_t mib = 256;
  int reps = 5, nthreads = 0, threads[8];
  const char *only = NULL, *tlist = "1,2";
  long qoff = 0;
  bool thp = false;
  for (int i = 1; i < argc; i++) {
    if (i + 1 >= argc) usage();
    if (!strcmp(argv[i], "--mib")) mib = (size_t)strtoul(argv[++i], NULL, 10);
    else if (!strcmp(argv[i], "--reps")) reps = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--threads")) tlist = argv[++i];
    else if (!strcmp(argv[i], "--only")) only = argv[++i];
    else if (!strcmp(argv[i], "--qoff")) qoff = strtol(argv[++i], NULL, 10);
    else if (!strcmp(argv[i], "--thp")) thp = atoi(argv[++i]) != 0;
    else if (!strcmp(argv[i], "--isa")) {
      fp8gemm_isa isa;
      if (fp8gemm_isa_from_name(argv[++i], &isa) != FP8GEMM_OK) usage();
      fp8gemm_set_max_isa(isa);
    } else usage();
  }
  for (const char *p = tlist; *p && nthreads < 8; p = strchr(p, ',') ? strchr(p, ',') + 1 : "") {
    threads[nthreads] = atoi(p);
    if (threads[nthreads] < 1) usage();
    nthreads++;
  }
  if (mib < 1 || reps < 1 || reps > 64 || nthreads == 0 || qoff < -1 || qoff > 63) usage();
  bench b = {0};
  b.n = mib * (1u << 20) / 4 / K_ROW * K_ROW;
  b.k = fp8g_quant_kernels_for(fp8gemm_isa_active());
  b.x32 = big_alloc(b.n * 4, thp);
  b.x16 = big_alloc(b.n * 2, thp);
  b.q = big_alloc(b.n, thp);
  uint8_t *qout_block = big_alloc(b.n + 128, thp);
  b.qout = qoff < 0 || !qout_block ? qout_block
                                   : (uint8_t *)(((uintptr_t)qout_block + 63) / 64 * 64) + qoff;
  b.sc8 = malloc(b.n / 32);
  b.scales = malloc(b.n / K_ROW * sizeof(float));
  b.y16 = big_alloc(b.n * 2, thp);
  if (!b.x32 || !b.x16 || !b.q || !b.qout || !b.sc8 || !b.scales || !b.y16) {
    fprintf(stderr, "bench_quant: out of memory for %zu MiB\n", mib);
    return 1;
  }
  uint64_t r = 0x2545F4914F6CDD1Dull;
  for (size_t i = 0; i < b.n; i++) {
    r ^= r << 13, r ^= r >> 7, r ^= r << 17;
    /* activations-like: mostly small, a few large, both signs */
    float v = ((float)(r & 0xffff) - 32768.0f) / 4096.0f;
    if ((r >> 40) % 97 == 0) v *= 64.0f;
    b.x32[i] = v;
    b.x16[i] = fp8g_f32_to_bf16(v);
    b.q[i] = (uint8_t)(r >> 24);
  }
  printf("bench_quant: %zu elements (f32 input %zu MiB), K=%d, %d reps (median), codes %ld bytes "
         "past 64 (-1: malloc's), cpu: %s\n",
         b.n, b.n * 4 >> 20, K_ROW, reps, qoff, fp8gemm_cpu_features());
  printf("%-30s %-13s %-7s %3s %9s %8s %8s %8s %8s %8s %8s\n", "workload", "kernel", "isa", "thr",
         "ms", "rw GB/s", "rd GB/s", "stream", "rw/str", "rd/str", "l2 rw");
  for (int t = 0; t < nthreads; t++) {
    b.threads = threads[t];
    for (size_t w = 0; w < sizeof workloads / sizeof workloads[0]; w++)
      if ((!only || strstr(workloads[w].name, only)) &&
          (strncmp(workloads[w].name, "diag", 4) != 0 || (only && !strncmp(only, "diag", 4))))
        run(&b, &workloads[w], reps);
  }
  free(b.x32);
  free(b.x16);
  free(b.q);
  free(qout_block);
  free(b.sc8);
  free(b.scales);
  free(b.y16);
  return 0;
}
