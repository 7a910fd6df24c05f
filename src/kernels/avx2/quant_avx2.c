/*
 * AVX2 + FMA + F16C quant kernels: the vector vocabulary of quant_simd_body.h on
 * 256-bit registers (8 f32 lanes, 4 vectors per 32-element chunk). The kernels
 * themselves live in the body, shared with the AVX-512 twin.
 */
#include <immintrin.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#define QS_W 8
#define QS_N 4
typedef __m256 qs_f;
typedef __m256i qs_i;
typedef __m256i qs_m; /* lane mask: all ones / all zeros per i32 lane */

#define QS_V static inline __attribute__((always_inline))
QS_V qs_f qs_loadf(const float *p) { return _mm256_loadu_ps(p); }
QS_V void qs_storef(float *p, qs_f v) { _mm256_storeu_ps(p, v); }
QS_V qs_f qs_setf(float x) { return _mm256_set1_ps(x); }
QS_V qs_f qs_addf(qs_f a, qs_f b) { return _mm256_add_ps(a, b); }
QS_V qs_f qs_mulf(qs_f a, qs_f b) { return _mm256_mul_ps(a, b); }
/* min(a, b), and b where either is NaN */
QS_V qs_f qs_minf(qs_f a, qs_f b) { return _mm256_min_ps(a, b); }
QS_V qs_f qs_divf(qs_f a, qs_f b) { return _mm256_div_ps(a, b); }
QS_V qs_i qs_bits(qs_f a) { return _mm256_castps_si256(a); }
QS_V qs_f qs_flt(qs_i a) { return _mm256_castsi256_ps(a); }
QS_V qs_i qs_seti(int32_t x) { return _mm256_set1_epi32(x); }
QS_V qs_i qs_add(qs_i a, qs_i b) { return _mm256_add_epi32(a, b); }
QS_V qs_i qs_sub(qs_i a, qs_i b) { return _mm256_sub_epi32(a, b); }
QS_V qs_i qs_and(qs_i a, qs_i b) { return _mm256_and_si256(a, b); }
QS_V qs_i qs_or(qs_i a, qs_i b) { return _mm256_or_si256(a, b); }
QS_V qs_i qs_xor(qs_i a, qs_i b) { return _mm256_xor_si256(a, b); }
QS_V qs_i qs_min(qs_i a, qs_i b) { return _mm256_min_epi32(a, b); }
QS_V qs_i qs_max(qs_i a, qs_i b) { return _mm256_max_epi32(a, b); }
QS_V qs_i qs_srl(qs_i a, int n) { return _mm256_srl_epi32(a, _mm_cvtsi32_si128(n)); }
QS_V qs_i qs_sll(qs_i a, int n) { return _mm256_sll_epi32(a, _mm_cvtsi32_si128(n)); }
#define qs_srli(a, n) _mm256_srli_epi32(a, n)
#define qs_slli(a, n) _mm256_slli_epi32(a, n)
QS_V qs_m qs_gt(qs_i a, qs_i b) { return _mm256_cmpgt_epi32(a, b); }
QS_V qs_m qs_eq(qs_i a, qs_i b) { return _mm256_cmpeq_epi32(a, b); }
/* yes where m is set, else no */
QS_V qs_i qs_sel(qs_m m, qs_i no, qs_i yes) { return _mm256_blendv_epi8(no, yes, m); }
/* v where m is clear, else 0 */
QS_V qs_i qs_andnot_m(qs_m m, qs_i v) { return _mm256_andnot_si256(m, v); }
QS_V qs_i qs_load_tab8(const uint32_t *t) { return _mm256_loadu_si256((const __m256i *)t); }
/* tab[idx & 7] */
QS_V qs_i qs_perm8(qs_i tab, qs_i idx) { return _mm256_permutevar8x32_epi32(tab, idx); }
QS_V qs_i qs_load_u8(const uint8_t *p) {
  return _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)p));
}
QS_V qs_i qs_load_u16(const uint16_t *p) {
  return _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
}
/* 4 bytes -> 8 lanes; lane i holds byte i/2 shifted right by 4 * (i % 2) (bits above
 * the low nibble are left for the caller to mask). */
