/*
 * Measurement prototype for issue #4 (session 17, branch nk17): decode kernels (M = 1..16)
 * over a prepacked weight interleaved along N, "[N/16][K/2][16][2]", against the
 * library's NT decode kernel (public API, plain NT weights) and a streaming read of the
 * same bytes, in one process, alternating per round. Not part of the library, the
 * default build or the tests. Build: `cmake -DFP8GEMM_PROTO=ON` (target nk_proto), or by hand
 * after the library's Release build in build/:
 *
 *   gcc -O2 -std=c11 -Wall -Wextra -mavx512f -mavx512bw -mavx512vl -mavx512bf16 \
 *     -mavx512vbmi -Iinclude -Isrc bench/proto/nk_proto.c build/libfp8gemm.a -lpthread -lm \
 *     -o build/nk_proto
 *   taskset -c 1 build/nk_proto [rounds [prefetch bytes [all|cache|mem|tiles|none
 *                               [groups per tile: 25 digits, scheme-major, or - [threads]]]]]
 *   taskset -c 0,1 build/nk_proto 7 1024 mem - 2     (2 threads: halves of N / of the read)
 *
 * It first checks every kernel (and the library's call) against a double reference on
 * small shapes, then times.
 *
 * Layout: group g (columns 16g..16g+15) is K * 16 contiguous bytes; each 64-byte chunk
 * holds K 4q..4q+3 of the 16 columns, placed so that the library's decoder
 * (gemv_bf16_dec64: per 128-bit lane, unpacklo / unpackhi of bytes 0..7 / 8..15) gives
 * w0 = the 16 columns' (k, k+1) pair for K 4q, 4q+1 in dword lane j = column j, and w1 the
 * same for K 4q+2, 4q+3: lane l of the chunk holds columns 4l..4l+3 of pair 2q (bytes
 * 0..7) then of pair 2q+1 (bytes 8..15). VDPBF16PS then takes the activation pair as a
 * dword broadcast, and an accumulator holds 16 finished columns (no lane sums).
 * Block scales (128 x 128): one FMA per (row, 16 columns, 128-K segment) with sa * sb
 * broadcast. MX: one VPSUBUSW per decoded zmm with the 16 columns' (bias - d) << 7 in a
 * register for 8 chunks (32 K) (mx), or 32-K segment sums and one FMA per (row, 16
 * columns, 32 K) with 2^(eb-127) (mx_fma); the activation exponents are folded into the
 * activations either way.
 */
#define _GNU_SOURCE
#include <immintrin.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fp8gemm.h"
#include "kernels/avx512_bf16/gemv_bf16_decode.h"

/* mx: the exponents in the decode (VPSUBUSW); mx_fma: the same MX data, the weight
 * exponents applied by one FMA per (row, 16 columns, 32 K) to 32-K sums; mx_rescale:
 * one accumulator over all of K, multiplied at each 32-K boundary by the 16 columns'
 * 2^(eb_prev - eb_next) and at the end by 2^(eb_last - 127): exact power-of-two
 * scalings, so each addition rounds as in the mx fold (given no overflow / underflow of
 * the scaled sums, a range condition like the library's MX check). The library's side
 * runs its MX kernel for all three. */
enum { S_PT, S_BLK, S_MX, S_MXF, S_MXR, S_COUNT };
static const char *const scheme_name[S_COUNT] = {"per_tensor", "block", "mx", "mx_fma", "mx_rescale"};
static int base_scheme(int s) { return s == S_MXF || s == S_MXR ? S_MX : s; }
enum { BK = 128, MXK = 32 };

/* ------------------------------------------------------------------ data */
static uint64_t lcg = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(void) {
  lcg = lcg * 6364136223846793005ull + 1442695040888963407ull;
  return (uint32_t)(lcg >> 33);
}
/* the bench's law (bit 6 clear: |x| < 2, no NaN) or every non-NaN code */
static uint8_t rnd_e4m3(bool wide) {
  for (;;) {
    uint8_t c = (uint8_t)rnd();
    if (!wide) return (uint8_t)(c & 0xBF);
    if ((c & 0x7F) != 0x7F) return c;
  }
}
static float e4m3_tab[256];
static void e4m3_tab_init(void) {
  for (int c = 0; c < 256; c++) fp8gemm_decode_value((uint8_t)c, FP8GEMM_E4M3FN, &e4m3_tab[c]);
}
static float e4m3_value(uint8_t c) { return e4m3_tab[c]; }

static void *xalloc(size_t bytes) {
  void *p = aligned_alloc(64, (bytes + 63) / 64 * 64);
  if (!p) {
    fprintf(stderr, "out of memory\n");
    exit(1);
  }
  return p;
}

/* One weight as a checkpoint stores it (NT, [N, K] codes, block scales [N/128, K/128],
 * MX codes [N, K/32]) and its N-interleaved pack. */
typedef struct weight {
  int64_t n, k;
  uint8_t *nt;
  float *wblk;
  uint8_t *wmx;
  uint8_t *nk;  /* [N/16][K/4][64] */
  uint8_t *nkmx; /* [N/16][K/32][16] */
} weight;

static void pack_nk(weight *w) {
  int64_t n = w->n, k = w->k, ng = n / 16, km = k / MXK;
  for (int64_t g = 0; g < ng; g++)
    for (int64_t q = 0; q < k / 4; q++) {
      uint8_t *d = w->nk + (g * (k / 4) + q) * 64;
      for (int l = 0; l < 4; l++)
        for (int h = 0; h < 2; h++)
          for (int c = 0; c < 4; c++) {
            const uint8_t *col = w->nt + (16 * g + 4 * l + c) * k + 4 * q + 2 * h;
            d[16 * l + 8 * h + 2 * c] = col[0];
            d[16 * l + 8 * h + 2 * c + 1] = col[1];
          }
    }
  for (int64_t g = 0; g < ng; g++)
    for (int j = 0; j < 16; j++) {
      int64_t col = 16 * g + j;
      for (int64_t s = 0; s < km; s++) w->nkmx[(g * km + s) * 16 + j] = w->wmx[col * km + s];
    }
}

