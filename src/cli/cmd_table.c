/* fp8gemm table: every code of a narrow format with its value. */
#include <stdio.h>

#include "commands.h"
#include "fp8gemm.h"
#include "value_format.h"

void cmd_table_help(void) {
  printf("usage: fp8gemm table FMT\n\n"
         "Prints every code of FMT (" CLI_NARROW_NAMES ") with its value, one per line:\n"
         "0xHH VALUE (16 codes for e2m1, 256 for the others).\n");
}

int cmd_table(int argc, char **argv) {
  if (argc < 2) return cli_usage_error("table: FMT: missing, expected one of %s", CLI_NARROW_NAMES);
  if (argc > 2) return cli_usage_error("table: unexpected argument '%s'", argv[2]);
  fp8gemm_dtype dt;
  if (!cli_parse_narrow(argv[1], &dt))
    return cli_usage_error("table: FMT: expected one of %s, got '%s'", CLI_NARROW_NAMES, argv[1]);
  int ncodes = fp8gemm_dtype_bits(dt) == 4 ? 16 : 256;
  for (int c = 0; c < ncodes; c++) {
    float v;
    if (fp8gemm_decode_value((uint8_t)c, dt, &v) != FP8GEMM_OK) {
      fprintf(stderr, "fp8gemm: table: %s\n", fp8gemm_last_error());
      return CLI_FAILED;
    }
    char text[32];
    cli_format_float(v, text, sizeof text);
    printf("0x%02x %s\n", c, text);
  }
  return CLI_OK;
}
