#include "oracle/watcher.h"

#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oracle/hex.h"
#include "oracle/log.h"

#define BACKOFF_MIN_US 250000
#define BACKOFF_MAX_US 8000000

struct watcher {
    char url[512];
    char host[256], path[256];
    int port, tls;
    char address_hex[43];
    char topics_json[WATCHER_MAX_TOPICS * 70 + 4]; /* ["0x..","0x.."] */
    watcher_callbacks cb;
    void *user;
    struct lws_context *ctx;
    struct lws *wsi;
    lws_sorted_usec_list_t sul;
    long backoff_us;
    int stopping;
    int subscribed; /* bit 0: logs, bit 1: newHeads */
    int sent;       /* subscription requests written so far */
    char logs_sub[80], heads_sub[80];
    /* the message being reassembled */
    char *rx;
    size_t rx_len, rx_cap;
};

static void connect_now(lws_sorted_usec_list_t *sul);

static void schedule_reconnect(watcher *w)
{
    if (w->stopping)
        return;
    lws_sul_schedule(w->ctx, 0, &w->sul, connect_now, w->backoff_us);
    w->backoff_us *= 2;
    if (w->backoff_us > BACKOFF_MAX_US)
        w->backoff_us = BACKOFF_MAX_US;
}

static void connect_now(lws_sorted_usec_list_t *sul)
{
    watcher *w = lws_container_of(sul, watcher, sul);
    if (w->stopping || w->wsi)
        return;
    struct lws_client_connect_info ci;
    memset(&ci, 0, sizeof ci);
    ci.context = w->ctx;
    ci.address = w->host;
    ci.port = w->port;
    ci.path = w->path;
    ci.host = w->host;
    ci.ssl_connection = w->tls ? LCCSCF_USE_SSL : 0;
    ci.protocol = NULL; /* anvil does not echo a subprotocol */
    ci.local_protocol_name = "sibyl-eth-ws";
    ci.opaque_user_data = w;
    ci.pwsi = &w->wsi;
    w->subscribed = 0;
    w->sent = 0;
    if (!lws_client_connect_via_info(ci.context ? &ci : NULL)) {
        w->wsi = NULL;
        schedule_reconnect(w);
    }
}

static int send_text(struct lws *wsi, const char *s)
{
    size_t n = strlen(s);
    unsigned char *b = malloc(LWS_PRE + n);
    if (!b)
        return -1;
    memcpy(b + LWS_PRE, s, n);
    int w = lws_write(wsi, b + LWS_PRE, n, LWS_WRITE_TEXT);
    free(b);
    return w < (int)n ? -1 : 0;
}

static void handle_message(watcher *w, const char *msg, size_t len)
{
    cJSON *j = cJSON_ParseWithLength(msg, len);
    if (!j) {
        log_msg(LOG_WARN, NULL, "websocket: unparseable message (%zu bytes)", len);
        return;
    }
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "id");
    if (cJSON_IsNumber(id)) {
        const cJSON *res = cJSON_GetObjectItemCaseSensitive(j, "result");
        const cJSON *error = cJSON_GetObjectItemCaseSensitive(j, "error");
        int which = id->valueint;
        if (!cJSON_IsString(res) || (which != 1 && which != 2)) {
            char *e = error ? cJSON_PrintUnformatted(error) : NULL;
            log_msg(LOG_ERROR, NULL, "websocket: eth_subscribe %d failed: %s", which,
                    e ? e : "no result");
            free(e);
        } else {
            snprintf(which == 1 ? w->logs_sub : w->heads_sub, sizeof w->logs_sub, "%s",
                     res->valuestring);
            w->subscribed |= which;
            if (w->subscribed == 3) {
                w->backoff_us = BACKOFF_MIN_US;
                if (w->cb.on_connected)
                    w->cb.on_connected(w->user);
            }
        }
        cJSON_Delete(j);
        return;
    }
    const cJSON *method = cJSON_GetObjectItemCaseSensitive(j, "method");
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(j, "params");
    if (cJSON_IsString(method) && !strcmp(method->valuestring, "eth_subscription") && params) {
        const cJSON *sub = cJSON_GetObjectItemCaseSensitive(params, "subscription");
        const cJSON *res = cJSON_GetObjectItemCaseSensitive(params, "result");
        if (cJSON_IsString(sub) && res) {
            if (!strcmp(sub->valuestring, w->logs_sub) && w->cb.on_log)
                w->cb.on_log(w->user, res);
            else if (!strcmp(sub->valuestring, w->heads_sub) && w->cb.on_head)
                w->cb.on_head(w->user, res);
        }
    }
    cJSON_Delete(j);
}

