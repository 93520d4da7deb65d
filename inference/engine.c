/*
 * engine.h: opens a model on a backend and runs the sampler (sampler.c) over it.
 */
#include "inference/engine.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "inference/backend.h"
#include "inference/model.h"
#include "inference/sampler.h"
#include "inference/tokenizer.h"

#if defined(SIBYL_HAVE_CUDA_BACKEND)
const backend_ops *cuda_backend(void); /* cuda/: registered when built with CUDA */
#endif

struct engine {
    model *m;
    tokenizer *tok;
    threadpool *tp;
    const backend_ops *ops;
    void *state;
    engine_info info;
    engine_profile sampler_prof;
};

/* profile.h: the clock of the per-op profile (process-wide, set once by the bench). */
static _Atomic int g_prof_cpu_clock = 0;

void prof_use_cpu_clock(int on)
{
    g_prof_cpu_clock = on != 0;
}

clockid_t prof_clock(void)
{
    return g_prof_cpu_clock ? CLOCK_PROCESS_CPUTIME_ID : CLOCK_MONOTONIC;
}

static int fail(char *err, size_t errlen, int code, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return code;
}

/* The backends this build knows, by engine_backend value. */
static const backend_ops *backend_for(engine_backend b)
{
    switch (b) {
    case ENGINE_BACKEND_CPU:
        return cpu_backend();
    case ENGINE_BACKEND_CUDA:
#if defined(SIBYL_HAVE_CUDA_BACKEND)
        return cuda_backend();
#else
        return NULL;
#endif
    }
    return NULL;
}

int engine_open(const engine_options *opt, engine **out, char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = 0;
    if (!out)
        return fail(err, errlen, ENGINE_EINVAL, "engine_open: no output pointer");
    *out = NULL;
    if (!opt || !opt->model_path || !opt->model_path[0])
        return fail(err, errlen, ENGINE_EINVAL, "engine_open: no model path");
    if (opt->n_threads < 0 || opt->n_threads > 1024)
        return fail(err, errlen, ENGINE_EINVAL, "engine_open: n_threads %d out of range 0..1024",
                    opt->n_threads);
    const backend_ops *ops = backend_for(opt->backend);
    if (!ops) {
        if (opt->backend == ENGINE_BACKEND_CUDA)
            return fail(err, errlen, ENGINE_EBACKEND,
                        "backend cuda unavailable: this sibyl was built without CUDA");
        return fail(err, errlen, ENGINE_EINVAL, "unknown backend %d", (int)opt->backend);
    }
    int nt = opt->n_threads;
    if (nt == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        nt = n > 0 ? (int)n : 1;
    }
    engine *e = calloc(1, sizeof *e);
    if (!e)
        return fail(err, errlen, ENGINE_ENOMEM, "out of memory");
    e->ops = ops;
    e->tp = tp_create(nt, err, errlen);
    int rc;
    if (!e->tp) {
        rc = ENGINE_ENOMEM;
        goto bad;
    }
    if ((rc = model_load(opt->model_path, e->tp, &e->m, err, errlen)))
        goto bad;
    char terr[256];
    if (tokenizer_from_gguf(e->m->gguf, &e->tok, terr, sizeof terr)) {
        rc = fail(err, errlen, ENGINE_EMODEL, "model '%s': tokenizer: %s", opt->model_path, terr);
        goto bad;
    }
    if (tok_n_vocab(e->tok) > e->m->hp.vocab) {
        rc = fail(err, errlen, ENGINE_EMODEL,
                  "model '%s': tokenizer has %u tokens but the embedding only %u rows",
                  opt->model_path, tok_n_vocab(e->tok), e->m->hp.vocab);
        goto bad;
    }
    if ((rc = ops->create(e->m, e->tp, &e->state, err, errlen)))
        goto bad;
    const model_hparams *hp = &e->m->hp;
    snprintf(e->info.arch, sizeof e->info.arch, "%s", MODEL_ARCH);
    e->info.vocab_size = hp->vocab;
    e->info.canvas_length = hp->canvas_length;
    e->info.context_length = hp->context_length;
    e->info.n_layers = hp->n_layers;
    e->info.hidden = hp->hidden;
    e->info.n_params = e->m->n_params;
    *out = e;
    return 0;
bad:
    engine_close(e);
    return rc < 0 ? rc : ENGINE_EMODEL;
}

