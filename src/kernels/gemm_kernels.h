/*
 * The canonical GEMM problem: what the op layer (src/ops/gemm*.c) hands to a kernel
 * after its infer function has validated everything. Kernels never see ranks,
 * permutations or scale shapes: rows are addressed through an offset table, and
 * scales, bias arrive in the dense forms described below (the caller's own memory when
 * it already has that form, else a copy the op layer gathered: read them, never write
 * them, and never past their last element).
 *
 * Guarantees the op layer gives every kernel:
 *   - batch >= 1, m >= 1, n >= 1, k >= 1 (empty outputs and k == 0 never reach a
 *     kernel: the op layer serves them itself);
 *   - every pointer the scale / bias kind uses is valid and dense as documented;
 *   - `out` is contiguous and does not alias any input.
 * What a kernel owes the op layer: `supports` reads no data; `run` either succeeds or
 * fails before writing `out` (allocate scratch first), and its result is within the
 * ops.md bound of the reference (kernels/ref/gemm_ref.c) for every thread count.
 */
#ifndef FP8GEMM_GEMM_KERNELS_H
#define FP8GEMM_GEMM_KERNELS_H

#include "../internal.h"

typedef enum fp8g_scale_kind {
  FP8G_SCALE_NONE = 0,    /* all scales 1 (sa, sb still point at a 1.0f, sb_batch_stride 0) */
  FP8G_SCALE_TENSOR = 1,  /* one fp32 scale per operand: sa[0], sb[0] */
  FP8G_SCALE_ROWCOL = 2,  /* sa[row] (per token, or broadcast), sb[col] (per channel, or broadcast) */
  FP8G_SCALE_BLOCK = 3,   /* sa[row * a_kblocks + kb], sb[kb * b_nblocks + col / block_n] fp32 */
  FP8G_SCALE_MX = 4,      /* e8m0: ea[row * (K/32) + kb], eb[kb * N + col], block_k = 32 */
} fp8g_scale_kind;

typedef enum fp8g_bias_kind {
  FP8G_BIAS_NONE = 0,
  FP8G_BIAS_SCALAR = 1, /* bias[0] */
  FP8G_BIAS_COL = 2,    /* bias[col] */
  FP8G_BIAS_ROW = 3,    /* bias[row] */
  FP8G_BIAS_FULL = 4    /* bias[row * n + col] */
} fp8g_bias_kind;

/*
 * out[b][i][j] = round_out( sum_k A(b,i,k) * B(b,k,j) (scaled per kind) + bias )
 * ("row" below is the flat row b * m + i; "kb" a K block of block_k elements, the last
 * one partial when block_k does not divide k.)
 *
 * W8A8 (fp8_gemm): A and B fp8 (they may be different fp8 dtypes). Scaled sum per
 * K block (block_k = k, a_kblocks = 1 for NONE/TENSOR/ROWCOL):
 *   sum_kb  sa(row, kb) * sb(kb, col) * sum_{k in kb} decode(a) * decode(b)
 * MX: the scale of block kb is 2^(ea - 127) * 2^(eb - 127) (code 0xFF is NaN); the
 * product spans 2^+-254, so apply it with exponent arithmetic, not one fp32 multiply.
 *
 * W8A16 (fp8_gemm_w8a16): A is bf16 / f16 / f32 and out_dtype == a_dtype. Only B is
 * scaled: sa == NULL and ea == eb == NULL; every weight scale (f32, bf16 or e8m0 in
 * the call) arrives as exact fp32 in sb:
 *   NONE / TENSOR  sb[0]
 *   ROWCOL         sb[col]                      (per channel)
 *   BLOCK          sb[kb * b_nblocks + col / block_n]; block_k = g and block_n = 1 for
 *                  groups along K ([K/g, N]), block_n = g for g x g blocks.
 *
 * Batched weights (batch > 1): sb and eb of batch b start at + b * sb_batch_stride
 * (0 when one weight scale is shared by every batch).
 */
