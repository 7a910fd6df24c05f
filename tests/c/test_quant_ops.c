/*
 * Quantization ops (fp8_quantize, mx_quantize, fp8_dequantize, fp8_cast):
 *   - bad inputs give the documented status, a message naming the argument, and leave
 *     canary-filled outputs untouched;
 *   - infer and the real op agree on the output descriptors;
 *   - strided / permuted inputs give the bytes of their contiguous copies;
 *   - every ISA level available gives the bytes of the scalar level, and per-token
 *     quantization matches a direct evaluation of the spec formula.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "internal.h"
#include "kernels/quant_kernels.h"

/* ------------------------------------------------------------------ helpers */
static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint32_t next_u32(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (uint32_t)(rng >> 11);
}

/* Mostly normal-ish values with specials and exact ties sprinkled in. */
static float random_value(void) {
  uint32_t r = next_u32() % 64;
  switch (r) {
    case 0: return NAN;
    case 1: return -0.0f;
    case 2: return 0.0f;
    case 3: return 464.0f;
    case 4: return 0x1p-10f;
    default: break;
  }
  float m = (float)(next_u32() % 200001) / 1000.0f - 100.0f;
  return m * ldexpf(1.0f, (int)(next_u32() % 12) - 6);
}

static fp8gemm_tensor desc(fp8gemm_dtype dt, int ndim, const int64_t *dims, void *data) {
  fp8gemm_tensor t;
  fp8gemm_tensor_init(&t, dt, ndim, dims, data);
  return t;
}


/* Stores f32 value v at element offset off of a wide buffer. */
static void store_wide(void *data, fp8gemm_dtype dt, int64_t off, float v) {
  if (dt == FP8GEMM_F32) ((float *)data)[off] = v;
  else if (dt == FP8GEMM_BF16) ((uint16_t *)data)[off] = fp8g_f32_to_bf16(v);
  else ((uint16_t *)data)[off] = fp8g_f32_to_f16(v);
}

#define CANARY 0xA5

static void fill_canary(void *p, size_t n) {
  if (p) memset(p, CANARY, n);
}

static bool all_canary(const void *p, size_t n) {
  const uint8_t *b = p;
  if (!p) return true;
  for (size_t i = 0; i < n; i++)
    if (b[i] != CANARY) return false;
  return true;
}

