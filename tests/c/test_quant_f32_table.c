/*
 * The f32 -> fp8 table step (quant_simd_body.h, qs_ftab_init) against the reference,
 * bit for bit, where a table could be off: inputs within a few ulps of every rounding
 * threshold x = tie * scale (each tie between neighbouring codes, subnormal ones and
 * the normal / subnormal boundary included, the saturation / overflow tie past the
 * largest value, 2^emin itself), of every group boundary of the table (the top 4
 * mantissa bits) in every binade, and of the f32 range ends; plus random bits and
 * realistic rows. Scales: random significands over the whole exponent range, powers of
 * two (the multiply and no-scale paths, which keep the general step), and extremes
 * (subnormal, FLT_MAX, the edges where the table's range leaves the f32 exponents).
 * The thresholds run once in the table's first form and once, after a block that
 * switches it, in its clamping form. Every fp8 format, both flavours,
 * quantize, quantize_nt and quantize_wide (f32), on every ISA level the CPU has. Rows
 * are >= 1024 values so the table step runs; their chunks mix in-range lanes with
 * flagged ones (zeros, subnormal quotients, NaN) so both the table bytes and the
 * redone chunks are checked. (A table entry moved by one unit fails this test: tried.)
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "formats/formats.h"
#include "kernels/quant_kernels.h"

#include "test_rng.h"

static const fp8gemm_dtype fp8_types[] = {FP8GEMM_E4M3FN, FP8GEMM_E5M2, FP8GEMM_E4M3FNUZ,
                                          FP8GEMM_E5M2FNUZ};
#define N_FP8 (sizeof fp8_types / sizeof fp8_types[0])
#define CAP (1 << 16)
#define MIN_ROW 1024

/* x with bits near b: b + k for k in [-w, w], clipped to the positive f32 range */
static size_t near(float *x, size_t n, uint32_t b, int w) {
  for (int k = -w; k <= w && n < CAP; k++) {
    int64_t v = (int64_t)b + k;
    if (v < 0 || v > 0x7f800000) continue;
    x[n++] = fp8g_f32_from_bits((uint32_t)v);
  }
  return n;
}

static uint32_t bits_of_double(double t) {
  if (!(t < 0x1p128)) return 0x7f800000u;
  return fp8g_f32_bits((float)t);
}

/* Every threshold of format `to` at `scale` (> 0), +-6 ulps, positive, from x[n] on. */
static size_t thresholds(float *x, size_t n, fp8gemm_dtype to, float scale) {
  double s = scale, prev = 0;
  const fp8g_format *f = fp8g_format_of(to);
  for (int c = 1; c <= f->max_mag; c++) {
    double v = (double)fp8g_decode(to, (uint8_t)c);
    n = near(x, n, bits_of_double((prev + v) / 2 * s), 6); /* tie below code c */
    n = near(x, n, bits_of_double(v * s), 2);
    prev = v;
  }
  /* the overflow / saturation tie: half a step past the largest value */
  double step = prev - (double)fp8g_decode(to, (uint8_t)(f->max_mag - 1));
  n = near(x, n, bits_of_double((prev + step / 2) * s), 6);
  n = near(x, n, bits_of_double((prev + step) * s), 2);
  n = near(x, n, bits_of_double(ldexp(1.0, 1 - f->bias) * s), 6); /* 2^emin */
  return n;
}

/* The group boundaries (top 4 mantissa bits) of every binade +-2 ulps, and the ends of
 * the f32 range. */
static size_t boundaries(float *x) {
  size_t n = 0;
  for (uint32_t e = 1; e < 255; e++)
    for (uint32_t g = 0; g < 16; g++) n = near(x, n, e << 23 | g << 19, 2);
  n = near(x, n, 0x00800000u, 3);
  n = near(x, n, 0x7f800000u, 3);
  return n;
}

/* The value of code c >= 2^m as the general encoder's integer RNE extends it past the
 * format's top (c = max_mag + 1, or 0x80: the next step up). */
static double code_value(const fp8g_format *f, int c) {
  int m = f->mbits;
  return ldexp(1.0 + (double)(c & ((1 << m) - 1)) / (1 << m), (c >> m) - f->bias);
}

/* The table's window edges, each value alone in a chunk of in-range lanes (3 * scale):
 * in the rows above, a value next to an edge shares its chunk with neighbours that are
 * flagged anyway (the chunk is redone), so an edge test off by one unit would pass
 * there. Anchors (quotients): the ties below L and L + 1 (L: the largest code the window
 * takes, the limit but at most 0x7f), the tie below code 2^m, the point a quarter step
 * below 2^emin (below E_lo the window's lowest code starts there), 2^emin; and the top
 * of the f32 range (Inf, the NaN next to it). +-8 ulps, both signs, from x[n] on; padded
 * to MIN_ROW. */
