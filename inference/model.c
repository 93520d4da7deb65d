/*
 * Loading a DiffusionGemma GGUF: metadata -> model_hparams, tensors -> model_layer, with every
 * shape and type checked before anything is used, and the A4 weight preparation.
 */
#include "inference/model.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EMODEL (-2)
#define ENOMEM_ (-4)

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

static void *own(model *m, size_t bytes)
{
    if (m->n_owned == m->cap_owned) {
        size_t cap = m->cap_owned ? 2 * m->cap_owned : 64;
        void **p = realloc(m->owned, cap * sizeof *p);
        if (!p)
            return NULL;
        m->owned = p;
        m->cap_owned = cap;
    }
    void *b = calloc(1, bytes ? bytes : 1);
    if (b)
        m->owned[m->n_owned++] = b;
    return b;
}

/* ---------------------------------------------------------------- metadata */

static int get_u32(const model *m, const char *key, uint32_t *v, int required, char *err,
                   size_t errlen)
{
    int rc = gguf_get_u32(m->gguf, key, v);
    if (rc == GGUF_ENOTFOUND && !required)
        return 1;
    if (rc)
        return fail(err, errlen, EMODEL, "model metadata '%s': %s", key,
                    rc == GGUF_ENOTFOUND ? "missing" : gguf_last_error(m->gguf));
    return 0;
}

static int get_f32(const model *m, const char *key, float *v, int required, char *err,
                   size_t errlen)
{
    int rc = gguf_get_f32(m->gguf, key, v);
    if (rc == GGUF_ENOTFOUND && !required)
        return 1;
    if (rc)
        return fail(err, errlen, EMODEL, "model metadata '%s': %s", key,
                    rc == GGUF_ENOTFOUND ? "missing" : gguf_last_error(m->gguf));
    if (!isfinite(*v))
        return fail(err, errlen, EMODEL, "model metadata '%s' is not finite", key);
    return 0;
}

#define KEY(suffix) MODEL_ARCH "." suffix

/* head_count_kv: an array with one entry per layer, or one scalar for all layers. */
static int read_layer_kv(model *m, char *err, size_t errlen)
{
    const char *key = KEY("attention.head_count_kv");
    uint32_t n = m->hp.n_layers;
    gguf_type et;
    uint64_t cnt;
    const void *data;
    if (gguf_get_arr(m->gguf, key, &et, &cnt, &data) == 0) {
        if (cnt != n)
            return fail(err, errlen, EMODEL, "model metadata '%s' has %llu entries, expected %u",
                        key, (unsigned long long)cnt, n);
        for (uint32_t l = 0; l < n; l++) {
            uint32_t v;
            if (gguf_get_arr_u32(m->gguf, key, l, &v))
                return fail(err, errlen, EMODEL, "model metadata '%s'[%u]: %s", key, l,
                            gguf_last_error(m->gguf));
            m->layers[l].n_kv = v;
        }
    } else {
        uint32_t v;
        int rc = get_u32(m, key, &v, 1, err, errlen);
        if (rc)
            return rc;
        for (uint32_t l = 0; l < n; l++)
            m->layers[l].n_kv = v;
    }
    key = KEY("attention.sliding_window_pattern");
    if (gguf_get_arr(m->gguf, key, &et, &cnt, &data) == 0) {
        if (cnt != n)
            return fail(err, errlen, EMODEL, "model metadata '%s' has %llu entries, expected %u",
                        key, (unsigned long long)cnt, n);
        for (uint32_t l = 0; l < n; l++) {
            int v;
            if (gguf_get_arr_bool(m->gguf, key, l, &v))
                return fail(err, errlen, EMODEL, "model metadata '%s'[%u]: %s", key, l,
                            gguf_last_error(m->gguf));
            m->layers[l].sliding = v != 0;
        }
    } else if (gguf_find_key(m->gguf, key) >= 0) {
        return fail(err, errlen, EMODEL, "model metadata '%s' is not a bool array", key);
    }
    return 0;
}

