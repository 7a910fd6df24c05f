/*
 * The BF16-dot GEMM beyond the shared kernel sweep of test_gemm_kernels.c (which runs
 * the real kernel at level avx512_bf16 and its plain-C emulation everywhere):
 *   - the emulated VDPBF16PS lane against cases worked out from the SDM's definition
 *     (high pair first, two RNE roundings, DAZ inputs, FTZ results);
 *   - the fp8 -> bf16 tables against fp8g_decode for all 256 codes of every dtype, and
 *     the 64-code vector decoder (emulated vocabulary) against the tables at every
 *     length 1..64 (no write past the end);
 *   - the packers' vector-decoder paths (A rows, NN rows, NT columns) give the table
 *     path's panels bit for bit;
 *   - the plan: which MX problems fold into operands, which sum per block, which go to
 *     the reference (and then give the reference's bits); block scales; refusals;
 *   - MX problems on the segmented path at awkward shapes against an fp64 oracle;
 *   - registration: in the fp8_gemm table between the decode kernel and the AVX2 GEMM,
 *     chosen only when the CPU (and the ISA cap) has avx512_bf16;
 *   - on CPUs with AVX512_BF16: the real kernel equals the emulation bit for bit
 *     (reported as not run elsewhere);
 *   - fp8_gemm_w8a16 with bf16 activations: every weight scale scheme, real = emulated,
 *     threads / blockings bitwise; activations that could be flushed or overflow (and
 *     FTZ) handed to gemm_w8a16_avx2 with its exact bits; its place in the w8a16 table.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "gemm_bf16_emul.h"
#include "gemm_test_util.h"
#include "kernels/avx2/gemm_avx2.h"
#include "kernels/avx2/gemv_avx2.h"
#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h> /* _mm_getcsr / _mm_setcsr: the FTZ hand-back */
#endif

static const fp8gemm_dtype fp8s[] = {FP8GEMM_E4M3FN, FP8GEMM_E5M2, FP8GEMM_E4M3FNUZ,
                                     FP8GEMM_E5M2FNUZ};

static uint32_t bf(float x) { return fp8g_f32_to_bf16(x); } /* exact for the values used */
static uint32_t pair(float lo, float hi) { return bf(lo) | bf(hi) << 16; }
static bool same_bits(float a, float b) { return fp8g_f32_bits(a) == fp8g_f32_bits(b); }

/* ------------------------------------------------------------ the emulated lane */
static void lane_semantics(void) {
  /* High pair first: 1 + 2^24 is a tie that rounds to 2^24, and 2^24 + 1 rounds to
   * 2^24 again; low pair first would give (1 + 1) + 2^24 = 2^24 + 2 exactly. */
  float r = emu_dpbf16_lane(1.0f, pair(1.0f, 0x1p12f), pair(1.0f, 0x1p12f));
  CHECK(same_bits(r, 0x1p24f), "hi pair first, RNE: got %a", r);
  /* Each step rounds: 2^24 + 1 + 1 rounds twice to 2^24 (one rounding of the exact
   * sum 2^24 + 2 would keep it). */
  r = emu_dpbf16_lane(0x1p24f, pair(1.0f, 1.0f), pair(1.0f, 1.0f));
  CHECK(same_bits(r, 0x1p24f), "two roundings: got %a", r);
  /* DAZ: a denormal bf16 (0x0001 = 2^-133) reads as zero; 2^-133 * 2^100 would be 2^-33. */
  r = emu_dpbf16_lane(0.0f, 0x0001u, bf(0x1p100f));
  CHECK(same_bits(r, 0.0f), "DAZ on a bf16 input: got %a", r);
  /* FTZ: 2^-100 * 2^-30 = 2^-130 is a denormal result: flushed (sign kept). */
  r = emu_dpbf16_lane(0.0f, bf(0x1p-100f), bf(0x1p-30f));
  CHECK(same_bits(r, 0.0f), "FTZ on the result: got %a", r);
  r = emu_dpbf16_lane(-0.0f, bf(-0x1p-100f), bf(0x1p-30f));
  CHECK(same_bits(r, -0.0f), "FTZ keeps the sign: got %a", r);
  /* A denormal accumulator reads as zero too. */
  r = emu_dpbf16_lane(0x1p-140f, bf(1.0f), bf(0x1p-120f));
  CHECK(same_bits(r, 0x1p-120f), "DAZ on the accumulator: got %a", r);
  /* Ordinary values: exact products, normal sums. */
  r = emu_dpbf16_lane(0.5f, pair(3.0f, -2.0f), pair(0.25f, 1.5f));
  CHECK(same_bits(r, 0.5f - 3.0f + 0.75f), "plain dot: got %a", r);
  r = emu_dpbf16_lane(1.0f, pair(NAN, 1.0f), pair(1.0f, 1.0f));
  CHECK(isnan(r), "NaN propagates");
}

/* ------------------------------------------------------------ decode tables */
static void tables_exhaustive(void) {
  for (size_t d = 0; d < 4; d++) {
    const uint16_t *lut = fp8g_bf16_lut(fp8s[d]);
    int bad = 0;
    for (int c = 0; c < 256; c++) {
      float want = fp8g_decode(fp8s[d], (uint8_t)c), got = fp8g_bf16_to_f32(lut[c]);
      bool ok = isnan(want) ? isnan(got) && (lut[c] & 0x0040) : same_bits(want, got);
      if (!ok && ++bad <= 3)
        CHECK(false, "bf16 table %s code 0x%02x: %a, want %a", fp8g_dtype_str(fp8s[d]), c, got, want);
    }
    CHECK(bad == 0, "bf16 table %s", fp8g_dtype_str(fp8s[d]));
  }
}

/* The vector decoder (through the emulated vocabulary) against the table, bit for bit:
 * all 256 codes of every dtype, every length 1..200 (several 64-code steps and a
 * masked tail) from many offsets, nothing written past 2n bytes. */
static void decoder_exhaustive(void) {
  for (size_t d = 0; d < 4; d++) {
    const uint16_t *lut = fp8g_bf16_lut(fp8s[d]);
    const fp8g_bf16_dec_tables *tab = fp8g_bf16_tables(fp8s[d]);
    uint8_t codes[256 + 200];
    for (int c = 0; c < 256 + 200; c++) codes[c] = (uint8_t)(c * 37 + 11); /* every code, shuffled */
    int bad = 0;
    for (int start = 0; start < 256; start += 7)
      for (int n = 1; n <= 200; n++) {
        uint16_t out[202];
        memset(out, 0xAB, sizeof out);
        decode_bf16_emul(tab, codes + start, n, out);
        for (int i = 0; i < n; i++) {
          uint16_t want = lut[codes[start + i]]; /* NaN codes included: same bits */
          if (out[i] != want && ++bad <= 3)
            CHECK(false, "decoder %s code 0x%02x: 0x%04x, want 0x%04x", fp8g_dtype_str(fp8s[d]),
                  codes[start + i], out[i], want);
        }
        if ((out[n] != 0xABAB || out[n + 1] != 0xABAB) && ++bad <= 3)
          CHECK(false, "decoder %s wrote past %d codes", fp8g_dtype_str(fp8s[d]), n);
      }
    CHECK(bad == 0, "vector decoder %s", fp8g_dtype_str(fp8s[d]));
  }
}

/* ------------------------------------------------------------ a plain problem */
typedef struct simple {
  fp8g_gemm_problem p;
  uint8_t *a, *b, *ea, *eb;
  int64_t *rows;
  float *sa, *sb;
} simple;

static uint8_t small_code(rng *r, fp8gemm_dtype d) {
  for (;;) {
    uint8_t c = (uint8_t)rng_int(r, 0, 255);
    float v = fp8g_decode(d, c);
    if (isfinite(v) && fabsf(v) <= 32.0f) return c;
  }
}

/* m x k A, k x n B (NN; NT when the global below is set), contiguous; MX codes
 * uniform in [lo, hi] per side. */
static bool build_nt;
static void simple_build(simple *s, fp8g_scale_kind kind, int64_t m, int64_t n, int64_t k, rng *r,
                         int ea_lo, int ea_hi, int eb_lo, int eb_hi) {
  memset(s, 0, sizeof *s);
  fp8g_gemm_problem *p = &s->p;
  p->batch = 1;
  p->m = m;
  p->n = n;
  p->k = k;
  p->a_dtype = FP8GEMM_E4M3FN;
  p->b_dtype = FP8GEMM_E5M2;
  s->a = malloc((size_t)(m * k));
  s->b = malloc((size_t)(k * n));
  s->rows = malloc((size_t)m * sizeof(int64_t));
  for (int64_t i = 0; i < m * k; i++) s->a[i] = small_code(r, p->a_dtype);
  for (int64_t i = 0; i < k * n; i++) s->b[i] = small_code(r, p->b_dtype);
  for (int64_t i = 0; i < m; i++) s->rows[i] = i * k;
  p->a = s->a;
  p->a_row_offset = s->rows;
  p->a_stride_k = 1;
  p->b = s->b;
  p->b_stride_k = build_nt ? 1 : n;
  p->b_stride_n = build_nt ? k : 1;
  p->scale_kind = kind;
  p->block_k = kind == FP8G_SCALE_MX ? 32 : kind == FP8G_SCALE_BLOCK ? 128 : k;
  p->block_n = kind == FP8G_SCALE_BLOCK ? 128 : 1;
  p->a_kblocks = (k + p->block_k - 1) / p->block_k;
  p->b_nblocks = (n + p->block_n - 1) / p->block_n;
  int64_t nsa = kind == FP8G_SCALE_ROWCOL ? m : kind == FP8G_SCALE_BLOCK ? m * p->a_kblocks : 1;
  int64_t nsb = kind == FP8G_SCALE_ROWCOL ? n : kind == FP8G_SCALE_BLOCK ? p->a_kblocks * p->b_nblocks : 1;
  s->sa = malloc((size_t)nsa * sizeof(float));
  s->sb = malloc((size_t)nsb * sizeof(float));
  for (int64_t i = 0; i < nsa; i++) s->sa[i] = kind == FP8G_SCALE_NONE ? 1.0f : (float)(0.01 + 0.1 * rng_unit(r));
  for (int64_t i = 0; i < nsb; i++) s->sb[i] = kind == FP8G_SCALE_NONE ? 1.0f : (float)(0.01 + 0.1 * rng_unit(r));
  p->sa = s->sa;
  p->sb = s->sb;
  if (kind == FP8G_SCALE_MX) {
    s->ea = malloc((size_t)(m * p->a_kblocks));
    s->eb = malloc((size_t)(p->a_kblocks * n));
    for (int64_t i = 0; i < m * p->a_kblocks; i++) s->ea[i] = (uint8_t)rng_int(r, ea_lo, ea_hi);
    for (int64_t i = 0; i < p->a_kblocks * n; i++) s->eb[i] = (uint8_t)rng_int(r, eb_lo, eb_hi);
    p->ea = s->ea;
    p->eb = s->eb;
  }
  p->bias_kind = FP8G_BIAS_NONE;
  p->out_dtype = FP8GEMM_F32;
  p->nthreads = 1;
}

