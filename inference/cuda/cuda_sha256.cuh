/*
 * SHA-256 over a stream of 32-bit words, for the GPU's logits hash (cuda_hash.cu). The words
 * are read as little-endian memory, so hashing n words hashes the 4n bytes they occupy, as
 * OpenSSL would. Compiled for host and device.
 */
#ifndef SIBYL_INFERENCE_CUDA_SHA256_CUH
#define SIBYL_INFERENCE_CUDA_SHA256_CUH

#include <stdint.h>

#define SHA_HD __host__ __device__ __forceinline__

/* Host and device alike (the host side lets tests/cuda/test_cuda_sha256.cu check the
 * algorithm against OpenSSL on a machine without a GPU). */
SHA_HD uint32_t sha_rotr(uint32_t x, int n)
{
    return (x >> n) | (x << (32 - n));
}

SHA_HD uint32_t sha_bswap32(uint32_t x)
{
#ifdef __CUDA_ARCH__
    return __byte_perm(x, 0, 0x0123);
#else
    return (x >> 24) | ((x >> 8) & 0xff00u) | ((x << 8) & 0xff0000u) | (x << 24);
#endif
}

/* One compression of a 16-word block (words already big-endian). */
SHA_HD void sha256_block(uint32_t h[8], const uint32_t blk[16])
{
    const uint32_t K[64] = {
        0x428a2f98u, 0x71374491u, 0xb5c0fbcfu, 0xe9b5dba5u, 0x3956c25bu, 0x59f111f1u, 0x923f82a4u,
        0xab1c5ed5u, 0xd807aa98u, 0x12835b01u, 0x243185beu, 0x550c7dc3u, 0x72be5d74u, 0x80deb1feu,
        0x9bdc06a7u, 0xc19bf174u, 0xe49b69c1u, 0xefbe4786u, 0x0fc19dc6u, 0x240ca1ccu, 0x2de92c6fu,
        0x4a7484aau, 0x5cb0a9dcu, 0x76f988dau, 0x983e5152u, 0xa831c66du, 0xb00327c8u, 0xbf597fc7u,
        0xc6e00bf3u, 0xd5a79147u, 0x06ca6351u, 0x14292967u, 0x27b70a85u, 0x2e1b2138u, 0x4d2c6dfcu,
        0x53380d13u, 0x650a7354u, 0x766a0abbu, 0x81c2c92eu, 0x92722c85u, 0xa2bfe8a1u, 0xa81a664bu,
        0xc24b8b70u, 0xc76c51a3u, 0xd192e819u, 0xd6990624u, 0xf40e3585u, 0x106aa070u, 0x19a4c116u,
        0x1e376c08u, 0x2748774cu, 0x34b0bcb5u, 0x391c0cb3u, 0x4ed8aa4au, 0x5b9cca4fu, 0x682e6ff3u,
        0x748f82eeu, 0x78a5636fu, 0x84c87814u, 0x8cc70208u, 0x90befffau, 0xa4506cebu, 0xbef9a3f7u,
        0xc67178f2u};
    uint32_t w[64];
    for (int i = 0; i < 16; i++)
        w[i] = blk[i];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = sha_rotr(w[i - 15], 7) ^ sha_rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = sha_rotr(w[i - 2], 17) ^ sha_rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
#ifdef __CUDA_ARCH__
#pragma unroll
#endif
    for (int i = 0; i < 64; i++) {
        uint32_t t1 = hh + (sha_rotr(e, 6) ^ sha_rotr(e, 11) ^ sha_rotr(e, 25)) +
                      ((e & f) ^ (~e & g)) + K[i] + w[i];
        uint32_t t2 =
            (sha_rotr(a, 2) ^ sha_rotr(a, 13) ^ sha_rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        hh = g;
        g = f;
        f = e;
        e = d + t1;
        d = c;
        c = b;
        b = a;
        a = t1 + t2;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
    h[5] += f;
    h[6] += g;
    h[7] += hh;
}

/* sha256 of n_words 32-bit words read from msg as little-endian memory (i.e. of the 4 * n_words
 * bytes at msg); digest written as 32 bytes at out. */
SHA_HD void sha256_words(const uint32_t *msg, uint32_t n_words, uint8_t *out)
{
    uint32_t h[8] = {0x6a09e667u, 0xbb67ae85u, 0x3c6ef372u, 0xa54ff53au,
                     0x510e527fu, 0x9b05688cu, 0x1f83d9abu, 0x5be0cd19u};
    uint32_t blk[16];
    uint32_t full = n_words / 16, i = 0;
    for (uint32_t b = 0; b < full; b++) {
        for (int k = 0; k < 16; k++)
            blk[k] = sha_bswap32(msg[i + k]);
        sha256_block(h, blk);
        i += 16;
    }
    /* the tail: rest words, the 0x80 byte, zeros, the bit length in the last two words */
    uint32_t rest = n_words - i;
    for (uint32_t k = 0; k < 16; k++)
        blk[k] = k < rest ? sha_bswap32(msg[i + k]) : 0u;
    blk[rest] = 0x80000000u;
    uint64_t bits = (uint64_t)n_words * 32u;
    if (rest >= 14) {
        sha256_block(h, blk);
        for (int k = 0; k < 16; k++)
            blk[k] = 0u;
    }
    blk[14] = (uint32_t)(bits >> 32);
    blk[15] = (uint32_t)bits;
    sha256_block(h, blk);
    for (int k = 0; k < 8; k++) {
        out[4 * k] = (uint8_t)(h[k] >> 24);
        out[4 * k + 1] = (uint8_t)(h[k] >> 16);
        out[4 * k + 2] = (uint8_t)(h[k] >> 8);
        out[4 * k + 3] = (uint8_t)h[k];
    }
}

#endif
