/*
 * The N-interleaved weight layout (kernels/nk_layout.h):
 *   - round trip: unpack(pack(w)) == w at awkward N, K (1, 15, 16, 17, 63, 65, 4099),
 *     with a row stride past K;
 *   - the offset formula is a bijection onto the buffer, pack puts code (j, kk) there,
 *     and every padding byte (columns past N, K past K) is code 0;
 *   - the prototype's placement (bench/proto/nk_proto.c, pack_nk: lane l, half h,
 *     column c of a chunk) gives the same bytes;
 *   - what the layout is for: the 64-code decoder's halfword order (per 128-bit lane l,
 *     zmm 0 takes code bytes 16l + 0..7, zmm 1 bytes 16l + 8..15, dword i of the lane =
 *     halfwords 2i, 2i + 1) puts the pair (4q, 4q + 1) of column j of the group in dword
 *     lane j of zmm 0 and (4q + 2, 4q + 3) in zmm 1;
 *   - the plan's premise (docs/gemv.md, session 17 nkimpl17): one emulated VDPBF16PS
 *     chain per output over the packed layout, chunk by chunk (zmm 0's pair, then zmm
 *     1's; the zero pairs of the K padding included), with the GEMM's epilogue, gives
 *     bitwise the BF16 GEMM's output (its plain-C emulation gemm_bf16_emul, M = 17) for
 *     no / per-tensor / per-token x per-channel scales and 128 x 128 block scales (a
 *     fresh chain per block folded by fmaf(acc, sa * sb, C), C = +0 first), f32 and bf16
 *     out (bf16: the f32 rounded again, as the GEMM's epilogue does; one constructed
 *     double-rounding case pins that).
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "gemm_bf16_emul.h" /* emu_dpbf16_lane, gemm_bf16_emul */
#include "kernels/nk_layout.h"
#include "test_rng.h"

static uint8_t *xmalloc(size_t n) {
  uint8_t *p = malloc(n ? n : 1);
  if (!p) abort();
  return p;
}

/* A weight whose codes name their position (never 0, so padding is told apart). */
static uint8_t code_at(int64_t j, int64_t kk) { return (uint8_t)(1 + (j * 7 + kk * 13) % 255); }

/* bench/proto/nk_proto.c's pack_nk for N % 16 == 0, K % 4 == 0, restated. */
static void proto_pack(const uint8_t *nt, int64_t n, int64_t k, uint8_t *out) {
  for (int64_t g = 0; g < n / 16; g++)
    for (int64_t q = 0; q < k / 4; q++) {
      uint8_t *d = out + (g * (k / 4) + q) * 64;
      for (int l = 0; l < 4; l++)
        for (int h = 0; h < 2; h++)
          for (int c = 0; c < 4; c++) {
            const uint8_t *col = nt + (16 * g + 4 * l + c) * k + 4 * q + 2 * h;
            d[16 * l + 8 * h + 2 * c] = col[0];
            d[16 * l + 8 * h + 2 * c + 1] = col[1];
          }
    }
}

static void one_shape(int64_t n, int64_t k) {
  int64_t ld = k + 3; /* a row stride past K: bytes between rows are neither read nor written */
  size_t bytes = fp8g_nk_bytes(n, k);
  uint8_t *nt = xmalloc((size_t)(n * ld)), *back = xmalloc((size_t)(n * ld)), *pk = xmalloc(bytes),
          *seen = calloc(bytes, 1);
  if (!seen) abort();
  for (int64_t j = 0; j < n; j++)
    for (int64_t kk = 0; kk < ld; kk++) nt[j * ld + kk] = kk < k ? code_at(j, kk) : 0xEE;
  memset(pk, 0xAB, bytes);
  fp8g_nk_pack(nt, n, k, ld, pk);
  memset(back, 0xCD, (size_t)(n * ld));
  fp8g_nk_unpack(pk, n, k, back, ld);
  long bad_trip = 0, bad_gap = 0, bad_pos = 0, bad_pad = 0, bad_bij = 0;
  for (int64_t j = 0; j < n; j++)
    for (int64_t kk = 0; kk < ld; kk++) {
      if (kk < k) bad_trip += back[j * ld + kk] != nt[j * ld + kk];
      else bad_gap += back[j * ld + kk] != 0xCD;
    }
  int64_t kp = fp8g_nk_kpad(k), np = fp8g_nk_groups(n) * 16;
  CHECK(kp % 4 == 0 && kp >= k && kp < k + 4 && (size_t)(np * kp) == bytes, "N %lld K %lld: sizes",
        (long long)n, (long long)k);
  for (int64_t j = 0; j < np; j++)
    for (int64_t kk = 0; kk < kp; kk++) {
      int64_t o = fp8g_nk_offset(k, j, kk);
      if (o < 0 || (size_t)o >= bytes || seen[o]++) {
        bad_bij++;
        continue;
      }
      if (j < n && kk < k) bad_pos += pk[o] != code_at(j, kk);
      else bad_pad += pk[o] != 0;
    }
  CHECK(bad_trip == 0, "N %lld K %lld: round trip, %ld codes differ", (long long)n, (long long)k, bad_trip);
  CHECK(bad_gap == 0, "N %lld K %lld: unpack wrote %ld bytes past K", (long long)n, (long long)k, bad_gap);
  CHECK(bad_bij == 0, "N %lld K %lld: offset formula not a bijection (%ld)", (long long)n, (long long)k, bad_bij);
  CHECK(bad_pos == 0, "N %lld K %lld: %ld codes not at their offset", (long long)n, (long long)k, bad_pos);
  CHECK(bad_pad == 0, "N %lld K %lld: %ld padding bytes not 0", (long long)n, (long long)k, bad_pad);
  free(nt), free(back), free(pk), free(seen);
}

