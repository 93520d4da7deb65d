/*
 * Test helper (unit tests only): writes a tiny random-weight DiffusionGemma GGUF with the
 * layout of diffusiongemma.md §6, with knobs to break it on purpose (wrong architecture, a
 * missing tensor, a mis-shaped tensor) for the error-path tests. The golden fixtures use
 * `sibyl mkmodel` models instead; this one exists so that every loader check can be hit.
 */
#ifndef SIBYL_TESTS_TESTMODEL_H
#define SIBYL_TESTS_TESTMODEL_H

#include <stddef.h>
#include <stdint.h>

#include "inference/gguf.h"

typedef struct {
    const char *arch;        /* NULL = "diffusion-gemma" */
    const char *omit;        /* tensor name to leave out, or NULL */
    const char *misshape;    /* tensor name whose ne[0] gets +32, or NULL */
    ggml_type type;          /* matrix type: GGML_TYPE_Q8_0 or GGML_TYPE_F32 */
    int split_experts;       /* write ffn_gate_exps/ffn_up_exps instead of the fused tensor */
    uint32_t context_length; /* 0 = 256 */
    uint64_t seed;
} testmodel_opts;

/* Dimensions of the test model. */
enum {
    TM_LAYERS = 3, /* sliding, sliding, global */
    TM_HIDDEN = 64,
    TM_FF = 64,
    TM_HEADS = 4,
    TM_KV_SWA = 2,
    TM_D_SWA = 32,
    TM_KV_GLOBAL = 1,
    TM_D_GLOBAL = 64,
    TM_EXPERTS = 4,
    TM_EXPERTS_USED = 2,
    TM_EXP_FF = 32,
    TM_VOCAB = 512,
    TM_CANVAS = 16,
    TM_WINDOW = 8
};

int testmodel_write(const char *path, const testmodel_opts *o, char *err, size_t errlen);

#endif
