/* Printing and parsing values for the cast / table commands. */
#ifndef FP8GEMM_CLI_VALUE_FORMAT_H
#define FP8GEMM_CLI_VALUE_FORMAT_H

#include <stddef.h>

#include "fp8gemm.h"

/* Shortest %g text that reads back as the same f32; "nan", "inf", "-inf", "-0". */
void cli_format_float(float v, char *buf, size_t size);
/* A narrow format name (e4m3fn e5m2 e4m3fnuz e5m2fnuz e2m1 e8m0, or an alias): 1 if ok. */
int cli_parse_narrow(const char *name, fp8gemm_dtype *dtype);
#define CLI_NARROW_NAMES "e4m3fn, e5m2, e4m3fnuz, e5m2fnuz, e2m1, e8m0"

#endif
