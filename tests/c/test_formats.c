/*
 * Element formats: every vector of docs/numerics (both flavours), all 256 decodes of
 * every format against the spec's value formula evaluated independently here (in
 * double with ldexp), and decode -> encode round trips of every finite code.
 */
#include <math.h>
#include <string.h>

#include "check.h"
#include "internal.h"


/* ---------------------------------------------------------------- spec vectors */
typedef struct vec {
  const char *name;
  float x;
  /* e4m3fn cast, e4m3fn quantize, e5m2 cast, e5m2 quantize, e4m3fnuz cast, e5m2fnuz cast */
  uint8_t code[6];
} vec;

static void test_fp8_vectors(void) {
  const float nan = fp8g_f32_from_bits(0x7fc00000u), inf = fp8g_f32_from_bits(0x7f800000u);
  const vec v[] = {
      {"0.0", 0.0f, {0x00, 0x00, 0x00, 0x00, 0x00, 0x00}},
      {"-0.0", -0.0f, {0x80, 0x80, 0x80, 0x80, 0x00, 0x00}},
      {"1.0", 1.0f, {0x38, 0x38, 0x3c, 0x3c, 0x40, 0x40}},
      {"448", 448.0f, {0x7e, 0x7e, 0x5f, 0x5f, 0x80, 0x63}},
      {"464", 464.0f, {0x7e, 0x7e, 0x5f, 0x5f, 0x80, 0x63}},
      {"0x43E80001", fp8g_f32_from_bits(0x43E80001u), {0x7f, 0x7e, 0x5f, 0x5f, 0x80, 0x63}},
      {"480", 480.0f, {0x7f, 0x7e, 0x60, 0x60, 0x80, 0x64}},
      {"-465", -465.0f, {0xff, 0xfe, 0xdf, 0xdf, 0x80, 0xe3}},
      {"1e6", 1e6f, {0x7f, 0x7e, 0x7c, 0x7b, 0x80, 0x80}},
      {"+inf", inf, {0x7f, 0x7e, 0x7c, 0x7b, 0x80, 0x80}},
      {"-inf", -inf, {0xff, 0xfe, 0xfc, 0xfb, 0x80, 0x80}},
      {"+NaN", nan, {0x7f, 0x7f, 0x7e, 0x7e, 0x80, 0x80}},
      {"2^-9", 0x1p-9f, {0x01, 0x01, 0x18, 0x18, 0x02, 0x1c}},
      {"2^-10", 0x1p-10f, {0x00, 0x00, 0x14, 0x14, 0x01, 0x18}},
      {"0x3A800001", fp8g_f32_from_bits(0x3A800001u), {0x01, 0x01, 0x14, 0x14, 0x01, 0x18}},
      {"1.5*2^-9", 1.5f * 0x1p-9f, {0x02, 0x02, 0x1a, 0x1a, 0x03, 0x1e}},
      {"7.5*2^-9", 7.5f * 0x1p-9f, {0x08, 0x08, 0x24, 0x24, 0x0f, 0x28}},
      {"1.0625", 1.0625f, {0x38, 0x38, 0x3c, 0x3c, 0x40, 0x40}},
      {"1.1875", 1.1875f, {0x3a, 0x3a, 0x3d, 0x3d, 0x42, 0x41}},
      {"0.1", 0.1f, {0x1d, 0x1d, 0x2e, 0x2e, 0x25, 0x32}},
      {"240", 240.0f, {0x77, 0x77, 0x5c, 0x5c, 0x7f, 0x60}},
      {"248", 248.0f, {0x78, 0x78, 0x5c, 0x5c, 0x80, 0x60}},
      {"57344", 57344.0f, {0x7f, 0x7e, 0x7b, 0x7b, 0x80, 0x7f}},
      {"61440", 61440.0f, {0x7f, 0x7e, 0x7c, 0x7b, 0x80, 0x80}},
      {"2^-17", 0x1p-17f, {0x00, 0x00, 0x00, 0x00, 0x00, 0x01}},
  };
  const struct { fp8gemm_dtype dt; bool sat; } col[6] = {
      {FP8GEMM_E4M3FN, false}, {FP8GEMM_E4M3FN, true},    {FP8GEMM_E5M2, false},
      {FP8GEMM_E5M2, true},    {FP8GEMM_E4M3FNUZ, false}, {FP8GEMM_E5M2FNUZ, false},
  };
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
    for (int c = 0; c < 6; c++) {
      uint8_t got = fp8g_encode(col[c].dt, v[i].x, col[c].sat);
      CHECK(got == v[i].code[c], "%s -> %s %s: got 0x%02x, want 0x%02x", v[i].name,
            fp8gemm_dtype_name(col[c].dt), col[c].sat ? "quantize" : "cast", got, v[i].code[c]);
      uint8_t pub = 0xAA;
      CHECK(fp8gemm_encode_value(v[i].x, col[c].dt, col[c].sat, &pub) == FP8GEMM_OK &&
                pub == got,
            "public encode agrees for %s", v[i].name);
    }
    /* fnuz have no Inf and clamp to +-max when saturating; the table gives their casts. */
  }
  /* fnuz quantize: overflow and Inf -> +-max (0x7f / 0xff), NaN -> 0x80. */
  CHECK(fp8g_encode(FP8GEMM_E4M3FNUZ, 1e6f, true) == 0x7f, "e4m3fnuz quantize 1e6");
  CHECK(fp8g_encode(FP8GEMM_E4M3FNUZ, -fp8g_f32_from_bits(0x7f800000u), true) == 0xff, "e4m3fnuz quantize -inf");
  CHECK(fp8g_encode(FP8GEMM_E5M2FNUZ, 61440.0f, true) == 0x7f, "e5m2fnuz quantize 61440");
  CHECK(fp8g_encode(FP8GEMM_E5M2FNUZ, fp8g_f32_from_bits(0xffc00000u), true) == 0x80, "e5m2fnuz quantize -nan");
  /* NaN keeps its sign where the format has one. */
  CHECK(fp8g_encode(FP8GEMM_E4M3FN, fp8g_f32_from_bits(0xffc00000u), false) == 0xff, "e4m3fn -nan");
  CHECK(fp8g_encode(FP8GEMM_E5M2, fp8g_f32_from_bits(0xffc00000u), true) == 0xfe, "e5m2 -nan");
  /* Quantize flavour of the fnuz rows for the finite in-range vectors equals the cast. */
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
    if (!isfinite(v[i].x) || fabsf(v[i].x) > 240.0f) continue;
    CHECK(fp8g_encode(FP8GEMM_E4M3FNUZ, v[i].x, true) == v[i].code[4], "e4m3fnuz quantize %s",
          v[i].name);
    CHECK(fp8g_encode(FP8GEMM_E5M2FNUZ, v[i].x, true) == v[i].code[5], "e5m2fnuz quantize %s",
          v[i].name);
  }
}

