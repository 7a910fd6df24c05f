/* Minimal test harness: CHECK records failures; test_summary() prints the closing line. */
#ifndef FP8GEMM_TEST_CHECK_H
#define FP8GEMM_TEST_CHECK_H

#include <stdbool.h>
#include <stdio.h>

#include "fp8gemm.h"

static long test_passed, test_failed;

#define CHECK(cond, ...)                                         \
  do {                                                           \
    if (cond) {                                                  \
      test_passed++;                                             \
    } else {                                                     \
      test_failed++;                                             \
      if (test_failed <= 50) {                                   \
        fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
        fprintf(stderr, __VA_ARGS__);                            \
        fprintf(stderr, "\n");                                   \
      }                                                          \
    }                                                            \
  } while (0)

/* For a loop over every ISA level: false (and a "not tested" line, so a level the CPU
 * lacks is never reported as passing) when the CPU does not have `isa`; otherwise caps
 * the library at it and returns true. */
static inline bool test_use_isa(int isa) {
  if (isa > (int)fp8gemm_isa_detected()) {
    printf("isa %s: not available on this CPU, not tested\n", fp8gemm_isa_name((fp8gemm_isa)isa));
    return false;
  }
  fp8gemm_set_max_isa((fp8gemm_isa)isa);
  return true;
}

/* Prints "N passed, N failed" and returns the process exit status. */
static inline int test_summary(void) {
  printf("%ld passed, %ld failed\n", test_passed, test_failed);
  return test_failed ? 1 : 0;
}

#endif
