#include "oracle/tx.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "oracle/keccak.h"
#include "oracle/rlp.h"
#include "oracle/secp.h"

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

/* The fields shared by the signing payload and the signed form, in order. */
static void put_fields(buf *out, const tx_fields *tx)
{
    if (tx->type == TX_EIP1559) {
        rlp_put_u64(out, tx->chain_id);
        rlp_put_u64(out, tx->nonce);
        rlp_put_u256(out, &tx->max_priority_fee_per_gas);
        rlp_put_u256(out, &tx->max_fee_per_gas);
    } else {
        rlp_put_u64(out, tx->nonce);
        rlp_put_u256(out, &tx->gas_price);
    }
    rlp_put_u64(out, tx->gas_limit);
    rlp_put_bytes(out, tx->to, tx->has_to ? 20 : 0);
    rlp_put_u256(out, &tx->value);
    rlp_put_bytes(out, tx->data, tx->data_len);
    if (tx->type == TX_EIP1559) {
        size_t m = rlp_list_begin(out); /* empty access list */
        rlp_list_end(out, m);
    }
}

static int check_tx(const tx_fields *tx, char *err, size_t errlen)
{
    if (tx->type != TX_LEGACY && tx->type != TX_EIP1559)
        return fail(err, errlen, "tx: unsupported transaction type %d", (int)tx->type);
    if (tx->data_len && !tx->data)
        return fail(err, errlen, "tx: data is NULL with data_len %zu", tx->data_len);
    if (tx->chain_id == 0)
        return fail(err, errlen, "tx: chain id 0 (EIP-155 needs a chain id)");
    return 0;
}

int tx_signing_hash(const tx_fields *tx, uint8_t hash[32], char *err, size_t errlen)
{
    if (check_tx(tx, err, errlen) < 0)
        return -1;
    buf b = BUF_INIT;
    if (tx->type == TX_EIP1559)
        buf_push(&b, 0x02);
    size_t m = rlp_list_begin(&b);
    put_fields(&b, tx);
    if (tx->type == TX_LEGACY) { /* EIP-155: chainId, 0, 0 */
        rlp_put_u64(&b, tx->chain_id);
        rlp_put_u64(&b, 0);
        rlp_put_u64(&b, 0);
    }
    rlp_list_end(&b, m);
    if (buf_ok(&b) < 0) {
        buf_free(&b);
        return fail(err, errlen, "tx: out of memory");
    }
    keccak256(b.data, b.len, hash);
    buf_free(&b);
    return 0;
}

int tx_encode_signed(const tx_fields *tx, const uint8_t sig[65], buf *raw, char *err, size_t errlen)
{
    if (check_tx(tx, err, errlen) < 0)
        return -1;
    int recid = sig[64] >= 27 ? sig[64] - 27 : sig[64];
    if (recid != 0 && recid != 1)
        return fail(err, errlen, "tx: signature has invalid v = %d", sig[64]);
    u256 r, s;
    memcpy(r.b, sig, 32);
    memcpy(s.b, sig + 32, 32);
    if (tx->type == TX_EIP1559)
        buf_push(raw, 0x02);
    size_t m = rlp_list_begin(raw);
    put_fields(raw, tx);
    if (tx->type == TX_EIP1559) {
        rlp_put_u64(raw, (uint64_t)recid); /* yParity */
    } else {
        if (tx->chain_id > (UINT64_MAX - 36) / 2)
            return fail(err, errlen, "tx: chain id too large for a legacy v");
        rlp_put_u64(raw, tx->chain_id * 2 + 35 + (uint64_t)recid);
    }
    rlp_put_u256(raw, &r);
    rlp_put_u256(raw, &s);
    rlp_list_end(raw, m);
    if (buf_ok(raw) < 0)
        return fail(err, errlen, "tx: out of memory");
    return 0;
}

int tx_sign(const secp256k1_context *ctx, const tx_fields *tx, const uint8_t key[32], buf *raw,
            uint8_t tx_hash[32], char *err, size_t errlen)
{
    uint8_t h[32], sig[65];
    if (tx_signing_hash(tx, h, err, errlen) < 0)
        return -1;
    if (secp_sign(ctx, key, h, sig, err, errlen) < 0)
        return -1;
    size_t start = raw->len;
    if (tx_encode_signed(tx, sig, raw, err, errlen) < 0)
        return -1;
    if (tx_hash)
        keccak256(raw->data + start, raw->len - start, tx_hash);
    return 0;
}

uint64_t tx_next_base_fee(uint64_t base_fee, uint64_t gas_used, uint64_t gas_limit)
{
    uint64_t target = gas_limit / 2;
    if (target == 0 || gas_used == target)
        return base_fee;
    if (gas_used > target) {
        unsigned __int128 d = (unsigned __int128)base_fee * (gas_used - target) / target / 8;
        uint64_t delta = d > 1 ? (d > UINT64_MAX ? UINT64_MAX : (uint64_t)d) : 1;
        return base_fee > UINT64_MAX - delta ? UINT64_MAX : base_fee + delta;
    }
    unsigned __int128 d = (unsigned __int128)base_fee * (target - gas_used) / target / 8;
    return base_fee - (uint64_t)d;
}
