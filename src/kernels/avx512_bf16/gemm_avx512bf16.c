/*
 * The BF16-dot GEMM's micro-kernel and fp8 decoder on AVX-512 BF16 (+ BW, VBMI): the
 * vocabulary of gemm_bf16_ukernel_body.h as intrinsics (bk_dot is VDPBF16PS,
 * bk_b_perm2 VPERMT2B), and the kernel entry.
 * Packing, plan, blocking, threads and epilogue are the portable gemm_bf16_*.c.
 * Compiled with -mavx512bf16 (CMakeLists.txt); chosen only on CPUs that report
 * AVX512_BF16 (the kernel's isa in the gemm_dispatch.c table).
 */
#include <immintrin.h>
#include <stdbool.h>
#include <stdint.h>

#include "../avx2/gemm_avx2.h" /* gemm_w8a16_avx2: where w8a16 calls are handed back */
#include "../gemm_bf16.h"
#include "gemv_bf16_decode.h" /* gemv_bf16_exp_add: the MX fold in 16-bit lanes */

typedef __m512 bk_f;
typedef __m512i bk_p;

static inline bk_f bk_zero(void) { return _mm512_setzero_ps(); }
static inline bk_f bk_loadf(const float *p) { return _mm512_loadu_ps(p); }
static inline void bk_storef(float *p, bk_f v) { _mm512_storeu_ps(p, v); }
static inline bk_f bk_bcastf(const float *p) { return _mm512_set1_ps(*p); }
static inline bk_p bk_load_pairs(const uint32_t *p) { return _mm512_load_si512((const void *)p); }
/* Into a register: a memory-broadcast operand on every VDPBF16PS costs rate. */
static inline bk_p bk_bcast_pair(const uint32_t *p) { return _mm512_set1_epi32((int)*p); }
static inline bk_f bk_dot(bk_f acc, bk_p a, bk_p b) {
  return _mm512_dpbf16_ps(acc, (__m512bh)a, (__m512bh)b);
}
/* PREFETCHW: the line in this core's L1 in a writable state (every AVX512_BF16 CPU has
 * the instruction; inline asm as it needs no compiler flag). */
static inline void bk_prefetch_c(const float *p) { __asm__("prefetchw %0" : : "m"(*(const char *)p)); }
/* A read prefetch into L1 (C^T kernel: the codes of a decode unit a few units ahead).
 * always_inline: gcc 12 deletes calls of a static function whose only effect is a
 * prefetch (docs/kernels.md, session 9). */
static inline __attribute__((always_inline)) void bk_prefetch_r(const uint8_t *p) { _mm_prefetch((const char *)p, _MM_HINT_T0); }
static inline bk_f bk_mul(bk_f a, bk_f b) { return _mm512_mul_ps(a, b); }
static inline bk_f bk_fma(bk_f a, bk_f b, bk_f c) { return _mm512_fmadd_ps(a, b, c); }

typedef __m512i bk_b;
static inline __mmask64 bk_first(int n) { return n >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << n) - 1); }
static inline bk_b bk_b_load(const uint8_t *p) { return _mm512_loadu_si512((const void *)p); }
/* Masked: bytes past n are neither read (no fault) nor written. */
static inline bk_b bk_b_loadn(const uint8_t *p, int n) { return _mm512_maskz_loadu_epi8(bk_first(n), p); }
static inline void bk_b_store(uint8_t *p, bk_b v) { _mm512_storeu_si512((void *)p, v); }
static inline void bk_b_storen(uint8_t *p, bk_b v, int n) { _mm512_mask_storeu_epi8(p, bk_first(n), v); }
static inline bk_b bk_b_set1(uint8_t x) { return _mm512_set1_epi8((char)x); }
static inline bk_b bk_b_and(bk_b a, bk_b b) { return _mm512_and_si512(a, b); }
static inline bk_b bk_b_or(bk_b a, bk_b b) { return _mm512_or_si512(a, b); }
static inline bk_b bk_b_perm2(bk_b t0, bk_b idx, bk_b t1) { return _mm512_permutex2var_epi8(t0, idx, t1); }
static inline bk_b bk_b_blend_eq(bk_b c, uint8_t code, bk_b x, uint8_t v) {
  return _mm512_mask_blend_epi8(_mm512_cmpeq_epi8_mask(c, bk_b_set1(code)), x, bk_b_set1(v));
}

static inline bk_p bk_p_loadu(const uint32_t *p) { return _mm512_loadu_si512((const void *)p); }
static inline void bk_p_storeu(uint32_t *p, bk_p v) { _mm512_storeu_si512((void *)p, v); }
static inline bk_p bk_p_unpacklo32(bk_p a, bk_p b) { return _mm512_unpacklo_epi32(a, b); }
static inline bk_p bk_p_unpackhi32(bk_p a, bk_p b) { return _mm512_unpackhi_epi32(a, b); }
static inline bk_p bk_p_unpacklo64(bk_p a, bk_p b) { return _mm512_unpacklo_epi64(a, b); }
static inline bk_p bk_p_unpackhi64(bk_p a, bk_p b) { return _mm512_unpackhi_epi64(a, b); }
static inline bk_p bk_p_shuf128_even(bk_p a, bk_p b) { return _mm512_shuffle_i32x4(a, b, 0x88); }
static inline bk_p bk_p_shuf128_odd(bk_p a, bk_p b) { return _mm512_shuffle_i32x4(a, b, 0xDD); }

