/*
 * The CPU backend: DiffusionGemma's encoder and decoder passes (diffusiongemma.md §2-3) with
 * the canonical arithmetic of docs/arithmetic.md (A3, A5-A9).
 *
 * Parallelism never changes a bit: every output value is computed by one thread from start to
 * end (matmuls split over output features, attention over (token, head), elementwise work
 * over tokens), and each token's numbers depend only on that token's row and the KV cache, so
 * batch size and thread count are invisible in the results.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inference/backend.h"
#include "inference/cmath.h"
#include "inference/matmul.h"
#include "inference/model.h"
#include "inference/vmath.h"

/* Decoder tokens per attention item: they share one key list, so their scores and weighted
 * sums are computed together (each value still by its own A7 sequence). */
#define ATT_TQ 4
/* Queries per attention item at most (tokens x query heads of one KV group): enough for the
 * score and weighted-sum kernels' four-query tiles to run twice per item. */
#define ATT_QMAX 8

#define EINVAL_ (-1)
#define ENOMEM_ (-4)

typedef struct {
    const model *m;
    threadpool *tp;
    int nt;
    uint32_t T; /* max rows per pass */
    uint32_t cap, n_cached;
    float **kc, **vc; /* per layer: slots[l] x (n_kv*d); position p in slot p % slots[l] */
    uint32_t *slots;  /* global layers: cap; sliding layers: min(cap, window + T), a ring */
    /* activations, T rows each */
    float *x, *r, *q, *k, *v, *att, *tmp, *mlp, *gate, *up, *emb;
    float *rlog;    /* T x n_exp */
    int32_t *top_e; /* T x k */
    float *top_w;
    int32_t *exp_count, *exp_off; /* counting sort of (token, slot) by expert */
    int32_t *exp_row;             /* [t*K + rank]: that selection's expert row */
    float *exp_w;
    float *e_gu, *e_out;          /* expert scratch: TK x 2F, TK x H (TK = T*K) */
    mm_workspace mm_ws;           /* q8_matmul's scratch, kept between calls */
    q8_act a_in, a_big, a_g, a_e; /* quantised activations (a_g: TK x H, a_e: TK x F) */
    q8_act a_rt, a_b;             /* router input and pre_ffw_norm_2 rows, T x H */
    float *rowbuf;                /* per worker: 4 rows of rowbuf_w floats (L1 scratch) */
    size_t rowbuf_w;
    float *rope_cos[2], *rope_sin[2]; /* [sliding?1:0]: T x rope_dims/2 */
    uint32_t rope_pos0;               /* the tables hold positions rope_pos0.. +rope_T */
    int rope_T;
    float *freq[2];
    /* A7 key lists: one slot per KV head (decoder: the list all canvas tokens share, packed
     * once per layer) or per worker (encoder: one token's causal list at a time) */
    int n_lists;   /* max(n_kv over layers, nt) */
    float *keys;   /* n_lists x vm_keys_packed_len(cap + T, max head_dim) */
    float *vals;   /* n_lists x (cap + T) x max head_dim: vm_values_put */
    float *scores; /* nt x ATT_QMAX x (cap + T) */
    engine_profile prof;
} cpu_state;

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

/* ------------------------------------------------------------ building blocks (A6) */

/* RMSNorm's factor r = 1 / sqrtf(dot8(x, x) / n + eps) (A6); the row is then y = (x*r)*w. */
static float rms_factor(const float *x, int n, float eps)
{
    float ss = dot8(x, x, (size_t)n);
    float mean = ss / (float)n;
    return 1.0f / sqrtf(mean + eps);
}

static void softmax(float *x, int n)
{
    float mx = x[0];
    for (int i = 1; i < n; i++)
        if (x[i] > mx)
            mx = x[i];
    vm_expf_sub(x, mx, x, (size_t)n);
    float S = sum8(x, (size_t)n);
    for (int i = 0; i < n; i++)
        x[i] = x[i] / S;
}

static q8_act act_view(const q8_act *buf, int rows, int cols)
{
    q8_act a = {buf->q, buf->d, rows, cols};
    return a;
}

/* ---------------------------------------------------------------- parallel helpers */

/* A3 of one row x (n values) into row t of out. */
static void quantize_row(q8_act *out, int t, const float *x, int n)
{
    q8_act row = {out->q + (size_t)t * (size_t)n, out->d + (size_t)t * (size_t)(n / QK), 1, n};
    q8_quantize_rows(x, 1, n, &row);
}

typedef struct {
    const float *x;
    int cols;
    q8_act *out;
} quant_job;

static void quant_range(void *arg, int b, int e, int w)
{
    (void)w;
    quant_job *j = arg;
    q8_act sub = {j->out->q + (size_t)b * (size_t)j->cols,
                  j->out->d + (size_t)b * (size_t)(j->cols / QK), e - b, j->cols};
    q8_quantize_rows(j->x + (size_t)b * (size_t)j->cols, e - b, j->cols, &sub);
}

/* A3 over rows x cols (row stride cols) into buf (viewed as rows x cols). */
static q8_act quantize(cpu_state *s, const float *x, int rows, int cols, const q8_act *buf)
{
    q8_act a = act_view(buf, rows, cols);
    quant_job j = {x, cols, &a};
    tp_parallel_for_dynamic(s->tp, rows, 8, quant_range, &j);
    return a;
}

static void mm(cpu_state *s, prof_op op, const q8_weight *W, const q8_act *A, float *y, int ldy)
{
    double t0 = prof_now();
    q8_matmul_ws(W, A, y, ldy, s->tp, &s->mm_ws);
    s->prof.seconds[op] += prof_now() - t0;
}

/* A3 of RMSNorm(x, w) for one row (n values) into row t of out, through the worker's
 * scratch row y (the normed row is needed only quantised). */
static void norm_quantize_row(q8_act *out, int t, const float *x, const float *w, float *y, int n,
                              float eps)
{
    vm_quantize_scaled_row(x, rms_factor(x, n, eps), w, NULL, n, out, t, y);
}

/* The worker's four scratch rows (rowbuf_w floats each), kept in L1 while rows are worked on. */
static float *scratch_rows(cpu_state *s, int wk)
{
    return s->rowbuf + (size_t)wk * 4 * s->rowbuf_w;
}

/* ---------------------------------------------------------------- state */

