/*
 * Keccak-f[1600] on 25 64-bit lanes, written from the specification (FIPS 202 §3.2, with
 * Keccak's own padding). The state is kept as native uint64_t lanes; bytes are absorbed
 * little-endian, which the lane loads below do explicitly so the code is endian-neutral.
 */
#include "oracle/keccak.h"

#include <string.h>

static const uint64_t round_constants[24] = {
    0x0000000000000001ULL, 0x0000000000008082ULL, 0x800000000000808aULL, 0x8000000080008000ULL,
    0x000000000000808bULL, 0x0000000080000001ULL, 0x8000000080008081ULL, 0x8000000000008009ULL,
    0x000000000000008aULL, 0x0000000000000088ULL, 0x0000000080008009ULL, 0x000000008000000aULL,
    0x000000008000808bULL, 0x800000000000008bULL, 0x8000000000008089ULL, 0x8000000000008003ULL,
    0x8000000000008002ULL, 0x8000000000000080ULL, 0x000000000000800aULL, 0x800000008000000aULL,
    0x8000000080008081ULL, 0x8000000000008080ULL, 0x0000000080000001ULL, 0x8000000080008008ULL,
};

static inline uint64_t rotl64(uint64_t v, unsigned n)
{
    return (v << (n & 63)) | (v >> ((64 - n) & 63));
}

/* One round on the lanes a[0..24] (index x + 5y), unrolled: theta, rho and pi into b,
 * then chi back into a. Generated from the rotation table and the pi map (x,y)->(y,2x+3y). */
#define KECCAK_ROUND(a, b, rc)                                                                     \
    do {                                                                                           \
        uint64_t c0 = a[0] ^ a[5] ^ a[10] ^ a[15] ^ a[20];                                         \
        uint64_t c1 = a[1] ^ a[6] ^ a[11] ^ a[16] ^ a[21];                                         \
        uint64_t c2 = a[2] ^ a[7] ^ a[12] ^ a[17] ^ a[22];                                         \
        uint64_t c3 = a[3] ^ a[8] ^ a[13] ^ a[18] ^ a[23];                                         \
        uint64_t c4 = a[4] ^ a[9] ^ a[14] ^ a[19] ^ a[24];                                         \
        uint64_t d0 = c4 ^ rotl64(c1, 1);                                                          \
        uint64_t d1 = c0 ^ rotl64(c2, 1);                                                          \
        uint64_t d2 = c1 ^ rotl64(c3, 1);                                                          \
        uint64_t d3 = c2 ^ rotl64(c4, 1);                                                          \
        uint64_t d4 = c3 ^ rotl64(c0, 1);                                                          \
        b[0] = rotl64(a[0] ^ d0, 0);                                                               \
        b[10] = rotl64(a[1] ^ d1, 1);                                                              \
        b[20] = rotl64(a[2] ^ d2, 62);                                                             \
        b[5] = rotl64(a[3] ^ d3, 28);                                                              \
        b[15] = rotl64(a[4] ^ d4, 27);                                                             \
        b[16] = rotl64(a[5] ^ d0, 36);                                                             \
        b[1] = rotl64(a[6] ^ d1, 44);                                                              \
        b[11] = rotl64(a[7] ^ d2, 6);                                                              \
        b[21] = rotl64(a[8] ^ d3, 55);                                                             \
        b[6] = rotl64(a[9] ^ d4, 20);                                                              \
        b[7] = rotl64(a[10] ^ d0, 3);                                                              \
        b[17] = rotl64(a[11] ^ d1, 10);                                                            \
        b[2] = rotl64(a[12] ^ d2, 43);                                                             \
        b[12] = rotl64(a[13] ^ d3, 25);                                                            \
        b[22] = rotl64(a[14] ^ d4, 39);                                                            \
        b[23] = rotl64(a[15] ^ d0, 41);                                                            \
        b[8] = rotl64(a[16] ^ d1, 45);                                                             \
        b[18] = rotl64(a[17] ^ d2, 15);                                                            \
        b[3] = rotl64(a[18] ^ d3, 21);                                                             \
        b[13] = rotl64(a[19] ^ d4, 8);                                                             \
        b[14] = rotl64(a[20] ^ d0, 18);                                                            \
        b[24] = rotl64(a[21] ^ d1, 2);                                                             \
        b[9] = rotl64(a[22] ^ d2, 61);                                                             \
        b[19] = rotl64(a[23] ^ d3, 56);                                                            \
        b[4] = rotl64(a[24] ^ d4, 14);                                                             \
        a[0] = b[0] ^ (~b[1] & b[2]);                                                              \
        a[1] = b[1] ^ (~b[2] & b[3]);                                                              \
        a[2] = b[2] ^ (~b[3] & b[4]);                                                              \
        a[3] = b[3] ^ (~b[4] & b[0]);                                                              \
        a[4] = b[4] ^ (~b[0] & b[1]);                                                              \
        a[5] = b[5] ^ (~b[6] & b[7]);                                                              \
        a[6] = b[6] ^ (~b[7] & b[8]);                                                              \
        a[7] = b[7] ^ (~b[8] & b[9]);                                                              \
        a[8] = b[8] ^ (~b[9] & b[5]);                                                              \
        a[9] = b[9] ^ (~b[5] & b[6]);                                                              \
        a[10] = b[10] ^ (~b[11] & b[12]);                                                          \
        a[11] = b[11] ^ (~b[12] & b[13]);                                                          \
        a[12] = b[12] ^ (~b[13] & b[14]);                                                          \
        a[13] = b[13] ^ (~b[14] & b[10]);                                                          \
        a[14] = b[14] ^ (~b[10] & b[11]);                                                          \
        a[15] = b[15] ^ (~b[16] & b[17]);                                                          \
        a[16] = b[16] ^ (~b[17] & b[18]);                                                          \
        a[17] = b[17] ^ (~b[18] & b[19]);                                                          \
        a[18] = b[18] ^ (~b[19] & b[15]);                                                          \
        a[19] = b[19] ^ (~b[15] & b[16]);                                                          \
        a[20] = b[20] ^ (~b[21] & b[22]);                                                          \
        a[21] = b[21] ^ (~b[22] & b[23]);                                                          \
        a[22] = b[22] ^ (~b[23] & b[24]);                                                          \
        a[23] = b[23] ^ (~b[24] & b[20]);                                                          \
        a[24] = b[24] ^ (~b[20] & b[21]);                                                          \
        a[0] ^= (rc);                                                                              \
    } while (0)

