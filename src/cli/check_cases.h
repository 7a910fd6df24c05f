/* The checks `fp8gemm check` runs, one per op family; each adds to one table row. */
#ifndef FP8GEMM_CLI_CHECK_CASES_H
#define FP8GEMM_CLI_CHECK_CASES_H

#include "check_util.h"

/* fp8_gemm / fp8_gemm_w8a16 against an fp64 reference (check_gemm.c). */
void check_gemm(fp8gemm_op op, fp8gemm_scheme scheme, fp8gemm_dtype dtype, check_result *res);
/* fp8_quantize, mx_quantize, fp8_dequantize, fp8_cast (check_quant.c). */
void check_quant(fp8gemm_op op, fp8gemm_scheme scheme, fp8gemm_dtype dtype, check_result *res);

#endif
