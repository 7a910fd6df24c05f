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
 *     lane j of zmm 0 and (4q + 2, 4q + 3) in zmm 1.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
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
  return test_summary();
}
