/*
 * Test-only: the gemm_bf16_ukernel_body.h vocabulary in plain C, with VDPBF16PS's
 * semantics as the Intel SDM gives them (per lane: srcdest += hi * hi, then += lo * lo;
 * each an fp32 FMA rounded to nearest even, denormal inputs read as zero, denormal
 * results flushed to zero, MXCSR ignored). With it the whole BF16 GEMM (plan, packing,
 * driver, micro-kernel, epilogue) runs on CPUs without AVX512_BF16 as `gemm_bf16_emul`;
 * only the intrinsic wrappers of avx512_bf16/gemm_avx512bf16.c are left to a machine
 * that has the instruction (test_gemm_bf16.c compares the two bit for bit there).
 * Needs the default MXCSR (round to nearest, no FTZ / DAZ), as the tests run.
 */
#ifndef FP8GEMM_TEST_GEMM_BF16_EMUL_H
#define FP8GEMM_TEST_GEMM_BF16_EMUL_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "kernels/avx2/gemm_avx2.h" /* gemm_w8a16_avx2: the w8a16 hand-back */
#include "kernels/gemm_bf16.h"

typedef struct { float v[16]; } bk_f;
typedef struct { uint32_t v[16]; } bk_p;

#define BK_EACH for (int l = 0; l < 16; l++)

/* Denormal -> zero of the same sign (DAZ on inputs, FTZ on results). */
static inline float emu_flush(float x) {
  return fpclassify(x) == FP_SUBNORMAL ? copysignf(0.0f, x) : x;
}
static inline float emu_bf16(uint32_t h) { return emu_flush(fp8g_f32_from_bits((h & 0xFFFFu) << 16)); }

/* One lane of VDPBF16PS. */
static inline float emu_dpbf16_lane(float acc, uint32_t a, uint32_t b) {
  acc = emu_flush(fmaf(emu_bf16(a >> 16), emu_bf16(b >> 16), emu_flush(acc)));
  return emu_flush(fmaf(emu_bf16(a), emu_bf16(b), acc));
}

static inline bk_f bk_zero(void) { bk_f r; BK_EACH r.v[l] = 0.0f; return r; }
static inline bk_f bk_loadf(const float *p) { bk_f r; memcpy(r.v, p, sizeof r.v); return r; }
static inline void bk_storef(float *p, bk_f v) { memcpy(p, v.v, sizeof v.v); }
static inline bk_f bk_bcastf(const float *p) { bk_f r; BK_EACH r.v[l] = *p; return r; }
static inline bk_p bk_load_pairs(const uint32_t *p) {
  /* the real load faults when unaligned: check the driver's promise */
  if ((uintptr_t)p % 64 != 0) __builtin_trap();
  bk_p r;
  memcpy(r.v, p, sizeof r.v);
  return r;
}
static inline bk_p bk_bcast_pair(const uint32_t *p) { bk_p r; BK_EACH r.v[l] = *p; return r; }
static inline bk_f bk_dot(bk_f acc, bk_p a, bk_p b) {
  BK_EACH acc.v[l] = emu_dpbf16_lane(acc.v[l], a.v[l], b.v[l]);
  return acc;
}
static inline void bk_prefetch_c(const float *p) { (void)p; }
static inline bk_f bk_mul(bk_f a, bk_f b) { BK_EACH a.v[l] *= b.v[l]; return a; }
static inline bk_f bk_fma(bk_f a, bk_f b, bk_f c) { BK_EACH a.v[l] = fmaf(a.v[l], b.v[l], c.v[l]); return a; }

typedef struct { uint8_t v[64]; } bk_b;
#define BK_EACH64 for (int l = 0; l < 64; l++)
static inline bk_b bk_b_load(const uint8_t *p) { bk_b r; memcpy(r.v, p, 64); return r; }
static inline bk_b bk_b_loadn(const uint8_t *p, int n) {
  bk_b r;
  memset(r.v, 0, 64);
  memcpy(r.v, p, (size_t)n); /* under ASan, a read past n would be reported */
  return r;
}
static inline void bk_b_store(uint8_t *p, bk_b v) { memcpy(p, v.v, 64); }
static inline void bk_b_storen(uint8_t *p, bk_b v, int n) { memcpy(p, v.v, (size_t)n); }
static inline bk_b bk_b_set1(uint8_t x) { bk_b r; memset(r.v, x, 64); return r; }
static inline bk_b bk_b_and(bk_b a, bk_b b) { BK_EACH64 a.v[l] &= b.v[l]; return a; }
static inline bk_b bk_b_or(bk_b a, bk_b b) { BK_EACH64 a.v[l] |= b.v[l]; return a; }
/* VPERMT2B: index bit 6 picks the table, bits 0-5 the byte; bit 7 ignored. */
static inline bk_b bk_b_perm2(bk_b t0, bk_b idx, bk_b t1) {
  bk_b r;
  BK_EACH64 r.v[l] = (idx.v[l] & 64 ? t1 : t0).v[idx.v[l] & 63];
  return r;
}
static inline bk_b bk_b_blend_eq(bk_b c, uint8_t code, bk_b x, uint8_t v) {
  BK_EACH64 if (c.v[l] == code) x.v[l] = v;
  return x;
}
#undef BK_EACH64

