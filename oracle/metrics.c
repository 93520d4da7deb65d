#include "oracle/metrics.h"

#include <libwebsockets.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "oracle/journal.h"

static const double buckets[] = {0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1,
                                 0.25,   0.5,   1,     2.5,   5,    10,    30,   60};
#define N_BUCKETS (sizeof buckets / sizeof buckets[0])

typedef struct {
    uint64_t counts[N_BUCKETS]; /* cumulative at render time only; stored per bucket */
    uint64_t count;
    double sum;
} histogram;

struct metrics {
    pthread_mutex_t mu;
    int64_t state_gauge[RS_COUNT];
    uint64_t transitions[RS_COUNT];
    histogram stage[STAGE_COUNT];
    histogram engine;
    uint64_t counters[MC_COUNT];
    uint64_t head;
    int connected;
    int models_served, models_refused;
    time_t last_head_time;
};

static const char *const stage_names[STAGE_COUNT] = {"confirm_wait", "compute", "submit",
                                                     "node_overhead", "mined"};
static const char *const counter_names[MC_COUNT] = {
    "sibyl_rpc_errors_total",          "sibyl_reorgs_total",
    "sibyl_reorg_cancellations_total", "sibyl_tx_sent_total",
    "sibyl_tx_resent_total",           "sibyl_ws_connects_total",
    "sibyl_reorg_walked_blocks_total"};
static const char *const counter_help[MC_COUNT] = {
    "JSON-RPC calls that failed after retries",
    "Chain reorganisations detected",
    "Requests cancelled because a reorg removed them",
    "Transactions sent (first sends)",
    "Transactions re-sent with bumped fees or re-broadcast",
    "Websocket connections established",
    "Block heights compared while walking back to a reorg's fork"};

metrics *metrics_create(void)
{
    metrics *m = calloc(1, sizeof *m);
    if (m)
        pthread_mutex_init(&m->mu, NULL);
    return m;
}

void metrics_destroy(metrics *m)
{
    if (!m)
        return;
    pthread_mutex_destroy(&m->mu);
    free(m);
}

void metrics_transition(metrics *m, int from, int to)
{
    pthread_mutex_lock(&m->mu);
    if (from > 0 && from < RS_COUNT)
        m->state_gauge[from]--;
    if (to > 0 && to < RS_COUNT) {
        m->state_gauge[to]++;
        m->transitions[to]++;
    }
    pthread_mutex_unlock(&m->mu);
}

static void hist_observe(histogram *h, double v)
{
    for (size_t i = 0; i < N_BUCKETS; i++)
        if (v <= buckets[i]) {
            h->counts[i]++;
            break;
        }
    h->count++;
    h->sum += v;
}

void metrics_observe_stage(metrics *m, metrics_stage s, double seconds)
{
    if (s >= STAGE_COUNT || seconds < 0)
        return;
    pthread_mutex_lock(&m->mu);
    hist_observe(&m->stage[s], seconds);
    pthread_mutex_unlock(&m->mu);
}

void metrics_observe_engine(metrics *m, double seconds)
{
    pthread_mutex_lock(&m->mu);
    hist_observe(&m->engine, seconds);
    pthread_mutex_unlock(&m->mu);
}

void metrics_add(metrics *m, metrics_counter c, uint64_t n)
{
    if (c >= MC_COUNT)
        return;
    pthread_mutex_lock(&m->mu);
    m->counters[c] += n;
    pthread_mutex_unlock(&m->mu);
}

void metrics_set_head(metrics *m, uint64_t head)
{
    pthread_mutex_lock(&m->mu);
    m->head = head;
    m->last_head_time = time(NULL);
    pthread_mutex_unlock(&m->mu);
}

void metrics_set_models(metrics *m, int served, int refused)
{
    pthread_mutex_lock(&m->mu);
    m->models_served = served;
    m->models_refused = refused;
    pthread_mutex_unlock(&m->mu);
}

void metrics_set_connected(metrics *m, int connected)
{
    pthread_mutex_lock(&m->mu);
    m->connected = connected;
    pthread_mutex_unlock(&m->mu);
}

typedef struct {
    char *p;
    size_t len, cap;
    int failed;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...)
{
    if (b->failed)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->failed = 1;
            return;
        }
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t ncap = b->cap * 2 + (size_t)n;
        char *np = realloc(b->p, ncap);
        if (!np) {
            b->failed = 1;
            return;
        }
        b->p = np;
        b->cap = ncap;
    }
}

static void render_hist(sbuf *b, const char *name, const char *label, const histogram *h)
{
    uint64_t cum = 0;
    const char *sep = label ? "," : "";
    for (size_t i = 0; i < N_BUCKETS; i++) {
        cum += h->counts[i];
        sb_printf(b, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, label ? label : "", sep, buckets[i],
                  (unsigned long long)cum);
    }
    sb_printf(b, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, label ? label : "", sep,
              (unsigned long long)h->count);
    if (label) {
        sb_printf(b, "%s_sum{%s} %.9f\n", name, label, h->sum);
        sb_printf(b, "%s_count{%s} %llu\n", name, label, (unsigned long long)h->count);
    } else {
        sb_printf(b, "%s_sum %.9f\n", name, h->sum);
        sb_printf(b, "%s_count %llu\n", name, (unsigned long long)h->count);
    }
}

