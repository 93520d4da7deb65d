/*
 * The device-side sampler step without a GPU (inference/sampler_step.h, backend.h sample_step):
 *   - the CUDA kernels' decomposition run on the CPU (emu_step of sampler_step_ref.h) equals
 *     sampler.c's host path (ref_step) on random logits: S, H, argmax, draw, the SC input, the
 *     accepted count, the mean entropy and the next ids, bit for bit, for vocabularies that are
 *     and are not multiples of the chunk, masks, restriction masks, forced positions, planted
 *     ties of the maximum and of H, draws at u = 0 and u = 1 - 2^-24, on every CPU kernel path;
 *   - whole generations through sampler_generate with a test double backend whose
 *     sample_begin/sample_step run the CPU backend's decoder pass followed by emu_step (the
 *     step loop as the CUDA backend runs it: ids, SC input and rules kept on the backend's side)
 *     equal the host sampler over the CPU backend: every step's logits hash, argmax, accepted
 *     count and mean entropy, the tokens and the trace hash; with an allowed mask, restrictions
 *     (forced, masked, free_noise), several canvases, early stops.
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
#include "inference/mkmodel.h"
#include "inference/model.h"
#include "inference/sampler.h"
#include "tests/inference/sampler_step_ref.h"
#include "tests/inference/testmodel.h"

static uint64_t g_rng = 0x243F6A8885A308D3ull;
static uint32_t rnd(void)
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (uint32_t)(g_rng >> 16);
}
static float rndu(void) /* [0, 1) */
{
    return (float)(rnd() >> 8) * 0x1p-24f;
}

static int g_checks;

static void same(const void *a, const void *b, size_t bytes, const char *what, uint32_t V,
                 uint32_t C, int trial)
{
    g_checks++;
    if (memcmp(a, b, bytes)) {
        fprintf(stderr, "%s differs: V=%u C=%u trial %d\n", what, V, C, trial);
        fail();
    }
}

/* ------------------------------------------------------------- random logits */

typedef struct {
    uint32_t n_tab;
    uint8_t *masks;
    int32_t *lists, *off;
} tables;

/* n_tab random masks over V ids (every one allows at least one id; mask 0 sometimes a single
 * id, the last one sometimes dense), with their ascending id lists. */
static void make_tables(tables *t, uint32_t n_tab, uint32_t V)
{
    t->n_tab = n_tab;
    t->masks = malloc((size_t)n_tab * V + 1);
    t->lists = malloc(((size_t)n_tab * V + 1) * sizeof(int32_t));
    t->off = malloc((n_tab + 1) * sizeof(int32_t));
    t->off[0] = 0;
    for (uint32_t k = 0; k < n_tab; k++) {
        uint8_t *m = t->masks + (size_t)k * V;
        uint32_t density = 1 + rnd() % 6; /* allow 1 in density */
        for (uint32_t v = 0; v < V; v++)
            m[v] = rnd() % density == 0;
        if (k == 0 && rnd() % 2) { /* a one-id mask */
            memset(m, 0, V);
            m[rnd() % V] = 1;
        }
        m[rnd() % V] = 1;
        int32_t n = t->off[k];
        for (uint32_t v = 0; v < V; v++)
            if (m[v])
                t->lists[n++] = (int32_t)v;
        t->off[k + 1] = n;
    }
}

static void free_tables(tables *t)
{
    free(t->masks), free(t->lists), free(t->off);
}