static int read_hparams(model *m, char *err, size_t errlen)
{
    model_hparams *hp = &m->hp;
    const char *arch;
    uint64_t alen;
    if (gguf_get_str(m->gguf, "general.architecture", &arch, &alen))
        return fail(err, errlen, EMODEL, "model metadata 'general.architecture' missing");
    if (alen != strlen(MODEL_ARCH) || memcmp(arch, MODEL_ARCH, alen))
        return fail(err, errlen, EMODEL, "unknown architecture '%.*s' (this engine runs '%s')",
                    (int)(alen > 64 ? 64 : alen), arch, MODEL_ARCH);
    int rc;
#define U32(k, dst)                                                                                \
    if ((rc = get_u32(m, k, dst, 1, err, errlen)))                                                 \
        return rc;
#define U32_OPT(k, dst, def)                                                                       \
    if ((rc = get_u32(m, k, dst, 0, err, errlen)) < 0)                                             \
        return rc;                                                                                 \
    if (rc == 1)                                                                                   \
        *(dst) = (def);
#define F32_OPT(k, dst, def)                                                                       \
    if ((rc = get_f32(m, k, dst, 0, err, errlen)) < 0)                                             \
        return rc;                                                                                 \
    if (rc == 1)                                                                                   \
        *(dst) = (def);
    U32(KEY("block_count"), &hp->n_layers);
    U32(KEY("embedding_length"), &hp->hidden);
    U32(KEY("feed_forward_length"), &hp->ff);
    U32(KEY("attention.head_count"), &hp->n_head);
    U32(KEY("context_length"), &hp->context_length);
    U32(KEY("attention.key_length"), &hp->head_dim);
    U32_OPT(KEY("attention.key_length_swa"), &hp->head_dim_swa, hp->head_dim);
    uint32_t vlen, vlen_swa;
    U32_OPT(KEY("attention.value_length"), &vlen, hp->head_dim);
    U32_OPT(KEY("attention.value_length_swa"), &vlen_swa, hp->head_dim_swa);
    if (vlen != hp->head_dim || vlen_swa != hp->head_dim_swa)
        return fail(err, errlen, EMODEL,
                    "model metadata: value_length (%u/%u) must equal key_length (%u/%u)", vlen,
                    vlen_swa, hp->head_dim, hp->head_dim_swa);
    U32_OPT(KEY("rope.dimension_count"), &hp->rope_dims, hp->head_dim);
    U32_OPT(KEY("rope.dimension_count_swa"), &hp->rope_dims_swa, hp->head_dim_swa);
    F32_OPT(KEY("rope.freq_base"), &hp->rope_base, 10000.0f);
    F32_OPT(KEY("rope.freq_base_swa"), &hp->rope_base_swa, hp->rope_base);
    U32_OPT(KEY("attention.sliding_window"), &hp->sliding_window, 0);
    F32_OPT(KEY("attention.layer_norm_rms_epsilon"), &hp->eps, 1e-6f);
    F32_OPT(KEY("final_logit_softcapping"), &hp->softcap, 0.0f);
    U32_OPT(KEY("expert_count"), &hp->n_exp, 0);
    U32_OPT(KEY("expert_used_count"), &hp->n_exp_used, 0);
    U32_OPT(KEY("expert_feed_forward_length"), &hp->exp_ff, 0);
    U32("diffusion.canvas_length", &hp->canvas_length);
    U32_OPT("diffusion.eb_max_steps", &hp->eb_max_steps, 48);
    U32_OPT("diffusion.eb_stability_threshold", &hp->eb_stability, 1);
    F32_OPT("diffusion.eb_t_min", &hp->eb_t_min, 0.4f);
    F32_OPT("diffusion.eb_t_max", &hp->eb_t_max, 0.8f);
    F32_OPT("diffusion.eb_entropy_bound", &hp->eb_entropy_bound, 0.1f);
    F32_OPT("diffusion.eb_confidence_threshold", &hp->eb_confidence, 0.005f);
    uint32_t eos;
    U32_OPT("tokenizer.ggml.eos_token_id", &eos, UINT32_MAX);
    hp->eos_id = eos == UINT32_MAX ? -1 : (int32_t)eos;
#undef U32
#undef U32_OPT
#undef F32_OPT

    if (hp->n_layers == 0 || hp->n_layers > MODEL_MAX_LAYERS)
        return fail(err, errlen, EMODEL, "model metadata: block_count %u out of range 1..%d",
                    hp->n_layers, MODEL_MAX_LAYERS);
    if (hp->hidden == 0 || hp->hidden % QK || hp->ff == 0 || hp->ff % QK)
        return fail(err, errlen, EMODEL,
                    "model metadata: embedding_length %u and feed_forward_length %u must be "
                    "positive multiples of %d",
                    hp->hidden, hp->ff, QK);
    if (hp->n_head == 0 || hp->head_dim == 0 || hp->head_dim_swa == 0 || hp->head_dim % 2 ||
        hp->head_dim_swa % 2 || (hp->n_head * hp->head_dim) % QK ||
        (hp->n_head * hp->head_dim_swa) % QK)
        return fail(err, errlen, EMODEL,
                    "model metadata: head_count %u x key_length %u/%u must be even, positive "
                    "and give multiples of %d",
                    hp->n_head, hp->head_dim, hp->head_dim_swa, QK);
    if (hp->rope_dims > hp->head_dim || hp->rope_dims % 2 || hp->rope_dims_swa > hp->head_dim_swa ||
        hp->rope_dims_swa % 2)
        return fail(err, errlen, EMODEL,
                    "model metadata: rope.dimension_count %u/%u must be even and <= key_length",
                    hp->rope_dims, hp->rope_dims_swa);
    if (!(hp->rope_base > 0) || !(hp->rope_base_swa > 0) || !(hp->eps > 0) || hp->softcap < 0)
        return fail(err, errlen, EMODEL, "model metadata: rope bases, epsilon must be > 0");
    if (hp->n_exp) {
        if (hp->n_exp_used == 0 || hp->n_exp_used > hp->n_exp || hp->exp_ff == 0 || hp->exp_ff % QK)
            return fail(err, errlen, EMODEL,
                        "model metadata: expert_used_count %u (of %u) and "
                        "expert_feed_forward_length %u invalid (need 1..count, multiple of %d)",
                        hp->n_exp_used, hp->n_exp, hp->exp_ff, QK);
    }
    if (hp->canvas_length == 0 || hp->canvas_length > 65536)
        return fail(err, errlen, EMODEL, "model metadata: diffusion.canvas_length %u invalid",
                    hp->canvas_length);
    if (hp->context_length < hp->canvas_length)
        return fail(err, errlen, EMODEL, "model metadata: context_length %u < canvas_length %u",
                    hp->context_length, hp->canvas_length);
    return 0;
}

