/*
 * Golden fixtures (arithmetic.md "How it is checked"): for fixed tiny models, prompts, params
 * and seeds, the sha256 of every denoising step's logits, the output tokens and the trace hash
 * are stored in tests/inference/golden/<case>.txt. This test regenerates each model, checks
 * its file sha256 first (so a change in the model writer is reported as such, not as an
 * arithmetic change), then reproduces the fixture bit-exactly on every kernel path this CPU
 * offers (1 thread) and on the fastest path with 2 threads. Run under -O3 (Release) and -O0 (ASan)
 * by scripts/test.
 *
 * `test_golden --update` rewrites the fixtures. Do that only on purpose, together with a bump
 * of ENGINE_ARITH_VERSION whenever a bit of the output changes (docs/arithmetic.md).
 */
#include <openssl/evp.h>
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
#include "inference/matmul.h"
#include "inference/mkmodel.h"
#include "tests/inference/golden_cases.h"
#include "tests/inference/testmodel.h"

#define MAX_STEPS 512

typedef struct {
    uint32_t n;
    int canvas[MAX_STEPS], step[MAX_STEPS];
    uint8_t hash[MAX_STEPS][32];
} step_log;

static int log_step(void *user, const engine_step *s)
{
    step_log *l = user;
    if (l->n < MAX_STEPS) {
        l->canvas[l->n] = s->canvas;
        l->step[l->n] = s->step;
        memcpy(l->hash[l->n], s->logits_hash, 32);
    }
    l->n++;
    return 0;
}

static void hex(const uint8_t *b, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", b[i]);
}

static void file_sha256(const char *path, char *out_hex)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    EVP_DigestInit_ex(c, EVP_sha256(), NULL);
    uint8_t buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        EVP_DigestUpdate(c, buf, n);
    fclose(f);
    uint8_t d[32];
    unsigned int dl = 32;
    EVP_DigestFinal_ex(c, d, &dl);
    EVP_MD_CTX_free(c);
    hex(d, 32, out_hex);
}

/* The fixture text of one run (everything that must be reproduced). */
static char *run_case(const golden_case *gc, const char *model_path, int threads)
{
    char err[256];
    engine_options eo = {model_path, ENGINE_BACKEND_CPU, threads};
    engine *e;
    if (engine_open(&eo, &e, err, sizeof err))
        fail_msg("%s: engine_open: %s", gc->name, err);
    gen_params p;
    gen_params_default(e, &p);
    p.seed = gc->seed;
    if (gc->steps)
        p.max_steps = gc->steps;
    if (gc->t_min > 0)
        p.t_min = gc->t_min;
    if (gc->t_max > 0)
        p.t_max = gc->t_max;
    if (gc->bound > 0)
        p.entropy_bound = gc->bound;
    p.max_new_tokens = gc->max_new;
    uint8_t allowed[TM_VOCAB];
    if (gc->mask)
        assert_int_equal(engine_get_info(e)->vocab_size, TM_VOCAB);
    if (golden_case_mask(gc, TM_VOCAB, allowed))
        p.allowed = allowed;
    if (gc->confidence > 0)
        p.confidence_threshold = gc->confidence;
    step_log *log = calloc(1, sizeof *log);
    gen_result r;
    if (engine_generate(e, gc->prompt, gc->n_prompt, &p, log_step, log, &r, err, sizeof err))
        fail_msg("%s: engine_generate: %s", gc->name, err);
    assert_int_equal(log->n, r.n_steps);
    assert_true(log->n <= MAX_STEPS);
    size_t cap = 256 + (size_t)log->n * 96 + (size_t)r.n_tokens * 12;
    char *txt = malloc(cap), h[65];
    size_t o = 0;
    o += (size_t)snprintf(txt + o, cap - o, "steps %u canvases %u\n", r.n_steps, r.n_canvases);
    for (uint32_t i = 0; i < log->n; i++) {
        hex(log->hash[i], 32, h);
        o += (size_t)snprintf(txt + o, cap - o, "step %d %d %s\n", log->canvas[i], log->step[i], h);
    }
    o += (size_t)snprintf(txt + o, cap - o, "tokens");
    for (uint32_t i = 0; i < r.n_tokens; i++)
        o += (size_t)snprintf(txt + o, cap - o, " %d", r.tokens[i]);
    hex(r.trace_hash, 32, h);
    snprintf(txt + o, cap - o, "\ntrace %s\n", h);
    gen_result_free(&r);
    free(log);
    engine_close(e);
    return txt;
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    size_t got = fread(b, 1, (size_t)n, f);
    b[got] = 0;
    fclose(f);
    return b;
}

