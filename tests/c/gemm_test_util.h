/*
 * Helpers for the GEMM tests: a seeded RNG, tensors with random layouts (permuted,
 * padded, stepped) whose unused bytes hold NaN so that a read outside the view
 * poisons the result, and element access by logical flat index.
 */
#ifndef FP8GEMM_GEMM_TEST_UTIL_H
#define FP8GEMM_GEMM_TEST_UTIL_H

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

typedef struct rng {
  uint64_t s;
} rng;

static inline uint64_t rng_next(rng *r) { /* splitmix64 */
  uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
/* Uniform in [lo, hi]. */
static inline int64_t rng_int(rng *r, int64_t lo, int64_t hi) {
  return lo + (int64_t)(rng_next(r) % (uint64_t)(hi - lo + 1));
}
static inline double rng_unit(rng *r) { return (double)(rng_next(r) >> 11) * 0x1p-53; }
#define RNG_PICK(r, arr) ((arr)[rng_int((r), 0, (int64_t)(sizeof(arr) / sizeof((arr)[0])) - 1)])

static inline size_t elem_bytes(fp8gemm_dtype dt) { return (size_t)fp8gemm_dtype_bits(dt) / 8; }

/* The byte pattern that reads as NaN in each dtype (used for padding). */
static inline uint8_t nan_byte(fp8gemm_dtype dt) {
  switch (dt) {
    case FP8GEMM_E4M3FNUZ:
    case FP8GEMM_E5M2FNUZ: return 0x80;
    default: return 0xFF; /* e4m3fn 0xFF, e5m2 0xFF, e8m0 0xFF, bf16/f16/f32 all-ones */
  }
}

typedef struct tbuf {
  fp8gemm_tensor t;
  uint8_t *mem;
  size_t bytes;
} tbuf;

/* Layouts of tb_make. Unused bytes are NaN. */
enum {
  TB_CONTIGUOUS = 0,
  TB_RANDOM = 1,     /* random storage order, padding, sometimes a step of 2 innermost */
  TB_SWAP_LAST = 2,  /* storage order of the last two dims swapped (NT weights) */
  TB_SWAP_FIRST = 3  /* storage order of the first two dims swapped (permuted input) */
};

static inline void tb_make(tbuf *b, fp8gemm_dtype dt, int ndim, const int64_t *dims, rng *r,
                           int layout) {
  memset(b, 0, sizeof *b);
  b->t.dtype = dt;
  b->t.ndim = ndim;
  int order[FP8GEMM_MAX_DIMS];
  for (int i = 0; i < ndim; i++) order[i] = i;
  if (layout == TB_RANDOM && ndim > 1) /* storage order: a random permutation */
    for (int i = ndim - 1; i > 0; i--) {
      int j = (int)rng_int(r, 0, i), tmp = order[i];
      order[i] = order[j];
      order[j] = tmp;
    }
  if (layout == TB_SWAP_LAST && ndim > 1) { /* NT: the transposed view of [.., N, K] */
    order[ndim - 2] = ndim - 1;
    order[ndim - 1] = ndim - 2;
  }
  if (layout == TB_SWAP_FIRST && ndim > 2) { /* a permuted [m, b, K] view of [b, m, K] */
    order[0] = 1;
    order[1] = 0;
  }
  int64_t stride = layout == TB_RANDOM && rng_int(r, 0, 3) == 0 ? 2 : 1, numel = 1;
  for (int s = ndim - 1; s >= 0; s--) {
    int d = order[s];
    b->t.dims[d] = dims[d];
    b->t.strides[d] = stride;
    int64_t pad = layout == TB_RANDOM ? rng_int(r, 0, 2) : 0;
    stride *= (dims[d] > 0 ? dims[d] : 1) + pad;
    numel *= dims[d];
  }
  size_t span = 1;
  if (numel > 0) {
    span = 1;
    for (int i = 0; i < ndim; i++) span += (size_t)((dims[i] - 1) * b->t.strides[i]);
  }
  b->bytes = span * elem_bytes(dt);
  b->mem = malloc(b->bytes);
  memset(b->mem, nan_byte(dt), b->bytes);
  b->t.data = b->mem;
}

static inline void tb_free(tbuf *b) {
  free(b->mem);
  b->mem = NULL;
}

static inline int64_t tb_numel(const tbuf *b) {
  return fp8g_dims_product(b->t.dims, 0, b->t.ndim);
}

/* Element offset of logical flat index i. */
static inline int64_t tb_off(const fp8gemm_tensor *t, int64_t i) { return fp8g_offset_of(t, t->ndim, i); }

static inline void tb_set_code(tbuf *b, int64_t i, uint8_t code) { b->mem[tb_off(&b->t, i)] = code; }
static inline uint8_t tb_code(const tbuf *b, int64_t i) { return b->mem[tb_off(&b->t, i)]; }

/* Stores v (which must be representable) in a wide tensor. */
static inline void tb_set_wide(tbuf *b, int64_t i, float v) {
  int64_t off = tb_off(&b->t, i);
  switch (b->t.dtype) {
    case FP8GEMM_F32: memcpy(b->mem + off * 4, &v, 4); break;
    case FP8GEMM_BF16: {
      uint16_t h = fp8g_f32_to_bf16(v);
      memcpy(b->mem + off * 2, &h, 2);
      break;
    }
    case FP8GEMM_F16: {
      uint16_t h = fp8g_f32_to_f16(v);
      memcpy(b->mem + off * 2, &h, 2);
      break;
    }
    default: break;
  }
}
static inline double tb_wide(const tbuf *b, int64_t i) {
  return fp8g_load_wide(b->mem, b->t.dtype, tb_off(&b->t, i));
}

/* Decoded value of element i of any tensor (fp8, e8m0 or wide). */
static inline double tb_value(const tbuf *b, int64_t i) {
  const fp8g_dtype_traits *tr = fp8g_traits(b->t.dtype);
  if (tr->is_wide) return tb_wide(b, i);
  return fp8g_decode(b->t.dtype, tb_code(b, i));
}

/* v rounded to what a wide dtype can hold (bf16 / f16 / f32). */
static inline float round_to(fp8gemm_dtype dt, float v) {
  switch (dt) {
    case FP8GEMM_BF16: return fp8g_bf16_to_f32(fp8g_f32_to_bf16(v));
    case FP8GEMM_F16: return fp8g_f16_to_f32(fp8g_f32_to_f16(v));
    default: return v;
  }
}

/* Reads output element i of a contiguous wide tensor as double. */
static inline double out_value(const void *data, fp8gemm_dtype dt, int64_t i) {
  return fp8g_load_wide(data, dt, i);
}

#endif /* FP8GEMM_GEMM_TEST_UTIL_H */
