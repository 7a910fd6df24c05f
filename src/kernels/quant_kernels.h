/*
 * Elementwise kernels behind fp8_cast, fp8_quantize, mx_quantize and fp8_dequantize.
 * The op layer (src/ops/) walks shapes and strides and hands these contiguous spans;
 * every ISA's table must match the reference (kernels/ref/quant_ref.c) bit for bit.
 */
#ifndef FP8GEMM_QUANT_KERNELS_H
#define FP8GEMM_QUANT_KERNELS_H

#include "../internal.h"

typedef struct fp8g_quant_kernels {
  const char *name; /* e.g. "quant_avx2" */
  fp8gemm_isa isa;
  /* y[i] = x[i] widened to f32 (x is bf16, f16 or f32; exact). */
  void (*widen)(const void *x, fp8gemm_dtype dtype, float *y, size_t n);
  /* y[i] = x[i] rounded (RNE) to bf16 / f16, or copied for f32. */
  void (*narrow)(const float *x, fp8gemm_dtype dtype, void *y, size_t n);
  /* max |x[i]| ignoring NaN (0 for n == 0); +Inf if an element is infinite. */
  float (*amax)(const float *x, size_t n);
  /* q[i] = encode(to, x[i] / scale, saturate) with a true IEEE f32 division (scale == 1:
   * a plain cast). to: fp8, e8m0, or e2m1 (n even, element 2i in the low nibble). */
  void (*quantize)(const float *x, size_t n, float scale, fp8gemm_dtype to, bool saturate,
                   uint8_t *q);
  /* y[i] = decode(from, q[i]) * scale, one f32 multiply (e2m1: packed input, n even). */
  void (*dequantize)(const uint8_t *q, size_t n, fp8gemm_dtype from, float scale, float *y);
  /* MX: nblocks blocks of 32 contiguous elements; q in elem (e2m1 packed, 16 bytes a
   * block), one e8m0 scale per block. */
  void (*mx_quantize)(const float *x, size_t nblocks, fp8gemm_dtype elem,
                      fp8gemm_mx_scale_mode mode, uint8_t *q, uint8_t *scales);
  /* Fused forms: one pass over 16-bit data, no f32 staging buffer. Each is defined as
   * the composition named (the reference computes exactly that), so it is bit-identical
   * to the two-step path. dtype / out: bf16, f16 or f32. */
  /* == amax(widen(x, dtype)) */
  float (*amax_wide)(const void *x, fp8gemm_dtype dtype, size_t n);
  /* == quantize(widen(x, dtype), n, scale, to, saturate, q) */
  void (*quantize_wide)(const void *x, fp8gemm_dtype dtype, size_t n, float scale,
                        fp8gemm_dtype to, bool saturate, uint8_t *q);
  /* == narrow(dequantize(q, n, from, scale), out, y): f32 multiply, then RNE to out */
  void (*dequantize_narrow)(const uint8_t *q, size_t n, fp8gemm_dtype from, float scale,
                            fp8gemm_dtype out, void *y);
  /* == quantize_wide; while it computes it also prefetches the n elements of dtype at
   * `next` (the caller's next row; NULL: none), so that row's memory reads overlap this
   * row's arithmetic instead of following it. No effect on any output. */
  void (*quantize_wide_pf)(const void *x, fp8gemm_dtype dtype, size_t n, float scale,
                           fp8gemm_dtype to, bool saturate, uint8_t *q, const void *next);
  /* == quantize, writing q with non-temporal stores where the ISA table has them (fp8
   * targets, whole aligned 32-byte blocks): for large outputs that the caller will not
   * read back soon (no read-for-ownership, the codes bypass the cache). Ends with an
   * sfence when it streamed, so the codes are ordered before the caller's later stores
   * (the thread pool's hand-off); each call pays one, so callers pass long spans. */
  void (*quantize_nt)(const float *x, size_t n, float scale, fp8gemm_dtype to, bool saturate,
                      uint8_t *q);
  /* == quantize_wide_pf, writing q with non-temporal stores where the ISA table has them
   * (fp8 targets from bf16, q 64-byte aligned and n a multiple of 64, so the span owns
   * whole lines; else ordinary stores), and WITHOUT the closing fence: the caller calls
   * nt_fence once after a run of such calls (per-row calls each ending in an sfence
   * drain the write-combining buffers too often), before its codes are read elsewhere. */
  void (*quantize_wide_pf_nt)(const void *x, fp8gemm_dtype dtype, size_t n, float scale,
                              fp8gemm_dtype to, bool saturate, uint8_t *q, const void *next);
  /* Orders the non-temporal stores of earlier quantize_wide_pf_nt calls of this thread
   * before its later stores (sfence; the reference table, which never streams, does
   * nothing). */
  void (*nt_fence)(void);
  /* == mx_quantize, writing the codes of fp8 elements with non-temporal stores where the
   * ISA table has them, for the whole 64-byte lines of q the call owns (q 32-byte
   * aligned: the blocks from q's first 64-byte boundary on, an even number of them; the
   * half lines at either end, e2m1 codes, scales and unaligned q: ordinary stores). Ends
   * with an sfence when it streamed, as quantize_nt; callers pass long spans. */
  void (*mx_quantize_nt)(const float *x, size_t nblocks, fp8gemm_dtype elem,
                         fp8gemm_mx_scale_mode mode, uint8_t *q, uint8_t *scales);
  /* == dequantize_narrow, writing y with non-temporal stores where the ISA table has them
   * (bf16 outputs of fp8 codes: the whole 64-byte lines from y's first 64-byte boundary
   * on; the codes before it, the tail and every other case: ordinary stores). Ends with
   * an sfence when it streamed, as quantize_nt; callers pass long spans. */
  void (*dequantize_narrow_nt)(const uint8_t *q, size_t n, fp8gemm_dtype from, float scale,
                               fp8gemm_dtype out, void *y);
} fp8g_quant_kernels;

/* The best table at or below `isa` (the reference when nothing better is built). */
const fp8g_quant_kernels *fp8g_quant_kernels_for(fp8gemm_isa isa);

extern const fp8g_quant_kernels fp8g_quant_ref;
extern const fp8g_quant_kernels fp8g_quant_avx2;   /* kernels/avx2/quant_avx2.c */
extern const fp8g_quant_kernels fp8g_quant_avx512; /* kernels/avx512/quant_avx512.c */

#endif /* FP8GEMM_QUANT_KERNELS_H */
