/* fp8gemm info: what this build and this CPU can do. */
#include <stdio.h>

#include "fp8gemm.h"
#include "commands.h"

/* For every op x scheme x dtype the registry lists: the kernel fp8gemm_query names. */
static void print_kernels(void) {
  printf("\n%-16s %-12s %-9s %s\n", "op", "scheme", "dtype", "kernel (isa)");
  for (int op = 0; op < FP8GEMM_OP_COUNT; op++) {
    const fp8gemm_op_info *o = fp8gemm_op_describe((fp8gemm_op)op);
    for (int s = 0; s < o->n_schemes; s++) {
      for (int d = 0; d < o->n_dtypes; d++) {
        fp8gemm_kernel_info k;
        printf("%-16s %-12s %-9s ", o->name, fp8gemm_scheme_name(o->schemes[s]),
               fp8gemm_dtype_name(o->dtypes[d]));
        if (fp8gemm_query((fp8gemm_op)op, o->schemes[s], o->dtypes[d], &k) == FP8GEMM_OK)
          printf("%s (%s)\n", k.name, fp8gemm_isa_name(k.isa));
        else
          printf("unavailable: %s\n", fp8gemm_last_error());
      }
    }
  }
}

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
  print_kernels();
  return CLI_OK;
}
