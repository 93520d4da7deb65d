/*
 * The diffusion engine: the one header the rest of Sibyl (node, adapters, attest, CLI) uses.
 *
 * An engine holds one model (a GGUF file, mmapped) and a backend (CPU or CUDA). It runs the
 * DiffusionGemma block-diffusion sampler with the canonical arithmetic of docs/arithmetic.md,
 * so the same (model, prompt, params, seed) gives the same tokens on every machine.
 *
 * All functions return 0 on success and a negative engine_status on failure, with a message
 * in err (errlen bytes, always NUL-terminated) that names what was wrong.
 */
#ifndef SIBYL_INFERENCE_ENGINE_H
#define SIBYL_INFERENCE_ENGINE_H

#include <stddef.h>
#include <stdint.h>

/* The arithmetic profile; goes into every attestation as engineVersion. */
#define ENGINE_ARITH_VERSION "sibyl-arith-1"

typedef enum {
    ENGINE_OK = 0,
    ENGINE_EINVAL = -1,    /* bad argument or parameter out of range */
    ENGINE_EMODEL = -2,    /* model file unreadable, corrupt or not this architecture */
    ENGINE_ETOOLONG = -3,  /* prompt longer than the model's context allows */
    ENGINE_ENOMEM = -4,
    ENGINE_EBACKEND = -5,  /* backend unavailable (e.g. no GPU for --backend cuda) */
    ENGINE_ECANCELLED = -6 /* the step callback asked to stop */
} engine_status;

typedef struct engine engine;
typedef struct tokenizer tokenizer; /* inference/tokenizer.h */

typedef enum { ENGINE_BACKEND_CPU = 0, ENGINE_BACKEND_CUDA = 1 } engine_backend;

typedef struct {
    const char *model_path;
    engine_backend backend;
    int n_threads; /* CPU worker threads; 0 = all cores */
} engine_options;

typedef struct {
    char arch[64];
    uint32_t vocab_size;
    uint32_t canvas_length;
    uint32_t context_length;
    uint32_t n_layers, hidden;
    uint64_t n_params;
} engine_info;

/* Sampler settings (diffusiongemma.md §4). gen_params_default() fills the model's defaults
 * (read from the GGUF's diffusion.eb_* keys, else the published ones); a request may override
 * any of them. */
typedef struct {
    uint64_t seed;
    uint32_t max_steps;            /* N, denoising steps per canvas */
    float t_min, t_max;            /* temperature schedule */
    float entropy_bound;           /* B */
    uint32_t stability_threshold;  /* S */
    float confidence_threshold;    /* mean-entropy stop */
    uint32_t max_new_tokens;
    /* Optional restriction: allowed[v] != 0 for the ids that may be chosen (argmax, samples,
     * renoise). NULL = every id. The array has vocab_size entries. */
    const uint8_t *allowed;
    /* Optional per-position restriction (typed answers: number, choice, json). NULL = none;
     * then every position follows `allowed`. */
    const struct gen_restriction *restriction;
} gen_params;

/* Per-position restriction of the output (docs/arithmetic.md A9c). Output position j counts
 * the generated tokens from 0 (canvas c, canvas position i is j = c * canvas_length + i). For
 * j < n_positions:
 *   forced[j] >= 0       the position can only be that id (same result as a mask allowing
 *                        exactly that id);
 *   forced[j] == -1      the position is restricted to masks[mask[j]], or, when mask[j] is
 *                        GEN_MASK_NONE, follows `allowed` like an unrestricted position.
 * Positions j >= n_positions follow `allowed`. Each mask has vocab_size entries (nonzero =
 * allowed) and must allow at least one id. forced may be NULL (no forced position), mask may
 * be NULL (no masked position). A position's mask replaces `allowed` (they are not combined).
 * A disallowed id never becomes the argmax or a draw, so it never enters the answer. Noise:
 * a forced position starts as its id and is renoised to it; a masked position's initial and
 * renoise ids come from its mask, or, with free_noise, from `allowed` like an unrestricted
 * position (the noise distribution the model was trained on: the answer is still restricted,
 * only the canvas the model reads holds noise there). */
#define GEN_MASK_NONE 0xFFFFu
typedef struct gen_restriction {
    uint32_t n_positions;
    const int32_t *forced;       /* n_positions entries, or NULL */
    const uint16_t *mask;        /* n_positions entries, or NULL */
    uint32_t n_masks;            /* at most 65535 */
    const uint8_t *const *masks; /* n_masks masks of vocab_size bytes */
    int free_noise;              /* masked positions: noise from `allowed`, not the mask */
} gen_restriction;

/* Called after every denoising step with the argmax canvas of that step. Return nonzero to
 * cancel the generation (engine_generate then returns ENGINE_ECANCELLED). */
typedef struct {
    int canvas, step;            /* canvas index from 0; step index from 0 within the canvas */
    const int32_t *argmax;       /* canvas_length ids */
    uint32_t canvas_length;
    float mean_entropy;
    uint32_t n_accepted;
    uint8_t logits_hash[32];     /* sha256 of this step's logits (f32, little-endian) */
} engine_step;
typedef int (*engine_step_fn)(void *user, const engine_step *step);

typedef struct {
    int32_t *tokens;    /* generated ids (after the EOS trim); owned, free with gen_result_free */
    uint32_t n_tokens;
    uint32_t n_canvases;
    uint32_t n_steps;   /* decoder passes in all */
    double seconds;     /* wall time of the generation */
    uint8_t trace_hash[32]; /* sha256 over every step's logits hash and the output tokens */
} gen_result;

int engine_open(const engine_options *opt, engine **out, char *err, size_t errlen);
void engine_close(engine *e);
const engine_info *engine_get_info(const engine *e);
const tokenizer *engine_get_tokenizer(const engine *e);
void gen_params_default(const engine *e, gen_params *p);
/* Checks params against the model (ranges, mask size); ENGINE_EINVAL with the reason. */
int gen_params_check(const engine *e, const gen_params *p, char *err, size_t errlen);

int engine_generate(engine *e, const int32_t *prompt, uint32_t n_prompt, const gen_params *p,
                    engine_step_fn on_step, void *user, gen_result *out, char *err,
                    size_t errlen);
void gen_result_free(gen_result *r);

/* ---- diagnostics (sibyl bench) ---- */
/* Per-op wall time accumulated since open or the last reset (inference/profile.h's
 * engine_profile: PROF_COUNT doubles, forward pass and sampler together). */
void engine_profile_get(const engine *e, double *seconds, int n);
void engine_profile_reset(engine *e);
/* Weight bytes used in place from the mmapped file and bytes converted into owned copies
 * (the transposed embedding of A9 counts as owned). all_mapped: every matrix is zero-copy. */
void engine_weight_bytes(const engine *e, uint64_t *mapped, uint64_t *owned, int *all_mapped);
/* Matrices used in place / converted at load, and the converted source types ("f32 bf16"). */
void engine_weight_counts(const engine *e, uint32_t *n_mapped, uint32_t *n_converted,
                          const char **converted_types);
const char *engine_backend_name(const engine *e);

#endif