static void one_config(uint32_t V, uint32_t C, int trial)
{
    uint32_t Vp = (V + 31) / 32 * 32;
    float *lg = malloc((size_t)C * V * sizeof(float));
    float scale = (float)(1 + rnd() % 40);
    for (size_t i = 0; i < (size_t)C * V; i++)
        lg[i] = (rndu() * 2.0f - 1.0f) * scale;
    for (uint32_t i = 0; i < C; i++) { /* ties of the maximum */
        float *row = lg + (size_t)i * V;
        if (rnd() % 2) {
            float top = scale + 1.0f;
            uint32_t n = 2 + rnd() % 3;
            for (uint32_t k = 0; k < n; k++)
                row[rnd() % V] = top;
        }
    }
    if (C > 3) { /* equal rows: equal entropies, so the acceptance order breaks ties */
        memcpy(lg + V, lg, V * sizeof(float));
        memcpy(lg + 3 * (size_t)V, lg, V * sizeof(float));
    }
    tables t;
    make_tables(&t, 3, V);
    int32_t *rix = malloc(3 * C * sizeof(int32_t));
    int rules = trial % 4; /* 0: none, 1: all masked by table 2 ("allowed"), 2, 3: mixed */
    for (uint32_t i = 0; i < C; i++) {
        int32_t f = -1, mk = -1, nz = -1;
        if (rules == 1)
            mk = nz = 2;
        else if (rules >= 2)
            switch (rnd() % 5) {
            case 0: /* forced */
                f = (int32_t)(rnd() % V);
                break;
            case 1: /* masked, noise from the mask */
                mk = nz = (int32_t)(rnd() % 2);
                break;
            case 2: /* masked, free noise */
                mk = (int32_t)(rnd() % 2);
                nz = rules == 3 ? 2 : -1;
                break;
            case 3: /* follows "allowed" */
                mk = nz = rules == 3 ? 2 : -1;
                break;
            default:
                break;
            }
        rix[i] = f, rix[C + i] = mk, rix[2 * C + i] = nz;
    }
    step_in in = {.logits = lg,
                  .C = C,
                  .V = V,
                  .Vp = Vp,
                  .tau = 0.25f + rndu(),
                  .bound = (rnd() % 4 == 0) ? 0.0f : rndu() * 3.0f,
                  .seed = ((uint64_t)rnd() << 32) | rnd(),
                  .canvas = rnd() % 4,
                  .step = rnd() % 48,
                  .make_sc = trial % 3 != 2,
                  .masks = t.masks,
                  .lists = t.lists,
                  .list_off = t.off,
                  .forced = rix,
                  .mask = rix + C,
                  .noise = rix + 2 * C};
    step_out r, e;
    assert_int_equal(step_out_alloc(&r, C, Vp), 0);
    assert_int_equal(step_out_alloc(&e, C, Vp), 0);
    ref_step(&in, &r);
    emu_step(&in, &e);
    same(e.S, r.S, C * sizeof(float), "S", V, C, trial);
    same(e.H, r.H, C * sizeof(float), "H", V, C, trial);
    same(e.argmax, r.argmax, C * sizeof(int32_t), "argmax", V, C, trial);
    same(e.draw, r.draw, C * sizeof(int32_t), "draw", V, C, trial);
    same(e.x, r.x, C * sizeof(int32_t), "next ids", V, C, trial);
    same(&e.n_acc, &r.n_acc, sizeof r.n_acc, "accepted", V, C, trial);
    same(&e.mean, &r.mean, sizeof r.mean, "mean entropy", V, C, trial);
    if (in.make_sc)
        same(e.P, r.P, (size_t)C * Vp * sizeof(float), "SC input", V, C, trial);
    for (uint32_t i = 0; i < C; i++) { /* the rules hold */
        const uint8_t *m = rix[C + i] >= 0 ? t.masks + (size_t)rix[C + i] * V : NULL;
        if (rix[i] >= 0)
            assert_int_equal(e.argmax[i], rix[i]);
        else if (m)
            assert_true(m[e.argmax[i]] && m[e.draw[i]]);
    }
    step_out_free(&r);
    step_out_free(&e);
    free_tables(&t);
    free(rix);
    free(lg);
}

static void test_step_random(void **state)
{
    (void)state;
    static const uint32_t Vs[] = {1, 7, 33, 512, 1000, 1024, 1025, 2048, 3001, 4113};
    static const uint32_t Cs[] = {1, 4, 16, 37};
    kernel_path paths[] = {KERNEL_PORTABLE, KERNEL_AUTO};
    for (int pi = 0; pi < 2; pi++) {
        kernels_select(paths[pi]);
        int trial = 0;
        for (size_t vi = 0; vi < sizeof Vs / sizeof *Vs; vi++)
            for (size_t ci = 0; ci < sizeof Cs / sizeof *Cs; ci++)
                for (int k = 0; k < 4; k++)
                    one_config(Vs[vi], Cs[ci], trial++);
    }
    kernels_select(KERNEL_AUTO);
    printf("random steps: %d checks\n", g_checks);
}

