/*
 * fp8g_gemm_infer: every rule of fp8_gemm and fp8_gemm_w8a16 (docs/ops.md), checked
 * in a fixed order, without reading data or allocating. Where two readings of a scale
 * or bias shape coincide they mean the same numbers; the tables below pick the first.
 */
#include <stdio.h>

#include "gemm_infer.h"

#define INVALID(...) fp8g_error(FP8GEMM_INVALID_ARGUMENT, __VA_ARGS__)

typedef long long ll;

const char *fp8g_gemm_op_str(fp8gemm_op op) {
  return op == FP8GEMM_OP_FP8_GEMM_W8A16 ? "fp8_gemm_w8a16" : "fp8_gemm";
}

static int64_t ceil_div(int64_t a, int64_t b) { return a / b + (a % b != 0); }

/* Facts every scale / bias rule looks at. */
typedef struct facts {
  const char *op;
  bool w8a16, batched, need_data;
  int64_t batch, rows, k, n;
} facts;

#define BIT(form) (1u << (form))

static const char *const form_names[] = {
    [FP8G_FORM_NONE] = "absent",        [FP8G_FORM_TENSOR] = "per-tensor",
    [FP8G_FORM_TOKEN] = "per-token",    [FP8G_FORM_CHANNEL] = "per-channel",
    [FP8G_FORM_GROUP] = "groups along K", [FP8G_FORM_BLOCK] = "block",
    [FP8G_FORM_MX] = "mx",
};

/* "per-token/block" for a set of candidate forms. */
static const char *forms_str(unsigned forms, char *buf, size_t size) {
  size_t used = 0;
  buf[0] = '\0';
  for (int f = 0; f <= FP8G_FORM_MX; f++)
    if ((forms & BIT(f)) && used < size)
      used += (size_t)snprintf(buf + used, size - used, used ? "/%s" : "%s", form_names[f]);
  return buf;
}

/* [*, last] whose leading dims hold exactly `rows` elements. */
static bool rows_by(const fp8gemm_tensor *t, int64_t rows, int64_t last) {
  return t->ndim >= 1 && t->dims[t->ndim - 1] == last &&
         fp8g_dims_product(t->dims, 0, t->ndim - 1) == rows;
}

/* A weight-scale form [x, y]: rank 2, or for batched weights [1, x, y] (shared by every
 * batch) and [B, x, y] (one per batch). */
static bool weight_2d(const facts *f, const fp8gemm_tensor *t, int64_t x, int64_t y) {
  if (t->ndim == 2) return t->dims[0] == x && t->dims[1] == y;
  return f->batched && t->ndim == 3 && t->dims[1] == x && t->dims[2] == y &&
         (t->dims[0] == 1 || t->dims[0] == f->batch);
}

static bool weight_tensor(const facts *f, const fp8gemm_tensor *t) {
  return fp8g_dims_product(t->dims, 0, t->ndim) == 1 || weight_2d(f, t, 1, 1);
}

static bool weight_channel(const facts *f, const fp8gemm_tensor *t) {
  return (t->ndim == 1 && t->dims[0] == f->n) || weight_2d(f, t, 1, f->n) ||
         weight_2d(f, t, f->n, 1);
}

