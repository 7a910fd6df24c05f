/*
 * fp8gemm_query_shape: the kernel the GEMM tables would pick for one problem shape.
 * Builds the canonical problem the op layer would hand over for dense scales of the
 * scheme (no data) and asks the op's kernel table, as a real call would.
 */
#include "../kernels/gemm_kernels.h"

fp8gemm_status fp8gemm_query_shape(fp8gemm_op op, fp8gemm_scheme scheme, fp8gemm_dtype dtype,
                                   int64_t m, int64_t n, int64_t k, int weight_nt,
                                   fp8gemm_kernel_info *info) {
  static const float one = 1.0f;
  static const uint8_t unit_e8m0 = 127;
  if (!info) return fp8g_error(FP8GEMM_INVALID_ARGUMENT, "query_shape: info is NULL");
  if (op != FP8GEMM_OP_FP8_GEMM && op != FP8GEMM_OP_FP8_GEMM_W8A16)
    return fp8g_error(FP8GEMM_INVALID_ARGUMENT,
                      "query_shape: op: expected fp8_gemm or fp8_gemm_w8a16, got %d", (int)op);
  if (!fp8gemm_dtype_is_fp8(dtype))
    return fp8g_error(FP8GEMM_INVALID_ARGUMENT,
                      "query_shape: dtype: expected e4m3fn, e5m2, e4m3fnuz or e5m2fnuz, got %s",
                      fp8g_dtype_str(dtype));
  if (m < 1 || n < 1 || k < 1)
    return fp8g_error(FP8GEMM_INVALID_ARGUMENT,
                      "query_shape: m, n, k: expected >= 1, got %lld, %lld, %lld", (long long)m,
                      (long long)n, (long long)k);
  bool w8a16 = op == FP8GEMM_OP_FP8_GEMM_W8A16;
  fp8g_gemm_problem p = {0};
  p.batch = 1;
  p.m = m;
  p.n = n;
  p.k = k;
  p.a_dtype = w8a16 ? FP8GEMM_BF16 : dtype;
  p.a_stride_k = 1;
  p.b_dtype = dtype;
  p.b_stride_k = weight_nt ? 1 : n;
  p.b_stride_n = weight_nt ? k : 1;
  p.sa = w8a16 ? NULL : &one;
  p.sb = &one;
  p.out_dtype = FP8GEMM_BF16;
  p.nthreads = fp8gemm_get_num_threads();
  int64_t block_k = k, block_n = 1;
  switch (scheme) {
    case FP8GEMM_SCHEME_PER_TENSOR: p.scale_kind = FP8G_SCALE_TENSOR; break;
    case FP8GEMM_SCHEME_PER_TOKEN: p.scale_kind = FP8G_SCALE_ROWCOL; break;
    case FP8GEMM_SCHEME_BLOCK:
      p.scale_kind = FP8G_SCALE_BLOCK;
      block_k = block_n = 128;
      break;
    case FP8GEMM_SCHEME_GROUP:
      if (!w8a16) goto unsupported;
      p.scale_kind = FP8G_SCALE_BLOCK;
      block_k = 128;
      break;
    case FP8GEMM_SCHEME_MX:
      block_k = 32;
      if (w8a16) {
        p.scale_kind = FP8G_SCALE_BLOCK; /* e8m0 groups arrive as fp32 */
      } else {
        p.scale_kind = FP8G_SCALE_MX;
        p.ea = p.eb = &unit_e8m0;
      }
      break;
    default: goto unsupported;
  }
  p.block_k = block_k;
  p.block_n = block_n;
  p.a_kblocks = (k + block_k - 1) / block_k;
  p.b_nblocks = (n + block_n - 1) / block_n;
  const fp8g_gemm_kernel *kern = fp8g_gemm_select(op, &p);
  if (!kern)
    return fp8g_error(FP8GEMM_UNIMPLEMENTED, "query_shape: no kernel serves this problem");
  info->name = kern->name;
  info->isa = kern->isa;
  return FP8GEMM_OK;
unsupported:
  return fp8g_error(FP8GEMM_UNIMPLEMENTED, "query_shape: scheme %d is not a GEMM scheme of %s",
                    (int)scheme, w8a16 ? "fp8_gemm_w8a16" : "fp8_gemm");
}
