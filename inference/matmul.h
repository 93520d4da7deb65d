/*
 * Canonical kernels (docs/arithmetic.md A1, A5): sum8/dot8 and the block-int8 matrix product,
 * with a portable path and AVX2 / AVX-512-VNNI paths chosen at run time, all bit-identical.
 */
#ifndef SIBYL_INFERENCE_MATMUL_H
#define SIBYL_INFERENCE_MATMUL_H

#include <stddef.h>

#include "inference/quant.h"
#include "inference/threadpool.h"

typedef enum {
    KERNEL_AUTO = 0, /* best path this CPU supports */
    KERNEL_PORTABLE, /* plain C */
    KERNEL_AVX2,
    KERNEL_AVX512VNNI,
} kernel_path;

/* Selects the path used by every later call (process-wide setting of the kernels, chosen once
 * at start-up by the engine or a test). Returns -1 if this CPU cannot run `path`. */
int kernels_select(kernel_path path);
kernel_path kernels_selected(void);
const char *kernel_path_name(kernel_path path);

/* A1: canonical sum and dot product. */
float sum8(const float *x, size_t n);
float dot8(const float *x, const float *y, size_t n);

/* A5: y[t][n] = sum over blocks of A row t and W row n. y is A->rows x W->rows, row-major with
 * row stride ldy (>= W->rows). Requires A->cols == W->cols (a multiple of QK). Parallel over
 * outputs (tp may be NULL: single thread). Returns 0, or -1 (nothing written) on a shape
 * mismatch or when scratch memory cannot be allocated. */
int q8_matmul(const q8_weight *W, const q8_act *A, float *y, int ldy, threadpool *tp);

/* Scratch memory kept between q8_matmul_ws calls (the SIMD paths' rearranged copy of A, up to
 * tokens x K bytes): allocating it afresh on every call costs page faults on every call once
 * it is larger than malloc's mmap threshold. Start zeroed; free with mm_workspace_free. */
typedef struct {
    void *mem;
    size_t size;
} mm_workspace;
void mm_workspace_free(mm_workspace *ws);
/* q8_matmul with the scratch taken from (and grown in) ws; ws NULL: allocated per call. */
int q8_matmul_ws(const q8_weight *W, const q8_act *A, float *y, int ldy, threadpool *tp,
                 mm_workspace *ws);

#endif
