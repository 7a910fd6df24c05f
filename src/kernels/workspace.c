/* Kernel scratch kept across calls (workspace.h). */
#include "workspace.h"

#include <stdlib.h>

void *fp8g_ws_acquire(fp8g_ws_cache *c, size_t bytes, bool *cached) {
  size_t rounded = (bytes + 63) / 64 * 64; /* aligned_alloc wants a multiple of 64 */
  if (rounded < bytes) return NULL;
  *cached = pthread_mutex_trylock(&c->lock) == 0;
  if (!*cached) return aligned_alloc(64, rounded);
  if (c->bytes < rounded) {
    free(c->buf);
    c->buf = aligned_alloc(64, rounded);
    c->bytes = c->buf ? rounded : 0;
  }
  if (!c->buf) {
    pthread_mutex_unlock(&c->lock);
    *cached = false;
  }
  return c->buf;
}

void fp8g_ws_release(fp8g_ws_cache *c, void *ws, bool cached) {
  if (cached) pthread_mutex_unlock(&c->lock);
  else free(ws);
}
