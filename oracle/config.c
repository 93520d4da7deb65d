#include "oracle/config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inference/engine.h"
#include "oracle/hex.h"

void config_defaults(config *c)
{
    memset(c, 0, sizeof *c);
    c->confirmations = 1;
    c->backfill_page_blocks = 1000;
    snprintf(c->journal_dir, sizeof c->journal_dir, "journal");
    c->journal_sync = 1;
    c->journal_map_mb = 1024;
    c->max_input_bytes = 16384;
    c->threads = 0;
    c->backend = ENGINE_BACKEND_CPU;
    c->max_fee_gwei_milli = 200000;
    c->priority_fee_gwei_milli = 1000;
    c->fee_bump_percent = 20;
    c->resend_after_blocks = 3;
    c->receipt_depth = 1;
    c->gas_margin_percent = 25;
    c->gas_estimate_cache = 1;
    c->answers_per_tx = 32;
    c->batch_wait_ms = 100;
    c->registry_refresh_s = 30;
    c->log_level = 1;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = 0;
    return s;
}

static int parse_u64(const char *v, uint64_t max, uint64_t *out)
{
    if (!*v || !isdigit((unsigned char)*v))
        return -1;
    errno = 0;
    char *end;
    unsigned long long x = strtoull(v, &end, 10);
    if (errno || *end || x > max)
        return -1;
    *out = x;
    return 0;
}

/* "12.5" -> 12500 (thousandths); at most three decimals. */
static int parse_milli(const char *v, uint64_t *out)
{
    uint64_t whole = 0, frac = 0;
    int nd = 0;
    const char *p = v;
    if (!isdigit((unsigned char)*p))
        return -1;
    for (; isdigit((unsigned char)*p); p++) {
        whole = whole * 10 + (uint64_t)(*p - '0');
        if (whole > 1000000000ULL)
            return -1;
    }
    if (*p == '.') {
        p++;
        for (; isdigit((unsigned char)*p) && nd < 3; p++, nd++)
            frac = frac * 10 + (uint64_t)(*p - '0');
        if (nd == 0)
            return -1;
    }
    if (*p)
        return -1;
    while (nd++ < 3)
        frac *= 10;
    *out = whole * 1000 + frac;
    return 0;
}

/* Relative paths are taken from the config file's directory. */
static int resolve_path(const char *dir, const char *v, char *out, size_t cap)
{
    int n = (v[0] == '/' || !dir[0]) ? snprintf(out, cap, "%s", v)
                                     : snprintf(out, cap, "%s/%s", dir, v);
    return (n < 0 || (size_t)n >= cap) ? -1 : 0;
}

/* modelId: "0x" + 64 hex digits, or a name of at most 32 ASCII characters, stored left-aligned
 * and zero-padded (what `cast format-bytes32-string` gives). */
static int parse_model_id(const char *v, uint8_t id[32])
{
    memset(id, 0, 32);
    if (v[0] == '0' && (v[1] == 'x' || v[1] == 'X'))
        return hex_decode_exact(v, id, 32, NULL, 0);
    size_t n = strlen(v);
    if (n == 0 || n > 32)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (!isgraph((unsigned char)v[i]))
            return -1;
    memcpy(id, v, n);
    return 0;
}

static int parse_url(const char *v, const char *scheme, char *out, size_t cap)
{
    if (strncmp(v, scheme, strlen(scheme)) != 0 || strlen(v) <= strlen(scheme))
        return -1;
    if (strlen(v) >= cap)
        return -1;
    strcpy(out, v);
    return 0;
}

enum {
    K_RPC_HTTP,
    K_RPC_WS,
    K_CHAIN_ID,
    K_ORACLE,
    K_MODEL,
    K_KEYSTORE,
    K_PASSWORD_FILE,
    K_CONFIRMATIONS,
    K_START_BLOCK,
    K_BACKFILL,
    K_JOURNAL_DIR,
    K_JOURNAL_SYNC,
    K_JOURNAL_MAP,
    K_METRICS,
    K_MAX_INPUT,
    K_THREADS,
    K_BACKEND,
    K_MAX_FEE,
    K_PRIORITY_FEE,
    K_BUMP,
    K_RESEND,
    K_RECEIPT_DEPTH,
    K_GAS_MARGIN,
    K_GAS_CACHE,
    K_ANSWERS_PER_TX,
    K_BATCH_WAIT_MS,
    K_REGISTRY_REFRESH,
    K_LOG_LEVEL,
    K_COUNT
};

