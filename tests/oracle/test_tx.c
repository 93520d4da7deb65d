/* tx: signed EIP-1559 and legacy EIP-155 transactions are byte-identical to `cast mktx` for
 * random fields and keys; the hash is keccak of the raw bytes; the signature recovers to the
 * sender. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "oracle/hex.h"
#include "oracle/keccak.h"
#include "oracle/rlp.h"
#include "oracle/secp.h"
#include "oracle/tx.h"
#include "tests/oracle/testutil.h"

static secp256k1_context *ctx;

static int setup(void **state)
{
    (void)state;
    char err[128];
    ctx = secp_context_create(err, sizeof err);
    return ctx ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    secp_context_destroy(ctx);
    return 0;
}

/* A random amount: zero, small, 64-bit or a big number of up to max_bytes bytes (cast and
 * alloy hold fees in 128 bits, values in 256). */
static void random_u256(u256 *v, size_t max_bytes)
{
    memset(v->b, 0, 32);
    switch (tu_rand() % 4) {
    case 0:
        break;
    case 1:
        v->b[31] = (uint8_t)(1 + tu_rand() % 250);
        break;
    case 2:
        tu_rand_bytes(v->b + 24, 8);
        break;
    default:
        tu_rand_bytes(v->b + 32 - max_bytes, max_bytes);
    }
}

static void test_against_cast_mktx(void **state)
{
    (void)state;
    tu_require_tool(tu_cast_path());
    tu_rng_seed(1559);
    char err[256];
    for (int i = 0; i < 8; i++) {
        tx_fields tx;
        memset(&tx, 0, sizeof tx);
        tx.type = (i % 2) ? TX_LEGACY : TX_EIP1559;
        tx.chain_id = (i % 4 == 0) ? 31337 : 1 + tu_rand() % 4000000000ULL;
        tx.nonce = (i % 3 == 0) ? 0 : tu_rand() % 100000;
        tx.gas_limit = 21000 + tu_rand() % 30000000;
        random_u256(&tx.gas_price, 15);
        random_u256(&tx.max_priority_fee_per_gas, 15);
        random_u256(&tx.max_fee_per_gas, 15);
        random_u256(&tx.value, 31);
        tx.has_to = i % 4 != 3;
        tu_rand_bytes(tx.to, 20);
        uint8_t data[120];
        tx.data_len =
            tx.has_to ? (tu_rand() % 3 == 0 ? 0 : 4 + tu_rand() % 100) : 1 + tu_rand() % 100;
        tu_rand_bytes(data, tx.data_len);
        tx.data = data;
        uint8_t key[32];
        assert_int_equal(secp_key_generate(ctx, key, err, sizeof err), 0);

        buf raw = BUF_INIT;
        uint8_t txhash[32];
        if (tx_sign(ctx, &tx, key, &raw, txhash, err, sizeof err) < 0)
            fail_msg("tx_sign: %s", err);
        char *mine = malloc(2 * raw.len + 3);
        hex_encode(mine, raw.data, raw.len);

        char kh[67], to[43], dh[2 * 120 + 3], gp[U256_DEC_MAX], prio[U256_DEC_MAX],
            maxfee[U256_DEC_MAX], value[U256_DEC_MAX];
        hex_encode(kh, key, 32);
        hex_encode(to, tx.to, 20);
        hex_encode(dh, data, tx.data_len);
        u256_to_dec(&tx.gas_price, gp);
        u256_to_dec(&tx.max_priority_fee_per_gas, prio);
        u256_to_dec(&tx.max_fee_per_gas, maxfee);
        u256_to_dec(&tx.value, value);
        char target[400];
        if (tx.has_to)
            snprintf(target, sizeof target, "%s %s", to, tx.data_len ? dh : "");
        else
            snprintf(target, sizeof target, "--create %s", dh);
        char *theirs;
        if (tx.type == TX_LEGACY)
            theirs = tu_run("%s mktx --legacy --private-key %s --chain %llu --nonce %llu "
                            "--gas-limit %llu --gas-price %s --value %s %s",
                            tu_cast_path(), kh, (unsigned long long)tx.chain_id,
                            (unsigned long long)tx.nonce, (unsigned long long)tx.gas_limit, gp,
                            value, target);
        else
            theirs = tu_run("%s mktx --private-key %s --chain %llu --nonce %llu --gas-limit %llu "
                            "--priority-gas-price %s --gas-price %s --value %s %s",
                            tu_cast_path(), kh, (unsigned long long)tx.chain_id,
                            (unsigned long long)tx.nonce, (unsigned long long)tx.gas_limit, prio,
                            maxfee, value, target);
        if (strcmp(mine, theirs))
            fail_msg("case %d (%s):\n  sibyl: %s\n  cast:  %s", i,
                     tx.type == TX_LEGACY ? "legacy" : "eip1559", mine, theirs);

        /* hash = keccak(raw), cross-checked with cast keccak */
        uint8_t h[32];
        char hh[67];
        keccak256(raw.data, raw.len, h);
        assert_memory_equal(h, txhash, 32);
        hex_encode(hh, txhash, 32);
        if (i == 0) {
            char *ch = tu_run("%s keccak %s", tu_cast_path(), mine);
            assert_string_equal(hh, ch);
            free(ch);
        }

        explicit_bzero(key, sizeof key);
        free(mine);
        free(theirs);
        buf_free(&raw);
    }
}

