/*
 * The BF16-dot GEMM for fp8_gemm (W8A8) and fp8_gemm_w8a16 with bf16 activations: fp8
 * operands decoded exactly to bf16 (bf16 activations taken as they are), packed
 * in pairs along K, multiplied by a VDPBF16PS micro-kernel (avx512_bf16/). Everything
 * but the micro-kernel is portable C shared by the real kernel and the test's plain-C
 * emulation of the instruction:
 *   gemm_bf16_pack.c          exact fp8 -> bf16 tables, A / B panels, MX folding
 *   gemm_bf16_driver.c        plan (how scales are applied), blocking, threads, edges
 *   gemm_bf16_wt.c            the C^T = W A^T loops for mid-size M with NT weights
 *   gemm_bf16_ukernel_body.h  the micro-kernel and the 64-code decoder over a small
 *                             vector vocabulary
 * docs/kernels.md describes the design and what has been tested how.
 */
#ifndef FP8GEMM_GEMM_BF16_H
#define FP8GEMM_GEMM_BF16_H

#include "gemm_kernels.h"

#define FP8G_BF16_MR 6  /* rows of a micro-tile */
#define FP8G_BF16_NR 64 /* columns of a micro-tile (four 16-lane vectors) */

/* ------------------------------------------------------------ decode (exact) */
/* 256-entry bf16 table of an fp8 dtype, built once from fp8g_decode: every code of
 * every fp8 dtype is exact in bf16; NaN codes give the quiet NaN 0x7FC0 / 0xFFC0. */
const uint16_t *fp8g_bf16_lut(fp8gemm_dtype dtype);

/* The same table split for a 64-lane byte decoder: low and high bytes of the bf16 of
 * magnitude codes 0..127 (two 64-byte halves each); the sign bit is OR-ed into the
 * high byte; fnuz dtypes (nan80) turn code 0x80 into the table's NaN (nan_lo, nan_hi). */
typedef struct fp8g_bf16_dec_tables {
  _Alignas(64) uint8_t lo[2][64];
  _Alignas(64) uint8_t hi[2][64];
  bool nan80;
  uint8_t nan_lo, nan_hi;
} fp8g_bf16_dec_tables;
const fp8g_bf16_dec_tables *fp8g_bf16_tables(fp8gemm_dtype dtype);
/* Vector decoder (from the ISA file): dst[0..n) = bf16 of src[0..n), n >= 1; reads
 * and writes nothing beyond. */
typedef void (*fp8g_bf16_decode_fn)(const fp8g_bf16_dec_tables *t, const uint8_t *src, int n,
                                    uint16_t *dst);
/* MX fold of 32-code blocks (from the ISA file, optional): for each block q of h[0..n)
 * (32 halfwords, the last may be short), code c = codes[q * kstride]: c == 0xFF makes
 * the block bf16 NaN 0x7FC0; else (c - 127) << 7 is added (mod 2^16) to every halfword
 * whose exponent field is neither 0 nor 0xFF. The packers' portable fold does the same
 * per element (gemm_bf16_pack.c). */
typedef void (*fp8g_bf16_fold32_fn)(uint16_t *h, int64_t n, const uint8_t *codes, int64_t kstride);
/* Decoder and MX fold in one pass (from the ISA file, optional): dst[0..n) = the bf16
 * of src[0..n), then fold32(dst, n, codes, 1), i.e. codes[q] folds codes 32q..32q+31. */
typedef void (*fp8g_bf16_decode_fold32_fn)(const fp8g_bf16_dec_tables *t, const uint8_t *src, int n,
                                           uint16_t *dst, const uint8_t *codes);
/* 16 x 16 dword transpose (from the ISA file): dst[c * dstride + r] = src[r * sstride + c]
 * for r, c < 16 (turns 16 decoded NT weight columns into 16 pair rows of a panel). */
typedef void (*fp8g_bf16_transpose_fn)(const uint32_t *src, int64_t sstride, uint32_t *dst,
                                       int64_t dstride);