static void weight_init(weight *w, int64_t n, int64_t k, bool wide) {
  w->n = n, w->k = k;
  w->nt = xalloc((size_t)(n * k));
  w->nk = xalloc((size_t)(n * k));
  int64_t nb = (n + BK - 1) / BK, kb = k / BK, km = k / MXK;
  w->wblk = xalloc((size_t)(nb * kb) * sizeof(float));
  w->wmx = xalloc((size_t)(n * km));
  w->nkmx = xalloc((size_t)(n * km));
  for (int64_t i = 0; i < n * k; i++) w->nt[i] = rnd_e4m3(wide);
  for (int64_t i = 0; i < nb * kb; i++) w->wblk[i] = 0.02f * (1.0f + (float)(rnd() % 16) / 64.0f);
  for (int64_t i = 0; i < n * km; i++) w->wmx[i] = (uint8_t)(wide ? 120 + rnd() % 15 : 125 + rnd() % 5);
  pack_nk(w);
}

static void weight_free(weight *w) {
  free(w->nt), free(w->nk), free(w->wblk), free(w->wmx), free(w->nkmx);
}

/* Activations of one call: fp8 [M, K], scales per tensor / [M, K/128] / e8m0 [M, K/32]. */
typedef struct acts {
  int m;
  uint8_t *q;
  float sa_pt, sb_pt;
  float *sa_blk;
  uint8_t *ea_mx;
} acts;

static void acts_init(acts *a, int m, int64_t k, bool wide) {
  a->m = m;
  a->q = xalloc((size_t)(m * k));
  a->sa_blk = xalloc((size_t)(m * (k / BK)) * sizeof(float));
  a->ea_mx = xalloc((size_t)(m * (k / MXK)));
  for (int64_t i = 0; i < m * k; i++) a->q[i] = rnd_e4m3(wide);
  for (int64_t i = 0; i < m * (k / BK); i++) a->sa_blk[i] = 0.01f * (1.0f + (float)(rnd() % 16) / 64.0f);
  for (int64_t i = 0; i < m * (k / MXK); i++) a->ea_mx[i] = (uint8_t)(wide ? 120 + rnd() % 15 : 125 + rnd() % 5);
  a->sa_pt = 0.01f, a->sb_pt = 0.02f;
}

static void acts_free(acts *a) { free(a->q), free(a->sa_blk), free(a->ea_mx); }

/* ------------------------------------------------------------------ the N-interleaved kernel */
/* Row stride of the activation pairs, dwords: K/2 plus one cache line, so that the rows'
 * lines of a chunk fall in different L1 sets (8 KiB apart they share one and M = 16 ran
 * at half speed). */
static int64_t nk_astride(int64_t k) { return k / 2 + 16; }

typedef struct nk_call {
  int64_t n, k;
  int m;
  const uint8_t *w;
  const float *wblk;  /* [N/128][K/128] (the checkpoint's block scales) */
  const uint8_t *eb;  /* [N/16][K/32][16] */
  const float *sa;    /* [M][K/128] */
  float scale;        /* per tensor: sa * sb */
  const uint32_t *act; /* [M][nk_astride(K)] bf16 pairs */
  float *out;          /* [M][N] f32 */
  gemv_bf16_vtab v, vmx;
  int mx_bias;
  int64_t pf; /* software prefetch distance along each group's stream, bytes (0: none) */
  __m512i rec; /* MX: Inf / NaN marks seen */
} nk_call;

static inline __attribute__((always_inline)) __m512 dot(__m512 acc, __m512i w, const uint32_t *a) {
  return _mm512_dpbf16_ps(acc, (__m512bh)w, (__m512bh)_mm512_set1_epi32((int)*a));
}

