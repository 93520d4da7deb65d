/*
 * Per-op wall time of the forward pass and sampler, for `sibyl bench`. Collected with
 * CLOCK_MONOTONIC around each op (a few hundred calls per step: negligible cost).
 */
#ifndef SIBYL_INFERENCE_PROFILE_H
#define SIBYL_INFERENCE_PROFILE_H

#include <time.h>

typedef enum {
    PROF_MM_QKV,     /* q/k/v projections */
    PROF_MM_O,       /* attention output projection */
    PROF_MM_MLP,     /* dense MLP gate/up/down */
    PROF_MM_ROUTER,  /* router logits */
    PROF_MM_EXPERTS, /* expert gate_up/down */
    PROF_MM_HEAD,    /* output head (tied embedding) */
    PROF_MM_SC,      /* self-conditioning: P x E^T and the SC MLP */
    PROF_ATTN,       /* scores, softmax, weighted V, q/k/v norms and RoPE */
    PROF_MOE_ROUTE,  /* router softmax, top-k, gather, combine */
    PROF_ELEMWISE,   /* norms, activation quantisation, GELU, residuals, softcap, embedding */
    PROF_SC_PREP,    /* self-conditioning softmax and its quantisation */
    PROF_SAMPLER,    /* temperature, entropy, draws, acceptance */
    PROF_HASH,       /* sha256 of the logits */
    PROF_COUNT
} prof_op;

typedef struct {
    double seconds[PROF_COUNT];
} engine_profile;

static inline double prof_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static inline const char *prof_name(prof_op op)
{
    static const char *const names[PROF_COUNT] = {
        "matmul q/k/v",   "matmul attn_out",   "matmul dense mlp",  "matmul router",
        "matmul experts", "matmul head",       "matmul self-cond",  "attention",
        "moe routing",    "norms/elementwise", "self-cond softmax", "sampler",
        "logits sha256"};
    return (unsigned)op < PROF_COUNT ? names[op] : "?";
}

static inline int prof_is_matmul(prof_op op)
{
    return op <= PROF_MM_SC;
}

#endif
