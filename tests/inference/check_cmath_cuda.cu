/*
 * check_cmath_cuda: runs inference/cmath.h and inference/philox.h on the GPU and checks that
 * every output bit equals the host's (and that the device reproduces test_cmath's frozen hash
 * and Random123's known answers). Needs a GPU; prints "PASS" and exits 0 when all agree.
 * Build: nvcc -O2 -fmad=false -prec-div=true -prec-sqrt=true -ftz=false -I. -arch=sm_90 \
 *        tests/inference/check_cmath_cuda.cu -o check_cmath_cuda
 */
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

#include <cuda_runtime.h>

#include "inference/cmath.h"
#include "inference/philox.h"

#define N_GRID 65536
#define N_RUN 8192
#define N_PHILOX (1 << 20)

static const uint64_t FROZEN = 0x9b29375e7ee1fcbdull; /* tests/inference/test_cmath.c */

__global__ void grid_kernel(const float *in, uint32_t *out)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= N_GRID)
        return;
    const float xe = in[0 * N_GRID + i], xl = in[1 * N_GRID + i], xt = in[2 * N_GRID + i];
    const float xs = in[3 * N_GRID + i], u = in[4 * N_GRID + i], xr = in[5 * N_GRID + i];
    uint32_t *o = out + (size_t)i * 8;
    o[0] = __float_as_uint(cm_expf(xe));
    o[1] = __float_as_uint(cm_logf(xl));
    o[2] = __float_as_uint(cm_tanhf(xt));
    o[3] = __float_as_uint(cm_sinf(xs));
    o[4] = __float_as_uint(cm_cosf(xs));
    o[5] = __float_as_uint(cm_sinf(u));
    o[6] = __float_as_uint(cm_cosf(u * 4.0f));
    o[7] = (uint32_t)cm_round_half_away(xr);
}

__global__ void run_kernel(uint32_t *out)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= N_RUN)
        return;
    float x = __uint_as_float(0x3f7ff000u + (uint32_t)i);
    uint32_t *o = out + (size_t)i * 5;
    o[0] = __float_as_uint(cm_expf(x));
    o[1] = __float_as_uint(cm_logf(x));
    o[2] = __float_as_uint(cm_tanhf(x));
    o[3] = __float_as_uint(cm_sinf(x));
    o[4] = __float_as_uint(cm_cosf(x));
}

/* Every float bit pattern with a stride, through all five functions (dense device check). */
__global__ void sweep_kernel(uint32_t start, uint32_t stride, uint32_t n, uint32_t *out)
{
    uint32_t i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    float x = __uint_as_float(start + i * stride);
    uint32_t *o = out + (size_t)i * 5;
    o[0] = __float_as_uint(cm_expf(x));
    o[1] = __float_as_uint(cm_logf(x));
    o[2] = __float_as_uint(cm_tanhf(x));
    o[3] = __float_as_uint(cm_sinf(x));
    o[4] = __float_as_uint(cm_cosf(x));
}

__global__ void philox_kernel(uint64_t seed, uint32_t *out, uint32_t *kat)
{
    uint32_t i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < N_PHILOX)
        out[i] = philox_word(seed, i >> 12, (i >> 8) & 15, i & 255, i % 3);
    if (i == 0) {
        const uint32_t c[4] = {0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u};
        const uint32_t k[2] = {0xa4093822u, 0x299f31d0u};
        philox4x32_10(c, k, kat);
    }
}

static uint32_t bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static uint64_t fnv1a(uint64_t h, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        h ^= (v >> (8 * i)) & 0xffu;
        h *= 0x100000001b3ull;
    }
    return h;
}

