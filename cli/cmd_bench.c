/*
 * sibyl bench: times the engine on a model with a synthetic prompt and prints the step time,
 * tokens/s, a per-op breakdown, the share of matrix products in a step, peak RSS and whether
 * the weights are used in place from the mmap. A measurement tool, not a test.
 *
 * Steps are timed between consecutive step callbacks inside a canvas (decoder pass, logits
 * hash, sampler and the next step's self-conditioning input); the first step of each canvas
 * also contains the prefill / re-encode and is reported separately.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "cli/commands.h"
#include "inference/engine.h"
#include "inference/profile.h"
#include "inference/tokenizer.h"
#if defined(SIBYL_HAVE_CUDA_BACKEND)
#include "inference/cuda_backend.h"
#endif

static int parse_u64(const char *s, unsigned long long max, unsigned long long *out)
{
    if (!s || !*s || *s == '-')
        return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || *end || v > max)
        return -1;
    *out = v;
    return 0;
}

typedef struct {
    engine *e;
    double last;
    double prof_last[PROF_COUNT];
    double step_prof[PROF_COUNT]; /* summed over timed steps */
    double step_time, first_time;
    int n_timed, n_first;
    double t_begin;
} bench_state;

static int bench_step(void *user, const engine_step *st)
{
    bench_state *b = user;
    double now = prof_now(), cur[PROF_COUNT];
    engine_profile_get(b->e, cur, PROF_COUNT);
    if (st->step == 0) {
        b->first_time += now - b->last;
        b->n_first++;
    } else {
        b->step_time += now - b->last;
        b->n_timed++;
        for (int i = 0; i < PROF_COUNT; i++)
            b->step_prof[i] += cur[i] - b->prof_last[i];
    }
    memcpy(b->prof_last, cur, sizeof cur);
    b->last = now;
    return 0;
}