static void simple_free(simple *s) {
  free(s->a); free(s->b); free(s->ea); free(s->eb); free(s->rows); free(s->sa); free(s->sb);
}

/* ------------------------------------------------------------ packing: vector = table */
/* The vector-decoder paths of the packers (contiguous A rows, NN rows, NT columns) give
 * the same panels and segment scales as the table path, bit for bit, at awkward sizes,
 * with every code (NaN codes included), with and without MX folding (NaN scales too). */
static void packing_paths(void) {
  static const int64_t cols_v[] = {1, 2, 31, 63, 64, 65, 130},
                       kc_v[] = {1, 2, 3, 63, 64, 65, 255, 256, 257, 300, 543, 1024};
  rng r = {3};
  int bad = 0, runs = 0;
  for (int nt = 0; nt < 2; nt++)
    for (size_t ci = 0; ci < 7; ci++)
      for (size_t ki = 0; ki < 12; ki++) {
        int64_t n = cols_v[ci], k = kc_v[ki], m = 13;
        fp8g_scale_kind kind = ki % 3 == 0 ? FP8G_SCALE_BLOCK : ki % 3 == 1 ? FP8G_SCALE_MX : FP8G_SCALE_ROWCOL;
        if (kind == FP8G_SCALE_MX) k = (k + 31) / 32 * 32;
        build_nt = nt;
        simple s;
        simple_build(&s, kind, m, n, k, &r, 118, 136, 118, 136);
        build_nt = false;
        for (int64_t i = 0; i < m * k; i++) s.a[i] = (uint8_t)rng_int(&r, 0, 255);
        for (int64_t i = 0; i < k * n; i++) s.b[i] = (uint8_t)rng_int(&r, 0, 255);
        if (kind == FP8G_SCALE_MX) { /* a NaN scale on each side */
          s.ea[m * s.p.a_kblocks / 2] = 0xFF;
          s.eb[s.p.a_kblocks * n / 2] = 0xFF;
        }
        s.p.b_dtype = fp8s[(ci + ki) % 4];
        s.p.a_dtype = fp8s[(ci + 2 * ki) % 4];
        fp8g_bf16_plan pl;
        CHECK(fp8g_bf16_make_plan(&s.p, &pl) && pl.fold_mx == (kind == FP8G_SCALE_MX), "plan");
        int64_t kc = pl.kc < k ? pl.kc : k, kp = /* the driver's first K block */ fp8g_bf16_pairs(kc), nseg = pl.seg ? (kc + pl.seg - 1) / pl.seg : 0;
        int64_t npa = (m + FP8G_BF16_MR - 1) / FP8G_BF16_MR, npb = (n + FP8G_BF16_NR - 1) / FP8G_BF16_NR;
        size_t abytes = (size_t)(npa * kp * FP8G_BF16_MR) * 4, bbytes = (size_t)(npb * kp * FP8G_BF16_NR) * 4;
        size_t asb = (size_t)(npa * nseg * FP8G_BF16_MR + 1) * 4, bsb = (size_t)(npb * nseg * FP8G_BF16_NR + 1) * 4;
        uint32_t *pa[3], *pb[3];
        float *sa[3], *sb[3];
        for (int v = 0; v < 3; v++) { /* table; vector decoder; decoder + transposes */
          pa[v] = aligned_alloc(64, (abytes + 63) / 64 * 64);
          pb[v] = aligned_alloc(64, (bbytes + 63) / 64 * 64);
          sa[v] = malloc(asb);
          sb[v] = malloc(bsb);
          memset(pa[v], 0x5A, abytes);
          memset(pb[v], 0x5A, bbytes);
          memset(sa[v], 0x5A, asb);
          memset(sb[v], 0x5A, bsb);
          pl.decode = v ? decode_bf16_emul : NULL;
          pl.transpose = v == 2 ? transpose_bf16_emul : NULL;
          fp8g_bf16_pack_a(&pl, 0, 0, m, 0, kc, pa[v], sa[v], nseg);
          fp8g_bf16_pack_b(&pl, 0, 0, n, 0, kc, pb[v], sb[v], nseg);
        }
        for (int v = 1; v < 3; v++)
          if ((memcmp(pa[0], pa[v], abytes) || memcmp(pb[0], pb[v], bbytes) || memcmp(sa[0], sa[v], asb) ||
               memcmp(sb[0], sb[v], bsb)) && ++bad <= 3)
            CHECK(false, "vector (%d) and table packing differ: nt=%d n=%lld kc=%lld a=%s b=%s", v, nt,
                  (long long)n, (long long)kc, fp8g_dtype_str(s.p.a_dtype), fp8g_dtype_str(s.p.b_dtype));
        for (int v = 0; v < 3; v++) {
          free(pa[v]); free(pb[v]); free(sa[v]); free(sb[v]);
        }
        simple_free(&s);
        runs++;
      }
  CHECK(bad == 0 && runs == 168, "packing paths agree (%d layouts)", runs);
}

/* ------------------------------------------------------------ transpose */
/* The 16 x 16 dword transpose of the body (emulated vocabulary; the real one is compared
 * through whole NT problems in real_vs_emulated): every element lands where the
 * contract says, with strides other than 16, and nothing else is written. */
static void transpose_16(void) {
  enum { SS = 23, DS = 37 };
  uint32_t src[16 * SS], dst[16 * DS + 8];
  for (int i = 0; i < 16 * SS; i++) src[i] = 0x01000000u * (uint32_t)(i % 7) + (uint32_t)i;
  memset(dst, 0xA5, sizeof dst);
  transpose_bf16_emul(src, SS, dst, DS);
  int bad = 0;
  for (int r = 0; r < 16 * DS + 8; r++) {
    int c = r / DS, i = r % DS;
    uint32_t want = c < 16 && i < 16 ? src[i * SS + c] : 0xA5A5A5A5u;
    if (dst[r] != want) bad++;
  }
  CHECK(bad == 0, "16 x 16 transpose: %d dwords wrong", bad);
}

