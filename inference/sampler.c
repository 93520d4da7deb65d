/*
 * The generation loop of diffusiongemma.md §4 with the choices of docs/arithmetic.md A9/A10.
 * Every per-position computation is independent of the others and is done by one thread, so
 * the thread count never changes a result.
 */
#include "inference/sampler.h"

#include <math.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>
#ifdef SIBYL_XXH3_DISPATCH
#include <xxh_x86dispatch.h>
#endif

#include "inference/cmath.h"
#include "inference/matmul.h"
#include "inference/philox.h"
#include "inference/tokenizer.h"
#include "inference/vmath.h"

#define CHUNK 1024
/* Leaf size of the logits hash (A9): 4096 floats = 16 KiB. */
#define LEAF_FLOATS 4096u

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

float sampler_position(const float *z, uint32_t V, const uint8_t *allowed, float u, float *e,
                       float *chunk_sums, float *H, int32_t *argmax, int32_t *drawn)
{
    float m = 0.0f;
    int32_t am = -1;
    for (uint32_t v = 0; v < V; v++)
        if ((!allowed || allowed[v]) && (am < 0 || z[v] > m)) {
            m = z[v];
            am = (int32_t)v;
        }
    float term[CHUNK];
    float S = 0.0f, Z = 0.0f;
    uint32_t nc = (V + CHUNK - 1) / CHUNK;
    for (uint32_t c = 0; c < nc; c++) {
        uint32_t b = c * CHUNK, n = V - b < CHUNK ? V - b : CHUNK;
        if (!allowed) /* e_v = cm_expf(z_v - m), term = e_v * (z_v - m), 8 ids at a time */
            vm_exp_terms(z + b, m, e + b, term, n);
        else
            for (uint32_t i = 0; i < n; i++) {
                uint32_t v = b + i;
                if (allowed[v]) {
                    float d = z[v] - m;
                    e[v] = cm_expf(d);
                    term[i] = e[v] * d;
                } else {
                    e[v] = 0.0f;
                    term[i] = 0.0f;
                }
            }
        chunk_sums[c] = sum8(e + b, n);
        S = S + chunk_sums[c];
        Z = Z + sum8(term, n);
    }
    *H = cm_logf(S) - Z / S;
    *argmax = am;
    /* Categorical draw: the chunk whose running sum first exceeds u*S, then the id inside it. */
    float target = u * S, acc = 0.0f;
    int32_t pick = -1;
    for (uint32_t c = 0; c < nc && pick < 0; c++) {
        if (!(acc + chunk_sums[c] > target)) {
            acc = acc + chunk_sums[c];
            continue;
        }
        uint32_t b = c * CHUNK, n = V - b < CHUNK ? V - b : CHUNK;
        float acc2 = acc;
        for (uint32_t i = 0; i < n; i++) {
            acc2 = acc2 + e[b + i];
            if (acc2 > target) {
                pick = (int32_t)(b + i);
                break;
            }
        }
        if (pick < 0) /* rounding: the chunk sum crossed, the sequential walk did not */
            for (uint32_t i = n; i-- > 0;)
                if (e[b + i] > 0.0f) {
                    pick = (int32_t)(b + i);
                    break;
                }
        break;
    }
    if (pick < 0)
        for (uint32_t v = V; v-- > 0;)
            if (e[v] > 0.0f) {
                pick = (int32_t)v;
                break;
            }
    *drawn = pick;
    return S;
}

float sampler_position_forced(uint32_t V, int32_t id, float *e, float *chunk_sums, float *H,
                              int32_t *argmax, int32_t *drawn)
{
    uint32_t nc = (V + CHUNK - 1) / CHUNK;
    memset(e, 0, (size_t)V * sizeof(float));
    for (uint32_t c = 0; c < nc; c++)
        chunk_sums[c] = 0.0f;
    /* As sampler_position with a mask allowing only id: m = z_id, e_id = cm_expf(0), every
     * other e_v and every entropy term +0, so S = e_id, Z = +0 and the draw is id. */
    e[id] = cm_expf(0.0f);
    chunk_sums[(uint32_t)id / CHUNK] = e[id];
    float S = e[id];
    *H = cm_logf(S) - 0.0f / S;
    *argmax = id;
    *drawn = id;
    return S;
}

/* ------------------------------------------------------------------ step work */

