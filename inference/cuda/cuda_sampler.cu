/*
 * The sampler's step on the GPU (docs/arithmetic.md A9, A9c, A10): statistics, argmax and draw
 * per position, the self-conditioning input for the next step, then acceptance and the next
 * canvas ids. The arithmetic is inference/sampler_step.h, compiled here for the device and
 * driven on the CPU in the same decomposition by tests/inference/test_sampler_step.c; this file
 * only decides which thread runs which piece.
 *
 * Statistics and SC: one block of 256 threads per canvas position, i.e. 32 groups of 8 lanes;
 * group g takes chunks g, g+32, ...; lane l of a group sums the ids l, l+8, ... of its chunk
 * (ss_lane_sums), the group gathers its 8 lane sums with shuffles and combines them with
 * ss_combine8, and one thread folds the chunk results in chunk order (ss_fold). Finish: one
 * block over the canvas (C <= 1024).
 *
 * The step's scalars come from device memory (cuk_step_params), so a captured CUDA graph replays
 * a later step by changing them only.
 */
#include "inference/cuda/cuda_common.cuh"
#include "inference/sampler_step.h"

#define SMP_THREADS 256
#define SMP_GROUPS (SMP_THREADS / 8)

/* The mask of table k (NULL: every id) and the renoise list of table k (NULL: [0, V)). */
__device__ __forceinline__ const uint8_t *rule_mask(const cuk_rules &r, int32_t k, int V)
{
    return k >= 0 ? r.masks + (size_t)k * (size_t)V : NULL;
}

/* Block-wide best (z, id) of ss_argmax_part over all threads; every thread gets it. */
__device__ void block_argmax(const float *lr, int V, float tau, const uint8_t *mask, float *m,
                             int32_t *am)
{
    __shared__ float s_val[SMP_THREADS];
    __shared__ int32_t s_id[SMP_THREADS];
    int tid = threadIdx.x;
    float bv;
    int32_t bid;
    ss_argmax_part(lr, (uint32_t)V, tau, mask, (uint32_t)tid, SMP_THREADS, &bv, &bid);
    s_val[tid] = bv;
    s_id[tid] = bid;
    __syncthreads();
    for (int o = SMP_THREADS / 2; o > 0; o >>= 1) {
        if (tid < o && s_id[tid + o] >= 0 &&
            ss_better(s_val[tid + o], s_id[tid + o], s_val[tid], s_id[tid])) {
            s_val[tid] = s_val[tid + o];
            s_id[tid] = s_id[tid + o];
        }
        __syncthreads();
    }
    *m = s_val[0];
    *am = s_id[0];
    __syncthreads();
}

/* Chunk sums of e (and of the entropy terms when zc is not NULL) into cs[0..nchunks) (and
 * zc), by the 32 groups; returns after a barrier, so that every thread sees them. */
__device__ void block_chunk_sums(const float *lr, int V, float tau, float m, const uint8_t *mask,
                                 float *cs, float *zc)
{
    int tid = threadIdx.x, grp = tid >> 3, l = tid & 7, lane = tid & 31;
    int nch = (int)ss_chunks((uint32_t)V);
    for (int cb = 0; cb < nch; cb += SMP_GROUPS) {
        int ch = cb + grp;
        float se = 0.0f, sz = 0.0f;
        if (ch < nch)
            ss_lane_sums(lr, (uint32_t)V, (uint32_t)ch, (uint32_t)l, tau, m, mask, &se,
                         zc ? &sz : NULL);
        float ae[8], az[8];
        for (int k = 0; k < 8; k++) { /* the group's 8 lane sums, in lane order */
            ae[k] = __shfl_sync(FULL_MASK, se, (lane & ~7) | k);
            az[k] = __shfl_sync(FULL_MASK, sz, (lane & ~7) | k);
        }
        if (ch < nch && l == 0) {
            cs[ch] = ss_combine8(ae);
            if (zc)
                zc[ch] = ss_combine8(az);
        }
    }
    __syncthreads();
}

/* Per position: S, H, argmax, draw (A9/A9c), and m for the SC input. chunks: rows x 2*nchunks
 * scratch (chunk sums of e, then of the entropy terms). */
__global__ void __launch_bounds__(SMP_THREADS)
    k_sample_stats(const float *logits, int V, cuk_rules r, const cuk_step_params *par, float *m_,
                   float *S_, float *H_, int32_t *argmax, int32_t *draw, float *chunks)
{
    int row = blockIdx.x, tid = threadIdx.x;
    const float tau = par->tau;
    int32_t f = r.forced[row];
    if (f >= 0) { /* A9c: the one-id mask's results without reading the logits */
        if (tid == 0) {
            float S, H;
            ss_forced(&S, &H);
            m_[row] = 0.0f; /* unused: a forced position's SC input has its own m */
            S_[row] = S;
            H_[row] = H;
            argmax[row] = draw[row] = f;
        }
        return;
    }
    const float *lr = logits + (size_t)row * (size_t)V;
    const uint8_t *mask = rule_mask(r, r.mask[row], V);
    int nch = (int)ss_chunks((uint32_t)V);
    float *cs = chunks + (size_t)row * 2 * (size_t)nch, *zc = cs + nch;
    float m;
    int32_t am;
    block_argmax(lr, V, tau, mask, &m, &am);
    block_chunk_sums(lr, V, tau, m, mask, cs, zc);
    if (tid == 0) {
        float S = ss_fold(cs, (uint32_t)nch), Z = ss_fold(zc, (uint32_t)nch);
        float u = philox_uniform(par->seed, par->canvas, par->step, (uint32_t)row,
                                 PHILOX_PURPOSE_CATEGORICAL);
        m_[row] = m;
        S_[row] = S;
        H_[row] = ss_entropy(S, Z);
        argmax[row] = am;
        draw[row] = ss_draw(lr, (uint32_t)V, tau, m, mask, cs, S, u);
    }
}