/* ------------------------------------------------------------ plan */
/*
 * CHAIN: one VDPBF16PS chain over all of K per output; tensor / row / column scales
 *        in the epilogue; MX powers of two folded exactly into the bf16 operands.
 * SEGMENTED: each K block of `seg` elements (even) summed on its own, then folded
 *        into the accumulator with one FMA by sa(row, kb) * sb(kb, col).
 */
typedef enum fp8g_bf16_mode { FP8G_BF16_CHAIN = 0, FP8G_BF16_SEGMENTED = 1 } fp8g_bf16_mode;

typedef struct fp8g_bf16_plan {
  const fp8g_gemm_problem *p;
  fp8g_bf16_decode_fn decode; /* the ISA's vector decoder (contiguous codes) */
  fp8g_bf16_transpose_fn transpose; /* the ISA's 16 x 16 transpose (NT weight panels) */
  fp8g_bf16_fold32_fn fold32; /* fold_mx with 32-code blocks: the ISA's fold, or NULL */
  fp8g_bf16_decode_fold32_fn decode_fold32; /* with fold32: the ISA's decode + fold, or NULL */
  fp8g_bf16_mode mode;
  int64_t seg;  /* K extent of a scale block (SEGMENTED), else 0 */
  bool fold_mx; /* CHAIN with MX: 2^(e-127) folded into each decoded operand */
  int64_t kc;   /* K block: even, a multiple of seg (results do not depend on it) */
} fp8g_bf16_plan;

/* How the problem will run: false when it needs the reference (MX scales whose
 * products leave the fp32 normal range both folded and segmented). Reads the e8m0
 * codes of MX problems (K/32 x (M + N) bytes). */
bool fp8g_bf16_make_plan(const fp8g_gemm_problem *p, fp8g_bf16_plan *pl);

/* ------------------------------------------------------------ packing */
/* K range [k0, k0 + kc) is packed as ceil(kc / 2) pairs; a pair is one dword holding
 * the bf16 of K index k (low half) and k + 1 (high half), zero past kc. */
static inline int64_t fp8g_bf16_pairs(int64_t kc) { return (kc + 1) / 2; }

/* Rows [r0, r0 + rows) of batch b into MR-row panels dst[panel][pair][MR], rows past
 * the end zero. SEGMENTED: ascale[panel][s][MR] = sa(row, kb) with a stride of
 * `sstride` segments per panel. */
void fp8g_bf16_pack_a(const fp8g_bf16_plan *pl, int64_t b, int64_t r0, int64_t rows, int64_t k0,
                      int64_t kc, uint32_t *dst, float *ascale, int64_t sstride);
/* Columns [c0, c0 + cols) of batch b into NR-column panels dst[panel][pair][NR],
 * columns past the end zero. SEGMENTED: bscale[panel][s][NR]. */
void fp8g_bf16_pack_b(const fp8g_bf16_plan *pl, int64_t b, int64_t c0, int64_t cols, int64_t k0,
                      int64_t kc, uint32_t *dst, float *bscale, int64_t sstride);

/* The weight codes pack_b(b, c0, cols, k0, kc) will read, into L2 (hints only): of its
 * `units` (NT: columns, NN and other strides: K rows; fp8g_bf16_pack_units), units
 * [u0, u1). Lets a caller spread the reads of the next panel over the tiles of this one. */
int64_t fp8g_bf16_pack_units(const fp8g_bf16_plan *pl, int64_t cols, int64_t kc);
void fp8g_bf16_prefetch_b(const fp8g_bf16_plan *pl, int64_t b, int64_t c0, int64_t cols, int64_t k0,
                          int64_t kc, int64_t u0, int64_t u1);

/* ------------------------------------------------------------ micro-kernel */
/* The next step's decode, spread over a C^T step's tiles (gemm_bf16_wt.c): `units`
 * runs of 64 codes, unit u the codes [64 (u % upr), + 64) of weight row u / upr (row r
 * at src + r * src_stride) into halfwords dst + r * dst_stride + 64 (u % upr). */
typedef struct fp8g_bf16_wt_dec {
  const fp8g_bf16_dec_tables *tab;
  const uint8_t *src;
  int64_t src_stride;
  uint16_t *dst;
  int64_t dst_stride;
  int64_t upr, units;
} fp8g_bf16_wt_dec;
/* Units ahead of the one decoded whose codes are prefetched (~1-2k cycles at M = 256). */
#define FP8G_BF16_DEC_AHEAD 4

