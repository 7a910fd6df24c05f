/*
 * The activation-range check of the BF16-dot kernels for fp8_gemm_w8a16 (bf16
 * activations x fp8 weights): VDPBF16PS reads denormal inputs as zero and flushes
 * denormal results, so a call runs on it only when no product and no partial sum can
 * be flushed or overflow (gemm_bf16.h says how). Portable C, one pass over the
 * activations, split over the thread pool; the decode kernel
 * (avx512_bf16/gemv_avx512bf16.c) applies the same rule to its own scan.
 */
#include <stdatomic.h>

#include "gemm_bf16.h"

/* log2 of the smallest nonzero value (its unit in the last place), and an upper bound
 * on log2 of the largest finite value, of a weight dtype. */
static int w_lsb_log2(fp8gemm_dtype d) {
  switch (d) {
    case FP8GEMM_E4M3FN: return -9;
    case FP8GEMM_E5M2: return -16;
    case FP8GEMM_E4M3FNUZ: return -10;
    default: return -17; /* e5m2fnuz */
  }
}
static int w_max_log2(fp8gemm_dtype d) { return d == FP8GEMM_E4M3FN ? 9 : d == FP8GEMM_E4M3FNUZ ? 8 : 16; }

bool fp8g_bf16_w8a16_range_ok(int emin, int emax, fp8gemm_dtype w_dtype, int64_t k) {
  if (emin > emax) return true; /* all zero / non-finite */
  /* the smallest nonzero |a| has its last bit at 2^(emin - 127 - 7) */
  if (emin - 134 + w_lsb_log2(w_dtype) < -126) return false;
  return emax - 126 + w_max_log2(w_dtype) + fp8g_ceil_log2(k) <= 120;
}

/* Branch-free per element, so the contiguous loop vectorises. */
void fp8g_bf16_exp_range(const uint16_t *x, int64_t n, int64_t stride, int *emin, int *emax) {
  unsigned lo = (unsigned)*emin, hi = (unsigned)*emax;
  if (stride == 1) {
    for (int64_t i = 0; i < n; i++) {
      unsigned v = x[i], e = (v >> 7) & 0xFFu;
      bool use = (v & 0x7FFFu) != 0 && e != 0xFFu; /* nonzero, finite (denormal: e = 0) */
      unsigned l = use ? e : 0xFFu, h = use ? e : 0u;
      lo = l < lo ? l : lo;
      hi = h > hi ? h : hi;
    }
  } else {
    for (int64_t i = 0; i < n; i++) {
      unsigned v = x[i * stride], e = (v >> 7) & 0xFFu;
      if ((v & 0x7FFFu) == 0 || e == 0xFFu) continue;
      lo = e < lo ? e : lo;
      hi = e > hi ? e : hi;
    }
  }
  *emin = (int)lo;
  *emax = (int)hi;
}

/* The scan over the thread pool: tasks of about SCAN_TASK values of the flat (row, k)
 * index, each writing its own range slot. Min / max of the slots are the serial scan's
 * whatever the split or thread count; small calls are one task, run inline. */
enum { SCAN_TASK = 1 << 16, SCAN_TASKS_MAX = 64 };

typedef struct acts_scan {
  const fp8g_gemm_problem *p;
  int64_t per; /* values per task */
  int emin[SCAN_TASKS_MAX], emax[SCAN_TASKS_MAX];
} acts_scan;

static void scan_task(void *ctx, int64_t t) {
  acts_scan *s = ctx;
  const fp8g_gemm_problem *p = s->p;
  const uint16_t *a = p->a;
  int64_t i = t * s->per, total = p->batch * p->m * p->k;
  int64_t end = total - i < s->per ? total : i + s->per;
  int emin = 255, emax = 0;
  while (i < end) {
    int64_t r = i / p->k, kk = i % p->k, n = p->k - kk < end - i ? p->k - kk : end - i;
    fp8g_bf16_exp_range(a + p->a_row_offset[r] + kk * p->a_stride_k, n, p->a_stride_k, &emin, &emax);
    i += n;
  }
  s->emin[t] = emin;
  s->emax[t] = emax;
}

bool fp8g_bf16_w8a16_acts_ok(const fp8g_gemm_problem *p) {
  int64_t total = p->batch * p->m * p->k;
  int64_t tasks = (total + SCAN_TASK - 1) / SCAN_TASK;
  tasks = tasks < 1 ? 1 : tasks > SCAN_TASKS_MAX ? SCAN_TASKS_MAX : tasks;
  acts_scan s = {.p = p, .per = (total + tasks - 1) / tasks};
  if (s.per < 1) s.per = 1;
  fp8g_parallel_for(tasks, p->nthreads, scan_task, &s);
  int emin = 255, emax = 0;
  for (int64_t t = 0; t < tasks; t++) {
    emin = s.emin[t] < emin ? s.emin[t] : emin;
    emax = s.emax[t] > emax ? s.emax[t] : emax;
  }
  return fp8g_bf16_w8a16_range_ok(emin, emax, p->b_dtype, p->k);
}

static atomic_long handbacks;
long fp8g_bf16_w8a16_handbacks(void) { return atomic_load(&handbacks); }
void fp8g_bf16_count_handback(void) { atomic_fetch_add(&handbacks, 1); }
