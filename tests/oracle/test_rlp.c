/* RLP: the Ethereum wiki / yellow paper examples, round trips, and each strict decode error
 * with the offset it names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "oracle/hex.h"
#include "oracle/rlp.h"

static void assert_buf_hex(const buf *b, const char *want)
{
    char *s = malloc(2 * b->len + 3);
    hex_encode(s, b->data, b->len);
    assert_string_equal(s, want);
    free(s);
}

static void test_encode_examples(void **state)
{
    (void)state;
    buf b = BUF_INIT;
    rlp_put_bytes(&b, (const uint8_t *)"dog", 3);
    assert_buf_hex(&b, "0x83646f67");
    buf_reset(&b);
    size_t m = rlp_list_begin(&b);
    rlp_put_bytes(&b, (const uint8_t *)"cat", 3);
    rlp_put_bytes(&b, (const uint8_t *)"dog", 3);
    rlp_list_end(&b, m);
    assert_buf_hex(&b, "0xc88363617483646f67");
    buf_reset(&b);
    rlp_put_bytes(&b, NULL, 0);
    assert_buf_hex(&b, "0x80");
    buf_reset(&b);
    m = rlp_list_begin(&b);
    rlp_list_end(&b, m);
    assert_buf_hex(&b, "0xc0");
    buf_reset(&b);
    rlp_put_u64(&b, 0);
    rlp_put_u64(&b, 15);
    rlp_put_u64(&b, 1024);
    assert_buf_hex(&b, "0x800f820400");
    buf_reset(&b);
    uint8_t one = 0x00;
    rlp_put_bytes(&b, &one, 1); /* the byte 0x00 is itself */
    one = 0x80;
    rlp_put_bytes(&b, &one, 1); /* 0x80 needs a header */
    assert_buf_hex(&b, "0x008180");
    /* the set-theoretic representation of three: [ [], [[]], [ [], [[]] ] ] */
    buf_reset(&b);
    size_t outer = rlp_list_begin(&b);
    m = rlp_list_begin(&b);
    rlp_list_end(&b, m);
    m = rlp_list_begin(&b);
    size_t in = rlp_list_begin(&b);
    rlp_list_end(&b, in);
    rlp_list_end(&b, m);
    m = rlp_list_begin(&b);
    in = rlp_list_begin(&b);
    rlp_list_end(&b, in);
    in = rlp_list_begin(&b);
    size_t in2 = rlp_list_begin(&b);
    rlp_list_end(&b, in2);
    rlp_list_end(&b, in);
    rlp_list_end(&b, m);
    rlp_list_end(&b, outer);
    assert_buf_hex(&b, "0xc7c0c1c0c3c0c1c0");
    /* 56 bytes: the first long-form string */
    buf_reset(&b);
    const char *lorem = "Lorem ipsum dolor sit amet, consectetur adipisicing elit";
    rlp_put_bytes(&b, (const uint8_t *)lorem, strlen(lorem));
    assert_int_equal(b.len, 58);
    assert_int_equal(b.data[0], 0xb8);
    assert_int_equal(b.data[1], 56);
    u256 v;
    u256_from_u64(&v, 0x0400);
    buf_reset(&b);
    rlp_put_u256(&b, &v);
    assert_buf_hex(&b, "0x820400");
    assert_int_equal(buf_ok(&b), 0);
    buf_free(&b);
}

