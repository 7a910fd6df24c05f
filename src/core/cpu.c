/* CPU feature detection and the ISA cap (FP8GEMM_MAX_ISA, like ONEDNN_MAX_CPU_ISA). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../internal.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define FP8G_X86 1
#endif

static const char *const isa_names[FP8GEMM_ISA_COUNT] = {"scalar", "avx2", "avx512", "avx512_bf16"};

typedef struct cpu_info {
  fp8gemm_isa detected;
  char features[256];
} cpu_info;

static cpu_info detect(void) {
  cpu_info info = {FP8GEMM_ISA_SCALAR, ""};
#ifdef FP8G_X86
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return info;
  bool fma = c & (1u << 12), osxsave = c & (1u << 27), avx = c & (1u << 28), f16c = c & (1u << 29);
  unsigned long long xcr0 = 0;
  if (osxsave) {
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    xcr0 = ((unsigned long long)hi << 32) | lo;
  }
  bool ymm_os = (xcr0 & 0x6) == 0x6, zmm_os = (xcr0 & 0xe6) == 0xe6;
  unsigned b7 = 0, c7 = 0, d7 = 0, a71 = 0, tmp;
  if (__get_cpuid_max(0, NULL) >= 7) {
    __cpuid_count(7, 0, tmp, b7, c7, d7);
    __cpuid_count(7, 1, a71, tmp, tmp, tmp);
  }
  struct { const char *name; bool on; } f[] = {
      {"avx", avx && ymm_os},
      {"fma", fma && ymm_os},
      {"f16c", f16c && ymm_os},
      {"avx2", (b7 & (1u << 5)) && ymm_os},
      {"avx512f", (b7 & (1u << 16)) && zmm_os},
      {"avx512dq", (b7 & (1u << 17)) && zmm_os},
      {"avx512bw", (b7 & (1u << 30)) && zmm_os},
      {"avx512vl", (b7 & (1u << 31)) && zmm_os},
      {"avx512vbmi", (c7 & (1u << 1)) && zmm_os},
      {"avx512vnni", (c7 & (1u << 11)) && zmm_os},
      {"avx512bf16", (a71 & (1u << 5)) && zmm_os},
      {"gfni", (c7 & (1u << 8)) != 0},
      {"amx", (d7 & (1u << 24)) != 0},
  };
  for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
    if (!f[i].on) continue;
    if (info.features[0]) strcat(info.features, " ");
    strcat(info.features, f[i].name);
  }
  bool has_avx2 = f[1].on && f[2].on && f[3].on;
  bool has_avx512 = has_avx2 && f[4].on && f[5].on && f[6].on && f[7].on && f[8].on;
  if (has_avx2) info.detected = FP8GEMM_ISA_AVX2;
  if (has_avx512) info.detected = FP8GEMM_ISA_AVX512;
  if (has_avx512 && f[10].on) info.detected = FP8GEMM_ISA_AVX512_BF16;
#endif
  return info;
}

static cpu_info cpu;
static atomic_int max_isa;
static pthread_once_t cpu_once = PTHREAD_ONCE_INIT;

/* Runs once (pthread_once): concurrent first calls must not both write `cpu` while a
 * third reads it, nor warn twice about FP8GEMM_MAX_ISA. */
static void init_cpu(void) {
  cpu = detect();
  int cap = FP8GEMM_ISA_COUNT - 1;
  const char *env = getenv("FP8GEMM_MAX_ISA");
  if (env && *env) {
    fp8gemm_isa parsed;
    if (fp8gemm_isa_from_name(env, &parsed) == FP8GEMM_OK) cap = (int)parsed;
    else fprintf(stderr, "fp8gemm: ignoring FP8GEMM_MAX_ISA='%s' (expected one of scalar avx2 avx512 avx512_bf16)\n", env);
  }
  atomic_store(&max_isa, cap);
}

static void init_once(void) { pthread_once(&cpu_once, init_cpu); }

const char *fp8gemm_isa_name(fp8gemm_isa isa) {
  if ((int)isa < 0 || (int)isa >= FP8GEMM_ISA_COUNT) return NULL;
  return isa_names[isa];
}

fp8gemm_status fp8gemm_isa_from_name(const char *name, fp8gemm_isa *isa) {
  if (!name || !isa) return fp8g_error(FP8GEMM_INVALID_ARGUMENT, "isa_from_name: NULL argument");
  for (int i = 0; i < FP8GEMM_ISA_COUNT; i++) {
    if (strcmp(name, isa_names[i]) == 0) {
      *isa = (fp8gemm_isa)i;
      return FP8GEMM_OK;
    }
  }
  return fp8g_error(FP8GEMM_INVALID_ARGUMENT,
                    "isa name: expected one of scalar avx2 avx512 avx512_bf16, got '%s'", name);
}

fp8gemm_isa fp8gemm_isa_detected(void) {
  init_once();
  return cpu.detected;
}

fp8gemm_isa fp8gemm_get_max_isa(void) {
  init_once();
  return (fp8gemm_isa)atomic_load(&max_isa);
}

fp8gemm_status fp8gemm_set_max_isa(fp8gemm_isa cap) {
  if ((int)cap < 0 || (int)cap >= FP8GEMM_ISA_COUNT)
    return fp8g_error(FP8GEMM_INVALID_ARGUMENT, "set_max_isa: cap: expected 0..%d, got %d",
                      FP8GEMM_ISA_COUNT - 1, (int)cap);
  init_once();
  atomic_store(&max_isa, (int)cap);
  return FP8GEMM_OK;
}

fp8gemm_isa fp8gemm_isa_active(void) {
  init_once();
  int cap = atomic_load_explicit(&max_isa, memory_order_relaxed);
  return (fp8gemm_isa)(cap < (int)cpu.detected ? cap : (int)cpu.detected);
}

fp8gemm_isa fp8g_isa(void) { return fp8gemm_isa_active(); }

const char *fp8gemm_cpu_features(void) {
  init_once();
  return cpu.features;
}
