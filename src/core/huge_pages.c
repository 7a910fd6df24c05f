/*
 * Big long-lived buffers on 2 MiB pages (internal.h, fp8g_big_alloc). A decode GEMM
 * streams its whole weight per call; one core's stream over 4 KiB pages is slower than
 * over 2 MiB pages (fewer TLB misses, longer hardware-prefetch runs: docs/kernels.md
 * "Prepacked weights"). With THP in "madvise" mode (the common default) only madvised
 * ranges get huge pages, and only at the first touch: the mapping is fresh (not reused
 * heap memory, already faulted in as 4 KiB pages) and advised before it is written.
 */
#define _DEFAULT_SOURCE /* madvise, MADV_HUGEPAGE, MAP_ANONYMOUS under _POSIX_C_SOURCE */
#include <stdint.h>
#include <stdlib.h>

#include "../internal.h"

#if defined(__linux__)
#include <sys/mman.h>
#endif

/* Under AddressSanitizer (FP8G_ASAN, internal.h) the rounded-up tail of a mapping
 * (bytes .. len) is poisoned, so a kernel reading past a packed weight's codes is caught
 * as it is past a malloc'd one; the whole mapping is unpoisoned before it goes back to
 * the kernel. */
#if defined(FP8G_ASAN)
#include <sanitizer/asan_interface.h>
#define POISON(p, n) __asan_poison_memory_region((p), (n))
#define UNPOISON(p, n) __asan_unpoison_memory_region((p), (n))
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#if defined(MADV_HUGEPAGE) && defined(MAP_ANONYMOUS)
/* Maps len + 2 MiB, keeps the 2 MiB-aligned len bytes inside and unmaps the rest. */
static void *map_aligned(size_t len) {
  size_t span = len + FP8G_HUGE_PAGE;
  uint8_t *base = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (base == MAP_FAILED) return NULL;
  size_t head = (FP8G_HUGE_PAGE - (uintptr_t)base % FP8G_HUGE_PAGE) % FP8G_HUGE_PAGE;
  if (head) munmap(base, head);
  if (span - head - len) munmap(base + head + len, span - head - len);
  (void)madvise(base + head, len, MADV_HUGEPAGE); /* a hint: EINVAL without THP */
  return base + head;
}
#endif

void *fp8g_big_alloc(size_t bytes, size_t *mapped) {
  *mapped = 0;
#if defined(MADV_HUGEPAGE) && defined(MAP_ANONYMOUS)
  if (bytes >= FP8G_HUGE_PAGE && bytes <= SIZE_MAX / 2) {
    size_t len = (bytes + FP8G_HUGE_PAGE - 1) / FP8G_HUGE_PAGE * FP8G_HUGE_PAGE;
    uint8_t *p = map_aligned(len);
    if (p) {
      POISON(p + bytes, len - bytes);
      *mapped = len;
      return p;
    }
  }
#endif
  return malloc(bytes ? bytes : 1);
}

void fp8g_big_free(void *p, size_t mapped) {
  if (!p) return;
#if defined(MADV_HUGEPAGE) && defined(MAP_ANONYMOUS)
  if (mapped) {
    UNPOISON(p, mapped);
    munmap(p, mapped);
    return;
  }
#endif
  (void)mapped;
  free(p);
}