static void keccak_f1600(uint64_t a[25])
{
    uint64_t b[25];
    for (int round = 0; round < 24; round++)
        KECCAK_ROUND(a, b, round_constants[round]);
}

static inline uint64_t load_le64(const uint8_t *p)
{
    return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24 |
           (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 | (uint64_t)p[6] << 48 |
           (uint64_t)p[7] << 56;
}

static void absorb_block(uint64_t lanes[25], const uint8_t block[KECCAK256_RATE])
{
    for (int i = 0; i < KECCAK256_RATE / 8; i++)
        lanes[i] ^= load_le64(block + 8 * i);
    keccak_f1600(lanes);
}

void keccak256_init(keccak256_ctx *ctx)
{
    memset(ctx, 0, sizeof *ctx);
}

void keccak256_update(keccak256_ctx *ctx, const void *data, size_t len)
{
    const uint8_t *p = data;
    if (ctx->n_pending) {
        size_t take = KECCAK256_RATE - ctx->n_pending;
        if (take > len)
            take = len;
        memcpy(ctx->pending + ctx->n_pending, p, take);
        ctx->n_pending += take;
        p += take;
        len -= take;
        if (ctx->n_pending < KECCAK256_RATE)
            return;
        absorb_block(ctx->lanes, ctx->pending);
        ctx->n_pending = 0;
    }
    for (; len >= KECCAK256_RATE; p += KECCAK256_RATE, len -= KECCAK256_RATE)
        absorb_block(ctx->lanes, p);
    if (len) {
        memcpy(ctx->pending, p, len);
        ctx->n_pending = len;
    }
}

void keccak256_final(keccak256_ctx *ctx, uint8_t out[KECCAK256_SIZE])
{
    /* pad10*1 with Keccak's domain byte 0x01; both ends may fall in the same byte (0x81) */
    memset(ctx->pending + ctx->n_pending, 0, KECCAK256_RATE - ctx->n_pending);
    ctx->pending[ctx->n_pending] ^= 0x01;
    ctx->pending[KECCAK256_RATE - 1] ^= 0x80;
    absorb_block(ctx->lanes, ctx->pending);
    for (int i = 0; i < KECCAK256_SIZE / 8; i++)
        for (int b = 0; b < 8; b++)
            out[8 * i + b] = (uint8_t)(ctx->lanes[i] >> (8 * b));
    explicit_bzero(ctx, sizeof *ctx);
}

void keccak256(const void *data, size_t len, uint8_t out[KECCAK256_SIZE])
{
    keccak256_ctx ctx;
    keccak256_init(&ctx);
    if (len)
        keccak256_update(&ctx, data, len);
    keccak256_final(&ctx, out);
}
