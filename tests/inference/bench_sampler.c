/*
 * bench_sampler: the CPU cost of the sampler's per-position work (A9: tempering, statistics,
 * argmax, draw) and of the self-conditioning input (P = softmax, its A3 quantisation for the
 * E^T product), on the bench model's shape (canvas 256 x vocab 32768) without the decoder.
 * A benchmark, not a test (not registered with ctest).
 *
 *   build/tests/inference/bench_sampler [--threads N] [--steps N] [--reps N] [--mask]
 *                                       [--vocab N] [--canvas N] [--spread S] [--float-p]
 *
 * The backend is a bench double: decode copies fixed synthetic logits (softcapped (30) normal
 * values of deviation S, default 3, with a few ids per row 4S-6S higher; rotated from step to
 * step). By default it offers decode_q8 like the CPU backend (the sampler makes A3(P)); with
 * --float-p only decode, which quantises the float P as forward.c does (A3 by rows over the
 * thread pool). row_hashes reports zero hashes, so the logits hash is not measured.
 * Times are process CPU time (all threads), per decoder step after the first (which touches
 * the sampler's fresh buffers), best and median over reps.
 * The printed digest covers the trace hash, every step's quantised SC input and its scales,
 * so two builds, or the two SC paths, can be compared bit for bit.
 */
#include <math.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "inference/matmul.h"
#include "inference/quant.h"
#include "inference/sampler.h"

typedef struct {
    uint32_t C, V, Vp;
    float *logits; /* C x V per step variant */
    threadpool *tp;
    q8_act sc;
    double sc_seconds;
    uint32_t calls;
    EVP_MD_CTX *digest;
} bench_backend;

static int bb_create(const struct model *m, threadpool *tp, void **state, char *err, size_t n)
{
    (void)m, (void)tp, (void)state, (void)err, (void)n;
    return -1; /* not used: the state is made by main */
}

static void bb_destroy(void *state)
{
    (void)state;
}

static int bb_reset(void *state, uint32_t capacity, char *err, size_t errlen)
{
    (void)state, (void)capacity, (void)err, (void)errlen;
    return 0;
}

static int bb_encode(void *state, const int32_t *ids, uint32_t n, uint32_t pos0, char *err,
                     size_t errlen)
{
    (void)state, (void)ids, (void)n, (void)pos0, (void)err, (void)errlen;
    return 0;
}

typedef struct {
    const float *x;
    uint32_t cols;
    q8_act *out;
} qjob;

static void q_range(void *arg, int b, int e, int w)
{
    (void)w;
    qjob *j = arg;
    q8_act sub = {j->out->q + (size_t)b * j->cols, j->out->d + (size_t)b * (j->cols / QK), e - b,
                  (int)j->cols};
    q8_quantize_rows(j->x + (size_t)b * j->cols, e - b, (int)j->cols, &sub);
}

static int bb_decode(void *state, const int32_t *ids, uint32_t n, uint32_t pos0,
                     const float *sc_probs, float *logits, char *err, size_t errlen)
{
    (void)ids, (void)pos0, (void)err, (void)errlen;
    bench_backend *b = state;
    if (sc_probs) {
        double t0 = prof_now();
        qjob j = {sc_probs, b->Vp, &b->sc};
        tp_parallel_for(b->tp, (int)n, 4, q_range, &j);
        b->sc_seconds += prof_now() - t0;
        EVP_DigestUpdate(b->digest, b->sc.q, (size_t)n * b->Vp);
        EVP_DigestUpdate(b->digest, b->sc.d, (size_t)n * (b->Vp / QK) * sizeof(float));
    }
    /* Logits change from step to step: rotate the rows. */
    uint32_t shift = b->calls++ % n;
    for (uint32_t i = 0; i < n; i++)
        memcpy(logits + (size_t)i * b->V, b->logits + (size_t)((i + shift) % n) * b->V,
               (size_t)b->V * sizeof(float));
    return 0;
}