static void test_decode_round_trip(void **state)
{
    (void)state;
    /* a list with a short string, a 1000-byte string, an integer and a nested list */
    buf b = BUF_INIT;
    uint8_t big[1000];
    memset(big, 7, sizeof big);
    size_t m = rlp_list_begin(&b);
    rlp_put_bytes(&b, (const uint8_t *)"dog", 3);
    rlp_put_bytes(&b, big, sizeof big);
    rlp_put_u64(&b, 0x123456789aULL);
    size_t inner = rlp_list_begin(&b);
    rlp_put_u64(&b, 0);
    rlp_list_end(&b, inner);
    rlp_list_end(&b, m);
    assert_int_equal(buf_ok(&b), 0);

    char err[256];
    rlp_item top, it;
    rlp_iter iter;
    assert_int_equal(rlp_decode(b.data, b.len, &top, err, sizeof err), 0);
    assert_true(top.is_list);
    assert_int_equal(rlp_iter_init(&iter, b.data, &top, err, sizeof err), 0);
    assert_int_equal(rlp_next(&iter, &it, err, sizeof err), 1);
    assert_int_equal(it.payload_len, 3);
    assert_memory_equal(it.payload, "dog", 3);
    assert_int_equal(rlp_next(&iter, &it, err, sizeof err), 1);
    assert_int_equal(it.payload_len, 1000);
    assert_int_equal(rlp_next(&iter, &it, err, sizeof err), 1);
    uint64_t u;
    assert_int_equal(rlp_item_u64(&it, &u, err, sizeof err), 0);
    assert_true(u == 0x123456789aULL);
    assert_int_equal(rlp_next(&iter, &it, err, sizeof err), 1);
    assert_true(it.is_list);
    rlp_iter sub;
    rlp_item z;
    assert_int_equal(rlp_iter_init(&sub, b.data, &it, err, sizeof err), 0);
    assert_int_equal(rlp_next(&sub, &z, err, sizeof err), 1);
    assert_int_equal(rlp_item_u64(&z, &u, err, sizeof err), 0);
    assert_true(u == 0);
    assert_int_equal(rlp_next(&sub, &z, err, sizeof err), 0);
    assert_int_equal(rlp_next(&iter, &it, err, sizeof err), 0);
    buf_free(&b);
}

static void expect_error(const char *hex, const char *needle)
{
    uint8_t in[128];
    size_t n;
    char err[256] = "";
    assert_int_equal(hex_decode(hex, in, sizeof in, &n, err, sizeof err), 0);
    rlp_item top;
    int rc = rlp_decode(in, n, &top, err, sizeof err);
    if (rc == 0 && top.is_list) {
        /* walk the whole list so that nested errors surface too */
        rlp_iter it;
        rlp_item x;
        rlp_iter_init(&it, in, &top, err, sizeof err);
        while ((rc = rlp_next(&it, &x, err, sizeof err)) == 1)
            ;
    }
    if (rc >= 0)
        fail_msg("%s decoded without error", hex);
    if (!strstr(err, needle))
        fail_msg("%s: error \"%s\" does not contain \"%s\"", hex, err, needle);
}

static void test_strict_errors(void **state)
{
    (void)state;
    expect_error("0x", "truncated input at offset 0");
    expect_error("0x83646f", "truncated string at offset 0");
    expect_error("0x8100", "non-canonical single byte 0x00 at offset 0");
    expect_error("0x817f", "non-canonical single byte");
    expect_error("0xb80100", "non-canonical long-form length 1 at offset 0");
    expect_error("0xb90038"
                 "00",
                 "leading zero byte at offset 1");
    expect_error("0xb9", "truncated length at offset 1");
    expect_error("0x83646f6700", "1 trailing bytes at offset 4");
    expect_error("0xc3646f", "truncated list at offset 0");
    expect_error("0xc48100ff00", "non-canonical single byte 0x00 at offset 1");
    expect_error("0xc2c3", "truncated list at offset 0");
    expect_error("0xc1c3", "truncated list at offset 1");
    /* a list whose payload has a truncated inner string */
    expect_error("0xc283ff", "truncated string at offset 1");

    char err[256];
    rlp_item it;
    uint8_t leading[] = {0x82, 0x00, 0x01};
    assert_int_equal(rlp_decode(leading, 3, &it, err, sizeof err), 0);
    uint64_t u;
    assert_int_equal(rlp_item_u64(&it, &u, err, sizeof err), -1);
    assert_non_null(strstr(err, "leading zero"));
    uint8_t nine[] = {0x89, 1, 2, 3, 4, 5, 6, 7, 8, 9};
    assert_int_equal(rlp_decode(nine, sizeof nine, &it, err, sizeof err), 0);
    assert_int_equal(rlp_item_u64(&it, &u, err, sizeof err), -1);
    u256 v;
    assert_int_equal(rlp_item_u256(&it, &v, err, sizeof err), 0);
    assert_int_equal(v.b[31], 9);
    uint8_t list[] = {0xc0};
    assert_int_equal(rlp_decode(list, 1, &it, err, sizeof err), 0);
    assert_int_equal(rlp_item_u64(&it, &u, err, sizeof err), -1);
    assert_non_null(strstr(err, "found a list"));
    rlp_iter iter;
    assert_int_equal(rlp_decode(nine, sizeof nine, &it, err, sizeof err), 0);
    assert_int_equal(rlp_iter_init(&iter, nine, &it, err, sizeof err), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode_examples),
        cmocka_unit_test(test_decode_round_trip),
        cmocka_unit_test(test_strict_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
