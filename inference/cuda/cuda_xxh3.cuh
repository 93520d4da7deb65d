/*
 * XXH3-128 (xxHash 0.8 specification; default secret, seed 0) of a message of whole 32-bit
 * words, for the leaves of the GPU's logits hash (cuda_hash.cu, docs/arithmetic.md A9). The
 * words are read as little-endian memory, so hashing n words hashes the 4n bytes they occupy,
 * as libxxhash's XXH3_128bits would. Compiled for host and device: tests/cuda/test_cuda_xxh3.cu
 * checks it on the host against libxxhash for every length a leaf can have.
 *
 * Every read of XXH3 starts at a byte offset that is a multiple of 4 when the length is (its
 * reads start at 0, at multiples of 8 or 16, or at len - 4, 8, 16, 32 or 64), so the message
 * only needs 4-byte alignment: a 64-bit read is two 32-bit loads. Lengths of 1 to 3 bytes
 * (XXH3's 1-3 byte path) cannot occur and are not implemented.
 *
 * The long path (> 240 bytes) is written per accumulator lane: lane j (0..7) of the 8 64-bit
 * accumulators only ever reads the 8-byte words j and j ^ 1 of each 64-byte stripe and its
 * own secret words, so 8 threads can run the 8 lanes of one leaf side by side (coalesced
 * 64-byte stripe reads) and one of them merges the 8 results. The host runs the same lane
 * function 8 times in a row.
 */
#ifndef SIBYL_INFERENCE_CUDA_XXH3_CUH
#define SIBYL_INFERENCE_CUDA_XXH3_CUH

#include <stdint.h>

#define XXH_HD __host__ __device__ __forceinline__

#define XXH_P32_1 0x9E3779B1u
#define XXH_P32_2 0x85EBCA77u
#define XXH_P32_3 0xC2B2AE3Du
#define XXH_P64_1 0x9E3779B185EBCA87ull
#define XXH_P64_2 0xC2B2AE3D27D4EB4Full
#define XXH_P64_3 0x165667B19E3779F9ull
#define XXH_P64_4 0x85EBCA77C2B2AE63ull
#define XXH_P64_5 0x27D4EB2F165667C5ull

/* XXH3's default 192-byte secret, as 24 little-endian 64-bit words. */
#define XXH3_SECRET_WORDS                                                                          \
    {                                                                                              \
        0xbe4ba423396cfeb8ull, 0x1cad21f72c81017cull, 0xdb979083e96dd4deull,                       \
            0x1f67b3b7a4a44072ull, 0x78e5c0cc4ee679cbull, 0x2172ffcc7dd05a82ull,                   \
            0x8e2443f7744608b8ull, 0x4c263a81e69035e0ull, 0xcb00c391bb52283cull,                   \
            0xa32e531b8b65d088ull, 0x4ef90da297486471ull, 0xd8acdea946ef1938ull,                   \
            0x3f349ce33f76faa8ull, 0x1d4f0bc7c7bbdcf9ull, 0x3159b4cd4be0518aull,                   \
            0x647378d9c97e9fc8ull, 0xc3ebd33483acc5eaull, 0xeb6313faffa081c5ull,                   \
            0x49daf0b751dd0d17ull, 0x9e68d429265516d3ull, 0xfca1477d58be162bull,                   \
            0xce31d07ad1b8f88full, 0x280416958f3acb45ull, 0x7e404bbbcafbd7afull                    \
    }

static __constant__ const uint64_t xxh3_secret_dev[24] = XXH3_SECRET_WORDS;
static const uint64_t xxh3_secret_host[24] = XXH3_SECRET_WORDS;

/* The 8 secret bytes at byte offset off (0 <= off <= 184), little-endian. */
XXH_HD uint64_t xxh3_secret64(uint32_t off)
{
#ifdef __CUDA_ARCH__
    const uint64_t *s = xxh3_secret_dev;
#else
    const uint64_t *s = xxh3_secret_host;
#endif
    uint32_t w = off >> 3, b = (off & 7u) * 8u;
    return b ? (s[w] >> b) | (s[w + 1] << (64u - b)) : s[w];
}