/* M rows x NG groups of 16 columns, starting at group g0; S: scheme (constants). */
static inline __attribute__((always_inline)) void nk_tile(nk_call *c, int64_t g0, const int M, const int NG,
                                                          const int S) {
  const int A = M == 1 ? 2 : 1; /* one row: the chunk's two pairs in two accumulators */
  const int64_t k = c->k, nq = k / 4, np = nk_astride(k), kb = k / BK, km = k / MXK;
  const int64_t seg_q = S == S_BLK ? BK / 4 : S == S_MX || S == S_MXF || S == S_MXR ? MXK / 4 : nq;
  const uint8_t *wg[4];
  for (int g = 0; g < NG; g++) wg[g] = c->w + (g0 + g) * k * 16;
  __m512 acc[2][16][4], part[16][4];
  for (int r = 0; r < M; r++)
    for (int g = 0; g < NG; g++) acc[0][r][g] = acc[1][r][g] = part[r][g] = _mm512_setzero_ps();
  const gemv_bf16_vtab *v = S == S_MX ? &c->vmx : &c->v;
  __m512i rec = _mm512_setzero_si512();
  const int64_t pf = c->pf;
  for (int64_t q0 = 0; q0 < nq; q0 += seg_q) {
    __m512i s[4];
    if (S == S_MX)
      for (int g = 0; g < NG; g++) {
        __m512i e = _mm512_cvtepu8_epi32(_mm_loadu_si128((const void *)(c->eb + ((g0 + g) * km + q0 / 8) * 16)));
        __m512i t = _mm512_slli_epi32(_mm512_sub_epi32(_mm512_set1_epi32(127 + c->mx_bias), e), 7);
        s[g] = _mm512_or_si512(t, _mm512_slli_epi32(t, 16));
      }
    for (int64_t q = q0; q < q0 + seg_q; q++) {
      const uint32_t *ap = c->act + q * 2;
#pragma GCC unroll 4
      for (int g = 0; g < NG; g++) {
        const uint8_t *src = wg[g] + q * 64;
        if (pf) _mm_prefetch((const char *)(src + pf), _MM_HINT_T0);
        __m512i codes = _mm512_load_si512((const void *)src), w[2];
        if (S == S_MX) {
          __m512i lo;
          __mmask64 nan80 = 0;
          gemv_bf16_dec64_mx(v, codes, false, s[g], w, &lo, &nan80);
          rec = _mm512_or_si512(rec, lo);
        } else {
          gemv_bf16_dec64(v, codes, false, w);
        }
#pragma GCC unroll 16
        for (int r = 0; r < M; r++) {
          acc[0][r][g] = dot(acc[0][r][g], w[0], ap + r * np);
          acc[A - 1][r][g] = dot(acc[A - 1][r][g], w[1], ap + r * np + 1);
        }
      }
    }
    if (S == S_MXR && q0 + seg_q < nq) /* this block's exponents -> the next block's */
      for (int g = 0; g < NG; g++) {
        const uint8_t *e = c->eb + ((g0 + g) * km + q0 / 8) * 16;
        __m512i d = _mm512_sub_epi32(_mm512_cvtepu8_epi32(_mm_loadu_si128((const void *)e)),
                                     _mm512_cvtepu8_epi32(_mm_loadu_si128((const void *)(e + 16))));
        __m512 f = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(d, _mm512_set1_epi32(127)), 23));
#pragma GCC unroll 16
        for (int r = 0; r < M; r++) {
          acc[0][r][g] = _mm512_mul_ps(acc[0][r][g], f);
          if (A == 2) acc[1][r][g] = _mm512_mul_ps(acc[1][r][g], f);
        }
      }
    if (S == S_MXF)
      for (int g = 0; g < NG; g++) {
        /* 2^(eb-127) of the 16 columns: the code in the fp32 exponent field (codes 0 and
         * 0xFF, not normal / NaN, would take the library's fallback) */
        __m512i e = _mm512_cvtepu8_epi32(_mm_loadu_si128((const void *)(c->eb + ((g0 + g) * km + q0 / 8) * 16)));
        __m512 sc = _mm512_castsi512_ps(_mm512_slli_epi32(e, 23));
#pragma GCC unroll 16
        for (int r = 0; r < M; r++) {
          __m512 sum = A == 2 ? _mm512_add_ps(acc[0][r][g], acc[1][r][g]) : acc[0][r][g];
          part[r][g] = _mm512_fmadd_ps(sum, sc, part[r][g]);
          acc[0][r][g] = acc[1][r][g] = _mm512_setzero_ps();
        }
      }
    if (S == S_BLK) {
      int64_t seg = q0 / seg_q;
      for (int g = 0; g < NG; g++) {
        /* 128 x 128 blocks: one sb for the 16 columns (a [K/g, N] group scale would be a
         * 16-column vector load and a multiply here instead: measured too, docs/gemv.md) */
        float sb = c->wblk[((g0 + g) * 16 / BK) * kb + seg];
#pragma GCC unroll 16
        for (int r = 0; r < M; r++) {
          __m512 sum = A == 2 ? _mm512_add_ps(acc[0][r][g], acc[1][r][g]) : acc[0][r][g];
          __m512 p = _mm512_set1_ps(c->sa[r * kb + seg] * sb);
          part[r][g] = _mm512_fmadd_ps(sum, p, part[r][g]);
          acc[0][r][g] = acc[1][r][g] = _mm512_setzero_ps();
        }
      }
    }
  }
  for (int r = 0; r < M; r++)
    for (int g = 0; g < NG; g++) {
      __m512 res;
      if (S == S_BLK || S == S_MXF)
        res = part[r][g];
      else {
        res = A == 2 ? _mm512_add_ps(acc[0][r][g], acc[1][r][g]) : acc[0][r][g];
        if (S == S_PT) res = _mm512_mul_ps(res, _mm512_set1_ps(c->scale));
        if (S == S_MXR) {
          __m512i e = _mm512_cvtepu8_epi32(_mm_loadu_si128((const void *)(c->eb + ((g0 + g) * km + km - 1) * 16)));
          res = _mm512_mul_ps(res, _mm512_castsi512_ps(_mm512_slli_epi32(e, 23)));
        }
      }
      _mm512_storeu_ps(c->out + r * c->n + (g0 + g) * 16, res);
    }
  if (S == S_MX) c->rec = _mm512_or_si512(c->rec, rec);
}

typedef void (*nk_fn)(nk_call *c, int64_t g0);
#define NK_DEF(M, NG)                                                                         \
  static void nk_pt_##M##_##NG(nk_call *c, int64_t g0) { nk_tile(c, g0, M, NG, S_PT); }      \
  static void nk_blk_##M##_##NG(nk_call *c, int64_t g0) { nk_tile(c, g0, M, NG, S_BLK); }    \
  static void nk_mx_##M##_##NG(nk_call *c, int64_t g0) { nk_tile(c, g0, M, NG, S_MX); }      \
  static void nk_mxf_##M##_##NG(nk_call *c, int64_t g0) { nk_tile(c, g0, M, NG, S_MXF); }    \
  static void nk_mxr_##M##_##NG(nk_call *c, int64_t g0) { nk_tile(c, g0, M, NG, S_MXR); }
NK_DEF(1, 2)
NK_DEF(1, 4)
NK_DEF(2, 2)
NK_DEF(2, 4)
NK_DEF(4, 1)
NK_DEF(4, 2)
NK_DEF(4, 4)
NK_DEF(8, 1)
NK_DEF(8, 2)
NK_DEF(16, 1)
typedef struct nk_variant {
  int m, ng;
  nk_fn fn[S_COUNT];
} nk_variant;
#define NK_V(M, NG) {M, NG, {nk_pt_##M##_##NG, nk_blk_##M##_##NG, nk_mx_##M##_##NG, nk_mxf_##M##_##NG, nk_mxr_##M##_##NG}}
static const nk_variant nk_variants[] = {NK_V(1, 2), NK_V(1, 4), NK_V(2, 2), NK_V(2, 4), NK_V(4, 1),
                                         NK_V(4, 2), NK_V(4, 4), NK_V(8, 1), NK_V(8, 2), NK_V(16, 1)};
enum { NK_NV = sizeof nk_variants / sizeof nk_variants[0] };