/* Status, message fragment, canaries: the three promises of a rejected call. */
#define EXPECT_REJECT(call, status, fragment, q, qn, s, sn)                                   \
  do {                                                                                        \
    fill_canary(q, qn);                                                                       \
    fill_canary(s, sn);                                                                       \
    fp8gemm_status st_ = (call);                                                              \
    CHECK(st_ == (status), "%s: status %d, want %d (%s)", #call, (int)st_, (int)(status),     \
          fp8gemm_last_error());                                                              \
    CHECK(strstr(fp8gemm_last_error(), fragment) != NULL, "%s: message '%s' lacks '%s'",      \
          #call, fp8gemm_last_error(), fragment);                                             \
    CHECK(all_canary(q, qn) && all_canary(s, sn), "%s wrote its output", #call);   \
  } while (0)

/* ------------------------------------------------------- bad inputs: fp8_quantize */
static void test_quantize_rejects(void) {
  enum { R = 4, K = 8 };
  float x[R * K];
  for (int i = 0; i < R * K; i++) x[i] = (float)i - 7.5f;
  uint8_t qbuf[R * K];
  float sbuf[R * 2], scl[R * 2], ub = 10.0f;
  const int64_t dx[2] = {R, K}, ds[2] = {R, 1}, ds2[2] = {R, 2}, d1[1] = {1}, d2[1] = {2};
  fp8gemm_tensor in = desc(FP8GEMM_F32, 2, dx, x), q = desc(FP8GEMM_E4M3FN, 2, dx, qbuf);
  fp8gemm_tensor so = desc(FP8GEMM_F32, 2, ds, sbuf);
  fp8gemm_tensor ubt = desc(FP8GEMM_F32, 1, d1, &ub);
  const double ms = FP8GEMM_DEFAULT_MIN_SCALE;
  const fp8gemm_granularity TOK = FP8GEMM_PER_TOKEN;
  size_t qn = sizeof qbuf, sn = R * sizeof(float);

  EXPECT_REJECT(fp8gemm_fp8_quantize(NULL, FP8GEMM_E4M3FN, TOK, 0, NULL, NULL, ms, &q, &so),
                FP8GEMM_INVALID_ARGUMENT, "input", qbuf, qn, sbuf, sn);
  fp8gemm_tensor bad = in;
  bad.dtype = FP8GEMM_E4M3FN;
  EXPECT_REJECT(fp8gemm_fp8_quantize(&bad, FP8GEMM_E4M3FN, TOK, 0, NULL, NULL, ms, &q, &so),
                FP8GEMM_INVALID_ARGUMENT, "input.dtype", qbuf, qn, sbuf, sn);
  bad = in;
  bad.dtype = (fp8gemm_dtype)77;
  EXPECT_REJECT(fp8gemm_fp8_quantize(&bad, FP8GEMM_E4M3FN, TOK, 0, NULL, NULL, ms, &q, &so),
                FP8GEMM_INVALID_ARGUMENT, "input.dtype", qbuf, qn, sbuf, sn);
  EXPECT_REJECT(fp8gemm_fp8_quantize(&in, FP8GEMM_BF16, TOK, 0, NULL, NULL, ms, &q, &so),
                FP8GEMM_INVALID_ARGUMENT, "fp8_dtype", qbuf, qn, sbuf, sn);
  EXPECT_REJECT(fp8gemm_fp8_quantize(&in, FP8GEMM_E2M1, TOK, 0, NULL, NULL, ms, &q, &so),
                FP8GEMM_INVALID_ARGUMENT, "fp8_dtype", qbuf, qn, sbuf, sn);
  EXPECT_REJECT(fp8gemm_fp8_quantize(&in, FP8GEMM_E4M3FN, (fp8gemm_granularity)9, 0, NULL, NULL,
                                     ms, &q, &so),
                FP8GEMM_INVALID_ARGUMENT, "granularity", qbuf, qn, sbuf, sn);
  EXPECT_REJECT(fp8gemm_fp8_quantize(&in, FP8GEMM_E4M3FN, FP8GEMM_PER_BLOCK, 0, NULL, NULL, ms,
                                     &q, &so),
                FP8GEMM_INVALID_ARGUMENT, "group_size", qbuf, qn, sbuf, sn);
  EXPECT_REJECT(fp8gemm_fp8_quantize(&in, FP8GEMM_E4M3FN, FP8GEMM_PER_BLOCK2D, -128, NULL, NULL,
                                     ms, &q, &so),
                FP8GEMM_INVALID_ARGUMENT, "group_size", qbuf, qn, sbuf, sn);
  fp8gemm_tensor in1 = desc(FP8GEMM_F32, 1, dx + 1, x);
  fp8gemm_tensor q1 = desc(FP8GEMM_E4M3FN, 1, dx + 1, qbuf);
  EXPECT_REJECT(fp8gemm_fp8_quantize(&in1, FP8GEMM_E4M3FN, FP8GEMM_PER_BLOCK2D, 2, NULL, NULL, ms,
                                     &q1, &so),
                FP8GEMM_INVALID_ARGUMENT, "input: expected rank >= 2", qbuf, qn, sbuf, sn);
  fp8gemm_tensor in0 = desc(FP8GEMM_F32, 0, NULL, x);
  EXPECT_REJECT(fp8gemm_fp8_quantize(&in0, FP8GEMM_E4M3FN, TOK, 0, NULL, NULL, ms, &q, &so),
                FP8GEMM_INVALID_ARGUMENT, "input: expected rank >= 1", qbuf, qn, sbuf, sn);
  const double bad_ms[] = {0.0, -1.0, NAN, INFINITY, 1e-50, 1e39};
  for (size_t i = 0; i < sizeof bad_ms / sizeof bad_ms[0]; i++)
    EXPECT_REJECT(fp8gemm_fp8_quantize(&in, FP8GEMM_E4M3FN, TOK, 0, NULL, NULL, bad_ms[i], &q, &so),
                  FP8GEMM_INVALID_ARGUMENT, "min_scale", qbuf, qn, sbuf, sn);
  fp8gemm_tensor ub_bad = ubt;
  ub_bad.dtype = FP8GEMM_BF16;
  EXPECT_REJECT(fp8gemm_fp8_quantize(&in, FP8GEMM_E4M3FN, TOK, 0, NULL, &ub_bad, ms, &q, &so),
                FP8GEMM_INVALID_ARGUMENT, "scale_ub.dtype", qbuf, qn, sbuf, sn);
  float ub2[2] = {1, 2};
  ub_bad = desc(FP8GEMM_F32, 1, d2, ub2);
  EXPECT_REJECT(fp8gemm_fp8_quantize(&in, FP8GEMM_E4M3FN, TOK, 0, NULL, &ub_bad, ms, &q, &so),
                FP8GEMM_INVALID_ARGUMENT, "scale_ub: expected numel 1", qbuf, qn, sbuf, sn);
  fp8gemm_tensor st = desc(FP8GEMM_F32, 2, ds, scl);
  for (int i = 0; i < R; i++) scl[i] = 1.0f;
  EXPECT_REJECT(fp8gemm_fp8_quantize(&in, FP8GEMM_E4M3FN, TOK, 0, &st, &ubt, ms, &q, &so),
                FP8GEMM_INVALID_ARGUMENT, "scale_ub", qbuf, qn, sbuf, sn);
  fp8gemm_tensor st_bad = desc(FP8GEMM_F32, 2, ds2, scl);
  EXPECT_REJECT(fp8gemm_fp8_quantize(&in, FP8GEMM_E4M3FN, TOK, 0, &st_bad, NULL, ms, &q, &so),
                FP8GEMM_INVALID_ARGUMENT, "scale.shape: expected 4x1, got 4x2", qbuf, qn, sbuf,
                sn);
  st_bad = st;
  st_bad.dtype = FP8GEMM_F16;
  EXPECT_REJECT(fp8gemm_fp8_quantize(&in, FP8GEMM_E4M3FN, TOK, 0, &st_bad, NULL, ms, &q, &so),
                FP8GEMM_INVALID_ARGUMENT, "scale.dtype", qbuf, qn, sbuf, sn);
  st_bad = st;
  st_bad.data = NULL;
  EXPECT_REJECT(fp8gemm_fp8_quantize(&in, FP8GEMM_E4M3FN, TOK, 0, &st_bad, NULL, ms, &q, &so),
                FP8GEMM_INVALID_ARGUMENT, "scale.data", qbuf, qn, sbuf, sn);
  /* outputs */
  fp8gemm_tensor qb = q;
  qb.dtype = FP8GEMM_E5M2;
  EXPECT_REJECT(fp8gemm_fp8_quantize(&in, FP8GEMM_E4M3FN, TOK, 0, NULL, NULL, ms, &qb, &so),
                FP8GEMM_INVALID_ARGUMENT, "q.dtype", qbuf, qn, sbuf, sn);
  qb = q;
  qb.dims[1] = K - 1;
  EXPECT_REJECT(fp8gemm_fp8_quantize(&in, FP8GEMM_E4M3FN, TOK, 0, NULL, NULL, ms, &qb, &so),
                FP8GEMM_INVALID_ARGUMENT, "q.shape", qbuf, qn, sbuf, sn);
  qb = q;
  qb.strides[0] = K + 1;
  EXPECT_REJECT(fp8gemm_fp8_quantize(&in, FP8GEMM_E4M3FN, TOK, 0, NULL, NULL, ms, &qb, &so),
                FP8GEMM_INVALID_ARGUMENT, "q.stride[0]", qbuf, qn, sbuf, sn);
  qb = q;
  qb.data = NULL;
  EXPECT_REJECT(fp8gemm_fp8_quantize(&in, FP8GEMM_E4M3FN, TOK, 0, NULL, NULL, ms, &qb, &so),
                FP8GEMM_INVALID_ARGUMENT, "q.data", qbuf, qn, sbuf, sn);
  EXPECT_REJECT(fp8gemm_fp8_quantize(&in, FP8GEMM_E4M3FN, TOK, 0, NULL, NULL, ms, NULL, &so),
                FP8GEMM_INVALID_ARGUMENT, "q is NULL", qbuf, qn, sbuf, sn);
  fp8gemm_tensor sob = desc(FP8GEMM_F32, 2, ds2, sbuf);
  EXPECT_REJECT(fp8gemm_fp8_quantize(&in, FP8GEMM_E4M3FN, TOK, 0, NULL, NULL, ms, &q, &sob),
                FP8GEMM_INVALID_ARGUMENT, "scale_out.shape", qbuf, qn, sbuf, sn);
  EXPECT_REJECT(fp8gemm_fp8_quantize(&in, FP8GEMM_E4M3FN, TOK, 0, NULL, NULL, ms, &q, NULL),
                FP8GEMM_INVALID_ARGUMENT, "scale_out is NULL", qbuf, qn, sbuf, sn);
  /* descriptors: overflowing dims, negative dims, NULL data */
  bad = in;
  bad.dims[0] = INT64_MAX / 2;
  bad.dims[1] = 4;
  EXPECT_REJECT(fp8gemm_fp8_quantize(&bad, FP8GEMM_E4M3FN, TOK, 0, NULL, NULL, ms, &q, &so),
                FP8GEMM_INVALID_ARGUMENT, "overflow", qbuf, qn, sbuf, sn);
  /* an empty input (K == 0) whose per-token scale shape [2^62, 4, 1] would overflow */
  const int64_t dempty[3] = {INT64_MAX / 2, 4, 0};
  bad = desc(FP8GEMM_F32, 3, dempty, x);
  EXPECT_REJECT(fp8gemm_fp8_quantize(&bad, FP8GEMM_E4M3FN, TOK, 0, NULL, NULL, ms, &q, &so),
                FP8GEMM_INVALID_ARGUMENT, "scale shape", qbuf, qn, sbuf, sn);
  bad = in;
  bad.dims[1] = -8;
  EXPECT_REJECT(fp8gemm_fp8_quantize(&bad, FP8GEMM_E4M3FN, TOK, 0, NULL, NULL, ms, &q, &so),
                FP8GEMM_INVALID_ARGUMENT, "input.shape[1]", qbuf, qn, sbuf, sn);
  bad = in;
  bad.data = NULL;
  EXPECT_REJECT(fp8gemm_fp8_quantize(&bad, FP8GEMM_E4M3FN, TOK, 0, NULL, NULL, ms, &q, &so),
                FP8GEMM_INVALID_ARGUMENT, "input.data", qbuf, qn, sbuf, sn);
  /* infer with NULL descriptors */
  fp8gemm_tensor qd;
  CHECK(fp8gemm_fp8_quantize_infer(&in, FP8GEMM_E4M3FN, TOK, 0, NULL, NULL, ms, &qd, NULL) ==
            FP8GEMM_INVALID_ARGUMENT,
        "infer: NULL scale_desc");
  CHECK(strstr(fp8gemm_last_error(), "scale_desc") != NULL, "%s", fp8gemm_last_error());
}

/* ------------------------------------------------ bad inputs: mx / dequant / cast */
static void test_other_rejects(void) {
  enum { R = 2, K = 64 };
  float x[R * K] = {0};
  uint8_t qbuf[R * K], sbuf[R * K / 32], outb[R * K * 4];
  const int64_t dx[2] = {R, K}, dsc[2] = {R, K / 32}, dodd[2] = {R, 33};
  fp8gemm_tensor in = desc(FP8GEMM_F32, 2, dx, x), q = desc(FP8GEMM_E4M3FN, 2, dx, qbuf);
  fp8gemm_tensor sc = desc(FP8GEMM_E8M0, 2, dsc, sbuf);
  size_t qn = sizeof qbuf, sn = sizeof sbuf;
  const fp8gemm_mx_scale_mode FL = FP8GEMM_MX_FLOOR;

  EXPECT_REJECT(fp8gemm_mx_quantize(&in, FP8GEMM_E4M3FNUZ, 32, FL, &q, &sc),
                FP8GEMM_INVALID_ARGUMENT, "elem_dtype", qbuf, qn, sbuf, sn);
  EXPECT_REJECT(fp8gemm_mx_quantize(&in, FP8GEMM_E4M3FN, 16, FL, &q, &sc), FP8GEMM_UNIMPLEMENTED,
                "block_size", qbuf, qn, sbuf, sn);
  EXPECT_REJECT(fp8gemm_mx_quantize(&in, FP8GEMM_E4M3FN, 0, FL, &q, &sc),
                FP8GEMM_INVALID_ARGUMENT, "block_size", qbuf, qn, sbuf, sn);
  EXPECT_REJECT(fp8gemm_mx_quantize(&in, FP8GEMM_E4M3FN, 32, (fp8gemm_mx_scale_mode)7, &q, &sc),
                FP8GEMM_INVALID_ARGUMENT, "mode", qbuf, qn, sbuf, sn);
  fp8gemm_tensor odd = desc(FP8GEMM_F32, 2, dodd, x);
  EXPECT_REJECT(fp8gemm_mx_quantize(&odd, FP8GEMM_E4M3FN, 32, FL, &q, &sc),
                FP8GEMM_INVALID_ARGUMENT, "input.shape[-1]", qbuf, qn, sbuf, sn);
  fp8gemm_tensor scb = sc;
  scb.dtype = FP8GEMM_F32;
  EXPECT_REJECT(fp8gemm_mx_quantize(&in, FP8GEMM_E4M3FN, 32, FL, &q, &scb),
                FP8GEMM_INVALID_ARGUMENT, "scales.dtype", qbuf, qn, sbuf, sn);
  fp8gemm_tensor q4 = desc(FP8GEMM_E2M1, 2, dx, qbuf);
  EXPECT_REJECT(fp8gemm_mx_quantize(&in, FP8GEMM_E4M3FN, 32, FL, &q4, &sc),
                FP8GEMM_INVALID_ARGUMENT, "q.dtype", qbuf, qn, sbuf, sn);
  EXPECT_REJECT(fp8gemm_mx_quantize(&in, FP8GEMM_E4M3FN, 32, FL, &q, NULL),
                FP8GEMM_INVALID_ARGUMENT, "scales is NULL", qbuf, qn, sbuf, sn);
  fp8gemm_tensor inb = in;
  inb.dtype = FP8GEMM_E8M0;
  EXPECT_REJECT(fp8gemm_mx_quantize(&inb, FP8GEMM_E4M3FN, 32, FL, &q, &sc),
                FP8GEMM_INVALID_ARGUMENT, "input.dtype", qbuf, qn, sbuf, sn);

  /* fp8_dequantize */
  fp8gemm_tensor out = desc(FP8GEMM_F32, 2, dx, outb);
  size_t on = R * K * 4;
  memset(qbuf, 0x38, sizeof qbuf);
  fp8gemm_tensor qf = desc(FP8GEMM_F32, 2, dx, x);
  EXPECT_REJECT(fp8gemm_fp8_dequantize(&qf, NULL, FP8GEMM_F32, 0, &out), FP8GEMM_INVALID_ARGUMENT,
                "q.dtype", outb, on, NULL, 0);
  EXPECT_REJECT(fp8gemm_fp8_dequantize(NULL, NULL, FP8GEMM_F32, 0, &out),
                FP8GEMM_INVALID_ARGUMENT, "q is NULL", outb, on, NULL, 0);
  EXPECT_REJECT(fp8gemm_fp8_dequantize(&q, NULL, FP8GEMM_E5M2, 0, &out), FP8GEMM_INVALID_ARGUMENT,
                "out_dtype", outb, on, NULL, 0);
  EXPECT_REJECT(fp8gemm_fp8_dequantize(&q, NULL, FP8GEMM_F32, -1, &out), FP8GEMM_INVALID_ARGUMENT,
                "group_size", outb, on, NULL, 0);
  float sv[R * 3] = {1, 1, 1, 1, 1, 1};
  const int64_t d3[2] = {R, 3};
  fp8gemm_tensor s3 = desc(FP8GEMM_F32, 2, d3, sv);
  EXPECT_REJECT(fp8gemm_fp8_dequantize(&q, &s3, FP8GEMM_F32, 32, &out), FP8GEMM_INVALID_ARGUMENT,
                "scale.shape", outb, on, NULL, 0);
  s3.dtype = FP8GEMM_BF16;
  EXPECT_REJECT(fp8gemm_fp8_dequantize(&q, &s3, FP8GEMM_F32, 32, &out), FP8GEMM_INVALID_ARGUMENT,
                "scale.dtype", outb, on, NULL, 0);
  fp8gemm_tensor outb16 = desc(FP8GEMM_BF16, 2, dx, outb);
  EXPECT_REJECT(fp8gemm_fp8_dequantize(&q, NULL, FP8GEMM_F32, 0, &outb16),
                FP8GEMM_INVALID_ARGUMENT, "out.dtype", outb, on, NULL, 0);
  fp8gemm_tensor q0 = desc(FP8GEMM_E4M3FN, 0, NULL, qbuf);
  EXPECT_REJECT(fp8gemm_fp8_dequantize(&q0, NULL, FP8GEMM_F32, 0, &out), FP8GEMM_INVALID_ARGUMENT,
                "rank", outb, on, NULL, 0);

  /* fp8_cast */
  fp8gemm_tensor co = desc(FP8GEMM_E5M2, 2, dx, qbuf);
  EXPECT_REJECT(fp8gemm_fp8_cast(&q, FP8GEMM_E5M2, 0, &co), FP8GEMM_INVALID_ARGUMENT, "x.dtype",
                qbuf, qn, NULL, 0);
  EXPECT_REJECT(fp8gemm_fp8_cast(&in, FP8GEMM_BF16, 0, &co), FP8GEMM_INVALID_ARGUMENT, "to",
                qbuf, qn, NULL, 0);
  EXPECT_REJECT(fp8gemm_fp8_cast(&in, FP8GEMM_E4M3FN, 0, &co), FP8GEMM_INVALID_ARGUMENT,
                "out.dtype", qbuf, qn, NULL, 0);
  const int64_t d5[1] = {5};
  fp8gemm_tensor x5 = desc(FP8GEMM_F32, 1, d5, x), o5 = desc(FP8GEMM_E4M3FN, 1, d5, qbuf);
  EXPECT_REJECT(fp8gemm_fp8_cast(&x5, FP8GEMM_E2M1, 0, &o5), FP8GEMM_INVALID_ARGUMENT,
                "x.shape[-1]", qbuf, qn, NULL, 0);
  EXPECT_REJECT(fp8gemm_fp8_cast(&in, FP8GEMM_E5M2, 0, NULL), FP8GEMM_INVALID_ARGUMENT,
                "out is NULL", qbuf, qn, NULL, 0);
}

/* ----------------------------------------------- the ops as one call, for tables */
typedef struct op_case {
  const char *name;
  int op; /* 0 quantize, 1 mx, 2 cast, 3 dequantize (input is then fp8 codes) */
  fp8gemm_dtype to;
  fp8gemm_granularity gran;
  int64_t g;
  bool static_scale, use_ub;
  int mode_or_sat;
} op_case;

/* Runs the case on `in`; fills out0 (q or x) and out1 (scales) as infer says. */
static fp8gemm_status run_case(const op_case *c, const fp8gemm_tensor *in, void *out0, void *out1,
                               fp8gemm_tensor *d0, fp8gemm_tensor *d1) {
  static float static_scale[1 << 16], ub = 300.0f;
  const int64_t one[1] = {1};
  fp8gemm_tensor ubt = desc(FP8GEMM_F32, 1, one, &ub);
  fp8gemm_status s;
  switch (c->op) {
    case 0: {
      fp8gemm_tensor sd0, sd1, st;
      s = fp8gemm_fp8_quantize_infer(in, c->to, c->gran, c->g, NULL, NULL,
                                     FP8GEMM_DEFAULT_MIN_SCALE, &sd0, &sd1);
      if (s != FP8GEMM_OK) return s;
      st = sd1;
      st.data = static_scale;
      for (int i = 0; i < (1 << 16); i++) static_scale[i] = 0.25f + (float)(i % 7);
      s = fp8gemm_fp8_quantize_infer(in, c->to, c->gran, c->g, c->static_scale ? &st : NULL,
                                     c->use_ub ? &ubt : NULL, FP8GEMM_DEFAULT_MIN_SCALE, d0, d1);
      if (s != FP8GEMM_OK) return s;
      d0->data = out0;
      d1->data = out1;
      return fp8gemm_fp8_quantize(in, c->to, c->gran, c->g, c->static_scale ? &st : NULL,
                                  c->use_ub ? &ubt : NULL, FP8GEMM_DEFAULT_MIN_SCALE, d0, d1);
    }
    case 1:
      s = fp8gemm_mx_quantize_infer(in, c->to, 32, (fp8gemm_mx_scale_mode)c->mode_or_sat, d0, d1);
      if (s != FP8GEMM_OK) return s;
      d0->data = out0;
      d1->data = out1;
      return fp8gemm_mx_quantize(in, c->to, 32, (fp8gemm_mx_scale_mode)c->mode_or_sat, d0, d1);
    case 2:
      s = fp8gemm_fp8_cast_infer(in, c->to, c->mode_or_sat, d0);
      if (s != FP8GEMM_OK) return s;
      d0->data = out0;
      d1->ndim = 0;
      return fp8gemm_fp8_cast(in, c->to, c->mode_or_sat, d0);
    default:
      s = fp8gemm_fp8_dequantize_infer(in, NULL, c->to, 0, d0);
      if (s != FP8GEMM_OK) return s;
      d0->data = out0;
      d1->ndim = 0;
      return fp8gemm_fp8_dequantize(in, NULL, c->to, 0, d0);
  }
}

static const op_case cases[] = {
    {"quantize tensor e4m3fn", 0, FP8GEMM_E4M3FN, FP8GEMM_PER_TENSOR, 0, false, false, 0},
    {"quantize token e5m2 ub", 0, FP8GEMM_E5M2, FP8GEMM_PER_TOKEN, 0, false, true, 0},
    {"quantize token e4m3fn", 0, FP8GEMM_E4M3FN, FP8GEMM_PER_TOKEN, 0, false, false, 0},
    {"quantize block g=5 e4m3fnuz", 0, FP8GEMM_E4M3FNUZ, FP8GEMM_PER_BLOCK, 5, false, false, 0},
    {"quantize block g=128", 0, FP8GEMM_E4M3FN, FP8GEMM_PER_BLOCK, 128, false, false, 0},
    {"quantize block2d g=3", 0, FP8GEMM_E5M2FNUZ, FP8GEMM_PER_BLOCK2D, 3, false, false, 0},
    {"quantize static token", 0, FP8GEMM_E4M3FN, FP8GEMM_PER_TOKEN, 0, true, false, 0},
    {"quantize static block2d", 0, FP8GEMM_E4M3FN, FP8GEMM_PER_BLOCK2D, 2, true, false, 0},
    {"mx e4m3fn floor", 1, FP8GEMM_E4M3FN, 0, 0, false, false, FP8GEMM_MX_FLOOR},
    {"mx e2m1 rceil", 1, FP8GEMM_E2M1, 0, 0, false, false, FP8GEMM_MX_RCEIL},
    {"cast e4m3fn", 2, FP8GEMM_E4M3FN, 0, 0, false, false, 0},
    {"cast e5m2 sat", 2, FP8GEMM_E5M2, 0, 0, false, false, 1},
    {"cast e2m1", 2, FP8GEMM_E2M1, 0, 0, false, false, 0},
    {"cast e8m0", 2, FP8GEMM_E8M0, 0, 0, false, false, 0},
};

/* A [B, M, K] tensor stored as [M, B, K] (a permuted view, like vLLM's [m, b, K]) and
 * also with a padded, reversed-looking stride pattern; both compared to contiguous. */
static void test_strided_equals_contiguous(void) {
  enum { B = 3, M = 5, K = 64, N = B * M * K };
  const fp8gemm_dtype wides[3] = {FP8GEMM_F32, FP8GEMM_BF16, FP8GEMM_F16};
  float *vals = malloc(N * sizeof(float));
  void *contig = malloc(N * 4), *perm = malloc(N * 4), *padded = malloc(2 * N * 4);
  uint8_t *o0[3], *o1[3];
  for (int v = 0; v < 3; v++) {
    o0[v] = malloc(N * 4);
    o1[v] = malloc(N * 4);
  }
  for (int i = 0; i < N; i++) vals[i] = random_value();
  const int64_t dims[3] = {B, M, K};
  for (int w = 0; w < 3; w++) {
    fp8gemm_dtype dt = wides[w];
    for (int b = 0; b < B; b++)
      for (int m = 0; m < M; m++)
        for (int k = 0; k < K; k++) {
          float v = vals[(b * M + m) * K + k];
          store_wide(contig, dt, (b * M + m) * K + k, v);
          store_wide(perm, dt, (m * B + b) * K + k, v);
          store_wide(padded, dt, b * (2 * M * K) + m * (2 * K) + 2 * k, v);
        }
    fp8gemm_tensor views[3];
    views[0] = desc(dt, 3, dims, contig);
    views[1] = views[0];
    views[1].data = perm;
    views[1].strides[0] = K;
    views[1].strides[1] = B * K;
    views[2] = views[0];
    views[2].data = padded;
    views[2].strides[0] = 2 * M * K;
    views[2].strides[1] = 2 * K;
    views[2].strides[2] = 2;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
      fp8gemm_tensor d0[3], d1[3];
      for (int v = 0; v < 3; v++) {
        memset(o0[v], 0, N * 4);
        memset(o1[v], 0, N * 4);
        fp8gemm_status s = run_case(&cases[c], &views[v], o0[v], o1[v], &d0[v], &d1[v]);
        CHECK(s == FP8GEMM_OK, "%s %s view %d: %s", cases[c].name, fp8gemm_dtype_name(dt), v,
              fp8gemm_last_error());
      }
      for (int v = 1; v < 3; v++) {
        CHECK(memcmp(o0[0], o0[v], N * 4) == 0 && memcmp(o1[0], o1[v], N * 4) == 0,
              "%s %s: view %d differs from contiguous", cases[c].name, fp8gemm_dtype_name(dt), v);
      }
    }
  }
  /* Dequantize of strided codes (fp8 transposed view, e2m1 padded rows). */
  uint8_t codes[N], codes_t[N], codes4[N], codes4p[2 * N];
  for (int i = 0; i < N; i++) codes[i] = (uint8_t)next_u32();
  const int64_t d2[2] = {B * M, K}, d2t[2] = {K, B * M};
  for (int r = 0; r < B * M; r++)
    for (int k = 0; k < K; k++) codes_t[k * B * M + r] = codes[r * K + k];
  for (int i = 0; i < N / 2; i++) codes4[i] = codes[i];
  for (int r = 0; r < B * M; r++)
    for (int k = 0; k < K / 2; k++) codes4p[r * K + k] = codes4[r * K / 2 + k];
  float f32_scale[B * M];
  for (int r = 0; r < B * M; r++) f32_scale[r] = 0.5f + (float)r;
  const int64_t ds[2] = {B * M, 1};
  fp8gemm_tensor sc = desc(FP8GEMM_F32, 2, ds, f32_scale);
  for (int fp4 = 0; fp4 < 2; fp4++) {
    fp8gemm_tensor a = desc(fp4 ? FP8GEMM_E2M1 : FP8GEMM_E5M2, 2, d2, fp4 ? (void *)codes4 : codes);
    fp8gemm_tensor b = a;
    if (fp4) {
      b.data = codes4p;
      b.strides[0] = 2 * K; /* padded rows, in elements */
    } else {
      fp8gemm_tensor t = desc(FP8GEMM_E5M2, 2, d2t, codes_t);
      b.data = t.data;
      b.strides[0] = 1;
      b.strides[1] = B * M;
    }
    fp8gemm_tensor oa = desc(FP8GEMM_BF16, 2, d2, o0[0]), ob = desc(FP8GEMM_BF16, 2, d2, o0[1]);
    CHECK(fp8gemm_fp8_dequantize(&a, &sc, FP8GEMM_BF16, 0, &oa) == FP8GEMM_OK, "%s",
          fp8gemm_last_error());
    CHECK(fp8gemm_fp8_dequantize(&b, &sc, FP8GEMM_BF16, 0, &ob) == FP8GEMM_OK, "%s",
          fp8gemm_last_error());
    CHECK(memcmp(o0[0], o0[1], N * 2) == 0, "strided %s dequantize differs",
          fp4 ? "e2m1" : "e5m2");
  }
  for (int v = 0; v < 3; v++) {
    free(o0[v]);
    free(o1[v]);
  }
  free(vals);
  free(contig);
  free(perm);
  free(padded);
}

/* ----------------------------------------- infer and real agree on descriptors */
static void test_infer_matches_real(void) {
  const int64_t shapes[][4] = {{1, 32}, {3, 64}, {2, 3, 96}, {1, 1, 1, 32}, {0, 32}, {4, 0}};
  const int ranks[] = {2, 2, 3, 4, 2, 2};
  static float x[4096];
  static uint8_t o0[4096 * 4], o1[4096 * 4];
  for (size_t s = 0; s < sizeof ranks / sizeof ranks[0]; s++) {
    fp8gemm_tensor in = desc(FP8GEMM_F32, ranks[s], shapes[s], x);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
      fp8gemm_tensor d0, d1;
      fp8gemm_status st = run_case(&cases[c], &in, o0, o1, &d0, &d1);
      int64_t K = shapes[s][ranks[s] - 1];
      bool mx_bad = cases[c].op == 1 && K % 32 != 0;
      if (mx_bad) {
        CHECK(st == FP8GEMM_INVALID_ARGUMENT, "%s on K=%lld rejected", cases[c].name,
              (long long)K);
        continue;
      }
      CHECK(st == FP8GEMM_OK, "%s shape %zu: %s", cases[c].name, s, fp8gemm_last_error());
      /* q has the input's shape, contiguous. */
      CHECK(d0.ndim == in.ndim && memcmp(d0.dims, in.dims, sizeof(int64_t) * in.ndim) == 0,
            "%s: q shape is the input's", cases[c].name);
    }
  }
  /* Direct: real op rejects a q descriptor that differs from infer's by one element. */
  const int64_t d[2] = {3, 64};
  fp8gemm_tensor in = desc(FP8GEMM_F32, 2, d, x), qd, sd;
  CHECK(fp8gemm_fp8_quantize_infer(&in, FP8GEMM_E4M3FN, FP8GEMM_PER_BLOCK, 128, NULL, NULL,
                                   FP8GEMM_DEFAULT_MIN_SCALE, &qd, &sd) == FP8GEMM_OK,
        "infer");
  CHECK(sd.ndim == 2 && sd.dims[0] == 3 && sd.dims[1] == 1, "block 1x128 of K=64 -> [3, 1]");
  qd.data = o0;
  sd.data = o1;
  fp8gemm_tensor s_wrong = sd;
  s_wrong.dims[1] = 2;
  CHECK(fp8gemm_fp8_quantize(&in, FP8GEMM_E4M3FN, FP8GEMM_PER_BLOCK, 128, NULL, NULL,
                             FP8GEMM_DEFAULT_MIN_SCALE, &qd, &s_wrong) == FP8GEMM_INVALID_ARGUMENT,
        "real rejects a scale_out the infer did not produce");
  CHECK(fp8gemm_fp8_quantize(&in, FP8GEMM_E4M3FN, FP8GEMM_PER_BLOCK, 128, NULL, NULL,
                             FP8GEMM_DEFAULT_MIN_SCALE, &qd, &sd) == FP8GEMM_OK,
        "real accepts infer's descriptors");
  /* Scale shapes per granularity, [2, 5, 7] input, g = 3. */
  const int64_t d3[3] = {2, 5, 7};
  fp8gemm_tensor in3 = desc(FP8GEMM_BF16, 3, d3, x);
  const struct { fp8gemm_granularity g; int rank; int64_t dims[3]; } want[] = {
      {FP8GEMM_PER_TENSOR, 1, {1}},
      {FP8GEMM_PER_TOKEN, 3, {2, 5, 1}},
      {FP8GEMM_PER_BLOCK, 3, {2, 5, 3}},
      {FP8GEMM_PER_BLOCK2D, 3, {2, 2, 3}},
  };
  for (int i = 0; i < 4; i++) {
    CHECK(fp8gemm_fp8_quantize_infer(&in3, FP8GEMM_E5M2, want[i].g, 3, NULL, NULL, 1e-3, &qd,
                                     &sd) == FP8GEMM_OK,
          "infer gran %d", (int)want[i].g);
    CHECK(sd.ndim == want[i].rank && memcmp(sd.dims, want[i].dims, 8 * want[i].rank) == 0 &&
              sd.dtype == FP8GEMM_F32,
          "scale shape of granularity %d", (int)want[i].g);
    CHECK(qd.dtype == FP8GEMM_E5M2 && qd.ndim == 3 && qd.strides[0] == 35 && qd.strides[2] == 1,
          "q contiguous");
  }
  fp8gemm_tensor md0, md1;
  CHECK(fp8gemm_mx_quantize_infer(&in, FP8GEMM_E2M1, 32, FP8GEMM_MX_RCEIL, &md0, &md1) ==
                FP8GEMM_OK &&
            md0.dtype == FP8GEMM_E2M1 && md1.dtype == FP8GEMM_E8M0 && md1.dims[1] == 2,
        "mx infer: e2m1 q and e8m0 [3, 2] scales");
}

