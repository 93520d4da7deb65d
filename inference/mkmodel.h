/*
 * Random-weight DiffusionGemma model files (`sibyl mkmodel`): a GGUF of arch "diffusion-gemma"
 * with the metadata keys and tensor names/shapes of the published GGUFs (diffusiongemma.md §6),
 * a small Gemma 4 style tokenizer (tokenizer.h), and weights drawn so the model is
 * well-conditioned (docs/models.md has the recipe and the parameter counts).
 *
 * The bytes depend only on (preset, layers, type, seed): not on the thread count.
 */
#ifndef SIBYL_INFERENCE_MKMODEL_H
#define SIBYL_INFERENCE_MKMODEL_H

#include <stddef.h>
#include <stdint.h>

#include "inference/gguf.h"

typedef struct {
    const char *name;
    uint32_t n_layers;
    uint32_t hidden;
    uint32_t n_head;
    uint32_t head_dim_swa, head_dim; /* sliding / global layers */
    uint32_t n_kv_swa, n_kv;         /* KV heads, sliding / global layers */
    uint32_t ff;                     /* dense MLP (and self-conditioning MLP) width */
    uint32_t n_expert, n_expert_used, expert_ff;
    uint32_t vocab;
    uint32_t canvas;
    uint32_t sliding_window;
    uint32_t context;
    uint32_t max_steps;
    const char *size_label;
} mk_preset;

/* Layer il is global (full attention) iff il % 6 == 5 or it is the last layer: for 30 layers
 * that is 5, 11, 17, 23, 29 as in the real model. */
int mk_layer_is_global(const mk_preset *p, uint32_t il);

/* Finds a preset by name: "tiny", "small", "bench", "26b-a4b". 0 or -1. */
int mk_preset_find(const char *name, mk_preset *out);
/* The names, NULL-terminated. */
extern const char *const mk_preset_names[];

/* Number of parameters (elements of every tensor written). */
uint64_t mk_count_params(const mk_preset *p);

typedef struct {
    const char *path; /* output file; ignored when dry_run */
    mk_preset preset;
    ggml_type type; /* matrices: GGML_TYPE_Q8_0, F32, F16 or BF16 */
    uint64_t seed;
    int n_threads;     /* 0 = all online CPUs */
    int dry_run;       /* generate everything, write nothing */
    int split_experts; /* ffn_gate_exps + ffn_up_exps instead of the fused ffn_gate_up_exps */
} mk_options;

typedef struct {
    uint64_t n_params;
    uint64_t n_tensors;
    uint64_t file_bytes;
    double seconds;
} mk_result;

int mk_write_model(const mk_options *o, mk_result *res, char *err, size_t errlen);

#endif