/*
 * One full MR x NR tile: C (row stride ldc) op= A panel [kp][MR] . B panel [kp][NR].
 * CHAIN: acc starts from C (0 when `first`); C = acc after kp VDPBF16PS steps.
 * SEGMENTED: per segment of seg_pairs pairs (the last may be short) acc = sum from 0,
 * then C = fma(acc, ascale[s][i] * bscale[s][j], C) (C taken as 0 when `first`).
 */
typedef struct fp8g_bf16_tile {
  int64_t kp, seg_pairs;
  const uint32_t *a, *b;
  const float *ascale, *bscale;
  float *c;
  int64_t ldc;
  bool first;
  bool bs_uniform; /* SEGMENTED: bscale[s][j] is the same for every j of the tile (a
                    * 128 x 128 block scale over a 64-column panel): one broadcast */
  const float *c_next; /* C of the tile to run next (same ldc), prefetched near this one's end; or NULL */
  int64_t lda;         /* C^T tiles (fp8g_bf16_isa_ops.ukernel_wt): row i's pairs at a + i * lda */
  /* C^T tiles: units [du0, du1) of `dec` decoded between this tile's pair steps (dec may
   * be NULL) */
  const fp8g_bf16_wt_dec *dec;
  int64_t du0, du1;
} fp8g_bf16_tile;
typedef void (*fp8g_bf16_ukernel_fn)(const fp8g_bf16_tile *t, fp8g_bf16_mode mode);

/* The epilogue of rows [r0, r0 + rows) x columns [c0, c0 + NR) (from the ISA file,
 * optional): C (row stride ldc) -> out with the tensor / row / column scales and bias,
 * bitwise what fp8g_avx2_epilogue writes. */
typedef void (*fp8g_bf16_epilogue_fn)(const fp8g_gemm_problem *p, int64_t r0, int64_t rows, int64_t c0,
                                      const float *c, int64_t ldc);

/* What an ISA file provides to the portable driver. */
typedef struct fp8g_bf16_isa_ops {
  fp8g_bf16_ukernel_fn ukernel;
  fp8g_bf16_decode_fn decode;
  fp8g_bf16_transpose_fn transpose;
  fp8g_bf16_fold32_fn fold32; /* may be NULL: the packers' portable fold */
  /* may be NULL: micro-kernels for full-width tiles of r = 1..MR-1 rows (entry r), run
   * in place; else such tiles run on a zero-padded scratch tile (same bits). */
  const fp8g_bf16_ukernel_fn *ukernel_rows;
  fp8g_bf16_decode_fold32_fn decode_fold32; /* may be NULL: decode, then fold32 */
  fp8g_bf16_epilogue_fn epilogue_nr;         /* may be NULL: fp8g_avx2_epilogue */
  /* may be NULL (no C^T path): CHAIN tiles of r = 1..MR rows (entry r) whose row i reads
   * its pairs from a + i * lda (gemm_bf16_wt.c) */
  const fp8g_bf16_ukernel_fn *ukernel_wt;
} fp8g_bf16_isa_ops;

/* ------------------------------------------------------------ driver */
typedef struct fp8g_bf16_blocking {
  int64_t kc;             /* K block (even; rounded to whole scale blocks) */
  int64_t mc;             /* target rows of an A block */
  int64_t ms;             /* rows of a super-block */
  int64_t nc_min, nc_max; /* bounds of the column block */
  int64_t ws_floats;      /* target size of the ms x nc accumulator workspace */
  int64_t fused_rows;     /* up to this many rows per super-block, each compute task
                           * packs its own B panels right before use (0: never) */
} fp8g_bf16_blocking;
/* Replaces the block sizes (NULL: the defaults). For tests: results do not depend on
 * them. Not thread-safe against running GEMMs. */
void fp8g_bf16_set_blocking(const fp8g_bf16_blocking *b);

