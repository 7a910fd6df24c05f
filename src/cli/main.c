/* fp8gemm command-line front end: dispatches to one file per command. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "fp8gemm.h"
#include "commands.h"

static const cli_command commands[] = {
    {"info", "version, CPU features, ISA cap and the kernel serving each op and scheme",
     cmd_info, cmd_info_help},
    {"ops", "every op with its torch.library schema", cmd_ops, cmd_ops_help},
    {"meta", "shape inference of an op: output dtypes and shapes, nothing run", cmd_meta,
     cmd_meta_help},
    {"bench", "time the GEMMs on LLM layer shapes against this machine's limits", cmd_bench,
     cmd_bench_help},
    {"check", "every op x scheme x dtype x kernel against an fp64 reference", cmd_check,
     cmd_check_help},
    {"cast", "encode values into a narrow format and decode them back", cmd_cast, cmd_cast_help},
    {"table", "every code of a narrow format with its value", cmd_table, cmd_table_help},
};
enum { N_COMMANDS = sizeof commands / sizeof commands[0] };

int cli_usage_error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("fp8gemm: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  return CLI_USAGE;
}

int cli_wants_help(int argc, char **argv) {
  for (int i = 1; i < argc; i++)
    if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) return 1;
  return 0;
}

static void usage(FILE *f) {
  fprintf(f, "usage: fp8gemm [--version] [--help] COMMAND [ARGS...]\n\ncommands:\n");
  for (int i = 0; i < N_COMMANDS; i++)
    fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
  fprintf(f, "\n'fp8gemm COMMAND --help' describes a command.\n");
}

int main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return CLI_USAGE;
  }
  if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
    printf("fp8gemm %s\n", fp8gemm_version_string());
    return CLI_OK;
  }
  if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
    usage(stdout);
    return CLI_OK;
  }
  for (int i = 0; i < N_COMMANDS; i++) {
    if (strcmp(argv[1], commands[i].name) != 0) continue;
    if (cli_wants_help(argc - 1, argv + 1)) {
      commands[i].help();
      return CLI_OK;
    }
    return commands[i].run(argc - 1, argv + 1);
  }
  return cli_usage_error("unknown command '%s' (see 'fp8gemm --help')", argv[1]);
}
