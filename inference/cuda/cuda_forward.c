/*
 * The CUDA backend (backend.h): DiffusionGemma's encoder and decoder passes on the GPU, the
 * same operations in the same order as the CPU backend (forward.c), so the logits are
 * bit-identical (docs/arithmetic.md; every kernel is checked against the CPU by
 * tests/cuda/test_cuda_kernels.c, whole passes by the golden fixtures on the device).
 *
 * Weights are uploaded once at create (after checking that they fit the GPU's free memory).
 * Activations, KV cache and all intermediate values stay on the device. A decoder pass
 * (decode) downloads its logits and takes the self-conditioning probabilities from the host
 * sampler; a whole step (sample_step) keeps the logits, the next ids and the SC input on the
 * device, returns only row hashes, argmax and two scalars, and from a canvas's second step on
 * replays a CUDA graph of the pass and the sampler.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inference/backend.h"
#include "inference/cmath.h"
#include "inference/cuda_backend.h"
#include "inference/model.h"

#define EINVAL_ (-1)
#define EMODEL_ (-2)
#define ENOMEM_ (-4)
#define EBACKEND_ (-5)

typedef struct {
    block_q8_0 *wq, *wk, *wv, *wo, *gate, *up, *down, *router;
    block_q8_0 *gu_exps, *g_exps, *u_exps, *down_exps;
    float *attn_norm, *q_norm, *k_norm, *post_attn_norm, *ffn_norm, *post1, *pre2, *post2, *post;
    float *router_scale, *exp_scale;
} dev_layer;

typedef struct {
    const model *m;
    cuda_ctx *c;
    uint32_t T, cap, n_cached;
    size_t kmax, big_cols;
    dev_layer *L;
    block_q8_0 *emb, *emb_t, *sc_gate, *sc_up, *sc_down;
    float *out_norm, *sc_pre_norm, *freq[2];
    float **kc, **vc;
    float *x, *r, *h, *q, *k, *v, *att, *tmp, *mlp, *moe, *gate, *up, *embx, *rlog, *top_w;
    float *e_gu, *e_act, *e_out, *scores, *logits, *probs;
    uint8_t *leaf_hashes, *row_hashes; /* the logits hash tree's device levels (A9) */
    int8_t *aq, *bq;
    float *ad, *bd;
    int32_t *ids, *top_e, *exp_off, *exp_rows, *slot_row;
    /* the device step (sample_step): per-position results and scratch, the step's scalars, the
     * rules (per position, and the generation's tables from sample_begin) */
    float *smp_m, *smp_S, *smp_H, *smp_chunks;
    int32_t *smp_draw, *smp_res, *smp_rix, *host_res;
    cuk_step_params *smp_par;
    uint8_t *tab_masks;
    int32_t *tab_lists, *tab_off;
    uint32_t n_tables;
    int sampler_on, graphs_on, capturing, x_ready, sc_ready;
    cuda_graph *graph; /* the captured step: valid for graph_pos0 and graph_n */
    int graph_ok;
    uint32_t graph_pos0, graph_n;
    void **allocs;
    size_t n_allocs, cap_allocs;
    size_t weight_bytes;
    cuk_mm_kind mm_kind; /* SIBYL_CUDA_MATMUL=dp4a selects the simple path (same bits) */
    engine_profile prof;
} cuda_state;

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

/* ---------------------------------------------------------------- device memory */

static void *dalloc(cuda_state *s, size_t bytes, char *err, size_t errlen)
{
    void *p = NULL;
    if (s->n_allocs == s->cap_allocs) {
        size_t nc = s->cap_allocs ? 2 * s->cap_allocs : 64;
        void **na = realloc(s->allocs, nc * sizeof *na);
        if (!na)
            return NULL;
        s->allocs = na;
        s->cap_allocs = nc;
    }
    if (cuda_alloc(s->c, bytes, &p, err, errlen))
        return NULL;
    s->allocs[s->n_allocs++] = p;
    return p;
}

static void *dup_dev(cuda_state *s, const void *src, size_t bytes, char *err, size_t errlen)
{
    void *p = dalloc(s, bytes, err, errlen);
    if (p && bytes && cuda_upload(s->c, p, src, bytes, err, errlen))
        return NULL;
    return p;
}

/* A device copy that is not in the state's allocation list (freed by its owner). */
static void *dup_tmp(cuda_state *s, const void *src, size_t bytes, char *err, size_t errlen)
{
    void *p = NULL;
    if (cuda_alloc(s->c, bytes, &p, err, errlen))
        return NULL;
    if (cuda_upload(s->c, p, src, bytes, err, errlen)) {
        cuda_free(s->c, p);
        return NULL;
    }
    return p;
}

static size_t q8_bytes(const q8_weight *w)
{
    return w->blocks ? (size_t)w->rows * (size_t)(w->cols / QK) * sizeof(block_q8_0) : 0;
}

/* Every weight the device needs, as (host pointer, bytes) pairs; used twice: to size the
 * upload before starting it, then to do it. */
typedef struct {
    const void *src;
    size_t bytes;
    void **dst;
} upload_item;

