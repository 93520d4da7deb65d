/*
 * sibyl keys: the node's signing key in a Web3 Secret Storage v3 keystore (oracle/keystore.h).
 *
 *   sibyl keys new     --keystore-dir DIR --password-file FILE [--scrypt-n N]
 *   sibyl keys import  --keystore-dir DIR --password-file FILE --private-key-file FILE [--scrypt-n
 * N] sibyl keys address --keystore FILE --password-file FILE
 *
 * new and import print the address (EIP-55) on stdout and the file written on stderr. The
 * private key is never printed; key material is wiped before exit.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/commands.h"
#include "oracle/keystore.h"
#include "oracle/secp.h"

typedef struct {
    const char *keystore_dir, *keystore, *password_file, *private_key_file;
    unsigned long long scrypt_n;
} keys_args;

static void keys_usage(FILE *f)
{
    fprintf(f,
            "usage: sibyl keys new     --keystore-dir DIR --password-file FILE [--scrypt-n N]\n"
            "       sibyl keys import  --keystore-dir DIR --password-file FILE "
            "--private-key-file FILE [--scrypt-n N]\n"
            "       sibyl keys address --keystore FILE --password-file FILE\n"
            "\n"
            "Keystores are Web3 Secret Storage v3 files (geth, cast), written with mode 0600.\n"
            "The password is the first line of the password file. --scrypt-n sets the scrypt cost\n"
            "(a power of two; default 262144).\n");
}

/* Parses "--name value" and "--name=value". Returns 0, or -1 after printing an error. */
static int parse_keys_args(int argc, char **argv, keys_args *a)
{
    memset(a, 0, sizeof *a);
    a->scrypt_n = 262144;
    for (int i = 2; i < argc; i++) {
        const char *arg = argv[i], *val = NULL;
        static const char *names[] = {"--keystore-dir", "--keystore", "--password-file",
                                      "--private-key-file", "--scrypt-n"};
        size_t which = sizeof names / sizeof names[0];
        for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
            size_t n = strlen(names[k]);
            if (!strncmp(arg, names[k], n) && (arg[n] == '\0' || arg[n] == '=')) {
                which = k;
                if (arg[n] == '=')
                    val = arg + n + 1;
                else if (i + 1 < argc)
                    val = argv[++i];
                break;
            }
        }
        if (which == sizeof names / sizeof names[0]) {
            fprintf(stderr, "sibyl keys: unknown option '%s'\n", arg);
            return -1;
        }
        if (!val || !*val) {
            fprintf(stderr, "sibyl keys: %s needs a value\n", names[which]);
            return -1;
        }
        switch (which) {
        case 0:
            a->keystore_dir = val;
            break;
        case 1:
            a->keystore = val;
            break;
        case 2:
            a->password_file = val;
            break;
        case 3:
            a->private_key_file = val;
            break;
        default: {
            char *end;
            errno = 0;
            a->scrypt_n = strtoull(val, &end, 10);
            if (errno || *end || a->scrypt_n < 2 || (a->scrypt_n & (a->scrypt_n - 1))) {
                fprintf(stderr, "sibyl keys: --scrypt-n must be a power of two >= 2\n");
                return -1;
            }
        }
        }
    }
    return 0;
}

static int require(const char *value, const char *option)
{
    if (!value) {
        fprintf(stderr, "sibyl keys: %s is required\n", option);
        return -1;
    }
    return 0;
}