/* ------------------------------------------------------------------ operands */
static fp8gemm_status check_operands(const fp8g_gemm_args *a, facts *f) {
  const char *op = f->op, *in = f->w8a16 ? "input" : "q_input";
  fp8gemm_status s = fp8g_check_tensor(op, in, a->input, a->need_data);
  if (s != FP8GEMM_OK) return s;
  s = fp8g_check_tensor(op, "q_weight", a->weight, a->need_data);
  if (s != FP8GEMM_OK) return s;
  const fp8gemm_tensor *x = a->input, *w = a->weight;
  if (f->w8a16 && !fp8g_traits(x->dtype)->is_wide)
    return INVALID("%s: input.dtype: expected bf16, f16 or f32, got %s", op,
                   fp8g_dtype_str(x->dtype));
  if (!f->w8a16 && !fp8g_traits(x->dtype)->is_fp8)
    return INVALID("%s: q_input.dtype: expected an fp8 dtype (e4m3fn, e5m2, e4m3fnuz, e5m2fnuz), "
                   "got %s",
                   op, fp8g_dtype_str(x->dtype));
  if (!fp8g_traits(w->dtype)->is_fp8)
    return INVALID("%s: q_weight.dtype: expected an fp8 dtype (e4m3fn, e5m2, e4m3fnuz, e5m2fnuz), "
                   "got %s",
                   op, fp8g_dtype_str(w->dtype));
  if (x->ndim < 1) return INVALID("%s: %s.ndim: expected >= 1 ([*, K]), got 0", op, in);
  if (w->ndim != 2 && w->ndim != 3)
    return INVALID("%s: q_weight.ndim: expected 2 ([K, N]) or 3 ([B, K, N]), got %d", op,
                   (int)w->ndim);
  f->batched = w->ndim == 3;
  if (f->batched && x->ndim != 3)
    return INVALID("%s: %s.ndim: a batched q_weight [B, K, N] needs %s [B, M, K], got rank %d", op,
                   in, in, (int)x->ndim);
  if (f->batched && x->dims[0] != w->dims[0])
    return INVALID("%s: %s.shape[0] (%lld) must equal q_weight.shape[0] (%lld), the batch", op, in,
                   (ll)x->dims[0], (ll)w->dims[0]);
  int wk = w->ndim - 2;
  f->k = x->dims[x->ndim - 1];
  if (w->dims[wk] != f->k)
    return INVALID("%s: q_weight.shape[%d] (%lld) must equal %s.shape[-1] (%lld)", op, wk,
                   (ll)w->dims[wk], in, (ll)f->k);
  f->n = w->dims[wk + 1];
  f->batch = f->batched ? w->dims[0] : 1;
  f->rows = fp8g_dims_product(x->dims, 0, x->ndim - 1);
  if (f->rows < 0)
    return INVALID("%s: %s: the product of the leading dims overflows a 64-bit count", op, in);
  return FP8GEMM_OK;
}

/* ---------------------------------------------------------------- fp8_gemm scales */
static fp8gemm_status input_scale_forms(const fp8g_gemm_args *a, const facts *f, unsigned *forms) {
  const fp8gemm_tensor *t = a->input_scales;
  char shape[128];
  if (!t) {
    *forms = BIT(FP8G_FORM_NONE);
    return FP8GEMM_OK;
  }
  fp8gemm_status s = fp8g_check_tensor(f->op, "input_scales", t, a->need_data);
  if (s != FP8GEMM_OK) return s;
  if (t->dtype == FP8GEMM_E8M0) {
    if (f->k % 32 != 0)
      return INVALID("%s: input_scales: e8m0 (MX) scales need K %% 32 == 0, got K = %lld", f->op,
                     (ll)f->k);
    if (!rows_by(t, f->rows, f->k / 32))
      return INVALID("%s: input_scales.shape: e8m0 (MX) scales must be [*, K/32] = [*, %lld] with "
                     "%lld rows, got %s",
                     f->op, (ll)(f->k / 32), (ll)f->rows, fp8g_shape_str(t, shape, sizeof shape));
    *forms = BIT(FP8G_FORM_MX);
    return FP8GEMM_OK;
  }
  if (t->dtype != FP8GEMM_F32)
    return INVALID("%s: input_scales.dtype: expected f32 (or e8m0 for MX), got %s", f->op,
                   fp8g_dtype_str(t->dtype));
  int64_t kb = ceil_div(f->k, 128);
  unsigned m = 0;
  if (fp8g_dims_product(t->dims, 0, t->ndim) == 1) m |= BIT(FP8G_FORM_TENSOR);
  if (rows_by(t, f->rows, 1)) m |= BIT(FP8G_FORM_TOKEN);
  if (rows_by(t, f->rows, kb)) m |= BIT(FP8G_FORM_BLOCK);
  if (!m)
    return INVALID("%s: input_scales.shape: expected numel 1 (per-tensor), [*, 1] with %lld rows "
                   "(per-token) or [*, ceil(K/128)] = [*, %lld] with %lld rows (block 1x128), got %s",
                   f->op, (ll)f->rows, (ll)kb, (ll)f->rows, fp8g_shape_str(t, shape, sizeof shape));
  *forms = m;
  return FP8GEMM_OK;
}

