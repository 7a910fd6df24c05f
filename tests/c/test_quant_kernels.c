/*
 * Every SIMD quant kernel table against the reference (kernels/ref/quant_ref.c), bit for
 * bit: every function, every dtype the reference handles, both saturate flavours, at
 * awkward lengths and unaligned offsets, on random bits, realistic values and
 * adversarial values (specials, NaN payloads, format max / overflow boundaries, exact
 * ties, subnormals), plus all 2^16 bf16 and fp16 inputs; the fused entries
 * (amax_wide, quantize_wide, dequantize_narrow) also against the compositions they are
 * defined as. Canary bytes past every
 * output must survive. Each ISA level the CPU lacks is reported as not run; the shared
 * kernel body also runs at the AVX-512 width through a portable 16-lane emulation of the
 * vector vocabulary (quant_emul16.h), on every CPU.
 */
#include <float.h>
#include <immintrin.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "formats/formats.h"
#include "kernels/quant_kernels.h"
#include "quant_emul16.h"

#define CANARY 64
#define CANARY_BYTE 0xA5

#define TEST_RNG_SEED 0x9E3779B97F4A7C15ull
#include "test_rng.h"


static const fp8gemm_dtype narrow_types[] = {FP8GEMM_E4M3FN,   FP8GEMM_E5M2, FP8GEMM_E4M3FNUZ,
                                             FP8GEMM_E5M2FNUZ, FP8GEMM_E2M1, FP8GEMM_E8M0};
#define N_NARROW (sizeof narrow_types / sizeof narrow_types[0])
/* 1024 + 32 k +- 1: around where the AVX2 f32 loop starts prefetching 4 KiB ahead
 * (QS_PF_AHEAD: more than 32 chunks) and splits the call in two */
static const size_t lengths[] = {0,    1,    2,    31,   32,   33,   63,   64,   65,     97,
                                 1000, 1055, 1056, 1057, 1088, 1089, 5003, 1000003};
#define N_LENGTHS (sizeof lengths / sizeof lengths[0])

/* Output buffers start at a random offset (a multiple of `unit`, the element size) into
 * their allocation and are followed by CANARY guard bytes. At most a few live at once. */
static struct { uint8_t *p, *base; } live[8];

static uint8_t *out_alloc(size_t bytes, size_t unit) {
  size_t off = unit * (size_t)(rnd() % (32 / unit));
  uint8_t *base = malloc(32 + bytes + CANARY), *p = base + off;
  memset(base, CANARY_BYTE, 32 + bytes + CANARY);
  for (int i = 0; i < 8; i++)
    if (!live[i].p) {
      live[i].p = p;
      live[i].base = base;
      break;
    }
  return p;
}
static void out_free(uint8_t *p) {
  for (int i = 0; i < 8; i++)
    if (live[i].p == p) {
      free(live[i].base);
      live[i].p = live[i].base = NULL;
    }
}
static bool canary_ok(const uint8_t *p, size_t bytes) {
  for (size_t i = 0; i < CANARY; i++)
    if (p[bytes + i] != CANARY_BYTE) return false;
  return true;
}
static long first_diff(const uint8_t *a, const uint8_t *b, size_t bytes) {
  for (size_t i = 0; i < bytes; i++)
    if (a[i] != b[i]) return (long)i;
  return -1;
}

/* ------------------------------------------------------------------ test data */
/* Values that sit on every edge of every format: codes, midpoints between neighbouring
 * codes (ties), one f32 ulp either side, the max and overflow thresholds. */
static size_t adversarial(float *v, size_t cap) {
  size_t n = 0;
#define PUT(x) do { if (n < cap) v[n++] = (x); } while (0)
  static const uint32_t specials[] = {
      0x00000000, 0x80000000, 0x7f800000, 0xff800000, 0x7fc00000, 0xffc00000, 0x7f800001,
      0xff800001, 0x7fbfffff, 0xffbfffff, 0x7fffffff, 0xffffffff, 0x7fc12345, 0xff812345,
      0x00000001, 0x80000001, 0x007fffff, 0x807fffff, 0x00800000, 0x80800000, 0x7f7fffff,
      0xff7fffff, 0x00400000, 0x3f800000, 0xbf800000, 0x43e80000, 0x43e80001, 0x43e7ffff,
      0x3a800000, 0x3a800001, 0x477ff000, 0x477fefff, 0x38800000, 0x387fffff, 0x33000000,
      0x33000001, 0x5f800000, 0x7f000000, 0x7effffff, 0x00200000, 0x3fc00000, 0x3fdfffff};
  for (size_t i = 0; i < sizeof specials / sizeof specials[0]; i++) PUT(fp8g_f32_from_bits(specials[i]));
  for (size_t t = 0; t < N_NARROW; t++) {
    fp8gemm_dtype d = narrow_types[t];
    int ncodes = d == FP8GEMM_E2M1 ? 16 : 256;
    for (int c = 0; c < ncodes; c++) {
      float a = fp8g_decode(d, (uint8_t)c);
      if (isnan(a)) continue;
      float b = fp8g_decode(d, (uint8_t)(c + 1));
      uint32_t ua = fp8g_f32_bits(a);
      PUT(a);
      PUT(fp8g_f32_from_bits(ua + 1));
      if (ua & 0x7fffffff) PUT(fp8g_f32_from_bits(ua - 1));
      if (c + 1 < ncodes && !isnan(b) && !isinf(b) && !isinf(a) && (a < 0) == (b < 0)) {
        float mid = (float)(((double)a + (double)b) / 2); /* exact: few significant bits */
        PUT(mid);
        PUT(fp8g_f32_from_bits(fp8g_f32_bits(mid) + 1));
        PUT(fp8g_f32_from_bits(fp8g_f32_bits(mid) - 1));
      }
      if (!isinf(a)) {
        /* past the top: max + half a step (tie) and around it */
        PUT(a * 1.0625f);
        PUT(a * 1.125f);
        PUT(fp8g_f32_from_bits(fp8g_f32_bits(a * 1.125f) + 1));
        PUT(fp8g_f32_from_bits(fp8g_f32_bits(a * 1.125f) - 1));
      }
    }
  }
#undef PUT
  return n;
}

enum { DATA_BITS, DATA_REAL, DATA_ADV, DATA_KINDS };
static const char *const data_names[] = {"random bits", "realistic", "adversarial"};

/* Fills x[0..n) with one kind of data. */
static void fill(float *x, size_t n, int kind, const float *adv, size_t nadv) {
  for (size_t i = 0; i < n; i++) {
    uint64_t r = rnd();
    switch (kind) {
      case DATA_BITS: x[i] = fp8g_f32_from_bits((uint32_t)r); break;
      case DATA_REAL: {
        /* wide dynamic range, both signs, some exact zeros */
        int e = (int)((r >> 32) % 60) - 40;
        float m = (float)(r & 0xffffff) / 16777216.0f;
        x[i] = (r >> 62) == 3 ? 0.0f : ldexpf((r >> 61) & 1 ? -m : m, e);
        break;
      }
      default: x[i] = (r >> 60) == 0 ? fp8g_f32_from_bits((uint32_t)r) : adv[(r >> 8) % nadv]; break;
    }
  }
}

static const float scales[] = {1.0f,        2.0f,         0.5f,     0x1p-126f, 0x1p127f,
                               0x1p-127f,   0x1p-149f,    3.0f,     1.0f / 448, 0.1f,
                               -2.0f,       -0.7f,        0.0f,     -0.0f,    INFINITY,
                               NAN,         0x1.8p-140f,  3.4e38f,  0x1p-20f, 1e-30f};
#define N_SCALES (sizeof scales / sizeof scales[0])

/* ------------------------------------------------------------------ per-function checks */
static void check_quantize(const fp8g_quant_kernels *k, const float *x, size_t n, float scale,
                           fp8gemm_dtype to, bool sat, const char *what) {
  size_t bytes = to == FP8GEMM_E2M1 ? (n + 1) / 2 : n;
  uint8_t *a = out_alloc(bytes, 1), *b = out_alloc(bytes, 1);
  fp8g_quant_ref.quantize(x, n, scale, to, sat, a);
  k->quantize(x, n, scale, to, sat, b);
  long d = first_diff(a, b, bytes);
  CHECK(d < 0, "%s quantize %s sat=%d n=%zu scale=%a (%s): byte %ld: ref %02x got %02x (x=0x%08x)",
        k->name, fp8gemm_dtype_name(to), sat, n, (double)scale, what, d, d < 0 ? 0 : a[d],
        d < 0 ? 0 : b[d], d < 0 ? 0 : fp8g_f32_bits(x[to == FP8GEMM_E2M1 ? 2 * d : d]));
  CHECK(canary_ok(b, bytes), "%s quantize %s n=%zu: wrote past the end", k->name,
        fp8gemm_dtype_name(to), n);
  /* the non-temporal form (out_alloc's random offsets give every alignment of q) */
  uint8_t *c = out_alloc(bytes, 1);
  k->quantize_nt(x, n, scale, to, sat, c);
  long dn = first_diff(a, c, bytes);
  CHECK(dn < 0 && canary_ok(c, bytes), "%s quantize_nt %s sat=%d n=%zu scale=%a (%s): byte %ld differs from the reference, or wrote past the end",
        k->name, fp8gemm_dtype_name(to), sat, n, (double)scale, what, dn);
  out_free(a);
  out_free(b);
  out_free(c);
}

