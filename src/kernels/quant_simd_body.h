/*
 * The SIMD quant kernels, written once over a small vector vocabulary that each ISA
 * file (avx2/quant_avx2.c, avx512/quant_avx512.c) defines before including this file:
 *
 *   QS_W lanes of f32 per vector, QS_N = 32 / QS_W vectors per 32-element chunk;
 *   types qs_f (f32 vector), qs_i (i32 vector), qs_m (lane mask);
 *   qs_* lane-wise ops (see the ISA file), plus the few ISA-shaped steps: loading
 *   bytes / u16 / nibbles into i32 lanes, storing codes as bytes, fp16 conversions,
 *   horizontal max.
 *
 * Every function must equal the reference (kernels/ref/quant_ref.c) bit for bit. Two
 * rules make that hold without a proof per ISA:
 *   - the rounding steps are single IEEE operations (division, one multiply, one add
 *     whose result ulp is the target step) or integer arithmetic on the f32 bits;
 *   - anything the fast path does not handle exactly (e8m0 targets, a NaN scale, an
 *     MXCSR that is not round-to-nearest without FTZ/DAZ, odd format rows) is sent to
 *     the reference for the whole call. We never change MXCSR.
 * Tails shorter than a 32-element chunk go through the reference conversions element
 * by element, exactly as the reference loop does.
 */
#ifndef QS_W
#error "define the vector vocabulary before including quant_simd_body.h"
#endif

#include <float.h>
#include <math.h>
#include <string.h>

#include "../formats/formats.h"
#include "quant_kernels.h"

#define QS_INLINE static inline __attribute__((always_inline))


/* Round-to-nearest, no flush-to-zero, no denormals-are-zero: the state the float steps
 * below are exact in. Anything else goes to the reference. */
QS_INLINE bool qs_mxcsr_default(void) { return (_mm_getcsr() & 0xE040u) == 0; }

/* ------------------------------------------------------------------ encoder */
/*
 * f32 -> magnitude code of a narrow format, for all lanes at once. Returns
 * raw = code - 2^m (signed), already limited (overflow / saturation / NaN); the
 * ISA's store step adds 2^m back and applies the sign.
 *  - normal results: integer RNE on the f32 bits; the carry walks into the exponent;
 *  - subnormal results: |y| + 2^(emin - m + 23) is one IEEE addition whose ulp is the
 *    target's subnormal step, so it rounds once, to nearest even;
 *  - the two candidates are merged with a min: where a lane is in the other range,
 *    its wrong candidate is never the smaller one (linear code >= log code above the
 *    normal threshold; the normal path wraps to a huge value below it).
 */
typedef struct qs_enc {
  qs_i kround;      /* 2^(sh-1) - 1 - bits(2^emin), wrapping */
  qs_i magic_sub;   /* bits(magic) + 2^m */
  qs_f magic;       /* 2^(emin - m + 23) */
  qs_i lim, lim_nan; /* limits on raw: overflow / saturation, and NaN lanes */
  qs_f maxf;        /* the largest finite value of the format */
  int sh;           /* 23 - m */
  bool clamp;       /* the limit scheme can be QS_LIM_CLAMP */
  bool sign_from_x; /* the scale factor is > 0: a code's sign is its input's sign */
  int m;
  uint8_t sign_bit;
  bool neg_zero;
  bool nan_blend;   /* NaN lanes need lim_nan (differs from lim) */
  int lim_code;     /* the code of overflow / saturation (magnitude) */
  float min_normal; /* 2^emin: the smallest normal value of the format */
  bool nt;          /* fp8 codes with non-temporal stores (q 32-byte aligned) */
#ifdef QS_PUT_LIMITS
  int8_t lim_b[2];  /* the limit on raw applied to the packed bytes: PLAIN, CLAMP */
  bool lim_sat[2];  /* lim_b + 2^m == 127: a saturating byte add of 2^m applies it */
#endif
} qs_enc;

/* False when the row does not fit the generic min/limit scheme (then: reference). */
static bool qs_enc_init(qs_enc *e, const fp8g_format *f, bool saturate) {
  int m = f->mbits, emin = 1 - f->bias;
  if (m < 1 || m > 7 || emin < -100 || emin > 100) return false;
  /* Overflow must map to max_mag or max_mag + 1 with the sign bit simply OR-ed in
   * (which also covers fnuz's sign-less 0x80); NaN likewise. */
  int lim = saturate ? f->max_mag : f->ovf_pos;
  if (lim != f->max_mag && lim != f->max_mag + 1) return false;
  if (!saturate && (uint8_t)(f->ovf_pos | f->sign_bit) != f->ovf_neg) return false;
  if ((uint8_t)(f->nan_pos | f->sign_bit) != f->nan_neg) return false;
  uint32_t emin_bits = (uint32_t)(127 + emin) << 23;
  float magic = fp8g_f32_from_bits((uint32_t)(127 + emin - m + 23) << 23); /* 2^(emin - m + 23) */
  e->sh = 23 - m;
  e->m = m;
  e->kround = qs_seti((int32_t)(((1u << (e->sh - 1)) - 1u) - emin_bits));
  e->magic = qs_setf(magic);
  e->magic_sub = qs_seti((int32_t)(fp8g_f32_bits(magic) + (1u << m)));
  e->lim = qs_seti(lim - (1 << m));
  e->lim_nan = qs_seti((int)f->nan_pos - (1 << m));
  e->nan_blend = f->nan_pos != lim;
  e->lim_code = lim;
  e->min_normal = fp8g_f32_from_bits(emin_bits);
  /* CLAMP needs NaN codes above the largest finite one (not e2m1: NaN -> 0) */
  e->clamp = saturate && f->nan_pos > f->max_mag;
#ifdef QS_PUT_LIMITS
  /* both limits on raw must fit a signed byte (every fp8 row: at most 0x80 - 2^m) */
  if (lim - (1 << m) > 127 || (e->clamp && (int)f->nan_pos - (1 << m) > 127)) return false;
  e->lim_b[0] = (int8_t)(lim - (1 << m));
  e->lim_b[1] = (int8_t)((int)f->nan_pos - (1 << m)); /* used only when e->clamp */
  for (int i = 0; i < 2; i++) e->lim_sat[i] = e->lim_b[i] + (1 << m) == 127;
#endif
  int emax_field = f->max_mag >> m; /* a normal code (max_mag >= 2^m in every row) */
  if (emax_field < 1) return false;
  e->maxf = qs_setf(fp8g_f32_from_bits((uint32_t)(emax_field - f->bias + 127) << 23 |
                                       (uint32_t)(f->max_mag & ((1 << m) - 1)) << e->sh));
  e->sign_bit = f->sign_bit;
  e->neg_zero = f->neg_zero;
  e->nt = false;
  e->sign_from_x = false;
  return true;
}

/* How raw codes are limited: one limit for every lane (PLAIN); NaN lanes to lim_nan,
 * the others to lim (BLEND); or, when saturating, magnitudes clamped to the largest
 * finite value first (CLAMP): encode(min(|y|, maxf)) is the saturated code of every
 * non-NaN lane, and min_ps returns its second operand, the NaN, for NaN lanes, whose
 * code stays above lim_nan. */
enum { QS_LIM_PLAIN, QS_LIM_BLEND, QS_LIM_CLAMP };
/* Or-ed into PLAIN / CLAMP by the AVX2 fp8 paths (QS_PUT_LIMITS): the encoder leaves
 * out its last min, the store step applies the limit to the packed bytes (the
 * saturating packs keep every raw value above the limit above it). */
#define QS_LIM_DEFER 4

QS_INLINE qs_i qs_encode_abs(const qs_enc *e, qs_i a, int limit);
QS_INLINE qs_i qs_encode_raw(const qs_enc *e, qs_f y, int limit) {
  return qs_encode_abs(e, qs_and(qs_bits(y), qs_seti(0x7fffffff)), limit);
}

/* The same from a = |y| (bits). */
QS_INLINE qs_i qs_encode_abs(const qs_enc *e, qs_i a, int limit) {
  if ((limit & ~QS_LIM_DEFER) == QS_LIM_CLAMP) a = qs_bits(qs_minf(e->maxf, qs_flt(a)));
  /* RNE: + 2^(sh-1) - 1, + 1 more when the lowest kept bit is set (a shift and an and:
   * no lane mask, which costs a k-register round trip with AVX-512) */
  qs_i odd = qs_and(qs_srl(a, e->sh), qs_seti(1));
  qs_i nrm = qs_srl(qs_add(qs_add(a, e->kround), odd), e->sh);
  qs_i sub = qs_sub(qs_bits(qs_addf(qs_flt(a), e->magic)), e->magic_sub);
  qs_i c = qs_min(nrm, sub);
  if (limit & QS_LIM_DEFER) return c;
  if (limit == QS_LIM_CLAMP) return qs_min(c, e->lim_nan);
  qs_i lim = e->lim;
  if (limit == QS_LIM_BLEND) lim = qs_sel(qs_gt(a, qs_seti(0x7f800000)), lim, e->lim_nan);
  return qs_min(c, lim);
}

/* The limit scheme for a call (PLAIN: no NaN lane needs a code of its own). */
static int qs_limit_of(const qs_enc *e) {
  return e->clamp ? QS_LIM_CLAMP : e->nan_blend ? QS_LIM_BLEND : QS_LIM_PLAIN;
}

/* ------------------------------------------------------------------ quantize */
enum { QS_SCALE_NONE, QS_SCALE_MUL, QS_SCALE_DIV };

/* x / scale as the reference computes it. MUL: scale is 2^k with 2^-k a normal f32,
 * so x * 2^-k is the same exactly-rounded quotient. NONE: scale == 1. */
QS_INLINE qs_f qs_apply_scale(qs_f x, int mode, qs_f s) {
  if (mode == QS_SCALE_MUL) return qs_mulf(x, s);
  if (mode == QS_SCALE_DIV) return qs_divf(x, s);
  return x;
}

/* Where a chunk's 32 elements come from: f32, or bf16 / fp16 widened in registers. */
enum { QS_SRC_F32, QS_SRC_BF16, QS_SRC_F16 };

/* Vector v of a 32-element chunk at element offset i, as f32. fp16 goes through F16C,
 * which quiets a signalling NaN: harmless here, since a code depends on a NaN's sign
 * only, and both the widened value and its quotient keep the sign. */
QS_INLINE qs_f qs_load_src(const void *x, size_t i, int src) {
  if (src == QS_SRC_BF16) return qs_flt(qs_slli(qs_load_u16((const uint16_t *)x + i), 16));
  if (src == QS_SRC_F16) return qs_f16_to_f32((const uint16_t *)x + i);
  return qs_loadf((const float *)x + i);
}

#ifdef QS_PUT_LIMITS
/*
 * f32 -> fp8 chunk of the AVX2 table: the PLAIN / CLAMP limit is applied by the store
 * step to the 32 packed bytes (one byte op instead of a min per vector); with sx (the
 * scale factor is positive and finite: e->sign_from_x) the quotients are taken of |x|
 * and the signs packed from x, which is |RN(x / s)| and the quotient's sign, NaN x
 * included (as for bf16 pairs); fewer vectors stay live across the chunk.
 */
QS_INLINE void qs_quant_chunk_f32(const qs_enc *e, const float *x, uint8_t *q, int mode, qs_f s,
                                  int limit, bool sx) {
  qs_f y[QS_N];
  qs_i raw[QS_N];
  int lim = limit == QS_LIM_BLEND ? limit : limit | QS_LIM_DEFER;
  qs_i sb = sx ? qs_sign_bytes_x(x) : qs_seti(0);
  for (int v = 0; v < QS_N; v++) {
    qs_f xv = qs_loadf(x + (size_t)v * QS_W);
    if (sx) xv = qs_flt(qs_and(qs_bits(xv), qs_seti(0x7fffffff)));
    y[v] = qs_apply_scale(xv, mode, s);
    raw[v] = sx ? qs_encode_abs(e, qs_bits(y[v]), lim) : qs_encode_raw(e, y[v], lim);
  }
  if (!sx) sb = qs_sign_bytes_y(y);
  qs_put_fp8_lim(q, raw, sb, e, limit);
}
#endif