static fp8gemm_status weight_scale_forms(const fp8g_gemm_args *a, const facts *f, unsigned *forms) {
  const fp8gemm_tensor *t = a->weight_scale;
  char shape[128];
  const char *batch_note = f->batched ? " (each optionally with a leading dim 1 or B)" : "";
  if (!t) {
    *forms = BIT(FP8G_FORM_NONE);
    return FP8GEMM_OK;
  }
  fp8gemm_status s = fp8g_check_tensor(f->op, "weight_scale", t, a->need_data);
  if (s != FP8GEMM_OK) return s;
  if (t->dtype == FP8GEMM_E8M0) {
    if (f->k % 32 != 0)
      return INVALID("%s: weight_scale: e8m0 (MX) scales need K %% 32 == 0, got K = %lld", f->op,
                     (ll)f->k);
    if (!weight_2d(f, t, f->k / 32, f->n))
      return INVALID("%s: weight_scale.shape: e8m0 (MX) scales must be [K/32, N] = [%lld, %lld]%s, "
                     "got %s",
                     f->op, (ll)(f->k / 32), (ll)f->n, batch_note,
                     fp8g_shape_str(t, shape, sizeof shape));
    *forms = BIT(FP8G_FORM_MX);
    return FP8GEMM_OK;
  }
  if (t->dtype != FP8GEMM_F32)
    return INVALID("%s: weight_scale.dtype: expected f32 (or e8m0 for MX), got %s", f->op,
                   fp8g_dtype_str(t->dtype));
  int64_t kb = ceil_div(f->k, 128), nb = ceil_div(f->n, 128);
  unsigned m = 0;
  if (weight_tensor(f, t)) m |= BIT(FP8G_FORM_TENSOR);
  if (weight_channel(f, t)) m |= BIT(FP8G_FORM_CHANNEL);
  if (weight_2d(f, t, kb, nb)) m |= BIT(FP8G_FORM_BLOCK);
  if (!m)
    return INVALID("%s: weight_scale.shape: expected numel 1 (per-tensor), [N] / [1, N] / [N, 1] "
                   "with N = %lld (per-channel) or [ceil(K/128), ceil(N/128)] = [%lld, %lld] "
                   "(block 128x128)%s, got %s",
                   f->op, (ll)f->n, (ll)kb, (ll)nb, batch_note,
                   fp8g_shape_str(t, shape, sizeof shape));
  *forms = m;
  return FP8GEMM_OK;
}

/* The pairings of ops.md, simplest first: the first one both scales can be read as wins. */
static const struct pairing {
  fp8g_scale_form a, w;
  fp8g_scale_kind kind;
} pairings[] = {
    {FP8G_FORM_NONE, FP8G_FORM_NONE, FP8G_SCALE_NONE},
    {FP8G_FORM_NONE, FP8G_FORM_TENSOR, FP8G_SCALE_TENSOR},
    {FP8G_FORM_TENSOR, FP8G_FORM_NONE, FP8G_SCALE_TENSOR},
    {FP8G_FORM_TENSOR, FP8G_FORM_TENSOR, FP8G_SCALE_TENSOR},
    {FP8G_FORM_TOKEN, FP8G_FORM_NONE, FP8G_SCALE_ROWCOL},
    {FP8G_FORM_TOKEN, FP8G_FORM_TENSOR, FP8G_SCALE_ROWCOL},
    {FP8G_FORM_NONE, FP8G_FORM_CHANNEL, FP8G_SCALE_ROWCOL},
    {FP8G_FORM_TENSOR, FP8G_FORM_CHANNEL, FP8G_SCALE_ROWCOL},
    {FP8G_FORM_TOKEN, FP8G_FORM_CHANNEL, FP8G_SCALE_ROWCOL},
    {FP8G_FORM_BLOCK, FP8G_FORM_BLOCK, FP8G_SCALE_BLOCK},
    {FP8G_FORM_MX, FP8G_FORM_MX, FP8G_SCALE_MX},
};