static const nk_variant *nk_pick(int m, int ng) {
  for (int i = 0; i < NK_NV; i++)
    if (nk_variants[i].m == m && nk_variants[i].ng == ng) return &nk_variants[i];
  return NULL;
}

/* Per call: the activations decoded to bf16 pairs, row-major [M][K/2] (padded rows) (MX: 2^(ea-127)
 * added to the exponent of every nonzero finite value, exact for these codes), 64 codes
 * at a time with the library's tables, then the tiles. */
typedef struct nk_ctx {
  uint32_t *act;
  float *out;
  gemv_bf16_vtab v, vmx;
  __m512i kord[2]; /* byte indices that interleave low / high bytes in K order */
  int64_t pf;
  int pf_from_m; /* software prefetch only for M >= this (from memory it slowed M = 1..4) */
  int ng_of[S_COUNT][17]; /* tile width per scheme and M */
} nk_ctx;

static void nk_acts(const nk_ctx *x, int s, const acts *a, int64_t k) {
  const gemv_bf16_vtab *v = &x->v;
  for (int r = 0; r < a->m; r++)
    for (int64_t i = 0; i < k; i += 64) {
      __m512i codes = _mm512_loadu_si512((const void *)(a->q + r * k + i));
      __m512i lo = _mm512_permutex2var_epi8(v->lo0, codes, v->lo1);
      __m512i hi = _mm512_permutex2var_epi8(v->hi0, codes, v->hi1);
      hi = _mm512_ternarylogic_epi32(hi, codes, _mm512_set1_epi8((char)0x80), 0xF8);
      for (int h = 0; h < 2; h++) {
        __m512i o = _mm512_permutex2var_epi8(lo, x->kord[h], hi);
        if (base_scheme(s) == S_MX) {
          int ea = a->ea_mx[r * (k / MXK) + (i + 32 * h) / MXK];
          o = gemv_bf16_exp_add(o, _mm512_set1_epi16((short)((ea - 127) << 7)));
        }
        _mm512_store_si512((void *)(x->act + r * nk_astride(k) + i / 2 + 16 * h), o);
      }
    }
}

/* ------------------------------------------------------------------ a second thread */
/* One helper thread for 2-thread runs: it takes half of the work of a call (groups of
 * columns, or half the bytes of a read). It spins ~0.2 ms for the next job, then sleeps
 * on a condition variable, so that it leaves its core to the library's threads while
 * the library's calls are timed. */
static double now(void);
typedef struct helper {
  pthread_t t;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  atomic_int gen, done, quit;
  void (*fn)(void *);
  void *arg;
} helper;
static helper *g_helper; /* NULL: 1 thread */