/* The CPU backend's way: the sampler hands over A3(P) directly. */
static int bb_decode_q8(void *state, const int32_t *ids, uint32_t n, uint32_t pos0,
                        const q8_act *sc, float *logits, char *err, size_t errlen)
{
    bench_backend *b = state;
    if (sc) {
        EVP_DigestUpdate(b->digest, sc->q, (size_t)n * b->Vp);
        EVP_DigestUpdate(b->digest, sc->d, (size_t)n * (b->Vp / QK) * sizeof(float));
    }
    return bb_decode(state, ids, n, pos0, NULL, logits, err, errlen);
}

static int bb_row_hashes(void *state, uint32_t n, uint8_t *out, char *err, size_t errlen)
{
    (void)state, (void)err, (void)errlen;
    memset(out, 0, (size_t)n * 32);
    return 0;
}

static const backend_ops bench_ops_q8 = {
    .name = "bench-double-q8",
    .create = bb_create,
    .destroy = bb_destroy,
    .reset = bb_reset,
    .encode = bb_encode,
    .decode = bb_decode,
    .decode_q8 = bb_decode_q8,
    .row_hashes = bb_row_hashes,
};

static const backend_ops bench_ops_float = {
    .name = "bench-double-float",
    .create = bb_create,
    .destroy = bb_destroy,
    .reset = bb_reset,
    .encode = bb_encode,
    .decode = bb_decode,
    .row_hashes = bb_row_hashes,
};

/* The sampler time after a canvas's first step (which also pays the buffers' first touch; the
 * sibyl bench leaves it out of the step means too). */
typedef struct {
    const engine_profile *prof;
    double after_first, sc_after_first;
} step_probe;