/* The next step's SC input (A9): P = softmax(z) over the whole vocabulary, rows of Vpad with
 * zeros past V. An unrestricted position reuses m and S of its statistics (the same values);
 * a restricted one computes its own unmasked m and S. Does nothing when !par->make_sc. */
__global__ void __launch_bounds__(SMP_THREADS)
    k_sample_sc(const float *logits, int V, int Vpad, cuk_rules r, const cuk_step_params *par,
                const float *m_, const float *S_, float *chunks, float *probs)
{
    if (!par->make_sc)
        return;
    int row = blockIdx.x, tid = threadIdx.x;
    const float tau = par->tau;
    const float *lr = logits + (size_t)row * (size_t)V;
    __shared__ float s_mS[2];
    if (r.forced[row] < 0 && r.mask[row] < 0) {
        if (tid == 0)
            s_mS[0] = m_[row], s_mS[1] = S_[row];
    } else {
        int nch = (int)ss_chunks((uint32_t)V);
        float *cs = chunks + (size_t)row * 2 * (size_t)nch;
        float m;
        int32_t am;
        block_argmax(lr, V, tau, NULL, &m, &am);
        block_chunk_sums(lr, V, tau, m, NULL, cs, NULL);
        if (tid == 0)
            s_mS[0] = m, s_mS[1] = ss_fold(cs, (uint32_t)nch);
    }
    __syncthreads();
    float m = s_mS[0], S = s_mS[1];
    float *p = probs + (size_t)row * (size_t)Vpad;
    for (int v = tid; v < Vpad; v += SMP_THREADS)
        p[v] = v < V ? ss_sc_prob(lr, (uint32_t)v, tau, m, S) : 0.0f;
}

/* Acceptance, mean entropy and the next canvas ids (A9, A9b, A9c). out[0] = accepted count,
 * out[1] = the mean entropy's bits. One block, C <= 1024. */
__global__ void k_sample_finish(int C, int V, cuk_rules r, const cuk_step_params *par,
                                const float *H, const int32_t *draw, int32_t *x, int32_t *out)
{
    __shared__ int32_t s_order[1024];
    __shared__ uint8_t s_acc[1024];
    for (int i = threadIdx.x; i < C; i += blockDim.x)
        s_order[ss_rank(H, (uint32_t)C, (uint32_t)i)] = i;
    __syncthreads();
    if (threadIdx.x == 0) {
        out[0] = (int32_t)ss_accept(H, s_order, (uint32_t)C, par->bound, s_acc);
        out[1] = (int32_t)cm_f2u(ss_mean(H, (uint32_t)C));
    }
    __syncthreads();
    for (int i = threadIdx.x; i < C; i += blockDim.x) {
        int32_t k = r.noise[i];
        const int32_t *list = k >= 0 ? r.lists + r.list_off[k] : NULL;
        uint32_t n = k >= 0 ? (uint32_t)(r.list_off[k + 1] - r.list_off[k]) : 0u;
        x[i] = ss_next_id(s_acc[i], draw[i], r.forced[i], list, n, (uint32_t)V, par->seed,
                          par->canvas, par->step, (uint32_t)i);
    }
}

extern "C" int cuk_sample_step(cuda_ctx *c, const float *d_logits, int C, int V, int Vpad,
                               const cuk_rules *r, const cuk_step_params *d_par, float *d_m,
                               float *d_S, float *d_H, int32_t *d_draw, float *d_chunks,
                               float *d_probs, int32_t *d_x, int32_t *d_argmax, int32_t *d_out)
{
    if (C <= 0 || C > 1024 || V <= 0 || Vpad < V)
        return -1;
    k_sample_stats<<<(unsigned)C, SMP_THREADS, 0, c->stream>>>(d_logits, V, *r, d_par, d_m, d_S,
                                                               d_H, d_argmax, d_draw, d_chunks);
    int rc = launch_status();
    if (rc)
        return rc;
    /* the SC pass reuses the chunk scratch: the statistics are done with it */
    k_sample_sc<<<(unsigned)C, SMP_THREADS, 0, c->stream>>>(d_logits, V, Vpad, *r, d_par, d_m, d_S,
                                                            d_chunks, d_probs);
    if ((rc = launch_status()))
        return rc;
    k_sample_finish<<<1, 1024, 0, c->stream>>>(C, V, *r, d_par, d_H, d_draw, d_x, d_out);
    return launch_status();
}
