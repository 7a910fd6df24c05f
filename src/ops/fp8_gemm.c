/* fp8_gemm (W8A8): the public infer and real entries over the shared GEMM plan. */
#include "gemm_infer.h"

static fp8g_gemm_args w8a8_args(const fp8gemm_tensor *q_input, const fp8gemm_tensor *q_weight,
                                fp8gemm_dtype out_dtype, const fp8gemm_tensor *input_scales,
                                const fp8gemm_tensor *weight_scale, const fp8gemm_tensor *bias,
                                bool need_data) {
  fp8g_gemm_args a = {FP8GEMM_OP_FP8_GEMM, q_input,      q_weight, out_dtype,
                      input_scales,        weight_scale, bias,     need_data};
  return a;
}

fp8gemm_status fp8gemm_fp8_gemm_infer(const fp8gemm_tensor *q_input,
                                      const fp8gemm_tensor *q_weight, fp8gemm_dtype out_dtype,
                                      const fp8gemm_tensor *input_scales,
                                      const fp8gemm_tensor *weight_scale,
                                      const fp8gemm_tensor *bias, fp8gemm_tensor *out_desc,
                                      size_t *workspace_size) {
  fp8g_gemm_args a =
      w8a8_args(q_input, q_weight, out_dtype, input_scales, weight_scale, bias, false);
  return fp8g_gemm_infer_public(&a, out_desc, workspace_size);
}

fp8gemm_status fp8gemm_fp8_gemm(const fp8gemm_tensor *q_input, const fp8gemm_tensor *q_weight,
                                fp8gemm_dtype out_dtype, const fp8gemm_tensor *input_scales,
                                const fp8gemm_tensor *weight_scale, const fp8gemm_tensor *bias,
                                fp8gemm_tensor *out) {
  fp8g_gemm_args a =
      w8a8_args(q_input, q_weight, out_dtype, input_scales, weight_scale, bias, true);
  return fp8g_gemm_execute(&a, out);
}
