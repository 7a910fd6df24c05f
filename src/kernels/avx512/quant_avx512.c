/*
 * AVX-512 (F/BW/VL/DQ/VBMI) quant kernels: the vector vocabulary of quant_simd_body.h on
 * 512-bit registers (16 f32 lanes, 2 vectors per 32-element chunk), lane masks in k
 * registers. A structural twin of avx2/quant_avx2.c: only this vocabulary differs, the
 * kernels are the shared body.
 */
#include <immintrin.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#define QS_W 16
#define QS_N 2
typedef __m512 qs_f;
typedef __m512i qs_i;
typedef __mmask16 qs_m;

#define QS_V static inline __attribute__((always_inline))
QS_V qs_f qs_loadf(const float *p) { return _mm512_loadu_ps(p); }
QS_V void qs_storef(float *p, qs_f v) { _mm512_storeu_ps(p, v); }
QS_V qs_f qs_setf(float x) { return _mm512_set1_ps(x); }
QS_V qs_f qs_addf(qs_f a, qs_f b) { return _mm512_add_ps(a, b); }
QS_V qs_f qs_mulf(qs_f a, qs_f b) { return _mm512_mul_ps(a, b); }
/* min(a, b), and b where either is NaN */
QS_V qs_f qs_minf(qs_f a, qs_f b) { return _mm512_min_ps(a, b); }
QS_V qs_f qs_divf(qs_f a, qs_f b) { return _mm512_div_ps(a, b); }
QS_V qs_i qs_bits(qs_f a) { return _mm512_castps_si512(a); }
QS_V qs_f qs_flt(qs_i a) { return _mm512_castsi512_ps(a); }
QS_V qs_i qs_seti(int32_t x) { return _mm512_set1_epi32(x); }
QS_V qs_i qs_add(qs_i a, qs_i b) { return _mm512_add_epi32(a, b); }
QS_V qs_i qs_sub(qs_i a, qs_i b) { return _mm512_sub_epi32(a, b); }
QS_V qs_i qs_and(qs_i a, qs_i b) { return _mm512_and_si512(a, b); }
QS_V qs_i qs_or(qs_i a, qs_i b) { return _mm512_or_si512(a, b); }
QS_V qs_i qs_xor(qs_i a, qs_i b) { return _mm512_xor_si512(a, b); }
QS_V qs_i qs_min(qs_i a, qs_i b) { return _mm512_min_epi32(a, b); }
QS_V qs_i qs_max(qs_i a, qs_i b) { return _mm512_max_epi32(a, b); }
QS_V qs_i qs_srl(qs_i a, int n) { return _mm512_srl_epi32(a, _mm_cvtsi32_si128(n)); }
QS_V qs_i qs_sll(qs_i a, int n) { return _mm512_sll_epi32(a, _mm_cvtsi32_si128(n)); }
#define qs_srli(a, n) _mm512_srli_epi32(a, n)
#define qs_slli(a, n) _mm512_slli_epi32(a, n)
QS_V qs_m qs_gt(qs_i a, qs_i b) { return _mm512_cmpgt_epi32_mask(a, b); }
QS_V qs_m qs_eq(qs_i a, qs_i b) { return _mm512_cmpeq_epi32_mask(a, b); }
/* yes where m is set, else no */
QS_V qs_i qs_sel(qs_m m, qs_i no, qs_i yes) { return _mm512_mask_blend_epi32(m, no, yes); }
/* v where m is clear, else 0 */
QS_V qs_i qs_andnot_m(qs_m m, qs_i v) { return _mm512_maskz_mov_epi32((qs_m)~m, v); }
/* the 8 entries twice, so any index's low 4 bits land on tab[idx & 7] */
QS_V qs_i qs_load_tab8(const uint32_t *t) {
  return _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)t));
}
/* tab[idx & 7] */
QS_V qs_i qs_perm8(qs_i tab, qs_i idx) { return _mm512_permutexvar_epi32(idx, tab); }
QS_V qs_i qs_load_u8(const uint8_t *p) {
  return _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)p));
}
QS_V qs_i qs_load_u16(const uint16_t *p) {
  return _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)p));
}
/* 8 bytes -> 16 lanes; lane i holds byte i/2 shifted right by 4 * (i % 2) (bits above
 * the low nibble are left for the caller to mask). */
