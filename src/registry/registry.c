/*
 * The op registry: one row per op with its name, its torch.library schema, the
 * arguments of that schema (in C argument order), the schemes and dtypes the
 * capability query takes, and the hook of the op family that answers the query.
 * The schema string and the argument list sit side by side in the row;
 * tests/c/test_registry.c renders the arguments and checks they spell the schema.
 */
#include <stdio.h>
#include <string.h>

#include "../internal.h"

#define N_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* ------------------------------------------------------------------ arguments */
static const fp8gemm_arg_info fp8_gemm_args[] = {
    {"q_input", FP8GEMM_ARG_TENSOR, NULL},
    {"q_weight", FP8GEMM_ARG_TENSOR, NULL},
    {"out_dtype", FP8GEMM_ARG_OPT_SCALAR_TYPE, NULL},
    {"input_scales", FP8GEMM_ARG_OPT_TENSOR, NULL},
    {"weight_scale", FP8GEMM_ARG_OPT_TENSOR, NULL},
    {"bias", FP8GEMM_ARG_OPT_TENSOR, "None"},
};
static const fp8gemm_arg_info fp8_gemm_w8a16_args[] = {
    {"input", FP8GEMM_ARG_TENSOR, NULL},
    {"q_weight", FP8GEMM_ARG_TENSOR, NULL},
    {"weight_scale", FP8GEMM_ARG_OPT_TENSOR, NULL},
    {"bias", FP8GEMM_ARG_OPT_TENSOR, "None"},
};
/* min_scale's literal is FP8GEMM_DEFAULT_MIN_SCALE printed with the fewest digits
 * that read back as the same double (the registry test checks it). */
#define MIN_SCALE_LITERAL "4.359654017857143e-06"
static const fp8gemm_arg_info fp8_quantize_args[] = {
    {"input", FP8GEMM_ARG_TENSOR, NULL},
    {"fp8_dtype", FP8GEMM_ARG_SCALAR_TYPE, NULL},
    {"granularity", FP8GEMM_ARG_STR, "\"token\""},
    {"group_size", FP8GEMM_ARG_INT, "128"},
    {"scale", FP8GEMM_ARG_OPT_TENSOR, "None"},
    {"scale_ub", FP8GEMM_ARG_OPT_TENSOR, "None"},
    {"min_scale", FP8GEMM_ARG_FLOAT, MIN_SCALE_LITERAL},
};
static const fp8gemm_arg_info mx_quantize_args[] = {
    {"input", FP8GEMM_ARG_TENSOR, NULL},
    {"elem_dtype", FP8GEMM_ARG_SCALAR_TYPE, NULL},
    {"block_size", FP8GEMM_ARG_INT, "32"},
    {"scale_mode", FP8GEMM_ARG_STR, "\"floor\""},
};
static const fp8gemm_arg_info fp8_dequantize_args[] = {
    {"q", FP8GEMM_ARG_TENSOR, NULL},
    {"scale", FP8GEMM_ARG_OPT_TENSOR, NULL},
    {"out_dtype", FP8GEMM_ARG_SCALAR_TYPE, NULL},
    {"group_size", FP8GEMM_ARG_INT, "0"},
};
static const fp8gemm_arg_info fp8_cast_args[] = {
    {"x", FP8GEMM_ARG_TENSOR, NULL},
    {"dtype", FP8GEMM_ARG_SCALAR_TYPE, NULL},
    {"saturate", FP8GEMM_ARG_BOOL, "False"},
};

/* -------------------------------------------------------- schemes and dtypes */
static const fp8gemm_scheme gemm_schemes[] = {FP8GEMM_SCHEME_PER_TENSOR, FP8GEMM_SCHEME_PER_TOKEN,
                                              FP8GEMM_SCHEME_BLOCK, FP8GEMM_SCHEME_MX};
static const fp8gemm_scheme w8a16_schemes[] = {FP8GEMM_SCHEME_PER_TENSOR, FP8GEMM_SCHEME_PER_TOKEN,
                                               FP8GEMM_SCHEME_GROUP, FP8GEMM_SCHEME_BLOCK,
                                               FP8GEMM_SCHEME_MX};
static const fp8gemm_scheme quantize_schemes[] = {FP8GEMM_SCHEME_PER_TENSOR,
                                                  FP8GEMM_SCHEME_PER_TOKEN, FP8GEMM_SCHEME_BLOCK,
                                                  FP8GEMM_SCHEME_BLOCK2D};
static const fp8gemm_scheme mx_schemes[] = {FP8GEMM_SCHEME_MX};
static const fp8gemm_scheme elementwise_schemes[] = {FP8GEMM_SCHEME_ELEMENTWISE};

static const fp8gemm_dtype fp8_dtypes[] = {FP8GEMM_E4M3FN, FP8GEMM_E5M2, FP8GEMM_E4M3FNUZ,
                                           FP8GEMM_E5M2FNUZ};
