/* EIP-712: the specification's Mail example (digest and signature), and Sibyl's Attestation
 * signed identically by `cast wallet sign --data` for random attestations and domains. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "oracle/eip712.h"
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

static void addr_from_hex(const char *s, uint8_t a[20])
{
    char err[128];
    assert_int_equal(eth_address_parse(s, a, err, sizeof err), 0);
}

/* EIP-712's own example: Mail(Person from,Person to,string contents), signed with
 * keccak256("cow"). Exercises the generic helpers with a nested struct. */
static void test_spec_mail_example(void **state)
{
    (void)state;
    uint8_t contract[20], cow[20], bob[20];
    addr_from_hex("0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC", contract);
    addr_from_hex("0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826", cow);
    addr_from_hex("0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB", bob);
    uint8_t ds[32], person_th[32], mail_th[32], from_h[32], to_h[32], mail_h[32], digest[32];
    eip712_domain_separator("Ether Mail", "1", 1, contract, ds);
    eip712_type_hash("Person(string name,address wallet)", person_th);
    eip712_type_hash(
        "Mail(Person from,Person to,string contents)Person(string name,address wallet)", mail_th);
    uint8_t w[3][32];
    eip712_word_dynamic(w[0], "Cow", 3);
    eip712_word_address(w[1], cow);
    eip712_hash_struct(person_th, (const uint8_t(*)[32])w, 2, from_h);
    eip712_word_dynamic(w[0], "Bob", 3);
    eip712_word_address(w[1], bob);
    eip712_hash_struct(person_th, (const uint8_t(*)[32])w, 2, to_h);
    memcpy(w[0], from_h, 32);
    memcpy(w[1], to_h, 32);
    eip712_word_dynamic(w[2], "Hello, Bob!", 11);
    eip712_hash_struct(mail_th, (const uint8_t(*)[32])w, 3, mail_h);
    eip712_digest(ds, mail_h, digest);
    char hex[133];
    hex_encode(hex, ds, 32);
    assert_string_equal(hex, "0xf2cee375fa42b42143804025fc449deafd50cc031ca257e0b194a650a912090f");
    hex_encode(hex, digest, 32);
    assert_string_equal(hex, "0xbe609aee343fb3c4b28e1df9e632fca64fcfaede20f02e86244efddf30957bd2");
    uint8_t key[32], sig[65], back[20];
    char err[128];
    keccak256("cow", 3, key);
    assert_int_equal(secp_sign(ctx, key, digest, sig, err, sizeof err), 0);
    hex_encode(hex, sig, 65);
    assert_string_equal(hex, "0x4355c47d63924e8a72e509b65029052eb6c299d53a04e167c5775fd466751c9d"
                             "07299936d304c153f6443dfa05f40ff007d72911b6f72307f996231605b91562"
                             "1c");
    assert_int_equal(secp_recover(ctx, digest, sig, back, err, sizeof err), 0);
    assert_memory_equal(back, cow, 20);
}

static void random_attestation(sibyl_attestation *a)
{
    memset(a, 0, sizeof *a);
    tu_rand_bytes(a->request_id.b + 24, 8);
    tu_rand_bytes(a->model_hash, 32);
    tu_rand_bytes(a->input_hash, 32);
    tu_rand_bytes(a->params_hash, 32);
    tu_rand_bytes(a->output_hash, 32);
    tu_rand_bytes(a->seed.b, 32);
    tu_rand_bytes(a->engine_version, 32);
    a->reject_code = (uint16_t)(tu_rand() % 3 == 0 ? tu_rand() : 0);
}

