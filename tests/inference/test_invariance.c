/*
 * Batch, thread-count and SIMD-path invariance of the CPU forward pass (arithmetic.md A5, rule
 * 5): a prompt's encoder K/V cache and the decoder logits after it are bit-identical whether
 * the prompt is prefilled in one call or in pieces of any size, with 1 or 2 threads, and on
 * every kernel path this CPU offers; and a self-conditioning input handed over as its A3 rows
 * (decode_q8) gives the logits of the same input as floats (decode).
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

#include "inference/backend.h"
#include "inference/matmul.h"
#include "inference/model.h"
#include "tests/inference/testmodel.h"

#define P 40

typedef struct {
    float *kv[TM_LAYERS][2];
    uint32_t rows[TM_LAYERS];
    float *logits, *logits_sc;
} snapshot;

static model *g_model;
static char g_dir[64];

static int setup(void **st)
{
    (void)st;
    snprintf(g_dir, sizeof g_dir, "/tmp/sibyl-inv-XXXXXX");
    if (!mkdtemp(g_dir))
        return -1;
    char path[128], err[256];
    snprintf(path, sizeof path, "%s/m.gguf", g_dir);
    testmodel_opts o = {.type = GGML_TYPE_Q8_0, .seed = 11};
    if (testmodel_write(path, &o, err, sizeof err) ||
        model_load(path, NULL, &g_model, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    return 0;
}

static int teardown(void **st)
{
    (void)st;
    model_free(g_model);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Prefill the prompt in the given pieces, snapshot the cache, then decode one canvas without
 * and with a self-conditioning input. */
static void run(int threads, const uint32_t *pieces, int n_pieces, snapshot *out)
{
    char err[256];
    threadpool *tp = tp_create(threads, err, sizeof err);
    assert_non_null(tp);
    const backend_ops *ops = cpu_backend();
    void *st;
    assert_int_equal(ops->create(g_model, tp, &st, err, sizeof err), 0);
    assert_int_equal(ops->reset(st, P + TM_CANVAS, err, sizeof err), 0);
    int32_t ids[P], canvas[TM_CANVAS];
    for (int i = 0; i < P; i++)
        ids[i] = (int32_t)((i * 37 + 5) % TM_VOCAB);
    for (int i = 0; i < TM_CANVAS; i++)
        canvas[i] = (int32_t)((i * 101 + 7) % TM_VOCAB);
    uint32_t pos = 0;
    for (int k = 0; k < n_pieces; k++) {
        assert_int_equal(ops->encode(st, ids + pos, pieces[k], pos, err, sizeof err), 0);
        pos += pieces[k];
    }
    assert_int_equal(pos, P);
    for (uint32_t l = 0; l < TM_LAYERS; l++)
        for (int w = 0; w < 2; w++) {
            uint32_t n, slots;
            const float *kv = cpu_backend_kv(st, l, w, &n, &slots);
            assert_int_equal(n, P);
            /* Sliding layers keep a ring of window + canvas rows, which the 40-token prompt
             * wraps around; global layers keep every position. */
            assert_int_equal(slots,
                             g_model->layers[l].sliding ? TM_WINDOW + TM_CANVAS : P + TM_CANVAS);
            out->rows[l] = slots < P ? slots : P;
            size_t sz =
                (size_t)out->rows[l] * g_model->layers[l].n_kv * g_model->layers[l].head_dim;
            out->kv[l][w] = malloc(sz * sizeof(float));
            memcpy(out->kv[l][w], kv, sz * sizeof(float));
        }
    size_t nl = (size_t)TM_CANVAS * TM_VOCAB;
    out->logits = malloc(nl * sizeof(float));
    out->logits_sc = malloc(nl * sizeof(float));
    assert_int_equal(ops->decode(st, canvas, TM_CANVAS, P, NULL, out->logits, err, sizeof err), 0);
    /* A self-conditioning input: a normalised positive pattern per row. */
    float *probs = calloc((size_t)TM_CANVAS * g_model->hp.vocab_pad, sizeof(float));
    for (int t = 0; t < TM_CANVAS; t++)
        for (int v = 0; v < TM_VOCAB; v++)
            probs[(size_t)t * g_model->hp.vocab_pad + v] = (float)((v * 7 + t) % 13) / 3000.0f;
    assert_int_equal(ops->decode(st, canvas, TM_CANVAS, P, probs, out->logits_sc, err, sizeof err),
                     0);
    /* The same input as its A3 rows (decode_q8, as the sampler hands it over): the same logits;
     * rows of the wrong width are refused. */
    q8_act pq;
    int Vp = (int)g_model->hp.vocab_pad;
    assert_int_equal(q8_act_alloc(&pq, TM_CANVAS, Vp), 0);
    q8_quantize_rows(probs, TM_CANVAS, Vp, &pq);
    float *lq = malloc(nl * sizeof(float));
    assert_non_null(lq);
    assert_int_equal(ops->decode_q8(st, canvas, TM_CANVAS, P, &pq, lq, err, sizeof err), 0);
    assert_memory_equal(lq, out->logits_sc, nl * sizeof(float));
    q8_act narrow = {pq.q, pq.d, TM_CANVAS, Vp - QK};
    assert_true(ops->decode_q8(st, canvas, TM_CANVAS, P, &narrow, lq, err, sizeof err) < 0);
    assert_non_null(strstr(err, "self-conditioning input"));
    free(lq);
    q8_act_free(&pq);
    free(probs);
    ops->destroy(st);
    tp_destroy(tp);
}

