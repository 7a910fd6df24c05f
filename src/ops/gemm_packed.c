/*
 * Prepacked weights for fp8_gemm / fp8_gemm_w8a16. The packed form is the weight as
 * contiguous [N, K] / [B, N, K] fp8 codes (K fastest: the layout of a checkpoint's
 * [out, in] tensor) plus a contiguous copy of its scale, kept with their logical
 * descriptors ([K, N] / [B, K, N], the NT view of those codes). Every call rebuilds
 * those descriptors and goes through the op's public infer and run, so shapes,
 * validation and messages are the op's own (there is no second shape rule) and the
 * result is bitwise that of the plain call on an NT view. What packing buys: any other
 * strides are transposed once, and every kernel streams the weight contiguously along
 * K, which the decode kernels do best (docs/gemv.md, docs/kernels.md).
 *
 * Codes of >= 2 MiB go to fp8g_big_alloc: a 2 MiB-aligned mapping rounded up to a
 * 2 MiB multiple, advised MADV_HUGEPAGE before the codes are written, so that with
 * transparent huge pages in "madvise" (or "always") mode a decode call streams them over
 * 2 MiB pages (docs/kernels.md "Prepacked weights"). Only where the codes live changes,
 * not what they are: results stay bitwise the plain call's.
 */
#include <stdlib.h>
#include <string.h>

#include "gemm_infer.h"

struct fp8gemm_packed_weight {
  fp8gemm_op op;
  fp8gemm_tensor weight; /* contiguous, data = codes */
  fp8gemm_tensor scale;  /* contiguous copy, valid when has_scale */
  bool has_scale;
  size_t mapped; /* fp8g_big_alloc's mapping of the codes, 0: malloc'd */
  size_t bytes;  /* held: the codes' allocation (mapped when mapped) + the scale copy */
};

enum { TILE = 64 }; /* transpose tile: 64 x 64 codes stay in L1 */

/* dst[j][kk] = src(kk, j) for one logical [K, N] matrix with strides (sk, sn): an NT
 * view (sk == 1) is a row copy per column, anything else is transposed in tiles so
 * that reads and writes go a cache line at a time. */
static void copy_matrix(uint8_t *dst, const uint8_t *src, int64_t k, int64_t n, int64_t sk,
                        int64_t sn) {
  if (sk == 1) {
    for (int64_t j = 0; j < n; j++) memcpy(dst + j * k, src + j * sn, (size_t)k);
    return;
  }
  for (int64_t n0 = 0; n0 < n; n0 += TILE)
    for (int64_t k0 = 0; k0 < k; k0 += TILE) {
      int64_t k1 = k0 + TILE < k ? k0 + TILE : k, n1 = n0 + TILE < n ? n0 + TILE : n;
      for (int64_t j = n0; j < n1; j++)
        for (int64_t kk = k0; kk < k1; kk++) dst[j * k + kk] = src[kk * sk + j * sn];
    }
}

/* The logical [K, N] / [B, K, N] descriptor of codes stored [N, K] / [B, N, K]. */
static void nt_descriptor(fp8gemm_tensor *t, fp8gemm_dtype dtype, int ndim, const int64_t *dims) {
  fp8g_make_contiguous(t, dtype, ndim, dims);
  int64_t k = dims[ndim - 2], n = dims[ndim - 1];
  t->strides[ndim - 2] = 1;
  t->strides[ndim - 1] = k;
  if (ndim == 3) t->strides[0] = k * n;
}

