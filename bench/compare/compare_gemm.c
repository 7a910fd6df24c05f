/*
 * Same-run comparison of fp8gemm's fp8_gemm (per-token x per-channel, e4m3fn, bf16 out)
 * with what a user would pick instead on a CPU:
 *   - oneDNN matmul, bf16 x bf16 -> bf16, weights reordered once into the layout the
 *     primitive prefers ("prepacked"): oneDNN's fast path where the CPU has AVX512_BF16
 *     (or AMX); and the same in fp32, its fast path where it has not (oneDNN 2.6 has no
 *     bf16 matmul for AVX2-only CPUs);
 *   - OpenBLAS sgemm on weights already dequantized to fp32 (the dequantization itself
 *     is not timed, which favours OpenBLAS).
 * Ours runs twice: the plain call on the NT view, and the prepacked call (each weight
 * packed once by fp8gemm_pack_weight, untimed): oneDNN's weights are reordered once too,
 * so packed against oneDNN is the like-for-like comparison.
 * Weights are [N, K] checkpoint tensors used transposed (NT). Weight buffers rotate so
 * their total exceeds 4x the last-level cache. Threads: FP8GEMM_NUM_THREADS,
 * OMP_NUM_THREADS and OPENBLAS_NUM_THREADS (bench/compare/run.sh sets all three).
 * Built only when oneDNN and OpenBLAS are installed (scripts/install-bench-deps.sh).
 */
#define _GNU_SOURCE
#include <cblas.h>
#include <dnnl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fp8gemm.h"

char *openblas_get_corename(void);
int openblas_get_num_threads(void);

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

typedef int (*run_fn)(void *ctx, int buffer);

/* Median of timed runs after one warm-up: at least 3 runs and min_time seconds. */
static double time_it(run_fn fn, void *ctx, int nbuf, double min_time) {
  double t[100];
  if (fn(ctx, 0) != 0) return -1;
  int n = 0;
  double start = now();
  while (n < 100 && (n < 3 || now() - start < min_time)) {
    double t0 = now();
    if (fn(ctx, (n + 1) % nbuf) != 0) return -1;
    t[n++] = now() - t0;
  }
  qsort(t, (size_t)n, sizeof *t, cmp_d);
  return t[n / 2];
}

static uint64_t rng = 88172645463325252ull;
static uint32_t rnd(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (uint32_t)rng;
}

static float e4m3_value(uint8_t c) {
  float v;
  fp8gemm_decode_value(c, FP8GEMM_E4M3FN, &v);
  return v;
}

static uint16_t to_bf16(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  return (uint16_t)((u + 0x7FFF + ((u >> 16) & 1)) >> 16);
}

typedef struct problem {
  int64_t m, n, k;
  int nbuf;
  uint8_t **w8;     /* [N][K] e4m3fn codes */
  uint8_t *a8;      /* [M][K] */
  float *sa, *sb;   /* per token, per channel */
  uint16_t *out16;
  float **w32;      /* dequantized weights (OpenBLAS), [N][K] */
  float *a32, *c32;
  fp8gemm_packed_weight **packed; /* w8[b] with sb, packed once */
} problem;

/* ------------------------------------------------------------ fp8gemm */
typedef struct fp8gemm_args {
  fp8gemm_tensor a, w, sa, sb, out;
} fp8gemm_args;

/* The call's descriptors over weight buffer buf (the NT view of its [N, K] codes). */
static void fp8gemm_describe(const problem *p, int buf, fp8gemm_args *x) {
  int64_t ad[2] = {p->m, p->k}, wd[2] = {p->k, p->n}, sad[2] = {p->m, 1}, sbd[1] = {p->n},
          od[2] = {p->m, p->n};
  fp8gemm_tensor_init(&x->a, FP8GEMM_E4M3FN, 2, ad, p->a8);
  fp8gemm_tensor_init(&x->w, FP8GEMM_E4M3FN, 2, wd, p->w8[buf]);
  x->w.strides[0] = 1;
  x->w.strides[1] = p->k;
  fp8gemm_tensor_init(&x->sa, FP8GEMM_F32, 2, sad, p->sa);
  fp8gemm_tensor_init(&x->sb, FP8GEMM_F32, 1, sbd, p->sb);
  fp8gemm_tensor_init(&x->out, FP8GEMM_BF16, 2, od, p->out16);
}