/* ------------------------------------------------------------ plan */
static void plan_cases(void) {
  rng r = {7};
  simple s;
  fp8g_bf16_plan pl;
  /* Usual MX codes (e4m3fn x e5m2 around 2^0): folded into the operands, one chain. */
  simple_build(&s, FP8G_SCALE_MX, 9, 70, 96, &r, 110, 135, 110, 135);
  CHECK(fp8g_bf16_make_plan(&s.p, &pl) && pl.fold_mx && pl.mode == FP8G_BF16_CHAIN, "MX usual: fold");
  simple_free(&s);
  /* One A code 0 (2^-127): e4m3fn's smallest value 2^-9 folds to 2^-136, a bf16
   * denormal, so no fold; every block product 2^(ea + eb - 254) >= 2^-124 is a normal
   * fp32: segmented. */
  simple_build(&s, FP8G_SCALE_MX, 9, 70, 96, &r, 110, 135, 130, 135);
  s.ea[3] = 0;
  CHECK(fp8g_bf16_make_plan(&s.p, &pl) && !pl.fold_mx && pl.mode == FP8G_BF16_SEGMENTED && pl.seg == 32,
        "MX small code: segmented");
  simple_free(&s);
  /* 2^125 on A, 2^-125 on B (products near 1): the folded A overflows bf16; segmented. */
  simple_build(&s, FP8G_SCALE_MX, 9, 70, 96, &r, 252, 252, 2, 2);
  CHECK(fp8g_bf16_make_plan(&s.p, &pl) && pl.mode == FP8G_BF16_SEGMENTED, "MX 2^125 x 2^-125: segmented");
  simple_free(&s);
  /* 2^-127 x 2^-127: neither way is exact in fp32: the reference. */
  simple_build(&s, FP8G_SCALE_MX, 9, 70, 96, &r, 0, 0, 0, 0);
  CHECK(!fp8g_bf16_make_plan(&s.p, &pl), "MX 2^-254: reference");
  /* ... and the kernel then gives the reference's bits. */
  size_t bytes = (size_t)(9 * 70) * 4;
  float *o1 = malloc(bytes), *o2 = malloc(bytes);
  s.p.out = o1;
  CHECK(gemm_bf16_emul.run(&s.p) == FP8GEMM_OK, "run");
  s.p.out = o2;
  CHECK(fp8g_gemm_ref_w8a8.run(&s.p) == FP8GEMM_OK, "ref run");
  CHECK(memcmp(o1, o2, bytes) == 0, "reference fallback gives the reference's bits");
  /* NaN codes (0xFF) do not constrain the plan: they give NaN either way. */
  memset(s.ea, 0xFF, (size_t)(9 * s.p.a_kblocks));
  CHECK(fp8g_bf16_make_plan(&s.p, &pl) && pl.fold_mx, "MX NaN codes only: fold");
  free(o1);
  free(o2);
  simple_free(&s);
  /* Block scales: segmented per 128; K blocks even and whole scale blocks. */
  simple_build(&s, FP8G_SCALE_BLOCK, 9, 70, 300, &r, 0, 0, 0, 0);
  CHECK(fp8g_bf16_make_plan(&s.p, &pl) && pl.mode == FP8G_BF16_SEGMENTED && pl.seg == 128 &&
            pl.kc % 128 == 0,
        "block: segmented, kc %lld", (long long)pl.kc);
  s.p.block_k = 127;
  CHECK(!fp8g_bf16_supports(&s.p), "odd block_k refused");
  simple_free(&s);
  /* Per-token: one chain, even K blocks (K = 129 is one odd block: padded with a zero pair half). */
  simple_build(&s, FP8G_SCALE_ROWCOL, 9, 70, 1001, &r, 0, 0, 0, 0);
  CHECK(fp8g_bf16_make_plan(&s.p, &pl) && pl.mode == FP8G_BF16_CHAIN && !pl.fold_mx && pl.kc % 2 == 0,
        "per-token: chain, even kc");
  s.p.out_dtype = FP8GEMM_E4M3FN;
  CHECK(!fp8g_bf16_supports(&s.p), "fp8 out refused");
  s.p.out_dtype = FP8GEMM_F32;
  s.p.a_dtype = FP8GEMM_BF16;
  CHECK(!fp8g_bf16_supports(&s.p), "w8a16 (wide A) refused: it stays on the AVX2 kernel");
  simple_free(&s);
}

/* ------------------------------------------------------------ segmented MX */
/* The shared sweep's MX codes fold; here A scales of 2^120..2^125 (a folded e4m3fn
 * operand would overflow bf16) and B scales of 2^-125..2^-115
 * (products near 1) make every problem take the segmented path: within the ops.md
 * bound (gamma_{K+1} * sum |terms| + half an f32 ulp) of the fp64 value, bitwise the
 * same on 1 and 2 threads and with tiny block sizes. */
static int oracle_bad(const fp8g_gemm_problem *p, const float *out) {
  int bad = 0;
  double gamma = (double)(p->k + 1) * 0x1p-24 / (1.0 - (double)(p->k + 1) * 0x1p-24);
  for (int64_t i = 0; i < p->m; i++)
    for (int64_t j = 0; j < p->n; j++) {
      double acc = 0, mag = 0;
      for (int64_t kk = 0; kk < p->k; kk++) {
        int64_t kb = kk / 32;
        double t = (double)fp8g_decode(p->a_dtype, ((const uint8_t *)p->a)[p->a_row_offset[i] + kk]) *
                   fp8g_decode(p->b_dtype, p->b[kk * p->b_stride_k + j]) *
                   ldexp(1.0, p->ea[i * p->a_kblocks + kb] - 127) * ldexp(1.0, p->eb[kb * p->n + j] - 127);
        acc += t;
        mag += fabs(t);
      }
      double got = out[i * p->n + j];
      double ulp = acc == 0 ? 0x1p-149 : ldexp(1.0, ilogb(acc) - 23);
      if (!(fabs(got - acc) <= gamma * mag + ulp / 2) && ++bad <= 3)
        CHECK(false, "segmented MX out[%lld,%lld] = %.9g, exact %.9g (%lldx%lldx%lld)", (long long)i,
              (long long)j, got, acc, (long long)p->m, (long long)p->n, (long long)p->k);
    }
  return bad;
}

static void segmented_mx(void) {
  static const int64_t ms[] = {1, 5, 6, 7, 13, 61}, ns[] = {1, 17, 63, 64, 65, 131}, ks[] = {32, 64, 288};
  static const fp8g_bf16_blocking tiny = {.kc = 64, .mc = 12, .ms = 20, .nc_min = 64, .nc_max = 128,
                                          .ws_floats = 64};
  rng r = {5};
  int cases = 0;
  for (size_t a = 0; a < 6; a++)
    for (size_t b = 0; b < 6; b++) {
      simple s;
      simple_build(&s, FP8G_SCALE_MX, ms[a], ns[b], ks[(a + b) % 3], &r, 247, 252, 2, 12);
      fp8g_bf16_plan pl;
      CHECK(fp8g_bf16_make_plan(&s.p, &pl) && pl.mode == FP8G_BF16_SEGMENTED, "takes the segmented path");
      size_t n = (size_t)(s.p.m * s.p.n);
      float *o[3];
      for (int i = 0; i < 3; i++) o[i] = malloc(n * 4);
      s.p.out = o[0];
      CHECK(gemm_bf16_emul.run(&s.p) == FP8GEMM_OK, "run");
      CHECK(oracle_bad(&s.p, o[0]) == 0, "segmented MX within the bound");
      s.p.out = o[1];
      s.p.nthreads = 2;
      CHECK(gemm_bf16_emul.run(&s.p) == FP8GEMM_OK && memcmp(o[0], o[1], n * 4) == 0, "2 threads = 1");
      s.p.out = o[2];
      fp8g_bf16_set_blocking(&tiny);
      CHECK(gemm_bf16_emul.run(&s.p) == FP8GEMM_OK && memcmp(o[0], o[2], n * 4) == 0, "tiny blocks = default");
      fp8g_bf16_set_blocking(NULL);
      for (int i = 0; i < 3; i++) free(o[i]);
      simple_free(&s);
      cases++;
    }
  printf("segmented MX through the emulation: %d problems\n", cases);
}

/* ------------------------------------------------------------ w8a16 (bf16 activations) */
/* bf16 A (rows shuffled, K stride 1 or 2, NaN between), fp8 B (NN / NT), weight scales
 * of `kind` (groups of g along K, block_n 1 or g), bf16 out. */
typedef struct w16 {
  fp8g_gemm_problem p;
  uint16_t *a;
  uint8_t *b;
  int64_t *rows;
  float *sb;
  float *bias;
} w16;

static void w16_build(w16 *s, fp8g_scale_kind kind, int64_t g, int64_t bn, int64_t m, int64_t n, int64_t k,
                      bool nt, bool strided, fp8gemm_dtype bdt, rng *r) {
  memset(s, 0, sizeof *s);
  fp8g_gemm_problem *p = &s->p;
  p->batch = 1;
  p->m = m;
  p->n = n;
  p->k = k;
  p->a_dtype = FP8GEMM_BF16;
  p->b_dtype = bdt;
  int64_t sk = strided ? 2 : 1, pitch = k * sk + (strided ? 5 : 0);
  s->a = malloc((size_t)(m * pitch) * 2);
  for (int64_t i = 0; i < m * pitch; i++) s->a[i] = 0x7FC0; /* a stray read gives NaN */
  s->rows = malloc((size_t)m * sizeof(int64_t));
  for (int64_t i = 0; i < m; i++) s->rows[i] = (strided ? m - 1 - i : i) * pitch;
  for (int64_t i = 0; i < m; i++)
    for (int64_t kk = 0; kk < k; kk++)
      s->a[s->rows[i] + kk * sk] = fp8g_f32_to_bf16((float)((rng_unit(r) - 0.5) * 6.0));
  s->b = malloc((size_t)(k * n));
  for (int64_t i = 0; i < k * n; i++) s->b[i] = small_code(r, bdt);
  p->a = s->a;
  p->a_row_offset = s->rows;
  p->a_stride_k = sk;
  p->b = s->b;
  p->b_stride_k = nt ? 1 : n;
  p->b_stride_n = nt ? k : 1;
  p->scale_kind = kind;
  p->block_k = kind == FP8G_SCALE_BLOCK ? g : k;
  p->block_n = kind == FP8G_SCALE_BLOCK ? bn : 1;
  p->a_kblocks = (k + p->block_k - 1) / p->block_k;
  p->b_nblocks = (n + p->block_n - 1) / p->block_n;
  int64_t nsb = kind == FP8G_SCALE_ROWCOL ? n : kind == FP8G_SCALE_BLOCK ? p->a_kblocks * p->b_nblocks : 1;
  s->sb = malloc((size_t)nsb * sizeof(float));
  for (int64_t i = 0; i < nsb; i++) s->sb[i] = kind == FP8G_SCALE_NONE ? 1.0f : (float)(0.01 + 0.1 * rng_unit(r));
  p->sb = s->sb;
  s->bias = malloc((size_t)n * sizeof(float));
  for (int64_t j = 0; j < n; j++) s->bias[j] = (float)(rng_unit(r) - 0.5);
  p->bias_kind = FP8G_BIAS_COL;
  p->bias = s->bias;
  p->out_dtype = FP8GEMM_BF16;
  p->nthreads = 1;
}

static void w16_free(w16 *s) { free(s->a); free(s->b); free(s->rows); free(s->sb); free(s->bias); }