typedef struct fp8g_gemm_problem {
  int64_t batch;        /* >= 1; B operand advances by b_batch_stride per batch */
  int64_t m, n, k;      /* rows per batch, columns, reduction length */

  /* A: element (b, i, kk) at a + a_row_offset[b * m + i] + kk * a_stride_k (elements) */
  fp8gemm_dtype a_dtype;
  const void *a;
  const int64_t *a_row_offset; /* batch * m entries */
  int64_t a_stride_k;

  /* B: element (b, kk, j) at b + b * b_batch_stride + kk * b_stride_k + j * b_stride_n */
  fp8gemm_dtype b_dtype;
  const uint8_t *b;
  int64_t b_batch_stride, b_stride_k, b_stride_n;
  /* B in the N-interleaved layout instead (kernels/nk_layout.h; a packed weight): the
   * [N, K] codes of batch b are fp8g_nk_bytes(n, k) bytes at b + b * b_batch_stride
   * (b_batch_stride == fp8g_nk_bytes(n, k) when batch > 1), code (kk, j) at
   * fp8g_nk_offset(k, j, kk), zero codes past N and K; b_stride_k, b_stride_n are 0.
   * Only kernels that declare reads_b_nk may see such a problem; every other kernel
   * must get the NT codes unpacked. A kernel that reads it and hands the problem on
   * must hand it to a kernel that reads it too, or unpack it first. No call builds one
   * yet (packed weights are NT; the NK producers and readers are being merged). */
  bool b_nk;

  /* Scales (dense; read only, possibly the caller's tensors). */
  fp8g_scale_kind scale_kind;
  int64_t block_k;      /* K extent of one scale block (k when the kind has no K blocks) */
  int64_t block_n;      /* N extent of one weight-scale block (1 for per-channel / MX) */
  int64_t a_kblocks;    /* ceil(k / block_k) */
  int64_t b_nblocks;    /* ceil(n / block_n) */
  const float *sa;      /* TENSOR: [1]; ROWCOL: [batch*m] (broadcast written out); BLOCK: [batch*m][a_kblocks]; NULL for w8a16 */
  const float *sb;      /* TENSOR: [1]; ROWCOL: [n] (broadcast written out); BLOCK: [a_kblocks][b_nblocks]; per batch: + b * sb_batch_stride */
  int64_t sb_batch_stride;
  const uint8_t *ea;    /* MX: [batch*m][k/32] e8m0 */
  const uint8_t *eb;    /* MX: [k/32][n] e8m0, + b * sb_batch_stride */
  /* MX weight exponents column-major: 0 for every kernel but the ones that declare they
   * read it (fp8g_gemm_kernel.reads_eb_cols). > 0: code (kb, col) of batch b at
   * eb[b * sb_batch_stride + col * eb_ld + kb], eb_ld >= k/32: the checkpoint's [N, K/32]
   * read in place. A kernel handing such a problem to another kernel gives it [k/32][n]. */
  int64_t eb_ld;

  /* Bias (converted to fp32 by the op layer). */
  fp8g_bias_kind bias_kind;
  const float *bias;

  /* Output: contiguous [batch*m][n]. */
  fp8gemm_dtype out_dtype;
  void *out;

  int nthreads;
} fp8g_gemm_problem;

/* The bias term of output (row, col) as bias_kind lays it out; 0 without a bias. */
static inline double fp8g_bias_at(const fp8g_gemm_problem *p, int64_t row, int64_t col) {
  switch (p->bias_kind) {
    case FP8G_BIAS_SCALAR: return p->bias[0];
    case FP8G_BIAS_COL: return p->bias[col];
    case FP8G_BIAS_ROW: return p->bias[row];
    case FP8G_BIAS_FULL: return p->bias[row * p->n + col];
    default: return 0.0;
  }
}

/* A kernel for one op: `supports` is pure (no data read); `run` computes the problem. */
typedef struct fp8g_gemm_kernel {
  const char *name;
  fp8gemm_isa isa;
  bool (*supports)(const fp8g_gemm_problem *p); /* may look only at kinds, dtypes, sizes */
  fp8gemm_status (*run)(const fp8g_gemm_problem *p);
  /* Reads an MX weight scale column-major (problem eb_ld > 0, the checkpoint's [N, K/32]
   * in place); the op layer gathers [K/32, N] for every other kernel (gemm_run.c). */
  bool reads_eb_cols;
  /* Reads B in the N-interleaved layout (problem b_nk); supports() may require it. */
  bool reads_b_nk;
} fp8g_gemm_kernel;

/* The portable reference kernels (kernels/ref/gemm_ref.c): support every problem. */
extern const fp8g_gemm_kernel fp8g_gemm_ref_w8a8;
extern const fp8g_gemm_kernel fp8g_gemm_ref_w8a16;

/*
 * Kernel tables (ops/gemm_dispatch.c), best first, the reference last. `op` is
 * FP8GEMM_OP_FP8_GEMM or FP8GEMM_OP_FP8_GEMM_W8A16; NULL (and *count 0) otherwise.
 * Tests walk these to compare every kernel with the reference.
 */
const fp8g_gemm_kernel *const *fp8g_gemm_kernel_table(fp8gemm_op op, size_t *count);
/* First kernel of the op's table whose ISA is <= fp8g_isa() and that supports `p`. */
const fp8g_gemm_kernel *fp8g_gemm_select(fp8gemm_op op, const fp8g_gemm_problem *p);
/*
 * The problem (no data: scales point at constants 1) of an m x n x k call of `op` with
 * dense scales of `scheme` (blocks of 128, groups of 128, MX 32), weight [K, N] or its
 * NT view, bf16 output: what the capability queries hand to fp8g_gemm_select.
 * m, n, k >= 1. false if scheme is not one of op's GEMM schemes.
 */
bool fp8g_gemm_scheme_problem(fp8gemm_op op, fp8gemm_scheme scheme, fp8gemm_dtype dtype,
                              int64_t m, int64_t n, int64_t k, bool weight_nt,
                              fp8g_gemm_problem *p);

#endif /* FP8GEMM_GEMM_KERNELS_H */
