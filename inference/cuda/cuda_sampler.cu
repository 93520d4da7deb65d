/*
 * The sampler on the GPU (docs/arithmetic.md A9, A10): chunked vocabulary reductions,
 * entropy, argmax, categorical draw, entropy-bound acceptance, the canvas update, and the
 * self-conditioning input quantisation.
 *
 * One block of 256 threads per canvas position: 32 groups of 8 lanes; group g reduces chunks
 * g, g+32, ... with sum8 (A1), writes each chunk's sum, and thread 0 folds the chunk sums in
 * chunk order.
 */
#include "inference/cmath.h"
#include "inference/cuda/cuda_common.cuh"

#define SMP_THREADS 256
#define SMP_GROUPS (SMP_THREADS / 8)

__device__ __forceinline__ bool id_ok(const uint8_t *allowed, int v)
{
    return allowed == NULL || allowed[v] != 0;
}

/* (value, id) is better than (bv, bid): larger value, ties to the lower id. */
__device__ __forceinline__ bool better(float v, int id, float bv, int bid)
{
    return v > bv || (v == bv && id < bid);
}

__global__ void __launch_bounds__(SMP_THREADS)
    k_sampler_stats(const float *logits, int V, float tau, const uint8_t *allowed, float *out_m,
                    float *out_S, float *out_H, int32_t *out_argmax, float *chunk_sums)
{
    __shared__ float s_val[SMP_THREADS];
    __shared__ int s_id[SMP_THREADS];
    __shared__ float s_zc[SMP_THREADS];
    int row = blockIdx.x, tid = threadIdx.x;
    const float *lr = logits + (size_t)row * V;
    int nchunks = (V + CUDA_VOCAB_CHUNK - 1) / CUDA_VOCAB_CHUNK;

    /* pass 1: max and argmax of z = logit / tau (exact; order free) */
    float bv = -INFINITY;
    int bid = 0x7fffffff;
    for (int v = tid; v < V; v += SMP_THREADS) {
        if (!id_ok(allowed, v))
            continue;
        float z = lr[v] / tau;
        if (better(z, v, bv, bid))
            bv = z, bid = v;
    }
    s_val[tid] = bv;
    s_id[tid] = bid;
    __syncthreads();
    for (int o = SMP_THREADS / 2; o > 0; o >>= 1) {
        if (tid < o && better(s_val[tid + o], s_id[tid + o], s_val[tid], s_id[tid])) {
            s_val[tid] = s_val[tid + o];
            s_id[tid] = s_id[tid + o];
        }
        __syncthreads();
    }
    float m = s_val[0];
    int amax = s_id[0];
    __syncthreads();

    /* pass 2: per chunk sum8(e) and sum8(e * (z - m)); thread 0 folds Z in chunk order */
    int grp = tid >> 3, l = tid & 7;
    float *cs = chunk_sums + (size_t)row * nchunks;
    float Z = 0.0f; /* meaningful in thread 0 only */
    for (int cbase = 0; cbase < nchunks; cbase += SMP_GROUPS) {
        int ch = cbase + grp;
        float se = 0.0f, sz = 0.0f;
        if (ch < nchunks) {
            int v0 = ch * CUDA_VOCAB_CHUNK;
            int len = V - v0 < CUDA_VOCAB_CHUNK ? V - v0 : CUDA_VOCAB_CHUNK;
            for (int i = l; i < len; i += 8) {
                int v = v0 + i;
                if (!id_ok(allowed, v))
                    continue; /* e = 0: adds nothing (acc + 0 == acc) */
                float zm = lr[v] / tau - m;
                float e = cm_expf(zm);
                se = se + e;
                sz = sz + e * zm;
            }
        }
        se = g8_combine(se);
        sz = g8_combine(sz);
        if (ch < nchunks && l == 0) {
            cs[ch] = se;
            s_zc[grp] = sz;
        }
        __syncthreads();
        if (tid == 0)
            for (int g = 0; g < SMP_GROUPS && cbase + g < nchunks; g++)
                Z = Z + s_zc[g];
        __syncthreads();
    }
    if (tid == 0) {
        float S = 0.0f;
        for (int ch = 0; ch < nchunks; ch++)
            S = S + cs[ch];
        out_m[row] = m;
        out_S[row] = S;
        out_H[row] = cm_logf(S) - Z / S;
        out_argmax[row] = amax;
    }
}

extern "C" int cuk_sampler_stats(cuda_ctx *c, const float *d_logits, int rows, int V, float tau,
                                 const uint8_t *d_allowed, float *d_m, float *d_S, float *d_H,
                                 int32_t *d_argmax, float *d_chunk_sums)
{
    if (rows <= 0)
        return 0;
    k_sampler_stats<<<(unsigned)rows, SMP_THREADS, 0, c->stream>>>(
        d_logits, V, tau, d_allowed, d_m, d_S, d_H, d_argmax, d_chunk_sums);
    return launch_status();
}