static const char *const key_names[K_COUNT] = {"rpc_http",
                                               "rpc_ws",
                                               "chain_id",
                                               "oracle_address",
                                               "model",
                                               "keystore",
                                               "password_file",
                                               "confirmations",
                                               "start_block",
                                               "backfill_page_blocks",
                                               "journal_dir",
                                               "journal_sync",
                                               "journal_map_mb",
                                               "metrics_listen",
                                               "max_input_bytes",
                                               "threads",
                                               "backend",
                                               "max_fee_per_gas_gwei",
                                               "priority_fee_gwei",
                                               "fee_bump_percent",
                                               "resend_after_blocks",
                                               "receipt_depth",
                                               "gas_margin_percent",
                                               "gas_estimate_cache",
                                               "answers_per_tx",
                                               "batch_wait_ms",
                                               "registry_refresh_seconds",
                                               "log_level"};

/* Sets one key; returns 0, or -1 with a description of the expected value in why. */
static int set_key(config *c, int k, const char *v, const char *dir, const char **why)
{
    uint64_t x;
    switch (k) {
    case K_RPC_HTTP:
        *why = "an http:// or https:// URL";
        return parse_url(v, "http", c->rpc_http, sizeof c->rpc_http);
    case K_RPC_WS:
        *why = "a ws:// or wss:// URL";
        return parse_url(v, "ws", c->rpc_ws, sizeof c->rpc_ws);
    case K_CHAIN_ID:
        *why = "a chain id (decimal, > 0)";
        if (parse_u64(v, UINT64_MAX, &x) || x == 0)
            return -1;
        c->chain_id = x;
        return 0;
    case K_ORACLE:
        *why = "a 20-byte address, 0x + 40 hex digits";
        return hex_decode_exact(v, c->oracle_address, 20, NULL, 0);
    case K_MODEL: {
        *why = "'<modelId> <path>': modelId = 0x + 64 hex digits or a name of <= 32 characters";
        if (c->n_models >= CONFIG_MAX_MODELS) {
            *why = "at most 16 models";
            return -1;
        }
        char idtxt[80];
        const char *sp = v;
        while (*sp && !isspace((unsigned char)*sp))
            sp++;
        size_t n = (size_t)(sp - v);
        if (n == 0 || n >= sizeof idtxt)
            return -1;
        memcpy(idtxt, v, n);
        idtxt[n] = 0;
        while (isspace((unsigned char)*sp))
            sp++;
        if (!*sp)
            return -1;
        config_model *m = &c->models[c->n_models];
        if (parse_model_id(idtxt, m->id) || resolve_path(dir, sp, m->path, sizeof m->path))
            return -1;
        for (int i = 0; i < c->n_models; i++)
            if (!memcmp(c->models[i].id, m->id, 32)) {
                *why = "a modelId not given before";
                return -1;
            }
        c->n_models++;
        return 0;
    }
    case K_KEYSTORE:
        *why = "a path";
        return resolve_path(dir, v, c->keystore, sizeof c->keystore);
    case K_PASSWORD_FILE:
        *why = "a path";
        return resolve_path(dir, v, c->password_file, sizeof c->password_file);
    case K_CONFIRMATIONS:
        *why = "a block count 0..1000";
        if (parse_u64(v, 1000, &x))
            return -1;
        c->confirmations = (uint32_t)x;
        return 0;
    case K_START_BLOCK:
        *why = "a block number";
        return parse_u64(v, UINT64_MAX / 2, &c->start_block);
    case K_BACKFILL:
        *why = "a block count 1..100000";
        if (parse_u64(v, 100000, &x) || x == 0)
            return -1;
        c->backfill_page_blocks = (uint32_t)x;
        return 0;
    case K_JOURNAL_DIR:
        *why = "a path";
        return resolve_path(dir, v, c->journal_dir, sizeof c->journal_dir);
    case K_JOURNAL_SYNC:
        *why = "true or false";
        if (!strcmp(v, "true"))
            c->journal_sync = 1;
        else if (!strcmp(v, "false"))
            c->journal_sync = 0;
        else
            return -1;
        return 0;
    case K_JOURNAL_MAP:
        *why = "a size in MiB, 16..1048576";
        if (parse_u64(v, 1048576, &x) || x < 16)
            return -1;
        c->journal_map_mb = x;
        return 0;
    case K_METRICS: {
        *why = "'off' or 127.0.0.1:<port> (an IPv4 address and a port 1..65535)";
        if (!strcmp(v, "off")) {
            c->metrics_host[0] = 0;
            c->metrics_port = 0;
            return 0;
        }
        const char *colon = strrchr(v, ':');
        if (!colon || colon == v || (size_t)(colon - v) >= sizeof c->metrics_host)
            return -1;
        if (parse_u64(colon + 1, 65535, &x) || x == 0)
            return -1;
        memcpy(c->metrics_host, v, (size_t)(colon - v));
        c->metrics_host[colon - v] = 0;
        for (const char *p = c->metrics_host; *p; p++)
            if (!isdigit((unsigned char)*p) && *p != '.')
                return -1;
        c->metrics_port = (int)x;
        return 0;
    }
    case K_MAX_INPUT:
        *why = "a byte count 1..16777216";
        if (parse_u64(v, 16777216, &x) || x == 0)
            return -1;
        c->max_input_bytes = (uint32_t)x;
        return 0;
    case K_THREADS:
        *why = "a thread count 0..1024 (0 = all cores)";
        if (parse_u64(v, 1024, &x))
            return -1;
        c->threads = (int)x;
        return 0;
    case K_BACKEND:
        *why = "cpu or cuda";
        if (!strcmp(v, "cpu"))
            c->backend = ENGINE_BACKEND_CPU;
        else if (!strcmp(v, "cuda"))
            c->backend = ENGINE_BACKEND_CUDA;
        else
            return -1;
        return 0;
    case K_MAX_FEE:
        *why = "gwei, e.g. 200 or 1.5 (> 0, at most three decimals)";
        if (parse_milli(v, &x) || x == 0)
            return -1;
        c->max_fee_gwei_milli = x;
        return 0;
    case K_PRIORITY_FEE:
        *why = "gwei, e.g. 1 or 0.1 (at most three decimals)";
        return parse_milli(v, &c->priority_fee_gwei_milli);
    case K_BUMP:
        *why = "a percentage 10..1000 (nodes refuse replacements under +10%)";
        if (parse_u64(v, 1000, &x) || x < 10)
            return -1;
        c->fee_bump_percent = (uint32_t)x;
        return 0;
    case K_RESEND:
        *why = "a block count 1..10000";
        if (parse_u64(v, 10000, &x) || x == 0)
            return -1;
        c->resend_after_blocks = (uint32_t)x;
        return 0;
    case K_REGISTRY_REFRESH:
        *why = "seconds 1..86400";
        if (parse_u64(v, 86400, &x) || x == 0)
            return -1;
        c->registry_refresh_s = (uint32_t)x;
        return 0;
    case K_RECEIPT_DEPTH:
        *why = "a block count 0..1000";
        if (parse_u64(v, 1000, &x))
            return -1;
        c->receipt_depth = (uint32_t)x;
        return 0;
    case K_GAS_MARGIN:
        *why = "a percentage 0..1000";
        if (parse_u64(v, 1000, &x))
            return -1;
        c->gas_margin_percent = (uint32_t)x;
        return 0;
    case K_GAS_CACHE:
        *why = "true or false";
        if (!strcmp(v, "true"))
            c->gas_estimate_cache = 1;
        else if (!strcmp(v, "false"))
            c->gas_estimate_cache = 0;
        else
            return -1;
        return 0;
    case K_ANSWERS_PER_TX:
        *why = "a count 1..256 (1: one answer per transaction)";
        if (parse_u64(v, 256, &x) || x == 0)
            return -1;
        c->answers_per_tx = (uint32_t)x;
        return 0;
    case K_BATCH_WAIT_MS:
        *why = "milliseconds 0..10000 (0: never hold an answer back)";
        if (parse_u64(v, 10000, &x))
            return -1;
        c->batch_wait_ms = (uint32_t)x;
        return 0;
    case K_LOG_LEVEL:
        *why = "debug, info, warn or error";
        if (!strcmp(v, "debug"))
            c->log_level = 0;
        else if (!strcmp(v, "info"))
            c->log_level = 1;
        else if (!strcmp(v, "warn"))
            c->log_level = 2;
        else if (!strcmp(v, "error"))
            c->log_level = 3;
        else
            return -1;
        return 0;
    }
    return -1;
}

