/*
 * Web3 Secret Storage v3. See keystore.h.
 *
 * Secrets (the private key, the derived key, the plaintext buffers) live in local arrays that
 * are wiped with explicit_bzero on every path out of the function that holds them.
 */
#include "oracle/keystore.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "oracle/hex.h"
#include "oracle/keccak.h"
#include "oracle/secp.h"

#define KEYSTORE_MAX_FILE (64 * 1024)
/* Reading a file must not let it demand unbounded work: scrypt memory and pbkdf2 rounds. */
#define KEYSTORE_MAX_SCRYPT_MEM ((uint64_t)1 << 30)
#define KEYSTORE_MAX_PBKDF2_C 100000000u

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

keystore_params keystore_default_params(void)
{
    keystore_params p = {KEYSTORE_KDF_SCRYPT, 262144, 8, 1, 262144};
    return p;
}

static int os_random(uint8_t *p, size_t n, char *err, size_t errlen)
{
    while (n) {
        ssize_t got = getrandom(p, n, 0);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            return fail(err, errlen, "getrandom: %s", strerror(errno));
        }
        p += got;
        n -= (size_t)got;
    }
    return 0;
}

/* Plain hex without "0x" (the keystore's own convention), exactly n bytes. */
static int unhex(const char *s, uint8_t *out, size_t n, const char *what, char *err, size_t errlen)
{
    if (!s)
        return fail(err, errlen, "keystore: %s is missing", what);
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
        s += 2;
    if (strlen(s) != 2 * n)
        return fail(err, errlen, "keystore: %s must be %zu hex digits", what, 2 * n);
    for (size_t i = 0; i < 2 * n; i++) {
        char c = s[i];
        int d = (c >= '0' && c <= '9')   ? c - '0'
                : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                         : -1;
        if (d < 0)
            return fail(err, errlen, "keystore: %s has a non-hex character at position %zu", what,
                        i);
        if (i % 2)
            out[i / 2] = (uint8_t)(out[i / 2] | d);
        else
            out[i / 2] = (uint8_t)(d << 4);
    }
    return 0;
}

static void tohex(char *out, const uint8_t *p, size_t n)
{
    char tmp[2 * 64 + 3];
    hex_encode(tmp, p, n); /* n <= 64 here */
    memcpy(out, tmp + 2, 2 * n + 1);
}

static int derive_key(const keystore_params *kp, const char *password, size_t password_len,
                      const uint8_t *salt, size_t salt_len, uint8_t dk[32], char *err,
                      size_t errlen)
{
    if (kp->kdf == KEYSTORE_KDF_SCRYPT) {
        uint64_t n = kp->scrypt_n;
        if (n < 2 || (n & (n - 1)))
            return fail(err, errlen, "keystore: scrypt n = %llu is not a power of two > 1",
                        (unsigned long long)n);
        if (kp->scrypt_r == 0 || kp->scrypt_p == 0)
            return fail(err, errlen, "keystore: scrypt r and p must be positive");
        /* the memory OpenSSL needs: 128 r (n + p + 2) bytes, plus headroom */
        uint64_t r = kp->scrypt_r, p = kp->scrypt_p;
        if (n > KEYSTORE_MAX_SCRYPT_MEM || r > 1024 || p > 1024 ||
            128 * r * (n + p + 2) > KEYSTORE_MAX_SCRYPT_MEM)
            return fail(
                err, errlen,
                "keystore: scrypt parameters n=%llu r=%u p=%u need more than 1 GiB; refused",
                (unsigned long long)n, kp->scrypt_r, kp->scrypt_p);
        uint64_t maxmem = 128 * r * (n + p + 2) + (1 << 20);
        if (!EVP_PBE_scrypt(password, password_len, salt, salt_len, n, r, p, maxmem, dk, 32))
            return fail(err, errlen, "keystore: scrypt failed (n=%llu r=%u p=%u)",
                        (unsigned long long)n, kp->scrypt_r, kp->scrypt_p);
        return 0;
    }
    if (kp->kdf == KEYSTORE_KDF_PBKDF2) {
        if (kp->pbkdf2_c == 0 || kp->pbkdf2_c > KEYSTORE_MAX_PBKDF2_C)
            return fail(err, errlen, "keystore: pbkdf2 iteration count %u out of range",
                        kp->pbkdf2_c);
        if (!PKCS5_PBKDF2_HMAC(password, (int)password_len, salt, (int)salt_len, (int)kp->pbkdf2_c,
                               EVP_sha256(), 32, dk))
            return fail(err, errlen, "keystore: pbkdf2 failed");
        return 0;
    }
    return fail(err, errlen, "keystore: unknown kdf");
}