static size_t collect_uploads(cuda_state *s, upload_item *items)
{
    const model *m = s->m;
    const model_hparams *hp = &m->hp;
    size_t n = 0, H = hp->hidden, E = hp->n_exp, F = hp->exp_ff;
#define ITEM(p, b, d)                                                                              \
    do {                                                                                           \
        if ((p) && (b) != 0) {                                                                     \
            if (items)                                                                             \
                items[n] = (upload_item){(p), (b), (void **)(d)};                                  \
            n++;                                                                                   \
        }                                                                                          \
    } while (0)
#define Q8(w, d) ITEM((w).blocks, q8_bytes(&(w)), d)
#define F32(p, cnt, d) ITEM(p, (size_t)(cnt) * sizeof(float), d)
    Q8(m->tok_embd, &s->emb);
    Q8(m->tok_embd_t, &s->emb_t);
    Q8(m->sc_gate, &s->sc_gate);
    Q8(m->sc_up, &s->sc_up);
    Q8(m->sc_down, &s->sc_down);
    F32(m->output_norm, H, &s->out_norm);
    F32(m->sc_pre_norm, H, &s->sc_pre_norm);
    for (uint32_t l = 0; l < hp->n_layers; l++) {
        const model_layer *L = &m->layers[l];
        dev_layer *D = &s->L[l];
        size_t nbH = H / QK, nbF = F / QK;
        Q8(L->wq, &D->wq);
        Q8(L->wk, &D->wk);
        Q8(L->wv, &D->wv);
        Q8(L->wo, &D->wo);
        Q8(L->ffn_gate, &D->gate);
        Q8(L->ffn_up, &D->up);
        Q8(L->ffn_down, &D->down);
        F32(L->attn_norm, H, &D->attn_norm);
        F32(L->q_norm, L->head_dim, &D->q_norm);
        F32(L->k_norm, L->head_dim, &D->k_norm);
        F32(L->post_attn_norm, H, &D->post_attn_norm);
        F32(L->ffn_norm, H, &D->ffn_norm);
        F32(L->post_ffw_norm_1, H, &D->post1);
        F32(L->post_ffw_norm, H, &D->post);
        if (E) {
            Q8(L->router, &D->router);
            F32(L->router_scale, H, &D->router_scale);
            F32(L->pre_ffw_norm_2, H, &D->pre2);
            F32(L->post_ffw_norm_2, H, &D->post2);
            F32(L->down_exps_scale, E, &D->exp_scale);
            size_t per = F * nbH * sizeof(block_q8_0);
            if (L->fused)
                ITEM(L->gate_up_exps, E * 2 * per, &D->gu_exps);
            else {
                ITEM(L->gate_exps, E * per, &D->g_exps);
                ITEM(L->up_exps, E * per, &D->u_exps);
            }
            ITEM(L->down_exps, E * H * nbF * sizeof(block_q8_0), &D->down_exps);
        }
    }
#undef ITEM
#undef Q8
#undef F32
    return n;
}

/* Activation and KV bytes for T rows and `cap` cached positions. */
static size_t state_bytes(const model *m, uint32_t T, uint32_t cap, size_t *kmax_out,
                          size_t *big_out)
{
    const model_hparams *hp = &m->hp;
    size_t H = hp->hidden, D = hp->head_dim > hp->head_dim_swa ? hp->head_dim : hp->head_dim_swa;
    size_t nq = (size_t)hp->n_head * D, maxkv = 0, kv = 0;
    for (uint32_t l = 0; l < hp->n_layers; l++) {
        size_t w = (size_t)m->layers[l].n_kv * m->layers[l].head_dim;
        if (w > maxkv)
            maxkv = w;
        kv += 2 * w * ((size_t)cap + T) * sizeof(float);
    }
    size_t F = hp->exp_ff, E = hp->n_exp, K = hp->n_exp_used ? hp->n_exp_used : 1;
    size_t ffmax = hp->ff > 2 * F ? hp->ff : 2 * F;
    size_t kmax = H > nq ? H : nq;
    if (ffmax > kmax)
        kmax = ffmax;
    size_t big = kmax > hp->vocab_pad ? kmax : hp->vocab_pad;
    size_t big_rows_cols = (size_t)T * big;
    if ((size_t)T * K * (F ? F : 1) > big_rows_cols)
        big_rows_cols = (size_t)T * K * F;
    *kmax_out = kmax;
    *big_out = big_rows_cols;
    size_t f = 0;
    f += (size_t)T * H * 9; /* x r h tmp mlp moe embx + spare */
    f += (size_t)T * nq * 2 + (size_t)T * maxkv * 2;
    f += (size_t)T * ffmax * 2;
    f += (size_t)T * (E ? E : 1) + (size_t)T * K;
    f += (size_t)T * K * (2 * F + F + H);                   /* expert scratch */
    f += (size_t)T * hp->n_head * ((size_t)cap + T);        /* attention scores */
    f += (size_t)T * hp->vocab + (size_t)T * hp->vocab_pad; /* logits, SC probabilities */
    f += (size_t)T * (2 * ((hp->vocab + 1023) / 1024) + 8); /* device sampler */
    size_t bytes = f * sizeof(float) + kv;
    bytes += (size_t)T * kmax * (1 + sizeof(float) / QK) + big_rows_cols * (1 + sizeof(float) / QK);
    bytes += (size_t)T * (2 * K + 4) * sizeof(int32_t) + ((size_t)E + 1) * sizeof(int32_t);
    return bytes;
}

static void cuda_destroy(void *state)
{
    cuda_state *s = state;
    if (!s)
        return;
    if (s->c) {
        char err[256];
        cuda_sync(s->c, err, sizeof err);
        for (size_t i = 0; i < s->n_allocs; i++)
            cuda_free(s->c, s->allocs[i]);
        for (uint32_t l = 0; s->kc && l < s->m->hp.n_layers; l++) {
            cuda_free(s->c, s->kc[l]);
            cuda_free(s->c, s->vc[l]);
        }
        cuda_free(s->c, s->scores);
        cuda_free(s->c, s->tab_masks);
        cuda_free(s->c, s->tab_lists);
        cuda_free(s->c, s->tab_off);
        cuda_graph_destroy(s->graph);
        cuda_ctx_destroy(s->c);
    }
    free(s->host_res);
    free(s->allocs);
    free(s->L);
    free(s->kc);
    free(s->vc);
    free(s);
}

/* The CPU backend's rotation frequencies (forward.c make_freqs), computed the same way. */
static void make_freqs(const model *m, int sliding, float *f)
{
    const model_hparams *hp = &m->hp;
    uint32_t n_rot = sliding ? hp->rope_dims_swa : hp->rope_dims;
    float theta = sliding ? hp->rope_base_swa : hp->rope_base;
    float lt = cm_logf(theta);
    for (uint32_t i = 0; i < n_rot / 2; i++) {
        float fi = cm_expf(-((float)(2 * i) / (float)n_rot) * lt);
        if (!sliding && m->rope_freqs) {
            float div = m->rope_freqs[i];
            fi = div >= 1e29f ? 0.0f : fi / div;
        }
        f[i] = fi;
    }
}

