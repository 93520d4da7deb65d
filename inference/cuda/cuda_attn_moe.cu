/*
 * Attention (A7) and mixture-of-experts routing and combination (A8) on the GPU.
 */
#include "inference/cmath.h"
#include "inference/cuda/cuda_common.cuh"

/* ---------------------------------------------------------------- A7
 * One block (256 threads) per (query, head). Scores: group g of 8 lanes computes dot8(q, k_j)
 * for keys j = g, g+32, ...; m = exact max; e_j = cm_expf(s_j - m); S = sum8 over the list
 * (group 0); p_j = e_j / S; o[dd] = sequential sum over j of p_j * v_j[dd] (threads over dd). */
__global__ void __launch_bounds__(256)
    k_attention(const float *q, const float *k, const float *v, float *o, int nq, int heads,
                int kv_heads, int d, int pos0, int causal, int window, float *scratch, int max_keys)
{
    __shared__ float s_red[256];
    __shared__ float s_S;
    int qi = blockIdx.x / heads, h = blockIdx.x % heads;
    int kvh = h / (heads / kv_heads);
    int pos = pos0 + qi, lo, hi;
    if (causal) {
        hi = pos + 1;
        lo = window ? (pos - window + 1 > 0 ? pos - window + 1 : 0) : 0;
    } else {
        hi = pos0 + nq;
        lo = window ? pos0 - (pos0 < window - 1 ? pos0 : window - 1) : 0;
    }
    int nk = hi - lo;
    if (nk > max_keys)
        nk = max_keys; /* the launcher guarantees it never happens */
    float *sc = scratch + (size_t)blockIdx.x * max_keys;
    const float *qr = q + ((size_t)qi * heads + h) * d;
    int tid = threadIdx.x, grp = tid >> 3, l = tid & 7;
    size_t kstride = (size_t)kv_heads * d;

    for (int jb = 0; jb < nk; jb += 32) {
        int j = jb + grp;
        float acc = 0.0f;
        if (j < nk)
            acc = g8_lane_dot(qr, k + (size_t)(lo + j) * kstride + (size_t)kvh * d, d, l);
        acc = g8_combine(acc);
        if (j < nk && l == 0)
            sc[j] = acc;
    }
    __syncthreads();
    float m = -INFINITY;
    for (int j = tid; j < nk; j += 256)
        m = fmaxf(m, sc[j]);
    s_red[tid] = m;
    __syncthreads();
    for (int o2 = 128; o2 > 0; o2 >>= 1) {
        if (tid < o2)
            s_red[tid] = fmaxf(s_red[tid], s_red[tid + o2]);
        __syncthreads();
    }
    m = s_red[0];
    __syncthreads(); /* all threads read m before the scores are overwritten */
    for (int j = tid; j < nk; j += 256)
        sc[j] = cm_expf(sc[j] - m);
    __syncthreads();
    if (tid < 32) { /* group 0 (lanes 0..7) computes sum8; the rest of warp 0 joins the shuffles */
        float acc = tid < 8 ? g8_lane_sum(sc, nk, l) : 0.0f;
        acc = g8_combine(acc);
        if (tid == 0)
            s_S = acc;
    }
    __syncthreads();
    float S = s_S;
    for (int j = tid; j < nk; j += 256)
        sc[j] = sc[j] / S;
    __syncthreads();
    float *orow = o + ((size_t)qi * heads + h) * d;
    for (int dd = tid; dd < d; dd += 256) {
        float acc = 0.0f;
        const float *vp = v + (size_t)lo * kstride + (size_t)kvh * d + dd;
        for (int j = 0; j < nk; j++)
            acc = acc + sc[j] * vp[(size_t)j * kstride];
        orow[dd] = acc;
    }
}

extern "C" int cuk_attention(cuda_ctx *c, const float *d_q, const float *d_k, const float *d_v,
                             float *d_o, int nq, int heads, int kv_heads, int d, int pos0,
                             int causal, int window, float *d_scratch, int max_keys)
{
    if (nq <= 0)
        return 0;
    if (kv_heads <= 0 || heads % kv_heads)
        return -1;
    int longest = causal ? (window ? (pos0 + nq < window ? pos0 + nq : window) : pos0 + nq)
                         : (window ? (pos0 < window - 1 ? pos0 : window - 1) + nq : pos0 + nq);
    if (longest > max_keys) {
        fprintf(stderr, "cuk_attention: %d keys but scratch for %d\n", longest, max_keys);
        return -1;
    }
    k_attention<<<(unsigned)(nq * heads), 256, 0, c->stream>>>(
        d_q, d_k, d_v, d_o, nq, heads, kv_heads, d, pos0, causal, window, d_scratch, max_keys);
    return launch_status();
}

/* ---------------------------------------------------------------- A8 routing
 * One group of 8 lanes per token (4 tokens per warp). p = softmax (A6, sum8 over the group);
 * k rounds of "largest p, ties to the lower expert"; sumk sequential in rank order;
 * w = (p / sumk) * scale[e]; output sorted by expert id (the combination order). */
#define MOE_MAX_K 16
#define MOE_MAX_E 512