#define BK_UKERNEL ukernel_avx512bf16
#define BK_DECODE decode_avx512bf16
#define BK_TRANSPOSE transpose_avx512bf16
#define BK_UKERNEL_ROWS ukernel_rows_avx512bf16
#define BK_DECODE_FOLD32 decode_fold32_avx512bf16
#define BK_UKERNEL_WT ukernel_wt_avx512bf16
/* One MX block of 32 decoded halfwords: NaN code -> bf16 NaN, else 2^(c-127) added to
 * the exponent of every finite nonzero value (fp8g_bf16_fold32_fn's rule). */
static inline bk_b bk_b_fold32(bk_b v, uint8_t c) {
  return c == 0xFF ? _mm512_set1_epi16(0x7FC0)
                   : gemv_bf16_exp_add(v, _mm512_set1_epi16((short)(uint16_t)(((int)c - 127) * 128)));
}
#include "../gemm_bf16_ukernel_body.h"

/* fp8g_bf16_fold32_fn: one 32-halfword vector per MX block (the packers' portable fold
 * costs a call and a short loop per block: ~6% of an MX GEMM at M = 256). */
static void fold32_avx512bf16(uint16_t *h, int64_t n, const uint8_t *codes, int64_t kstride) {
  for (int64_t q = 0; q < n; q += 32) {
    int len = n - q < 32 ? (int)(n - q) : 32;
    __mmask32 m = len == 32 ? ~(__mmask32)0 : (((__mmask32)1 << len) - 1);
    uint8_t c = codes[(q / 32) * kstride];
    __m512i v = c == 0xFF ? _mm512_set1_epi16(0x7FC0)
                          : gemv_bf16_exp_add(_mm512_maskz_loadu_epi16(m, h + q),
                                              _mm512_set1_epi16((short)(uint16_t)(((int)c - 127) * 128)));
    _mm512_mask_storeu_epi16(h + q, m, v);
  }
}

/* ---------------------------------------------------------------- epilogue */
/* fp8g_bf16_epilogue_fn: the AVX2 epilogue's arithmetic (avx2/gemm_avx2_epilogue.c) 16
 * lanes a step: acc in double times (sa * sb) in double, plus the bias in double, one
 * rounding to f32, then RNE to bf16 (NaN quieted) / f16 / f32. The same bits except
 * which NaN comes out when two operands are NaN (the compiler orders a commutative
 * operation's sources, in both files). A 64-column row piece is
 * two full-line stores for bf16 / f16 (eight 16-byte stores before), so fewer stores
 * wait in the store queue on output lines that miss. */
typedef struct epi_row {
  bool scale, bias_vec;
  __m512d sa;         /* broadcast input scale of the row */
  const float *sb;    /* per-column weight scales (batch applied) or NULL */
  __m512d sb0;        /* broadcast per-tensor weight scale */
  __m512d bias_s;     /* broadcast scalar / row bias */
  const float *bias;  /* per-column or full-row bias, or NULL */
} epi_row;

static inline __m512d epi_half(const epi_row *rc, __m256 acc, int64_t col) {
  __m512d v = _mm512_cvtps_pd(acc);
  if (rc->scale) {
    __m512d sb = rc->sb ? _mm512_cvtps_pd(_mm256_loadu_ps(rc->sb + col)) : rc->sb0;
    v = _mm512_mul_pd(v, _mm512_mul_pd(rc->sa, sb));
  }
  if (rc->bias) v = _mm512_add_pd(v, _mm512_cvtps_pd(_mm256_loadu_ps(rc->bias + col)));
  else if (rc->bias_vec) v = _mm512_add_pd(v, rc->bias_s);
  return v;
}

static inline __m512 epi16(const epi_row *rc, __m512 acc, int64_t col) {
  if (!rc->scale && !rc->bias && !rc->bias_vec) return acc;
  __m256 lo = _mm512_cvtpd_ps(epi_half(rc, _mm512_castps512_ps256(acc), col));
  __m256 hi = _mm512_cvtpd_ps(epi_half(rc, _mm512_extractf32x8_ps(acc, 1), col + 8));
  return _mm512_insertf32x8(_mm512_castps256_ps512(lo), hi, 1);
}

/* RNE f32 -> bf16 of 16 lanes, NaN quieted (the AVX2 epilogue's to_bf16). */
static inline __m256i epi_bf16(__m512 v) {
  __m512i u = _mm512_castps_si512(v);
  __m512i r = _mm512_srli_epi32(
      _mm512_add_epi32(u, _mm512_add_epi32(_mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1)),
                                           _mm512_set1_epi32(0x7fff))),
      16);
  __mmask16 nan = _mm512_cmpgt_epi32_mask(_mm512_and_si512(u, _mm512_set1_epi32(0x7fffffff)),
                                          _mm512_set1_epi32(0x7f800000));
  r = _mm512_mask_or_epi32(r, nan, _mm512_srli_epi32(u, 16), _mm512_set1_epi32(0x40));
  return _mm512_cvtepi32_epi16(r);
}

