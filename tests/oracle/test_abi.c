/* ABI: type parsing, selectors and topics, known encodings, strict decoding errors (each
 * naming its offset), event logs, random round trips, and cross-checks against cast. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "oracle/abi.h"
#include "oracle/hex.h"
#include "oracle/keccak.h"
#include "tests/oracle/abi_random.h"
#include "tests/oracle/testutil.h"

static abi_type *parse(const char *s)
{
    abi_type *t = NULL;
    char err[256];
    if (abi_type_parse(s, &t, err, sizeof err) < 0)
        fail_msg("parse %s: %s", s, err);
    return t;
}

static void assert_canonical(const char *in, const char *want)
{
    abi_type *t = parse(in);
    char s[256];
    assert_int_equal(abi_type_canonical(t, s, sizeof s), 0);
    assert_string_equal(s, want);
    abi_type_free(t);
}

static void assert_parse_error(const char *in, const char *needle)
{
    abi_type *t = NULL;
    char err[256] = "";
    if (abi_type_parse(in, &t, err, sizeof err) == 0)
        fail_msg("\"%s\" parsed but is invalid", in);
    assert_null(t);
    if (!strstr(err, needle))
        fail_msg("\"%s\": error \"%s\" lacks \"%s\"", in, err, needle);
}

static void test_parse_types(void **state)
{
    (void)state;
    assert_canonical("uint", "uint256");
    assert_canonical("int", "int256");
    assert_canonical("byte", "bytes1");
    assert_canonical("( uint256, bytes ,address[] )", "(uint256,bytes,address[])");
    assert_canonical("((uint8,string)[],bool)[2][]", "((uint8,string)[],bool)[2][]");
    assert_canonical("()", "()");
    assert_canonical("(uint256 id, bytes32 indexed h)", "(uint256,bytes32)");

    abi_type *t = parse("(uint256,bytes32[2],(bool,address))");
    assert_false(t->dynamic);
    assert_int_equal(t->static_size, 32 * 5);
    abi_type_free(t);
    t = parse("(uint256,(bool,string))");
    assert_true(t->dynamic);
    abi_type_free(t);

    assert_parse_error("uint7", "uintN");
    assert_parse_error("uint264", "uintN");
    assert_parse_error("int0", "intN");
    assert_parse_error("bytes33", "bytesN");
    assert_parse_error("bytes0", "bytesN");
    assert_parse_error("uint08", "uintN");
    assert_parse_error("foo", "unknown type at position 0");
    assert_parse_error("uint256[0]", "fixed array length");
    assert_parse_error("uint256[01]", "fixed array length");
    assert_parse_error("uint256[", "']' expected");
    assert_parse_error("(uint256", "',' or ')' expected");
    assert_parse_error("(uint256,)", "type expected");
    assert_parse_error("()[]", "array of empty tuples");
    assert_parse_error("(uint8,())", "empty tuple");
    assert_parse_error("uint256 x y z", "unexpected");
    assert_parse_error("", "type expected");
    assert_parse_error("uint256[1000000][1000000]", "too large");
    char deep[128] = "";
    for (int i = 0; i < 20; i++)
        strcat(deep, "(");
    strcat(deep, "uint8");
    for (int i = 0; i < 20; i++)
        strcat(deep, ")");
    assert_parse_error(deep, "nested too deeply");
    char arrays[128] = "uint8";
    for (int i = 0; i < 20; i++)
        strcat(arrays, "[]");
    assert_parse_error(arrays, "nested too deeply");
    abi_type *none = NULL;
    assert_int_equal(abi_type_parse(NULL, &none, NULL, 0), -1);
}

static void test_signatures(void **state)
{
    (void)state;
    abi_signature sig;
    char err[256], s[256], h[67];
    uint8_t sel[4], topic[32];

    assert_int_equal(
        abi_signature_parse("transfer(address to, uint256 amount)", &sig, err, sizeof err), 0);
    assert_int_equal(abi_signature_canonical(&sig, s, sizeof s), 0);
    assert_string_equal(s, "transfer(address,uint256)");
    assert_int_equal(abi_selector(&sig, sel), 0);
    hex_encode(h, sel, 4);
    assert_string_equal(h, "0xa9059cbb");
    assert_string_equal(sig.params->fields[1]->name, "amount");
    abi_signature_free(&sig);

    assert_int_equal(
        abi_signature_parse("Transfer(address indexed from,address indexed to,uint256 value)", &sig,
                            err, sizeof err),
        0);
    assert_int_equal(abi_signature_hash(&sig, topic), 0);
    hex_encode(h, topic, 32);
    assert_string_equal(h, "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef");
    assert_true(sig.params->fields[0]->indexed);
    assert_false(sig.params->fields[2]->indexed);
    abi_signature_free(&sig);

    assert_int_equal(abi_signature_parse("baz(uint32,bool)", &sig, err, sizeof err), 0);
    abi_selector(&sig, sel);
    hex_encode(h, sel, 4);
    assert_string_equal(h, "0xcdcd77c0"); /* the Solidity documentation's example */
    abi_signature_free(&sig);

    assert_int_equal(abi_signature_parse("noargs()", &sig, err, sizeof err), 0);
    assert_int_equal(sig.params->n_fields, 0);
    abi_signature_free(&sig);
    assert_int_equal(abi_signature_parse("(uint8)", &sig, err, sizeof err), -1);
    assert_int_equal(abi_signature_parse("f uint8", &sig, err, sizeof err), -1);
    assert_int_equal(abi_signature_parse("f(uint8))", &sig, err, sizeof err), -1);
    assert_non_null(strstr(err, "unexpected characters"));
}