/* Decodes the signed transaction's v, r, s and checks they recover to the key's address. */
static void test_signature_recovers(void **state)
{
    (void)state;
    char err[256];
    uint8_t key[32], sender[20], got[20];
    assert_int_equal(
        hex_decode_exact("0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80", key,
                         32, err, sizeof err),
        0);
    secp_key_address(ctx, key, sender, err, sizeof err);
    for (int type = 0; type < 2; type++) {
        tx_fields tx;
        memset(&tx, 0, sizeof tx);
        tx.type = type ? TX_EIP1559 : TX_LEGACY;
        tx.chain_id = 31337;
        tx.nonce = 3;
        tx.gas_limit = 21000;
        u256_from_u64(&tx.gas_price, 1000000000);
        u256_from_u64(&tx.max_fee_per_gas, 2000000000);
        u256_from_u64(&tx.max_priority_fee_per_gas, 1000);
        tx.has_to = 1;
        memset(tx.to, 0x42, 20);
        buf raw = BUF_INIT;
        assert_int_equal(tx_sign(ctx, &tx, key, &raw, NULL, err, sizeof err), 0);
        const uint8_t *body = raw.data + (type ? 1 : 0);
        size_t body_len = raw.len - (type ? 1 : 0);
        if (type)
            assert_int_equal(raw.data[0], 0x02);
        rlp_item top, it;
        rlp_iter iter;
        assert_int_equal(rlp_decode(body, body_len, &top, err, sizeof err), 0);
        assert_int_equal(rlp_iter_init(&iter, body, &top, err, sizeof err), 0);
        rlp_item items[12];
        int n = 0;
        while (n < 12 && rlp_next(&iter, &it, err, sizeof err) == 1)
            items[n++] = it;
        assert_int_equal(n, type ? 12 : 9);
        uint64_t v;
        u256 r, s;
        assert_int_equal(rlp_item_u64(&items[n - 3], &v, err, sizeof err), 0);
        assert_int_equal(rlp_item_u256(&items[n - 2], &r, err, sizeof err), 0);
        assert_int_equal(rlp_item_u256(&items[n - 1], &s, err, sizeof err), 0);
        uint8_t sig[65], h[32];
        memcpy(sig, r.b, 32);
        memcpy(sig + 32, s.b, 32);
        if (type)
            sig[64] = (uint8_t)v;
        else {
            assert_true(v == 31337 * 2 + 35 || v == 31337 * 2 + 36);
            sig[64] = (uint8_t)(v - (31337 * 2 + 35));
        }
        assert_int_equal(tx_signing_hash(&tx, h, err, sizeof err), 0);
        assert_int_equal(secp_recover(ctx, h, sig, got, err, sizeof err), 0);
        assert_memory_equal(got, sender, 20);
        buf_free(&raw);
    }
    tx_fields bad;
    memset(&bad, 0, sizeof bad);
    bad.type = TX_EIP1559;
    uint8_t h[32];
    assert_int_equal(tx_signing_hash(&bad, h, err, sizeof err), -1);
    assert_non_null(strstr(err, "chain id 0"));
    bad.chain_id = 1;
    bad.type = (tx_type)1;
    assert_int_equal(tx_signing_hash(&bad, h, err, sizeof err), -1);
}

/* EIP-1559's update rule: full block +12.5 %, empty block -12.5 %, at target unchanged, the
 * increase at least 1 wei. */
static void test_next_base_fee(void **state)
{
    (void)state;
    assert_int_equal(tx_next_base_fee(1000000000, 30000000, 30000000), 1125000000);
    assert_int_equal(tx_next_base_fee(1000000000, 0, 30000000), 875000000);
    assert_int_equal(tx_next_base_fee(1000000000, 15000000, 30000000), 1000000000);
    assert_int_equal(tx_next_base_fee(7, 15000001, 30000000), 8); /* +1 minimum */
    /* a block with one 21000-gas transfer */
    assert_int_equal(tx_next_base_fee(1000000000, 21000, 30000000), 875175000);
    assert_int_equal(tx_next_base_fee(UINT64_MAX, 30000000, 30000000), UINT64_MAX);
    assert_int_equal(tx_next_base_fee(5, 1, 0), 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_against_cast_mktx),
        cmocka_unit_test(test_signature_recovers),
        cmocka_unit_test(test_next_base_fee),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