char *metrics_render(metrics *m, size_t *len)
{
    sbuf b = {malloc(8192), 0, 8192, 0};
    if (!b.p)
        return NULL;
    pthread_mutex_lock(&m->mu);
    sb_printf(&b, "# HELP sibyl_requests Requests now in each state.\n"
                  "# TYPE sibyl_requests gauge\n");
    for (int s = 1; s < RS_COUNT; s++)
        sb_printf(&b, "sibyl_requests{state=\"%s\"} %lld\n", req_state_name(s),
                  (long long)m->state_gauge[s]);
    sb_printf(&b, "# HELP sibyl_request_transitions_total Entries into each request state.\n"
                  "# TYPE sibyl_request_transitions_total counter\n");
    for (int s = 1; s < RS_COUNT; s++)
        sb_printf(&b, "sibyl_request_transitions_total{state=\"%s\"} %llu\n", req_state_name(s),
                  (unsigned long long)m->transitions[s]);
    sb_printf(&b, "# HELP sibyl_stage_seconds Latency of each pipeline stage.\n"
                  "# TYPE sibyl_stage_seconds histogram\n");
    for (int s = 0; s < STAGE_COUNT; s++) {
        char label[64];
        snprintf(label, sizeof label, "stage=\"%s\"", stage_names[s]);
        render_hist(&b, "sibyl_stage_seconds", label, &m->stage[s]);
    }
    sb_printf(&b, "# HELP sibyl_engine_seconds Wall time of each engine generation.\n"
                  "# TYPE sibyl_engine_seconds histogram\n");
    render_hist(&b, "sibyl_engine_seconds", NULL, &m->engine);
    for (int c = 0; c < MC_COUNT; c++)
        sb_printf(&b, "# HELP %s %s.\n# TYPE %s counter\n%s %llu\n", counter_names[c],
                  counter_help[c], counter_names[c], counter_names[c],
                  (unsigned long long)m->counters[c]);
    sb_printf(&b,
              "# HELP sibyl_head_block The newest block head seen.\n"
              "# TYPE sibyl_head_block gauge\nsibyl_head_block %llu\n",
              (unsigned long long)m->head);
    sb_printf(&b,
              "# HELP sibyl_ws_connected 1 while the websocket subscription is up.\n"
              "# TYPE sibyl_ws_connected gauge\nsibyl_ws_connected %d\n",
              m->connected);
    sb_printf(&b,
              "# HELP sibyl_models_served Configured models this node serves.\n"
              "# TYPE sibyl_models_served gauge\nsibyl_models_served %d\n"
              "# HELP sibyl_models_hash_mismatch Configured models not served: the file's sha256 "
              "differs from the modelHash registered on-chain.\n"
              "# TYPE sibyl_models_hash_mismatch gauge\nsibyl_models_hash_mismatch %d\n",
              m->models_served, m->models_refused);
    pthread_mutex_unlock(&m->mu);
    if (b.failed) {
        free(b.p);
        return NULL;
    }
    *len = b.len;
    return b.p;
}

int metrics_health(metrics *m, char *why, size_t cap)
{
    pthread_mutex_lock(&m->mu);
    int connected = m->connected;
    pthread_mutex_unlock(&m->mu);
    if (!connected) {
        snprintf(why, cap, "websocket to the chain is down\n");
        return 0;
    }
    snprintf(why, cap, "ok\n");
    return 1;
}

/* ---- HTTP server (libwebsockets) ---- */

typedef struct {
    char *body;
    size_t len;
} http_session;

static int http_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                   size_t len)
{
    http_session *s = user;
    const struct lws_protocols *proto = lws_get_protocol(wsi);
    metrics *m = proto ? proto->user : NULL;
    uint8_t hdr[LWS_PRE + 512], *start = hdr + LWS_PRE, *p = start, *end = hdr + sizeof hdr - 1;
    (void)len;
    switch (reason) {
    case LWS_CALLBACK_HTTP: {
        const char *uri = in;
        unsigned status = HTTP_STATUS_OK;
        const char *ctype = "text/plain; charset=utf-8";
        free(s->body);
        s->body = NULL;
        if (!m) {
            return -1;
        } else if (!strcmp(uri, "/metrics")) {
            s->body = metrics_render(m, &s->len);
            ctype = "text/plain; version=0.0.4; charset=utf-8";
            if (!s->body)
                return -1;
        } else if (!strcmp(uri, "/healthz")) {
            char why[128];
            if (!metrics_health(m, why, sizeof why))
                status = HTTP_STATUS_SERVICE_UNAVAILABLE;
            s->body = strdup(why);
            s->len = s->body ? strlen(s->body) : 0;
        } else {
            status = HTTP_STATUS_NOT_FOUND;
            s->body = strdup("not found: try /metrics or /healthz\n");
            s->len = s->body ? strlen(s->body) : 0;
        }
        if (!s->body)
            return -1;
        if (lws_add_http_common_headers(wsi, status, ctype, (lws_filepos_t)s->len, &p, end) ||
            lws_finalize_write_http_header(wsi, start, &p, end))
            return 1;
        lws_callback_on_writable(wsi);
        return 0;
    }
    case LWS_CALLBACK_HTTP_WRITEABLE: {
        if (!s->body)
            return -1;
        size_t n = s->len;
        uint8_t *out = malloc(LWS_PRE + n + 1);
        if (!out)
            return -1;
        memcpy(out + LWS_PRE, s->body, n);
        int w = lws_write(wsi, out + LWS_PRE, n, LWS_WRITE_HTTP_FINAL);
        free(out);
        free(s->body);
        s->body = NULL;
        if (w < (int)n)
            return -1;
        if (lws_http_transaction_completed(wsi))
            return -1;
        return 0;
    }
    case LWS_CALLBACK_CLOSED_HTTP:
        free(s->body);
        s->body = NULL;
        return 0;
    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}

void metrics_http_protocol(metrics *m, struct lws_protocols *out)
{
    memset(out, 0, sizeof *out);
    out->name = "http";
    out->callback = http_cb;
    out->per_session_data_size = sizeof(http_session);
    out->rx_buffer_size = 0;
    out->user = m;
}