/* Runs kern into a fresh bf16 output (caller frees). */
static uint16_t *w16_run(const fp8g_gemm_kernel *kern, fp8g_gemm_problem *p, int nthreads) {
  uint16_t *o = malloc((size_t)(p->m * p->n) * 2);
  memset(o, 0xEE, (size_t)(p->m * p->n) * 2);
  p->out = o;
  p->nthreads = nthreads;
  CHECK(kern->run(p) == FP8GEMM_OK, "%s run: %s", kern->name, fp8gemm_last_error());
  return o;
}

/* Every weight scale scheme (groups 32 / 64 / 128 along K, g x g blocks), NN / NT,
 * strided A rows, odd K, K not a multiple of g, primes: the real kernel equals the
 * emulation bit for bit (where the CPU has AVX512_BF16), 1 and 2 threads and a tiny
 * blocking (several K blocks, the separate packing loops) give the same bits. */
static void w8a16_paths(void) {
  static const struct { fp8g_scale_kind kind; int64_t g, bn; } sch[] = {
      {FP8G_SCALE_NONE, 0, 0}, {FP8G_SCALE_TENSOR, 0, 0}, {FP8G_SCALE_ROWCOL, 0, 0},
      {FP8G_SCALE_BLOCK, 32, 1}, {FP8G_SCALE_BLOCK, 64, 1}, {FP8G_SCALE_BLOCK, 128, 1},
      {FP8G_SCALE_BLOCK, 128, 128}, {FP8G_SCALE_BLOCK, 32, 32}};
  static const int64_t dims[][3] = {{1, 1, 1}, {7, 65, 33}, {13, 130, 257}, {19, 67, 97}, {67, 200, 320}};
  static const fp8g_bf16_blocking tiny = {.kc = 64, .mc = 12, .ms = 20, .nc_min = 64, .nc_max = 128,
                                          .ws_floats = 64, .fused_rows = 0};
  bool real = fp8gemm_isa_detected() >= FP8GEMM_ISA_AVX512_BF16;
  long hb0 = fp8g_bf16_w8a16_handbacks();
  rng r = {0x816};
  int run = 0;
  for (size_t c = 0; c < sizeof sch / sizeof sch[0]; c++)
    for (size_t d = 0; d < sizeof dims / sizeof dims[0]; d++)
      for (int v = 0; v < 2; v++) {
        w16 s;
        w16_build(&s, sch[c].kind, sch[c].g, sch[c].bn, dims[d][0], dims[d][1], dims[d][2], v, v,
                  fp8s[(c + d) % 4], &r);
        CHECK(fp8g_bf16_supports_w8a16(&s.p), "w8a16 kind %d g %lld supported", (int)sch[c].kind,
              (long long)sch[c].g);
        size_t bytes = (size_t)(s.p.m * s.p.n) * 2;
        uint16_t *e1 = w16_run(&gemm_bf16_emul_w8a16, &s.p, 1);
        uint16_t *e2 = w16_run(&gemm_bf16_emul_w8a16, &s.p, 2);
        fp8g_bf16_set_blocking(&tiny);
        uint16_t *e3 = w16_run(&gemm_bf16_emul_w8a16, &s.p, 2);
        fp8g_bf16_set_blocking(NULL);
        char what[160];
        snprintf(what, sizeof what, "w8a16 kind %d g %lld bn %lld %lldx%lldx%lld nt/strided %d",
                 (int)sch[c].kind, (long long)sch[c].g, (long long)sch[c].bn, (long long)s.p.m,
                 (long long)s.p.n, (long long)s.p.k, v);
        CHECK(memcmp(e1, e2, bytes) == 0, "%s: 2 threads differ from 1", what);
        CHECK(memcmp(e1, e3, bytes) == 0, "%s: tiny blocking differs", what);
        if (real) {
          uint16_t *o1 = w16_run(&fp8g_gemm_avx512bf16_w8a16, &s.p, 2);
          CHECK(memcmp(e1, o1, bytes) == 0, "%s: real VDPBF16PS differs from the emulation", what);
          free(o1);
        }
        free(e1);
        free(e2);
        free(e3);
        w16_free(&s);
        run++;
      }
  CHECK(fp8g_bf16_w8a16_handbacks() == hb0, "ordinary activations were handed back");
  printf("w8a16 through the BF16 GEMM: %d problems (emulated%s), threads / blockings bitwise\n", run,
         real ? " and real, bit for bit" : "; real: avx512_bf16 not available");
}

/* The GEMM's activation scan runs in tasks over the flat (row, k) index: a value that
 * must send the call back is found in any task, at a task's first and last value, on
 * 1 and 2 threads, plain and strided rows (the serial per-row scan is the reference). */
static void w8a16_scan_split(void) {
  const int64_t m = 37, k = 4099, total = m * k, per = fp8g_bf16_w8a16_scan_per(total);
  CHECK(2 * per < total, "the scan of %lld values runs in at least 3 tasks (%lld each)", (long long)total,
        (long long)per);
  const int64_t at[] = {0, per - 1, per, 2 * per - 1, 2 * per, total - 1, total / 2 + 17};
  const uint16_t bad[] = {0x0001, 0x7A80 /* 2^118 */, 0};
  rng r = {0x5ca7};
  int runs = 0;
  for (int v = 0; v < 2; v++)
    for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++)
      for (size_t i = 0; i < sizeof at / sizeof at[0]; i++) {
        w16 s;
        w16_build(&s, FP8G_SCALE_NONE, 0, 0, m, 1, k, true, v, FP8GEMM_E4M3FN, &r);
        uint16_t *x = &s.a[s.rows[at[i] / k] + at[i] % k * s.p.a_stride_k];
        *x = bad[b] ? bad[b] : 0x7F80; /* 0: an Inf, which is never handed back */
        int emin = 255, emax = 0;
        for (int64_t row = 0; row < m; row++)
          fp8g_bf16_exp_range(s.a + s.rows[row], k, s.p.a_stride_k, &emin, &emax);
        bool want = fp8g_bf16_w8a16_range_ok(emin, emax, s.p.b_dtype, k);
        CHECK(want == !bad[b], "scan reference: value 0x%04x", (unsigned)*x);
        for (int nt = 1; nt <= 2; nt++) {
          s.p.nthreads = nt;
          CHECK(fp8g_bf16_w8a16_acts_ok(&s.p) == want, "scan of 0x%04x at %lld (strided %d), %d threads",
                (unsigned)*x, (long long)at[i], v, nt);
        }
        w16_free(&s);
        runs++;
      }
  printf("w8a16 activation scan in tasks: %d placements, 1 and 2 threads as the serial scan\n", runs);
}

/* Activations a VDPBF16PS chain could flush (a denormal, a value whose products fall
 * below 2^-126) or overflow: the call goes to gemm_w8a16_avx2, bit for bit, and the
 * hand-back is counted. The limits themselves (e4m3fn weights, K = 96: |a| >= 2^-110,
 * |a| < 2^101) still run on the BF16 kernel. */
static void w8a16_handback(void) {
  if (fp8gemm_isa_detected() < FP8GEMM_ISA_AVX2) {
    printf("w8a16 hand-back: needs avx2, not tested\n");
    return;
  }
  static const struct { float v; uint16_t bits; bool handed; } cases[] = {
      {0, 0x0001, true},             /* denormal bf16 */
      {0, 0x8003, true},             /* negative denormal */
      {0x1p-126f, 0, true},          /* smallest normal: products far below 2^-126 */
      {0x1p-111f, 0, true},          /* last bit x 2^-9 < 2^-126 */
      {0x1p-110f, 0, false},         /* exactly at the limit */
      {0x1p104f, 0, true},           /* 2^104 x 448 x 96 could overflow */
      {0x1p100f, 0, false},          /* within range */
      {INFINITY, 0, false},          /* Inf / NaN propagate as in the reference */
  };
  bool real = fp8gemm_isa_detected() >= FP8GEMM_ISA_AVX512_BF16;
  rng r = {0xdead};
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
    for (int kern_i = 0; kern_i < (real ? 2 : 1); kern_i++) {
      const fp8g_gemm_kernel *kern = kern_i ? &fp8g_gemm_avx512bf16_w8a16 : &gemm_bf16_emul_w8a16;
      w16 s;
      w16_build(&s, FP8G_SCALE_BLOCK, 32, 1, 9, 70, 96, false, false, FP8GEMM_E4M3FN, &r);
      uint16_t x = cases[c].bits ? cases[c].bits : fp8g_f32_to_bf16(cases[c].v);
      s.a[s.rows[4] + 50] = x;
      long h0 = fp8g_bf16_w8a16_handbacks();
      uint16_t *o = w16_run(kern, &s.p, 2);
      long handed = fp8g_bf16_w8a16_handbacks() - h0;
      CHECK(handed == (cases[c].handed ? 1 : 0), "%s activation 0x%04x: handed back %ld times", kern->name,
            (unsigned)x, handed);
      if (cases[c].handed) {
        uint16_t *ref = w16_run(&fp8g_gemm_avx2_w8a16, &s.p, 1);
        CHECK(memcmp(o, ref, (size_t)(s.p.m * s.p.n) * 2) == 0,
              "%s activation 0x%04x: not the AVX2 kernel's result", kern->name, (unsigned)x);
        free(ref);
      }
      free(o);
      w16_free(&s);
    }
#if defined(__x86_64__) || defined(__i386__)
  /* FTZ, or rounding toward zero, set by the caller: the AVX2 kernel's result under the
   * same MXCSR (VDPBF16PS would ignore both). */
  static const struct { unsigned bits; const char *what; } modes[] = {{0x8000u, "FTZ"},
                                                                      {0x6000u, "round toward zero"}};
  for (size_t mi = 0; real && mi < sizeof modes / sizeof modes[0]; mi++) {
    w16 s;
    w16_build(&s, FP8G_SCALE_ROWCOL, 0, 0, 9, 70, 96, true, false, FP8GEMM_E5M2, &r);
    unsigned csr = _mm_getcsr();
    _mm_setcsr(csr | modes[mi].bits);
    long h0 = fp8g_bf16_w8a16_handbacks();
    uint16_t *o = w16_run(&fp8g_gemm_avx512bf16_w8a16, &s.p, 1);
    uint16_t *ref = w16_run(&fp8g_gemm_avx2_w8a16, &s.p, 1);
    _mm_setcsr(csr);
    CHECK(fp8g_bf16_w8a16_handbacks() - h0 == 1, "%s: handed back", modes[mi].what);
    CHECK(memcmp(o, ref, (size_t)(s.p.m * s.p.n) * 2) == 0, "%s: the AVX2 kernel's result",
          modes[mi].what);
    free(o);
    free(ref);
    w16_free(&s);
  }
#endif
  printf("w8a16 hand-back: %zu activation cases%s\n", sizeof cases / sizeof cases[0],
         real ? " (emulated and real, FTZ and round toward zero)" : " (emulated)");
}

