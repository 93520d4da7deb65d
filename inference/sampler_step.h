/*
 * The per-position arithmetic of one denoising step (docs/arithmetic.md A9, A9c, A10), in the
 * pieces a parallel implementation is made of: a thread's share of the argmax, one lane's share
 * of a chunk sum, the A1 combine of eight lanes, the chunk folds, the draw walk, the rank of a
 * position in the acceptance order, the acceptance walk, the next canvas id and the
 * self-conditioning probability.
 *
 * One header for C (the host test double in tests/inference/test_sampler_step.c) and CUDA
 * (host and device: inference/cuda/cuda_sampler.cu builds its kernels from these functions), as
 * cmath.h and philox.h are. The kernels only add the glue (which thread runs which piece,
 * shared memory, barriers), so running these pieces on the CPU in the kernels' decomposition and
 * comparing with sampler.c checks the arithmetic without a GPU.
 *
 * Every function here gives sampler.c's bits (sampler_position, sampler_position_forced,
 * sc_position, the acceptance and renoise of sampler_generate) for finite logits.
 */
#ifndef SIBYL_INFERENCE_SAMPLER_STEP_H
#define SIBYL_INFERENCE_SAMPLER_STEP_H

#include <stdint.h>

#include "inference/cmath.h"
#include "inference/philox.h"

#ifdef __CUDACC__
#define SS_FN __host__ __device__ static inline
#else
#define SS_FN static inline
#endif

#define SS_CHUNK 1024 /* vocabulary chunk of A9 */

SS_FN uint32_t ss_chunks(uint32_t V)
{
    return (V + SS_CHUNK - 1) / SS_CHUNK;
}

SS_FN uint32_t ss_chunk_len(uint32_t V, uint32_t c)
{
    uint32_t b = c * SS_CHUNK;
    return V - b < SS_CHUNK ? V - b : SS_CHUNK;
}

/* Temperature at the step with k of N steps remaining (A9). */
SS_FN float ss_tau(float t_min, float t_max, uint32_t k, uint32_t N)
{
    return t_min + (t_max - t_min) * ((float)k / (float)N);
}

/* Is id v allowed under mask (NULL = every id)? */
SS_FN int ss_allowed(const uint8_t *mask, uint32_t v)
{
    return !mask || mask[v] != 0;
}

/* (v, id) beats the best so far (bv, bid): nothing yet (bid < 0), a larger tempered logit, or
 * an equal one at a lower id. The best of any grouping of the ids is then the first-found
 * maximum of sampler.c's increasing-id scan (`>`): the order of the reduction cannot matter. */
SS_FN int ss_better(float v, int32_t id, float bv, int32_t bid)
{
    return bid < 0 || v > bv || (v == bv && id < bid);
}

/* Thread t of nt: the best (z_v = row[v] / tau, v) over the allowed ids t, t + nt, ...;
 * *bid = -1 when it saw none. */
SS_FN void ss_argmax_part(const float *row, uint32_t V, float tau, const uint8_t *mask, uint32_t t,
                          uint32_t nt, float *bv, int32_t *bid)
{
    float best = 0.0f;
    int32_t id = -1;
    for (uint32_t v = t; v < V; v += nt) {
        if (!ss_allowed(mask, v))
            continue;
        float z = row[v] / tau;
        if (ss_better(z, (int32_t)v, best, id)) {
            best = z;
            id = (int32_t)v;
        }
    }
    *bv = best;
    *bid = id;
}

/* Lane l (0..7) of chunk c (A1 inside the chunk): the sequential sums from +0 of
 * e_v = cm_expf(z_v - m) and, when sz is not NULL, of the entropy term e_v * (z_v - m), over
 * ids b + l, b + l + 8, ... of the chunk. A masked-out id has e_v = term = +0 in sampler.c;
 * adding +0 leaves these sums unchanged (e_v >= 0 and the terms are <= 0, so a lane sum is +0 or
 * nonzero, never -0), so it is skipped. */
SS_FN void ss_lane_sums(const float *row, uint32_t V, uint32_t c, uint32_t l, float tau, float m,
                        const uint8_t *mask, float *se, float *sz)
{
    uint32_t b = c * SS_CHUNK, n = ss_chunk_len(V, c);
    float ae = 0.0f, az = 0.0f;
    for (uint32_t i = l; i < n; i += 8) {
        uint32_t v = b + i;
        if (!ss_allowed(mask, v))
            continue;
        float d = row[v] / tau - m;
        float e = cm_expf(d);
        ae = ae + e;
        az = az + e * d;
    }
    *se = ae;
    if (sz)
        *sz = az;
}

/* The A1 combine of eight lane sums: (l, l+4), then (0,2), (1,3), then the two halves. */
SS_FN float ss_combine8(const float a[8])
{
    float a0 = a[0] + a[4], a1 = a[1] + a[5];
    float a2 = a[2] + a[6], a3 = a[3] + a[7];
    float b0 = a0 + a2, b1 = a1 + a3;
    return b0 + b1;
}