static int ws_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                 size_t len)
{
    watcher *w = lws_get_opaque_user_data(wsi);
    (void)user;
    switch (reason) {
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        if (!w)
            return -1;
        lws_callback_on_writable(wsi);
        break;
    case LWS_CALLBACK_CLIENT_WRITEABLE: {
        if (!w)
            return -1;
        char msg[1024];
        if (w->sent == 0)
            snprintf(msg, sizeof msg,
                     "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_subscribe\",\"params\":"
                     "[\"logs\",{\"address\":\"%s\",\"topics\":[%s]}]}",
                     w->address_hex, w->topics_json);
        else if (w->sent == 1)
            snprintf(msg, sizeof msg,
                     "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"eth_subscribe\","
                     "\"params\":[\"newHeads\"]}");
        else
            break;
        if (send_text(wsi, msg))
            return -1;
        w->sent++;
        if (w->sent < 2)
            lws_callback_on_writable(wsi);
        break;
    }
    case LWS_CALLBACK_CLIENT_RECEIVE: {
        if (!w)
            return -1;
        if (lws_is_first_fragment(wsi))
            w->rx_len = 0;
        if (w->rx_len + len + 1 > w->rx_cap) {
            size_t ncap = (w->rx_len + len + 1) * 2;
            if (ncap > (64u << 20)) {
                log_msg(LOG_ERROR, NULL, "websocket: message over 64 MiB, dropping connection");
                return -1;
            }
            char *n = realloc(w->rx, ncap);
            if (!n)
                return -1;
            w->rx = n;
            w->rx_cap = ncap;
        }
        memcpy(w->rx + w->rx_len, in, len);
        w->rx_len += len;
        if (lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi)) {
            handle_message(w, w->rx, w->rx_len);
            w->rx_len = 0;
        }
        break;
    }
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        if (w) {
            log_msg(w->backoff_us > BACKOFF_MIN_US * 4 ? LOG_WARN : LOG_INFO, NULL,
                    "websocket %s: connection failed: %s (retrying)", w->url,
                    in ? (const char *)in : "unknown error");
            w->wsi = NULL;
            if (w->cb.on_disconnected)
                w->cb.on_disconnected(w->user, in ? (const char *)in : "connection error");
            schedule_reconnect(w);
        }
        break;
    case LWS_CALLBACK_CLIENT_CLOSED:
        if (w) {
            w->wsi = NULL;
            w->subscribed = 0;
            if (w->cb.on_disconnected)
                w->cb.on_disconnected(w->user, "closed");
            if (!w->stopping)
                log_msg(LOG_WARN, NULL, "websocket %s: closed, reconnecting", w->url);
            schedule_reconnect(w);
        }
        break;
    default:
        break;
    }
    return 0;
}

void watcher_protocol(struct lws_protocols *out)
{
    memset(out, 0, sizeof *out);
    out->name = "sibyl-eth-ws";
    out->callback = ws_cb;
    out->rx_buffer_size = 65536;
}

int watcher_create(const char *url, const uint8_t address[20], const uint8_t (*topic0)[32],
                   int n_topics, const watcher_callbacks *cb, void *user, watcher **out, char *err,
                   size_t errlen)
{
    *out = NULL;
    if (n_topics < 1 || n_topics > WATCHER_MAX_TOPICS) {
        snprintf(err, errlen, "watcher: %d topics (1..%d)", n_topics, WATCHER_MAX_TOPICS);
        return -1;
    }
    watcher *w = calloc(1, sizeof *w);
    if (!w) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    snprintf(w->url, sizeof w->url, "%s", url);
    char tmp[512];
    snprintf(tmp, sizeof tmp, "%s", url);
    const char *prot, *ads, *path;
    int port;
    if (lws_parse_uri(tmp, &prot, &ads, &port, &path) || !*ads) {
        snprintf(err, errlen, "rpc_ws %s: not a ws:// URL", url);
        free(w);
        return -1;
    }
    if (strcmp(prot, "ws") && strcmp(prot, "wss")) {
        snprintf(err, errlen, "rpc_ws %s: scheme must be ws or wss", url);
        free(w);
        return -1;
    }
    w->tls = !strcmp(prot, "wss");
    snprintf(w->host, sizeof w->host, "%s", ads);
    /* lws_parse_uri gives the path with or without its leading '/' depending on the URL */
    snprintf(w->path, sizeof w->path, "%s%s", path[0] == '/' ? "" : "/", path);
    w->port = port;
    hex_encode(w->address_hex, address, 20);
    /* one topic: "0x.."; several: ["0x..","0x.."] (any of them in position 0) */
    size_t off = 0;
    if (n_topics > 1)
        w->topics_json[off++] = '[';
    for (int i = 0; i < n_topics; i++) {
        char hx[67];
        hex_encode(hx, topic0[i], 32);
        off += (size_t)snprintf(w->topics_json + off, sizeof w->topics_json - off, "%s\"%s\"",
                                i ? "," : "", hx);
    }
    if (n_topics > 1)
        w->topics_json[off++] = ']';
    w->topics_json[off] = 0;
    w->cb = *cb;
    w->user = user;
    w->backoff_us = BACKOFF_MIN_US;
    *out = w;
    return 0;
}

void watcher_start(watcher *w, struct lws_context *ctx)
{
    w->ctx = ctx;
    w->stopping = 0;
    lws_sul_schedule(ctx, 0, &w->sul, connect_now, 1);
}

void watcher_stop(watcher *w)
{
    w->stopping = 1;
    lws_sul_cancel(&w->sul);
    if (w->wsi) {
        lws_set_timeout(w->wsi, PENDING_TIMEOUT_CLOSE_ACK, LWS_TO_KILL_ASYNC);
    }
}

void watcher_destroy(watcher *w)
{
    if (!w)
        return;
    free(w->rx);
    free(w);
}

int watcher_connected(const watcher *w)
{
    return w->subscribed == 3;
}