static void pin_to(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

static void *helper_main(void *p) {
  helper *h = p;
  pin_to(0);
  int seen = 0;
  for (;;) {
    double t0 = now();
    while (atomic_load(&h->gen) == seen && !atomic_load(&h->quit)) {
      if (now() - t0 < 2e-4) {
        _mm_pause();
        continue;
      }
      pthread_mutex_lock(&h->mu);
      while (atomic_load(&h->gen) == seen && !atomic_load(&h->quit)) pthread_cond_wait(&h->cv, &h->mu);
      pthread_mutex_unlock(&h->mu);
    }
    if (atomic_load(&h->quit)) return NULL;
    seen = atomic_load(&h->gen);
    h->fn(h->arg);
    atomic_store(&h->done, seen);
  }
}

/* Runs fn(arg) on the helper while the caller does its own part; then wait. */
static void helper_start(void (*fn)(void *), void *arg) {
  helper *h = g_helper;
  h->fn = fn, h->arg = arg;
  pthread_mutex_lock(&h->mu);
  atomic_fetch_add(&h->gen, 1);
  pthread_cond_signal(&h->cv);
  pthread_mutex_unlock(&h->mu);
}
static void helper_wait(void) {
  while (atomic_load(&g_helper->done) != atomic_load(&g_helper->gen)) _mm_pause();
}

typedef struct nk_part {
  nk_call c;
  nk_fn fn;
  int64_t g_begin, g_end, step;
} nk_part;
static void nk_part_run(void *p) {
  nk_part *q = p;
  for (int64_t g0 = q->g_begin; g0 < q->g_end; g0 += q->step) q->fn(&q->c, g0);
}

static int nk_run(nk_ctx *x, int s, const weight *w, const acts *a) {
  const int64_t k = w->k;
  const int m = a->m;
  nk_acts(x, s, a, k);
  nk_call c = {.n = w->n,
               .k = k,
               .m = m,
               .w = w->nk,
               .wblk = w->wblk,
               .eb = w->nkmx,
               .sa = a->sa_blk,
               .scale = a->sa_pt * a->sb_pt,
               .act = x->act,
               .out = x->out,
               .v = x->v,
               .vmx = x->vmx,
               .mx_bias = (126 - 8) & ~1, /* the library's mx_bias_of(e4m3fn) */
               .pf = m >= x->pf_from_m ? x->pf : 0,
               .rec = _mm512_setzero_si512()};
  int ng = x->ng_of[s][m];
  const nk_variant *nv = nk_pick(m, ng);
  if (!nv) return -1;
  int64_t ngroups = w->n / 16;
  if (!g_helper) {
    for (int64_t g0 = 0; g0 < ngroups; g0 += ng) nv->fn[s](&c, g0);
  } else { /* 2 threads: the second half of the tiles on the helper */
    int64_t half = (ngroups / ng + 1) / 2 * ng;
    nk_part mine = {c, nv->fn[s], 0, half, ng}, other = {c, nv->fn[s], half, ngroups, ng};
    helper_start(nk_part_run, &other);
    nk_part_run(&mine);
    helper_wait();
    c.rec = _mm512_or_si512(mine.c.rec, other.c.rec);
  }
  /* a tile with an Inf / NaN mark would run again with the exact decode; none here */
  if (s == S_MX && _mm512_test_epi8_mask(c.rec, _mm512_set1_epi8(0x01))) return -2;
  return 0;
}

/* ------------------------------------------------------------------ the library, NT */
typedef struct lib_ctx {
  fp8gemm_tensor in_t, out_t, sa_t[S_COUNT - 1];
  uint16_t *out;
} lib_ctx;

static void lib_init(lib_ctx *l, const acts *a, int64_t n, int64_t k) {
  int64_t m = a->m;
  int64_t din[2] = {m, k}, dout[2] = {m, n}, d1[1] = {1}, dab[2] = {m, k / BK}, dam[2] = {m, k / MXK};
  l->out = xalloc((size_t)(m * n) * 2);
  fp8gemm_tensor_init(&l->in_t, FP8GEMM_E4M3FN, 2, din, a->q);
  fp8gemm_tensor_init(&l->out_t, FP8GEMM_BF16, 2, dout, l->out);
  fp8gemm_tensor_init(&l->sa_t[S_PT], FP8GEMM_F32, 1, d1, (void *)&a->sa_pt);
  fp8gemm_tensor_init(&l->sa_t[S_BLK], FP8GEMM_F32, 2, dab, a->sa_blk);
  fp8gemm_tensor_init(&l->sa_t[S_MX], FP8GEMM_E8M0, 2, dam, a->ea_mx);
}

static fp8gemm_status lib_run(lib_ctx *l, int s, const weight *w, const acts *a) {
  s = base_scheme(s);
  int64_t n = w->n, k = w->k, dw[2] = {k, n}, d1[1] = {1}, db[2] = {k / BK, (n + BK - 1) / BK},
          dm[2] = {k / MXK, n};
  fp8gemm_tensor wt, sb;
  fp8gemm_tensor_init(&wt, FP8GEMM_E4M3FN, 2, dw, w->nt);
  wt.strides[0] = 1, wt.strides[1] = k; /* NT view of [N, K] */
  if (s == S_PT) {
    fp8gemm_tensor_init(&sb, FP8GEMM_F32, 1, d1, (void *)&a->sb_pt);
  } else {
    fp8gemm_tensor_init(&sb, s == S_MX ? FP8GEMM_E8M0 : FP8GEMM_F32, 2, s == S_MX ? dm : db,
                        s == S_MX ? (void *)w->wmx : (void *)w->wblk);
    sb.strides[0] = 1, sb.strides[1] = sb.dims[0]; /* stored [N.., K..], passed transposed */
  }
  return fp8gemm_fp8_gemm(&l->in_t, &wt, FP8GEMM_BF16, &l->sa_t[s], &sb, NULL, &l->out_t);
}

static float bf16_f(uint16_t h) {
  uint32_t u = (uint32_t)h << 16;
  float f;
  memcpy(&f, &u, 4);
  return f;
}

/* ------------------------------------------------------------------ reference check */
/* out (f32 or bf16) against a double reference: |out - ref| <= tol * sum |terms| */
static int check(const char *what, int s, const weight *w, const acts *a, const float *o32, const uint16_t *o16,
                 double tol) {
  int64_t n = w->n, k = w->k, kb = k / BK, km = k / MXK;
  int bad = 0, sv = s;
  s = base_scheme(s);
  double worst = 0.0;
  for (int r = 0; r < a->m; r++)
    for (int64_t j = 0; j < n; j++) {
      double ref = 0.0, mag = 0.0;
      for (int64_t i = 0; i < k; i++) {
        double t = (double)e4m3_value(a->q[r * k + i]) * e4m3_value(w->nt[j * k + i]);
        if (s == S_PT) t *= (double)a->sa_pt * a->sb_pt;
        if (s == S_BLK) t *= (double)a->sa_blk[r * kb + i / BK] * w->wblk[(j / BK) * kb + i / BK];
        if (s == S_MX) t = ldexp(t, a->ea_mx[r * km + i / MXK] + w->wmx[j * km + i / MXK] - 254);
        ref += t, mag += fabs(t);
      }
      double got = o32 ? o32[r * n + j] : bf16_f(o16[r * n + j]);
      double err = fabs(got - ref) / (mag > 0 ? mag : 1.0);
      if (err > worst) worst = err;
      if (!(err <= tol)) bad++;
    }
  printf("check %-4s %-10s M=%2d N=%5lld K=%5lld: worst |err|/sum|ab| = %.2e (bound %.1e) %s\n", what,
         scheme_name[sv], a->m, (long long)n, (long long)k, worst, tol, bad ? "FAIL" : "ok");
  return bad ? 1 : 0;
}

/* ------------------------------------------------------------------ read */
static uint64_t sink;
static uint64_t read256(const uint8_t *p, size_t bytes) {
  __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
  for (size_t i = 0; i + 128 <= bytes; i += 128) {
    a0 = _mm256_or_si256(a0, _mm256_load_si256((const void *)(p + i)));
    a1 = _mm256_or_si256(a1, _mm256_load_si256((const void *)(p + i + 32)));
    a2 = _mm256_or_si256(a2, _mm256_load_si256((const void *)(p + i + 64)));
    a3 = _mm256_or_si256(a3, _mm256_load_si256((const void *)(p + i + 96)));
  }
  a0 = _mm256_or_si256(_mm256_or_si256(a0, a1), _mm256_or_si256(a2, a3));
  return (uint64_t)_mm256_extract_epi64(a0, 0);
}

/* the same bytes as four streams a quarter apart (the NK tiles read 4 groups at once) */
static uint64_t read256x4(const uint8_t *p, size_t bytes) {
  size_t q = bytes / 4 / 128 * 128;
  __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
  for (size_t i = 0; i < q; i += 64) {
    a0 = _mm256_or_si256(a0, _mm256_or_si256(_mm256_load_si256((const void *)(p + i)),
                                             _mm256_load_si256((const void *)(p + i + 32))));
    a1 = _mm256_or_si256(a1, _mm256_or_si256(_mm256_load_si256((const void *)(p + q + i)),
                                             _mm256_load_si256((const void *)(p + q + i + 32))));
    a2 = _mm256_or_si256(a2, _mm256_or_si256(_mm256_load_si256((const void *)(p + 2 * q + i)),
                                             _mm256_load_si256((const void *)(p + 2 * q + i + 32))));
    a3 = _mm256_or_si256(a3, _mm256_or_si256(_mm256_load_si256((const void *)(p + 3 * q + i)),
                                             _mm256_load_si256((const void *)(p + 3 * q + i + 32))));
  }
  a0 = _mm256_or_si256(_mm256_or_si256(a0, a1), _mm256_or_si256(a2, a3));
  return (uint64_t)_mm256_extract_epi64(a0, 0);
}

typedef uint64_t (*read_fn)(const uint8_t *, size_t);
typedef struct read_part {
  read_fn fn;
  const uint8_t *p;
  size_t bytes;
  uint64_t got;
} read_part;
static void read_part_run(void *p) {
  read_part *r = p;
  r->got = r->fn(r->p, r->bytes);
}
/* the read on 1 or 2 threads (halves) */
static void read_bytes(read_fn fn, const uint8_t *p, size_t bytes) {
  if (!g_helper) {
    sink += fn(p, bytes);
    return;
  }
  size_t half = bytes / 2 / 128 * 128;
  read_part other = {fn, p + half, bytes - half, 0};
  helper_start(read_part_run, &other);
  sink += fn(p, half);
  helper_wait();
  sink += other.got;
}

/* ------------------------------------------------------------------ timing */
static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}
static int cmpd(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}
static double median(const double *v, int n) {
  double t[256];
  memcpy(t, v, (size_t)n * sizeof *t);
  qsort(t, (size_t)n, sizeof *t, cmpd);
  return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}
