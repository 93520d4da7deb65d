/*
 * The per-position restriction of the sampler (gen_restriction, docs/arithmetic.md A9c) on
 * the real engine with the tiny test model:
 *   - a forced position gives exactly what a mask allowing only that id gives;
 *   - at every step of every canvas, a restricted position's argmax is allowed (and a forced
 *     one is its id), for many seeds, across several canvases, with the noise drawn from the
 *     masks or (free_noise) from the whole vocabulary;
 *   - a restriction that restricts nothing leaves the generation bit-identical (trace hash);
 *   - bad restrictions are refused by gen_params_check.
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
#include "inference/philox.h"
#include "inference/sampler.h"
#include "tests/inference/testmodel.h"

static engine *eng;
static char path[128];

static int setup(void **state)
{
    (void)state;
    snprintf(path, sizeof path, "/tmp/sibyl-test-restrict.%d.gguf", (int)getpid());
    testmodel_opts o;
    memset(&o, 0, sizeof o);
    o.type = GGML_TYPE_Q8_0;
    o.seed = 3;
    char err[512];
    if (testmodel_write(path, &o, err, sizeof err))
        return -1;
    engine_options eo = {path, ENGINE_BACKEND_CPU, 1};
    return engine_open(&eo, &eng, err, sizeof err) ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    engine_close(eng);
    unlink(path);
    return 0;
}

/* sampler_position_forced == sampler_position with a one-id mask, bit for bit. */
static void test_forced_equals_one_hot(void **state)
{
    (void)state;
    enum { NV = 2500 };
    static float zz[NV], e1[NV], e2[NV];
    static uint8_t mask[NV];
    float c1[3], c2[3];
    for (uint32_t trial = 0; trial < 50; trial++) {
        for (uint32_t v = 0; v < NV; v++)
            zz[v] = (philox_uniform(trial, 0, 0, v, 1) - 0.5f) * 40.0f;
        int32_t id = (int32_t)philox_id_from_word(philox_word(trial, 1, 0, 0, 2), NV);
        memset(mask, 0, sizeof mask);
        mask[id] = 1;
        float H1, H2;
        int32_t a1, a2, d1, d2;
        float u = philox_uniform(trial, 2, 0, 0, 1);
        float S1 = sampler_position(zz, NV, mask, u, e1, c1, &H1, &a1, &d1);
        float S2 = sampler_position_forced(NV, id, e2, c2, &H2, &a2, &d2);
        assert_memory_equal(&S1, &S2, sizeof S1);
        assert_memory_equal(&H1, &H2, sizeof H1);
        assert_memory_equal(e1, e2, sizeof e1);
        assert_memory_equal(c1, c2, sizeof c1);
        assert_int_equal(a1, id);
        assert_int_equal(a2, id);
        assert_int_equal(d1, id);
        assert_int_equal(d2, id);
    }
}

/* A restriction over 40 output positions (3 canvases of 16): forced ids, three masks, free
 * positions; the step callback checks every step's argmax. */
enum { NPOS = 40 };
static uint8_t m_small[TM_VOCAB], m_odd[TM_VOCAB], m_high[TM_VOCAB];
static int32_t forced[NPOS];
static uint16_t maskidx[NPOS];
static const uint8_t *masks[3] = {m_small, m_odd, m_high};

static void build_restriction(gen_restriction *r)
{
    for (uint32_t v = 0; v < TM_VOCAB; v++) {
        m_small[v] = v >= 200 && v < 203; /* three ids */
        m_odd[v] = v % 2 == 1 && v != 1;  /* half the vocabulary, not <eos> */
        m_high[v] = v == TM_VOCAB - 1;    /* one id, as a mask */
    }
    for (uint32_t j = 0; j < NPOS; j++) {
        forced[j] = -1;
        maskidx[j] = GEN_MASK_NONE;
        switch (j % 5) {
        case 0:
            forced[j] = (int32_t)(300 + j);
            break;
        case 1:
            maskidx[j] = 0;
            break;
        case 2:
            maskidx[j] = 1;
            break;
        case 3:
            maskidx[j] = 2;
            break;
        default:
            break; /* free */
        }
    }
    r->n_positions = NPOS;
    r->forced = forced;
    r->mask = maskidx;
    r->n_masks = 3;
    r->masks = masks;
    r->free_noise = 0;
}

static int allowed_at(uint32_t j, int32_t id)
{
    if (j >= NPOS || (forced[j] < 0 && maskidx[j] == GEN_MASK_NONE))
        return 1;
    if (forced[j] >= 0)
        return id == forced[j];
    return masks[maskidx[j]][id] != 0;
}

