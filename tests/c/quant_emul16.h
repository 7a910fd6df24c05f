/*
 * Test-only: the quant_simd_body.h vocabulary in plain C with 16 lanes and AVX-512
 * semantics (2 vectors per chunk, MX groups of 16 blocks, 4-bit permute indices,
 * byte stores as vpmovdb would do them). Included by test_quant_kernels.c so the shared
 * kernel body runs at the AVX-512 width on any CPU; only the intrinsic wrappers of
 * avx512/quant_avx512.c are left to a machine that has AVX-512.
 */
#ifndef FP8GEMM_TEST_QUANT_EMUL16_H
#define FP8GEMM_TEST_QUANT_EMUL16_H

#include <immintrin.h> /* _mm_getcsr, used by the body */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "internal.h"

#define QS_W 16
#define QS_N 2
typedef struct { float v[16]; } qs_f;
typedef struct { int32_t v[16]; } qs_i;
typedef struct { int32_t v[16]; } qs_m; /* -1 / 0 per lane */

#define QS_V static inline
#define EACH for (int l = 0; l < 16; l++)
static inline int32_t emu_i(uint32_t u) { return (int32_t)u; }

QS_V qs_f qs_loadf(const float *p) { qs_f r; memcpy(r.v, p, sizeof r.v); return r; }
QS_V void qs_storef(float *p, qs_f v) { memcpy(p, v.v, sizeof v.v); }
QS_V qs_f qs_setf(float x) { qs_f r; EACH r.v[l] = x; return r; }
QS_V qs_f qs_addf(qs_f a, qs_f b) { EACH a.v[l] += b.v[l]; return a; }
QS_V qs_f qs_mulf(qs_f a, qs_f b) { EACH a.v[l] *= b.v[l]; return a; }
/* vminps: min(a, b), and b where either is NaN (or both are zeros) */
QS_V qs_f qs_minf(qs_f a, qs_f b) { EACH a.v[l] = a.v[l] < b.v[l] ? a.v[l] : b.v[l]; return a; }
QS_V qs_f qs_divf(qs_f a, qs_f b) { EACH a.v[l] /= b.v[l]; return a; }
QS_V qs_i qs_bits(qs_f a) { qs_i r; memcpy(r.v, a.v, sizeof r.v); return r; }
QS_V qs_f qs_flt(qs_i a) { qs_f r; memcpy(r.v, a.v, sizeof r.v); return r; }
QS_V qs_i qs_seti(int32_t x) { qs_i r; EACH r.v[l] = x; return r; }
QS_V qs_i qs_add(qs_i a, qs_i b) { EACH a.v[l] = emu_i((uint32_t)a.v[l] + (uint32_t)b.v[l]); return a; }
QS_V qs_i qs_sub(qs_i a, qs_i b) { EACH a.v[l] = emu_i((uint32_t)a.v[l] - (uint32_t)b.v[l]); return a; }
QS_V qs_i qs_and(qs_i a, qs_i b) { EACH a.v[l] &= b.v[l]; return a; }
QS_V qs_i qs_or(qs_i a, qs_i b) { EACH a.v[l] |= b.v[l]; return a; }
QS_V qs_i qs_xor(qs_i a, qs_i b) { EACH a.v[l] ^= b.v[l]; return a; }
QS_V qs_i qs_min(qs_i a, qs_i b) { EACH a.v[l] = a.v[l] < b.v[l] ? a.v[l] : b.v[l]; return a; }
QS_V qs_i qs_max(qs_i a, qs_i b) { EACH a.v[l] = a.v[l] > b.v[l] ? a.v[l] : b.v[l]; return a; }
QS_V qs_i qs_srl(qs_i a, int n) { EACH a.v[l] = emu_i((uint32_t)a.v[l] >> n); return a; }
QS_V qs_i qs_sll(qs_i a, int n) { EACH a.v[l] = emu_i((uint32_t)a.v[l] << n); return a; }
/* arithmetic shift without relying on implementation-defined >> of negatives */
QS_V qs_i qs_sra(qs_i a, int n) {
  EACH {
    uint32_t u = (uint32_t)a.v[l], fill = (u >> 31) ? ~(0xffffffffu >> n) : 0;
    a.v[l] = emu_i((u >> n) | fill);
  }
  return a;
}
#define qs_srli(a, n) qs_srl(a, n)
#define qs_slli(a, n) qs_sll(a, n)
QS_V qs_m qs_gt(qs_i a, qs_i b) { qs_m r; EACH r.v[l] = a.v[l] > b.v[l] ? -1 : 0; return r; }
QS_V qs_m qs_eq(qs_i a, qs_i b) { qs_m r; EACH r.v[l] = a.v[l] == b.v[l] ? -1 : 0; return r; }
QS_V qs_i qs_sel(qs_m m, qs_i no, qs_i yes) { EACH no.v[l] = m.v[l] ? yes.v[l] : no.v[l]; return no; }
QS_V qs_i qs_andnot_m(qs_m m, qs_i v) { EACH v.v[l] = m.v[l] ? 0 : v.v[l]; return v; }
QS_V qs_i qs_load_tab8(const uint32_t *t) { qs_i r; EACH r.v[l] = (int32_t)t[l & 7]; return r; }
/* vpermd on 16 lanes: the index's low 4 bits */
QS_V qs_i qs_perm8(qs_i tab, qs_i idx) { qs_i r; EACH r.v[l] = tab.v[idx.v[l] & 15]; return r; }
QS_V qs_i qs_load_u8(const uint8_t *p) { qs_i r; EACH r.v[l] = p[l]; return r; }
QS_V qs_i qs_load_u16(const uint16_t *p) {
  qs_i r;
  EACH {
    uint16_t h;
    memcpy(&h, p + l, sizeof h);
    r.v[l] = h;
  }
  return r;
}
QS_V qs_i qs_load_nibbles(const uint8_t *p) { qs_i r; EACH r.v[l] = p[l / 2] >> (4 * (l % 2)); return r; }
QS_V void qs_store_u16(uint16_t *p, qs_i v) {
  EACH {
    uint16_t h = (uint16_t)v.v[l];
    memcpy(p + l, &h, sizeof h);
  }
}
QS_V void qs_store_u16x2(uint16_t *p, qs_i a, qs_i b) {
  qs_store_u16(p, a);
  qs_store_u16(p + 16, b);
}
/* F16C semantics differ from the reference only on NaN lanes, which the body rebuilds */
QS_V qs_f qs_f16_to_f32(const uint16_t *p) {
  qs_f r;
  EACH {
    uint16_t h;
    memcpy(&h, p + l, sizeof h);
    r.v[l] = fp8g_f16_to_f32(h);
  }
  return r;
}
QS_V void qs_f32_to_f16(uint16_t *p, qs_f x) {
  EACH {
    uint16_t h = fp8g_f32_to_f16(x.v[l]);
    memcpy(p + l, &h, sizeof h);
  }
}
QS_V uint32_t qs_hmax(qs_i v) {
  int32_t m = v.v[0];
  EACH m = v.v[l] > m ? v.v[l] : m;
  return (uint32_t)m;
}
QS_V qs_i qs_hmax_each(const qs_i m[QS_W]) { qs_i r; EACH r.v[l] = (int32_t)qs_hmax(m[l]); return r; }
QS_V qs_i qs_bcast(qs_i v, int lane) { return qs_seti(v.v[lane]); }
QS_V void qs_store_u8(uint8_t *p, qs_i v) { EACH p[l] = (uint8_t)v.v[l]; }
QS_V bool qs_any(qs_m m) { int32_t a = 0; EACH a |= m.v[l]; return a != 0; }
QS_V qs_m qs_or_m(qs_m a, qs_m b) { EACH a.v[l] |= b.v[l]; return a; }
QS_V qs_i qs_mask_i(qs_m m) { qs_i r; memcpy(r.v, m.v, sizeof r.v); return r; }