/* Categorical draw (A9): target = u * S; walk chunks with acc = acc + chunk_sum until
 * acc > target, then that chunk's ids with acc2 = acc_before + e_v until acc2 > target; if
 * that walk does not cross, the chunk's largest id with e_v > 0; if no chunk crosses, the
 * largest id with e_v > 0 (sampler.c sampler_position). One thread per position: the walk is
 * sequential by definition (at most nchunks + 1024 steps). */
__device__ int largest_positive(const float *lr, int V, float tau, const uint8_t *allowed, float m)
{
    for (int v = V - 1; v >= 0; v--) {
        if (!id_ok(allowed, v))
            continue;
        if (cm_expf(lr[v] / tau - m) > 0.0f)
            return v;
    }
    return 0;
}

__global__ void k_sampler_draw(const float *logits, int rows, int V, float tau,
                               const uint8_t *allowed, const float *m_, const float *S_,
                               const float *chunk_sums, uint64_t seed, uint32_t canvas,
                               uint32_t step, int32_t *draw)
{
    int row = blockIdx.x * blockDim.x + threadIdx.x;
    if (row >= rows)
        return;
    int nchunks = (V + CUDA_VOCAB_CHUNK - 1) / CUDA_VOCAB_CHUNK;
    const float *lr = logits + (size_t)row * V;
    const float *cs = chunk_sums + (size_t)row * nchunks;
    float m = m_[row];
    float u = philox_uniform_from_word(
        philox_w(seed, canvas, step, (uint32_t)row, PHILOX_PURPOSE_CATEGORICAL));
    float target = u * S_[row];
    float acc = 0.0f;
    int chosen = -1;
    for (int ch = 0; ch < nchunks; ch++) {
        float next = acc + cs[ch];
        if (next > target) {
            int v0 = ch * CUDA_VOCAB_CHUNK;
            int len = V - v0 < CUDA_VOCAB_CHUNK ? V - v0 : CUDA_VOCAB_CHUNK;
            float acc2 = acc;
            for (int i = 0; i < len; i++) {
                int v = v0 + i;
                if (!id_ok(allowed, v))
                    continue; /* e_v = 0: acc2 + 0 == acc2 */
                acc2 = acc2 + cm_expf(lr[v] / tau - m);
                if (acc2 > target) {
                    chosen = v;
                    break;
                }
            }
            /* rounding: the chunk sum crossed, the sequential walk did not: the largest id of
             * this chunk with e_v > 0 */
            for (int i = len - 1; chosen < 0 && i >= 0; i--) {
                int v = v0 + i;
                if (id_ok(allowed, v) && cm_expf(lr[v] / tau - m) > 0.0f)
                    chosen = v;
            }
            break;
        }
        acc = next;
    }
    if (chosen < 0)
        chosen = largest_positive(lr, V, tau, allowed, m);
    draw[row] = chosen;
}

extern "C" int cuk_sampler_draw(cuda_ctx *c, const float *d_logits, int rows, int V, float tau,
                                const uint8_t *d_allowed, const float *d_m, const float *d_S,
                                const float *d_chunk_sums, uint64_t seed, uint32_t canvas,
                                uint32_t step, int32_t *d_draw)
{
    if (rows <= 0)
        return 0;
    k_sampler_draw<<<(unsigned)((rows + 63) / 64), 64, 0, c->stream>>>(
        d_logits, rows, V, tau, d_allowed, d_m, d_S, d_chunk_sums, seed, canvas, step, d_draw);
    return launch_status();
}

/* Acceptance (A9): rank_i = #{j : H_j < H_i or (H_j == H_i and j < i)} is position i's place
 * in the stable ascending sort; thread 0 then walks the order: accept iff acc <= B, then
 * acc = acc + H. Mean entropy: sequential sum over positions 0..C-1, divided by C. */
__global__ void k_accept(const float *H, int C, float bound, uint8_t *accepted, float *mean_H)
{
    extern __shared__ int s_order[];
    for (int i = threadIdx.x; i < C; i += blockDim.x) {
        float hi = H[i];
        int rank = 0;
        for (int j = 0; j < C; j++) {
            float hj = H[j];
            rank += (hj < hi || (hj == hi && j < i)) ? 1 : 0;
        }
        s_order[rank] = i;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        float acc = 0.0f;
        for (int r = 0; r < C; r++) {
            int i = s_order[r];
            accepted[i] = acc <= bound ? 1 : 0;
            acc = acc + H[i];
        }
        float sum = 0.0f;
        for (int i = 0; i < C; i++)
            sum = sum + H[i];
        mean_H[0] = sum / (float)C;
    }
}