static void cpu_destroy(void *state)
{
    cpu_state *s = state;
    if (!s)
        return;
    if (s->kc)
        for (uint32_t l = 0; l < s->m->hp.n_layers; l++) {
            free(s->kc[l]);
            free(s->vc[l]);
        }
    free(s->kc);
    free(s->vc);
    free(s->slots);
    float *bufs[] = {s->x,       s->r,           s->q,           s->k,           s->v,
                     s->att,     s->tmp,         s->mlp,         s->gate,        s->up,
                     s->emb,     s->rlog,        s->top_w,       s->exp_w,       s->e_gu,
                     s->e_out,   s->scores,      s->keys,        s->vals,        s->freq[0],
                     s->freq[1], s->rope_cos[0], s->rope_cos[1], s->rope_sin[0], s->rope_sin[1]};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        free(bufs[i]);
    free(s->top_e);
    free(s->exp_count);
    free(s->exp_off);
    free(s->exp_row);
    q8_act_free(&s->a_in);
    q8_act_free(&s->a_big);
    q8_act_free(&s->a_g);
    mm_workspace_free(&s->mm_ws);
    q8_act_free(&s->a_e);
    q8_act_free(&s->a_rt);
    q8_act_free(&s->a_b);
    free(s->rowbuf);
    free(s);
}

static float *fa(size_t n)
{
    return malloc((n ? n : 1) * sizeof(float));
}

/* Rotation frequencies (A6): f_i = exp(-(2i/n_rot) * log(theta)); for global layers a
 * rope_freqs entry divides f_i, and an entry >= 1e29 means no rotation (f_i = 0). */
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

static int cpu_create(const model *m, threadpool *tp, void **state, char *err, size_t errlen)
{
    const model_hparams *hp = &m->hp;
    *state = NULL;
    cpu_state *s = calloc(1, sizeof *s);
    if (!s)
        return fail(err, errlen, ENOMEM_, "out of memory");
    s->m = m;
    s->tp = tp;
    s->nt = tp_threads(s->tp);
    for (uint32_t l = 0; l < hp->n_layers; l++)
        if (m->layers[l].sliding && hp->sliding_window < 2) {
            cpu_destroy(s);
            return fail(err, errlen, -2, "model: layer %u is sliding but sliding_window is %u", l,
                        hp->sliding_window);
        }
    uint32_t T = hp->canvas_length;
    s->T = T;
    size_t H = hp->hidden, D = hp->head_dim > hp->head_dim_swa ? hp->head_dim : hp->head_dim_swa;
    size_t nq = (size_t)hp->n_head * D, maxkv = 0;
    for (uint32_t l = 0; l < hp->n_layers; l++) {
        size_t w = (size_t)m->layers[l].n_kv * m->layers[l].head_dim;
        if (w > maxkv)
            maxkv = w;
    }
    size_t F = hp->exp_ff, E = hp->n_exp ? hp->n_exp : 1, K = hp->n_exp_used ? hp->n_exp_used : 1;
    size_t ffmax = hp->ff > 2 * F ? hp->ff : 2 * F;
    s->x = fa(T * H), s->r = fa(T * H), s->tmp = fa(T * H);
    s->mlp = fa(T * H), s->emb = fa(T * H);
    s->q = fa(T * nq), s->att = fa(T * nq), s->k = fa(T * maxkv), s->v = fa(T * maxkv);
    s->gate = fa(T * ffmax), s->up = fa(T * ffmax);
    s->rlog = fa(T * E), s->top_w = fa(T * K), s->exp_w = fa(T * K);
    s->top_e = malloc(T * K * sizeof(int32_t));
    s->exp_count = malloc((E + 1) * sizeof(int32_t));
    s->exp_off = malloc((E + 1) * sizeof(int32_t));
    s->exp_row = malloc(T * K * sizeof(int32_t));
    s->e_gu = fa(T * K * 2 * (F ? F : 1));
    s->e_out = fa(T * K * H);
    for (int sl = 0; sl < 2; sl++) {
        uint32_t half = (sl ? hp->rope_dims_swa : hp->rope_dims) / 2;
        s->freq[sl] = fa(half);
        s->rope_cos[sl] = fa((size_t)T * half);
        s->rope_sin[sl] = fa((size_t)T * half);
    }
    size_t kmax = H;
    if (nq > kmax)
        kmax = nq;
    if (ffmax > kmax)
        kmax = ffmax;
    int ok = s->x && s->r && s->tmp && s->mlp && s->emb && s->q && s->att && s->k && s->v &&
             s->gate && s->up && s->rlog && s->top_w && s->exp_w && s->top_e && s->exp_row &&
             s->exp_count && s->exp_off && s->e_gu && s->e_out && s->freq[0] && s->freq[1] &&
             s->rope_cos[0] && s->rope_cos[1] && s->rope_sin[0] && s->rope_sin[1];
    ok = ok && q8_act_alloc(&s->a_in, (int)T, (int)kmax) == 0;
    ok = ok &&
         q8_act_alloc(&s->a_big, (int)T, (int)(kmax > hp->vocab_pad ? kmax : hp->vocab_pad)) == 0;
    ok = ok && q8_act_alloc(&s->a_g, (int)(T * K), (int)H) == 0;
    ok = ok && q8_act_alloc(&s->a_e, (int)(T * K), (int)(F ? F : QK)) == 0;
    ok = ok && q8_act_alloc(&s->a_rt, (int)T, (int)H) == 0;
    ok = ok && q8_act_alloc(&s->a_b, (int)T, (int)H) == 0;
    s->rowbuf_w = H > ffmax ? H : ffmax; /* rows of H, F (experts) and ff (dense) */
    s->rowbuf = fa((size_t)s->nt * 4 * s->rowbuf_w);
    ok = ok && s->rowbuf;
    s->kc = calloc(hp->n_layers, sizeof(float *));
    s->vc = calloc(hp->n_layers, sizeof(float *));
    s->slots = calloc(hp->n_layers, sizeof(uint32_t));
    if (!ok || !s->kc || !s->vc || !s->slots) {
        cpu_destroy(s);
        return fail(err, errlen, ENOMEM_, "out of memory allocating CPU buffers");
    }
    make_freqs(m, 0, s->freq[0]);
    make_freqs(m, 1, s->freq[1]);
    *state = s;
    return 0;
}

