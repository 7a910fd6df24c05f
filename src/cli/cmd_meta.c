/*
 * fp8gemm meta OP --ARG VALUE ...: shape inference only. Arguments are the op's schema
 * arguments from the registry (with '-' for '_'), each parsed by its schema type; the
 * op's infer function does all the checking.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fp8gemm.h"
#include "commands.h"
#include "tensor_spec.h"

/* One parsed argument value; which field counts depends on the schema type. */
typedef struct arg_value {
  int present;          /* 0: absent (None), the C call gets NULL / DTYPE_NONE */
  fp8gemm_tensor tensor;
  fp8gemm_dtype dtype;
  int64_t i;            /* int, bool, and str arguments mapped to their C enum */
  double f;
} arg_value;

typedef struct meta_args {
  const fp8gemm_op_info *op;
  arg_value v[16];
} meta_args;

/* The str arguments and the C enum value of each accepted word. */
static const struct {
  const char *arg, *word;
  int64_t value;
} str_words[] = {
    {"granularity", "tensor", FP8GEMM_PER_TENSOR},  {"granularity", "token", FP8GEMM_PER_TOKEN},
    {"granularity", "block", FP8GEMM_PER_BLOCK},    {"granularity", "block2d", FP8GEMM_PER_BLOCK2D},
    {"scale_mode", "floor", FP8GEMM_MX_FLOOR},      {"scale_mode", "rceil", FP8GEMM_MX_RCEIL},
};

static const char *type_word(fp8gemm_arg_type t) {
  switch (t) {
    case FP8GEMM_ARG_TENSOR:
    case FP8GEMM_ARG_OPT_TENSOR: return "SPEC";
    case FP8GEMM_ARG_SCALAR_TYPE:
    case FP8GEMM_ARG_OPT_SCALAR_TYPE: return "DTYPE";
    case FP8GEMM_ARG_INT: return "INT";
    case FP8GEMM_ARG_FLOAT: return "FLOAT";
    case FP8GEMM_ARG_BOOL: return "true|false";
    case FP8GEMM_ARG_STR: return "WORD";
  }
  return "VALUE";
}

/* What a flag takes, for messages and help: "SPEC", "DTYPE", "tensor|token|block|block2d". */
static const char *value_word(const fp8gemm_arg_info *a, char *buf, size_t size) {
  if (a->type != FP8GEMM_ARG_STR) return type_word(a->type);
  buf[0] = '\0';
  for (size_t i = 0; i < sizeof str_words / sizeof str_words[0]; i++) {
    if (strcmp(str_words[i].arg, a->name) != 0) continue;
    if (buf[0]) strncat(buf, "|", size - strlen(buf) - 1);
    strncat(buf, str_words[i].word, size - strlen(buf) - 1);
  }
  return buf[0] ? buf : type_word(a->type);
}

static int is_optional(const fp8gemm_arg_info *a) {
  return a->default_value || a->type == FP8GEMM_ARG_OPT_TENSOR ||
         a->type == FP8GEMM_ARG_OPT_SCALAR_TYPE;
}

/* "--q-input" for "q_input". */
static void flag_of(const char *name, char *buf, size_t size) {
  size_t i = 0;
  if (size < 3) return;
  buf[i++] = '-';
  buf[i++] = '-';
  for (; *name && i + 1 < size; name++) buf[i++] = *name == '_' ? '-' : *name;
  buf[i] = '\0';
}

static int is_none(const char *text) { return strcmp(text, "none") == 0 || strcmp(text, "None") == 0; }