static inline bk_p bk_p_loadu(const uint32_t *p) { bk_p r; memcpy(r.v, p, sizeof r.v); return r; }
static inline void bk_p_storeu(uint32_t *p, bk_p v) { memcpy(p, v.v, sizeof v.v); }
/* Per 128-bit lane L (dwords 4L..4L+3), as VPUNPCK{L,H}DQ / {L,H}QDQ. */
#define BK_LANES for (int L = 0; L < 4; L++)
static inline bk_p bk_p_unpacklo32(bk_p a, bk_p b) {
  bk_p r;
  BK_LANES { r.v[4 * L] = a.v[4 * L]; r.v[4 * L + 1] = b.v[4 * L]; r.v[4 * L + 2] = a.v[4 * L + 1]; r.v[4 * L + 3] = b.v[4 * L + 1]; }
  return r;
}
static inline bk_p bk_p_unpackhi32(bk_p a, bk_p b) {
  bk_p r;
  BK_LANES { r.v[4 * L] = a.v[4 * L + 2]; r.v[4 * L + 1] = b.v[4 * L + 2]; r.v[4 * L + 2] = a.v[4 * L + 3]; r.v[4 * L + 3] = b.v[4 * L + 3]; }
  return r;
}
static inline bk_p bk_p_unpacklo64(bk_p a, bk_p b) {
  bk_p r;
  BK_LANES { r.v[4 * L] = a.v[4 * L]; r.v[4 * L + 1] = a.v[4 * L + 1]; r.v[4 * L + 2] = b.v[4 * L]; r.v[4 * L + 3] = b.v[4 * L + 1]; }
  return r;
}
static inline bk_p bk_p_unpackhi64(bk_p a, bk_p b) {
  bk_p r;
  BK_LANES { r.v[4 * L] = a.v[4 * L + 2]; r.v[4 * L + 1] = a.v[4 * L + 3]; r.v[4 * L + 2] = b.v[4 * L + 2]; r.v[4 * L + 3] = b.v[4 * L + 3]; }
  return r;
}
#undef BK_LANES
/* VSHUFI32X4: result lanes 0, 1 from a, 2, 3 from b; even picks lanes 0, 2, odd 1, 3. */
static inline bk_p bk_p_shuf128(bk_p a, bk_p b, int odd) {
  bk_p r;
  for (int L = 0; L < 4; L++) memcpy(&r.v[4 * L], &(L < 2 ? a : b).v[4 * (2 * (L % 2) + odd)], 16);
  return r;
}
static inline bk_p bk_p_shuf128_even(bk_p a, bk_p b) { return bk_p_shuf128(a, b, 0); }
static inline bk_p bk_p_shuf128_odd(bk_p a, bk_p b) { return bk_p_shuf128(a, b, 1); }

#define BK_UKERNEL ukernel_bf16_emul
#define BK_DECODE decode_bf16_emul
#define BK_TRANSPOSE transpose_bf16_emul
#include "kernels/gemm_bf16_ukernel_body.h"

static const fp8g_bf16_isa_ops bf16_emul_ops = {ukernel_bf16_emul, decode_bf16_emul, transpose_bf16_emul,
                                                NULL /* MX fold: the packers' portable one */,
                                                NULL /* M-edge tiles on scratch: the real kernel's
                                                        row kernels are compared with it */,
                                                NULL /* decode, then the MX fold */,
                                                NULL /* the AVX2 epilogue */,
                                                NULL /* no C^T = W A^T path: the real kernel's
                                                        is compared with these loops */};

static fp8gemm_status gemm_bf16_emul_run(const fp8g_gemm_problem *p) {
  return fp8g_bf16_gemm_run(p, &bf16_emul_ops, &fp8g_gemm_ref_w8a8);
}

/* ISA scalar so that it is never filtered out; it needs AVX2 only for the shared
 * AVX2 epilogue (callers check). */
static const fp8g_gemm_kernel gemm_bf16_emul = {.name = "gemm_bf16_emul", .isa = FP8GEMM_ISA_SCALAR,
    .supports = fp8g_bf16_supports, .run = gemm_bf16_emul_run};

/* fp8_gemm_w8a16 (bf16 activations) the same way; data hand-backs go to the AVX2 kernel. */
static fp8gemm_status gemm_bf16_emul_w8a16_run(const fp8g_gemm_problem *p) {
  return fp8g_bf16_gemm_run(p, &bf16_emul_ops, &fp8g_gemm_avx2_w8a16);
}
static const fp8g_gemm_kernel gemm_bf16_emul_w8a16 = {.name = "gemm_w8a16_bf16_emul", .isa = FP8GEMM_ISA_SCALAR,
    .supports = fp8g_bf16_supports_w8a16, .run = gemm_bf16_emul_w8a16_run};

#undef BK_EACH
#endif /* FP8GEMM_TEST_GEMM_BF16_EMUL_H */