static void range(const double *v, int n, double *lo, double *hi) {
  *lo = *hi = v[0];
  for (int i = 1; i < n; i++) *lo = v[i] < *lo ? v[i] : *lo, *hi = v[i] > *hi ? v[i] : *hi;
}

enum { NM = 5, MAXR = 64 };
static const int ms[NM] = {1, 2, 4, 8, 16};
/* variant index: 0 = read, 1 = read as 4 streams, then NREAD + (mi * 2 + layout) *
 * S_COUNT + s (layout 0 = lib NT, 1 = nk) */
enum { NREAD = 2, NVAR = NREAD + NM * 2 * S_COUNT };

typedef struct bench {
  weight *w;
  int nw;
  acts a[NM];
  lib_ctx l[NM];
  nk_ctx *x;
  int calls;
  double t[NVAR][MAXR]; /* per round: median per-call seconds */
} bench;

static int run_variant(bench *b, int v, int call) {
  const weight *w = &b->w[call % b->nw];
  if (v < NREAD) {
    read_bytes(v ? read256x4 : read256, w->nk, (size_t)(w->n * w->k));
    return 0;
  }
  int mi = (v - NREAD) / (2 * S_COUNT), lay = (v - NREAD) / S_COUNT % 2, s = (v - NREAD) % S_COUNT;
  if (lay == 0) return lib_run(&b->l[mi], s, w, &b->a[mi]) == FP8GEMM_OK ? 0 : -1;
  return nk_run(b->x, s, w, &b->a[mi]);
}

static int bench_rounds(bench *b, int rounds) {
  int call = 0;
  for (int v = 0; v < NVAR; v++)
    if (run_variant(b, v, call++)) return -1;
  for (int rd = 0; rd < rounds; rd++)
    for (int i = 0; i < NVAR; i++) {
      int v = (i + rd * 7) % NVAR;
      double t[64];
      for (int c = 0; c < b->calls; c++) {
        double t0 = now();
        if (run_variant(b, v, call++)) return -1;
        t[c] = now() - t0;
      }
      b->t[v][rd] = median(t, b->calls);
    }
  return 0;
}

static int var_of(int mi, int lay, int s) { return NREAD + (mi * 2 + lay) * S_COUNT + s; }

static void report(const bench *b, int rounds, const char *title) {
  const weight *w = &b->w[0];
  double bytes = (double)(w->n * w->k), lo, hi, r[MAXR];
  printf("\n## %s: N x K = %lld x %lld, %d weight buffer(s), %d rounds x %d calls (median per round)\n", title,
         (long long)w->n, (long long)w->k, b->nw, rounds, b->calls);
  double tr = median(b->t[0], rounds);
  range(b->t[0], rounds, &lo, &hi);
  printf("read (256-bit loads) of the bytes: %.3f ms (%.3f-%.3f), %.1f GB/s\n", tr * 1e3, lo * 1e3, hi * 1e3,
         bytes / tr / 1e9);
  double tr4 = median(b->t[1], rounds);
  range(b->t[1], rounds, &lo, &hi);
  printf("the same as 4 streams a quarter apart: %.3f ms (%.3f-%.3f), %.1f GB/s (%%read below: of the 1-stream read)\n",
         tr4 * 1e3, lo * 1e3, hi * 1e3, bytes / tr4 / 1e9);
  printf("| M | scheme | NT lib ms (range) | NK ms (range) | NK / NT per round | NT / per_tensor | NK / per_tensor "
         "| NT M / M=1 | NK M / M=1 | NT %%read | NK %%read |\n|---|---|---|---|---|---|---|---|---|---|---|\n");
  for (int mi = 0; mi < NM; mi++)
    for (int s = 0; s < S_COUNT; s++) {
      printf("| %d | %s |", ms[mi], scheme_name[s]);
      for (int lay = 0; lay < 2; lay++) {
        const double *t = b->t[var_of(mi, lay, s)];
        range(t, rounds, &lo, &hi);
        printf(" %.3f (%.3f-%.3f) |", median(t, rounds) * 1e3, lo * 1e3, hi * 1e3);
      }
      for (int i = 0; i < rounds; i++) r[i] = b->t[var_of(mi, 1, s)][i] / b->t[var_of(mi, 0, s)][i];
      range(r, rounds, &lo, &hi);
      printf(" %.2f (%.2f-%.2f) |", median(r, rounds), lo, hi);
      for (int lay = 0; lay < 2; lay++) {
        for (int i = 0; i < rounds; i++) r[i] = b->t[var_of(mi, lay, s)][i] / b->t[var_of(mi, lay, S_PT)][i];
        range(r, rounds, &lo, &hi);
        printf(" %.2f (%.2f-%.2f) |", median(r, rounds), lo, hi);
      }
      for (int lay = 0; lay < 2; lay++) {
        for (int i = 0; i < rounds; i++) r[i] = b->t[var_of(mi, lay, s)][i] / b->t[var_of(0, lay, s)][i];
        range(r, rounds, &lo, &hi);
        printf(" %.2f (%.2f-%.2f) |", median(r, rounds), lo, hi);
      }
      for (int lay = 0; lay < 2; lay++) {
        for (int i = 0; i < rounds; i++) r[i] = b->t[0][i] / b->t[var_of(mi, lay, s)][i] * 100.0;
        printf(" %.0f |", median(r, rounds));
      }
      printf("\n");
    }
}

