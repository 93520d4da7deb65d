/* keystore: write/read round trips (scrypt, pbkdf2), the Web3 Secret Storage test vector,
 * wrong password, tampering, permissions, password and key files. The cast interoperability
 * checks are in tests/integration/keys.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "oracle/hex.h"
#include "oracle/keystore.h"
#include "oracle/secp.h"
#include "tests/oracle/testutil.h"

static secp256k1_context *ctx;
static char *dir;

static int setup(void **state)
{
    (void)state;
    char err[128];
    ctx = secp_context_create(err, sizeof err);
    dir = tu_tempdir();
    return ctx ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    secp_context_destroy(ctx);
    tu_rmdir(dir);
    free(dir);
    return 0;
}

static void write_text(const char *path, const char *text, mode_t mode)
{
    unlink(path);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_int_equal(chmod(path, mode), 0);
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char *s = calloc(1, 65536);
    fread(s, 1, 65535, f);
    fclose(f);
    return s;
}

static void test_round_trip(void **state)
{
    (void)state;
    char err[512], path[4096];
    uint8_t key[32], back[32], addr[20], addr2[20];
    assert_int_equal(secp_key_generate(ctx, key, err, sizeof err), 0);
    keystore_params kp[2] = {keystore_default_params(), keystore_default_params()};
    kp[0].scrypt_n = 1024;
    kp[1].kdf = KEYSTORE_KDF_PBKDF2;
    kp[1].pbkdf2_c = 1000;
    for (int i = 0; i < 2; i++) {
        assert_int_equal(keystore_write_dir(ctx, dir, key, "pw", 2, &kp[i], path, sizeof path, addr,
                                            err, sizeof err),
                         0);
        struct stat st;
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0600);
        char *json = read_text(path);
        assert_non_null(strstr(json, i ? "\"kdf\":\"pbkdf2\"" : "\"kdf\":\"scrypt\""));
        assert_non_null(strstr(json, "\"version\":3"));
        char khex[67];
        hex_encode(khex, key, 32);
        assert_null(strstr(json, khex + 2)); /* the key is not in the file in clear */
        free(json);
        memset(back, 0, sizeof back);
        assert_int_equal(keystore_read_file(ctx, path, "pw", 2, back, addr2, err, sizeof err), 0);
        assert_memory_equal(back, key, 32);
        assert_memory_equal(addr, addr2, 20);
        /* wrong password */
        int rc = keystore_read_file(ctx, path, "pW", 2, back, NULL, err, sizeof err);
        assert_int_equal(rc, -1);
        assert_non_null(strstr(err, "MAC mismatch: wrong password?"));
        /* never overwrites */
        assert_int_equal(keystore_write_file(ctx, path, key, "pw", 2, &kp[i], err, sizeof err), -1);
        assert_non_null(strstr(err, "File exists"));
    }
}

/* The PBKDF2 test vector of the Web3 Secret Storage definition. */
static void test_spec_vector(void **state)
{
    (void)state;
    char path[4096], err[512];
    snprintf(path, sizeof path, "%s/vector.json", dir);
    write_text(path,
               "{\"crypto\":{\"cipher\":\"aes-128-ctr\",\"cipherparams\":{\"iv\":"
               "\"6087dab2f9fdbbfaddc31a909735c1e6\"},\"ciphertext\":"
               "\"5318b4d5bcd28de64ee5559e671353e16f075ecae9f99c7a79a38af5f869aa46\",\"kdf\":"
               "\"pbkdf2\",\"kdfparams\":{\"c\":262144,\"dklen\":32,\"prf\":\"hmac-sha256\","
               "\"salt\":\"ae3cd4e7013836a3df6bd7241b12db061dbe2c6785853cce422d148a624ce0bd\"},"
               "\"mac\":\"517ead924a9d0dc3124507e3393d175ce3ff7c1e96529c6c555ce9e51205e9b2\"},"
               "\"id\":\"3198bc9c-6672-5ab3-d995-4942343ae5b6\",\"version\":3}",
               0600);
    uint8_t key[32];
    char hex[67];
    assert_int_equal(keystore_read_file(ctx, path, "testpassword", 12, key, NULL, err, sizeof err),
                     0);
    hex_encode(hex, key, 32);
    assert_string_equal(hex, "0x7a28b5ba57c53603b0b07b56bba752f7784bf506fa95edc395f5cf6c7514fe9d");
}

