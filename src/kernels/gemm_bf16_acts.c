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

/*
 * The contiguous loop works on magnitudes in signed 16-bit lanes, which gcc and clang
 * vectorise with SSE2's halfword min / max. The exponent field grows with the
 * magnitude, so the smallest nonzero magnitude has the smallest field (255 when it is
 * Inf / NaN: nothing to count), the largest finite one the largest.
 */
void fp8g_bf16_exp_range(const uint16_t *x, int64_t n, int64_t stride, int *emin, int *emax) {
  int lo = *emin, hi = *emax;
  if (stride == 1) {
    int16_t lo_m1 = 0x7FFF, hi_mag = 0; /* smallest nonzero magnitude - 1, largest finite */
    for (int64_t i = 0; i < n; i++) {
      int16_t mag = (int16_t)(x[i] & 0x7FFF);
      int16_t l = (int16_t)((mag - 1) & 0x7FFF), h = mag < 0x7F80 ? mag : 0; /* zero: l = 0x7FFF */
      lo_m1 = l < lo_m1 ? l : lo_m1;
      hi_mag = h > hi_mag ? h : hi_mag;
    }
    int e_lo = (lo_m1 + 1) >> 7, e_hi = hi_mag >> 7; /* e_lo 256: no nonzero value */
    e_lo = e_lo > 255 ? 255 : e_lo;
    lo = e_lo < lo ? e_lo : lo;
    hi = e_hi > hi ? e_hi : hi;
  } else {
    for (int64_t i = 0; i < n; i++) {
      int v = x[i * stride], e = (v >> 7) & 0xFF;
      if ((v & 0x7FFF) == 0 || e == 0xFF) continue; /* zero, Inf / NaN (denormal: e = 0) */
      lo = e < lo ? e : lo;
      hi = e > hi ? e : hi;
    }
  }
  *emin = lo;
  *emax = hi;
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

int64_t fp8g_bf16_w8a16_scan_per(int64_t total) {
  int64_t tasks = (total + SCAN_TASK - 1) / SCAN_TASK;
  tasks = tasks < 1 ? 1 : tasks > SCAN_TASKS_MAX ? SCAN_TASKS_MAX : tasks;
  int64_t per = (total + tasks - 1) / tasks;
  return per < 1 ? 1 : per;
}

bool fp8g_bf16_w8a16_acts_ok(const fp8g_gemm_problem *p) {
  int64_t total = p->batch * p->m * p->k;
  acts_scan s = {.p = p, .per = fp8g_bf16_w8a16_scan_per(total)};
  int64_t tasks = (total + s.per - 1) / s.per; /* <= SCAN_TASKS_MAX */
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