/* Chunk results folded sequentially in chunk order (S = sum_c chunk sum, Z likewise). */
SS_FN float ss_fold(const float *x, uint32_t n)
{
    float acc = 0.0f;
    for (uint32_t c = 0; c < n; c++)
        acc = acc + x[c];
    return acc;
}

SS_FN float ss_entropy(float S, float Z)
{
    return cm_logf(S) - Z / S;
}

/* A forced position (A9c): S = e_f = cm_expf(0), Z = +0, H = cm_logf(S) - 0/S; the chunk sums
 * are +0 except f's chunk, which is S. */
SS_FN void ss_forced(float *S, float *H)
{
    float s = cm_expf(0.0f);
    *S = s;
    *H = cm_logf(s) - 0.0f / s;
}

/* e_v as the statistics computed it (+0 for a masked-out id). */
SS_FN float ss_e(const float *row, uint32_t v, float tau, float m, const uint8_t *mask)
{
    return ss_allowed(mask, v) ? cm_expf(row[v] / tau - m) : 0.0f;
}

/* The categorical draw of A9 for uniform u, from the chunk sums cs and S: the chunk whose
 * running sum first exceeds u*S, then the id inside it whose running sum does; the fallbacks for
 * rounding as in sampler_position. Sequential by definition: one thread. */
SS_FN int32_t ss_draw(const float *row, uint32_t V, float tau, float m, const uint8_t *mask,
                      const float *cs, float S, float u)
{
    float target = u * S, acc = 0.0f;
    uint32_t nc = ss_chunks(V);
    for (uint32_t c = 0; c < nc; c++) {
        if (!(acc + cs[c] > target)) {
            acc = acc + cs[c];
            continue;
        }
        uint32_t b = c * SS_CHUNK, n = ss_chunk_len(V, c);
        float acc2 = acc;
        for (uint32_t i = 0; i < n; i++) {
            acc2 = acc2 + ss_e(row, b + i, tau, m, mask);
            if (acc2 > target)
                return (int32_t)(b + i);
        }
        for (uint32_t i = n; i-- > 0;) /* the chunk sum crossed, the walk did not */
            if (ss_e(row, b + i, tau, m, mask) > 0.0f)
                return (int32_t)(b + i);
        break;
    }
    for (uint32_t v = V; v-- > 0;)
        if (ss_e(row, v, tau, m, mask) > 0.0f)
            return (int32_t)v;
    return -1; /* unreachable: e_argmax = cm_expf(0) > 0 */
}

/* Self-conditioning probability of id v (A9): p_v = e_v / S with the unmasked m and S. */
SS_FN float ss_sc_prob(const float *row, uint32_t v, float tau, float m, float S)
{
    return cm_expf(row[v] / tau - m) / S;
}

/* Position i's place in the acceptance order: H ascending, ties to the lower position (the
 * stable sort of sampler.c). */
SS_FN uint32_t ss_rank(const float *H, uint32_t C, uint32_t i)
{
    uint32_t r = 0;
    for (uint32_t j = 0; j < C; j++)
        r += H[j] < H[i] || (H[j] == H[i] && j < i);
    return r;
}

/* The acceptance walk over order[0..C) (order[rank] = position): accepted iff the entropy
 * accumulated before it is <= bound. Returns how many were accepted. */
SS_FN uint32_t ss_accept(const float *H, const int32_t *order, uint32_t C, float bound,
                         uint8_t *accepted)
{
    float acc = 0.0f;
    uint32_t n = 0;
    for (uint32_t r = 0; r < C; r++) {
        int32_t i = order[r];
        accepted[i] = acc <= bound;
        n += accepted[i];
        acc = acc + H[i];
    }
    return n;
}

/* Mean entropy of the stop test: sequential sum over positions, divided by C. */
SS_FN float ss_mean(const float *H, uint32_t C)
{
    float s = 0.0f;
    for (uint32_t i = 0; i < C; i++)
        s = s + H[i];
    return s / (float)C;
}

/* Position i's next canvas id: its draw y when accepted, else the renoise id of A9b/A9c: the
 * forced id, or Philox (canvas, step, i, purpose 2) mapped into the noise list (NULL: [0, V)). */
SS_FN int32_t ss_next_id(int accepted, int32_t y, int32_t forced, const int32_t *list,
                         uint32_t n_list, uint32_t V, uint64_t seed, uint32_t canvas, uint32_t step,
                         uint32_t i)
{
    if (accepted)
        return y;
    if (forced >= 0)
        return forced;
    uint32_t w = philox_word(seed, canvas, step, i, PHILOX_PURPOSE_RENOISE_ID);
    return list ? list[philox_id_from_word(w, n_list)] : (int32_t)philox_id_from_word(w, V);
}

#endif
