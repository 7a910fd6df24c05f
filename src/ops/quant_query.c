/* Capability answers for the quantization ops: which kernel table serves them here. */
#include "../formats/formats.h"
#include "../kernels/quant_kernels.h"

static bool scheme_ok(fp8gemm_op op, fp8gemm_scheme scheme) {
  switch (op) {
    case FP8GEMM_OP_FP8_QUANTIZE:
      return scheme >= FP8GEMM_SCHEME_PER_TENSOR && scheme <= FP8GEMM_SCHEME_BLOCK2D;
    case FP8GEMM_OP_MX_QUANTIZE: return scheme == FP8GEMM_SCHEME_MX;
    case FP8GEMM_OP_FP8_DEQUANTIZE:
    case FP8GEMM_OP_FP8_CAST: return scheme == FP8GEMM_SCHEME_ELEMENTWISE;
    default: return false;
  }
}

static bool dtype_ok(fp8gemm_op op, fp8gemm_dtype dtype) {
  switch (op) {
    case FP8GEMM_OP_FP8_QUANTIZE: return fp8gemm_dtype_is_fp8(dtype);
    case FP8GEMM_OP_MX_QUANTIZE:
      return dtype == FP8GEMM_E4M3FN || dtype == FP8GEMM_E5M2 || dtype == FP8GEMM_E2M1;
    case FP8GEMM_OP_FP8_DEQUANTIZE: return fp8g_format_of(dtype) != NULL; /* fp8, e2m1 */
    case FP8GEMM_OP_FP8_CAST: return fp8g_is_narrow(dtype);
    default: return false;
  }
}

fp8gemm_status fp8g_query_quant(fp8gemm_op op, fp8gemm_scheme scheme, fp8gemm_dtype dtype,
                                fp8gemm_kernel_info *info) {
  const char *name = op == FP8GEMM_OP_FP8_QUANTIZE     ? "fp8_quantize"
                     : op == FP8GEMM_OP_MX_QUANTIZE     ? "mx_quantize"
                     : op == FP8GEMM_OP_FP8_DEQUANTIZE  ? "fp8_dequantize"
                     : op == FP8GEMM_OP_FP8_CAST        ? "fp8_cast"
                                                        : "query";
  if (!info) return fp8g_error(FP8GEMM_INVALID_ARGUMENT, "query: info is NULL");
  if (!scheme_ok(op, scheme))
    return fp8g_error(FP8GEMM_UNIMPLEMENTED, "%s: scheme %d is not served by this op", name,
                      (int)scheme);
  if (!dtype_ok(op, dtype))
    return fp8g_error(FP8GEMM_UNIMPLEMENTED, "%s: dtype %s is not served by this op", name,
                      fp8g_dtype_str(dtype));
  const fp8g_quant_kernels *k = fp8g_quant_kernels_for(fp8g_isa());
  info->name = k->name;
  info->isa = k->isa;
  return FP8GEMM_OK;
}