/* One 32-element chunk: x -> 32 code bytes (fp8) or 16 packed bytes (e2m1). */
QS_INLINE void qs_quant_chunk(const qs_enc *e, const void *x, size_t i0, uint8_t *q, int mode,
                              qs_f s, int limit, bool e2m1, int src) {
  qs_f y[QS_N];
  qs_i raw[QS_N];
#ifdef QS_PUT_LIMITS
  if (src == QS_SRC_F32 && !e2m1) {
    qs_quant_chunk_f32(e, (const float *)x + i0, q, mode, s, limit, false);
    return;
  }
#endif
  for (int v = 0; v < QS_N; v++) {
    y[v] = qs_apply_scale(qs_load_src(x, i0 + (size_t)v * QS_W, src), mode, s);
    raw[v] = qs_encode_raw(e, y[v], limit);
  }
  if (e2m1) qs_put_e2m1(q, raw, y, e);
#ifdef QS_PUT_FP8_NT
  else if (e->nt) qs_put_fp8_nt(q, raw, y, e);
#endif
  else qs_put_fp8(q, raw, y, e);
}

#ifdef QS_BF16_PAIRS
/*
 * bf16 -> fp8 chunk with the ISA's cheaper widening: each load of 2 * QS_W bf16 gives
 * two f32 vectors in an ISA-defined order (AVX2: even and odd elements), which the
 * matching store step puts back in element order. The sign of each code comes from
 * the bf16 input itself, which is the quotient's sign when the scale factor is
 * positive and finite: IEEE division and multiplication XOR the signs of non-NaN
 * operands and return a NaN operand x, sign included; the one invalid case left,
 * Inf / Inf, needs an infinite scale (it gives the negative default NaN). So the
 * loads give |x| and the quotients are |y| already: RN(|x| / s) = |RN(x / s)|.
 * defer (AVX2, QS_PUT_LIMITS): the PLAIN / CLAMP limit applied to the packed bytes; the
 * bf16 table's redo passes false (there the table loop measured ~1.5% slower with it).
 */
QS_INLINE void qs_quant_chunk_bf16p(const qs_enc *e, const uint16_t *x, uint8_t *q, int mode,
                                    qs_f s, int limit, bool defer) {
  qs_i raw[QS_N];
#ifdef QS_PUT_LIMITS
  defer = defer && limit != QS_LIM_BLEND;
  int lim = defer ? limit | QS_LIM_DEFER : limit;
#else
  int lim = limit;
  (void)defer;
#endif
  for (int v = 0; v < QS_N; v += 2) {
    qs_f a, b;
    qs_load_bf16_pair(x + (size_t)v * QS_W, &a, &b);
    raw[v] = qs_encode_abs(e, qs_bits(qs_apply_scale(a, mode, s)), lim);
    raw[v + 1] = qs_encode_abs(e, qs_bits(qs_apply_scale(b, mode, s)), lim);
  }
#ifdef QS_PUT_LIMITS
  if (defer) qs_put_fp8_bf16p_lim(q, raw, x, e, limit);
  else qs_put_fp8_bf16p(q, raw, x, e);
#else
  qs_put_fp8_bf16p(q, raw, x, e);
#endif
}
#endif

/* The 64-byte lines of chunk c of the row at pf (chunks of 32 elements of 4 or 2 bytes),
 * into cache. Hint T2, not T0: on Zen 4 the next-row stream of the per-token loop ran
 * at 60-67% of the same-run streaming read with T1 / T2 against 49-60% with T0 (f32,
 * 1 thread, bench_quant; NTA was slower still), and no worse for bf16 (docs/quant_kernels.md). */
#ifndef QS_PF_HINT
#define QS_PF_HINT _MM_HINT_T2
#endif
QS_INLINE void qs_prefetch_chunk(const char *pf, size_t c, int src) {
  size_t bytes = src == QS_SRC_F32 ? 128 : 64;
  for (size_t b = 0; b < bytes; b += 64) _mm_prefetch(pf + c * bytes + b, QS_PF_HINT);
}

/*
 * Long spans read as several far-apart streams. On the Zen 3 VM one core reading ONE
 * sequential stream got ~55-75% of the rate it got from 4-8 far-apart streams read in
 * turn, so a kernel that walks its span front to back was bound by the single-stream
 * rate (docs/quant_kernels.md, "Zen 3, session 12"). With QS_STREAMS defined, a span of
 * at least QS_STREAMS_MIN elements is walked as QS_STREAMS equal parts: unit j of part
 * 0, 1, ..., then unit j + 1 (a unit: u consecutive 32-element chunks; u = 2: 64 bytes
 * of fp8 codes per turn, whole lines where q is 64-byte aligned); the chunks left over
 * after the parts follow in order. The loops using it are elementwise, so the order changes no output
 * bit. Streams that alternate every few hundred bytes are what helped: a chunk of
 * several KiB per turn, or a kernel call per turn, lost to one stream (the doc above).
 * qs_stream_part: the part length in chunks (0: walk in order); qs_stream_at: the
 * chunk at step i.
 */
#ifdef QS_STREAMS
QS_INLINE size_t qs_stream_part(size_t nchunks, size_t elems_per_chunk, size_t u) {
  return nchunks * elems_per_chunk >= QS_STREAMS_MIN ? nchunks / (u * QS_STREAMS) * u : 0;
}
QS_INLINE size_t qs_stream_at(size_t i, size_t part, size_t u) {
  if (i >= QS_STREAMS * part) return i;
  size_t unit = i / u;
  return unit % QS_STREAMS * part + unit / QS_STREAMS * u + i % u;
}
#else
QS_INLINE size_t qs_stream_part(size_t nchunks, size_t elems_per_chunk, size_t u) {
  (void)nchunks, (void)elems_per_chunk, (void)u;
  return 0;
}
QS_INLINE size_t qs_stream_at(size_t i, size_t part, size_t u) {
  (void)part, (void)u;
  return i;
}
#endif

#if defined(QS_BF16_TABLE) && defined(QS_BF16_PAIRS) /* the table path falls back to the pair path */
/*
 * Table-driven bf16 -> fp8 (fp8 targets, sign_from_x, long rows). For a fixed scale s
 * and bf16 magnitudes |x| = 2^(E-127) (1 + M/128) with a normal fp8 result:
 *  - RN(2^k v) = 2^k RN(v) for f32 normal results, and the fp8 code of a normal value
 *    is its exponent field times 2^m plus its RNE-rounded mantissa, so doubling a
 *    normal fp8 result adds 2^m to its code (a rounding carry included). Hence, with
 *    E_lo the smallest bf16 exponent whose quotient 2^(E_lo-127) / s is >= 2^emin,
 *    code(E, M) = T[M] + 2^m (E - E_lo) for every E >= E_lo, T[M] = code(E_lo, M),
 *    until the code reaches the overflow / saturation limit; above it the code is the
 *    limit (codes are monotone in |x|, also when the f32 quotient overflows to Inf).
 *  - T is computed per call by the exact vector path itself (128 values). Within a
 *    group of 8 mantissas T rises by at most 1 (checked: one fp8 step is worth more
 *    than 8 bf16 steps), so T[8g + j] = T[8g] + (j >= thr[g]) = T[0] +
 *    ((U[g] + 8g + j) >> r) with r = 7 - m, U[g] = (T[8g] - T[0]) << r + 2^r - thr[g]
 *    - 8g (+ an offset): with a = |w| = 128 E + 8g + j, the code is
 *    (a + U[g] + K) >> r with one constant K, a 16-entry byte table (vpshufb) and
 *    16-bit integer arithmetic that stays in the signed range (checked).
 *  - Inf lanes must come out at the limit; when E_lo is near the top of the range the
 *    formula falls short of it, which the build's last check (Inf's sum against the
 *    limit code) catches.
 * Lanes below that range (fp8 subnormal or zero results) and NaN lanes send their
 * 32-value chunk through the general path. Any check that fails: the general path for
 * the call.
 */
/* rows shorter than this (in 32-value chunks) keep the general path: the table costs
 * about as much to build as a few chunks */
#ifndef QS_BTAB_MIN_CHUNKS
#define QS_BTAB_MIN_CHUNKS 32
#endif

QS_INLINE float qs_scalar_scale(float x, int mode, float fs) {
  return mode == QS_SCALE_DIV ? x / fs : mode == QS_SCALE_MUL ? x * fs : x;
}

QS_INLINE bool qs_btab_init(qs_btab *t, const qs_enc *e, int mode, qs_f s, int limit) {
  float fs = qs_first(s);
  int m = e->m, r = 7 - m;
  if (m < 2 || m > 3) return false;
  /* E_lo: the quotient is monotone in E; guess it from the exponents (2^emin * s for a
   * division, 2^emin / s for a multiply), then confirm it with two quotients */
  int emin = (int)(fp8g_f32_bits(e->min_normal) >> 23) - 127;
  int es = (int)((fp8g_f32_bits(fs) >> 23) & 0xff) - 127;
  int elo = 127 + emin + (mode == QS_SCALE_DIV ? es + 1 : mode == QS_SCALE_MUL ? -es : 0);
  for (int tries = 0;; tries++) {
    if (elo < 1 || elo > 254 || tries > 2) return false;
    bool ok = qs_scalar_scale(fp8g_f32_from_bits((uint32_t)elo << 23), mode, fs) >= e->min_normal;
    bool below = elo == 1 ||
                 qs_scalar_scale(fp8g_f32_from_bits((uint32_t)(elo - 1) << 23), mode, fs) < e->min_normal;
    if (ok && below) break;
    elo += ok ? -1 : 1;
  }
  /* T[M] and the quotients y[M] of 2^(E_lo-127) (1 + M/128), by the general path's
   * own steps (scale, encode |y|, + 2^m) */
  static const uint32_t iota[16] = {0 << 16, 1 << 16, 2 << 16,  3 << 16,  4 << 16,  5 << 16,
                                    6 << 16, 7 << 16, 8 << 16,  9 << 16,  10 << 16, 11 << 16,
                                    12 << 16, 13 << 16, 14 << 16, 15 << 16};
  uint8_t T[128];
  float y[128];
  qs_i step = qs_bits(qs_loadf((const float *)iota));
  for (int v = 0; v < 128 / QS_W; v++) {
    qs_f x = qs_flt(qs_add(qs_seti((int32_t)((uint32_t)elo << 23 | (uint32_t)(v * QS_W) << 16)), step));
    qs_f q = qs_apply_scale(x, mode, s);
    qs_storef(y + v * QS_W, q);
    qs_store_u8(T + v * QS_W, qs_add(qs_encode_abs(e, qs_bits(q), limit), qs_seti(1 << m)));
  }
  if (T[127] >= e->lim_code) return false;
  /* values of binade E_lo - 1 whose quotient y[M] / 2 is still a normal fp8 result
   * follow the same formula (code T[M] - 2^m): the table's range starts at the first
   * of them (not for E_lo = 1: bf16 subnormals have no implicit bit) */
  uint16_t low = (uint16_t)(elo << 7);
  if (elo > 1) {
    float t2 = 2.0f * e->min_normal;
#ifdef QS_BTAB_BUILD
    int lo = qs_btab_count_below(y, t2); /* y rises with M: the first y >= t2 */
#else
    int lo = 0, hi = 128;
    while (lo < hi) {
      int mid = (lo + hi) / 2;
      if (y[mid] >= t2) hi = mid;
      else lo = mid + 1;
    }
#endif
    low = (uint16_t)(((elo - 1) << 7) + lo);
  }
#ifdef QS_BTAB_BUILD
  return qs_btab_build(t, T, r, elo, e->lim_code, low);
#else
  /* T is non-decreasing (the general path equals the reference, which is monotone in
   * |x|); a group whose last entry is at most its first + 1 rises once, at thr[g] =
   * 8 - (the number of entries above its first). */
  int u[16], umin = 1 << 30, umax = -(1 << 30);
  const uint64_t ones = 0x0101010101010101ull;
  for (int g = 0; g < 16; g++) {
    uint64_t w;
    memcpy(&w, T + 8 * g, 8);
    uint64_t d = w - ones * T[8 * g]; /* bytes T[8g + j] - T[8g] >= 0: no borrows */
    if (d & ~ones) return false;      /* a byte above 1 */
    int thr = 8 - (int)((d * ones) >> 56);
    u[g] = ((T[8 * g] - T[0]) << r) + (1 << r) - thr - 8 * g;
    umin = u[g] < umin ? u[g] : umin;
    umax = u[g] > umax ? u[g] : umax;
  }
  if (umax - umin > 255) return false;
  uint8_t tab[16];
  for (int g = 0; g < 16; g++) tab[g] = (uint8_t)(u[g] - umin);
  /* true sum a + tab[g] + ktrue, a in [128 (E_lo - 1), 0x7fff], must fit int16 */
  int ktrue = (T[0] << r) - 128 * elo + umin;
  if (0x7fff + 255 + ktrue > 0x7fff || ktrue < -0x8000) return false;
  /* K also cancels the high byte of each shuffle result (tab[0] << 8) */
  uint16_t k = (uint16_t)((unsigned)(ktrue - 256 * tab[0]) & 0xffffu);
  /* Inf must reach the limit (NaN patterns, above it, flag their chunk) */
  if ((0x7f80 + tab[0] + ktrue) >> r < e->lim_code) return false;
  qs_btab_set(t, tab, k, r, e->lim_code, low);
  return true;
#endif
}