static int run_fp8gemm(void *vp, int buf) {
  problem *p = vp;
  fp8gemm_args x;
  fp8gemm_describe(p, buf, &x);
  return fp8gemm_fp8_gemm(&x.a, &x.w, FP8GEMM_BF16, &x.sa, &x.sb, NULL, &x.out) == FP8GEMM_OK ? 0 : -1;
}

static int run_fp8gemm_packed(void *vp, int buf) {
  problem *p = vp;
  fp8gemm_args x;
  fp8gemm_describe(p, buf, &x);
  return fp8gemm_fp8_gemm_packed(&x.a, p->packed[buf], FP8GEMM_BF16, &x.sa, NULL, &x.out) == FP8GEMM_OK
             ? 0
             : -1;
}

/* Packs every weight buffer (with its per-channel scale) once; 0 on success. */
static int pack_weights(problem *p) {
  p->packed = calloc((size_t)p->nbuf, sizeof *p->packed);
  if (!p->packed) return -1;
  for (int b = 0; b < p->nbuf; b++) {
    fp8gemm_args x;
    fp8gemm_describe(p, b, &x);
    if (fp8gemm_pack_weight(FP8GEMM_OP_FP8_GEMM, &x.w, &x.sb, &p->packed[b]) != FP8GEMM_OK) return -1;
  }
  return 0;
}

/* ------------------------------------------------------------ OpenBLAS */
static int run_openblas(void *vp, int buf) {
  problem *p = vp;
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)p->m, (int)p->n, (int)p->k, 1.0f,
              p->a32, (int)p->k, p->w32[buf], (int)p->k, 0.0f, p->c32, (int)p->n);
  return 0;
}

/* ------------------------------------------------------------ oneDNN */
typedef struct dnnl_case {
  dnnl_engine_t eng;
  dnnl_stream_t stream;
  dnnl_primitive_t prim;
  dnnl_memory_t src, dst, *wts;
  int nbuf;
  const char *impl;
} dnnl_case;

#define DNNL_OK(x) \
  do {             \
    if ((x) != dnnl_success) goto fail; \
  } while (0)