static void check_dequantize(const fp8g_quant_kernels *k, const uint8_t *q, size_t n,
                             fp8gemm_dtype from, float scale, const char *what) {
  size_t bytes = n * sizeof(float);
  uint8_t *a = out_alloc(bytes, 4), *b = out_alloc(bytes, 4);
  fp8g_quant_ref.dequantize(q, n, from, scale, (float *)(void *)a);
  k->dequantize(q, n, from, scale, (float *)(void *)b);
  long d = first_diff(a, b, bytes);
  size_t e = d < 0 ? 0 : (size_t)d / 4;
  uint32_t ra = 0, rb = 0;
  if (d >= 0) {
    memcpy(&ra, a + 4 * e, 4);
    memcpy(&rb, b + 4 * e, 4);
  }
  CHECK(d < 0, "%s dequantize %s n=%zu scale=%a (%s): elem %zu: ref %08x got %08x", k->name,
        fp8gemm_dtype_name(from), n, (double)scale, what, e, ra, rb);
  CHECK(canary_ok(b, bytes), "%s dequantize %s n=%zu: wrote past the end", k->name,
        fp8gemm_dtype_name(from), n);
  out_free(a);
  out_free(b);
}

static void check_widen(const fp8g_quant_kernels *k, const void *x, fp8gemm_dtype dt, size_t n) {
  size_t bytes = n * sizeof(float);
  uint8_t *a = out_alloc(bytes, 4), *b = out_alloc(bytes, 4);
  fp8g_quant_ref.widen(x, dt, (float *)(void *)a, n);
  k->widen(x, dt, (float *)(void *)b, n);
  long d = first_diff(a, b, bytes);
  CHECK(d < 0, "%s widen %s n=%zu: byte %ld differs", k->name, fp8gemm_dtype_name(dt), n, d);
  CHECK(canary_ok(b, bytes), "%s widen %s n=%zu: wrote past the end", k->name,
        fp8gemm_dtype_name(dt), n);
  out_free(a);
  out_free(b);
}

static void check_narrow(const fp8g_quant_kernels *k, const float *x, fp8gemm_dtype dt, size_t n) {
  size_t bytes = n * (dt == FP8GEMM_F32 ? 4 : 2);
  uint8_t *a = out_alloc(bytes, dt == FP8GEMM_F32 ? 4 : 2), *b = out_alloc(bytes, dt == FP8GEMM_F32 ? 4 : 2);
  fp8g_quant_ref.narrow(x, dt, a, n);
  k->narrow(x, dt, b, n);
  long d = first_diff(a, b, bytes);
  CHECK(d < 0, "%s narrow %s n=%zu: byte %ld differs (x=0x%08x)", k->name, fp8gemm_dtype_name(dt),
        n, d, d < 0 ? 0 : fp8g_f32_bits(x[(size_t)d / (dt == FP8GEMM_F32 ? 4 : 2)]));
  CHECK(canary_ok(b, bytes), "%s narrow %s n=%zu: wrote past the end", k->name,
        fp8gemm_dtype_name(dt), n);
  out_free(a);
  out_free(b);
}

static void check_amax(const fp8g_quant_kernels *k, const float *x, size_t n, const char *what) {
  float a = fp8g_quant_ref.amax(x, n), b = k->amax(x, n);
  CHECK(fp8g_f32_bits(a) == fp8g_f32_bits(b), "%s amax n=%zu (%s): ref %08x got %08x", k->name, n, what,
        fp8g_f32_bits(a), fp8g_f32_bits(b));
}

static void check_mx(const fp8g_quant_kernels *k, const float *x, size_t nblocks,
                     fp8gemm_dtype elem, fp8gemm_mx_scale_mode mode, const char *what) {
  size_t qbytes = nblocks * (elem == FP8GEMM_E2M1 ? 16 : 32);
  uint8_t *qa = out_alloc(qbytes, 1), *qb = out_alloc(qbytes, 1);
  uint8_t *sa = out_alloc(nblocks, 1), *sb = out_alloc(nblocks, 1);
  fp8g_quant_ref.mx_quantize(x, nblocks, elem, mode, qa, sa);
  k->mx_quantize(x, nblocks, elem, mode, qb, sb);
  long ds = first_diff(sa, sb, nblocks), dq = first_diff(qa, qb, qbytes);
  CHECK(ds < 0, "%s mx %s mode %d nblocks=%zu (%s): scale %ld: ref %02x got %02x", k->name,
        fp8gemm_dtype_name(elem), (int)mode, nblocks, what, ds, ds < 0 ? 0 : sa[ds],
        ds < 0 ? 0 : sb[ds]);
  CHECK(dq < 0, "%s mx %s mode %d nblocks=%zu (%s): q byte %ld: ref %02x got %02x", k->name,
        fp8gemm_dtype_name(elem), (int)mode, nblocks, what, dq, dq < 0 ? 0 : qa[dq],
        dq < 0 ? 0 : qb[dq]);
  CHECK(canary_ok(qb, qbytes) && canary_ok(sb, nblocks), "%s mx %s nblocks=%zu: wrote past the end",
        k->name, fp8gemm_dtype_name(elem), nblocks);
  /* mx_quantize_nt: q 64-byte aligned, half a line past one, 16 and 1 byte past one (it
   * streams the whole lines of the first two), canaries on both sides */
  static const size_t offs[] = {0, 32, 16, 1};
  for (size_t o = 0; o < sizeof offs / sizeof offs[0]; o++) {
    size_t total = (128 + qbytes + CANARY + 63) / 64 * 64;
    uint8_t *base = aligned_alloc(64, total), *sc = malloc(nblocks + CANARY);
    if (!base || !sc) {
      CHECK(0, "mx nt: out of memory");
      free(base);
      free(sc);
      break;
    }
    memset(base, CANARY_BYTE, total);
    memset(sc, CANARY_BYTE, nblocks + CANARY);
    uint8_t *q = base + 64 + offs[o];
    k->mx_quantize_nt(x, nblocks, elem, mode, q, sc);
    long dn = first_diff(qa, q, qbytes), dsn = first_diff(sa, sc, nblocks);
    bool before = true;
    for (uint8_t *p = base; p < q; p++) before &= *p == CANARY_BYTE;
    CHECK(dn < 0 && dsn < 0 && before && canary_ok(q, qbytes) && canary_ok(sc, nblocks),
          "%s mx_quantize_nt %s mode %d nblocks=%zu (%s), q %zu past 64: code byte %ld / scale "
          "%ld differs from the reference, or a canary was hit",
          k->name, fp8gemm_dtype_name(elem), (int)mode, nblocks, what, offs[o], dn, dsn);
    free(base);
    free(sc);
  }
  out_free(qa);
  out_free(qb);
  out_free(sa);
  out_free(sb);
}

/* The fused entries against the reference's fused entries, and those against the
 * composition they are defined as (ref.amax(ref.widen(x)) ...), so a blocking slip in
 * the reference cannot hide. dt: the input (amax / quantize) or output (dequant) dtype. */
static size_t wide_size(fp8gemm_dtype dt) { return dt == FP8GEMM_F32 ? 4 : 2; }

static float *widened(const void *x, fp8gemm_dtype dt, size_t n) {
  float *w = malloc((n ? n : 1) * sizeof *w);
  fp8g_quant_ref.widen(x, dt, w, n);
  return w;
}

static void check_amax_wide(const fp8g_quant_kernels *k, const void *x, fp8gemm_dtype dt, size_t n,
                            const char *what) {
  float *w = widened(x, dt, n);
  float c = fp8g_quant_ref.amax(w, n), a = fp8g_quant_ref.amax_wide(x, dt, n), b = k->amax_wide(x, dt, n);
  CHECK(fp8g_f32_bits(a) == fp8g_f32_bits(c), "ref amax_wide %s n=%zu (%s): %08x, composition %08x",
        fp8gemm_dtype_name(dt), n, what, fp8g_f32_bits(a), fp8g_f32_bits(c));
  CHECK(fp8g_f32_bits(a) == fp8g_f32_bits(b), "%s amax_wide %s n=%zu (%s): ref %08x got %08x", k->name,
        fp8gemm_dtype_name(dt), n, what, fp8g_f32_bits(a), fp8g_f32_bits(b));
  free(w);
}