QS_V qs_i qs_load_nibbles(const uint8_t *p) {
  int32_t w;
  memcpy(&w, p, sizeof w);
  __m128i b = _mm_shuffle_epi8(_mm_cvtsi32_si128(w), _mm_setr_epi8(0, 0, 1, 1, 2, 2, 3, 3, -1, -1,
                                                                   -1, -1, -1, -1, -1, -1));
  return _mm256_srlv_epi32(_mm256_cvtepu8_epi32(b), _mm256_setr_epi32(0, 4, 0, 4, 0, 4, 0, 4));
}
/* lanes hold values <= 0xffff */
QS_V void qs_store_u16(uint16_t *p, qs_i v) {
  __m256i w = _mm256_permute4x64_epi64(_mm256_packus_epi32(v, v), 0x08);
  _mm_storeu_si128((__m128i *)p, _mm256_castsi256_si128(w));
}
QS_V qs_f qs_f16_to_f32(const uint16_t *p) {
  return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
}
QS_V void qs_f32_to_f16(uint16_t *p, qs_f x) {
  _mm_storeu_si128((__m128i *)p, _mm256_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}
/* max over lanes of non-negative i32 */
QS_V uint32_t qs_hmax(qs_i v) {
  __m128i m = _mm_max_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  m = _mm_max_epi32(m, _mm_shuffle_epi32(m, 0x4e));
  m = _mm_max_epi32(m, _mm_shuffle_epi32(m, 0xb1));
  return (uint32_t)_mm_cvtsi128_si32(m);
}

/* lane b = max over the lanes of m[b] (non-negative i32): a transposing reduction */
QS_V qs_i qs_hmax_each(const qs_i m[QS_W]) {
  __m256i t[4];
  for (int i = 0; i < 4; i++)
    t[i] = _mm256_max_epi32(_mm256_unpacklo_epi32(m[2 * i], m[2 * i + 1]),
                            _mm256_unpackhi_epi32(m[2 * i], m[2 * i + 1]));
  __m256i u0 = _mm256_max_epi32(_mm256_unpacklo_epi64(t[0], t[1]), _mm256_unpackhi_epi64(t[0], t[1]));
  __m256i u1 = _mm256_max_epi32(_mm256_unpacklo_epi64(t[2], t[3]), _mm256_unpackhi_epi64(t[2], t[3]));
  return _mm256_max_epi32(_mm256_permute2x128_si256(u0, u1, 0x20),
                          _mm256_permute2x128_si256(u0, u1, 0x31));
}
/* every lane = lane `lane` of v */
QS_V qs_i qs_bcast(qs_i v, int lane) { return _mm256_permutevar8x32_epi32(v, _mm256_set1_epi32(lane)); }
/* QS_W bytes from lanes holding values <= 255 */
QS_V void qs_store_u8(uint8_t *p, qs_i v) {
  __m128i w = _mm_packus_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  _mm_storel_epi64((__m128i *)p, _mm_packus_epi16(w, w));
}
QS_V bool qs_any(qs_m m) { return _mm256_movemask_epi8(m) != 0; }
QS_V qs_m qs_or_m(qs_m a, qs_m b) { return _mm256_or_si256(a, b); }
/* -1 where m is set, else 0 */
QS_V qs_i qs_mask_i(qs_m m) { return m; }

QS_V qs_i qs_sra(qs_i a, int n) { return _mm256_sra_epi32(a, _mm_cvtsi32_si128(n)); }
/* 2 * QS_W u16 from two vectors of lanes <= 0xffff, in order */
QS_V void qs_store_u16x2(uint16_t *p, qs_i a, qs_i b) {
  _mm256_storeu_si256((__m256i *)p, _mm256_permute4x64_epi64(_mm256_packus_epi32(a, b), 0xd8));
}

/* 16-bit lanes (2 * QS_W per vector), for bf16 outputs built by table arithmetic */
typedef __m256i qs_h;
typedef __m256i qs_hm;
QS_V qs_h qs_h_load_u8(const uint8_t *p) { return _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)p)); }
QS_V void qs_h_store(uint16_t *p, qs_h v) { _mm256_storeu_si256((__m256i *)p, v); }
QS_V qs_h qs_h_set(int v) { return _mm256_set1_epi16((short)v); }
QS_V qs_h qs_h_and(qs_h a, qs_h b) { return _mm256_and_si256(a, b); }
QS_V qs_h qs_h_or(qs_h a, qs_h b) { return _mm256_or_si256(a, b); }
QS_V qs_h qs_h_xor(qs_h a, qs_h b) { return _mm256_xor_si256(a, b); }
QS_V qs_h qs_h_add(qs_h a, qs_h b) { return _mm256_add_epi16(a, b); }
QS_V qs_h qs_h_mul(qs_h a, qs_h b) { return _mm256_mullo_epi16(a, b); }
QS_V qs_h qs_h_sll(qs_h a, int n) { return _mm256_sll_epi16(a, _mm_cvtsi32_si128(n)); }
QS_V qs_h qs_h_srl(qs_h a, int n) { return _mm256_srl_epi16(a, _mm_cvtsi32_si128(n)); }
QS_V qs_hm qs_h_eq(qs_h a, qs_h b) { return _mm256_cmpeq_epi16(a, b); }
/* yes where m is set, else no */
QS_V qs_h qs_h_sel(qs_hm m, qs_h no, qs_h yes) { return _mm256_blendv_epi8(no, yes, m); }
/* amax of 16-bit data in 16-bit lanes (quant_simd_body.h, qs_amax16_nan_in) */
#define QS_H16_MAX 1
QS_V qs_h qs_h_loadu(const uint16_t *p) { return _mm256_loadu_si256((const __m256i *)p); }
/* lanes <= 0x7fff: the signed max is the unsigned one */
QS_V qs_h qs_h_max(qs_h a, qs_h b) { return _mm256_max_epi16(a, b); }
QS_V uint32_t qs_h_hmax(qs_h v) {
  __m128i m = _mm_max_epi16(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  m = _mm_max_epi16(m, _mm_shuffle_epi32(m, 0x4e));
  m = _mm_max_epi16(m, _mm_shuffle_epi32(m, 0xb1));
  m = _mm_max_epi16(m, _mm_srli_epi32(m, 16));
  return (uint32_t)_mm_cvtsi128_si32(m) & 0xffffu;
}
/* a 16-byte table in every 128-bit lane */
QS_V qs_h qs_h_tab16(const uint8_t *t) { return _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)t)); }
/* byte b of each lane = tab[idx byte b] (idx bytes < 16) */
QS_V qs_h qs_h_shuf(qs_h tab, qs_h idx) { return _mm256_shuffle_epi8(tab, idx); }