/* Builds a matmul of dtype dt with weights reordered once into the preferred layout. */
static int dnnl_setup(dnnl_case *d, const problem *p, dnnl_data_type_t dt) {
  memset(d, 0, sizeof *d);
  dnnl_memory_desc_t a_md, w_any, w_user, c_md;
  dnnl_dims_t ad = {p->m, p->k}, wd = {p->k, p->n}, cd = {p->m, p->n};
  dnnl_primitive_desc_t pd = NULL;
  DNNL_OK(dnnl_engine_create(&d->eng, dnnl_cpu, 0));
  DNNL_OK(dnnl_stream_create(&d->stream, d->eng, dnnl_stream_default_flags));
  DNNL_OK(dnnl_memory_desc_init_by_tag(&a_md, 2, ad, dt, dnnl_ab));
  DNNL_OK(dnnl_memory_desc_init_by_tag(&w_any, 2, wd, dt, dnnl_format_tag_any));
  DNNL_OK(dnnl_memory_desc_init_by_tag(&w_user, 2, wd, dt, dnnl_ba)); /* [N][K] storage */
  DNNL_OK(dnnl_memory_desc_init_by_tag(&c_md, 2, cd, dt, dnnl_ab));
  dnnl_matmul_desc_t md;
  DNNL_OK(dnnl_matmul_desc_init(&md, &a_md, &w_any, NULL, &c_md));
  dnnl_status_t st = dnnl_primitive_desc_create(&pd, &md, NULL, d->eng, NULL);
  if (st == dnnl_unimplemented) {
    d->impl = "unimplemented";
    return -1;
  }
  DNNL_OK(st);
  DNNL_OK(dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &d->impl));
  const dnnl_memory_desc_t *w_pref = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
  DNNL_OK(dnnl_primitive_create(&d->prim, pd));
  DNNL_OK(dnnl_memory_create(&d->src, &a_md, d->eng, DNNL_MEMORY_ALLOCATE));
  DNNL_OK(dnnl_memory_create(&d->dst, &c_md, d->eng, DNNL_MEMORY_ALLOCATE));
  void *src;
  DNNL_OK(dnnl_memory_get_data_handle(d->src, &src));
  for (int64_t i = 0; i < p->m * p->k; i++) {
    float v = e4m3_value(p->a8[i]);
    if (dt == dnnl_bf16) ((uint16_t *)src)[i] = to_bf16(v);
    else ((float *)src)[i] = v;
  }
  d->nbuf = p->nbuf;
  d->wts = calloc((size_t)p->nbuf, sizeof *d->wts);
  if (!d->wts) goto fail;
  dnnl_primitive_desc_t rpd = NULL;
  DNNL_OK(dnnl_reorder_primitive_desc_create(&rpd, &w_user, d->eng, w_pref, d->eng, NULL));
  dnnl_primitive_t reorder;
  DNNL_OK(dnnl_primitive_create(&reorder, rpd));
  dnnl_primitive_desc_destroy(rpd);
  for (int b = 0; b < p->nbuf; b++) {
    dnnl_memory_t user;
    DNNL_OK(dnnl_memory_create(&user, &w_user, d->eng, DNNL_MEMORY_ALLOCATE));
    void *h;
    DNNL_OK(dnnl_memory_get_data_handle(user, &h));
    for (int64_t i = 0; i < p->n * p->k; i++) {
      float v = e4m3_value(p->w8[b][i]) * p->sb[i / p->k];
      if (dt == dnnl_bf16) ((uint16_t *)h)[i] = to_bf16(v);
      else ((float *)h)[i] = v;
    }
    DNNL_OK(dnnl_memory_create(&d->wts[b], w_pref, d->eng, DNNL_MEMORY_ALLOCATE));
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, user}, {DNNL_ARG_TO, d->wts[b]}};
    DNNL_OK(dnnl_primitive_execute(reorder, d->stream, 2, args));
    DNNL_OK(dnnl_stream_wait(d->stream));
    dnnl_memory_destroy(user);
  }
  dnnl_primitive_destroy(reorder);
  dnnl_primitive_desc_destroy(pd);
  return 0;
fail:
  if (pd) dnnl_primitive_desc_destroy(pd);
  return -1;
}

static int run_dnnl(void *vd, int buf) {
  dnnl_case *d = vd;
  dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, d->src}, {DNNL_ARG_WEIGHTS, d->wts[buf]},
                             {DNNL_ARG_DST, d->dst}};
  if (dnnl_primitive_execute(d->prim, d->stream, 3, args) != dnnl_success) return -1;
  return dnnl_stream_wait(d->stream) == dnnl_success ? 0 : -1;
}

static void dnnl_teardown(dnnl_case *d) {
  for (int b = 0; d->wts && b < d->nbuf; b++)
    if (d->wts[b]) dnnl_memory_destroy(d->wts[b]);
  free(d->wts);
  if (d->src) dnnl_memory_destroy(d->src);
  if (d->dst) dnnl_memory_destroy(d->dst);
  if (d->prim) dnnl_primitive_destroy(d->prim);
  if (d->stream) dnnl_stream_destroy(d->stream);
  if (d->eng) dnnl_engine_destroy(d->eng);
}

