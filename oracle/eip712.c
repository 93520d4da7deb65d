#include "oracle/eip712.h"

#include <string.h>

#include "oracle/keccak.h"
#include "oracle/secp.h"

void eip712_type_hash(const char *encode_type, uint8_t out[32])
{
    keccak256(encode_type, strlen(encode_type), out);
}

void eip712_hash_struct(const uint8_t type_hash[32], const uint8_t (*words)[32], size_t n,
                        uint8_t out[32])
{
    keccak256_ctx c;
    keccak256_init(&c);
    keccak256_update(&c, type_hash, 32);
    for (size_t i = 0; i < n; i++)
        keccak256_update(&c, words[i], 32);
    keccak256_final(&c, out);
}

void eip712_digest(const uint8_t domain_separator[32], const uint8_t struct_hash[32],
                   uint8_t out[32])
{
    uint8_t m[66];
    m[0] = 0x19;
    m[1] = 0x01;
    memcpy(m + 2, domain_separator, 32);
    memcpy(m + 34, struct_hash, 32);
    keccak256(m, sizeof m, out);
}

void eip712_word_u64(uint8_t word[32], uint64_t v)
{
    memset(word, 0, 24);
    for (int i = 0; i < 8; i++)
        word[31 - i] = (uint8_t)(v >> (8 * i));
}

void eip712_word_u256(uint8_t word[32], const u256 *v)
{
    memcpy(word, v->b, 32);
}

void eip712_word_address(uint8_t word[32], const uint8_t addr[20])
{
    memset(word, 0, 12);
    memcpy(word + 12, addr, 20);
}

void eip712_word_dynamic(uint8_t word[32], const void *p, size_t n)
{
    keccak256(p, n, word);
}

void eip712_domain_separator(const char *name, const char *version, uint64_t chain_id,
                             const uint8_t verifying_contract[20], uint8_t out[32])
{
    uint8_t th[32], w[4][32];
    eip712_type_hash(EIP712_DOMAIN_TYPE, th);
    eip712_word_dynamic(w[0], name, strlen(name));
    eip712_word_dynamic(w[1], version, strlen(version));
    eip712_word_u64(w[2], chain_id);
    eip712_word_address(w[3], verifying_contract);
    eip712_hash_struct(th, (const uint8_t(*)[32])w, 4, out);
}

void sibyl_attestation_struct_hash(const sibyl_attestation *a, uint8_t out[32])
{
    uint8_t th[32], w[8][32];
    eip712_type_hash(SIBYL_ATTESTATION_TYPE, th);
    eip712_word_u256(w[0], &a->request_id);
    memcpy(w[1], a->model_hash, 32);
    memcpy(w[2], a->input_hash, 32);
    memcpy(w[3], a->params_hash, 32);
    memcpy(w[4], a->output_hash, 32);
    eip712_word_u256(w[5], &a->seed);
    memcpy(w[6], a->engine_version, 32);
    eip712_word_u64(w[7], a->reject_code);
    eip712_hash_struct(th, (const uint8_t(*)[32])w, 8, out);
}

void sibyl_attestation_digest(const sibyl_domain *d, const sibyl_attestation *a, uint8_t out[32])
{
    uint8_t ds[32], sh[32];
    eip712_domain_separator(SIBYL_EIP712_NAME, SIBYL_EIP712_VERSION, d->chain_id,
                            d->verifying_contract, ds);
    sibyl_attestation_struct_hash(a, sh);
    eip712_digest(ds, sh, out);
}

int sibyl_attestation_sign(const secp256k1_context *ctx, const sibyl_domain *d,
                           const sibyl_attestation *a, const uint8_t key[32], uint8_t sig[65],
                           char *err, size_t errlen)
{
    uint8_t digest[32];
    sibyl_attestation_digest(d, a, digest);
    return secp_sign(ctx, key, digest, sig, err, errlen);
}

int sibyl_attestation_recover(const secp256k1_context *ctx, const sibyl_domain *d,
                              const sibyl_attestation *a, const uint8_t sig[65], uint8_t signer[20],
                              char *err, size_t errlen)
{
    uint8_t digest[32];
    sibyl_attestation_digest(d, a, digest);
    return secp_recover(ctx, digest, sig, signer, err, errlen);
}
