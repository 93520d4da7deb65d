/* hex strings, QUANTITY, u256 decimal/hex conversions: values and every strict error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "oracle/hex.h"

static void test_encode_decode(void **state)
{
    (void)state;
    uint8_t in[] = {0x00, 0x01, 0xab, 0xff}, out[8];
    char s[16], err[128];
    size_t n;
    assert_int_equal(hex_encode(s, in, 4), 10);
    assert_string_equal(s, "0x0001abff");
    assert_int_equal(hex_decode("0x0001ABff", out, sizeof out, &n, err, sizeof err), 0);
    assert_int_equal(n, 4);
    assert_memory_equal(out, in, 4);
    assert_int_equal(hex_decode("0x", out, sizeof out, &n, err, sizeof err), 0);
    assert_int_equal(n, 0);
    hex_encode(s, in, 0);
    assert_string_equal(s, "0x");
    uint8_t *p;
    assert_int_equal(hex_decode_alloc("0xdead", &p, &n, err, sizeof err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(p[0], 0xde);
    free(p);
}

static void test_decode_errors(void **state)
{
    (void)state;
    uint8_t out[4];
    size_t n;
    char err[128];
    assert_int_equal(hex_decode("0001", out, 4, &n, err, sizeof err), -1);
    assert_non_null(strstr(err, "0x"));
    assert_int_equal(hex_decode("0x123", out, 4, &n, err, sizeof err), -1);
    assert_non_null(strstr(err, "odd"));
    assert_int_equal(hex_decode("0x12g4", out, 4, &n, err, sizeof err), -1);
    assert_non_null(strstr(err, "'g' at position 4"));
    assert_int_equal(hex_decode("0x0102030405", out, 4, &n, err, sizeof err), -1);
    assert_non_null(strstr(err, "5 bytes"));
    assert_int_equal(hex_decode_exact("0x0102", out, 3, err, sizeof err), -1);
    assert_non_null(strstr(err, "3 expected"));
    assert_int_equal(hex_decode(NULL, out, 4, &n, err, sizeof err), -1);
    assert_int_equal(hex_decode("0x 1", out, 4, &n, NULL, 0), -1); /* err may be NULL */
}

static void test_quantity(void **state)
{
    (void)state;
    uint64_t v;
    char err[128], s[19];
    assert_int_equal(hex_quantity_to_u64("0x0", &v, err, sizeof err), 0);
    assert_int_equal(v, 0);
    assert_int_equal(hex_quantity_to_u64("0x1a", &v, err, sizeof err), 0);
    assert_int_equal(v, 26);
    assert_int_equal(hex_quantity_to_u64("0xffffffffffffffff", &v, err, sizeof err), 0);
    assert_true(v == UINT64_MAX);
    assert_int_equal(hex_quantity_to_u64("0x01", &v, err, sizeof err), -1);
    assert_non_null(strstr(err, "leading zero"));
    assert_int_equal(hex_quantity_to_u64("0x", &v, err, sizeof err), -1);
    assert_int_equal(hex_quantity_to_u64("0x10000000000000000", &v, err, sizeof err), -1);
    assert_non_null(strstr(err, "64 bits"));
    hex_quantity_from_u64(s, 0);
    assert_string_equal(s, "0x0");
    hex_quantity_from_u64(s, UINT64_MAX);
    assert_string_equal(s, "0xffffffffffffffff");
}

static void test_u256(void **state)
{
    (void)state;
    const char *max_dec =
        "115792089237316195423570985008687907853269984665640564039457584007913129639935";
    u256 v, w;
    char dec[U256_DEC_MAX], hex[U256_HEX_MAX], err[128];
    assert_int_equal(u256_from_dec(max_dec, &v, err, sizeof err), 0);
    for (int i = 0; i < 32; i++)
        assert_int_equal(v.b[i], 0xff);
    u256_to_dec(&v, dec);
    assert_string_equal(dec, max_dec);
    u256_to_hex(&v, hex);
    assert_int_equal(strlen(hex), 66);
    /* 2^256 overflows */
    assert_int_equal(
        u256_from_dec(
            "115792089237316195423570985008687907853269984665640564039457584007913129639936", &v,
            err, sizeof err),
        -1);
    assert_non_null(strstr(err, "exceeds"));
    assert_int_equal(u256_from_dec("0", &v, err, sizeof err), 0);
    assert_true(u256_is_zero(&v));
    u256_to_dec(&v, dec);
    assert_string_equal(dec, "0");
    u256_to_hex(&v, hex);
    assert_string_equal(hex, "0x0");
    assert_int_equal(u256_from_dec("007", &v, err, sizeof err), -1);
    assert_int_equal(u256_from_dec("-1", &v, err, sizeof err), -1);
    assert_int_equal(u256_from_dec("", &v, err, sizeof err), -1);
    assert_int_equal(u256_from_dec("12a", &v, err, sizeof err), -1);
    assert_non_null(strstr(err, "position 2"));

    assert_int_equal(u256_from_dec("1000000000000000000", &v, err, sizeof err), 0);
    u256_to_hex(&v, hex);
    assert_string_equal(hex, "0xde0b6b3a7640000");
    assert_int_equal(u256_from_hex("0x0de0b6b3a7640000", &w, err, sizeof err), 0);
    assert_int_equal(u256_cmp(&v, &w), 0);
    uint64_t u;
    assert_int_equal(u256_to_u64(&v, &u, err, sizeof err), 0);
    assert_true(u == 1000000000000000000ULL);
    u256_from_u64(&w, 5);
    assert_int_equal(u256_cmp(&v, &w), 1);
    assert_int_equal(u256_cmp(&w, &v), -1);
    assert_int_equal(
        u256_from_hex("0x1"
                      "0000000000000000000000000000000000000000000000000000000000000000",
                      &v, err, sizeof err),
        -1);
    assert_int_equal(u256_from_hex("0x", &v, err, sizeof err), -1);
    assert_int_equal(u256_from_hex("0x10000000000000000", &v, err, sizeof err), 0);
    assert_int_equal(u256_to_u64(&v, &u, err, sizeof err), -1);
    /* odd digit counts are numbers here */
    assert_int_equal(u256_from_hex("0xabc", &v, err, sizeof err), 0);
    assert_int_equal(v.b[30], 0x0a);
    assert_int_equal(v.b[31], 0xbc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode_decode),
        cmocka_unit_test(test_decode_errors),
        cmocka_unit_test(test_quantity),
        cmocka_unit_test(test_u256),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