/* ------------------------------------------------------------ driver */
static size_t llc_bytes(void) {
  FILE *f = fopen("/sys/devices/system/cpu/cpu0/cache/index3/size", "r");
  unsigned long v = 0;
  char u = 0;
  if (f) {
    if (fscanf(f, "%lu%c", &v, &u) < 1) v = 0;
    fclose(f);
  }
  return v ? v * (u == 'M' ? 1048576ul : 1024ul) : (size_t)32 << 20;
}

static const char *dnnl_isa_name(dnnl_cpu_isa_t isa) {
  switch (isa) {
    case dnnl_cpu_isa_sse41: return "sse41";
    case dnnl_cpu_isa_avx: return "avx";
    case dnnl_cpu_isa_avx2: return "avx2";
    case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni";
    case dnnl_cpu_isa_avx512_core: return "avx512_core";
    case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx";
    default: return "other";
  }
}

/* One line per shape at the end: the same-run ratios side by side (0: not run). */
typedef struct summary {
  int64_t m, n, k;
  char kernel[32];
  double ms, packed_ms, onednn_bf16, onednn_bf16_packed, onednn_f32, openblas;
  char onednn_bf16_impl[40];
} summary;

/* Big compute-bound shapes would take minutes in a reference implementation. */
static bool slow_impl(const char *impl) { return impl && strstr(impl, "ref") != NULL; }

