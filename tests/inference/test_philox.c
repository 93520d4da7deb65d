/*
 * inference/philox.h: Random123's published known-answer vectors for Philox4x32-10, and the
 * A10 mapping (key from the seed, counter from the indices, word 0, float/id conversions).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "inference/philox.h"

static void check_kat(const uint32_t ctr[4], const uint32_t key[2], const uint32_t want[4])
{
    uint32_t out[4];
    philox4x32_10(ctr, key, out);
    for (int i = 0; i < 4; i++)
        assert_int_equal(out[i], want[i]);
}

/* Random123 kat_vectors, philox4x32 10 rounds. */
static void test_known_answers(void **state)
{
    (void)state;
    const uint32_t c0[4] = {0, 0, 0, 0}, k0[2] = {0, 0};
    const uint32_t w0[4] = {0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u};
    check_kat(c0, k0, w0);
    const uint32_t c1[4] = {0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu};
    const uint32_t k1[2] = {0xffffffffu, 0xffffffffu};
    const uint32_t w1[4] = {0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu};
    check_kat(c1, k1, w1);
    const uint32_t c2[4] = {0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u};
    const uint32_t k2[2] = {0xa4093822u, 0x299f31d0u};
    const uint32_t w2[4] = {0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u};
    check_kat(c2, k2, w2);
}

/* A10: key = (seed lo, seed hi), counter = (canvas, step, position, purpose), word 0. */
static void test_a10_mapping(void **state)
{
    (void)state;
    uint64_t seed = 0xa4093822299f31d0ull; /* hi = 0xa4093822, lo = 0x299f31d0 */
    const uint32_t ctr[4] = {0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u};
    const uint32_t key[2] = {0x299f31d0u, 0xa4093822u};
    uint32_t out[4];
    philox4x32_10(ctr, key, out);
    assert_int_equal(philox_word(seed, ctr[0], ctr[1], ctr[2], ctr[3]), out[0]);
    /* with key words in the KAT's order the seed is (lo = a4093822, hi = 299f31d0) */
    assert_int_equal(philox_word(0x299f31d0a4093822ull, 0x243f6a88u, 0x85a308d3u, 0x13198a2eu,
                                 0x03707344u),
                     0xd16cfe09u);
    assert_int_equal(philox_word(0, 0, 0, 0, 0), 0x6627e8d5u);
    /* each index changes the word */
    uint32_t base = philox_word(42, 1, 2, 3, PHILOX_PURPOSE_CATEGORICAL);
    assert_int_not_equal(base, philox_word(43, 1, 2, 3, PHILOX_PURPOSE_CATEGORICAL));
    assert_int_not_equal(base, philox_word(42, 2, 2, 3, PHILOX_PURPOSE_CATEGORICAL));
    assert_int_not_equal(base, philox_word(42, 1, 3, 3, PHILOX_PURPOSE_CATEGORICAL));
    assert_int_not_equal(base, philox_word(42, 1, 2, 4, PHILOX_PURPOSE_CATEGORICAL));
    assert_int_not_equal(base, philox_word(42, 1, 2, 3, PHILOX_PURPOSE_RENOISE_ID));
    assert_int_not_equal(base, philox_word(42ull | (1ull << 40), 1, 2, 3, 1));
}

static void test_uniform_conversions(void **state)
{
    (void)state;
    assert_true(philox_uniform_from_word(0) == 0.0f);
    assert_true(philox_uniform_from_word(0xffffffffu) == 1.0f - 0x1p-24f);
    assert_true(philox_uniform_from_word(0x80000000u) == 0.5f);
    assert_true(philox_uniform_from_word(0x000000ffu) == 0.0f); /* low 8 bits dropped */
    assert_int_equal(philox_id_from_word(0, 262144), 0);
    assert_int_equal(philox_id_from_word(0xffffffffu, 262144), 262143);
    assert_int_equal(philox_id_from_word(0x80000000u, 1000), 500);
    assert_int_equal(philox_id_from_word(0xffffffffu, 1), 0);
    /* statistics over many indices: mean near 1/2, ids cover [0, V) evenly */
    double sum = 0;
    int hist[10] = {0};
    const int n = 200000;
    for (int i = 0; i < n; i++) {
        float u = philox_uniform(7, 0, (uint32_t)i / 256, (uint32_t)i % 256, 1);
        assert_true(u >= 0.0f && u < 1.0f);
        sum += u;
        hist[philox_uniform_id(7, 0, (uint32_t)i / 256, (uint32_t)i % 256, 2, 10)]++;
    }
    double mean = sum / n;
    assert_true(mean > 0.497 && mean < 0.503);
    for (int v = 0; v < 10; v++)
        assert_true(hist[v] > n / 10 - 900 && hist[v] < n / 10 + 900);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_answers),
        cmocka_unit_test(test_a10_mapping),
        cmocka_unit_test(test_uniform_conversions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
