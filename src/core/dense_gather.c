/*
 * fp8g_gather_dense: a strided view to its dense row-major form. The view is reduced to
 * its essential dims (size-1 dims dropped, a dim merged into the next one when it steps
 * over it exactly), the last two are copied as a matrix and the rest are stepped like an
 * odometer, so no element costs a division. A matrix whose rows are contiguous is copied
 * row by row; one read along its columns (a transposed view, e.g. the NT view of an
 * [N, K/32] e8m0 checkpoint scale) is copied in strips of 64 columns over all rows (the strip's source lines stay in L1),
 * and e8m0 codes with unit column stride go through 16 x 16 SSE2 byte transposes.
 */
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "dense_gather.h"

enum { TILE = 64 }; /* a tile's source rows and destination rows stay in L1 */

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* Element kinds: what is read and what is written. */
typedef enum kind { K_U8, K_U32, K_BF16, K_F16, K_E8M0 } kind;

static inline uint8_t conv_u8(uint8_t v) { return v; }
static inline uint32_t conv_u32(uint32_t v) { return v; }
static inline float conv_bf16(uint16_t v) { return fp8g_bf16_to_f32(v); }
static inline float conv_f16(uint16_t v) { return fp8g_f16_to_f32(v); }
/* 2^(code - 127), exact (code 0 is the subnormal 2^-127); 0xFF is NaN: the library's
 * one e8m0 decoder, as the kernels use. */
static inline float conv_e8m0(uint8_t c) { return fp8g_decode(FP8GEMM_E8M0, c); }

/*
 * dst[x * ny + y] = CONV(src[x * sx + y * sy]) for an nx x ny matrix. When the source
 * steps less along x than along y (a transposed view) the copy goes in tiles so that
 * the tile's source lines are reused from L1 while each destination row is written in
 * one run; otherwise row by row.
 */
#define DEFINE_MATRIX(name, S, D, CONV)                                                      \
  static void name(D *restrict dst, const S *restrict src, int64_t nx, int64_t ny, int64_t sx, \
                   int64_t sy) {                                                             \
    if (sy <= sx) {                                                                          \
      for (int64_t x = 0; x < nx; x++)                                                       \
        for (int64_t y = 0; y < ny; y++) dst[x * ny + y] = CONV(src[x * sx + y * sy]);       \
      return;                                                                                \
    }                                                                                        \
    for (int64_t y0 = 0; y0 < ny; y0 += TILE) {                                              \
      int64_t y1 = min64(y0 + TILE, ny);                                                     \
      for (int64_t x = 0; x < nx; x++)                                                       \
        for (int64_t y = y0; y < y1; y++) dst[x * ny + y] = CONV(src[x * sx + y * sy]);      \
    }                                                                                        \
  }

DEFINE_MATRIX(matrix_u8, uint8_t, uint8_t, conv_u8)
DEFINE_MATRIX(matrix_u32, uint32_t, uint32_t, conv_u32)
DEFINE_MATRIX(matrix_bf16, uint16_t, float, conv_bf16)
DEFINE_MATRIX(matrix_f16, uint16_t, float, conv_f16)
DEFINE_MATRIX(matrix_e8m0, uint8_t, float, conv_e8m0)

#if defined(__SSE2__)
/* One interleave round of a 16 x 16 byte transpose: rotates each byte's (row, column)
 * index bits left by one; four rounds swap row and column. */
static inline void interleave16(const __m128i *v, __m128i *w) {
  for (int i = 0; i < 8; i++) {
    w[2 * i] = _mm_unpacklo_epi8(v[i], v[i + 8]);
    w[2 * i + 1] = _mm_unpackhi_epi8(v[i], v[i + 8]);
  }
}

/* dst[x * ldd + y] = src[y * lds + x] for x, y in 0..15. */
static void transpose16_u8(uint8_t *dst, int64_t ldd, const uint8_t *src, int64_t lds) {
  __m128i v[16], w[16];
  for (int i = 0; i < 16; i++) v[i] = _mm_loadu_si128((const __m128i *)(const void *)(src + i * lds));
  interleave16(v, w);
  interleave16(w, v);
  interleave16(v, w);
  interleave16(w, v);
  for (int i = 0; i < 16; i++) _mm_storeu_si128((__m128i *)(void *)(dst + i * ldd), v[i]);
}
#endif