/* ---------------------------------------------------------------- tensors */

static void fmt_shape(char *buf, size_t len, const int64_t *ne, int n)
{
    size_t o = (size_t)snprintf(buf, len, "{");
    for (int i = 0; i < n && o < len; i++)
        o += (size_t)snprintf(buf + o, len - o, "%s%lld", i ? ", " : "", (long long)ne[i]);
    if (o < len)
        snprintf(buf + o, len - o, "}");
}

/* Finds name and checks its shape against want[0..nd) (remaining dims must be 1). */
static int find_checked(model *m, const char *name, const int64_t *want, int nd, int required,
                        const gguf_tensor **out, char *err, size_t errlen)
{
    const gguf_tensor *t = gguf_find_tensor(m->gguf, name);
    *out = t;
    if (!t) {
        if (!required)
            return 1;
        char ws[96];
        fmt_shape(ws, sizeof ws, want, nd);
        return fail(err, errlen, EMODEL, "model tensor '%s' missing (expected shape %s)", name, ws);
    }
    int ok = 1;
    for (int i = 0; i < GGUF_MAX_DIMS; i++)
        if (t->ne[i] != (i < nd ? want[i] : 1))
            ok = 0;
    if (!ok) {
        char ws[96], hs[96];
        fmt_shape(ws, sizeof ws, want, nd);
        fmt_shape(hs, sizeof hs, t->ne, (int)t->n_dims);
        return fail(err, errlen, EMODEL, "model tensor '%s': expected shape %s, got %s", name, ws,
                    hs);
    }
    return 0;
}

