/*
 * Whole generations on the CUDA backend against the CPU backend and the golden fixtures.
 *
 * 1. The golden cases (tests/inference/golden_cases.h, the table test_golden.c uses): the GPU's
 * per-step logits hashes, tokens and trace hash must equal tests/inference/golden/<case>.txt byte
 * for byte.
 * 2. A sweep of further configurations (models tiny/small, Q8_0/F32/BF16, fused and split
 *    experts, prompts shorter and longer than the sliding window and the canvas, several
 *    canvases, masks, seeds): the GPU run must equal the CPU run on the same machine.
 *
 * The GPU runs use the backend's device step (sampler on the GPU, CUDA graphs); the golden
 * cases also run without graphs and with the host sampler (SIBYL_CUDA_GRAPH=0,
 * SIBYL_CUDA_SAMPLER=host), which must give the same text.
 *
 * Without a GPU: checks that --backend cuda fails with a clear "no GPU" error while the CPU
 * backend still opens the same model, then exits 77 (ctest SKIP_RETURN_CODE).
 * Plain C (no cmocka) so that it builds on a bare GPU machine.
 * Usage: test_cuda_golden [--quick]   (--quick: the golden cases and 6 sweep configurations)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "inference/backend.h"
#include "inference/cuda_backend.h"
#include "inference/engine.h"
#include "inference/mkmodel.h"
#include "inference/model.h"
#include "inference/sampler.h"
#include "tests/inference/golden_cases.h"
#include "tests/inference/testmodel.h"

#define MAX_STEPS 2048

typedef golden_case gcase;

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

/* 1, 2: run_case adds a per-position restriction (A9c: forced, masked positions; 2 with
 * free_noise), so that the device step's rules are compared with the host's. */
static int g_restrict;