/* 16 bf16 -> the f32 magnitudes |x| of elements 0, 2, .., 14 (a) and 1, 3, .., 15 (b) */
#define QS_BF16_PAIRS 1
QS_V void qs_load_bf16_pair(const uint16_t *p, qs_f *a, qs_f *b) {
  __m256i v = _mm256_and_si256(_mm256_loadu_si256((const __m256i *)p), _mm256_set1_epi16(0x7fff));
  *a = _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
  *b = _mm256_castsi256_ps(_mm256_and_si256(v, _mm256_set1_epi32((int)0xffff0000u)));
}

/* lane 0 of a vector (the scale factor, set to every lane) */
QS_V float qs_first(qs_f v) { return _mm256_cvtss_f32(v); }

/*
 * Table-driven bf16 -> fp8 step (quant_simd_body.h, qs_btab_init has the why): in
 * 16-bit lanes, code = min((|w| + K + tab[(|w| >> 3) & 15]) >> r, lim) for |w| in
 * [low, Inf]; 16 values per vector, no float operation. Lanes outside that range (fp8
 * subnormal or zero results below, NaN above) flag their chunk for the general path.
 */
#define QS_BF16_TABLE 1
typedef struct qs_btab {
  __m256i tab;    /* the 16 group bytes in both 128-bit lanes */
  __m256i k;      /* K (mod 2^16) */
  __m256i lim;    /* the overflow / saturation code */
  __m256i low;    /* |w| below this: not a normal fp8 result, the chunk goes the slow way */
  __m256i span;   /* 0x7f80 - low: |w| - low above it (unsigned): below low, or a NaN */
  __m128i r;      /* shift count */
} qs_btab;

/* (no NaN code: NaN lanes flag their chunk, the general path gives them theirs) */
static inline void qs_btab_set(qs_btab *t, const uint8_t tab[16], uint16_t k, int r, int lim,
                               uint16_t low) {
  t->tab = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)tab));
  t->k = _mm256_set1_epi16((short)k);
  t->lim = _mm256_set1_epi16((short)lim);
  t->low = _mm256_set1_epi16((short)low);
  t->span = _mm256_set1_epi16((short)(0x7f80 - low));
  t->r = _mm_cvtsi32_si128(r);
}