/* A4 conversion of one matrix to owned Q8_0, rows in parallel. */
typedef struct {
    const gguf_tensor *t;
    block_q8_0 *dst;
    int cols;
    size_t row_bytes;
    float *tmp; /* one cols-sized buffer per worker */
} convert_job;

static void convert_rows(void *arg, int begin, int end, int worker)
{
    convert_job *j = arg;
    float *tmp = j->tmp + (size_t)worker * (size_t)j->cols;
    const uint8_t *base = j->t->data;
    int nb = j->cols / QK;
    for (int r = begin; r < end; r++) {
        const uint8_t *row = base + (size_t)r * j->row_bytes;
        switch (j->t->type) {
        case GGML_TYPE_F32:
            memcpy(tmp, row, (size_t)j->cols * sizeof(float));
            break;
        case GGML_TYPE_F16:
        case GGML_TYPE_BF16:
            for (int i = 0; i < j->cols; i++) {
                uint16_t h;
                memcpy(&h, row + 2 * (size_t)i, 2);
                tmp[i] = j->t->type == GGML_TYPE_F16 ? fp16_to_f32(h) : bf16_to_f32(h);
            }
            break;
        case GGML_TYPE_Q4_K:
            q4_k_dequantize_row(row, tmp, j->cols);
            break;
        case GGML_TYPE_Q6_K:
            q6_k_dequantize_row(row, tmp, j->cols);
            break;
        default:
            break;
        }
        q8_0_quantize_row(tmp, j->dst + (size_t)r * (size_t)nb, j->cols);
    }
}

/* Binds a matrix of `rows` rows of `cols` input features (ggml shape {cols, rows...}); for 3-D
 * expert tensors want = {cols, rows_per_expert, n_exp}. */
static int bind_matrix(model *m, threadpool *tp, const char *name, const int64_t *want, int nd,
                       int required, const block_q8_0 **blocks, char *err, size_t errlen)
{
    const gguf_tensor *t;
    int rc = find_checked(m, name, want, nd, required, &t, err, errlen);
    if (rc)
        return rc;
    int64_t cols = want[0], rows = 1;
    for (int i = 1; i < nd; i++)
        rows *= want[i];
    if (cols % QK)
        return fail(err, errlen, EMODEL,
                    "model tensor '%s': input dimension %lld is not a multiple of %d", name,
                    (long long)cols, QK);
    if (t->type == GGML_TYPE_Q8_0) {
        *blocks = t->data;
        m->bytes_mapped += t->nbytes;
        m->n_mapped++;
        return 0;
    }
    if (t->type != GGML_TYPE_F32 && t->type != GGML_TYPE_F16 && t->type != GGML_TYPE_BF16 &&
        t->type != GGML_TYPE_Q4_K && t->type != GGML_TYPE_Q6_K) {
        const char *tn = ggml_type_name(t->type);
        return fail(err, errlen, EMODEL,
                    "model tensor '%s' has type %s; supported: q8_0, f32, f16, bf16, q4_k, q6_k",
                    name, tn ? tn : "unknown");
    }
    size_t row_bytes = ggml_row_bytes(t->type, cols);
    if (row_bytes == 0)
        return fail(err, errlen, EMODEL, "model tensor '%s': rows of %lld are not whole %s blocks",
                    name, (long long)cols, ggml_type_name(t->type));
    size_t nbytes = (size_t)rows * (size_t)(cols / QK) * sizeof(block_q8_0);
    block_q8_0 *dst = own(m, nbytes);
    int nt = tp ? tp_threads(tp) : 1;
    float *tmp = malloc((size_t)nt * (size_t)cols * sizeof(float));
    if (!dst || !tmp) {
        free(tmp);
        return fail(err, errlen, ENOMEM_, "out of memory converting '%s'", name);
    }
    convert_job j = {t, dst, (int)cols, row_bytes, tmp};
    tp_parallel_for(tp, (int)rows, 16, convert_rows, &j);
    free(tmp);
    m->all_q8_zero_copy = 0;
    m->bytes_owned += nbytes;
    m->n_converted++;
    const char *tn = ggml_type_name(t->type);
    if (!strstr(m->converted_types, tn)) {
        size_t o = strlen(m->converted_types);
        snprintf(m->converted_types + o, sizeof m->converted_types - o, "%s%s", o ? " " : "", tn);
    }
    *blocks = dst;
    return 0;
}

