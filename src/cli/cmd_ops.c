/* fp8gemm ops: every op's torch.library schema, one per line, from the registry. */
#include <stdio.h>

#include "fp8gemm.h"
#include "commands.h"

void cmd_ops_help(void) {
  printf("usage: fp8gemm ops\n\nPrints the torch.library schema of every op, one per line, in\n"
         "registry order. The argument order is the C function's; 'fp8gemm meta' takes the\n"
         "same argument names with '-' for '_'.\n");
}

int cmd_ops(int argc, char **argv) {
  if (argc > 1) return cli_usage_error("ops: unexpected argument '%s'", argv[1]);
  for (int op = 0; op < FP8GEMM_OP_COUNT; op++) printf("%s\n", fp8gemm_op_schema((fp8gemm_op)op));
  return CLI_OK;
}