#define GIB(b) ((double)(b) / (1024.0 * 1024.0 * 1024.0))

static int cuda_create(const model *m, threadpool *tp, void **state, char *err, size_t errlen)
{
    (void)tp;
    const model_hparams *hp = &m->hp;
    *state = NULL;
    cuda_device_info info;
    char why[256];
    if (cuda_probe(&info, why, sizeof why))
        return fail(err, errlen, EBACKEND_, "backend cuda unavailable: %s (use --backend cpu)",
                    why);
    for (uint32_t l = 0; l < hp->n_layers; l++) {
        const model_layer *L = &m->layers[l];
        if (L->sliding && hp->sliding_window < 2)
            return fail(err, errlen, EMODEL_, "model: layer %u is sliding but sliding_window is %u",
                        l, hp->sliding_window);
        if (hp->n_head % L->n_kv)
            return fail(err, errlen, EMODEL_, "model: layer %u: %u heads over %u KV heads", l,
                        hp->n_head, L->n_kv);
    }
    if (hp->canvas_length > 1024)
        return fail(err, errlen, EMODEL_, "backend cuda: canvas of %u positions (at most 1024)",
                    hp->canvas_length);
    cuda_state *s = calloc(1, sizeof *s);
    if (!s)
        return fail(err, errlen, ENOMEM_, "out of memory");
    s->m = m;
    s->T = hp->canvas_length;
    const char *mk = getenv("SIBYL_CUDA_MATMUL");
    s->mm_kind = mk && !strcmp(mk, "dp4a") ? CUK_MM_DP4A : CUK_MM_MMA;
    /* SIBYL_CUDA_SAMPLER=host: sample on the host (decode + download); SIBYL_CUDA_GRAPH=0: the
     * device step without graphs (both give the same bits; they isolate a problem);
     * SIBYL_CUDA_GRAPH=require: a failing graph is an error instead of a warning and eager
     * steps (the GPU tests). */
    const char *sm = getenv("SIBYL_CUDA_SAMPLER"), *gr = getenv("SIBYL_CUDA_GRAPH");
    s->sampler_on = !(sm && !strcmp(sm, "host"));
    s->graphs_on = gr && !strcmp(gr, "0") ? 0 : gr && !strcmp(gr, "require") ? 2 : 1;
    s->L = calloc(hp->n_layers, sizeof *s->L);
    s->kc = calloc(hp->n_layers, sizeof(float *));
    s->vc = calloc(hp->n_layers, sizeof(float *));
    if (!s->L || !s->kc || !s->vc) {
        cuda_destroy(s);
        return fail(err, errlen, ENOMEM_, "out of memory");
    }
    /* Size everything before the first upload: a model that does not fit is refused whole. */
    size_t n_items = collect_uploads(s, NULL);
    upload_item *items = calloc(n_items ? n_items : 1, sizeof *items);
    if (!items) {
        cuda_destroy(s);
        return fail(err, errlen, ENOMEM_, "out of memory");
    }
    collect_uploads(s, items);
    size_t wbytes = 0;
    for (size_t i = 0; i < n_items; i++)
        wbytes += items[i].bytes;
    size_t sbytes = state_bytes(m, s->T, s->T, &s->kmax, &s->big_cols);
    size_t need = wbytes + sbytes + ((size_t)256 << 20); /* + runtime and fragmentation */
    if (need > info.free_mem) {
        free(items);
        cuda_destroy(s);
        return fail(err, errlen, ENOMEM_,
                    "backend cuda: the model does not fit on %s: weights %.2f GiB + buffers "
                    "%.2f GiB, but only %.2f GiB of %.2f GiB are free (nothing was uploaded)",
                    info.name, GIB(wbytes), GIB(sbytes), GIB(info.free_mem), GIB(info.total_mem));
    }
    s->weight_bytes = wbytes;
    if (cuda_ctx_create(0, &s->c, err, errlen)) {
        free(items);
        cuda_destroy(s);
        return EBACKEND_;
    }
    for (size_t i = 0; i < n_items; i++)
        if (!(*items[i].dst = dup_dev(s, items[i].src, items[i].bytes, err, errlen))) {
            free(items);
            cuda_destroy(s);
            return ENOMEM_;
        }
    free(items);
    /* RoPE tables */
    float fr[2][1024];
    for (int sl = 0; sl < 2; sl++) {
        uint32_t half = (sl ? hp->rope_dims_swa : hp->rope_dims) / 2;
        if (half > 1024) {
            cuda_destroy(s);
            return fail(err, errlen, EMODEL_, "model: %u rotary dims (at most 2048)", 2 * half);
        }
        make_freqs(m, sl, fr[sl]);
        if (!(s->freq[sl] = dup_dev(s, fr[sl], (half ? half : 1) * sizeof(float), err, errlen))) {
            cuda_destroy(s);
            return ENOMEM_;
        }
    }
    /* activations */
    size_t T = s->T, H = hp->hidden;
    size_t D = hp->head_dim > hp->head_dim_swa ? hp->head_dim : hp->head_dim_swa;
    size_t nq = (size_t)hp->n_head * D, maxkv = 0;
    for (uint32_t l = 0; l < hp->n_layers; l++) {
        size_t w = (size_t)m->layers[l].n_kv * m->layers[l].head_dim;
        if (w > maxkv)
            maxkv = w;
    }
    size_t F = hp->exp_ff ? hp->exp_ff : 1, E = hp->n_exp ? hp->n_exp : 1;
    size_t K = hp->n_exp_used ? hp->n_exp_used : 1;
    size_t ffmax = hp->ff > 2 * F ? hp->ff : 2 * F;
    float **fbufs[] = {&s->x, &s->r, &s->h, &s->tmp, &s->mlp, &s->moe, &s->embx};
    for (size_t i = 0; i < sizeof fbufs / sizeof *fbufs; i++)
        if (!(*fbufs[i] = dalloc(s, T * H * sizeof(float), err, errlen)))
            goto oom;
#define A(p, bytes)                                                                                \
    if (!((p) = dalloc(s, (bytes), err, errlen)))                                                  \
    goto oom
    A(s->q, T * nq * sizeof(float));
    A(s->att, T * nq * sizeof(float));
    A(s->k, T * maxkv * sizeof(float));
    A(s->v, T * maxkv * sizeof(float));
    A(s->gate, T * ffmax * sizeof(float));
    A(s->up, T * ffmax * sizeof(float));
    A(s->rlog, T * E * sizeof(float));
    A(s->top_w, T * K * sizeof(float));
    A(s->e_gu, T * K * 2 * F * sizeof(float));
    A(s->e_act, T * K * F * sizeof(float));
    A(s->e_out, T * K * H * sizeof(float));
    A(s->logits, T * hp->vocab * sizeof(float));
    A(s->leaf_hashes, T * ((hp->vocab + 4095) / 4096) * 16);
    A(s->row_hashes, T * 32);
    A(s->probs, T * hp->vocab_pad * sizeof(float));
    A(s->aq, T * s->kmax);
    A(s->ad, T * s->kmax / QK * sizeof(float));
    A(s->bq, s->big_cols);
    A(s->bd, s->big_cols / QK * sizeof(float));
    A(s->ids, T * sizeof(int32_t));
    A(s->top_e, T * K * sizeof(int32_t));
    A(s->exp_rows, T * K * sizeof(int32_t));
    A(s->slot_row, T * K * sizeof(int32_t));
    A(s->exp_off, (E + 1) * sizeof(int32_t));
    size_t nch = (hp->vocab + 1023) / 1024;
    A(s->smp_m, T * sizeof(float));
    A(s->smp_S, T * sizeof(float));
    A(s->smp_H, T * sizeof(float));
    A(s->smp_chunks, T * 2 * nch * sizeof(float));
    A(s->smp_draw, T * sizeof(int32_t));
    A(s->smp_res, (T + 2) * sizeof(int32_t));
    A(s->smp_rix, 3 * T * sizeof(int32_t));
    A(s->smp_par, sizeof(cuk_step_params));
#undef A
    if (!(s->host_res = malloc((T + 2) * sizeof(int32_t))))
        goto oom;
    if (cuda_sync(s->c, err, errlen)) {
        cuda_destroy(s);
        return EBACKEND_;
    }
    *state = s;
    return 0;
oom:
    cuda_destroy(s);
    return ENOMEM_;
}

