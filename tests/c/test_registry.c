/*
 * Registry and capability query: the schema strings say what the argument table says,
 * names round-trip, and fp8gemm_query answers every listed op x scheme x dtype on every
 * ISA cap with a kernel the cap allows, and rejects the rest with UNIMPLEMENTED.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "fp8gemm.h"

static const char *type_str(fp8gemm_arg_type t) {
  switch (t) {
    case FP8GEMM_ARG_TENSOR: return "Tensor";
    case FP8GEMM_ARG_OPT_TENSOR: return "Tensor?";
    case FP8GEMM_ARG_SCALAR_TYPE: return "ScalarType";
    case FP8GEMM_ARG_OPT_SCALAR_TYPE: return "ScalarType?";
    case FP8GEMM_ARG_INT: return "int";
    case FP8GEMM_ARG_FLOAT: return "float";
    case FP8GEMM_ARG_BOOL: return "bool";
    case FP8GEMM_ARG_STR: return "str";
  }
  return "?";
}

/* The schema the argument table spells, torch.library style. */
static void render_schema(const fp8gemm_op_info *o, char *buf, size_t size) {
  size_t len = (size_t)snprintf(buf, size, "%s(", o->name);
  for (int i = 0; i < o->n_args && len < size; i++) {
    const fp8gemm_arg_info *a = &o->args[i];
    len += (size_t)snprintf(buf + len, size - len, "%s%s %s%s%s", i ? ", " : "", type_str(a->type),
                            a->name, a->default_value ? "=" : "",
                            a->default_value ? a->default_value : "");
  }
  if (len < size)
    snprintf(buf + len, size - len, ") -> %s", o->n_outputs == 1 ? "Tensor" : "(Tensor, Tensor)");
}

static void test_schemas(void) {
  /* What the Python package registers: pinned here from the op contract. */
  static const char *const expected[FP8GEMM_OP_COUNT] = {
      "fp8_gemm(Tensor q_input, Tensor q_weight, ScalarType? out_dtype, Tensor? input_scales, "
      "Tensor? weight_scale, Tensor? bias=None) -> Tensor",
      "fp8_gemm_w8a16(Tensor input, Tensor q_weight, Tensor? weight_scale, Tensor? bias=None) -> "
      "Tensor",
      "fp8_quantize(Tensor input, ScalarType fp8_dtype, str granularity=\"token\", int "
      "group_size=128, Tensor? scale=None, Tensor? scale_ub=None, float "
      "min_scale=4.359654017857143e-06) -> (Tensor, Tensor)",
      "mx_quantize(Tensor input, ScalarType elem_dtype, int block_size=32, str "
      "scale_mode=\"floor\") -> (Tensor, Tensor)",
      "fp8_dequantize(Tensor q, Tensor? scale, ScalarType out_dtype, int group_size=0) -> Tensor",
      "fp8_cast(Tensor x, ScalarType dtype, bool saturate=False) -> Tensor",
  };
  for (int op = 0; op < FP8GEMM_OP_COUNT; op++) {
    const fp8gemm_op_info *o = fp8gemm_op_describe((fp8gemm_op)op);
    CHECK(o != NULL, "op %d", op);
    if (!o) continue;
    CHECK(strcmp(o->schema, expected[op]) == 0, "op %d schema %s", op, o->schema);
    CHECK(strcmp(fp8gemm_op_schema((fp8gemm_op)op), o->schema) == 0, "op %d", op);
    char rendered[512];
    render_schema(o, rendered, sizeof rendered);
    CHECK(strcmp(rendered, o->schema) == 0, "args of %s render as %s", o->name, rendered);
    /* torch.library: no defaulted argument may precede one without a default. */
    int seen_default = 0;
    for (int i = 0; i < o->n_args; i++) {
      if (o->args[i].default_value) seen_default = 1;
      CHECK(!seen_default || o->args[i].default_value, "%s arg %s", o->name, o->args[i].name);
    }
    fp8gemm_op back;
    CHECK(fp8gemm_op_from_name(o->name, &back) == FP8GEMM_OK && back == (fp8gemm_op)op, "%s",
          o->name);
    CHECK(o->n_schemes >= 1 && o->n_dtypes >= 1, "%s", o->name);
  }
  /* The min_scale literal reads back as the C default exactly. */
  const fp8gemm_op_info *q = fp8gemm_op_describe(FP8GEMM_OP_FP8_QUANTIZE);
  const char *lit = q->args[q->n_args - 1].default_value;
  CHECK(strcmp(q->args[q->n_args - 1].name, "min_scale") == 0, "last arg");
  CHECK(strtod(lit, NULL) == FP8GEMM_DEFAULT_MIN_SCALE, "min_scale literal %s", lit);
}