__global__ void k_moe_route(const float *logits, int T, int E, int k, const float *scale,
                            int32_t *ids, float *w)
{
    int t = blockIdx.x * 32 + (threadIdx.x >> 3), l = threadIdx.x & 7;
    bool live = t < T;
    const float *x = logits + (size_t)(live ? t : 0) * E;
    float m = -INFINITY;
    for (int i = l; i < E; i += 8)
        m = fmaxf(m, x[i]);
    m = fmaxf(m, __shfl_xor_sync(FULL_MASK, m, 4, 8));
    m = fmaxf(m, __shfl_xor_sync(FULL_MASK, m, 2, 8));
    m = fmaxf(m, __shfl_xor_sync(FULL_MASK, m, 1, 8));
    float acc = 0.0f;
    for (int i = l; i < E; i += 8)
        acc = acc + cm_expf(x[i] - m);
    float S = g8_combine(acc);

    int sel_id[MOE_MAX_K];
    float sel_p[MOE_MAX_K];
    uint32_t taken[MOE_MAX_E / 8 / 32 + 1]; /* this lane's experts l, l+8, ...: bit (i/8) */
    for (int b = 0; b < MOE_MAX_E / 8 / 32 + 1; b++)
        taken[b] = 0;
    for (int r = 0; r < k; r++) {
        float bp = -1.0f;
        int bi = 0x7fffffff;
        for (int i = l; i < E; i += 8) {
            int slot = i >> 3;
            if (taken[slot >> 5] & (1u << (slot & 31)))
                continue;
            float p = cm_expf(x[i] - m) / S;
            if (p > bp || (p == bp && i < bi))
                bp = p, bi = i;
        }
        for (int o = 4; o > 0; o >>= 1) {
            float op = __shfl_xor_sync(FULL_MASK, bp, o, 8);
            int oi = __shfl_xor_sync(FULL_MASK, bi, o, 8);
            if (op > bp || (op == bp && oi < bi))
                bp = op, bi = oi;
        }
        sel_id[r] = bi;
        sel_p[r] = bp;
        if ((bi & 7) == l) {
            int slot = bi >> 3;
            taken[slot >> 5] |= 1u << (slot & 31);
        }
    }
    if (!live || l != 0)
        return;
    float sumk = 0.0f;
    for (int r = 0; r < k; r++)
        sumk = sumk + sel_p[r];
    /* ascending expert id for the combination (insertion sort of k <= 16 entries) */
    for (int a = 1; a < k; a++) {
        int id = sel_id[a];
        float p = sel_p[a];
        int b = a - 1;
        while (b >= 0 && sel_id[b] > id) {
            sel_id[b + 1] = sel_id[b];
            sel_p[b + 1] = sel_p[b];
            b--;
        }
        sel_id[b + 1] = id;
        sel_p[b + 1] = p;
    }
    for (int r = 0; r < k; r++) {
        ids[(size_t)t * k + r] = sel_id[r];
        w[(size_t)t * k + r] = (sel_p[r] / sumk) * scale[sel_id[r]];
    }
}

extern "C" int cuk_moe_route(cuda_ctx *c, const float *d_logits, int T, int E, int k,
                             const float *d_expert_scale, int32_t *d_ids, float *d_w)
{
    if (T <= 0)
        return 0;
    if (k < 1 || k > MOE_MAX_K || E > MOE_MAX_E || k > E)
        return -1;
    k_moe_route<<<(unsigned)((T + 31) / 32), 256, 0, c->stream>>>(d_logits, T, E, k, d_expert_scale,
                                                                  d_ids, d_w);
    return launch_status();
}

/* Grouping: thread e counts its tokens, a prefix over experts gives off[], then thread e lists
 * its tokens in increasing order: deterministic. One block; E <= 1024. */
__global__ void k_moe_group(const int32_t *ids, int T, int k, int E, int32_t *off, int32_t *rows,
                            int32_t *slot_row)
{
    extern __shared__ int s_cnt[];
    for (int e = threadIdx.x; e < E; e += blockDim.x) {
        int n = 0;
        for (int i = 0; i < T * k; i++)
            n += ids[i] == e;
        s_cnt[e] = n;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        int run = 0;
        for (int e = 0; e < E; e++) {
            off[e] = run;
            run += s_cnt[e];
            s_cnt[e] = off[e];
        }
        off[E] = run;
    }
    __syncthreads();
    for (int e = threadIdx.x; e < E; e += blockDim.x) {
        int next = s_cnt[e];
        for (int i = 0; i < T * k; i++)
            if (ids[i] == e) {
                rows[next] = i / k;
                slot_row[i] = next;
                next++;
            }
    }
}

extern "C" int cuk_moe_group(cuda_ctx *c, const int32_t *d_ids, int T, int k, int E, int32_t *d_off,
                             int32_t *d_rows, int32_t *d_slot_row)
{
    if (E <= 0 || E > 1024)
        return -1;
    k_moe_group<<<1, 256, (size_t)E * sizeof(int), c->stream>>>(d_ids, T, k, E, d_off, d_rows,
                                                                d_slot_row);
    return launch_status();
}

__global__ void k_moe_combine(const float *y, int ldy, const int32_t *slot_row, const float *w,
                              int T, int k, int n, float *out)
{
    size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (size_t)T * (size_t)n)
        return;
    size_t t = idx / (size_t)n, i = idx % (size_t)n;
    float acc = 0.0f;
    for (int s = 0; s < k; s++)
        acc = acc + w[t * k + s] * y[(size_t)slot_row[t * k + s] * ldy + i];
    out[idx] = acc;
}

extern "C" int cuk_moe_combine(cuda_ctx *c, const float *d_y, int ldy, const int32_t *d_slot_row,
                               const float *d_w, int T, int k, int n, float *d_out)
{
    size_t total = (size_t)T * (size_t)n;
    if (!total)
        return 0;
    k_moe_combine<<<(unsigned)((total + 255) / 256), 256, 0, c->stream>>>(d_y, ldy, d_slot_row, d_w,
                                                                          T, k, n, d_out);
    return launch_status();
}