static void check_quantize_wide(const fp8g_quant_kernels *k, const void *x, fp8gemm_dtype dt,
                                size_t n, float scale, fp8gemm_dtype to, bool sat,
                                const char *what) {
  size_t bytes = to == FP8GEMM_E2M1 ? (n + 1) / 2 : n;
  uint8_t *a = out_alloc(bytes, 1), *b = out_alloc(bytes, 1), *c = out_alloc(bytes, 1),
          *p = out_alloc(bytes, 1), *t = out_alloc(bytes, 1);
  float *w = widened(x, dt, n);
  fp8g_quant_ref.quantize(w, n, scale, to, sat, c);
  fp8g_quant_ref.quantize_wide(x, dt, n, scale, to, sat, a);
  k->quantize_wide(x, dt, n, scale, to, sat, b);
  /* the prefetching form, with a "next row" of n elements (w is as long in any dtype) */
  k->quantize_wide_pf(x, dt, n, scale, to, sat, p, w);
  /* the non-temporal form (out_alloc's random offsets give every alignment of q) */
  k->quantize_wide_pf_nt(x, dt, n, scale, to, sat, t, w);
  k->nt_fence();
  long dc = first_diff(c, a, bytes), d = first_diff(a, b, bytes), dp = first_diff(a, p, bytes),
       dt2 = first_diff(a, t, bytes);
  CHECK(dc < 0, "ref quantize_wide %s->%s n=%zu scale=%a (%s): byte %ld differs from the composition",
        fp8gemm_dtype_name(dt), fp8gemm_dtype_name(to), n, (double)scale, what, dc);
  CHECK(d < 0, "%s quantize_wide %s->%s sat=%d n=%zu scale=%a (%s): byte %ld: ref %02x got %02x (x=0x%08x)",
        k->name, fp8gemm_dtype_name(dt), fp8gemm_dtype_name(to), sat, n, (double)scale, what, d,
        d < 0 ? 0 : a[d], d < 0 ? 0 : b[d], d < 0 ? 0 : fp8g_f32_bits(w[to == FP8GEMM_E2M1 ? 2 * d : d]));
  CHECK(canary_ok(b, bytes), "%s quantize_wide %s n=%zu: wrote past the end", k->name,
        fp8gemm_dtype_name(dt), n);
  CHECK(dp < 0 && canary_ok(p, bytes), "%s quantize_wide_pf %s->%s n=%zu scale=%a (%s): byte %ld differs from quantize_wide, or wrote past the end",
        k->name, fp8gemm_dtype_name(dt), fp8gemm_dtype_name(to), n, (double)scale, what, dp);
  CHECK(dt2 < 0 && canary_ok(t, bytes), "%s quantize_wide_pf_nt %s->%s sat=%d n=%zu scale=%a (%s): byte %ld differs from quantize_wide, or wrote past the end",
        k->name, fp8gemm_dtype_name(dt), fp8gemm_dtype_name(to), sat, n, (double)scale, what, dt2);
  /* q 64-byte aligned with n a multiple of 64: the spans the entry streams (out_alloc
   * gives that placement only by chance) */
  if (n > 0 && n % 64 == 0 && to != FP8GEMM_E2M1) {
    uint8_t *al = aligned_alloc(64, (bytes + CANARY + 63) / 64 * 64);
    if (al) {
      memset(al, CANARY_BYTE, bytes + CANARY);
      k->quantize_wide_pf_nt(x, dt, n, scale, to, sat, al, w);
      k->nt_fence();
      long da = first_diff(a, al, bytes);
      CHECK(da < 0 && canary_ok(al, bytes), "%s quantize_wide_pf_nt %s->%s sat=%d n=%zu scale=%a (%s), q 64-byte aligned: byte %ld differs from quantize_wide, or wrote past the end",
            k->name, fp8gemm_dtype_name(dt), fp8gemm_dtype_name(to), sat, n, (double)scale, what, da);
      free(al);
    }
  }
  free(w);
  out_free(a);
  out_free(b);
  out_free(c);
  out_free(p);
  out_free(t);
}

static void check_dequantize_narrow(const fp8g_quant_kernels *k, const uint8_t *q, size_t n,
                                    fp8gemm_dtype from, float scale, fp8gemm_dtype out,
                                    const char *what) {
  size_t unit = wide_size(out), bytes = n * unit;
  uint8_t *a = out_alloc(bytes, unit), *b = out_alloc(bytes, unit), *c = out_alloc(bytes, unit);
  float *f = malloc((n ? n : 1) * sizeof *f);
  fp8g_quant_ref.dequantize(q, n, from, scale, f);
  fp8g_quant_ref.narrow(f, out, c, n);
  fp8g_quant_ref.dequantize_narrow(q, n, from, scale, out, a);
  k->dequantize_narrow(q, n, from, scale, out, b);
  long dc = first_diff(c, a, bytes), d = first_diff(a, b, bytes);
  size_t e = d < 0 ? 0 : (size_t)d / unit;
  CHECK(dc < 0, "ref dequantize_narrow %s->%s n=%zu scale=%a (%s): byte %ld differs from the composition",
        fp8gemm_dtype_name(from), fp8gemm_dtype_name(out), n, (double)scale, what, dc);
  CHECK(d < 0, "%s dequantize_narrow %s->%s n=%zu scale=%a (%s): elem %zu differs (f32 %08x)",
        k->name, fp8gemm_dtype_name(from), fp8gemm_dtype_name(out), n, (double)scale, what, e,
        d < 0 ? 0 : fp8g_f32_bits(f[e]));
  CHECK(canary_ok(b, bytes), "%s dequantize_narrow %s->%s n=%zu: wrote past the end", k->name,
        fp8gemm_dtype_name(from), fp8gemm_dtype_name(out), n);
  free(f);
  out_free(a);
  out_free(b);
  out_free(c);
}

/* ------------------------------------------------------------------ suites */
static float *adv;
static size_t nadv;

/* A random element offset 0..15 into a buffer, so vector loads are unaligned. */
static size_t offset(void) { return (size_t)(rnd() % 16); }

static void suite_quantize(const fp8g_quant_kernels *k) {
  size_t maxn = 1000003 + 16;
  float *buf = malloc(maxn * sizeof *buf);
  for (int kind = 0; kind < DATA_KINDS; kind++) {
    fill(buf, maxn, kind, adv, nadv);
    for (size_t li = 0; li < N_LENGTHS; li++) {
      size_t n = lengths[li], off = offset();
      bool big = n > 100000;
      for (size_t t = 0; t < N_NARROW; t++)
        for (int sat = 0; sat < 2; sat++)
          for (size_t s = 0; s < N_SCALES; s++) {
            if (big && s % 5 != 0) continue; /* long runs: a sample of the scales */
            check_quantize(k, buf + off, n, scales[s], narrow_types[t], sat, data_names[kind]);
          }
    }
  }
  /* every adversarial value at every position of a chunk, both alignments */
  for (size_t t = 0; t < N_NARROW; t++)
    for (int sat = 0; sat < 2; sat++)
      for (size_t s = 0; s < N_SCALES; s++) {
        check_quantize(k, adv, nadv, scales[s], narrow_types[t], sat, "adversarial, in order");
        check_quantize(k, adv + 1, nadv - 1, scales[s], narrow_types[t], sat, "adversarial, shifted");
      }
  free(buf);
}

/*
 * The AVX2 fp8 store steps apply the PLAIN / CLAMP limits to the packed code bytes (the
 * encoder leaves out its last min; quant_avx2.c, qs_put_fp8_lim): e4m3fn's NaN code by
 * a saturating add, the other limits by a byte min; f32 chunks with a positive scale
 * factor divide |x| and take the signs from x. Here every lane position of a chunk
 * holds, alone among in-range lanes, a value whose code passes the limit by a little
 * (just past the largest finite value, around the overflow / saturation tie), by more
 * than a byte holds (2^k times the max, FLT_MAX, Inf), or a NaN (several payloads, both
 * signs), for every fp8 format, both flavours, scales 1, 2^-3, 1.7 and -1.7 (no scaling,
 * a multiply, a division with signs from x, one with signs from the quotients), f32 and
 * bf16 input; and mx_quantize blocks (groups of 8) whose floor scale leaves lanes above
 * the element max.
 */
static size_t limit_values(fp8gemm_dtype to, float *c, size_t cap) {
  const fp8g_format *f = fp8g_format_of(to);
  float maxv = fp8g_decode(to, f->max_mag), below = fp8g_decode(to, (uint8_t)(f->max_mag - 1));
  float tie = maxv + (maxv - below) / 2; /* the overflow / saturation midpoint */
  const float bases[] = {maxv, tie, 2 * maxv - below, 2 * maxv, 300 * maxv, 0x1p60f, FLT_MAX};
  size_t n = 0;
  for (size_t b = 0; b < sizeof bases / sizeof bases[0]; b++) {
    float t = nextafterf(nextafterf(bases[b], 0.0f), 0.0f);
    for (int d = -2; d <= 2; d++, t = nextafterf(t, INFINITY))
      if (n < cap && isfinite(t)) c[n++] = t;
  }
  static const uint32_t specials[] = {0x7f800000, 0x7f800001, 0x7fc00000, 0x7fffffff, 0x7fa00000};
  for (size_t i = 0; i < sizeof specials / sizeof specials[0] && n < cap; i++)
    c[n++] = fp8g_f32_from_bits(specials[i]);
  return n;
}

