/* fp8_gemm_w8a16 (weight-only FP8): the public infer and real entries over the shared
 * GEMM plan. The output dtype is the input's. */
#include "gemm_infer.h"

static fp8g_gemm_args w8a16_args(const fp8gemm_tensor *input, const fp8gemm_tensor *q_weight,
                                 const fp8gemm_tensor *weight_scale, const fp8gemm_tensor *bias,
                                 bool need_data) {
  fp8g_gemm_args a = {FP8GEMM_OP_FP8_GEMM_W8A16, input, q_weight, FP8GEMM_DTYPE_NONE, NULL,
                      weight_scale,              bias,  need_data};
  return a;
}

fp8gemm_status fp8gemm_fp8_gemm_w8a16_infer(const fp8gemm_tensor *input,
                                            const fp8gemm_tensor *q_weight,
                                            const fp8gemm_tensor *weight_scale,
                                            const fp8gemm_tensor *bias, fp8gemm_tensor *out_desc,
                                            size_t *workspace_size) {
  fp8g_gemm_args a = w8a16_args(input, q_weight, weight_scale, bias, false);
  return fp8g_gemm_infer_public(&a, out_desc, workspace_size);
}

fp8gemm_status fp8gemm_fp8_gemm_w8a16(const fp8gemm_tensor *input, const fp8gemm_tensor *q_weight,
                                      const fp8gemm_tensor *weight_scale,
                                      const fp8gemm_tensor *bias, fp8gemm_tensor *out) {
  fp8g_gemm_args a = w8a16_args(input, q_weight, weight_scale, bias, true);
  return fp8g_gemm_execute(&a, out);
}