/* AES-128-CTR is its own inverse. */
static int aes128_ctr(const uint8_t key[16], const uint8_t iv[16], const uint8_t *in, uint8_t *out,
                      size_t n, char *err, size_t errlen)
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int ok = c && EVP_EncryptInit_ex(c, EVP_aes_128_ctr(), NULL, key, iv);
    int outl = 0, finl = 0;
    ok = ok && EVP_EncryptUpdate(c, out, &outl, in, (int)n);
    ok = ok && EVP_EncryptFinal_ex(c, out + outl, &finl);
    EVP_CIPHER_CTX_free(c);
    if (!ok || (size_t)(outl + finl) != n)
        return fail(err, errlen, "keystore: aes-128-ctr failed");
    return 0;
}

static void keystore_mac(const uint8_t dk[32], const uint8_t *ct, size_t n, uint8_t mac[32])
{
    keccak256_ctx c;
    keccak256_init(&c);
    keccak256_update(&c, dk + 16, 16);
    keccak256_update(&c, ct, n);
    keccak256_final(&c, mac);
}

int keystore_write_file(const secp256k1_context *ctx, const char *path, const uint8_t key[32],
                        const char *password, size_t password_len, const keystore_params *params,
                        char *err, size_t errlen)
{
    keystore_params kp = params ? *params : keystore_default_params();
    uint8_t addr[20], salt[32], iv[16], dk[32], ct[32], mac[32], uuid[16];
    if (secp_key_address(ctx, key, addr, err, errlen) < 0)
        return -1;
    if (os_random(salt, sizeof salt, err, errlen) < 0 ||
        os_random(iv, sizeof iv, err, errlen) < 0 || os_random(uuid, sizeof uuid, err, errlen) < 0)
        return -1;
    int rc = -1;
    if (derive_key(&kp, password, password_len, salt, sizeof salt, dk, err, errlen) < 0)
        goto out;
    if (aes128_ctr(dk, iv, key, ct, 32, err, errlen) < 0)
        goto out;
    keystore_mac(dk, ct, 32, mac);
    uuid[6] = (uint8_t)((uuid[6] & 0x0f) | 0x40); /* version 4 */
    uuid[8] = (uint8_t)((uuid[8] & 0x3f) | 0x80); /* variant 10 */

    char h_addr[41], h_salt[65], h_iv[33], h_ct[65], h_mac[65], h_uuid[33], kdfparams[160];
    tohex(h_addr, addr, 20);
    tohex(h_salt, salt, 32);
    tohex(h_iv, iv, 16);
    tohex(h_ct, ct, 32);
    tohex(h_mac, mac, 32);
    tohex(h_uuid, uuid, 16);
    if (kp.kdf == KEYSTORE_KDF_SCRYPT)
        snprintf(kdfparams, sizeof kdfparams,
                 "\"kdf\":\"scrypt\",\"kdfparams\":{\"dklen\":32,\"n\":%llu,\"p\":%u,\"r\":%u,"
                 "\"salt\":\"%s\"}",
                 (unsigned long long)kp.scrypt_n, kp.scrypt_p, kp.scrypt_r, h_salt);
    else
        snprintf(kdfparams, sizeof kdfparams,
                 "\"kdf\":\"pbkdf2\",\"kdfparams\":{\"c\":%u,\"dklen\":32,\"prf\":\"hmac-sha256\","
                 "\"salt\":\"%s\"}",
                 kp.pbkdf2_c, h_salt);
    char json[1024];
    int n = snprintf(json, sizeof json,
                     "{\"address\":\"%s\",\"crypto\":{\"cipher\":\"aes-128-ctr\","
                     "\"cipherparams\":{\"iv\":\"%s\"},\"ciphertext\":\"%s\",%s,\"mac\":\"%s\"},"
                     "\"id\":\"%.8s-%.4s-%.4s-%.4s-%.12s\",\"version\":3}\n",
                     h_addr, h_iv, h_ct, kdfparams, h_mac, h_uuid, h_uuid + 8, h_uuid + 12,
                     h_uuid + 16, h_uuid + 20);

    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        fail(err, errlen, "keystore: cannot create %s: %s", path, strerror(errno));
        goto out;
    }
    if (fchmod(fd, 0600) < 0 || write(fd, json, (size_t)n) != n || fsync(fd) < 0) {
        fail(err, errlen, "keystore: cannot write %s: %s", path, strerror(errno));
        close(fd);
        unlink(path);
        goto out;
    }
    if (close(fd) < 0) {
        fail(err, errlen, "keystore: cannot write %s: %s", path, strerror(errno));
        unlink(path);
        goto out;
    }
    rc = 0;