static int nk_ctx_init(nk_ctx *x, int64_t n, int64_t k, int64_t pf, const char *ngs) {
  x->act = xalloc((size_t)(16 * nk_astride(k)) * 4);
  x->out = xalloc((size_t)(16 * n) * sizeof(float));
  x->v = gemv_bf16_vtab_of(FP8GEMM_E4M3FN);
  x->vmx = gemv_bf16_vtab_mx_of(FP8GEMM_E4M3FN, (126 - 8) & ~1);
  _Alignas(64) uint8_t idx[2][64];
  for (int h = 0; h < 2; h++)
    for (int i = 0; i < 32; i++) idx[h][2 * i] = (uint8_t)(32 * h + i), idx[h][2 * i + 1] = (uint8_t)(64 + 32 * h + i);
  x->kord[0] = _mm512_load_si512((const void *)idx[0]);
  x->kord[1] = _mm512_load_si512((const void *)idx[1]);
  x->pf = pf, x->pf_from_m = 8;
  /* tile widths (groups of 16 columns per tile), from `nk_proto 5 0 tiles` (in cache)
   * and the memory runs (4 streams for M <= 4; at M = 8 one group is faster in cache
   * but slower from memory; docs/gemv.md, session 17) */
  static const int ng[S_COUNT][NM] = {{4, 4, 4, 2, 1}, {4, 4, 4, 2, 1}, {4, 4, 4, 2, 1}, {4, 4, 4, 1, 1}, {4, 4, 4, 2, 1}};
  for (int s = 0; s < S_COUNT; s++)
    for (int mi = 0; mi < NM; mi++) {
      /* or given: S_COUNT x NM digits, scheme-major (e.g. 44421...) */
      int d = ngs && (int)strlen(ngs) == S_COUNT * NM ? ngs[s * NM + mi] - '0' : ng[s][mi];
      x->ng_of[s][ms[mi]] = nk_pick(ms[mi], d) ? d : ng[s][mi];
    }
  return 0;
}

static int correctness(nk_ctx *x) {
  int bad = 0;
  for (int wide = 0; wide < 2; wide++) {
    weight w;
    weight_init(&w, 64, 512, wide);
    for (int mi = 0; mi < NM; mi++) {
      acts a;
      acts_init(&a, ms[mi], w.k, wide);
      lib_ctx l;
      lib_init(&l, &a, w.n, w.k);
      for (int s = 0; s < S_COUNT; s++) {
        /* every tile width of this M */
        for (int i = 0; i < NK_NV; i++) {
          if (nk_variants[i].m != ms[mi]) continue;
          int keep = x->ng_of[s][ms[mi]];
          x->ng_of[s][ms[mi]] = nk_variants[i].ng;
          memset(x->out, 0xFF, (size_t)(ms[mi] * w.n) * sizeof(float));
          int rc = nk_run(x, s, &w, &a);
          x->ng_of[s][ms[mi]] = keep;
          if (rc) {
            printf("nk_run failed (%d)\n", rc);
            bad++;
          } else {
            bad += check("nk", s, &w, &a, x->out, NULL, 4096 * 0x1p-24);
          }
          /* the rescaled sums round as the folded ones: bitwise the mx tile's results */
          if (s == S_MXR && !rc) {
            size_t nb = (size_t)(ms[mi] * w.n) * sizeof(float);
            float *keep_out = xalloc(nb);
            memcpy(keep_out, x->out, nb);
            keep = x->ng_of[S_MX][ms[mi]];
            x->ng_of[S_MX][ms[mi]] = nk_variants[i].ng;
            rc = nk_run(x, S_MX, &w, &a);
            x->ng_of[S_MX][ms[mi]] = keep;
            if (rc || memcmp(keep_out, x->out, nb) != 0) {
              printf("mx_rescale M=%d groups %d: not bitwise the mx results\n", ms[mi], nk_variants[i].ng);
              bad++;
            }
            free(keep_out);
          }
        }
        if (lib_run(&l, s, &w, &a) != FP8GEMM_OK) {
          printf("library call failed\n");
          bad++;
        } else {
          bad += check("lib", s, &w, &a, NULL, l.out, 0x1p-8);
        }
      }
      free(l.out);
      acts_free(&a);
    }
    weight_free(&w);
  }
  return bad;
}

