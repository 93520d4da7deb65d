/* forkwalk_find: where the recorded branch meets the chain, against a test double of both
 * sides (arrays of block hashes): no fork, forks at several depths and across batches, gaps in
 * the records, the walk's limit, failing lookups, a top below the records, a shorter chain. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "oracle/forkwalk.h"

#define H 1200 /* heights 0..H-1 */

/* Test double of the node's records and of the chain, as arrays indexed by height. A block's
 * hash is its branch letter and its height (hash_of), so the two branches differ at every
 * height. The canonical lookup can be made to fail at its n-th call. */
typedef struct {
    int has_rec[H];
    uint8_t rec[H][32];
    uint64_t chain_top; /* the chain has blocks 1..chain_top */
    uint8_t chain[H][32];
    int fail_at_call; /* 1-based; 0: never */
    int calls;
    uint64_t call_lo[64], call_hi[64];
    int learned[H];
    uint8_t learned_hash[H][32];
} chain_double;

static void hash_of(char branch, uint64_t height, uint8_t out[32])
{
    memset(out, 0, 32);
    out[0] = (uint8_t)branch;
    memcpy(out + 1, &height, sizeof height);
}

static int double_recorded(void *user, uint64_t h, uint8_t hash[32])
{
    chain_double *d = user;
    if (h >= H || !d->has_rec[h])
        return 0;
    memcpy(hash, d->rec[h], 32);
    return 1;
}

static int double_canonical(void *user, uint64_t lo, uint64_t hi, uint8_t (*hashes)[32], int *found,
                            char *err, size_t errlen)
{
    chain_double *d = user;
    assert_true(lo >= 1 && lo <= hi);
    if (d->calls < 64) {
        d->call_lo[d->calls] = lo;
        d->call_hi[d->calls] = hi;
    }
    d->calls++;
    if (d->calls == d->fail_at_call) {
        snprintf(err, errlen, "connection refused (test double)");
        memset(found, 0xff, (hi - lo + 1) * sizeof *found); /* garbage must not be used */
        return -1;
    }
    for (uint64_t b = lo; b <= hi; b++) {
        found[b - lo] = b <= d->chain_top;
        if (found[b - lo])
            memcpy(hashes[b - lo], d->chain[b], 32);
        else
            memset(hashes[b - lo], 0xee, 32);
    }
    return 0;
}

static void double_learn(void *user, uint64_t h, const uint8_t hash[32])
{
    chain_double *d = user;
    assert_true(h < H);
    d->learned[h]++;
    memcpy(d->learned_hash[h], hash, 32);
}

/* records on branch 'a' for heights [rlo, rhi]; the chain is 'a' up to fork, 'b' above, up to
 * chain_top */
static chain_double *setup(uint64_t rlo, uint64_t rhi, uint64_t fork, uint64_t chain_top)
{
    chain_double *d = calloc(1, sizeof *d);
    assert_non_null(d);
    for (uint64_t h = rlo; h <= rhi; h++) {
        d->has_rec[h] = 1;
        hash_of('a', h, d->rec[h]);
    }
    d->chain_top = chain_top;
    for (uint64_t h = 1; h <= chain_top; h++)
        hash_of(h <= fork ? 'a' : 'b', h, d->chain[h]);
    return d;
}

static forkwalk_chain walker(chain_double *d, unsigned batch, uint64_t limit)
{
    forkwalk_chain c = {double_recorded, double_canonical, double_learn, d, batch, limit};
    return c;
}

static void test_no_fork(void **state)
{
    (void)state;
    chain_double *d = setup(1, 100, 100, 100);
    forkwalk_chain c = walker(d, 128, 0);
    uint64_t fork = 0, walked = 0;
    char err[256];
    assert_int_equal(forkwalk_find(&c, 100, &fork, &walked, err, sizeof err), FORKWALK_MET);
    assert_int_equal(fork, 100);
    assert_int_equal(walked, 1);
    assert_int_equal(d->calls, 1);
    for (int h = 0; h < H; h++)
        assert_int_equal(d->learned[h], 0);
    free(d);
}

