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
 * items where possible; returns when all are done. tp may be NULL (runs inline). */
void tp_parallel_for(threadpool *tp, int n_items, int grain, tp_range_fn fn, void *arg);

#endif