/* ------------------------------- every ISA level gives the bytes of the scalar one */
/* (f32, bf16 and fp16 inputs: contiguous 16-bit rows take the fused kernel entries, and
 * per-token rows prefetch the next row while quantizing, on every thread count) */
static void test_isa_levels(void) {
  const fp8gemm_dtype in_types[] = {FP8GEMM_F32, FP8GEMM_BF16, FP8GEMM_F16};
  const int64_t shapes[][2] = {{1, 1}, {3, 31}, {2, 33}, {5, 63}, {1, 65}, {7, 1000}, {2, 9000},
                               {1, 40000}, {3, 50000}, {257, 320}};
  fp8gemm_isa saved = fp8gemm_get_max_isa(), top = fp8gemm_isa_detected();
  int saved_threads = fp8gemm_get_num_threads();
  for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
    int64_t n = shapes[s][0] * shapes[s][1];
    float *x = malloc((size_t)n * sizeof(float));
    uint8_t *ref0 = malloc((size_t)n * 4), *ref1 = malloc((size_t)n * 4);
    uint8_t *got0 = malloc((size_t)n * 4), *got1 = malloc((size_t)n * 4);
    for (size_t t = 0; t < sizeof in_types / sizeof in_types[0]; t++) {
      for (int64_t i = 0; i < n; i++) store_wide(x, in_types[t], i, random_value());
      fp8gemm_tensor in = desc(in_types[t], 2, shapes[s], x);
      for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        if (cases[c].op == 1 && shapes[s][1] % 32) continue;
        if (cases[c].to == FP8GEMM_E2M1 && shapes[s][1] % 2) continue;
        fp8gemm_tensor d0, d1;
        memset(ref0, 0, (size_t)n * 4);
        memset(ref1, 0, (size_t)n * 4);
        /* the reference: scalar kernels on one thread; the rest run on three */
        fp8gemm_set_max_isa(FP8GEMM_ISA_SCALAR);
        fp8gemm_set_num_threads(1);
        if (run_case(&cases[c], &in, ref0, ref1, &d0, &d1) != FP8GEMM_OK) {
          CHECK(0, "%s scalar: %s", cases[c].name, fp8gemm_last_error());
          continue;
        }
        fp8gemm_set_num_threads(3);
        for (int isa = 0; isa <= (int)top; isa++) {
          memset(got0, 0, (size_t)n * 4);
          memset(got1, 0, (size_t)n * 4);
          fp8gemm_set_max_isa((fp8gemm_isa)isa);
          CHECK(run_case(&cases[c], &in, got0, got1, &d0, &d1) == FP8GEMM_OK, "%s", cases[c].name);
          CHECK(memcmp(ref0, got0, (size_t)n * 4) == 0 && memcmp(ref1, got1, (size_t)n * 4) == 0,
                "%s at %s on %s %lldx%lld (3 threads) differs from scalar on 1 thread",
                cases[c].name, fp8gemm_isa_name((fp8gemm_isa)isa), fp8gemm_dtype_name(in_types[t]),
                (long long)shapes[s][0], (long long)shapes[s][1]);
        }
      }
    }
    free(x);
    free(ref0);
    free(ref1);
    free(got0);
    free(got1);
  }
  for (int isa = (int)top + 1; isa < FP8GEMM_ISA_COUNT; isa++)
    printf("isa %s: not available on this CPU, not tested\n", fp8gemm_isa_name((fp8gemm_isa)isa));
  fp8gemm_set_max_isa(saved);
  fp8gemm_set_num_threads(saved_threads);
}

