/*
 * libFuzzer harness over the CLI's tensor-spec parser: any bytes either parse or are
 * rejected with a message; what parses prints back to a spec that parses to the same
 * descriptor.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cli/tensor_spec.h"

static void check(int ok) {
  if (!ok) __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char text[512], err[256], printed[1024];
  if (size >= sizeof text) return 0;
  memcpy(text, data, size);
  text[size] = '\0';
  fp8gemm_tensor t, back;
  if (tensor_spec_parse(text, &t, err, sizeof err) != 0) {
    check(err[0] != '\0' && strlen(err) < sizeof err);
    return 0;
  }
  check(t.ndim >= 0 && t.ndim <= FP8GEMM_MAX_DIMS && t.data == NULL);
  check(fp8gemm_dtype_name(t.dtype) != NULL);
  (void)fp8gemm_tensor_numel(&t);
  int len = tensor_spec_format(&t, 1, printed, sizeof printed);
  check(len > 0 && (size_t)len == strlen(printed));
  check(tensor_spec_parse(printed, &back, err, sizeof err) == 0);
  check(back.dtype == t.dtype && back.ndim == t.ndim);
  for (int i = 0; i < t.ndim; i++) check(back.dims[i] == t.dims[i] && back.strides[i] == t.strides[i]);
  return 0;
}