QS_V qs_i qs_load_nibbles(const uint8_t *p) {
  __m128i b = _mm_shuffle_epi8(_mm_loadl_epi64((const __m128i *)p),
                               _mm_setr_epi8(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7));
  return _mm512_srlv_epi32(_mm512_cvtepu8_epi32(b),
                           _mm512_setr_epi32(0, 4, 0, 4, 0, 4, 0, 4, 0, 4, 0, 4, 0, 4, 0, 4));
}
/* lanes hold values <= 0xffff */
QS_V void qs_store_u16(uint16_t *p, qs_i v) {
  _mm256_storeu_si256((__m256i *)p, _mm512_cvtepi32_epi16(v));
}
QS_V qs_f qs_f16_to_f32(const uint16_t *p) {
  return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p));
}
QS_V void qs_f32_to_f16(uint16_t *p, qs_f x) {
  _mm256_storeu_si256((__m256i *)p, _mm512_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}
/* max over lanes of non-negative i32 */
QS_V uint32_t qs_hmax(qs_i v) { return (uint32_t)_mm512_reduce_max_epi32(v); }

/* lane b = max over the lanes of m[b] (non-negative i32): a transposing tree of 45 ops
 * (16 separate reductions and a reload cost ~130 and a store-forwarding stall; the MX
 * group loop ran ~10% faster this way, docs/quant_kernels.md "session 9 (mxq9)").
 * Within 128-bit blocks, unpack 32 then 64 leaves sources 4k..4k+3 in the lanes of
 * u[k] (one partial per block); two block shuffles finish across blocks. */
QS_V qs_i qs_hmax_each(const qs_i m[QS_W]) {
  __m512i t[8], u[4];
  for (int i = 0; i < 8; i++)
    t[i] = _mm512_max_epi32(_mm512_unpacklo_epi32(m[2 * i], m[2 * i + 1]),
                            _mm512_unpackhi_epi32(m[2 * i], m[2 * i + 1]));
  for (int k = 0; k < 4; k++)
    u[k] = _mm512_max_epi32(_mm512_unpacklo_epi64(t[2 * k], t[2 * k + 1]),
                            _mm512_unpackhi_epi64(t[2 * k], t[2 * k + 1]));
  /* blocks (0 2 | 0 2) and (1 3 | 1 3) of two vectors */
  __m512i w01 = _mm512_max_epi32(_mm512_shuffle_i32x4(u[0], u[1], 0x88),
                                 _mm512_shuffle_i32x4(u[0], u[1], 0xdd));
  __m512i w23 = _mm512_max_epi32(_mm512_shuffle_i32x4(u[2], u[3], 0x88),
                                 _mm512_shuffle_i32x4(u[2], u[3], 0xdd));
  return _mm512_max_epi32(_mm512_shuffle_i32x4(w01, w23, 0x88), _mm512_shuffle_i32x4(w01, w23, 0xdd));
}
/* every lane = lane `lane` of v */
QS_V qs_i qs_bcast(qs_i v, int lane) { return _mm512_permutexvar_epi32(_mm512_set1_epi32(lane), v); }
/* QS_W bytes from lanes holding values <= 255 */
QS_V void qs_store_u8(uint8_t *p, qs_i v) { _mm_storeu_si128((__m128i *)p, _mm512_cvtepi32_epi8(v)); }
QS_V bool qs_any(qs_m m) { return m != 0; }
QS_V qs_m qs_or_m(qs_m a, qs_m b) { return (qs_m)(a | b); }
/* -1 where m is set, else 0 */
QS_V qs_i qs_mask_i(qs_m m) { return _mm512_movm_epi32(m); }

QS_V qs_i qs_sra(qs_i a, int n) { return _mm512_sra_epi32(a, _mm_cvtsi32_si128(n)); }
/* 2 * QS_W u16 from two vectors of lanes <= 0xffff, in order */
QS_V void qs_store_u16x2(uint16_t *p, qs_i a, qs_i b) {
  _mm256_storeu_si256((__m256i *)p, _mm512_cvtepi32_epi16(a));
  _mm256_storeu_si256((__m256i *)(p + QS_W), _mm512_cvtepi32_epi16(b));
}

/* 16-bit lanes (2 * QS_W per vector), for bf16 outputs built by table arithmetic */
typedef __m512i qs_h;
typedef __mmask32 qs_hm;
QS_V qs_h qs_h_load_u8(const uint8_t *p) { return _mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i *)p)); }
QS_V void qs_h_store(uint16_t *p, qs_h v) { _mm512_storeu_si512(p, v); }
/* a whole 64-byte line, p aligned: dequantize_narrow_nt's bf16 outputs */
#define QS_H_STREAM 1
QS_V void qs_h_stream(uint16_t *p, qs_h v) { _mm512_stream_si512((void *)p, v); }
QS_V qs_h qs_h_set(int v) { return _mm512_set1_epi16((short)v); }
QS_V qs_h qs_h_and(qs_h a, qs_h b) { return _mm512_and_si512(a, b); }
QS_V qs_h qs_h_or(qs_h a, qs_h b) { return _mm512_or_si512(a, b); }
QS_V qs_h qs_h_xor(qs_h a, qs_h b) { return _mm512_xor_si512(a, b); }
QS_V qs_h qs_h_add(qs_h a, qs_h b) { return _mm512_add_epi16(a, b); }
QS_V qs_h qs_h_mul(qs_h a, qs_h b) { return _mm512_mullo_epi16(a, b); }
QS_V qs_h qs_h_sll(qs_h a, int n) { return _mm512_sll_epi16(a, _mm_cvtsi32_si128(n)); }
QS_V qs_h qs_h_srl(qs_h a, int n) { return _mm512_srl_epi16(a, _mm_cvtsi32_si128(n)); }
QS_V qs_hm qs_h_eq(qs_h a, qs_h b) { return _mm512_cmpeq_epi16_mask(a, b); }
/* yes where m is set, else no */
QS_V qs_h qs_h_sel(qs_hm m, qs_h no, qs_h yes) { return _mm512_mask_blend_epi16(m, no, yes); }
/* a 16-byte table in every 128-bit lane */
QS_V qs_h qs_h_tab16(const uint8_t *t) { return _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)t)); }
/* byte b of each lane = tab[idx byte b] (idx bytes < 16) */
QS_V qs_h qs_h_shuf(qs_h tab, qs_h idx) { return _mm512_shuffle_epi8(tab, idx); }
/* amax of 16-bit data in 16-bit lanes (quant_simd_body.h, qs_amax16_nan_in) */
#define QS_H16_MAX 1
QS_V qs_h qs_h_loadu(const uint16_t *p) { return _mm512_loadu_si512(p); }
/* lanes <= 0x7fff: the signed max is the unsigned one */
QS_V qs_h qs_h_max(qs_h a, qs_h b) { return _mm512_max_epi16(a, b); }
QS_V uint32_t qs_h_hmax(qs_h v) {
  __m256i h = _mm256_max_epi16(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64(v, 1));
  __m128i m = _mm_max_epi16(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
  m = _mm_max_epi16(m, _mm_shuffle_epi32(m, 0x4e));
  m = _mm_max_epi16(m, _mm_shuffle_epi32(m, 0xb1));
  m = _mm_max_epi16(m, _mm_srli_epi32(m, 16));
  return (uint32_t)_mm_cvtsi128_si32(m) & 0xffffu;
}

/* 32 bf16 -> the f32 magnitudes |x| of elements 0, 2, .., 30 (a) and 1, 3, .., 31 (b) */
#define QS_BF16_PAIRS 1
QS_V void qs_load_bf16_pair(const uint16_t *p, qs_f *a, qs_f *b) {
  __m512i v = _mm512_and_si512(_mm512_loadu_si512(p), _mm512_set1_epi16(0x7fff));
  *a = _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
  *b = _mm512_castsi512_ps(_mm512_and_si512(v, _mm512_set1_epi32((int)0xffff0000u)));
}

/* lane 0 of a vector (the scale factor, set to every lane) */
QS_V float qs_first(qs_f v) { return _mm512_cvtss_f32(v); }

/* 32 code bytes from 32 magnitude codes (bytes, mod 256) and 32 bytes whose bit 7 is
 * the sign: code | sign, with fnuz-style formats keeping zero unsigned. */
QS_V __m256i qs_sign_bytes(__m256i code, __m256i sign, bool neg_zero) {
  if (!neg_zero) sign = _mm256_maskz_mov_epi8(_mm256_test_epi8_mask(code, code), sign);
  /* code | (sign & 0x80) */
  return _mm256_ternarylogic_epi32(code, sign, _mm256_set1_epi8((char)0x80), 0xF8);
}

/*
 * Table-driven bf16 -> fp8 step (quant_simd_body.h, qs_btab_init has the why), in
 * 16-bit lanes: the group term K + tab[g] of the shared formula is one word table
 * W[g] (vpermw reads the low 5 bits of |w| >> 3: the 16 entries twice), and
 *   code = min(|w| + W[(|w| >> 3) & 15], lim << r) >> r.
 * The min before the shift is the same limit (codes are floors of sum / 2^r), and it
 * keeps the sum below 2^15 >> (8 - r), so shifting it LEFT by 8 - r puts the code in
 * the word's high byte (the fraction bits fall into the low byte): one ternlog ORs the
 * input's sign bit into it and one vpermb gathers the 32 high bytes. Lanes outside
 * [low, Inf] (fp8-subnormal or zero results, and NaN, rare in activations) flag the
 * chunk, which the caller redoes with the general path (qs_btab_loop_st); an in-range
 * code is never 0, so formats without -0 need no special case here. Per 32 values:
 * 11 vector ops, no float operation, no branch.
 */
#define QS_BF16_TABLE 1
typedef struct qs_btab {
  __m512i w;      /* W[g] (mod 2^16), entries 0..15 and again 16..31 */
  __m512i limsum; /* lim << r */
  __m512i low;    /* the range [low, low + span] of |w| the formula covers */
  __m512i span;   /* 0x7f80 - low (Inf included) */
  __m128i shl;    /* 8 - r */
} qs_btab;

/*
 * The table from T[M] = code(2^(E_lo-127) (1 + M/128)), M = 0..127 (qs_btab_init), in
 * vectors (the shared scalar form cost ~10% of a 4096-value row). Per group g of 8
 * mantissas: cnt[g] = the entries above T[8g], each at most 1 above it (else: false),
 * so T rises once, at j = 8 - cnt[g], and
 *   W[g] = (T[8g] << r) + 2^r - 8 + cnt[g] - 8g - 128 E_lo
 * gives code = (|w| + W[g]) >> r for |w| = 128 E + 8g + j (E >= E_lo - 1 in range):
 * 128 (E - E_lo) >> r = 2^m (E - E_lo), and (j + 2^r - 8 + cnt) >> r = (j >= 8 - cnt).
 * The sums must stay in int16 for every |w| <= 0x7fff: W[g] in [-0x8000, 0]. Inf must
 * reach the limit.
 */
#define QS_BTAB_BUILD 1
static inline bool qs_btab_build(qs_btab *t, const uint8_t T[128], int r, int elo, int lim,
                                 uint16_t low) {
  const __m512i first = _mm512_set_epi64(0x0808080808080808ll, 0, 0x0808080808080808ll, 0,
                                         0x0808080808080808ll, 0, 0x0808080808080808ll, 0);
  const __m512i g8 = _mm512_set_epi64(56, 48, 40, 32, 24, 16, 8, 0);
  __m128i w8[2];
  for (int h = 0; h < 2; h++) {
    __m512i v = _mm512_loadu_si512(T + 64 * h);
    __m512i d = _mm512_sub_epi8(v, _mm512_shuffle_epi8(v, first)); /* T[8g + j] - T[8g] */
    if (_mm512_test_epi8_mask(d, _mm512_set1_epi8((char)0xfe))) return false;
    __m512i cnt = _mm512_sad_epu8(d, _mm512_setzero_si512());
    __m512i tb = _mm512_and_si512(v, _mm512_set1_epi64(0xff));
    __m512i w = _mm512_add_epi64(_mm512_sll_epi64(tb, _mm_cvtsi32_si128(r)), cnt);
    w = _mm512_sub_epi64(w, _mm512_add_epi64(g8, _mm512_set1_epi64(64 * h)));
    w = _mm512_add_epi64(w, _mm512_set1_epi64((1 << r) - 8 - 128 * (int64_t)elo));
    if (_mm512_cmpgt_epi64_mask(w, _mm512_setzero_si512()) |
        _mm512_cmplt_epi64_mask(w, _mm512_set1_epi64(-0x8000)))
      return false;
    w8[h] = _mm512_cvtepi64_epi16(w);
  }
  if (0x7f80 + (int16_t)_mm_extract_epi16(w8[0], 0) < lim << r) return false;
  __m256i w = _mm256_inserti128_si256(_mm256_castsi128_si256(w8[0]), w8[1], 1);
  t->w = _mm512_inserti64x4(_mm512_castsi256_si512(w), w, 1);
  t->limsum = _mm512_set1_epi16((short)(lim << r));
  t->low = _mm512_set1_epi16((short)low);
  t->span = _mm512_set1_epi16((short)(0x7f80 - low));
  t->shl = _mm_cvtsi32_si128(8 - r);
  return true;
}

/* how many of the 128 non-negative y are below t (no NaN) */
static inline int qs_btab_count_below(const float y[128], float t) {
  int n = 0;
  for (int v = 0; v < 8; v++)
    n += __builtin_popcount(_mm512_cmp_ps_mask(_mm512_loadu_ps(y + 16 * v), _mm512_set1_ps(t), _CMP_LT_OQ));
  return n;
}

/* bytes 1, 3, .., 63 of a vector: the high bytes of its 32 words */
#define QS_ODD_BYTES                                                                         \
  _mm512_set_epi8(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, \
                  0, 0, 0, 0, 0, 0, 0, 63, 61, 59, 57, 55, 53, 51, 49, 47, 45, 43, 41, 39,   \
                  37, 35, 33, 31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1)

/* 32 bf16 -> 32 code bytes with signs, always stored; true when a lane is out of the
 * table's range (those bytes are wrong: the caller redoes the chunk). */
QS_V bool qs_btab_chunk_all(const qs_btab *t, const uint16_t *x, uint8_t *q, bool nt) {
  __m512i w = _mm512_loadu_si512(x);
  __m512i a = _mm512_and_si512(w, _mm512_set1_epi16(0x7fff));
  __mmask32 out = _mm512_cmpgt_epu16_mask(_mm512_sub_epi16(a, t->low), t->span);
  __m512i sum = _mm512_add_epi16(a, _mm512_permutexvar_epi16(_mm512_srli_epi16(a, 3), t->w));
  sum = _mm512_min_epi16(sum, t->limsum);
  /* code << 8 | fraction bits, then | the sign (bit 15 of w) */
  __m512i y = _mm512_ternarylogic_epi32(_mm512_sll_epi16(sum, t->shl), w,
                                        _mm512_set1_epi16((short)0x8000), 0xF8);
  __m256i c = _mm512_castsi512_si256(_mm512_permutexvar_epi8(QS_ODD_BYTES, y));
  if (nt) _mm256_stream_si256((__m256i *)q, c); /* q 32-byte aligned */
  else _mm256_storeu_si256((__m256i *)q, c);
  return out != 0;
}

/* 32 bytes from an aligned buffer to q (32-byte aligned), non-temporal. */
QS_V void qs_stream32(uint8_t *q, const uint8_t *buf) {
  _mm256_stream_si256((__m256i *)q, _mm256_load_si256((const __m256i *)buf));
}

/*
 * Table-driven f32 -> fp8 step (quant_simd_body.h, qs_ftab_init has the why): with
 * a = |x| bits and a 16-entry table V indexed by a's top 4 mantissa bits (vpermd reads
 * the low 4 bits of x >> 19, so neither the sign nor the exponent needs masking),
 *   w = 2a + V[g] = 2^31 + 2 ((code - 2^m) 2^r + fraction)   (mod 2^32, r = 23 - m)
 * for in-range lanes, whose codes are [2^m, L]: a signed w <= top. Every other lane
 * (fp8-subnormal or zero codes, codes above L, Inf, NaN) has w > top, which flags the
 * chunk for the general path. 2a is x + x (the sign drops out); w << m puts
 * code - 2^m in the lane's top byte (2^31 and the fraction fall out), one ternlog ORs
 * in x's sign bit, one vpermt2b gathers the 32 top bytes and one byte add restores
 * 2^m (L <= 0x7f: no carry into the sign). In-range codes are never 0, so formats
 * without -0 need no special case. Per 16 values: 7 vector ops, half a byte gather and
 * a quarter of a byte add; no division.
 */
#define QS_F32_TABLE 1
typedef struct qs_ftab {
  __m512i v;   /* V[g] (mod 2^32) */
  __m512i top; /* the largest in-range w (signed) */
  __m256i m2;  /* 2^m in every byte */
  /* the clamping form (qs_ftab_chunk_sat): U[g], |x| in [low, low + span], lim << r */
  __m512i u, low, span, limsum;
} qs_ftab;
static inline bool qs_ftab_chunk(const qs_ftab *t, const float *x, uint8_t *q, int m);
static inline bool qs_ftab_chunk_sat(const qs_ftab *t, const float *x, uint8_t *q, int m);

/* 8 f32 (bits) -> doubles */
QS_V __m512d qs_pd_of(__m256i bits) { return _mm512_cvtps_pd(_mm256_castsi256_ps(bits)); }

/*
 * The table from b (lane g: the code of the start of group g of binade elo, by the
 * general path), all 16 groups at once; the math is at qs_ftab_init. sd: s as a double
 * (x / s >= B iff x >= B sd, exact); base: bits(2^emin) - 2^23; lcode: the top
 * in-range code L. False: the row keeps the general path.
 */
QS_V bool qs_ftab_build(qs_ftab *t, __m512i b, int m, int elo, double sd, uint32_t base, int lcode,
                        int lim, uint32_t low) {
  const int r = 23 - m;
  const __m512i one = _mm512_set1_epi32(1);
  const __m512i g = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const __m128i rs = _mm_cvtsi32_si128(r);
  /* every code must be below L, up to the next binade's start b_0 + 2^m */
  if (_mm_cvtsi128_si32(_mm512_castsi512_si128(b)) + (1 << m) > lcode) return false;
  /* d = b_{g+1} - b_g: 0 or 1 (at most one step per group) */
  __m512i bnext = _mm512_alignr_epi32(_mm512_add_epi32(b, _mm512_set1_epi32(1 << m)), b, 1);
  __m512i d = _mm512_sub_epi32(bnext, b);
  if (_mm512_cmpgt_epu32_mask(d, one)) return false;
  __mmask16 step = _mm512_cmpeq_epi32_mask(d, one);
  /* Y: the tie between codes b and b + 1, or the f32 above it when RNE sends it down */
  __m512i y = _mm512_add_epi32(_mm512_sll_epi32(b, rs), _mm512_set1_epi32((int)(base + (1u << (r - 1)))));
  y = _mm512_add_epi32(y, _mm512_and_si512(_mm512_add_epi32(b, one), one));
  __m512i y1 = _mm512_sub_epi32(y, one);
  /* T = B sd, B = (Y - 1ulp + Y) / 2; x = the first f32 above T, or T when it ties up
   * (Y even) */
  __m512d sdv = _mm512_set1_pd(sd), half = _mm512_set1_pd(0.5);
  __m256i xh[2];
  __mmask8 up[2];
  for (int h = 0; h < 2; h++) {
    __m256i yh = h ? _mm512_extracti64x4_epi64(y, 1) : _mm512_castsi512_si256(y);
    __m256i y1h = h ? _mm512_extracti64x4_epi64(y1, 1) : _mm512_castsi512_si256(y1);
    __m512d tt = _mm512_mul_pd(_mm512_mul_pd(_mm512_add_pd(qs_pd_of(y1h), qs_pd_of(yh)), half), sdv);
    __m256 f = _mm512_cvtpd_ps(tt);
    __m512d fd = _mm512_cvtps_pd(f);
    __mmask8 odd = _mm256_test_epi32_mask(yh, _mm256_set1_epi32(1));
    up[h] = (__mmask8)(_mm512_cmp_pd_mask(fd, tt, _CMP_LT_OQ) |
                       (_mm512_cmp_pd_mask(fd, tt, _CMP_EQ_OQ) & odd));
    xh[h] = _mm256_castps_si256(f);
  }
  __m512i x = _mm512_inserti64x4(_mm512_castsi256_si512(xh[0]), xh[1], 1);
  x = _mm512_mask_add_epi32(x, (__mmask16)(up[0] | up[1] << 8), x, one);
  /* t_g: the step's mantissa in (g 2^19, (g + 1) 2^19], else (g + 1) 2^19 */
  __m512i gend = _mm512_slli_epi32(_mm512_add_epi32(g, one), 19);
  __m512i tg = _mm512_sub_epi32(x, _mm512_set1_epi32(elo << 23));
  if (_mm512_mask_cmple_epi32_mask(step, tg, _mm512_slli_epi32(g, 19)) |
      _mm512_mask_cmpgt_epi32_mask(step, tg, gend))
    return false;
  tg = _mm512_mask_blend_epi32(step, gend, tg);
  /* U = (b - 2^m elo + 1) 2^r - t_g: in [-2^31, 2^23] for elo <= 254 */
  __m512i u = _mm512_sub_epi32(
      _mm512_sll_epi32(_mm512_add_epi32(b, _mm512_set1_epi32(1 - (1 << m) * elo)), rs), tg);
  /* the extremes of S = a + U over a >= 0 of each group, NaN patterns included, and
   * the code of Inf (a = 0x7f800000, group 0) */
  int64_t smin = _mm512_reduce_min_epi32(_mm512_add_epi32(_mm512_slli_epi32(g, 19), u));
  int64_t smax = 0x7f800000ll + _mm512_reduce_max_epi32(_mm512_add_epi32(gend, _mm512_sub_epi32(u, one)));
  int64_t u0 = _mm_cvtsi128_si32(_mm512_castsi512_si128(u));
  /* in range: codes [2^m, L], i.e. 2 (S - 2^23) in [0, len); 2 (S - 2^23) must not
   * wrap into it for any other a: the smallest sum (a = 0's binade) no lower than
   * len - 2^32, the largest (NaN) below 2^32; Inf must be above L */
  int64_t len = (int64_t)(lcode - (1 << m) + 1) << (r + 1);
  if (2 * (smin - (1 << 23)) < len - (1ll << 32) || 2 * (smax - (1 << 23)) >= (1ll << 32) ||
      ((0x7f800000ll + u0) >> r) <= lcode)
    return false;
  /* V = 2 U - 2^24 + 2^31 (mod 2^32) */
  t->v = _mm512_add_epi32(_mm512_add_epi32(u, u), _mm512_set1_epi32((int)(0x80000000u - (1u << 24))));
  t->top = _mm512_set1_epi32((int)(INT32_MIN + len - 1));
  t->m2 = _mm256_set1_epi8((char)(1 << m));
  /* the clamping form: |x| in [low, Inf] (Inf only when its formula code reaches the
   * limit), codes min(S, lim << r) >> r; S < 2^32 there (checked above) */
  t->u = u;
  t->low = _mm512_set1_epi32((int)low);
  t->span = _mm512_set1_epi32((int)(((0x7f800000ll + u0) >> r >= lim ? 0x7f800000u : 0x7f7fffffu) - low));
  t->limsum = _mm512_set1_epi32(lim << r);
  return true;
}

struct qs_enc;
static inline void qs_put_fp8_bf16p(uint8_t *q, const qs_i raw[QS_N], const uint16_t *x,
                                    const struct qs_enc *e);
static inline void qs_put_fp8(uint8_t *q, const qs_i raw[QS_N], const qs_f y[QS_N],
                              const struct qs_enc *e);
#define QS_PUT_FP8_NT 1
static inline void qs_put_fp8_nt(uint8_t *q, const qs_i raw[QS_N], const qs_f y[QS_N],
                                 const struct qs_enc *e);
static inline void qs_put_e2m1(uint8_t *q, const qs_i raw[QS_N], const qs_f y[QS_N],
                               const struct qs_enc *e);

#define QS_MX_FAST 1
static inline unsigned qs_mx_fast_group(const struct qs_enc *e, const float *x, __m512i code,
                                        uint8_t *q, bool nt);

#include "../quant_simd_body.h"

/* raw code + 2^m with the sign bit of y; fnuz-style formats keep zero unsigned
 * (the e2m1 store below; fp8 codes are signed at byte level instead). */
QS_V qs_i qs_signed_code(qs_i raw, qs_f y, const qs_enc *e) {
  qs_i code = qs_add(raw, qs_seti(1 << e->m));
  qs_i sign = qs_and(qs_srl(qs_bits(y), e->sign_bit == 0x08 ? 28 : 24), qs_seti(e->sign_bit));
  if (!e->neg_zero) sign = _mm512_maskz_mov_epi32(_mm512_test_epi32_mask(code, code), sign);
  return qs_or(code, sign);
}

/* Byte indices for vpermt2b over (a, b): byte 4i + k of a, then byte 4i + k of b, for
 * i = 0..15 (the low byte of each lane with k = 0, the top byte with k = 3). */
#define QS_DWORD_BYTES(k)                                                                   \
  _mm512_set_epi8(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, \
                  0, 0, 0, 0, 0, 0, 0, 124 + k, 120 + k, 116 + k, 112 + k, 108 + k, 104 + k,  \
                  100 + k, 96 + k, 92 + k, 88 + k, 84 + k, 80 + k, 76 + k, 72 + k, 68 + k,  \
                  64 + k, 60 + k, 56 + k, 52 + k, 48 + k, 44 + k, 40 + k, 36 + k, 32 + k,   \
                  28 + k, 24 + k, 20 + k, 16 + k, 12 + k, 8 + k, 4 + k, 0 + k)

/* 32 raw codes (2 vectors) -> 32 signed code bytes. Byte level: the low byte of each
 * raw lane plus 2^m (mod 256) is the magnitude code (raw + 2^m is in [0, 255]), and
 * the top byte of y holds its sign in bit 7. Two vpermt2b gather them (each one
 * shuffle uop on Zen 4; two vpmovdb cost four), the rest is 256-bit. */
QS_V __m256i qs_fp8_bytes(const qs_i raw[QS_N], const qs_f y[QS_N], const qs_enc *e) {
  __m256i c = _mm512_castsi512_si256(_mm512_permutex2var_epi8(raw[0], QS_DWORD_BYTES(0), raw[1]));
  __m256i s = _mm512_castsi512_si256(
      _mm512_permutex2var_epi8(qs_bits(y[0]), QS_DWORD_BYTES(3), qs_bits(y[1])));
  c = _mm256_add_epi8(c, _mm256_set1_epi8((char)(1 << e->m)));
  return qs_sign_bytes(c, s, e->neg_zero);
}

/* 16 values: code - 2^m with x's sign in each lane's top byte; *out: lanes out of range */
QS_V __m512i qs_ftab_vec(const qs_ftab *t, __m512i x, __mmask16 *out, int m) {
  __m512i w = _mm512_add_epi32(_mm512_add_epi32(x, x),
                               _mm512_permutexvar_epi32(_mm512_srli_epi32(x, 19), t->v));
  *out = _mm512_cmpgt_epi32_mask(w, t->top);
  __m512i c = m == 3 ? _mm512_slli_epi32(w, 3) : _mm512_slli_epi32(w, 2);
  /* c | (x & 0x80000000) */
  return _mm512_ternarylogic_epi32(c, x, _mm512_set1_epi32((int)0x80000000u), 0xF8);
}

/* The clamping form, for rows where many lanes saturate or overflow: lanes with |x| in
 * [low, Inf] take min(a + U[g], lim << r) >> r (the limit in the lane, as the general
 * encoder's min), the rest (zeros, fp8-subnormal codes, NaN) flag the chunk. 9 vector
 * ops per 16 values. */
QS_V __m512i qs_ftab_vec_sat(const qs_ftab *t, __m512i x, __mmask16 *out, int m) {
  __m512i a = _mm512_and_si512(x, _mm512_set1_epi32(0x7fffffff));
  *out = _mm512_cmpgt_epu32_mask(_mm512_sub_epi32(a, t->low), t->span);
  __m512i sum = _mm512_add_epi32(a, _mm512_permutexvar_epi32(_mm512_srli_epi32(x, 19), t->u));
  sum = _mm512_min_epu32(sum, t->limsum);
  /* the code in the top byte: << 24 - r = m + 1 */
  __m512i c = m == 3 ? _mm512_slli_epi32(sum, 4) : _mm512_slli_epi32(sum, 3);
  return _mm512_ternarylogic_epi32(c, x, _mm512_set1_epi32((int)0x80000000u), 0xF8);
}

QS_V bool qs_ftab_chunk_sat(const qs_ftab *t, const float *x, uint8_t *q, int m) {
  __mmask16 o0, o1;
  __m512i c0 = qs_ftab_vec_sat(t, _mm512_loadu_si512(x), &o0, m);
  __m512i c1 = qs_ftab_vec_sat(t, _mm512_loadu_si512(x + 16), &o1, m);
  __m512i b = _mm512_permutex2var_epi8(c0, QS_DWORD_BYTES(3), c1);
  _mm256_storeu_si256((__m256i *)q, _mm512_castsi512_si256(b));
  return (o0 | o1) != 0;
}

/* 32 f32 -> 32 signed code bytes, always stored; true when a lane is out of the
 * table's range (those bytes are wrong: the caller redoes the chunk). */
QS_V bool qs_ftab_chunk(const qs_ftab *t, const float *x, uint8_t *q, int m) {
  __mmask16 o0, o1;
  __m512i c0 = qs_ftab_vec(t, _mm512_loadu_si512(x), &o0, m);
  __m512i c1 = qs_ftab_vec(t, _mm512_loadu_si512(x + 16), &o1, m);
  __m256i b = _mm512_castsi512_si256(_mm512_permutex2var_epi8(c0, QS_DWORD_BYTES(3), c1));
  _mm256_storeu_si256((__m256i *)q, _mm256_add_epi8(b, t->m2));
  return (o0 | o1) != 0;
}

static inline void qs_put_fp8(uint8_t *q, const qs_i raw[QS_N], const qs_f y[QS_N],
                              const qs_enc *e) {
  _mm256_storeu_si256((__m256i *)q, qs_fp8_bytes(raw, y, e));
}

/*
 * MX blocks without the multiply and the subnormal candidate. A block's scale is
 * 2^k (k = code - 127), so where x and y = x 2^-k are normal f32, bits(|y|) =
 * a - (k << 23) with a = bits(|x|), and the general encoder's normal-range code is
 * (bits(|y|) + kround + odd) >> sh + 2^m, odd = bit sh of a (k << 23 leaves it alone),
 * limited by a min. So per lane: s = a + KR_b + odd with the block constant
 * KR_b = kround + (2^m << sh) - (k << 23), min(s, ((lim + 1) << sh) - 1), and that
 * << (m + 1) has the code in its top byte, where the sign of x is or-ed in. Exact for
 * |y| >= 2^emin (a >= LOW_b = bits(2^emin) + (k << 23)) and for zeros (masked to code
 * 0, signed: e4m3fn and e5m2 have -0); any other lane (an fp8-subnormal code) hands its
 * block back. Codes >= 32 for the whole group keep LOW_b >= 2^23 (x normal) and
 * every constant inside 32 bits. 10 ops per 16 values against 15.
 */
QS_V __m512i qs_mx_fast_vec(__m512i x, __m512i kr, __m512i low, __m512i lim, int m,
                            __mmask16 *out) {
  __m512i a = _mm512_and_si512(x, _mm512_set1_epi32(0x7fffffff));
  __mmask16 nz = _mm512_test_epi32_mask(a, a);
  *out = _mm512_mask_cmplt_epu32_mask(nz, a, low);
  __m512i odd = _mm512_and_si512(m == 3 ? _mm512_srli_epi32(a, 20) : _mm512_srli_epi32(a, 21),
                                 _mm512_set1_epi32(1));
  __m512i c = _mm512_maskz_min_epu32(nz, _mm512_add_epi32(_mm512_add_epi32(a, kr), odd), lim);
  c = m == 3 ? _mm512_slli_epi32(c, 4) : _mm512_slli_epi32(c, 3);
  return _mm512_ternarylogic_epi32(c, x, _mm512_set1_epi32((int)0x80000000u), 0xF8);
}

QS_V unsigned qs_mx_fast_group_m(const qs_enc *e, const float *x, __m512i code, uint8_t *q,
                                 bool nt, int m) {
  int sh = 23 - m;
  uint32_t low0 = fp8g_f32_bits(e->min_normal);
  __m512i k23 = _mm512_slli_epi32(_mm512_sub_epi32(code, _mm512_set1_epi32(127)), 23);
  __m512i kr = _mm512_sub_epi32(
      _mm512_set1_epi32((int32_t)((1u << (sh - 1)) - 1u - low0 + (1u << (m + sh)))), k23);
  __m512i low = _mm512_add_epi32(_mm512_set1_epi32((int32_t)low0), k23);
  __m512i lim = _mm512_set1_epi32((int32_t)(((uint32_t)e->lim_code + 1u) << sh) - 1);
  unsigned redo = 0;
  for (int b = 0; b < 16; b++) {
    __m512i kb = _mm512_permutexvar_epi32(_mm512_set1_epi32(b), kr);
    __m512i lb = _mm512_permutexvar_epi32(_mm512_set1_epi32(b), low);
    __mmask16 o0, o1;
    __m512i c0 = qs_mx_fast_vec(_mm512_loadu_si512(x + 32 * b), kb, lb, lim, m, &o0);
    __m512i c1 = qs_mx_fast_vec(_mm512_loadu_si512(x + 32 * b + 16), kb, lb, lim, m, &o1);
    if (o0 | o1) {
      redo |= 1u << b;
      continue;
    }
    __m256i c = _mm512_castsi512_si256(_mm512_permutex2var_epi8(c0, QS_DWORD_BYTES(3), c1));
    if (nt) _mm256_stream_si256((__m256i *)(q + 32 * b), c);
    else _mm256_storeu_si256((__m256i *)(q + 32 * b), c);
  }
  return redo;
}

/* Every block of the group through qs_mx_fast_vec where it applies (fp8 elements of
 * m = 2 or 3 with signed zeros, all codes >= 32); returns the blocks it did not write. */
static inline unsigned qs_mx_fast_group(const qs_enc *e, const float *x, __m512i code,
                                        uint8_t *q, bool nt) {
  if (!e->neg_zero || _mm512_cmplt_epi32_mask(code, _mm512_set1_epi32(32)) != 0) return 0xffff;
  if (e->m == 3) return qs_mx_fast_group_m(e, x, code, q, nt, 3);
  if (e->m == 2) return qs_mx_fast_group_m(e, x, code, q, nt, 2);
  return 0xffff;
}

/* The same with a non-temporal store (q 32-byte aligned). */
static inline void qs_put_fp8_nt(uint8_t *q, const qs_i raw[QS_N], const qs_f y[QS_N],
                                 const qs_enc *e) {
  _mm256_stream_si256((__m256i *)q, qs_fp8_bytes(raw, y, e));
}

/* 32 raw codes of x[0..31] in qs_load_bf16_pair order (even, odd) -> 32 code bytes in
 * element order, the signs taken from the bf16 inputs (bit 7 of each odd byte). */
/* (always inlined: gcc kept it out of line, passing the two raw vectors through memory;
 * inlined, bf16 rows run ~3% faster, docs/quant_kernels.md "Zen 4, session 6") */
QS_V void qs_put_fp8_bf16p(uint8_t *q, const qs_i raw[QS_N], const uint16_t *x,
                          const qs_enc *e) {
  /* element 2i: low byte of lane i of raw[0]; element 2i + 1: of raw[1] */
  const __m512i pair = _mm512_set_epi8(
      0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
      0, 0, 124, 60, 120, 56, 116, 52, 112, 48, 108, 44, 104, 40, 100, 36, 96, 32, 92, 28, 88, 24,
      84, 20, 80, 16, 76, 12, 72, 8, 68, 4, 64, 0);
  const __m512i odd = _mm512_set_epi8(
      0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
      0, 0, 63, 61, 59, 57, 55, 53, 51, 49, 47, 45, 43, 41, 39, 37, 35, 33, 31, 29, 27, 25, 23,
      21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
  __m256i c = _mm512_castsi512_si256(_mm512_permutex2var_epi8(raw[0], pair, raw[1]));
  __m256i s = _mm512_castsi512_si256(_mm512_permutexvar_epi8(odd, _mm512_loadu_si512(x)));
  c = _mm256_add_epi8(c, _mm256_set1_epi8((char)(1 << e->m)));
  _mm256_storeu_si256((__m256i *)q, qs_sign_bytes(c, s, e->neg_zero));
}

/* Element 2i in the low nibble of byte i: pair the two i32 lanes of each 64-bit lane. */
static inline void qs_put_e2m1(uint8_t *q, const qs_i raw[QS_N], const qs_f y[QS_N],
                               const qs_enc *e) {
  for (int v = 0; v < QS_N; v++) {
    __m512i c = qs_signed_code(raw[v], y[v], e);
    __m512i pair = _mm512_or_si512(c, _mm512_srli_epi64(c, 28));
    _mm_storel_epi64((__m128i *)(q + 8 * v), _mm512_cvtepi64_epi8(pair));
  }
}

const fp8g_quant_kernels fp8g_quant_avx512 = {
    "quant_avx512", FP8GEMM_ISA_AVX512, qs_widen,      qs_narrow,
    qs_amax,        qs_quantize,        qs_dequantize, qs_mx_quantize,
    qs_amax_wide, qs_quantize_wide, qs_dequantize_narrow, qs_quantize_wide_pf,
    qs_quantize_nt, qs_quantize_wide_pf_nt, qs_nt_fence,
    qs_mx_quantize_nt, qs_dequantize_narrow_nt,
};
