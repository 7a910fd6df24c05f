/*
 * Helpers of `fp8gemm check`, public API only: a seeded RNG, wide-float element access,
 * random fp8 codes, tensors that own their memory, the half-gap of a narrow format
 * around a value, and the result of one table row.
 */
#ifndef FP8GEMM_CLI_CHECK_UTIL_H
#define FP8GEMM_CLI_CHECK_UTIL_H

#include <stdint.h>

#include "fp8gemm.h"

typedef struct check_rng {
  uint64_t s;
} check_rng;
uint64_t rng_next(check_rng *r);
int64_t rng_int(check_rng *r, int64_t lo, int64_t hi); /* uniform in [lo, hi] */

/* A tensor descriptor with its own zeroed memory (physical dims = the descriptor's
 * unless the caller rewrites strides over the same bytes). */
typedef struct owned_tensor {
  fp8gemm_tensor t;
  void *mem;
} owned_tensor;
int owned_alloc(owned_tensor *o, fp8gemm_dtype dtype, int ndim, const int64_t *dims);
void owned_free(owned_tensor *o);

/* Element `off` (in elements) of an f32 / bf16 / f16 / e8m0 / fp8 buffer, as a double. */
double elem_get(const void *data, fp8gemm_dtype dtype, int64_t off);
/* Writes a random finite wide value with |v| in [2^lo, 2^hi) (or 0 rarely); returns it. */
double wide_set_random(check_rng *r, void *data, fp8gemm_dtype dtype, int64_t off, int lo, int hi);
/* A random code of an fp8 / e2m1 format whose value is finite with |v| <= max_abs. */
uint8_t random_code(check_rng *r, fp8gemm_dtype dtype, double max_abs);
/* A code that decodes to NaN (0 if the format has none). */
uint8_t nan_code(fp8gemm_dtype dtype);
/* Half of the unit in the last place of a wide out dtype (bf16 / f16 / f32) at |x|. */
double half_ulp_wide(fp8gemm_dtype dtype, double x);
/* Half the gap between the representable values of a narrow format around |x|
 * (|x| <= the format's max); the largest finite value of the format in *max_out. */
double half_gap_narrow(fp8gemm_dtype dtype, double x, double *max_out);

/* One row of the table: cases run, worst error / bound, and the first failure. */
typedef struct check_result {
  long cases;
  double worst;
  int failed;
  char note[256];
} check_result;
/* Records err against bound (a NaN err or bound counts as a failure). */
void check_record(check_result *res, double err, double bound, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void check_fail(check_result *res, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