/*
 * The table step stores every chunk and flags the ones with a lane out of its range
 * (~7% of the chunks on bench_quant's data); they are redone by the general pair path
 * after each block of chunks (in L1 still). The table loop thus has no branch (the
 * flags were mispredicted) and few live constants.
 */
#ifndef QS_BTAB_BLOCK
#define QS_BTAB_BLOCK 256
#endif
/* nt (e->nt: q 32-byte aligned): every chunk's 32 codes go out in one non-temporal
 * store, a redone chunk's too (computed into a buffer first): an ordinary store into a
 * line just streamed would read it back from memory. */
QS_INLINE void qs_btab_loop_st(const qs_btab *tp, const qs_enc *e, const uint16_t *x,
                               size_t nchunks, uint8_t *q, int mode, qs_f s, int limit,
                               const char *pf, bool nt) {
  const qs_btab t = *tp;
  uint32_t redo[QS_BTAB_BLOCK];
  for (size_t c0 = 0; c0 < nchunks; c0 += QS_BTAB_BLOCK) {
    size_t c1 = nchunks - c0 < QS_BTAB_BLOCK ? nchunks : c0 + QS_BTAB_BLOCK, nr = 0;
    for (size_t c = c0; c < c1; c++) {
      qs_prefetch_chunk(pf, c, QS_SRC_BF16);
      redo[nr] = (uint32_t)(c - c0);
      nr += qs_btab_chunk_all(&t, x + 32 * c, q + 32 * c, nt);
    }
    for (size_t i = 0; i < nr; i++) {
      size_t c = c0 + redo[i];
      if (nt) {
        uint8_t buf[32] __attribute__((aligned(32)));
        qs_quant_chunk_bf16p(e, x + 32 * c, buf, mode, s, limit, false);
        qs_stream32(q + 32 * c, buf);
      } else {
        qs_quant_chunk_bf16p(e, x + 32 * c, q + 32 * c, mode, s, limit, false);
      }
    }
  }
}
QS_INLINE void qs_btab_loop(const qs_btab *tp, const qs_enc *e, const uint16_t *x,
                            size_t nchunks, uint8_t *q, int mode, qs_f s, int limit,
                            const char *pf) {
  if (e->nt) qs_btab_loop_st(tp, e, x, nchunks, q, mode, s, limit, pf, true);
  else qs_btab_loop_st(tp, e, x, nchunks, q, mode, s, limit, pf, false);
}

#endif

#ifdef QS_F32_TABLE
/*
 * Table-driven f32 -> fp8 (fp8 targets with m = 2 or 3, f32 input, a positive scale
 * that needs a division, no streaming stores, rows of >= 1024 values). For a fixed
 * positive scale s and a = |x| bits = E 2^23 + M:
 *  - as for bf16 above, doubling x adds 2^m to its code wherever the quotient
 *    y = RN(x / s) is >= 2^emin (RN(2v) = 2 RN(v) for normal f32 results, and doubling
 *    a normal fp8 value adds 2^m to its code, a rounding carry included). So, with E_lo
 *    the first binade whose quotients are all >= 2^emin and C(M) = code(E_lo, M),
 *    code = 2^m (E - E_lo) + C(M) for every normal x with y >= 2^emin, as long as the
 *    code is below the limit (the general encoder's integer RNE extends past the
 *    largest code the same way before its min with the limit).
 *  - C rises 2^m times per binade, at the rounding ties between fp8 values. Split M
 *    into 16 groups of 2^19 (g = M >> 19), A / 16 wide in quotient terms for the
 *    octave [A, 2A) of an x binade. With 2^e <= A < 2^(e+1), the ties in that octave
 *    are 2^(e-m) or 2^(e+1-m) apart, both more than A / 16 for m <= 3: a group holds
 *    at most one step, up to the rounding of y, which the build checks (a group with two:
 *    the row keeps the division path). With b_g = C(g 2^19) and t_g the first M of
 *    group g whose code is b_g + 1 ((g + 1) 2^19 when none), r = 23 - m >= 19,
 *      U[g] = (b_g - 2^m E_lo + 1) 2^r - t_g   gives   code = (a + U[g]) >> r:
 *    (E 2^23) >> r = 2^m E, and M - t_g + 2^r lies in [2^r - 2^19, 2^r + 2^19), whose
 *    bit r is [M >= t_g].
 *  - b_g: the general path's own steps on the 16 group starts of binade E_lo (one
 *    vector division). t_g, exact in doubles: the code reaches b + 1 (b = b_g) where y
 *    reaches Y = the tie between the values of codes b and b + 1 if RNE sends the tie
 *    up (b + 1 even), else the f32 above it; and y >= Y iff x / s >= B, B = the
 *    midpoint between Y and the f32 below it (at equality: iff Y's significand is
 *    even). B has 25 significant bits, s 24: T = B s is exact in a double, and t_g is
 *    the first f32 above T (or T itself). E_lo likewise: the binade of the first x
 *    with y >= 2^emin (Y = 2^emin), rounded up to a binade start.
 *  - Which lanes: those whose formula code lies in [2^m, L] (L: the limit, at most
 *    0x7f), one signed compare (the ISA step). That is exact: at or above E_lo the
 *    formula holds; in binade E_lo - k (k >= 1) it is code(2^k x) - k 2^m, and a value
 *    >= 2^m there means y(2^k x) >= the tie below 2^(emin+k), i.e. y >= 2^emin -
 *    2^(emin-m) / 4, whose code is 2^m: the formula's value. Subnormal x (E = 0) would
 *    break this; with E_lo >= 3 their formula codes are <= 0 (else: division path).
 *    Every other lane (zeros, fp8-subnormal codes, codes above L, Inf, NaN) flags its
 *    32-value chunk for the general path, as in the bf16 table. The build checks that
 *    no lane's sum wraps into the window (int64 bounds over each group's extremes)
 *    and that Inf lands above it.
 * Per 16 values: 7 vector ops, half a byte gather and a quarter of a byte add, against
 * ~12 and a division.
 */
#ifndef QS_FTAB_MIN_CHUNKS
#define QS_FTAB_MIN_CHUNKS 32
#endif

/* The first normal f32 (bits) x with RN(x / s) >= Y for the normal f32 Y (bits); sd:
 * s in a double (x / s == B iff x == B sd, exact); 0 when there is none. */
static uint32_t qs_ftab_first(uint32_t ybits, double sd) {
  double b = ((double)fp8g_f32_from_bits(ybits - 1) + (double)fp8g_f32_from_bits(ybits)) * 0.5;
  double t = b * sd; /* 25 x 24 significant bits: exact */
  if (t < 0x1p-126) return 0x00800000u;
  if (!(t <= 0x1.fffffep127)) return 0;
  float f = (float)t;
  uint32_t u = fp8g_f32_bits(f);
  /* at x / s == B exactly, the quotient ties and rounds to Y if Y's bits are even */
  if ((double)f < t || ((double)f == t && (ybits & 1u))) u++;
  return u;
}

QS_INLINE bool qs_ftab_init(qs_ftab *t, const qs_enc *e, int mode, qs_f s, int limit) {
  float fs = qs_first(s);
  int m = e->m;
  if (m < 2 || m > 3 || QS_W != 16) return false;
  uint32_t emin_bits = fp8g_f32_bits(e->min_normal);
  double sd = mode == QS_SCALE_DIV ? (double)fs : mode == QS_SCALE_MUL ? 1.0 / (double)fs : 1.0;
  /* low: the first x whose quotient is >= 2^emin; E_lo: the first binade from it on.
   * Binades 1 and 2 (x near 2^-126) excluded: the formula must not meet subnormal x. */
  uint32_t low = qs_ftab_first(emin_bits, sd);
  int elo = (int)(low >> 23) + ((low & 0x7fffffu) != 0);
  if (low == 0 || elo < 3 || elo > 254) return false;
  /* b_g by the general path (scale, encode |y|, + 2^m) on the 16 group starts */
  static const int32_t gstart[16] = {0 << 19, 1 << 19, 2 << 19,  3 << 19,  4 << 19,  5 << 19,
                                     6 << 19, 7 << 19, 8 << 19,  9 << 19,  10 << 19, 11 << 19,
                                     12 << 19, 13 << 19, 14 << 19, 15 << 19};
  qs_i xg = qs_add(qs_bits(qs_loadf((const float *)gstart)), qs_seti(elo << 23));
  qs_f y = qs_apply_scale(qs_flt(xg), mode, s);
  qs_i b = qs_add(qs_encode_abs(e, qs_bits(y), limit), qs_seti(1 << m));
  /* L: the limit, but at most 0x7f (the byte add of 2^m must not carry into the sign;
   * fnuz's overflow code 0x80 is left to the general path) */
  int lcode = e->lim_code < 0x7f ? e->lim_code : 0x7f;
  return qs_ftab_build(t, b, m, elo, sd, emin_bits - (1u << 23), lcode, e->lim_code, low);
}

/* The table step over the row, chunks with a lane out of range redone by the general
 * path after each block of chunks (as qs_btab_loop). The row starts with the window
 * form (qs_ftab_chunk); after a block with more than 1/8 of its chunks flagged it
 * goes on with the clamping form (lanes that saturate or overflow stay in range), and
 * after a block with more than 1/4 flagged there, on the general path (data with
 * many zeros or tiny values would pay for both steps). */
QS_INLINE void qs_ftab_loop(const qs_ftab *tp, const qs_enc *ep, const float *x, size_t nchunks,
                            uint8_t *q, int mode, qs_f s, int limit, const char *pf, int m) {
  const qs_ftab t = *tp;
  const qs_enc e = *ep;
  bool sat = false;
  uint32_t redo[QS_BTAB_BLOCK];
  for (size_t c0 = 0; c0 < nchunks; c0 += QS_BTAB_BLOCK) {
    size_t c1 = nchunks - c0 < QS_BTAB_BLOCK ? nchunks : c0 + QS_BTAB_BLOCK, nr = 0;
    uint8_t *dst = q + 32 * c0;
    if (!sat) {
      for (size_t c = c0; c < c1; c++) {
        qs_prefetch_chunk(pf, c, QS_SRC_F32);
        redo[nr] = (uint32_t)(c - c0);
        nr += qs_ftab_chunk(&t, x + 32 * c, dst + 32 * (c - c0), m);
      }
    } else {
      for (size_t c = c0; c < c1; c++) {
        qs_prefetch_chunk(pf, c, QS_SRC_F32);
        redo[nr] = (uint32_t)(c - c0);
        nr += qs_ftab_chunk_sat(&t, x + 32 * c, dst + 32 * (c - c0), m);
      }
    }
    for (size_t i = 0; i < nr; i++)
      qs_quant_chunk(&e, x + 32 * (c0 + redo[i]), 0, dst + 32 * redo[i], mode, s, limit, false,
                     QS_SRC_F32);
    if (!sat && 8 * nr > c1 - c0) {
      sat = true;
    } else if (sat && 4 * nr > c1 - c0) {
      for (size_t c = c1; c < nchunks; c++) {
        qs_prefetch_chunk(pf, c, QS_SRC_F32);
        qs_quant_chunk(&e, x, 32 * c, q + 32 * c, mode, s, limit, false, QS_SRC_F32);
      }
      return;
    }
  }
}
#endif

