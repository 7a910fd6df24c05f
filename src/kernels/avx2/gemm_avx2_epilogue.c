/*
 * Epilogue: fp32 accumulators -> output. Per-tensor / per-token / per-channel scales
 * and the bias are applied in double, rounded once to f32, then to nearest even into
 * f32 / bf16 / f16. Block and MX scales were applied
 * earlier (micro-kernel folds or packing). Column tails go through the same vector
 * code on a padded copy, so every element sees the same instructions.
 */
#include <immintrin.h>
#include <string.h>

#include "gemm_avx2.h"

/* RNE f32 -> bf16 of 8 lanes (quiet NaN kept), in the low 128 bits. */
static inline __m128i to_bf16(__m256 v) {
  __m256i u = _mm256_castps_si256(v);
  __m256i abs = _mm256_and_si256(u, _mm256_set1_epi32(0x7fffffff));
  __m256i nan = _mm256_cmpgt_epi32(abs, _mm256_set1_epi32(0x7f800000));
  __m256i odd = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
  __m256i r = _mm256_srli_epi32(_mm256_add_epi32(u, _mm256_add_epi32(odd, _mm256_set1_epi32(0x7fff))), 16);
  __m256i q = _mm256_or_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(0x40));
  r = _mm256_blendv_epi8(r, q, nan);
  __m256i packed = _mm256_packus_epi32(r, r);
  return _mm256_castsi256_si128(_mm256_permute4x64_epi64(packed, 0x08));
}

static inline void store8(fp8gemm_dtype dt, void *out, int64_t idx, __m256 v) {
  switch (dt) {
    case FP8GEMM_F32: _mm256_storeu_ps((float *)out + idx, v); break;
    case FP8GEMM_BF16: _mm_storeu_si128((__m128i *)((uint16_t *)out + idx), to_bf16(v)); break;
    default:
      _mm_storeu_si128((__m128i *)((uint16_t *)out + idx),
                       _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
      break;
  }
}

/* Row-constant parts of one output row. */
typedef struct row_ctx {
  bool scale, bias_vec;
  double sa;         /* input scale of the row (1 for w8a16) */
  const float *sb;   /* per-column weight scales (offset to the batch), or NULL */
  double sb0;        /* per-tensor weight scale */
  double bias_scalar;
  const float *bias; /* per-column or full-row bias, or NULL */
} row_ctx;

/* 4 lanes in double: acc * (sa * sb) + bias, rounded once to f32 at the end (sa * sb
 * is exact in double, the rest rounds at 2^-53), so the epilogue adds one f32
 * rounding to the accumulation error instead of three. */
static inline __m128 finish4(const row_ctx *rc, __m128 acc, int64_t col) {
  __m256d v = _mm256_cvtps_pd(acc);
  if (rc->scale) {
    __m256d sb = rc->sb ? _mm256_cvtps_pd(_mm_loadu_ps(rc->sb + col)) : _mm256_set1_pd(rc->sb0);
    v = _mm256_mul_pd(v, _mm256_mul_pd(_mm256_set1_pd(rc->sa), sb));
  }
  if (rc->bias) v = _mm256_add_pd(v, _mm256_cvtps_pd(_mm_loadu_ps(rc->bias + col)));
  else if (rc->bias_vec) v = _mm256_add_pd(v, _mm256_set1_pd(rc->bias_scalar));
  return _mm256_cvtpd_ps(v);
}

static inline __m256 finish8(const row_ctx *rc, __m256 acc, int64_t col) {
  if (!rc->scale && !rc->bias && !rc->bias_vec) return acc;
  __m128 lo = finish4(rc, _mm256_castps256_ps128(acc), col);
  __m128 hi = finish4(rc, _mm256_extractf128_ps(acc, 1), col + 4);
  return _mm256_insertf128_ps(_mm256_castps128_ps256(lo), hi, 1);
}

void fp8g_avx2_epilogue(const fp8g_avx2_plan *pl, int64_t r0, int64_t rows, int64_t c0,
                        int64_t cols, const float *c, int64_t ldc) {
  const fp8g_gemm_problem *p = pl->p;
  bool epi_scales = p->scale_kind == FP8G_SCALE_TENSOR || p->scale_kind == FP8G_SCALE_ROWCOL;
  for (int64_t i = 0; i < rows; i++) {
    int64_t row = r0 + i, batch = row / p->m;
    row_ctx rc = {0};
    if (epi_scales) {
      rc.scale = true;
      rc.sa = !p->sa ? 1.0 : p->scale_kind == FP8G_SCALE_TENSOR ? p->sa[0] : p->sa[row];
      const float *sb = p->sb + batch * p->sb_batch_stride;
      if (p->scale_kind == FP8G_SCALE_ROWCOL) rc.sb = sb;
      else rc.sb0 = sb[0];
    }
    switch (p->bias_kind) {
      case FP8G_BIAS_SCALAR: rc.bias_vec = true; rc.bias_scalar = p->bias[0]; break;
      case FP8G_BIAS_ROW: rc.bias_vec = true; rc.bias_scalar = p->bias[row]; break;
      case FP8G_BIAS_COL: rc.bias = p->bias; break;
      case FP8G_BIAS_FULL: rc.bias = p->bias + row * p->n; break;
      default: break;
    }
    const float *crow = c + i * ldc;
    int64_t j = 0;
    for (; j + 8 <= cols; j += 8)
      store8(p->out_dtype, p->out, row * p->n + c0 + j, finish8(&rc, _mm256_loadu_ps(crow + j), c0 + j));
    if (j < cols) {
      /* Tail: pad operands to 8 lanes, run the same code, keep the valid lanes. */
      int rem = (int)(cols - j);
      _Alignas(32) float v[8] = {0}, sbt[8] = {0}, bt[8] = {0};
      _Alignas(32) uint8_t outt[32];
      memcpy(v, crow + j, (size_t)rem * sizeof(float));
      row_ctx tc = rc;
      if (rc.sb) { memcpy(sbt, rc.sb + c0 + j, (size_t)rem * sizeof(float)); tc.sb = sbt; }
      if (rc.bias) { memcpy(bt, rc.bias + c0 + j, (size_t)rem * sizeof(float)); tc.bias = bt; }
      store8(p->out_dtype, outt, 0, finish8(&tc, _mm256_load_ps(v), 0));
      size_t esz = p->out_dtype == FP8GEMM_F32 ? 4 : 2;
      memcpy((char *)p->out + (size_t)(row * p->n + c0 + j) * esz, outt, (size_t)rem * esz);
    }
  }
}
