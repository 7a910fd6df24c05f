/* The CLI's commands: one file each, all listed in main.c. */
#ifndef FP8GEMM_CLI_COMMANDS_H
#define FP8GEMM_CLI_COMMANDS_H

/* Exit statuses shared by every command. */
enum { CLI_OK = 0, CLI_FAILED = 1, CLI_USAGE = 2 };

typedef struct cli_command {
  const char *name;
  const char *summary;
  int (*run)(int argc, char **argv); /* argv[0] is the command name */
  void (*help)(void);
} cli_command;

/* Prints "fp8gemm: MESSAGE" on stderr and returns CLI_USAGE. */
int cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* True if argv holds -h or --help. */
int cli_wants_help(int argc, char **argv);

int cmd_info(int argc, char **argv);
void cmd_info_help(void);
int cmd_ops(int argc, char **argv);
void cmd_ops_help(void);
int cmd_meta(int argc, char **argv);
void cmd_meta_help(void);
int cmd_bench(int argc, char **argv);
void cmd_bench_help(void);
int cmd_check(int argc, char **argv);
void cmd_check_help(void);
int cmd_cast(int argc, char **argv);
void cmd_cast_help(void);
int cmd_table(int argc, char **argv);
void cmd_table_help(void);

#endif