static void test_names(void) {
  fp8gemm_op op;
  CHECK(fp8gemm_op_from_name("fp8_gem", &op) == FP8GEMM_INVALID_ARGUMENT, "bad op name");
  CHECK(strstr(fp8gemm_last_error(), "fp8_gem") != NULL, "message %s", fp8gemm_last_error());
  CHECK(fp8gemm_op_from_name(NULL, &op) == FP8GEMM_INVALID_ARGUMENT, "NULL name");
  CHECK(fp8gemm_op_from_name("fp8_gemm", NULL) == FP8GEMM_INVALID_ARGUMENT, "NULL out");
  CHECK(fp8gemm_op_name((fp8gemm_op)FP8GEMM_OP_COUNT) == NULL, "op out of range");
  CHECK(fp8gemm_op_name((fp8gemm_op)-1) == NULL, "negative op");
  CHECK(fp8gemm_op_schema((fp8gemm_op)99) == NULL, "schema out of range");
  CHECK(fp8gemm_op_describe((fp8gemm_op)FP8GEMM_OP_COUNT) == NULL, "describe out of range");
  for (int s = 1; s < FP8GEMM_SCHEME_COUNT; s++) {
    const char *name = fp8gemm_scheme_name((fp8gemm_scheme)s);
    fp8gemm_scheme back;
    CHECK(name && fp8gemm_scheme_from_name(name, &back) == FP8GEMM_OK && (int)back == s, "scheme %d", s);
  }
  fp8gemm_scheme sch;
  CHECK(fp8gemm_scheme_name((fp8gemm_scheme)0) == NULL, "scheme 0");
  CHECK(fp8gemm_scheme_name((fp8gemm_scheme)FP8GEMM_SCHEME_COUNT) == NULL, "scheme count");
  CHECK(fp8gemm_scheme_from_name("tile", &sch) == FP8GEMM_INVALID_ARGUMENT, "bad scheme");
}

static int listed_scheme(const fp8gemm_op_info *o, int s) {
  for (int i = 0; i < o->n_schemes; i++)
    if ((int)o->schemes[i] == s) return 1;
  return 0;
}

static int listed_dtype(const fp8gemm_op_info *o, int d) {
  for (int i = 0; i < o->n_dtypes; i++)
    if ((int)o->dtypes[i] == d) return 1;
  return 0;
}

/* Every op x scheme x dtype under the current cap. */
static void query_all(fp8gemm_isa cap) {
  for (int op = 0; op < FP8GEMM_OP_COUNT; op++) {
    const fp8gemm_op_info *o = fp8gemm_op_describe((fp8gemm_op)op);
    for (int s = 0; s <= FP8GEMM_SCHEME_COUNT; s++) {
      for (int d = 0; d <= FP8GEMM_DTYPE_COUNT; d++) {
        fp8gemm_kernel_info info = {0};
        fp8gemm_status st = fp8gemm_query((fp8gemm_op)op, (fp8gemm_scheme)s, (fp8gemm_dtype)d, &info);
        if (listed_scheme(o, s) && listed_dtype(o, d)) {
          CHECK(st == FP8GEMM_OK, "%s %d %d: %s", o->name, s, d, fp8gemm_last_error());
          CHECK(st != FP8GEMM_OK || (info.name && info.name[0] && info.isa <= cap),
                "%s scheme %d dtype %d under cap %s: kernel %s isa %d", o->name, s, d,
                fp8gemm_isa_name(cap), info.name ? info.name : "(null)", (int)info.isa);
        } else {
          CHECK(st == FP8GEMM_UNIMPLEMENTED, "%s scheme %d dtype %d gave %d", o->name, s, d, st);
          CHECK(strstr(fp8gemm_last_error(), o->name) != NULL, "message %s", fp8gemm_last_error());
        }
      }
    }
  }
}