/* pf: the row to prefetch alongside (x itself when the caller has none: those lines
 * are being read anyway, and the loop stays branch-free). */
QS_INLINE void qs_quant_loop(const qs_enc *ep, const void *x, size_t nchunks, uint8_t *q,
                             int mode, qs_f s, int limit, bool e2m1, int src, const char *pf) {
  const qs_enc e = *ep; /* a local copy: the stores below cannot alias it */
  size_t qstep = e2m1 ? 16 : 32;
#ifdef QS_BF16_PAIRS
  if (src == QS_SRC_BF16 && !e2m1 && e.sign_from_x) {
#ifdef QS_BF16_TABLE
    qs_btab t;
    if (nchunks >= QS_BTAB_MIN_CHUNKS && qs_btab_init(&t, &e, mode, s, limit)) {
      qs_btab_loop(&t, &e, x, nchunks, q, mode, s, limit, pf);
      return;
    }
#endif
    for (size_t c = 0; c < nchunks; c++) {
      qs_prefetch_chunk(pf, c, src);
      qs_quant_chunk_bf16p(&e, (const uint16_t *)x + 32 * c, q + 32 * c, mode, s, limit, true);
    }
    return;
  }
#endif
#ifdef QS_F32_TABLE
  /* only where it removes a division (scale 1 and powers of two: no gain measured) and
   * without streaming stores (fp8_cast) */
  if (src == QS_SRC_F32 && !e2m1 && e.sign_from_x && mode == QS_SCALE_DIV && !e.nt &&
      nchunks >= QS_FTAB_MIN_CHUNKS) {
    qs_ftab t;
    if (qs_ftab_init(&t, &e, mode, s, limit)) {
      /* the table loop reads in order: with pf NULL (streams asked for) it prefetches x */
      const char *tpf = pf ? pf : (const char *)x;
      if (e.m == 3) qs_ftab_loop(&t, &e, (const float *)x, nchunks, q, mode, s, limit, tpf, 3);
      else qs_ftab_loop(&t, &e, (const float *)x, nchunks, q, mode, s, limit, tpf, 2);
      return;
    }
  }
#endif
  /* pf NULL: no row to prefetch, the span read as streams (qs_stream_part) */
  size_t part = pf ? 0 : qs_stream_part(nchunks, 32, 2);
  if (!pf) pf = (const char *)x;
#ifdef QS_PUT_LIMITS
  if (src == QS_SRC_F32 && !e2m1 && e.sign_from_x) {
    for (size_t i = 0; i < nchunks; i++) {
      size_t c = qs_stream_at(i, part, 2);
      qs_prefetch_chunk(pf, c, src);
      qs_quant_chunk_f32(&e, (const float *)x + 32 * c, q + 32 * c, mode, s, limit, true);
    }
    return;
  }
#endif
  for (size_t i = 0; i < nchunks; i++) {
    size_t c = qs_stream_at(i, part, 2);
    qs_prefetch_chunk(pf, c, src);
    qs_quant_chunk(&e, x, 32 * c, q + qstep * c, mode, s, limit, e2m1, src);
  }
}

/* Instantiates the loop for each (scale mode, limit scheme, e2m1) so the inner loop
 * has no branches; one such set per source type. */
#define QS_CASES_MODE(SRC, MODE, E2) \
  QS_CASE(SRC, MODE, QS_LIM_PLAIN, E2) QS_CASE(SRC, MODE, QS_LIM_BLEND, E2) QS_CASE(SRC, MODE, QS_LIM_CLAMP, E2)
#define QS_DEFINE_DISPATCH(NAME, SRC)                                                   \
  static void NAME(const qs_enc *e, const void *x, size_t nchunks, uint8_t *q, int mode, \
                   float sv, bool e2m1, const char *pf) {                               \
    qs_f s = qs_setf(sv);                                                               \
    int limit = qs_limit_of(e);                                                         \
    QS_CASES_MODE(SRC, QS_SCALE_NONE, false) QS_CASES_MODE(SRC, QS_SCALE_MUL, false)    \
    QS_CASES_MODE(SRC, QS_SCALE_DIV, false) QS_CASES_MODE(SRC, QS_SCALE_NONE, true)     \
    QS_CASES_MODE(SRC, QS_SCALE_MUL, true) QS_CASES_MODE(SRC, QS_SCALE_DIV, true)       \
  }
#define QS_CASE(SRC, MODE, LIM, E2)                                    \
  if (mode == MODE && limit == LIM && e2m1 == E2) {                    \
    qs_quant_loop(e, x, nchunks, q, MODE, s, LIM, E2, SRC, pf);        \
    return;                                                            \
  }
QS_DEFINE_DISPATCH(qs_quant_dispatch, QS_SRC_F32)
QS_DEFINE_DISPATCH(qs_quant_dispatch_bf16, QS_SRC_BF16)
QS_DEFINE_DISPATCH(qs_quant_dispatch_f16, QS_SRC_F16)
#undef QS_CASE
#undef QS_CASES_MODE
#undef QS_DEFINE_DISPATCH

/* Picks how to apply 1/scale; *factor is what the vector loop multiplies or divides by. */
static int qs_scale_mode(float scale, float *factor) {
  uint32_t u = fp8g_f32_bits(scale), e = (u >> 23) & 0xffu;
  if (scale == 1.0f) {
    *factor = 1.0f;
    return QS_SCALE_NONE;
  }
  if ((u & 0x7fffffu) == 0 && e >= 1 && e <= 253) {
    *factor = fp8g_f32_from_bits((u & 0x80000000u) | ((254u - e) << 23)); /* 2^-k, normal */
    return QS_SCALE_MUL;
  }
  *factor = scale;
  return QS_SCALE_DIV;
}

/* quantize of f32 (src QS_SRC_F32) or widened bf16 / fp16 input; prefetches the row of
 * n elements at next (may be NULL) on the way. */
static void qs_quantize_src(const void *x, int src, size_t n, float scale, fp8gemm_dtype to,
                            bool saturate, uint8_t *q, const void *next, bool nt, bool fence) {
  static const fp8gemm_dtype dt[] = {FP8GEMM_F32, FP8GEMM_BF16, FP8GEMM_F16};
  const fp8g_format *f = fp8g_format_of(to);
  qs_enc e;
  if (!f || !qs_mxcsr_default() || !qs_enc_init(&e, f, saturate)) {
    /* e8m0 targets and unusual states: the reference, element by element. */
    fp8g_quant_ref.quantize_wide(x, dt[src], n, scale, to, saturate, q);
    return;
  }
  bool e2m1 = to == FP8GEMM_E2M1;
#ifdef QS_PUT_FP8_NT
  /* non-temporal stores: fp8 targets, f32 or bf16 input, from the first 32-byte aligned
   * code on (the head before it: the reference's steps, as a tail) */
  e.nt = nt && !e2m1 && (src == QS_SRC_F32 || src == QS_SRC_BF16);
  if (e.nt && ((uintptr_t)q & 31) != 0) {
    size_t head = 32 - ((uintptr_t)q & 31);
    if (head > n) head = n;
    fp8g_quant_ref.quantize_wide(x, dt[src], head, scale, to, saturate, q);
    x = (const char *)x + head * (src == QS_SRC_F32 ? 4 : 2);
    q += head;
    n -= head;
  }
#else
  (void)nt;
#endif
  size_t nchunks = n / 32, done = nchunks * 32;
  float factor;
  int mode = qs_scale_mode(scale, &factor);
  /* not for a NaN, negative or infinite scale (Inf / Inf is the negative default NaN) */
  e.sign_from_x = factor > 0 && factor <= FLT_MAX;
  const char *pf = next ? next : x;
#ifdef QS_STREAMS
  /* f32 read in place with no next row to fetch, a long span: read as streams (pf NULL) */
  bool streams = !next && src == QS_SRC_F32 && n >= QS_STREAMS_MIN;
  if (streams) pf = NULL;
#else
  bool streams = false;
#endif
  (void)streams; /* (no QS_PF_AHEAD: nothing else reads it) */
#ifdef QS_PF_AHEAD
  /* f32 read in place with no next row to fetch (fp8_cast, per-tensor quantize): the
   * chunks up to QS_PF_AHEAD bytes before the end prefetch that far ahead of
   * themselves, the last ones their own lines (every prefetch stays inside x) */
  if (!streams && !next && src == QS_SRC_F32 && nchunks > QS_PF_AHEAD / 128) {
    size_t n1 = nchunks - QS_PF_AHEAD / 128;
    qs_quant_dispatch(&e, x, n1, q, mode, factor, e2m1, (const char *)x + QS_PF_AHEAD);
    x = (const float *)x + 32 * n1;
    q += e2m1 ? 16 * n1 : 32 * n1;
    n -= 32 * n1;
    nchunks -= n1;
    done = 32 * nchunks;
    pf = x;
  }
#endif
  if (src == QS_SRC_BF16) qs_quant_dispatch_bf16(&e, x, nchunks, q, mode, factor, e2m1, pf);
  else if (src == QS_SRC_F16) qs_quant_dispatch_f16(&e, x, nchunks, q, mode, factor, e2m1, pf);
  else qs_quant_dispatch(&e, x, nchunks, q, mode, factor, e2m1, pf);
  /* order the streamed codes before the caller's later stores (or the caller does it
   * once for a run of calls: nt_fence) */
  if (e.nt && fence) _mm_sfence();
  /* Tail: the reference's own per-element steps (chunks end on an even index). */
  const char *xt = (const char *)x + done * (src == QS_SRC_F32 ? 4 : 2);
  fp8g_quant_ref.quantize_wide(xt, dt[src], n - done, scale, to, saturate,
                               q + (e2m1 ? done / 2 : done));
}

static void qs_quantize(const float *x, size_t n, float scale, fp8gemm_dtype to, bool saturate,
                        uint8_t *q) {
  qs_quantize_src(x, QS_SRC_F32, n, scale, to, saturate, q, NULL, false, false);
}

static void qs_quantize_nt(const float *x, size_t n, float scale, fp8gemm_dtype to, bool saturate,
                           uint8_t *q) {
  qs_quantize_src(x, QS_SRC_F32, n, scale, to, saturate, q, NULL, true, true);
}

static void qs_quantize_wide_st(const void *x, fp8gemm_dtype dtype, size_t n, float scale,
                                fp8gemm_dtype to, bool saturate, uint8_t *q, const void *next,
                                bool nt) {
  int src = dtype == FP8GEMM_BF16 ? QS_SRC_BF16 : dtype == FP8GEMM_F16 ? QS_SRC_F16 : -1;
  if (dtype == FP8GEMM_F32) src = QS_SRC_F32;
  if (src < 0) {
    fp8g_quant_ref.quantize_wide(x, dtype, n, scale, to, saturate, q);
    return;
  }
  qs_quantize_src(x, src, n, scale, to, saturate, q, next, nt, false);
}

static void qs_quantize_wide_pf(const void *x, fp8gemm_dtype dtype, size_t n, float scale,
                                fp8gemm_dtype to, bool saturate, uint8_t *q, const void *next) {
  qs_quantize_wide_st(x, dtype, n, scale, to, saturate, q, next, false);
}

/* Streams bf16 spans that own whole 64-byte lines (q 64-byte aligned, n a multiple of
 * 64): a line that took both ordinary and streaming stores (a row's head or tail shared
 * with the neighbouring row) cost more than streaming saved (per-token rows of 4096
 * codes 16 bytes past a line: f32 21 -> 28 ms, bf16 12 -> 17 ms, 1 thread). f32 spans
 * keep ordinary stores: streaming measured neutral for them, and it would turn off the
 * division-free table step (qs_ftab_loop). */
