/*
 * Elementwise and row kernels: A1 sums, A3 quantisation, A6 building blocks.
 * Row reductions use one aligned group of 8 lanes per row (A1); 4 rows per warp.
 */
#include "inference/cmath.h"
#include "inference/cuda/cuda_common.cuh"

#define ROWS_PER_BLOCK 32 /* 256 threads = 32 groups of 8 */

static inline dim3 row_grid(int rows)
{
    return dim3((unsigned)((rows + ROWS_PER_BLOCK - 1) / ROWS_PER_BLOCK));
}

/* ---------------------------------------------------------------- A1 */

__global__ void k_sum8_rows(const float *x, int rows, int n, float *out)
{
    int row = blockIdx.x * ROWS_PER_BLOCK + (threadIdx.x >> 3), l = threadIdx.x & 7;
    float acc = row < rows ? g8_lane_sum(x + (size_t)row * n, n, l) : 0.0f;
    acc = g8_combine(acc);
    if (row < rows && l == 0)
        out[row] = acc;
}

__global__ void k_dot8_rows(const float *x, const float *y, int rows, int n, float *out)
{
    int row = blockIdx.x * ROWS_PER_BLOCK + (threadIdx.x >> 3), l = threadIdx.x & 7;
    float acc = row < rows ? g8_lane_dot(x + (size_t)row * n, y + (size_t)row * n, n, l) : 0.0f;
    acc = g8_combine(acc);
    if (row < rows && l == 0)
        out[row] = acc;
}

extern "C" int cuk_sum8_rows(cuda_ctx *c, const float *d_x, int rows, int n, float *d_out)
{
    if (rows <= 0)
        return 0;
    k_sum8_rows<<<row_grid(rows), 256, 0, c->stream>>>(d_x, rows, n, d_out);
    return launch_status();
}

extern "C" int cuk_dot8_rows(cuda_ctx *c, const float *d_x, const float *d_y, int rows, int n,
                             float *d_out)
{
    if (rows <= 0)
        return 0;
    k_dot8_rows<<<row_grid(rows), 256, 0, c->stream>>>(d_x, d_y, rows, n, d_out);
    return launch_status();
}

/* ---------------------------------------------------------------- A3 */

/* One warp per 32-block: lane i holds x_i; amax by exact max; then the documented formulas. */
__global__ void k_q8_quantize(const float *x, size_t nblocks, int8_t *q, float *d)
{
    size_t blk = (size_t)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    int lane = threadIdx.x & 31;
    if (blk >= nblocks)
        return; /* whole warps leave together */
    float v = x[blk * 32 + lane];
    float amax = fabsf(v);
    for (int o = 16; o > 0; o >>= 1)
        amax = fmaxf(amax, __shfl_xor_sync(FULL_MASK, amax, o));
    int qi = 0;
    float dd = 0.0f;
    if (amax != 0.0f) {
        dd = amax / 127.0f;
        float id = 127.0f / amax;
        qi = round_half_away_clamp(v * id);
    }
    q[blk * 32 + lane] = (int8_t)qi;
    if (lane == 0)
        d[blk] = dd;
}

extern "C" int cuk_q8_quantize(cuda_ctx *c, const float *d_x, int rows, int cols, int8_t *d_q,
                               float *d_d)
{
    size_t nblocks = (size_t)rows * (size_t)(cols / 32);
    if (nblocks == 0)
        return 0;
    k_q8_quantize<<<(unsigned)((nblocks + 7) / 8), 256, 0, c->stream>>>(d_x, nblocks, d_q, d_d);
    return launch_status();
}

/* ---------------------------------------------------------------- A6 */

__global__ void k_rmsnorm(const float *x, const float *w, float *y, int rows, int n, float eps)
{
    int row = blockIdx.x * ROWS_PER_BLOCK + (threadIdx.x >> 3), l = threadIdx.x & 7;
    const float *xr = x + (size_t)row * n;
    float ss = row < rows ? g8_lane_dot(xr, xr, n, l) : 0.0f;
    ss = g8_combine(ss);
    if (row >= rows)
        return;
    float mean = ss / (float)n;
    float r = 1.0f / sqrtf(mean + eps);
    float *yr = y + (size_t)row * n;
    if (w) {
        for (int i = l; i < n; i += 8)
            yr[i] = (xr[i] * r) * w[i];
    } else {
        for (int i = l; i < n; i += 8)
            yr[i] = xr[i] * r;
    }
}