/* a fork `depth` heights below the top of records 1..top; batches of `batch` heights */
static void fork_at_depth(uint64_t top, uint64_t depth, unsigned batch)
{
    uint64_t f = top - depth;
    chain_double *d = setup(1, top, f, top);
    forkwalk_chain c = walker(d, batch, 0);
    uint64_t fork = 0, walked = 0;
    char err[256];
    assert_int_equal(forkwalk_find(&c, top, &fork, &walked, err, sizeof err), FORKWALK_MET);
    assert_int_equal(fork, f);
    assert_int_equal(walked, depth + 1);
    /* one lookup per batch, top down, contiguous, never below 1 */
    assert_int_equal(d->calls, (int)((depth + batch) / batch));
    for (int i = 0; i < d->calls; i++) {
        assert_int_equal(d->call_hi[i], top - (uint64_t)i * batch);
        if (i + 1 < d->calls)
            assert_int_equal(d->call_lo[i], d->call_hi[i] - batch + 1);
    }
    /* every height above the fork learned the new branch's hash, nothing at or below it */
    for (uint64_t h = 1; h <= top; h++) {
        assert_int_equal(d->learned[h], h > f);
        if (h > f) {
            uint8_t want[32];
            hash_of('b', h, want);
            assert_memory_equal(d->learned_hash[h], want, 32);
        }
    }
    free(d);
}

static void test_fork_depths(void **state)
{
    (void)state;
    fork_at_depth(100, 1, 128); /* only the top replaced */
    fork_at_depth(100, 5, 128);
    fork_at_depth(300, 127, 128); /* the fork is the last height of the first batch */
    fork_at_depth(300, 128, 128); /* ... the first of the second */
    fork_at_depth(1000, 700, 128);
    fork_at_depth(50, 20, 1);   /* one height per lookup */
    fork_at_depth(100, 99, 16); /* at height 1, the lowest there is */
}

static void test_fork_below_genesis_records(void **state)
{
    (void)state;
    /* every recorded height 1..40 is on the old branch: nothing to meet, height 0 ends it */
    chain_double *d = setup(1, 40, 0, 40);
    forkwalk_chain c = walker(d, 16, 0);
    uint64_t fork = 99, walked = 0;
    char err[256];
    assert_int_equal(forkwalk_find(&c, 40, &fork, &walked, err, sizeof err), FORKWALK_BEYOND);
    assert_int_equal(fork, 0);
    assert_int_equal(walked, 40);
    free(d);
}

static void test_gaps_in_records(void **state)
{
    (void)state;
    char err[256];
    uint64_t fork, walked;
    /* records 1..50 and 61..100 (heights 51..60 skipped); the fork at 70, above the gap */
    chain_double *d = setup(1, 100, 70, 100);
    for (int h = 51; h <= 60; h++)
        d->has_rec[h] = 0;
    forkwalk_chain c = walker(d, 128, 0);
    assert_int_equal(forkwalk_find(&c, 100, &fork, &walked, err, sizeof err), FORKWALK_MET);
    assert_int_equal(fork, 70);
    assert_int_equal(walked, 31);
    free(d);
    /* the same records, the fork at 55, inside the gap: the walk cannot see past height 60 */
    d = setup(1, 100, 55, 100);
    for (int h = 51; h <= 60; h++)
        d->has_rec[h] = 0;
    c = walker(d, 128, 0);
    assert_int_equal(forkwalk_find(&c, 100, &fork, &walked, err, sizeof err), FORKWALK_BEYOND);
    assert_int_equal(fork, 60);
    assert_int_equal(walked, 41);
    for (int h = 1; h <= 60; h++)
        assert_int_equal(d->learned[h], 0);
    free(d);
    /* a single skipped height right below the top */
    d = setup(1, 100, 10, 100);
    d->has_rec[99] = 0;
    c = walker(d, 128, 0);
    assert_int_equal(forkwalk_find(&c, 100, &fork, &walked, err, sizeof err), FORKWALK_BEYOND);
    assert_int_equal(fork, 99);
    assert_int_equal(walked, 2);
    free(d);
}

static void test_limit(void **state)
{
    (void)state;
    char err[256];
    uint64_t fork, walked;
    /* the fork 20 below the top, a limit of 10 heights: it stops after 10, fork <= top - 10 */
    chain_double *d = setup(1, 500, 480, 500);
    forkwalk_chain c = walker(d, 4, 10);
    assert_int_equal(forkwalk_find(&c, 500, &fork, &walked, err, sizeof err), FORKWALK_BEYOND);
    assert_int_equal(walked, 10);
    assert_int_equal(fork, 490);
    /* the lookups covered exactly the 10 heights: 497..500, 493..496, 491..492 */
    assert_int_equal(d->calls, 3);
    assert_int_equal(d->call_lo[2], 491);
    assert_int_equal(d->call_hi[2], 492);
    free(d);
    /* a fork exactly at the limit's last height is still found */
    d = setup(1, 500, 491, 500);
    c = walker(d, 128, 10);
    assert_int_equal(forkwalk_find(&c, 500, &fork, &walked, err, sizeof err), FORKWALK_MET);
    assert_int_equal(fork, 491);
    assert_int_equal(walked, 10);
    free(d);
}