static void qs_quantize_wide_pf_nt(const void *x, fp8gemm_dtype dtype, size_t n, float scale,
                                   fp8gemm_dtype to, bool saturate, uint8_t *q, const void *next) {
  bool nt = dtype == FP8GEMM_BF16 && ((uintptr_t)q & 63) == 0 && n % 64 == 0;
  qs_quantize_wide_st(x, dtype, n, scale, to, saturate, q, next, nt);
}

static void qs_nt_fence(void) { _mm_sfence(); }

static void qs_quantize_wide(const void *x, fp8gemm_dtype dtype, size_t n, float scale,
                             fp8gemm_dtype to, bool saturate, uint8_t *q) {
  qs_quantize_wide_pf(x, dtype, n, scale, to, saturate, q, NULL);
}

/* ------------------------------------------------------------------ dequantize */
/* f32 -> bf16 bits in i32 lanes: RNE, NaN -> its top half with the quiet bit set. */
QS_INLINE qs_i qs_bf16_of(qs_f x) {
  qs_i u = qs_bits(x);
  qs_i r = qs_srli(qs_add(qs_add(u, qs_seti(0x7fff)), qs_and(qs_srli(u, 16), qs_seti(1))), 16);
  qs_i nan = qs_or(qs_srli(u, 16), qs_seti(0x40));
  return qs_sel(qs_gt(qs_and(u, qs_seti(0x7fffffff)), qs_seti(0x7f800000)), r, nan);
}

/* Output of the dequantize loops: f32, or rounded (RNE) to bf16 / fp16 in registers. */
enum { QS_OUT_F32, QS_OUT_BF16, QS_OUT_F16 };

/* The QS_N vectors of one 32-element chunk at element offset i of y. */
QS_INLINE void qs_emit(void *y, size_t i, const qs_f v[QS_N], int out) {
  if (out == QS_OUT_F32) {
    for (int k = 0; k < QS_N; k++) qs_storef((float *)y + i + (size_t)k * QS_W, v[k]);
  } else if (out == QS_OUT_BF16) {
    for (int k = 0; k < QS_N; k += 2) /* QS_N is even */
      qs_store_u16x2((uint16_t *)y + i + (size_t)k * QS_W, qs_bf16_of(v[k]), qs_bf16_of(v[k + 1]));
  } else {
    /* F16C: RNE, gradual underflow, NaN -> sign | 0x7e00 | top payload, as narrow */
    for (int k = 0; k < QS_N; k++) qs_f32_to_f16((uint16_t *)y + i + (size_t)k * QS_W, v[k]);
  }
}

/*
 * fp8 decode without a table: the code's bits shifted into f32 position are the value
 * times 2^-(127 - bias) (normals land as normals, subnormals as f32 subnormals, both
 * exact), so y = that * (scale * 2^(127 - bias)) is decode(q) * scale rounded once.
 * When scale * 2^(127 - bias) overflows, the power of two is applied first instead.
 * Non-finite codes are looked up in an 8-entry table filled from the reference decode,
 * indexed by (c ^ c >> 5) & 7, which separates every format's special codes.
 */
typedef struct qs_dec {
  qs_i keep, spec_mask, spec_val, spec_tab;
  uint32_t smask, sval; /* special codes: (c & smask) == sval */
  qs_f factor, pow2;
  int sra;         /* 1 + m: from the code's top byte to f32 position */
  bool has_spec, split;
} qs_dec;

/* The special (non-finite) codes of a format: (c & smask) == sval. */
static bool qs_spec_codes(const fp8g_format *f, uint32_t *smask, uint32_t *sval) {
  switch (f->special) {
    case FP8G_SPECIAL_IEEE: *smask = 0x7C; *sval = 0x7C; break;
    case FP8G_SPECIAL_FN: *smask = 0x7F; *sval = 0x7F; break;
    case FP8G_SPECIAL_FNUZ: *smask = 0xFF; *sval = 0x80; break;
    default: return false;
  }
  return f->sign_bit == 0x80;
}

static bool qs_dec_init(qs_dec *d, fp8gemm_dtype from, const fp8g_format *f, float scale) {
  uint32_t smask, sval;
  if (!qs_spec_codes(f, &smask, &sval)) return false;
  uint32_t tab[8];
  bool filled[8] = {false};
  /* every special code is sign | (sval & 0x7f) | two low bits: 8 candidates, not 256
   * (this runs once per call, and the op layer calls per chunk of a row) */
  for (uint32_t i = 0; i < 8; i++) {
    uint32_t c = (i & 4 ? 0x80u : 0u) | (sval & 0x7fu) | (i & 3u);
    if ((c & smask) != sval) continue;
    uint32_t i = (c ^ (c >> 5)) & 7, b = fp8g_f32_bits(fp8g_decode(from, (uint8_t)c));
    if (filled[i] && tab[i] != b) return false;
    tab[i] = b;
    filled[i] = true;
  }
  for (int i = 0; i < 8; i++)
    if (!filled[i]) tab[i] = 0;
  d->spec_tab = qs_load_tab8(tab);
  d->smask = smask;
  d->sval = sval;
  d->has_spec = true;
  d->spec_mask = qs_seti((int32_t)smask);
  d->spec_val = qs_seti((int32_t)sval);
  d->sra = 1 + f->mbits;
  d->keep = qs_seti((int32_t)(0x80000000u | (0x7fffffffu >> d->sra)));
  float p2 = fp8g_f32_from_bits((uint32_t)(254 - f->bias) << 23), s2 = scale * p2; /* 2^(127-bias) */
  d->split = !(fabsf(s2) <= 0x1.fffffep127f) && !isinf(scale);
  d->factor = qs_setf(d->split ? scale : s2);
  d->pow2 = qs_setf(p2);
  return true;
}

QS_INLINE qs_f qs_decode_scaled(const qs_dec *d, qs_i c, bool spec, bool split) {
  /* code << 24, then an arithmetic shift puts the magnitude in f32 position and the
   * mask clears the copies of the sign bit: sign << 31 | mag << (23 - m) */
  qs_i v = qs_and(qs_sra(qs_slli(c, 24), d->sra), d->keep);
  if (spec) {
    qs_m is_spec = qs_eq(qs_and(c, d->spec_mask), d->spec_val);
    /* perm8 reads the index's low bits only (tables repeat every 8 entries) */
    v = qs_sel(is_spec, v, qs_perm8(d->spec_tab, qs_xor(c, qs_srli(c, 5))));
  }
  qs_f y = qs_flt(v);
  if (split) y = qs_mulf(y, d->pow2);
  return qs_mulf(y, d->factor);
}

QS_INLINE void qs_dequant_loop(const qs_dec *d, const uint8_t *q, size_t nchunks, void *y,
                               bool split, int out) {
  size_t part = qs_stream_part(nchunks, 32, 2);
  for (size_t i = 0; i < nchunks; i++) {
    size_t c = qs_stream_at(i, part, 2);
    qs_f v[QS_N];
    for (int k = 0; k < QS_N; k++)
      v[k] = qs_decode_scaled(d, qs_load_u8(q + 32 * c + (size_t)k * QS_W), true, split);
    qs_emit(y, 32 * c, v, out);
  }
}

/* e2m1: 16 codes, sign in bit 3: magnitudes through an 8-entry table of the reference. */
QS_INLINE void qs_dequant_e2m1_loop(const qs_i tab, const uint8_t *q, size_t nchunks, void *y,
                                    qs_f s, int out) {
  size_t part = qs_stream_part(nchunks, 32, 2);
  for (size_t i = 0; i < nchunks; i++) {
    size_t c = qs_stream_at(i, part, 2);
    qs_f v[QS_N];
    for (int k = 0; k < QS_N; k++) {
      qs_i n = qs_load_nibbles(q + 16 * c + (size_t)k * QS_W / 2);
      qs_i mag = qs_perm8(tab, qs_and(n, qs_seti(7)));
      qs_i val = qs_or(mag, qs_sll(qs_and(n, qs_seti(8)), 28));
      v[k] = qs_mulf(qs_flt(val), s);
    }
    qs_emit(y, 32 * c, v, out);
  }
}

/*
 * The fast fp8 path: codes to output bits by integer arithmetic on a table, no float
 * operation in the loop. For a fixed scale, out(c) = round_out(RN(decode(c) * scale))
 * is a function of the code alone, and within the normal range it is linear in the
 * exponent field: RN(v * 2^k) = RN(v) * 2^k and rounding to bf16 commutes with it too
 * (both add k to the exponent bits). So, when every normal code's product is a normal,
 * finite f32 (checked once per call, in doubles, from the format's smallest normal and
 * largest finite magnitudes), for every normal code
 *   out(c) = tab[c & 7] + ((c & 0x78) << (osh - m))
 * with tab[i] = out(8 + i) - (8 << (osh - m)) (code 8 + i is normal in every fp8
 * format; c & 7 holds the mantissa and, for m < 3, the exponent's low bits), osh the
 * output's exponent position (23: f32 bits, then F16C for fp16; 7: bf16 bits). Codes
 * with a zero exponent field come from an 8-entry table, the sign is an XOR (rounding
 * is symmetric), and special codes come from a table of the reference's own
 * decode(c) * scale; so are the 16 table entries (scalar, once per call).
 */
/* How the special codes are patched in: one magnitude whose outputs differ only in the
 * sign (e4m3fn's NaN: a blend with a constant before the sign), one code (fnuz's 0x80),
 * or the general 8-entry table (e5m2's Inf and NaNs). */
enum { QS_SPEC_TABLE, QS_SPEC_MAG, QS_SPEC_CODE };

typedef struct qs_tdec {
  qs_i tab, sub, spec_tab, spec_mask, spec_val, emask, spec_out;
  int esh, ssh; /* osh - m; sign shift: bit 7 to the output's sign bit */
  int spec;     /* QS_SPEC_* */
  /* bf16 output in 16-bit lanes: the three tables as pshufb byte tables (entry i's low
   * byte at i, high byte at 8 + i), and the scalar constants */
  qs_h htab, hsub, hspec;
  int emask_s, smask_s, sval_s, spec_out_s;
} qs_tdec;

QS_INLINE qs_i qs_out_bits(qs_f y, int out) {
  return out == QS_OUT_BF16 ? qs_bf16_of(y) : qs_bits(y);
}