static int on_step(void *user, const engine_step *st)
{
    step_probe *sp = user;
    if (st->step == 0) {
        sp->after_first = sp->prof->seconds[PROF_SAMPLER];
        sp->sc_after_first = sp->prof->seconds[PROF_SC_PREP];
    }
    return 0;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static double rnd(void) /* uniform in (0, 1) */
{
    rng_state ^= rng_state << 13, rng_state ^= rng_state >> 7, rng_state ^= rng_state << 17;
    return ((double)(rng_state >> 11) + 0.5) / 9007199254740992.0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    int threads = 2, steps = 4, reps = 5, use_mask = 0, float_p = 0;
    double spread = 3.0;
    uint32_t V = 32768, C = 256;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--steps") && i + 1 < argc)
            steps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--vocab") && i + 1 < argc)
            V = (uint32_t)atoi(argv[++i]);
        else if (!strcmp(argv[i], "--canvas") && i + 1 < argc)
            C = (uint32_t)atoi(argv[++i]);
        else if (!strcmp(argv[i], "--spread") && i + 1 < argc)
            spread = atof(argv[++i]);
        else if (!strcmp(argv[i], "--float-p"))
            float_p = 1;
        else if (!strcmp(argv[i], "--mask"))
            use_mask = 1;
        else {
            fprintf(stderr, "usage: bench_sampler [--threads N] [--steps N] [--reps N] [--mask] "
                            "[--vocab N] [--canvas N] [--spread S] [--float-p]\n");
            return 2;
        }
    }
    if (threads < 1 || steps < 2 || reps < 1 || V < 2 || C < 1) {
        fprintf(stderr, "bench_sampler: bad arguments\n");
        return 2;
    }
    prof_use_cpu_clock(1);
    char err[256];
    threadpool *tp = tp_create(threads, err, sizeof err);
    if (!tp) {
        fprintf(stderr, "bench_sampler: %s\n", err);
        return 1;
    }
    uint32_t Vp = (V + 31) / 32 * 32;
    bench_backend b = {.C = C, .V = V, .Vp = Vp, .tp = tp};
    b.logits = malloc((size_t)C * V * sizeof(float));
    uint8_t *allowed = malloc(V);
    if (!b.logits || !allowed || q8_act_alloc(&b.sc, (int)C, (int)Vp)) {
        fprintf(stderr, "bench_sampler: out of memory\n");
        return 1;
    }
    /* Softcapped (30) logits: a broad normal body and a few peaked ids per row. */
    for (uint32_t i = 0; i < C; i++)
        for (uint32_t v = 0; v < V; v++) {
            double g = sqrt(-2.0 * log(rnd())) * cos(6.283185307179586 * rnd()) * spread;
            if (rnd() < 4.0 / V)
                g += 4.0 * spread + 2.0 * spread * rnd();
            b.logits[(size_t)i * V + v] = (float)(30.0 * tanh(g / 30.0));
        }
    for (uint32_t v = 0; v < V; v++)
        allowed[v] = (v % 7) != 3;
    model_hparams hp;
    memset(&hp, 0, sizeof hp);
    hp.vocab = V;
    hp.vocab_pad = Vp;
    hp.canvas_length = C;
    hp.context_length = 1u << 20;
    hp.eos_id = -1;
    gen_params p;
    memset(&p, 0, sizeof p);
    p.seed = 7;
    p.max_steps = (uint32_t)steps;
    p.t_min = 0.4f;
    p.t_max = 1.0f;
    p.entropy_bound = 40.0f;
    p.stability_threshold = 1000;
    p.confidence_threshold = 0.0f;
    p.max_new_tokens = C;
    p.allowed = use_mask ? allowed : NULL;
    double *samp = malloc((size_t)reps * sizeof(double)),
           *sc = malloc((size_t)reps * sizeof(double));
    uint8_t digest[32];
    for (int r = 0; r < reps; r++) {
        engine_profile prof;
        memset(&prof, 0, sizeof prof);
        sampler_ctx c = {float_p ? &bench_ops_float : &bench_ops_q8, &b, &hp, NULL, tp, &prof};
        b.sc_seconds = 0.0;
        b.calls = 0;
        b.digest = EVP_MD_CTX_new();
        EVP_DigestInit_ex(b.digest, EVP_sha256(), NULL);
        gen_result out;
        int32_t prompt[4] = {1, 2, 3, 4};
        step_probe sp = {&prof, 0.0, 0.0};
        if (sampler_generate(&c, prompt, 4, &p, on_step, &sp, &out, err, sizeof err)) {
            fprintf(stderr, "bench_sampler: %s\n", err);
            return 1;
        }
        EVP_DigestUpdate(b.digest, out.trace_hash, 32);
        unsigned int l = 32;
        EVP_DigestFinal_ex(b.digest, digest, &l);
        EVP_MD_CTX_free(b.digest);
        gen_result_free(&out);
        samp[r] = 1e3 * (prof.seconds[PROF_SAMPLER] - sp.after_first) / (steps - 1);
        /* the SC input: A3 in the double's decode (float P), or made by the sampler (q8) */
        sc[r] = 1e3 * (b.sc_seconds + prof.seconds[PROF_SC_PREP] - sp.sc_after_first) / (steps - 1);
    }
    qsort(samp, (size_t)reps, sizeof(double), cmp_double);
    qsort(sc, (size_t)reps, sizeof(double), cmp_double);
    printf("kernels %d, threads %d, canvas %u x vocab %u, %d steps%s, SC input as %s\n",
           (int)kernels_selected(), threads, C, V, steps, use_mask ? ", allowed mask" : "",
           float_p ? "float P (A3 in decode)" : "A3 rows (decode_q8)");
    printf("sampler   CPU ms/step: best %.2f median %.2f\n", samp[0], samp[reps / 2]);
    printf("sc input  CPU ms/step: best %.2f median %.2f\n", sc[0], sc[reps / 2]);
    printf("sum       CPU ms/step: best %.2f\n", samp[0] + sc[0]);
    printf("digest ");
    for (int i = 0; i < 32; i++)
        printf("%02x", digest[i]);
    printf("\n");
    free(samp);
    free(sc);
    free(b.logits);
    free(allowed);
    q8_act_free(&b.sc);
    tp_destroy(tp);
    return 0;
}
