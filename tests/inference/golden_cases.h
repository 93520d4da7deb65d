/*
 * The golden cases: models, prompts and sampler settings whose per-step logits hashes, tokens
 * and trace hash are stored in tests/inference/golden/<name>.txt. One table for the CPU test
 * (tests/inference/test_golden.c) and the GPU test (tests/cuda/test_cuda_golden.c), so the two
 * cannot drift apart. Plain C (no cmocka): the GPU test also builds on a bare GPU image.
 */
#ifndef SIBYL_TESTS_GOLDEN_CASES_H
#define SIBYL_TESTS_GOLDEN_CASES_H

#include <stdint.h>

#include "inference/gguf.h"
#include "tests/inference/testmodel.h"

#define GOLDEN_DIR "tests/inference/golden"

typedef struct {
    const char *name;
    testmodel_opts model;
    const char *mk_preset; /* non-NULL: the model is `sibyl mkmodel --preset P` instead */
    ggml_type mk_type;
    uint64_t mk_seed;
    int32_t prompt[40];
    uint32_t n_prompt;
    uint64_t seed;
    uint32_t steps;            /* 0 = model default */
    float t_min, t_max, bound; /* 0 = default */
    uint32_t max_new;
    int mask;         /* allowed ids, golden_case_mask: 1: 4..399 except 50 and 106 (the
                         end-of-generation ids); 2: only <eos> (1) and 300..309; 3: only 300 */
    float confidence; /* 0 = default */
    int golden;       /* 1: compared with GOLDEN_DIR/<name>.txt (every case of golden_cases) */
} golden_case;

/* clang-format off */
static const golden_case golden_cases[] = {
    {.name = "tiny_q8_one_canvas",
     .model = {.type = GGML_TYPE_Q8_0, .seed = 1},
     .prompt = {2, 105, 236, 107, 120, 130, 140, 150, 200, 210, 220, 230, 240, 250, 300, 310,
                320, 106, 107, 105},
     .n_prompt = 20, .seed = 7, .max_new = 16, .golden = 1},
    {.name = "tiny_q8_three_canvases_masked",
     .model = {.type = GGML_TYPE_Q8_0, .seed = 1},
     .prompt = {2, 111, 222, 333, 444, 155, 166, 177, 188, 199, 211, 300},
     .n_prompt = 12, .seed = 123456789012345ULL, .steps = 3, .max_new = 40, .mask = 1, .golden = 1},
    {.name = "tiny_f32_split_experts",
     .model = {.type = GGML_TYPE_F32, .split_experts = 1, .seed = 5},
     .prompt = {2, 9, 8, 7, 6, 5, 400, 401, 402},
     .n_prompt = 9, .seed = 99, .steps = 4, .t_min = 0.3f, .t_max = 1.2f, .bound = 2.0f,
     .max_new = 16, .golden = 1},
    {.name = "mkmodel_tiny_q8",
     .mk_preset = "tiny", .mk_type = GGML_TYPE_Q8_0, .mk_seed = 1,
     .prompt = {2, 105, 236, 107, 300, 301, 302, 303, 304, 305, 306, 307, 106, 107, 105, 400,
                107, 100, 450, 107, 101},
     .n_prompt = 21, .seed = 2026, .steps = 4, .max_new = 32, .golden = 1},
    {.name = "mkmodel_tiny_bf16",
     .mk_preset = "tiny", .mk_type = GGML_TYPE_BF16, .mk_seed = 2,
     .prompt = {2, 105, 236, 107, 120, 121, 122, 106, 107, 105, 400, 107},
     .n_prompt = 12, .seed = 5, .bound = 0.5f, .max_new = 16, .golden = 1},
    /* One allowed id: the argmax canvas repeats with zero entropy, so the stable-and-confident
     * stop (default S = 1, threshold 0.005) ends the canvas after 2 of its 20 steps. (With
     * random weights the argmax never settles on its own.) */
    {.name = "tiny_q8_early_stop",
     .model = {.type = GGML_TYPE_Q8_0, .seed = 1},
     .prompt = {2, 105, 236, 107, 130, 131, 132, 106},
     .n_prompt = 8, .seed = 77, .steps = 20, .max_new = 16, .mask = 3, .golden = 1},
    /* Only <eos> and ten ids allowed: the committed canvas contains <eos>, the output is cut
     * after it and no further canvas runs. */
    {.name = "tiny_q8_eos_trim",
     .model = {.type = GGML_TYPE_Q8_0, .seed = 1},
     .prompt = {2, 105, 236, 107, 140, 141, 142, 106},
     .n_prompt = 8, .seed = 31337, .steps = 4, .max_new = 48, .mask = 2, .golden = 1},
};
/* clang-format on */
#define N_GOLDEN_CASES (sizeof golden_cases / sizeof *golden_cases)

/* The allowed-token mask of a case (V entries), or 0 when the case has none. */
static inline int golden_case_mask(const golden_case *gc, uint32_t V, uint8_t *allowed)
{
    if (!gc->mask)
        return 0;
    for (uint32_t v = 0; v < V; v++)
        allowed[v] = gc->mask == 1   ? (v >= 4 && v < 400 && v != 50 && v != 106)
                     : gc->mask == 2 ? (v == 1 || (v >= 300 && v < 310))
                                     : v == 300;
    return 1;
}

#endif