static void test_refusals(void **state)
{
    (void)state;
    char err[512], path[4096];
    uint8_t key[32], back[32], addr[20];
    keystore_params kp = keystore_default_params();
    kp.scrypt_n = 1024;
    assert_int_equal(secp_key_generate(ctx, key, err, sizeof err), 0);
    assert_int_equal(
        keystore_write_dir(ctx, dir, key, "pw", 2, &kp, path, sizeof path, addr, err, sizeof err),
        0);

    /* readable by others */
    assert_int_equal(chmod(path, 0644), 0);
    assert_int_equal(keystore_read_file(ctx, path, "pw", 2, back, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "accessible by group or others (mode 0644)"));
    assert_int_equal(chmod(path, 0640), 0);
    assert_int_equal(keystore_read_file(ctx, path, "pw", 2, back, NULL, err, sizeof err), -1);
    assert_int_equal(chmod(path, 0600), 0);

    char *json = read_text(path);
    char tampered[4096];
    /* a flipped ciphertext digit: MAC mismatch */
    char *ct = strstr(json, "\"ciphertext\":\"") + 14;
    *ct = *ct == '0' ? '1' : '0';
    snprintf(tampered, sizeof tampered, "%s/tampered.json", dir);
    write_text(tampered, json, 0600);
    assert_int_equal(keystore_read_file(ctx, tampered, "pw", 2, back, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "MAC mismatch"));
    free(json);

    /* another address in the file */
    json = read_text(path);
    char *a = strstr(json, "\"address\":\"") + 11;
    *a = *a == 'f' ? 'e' : 'f';
    write_text(tampered, json, 0600);
    assert_int_equal(keystore_read_file(ctx, tampered, "pw", 2, back, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "does not belong"));
    free(json);

    /* malformed files */
    static const char *bad[][2] = {
        {"not json", "not valid JSON"},
        {"{\"version\":1}", "not a version 3"},
        {"{\"version\":3}", "no \"crypto\""},
        {"{\"version\":3,\"crypto\":{\"cipher\":\"aes-256-gcm\"}}", "not supported"},
        {"{\"version\":3,\"crypto\":{\"cipher\":\"aes-128-ctr\",\"cipherparams\":{\"iv\":\"00\"}}}",
         "cipherparams.iv must be 32 hex digits"},
        {"{\"version\":3,\"crypto\":{\"cipher\":\"aes-128-ctr\",\"cipherparams\":{\"iv\":"
         "\"00000000000000000000000000000000\"},\"ciphertext\":"
         "\"0000000000000000000000000000000000000000000000000000000000000000\",\"mac\":"
         "\"0000000000000000000000000000000000000000000000000000000000000000\",\"kdf\":\"scrypt\","
         "\"kdfparams\":{\"n\":1073741824,\"r\":8,\"p\":1,\"dklen\":32,\"salt\":\"00\"}}}",
         "need more than 1 GiB"},
        {"{\"version\":3,\"crypto\":{\"cipher\":\"aes-128-ctr\",\"cipherparams\":{\"iv\":"
         "\"00000000000000000000000000000000\"},\"ciphertext\":"
         "\"0000000000000000000000000000000000000000000000000000000000000000\",\"mac\":"
         "\"0000000000000000000000000000000000000000000000000000000000000000\",\"kdf\":\"scrypt\","
         "\"kdfparams\":{\"n\":1000,\"r\":8,\"p\":1,\"dklen\":32,\"salt\":\"00\"}}}",
         "not a power of two"},
        {"{\"version\":3,\"crypto\":{\"cipher\":\"aes-128-ctr\",\"cipherparams\":{\"iv\":"
         "\"00000000000000000000000000000000\"},\"ciphertext\":"
         "\"0000000000000000000000000000000000000000000000000000000000000000\",\"mac\":"
         "\"0000000000000000000000000000000000000000000000000000000000000000\",\"kdf\":\"argon2\","
         "\"kdfparams\":{}}}",
         "kdf \"argon2\" not supported"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_text(tampered, bad[i][0], 0600);
        err[0] = '\0';
        assert_int_equal(keystore_read_file(ctx, tampered, "pw", 2, back, NULL, err, sizeof err),
                         -1);
        if (!strstr(err, bad[i][1]))
            fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err, bad[i][1]);
    }
    char missing[4096];
    snprintf(missing, sizeof missing, "%s/none.json", dir);
    assert_int_equal(keystore_read_file(ctx, missing, "pw", 2, back, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "No such file"));
}

static void test_password_and_key_files(void **state)
{
    (void)state;
    char path[4096], err[512];
    char *pw;
    size_t n;
    snprintf(path, sizeof path, "%s/pw", dir);
    write_text(path, "secret words\r\nsecond line\n", 0600);
    assert_int_equal(keystore_read_password_file(path, &pw, &n, err, sizeof err), 0);
    assert_int_equal(n, 12);
    assert_string_equal(pw, "secret words");
    keystore_password_free(pw, n);
    write_text(path, "no newline", 0644);
    assert_int_equal(keystore_read_password_file(path, &pw, &n, err, sizeof err), 0);
    assert_string_equal(pw, "no newline");
    keystore_password_free(pw, n);

    uint8_t key[32];
    snprintf(path, sizeof path, "%s/key", dir);
    write_text(path, "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80\n", 0600);
    assert_int_equal(keystore_read_key_file(path, key, err, sizeof err), 0);
    assert_int_equal(key[0], 0xac);
    write_text(path, "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80", 0600);
    assert_int_equal(keystore_read_key_file(path, key, err, sizeof err), 0);
    write_text(path, "0xac09", 0600);
    assert_int_equal(keystore_read_key_file(path, key, err, sizeof err), -1);
    assert_non_null(strstr(err, "64 hex digits"));
    assert_null(strstr(err, "ac09"));
    write_text(path, "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80\n", 0644);
    assert_int_equal(keystore_read_key_file(path, key, err, sizeof err), -1);
    assert_non_null(strstr(err, "group or others"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_spec_vector),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_password_and_key_files),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