static char *encode_hex(const abi_type *t, const abi_value *v)
{
    buf b = BUF_INIT;
    char err[256];
    if (abi_encode(t, v, &b, err, sizeof err) < 0)
        fail_msg("encode: %s", err);
    char *s = malloc(2 * b.len + 3);
    hex_encode(s, b.data, b.len);
    buf_free(&b);
    return s;
}

/* The Solidity documentation's example: sam(bytes,bool,uint256[]) with "dave", true, [1,2,3]. */
static void test_encode_known(void **state)
{
    (void)state;
    abi_signature sig;
    char err[256];
    assert_int_equal(abi_signature_parse("sam(bytes,bool,uint256[])", &sig, err, sizeof err), 0);
    abi_value args;
    abi_value_list(&args, ABI_TUPLE, 3);
    abi_value_bytes(&args.items[0], (const uint8_t *)"dave", 4);
    abi_value_bool(&args.items[1], 1);
    abi_value_list(&args.items[2], ABI_ARRAY, 3);
    for (int i = 0; i < 3; i++)
        abi_value_uint(&args.items[2].items[i], (uint64_t)i + 1);
    buf b = BUF_INIT;
    assert_int_equal(abi_encode_call(&sig, &args, &b, err, sizeof err), 0);
    char *s = malloc(2 * b.len + 3);
    hex_encode(s, b.data, b.len);
    assert_string_equal(s, "0xa5643bf2"
                           "0000000000000000000000000000000000000000000000000000000000000060"
                           "0000000000000000000000000000000000000000000000000000000000000001"
                           "00000000000000000000000000000000000000000000000000000000000000a0"
                           "0000000000000000000000000000000000000000000000000000000000000004"
                           "6461766500000000000000000000000000000000000000000000000000000000"
                           "0000000000000000000000000000000000000000000000000000000000000003"
                           "0000000000000000000000000000000000000000000000000000000000000001"
                           "0000000000000000000000000000000000000000000000000000000000000002"
                           "0000000000000000000000000000000000000000000000000000000000000003");
    /* decode what we encoded (after the selector) and compare field by field */
    abi_value back;
    assert_int_equal(abi_decode(sig.params, b.data + 4, b.len - 4, &back, err, sizeof err), 0);
    assert_int_equal(back.items[0].len, 4);
    assert_memory_equal(back.items[0].data, "dave", 4);
    assert_int_equal(back.items[1].word[31], 1);
    assert_int_equal(back.items[2].n_items, 3);
    uint64_t u;
    assert_int_equal(abi_value_get_u64(&back.items[2].items[2], &u, err, sizeof err), 0);
    assert_int_equal(u, 3);
    free(s);
    buf_free(&b);
    abi_value_free(&back);
    abi_value_free(&args);
    abi_signature_free(&sig);

    /* a single non-tuple type is a one-element parameter list */
    abi_type *t = parse("string");
    abi_value v;
    abi_value_string(&v, "x");
    s = encode_hex(t, &v);
    assert_string_equal(s, "0x0000000000000000000000000000000000000000000000000000000000000020"
                           "0000000000000000000000000000000000000000000000000000000000000001"
                           "7800000000000000000000000000000000000000000000000000000000000000");
    free(s);
    abi_value_free(&v);
    abi_type_free(t);
}

