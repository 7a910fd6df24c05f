/*
 * Tensor specs of the CLI: "DTYPE:D0xD1x...[@S0xS1x...]".
 *   DTYPE     any name fp8gemm_dtype_from_name takes (e4m3fn, bf16, f32, ...)
 *   D0xD1...  dims, decimal, 0 .. FP8GEMM_MAX_DIMS of them; "f32:" is rank 0 (a scalar),
 *             "f32:1" is rank 1 with one element
 *   @S0xS1... optional strides in elements (a leading '-' allowed), one per dim;
 *             without them the tensor is row-major contiguous
 * Depends on the public header only (it is fuzzed on its own).
 */
#ifndef FP8GEMM_CLI_TENSOR_SPEC_H
#define FP8GEMM_CLI_TENSOR_SPEC_H

#include <stddef.h>

#include "fp8gemm.h"

/* Parses `text` into *t (data = NULL). Returns 0 on success; else -1 with a one-line
 * reason in err (always NUL-terminated when err_size > 0). */
int tensor_spec_parse(const char *text, fp8gemm_tensor *t, char *err, size_t err_size);

/* Writes "DTYPE:D0xD1x..." (and "@S0xS1x..." when with_strides) into buf. Returns the
 * length written, or -1 if the descriptor is malformed or buf is too small. */
int tensor_spec_format(const fp8gemm_tensor *t, int with_strides, char *buf, size_t size);

#endif
