/* Tensor descriptor checks and helpers shared by every op. */
#include <stdio.h>
#include <string.h>

#include "../internal.h"

int64_t fp8g_dims_product(const int64_t *dims, int from, int to) {
  int64_t p = 1;
  for (int i = from; i < to; i++) {
    if (dims[i] < 0) return -1;
    if (dims[i] != 0 && p > INT64_MAX / dims[i]) {
      /* A zero later on still makes the product 0. */
      for (int j = i + 1; j < to; j++)
        if (dims[j] == 0) return 0;
      return -1;
    }
    p *= dims[i];
  }
  return p;
}

fp8gemm_status fp8g_check_tensor(const char *op, const char *arg, const fp8gemm_tensor *t,
                                 bool need_data) {
  if (!t) return fp8g_error(FP8GEMM_INVALID_ARGUMENT, "%s: %s is NULL, expected a tensor", op, arg);
  if (!fp8g_traits(t->dtype))
    return fp8g_error(FP8GEMM_INVALID_ARGUMENT, "%s: %s.dtype: expected a valid dtype, got %s", op,
                      arg, fp8g_dtype_str(t->dtype));
  if (t->ndim < 0 || t->ndim > FP8GEMM_MAX_DIMS)
    return fp8g_error(FP8GEMM_INVALID_ARGUMENT, "%s: %s.ndim: expected 0..%d, got %d", op, arg,
                      FP8GEMM_MAX_DIMS, (int)t->ndim);
  for (int i = 0; i < t->ndim; i++) {
    if (t->dims[i] < 0)
      return fp8g_error(FP8GEMM_INVALID_ARGUMENT, "%s: %s.shape[%d]: expected >= 0, got %lld", op,
                        arg, i, (long long)t->dims[i]);
    if (t->strides[i] < 0)
      return fp8g_error(FP8GEMM_INVALID_ARGUMENT, "%s: %s.stride[%d]: expected >= 0, got %lld",
                        op, arg, i, (long long)t->strides[i]);
  }
  int64_t numel = fp8g_dims_product(t->dims, 0, t->ndim);
  if (numel < 0)
    return fp8g_error(FP8GEMM_INVALID_ARGUMENT,
                      "%s: %s: the product of the dims overflows a 64-bit element count", op, arg);
  if (numel > 0) {
    /* The largest reachable element offset must fit too (and its byte offset). */
    int64_t span = 0;
    for (int i = 0; i < t->ndim; i++) {
      int64_t d = t->dims[i] - 1;
      if (d > 0 && t->strides[i] > (INT64_MAX / 4 - span) / d)
        return fp8g_error(FP8GEMM_INVALID_ARGUMENT,
                          "%s: %s: the strides reach past a 64-bit byte offset", op, arg);
      span += d * t->strides[i];
    }
    if (need_data && !t->data)
      return fp8g_error(FP8GEMM_INVALID_ARGUMENT, "%s: %s.data is NULL for a non-empty tensor", op,
                        arg);
  }
  if (t->dtype == FP8GEMM_E2M1 && t->ndim > 0) {
    int last = t->ndim - 1;
    if (t->dims[last] % 2 != 0)
      return fp8g_error(FP8GEMM_INVALID_ARGUMENT,
                        "%s: %s.shape[-1]: e2m1 packs two per byte, expected an even length, got "
                        "%lld",
                        op, arg, (long long)t->dims[last]);
    /* An empty tensor addresses no byte: its strides (row-major ones included, which
     * count a dim of 0 as 1) need not follow the packing rules. */
    if (numel == 0) return FP8GEMM_OK;
    if (t->dims[last] > 1 && t->strides[last] != 1)
      return fp8g_error(FP8GEMM_INVALID_ARGUMENT,
                        "%s: %s.stride[-1]: e2m1 rows must be contiguous, expected 1, got %lld", op,
                        arg, (long long)t->strides[last]);
    for (int i = 0; i < last; i++)
      if (t->dims[i] > 1 && t->strides[i] % 2 != 0)
        return fp8g_error(FP8GEMM_INVALID_ARGUMENT,
                          "%s: %s.stride[%d]: e2m1 strides must be even, got %lld", op, arg, i,
                          (long long)t->strides[i]);
  }
  return FP8GEMM_OK;
}

void fp8g_make_contiguous(fp8gemm_tensor *t, fp8gemm_dtype dtype, int ndim, const int64_t *dims) {
  memset(t, 0, sizeof *t);
  t->dtype = dtype;
  t->ndim = ndim;
  int64_t stride = 1;
  for (int i = ndim - 1; i >= 0; i--) {
    t->dims[i] = dims[i];
    t->strides[i] = stride;
    int64_t d = dims[i] > 0 ? dims[i] : 1;
    /* Only an empty tensor can get here with a huge product; its strides are never used. */
    stride = stride > INT64_MAX / d ? INT64_MAX : stride * d;
  }
}

bool fp8g_is_contiguous(const fp8gemm_tensor *t) { return fp8g_is_contiguous_from(t, 0); }

bool fp8g_is_contiguous_from(const fp8gemm_tensor *t, int from) {
  int64_t expect = 1;
  for (int i = t->ndim - 1; i >= from; i--) {
    if (t->dims[i] == 0) return true;
    if (t->dims[i] != 1 && t->strides[i] != expect) return false;
    expect *= t->dims[i];
  }
  return true;
}