static void test_encode_checks_values(void **state)
{
    (void)state;
    char err[256];
    buf b = BUF_INIT;
    abi_type *t = parse("uint8");
    abi_value v;
    abi_value_uint(&v, 256);
    assert_int_equal(abi_encode(t, &v, &b, err, sizeof err), -1);
    assert_non_null(strstr(err, "dirty high bits"));
    abi_value_string(&v, "x");
    assert_int_equal(abi_encode(t, &v, &b, err, sizeof err), -1);
    assert_non_null(strstr(err, "string value given for a uint"));
    abi_value_free(&v);
    abi_type_free(t);
    t = parse("int8");
    abi_value_int(&v, -128);
    assert_int_equal(abi_encode(t, &v, &b, err, sizeof err), 0);
    abi_value_int(&v, -129);
    assert_int_equal(abi_encode(t, &v, &b, err, sizeof err), -1);
    abi_type_free(t);
    t = parse("uint8[2]");
    abi_value_list(&v, ABI_FIXED_ARRAY, 3);
    for (int i = 0; i < 3; i++)
        abi_value_uint(&v.items[i], 1);
    assert_int_equal(abi_encode(t, &v, &b, err, sizeof err), -1);
    assert_non_null(strstr(err, "fixed array of 2 items given 3"));
    abi_value_free(&v);
    abi_type_free(t);
    buf_free(&b);
}

/* Decodes hex (no selector) as type ts; expects an error containing needle. */
static void expect_decode_error(const char *ts, const uint8_t *data, size_t len, const char *needle)
{
    abi_type *t = parse(ts);
    abi_value v;
    char err[256] = "";
    int rc = abi_decode(t, data, len, &v, err, sizeof err);
    abi_type_free(t);
    if (rc == 0) {
        abi_value_free(&v);
        fail_msg("%s: invalid data decoded without error", ts);
    }
    if (!strstr(err, needle))
        fail_msg("%s: error \"%s\" lacks \"%s\"", ts, err, needle);
}

static void test_strict_decode(void **state)
{
    (void)state;
    const char *ts = "(uint8,bytes,address,bool,int8,bytes3,uint256[])";
    abi_type *t = parse(ts);
    abi_value v;
    abi_value_list(&v, ABI_TUPLE, 7);
    abi_value_uint(&v.items[0], 200);
    abi_value_bytes(&v.items[1], (const uint8_t *)"hello", 5);
    uint8_t addr[20];
    memset(addr, 0x11, 20);
    abi_value_address(&v.items[2], addr);
    abi_value_bool(&v.items[3], 1);
    abi_value_int(&v.items[4], -2);
    abi_value_fixed_bytes(&v.items[5], (const uint8_t *)"abc", 3);
    abi_value_list(&v.items[6], ABI_ARRAY, 2);
    abi_value_uint(&v.items[6].items[0], 7);
    abi_value_uint(&v.items[6].items[1], 8);
    buf b = BUF_INIT;
    char err[256];
    assert_int_equal(abi_encode(t, &v, &b, err, sizeof err), 0);
    /* layout: head 7 words (0..224), bytes at 224 (len, data), array at 288 (len, 7, 8) */
    assert_int_equal(b.len, 7 * 32 + 64 + 96);
    abi_value back;
    assert_int_equal(abi_decode(t, b.data, b.len, &back, err, sizeof err), 0);
    abi_value_free(&back);

    uint8_t *m = malloc(b.len + 64);
    size_t n = b.len;
#define MUTATE(stmt, needle)                                                                       \
    do {                                                                                           \
        memcpy(m, b.data, b.len);                                                                  \
        n = b.len;                                                                                 \
        stmt;                                                                                      \
        expect_decode_error(ts, m, n, needle);                                                     \
    } while (0)
    MUTATE(n = b.len - 1, "array length 2 at offset 288 exceeds the 63 bytes left");
    MUTATE(n = 100, "truncated data at offset 0");
    MUTATE((m[b.len] = 0, n = b.len + 1), "1 trailing bytes at offset 384");
    MUTATE((memset(m + b.len, 0, 32), n = b.len + 32), "32 trailing bytes at offset 384");
    MUTATE(m[30] = 1, "dirty high bits (value exceeds the type's width) at offset 0");
    MUTATE(m[64 + 11] = 1, "dirty high bits in an address at offset 64");
    MUTATE(m[96 + 31] = 2, "bool is neither 0 nor 1 at offset 96");
    MUTATE(m[128 + 5] = 0, "not the sign extension of the value) at offset 128");
    MUTATE(m[160 + 3] = 1, "non-zero padding after bytesN at offset 160");
    MUTATE(m[224 + 32 + 5] = 1, "non-zero padding at offset 261");
    MUTATE(m[32 + 30] = 1,
           "offset word at offset 32 holds 480; the canonical encoding has 224 there");
    MUTATE(m[32 + 10] = 1, "offset word at offset 32 is out of range");
    MUTATE(m[192 + 31] = 0xff, "offset word at offset 192 holds 511");
    MUTATE(m[224 + 31] = 40, "non-zero padding at offset 319");
    MUTATE(m[224 + 31] = 200, "length 200 needs 224 bytes, 128 left");
    MUTATE(m[224 + 2] = 1, "length word at offset 224 is out of range");
    MUTATE(m[288 + 31] = 3, "array length 3 at offset 288 exceeds the 64 bytes left");
    MUTATE(m[288 + 31] = 1, "32 trailing bytes at offset 352");
    MUTATE(m[288 + 28] = 1, "array length 16777218 at offset 288 exceeds the 64 bytes left");
#undef MUTATE
    free(m);
    buf_free(&b);
    abi_value_free(&v);
    abi_type_free(t);

    /* a huge array length must not allocate */
    uint8_t huge[96] = {0};
    huge[31] = 0x20;
    memset(huge + 32 + 24, 0xff, 8);
    huge[32 + 24] = 0x00;
    expect_decode_error("uint256[]", huge, sizeof huge, "exceeds the 32 bytes left");
    expect_decode_error("bytes", NULL, 0, "truncated data at offset 0");
}

