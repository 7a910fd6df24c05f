/* Tensor spec parser and printer of the CLI (format in tensor_spec.h). */
#include "tensor_spec.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static int fail(char *err, size_t size, const char *fmt, ...) {
  if (err && size > 0) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, size, fmt, ap);
    va_end(ap);
  }
  return -1;
}

/*
 * Parses "N0xN1x..." from [s, end) into out[]; an empty range is an empty list.
 * Returns the count, or -1 with err filled. `what` names the list in messages.
 */
static int parse_list(const char *s, const char *end, int allow_negative, int64_t *out,
                      const char *what, char *err, size_t err_size) {
  int count = 0;
  if (s == end) return 0;
  for (;;) {
    int negative = 0;
    if (allow_negative && s < end && *s == '-') {
      negative = 1;
      s++;
    }
    if (s == end || *s < '0' || *s > '9')
      return fail(err, err_size, "%s: expected a decimal number at '%.*s'", what,
                  (int)(end - s > 20 ? 20 : end - s), s);
    uint64_t v = 0;
    /* Magnitudes up to 2^63 so that -2^63 is representable; positives stop at 2^63-1. */
    const uint64_t limit = (uint64_t)INT64_MAX + (uint64_t)negative;
    while (s < end && *s >= '0' && *s <= '9') {
      uint64_t digit = (uint64_t)(*s - '0');
      if (v > (limit - digit) / 10) return fail(err, err_size, "%s: number too large", what);
      v = v * 10 + digit;
      s++;
    }
    if (count == FP8GEMM_MAX_DIMS)
      return fail(err, err_size, "%s: at most %d entries", what, FP8GEMM_MAX_DIMS);
    out[count++] = !negative ? (int64_t)v : v > (uint64_t)INT64_MAX ? INT64_MIN : -(int64_t)v;
    if (s == end) return count;
    if (*s != 'x')
      return fail(err, err_size, "%s: expected 'x' between numbers, got '%c'", what, *s);
    s++;
  }
}

int tensor_spec_parse(const char *text, fp8gemm_tensor *t, char *err, size_t err_size) {
  if (err && err_size > 0) err[0] = '\0';
  if (!text || !t) return fail(err, err_size, "tensor spec: missing");
  const char *colon = strchr(text, ':');
  if (!colon)
    return fail(err, err_size, "tensor spec '%.40s': expected DTYPE:D0xD1x... (missing ':')",
                text);
  char name[32];
  size_t name_len = (size_t)(colon - text);
  if (name_len == 0 || name_len >= sizeof name)
    return fail(err, err_size, "tensor spec '%.40s': expected a dtype name before ':'", text);
  memcpy(name, text, name_len);
  name[name_len] = '\0';
  fp8gemm_dtype dtype;
  if (fp8gemm_dtype_from_name(name, &dtype) != FP8GEMM_OK) {
    fp8gemm_clear_error();
    return fail(err, err_size,
                "tensor spec '%.40s': unknown dtype '%s' (expected e4m3fn e5m2 e4m3fnuz e5m2fnuz "
                "e8m0 e2m1 bf16 f16 f32)",
                text, name);
  }
  const char *dims_start = colon + 1, *end = dims_start + strlen(dims_start);
  const char *at = strchr(dims_start, '@');
  const char *dims_end = at ? at : end;

  int64_t dims[FP8GEMM_MAX_DIMS], strides[FP8GEMM_MAX_DIMS];
  char what[64];
  snprintf(what, sizeof what, "tensor spec '%.24s' dims", text);
  int ndim = parse_list(dims_start, dims_end, 0, dims, what, err, err_size);
  if (ndim < 0) return -1;
  if (fp8gemm_tensor_init(t, dtype, ndim, dims, NULL) != FP8GEMM_OK) {
    fail(err, err_size, "tensor spec '%.40s': %s", text, fp8gemm_last_error());
    fp8gemm_clear_error();
    return -1;
  }
  if (!at) return 0;
  snprintf(what, sizeof what, "tensor spec '%.24s' strides", text);
  int nstride = parse_list(at + 1, end, 1, strides, what, err, err_size);
  if (nstride < 0) return -1;
  if (nstride != ndim)
    return fail(err, err_size, "tensor spec '%.40s': %d strides given for %d dims", text, nstride,
                ndim);
  for (int i = 0; i < ndim; i++) t->strides[i] = strides[i];
  return 0;
}

/* Appends "N0xN1x..." of v[0..n); returns the new length or -1 if it does not fit. */
static int append_list(char *buf, size_t size, int len, const int64_t *v, int n) {
  for (int i = 0; i < n; i++) {
    int w = snprintf(buf + len, size - (size_t)len, i ? "x%lld" : "%lld", (long long)v[i]);
    if (w < 0 || (size_t)w >= size - (size_t)len) return -1;
    len += w;
  }
  return len;
}

int tensor_spec_format(const fp8gemm_tensor *t, int with_strides, char *buf, size_t size) {
  if (!t || !buf || size == 0) return -1;
  const char *name = fp8gemm_dtype_name(t->dtype);
  if (!name || t->ndim < 0 || t->ndim > FP8GEMM_MAX_DIMS) return -1;
  int len = snprintf(buf, size, "%s:", name);
  if (len < 0 || (size_t)len >= size) return -1;
  len = append_list(buf, size, len, t->dims, t->ndim);
  if (len < 0 || !with_strides) return len;
  if ((size_t)len + 1 >= size) return -1;
  buf[len++] = '@';
  buf[len] = '\0';
  return append_list(buf, size, len, t->strides, t->ndim);
}