extern "C" int cuk_accept(cuda_ctx *c, const float *d_H, int C, float bound, uint8_t *d_accepted,
                          float *d_mean_H)
{
    if (C <= 0)
        return 0;
    k_accept<<<1, 256, (size_t)C * sizeof(int), c->stream>>>(d_H, C, bound, d_accepted, d_mean_H);
    return launch_status();
}

/* Canvas update: renoise ids are philox(seed, (canvas, step, i, 2)) mapped to [0, n) and
 * through the allowed-id list when there is one. stable = all(argmax == aprev). */
__global__ void k_sampler_update(const uint8_t *accepted, const int32_t *draw,
                                 const int32_t *argmax, int32_t *aprev, int32_t *x, int C, int V,
                                 const int32_t *allowed_ids, int n_allowed, uint64_t seed,
                                 uint32_t canvas, uint32_t step, int32_t *stable)
{
    __shared__ int s_diff;
    if (threadIdx.x == 0)
        s_diff = 0;
    __syncthreads();
    for (int i = threadIdx.x; i < C; i += blockDim.x) {
        int32_t a = argmax[i];
        if (a != aprev[i])
            atomicOr(&s_diff, 1); /* an OR: order-free */
        if (accepted[i]) {
            x[i] = draw[i];
        } else {
            uint32_t r = philox_w(seed, canvas, step, (uint32_t)i, PHILOX_PURPOSE_RENOISE_ID);
            x[i] = allowed_ids ? allowed_ids[philox_id_from_word(r, (uint32_t)n_allowed)]
                               : (int32_t)philox_id_from_word(r, (uint32_t)V);
        }
    }
    __syncthreads();
    for (int i = threadIdx.x; i < C; i += blockDim.x)
        aprev[i] = argmax[i];
    if (threadIdx.x == 0)
        stable[0] = s_diff ? 0 : 1;
}

extern "C" int cuk_sampler_update(cuda_ctx *c, const uint8_t *d_accepted, const int32_t *d_draw,
                                  const int32_t *d_argmax, int32_t *d_aprev, int32_t *d_x, int C,
                                  int V, const int32_t *d_allowed_ids, int n_allowed, uint64_t seed,
                                  uint32_t canvas, uint32_t step, int32_t *d_stable)
{
    if (C <= 0 || C > 1024)
        return -1;
    k_sampler_update<<<1, 1024, 0, c->stream>>>(d_accepted, d_draw, d_argmax, d_aprev, d_x, C, V,
                                                d_allowed_ids, n_allowed, seed, canvas, step,
                                                d_stable);
    return launch_status();
}

/* SC input: p_v = e_v / S over the whole vocabulary (the allowed mask restricts choices
 * only), then A3 per 32 ids (one warp per block; zero past V). */
__global__ void k_sc_quantize(const float *logits, int rows, int V, float tau, const float *m_,
                              const float *S_, int8_t *q, float *d)
{
    int vblocks = (V + 31) / 32;
    size_t blk = (size_t)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    int lane = threadIdx.x & 31;
    if (blk >= (size_t)rows * (size_t)vblocks)
        return;
    int row = (int)(blk / (size_t)vblocks), v = (int)(blk % (size_t)vblocks) * 32 + lane;
    float p = 0.0f;
    if (v < V)
        p = cm_expf(logits[(size_t)row * V + v] / tau - m_[row]) / S_[row];
    float amax = fabsf(p);
    for (int o = 16; o > 0; o >>= 1)
        amax = fmaxf(amax, __shfl_xor_sync(FULL_MASK, amax, o));
    int qi = 0;
    float dd = 0.0f;
    if (amax != 0.0f) {
        dd = amax / 127.0f;
        qi = round_half_away_clamp(p * (127.0f / amax));
    }
    q[blk * 32 + lane] = (int8_t)qi;
    if (lane == 0)
        d[blk] = dd;
}

extern "C" int cuk_sc_quantize(cuda_ctx *c, const float *d_logits, int rows, int V, float tau,
                               const float *d_m, const float *d_S, int8_t *d_q, float *d_d)
{
    size_t nblocks = (size_t)rows * (size_t)((V + 31) / 32);
    if (!nblocks)
        return 0;
    k_sc_quantize<<<(unsigned)((nblocks + 7) / 8), 256, 0, c->stream>>>(d_logits, rows, V, tau, d_m,
                                                                        d_S, d_q, d_d);
    return launch_status();
}