const char *fp8g_shape_str(const fp8gemm_tensor *t, char *buf, size_t size) {
  if (size == 0) return buf;
  buf[0] = '\0';
  if (t->ndim == 0) {
    snprintf(buf, size, "scalar");
    return buf;
  }
  size_t used = 0;
  for (int i = 0; i < t->ndim && used < size; i++) {
    int w = snprintf(buf + used, size - used, i ? "x%lld" : "%lld", (long long)t->dims[i]);
    if (w < 0) break;
    used += (size_t)w;
  }
  return buf;
}

fp8gemm_status fp8g_check_out(const char *op, const char *arg, const fp8gemm_tensor *out,
                              const fp8gemm_tensor *expected) {
  char want[128], got[128];
  if (!out) return fp8g_error(FP8GEMM_INVALID_ARGUMENT, "%s: %s is NULL, expected a tensor", op, arg);
  if (out->dtype != expected->dtype)
    return fp8g_error(FP8GEMM_INVALID_ARGUMENT, "%s: %s.dtype: expected %s, got %s", op, arg,
                      fp8g_dtype_str(expected->dtype), fp8g_dtype_str(out->dtype));
  bool same = out->ndim == expected->ndim;
  for (int i = 0; same && i < expected->ndim; i++) same = out->dims[i] == expected->dims[i];
  if (!same)
    return fp8g_error(FP8GEMM_INVALID_ARGUMENT, "%s: %s.shape: expected %s, got %s", op, arg,
                      fp8g_shape_str(expected, want, sizeof want),
                      out->ndim >= 0 && out->ndim <= FP8GEMM_MAX_DIMS
                          ? fp8g_shape_str(out, got, sizeof got)
                          : "an invalid rank");
  for (int i = 0; i < expected->ndim; i++)
    if (expected->dims[i] > 1 && out->strides[i] != expected->strides[i])
      return fp8g_error(FP8GEMM_INVALID_ARGUMENT,
                        "%s: %s.stride[%d]: expected %lld (contiguous), got %lld", op, arg, i,
                        (long long)expected->strides[i], (long long)out->strides[i]);
  if (!out->data && fp8g_dims_product(expected->dims, 0, expected->ndim) > 0)
    return fp8g_error(FP8GEMM_INVALID_ARGUMENT, "%s: %s.data is NULL", op, arg);
  return FP8GEMM_OK;
}

int64_t fp8g_offset_of(const fp8gemm_tensor *t, int ndim, int64_t flat) {
  int64_t off = 0;
  for (int i = ndim - 1; i >= 0; i--) {
    int64_t d = t->dims[i] > 0 ? t->dims[i] : 1;
    off += (flat % d) * t->strides[i];
    flat /= d;
  }
  return off;
}

float fp8g_load_wide(const void *data, fp8gemm_dtype dtype, int64_t off) {
  switch (dtype) {
    case FP8GEMM_F32: return ((const float *)data)[off];
    case FP8GEMM_BF16: return fp8g_bf16_to_f32(((const uint16_t *)data)[off]);
    case FP8GEMM_F16: return fp8g_f16_to_f32(((const uint16_t *)data)[off]);
    default: return 0.0f;
  }
}

fp8gemm_status fp8gemm_tensor_init(fp8gemm_tensor *t, fp8gemm_dtype dtype, int ndim,
                                   const int64_t *dims, void *data) {
  if (!t) return fp8g_error(FP8GEMM_INVALID_ARGUMENT, "tensor_init: t is NULL");
  if (!fp8g_traits(dtype))
    return fp8g_error(FP8GEMM_INVALID_ARGUMENT, "tensor_init: dtype: expected a valid dtype, got %s",
                      fp8g_dtype_str(dtype));
  if (ndim < 0 || ndim > FP8GEMM_MAX_DIMS)
    return fp8g_error(FP8GEMM_INVALID_ARGUMENT, "tensor_init: ndim: expected 0..%d, got %d",
                      FP8GEMM_MAX_DIMS, ndim);
  if (ndim > 0 && !dims) return fp8g_error(FP8GEMM_INVALID_ARGUMENT, "tensor_init: dims is NULL");
  for (int i = 0; i < ndim; i++)
    if (dims[i] < 0)
      return fp8g_error(FP8GEMM_INVALID_ARGUMENT, "tensor_init: dims[%d]: expected >= 0, got %lld",
                        i, (long long)dims[i]);
  if (fp8g_dims_product(dims, 0, ndim) < 0)
    return fp8g_error(FP8GEMM_INVALID_ARGUMENT,
                      "tensor_init: the product of the dims overflows a 64-bit element count");
  fp8gemm_tensor tmp;
  fp8g_make_contiguous(&tmp, dtype, ndim, dims);
  tmp.data = data;
  fp8gemm_status s = fp8g_check_tensor("tensor_init", "t", &tmp, false);
  if (s != FP8GEMM_OK) return s;
  *t = tmp;
  return FP8GEMM_OK;
}

int64_t fp8gemm_tensor_numel(const fp8gemm_tensor *t) {
  if (!t || t->ndim < 0 || t->ndim > FP8GEMM_MAX_DIMS) return -1;
  return fp8g_dims_product(t->dims, 0, t->ndim);
}

size_t fp8gemm_tensor_nbytes(const fp8gemm_tensor *t) {
  int64_t n = fp8gemm_tensor_numel(t);
  const fp8g_dtype_traits *tr = t ? fp8g_traits(t->dtype) : NULL;
  if (n < 0 || !tr) return 0;
  if ((uint64_t)n > (uint64_t)INT64_MAX / 4) return 0;
  return (size_t)(((uint64_t)n * (uint64_t)tr->bits + 7) / 8);
}