extern "C" int cuk_rmsnorm(cuda_ctx *c, const float *d_x, const float *d_w, float *d_y, int rows,
                           int n, float eps)
{
    if (rows <= 0)
        return 0;
    k_rmsnorm<<<row_grid(rows), 256, 0, c->stream>>>(d_x, d_w, d_y, rows, n, eps);
    return launch_status();
}

/* Softmax per row: m exact max; e = cm_expf(x - m) written to y; S = sum8(e); y = e / S. */
__global__ void k_softmax(const float *x, float *y, int rows, int n)
{
    int row = blockIdx.x * ROWS_PER_BLOCK + (threadIdx.x >> 3), l = threadIdx.x & 7;
    bool live = row < rows;
    const float *xr = x + (size_t)row * n;
    float *yr = y + (size_t)row * n;
    float m = -INFINITY;
    if (live)
        for (int i = l; i < n; i += 8)
            m = fmaxf(m, xr[i]);
    m = fmaxf(m, __shfl_xor_sync(FULL_MASK, m, 4, 8));
    m = fmaxf(m, __shfl_xor_sync(FULL_MASK, m, 2, 8));
    m = fmaxf(m, __shfl_xor_sync(FULL_MASK, m, 1, 8));
    float acc = 0.0f;
    if (live)
        for (int i = l; i < n; i += 8) {
            float e = cm_expf(xr[i] - m);
            yr[i] = e;
            acc = acc + e;
        }
    float S = g8_combine(acc);
    if (live)
        for (int i = l; i < n; i += 8)
            yr[i] = yr[i] / S;
}

extern "C" int cuk_softmax(cuda_ctx *c, const float *d_x, float *d_y, int rows, int n)
{
    if (rows <= 0)
        return 0;
    k_softmax<<<row_grid(rows), 256, 0, c->stream>>>(d_x, d_y, rows, n);
    return launch_status();
}

__device__ __forceinline__ float gelu_tanh_dev(float x)
{
    float u = x + 0.044715f * ((x * x) * x);
    float t = cm_tanhf(0.7978845608f * u);
    return (0.5f * x) * (1.0f + t);
}

__global__ void k_gelu_gate(const float *g, int ldg, const float *u, int ldu, float *h, int ldh,
                            int rows, int n)
{
    size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (size_t)rows * (size_t)n)
        return;
    size_t r = idx / (size_t)n, i = idx % (size_t)n;
    h[r * ldh + i] = gelu_tanh_dev(g[r * ldg + i]) * u[r * ldu + i];
}

extern "C" int cuk_gelu_gate(cuda_ctx *c, const float *d_gate, int ldg, const float *d_up, int ldu,
                             float *d_h, int ldh, int rows, int n)
{
    size_t total = (size_t)rows * (size_t)n;
    if (!total)
        return 0;
    k_gelu_gate<<<(unsigned)((total + 255) / 256), 256, 0, c->stream>>>(d_gate, ldg, d_up, ldu, d_h,
                                                                        ldh, rows, n);
    return launch_status();
}

__global__ void k_softcap(const float *x, float *y, size_t count, float cap)
{
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < count)
        y[i] = cap * cm_tanhf(x[i] / cap);
}

extern "C" int cuk_softcap(cuda_ctx *c, const float *d_x, float *d_y, size_t count, float cap)
{
    if (!count)
        return 0;
    k_softcap<<<(unsigned)((count + 255) / 256), 256, 0, c->stream>>>(d_x, d_y, count, cap);
    return launch_status();
}

__global__ void k_add(const float *a, const float *b, float *y, size_t count)
{
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < count)
        y[i] = a[i] + b[i];
}

extern "C" int cuk_add(cuda_ctx *c, const float *d_a, const float *d_b, float *d_y, size_t count)
{
    if (!count)
        return 0;
    k_add<<<(unsigned)((count + 255) / 256), 256, 0, c->stream>>>(d_a, d_b, d_y, count);
    return launch_status();
}

__global__ void k_mul_vec_scalar(const float *x, const float *w, float k, float *y, int rows, int n)
{
    size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (size_t)rows * (size_t)n)
        return;
    y[idx] = (x[idx] * w[idx % (size_t)n]) * k;
}

extern "C" int cuk_mul_vec_scalar(cuda_ctx *c, const float *d_x, const float *d_w, float k,
                                  float *d_y, int rows, int n)
{
    size_t total = (size_t)rows * (size_t)n;
    if (!total)
        return 0;
    k_mul_vec_scalar<<<(unsigned)((total + 255) / 256), 256, 0, c->stream>>>(d_x, d_w, k, d_y, rows,
                                                                             n);
    return launch_status();
}

