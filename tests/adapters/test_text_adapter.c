/* The text adapter on the real engine with the tiny random-weight test model. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "adapters/adapter.h"
#include "tests/inference/testmodel.h"

static engine *eng;
static char model_path[256];

static int setup(void **state)
{
    (void)state;
    snprintf(model_path, sizeof model_path, "/tmp/sibyl-test-adapter.%d.gguf", (int)getpid());
    testmodel_opts o;
    memset(&o, 0, sizeof o);
    o.type = GGML_TYPE_Q8_0;
    o.seed = 1;
    char err[512];
    if (testmodel_write(model_path, &o, err, sizeof err))
        return -1;
    engine_options eo = {model_path, ENGINE_BACKEND_CPU, 1};
    return engine_open(&eo, &eng, err, sizeof err) ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    engine_close(eng);
    unlink(model_path);
    return 0;
}

static int run(const char *input, size_t in_len, const uint8_t *params, size_t p_len, uint64_t seed,
               adapter_result *res, engine_step_fn cb)
{
    adapter_job job = {eng, seed, (const uint8_t *)input, in_len, params, p_len, cb, NULL};
    char err[512];
    return adapter_text.run(&job, res, err, sizeof err);
}

static void test_answers_deterministically(void **state)
{
    (void)state;
    adapter_result a, b, c;
    assert_int_equal(run("hello", 5, NULL, 0, 42, &a, NULL), 0);
    assert_int_equal(a.reject_code, 0);
    assert_non_null(a.output);
    assert_int_equal(run("hello", 5, NULL, 0, 42, &b, NULL), 0);
    assert_int_equal(a.output_len, b.output_len);
    assert_memory_equal(a.output, b.output, a.output_len); /* same seed, same bytes */
    uint8_t params[64] = {0};
    params[31] = 4; /* maxNewTokens 4 */
    params[63] = 2; /* steps 2 */
    assert_int_equal(run("hello", 5, params, 64, 42, &c, NULL), 0);
    assert_int_equal(c.reject_code, 0);
    adapter_result_free(&a);
    adapter_result_free(&b);
    adapter_result_free(&c);
}

static void test_rejects(void **state)
{
    (void)state;
    adapter_result r;
    assert_int_equal(run("\xc3\x28", 2, NULL, 0, 1, &r, NULL), 0);
    assert_int_equal(r.reject_code, REJECT_ADAPTER_PARSE);
    assert_int_equal(run("\xed\xa0\x80", 3, NULL, 0, 1, &r, NULL), 0); /* a surrogate */
    assert_int_equal(r.reject_code, REJECT_ADAPTER_PARSE);
    uint8_t params[64] = {0};
    assert_int_equal(run("hi", 2, params, 63, 1, &r, NULL), 0);
    assert_int_equal(r.reject_code, REJECT_PARAMS_INVALID);
    params[0] = 1; /* dirty high bits of the uint32 word */
    assert_int_equal(run("hi", 2, params, 64, 1, &r, NULL), 0);
    assert_int_equal(r.reject_code, REJECT_PARAMS_INVALID);
    memset(params, 0, sizeof params);
    params[60] = 0xff; /* steps = 0xff000000 */
    assert_int_equal(run("hi", 2, params, 64, 1, &r, NULL), 0);
    assert_int_equal(r.reject_code, REJECT_PARAMS_INVALID);
    assert_null(r.output);
}

static int cancel_at_first_step(void *user, const engine_step *s)
{
    (void)user;
    (void)s;
    return 1;
}

static void test_cancel_and_lookup(void **state)
{
    (void)state;
    adapter_result r;
    assert_int_equal(run("hello", 5, NULL, 0, 3, &r, cancel_at_first_step), 0);
    assert_int_equal(r.cancelled, 1);
    assert_null(r.output);
    uint8_t name[32] = "text";
    assert_ptr_equal(adapter_find(name), &adapter_text);
    uint8_t other[32] = "nosuchkind";
    assert_null(adapter_find(other));
    uint8_t dirty[32] = "text";
    dirty[31] = 1; /* not zero-padded */
    assert_null(adapter_find(dirty));
    assert_string_equal(reject_code_name(REJECT_INPUT_TOO_LONG), "INPUT_TOO_LONG");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_answers_deterministically),
        cmocka_unit_test(test_rejects),
        cmocka_unit_test(test_cancel_and_lookup),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
