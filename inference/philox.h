/*
 * Counter-based randomness of the arithmetic profile (docs/arithmetic.md A10).
 *
 * Philox4x32-10 (Salmon, Moraes, Dror, Shaw, "Parallel random numbers: as easy as 1, 2, 3",
 * SC'11) with the Random123 constants, header-only for the CPU and CUDA (host and device).
 * Integer operations only, so every platform gives the same words.
 *
 * A10: key = (seed low 32 bits, seed high 32 bits), counter = (canvas, step, position,
 * purpose), the value is output word 0. Uniform float u = (float)(x >> 8) * 2^-24 in [0, 1);
 * uniform id in [0, V) = ((uint64_t)x * V) >> 32.
 */
#ifndef SIBYL_INFERENCE_PHILOX_H
#define SIBYL_INFERENCE_PHILOX_H

#include <stdint.h>

#ifdef __CUDACC__
#define PHILOX_FN __host__ __device__ static inline
#else
#define PHILOX_FN static inline
#endif

#define PHILOX_M0 0xD2511F53u /* round multipliers */
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u /* key schedule increments (golden ratio, sqrt(3)-1) */
#define PHILOX_W1 0xBB67AE85u

/* A10 purposes (counter word 3). */
enum {
    PHILOX_PURPOSE_INIT_ID = 0,     /* initial canvas token id */
    PHILOX_PURPOSE_CATEGORICAL = 1, /* uniform for a categorical draw */
    PHILOX_PURPOSE_RENOISE_ID = 2,  /* re-noising token id */
};

/* One Philox round: two 32x32->64 products; the high halves are mixed with the other words
 * and the round key, the low halves pass through (Random123's word permutation). */
PHILOX_FN void philox4x32_round(uint32_t c[4], const uint32_t k[2])
{
    uint64_t p0 = (uint64_t)PHILOX_M0 * c[0];
    uint64_t p1 = (uint64_t)PHILOX_M1 * c[2];
    uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0;
    uint32_t hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
    uint32_t n0 = hi1 ^ c[1] ^ k[0];
    uint32_t n2 = hi0 ^ c[3] ^ k[1];
    c[0] = n0;
    c[1] = lo1;
    c[2] = n2;
    c[3] = lo0;
}

/* Philox4x32-10: ten rounds, the key bumped by (W0, W1) between consecutive rounds. */
PHILOX_FN void philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4])
{
    uint32_t c[4] = {ctr[0], ctr[1], ctr[2], ctr[3]};
    uint32_t k[2] = {key[0], key[1]};
    for (int r = 0; r < 10; r++) {
        if (r > 0) {
            k[0] += PHILOX_W0;
            k[1] += PHILOX_W1;
        }
        philox4x32_round(c, k);
    }
    out[0] = c[0];
    out[1] = c[1];
    out[2] = c[2];
    out[3] = c[3];
}

/* A10: the random word for (canvas, step, position, purpose) under the engine seed. */
PHILOX_FN uint32_t philox_word(uint64_t seed, uint32_t canvas, uint32_t step, uint32_t position,
                               uint32_t purpose)
{
    const uint32_t ctr[4] = {canvas, step, position, purpose};
    const uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    uint32_t out[4];
    philox4x32_10(ctr, key, out);
    return out[0];
}

/* A10: uniform float in [0, 1) with 24 random bits (exact: the integer fits the mantissa and
 * the scaling by 2^-24 is exact). */
PHILOX_FN float philox_uniform_from_word(uint32_t x)
{
    return (float)(x >> 8) * 0x1p-24f;
}

/* A10: uniform id in [0, n) by the multiply-shift map (n >= 1). */
PHILOX_FN uint32_t philox_id_from_word(uint32_t x, uint32_t n)
{
    return (uint32_t)(((uint64_t)x * n) >> 32);
}

PHILOX_FN float philox_uniform(uint64_t seed, uint32_t canvas, uint32_t step, uint32_t position,
                               uint32_t purpose)
{
    return philox_uniform_from_word(philox_word(seed, canvas, step, position, purpose));
}

PHILOX_FN uint32_t philox_uniform_id(uint64_t seed, uint32_t canvas, uint32_t step,
                                     uint32_t position, uint32_t purpose, uint32_t n)
{
    return philox_id_from_word(philox_word(seed, canvas, step, position, purpose), n);
}

#endif