static int g_update;
static char g_dir[64];

static void check_case(const golden_case *gc)
{
    char model_path[128], fixture[256], sha[65];
    snprintf(model_path, sizeof model_path, "%s/%s.gguf", g_dir, gc->name);
    char err[256];
    if (gc->mk_preset) {
        mk_options mo;
        memset(&mo, 0, sizeof mo);
        mo.path = model_path;
        assert_int_equal(mk_preset_find(gc->mk_preset, &mo.preset), 0);
        mo.type = gc->mk_type;
        mo.seed = gc->mk_seed;
        mo.n_threads = 1;
        mk_result res;
        if (mk_write_model(&mo, &res, err, sizeof err))
            fail_msg("%s: mkmodel: %s", gc->name, err);
    } else if (testmodel_write(model_path, &gc->model, err, sizeof err)) {
        fail_msg("%s: writing the model: %s", gc->name, err);
    }
    file_sha256(model_path, sha);
    snprintf(fixture, sizeof fixture, GOLDEN_DIR "/%s.txt", gc->name);
    if (g_update) {
        assert_int_equal(kernels_select(KERNEL_PORTABLE), 0);
        char *txt = run_case(gc, model_path, 1);
        FILE *f = fopen(fixture, "w");
        assert_non_null(f);
        fprintf(f,
                "# golden fixture, profile %s; regenerate with build/tests/inference/test_golden "
                "--update\n",
                ENGINE_ARITH_VERSION);
        fprintf(f, "model_sha256 %s\n%s", sha, txt);
        fclose(f);
        free(txt);
        printf("updated %s\n", fixture);
        return;
    }
    char *want = read_file(fixture);
    if (!want)
        fail_msg("%s: fixture %s missing (run test_golden --update)", gc->name, fixture);
    char *body = strstr(want, "model_sha256 ");
    assert_non_null(body);
    if (strncmp(body + 13, sha, 64))
        fail_msg("%s: the test model file changed (sha256 %s, fixture has %.64s): the model "
                 "writer changed, not necessarily the arithmetic",
                 gc->name, sha, body + 13);
    const char *expect = strchr(body, '\n') + 1;
    /* Every kernel path with 1 thread, then the fastest path with 2 threads (thread-count
     * invariance per path is covered by test_invariance on the raw forward pass). */
    kernel_path paths[] = {KERNEL_PORTABLE, KERNEL_AVX2, KERNEL_AVX512VNNI, KERNEL_AUTO};
    kernel_path before = kernels_selected();
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        if (kernels_select(paths[i]))
            continue;
        int threads = paths[i] == KERNEL_AUTO ? 2 : 1;
        char *got = run_case(gc, model_path, threads);
        if (strcmp(got, expect))
            fail_msg("%s: path %s, %d threads: output differs from %s\n--- got:\n%s--- want:\n%s",
                     gc->name, kernel_path_name(kernels_selected()), threads, fixture, got, expect);
        free(got);
        printf("%s: %s path, %d thread(s): matches\n", gc->name,
               kernel_path_name(kernels_selected()), threads);
    }
    kernels_select(before);
    free(want);
}

static void test_case0(void **st)
{
    (void)st;
    check_case(&golden_cases[0]);
}
static void test_case1(void **st)
{
    (void)st;
    check_case(&golden_cases[1]);
}
static void test_case2(void **st)
{
    (void)st;
    check_case(&golden_cases[2]);
}
static void test_case3(void **st)
{
    (void)st;
    check_case(&golden_cases[3]);
}
static void test_case4(void **st)
{
    (void)st;
    check_case(&golden_cases[4]);
}
static void test_case5(void **st)
{
    (void)st;
    check_case(&golden_cases[5]);
}
static void test_case6(void **st)
{
    (void)st;
    check_case(&golden_cases[6]);
}

static int setup(void **st)
{
    (void)st;
    snprintf(g_dir, sizeof g_dir, "/tmp/sibyl-golden-XXXXXX");
    return mkdtemp(g_dir) ? 0 : -1;
}

static int teardown(void **st)
{
    (void)st;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    g_update = argc > 1 && !strcmp(argv[1], "--update");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_case0), cmocka_unit_test(test_case1), cmocka_unit_test(test_case2),
        cmocka_unit_test(test_case3), cmocka_unit_test(test_case4), cmocka_unit_test(test_case5),
        cmocka_unit_test(test_case6),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
