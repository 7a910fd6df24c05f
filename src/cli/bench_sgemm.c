/*
 * fp32 GEMM used as the "dequantize + sgemm" baseline. Blocking: a KC x (thread's
 * columns) block of B is packed into 16-column panels (L3), an MC x KC block of A is
 * copied (L2), and a 6 x 16 register tile runs over each panel (L1).
 */
#include "bench_sgemm.h"

#include <immintrin.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

enum { MR = 6, NR = 16, KC = 256, MC = 120 };

typedef struct sgemm_job {
  int64_t m, n, k, mp, n0, n1; /* columns [n0, n1) of the padded output */
  const float *a;              /* padded [mp][k] */
  const float *b;
  int b_trans;                 /* b is [n][k] */
  float *c;                    /* padded [mp][np] */
  int64_t ldc;
  int failed;
} sgemm_job;

__attribute__((target("avx2,fma"))) static void micro_6x16(int64_t kc, const float *a, int64_t lda,
                                                           const float *bp, float *c, int64_t ldc,
                                                           int first) {
  __m256 acc[MR][2];
  for (int i = 0; i < MR; i++) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
  for (int64_t p = 0; p < kc; p++, bp += NR) {
    __m256 b0 = _mm256_loadu_ps(bp), b1 = _mm256_loadu_ps(bp + 8);
    for (int i = 0; i < MR; i++) {
      __m256 ai = _mm256_broadcast_ss(a + i * lda + p);
      acc[i][0] = _mm256_fmadd_ps(ai, b0, acc[i][0]);
      acc[i][1] = _mm256_fmadd_ps(ai, b1, acc[i][1]);
    }
  }
  for (int i = 0; i < MR; i++) {
    float *ci = c + i * ldc;
    if (!first) {
      acc[i][0] = _mm256_add_ps(acc[i][0], _mm256_loadu_ps(ci));
      acc[i][1] = _mm256_add_ps(acc[i][1], _mm256_loadu_ps(ci + 8));
    }
    _mm256_storeu_ps(ci, acc[i][0]);
    _mm256_storeu_ps(ci + 8, acc[i][1]);
  }
}

/* Few rows, B transposed: one dot product per output, B streamed once. */
__attribute__((target("avx2,fma"))) static void small_m_trans(sgemm_job *j) {
  for (int64_t col = j->n0; col < j->n1 && col < j->n; col++) {
    const float *w = j->b + col * j->k;
    for (int64_t i = 0; i < j->m; i++) {
      const float *a = j->a + i * j->k;
      __m256 s0 = _mm256_setzero_ps(), s1 = s0;
      int64_t p = 0;
      for (; p + 16 <= j->k; p += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + p), _mm256_loadu_ps(w + p), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + p + 8), _mm256_loadu_ps(w + p + 8), s1);
      }
      float t[8], s = 0.0f;
      _mm256_storeu_ps(t, _mm256_add_ps(s0, s1));
      for (int q = 0; q < 8; q++) s += t[q];
      for (; p < j->k; p++) s += a[p] * w[p];
      j->c[i * j->ldc + col] = s;
    }
  }
}

/* Few rows (decode): stream B once, rows of C in L1, chunks of 256 columns. */
__attribute__((target("avx2,fma"))) static void small_m(sgemm_job *j) {
  for (int64_t c0 = j->n0; c0 < j->n1; c0 += 256) {
    int64_t cw = j->n1 - c0 < 256 ? j->n1 - c0 : 256;
    for (int64_t i = 0; i < j->m; i++) memset(j->c + i * j->ldc + c0, 0, (size_t)cw * sizeof(float));
    for (int64_t p = 0; p < j->k; p++) {
      const float *brow = j->b + p * j->n + c0;
      for (int64_t i = 0; i < j->m; i++) {
        __m256 ai = _mm256_set1_ps(j->a[i * j->k + p]);
        float *ci = j->c + i * j->ldc + c0;
        int64_t q = 0;
        for (; q + 8 <= cw && c0 + q + 8 <= j->n; q += 8)
          _mm256_storeu_ps(ci + q, _mm256_fmadd_ps(ai, _mm256_loadu_ps(brow + q), _mm256_loadu_ps(ci + q)));
        for (; q < cw && c0 + q < j->n; q++) ci[q] += j->a[i * j->k + p] * brow[q];
      }
    }
  }
}