static void test_query(void) {
  fp8gemm_isa detected = fp8gemm_isa_detected();
  fp8gemm_isa saved = fp8gemm_get_max_isa();
  for (int isa = 0; isa < FP8GEMM_ISA_COUNT; isa++) {
    if (isa > (int)detected) {
      printf("isa %s: not on this CPU, query not exercised under this cap\n",
             fp8gemm_isa_name((fp8gemm_isa)isa));
      continue;
    }
    CHECK(fp8gemm_set_max_isa((fp8gemm_isa)isa) == FP8GEMM_OK, "cap %d", isa);
    query_all((fp8gemm_isa)isa);
  }
  fp8gemm_set_max_isa(saved);

  fp8gemm_kernel_info info;
  CHECK(fp8gemm_query((fp8gemm_op)FP8GEMM_OP_COUNT, FP8GEMM_SCHEME_MX, FP8GEMM_E4M3FN, &info) ==
            FP8GEMM_INVALID_ARGUMENT,
        "bad op");
  CHECK(fp8gemm_query(FP8GEMM_OP_FP8_GEMM, FP8GEMM_SCHEME_MX, FP8GEMM_E4M3FN, NULL) ==
            FP8GEMM_INVALID_ARGUMENT,
        "NULL info");
  /* The message names the scheme given and the ones expected. */
  CHECK(fp8gemm_query(FP8GEMM_OP_FP8_GEMM, FP8GEMM_SCHEME_BLOCK2D, FP8GEMM_E4M3FN, &info) ==
            FP8GEMM_UNIMPLEMENTED,
        "block2d gemm");
  CHECK(strstr(fp8gemm_last_error(), "block2d") && strstr(fp8gemm_last_error(), "per_token"),
        "message %s", fp8gemm_last_error());
  CHECK(fp8gemm_query(FP8GEMM_OP_MX_QUANTIZE, FP8GEMM_SCHEME_MX, FP8GEMM_E4M3FNUZ, &info) ==
            FP8GEMM_UNIMPLEMENTED,
        "mx e4m3fnuz");
  CHECK(strstr(fp8gemm_last_error(), "e4m3fnuz") != NULL, "message %s", fp8gemm_last_error());
}

/* fp8gemm_query_shape: every GEMM scheme at decode and prefill shapes, NN and NT, under
 * every cap the CPU has, names a kernel the cap allows; at the typical problem (the NT
 * view of [4096, 4096], M = 128 for fp8_gemm, 1 for w8a16) it is the kernel
 * fp8gemm_query and fp8gemm_query_packed name. Bad arguments are rejected with a
 * message. */