static void run_shape(int64_t m, int64_t n, int64_t k, double min_time, summary *sum) {
  problem p = {m, n, k, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL};
  size_t wbytes = (size_t)(n * k);
  p.nbuf = (int)(4 * llc_bytes() / (wbytes * 4)) + 2; /* fp32 copies are the biggest */
  if (p.nbuf > 8) p.nbuf = 8;
  p.w8 = calloc((size_t)p.nbuf, sizeof *p.w8);
  p.w32 = calloc((size_t)p.nbuf, sizeof *p.w32);
  p.a8 = malloc((size_t)(m * k));
  p.sa = malloc((size_t)m * sizeof(float));
  p.sb = malloc((size_t)n * sizeof(float));
  p.out16 = malloc((size_t)(m * n) * 2);
  p.a32 = malloc((size_t)(m * k) * sizeof(float));
  p.c32 = malloc((size_t)(m * n) * sizeof(float));
  for (int64_t i = 0; i < m * k; i++) p.a8[i] = (uint8_t)(rnd() & 0xBF);
  for (int64_t i = 0; i < m; i++) p.sa[i] = 0.01f;
  for (int64_t i = 0; i < n; i++) p.sb[i] = 0.02f;
  for (int64_t i = 0; i < m * k; i++) p.a32[i] = e4m3_value(p.a8[i]) * 0.01f;
  for (int b = 0; b < p.nbuf; b++) {
    p.w8[b] = malloc(wbytes);
    p.w32[b] = malloc(wbytes * sizeof(float));
    for (size_t i = 0; i < wbytes; i++) {
      p.w8[b][i] = (uint8_t)(rnd() & 0xBF); /* finite, |x| < 2 */
      p.w32[b][i] = e4m3_value(p.w8[b][i]) * 0.02f;
    }
  }
  double flops = 2.0 * (double)m * (double)n * (double)k;
  fp8gemm_kernel_info info = {"?", FP8GEMM_ISA_SCALAR};
  fp8gemm_query_shape(FP8GEMM_OP_FP8_GEMM, FP8GEMM_SCHEME_PER_TOKEN, FP8GEMM_E4M3FN, m, n, k, 1,
                      &info);
  double t_ours = time_it(run_fp8gemm, &p, p.nbuf, min_time);
  double t_packed = pack_weights(&p) == 0 ? time_it(run_fp8gemm_packed, &p, p.nbuf, min_time) : -1;
  *sum = (summary){.m = m, .n = n, .k = k, .ms = t_ours * 1e3, .packed_ms = t_packed * 1e3};
  snprintf(sum->kernel, sizeof sum->kernel, "%s", info.name);
  snprintf(sum->onednn_bf16_impl, sizeof sum->onednn_bf16_impl, "-");
  printf("%5lld %6lld %6lld  fp8gemm %-12s %9.3f ms %7.1f GFLOP/s %6.1f GB/s  1.00x\n",
         (long long)m, (long long)n, (long long)k, info.name, t_ours * 1e3, flops / t_ours / 1e9,
         (double)wbytes / t_ours / 1e9);
  if (t_packed > 0)
    printf("%5s %6s %6s  fp8gemm packed %-5s %9.3f ms %7.1f GFLOP/s %6.1f GB/s  %.2fx (plain / packed)\n",
           "", "", "", "", t_packed * 1e3, flops / t_packed / 1e9, (double)wbytes / t_packed / 1e9,
           t_ours / t_packed);
  else
    printf("%5s %6s %6s  fp8gemm packed: %s\n", "", "", "", fp8gemm_last_error());
  static const dnnl_data_type_t dts[2] = {dnnl_bf16, dnnl_f32};
  static const char *const dt_names[2] = {"bf16", "f32"};
  for (int i = 0; i < 2; i++) {
    dnnl_case d;
    if (dnnl_setup(&d, &p, dts[i]) != 0) {
      printf("%5s %6s %6s  oneDNN %-4s %s\n", "", "", "", dt_names[i],
             d.impl ? "matmul unimplemented for this CPU in this oneDNN" : "setup failed");
      if (i == 0 && d.impl) snprintf(sum->onednn_bf16_impl, sizeof sum->onednn_bf16_impl, "unimpl.");
      dnnl_teardown(&d);
      continue;
    }
    if (i == 0) snprintf(sum->onednn_bf16_impl, sizeof sum->onednn_bf16_impl, "%s", d.impl);
    if (slow_impl(d.impl) && flops > 2e9) {
      printf("%5s %6s %6s  oneDNN %-4s %-20s  skipped (reference implementation)\n", "", "", "",
             dt_names[i], d.impl);
    } else {
      double t = time_it(run_dnnl, &d, p.nbuf, min_time);
      char vs_packed[32] = "no packed run"; /* packing failed: its error is printed above */
      if (t_packed > 0) snprintf(vs_packed, sizeof vs_packed, "%.2fx (packed)", t / t_packed);
      printf("%5s %6s %6s  oneDNN %-4s %-20s %9.3f ms %7.1f GFLOP/s %6.1f GB/s  %.2fx (fp8gemm speedup), %s\n",
             "", "", "", dt_names[i], d.impl, t * 1e3, flops / t / 1e9,
             (double)wbytes * (i == 0 ? 2 : 4) / t / 1e9, t / t_ours, vs_packed);
      if (t > 0) *(i == 0 ? &sum->onednn_bf16 : &sum->onednn_f32) = t / t_ours;
      if (t > 0 && i == 0 && t_packed > 0) sum->onednn_bf16_packed = t / t_packed;
    }
    dnnl_teardown(&d);
  }
  double t_blas = time_it(run_openblas, &p, p.nbuf, min_time);
  printf("%5s %6s %6s  OpenBLAS sgemm (%s) %9.3f ms %7.1f GFLOP/s %6.1f GB/s  %.2fx (fp8gemm speedup)\n",
         "", "", "", openblas_get_corename(), t_blas * 1e3, flops / t_blas / 1e9,
         (double)wbytes * 4 / t_blas / 1e9, t_blas / t_ours);
  sum->openblas = t_blas / t_ours;
  fflush(stdout);
  for (int b = 0; b < p.nbuf; b++) {
    free(p.w8[b]);
    free(p.w32[b]);
    if (p.packed) fp8gemm_packed_weight_free(p.packed[b]);
  }
  free(p.packed);
  free(p.w8);
  free(p.w32);
  free(p.a8);
  free(p.sa);
  free(p.sb);
  free(p.out16);
  free(p.a32);
  free(p.c32);
}

