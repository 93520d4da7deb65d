/*
 * Loading and error paths: a well-formed test model loads with the expected hyperparameters
 * (zero-copy for Q8_0, converted for F32, split experts accepted); a wrong architecture, a
 * missing tensor and a mis-shaped tensor each give ENGINE_EMODEL naming the problem; engine
 * parameter checks, a too-long prompt, the CUDA backend in a CPU build and cancellation give
 * their documented errors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "inference/engine.h"
#include "inference/model.h"
#include "tests/inference/testmodel.h"

static char g_dir[64];

static const char *tmp_path(const char *name)
{
    static char p[128];
    snprintf(p, sizeof p, "%s/%s", g_dir, name);
    return p;
}

static int setup(void **st)
{
    (void)st;
    snprintf(g_dir, sizeof g_dir, "/tmp/sibyl-model-XXXXXX");
    return mkdtemp(g_dir) ? 0 : -1;
}

static int teardown(void **st)
{
    (void)st;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static const char *write_model(const char *name, testmodel_opts o)
{
    char err[256];
    const char *p = tmp_path(name);
    int rc = testmodel_write(p, &o, err, sizeof err);
    if (rc)
        fprintf(stderr, "testmodel_write: %s\n", err);
    assert_int_equal(rc, 0);
    return p;
}

static void test_loads_q8_zero_copy(void **st)
{
    (void)st;
    testmodel_opts o = {.type = GGML_TYPE_Q8_0, .seed = 1};
    const char *p = write_model("q8.gguf", o);
    model *m;
    char err[256];
    assert_int_equal(model_load(p, NULL, &m, err, sizeof err), 0);
    assert_int_equal(m->hp.n_layers, TM_LAYERS);
    assert_int_equal(m->hp.hidden, TM_HIDDEN);
    assert_int_equal(m->hp.vocab, TM_VOCAB);
    assert_int_equal(m->hp.canvas_length, TM_CANVAS);
    assert_int_equal(m->hp.eb_max_steps, 6);
    assert_true(m->hp.eb_t_max == 0.8f && m->hp.eb_t_min == 0.4f);
    assert_int_equal(m->layers[0].sliding, 1);
    assert_int_equal(m->layers[2].sliding, 0);
    assert_int_equal(m->layers[0].n_kv, TM_KV_SWA);
    assert_int_equal(m->layers[2].n_kv, TM_KV_GLOBAL);
    assert_int_equal(m->layers[2].head_dim, TM_D_GLOBAL);
    assert_null(m->layers[2].wv.blocks);
    assert_non_null(m->rope_freqs);
    assert_true(m->all_q8_zero_copy);
    assert_int_equal(m->layers[0].fused, 1);
    /* The token embedding is used in place: its blocks lie inside the map. */
    const uint8_t *base = gguf_base(m->gguf);
    assert_true((const uint8_t *)m->tok_embd.blocks > base &&
                (const uint8_t *)m->tok_embd.blocks < base + gguf_size(m->gguf));
    assert_int_equal(m->tok_embd_t.rows, TM_HIDDEN);
    assert_int_equal(m->tok_embd_t.cols, TM_VOCAB);
    model_free(m);
}

static void test_loads_f32_split(void **st)
{
    (void)st;
    testmodel_opts o = {.type = GGML_TYPE_F32, .split_experts = 1, .seed = 2};
    const char *p = write_model("f32.gguf", o);
    model *m;
    char err[256];
    assert_int_equal(model_load(p, NULL, &m, err, sizeof err), 0);
    assert_false(m->all_q8_zero_copy);
    assert_int_equal(m->layers[1].fused, 0);
    assert_non_null(m->layers[1].gate_exps);
    assert_true(m->bytes_owned > 0);
    model_free(m);
}

static void expect_load_error(const char *name, testmodel_opts o, const char *needle1,
                              const char *needle2)
{
    const char *p = write_model(name, o);
    model *m = NULL;
    char err[256] = "";
    assert_int_equal(model_load(p, NULL, &m, err, sizeof err), ENGINE_EMODEL);
    assert_null(m);
    if (!strstr(err, needle1) || (needle2 && !strstr(err, needle2)))
        fail_msg("error '%s' does not mention '%s' / '%s'", err, needle1, needle2 ? needle2 : "");
    /* Through the engine too. */
    engine_options eo = {p, ENGINE_BACKEND_CPU, 1};
    engine *e = NULL;
    assert_int_equal(engine_open(&eo, &e, err, sizeof err), ENGINE_EMODEL);
    assert_null(e);
    assert_non_null(strstr(err, needle1));
}

static void test_unknown_arch(void **st)
{
    (void)st;
    testmodel_opts o = {.type = GGML_TYPE_Q8_0, .arch = "llama"};
    expect_load_error("arch.gguf", o, "unknown architecture 'llama'", NULL);
}

static void test_missing_tensor(void **st)
{
    (void)st;
    testmodel_opts o = {.type = GGML_TYPE_Q8_0, .omit = "blk.1.ffn_down_exps.weight"};
    expect_load_error("missing.gguf", o, "'blk.1.ffn_down_exps.weight' missing", "{32, 64, 4}");
}