static void free_snap(snapshot *s)
{
    for (int l = 0; l < TM_LAYERS; l++)
        for (int w = 0; w < 2; w++)
            free(s->kv[l][w]);
    free(s->logits);
    free(s->logits_sc);
}

static void assert_same(const snapshot *a, const snapshot *b, const char *what)
{
    for (uint32_t l = 0; l < TM_LAYERS; l++)
        for (int w = 0; w < 2; w++) {
            size_t sz = (size_t)a->rows[l] * g_model->layers[l].n_kv * g_model->layers[l].head_dim;
            if (memcmp(a->kv[l][w], b->kv[l][w], sz * sizeof(float)))
                fail_msg("%s: layer %u %s cache differs", what, l, w ? "V" : "K");
        }
    size_t nl = (size_t)TM_CANVAS * TM_VOCAB * sizeof(float);
    if (memcmp(a->logits, b->logits, nl))
        fail_msg("%s: decoder logits differ", what);
    if (memcmp(a->logits_sc, b->logits_sc, nl))
        fail_msg("%s: decoder logits with self-conditioning differ", what);
}

static void test_batch_invariance(void **st)
{
    (void)st;
    const uint32_t whole[] = {P}, pieces[] = {1, 12, 3, 16, 8},
                   ones[] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
                             1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    snapshot a, b, c;
    run(1, whole, 1, &a);
    run(1, pieces, 5, &b);
    run(1, ones, 40, &c);
    assert_same(&a, &b, "pieces 1,12,3,16,8");
    assert_same(&a, &c, "one token at a time");
    /* Sanity: the outputs are real numbers, not all zero. */
    int nonzero = 0;
    for (size_t i = 0; i < (size_t)TM_CANVAS * TM_VOCAB; i++) {
        assert_false(a.logits[i] != a.logits[i]);
        nonzero |= a.logits[i] != 0.0f;
    }
    assert_true(nonzero);
    assert_true(memcmp(a.logits, a.logits_sc, (size_t)TM_CANVAS * TM_VOCAB * sizeof(float)) != 0);
    free_snap(&a);
    free_snap(&b);
    free_snap(&c);
}

static void test_threads_and_paths(void **st)
{
    (void)st;
    const uint32_t whole[] = {P}, pieces[] = {7, 33};
    kernel_path before = kernels_selected();
    assert_int_equal(kernels_select(KERNEL_PORTABLE), 0);
    snapshot ref;
    run(1, whole, 1, &ref);
    kernel_path paths[] = {KERNEL_PORTABLE, KERNEL_AVX2, KERNEL_AVX512VNNI};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        if (kernels_select(paths[i]) != 0) {
            printf("kernel path %s: not available on this CPU, skipped\n",
                   kernel_path_name(paths[i]));
            continue;
        }
        for (int threads = 1; threads <= 3; threads++) {
            snapshot s;
            run(threads, threads == 2 ? pieces : whole, threads == 2 ? 2 : 1, &s);
            char what[96];
            snprintf(what, sizeof what, "path %s, %d threads", kernel_path_name(paths[i]), threads);
            assert_same(&ref, &s, what);
            free_snap(&s);
        }
        printf("kernel path %s: identical with 1, 2, 3 threads\n", kernel_path_name(paths[i]));
    }
    kernels_select(before);
    free_snap(&ref);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batch_invariance),
        cmocka_unit_test(test_threads_and_paths),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