static bool qs_tdec_init(qs_tdec *t, fp8gemm_dtype from, const fp8g_format *f, float scale, int out) {
  int m = f->mbits;
  uint32_t smask, sval;
  if (m < 1 || m > 3 || f->ebits + m != 7 || !qs_spec_codes(f, &smask, &sval)) return false;
  double a = fabs((double)scale), lo = ldexp(a, 1 - f->bias),
         hi = (double)fp8g_traits(from)->max_finite * a;
  if (!(lo >= 0x1p-125 && hi <= 0x1p126)) return false; /* also 0, Inf, NaN scales */
  int osh = out == QS_OUT_BF16 ? 7 : 23;
  /* the 16 entries: decode(c) * scale (one f32 multiply, as the reference), rounded to
   * the output. Codes 0..15 are finite in every fp8 format, their values are built
   * exactly from the bits here (fp8g_decode would cost ~100 ns for 16), and every
   * product is a finite normal f32 (range check above), where the integer RNE below is
   * fp8g_f32_to_bf16. */
  uint32_t o[16], tab[8], sub[8];
  for (uint32_t i = 0; i < 16; i++) {
    uint32_t e = i >> m, mant = i & ((1u << m) - 1u);
    float v = e ? fp8g_f32_from_bits((uint32_t)(e - (uint32_t)f->bias + 127u) << 23 | mant << (23 - m))
                : (float)mant * fp8g_f32_from_bits((uint32_t)(127 + 1 - f->bias - m) << 23);
    uint32_t u = fp8g_f32_bits(v * scale);
    o[i] = out == QS_OUT_BF16 ? (u + 0x7fffu + ((u >> 16) & 1u)) >> 16 : u;
  }
  for (int i = 0; i < 8; i++) {
    sub[i] = o[i];
    tab[i] = o[8 + i] - (8u << (osh - m));
  }
  /* special codes (as qs_dec_init finds them): the reference's decode(c) * scale */
  uint32_t spec[8] = {0}, sign = out == QS_OUT_BF16 ? 0x8000u : 0x80000000u;
  for (uint32_t k = 0; k < 8; k++) {
    uint32_t c = (k & 4 ? 0x80u : 0u) | (sval & 0x7fu) | (k & 3u);
    if ((c & smask) != sval) continue;
    float y = fp8g_decode(from, (uint8_t)c) * scale; /* Inf or NaN */
    uint32_t u = fp8g_f32_bits(y);
    spec[(c ^ (c >> 5)) & 7] = out != QS_OUT_BF16 ? u : isnan(y) ? (u >> 16) | 0x40u : u >> 16;
  }
  uint32_t s7f = spec[(0x7fu ^ (0x7fu >> 5)) & 7], sff = spec[(0xffu ^ (0xffu >> 5)) & 7];
  t->spec = QS_SPEC_TABLE;
  if (smask == 0x7f && sval == 0x7f && sff == (s7f ^ sign)) t->spec = QS_SPEC_MAG;
  if (smask == 0xff && sval == 0x80) t->spec = QS_SPEC_CODE;
  t->spec_out = qs_seti((int32_t)(t->spec == QS_SPEC_CODE ? spec[(0x80u ^ (0x80u >> 5)) & 7] : s7f));
  uint8_t hb[3][16];
  for (int i = 0; i < 8; i++) {
    const uint32_t *src[3] = {tab, sub, spec};
    for (int k = 0; k < 3; k++) {
      hb[k][i] = (uint8_t)src[k][i];
      hb[k][8 + i] = (uint8_t)(src[k][i] >> 8);
    }
  }
  t->htab = qs_h_tab16(hb[0]);
  t->hsub = qs_h_tab16(hb[1]);
  t->hspec = qs_h_tab16(hb[2]);
  t->emask_s = 0x7f & ~((1 << m) - 1);
  t->smask_s = (int)smask;
  t->sval_s = (int)sval;
  t->spec_out_s = (int)(t->spec == QS_SPEC_CODE ? spec[(0x80u ^ (0x80u >> 5)) & 7] : s7f);
  t->tab = qs_load_tab8(tab);
  t->sub = qs_load_tab8(sub);
  t->spec_tab = qs_load_tab8(spec);
  t->spec_mask = qs_seti((int32_t)smask);
  t->spec_val = qs_seti((int32_t)sval);
  t->emask = qs_seti(0x7f & ~((1 << m) - 1));
  t->esh = osh - m;
  t->ssh = osh == 7 ? 8 : 24;
  return true;
}

QS_INLINE qs_i qs_tdec_vec(const qs_tdec *t, qs_i c, int spec) {
  qs_i v = qs_add(qs_perm8(t->tab, c), qs_sll(qs_and(c, qs_seti(0x78)), t->esh));
  v = qs_sel(qs_eq(qs_and(c, t->emask), qs_seti(0)), v, qs_perm8(t->sub, c));
  if (spec == QS_SPEC_MAG) v = qs_sel(qs_eq(qs_and(c, t->spec_mask), t->spec_val), v, t->spec_out);
  v = qs_xor(v, qs_sll(qs_and(c, qs_seti(0x80)), t->ssh));
  if (spec == QS_SPEC_CODE) return qs_sel(qs_eq(c, t->spec_val), v, t->spec_out);
  if (spec == QS_SPEC_TABLE) {
    qs_m is_spec = qs_eq(qs_and(c, t->spec_mask), t->spec_val);
    v = qs_sel(is_spec, v, qs_perm8(t->spec_tab, qs_xor(c, qs_srli(c, 5))));
  }
  return v;
}

QS_INLINE void qs_tdec_loop(const qs_tdec *t, const uint8_t *q, size_t nchunks, void *y, int out,
                            int spec) {
  size_t part = qs_stream_part(nchunks, 32, 2);
  for (size_t j = 0; j < nchunks; j++) {
    size_t c = qs_stream_at(j, part, 2);
    qs_i v[QS_N];
    for (int k = 0; k < QS_N; k++) v[k] = qs_tdec_vec(t, qs_load_u8(q + 32 * c + (size_t)k * QS_W), spec);
    size_t i = 32 * c;
    if (out == QS_OUT_BF16) {
      for (int k = 0; k < QS_N; k += 2)
        qs_store_u16x2((uint16_t *)y + i + (size_t)k * QS_W, v[k], v[k + 1]);
    } else {
      qs_f f[QS_N];
      for (int k = 0; k < QS_N; k++) f[k] = qs_flt(v[k]);
      qs_emit(y, i, f, out);
    }
  }
}

/* bf16 output, 2 * QS_W codes at once in 16-bit lanes: the same arithmetic as
 * qs_tdec_vec, with the 8-entry lookups as byte shuffles (index bytes i and 8 + i). */
QS_INLINE qs_h qs_h_index8(qs_h k) {
  return qs_h_or(qs_h_and(qs_h_mul(k, qs_h_set(0x0101)), qs_h_set(0x0707)), qs_h_set(0x0800));
}

QS_INLINE qs_h qs_tdec_h(const qs_tdec *t, qs_h c, int spec) {
  qs_h idx = qs_h_index8(c);
  qs_h v = qs_h_add(qs_h_shuf(t->htab, idx), qs_h_sll(qs_h_and(c, qs_h_set(0x78)), t->esh));
  v = qs_h_sel(qs_h_eq(qs_h_and(c, qs_h_set(t->emask_s)), qs_h_set(0)), v, qs_h_shuf(t->hsub, idx));
  if (spec == QS_SPEC_MAG)
    v = qs_h_sel(qs_h_eq(qs_h_and(c, qs_h_set(0x7f)), qs_h_set(0x7f)), v, qs_h_set(t->spec_out_s));
  v = qs_h_xor(v, qs_h_sll(qs_h_and(c, qs_h_set(0x80)), 8));
  if (spec == QS_SPEC_CODE) return qs_h_sel(qs_h_eq(c, qs_h_set(0x80)), v, qs_h_set(t->spec_out_s));
  if (spec == QS_SPEC_TABLE) {
    qs_h idx2 = qs_h_index8(qs_h_xor(c, qs_h_srl(c, 5)));
    qs_hm is_spec = qs_h_eq(qs_h_and(c, qs_h_set(t->smask_s)), qs_h_set(t->sval_s));
    v = qs_h_sel(is_spec, v, qs_h_shuf(t->hspec, idx2));
  }
  return v;
}

#ifndef QS_H_STREAM /* no streaming stores: nt is never set (qs_dequantize_narrow_st) */
QS_INLINE void qs_h_stream(uint16_t *p, qs_h v) { qs_h_store(p, v); }
#endif

/* nt: y 64-byte aligned, each 32 outputs one streamed line (QS_W == 16) */
QS_INLINE void qs_tdec_bf16_loop(const qs_tdec *tp, const uint8_t *q, size_t nchunks, uint16_t *y,
                                 int spec, bool nt) {
  const qs_tdec t = *tp; /* a local copy: the stores below cannot alias it */
  size_t part = qs_stream_part(nchunks, 32, 2);
  for (size_t i = 0; i < nchunks; i++) {
    size_t c = qs_stream_at(i, part, 2);
    for (int k = 0; k < 32; k += 2 * QS_W) {
      qs_h v = qs_tdec_h(&t, qs_h_load_u8(q + 32 * c + k), spec);
      if (nt) qs_h_stream(y + 32 * c + k, v);
      else qs_h_store(y + 32 * c + k, v);
    }
  }
}

QS_INLINE void qs_tdec_bf16_run(const qs_tdec *t, const uint8_t *q, size_t nchunks, uint16_t *y,
                                bool nt) {
  if (t->spec == QS_SPEC_MAG) qs_tdec_bf16_loop(t, q, nchunks, y, QS_SPEC_MAG, nt);
  else if (t->spec == QS_SPEC_CODE) qs_tdec_bf16_loop(t, q, nchunks, y, QS_SPEC_CODE, nt);
  else qs_tdec_bf16_loop(t, q, nchunks, y, QS_SPEC_TABLE, nt);
}

/* One branch-free table loop per (out, special-code scheme, streamed or not). */
static void qs_tdec_run(const qs_tdec *t, const uint8_t *q, size_t nchunks, void *y, int out,
                        bool nt) {
#define QS_TRUN(OUT, SPEC)                                                   \
  if (out == OUT && t->spec == SPEC) {                                       \
    qs_tdec_loop(t, q, nchunks, y, OUT, SPEC);                               \
    return;                                                                  \
  }
  if (out == QS_OUT_BF16) {
    if (nt) qs_tdec_bf16_run(t, q, nchunks, y, true);
    else qs_tdec_bf16_run(t, q, nchunks, y, false);
    return;
  }
  QS_TRUN(QS_OUT_F16, QS_SPEC_MAG) QS_TRUN(QS_OUT_F16, QS_SPEC_CODE) QS_TRUN(QS_OUT_F16, QS_SPEC_TABLE)
  QS_TRUN(QS_OUT_F32, QS_SPEC_MAG) QS_TRUN(QS_OUT_F32, QS_SPEC_CODE) QS_TRUN(QS_OUT_F32, QS_SPEC_TABLE)
#undef QS_TRUN
}

/* One branch-free loop per (split, out); e2m1 per out. */
static void qs_dequant_run(const qs_dec *d, const qs_i *e2m1_tab, const uint8_t *q, size_t nchunks,
                           void *y, qs_f s, int out) {
#define QS_RUN(OUT)                                                           \
  if (out == OUT) {                                                           \
    if (e2m1_tab) qs_dequant_e2m1_loop(*e2m1_tab, q, nchunks, y, s, OUT);     \
    else if (d->split) qs_dequant_loop(d, q, nchunks, y, true, OUT);          \
    else qs_dequant_loop(d, q, nchunks, y, false, OUT);                       \
    return;                                                                   \
  }
  QS_RUN(QS_OUT_F32) QS_RUN(QS_OUT_BF16) QS_RUN(QS_OUT_F16)
#undef QS_RUN
}

/* dequantize_narrow: decode, scale (one f32 multiply) and round to out in registers.
 * nt: bf16 outputs of fp8 codes by the table loop with streaming stores (QS_H_STREAM). */
static void qs_dequantize_narrow_st(const uint8_t *q, size_t n, fp8gemm_dtype from, float scale,
                                    fp8gemm_dtype out, void *y, bool nt) {
  const fp8g_format *f = fp8g_format_of(from);
  int o = out == FP8GEMM_F32 ? QS_OUT_F32 : out == FP8GEMM_BF16 ? QS_OUT_BF16
                                          : out == FP8GEMM_F16 ? QS_OUT_F16 : -1;
  size_t nchunks = n / 32, done = nchunks * 32;
  qs_dec d;
  qs_tdec t;
  /* NaN scale: which NaN a product of two NaNs returns depends on operand order; the
   * reference decides. e8m0, odd out dtypes and odd states: the reference too. */
  if (!f || o < 0 || isnan(scale) || !qs_mxcsr_default()) {
    fp8g_quant_ref.dequantize_narrow(q, n, from, scale, out, y);
    return;
  }
#ifdef QS_H_STREAM
  /* streamed: whole lines from y's first 64-byte boundary on, the outputs before it by
   * the reference (a line never takes both kinds of store from one call) */
  nt = nt && o == QS_OUT_BF16 && from != FP8GEMM_E2M1 && ((uintptr_t)y & 1) == 0;
  if (nt && ((uintptr_t)y & 63) != 0) {
    size_t head = (64 - ((uintptr_t)y & 63)) / 2;
    if (head > n) head = n;
    fp8g_quant_ref.dequantize_narrow(q, head, from, scale, out, y);
    q += head;
    y = (uint16_t *)y + head;
    n -= head;
    nchunks = n / 32;
    done = nchunks * 32;
  }
#else
  nt = false;
#endif
  if (from == FP8GEMM_E2M1) {
    uint32_t tab[8];
    for (int i = 0; i < 8; i++) tab[i] = fp8g_f32_bits(fp8g_decode(from, (uint8_t)i));
    qs_i t = qs_load_tab8(tab);
    qs_dequant_run(NULL, &t, q, nchunks, y, qs_setf(scale), o);
  } else if (nchunks >= 4 && qs_tdec_init(&t, from, f, scale, o)) {
    /* (>= 128 codes: below that the float path's cheaper setup wins) */
    qs_tdec_run(&t, q, nchunks, y, o, nt);
    if (nt) _mm_sfence(); /* the streamed lines before the caller's later stores */
  } else if (qs_dec_init(&d, from, f, scale)) {
    qs_dequant_run(&d, NULL, q, nchunks, y, qs_setf(scale), o);
  } else {
    done = 0;
  }
  /* tail: the reference (e2m1: whole bytes from an even index) */
  size_t ob = out == FP8GEMM_F32 ? 4 : 2;
  fp8g_quant_ref.dequantize_narrow(q + (from == FP8GEMM_E2M1 ? done / 2 : done), n - done, from,
                                   scale, out, (char *)y + done * ob);
}