static void suite_byte_limits(const fp8g_quant_kernels *k) {
  static const fp8gemm_dtype fp8s[] = {FP8GEMM_E4M3FN, FP8GEMM_E5M2, FP8GEMM_E4M3FNUZ,
                                       FP8GEMM_E5M2FNUZ};
  static const float scs[] = {1.0f, 0x1p-3f, 1.7f, -1.7f};
  enum { CAND = 48, LANES = 32 };
  float cand[CAND];
  size_t nx = CAND * 2 * LANES * 32 + 7; /* a chunk per (value, sign, lane), a tail */
  float *x = malloc(nx * sizeof *x);
  uint16_t *h = malloc(nx * sizeof *h);
  for (size_t t = 0; t < 4; t++) {
    size_t nc = limit_values(fp8s[t], cand, CAND);
    for (size_t si = 0; si < 4; si++) {
      float sc = scs[si];
      size_t n = 0;
      for (size_t ci = 0; ci < nc; ci++)
        for (int neg = 0; neg < 2; neg++)
          for (int lane = 0; lane < LANES; lane++)
            for (int i = 0; i < 32; i++) {
              float v;
              if (i == lane) {
                v = cand[ci];
                if (isfinite(v)) v *= fabsf(sc); /* the quotient lands near the candidate */
              } else {
                v = (float)((int)(rnd() % 200) - 100) * 0.03125f * fabsf(sc); /* in range */
              }
              x[n++] = neg && i == lane ? -v : v;
            }
      for (; n < nx; n++) x[n] = cand[n % nc];
      for (size_t i = 0; i < nx; i++) h[i] = (uint16_t)(fp8g_f32_bits(x[i]) >> 16);
      for (int sat = 0; sat < 2; sat++) {
        check_quantize(k, x, nx, sc, fp8s[t], sat, "limit-crossing lanes");
        check_quantize_wide(k, h, FP8GEMM_BF16, nx, sc, fp8s[t], sat, "limit-crossing bf16 lanes");
        /* rows under the bf16 table's minimum: the general pair path */
        for (size_t o = 0; o + 992 <= nx; o += 992)
          check_quantize_wide(k, h + o, FP8GEMM_BF16, 992, sc, fp8s[t], sat,
                              "limit-crossing bf16 lanes, short rows");
      }
    }
  }
  /* MX: each block's amax is 1.9 * 2^j (j random), so its floor scale leaves every lane
   * in [2^emax, 1.9 * 2^emax] of the element range, above the max of e4m3fn (448 =
   * 1.75 * 2^8) and e5m2; one such lane per block, at every position, the rest small */
  static const fp8gemm_dtype mxe[] = {FP8GEMM_E4M3FN, FP8GEMM_E5M2, FP8GEMM_E4M3FNUZ};
  size_t nb = 8 * 32 + 3;
  for (size_t b = 0; b < nb; b++) {
    float big = 1.9f * ldexpf(1.0f, (int)(rnd() % 40) - 20);
    for (int i = 0; i < 32; i++) {
      float v = i == (int)(b % 32) ? big * (1.0f - 0.01f * (float)(b / 32)) : big * 0.001f * (float)i;
      x[32 * b + (size_t)i] = (rnd() & 1) ? -v : v;
    }
  }
  for (size_t e = 0; e < 3; e++) {
    check_mx(k, x, nb, mxe[e], FP8GEMM_MX_FLOOR, "lanes above the element max");
    check_mx(k, x + 1, nb - 1, mxe[e], FP8GEMM_MX_FLOOR, "lanes above the element max, shifted");
  }
  free(x);
  free(h);
}

/* All 2^16 bf16 and fp16 inputs: widened, then quantized to every format. */
static void suite_exhaustive16(const fp8g_quant_kernels *k) {
  uint16_t *h = malloc(65536 * sizeof *h);
  float *x = malloc(65536 * sizeof *x);
  for (uint32_t i = 0; i < 65536; i++) h[i] = (uint16_t)i;
  const fp8gemm_dtype wide[] = {FP8GEMM_BF16, FP8GEMM_F16};
  for (int w = 0; w < 2; w++) {
    check_widen(k, h, wide[w], 65536);
    fp8g_quant_ref.widen(h, wide[w], x, 65536);
    check_narrow(k, x, wide[w], 65536);
    check_amax(k, x, 65536, "all 16-bit inputs");
    for (size_t t = 0; t < N_NARROW; t++)
      for (int sat = 0; sat < 2; sat++)
        for (size_t s = 0; s < N_SCALES; s++)
          check_quantize(k, x, 65536, scales[s], narrow_types[t], sat,
                         w ? "all fp16 inputs" : "all bf16 inputs");
  }
  free(h);
  free(x);
}

static void suite_wide(const fp8g_quant_kernels *k) {
  size_t maxn = 1000003 + 16;
  uint16_t *h = malloc(maxn * sizeof *h);
  float *x = malloc(maxn * sizeof *x);
  for (size_t i = 0; i < maxn; i++) h[i] = (uint16_t)rnd();
  const fp8gemm_dtype wide[] = {FP8GEMM_BF16, FP8GEMM_F16, FP8GEMM_F32};
  for (int kind = 0; kind < DATA_KINDS; kind++) {
    fill(x, maxn, kind, adv, nadv);
    for (size_t li = 0; li < N_LENGTHS; li++) {
      size_t n = lengths[li], off = offset();
      for (int w = 0; w < 3; w++) {
        check_widen(k, w == 2 ? (const void *)(x + off) : (const void *)(h + off), wide[w], n);
        check_narrow(k, x + off, wide[w], n);
      }
      check_amax(k, x + off, n, data_names[kind]);
    }
  }
  /* amax corner cases: all NaN, NaN next to Inf, -0 only, Inf at the tail */
  for (size_t li = 0; li < N_LENGTHS; li++) {
    size_t n = lengths[li];
    if (n == 0 || n > 1000) continue;
    for (size_t i = 0; i < n; i++) x[i] = fp8g_f32_from_bits(0xffc00000u + (uint32_t)i);
    check_amax(k, x, n, "all NaN");
    x[n / 2] = -INFINITY;
    check_amax(k, x, n, "NaN and -Inf");
    for (size_t i = 0; i < n; i++) x[i] = -0.0f;
    check_amax(k, x, n, "-0 only");
    x[n - 1] = fp8g_f32_from_bits(0x00000001u);
    check_amax(k, x, n, "min subnormal at the end");
  }
  free(h);
  free(x);
}

static void suite_dequantize(const fp8g_quant_kernels *k) {
  size_t maxn = 1000003 + 32;
  uint8_t *q = malloc(maxn);
  for (size_t i = 0; i < maxn; i++) q[i] = (uint8_t)rnd();
  uint8_t all[512];
  for (int i = 0; i < 512; i++) all[i] = (uint8_t)i;
  for (size_t t = 0; t < N_NARROW; t++) {
    fp8gemm_dtype d = narrow_types[t];
    for (size_t s = 0; s < N_SCALES; s++) {
      check_dequantize(k, all, 512, d, scales[s], "every code");
      check_dequantize(k, all + 1, 509, d, scales[s], "every code, shifted");
    }
    for (size_t li = 0; li < N_LENGTHS; li++) {
      size_t n = lengths[li], off = offset();
      if (d == FP8GEMM_E2M1 && n % 2) n += 1; /* packed input: even lengths */
      for (size_t s = 0; s < N_SCALES; s++) {
        if (n > 100000 && s % 5 != 0) continue;
        check_dequantize(k, q + off, n, d, scales[s], "random codes");
      }
    }
  }
  free(q);
}

static const fp8gemm_dtype wide_types[] = {FP8GEMM_BF16, FP8GEMM_F16, FP8GEMM_F32};

/* 16-bit (or f32) input of one kind: random bits, or f32 data rounded to the dtype. */
static void fill_wide(void *x, size_t n, int kind, fp8gemm_dtype dt, float *tmp) {
  if (kind == DATA_BITS && dt != FP8GEMM_F32) {
    for (size_t i = 0; i < n; i++) ((uint16_t *)x)[i] = (uint16_t)rnd();
    return;
  }
  fill(tmp, n, kind, adv, nadv);
  fp8g_quant_ref.narrow(tmp, dt, x, n);
}

/*
 * The table-driven bf16 -> fp8 path (AVX2: rows of >= 1024 values, positive finite
 * scales): its per-call table, the bounds of its range (E_lo at the bottom and top of
 * the exponent range, where the Inf check sends calls back to the general path), and
 * rows mixing table chunks with chunks that hold fp8-subnormal or zero results.
 */
/* every_pattern: also the 2 Mi-value lone-pattern rows (long under sanitizers: there only on the
 * CPU's own level) */