fp8gemm_status fp8gemm_pack_weight(fp8gemm_op op, const fp8gemm_tensor *q_weight,
                                   const fp8gemm_tensor *weight_scale,
                                   fp8gemm_packed_weight **packed) {
  if (op != FP8GEMM_OP_FP8_GEMM && op != FP8GEMM_OP_FP8_GEMM_W8A16)
    return fp8g_error(FP8GEMM_INVALID_ARGUMENT,
                      "pack_weight: op: expected fp8_gemm or fp8_gemm_w8a16, got %d", (int)op);
  const char *name = fp8g_gemm_op_str(op);
  if (!packed) return fp8g_error(FP8GEMM_INVALID_ARGUMENT, "%s: pack_weight: packed is NULL", name);
  fp8gemm_status s = fp8g_check_tensor(name, "q_weight", q_weight, true);
  if (s != FP8GEMM_OK) return s;
  if (!fp8gemm_dtype_is_fp8(q_weight->dtype))
    return fp8g_error(FP8GEMM_INVALID_ARGUMENT,
                      "%s: q_weight.dtype: expected e4m3fn, e5m2, e4m3fnuz or e5m2fnuz, got %s", name,
                      fp8g_dtype_str(q_weight->dtype));
  if (q_weight->ndim != 2 && q_weight->ndim != 3)
    return fp8g_error(FP8GEMM_INVALID_ARGUMENT,
                      "%s: q_weight: expected rank 2 [K, N] or 3 [B, K, N], got rank %d", name,
                      (int)q_weight->ndim);
  if (weight_scale) {
    s = fp8g_check_tensor(name, "weight_scale", weight_scale, true);
    if (s != FP8GEMM_OK) return s;
    /* The copy below moves whole bytes per element; no GEMM takes e2m1 scales anyway. */
    if (fp8gemm_dtype_bits(weight_scale->dtype) % 8 != 0)
      return fp8g_error(FP8GEMM_INVALID_ARGUMENT,
                        "%s: weight_scale.dtype: expected a scale dtype (f32, bf16, e8m0), got %s",
                        name, fp8g_dtype_str(weight_scale->dtype));
  }
  int64_t wn = fp8gemm_tensor_numel(q_weight);
  int64_t sn = weight_scale ? fp8gemm_tensor_numel(weight_scale) : 0;
  size_t sbytes = weight_scale ? (size_t)sn * (size_t)(fp8gemm_dtype_bits(weight_scale->dtype) / 8) : 0;
  fp8gemm_packed_weight *pw = calloc(1, sizeof *pw);
  size_t mapped = 0;
  uint8_t *codes = fp8g_big_alloc((size_t)wn, &mapped);
  uint8_t *sdata = sbytes ? malloc(sbytes) : NULL;
  if (!pw || !codes || (sbytes && !sdata)) {
    free(pw);
    fp8g_big_free(codes, mapped);
    free(sdata);
    return fp8g_error(FP8GEMM_OUT_OF_MEMORY, "%s: pack_weight: %lld bytes", name,
                      (long long)wn + (long long)sbytes);
  }
  int nd = q_weight->ndim;
  int64_t nb = nd == 3 ? q_weight->dims[0] : 1, k = q_weight->dims[nd - 2], n = q_weight->dims[nd - 1];
  const uint8_t *src = q_weight->data;
  for (int64_t b = 0; b < nb && wn > 0; b++)
    copy_matrix(codes + b * k * n, src + (nd == 3 ? b * q_weight->strides[0] : 0), k, n,
                q_weight->strides[nd - 2], q_weight->strides[nd - 1]);
  pw->op = op;
  nt_descriptor(&pw->weight, q_weight->dtype, nd, q_weight->dims);
  pw->weight.data = codes;
  if (weight_scale) {
    size_t esz = (size_t)(fp8gemm_dtype_bits(weight_scale->dtype) / 8);
    const uint8_t *ssrc = weight_scale->data;
    for (int64_t i = 0; i < sn; i++)
      memcpy(sdata + (size_t)i * esz,
             ssrc + (size_t)fp8g_offset_of(weight_scale, weight_scale->ndim, i) * esz, esz);
    fp8g_make_contiguous(&pw->scale, weight_scale->dtype, weight_scale->ndim, weight_scale->dims);
    pw->scale.data = sdata;
    pw->has_scale = true;
  }
  pw->mapped = mapped;
  pw->bytes = (mapped ? mapped : (size_t)wn) + sbytes;
  *packed = pw;
  return FP8GEMM_OK;
}

void fp8gemm_packed_weight_free(fp8gemm_packed_weight *packed) {
  if (!packed) return;
  fp8g_big_free(packed->weight.data, packed->mapped);
  free(packed->scale.data);
  free(packed);
}

fp8gemm_status fp8gemm_packed_weight_info(const fp8gemm_packed_weight *packed, fp8gemm_op *op,
                                          fp8gemm_tensor *weight_desc, size_t *bytes) {
  if (!packed) return fp8g_error(FP8GEMM_INVALID_ARGUMENT, "packed_weight_info: packed is NULL");
  if (op) *op = packed->op;
  if (weight_desc) {
    *weight_desc = packed->weight;
    weight_desc->data = NULL;
  }
  if (bytes) *bytes = packed->bytes;
  return FP8GEMM_OK;
}