/* Parses `text` as a value of argument `a` into *v; returns CLI_OK or a usage error. */
static int parse_value(const char *op, const fp8gemm_arg_info *a, const char *text, arg_value *v) {
  char flag[64], err[256];
  flag_of(a->name, flag, sizeof flag);
  char *end = NULL;
  v->present = 1;
  switch (a->type) {
    case FP8GEMM_ARG_OPT_TENSOR:
      if (is_none(text)) {
        v->present = 0;
        return CLI_OK;
      }
      /* fall through */
    case FP8GEMM_ARG_TENSOR:
      if (tensor_spec_parse(text, &v->tensor, err, sizeof err) != 0)
        return cli_usage_error("meta: %s %s: %s", op, flag, err);
      return CLI_OK;
    case FP8GEMM_ARG_OPT_SCALAR_TYPE:
      if (is_none(text)) {
        v->present = 0;
        v->dtype = FP8GEMM_DTYPE_NONE;
        return CLI_OK;
      }
      /* fall through */
    case FP8GEMM_ARG_SCALAR_TYPE:
      if (fp8gemm_dtype_from_name(text, &v->dtype) != FP8GEMM_OK)
        return cli_usage_error("meta: %s %s: %s", op, flag, fp8gemm_last_error());
      return CLI_OK;
    case FP8GEMM_ARG_INT:
      errno = 0;
      v->i = strtoll(text, &end, 10);
      if (errno || end == text || *end)
        return cli_usage_error("meta: %s %s: expected an integer, got '%s'", op, flag, text);
      return CLI_OK;
    case FP8GEMM_ARG_FLOAT:
      errno = 0;
      v->f = strtod(text, &end);
      if (errno || end == text || *end)
        return cli_usage_error("meta: %s %s: expected a number, got '%s'", op, flag, text);
      return CLI_OK;
    case FP8GEMM_ARG_BOOL:
      if (!strcmp(text, "true") || !strcmp(text, "True") || !strcmp(text, "1")) v->i = 1;
      else if (!strcmp(text, "false") || !strcmp(text, "False") || !strcmp(text, "0")) v->i = 0;
      else return cli_usage_error("meta: %s %s: expected true or false, got '%s'", op, flag, text);
      return CLI_OK;
    case FP8GEMM_ARG_STR: {
      char quoted[64];
      size_t n = strlen(text);
      /* Schema defaults come quoted ("token"); users type the bare word. */
      if (n >= 2 && n < sizeof quoted && (text[0] == '"' || text[0] == '\'') && text[n - 1] == text[0]) {
        memcpy(quoted, text + 1, n - 2);
        quoted[n - 2] = '\0';
        text = quoted;
      }
      char words[128] = "";
      for (size_t i = 0; i < sizeof str_words / sizeof str_words[0]; i++) {
        if (strcmp(str_words[i].arg, a->name) != 0) continue;
        if (strcmp(str_words[i].word, text) == 0) {
          v->i = str_words[i].value;
          return CLI_OK;
        }
        strncat(words, " ", sizeof words - strlen(words) - 1);
        strncat(words, str_words[i].word, sizeof words - strlen(words) - 1);
      }
      return cli_usage_error("meta: %s %s: expected one of%s, got '%s'", op, flag, words, text);
    }
  }
  return cli_usage_error("meta: %s %s: unknown argument type", op, flag);
}

