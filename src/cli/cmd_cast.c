/* fp8gemm cast: encode values into a narrow format and decode them back. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "fp8gemm.h"
#include "value_format.h"

void cmd_cast_help(void) {
  printf("usage: fp8gemm cast --to FMT [--saturate] [--bits] VALUE...\n\n"
         "Encodes each VALUE (an f32: decimal, hex float, inf, nan) into FMT and prints\n"
         "one line per value: INPUT 0xHH DECODED (the input as given, the code, the code's\n"
         "value). FMT: " CLI_NARROW_NAMES ".\n"
         "  --saturate  the quantize flavour (clamp to +-max before rounding); default is\n"
         "              the non-saturating cast (ml_dtypes astype)\n"
         "  --bits      read each VALUE as the hex bit pattern of an f32 (0x43e80001)\n"
         "Example: fp8gemm cast --to e4m3fn 448 465  ->  448 0x7e 448 / 465 0x7f nan\n");
}

/* Reads VALUE as an f32 (or its bit pattern); 0 if it is not one. */
static int parse_value(const char *s, int bits, float *out) {
  char *end;
  errno = 0;
  if (bits) {
    if (*s == '-' || *s == '+' || *s == ' ') return 0;
    unsigned long long u = strtoull(s, &end, 16);
    if (end == s || *end || errno || u > 0xffffffffull) return 0;
    uint32_t u32 = (uint32_t)u;
    memcpy(out, &u32, sizeof *out);
    return 1;
  }
  float v = strtof(s, &end); /* correctly rounded: one rounding, decimal -> f32 */
  if (end == s || *end) return 0;
  *out = v; /* overflow gives +-inf and underflow +-0 or a subnormal, as f32 would */
  return 1;
}

int cmd_cast(int argc, char **argv) {
  const char *to_name = NULL;
  int saturate = 0, bits = 0, nvalues = 0, options_done = 0;
  const char **values = malloc((size_t)argc * sizeof *values);
  if (!values) return cli_usage_error("cast: out of memory");
  int status = CLI_USAGE;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (options_done || strncmp(a, "--", 2) != 0) {
      values[nvalues++] = a; /* "-465" is a value: options start with "--" */
    } else if (strcmp(a, "--") == 0) {
      options_done = 1;
    } else if (strcmp(a, "--to") == 0) {
      if (i + 1 >= argc) {
        cli_usage_error("cast: --to: missing FMT, expected one of %s", CLI_NARROW_NAMES);
        goto done;
      }
      to_name = argv[++i];
    } else if (strncmp(a, "--to=", 5) == 0) {
      to_name = a + 5;
    } else if (strcmp(a, "--saturate") == 0) {
      saturate = 1;
    } else if (strcmp(a, "--bits") == 0) {
      bits = 1;
    } else {
      cli_usage_error("cast: unknown option '%s' (see 'fp8gemm cast --help')", a);
      goto done;
    }
  }
  fp8gemm_dtype to;
  if (!to_name) {
    cli_usage_error("cast: --to: missing, expected one of %s", CLI_NARROW_NAMES);
    goto done;
  }
  if (!cli_parse_narrow(to_name, &to)) {
    cli_usage_error("cast: --to: expected one of %s, got '%s'", CLI_NARROW_NAMES, to_name);
    goto done;
  }
  if (nvalues == 0) {
    cli_usage_error("cast: VALUE: expected at least one value");
    goto done;
  }
  for (int i = 0; i < nvalues; i++) { /* every value checked before anything is printed */
    float x;
    if (!parse_value(values[i], bits, &x)) {
      cli_usage_error("cast: VALUE '%s': expected %s", values[i],
                      bits ? "the hex bit pattern of an f32, e.g. 0x43e80001"
                           : "a number (decimal, hex float, inf or nan)");
      goto done;
    }
  }
  status = CLI_OK;
  for (int i = 0; i < nvalues; i++) {
    float x, back;
    uint8_t code;
    parse_value(values[i], bits, &x);
    if (fp8gemm_encode_value(x, to, saturate, &code) != FP8GEMM_OK ||
        fp8gemm_decode_value(code, to, &back) != FP8GEMM_OK) {
      fprintf(stderr, "fp8gemm: cast: %s\n", fp8gemm_last_error());
      status = CLI_FAILED;
      break;
    }
    char text[32];
    cli_format_float(back, text, sizeof text);
    printf("%s 0x%02x %s\n", values[i], code, text);
  }
done:
  free(values);
  return status;
}
