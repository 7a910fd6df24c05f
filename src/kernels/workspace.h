/*
 * A kernel's scratch buffer kept across calls: a fresh multi-MiB allocation per call
 * costs page faults comparable to the packing it holds. One cache per kernel; a call
 * that finds it in use (another host thread) allocates its own. The cached buffer is
 * never freed: it stays reachable until exit.
 */
#ifndef FP8GEMM_KERNELS_WORKSPACE_H
#define FP8GEMM_KERNELS_WORKSPACE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct fp8g_ws_cache {
  pthread_mutex_t lock;
  void *buf;
  size_t bytes;
} fp8g_ws_cache;

#define FP8G_WS_CACHE_INIT {PTHREAD_MUTEX_INITIALIZER, NULL, 0}

/* 64-byte aligned scratch of at least `bytes`, or NULL; *cached says which release to
 * do. */
void *fp8g_ws_acquire(fp8g_ws_cache *c, size_t bytes, bool *cached);
void fp8g_ws_release(fp8g_ws_cache *c, void *ws, bool cached);

#endif /* FP8GEMM_KERNELS_WORKSPACE_H */
