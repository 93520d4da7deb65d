/*
 * A5 block-int8 matrix product on the GPU.
 *
 * y[t][n] = sum over b (increasing) of (float)isum(t,n,b) * (wd[n][b] * ad[t][b]).
 *
 * Each 32-block's integer dot product is exact (int32), so how it is computed does not matter:
 * the tensor-core path issues one mma.sync m16n8k32 s8.s8.s32 per block with a zero
 * accumulator, which gives exactly one block's isum for a 16x8 tile of outputs; the dp4a path
 * adds 8 dp4a results. What matters is the float fold, and it is the same in both: the thread
 * that holds an output folds its blocks into one register in increasing block order.
 */
#include "inference/cuda/cuda_common.cuh"

/* ---------------------------------------------------------------- dp4a (simple, one output
 * per thread; the reference GPU path) */

__device__ __forceinline__ int w_word(const block_q8_0 *b, int j)
{
    /* Q8_0 blocks are 34 bytes: only 2-byte alignment, so read the quants as 16-bit halves. */
    const uint16_t *h = (const uint16_t *)b->q;
    return (int)((uint32_t)h[2 * j] | ((uint32_t)h[2 * j + 1] << 16));
}

__global__ void k_matmul_dp4a(const block_q8_0 *w, size_t wstride, int wrows, int nb,
                              const int8_t *aq, const float *ad, int arows, const int32_t *off,
                              const int32_t *rows, float *y, int ldy)
{
    int n = blockIdx.x * blockDim.x + threadIdx.x;
    int lt = blockIdx.y, base = 0, count = arows;
    if (off) { /* grouped: group blockIdx.z, rows off[g] .. off[g+1] */
        base = off[blockIdx.z];
        count = off[blockIdx.z + 1] - base;
        w += (size_t)blockIdx.z * wstride;
    }
    if (n >= wrows || lt >= count)
        return;
    int t = off ? (rows ? rows[base + lt] : base + lt) : lt;
    const block_q8_0 *wr = w + (size_t)n * nb;
    const int *ar = (const int *)(aq + (size_t)t * nb * 32);
    const float *adr = ad + (size_t)t * nb;
    float acc = 0.0f;
    for (int b = 0; b < nb; b++) {
        int isum = 0;
#pragma unroll
        for (int j = 0; j < 8; j++)
            isum = __dp4a(w_word(&wr[b], j), ar[b * 8 + j], isum);
        float s = f16_to_f32_dev(wr[b].d) * adr[b];
        acc = acc + (float)isum * s;
    }
    y[(size_t)(base + lt) * ldy + n] = acc;
}

/* ---------------------------------------------------------------- tensor cores
 * Block tile: BT = 128 activation rows x BN = 32 weight rows; 8 warps, warp w owns rows
 * [16w, 16w+16) x all 32 outputs (4 MMAs of n8 per 32-block). K is staged KC blocks at a time
 * in shared memory; row pitch 144 bytes (36 words) keeps the fragment loads conflict-free. */
#define MM_BT 128
#define MM_BN 32
#define MM_KC 4
#define MM_PITCH (MM_KC * 32 + 16)

__device__ __forceinline__ void mma_s8(int (&d)[4], uint32_t a0, uint32_t a1, uint32_t a2,
                                       uint32_t a3, uint32_t b0, uint32_t b1)
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm volatile("mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 "
                 "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%10,%10,%10,%10};\n"
                 : "=r"(d[0]), "=r"(d[1]), "=r"(d[2]), "=r"(d[3])
                 : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1), "r"(0));
#else
    d[0] = d[1] = d[2] = d[3] = 0;
    (void)a0, (void)a1, (void)a2, (void)a3, (void)b0, (void)b1;
    __trap(); /* the backend refuses GPUs below sm_80 (cuda_probe) */
#endif
}

/* Grouped form: group g = blockIdx.z: weights w + g*wstride, activation rows from `rows`
 * (or identity), outputs at rows off[g] + i. Plain form: off == NULL, one group. */
