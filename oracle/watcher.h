/*
 * watcher: the websocket side of the chain connection (libwebsockets client).
 *
 * It subscribes to `logs` (one contract address, any of a few topic0s) and `newHeads`, and hands
 * every notification to the caller's callbacks on the lws service thread. When the connection drops
 * or cannot be made it reconnects with exponential backoff (250 ms doubling to 8 s). After
 * each (re)connection, once both subscriptions are confirmed, on_connected runs: that is where
 * the node backfills with eth_getLogs from its journaled cursor, so nothing emitted while the
 * socket was down is missed (logs seen twice are deduplicated by the journal).
 *
 * The watcher does no chain logic itself: confirmations and reorg handling live in the node.
 */
#ifndef SIBYL_ORACLE_WATCHER_H
#define SIBYL_ORACLE_WATCHER_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

struct lws_context;
struct lws_protocols;

typedef struct {
    void (*on_connected)(void *user);
    void (*on_disconnected)(void *user, const char *why);
    void (*on_log)(void *user, const cJSON *log);   /* a log object as in eth_getLogs */
    void (*on_head)(void *user, const cJSON *head); /* a block header */
} watcher_callbacks;

typedef struct watcher watcher;

/* The lws protocol the watcher's client connections use; put it in the context's list. */
void watcher_protocol(struct lws_protocols *out);

/* url: ws://host:port[/path]. The logs subscription is for address and any of the n_topics
 * (1..WATCHER_MAX_TOPICS) event signatures in topic0. Does not connect yet. */
#define WATCHER_MAX_TOPICS 4
int watcher_create(const char *url, const uint8_t address[20], const uint8_t (*topic0)[32],
                   int n_topics, const watcher_callbacks *cb, void *user, watcher **out, char *err,
                   size_t errlen);
/* Starts connecting on ctx (call from the thread that runs lws_service). */
void watcher_start(watcher *w, struct lws_context *ctx);
/* Closes the connection (if any) and stops reconnecting. */
void watcher_stop(watcher *w);
void watcher_destroy(watcher *w);
int watcher_connected(const watcher *w);

#endif