/* fp8_cast of a contiguous f32 tensor of >= 32 Mi codes streams its codes (walked flat,
 * non-temporal stores from the first 32-byte-aligned code on, the head by the reference):
 * its bytes, at an odd output address, on every level and 1 and 2 threads (spans of
 * 1 Mi, and of the 2-thread tasks: the AVX2 kernel walks each as 4 far-apart parts),
 * must be those of its rows cast one by one (each below the streaming size) by the
 * scalar kernels. */
static void test_cast_streaming(void) {
  const int64_t n = ((int64_t)32 << 20) + 4099;
  const int64_t dims[2] = {3, n / 3 + 1};
  const int64_t numel = dims[0] * dims[1];
  float *x = malloc((size_t)numel * sizeof(float));
  uint8_t *ref = malloc((size_t)numel + 64), *got = malloc((size_t)numel + 64);
  if (!x || !ref || !got) {
    CHECK(0, "cast streaming: out of memory");
    goto done;
  }
  for (int64_t i = 0; i < numel; i++) x[i] = random_value();
  fp8gemm_isa saved = fp8gemm_get_max_isa(), top = fp8gemm_isa_detected();
  int saved_threads = fp8gemm_get_num_threads();
  fp8gemm_tensor in = desc(FP8GEMM_F32, 2, dims, x);
  const fp8gemm_dtype tos[2] = {FP8GEMM_E4M3FN, FP8GEMM_E5M2};
  for (int t = 0; t < 2; t++) {
    fp8gemm_tensor d;
    CHECK(fp8gemm_fp8_cast_infer(&in, tos[t], t, &d) == FP8GEMM_OK, "cast streaming infer");
    /* the reference: each row on its own (below the streaming size), scalar, 1 thread */
    fp8gemm_set_max_isa(FP8GEMM_ISA_SCALAR);
    fp8gemm_set_num_threads(1);
    for (int64_t r = 0; r < dims[0]; r++) {
      fp8gemm_tensor row = desc(FP8GEMM_F32, 1, &dims[1], x + r * dims[1]), rd;
      CHECK(fp8gemm_fp8_cast_infer(&row, tos[t], t, &rd) == FP8GEMM_OK, "cast row infer");
      rd.data = ref + 1 + r * dims[1];
      CHECK(fp8gemm_fp8_cast(&row, tos[t], t, &rd) == FP8GEMM_OK, "cast row");
    }
    for (int threads = 1; threads <= 2; threads++)
      for (int isa = 0; isa <= (int)top; isa++) {
        fp8gemm_set_num_threads(threads);
        memset(got, 0, (size_t)numel + 64);
        d.data = got + 1;
        fp8gemm_set_max_isa((fp8gemm_isa)isa);
        CHECK(fp8gemm_fp8_cast(&in, tos[t], t, &d) == FP8GEMM_OK, "cast streaming");
        CHECK(memcmp(ref + 1, got + 1, (size_t)numel) == 0 && got[0] == 0 && got[numel + 1] == 0,
              "cast of %lld f32 to %s (saturate %d) at %s on %d threads differs from its rows cast by scalar",
              (long long)numel, fp8gemm_dtype_name(tos[t]), t, fp8gemm_isa_name((fp8gemm_isa)isa),
              threads);
      }
  }
  fp8gemm_set_max_isa(saved);
  fp8gemm_set_num_threads(saved_threads);
done:
  free(x);
  free(ref);
  free(got);
}