static void test_e2m1_e8m0_vectors(void) {
  const struct { float x; uint8_t code; } fp4[] = {
      {0.25f, 0x0}, {0.75f, 0x2}, {1.25f, 0x2}, {1.5f, 0x3}, {1.75f, 0x4}, {2.5f, 0x4},
      {3.0f, 0x5},  {3.5f, 0x6},  {5.0f, 0x6},  {6.0f, 0x7}, {100.0f, 0x7}, {-4.0f, 0xE},
  };
  for (size_t i = 0; i < sizeof fp4 / sizeof fp4[0]; i++)
    for (int sat = 0; sat < 2; sat++) {
      uint8_t got = fp8g_encode(FP8GEMM_E2M1, fp4[i].x, sat);
      CHECK(got == fp4[i].code, "e2m1 %g (sat %d): got 0x%x want 0x%x", fp4[i].x, sat, got,
            fp4[i].code);
    }
  /* Overflow and +-Inf -> +-6 in both flavours; NaN -> zero of its sign (our choice). */
  for (int sat = 0; sat < 2; sat++) {
    CHECK(fp8g_encode(FP8GEMM_E2M1, fp8g_f32_from_bits(0x7f800000u), sat) == 0x7, "e2m1 +inf");
    CHECK(fp8g_encode(FP8GEMM_E2M1, fp8g_f32_from_bits(0xff800000u), sat) == 0xF, "e2m1 -inf");
    CHECK(fp8g_encode(FP8GEMM_E2M1, fp8g_f32_from_bits(0x7fc00000u), sat) == 0x0, "e2m1 +nan");
    CHECK(fp8g_encode(FP8GEMM_E2M1, fp8g_f32_from_bits(0xffc00000u), sat) == 0x8, "e2m1 -nan");
    CHECK(fp8g_encode(FP8GEMM_E2M1, -0.0f, sat) == 0x8, "e2m1 -0");
    CHECK(fp8g_encode(FP8GEMM_E2M1, -0.25f, sat) == 0x8, "e2m1 -0.25 -> -0");
  }

  const struct { float x; uint8_t code; } e8[] = {
      {0.75f, 0x7F}, {1.25f, 0x7F}, {1.5f, 0x80}, {3.0f, 0x81}, {0.1f, 0x7C}, {448.0f, 0x88},
      {1.0f, 0x7F},  {0x1p127f, 0xFE}, {0x1.7ffffep127f, 0xFE}, {0x1p-126f, 0x01},
      {0x1p-127f, 0x00}, {0x1.7ffffcp-127f, 0x00}, {0x1.8p-127f, 0x01}, {0x1p-149f, 0x00},
  };
  for (size_t i = 0; i < sizeof e8 / sizeof e8[0]; i++)
    for (int sat = 0; sat < 2; sat++) {
      uint8_t got = fp8g_encode(FP8GEMM_E8M0, e8[i].x, sat);
      CHECK(got == e8[i].code, "e8m0 %a (sat %d): got 0x%02x want 0x%02x", e8[i].x, sat, got,
            e8[i].code);
    }
  const float specials[] = {fp8g_f32_from_bits(0x7fc00000u), fp8g_f32_from_bits(0x7f800000u), fp8g_f32_from_bits(0xff800000u),
                            -1.0f, -0x1p-149f};
  for (size_t i = 0; i < sizeof specials / sizeof specials[0]; i++)
    for (int sat = 0; sat < 2; sat++)
      CHECK(fp8g_encode(FP8GEMM_E8M0, specials[i], sat) == 0xFF, "e8m0 special %g sat %d -> 0xFF",
            specials[i], sat);
  CHECK(fp8g_encode(FP8GEMM_E8M0, 0.0f, false) == 0xFF, "e8m0 cast 0 -> 0xFF (ml_dtypes)");
  CHECK(fp8g_encode(FP8GEMM_E8M0, 0.0f, true) == 0x00, "e8m0 quantize 0 -> 0x00");
  CHECK(fp8g_encode(FP8GEMM_E8M0, -0.0f, true) == 0x00, "e8m0 quantize -0 -> 0x00");
  CHECK(fp8g_encode(FP8GEMM_E8M0, 0x1.8p127f, false) == 0xFF, "e8m0 cast overflow -> NaN");
  CHECK(fp8g_encode(FP8GEMM_E8M0, 0x1.8p127f, true) == 0xFE, "e8m0 quantize overflow -> max");
}

