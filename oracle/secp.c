#include "oracle/secp.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include <secp256k1_recovery.h>

#include "oracle/hex.h"
#include "oracle/keccak.h"

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static int os_random(uint8_t *p, size_t n, char *err, size_t errlen)
{
    while (n) {
        ssize_t got = getrandom(p, n, 0);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            return fail(err, errlen, "getrandom: %s", strerror(errno));
        }
        p += got;
        n -= (size_t)got;
    }
    return 0;
}

secp256k1_context *secp_context_create(char *err, size_t errlen)
{
    secp256k1_context *ctx = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
    if (!ctx) {
        fail(err, errlen, "secp256k1_context_create failed");
        return NULL;
    }
    uint8_t seed[32];
    if (os_random(seed, sizeof seed, err, errlen) < 0 || !secp256k1_context_randomize(ctx, seed)) {
        if (err && errlen && !err[0])
            fail(err, errlen, "secp256k1_context_randomize failed");
        explicit_bzero(seed, sizeof seed);
        secp256k1_context_destroy(ctx);
        return NULL;
    }
    explicit_bzero(seed, sizeof seed);
    return ctx;
}

void secp_context_destroy(secp256k1_context *ctx)
{
    if (ctx)
        secp256k1_context_destroy(ctx);
}

int secp_key_check(const secp256k1_context *ctx, const uint8_t key[32], char *err, size_t errlen)
{
    if (!secp256k1_ec_seckey_verify(ctx, key))
        return fail(err, errlen, "invalid private key (zero or not below the curve order)");
    return 0;
}

int secp_key_generate(const secp256k1_context *ctx, uint8_t key[32], char *err, size_t errlen)
{
    /* rejection sampling: a random 256-bit value is invalid with probability ~2^-128 */
    for (int tries = 0; tries < 64; tries++) {
        if (os_random(key, 32, err, errlen) < 0)
            return -1;
        if (secp256k1_ec_seckey_verify(ctx, key))
            return 0;
    }
    explicit_bzero(key, 32);
    return fail(err, errlen, "could not draw a valid private key");
}

static void pubkey_address(const secp256k1_context *ctx, const secp256k1_pubkey *pub,
                           uint8_t addr[20])
{
    uint8_t ser[65], h[32];
    size_t n = sizeof ser;
    secp256k1_ec_pubkey_serialize(ctx, ser, &n, pub, SECP256K1_EC_UNCOMPRESSED);
    keccak256(ser + 1, 64, h); /* skip the 0x04 prefix */
    memcpy(addr, h + 12, 20);
}

int secp_key_address(const secp256k1_context *ctx, const uint8_t key[32], uint8_t addr[20],
                     char *err, size_t errlen)
{
    secp256k1_pubkey pub;
    if (!secp256k1_ec_pubkey_create(ctx, &pub, key))
        return fail(err, errlen, "invalid private key (zero or not below the curve order)");
    pubkey_address(ctx, &pub, addr);
    return 0;
}

int secp_sign(const secp256k1_context *ctx, const uint8_t key[32], const uint8_t hash[32],
              uint8_t sig[65], char *err, size_t errlen)
{
    secp256k1_ecdsa_recoverable_signature rs;
    int recid = 0;
    /* NULL nonce function = RFC 6979 with HMAC-SHA256; the result always has low s */
    if (!secp256k1_ecdsa_sign_recoverable(ctx, &rs, hash, key, NULL, NULL))
        return fail(err, errlen, "signing failed: invalid private key");
    secp256k1_ecdsa_recoverable_signature_serialize_compact(ctx, sig, &recid, &rs);
    sig[64] = (uint8_t)(27 + recid);
    return 0;
}

int secp_recover(const secp256k1_context *ctx, const uint8_t hash[32], const uint8_t sig[65],
                 uint8_t addr[20], char *err, size_t errlen)
{
    int v = sig[64];
    int recid = v >= 27 ? v - 27 : v;
    if (recid != 0 && recid != 1)
        return fail(err, errlen, "signature has invalid v = %d (27 or 28 expected)", v);
    /* low s: s <= n/2, checked through the normalize function on the plain signature */
    secp256k1_ecdsa_signature plain;
    if (!secp256k1_ecdsa_signature_parse_compact(ctx, &plain, sig))
        return fail(err, errlen, "signature r or s is not below the curve order");
    if (secp256k1_ecdsa_signature_normalize(ctx, NULL, &plain))
        return fail(err, errlen, "signature has a high s value (malleable form refused)");
    secp256k1_ecdsa_recoverable_signature rs;
    if (!secp256k1_ecdsa_recoverable_signature_parse_compact(ctx, &rs, sig, recid))
        return fail(err, errlen, "signature r or s is not below the curve order");
    secp256k1_pubkey pub;
    if (!secp256k1_ecdsa_recover(ctx, &pub, &rs, hash))
        return fail(err, errlen, "signature does not recover to a public key");
    pubkey_address(ctx, &pub, addr);
    return 0;
}

void eth_address_checksum(const uint8_t addr[20], char out[43])
{
    char lower[43];
    uint8_t h[32];
    hex_encode(lower, addr, 20);
    keccak256(lower + 2, 40, h);
    out[0] = '0';
    out[1] = 'x';
    for (int i = 0; i < 40; i++) {
        char c = lower[2 + i];
        int nibble = (i % 2) ? (h[i / 2] & 15) : (h[i / 2] >> 4);
        out[2 + i] = (c >= 'a' && nibble >= 8) ? (char)(c - 'a' + 'A') : c;
    }
    out[42] = '\0';
}

int eth_address_parse(const char *s, uint8_t addr[20], char *err, size_t errlen)
{
    char e[128];
    if (hex_decode_exact(s, addr, 20, e, sizeof e) < 0)
        return fail(err, errlen, "invalid address \"%.60s\": %s", s ? s : "", e);
    int upper = 0, lower = 0;
    for (int i = 2; i < 42; i++) {
        upper |= s[i] >= 'A' && s[i] <= 'F';
        lower |= s[i] >= 'a' && s[i] <= 'f';
    }
    if (upper && lower) {
        char want[43];
        eth_address_checksum(addr, want);
        if (strcmp(want + 2, s + 2))
            return fail(err, errlen, "address %s has a wrong EIP-55 checksum (expected %s)", s,
                        want);
    }
    return 0;
}
