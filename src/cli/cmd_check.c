/*
 * fp8gemm check: every op x scheme x dtype of the registry, at every ISA level this CPU
 * has (forced with fp8gemm_set_max_isa), on random data at awkward shapes, against an
 * fp64 reference (GEMMs) or the element format (quantization ops). One table row each;
 * exit 1 if any row fails.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fp8gemm.h"
#include "check_cases.h"
#include "commands.h"

void cmd_check_help(void) {
  printf("usage: fp8gemm check [--op OP] [--isa ISA] [--verbose]\n\n"
         "Runs every op x scheme x dtype the registry lists, under every ISA level this CPU\n"
         "has (scalar, avx2, ...; levels the CPU lacks are reported, not run), on random\n"
         "data at awkward shapes (N, K among 1, 7, 17, 31, 33, 64, 128, 129, 300; 1 to 300\n"
         "rows as 1-D, 2-D, 3-D, 4-D and permuted inputs; NN, NT and batched weights; every bias form):\n"
         "  fp8_gemm, fp8_gemm_w8a16: against an fp64 sum of the decoded operands, with the\n"
         "    bound |out - ref| <= gamma_K * sum|a_k b_k| + ulp_out/2 of docs/ops.md\n"
         "    (scales are powers of two, so applying them is exact); NaN propagation;\n"
         "  fp8_quantize, mx_quantize: scale rule, and dequantize(quantize(x)) within half\n"
         "    the format's gap at x/s times s; fp8_dequantize: decode(q) * s rounded once;\n"
         "  fp8_cast: every code equal to fp8gemm_encode_value's.\n"
         "The kernel column is what fp8gemm_query names for a typical problem at that level;\n"
         "small-M cases may be served by the level's decode kernel.\n"
         "Columns: op, scheme, dtype, isa, kernel, cases, worst error / bound, PASS or FAIL.\n"
         "Exit status 1 if any row fails; --verbose prints the first failure of each row.\n"
         "  --op OP    only this op      --isa ISA  only this ISA level\n");
}

int cmd_check(int argc, char **argv) {
  int only_op = -1, only_isa = -1, verbose = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--verbose") == 0 || strcmp(argv[i], "-v") == 0) {
      verbose = 1;
    } else if (strcmp(argv[i], "--op") == 0 && i + 1 < argc) {
      fp8gemm_op op;
      if (fp8gemm_op_from_name(argv[++i], &op) != FP8GEMM_OK)
        return cli_usage_error("check: --op: %s", fp8gemm_last_error());
      only_op = (int)op;
    } else if (strcmp(argv[i], "--isa") == 0 && i + 1 < argc) {
      fp8gemm_isa isa;
      if (fp8gemm_isa_from_name(argv[++i], &isa) != FP8GEMM_OK)
        return cli_usage_error("check: --isa: %s", fp8gemm_last_error());
      only_isa = (int)isa;
    } else {
      return cli_usage_error("check: unexpected argument '%s' (see 'fp8gemm check --help')",
                             argv[i]);
    }
  }
  fp8gemm_isa detected = fp8gemm_isa_detected(), saved = fp8gemm_get_max_isa();
  long rows = 0, failed = 0;
  clock_t t0 = clock();
  printf("%-16s %-12s %-9s %-12s %-18s %6s %12s  %s\n", "op", "scheme", "dtype", "isa", "kernel",
         "cases", "err/bound", "result");
  for (int isa = 0; isa < FP8GEMM_ISA_COUNT; isa++) {
    if (only_isa >= 0 && isa != only_isa) continue;
    if (isa > (int)detected) {
      printf("isa %s: not on this CPU, not run\n", fp8gemm_isa_name((fp8gemm_isa)isa));
      continue;
    }
    fp8gemm_set_max_isa((fp8gemm_isa)isa);
    for (int op = 0; op < FP8GEMM_OP_COUNT; op++) {
      if (only_op >= 0 && op != only_op) continue;
      const fp8gemm_op_info *o = fp8gemm_op_describe((fp8gemm_op)op);
      for (int s = 0; s < o->n_schemes; s++) {
        for (int d = 0; d < o->n_dtypes; d++) {
          fp8gemm_kernel_info k;
          const char *kernel = "unavailable";
          if (fp8gemm_query((fp8gemm_op)op, o->schemes[s], o->dtypes[d], &k) == FP8GEMM_OK)
            kernel = k.name;
          check_result res = {0, 0, 0, ""};
          if (op <= FP8GEMM_OP_FP8_GEMM_W8A16)
            check_gemm((fp8gemm_op)op, o->schemes[s], o->dtypes[d], &res);
          else
            check_quant((fp8gemm_op)op, o->schemes[s], o->dtypes[d], &res);
          if (res.cases == 0) check_fail(&res, "no case ran");
          rows++;
          failed += res.failed;
          printf("%-16s %-12s %-9s %-12s %-18s %6ld %12.3g  %s\n", o->name,
                 fp8gemm_scheme_name(o->schemes[s]), fp8gemm_dtype_name(o->dtypes[d]),
                 fp8gemm_isa_name((fp8gemm_isa)isa), kernel, res.cases, res.worst,
                 res.failed ? "FAIL" : "PASS");
          if (res.failed && verbose) printf("    first failure: %s\n", res.note);
          fflush(stdout);
        }
      }
    }
  }
  fp8gemm_set_max_isa(saved);
  printf("%ld rows, %ld passed, %ld failed (%.1f s)\n", rows, rows - failed, failed,
         (double)(clock() - t0) / CLOCKS_PER_SEC);
  return failed ? CLI_FAILED : CLI_OK;
}