/* The rule of output position j (A9c): *forced >= 0, or else the mask (NULL = any id) with its
 * allowed-id list (NULL = all ids). */
typedef struct {
    const gen_restriction *r;
    const uint8_t *allowed;     /* gen_params.allowed */
    const int32_t *allowed_ids; /* its list (NULL = all) */
    uint32_t n_allowed;
    const int32_t *const *mask_ids; /* per restriction mask: its allowed ids ascending */
    const uint32_t *mask_n;
} pos_rules;

static void pos_rule(const pos_rules *pr, uint64_t j, int32_t *forced, const uint8_t **mask,
                     const int32_t **ids, uint32_t *n_ids)
{
    *forced = -1;
    *mask = pr->allowed;
    *ids = pr->allowed_ids;
    *n_ids = pr->n_allowed;
    const gen_restriction *r = pr->r;
    if (!r || j >= r->n_positions)
        return;
    if (r->forced && r->forced[j] >= 0) {
        *forced = r->forced[j];
    } else if (r->mask && r->mask[j] != GEN_MASK_NONE) {
        uint16_t k = r->mask[j];
        *mask = r->masks[k];
        *ids = pr->mask_ids[k];
        *n_ids = pr->mask_n[k];
    }
}

/* pos_rule as indices into the tables of device_begin (the restriction's masks 0..n-1, then
 * gen_params.allowed as n): the mask (-1: every id) and the renoise list (-1: [0, V)). */
static void pos_rule_index(const pos_rules *pr, uint64_t j, int32_t *forced, int32_t *mask,
                           int32_t *noise)
{
    const gen_restriction *r = pr->r;
    int32_t all = pr->allowed ? (int32_t)(r ? r->n_masks : 0) : -1;
    *forced = -1;
    *mask = *noise = all;
    if (!r || j >= r->n_positions)
        return;
    if (r->forced && r->forced[j] >= 0) {
        *forced = r->forced[j];
    } else if (r->mask && r->mask[j] != GEN_MASK_NONE) {
        *mask = r->mask[j];
        *noise = r->free_noise ? all : r->mask[j];
    }
}

/* Offers the generation's tables to a backend that samples (backend.h sample_begin): 0 = it
 * samples, 1 = the host samples, negative = error. */
static int device_begin(const sampler_ctx *c, const pos_rules *pr, char *err, size_t errlen)
{
    if (!c->ops->sample_begin || !c->ops->sample_step)
        return 1;
    uint32_t nr = pr->r ? pr->r->n_masks : 0, n = nr + (pr->allowed ? 1 : 0);
    const uint8_t **masks = calloc(n + 1, sizeof *masks);
    const int32_t **ids = calloc(n + 1, sizeof *ids);
    uint32_t *n_ids = calloc(n + 1, sizeof *n_ids);
    int rc = ENGINE_ENOMEM;
    if (masks && ids && n_ids) {
        for (uint32_t k = 0; k < nr; k++) {
            masks[k] = pr->r->masks[k];
            ids[k] = pr->mask_ids[k];
            n_ids[k] = pr->mask_n[k];
        }
        if (pr->allowed) {
            masks[nr] = pr->allowed;
            ids[nr] = pr->allowed_ids;
            n_ids[nr] = pr->n_allowed;
        }
        backend_sample_tables t = {n, masks, ids, n_ids};
        rc = c->ops->sample_begin(c->state, &t, err, errlen);
    } else {
        fail(err, errlen, rc, "out of memory");
    }
    free(masks);
    free(ids);
    free(n_ids);
    return rc;
}

typedef struct {
    const sampler_ctx *c;
    const gen_params *p;
    const float *z; /* C x V: softcapped logits, read only (hashed while the rows are sampled) */
    float *zt;      /* workers x V: one position's tempered logits */
    float *probs;   /* C x Vpad: e_v, then the SC probabilities */
    float *chunks;  /* C x nchunks */
    float *S;       /* C */
    float *H;
    int32_t *a, *y;
    float tau;
    uint32_t canvas, step;
    int sc_now;           /* also build the next step's SC input */
    uint8_t *row_hash;    /* C x 32: each row's hash (A9's logits hash, level 2) */
    int hash_rows;        /* 0: the backend already hashed the rows (backend_ops.row_hashes) */
    double *hash_seconds; /* per worker: time spent hashing (profile) */
    const pos_rules *rules;
    uint64_t first_pos; /* output position of canvas position 0 */
} step_job;