static fp8gemm_status w8a8_scales(const fp8g_gemm_args *a, const facts *f, fp8g_gemm_plan *p) {
  unsigned af = 0, wf = 0;
  fp8gemm_status s = input_scale_forms(a, f, &af);
  if (s != FP8GEMM_OK) return s;
  s = weight_scale_forms(a, f, &wf);
  if (s != FP8GEMM_OK) return s;
  for (size_t i = 0; i < sizeof pairings / sizeof pairings[0]; i++) {
    if (!(af & BIT(pairings[i].a)) || !(wf & BIT(pairings[i].w))) continue;
    p->a_form = pairings[i].a;
    p->w_form = pairings[i].w;
    p->scale_kind = pairings[i].kind;
    if (p->scale_kind == FP8G_SCALE_BLOCK) {
      p->block_k = 128;
      p->block_n = 128;
    } else if (p->scale_kind == FP8G_SCALE_MX) {
      p->block_k = 32;
    }
    return FP8GEMM_OK;
  }
  char as[64], ws[64];
  return INVALID("%s: input_scales (%s) and weight_scale (%s) do not pair: expected {absent, "
                 "per-tensor, per-token} x {absent, per-tensor, per-channel}, block 1x128 x block "
                 "128x128, or mx x mx",
                 f->op, forms_str(af, as, sizeof as), forms_str(wf, ws, sizeof ws));
}

/* ---------------------------------------------------------- fp8_gemm_w8a16 scales */
static fp8gemm_status w8a16_scales(const fp8g_gemm_args *a, const facts *f, fp8g_gemm_plan *p) {
  static const int64_t groups[] = {128, 64, 32};
  const fp8gemm_tensor *t = a->weight_scale;
  char shape[128];
  p->a_form = FP8G_FORM_NONE;
  if (!t) {
    p->w_form = FP8G_FORM_NONE;
    p->scale_kind = FP8G_SCALE_NONE;
    return FP8GEMM_OK;
  }
  fp8gemm_status s = fp8g_check_tensor(f->op, "weight_scale", t, a->need_data);
  if (s != FP8GEMM_OK) return s;
  if (t->dtype != FP8GEMM_F32 && t->dtype != FP8GEMM_BF16 && t->dtype != FP8GEMM_E8M0)
    return INVALID("%s: weight_scale.dtype: expected f32, bf16 or e8m0, got %s", f->op,
                   fp8g_dtype_str(t->dtype));
  if (weight_tensor(f, t)) {
    p->w_form = FP8G_FORM_TENSOR;
    p->scale_kind = FP8G_SCALE_TENSOR;
    return FP8GEMM_OK;
  }
  if (weight_channel(f, t)) {
    p->w_form = FP8G_FORM_CHANNEL;
    p->scale_kind = FP8G_SCALE_ROWCOL;
    return FP8GEMM_OK;
  }
  for (int blocks = 0; blocks < 2; blocks++) {
    for (size_t i = 0; i < sizeof groups / sizeof groups[0]; i++) {
      int64_t g = groups[i], bn = blocks ? g : 1;
      if (!weight_2d(f, t, ceil_div(f->k, g), ceil_div(f->n, bn))) continue;
      p->w_form = blocks ? FP8G_FORM_BLOCK : FP8G_FORM_GROUP;
      p->scale_kind = FP8G_SCALE_BLOCK;
      p->block_k = g;
      p->block_n = bn;
      return FP8GEMM_OK;
    }
  }
  return INVALID("%s: weight_scale.shape: expected numel 1 (per-tensor), [N] / [1, N] / [N, 1] "
                 "with N = %lld (per-channel), [ceil(K/g), N] (groups along K) or [ceil(K/g), "
                 "ceil(N/g)] (g x g blocks) with K = %lld, g in {32, 64, 128}%s, got %s",
                 f->op, (ll)f->n, (ll)f->k,
                 f->batched ? " (each optionally with a leading dim 1 or B)" : "",
                 fp8g_shape_str(t, shape, sizeof shape));
}