void engine_close(engine *e)
{
    if (!e)
        return;
    if (e->state)
        e->ops->destroy(e->state);
    tok_free(e->tok);
    model_free(e->m);
    tp_destroy(e->tp);
    free(e);
}

const engine_info *engine_get_info(const engine *e)
{
    return &e->info;
}
const tokenizer *engine_get_tokenizer(const engine *e)
{
    return e->tok;
}
const char *engine_backend_name(const engine *e)
{
    return e->ops->name;
}

void gen_params_default(const engine *e, gen_params *p)
{
    const model_hparams *hp = &e->m->hp;
    memset(p, 0, sizeof *p);
    p->seed = 0;
    p->max_steps = hp->eb_max_steps;
    p->t_min = hp->eb_t_min;
    p->t_max = hp->eb_t_max;
    p->entropy_bound = hp->eb_entropy_bound;
    p->stability_threshold = hp->eb_stability;
    p->confidence_threshold = hp->eb_confidence;
    p->max_new_tokens = hp->canvas_length;
    p->allowed = NULL;
}

int gen_params_check(const engine *e, const gen_params *p, char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = 0;
    if (!e || !p)
        return fail(err, errlen, ENGINE_EINVAL, "gen_params_check: null argument");
    if (p->max_steps < 1 || p->max_steps > 1024)
        return fail(err, errlen, ENGINE_EINVAL, "steps %u out of range 1..1024", p->max_steps);
    if (!isfinite(p->t_min) || !isfinite(p->t_max) || p->t_min <= 0 || p->t_max <= 0)
        return fail(err, errlen, ENGINE_EINVAL,
                    "temperatures must be finite and > 0 (t_min %g, t_max %g)", (double)p->t_min,
                    (double)p->t_max);
    if (p->t_min > p->t_max)
        return fail(err, errlen, ENGINE_EINVAL, "t_min %g is greater than t_max %g",
                    (double)p->t_min, (double)p->t_max);
    if (!isfinite(p->entropy_bound) || p->entropy_bound < 0)
        return fail(err, errlen, ENGINE_EINVAL, "entropy bound %g must be finite and >= 0",
                    (double)p->entropy_bound);
    if (!isfinite(p->confidence_threshold) || p->confidence_threshold < 0)
        return fail(err, errlen, ENGINE_EINVAL, "confidence threshold %g must be finite and >= 0",
                    (double)p->confidence_threshold);
    if (p->stability_threshold > 1024)
        return fail(err, errlen, ENGINE_EINVAL, "stability threshold %u out of range 0..1024",
                    p->stability_threshold);
    const model_hparams *hp = &e->m->hp;
    if (p->max_new_tokens < 1 || p->max_new_tokens > hp->context_length)
        return fail(err, errlen, ENGINE_EINVAL, "max_new_tokens %u out of range 1..%u",
                    p->max_new_tokens, hp->context_length);
    if (p->allowed) {
        uint32_t n = 0;
        for (uint32_t v = 0; v < hp->vocab; v++)
            n += p->allowed[v] != 0;
        if (n == 0)
            return fail(err, errlen, ENGINE_EINVAL, "the allowed-token mask allows no token");
    }
    const gen_restriction *r = p->restriction;
    if (r) {
        if (r->n_masks > 0xFFFFu || (r->n_masks && !r->masks))
            return fail(err, errlen, ENGINE_EINVAL, "restriction: %u masks (at most 65535)",
                        r->n_masks);
        for (uint32_t k = 0; k < r->n_masks; k++) {
            uint32_t n = 0;
            if (r->masks[k])
                for (uint32_t v = 0; v < hp->vocab; v++)
                    n += r->masks[k][v] != 0;
            if (n == 0)
                return fail(err, errlen, ENGINE_EINVAL, "restriction: mask %u allows no token", k);
        }
        for (uint32_t j = 0; j < r->n_positions; j++) {
            if (r->forced && r->forced[j] >= 0) {
                if ((uint32_t)r->forced[j] >= hp->vocab)
                    return fail(err, errlen, ENGINE_EINVAL,
                                "restriction: position %u forced to id %d outside the vocabulary "
                                "(%u)",
                                j, r->forced[j], hp->vocab);
            } else if (r->forced && r->forced[j] != -1) {
                return fail(err, errlen, ENGINE_EINVAL,
                            "restriction: position %u has forced id %d (must be >= 0 or -1)", j,
                            r->forced[j]);
            } else if (r->mask && r->mask[j] != GEN_MASK_NONE && r->mask[j] >= r->n_masks) {
                return fail(err, errlen, ENGINE_EINVAL,
                            "restriction: position %u uses mask %u of %u", j, r->mask[j],
                            r->n_masks);
            }
        }
    }
    return 0;
}