__global__ void __launch_bounds__(256)
    k_matmul_mma(const block_q8_0 *w, size_t wstride, int wrows, int nb, const int8_t *aq,
                 const float *ad, int arows, const int32_t *off, const int32_t *rows, float *y,
                 int ldy)
{
    __shared__ __align__(16) int8_t sa[MM_BT * MM_PITCH];
    __shared__ __align__(16) int8_t sw[MM_BN * MM_PITCH];
    __shared__ float sad[MM_BT * MM_KC];
    __shared__ float swd[MM_BN * MM_KC];

    int g = blockIdx.z;
    int base = 0, count = arows;
    if (off) {
        base = off[g];
        count = off[g + 1] - base;
        w += (size_t)g * wstride;
    }
    int t0 = blockIdx.y * MM_BT, n0 = blockIdx.x * MM_BN;
    if (t0 >= count)
        return; /* uniform over the block */

    int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, gid = lane >> 2, tig = lane & 3;
    float acc[4][4];
#pragma unroll
    for (int s = 0; s < 4; s++)
#pragma unroll
        for (int i = 0; i < 4; i++)
            acc[s][i] = 0.0f;

    for (int kb = 0; kb < nb; kb += MM_KC) {
        int kc = nb - kb < MM_KC ? nb - kb : MM_KC;
        __syncthreads();
        /* activations: 128 rows x kc blocks; 16-byte pieces, zero for rows past the group */
        for (int p = tid; p < MM_BT * MM_KC * 2; p += 256) {
            int r = p / (MM_KC * 2), piece = p % (MM_KC * 2), blk = piece >> 1;
            int4 v = make_int4(0, 0, 0, 0);
            float sc = 0.0f;
            int lt = t0 + r;
            if (lt < count && blk < kc) {
                int ar = off ? (rows ? rows[base + lt] : base + lt) : lt;
                const int8_t *src =
                    aq + ((size_t)ar * nb + (size_t)(kb + blk)) * 32 + (piece & 1) * 16;
                v = *(const int4 *)src;
                sc = ad[(size_t)ar * nb + kb + blk];
            }
            *(int4 *)&sa[r * MM_PITCH + blk * 32 + (piece & 1) * 16] = v;
            if ((piece & 1) == 0)
                sad[r * MM_KC + blk] = sc;
        }
        /* weights: 32 rows x kc blocks, 17 halves per block (d then 16 x 2 quants) */
        for (int p = tid; p < MM_BN * MM_KC * 16; p += 256) {
            int r = p / (MM_KC * 16), rem = p % (MM_KC * 16), blk = rem >> 4, h = rem & 15;
            uint16_t v = 0;
            int n = n0 + r;
            const block_q8_0 *b = w + (size_t)n * nb + kb + blk;
            if (n < wrows && blk < kc) {
                v = ((const uint16_t *)b->q)[h];
                if (h == 0)
                    swd[r * MM_KC + blk] = f16_to_f32_dev(b->d);
            } else if (h == 0) {
                swd[r * MM_KC + blk] = 0.0f;
            }
            *(uint16_t *)&sw[r * MM_PITCH + blk * 32 + h * 2] = v;
        }
        __syncthreads();
        for (int j = 0; j < kc; j++) {
            int ra = warp * 16 + gid;
            const int8_t *pa = &sa[ra * MM_PITCH + j * 32 + tig * 4];
            uint32_t a0 = *(const uint32_t *)pa;
            uint32_t a1 = *(const uint32_t *)(pa + 8 * MM_PITCH);
            uint32_t a2 = *(const uint32_t *)(pa + 16);
            uint32_t a3 = *(const uint32_t *)(pa + 8 * MM_PITCH + 16);
            float ad0 = sad[ra * MM_KC + j], ad1 = sad[(ra + 8) * MM_KC + j];
#pragma unroll
            for (int s = 0; s < 4; s++) {
                const int8_t *pb = &sw[(s * 8 + gid) * MM_PITCH + j * 32 + tig * 4];
                int d[4];
                mma_s8(d, a0, a1, a2, a3, *(const uint32_t *)pb, *(const uint32_t *)(pb + 16));
                /* d[0],d[1]: row gid, cols 2*tig, 2*tig+1; d[2],d[3]: row gid+8 */
                float wd0 = swd[(s * 8 + 2 * tig) * MM_KC + j];
                float wd1 = swd[(s * 8 + 2 * tig + 1) * MM_KC + j];
                acc[s][0] = acc[s][0] + (float)d[0] * (wd0 * ad0);
                acc[s][1] = acc[s][1] + (float)d[1] * (wd1 * ad0);
                acc[s][2] = acc[s][2] + (float)d[2] * (wd0 * ad1);
                acc[s][3] = acc[s][3] + (float)d[3] * (wd1 * ad1);
            }
        }
    }
    int ta = t0 + warp * 16 + gid;
#pragma unroll
    for (int s = 0; s < 4; s++) {
        int n = n0 + s * 8 + 2 * tig;
#pragma unroll
        for (int i = 0; i < 4; i++) {
            int lt = ta + (i >= 2 ? 8 : 0), nn = n + (i & 1);
            if (lt < count && nn < wrows)
                y[(size_t)(base + lt) * ldy + nn] = acc[s][i];
        }
    }
}