const void *fp8g_packed_codes(const fp8gemm_packed_weight *packed) { return packed->weight.data; }

/* The packed weight must exist and have been packed for `op`. */
static fp8gemm_status check_packed(const fp8gemm_packed_weight *pw, fp8gemm_op op) {
  if (!pw) return fp8g_error(FP8GEMM_INVALID_ARGUMENT, "%s: packed is NULL, expected a packed weight", fp8g_gemm_op_str(op));
  if (pw->op != op)
    return fp8g_error(FP8GEMM_INVALID_ARGUMENT, "%s: packed: expected a weight packed for %s, got one packed for %s",
                      fp8g_gemm_op_str(op), fp8g_gemm_op_str(op), fp8g_gemm_op_str(pw->op));
  return FP8GEMM_OK;
}

static const fp8gemm_tensor *scale_of(const fp8gemm_packed_weight *pw) {
  return pw->has_scale ? &pw->scale : NULL;
}

fp8gemm_status fp8gemm_fp8_gemm_packed_infer(const fp8gemm_tensor *q_input,
                                             const fp8gemm_packed_weight *packed,
                                             fp8gemm_dtype out_dtype,
                                             const fp8gemm_tensor *input_scales,
                                             const fp8gemm_tensor *bias, fp8gemm_tensor *out_desc,
                                             size_t *workspace_size) {
  fp8gemm_status s = check_packed(packed, FP8GEMM_OP_FP8_GEMM);
  if (s != FP8GEMM_OK) return s;
  return fp8gemm_fp8_gemm_infer(q_input, &packed->weight, out_dtype, input_scales, scale_of(packed),
                                bias, out_desc, workspace_size);
}

fp8gemm_status fp8gemm_fp8_gemm_packed(const fp8gemm_tensor *q_input,
                                       const fp8gemm_packed_weight *packed, fp8gemm_dtype out_dtype,
                                       const fp8gemm_tensor *input_scales,
                                       const fp8gemm_tensor *bias, fp8gemm_tensor *out) {
  fp8gemm_status s = check_packed(packed, FP8GEMM_OP_FP8_GEMM);
  if (s != FP8GEMM_OK) return s;
  return fp8gemm_fp8_gemm(q_input, &packed->weight, out_dtype, input_scales, scale_of(packed), bias,
                          out);
}

fp8gemm_status fp8gemm_fp8_gemm_w8a16_packed_infer(const fp8gemm_tensor *input,
                                                   const fp8gemm_packed_weight *packed,
                                                   const fp8gemm_tensor *bias,
                                                   fp8gemm_tensor *out_desc,
                                                   size_t *workspace_size) {
  fp8gemm_status s = check_packed(packed, FP8GEMM_OP_FP8_GEMM_W8A16);
  if (s != FP8GEMM_OK) return s;
  return fp8gemm_fp8_gemm_w8a16_infer(input, &packed->weight, scale_of(packed), bias, out_desc,
                                      workspace_size);
}

fp8gemm_status fp8gemm_fp8_gemm_w8a16_packed(const fp8gemm_tensor *input,
                                             const fp8gemm_packed_weight *packed,
                                             const fp8gemm_tensor *bias, fp8gemm_tensor *out) {
  fp8gemm_status s = check_packed(packed, FP8GEMM_OP_FP8_GEMM_W8A16);
  if (s != FP8GEMM_OK) return s;
  return fp8gemm_fp8_gemm_w8a16(input, &packed->weight, scale_of(packed), bias, out);
}

/* The packed form runs the op's kernels on an NT weight: the same kernels as the plain
 * call, so the answer is the op's own capability answer. */
fp8gemm_status fp8gemm_query_packed(fp8gemm_op op, fp8gemm_scheme scheme, fp8gemm_dtype dtype,
                                    fp8gemm_kernel_info *info) {
  switch (op) {
    case FP8GEMM_OP_FP8_GEMM: return fp8g_query_fp8_gemm(scheme, dtype, info);
    case FP8GEMM_OP_FP8_GEMM_W8A16: return fp8g_query_fp8_gemm_w8a16(scheme, dtype, info);
    default:
      return fp8g_error(FP8GEMM_UNIMPLEMENTED,
                        "query_packed: op: only fp8_gemm and fp8_gemm_w8a16 have a packed form, got %d",
                        (int)op);
  }
}