static void epilogue_nr_avx512bf16(const fp8g_gemm_problem *p, int64_t r0, int64_t rows, int64_t c0,
                                   const float *c, int64_t ldc) {
  bool epi_scales = p->scale_kind == FP8G_SCALE_TENSOR || p->scale_kind == FP8G_SCALE_ROWCOL;
  for (int64_t i = 0; i < rows; i++) {
    int64_t row = r0 + i, batch = row / p->m;
    epi_row rc = {0};
    if (epi_scales) {
      rc.scale = true;
      double sa = !p->sa ? 1.0 : p->scale_kind == FP8G_SCALE_TENSOR ? p->sa[0] : p->sa[row];
      rc.sa = _mm512_set1_pd(sa);
      const float *sb = p->sb + batch * p->sb_batch_stride;
      if (p->scale_kind == FP8G_SCALE_ROWCOL) rc.sb = sb;
      else rc.sb0 = _mm512_set1_pd(sb[0]);
    }
    switch (p->bias_kind) {
      case FP8G_BIAS_SCALAR: rc.bias_vec = true; rc.bias_s = _mm512_set1_pd(p->bias[0]); break;
      case FP8G_BIAS_ROW: rc.bias_vec = true; rc.bias_s = _mm512_set1_pd(p->bias[row]); break;
      case FP8G_BIAS_COL: rc.bias = p->bias; break;
      case FP8G_BIAS_FULL: rc.bias = p->bias + row * p->n; break;
      default: break;
    }
    const float *crow = c + i * ldc;
    int64_t o = row * p->n + c0;
    switch (p->out_dtype) {
      case FP8GEMM_F32:
        for (int j = 0; j < FP8G_BF16_NR; j += 16)
          _mm512_storeu_ps((float *)p->out + o + j, epi16(&rc, _mm512_loadu_ps(crow + j), c0 + j));
        break;
      case FP8GEMM_BF16:
        for (int j = 0; j < FP8G_BF16_NR; j += 32) {
          __m256i a = epi_bf16(epi16(&rc, _mm512_loadu_ps(crow + j), c0 + j));
          __m256i b = epi_bf16(epi16(&rc, _mm512_loadu_ps(crow + j + 16), c0 + j + 16));
          _mm512_storeu_si512((uint16_t *)p->out + o + j, _mm512_inserti64x4(_mm512_castsi256_si512(a), b, 1));
        }
        break;
      default:
        for (int j = 0; j < FP8G_BF16_NR; j += 32) {
          __m256i a = _mm512_cvtps_ph(epi16(&rc, _mm512_loadu_ps(crow + j), c0 + j),
                                      _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
          __m256i b = _mm512_cvtps_ph(epi16(&rc, _mm512_loadu_ps(crow + j + 16), c0 + j + 16),
                                      _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
          _mm512_storeu_si512((uint16_t *)p->out + o + j, _mm512_inserti64x4(_mm512_castsi256_si512(a), b, 1));
        }
        break;
    }
  }
}

const fp8g_bf16_epilogue_fn fp8g_bf16_epilogue_nr_avx512bf16 = epilogue_nr_avx512bf16;

static const fp8g_bf16_isa_ops ops = {ukernel_avx512bf16, decode_avx512bf16, transpose_avx512bf16,
                                      fold32_avx512bf16, ukernel_rows_avx512bf16,
                                      decode_fold32_avx512bf16, epilogue_nr_avx512bf16,
                                      ukernel_wt_avx512bf16};

static fp8gemm_status run(const fp8g_gemm_problem *p) {
  return fp8g_bf16_gemm_run(p, &ops, &fp8g_gemm_ref_w8a8);
}

const fp8g_gemm_kernel fp8g_gemm_avx512bf16_w8a8 = {.name = "gemm_avx512bf16", .isa = FP8GEMM_ISA_AVX512_BF16,
    .supports = fp8g_bf16_supports, .run = run};

/* w8a16 (bf16 activations): calls whose activations fail the range check (in the
 * driver) or that run with DAZ / FTZ or a rounding mode other than nearest-even set
 * (VDPBF16PS ignores MXCSR, the scale FMAs and the AVX2 kernel follow it) go to the
 * AVX2 kernel. */
static fp8gemm_status run_w8a16(const fp8g_gemm_problem *p) {
  if (_mm_getcsr() & 0xE040u) {
    fp8g_bf16_count_handback();
    return fp8g_gemm_avx2_w8a16.run(p);
  }
  return fp8g_bf16_gemm_run(p, &ops, &fp8g_gemm_avx2_w8a16);
}

const fp8g_gemm_kernel fp8g_gemm_avx512bf16_w8a16 = {.name = "gemm_w8a16_avx512bf16", .isa = FP8GEMM_ISA_AVX512_BF16,
    .supports = fp8g_bf16_supports_w8a16, .run = run_w8a16};