static int cpu_reset(void *state, uint32_t capacity, char *err, size_t errlen)
{
    cpu_state *s = state;
    const model_hparams *hp = &s->m->hp;
    s->n_cached = 0;
    if (capacity <= s->cap)
        return 0;
    /* A sliding layer only ever reads the last `window` positions (encoder) or window-1
     * (decoder); while a chunk of up to T tokens is being encoded, the keys of positions
     * p0-window+1 .. p0+T-1 are live, so a ring of window + T slots never overwrites a key
     * that is still read. */
    for (uint32_t l = 0; l < hp->n_layers; l++) {
        size_t w = (size_t)s->m->layers[l].n_kv * s->m->layers[l].head_dim;
        uint32_t slots = capacity;
        if (s->m->layers[l].sliding && hp->sliding_window + s->T < capacity)
            slots = hp->sliding_window + s->T;
        s->slots[l] = slots;
        free(s->kc[l]);
        free(s->vc[l]);
        s->kc[l] = fa((size_t)slots * w);
        s->vc[l] = fa((size_t)slots * w);
        if (!s->kc[l] || !s->vc[l]) {
            s->cap = 0;
            return fail(err, errlen, ENOMEM_, "out of memory for a KV cache of %u positions",
                        capacity);
        }
    }
    free(s->scores);
    free(s->keys);
    free(s->vals);
    size_t room = (size_t)capacity + s->T, dmax = 0;
    s->n_lists = s->nt;
    for (uint32_t l = 0; l < hp->n_layers; l++) {
        if ((int)s->m->layers[l].n_kv > s->n_lists)
            s->n_lists = (int)s->m->layers[l].n_kv;
        if (s->m->layers[l].head_dim > dmax)
            dmax = s->m->layers[l].head_dim;
    }
    s->scores = fa((size_t)s->nt * ATT_QMAX * room);
    /* zeroed once: a packed key list's room beyond its keys is read (and its scores dropped) */
    s->keys = calloc((size_t)s->n_lists * vm_keys_packed_len(room, dmax), sizeof(float));
    s->vals = fa((size_t)s->n_lists * room * dmax);
    if (!s->scores || !s->keys || !s->vals) {
        s->cap = 0;
        return fail(err, errlen, ENOMEM_, "out of memory for attention scores");
    }
    s->cap = capacity;
    return 0;
}

/* ---------------------------------------------------------------- attention */

typedef struct {
    cpu_state *s;
    const model_layer *L;
    uint32_t pos0;
    int T, decoder;
    const float *rc, *rs; /* rope tables of this layer type */
} attn_job;

/* The visible keys (A7 lists) of a decoder pass: cached positions [lo, hi), then the canvas's
 * own T keys; of encoder token t0: positions [lo, hi = pos0 + t0 + 1), all cached already.
 * Returns the list's length. */
static int key_range(const attn_job *j, int t0, uint32_t *lo, uint32_t *hi)
{
    const model_layer *L = j->L;
    uint32_t w = j->s->m->hp.sliding_window;
    if (j->decoder) {
        *hi = j->pos0;
        *lo = (L->sliding && *hi > w - 1) ? *hi - (w - 1) : 0;
        return (int)(*hi - *lo) + j->T;
    }
    *hi = j->pos0 + (uint32_t)t0 + 1;
    *lo = (L->sliding && *hi > w) ? *hi - w : 0;
    return (int)(*hi - *lo);
}

/* List slot `list`: its packed keys and values (layer head dim d). */
static float *list_keys(const cpu_state *s, int list, size_t d)
{
    return s->keys + (size_t)list * vm_keys_packed_len((size_t)s->cap + s->T, d);
}

static float *list_vals(const cpu_state *s, int list, size_t d)
{
    return s->vals + (size_t)list * ((size_t)s->cap + s->T) * d;
}

/* Puts the cached K and V rows of positions [lo, hi) of KV head hk into list slot `list` as
 * entries 0.. of a list of n. */
static void put_cached(const attn_job *j, int list, int hk, uint32_t lo, uint32_t hi, int n)
{
    const cpu_state *s = j->s;
    size_t d = j->L->head_dim, kvw = (size_t)j->L->n_kv * d, l = (size_t)(j->L - s->m->layers);
    float *keys = list_keys(s, list, d), *vals = list_vals(s, list, d);
    for (uint32_t p = lo; p < hi; p++) {
        size_t row = (size_t)(p % s->slots[l]) * kvw + (size_t)hk * d;
        vm_keys_put(s->kc[l] + row, p - lo, d, keys);
        vm_values_put(s->vc[l] + row, p - lo, (size_t)n, d, vals);
    }
}

/* k/v per-head norms and RoPE, one (token, KV head) item each, items [0, T*nkv). (The query
 * heads' own norms and RoPE are done by the attention item that reads them, while they are in
 * cache.) In the decoder every canvas token sees the same list, so each KV head's list is
 * packed once per layer (list slot hk): a canvas token's K and V rows go in right after their
 * norms (entries n_cached + t), and nkv more items put the cached rows (entries
 * 0..n_cached-1). */
static void kv_prep_range(void *arg, int b, int e, int wk)
{
    (void)wk;
    attn_job *j = arg;
    const model_layer *L = j->L;
    const model_hparams *hp = &j->s->m->hp;
    int nkv = (int)L->n_kv, d = (int)L->head_dim, T = j->T;
    uint32_t half = L->rope_dims / 2, lo = 0, hi = 0;
    int n = j->decoder ? key_range(j, 0, &lo, &hi) : 0;
    for (int it = b; it < e; it++) {
        if (it < T * nkv) {
            int t = it / nkv, h = it % nkv;
            float *k = j->s->k + ((size_t)t * nkv + h) * d;
            float *v = j->s->v + ((size_t)t * nkv + h) * d;
            if (!L->sliding)
                memcpy(v, k, (size_t)d * sizeof(float)); /* V = raw k_proj output */
            vm_rmsnorm_rope(v, NULL, (size_t)d, hp->eps, NULL, NULL, 0);
            vm_rmsnorm_rope(k, L->k_norm, (size_t)d, hp->eps, j->rc + (size_t)t * half,
                            j->rs + (size_t)t * half, half);
            if (j->decoder) {
                size_t entry = (size_t)(hi - lo) + (size_t)t;
                vm_keys_put(k, entry, (size_t)d, list_keys(j->s, h, (size_t)d));
                vm_values_put(v, entry, (size_t)n, (size_t)d, list_vals(j->s, h, (size_t)d));
            }
        } else { /* decoder only */
            int h = it - T * nkv;
            put_cached(j, h, h, lo, hi, n);
        }
    }
}

/* Query heads per attention item: a divisor of the KV group, so the item's heads share one
 * key list, with at most ATT_QMAX queries in all. */
