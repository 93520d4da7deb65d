/*
 * The interface between the engine (sampler loop, engine.c) and a compute backend (CPU in
 * forward.c, CUDA in the cuda/ tree). A backend runs the two kinds of forward pass of
 * diffusiongemma.md §3 with the arithmetic of docs/arithmetic.md; the sampler (A9/A10) runs on
 * the host over the logits it returns, or, when the backend offers sample_begin/sample_step, on
 * the backend's side where the logits are made (the same bits; sampler_step.h).
 *
 * To plug a backend in, provide a `const backend_ops *` and list it in engine.c's table.
 */
#ifndef SIBYL_INFERENCE_BACKEND_H
#define SIBYL_INFERENCE_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "inference/profile.h"
#include "inference/threadpool.h"

struct model;

/* The sampler's tables of one generation for a backend that samples (sample_begin): masks[k]
 * (vocab bytes, nonzero = allowed) and ids[k][0..n_ids[k]) its allowed ids ascending (the
 * renoise lists of A9b/A9c), k < n_masks. sampler.c lists the restriction's masks first, then
 * gen_params.allowed. */
typedef struct backend_sample_tables {
    uint32_t n_masks;
    const uint8_t *const *masks;
    const int32_t *const *ids;
    const uint32_t *n_ids;
} backend_sample_tables;

/* One denoising step done by the backend (sample_step): the decoder pass, then A9's step on
 * its logits. Per position i < n: forced[i] (the forced id or -1), mask[i] (a table index or -1
 * = every id) and noise[i] (the table whose ids are the renoise list, or -1 = [0, vocab)). */
typedef struct backend_step {
    const int32_t *ids; /* the canvas's first step: its n ids; NULL: the ids the last step made */
    const int32_t *forced, *mask, *noise; /* read with ids (per canvas), kept for its steps */
    uint32_t n, pos0;                     /* as decode */
    int have_sc;                          /* feed the SC input the last step made */
    int make_sc;                          /* make the SC input for the next step */
    float tau, entropy_bound;
    uint64_t seed;
    uint32_t canvas, step; /* Philox counters (A10) */
} backend_step;

/* What the host needs of a step: the trace (row hashes) and the stop test and callback. */
typedef struct backend_step_out {
    uint8_t *row_hashes; /* n x 32: sampler_row_hash of each logits row */
    int32_t *argmax;     /* n */
    uint32_t n_accepted;
    float mean_entropy;
} backend_step_out;

typedef struct backend_ops {
    const char *name;
    /* State for one model. tp: the engine's host thread pool (owned by the engine, outlives
     * the state; never NULL). Returns 0 or a negative engine_status. */
    int (*create)(const struct model *m, threadpool *tp, void **state, char *err, size_t errlen);
    void (*destroy)(void *state);
    /* Empties the KV cache and makes room for `capacity` positions. */
    int (*reset)(void *state, uint32_t capacity, char *err, size_t errlen);
    /* Encoder pass (causal): ids at positions pos0..pos0+n-1, writing their K,V into the cache.
     * Requires pos0 == number of positions already cached. Any n >= 1 (split as the backend
     * likes: results never depend on it). */
    int (*encode)(void *state, const int32_t *ids, uint32_t n, uint32_t pos0, char *err,
                  size_t errlen);
    /* Decoder pass over a canvas of n <= canvas_length ids at positions pos0.. (pos0 = cached
     * positions), bidirectional, reading the cache. sc_probs: the self-conditioning
     * probabilities (n rows of vocab_pad floats, zero in the padding) or NULL on a canvas's
     * first step. Writes n x vocab softcapped logits (row stride vocab). */
    int (*decode)(void *state, const int32_t *ids, uint32_t n, uint32_t pos0, const float *sc_probs,
                  float *logits, char *err, size_t errlen);
    /* Optional (may be NULL): the row hashes (sampler_row_hash, A9) of the n rows of logits the
     * last decode returned, n x 32 bytes, for a backend that can hash where the logits are
     * made. When NULL the sampler hashes the rows on the host. */
    int (*row_hashes)(void *state, uint32_t n, uint8_t *out, char *err, size_t errlen);
    /* Optional (both or neither; may be NULL): the step loop on the backend's side. sample_begin
     * takes one generation's tables (copied) and returns 0, or 1 when this state will not sample
     * (then the host samples; e.g. SIBYL_CUDA_SAMPLER=host), or a negative engine_status.
     * sample_step is one step with the bits of sampler.c's host step: argmax, entropy, draws,
     * acceptance, renoise (the next step's ids) and the SC input stay on the backend's side, and
     * only `out` comes back. */
    int (*sample_begin)(void *state, const backend_sample_tables *t, char *err, size_t errlen);
    int (*sample_step)(void *state, const backend_step *in, backend_step_out *out, char *err,
                       size_t errlen);
    /* Optional: per-op timings since the last reset of the profile (may be NULL). */
    engine_profile *(*profile)(void *state);
} backend_ops;

const backend_ops *cpu_backend(void);
/* Test access to the CPU backend's KV cache of one layer: n_slots rows of n_kv*head_dim
 * floats, position p in row p % n_slots (sliding layers keep a ring of window + canvas rows);
 * which 0 = K, 1 = V; NULL if out of range. For the batch-invariance test. */
const float *cpu_backend_kv(void *cpu_state, uint32_t layer, int which, uint32_t *n_cached,
                            uint32_t *n_slots);

#endif
