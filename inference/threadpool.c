/*
 * Thread pool: n-1 pthreads plus the caller as worker 0, one parallel-for at a time.
 *
 * Dispatch is a generation counter: the caller publishes the job, bumps the generation and
 * runs its own range; workers notice the new generation (first by a short spin, so that the
 * many small calls per layer do not pay a sleep/wake, then by sleeping on a condition
 * variable, so an idle pool costs nothing on a shared machine), run their range and count
 * down `pending`; the last one wakes the caller if it went to sleep.
 */
#include "inference/threadpool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define TP_RELAX() _mm_pause()
#else
#define TP_RELAX() ((void)0)
#endif

/* Spin iterations before sleeping (~tens of microseconds): long enough to bridge the gap
 * between two kernels of one layer, short enough not to steal a shared core for long. */
#define TP_SPIN 2000

struct worker_arg {
    threadpool *tp;
    int index;
};

struct threadpool {
    int n_threads;
    pthread_t *threads;
    struct worker_arg *args;
    pthread_mutex_t mu;
    pthread_cond_t cv_work; /* generation changed or stop */
    pthread_cond_t cv_done; /* pending reached 0 */
    /* the current job, written by the caller before the generation bump */
    tp_range_fn fn;
    void *arg;
    int n_items, grain;
    atomic_uint generation;
    atomic_int pending;
    atomic_int stop;
};

/* Worker w's items: chunks of `grain` split evenly, contiguous, in worker order. */
static void worker_range(int n_items, int grain, int n_workers, int w, int *begin, int *end)
{
    long long chunks = ((long long)n_items + grain - 1) / grain;
    long long cb = chunks * w / n_workers;
    long long ce = chunks * (w + 1) / n_workers;
    long long b = cb * grain, e = ce * grain;
    *begin = (int)(b < n_items ? b : n_items);
    *end = (int)(e < n_items ? e : n_items);
}

static void run_share(threadpool *tp, int w)
{
    int begin, end;
    worker_range(tp->n_items, tp->grain, tp->n_threads, w, &begin, &end);
    if (begin < end)
        tp->fn(tp->arg, begin, end, w);
}

static void *worker_main(void *p)
{
    struct worker_arg *wa = p;
    threadpool *tp = wa->tp;
    unsigned seen = 0;
    for (;;) {
        unsigned gen = seen;
        for (int i = 0; i < TP_SPIN; i++) {
            gen = atomic_load_explicit(&tp->generation, memory_order_acquire);
            if (gen != seen || atomic_load_explicit(&tp->stop, memory_order_relaxed))
                break;
            TP_RELAX();
        }
        if (gen == seen) {
            pthread_mutex_lock(&tp->mu);
            while ((gen = atomic_load(&tp->generation)) == seen && !atomic_load(&tp->stop))
                pthread_cond_wait(&tp->cv_work, &tp->mu);
            pthread_mutex_unlock(&tp->mu);
        }
        if (atomic_load(&tp->stop))
            return NULL;
        seen = gen;
        run_share(tp, wa->index);
        if (atomic_fetch_sub_explicit(&tp->pending, 1, memory_order_acq_rel) == 1) {
            pthread_mutex_lock(&tp->mu);
            pthread_cond_signal(&tp->cv_done);
            pthread_mutex_unlock(&tp->mu);
        }
    }
}

threadpool *tp_create(int n_threads, char *err, size_t errlen)
{
    if (n_threads < 1) {
        snprintf(err, errlen, "thread pool: n_threads must be >= 1 (got %d)", n_threads);
        return NULL;
    }
    threadpool *tp = calloc(1, sizeof *tp);
    if (!tp) {
        snprintf(err, errlen, "thread pool: out of memory");
        return NULL;
    }
    tp->n_threads = n_threads;
    atomic_init(&tp->generation, 0);
    atomic_init(&tp->pending, 0);
    atomic_init(&tp->stop, 0);
    pthread_mutex_init(&tp->mu, NULL);
    pthread_cond_init(&tp->cv_work, NULL);
    pthread_cond_init(&tp->cv_done, NULL);
    if (n_threads > 1) {
        tp->threads = calloc((size_t)n_threads, sizeof *tp->threads);
        tp->args = calloc((size_t)n_threads, sizeof *tp->args);
        if (!tp->threads || !tp->args) {
            snprintf(err, errlen, "thread pool: out of memory");
            tp->n_threads = 1;
            tp_destroy(tp);
            return NULL;
        }
        for (int i = 1; i < n_threads; i++) {
            tp->args[i].tp = tp;
            tp->args[i].index = i;
            int rc = pthread_create(&tp->threads[i], NULL, worker_main, &tp->args[i]);
            if (rc != 0) {
                snprintf(err, errlen, "thread pool: pthread_create for worker %d of %d: %s", i,
                         n_threads, strerror(rc));
                tp->n_threads = i; /* join only the ones started */
                tp_destroy(tp);
                return NULL;
            }
        }
    }
    return tp;
}

void tp_destroy(threadpool *tp)
{
    if (!tp)
        return;
    pthread_mutex_lock(&tp->mu);
    atomic_store(&tp->stop, 1);
    pthread_cond_broadcast(&tp->cv_work);
    pthread_mutex_unlock(&tp->mu);
    for (int i = 1; i < tp->n_threads; i++)
        pthread_join(tp->threads[i], NULL);
    pthread_cond_destroy(&tp->cv_work);
    pthread_cond_destroy(&tp->cv_done);
    pthread_mutex_destroy(&tp->mu);
    free(tp->threads);
    free(tp->args);
    free(tp);
}

int tp_threads(const threadpool *tp)
{
    return tp ? tp->n_threads : 1;
}

void tp_parallel_for(threadpool *tp, int n_items, int grain, tp_range_fn fn, void *arg)
{
    if (n_items <= 0)
        return;
    if (grain < 1)
        grain = 1;
    if (!tp || tp->n_threads == 1 || n_items <= grain) {
        fn(arg, 0, n_items, 0);
        return;
    }
    tp->fn = fn;
    tp->arg = arg;
    tp->n_items = n_items;
    tp->grain = grain;
    atomic_store_explicit(&tp->pending, tp->n_threads - 1, memory_order_relaxed);
    pthread_mutex_lock(&tp->mu);
    atomic_fetch_add_explicit(&tp->generation, 1, memory_order_release);
    pthread_cond_broadcast(&tp->cv_work);
    pthread_mutex_unlock(&tp->mu);

    run_share(tp, 0);

    for (int i = 0; i < TP_SPIN; i++) {
        if (atomic_load_explicit(&tp->pending, memory_order_acquire) == 0)
            return;
        TP_RELAX();
    }
    pthread_mutex_lock(&tp->mu);
    while (atomic_load(&tp->pending) != 0)
        pthread_cond_wait(&tp->cv_done, &tp->mu);
    pthread_mutex_unlock(&tp->mu);
}