/* Dynamic per-token fp8_quantize of >= 32 Mi codes streams its codes (quantize_wide_pf_nt,
 * one nt_fence per task) where the rows own whole lines: q 64-byte aligned, K = 4096. Its
 * codes and scales, f32 and bf16 input, on every level and 2 threads, must be those of
 * its rows quantized one by one (each below the streaming size) by the scalar kernels;
 * and the same at an odd q address (no row owns its lines: ordinary stores). */
static void test_token_streaming(void) {
  enum { K = 4096 };
  const int64_t R = ((int64_t)32 << 20) / K + 3, numel = R * K, dims[2] = {R, K},
                sdims[2] = {R, 1};
  float *x = malloc((size_t)numel * sizeof(float)), *sref = malloc((size_t)R * sizeof(float)),
        *sgot = malloc((size_t)R * sizeof(float));
  uint16_t *h = malloc((size_t)numel * sizeof(uint16_t));
  uint8_t *ref = malloc((size_t)numel), *got = aligned_alloc(64, (size_t)numel + 128);
  if (!x || !h || !sref || !sgot || !ref || !got) {
    CHECK(0, "token streaming: out of memory");
    goto done;
  }
  for (int64_t i = 0; i < numel; i++) {
    x[i] = random_value();
    h[i] = fp8g_f32_to_bf16(x[i]);
  }
  fp8gemm_isa saved = fp8gemm_get_max_isa(), top = fp8gemm_isa_detected();
  int saved_threads = fp8gemm_get_num_threads();
  for (int dt = 0; dt < 2; dt++) {
    fp8gemm_dtype in_dt = dt ? FP8GEMM_BF16 : FP8GEMM_F32;
    void *data = dt ? (void *)h : (void *)x;
    size_t w = dt ? 2 : 4;
    fp8gemm_set_max_isa(FP8GEMM_ISA_SCALAR);
    fp8gemm_set_num_threads(1);
    for (int64_t r = 0; r < R; r++) {
      const int64_t rd[2] = {1, K}, rs[2] = {1, 1};
      fp8gemm_tensor in = desc(in_dt, 2, rd, (char *)data + (size_t)(r * K) * w);
      fp8gemm_tensor qt = desc(FP8GEMM_E4M3FN, 2, rd, ref + r * K), st = desc(FP8GEMM_F32, 2, rs, sref + r);
      CHECK(fp8gemm_fp8_quantize(&in, FP8GEMM_E4M3FN, FP8GEMM_PER_TOKEN, 0, NULL, NULL,
                                 FP8GEMM_DEFAULT_MIN_SCALE, &qt, &st) == FP8GEMM_OK,
            "token row: %s", fp8gemm_last_error());
    }
    fp8gemm_set_num_threads(2);
    fp8gemm_tensor in = desc(in_dt, 2, dims, data), st = desc(FP8GEMM_F32, 2, sdims, sgot);
    for (int off = 0; off < 2; off++)
      for (int isa = 0; isa <= (int)top; isa++) {
        memset(got, 0, (size_t)numel + 128);
        uint8_t *q = got + (off ? 33 : 64);
        fp8gemm_tensor qt = desc(FP8GEMM_E4M3FN, 2, dims, q);
        fp8gemm_set_max_isa((fp8gemm_isa)isa);
        CHECK(fp8gemm_fp8_quantize(&in, FP8GEMM_E4M3FN, FP8GEMM_PER_TOKEN, 0, NULL, NULL,
                                   FP8GEMM_DEFAULT_MIN_SCALE, &qt, &st) == FP8GEMM_OK,
              "token streaming: %s", fp8gemm_last_error());
        CHECK(memcmp(ref, q, (size_t)numel) == 0 && q[-1] == 0 && q[numel] == 0 &&
                  memcmp(sref, sgot, (size_t)R * sizeof(float)) == 0,
              "per-token quantize of %lld %s at q+%d %s on 2 threads differs from its rows by scalar",
              (long long)numel, fp8gemm_dtype_name(in_dt), off ? 33 : 64,
              fp8gemm_isa_name((fp8gemm_isa)isa));
      }
  }
  fp8gemm_set_max_isa(saved);
  fp8gemm_set_num_threads(saved_threads);
done:
  free(x);
  free(h);
  free(sref);
  free(sgot);
  free(ref);
  free(got);
}