/* ------------------------------------------------------- decode vs the spec formula */
typedef struct spec_row {
  fp8gemm_dtype dt;
  int ebits, mbits, bias, width;
  double max_finite, min_sub;
} spec_row;

static const spec_row rows[] = {
    {FP8GEMM_E4M3FN, 4, 3, 7, 8, 448.0, 0x1p-9},
    {FP8GEMM_E5M2, 5, 2, 15, 8, 57344.0, 0x1p-16},
    {FP8GEMM_E4M3FNUZ, 4, 3, 8, 8, 240.0, 0x1p-10},
    {FP8GEMM_E5M2FNUZ, 5, 2, 16, 8, 57344.0, 0x1p-17},
    {FP8GEMM_E2M1, 2, 1, 1, 4, 6.0, 0.5},
};

/* The spec table's NaN / Inf columns, stated per format. */
static int spec_kind(fp8gemm_dtype dt, unsigned code) { /* 0 finite, 1 inf, 2 nan */
  switch (dt) {
    case FP8GEMM_E4M3FN: return (code & 0x7f) == 0x7f ? 2 : 0;
    case FP8GEMM_E5M2: return (code & 0x7c) == 0x7c ? ((code & 3) ? 2 : 1) : 0;
    case FP8GEMM_E4M3FNUZ:
    case FP8GEMM_E5M2FNUZ: return code == 0x80 ? 2 : 0;
    default: return 0;
  }
}