/* In the w8a16 table between the decode kernels and gemm_w8a16_avx2; chosen for bf16
 * activations only, under an ISA cap that allows avx512_bf16. */
static void w8a16_registration(void) {
  size_t count;
  const fp8g_gemm_kernel *const *w = fp8g_gemm_kernel_table(FP8GEMM_OP_FP8_GEMM_W8A16, &count);
  size_t at = count;
  for (size_t i = 0; i < count; i++)
    if (w[i] == &fp8g_gemm_avx512bf16_w8a16) at = i;
  CHECK(at < count && at >= 1 && w[at - 1] == &fp8g_gemv_avx2_w8a16, "after the decode kernels");
  CHECK(at + 1 < count && w[at + 1] == &fp8g_gemm_avx2_w8a16, "above gemm_w8a16_avx2");
  fp8gemm_isa detected = fp8gemm_isa_detected();
  for (int isa = 0; isa <= (int)detected; isa++) {
    fp8gemm_set_max_isa((fp8gemm_isa)isa);
    fp8g_gemm_problem p;
    fp8g_gemm_scheme_problem(FP8GEMM_OP_FP8_GEMM_W8A16, FP8GEMM_SCHEME_PER_TOKEN, FP8GEMM_E4M3FN, 256,
                             4096, 4096, true, &p);
    const fp8g_gemm_kernel *k = fp8g_gemm_select(FP8GEMM_OP_FP8_GEMM_W8A16, &p);
    CHECK((k == &fp8g_gemm_avx512bf16_w8a16) == (isa >= FP8GEMM_ISA_AVX512_BF16),
          "w8a16 M=256 at cap %s served by %s", fp8gemm_isa_name((fp8gemm_isa)isa), k->name);
    p.a_dtype = p.out_dtype = FP8GEMM_F16;
    k = fp8g_gemm_select(FP8GEMM_OP_FP8_GEMM_W8A16, &p);
    CHECK(k != &fp8g_gemm_avx512bf16_w8a16, "f16 activations stay on the AVX2 kernel (got %s)", k->name);
  }
  fp8gemm_set_max_isa(detected);
}

/* ------------------------------------------------------------ registration */
static void registration(void) {
  size_t count;
  const fp8g_gemm_kernel *const *t = fp8g_gemm_kernel_table(FP8GEMM_OP_FP8_GEMM, &count);
  size_t at = count;
  for (size_t i = 0; i < count; i++)
    if (t[i] == &fp8g_gemm_avx512bf16_w8a8) at = i;
  CHECK(at < count && fp8g_gemm_avx512bf16_w8a8.isa == FP8GEMM_ISA_AVX512_BF16, "in the fp8_gemm table");
  CHECK(at + 1 < count && t[at + 1] == &fp8g_gemm_avx2_w8a8, "above the AVX2 GEMM");
  const fp8g_gemm_kernel *const *w = fp8g_gemm_kernel_table(FP8GEMM_OP_FP8_GEMM_W8A16, &count);
  for (size_t i = 0; i < count; i++) CHECK(w[i] != &fp8g_gemm_avx512bf16_w8a8, "not a w8a16 kernel");
  /* Who serves M = 128 and M = 1 under each ISA cap this CPU can take. */
  fp8gemm_isa detected = fp8gemm_isa_detected();
  for (int isa = 0; isa <= (int)detected; isa++) {
    fp8gemm_set_max_isa((fp8gemm_isa)isa);
    fp8g_gemm_problem p;
    fp8g_gemm_scheme_problem(FP8GEMM_OP_FP8_GEMM, FP8GEMM_SCHEME_PER_TOKEN, FP8GEMM_E4M3FN, 128, 4096,
                             4096, false, &p);
    const fp8g_gemm_kernel *k = fp8g_gemm_select(FP8GEMM_OP_FP8_GEMM, &p);
    CHECK((k == &fp8g_gemm_avx512bf16_w8a8) == (isa >= FP8GEMM_ISA_AVX512_BF16),
          "M=128 at cap %s served by %s", fp8gemm_isa_name((fp8gemm_isa)isa), k->name);
    p.m = 1;
    k = fp8g_gemm_select(FP8GEMM_OP_FP8_GEMM, &p);
    CHECK(k != &fp8g_gemm_avx512bf16_w8a8, "M=1 stays on the decode kernel (got %s)", k->name);
  }
  fp8gemm_set_max_isa(detected);
}

/* ------------------------------------------------------------ real vs emulated */
static bool same_out(const float *x, const float *y, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!(isnan(x[i]) && isnan(y[i])) && !same_bits(x[i], y[i])) return false;
  return true;
}

static void real_vs_emulated(void) {
  if (fp8gemm_isa_detected() < FP8GEMM_ISA_AVX512_BF16) {
    printf("real VDPBF16PS kernel vs emulation: avx512_bf16 not available on this CPU, not tested\n");
    return;
  }
  /* nan: MX with some e8m0 NaN codes and K not a multiple of 32 (the real kernel's
   * vector MX fold against the packers' portable one: NaN blocks, short last block) */
  static const struct { fp8g_scale_kind kind; int elo, ehi; bool nan; } cases[] = {
      {FP8G_SCALE_NONE, 0, 0, false},    {FP8G_SCALE_TENSOR, 0, 0, false},
      {FP8G_SCALE_ROWCOL, 0, 0, false},  {FP8G_SCALE_BLOCK, 0, 0, false},
      {FP8G_SCALE_MX, 110, 135, false},  {FP8G_SCALE_MX, -1, 0, false},
      {FP8G_SCALE_MX, 110, 135, true}};
  static const int64_t dims[][3] = {{1, 1, 1}, {7, 65, 33}, {13, 130, 257}, {67, 200, 320}};
  rng r = {11};
  int run = 0;
  for (int nt = 0; nt < 2; nt++)
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
    for (size_t d = 0; d < sizeof dims / sizeof dims[0]; d++) {
      build_nt = nt;
      int64_t k = cases[c].kind == FP8G_SCALE_MX ? 32 * (dims[d][2] / 32 + 1) : dims[d][2];
      if (cases[c].nan) k += 6;
      simple s;
      if (cases[c].elo < 0) /* segmented MX: 2^(73..125) x 2^(-125..-67) */
        simple_build(&s, cases[c].kind, dims[d][0], dims[d][1], k, &r, 200, 252, 2, 60);
      else
        simple_build(&s, cases[c].kind, dims[d][0], dims[d][1], k, &r, cases[c].elo, cases[c].ehi,
                     cases[c].elo, cases[c].ehi);
      if (cases[c].nan) { /* a NaN block in A's last row and in B's last column */
        s.ea[(s.p.m - 1) * s.p.a_kblocks + s.p.a_kblocks / 2] = 0xFF;
        s.eb[(s.p.a_kblocks - 1) * s.p.n + s.p.n - 1] = 0xFF;
      }
      size_t n = (size_t)(s.p.m * s.p.n);
      float *o1 = malloc(n * 4), *o2 = malloc(n * 4);
      s.p.out = o1;
      fp8g_bf16_plan pl;
      CHECK(cases[c].kind != FP8G_SCALE_MX || cases[c].elo < 0 ||
                (fp8g_bf16_make_plan(&s.p, &pl) && pl.fold_mx),
            "MX case takes the fold");
      CHECK(fp8g_gemm_avx512bf16_w8a8.run(&s.p) == FP8GEMM_OK, "real run");
      s.p.out = o2;
      CHECK(gemm_bf16_emul.run(&s.p) == FP8GEMM_OK, "emulated run");
      CHECK(same_out(o1, o2, n), "real VDPBF16PS differs from the emulation: kind %d, %lldx%lldx%lld nt %d",
            (int)cases[c].kind, (long long)s.p.m, (long long)s.p.n, (long long)k, nt);
      free(o1);
      free(o2);
      simple_free(&s);
      run++;
    }
  build_nt = false;
  printf("real VDPBF16PS kernel vs emulation: %d problems compared bit for bit\n", run);
}

/* ------------------------------------------------------------ tile K loop */
/* The micro-kernel body (through the emulated vocabulary: the real kernel compiles the
 * same body and equals the emulation bit for bit, real_vs_emulated) on single tiles of
 * kp pairs around the point where the K loop splits to prefetch the next tile's C
 * (BK_PF_TAIL pairs before the end; none for short tiles), with and without a next
 * tile, CHAIN from C or from 0 and SEGMENTED with segments that start before, at and
 * after that point, against the chain of emu_dpbf16_lane steps written out here: every
 * pair step runs exactly once, in order. */
