/* Status strings and the thread-local last-error message. */
#include <stdarg.h>
#include <stdio.h>

#include "../internal.h"

static _Thread_local char last_error[512];

const char *fp8gemm_status_string(fp8gemm_status status) {
  switch (status) {
    case FP8GEMM_OK: return "ok";
    case FP8GEMM_INVALID_ARGUMENT: return "invalid argument";
    case FP8GEMM_UNIMPLEMENTED: return "unimplemented";
    case FP8GEMM_OUT_OF_MEMORY: return "out of memory";
    case FP8GEMM_UNSUPPORTED_HARDWARE: return "unsupported hardware";
    case FP8GEMM_INTERNAL_ERROR: return "internal error";
  }
  return "unknown status";
}

const char *fp8gemm_last_error(void) { return last_error; }

void fp8gemm_clear_error(void) { last_error[0] = '\0'; }

fp8gemm_status fp8g_error(fp8gemm_status status, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(last_error, sizeof last_error, fmt, ap);
  va_end(ap);
  return status;
}

unsigned fp8gemm_version_number(void) { return FP8GEMM_VERSION_NUMBER; }

const char *fp8gemm_version_string(void) { return FP8GEMM_VERSION_STRING; }
