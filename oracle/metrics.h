/*
 * metrics: the node's Prometheus metrics and its /metrics and /healthz HTTP endpoints, served by
 * libwebsockets' HTTP server on metrics_listen.
 *
 *   sibyl_requests{state="seen"|...}          gauge: requests now in each state
 *   sibyl_request_transitions_total{state}    counter: entries into each state
 *   sibyl_stage_seconds{stage}                histogram: confirm_wait (seen -> confirmed),
 *                                             compute (confirmed -> computed, queue included),
 *                                             submit (computed -> sent), node_overhead (seen ->
 *                                             sent, engine time excluded), mined (sent -> mined)
 *   sibyl_engine_seconds                      histogram: engine_generate wall time
 *   sibyl_rpc_errors_total                    counter: failed JSON-RPC calls (after retries)
 *   sibyl_reorgs_total, sibyl_reorg_cancellations_total
 *   sibyl_reorg_walked_blocks_total          counter: heights compared while walking back to
 *                                             a reorg's fork (0 while every reorg replaced
 *                                             only the top block)
 *   sibyl_tx_sent_total, sibyl_tx_resent_total, sibyl_ws_connects_total
 *   sibyl_head_block                          gauge: the newest head seen
 *
 * All updates are thread-safe (one mutex; updates are a few adds).
 * /healthz answers 200 "ok" while the websocket is connected and the last head is recent,
 * 503 with the reason otherwise.
 */
#ifndef SIBYL_ORACLE_METRICS_H
#define SIBYL_ORACLE_METRICS_H

#include <stddef.h>
#include <stdint.h>

struct lws_protocols;

typedef enum {
    STAGE_CONFIRM_WAIT = 0,
    STAGE_COMPUTE,
    STAGE_SUBMIT,
    STAGE_NODE_OVERHEAD,
    STAGE_MINED,
    STAGE_COUNT
} metrics_stage;

typedef enum {
    MC_RPC_ERRORS = 0,
    MC_REORGS,
    MC_REORG_CANCELLATIONS,
    MC_TX_SENT,
    MC_TX_RESENT,
    MC_WS_CONNECTS,
    MC_REORG_WALKED_BLOCKS,
    MC_COUNT
} metrics_counter;

typedef struct metrics metrics;

metrics *metrics_create(void);
void metrics_destroy(metrics *m);

/* A request moved from state `from` (0 = new) to `to` (req_state values). */
void metrics_transition(metrics *m, int from, int to);
void metrics_observe_stage(metrics *m, metrics_stage s, double seconds);
void metrics_observe_engine(metrics *m, double seconds);
void metrics_add(metrics *m, metrics_counter c, uint64_t n);
void metrics_set_head(metrics *m, uint64_t head);
/* Configured models: how many are served, how many refused (file sha256 != registered hash). */
void metrics_set_models(metrics *m, int served, int refused);
/* Health inputs: the websocket is up or down. */
void metrics_set_connected(metrics *m, int connected);

/* The Prometheus text exposition into a malloc'd string (*len bytes). NULL on out of memory. */
char *metrics_render(metrics *m, size_t *len);
/* 1 healthy (why = "ok") or 0 (why = the reason), written into why[cap]. */
int metrics_health(metrics *m, char *why, size_t cap);

/* The lws protocol that serves GET /metrics and GET /healthz (user = the metrics object, set as
 * the protocol's `user` field). The caller puts it first in its vhost's protocol list. */
void metrics_http_protocol(metrics *m, struct lws_protocols *out);

#endif