static void test_decode_all(void) {
  for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++) {
    const spec_row *s = &rows[r];
    unsigned ncodes = 1u << s->width;
    double maxv = 0, minsub = INFINITY;
    for (unsigned code = 0; code < 256; code++) {
      unsigned c = code & (ncodes - 1);
      int sign = (c >> (s->width - 1)) & 1;
      unsigned e = (c >> s->mbits) & ((1u << s->ebits) - 1), m = c & ((1u << s->mbits) - 1);
      double mag = e ? ldexp(1.0 + ldexp(m, -s->mbits), (int)e - s->bias)
                     : ldexp(ldexp(m, -s->mbits), 1 - s->bias);
      double want = sign ? -mag : mag;
      float got = fp8g_decode(s->dt, (uint8_t)code);
      float pub = 0;
      CHECK(fp8gemm_decode_value((uint8_t)code, s->dt, &pub) == FP8GEMM_OK &&
                fp8g_f32_bits(pub) == fp8g_f32_bits(got),
            "public decode agrees");
      int kind = spec_kind(s->dt, c);
      if (kind == 2) {
        CHECK(isnan(got), "%s 0x%02x is NaN, got %g", fp8gemm_dtype_name(s->dt), code, got);
        continue;
      }
      if (kind == 1) {
        CHECK(isinf(got) && (got < 0) == sign, "%s 0x%02x is %sInf, got %g",
              fp8gemm_dtype_name(s->dt), code, sign ? "-" : "+", got);
        continue;
      }
      CHECK((double)got == want && (signbit(got) != 0) == (sign != 0), "%s 0x%02x: got %a, want %a",
            fp8gemm_dtype_name(s->dt), code, got, want);
      if (fabs(want) > maxv) maxv = fabs(want);
      if (want > 0 && want < minsub) minsub = want;
    }
    CHECK(maxv == s->max_finite, "%s max finite %g", fp8gemm_dtype_name(s->dt), maxv);
    CHECK(minsub == s->min_sub, "%s min subnormal %g", fp8gemm_dtype_name(s->dt), minsub);
    /* "Same bits in fnuz = fn value / 2" */
    if (s->dt == FP8GEMM_E4M3FNUZ || s->dt == FP8GEMM_E5M2FNUZ) {
      fp8gemm_dtype fn = s->dt == FP8GEMM_E4M3FNUZ ? FP8GEMM_E4M3FN : FP8GEMM_E5M2;
      for (unsigned code = 0; code < 256; code++) {
        float a = fp8g_decode(s->dt, (uint8_t)code), b = fp8g_decode(fn, (uint8_t)code);
        if (code == 0x80 || !isfinite(b)) continue;
        CHECK(a == b / 2, "%s 0x%02x is half of the fn value", fp8gemm_dtype_name(s->dt), code);
      }
    }
  }
  /* e8m0: 2^(E-127), 0xFF NaN */
  for (unsigned code = 0; code < 256; code++) {
    float got = fp8g_decode(FP8GEMM_E8M0, (uint8_t)code);
    if (code == 0xFF) CHECK(isnan(got), "e8m0 0xff is NaN");
    else CHECK((double)got == ldexp(1.0, (int)code - 127), "e8m0 0x%02x: got %a", code, got);
  }
}