static float tile_bf16(rng *r) { /* small normal bf16 values: no flush, no overflow */
  return ldexpf((float)rng_int(r, -15, 15), (int)rng_int(r, -6, 2));
}
static void tile_k_split(void) {
  enum { KMAX = 2 * BK_PF_TAIL + 3, MR_T = FP8G_BF16_MR, NR_T = FP8G_BF16_NR };
  static const int64_t kps[] = {1, 2, BK_PF_TAIL - 1, BK_PF_TAIL, BK_PF_TAIL + 1, BK_PF_TAIL + 2,
                                2 * BK_PF_TAIL - 1, 2 * BK_PF_TAIL, KMAX};
  static const int64_t segs[] = {0 /* CHAIN */, 16, BK_PF_TAIL, 50};
  /* panels 64-byte aligned, as the packers make them (the emulated loads check it) */
  static _Alignas(64) uint32_t a[(KMAX + BK_PF_TAIL) * MR_T], b[(KMAX + BK_PF_TAIL) * NR_T]; /* a mutant's overrun stays inside */
  static _Alignas(64) float c0[MR_T * (NR_T + 16)], c[MR_T * (NR_T + 16)], next[MR_T * (NR_T + 16)];
  float as[KMAX * MR_T], bs[KMAX * NR_T];
  rng r = {17};
  int run = 0, bad = 0;
  for (size_t ki = 0; ki < sizeof kps / sizeof kps[0]; ki++)
    for (size_t si = 0; si < sizeof segs / sizeof segs[0]; si++)
      for (int v = 0; v < 4; v++) { /* bit 0: first, bit 1: a next tile */
        int64_t kp = kps[ki], seg = segs[si], ldc = NR_T + 16;
        bool first = v & 1;
        /* pairs past kp nonzero too: a step too many changes the sums */
        for (size_t i = 0; i < sizeof a / sizeof a[0]; i++) a[i] = pair(tile_bf16(&r), tile_bf16(&r));
        for (size_t i = 0; i < sizeof b / sizeof b[0]; i++) b[i] = pair(tile_bf16(&r), tile_bf16(&r));
        for (int64_t i = 0; i < kp * MR_T; i++) as[i] = ldexpf(1.0f + (float)rng_int(&r, 0, 7) / 8, -3);
        for (int64_t i = 0; i < kp * NR_T; i++) bs[i] = ldexpf(1.0f + (float)rng_int(&r, 0, 7) / 8, 2);
        for (int64_t i = 0; i < MR_T * ldc; i++) c0[i] = c[i] = next[i] = tile_bf16(&r);
        fp8g_bf16_tile t = {.kp = kp, .seg_pairs = seg, .a = a, .b = b, .ascale = as, .bscale = bs,
                            .c = c, .ldc = ldc, .first = first, .c_next = v & 2 ? next : NULL};
        ukernel_bf16_emul(&t, seg ? FP8G_BF16_SEGMENTED : FP8G_BF16_CHAIN);
        bool ok = true;
        for (int i = 0; i < MR_T; i++)
          for (int j = 0; j < NR_T; j++) {
            float want = first ? 0.0f : c0[i * ldc + j];
            int64_t step = seg ? seg : kp;
            for (int64_t k0 = 0, s_i = 0; k0 < kp; k0 += step, s_i++) {
              float acc = seg ? 0.0f : want;
              for (int64_t k = k0; k < k0 + step && k < kp; k++)
                acc = emu_dpbf16_lane(acc, a[k * MR_T + i], b[k * NR_T + j]);
              want = seg ? fmaf(acc, as[s_i * MR_T + i] * bs[s_i * NR_T + j], want) : acc;
            }
            ok = ok && same_bits(c[i * ldc + j], want);
          }
        for (int64_t i = 0; i < MR_T * ldc; i++) /* nothing past the tile's columns; the next tile's C only prefetched */
          ok = ok && (i % ldc < NR_T || same_bits(c[i], c0[i])) && same_bits(next[i], c0[i]);
        if (!ok && ++bad <= 3)
          CHECK(false, "tile of %lld pairs, segment %lld, first %d, next tile %d: not the chain",
                (long long)kp, (long long)seg, (int)first, v >> 1);
        run++;
      }
  CHECK(bad == 0, "tile K loop split (%d tiles)", run);
  printf("tile K loop around the C prefetch point: %d tiles against the written-out chain\n", run);
}

/* ------------------------------------------------------------ tile epilogue */
/* A C value for the epilogue test: ordinary, or one of the cases its roundings and
 * NaN handling must treat exactly like the AVX2 epilogue's. */
static float epi_value(rng *r) {
  static const uint32_t special[] = {0x00000000u, 0x80000000u, 0x7F800000u, 0xFF800000u, 0x7FC00000u,
                                     0xFFC12345u, 0x7F800001u, 0x00000001u, 0x807FFFFFu, 0x3F808000u,
                                     0x3F818000u, 0xBF808000u, 0x7F7FFFFFu, 0xFF7FFFFFu, 0x477FF000u,
                                     0x477FE000u, 0x33800000u, 0x387FC000u};
  uint64_t x = rng_next(r);
  if (x % 4 == 0) return fp8g_f32_from_bits(special[(x >> 8) % (sizeof special / sizeof special[0])]);
  if (x % 4 == 1) return fp8g_f32_from_bits((uint32_t)(x >> 16)); /* any bits */
  return (float)((double)(int64_t)(x >> 11 & 0xFFFFF) - 524288.0) * 0x1p-7f;
}

/* Elements equal byte for byte, or both NaN (which of two NaN operands an addition or
 * product returns is the compiler's choice of source order, in either epilogue). */
static bool same_out_bytes(const uint8_t *x, const uint8_t *y, size_t n, fp8gemm_dtype dt) {
  size_t esz = dt == FP8GEMM_F32 ? 4 : 2;
  for (size_t i = 0; i < n; i++) {
    uint32_t a = 0, b = 0;
    memcpy(&a, x + i * esz, esz);
    memcpy(&b, y + i * esz, esz);
    if (a == b) continue;
    bool na = esz == 4 ? (a & 0x7FFFFFFFu) > 0x7F800000u : dt == FP8GEMM_BF16 ? (a & 0x7FFFu) > 0x7F80u : (a & 0x7FFFu) > 0x7C00u;
    bool nb = esz == 4 ? (b & 0x7FFFFFFFu) > 0x7F800000u : dt == FP8GEMM_BF16 ? (b & 0x7FFFu) > 0x7F80u : (b & 0x7FFFu) > 0x7C00u;
    if (!na || !nb) return false;
  }
  return true;
}

/* The AVX-512 epilogue of full 64-column tiles against the AVX2 one, byte for byte:
 * every epilogue scale kind (and w8a16's missing sa), bias kind and out dtype, rows
 * crossing a batch, crafted values (ties, NaN payloads, Inf, denormals, overflow after
 * scaling; NaN scales and biases). Nothing outside the tile is written. */
static void tile_epilogue_isa(void) {
  if (fp8gemm_isa_detected() < FP8GEMM_ISA_AVX512_BF16) {
    printf("tile epilogue (AVX-512) vs AVX2: avx512_bf16 not available on this CPU, not tested\n");
    return;
  }
  enum { M = 3, BATCH = 2, N = 200, LDC = 80, C0 = 64, R0 = 1, ROWS = 4 };
  rng r = {29};
  static float c[ROWS * LDC], sa[BATCH * M], sb[BATCH * N], bias[BATCH * M * N];
  static uint8_t o1[BATCH * M * N * 4], o2[BATCH * M * N * 4];
  for (int i = 0; i < ROWS * LDC; i++) c[i] = epi_value(&r);
  for (int i = 0; i < BATCH * M; i++) sa[i] = i == 2 ? 0x1p100f : (float)(rng_next(&r) % 1000 + 1) * 0x1p-9f;
  for (int i = 0; i < BATCH * N; i++)
    sb[i] = i % 7 == 3 ? 0x1p-130f : i % 29 == 1 ? fp8g_f32_from_bits(0xFFC00077u) : (float)(rng_next(&r) % 1000 + 1) * 0x1p-11f;
  for (int i = 0; i < BATCH * M * N; i++) bias[i] = i % 11 == 5 ? -INFINITY : epi_value(&r);
  static const fp8g_scale_kind kinds[] = {FP8G_SCALE_NONE, FP8G_SCALE_TENSOR, FP8G_SCALE_ROWCOL, FP8G_SCALE_BLOCK};
  static const fp8gemm_dtype outs[] = {FP8GEMM_F32, FP8GEMM_BF16, FP8GEMM_F16};
  int run = 0;
  for (size_t kd = 0; kd < sizeof kinds / sizeof kinds[0]; kd++)
    for (int no_sa = 0; no_sa < 2; no_sa++)
      for (int bk = FP8G_BIAS_NONE; bk <= FP8G_BIAS_FULL; bk++)
        for (size_t od = 0; od < sizeof outs / sizeof outs[0]; od++) {
          fp8g_gemm_problem p = {.batch = BATCH, .m = M, .n = N, .k = 64, .scale_kind = kinds[kd],
                                 .sa = no_sa ? NULL : sa, .sb = sb,
                                 .sb_batch_stride = kinds[kd] == FP8G_SCALE_TENSOR ? 1 : N,
                                 .bias_kind = (fp8g_bias_kind)bk, .bias = bias, .out_dtype = outs[od]};
          memset(o1, 0x5A, sizeof o1);
          memset(o2, 0x5A, sizeof o2);
          p.out = o1;
          fp8g_avx2_plan pl = {.p = &p};
          fp8g_avx2_epilogue(&pl, R0, ROWS, C0, 64, c, LDC);
          p.out = o2;
          fp8g_bf16_epilogue_nr_avx512bf16(&p, R0, ROWS, C0, c, LDC);
          CHECK(same_out_bytes(o1, o2, BATCH * M * N, outs[od]), "tile epilogue differs: scale kind %d, sa %s, bias %d, out %s",
                (int)kinds[kd], no_sa ? "none" : "given", bk, fp8gemm_dtype_name(outs[od]));
          run++;
        }
  printf("tile epilogue (AVX-512) vs AVX2: %d configurations byte for byte\n", run);
}

