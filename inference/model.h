/*
 * A DiffusionGemma model as the CPU engine uses it: hyperparameters read from the GGUF's
 * metadata and every tensor bound, shape- and type-checked and prepared for the canonical
 * arithmetic (docs/arithmetic.md A4): Q8_0 matrices are used in place from the mmap, other
 * formats are converted at load into owned Q8_0; 1-D tensors become f32. Also builds the
 * vocabulary-major embedding copy E^T used by self-conditioning (A9).
 *
 * Layout and names: shared/design/diffusiongemma.md §6 (ggml shapes, ne0 = input features).
 */
#ifndef SIBYL_INFERENCE_MODEL_H
#define SIBYL_INFERENCE_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "inference/gguf.h"
#include "inference/quant.h"
#include "inference/threadpool.h"

#define MODEL_ARCH "diffusion-gemma"
#define MODEL_MAX_LAYERS 256

typedef struct {
    uint32_t n_layers, hidden, ff, n_head;
    uint32_t vocab, vocab_pad; /* vocab_pad = vocab rounded up to a multiple of 32 */
    uint32_t context_length;
    uint32_t n_exp, n_exp_used, exp_ff; /* n_exp == 0: no MoE */
    uint32_t head_dim, head_dim_swa;    /* global / sliding layers */
    uint32_t rope_dims, rope_dims_swa;
    float rope_base, rope_base_swa;
    uint32_t sliding_window;
    float eps, softcap; /* softcap 0 = none */
    uint32_t canvas_length;
    /* Sampler defaults (diffusion.eb_*; the published values where absent). */
    uint32_t eb_max_steps, eb_stability;
    float eb_t_min, eb_t_max, eb_entropy_bound, eb_confidence;
    int32_t eos_id; /* tokenizer.ggml.eos_token_id, -1 if absent */
} model_hparams;

typedef struct {
    int sliding; /* 1 = sliding-window layer, 0 = global */
    uint32_t n_kv, head_dim, rope_dims;
    float rope_base;
    q8_weight wq, wk, wv, wo; /* wv.blocks == NULL on global layers (V = raw k_proj output) */
    const float *attn_norm, *q_norm, *k_norm, *post_attn_norm;
    const float *ffn_norm, *post_ffw_norm_1, *pre_ffw_norm_2, *post_ffw_norm_2, *post_ffw_norm;
    q8_weight ffn_gate, ffn_up, ffn_down;
    q8_weight router;          /* rows n_exp, cols hidden */
    const float *router_scale; /* [hidden] */
    /* Experts: rows of expert e start at e * exp_stride_gu blocks. fused: one matrix of
     * 2*exp_ff rows per expert (gate rows first); split: gate_exps and up_exps separate. */
    int fused;
    const block_q8_0 *gate_up_exps, *gate_exps, *up_exps, *down_exps;
    const float *down_exps_scale;   /* [n_exp] per-expert scale */
    float out_scale, enc_out_scale; /* decoder / encoder layer_scalar */
} model_layer;

typedef struct model {
    model_hparams hp;
    gguf_file *gguf;      /* owned */
    model_layer *layers;  /* hp.n_layers */
    q8_weight tok_embd;   /* rows vocab, cols hidden: embedding and tied output head */
    q8_weight tok_embd_t; /* E^T: rows hidden, cols vocab_pad (A9), built at load */
    const float *output_norm;
    const float *rope_freqs; /* [head_dim/2] or NULL */
    const float *sc_pre_norm;
    q8_weight sc_gate, sc_up, sc_down;
    uint64_t n_params;
    uint64_t bytes_mapped, bytes_owned; /* weight bytes used in place / converted copies */
    int all_q8_zero_copy;               /* every matrix used in place from the mmap */
    uint32_t n_mapped, n_converted;     /* matrices used in place / converted to owned Q8_0 */
    char converted_types[64];           /* the source types converted, e.g. "f32 bf16" */
    void **owned;                       /* buffers this model allocated */
    size_t n_owned, cap_owned;
} model;

/* Opens and prepares the model at path. tp (may be NULL) parallelises the conversions.
 * ENGINE-style errors: returns 0, or -2 (model problem, message names the key/tensor and the
 * expected vs actual shape) / -4 (out of memory). */
int model_load(const char *path, threadpool *tp, model **out, char *err, size_t errlen);
/* Same from an already-open GGUF (taken over: closed by model_free, also on failure). */
int model_load_gguf(gguf_file *f, threadpool *tp, model **out, char *err, size_t errlen);
void model_free(model *m);

/* Exact dequantisation of embedding row id into out[hidden] (no scale). */
void model_embedding_row(const model *m, int32_t id, float *out);

#endif