static const fp8gemm_dtype mx_elem_dtypes[] = {FP8GEMM_E4M3FN, FP8GEMM_E5M2, FP8GEMM_E2M1};
static const fp8gemm_dtype dequant_dtypes[] = {FP8GEMM_E4M3FN, FP8GEMM_E5M2, FP8GEMM_E4M3FNUZ,
                                               FP8GEMM_E5M2FNUZ, FP8GEMM_E2M1};
static const fp8gemm_dtype narrow_dtypes[] = {FP8GEMM_E4M3FN, FP8GEMM_E5M2, FP8GEMM_E4M3FNUZ,
                                              FP8GEMM_E5M2FNUZ, FP8GEMM_E2M1, FP8GEMM_E8M0};

/* ------------------------------------------------------------------- the table */
#define ROW(op_name, schema_str, args_, outputs, schemes_, dtypes_)                            \
  {                                                                                            \
    op_name, schema_str, N_OF(args_), args_, outputs, N_OF(schemes_), schemes_, N_OF(dtypes_), \
        dtypes_                                                                                \
  }

static const fp8gemm_op_info ops[FP8GEMM_OP_COUNT] = {
    [FP8GEMM_OP_FP8_GEMM] = ROW(
        "fp8_gemm",
        "fp8_gemm(Tensor q_input, Tensor q_weight, ScalarType? out_dtype, Tensor? input_scales, "
        "Tensor? weight_scale, Tensor? bias=None) -> Tensor",
        fp8_gemm_args, 1, gemm_schemes, fp8_dtypes),
    [FP8GEMM_OP_FP8_GEMM_W8A16] = ROW(
        "fp8_gemm_w8a16",
        "fp8_gemm_w8a16(Tensor input, Tensor q_weight, Tensor? weight_scale, Tensor? bias=None) "
        "-> Tensor",
        fp8_gemm_w8a16_args, 1, w8a16_schemes, fp8_dtypes),
    [FP8GEMM_OP_FP8_QUANTIZE] = ROW(
        "fp8_quantize",
        "fp8_quantize(Tensor input, ScalarType fp8_dtype, str granularity=\"token\", "
        "int group_size=128, Tensor? scale=None, Tensor? scale_ub=None, "
        "float min_scale=" MIN_SCALE_LITERAL ") -> (Tensor, Tensor)",
        fp8_quantize_args, 2, quantize_schemes, fp8_dtypes),
    [FP8GEMM_OP_MX_QUANTIZE] = ROW(
        "mx_quantize",
        "mx_quantize(Tensor input, ScalarType elem_dtype, int block_size=32, "
        "str scale_mode=\"floor\") -> (Tensor, Tensor)",
        mx_quantize_args, 2, mx_schemes, mx_elem_dtypes),
    [FP8GEMM_OP_FP8_DEQUANTIZE] = ROW(
        "fp8_dequantize",
        "fp8_dequantize(Tensor q, Tensor? scale, ScalarType out_dtype, int group_size=0) -> Tensor",
        fp8_dequantize_args, 1, elementwise_schemes, dequant_dtypes),
    [FP8GEMM_OP_FP8_CAST] = ROW("fp8_cast",
                                "fp8_cast(Tensor x, ScalarType dtype, bool saturate=False) -> Tensor",
                                fp8_cast_args, 1, elementwise_schemes, narrow_dtypes),
};

static const char *const scheme_names[FP8GEMM_SCHEME_COUNT] = {
    [FP8GEMM_SCHEME_PER_TENSOR] = "per_tensor", [FP8GEMM_SCHEME_PER_TOKEN] = "per_token",
    [FP8GEMM_SCHEME_BLOCK] = "block",           [FP8GEMM_SCHEME_BLOCK2D] = "block2d",
    [FP8GEMM_SCHEME_MX] = "mx",                 [FP8GEMM_SCHEME_GROUP] = "group",
    [FP8GEMM_SCHEME_ELEMENTWISE] = "elementwise",
};

/* ------------------------------------------------------------------ accessors */
static bool op_valid(fp8gemm_op op) { return (int)op >= 0 && (int)op < FP8GEMM_OP_COUNT; }

const fp8gemm_op_info *fp8gemm_op_describe(fp8gemm_op op) {
  return op_valid(op) ? &ops[op] : NULL;
}

const char *fp8gemm_op_name(fp8gemm_op op) { return op_valid(op) ? ops[op].name : NULL; }

const char *fp8gemm_op_schema(fp8gemm_op op) { return op_valid(op) ? ops[op].schema : NULL; }