/* The 8 message bytes starting at word i (little-endian). */
XXH_HD uint64_t xxh3_read64(const uint32_t *m, uint32_t i)
{
    return (uint64_t)m[i] | ((uint64_t)m[i + 1] << 32);
}

XXH_HD uint64_t xxh3_mul_hi(uint64_t a, uint64_t b)
{
#ifdef __CUDA_ARCH__
    return __umul64hi(a, b);
#else
    return (uint64_t)(((unsigned __int128)a * b) >> 64);
#endif
}

/* The 128-bit product of a and b folded to 64 bits (low half xor high half). */
XXH_HD uint64_t xxh3_mul_fold(uint64_t a, uint64_t b)
{
    return (a * b) ^ xxh3_mul_hi(a, b);
}

XXH_HD uint64_t xxh3_avalanche(uint64_t h)
{
    h ^= h >> 37;
    h *= 0x165667919E3779F9ull;
    return h ^ (h >> 32);
}

/* XXH64's avalanche (used by the empty message). */
XXH_HD uint64_t xxh64_avalanche(uint64_t h)
{
    h ^= h >> 33;
    h *= XXH_P64_2;
    h ^= h >> 29;
    h *= XXH_P64_3;
    return h ^ (h >> 32);
}

XXH_HD uint64_t xxh3_bswap64(uint64_t x)
{
    uint64_t r = 0;
    for (int i = 0; i < 8; i++)
        r = (r << 8) | ((x >> (8 * i)) & 0xffu);
    return r;
}

typedef struct {
    uint64_t lo, hi;
} xxh3_u128;

/* 16 message bytes at word i mixed with 16 secret bytes at byte offset s (seed 0). */
XXH_HD uint64_t xxh3_mix16(const uint32_t *m, uint32_t i, uint32_t s)
{
    return xxh3_mul_fold(xxh3_read64(m, i) ^ xxh3_secret64(s),
                         xxh3_read64(m, i + 2) ^ xxh3_secret64(s + 8));
}

/* 32 bytes: 16 at word i1 and 16 at word i2, secret at byte offset s (seed 0). */
XXH_HD void xxh3_mix32(xxh3_u128 *acc, const uint32_t *m, uint32_t i1, uint32_t i2, uint32_t s)
{
    acc->lo += xxh3_mix16(m, i1, s);
    acc->lo ^= xxh3_read64(m, i2) + xxh3_read64(m, i2 + 2);
    acc->hi += xxh3_mix16(m, i2, s + 16);
    acc->hi ^= xxh3_read64(m, i1) + xxh3_read64(m, i1 + 2);
}

XXH_HD xxh3_u128 xxh3_finish_mid(xxh3_u128 acc, uint64_t len)
{
    xxh3_u128 h;
    h.lo = xxh3_avalanche(acc.lo + acc.hi);
    h.hi = 0 - xxh3_avalanche(acc.lo * XXH_P64_1 + acc.hi * XXH_P64_4 + len * XXH_P64_2);
    return h;
}

/* Messages of 0 to 240 bytes (n_words <= 60): XXH3's 0, 4-8, 9-16, 17-128 and 129-240 byte
 * paths. */