/* mx_quantize walks a contiguous f32 tensor flat in spans of up to 64 Ki elements (spans
 * that cross rows), f32 rows of unit stride in spans of up to 64 Ki within each row, and
 * any other input (here: every second element) in 2 Ki spans through a buffer. Rows
 * longer than a span and rows that do not divide it, on 1-3 threads and every level,
 * must give each block's bytes as the scalar reference kernel makes them one by one,
 * and write nothing past the outputs. */
static void test_mx_spans(void) {
  const int64_t shapes[][2] = {{3, 65632}, {7, 24608}, {5, 96}};
  const fp8gemm_dtype elems[3] = {FP8GEMM_E4M3FN, FP8GEMM_E5M2, FP8GEMM_E2M1};
  const fp8gemm_mx_scale_mode modes[3] = {FP8GEMM_MX_FLOOR, FP8GEMM_MX_RCEIL, FP8GEMM_MX_RCEIL};
  fp8gemm_isa saved = fp8gemm_get_max_isa(), top = fp8gemm_isa_detected();
  int saved_threads = fp8gemm_get_num_threads();
  for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
    const int64_t R = shapes[s][0], K = shapes[s][1], n = R * K, pad = 64;
    float *x = malloc((size_t)n * sizeof(float));
    float *wide = malloc((size_t)(R * (K + pad)) * sizeof(float)); /* rows K + pad apart */
    float *every2 = malloc((size_t)(2 * n) * sizeof(float));        /* element stride 2 */
    uint8_t *rq = malloc((size_t)n), *rs = malloc((size_t)(n / 32));
    uint8_t *q = malloc((size_t)n + 64), *sc = malloc((size_t)(n / 32) + 64);
    if (!x || !wide || !every2 || !rq || !rs || !q || !sc) {
      CHECK(0, "mx spans: out of memory");
      goto next;
    }
    for (int64_t i = 0; i < n; i++) x[i] = random_value();
    for (int64_t r = 0; r < R; r++)
      for (int64_t k = 0; k < K; k++) {
        wide[r * (K + pad) + k] = x[r * K + k];
        every2[2 * (r * K + k)] = x[r * K + k];
      }
    fp8gemm_tensor views[3];
    views[0] = desc(FP8GEMM_F32, 2, shapes[s], x);
    views[1] = views[0];
    views[1].data = wide;
    views[1].strides[0] = K + pad;
    views[2] = views[0];
    views[2].data = every2;
    views[2].strides[0] = 2 * K;
    views[2].strides[1] = 2;
    for (int e = 0; e < 3; e++) {
      bool e2m1 = elems[e] == FP8GEMM_E2M1;
      int64_t qn = e2m1 ? n / 2 : n;
      for (int64_t b = 0; b < n / 32; b++)
        fp8g_quant_ref.mx_quantize(x + 32 * b, 1, elems[e], modes[e], rq + (e2m1 ? 16 : 32) * b,
                                   rs + b);
      fp8gemm_tensor qd, sd;
      CHECK(fp8gemm_mx_quantize_infer(&views[0], elems[e], 32, modes[e], &qd, &sd) == FP8GEMM_OK,
            "mx spans infer");
      qd.data = q;
      sd.data = sc;
      for (int v = 0; v < 3; v++)
        for (int threads = 1; threads <= 3; threads++) {
          fp8gemm_set_num_threads(threads);
          for (int isa = 0; isa <= (int)top; isa++) {
            fp8gemm_set_max_isa((fp8gemm_isa)isa);
            fill_canary(q, (size_t)qn + 64);
            fill_canary(sc, (size_t)(n / 32) + 64);
            CHECK(fp8gemm_mx_quantize(&views[v], elems[e], 32, modes[e], &qd, &sd) == FP8GEMM_OK,
                  "%s", fp8gemm_last_error());
            CHECK(memcmp(q, rq, (size_t)qn) == 0 && memcmp(sc, rs, (size_t)(n / 32)) == 0 &&
                      all_canary(q + qn, 64) && all_canary(sc + n / 32, 64),
                  "mx %s %lldx%lld view %d at %s on %d threads: not the reference's blocks",
                  fp8gemm_dtype_name(elems[e]), (long long)R, (long long)K, v,
                  fp8gemm_isa_name((fp8gemm_isa)isa), threads);
          }
        }
    }
  next:
    free(x);
    free(wide);
    free(every2);
    free(rq);
    free(rs);
    free(q);
    free(sc);
  }
  fp8gemm_set_max_isa(saved);
  fp8gemm_set_num_threads(saved_threads);
}

/* fp8_dequantize walks contiguous fp8 codes under one scale (none, or per tensor) flat in
 * spans of up to 1 Mi codes that cross rows (2 x 600036: two spans on 1 thread, each
 * walked by the AVX2 kernel as 4 far-apart parts); per-token scales, strided codes, batches
 * with a gap between them (each row contiguous, the tensor not) and packed e2m1 codes
 * (a flat code index is not a byte offset there) keep their per-row spans. Every code
 * value (NaN and Inf included), rows longer than a span, not dividing it, and many short
 * rows, codes at an odd address and outputs one element past a 16-byte boundary, on 1-3
 * threads and every level: each output must be the scalar reference kernel's, row by
 * row with the row's scale, and nothing may be written past the output. */
