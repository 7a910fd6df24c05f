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
 * 16-bit lanes, code = min((|w| + K + tab[(|w| >> 3) & 15]) >> r, lim), NaN lanes
 * max-ed up to the NaN code; 16 values per vector, no float operation.
 */
#define QS_BF16_TABLE 1
typedef struct qs_btab {
  __m256i tab;    /* the 16 group bytes in both 128-bit lanes */
  __m256i k;      /* K (mod 2^16) */
  __m256i lim;    /* the overflow / saturation code */
  __m256i nan;    /* the NaN code */
  __m256i low;    /* |w| below this: not a normal fp8 result, the chunk goes the slow way */
  __m128i r;      /* shift count */
} qs_btab;

static inline void qs_btab_set(qs_btab *t, const uint8_t tab[16], uint16_t k, int r, int lim,
                               int nan, uint16_t low) {
  t->tab = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)tab));
  t->k = _mm256_set1_epi16((short)k);
  t->lim = _mm256_set1_epi16((short)lim);
  t->nan = _mm256_set1_epi16((short)nan);
  t->low = _mm256_set1_epi16((short)low);
  t->r = _mm_cvtsi32_si128(r);
}

QS_V __m256i qs_btab_code(const qs_btab *t, __m256i a) {
  __m256i idx = _mm256_and_si256(_mm256_srli_epi16(a, 3), _mm256_set1_epi16(0x000f));
  /* the high byte of each word looks up entry 0: K accounts for it */
  __m256i sum = _mm256_add_epi16(_mm256_add_epi16(a, t->k), _mm256_shuffle_epi8(t->tab, idx));
  __m256i c = _mm256_min_epi16(_mm256_sra_epi16(sum, t->r), t->lim);
  __m256i nan = _mm256_cmpgt_epi16(a, _mm256_set1_epi16(0x7f80));
  return _mm256_max_epi16(c, _mm256_and_si256(nan, t->nan));
}

/*
 * 32 bf16 -> 32 code bytes with signs, for the table loop of quant_simd_body.h
 * (qs_btab_loop_st): every chunk is stored (streamed with nt, q 32-byte aligned), and the
 * return value says whether a lane was below t->low (those bytes are wrong: the caller
 * redoes the chunk by the general pair path after its block). No branch per chunk, and
 * no call: the redo loop runs apart from the table loop, so it does not crowd the table
 * loop's registers. An in-range code is >= 2^m, never 0, so formats without -0 need no
 * case of their own.
 */
QS_V bool qs_btab_chunk_all(const qs_btab *t, const uint16_t *x, uint8_t *q, bool nt) {
  __m256i w0 = _mm256_loadu_si256((const __m256i *)x);
  __m256i w1 = _mm256_loadu_si256((const __m256i *)(x + 16));
  __m256i a0 = _mm256_and_si256(w0, _mm256_set1_epi16(0x7fff));
  __m256i a1 = _mm256_and_si256(w1, _mm256_set1_epi16(0x7fff));
  __m256i low = _mm256_or_si256(_mm256_cmpgt_epi16(t->low, a0), _mm256_cmpgt_epi16(t->low, a1));
  __m256i b = _mm256_packus_epi16(qs_btab_code(t, a0), qs_btab_code(t, a1));
  __m256i s = _mm256_and_si256(_mm256_packs_epi16(w0, w1), _mm256_set1_epi8((char)0x80));
  __m256i c = _mm256_permute4x64_epi64(_mm256_or_si256(b, s), 0xd8);
  if (nt) _mm256_stream_si256((__m256i *)q, c);
  else _mm256_storeu_si256((__m256i *)q, c);
  return !_mm256_testz_si256(low, low);
}

/* 32 bytes from an aligned buffer to q (32-byte aligned), non-temporal (the deferred
 * redo's streamed form; AVX2 streams only when a caller sets e->nt, which needs
 * QS_PUT_FP8_NT: not defined here, so this is compiled but not reached) */
QS_V void qs_stream32(uint8_t *q, const uint8_t *buf) {
  _mm256_stream_si256((__m256i *)q, _mm256_load_si256((const __m256i *)buf));
}

