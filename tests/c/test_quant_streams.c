/*
 * The far-apart stream order of quant_simd_body.h (qs_stream_part / qs_stream_at), which
 * only the AVX2 kernels switch on (QS_STREAMS in avx2/quant_avx2.c). Here the body is
 * built through the 16-lane emulation (quant_emul16.h) with the AVX2 settings, so the
 * order can be checked on its own and the streamed loops run in a configuration
 * without QS_PF_AHEAD:
 *  - for every chunk count up to a few spans past the threshold (and the ops' 1 Mi
 *    spans): the walk is a permutation of [0, nchunks); parts are whole units, at most
 *    QS_STREAMS * u - 1 chunks are left over; each unit is u consecutive chunks starting
 *    on a multiple of u; consecutive units come from the parts in turn; the leftover
 *    chunks follow in order;
 *  - quantize / quantize_wide / quantize_nt / dequantize / dequantize_narrow of streamed
 *    spans against the reference, byte for byte, nothing written past the output.
 */
#define QS_STREAMS ((size_t)4)
#define QS_STREAMS_MIN ((size_t)1 << 16)

#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "kernels/quant_kernels.h"
#include "quant_emul16.h"

#include "test_rng.h"

/* One chunk count: returns false at the first broken property (one CHECK per count). */
static bool order_ok(size_t nchunks, size_t epc, size_t u, unsigned char *seen) {
  size_t part = qs_stream_part(nchunks, epc, u);
  size_t streamed = QS_STREAMS * part;
  if ((part != 0) != (nchunks * epc >= QS_STREAMS_MIN && nchunks >= QS_STREAMS * u)) return false;
  if (part % u != 0 || streamed > nchunks) return false;
  if (part != 0 && nchunks - streamed >= QS_STREAMS * u) return false;
  memset(seen, 0, nchunks ? nchunks : 1);
  for (size_t i = 0; i < nchunks; i++) {
    size_t c = qs_stream_at(i, part, u);
    if (c >= nchunks || seen[c]) return false;
    seen[c] = 1;
    if (i >= streamed) {
      if (c != i) return false; /* the leftover chunks: in order */
    } else {
      if (c / part != i / u % QS_STREAMS) return false;  /* units from the parts in turn */
      if (c % u != i % u) return false;                   /* a unit: whole, aligned */
      if (c % part / u != i / u / QS_STREAMS) return false; /* each part front to back */
    }
  }
  return true;
}

static void test_order(void) {
  size_t maxc = ((size_t)1 << 20) / 32 + 64;
  unsigned char *seen = malloc(maxc);
  static const size_t us[] = {1, 2, 4};
  static const size_t epcs[] = {32, 16};
  for (size_t a = 0; a < sizeof us / sizeof us[0]; a++)
    for (size_t b = 0; b < sizeof epcs / sizeof epcs[0]; b++) {
      size_t u = us[a], epc = epcs[b], bad = 0, first_bad = 0;
      size_t edge = QS_STREAMS_MIN / epc; /* first count streamed */
      /* small counts, around the threshold and past it: every residue of the unit
       * pattern (4 u) many times over */
      const size_t from[3] = {0, edge - 64, 3 * edge - 64}, to[3] = {64, edge + 640, 3 * edge + 64};
      for (int r = 0; r < 3; r++)
        for (size_t n = from[r]; n <= to[r]; n++)
          if (!order_ok(n, epc, u, seen) && bad++ == 0) first_bad = n;
      /* the ops' spans (1 Mi elements) and their neighbours */
      for (size_t n = maxc - 64 - 2 * QS_STREAMS * u; n < maxc; n++)
        if (!order_ok(n, epc, u, seen) && bad++ == 0) first_bad = n;
      CHECK(bad == 0, "stream order u=%zu, %zu elements a chunk: %zu chunk counts broken, the first %zu",
            u, epc, bad, first_bad);
    }
  free(seen);
}

static bool canary_ok(const uint8_t *p, size_t bytes, size_t extra) {
  for (size_t i = 0; i < extra; i++)
    if (p[bytes + i] != 0xA5) return false;
  return true;
}

static void test_kernels(void) {
  static const size_t lens[] = {65536 - 1, 65536, 65536 + 32 * 7 + 17, 2 * 65536 + 32 * 3 + 30};
  static const fp8gemm_dtype tos[] = {FP8GEMM_E4M3FN, FP8GEMM_E5M2FNUZ, FP8GEMM_E2M1};
  enum { EXTRA = 64 };
  size_t maxn = 2 * 65536 + 32 * 8 + 16;
  float *x = malloc(maxn * sizeof *x);
  uint8_t *codes = malloc(maxn);
  uint8_t *a = malloc(4 * maxn + EXTRA), *b = malloc(4 * maxn + EXTRA);
  for (size_t i = 0; i < maxn; i++) {
    x[i] = (float)((int64_t)(rnd() % 2000001) - 1000000) * 0x1p-9f;
    codes[i] = (uint8_t)rnd();
  }
  const fp8g_quant_kernels *k = &quant_emul16;
  for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++)
    for (size_t t = 0; t < sizeof tos / sizeof tos[0]; t++) {
      size_t n = lens[li], off = rnd() % 16, qo = rnd() % 64;
      fp8gemm_dtype to = tos[t];
      if (to == FP8GEMM_E2M1) n &= ~(size_t)1;
      size_t qb = to == FP8GEMM_E2M1 ? n / 2 : n;
      for (int form = 0; form < 3; form++) {
        fp8g_quant_ref.quantize(x + off, n, 0.37f, to, true, a);
        memset(b, 0xA5, qb + qo + EXTRA);
        if (form == 0) k->quantize(x + off, n, 0.37f, to, true, b + qo);
        else if (form == 1) k->quantize_wide(x + off, FP8GEMM_F32, n, 0.37f, to, true, b + qo);
        else k->quantize_nt(x + off, n, 0.37f, to, true, b + qo);
        CHECK(memcmp(a, b + qo, qb) == 0 && canary_ok(b + qo, qb, EXTRA),
              "streamed %s (form %d) to %s, n=%zu, q offset %zu: differs from the reference or wrote past the end",
              form == 0 ? "quantize" : form == 1 ? "quantize_wide" : "quantize_nt", form,
              fp8gemm_dtype_name(to), n, qo);
      }
      static const fp8gemm_dtype outs[] = {FP8GEMM_F32, FP8GEMM_BF16, FP8GEMM_F16};
      for (size_t o = 0; o < sizeof outs / sizeof outs[0]; o++) {
        size_t ob = outs[o] == FP8GEMM_F32 ? 4 : 2;
        fp8g_quant_ref.dequantize_narrow(codes + off, n, to, 0.37f, outs[o], a);
        memset(b, 0xA5, n * ob + EXTRA);
        k->dequantize_narrow(codes + off, n, to, 0.37f, outs[o], b);
        CHECK(memcmp(a, b, n * ob) == 0 && canary_ok(b, n * ob, EXTRA),
              "streamed dequantize_narrow %s -> %s, n=%zu: differs from the reference or wrote past the end",
              fp8gemm_dtype_name(to), fp8gemm_dtype_name(outs[o]), n);
      }
    }
  free(x);
  free(codes);
  free(a);
  free(b);
}

int main(void) {
  test_order();
  test_kernels();
  return test_summary();
}