static int n_checked;
static int check_step(void *user, const engine_step *st)
{
    (void)user;
    for (uint32_t i = 0; i < st->canvas_length; i++) {
        uint32_t j = (uint32_t)st->canvas * st->canvas_length + i;
        if (!allowed_at(j, st->argmax[i]))
            fail_msg("canvas %d step %d position %u: id %d is not allowed", st->canvas, st->step, j,
                     st->argmax[i]);
        n_checked++;
    }
    return 0;
}

static void test_restriction_holds_every_step(void **state)
{
    (void)state;
    gen_restriction r;
    build_restriction(&r);
    int32_t prompt[] = {2, 105, 400, 401, 402, 106, 107};
    n_checked = 0;
    for (uint64_t seed = 0; seed < 40; seed++) {
        r.free_noise = seed % 2; /* noise from the masks, or from the whole vocabulary */
        gen_params gp;
        gen_params_default(eng, &gp);
        gp.seed = seed;
        gp.max_new_tokens = 48;
        gp.max_steps = 4;
        gp.restriction = &r;
        gen_result gr;
        char err[256];
        assert_int_equal(
            engine_generate(eng, prompt, 7, &gp, check_step, NULL, &gr, err, sizeof err), 0);
        for (uint32_t j = 0; j < gr.n_tokens; j++)
            assert_true(allowed_at(j, gr.tokens[j]));
        assert_true(gr.n_tokens >= 1);
        gen_result_free(&gr);
    }
    assert_true(n_checked > 40 * 16);
}

/* A restriction that restricts nothing (every position free) and the same generation without
 * one: the same tokens and the same trace hash. */
static void test_empty_restriction_identical(void **state)
{
    (void)state;
    int32_t none_forced[NPOS];
    uint16_t none_mask[NPOS];
    for (uint32_t j = 0; j < NPOS; j++) {
        none_forced[j] = -1;
        none_mask[j] = GEN_MASK_NONE;
    }
    gen_restriction r = {NPOS, none_forced, none_mask, 3, masks, 1};
    build_restriction(&(gen_restriction){0}); /* fills the masks */
    int32_t prompt[] = {2, 105, 410, 411, 106, 107};
    for (uint64_t seed = 0; seed < 4; seed++) {
        gen_params a, b;
        gen_params_default(eng, &a);
        a.seed = seed;
        a.max_new_tokens = 32;
        b = a;
        b.restriction = &r;
        gen_result ga, gb;
        char err[256];
        assert_int_equal(engine_generate(eng, prompt, 6, &a, NULL, NULL, &ga, err, sizeof err), 0);
        assert_int_equal(engine_generate(eng, prompt, 6, &b, NULL, NULL, &gb, err, sizeof err), 0);
        assert_int_equal(ga.n_tokens, gb.n_tokens);
        assert_memory_equal(ga.tokens, gb.tokens, ga.n_tokens * sizeof(int32_t));
        assert_memory_equal(ga.trace_hash, gb.trace_hash, 32);
        gen_result_free(&ga);
        gen_result_free(&gb);
    }
}

static void test_bad_restrictions_refused(void **state)
{
    (void)state;
    static uint8_t empty[TM_VOCAB];
    const uint8_t *m1[1] = {empty};
    int32_t f[2] = {-1, -1};
    uint16_t mk[2] = {0, GEN_MASK_NONE};
    gen_params gp;
    gen_params_default(eng, &gp);
    char err[256];
    gen_restriction r = {2, f, mk, 1, m1, 0}; /* a mask that allows nothing */
    gp.restriction = &r;
    assert_int_equal(gen_params_check(eng, &gp, err, sizeof err), ENGINE_EINVAL);
    empty[5] = 1;
    assert_int_equal(gen_params_check(eng, &gp, err, sizeof err), 0);
    mk[0] = 1; /* a mask index beyond n_masks */
    assert_int_equal(gen_params_check(eng, &gp, err, sizeof err), ENGINE_EINVAL);
    mk[0] = 0;
    f[1] = TM_VOCAB; /* a forced id outside the vocabulary */
    assert_int_equal(gen_params_check(eng, &gp, err, sizeof err), ENGINE_EINVAL);
    f[1] = -7; /* neither an id nor -1 */
    assert_int_equal(gen_params_check(eng, &gp, err, sizeof err), ENGINE_EINVAL);
    f[1] = 0;
    assert_int_equal(gen_params_check(eng, &gp, err, sizeof err), 0);
    r.masks = NULL; /* masks announced but absent */
    assert_int_equal(gen_params_check(eng, &gp, err, sizeof err), ENGINE_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forced_equals_one_hot),
        cmocka_unit_test(test_restriction_holds_every_step),
        cmocka_unit_test(test_empty_restriction_identical),
        cmocka_unit_test(test_bad_restrictions_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
