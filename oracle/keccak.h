/*
 * keccak: Keccak-256 as Ethereum uses it (the original Keccak padding 0x01, rate 136 bytes,
 * 32-byte output). This is NOT SHA3-256 (padding 0x06), which is what OpenSSL offers.
 *
 * keccak256() hashes one buffer; the keccak256_ctx functions hash a stream in pieces and give
 * the same result for any split of the same bytes.
 */
#ifndef SIBYL_ORACLE_KECCAK_H
#define SIBYL_ORACLE_KECCAK_H

#include <stddef.h>
#include <stdint.h>

#define KECCAK256_RATE 136 /* bytes absorbed per permutation */
#define KECCAK256_SIZE 32

typedef struct {
    uint64_t lanes[25];              /* the 1600-bit state, lane (x,y) at index x + 5y */
    uint8_t pending[KECCAK256_RATE]; /* bytes not yet absorbed */
    size_t n_pending;
} keccak256_ctx;

void keccak256_init(keccak256_ctx *ctx);
void keccak256_update(keccak256_ctx *ctx, const void *data, size_t len);
/* Writes the digest and wipes ctx (init it again to reuse). */
void keccak256_final(keccak256_ctx *ctx, uint8_t out[KECCAK256_SIZE]);

/* One-shot: out = keccak256(data[0..len)). data may be NULL when len is 0. */
void keccak256(const void *data, size_t len, uint8_t out[KECCAK256_SIZE]);

#endif