out:
    explicit_bzero(dk, sizeof dk);
    return rc;
}

int keystore_write_dir(const secp256k1_context *ctx, const char *dir, const uint8_t key[32],
                       const char *password, size_t password_len, const keystore_params *params,
                       char *path_out, size_t path_cap, uint8_t addr[20], char *err, size_t errlen)
{
    uint8_t a[20];
    if (secp_key_address(ctx, key, a, err, errlen) < 0)
        return -1;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char h_addr[41];
    tohex(h_addr, a, 20);
    int n = snprintf(path_out, path_cap, "%s/UTC--%04d-%02d-%02dT%02d-%02d-%02d.%09ldZ--%s", dir,
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec, h_addr);
    if (n < 0 || (size_t)n >= path_cap)
        return fail(err, errlen, "keystore: path in %s too long", dir);
    if (keystore_write_file(ctx, path_out, key, password, password_len, params, err, errlen) < 0)
        return -1;
    if (addr)
        memcpy(addr, a, 20);
    return 0;
}

/* Reads a whole small file after checking that only its owner can access it. */
static char *read_private_file(const char *path, const char *what, int check_mode, size_t *len,
                               char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fail(err, errlen, "cannot open %s %s: %s", what, path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        fail(err, errlen, "cannot stat %s %s: %s", what, path, strerror(errno));
        close(fd);
        return NULL;
    }
    if (!S_ISREG(st.st_mode)) {
        fail(err, errlen, "%s %s is not a regular file", what, path);
        close(fd);
        return NULL;
    }
    if (check_mode && (st.st_mode & 077)) {
        fail(err, errlen,
             "%s %s is accessible by group or others (mode %04o); refusing to use it: "
             "run chmod 600 %s",
             what, path, (unsigned)(st.st_mode & 07777), path);
        close(fd);
        return NULL;
    }
    if (st.st_size > KEYSTORE_MAX_FILE) {
        fail(err, errlen, "%s %s is too large (%lld bytes)", what, path, (long long)st.st_size);
        close(fd);
        return NULL;
    }
    size_t cap = (size_t)st.st_size + 1;
    char *p = malloc(cap);
    if (!p) {
        fail(err, errlen, "out of memory reading %s", path);
        close(fd);
        return NULL;
    }
    size_t n = 0;
    while (n < cap - 1) {
        ssize_t got = read(fd, p + n, cap - 1 - n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            fail(err, errlen, "cannot read %s %s: %s", what, path, strerror(errno));
            explicit_bzero(p, cap);
            free(p);
            close(fd);
            return NULL;
        }
        if (got == 0)
            break;
        n += (size_t)got;
    }
    close(fd);
    p[n] = '\0';
    *len = n;
    return p;
}

