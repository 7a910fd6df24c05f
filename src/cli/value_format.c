/* Shortest round-trip printing of f32 values and narrow format names. */
#include "value_format.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cli_format_float(float v, char *buf, size_t size) {
  if (isnan(v)) {
    snprintf(buf, size, "nan"); /* the code shows the sign */
    return;
  }
  if (isinf(v)) {
    snprintf(buf, size, v < 0 ? "-inf" : "inf");
    return;
  }
  if (v == 0) {
    snprintf(buf, size, signbit(v) ? "-0" : "0");
    return;
  }
  /* Fewest significant digits that read back as v (9 always do for an f32), then
   * positional notation for moderate exponents, scientific otherwise (like repr). */
  int p = 1;
  for (; p < 9; p++) {
    snprintf(buf, size, "%.*e", p - 1, (double)v);
    if (strtof(buf, NULL) == v) break;
  }
  snprintf(buf, size, "%.*e", p - 1, (double)v);
  int e10 = atoi(strchr(buf, 'e') + 1);
  if (e10 >= -4 && e10 < 16) snprintf(buf, size, "%.*f", p - 1 - e10 > 0 ? p - 1 - e10 : 0, (double)v);
}

int cli_parse_narrow(const char *name, fp8gemm_dtype *dtype) {
  fp8gemm_dtype d;
  if (fp8gemm_dtype_from_name(name, &d) != FP8GEMM_OK) return 0;
  uint8_t code;
  if (fp8gemm_encode_value(0.0f, d, 0, &code) != FP8GEMM_OK) return 0; /* not narrow */
  *dtype = d;
  return 1;
}