/* ------------------------------------------------------------ fused vs separate B packing */
/* The fused path (tasks pack their own B panels, A packed for all of K, NT panel by
 * panel / NN K block by K block) against the separate-packing loops (A packed per K
 * block and column block, or once for all of K), bit for bit: every
 * scale scheme, NN and NT weights, awkward shapes, several K blocks, super-blocks and
 * column blocks (tiny blockings), 1 and 2 threads; through the emulation and, where the
 * CPU has it, the real kernel. */
static void fused_paths(void) {
  static const fp8g_bf16_blocking bls[] = {
      {.kc = 64, .mc = 12, .ms = 20, .nc_min = 64, .nc_max = 128, .ws_floats = 64, .fused_rows = 0},
      {.kc = 64, .mc = 12, .ms = 20, .nc_min = 64, .nc_max = 128, .ws_floats = 64, .fused_rows = 20},
      {.kc = 130, .mc = 6, .ms = 7, .nc_min = 64, .nc_max = 64, .ws_floats = 1, .fused_rows = 7},
      /* separate loops with A packed for all of K once per super-block (a_all): 64-column
       * blocks, a large workspace allowance */
      {.kc = 64, .mc = 12, .ms = 20, .nc_min = 64, .nc_max = 64, .ws_floats = 1 << 20, .fused_rows = 0},
      {.kc = 4096, .mc = 192, .ms = 4096, .nc_min = 256, .nc_max = 4096, .ws_floats = 1 << 22,
       .fused_rows = 4096}};
  static const struct { fp8g_scale_kind kind; int elo, ehi; } cases[] = {
      {FP8G_SCALE_NONE, 0, 0}, {FP8G_SCALE_TENSOR, 0, 0}, {FP8G_SCALE_ROWCOL, 0, 0},
      {FP8G_SCALE_BLOCK, 0, 0}, {FP8G_SCALE_MX, 110, 135}, {FP8G_SCALE_MX, -1, 0}};
  static const int64_t dims[][3] = {{1, 1, 1}, {7, 65, 33}, {13, 130, 257}, {23, 67, 515}, {19, 64, 1030},
                                    {9, 1024, 300} /* N % 1024 == 0: f32 out via the workspace */};
  const fp8g_gemm_kernel *kerns[2] = {&gemm_bf16_emul, &fp8g_gemm_avx512bf16_w8a8};
  int nk = fp8gemm_isa_detected() >= FP8GEMM_ISA_AVX512_BF16 ? 2 : 1;
  rng r = {13};
  int run = 0, bad = 0;
  for (int nt = 0; nt < 2; nt++)
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
      for (size_t d = 0; d < sizeof dims / sizeof dims[0]; d++) {
        build_nt = nt;
        int64_t k = cases[c].kind == FP8G_SCALE_MX ? 32 * (dims[d][2] / 32 + 1) : dims[d][2];
        simple s;
        if (cases[c].elo < 0)
          simple_build(&s, cases[c].kind, dims[d][0], dims[d][1], k, &r, 200, 252, 2, 60);
        else
          simple_build(&s, cases[c].kind, dims[d][0], dims[d][1], k, &r, cases[c].elo, cases[c].ehi,
                       cases[c].elo, cases[c].ehi);
        size_t n = (size_t)(s.p.m * s.p.n);
        float *o0 = malloc(n * 4), *o1 = malloc(n * 4);
        for (int ki = 0; ki < nk; ki++) {
          s.p.out = o0;
          s.p.nthreads = 1;
          CHECK(kerns[ki]->run(&s.p) == FP8GEMM_OK, "default run");
          for (size_t b = 0; b < sizeof bls / sizeof bls[0]; b++)
            for (int th = 1; th <= 2; th++) {
              memset(o1, 0xFF, n * 4);
              s.p.out = o1;
              s.p.nthreads = th;
              fp8g_bf16_set_blocking(&bls[b]);
              CHECK(kerns[ki]->run(&s.p) == FP8GEMM_OK, "blocked run");
              fp8g_bf16_set_blocking(NULL);
              if (!same_out(o0, o1, n) && ++bad <= 3)
                CHECK(false, "%s blocking %zu, %d threads differs from the default: kind %d, %lldx%lldx%lld nt %d",
                      kerns[ki]->name, b, th, (int)cases[c].kind, (long long)s.p.m, (long long)s.p.n,
                      (long long)k, nt);
              run++;
            }
        }
        free(o0);
        free(o1);
        simple_free(&s);
      }
  build_nt = false;
  CHECK(bad == 0, "fused and separate packing agree (%d runs)", run);
  printf("fused vs separate B packing: %d runs compared bit for bit\n", run);
}


/* ------------------------------------------------------------ C^T = W A^T path */
/* The C^T path (gemm_bf16_wt.c, real kernel only) against the fused / separate loops,
 * bit for bit (NaN as NaN: the two may run a column's epilogue in different code): the
 * scale kinds it serves, every out dtype and bias kind, M / N / K off every tile, chunk
 * and K block edge (primes, odd K, one K block and several, a short last one; K blocks
 * of whole 64-code units, whose decode runs inside the previous step's tiles, and one
 * of 96 codes, which does not), batched weights, 1 and 2 threads, default and tiny K
 * blocks; that it ran (its call counter)
 * and that it declines what it does not serve (permuted activation rows, NN weights, MX,
 * block scales) with the same result. */
