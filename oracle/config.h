/*
 * config: the node's settings, read from a `key = value` file (oracle.conf).
 *
 * Format: one setting per line; `#` starts a comment (whole line or after a value); blank
 * lines are ignored; keys are lowercase words; `model` may be given several times, every other
 * key at most once. Relative paths are resolved against the directory of the config file.
 * Every key is described in oracle.conf itself and in docs/operating.md.
 *
 * config_load() fails on a missing or unreadable file, an unknown key, a repeated key, a bad
 * value or a missing required key, with a message that names the file, the line and the key.
 */
#ifndef SIBYL_ORACLE_CONFIG_H
#define SIBYL_ORACLE_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#define CONFIG_MAX_MODELS 16
#define CONFIG_PATH_MAX 1024
#define CONFIG_URL_MAX 512

typedef struct {
    uint8_t id[32];             /* modelId as the contract knows it (bytes32) */
    char path[CONFIG_PATH_MAX]; /* the GGUF file */
} config_model;

typedef struct {
    char rpc_http[CONFIG_URL_MAX]; /* http://host:port of the JSON-RPC endpoint */
    char rpc_ws[CONFIG_URL_MAX];   /* ws://host:port[/path] for eth_subscribe */
    uint64_t chain_id;
    uint8_t oracle_address[20];
    config_model models[CONFIG_MAX_MODELS];
    int n_models;
    char keystore[CONFIG_PATH_MAX];      /* v3 keystore JSON of the node's signing key */
    char password_file[CONFIG_PATH_MAX]; /* "" = take SIBYL_KEYSTORE_PASSWORD from the env */
    uint32_t confirmations;              /* blocks on top of the request's block before acting */
    uint64_t start_block;                /* first block to scan when the journal is empty */
    uint32_t backfill_page_blocks;       /* eth_getLogs range per call */
    char journal_dir[CONFIG_PATH_MAX];
    int journal_sync;        /* 1: fsync every journal commit (power-loss safe) */
    uint64_t journal_map_mb; /* LMDB map size */
    char metrics_host[64];   /* "" = no metrics server */
    int metrics_port;
    uint32_t max_input_bytes;
    int threads;                 /* engine CPU threads, 0 = all cores */
    int backend;                 /* ENGINE_BACKEND_CPU / ENGINE_BACKEND_CUDA */
    uint64_t max_fee_gwei_milli; /* fee cap in milli-gwei (max_fee_per_gas_gwei * 1000) */
    uint64_t priority_fee_gwei_milli;
    uint32_t fee_bump_percent; /* replacement fee increase, >= 10 */
    uint32_t resend_after_blocks;
    uint32_t receipt_depth;      /* blocks on top of our receipt before the request is final */
    uint32_t gas_margin_percent; /* added to eth_estimateGas */
    int gas_estimate_cache;      /* reuse estimates for transactions of the same shape */
    uint32_t answers_per_tx; /* answers one transaction may carry (answerMany), 1 = no batching */
    uint32_t batch_wait_ms;  /* hold answers this long at most while our last send is unmined */
    uint32_t registry_refresh_s; /* re-read the model/node registry this often */
    int log_level;               /* 0 debug, 1 info, 2 warn, 3 error */
} config;

/* Fills c with the defaults (everything but the required keys). */
void config_defaults(config *c);
int config_load(const char *path, config *c, char *err, size_t errlen);
/* The keystore password: the password_file's first line, else $SIBYL_KEYSTORE_PASSWORD. */
int config_password(const config *c, char *out, size_t outlen, char *err, size_t errlen);

#endif
