/*
 * The real fp8_gemm / fp8_gemm_w8a16: infer, check `out`, gather the operands'
 * addressing, scales and bias into the canonical problem, pick a kernel, run it.
 * Scales and bias are read at their logical flat index through their own strides,
 * so any layout of them works; `out` is written only by the kernel, after everything
 * that can fail has been done.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gemm_infer.h"

static const float unit_scale = 1.0f;

/* Element at element offset `off` of a scale / bias tensor as fp32. */
static float load_f32_at(const fp8gemm_tensor *t, int64_t off) {
  if (t->dtype == FP8GEMM_E8M0) {
    uint8_t code = ((const uint8_t *)t->data)[off];
    return code == 0xFF ? NAN : ldexpf(1.0f, (int)code - 127); /* exact, 2^-127 included */
  }
  return fp8g_load_wide(t->data, t->dtype, off);
}

/* Element `flat` (row-major logical index) of a scale / bias tensor as fp32. */
static float load_f32(const fp8gemm_tensor *t, int64_t flat) {
  return load_f32_at(t, fp8g_offset_of(t, t->ndim, flat));
}

/* Elements [from, from + n) in logical order. Contiguous tensors (the usual case, and
 * MX weight scales hold K/32 * N codes) skip the per-element offset arithmetic. */
static void gather_f32(const fp8gemm_tensor *t, int64_t from, int64_t n, float *dst) {
  bool flat = fp8g_is_contiguous(t);
  for (int64_t i = 0; i < n; i++)
    dst[i] = flat ? load_f32_at(t, from + i) : load_f32(t, from + i);
}

static void gather_codes(const fp8gemm_tensor *t, int64_t from, int64_t n, uint8_t *dst) {
  const uint8_t *src = t->data;
  if (fp8g_is_contiguous(t)) {
    memcpy(dst, src + from, (size_t)n);
    return;
  }
  for (int64_t i = 0; i < n; i++) dst[i] = src[fp8g_offset_of(t, t->ndim, from + i)];
}

/* Input scale of `row` for the broadcast kinds (TENSOR / ROWCOL). */
static float row_scale(const fp8g_gemm_args *a, const fp8g_gemm_plan *pl, int64_t row) {
  switch (pl->a_form) {
    case FP8G_FORM_TENSOR: return load_f32(a->input_scales, 0);
    case FP8G_FORM_TOKEN: return load_f32(a->input_scales, row);
    default: return 1.0f;
  }
}

static void gather_input_scales(const fp8g_gemm_args *a, const fp8g_gemm_plan *pl, char *ws,
                                fp8g_gemm_problem *p) {
  float *sa = (float *)(ws + pl->off_sa);
  uint8_t *ea = (uint8_t *)(ws + pl->off_ea);
  switch (pl->scale_kind) {
    case FP8G_SCALE_NONE: p->sa = &unit_scale; break;
    case FP8G_SCALE_TENSOR: sa[0] = row_scale(a, pl, 0); break;
    case FP8G_SCALE_ROWCOL:
      for (int64_t r = 0; r < pl->rows; r++) sa[r] = row_scale(a, pl, r);
      break;
    case FP8G_SCALE_BLOCK:
      gather_f32(a->input_scales, 0, pl->n_sa, sa);
      break;
    case FP8G_SCALE_MX:
      gather_codes(a->input_scales, 0, pl->n_ea, ea);
      p->ea = ea;
      break;
  }
  if (p->scale_kind != FP8G_SCALE_NONE && p->scale_kind != FP8G_SCALE_MX) p->sa = sa;
}

static void gather_weight_scales(const fp8g_gemm_args *a, const fp8g_gemm_plan *pl, char *ws,
                                 fp8g_gemm_problem *p) {
  const fp8gemm_tensor *t = a->weight_scale;
  int64_t batches = pl->w_per_batch ? pl->batch : 1;
  float *sb = (float *)(ws + pl->off_sb);
  uint8_t *eb = (uint8_t *)(ws + pl->off_eb);
  int64_t per = pl->scale_kind == FP8G_SCALE_MX ? pl->n_eb_batch : pl->n_sb_batch;
  p->sb_batch_stride = pl->w_per_batch ? per : 0;
  p->sb = sb;
  for (int64_t b = 0; b < batches; b++) {
    /* Per-batch forms are [B, x, y]: batch b's values start at flat b * x * y; the
     * per-tensor value sits at flat b. */
    switch (pl->scale_kind) {
      case FP8G_SCALE_NONE: p->sb = &unit_scale; break;
      case FP8G_SCALE_TENSOR:
        sb[b] = pl->w_form == FP8G_FORM_TENSOR ? load_f32(t, b) : 1.0f;
        break;
      case FP8G_SCALE_ROWCOL:
        for (int64_t j = 0; j < pl->n; j++)
          sb[b * per + j] = pl->w_form == FP8G_FORM_CHANNEL ? load_f32(t, b * per + j)
                            : pl->w_form == FP8G_FORM_TENSOR ? load_f32(t, b)
                                                             : 1.0f;
        break;
      case FP8G_SCALE_BLOCK:
        gather_f32(t, b * per, per, sb + b * per);
        break;
      case FP8G_SCALE_MX:
        gather_codes(t, b * per, per, eb + b * per);
        p->eb = eb;
        p->sb = NULL;
        break;
    }
  }
}

