/* rpc: against a real anvil (eth_chainId, eth_blockNumber, an unknown method, a revert with
 * data), and retry/backoff behaviour against rpc_test_double.py, a scripted HTTP server on
 * loopback (a test double, used only here). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "oracle/rpc.h"
#include "tests/oracle/testutil.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* A batch: results matched by id whatever the reply's order, an error object for one call
 * leaves the others intact, a revert's data arrives per call. */
static void test_batch_anvil(void **state)
{
    (void)state;
    char url[64], err[512];
    pid_t anvil = tu_anvil_start(url, sizeof url);
    rpc_client *c = rpc_client_new(url, NULL, err, sizeof err);
    assert_non_null(c);
    cJSON *block0 = cJSON_CreateArray(), *revert = cJSON_CreateArray(),
          *call = cJSON_CreateObject();
    cJSON_AddItemToArray(block0, cJSON_CreateString("0x0"));
    cJSON_AddItemToArray(block0, cJSON_CreateFalse());
    cJSON_AddStringToObject(call, "data", "0x60aa60005260206000fd");
    cJSON_AddItemToArray(revert, call);
    cJSON_AddItemToArray(revert, cJSON_CreateString("latest"));
    const char *methods[5] = {"eth_chainId", "sibyl_noSuchMethod", "eth_getBlockByNumber",
                              "eth_call", "eth_blockNumber"};
    const cJSON *params[5] = {NULL, NULL, block0, revert, NULL};
    cJSON *res[5];
    int st[5];
    rpc_error errs[5];
    memset(errs, 0, sizeof errs);
    assert_int_equal(rpc_call_batch(c, 5, methods, params, res, st, errs, err, sizeof err), RPC_OK);
    assert_int_equal(st[0], RPC_OK);
    assert_string_equal(res[0]->valuestring, "0x7a69");
    assert_int_equal(st[1], RPC_EERROR);
    assert_null(res[1]);
    assert_int_equal(errs[1].code, -32601);
    assert_int_equal(st[2], RPC_OK);
    assert_true(cJSON_IsString(cJSON_GetObjectItem(res[2], "hash")));
    assert_int_equal(st[3], RPC_EERROR);
    assert_int_equal(errs[3].code, 3);
    assert_string_equal(errs[3].data,
                        "0x00000000000000000000000000000000000000000000000000000000000000aa");
    assert_int_equal(st[4], RPC_OK);
    assert_string_equal(res[4]->valuestring, "0x0");
    for (int i = 0; i < 5; i++) {
        cJSON_Delete(res[i]);
        rpc_error_clear(&errs[i]);
    }
    /* bad arguments are refused before anything is sent */
    assert_int_equal(rpc_call_batch(c, 0, methods, params, res, st, NULL, err, sizeof err),
                     RPC_EINVAL);
    cJSON_Delete(block0);
    cJSON_Delete(revert);
    rpc_client_free(c);
    tu_stop(anvil);
}

