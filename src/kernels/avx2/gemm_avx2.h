/*
 * AVX2 + FMA GEMM for fp8_gemm (W8A8) and fp8_gemm_w8a16: the pieces shared by
 * gemm_avx2_decode.c (exact fp8 -> fp32), gemm_avx2_pack.c (A / B panels),
 * gemm_avx2_ukernel.c (6 x 16 FMA micro-kernel), gemm_avx2_epilogue.c (scales, bias,
 * rounding to the output dtype) and gemm_avx2_driver.c (blocking and threads).
 * docs/kernels.md describes the design; this header only declares.
 */
#ifndef FP8GEMM_GEMM_AVX2_H
#define FP8GEMM_GEMM_AVX2_H

#include "../gemm_kernels.h"

#define FP8G_AVX2_MR 6  /* rows of a micro-tile */
#define FP8G_AVX2_NR 16 /* columns of a micro-tile (two ymm) */

/* ------------------------------------------------------------ decode (exact) */
/* 256-entry fp32 value table of an fp8 dtype (built once from fp8g_decode). */
const float *fp8g_avx2_lut(fp8gemm_dtype dtype);
/* dst[0..16) = decode(src[0..16)), exact for every code of every fp8 dtype. */
void fp8g_avx2_decode16(fp8gemm_dtype dtype, const uint8_t *src, float *dst);
/* 2^(e - 127) as fp32 (0x00 -> 2^-127, 0xFF -> NaN). */
float fp8g_avx2_e8m0(uint8_t e);

/* ------------------------------------------------------------ one GEMM, as the packers see it */
/*
 * How K-dependent scales are applied:
 *  CHAIN: one FMA chain over all of K per output; scales (if any) were folded exactly
 *         into the decoded operands (MX powers of two, w8a16 scales with <= 20
 *         significant bits) or are applied in the epilogue (tensor / row / column).
 *  SEGMENTED: each K block of `seg` elements is summed on its own and folded into the
 *         accumulator with one FMA by sa(row, kb) * sb(kb, col).
 */
typedef enum fp8g_avx2_mode { FP8G_AVX2_CHAIN = 0, FP8G_AVX2_SEGMENTED = 1 } fp8g_avx2_mode;

typedef struct fp8g_avx2_plan {
  const fp8g_gemm_problem *p;
  fp8g_avx2_mode mode;
  int64_t seg;        /* K extent of a scale block (SEGMENTED), else 0 */
  bool fold_a;        /* multiply decoded A by 2^(ea-127) per (row, kb) (MX) */
  bool fold_b;        /* multiply decoded B by its K-block scale (MX, exact w8a16 groups) */
  int64_t kc, mc, nc; /* block sizes (results do not depend on them) */
} fp8g_avx2_plan;

/* Packs rows [r0, r0 + rows) of batch `b`, K range [k0, k0 + kc) into MR-row panels:
 * dst[panel][k][MR] floats, rows past the end zero. SEGMENTED: ascale[panel][seg][MR]
 * (sa of the row's K block; 1 for w8a16). */
void fp8g_avx2_pack_a(const fp8g_avx2_plan *pl, int64_t b, int64_t r0, int64_t rows, int64_t k0,
                      int64_t kc, float *dst, float *ascale);
/* Packs columns [c0, c0 + cols) of batch b, K range [k0, k0 + kc) into NR-column
 * panels dst[panel][k][NR], columns past the end zero. SEGMENTED: bscale[panel][seg][NR]. */
void fp8g_avx2_pack_b(const fp8g_avx2_plan *pl, int64_t b, int64_t c0, int64_t cols, int64_t k0,
                      int64_t kc, float *dst, float *bscale);

/* Prefetch (into L2) of the codes pack_b reads for the NR columns from c0, K range
 * [k0, k0 + kc) of batch b; NN and NT layouts only. */
void fp8g_avx2_prefetch_b(const fp8g_avx2_plan *pl, int64_t b, int64_t c0, int64_t k0, int64_t kc);

/* ------------------------------------------------------------ micro-kernel */
/*
 * C[MR][NR] (row stride ldc) op= A panel [kc][MR] x B panel [kc][NR].
 * CHAIN: acc starts from C (or 0 when `first`), C = acc after kc FMAs.
 * SEGMENTED: for each K block (seg elements; the last may be short) acc = sum, then
 * C = fma(acc, ascale[s][i] * bscale[s][j], C) (C taken as 0 when `first`).
 * mr, nr < MR, NR: only that corner of C is read and written.
 */
typedef struct fp8g_avx2_tile {
  int64_t kc, seg;
  const float *a, *b, *ascale, *bscale;
  float *c;
  int64_t ldc;
  int mr, nr;
  bool first;
} fp8g_avx2_tile;
void fp8g_avx2_ukernel(const fp8g_avx2_tile *t, fp8g_avx2_mode mode);

/* ------------------------------------------------------------ epilogue */
/* Rows [r0, r0+rows) (global rows of the batch-flattened output), columns [c0, c0+cols):
 * out = round_out(C * per-tensor/row/column scales + bias). C has row stride ldc and
 * its element (0, 0) is output (r0, c0). */
void fp8g_avx2_epilogue(const fp8g_avx2_plan *pl, int64_t r0, int64_t rows, int64_t c0,
                        int64_t cols, const float *c, int64_t ldc);

/* ------------------------------------------------------------ blocking (data) */
typedef struct fp8g_avx2_blocking {
  int64_t kc;             /* K block (rounded to whole scale blocks) */
  int64_t mc;             /* target rows of an A block */
  int64_t ms;             /* rows of a super-block */
  int64_t nc_min, nc_max; /* bounds of the column block */
  int64_t ws_floats;      /* target size of the ms x nc accumulator workspace */
  int64_t fused_rows;     /* up to this many rows, B panels are decoded right before use */
} fp8g_avx2_blocking;
/* Replaces the block sizes (NULL: the defaults). For tests: results do not depend on
 * them, which is what they check. Not thread-safe against running GEMMs. */
void fp8g_avx2_set_blocking(const fp8g_avx2_blocking *b);

/* ------------------------------------------------------------ kernels */
extern const fp8g_gemm_kernel fp8g_gemm_avx2_w8a8;
extern const fp8g_gemm_kernel fp8g_gemm_avx2_w8a16;

#endif /* FP8GEMM_GEMM_AVX2_H */
