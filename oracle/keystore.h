/*
 * keystore: Web3 Secret Storage v3 key files (the geth / cast / MetaMask format).
 *
 * Key derivation: scrypt (EVP_PBE_scrypt) or pbkdf2 with hmac-sha256 (PKCS5_PBKDF2_HMAC);
 * cipher: aes-128-ctr with the first 16 bytes of the derived key;
 * mac = keccak256(derivedKey[16..32] || ciphertext).
 *
 * Files are written with mode 0600 (never replaced: creation fails if the file exists), and a
 * key file that group or others can read is refused. A wrong password is reported as
 * "MAC mismatch: wrong password?". Keys, derived keys and passwords are wiped from memory
 * after use and never appear in messages. Functions return 0 on success and -1 with a message
 * in err (errlen bytes; may be NULL).
 */
#ifndef SIBYL_ORACLE_KEYSTORE_H
#define SIBYL_ORACLE_KEYSTORE_H

#include <stddef.h>
#include <stdint.h>

#include <secp256k1.h>

typedef enum { KEYSTORE_KDF_SCRYPT = 0, KEYSTORE_KDF_PBKDF2 = 1 } keystore_kdf;

typedef struct {
    keystore_kdf kdf;
    uint64_t scrypt_n; /* power of two > 1 */
    uint32_t scrypt_r, scrypt_p;
    uint32_t pbkdf2_c; /* iterations */
} keystore_params;

/* scrypt n = 262144, r = 8, p = 1 (geth's "standard" cost: about 256 MiB, ~1 s). */
keystore_params keystore_default_params(void);

/* Encrypts key into a new file at path (mode 0600; fails if path exists). */
int keystore_write_file(const secp256k1_context *ctx, const char *path, const uint8_t key[32],
                        const char *password, size_t password_len, const keystore_params *params,
                        char *err, size_t errlen);
/* Same, into dir under the geth-style name "UTC--<time>--<address hex>"; the path written goes
 * to path_out (path_cap bytes) and the address to addr. */
int keystore_write_dir(const secp256k1_context *ctx, const char *dir, const uint8_t key[32],
                       const char *password, size_t password_len, const keystore_params *params,
                       char *path_out, size_t path_cap, uint8_t addr[20], char *err, size_t errlen);
/* Decrypts the key file at path. Checks the permissions first, then the MAC, then that the
 * key matches the file's "address" field when it has one. addr (may be NULL) gets the
 * address derived from the key. */
int keystore_read_file(const secp256k1_context *ctx, const char *path, const char *password,
                       size_t password_len, uint8_t key[32], uint8_t addr[20], char *err,
                       size_t errlen);

/* Reads a password file: its first line, without the trailing "\n" or "\r\n" (as
 * geth does). *password is malloc'd; wipe and free it with keystore_password_free. */
int keystore_read_password_file(const char *path, char **password, size_t *len, char *err,
                                size_t errlen);
void keystore_password_free(char *password, size_t len);

/* Reads a private key file: "0x"-optional 64 hex digits, optional trailing newline. */
int keystore_read_key_file(const char *path, uint8_t key[32], char *err, size_t errlen);

#endif
