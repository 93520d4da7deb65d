/*
 * The step's logits hash on the GPU (docs/arithmetic.md A9): the two parallel levels of the
 * tree, so that only the C row hashes (C x 32 bytes) go to the host, which hashes them into
 * logits_hash with sampler.c's code.
 *
 * Level 1: one thread per 4096-float leaf (sha256 of its bytes). Level 2: one thread per row
 * (sha256 of the row's leaf hashes in order). The logits are f32 little-endian in device
 * memory, as on the host; every message is a whole number of 4-byte words, so the hashing
 * reads words and byte-swaps them into SHA-256's big-endian schedule.
 */
#include "inference/cuda/cuda_common.cuh"
#include "inference/cuda/cuda_sha256.cuh"

#define HASH_LEAF_FLOATS 4096
#define HASH_THREADS 128

__global__ void k_leaf_hash(const float *logits, int rows, int V, int n_leaves, uint8_t *leaves)
{
    long t = (long)blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= (long)rows * n_leaves)
        return;
    int row = (int)(t / n_leaves), j = (int)(t % n_leaves);
    int b0 = j * HASH_LEAF_FLOATS;
    int n = V - b0 < HASH_LEAF_FLOATS ? V - b0 : HASH_LEAF_FLOATS;
    const uint32_t *p = (const uint32_t *)(logits + (size_t)row * V + b0);
    sha256_words(p, (uint32_t)n, leaves + (size_t)t * 32);
}

__global__ void k_row_hash(const uint8_t *leaves, int rows, int n_leaves, uint8_t *row_hashes)
{
    int row = blockIdx.x * blockDim.x + threadIdx.x;
    if (row >= rows)
        return;
    const uint32_t *p = (const uint32_t *)(leaves + (size_t)row * n_leaves * 32);
    sha256_words(p, (uint32_t)n_leaves * 8u, row_hashes + (size_t)row * 32);
}

extern "C" int cuk_row_hashes(cuda_ctx *c, const float *d_logits, int rows, int V,
                              uint8_t *d_leaves, uint8_t *d_row_hashes)
{
    if (rows <= 0 || V <= 0)
        return 0;
    int n_leaves = (V + HASH_LEAF_FLOATS - 1) / HASH_LEAF_FLOATS;
    long n = (long)rows * n_leaves;
    k_leaf_hash<<<(unsigned)((n + HASH_THREADS - 1) / HASH_THREADS), HASH_THREADS, 0, c->stream>>>(
        d_logits, rows, V, n_leaves, d_leaves);
    int rc = launch_status();
    if (rc)
        return rc;
    k_row_hash<<<(unsigned)((rows + HASH_THREADS - 1) / HASH_THREADS), HASH_THREADS, 0,
                 c->stream>>>(d_leaves, rows, n_leaves, d_row_hashes);
    return launch_status();
}