static void suite_bf16_table(const fp8g_quant_kernels *k, bool every_pattern) {
  enum { NS = 64 };
  float sc[NS];
  int ns = 0;
  /* powers of two across the range, and their neighbours one ulp away */
  for (int e = -140; e <= 127 && ns + 3 <= 36; e += 23) {
    float p = ldexpf(1.0f, e);
    sc[ns++] = p;
    sc[ns++] = nextafterf(p, INFINITY);
    sc[ns++] = nextafterf(p, 0.0f);
  }
  /* amax / 448 and amax / 57344 of typical and extreme rows, and random scales */
  static const float amaxes[] = {1.0f, 3.5f, 512.0f, 0.0123f, 3.0e38f, 1e-38f};
  for (size_t i = 0; i < sizeof amaxes / sizeof amaxes[0]; i++) {
    sc[ns++] = amaxes[i] / 448.0f;
    sc[ns++] = amaxes[i] / 57344.0f;
  }
  while (ns < NS) {
    uint64_t r = rnd();
    sc[ns++] = ldexpf(1.0f + (float)(r & 0x7fffff) / 8388608.0f, (int)((r >> 32) % 268) - 140);
  }
  uint16_t *h = malloc(65536 * sizeof *h);
  for (uint32_t i = 0; i < 65536; i++) h[i] = (uint16_t)i;
  for (int t = 0; t < 4; t++) /* the fp8 formats */
    for (int sat = 0; sat < 2; sat++)
      for (int s = 0; s < NS; s++)
        check_quantize_wide(k, h, FP8GEMM_BF16, 65536, sc[s], narrow_types[t], sat,
                            "table path, all bf16 inputs");
  /* activation-like rows: most values table chunks, some chunks with tiny values,
   * zeros, outliers and an occasional NaN / Inf; scale = amax / 448 */
  static const size_t lens[] = {1023, 1024, 1025, 4096 + 17};
  for (int row = 0; row < 24; row++)
    for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
      size_t n = lens[li];
      for (size_t i = 0; i < n; i++) {
        uint64_t r = rnd();
        float v = ((float)(r & 0xffff) - 32768.0f) / 4096.0f;
        if ((r >> 20) % 50 == 0) v *= 100.0f;
        if ((r >> 30) % 200 == 0) v = ldexpf(v, -(int)((r >> 40) % 24));
        if ((r >> 50) % 500 == 0) v = 0.0f;
        h[i] = fp8g_f32_to_bf16(v);
        if (row % 6 == 5 && (r >> 56) == 7) h[i] = (r & 1) ? 0x7fc1 : 0xff80;
      }
      float amax = fp8g_quant_ref.amax_wide(h, FP8GEMM_BF16, n);
      for (int t = 0; t < 4; t++)
        for (int sat = 0; sat < 2; sat++)
          check_quantize_wide(k, h, FP8GEMM_BF16, n, amax > 0 ? amax / 448.0f : 1.0f,
                              narrow_types[t], sat, "table path, activation-like rows");
    }
  /* every bf16 pattern in a random order, so out-of-range lanes (tiny, zero, NaN) sit in
   * scattered chunks: with AVX-512 the table step stores every chunk and the flagged
   * ones are redone after each block of 256 chunks (rows longer than one block, blocks
   * with no flagged chunk, flagged first and last chunks of a block) */
  for (uint32_t i = 0; i < 65536; i++) h[i] = (uint16_t)i;
  for (uint32_t i = 65535; i > 0; i--) {
    uint32_t j = (uint32_t)(rnd() % (i + 1));
    uint16_t v = h[i];
    h[i] = h[j];
    h[j] = v;
  }
  static const size_t cuts[] = {8192, 8192 + 32, 3 * 8192 + 33, 65536};
  for (size_t ci = 0; ci < sizeof cuts / sizeof cuts[0]; ci++)
    for (int t = 0; t < 4; t++)
      for (int sat = 0; sat < 2; sat++)
        for (int s = 0; s < NS; s += 7)
          check_quantize_wide(k, h, FP8GEMM_BF16, cuts[ci], sc[s], narrow_types[t], sat,
                              "table path, shuffled bf16 inputs");
  /* activation-like rows of 5 blocks where only some chunks hold tiny values: a block
   * with none, a block whose first and last chunks are flagged, one flagged chunk */
  size_t n = 5 * 8192 + 96;
  for (size_t i = 0; i < n; i++) {
    uint64_t r = rnd();
    float v = 0.5f + (float)(r & 0xffff) / 8192.0f;
    h[i] = fp8g_f32_to_bf16((r >> 20) & 1 ? -v : v);
  }
  static const size_t tiny[] = {8192, 2 * 8192 - 1, 3 * 8192 + 100, 5 * 8192 + 95};
  for (size_t i = 0; i < sizeof tiny / sizeof tiny[0]; i++) h[tiny[i]] = (i & 1) ? 0x8000 : 0x0001;
  h[4 * 8192 + 7] = 0x7fc0;
  for (int t = 0; t < 4; t++)
    for (int sat = 0; sat < 2; sat++)
      check_quantize_wide(k, h, FP8GEMM_BF16, n, 9.0f / 448.0f, narrow_types[t], sat,
                          "table path, flagged chunks at block edges");
  /* lone NaN lanes in chunks whose other lanes are all in the table's range (AVX2 flags
   * them by the same unsigned range test as the lanes below it: the NaN patterns next to
   * Inf, 0x7f81 / 0xff81, and the largest ones), and +-Inf lanes, which stay in range and
   * must come out at the overflow / saturation code */
  for (size_t i = 0; i < n; i++) {
    uint64_t r = rnd();
    float v = 0.5f + (float)(r & 0xffff) / 8192.0f;
    h[i] = fp8g_f32_to_bf16((r >> 20) & 1 ? -v : v);
  }
  static const uint16_t lone[] = {0x7f81, 0xff81, 0x7fff, 0xffff, 0x7fc0, 0x7f80, 0xff80};
  for (size_t i = 0; i < sizeof lone / sizeof lone[0]; i++)
    for (size_t j = 0; j < 3; j++) h[(1 + 7 * i + 60 * j) * 32 + (5 * i + 11 * j) % 32] = lone[i];
  for (int t = 0; t < 4; t++)
    for (int sat = 0; sat < 2; sat++)
      check_quantize_wide(k, h, FP8GEMM_BF16, n, 9.0f / 448.0f, narrow_types[t], sat,
                          "table path, lone NaN / Inf lanes");
  free(h);
  if (!every_pattern) return;
  /* every bf16 pattern alone in a chunk whose other 31 lanes are in the table's range
   * (|x| / scale in [1, 400]: above the fp8 normal range's start, overflow included), at
   * lane p % 32: each pattern is the only one that can flag its chunk, so the range test
   * (below low, and NaN) is checked lane by lane, and each in-range pattern (Inf too)
   * takes the table's code; the scales take the DIV, NONE and MUL modes and E_lo near
   * both ends (the table is built for 36 of the 40 calls: not for e5m2 / e5m2fnuz at
   * 3e38 / 448, checked by a mutant) */
  static const float lone_sc[] = {9.0f / 448.0f, 1.0f, 0.25f, 3.0e38f / 448.0f, 1e-30f};
  size_t nl = (size_t)65536 * 32;
  uint16_t *g = malloc(nl * sizeof *g);
  for (size_t si = 0; si < sizeof lone_sc / sizeof lone_sc[0]; si++) {
    for (size_t i = 0; i < nl; i++) {
      uint64_t r = rnd();
      float v = lone_sc[si] * (1.0f + (float)(r & 0xffff) * (399.0f / 65535.0f));
      g[i] = fp8g_f32_to_bf16((r >> 20) & 1 ? -v : v);
    }
    for (uint32_t p = 0; p < 65536; p++) g[(size_t)p * 32 + p % 32] = (uint16_t)p;
    for (int t = 0; t < 4; t++)
      for (int sat = 0; sat < 2; sat++)
        check_quantize_wide(k, g, FP8GEMM_BF16, nl, lone_sc[si], narrow_types[t], sat,
                            "table path, every bf16 pattern alone in a chunk");
  }
  free(g);
}

/* amax_wide / quantize_wide on every wide dtype at every length and offset. */
static void suite_fused_quantize(const fp8g_quant_kernels *k, bool full) {
  size_t maxn = 1000003 + 16;
  float *tmp = malloc(maxn * sizeof *tmp);
  void *x = malloc(maxn * sizeof(float));
  for (int w = 0; w < 3; w++) {
    fp8gemm_dtype dt = wide_types[w];
    for (int kind = 0; kind < DATA_KINDS; kind++) {
      fill_wide(x, maxn, kind, dt, tmp);
      for (size_t li = 0; li < N_LENGTHS; li++) {
        size_t n = lengths[li];
        const void *xo = (const char *)x + offset() * wide_size(dt);
        bool big = n > 100000;
        check_amax_wide(k, xo, dt, n, data_names[kind]);
        for (size_t t = 0; t < N_NARROW; t++)
          for (int sat = 0; sat < 2; sat++)
            for (size_t s = 0; s < N_SCALES; s++) {
              if ((big || !full) && s % 5 != 3) continue; /* 3.0f, 0.0f, 0x1.8p-140f, 1e-30f */
              if (big && t % 2) continue;
              check_quantize_wide(k, xo, dt, n, scales[s], narrow_types[t], sat, data_names[kind]);
            }
      }
    }
  }
  /* every 16-bit input, every target, every scale; amax corner cases */
  uint16_t *h = x;
  for (int w = 0; w < 2; w++) {
    fp8gemm_dtype dt = wide_types[w];
    for (uint32_t i = 0; i < 65536; i++) h[i] = (uint16_t)i;
    check_amax_wide(k, h, dt, 65536, "all 16-bit inputs");
    for (size_t t = 0; t < N_NARROW; t++)
      for (int sat = 0; sat < 2; sat++)
        for (size_t s = 0; s < N_SCALES; s++)
          check_quantize_wide(k, h, dt, 65536, scales[s], narrow_types[t], sat, "all 16-bit inputs");
    uint16_t nan = dt == FP8GEMM_BF16 ? 0x7f81 : 0x7c01, inf = dt == FP8GEMM_BF16 ? 0x7f80 : 0x7c00;
    for (size_t li = 0; li < N_LENGTHS; li++) {
      size_t n = lengths[li];
      if (n == 0 || n > 1000) continue;
      for (size_t i = 0; i < n; i++) h[i] = (uint16_t)(0x8000u | nan | (i & 0x3f));
      check_amax_wide(k, h, dt, n, "all NaN");
      h[n / 2] = (uint16_t)(0x8000u | inf);
      check_amax_wide(k, h, dt, n, "NaN and -Inf");
      for (size_t i = 0; i < n; i++) h[i] = 0x8000;
      check_amax_wide(k, h, dt, n, "-0 only");
      h[n - 1] = 0x0001;
      check_amax_wide(k, h, dt, n, "min subnormal at the end");
      h[0] = (uint16_t)(inf - 1);
      check_amax_wide(k, h, dt, n, "max finite first");
    }
  }
  free(tmp);
  free(x);
}