static void *sgemm_thread(void *arg) {
  sgemm_job *j = arg;
  if (j->m <= 16) {
    if (j->b_trans) small_m_trans(j);
    else small_m(j);
    return NULL;
  }
  int64_t cols = j->n1 - j->n0;
  float *bpack = malloc((size_t)(KC * cols) * sizeof(float));
  if (!bpack) {
    j->failed = 1;
    return NULL;
  }
  for (int64_t pc = 0; pc < j->k; pc += KC) {
    int64_t kc = j->k - pc < KC ? j->k - pc : KC;
    /* pack B[pc .. pc + kc][n0 .. n1) as panels of NR columns, zero past n */
    for (int64_t jp = 0; jp < cols; jp += NR) {
      float *dst = bpack + jp * kc;
      for (int64_t p = 0; p < kc; p++)
        for (int q = 0; q < NR; q++) {
          int64_t col = j->n0 + jp + q;
          dst[p * NR + q] = col >= j->n ? 0.0f
                            : j->b_trans ? j->b[col * j->k + pc + p]
                                         : j->b[(pc + p) * j->n + col];
        }
    }
    for (int64_t ic = 0; ic < j->mp; ic += MC) {
      int64_t mc = j->mp - ic < MC ? j->mp - ic : MC;
      for (int64_t jp = 0; jp < cols; jp += NR)
        for (int64_t ir = 0; ir < mc; ir += MR)
          micro_6x16(kc, j->a + (ic + ir) * j->k + pc, j->k, bpack + jp * kc,
                     j->c + (ic + ir) * j->ldc + j->n0 + jp, j->ldc, pc == 0);
    }
  }
  free(bpack);
  return NULL;
}

int bench_sgemm(int64_t m, int64_t n, int64_t k, const float *a, const float *b, int b_trans,
                float *c, int threads) {
  int64_t mp = (m + MR - 1) / MR * MR, np = (n + NR - 1) / NR * NR;
  float *ap = calloc((size_t)(mp * k), sizeof(float));
  float *cp = malloc((size_t)(mp * np) * sizeof(float));
  if (!ap || !cp) {
    free(ap);
    free(cp);
    return -1;
  }
  memcpy(ap, a, (size_t)(m * k) * sizeof(float));
  if (threads < 1) threads = 1;
  if (threads > 16) threads = 16;
  sgemm_job jobs[16];
  pthread_t th[16];
  int64_t per = (np / NR + threads - 1) / threads * NR;
  int started[16] = {0};
  for (int t = 0; t < threads; t++) {
    int64_t n0 = t * per, n1 = n0 + per < np ? n0 + per : np;
    jobs[t] = (sgemm_job){m, n, k, mp, n0 < np ? n0 : np, n1, ap, b, b_trans, cp, np, 0};
    if (t > 0 && jobs[t].n1 > jobs[t].n0)
      started[t] = pthread_create(&th[t], NULL, sgemm_thread, &jobs[t]) == 0;
  }
  if (jobs[0].n1 > jobs[0].n0) sgemm_thread(&jobs[0]);
  int failed = jobs[0].failed;
  for (int t = 1; t < threads; t++) {
    if (jobs[t].n1 <= jobs[t].n0) continue;
    if (started[t]) pthread_join(th[t], NULL);
    else sgemm_thread(&jobs[t]);
    failed |= jobs[t].failed;
  }
  for (int64_t i = 0; i < m; i++) memcpy(c + i * n, cp + i * np, (size_t)n * sizeof(float));
  free(ap);
  free(cp);
  return failed ? -1 : 0;
}
