/*
 * libFuzzer harness over every *_infer function. The input picks an op, up to five
 * tensor descriptors (dtype, rank, dims and strides from a table of hostile values or
 * raw bytes; data is always NULL since infer must not read it) and the scalar
 * arguments. Infer must never crash, and when it accepts, its output descriptors must
 * be sane: a valid dtype, rank in range, non-negative dims whose product fits, row-major
 * strides, and the shape rule of the op (leading dims kept, last dim N, same shape).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fp8gemm.h"

typedef struct reader {
  const uint8_t *p;
  size_t n;
} reader;

static uint8_t byte(reader *r) {
  if (!r->n) return 0;
  r->n--;
  return *r->p++;
}

static int64_t i64(reader *r) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = v << 8 | byte(r);
  return (int64_t)v;
}

/* Dims and strides: mostly small, sometimes a value at an edge. */
static int64_t extent(reader *r) {
  static const int64_t edges[] = {0, 1, 2, 31, 32, 33, 127, 128, 129, 4096, 11008, INT32_MAX,
                                  (int64_t)1 << 32, (int64_t)1 << 40, INT64_MAX / 2, INT64_MAX,
                                  -1, -2, INT64_MIN};
  uint8_t b = byte(r);
  if (b < 200) return b % 64;
  if (b < 240) return edges[b % (sizeof edges / sizeof edges[0])];
  return i64(r);
}

/* A tensor or NULL. */
static fp8gemm_tensor *tensor(reader *r, fp8gemm_tensor *t) {
  uint8_t head = byte(r);
  if (head % 5 == 0) return NULL;
  memset(t, 0, sizeof *t);
  t->dtype = (fp8gemm_dtype)(byte(r) % (FP8GEMM_DTYPE_COUNT + 2)); /* invalid ones too */
  t->ndim = (int32_t)(byte(r) % (FP8GEMM_MAX_DIMS + 2)) - (head % 7 == 0); /* -1 .. 9 */
  int nd = t->ndim < 0 ? 0 : t->ndim > FP8GEMM_MAX_DIMS ? FP8GEMM_MAX_DIMS : t->ndim;
  for (int i = 0; i < nd; i++) t->dims[i] = extent(r);
  /* Row-major strides (saturated), or arbitrary ones. */
  int64_t s = 1;
  for (int i = nd - 1; i >= 0; i--) {
    t->strides[i] = s;
    if (t->dims[i] > 0 && s <= INT64_MAX / t->dims[i]) s *= t->dims[i];
  }
  if (head & 0x80)
    for (int i = 0; i < nd; i++) t->strides[i] = extent(r);
  if (head & 0x40 && nd >= 2) { /* transposed view of the last two dims */
    int64_t tmp = t->strides[nd - 1];
    t->strides[nd - 1] = t->strides[nd - 2];
    t->strides[nd - 2] = tmp;
  }
  return t;
}

static void check(int ok) {
  if (!ok) __builtin_trap();
}

/* A descriptor infer returned: sane on its own. */
static void sane(const fp8gemm_tensor *t) {
  check(fp8gemm_dtype_name(t->dtype) != NULL);
  check(t->ndim >= 0 && t->ndim <= FP8GEMM_MAX_DIMS);
  for (int i = 0; i < t->ndim; i++) check(t->dims[i] >= 0);
  int64_t numel = fp8gemm_tensor_numel(t);
  check(numel >= 0);
  if (numel > 0) { /* contiguous row-major */
    int64_t s = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
      if (t->dims[i] != 1) check(t->strides[i] == s);
      s *= t->dims[i];
    }
  }
}

static void same_shape(const fp8gemm_tensor *a, const fp8gemm_tensor *b) {
  check(a->ndim == b->ndim);
  for (int i = 0; i < a->ndim; i++) check(a->dims[i] == b->dims[i]);
}

/* GEMM output: the input's leading dims and N = the weight's last dim. */
static void gemm_shape(const fp8gemm_tensor *out, const fp8gemm_tensor *in, const fp8gemm_tensor *w) {
  check(out->ndim == in->ndim);
  for (int i = 0; i + 1 < in->ndim; i++) check(out->dims[i] == in->dims[i]);
  check(out->dims[out->ndim - 1] == w->dims[w->ndim - 1]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  reader r = {data, size};
  fp8gemm_tensor buf[5], out[2];
  memset(out, 0, sizeof out);
  uint8_t op = byte(&r) % FP8GEMM_OP_COUNT;
  fp8gemm_tensor *t[5];
  for (int i = 0; i < 5; i++) t[i] = tensor(&r, &buf[i]);
  fp8gemm_dtype dt = (fp8gemm_dtype)(byte(&r) % (FP8GEMM_DTYPE_COUNT + 1));
  int64_t n = extent(&r);
  uint8_t e = byte(&r);
  double min_scale = e < 128 ? FP8GEMM_DEFAULT_MIN_SCALE : e < 192 ? (double)i64(&r) * 1e-9
                                                                   : (e & 1 ? -1.0 : 0.0);
  size_t ws = 0;
  fp8gemm_status st = FP8GEMM_INVALID_ARGUMENT;
  switch (op) {
    case FP8GEMM_OP_FP8_GEMM:
      st = fp8gemm_fp8_gemm_infer(t[0], t[1], dt, t[2], t[3], t[4], &out[0], &ws);
      if (st == FP8GEMM_OK) gemm_shape(&out[0], t[0], t[1]);
      break;
    case FP8GEMM_OP_FP8_GEMM_W8A16:
      st = fp8gemm_fp8_gemm_w8a16_infer(t[0], t[1], t[2], t[3], &out[0], &ws);
      if (st == FP8GEMM_OK) gemm_shape(&out[0], t[0], t[1]);
      if (st == FP8GEMM_OK) check(out[0].dtype == t[0]->dtype);
      break;
    case FP8GEMM_OP_FP8_QUANTIZE:
      st = fp8gemm_fp8_quantize_infer(t[0], dt, (fp8gemm_granularity)(e % 6), n, t[1], t[2],
                                      min_scale, &out[0], &out[1]);
      if (st == FP8GEMM_OK) same_shape(&out[0], t[0]);
      break;
    case FP8GEMM_OP_MX_QUANTIZE:
      st = fp8gemm_mx_quantize_infer(t[0], dt, e & 1 ? 32 : n, (fp8gemm_mx_scale_mode)(e % 4),
                                     &out[0], &out[1]);
      if (st == FP8GEMM_OK) same_shape(&out[0], t[0]);
      break;
    case FP8GEMM_OP_FP8_DEQUANTIZE:
      st = fp8gemm_fp8_dequantize_infer(t[0], t[1], dt, n, &out[0]);
      if (st == FP8GEMM_OK) same_shape(&out[0], t[0]);
      break;
    default:
      st = fp8gemm_fp8_cast_infer(t[0], dt, e & 1, &out[0]);
      if (st == FP8GEMM_OK) same_shape(&out[0], t[0]);
      break;
  }
  if (st == FP8GEMM_OK) {
    sane(&out[0]);
    if (op == FP8GEMM_OP_FP8_QUANTIZE || op == FP8GEMM_OP_MX_QUANTIZE) sane(&out[1]);
  } else {
    /* A rejection carries a message. */
    check(fp8gemm_last_error()[0] != '\0');
  }
  fp8gemm_clear_error();
  return 0;
}