/* 16-bit lanes: 32 per vector, as the AVX-512 table has them */
typedef struct { uint16_t v[32]; } qs_h;
typedef qs_h qs_hm; /* 0xffff / 0 per lane */
#define EACH32 for (int l = 0; l < 32; l++)
QS_V qs_h qs_h_load_u8(const uint8_t *p) { qs_h r; EACH32 r.v[l] = p[l]; return r; }
QS_V void qs_h_store(uint16_t *p, qs_h v) { memcpy(p, v.v, sizeof v.v); }
QS_V qs_h qs_h_set(int x) { qs_h r; EACH32 r.v[l] = (uint16_t)x; return r; }
QS_V qs_h qs_h_and(qs_h a, qs_h b) { EACH32 a.v[l] &= b.v[l]; return a; }
QS_V qs_h qs_h_or(qs_h a, qs_h b) { EACH32 a.v[l] |= b.v[l]; return a; }
QS_V qs_h qs_h_xor(qs_h a, qs_h b) { EACH32 a.v[l] ^= b.v[l]; return a; }
QS_V qs_h qs_h_add(qs_h a, qs_h b) { EACH32 a.v[l] = (uint16_t)(a.v[l] + b.v[l]); return a; }
QS_V qs_h qs_h_mul(qs_h a, qs_h b) { EACH32 a.v[l] = (uint16_t)((uint32_t)a.v[l] * b.v[l]); return a; }
QS_V qs_h qs_h_sll(qs_h a, int n) { EACH32 a.v[l] = (uint16_t)((uint32_t)a.v[l] << n); return a; }
QS_V qs_h qs_h_srl(qs_h a, int n) { EACH32 a.v[l] = (uint16_t)(a.v[l] >> n); return a; }
QS_V qs_hm qs_h_eq(qs_h a, qs_h b) { EACH32 a.v[l] = a.v[l] == b.v[l] ? 0xffff : 0; return a; }
QS_V qs_h qs_h_sel(qs_hm m, qs_h no, qs_h yes) { EACH32 no.v[l] = m.v[l] ? yes.v[l] : no.v[l]; return no; }
/* the table itself in lanes 0..7 as bytes (one 128-bit lane's worth, as every lane sees it) */
QS_V qs_h qs_h_tab16(const uint8_t *t) { qs_h r; memcpy(r.v, t, 16); memcpy(r.v + 8, t, 16); memcpy(r.v + 16, t, 16); memcpy(r.v + 24, t, 16); return r; }
/* pshufb within 16-byte lanes; index bytes >= 0x80 give 0, else tab[idx & 15] */
QS_V qs_h qs_h_shuf(qs_h tab, qs_h idx) {
  uint8_t t[64], x[64], r[64];
  memcpy(t, tab.v, 64);
  memcpy(x, idx.v, 64);
  for (int b = 0; b < 64; b++) r[b] = x[b] & 0x80 ? 0 : t[(b & ~15) + (x[b] & 15)];
  qs_h o;
  memcpy(o.v, r, 64);
  return o;
}
#undef EACH32