static void test_anvil(void **state)
{
    (void)state;
    char url[64], err[512];
    pid_t anvil = tu_anvil_start(url, sizeof url);
    rpc_client *c = rpc_client_new(url, NULL, err, sizeof err);
    assert_non_null(c);
    unsigned long long v = 0;
    rpc_error rerr = {0};
    assert_int_equal(rpc_call_u64(c, "eth_chainId", NULL, &v, &rerr, err, sizeof err), RPC_OK);
    assert_int_equal(v, 31337);
    assert_int_equal(rpc_call_u64(c, "eth_blockNumber", NULL, &v, &rerr, err, sizeof err), RPC_OK);
    assert_int_equal(v, 0);

    /* an object result: block 0 */
    cJSON *params = cJSON_CreateArray(), *res = NULL;
    cJSON_AddItemToArray(params, cJSON_CreateString("0x0"));
    cJSON_AddItemToArray(params, cJSON_CreateFalse());
    assert_int_equal(rpc_call(c, "eth_getBlockByNumber", params, &res, &rerr, err, sizeof err),
                     RPC_OK);
    assert_true(cJSON_IsString(cJSON_GetObjectItem(res, "hash")));
    cJSON_Delete(res);
    cJSON_Delete(params);

    /* an error object */
    int rc = rpc_call(c, "sibyl_noSuchMethod", NULL, &res, &rerr, err, sizeof err);
    assert_int_equal(rc, RPC_EERROR);
    assert_null(res);
    assert_int_equal(rerr.code, -32601);
    assert_non_null(strstr(err, "sibyl_noSuchMethod"));
    assert_non_null(strstr(err, "-32601"));
    assert_int_equal(rerr.attempts, 1);

    /* a revert with data: init code that stores 0xaa and reverts with 32 bytes */
    params = cJSON_CreateArray();
    cJSON *call = cJSON_CreateObject();
    cJSON_AddStringToObject(call, "data", "0x60aa60005260206000fd");
    cJSON_AddItemToArray(params, call);
    cJSON_AddItemToArray(params, cJSON_CreateString("latest"));
    rc = rpc_call(c, "eth_call", params, &res, &rerr, err, sizeof err);
    cJSON_Delete(params);
    assert_int_equal(rc, RPC_EERROR);
    assert_int_equal(rerr.code, 3);
    assert_non_null(strstr(rerr.message, "revert"));
    assert_non_null(rerr.data);
    assert_string_equal(rerr.data,
                        "0x00000000000000000000000000000000000000000000000000000000000000aa");
    assert_non_null(strstr(err, "data: 0x"));
    rpc_error_clear(&rerr);
    rpc_client_free(c);
    tu_stop(anvil);
}

/* The scripted server: started with its stdin as a pipe we close to stop it. */
typedef struct {
    pid_t pid;
    int stdin_fd;
    char url[64];
} double_server;