static int cuda_reset(void *state, uint32_t capacity, char *err, size_t errlen)
{
    cuda_state *s = state;
    const model *m = s->m;
    s->n_cached = 0;
    s->graph_ok = 0; /* the cache and score buffers are kernel arguments of a captured step */
    s->x_ready = s->sc_ready = 0;
    if (capacity <= s->cap)
        return 0;
    char why[256];
    if (cuda_sync(s->c, err, errlen))
        return EBACKEND_;
    for (uint32_t l = 0; l < m->hp.n_layers; l++) { /* the old cache goes before the new one */
        cuda_free(s->c, s->kc[l]);
        cuda_free(s->c, s->vc[l]);
        s->kc[l] = s->vc[l] = NULL;
    }
    cuda_free(s->c, s->scores);
    s->scores = NULL;
    s->cap = 0;
    size_t free_b = 0;
    cuda_device_info info;
    if (!cuda_probe(&info, why, sizeof why))
        free_b = info.free_mem;
    size_t need = 0;
    for (uint32_t l = 0; l < m->hp.n_layers; l++)
        need += 2 * (size_t)m->layers[l].n_kv * m->layers[l].head_dim * ((size_t)capacity + s->T) *
                sizeof(float);
    need += (size_t)s->T * m->hp.n_head * ((size_t)capacity + s->T) * sizeof(float);
    if (need > free_b)
        return fail(err, errlen, ENOMEM_,
                    "backend cuda: a KV cache of %u positions needs %.2f GiB, %.2f GiB free",
                    capacity, GIB(need), GIB(free_b));
    for (uint32_t l = 0; l < m->hp.n_layers; l++) {
        size_t bytes = ((size_t)capacity + s->T) * (size_t)m->layers[l].n_kv *
                       m->layers[l].head_dim * sizeof(float);
        /* + T: the decoder's canvas K,V sit after the cached positions during a pass */
        if (cuda_alloc(s->c, bytes, (void **)&s->kc[l], err, errlen) ||
            cuda_alloc(s->c, bytes, (void **)&s->vc[l], err, errlen))
            return ENOMEM_;
    }
    if (cuda_alloc(s->c, (size_t)s->T * m->hp.n_head * ((size_t)capacity + s->T) * sizeof(float),
                   (void **)&s->scores, err, errlen))
        return ENOMEM_;
    s->cap = capacity;
    return 0;
}

/* ---------------------------------------------------------------- pass pieces */

