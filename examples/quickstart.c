/*
 * fp8gemm quickstart: y = x @ W^T with W8A8 FP8.
 *   1. quantize the activations x [2, 3, 256] per token (dynamic scales),
 *   2. quantize a checkpoint weight W [64, 256] ([N, K], row n = output channel n) once,
 *      per output channel,
 *   3. call fp8_gemm on the NT view of the weight and read y [2, 3, 64] (f32).
 * Built and run by ctest (example_quickstart); exits 1 if y is not close to x @ W^T.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "fp8gemm.h"

enum { B = 2, S = 3, K = 256, N = 64 };

static int fail(const char *what) {
  fprintf(stderr, "%s: %s\n", what, fp8gemm_last_error());
  return 1;
}

int main(void) {
  static float x[B * S * K], w[N * K], y[B * S * N];
  static uint8_t qx[B * S * K], qw[N * K];
  static float sx[B * S], sw[N];
  for (int i = 0; i < B * S * K; i++) x[i] = sinf(0.37f * (float)i);
  for (int i = 0; i < N * K; i++) w[i] = 0.05f * cosf(0.11f * (float)i);

  /* 1. Activations: per-token scales, shape [2, 3, 1]. */
  fp8gemm_tensor tx, tqx, tsx;
  int64_t x_dims[3] = {B, S, K}, sx_dims[3] = {B, S, 1};
  fp8gemm_tensor_init(&tx, FP8GEMM_F32, 3, x_dims, x);
  fp8gemm_tensor_init(&tqx, FP8GEMM_E4M3FN, 3, x_dims, qx);
  fp8gemm_tensor_init(&tsx, FP8GEMM_F32, 3, sx_dims, sx);
  if (fp8gemm_fp8_quantize(&tx, FP8GEMM_E4M3FN, FP8GEMM_PER_TOKEN, 0, NULL, NULL,
                           FP8GEMM_DEFAULT_MIN_SCALE, &tqx, &tsx) != FP8GEMM_OK)
    return fail("fp8_quantize(x)");

  /* 2. Weight [N, K]: one scale per row = per output channel, shape [N, 1]. */
  fp8gemm_tensor tw, tqw, tsw;
  int64_t w_dims[2] = {N, K}, sw_dims[2] = {N, 1};
  fp8gemm_tensor_init(&tw, FP8GEMM_F32, 2, w_dims, w);
  fp8gemm_tensor_init(&tqw, FP8GEMM_E4M3FN, 2, w_dims, qw);
  fp8gemm_tensor_init(&tsw, FP8GEMM_F32, 2, sw_dims, sw);
  if (fp8gemm_fp8_quantize(&tw, FP8GEMM_E4M3FN, FP8GEMM_PER_TOKEN, 0, NULL, NULL,
                           FP8GEMM_DEFAULT_MIN_SCALE, &tqw, &tsw) != FP8GEMM_OK)
    return fail("fp8_quantize(W)");

  /* 3. fp8_gemm wants the weight as logical [K, N]: the transposed ("NT") view of [N, K]. */
  fp8gemm_tensor w_kn = tqw;
  w_kn.dims[0] = K;
  w_kn.dims[1] = N;
  w_kn.strides[0] = 1;
  w_kn.strides[1] = K;
  fp8gemm_tensor ty;
  size_t workspace;
  if (fp8gemm_fp8_gemm_infer(&tqx, &w_kn, FP8GEMM_F32, &tsx, &tsw, NULL, &ty, &workspace) !=
      FP8GEMM_OK)
    return fail("fp8_gemm_infer");
  /* ty is [2, 3, 64] f32, contiguous: point it at our buffer and run. */
  if (fp8gemm_tensor_nbytes(&ty) != sizeof y) return fail("unexpected output size");
  ty.data = y;
  if (fp8gemm_fp8_gemm(&tqx, &w_kn, FP8GEMM_F32, &tsx, &tsw, NULL, &ty) != FP8GEMM_OK)
    return fail("fp8_gemm");

  /* Compare with the float product: FP8 keeps about 2 significant digits per element. */
  double worst = 0;
  for (int r = 0; r < B * S; r++)
    for (int n = 0; n < N; n++) {
      double ref = 0, mag = 0;
      for (int k = 0; k < K; k++) {
        ref += (double)x[r * K + k] * w[n * K + k];
        mag += fabs((double)x[r * K + k] * w[n * K + k]);
      }
      double rel = fabs(y[r * N + n] - ref) / mag;
      if (rel > worst) worst = rel;
    }
  printf("y: [%lld, %lld, %lld] %s, y[0, 0, 0] = %.5f, worst |error| / sum|x*w| = %.4f\n",
         (long long)ty.dims[0], (long long)ty.dims[1], (long long)ty.dims[2],
         fp8gemm_dtype_name(ty.dtype), y[0], worst);
  return worst < 0.05 ? 0 : 1;
}