static int att_heads_per_item(int group, int tq)
{
    int hpi = ATT_QMAX / tq < group ? ATT_QMAX / tq : group;
    while (group % hpi)
        hpi--;
    return hpi;
}

/* A7 (and the queries' norms and RoPE): one (KV head, run of its query heads, token tile) per item,
 * in that nesting, so that consecutive items (and each thread's contiguous share) read the same
 * keys and values while they are in cache. A tile is ATT_TQ canvas tokens in the decoder (all see
 * the same keys, packed by kv_prep_range), one token in the encoder (its own causal list, packed
 * here). */
static void attn_range(void *arg, int b, int e, int wk)
{
    attn_job *j = arg;
    cpu_state *s = j->s;
    const model_layer *L = j->L;
    int nh = (int)s->m->hp.n_head, d = (int)L->head_dim;
    size_t room = (size_t)s->cap + s->T;
    float *sc = s->scores + (size_t)wk * ATT_QMAX * room;
    int group = nh / (int)L->n_kv, tq = j->decoder ? ATT_TQ : 1;
    int hpi = att_heads_per_item(group, tq), tiles = (j->T + tq - 1) / tq;
    int per_kv = (group / hpi) * tiles;
    size_t half = L->rope_dims / 2;
    for (int it = b; it < e; it++) {
        int hk = it / per_kv, h0 = hk * group + (it % per_kv) / tiles * hpi;
        int t0 = (it % tiles) * tq, nt = j->T - t0 < tq ? j->T - t0 : tq;
        int list = j->decoder ? hk : wk;
        uint32_t lo, hi;
        int n = key_range(j, t0, &lo, &hi);
        if (!j->decoder) /* its own causal list, all cached */
            put_cached(j, list, hk, lo, hi, n);
        const float *keys = list_keys(s, list, (size_t)d), *vals = list_vals(s, list, (size_t)d);
        const float *qs[ATT_QMAX];
        float *os[ATT_QMAX];
        int nq = 0;
        for (int u = 0; u < nt; u++)
            for (int h = h0; h < h0 + hpi; h++, nq++) {
                float *q = s->q + ((size_t)(t0 + u) * nh + h) * d;
                vm_rmsnorm_rope(q, L->q_norm, (size_t)d, s->m->hp.eps,
                                j->rc + (size_t)(t0 + u) * half, j->rs + (size_t)(t0 + u) * half,
                                half); /* this item's alone */
                qs[nq] = q;
                os[nq] = s->att + ((size_t)(t0 + u) * nh + h) * d;
            }
        vm_dot8_packed(qs, (size_t)nq, keys, (size_t)n, (size_t)d, sc, room);
        for (int u = 0; u < nq; u++)
            vm_softmax(sc + (size_t)u * room, (size_t)n);
        vm_wsum_packed(sc, room, (size_t)nq, vals, (size_t)n, (size_t)d, os);
    }
}

static void rope_tables(cpu_state *s, uint32_t pos0, int T)
{
    /* The tables are a function of the positions only: the steps of one canvas (same pos0)
     * reuse them instead of ~100k cm_cosf/cm_sinf per step. */
    if (s->rope_T >= T && s->rope_pos0 == pos0)
        return;
    s->rope_pos0 = pos0;
    s->rope_T = T;
    for (int sl = 0; sl < 2; sl++) {
        uint32_t half = (sl ? s->m->hp.rope_dims_swa : s->m->hp.rope_dims) / 2;
        for (int t = 0; t < T; t++)
            for (uint32_t i = 0; i < half; i++) {
                float a = (float)(pos0 + (uint32_t)t) * s->freq[sl][i];
                s->rope_cos[sl][(size_t)t * half + i] = cm_cosf(a);
                s->rope_sin[sl][(size_t)t * half + i] = cm_sinf(a);
            }
    }
}

/* ---------------------------------------------------------------- MoE */

typedef struct {
    cpu_state *s;
    const model_layer *L;
    int T;
} route_job;

/* softmax over experts, top-k (ties to the lower id), renormalise, per-expert scale. */
static void topk_range(void *arg, int b, int e, int wk)
{
    (void)wk;
    route_job *j = arg;
    const model_hparams *hp = &j->s->m->hp;
    int E = (int)hp->n_exp, K = (int)hp->n_exp_used;
    for (int t = b; t < e; t++) {
        float *p = j->s->rlog + (size_t)t * E;
        softmax(p, E);
        int32_t *sel = j->s->top_e + (size_t)t * K;
        float *w = j->s->top_w + (size_t)t * K;
        for (int r = 0; r < K; r++) {
            int best = -1;
            for (int x = 0; x < E; x++) {
                int taken = 0;
                for (int q = 0; q < r; q++)
                    taken |= sel[q] == x;
                if (!taken && (best < 0 || p[x] > p[best]))
                    best = x;
            }
            sel[r] = best;
        }
        float sumk = 0.0f;
        for (int r = 0; r < K; r++)
            sumk = sumk + p[sel[r]];
        for (int r = 0; r < K; r++)
            w[r] = (p[sel[r]] / sumk) * j->L->down_exps_scale[sel[r]];
    }
}

/* Expert inputs: token t's quantised pre_ffw_norm_2 row (a_b) copied to the rows of its K
 * selections (row exp_off[x] + i is the i-th token of expert x), so that every expert's rows
 * are one contiguous block. */
static void gather_range(void *arg, int b, int e, int wk)
{
    (void)wk;
    route_job *j = arg;
    cpu_state *s = j->s;
    const int H = (int)s->m->hp.hidden, K = (int)s->m->hp.n_exp_used;
    const size_t nbH = (size_t)H / QK;
    for (int t = b; t < e; t++)
        for (int r = 0; r < K; r++) {
            const size_t at = (size_t)s->exp_row[(size_t)t * K + r];
            memcpy(s->a_g.q + at * H, s->a_b.q + (size_t)t * H, (size_t)H);
            memcpy(s->a_g.d + at * nbH, s->a_b.d + (size_t)t * nbH, nbH * sizeof(float));
        }
}

typedef struct {
    cpu_state *s;
    float *gu;
    float *up; /* glu2_range: the up rows (gate rows in gu) */
    int F, rows;
    q8_act *out; /* A3 of each result row */
} glu_job;

/* act = gelu(gate) * up, gate/up as the two halves of each gu row (2F wide), then A3 of the
 * row (act lives only in the worker's scratch row). */