/* dequantize_narrow: every code, random codes at every length and offset, every out. */
static void suite_fused_dequantize(const fp8g_quant_kernels *k) {
  size_t maxn = 1000003 + 32;
  uint8_t *q = malloc(maxn);
  for (size_t i = 0; i < maxn; i++) q[i] = (uint8_t)rnd();
  uint8_t all[512];
  for (int i = 0; i < 512; i++) all[i] = (uint8_t)i;
  for (int w = 0; w < 3; w++)
    for (size_t t = 0; t < N_NARROW; t++) {
      fp8gemm_dtype d = narrow_types[t], out = wide_types[w];
      for (size_t s = 0; s < N_SCALES; s++) {
        check_dequantize_narrow(k, all, 512, d, scales[s], out, "every code");
        check_dequantize_narrow(k, all + 1, 509, d, scales[s], out, "every code, shifted");
      }
      for (size_t li = 0; li < N_LENGTHS; li++) {
        size_t n = lengths[li], off = offset();
        if (d == FP8GEMM_E2M1 && n % 2) n += 1; /* packed input: even lengths */
        for (size_t s = 0; s < N_SCALES; s++) {
          if (n > 100000 && s % 5 != 0) continue;
          check_dequantize_narrow(k, q + off, n, d, scales[s], out, "random codes");
        }
      }
    }
  /* scales that land products on bf16 / fp16 ties, subnormals and overflow */
  /* ... and around the edges of the table path's range check (every normal code's
   * product a normal finite f32: e4m3 needs 2^-119 <= |s| <= ~2^117.2, e5m2 2^-111 <=
   * |s| <= ~2^110.2), both signs */
  static const float odd_scales[] = {0x1.0001p0f,  0x1.00ffp0f,   0x1.8p-20f,     0x1p-30f,
                                     0x1.fffffep100f, 65520.0f / 448.0f, 0x1p-119f, 0x1.fffffep-120f,
                                     0x1p-111f,    0x1.fffffep-112f, 0x1.2p117f,  0x1.3p117f,
                                     0x1.2p110f,   0x1.3p110f,    -0x1p-119f,     -0x1.3p117f,
                                     -0x1p-111f,   -0x1.3p110f,   0x1p-125f,      0x1.fffffep126f};
  for (int w = 0; w < 3; w++)
    for (size_t t = 0; t < N_NARROW; t++)
      for (size_t s = 0; s < sizeof odd_scales / sizeof odd_scales[0]; s++)
        check_dequantize_narrow(k, all, 512, narrow_types[t], odd_scales[s], wide_types[w], "every code, odd scale");
  free(q);
}

/* dequantize_narrow_nt with y `yoff` bytes past a 64-byte boundary (AVX-512 bf16 from
 * fp8: the outputs up to the next boundary by the reference, then streamed lines, then
 * the tail): the reference's bytes, nothing written before y or past the end. */
static void check_dequantize_nt(const fp8g_quant_kernels *k, const uint8_t *q, size_t n,
                                fp8gemm_dtype from, float scale, fp8gemm_dtype out, size_t yoff) {
  size_t unit = wide_size(out), bytes = n * unit, total = 64 + yoff + bytes + CANARY;
  uint8_t *base = aligned_alloc(64, (total + 63) / 64 * 64), *y = base + 64 + yoff;
  uint8_t *a = malloc(bytes ? bytes : 1);
  memset(base, CANARY_BYTE, total);
  fp8g_quant_ref.dequantize_narrow(q, n, from, scale, out, a);
  k->dequantize_narrow_nt(q, n, from, scale, out, y);
  long d = first_diff(a, y, bytes);
  bool before = true;
  for (size_t i = 0; i < 64 + yoff; i++) before = before && base[i] == CANARY_BYTE;
  CHECK(d < 0 && before && canary_ok(y, bytes),
        "%s dequantize_narrow_nt %s->%s n=%zu scale=%a y %zu past 64: byte %ld differs from the "
        "reference, or wrote outside y",
        k->name, fp8gemm_dtype_name(from), fp8gemm_dtype_name(out), n, (double)scale, yoff, d);
  free(a);
  free(base);
}

/* Lengths around where the streamed call splits: the head up to y's first 64-byte
 * boundary (h outputs), 4 whole chunks (the table loop's minimum), the tail. */
static void suite_dequantize_nt(const fp8g_quant_kernels *k) {
  size_t maxn = 70000;
  uint8_t *q = malloc(maxn);
  for (size_t i = 0; i < maxn; i++) q[i] = (uint8_t)(i % 3 ? rnd() : i); /* every code often */
  static const float sc[] = {1.0f, 0.0123f, -3.5f, 0x1p-119f, 0x1.3p117f};
  static const size_t extra[] = {0, 1, 31, 32, 33, 127, 128, 129, 160, 161, 4097, 65536 + 37};
  static const size_t yoffs[] = {0, 2, 4, 16, 30, 32, 34, 62};
  for (int w = 0; w < 3; w++)
    for (size_t t = 0; t < N_NARROW; t++)
      for (size_t yo = 0; yo < sizeof yoffs / sizeof yoffs[0]; yo++) {
        fp8gemm_dtype from = narrow_types[t], out = wide_types[w];
        size_t unit = wide_size(out), yoff = yoffs[yo] / unit * unit;
        size_t h = (64 - yoff) % 64 / unit; /* outputs before the boundary */
        for (size_t e = 0; e < sizeof extra / sizeof extra[0]; e++)
          for (size_t m = 0; m < 3; m++) {
            size_t n = h + extra[e] + m - (h + extra[e] > 0); /* h + extra - 1, +0, +1 */
            if (from == FP8GEMM_E2M1 && n % 2) n++;
            for (size_t s = 0; s < sizeof sc / sizeof sc[0]; s++)
              if (n < 1000 || s < 2) check_dequantize_nt(k, q + (n % 7), n, from, sc[s], out, yoff);
          }
      }
  check_dequantize_nt(k, q, 4096, FP8GEMM_E4M3FN, NAN, FP8GEMM_BF16, 2); /* the reference's case */
  free(q);
}

/* MX blocks with one magnitude per block spread over the whole e8m0 range, special and
 * zero blocks, subnormal amax, amax mantissas around the rceil boundaries. */
static void fill_mx(float *x, size_t nblocks, int kind) {
  fill(x, nblocks * 32, kind == DATA_BITS ? DATA_BITS : DATA_REAL, adv, nadv);
  if (kind == DATA_BITS) return;
  for (size_t b = 0; b < nblocks; b++) {
    float *xb = x + 32 * b;
    uint64_t r = rnd();
    int e = (int)(r % 300) - 160;
    for (int i = 0; i < 32; i++) xb[i] = ldexpf(xb[i], e);
    switch ((r >> 16) % 16) {
      case 0: memset(xb, 0, 32 * sizeof *xb); break;
      case 1: xb[(r >> 24) % 32] = NAN; break;
      case 2: xb[(r >> 24) % 32] = (r >> 30) & 1 ? INFINITY : -INFINITY; break;
      case 3:
        for (int i = 0; i < 32; i++) xb[i] = fp8g_f32_from_bits((uint32_t)(rnd() & 0x807fffff));
        break;
      case 4: case 5: case 6: {
        /* amax mantissa exactly at / around 1.5 and 1.75 */
        static const uint32_t fr[] = {0x400000, 0x3fffff, 0x400001, 0x600000, 0x5fffff, 0x600001};
        xb[(r >> 24) % 32] = fp8g_f32_from_bits(((uint32_t)(127 + e % 60) << 23) | fr[(r >> 40) % 6]);
        break;
      }
      case 7: xb[(r >> 24) % 32] = adv[(r >> 32) % nadv]; break;
      default: break;
    }
  }
}

