#include "attest/attestation.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "inference/engine.h"
#include "oracle/keccak.h"
#include "oracle/log.h"

/* The cache value: the identity the hash was computed for, then the hash. */
typedef struct {
    uint64_t dev, ino, size;
    int64_t mtime_sec, mtime_nsec;
    uint8_t hash[32];
} model_hash_entry;

int attest_model_hash(const char *path, journal *j, int progress, uint8_t out[32], char *err,
                      size_t errlen)
{
    struct stat st;
    if (stat(path, &st)) {
        snprintf(err, errlen, "model %s: %s", path, strerror(errno));
        return -1;
    }
    model_hash_entry id;
    memset(&id, 0, sizeof id);
    id.dev = (uint64_t)st.st_dev;
    id.ino = (uint64_t)st.st_ino;
    id.size = (uint64_t)st.st_size;
    id.mtime_sec = (int64_t)st.st_mtim.tv_sec;
    id.mtime_nsec = (int64_t)st.st_mtim.tv_nsec;
    char key[64];
    snprintf(key, sizeof key, "modelhash:%llx:%llx", (unsigned long long)id.dev,
             (unsigned long long)id.ino);
    if (j) {
        model_hash_entry cached;
        size_t n = 0;
        if (journal_meta_get(j, key, &cached, sizeof cached, &n) == 1 && n == sizeof cached &&
            cached.size == id.size && cached.mtime_sec == id.mtime_sec &&
            cached.mtime_nsec == id.mtime_nsec) {
            memcpy(out, cached.hash, 32);
            return 0;
        }
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "model %s: %s", path, strerror(errno));
        return -1;
    }
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) {
        EVP_MD_CTX_free(ctx);
        fclose(f);
        snprintf(err, errlen, "sha256: OpenSSL init failed");
        return -1;
    }
    unsigned char *chunk = malloc(1 << 20);
    if (!chunk) {
        EVP_MD_CTX_free(ctx);
        fclose(f);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    uint64_t done = 0, next_report = id.size / 10;
    int show = progress && id.size > (64u << 20);
    if (show)
        log_msg(LOG_INFO, NULL, "hashing model %s (%.1f MiB, sha256, once per file version)", path,
                (double)id.size / 1048576.0);
    size_t n;
    while ((n = fread(chunk, 1, 1 << 20, f)) > 0) {
        EVP_DigestUpdate(ctx, chunk, n);
        done += n;
        if (show && done >= next_report && done < id.size) {
            log_msg(LOG_INFO, NULL, "hashing model %s: %d%%", path,
                    (int)(done * 100 / (id.size ? id.size : 1)));
            next_report += id.size / 10;
        }
    }
    int bad = ferror(f);
    free(chunk);
    fclose(f);
    unsigned len = 0;
    if (bad || !EVP_DigestFinal_ex(ctx, out, &len) || len != 32) {
        EVP_MD_CTX_free(ctx);
        snprintf(err, errlen, "model %s: read error while hashing", path);
        return -1;
    }
    EVP_MD_CTX_free(ctx);
    if (done != id.size) {
        snprintf(err, errlen, "model %s changed while it was hashed", path);
        return -1;
    }
    if (j) {
        memcpy(id.hash, out, 32);
        char e2[256];
        if (journal_meta_put(j, key, &id, sizeof id, e2, sizeof e2))
            log_msg(LOG_WARN, NULL, "model hash not cached: %s", e2);
    }
    return 0;
}

void attest_engine_version(uint8_t out[32])
{
    memset(out, 0, 32);
    memcpy(out, ENGINE_ARITH_VERSION, strlen(ENGINE_ARITH_VERSION));
}

void attest_build(sibyl_attestation *a, const uint8_t request_id[32], const uint8_t seed[32],
                  const uint8_t model_hash[32], const uint8_t *input, size_t input_len,
                  const uint8_t *params, size_t params_len, const uint8_t *output,
                  size_t output_len, uint16_t reject_code)
{
    memset(a, 0, sizeof *a);
    memcpy(a->request_id.b, request_id, 32);
    memcpy(a->seed.b, seed, 32);
    memcpy(a->model_hash, model_hash, 32);
    keccak256(input, input_len, a->input_hash);
    keccak256(params, params_len, a->params_hash);
    keccak256(reject_code ? NULL : output, reject_code ? 0 : output_len, a->output_hash);
    attest_engine_version(a->engine_version);
    a->reject_code = reject_code;
}