static void test_query_shape(void) {
  static const fp8gemm_op ops[] = {FP8GEMM_OP_FP8_GEMM, FP8GEMM_OP_FP8_GEMM_W8A16};
  static const int64_t typical_m[] = {128, 1};
  static const int64_t ms[] = {1, 16, 17, 128, 300};
  fp8gemm_isa detected = fp8gemm_isa_detected();
  fp8gemm_isa saved = fp8gemm_get_max_isa();
  for (int isa = 0; isa <= (int)detected; isa++) {
    CHECK(fp8gemm_set_max_isa((fp8gemm_isa)isa) == FP8GEMM_OK, "cap %d", isa);
    for (size_t o = 0; o < sizeof ops / sizeof ops[0]; o++) {
      const fp8gemm_op_info *info = fp8gemm_op_describe(ops[o]);
      for (int s = 0; s < info->n_schemes; s++)
        for (size_t m = 0; m < sizeof ms / sizeof ms[0]; m++)
          for (int nt = 0; nt <= 1; nt++) {
            fp8gemm_kernel_info k = {0}, q = {0};
            fp8gemm_status st = fp8gemm_query_shape(ops[o], info->schemes[s], FP8GEMM_E4M3FN,
                                                    ms[m], 4096, 4096, nt, &k);
            CHECK(st == FP8GEMM_OK && k.name && k.isa <= (fp8gemm_isa)isa,
                  "%s scheme %d m %lld nt %d cap %d: %s", info->name, (int)info->schemes[s],
                  (long long)ms[m], nt, isa, fp8gemm_last_error());
            if (nt && ms[m] == typical_m[o] && st == FP8GEMM_OK) {
              fp8gemm_kernel_info pk = {0};
              fp8gemm_query(ops[o], info->schemes[s], FP8GEMM_E4M3FN, &q);
              fp8gemm_query_packed(ops[o], info->schemes[s], FP8GEMM_E4M3FN, &pk);
              CHECK(q.name && pk.name && strcmp(k.name, q.name) == 0 &&
                        strcmp(k.name, pk.name) == 0,
                    "%s scheme %d cap %d: typical problem %s, query %s, query_packed %s",
                    info->name, (int)info->schemes[s], isa, k.name,
                    q.name ? q.name : "(null)", pk.name ? pk.name : "(null)");
            }
          }
    }
  }
  fp8gemm_set_max_isa(saved);

  fp8gemm_kernel_info k;
  const fp8gemm_scheme tok = FP8GEMM_SCHEME_PER_TOKEN;
  const fp8gemm_op gemm = FP8GEMM_OP_FP8_GEMM;
  CHECK(fp8gemm_query_shape(gemm, tok, FP8GEMM_E4M3FN, 1, 1, 1, 0, NULL) ==
            FP8GEMM_INVALID_ARGUMENT, "NULL info");
  CHECK(fp8gemm_query_shape(FP8GEMM_OP_FP8_QUANTIZE, tok, FP8GEMM_E4M3FN, 1, 1, 1, 0, &k) ==
            FP8GEMM_INVALID_ARGUMENT, "not a GEMM");
  CHECK(fp8gemm_query_shape(gemm, tok, FP8GEMM_BF16, 1, 1, 1, 0, &k) ==
            FP8GEMM_INVALID_ARGUMENT, "bf16 weight");
  CHECK(fp8gemm_query_shape(gemm, tok, FP8GEMM_E4M3FN, 0, 1, 1, 0, &k) ==
            FP8GEMM_INVALID_ARGUMENT, "m = 0");
  CHECK(fp8gemm_query_shape(gemm, FP8GEMM_SCHEME_GROUP, FP8GEMM_E4M3FN, 1, 1, 1, 0, &k) ==
            FP8GEMM_UNIMPLEMENTED, "group is a w8a16 scheme");
  /* Sizes whose operands cannot exist: rejected, not overflowed. */
  const int64_t big = (int64_t)1 << 32;
  CHECK(fp8gemm_query_shape(gemm, tok, FP8GEMM_E4M3FN, big, big, 1, 0, &k) ==
            FP8GEMM_INVALID_ARGUMENT, "m * n overflows");
  CHECK(fp8gemm_query_shape(gemm, FP8GEMM_SCHEME_BLOCK, FP8GEMM_E4M3FN, 1, 1, INT64_MAX, 0,
                            &k) == FP8GEMM_OK, "k = INT64_MAX alone: %s", fp8gemm_last_error());
  CHECK(fp8gemm_query_shape(gemm, tok, FP8GEMM_E4M3FN, INT64_MAX, INT64_MAX, INT64_MAX, 1, &k) ==
            FP8GEMM_INVALID_ARGUMENT, "INT64_MAX cube");
  CHECK(strstr(fp8gemm_last_error(), "query_shape") != NULL, "message %s", fp8gemm_last_error());
}

int main(void) {
  test_schemas();
  test_names();
  test_query();
  test_query_shape();
  return test_summary();
}
