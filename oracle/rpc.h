/*
 * rpc: an Ethereum JSON-RPC client over HTTP (libcurl) with cJSON values.
 *
 * One rpc_client per endpoint; it is not thread-safe (use one per thread). Each call has a
 * timeout; transport errors (connection refused, timeouts, resets) and HTTP 429 and 5xx
 * replies are retried up to max_retries times with exponential backoff (backoff_ms,
 * doubling, capped at backoff_max_ms; a Retry-After header in seconds is honoured within
 * that cap). Other HTTP errors, malformed replies and JSON-RPC error objects are not retried.
 *
 * The program should call curl_global_init(CURL_GLOBAL_DEFAULT) once at start (libcurl does
 * it lazily otherwise).
 */
#ifndef SIBYL_ORACLE_RPC_H
#define SIBYL_ORACLE_RPC_H

#include <stddef.h>

#include <cjson/cJSON.h>

typedef enum {
    RPC_OK = 0,
    RPC_EINVAL = -1,     /* bad argument */
    RPC_ETRANSPORT = -2, /* no usable HTTP reply after all retries */
    RPC_EHTTP = -3,      /* an HTTP status other than 200 (after retries for 429/5xx) */
    RPC_EREPLY = -4,     /* the reply is not a JSON-RPC 2.0 response for our request */
    RPC_EERROR = -5,     /* the node answered with an error object: see rpc_error */
    RPC_ENOMEM = -6
} rpc_status;

typedef struct {
    long timeout_ms;         /* whole request, connect included; default 10000 */
    long connect_timeout_ms; /* default 3000 */
    int max_retries;         /* retries after the first try; default 3 */
    long backoff_ms;         /* first delay; default 200 */
    long backoff_max_ms;     /* default 5000 */
} rpc_options;

/* The defaults above. */
rpc_options rpc_default_options(void);

/* A JSON-RPC error object from the node (e.g. -32601 method not found, 3 execution reverted). */
typedef struct {
    long code;
    char message[512];
    char *data;       /* the "data" member: its text if a string (e.g. revert data "0x08c379a0..."),
                         else printed as compact JSON; malloc'd
                         or NULL; freed by rpc_error_clear */
    long http_status; /* the last HTTP status seen, 0 if none */
    int attempts;     /* how many HTTP requests the call made */
} rpc_error;

void rpc_error_clear(rpc_error *e);

typedef struct rpc_client rpc_client;

/* url: http://host:port[/path]. opts may be NULL (defaults). */
rpc_client *rpc_client_new(const char *url, const rpc_options *opts, char *err, size_t errlen);
void rpc_client_free(rpc_client *c);

/* Calls method with params (a JSON array; NULL = []; not consumed). On RPC_OK *result is the
 * reply's "result" (detached; the caller frees it with cJSON_Delete); it may be a JSON null,
 * e.g. eth_getTransactionReceipt for a transaction not yet mined. On failure a negative
 * rpc_status, a message in err naming the method and the cause, and for RPC_EERROR the
 * node's code/message/data in *rerr (rerr may be NULL; clear it with rpc_error_clear). */
int rpc_call(rpc_client *c, const char *method, const cJSON *params, cJSON **result,
             rpc_error *rerr, char *err, size_t errlen);

/* n calls in ONE HTTP request (a JSON-RPC batch): one round trip instead of n. params[i] is a
 * JSON array or NULL (not consumed). Returns RPC_OK when the exchange worked; then each call
 * has its own outcome in status[i]: RPC_OK with results[i] set (detached; the caller frees each
 * with cJSON_Delete), RPC_EERROR with the node's error in errs[i] (errs may be NULL; clear each
 * with rpc_error_clear), or RPC_EREPLY when the reply carries nothing for that call. Otherwise
 * a negative rpc_status for the whole batch (transport, HTTP, not a JSON array), every
 * results[i] NULL and a message in err. n must be 1..RPC_MAX_BATCH. */
#define RPC_MAX_BATCH 1024
int rpc_call_batch(rpc_client *c, size_t n, const char *const *methods, const cJSON *const *params,
                   cJSON **results, int *status, rpc_error *errs, char *err, size_t errlen);

/* Convenience for calls whose result is a QUANTITY, e.g. eth_chainId, eth_blockNumber. */
int rpc_call_u64(rpc_client *c, const char *method, const cJSON *params, unsigned long long *out,
                 rpc_error *rerr, char *err, size_t errlen);

#endif