static void double_start(double_server *s, const char *script)
{
    int in[2], out[2];
    assert_int_equal(pipe(in), 0);
    assert_int_equal(pipe(out), 0);
    s->pid = fork();
    assert_true(s->pid >= 0);
    if (s->pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        close(in[1]);
        close(out[0]);
        execl("/usr/bin/python3", "python3", SIBYL_RPC_DOUBLE, script, (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    s->stdin_fd = in[1];
    char line[32] = "";
    size_t n = 0;
    while (n < sizeof line - 1 && read(out[0], line + n, 1) == 1 && line[n] != '\n')
        n++;
    line[n] = '\0';
    close(out[0]);
    int port = atoi(line);
    if (port <= 0)
        fail_msg("rpc_test_double.py did not start (is /usr/bin/python3 there?)");
    snprintf(s->url, sizeof s->url, "http://127.0.0.1:%d", port);
}

static void double_stop(double_server *s)
{
    close(s->stdin_fd);
    int status;
    waitpid(s->pid, &status, 0);
}

static rpc_options fast_options(void)
{
    rpc_options o = rpc_default_options();
    o.timeout_ms = 2000;
    o.max_retries = 3;
    o.backoff_ms = 20;
    o.backoff_max_ms = 100;
    return o;
}

/* Calls eth_blockNumber on a server following script; the call's own duration (not the
 * server's start) goes to last_call_s. */
static double last_call_s;

static int call_script(const char *script, const rpc_options *o, unsigned long long *v,
                       rpc_error *rerr, char *err, size_t errlen)
{
    double_server s;
    double_start(&s, script);
    rpc_client *c = rpc_client_new(s.url, o, err, errlen);
    assert_non_null(c);
    double t0 = now_s();
    int rc = rpc_call_u64(c, "eth_blockNumber", NULL, v, rerr, err, errlen);
    last_call_s = now_s() - t0;
    rpc_client_free(c);
    double_stop(&s);
    return rc;
}

static void test_retries(void **state)
{
    (void)state;
    rpc_options o = fast_options();
    rpc_error rerr = {0};
    char err[512];
    unsigned long long v = 0;

    /* 503, 429, 500 then success: retried with backoff 20 + 40 + 80 ms */
    assert_int_equal(call_script("503,429,500,200", &o, &v, &rerr, err, sizeof err), RPC_OK);
    assert_int_equal(v, 42);
    assert_int_equal(rerr.attempts, 4);
    assert_true(last_call_s >= 0.14);

    /* always 503: gives up after 1 + max_retries attempts */
    assert_int_equal(call_script("503", &o, &v, &rerr, err, sizeof err), RPC_EHTTP);
    assert_int_equal(rerr.attempts, 4);
    assert_int_equal(rerr.http_status, 503);
    assert_non_null(strstr(err, "HTTP 503 after 4 attempts"));

    /* 404 is not retried */
    assert_int_equal(call_script("404,200", &o, &v, &rerr, err, sizeof err), RPC_EHTTP);
    assert_int_equal(rerr.attempts, 1);

    /* a dropped connection is a transport error, retried */
    assert_int_equal(call_script("close,200", &o, &v, &rerr, err, sizeof err), RPC_OK);
    assert_int_equal(rerr.attempts, 2);

    /* Retry-After: 1 is honoured within backoff_max_ms */
    o.backoff_max_ms = 1500;
    assert_int_equal(call_script("429ra1,200", &o, &v, &rerr, err, sizeof err), RPC_OK);
    assert_true(last_call_s >= 0.95);
    /* capped at backoff_max_ms = 100: the wait is 0.1 s, far below Retry-After's 1 s */
    o.backoff_max_ms = 100;
    assert_int_equal(call_script("429ra1,200", &o, &v, &rerr, err, sizeof err), RPC_OK);
    if (last_call_s >= 0.9)
        fail_msg("Retry-After was not capped: the call took %.2f s", last_call_s);

    /* retries off */
    o.max_retries = 0;
    assert_int_equal(call_script("503,200", &o, &v, &rerr, err, sizeof err), RPC_EHTTP);
    assert_int_equal(rerr.attempts, 1);
    rpc_error_clear(&rerr);
}

static void test_bad_replies(void **state)
{
    (void)state;
    rpc_options o = fast_options();
    rpc_error rerr = {0};
    char err[512];
    unsigned long long v = 0;
    assert_int_equal(call_script("garbage", &o, &v, &rerr, err, sizeof err), RPC_EREPLY);
    assert_non_null(strstr(err, "not JSON"));
    assert_int_equal(call_script("wrongid", &o, &v, &rerr, err, sizeof err), RPC_EREPLY);
    assert_non_null(strstr(err, "id does not match"));
    assert_int_equal(call_script("error", &o, &v, &rerr, err, sizeof err), RPC_EERROR);
    assert_int_equal(rerr.code, 3);
    assert_string_equal(rerr.message, "execution reverted");
    assert_string_equal(rerr.data, "0x08c379a0");
    rpc_error_clear(&rerr);
}

static void test_transport_errors(void **state)
{
    (void)state;
    rpc_options o = fast_options();
    char err[512], url[64];
    rpc_error rerr = {0};
    /* nothing listens on a port we just released */
    snprintf(url, sizeof url, "http://127.0.0.1:%d", tu_free_port());
    rpc_client *c = rpc_client_new(url, &o, err, sizeof err);
    assert_non_null(c);
    cJSON *res = NULL;
    assert_int_equal(rpc_call(c, "eth_chainId", NULL, &res, &rerr, err, sizeof err),
                     RPC_ETRANSPORT);
    assert_int_equal(rerr.attempts, 4);
    assert_non_null(strstr(err, "eth_chainId"));
    assert_non_null(strstr(err, "after 4 attempts"));
    /* params must be an array */
    cJSON *obj = cJSON_CreateObject();
    assert_int_equal(rpc_call(c, "eth_chainId", obj, &res, &rerr, err, sizeof err), RPC_EINVAL);
    cJSON_Delete(obj);
    rpc_client_free(c);
    assert_null(rpc_client_new("ftp://x", &o, err, sizeof err));
    assert_non_null(strstr(err, "http://"));
    rpc_error_clear(&rerr);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_anvil),
        cmocka_unit_test(test_batch_anvil),
        cmocka_unit_test(test_retries),
        cmocka_unit_test(test_bad_replies),
        cmocka_unit_test(test_transport_errors),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
