/*
 * Internal interface between the q8_matmul dispatcher (matmul.c) and its per-ISA kernels
 * (matmul_avx2.c, matmul_avx512.c, compiled with their own target flags). Not for other
 * modules: use inference/matmul.h.
 */
#ifndef SIBYL_INFERENCE_MATMUL_INTERNAL_H
#define SIBYL_INFERENCE_MATMUL_INTERNAL_H

#include <stdint.h>

#include "inference/matmul.h"

/* One q8_matmul call as the kernels see it. asum[t*nb + b] = 128 * sum of A's 32 int8 values
 * of token t, block b (the correction of the biased-unsigned trick; filled by the dispatcher
 * only for paths that ask for it). */
typedef struct {
    const q8_weight *W;
    const q8_act *A;
    float *y;
    int ldy;
    int nb;                /* blocks per row = cols / QK */
    const int32_t *asum;   /* may be NULL for paths that do not need it */
} mm_job;

/* Each kernel computes all tokens for weight rows [n0, n1). */
void q8_matmul_rows_portable(const mm_job *job, int n0, int n1);

#if defined(__x86_64__)
/* #define SIBYL_HAVE_X86_KERNELS 1  (enabled once the SIMD kernels land) */
void q8_matmul_rows_avx2(const mm_job *job, int n0, int n1);
void q8_matmul_rows_avx512vnni(const mm_job *job, int n0, int n1);
float sum8_avx2(const float *x, size_t n);
float dot8_avx2(const float *x, const float *y, size_t n);
#endif

#endif
