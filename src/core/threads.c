/*
 * A small persistent thread pool. One parallel region runs at a time; a caller that
 * finds the pool busy (another host thread, or a nested call) runs its tasks itself,
 * so the library never oversubscribes the machine or deadlocks. Tasks are handed out
 * through an atomic counter; kernels make every task write a disjoint output region,
 * so results do not depend on which thread ran which task.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "../internal.h"

#define MAX_THREADS 256

typedef struct pool {
  pthread_mutex_t lock;      /* guards the fields below */
  pthread_cond_t wake, done;
  int started;               /* worker threads created */
  uint64_t generation;       /* bumped for each region */
  int wanted;                /* workers that take part in the current region */
  int finished;              /* workers done with the current region */
  fp8g_task_fn fn;
  void *ctx;
  int64_t n_tasks;
  atomic_llong next;
} pool;

static pool the_pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
                        PTHREAD_COND_INITIALIZER, 0, 0, 0, 0, NULL, NULL, 0, 0};
static pthread_mutex_t region_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_int num_threads; /* 0: not initialised */

static void run_tasks(pool *p) {
  for (;;) {
    int64_t t = atomic_fetch_add(&p->next, 1);
    if (t >= p->n_tasks) break;
    p->fn(p->ctx, t);
  }
}

static void *worker(void *arg) {
  int id = (int)(intptr_t)arg; /* 1-based: the caller is thread 0 */
  pool *p = &the_pool;
  uint64_t seen = 0;
  pthread_mutex_lock(&p->lock);
  for (;;) {
    while (p->generation == seen) pthread_cond_wait(&p->wake, &p->lock);
    seen = p->generation;
    if (id >= p->wanted) continue;
    pthread_mutex_unlock(&p->lock);
    run_tasks(p);
    pthread_mutex_lock(&p->lock);
    if (++p->finished == p->wanted - 1) pthread_cond_signal(&p->done);
  }
  return NULL;
}

/* FP8GEMM_NUM_THREADS, else the online CPUs. *ignored: the variable was set but invalid. */
static int default_threads(bool *ignored) {
  const char *env = getenv("FP8GEMM_NUM_THREADS");
  *ignored = false;
  if (env && *env) {
    char *end;
    long v = strtol(env, &end, 10);
    if (*end == '\0' && v >= 1 && v <= MAX_THREADS) return (int)v;
    *ignored = true;
  }
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n < 1 ? 1 : n > MAX_THREADS ? MAX_THREADS : (int)n;
}

int fp8gemm_get_num_threads(void) {
  int n = atomic_load(&num_threads);
  if (n == 0) {
    bool ignored;
    int d = default_threads(&ignored);
    int expected = 0;
    /* Only the thread that sets the default says why, as FP8GEMM_MAX_ISA does. */
    if (atomic_compare_exchange_strong(&num_threads, &expected, d) && ignored)
      fprintf(stderr, "fp8gemm: ignoring FP8GEMM_NUM_THREADS='%s' (expected 1..%d), using %d\n",
              getenv("FP8GEMM_NUM_THREADS"), MAX_THREADS, d);
    n = atomic_load(&num_threads);
  }
  return n;
}

fp8gemm_status fp8gemm_set_num_threads(int n) {
  if (n < 1 || n > MAX_THREADS)
    return fp8g_error(FP8GEMM_INVALID_ARGUMENT, "set_num_threads: n: expected 1..%d, got %d",
                      MAX_THREADS, n);
  atomic_store(&num_threads, n);
  return FP8GEMM_OK;
}

void fp8g_parallel_for(int64_t n_tasks, int nthreads, fp8g_task_fn fn, void *ctx) {
  if (n_tasks <= 0) return;
  if (nthreads > n_tasks) nthreads = (int)n_tasks;
  if (nthreads > MAX_THREADS) nthreads = MAX_THREADS;
  if (nthreads <= 1 || pthread_mutex_trylock(&region_lock) != 0) {
    for (int64_t t = 0; t < n_tasks; t++) fn(ctx, t);
    return;
  }
  pool *p = &the_pool;
  pthread_mutex_lock(&p->lock);
  while (p->started < nthreads - 1) {
    pthread_t th;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(&th, &attr, worker, (void *)(intptr_t)(p->started + 1));
    pthread_attr_destroy(&attr);
    if (rc != 0) break;
    p->started++;
  }
  if (nthreads - 1 > p->started) nthreads = p->started + 1;
  p->fn = fn;
  p->ctx = ctx;
  p->n_tasks = n_tasks;
  atomic_store(&p->next, 0);
  p->wanted = nthreads;
  p->finished = 0;
  p->generation++;
  pthread_cond_broadcast(&p->wake);
  pthread_mutex_unlock(&p->lock);

  run_tasks(p);

  pthread_mutex_lock(&p->lock);
  while (p->finished < p->wanted - 1) pthread_cond_wait(&p->done, &p->lock);
  pthread_mutex_unlock(&p->lock);
  pthread_mutex_unlock(&region_lock);
}