QS_V __m256i qs_btab_code(const qs_btab *t, __m256i a) {
  __m256i idx = _mm256_and_si256(_mm256_srli_epi16(a, 3), _mm256_set1_epi16(0x000f));
  /* the high byte of each word looks up entry 0: K accounts for it */
  __m256i sum = _mm256_add_epi16(_mm256_add_epi16(a, t->k), _mm256_shuffle_epi8(t->tab, idx));
  return _mm256_min_epi16(_mm256_sra_epi16(sum, t->r), t->lim);
}

/*
 * 32 bf16 -> 32 code bytes with signs, for the table loop of quant_simd_body.h
 * (qs_btab_loop_st): every chunk is stored (streamed with nt, q 32-byte aligned), and the
 * return value says whether a lane was outside [low, Inf] (below: an fp8 subnormal or
 * zero code; above: a NaN; those bytes are wrong: the caller redoes the chunk by the
 * general pair path after its block). The range test is one wrapping subtract per
 * vector, an unsigned max of the two and one saturating subtract of span (nonzero: out
 * of range); sending NaN lanes to the redo leaves the table step without a NaN case
 * (3 ops per vector). No branch per chunk, and no call: the redo loop runs apart from
 * the table loop, so it does not crowd the table loop's registers. An in-range code is
 * >= 2^m, never 0, so formats without -0 need no case of their own.
 */
QS_V bool qs_btab_chunk_all(const qs_btab *t, const uint16_t *x, uint8_t *q, bool nt) {
  __m256i w0 = _mm256_loadu_si256((const __m256i *)x);
  __m256i w1 = _mm256_loadu_si256((const __m256i *)(x + 16));
  __m256i a0 = _mm256_and_si256(w0, _mm256_set1_epi16(0x7fff));
  __m256i a1 = _mm256_and_si256(w1, _mm256_set1_epi16(0x7fff));
  __m256i d = _mm256_max_epu16(_mm256_sub_epi16(a0, t->low), _mm256_sub_epi16(a1, t->low));
  __m256i out = _mm256_subs_epu16(d, t->span);
  __m256i b = _mm256_packus_epi16(qs_btab_code(t, a0), qs_btab_code(t, a1));
  __m256i s = _mm256_and_si256(_mm256_packs_epi16(w0, w1), _mm256_set1_epi8((char)0x80));
  __m256i c = _mm256_permute4x64_epi64(_mm256_or_si256(b, s), 0xd8);
  if (nt) _mm256_stream_si256((__m256i *)q, c);
  else _mm256_storeu_si256((__m256i *)q, c);
  return !_mm256_testz_si256(out, out);
}

/* 32 bytes from an aligned buffer to q (32-byte aligned), non-temporal (the deferred
 * redo's streamed form; AVX2 streams only when a caller sets e->nt, which needs
 * QS_PUT_FP8_NT: not defined here, so this is compiled but not reached) */
QS_V void qs_stream32(uint8_t *q, const uint8_t *buf) {
  _mm256_stream_si256((__m256i *)q, _mm256_load_si256((const __m256i *)buf));
}

struct qs_enc;
/* The fp8 store step applies PLAIN / CLAMP limits to the packed bytes (quant_simd_body.h,
 * qs_quant_chunk_f32) */
#define QS_PUT_LIMITS 1
static inline void qs_put_fp8_lim(uint8_t *q, const qs_i raw[QS_N], __m256i sb,
                                  const struct qs_enc *e, int limit);
static inline void qs_put_fp8_bf16p_lim(uint8_t *q, const qs_i raw[QS_N], const uint16_t *x,
                                        const struct qs_enc *e, int limit);
/* The sign bytes (0x80 or 0) of 32 f32 in the order of the raw-code packs below:
 * signed saturation keeps each sign */
QS_V __m256i qs_sign_bytes_y(const qs_f y[QS_N]) {
  __m256i s = _mm256_packs_epi16(_mm256_packs_epi32(_mm256_castps_si256(y[0]), _mm256_castps_si256(y[1])),
                                 _mm256_packs_epi32(_mm256_castps_si256(y[2]), _mm256_castps_si256(y[3])));
  return _mm256_and_si256(s, _mm256_set1_epi8((char)0x80));
}
QS_V __m256i qs_sign_bytes_x(const float *x) {
  __m256i s = _mm256_packs_epi16(
      _mm256_packs_epi32(_mm256_loadu_si256((const __m256i *)x), _mm256_loadu_si256((const __m256i *)(x + 8))),
      _mm256_packs_epi32(_mm256_loadu_si256((const __m256i *)(x + 16)), _mm256_loadu_si256((const __m256i *)(x + 24))));
  return _mm256_and_si256(s, _mm256_set1_epi8((char)0x80));
}
static inline void qs_put_fp8_bf16p(uint8_t *q, const qs_i raw[QS_N], const uint16_t *x,
                                    const struct qs_enc *e);