/* Codes of a transposed view (unit step along x): 64 source rows at a time, 16 x 16
 * byte blocks; a block column writes 16 destination rows of up to 64 bytes each. */
static void transpose_u8(uint8_t *restrict dst, const uint8_t *restrict src, int64_t nx,
                         int64_t ny, int64_t sy) {
  for (int64_t y0 = 0; y0 < ny; y0 += TILE) {
    int64_t y1 = min64(y0 + TILE, ny), x0 = 0;
#if defined(__SSE2__)
    for (; x0 + 16 <= nx; x0 += 16) {
      int64_t y = y0;
      for (; y + 16 <= y1; y += 16) transpose16_u8(dst + x0 * ny + y, ny, src + x0 + y * sy, sy);
      for (int64_t x = x0; x < x0 + 16; x++)
        for (int64_t yy = y; yy < y1; yy++) dst[x * ny + yy] = src[x + yy * sy];
    }
#endif
    for (int64_t x = x0; x < nx; x++)
      for (int64_t y = y0; y < y1; y++) dst[x * ny + y] = src[x + y * sy];
  }
}

static void matrix(kind k, void *dst, const void *src, int64_t nx, int64_t ny, int64_t sx,
                   int64_t sy) {
  size_t esz = k == K_U8 ? 1 : 4; /* bytes written per element */
  if (sy == 1 && (k == K_U8 || k == K_U32)) { /* contiguous rows of the same type */
    for (int64_t x = 0; x < nx; x++)
      memcpy((char *)dst + (size_t)(x * ny) * esz, (const char *)src + (size_t)(x * sx) * esz,
             (size_t)ny * esz);
    return;
  }
  switch (k) {
    case K_U8:
      if (sx == 1 && sy > 1) transpose_u8(dst, src, nx, ny, sy);
      else matrix_u8(dst, src, nx, ny, sx, sy);
      break;
    case K_U32: matrix_u32(dst, src, nx, ny, sx, sy); break;
    case K_BF16: matrix_bf16(dst, src, nx, ny, sx, sy); break;
    case K_F16: matrix_f16(dst, src, nx, ny, sx, sy); break;
    case K_E8M0: matrix_e8m0(dst, src, nx, ny, sx, sy); break;
  }
}

void fp8g_gather_dense(const fp8gemm_tensor *t, bool to_f32, void *dst) {
  kind k = K_U8;
  if (to_f32)
    k = t->dtype == FP8GEMM_F32 ? K_U32 : t->dtype == FP8GEMM_BF16 ? K_BF16
      : t->dtype == FP8GEMM_F16 ? K_F16 : K_E8M0;
  /* The essential dims, outermost first. */
  int nd = 0;
  int64_t dims[FP8GEMM_MAX_DIMS], strides[FP8GEMM_MAX_DIMS];
  for (int i = 0; i < t->ndim; i++) {
    if (t->dims[i] == 0) return;
    if (t->dims[i] == 1) continue;
    if (nd > 0 && strides[nd - 1] == t->strides[i] * t->dims[i]) { /* steps over dim i exactly */
      dims[nd - 1] *= t->dims[i];
      strides[nd - 1] = t->strides[i];
      continue;
    }
    dims[nd] = t->dims[i];
    strides[nd++] = t->strides[i];
  }
  int64_t ny = nd >= 1 ? dims[nd - 1] : 1, sy = nd >= 1 ? strides[nd - 1] : 1;
  int64_t nx = nd >= 2 ? dims[nd - 2] : 1, sx = nd >= 2 ? strides[nd - 2] : 0;
  int outer = nd > 2 ? nd - 2 : 0;
  int64_t count = fp8g_dims_product(dims, 0, outer), per = nx * ny;
  size_t in_esz = (size_t)fp8gemm_dtype_bits(t->dtype) / 8, out_esz = to_f32 ? 4 : 1;
  int64_t idx[FP8GEMM_MAX_DIMS] = {0}, off = 0;
  for (int64_t m = 0; m < count; m++) {
    matrix(k, (char *)dst + (size_t)(m * per) * out_esz, (const char *)t->data + (size_t)off * in_esz,
           nx, ny, sx, sy);
    for (int i = outer - 1; i >= 0; i--) { /* next matrix: odometer over the outer dims */
      off += strides[i];
      if (++idx[i] < dims[i]) break;
      off -= strides[i] * dims[i];
      idx[i] = 0;
    }
  }
}