static const char *json_str(const cJSON *obj, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int json_uint(const cJSON *obj, const char *name, uint64_t max, uint64_t *out, char *err,
                     size_t errlen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > (double)max ||
        v->valuedouble != (double)(uint64_t)v->valuedouble)
        return fail(err, errlen, "keystore: kdfparams.%s is missing or not a valid integer", name);
    *out = (uint64_t)v->valuedouble;
    return 0;
}

static int parse_and_decrypt(const secp256k1_context *ctx, const cJSON *root, const char *password,
                             size_t password_len, uint8_t key[32], uint8_t addr[20], char *err,
                             size_t errlen)
{
    const cJSON *version = cJSON_GetObjectItemCaseSensitive(root, "version");
    if (!cJSON_IsNumber(version) || version->valuedouble != 3)
        return fail(err, errlen, "keystore: not a version 3 key file");
    const cJSON *crypto = cJSON_GetObjectItemCaseSensitive(root, "crypto");
    if (!crypto)
        crypto = cJSON_GetObjectItemCaseSensitive(root, "Crypto");
    if (!cJSON_IsObject(crypto))
        return fail(err, errlen, "keystore: no \"crypto\" object");
    const char *cipher = json_str(crypto, "cipher");
    if (!cipher || strcmp(cipher, "aes-128-ctr"))
        return fail(err, errlen, "keystore: cipher \"%.40s\" not supported (aes-128-ctr only)",
                    cipher ? cipher : "(missing)");
    const cJSON *cp = cJSON_GetObjectItemCaseSensitive(crypto, "cipherparams");
    uint8_t iv[16], ct[32], mac[32], salt[64];
    if (unhex(json_str(cp, "iv"), iv, 16, "cipherparams.iv", err, errlen) < 0)
        return -1;
    const char *cts = json_str(crypto, "ciphertext");
    if (unhex(cts, ct, 32, "ciphertext", err, errlen) < 0)
        return -1;
    if (unhex(json_str(crypto, "mac"), mac, 32, "mac", err, errlen) < 0)
        return -1;
    const char *kdf = json_str(crypto, "kdf");
    const cJSON *kdfp = cJSON_GetObjectItemCaseSensitive(crypto, "kdfparams");
    if (!kdf || !cJSON_IsObject(kdfp))
        return fail(err, errlen, "keystore: kdf or kdfparams missing");
    keystore_params kp = keystore_default_params();
    uint64_t v = 0;
    if (!strcmp(kdf, "scrypt")) {
        kp.kdf = KEYSTORE_KDF_SCRYPT;
        if (json_uint(kdfp, "n", UINT32_MAX, &kp.scrypt_n, err, errlen) < 0)
            return -1;
        if (json_uint(kdfp, "r", 1024, &v, err, errlen) < 0)
            return -1;
        kp.scrypt_r = (uint32_t)v;
        if (json_uint(kdfp, "p", 1024, &v, err, errlen) < 0)
            return -1;
        kp.scrypt_p = (uint32_t)v;
    } else if (!strcmp(kdf, "pbkdf2")) {
        kp.kdf = KEYSTORE_KDF_PBKDF2;
        const char *prf = json_str(kdfp, "prf");
        if (!prf || strcmp(prf, "hmac-sha256"))
            return fail(err, errlen,
                        "keystore: pbkdf2 prf \"%.40s\" not supported (hmac-sha256 only)",
                        prf ? prf : "(missing)");
        if (json_uint(kdfp, "c", KEYSTORE_MAX_PBKDF2_C, &v, err, errlen) < 0)
            return -1;
        kp.pbkdf2_c = (uint32_t)v;
    } else {
        return fail(err, errlen, "keystore: kdf \"%.40s\" not supported (scrypt, pbkdf2)", kdf);
    }
    if (json_uint(kdfp, "dklen", 1024, &v, err, errlen) < 0)
        return -1;
    if (v != 32)
        return fail(err, errlen, "keystore: dklen %llu not supported (32 only)",
                    (unsigned long long)v);
    const char *salts = json_str(kdfp, "salt");
    size_t salt_len = salts ? strlen(salts) / 2 : 0;
    if (!salts || salt_len == 0 || salt_len > sizeof salt || strlen(salts) % 2)
        return fail(err, errlen, "keystore: kdfparams.salt missing or of a bad length");
    if (unhex(salts, salt, salt_len, "kdfparams.salt", err, errlen) < 0)
        return -1;

    uint8_t dk[32], want[32];
    if (derive_key(&kp, password, password_len, salt, salt_len, dk, err, errlen) < 0) {
        explicit_bzero(dk, sizeof dk);
        return -1;
    }
    keystore_mac(dk, ct, 32, want);
    if (CRYPTO_memcmp(want, mac, 32)) {
        explicit_bzero(dk, sizeof dk);
        return fail(err, errlen, "keystore: MAC mismatch: wrong password?");
    }
    int rc = aes128_ctr(dk, iv, ct, key, 32, err, errlen);
    explicit_bzero(dk, sizeof dk);
    if (rc < 0)
        return -1;
    uint8_t a[20];
    if (secp_key_address(ctx, key, a, err, errlen) < 0) {
        explicit_bzero(key, 32);
        return -1;
    }
    const char *file_addr = json_str(root, "address");
    if (file_addr) {
        uint8_t fa[20];
        if (unhex(file_addr, fa, 20, "address", err, errlen) < 0) {
            explicit_bzero(key, 32);
            return -1;
        }
        if (memcmp(fa, a, 20)) {
            explicit_bzero(key, 32);
            return fail(err, errlen,
                        "keystore: the decrypted key does not belong to the file's address %.42s",
                        file_addr);
        }
    }
    if (addr)
        memcpy(addr, a, 20);
    return 0;
}