/* The prototype's byte order, at whole groups and K steps (its domain). */
static void proto_order(int64_t n, int64_t k) {
  uint8_t *nt = xmalloc((size_t)(n * k)), *a = xmalloc(fp8g_nk_bytes(n, k)), *b = xmalloc(fp8g_nk_bytes(n, k));
  for (int64_t i = 0; i < n * k; i++) nt[i] = (uint8_t)rnd();
  fp8g_nk_pack(nt, n, k, k, a);
  proto_pack(nt, n, k, b);
  CHECK(memcmp(a, b, fp8g_nk_bytes(n, k)) == 0, "N %lld K %lld: differs from nk_proto's pack", (long long)n,
        (long long)k);
  free(nt), free(a), free(b);
}

/* Decoder view of every chunk of a packed 32 x 8 weight: zmm z (0, 1), dword lane L
 * (lane l = L / 4, dword i = L % 4) holds code bytes 16 l + 8 z + 2 i, + 1 of the chunk:
 * those must be column 16 g + L, K indices 4 q + 2 z, 4 q + 2 z + 1. */
static void decoder_lanes(void) {
  int64_t n = 32, k = 8;
  uint8_t nt[32 * 8], pk[32 * 8];
  for (int64_t j = 0; j < n; j++)
    for (int64_t kk = 0; kk < k; kk++) nt[j * k + kk] = code_at(j, kk);
  fp8g_nk_pack(nt, n, k, k, pk);
  long bad = 0;
  for (int64_t g = 0; g < 2; g++)
    for (int64_t q = 0; q < 2; q++) {
      const uint8_t *ch = pk + (g * 2 + q) * 64;
      for (int z = 0; z < 2; z++)
        for (int L = 0; L < 16; L++) {
          const uint8_t *dw = ch + 16 * (L / 4) + 8 * z + 2 * (L % 4);
          int64_t j = 16 * g + L, k0 = 4 * q + 2 * z;
          bad += dw[0] != code_at(j, k0) || dw[1] != code_at(j, k0 + 1);
        }
    }
  CHECK(bad == 0, "decoder lanes: %ld dwords not (column = lane, K pair in order)", bad);
}

/* ------------------------------------------------------------ single-chain model */
enum { MM = 17, BLK = 128 };
typedef enum scheme { S_NONE, S_TENSOR, S_ROWCOL, S_BLOCK, S_COUNT } scheme;
static const char *const scheme_name[S_COUNT] = {"none", "tensor", "rowcol", "block"};

typedef struct gemm_data {
  int64_t n, k, kb, nb;
  uint8_t *a, *w;     /* [MM][K] activations, NT [N][K] weight */
  float sa[MM * 9], sb[2048], bias[256];  /* per scheme: sa[MM] / sb[N], or blocks */
  int64_t offs[MM];
} gemm_data;

static uint8_t e4m3_code(void) { /* every non-NaN e4m3fn code */
  for (;;) {
    uint8_t c = (uint8_t)rnd();
    if ((c & 0x7F) != 0x7F) return c;
  }
}
static float scale_val(float base) { return base * (1.0f + (float)(rnd() % 1024) / 1024.0f); }