/* Runs the problem with the ISA's pieces, or with `fallback` when the plan says so. */
fp8gemm_status fp8g_bf16_gemm_run(const fp8g_gemm_problem *p, const fp8g_bf16_isa_ops *ops,
                                  const fp8g_gemm_kernel *fallback);
/* The C^T = W A^T path (gemm_bf16_wt.c): runs the problem and returns true (status in
 * *status) when it serves it (fp8 activations with one row stride, NT weights, a CHAIN
 * plan without MX folds, the ISA's ukernel_wt, M ~ 128..512), else returns false. */
bool fp8g_bf16_wt_run(const fp8g_gemm_problem *p, const fp8g_bf16_plan *pl, const fp8g_bf16_isa_ops *ops,
                      fp8gemm_status *status);
/* For tests: -1 (default) the size rule above, 0 never, 1 whenever the problem allows
 * it. Results do not depend on it. Not thread-safe against running GEMMs. */
void fp8g_bf16_set_wt(int mode);
/* Calls served by the C^T path so far (for tests). */
long fp8g_bf16_wt_calls(void);
/* What the kernel takes: fp8 x fp8, out f32 / bf16 / f16, every W8A8 scale kind
 * (block scales with an even block_k). */
bool fp8g_bf16_supports(const fp8g_gemm_problem *p);
/* fp8_gemm_w8a16 with bf16 activations (exact in the bf16 operands; f16 / f32 are not):
 * out bf16, weight scales none / tensor / channel / groups and g x g blocks (even g). */
bool fp8g_bf16_supports_w8a16(const fp8g_gemm_problem *p);

/* ------------------------------------------------------------ bf16 activations */
/* Smallest e with 2^e >= x (x >= 1): how many doublings a sum of x terms can add. */
static inline int fp8g_ceil_log2(int64_t x) {
  int e = 0;
  while (e < 63 && ((int64_t)1 << e) < x) e++;
  return e;
}
/*
 * VDPBF16PS reads denormal inputs as zero and flushes denormal results: bf16
 * activations times fp8 weights run on it only when nothing can be flushed or
 * overflow. With emin / emax the smallest / largest biased exponent field of the
 * nonzero finite activations (a denormal counts as 0): every nonzero |a| times the
 * weights' smallest step is at least 2^-126 (so every product and every partial sum,
 * in any order, is a multiple of 2^-126: zero or normal), and every |a| times the
 * largest weight times K stays below 2^120. Inf / NaN activations propagate as in the
 * reference. Shared by the decode kernel (gemv_avx512bf16.c) and the GEMM.
 */
bool fp8g_bf16_w8a16_range_ok(int emin, int emax, fp8gemm_dtype w_dtype, int64_t k);
/* Widens [*emin, *emax] by the n bf16 values x[0], x[stride], ... (see above). */
void fp8g_bf16_exp_range(const uint16_t *x, int64_t n, int64_t stride, int *emin, int *emax);
/* The range check over every activation of a w8a16 problem (bf16 A). */
bool fp8g_bf16_w8a16_acts_ok(const fp8g_gemm_problem *p);
/* Values of the flat (row, k) index per task of that check's scan (for tests). */
int64_t fp8g_bf16_w8a16_scan_per(int64_t total);
/* Calls of the BF16 GEMM handed to the fallback kernel because of their data
 * (activations or MXCSR), for tests. */
long fp8g_bf16_w8a16_handbacks(void);
void fp8g_bf16_count_handback(void);

/* ------------------------------------------------------------ kernels */
/* avx512_bf16/gemm_avx512bf16.c: the real instruction. */
extern const fp8g_gemm_kernel fp8g_gemm_avx512bf16_w8a8;
/* Its full-width tile epilogue (fp8g_bf16_isa_ops.epilogue_nr), for tests: only on CPUs
 * with AVX512_BF16. */
extern const fp8g_bf16_epilogue_fn fp8g_bf16_epilogue_nr_avx512bf16;
/* fp8_gemm_w8a16, bf16 activations; hands a call to gemm_w8a16_avx2 when the range
 * check fails or MXCSR has DAZ / FTZ set. */
extern const fp8g_gemm_kernel fp8g_gemm_avx512bf16_w8a16;

#endif /* FP8GEMM_GEMM_BF16_H */