#define CK(x)                                                                                  \
    do {                                                                                       \
        cudaError_t e_ = (x);                                                                  \
        if (e_ != cudaSuccess) {                                                               \
            fprintf(stderr, "%s: %s\n", #x, cudaGetErrorString(e_));                           \
            return 1;                                                                          \
        }                                                                                      \
    } while (0)

int main()
{
    int ndev = 0;
    if (cudaGetDeviceCount(&ndev) != cudaSuccess || ndev == 0) {
        fprintf(stderr, "check_cmath_cuda: no CUDA device\n");
        return 77;
    }
    /* the grid of test_cmath.c's frozen hash */
    std::vector<float> in(6 * N_GRID);
    uint32_t s = 12345u;
    for (int i = 0; i < N_GRID; i++) {
        s = s * 1664525u + 1013904223u;
        float u = (float)(s >> 8) * 0x1p-24f;
        in[0 * N_GRID + i] = (u - 0.5f) * 200.0f;
        in[1 * N_GRID + i] = from_bits(s & 0x7f7fffffu);
        in[2 * N_GRID + i] = (u - 0.5f) * 24.0f;
        in[3 * N_GRID + i] = (u - 0.5f) * 8.0e5f;
        in[4 * N_GRID + i] = u;
        in[5 * N_GRID + i] = (u - 0.5f) * 300.0f;
    }
    float *d_in;
    uint32_t *d_out, *d_run, *d_sweep, *d_ph, *d_kat;
    const uint32_t sweep_n = 1u << 22, sweep_stride = 1021; /* 4M inputs over all bit patterns */
    CK(cudaMalloc(&d_in, in.size() * 4));
    CK(cudaMalloc(&d_out, (size_t)N_GRID * 8 * 4));
    CK(cudaMalloc(&d_run, (size_t)N_RUN * 5 * 4));
    CK(cudaMalloc(&d_sweep, (size_t)sweep_n * 5 * 4));
    CK(cudaMalloc(&d_ph, (size_t)N_PHILOX * 4));
    CK(cudaMalloc(&d_kat, 16));
    CK(cudaMemcpy(d_in, in.data(), in.size() * 4, cudaMemcpyHostToDevice));
    grid_kernel<<<N_GRID / 256, 256>>>(d_in, d_out);
    run_kernel<<<N_RUN / 256, 256>>>(d_run);
    sweep_kernel<<<sweep_n / 256, 256>>>(7, sweep_stride, sweep_n, d_sweep);
    philox_kernel<<<N_PHILOX / 256, 256>>>(0x0123456789abcdefull, d_ph, d_kat);
    CK(cudaGetLastError());
    CK(cudaDeviceSynchronize());
    std::vector<uint32_t> out((size_t)N_GRID * 8), run((size_t)N_RUN * 5),
        sweep((size_t)sweep_n * 5), ph(N_PHILOX), kat(4);
    CK(cudaMemcpy(out.data(), d_out, out.size() * 4, cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(run.data(), d_run, run.size() * 4, cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(sweep.data(), d_sweep, sweep.size() * 4, cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(ph.data(), d_ph, ph.size() * 4, cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(kat.data(), d_kat, 16, cudaMemcpyDeviceToHost));

    long mismatches = 0;
    uint64_t h = 0xcbf29ce484222325ull;
    for (int i = 0; i < N_GRID; i++) {
        const float xe = in[i], xl = in[N_GRID + i], xt = in[2 * N_GRID + i];
        const float xs = in[3 * N_GRID + i], u = in[4 * N_GRID + i], xr = in[5 * N_GRID + i];
        uint32_t want[8] = {bits(cm_expf(xe)),    bits(cm_logf(xl)),        bits(cm_tanhf(xt)),
                            bits(cm_sinf(xs)),    bits(cm_cosf(xs)),        bits(cm_sinf(u)),
                            bits(cm_cosf(u * 4.0f)), (uint32_t)cm_round_half_away(xr)};
        for (int k = 0; k < 8; k++) {
            h = fnv1a(h, out[(size_t)i * 8 + k]);
            if (out[(size_t)i * 8 + k] != want[k] && mismatches++ < 10)
                printf("grid mismatch i=%d fn=%d device %08x host %08x\n", i, k,
                       out[(size_t)i * 8 + k], want[k]);
        }
    }
    for (int i = 0; i < N_RUN; i++)
        for (int k = 0; k < 5; k++)
            h = fnv1a(h, run[(size_t)i * 5 + k]);
    printf("device frozen hash 0x%016llx (want 0x%016llx)\n", (unsigned long long)h,
           (unsigned long long)FROZEN);
    if (h != FROZEN)
        mismatches++;
    for (uint32_t i = 0; i < sweep_n; i++) {
        float x = from_bits(7 + i * sweep_stride);
        uint32_t want[5] = {bits(cm_expf(x)), bits(cm_logf(x)), bits(cm_tanhf(x)),
                            bits(cm_sinf(x)), bits(cm_cosf(x))};
        for (int k = 0; k < 5; k++)
            if (sweep[(size_t)i * 5 + k] != want[k] && mismatches++ < 20)
                printf("sweep mismatch x=%a fn=%d device %08x host %08x\n", x, k,
                       sweep[(size_t)i * 5 + k], want[k]);
    }
    for (uint32_t i = 0; i < N_PHILOX; i++)
        if (ph[i] != philox_word(0x0123456789abcdefull, i >> 12, (i >> 8) & 15, i & 255, i % 3) &&
            mismatches++ < 30)
            printf("philox mismatch at %u\n", i);
    const uint32_t kat_want[4] = {0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u};
    for (int k = 0; k < 4; k++)
        if (kat[k] != kat_want[k])
            mismatches++;
    printf("checked %d grid x 8, %d run x 5, %u sweep x 5 float outputs, %d philox words: %ld "
           "mismatches\n",
           N_GRID, N_RUN, sweep_n, N_PHILOX, mismatches);
    printf(mismatches ? "FAIL\n" : "PASS\n");
    return mismatches ? 1 : 0;
}