static size_t isolated_edges(float *x, size_t n, fp8gemm_dtype to, float scale, bool sat) {
  const fp8g_format *f = fp8g_format_of(to);
  float benign = 3 * scale;
  if (!(benign <= FLT_MAX)) return 0;
  int m = f->mbits, lim = sat ? f->max_mag : f->ovf_pos, l = lim < 0x7f ? lim : 0x7f;
  double emin = ldexp(1.0, 1 - f->bias), s = scale;
  double anchors[] = {(code_value(f, l - 1) + code_value(f, l)) / 2,
                      (code_value(f, l) + code_value(f, l + 1)) / 2,
                      emin - ldexp(emin, -m - 1), emin - ldexp(emin, -m - 2), emin};
  float v[6 * 17 + 10];
  size_t nv = 0;
  for (size_t a = 0; a < sizeof anchors / sizeof anchors[0]; a++)
    nv = near(v, nv, bits_of_double(anchors[a] * s), 8);
  nv = near(v, nv, 0x7f800000u, 8);
  for (uint32_t k = 1; k <= 8; k++) v[nv++] = fp8g_f32_from_bits(0x7f800000u + k); /* NaN */
  v[nv++] = fp8g_f32_from_bits(0x7fc00000u);
  v[nv++] = fp8g_f32_from_bits(0x7fffffffu);
  for (size_t j = 0; j < 2 * nv && n + 32 <= CAP; j++, n += 32) {
    for (int k = 0; k < 32; k++) x[n + k] = benign;
    x[n + j % 32] = j < nv ? v[j] : -v[j - nv];
  }
  while (n < MIN_ROW || n % 32) x[n++] = benign;
  return n;
}

static uint8_t *qa, *qb;

static void compare(const fp8g_quant_kernels *k, const float *x, size_t n, float scale,
                    fp8gemm_dtype to, bool sat, const char *what) {
  fp8g_quant_ref.quantize(x, n, scale, to, sat, qa);
  for (int form = 0; form < 3; form++) {
    memset(qb, 0x5a, n + 64);
    if (form == 0) k->quantize(x, n, scale, to, sat, qb);
    else if (form == 1) k->quantize_nt(x, n, scale, to, sat, qb + 32 - ((uintptr_t)qb & 31));
    else k->quantize_wide(x, FP8GEMM_F32, n, scale, to, sat, qb);
    const uint8_t *got = form == 1 ? qb + 32 - ((uintptr_t)qb & 31) : qb;
    size_t d = 0;
    while (d < n && got[d] == qa[d]) d++;
    CHECK(d == n, "%s %s %s sat=%d scale=%a (0x%08x) n=%zu (%s): x[%zu]=0x%08x ref %02x got %02x",
          k->name, form == 0 ? "quantize" : form == 1 ? "quantize_nt" : "quantize_wide",
          fp8gemm_dtype_name(to), sat, (double)scale, fp8g_f32_bits(scale), n, what, d,
          d < n ? fp8g_f32_bits(x[d]) : 0, d < n ? qa[d] : 0, d < n ? got[d] : 0);
  }
}

/* Signs at random; every 97th value a zero, every 1031st a NaN (flagged chunks among
 * clean ones); padded to MIN_ROW with in-range values. */
static size_t finish(float *x, size_t n, float scale) {
  while (n < MIN_ROW) x[n++] = scale * (float)(1 + rnd() % 400);
  for (size_t i = 0; i < n; i++) {
    if (rnd() & 1) x[i] = -x[i];
    if (i % 97 == 96) x[i] = 0.0f;
    if (i % 1031 == 1030) x[i] = NAN;
  }
  return n;
}

static size_t scales(float *sc, size_t cap) {
  static const uint32_t edges[] = {
      0x3f800000, /* 1: the cast */
      0x3f800001, 0x3fffffff, 0x3b124925 /* 1/448 */, 0x37800000 /* 2^-16 */, 0x3c800000,
      0x00000001, 0x00000003, 0x00400000, 0x007fffff, 0x00800000, 0x00800001, 0x01000000,
      0x7f7fffff, 0x7f000000, 0x7e800000, 0x7effffff, 0x7b000000, 0x78000000, 0x72000000,
      0x70800000, 0x6f800000, 0x6f7fffff, 0x3dcccccd, 0x3e2aaaab, 0x40400000, 0x4f000000,
      0x0c000000, 0x06000000, 0x05ffffff, 0x38000001, 0x3a924925 /* 1/896 */};
  size_t n = 0;
  for (size_t i = 0; i < sizeof edges / sizeof edges[0] && n < cap; i++)
    sc[n++] = fp8g_f32_from_bits(edges[i]);
  for (uint32_t e = 1; e <= 254 && n < cap; e += 3) sc[n++] = fp8g_f32_from_bits(e << 23);
  while (n < cap) {
    uint32_t e = 1 + (uint32_t)(rnd() % 254), m = (uint32_t)rnd() & 0x7fffff;
    if (n % 2 == 0) e = 100 + (uint32_t)(rnd() % 40); /* the usual range */
    sc[n++] = fp8g_f32_from_bits(e << 23 | m);
  }
  return n;
}