XXH_HD xxh3_u128 xxh3_short(const uint32_t *m, uint32_t n_words)
{
    uint64_t len = 4ull * n_words;
    xxh3_u128 h;
    if (n_words == 0) {
        h.lo = xxh64_avalanche(xxh3_secret64(64) ^ xxh3_secret64(72));
        h.hi = xxh64_avalanche(xxh3_secret64(80) ^ xxh3_secret64(88));
        return h;
    }
    if (n_words <= 2) { /* 4 or 8 bytes */
        uint64_t in = (uint64_t)m[0] | ((uint64_t)m[n_words - 1] << 32);
        uint64_t keyed = in ^ (xxh3_secret64(16) ^ xxh3_secret64(24));
        uint64_t mul = XXH_P64_1 + (len << 2);
        h.lo = keyed * mul;
        h.hi = xxh3_mul_hi(keyed, mul);
        h.hi += h.lo << 1;
        h.lo ^= h.hi >> 3;
        h.lo ^= h.lo >> 35;
        h.lo *= 0x9FB21C651E98DF25ull;
        h.lo ^= h.lo >> 28;
        h.hi = xxh3_avalanche(h.hi);
        return h;
    }
    if (n_words <= 4) { /* 12 or 16 bytes */
        uint64_t flip_lo = xxh3_secret64(32) ^ xxh3_secret64(40);
        uint64_t flip_hi = xxh3_secret64(48) ^ xxh3_secret64(56);
        uint64_t in_lo = xxh3_read64(m, 0), in_hi = xxh3_read64(m, n_words - 2);
        uint64_t a = in_lo ^ in_hi ^ flip_lo;
        xxh3_u128 p;
        p.lo = a * XXH_P64_1;
        p.hi = xxh3_mul_hi(a, XXH_P64_1);
        p.lo += (len - 1) << 54;
        in_hi ^= flip_hi;
        p.hi += in_hi + (uint64_t)(uint32_t)in_hi * (XXH_P32_2 - 1u);
        p.lo ^= xxh3_bswap64(p.hi);
        h.lo = p.lo * XXH_P64_2;
        h.hi = xxh3_mul_hi(p.lo, XXH_P64_2) + p.hi * XXH_P64_2;
        h.lo = xxh3_avalanche(h.lo);
        h.hi = xxh3_avalanche(h.hi);
        return h;
    }
    xxh3_u128 acc;
    acc.lo = len * XXH_P64_1;
    acc.hi = 0;
    if (n_words <= 32) { /* 17 to 128 bytes: pairs from both ends inwards, outermost last */
        uint32_t w = n_words;
        if (w > 8) {
            if (w > 16) {
                if (w > 24)
                    xxh3_mix32(&acc, m, 12, w - 16, 96);
                xxh3_mix32(&acc, m, 8, w - 12, 64);
            }
            xxh3_mix32(&acc, m, 4, w - 8, 32);
        }
        xxh3_mix32(&acc, m, 0, w - 4, 0);
        return xxh3_finish_mid(acc, len);
    }
    /* 129 to 240 bytes */
    uint32_t rounds = n_words / 8;
    for (uint32_t i = 0; i < 4; i++)
        xxh3_mix32(&acc, m, 8 * i, 8 * i + 4, 32 * i);
    acc.lo = xxh3_avalanche(acc.lo);
    acc.hi = xxh3_avalanche(acc.hi);
    for (uint32_t i = 4; i < rounds; i++)
        xxh3_mix32(&acc, m, 8 * i, 8 * i + 4, 3 + 32 * (i - 4));
    xxh3_mix32(&acc, m, n_words - 4, n_words - 8, 136 - 17 - 16);
    return xxh3_finish_mid(acc, len);
}

/* The long path's initial accumulator j. */
XXH_HD uint64_t xxh3_init_acc(uint32_t j)
{
    switch (j) {
    case 0:
        return XXH_P32_3;
    case 1:
        return XXH_P64_1;
    case 2:
        return XXH_P64_2;
    case 3:
        return XXH_P64_3;
    case 4:
        return XXH_P64_4;
    case 5:
        return XXH_P32_2;
    case 6:
        return XXH_P64_5;
    default:
        return XXH_P32_1;
    }
}

/* One accumulator lane (0..7) of the long path (> 240 bytes, n_words > 60): the initial value,
 * every 64-byte stripe of every 1024-byte block (then the scramble), the stripes of the last
 * partial block and the final stripe at len - 64. Lane j adds the input word j ^ 1 and the
 * 32x32 product of the halves of (word j ^ secret). */