extern "C" int cuk_q8_matmul(cuda_ctx *c, cuk_mm_kind kind, const block_q8_0 *d_w, int wrows,
                             int cols, const int8_t *d_aq, const float *d_ad, int arows, float *d_y,
                             int ldy)
{
    int nb = cols / 32;
    if (wrows <= 0 || arows <= 0)
        return 0;
    if (kind == CUK_MM_DP4A) {
        dim3 grid((unsigned)((wrows + 127) / 128), (unsigned)arows);
        k_matmul_dp4a<<<grid, 128, 0, c->stream>>>(d_w, 0, wrows, nb, d_aq, d_ad, arows, NULL, NULL,
                                                   d_y, ldy);
    } else {
        dim3 grid((unsigned)((wrows + MM_BN - 1) / MM_BN), (unsigned)((arows + MM_BT - 1) / MM_BT),
                  1);
        k_matmul_mma<<<grid, 256, 0, c->stream>>>(d_w, 0, wrows, nb, d_aq, d_ad, arows, NULL, NULL,
                                                  d_y, ldy);
    }
    return launch_status();
}

extern "C" int cuk_q8_matmul_grouped(cuda_ctx *c, cuk_mm_kind kind, const block_q8_0 *d_w,
                                     int wrows, int cols, int groups, const int32_t *d_off,
                                     const int32_t *d_rows, int max_rows, const int8_t *d_aq,
                                     const float *d_ad, float *d_y, int ldy)
{
    int nb = cols / 32;
    if (wrows <= 0 || groups <= 0 || max_rows <= 0)
        return 0;
    size_t wstride = (size_t)wrows * (size_t)nb;
    if (kind == CUK_MM_DP4A) {
        dim3 grid((unsigned)((wrows + 127) / 128), (unsigned)max_rows, (unsigned)groups);
        k_matmul_dp4a<<<grid, 128, 0, c->stream>>>(d_w, wstride, wrows, nb, d_aq, d_ad, 0, d_off,
                                                   d_rows, d_y, ldy);
    } else {
        dim3 grid((unsigned)((wrows + MM_BN - 1) / MM_BN),
                  (unsigned)((max_rows + MM_BT - 1) / MM_BT), (unsigned)groups);
        k_matmul_mma<<<grid, 256, 0, c->stream>>>(d_w, wstride, wrows, nb, d_aq, d_ad, 0, d_off,
                                                  d_rows, d_y, ldy);
    }
    return launch_status();
}