fp8gemm_status fp8gemm_op_from_name(const char *name, fp8gemm_op *op) {
  if (!name) return fp8g_error(FP8GEMM_INVALID_ARGUMENT, "op name: expected a string, got NULL");
  if (!op) return fp8g_error(FP8GEMM_INVALID_ARGUMENT, "op: output pointer is NULL");
  for (int i = 0; i < FP8GEMM_OP_COUNT; i++) {
    if (strcmp(name, ops[i].name) == 0) {
      *op = (fp8gemm_op)i;
      return FP8GEMM_OK;
    }
  }
  return fp8g_error(FP8GEMM_INVALID_ARGUMENT,
                    "op name: expected one of fp8_gemm fp8_gemm_w8a16 fp8_quantize mx_quantize "
                    "fp8_dequantize fp8_cast, got '%s'",
                    name);
}

const char *fp8gemm_scheme_name(fp8gemm_scheme scheme) {
  return (int)scheme > 0 && (int)scheme < FP8GEMM_SCHEME_COUNT ? scheme_names[scheme] : NULL;
}

fp8gemm_status fp8gemm_scheme_from_name(const char *name, fp8gemm_scheme *scheme) {
  if (!name)
    return fp8g_error(FP8GEMM_INVALID_ARGUMENT, "scheme name: expected a string, got NULL");
  if (!scheme) return fp8g_error(FP8GEMM_INVALID_ARGUMENT, "scheme: output pointer is NULL");
  for (int s = 1; s < FP8GEMM_SCHEME_COUNT; s++) {
    if (strcmp(name, scheme_names[s]) == 0) {
      *scheme = (fp8gemm_scheme)s;
      return FP8GEMM_OK;
    }
  }
  return fp8g_error(FP8GEMM_INVALID_ARGUMENT,
                    "scheme name: expected one of per_tensor per_token block block2d mx group "
                    "elementwise, got '%s'",
                    name);
}

/* ------------------------------------------------------------ capability query */
/* "a, b or c" from the op's scheme list, for messages. */
static void list_schemes(const fp8gemm_op_info *o, char *buf, size_t size) {
  size_t len = 0;
  buf[0] = '\0';
  for (int i = 0; i < o->n_schemes && len < size; i++) {
    const char *sep = i == 0 ? "" : i == o->n_schemes - 1 ? " or " : ", ";
    int w = snprintf(buf + len, size - len, "%s%s", sep, scheme_names[o->schemes[i]]);
    if (w < 0) break;
    len += (size_t)w;
  }
}

static bool has_scheme(const fp8gemm_op_info *o, fp8gemm_scheme scheme) {
  for (int i = 0; i < o->n_schemes; i++)
    if (o->schemes[i] == scheme) return true;
  return false;
}

static bool has_dtype(const fp8gemm_op_info *o, fp8gemm_dtype dtype) {
  for (int i = 0; i < o->n_dtypes; i++)
    if (o->dtypes[i] == dtype) return true;
  return false;
}

fp8gemm_status fp8gemm_query(fp8gemm_op op, fp8gemm_scheme scheme, fp8gemm_dtype dtype,
                             fp8gemm_kernel_info *info) {
  if (!op_valid(op))
    return fp8g_error(FP8GEMM_INVALID_ARGUMENT, "query: op: expected 0..%d, got %d",
                      FP8GEMM_OP_COUNT - 1, (int)op);
  const fp8gemm_op_info *o = &ops[op];
  if (!info) return fp8g_error(FP8GEMM_INVALID_ARGUMENT, "%s: query: info is NULL", o->name);
  if (!has_scheme(o, scheme)) {
    char list[128];
    list_schemes(o, list, sizeof list);
    const char *given = fp8gemm_scheme_name(scheme);
    if (!given)
      return fp8g_error(FP8GEMM_UNIMPLEMENTED, "%s: scheme: expected %s, got invalid(%d)",
                        o->name, list, (int)scheme);
    return fp8g_error(FP8GEMM_UNIMPLEMENTED, "%s: scheme: expected %s, got %s", o->name, list,
                      given);
  }
  if (!has_dtype(o, dtype)) {
    char list[128];
    size_t len = 0;
    list[0] = '\0';
    for (int i = 0; i < o->n_dtypes && len < sizeof list; i++) {
      int w = snprintf(list + len, sizeof list - len, "%s%s", i ? " " : "",
                       fp8gemm_dtype_name(o->dtypes[i]));
      if (w < 0) break;
      len += (size_t)w;
    }
    return fp8g_error(FP8GEMM_UNIMPLEMENTED, "%s: dtype: expected one of %s, got %s", o->name,
                      list, fp8g_dtype_str(dtype));
  }
  switch (op) {
    case FP8GEMM_OP_FP8_GEMM: return fp8g_query_fp8_gemm(scheme, dtype, info);
    case FP8GEMM_OP_FP8_GEMM_W8A16: return fp8g_query_fp8_gemm_w8a16(scheme, dtype, info);
    default: return fp8g_query_quant(op, scheme, dtype, info);
  }
}