XXH_HD uint64_t xxh3_long_lane(const uint32_t *m, uint32_t n_words, int lane)
{
    uint32_t j = (uint32_t)lane, jp = j ^ 1u;
    uint64_t acc = xxh3_init_acc(j);
    uint64_t key[16];
    for (uint32_t s = 0; s < 16; s++)
        key[s] = xxh3_secret64(8 * (s + j));
    const uint64_t scramble = xxh3_secret64(128 + 8 * j);
    const uint32_t len = 4u * n_words;
    const uint32_t blocks = (len - 1) / 1024, tail_stripes = ((len - 1) % 1024) / 64;
    for (uint32_t b = 0; b < blocks; b++) {
        const uint32_t *blk = m + 256 * b;
#ifdef __CUDA_ARCH__
#pragma unroll
#endif
        for (uint32_t s = 0; s < 16; s++) {
            uint64_t k = xxh3_read64(blk, 16 * s + 2 * j) ^ key[s];
            acc += xxh3_read64(blk, 16 * s + 2 * jp) + (k & 0xffffffffu) * (k >> 32);
        }
        acc ^= acc >> 47;
        acc ^= scramble;
        acc *= XXH_P32_1;
    }
    const uint32_t *blk = m + 256 * blocks;
#ifdef __CUDA_ARCH__
#pragma unroll
#endif
    for (uint32_t s = 0; s < 16; s++) { /* (not s < tail_stripes: key[] stays in registers) */
        if (s >= tail_stripes)
            break;
        uint64_t k = xxh3_read64(blk, 16 * s + 2 * j) ^ key[s];
        acc += xxh3_read64(blk, 16 * s + 2 * jp) + (k & 0xffffffffu) * (k >> 32);
    }
    const uint32_t *last = m + n_words - 16;
    uint64_t k = xxh3_read64(last, 2 * j) ^ xxh3_secret64(192 - 64 - 7 + 8 * j);
    acc += xxh3_read64(last, 2 * jp) + (k & 0xffffffffu) * (k >> 32);
    return acc;
}

/* The long path's 128-bit result from the 8 lanes. */
XXH_HD xxh3_u128 xxh3_long_merge(const uint64_t acc[8], uint32_t n_words)
{
    uint64_t len = 4ull * n_words;
    uint64_t lo = len * XXH_P64_1, hi = ~(len * XXH_P64_2);
    for (uint32_t i = 0; i < 4; i++) {
        lo += xxh3_mul_fold(acc[2 * i] ^ xxh3_secret64(11 + 16 * i),
                            acc[2 * i + 1] ^ xxh3_secret64(19 + 16 * i));
        hi += xxh3_mul_fold(acc[2 * i] ^ xxh3_secret64(117 + 16 * i),
                            acc[2 * i + 1] ^ xxh3_secret64(125 + 16 * i));
    }
    xxh3_u128 h;
    h.lo = xxh3_avalanche(lo);
    h.hi = xxh3_avalanche(hi);
    return h;
}

/* The 16 digest bytes in xxHash's canonical form (XXH128_canonicalFromHash): high 64 bits
 * big-endian, then low 64 bits big-endian. */
XXH_HD void xxh3_canonical(xxh3_u128 h, uint8_t *out)
{
    for (int i = 0; i < 8; i++) {
        out[i] = (uint8_t)(h.hi >> (56 - 8 * i));
        out[8 + i] = (uint8_t)(h.lo >> (56 - 8 * i));
    }
}

/* XXH3-128 of n_words words in one thread (the host's way; tests). */
XXH_HD void xxh3_128_words(const uint32_t *m, uint32_t n_words, uint8_t out[16])
{
    if (n_words <= 60) {
        xxh3_canonical(xxh3_short(m, n_words), out);
        return;
    }
    uint64_t acc[8];
    for (int j = 0; j < 8; j++)
        acc[j] = xxh3_long_lane(m, n_words, j);
    xxh3_canonical(xxh3_long_merge(acc, n_words), out);
}

#endif