struct qs_enc;
static inline void qs_put_fp8(uint8_t *q, const qs_i raw[QS_N], const qs_f y[QS_N],
                              const struct qs_enc *e);
static inline void qs_put_e2m1(uint8_t *q, const qs_i raw[QS_N], const qs_f y[QS_N],
                               const struct qs_enc *e);

#include "kernels/quant_simd_body.h"

/* As avx512/quant_avx512.c: code = raw + 2^m, sign from y, zero unsigned if no -0. */
static inline uint8_t emu_code(int32_t raw, float y, const qs_enc *e) {
  uint32_t code = (uint32_t)(raw + (1 << e->m)), u;
  memcpy(&u, &y, sizeof u);
  uint32_t sign = (u >> (e->sign_bit == 0x08 ? 28 : 24)) & e->sign_bit;
  if (!e->neg_zero && code == 0) sign = 0;
  return (uint8_t)(code | sign);
}

static inline void qs_put_fp8(uint8_t *q, const qs_i raw[QS_N], const qs_f y[QS_N],
                              const qs_enc *e) {
  for (int v = 0; v < QS_N; v++) EACH q[16 * v + l] = emu_code(raw[v].v[l], y[v].v[l], e);
}

static inline void qs_put_e2m1(uint8_t *q, const qs_i raw[QS_N], const qs_f y[QS_N],
                               const qs_enc *e) {
  for (int v = 0; v < QS_N; v++)
    for (int l = 0; l < 16; l += 2)
      q[8 * v + l / 2] = (uint8_t)(emu_code(raw[v].v[l], y[v].v[l], e) |
                                   (emu_code(raw[v].v[l + 1], y[v].v[l + 1], e) << 4));
}

static const fp8g_quant_kernels quant_emul16 = {
    "quant_emul16", FP8GEMM_ISA_SCALAR, qs_widen,      qs_narrow,
    qs_amax,        qs_quantize,        qs_dequantize, qs_mx_quantize,
    qs_amax_wide, qs_quantize_wide, qs_dequantize_narrow, qs_quantize_wide_pf,
    qs_quantize_nt, qs_quantize_wide_pf_nt, qs_nt_fence,
    qs_mx_quantize_nt, qs_dequantize_narrow_nt,
};

#undef EACH
#endif /* FP8GEMM_TEST_QUANT_EMUL16_H */