__global__ void k_scale_by(const float *x, const float *s, float *y, size_t count)
{
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < count)
        y[i] = x[i] * s[0];
}

extern "C" int cuk_scale_by(cuda_ctx *c, const float *d_x, const float *d_s, float *d_y,
                            size_t count)
{
    if (!count)
        return 0;
    k_scale_by<<<(unsigned)((count + 255) / 256), 256, 0, c->stream>>>(d_x, d_s, d_y, count);
    return launch_status();
}

__global__ void k_embed(const block_q8_0 *emb, int hidden, const int32_t *ids, int n, float scale,
                        float *x)
{
    size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (size_t)n * (size_t)hidden)
        return;
    size_t t = idx / (size_t)hidden;
    int i = (int)(idx % (size_t)hidden);
    const block_q8_0 *b = &emb[(size_t)ids[t] * (size_t)(hidden / 32) + (size_t)(i / 32)];
    x[idx] = ((float)b->q[i % 32] * f16_to_f32_dev(b->d)) * scale;
}

extern "C" int cuk_embed(cuda_ctx *c, const block_q8_0 *d_emb, int hidden, const int32_t *d_ids,
                         int n, float scale, float *d_x)
{
    size_t total = (size_t)n * (size_t)hidden;
    if (!total)
        return 0;
    k_embed<<<(unsigned)((total + 255) / 256), 256, 0, c->stream>>>(d_emb, hidden, d_ids, n, scale,
                                                                    d_x);
    return launch_status();
}

/* RoPE: one thread per (token, head, pair). */
__global__ void k_rope(float *x, int tokens, int heads, int d, int half, const float *freqs,
                       int pos0)
{
    size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (size_t)tokens * (size_t)heads * (size_t)half)
        return;
    int i = (int)(idx % (size_t)half);
    size_t th = idx / (size_t)half;
    int t = (int)(th / (size_t)heads);
    float a = (float)(uint32_t)(pos0 + t) * freqs[i];
    float cs = cm_cosf(a), sn = cm_sinf(a);
    float *row = x + th * (size_t)d;
    float x0 = row[i], x1 = row[i + half];
    row[i] = x0 * cs - x1 * sn;
    row[i + half] = x1 * cs + x0 * sn;
}

extern "C" int cuk_rope(cuda_ctx *c, float *d_x, int tokens, int heads, int d, int half,
                        const float *d_freqs, int pos0)
{
    size_t total = (size_t)tokens * (size_t)heads * (size_t)half;
    if (!total)
        return 0;
    if (2 * half > d)
        return -1;
    k_rope<<<(unsigned)((total + 255) / 256), 256, 0, c->stream>>>(d_x, tokens, heads, d, half,
                                                                   d_freqs, pos0);
    return launch_status();
}

__global__ void k_scale(const float *x, float k, float *y, size_t count)
{
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < count)
        y[i] = x[i] * k;
}

extern "C" int cuk_scale(cuda_ctx *c, const float *d_x, float k, float *d_y, size_t count)
{
    if (!count)
        return 0;
    k_scale<<<(unsigned)((count + 255) / 256), 256, 0, c->stream>>>(d_x, k, d_y, count);
    return launch_status();
}

__global__ void k_add_scale(const float *r, const float *m, float k, float *x, size_t count)
{
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < count)
        x[i] = (r[i] + m[i]) * k;
}

extern "C" int cuk_add_scale(cuda_ctx *c, const float *d_r, const float *d_m, float k, float *d_x,
                             size_t count)
{
    if (!count)
        return 0;
    k_add_scale<<<(unsigned)((count + 255) / 256), 256, 0, c->stream>>>(d_r, d_m, k, d_x, count);
    return launch_status();
}

/* ---------------------------------------------------------------- A10 */

__global__ void k_philox(uint64_t seed, uint32_t canvas, uint32_t step, uint32_t purpose, int n,
                         uint32_t *out)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        out[i] = philox_w(seed, canvas, step, (uint32_t)i, purpose);
}

extern "C" int cuk_philox(cuda_ctx *c, uint64_t seed, uint32_t canvas, uint32_t step,
                          uint32_t purpose, int n, uint32_t *d_out)
{
    if (n <= 0)
        return 0;
    k_philox<<<(unsigned)((n + 255) / 256), 256, 0, c->stream>>>(seed, canvas, step, purpose, n,
                                                                 d_out);
    return launch_status();
}
