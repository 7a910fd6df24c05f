/* Minimal test harness: CHECK records failures; test_summary() prints the closing line. */
#ifndef FP8GEMM_TEST_CHECK_H
#define FP8GEMM_TEST_CHECK_H

#include <stdio.h>

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

/* Prints "N passed, N failed" and returns the process exit status. */
static inline int test_summary(void) {
  printf("%ld passed, %ld failed\n", test_passed, test_failed);
  return test_failed ? 1 : 0;
}

#endif