/* ------------------------------------------------------------------------ bias */
static fp8gemm_status bias_kind(const fp8g_gemm_args *a, const facts *f, fp8g_bias_kind *kind) {
  const fp8gemm_tensor *t = a->bias;
  char shape[128];
  *kind = FP8G_BIAS_NONE;
  if (!t) return FP8GEMM_OK;
  fp8gemm_status s = fp8g_check_tensor(f->op, "bias", t, a->need_data);
  if (s != FP8GEMM_OK) return s;
  if (!fp8g_traits(t->dtype)->is_wide)
    return INVALID("%s: bias.dtype: expected f32, bf16 or f16, got %s", f->op,
                   fp8g_dtype_str(t->dtype));
  int64_t numel = fp8g_dims_product(t->dims, 0, t->ndim);
  if (numel == 0) return FP8GEMM_OK; /* empty means absent */
  if (numel == 1) *kind = FP8G_BIAS_SCALAR;
  else if (t->ndim >= 1 && t->dims[t->ndim - 1] == f->n && numel == f->n) *kind = FP8G_BIAS_COL;
  else if (rows_by(t, f->rows, 1)) *kind = FP8G_BIAS_ROW;
  else if (rows_by(t, f->rows, f->n)) *kind = FP8G_BIAS_FULL;
  else
    return INVALID("%s: bias.shape: expected numel 0 (none) or 1, [N] with N = %lld (per column), "
                   "[*, 1] with %lld rows (per row) or [*, %lld] with %lld rows (full), got %s",
                   f->op, (ll)f->n, (ll)f->rows, (ll)f->n, (ll)f->rows,
                   fp8g_shape_str(t, shape, sizeof shape));
  return FP8GEMM_OK;
}

/* ------------------------------------------------------------- read in place */
/* Dense over dims [from, ndim) and not empty: its data pointer is a valid dense array. */
static bool dense_array(const fp8gemm_tensor *t, int from) {
  return fp8g_dims_product(t->dims, 0, t->ndim) > 0 && fp8g_is_contiguous_from(t, from);
}

/* The column stride of a non-empty [..., x, y] whose last two dims are column-major
 * (unit step along x, columns at least x apart), else 0. */
static int64_t column_major_ld(const fp8gemm_tensor *t) {
  int d = t->ndim - 2;
  int64_t x = t->dims[d], y = t->dims[d + 1];
  if (fp8g_dims_product(t->dims, 0, t->ndim) <= 0 || (x > 1 && t->strides[d] != 1)) return 0;
  if (y == 1) return x;
  return t->strides[d + 1] >= x ? t->strides[d + 1] : 0;
}

/* Which scales and bias the kernels read where they are (gemm_infer.h). Absent scales
 * are a constant 1 unless the kind writes them out per row / column (ROWCOL), and so is
 * a per-tensor scale the kind reads as one value; everything else must be f32 (e8m0
 * codes for fp8_gemm's MX) and dense per batch. */