/* The draw walk alone at the ends of [0, 1) and at random u, against sampler_position. */
static void test_draw_edges(void **state)
{
    (void)state;
    enum { V = 3001 };
    static float row[V], z[V], e[V], cs[3];
    static uint8_t mask[V];
    int n = 0;
    for (int trial = 0; trial < 200; trial++) {
        float tau = 0.3f + rndu();
        for (uint32_t v = 0; v < V; v++) {
            row[v] = (rndu() * 2.0f - 1.0f) * (float)(1 + trial % 30);
            mask[v] = rnd() % 3 != 0;
        }
        if (trial % 5 == 0) /* one dominant id: e_v underflows elsewhere */
            row[rnd() % V] = 200.0f;
        const uint8_t *mk = trial % 2 ? mask : NULL;
        float us[3] = {0.0f, 0x1.fffffep-1f, rndu()};
        for (int k = 0; k < 3; k++) {
            for (uint32_t v = 0; v < V; v++)
                z[v] = row[v] / tau;
            float H, m = 0.0f;
            int32_t a, y;
            float S = sampler_position(z, V, mk, us[k], e, cs, &H, &a, &y);
            int32_t am;
            emu_argmax(row, V, tau, mk, &m, &am);
            assert_int_equal(am, a);
            int32_t y2 = ss_draw(row, V, tau, m, mk, cs, S, us[k]);
            assert_int_equal(y2, y);
            n++;
        }
    }
    printf("draw edges: %d draws\n", n);
}

/* ------------------------------------------------------------- whole generations */

/* TEST DOUBLE: a backend that wraps the CPU backend and adds sample_begin / sample_step made
 * of the CPU decoder pass plus emu_step, keeping the ids, the SC input and the rules on "its
 * side" between steps exactly as the CUDA backend does (cuda_forward.c). */
typedef struct {
    void *cpu;
    const model *m;
    tables t;
    int32_t *x, *rix; /* the ids for the next pass; per-position rules of the canvas */
    float *logits, *P;
    int x_ready, sc_ready;
    uint32_t steps;
} dev_double;

static int dd_create(const model *m, threadpool *tp, void **state, char *err, size_t errlen)
{
    dev_double *d = calloc(1, sizeof *d);
    if (!d)
        return -4;
    const model_hparams *hp = &m->hp;
    d->m = m;
    d->x = malloc(hp->canvas_length * sizeof(int32_t));
    d->rix = malloc(3 * hp->canvas_length * sizeof(int32_t));
    d->logits = malloc((size_t)hp->canvas_length * hp->vocab * sizeof(float));
    d->P = calloc((size_t)hp->canvas_length * hp->vocab_pad, sizeof(float));
    int rc = cpu_backend()->create(m, tp, &d->cpu, err, errlen);
    if (rc || !d->x || !d->rix || !d->logits || !d->P) {
        free(d->x), free(d->rix), free(d->logits), free(d->P), free(d);
        return rc ? rc : -4;
    }
    *state = d;
    return 0;
}

static void dd_destroy(void *state)
{
    dev_double *d = state;
    cpu_backend()->destroy(d->cpu);
    free_tables(&d->t);
    free(d->x), free(d->rix), free(d->logits), free(d->P), free(d);
}

static int dd_reset(void *state, uint32_t capacity, char *err, size_t errlen)
{
    dev_double *d = state;
    d->x_ready = d->sc_ready = 0;
    return cpu_backend()->reset(d->cpu, capacity, err, errlen);
}

static int dd_encode(void *state, const int32_t *ids, uint32_t n, uint32_t pos0, char *err,
                     size_t errlen)
{
    dev_double *d = state;
    d->x_ready = d->sc_ready = 0;
    return cpu_backend()->encode(d->cpu, ids, n, pos0, err, errlen);
}

static int dd_decode(void *state, const int32_t *ids, uint32_t n, uint32_t pos0, const float *sc,
                     float *logits, char *err, size_t errlen)
{
    dev_double *d = state;
    return cpu_backend()->decode(d->cpu, ids, n, pos0, sc, logits, err, errlen);
}

static int dd_begin(void *state, const backend_sample_tables *bt, char *err, size_t errlen)
{
    (void)err, (void)errlen;
    dev_double *d = state;
    uint32_t V = d->m->hp.vocab, n = bt->n_masks, n_ids = 0;
    for (uint32_t k = 0; k < n; k++)
        n_ids += bt->n_ids[k];
    free_tables(&d->t);
    d->t.n_tab = n;
    d->t.masks = malloc((size_t)n * V + 1);
    d->t.lists = malloc((n_ids + 1) * sizeof(int32_t));
    d->t.off = malloc((n + 1) * sizeof(int32_t));
    d->t.off[0] = 0;
    for (uint32_t k = 0; k < n; k++) {
        memcpy(d->t.masks + (size_t)k * V, bt->masks[k], V);
        memcpy(d->t.lists + d->t.off[k], bt->ids[k], bt->n_ids[k] * sizeof(int32_t));
        d->t.off[k + 1] = d->t.off[k] + (int32_t)bt->n_ids[k];
    }
    d->x_ready = d->sc_ready = 0;
    return 0;
}

