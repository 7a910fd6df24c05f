/*
 * Portable reference GEMM kernels: the ground truth the fast kernels are tested
 * against. One output at a time, accumulated in double (every fp8 x fp8 and
 * wide x fp8 product is exact in double), scaled per K block, then rounded once,
 * to nearest even, from double straight to the output dtype (never via f32, which
 * would round twice for bf16 / fp16).
 */
#include <math.h>
#include <string.h>

#include "../gemm_kernels.h"

/* x rounded (RNE) to a binary format with p significand bits, minimum normal
 * exponent emin and maximum exponent emax; overflow gives +-Inf. */
static double round_binary(double x, int p, int emin, int emax) {
  if (!isfinite(x) || x == 0.0) return x;
  if (fabs(x) >= ldexp(1.0, emax + 1)) return copysign(INFINITY, x);
  int e;
  frexp(x, &e);
  int lead = e - 1 < emin ? emin : e - 1; /* subnormals share the ulp of 2^emin */
  int ulp_exp = lead - (p - 1);
  double r = ldexp(nearbyint(ldexp(x, -ulp_exp)), ulp_exp);
  return fabs(r) >= ldexp(1.0, emax + 1) ? copysign(INFINITY, x) : r;
}

static void store_out(void *out, fp8gemm_dtype dtype, int64_t i, double v) {
  switch (dtype) {
    case FP8GEMM_F32: ((float *)out)[i] = (float)round_binary(v, 24, -126, 127); break;
    case FP8GEMM_BF16: {
      float f = (float)round_binary(v, 8, -126, 127); /* exact in bf16 now */
      uint32_t u;
      memcpy(&u, &f, sizeof u);
      ((uint16_t *)out)[i] = isnan(f) ? (uint16_t)((u >> 16) | 0x40) : (uint16_t)(u >> 16);
      break;
    }
    case FP8GEMM_F16:
      ((uint16_t *)out)[i] = fp8g_f32_to_f16((float)round_binary(v, 11, -14, 15));
      break;
    default: break;
  }
}

/* 2^(code - 127); code 0xFF is NaN. Exact in double. */
static double e8m0_value(uint8_t code) {
  return code == 0xFF ? NAN : ldexp(1.0, (int)code - 127);
}

/* Scale multiplying K block kb of output (batch, row, col). */
static double block_scale(const fp8g_gemm_problem *p, int64_t batch, int64_t row, int64_t kb,
                          int64_t col) {
  const float *sb = p->sb ? p->sb + batch * p->sb_batch_stride : NULL;
  double sa = 1.0;
  switch (p->scale_kind) {
    case FP8G_SCALE_NONE: return 1.0;
    case FP8G_SCALE_TENSOR:
      if (p->sa) sa = p->sa[0];
      return sa * sb[0];
    case FP8G_SCALE_ROWCOL:
      if (p->sa) sa = p->sa[row];
      return sa * sb[col];
    case FP8G_SCALE_BLOCK:
      if (p->sa) sa = p->sa[row * p->a_kblocks + kb];
      return sa * sb[kb * p->b_nblocks + col / p->block_n];
    case FP8G_SCALE_MX: {
      const uint8_t *eb = p->eb + batch * p->sb_batch_stride;
      return e8m0_value(p->ea[row * p->a_kblocks + kb]) * e8m0_value(eb[kb * p->n + col]);
    }
  }
  return NAN;
}

/* decode tables: one per operand dtype, so the inner loop is a lookup */
static void decode_table(fp8gemm_dtype dtype, double table[256]) {
  for (int c = 0; c < 256; c++) table[c] = fp8g_decode(dtype, (uint8_t)c);
}

static double load_a(const fp8g_gemm_problem *p, const double *a_table, int64_t off) {
  if (a_table) return a_table[((const uint8_t *)p->a)[off]];
  return fp8g_load_wide(p->a, p->a_dtype, off);
}

static fp8gemm_status run_ref(const fp8g_gemm_problem *p) {
  double a_table_storage[256], b_table[256];
  const double *a_table = NULL;
  if (fp8gemm_dtype_is_fp8(p->a_dtype)) {
    decode_table(p->a_dtype, a_table_storage);
    a_table = a_table_storage;
  }
  decode_table(p->b_dtype, b_table);
  bool blocked = p->scale_kind == FP8G_SCALE_BLOCK || p->scale_kind == FP8G_SCALE_MX;
  int64_t block_k = blocked ? p->block_k : p->k;
  for (int64_t batch = 0; batch < p->batch; batch++) {
    const uint8_t *b = p->b + batch * p->b_batch_stride;
    for (int64_t i = 0; i < p->m; i++) {
      int64_t row = batch * p->m + i;
      int64_t a_row = p->a_row_offset[row];
      for (int64_t col = 0; col < p->n; col++) {
        double acc = 0.0;
        for (int64_t k0 = 0, kb = 0; k0 < p->k; k0 += block_k, kb++) {
          int64_t k1 = k0 + block_k < p->k ? k0 + block_k : p->k;
          double part = 0.0;
          for (int64_t kk = k0; kk < k1; kk++)
            part += load_a(p, a_table, a_row + kk * p->a_stride_k) *
                    b_table[b[kk * p->b_stride_k + col * p->b_stride_n]];
          acc += part * block_scale(p, batch, row, kb, col);
        }
        store_out(p->out, p->out_dtype, row * p->n + col, acc + fp8g_bias_at(p, row, col));
      }
    }
  }
  return FP8GEMM_OK;
}

static bool supports_all(const fp8g_gemm_problem *p) {
  (void)p;
  return true;
}

const fp8g_gemm_kernel fp8g_gemm_ref_w8a8 = {.name = "gemm_ref", .isa = FP8GEMM_ISA_SCALAR,
    .supports = supports_all, .run = run_ref};
const fp8g_gemm_kernel fp8g_gemm_ref_w8a16 = {.name = "gemm_w8a16_ref", .isa = FP8GEMM_ISA_SCALAR,
    .supports = supports_all, .run = run_ref};
