/*
 * A fixed pool of pthreads that runs one parallel-for at a time. The caller's thread takes part
 * as worker 0. Work is split into contiguous ranges; how it is split never changes a result
 * (every output of every kernel is computed by exactly one worker from start to end).
 */
#ifndef SIBYL_INFERENCE_THREADPOOL_H
#define SIBYL_INFERENCE_THREADPOOL_H

#include <stddef.h>

typedef struct threadpool threadpool;

/* fn(arg, begin, end, worker) handles items [begin, end). */
typedef void (*tp_range_fn)(void *arg, int begin, int end, int worker);

/* n_threads >= 1. Returns NULL on failure (and writes why into err). */
threadpool *tp_create(int n_threads, char *err, size_t errlen);
void tp_destroy(threadpool *tp);
int tp_threads(const threadpool *tp);
/* Runs fn over [0, n_items) split into at most tp_threads() ranges, in multiples of `grain`
 * items where possible; returns when all are done. tp may be NULL (runs inline). Which thread
 * runs which range is not fixed (a thread that is not running when the call starts may get
 * none, another may get several); `worker` is the index (0 = caller) of the thread running
 * that call of fn, so per-worker scratch indexed by it is safe. Not reentrant: one call at a
 * time per pool. */
void tp_parallel_for(threadpool *tp, int n_items, int grain, tp_range_fn fn, void *arg);
/* Same, with ranges of exactly `grain` items (the last may be shorter) handed out one by one
 * to whichever thread is free: load balance for uneven work or a busy machine. */
void tp_parallel_for_dynamic(threadpool *tp, int n_items, int grain, tp_range_fn fn, void *arg);

#endif
