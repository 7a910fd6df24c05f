/*
 * The activation-range check of the BF16-dot kernels for fp8_gemm_w8a16 (bf16
 * activations x fp8 weights): VDPBF16PS reads denormal inputs as zero and flushes
 * denormal results, so a call runs on it only when no product and no partial sum can
 * be flushed or overflow (gemm_bf16.h says how). Portable C, one pass over the
 * activations; the decode kernel (avx512_bf16/gemv_avx512bf16.c) applies the same rule
 * to its own scan.
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

bool fp8g_bf16_w8a16_acts_ok(const fp8g_gemm_problem *p) {
  int emin = 255, emax = 0;
  const uint16_t *a = p->a;
  for (int64_t r = 0; r < p->batch * p->m; r++)
    fp8g_bf16_exp_range(a + p->a_row_offset[r], p->k, p->a_stride_k, &emin, &emax);
  return fp8g_bf16_w8a16_range_ok(emin, emax, p->b_dtype, p->k);
}

static atomic_long handbacks;
long fp8g_bf16_w8a16_handbacks(void) { return atomic_load(&handbacks); }
void fp8g_bf16_count_handback(void) { atomic_fetch_add(&handbacks, 1); }
