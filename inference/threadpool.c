/*
 * Thread pool: n-1 pthreads plus the caller as worker 0, one parallel-for at a time.
 *
 * A job is a list of chunks (ranges of items) handed out by an atomic counter. The caller
 * publishes the job, bumps a generation counter, wakes the workers and takes chunks itself.
 * Workers notice the new generation (first by a short spin, so that the many small calls per
 * layer do not pay a sleep/wake, then by sleeping on a condition variable, so an idle pool
 * costs nothing on a shared machine), join the job if it is still open and take chunks too.
 * When no chunk is left the caller closes the job and waits only for the workers that joined:
 * a worker that is not running (descheduled on a busy machine) never holds up the call, and
 * one that wakes late sees the job closed and goes back to sleep.
 * Which thread runs which chunk therefore varies; no kernel result depends on it (every output
 * is computed inside one chunk from start to end).
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

/* Job state word: the number of workers inside the job, plus this bit once it is closed. */
#define TP_CLOSED 0x40000000

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
    pthread_cond_t cv_done; /* the last joined worker left a closed job */
    /* the current job: written by the caller before it opens the job */
    tp_range_fn fn;
    void *arg;
    int n_items, grain;
    int n_chunks;
    int dynamic; /* 0: n_chunks even shares (multiples of grain); 1: chunks of grain items */
    atomic_int next_chunk;
    atomic_int state;
    atomic_uint generation;
    atomic_int stop;
};

/* Chunk c's items. Static: chunks of `grain` split evenly over n_chunks shares, contiguous. */
static void chunk_range(const threadpool *tp, int c, int *begin, int *end)
{
    long long b, e;
    if (tp->dynamic) {
        b = (long long)c * tp->grain;
        e = b + tp->grain;
    } else {
        long long units = ((long long)tp->n_items + tp->grain - 1) / tp->grain;
        b = units * c / tp->n_chunks * tp->grain;
        e = units * (c + 1) / tp->n_chunks * tp->grain;
    }
    *begin = (int)(b < tp->n_items ? b : tp->n_items);
    *end = (int)(e < tp->n_items ? e : tp->n_items);
}

static void take_chunks(threadpool *tp, int w)
{
    for (;;) {
        int c = atomic_fetch_add_explicit(&tp->next_chunk, 1, memory_order_relaxed);
        if (c >= tp->n_chunks)
            return;
        int begin, end;
        chunk_range(tp, c, &begin, &end);
        if (begin < end)
            tp->fn(tp->arg, begin, end, w);
    }
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
        /* Join the job unless it is closed already; the job's fields are read only after
         * joining, and the caller does not return (or start another job) while we are in. */
        int s = atomic_load_explicit(&tp->state, memory_order_acquire);
        int joined = 0;
        while (!(s & TP_CLOSED))
            if (atomic_compare_exchange_weak_explicit(&tp->state, &s, s + 1, memory_order_acq_rel,
                                                      memory_order_acquire)) {
                joined = 1;
                break;
            }
        if (!joined)
            continue;
        take_chunks(tp, wa->index);
        if (atomic_fetch_sub_explicit(&tp->state, 1, memory_order_acq_rel) - 1 == TP_CLOSED) {
            pthread_mutex_lock(&tp->mu);
            pthread_cond_broadcast(&tp->cv_done);
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
    atomic_init(&tp->next_chunk, 0);
    atomic_init(&tp->state, TP_CLOSED);
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

static void run_job(threadpool *tp, int n_items, int grain, int dynamic, tp_range_fn fn, void *arg)
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
    tp->dynamic = dynamic;
    tp->n_chunks = dynamic ? (int)(((long long)n_items + grain - 1) / grain) : tp->n_threads;
    atomic_store_explicit(&tp->next_chunk, 0, memory_order_relaxed);
    atomic_store_explicit(&tp->state, 0, memory_order_release); /* open, nobody inside */
    pthread_mutex_lock(&tp->mu);
    atomic_fetch_add_explicit(&tp->generation, 1, memory_order_release);
    pthread_cond_broadcast(&tp->cv_work);
    pthread_mutex_unlock(&tp->mu);

    take_chunks(tp, 0);

    /* Every chunk is taken: close the job and wait for the workers that are inside. */
    if (atomic_fetch_or_explicit(&tp->state, TP_CLOSED, memory_order_acq_rel) == 0)
        return;
    for (int i = 0; i < TP_SPIN; i++) {
        if (atomic_load_explicit(&tp->state, memory_order_acquire) == TP_CLOSED)
            return;
        TP_RELAX();
    }
    pthread_mutex_lock(&tp->mu);
    while (atomic_load(&tp->state) != TP_CLOSED)
        pthread_cond_wait(&tp->cv_done, &tp->mu);
    pthread_mutex_unlock(&tp->mu);
}

void tp_parallel_for(threadpool *tp, int n_items, int grain, tp_range_fn fn, void *arg)
{
    run_job(tp, n_items, grain, 0, fn, arg);
}

void tp_parallel_for_dynamic(threadpool *tp, int n_items, int grain, tp_range_fn fn, void *arg)
{
    run_job(tp, n_items, grain, 1, fn, arg);
}