static void glu_range(void *arg, int b, int e, int wk)
{
    glu_job *j = arg;
    float *a = scratch_rows(j->s, wk);
    for (int t = b; t < e; t++) {
        const float *g = j->gu + (size_t)t * 2 * j->F;
        vm_gelu_glu(g, g + j->F, a, (size_t)j->F);
        quantize_row(j->out, t, a, j->F);
    }
}

/* acc = sum over token t's experts in ascending expert id of w * y (A8), from +0. */
static void combine_row(const cpu_state *s, int t, float *acc)
{
    const int H = (int)s->m->hp.hidden, K = (int)s->m->hp.n_exp_used;
    const int32_t *sel = s->top_e + (size_t)t * K;
    float w[8];
    const float *y[8];
    int m = 0, from_zero = 1;
    int32_t prev = -1; /* the selections are distinct experts: walk them by ascending id */
    for (int q = 0; q < K; q++) {
        int rk = -1;
        for (int r = 0; r < K; r++)
            if (sel[r] > prev && (rk < 0 || sel[r] < sel[rk]))
                rk = r;
        prev = sel[rk];
        const int at = s->exp_row[(size_t)t * K + rk];
        w[m] = s->exp_w[at];
        y[m++] = s->e_out + (size_t)at * H;
        if (m == 8 || q + 1 == K) { /* up to eight experts per pass over acc */
            vm_axpy_rows(acc, w, y, (size_t)m, (size_t)H, from_zero);
            m = 0;
            from_zero = 0;
        }
    }
}

/* Routing and the experts up to their down projections (e_out); the router input (a_rt) and
 * the experts' input rows (a_b) were quantised by attn_res_range, the combine runs row by row
 * in ffn_res_range. */
static void moe(cpu_state *s, const model_layer *L, int T)
{
    const model_hparams *hp = &s->m->hp;
    int H = (int)hp->hidden, E = (int)hp->n_exp, K = (int)hp->n_exp_used, F = (int)hp->exp_ff;
    q8_act a = act_view(&s->a_rt, T, H);
    mm(s, PROF_MM_ROUTER, &L->router, &a, s->rlog, E);
    double t0 = prof_now();
    route_job rj = {s, L, T};
    tp_parallel_for_dynamic(s->tp, T, 16, topk_range, &rj);
    /* Counting sort of (token, slot) by expert, tokens ascending within an expert. */
    memset(s->exp_count, 0, (size_t)(E + 1) * sizeof(int32_t));
    for (int i = 0; i < T * K; i++)
        s->exp_count[s->top_e[i]]++;
    s->exp_off[0] = 0;
    for (int x = 0; x < E; x++)
        s->exp_off[x + 1] = s->exp_off[x] + s->exp_count[x];
    memset(s->exp_count, 0, (size_t)(E + 1) * sizeof(int32_t));
    for (int t = 0; t < T; t++)
        for (int r = 0; r < K; r++) {
            int x = s->top_e[(size_t)t * K + r];
            int at = s->exp_off[x] + s->exp_count[x]++;
            s->exp_w[at] = s->top_w[(size_t)t * K + r];
            s->exp_row[(size_t)t * K + r] = at;
        }
    tp_parallel_for_dynamic(s->tp, T, 16, gather_range, &rj);
    s->prof.seconds[PROF_MOE_ROUTE] += prof_now() - t0;
    size_t nbH = (size_t)H / QK, nbF = (size_t)F / QK;
    const int rowsK = T * K;
    for (int x = 0; x < E; x++) {
        const int off = s->exp_off[x], n = s->exp_off[x + 1] - off;
        if (!n)
            continue;
        q8_act g = {s->a_g.q + (size_t)off * H, s->a_g.d + (size_t)off * nbH, n, H};
        float *gu = s->e_gu + (size_t)off * 2 * F;
        if (L->fused) {
            q8_weight w = {L->gate_up_exps + (size_t)x * 2 * F * nbH, 2 * F, H};
            mm(s, PROF_MM_EXPERTS, &w, &g, gu, 2 * F);
        } else {
            q8_weight wg = {L->gate_exps + (size_t)x * F * nbH, F, H};
            q8_weight wu = {L->up_exps + (size_t)x * F * nbH, F, H};
            mm(s, PROF_MM_EXPERTS, &wg, &g, gu, 2 * F);
            mm(s, PROF_MM_EXPERTS, &wu, &g, gu + F, 2 * F);
        }
    }
    /* one region for every expert row: GELU-GLU and A3 */
    t0 = prof_now();
    q8_act ea = act_view(&s->a_e, rowsK, F);
    glu_job gj = {s, s->e_gu, NULL, F, rowsK, &ea};
    tp_parallel_for_dynamic(s->tp, rowsK, 32, glu_range, &gj);
    s->prof.seconds[PROF_ELEMWISE] += prof_now() - t0;
    for (int x = 0; x < E; x++) {
        const int off = s->exp_off[x], n = s->exp_off[x + 1] - off;
        if (!n)
            continue;
        q8_act ex = {ea.q + (size_t)off * F, ea.d + (size_t)off * nbF, n, F};
        q8_weight wd = {L->down_exps + (size_t)x * H * nbF, H, F};
        mm(s, PROF_MM_EXPERTS, &wd, &ex, s->e_out + (size_t)off * H, H);
    }
}

/* ---------------------------------------------------------------- layers */

typedef struct {
    cpu_state *s;
    const model_layer *L;
    int T;
    float scalar;
    const float *next_norm; /* ffn_res_range: its A3 rows of RMSNorm(x, next_norm) go to a_in */
} res_job;

/* RMSNorm factors r = 1 / sqrtf(dot8(x, x) / n + eps) (A6) of m <= 4 rows, their dot8 chains
 * side by side. */
static void rms_factors(const float *const *x, int m, int n, float eps, float *f)
{
    float ss[4];
    vm_sumsq8_rows(x, (size_t)m, (size_t)n, ss);
    for (int u = 0; u < m; u++) {
        float mean = ss[u] / (float)n;
        f[u] = 1.0f / sqrtf(mean + eps);
    }
}

/* After the attention output projection, four rows at a time (they stay in L1):
 * r = x + RMSNorm(tmp, post_attention_norm), then with r's one RMSNorm factor f the A3 rows of
 * RMSNorm(r, ffn_norm) (a_in: the dense MLP's input) and, with experts, of
 * RMSNorm(r, pre_ffw_norm_2) (a_b) and of the router input (a_rt, A8). x itself is left as it
 * is: ffn_res_range writes it from r. */