static void plan_in_place(const fp8g_gemm_args *a, const facts *f, fp8g_gemm_plan *p) {
  const fp8gemm_tensor *sa = a->input_scales, *sw = a->weight_scale;
  switch (p->a_form) {
    case FP8G_FORM_NONE: p->a_in_place = p->scale_kind != FP8G_SCALE_ROWCOL; break;
    case FP8G_FORM_TENSOR: p->a_in_place = p->scale_kind == FP8G_SCALE_TENSOR; break;
    default: p->a_in_place = dense_array(sa, 0); break; /* per-token, block, MX */
  }
  int from = p->w_per_batch ? 1 : 0;
  bool f32 = sw && sw->dtype == FP8GEMM_F32;
  switch (p->w_form) {
    case FP8G_FORM_NONE: p->w_in_place = p->scale_kind != FP8G_SCALE_ROWCOL; break;
    case FP8G_FORM_TENSOR: p->w_in_place = f32 && p->scale_kind == FP8G_SCALE_TENSOR; break;
    case FP8G_FORM_MX: p->w_in_place = !f->w8a16 && dense_array(sw, from); break;
    default: p->w_in_place = f32 && dense_array(sw, from); break; /* channel, group, block */
  }
  p->w_eb_ld = p->w_form == FP8G_FORM_MX && !f->w8a16 && !p->w_in_place ? column_major_ld(sw) : 0;
  p->w_batch_stride = (p->w_in_place || p->w_eb_ld) && p->w_per_batch ? sw->strides[0] : 0;
  p->bias_in_place = p->bias_kind != FP8G_BIAS_NONE && a->bias->dtype == FP8GEMM_F32 &&
                     dense_array(a->bias, 0);
}

/* ------------------------------------------------------------------- workspace */
/* Reserves count * elem bytes at a 64-byte aligned offset; false on overflow. */
static bool reserve(size_t *total, size_t *off, int64_t count, size_t elem) {
  size_t start = (*total + 63) & ~(size_t)63, bytes;
  if (start < *total || count < 0) return false;
  if (__builtin_mul_overflow((size_t)count, elem, &bytes)) return false;
  if (__builtin_add_overflow(start, bytes, total)) return false;
  *off = start;
  return true;
}

static fp8gemm_status plan_workspace(const facts *f, fp8g_gemm_plan *p) {
  int64_t rows = p->rows, n = p->n, kb = p->a_kblocks, nb = p->b_nblocks;
  bool w8a8 = !f->w8a16;
  switch (p->scale_kind) {
    case FP8G_SCALE_NONE: break;
    case FP8G_SCALE_TENSOR:
      p->n_sa = w8a8 ? 1 : 0;
      p->n_sb_batch = 1;
      break;
    case FP8G_SCALE_ROWCOL:
      p->n_sa = w8a8 ? rows : 0;
      p->n_sb_batch = n;
      break;
    case FP8G_SCALE_BLOCK:
      if (w8a8 && __builtin_mul_overflow(rows, kb, &p->n_sa)) p->n_sa = -1;
      if (__builtin_mul_overflow(kb, nb, &p->n_sb_batch)) p->n_sb_batch = -1;
      break;
    case FP8G_SCALE_MX:
      if (__builtin_mul_overflow(rows, kb, &p->n_ea)) p->n_ea = -1;
      if (__builtin_mul_overflow(kb, n, &p->n_eb_batch)) p->n_eb_batch = -1;
      break;
  }
  switch (p->bias_kind) {
    case FP8G_BIAS_NONE: break;
    case FP8G_BIAS_SCALAR: p->n_bias = 1; break;
    case FP8G_BIAS_COL: p->n_bias = n; break;
    case FP8G_BIAS_ROW: p->n_bias = rows; break;
    case FP8G_BIAS_FULL: p->n_bias = rows * n; break; /* = numel(out), checked */
  }
  int64_t sb_batches = p->w_per_batch ? p->batch : 1, n_sb = 0, n_eb = 0;
  bool ok = !__builtin_mul_overflow(p->n_sb_batch, sb_batches, &n_sb) &&
            !__builtin_mul_overflow(p->n_eb_batch, sb_batches, &n_eb);
  int64_t ws_sa = p->a_in_place ? 0 : p->n_sa, ws_ea = p->a_in_place ? 0 : p->n_ea;
  int64_t ws_sb = p->w_in_place ? 0 : n_sb, ws_eb = p->w_in_place ? 0 : n_eb;
  int64_t ws_bias = p->bias_in_place ? 0 : p->n_bias;
  size_t total = 0;
  ok = ok && reserve(&total, &p->off_rows, rows, sizeof(int64_t)) &&
       reserve(&total, &p->off_sa, ws_sa, sizeof(float)) &&
       reserve(&total, &p->off_sb, ws_sb, sizeof(float)) &&
       reserve(&total, &p->off_ea, ws_ea, 1) && reserve(&total, &p->off_eb, ws_eb, 1) &&
       reserve(&total, &p->off_bias, ws_bias, sizeof(float));
  if (!ok)
    return INVALID("%s: the workspace for %lld rows x %lld columns overflows the address space",
                   f->op, (ll)rows, (ll)n);
  p->workspace = (total + 63) & ~(size_t)63;
  return FP8GEMM_OK;
}

