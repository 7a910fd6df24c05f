/*
 * The real fp8_gemm / fp8_gemm_w8a16: infer, check `out`, gather the operands'
 * addressing, scales and bias into the canonical problem, pick a kernel, run it.
 * Scales and bias already in the kernels' dense form (f32, or e8m0 codes for MX, dense
 * per batch: the plan's *_in_place) are handed over as pointers; the others are copied
 * into the workspace by fp8g_gather_dense, which walks any strides without a division
 * per element and transposes transposed views in tiles. One exception is decided after
 * selection (fp8g_gemm_fit_scales): an MX weight scale stored [N, K/32] (its NT view)
 * stays in place for a kernel that reads it column-major. Either way the kernels read the
 * same values, so the result does not depend on the layout. `out` is written only by
 * the kernel, after everything that can fail has been done.
 */
#include <stdlib.h>
#include <string.h>

#include "../core/dense_gather.h"
#include "gemm_infer.h"

static const float unit_scale = 1.0f;

/* Element at element offset `off` of a scale tensor as fp32 (through a rank-0 view). */
static float value_at(const fp8gemm_tensor *t, int64_t off) {
  fp8gemm_tensor one = *t;
  one.ndim = 0;
  one.data = (char *)t->data + (size_t)off * (size_t)(fp8gemm_dtype_bits(t->dtype) / 8);
  float v;
  fp8g_gather_dense(&one, true, &v);
  return v;
}

static void fill(float *dst, int64_t n, float v) {
  for (int64_t i = 0; i < n; i++) dst[i] = v;
}

static void gather_input_scales(const fp8g_gemm_args *a, const fp8g_gemm_plan *pl, char *ws,
                                fp8g_gemm_problem *p) {
  const fp8gemm_tensor *t = a->input_scales;
  float *sa = (float *)(ws + pl->off_sa);
  uint8_t *ea = (uint8_t *)(ws + pl->off_ea);
  if (pl->scale_kind == FP8G_SCALE_NONE) {
    p->sa = &unit_scale;
  } else if (pl->scale_kind == FP8G_SCALE_MX) {
    if (!pl->a_in_place) fp8g_gather_dense(t, false, ea);
    p->ea = pl->a_in_place ? t->data : ea;
  } else if (pl->a_in_place) {
    p->sa = t ? t->data : &unit_scale;
  } else if (pl->a_form == FP8G_FORM_TOKEN || pl->a_form == FP8G_FORM_BLOCK) {
    fp8g_gather_dense(t, true, sa);
    p->sa = sa;
  } else { /* ROWCOL with a per-tensor or absent input scale: written out per row */
    fill(sa, pl->rows, pl->a_form == FP8G_FORM_TENSOR ? value_at(t, 0) : 1.0f);
    p->sa = sa;
  }
}

static void gather_weight_scales(const fp8g_gemm_args *a, const fp8g_gemm_plan *pl, char *ws,
                                 fp8g_gemm_problem *p) {
  const fp8gemm_tensor *t = a->weight_scale;
  bool mx = pl->scale_kind == FP8G_SCALE_MX;
  if (pl->w_in_place) {
    const void *data = t ? t->data : &unit_scale;
    p->sb = mx ? NULL : data;
    p->eb = mx ? data : NULL;
    p->sb_batch_stride = pl->w_batch_stride;
    return;
  }
  if (pl->w_eb_ld) { /* column-major MX codes: in place until fp8g_gemm_fit_scales */
    p->eb = t->data;
    p->eb_ld = pl->w_eb_ld;
    p->sb_batch_stride = pl->w_batch_stride;
    return;
  }
  float *sb = (float *)(ws + pl->off_sb);
  uint8_t *eb = (uint8_t *)(ws + pl->off_eb);
  int64_t per = mx ? pl->n_eb_batch : pl->n_sb_batch;
  p->sb_batch_stride = pl->w_per_batch ? per : 0;
  if (mx) {
    fp8g_gather_dense(t, false, eb);
    p->eb = eb;
    return;
  }
  p->sb = sb;
  if (pl->scale_kind == FP8G_SCALE_ROWCOL && pl->w_form != FP8G_FORM_CHANNEL) {
    /* A per-tensor (per-batch [B, 1, 1]) or absent weight scale written out per column. */
    int64_t batches = pl->w_per_batch ? pl->batch : 1;
    for (int64_t b = 0; b < batches; b++) {
      float v = pl->w_form != FP8G_FORM_TENSOR ? 1.0f
                : value_at(t, pl->w_per_batch ? b * t->strides[0] : 0);
      fill(sb + b * per, per, v);
    }
    return;
  }
  fp8g_gather_dense(t, true, sb); /* every value, batch after batch */
}

static void gather_bias(const fp8g_gemm_args *a, const fp8g_gemm_plan *pl, char *ws,
                        fp8g_gemm_problem *p) {
  float *bias = (float *)(ws + pl->off_bias);
  p->bias_kind = pl->bias_kind;
  p->bias = NULL;
  if (pl->bias_kind == FP8G_BIAS_NONE) return;
  if (pl->bias_in_place) {
    p->bias = a->bias->data;
    return;
  }
  fp8g_gather_dense(a->bias, true, bias);
  p->bias = bias;
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

/* A column-major MX weight scale stays in place for a kernel that declares it reads it
 * (fp8g_gemm_kernel.reads_eb_cols: the decode kernels gemv_avx512bf16 and gemv_avx2);
 * every other kernel gets [K/32, N] gathered. */
void fp8g_gemm_fit_scales(const fp8g_gemm_args *a, const fp8g_gemm_plan *pl, void *workspace,
                          const fp8g_gemm_kernel *kernel, fp8g_gemm_problem *p) {
  if (!p->eb_ld || kernel->reads_eb_cols) return;
  uint8_t *eb = (uint8_t *)workspace + pl->off_eb;
  fp8g_gather_dense(a->weight_scale, false, eb);
  p->eb = eb;
  p->eb_ld = 0;
  p->sb_batch_stride = pl->w_per_batch ? pl->n_eb_batch : 0;
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
  if (kernel) fp8g_gemm_fit_scales(a, &plan, ws, kernel, &p);
  s = kernel ? kernel->run(&p)
             : fp8g_error(FP8GEMM_INTERNAL_ERROR, "%s: no kernel supports this problem", op);
  free(ws);
  return s;
}