/* The fixture text of one run (test_golden.c's format), or NULL with the error printed. */
static char *run_case(const gcase *gc, const char *model_path, engine_backend be)
{
    char err[512];
    engine_options eo = {model_path, be, 2};
    engine *e;
    if (engine_open(&eo, &e, err, sizeof err)) {
        fprintf(stderr, "%s: engine_open(%s): %s\n", gc->name, be ? "cuda" : "cpu", err);
        return NULL;
    }
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
    uint32_t V = engine_get_info(e)->vocab_size;
    uint8_t *allowed = gc->mask ? malloc(V) : NULL;
    if (allowed && golden_case_mask(gc, V, allowed))
        p.allowed = allowed;
    if (gc->confidence > 0)
        p.confidence_threshold = gc->confidence;
    uint32_t C = engine_get_info(e)->canvas_length;
    uint8_t *mk0 = malloc(V), *mk1 = malloc(V);
    int32_t *forced = malloc(2 * C * sizeof(int32_t));
    uint16_t *mkix = malloc(2 * C * sizeof(uint16_t));
    for (uint32_t v = 0; v < V; v++)
        mk0[v] = v >= 40 && v < 50, mk1[v] = v % 7 == 0;
    for (uint32_t j = 0; j < 2 * C; j++) {
        forced[j] = j % 5 == 0 ? (int32_t)((100 + j) % V) : -1;
        mkix[j] = j % 5 == 1 ? 0 : j % 5 == 2 ? 1 : GEN_MASK_NONE;
    }
    const uint8_t *masks[2] = {mk0, mk1};
    gen_restriction rs = {2 * C, forced, mkix, 2, masks, g_restrict == 2};
    if (g_restrict)
        p.restriction = &rs;
    step_log *log = calloc(1, sizeof *log);
    gen_result r;
    if (engine_generate(e, gc->prompt, gc->n_prompt, &p, log_step, log, &r, err, sizeof err)) {
        fprintf(stderr, "%s: engine_generate(%s): %s\n", gc->name, be ? "cuda" : "cpu", err);
        free(log), free(allowed), free(mk0), free(mk1), free(forced), free(mkix);
        engine_close(e);
        return NULL;
    }
    size_t cap = 256 + (size_t)log->n * 96 + (size_t)r.n_tokens * 12;
    char *txt = malloc(cap), h[65];
    size_t o = 0;
    o += (size_t)snprintf(txt + o, cap - o, "steps %u canvases %u\n", r.n_steps, r.n_canvases);
    for (uint32_t i = 0; i < log->n && i < MAX_STEPS; i++) {
        hex(log->hash[i], 32, h);
        o += (size_t)snprintf(txt + o, cap - o, "step %d %d %s\n", log->canvas[i], log->step[i], h);
    }
    o += (size_t)snprintf(txt + o, cap - o, "tokens");
    for (uint32_t i = 0; i < r.n_tokens; i++)
        o += (size_t)snprintf(txt + o, cap - o, " %d", r.tokens[i]);
    hex(r.trace_hash, 32, h);
    snprintf(txt + o, cap - o, "\ntrace %s\n", h);
    gen_result_free(&r);
    free(log), free(allowed), free(mk0), free(mk1), free(forced), free(mkix);
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

static char g_dir[64];

static int write_case_model(const gcase *gc, char *path, size_t pathlen)
{
    char err[256];
    snprintf(path, pathlen, "%s/%s.gguf", g_dir, gc->name);
    if (access(path, R_OK) == 0)
        return 0;
    if (gc->mk_preset) {
        mk_options mo;
        memset(&mo, 0, sizeof mo);
        mo.path = path;
        if (mk_preset_find(gc->mk_preset, &mo.preset))
            return fprintf(stderr, "no preset %s\n", gc->mk_preset), -1;
        mo.type = gc->mk_type;
        mo.seed = gc->mk_seed;
        mo.n_threads = 2;
        mk_result res;
        if (mk_write_model(&mo, &res, err, sizeof err))
            return fprintf(stderr, "%s: mkmodel: %s\n", gc->name, err), -1;
    } else if (testmodel_write(path, &gc->model, err, sizeof err)) {
        return fprintf(stderr, "%s: writing the model: %s\n", gc->name, err), -1;
    }
    return 0;
}

static int g_fail, g_runs;
/* SIBYL_CUDA_GOLDEN_HARNESS_CHECK=1: run the "GPU" side on the CPU backend, to check this
 * harness (table, fixture comparison) on a machine without a GPU. Not a GPU result. */
static engine_backend g_gpu = ENGINE_BACKEND_CUDA;

static void first_difference(const char *a, const char *b)
{
    size_t line = 1;
    while (*a && *a == *b) {
        if (*a == '\n')
            line++;
        a++, b++;
    }
    fprintf(stderr, "  first difference in line %zu:\n  gpu: %.90s\n  cpu/fixture: %.90s\n", line,
            a, b);
}

/* One encoder pass over the prompt and two decoder passes (without, then with the
 * self-conditioning input made from the first pass's logits) through the backends directly:
 * the logits must be identical. On a difference it says how many and how far apart, which
 * tells a reduction-order slip (a few ulps) from a wrong operation. Returns 0 if identical. */
static int pass_check(const gcase *gc, const char *path)
{
    char err[512];
    threadpool *tp = tp_create(2, err, sizeof err);
    model *m = NULL;
    if (!tp || model_load(path, tp, &m, err, sizeof err)) {
        fprintf(stderr, "%s: pass check: %s\n", gc->name, err);
        tp_destroy(tp);
        return 1;
    }
    const model_hparams *hp = &m->hp;
    uint32_t C = hp->canvas_length, V = hp->vocab, Vp = hp->vocab_pad, P = gc->n_prompt;
    const backend_ops *ops[2] = {cpu_backend(),
                                 g_gpu == ENGINE_BACKEND_CUDA ? cuda_backend() : cpu_backend()};
    void *st[2] = {NULL, NULL};
    float *lg[2][2] = {{NULL, NULL}, {NULL, NULL}};
    int32_t *canvas = malloc(C * sizeof *canvas);
    float *probs = calloc((size_t)C * Vp, sizeof *probs);
    float *z = malloc((size_t)V * sizeof *z), *e = malloc((size_t)Vp * sizeof *e);
    float *chunks = malloc(((V + 1023) / 1024) * sizeof *chunks);
    for (uint32_t i = 0; i < C; i++)
        canvas[i] = (int32_t)((i * 7919u + 13u) % V);
    int rc = 0;
    for (int b = 0; b < 2 && !rc; b++) {
        lg[b][0] = malloc((size_t)C * V * sizeof(float));
        lg[b][1] = malloc((size_t)C * V * sizeof(float));
        if (ops[b]->create(m, tp, &st[b], err, sizeof err) ||
            ops[b]->reset(st[b], P + C, err, sizeof err) ||
            ops[b]->encode(st[b], gc->prompt, P, 0, err, sizeof err) ||
            ops[b]->decode(st[b], canvas, C, P, NULL, lg[b][0], err, sizeof err)) {
            fprintf(stderr, "%s: pass check on %s: %s\n", gc->name, ops[b]->name, err);
            rc = 1;
            break;
        }
        if (b == 0) /* SC input from the CPU's first logits at tau 0.6 (sampler.c's recipe) */
            for (uint32_t i = 0; i < C; i++) {
                for (uint32_t v = 0; v < V; v++)
                    z[v] = lg[0][0][(size_t)i * V + v] / 0.6f;
                float H;
                int32_t a, y;
                float S = sampler_position(z, V, NULL, 0.5f, e, chunks, &H, &a, &y);
                for (uint32_t v = 0; v < V; v++)
                    probs[(size_t)i * Vp + v] = e[v] / S;
            }
        if (ops[b]->decode(st[b], canvas, C, P, probs, lg[b][1], err, sizeof err)) {
            fprintf(stderr, "%s: pass check on %s: %s\n", gc->name, ops[b]->name, err);
            rc = 1;
        }
    }
    for (int k = 0; k < 2 && !rc; k++) {
        size_t n = (size_t)C * V, ndiff = 0, first = 0;
        double maxd = 0;
        for (size_t i = 0; i < n; i++)
            if (memcmp(&lg[0][k][i], &lg[1][k][i], 4)) {
                double d = (double)lg[0][k][i] - (double)lg[1][k][i];
                d = d < 0 ? -d : d;
                if (!ndiff++)
                    first = i;
                if (d > maxd)
                    maxd = d;
            }
        if (ndiff) {
            fprintf(stderr,
                    "  %s: decoder pass %s self-conditioning: %zu of %zu logits differ, max |diff| "
                    "%.3g, first at canvas row %zu id %zu (cpu %.9g gpu %.9g)\n",
                    gc->name, k ? "with" : "without", ndiff, n, maxd, first / V, first % V,
                    (double)lg[0][k][first], (double)lg[1][k][first]);
            rc = 1;
        }
    }
    for (int b = 0; b < 2; b++) {
        if (st[b])
            ops[b]->destroy(st[b]);
        free(lg[b][0]), free(lg[b][1]);
    }
    free(canvas), free(probs), free(z), free(e), free(chunks);
    model_free(m);
    tp_destroy(tp);
    return rc;
}

static void check(const gcase *gc)
{
    char path[160];
    g_runs++;
    if (write_case_model(gc, path, sizeof path)) {
        g_fail++;
        return;
    }
    char *gpu = run_case(gc, path, g_gpu);
    char *cpu = run_case(gc, path, ENGINE_BACKEND_CPU);
    int ok = gpu && cpu && strcmp(gpu, cpu) == 0;
    const char *fx = "";
    if (gc->golden && cpu) {
        char fixture[256];
        snprintf(fixture, sizeof fixture, GOLDEN_DIR "/%s.txt", gc->name);
        char *file = read_file(fixture);
        char *body = file ? strstr(file, "model_sha256 ") : NULL;
        const char *want = body && strchr(body, '\n') ? strchr(body, '\n') + 1 : NULL;
        fx = !want                    ? ", fixture: missing"
             : strcmp(cpu, want) == 0 ? ", fixture: gpu == cpu == fixture"
                                      : ", fixture: cpu differs (this copy of the table is stale?)";
        free(file);
    }
    /* The golden cases once more with the step loop's other ways on the GPU: the device step
     * without CUDA graphs, and the host sampler over downloaded logits (SIBYL_CUDA_SAMPLER=host,
     * the path before the device step). Each must give the same text. */
    static const char *const ways[][2] = {{"SIBYL_CUDA_GRAPH", "0"},
                                          {"SIBYL_CUDA_SAMPLER", "host"}};
    for (int w = 0; gc->golden && cpu && w < 2; w++) {
        const char *was = getenv(ways[w][0]);
        char *saved = was ? strdup(was) : NULL;
        setenv(ways[w][0], ways[w][1], 1);
        char *other = run_case(gc, path, g_gpu);
        if (saved)
            setenv(ways[w][0], saved, 1);
        else
            unsetenv(ways[w][0]);
        free(saved);
        if (!other || strcmp(other, cpu)) {
            printf("%-40s gpu with %s=%s == cpu FAILED\n", gc->name, ways[w][0], ways[w][1]);
            if (other)
                first_difference(other, cpu);
            ok = 0;
        }
        free(other);
    }
    /* the passes themselves, logits compared value by value (golden cases and on failure) */
    int pass_ok = (gc->golden || !ok) ? pass_check(gc, path) == 0 : 1;
    printf("%-40s gpu == cpu %s%s%s\n", gc->name, ok ? "ok" : "FAILED",
           pass_ok ? "" : ", single passes differ", fx);
    if (!ok || !pass_ok) {
        g_fail++;
        if (gpu && cpu && !ok)
            first_difference(gpu, cpu);
    }
    free(gpu);
    free(cpu);
}

/* Without a GPU: the CUDA backend must refuse clearly and leave the CPU usable. */
static int no_gpu_checks(void)
{
    char path[160], err[512];
    if (write_case_model(&golden_cases[0], path, sizeof path))
        return 1;
    engine_options eo = {path, ENGINE_BACKEND_CUDA, 1};
    engine *e = NULL;
    int rc = engine_open(&eo, &e, err, sizeof err);
    if (rc != ENGINE_EBACKEND || !strstr(err, "no GPU")) {
        fprintf(stderr, "FAIL: engine_open(cuda) without a GPU gave %d '%s'\n", rc, err);
        return 1;
    }
    printf("without a GPU: engine_open(cuda) -> %d: %s\n", rc, err);
    eo.backend = ENGINE_BACKEND_CPU;
    if (engine_open(&eo, &e, err, sizeof err)) {
        fprintf(stderr, "FAIL: the CPU backend no longer opens after the CUDA refusal: %s\n", err);
        return 1;
    }
    engine_close(e);
    return 0;
}

int main(int argc, char **argv)
{
    int quick = argc > 1 && !strcmp(argv[1], "--quick");
    snprintf(g_dir, sizeof g_dir, "/tmp/sibyl-cuda-golden-XXXXXX");
    if (!mkdtemp(g_dir)) {
        perror("mkdtemp");
        return 1;
    }
    int rc;
    char why[256];
    cuda_device_info info;
    if (getenv("SIBYL_CUDA_GOLDEN_HARNESS_CHECK")) {
        g_gpu = ENGINE_BACKEND_CPU;
        snprintf(info.name, sizeof info.name, "none: harness check, CPU on both sides");
    } else if (cuda_probe(&info, why, sizeof why)) {
        rc = no_gpu_checks() ? 1 : 77;
        if (rc == 77)
            printf("SKIP: %s\n", why);
        goto out;
    }
    printf("GPU: %s\n", info.name);
    /* the device step's graph must work here, not fall back to eager steps with a warning */
    setenv("SIBYL_CUDA_GRAPH", "require", 0);
    for (size_t i = 0; i < N_GOLDEN_CASES; i++)
        check(&golden_cases[i]);

    /* sweep: CPU vs GPU on the same machine */
    static const struct {
        const char *preset; /* NULL: testmodel */
        ggml_type type;
        int split;
    } models[] = {{NULL, GGML_TYPE_Q8_0, 0},    {NULL, GGML_TYPE_F32, 1},
                  {"tiny", GGML_TYPE_Q8_0, 0},  {"tiny", GGML_TYPE_BF16, 0},
                  {"small", GGML_TYPE_Q8_0, 0}, {"small", GGML_TYPE_F16, 0}};
    int nm = (int)(sizeof models / sizeof *models);
    int per_model = quick ? 1 : 4;
    for (int mi = 0; mi < nm; mi++)
        for (int k = 0; k < per_model; k++) {
            gcase gc;
            memset(&gc, 0, sizeof gc);
            char *name = malloc(64);
            snprintf(name, 64, "sweep_m%d_%s_%d", mi, models[mi].preset ? models[mi].preset : "tm",
                     k);
            gc.name = name;
            if (models[mi].preset) {
                gc.mk_preset = models[mi].preset;
                gc.mk_type = models[mi].type;
                gc.mk_seed = 10 + (uint64_t)mi;
            } else {
                gc.model.type = models[mi].type;
                gc.model.split_experts = models[mi].split;
                gc.model.seed = 20 + (uint64_t)mi;
                gc.model.context_length = 512;
            }
            /* prompt lengths 1, 7, 23, 37: below/above the sliding window and the canvas */
            static const uint32_t lens[] = {1, 7, 23, 37};
            gc.n_prompt = lens[k % 4];
            for (uint32_t i = 0; i < gc.n_prompt; i++)
                gc.prompt[i] = (int32_t)(4 + (i * 37 + (uint32_t)k * 11 + (uint32_t)mi) % 390);
            gc.prompt[0] = 2;
            gc.seed = 0x5eed0000ULL + (uint64_t)(mi * 16 + k);
            gc.steps = (uint32_t)(3 + k * 2);
            gc.max_new = (uint32_t)(k % 2 ? 40 : 16);
            gc.mask = k == 3;
            gc.bound = k == 2 ? 0.7f : 0.0f;
            check(&gc);
            if (k == 0 && mi < 2) { /* the same with a restriction (A9c) */
                g_restrict = 1 + mi;
                snprintf(name, 64, "sweep_m%d_restricted%s", mi, mi ? "_free_noise" : "");
                check(&gc);
                g_restrict = 0;
            }
            free(name);
        }
    printf("%d runs, %d failed\n", g_runs, g_fail);
    rc = g_fail ? 1 : 0;
out : {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", g_dir);
}
    return rc;
}