/* ------------------------------------------------------------------------ infer */
fp8gemm_status fp8g_gemm_infer(const fp8g_gemm_args *a, fp8g_gemm_plan *plan) {
  facts f = {fp8g_gemm_op_str(a->op), a->op == FP8GEMM_OP_FP8_GEMM_W8A16, false, a->need_data,
             1, 0, 0, 0};
  fp8gemm_status s = check_operands(a, &f);
  if (s != FP8GEMM_OK) return s;

  fp8gemm_dtype out_dtype = a->input->dtype;
  if (!f.w8a16) {
    out_dtype = a->out_dtype == FP8GEMM_DTYPE_NONE ? FP8GEMM_F16 : a->out_dtype;
    if (out_dtype != FP8GEMM_BF16 && out_dtype != FP8GEMM_F16 && out_dtype != FP8GEMM_F32)
      return INVALID("%s: out_dtype: expected bf16, f16 or f32 (none means f16), got %s", f.op,
                     fp8g_dtype_str(a->out_dtype));
  }

  fp8g_gemm_plan p = {0};
  p.batch = f.batch;
  p.rows = f.rows;
  p.m = f.batched ? a->input->dims[1] : f.rows;
  p.n = f.n;
  p.k = f.k;
  p.block_k = f.k;
  p.block_n = 1;
  s = f.w8a16 ? w8a16_scales(a, &f, &p) : w8a8_scales(a, &f, &p);
  if (s != FP8GEMM_OK) return s;
  const fp8gemm_tensor *ws = a->weight_scale;
  p.w_per_batch = p.w_form != FP8G_FORM_NONE && f.batched && ws->ndim == 3 && ws->dims[0] != 1;
  p.a_kblocks = p.block_k > 0 ? ceil_div(f.k, p.block_k) : 0;
  p.b_nblocks = ceil_div(f.n, p.block_n);
  s = bias_kind(a, &f, &p.bias_kind);
  if (s != FP8GEMM_OK) return s;

  int64_t dims[FP8GEMM_MAX_DIMS];
  int rank = a->input->ndim;
  for (int i = 0; i < rank - 1; i++) dims[i] = a->input->dims[i];
  dims[rank - 1] = f.n;
  fp8g_make_contiguous(&p.out, out_dtype, rank, dims);
  s = fp8g_check_tensor(f.op, "out", &p.out, false);
  if (s != FP8GEMM_OK) return s;
  if (fp8g_dims_product(dims, 0, rank) > 0) {
    plan_in_place(a, &f, &p);
    s = plan_workspace(&f, &p);
    if (s != FP8GEMM_OK) return s;
  }
  *plan = p;
  return FP8GEMM_OK;
}