int main(int argc, char **argv) {
  int64_t shapes[64][3];
  int ns = 0;
  double min_time = 0.3;
  for (int i = 1; i < argc; i++) {
    long long m, n, k;
    if (strcmp(argv[i], "--shape") == 0 && i + 1 < argc &&
        sscanf(argv[i + 1], "%lldx%lldx%lld", &m, &n, &k) == 3 && m > 0 && n > 0 && k > 0 &&
        ns < 64) {
      shapes[ns][0] = m, shapes[ns][1] = n, shapes[ns][2] = k;
      ns++, i++;
    } else if (strcmp(argv[i], "--min-time") == 0 && i + 1 < argc) {
      min_time = atof(argv[++i]);
    } else {
      fprintf(stderr, "usage: compare_gemm [--shape MxNxK]... [--min-time S]\n");
      return 2;
    }
  }
  if (!ns) {
    static const int64_t def[][3] = {{1, 14336, 4096}, {4, 14336, 4096}, {16, 4096, 4096},
                                     {256, 4096, 4096}, {1024, 4096, 4096}};
    for (int i = 0; i < 5; i++) memcpy(shapes[ns++], def[i], sizeof def[i]);
  }
  printf("compare_gemm: fp8gemm %s (threads %d, ISA %s), oneDNN %d.%d.%d (ISA %s), OpenBLAS core "
         "%s (threads %d)\n",
         fp8gemm_version_string(), fp8gemm_get_num_threads(),
         fp8gemm_isa_name(fp8gemm_isa_active()), dnnl_version()->major, dnnl_version()->minor,
         dnnl_version()->patch, dnnl_isa_name(dnnl_get_effective_cpu_isa()),
         openblas_get_corename(), openblas_get_num_threads());
  printf("fp8_gemm per-token x per-channel e4m3fn -> bf16, weights NT [N, K], plain and packed "
         "(fp8gemm_pack_weight once); ratios = other time / fp8gemm time\n");
  printf("%5s %6s %6s\n", "M", "N", "K");
  summary sums[64];
  for (int i = 0; i < ns; i++) run_shape(shapes[i][0], shapes[i][1], shapes[i][2], min_time, &sums[i]);
  /* The same figures as one table: other library's time / fp8gemm's (> 1: fp8gemm faster). */
  printf("\nsummary (threads %d): ratio = other time / fp8gemm time (plain call; packed: the "
         "prepacked call, weights packed once as oneDNN's are reordered once)\n",
         fp8gemm_get_num_threads());
  printf("| M x N x K | fp8gemm kernel | fp8gemm ms | packed ms | oneDNN bf16 | oneDNN bf16 / packed "
         "| oneDNN f32 | OpenBLAS sgemm | oneDNN bf16 impl |\n");
  printf("|---|---|---|---|---|---|---|---|---|\n");
  for (int i = 0; i < ns; i++) {
    char r[5][16];
    double v[5] = {sums[i].packed_ms, sums[i].onednn_bf16, sums[i].onednn_bf16_packed,
                   sums[i].onednn_f32, sums[i].openblas};
    for (int j = 0; j < 5; j++) {
      if (v[j] > 0) snprintf(r[j], sizeof r[j], j ? "%.2fx" : "%.3f", v[j]);
      else snprintf(r[j], sizeof r[j], "-");
    }
    printf("| %lldx%lldx%lld | %s | %.3f | %s | %s | %s | %s | %s | %s |\n", (long long)sums[i].m,
           (long long)sums[i].n, (long long)sums[i].k, sums[i].kernel, sums[i].ms, r[0], r[1], r[2],
           r[3], r[4], sums[i].onednn_bf16_impl);
  }
  return 0;
}