int cmd_bench(int argc, char **argv)
{
    const char *model = NULL, *backend = "cpu";
    unsigned long long threads = 0, steps = 8, canvases = 1, prompt_len = 64;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        unsigned long long *dst = NULL, max = 0;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            printf("usage: sibyl bench -m MODEL.gguf [--threads N] [--steps N] [--canvases N] "
                   "[--prompt-tokens N] [--backend cpu|cuda] [--cpu-clock]\n"
                   "  --cpu-clock: step and per-op times in process CPU time (all threads) "
                   "instead of wall time:\n"
                   "               the work each op costs, for a machine shared with other "
                   "jobs\n");
            return 0;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            if (!v) {
                fprintf(stderr, "sibyl bench: %s needs a value\n", a);
                return 2;
            }
            model = v;
            i++;
            continue;
        } else if (!strcmp(a, "--cpu-clock")) {
            prof_use_cpu_clock(1);
            continue;
        } else if (!strcmp(a, "--backend")) {
            if (!v || (strcmp(v, "cpu") && strcmp(v, "cuda"))) {
                fprintf(stderr, "sibyl bench: --backend must be cpu or cuda\n");
                return 2;
            }
            backend = v;
            i++;
            continue;
        } else if (!strcmp(a, "--threads"))
            dst = &threads, max = 1024;
        else if (!strcmp(a, "--steps"))
            dst = &steps, max = 1024;
        else if (!strcmp(a, "--canvases"))
            dst = &canvases, max = 1024;
        else if (!strcmp(a, "--prompt-tokens"))
            dst = &prompt_len, max = 1 << 20;
        else {
            fprintf(stderr, "sibyl bench: unknown option '%s'\n", a);
            return 2;
        }
        if (!v || parse_u64(v, max, dst) || *dst == (strcmp(a, "--threads") ? 0 : ~0ULL)) {
            fprintf(stderr, "sibyl bench: %s needs a number in %s..%llu\n", a,
                    strcmp(a, "--threads") ? "1" : "0", max);
            return 2;
        }
        i++;
    }
    if (!model) {
        fprintf(stderr, "sibyl bench: -m MODEL is required\n");
        return 2;
    }
    char err[512];
    engine_options opt = {model, strcmp(backend, "cuda") ? ENGINE_BACKEND_CPU : ENGINE_BACKEND_CUDA,
                          (int)threads};
    engine *e;
    struct timespec w0;
    clock_gettime(CLOCK_MONOTONIC, &w0); /* wall, whatever prof_now() reads */
    double t0 = prof_now();
    if (engine_open(&opt, &e, err, sizeof err)) {
        fprintf(stderr, "sibyl bench: %s\n", err);
        return 1;
    }
    double t_load = prof_now() - t0;
    const engine_info *info = engine_get_info(e);
    const tokenizer *tok = engine_get_tokenizer(e);
    gen_params p;
    gen_params_default(e, &p);
    p.seed = 1;
    p.max_steps = (uint32_t)steps;
    p.confidence_threshold = 0.0f; /* never stop early: every canvas runs all steps */
    p.max_new_tokens = (uint32_t)(canvases * info->canvas_length);
    /* With several canvases, end-of-generation ids are excluded so that every requested canvas
     * runs (an allowed mask costs a second softmax per position for self-conditioning). */
    uint8_t *allowed = malloc(info->vocab_size);
    int32_t *prompt = malloc(prompt_len * sizeof *prompt);
    if (!allowed || !prompt) {
        fprintf(stderr, "sibyl bench: out of memory\n");
        return 1;
    }
    for (uint32_t v = 0; v < info->vocab_size; v++)
        allowed[v] = !tok_is_eog(tok, (int32_t)v);
    if (canvases > 1)
        p.allowed = allowed;
    for (unsigned long long i = 0; i < prompt_len; i++)
        prompt[i] = (int32_t)(4 + (i * 7919) % (info->vocab_size > 8 ? info->vocab_size - 4 : 1));
    if (prompt_len && tok_bos(tok) >= 0)
        prompt[0] = tok_bos(tok);
    bench_state b;
    memset(&b, 0, sizeof b);
    b.e = e;
    engine_profile_reset(e);
    gen_result r;
    b.t_begin = b.last = prof_now();
    int rc =
        engine_generate(e, prompt, (uint32_t)prompt_len, &p, bench_step, &b, &r, err, sizeof err);
    if (rc) {
        fprintf(stderr, "sibyl bench: %s\n", err);
        engine_close(e);
        return 1;
    }
    uint64_t mapped, owned;
    int all_mapped;
    engine_weight_bytes(e, &mapped, &owned, &all_mapped);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("model: %s, %u layers, hidden %u, vocab %u, canvas %u, %.1fM params\n", model,
           info->n_layers, info->hidden, info->vocab_size, info->canvas_length,
           (double)info->n_params / 1e6);
    printf("backend %s, threads %llu, steps/canvas %u, canvases %u, prompt %llu tokens\n",
           engine_backend_name(e), threads, p.max_steps, r.n_canvases, prompt_len);
    if (prof_clock() != CLOCK_MONOTONIC)
        printf("clock: process CPU time of all threads (--cpu-clock): the times below are "
               "CPU-seconds, not wall time\n");
    printf("load: %.3f s\n", t_load);
    double step = b.n_timed ? b.step_time / b.n_timed : 0.0;
    printf("step time: %.4f s (mean of %d steps; first step of a canvas incl. encode: %.4f s)\n",
           step, b.n_timed, b.n_first ? b.first_time / b.n_first : 0.0);
    printf("generation: %u tokens, %u steps in %.3f s: %.2f tokens/s (%.1f canvas tokens per "
           "step-second)\n",
           r.n_tokens, r.n_steps, r.seconds, r.seconds > 0 ? r.n_tokens / r.seconds : 0.0,
           step > 0 ? info->canvas_length / step : 0.0);
    if (b.n_timed) {
        printf("per-step breakdown (ms):\n");
        double mm = 0, all = 0;
        for (int i = 0; i < PROF_COUNT; i++) {
            double ms = 1e3 * b.step_prof[i] / b.n_timed;
            all += ms;
            if (prof_is_matmul((prof_op)i))
                mm += ms;
            printf("  %-20s %9.2f\n", prof_name((prof_op)i), ms);
        }
        printf("  %-20s %9.2f\n", "other (untimed)", 1e3 * step - all);
        printf("matmuls: %.2f ms of %.2f ms step = step/matmul %.3f\n", mm, 1e3 * step,
               mm > 0 ? 1e3 * step / mm : 0.0);
    }
    printf("peak RSS: %.1f MiB\n", ru.ru_maxrss / 1024.0);
    double cpu = (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec +
                 (double)ru.ru_stime.tv_sec + 1e-6 * (double)ru.ru_stime.tv_usec;
    struct timespec w1;
    clock_gettime(CLOCK_MONOTONIC, &w1);
    double wall = (double)(w1.tv_sec - w0.tv_sec) + 1e-9 * (double)(w1.tv_nsec - w0.tv_nsec);
    printf("process CPU time %.1f s over %.1f s wall since start (load included): %.2f cores "
           "busy; below the thread count means the machine is shared\n",
           cpu, wall, cpu / wall);
#if defined(SIBYL_HAVE_CUDA_BACKEND)
    if (opt.backend == ENGINE_BACKEND_CUDA) {
        /* Every weight is read once per decoder step (with a 256-token canvas every expert is
         * hit), so bytes / copy bandwidth bounds the step time from below. */
        cuda_device_info gi;
        cuda_ctx *cc = NULL;
        double bw = 0;
        if (!cuda_probe(&gi, err, sizeof err) && !cuda_ctx_create(0, &cc, err, sizeof err) &&
            !cuda_measure_copy_bw(cc, (size_t)1 << 30, 9, &bw, err, sizeof err)) {
            double wb = (double)(mapped + owned);
            printf("gpu: %s, memory in use %.2f GiB of %.2f GiB (after the run)\n", gi.name,
                   (double)(gi.total_mem - gi.free_mem) / 1073741824.0,
                   (double)gi.total_mem / 1073741824.0);
            printf("device copy bandwidth: %.1f GB/s (read + write); weights %.2f GB; "
                   "weight-streaming bound %.2f ms/step; measured %.2f ms/step = %.2fx the bound\n",
                   bw / 1e9, wb / 1e9, 1e3 * wb / bw, 1e3 * step, bw > 0 ? step / (wb / bw) : 0.0);
        } else {
            printf("gpu: could not measure (%s)\n", err);
        }
        cuda_ctx_destroy(cc);
    }
#endif
    uint32_t n_mapped, n_conv;
    const char *conv_types;
    engine_weight_counts(e, &n_mapped, &n_conv, &conv_types);
    printf("weights: %u Q8_0 matrices (%.1f MiB) used in place from the mmap, not copied; "
           "%u matrices converted at load (%s); owned copies %.1f MiB incl. the transposed "
           "embedding\n",
           n_mapped, mapped / 1048576.0, n_conv, n_conv ? conv_types : "none", owned / 1048576.0);
    gen_result_free(&r);
    free(allowed);
    free(prompt);
    engine_close(e);
    return 0;
}
