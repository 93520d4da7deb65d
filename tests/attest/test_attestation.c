/* attestation: the model hash (sha256, cached by file identity) and the signed Attestation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/sha.h>

#include "attest/attestation.h"
#include "oracle/keccak.h"
#include "oracle/secp.h"

static char dir[256];

static void write_bytes(const char *path, const char *s)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs(s, f);
    fclose(f);
}

static void test_model_hash_and_cache(void **state)
{
    (void)state;
    char path[300], jdir[300], err[256];
    snprintf(path, sizeof path, "%s/model.gguf", dir);
    snprintf(jdir, sizeof jdir, "%s/journal", dir);
    write_bytes(path, "GGUF pretend model one");
    journal *j;
    assert_int_equal(journal_open(jdir, 16, 0, &j, err, sizeof err), 0);
    uint8_t h[32], expect[32];
    SHA256((const unsigned char *)"GGUF pretend model one", 22, expect);
    assert_int_equal(attest_model_hash(path, j, 0, h, err, sizeof err), 0);
    assert_memory_equal(h, expect, 32);

    /* same size, same mtime, different bytes: the cache answers (proves no rehash) */
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    write_bytes(path, "GGUF pretend model two");
    struct timespec times[2] = {st.st_atim, st.st_mtim};
    assert_int_equal(utimensat(AT_FDCWD, path, times, 0), 0);
    assert_int_equal(attest_model_hash(path, j, 0, h, err, sizeof err), 0);
    assert_memory_equal(h, expect, 32);

    /* a new mtime: rehashed */
    times[1].tv_sec += 10;
    assert_int_equal(utimensat(AT_FDCWD, path, times, 0), 0);
    SHA256((const unsigned char *)"GGUF pretend model two", 22, expect);
    assert_int_equal(attest_model_hash(path, j, 0, h, err, sizeof err), 0);
    assert_memory_equal(h, expect, 32);
    /* without a journal: no cache, same answer */
    assert_int_equal(attest_model_hash(path, NULL, 0, h, err, sizeof err), 0);
    assert_memory_equal(h, expect, 32);
    journal_close(j);

    assert_int_equal(attest_model_hash("/no/such/model.gguf", NULL, 0, h, err, sizeof err), -1);
    assert_non_null(strstr(err, "/no/such/model.gguf"));
}

static void test_build_and_sign(void **state)
{
    (void)state;
    uint8_t id[32] = {0}, seed[32] = {0}, mh[32] = {7}, k[32];
    id[31] = 5;
    seed[0] = 0xee;
    sibyl_attestation a;
    attest_build(&a, id, seed, mh, (const uint8_t *)"in", 2, (const uint8_t *)"", 0,
                 (const uint8_t *)"out", 3, 0);
    keccak256("in", 2, k);
    assert_memory_equal(a.input_hash, k, 32);
    keccak256("", 0, k);
    assert_memory_equal(a.params_hash, k, 32);
    keccak256("out", 3, k);
    assert_memory_equal(a.output_hash, k, 32);
    assert_memory_equal(a.engine_version, "sibyl-arith-1\0\0", 15);
    assert_int_equal(a.request_id.b[31], 5);
    assert_int_equal(a.seed.b[0], 0xee);

    /* a reject: outputHash = keccak256("") whatever output is passed */
    sibyl_attestation r;
    attest_build(&r, id, seed, mh, (const uint8_t *)"in", 2, NULL, 0, (const uint8_t *)"x", 1, 3);
    keccak256("", 0, k);
    assert_memory_equal(r.output_hash, k, 32);
    assert_int_equal(r.reject_code, 3);

    char err[256];
    secp256k1_context *ctx = secp_context_create(err, sizeof err);
    assert_non_null(ctx);
    uint8_t key[32], addr[20], sig[65], who[20];
    assert_int_equal(secp_key_generate(ctx, key, err, sizeof err), 0);
    assert_int_equal(secp_key_address(ctx, key, addr, err, sizeof err), 0);
    sibyl_domain d = {31337, {0x5f}};
    assert_int_equal(sibyl_attestation_sign(ctx, &d, &a, key, sig, err, sizeof err), 0);
    assert_int_equal(sibyl_attestation_recover(ctx, &d, &a, sig, who, err, sizeof err), 0);
    assert_memory_equal(who, addr, 20);
    /* the signature binds the answer: another output recovers another address */
    a.output_hash[0] ^= 1;
    assert_int_equal(sibyl_attestation_recover(ctx, &d, &a, sig, who, err, sizeof err), 0);
    assert_memory_not_equal(who, addr, 20);
    secp_context_destroy(ctx);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/sibyl-test-attest.%d", (int)getpid());
    mkdir(dir, 0700);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_model_hash_and_cache),
        cmocka_unit_test(test_build_and_sign),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd))
        rc = rc ? rc : 1;
    return rc;
}