static void test_lookup_fails(void **state)
{
    (void)state;
    char err[256] = "";
    uint64_t fork, walked;
    /* the first lookup fails: an error, no guess (fork only bounded by the top) */
    chain_double *d = setup(1, 100, 90, 100);
    d->fail_at_call = 1;
    forkwalk_chain c = walker(d, 128, 0);
    assert_int_equal(forkwalk_find(&c, 100, &fork, &walked, err, sizeof err), FORKWALK_ERROR);
    assert_int_equal(fork, 100);
    assert_int_equal(walked, 0);
    assert_non_null(strstr(err, "connection refused (test double)"));
    assert_non_null(strstr(err, "1..100"));
    for (int h = 0; h < H; h++)
        assert_int_equal(d->learned[h], 0);
    free(d);
    /* the second lookup fails: the first batch's heights were compared (and learned) */
    d = setup(1, 100, 50, 100);
    d->fail_at_call = 2;
    c = walker(d, 8, 0);
    assert_int_equal(forkwalk_find(&c, 100, &fork, &walked, err, sizeof err), FORKWALK_ERROR);
    assert_int_equal(fork, 92);
    assert_int_equal(walked, 8);
    assert_non_null(strstr(err, "85..92"));
    for (int h = 93; h <= 100; h++)
        assert_int_equal(d->learned[h], 1);
    assert_int_equal(d->learned[92], 0);
    free(d);
}

static void test_top_below_records(void **state)
{
    (void)state;
    char err[256];
    uint64_t fork, walked;
    chain_double *d = setup(50, 100, 100, 100);
    forkwalk_chain c = walker(d, 128, 0);
    assert_int_equal(forkwalk_find(&c, 20, &fork, &walked, err, sizeof err), FORKWALK_BEYOND);
    assert_int_equal(fork, 20);
    assert_int_equal(walked, 1);
    /* the lowest recorded height itself, still canonical */
    assert_int_equal(forkwalk_find(&c, 50, &fork, &walked, err, sizeof err), FORKWALK_MET);
    assert_int_equal(fork, 50);
    /* top 0: nothing to compare, no lookup */
    d->calls = 0;
    assert_int_equal(forkwalk_find(&c, 0, &fork, &walked, err, sizeof err), FORKWALK_BEYOND);
    assert_int_equal(fork, 0);
    assert_int_equal(walked, 0);
    assert_int_equal(d->calls, 0);
    free(d);
}

static void test_chain_shorter(void **state)
{
    (void)state;
    char err[256];
    uint64_t fork, walked;
    /* the chain went back to 90 on the same branch: 91..100 have no block now (mismatches,
     * nothing learned), the branches meet at 90 */
    chain_double *d = setup(1, 100, 100, 90);
    forkwalk_chain c = walker(d, 128, 0);
    assert_int_equal(forkwalk_find(&c, 100, &fork, &walked, err, sizeof err), FORKWALK_MET);
    assert_int_equal(fork, 90);
    assert_int_equal(walked, 11);
    for (int h = 0; h < H; h++)
        assert_int_equal(d->learned[h], 0);
    free(d);
}

static void test_no_learn_and_bad_batch(void **state)
{
    (void)state;
    char err[256] = "";
    uint64_t fork, walked;
    chain_double *d = setup(1, 100, 60, 100);
    forkwalk_chain c = walker(d, 32, 0);
    c.learn = NULL;
    assert_int_equal(forkwalk_find(&c, 100, &fork, &walked, err, sizeof err), FORKWALK_MET);
    assert_int_equal(fork, 60);
    c.batch = 0;
    assert_int_equal(forkwalk_find(&c, 100, &fork, &walked, err, sizeof err), FORKWALK_ERROR);
    assert_non_null(strstr(err, "batch"));
    c.batch = FORKWALK_MAX_BATCH + 1;
    assert_int_equal(forkwalk_find(&c, 100, &fork, &walked, err, sizeof err), FORKWALK_ERROR);
    free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_fork),
        cmocka_unit_test(test_fork_depths),
        cmocka_unit_test(test_fork_below_genesis_records),
        cmocka_unit_test(test_gaps_in_records),
        cmocka_unit_test(test_limit),
        cmocka_unit_test(test_lookup_fails),
        cmocka_unit_test(test_top_below_records),
        cmocka_unit_test(test_chain_shorter),
        cmocka_unit_test(test_no_learn_and_bad_batch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