static inline void qs_put_fp8(uint8_t *q, const qs_i raw[QS_N], const qs_f y[QS_N],
                              const struct qs_enc *e);
static inline void qs_put_e2m1(uint8_t *q, const qs_i raw[QS_N], const qs_f y[QS_N],
                               const struct qs_enc *e);

/* Software prefetch this many bytes ahead where a single f32 stream is read with no
 * next row to fetch: fp8_cast / per-tensor quantize (QS_PF_AHEAD, the loop's T2 hint)
 * and mx_quantize (QS_MX_PF_AHEAD, T0). On the Zen 3 VM one core's hardware prefetcher
 * alone left the stream and the arithmetic mostly serialised (cast 56% -> ~70%, MX
 * 49% -> ~60% of the streaming read; docs/quant_kernels.md, "Zen 3, session 10"). */
#define QS_PF_AHEAD ((size_t)4096)
#define QS_MX_PF_AHEAD ((size_t)4096)
#define QS_MX_PF_HINT _MM_HINT_T0
/* Spans of at least QS_STREAMS_MIN elements (quantize of f32 with no next row: fp8_cast's
 * 1 Mi spans; dequantize) are walked as QS_STREAMS far-apart parts in turn (the body's
 * qs_stream_part). 4: on the Zen 3 VM 2 gained less for fp8_cast and 8 lost to one
 * stream (docs/quant_kernels.md, "Zen 3, session 12"). */
#define QS_STREAMS ((size_t)4)
#define QS_STREAMS_MIN ((size_t)1 << 16)
#include "../quant_simd_body.h"

/*
 * 32 raw codes -> 32 fp8 code bytes in element order, sb: their sign bytes (0x80 / 0,
 * pack order). limit PLAIN / CLAMP: raw is not yet limited (QS_LIM_DEFER). The signed
 * packs saturate a raw value above 127 to 127, and every limit on raw fits a signed byte
 * (qs_enc_init checks it), so min(pack(raw), lim_b) == pack(min(raw, lim_b)); when
 * lim_b + 2^m == 127 (e4m3fn's NaN code: its CLAMP and its non-saturating limit) the
 * saturating add of 2^m is that min. Raw values below the limit are >= -2^m and pass the
 * packs unchanged; the wrapping add of 2^m then gives the code (0x80 for fnuz's NaN).
 * limit BLEND: raw already limited by the encoder (every path without the deferred
 * limit passes it), only 2^m is added.
 */
QS_V __m256i qs_limit_bytes(__m256i b, const qs_enc *e, int limit) {
  __m256i bias = _mm256_set1_epi8((char)(1 << e->m));
  if (limit == QS_LIM_BLEND) return _mm256_add_epi8(b, bias); /* limited by the encoder */
  int i = limit == QS_LIM_CLAMP;
  if (e->lim_sat[i]) return _mm256_adds_epi8(b, bias);
  return _mm256_add_epi8(_mm256_min_epi8(b, _mm256_set1_epi8(e->lim_b[i])), bias);
}

/* b: limited codes (pack order or element order), sb: their sign bytes: -0 only where
 * the format has it (fnuz: a zero code stays unsigned) */
QS_V __m256i qs_sign_codes(__m256i b, __m256i sb, const qs_enc *e) {
  if (!e->neg_zero) sb = _mm256_andnot_si256(_mm256_cmpeq_epi8(b, _mm256_setzero_si256()), sb);
  return _mm256_or_si256(b, sb);
}

/* 32 raw codes (limited as limit says, qs_limit_bytes) with their sign bytes sb (pack
 * order, each 0x80 or 0, or 0x08 for e2m1) -> 32 code bytes in element order */
