/*
 * Internal interface between the q8_matmul dispatcher (matmul.c) and its per-ISA kernels
 * (matmul_avx2.c, matmul_avx512.c, compiled with their own target flags). Not for other
 * modules: use inference/matmul.h.
 */
#ifndef SIBYL_INFERENCE_MATMUL_INTERNAL_H
#define SIBYL_INFERENCE_MATMUL_INTERNAL_H

#include <stdint.h>

#include "inference/matmul.h"

/* Tokens per group of the interleaved activation copy used by the SIMD kernels. */
#define MM_TGROUP 8

/* One q8_matmul call as the kernels see it.
 * The SIMD paths also get a token-interleaved copy of A made once per call by the dispatcher:
 * tokens in groups of MM_TGROUP (the last group padded with zero tokens); for group G and
 * block b,
 *     apack[(G*nb + b)*MM_TGROUP*QK + j*QK + i] = A->q[(G*MM_TGROUP + j)*cols + b*QK + i]
 *     adp[(G*nb + b)*MM_TGROUP + j]  = A->d[token][b]
 *     asn[(G*nb + b)*MM_TGROUP + j]  = -128 * sum_i A->q[token][b*QK + i]
 * so a kernel walking blocks for a group of tokens reads one contiguous stream. asn is the
 * start value of the biased-unsigned VNNI trick (see matmul_avx512.c). */
typedef struct {
    const q8_weight *W;
    const q8_act *A;
    float *y;
    int ldy;
    int nb;               /* blocks per row = cols / QK */
    const int8_t *apack;  /* NULL for the portable path */
    const float *adp;
    const int32_t *asn;
} mm_job;

/* Each kernel computes all tokens for weight rows [n0, n1). */
void q8_matmul_rows_portable(const mm_job *job, int n0, int n1);

#if defined(__x86_64__)
#define SIBYL_HAVE_X86_KERNELS 1
void q8_matmul_rows_avx2(const mm_job *job, int n0, int n1);
void q8_matmul_rows_avx512vnni(const mm_job *job, int n0, int n1);
float sum8_avx2(const float *x, size_t n);
float dot8_avx2(const float *x, const float *y, size_t n);
#endif

#endif
