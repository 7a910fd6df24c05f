/* Core: dtype table, tensor descriptor checks, status strings, ISA cap, thread pool. */
#include <stdatomic.h>
#include <string.h>

#include "check.h"
#include "internal.h"

static void test_dtypes(void) {
  for (int d = 1; d < FP8GEMM_DTYPE_COUNT; d++) {
    const char *name = fp8gemm_dtype_name((fp8gemm_dtype)d);
    fp8gemm_dtype back = FP8GEMM_DTYPE_NONE;
    CHECK(name != NULL, "dtype %d has no name", d);
    CHECK(fp8gemm_dtype_from_name(name, &back) == FP8GEMM_OK && back == (fp8gemm_dtype)d,
          "round trip of %s", name);
  }
  fp8gemm_dtype out = FP8GEMM_E5M2;
  CHECK(fp8gemm_dtype_from_name("e4m3", &out) == FP8GEMM_INVALID_ARGUMENT && out == FP8GEMM_E5M2,
        "unknown names are rejected, output untouched");
  CHECK(strstr(fp8gemm_last_error(), "'e4m3'") != NULL, "message names the input: %s",
        fp8gemm_last_error());
  CHECK(fp8gemm_dtype_name(FP8GEMM_DTYPE_NONE) == NULL, "NONE has no name");
  CHECK(fp8gemm_dtype_bits(FP8GEMM_E2M1) == 4 && fp8gemm_dtype_bits(FP8GEMM_BF16) == 16, "bits");
  CHECK(fp8gemm_dtype_is_fp8(FP8GEMM_E4M3FNUZ) && !fp8gemm_dtype_is_fp8(FP8GEMM_E8M0), "is_fp8");
}

static void test_tensors(void) {
  fp8gemm_tensor t;
  int64_t dims[3] = {2, 3, 4};
  CHECK(fp8gemm_tensor_init(&t, FP8GEMM_F32, 3, dims, NULL) == FP8GEMM_OK, "init");
  CHECK(t.strides[0] == 12 && t.strides[1] == 4 && t.strides[2] == 1, "row-major strides");
  CHECK(fp8gemm_tensor_numel(&t) == 24 && fp8gemm_tensor_nbytes(&t) == 96, "numel/nbytes");
  int64_t huge[3] = {INT64_MAX / 2, 4, 1};
  fp8gemm_tensor before = t;
  CHECK(fp8gemm_tensor_init(&t, FP8GEMM_F32, 3, huge, NULL) == FP8GEMM_INVALID_ARGUMENT,
        "overflowing dims rejected");
  CHECK(memcmp(&before, &t, sizeof t) == 0, "descriptor untouched on error");
  CHECK(strstr(fp8gemm_last_error(), "overflow") != NULL, "message: %s", fp8gemm_last_error());
  int64_t zero[3] = {INT64_MAX / 2, 4, 0};
  CHECK(fp8gemm_tensor_init(&t, FP8GEMM_F32, 3, zero, NULL) == FP8GEMM_OK &&
            fp8gemm_tensor_numel(&t) == 0,
        "a zero dim makes any product 0");
  CHECK(fp8gemm_tensor_init(&t, FP8GEMM_F32, 9, dims, NULL) == FP8GEMM_INVALID_ARGUMENT, "rank 9");
  int64_t odd[1] = {3};
  fp8gemm_tensor e2;
  CHECK(fp8gemm_tensor_init(&e2, FP8GEMM_E2M1, 1, odd, NULL) == FP8GEMM_INVALID_ARGUMENT,
        "e2m1 needs even rows");
  /* An empty e2m1 tensor is row-major like any other (a dim of 0 counts as 1 in its
   * strides), so [3, 0] is accepted; a non-empty one still needs even outer strides. */
  int64_t empty_rows[2] = {3, 0}, pairs[2] = {3, 2};
  CHECK(fp8gemm_tensor_init(&e2, FP8GEMM_E2M1, 2, empty_rows, NULL) == FP8GEMM_OK &&
            fp8gemm_tensor_nbytes(&e2) == 0,
        "empty e2m1 [3, 0]: %s", fp8gemm_last_error());
  fp8gemm_tensor_init(&e2, FP8GEMM_E2M1, 2, pairs, NULL);
  e2.strides[0] = 3;
  CHECK(fp8g_check_tensor("op", "x", &e2, false) == FP8GEMM_INVALID_ARGUMENT, "odd e2m1 stride");
  CHECK(fp8g_check_tensor("op", "x", NULL, false) == FP8GEMM_INVALID_ARGUMENT, "NULL tensor");
  CHECK(strcmp(fp8gemm_last_error(), "op: x is NULL, expected a tensor") == 0, "message: %s",
        fp8gemm_last_error());
  fp8gemm_tensor neg = t;
  fp8gemm_tensor_init(&neg, FP8GEMM_F32, 3, dims, NULL);
  neg.strides[1] = -4;
  CHECK(fp8g_check_tensor("op", "x", &neg, false) == FP8GEMM_INVALID_ARGUMENT, "negative stride");
  fp8gemm_tensor_init(&neg, FP8GEMM_F32, 3, dims, NULL);
  CHECK(fp8g_check_tensor("op", "x", &neg, true) == FP8GEMM_INVALID_ARGUMENT, "NULL data");
}

