/*
 * tx: Ethereum transactions: EIP-1559 (type 2) and legacy with EIP-155 replay protection.
 *
 * tx_sign() produces the raw signed transaction (what eth_sendRawTransaction takes) and the
 * transaction hash (keccak256 of the raw bytes). The output is byte-identical to
 * `cast mktx` for the same fields and key (tested: tests/oracle/test_tx.c).
 * Access lists are always empty.
 */
#ifndef SIBYL_ORACLE_TX_H
#define SIBYL_ORACLE_TX_H

#include <stddef.h>
#include <stdint.h>

#include <secp256k1.h>

#include "oracle/buf.h"
#include "oracle/hex.h"

typedef enum { TX_LEGACY = 0, TX_EIP1559 = 2 } tx_type;

typedef struct {
    tx_type type;
    uint64_t chain_id;
    uint64_t nonce;
    uint64_t gas_limit;
    u256 gas_price;                /* legacy only */
    u256 max_priority_fee_per_gas; /* EIP-1559 only */
    u256 max_fee_per_gas;          /* EIP-1559 only */
    int has_to;                    /* 0 = contract creation */
    uint8_t to[20];
    u256 value;
    const uint8_t *data; /* calldata or init code; not owned */
    size_t data_len;
} tx_fields;

/* The hash the sender signs (EIP-155 for legacy, keccak(0x02 || rlp(...)) for type 2). */
int tx_signing_hash(const tx_fields *tx, uint8_t hash[32], char *err, size_t errlen);
/* Appends the signed raw transaction for signature sig (r || s || v, v in {0,1,27,28}) to raw. */
int tx_encode_signed(const tx_fields *tx, const uint8_t sig[65], buf *raw, char *err,
                     size_t errlen);
/* Signs with key and appends the raw transaction to raw; tx_hash (may be NULL) gets its hash. */
int tx_sign(const secp256k1_context *ctx, const tx_fields *tx, const uint8_t key[32], buf *raw,
            uint8_t tx_hash[32], char *err, size_t errlen);

/* EIP-1559: the base fee of the block after one with this base fee, gas used and gas limit
 * (elasticity 2, change denominator 8). Lets the node price a transaction from the newHeads
 * header alone, without an eth_feeHistory round trip. */
uint64_t tx_next_base_fee(uint64_t base_fee, uint64_t gas_used, uint64_t gas_limit);

#endif
