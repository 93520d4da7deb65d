/* event: InferenceRequested logs from the network, valid and malformed (never a crash). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "oracle/event.h"
#include "oracle/hex.h"

static abi_signature ev;

static char *hexdup(const uint8_t *p, size_t n)
{
    char *h = malloc(2 * n + 3);
    hex_encode(h, p, n);
    return h;
}

/* A log as anvil sends it, for request id 7 with input "hi" and params 0x0102. */
static cJSON *valid_log(void)
{
    abi_type *t;
    char err[256];
    assert_int_equal(
        abi_type_parse("(bytes32,bytes,bytes,uint256,uint32,uint64)", &t, err, sizeof err), 0);
    abi_value v;
    assert_int_equal(abi_value_list(&v, ABI_TUPLE, 6), 0);
    uint8_t adapter[32] = "text";
    abi_value_fixed_bytes(&v.items[0], adapter, 32);
    assert_int_equal(abi_value_bytes(&v.items[1], (const uint8_t *)"hi", 2), 0);
    assert_int_equal(abi_value_bytes(&v.items[2], (const uint8_t *)"\x01\x02", 2), 0);
    abi_value_uint(&v.items[3], 0x1122334455667788ULL);
    abi_value_uint(&v.items[4], 200000);
    abi_value_uint(&v.items[5], 1700000000);
    buf data = BUF_INIT;
    assert_int_equal(abi_encode(t, &v, &data, err, sizeof err), 0);
    abi_value_free(&v);
    abi_type_free(t);

    uint8_t topics[4][32] = {{0}};
    abi_signature_hash(&ev, topics[0]);
    topics[1][31] = 7;
    topics[2][31] = 0xaa; /* requester ...aa */
    memcpy(topics[3], "tiny", 4);
    cJSON *log = cJSON_CreateObject(), *tp = cJSON_CreateArray();
    for (int i = 0; i < 4; i++) {
        char *h = hexdup(topics[i], 32);
        cJSON_AddItemToArray(tp, cJSON_CreateString(h));
        free(h);
    }
    cJSON_AddItemToObject(log, "topics", tp);
    char *h = hexdup(data.data, data.len);
    cJSON_AddStringToObject(log, "data", h);
    free(h);
    buf_free(&data);
    cJSON_AddStringToObject(log, "blockNumber", "0x1b");
    cJSON_AddStringToObject(log, "blockHash",
                            "0x"
                            "1111111111111111111111111111111111111111111111111111111111111111");
    cJSON_AddStringToObject(log, "transactionHash",
                            "0x"
                            "2222222222222222222222222222222222222222222222222222222222222222");
    cJSON_AddStringToObject(log, "logIndex", "0x3");
    return log;
}

static void test_valid(void **state)
{
    (void)state;
    cJSON *log = valid_log();
    jreq r;
    char err[256];
    assert_int_equal(event_decode_request(&ev, log, &r, err, sizeof err), 0);
    assert_int_equal(r.f.id[31], 7);
    assert_int_equal(r.f.requester[19], 0xaa);
    assert_memory_equal(r.f.model_id, "tiny", 4);
    assert_memory_equal(r.f.adapter, "text", 4);
    assert_int_equal(r.input_len, 2);
    assert_memory_equal(r.input, "hi", 2);
    assert_int_equal(r.params_len, 2);
    assert_int_equal(r.f.seed[24], 0x11);
    assert_int_equal(r.f.callback_gas_limit, 200000);
    assert_int_equal(r.f.deadline, 1700000000);
    assert_int_equal(r.f.block_number, 27);
    assert_int_equal(r.f.block_hash[0], 0x11);
    assert_int_equal(r.f.log_tx_hash[31], 0x22);
    assert_int_equal(r.f.log_index, 3);
    jreq_free(&r);
    cJSON_Delete(log);
}

static void expect_bad(cJSON *log, const char *what)
{
    jreq r;
    char err[256] = "";
    if (event_decode_request(&ev, log, &r, err, sizeof err) == 0) {
        jreq_free(&r);
        fail_msg("malformed log accepted: %s", what);
    }
    assert_true(err[0] != 0);
    cJSON_Delete(log);
}

static void set_str(cJSON *log, const char *key, const char *val)
{
    cJSON_ReplaceItemInObjectCaseSensitive(log, key, cJSON_CreateString(val));
}

static void test_malformed(void **state)
{
    (void)state;
    cJSON *log = valid_log();
    cJSON_DeleteItemFromObject(log, "blockHash");
    expect_bad(log, "no blockHash (a pending log)");

    log = valid_log();
    cJSON_DeleteItemFromArray(cJSON_GetObjectItem(log, "topics"), 3);
    expect_bad(log, "a topic missing");

    log = valid_log();
    cJSON_ReplaceItemInArray(cJSON_GetObjectItem(log, "topics"), 0,
                             cJSON_CreateString("0x"
                                                "00000000000000000000000000000000"
                                                "00000000000000000000000000000001"));
    expect_bad(log, "another event's topic0");

    log = valid_log();
    set_str(log, "data", "0x1234");
    expect_bad(log, "truncated data");

    log = valid_log();
    set_str(log, "data", "0xzz");
    expect_bad(log, "data not hex");

    log = valid_log();
    {
        const char *d = cJSON_GetObjectItem(log, "data")->valuestring;
        char *cut = strdup(d);
        cut[strlen(cut) - 64] = 0; /* one word short */
        set_str(log, "data", cut);
        free(cut);
    }
    expect_bad(log, "one word short");

    log = valid_log();
    {
        char *d = strdup(cJSON_GetObjectItem(log, "data")->valuestring);
        d[2 + 64 + 60] = 'f'; /* the input's offset word points far away */
        set_str(log, "data", d);
        free(d);
    }
    expect_bad(log, "offset out of bounds");

    log = valid_log();
    cJSON_ReplaceItemInObjectCaseSensitive(log, "topics", cJSON_CreateNumber(1));
    expect_bad(log, "topics not an array");

    log = valid_log();
    set_str(log, "logIndex", "3");
    expect_bad(log, "logIndex without 0x");
}

static void test_random_corruption_never_crashes(void **state)
{
    (void)state;
    srand(12345);
    cJSON *base = valid_log();
    const char *d = cJSON_GetObjectItem(base, "data")->valuestring;
    size_t n = strlen(d);
    static const char digits[] = "0123456789abcdef";
    int accepted = 0;
    for (int i = 0; i < 2000; i++) {
        cJSON *log = cJSON_Duplicate(base, 1);
        char *m = strdup(d);
        int flips = 1 + rand() % 4;
        for (int k = 0; k < flips; k++)
            m[2 + (size_t)rand() % (n - 2)] = digits[rand() % 16];
        if (rand() % 5 == 0)
            m[2 + 2 * ((size_t)rand() % ((n - 2) / 2))] = 0; /* truncate */
        set_str(log, "data", m);
        free(m);
        jreq r;
        char err[256];
        if (event_decode_request(&ev, log, &r, err, sizeof err) == 0) {
            accepted++; /* a flip inside a value's bytes is still a valid event */
            jreq_free(&r);
        }
        cJSON_Delete(log);
    }
    cJSON_Delete(base);
    assert_true(accepted < 2000);
}

static int setup(void **state)
{
    (void)state;
    char err[256];
    return abi_signature_parse(EVENT_INFERENCE_REQUESTED, &ev, err, sizeof err);
}

static int teardown(void **state)
{
    (void)state;
    abi_signature_free(&ev);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_random_corruption_never_crashes),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