/* Self-conditioning input for the next step (A9), position i from its tempered logits z:
 * P = softmax(z) over the whole vocabulary (the allowed mask restricts choices only, not what
 * the model is shown). Without a mask the e_v and S of the statistics are reused. */
static void sc_position(const step_job *j, int i, const float *z, int masked)
{
    uint32_t V = j->c->hp->vocab, Vp = j->c->hp->vocab_pad, nc = (V + CHUNK - 1) / CHUNK;
    float *p = j->probs + (size_t)i * Vp;
    float S = j->S[i];
    if (masked) {
        float m = z[0];
        for (uint32_t v = 1; v < V; v++)
            if (z[v] > m)
                m = z[v];
        S = 0.0f;
        for (uint32_t c = 0; c < nc; c++) {
            uint32_t b0 = c * CHUNK, n = V - b0 < CHUNK ? V - b0 : CHUNK;
            vm_expf_sub(z + b0, m, p + b0, n);
            S = S + sum8(p + b0, n);
        }
    }
    for (uint32_t v = 0; v < V; v++)
        p[v] = p[v] / S;
    for (uint32_t v = V; v < Vp; v++)
        p[v] = 0.0f;
}

/* XXH3-128 of one leaf (A9), digest in xxHash's canonical byte order. libxxhash's x86 build
 * has a run-time dispatch to its AVX2/AVX-512 code (the plain entry point is its SSE2 code,
 * ~4x slower here); every variant gives the same bits (the function is specified). */
static void leaf_hash(const float *leaf, uint32_t n, uint8_t out[16])
{
#ifdef SIBYL_XXH3_DISPATCH
    XXH128_hash_t h = XXH3_128bits_dispatch(leaf, (size_t)n * sizeof(float));
#else
    XXH128_hash_t h = XXH3_128bits(leaf, (size_t)n * sizeof(float));
#endif
    XXH128_canonicalFromHash((XXH128_canonical_t *)out, h);
}

/* A row's hash (A9): sha256 over the XXH3-128 digests (16 bytes each) of the row's
 * LEAF_FLOATS-float leaves in order, so the rows and their leaves can be hashed in parallel
 * (here one row per item; on a GPU 8 threads per leaf). */
void sampler_row_hash(const float *row, uint32_t V, uint8_t out[32])
{
    uint8_t leaves[16 * 64];
    uint32_t n_leaves = (V + LEAF_FLOATS - 1) / LEAF_FLOATS, have = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned int l = 32;
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    for (uint32_t j = 0; j < n_leaves; j++) {
        uint32_t b0 = j * LEAF_FLOATS, n = V - b0 < LEAF_FLOATS ? V - b0 : LEAF_FLOATS;
        leaf_hash(row + b0, n, leaves + 16 * have);
        if (++have == 64) { /* feed the level-2 stream in batches */
            EVP_DigestUpdate(ctx, leaves, 16 * have);
            have = 0;
        }
    }
    EVP_DigestUpdate(ctx, leaves, 16 * have);
    EVP_DigestFinal_ex(ctx, out, &l);
    EVP_MD_CTX_free(ctx);
}

void sampler_logits_hash(const float *z, uint32_t C, uint32_t V, uint8_t out[32])
{
    uint8_t row[32];
    unsigned int l = 32;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    for (uint32_t i = 0; i < C; i++) {
        sampler_row_hash(z + (size_t)i * V, V, row);
        EVP_DigestUpdate(ctx, row, 32);
    }
    EVP_DigestFinal_ex(ctx, out, &l);
    EVP_MD_CTX_free(ctx);
}

/* The clock of the hash's profile row. With the CPU clock (`bench --cpu-clock`) a row's hash
 * is timed by its own thread's CPU time and the workers' times are added (the CPU work of the
 * hash, as the process clock gives for every other row): the process clock would also count
 * what the other worker does meanwhile. With the wall clock the workers' times are averaged
 * (they hash side by side). */