static void test_attestation_against_cast(void **state)
{
    (void)state;
    tu_require_tool(tu_cast_path());
    tu_rng_seed(712);
    char err[256];
    /* the type string is the one the brief fixes; its hash as cast computes it */
    uint8_t th[32];
    char th_hex[67];
    eip712_type_hash(SIBYL_ATTESTATION_TYPE, th);
    hex_encode(th_hex, th, 32);
    char *cast_th = tu_run("%s keccak '%s'", tu_cast_path(), SIBYL_ATTESTATION_TYPE);
    assert_string_equal(th_hex, cast_th);
    free(cast_th);

    for (int i = 0; i < 3; i++) {
        sibyl_attestation a;
        sibyl_domain d;
        random_attestation(&a);
        d.chain_id = i == 0 ? 31337 : 1 + tu_rand() % 1000000000;
        tu_rand_bytes(d.verifying_contract, 20);
        uint8_t key[32], sig[65], signer[20], addr[20];
        assert_int_equal(secp_key_generate(ctx, key, err, sizeof err), 0);
        assert_int_equal(sibyl_attestation_sign(ctx, &d, &a, key, sig, err, sizeof err), 0);
        assert_int_equal(sibyl_attestation_recover(ctx, &d, &a, sig, signer, err, sizeof err), 0);
        assert_int_equal(secp_key_address(ctx, key, addr, err, sizeof err), 0);
        assert_memory_equal(signer, addr, 20);

        char kh[67], vc[43], rid[U256_DEC_MAX], seed[U256_DEC_MAX], mh[67], ih[67], ph[67], oh[67],
            ev[67], mine[133];
        hex_encode(kh, key, 32);
        eth_address_checksum(d.verifying_contract, vc);
        u256_to_dec(&a.request_id, rid);
        u256_to_dec(&a.seed, seed);
        hex_encode(mh, a.model_hash, 32);
        hex_encode(ih, a.input_hash, 32);
        hex_encode(ph, a.params_hash, 32);
        hex_encode(oh, a.output_hash, 32);
        hex_encode(ev, a.engine_version, 32);
        hex_encode(mine, sig, 65);
        char *theirs = tu_run(
            "%s wallet sign --private-key %s --data '{\"types\":{\"EIP712Domain\":["
            "{\"name\":\"name\",\"type\":\"string\"},{\"name\":\"version\",\"type\":\"string\"},"
            "{\"name\":\"chainId\",\"type\":\"uint256\"},"
            "{\"name\":\"verifyingContract\",\"type\":\"address\"}],\"Attestation\":["
            "{\"name\":\"requestId\",\"type\":\"uint256\"},{\"name\":\"modelHash\",\"type\":"
            "\"bytes32\"},"
            "{\"name\":\"inputHash\",\"type\":\"bytes32\"},{\"name\":\"paramsHash\",\"type\":"
            "\"bytes32\"},"
            "{\"name\":\"outputHash\",\"type\":\"bytes32\"},{\"name\":\"seed\",\"type\":"
            "\"uint256\"},"
            "{\"name\":\"engineVersion\",\"type\":\"bytes32\"},{\"name\":\"rejectCode\",\"type\":"
            "\"uint16\"}]},"
            "\"primaryType\":\"Attestation\",\"domain\":{\"name\":\"%s\",\"version\":\"%s\","
            "\"chainId\":%llu,\"verifyingContract\":\"%s\"},\"message\":{\"requestId\":\"%s\","
            "\"modelHash\":\"%s\",\"inputHash\":\"%s\",\"paramsHash\":\"%s\",\"outputHash\":\"%s\","
            "\"seed\":\"%s\",\"engineVersion\":\"%s\",\"rejectCode\":%u}}'",
            tu_cast_path(), kh, SIBYL_EIP712_NAME, SIBYL_EIP712_VERSION,
            (unsigned long long)d.chain_id, vc, rid, mh, ih, ph, oh, seed, ev, a.reject_code);
        if (strcmp(mine, theirs))
            fail_msg("attestation %d:\n  sibyl: %s\n  cast:  %s", i, mine, theirs);
        free(theirs);

        /* any changed field changes the signer */
        a.reject_code ^= 1;
        assert_int_equal(sibyl_attestation_recover(ctx, &d, &a, sig, signer, err, sizeof err), 0);
        assert_memory_not_equal(signer, addr, 20);
        explicit_bzero(key, sizeof key);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_mail_example),
        cmocka_unit_test(test_attestation_against_cast),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
