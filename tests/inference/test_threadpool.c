/*
 * inference/threadpool.c: every item is handed out exactly once, in contiguous ranges that
 * respect the grain, to valid worker indices, across many back-to-back dispatches (to catch a
 * lost wake-up) and pool sizes; bad sizes are refused with a message.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "inference/threadpool.h"

#define MAX_ITEMS 1000

struct visit {
    atomic_int count[MAX_ITEMS];
    atomic_int calls;
    int n_threads, grain, n_items;
    atomic_int bad;
};

static void visit_fn(void *arg, int begin, int end, int worker)
{
    struct visit *v = arg;
    atomic_fetch_add(&v->calls, 1);
    if (worker < 0 || worker >= v->n_threads || begin >= end || begin < 0 || end > v->n_items ||
        begin % v->grain != 0 || (end % v->grain != 0 && end != v->n_items))
        atomic_store(&v->bad, 1);
    for (int i = begin; i < end; i++)
        atomic_fetch_add(&v->count[i], 1);
}

static void run_case(threadpool *tp, int n_threads, int n_items, int grain)
{
    static struct visit v;
    memset(&v, 0, sizeof v);
    v.n_threads = n_threads;
    v.grain = grain;
    v.n_items = n_items;
    tp_parallel_for(tp, n_items, grain, visit_fn, &v);
    assert_int_equal(atomic_load(&v.bad), 0);
    for (int i = 0; i < n_items; i++)
        assert_int_equal(atomic_load(&v.count[i]), 1);
    assert_true(atomic_load(&v.calls) <= n_threads);
}

static void test_cover_once(void **state)
{
    (void)state;
    for (int nt = 1; nt <= 4; nt++) {
        char err[128];
        threadpool *tp = tp_create(nt, err, sizeof err);
        assert_non_null(tp);
        assert_int_equal(tp_threads(tp), nt);
        for (int n = 0; n <= 70; n++)
            for (int g = 1; g <= 9; g++)
                run_case(tp, nt, n, g);
        run_case(tp, nt, MAX_ITEMS, 16);
        tp_destroy(tp);
    }
    run_case(NULL, 1, 100, 3); /* no pool: inline */
    assert_int_equal(tp_threads(NULL), 1);
}

static void sum_fn(void *arg, int begin, int end, int worker)
{
    (void)worker;
    atomic_llong *s = arg;
    long long local = 0;
    for (int i = begin; i < end; i++)
        local += i;
    atomic_fetch_add(s, local);
}

static void test_many_dispatches(void **state)
{
    (void)state;
    char err[128];
    threadpool *tp = tp_create(3, err, sizeof err);
    assert_non_null(tp);
    for (int rep = 0; rep < 5000; rep++) {
        atomic_llong s;
        atomic_init(&s, 0);
        int n = 1 + rep % 200;
        tp_parallel_for(tp, n, 1 + rep % 5, sum_fn, &s);
        assert_true(atomic_load(&s) == (long long)n * (n - 1) / 2);
    }
    tp_destroy(tp);
}

static void test_bad_size(void **state)
{
    (void)state;
    char err[128] = "";
    assert_null(tp_create(0, err, sizeof err));
    assert_non_null(strstr(err, "n_threads"));
    tp_destroy(NULL); /* harmless */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cover_once),
        cmocka_unit_test(test_many_dispatches),
        cmocka_unit_test(test_bad_size),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