static double hash_clock_now(void)
{
    struct timespec ts;
    clock_gettime(prof_clock() == CLOCK_MONOTONIC ? CLOCK_MONOTONIC : CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Item i: position i's row hash, tempering, statistics, argmax, draw and (sc_now) SC input.
 * Every value is computed by one thread, so the results do not depend on the thread count. */
static void step_range(void *arg, int b, int e, int wk)
{
    step_job *j = arg;
    uint32_t V = j->c->hp->vocab, Vp = j->c->hp->vocab_pad, nc = (V + CHUNK - 1) / CHUNK;
    for (int i = b; i < e; i++) {
        const float *zr = j->z + (size_t)i * V;
        if (j->hash_rows) {
            double t0 = hash_clock_now();
            sampler_row_hash(zr, V, j->row_hash + 32 * (size_t)i);
            j->hash_seconds[wk] += hash_clock_now() - t0;
        }
        float *z = j->zt + (size_t)wk * V;
        for (uint32_t v = 0; v < V; v++)
            z[v] = zr[v] / j->tau;
        float u =
            philox_uniform(j->p->seed, j->canvas, j->step, (uint32_t)i, PHILOX_PURPOSE_CATEGORICAL);
        int32_t forced;
        const uint8_t *mask;
        const int32_t *ids;
        uint32_t n_ids;
        pos_rule(j->rules, j->first_pos + (uint64_t)i, &forced, &mask, &ids, &n_ids);
        if (forced >= 0)
            j->S[i] =
                sampler_position_forced(V, forced, j->probs + (size_t)i * Vp,
                                        j->chunks + (size_t)i * nc, &j->H[i], &j->a[i], &j->y[i]);
        else
            j->S[i] = sampler_position(z, V, mask, u, j->probs + (size_t)i * Vp,
                                       j->chunks + (size_t)i * nc, &j->H[i], &j->a[i], &j->y[i]);
        if (j->sc_now)
            sc_position(j, i, z, forced >= 0 || mask != NULL);
    }
}

/* Insertion sort by (H ascending, position ascending): deterministic, no global state. */
static void sort_by_h(const float *H, int32_t *idx, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        idx[i] = (int32_t)i;
    for (uint32_t i = 1; i < n; i++) {
        int32_t k = idx[i];
        uint32_t j = i;
        while (j > 0 && (H[idx[j - 1]] > H[k]))
            idx[j] = idx[j - 1], j--;
        idx[j] = k;
    }
}

/* ------------------------------------------------------------------ generation */

static int32_t uniform_id(const gen_params *p, const pos_rules *pr, uint64_t out_pos, uint32_t V,
                          uint32_t canvas, uint32_t step, uint32_t pos, uint32_t purpose)
{
    int32_t forced;
    const uint8_t *mask;
    const int32_t *allowed_ids;
    uint32_t n_allowed;
    pos_rule(pr, out_pos, &forced, &mask, &allowed_ids, &n_allowed);
    if (forced >= 0) /* the one id of its list: no random word is needed */
        return forced;
    if (pr->r && pr->r->free_noise) { /* A9c: noise as at an unrestricted position */
        allowed_ids = pr->allowed_ids;
        n_allowed = pr->n_allowed;
    }
    uint32_t w = philox_word(p->seed, canvas, step, pos, purpose);
    if (!allowed_ids)
        return (int32_t)philox_id_from_word(w, V);
    return allowed_ids[philox_id_from_word(w, n_allowed)];
}

static int is_end(const sampler_ctx *c, int32_t id)
{
    if (c->hp->eos_id >= 0 && id == c->hp->eos_id)
        return 1;
    return c->tok && tok_is_eog(c->tok, id);
}

/* One step on the backend's side (backend.h sample_step) with the step's inputs as the host
 * step uses them: ids at a canvas's first step (with its per-position rules rix, 3 x C), the SC
 * input from the last step, the temperature of k remaining steps of N. */
static int device_step(const sampler_ctx *c, const gen_params *p, const int32_t *x,
                       const int32_t *rix, int have_sc, uint32_t k, uint32_t N, uint32_t L,
                       uint32_t canvas, uint8_t *row_hashes, int32_t *a, uint32_t *n_acc,
                       float *mean_h, char *err, size_t errlen)
{
    uint32_t C = c->hp->canvas_length;
    backend_step bs = {.ids = k == N ? x : NULL,
                       .forced = rix,
                       .mask = rix + C,
                       .noise = rix + 2 * C,
                       .n = C,
                       .pos0 = L,
                       .have_sc = have_sc,
                       .make_sc = k != 1,
                       .tau = p->t_min + (p->t_max - p->t_min) * ((float)k / (float)N),
                       .entropy_bound = p->entropy_bound,
                       .seed = p->seed,
                       .canvas = canvas,
                       .step = N - k};
    backend_step_out bo = {.row_hashes = row_hashes, .argmax = a};
    int rc = c->ops->sample_step(c->state, &bs, &bo, err, errlen);
    *n_acc = bo.n_accepted;
    *mean_h = bo.mean_entropy;
    return rc;
}

int sampler_generate(const sampler_ctx *c, const int32_t *prompt, uint32_t n_prompt,
                     const gen_params *p, engine_step_fn on_step, void *user, gen_result *out,
                     char *err, size_t errlen)
{
    const model_hparams *hp = c->hp;
    uint32_t C = hp->canvas_length, V = hp->vocab, Vp = hp->vocab_pad;
    uint32_t nc = (V + CHUNK - 1) / CHUNK, N = p->max_steps;
    memset(out, 0, sizeof *out);
    if (n_prompt == 0)
        return fail(err, errlen, ENGINE_EINVAL, "empty prompt");
    uint64_t n_canvas = ((uint64_t)p->max_new_tokens + C - 1) / C;
    uint64_t need = (uint64_t)n_prompt + n_canvas * C;
    if (need > hp->context_length)
        return fail(err, errlen, ENGINE_ETOOLONG,
                    "prompt of %u tokens plus %llu canvas(es) of %u needs %llu positions; the "
                    "model's context is %u",
                    n_prompt, (unsigned long long)n_canvas, C, (unsigned long long)need,
                    hp->context_length);
    double t_start = prof_now();
    int rc = 0;
    size_t CV = (size_t)C * V;
    float *z = malloc(CV * sizeof(float));
    float *probs = malloc((size_t)C * Vp * sizeof(float));
    int n_workers = c->tp ? tp_threads(c->tp) : 1;
    float *zt = malloc((size_t)n_workers * V * sizeof(float));
    uint8_t *row_hashes = malloc((size_t)C * 32);
    double *hash_secs = malloc((size_t)n_workers * sizeof(double));
    float *chunks = malloc((size_t)C * nc * sizeof(float));
    float *S = malloc(C * sizeof(float)), *H = malloc(C * sizeof(float));
    int32_t *a = malloc(C * sizeof(int32_t)), *y = malloc(C * sizeof(int32_t));
    int32_t *x = malloc(C * sizeof(int32_t)), *aprev = malloc(C * sizeof(int32_t));
    int32_t *order = malloc(C * sizeof(int32_t));
    uint8_t *acc_mask = malloc(C);
    int32_t *tokens = malloc((size_t)n_canvas * C * sizeof(int32_t));
    int32_t *rix = malloc((size_t)3 * C * sizeof(int32_t)); /* device step: per-position rules */
    int32_t *allowed_ids = NULL;
    uint32_t n_allowed = V;
    const gen_restriction *rs = p->restriction;
    int32_t **mask_ids = NULL;
    uint32_t *mask_n = NULL;
    EVP_MD_CTX *trace = EVP_MD_CTX_new();
    if (!z || !zt || !row_hashes || !hash_secs || !probs || !chunks || !S || !H || !a || !y || !x ||
        !aprev || !order || !acc_mask || !tokens || !trace) {
        rc = fail(err, errlen, ENGINE_ENOMEM, "out of memory for the sampler buffers");
        goto done;
    }
    if (!rix) {
        rc = fail(err, errlen, ENGINE_ENOMEM, "out of memory for the sampler buffers");
        goto done;
    }
    if (p->allowed) {
        allowed_ids = malloc((size_t)V * sizeof(int32_t));
        if (!allowed_ids) {
            rc = fail(err, errlen, ENGINE_ENOMEM, "out of memory");
            goto done;
        }
        n_allowed = 0;
        for (uint32_t v = 0; v < V; v++)
            if (p->allowed[v])
                allowed_ids[n_allowed++] = (int32_t)v;
        if (n_allowed == 0) {
            rc = fail(err, errlen, ENGINE_EINVAL, "the allowed-token mask allows no token");
            goto done;
        }
    }
    if (rs && rs->n_masks) {
        mask_ids = calloc(rs->n_masks, sizeof *mask_ids);
        mask_n = calloc(rs->n_masks, sizeof *mask_n);
        if (!mask_ids || !mask_n) {
            rc = fail(err, errlen, ENGINE_ENOMEM, "out of memory");
            goto done;
        }
        for (uint32_t k = 0; k < rs->n_masks; k++) {
            uint32_t n = 0;
            for (uint32_t v = 0; v < V; v++)
                n += rs->masks[k][v] != 0;
            if (n == 0) {
                rc = fail(err, errlen, ENGINE_EINVAL, "restriction mask %u allows no token", k);
                goto done;
            }
            if (!(mask_ids[k] = malloc((size_t)n * sizeof(int32_t)))) {
                rc = fail(err, errlen, ENGINE_ENOMEM, "out of memory");
                goto done;
            }
            for (uint32_t v = 0; v < V; v++)
                if (rs->masks[k][v])
                    mask_ids[k][mask_n[k]++] = (int32_t)v;
        }
    }
    pos_rules rules = {rs,    p->allowed, allowed_ids, n_allowed, (const int32_t *const *)mask_ids,
                       mask_n};
    if ((rc = device_begin(c, &rules, err, errlen)) < 0)
        goto done;
    int on_device = rc == 0;
    rc = 0;
    EVP_DigestInit_ex(trace, EVP_sha256(), NULL);
    if ((rc = c->ops->reset(c->state, (uint32_t)need, err, errlen)))
        goto done;
    if ((rc = c->ops->encode(c->state, prompt, n_prompt, 0, err, errlen)))
        goto done;
    uint32_t L = n_prompt, n_tok = 0;
    for (uint32_t canvas = 0; canvas < n_canvas; canvas++) {
        for (uint32_t i = 0; i < C; i++) {
            x[i] = uniform_id(p, &rules, (uint64_t)canvas * C + i, V, canvas, 0, i,
                              PHILOX_PURPOSE_INIT_ID);
            aprev[i] = -1;
            pos_rule_index(&rules, (uint64_t)canvas * C + i, rix + i, rix + C + i, rix + 2 * C + i);
        }
        uint32_t run = 0;
        int have_sc = 0;
        for (uint32_t k = N; k >= 1; k--) {
            uint32_t step = N - k, n_acc = 0;
            double t1, hash_wall = 0.0;
            float mean_h;
            engine_step st;
            memset(&st, 0, sizeof st);
            if (on_device) { /* the step on the backend's side (backend.h sample_step) */
                if ((rc = device_step(c, p, x, rix, have_sc, k, N, L, canvas, row_hashes, a, &n_acc,
                                      &mean_h, err, errlen)))
                    goto done;
                out->n_steps++;
                t1 = prof_now();
                unsigned int hl = 32;
                EVP_Digest(row_hashes, (size_t)C * 32, st.logits_hash, &hl, EVP_sha256(), NULL);
                EVP_DigestUpdate(trace, st.logits_hash, 32);
                goto step_done; /* past the host step */
            }
            if ((rc = c->ops->decode(c->state, x, C, L, have_sc ? probs : NULL, z, err, errlen)))
                goto done;
            out->n_steps++;
            t1 = prof_now();
            /* The SC input of the next step is built with the statistics (it depends only on
             * this step's logits); the last step of a canvas needs none. */
            step_job j = {.c = c,
                          .p = p,
                          .z = z,
                          .zt = zt,
                          .probs = probs,
                          .chunks = chunks,
                          .S = S,
                          .H = H,
                          .a = a,
                          .y = y,
                          .canvas = canvas,
                          .step = step,
                          .sc_now = k != 1,
                          .row_hash = row_hashes,
                          .hash_rows = 1,
                          .hash_seconds = hash_secs,
                          .rules = &rules,
                          .first_pos = (uint64_t)canvas * C};
            j.tau = p->t_min + (p->t_max - p->t_min) * ((float)k / (float)N);
            for (int w = 0; w < n_workers; w++)
                hash_secs[w] = 0.0;
            j.hash_rows = c->ops->row_hashes == NULL;
            if (!j.hash_rows && (rc = c->ops->row_hashes(c->state, C, row_hashes, err, errlen)))
                goto done;
            tp_parallel_for_dynamic(c->tp, (int)C, 1, step_range, &j);
            unsigned int hl = 32;
            EVP_Digest(row_hashes, (size_t)C * 32, st.logits_hash, &hl, EVP_sha256(), NULL);
            EVP_DigestUpdate(trace, st.logits_hash, 32);
            /* wall: the workers hashed side by side (their mean); CPU clock: the sum of
             * their CPU times (hash_clock_now) */
            for (int w = 0; w < n_workers; w++)
                hash_wall += hash_secs[w];
            if (prof_clock() == CLOCK_MONOTONIC)
                hash_wall /= n_workers;
            if (c->prof)
                c->prof->seconds[PROF_HASH] += hash_wall;
            /* Entropy-bound acceptance (A9). */
            sort_by_h(H, order, C);
            float acc = 0.0f;
            for (uint32_t r = 0; r < C; r++) {
                int32_t i = order[r];
                acc_mask[i] = acc <= p->entropy_bound;
                n_acc += acc_mask[i];
                acc = acc + H[i];
            }
            for (uint32_t i = 0; i < C; i++)
                x[i] = acc_mask[i] ? y[i]
                                   : uniform_id(p, &rules, (uint64_t)canvas * C + i, V, canvas,
                                                step, i, PHILOX_PURPOSE_RENOISE_ID);
            float hsum = 0.0f;
            for (uint32_t i = 0; i < C; i++)
                hsum = hsum + H[i];
            mean_h = hsum / (float)C;
        step_done:;
            int same = memcmp(a, aprev, C * sizeof(int32_t)) == 0;
            run = same ? run + 1 : 0;
            memcpy(aprev, a, C * sizeof(int32_t));
            int stop = run >= p->stability_threshold && mean_h < p->confidence_threshold;
            if (c->prof) { /* the rest of the step's wall time */
                double rest = prof_now() - t1 - hash_wall;
                c->prof->seconds[PROF_SAMPLER] += rest > 0.0 ? rest : 0.0;
            }
            if (on_step) {
                st.canvas = (int)canvas;
                st.step = (int)step;
                st.argmax = a;
                st.canvas_length = C;
                st.mean_entropy = mean_h;
                st.n_accepted = n_acc;
                if (on_step(user, &st)) {
                    rc = fail(err, errlen, ENGINE_ECANCELLED,
                              "generation cancelled at canvas %u step %u", canvas, step);
                    goto done;
                }
            }
            if (stop || k == 1)
                break;
            have_sc = 1;
        }
        /* Commit the argmax canvas. */
        out->n_canvases++;
        uint32_t keep = C;
        int end = 0;
        for (uint32_t i = 0; i < C; i++)
            if (is_end(c, a[i])) {
                keep = i + 1;
                end = 1;
                break;
            }
        if (n_tok + keep >= p->max_new_tokens) {
            if (n_tok + keep > p->max_new_tokens)
                keep = p->max_new_tokens - n_tok;
            end = 1;
        }
        memcpy(tokens + n_tok, a, keep * sizeof(int32_t));
        n_tok += keep;
        if (end || canvas + 1 == n_canvas)
            break;
        if ((rc = c->ops->encode(c->state, a, C, L, err, errlen)))
            goto done;
        L += C;
    }
    for (uint32_t i = 0; i < n_tok; i++) {
        uint8_t le[4] = {(uint8_t)tokens[i], (uint8_t)(tokens[i] >> 8), (uint8_t)(tokens[i] >> 16),
                         (uint8_t)((uint32_t)tokens[i] >> 24)};
        EVP_DigestUpdate(trace, le, 4);
    }
    unsigned int tl = 32;
    EVP_DigestFinal_ex(trace, out->trace_hash, &tl);
    out->tokens = tokens;
    out->n_tokens = n_tok;
    tokens = NULL;
    out->seconds = prof_now() - t_start;
done:
    if (rc) {
        uint32_t keep_steps = out->n_steps, keep_canvases = out->n_canvases;
        memset(out, 0, sizeof *out);
        out->n_steps = keep_steps;
        out->n_canvases = keep_canvases;
    }
    EVP_MD_CTX_free(trace);
    free(z);
    free(zt);
    free(row_hashes);
    free(hash_secs);
    free(probs);
    free(chunks);
    free(S);
    free(H);
    free(a);
    free(y);
    free(x);
    free(aprev);
    free(order);
    free(acc_mask);
    free(tokens);
    free(rix);
    free(allowed_ids);
    if (mask_ids)
        for (uint32_t k = 0; k < rs->n_masks; k++)
            free(mask_ids[k]);
    free(mask_ids);
    free(mask_n);
    return rc;
}