static void wt_paths(void) {
  if (fp8gemm_isa_detected() < FP8GEMM_ISA_AVX512_BF16) {
    printf("C^T = W A^T path: avx512_bf16 not available on this CPU, not tested\n");
    return;
  }
  static const int64_t dims[][3] = {{1, 1, 1},    {7, 5, 3},      {64, 6, 2},     {65, 97, 257},
                                    {130, 191, 1030}, {128, 389, 33}, {256, 200, 2051}, {300, 101, 64},
                                    {67, 96, 1025},   {192, 389, 1120}};
  static const fp8g_scale_kind kinds[] = {FP8G_SCALE_NONE, FP8G_SCALE_TENSOR, FP8G_SCALE_ROWCOL};
  static const fp8gemm_dtype outs[] = {FP8GEMM_F32, FP8GEMM_BF16, FP8GEMM_F16};
  static const fp8g_bf16_blocking tiny = {.kc = 64, .mc = 192, .ms = 2304, .nc_min = 256, .nc_max = 4096,
                                          .ws_floats = 1 << 21, .fused_rows = 384};
  rng r = {17};
  int run = 0, bad = 0;
  for (size_t d = 0; d < sizeof dims / sizeof dims[0]; d++)
    for (int variant = 0; variant < 6; variant++) {
      int64_t m = dims[d][0], n = dims[d][1], k = dims[d][2], batch = variant % 2 ? 2 : 1;
      fp8g_scale_kind kind = kinds[(d + (size_t)variant) % 3];
      fp8gemm_dtype odt = outs[(d + (size_t)variant / 2) % 3];
      fp8g_bias_kind bk = (fp8g_bias_kind)((d + (size_t)variant) % 5);
      fp8g_gemm_problem p = {.batch = batch, .m = m, .n = n, .k = k, .a_dtype = RNG_PICK(&r, fp8s),
                             .a_stride_k = 1, .b_dtype = RNG_PICK(&r, fp8s), .b_stride_k = 1,
                             .b_stride_n = k, .b_batch_stride = variant % 2 ? n * k : 0,
                             .scale_kind = kind, .block_k = k, .block_n = 1, .a_kblocks = 1,
                             .b_nblocks = n, .bias_kind = bk, .out_dtype = odt};
      uint8_t *a = malloc((size_t)(batch * m * k)), *b = malloc((size_t)(batch * n * k));
      int64_t *rows = malloc((size_t)(batch * m) * sizeof *rows);
      float *sa = malloc((size_t)(batch * m) * sizeof(float)), *sb = malloc((size_t)n * sizeof(float));
      float *bias = malloc((size_t)(batch * m * n) * sizeof(float));
      for (int64_t i = 0; i < batch * m * k; i++) a[i] = small_code(&r, p.a_dtype);
      for (int64_t i = 0; i < batch * n * k; i++) b[i] = small_code(&r, p.b_dtype);
      for (int64_t i = 0; i < batch * m; i++) rows[i] = i * k;
      for (int64_t i = 0; i < batch * m; i++) sa[i] = (float)(0.01 + 0.1 * rng_unit(&r));
      for (int64_t i = 0; i < n; i++) sb[i] = (float)(0.01 + 0.1 * rng_unit(&r));
      for (int64_t i = 0; i < batch * m * n; i++) bias[i] = (float)(rng_unit(&r) - 0.5);
      p.a = a;
      p.a_row_offset = rows;
      p.b = b;
      p.sa = sa;
      p.sb = sb;
      p.bias = bias;
      size_t esz = odt == FP8GEMM_F32 ? 4 : 2, nout = (size_t)(batch * m * n);
      uint8_t *o0 = malloc(nout * esz), *o1 = malloc(nout * esz);
      /* variant 4: permuted rows; variant 5: tiny K blocks */
      if (variant == 4)
        for (int64_t i = 0; i + 1 < batch * m; i += 2) {
          int64_t t = rows[i];
          rows[i] = rows[i + 1];
          rows[i + 1] = t;
        }
      if (variant == 5) fp8g_bf16_set_blocking(&tiny);
      p.out = o0;
      p.nthreads = 1;
      fp8g_bf16_set_wt(0);
      CHECK(fp8g_gemm_avx512bf16_w8a8.run(&p) == FP8GEMM_OK, "run without the C^T path");
      if (k % 2) { /* odd K: first leave NaN in the cached scratch where the last pair's
                    * high half goes (a call with K + 1 and NaN weights) */
        uint8_t nan_code = 0;
        for (int c = 0; c < 256; c++)
          if (isnan(fp8g_decode(p.b_dtype, (uint8_t)c))) nan_code = (uint8_t)c;
        fp8g_gemm_problem q = p;
        q.k = k + 1;
        q.block_k = k + 1;
        q.b_stride_n = k + 1;
        q.b_batch_stride = variant % 2 ? n * (k + 1) : 0;
        uint8_t *qa = calloc((size_t)(batch * m * (k + 1)), 1), *qb = malloc((size_t)(batch * n * (k + 1)));
        int64_t *qrows = malloc((size_t)(batch * m) * sizeof *qrows);
        memset(qb, nan_code, (size_t)(batch * n * (k + 1)));
        for (int64_t i = 0; i < batch * m; i++) qrows[i] = i * (k + 1);
        float *qo = malloc(nout * 4);
        q.a = qa;
        q.a_row_offset = qrows;
        q.b = qb;
        q.out = qo;
        q.out_dtype = FP8GEMM_F32;
        q.bias_kind = FP8G_BIAS_NONE;
        fp8g_bf16_set_wt(1);
        CHECK(fp8g_gemm_avx512bf16_w8a8.run(&q) == FP8GEMM_OK, "poison run");
        free(qa); free(qb); free(qrows); free(qo);
      }
      for (int th = 1; th <= 2; th++) {
        memset(o1, 0xA5, nout * esz);
        p.out = o1;
        p.nthreads = th;
        fp8g_bf16_set_wt(1);
        long before = fp8g_bf16_wt_calls();
        CHECK(fp8g_gemm_avx512bf16_w8a8.run(&p) == FP8GEMM_OK, "run with the C^T path");
        bool took = fp8g_bf16_wt_calls() == before + 1, want = !(variant == 4 && batch * m > 1) &&
                                                      k > 1 /* b_stride_n 1: read as NN */;
        if (took != want && ++bad <= 3)
          CHECK(false, "C^T path %s %lldx%lldx%lld variant %d", took ? "taken" : "not taken", (long long)m,
                (long long)n, (long long)k, variant);
        if (!same_out_bytes(o0, o1, nout, odt) && ++bad <= 3)
          CHECK(false, "C^T path differs: kind %d, out %s, bias %d, batch %lld, %lldx%lldx%lld, %d threads, variant %d",
                (int)kind, fp8gemm_dtype_name(odt), (int)bk, (long long)batch, (long long)m, (long long)n,
                (long long)k, th, variant);
        run++;
      }
      fp8g_bf16_set_wt(-1);
      fp8g_bf16_set_blocking(NULL);
      free(a); free(b); free(rows); free(sa); free(sb); free(bias); free(o0); free(o1);
    }
  /* What it does not serve: NN weights, MX and block scales. */
  static const fp8g_scale_kind other[] = {FP8G_SCALE_MX, FP8G_SCALE_BLOCK, FP8G_SCALE_ROWCOL};
  for (size_t c = 0; c < 3; c++) {
    build_nt = c < 2;
    simple s;
    simple_build(&s, other[c], 130, 70, 256, &r, 120, 130, 120, 130);
    size_t nout = (size_t)(s.p.m * s.p.n);
    float *o0 = malloc(nout * 4), *o1 = malloc(nout * 4);
    s.p.out = o0;
    fp8g_bf16_set_wt(0);
    CHECK(fp8g_gemm_avx512bf16_w8a8.run(&s.p) == FP8GEMM_OK, "run");
    s.p.out = o1;
    fp8g_bf16_set_wt(1);
    long before = fp8g_bf16_wt_calls();
    CHECK(fp8g_gemm_avx512bf16_w8a8.run(&s.p) == FP8GEMM_OK, "run");
    CHECK(fp8g_bf16_wt_calls() == before, "C^T path declines kind %d, nt %d", (int)other[c], (int)build_nt);
    CHECK(same_out(o0, o1, nout), "declined C^T problem: same result");
    fp8g_bf16_set_wt(-1);
    free(o0);
    free(o1);
    simple_free(&s);
  }
  /* The size rule at its edges (M 127 / 128 / 512 / 513, and 136 / 385: 8 / 63 padded
   * rows of 144 / 448 > M / 16): taken exactly where the rule says, same bits as the
   * other loops, 1 and 2 threads; N spans several chunks with a short last one, K two K
   * blocks with an odd tail. */
  static const int64_t edge_m[] = {127, 128, 136, 192, 384, 385, 448, 512, 513};
  for (size_t e = 0; e < sizeof edge_m / sizeof edge_m[0]; e++) {
    int64_t m = edge_m[e], n = 389, k = 2051;
    bool want = m >= 128 && m <= 512 && ((m + 63) / 64 * 64 - m) * 16 <= m;
    fp8g_gemm_problem p = {.batch = 1, .m = m, .n = n, .k = k, .a_dtype = FP8GEMM_E4M3FN, .a_stride_k = 1,
                           .b_dtype = FP8GEMM_E5M2, .b_stride_k = 1, .b_stride_n = k,
                           .scale_kind = FP8G_SCALE_ROWCOL, .block_k = k, .block_n = 1, .a_kblocks = 1,
                           .b_nblocks = n, .bias_kind = FP8G_BIAS_NONE, .out_dtype = FP8GEMM_BF16};
    uint8_t *a = malloc((size_t)(m * k)), *b = malloc((size_t)(n * k));
    int64_t *rows = malloc((size_t)m * sizeof *rows);
    float *sa = malloc((size_t)m * sizeof(float)), *sb = malloc((size_t)n * sizeof(float));
    size_t nout = (size_t)(m * n);
    uint8_t *o0 = malloc(nout * 2), *o1 = malloc(nout * 2);
    if (!a || !b || !rows || !sa || !sb || !o0 || !o1) {
      CHECK(false, "C^T size rule at M = %lld: out of memory", (long long)m);
      free(a); free(b); free(rows); free(sa); free(sb); free(o0); free(o1);
      break;
    }
    for (int64_t i = 0; i < m * k; i++) a[i] = small_code(&r, p.a_dtype);
    for (int64_t i = 0; i < n * k; i++) b[i] = small_code(&r, p.b_dtype);
    for (int64_t i = 0; i < m; i++) rows[i] = i * k;
    for (int64_t i = 0; i < m; i++) sa[i] = (float)(0.01 + 0.1 * rng_unit(&r));
    for (int64_t i = 0; i < n; i++) sb[i] = (float)(0.01 + 0.1 * rng_unit(&r));
    p.a = a;
    p.a_row_offset = rows;
    p.b = b;
    p.sa = sa;
    p.sb = sb;
    p.out = o0;
    p.nthreads = 1;
    fp8g_bf16_set_wt(0);
    CHECK(fp8g_gemm_avx512bf16_w8a8.run(&p) == FP8GEMM_OK, "run without the C^T path");
    fp8g_bf16_set_wt(-1);
    for (int th = 1; th <= 2; th++) {
      memset(o1, 0xA5, nout * 2);
      p.out = o1;
      p.nthreads = th;
      long before = fp8g_bf16_wt_calls();
      CHECK(fp8g_gemm_avx512bf16_w8a8.run(&p) == FP8GEMM_OK, "run with the size rule");
      CHECK((fp8g_bf16_wt_calls() == before + 1) == want, "C^T size rule at M = %lld: %s", (long long)m,
            want ? "taken" : "not taken");
      CHECK(same_out_bytes(o0, o1, nout, FP8GEMM_BF16), "C^T size rule at M = %lld, %d threads: same bits",
            (long long)m, th);
      run++;
    }
    free(a); free(b); free(rows); free(sa); free(sb); free(o0); free(o1);
  }
  build_nt = false;
  CHECK(bad == 0, "C^T path agrees with the other loops (%d runs)", run);
  printf("C^T = W A^T path: %d runs compared bit for bit\n", run);
}

int main(void) {
  lane_semantics();
  tables_exhaustive();
  decoder_exhaustive();
  packing_paths();
  transpose_16();
  plan_cases();
  if (fp8gemm_isa_detected() >= FP8GEMM_ISA_AVX2) segmented_mx(); /* the epilogue is AVX2 code */
  else printf("segmented MX through the emulation: needs avx2, not tested\n");
  registration();
  real_vs_emulated();
  tile_k_split();
  tile_epilogue_isa();
  if (fp8gemm_isa_detected() >= FP8GEMM_ISA_AVX2) fused_paths();
  else printf("fused vs separate B packing: needs avx2, not tested\n");
  if (fp8gemm_isa_detected() >= FP8GEMM_ISA_AVX2) w8a16_paths(); /* the epilogue is AVX2 code */
  else printf("w8a16 through the BF16 GEMM: needs avx2, not tested\n");
  wt_paths();
  w8a16_scan_split();
  w8a16_handback();
  w8a16_registration();
  return test_summary();
}
