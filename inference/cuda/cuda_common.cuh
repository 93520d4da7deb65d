/*
 * Device helpers shared by the CUDA kernels: the A1 8-lane reduction, A3 rounding, f16
 * conversion, Philox (A10) and error plumbing. Compiled with -fmad=false -prec-div=true
 * -prec-sqrt=true -ftz=false (inference/cuda/CMakeLists.txt), so `a*b + c` below is two
 * correctly rounded operations, exactly as in C with -ffp-contract=off.
 */
#ifndef SIBYL_INFERENCE_CUDA_COMMON_CUH
#define SIBYL_INFERENCE_CUDA_COMMON_CUH

#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <stdint.h>
#include <stdio.h>

#include "inference/cmath.h"
#include "inference/cuda_backend.h"
#include "inference/philox.h"

#define CUDA_MAX_MARKS 8192
struct cuda_ctx {
    int device;
    cudaStream_t stream;
    cudaEvent_t ev0, ev1;
    cudaEvent_t *marks; /* created on first use */
    unsigned char *mark_tag;
    int n_marks, n_created;
};

#define FULL_MASK 0xffffffffu

/* Launch error of the kernel just queued, as a negative return (the text is read by
 * cuda_sync / the caller through cudaGetLastError semantics). */
static inline int launch_status(void)
{
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) {
        fprintf(stderr, "cuda launch: %s\n", cudaGetErrorString(e));
        return -1;
    }
    return 0;
}

/* A1 combine step: lanes of an aligned group of 8 hold acc_0..acc_7; after xor 4, 2, 1 every
 * lane holds ((acc_0+acc_4) + (acc_2+acc_6)) + ((acc_1+acc_5) + (acc_3+acc_7)), which is the
 * documented a/b order (float addition is commutative, so both partners agree). All 32 lanes
 * of the warp must call it. */
__device__ __forceinline__ float g8_combine(float acc)
{
    acc = acc + __shfl_xor_sync(FULL_MASK, acc, 4, 8);
    acc = acc + __shfl_xor_sync(FULL_MASK, acc, 2, 8);
    acc = acc + __shfl_xor_sync(FULL_MASK, acc, 1, 8);
    return acc;
}

/* Lane l of a group: acc over x[l], x[l+8], ... sequentially from +0 (A1). */
__device__ __forceinline__ float g8_lane_sum(const float *x, int n, int l)
{
    float acc = 0.0f;
    for (int i = l; i < n; i += 8)
        acc = acc + x[i];
    return acc;
}
__device__ __forceinline__ float g8_lane_dot(const float *x, const float *y, int n, int l)
{
    float acc = 0.0f;
    for (int i = l; i < n; i += 8)
        acc = acc + x[i] * y[i];
    return acc;
}

/* A3/A4 rounding: sign(v) * (int)(|v| + 0.5f), clamped to [-127, 127]. */
__device__ __forceinline__ int round_half_away_clamp(float v)
{
    int32_t r = cm_round_half_away(v);
    return r > 127 ? 127 : (r < -127 ? -127 : r);
}

/* Exact f16 -> f32 and round-to-nearest-even f32 -> f16, by bits (no intrinsics needed). */
__device__ __forceinline__ float f16_to_f32_dev(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;
    uint32_t bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else { /* subnormal: normalise */
            int e = -1;
            do {
                man <<= 1;
                e++;
            } while ((man & 0x400u) == 0);
            bits = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ffu) << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (man << 13);
    } else {
        bits = sign | ((exp + 112u) << 23) | (man << 13);
    }
    return __uint_as_float(bits);
}
/* A10 randomness: the project's Philox (host and device). */
__device__ __forceinline__ uint32_t philox_w(uint64_t seed, uint32_t canvas, uint32_t step,
                                             uint32_t pos, uint32_t purpose)
{
    return philox_word(seed, canvas, step, pos, purpose);
}

#endif