static int bind_q8(model *m, threadpool *tp, const char *name, int64_t cols, int64_t rows,
                   q8_weight *w, char *err, size_t errlen)
{
    int64_t want[2] = {cols, rows};
    int rc = bind_matrix(m, tp, name, want, 2, 1, &w->blocks, err, errlen);
    w->rows = (int)rows;
    w->cols = (int)cols;
    return rc;
}

/* 1-D tensor as f32: in place when stored f32, else converted. */
static int bind_vec(model *m, const char *name, int64_t n, int required, const float **out,
                    char *err, size_t errlen)
{
    const gguf_tensor *t;
    int64_t want[1] = {n};
    *out = NULL;
    int rc = find_checked(m, name, want, 1, required, &t, err, errlen);
    if (rc)
        return rc;
    if (t->type == GGML_TYPE_F32 && ((uintptr_t)t->data % sizeof(float)) == 0) {
        *out = t->data;
        return 0;
    }
    if (t->type != GGML_TYPE_F32 && t->type != GGML_TYPE_F16 && t->type != GGML_TYPE_BF16) {
        const char *tn = ggml_type_name(t->type);
        return fail(err, errlen, EMODEL,
                    "model tensor '%s' has type %s; vectors must be f32, f16 or bf16", name,
                    tn ? tn : "unknown");
    }
    float *dst = own(m, (size_t)n * sizeof(float));
    if (!dst)
        return fail(err, errlen, ENOMEM_, "out of memory converting '%s'", name);
    const uint8_t *src = t->data;
    for (int64_t i = 0; i < n; i++) {
        if (t->type == GGML_TYPE_F32) {
            memcpy(&dst[i], src + 4 * i, 4);
        } else {
            uint16_t h;
            memcpy(&h, src + 2 * i, 2);
            dst[i] = t->type == GGML_TYPE_F16 ? fp16_to_f32(h) : bf16_to_f32(h);
        }
    }
    *out = dst;
    return 0;
}

static int bind_scalar(model *m, const char *name, float *v, char *err, size_t errlen)
{
    const float *p;
    int rc = bind_vec(m, name, 1, 1, &p, err, errlen);
    if (rc)
        return rc;
    *v = p[0];
    if (!isfinite(*v))
        return fail(err, errlen, EMODEL, "model tensor '%s' is not finite", name);
    return 0;
}

