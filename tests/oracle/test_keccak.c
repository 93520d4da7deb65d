/* Keccak-256: published vectors, rate boundaries, incremental = one-shot, and random inputs
 * against `cast keccak` (Foundry's independent implementation). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "oracle/hex.h"
#include "oracle/keccak.h"
#include "tests/oracle/testutil.h"

static void assert_hash(const void *p, size_t n, const char *want)
{
    uint8_t h[32];
    char s[67];
    keccak256(p, n, h);
    hex_encode(s, h, 32);
    assert_string_equal(s, want);
}

static void repeated(uint8_t *p, size_t n, uint8_t c)
{
    memset(p, c, n);
}

static void test_vectors(void **state)
{
    (void)state;
    assert_hash(NULL, 0, "0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470");
    assert_hash("abc", 3, "0x4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45");
    uint8_t a3[200];
    repeated(a3, sizeof a3, 0xa3);
    assert_hash(a3, sizeof a3,
                "0x3a57666b048777f2c953dc4456f45a2588e1cb6f2da760122d530ac2ce607d4a");
    uint8_t *m = malloc(1000000);
    assert_non_null(m);
    repeated(m, 1000000, 'a');
    assert_hash(m, 1000000, "0xfadae6b49f129bbb812be8407b7b2894f34aecf6dbd1f9b0f0c7e9853098fc96");
    free(m);
}

/* The padding bytes 0x01 and 0x80 share a byte at 135; 136 fills a block exactly, so the
 * padding takes a whole extra block. */
static void test_rate_boundaries(void **state)
{
    (void)state;
    static const struct {
        size_t n;
        const char *hash;
    } v[] = {
        {135, "0x34367dc248bbd832f4e3e69dfaac2f92638bd0bbd18f2912ba4ef454919cf446"},
        {136, "0xa6c4d403279fe3e0af03729caada8374b5ca54d8065329a3ebcaeb4b60aa386e"},
        {137, "0xd869f639c7046b4929fc92a4d988a8b22c55fbadb802c0c66ebcd484f1915f39"},
        {271, "0x132f47effd6c8b1b299efa53fe68aece77ec8ae4eb2e294f668eec94f76001e1"},
        {272, "0xcf7fcd4f705ee749930d19ca84561a9bf62516bd90a471545fa2f49fdc7e63c8"},
    };
    uint8_t in[272];
    repeated(in, sizeof in, 'a');
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        assert_hash(in, v[i].n, v[i].hash);
}

static void test_incremental_matches_one_shot(void **state)
{
    (void)state;
    tu_rng_seed(12345);
    uint8_t in[700], want[32], got[32];
    tu_rand_bytes(in, sizeof in);
    for (size_t n = 0; n <= sizeof in; n += 7) {
        keccak256(in, n, want);
        /* split into random pieces, including empty ones */
        keccak256_ctx c;
        keccak256_init(&c);
        size_t pos = 0;
        while (pos < n) {
            size_t take = tu_rand() % 150;
            if (take > n - pos)
                take = n - pos;
            keccak256_update(&c, in + pos, take);
            pos += take;
        }
        keccak256_final(&c, got);
        assert_memory_equal(got, want, 32);
    }
}

static void test_random_against_cast(void **state)
{
    (void)state;
    tu_require_tool(tu_cast_path());
    tu_rng_seed(777);
    static const size_t lengths[] = {1, 31, 32, 33, 135, 136, 137, 500, 1088, 2000};
    for (size_t i = 0; i < sizeof lengths / sizeof lengths[0]; i++) {
        size_t n = lengths[i];
        uint8_t *in = malloc(n);
        char *hex = malloc(2 * n + 3), mine[67];
        uint8_t h[32];
        tu_rand_bytes(in, n);
        hex_encode(hex, in, n);
        keccak256(in, n, h);
        hex_encode(mine, h, 32);
        char *theirs = tu_run("%s keccak %s", tu_cast_path(), hex);
        assert_string_equal(mine, theirs);
        free(theirs);
        free(hex);
        free(in);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors),
        cmocka_unit_test(test_rate_boundaries),
        cmocka_unit_test(test_incremental_matches_one_shot),
        cmocka_unit_test(test_random_against_cast),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