static void test_wrong_shape(void **st)
{
    (void)st;
    testmodel_opts o = {.type = GGML_TYPE_Q8_0, .misshape = "blk.2.attn_q.weight"};
    expect_load_error("shape.gguf", o, "'blk.2.attn_q.weight': expected shape {64, 256}",
                      "got {96, 256}");
}

static void test_not_a_gguf(void **st)
{
    (void)st;
    const char *p = tmp_path("junk.gguf");
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    fputs("this is not a model", f);
    fclose(f);
    engine_options eo = {p, ENGINE_BACKEND_CPU, 1};
    engine *e = NULL;
    char err[256];
    assert_int_equal(engine_open(&eo, &e, err, sizeof err), ENGINE_EMODEL);
    eo.model_path = tmp_path("does-not-exist.gguf");
    assert_int_equal(engine_open(&eo, &e, err, sizeof err), ENGINE_EMODEL);
    assert_non_null(strstr(err, "does-not-exist"));
}

static int cancel_at_2(void *user, const engine_step *s)
{
    int *calls = user;
    (*calls)++;
    return s->step == 2;
}

static void test_engine_errors(void **st)
{
    (void)st;
    testmodel_opts o = {.type = GGML_TYPE_Q8_0, .seed = 3, .context_length = 64};
    const char *p = write_model("engine.gguf", o);
    char err[256];
    engine *e;
    engine_options eo = {p, ENGINE_BACKEND_CUDA, 1};
#if !defined(SIBYL_HAVE_CUDA_BACKEND)
    assert_int_equal(engine_open(&eo, &e, err, sizeof err), ENGINE_EBACKEND);
    assert_non_null(strstr(err, "without CUDA"));
#endif
    eo.backend = ENGINE_BACKEND_CPU;
    assert_int_equal(engine_open(&eo, &e, err, sizeof err), 0);
    const engine_info *info = engine_get_info(e);
    assert_string_equal(info->arch, "diffusion-gemma");
    assert_int_equal(info->vocab_size, TM_VOCAB);
    gen_params p0, q;
    gen_params_default(e, &p0);
    assert_int_equal(gen_params_check(e, &p0, err, sizeof err), 0);
    q = p0, q.max_steps = 0;
    assert_int_equal(gen_params_check(e, &q, err, sizeof err), ENGINE_EINVAL);
    assert_non_null(strstr(err, "steps"));
    q = p0, q.max_steps = 1025;
    assert_int_equal(gen_params_check(e, &q, err, sizeof err), ENGINE_EINVAL);
    q = p0, q.t_min = 0.9f;
    assert_int_equal(gen_params_check(e, &q, err, sizeof err), ENGINE_EINVAL);
    assert_non_null(strstr(err, "t_min"));
    q = p0, q.t_max = 1.0f / 0.0f;
    assert_int_equal(gen_params_check(e, &q, err, sizeof err), ENGINE_EINVAL);
    q = p0, q.t_min = 0.0f;
    assert_int_equal(gen_params_check(e, &q, err, sizeof err), ENGINE_EINVAL);
    q = p0, q.entropy_bound = 0.0f / 0.0f;
    assert_int_equal(gen_params_check(e, &q, err, sizeof err), ENGINE_EINVAL);
    uint8_t none[TM_VOCAB] = {0};
    q = p0, q.allowed = none;
    assert_int_equal(gen_params_check(e, &q, err, sizeof err), ENGINE_EINVAL);
    assert_non_null(strstr(err, "mask"));
    gen_result r;
    int32_t prompt[60];
    for (int i = 0; i < 60; i++)
        prompt[i] = 200 + i;
    /* 60 prompt tokens + one canvas of 16 > context 64. */
    assert_int_equal(engine_generate(e, prompt, 60, &p0, NULL, NULL, &r, err, sizeof err),
                     ENGINE_ETOOLONG);
    assert_non_null(strstr(err, "context"));
    assert_int_equal(engine_generate(e, prompt, 0, &p0, NULL, NULL, &r, err, sizeof err),
                     ENGINE_EINVAL);
    prompt[3] = TM_VOCAB;
    assert_int_equal(engine_generate(e, prompt, 10, &p0, NULL, NULL, &r, err, sizeof err),
                     ENGINE_EINVAL);
    prompt[3] = 5;
    int calls = 0;
    assert_int_equal(engine_generate(e, prompt, 10, &p0, cancel_at_2, &calls, &r, err, sizeof err),
                     ENGINE_ECANCELLED);
    assert_int_equal(calls, 3);
    assert_null(r.tokens);
    /* After all those errors the engine still works. */
    q = p0, q.max_new_tokens = 5;
    assert_int_equal(engine_generate(e, prompt, 10, &q, NULL, NULL, &r, err, sizeof err), 0);
    assert_true(r.n_tokens >= 1 && r.n_tokens <= 5);
    assert_int_equal(r.n_canvases, 1);
    gen_result_free(&r);
    engine_close(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loads_q8_zero_copy), cmocka_unit_test(test_loads_f32_split),
        cmocka_unit_test(test_unknown_arch),       cmocka_unit_test(test_missing_tensor),
        cmocka_unit_test(test_wrong_shape),        cmocka_unit_test(test_not_a_gguf),
        cmocka_unit_test(test_engine_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