QS_V __m256i qs_codes_bytes_lim(const qs_i raw[QS_N], __m256i sb, const qs_enc *e, int limit) {
  __m256i b = _mm256_packs_epi16(_mm256_packs_epi32(raw[0], raw[1]),
                                 _mm256_packs_epi32(raw[2], raw[3]));
  b = qs_sign_codes(qs_limit_bytes(b, e, limit), sb, e);
  return _mm256_permutevar8x32_epi32(b, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

/* 32 limited raw codes -> 32 code bytes in element order, the signs of y. */
QS_V __m256i qs_codes_bytes(const qs_i raw[QS_N], const qs_f y[QS_N], const qs_enc *e) {
  __m256i s = qs_sign_bytes_y(y);
  if (e->sign_bit == 0x08) s = _mm256_srli_epi16(s, 4); /* each 0x80 byte -> 0x08 */
  return qs_codes_bytes_lim(raw, s, e, QS_LIM_BLEND);
}

static inline void qs_put_fp8(uint8_t *q, const qs_i raw[QS_N], const qs_f y[QS_N],
                              const qs_enc *e) {
  _mm256_storeu_si256((__m256i *)q, qs_codes_bytes(raw, y, e));
}

static inline void qs_put_fp8_lim(uint8_t *q, const qs_i raw[QS_N], __m256i sb, const qs_enc *e,
                                  int limit) {
  _mm256_storeu_si256((__m256i *)q, qs_codes_bytes_lim(raw, sb, e, limit));
}

/* 32 raw codes of x[0..31] in qs_load_bf16_pair order (even, odd, even, odd) -> 32
 * code bytes in element order, the signs taken from the bf16 inputs; limit as in
 * qs_codes_bytes_lim (BLEND: raw already limited). */
static inline void qs_put_fp8_bf16p_lim(uint8_t *q, const qs_i raw[QS_N], const uint16_t *x,
                                        const qs_enc *e, int limit) {
  /* per 128-bit lane: elements 0 2 4 6 1 3 5 7 16 18 20 22 17 19 21 23 (+8 in lane 1) */
  __m256i b = _mm256_packs_epi16(_mm256_packs_epi32(raw[0], raw[1]),
                                 _mm256_packs_epi32(raw[2], raw[3]));
  b = _mm256_shuffle_epi8(b, _mm256_setr_epi8(0, 4, 1, 5, 2, 6, 3, 7, 8, 12, 9, 13, 10, 14, 11, 15,
                                              0, 4, 1, 5, 2, 6, 3, 7, 8, 12, 9, 13, 10, 14, 11, 15));
  b = qs_limit_bytes(b, e, limit);
  /* the same order (0-7 16-23 | 8-15 24-31) from packing the bf16 words: saturation
   * keeps each sign */
  __m256i s = _mm256_packs_epi16(_mm256_loadu_si256((const __m256i *)x),
                                 _mm256_loadu_si256((const __m256i *)(x + 16)));
  s = _mm256_and_si256(s, _mm256_set1_epi8((char)0x80));
  _mm256_storeu_si256((__m256i *)q, _mm256_permute4x64_epi64(qs_sign_codes(b, s, e), 0xd8));
}

static inline void qs_put_fp8_bf16p(uint8_t *q, const qs_i raw[QS_N], const uint16_t *x,
                                    const qs_enc *e) {
  qs_put_fp8_bf16p_lim(q, raw, x, e, QS_LIM_BLEND);
}

/* Element 2i in the low nibble of byte i. */
static inline void qs_put_e2m1(uint8_t *q, const qs_i raw[QS_N], const qs_f y[QS_N],
                               const qs_enc *e) {
  __m256i b = qs_codes_bytes(raw, y, e);
  __m256i nib = _mm256_or_si256(_mm256_and_si256(b, _mm256_set1_epi16(0x000f)),
                                _mm256_and_si256(_mm256_srli_epi16(b, 4), _mm256_set1_epi16(0x00f0)));
  __m256i w = _mm256_permute4x64_epi64(_mm256_packus_epi16(nib, nib), 0x08);
  _mm_storeu_si128((__m128i *)q, _mm256_castsi256_si128(w));
}

const fp8g_quant_kernels fp8g_quant_avx2 = {
    "quant_avx2", FP8GEMM_ISA_AVX2, qs_widen,      qs_narrow,
    qs_amax,      qs_quantize,      qs_dequantize, qs_mx_quantize,
    qs_amax_wide, qs_quantize_wide, qs_dequantize_narrow, qs_quantize_wide_pf,
    qs_quantize_nt, qs_quantize_wide_pf_nt, qs_nt_fence,
    qs_mx_quantize_nt, qs_dequantize_narrow_nt,
};
