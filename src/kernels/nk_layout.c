/* The N-interleaved weight layout (nk_layout.h): pack from NT codes and back. */
#include "nk_layout.h"

/* Code (j, kk) of an NT weight, 0 outside [n, k]. */
static uint8_t nt_code(const uint8_t *nt, int64_t n, int64_t k, int64_t ld, int64_t j, int64_t kk) {
  return j < n && kk < k ? nt[j * ld + kk] : 0;
}

/* One chunk (group g, K step q) at a time, written in order: the destination is a
 * single sequential stream, each column's 4 codes read per chunk. */
void fp8g_nk_pack(const uint8_t *nt, int64_t n, int64_t k, int64_t ld, uint8_t *dst) {
  int64_t ng = fp8g_nk_groups(n), nq = fp8g_nk_kpad(k) / FP8G_NK_KSTEP;
  for (int64_t g = 0; g < ng; g++)
    for (int64_t q = 0; q < nq; q++) {
      uint8_t *d = dst + (g * nq + q) * FP8G_NK_CHUNK;
      for (int c = 0; c < FP8G_NK_COLS; c++) {
        int64_t j = g * FP8G_NK_COLS + c;
        for (int r = 0; r < FP8G_NK_KSTEP; r++)
          d[fp8g_nk_offset(k, c, r)] = nt_code(nt, n, k, ld, j, q * FP8G_NK_KSTEP + r);
      }
    }
}

void fp8g_nk_unpack(const uint8_t *src, int64_t n, int64_t k, uint8_t *nt, int64_t ld) {
  for (int64_t j = 0; j < n; j++)
    for (int64_t kk = 0; kk < k; kk++) nt[j * ld + kk] = src[fp8g_nk_offset(k, j, kk)];
}