static void suite_mx(const fp8g_quant_kernels *k) {
  const fp8gemm_dtype elems[] = {FP8GEMM_E4M3FN, FP8GEMM_E5M2, FP8GEMM_E2M1, FP8GEMM_E4M3FNUZ};
  const fp8gemm_mx_scale_mode modes[] = {FP8GEMM_MX_FLOOR, FP8GEMM_MX_RCEIL};
  const size_t nbs[] = {0, 1, 2, 3, 7, 33, 39, 40, 41, 49, 31250};
  size_t maxb = 31250 + 1;
  float *x = malloc(maxb * 32 * sizeof *x);
  for (int kind = 0; kind < DATA_KINDS; kind++) {
    fill_mx(x, maxb, kind);
    for (size_t i = 0; i < sizeof nbs / sizeof nbs[0]; i++)
      for (size_t el = 0; el < 4; el++)
        for (int m = 0; m < 2; m++)
          check_mx(k, x + (i % 2), nbs[i], elems[el], modes[m], data_names[kind]);
  }
  free(x);
}

/*
 * MX blocks whose scale is known by construction, with values on and around every
 * rounding boundary of the element format in the scaled domain: each code's value and
 * each midpoint between neighbours, +-2 f32 ulps, the overflow / saturation midpoint,
 * 2^emin, zeros of both signs, random signs. Half the blocks draw only from y >= 2^emin
 * (and zeros), which the division-free AVX-512 step (qs_mx_fast_vec) must handle by
 * itself; the rest mix in fp8-subnormal values, whose blocks it hands back. Scale
 * exponents run from where the group path gives up (codes < 32) to near the top.
 */
static size_t mx_candidates(fp8gemm_dtype elem, float ymax, float *c, size_t cap, bool normal_only) {
  const fp8g_format *f = fp8g_format_of(elem);
  float minn = fp8g_decode(elem, (uint8_t)(1u << f->mbits)); /* 2^emin */
  size_t n = 0;
  for (unsigned code = 0; code <= f->max_mag; code++) {
    float v = fp8g_decode(elem, (uint8_t)code);
    float next = code < f->max_mag ? fp8g_decode(elem, (uint8_t)(code + 1))
                                   : 2 * v - fp8g_decode(elem, (uint8_t)(code - 1)); /* the next step */
    float bases[2] = {v, (v + next) / 2};
    for (int b = 0; b < 2; b++) {
      float t = bases[b];
      for (int d = 0; d < 2; d++) t = nextafterf(t, 0.0f);
      for (int d = -2; d <= 2; d++, t = nextafterf(t, INFINITY))
        if (n < cap && t <= ymax && (!normal_only || t >= minn)) c[n++] = t;
    }
  }
  if (n < cap) c[n++] = 0.0f;
  if (n < cap) c[n++] = ymax;
  return n;
}

static void suite_mx_fast(const fp8g_quant_kernels *k) {
  const fp8gemm_dtype elems[] = {FP8GEMM_E4M3FN, FP8GEMM_E5M2};
  const size_t nbs[] = {1, 2, 15, 16, 17, 33, 47, 2049};
  enum { CAP = 4096, NB = 2049 };
  float *all = malloc(CAP * sizeof(float)), *nrm = malloc(CAP * sizeof(float));
  float *x = malloc((NB + 1) * 32 * sizeof(float));
  if (!all || !nrm || !x) {
    CHECK(0, "mx fast: out of memory");
    goto done;
  }
  for (int el = 0; el < 2; el++)
    for (int mode = FP8GEMM_MX_FLOOR; mode <= FP8GEMM_MX_RCEIL; mode++) {
      const fp8g_format *f = fp8g_format_of(elems[el]);
      float vmax = fp8g_decode(elems[el], f->max_mag);
      int emax = ilogbf(vmax);
      /* the block's largest |y|: just below 2^(emax+1) (floor), or the element max,
       * whose mantissa does not raise the rceil scale: either way the scale is 2^se */
      float ymax = mode == FP8GEMM_MX_FLOOR ? nextafterf(ldexpf(1.0f, emax + 1), 0.0f) : vmax;
      size_t na = mx_candidates(elems[el], ymax, all, CAP, false);
      size_t nn = mx_candidates(elems[el], ymax, nrm, CAP, true);
      for (int round = 0; round < 4; round++) {
        for (size_t b = 0; b <= NB; b++) {
          int se = (int)(rnd() % 215) - 102 - emax; /* codes se + 127 from 25 to 239 - emax */
          bool normal_only = rnd() & 1;
          const float *c = normal_only ? nrm : all;
          size_t nc = normal_only ? nn : na, top = rnd() % 32;
          for (int i = 0; i < 32; i++) {
            uint64_t r = rnd();
            float y = i == (int)top ? ymax : c[r % nc];
            x[32 * b + i] = ldexpf((r >> 40) & 1 ? -y : y, se);
          }
        }
        for (size_t i = 0; i < sizeof nbs / sizeof nbs[0]; i++)
          check_mx(k, x + 32 * (i % 2), nbs[i], elems[el], (fp8gemm_mx_scale_mode)mode,
                   "scaled boundaries");
      }
    }
done:
  free(all);
  free(nrm);
  free(x);
}

/* Under FTZ/DAZ and other rounding modes the fast paths must still equal the
 * reference computed under the same state (the library never changes MXCSR; this
 * test does, and restores it). */
static void suite_mxcsr(const fp8g_quant_kernels *k) {
  const unsigned modes[] = {0x8040 /* FTZ|DAZ */, 0x2000 /* round down */, 0x6000 /* toward 0 */};
  unsigned saved = _mm_getcsr();
  float *x = malloc(4096 * sizeof *x), *h = malloc(4096 * sizeof *h);
  uint8_t codes[4096];
  for (int i = 0; i < 4096; i++) codes[i] = (uint8_t)rnd();
  for (size_t mi = 0; mi < 3; mi++) {
    fill(x, 4096, DATA_ADV, adv, nadv);
    for (int i = 0; i < 512; i++) x[rnd() % 4096] = fp8g_f32_from_bits((uint32_t)(rnd() & 0x807fffff));
    _mm_setcsr((saved & ~0xE040u) | modes[mi]);
    for (size_t t = 0; t < N_NARROW; t++)
      for (size_t s = 0; s < N_SCALES; s += 3) {
        check_quantize(k, x, 4096, scales[s], narrow_types[t], true, "non-default MXCSR");
        check_dequantize(k, codes, 4096, narrow_types[t], scales[s], "non-default MXCSR");
      }
    check_amax(k, x, 4096, "non-default MXCSR");
    check_narrow(k, x, FP8GEMM_F16, 4096);
    for (int w = 0; w < 3; w++) {
      fp8g_quant_ref.narrow(x, wide_types[w], h, 4096);
      check_amax_wide(k, h, wide_types[w], 4096, "non-default MXCSR");
      for (size_t t = 0; t < N_NARROW; t++) {
        check_quantize_wide(k, h, wide_types[w], 4096, 0.1f, narrow_types[t], true, "non-default MXCSR");
        check_dequantize_narrow(k, codes, 4096, narrow_types[t], 0.1f, wide_types[w], "non-default MXCSR");
      }
    }
    check_mx(k, x, 128, FP8GEMM_E4M3FN, FP8GEMM_MX_RCEIL, "non-default MXCSR");
    _mm_setcsr(saved);
  }
  free(x);
  free(h);
}


/* ------------------------------------------------------------------ reciprocal scales */
/* A scale whose inverse is a normal f32 (and not a power of two) takes the multiply by
 * RN(1/s) with a tie test and a division fallback (quant_simd_body.h, qs_near_tie). These
 * scales: random significands over the whole exponent range, and the edges of that
 * range (inverse subnormal / overflowing / exactly normal). */
static size_t rcp_scales(float *sc, size_t cap) {
  static const uint32_t edges[] = {0x3f800001, 0x3fffffff, 0x3fc00000, 0x40400000, 0x3dcccccd,
                                   0x3b124925, 0x00800001, 0x00ffffff, 0x00400001, 0x00000003,
                                   0x7e7fffff, 0x7e800001, 0x7effffff, 0x7f7fffff, 0x7f000001,
                                   0x3e2aaaab, 0xbf000001, 0xc2f00001, 0x01000001, 0x0080ffff};
  size_t n = 0;
  for (size_t i = 0; i < sizeof edges / sizeof edges[0] && n < cap; i++)
    sc[n++] = fp8g_f32_from_bits(edges[i]);
  while (n < cap) {
    uint32_t e = 1 + (uint32_t)(rnd() % 254), m = (uint32_t)rnd() & 0x7fffff;
    if (n % 3 == 0) e = 100 + (uint32_t)(rnd() % 40); /* the usual range */
    sc[n++] = fp8g_f32_from_bits((uint32_t)(rnd() & 1) << 31 | e << 23 | m);
  }
  return n;
}

/* Inputs whose quotient lies within a few ulps of every rounding tie of `to` (between
 * neighbouring codes, subnormal ones included, and the overflow threshold), both signs. */