/* Writes key into a new keystore in dir and prints the address. */
static int write_new_keystore(const secp256k1_context *ctx, const keys_args *a,
                              const uint8_t key[32])
{
    char err[512], path[4096], addr_s[43];
    char *pw = NULL;
    size_t pw_len = 0;
    uint8_t addr[20];
    if (keystore_read_password_file(a->password_file, &pw, &pw_len, err, sizeof err) < 0) {
        fprintf(stderr, "sibyl keys: %s\n", err);
        return 1;
    }
    if (pw_len == 0) {
        fprintf(stderr, "sibyl keys: the password file %s holds an empty password\n",
                a->password_file);
        keystore_password_free(pw, pw_len);
        return 1;
    }
    if (mkdir(a->keystore_dir, 0700) < 0 && errno != EEXIST) {
        fprintf(stderr, "sibyl keys: cannot create %s: %s\n", a->keystore_dir, strerror(errno));
        keystore_password_free(pw, pw_len);
        return 1;
    }
    keystore_params params = keystore_default_params();
    params.scrypt_n = a->scrypt_n;
    int rc = keystore_write_dir(ctx, a->keystore_dir, key, pw, pw_len, &params, path, sizeof path,
                                addr, err, sizeof err);
    keystore_password_free(pw, pw_len);
    if (rc < 0) {
        fprintf(stderr, "sibyl keys: %s\n", err);
        return 1;
    }
    eth_address_checksum(addr, addr_s);
    printf("%s\n", addr_s);
    fprintf(stderr, "sibyl keys: wrote %s\n", path);
    return 0;
}

static int keys_new(const secp256k1_context *ctx, const keys_args *a)
{
    if (require(a->keystore_dir, "--keystore-dir") || require(a->password_file, "--password-file"))
        return 2;
    uint8_t key[32];
    char err[256];
    if (secp_key_generate(ctx, key, err, sizeof err) < 0) {
        fprintf(stderr, "sibyl keys: %s\n", err);
        return 1;
    }
    int rc = write_new_keystore(ctx, a, key);
    explicit_bzero(key, sizeof key);
    return rc;
}

static int keys_import(const secp256k1_context *ctx, const keys_args *a)
{
    if (require(a->keystore_dir, "--keystore-dir") ||
        require(a->password_file, "--password-file") ||
        require(a->private_key_file, "--private-key-file"))
        return 2;
    uint8_t key[32];
    char err[512];
    if (keystore_read_key_file(a->private_key_file, key, err, sizeof err) < 0 ||
        secp_key_check(ctx, key, err, sizeof err) < 0) {
        explicit_bzero(key, sizeof key);
        fprintf(stderr, "sibyl keys: %s\n", err);
        return 1;
    }
    int rc = write_new_keystore(ctx, a, key);
    explicit_bzero(key, sizeof key);
    return rc;
}

static int keys_address(const secp256k1_context *ctx, const keys_args *a)
{
    if (require(a->keystore, "--keystore") || require(a->password_file, "--password-file"))
        return 2;
    char err[512], addr_s[43];
    char *pw = NULL;
    size_t pw_len = 0;
    uint8_t key[32], addr[20];
    if (keystore_read_password_file(a->password_file, &pw, &pw_len, err, sizeof err) < 0) {
        fprintf(stderr, "sibyl keys: %s\n", err);
        return 1;
    }
    int rc = keystore_read_file(ctx, a->keystore, pw, pw_len, key, addr, err, sizeof err);
    keystore_password_free(pw, pw_len);
    explicit_bzero(key, sizeof key);
    if (rc < 0) {
        fprintf(stderr, "sibyl keys: %s\n", err);
        return 1;
    }
    eth_address_checksum(addr, addr_s);
    printf("%s\n", addr_s);
    return 0;
}

int cmd_keys(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        keys_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (int i = 2; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            keys_usage(stdout);
            return 0;
        }
    keys_args a;
    if (parse_keys_args(argc, argv, &a) < 0) {
        keys_usage(stderr);
        return 2;
    }
    const char *sub = argv[1];
    if (strcmp(sub, "new") && strcmp(sub, "import") && strcmp(sub, "address")) {
        fprintf(stderr, "sibyl keys: unknown subcommand '%s'\n", sub);
        keys_usage(stderr);
        return 2;
    }
    char err[256];
    secp256k1_context *ctx = secp_context_create(err, sizeof err);
    if (!ctx) {
        fprintf(stderr, "sibyl keys: %s\n", err);
        return 1;
    }
    int rc = !strcmp(sub, "new")      ? keys_new(ctx, &a)
             : !strcmp(sub, "import") ? keys_import(ctx, &a)
                                      : keys_address(ctx, &a);
    secp_context_destroy(ctx);
    return rc;
}