static int bind_layer(model *m, threadpool *tp, uint32_t l, char *err, size_t errlen)
{
    model_hparams *hp = &m->hp;
    model_layer *L = &m->layers[l];
    char name[128];
    int rc;
    int64_t H = hp->hidden;
    L->head_dim = L->sliding ? hp->head_dim_swa : hp->head_dim;
    L->rope_dims = L->sliding ? hp->rope_dims_swa : hp->rope_dims;
    L->rope_base = L->sliding ? hp->rope_base_swa : hp->rope_base;
    int64_t d = L->head_dim, nq = (int64_t)hp->n_head * d, nkv = (int64_t)L->n_kv * d;
    if (L->n_kv == 0 || hp->n_head % L->n_kv)
        return fail(err, errlen, EMODEL,
                    "model metadata: layer %u has %u KV heads, which must divide head_count %u", l,
                    L->n_kv, hp->n_head);
    if (nkv % QK)
        return fail(err, errlen, EMODEL, "model: layer %u K width %lld not a multiple of %d", l,
                    (long long)nkv, QK);
#define NAME(s) (snprintf(name, sizeof name, "blk.%u." s, l), name)
#define CHK(x)                                                                                     \
    if ((rc = (x)))                                                                                \
        return rc;
    CHK(bind_vec(m, NAME("attn_norm.weight"), H, 1, &L->attn_norm, err, errlen));
    CHK(bind_q8(m, tp, NAME("attn_q.weight"), H, nq, &L->wq, err, errlen));
    CHK(bind_q8(m, tp, NAME("attn_k.weight"), H, nkv, &L->wk, err, errlen));
    if (L->sliding) {
        CHK(bind_q8(m, tp, NAME("attn_v.weight"), H, nkv, &L->wv, err, errlen));
    } else {
        memset(&L->wv, 0, sizeof L->wv);
        if (gguf_find_tensor(m->gguf, NAME("attn_v.weight")))
            return fail(err, errlen, EMODEL,
                        "model tensor '%s' present on a global layer (global layers take V "
                        "from attn_k)",
                        name);
    }
    CHK(bind_q8(m, tp, NAME("attn_output.weight"), nq, H, &L->wo, err, errlen));
    CHK(bind_vec(m, NAME("attn_q_norm.weight"), d, 1, &L->q_norm, err, errlen));
    CHK(bind_vec(m, NAME("attn_k_norm.weight"), d, 1, &L->k_norm, err, errlen));
    CHK(bind_vec(m, NAME("post_attention_norm.weight"), H, 1, &L->post_attn_norm, err, errlen));
    CHK(bind_vec(m, NAME("ffn_norm.weight"), H, 1, &L->ffn_norm, err, errlen));
    CHK(bind_q8(m, tp, NAME("ffn_gate.weight"), H, hp->ff, &L->ffn_gate, err, errlen));
    CHK(bind_q8(m, tp, NAME("ffn_up.weight"), H, hp->ff, &L->ffn_up, err, errlen));
    CHK(bind_q8(m, tp, NAME("ffn_down.weight"), hp->ff, H, &L->ffn_down, err, errlen));
    CHK(bind_vec(m, NAME("post_ffw_norm.weight"), H, 1, &L->post_ffw_norm, err, errlen));
    CHK(bind_scalar(m, NAME("layer_output_scale.weight"), &L->out_scale, err, errlen));
    CHK(bind_scalar(m, NAME("enc_layer_output_scale.weight"), &L->enc_out_scale, err, errlen));
    if (hp->n_exp) {
        int64_t E = hp->n_exp, F = hp->exp_ff;
        CHK(bind_vec(m, NAME("post_ffw_norm_1.weight"), H, 1, &L->post_ffw_norm_1, err, errlen));
        CHK(bind_vec(m, NAME("pre_ffw_norm_2.weight"), H, 1, &L->pre_ffw_norm_2, err, errlen));
        CHK(bind_vec(m, NAME("post_ffw_norm_2.weight"), H, 1, &L->post_ffw_norm_2, err, errlen));
        CHK(bind_q8(m, tp, NAME("ffn_gate_inp.weight"), H, E, &L->router, err, errlen));
        CHK(bind_vec(m, NAME("ffn_gate_inp.scale"), H, 1, &L->router_scale, err, errlen));
        int64_t gu[3] = {H, 2 * F, E}, one[3] = {H, F, E}, dn[3] = {F, H, E};
        if (gguf_find_tensor(m->gguf, NAME("ffn_gate_up_exps.weight"))) {
            L->fused = 1;
            CHK(bind_matrix(m, tp, name, gu, 3, 1, &L->gate_up_exps, err, errlen));
        } else {
            L->fused = 0;
            if (!gguf_find_tensor(m->gguf, NAME("ffn_gate_exps.weight")))
                return fail(err, errlen, EMODEL,
                            "model tensor 'blk.%u.ffn_gate_up_exps.weight' missing (expected "
                            "shape {%lld, %lld, %lld}, or split ffn_gate_exps/ffn_up_exps)",
                            l, (long long)H, (long long)(2 * F), (long long)E);
            CHK(bind_matrix(m, tp, NAME("ffn_gate_exps.weight"), one, 3, 1, &L->gate_exps, err,
                            errlen));
            CHK(bind_matrix(m, tp, NAME("ffn_up_exps.weight"), one, 3, 1, &L->up_exps, err,
                            errlen));
        }
        CHK(bind_matrix(m, tp, NAME("ffn_down_exps.weight"), dn, 3, 1, &L->down_exps, err, errlen));
        CHK(bind_vec(m, NAME("ffn_down_exps.scale"), E, 1, &L->down_exps_scale, err, errlen));
    } else {
        /* Dense-only model: post_ffw_norm_1 still normalises the MLP output. */
        CHK(bind_vec(m, NAME("post_ffw_norm_1.weight"), H, 1, &L->post_ffw_norm_1, err, errlen));
    }
#undef NAME
#undef CHK
    return 0;
}

