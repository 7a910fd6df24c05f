/*
 * GEMM kernel tables and run-time selection, and the capability query for
 * fp8_gemm / fp8_gemm_w8a16. To add a kernel: declare it below and put it in its
 * op's table above the reference (best first). Selection takes the first kernel
 * whose ISA the CPU (under the FP8GEMM_MAX_ISA cap) has and that supports the problem.
 */
#include <stddef.h>

#include "../kernels/avx2/gemm_avx2.h"
#include "../kernels/avx2/gemv_avx2.h"
#include "../kernels/avx512_bf16/gemv_avx512bf16.h"
#include "../kernels/gemm_bf16.h"
#include "../kernels/gemm_kernels.h"

/* Fast kernels, one line each (defined under src/kernels/<isa>/). */

static const fp8g_gemm_kernel *const w8a8_kernels[] = {
    &fp8g_gemv_avx512bf16_w8a8, /* M * batch <= 16, NT weights: bf16 decode + VDPBF16PS */
    &fp8g_gemv_avx2_w8a8, /* M * batch <= 16: decode */
    &fp8g_gemm_avx512bf16_w8a8, /* any M: bf16 pair panels, 6x64 VDPBF16PS micro-kernel */
    &fp8g_gemm_avx2_w8a8, /* any M: packed panels, 6x16 FMA micro-kernel */
    &fp8g_gemm_ref_w8a8, /* always last, always there */
};

static const fp8g_gemm_kernel *const w8a16_kernels[] = {
    &fp8g_gemv_avx512bf16_w8a16, /* M * batch <= 16, NT weights, bf16 activations */
    &fp8g_gemv_avx2_w8a16, /* M * batch <= 16: decode */
    &fp8g_gemm_avx512bf16_w8a16, /* any M, bf16 activations in range (else hands to the next) */
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

/* ------------------------------------------------------------ problems without data */
bool fp8g_gemm_scheme_problem(fp8gemm_op op, fp8gemm_scheme scheme, fp8gemm_dtype dtype,
                              int64_t m, int64_t n, int64_t k, bool weight_nt,
                              fp8g_gemm_problem *p) {
  static const float one = 1.0f;
  static const uint8_t unit_e8m0 = 127;
  bool w8a16 = op == FP8GEMM_OP_FP8_GEMM_W8A16;
  *p = (fp8g_gemm_problem){0};
  p->batch = 1;
  p->m = m;
  p->n = n;
  p->k = k;
  p->a_dtype = w8a16 ? FP8GEMM_BF16 : dtype;
  p->a_stride_k = 1;
  p->b_dtype = dtype;
  p->b_stride_k = weight_nt ? 1 : n;
  p->b_stride_n = weight_nt ? k : 1;
  p->sa = w8a16 ? NULL : &one;
  p->sb = &one;
  p->out_dtype = FP8GEMM_BF16;
  p->nthreads = fp8gemm_get_num_threads();
  int64_t block_k = k, block_n = 1;
  switch (scheme) {
    case FP8GEMM_SCHEME_PER_TENSOR: p->scale_kind = FP8G_SCALE_TENSOR; break;
    case FP8GEMM_SCHEME_PER_TOKEN: p->scale_kind = FP8G_SCALE_ROWCOL; break;
    case FP8GEMM_SCHEME_BLOCK: /* fp8_gemm 1x128 x 128x128; w8a16 128x128 weight blocks */
      p->scale_kind = FP8G_SCALE_BLOCK;
      block_k = block_n = 128;
      break;
    case FP8GEMM_SCHEME_GROUP:
      if (!w8a16) return false;
      p->scale_kind = FP8G_SCALE_BLOCK;
      block_k = 128;
      break;
    case FP8GEMM_SCHEME_MX:
      block_k = 32;
      if (w8a16) {
        p->scale_kind = FP8G_SCALE_BLOCK; /* e8m0 weight groups arrive as fp32 */
      } else {
        p->scale_kind = FP8G_SCALE_MX;
        p->ea = p->eb = &unit_e8m0;
      }
      break;
    default: return false;
  }
  p->block_k = block_k;
  p->block_n = block_n;
  p->a_kblocks = (k - 1) / block_k + 1; /* k, n >= 1: no overflow near INT64_MAX */
  p->b_nblocks = (n - 1) / block_n + 1;
  return true;
}

/* ------------------------------------------------------------ capability query */
/*
 * "Which kernel would serve a typical problem of this scheme and dtype?" A typical
 * problem is N = K = 4096 with dense scales of the scheme and the weight as a model
 * holds it: the NT view of a checkpoint's [N, K] tensor (vLLM and torch pass
 * `weight.t()`), which is also the layout of a packed weight; M = 128 for fp8_gemm
 * (prefill) and M = 1 for fp8_gemm_w8a16 (decode). Only `supports` is consulted, so
 * the problem carries no data.
 */
enum { TYPICAL_N = 4096, TYPICAL_K = 4096, TYPICAL_M_W8A8 = 128, TYPICAL_M_W8A16 = 1 };
static const bool TYPICAL_WEIGHT_NT = true;

/* Scheme names for messages, from the registry's table. */
static const char *scheme_str(fp8gemm_scheme scheme) {
  const char *name = fp8gemm_scheme_name(scheme);
  return name ? name : "invalid";
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
  if (!fp8g_gemm_scheme_problem(FP8GEMM_OP_FP8_GEMM, scheme, dtype, TYPICAL_M_W8A8, TYPICAL_N,
                                TYPICAL_K, TYPICAL_WEIGHT_NT, &p))
    return fp8g_error(FP8GEMM_UNIMPLEMENTED,
                      "fp8_gemm: scheme: expected per_tensor, per_token, block or mx, got %s",
                      scheme_str(scheme));
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
  if (!fp8g_gemm_scheme_problem(FP8GEMM_OP_FP8_GEMM_W8A16, scheme, dtype, TYPICAL_M_W8A16,
                                TYPICAL_N, TYPICAL_K, TYPICAL_WEIGHT_NT, &p))
    return fp8g_error(FP8GEMM_UNIMPLEMENTED,
                      "fp8_gemm_w8a16: scheme: expected per_tensor, per_token, group, block or "
                      "mx, got %s",
                      scheme_str(scheme));
  return answer(FP8GEMM_OP_FP8_GEMM_W8A16, "fp8_gemm_w8a16", &p, scheme, info);
}
