/*
 * Block formats and the deterministic conversions between them (docs/arithmetic.md A3, A4).
 *
 * Weights: GGUF/ggml Q8_0 blocks, used in place from the mmapped file.
 * Activations: per-32 int8 blocks with an f32 scale, made by q8_quantize_rows().
 */
#ifndef SIBYL_INFERENCE_QUANT_H
#define SIBYL_INFERENCE_QUANT_H

#include <stddef.h>
#include <stdint.h>

#define QK 32 /* elements per quantisation block */

/* ggml's Q8_0 block: 34 bytes, no padding (matches the GGUF on-disk layout). */
typedef struct {
    uint16_t d; /* f16 scale */
    int8_t q[QK];
} __attribute__((packed)) block_q8_0;

/* An activation matrix quantised by A3: rows x cols, cols a multiple of QK. */
typedef struct {
    int8_t *q;  /* rows * cols values, row-major */
    float *d;   /* rows * (cols/QK) scales, row-major */
    int rows, cols;
} q8_act;

/* A weight matrix of Q8_0 blocks: rows = output features, cols = input features (multiple of
 * QK); row n is blocks [n*cols/QK, (n+1)*cols/QK). */
typedef struct {
    const block_q8_0 *blocks;
    int rows, cols;
} q8_weight;

float fp16_to_f32(uint16_t h);
uint16_t f32_to_fp16(float f); /* round to nearest even */
float bf16_to_f32(uint16_t h);

/* A3: quantise `rows` rows of `cols` floats into `out` (whose buffers the caller owns and
 * sized with q8_act_alloc). */
int q8_act_alloc(q8_act *a, int rows, int cols);
void q8_act_free(q8_act *a);
void q8_quantize_rows(const float *x, int rows, int cols, q8_act *out);

/* A4: quantise one row of n f32 values (n a multiple of QK) into n/QK Q8_0 blocks. */
void q8_0_quantize_row(const float *x, block_q8_0 *out, int n);
/* Exact dequantisation of n values (n a multiple of QK). */
void q8_0_dequantize_row(const block_q8_0 *in, float *out, int n);

/* ggml K-quant blocks (256 values each) dequantised to f32 by A4's formulas. */
#define QK_K 256
void q4_k_dequantize_row(const void *blocks, float *out, int n);
void q6_k_dequantize_row(const void *blocks, float *out, int n);
size_t q4_k_block_bytes(void); /* 144 */
size_t q6_k_block_bytes(void); /* 210 */

#endif