static void test_status(void) {
  for (int s = 0; s <= 5; s++)
    CHECK(strcmp(fp8gemm_status_string((fp8gemm_status)s), "unknown status") != 0, "status %d", s);
  CHECK(FP8GEMM_OK == 0 && FP8GEMM_INVALID_ARGUMENT == 1 && FP8GEMM_UNIMPLEMENTED == 2 &&
            FP8GEMM_OUT_OF_MEMORY == 3 && FP8GEMM_UNSUPPORTED_HARDWARE == 4 &&
            FP8GEMM_INTERNAL_ERROR == 5,
        "pinned values");
  CHECK(fp8gemm_version_number() == FP8GEMM_VERSION_NUMBER, "version");
}

static void test_isa(void) {
  fp8gemm_isa detected = fp8gemm_isa_detected(), cap0 = fp8gemm_get_max_isa();
  for (int i = 0; i < FP8GEMM_ISA_COUNT; i++) {
    CHECK(fp8gemm_set_max_isa((fp8gemm_isa)i) == FP8GEMM_OK, "cap %d", i);
    fp8gemm_isa want = (int)detected < i ? detected : (fp8gemm_isa)i;
    CHECK(fp8gemm_isa_active() == want, "active under cap %d", i);
  }
  CHECK(fp8gemm_set_max_isa((fp8gemm_isa)7) == FP8GEMM_INVALID_ARGUMENT, "bad cap");
  fp8gemm_set_max_isa(cap0);
}

static atomic_int hits[1000];
static void mark(void *ctx, int64_t i) {
  (void)ctx;
  atomic_fetch_add(&hits[i], 1);
}

static void test_threads(void) {
  for (int nt = 1; nt <= 4; nt++) {
    memset(hits, 0, sizeof hits);
    fp8g_parallel_for(1000, nt, mark, NULL);
    int ok = 1;
    for (int i = 0; i < 1000; i++) ok &= atomic_load(&hits[i]) == 1;
    CHECK(ok, "every task runs exactly once with %d threads", nt);
  }
  CHECK(fp8gemm_set_num_threads(0) == FP8GEMM_INVALID_ARGUMENT, "0 threads rejected");
  CHECK(fp8gemm_set_num_threads(3) == FP8GEMM_OK && fp8gemm_get_num_threads() == 3, "set");
}

int main(void) {
  test_dtypes();
  test_tensors();
  test_status();
  test_isa();
  test_threads();
  return test_summary();
}
