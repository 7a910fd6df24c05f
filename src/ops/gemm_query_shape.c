/*
 * fp8gemm_query_shape: the kernel the GEMM tables would pick for one problem shape.
 * Builds the canonical problem the op layer would hand over for dense scales of the
 * scheme (fp8g_gemm_scheme_problem, no data) and asks the op's kernel table, as a real
 * call would.
 */
#include "../kernels/gemm_kernels.h"

fp8gemm_status fp8gemm_query_shape(fp8gemm_op op, fp8gemm_scheme scheme, fp8gemm_dtype dtype,
                                   int64_t m, int64_t n, int64_t k, int weight_nt,
                                   fp8gemm_kernel_info *info) {
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
  int64_t mk, kn, mn;
  if (__builtin_mul_overflow(m, k, &mk) || __builtin_mul_overflow(k, n, &kn) ||
      __builtin_mul_overflow(m, n, &mn))
    return fp8g_error(FP8GEMM_INVALID_ARGUMENT,
                      "query_shape: m, n, k: expected operands whose element counts fit in "
                      "int64, got %lld x %lld x %lld",
                      (long long)m, (long long)n, (long long)k);
  fp8g_gemm_problem p;
  if (!fp8g_gemm_scheme_problem(op, scheme, dtype, m, n, k, weight_nt != 0, &p))
    return fp8g_error(FP8GEMM_UNIMPLEMENTED, "query_shape: scheme %d is not a GEMM scheme of %s",
                      (int)scheme, fp8gemm_op_name(op));
  const fp8g_gemm_kernel *kern = fp8g_gemm_select(op, &p);
  if (!kern)
    return fp8g_error(FP8GEMM_UNIMPLEMENTED, "query_shape: no kernel serves this problem");
  info->name = kern->name;
  info->isa = kern->isa;
  return FP8GEMM_OK;
}