/* ---------------------------------------------------- decode -> encode round trips */
static void test_round_trip(void) {
  const fp8gemm_dtype all[] = {FP8GEMM_E4M3FN, FP8GEMM_E5M2, FP8GEMM_E4M3FNUZ, FP8GEMM_E5M2FNUZ,
                               FP8GEMM_E2M1, FP8GEMM_E8M0};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
    unsigned ncodes = all[i] == FP8GEMM_E2M1 ? 16 : 256;
    for (unsigned code = 0; code < ncodes; code++) {
      float v = fp8g_decode(all[i], (uint8_t)code);
      for (int sat = 0; sat < 2; sat++) {
        uint8_t back = fp8g_encode(all[i], v, sat);
        if (isfinite(v)) {
          CHECK(back == code, "%s 0x%02x -> %a -> 0x%02x (sat %d)", fp8gemm_dtype_name(all[i]),
                code, v, back, sat);
        } else if (isnan(v)) {
          CHECK(isnan(fp8g_decode(all[i], back)), "%s NaN stays NaN", fp8gemm_dtype_name(all[i]));
        }
      }
    }
  }
}

/* ------------------------------------- exhaustive f32 sweep: monotone, nearest, RNE */
/* Every f32 in the format's range lands on one of the two neighbouring codes, the
 * nearer one, ties to the even code: checked against the decode table, not the encoder. */
static void test_nearest_sweep(void) {
  for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++) {
    const spec_row *s = &rows[r];
    long bad = 0;
    unsigned ncodes = 1u << (s->width - 1);
    float table[128];
    for (unsigned k = 0; k < ncodes; k++) table[k] = fp8g_decode(s->dt, (uint8_t)k);
    for (uint64_t u = 0; u < 0x7f800000u; u += 4099) { /* a prime stride over positives */
      float x = fp8g_f32_from_bits((uint32_t)u);
      uint8_t c = fp8g_encode(s->dt, x, true);
      float q = fp8g_decode(s->dt, c);
      /* nearest finite value by brute force over the decode table */
      double best = INFINITY;
      int best_code = -1;
      for (unsigned k = 0; k < ncodes; k++) {
        float v = table[k];
        if (!isfinite(v)) continue;
        double d = fabs((double)v - (double)x);
        if (d < best || (d == best && (k & 1) == 0)) {
          best = d;
          best_code = (int)k;
        }
      }
      if ((double)x > s->max_finite) best_code = -2; /* saturates: checked below */
      if (best_code >= 0 && fp8g_decode(s->dt, (uint8_t)best_code) != q) bad++;
      if (best_code == -2 && q != (float)s->max_finite) bad++;
    }
    CHECK(bad == 0, "%s: %ld sampled f32 values not rounded to nearest-even",
          fp8gemm_dtype_name(s->dt), bad);
  }
}

static void test_public_errors(void) {
  uint8_t code = 0x5A;
  float v = 3.0f;
  CHECK(fp8gemm_encode_value(1.0f, FP8GEMM_BF16, 0, &code) == FP8GEMM_INVALID_ARGUMENT &&
            code == 0x5A,
        "encode to bf16 rejected");
  CHECK(strstr(fp8gemm_last_error(), "bf16") != NULL, "message: %s", fp8gemm_last_error());
  CHECK(fp8gemm_encode_value(1.0f, FP8GEMM_E4M3FN, 0, NULL) == FP8GEMM_INVALID_ARGUMENT,
        "NULL code rejected");
  CHECK(fp8gemm_decode_value(0, (fp8gemm_dtype)42, &v) == FP8GEMM_INVALID_ARGUMENT && v == 3.0f,
        "bad dtype rejected");
  CHECK(fp8gemm_decode_value(0, FP8GEMM_E5M2, NULL) == FP8GEMM_INVALID_ARGUMENT, "NULL value");
}

int main(void) {
  test_fp8_vectors();
  test_e2m1_e8m0_vectors();
  test_decode_all();
  test_round_trip();
  test_nearest_sweep();
  test_public_errors();
  return test_summary();
}
