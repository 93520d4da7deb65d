/*
 * eip712: EIP-712 typed structured data hashing and signing, and Sibyl's Attestation.
 *
 *   digest = keccak256(0x19 0x01 || domainSeparator || hashStruct(message))
 *   hashStruct(s) = keccak256(typeHash || encodeData(s)),  typeHash = keccak256(encodeType)
 *
 * The generic helpers take the members already encoded as 32-byte words (eip712_word_*):
 * atomic values as their ABI word, bytes/string as keccak256 of the contents, nested structs as
 * their hashStruct. The Attestation functions fix Sibyl's type; the contracts use the same
 * strings (contracts/src, see docs/ethereum.md). Signatures are secp_sign() over the digest and
 * match `cast wallet sign --data` for the same typed data and key.
 */
#ifndef SIBYL_ORACLE_EIP712_H
#define SIBYL_ORACLE_EIP712_H

#include <stddef.h>
#include <stdint.h>

#include <secp256k1.h>

#include "oracle/hex.h"

#define EIP712_DOMAIN_TYPE                                                                         \
    "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"

#define SIBYL_EIP712_NAME "SibylInferenceOracle"
#define SIBYL_EIP712_VERSION "1"
#define SIBYL_ATTESTATION_TYPE                                                                     \
    "Attestation(uint256 requestId,bytes32 modelHash,bytes32 inputHash,bytes32 paramsHash,"        \
    "bytes32 outputHash,uint256 seed,bytes32 engineVersion,uint16 rejectCode)"

/* ---- generic ---- */

void eip712_type_hash(const char *encode_type, uint8_t out[32]);
/* keccak256(type_hash || words[0] || ... || words[n-1]) */
void eip712_hash_struct(const uint8_t type_hash[32], const uint8_t (*words)[32], size_t n,
                        uint8_t out[32]);
/* keccak256(0x1901 || domain_separator || struct_hash) */
void eip712_digest(const uint8_t domain_separator[32], const uint8_t struct_hash[32],
                   uint8_t out[32]);
/* The separator for EIP712_DOMAIN_TYPE. */
void eip712_domain_separator(const char *name, const char *version, uint64_t chain_id,
                             const uint8_t verifying_contract[20], uint8_t out[32]);

void eip712_word_u64(uint8_t word[32], uint64_t v);
void eip712_word_u256(uint8_t word[32], const u256 *v);
void eip712_word_address(uint8_t word[32], const uint8_t addr[20]);
/* bytes and string members: keccak256 of the contents. */
void eip712_word_dynamic(uint8_t word[32], const void *p, size_t n);

/* ---- Sibyl's Attestation ---- */

typedef struct {
    u256 request_id;
    uint8_t model_hash[32];  /* sha256 of the GGUF file */
    uint8_t input_hash[32];  /* keccak256(input) */
    uint8_t params_hash[32]; /* keccak256(params) */
    uint8_t output_hash[32]; /* keccak256(output); zero for a rejection */
    u256 seed;
    uint8_t engine_version[32];
    uint16_t reject_code; /* 0 = fulfilled */
} sibyl_attestation;

/* Where signatures are valid: the chain and the InferenceOracle contract. */
typedef struct {
    uint64_t chain_id;
    uint8_t verifying_contract[20];
} sibyl_domain;

void sibyl_attestation_struct_hash(const sibyl_attestation *a, uint8_t out[32]);
void sibyl_attestation_digest(const sibyl_domain *d, const sibyl_attestation *a, uint8_t out[32]);
/* sig = r || s || v (v = 27/28) over the digest. */
int sibyl_attestation_sign(const secp256k1_context *ctx, const sibyl_domain *d,
                           const sibyl_attestation *a, const uint8_t key[32], uint8_t sig[65],
                           char *err, size_t errlen);
/* The signer's address. */
int sibyl_attestation_recover(const secp256k1_context *ctx, const sibyl_domain *d,
                              const sibyl_attestation *a, const uint8_t sig[65], uint8_t signer[20],
                              char *err, size_t errlen);

#endif
