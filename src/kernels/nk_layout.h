/*
 * The N-interleaved weight layout (docs/gemv.md, sessions 17 nk17 / nkimpl17): an NT
 * weight [N, K] of fp8 codes as ceil(N/16) groups of 16 columns, each group Kp * 16
 * bytes (Kp = K rounded up to 4), in 64-byte chunks: chunk q of group g holds K indices
 * 4q..4q+3 of columns 16g..16g+15, placed so that the 64-code bf16 decoder (per 128-bit
 * lane, halfword i = code byte i of the lane: VPUNPCKLBW / VPUNPCKHBW of the looked-up
 * low and high bytes) gives in its first zmm the pair (4q, 4q+1) of column 16g + j in
 * dword lane j and in its second zmm the pair (4q+2, 4q+3): a VDPBF16PS accumulator
 * then holds 16 whole columns. Byte of (column j, K index kk) within the buffer:
 *   chunk (j / 16) * (Kp / 4) + kk / 4, then 16 * (j % 16 / 4) + 8 * (kk % 4 / 2)
 *   + 2 * (j % 4) + kk % 2.
 * Columns past N and K indices past K are code 0 (+0 in every fp8 dtype).
 * Plain C, internal (not yet used by a kernel or by fp8gemm_pack_weight).
 */
#ifndef FP8GEMM_NK_LAYOUT_H
#define FP8GEMM_NK_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

enum { FP8G_NK_COLS = 16, FP8G_NK_KSTEP = 4, FP8G_NK_CHUNK = 64 };

static inline int64_t fp8g_nk_groups(int64_t n) { return (n + FP8G_NK_COLS - 1) / FP8G_NK_COLS; }
static inline int64_t fp8g_nk_kpad(int64_t k) { return (k + FP8G_NK_KSTEP - 1) / FP8G_NK_KSTEP * FP8G_NK_KSTEP; }
/* Bytes of the layout of an [n, k] weight (n, k >= 1). */
static inline size_t fp8g_nk_bytes(int64_t n, int64_t k) {
  return (size_t)(fp8g_nk_groups(n) * FP8G_NK_COLS * fp8g_nk_kpad(k));
}
/* Byte offset of column j, K index kk (j < 16 * groups, kk < Kp: padding included). */
static inline int64_t fp8g_nk_offset(int64_t k, int64_t j, int64_t kk) {
  int64_t chunk = (j / FP8G_NK_COLS) * (fp8g_nk_kpad(k) / FP8G_NK_KSTEP) + kk / FP8G_NK_KSTEP;
  int64_t c = j % FP8G_NK_COLS, r = kk % FP8G_NK_KSTEP;
  return chunk * FP8G_NK_CHUNK + 16 * (c / 4) + 8 * (r / 2) + 2 * (c % 4) + r % 2;
}

/* nt: codes of column j at nt + j * ld, K contiguous (ld >= k); dst: fp8g_nk_bytes(n, k)
 * bytes, every one written. Reads nt[j * ld + kk] for j < n, kk < k only. */
void fp8g_nk_pack(const uint8_t *nt, int64_t n, int64_t k, int64_t ld, uint8_t *dst);
/* The inverse: nt[j * ld + kk] for j < n, kk < k from src (the padding is not read
 * back; nt's bytes past k in a row are not written). */
void fp8g_nk_unpack(const uint8_t *src, int64_t n, int64_t k, uint8_t *nt, int64_t ld);

#endif /* FP8GEMM_NK_LAYOUT_H */