/* Launch failures are reported by the kernels; the pass checks with a sync at its end. */
#define K(call)                                                                                    \
    do {                                                                                           \
        if ((call) != 0)                                                                           \
            return fail(err, errlen, EBACKEND_, "backend cuda: %s failed", #call);                 \
    } while (0)

/* Device timeline (bench breakdown): each mark starts an interval booked to `op`. */
#define MARK(op) (s->capturing ? 0 : cuda_mark(s->c, (int)(op))) /* no events in a graph */
#define MARK_END 255 /* closes the last interval; booked nowhere */

static int quant(cuda_state *s, const float *x, int rows, int cols, int big, char *err,
                 size_t errlen)
{
    MARK(PROF_ELEMWISE);
    K(cuk_q8_quantize(s->c, x, rows, cols, big ? s->bq : s->aq, big ? s->bd : s->ad));
    return 0;
}

static int mm_op(cuda_state *s, prof_op op, const block_q8_0 *w, int wrows, int cols, int rows,
                 int big, float *y, int ldy, char *err, size_t errlen)
{
    MARK(op);
    K(cuk_q8_matmul(s->c, s->mm_kind, w, wrows, cols, big ? s->bq : s->aq, big ? s->bd : s->ad,
                    rows, y, ldy));
    return 0;
}

/* Dense gated MLP: out = Down(gelu(Gate a) * Up a), a = rmsnorm(in, w). */
static int dense_mlp(cuda_state *s, prof_op op, const float *in, const float *w,
                     const block_q8_0 *wg, const block_q8_0 *wu, const block_q8_0 *wd, float *out,
                     int T, char *err, size_t errlen)
{
    const model_hparams *hp = &s->m->hp;
    int H = (int)hp->hidden, F = (int)hp->ff;
    MARK(PROF_ELEMWISE);
    K(cuk_rmsnorm(s->c, in, w, s->h, T, H, hp->eps));
    if (quant(s, s->h, T, H, 0, err, errlen) ||
        mm_op(s, op, wg, F, H, T, 0, s->gate, F, err, errlen) ||
        mm_op(s, op, wu, F, H, T, 0, s->up, F, err, errlen))
        return EBACKEND_;
    MARK(PROF_ELEMWISE);
    K(cuk_gelu_gate(s->c, s->gate, F, s->up, F, s->gate, F, T, F));
    if (quant(s, s->gate, T, F, 1, err, errlen) ||
        mm_op(s, op, wd, H, F, T, 1, out, H, err, errlen))
        return EBACKEND_;
    return 0;
}

static int moe(cuda_state *s, uint32_t l, int T, char *err, size_t errlen)
{
    const model_hparams *hp = &s->m->hp;
    const model_layer *L = &s->m->layers[l];
    const dev_layer *D = &s->L[l];
    int H = (int)hp->hidden, E = (int)hp->n_exp, Kx = (int)hp->n_exp_used, F = (int)hp->exp_ff;
    float inv = 1.0f / sqrtf((float)H);
    MARK(PROF_MOE_ROUTE);
    K(cuk_rmsnorm(s->c, s->r, NULL, s->tmp, T, H, hp->eps));
    K(cuk_mul_vec_scalar(s->c, s->tmp, D->router_scale, inv, s->tmp, T, H));
    if (quant(s, s->tmp, T, H, 0, err, errlen) ||
        mm_op(s, PROF_MM_ROUTER, D->router, E, H, T, 0, s->rlog, E, err, errlen))
        return EBACKEND_;
    MARK(PROF_MOE_ROUTE);
    K(cuk_moe_route(s->c, s->rlog, T, E, Kx, D->exp_scale, s->top_e, s->top_w));
    K(cuk_moe_group(s->c, s->top_e, T, Kx, E, s->exp_off, s->exp_rows, s->slot_row));
    K(cuk_rmsnorm(s->c, s->r, D->pre2, s->h, T, H, hp->eps));
    if (quant(s, s->h, T, H, 0, err, errlen))
        return EBACKEND_;
    MARK(PROF_MM_EXPERTS);
    if (L->fused) {
        K(cuk_q8_matmul_grouped(s->c, s->mm_kind, D->gu_exps, 2 * F, H, E, s->exp_off, s->exp_rows,
                                T, s->aq, s->ad, s->e_gu, 2 * F));
    } else {
        K(cuk_q8_matmul_grouped(s->c, s->mm_kind, D->g_exps, F, H, E, s->exp_off, s->exp_rows, T,
                                s->aq, s->ad, s->e_gu, 2 * F));
        K(cuk_q8_matmul_grouped(s->c, s->mm_kind, D->u_exps, F, H, E, s->exp_off, s->exp_rows, T,
                                s->aq, s->ad, s->e_gu + F, 2 * F));
    }
    MARK(PROF_ELEMWISE);
    K(cuk_gelu_gate(s->c, s->e_gu, 2 * F, s->e_gu + F, 2 * F, s->e_act, F, T * Kx, F));
    if (quant(s, s->e_act, T * Kx, F, 1, err, errlen))
        return EBACKEND_;
    MARK(PROF_MM_EXPERTS);
    K(cuk_q8_matmul_grouped(s->c, s->mm_kind, D->down_exps, H, F, E, s->exp_off, NULL, T, s->bq,
                            s->bd, s->e_out, H));
    MARK(PROF_MOE_ROUTE);
    K(cuk_moe_combine(s->c, s->e_out, H, s->slot_row, s->top_w, T, Kx, H, s->moe));
    return 0;
}

/* One layer over T rows of s->x at positions pos0.. (forward.c layer_forward). */
static int layer_forward(cuda_state *s, uint32_t l, int T, uint32_t pos0, int decoder, char *err,
                         size_t errlen)
{
    const model_hparams *hp = &s->m->hp;
    const model_layer *L = &s->m->layers[l];
    const dev_layer *D = &s->L[l];
    int H = (int)hp->hidden, d = (int)L->head_dim, nh = (int)hp->n_head, nkv = (int)L->n_kv;
    size_t kvw = (size_t)nkv * d;
    MARK(PROF_ELEMWISE);
    K(cuk_rmsnorm(s->c, s->x, D->attn_norm, s->h, T, H, hp->eps));
    if (quant(s, s->h, T, H, 0, err, errlen) ||
        mm_op(s, PROF_MM_QKV, D->wq, nh * d, H, T, 0, s->q, nh * d, err, errlen) ||
        mm_op(s, PROF_MM_QKV, D->wk, (int)kvw, H, T, 0, s->k, (int)kvw, err, errlen))
        return EBACKEND_;
    if (L->sliding) {
        if (mm_op(s, PROF_MM_QKV, D->wv, (int)kvw, H, T, 0, s->v, (int)kvw, err, errlen))
            return EBACKEND_;
    } else {
        MARK(PROF_ATTN);
        K(cuda_copy(s->c, s->v, s->k, (size_t)T * kvw * sizeof(float))); /* V = raw k_proj */
    }
    MARK(PROF_ATTN);
    int half = (int)L->rope_dims / 2;
    const float *fr = s->freq[L->sliding ? 1 : 0];
    K(cuk_rmsnorm(s->c, s->q, D->q_norm, s->q, T * nh, d, hp->eps));
    K(cuk_rope(s->c, s->q, T, nh, d, half, fr, (int)pos0));
    K(cuk_rmsnorm(s->c, s->v, NULL, s->v, T * nkv, d, hp->eps));
    K(cuk_rmsnorm(s->c, s->k, D->k_norm, s->k, T * nkv, d, hp->eps));
    K(cuk_rope(s->c, s->k, T, nkv, d, half, fr, (int)pos0));
    K(cuda_copy(s->c, s->kc[l] + (size_t)pos0 * kvw, s->k, (size_t)T * kvw * sizeof(float)));
    K(cuda_copy(s->c, s->vc[l] + (size_t)pos0 * kvw, s->v, (size_t)T * kvw * sizeof(float)));
    if (!decoder && l + 1 == hp->n_layers)
        return 0; /* the encoder's last layer only feeds the cache */
    K(cuk_attention(s->c, s->q, s->kc[l], s->vc[l], s->att, T, nh, nkv, d, (int)pos0, !decoder,
                    L->sliding ? (int)hp->sliding_window : 0, s->scores, (int)(s->cap + s->T)));
    if (quant(s, s->att, T, nh * d, 1, err, errlen) ||
        mm_op(s, PROF_MM_O, D->wo, H, nh * d, T, 1, s->tmp, H, err, errlen))
        return EBACKEND_;
    MARK(PROF_ELEMWISE);
    K(cuk_rmsnorm(s->c, s->tmp, D->post_attn_norm, s->tmp, T, H, hp->eps));
    K(cuk_add(s->c, s->x, s->tmp, s->x, (size_t)T * H));
    K(cuda_copy(s->c, s->r, s->x, (size_t)T * H * sizeof(float)));
    if (dense_mlp(s, PROF_MM_MLP, s->r, D->ffn_norm, D->gate, D->up, D->down, s->mlp, T, err,
                  errlen))
        return EBACKEND_;
    MARK(PROF_ELEMWISE);
    K(cuk_rmsnorm(s->c, s->mlp, D->post1, s->mlp, T, H, hp->eps));
    if (hp->n_exp) {
        if (moe(s, l, T, err, errlen))
            return EBACKEND_;
        MARK(PROF_ELEMWISE);
        K(cuk_rmsnorm(s->c, s->moe, D->post2, s->moe, T, H, hp->eps));
        K(cuk_add(s->c, s->mlp, s->moe, s->mlp, (size_t)T * H));
    }
    K(cuk_rmsnorm(s->c, s->mlp, D->post, s->mlp, T, H, hp->eps));
    K(cuk_add_scale(s->c, s->r, s->mlp, decoder ? L->out_scale : L->enc_out_scale, s->x,
                    (size_t)T * H));
    return 0;
}

static int check_ids(cuda_state *s, const int32_t *ids, uint32_t n, char *err, size_t errlen)
{
    for (uint32_t i = 0; i < n; i++)
        if (ids[i] < 0 || (uint32_t)ids[i] >= s->m->hp.vocab)
            return fail(err, errlen, EINVAL_,
                        "token id %d at index %u is outside the vocabulary (%u)", ids[i], i,
                        s->m->hp.vocab);
    return 0;
}

static int cuda_encode(void *state, const int32_t *ids, uint32_t n, uint32_t pos0, char *err,
                       size_t errlen)
{
    cuda_state *s = state;
    if (pos0 != s->n_cached || pos0 + n > s->cap || n == 0)
        return fail(err, errlen, EINVAL_,
                    "encode of %u tokens at position %u does not fit the cache (%u cached, room "
                    "for %u)",
                    n, pos0, s->n_cached, s->cap);
    int rc = check_ids(s, ids, n, err, errlen);
    if (rc)
        return rc;
    s->x_ready = s->sc_ready = 0; /* s->ids is reused */
    int H = (int)s->m->hp.hidden;
    float scale = sqrtf((float)s->m->hp.hidden);
    for (uint32_t done = 0; done < n;) {
        int T = (int)(n - done < s->T ? n - done : s->T);
        uint32_t p = pos0 + done;
        if (cuda_upload(s->c, s->ids, ids + done, (size_t)T * sizeof(int32_t), err, errlen))
            return EBACKEND_;
        MARK(PROF_ELEMWISE);
        K(cuk_embed(s->c, s->emb, H, s->ids, T, scale, s->x));
        for (uint32_t l = 0; l < s->m->hp.n_layers; l++)
            if ((rc = layer_forward(s, l, T, p, 0, err, errlen)))
                return rc;
        done += (uint32_t)T;
        s->n_cached = p + (uint32_t)T;
    }
    MARK(MARK_END);
    if (cuda_sync(s->c, err, errlen) || cuda_marks_collect(s->c, s->prof.seconds, PROF_COUNT))
        return EBACKEND_;
    return 0;
}

/* The decoder pass over T ids already in s->ids (and, when sc, the SC input already in
 * s->probs) into s->logits: only queues device work, so that it can be captured. */
static int decoder_pass(cuda_state *s, int T, uint32_t pos0, int sc, char *err, size_t errlen)
{
    const model_hparams *hp = &s->m->hp;
    int H = (int)hp->hidden, rc;
    float scale = sqrtf((float)hp->hidden);
    MARK(PROF_ELEMWISE);
    K(cuk_embed(s->c, s->emb, H, s->ids, T, scale, s->embx));
    if (sc) {
        /* soft = (P E) * s via E^T (A9), then the SC MLP; x0 = rmsnorm(e + sc) */
        int Vp = (int)hp->vocab_pad;
        if (quant(s, s->probs, T, Vp, 1, err, errlen) ||
            mm_op(s, PROF_MM_SC, s->emb_t, H, Vp, T, 1, s->tmp, H, err, errlen))
            return EBACKEND_;
        MARK(PROF_ELEMWISE);
        K(cuk_scale(s->c, s->tmp, scale, s->tmp, (size_t)T * H));
        if (dense_mlp(s, PROF_MM_SC, s->tmp, s->sc_pre_norm, s->sc_gate, s->sc_up, s->sc_down,
                      s->mlp, T, err, errlen))
            return EBACKEND_;
        MARK(PROF_ELEMWISE);
        K(cuk_add(s->c, s->embx, s->mlp, s->embx, (size_t)T * H));
    }
    MARK(PROF_ELEMWISE);
    K(cuk_rmsnorm(s->c, s->embx, NULL, s->x, T, H, hp->eps));
    for (uint32_t l = 0; l < hp->n_layers; l++)
        if ((rc = layer_forward(s, l, T, pos0, 1, err, errlen)))
            return rc;
    MARK(PROF_ELEMWISE);
    K(cuk_rmsnorm(s->c, s->x, s->out_norm, s->h, T, H, hp->eps));
    if (quant(s, s->h, T, H, 0, err, errlen) || mm_op(s, PROF_MM_HEAD, s->emb, (int)hp->vocab, H, T,
                                                      0, s->logits, (int)hp->vocab, err, errlen))
        return EBACKEND_;
    MARK(PROF_ELEMWISE);
    if (hp->softcap > 0)
        K(cuk_softcap(s->c, s->logits, s->logits, (size_t)T * hp->vocab, hp->softcap));
    return 0;
}

static int check_decode(cuda_state *s, uint32_t n, uint32_t pos0, char *err, size_t errlen)
{
    if (n == 0 || n > s->T || pos0 != s->n_cached || pos0 + n > s->cap + s->T)
        return fail(err, errlen, EINVAL_,
                    "decode of %u tokens at position %u: need 1..%u tokens at the cache end (%u)",
                    n, pos0, s->T, s->n_cached);
    return 0;
}

static int cuda_decode(void *state, const int32_t *ids, uint32_t n, uint32_t pos0,
                       const float *sc_probs, float *logits, char *err, size_t errlen)
{
    cuda_state *s = state;
    const model_hparams *hp = &s->m->hp;
    int T = (int)n, rc;
    if ((rc = check_decode(s, n, pos0, err, errlen)) || (rc = check_ids(s, ids, n, err, errlen)))
        return rc;
    s->x_ready = s->sc_ready = 0; /* the device step's ids and SC input are overwritten */
    if (cuda_upload(s->c, s->ids, ids, (size_t)T * sizeof(int32_t), err, errlen) ||
        (sc_probs && cuda_upload(s->c, s->probs, sc_probs,
                                 (size_t)T * hp->vocab_pad * sizeof(float), err, errlen)))
        return EBACKEND_;
    if ((rc = decoder_pass(s, T, pos0, sc_probs != NULL, err, errlen)))
        return rc;
    MARK(MARK_END); /* the download goes to the bench's "other" */
    if (cuda_download(s->c, logits, s->logits, (size_t)T * hp->vocab * sizeof(float), err,
                      errlen) ||
        cuda_sync(s->c, err, errlen) || cuda_marks_collect(s->c, s->prof.seconds, PROF_COUNT))
        return EBACKEND_;
    return 0;
}

/* ---------------------------------------------------------------- the step on the device */

/* The generation's tables (backend.h): masks concatenated, their id lists concatenated with
 * offsets. Returns 1 (host sampling) when SIBYL_CUDA_SAMPLER=host. */
static int cuda_sample_begin(void *state, const backend_sample_tables *t, char *err, size_t errlen)
{
    cuda_state *s = state;
    if (!s->sampler_on)
        return 1;
    uint32_t V = s->m->hp.vocab, n = t->n_masks;
    cuda_free(s->c, s->tab_masks);
    cuda_free(s->c, s->tab_lists);
    cuda_free(s->c, s->tab_off);
    s->tab_masks = NULL;
    s->tab_lists = s->tab_off = NULL;
    s->n_tables = 0;
    s->graph_ok = 0; /* the rules' pointers are kernel arguments */
    s->x_ready = s->sc_ready = 0;
    size_t n_ids = 0;
    for (uint32_t k = 0; k < n; k++)
        n_ids += t->n_ids[k];
    uint8_t *masks = malloc((size_t)n * V + 1);
    int32_t *lists = malloc((n_ids + 1) * sizeof(int32_t)),
            *off = malloc((n + 1) * sizeof(int32_t));
    int rc = 0;
    if (!masks || !lists || !off || n_ids > INT32_MAX) {
        rc = fail(err, errlen, ENOMEM_, "out of memory for %u sampler masks", n);
        goto out;
    }
    off[0] = 0;
    for (uint32_t k = 0; k < n; k++) {
        memcpy(masks + (size_t)k * V, t->masks[k], V);
        memcpy(lists + off[k], t->ids[k], t->n_ids[k] * sizeof(int32_t));
        off[k + 1] = off[k] + (int32_t)t->n_ids[k];
    }
    if (!(s->tab_masks = dup_tmp(s, masks, (size_t)n * V + 1, err, errlen)) ||
        !(s->tab_lists = dup_tmp(s, lists, (n_ids + 1) * sizeof(int32_t), err, errlen)) ||
        !(s->tab_off = dup_tmp(s, off, (n + 1) * sizeof(int32_t), err, errlen))) {
        rc = ENOMEM_;
        goto out;
    }
    s->n_tables = n;
out:
    free(masks);
    free(lists);
    free(off);
    return rc;
}

/* The pass, the row hashes and the sampler of one step: only queues device work. */
static int step_work(cuda_state *s, int T, uint32_t pos0, int sc, char *err, size_t errlen)
{
    const model_hparams *hp = &s->m->hp;
    int rc;
    if ((rc = decoder_pass(s, T, pos0, sc, err, errlen)))
        return rc;
    MARK(PROF_HASH);
    K(cuk_row_hashes(s->c, s->logits, T, (int)hp->vocab, s->leaf_hashes, s->row_hashes));
    MARK(PROF_SAMPLER);
    cuk_rules r = {s->tab_masks, s->tab_lists,   s->tab_off,
                   s->smp_rix,   s->smp_rix + T, s->smp_rix + 2 * T};
    K(cuk_sample_step(s->c, s->logits, T, (int)hp->vocab, (int)hp->vocab_pad, &r, s->smp_par,
                      s->smp_m, s->smp_S, s->smp_H, s->smp_draw, s->smp_chunks, s->probs, s->ids,
                      s->smp_res, s->smp_res + T));
    return 0;
}

/* A step with the SC input through the captured graph: a canvas's later steps differ only in
 * the scalars (device memory), so the step is captured once per canvas position (pos0 is a
 * kernel argument; the instance is updated in place) and replayed. */
static int graph_step(cuda_state *s, int T, uint32_t pos0, char *err, size_t errlen)
{
    if (!s->graph_ok || s->graph_pos0 != pos0 || s->graph_n != (uint32_t)T) {
        s->graph_ok = 0;
        if (cuda_capture_begin(s->c, err, errlen))
            return EBACKEND_;
        s->capturing = 1;
        int rc = step_work(s, T, pos0, 1, err, errlen);
        s->capturing = 0;
        if (rc) {
            cuda_capture_end(s->c, NULL, NULL, 0);
            return rc;
        }
        if (cuda_capture_end(s->c, &s->graph, err, errlen))
            return EBACKEND_;
        s->graph_ok = 1;
        s->graph_pos0 = pos0;
        s->graph_n = (uint32_t)T;
    }
    return cuda_graph_launch(s->c, s->graph, err, errlen) ? EBACKEND_ : 0;
}

static int cuda_sample_step(void *state, const backend_step *in, backend_step_out *out, char *err,
                            size_t errlen)
{
    cuda_state *s = state;
    uint32_t n = in->n, V = s->m->hp.vocab;
    int T = (int)n, rc;
    if ((rc = check_decode(s, n, in->pos0, err, errlen)))
        return rc;
    if (!in->ids && !s->x_ready)
        return fail(err, errlen, EINVAL_, "sample step: no ids on the device (give the ids)");
    if (in->have_sc && !s->sc_ready)
        return fail(err, errlen, EINVAL_, "sample step: no SC input on the device");
    if (in->ids) {
        if ((rc = check_ids(s, in->ids, n, err, errlen)))
            return rc;
        for (uint32_t i = 0; i < n; i++) {
            int32_t f = in->forced[i], mk = in->mask[i], nz = in->noise[i];
            if (f >= (int32_t)V || mk >= (int32_t)s->n_tables || nz >= (int32_t)s->n_tables ||
                mk < -1 || nz < -1 || f < -1)
                return fail(err, errlen, EINVAL_,
                            "sample step: position %u: forced %d, mask %d, noise %d outside the "
                            "vocabulary (%u) or the %u tables",
                            i, f, mk, nz, V, s->n_tables);
        }
        if (cuda_upload(s->c, s->ids, in->ids, n * sizeof(int32_t), err, errlen) ||
            cuda_upload(s->c, s->smp_rix, in->forced, n * sizeof(int32_t), err, errlen) ||
            cuda_upload(s->c, s->smp_rix + T, in->mask, n * sizeof(int32_t), err, errlen) ||
            cuda_upload(s->c, s->smp_rix + 2 * T, in->noise, n * sizeof(int32_t), err, errlen))
            return EBACKEND_;
        s->x_ready = 1;
    }
    cuk_step_params par = {in->tau,  in->entropy_bound,   in->seed, in->canvas,
                           in->step, in->make_sc ? 1 : 0, 0};
    if (cuda_upload(s->c, s->smp_par, &par, sizeof par, err, errlen))
        return EBACKEND_;
    int use_graph = s->graphs_on && in->have_sc;
    if (use_graph && (rc = graph_step(s, T, in->pos0, err, errlen))) {
        if (s->graphs_on == 2) /* SIBYL_CUDA_GRAPH=require (the GPU tests) */
            return rc;
        /* Graphs are a speed-up only: the same kernels run eagerly give the same bits. */
        fprintf(stderr, "backend cuda: CUDA graph of the step failed (%s); steps run without\n",
                err);
        s->graphs_on = 0;
        use_graph = 0;
    }
    if (!use_graph && (rc = step_work(s, T, in->pos0, in->have_sc, err, errlen)))
        return rc;
    MARK(MARK_END);
    if (cuda_download(s->c, out->row_hashes, s->row_hashes, (size_t)n * 32, err, errlen) ||
        cuda_download(s->c, s->host_res, s->smp_res, (n + 2) * sizeof(int32_t), err, errlen) ||
        cuda_marks_collect(s->c, s->prof.seconds, PROF_COUNT))
        return EBACKEND_;
    memcpy(out->argmax, s->host_res, n * sizeof(int32_t));
    out->n_accepted = (uint32_t)s->host_res[n];
    uint32_t bits = (uint32_t)s->host_res[n + 1];
    memcpy(&out->mean_entropy, &bits, sizeof bits);
    s->sc_ready = in->make_sc != 0;
    return 0;
}

/* The row hashes of the last decode's logits, hashed on the device where they still are: only
 * n x 32 bytes come back instead of a host pass over n x vocab floats. */
static int cuda_row_hashes(void *state, uint32_t n, uint8_t *out, char *err, size_t errlen)
{
    cuda_state *s = state;
    if (n == 0 || n > s->T)
        return fail(err, errlen, EINVAL_, "row hashes of %u rows: need 1..%u", n, s->T);
    if (cuk_row_hashes(s->c, s->logits, (int)n, (int)s->m->hp.vocab, s->leaf_hashes,
                       s->row_hashes) ||
        cuda_download(s->c, out, s->row_hashes, (size_t)n * 32, err, errlen) ||
        cuda_sync(s->c, err, errlen))
        return EBACKEND_;
    return 0;
}

/* Per-op times of the device timeline (events between ops; see MARK). */
static engine_profile *cuda_profile(void *state)
{
    return &((cuda_state *)state)->prof;
}

static const backend_ops cuda_ops = {
    .name = "cuda",
    .create = cuda_create,
    .destroy = cuda_destroy,
    .reset = cuda_reset,
    .encode = cuda_encode,
    .decode = cuda_decode,
    .row_hashes = cuda_row_hashes,
    .sample_begin = cuda_sample_begin,
    .sample_step = cuda_sample_step,
    .profile = cuda_profile,
};

const backend_ops *cuda_backend(void)
{
    return &cuda_ops;
}