/* E^T (A9): E dequantised exactly, requantised along the vocabulary axis. */
typedef struct {
    const model *m;
    block_q8_0 *dst;
    float *tmp; /* per worker: 32 x hidden + 32 */
} transpose_job;

static void transpose_blocks(void *arg, int begin, int end, int worker)
{
    transpose_job *j = arg;
    const model *m = j->m;
    int H = (int)m->hp.hidden, nb = (int)(m->hp.vocab_pad / QK);
    float *rows = j->tmp + (size_t)worker * ((size_t)QK * (size_t)H + QK);
    float *col = rows + (size_t)QK * (size_t)H;
    for (int b = begin; b < end; b++) {
        for (int i = 0; i < QK; i++) {
            uint32_t v = (uint32_t)b * QK + (uint32_t)i;
            if (v < m->hp.vocab)
                model_embedding_row(m, (int32_t)v, rows + (size_t)i * (size_t)H);
            else
                memset(rows + (size_t)i * (size_t)H, 0, (size_t)H * sizeof(float));
        }
        for (int n = 0; n < H; n++) {
            for (int i = 0; i < QK; i++)
                col[i] = rows[(size_t)i * (size_t)H + (size_t)n];
            q8_0_quantize_row(col, j->dst + (size_t)n * (size_t)nb + (size_t)b, QK);
        }
    }
}

static int build_embd_t(model *m, threadpool *tp, char *err, size_t errlen)
{
    int H = (int)m->hp.hidden, nb = (int)(m->hp.vocab_pad / QK);
    size_t bytes = (size_t)H * (size_t)nb * sizeof(block_q8_0);
    block_q8_0 *dst = own(m, bytes);
    int nt = tp ? tp_threads(tp) : 1;
    float *tmp = malloc((size_t)nt * ((size_t)QK * (size_t)H + QK) * sizeof(float));
    if (!dst || !tmp) {
        free(tmp);
        return fail(err, errlen, ENOMEM_, "out of memory building the transposed embedding");
    }
    transpose_job j = {m, dst, tmp};
    tp_parallel_for(tp, nb, 1, transpose_blocks, &j);
    free(tmp);
    m->bytes_owned += bytes;
    m->tok_embd_t.blocks = dst;
    m->tok_embd_t.rows = H;
    m->tok_embd_t.cols = (int)m->hp.vocab_pad;
    return 0;
}

void model_embedding_row(const model *m, int32_t id, float *out)
{
    int nb = m->tok_embd.cols / QK;
    q8_0_dequantize_row(m->tok_embd.blocks + (size_t)id * (size_t)nb, out, m->tok_embd.cols);
}