/* Reads --ARG VALUE / --ARG=VALUE pairs, then fills defaults; CLI_OK or a usage error. */
static int parse_args(int argc, char **argv, int *with_strides, meta_args *m) {
  const fp8gemm_op_info *o = m->op;
  int given[16] = {0};
  for (int i = 2; i < argc; i++) {
    const char *arg = argv[i], *value = NULL;
    if (strcmp(arg, "--strides") == 0) {
      *with_strides = 1;
      continue;
    }
    if (strncmp(arg, "--", 2) != 0)
      return cli_usage_error("meta: %s: expected --ARGUMENT VALUE, got '%s'", o->name, arg);
    char name[64];
    size_t len = strcspn(arg + 2, "=");
    if (len == 0 || len >= sizeof name)
      return cli_usage_error("meta: %s: bad argument '%s'", o->name, arg);
    for (size_t k = 0; k < len; k++) name[k] = arg[2 + k] == '-' ? '_' : arg[2 + k];
    name[len] = '\0';
    int idx = -1;
    for (int a = 0; a < o->n_args; a++)
      if (strcmp(o->args[a].name, name) == 0) idx = a;
    if (idx < 0)
      return cli_usage_error("meta: %s has no argument '--%.*s' (see 'fp8gemm meta --help')",
                             o->name, (int)len, arg + 2);
    if (given[idx]) return cli_usage_error("meta: %s: '%s' given twice", o->name, arg);
    given[idx] = 1;
    if (arg[2 + len] == '=') {
      value = arg + 3 + len;
    } else {
      if (i + 1 >= argc)
        return cli_usage_error("meta: %s: '%s' needs a %s", o->name, arg,
                               type_word(o->args[idx].type));
      value = argv[++i];
    }
    int rc = parse_value(o->name, &o->args[idx], value, &m->v[idx]);
    if (rc != CLI_OK) return rc;
  }
  for (int a = 0; a < o->n_args; a++) {
    if (given[a]) continue;
    const fp8gemm_arg_info *info = &o->args[a];
    char flag[64];
    flag_of(info->name, flag, sizeof flag);
    if (!is_optional(info))
      return cli_usage_error("meta: %s: missing %s %s", o->name, flag, type_word(info->type));
    if (!info->default_value || is_none(info->default_value)) {
      m->v[a].present = 0;
      m->v[a].dtype = FP8GEMM_DTYPE_NONE;
      continue;
    }
    int rc = parse_value(o->name, info, info->default_value, &m->v[a]);
    if (rc != CLI_OK) return rc;
  }
  return CLI_OK;
}

/* Accessors by schema name, so the calls below read like the C prototypes. */
static const arg_value *get(const meta_args *m, const char *name) {
  for (int a = 0; a < m->op->n_args; a++)
    if (strcmp(m->op->args[a].name, name) == 0) return &m->v[a];
  return NULL; /* cannot happen: every name below is in the registry (checked by tests) */
}
static const fp8gemm_tensor *T(const meta_args *m, const char *name) {
  const arg_value *v = get(m, name);
  return v && v->present ? &v->tensor : NULL;
}
static fp8gemm_dtype D(const meta_args *m, const char *name) {
  const arg_value *v = get(m, name);
  return v && v->present ? v->dtype : FP8GEMM_DTYPE_NONE;
}
static int64_t I(const meta_args *m, const char *name) {
  const arg_value *v = get(m, name);
  return v ? v->i : 0;
}
static double F(const meta_args *m, const char *name) {
  const arg_value *v = get(m, name);
  return v ? v->f : 0.0;
}

/* Calls the op's infer function; fills out[0..*n_out). */
static fp8gemm_status infer(fp8gemm_op op, const meta_args *m, fp8gemm_tensor out[2]) {
  size_t ws = 0;
  switch (op) {
    case FP8GEMM_OP_FP8_GEMM:
      return fp8gemm_fp8_gemm_infer(T(m, "q_input"), T(m, "q_weight"), D(m, "out_dtype"),
                                    T(m, "input_scales"), T(m, "weight_scale"), T(m, "bias"),
                                    &out[0], &ws);
    case FP8GEMM_OP_FP8_GEMM_W8A16:
      return fp8gemm_fp8_gemm_w8a16_infer(T(m, "input"), T(m, "q_weight"), T(m, "weight_scale"),
                                          T(m, "bias"), &out[0], &ws);
    case FP8GEMM_OP_FP8_QUANTIZE:
      return fp8gemm_fp8_quantize_infer(T(m, "input"), D(m, "fp8_dtype"),
                                        (fp8gemm_granularity)I(m, "granularity"),
                                        I(m, "group_size"), T(m, "scale"), T(m, "scale_ub"),
                                        F(m, "min_scale"), &out[0], &out[1]);
    case FP8GEMM_OP_MX_QUANTIZE:
      return fp8gemm_mx_quantize_infer(T(m, "input"), D(m, "elem_dtype"), I(m, "block_size"),
                                       (fp8gemm_mx_scale_mode)I(m, "scale_mode"), &out[0], &out[1]);
    case FP8GEMM_OP_FP8_DEQUANTIZE:
      return fp8gemm_fp8_dequantize_infer(T(m, "q"), T(m, "scale"), D(m, "out_dtype"),
                                          I(m, "group_size"), &out[0]);
    case FP8GEMM_OP_FP8_CAST:
      return fp8gemm_fp8_cast_infer(T(m, "x"), D(m, "dtype"), (int)I(m, "saturate"), &out[0]);
  }
  return FP8GEMM_INVALID_ARGUMENT;
}