/* InferenceRequested-like event with indexed static and dynamic parameters. */
static void test_decode_log(void **state)
{
    (void)state;
    abi_signature ev;
    char err[256];
    assert_int_equal(abi_signature_parse("Requested(uint256 indexed id,address indexed requester,"
                                         "bytes input,string indexed tag,uint64 seed)",
                                         &ev, err, sizeof err),
                     0);
    uint8_t topics[4][32] = {{0}};
    assert_int_equal(abi_signature_hash(&ev, topics[0]), 0);
    topics[1][31] = 42;
    memset(topics[2] + 12, 0xab, 20);
    keccak256("tagged", 6, topics[3]);
    abi_type *data_t = parse("(bytes,uint64)");
    abi_value dv;
    abi_value_list(&dv, ABI_TUPLE, 2);
    abi_value_bytes(&dv.items[0], (const uint8_t *)"\x01\x02", 2);
    abi_value_uint(&dv.items[1], 99);
    buf data = BUF_INIT;
    assert_int_equal(abi_encode(data_t, &dv, &data, err, sizeof err), 0);

    abi_value out;
    assert_int_equal(abi_decode_log(&ev, (const uint8_t(*)[32])topics, 4, data.data, data.len, &out,
                                    err, sizeof err),
                     0);
    assert_int_equal(out.n_items, 5);
    uint64_t u;
    assert_int_equal(abi_value_get_u64(abi_value_field(ev.params, &out, "id"), &u, err, sizeof err),
                     0);
    assert_int_equal(u, 42);
    assert_int_equal(out.items[1].kind, ABI_ADDRESS);
    assert_int_equal(out.items[1].word[12], 0xab);
    assert_int_equal(out.items[2].len, 2);
    assert_true(out.items[3].is_topic_hash);
    assert_memory_equal(out.items[3].word, topics[3], 32);
    assert_int_equal(
        abi_value_get_u64(abi_value_field(ev.params, &out, "seed"), &u, err, sizeof err), 0);
    assert_int_equal(u, 99);
    assert_null(abi_value_field(ev.params, &out, "nope"));
    abi_value_free(&out);

    assert_int_equal(abi_decode_log(&ev, (const uint8_t(*)[32])topics, 3, data.data, data.len, &out,
                                    err, sizeof err),
                     -1);
    assert_non_null(strstr(err, "so 4 topics; the log has 3"));
    topics[2][0] = 1; /* dirty address topic */
    assert_int_equal(abi_decode_log(&ev, (const uint8_t(*)[32])topics, 4, data.data, data.len, &out,
                                    err, sizeof err),
                     -1);
    assert_non_null(strstr(err, "topic 2"));
    topics[2][0] = 0;
    topics[0][0] ^= 1;
    assert_int_equal(abi_decode_log(&ev, (const uint8_t(*)[32])topics, 4, data.data, data.len, &out,
                                    err, sizeof err),
                     -1);
    assert_non_null(strstr(err, "topic 0"));
    topics[0][0] ^= 1;
    assert_int_equal(abi_decode_log(&ev, (const uint8_t(*)[32])topics, 4, data.data, data.len - 1,
                                    &out, err, sizeof err),
                     -1);
    assert_non_null(strstr(err, "truncated"));

    buf_free(&data);
    abi_value_free(&dv);
    abi_type_free(data_t);
    abi_signature_free(&ev);
}