static void attn_res_range(void *arg, int b, int e, int wk)
{
    res_job *j = arg;
    cpu_state *s = j->s;
    const model_layer *L = j->L;
    const int H = (int)s->m->hp.hidden, has_moe = s->m->hp.n_exp != 0;
    const float eps = s->m->hp.eps, inv = 1.0f / sqrtf((float)H);
    float *y = scratch_rows(s, wk);
    for (int t0 = b; t0 < e; t0 += 4) {
        const int nr = e - t0 < 4 ? e - t0 : 4;
        const float *o[4], *rr[4];
        float f[4];
        for (int u = 0; u < nr; u++) {
            o[u] = s->tmp + (size_t)(t0 + u) * H;
            rr[u] = s->r + (size_t)(t0 + u) * H;
        }
        rms_factors(o, nr, H, eps, f);
        for (int u = 0; u < nr; u++) {
            vm_scale_mul(o[u], f[u], L->post_attn_norm, y, (size_t)H);
            vm_add(s->x + (size_t)(t0 + u) * H, y, s->r + (size_t)(t0 + u) * H, (size_t)H);
        }
        rms_factors(rr, nr, H, eps, f);
        for (int u = 0; u < nr; u++) {
            const int t = t0 + u;
            vm_quantize_scaled_row(rr[u], f[u], L->ffn_norm, NULL, H, &s->a_in, t, y);
            if (has_moe) {
                vm_quantize_scaled_row(rr[u], f[u], L->pre_ffw_norm_2, NULL, H, &s->a_b, t, y);
                /* (rmsnorm_noscale(r)_i * router_scale_i) * inv */
                vm_quantize_scaled_row(rr[u], f[u], L->router_scale, &inv, H, &s->a_rt, t, y);
            }
        }
    }
}

/* After the expert down projections, two rows at a time: the A8 combine of each token's
 * experts, x = (r + RMSNorm(RMSNorm(mlp, n1) + RMSNorm(moe, n2), n)) * scalar, then the A3 row
 * of RMSNorm(x, next_norm) into a_in (the next layer's attention input, or the head's). */
static void ffn_res_range(void *arg, int b, int e, int wk)
{
    res_job *j = arg;
    cpu_state *s = j->s;
    const model_layer *L = j->L;
    const int H = (int)s->m->hp.hidden, has_moe = s->m->hp.n_exp != 0;
    const float eps = s->m->hp.eps;
    float *sc = scratch_rows(s, wk); /* y of the two rows, then their combines */
    for (int t0 = b; t0 < e; t0 += 2) {
        const int nr = e - t0 < 2 ? e - t0 : 2;
        const float *in[4];
        float *y[2], *acc[2], *x[2], f[4];
        int n_in = 0;
        for (int u = 0; u < nr; u++) {
            y[u] = sc + (size_t)u * s->rowbuf_w;
            acc[u] = sc + (size_t)(2 + u) * s->rowbuf_w;
            x[u] = s->x + (size_t)(t0 + u) * H;
            in[n_in++] = s->mlp + (size_t)(t0 + u) * H;
        }
        if (has_moe)
            for (int u = 0; u < nr; u++) {
                combine_row(s, t0 + u, acc[u]);
                in[n_in++] = acc[u];
            }
        rms_factors(in, n_in, H, eps, f); /* mlp rows, then the combines */
        for (int u = 0; u < nr; u++) {
            vm_scale_mul(in[u], f[u], L->post_ffw_norm_1, y[u], (size_t)H);
            if (has_moe) {
                vm_scale_mul(acc[u], f[nr + u], L->post_ffw_norm_2, acc[u], (size_t)H);
                vm_add(y[u], acc[u], y[u], (size_t)H);
            }
        }
        rms_factors((const float *const *)y, nr, H, eps, f);
        for (int u = 0; u < nr; u++) {
            vm_scale_mul(y[u], f[u], L->post_ffw_norm, y[u], (size_t)H);
            vm_add_scale(s->r + (size_t)(t0 + u) * H, y[u], j->scalar, x[u], (size_t)H);
        }
        if (j->next_norm) {
            rms_factors((const float *const *)x, nr, H, eps, f);
            for (int u = 0; u < nr; u++)
                vm_quantize_scaled_row(x[u], f[u], j->next_norm, NULL, H, &s->a_in, t0 + u, y[u]);
        }
    }
}

/* h = gelu(gate) * up (separate buffers) into the worker's scratch row, then A3 of h. */
static void glu2_range(void *arg, int b, int e, int wk)
{
    glu_job *j = arg;
    float *h = scratch_rows(j->s, wk);
    for (int t = b; t < e; t++) {
        vm_gelu_glu(j->gu + (size_t)t * j->F, j->up + (size_t)t * j->F, h, (size_t)j->F);
        quantize_row(j->out, t, h, j->F);
    }
}

/* Dense gated MLP: out = Down(gelu(Gate a) * Up a), a the A3 rows of its normed input. */
static void dense_mlp(cpu_state *s, const q8_act *a, const q8_weight *Wg, const q8_weight *Wu,
                      const q8_weight *Wd, float *out, int T, prof_op op)
{
    int H = (int)s->m->hp.hidden, F = (int)s->m->hp.ff;
    mm(s, op, Wg, a, s->gate, F);
    mm(s, op, Wu, a, s->up, F);
    double t0 = prof_now();
    q8_act g = act_view(&s->a_big, T, F);
    glu_job gj = {s, s->gate, s->up, F, T, &g};
    tp_parallel_for_dynamic(s->tp, T, 8, glu2_range, &gj);
    s->prof.seconds[PROF_ELEMWISE] += prof_now() - t0;
    mm(s, op, Wd, &g, out, H);
}

/* The norm whose A3 rows layer l leaves in a_in for what follows it: the next layer's
 * attention norm, after the last layer the output norm (decoder) or nothing (encoder). */
static const float *next_norm(const cpu_state *s, uint32_t l, int decoder)
{
    if (l + 1 < s->m->hp.n_layers)
        return s->m->layers[l + 1].attn_norm;
    return decoder ? s->m->output_norm : NULL;
}

/* One layer over T rows in s->x at positions pos0..., with a_in holding the A3 rows of
 * RMSNorm(x, attn_norm) (written by the previous layer's ffn_res_range or the pass's input
 * region); it leaves the A3 rows of next_norm() in a_in. Encoder: writes K,V into the cache
 * and, on the last layer, stops there (nothing after it is used). */