static int dd_step(void *state, const backend_step *in, backend_step_out *out, char *err,
                   size_t errlen)
{
    dev_double *d = state;
    const model_hparams *hp = &d->m->hp;
    uint32_t n = in->n;
    if (in->ids) {
        memcpy(d->x, in->ids, n * sizeof(int32_t));
        memcpy(d->rix, in->forced, n * sizeof(int32_t));
        memcpy(d->rix + n, in->mask, n * sizeof(int32_t));
        memcpy(d->rix + 2 * n, in->noise, n * sizeof(int32_t));
        d->x_ready = 1;
    }
    assert_true(d->x_ready);
    assert_true(!in->have_sc || d->sc_ready);
    int rc = cpu_backend()->decode(d->cpu, d->x, n, in->pos0, in->have_sc ? d->P : NULL, d->logits,
                                   err, errlen);
    if (rc)
        return rc;
    for (uint32_t i = 0; i < n; i++)
        sampler_row_hash(d->logits + (size_t)i * hp->vocab, hp->vocab, out->row_hashes + 32 * i);
    step_in si = {.logits = d->logits,
                  .C = n,
                  .V = hp->vocab,
                  .Vp = hp->vocab_pad,
                  .tau = in->tau,
                  .bound = in->entropy_bound,
                  .seed = in->seed,
                  .canvas = in->canvas,
                  .step = in->step,
                  .make_sc = in->make_sc,
                  .masks = d->t.masks,
                  .lists = d->t.lists,
                  .list_off = d->t.off,
                  .forced = d->rix,
                  .mask = d->rix + n,
                  .noise = d->rix + 2 * n};
    step_out o;
    if (step_out_alloc(&o, n, hp->vocab_pad))
        return -4;
    emu_step(&si, &o);
    memcpy(out->argmax, o.argmax, n * sizeof(int32_t));
    memcpy(d->x, o.x, n * sizeof(int32_t));
    if (in->make_sc)
        memcpy(d->P, o.P, (size_t)n * hp->vocab_pad * sizeof(float));
    out->n_accepted = o.n_acc;
    out->mean_entropy = o.mean;
    d->sc_ready = in->make_sc;
    step_out_free(&o);
    d->steps++;
    return 0;
}

static const backend_ops dd_ops = {.name = "test double: cpu + emulated device sampler",
                                   .create = dd_create,
                                   .destroy = dd_destroy,
                                   .reset = dd_reset,
                                   .encode = dd_encode,
                                   .decode = dd_decode,
                                   .sample_begin = dd_begin,
                                   .sample_step = dd_step};

#define MAX_LOG 512
typedef struct {
    uint32_t n;
    uint8_t hash[MAX_LOG][32];
    int32_t argmax[MAX_LOG][64];
    uint32_t n_acc[MAX_LOG];
    float mean[MAX_LOG];
} step_log;

static int log_step(void *user, const engine_step *s)
{
    step_log *l = user;
    assert_true(l->n < MAX_LOG && s->canvas_length <= 64);
    memcpy(l->hash[l->n], s->logits_hash, 32);
    memcpy(l->argmax[l->n], s->argmax, s->canvas_length * sizeof(int32_t));
    l->n_acc[l->n] = s->n_accepted;
    l->mean[l->n] = s->mean_entropy;
    l->n++;
    return 0;
}

static void run(const backend_ops *ops, model *m, threadpool *tp, const gen_params *p,
                step_log *log, gen_result *r)
{
    char err[512];
    void *st = NULL;
    assert_int_equal(ops->create(m, tp, &st, err, sizeof err), 0);
    sampler_ctx c = {ops, st, &m->hp, NULL, tp, NULL};
    int32_t prompt[9] = {2, 17, 5, 99, 4, 31, 8, 250, 7};
    memset(log, 0, sizeof *log);
    int rc = sampler_generate(&c, prompt, 9, p, log_step, log, r, err, sizeof err);
    if (rc)
        fprintf(stderr, "sampler_generate on %s: %s\n", ops->name, err);
    assert_int_equal(rc, 0);
    if (ops == &dd_ops)
        assert_int_equal(((dev_double *)st)->steps, r->n_steps); /* every step went through it */
    ops->destroy(st);
}