static size_t near_ties(float *x, size_t cap, fp8gemm_dtype to, float scale) {
  size_t n = 0;
  int ncodes = to == FP8GEMM_E2M1 ? 8 : 128;
  double prev = 0;
  for (int c = 0; c <= ncodes; c++) {
    double a = c < ncodes ? (double)fp8g_decode(to, (uint8_t)c) : NAN, t;
    if (c == 0) continue;
    if (c < ncodes && !isnan(a) && !isinf(a)) t = (prev + a) / 2; /* tie below code c */
    else if (c > 1) {
      double p2 = (double)fp8g_decode(to, (uint8_t)(c - 2));
      t = prev + (prev - p2) / 2; /* past the largest finite value */
    } else break;
    float x0 = (float)(t * (double)scale);
    for (int k = -5; k <= 5 && n + 2 <= cap; k++) {
      uint32_t b = fp8g_f32_bits(x0) + (uint32_t)k;
      x[n++] = fp8g_f32_from_bits(b);
      x[n++] = fp8g_f32_from_bits(b ^ 0x80000000u);
    }
    if (c >= ncodes || isnan(a) || isinf(a)) break;
    prev = a;
  }
  return n;
}

/* Spans the AVX2 kernels walk as QS_STREAMS far-apart parts of whole chunk pairs (f32
 * quantize with no next row, dequantize: from 2^16 elements on): just below and at the
 * threshold, every count of chunks left over after 4 parts (n / 32 % 8: 0, 1, 3, 5, 7),
 * a tail after them, random alignments. Each against the reference. */
static void suite_streams(const fp8g_quant_kernels *k) {
  static const size_t lens[] = {65536 - 32,         65536 - 1,        65536,
                                65536 + 1,          65536 + 32 * 3,   65536 + 32 * 7 + 17,
                                3 * 65536 + 32 + 1, 4 * 65536 + 32 * 5 + 31};
  static const fp8gemm_dtype to[] = {FP8GEMM_E4M3FN, FP8GEMM_E5M2, FP8GEMM_E2M1};
  static const fp8gemm_dtype from[] = {FP8GEMM_E4M3FN, FP8GEMM_E5M2FNUZ, FP8GEMM_E2M1};
  static const float dq_scales[] = {0.0123f, 0x1p127f};
  size_t maxn = 4 * 65536 + 32 * 8 + 16;
  float *x = malloc(maxn * sizeof *x);
  uint8_t *q = malloc(maxn);
  fill(x, maxn, 1, adv, nadv);
  for (size_t i = 0; i < maxn; i++) q[i] = (uint8_t)rnd();
  for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
    size_t n = lens[li], off = offset();
    for (size_t t = 0; t < sizeof to / sizeof to[0]; t++) {
      check_quantize(k, x + off, n, 1.0f, to[t], false, "streams, cast");
      check_quantize(k, x + off, n, 0.1f, to[t], true, "streams, scaled");
      check_quantize_wide(k, x + off, FP8GEMM_F32, n, 0.1f, to[t], true, "streams, f32 wide");
    }
    for (size_t t = 0; t < sizeof from / sizeof from[0]; t++) {
      size_t m = from[t] == FP8GEMM_E2M1 ? n & ~(size_t)1 : n; /* packed: even lengths */
      for (size_t s = 0; s < sizeof dq_scales / sizeof dq_scales[0]; s++) {
        check_dequantize(k, q + off, m, from[t], dq_scales[s], "streams");
        for (size_t w = 0; w < sizeof wide_types / sizeof wide_types[0]; w++)
          check_dequantize_narrow(k, q + off, m, from[t], dq_scales[s], wide_types[w], "streams");
      }
    }
  }
  free(x);
  free(q);
}

static void suite_rcp(const fp8g_quant_kernels *k, size_t nsc, bool exhaustive) {
  float sc[256];
  nsc = rcp_scales(sc, nsc < 256 ? nsc : 256);
  float *buf = malloc((8192 + 16) * sizeof *buf);
  for (size_t s = 0; s < nsc; s++)
    for (size_t t = 0; t < N_NARROW; t++) {
      size_t off = offset(), n = near_ties(buf + off, 8192, narrow_types[t], sc[s]);
      for (int sat = 0; sat < 2; sat++) {
        check_quantize(k, buf + off, n, sc[s], narrow_types[t], sat, "quotients near ties");
        check_quantize_wide(k, buf + off, FP8GEMM_F32, n, sc[s], narrow_types[t], sat,
                            "quotients near ties");
      }
    }
  for (size_t s = 0; s < nsc; s += 4)
    for (int kind = 0; kind < 2; kind++) {
      fill(buf, 8192, kind, adv, nadv);
      for (size_t t = 0; t < N_NARROW; t++)
        check_quantize(k, buf + 1, 8191, sc[s], narrow_types[t], s & 4, data_names[kind]);
    }
  free(buf);
  if (!exhaustive) return;
  /* every bf16 and fp16 input (the bf16 pair and table paths, F16C) */
  uint16_t *h = malloc(65536 * sizeof *h);
  for (uint32_t i = 0; i < 65536; i++) h[i] = (uint16_t)i;
  const fp8gemm_dtype wide[] = {FP8GEMM_BF16, FP8GEMM_F16};
  for (size_t s = 0; s < nsc; s += 3)
    for (int w = 0; w < 2; w++)
      for (size_t t = 0; t < N_NARROW; t++)
        check_quantize_wide(k, h, wide[w], 65536, sc[s], narrow_types[t], (s / 3) & 1,
                            w ? "all fp16 inputs" : "all bf16 inputs");
  /* positive scales again on the bf16 paths (the sign-from-input forms) */
  for (size_t s = 0; s < nsc; s += 3) {
    float p = fabsf(sc[s]);
    for (size_t t = 0; t < N_NARROW; t++)
      check_quantize_wide(k, h, FP8GEMM_BF16, 65536, p, narrow_types[t], true, "all bf16 inputs");
  }
  free(h);
}

int main(void) {
  size_t cap = 100000;
  adv = malloc(cap * sizeof *adv);
  nadv = adversarial(adv, cap);
  fp8gemm_isa detected = fp8gemm_isa_detected();
  fp8gemm_isa saved_cap = fp8gemm_get_max_isa();
  bool slow = getenv("FP8GEMM_SANITIZED") != NULL;
  for (int level = 0; level < FP8GEMM_ISA_COUNT; level++) {
    if (level > (int)detected) {
      printf("level %s: not run (this CPU's best is %s)\n", fp8gemm_isa_name((fp8gemm_isa)level),
             fp8gemm_isa_name(detected));
      continue;
    }
    fp8gemm_set_max_isa((fp8gemm_isa)level);
    const fp8g_quant_kernels *k = fp8g_quant_kernels_for(fp8gemm_isa_active());
    /* the quant tables stop at avx512: avx512_bf16 adds nothing for elementwise work */
    fp8gemm_isa want = level >= FP8GEMM_ISA_AVX512 ? FP8GEMM_ISA_AVX512 : (fp8gemm_isa)level;
    CHECK(k->isa == want, "level %s picked %s (isa %d), expected isa %d",
          fp8gemm_isa_name((fp8gemm_isa)level), k->name, (int)k->isa, (int)want);
    printf("level %s: %s\n", fp8gemm_isa_name((fp8gemm_isa)level), k->name);
    if (k == &fp8g_quant_ref) continue; /* the reference against itself proves nothing */
    if (level == FP8GEMM_ISA_AVX512_BF16 && k->isa == FP8GEMM_ISA_AVX512) continue; /* done */
    suite_wide(k);
    suite_dequantize(k);
    suite_mx(k);
    suite_mx_fast(k);
    suite_mxcsr(k);
    suite_exhaustive16(k);
    suite_byte_limits(k);
    suite_fused_dequantize(k);
    suite_dequantize_nt(k);
    suite_fused_quantize(k, !slow || level == (int)detected);
    suite_bf16_table(k, !slow || level == (int)detected);
    if (!slow || level == (int)detected) suite_quantize(k);
    suite_streams(k);
    suite_rcp(k, slow ? 24 : 160, !slow || level == (int)detected);
  }
  fp8gemm_set_max_isa(saved_cap);
  /* the body at 16 lanes (AVX-512 structure) in portable C, whatever the CPU */
  printf("16-lane emulation of the SIMD body: %s\n", quant_emul16.name);
  suite_wide(&quant_emul16);
  suite_dequantize(&quant_emul16);
  suite_mx(&quant_emul16);
  suite_mx_fast(&quant_emul16);
  suite_mxcsr(&quant_emul16);
  suite_exhaustive16(&quant_emul16);
  suite_byte_limits(&quant_emul16);
  suite_fused_dequantize(&quant_emul16);
  suite_dequantize_nt(&quant_emul16);
  suite_fused_quantize(&quant_emul16, !slow);
  if (!slow) suite_quantize(&quant_emul16);
  suite_streams(&quant_emul16);
  suite_rcp(&quant_emul16, slow ? 12 : 48, !slow);
  free(adv);
  return test_summary();
}