static void gather_bias(const fp8g_gemm_args *a, const fp8g_gemm_plan *pl, char *ws,
                        fp8g_gemm_problem *p) {
  float *bias = (float *)(ws + pl->off_bias);
  if (pl->bias_kind != FP8G_BIAS_NONE) gather_f32(a->bias, 0, pl->n_bias, bias);
  p->bias_kind = pl->bias_kind;
  p->bias = pl->bias_kind == FP8G_BIAS_NONE ? NULL : bias;
}

void fp8g_gemm_prepare(const fp8g_gemm_args *a, const fp8g_gemm_plan *pl, void *workspace,
                       void *out_data, fp8g_gemm_problem *p) {
  char *ws = workspace;
  const fp8gemm_tensor *x = a->input, *w = a->weight;
  int rank = x->ndim, wk = w->ndim - 2;
  int64_t *rows = (int64_t *)(ws + pl->off_rows);
  for (int64_t r = 0; r < pl->rows; r++) rows[r] = fp8g_offset_of(x, rank - 1, r);

  *p = (fp8g_gemm_problem){0};
  p->batch = pl->batch;
  p->m = pl->m;
  p->n = pl->n;
  p->k = pl->k;
  p->a_dtype = x->dtype;
  p->a = x->data;
  p->a_row_offset = rows;
  p->a_stride_k = x->strides[rank - 1];
  p->b_dtype = w->dtype;
  p->b = w->data;
  p->b_batch_stride = w->ndim == 3 ? w->strides[0] : 0;
  p->b_stride_k = w->strides[wk];
  p->b_stride_n = w->strides[wk + 1];
  p->scale_kind = pl->scale_kind;
  p->block_k = pl->block_k;
  p->block_n = pl->block_n;
  p->a_kblocks = pl->a_kblocks;
  p->b_nblocks = pl->b_nblocks;
  if (a->op == FP8GEMM_OP_FP8_GEMM) gather_input_scales(a, pl, ws, p);
  gather_weight_scales(a, pl, ws, p);
  gather_bias(a, pl, ws, p);
  p->out_dtype = pl->out.dtype;
  p->out = out_data;
  p->nthreads = fp8gemm_get_num_threads();
}

fp8gemm_status fp8g_gemm_infer_public(const fp8g_gemm_args *a, fp8gemm_tensor *out_desc,
                                      size_t *workspace_size) {
  if (!out_desc)
    return fp8g_error(FP8GEMM_INVALID_ARGUMENT, "%s: out_desc is NULL, expected a descriptor",
                      fp8g_gemm_op_str(a->op));
  fp8g_gemm_plan plan;
  fp8gemm_status s = fp8g_gemm_infer(a, &plan);
  if (s != FP8GEMM_OK) return s;
  *out_desc = plan.out;
  if (workspace_size) *workspace_size = plan.workspace;
  return FP8GEMM_OK;
}

fp8gemm_status fp8g_gemm_execute(const fp8g_gemm_args *a, fp8gemm_tensor *out) {
  const char *op = fp8g_gemm_op_str(a->op);
  fp8g_gemm_plan plan;
  fp8gemm_status s = fp8g_gemm_infer(a, &plan);
  if (s != FP8GEMM_OK) return s;
  s = fp8g_check_out(op, "out", out, &plan.out);
  if (s != FP8GEMM_OK) return s;
  if (fp8g_dims_product(plan.out.dims, 0, plan.out.ndim) == 0) return FP8GEMM_OK;

  void *ws = aligned_alloc(64, plan.workspace);
  if (!ws)
    return fp8g_error(FP8GEMM_OUT_OF_MEMORY, "%s: cannot allocate %zu bytes of workspace", op,
                      plan.workspace);
  fp8g_gemm_problem p;
  fp8g_gemm_prepare(a, &plan, ws, out->data, &p);
  /* k == 0 (out = bias) is served by the reference: kernels are promised k >= 1. */
  const fp8g_gemm_kernel *kernel =
      p.k == 0 ? (a->op == FP8GEMM_OP_FP8_GEMM ? &fp8g_gemm_ref_w8a8 : &fp8g_gemm_ref_w8a16)
               : fp8g_gemm_select(a->op, &p);
  s = kernel ? kernel->run(&p)
             : fp8g_error(FP8GEMM_INTERNAL_ERROR, "%s: no kernel supports this problem", op);
  free(ws);
  return s;
}