static void qs_dequantize_narrow(const uint8_t *q, size_t n, fp8gemm_dtype from, float scale,
                                 fp8gemm_dtype out, void *y) {
  qs_dequantize_narrow_st(q, n, from, scale, out, y, false);
}

static void qs_dequantize_narrow_nt(const uint8_t *q, size_t n, fp8gemm_dtype from, float scale,
                                    fp8gemm_dtype out, void *y) {
  qs_dequantize_narrow_st(q, n, from, scale, out, y, true);
}

static void qs_dequantize(const uint8_t *q, size_t n, fp8gemm_dtype from, float scale, float *y) {
  qs_dequantize_narrow(q, n, from, scale, FP8GEMM_F32, y);
}

/* ------------------------------------------------------------------ widen / narrow */
/* fp16 -> f32 by F16C, except NaN lanes, which keep their payload bit for bit (F16C
 * would quiet a signalling NaN; the reference does not). */
QS_INLINE qs_f qs_widen_f16_vec(const uint16_t *p) {
  qs_i h = qs_load_u16(p);
  qs_f y = qs_f16_to_f32(p);
  qs_i a = qs_and(h, qs_seti(0x7fff));
  qs_i nan = qs_or(qs_or(qs_sll(qs_and(h, qs_seti(0x8000)), 16), qs_seti(0x7f800000)),
                   qs_sll(qs_and(h, qs_seti(0x3ff)), 13));
  return qs_flt(qs_sel(qs_gt(a, qs_seti(0x7c00)), qs_bits(y), nan));
}

static void qs_widen(const void *x, fp8gemm_dtype dtype, float *y, size_t n) {
  size_t nv = n / QS_W, done = nv * QS_W;
  if (dtype == FP8GEMM_F32) {
    memmove(y, x, n * sizeof *y);
    return;
  }
  if (dtype == FP8GEMM_BF16) {
    const uint16_t *h = x;
    for (size_t v = 0; v < nv; v++) qs_storef(y + v * QS_W, qs_flt(qs_slli(qs_load_u16(h + v * QS_W), 16)));
  } else if (dtype == FP8GEMM_F16 && qs_mxcsr_default()) {
    const uint16_t *h = x;
    for (size_t v = 0; v < nv; v++) qs_storef(y + v * QS_W, qs_widen_f16_vec(h + v * QS_W));
  } else {
    done = 0;
  }
  fp8g_quant_ref.widen((const uint16_t *)x + done, dtype, y + done, n - done);
}

static void qs_narrow(const float *x, fp8gemm_dtype dtype, void *y, size_t n) {
  size_t nv = n / QS_W, done = nv * QS_W;
  uint16_t *h = y;
  if (dtype == FP8GEMM_BF16) {
    size_t v = 0;
    for (; v + 2 <= nv; v += 2)
      qs_store_u16x2(h + v * QS_W, qs_bf16_of(qs_loadf(x + v * QS_W)),
                     qs_bf16_of(qs_loadf(x + (v + 1) * QS_W)));
    for (; v < nv; v++) qs_store_u16(h + v * QS_W, qs_bf16_of(qs_loadf(x + v * QS_W)));
  } else if (dtype == FP8GEMM_F16 && qs_mxcsr_default()) {
    /* F16C rounds to nearest even with gradual underflow and overflow to Inf, and
     * turns a NaN into sign | 0x7e00 | top payload bits, as the reference does. */
    for (size_t v = 0; v < nv; v++) qs_f32_to_f16(h + v * QS_W, qs_loadf(x + v * QS_W));
  } else {
    done = 0;
  }
  fp8g_quant_ref.narrow(x + done, dtype, dtype == FP8GEMM_F32 ? (void *)((float *)y + done)
                                                               : (void *)(h + done), n - done);
}

/* ------------------------------------------------------------------ amax */
/* Integer max of |x| bits with NaN lanes zeroed: the same value as the reference's
 * float compare loop (+0 for no numbers, +Inf if any). */
QS_INLINE qs_i qs_abs_no_nan(qs_f x) {
  qs_i a = qs_and(qs_bits(x), qs_seti(0x7fffffff));
  return qs_andnot_m(qs_gt(a, qs_seti(0x7f800000)), a);
}

/* max of |x| bits over the first 4 * QS_W * (n / that) values, NaN patterns included (two
 * ops per vector): the amax when it is not above +Inf, i.e. when no NaN was seen. */
static uint32_t qs_amax_nan_in(const float *x, size_t n, size_t *done) {
  qs_i abs = qs_seti(0x7fffffff), m0 = qs_seti(0), m1 = m0, m2 = m0, m3 = m0;
  size_t i = 0;
  for (; i + 4 * QS_W <= n; i += 4 * QS_W) {
    m0 = qs_max(m0, qs_and(qs_bits(qs_loadf(x + i)), abs));
    m1 = qs_max(m1, qs_and(qs_bits(qs_loadf(x + i + QS_W)), abs));
    m2 = qs_max(m2, qs_and(qs_bits(qs_loadf(x + i + 2 * QS_W)), abs));
    m3 = qs_max(m3, qs_and(qs_bits(qs_loadf(x + i + 3 * QS_W)), abs));
  }
  *done = i;
  return qs_hmax(qs_max(qs_max(m0, m1), qs_max(m2, m3)));
}

static float qs_amax(const float *x, size_t n) {
  if (!qs_mxcsr_default()) return fp8g_quant_ref.amax(x, n);
  qs_i m0 = qs_seti(0), m1 = m0, m2 = m0, m3 = m0;
  size_t i = 0;
  /* the common case, no NaN, in the cheap loop; a NaN (a max above +Inf) sends the whole
   * span through the NaN-zeroing loops below */
  uint32_t fast = qs_amax_nan_in(x, n, &i);
  if (fast > 0x7f800000u) i = 0;
  else m0 = qs_seti((int32_t)fast);
  for (; i + 4 * QS_W <= n; i += 4 * QS_W) {
    m0 = qs_max(m0, qs_abs_no_nan(qs_loadf(x + i)));
    m1 = qs_max(m1, qs_abs_no_nan(qs_loadf(x + i + QS_W)));
    m2 = qs_max(m2, qs_abs_no_nan(qs_loadf(x + i + 2 * QS_W)));
    m3 = qs_max(m3, qs_abs_no_nan(qs_loadf(x + i + 3 * QS_W)));
  }
  for (; i + QS_W <= n; i += QS_W) m0 = qs_max(m0, qs_abs_no_nan(qs_loadf(x + i)));
  uint32_t m = qs_hmax(qs_max(qs_max(m0, m1), qs_max(m2, m3)));
  float t = fp8g_quant_ref.amax(x + i, n - i);
  return fp8g_f32_bits(t) > m ? t : fp8g_f32_from_bits(m);
}

/* amax of bf16 / fp16 data on the 16-bit patterns: |h| with NaN lanes zeroed orders
 * like the value (both formats are sign-magnitude with a monotone exponent|mantissa),
 * so one integer max, widened once at the end, is the reference's value. */
QS_INLINE qs_i qs_abs16_no_nan(const uint16_t *p, qs_i nan_above) {
  qs_i a = qs_and(qs_load_u16(p), qs_seti(0x7fff));
  return qs_andnot_m(qs_gt(a, nan_above), a);
}

#ifdef QS_H16_MAX
/* The max of |h| bits over the first 4 * 2 * QS_W * (n / that) values, in 16-bit lanes
 * and NaN patterns included (two ops per vector): the amax when it is not above the Inf
 * pattern, i.e. when no NaN was seen. *done: how many values it covered. */
static uint32_t qs_amax16_nan_in(const uint16_t *h, size_t n, size_t *done) {
  const size_t step = 8 * QS_W;
  qs_h abs = qs_h_set(0x7fff), m0 = qs_h_set(0), m1 = m0, m2 = m0, m3 = m0;
  size_t i = 0;
  for (; i + step <= n; i += step) {
    m0 = qs_h_max(m0, qs_h_and(qs_h_loadu(h + i), abs));
    m1 = qs_h_max(m1, qs_h_and(qs_h_loadu(h + i + 2 * QS_W), abs));
    m2 = qs_h_max(m2, qs_h_and(qs_h_loadu(h + i + 4 * QS_W), abs));
    m3 = qs_h_max(m3, qs_h_and(qs_h_loadu(h + i + 6 * QS_W), abs));
  }
  *done = i;
  return qs_h_hmax(qs_h_max(qs_h_max(m0, m1), qs_h_max(m2, m3)));
}
#endif

static float qs_amax_wide(const void *x, fp8gemm_dtype dtype, size_t n) {
  if (dtype == FP8GEMM_F32) return qs_amax(x, n);
  if ((dtype != FP8GEMM_BF16 && dtype != FP8GEMM_F16) || !qs_mxcsr_default())
    return fp8g_quant_ref.amax_wide(x, dtype, n);
  const uint16_t *h = x;
  uint32_t inf_bits = dtype == FP8GEMM_BF16 ? 0x7f80 : 0x7c00;
  qs_i inf = qs_seti((int32_t)inf_bits);
  qs_i m0 = qs_seti(0), m1 = m0, m2 = m0, m3 = m0;
  size_t i = 0;
#ifdef QS_H16_MAX
  /* the common case, no NaN: the cheap max covers the bulk, the loops below the rest;
   * a NaN (max above Inf) sends the whole row through the NaN-zeroing loops */
  uint32_t fast = qs_amax16_nan_in(h, n, &i);
  if (fast > inf_bits) i = 0;
  else m0 = qs_seti((int32_t)fast);
#endif
  for (; i + 4 * QS_W <= n; i += 4 * QS_W) {
    m0 = qs_max(m0, qs_abs16_no_nan(h + i, inf));
    m1 = qs_max(m1, qs_abs16_no_nan(h + i + QS_W, inf));
    m2 = qs_max(m2, qs_abs16_no_nan(h + i + 2 * QS_W, inf));
    m3 = qs_max(m3, qs_abs16_no_nan(h + i + 3 * QS_W, inf));
  }
  for (; i + QS_W <= n; i += QS_W) m0 = qs_max(m0, qs_abs16_no_nan(h + i, inf));
  uint16_t m = (uint16_t)qs_hmax(qs_max(qs_max(m0, m1), qs_max(m2, m3)));
  float v = dtype == FP8GEMM_BF16 ? fp8g_f32_from_bits((uint32_t)m << 16) : fp8g_f16_to_f32(m);
  float t = fp8g_quant_ref.amax_wide(h + i, dtype, n - i);
  return t > v ? t : v;
}

/* ------------------------------------------------------------------ MX */
/* The reference's block scale, from the bits of a finite amax > 0: floor(log2 amax)
 * - emax, plus one in rceil mode when amax's mantissa exceeds the element max's. */