/* Every tile width of every M and scheme in cache, alternating, to choose ng_of. */
static int tile_sweep(nk_ctx *x, int rounds) {
  weight w;
  weight_init(&w, 1024, 4096, false);
  acts a[NM];
  for (int mi = 0; mi < NM; mi++) acts_init(&a[mi], ms[mi], w.k, false);
  double t[NK_NV][S_COUNT][MAXR];
  for (int rd = 0; rd < rounds; rd++)
    for (int i = 0; i < NK_NV; i++)
      for (int s = 0; s < S_COUNT; s++) {
        int m = nk_variants[i].m, mi = 0, keep = x->ng_of[s][m];
        while (ms[mi] != m) mi++;
        x->ng_of[s][m] = nk_variants[i].ng;
        double c[20];
        for (int j = 0; j < 20; j++) {
          double t0 = now();
          if (nk_run(x, s, &w, &a[mi])) return 1;
          c[j] = now() - t0;
        }
        x->ng_of[s][m] = keep;
        t[i][s][rd] = median(c, 20);
      }
  printf("\n## tile widths in cache (1024 x 4096), median ms of %d rounds (range)\n| M | groups |", rounds);
  for (int s = 0; s < S_COUNT; s++) printf(" %s |", scheme_name[s]);
  printf("\n|---|---|");
  for (int s = 0; s < S_COUNT; s++) printf("---|");
  printf("\n");
  for (int i = 0; i < NK_NV; i++) {
    printf("| %d | %d |", nk_variants[i].m, nk_variants[i].ng);
    for (int s = 0; s < S_COUNT; s++) {
      double lo, hi;
      range(t[i][s], rounds, &lo, &hi);
      printf(" %.3f (%.3f-%.3f) |", median(t[i][s], rounds) * 1e3, lo * 1e3, hi * 1e3);
    }
    printf("\n");
  }
  for (int mi = 0; mi < NM; mi++) acts_free(&a[mi]);
  weight_free(&w);
  return 0;
}

/* VDPBF16PS zmm throughput: 16 independent chains, ops per second. */
static double dpbf16_rate(void) {
  __m512 acc[16];
  for (int i = 0; i < 16; i++) acc[i] = _mm512_set1_ps((float)i);
  __m512i a = _mm512_set1_epi32(0x3F803F80), b = _mm512_set1_epi32(0x00010001);
  const long iters = 2000000;
  double best = 0.0;
  for (int rep = 0; rep < 7; rep++) {
    double t0 = now();
    for (long it = 0; it < iters; it++) {
#pragma GCC unroll 16
      for (int i = 0; i < 16; i++) acc[i] = _mm512_dpbf16_ps(acc[i], (__m512bh)a, (__m512bh)b);
      __asm__ volatile("" : "+v"(a));
    }
    double r = 16.0 * (double)iters / (now() - t0);
    if (r > best) best = r;
  }
  __m512 s = acc[0];
  for (int i = 1; i < 16; i++) s = _mm512_add_ps(s, acc[i]);
  sink += (uint64_t)_mm512_reduce_add_ps(s);
  return best;
}

static int run_case(nk_ctx *x, int64_t n, int64_t k, int nw, int calls, int rounds, bool check_big, const char *title) {
  bench *b = calloc(1, sizeof *b);
  b->w = calloc((size_t)nw, sizeof *b->w);
  b->nw = nw, b->x = x, b->calls = calls;
  for (int i = 0; i < nw; i++) weight_init(&b->w[i], n, k, false);
  for (int mi = 0; mi < NM; mi++) {
    acts_init(&b->a[mi], ms[mi], k, false);
    lib_init(&b->l[mi], &b->a[mi], n, k);
  }
  int bad = 0;
  if (check_big)
    for (int s = 0; s < S_COUNT; s++) {
      if (nk_run(x, s, &b->w[0], &b->a[4])) bad++;
      else bad += check("nk", s, &b->w[0], &b->a[4], x->out, NULL, 4096 * 0x1p-24);
    }
  if (!bad && bench_rounds(b, rounds) == 0) report(b, rounds, title);
  else bad++;
  for (int mi = 0; mi < NM; mi++) free(b->l[mi].out), acts_free(&b->a[mi]);
  for (int i = 0; i < nw; i++) weight_free(&b->w[i]);
  free(b->w);
  free(b);
  return bad;
}

int main(int argc, char **argv) {
  int rounds = argc > 1 ? atoi(argv[1]) : 7;
  int64_t pf = argc > 2 ? atoll(argv[2]) : 0;
  const char *which = argc > 3 ? argv[3] : "all";
  const char *ngs = argc > 4 && strlen(argv[4]) == S_COUNT * NM ? argv[4] : NULL;
  int threads = argc > 5 ? atoi(argv[5]) : 1;
  if (rounds < 1 || rounds > MAXR) rounds = 7;
  if (threads != 2) threads = 1;
  if (fp8gemm_set_num_threads(threads) != FP8GEMM_OK) return 1;
  static helper h;
  if (threads == 2) { /* the helper on CPU 0; this thread not pinned: the library's
                        * workers inherit its mask (pinned to CPU 1, they shared it) */
    pthread_mutex_init(&h.mu, NULL);
    pthread_cond_init(&h.cv, NULL);
    if (pthread_create(&h.t, NULL, helper_main, &h) != 0) return 1;
    g_helper = &h;
  }
  e4m3_tab_init();
  nk_ctx x;
  nk_ctx_init(&x, 14336, 4096, pf, ngs);
  if (correctness(&x)) {
    printf("correctness FAILED\n");
    return 1;
  }
  printf("prefetch distance %lld bytes for M >= %d, %d thread(s), groups per tile (per_tensor, block, mx, mx_fma, "
         "mx_rescale; M = 1..16):",
         (long long)pf, x.pf_from_m, threads);
  for (int s = 0; s < S_COUNT; s++) {
    printf(" ");
    for (int mi = 0; mi < NM; mi++) printf("%d", x.ng_of[s][ms[mi]]);
  }
  printf("\n");
  printf("VDPBF16PS zmm: %.2f G/s (best of 7, 16 chains)\n", dpbf16_rate() / 1e9);
  int bad = 0;
  if (!strcmp(which, "tiles")) bad += tile_sweep(&x, rounds);
  if (!strcmp(which, "all") || !strcmp(which, "cache"))
    bad += run_case(&x, 1024, 4096, 1, 20, rounds, true, "in cache");
  if (!strcmp(which, "all") || !strcmp(which, "mem"))
    bad += run_case(&x, 14336, 4096, 4, 8, rounds, false, "from memory");
  printf("sink %llu\n", (unsigned long long)(sink & 1));
  if (g_helper) {
    pthread_mutex_lock(&h.mu);
    atomic_store(&h.quit, 1);
    pthread_cond_signal(&h.cv);
    pthread_mutex_unlock(&h.mu);
    pthread_join(h.t, NULL);
  }
  return bad ? 1 : 0;
}
