/* secp: addresses of known keys, sign/recover, byte equality with `cast wallet sign
 * --no-hash`, rejection of malleable (high-s) and malformed signatures, EIP-55. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "oracle/hex.h"
#include "oracle/keccak.h"
#include "oracle/secp.h"
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

static void key_from_hex(const char *hex, uint8_t key[32])
{
    char err[128];
    assert_int_equal(hex_decode_exact(hex, key, 32, err, sizeof err), 0);
}

static void test_known_addresses(void **state)
{
    (void)state;
    static const char *pairs[][2] = {
        {"0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
         "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"},
        {"0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
         "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"},
    };
    for (size_t i = 0; i < 2; i++) {
        uint8_t key[32], addr[20];
        char err[128], s[43];
        key_from_hex(pairs[i][0], key);
        assert_int_equal(secp_key_address(ctx, key, addr, err, sizeof err), 0);
        eth_address_checksum(addr, s);
        assert_string_equal(s, pairs[i][1]);
    }
}

static void test_invalid_keys(void **state)
{
    (void)state;
    uint8_t key[32] = {0}, addr[20], sig[65], h[32] = {1};
    char err[128];
    assert_int_equal(secp_key_check(ctx, key, err, sizeof err), -1);
    assert_int_equal(secp_key_address(ctx, key, addr, err, sizeof err), -1);
    assert_int_equal(secp_sign(ctx, key, h, sig, err, sizeof err), -1);
    /* the curve order n itself */
    key_from_hex("0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141", key);
    assert_int_equal(secp_key_check(ctx, key, err, sizeof err), -1);
    assert_non_null(strstr(err, "invalid private key"));
    uint8_t a[32], b[32];
    assert_int_equal(secp_key_generate(ctx, a, err, sizeof err), 0);
    assert_int_equal(secp_key_generate(ctx, b, err, sizeof err), 0);
    assert_memory_not_equal(a, b, 32);
    assert_int_equal(secp_key_check(ctx, a, err, sizeof err), 0);
}

static void test_sign_recover(void **state)
{
    (void)state;
    tu_rng_seed(99);
    char err[128];
    for (int i = 0; i < 50; i++) {
        uint8_t key[32], h[32], sig[65], want[20], got[20];
        assert_int_equal(secp_key_generate(ctx, key, err, sizeof err), 0);
        tu_rand_bytes(h, 32);
        assert_int_equal(secp_key_address(ctx, key, want, err, sizeof err), 0);
        assert_int_equal(secp_sign(ctx, key, h, sig, err, sizeof err), 0);
        assert_true(sig[64] == 27 || sig[64] == 28);
        assert_true(sig[32] < 0x80); /* low s: s <= n/2 < 2^255 */
        assert_int_equal(secp_recover(ctx, h, sig, got, err, sizeof err), 0);
        assert_memory_equal(got, want, 20);
        /* v as 0/1 is accepted too */
        sig[64] -= 27;
        assert_int_equal(secp_recover(ctx, h, sig, got, err, sizeof err), 0);
        assert_memory_equal(got, want, 20);
        /* another hash recovers someone else */
        h[0] ^= 1;
        sig[64] += 27;
        if (secp_recover(ctx, h, sig, got, err, sizeof err) == 0)
            assert_memory_not_equal(got, want, 20);
    }
}

static void test_malformed_signatures(void **state)
{
    (void)state;
    uint8_t key[32], h[32], sig[65], addr[20];
    char err[128];
    key_from_hex("0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80", key);
    keccak256("x", 1, h);
    assert_int_equal(secp_sign(ctx, key, h, sig, err, sizeof err), 0);
    uint8_t bad[65];
    memcpy(bad, sig, 65);
    bad[64] = 29;
    assert_int_equal(secp_recover(ctx, h, bad, addr, err, sizeof err), -1);
    assert_non_null(strstr(err, "invalid v"));
    /* high s: s' = n - s with the other recovery id is the same point, refused */
    static const uint8_t n[32] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                  0xff, 0xff, 0xff, 0xff, 0xfe, 0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48,
                                  0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41};
    memcpy(bad, sig, 65);
    int borrow = 0;
    for (int i = 31; i >= 0; i--) {
        int d = n[i] - sig[32 + i] - borrow;
        borrow = d < 0;
        bad[32 + i] = (uint8_t)(d + (borrow ? 256 : 0));
    }
    bad[64] = (uint8_t)(sig[64] == 27 ? 28 : 27);
    assert_int_equal(secp_recover(ctx, h, bad, addr, err, sizeof err), -1);
    assert_non_null(strstr(err, "high s"));
    memcpy(bad, sig, 65);
    memset(bad, 0xff, 32); /* r >= n */
    assert_int_equal(secp_recover(ctx, h, bad, addr, err, sizeof err), -1);
}

static void test_against_cast(void **state)
{
    (void)state;
    tu_require_tool(tu_cast_path());
    tu_rng_seed(5);
    char err[128];
    for (int i = 0; i < 3; i++) {
        uint8_t key[32], h[32], sig[65];
        char kh[67], hh[67], sh[133];
        assert_int_equal(secp_key_generate(ctx, key, err, sizeof err), 0);
        tu_rand_bytes(h, 32);
        assert_int_equal(secp_sign(ctx, key, h, sig, err, sizeof err), 0);
        hex_encode(kh, key, 32);
        hex_encode(hh, h, 32);
        hex_encode(sh, sig, 65);
        char *theirs =
            tu_run("%s wallet sign --no-hash --private-key %s %s", tu_cast_path(), kh, hh);
        assert_string_equal(sh, theirs);
        free(theirs);
        uint8_t addr[20];
        char cs[43];
        secp_key_address(ctx, key, addr, err, sizeof err);
        eth_address_checksum(addr, cs);
        theirs = tu_run("%s wallet address --private-key %s", tu_cast_path(), kh);
        assert_string_equal(cs, theirs);
        free(theirs);
        explicit_bzero(key, sizeof key);
    }
}

static void test_eip55(void **state)
{
    (void)state;
    /* the examples of EIP-55 */
    static const char *good[] = {
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
        "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB", "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb"};
    char err[160], s[43];
    uint8_t a[20];
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(eth_address_parse(good[i], a, err, sizeof err), 0);
        eth_address_checksum(a, s);
        assert_string_equal(s, good[i]);
    }
    assert_int_equal(
        eth_address_parse("0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed", a, err, sizeof err), 0);
    assert_int_equal(
        eth_address_parse("0x5AAEB6053F3E94C9B9A09F33669435E7EF1BEAED", a, err, sizeof err), 0);
    assert_int_equal(
        eth_address_parse("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD", a, err, sizeof err), -1);
    assert_non_null(strstr(err, "checksum"));
    assert_int_equal(
        eth_address_parse("0x5aaeb6053f3e94c9b9a09f33669435e7ef1bea", a, err, sizeof err), -1);
    assert_int_equal(
        eth_address_parse("5aaeb6053f3e94c9b9a09f33669435e7ef1beaed", a, err, sizeof err), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_addresses), cmocka_unit_test(test_invalid_keys),
        cmocka_unit_test(test_sign_recover),    cmocka_unit_test(test_malformed_signatures),
        cmocka_unit_test(test_against_cast),    cmocka_unit_test(test_eip55),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
