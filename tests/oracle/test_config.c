/* config: the oracle.conf parser (every error names the file and line). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "oracle/config.h"

static char dir[256];

static const char *write_file(const char *name, const char *text)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

#define BASE                                                                                       \
    "rpc_http = http://127.0.0.1:8545\n"                                                           \
    "rpc_ws = ws://127.0.0.1:8545\n"                                                               \
    "chain_id = 31337\n"                                                                           \
    "oracle_address = 0x5FbDB2315678afecb367f032d93F642f64180aa3\n"                                \
    "model = tiny models/tiny.gguf\n"                                                              \
    "keystore = /keys/node.json\n"

static void test_good_file(void **state)
{
    (void)state;
    config c;
    char err[512];
    const char *p =
        write_file("good.conf", "# a comment\n\n" BASE "confirmations = 3   # trailing comment\n"
                                "model = 0x"
                                "00000000000000000000000000000000"
                                "000000000000000000000000000000ab /abs/b.gguf\n"
                                "max_fee_per_gas_gwei = 1.5\n"
                                "metrics_listen = 127.0.0.1:9464\n"
                                "journal_sync = false\n"
                                "log_level = debug\n"
                                "registry_refresh_seconds = 5\n"
                                "answers_per_tx = 1\n");
    assert_int_equal(config_load(p, &c, err, sizeof err), 0);
    assert_string_equal(c.rpc_http, "http://127.0.0.1:8545");
    assert_int_equal(c.chain_id, 31337);
    assert_int_equal(c.oracle_address[0], 0x5f);
    assert_int_equal(c.oracle_address[19], 0xa3);
    assert_int_equal(c.n_models, 2);
    assert_memory_equal(c.models[0].id, "tiny\0\0\0", 7);
    char expect[600];
    snprintf(expect, sizeof expect, "%s/models/tiny.gguf", dir); /* relative to the file */
    assert_string_equal(c.models[0].path, expect);
    assert_int_equal(c.models[1].id[31], 0xab);
    assert_string_equal(c.models[1].path, "/abs/b.gguf");
    assert_int_equal(c.confirmations, 3);
    assert_int_equal(c.max_fee_gwei_milli, 1500);
    assert_string_equal(c.metrics_host, "127.0.0.1");
    assert_int_equal(c.metrics_port, 9464);
    assert_int_equal(c.journal_sync, 0);
    assert_int_equal(c.log_level, 0);
    assert_int_equal(c.receipt_depth, 1); /* default */
    assert_int_equal(c.registry_refresh_s, 5);
    assert_int_equal(c.answers_per_tx, 1);
    assert_int_equal(c.batch_wait_ms, 100); /* default */
}

static void expect_error(const char *text, const char *needle)
{
    config c;
    char err[512] = "";
    const char *p = write_file("bad.conf", text);
    assert_int_equal(config_load(p, &c, err, sizeof err), -1);
    if (!strstr(err, needle))
        fail_msg("error '%s' does not contain '%s'", err, needle);
}

static void test_errors(void **state)
{
    (void)state;
    expect_error(BASE "confirmation = 3\n", "bad.conf:7: unknown key 'confirmation'");
    expect_error(BASE "confirmations = -1\n", "bad.conf:7: bad value '-1' for 'confirmations'");
    expect_error(BASE "confirmations = 3x\n", ":7: bad value");
    expect_error(BASE "chain_id = 5\n", ":7: 'chain_id' is set twice (first on line 3)");
    expect_error(BASE "rpc_http\n", ":7: expected 'key = value'");
    expect_error(BASE "threads =\n", ":7: 'threads' has no value");
    expect_error("rpc_http = ftp://x\n", ":1: bad value 'ftp://x' for 'rpc_http'");
    expect_error(BASE "oracle_address = 0x1234\n", "set twice");
    expect_error("oracle_address = 0x1234\n", ":1: bad value '0x1234' for 'oracle_address'");
    expect_error(BASE "model = tiny other.gguf\n", ":7: bad value");
    expect_error(BASE "model = onlyid\n", ":7: bad value 'onlyid' for 'model'");
    expect_error(BASE "metrics_listen = localhost\n", ":7: bad value");
    expect_error(BASE "fee_bump_percent = 5\n", "10..1000");
    expect_error(BASE "backend = tpu\n", "cpu or cuda");
    expect_error(BASE "registry_refresh_seconds = 0\n", "seconds 1..86400");
    expect_error(BASE "answers_per_tx = 0\n", "a count 1..256");
    expect_error(BASE "answers_per_tx = 257\n", "a count 1..256");
    expect_error(BASE "batch_wait_ms = 10001\n", "milliseconds 0..10000");
    expect_error("rpc_http = http://x\n", "required key 'rpc_ws' is missing");
}

static void test_missing_file(void **state)
{
    (void)state;
    config c;
    char err[512];
    assert_int_equal(config_load("/nonexistent/oracle.conf", &c, err, sizeof err), -1);
    assert_non_null(strstr(err, "/nonexistent/oracle.conf: cannot open"));
}

static void test_password(void **state)
{
    (void)state;
    config c;
    char err[512], pw[64];
    config_defaults(&c);
    unsetenv("SIBYL_KEYSTORE_PASSWORD");
    assert_int_equal(config_password(&c, pw, sizeof pw, err, sizeof err), -1);
    assert_non_null(strstr(err, "SIBYL_KEYSTORE_PASSWORD"));
    setenv("SIBYL_KEYSTORE_PASSWORD", "from-env", 1);
    assert_int_equal(config_password(&c, pw, sizeof pw, err, sizeof err), 0);
    assert_string_equal(pw, "from-env");
    snprintf(c.password_file, sizeof c.password_file, "%s",
             write_file("pw", "from-file\r\nsecond line\n"));
    assert_int_equal(config_password(&c, pw, sizeof pw, err, sizeof err), 0);
    assert_string_equal(pw, "from-file");
}

static void test_repo_oracle_conf(void **state)
{
    (void)state;
    /* the committed devnet config parses (ctest runs in the source dir) */
    config c;
    char err[512];
    assert_int_equal(config_load("oracle.conf", &c, err, sizeof err), 0);
    assert_int_equal(c.chain_id, 31337);
    assert_int_equal(c.n_models, 1);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/sibyl-test-config.%d", (int)getpid());
    char cmd[300];
    snprintf(cmd, sizeof cmd, "mkdir -p %s", dir);
    if (system(cmd))
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_file),        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_missing_file),     cmocka_unit_test(test_password),
        cmocka_unit_test(test_repo_oracle_conf),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd))
        rc = rc ? rc : 1;
    return rc;
}
