/*
 * GEMM kernel tables and run-time selection, and the capability query for
 * fp8_gemm / fp8_gemm_w8a16. To add a kernel: declare it below and put it in its
 * op's table above the reference (best first). Selection takes the first kernel
 * whose ISA the CPU (under the FP8GEMM_MAX_ISA cap) has and that supports the problem.
 */
#include <stddef.h>

#include "../kernels/avx2/gemm_avx2.h"
#include "../kernels/avx2/gemv_avx2.h"
#include "../kernels/gemm_kernels.h"

/* Fast kernels, one line each (defined under src/kernels/<isa>/). */

static const fp8g_gemm_kernel *const w8a8_kernels[] = {
    &fp8g_gemv_avx2_w8a8, /* M * batch <= 16: decode */
    &fp8g_gemm_avx2_w8a8, /* any M: packed panels, 6x16 FMA micro-kernel */
    &fp8g_gemm_ref_w8a8, /* always last, always there */
};

static const fp8g_gemm_kernel *const w8a16_kernels[] = {
    &fp8g_gemv_avx2_w8a16, /* M * batch <= 16: decode */
    &fp8g_gemm_avx2_w8a16, /* any M: packed panels, 6x16 FMA micro-kernel */
    &fp8g_gemm_ref_w8a16, /* always last, always there */
};

const fp8g_gemm_kernel *const *fp8g_gemm_kernel_table(fp8gemm_op op, size_t *count) {
  switch (op) {
    case FP8GEMM_OP_FP8_GEMM:
      *count = sizeof w8a8_kernels / sizeof w8a8_kernels[0];
      return w8a8_kernels;
    case FP8GEMM_OP_FP8_GEMM_W8A16:
      *count = sizeof w8a16_kernels / sizeof w8a16_kernels[0];
      return w8a16_kernels;
    default:
      *count = 0;
      return NULL;
  }
}

const fp8g_gemm_kernel *fp8g_gemm_select(fp8gemm_op op, const fp8g_gemm_problem *p) {
  size_t count;
  const fp8g_gemm_kernel *const *table = fp8g_gemm_kernel_table(op, &count);
  fp8gemm_isa isa = fp8g_isa();
  for (size_t i = 0; i < count; i++)
    if (table[i]->isa <= isa && table[i]->supports(p)) return table[i];
  return NULL;
}

/* ------------------------------------------------------------ capability query */
/*
 * "Which kernel would serve a typical problem of this scheme and dtype?" A typical
 * problem is N = K = 4096 with dense scales of the scheme; M = 128 for fp8_gemm
 * (prefill) and M = 1 for fp8_gemm_w8a16 (decode). Only `supports` is consulted,
 * so the problem carries no data.
 */
enum { TYPICAL_N = 4096, TYPICAL_K = 4096, TYPICAL_M_W8A8 = 128, TYPICAL_M_W8A16 = 1 };

static void typical_problem(fp8g_gemm_problem *p, int64_t m, fp8gemm_dtype a_dtype,
                            fp8gemm_dtype b_dtype, fp8gemm_dtype out_dtype) {
  static const float one = 1.0f;
  *p = (fp8g_gemm_problem){0};
  p->batch = 1;
  p->m = m;
  p->n = TYPICAL_N;
  p->k = TYPICAL_K;
  p->a_dtype = a_dtype;
  p->a_stride_k = 1;
  p->b_dtype = b_dtype;
  p->b_stride_k = TYPICAL_N;
  p->b_stride_n = 1;
  p->block_k = TYPICAL_K;
  p->block_n = 1;
  p->a_kblocks = 1;
  p->b_nblocks = TYPICAL_N;
  p->sa = &one;
  p->sb = &one;
  p->out_dtype = out_dtype;
  p->nthreads = fp8gemm_get_num_threads();
}

static void set_blocks(fp8g_gemm_problem *p, fp8g_scale_kind kind, int64_t block_k,
                       int64_t block_n) {
  p->scale_kind = kind;
  p->block_k = block_k;
  p->block_n = block_n;
  p->a_kblocks = (p->k + block_k - 1) / block_k;
  p->b_nblocks = (p->n + block_n - 1) / block_n;
}

/* Scheme names for messages (the registry owns the public name table). */
static const char *scheme_str(fp8gemm_scheme scheme) {
  static const char *const names[FP8GEMM_SCHEME_COUNT] = {
      NULL, "per_tensor", "per_token", "block", "block2d", "mx", "group", "elementwise"};
  return (int)scheme > 0 && (int)scheme < FP8GEMM_SCHEME_COUNT ? names[scheme] : "invalid";
}

