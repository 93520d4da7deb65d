/* Test helper: see testmodel.h. */
#include "tests/inference/testmodel.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inference/gguf_write.h"
#include "inference/quant.h"
#include "inference/tokenizer.h"

typedef struct {
    char name[64];
    int nd;
    int64_t ne[3];
    int kind; /* 0 matrix, 1 norm (around 1), 2 scalar (around 1), 3 rope_freqs, 4 positive scale */
} spec;

static uint64_t rng_next(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return *s >> 11;
}

static float rng_unit(uint64_t *s) /* uniform in [-1, 1) */
{
    return (float)((double)(rng_next(s) & ((1ULL << 53) - 1)) / (double)(1ULL << 52) - 1.0);
}

static int add(spec *v, int n, const char *name, int nd, int64_t a, int64_t b, int64_t c, int kind)
{
    snprintf(v[n].name, sizeof v[n].name, "%s", name);
    v[n].nd = nd;
    v[n].ne[0] = a;
    v[n].ne[1] = b;
    v[n].ne[2] = c;
    v[n].kind = kind;
    return n + 1;
}

int testmodel_write(const char *path, const testmodel_opts *o, char *err, size_t errlen)
{
    spec v[256];
    int n = 0;
    char nm[64];
    n = add(v, n, "token_embd.weight", 2, TM_HIDDEN, TM_VOCAB, 1, 0);
    n = add(v, n, "output_norm.weight", 1, TM_HIDDEN, 1, 1, 1);
    n = add(v, n, "rope_freqs.weight", 1, TM_D_GLOBAL / 2, 1, 1, 3);
    n = add(v, n, "self_cond_pre_norm.weight", 1, TM_HIDDEN, 1, 1, 1);
    n = add(v, n, "self_cond_gate.weight", 2, TM_HIDDEN, TM_FF, 1, 0);
    n = add(v, n, "self_cond_up.weight", 2, TM_HIDDEN, TM_FF, 1, 0);
    n = add(v, n, "self_cond_down.weight", 2, TM_FF, TM_HIDDEN, 1, 0);
    for (int l = 0; l < TM_LAYERS; l++) {
        int sliding = l < 2, d = sliding ? TM_D_SWA : TM_D_GLOBAL;
        int kv = sliding ? TM_KV_SWA : TM_KV_GLOBAL;
#define T(s, nd, a, b, c, k)                                                                       \
    (snprintf(nm, sizeof nm, "blk.%d." s, l), n = add(v, n, nm, nd, a, b, c, k))
        T("attn_norm.weight", 1, TM_HIDDEN, 1, 1, 1);
        T("attn_q.weight", 2, TM_HIDDEN, TM_HEADS * d, 1, 0);
        T("attn_k.weight", 2, TM_HIDDEN, kv * d, 1, 0);
        if (sliding)
            T("attn_v.weight", 2, TM_HIDDEN, kv * d, 1, 0);
        T("attn_output.weight", 2, TM_HEADS * d, TM_HIDDEN, 1, 0);
        T("attn_q_norm.weight", 1, d, 1, 1, 1);
        T("attn_k_norm.weight", 1, d, 1, 1, 1);
        T("post_attention_norm.weight", 1, TM_HIDDEN, 1, 1, 1);
        T("ffn_norm.weight", 1, TM_HIDDEN, 1, 1, 1);
        T("ffn_gate.weight", 2, TM_HIDDEN, TM_FF, 1, 0);
        T("ffn_up.weight", 2, TM_HIDDEN, TM_FF, 1, 0);
        T("ffn_down.weight", 2, TM_FF, TM_HIDDEN, 1, 0);
        T("post_ffw_norm_1.weight", 1, TM_HIDDEN, 1, 1, 1);
        T("pre_ffw_norm_2.weight", 1, TM_HIDDEN, 1, 1, 1);
        T("post_ffw_norm_2.weight", 1, TM_HIDDEN, 1, 1, 1);
        T("post_ffw_norm.weight", 1, TM_HIDDEN, 1, 1, 1);
        T("ffn_gate_inp.weight", 2, TM_HIDDEN, TM_EXPERTS, 1, 0);
        T("ffn_gate_inp.scale", 1, TM_HIDDEN, 1, 1, 1);
        if (o->split_experts) {
            T("ffn_gate_exps.weight", 3, TM_HIDDEN, TM_EXP_FF, TM_EXPERTS, 0);
            T("ffn_up_exps.weight", 3, TM_HIDDEN, TM_EXP_FF, TM_EXPERTS, 0);
        } else {
            T("ffn_gate_up_exps.weight", 3, TM_HIDDEN, 2 * TM_EXP_FF, TM_EXPERTS, 0);
        }
        T("ffn_down_exps.weight", 3, TM_EXP_FF, TM_HIDDEN, TM_EXPERTS, 0);
        T("ffn_down_exps.scale", 1, TM_EXPERTS, 1, 1, 4);
        T("layer_output_scale.weight", 1, 1, 1, 1, 2);
        T("enc_layer_output_scale.weight", 1, 1, 1, 1, 2);
#undef T
    }
    tok_vocab_owned voc;
    if (tok_build_small_vocab(TM_VOCAB, &voc, err, errlen))
        return -1;
    gguf_writer *w;
    if (gguf_writer_open(path, &w, err, errlen)) {
        tok_vocab_free(&voc);
        return -1;
    }
    const char *A = "diffusion-gemma.";
    char key[128];
#define K(s) (snprintf(key, sizeof key, "%s%s", A, s), key)
    gguf_writer_add_str(w, "general.architecture", o->arch ? o->arch : "diffusion-gemma");
    gguf_writer_add_u32(w, K("block_count"), TM_LAYERS);
    gguf_writer_add_u32(w, K("context_length"), o->context_length ? o->context_length : 256);
    gguf_writer_add_u32(w, K("embedding_length"), TM_HIDDEN);
    gguf_writer_add_u32(w, K("feed_forward_length"), TM_FF);
    gguf_writer_add_u32(w, K("attention.head_count"), TM_HEADS);
    int32_t kvs[TM_LAYERS] = {TM_KV_SWA, TM_KV_SWA, TM_KV_GLOBAL};
    gguf_writer_add_arr(w, K("attention.head_count_kv"), GGUF_TYPE_INT32, kvs, TM_LAYERS);
    uint8_t pat[TM_LAYERS] = {1, 1, 0};
    gguf_writer_add_arr(w, K("attention.sliding_window_pattern"), GGUF_TYPE_BOOL, pat, TM_LAYERS);
    gguf_writer_add_u32(w, K("attention.key_length"), TM_D_GLOBAL);
    gguf_writer_add_u32(w, K("attention.value_length"), TM_D_GLOBAL);
    gguf_writer_add_u32(w, K("attention.key_length_swa"), TM_D_SWA);
    gguf_writer_add_u32(w, K("attention.value_length_swa"), TM_D_SWA);
    gguf_writer_add_f32(w, K("attention.layer_norm_rms_epsilon"), 1e-6f);
    gguf_writer_add_u32(w, K("attention.sliding_window"), TM_WINDOW);
    gguf_writer_add_f32(w, K("rope.freq_base"), 1e6f);
    gguf_writer_add_f32(w, K("rope.freq_base_swa"), 1e4f);
    gguf_writer_add_u32(w, K("rope.dimension_count"), TM_D_GLOBAL);
    gguf_writer_add_u32(w, K("rope.dimension_count_swa"), TM_D_SWA);
    gguf_writer_add_u32(w, K("expert_count"), TM_EXPERTS);
    gguf_writer_add_u32(w, K("expert_used_count"), TM_EXPERTS_USED);
    gguf_writer_add_u32(w, K("expert_feed_forward_length"), TM_EXP_FF);
    gguf_writer_add_f32(w, K("final_logit_softcapping"), 30.0f);
    gguf_writer_add_u32(w, "diffusion.canvas_length", TM_CANVAS);
    gguf_writer_add_u32(w, "diffusion.eb_max_steps", 6);
    gguf_writer_add_str(w, "tokenizer.ggml.model", voc.v.model);
    gguf_writer_add_arr_str(w, "tokenizer.ggml.tokens", voc.v.tokens, voc.v.token_lens,
                            voc.v.n_tokens);
    if (voc.v.scores)
        gguf_writer_add_arr(w, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32, voc.v.scores,
                            voc.v.n_tokens);
    if (voc.v.token_types)
        gguf_writer_add_arr(w, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, voc.v.token_types,
                            voc.v.n_tokens);
    gguf_writer_add_arr_str(w, "tokenizer.ggml.merges", voc.v.merges, voc.v.merge_lens,
                            voc.v.n_merges);
    gguf_writer_add_u32(w, "tokenizer.ggml.bos_token_id", 2);
    gguf_writer_add_u32(w, "tokenizer.ggml.eos_token_id", 1);
    gguf_writer_add_u32(w, "tokenizer.ggml.padding_token_id", 0);
    gguf_writer_add_bool(w, "tokenizer.ggml.add_bos_token", 1);
#undef K
    tok_vocab_free(&voc);
    for (int i = 0; i < n; i++) {
        if (o->omit && !strcmp(o->omit, v[i].name))
            continue;
        int64_t ne[3] = {v[i].ne[0], v[i].ne[1], v[i].ne[2]};
        if (o->misshape && !strcmp(o->misshape, v[i].name))
            ne[0] += 32;
        v[i].ne[0] = ne[0];
        gguf_writer_add_tensor(w, v[i].name, v[i].kind == 0 ? o->type : GGML_TYPE_F32,
                               (uint32_t)v[i].nd, ne);
    }
    if (gguf_writer_write_header(w)) {
        gguf_writer_close(w, err, errlen);
        return -1;
    }
    uint64_t s = o->seed * 0x9E3779B97F4A7C15ULL + 12345;
    for (int i = 0; i < n; i++) {
        if (o->omit && !strcmp(o->omit, v[i].name))
            continue;
        int64_t cols = v[i].ne[0], rows = v[i].ne[1] * v[i].ne[2];
        float *row = malloc((size_t)cols * sizeof(float));
        block_q8_0 *q = malloc((size_t)(cols / QK + 1) * sizeof(block_q8_0));
        if (!row || !q) {
            free(row);
            free(q);
            gguf_writer_abort(w);
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        float amp = 1.0f / sqrtf((float)cols);
        for (int64_t r = 0; r < rows; r++) {
            for (int64_t c = 0; c < cols; c++) {
                float u = rng_unit(&s);
                switch (v[i].kind) {
                case 0:
                    row[c] = 2.0f * amp * u;
                    break;
                case 1:
                    row[c] = 1.0f + 0.25f * u;
                    break;
                case 2:
                    row[c] = 1.0f + 0.1f * u;
                    break;
                case 3:
                    row[c] = c < v[i].ne[0] / 4 ? 1.0f : 1e30f;
                    break;
                default:
                    row[c] = 1.0f + 0.5f * u;
                    break;
                }
            }
            if (v[i].kind == 0 && o->type == GGML_TYPE_Q8_0) {
                q8_0_quantize_row(row, q, (int)cols);
                gguf_writer_write_tensor_data(w, q, (size_t)(cols / QK) * sizeof(block_q8_0));
            } else {
                gguf_writer_write_tensor_data(w, row, (size_t)cols * sizeof(float));
            }
        }
        free(row);
        free(q);
    }
    return gguf_writer_close(w, err, errlen) ? -1 : 0;
}