void cmd_meta_help(void) {
  printf("usage: fp8gemm meta OP [--strides] --ARG VALUE ...\n\n"
         "Runs OP's infer (shape) function only and prints each output as DTYPE:D0xD1x...\n"
         "(one line per output; --strides appends @S0xS1x... in elements). Invalid input:\n"
         "the library's message on stderr, exit status 2.\n\n"
         "Tensor spec: DTYPE:D0xD1x...[@S0xS1x...]  dims (and optional strides, in elements)\n"
         "  joined by 'x'; 'f32:' is a rank-0 scalar, 'f32:1' a one-element 1-D tensor.\n"
         "  DTYPE: e4m3fn e5m2 e4m3fnuz e5m2fnuz e8m0 e2m1 bf16 f16 f32.\n"
         "  Optional tensors and dtypes may be given as 'none' (the default).\n\n"
         "Ops and their arguments (the schema's names, '-' for '_'; [] = optional):\n");
  for (int op = 0; op < FP8GEMM_OP_COUNT; op++) {
    const fp8gemm_op_info *o = fp8gemm_op_describe((fp8gemm_op)op);
    printf("  %s", o->name);
    for (int a = 0; a < o->n_args; a++) {
      char flag[64];
      flag_of(o->args[a].name, flag, sizeof flag);
      const char *def = o->args[a].default_value;
      char shown[64] = "";
      /* Show real defaults, unquoted ("token", not "\"token\""); None is implied by []. */
      if (def && !is_none(def)) {
        size_t n = strlen(def);
        int quoted = n >= 2 && def[0] == '"';
        snprintf(shown, sizeof shown, "=%.*s", (int)(quoted ? n - 2 : n), def + quoted);
      }
      char word[64];
      const char *w = value_word(&o->args[a], word, sizeof word);
      if (is_optional(&o->args[a]))
        printf(" [%s %s%s]", flag, w, shown);
      else
        printf(" %s %s", flag, w);
    }
    printf("\n");
  }
  printf("\nExample:\n  fp8gemm meta fp8_gemm --q-input e4m3fn:2x7x4096 --q-weight e4m3fn:4096x11008 \\\n"
         "    --input-scales f32:2x7x1 --weight-scale f32:11008 --out-dtype bf16\n"
         "  bf16:2x7x11008\n");
}

int cmd_meta(int argc, char **argv) {
  if (argc < 2) return cli_usage_error("meta: missing OP (see 'fp8gemm meta --help')");
  fp8gemm_op op;
  if (fp8gemm_op_from_name(argv[1], &op) != FP8GEMM_OK)
    return cli_usage_error("meta: OP: %s", fp8gemm_last_error());
  meta_args m;
  memset(&m, 0, sizeof m);
  m.op = fp8gemm_op_describe(op);
  if (m.op->n_args > (int)(sizeof m.v / sizeof m.v[0]))
    return cli_usage_error("meta: %s has too many arguments for this CLI", m.op->name);
  int with_strides = 0;
  int rc = parse_args(argc, argv, &with_strides, &m);
  if (rc != CLI_OK) return rc;

  fp8gemm_tensor out[2];
  memset(out, 0, sizeof out);
  if (infer(op, &m, out) != FP8GEMM_OK) {
    fprintf(stderr, "fp8gemm: %s\n", fp8gemm_last_error());
    return CLI_USAGE;
  }
  for (int i = 0; i < m.op->n_outputs; i++) {
    char buf[512];
    if (tensor_spec_format(&out[i], with_strides, buf, sizeof buf) < 0) {
      fprintf(stderr, "fp8gemm: meta: %s returned a malformed output descriptor\n", m.op->name);
      return CLI_FAILED;
    }
    printf("%s\n", buf);
  }
  return CLI_OK;
}
