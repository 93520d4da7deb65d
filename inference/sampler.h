/*
 * The block-diffusion sampler (diffusiongemma.md §4) with the canonical choices of
 * docs/arithmetic.md A9/A10: prefill, then canvas after canvas of entropy-bound denoising
 * steps, commit of the argmax canvas, EOS trim, re-encoding of the committed canvas.
 *
 * Runs on the host over the logits a backend returns, so every backend shares it; a backend
 * that offers sample_step (backend.h) does each step on its side with the same bits.
 */
#ifndef SIBYL_INFERENCE_SAMPLER_H
#define SIBYL_INFERENCE_SAMPLER_H

#include <stddef.h>
#include <stdint.h>

#include "inference/backend.h"
#include "inference/engine.h"
#include "inference/model.h"
#include "inference/profile.h"
#include "inference/threadpool.h"

typedef struct {
    const backend_ops *ops;
    void *state; /* the backend's state for this model */
    const model_hparams *hp;
    const tokenizer *tok; /* for tok_is_eog; may be NULL (then only hp->eos_id ends) */
    threadpool *tp;       /* parallelises the per-position work; may be NULL */
    engine_profile *prof; /* sampler timings; may be NULL */
} sampler_ctx;

/* Per-position statistics of one canvas row of tempered logits z[0..V) (A9), restricted to
 * the ids with allowed[v] != 0 (allowed NULL = all). e (V floats) receives e_v (0 for
 * disallowed ids); chunk_sums ((V+1023)/1024 floats) the chunk sums. Returns S; writes H, the
 * argmax and the drawn id for uniform u. */
float sampler_position(const float *z, uint32_t V, const uint8_t *allowed, float u, float *e,
                       float *chunk_sums, float *H, int32_t *argmax, int32_t *drawn);

/* The logits hash of A9, in two parts so that callers can spread the rows over threads:
 * sampler_row_hash is sha256 over the XXH3-128 digests (16 bytes, canonical form) of each
 * 4096-float leaf of one row (f32 little-endian); sampler_logits_hash is sha256 over the C row
 * hashes in order. Every backend's step hashes are these (the CUDA one computes the rows on
 * the device and is tested against sampler_row_hash). */
void sampler_row_hash(const float *row, uint32_t V, uint8_t out[32]);
void sampler_logits_hash(const float *z, uint32_t C, uint32_t V, uint8_t out[32]);

/* The same for a position forced to id (A9c): the exact results of sampler_position with a
 * mask allowing only id (e_id = cm_expf(0), every other e_v 0, H = cm_logf(S) - 0/S, argmax
 * and draw = id), without reading the logits. Returns S. */
float sampler_position_forced(uint32_t V, int32_t id, float *e, float *chunk_sums, float *H,
                              int32_t *argmax, int32_t *drawn);

/* The whole generation. Same contract as engine_generate. */
int sampler_generate(const sampler_ctx *c, const int32_t *prompt, uint32_t n_prompt,
                     const gen_params *p, engine_step_fn on_step, void *user, gen_result *out,
                     char *err, size_t errlen);

#endif
