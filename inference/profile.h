/*
 * Per-op time of the forward pass and sampler, for `sibyl bench`. Collected with
 * CLOCK_MONOTONIC (or the process CPU clock, see prof_clock) around each op (a few hundred
 * calls per step: negligible cost).
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
    PROF_SC_PREP,    /* quantisation of the self-conditioning input */
    PROF_SAMPLER,    /* temperature, entropy, draws, SC softmax, acceptance (wall, less the hash) */
    PROF_HASH,       /* the logits hash, A9 (runs beside the sampler's positions) */
    PROF_COUNT
} prof_op;

typedef struct {
    double seconds[PROF_COUNT];
} engine_profile;

/* The clock prof_now() reads: CLOCK_MONOTONIC (wall time, the default) or, with
 * prof_use_cpu_clock(1), CLOCK_PROCESS_CPUTIME_ID: the CPU time of all the process's threads,
 * i.e. the work an op costs whatever else runs on the machine (for measurements on a shared,
 * overloaded machine; `sibyl bench --cpu-clock`). A process-wide setting made once at start,
 * like kernels_select(); defined in engine.c. */
void prof_use_cpu_clock(int on);
clockid_t prof_clock(void);

static inline double prof_now(void)
{
    struct timespec ts;
    clock_gettime(prof_clock(), &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static inline const char *prof_name(prof_op op)
{
    static const char *const names[PROF_COUNT] = {
        "matmul q/k/v",   "matmul attn_out",   "matmul dense mlp",  "matmul router",
        "matmul experts", "matmul head",       "matmul self-cond",  "attention",
        "moe routing",    "norms/elementwise", "self-cond softmax", "sampler",
        "logits hash"};
    return (unsigned)op < PROF_COUNT ? names[op] : "?";
}

static inline int prof_is_matmul(prof_op op)
{
    return op <= PROF_MM_SC;
}

#endif