static uint8_t qs_mx_code(uint32_t amax_bits, int emax, uint32_t mmax_frac,
                          fp8gemm_mx_scale_mode mode) {
  int e = (int)(amax_bits >> 23);
  if (e == 0) return 0; /* f32 subnormal amax: far below 2^-127 * elem_max */
  int k = e - 127 - emax;
  if (mode == FP8GEMM_MX_RCEIL && (amax_bits & 0x7fffffu) > mmax_frac) k += 1;
  int code = k + 127;
  return (uint8_t)(code < 0 ? 0 : code > 254 ? 254 : code);
}

/* One block's 32 codes: streamed (nt: qb 32-byte aligned, ISA tables with streaming
 * stores) or stored. */
QS_INLINE void qs_mx_put(uint8_t *qb, const qs_i raw[QS_N], const qs_f y[QS_N], const qs_enc *e,
                         bool e2m1, bool nt) {
  if (e2m1) qs_put_e2m1(qb, raw, y, e);
#ifdef QS_PUT_FP8_NT
  else if (nt) qs_put_fp8_nt(qb, raw, y, e);
#endif
  else qs_put_fp8(qb, raw, y, e);
  (void)nt;
}

/* One block the slow way: scalar scale code, then the vector encoder. With nt (fp8
 * elements) its 32 codes are streamed, the NaN fill of a special block too. */
static void qs_mx_block(const qs_enc *e, const fp8g_format *f, const float *xb, int emax,
                        uint32_t mmax_frac, fp8gemm_mx_scale_mode mode, bool e2m1, uint8_t *qb,
                        uint8_t *scale, bool nt) {
  qs_f v[QS_N];
  qs_i m = qs_seti(0);
  for (int i = 0; i < QS_N; i++) {
    v[i] = qs_loadf(xb + i * QS_W);
    m = qs_max(m, qs_and(qs_bits(v[i]), qs_seti(0x7fffffff)));
  }
  uint32_t amax = qs_hmax(m); /* NaN bits sort above Inf: >= Inf means "special" */
  if (amax >= 0x7f800000u) {
    *scale = 0xFF;
#ifdef QS_PUT_FP8_NT
    if (nt) {
      _Alignas(32) uint8_t fill[32];
      memset(fill, f->nan_pos, 32);
      qs_stream32(qb, fill);
      return;
    }
#endif
    memset(qb, e2m1 ? 0 : f->nan_pos, e2m1 ? 16 : 32);
    return;
  }
  uint8_t code = amax == 0 ? 0 : qs_mx_code(amax, emax, mmax_frac, mode);
  *scale = code;
  /* x / 2^(code - 127): a multiply by the exact inverse when both are normal f32 */
  qs_i raw[QS_N];
  qs_f y[QS_N];
  if (code >= 1 && code <= 253) {
    qs_f inv = qs_setf(fp8g_f32_from_bits((uint32_t)(254 - code) << 23));
    for (int i = 0; i < QS_N; i++) y[i] = qs_mulf(v[i], inv);
  } else {
    qs_f X = qs_setf(fp8g_decode(FP8GEMM_E8M0, code));
    for (int i = 0; i < QS_N; i++) y[i] = qs_divf(v[i], X);
  }
  /* finite blocks: no NaN lanes, so no NaN limit */
  for (int i = 0; i < QS_N; i++) raw[i] = qs_encode_raw(e, y[i], QS_LIM_PLAIN);
  qs_mx_put(qb, raw, y, e, e2m1, nt);
}

/*
 * QS_W blocks at once: their amaxes land in one vector, the scale codes are computed
 * lane-wise (the same arithmetic as qs_mx_code: a zero or f32-subnormal amax clamps
 * to code 0 by itself), and each block multiplies by its lane's exact inverse
 * 2^(127 - code) (code 0: 2^127, exact since no FTZ/DAZ). Groups with a NaN / Inf
 * block or a code of 254 (inverse subnormal) take the per-block path.
 */
QS_INLINE void qs_mx_group(const qs_enc *e, const fp8g_format *f, const float *x, int emax,
                           uint32_t mmax_frac, fp8gemm_mx_scale_mode mode, bool e2m1,
                           uint8_t *q, uint8_t *scales, bool nt) {
  size_t qbytes = e2m1 ? 16 : 32;
  qs_i m[QS_W];
  for (int b = 0; b < QS_W; b++) {
    qs_i mb = qs_and(qs_bits(qs_loadf(x + 32 * b)), qs_seti(0x7fffffff));
    for (int i = 1; i < QS_N; i++)
      mb = qs_max(mb, qs_and(qs_bits(qs_loadf(x + 32 * b + i * QS_W)), qs_seti(0x7fffffff)));
    m[b] = mb;
  }
  qs_i amax = qs_hmax_each(m);
  qs_i code = qs_sub(qs_srli(amax, 23), qs_seti(emax));
  if (mode == FP8GEMM_MX_RCEIL)
    code = qs_sub(code, qs_mask_i(qs_gt(qs_and(amax, qs_seti(0x7fffff)), qs_seti((int32_t)mmax_frac))));
  code = qs_min(qs_max(code, qs_seti(0)), qs_seti(254));
  if (qs_any(qs_or_m(qs_gt(amax, qs_seti(0x7f7fffff)), qs_eq(code, qs_seti(254))))) {
    for (int b = 0; b < QS_W; b++)
      qs_mx_block(e, f, x + 32 * b, emax, mmax_frac, mode, e2m1, q + qbytes * b, scales + b, nt);
    return;
  }
  qs_store_u8(scales, code);
#ifdef QS_MX_FAST
  /* fp8 elements: the ISA's division-free step (qs_mx_fast_group); the blocks it hands
   * back (a nonzero lane whose scaled value is below 2^emin) go the general way, codes not yet
   * written, so each block's line still takes one kind of store */
  if (!e2m1) {
    unsigned redo = qs_mx_fast_group(e, x, code, q, nt);
    for (; redo; redo &= redo - 1) {
      int b = __builtin_ctz(redo);
      qs_mx_block(e, f, x + 32 * b, emax, mmax_frac, mode, false, q + 32 * b, scales + b, nt);
    }
    return;
  }
#endif
  qs_i inv = qs_slli(qs_sub(qs_seti(254), code), 23);
  /* a private copy: the code stores cannot alias it, so its fields stay in registers
   * across the blocks instead of being reloaded after every store */
  const qs_enc el = *e;
#ifdef QS_PUT_LIMITS
  /* fp8 elements with ordinary stores: the multiply by the positive normal 2^(127 - code)
   * as an f32 -> fp8 chunk (sign from x, byte-level limit; a finite block has no NaN lane) */
  if (!e2m1 && !nt) {
    for (int b = 0; b < QS_W; b++)
      qs_quant_chunk_f32(&el, x + 32 * b, q + 32 * b, QS_SCALE_MUL, qs_flt(qs_bcast(inv, b)),
                         QS_LIM_PLAIN, true);
    return;
  }
#endif
  for (int b = 0; b < QS_W; b++) {
    qs_f ib = qs_flt(qs_bcast(inv, b));
    qs_f y[QS_N];
    qs_i raw[QS_N];
    for (int i = 0; i < QS_N; i++) {
      y[i] = qs_mulf(qs_loadf(x + 32 * b + i * QS_W), ib);
      raw[i] = qs_encode_raw(&el, y[i], QS_LIM_PLAIN);
    }
    qs_mx_put(q + qbytes * b, raw, y, &el, e2m1, nt);
  }
}

/* Blocks [0, nblocks) of x: groups of QS_W, then one by one. The three (e2m1, nt)
 * forms each get their own inlined group loop. */
static void qs_mx_run(const qs_enc *e, const fp8g_format *f, const float *x, size_t nblocks,
                      int emax, uint32_t mmax_frac, fp8gemm_mx_scale_mode mode, bool e2m1,
                      uint8_t *q, uint8_t *scales, bool nt) {
  size_t qbytes = e2m1 ? 16 : 32, b = 0;
  for (; b + QS_W <= nblocks; b += QS_W) {
    const float *xg = x + 32 * b;
#ifdef QS_MX_PF_AHEAD
    /* the group's lines QS_MX_PF_AHEAD bytes ahead, while they are inside x */
    if (b + QS_W + QS_MX_PF_AHEAD / 128 <= nblocks)
      for (int l = 0; l < 128 * QS_W; l += 64)
        _mm_prefetch((const char *)xg + QS_MX_PF_AHEAD + l, QS_MX_PF_HINT);
#endif
    uint8_t *qg = q + qbytes * b, *sg = scales + b;
    if (e2m1) qs_mx_group(e, f, xg, emax, mmax_frac, mode, true, qg, sg, false);
    else if (nt) qs_mx_group(e, f, xg, emax, mmax_frac, mode, false, qg, sg, true);
    else qs_mx_group(e, f, xg, emax, mmax_frac, mode, false, qg, sg, false);
  }
  for (; b < nblocks; b++)
    qs_mx_block(e, f, x + 32 * b, emax, mmax_frac, mode, e2m1, q + qbytes * b, scales + b, nt);
}

/* mx_quantize; with nt, fp8 codes in whole 64-byte lines are streamed: from the first
 * 64-byte boundary of q on, an even number of 32-byte blocks, when q is 32-byte aligned
 * (so every line is written either wholly by streaming stores or wholly by ordinary
 * ones: a line that takes both is read back from memory). Ends with an sfence when it
 * streamed. Scales always take ordinary stores (1/32 of the codes' bytes). */
static void qs_mx_quantize_st(const float *x, size_t nblocks, fp8gemm_dtype elem,
                              fp8gemm_mx_scale_mode mode, uint8_t *q, uint8_t *scales, bool nt) {
  int emax;
  uint32_t mmax_frac;
  switch (elem) {
    case FP8GEMM_E4M3FN: emax = 8; mmax_frac = 0x600000; break;  /* 448 = 1.75 * 2^8 */
    case FP8GEMM_E5M2: emax = 15; mmax_frac = 0x600000; break;   /* 57344 = 1.75 * 2^15 */
    case FP8GEMM_E2M1: emax = 2; mmax_frac = 0x400000; break;    /* 6 = 1.5 * 2^2 */
    default: emax = -1; mmax_frac = 0; break;
  }
  const fp8g_format *f = fp8g_format_of(elem);
  qs_enc e;
  if (emax < 0 || !f || !qs_mxcsr_default() || !qs_enc_init(&e, f, true)) {
    fp8g_quant_ref.mx_quantize(x, nblocks, elem, mode, q, scales);
    return;
  }
  bool e2m1 = elem == FP8GEMM_E2M1;
#ifdef QS_PUT_FP8_NT
  if (nt && !e2m1 && ((uintptr_t)q & 31) == 0) {
    size_t head = ((uintptr_t)q & 63) != 0 && nblocks > 0; /* a half line: stored */
    size_t mid = (nblocks - head) & ~(size_t)1;             /* whole lines: streamed */
    qs_mx_run(&e, f, x, head, emax, mmax_frac, mode, false, q, scales, false);
    x += 32 * head, q += 32 * head, scales += head;
    qs_mx_run(&e, f, x, mid, emax, mmax_frac, mode, false, q, scales, true);
    if (mid > 0) _mm_sfence();
    x += 32 * mid, q += 32 * mid, scales += mid;
    qs_mx_run(&e, f, x, nblocks - head - mid, emax, mmax_frac, mode, false, q, scales, false);
    return;
  }
#endif
  (void)nt;
  qs_mx_run(&e, f, x, nblocks, emax, mmax_frac, mode, e2m1, q, scales, false);
}

static void qs_mx_quantize(const float *x, size_t nblocks, fp8gemm_dtype elem,
                           fp8gemm_mx_scale_mode mode, uint8_t *q, uint8_t *scales) {
  qs_mx_quantize_st(x, nblocks, elem, mode, q, scales, false);
}

static void qs_mx_quantize_nt(const float *x, size_t nblocks, fp8gemm_dtype elem,
                              fp8gemm_mx_scale_mode mode, uint8_t *q, uint8_t *scales) {
  qs_mx_quantize_st(x, nblocks, elem, mode, q, scales, true);
}