int config_load(const char *path, config *c, char *err, size_t errlen)
{
    config_defaults(c);
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    char dir[CONFIG_PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = 0;
    else
        dir[0] = 0;

    int seen[K_COUNT] = {0};
    char line[4096];
    int lineno = 0, rc = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        size_t len = strlen(line);
        if (len == sizeof line - 1 && line[len - 1] != '\n') {
            snprintf(err, errlen, "%s:%d: line longer than %zu characters", path, lineno,
                     sizeof line - 2);
            rc = -1;
            break;
        }
        char *hash = strchr(line, '#');
        if (hash)
            *hash = 0;
        char *s = trim(line);
        if (!*s)
            continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            snprintf(err, errlen, "%s:%d: expected 'key = value', got '%s'", path, lineno, s);
            rc = -1;
            break;
        }
        *eq = 0;
        char *key = trim(s), *val = trim(eq + 1);
        int k = -1;
        for (int i = 0; i < K_COUNT; i++)
            if (!strcmp(key, key_names[i]))
                k = i;
        if (k < 0) {
            snprintf(err, errlen, "%s:%d: unknown key '%s' (see docs/operating.md)", path, lineno,
                     key);
            rc = -1;
            break;
        }
        if (seen[k] && k != K_MODEL) {
            snprintf(err, errlen, "%s:%d: '%s' is set twice (first on line %d)", path, lineno, key,
                     seen[k]);
            rc = -1;
            break;
        }
        seen[k] = lineno;
        if (!*val) {
            snprintf(err, errlen, "%s:%d: '%s' has no value", path, lineno, key);
            rc = -1;
            break;
        }
        const char *why = "a valid value";
        if (set_key(c, k, val, dir, &why)) {
            snprintf(err, errlen, "%s:%d: bad value '%s' for '%s': expected %s", path, lineno, val,
                     key, why);
            rc = -1;
            break;
        }
    }
    if (!rc && ferror(f)) {
        snprintf(err, errlen, "%s: read error", path);
        rc = -1;
    }
    fclose(f);
    if (rc)
        return rc;
    static const int required[] = {K_RPC_HTTP, K_RPC_WS, K_CHAIN_ID, K_ORACLE, K_MODEL, K_KEYSTORE};
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++)
        if (!seen[required[i]]) {
            snprintf(err, errlen, "%s: required key '%s' is missing", path, key_names[required[i]]);
            return -1;
        }
    return 0;
}

int config_password(const config *c, char *out, size_t outlen, char *err, size_t errlen)
{
    if (c->password_file[0]) {
        FILE *f = fopen(c->password_file, "r");
        if (!f) {
            snprintf(err, errlen, "password_file %s: %s", c->password_file, strerror(errno));
            return -1;
        }
        if (!fgets(out, (int)outlen, f)) {
            fclose(f);
            snprintf(err, errlen, "password_file %s: empty", c->password_file);
            return -1;
        }
        fclose(f);
        out[strcspn(out, "\r\n")] = 0;
        return 0;
    }
    const char *env = getenv("SIBYL_KEYSTORE_PASSWORD");
    if (!env) {
        snprintf(err, errlen,
                 "no keystore password: set password_file in the config or "
                 "SIBYL_KEYSTORE_PASSWORD in the environment");
        return -1;
    }
    if (strlen(env) >= outlen) {
        snprintf(err, errlen, "SIBYL_KEYSTORE_PASSWORD is too long");
        return -1;
    }
    strcpy(out, env);
    return 0;
}