static fp8gemm_status answer(fp8gemm_op op, const char *op_name, const fp8g_gemm_problem *p,
                             fp8gemm_scheme scheme, fp8gemm_kernel_info *info) {
  const fp8g_gemm_kernel *k = fp8g_gemm_select(op, p);
  if (!k) /* cannot happen while the reference is in the table */
    return fp8g_error(FP8GEMM_UNIMPLEMENTED, "%s: no kernel serves scheme %s", op_name,
                      scheme_str(scheme));
  info->name = k->name;
  info->isa = k->isa;
  return FP8GEMM_OK;
}

fp8gemm_status fp8g_query_fp8_gemm(fp8gemm_scheme scheme, fp8gemm_dtype dtype,
                                   fp8gemm_kernel_info *info) {
  if (!info) return fp8g_error(FP8GEMM_INVALID_ARGUMENT, "query: info is NULL");
  if (!fp8gemm_dtype_is_fp8(dtype))
    return fp8g_error(FP8GEMM_UNIMPLEMENTED,
                      "fp8_gemm: dtype: expected e4m3fn, e5m2, e4m3fnuz or e5m2fnuz, got %s",
                      fp8g_dtype_str(dtype));
  fp8g_gemm_problem p;
  typical_problem(&p, TYPICAL_M_W8A8, dtype, dtype, FP8GEMM_BF16);
  static const uint8_t unit_e8m0 = 127;
  switch (scheme) {
    case FP8GEMM_SCHEME_PER_TENSOR: set_blocks(&p, FP8G_SCALE_TENSOR, p.k, 1); break;
    case FP8GEMM_SCHEME_PER_TOKEN: set_blocks(&p, FP8G_SCALE_ROWCOL, p.k, 1); break;
    case FP8GEMM_SCHEME_BLOCK: set_blocks(&p, FP8G_SCALE_BLOCK, 128, 128); break;
    case FP8GEMM_SCHEME_MX:
      set_blocks(&p, FP8G_SCALE_MX, 32, 1);
      p.ea = p.eb = &unit_e8m0;
      break;
    default:
      return fp8g_error(FP8GEMM_UNIMPLEMENTED,
                        "fp8_gemm: scheme: expected per_tensor, per_token, block or mx, got %s",
                        scheme_str(scheme));
  }
  return answer(FP8GEMM_OP_FP8_GEMM, "fp8_gemm", &p, scheme, info);
}

fp8gemm_status fp8g_query_fp8_gemm_w8a16(fp8gemm_scheme scheme, fp8gemm_dtype dtype,
                                         fp8gemm_kernel_info *info) {
  if (!info) return fp8g_error(FP8GEMM_INVALID_ARGUMENT, "query: info is NULL");
  if (!fp8gemm_dtype_is_fp8(dtype))
    return fp8g_error(FP8GEMM_UNIMPLEMENTED,
                      "fp8_gemm_w8a16: dtype (of q_weight): expected e4m3fn, e5m2, e4m3fnuz or "
                      "e5m2fnuz, got %s",
                      fp8g_dtype_str(dtype));
  fp8g_gemm_problem p;
  typical_problem(&p, TYPICAL_M_W8A16, FP8GEMM_BF16, dtype, FP8GEMM_BF16);
  p.sa = NULL;
  switch (scheme) {
    case FP8GEMM_SCHEME_PER_TENSOR: set_blocks(&p, FP8G_SCALE_TENSOR, p.k, 1); break;
    case FP8GEMM_SCHEME_PER_TOKEN: set_blocks(&p, FP8G_SCALE_ROWCOL, p.k, 1); break;
    case FP8GEMM_SCHEME_GROUP: set_blocks(&p, FP8G_SCALE_BLOCK, 128, 1); break;
    case FP8GEMM_SCHEME_MX: set_blocks(&p, FP8G_SCALE_BLOCK, 32, 1); break; /* e8m0 groups of 32 */
    case FP8GEMM_SCHEME_BLOCK: set_blocks(&p, FP8G_SCALE_BLOCK, 128, 128); break;
    default:
      return fp8g_error(FP8GEMM_UNIMPLEMENTED,
                        "fp8_gemm_w8a16: scheme: expected per_tensor, per_token, group, block or "
                        "mx, got %s",
                        scheme_str(scheme));
  }
  return answer(FP8GEMM_OP_FP8_GEMM_W8A16, "fp8_gemm_w8a16", &p, scheme, info);
}