static void test_dequant_spans(void) {
  const int64_t shapes[][2] = {{3, 65632}, {7, 24608}, {2100, 40}, {1, 70001}, {5, 3},
                               {2, 600036}};
  const fp8gemm_dtype froms[4] = {FP8GEMM_E4M3FN, FP8GEMM_E5M2, FP8GEMM_E4M3FNUZ, FP8GEMM_E2M1};
  const fp8gemm_dtype outs[3] = {FP8GEMM_BF16, FP8GEMM_F32, FP8GEMM_F16};
  enum { GAP = 32 }; /* codes between two batches of the gapped view (even: e2m1) */
  fp8gemm_isa saved = fp8gemm_get_max_isa(), top = fp8gemm_isa_detected();
  int saved_threads = fp8gemm_get_num_threads();
  for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
    const int64_t R = shapes[s][0], K = shapes[s][1], n = R * K;
    /* the gapped view: [B, R / B, K], batches GAP codes apart */
    const int64_t B = R % 2 ? R : 2, gdims[3] = {B, R / B, K};
    uint8_t *codes = malloc((size_t)n + 1), *every2 = malloc((size_t)(2 * n)),
            *gapped = malloc((size_t)(n + B * GAP));
    float *tok = malloc((size_t)R * sizeof(float));
    char *ref = malloc((size_t)n * 4), *got = malloc((size_t)n * 4 + 128);
    if (!codes || !every2 || !gapped || !tok || !ref || !got) {
      CHECK(0, "dequant spans: out of memory");
      goto next;
    }
    for (int64_t i = 0; i < n; i++) codes[1 + i] = (uint8_t)next_u32();
    for (int64_t i = 0; i < n; i++) every2[2 * i] = codes[1 + i];
    for (int64_t r = 0; r < R; r++) tok[r] = 0.01f + (float)(next_u32() % 1000) * 0.37f;
    float one = 0.0123f;
    for (int f = 0; f < 4; f++) {
      bool e2m1 = froms[f] == FP8GEMM_E2M1;
      if (e2m1 && K % 2) continue; /* packed rows start on a byte */
      /* a row's bytes (e2m1 packs two codes a byte: the first n / 2 bytes of codes + 1) */
      const int64_t rbytes = e2m1 ? K / 2 : K;
      const int64_t bbytes = (R / B) * rbytes; /* one batch of the gapped view */
      for (int64_t b = 0; b < B; b++)
        memcpy(gapped + b * (bbytes + GAP), codes + 1 + b * bbytes, (size_t)bbytes);
      for (int o = 0; o < 3; o++) {
        size_t ob = outs[o] == FP8GEMM_F32 ? 4 : 2;
        /* scale: 0 none, 1 per tensor, 2 per token; view: 0 contiguous (odd address), 1
         * every second code (not for e2m1), 2 batches GAP codes apart */
        for (int sk = 0; sk < 3; sk++)
          for (int v = 0; v < 3; v++) {
            if (e2m1 && v == 1) continue;
            for (int64_t r = 0; r < R; r++)
              fp8g_quant_ref.dequantize_narrow(codes + 1 + r * rbytes, (size_t)K, froms[f],
                                               sk == 0 ? 1.0f : sk == 1 ? one : tok[r], outs[o],
                                               ref + (size_t)(r * K) * ob);
            fp8gemm_tensor qt = v == 2   ? desc(froms[f], 3, gdims, gapped)
                                : v == 1 ? desc(froms[f], 2, shapes[s], every2)
                                         : desc(froms[f], 2, shapes[s], codes + 1);
            if (v == 1) {
              qt.strides[0] = 2 * K;
              qt.strides[1] = 2;
            }
            if (v == 2) qt.strides[0] = (R / B) * K + (e2m1 ? 2 : 1) * GAP;
            const int64_t sd1 = 1, sdt[2] = {R, 1}, sdt3[3] = {B, R / B, 1};
            fp8gemm_tensor st = sk == 1   ? desc(FP8GEMM_F32, 1, &sd1, &one)
                                : v == 2 ? desc(FP8GEMM_F32, 3, sdt3, tok)
                                         : desc(FP8GEMM_F32, 2, sdt, tok);
            fp8gemm_tensor od;
            CHECK(fp8gemm_fp8_dequantize_infer(&qt, sk ? &st : NULL, outs[o], 0, &od) == FP8GEMM_OK,
                  "dequant spans infer: %s", fp8gemm_last_error());
            od.data = got + ob; /* one element past a 16-byte boundary */
            for (int threads = 1; threads <= 3; threads++) {
              fp8gemm_set_num_threads(threads);
              for (int isa = 0; isa <= (int)top; isa++) {
                fp8gemm_set_max_isa((fp8gemm_isa)isa);
                fill_canary(got, (size_t)n * ob + 128);
                CHECK(fp8gemm_fp8_dequantize(&qt, sk ? &st : NULL, outs[o], 0, &od) == FP8GEMM_OK,
                      "%s", fp8gemm_last_error());
                CHECK(memcmp(got + ob, ref, (size_t)n * ob) == 0 && all_canary(got, ob) &&
                          all_canary(got + ob + (size_t)n * ob, 64),
                      "dequantize %s -> %s %lldx%lld scale %d view %d at %s on %d threads: not "
                      "the reference's rows",
                      fp8gemm_dtype_name(froms[f]), fp8gemm_dtype_name(outs[o]), (long long)R,
                      (long long)K, sk, v, fp8gemm_isa_name((fp8gemm_isa)isa), threads);
              }
            }
          }
      }
    }
  next:
    free(codes);
    free(every2);
    free(gapped);
    free(tok);
    free(ref);
    free(got);
  }
  fp8gemm_set_max_isa(saved);
  fp8gemm_set_num_threads(saved_threads);
}

/* Flat bf16 outputs of >= 32 MiB go through dequantize_narrow_nt (spans of 1 Mi codes:
 * each streams whole lines from its first 64-byte boundary on). 16 Mi + 3 rows' worth of
 * codes, out at 0, 2 and 46 bytes past a line (f32: 0, 4, 44; spans start mid-line), no scale and per
 * tensor, 1 and 2 threads, every level: the reference kernel's bytes, canaries on both
 * sides. An f32 output of the same codes takes the ordinary stores (checked the same). */
static void test_dequant_streaming(void) {
  enum { K = 4099 };
  const int64_t R = ((int64_t)16 << 20) / K + 3, n = R * K, dims[2] = {R, K}, one = 1;
  uint8_t *codes = malloc((size_t)n);
  char *ref = malloc((size_t)n * 4);
  size_t gsz = ((size_t)n * 4 + 256 + 63) / 64 * 64;
  char *got = aligned_alloc(64, gsz);
  if (!codes || !ref || !got) {
    CHECK(0, "dequant streaming: out of memory");
    goto done;
  }
  for (int64_t i = 0; i < n; i++) codes[i] = (uint8_t)next_u32();
  fp8gemm_isa saved = fp8gemm_get_max_isa(), top = fp8gemm_isa_detected();
  int saved_threads = fp8gemm_get_num_threads();
  float sv = 0.0123f;
  const fp8gemm_dtype outs[2] = {FP8GEMM_BF16, FP8GEMM_F32};
  /* bytes past a line: mid-line for both, yet aligned to the element (f32: 4 bytes) */
  const size_t offs[2][3] = {{0, 2, 46}, {0, 4, 44}};
  for (int o = 0; o < 2; o++)
    for (int sk = 0; sk < 2; sk++) {
      size_t ob = outs[o] == FP8GEMM_F32 ? 4 : 2;
      fp8g_quant_ref.dequantize_narrow(codes, (size_t)n, FP8GEMM_E4M3FN, sk ? sv : 1.0f, outs[o], ref);
      fp8gemm_tensor qt = desc(FP8GEMM_E4M3FN, 2, dims, codes), st = desc(FP8GEMM_F32, 1, &one, &sv);
      for (int a = 0; a < 3; a++)
        for (int threads = 1; threads <= 2; threads++)
          for (int isa = 0; isa <= (int)top; isa++) {
            fp8gemm_set_num_threads(threads);
            fp8gemm_set_max_isa((fp8gemm_isa)isa);
            size_t off = 64 + offs[o][a];
            fp8gemm_tensor od = desc(outs[o], 2, dims, got + off);
            fill_canary(got, (size_t)n * ob + off + 64);
            CHECK(fp8gemm_fp8_dequantize(&qt, sk ? &st : NULL, outs[o], 0, &od) == FP8GEMM_OK, "%s",
                  fp8gemm_last_error());
            CHECK(memcmp(got + off, ref, (size_t)n * ob) == 0 && all_canary(got, off) &&
                      all_canary(got + off + (size_t)n * ob, 64),
                  "dequantize streaming e4m3fn -> %s scale %d, out %zu past 64, %s, %d threads: "
                  "not the reference's bytes",
                  fp8gemm_dtype_name(outs[o]), sk, offs[o][a], fp8gemm_isa_name((fp8gemm_isa)isa),
                  threads);
          }
    }
  fp8gemm_set_max_isa(saved);
  fp8gemm_set_num_threads(saved_threads);
done:
  free(codes);
  free(ref);
  free(got);
}