/* The loop starts with the window form and switches to the clamping form after a block
 * of 256 chunks with > 1/8 of them flagged: this prefix (one lane past the largest
 * value in every third chunk) makes the thresholds after it run in the clamping form. */
static size_t sat_prefix(float *x, fp8gemm_dtype to, float scale) {
  float big = 4 * scale * fp8g_decode(to, fp8g_format_of(to)->max_mag);
  for (size_t i = 0; i < 8192; i++)
    x[i] = i % 96 == 5 ? big : scale * (float)(1 + rnd() % 400);
  return 8192;
}

static void suite(const fp8g_quant_kernels *k, size_t nsc, float *x) {
  float sc[512];
  nsc = scales(sc, nsc);
  for (size_t i = 0; i < nsc; i++)
    for (size_t t = 0; t < N_FP8; t++) {
      fp8gemm_dtype to = fp8_types[t];
      size_t n = finish(x, thresholds(x, 0, to, sc[i]), sc[i]);
      for (int sat = 0; sat < 2; sat++) compare(k, x, n, sc[i], to, sat, "thresholds");
      n = finish(x, thresholds(x, sat_prefix(x, to, sc[i]), to, sc[i]), sc[i]);
      for (int sat = 0; sat < 2; sat++)
        compare(k, x, n, sc[i], to, sat, "thresholds after a saturating block");
      for (int sat = 0; sat < 2; sat++) {
        n = isolated_edges(x, 0, to, sc[i], sat);
        if (n) compare(k, x, n, sc[i], to, sat, "window edges, isolated");
        n = isolated_edges(x, sat_prefix(x, to, sc[i]), to, sc[i], sat);
        if (n) compare(k, x, n, sc[i], to, sat, "window edges, isolated, clamping form");
      }
      n = finish(x, boundaries(x), sc[i]);
      compare(k, x, n, sc[i], to, i & 1, "group boundaries");
    }
  /* random bits, and realistic rows (|x| <= amax, scale = amax / max) */
  for (size_t i = 0; i < nsc; i += 4)
    for (size_t t = 0; t < N_FP8; t++) {
      size_t n = 4096 + rnd() % 64;
      for (size_t j = 0; j < n; j++) x[j] = fp8g_f32_from_bits((uint32_t)rnd());
      compare(k, x, n, sc[i], fp8_types[t], i & 4, "random bits");
      float amax = 0;
      for (size_t j = 0; j < n; j++) {
        double g = ((double)(rnd() % 2000001) - 1000000) * 1e-6;
        x[j] = (float)(g * g * g * ldexp(1.0, (int)(rnd() % 40) - 20));
        amax = fmaxf(amax, fabsf(x[j]));
      }
      float s = amax / (float)fp8g_decode(fp8_types[t], fp8g_format_of(fp8_types[t])->max_mag);
      for (int sat = 0; sat < 2; sat++) compare(k, x, n, s, fp8_types[t], sat, "realistic");
    }
}

int main(void) {
  float *x = malloc(CAP * sizeof *x);
  qa = malloc(CAP + 64);
  qb = malloc(CAP + 64);
  bool slow = getenv("FP8GEMM_SANITIZED") != NULL;
  fp8gemm_isa saved = fp8gemm_get_max_isa();
  for (int level = 0; level < FP8GEMM_ISA_COUNT; level++) {
    if (!test_use_isa(level)) continue;
    const fp8g_quant_kernels *k = fp8g_quant_kernels_for(fp8gemm_isa_active());
    if (k == &fp8g_quant_ref) continue;
    if (level == FP8GEMM_ISA_AVX512_BF16 && k->isa == FP8GEMM_ISA_AVX512) continue; /* done */
    printf("level %s: %s\n", fp8gemm_isa_name((fp8gemm_isa)level), k->name);
    suite(k, slow ? 40 : k->isa == FP8GEMM_ISA_AVX512 ? 400 : 100, x);
  }
  fp8gemm_set_max_isa(saved);
  free(x);
  free(qa);
  free(qb);
  return test_summary();
}