static fp8g_gemm_problem gemm_problem(const gemm_data *d, scheme s, bool bias, fp8gemm_dtype out_dt, void *out) {
  static const float one = 1.0f;
  fp8g_gemm_problem p = {.batch = 1, .m = MM, .n = d->n, .k = d->k, .a_dtype = FP8GEMM_E4M3FN, .a = d->a,
                         .a_row_offset = d->offs, .a_stride_k = 1, .b_dtype = FP8GEMM_E4M3FN, .b = d->w,
                         .b_stride_k = 1, .b_stride_n = d->k, .block_k = d->k, .block_n = 1, .a_kblocks = 1,
                         .b_nblocks = d->n, .sa = &one, .sb = &one, .out_dtype = out_dt, .out = out,
                         .nthreads = 1};
  if (s == S_TENSOR || s == S_ROWCOL) p.scale_kind = s == S_TENSOR ? FP8G_SCALE_TENSOR : FP8G_SCALE_ROWCOL;
  if (s == S_TENSOR || s == S_ROWCOL) p.sa = d->sa, p.sb = d->sb;
  if (s == S_BLOCK) {
    p.scale_kind = FP8G_SCALE_BLOCK, p.block_k = BLK, p.block_n = BLK, p.a_kblocks = d->kb;
    p.b_nblocks = d->nb, p.sa = d->sa, p.sb = d->sb;
  }
  if (bias) p.bias_kind = FP8G_BIAS_COL, p.bias = d->bias;
  return p;
}

/* bf16 pair of two codes (low: the first). */
static uint32_t code_pair(const uint16_t *lut, const uint8_t *c) { return lut[c[0]] | (uint32_t)lut[c[1]] << 16; }

/* Output (r, j) before the epilogue: per chunk, the decoder's zmm 0 pair, then zmm 1's,
 * each a VDPBF16PS step with the activation pair (0 past K); block scales: a fresh chain
 * per block of BLK K, folded with fmaf(acc, sa * sb, C) from C = +0. */
static float nk_chain(const gemm_data *d, scheme s, const uint8_t *pk, int64_t r, int64_t j) {
  const uint16_t *lut = fp8g_bf16_lut(FP8GEMM_E4M3FN);
  int64_t nq = fp8g_nk_kpad(d->k) / 4, c = j % 16;
  const uint8_t *ar = d->a + r * d->k;
  float acc = 0.0f, sum = 0.0f;
  for (int64_t q = 0; q < nq; q++) {
    const uint8_t *ch = pk + ((j / 16) * nq + q) * 64;
    for (int z = 0; z < 2; z++) {
      int64_t k0 = 4 * q + 2 * z;
      uint8_t ac[2] = {k0 < d->k ? ar[k0] : 0, k0 + 1 < d->k ? ar[k0 + 1] : 0};
      acc = emu_dpbf16_lane(acc, code_pair(lut, ac), code_pair(lut, ch + 16 * (c / 4) + 8 * z + 2 * (c % 4)));
    }
    int64_t kend = 4 * (q + 1);
    if (s == S_BLOCK && (kend % BLK == 0 || q == nq - 1)) {
      int64_t kb = (kend - 1) / BLK;
      sum = fmaf(acc, d->sa[r * d->kb + kb] * d->sb[kb * d->nb + j / BLK], sum);
      acc = 0.0f;
    }
  }
  return s == S_BLOCK ? sum : acc;
}

/* The GEMM epilogue: in double, acc * (sa * sb) + bias, rounded to f32. */
static float gemm_epilogue(const gemm_data *d, scheme s, bool bias, int64_t r, int64_t j, float acc) {
  double v = acc;
  if (s == S_TENSOR) v *= (double)d->sa[0] * (double)d->sb[0];
  if (s == S_ROWCOL) v *= (double)d->sa[r] * (double)d->sb[j];
  if (bias) v += (double)d->bias[j];
  return (float)v;
}

