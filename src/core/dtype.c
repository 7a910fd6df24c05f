/* The dtype traits table: one row per format, the only place its facts live. */
#include <stdio.h>
#include <string.h>

#include "../internal.h"

static const fp8g_dtype_traits traits[FP8GEMM_DTYPE_COUNT] = {
    [FP8GEMM_E4M3FN] = {"e4m3fn", 8, true, false, 448.0f},
    [FP8GEMM_E5M2] = {"e5m2", 8, true, false, 57344.0f},
    [FP8GEMM_E4M3FNUZ] = {"e4m3fnuz", 8, true, false, 240.0f},
    [FP8GEMM_E5M2FNUZ] = {"e5m2fnuz", 8, true, false, 57344.0f},
    [FP8GEMM_E2M1] = {"e2m1", 4, false, false, 6.0f},
    [FP8GEMM_E8M0] = {"e8m0", 8, false, false, 0x1p127f},
    [FP8GEMM_BF16] = {"bf16", 16, false, true, 0x1.fep127f},
    [FP8GEMM_F16] = {"f16", 16, false, true, 65504.0f},
    [FP8GEMM_F32] = {"f32", 32, false, true, 0x1.fffffep127f},
};

const fp8g_dtype_traits *fp8g_traits(fp8gemm_dtype dtype) {
  if ((int)dtype <= 0 || (int)dtype >= FP8GEMM_DTYPE_COUNT) return NULL;
  return &traits[dtype];
}

const char *fp8g_dtype_str(fp8gemm_dtype dtype) {
  static _Thread_local char buf[32];
  if (dtype == FP8GEMM_DTYPE_NONE) return "none";
  const fp8g_dtype_traits *t = fp8g_traits(dtype);
  if (t) return t->name;
  snprintf(buf, sizeof buf, "invalid(%d)", (int)dtype);
  return buf;
}

const char *fp8gemm_dtype_name(fp8gemm_dtype dtype) {
  const fp8g_dtype_traits *t = fp8g_traits(dtype);
  return t ? t->name : NULL;
}

fp8gemm_status fp8gemm_dtype_from_name(const char *name, fp8gemm_dtype *dtype) {
  static const struct { const char *alias; fp8gemm_dtype dtype; } aliases[] = {
      {"fp16", FP8GEMM_F16},      {"float16", FP8GEMM_F16}, {"half", FP8GEMM_F16},
      {"fp32", FP8GEMM_F32},      {"float32", FP8GEMM_F32}, {"float", FP8GEMM_F32},
      {"bfloat16", FP8GEMM_BF16}, {"e8m0fnu", FP8GEMM_E8M0}, {"e2m1fn", FP8GEMM_E2M1},
  };
  if (!name) return fp8g_error(FP8GEMM_INVALID_ARGUMENT, "dtype name: expected a string, got NULL");
  if (!dtype) return fp8g_error(FP8GEMM_INVALID_ARGUMENT, "dtype: output pointer is NULL");
  for (int d = 1; d < FP8GEMM_DTYPE_COUNT; d++) {
    if (strcmp(name, traits[d].name) == 0) {
      *dtype = (fp8gemm_dtype)d;
      return FP8GEMM_OK;
    }
  }
  for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++) {
    if (strcmp(name, aliases[i].alias) == 0) {
      *dtype = aliases[i].dtype;
      return FP8GEMM_OK;
    }
  }
  return fp8g_error(FP8GEMM_INVALID_ARGUMENT,
                    "dtype name: expected one of e4m3fn e5m2 e4m3fnuz e5m2fnuz e2m1 e8m0 bf16 "
                    "f16 f32, got '%s'",
                    name);
}

int fp8gemm_dtype_bits(fp8gemm_dtype dtype) {
  const fp8g_dtype_traits *t = fp8g_traits(dtype);
  return t ? t->bits : 0;
}

int fp8gemm_dtype_is_fp8(fp8gemm_dtype dtype) {
  const fp8g_dtype_traits *t = fp8g_traits(dtype);
  return t ? t->is_fp8 : 0;
}