int model_load_gguf(gguf_file *f, threadpool *tp, model **out, char *err, size_t errlen)
{
    *out = NULL;
    model *m = calloc(1, sizeof *m);
    if (!m) {
        gguf_close(f);
        return fail(err, errlen, ENOMEM_, "out of memory");
    }
    m->gguf = f;
    m->all_q8_zero_copy = 1;
    int rc = read_hparams(m, err, errlen);
    if (rc)
        goto bad;
    m->layers = calloc(m->hp.n_layers, sizeof *m->layers);
    if (!m->layers) {
        rc = fail(err, errlen, ENOMEM_, "out of memory");
        goto bad;
    }
    if ((rc = read_layer_kv(m, err, errlen)))
        goto bad;
    const gguf_tensor *te = gguf_find_tensor(f, "token_embd.weight");
    if (!te) {
        rc = fail(err, errlen, EMODEL,
                  "model tensor 'token_embd.weight' missing (expected "
                  "shape {%u, vocab})",
                  m->hp.hidden);
        goto bad;
    }
    if (te->n_dims != 2 || te->ne[0] != m->hp.hidden || te->ne[1] < 1 || te->ne[1] > (1 << 24)) {
        char hs[96];
        fmt_shape(hs, sizeof hs, te->ne, (int)te->n_dims);
        rc = fail(err, errlen, EMODEL,
                  "model tensor 'token_embd.weight': expected shape {%u, vocab}, got %s",
                  m->hp.hidden, hs);
        goto bad;
    }
    m->hp.vocab = (uint32_t)te->ne[1];
    m->hp.vocab_pad = (m->hp.vocab + QK - 1) / QK * QK;
    if (m->hp.eos_id >= (int32_t)m->hp.vocab)
        m->hp.eos_id = -1;
    int64_t H = m->hp.hidden;
    if ((rc = bind_q8(m, tp, "token_embd.weight", H, m->hp.vocab, &m->tok_embd, err, errlen)))
        goto bad;
    if ((rc = bind_vec(m, "output_norm.weight", H, 1, &m->output_norm, err, errlen)))
        goto bad;
    if ((rc = bind_vec(m, "rope_freqs.weight", m->hp.head_dim / 2, 0, &m->rope_freqs, err,
                       errlen)) < 0)
        goto bad;
    if ((rc = bind_vec(m, "self_cond_pre_norm.weight", H, 1, &m->sc_pre_norm, err, errlen)) ||
        (rc = bind_q8(m, tp, "self_cond_gate.weight", H, m->hp.ff, &m->sc_gate, err, errlen)) ||
        (rc = bind_q8(m, tp, "self_cond_up.weight", H, m->hp.ff, &m->sc_up, err, errlen)) ||
        (rc = bind_q8(m, tp, "self_cond_down.weight", m->hp.ff, H, &m->sc_down, err, errlen)))
        goto bad;
    for (uint32_t l = 0; l < m->hp.n_layers; l++)
        if ((rc = bind_layer(m, tp, l, err, errlen)))
            goto bad;
    for (int64_t i = 0; i < gguf_n_tensors(f); i++)
        m->n_params += gguf_tensor_at(f, i)->n_elements;
    if ((rc = build_embd_t(m, tp, err, errlen)))
        goto bad;
    *out = m;
    return 0;
bad:
    model_free(m);
    return rc < 0 ? rc : EMODEL;
}

int model_load(const char *path, threadpool *tp, model **out, char *err, size_t errlen)
{
    gguf_file *f;
    char gerr[256];
    *out = NULL;
    if (gguf_open(path, &f, gerr, sizeof gerr))
        return fail(err, errlen, EMODEL, "cannot load model '%s': %s", path, gerr);
    return model_load_gguf(f, tp, out, err, errlen);
}

void model_free(model *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n_owned; i++)
        free(m->owned[i]);
    free(m->owned);
    free(m->layers);
    gguf_close(m->gguf);
    free(m);
}
