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
    return n ? (v << n) | (v >> (64 - n)) : v;
}

/* The rho offsets and the pi permutation, as the walk of lane (1,0) through all 24 others:
 * pi_order[i] is the lane that receives the previous lane rotated by rho_offsets[i]. */
static const unsigned rho_offsets[24] = {1,  3,  6,  10, 15, 21, 28, 36, 45, 55, 2,  14,
                                         27, 41, 56, 8,  25, 43, 62, 18, 39, 61, 20, 44};
static const unsigned pi_order[24] = {10, 7,  11, 17, 18, 3, 5,  16, 8,  21, 24, 4,
                                      15, 23, 19, 13, 12, 2, 20, 14, 22, 9,  6,  1};

static void keccak_f1600(uint64_t a[25])
{
    for (int round = 0; round < 24; round++) {
        /* theta: every lane gets the parity of two neighbouring columns */
        uint64_t c[5], d;
        for (int x = 0; x < 5; x++)
            c[x] = a[x] ^ a[x + 5] ^ a[x + 10] ^ a[x + 15] ^ a[x + 20];
        for (int x = 0; x < 5; x++) {
            d = c[(x + 4) % 5] ^ rotl64(c[(x + 1) % 5], 1);
            for (int y = 0; y < 25; y += 5)
                a[y + x] ^= d;
        }
        /* rho and pi together */
        uint64_t carry = a[1];
        for (int i = 0; i < 24; i++) {
            unsigned j = pi_order[i];
            uint64_t t = a[j];
            a[j] = rotl64(carry, rho_offsets[i]);
            carry = t;
        }
        /* chi: the only non-linear step, row by row */
        for (int y = 0; y < 25; y += 5) {
            uint64_t r0 = a[y], r1 = a[y + 1], r2 = a[y + 2], r3 = a[y + 3], r4 = a[y + 4];
            a[y] = r0 ^ (~r1 & r2);
            a[y + 1] = r1 ^ (~r2 & r3);
            a[y + 2] = r2 ^ (~r3 & r4);
            a[y + 3] = r3 ^ (~r4 & r0);
            a[y + 4] = r4 ^ (~r0 & r1);
        }
        /* iota */
        a[0] ^= round_constants[round];
    }
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
