/* fp8gemm info: what this build and this CPU can do. */
#include <stdio.h>

#include "fp8gemm.h"
#include "commands.h"

void cmd_info_help(void) {
  printf("usage: fp8gemm info\n\nPrints the version, the CPU features the library uses, the ISA\n"
         "detected and the cap in force (FP8GEMM_MAX_ISA), the thread count, and for every op\n"
         "and scheme the kernel that would serve it.\n");
}

int cmd_info(int argc, char **argv) {
  (void)argv;
  if (argc > 1) return cli_usage_error("info: unexpected argument '%s'", argv[1]);
  printf("fp8gemm %s\n", fp8gemm_version_string());
  printf("cpu features: %s\n", fp8gemm_cpu_features());
  printf("isa detected: %s\n", fp8gemm_isa_name(fp8gemm_isa_detected()));
  printf("isa cap:      %s (FP8GEMM_MAX_ISA)\n", fp8gemm_isa_name(fp8gemm_get_max_isa()));
  printf("isa active:   %s\n", fp8gemm_isa_name(fp8gemm_isa_active()));
  printf("threads:      %d (FP8GEMM_NUM_THREADS)\n", fp8gemm_get_num_threads());
  return CLI_OK;
}