/*
 * Table-driven f32 -> fp8 step on 8 lanes (quant_simd_body.h, qs_ftab_init has the
 * why; the AVX-512 twin in quant_avx512.c has the same table): with a = |x| bits and
 * the 16-entry table V' = V - 2^31 = 2 U - 2^24 (mod 2^32) indexed by a's top 4
 * mantissa bits g,
 *   w' = 2a + V'[g] = 2 ((code - 2^m) 2^r + fraction)   (mod 2^32, r = 23 - m)
 * for in-range lanes, whose codes are [2^m, L]: w' < len unsigned (the AVX-512 step's
 * signed w <= top, shifted by 2^31). The lookup is two vpermd (entries g & 7 of both
 * halves) and one vblendvps on bit 22 of x (bit 3 of g); x + x drops the sign. The
 * chunk's flag is one unsigned max over its 4 vectors against len - 1; the code bytes
 * are w' >> (r + 1) (code - 2^m exactly, in range), packed with vpackus, the signs
 * packed from x as the general store step does, then + 2^m (L <= 0x7f: no carry into
 * the sign). Out-of-range lanes give garbage bytes that the caller's redo overwrites.
 */
#define QS_F32_TABLE 1
typedef struct qs_ftab {
  __m256i vlo, vhi; /* V'[0..7], V'[8..15] */
  __m256i top;      /* len - 1: the largest in-range w' (unsigned) */
  __m256i m2;       /* 2^m in every byte */
  /* the clamping form (qs_ftab_chunk_sat): U[g], |x| - low <= span unsigned, lim << r */
  __m256i ulo, uhi, low, span, limsum;
} qs_ftab;
static inline bool qs_ftab_build(qs_ftab *t, const int32_t b[16], int m, int elo, double sd,
                                 uint32_t base, int lcode, int lim, uint32_t low);
static inline bool qs_ftab_chunk(const qs_ftab *t, const float *x, uint8_t *q, int m);
static inline bool qs_ftab_chunk_sat(const qs_ftab *t, const float *x, uint8_t *q, int m);

struct qs_enc;
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
#include "../quant_simd_body.h"

/*
 * The table from b[g] (the code of the start of group g of binade elo, by the general
 * path): the AVX-512 build's steps (quant_avx512.c, qs_ftab_build) lane by lane in
 * scalar code, the same checks in the same integer widths. sd: s as a double (x / s >=
 * B iff x >= B sd, exact); base: bits(2^emin) - 2^23; lcode: the top in-range code L.
 * False: the row keeps the general path.
 */
static inline bool qs_ftab_build(qs_ftab *t, const int32_t b[16], int m, int elo, double sd,
                                 uint32_t base, int lcode, int lim, uint32_t low) {
  const int r = 23 - m;
  /* every code must be below L, up to the next binade's start b_0 + 2^m */
  if (b[0] + (1 << m) > lcode) return false;
  int32_t u[16];
  int32_t smin = INT32_MAX, smax = INT32_MIN;
  for (int g = 0; g < 16; g++) {
    /* d = b_{g+1} - b_g: 0 or 1 (at most one step per group) */
    uint32_t d = (uint32_t)((g < 15 ? b[g + 1] : b[0] + (1 << m)) - b[g]);
    if (d > 1) return false;
    uint32_t gend = (uint32_t)(g + 1) << 19, tg = gend;
    if (d == 1) {
      /* Y: the tie between codes b and b + 1, or the f32 above it when RNE sends it
       * down; T = B sd, B = (Y - 1ulp + Y) / 2; x = the first f32 above T, or T when it
       * ties up (Y even) */
      uint32_t y = ((uint32_t)b[g] << r) + base + (1u << (r - 1)) + ((uint32_t)(b[g] + 1) & 1u);
      double tt = ((double)fp8g_f32_from_bits(y - 1) + (double)fp8g_f32_from_bits(y)) * 0.5 * sd;
      /* RN to f32 as vcvtpd2ps (out of range: +Inf) */
      float f = _mm_cvtss_f32(_mm_cvtsd_ss(_mm_setzero_ps(), _mm_set_sd(tt)));
      uint32_t x = fp8g_f32_bits(f);
      if ((double)f < tt || ((double)f == tt && (y & 1u))) x++;
      /* t_g: the step's mantissa in (g 2^19, (g + 1) 2^19] */
      tg = x - ((uint32_t)elo << 23);
      if ((int32_t)tg <= (int32_t)((uint32_t)g << 19) || (int32_t)tg > (int32_t)gend) return false;
    }
    /* U = (b - 2^m elo + 1) 2^r - t_g (mod 2^32) */
    u[g] = (int32_t)(((uint32_t)(b[g] + 1 - (1 << m) * elo) << r) - tg);
    /* the extremes of S = a + U over a >= 0 of each group (32-bit sums, as the
     * vector build), NaN patterns included */
    int32_t lo = (int32_t)(((uint32_t)g << 19) + (uint32_t)u[g]);
    int32_t hi = (int32_t)(gend + (uint32_t)u[g] - 1u);
    smin = lo < smin ? lo : smin;
    smax = hi > smax ? hi : smax;
  }
  int64_t smax64 = 0x7f800000ll + smax, u0 = u[0];
  int64_t len = (int64_t)(lcode - (1 << m) + 1) << (r + 1);
  if (2 * ((int64_t)smin - (1 << 23)) < len - (1ll << 32) || 2 * (smax64 - (1 << 23)) >= (1ll << 32) ||
      ((0x7f800000ll + u0) >> r) <= lcode)
    return false;
  int32_t v[16];
  for (int g = 0; g < 16; g++) v[g] = (int32_t)(2u * (uint32_t)u[g] - (1u << 24));
  t->vlo = _mm256_loadu_si256((const __m256i *)v);
  t->vhi = _mm256_loadu_si256((const __m256i *)(v + 8));
  t->top = _mm256_set1_epi32((int32_t)(uint32_t)(len - 1));
  t->m2 = _mm256_set1_epi8((char)(1 << m));
  t->ulo = _mm256_loadu_si256((const __m256i *)u);
  t->uhi = _mm256_loadu_si256((const __m256i *)(u + 8));
  t->low = _mm256_set1_epi32((int)low);
  t->span = _mm256_set1_epi32((int)(((0x7f800000ll + u0) >> r >= lim ? 0x7f800000u : 0x7f7fffffu) - low));
  t->limsum = _mm256_set1_epi32(lim << r);
  return true;
}