int engine_generate(engine *e, const int32_t *prompt, uint32_t n_prompt, const gen_params *p,
                    engine_step_fn on_step, void *user, gen_result *out, char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = 0;
    if (!e || !p || !out || (!prompt && n_prompt))
        return fail(err, errlen, ENGINE_EINVAL, "engine_generate: null argument");
    memset(out, 0, sizeof *out);
    int rc = gen_params_check(e, p, err, errlen);
    if (rc)
        return rc;
    if (n_prompt == 0)
        return fail(err, errlen, ENGINE_EINVAL, "empty prompt");
    for (uint32_t i = 0; i < n_prompt; i++)
        if (prompt[i] < 0 || (uint32_t)prompt[i] >= e->m->hp.vocab)
            return fail(err, errlen, ENGINE_EINVAL,
                        "prompt token %d at index %u is outside the vocabulary (%u)", prompt[i], i,
                        e->m->hp.vocab);
    sampler_ctx c = {e->ops, e->state, &e->m->hp, e->tok, e->tp, &e->sampler_prof};
    return sampler_generate(&c, prompt, n_prompt, p, on_step, user, out, err, errlen);
}

void gen_result_free(gen_result *r)
{
    if (!r)
        return;
    free(r->tokens);
    r->tokens = NULL;
    r->n_tokens = 0;
}

void engine_profile_get(const engine *e, double *seconds, int n)
{
    engine_profile *bp = e->ops->profile ? e->ops->profile(e->state) : NULL;
    for (int i = 0; i < n && i < PROF_COUNT; i++)
        seconds[i] = e->sampler_prof.seconds[i] + (bp ? bp->seconds[i] : 0.0);
}

void engine_profile_reset(engine *e)
{
    memset(&e->sampler_prof, 0, sizeof e->sampler_prof);
    engine_profile *bp = e->ops->profile ? e->ops->profile(e->state) : NULL;
    if (bp)
        memset(bp, 0, sizeof *bp);
}

void engine_weight_bytes(const engine *e, uint64_t *mapped, uint64_t *owned, int *all_mapped)
{
    if (mapped)
        *mapped = e->m->bytes_mapped;
    if (owned)
        *owned = e->m->bytes_owned;
    if (all_mapped)
        *all_mapped = e->m->all_q8_zero_copy;
}

void engine_weight_counts(const engine *e, uint32_t *n_mapped, uint32_t *n_converted,
                          const char **converted_types)
{
    *n_mapped = e->m->n_mapped;
    *n_converted = e->m->n_converted;
    *converted_types = e->m->converted_types;
}