static void layer_forward(cpu_state *s, uint32_t l, int T, uint32_t pos0, int decoder)
{
    const model *m = s->m;
    const model_hparams *hp = &m->hp;
    const model_layer *L = &m->layers[l];
    int H = (int)hp->hidden, d = (int)L->head_dim, nh = (int)hp->n_head, nkv = (int)L->n_kv;
    size_t kvw = (size_t)nkv * d;
    q8_act a = act_view(&s->a_in, T, H);
    mm(s, PROF_MM_QKV, &L->wq, &a, s->q, nh * d);
    mm(s, PROF_MM_QKV, &L->wk, &a, s->k, (int)kvw);
    if (L->sliding)
        mm(s, PROF_MM_QKV, &L->wv, &a, s->v, (int)kvw);
    double t0 = prof_now();
    int sl = L->sliding ? 1 : 0;
    attn_job aj = {s, L, pos0, T, decoder, s->rope_cos[sl], s->rope_sin[sl]};
    tp_parallel_for(s->tp, T * nkv + (decoder ? nkv : 0), 8, kv_prep_range, &aj);
    if (!decoder) {
        for (int t = 0; t < T; t++) {
            size_t slot = (size_t)((pos0 + (uint32_t)t) % s->slots[l]);
            memcpy(s->kc[l] + slot * kvw, s->k + (size_t)t * kvw, kvw * sizeof(float));
            memcpy(s->vc[l] + slot * kvw, s->v + (size_t)t * kvw, kvw * sizeof(float));
        }
        if (l + 1 == hp->n_layers) {
            s->prof.seconds[PROF_ATTN] += prof_now() - t0;
            return;
        }
    }
    int tq = decoder ? ATT_TQ : 1, tiles = (T + tq - 1) / tq;
    tp_parallel_for(s->tp, tiles * (nh / att_heads_per_item(nh / nkv, tq)), 1, attn_range, &aj);
    s->prof.seconds[PROF_ATTN] += prof_now() - t0;
    t0 = prof_now();
    a = quantize(s, s->att, T, nh * d, &s->a_big);
    s->prof.seconds[PROF_ELEMWISE] += prof_now() - t0;
    mm(s, PROF_MM_O, &L->wo, &a, s->tmp, H);
    t0 = prof_now();
    res_job rj = {s, L, T, decoder ? L->out_scale : L->enc_out_scale, next_norm(s, l, decoder)};
    tp_parallel_for_dynamic(s->tp, T, 8, attn_res_range, &rj);
    s->prof.seconds[PROF_ELEMWISE] += prof_now() - t0;
    q8_act af = act_view(&s->a_in, T, H);
    dense_mlp(s, &af, &L->ffn_gate, &L->ffn_up, &L->ffn_down, s->mlp, T, PROF_MM_MLP);
    if (hp->n_exp)
        moe(s, L, T);
    t0 = prof_now();
    tp_parallel_for_dynamic(s->tp, T, 8, ffn_res_range, &rj);
    s->prof.seconds[PROF_ELEMWISE] += prof_now() - t0;
}

/* ---------------------------------------------------------------- passes */

typedef struct {
    cpu_state *s;
    const int32_t *ids;
    float scale;
    float *out;
    const float *norm; /* when set: also the A3 rows of RMSNorm(out, norm) into a_in */
} embd_job;

static void embd_range(void *arg, int b, int e, int wk)
{
    embd_job *j = arg;
    int H = (int)j->s->m->hp.hidden;
    for (int t = b; t < e; t++) {
        float *o = j->out + (size_t)t * H;
        model_embedding_row(j->s->m, j->ids[t], o);
        vm_scale_mul(o, j->scale, NULL, o, (size_t)H);
        if (j->norm)
            norm_quantize_row(&j->s->a_in, t, o, j->norm, scratch_rows(j->s, wk), H,
                              j->s->m->hp.eps);
    }
}

static int check_ids(cpu_state *s, const int32_t *ids, uint32_t n, char *err, size_t errlen)
{
    for (uint32_t i = 0; i < n; i++)
        if (ids[i] < 0 || (uint32_t)ids[i] >= s->m->hp.vocab)
            return fail(err, errlen, EINVAL_,
                        "token id %d at index %u is outside the vocabulary (%u)", ids[i], i,
                        s->m->hp.vocab);
    return 0;
}

static int cpu_encode(void *state, const int32_t *ids, uint32_t n, uint32_t pos0, char *err,
                      size_t errlen)
{
    cpu_state *s = state;
    if (pos0 != s->n_cached || pos0 + n > s->cap || n == 0)
        return fail(err, errlen, EINVAL_,
                    "encode of %u tokens at position %u does not fit the cache (%u cached, room "
                    "for %u)",
                    n, pos0, s->n_cached, s->cap);
    int rc = check_ids(s, ids, n, err, errlen);
    if (rc)
        return rc;
    float scale = sqrtf((float)s->m->hp.hidden);
    const float *norm0 = s->m->hp.n_layers ? s->m->layers[0].attn_norm : NULL;
    for (uint32_t done = 0; done < n;) {
        int T = (int)(n - done < s->T ? n - done : s->T);
        uint32_t p = pos0 + done;
        double t0 = prof_now();
        embd_job ej = {s, ids + done, scale, s->x, norm0};
        tp_parallel_for_dynamic(s->tp, T, 8, embd_range, &ej);
        rope_tables(s, p, T);
        s->prof.seconds[PROF_ELEMWISE] += prof_now() - t0;
        for (uint32_t l = 0; l < s->m->hp.n_layers; l++)
            layer_forward(s, l, T, p, 0);
        done += (uint32_t)T;
        s->n_cached = p + (uint32_t)T;
    }
    return 0;
}

typedef struct {
    cpu_state *s;
    float scale;
    const float *norm; /* the A3 rows of RMSNorm(result, norm) go to a_in */
} sc_job;

/* soft = soft * s, then the A3 rows of RMSNorm(soft, self_cond_pre_norm): the SC MLP's input */
static void sc_in_range(void *arg, int b, int e, int wk)
{
    sc_job *j = arg;
    cpu_state *s = j->s;
    int H = (int)s->m->hp.hidden;
    for (int t = b; t < e; t++) {
        float *y = s->tmp + (size_t)t * H;
        vm_scale_mul(y, j->scale, NULL, y, (size_t)H);
        norm_quantize_row(&s->a_in, t, y, j->norm, scratch_rows(s, wk), H, s->m->hp.eps);
    }
}

