/*
 * secp: Ethereum keys and signatures on libsecp256k1.
 *
 * The caller creates one context with secp_context_create() (randomised against side
 * channels with OS randomness) and passes it to every call; there is no global context.
 * Signatures are recoverable ECDSA over a 32-byte hash, RFC 6979 deterministic nonces and
 * low s (libsecp256k1 always produces low s), in the 65-byte form r || s || v with
 * v = 27 + recovery id, which is what ecrecover, OpenZeppelin's ECDSA.recover and
 * `cast wallet sign` use.
 *
 * An address is keccak256(uncompressed public key X || Y)[12..32].
 * Functions return 0 on success and -1 with a message in err (errlen bytes; may be NULL).
 * Private keys never appear in messages.
 */
#ifndef SIBYL_ORACLE_SECP_H
#define SIBYL_ORACLE_SECP_H

#include <stddef.h>
#include <stdint.h>

#include <secp256k1.h>

/* Creates a signing/verifying context randomised with getrandom(). NULL on failure. */
secp256k1_context *secp_context_create(char *err, size_t errlen);
void secp_context_destroy(secp256k1_context *ctx);

/* 0 when key is a valid private key (1 <= key < n), else -1 with a message. */
int secp_key_check(const secp256k1_context *ctx, const uint8_t key[32], char *err, size_t errlen);
/* A fresh valid private key from the OS random source. */
int secp_key_generate(const secp256k1_context *ctx, uint8_t key[32], char *err, size_t errlen);
int secp_key_address(const secp256k1_context *ctx, const uint8_t key[32], uint8_t addr[20],
                     char *err, size_t errlen);

/* sig = r || s || (27 + recid) over hash. */
int secp_sign(const secp256k1_context *ctx, const uint8_t key[32], const uint8_t hash[32],
              uint8_t sig[65], char *err, size_t errlen);
/* The address whose key made sig over hash. Accepts v in {0, 1, 27, 28}; rejects high s
 * (malleable signatures, as ecrecover-based contracts using OpenZeppelin do). */
int secp_recover(const secp256k1_context *ctx, const uint8_t hash[32], const uint8_t sig[65],
                 uint8_t addr[20], char *err, size_t errlen);

/* EIP-55 mixed-case checksummed address "0xAbC..." into out (43 bytes). */
void eth_address_checksum(const uint8_t addr[20], char out[43]);
/* Parses "0x" + 40 hex digits. All-lowercase or all-uppercase digits are accepted as is;
 * mixed case must be a correct EIP-55 checksum. */
int eth_address_parse(const char *s, uint8_t addr[20], char *err, size_t errlen);

#endif