static void compare_generations(model *m, threadpool *tp, unsigned cfgs, int *n_runs)
{
    const model_hparams *hp = &m->hp;
    uint32_t V = hp->vocab, C = hp->canvas_length;
    uint8_t *allowed = malloc(V), *mk[2] = {malloc(V), malloc(V)};
    for (uint32_t v = 0; v < V; v++) {
        allowed[v] = v % 3 != 1;
        mk[0][v] = v >= 40 && v < 50;
        mk[1][v] = v % 7 == 0;
    }
    int32_t forced[64];
    uint16_t maskidx[64];
    for (uint32_t j = 0; j < 64; j++) {
        forced[j] = j % 5 == 0 ? (int32_t)(100 + j) : -1;
        maskidx[j] = j % 5 == 1 ? 0 : j % 5 == 2 ? 1 : GEN_MASK_NONE;
    }
    const uint8_t *masks[2] = {mk[0], mk[1]};
    for (int cfg = 0; cfg < 8; cfg++) {
        if (!(cfgs >> cfg & 1))
            continue;
        gen_params p;
        memset(&p, 0, sizeof p);
        p.seed = 0x5eed00ull + (uint64_t)cfg * 7919u;
        p.max_steps = 3 + (uint32_t)cfg % 4;
        p.t_min = 0.4f;
        p.t_max = 1.0f;
        p.entropy_bound = cfg % 3 == 0 ? 0.5f : 2.0f + (float)cfg;
        p.stability_threshold = cfg % 2 ? 1 : 100;
        p.confidence_threshold = cfg % 2 ? 50.0f : 0.01f; /* odd: stop early when stable */
        p.max_new_tokens = cfg < 4 ? C : 2 * C + 3;
        p.allowed = cfg % 4 == 1 || cfg == 6 ? allowed : NULL;
        gen_restriction rs = {2 * C, forced, maskidx, 2, masks, cfg == 7};
        if (cfg >= 5)
            p.restriction = &rs;
        static step_log a, b;
        gen_result ra, rb;
        run(cpu_backend(), m, tp, &p, &a, &ra);
        run(&dd_ops, m, tp, &p, &b, &rb);
        assert_int_equal(a.n, b.n);
        assert_memory_equal(a.hash, b.hash, a.n * 32);
        for (uint32_t s = 0; s < a.n; s++) {
            assert_memory_equal(a.argmax[s], b.argmax[s], C * sizeof(int32_t));
            assert_int_equal(a.n_acc[s], b.n_acc[s]);
            assert_memory_equal(&a.mean[s], &b.mean[s], sizeof(float));
        }
        assert_int_equal(ra.n_tokens, rb.n_tokens);
        assert_int_equal(ra.n_steps, rb.n_steps);
        assert_memory_equal(ra.tokens, rb.tokens, ra.n_tokens * sizeof(int32_t));
        assert_memory_equal(ra.trace_hash, rb.trace_hash, 32);
        gen_result_free(&ra);
        gen_result_free(&rb);
        (*n_runs)++;
    }
    free(allowed), free(mk[0]), free(mk[1]);
}

static void test_generations(void **state)
{
    (void)state;
    char path[128], err[512];
    threadpool *tp = tp_create(2, err, sizeof err);
    assert_non_null(tp);
    int n_runs = 0;
    for (int which = 0; which < 2; which++) {
        snprintf(path, sizeof path, "/tmp/sibyl-test-sstep.%d.%d.gguf", (int)getpid(), which);
        if (which == 0) { /* the test model: vocab 512 (one chunk), canvas 16 */
            testmodel_opts o;
            memset(&o, 0, sizeof o);
            o.type = GGML_TYPE_Q8_0;
            o.seed = 5;
            assert_int_equal(testmodel_write(path, &o, err, sizeof err), 0);
        } else { /* mkmodel "small": vocab 4096 (4 chunks), canvas 32 */
            mk_options mo;
            memset(&mo, 0, sizeof mo);
            mo.path = path;
            assert_int_equal(mk_preset_find("small", &mo.preset), 0);
            mo.type = GGML_TYPE_Q8_0;
            mo.seed = 9;
            mo.n_threads = 2;
            mk_result res;
            assert_int_equal(mk_write_model(&mo, &res, err, sizeof err), 0);
        }
        model *m = NULL;
        if (model_load(path, tp, &m, err, sizeof err))
            fprintf(stderr, "%s\n", err);
        assert_non_null(m);
        /* all eight on the test model; on "small" (slower under ASan) the two that combine an
         * allowed mask, both kinds of restriction and an early stop */
        compare_generations(m, tp, which == 0 ? 0xffu : 0xc0u, &n_runs);
        model_free(m);
        unlink(path);
    }
    tp_destroy(tp);
    printf("generations: %d configurations, device-step double == host sampler\n", n_runs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_step_random),
        cmocka_unit_test(test_draw_edges),
        cmocka_unit_test(test_generations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