int keystore_read_file(const secp256k1_context *ctx, const char *path, const char *password,
                       size_t password_len, uint8_t key[32], uint8_t addr[20], char *err,
                       size_t errlen)
{
    size_t len;
    char *text = read_private_file(path, "keystore", 1, &len, err, errlen);
    if (!text)
        return -1;
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text); /* not secret: the key in it is encrypted */
    if (!root)
        return fail(err, errlen, "keystore %s is not valid JSON", path);
    char e[256] = "";
    int rc = parse_and_decrypt(ctx, root, password, password_len, key, addr, e, sizeof e);
    cJSON_Delete(root);
    if (rc < 0)
        return fail(err, errlen, "%s (%s)", e, path);
    return 0;
}

int keystore_read_password_file(const char *path, char **password, size_t *len, char *err,
                                size_t errlen)
{
    size_t n;
    char *text = read_private_file(path, "password file", 0, &n, err, errlen);
    if (!text)
        return -1;
    size_t line = 0;
    while (line < n && text[line] != '\n')
        line++;
    if (line > 0 && text[line - 1] == '\r')
        line--;
    explicit_bzero(text + line, n - line);
    text[line] = '\0';
    *password = text;
    *len = line;
    return 0;
}

void keystore_password_free(char *password, size_t len)
{
    if (password) {
        explicit_bzero(password, len);
        free(password);
    }
}

int keystore_read_key_file(const char *path, uint8_t key[32], char *err, size_t errlen)
{
    size_t n;
    char *text = read_private_file(path, "private key file", 1, &n, err, errlen);
    if (!text)
        return -1;
    size_t end = n;
    while (end > 0 && (text[end - 1] == '\n' || text[end - 1] == '\r' || text[end - 1] == ' '))
        end--;
    text[end] = '\0';
    char e[128];
    int rc = unhex(text, key, 32, "private key", e, sizeof e);
    explicit_bzero(text, n);
    free(text);
    if (rc < 0) {
        explicit_bzero(key, 32);
        return fail(err, errlen, "private key file %s: must hold 64 hex digits", path);
    }
    return 0;
}
