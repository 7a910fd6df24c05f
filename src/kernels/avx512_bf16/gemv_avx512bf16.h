/*
 * AVX-512 BF16 decode kernels (batch * M <= 16, weights with K contiguous: the NT view of
 * a checkpoint weight, or a packed weight) for fp8_gemm and for fp8_gemm_w8a16 with bf16
 * activations. Weights stream once and are decoded to exact bf16 in registers
 * (gemv_bf16_decode.h); activations are decoded once per call to bf16 in the decoder's
 * K order; VDPBF16PS accumulates 16 lanes per (row, column). N is split into fixed
 * panels, so any thread count gives the same bits.
 *
 * gemv_avx512bf16.c: driver (support, data checks and fallback to gemv_avx2, activation
 * decode, panels, scales, epilogue); gemv_avx512bf16_nt.c: the register-blocked tiles.
 */
#ifndef FP8GEMM_GEMV_AVX512BF16_H
#define FP8GEMM_GEMV_AVX512BF16_H

#include "../gemm_kernels.h"

extern const fp8g_gemm_kernel fp8g_gemv_avx512bf16_w8a8;
extern const fp8g_gemm_kernel fp8g_gemv_avx512bf16_w8a16;

/* Calls handed to gemv_avx2 so far because of their data (for tests: the data checks
 * must send exactly the calls they should). */
long fp8g_gemv_bf16_fallbacks(void);

/* Columns of the widest tile; columns per task (the per-panel scale tables' stride). */
enum { GEMV_BF16_CN_MAX = 4, GEMV_BF16_CHUNK = 64, GEMV_BF16_PANEL = 64 };
/* Bytes ahead of the multi-row tiles' software prefetch (2-3.5 KiB measured alike). */
enum { GEMV_BF16_PREFETCH = 3072 };
/* Far-apart tiles: a panel's columns run in spans of GEMV_BF16_SPREAD * 4 columns, tile u
 * of a span taking its columns u, u + SPREAD, u + 2 SPREAD, u + 3 SPREAD (weights
 * SPREAD columns apart instead of adjacent pages; docs/gemv.md, session 15). */
enum { GEMV_BF16_SPREAD = 8 };

/*
 * One tile: mr rows x cn columns over all of K. Sums run per segment of `seg` K values
 * (a multiple of 64; >= k for a single chain): tmp = VDPBF16PS chain over the segment
 * from 0, then part = fma(tmp, s, part) with s = sa(row, seg) * sb(seg, col) (1 when both
 * tables are NULL; sa NULL: sb holds the products). The 16 lanes of part are summed in a fixed order into out
 * (with block scales via sa / sb tmp's lanes are summed to 4 before the fma,
 * gemv_avx512bf16_nt.c; via pr every lane is scaled: part = fma(tmp, pr, part)).
 */
typedef struct gemv_bf16_tile {
  const uint8_t *b;   /* column c: b + c * ldb, K codes from the tile's k0 = 0 */
  int64_t ldb;
  const uint16_t *a;  /* row i: a + i * lda, bf16 in the decoder's order, zero padded */
  int64_t lda;
  int64_t k;
  int64_t seg;
  int64_t prefetch;   /* > 0: prefetch into L2 this many bytes ahead in each column's
                         stream (past the column's end: b + next + c * ldb, the next
                         tile's column c when it has this ldb; a hint, never read) */
  int64_t next;       /* bytes from column 0 to the next tile's column 0 */
  int64_t far;        /* with prefetch > 0 and far > 0: also prefetch into L2, at chunk q,
                         bytes [64 q, 64 q + 64) of column c's stream moved by far bytes
                         (the same column of a later panel) */
  const float *sa;    /* NULL, or row i segment s at sa[i * sa_ld + s] */
  int64_t sa_ld;
  const float *sb;    /* NULL, or segment s column c at sb[c * sb_ld + s] */
  int64_t sb_ld;
  const float *pr;    /* NULL, or per-lane block scales (KIND_LANE): the fp32 product
                         sa * sb of row i, segment s, column c at
                         pr[s * pr_ls + i * pr_lr + c * pr_lc]; sa, sb unused */
  int64_t pr_ls, pr_lr, pr_lc;
  const uint32_t *mx; /* NULL, or MX weight exponents: chunk q column c at
                         mx[q * GEMV_BF16_PANEL + c * mx_cs], the halfwords (mx_bias - d) << 7 mod 2^16
                         of the blocks k 0..31 (low) and 32..63 (high), d = e8m0 code - 127 */
  float *out;         /* row i column c at out[i * ldo + c]; with cn == ldo == 4 all 16
                         floats are written (rows past mr get 0) */
  int64_t ldo;
  int64_t mx_cs;      /* MX: the column stride in mx, >= 1 (1, or the spread of a far-apart tile) */
  int mx_bias;        /* MX: the bias of gemv_bf16_vtab_mx_of */
  bool mx_sat;        /* MX: every d <= mx_bias, so the saturating fold (gemv_bf16_dec64_mx) applies */
  const uint32_t *amask; /* MX, one-row tiles, mx_bias 0: chunk q's masks of the nonzero finite
                         activations at amask[2q] (K 0..31), amask[2q + 1] (K 32..63); the
                         weight exponents are then subtracted ((0 - d) << 7) from those */
} gemv_bf16_tile;

/* Rows per tile; more rows run in groups of these, each decoding the columns again
 * (decoding them once into an L1 buffer for all groups measured no faster here for
 * unscaled sums; block and MX do that, gemv_bf16_run_tile_rows). */
enum { GEMV_BF16_MR = 4 };
/* Runs a tile of mr (1..GEMV_BF16_MR) rows and cn (GEMV_BF16_CN_MAX, or 1 at a panel's
 * last columns) columns. */
void gemv_bf16_run_tile(const gemv_bf16_tile *t, int mr, int cn, fp8gemm_dtype b_dtype);

/* Rows of a call at most (batch * M). */
enum { GEMV_BF16_ROWS_MAX = 16 };
/* Block / MX (t->sb or t->mx set): all m rows (GEMV_BF16_MR < m <= GEMV_BF16_ROWS_MAX) x
 * GEMV_BF16_CN_MAX columns, each chunk decoded once for every row group; the same sums
 * as gemv_bf16_run_tile per group. out: row i column c at out[i * 4 + c] (ldo == 4), all
 * 4 * ceil(m / 4) rows written. */
void gemv_bf16_run_tile_rows(const gemv_bf16_tile *t, int m, fp8gemm_dtype b_dtype);

#endif /* FP8GEMM_GEMV_AVX512BF16_H */
