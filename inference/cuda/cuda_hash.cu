/*
 * The step's logits hash on the GPU (docs/arithmetic.md A9): the two parallel levels of the
 * tree, so that only the C row hashes (C x 32 bytes) go to the host, which hashes them into
 * logits_hash with sampler.c's code.
 *
 * Level 1: XXH3-128 of each 4096-float leaf (cuda_xxh3.cuh), 8 threads per leaf: a leaf of
 * more than 240 bytes is XXH3's long path, whose 8 accumulators are independent lanes, so
 * thread j of a leaf runs lane j (the 8 threads read each 64-byte stripe together) and the
 * first merges the 8 lanes; a shorter leaf (a row's last leaf) is hashed by its first thread.
 * Level 2: one thread per row (sha256 of the row's 16-byte leaf digests in order). The
 * logits are f32 little-endian in device memory, as on the host; a leaf starts at a multiple
 * of 4 bytes, so both hashes read 32-bit words.
 */
#include "inference/cuda/cuda_common.cuh"
#include "inference/cuda/cuda_sha256.cuh"
#include "inference/cuda/cuda_xxh3.cuh"

#define HASH_LEAF_FLOATS 4096
#define HASH_THREADS 128
#define LANES 8 /* threads per leaf: XXH3's accumulator lanes */

__global__ void k_leaf_hash(const float *logits, int rows, int V, int n_leaves, uint8_t *leaves)
{
    __shared__ uint64_t acc[HASH_THREADS];
    long t = (long)blockIdx.x * blockDim.x + threadIdx.x;
    long leaf = t / LANES;
    int lane = (int)(t % LANES);
    /* no early return: every thread of the block reaches __syncthreads */
    int valid = leaf < (long)rows * n_leaves;
    int row = 0, n = 0;
    const uint32_t *p = (const uint32_t *)logits;
    if (valid) {
        row = (int)(leaf / n_leaves);
        int b0 = (int)(leaf % n_leaves) * HASH_LEAF_FLOATS;
        n = V - b0 < HASH_LEAF_FLOATS ? V - b0 : HASH_LEAF_FLOATS;
        p = (const uint32_t *)(logits + (size_t)row * V + b0);
    }
    int is_long = n > 60; /* more than 240 bytes */
    acc[threadIdx.x] = valid && is_long ? xxh3_long_lane(p, (uint32_t)n, lane) : 0;
    __syncthreads();
    if (!valid || lane != 0)
        return;
    xxh3_u128 h =
        is_long ? xxh3_long_merge(&acc[threadIdx.x], (uint32_t)n) : xxh3_short(p, (uint32_t)n);
    xxh3_canonical(h, leaves + (size_t)leaf * 16);
}

__global__ void k_row_hash(const uint8_t *leaves, int rows, int n_leaves, uint8_t *row_hashes)
{
    int row = blockIdx.x * blockDim.x + threadIdx.x;
    if (row >= rows)
        return;
    const uint32_t *p = (const uint32_t *)(leaves + (size_t)row * n_leaves * 16);
    sha256_words(p, (uint32_t)n_leaves * 4u, row_hashes + (size_t)row * 32);
}

extern "C" int cuk_row_hashes(cuda_ctx *c, const float *d_logits, int rows, int V,
                              uint8_t *d_leaves, uint8_t *d_row_hashes)
{
    if (rows <= 0 || V <= 0)
        return 0;
    int n_leaves = (V + HASH_LEAF_FLOATS - 1) / HASH_LEAF_FLOATS;
    long n = (long)rows * n_leaves * LANES;
    k_leaf_hash<<<(unsigned)((n + HASH_THREADS - 1) / HASH_THREADS), HASH_THREADS, 0, c->stream>>>(
        d_logits, rows, V, n_leaves, d_leaves);
    int rc = launch_status();
    if (rc)
        return rc;
    k_row_hash<<<(unsigned)((rows + HASH_THREADS - 1) / HASH_THREADS), HASH_THREADS, 0,
                 c->stream>>>(d_leaves, rows, n_leaves, d_row_hashes);
    return launch_status();
}