/* x0 = RMSNorm_noscale(e + sc) (sc absent on a canvas's first step), then the A3 rows of
 * RMSNorm(x0, norm) into a_in (the first layer's attention input). */
static void dec_in_range(void *arg, int b, int e, int wk)
{
    sc_job *j = arg;
    cpu_state *s = j->s;
    int H = (int)s->m->hp.hidden;
    const float eps = s->m->hp.eps;
    for (int t = b; t < e; t++) {
        float *x = s->x + (size_t)t * H, *em = s->emb + (size_t)t * H;
        if (j->scale != 0.0f)
            vm_add(em, s->mlp + (size_t)t * H, em, (size_t)H);
        vm_scale_mul(em, rms_factor(em, H, eps), NULL, x, (size_t)H);
        if (j->norm)
            norm_quantize_row(&s->a_in, t, x, j->norm, scratch_rows(s, wk), H, eps);
    }
}

typedef struct {
    float *y;
    int n;
    float cap;
} cap_job;

static void softcap_range(void *arg, int b, int e, int wk)
{
    (void)wk;
    cap_job *j = arg;
    for (int t = b; t < e; t++)
        vm_softcap(j->y + (size_t)t * j->n, (size_t)j->n, j->cap);
}

/* The decoder pass with the SC input as float P (sc_probs), as its A3 rows (sc_q8), or
 * neither. */
static int decode_pass(void *state, const int32_t *ids, uint32_t n, uint32_t pos0,
                       const float *sc_probs, const q8_act *sc_q8, float *logits, char *err,
                       size_t errlen)
{
    cpu_state *s = state;
    const model *m = s->m;
    const model_hparams *hp = &m->hp;
    int H = (int)hp->hidden, T = (int)n;
    if (n == 0 || n > s->T || pos0 != s->n_cached)
        return fail(err, errlen, EINVAL_,
                    "decode of %u tokens at position %u: need 1..%u tokens at the cache end (%u)",
                    n, pos0, s->T, s->n_cached);
    int rc = check_ids(s, ids, n, err, errlen);
    if (rc)
        return rc;
    if (sc_q8 && (sc_q8->rows != T || sc_q8->cols != (int)hp->vocab_pad))
        return fail(err, errlen, EINVAL_,
                    "self-conditioning input of %d x %d values; the canvas needs %d x %u",
                    sc_q8->rows, sc_q8->cols, T, hp->vocab_pad);
    float scale = sqrtf((float)hp->hidden);
    double t0 = prof_now();
    embd_job ej = {s, ids, scale, s->emb, NULL};
    tp_parallel_for_dynamic(s->tp, T, 8, embd_range, &ej);
    rope_tables(s, pos0, T);
    s->prof.seconds[PROF_ELEMWISE] += prof_now() - t0;
    int have_sc = sc_probs || sc_q8;
    if (have_sc) {
        /* soft = (P E) * s via E^T (A9), then the SC MLP. */
        q8_act p;
        if (sc_q8) {
            p = *sc_q8;
        } else {
            t0 = prof_now();
            p = quantize(s, sc_probs, T, (int)hp->vocab_pad, &s->a_big);
            s->prof.seconds[PROF_SC_PREP] += prof_now() - t0;
        }
        mm(s, PROF_MM_SC, &m->tok_embd_t, &p, s->tmp, H);
        t0 = prof_now();
        sc_job sj = {s, scale, m->sc_pre_norm};
        tp_parallel_for_dynamic(s->tp, T, 8, sc_in_range, &sj);
        s->prof.seconds[PROF_ELEMWISE] += prof_now() - t0;
        q8_act a = act_view(&s->a_in, T, H);
        dense_mlp(s, &a, &m->sc_gate, &m->sc_up, &m->sc_down, s->mlp, T, PROF_MM_SC);
    }
    t0 = prof_now();
    sc_job dj = {s, have_sc ? 1.0f : 0.0f, hp->n_layers ? m->layers[0].attn_norm : m->output_norm};
    tp_parallel_for_dynamic(s->tp, T, 8, dec_in_range, &dj);
    s->prof.seconds[PROF_ELEMWISE] += prof_now() - t0;
    for (uint32_t l = 0; l < hp->n_layers; l++)
        layer_forward(s, l, T, pos0, 1);
    /* a_in holds the A3 rows of RMSNorm(x, output_norm) (the last layer's ffn_res_range) */
    q8_act a = act_view(&s->a_in, T, H);
    mm(s, PROF_MM_HEAD, &m->tok_embd, &a, logits, (int)hp->vocab);
    if (hp->softcap > 0) {
        t0 = prof_now();
        cap_job cj = {logits, (int)hp->vocab, hp->softcap};
        tp_parallel_for_dynamic(s->tp, T, 4, softcap_range, &cj);
        s->prof.seconds[PROF_ELEMWISE] += prof_now() - t0;
    }
    return 0;
}

static int cpu_decode(void *state, const int32_t *ids, uint32_t n, uint32_t pos0,
                      const float *sc_probs, float *logits, char *err, size_t errlen)
{
    return decode_pass(state, ids, n, pos0, sc_probs, NULL, logits, err, errlen);
}

static int cpu_decode_q8(void *state, const int32_t *ids, uint32_t n, uint32_t pos0,
                         const q8_act *sc, float *logits, char *err, size_t errlen)
{
    return decode_pass(state, ids, n, pos0, NULL, sc, logits, err, errlen);
}

static engine_profile *cpu_profile(void *state)
{
    return &((cpu_state *)state)->prof;
}

static const backend_ops cpu_ops = {
    .name = "cpu",
    .create = cpu_create,
    .destroy = cpu_destroy,
    .reset = cpu_reset,
    .encode = cpu_encode,
    .decode = cpu_decode,
    .decode_q8 = cpu_decode_q8,
    .profile = cpu_profile,
};

const backend_ops *cpu_backend(void)
{
    return &cpu_ops;
}

const float *cpu_backend_kv(void *state, uint32_t layer, int which, uint32_t *n_cached,
                            uint32_t *n_slots)
{
    cpu_state *s = state;
    if (!s || layer >= s->m->hp.n_layers || !s->kc)
        return NULL;
    *n_cached = s->n_cached;
    *n_slots = s->slots[layer];
    return which ? s->vc[layer] : s->kc[layer];
}