static void gemm_bits(int64_t n, int64_t k) {
  gemm_data d = {.n = n, .k = k, .kb = (k + BLK - 1) / BLK, .nb = (n + BLK - 1) / BLK};
  if (MM * d.kb > (int64_t)(sizeof d.sa / sizeof d.sa[0]) || n > 256 || d.kb * d.nb > 2048) abort();
  d.a = xmalloc((size_t)(MM * k)), d.w = xmalloc((size_t)(n * k));
  uint8_t *pk = xmalloc(fp8g_nk_bytes(n, k));
  float *of = malloc((size_t)(MM * n) * sizeof(float));
  uint16_t *ob = malloc((size_t)(MM * n) * sizeof(uint16_t));
  if (!of || !ob) abort();
  for (int64_t i = 0; i < MM * k; i++) d.a[i] = e4m3_code();
  for (int64_t i = 0; i < n * k; i++) d.w[i] = e4m3_code();
  for (int64_t i = 0; i < MM; i++) d.offs[i] = i * k;
  for (int64_t j = 0; j < n; j++) d.bias[j] = scale_val(0.25f) - 0.4f;
  fp8g_nk_pack(d.w, n, k, k, pk);
  for (int s = 0; s < S_COUNT; s++) {
    for (size_t i = 0; i < sizeof d.sa / sizeof d.sa[0]; i++) d.sa[i] = scale_val(0.01f);
    for (size_t i = 0; i < sizeof d.sb / sizeof d.sb[0]; i++) d.sb[i] = scale_val(0.003f);
    bool bias = s % 2 == 1;
    fp8g_gemm_problem pf = gemm_problem(&d, (scheme)s, bias, FP8GEMM_F32, of);
    fp8g_gemm_problem pb = gemm_problem(&d, (scheme)s, bias, FP8GEMM_BF16, ob);
    CHECK(gemm_bf16_emul.run(&pf) == FP8GEMM_OK && gemm_bf16_emul.run(&pb) == FP8GEMM_OK, "gemm runs");
    long bad_f = 0, bad_b = 0;
    for (int64_t r = 0; r < MM; r++)
      for (int64_t j = 0; j < n; j++) {
        float v = gemm_epilogue(&d, (scheme)s, bias, r, j, nk_chain(&d, (scheme)s, pk, r, j));
        bad_f += fp8g_f32_bits(v) != fp8g_f32_bits(of[r * n + j]);
        bad_b += fp8g_f32_to_bf16(v) != ob[r * n + j];
      }
    CHECK(bad_f == 0 && bad_b == 0, "%s N %lld K %lld: single chain over the layout != GEMM: %ld f32, %ld bf16 of %lld",
          scheme_name[s], (long long)n, (long long)k, bad_f, bad_b, (long long)(MM * n));
  }
  free(d.a), free(d.w), free(pk), free(of), free(ob);
}

/* The GEMM's bf16 output is its f32 rounded again: a sum of 1 times sa * sb =
 * 1 + 2^-8 + 2^-28 - 2^-40 (exact in double) rounds to f32 1 + 2^-8, a bf16 tie, to even
 * 1.0; rounded once it would be 1 + 2^-7. The model (gemm_epilogue, then RNE) must
 * follow the GEMM here; if the GEMM moves to one rounding, this case flips. */
static void epilogue_two_roundings(void) {
  gemm_data d = {.n = 16, .k = 2, .kb = 1, .nb = 1};
  uint8_t a[MM * 2], w[16 * 2];
  for (int i = 0; i < MM * 2; i++) a[i] = i % 2 ? 0x00 : 0x38; /* e4m3fn 1.0, 0 */
  for (int i = 0; i < 16 * 2; i++) w[i] = i % 2 ? 0x00 : 0x38;
  d.a = a, d.w = w;
  for (int64_t i = 0; i < MM; i++) d.offs[i] = i * 2;
  d.sa[0] = 1.0f + 0x1p-20f, d.sb[0] = 1.0f + 0x1p-8f - 0x1p-20f;
  uint16_t ob[MM * 16];
  fp8g_gemm_problem p = gemm_problem(&d, S_TENSOR, false, FP8GEMM_BF16, ob);
  CHECK(gemm_bf16_emul.run(&p) == FP8GEMM_OK, "gemm runs");
  uint8_t pk[16 * 4];
  fp8g_nk_pack(w, 16, 2, 2, pk);
  uint16_t model = fp8g_f32_to_bf16(gemm_epilogue(&d, S_TENSOR, false, 0, 0, nk_chain(&d, S_TENSOR, pk, 0, 0)));
  CHECK(model == 0x3F80 && ob[0] == model, "two roundings: model 0x%04x, GEMM 0x%04x, want 0x3F80 (once: 0x3F81)",
        model, ob[0]);
}

int main(void) {
  static const int64_t sizes[] = {1, 15, 16, 17, 63, 65, 4099};
  enum { NS = sizeof sizes / sizeof sizes[0] };
  for (int a = 0; a < NS; a++)
    for (int b = 0; b < NS; b++)
      if (sizes[a] < 4099 || sizes[b] < 4099) one_shape(sizes[a], sizes[b]);
  for (int64_t k = 1; k <= 9; k++) one_shape(33, k); /* every K % 4 */
  proto_order(16, 4);
  proto_order(48, 64);
  proto_order(64, 4100);
  decoder_lanes();
  if (fp8g_isa() >= FP8GEMM_ISA_AVX2) { /* the emulated GEMM's epilogue is the AVX2 one */
    gemm_bits(80, 7);
    gemm_bits(33, 130);
    gemm_bits(96, 1001);
    epilogue_two_roundings();
  } else {
    printf("single-chain model against the GEMM: needs AVX2, not tested\n");
  }
  return test_summary();
}
