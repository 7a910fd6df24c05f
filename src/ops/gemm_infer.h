/*
 * The one shape function of fp8_gemm and fp8_gemm_w8a16, and the run pipeline built on
 * it. The public *_infer entries, the real ops and any later variant (e.g. a prepacked
 * weight that keeps the original weight / weight_scale descriptors with data = NULL)
 * all go through fp8g_gemm_infer, so shapes are computed in exactly one place.
 */
#ifndef FP8GEMM_GEMM_INFER_H
#define FP8GEMM_GEMM_INFER_H

#include "../kernels/gemm_kernels.h"

/* How one scale tensor was read (see docs/ops.md for the shapes). */
typedef enum fp8g_scale_form {
  FP8G_FORM_NONE = 0, /* absent: 1 */
  FP8G_FORM_TENSOR,   /* one value (per batch for [B, 1, 1]) */
  FP8G_FORM_TOKEN,    /* input: one per row */
  FP8G_FORM_CHANNEL,  /* weight: one per column */
  FP8G_FORM_GROUP,    /* w8a16 weight: [ceil(K/g), N] */
  FP8G_FORM_BLOCK,    /* input [rows, ceil(K/128)]; weight [ceil(K/g), ceil(N/g)] */
  FP8G_FORM_MX        /* e8m0, 32 along K: input [rows, K/32]; weight [K/32, N] */
} fp8g_scale_form;

typedef struct fp8g_gemm_args {
  fp8gemm_op op;                      /* FP8GEMM_OP_FP8_GEMM or FP8GEMM_OP_FP8_GEMM_W8A16 */
  const fp8gemm_tensor *input;        /* q_input (fp8) or input (wide) */
  const fp8gemm_tensor *weight;       /* q_weight; only dtype / ndim / dims are looked at by infer */
  fp8gemm_dtype out_dtype;            /* fp8_gemm only; NONE -> f16 */
  const fp8gemm_tensor *input_scales; /* fp8_gemm only */
  const fp8gemm_tensor *weight_scale;
  const fp8gemm_tensor *bias;
  bool need_data;                     /* the real op: non-empty tensors must carry data */
} fp8g_gemm_args;

typedef struct fp8g_gemm_plan {
  int64_t batch, m, n, k, rows;    /* rows = batch * m = prod(input.shape[:-1]) */
  fp8g_scale_form a_form, w_form;
  bool w_per_batch;                /* weight_scale has a leading batch dim B > 1 */
  fp8g_scale_kind scale_kind;
  int64_t block_k, block_n, a_kblocks, b_nblocks;
  fp8g_bias_kind bias_kind;
  /* Read in place (no copy, no workspace): the tensor already holds the dense form
   * gemm_kernels.h describes, in its dtype (f32; e8m0 codes for MX), or the scale is
   * absent and a constant 1 stands in. Per-batch weight scales in place advance by
   * w_batch_stride elements (their own stride; 0 when one is shared). */
  bool a_in_place, w_in_place, bias_in_place;
  int64_t w_batch_stride;
  /* An MX weight scale not in place whose [K/32, N] is column-major (the NT view of a
   * checkpoint's [N, K/32]): its column stride (>= K/32), else 0. Handed over in place
   * (problem eb_ld) to the kernels that read it so, gathered for the others
   * (fp8g_gemm_fit_scales); workspace is reserved for the gather either way. */
  int64_t w_eb_ld;
  fp8gemm_tensor out;              /* contiguous, data = NULL */
  /* Workspace the real op allocates: byte offsets of each dense array (the gathered
   * ones; nothing is reserved for what is read in place), and counts. */
  size_t off_rows, off_sa, off_sb, off_ea, off_eb, off_bias, workspace;
  int64_t n_sa, n_sb_batch, n_ea, n_eb_batch, n_bias; /* sb / eb counts are per batch */
} fp8g_gemm_plan;

/* Validates every rule and fills *plan; writes nothing else. */
fp8gemm_status fp8g_gemm_infer(const fp8g_gemm_args *args, fp8g_gemm_plan *plan);

/* Builds the canonical problem from a plan: the row-offset table, and the scales and
 * bias not read in place, are gathered into `workspace` (plan->workspace bytes, 64-byte
 * aligned). */
void fp8g_gemm_prepare(const fp8g_gemm_args *args, const fp8g_gemm_plan *plan, void *workspace,
                       void *out_data, fp8g_gemm_problem *p);

/* After selection: an MX weight scale the plan left column-major (w_eb_ld) stays so when
 * the kernel reads it (reads_eb_cols), else it is gathered into `workspace`
 * as [K/32, N] now. The one place where the layout of a problem's eb is decided. */
void fp8g_gemm_fit_scales(const fp8g_gemm_args *args, const fp8g_gemm_plan *plan, void *workspace,
                          const fp8g_gemm_kernel *kernel, fp8g_gemm_problem *p);

/* The public *_infer entry: infer, then the output descriptor and workspace size
 * (workspace_size may be NULL). */
fp8gemm_status fp8g_gemm_infer_public(const fp8g_gemm_args *args, fp8gemm_tensor *out_desc,
                                      size_t *workspace_size);

/* The whole real op: infer, check `out`, allocate, prepare, select, run, free. */
fp8gemm_status fp8g_gemm_execute(const fp8g_gemm_args *args, fp8gemm_tensor *out);

/* "fp8_gemm" / "fp8_gemm_w8a16". */
const char *fp8g_gemm_op_str(fp8gemm_op op);

/* Where a packed weight's codes live (gemm_packed.c): for tests of their placement. */
const void *fp8g_packed_codes(const fp8gemm_packed_weight *packed);

#endif /* FP8GEMM_GEMM_INFER_H */