/* tab[g] for g = bits 19..22 of x: vpermd reads bits 19..21, bit 22 (moved to the sign
 * position) picks the half */
QS_V __m256i qs_ftab_look(__m256i lo, __m256i hi, __m256i x) {
  __m256i i = _mm256_srli_epi32(x, 19);
  return _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(_mm256_permutevar8x32_epi32(lo, i)),
                                              _mm256_castsi256_ps(_mm256_permutevar8x32_epi32(hi, i)),
                                              _mm256_castsi256_ps(_mm256_slli_epi32(x, 9))));
}

/* 4 vectors of code lanes (<= 0xff where it matters) and the 4 f32 inputs -> 32 bytes
 * in element order, x's sign in bit 7 (the codes' bit 7 is clear where it matters) */
QS_V __m256i qs_ftab_bytes(const __m256i c[4], const __m256i x[4]) {
  __m256i b = _mm256_packus_epi16(_mm256_packus_epi32(c[0], c[1]), _mm256_packus_epi32(c[2], c[3]));
  __m256i s = _mm256_packs_epi16(_mm256_packs_epi32(x[0], x[1]), _mm256_packs_epi32(x[2], x[3]));
  b = _mm256_or_si256(b, _mm256_and_si256(s, _mm256_set1_epi8((char)0x80)));
  return _mm256_permutevar8x32_epi32(b, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

/* 32 f32 -> 32 signed code bytes, always stored; true when a lane is out of the
 * table's range (those bytes are wrong: the caller redoes the chunk). */
QS_V bool qs_ftab_chunk(const qs_ftab *t, const float *x, uint8_t *q, int m) {
  __m256i xv[4], c[4], mx = _mm256_setzero_si256();
  for (int k = 0; k < 4; k++) {
    xv[k] = _mm256_loadu_si256((const __m256i *)(x + 8 * k));
    __m256i w = _mm256_add_epi32(_mm256_add_epi32(xv[k], xv[k]), qs_ftab_look(t->vlo, t->vhi, xv[k]));
    mx = _mm256_max_epu32(mx, w);
    c[k] = m == 3 ? _mm256_srli_epi32(w, 21) : _mm256_srli_epi32(w, 22); /* r + 1 */
  }
  _mm256_storeu_si256((__m256i *)q, _mm256_add_epi8(qs_ftab_bytes(c, xv), t->m2));
  /* some w' > top unsigned */
  return !_mm256_testc_si256(_mm256_cmpeq_epi32(_mm256_max_epu32(mx, t->top), t->top),
                             _mm256_set1_epi32(-1));
}

/* The clamping form: lanes with |x| in [low, low + span] take min(a + U[g], lim << r)
 * >> r, the code itself; the rest (zeros, fp8-subnormal codes, NaN) flag the chunk. */
QS_V bool qs_ftab_chunk_sat(const qs_ftab *t, const float *x, uint8_t *q, int m) {
  __m256i xv[4], c[4], mx = _mm256_setzero_si256();
  for (int k = 0; k < 4; k++) {
    xv[k] = _mm256_loadu_si256((const __m256i *)(x + 8 * k));
    __m256i a = _mm256_and_si256(xv[k], _mm256_set1_epi32(0x7fffffff));
    mx = _mm256_max_epu32(mx, _mm256_sub_epi32(a, t->low));
    __m256i sum = _mm256_min_epu32(_mm256_add_epi32(a, qs_ftab_look(t->ulo, t->uhi, xv[k])), t->limsum);
    c[k] = m == 3 ? _mm256_srli_epi32(sum, 20) : _mm256_srli_epi32(sum, 21); /* r */
  }
  _mm256_storeu_si256((__m256i *)q, qs_ftab_bytes(c, xv));
  return !_mm256_testc_si256(_mm256_cmpeq_epi32(_mm256_max_epu32(mx, t->span), t->span),
                             _mm256_set1_epi32(-1));
}

/* 32 raw codes -> 32 code bytes in element order, with signs. The packs saturate
 * nothing: raw codes fit in [-128, 127], the f32 sign survives signed packing. */
QS_V __m256i qs_codes_bytes(const qs_i raw[QS_N], const qs_f y[QS_N], const qs_enc *e) {
  __m256i b = _mm256_packs_epi16(_mm256_packs_epi32(raw[0], raw[1]),
                                 _mm256_packs_epi32(raw[2], raw[3]));
  b = _mm256_add_epi8(b, _mm256_set1_epi8((char)(1 << e->m)));
  __m256i s = _mm256_packs_epi16(_mm256_packs_epi32(qs_bits(y[0]), qs_bits(y[1])),
                                 _mm256_packs_epi32(qs_bits(y[2]), qs_bits(y[3])));
  s = _mm256_and_si256(s, _mm256_set1_epi8((char)0x80));
  if (e->sign_bit == 0x08) s = _mm256_srli_epi16(s, 4); /* each 0x80 byte -> 0x08 */
  if (!e->neg_zero) s = _mm256_andnot_si256(_mm256_cmpeq_epi8(b, _mm256_setzero_si256()), s);
  b = _mm256_or_si256(b, s);
  return _mm256_permutevar8x32_epi32(b, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

static inline void qs_put_fp8(uint8_t *q, const qs_i raw[QS_N], const qs_f y[QS_N],
                              const qs_enc *e) {
  _mm256_storeu_si256((__m256i *)q, qs_codes_bytes(raw, y, e));
}

/* 32 raw codes of x[0..31] in qs_load_bf16_pair order (even, odd, even, odd) -> 32
 * code bytes in element order, the signs taken from the bf16 inputs. */
static inline void qs_put_fp8_bf16p(uint8_t *q, const qs_i raw[QS_N], const uint16_t *x,
                                    const qs_enc *e) {
  /* per 128-bit lane: elements 0 2 4 6 1 3 5 7 16 18 20 22 17 19 21 23 (+8 in lane 1) */
  __m256i b = _mm256_packs_epi16(_mm256_packs_epi32(raw[0], raw[1]),
                                 _mm256_packs_epi32(raw[2], raw[3]));
  b = _mm256_shuffle_epi8(b, _mm256_setr_epi8(0, 4, 1, 5, 2, 6, 3, 7, 8, 12, 9, 13, 10, 14, 11, 15,
                                              0, 4, 1, 5, 2, 6, 3, 7, 8, 12, 9, 13, 10, 14, 11, 15));
  b = _mm256_add_epi8(b, _mm256_set1_epi8((char)(1 << e->m)));
  /* the same order (0-7 16-23 | 8-15 24-31) from packing the bf16 words: saturation
   * keeps each sign */
  __m256i s = _mm256_packs_epi16(_mm256_loadu_si256((const __m256i *)x),
                                 _mm256_loadu_si256((const __m256i *)(x + 16)));
  s = _mm256_and_si256(s, _mm256_set1_epi8((char)0x80));
  if (!e->neg_zero) s = _mm256_andnot_si256(_mm256_cmpeq_epi8(b, _mm256_setzero_si256()), s);
  _mm256_storeu_si256((__m256i *)q, _mm256_permute4x64_epi64(_mm256_or_si256(b, s), 0xd8));
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
    qs_mx_quantize_nt,
};