/* f32 -> fp8 MX outputs of >= 32 Mi codes are streamed (mx_quantize_nt in spans of
 * 1 Mi): a contiguous tensor walked flat and rows of unit stride 32 floats apart, each
 * at a 64-byte-aligned q, half a line past one and an odd q, on 1 and 2 threads and
 * every level, must give the reference kernel's bytes and leave the canaries on both
 * sides of q and after the scales alone. K = 4128 is not a multiple of 64, so rows
 * start mid-line. */
static void test_mx_streaming(void) {
  enum { K = 4128, PAD = 32 };
  const int64_t R = ((int64_t)32 << 20) / K + 3, n = R * K, dims[2] = {R, K},
                sdims[2] = {R, K / 32};
  float *x = malloc((size_t)(R * (K + PAD)) * sizeof(float));
  uint8_t *ref = malloc((size_t)n), *rs = malloc((size_t)(n / 32));
  size_t gsz = ((size_t)n + 256 + 63) / 64 * 64; /* a multiple of the alignment (C11) */
  uint8_t *got = aligned_alloc(64, gsz), *sc = malloc((size_t)(n / 32) + 64);
  if (!x || !ref || !rs || !got || !sc) {
    CHECK(0, "mx streaming: out of memory");
    goto done;
  }
  for (int64_t i = 0; i < R * (K + PAD); i++) x[i] = random_value();
  fp8gemm_isa saved = fp8gemm_get_max_isa(), top = fp8gemm_isa_detected();
  int saved_threads = fp8gemm_get_num_threads();
  const fp8gemm_dtype elems[2] = {FP8GEMM_E4M3FN, FP8GEMM_E5M2};
  const int offs[3] = {0, 32, 33};
  for (int v = 0; v < 2; v++) {
    fp8gemm_tensor in = desc(FP8GEMM_F32, 2, dims, x);
    if (v) in.strides[0] = K + PAD;
    for (int e = 0; e < 2; e++) {
      fp8gemm_mx_scale_mode mode = e ? FP8GEMM_MX_RCEIL : FP8GEMM_MX_FLOOR;
      for (int64_t r = 0; r < R; r++)
        fp8g_quant_ref.mx_quantize(x + r * (v ? K + PAD : K), K / 32, elems[e], mode,
                                   ref + r * K, rs + r * (K / 32));
      for (int threads = 1; threads <= 2; threads++)
        for (int o = 0; o < 3; o++)
          for (int isa = 0; isa <= (int)top; isa++) {
            fp8gemm_set_num_threads(threads);
            fp8gemm_set_max_isa((fp8gemm_isa)isa);
            uint8_t *q = got + 64 + offs[o];
            fill_canary(got, gsz);
            fill_canary(sc, (size_t)(n / 32) + 64);
            fp8gemm_tensor qt = desc(elems[e], 2, dims, q), st = desc(FP8GEMM_E8M0, 2, sdims, sc);
            CHECK(fp8gemm_mx_quantize(&in, elems[e], 32, mode, &qt, &st) == FP8GEMM_OK, "%s",
                  fp8gemm_last_error());
            CHECK(memcmp(q, ref, (size_t)n) == 0 && memcmp(sc, rs, (size_t)(n / 32)) == 0 &&
                      all_canary(got, (size_t)(64 + offs[o])) && all_canary(q + n, 64) &&
                      all_canary(sc + n / 32, 64),
                  "mx %s of %lld values (%s) at q+%d on %d threads at %s: not the reference's "
                  "bytes, or a canary was hit",
                  fp8gemm_dtype_name(elems[e]), (long long)n, v ? "rows apart" : "contiguous",
                  offs[o], threads, fp8gemm_isa_name((fp8gemm_isa)isa));
          }
    }
  }
  fp8gemm_set_max_isa(saved);
  fp8gemm_set_num_threads(saved_threads);
done:
  free(x);
  free(ref);
  free(rs);
  free(got);
  free(sc);
}

/* ----------------------------------- per-token against the spec formula, by hand */
static void test_per_token_formula(void) {
  enum { R = 6, K = 50 };
  float x[R * K];
  for (int i = 0; i < R * K; i++) x[i] = random_value();
  for (int k = 0; k < K; k++) x[2 * K + k] = 0.0f;                 /* a zero row */
  for (int k = 0; k < K; k++) x[3 * K + k] = k == 7 ? NAN : 1.0f;  /* NaN in a row */
  x[4 * K + 3] = -INFINITY;                                        /* Inf row */
  uint8_t q[R * K];
  float s[R];
  const int64_t d[2] = {R, K}, ds[2] = {R, 1};
  fp8gemm_tensor in = desc(FP8GEMM_F32, 2, d, x), qt = desc(FP8GEMM_E4M3FN, 2, d, q);
  fp8gemm_tensor st = desc(FP8GEMM_F32, 2, ds, s);
  CHECK(fp8gemm_fp8_quantize(&in, FP8GEMM_E4M3FN, FP8GEMM_PER_TOKEN, 0, NULL, NULL,
                             FP8GEMM_DEFAULT_MIN_SCALE, &qt, &st) == FP8GEMM_OK,
        "%s", fp8gemm_last_error());
  const float min_s = (float)FP8GEMM_DEFAULT_MIN_SCALE;
  for (int r = 0; r < R; r++) {
    float amax = 0.0f;
    for (int k = 0; k < K; k++)
      if (!isnan(x[r * K + k]) && fabsf(x[r * K + k]) > amax) amax = fabsf(x[r * K + k]);
    float want = fmaxf(amax / 448.0f, min_s);
    CHECK(memcmp(&want, &s[r], 4) == 0, "row %d scale %a want %a", r, s[r], want);
    for (int k = 0; k < K; k++) {
      uint8_t w = fp8g_encode(FP8GEMM_E4M3FN, x[r * K + k] / want, true);
      CHECK(q[r * K + k] == w, "row %d col %d: 0x%02x want 0x%02x", r, k, q[r * K + k], w);
    }
  }
  CHECK(s[2] == min_s && q[2 * K] == 0, "zero row: finite scale, zero codes");
  CHECK(q[3 * K + 7] == 0x7f && s[3] == 1.0f / 448.0f, "NaN -> NaN code, ignored by amax");
  CHECK(isinf(s[4]), "an Inf makes the dynamic scale Inf (documented)");
}

/* ----------------------------------------------------------------- query */
static void test_query(void) {
  fp8gemm_kernel_info info = {0};
  CHECK(fp8g_query_quant(FP8GEMM_OP_FP8_QUANTIZE, FP8GEMM_SCHEME_BLOCK2D, FP8GEMM_E5M2, &info) ==
                FP8GEMM_OK &&
            info.name != NULL && info.isa <= fp8gemm_isa_active(),
        "quantize block2d e5m2 served");
  CHECK(fp8g_query_quant(FP8GEMM_OP_MX_QUANTIZE, FP8GEMM_SCHEME_MX, FP8GEMM_E2M1, &info) ==
            FP8GEMM_OK,
        "mx e2m1 served");
  CHECK(fp8g_query_quant(FP8GEMM_OP_FP8_CAST, FP8GEMM_SCHEME_ELEMENTWISE, FP8GEMM_E8M0, &info) ==
            FP8GEMM_OK,
        "cast to e8m0 served");
  CHECK(fp8g_query_quant(FP8GEMM_OP_MX_QUANTIZE, FP8GEMM_SCHEME_MX, FP8GEMM_E4M3FNUZ, &info) ==
            FP8GEMM_UNIMPLEMENTED,
        "mx e4m3fnuz not served");
  CHECK(strstr(fp8gemm_last_error(), "e4m3fnuz") != NULL, "%s", fp8gemm_last_error());
  CHECK(fp8g_query_quant(FP8GEMM_OP_FP8_DEQUANTIZE, FP8GEMM_SCHEME_MX, FP8GEMM_E4M3FN, &info) ==
            FP8GEMM_UNIMPLEMENTED,
        "dequantize is elementwise");
  fp8gemm_set_max_isa(FP8GEMM_ISA_SCALAR);
  CHECK(fp8g_query_quant(FP8GEMM_OP_FP8_CAST, FP8GEMM_SCHEME_ELEMENTWISE, FP8GEMM_E4M3FN, &info) ==
                FP8GEMM_OK &&
            info.isa == FP8GEMM_ISA_SCALAR && strcmp(info.name, "quant_ref") == 0,
        "capped at scalar: the reference");
  fp8gemm_set_max_isa(FP8GEMM_ISA_AVX512_BF16);
}

int main(void) {
  test_quantize_rejects();
  test_other_rejects();
  test_strided_equals_contiguous();
  test_infer_matches_real();
  test_isa_levels();
  test_cast_streaming();
  test_token_streaming();
  test_mx_spans();
  test_dequant_spans();
  test_dequant_streaming();
  test_mx_streaming();
  test_per_token_formula();
  test_query();
  return test_summary();
}