static void test_random_round_trip(void **state)
{
    (void)state;
    tu_rng_seed(20261126);
    char err[256];
    for (int i = 0; i < 400; i++) {
        buf ts = BUF_INIT;
        ar_type(&ts, 3);
        buf_push(&ts, 0);
        abi_type *t = parse((const char *)ts.data);
        abi_value v, back;
        ar_value(t, &v);
        buf e1 = BUF_INIT, e2 = BUF_INIT;
        if (abi_encode(t, &v, &e1, err, sizeof err) < 0)
            fail_msg("%s: %s", (char *)ts.data, err);
        if (abi_decode(t, e1.data, e1.len, &back, err, sizeof err) < 0)
            fail_msg("%s: decode of own encoding: %s", (char *)ts.data, err);
        assert_int_equal(abi_encode(t, &back, &e2, err, sizeof err), 0);
        assert_int_equal(e1.len, e2.len);
        assert_memory_equal(e1.data, e2.data, e1.len);
        /* every shorter prefix and a longer input must fail */
        for (size_t cut = 0; cut < e1.len; cut += 1 + e1.len / 17) {
            abi_value x;
            if (abi_decode(t, e1.data, cut, &x, err, sizeof err) == 0) {
                abi_value_free(&x);
                if (!(t->kind == ABI_TUPLE && t->n_fields == 0))
                    fail_msg("%s: prefix of %zu bytes decoded", (char *)ts.data, cut);
            }
        }
        buf_zeros(&e1, 32);
        abi_value x;
        assert_int_equal(abi_decode(t, e1.data, e1.len, &x, err, sizeof err), -1);
        abi_value_free(&v);
        abi_value_free(&back);
        abi_type_free(t);
        buf_free(&e1);
        buf_free(&e2);
        buf_free(&ts);
    }
}

/* Our encoding of random values = cast abi-encode's; cast abi-decode of ours = our values. */
static void test_against_cast(void **state)
{
    (void)state;
    tu_require_tool(tu_cast_path());
    tu_rng_seed(4242);
    char err[256];
    for (int i = 0; i < 8; i++) {
        /* a parameter list of 1..4 random types */
        buf ts = BUF_INIT, cmd = BUF_INIT;
        buf_push(&ts, '(');
        int n = 1 + (int)(tu_rand() % 4);
        for (int k = 0; k < n; k++) {
            if (k)
                buf_push(&ts, ',');
            ar_type(&ts, 2);
        }
        buf_push(&ts, ')');
        buf_push(&ts, 0);
        abi_type *t = parse((const char *)ts.data);
        abi_value v;
        ar_value(t, &v);
        char *mine = encode_hex(t, &v);

        const char *head = "abi-encode 'f";
        buf_append(&cmd, head, strlen(head));
        buf_append(&cmd, ts.data, ts.len - 1);
        buf_push(&cmd, '\'');
        for (size_t k = 0; k < v.n_items; k++) {
            buf_append(&cmd, " '", 2);
            ar_cast_arg(t->fields[k], &v.items[k], &cmd);
            buf_push(&cmd, '\'');
        }
        buf_push(&cmd, 0);
        char *theirs = tu_run("%s %s", tu_cast_path(), (char *)cmd.data);
        if (strcmp(mine, theirs))
            fail_msg("%s\n  sibyl: %s\n  cast:  %s", (char *)cmd.data, mine, theirs);

        if (i % 3 == 0) {
            buf want = BUF_INIT, got = BUF_INIT;
            ar_cast_json(t, &v, &want);
            buf_push(&want, 0);
            char *json = tu_run("%s abi-decode --json --input 'f%s' %s", tu_cast_path(),
                                (char *)ts.data, mine);
            ar_normalise_json(json, &got);
            if (strcmp((char *)want.data, (char *)got.data))
                fail_msg("cast abi-decode of %s:\n  want %s\n  got  %s", (char *)ts.data,
                         (char *)want.data, (char *)got.data);
            free(json);
            buf_free(&want);
            buf_free(&got);
        }
        (void)err;
        free(mine);
        free(theirs);
        abi_value_free(&v);
        abi_type_free(t);
        buf_free(&ts);
        buf_free(&cmd);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_types),       cmocka_unit_test(test_signatures),
        cmocka_unit_test(test_encode_known),      cmocka_unit_test(test_encode_checks_values),
        cmocka_unit_test(test_strict_decode),     cmocka_unit_test(test_decode_log),
        cmocka_unit_test(test_random_round_trip), cmocka_unit_test(test_against_cast),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
