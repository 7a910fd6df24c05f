/* xorshift64: the test data generator shared by the quant tests. Each test binary has
 * its own state, seeded with TEST_RNG_SEED (define it before including to change it). */
#ifndef FP8GEMM_TEST_RNG_H
#define FP8GEMM_TEST_RNG_H

#include <stdint.h>

#ifndef TEST_RNG_SEED
#define TEST_RNG_SEED 0x2545F4914F6CDD1Dull
#endif

static uint64_t rng_state = TEST_RNG_SEED;
static uint64_t rnd(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return rng_state;
}

#endif
