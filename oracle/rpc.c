#include "oracle/rpc.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "oracle/buf.h"
#include "oracle/hex.h"

#define RPC_MAX_REPLY ((size_t)256 << 20)

struct rpc_client {
    CURL *curl;
    char *url;
    rpc_options opts;
    long next_id;
    buf reply;
    long retry_after_s; /* from the last reply's Retry-After header, -1 if none */
    char curl_err[CURL_ERROR_SIZE];
};

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

rpc_options rpc_default_options(void)
{
    rpc_options o = {10000, 3000, 3, 200, 5000};
    return o;
}

void rpc_error_clear(rpc_error *e)
{
    if (!e)
        return;
    free(e->data);
    memset(e, 0, sizeof *e);
}

static size_t on_body(char *p, size_t size, size_t n, void *user)
{
    rpc_client *c = user;
    size_t len = size * n;
    if (c->reply.len + len > RPC_MAX_REPLY)
        return 0; /* makes curl fail with CURLE_WRITE_ERROR */
    buf_append(&c->reply, p, len);
    return buf_ok(&c->reply) == 0 ? len : 0;
}

static size_t on_header(char *p, size_t size, size_t n, void *user)
{
    rpc_client *c = user;
    size_t len = size * n;
    static const char name[] = "retry-after:";
    if (len > sizeof name - 1 && !strncasecmp(p, name, sizeof name - 1)) {
        long v = 0;
        size_t i = sizeof name - 1;
        while (i < len && p[i] == ' ')
            i++;
        int digits = 0;
        while (i < len && p[i] >= '0' && p[i] <= '9' && digits < 6) {
            v = v * 10 + (p[i++] - '0');
            digits++;
        }
        if (digits)
            c->retry_after_s = v;
    }
    return len;
}

rpc_client *rpc_client_new(const char *url, const rpc_options *opts, char *err, size_t errlen)
{
    if (!url || (strncmp(url, "http://", 7) && strncmp(url, "https://", 8))) {
        fail(err, errlen, "rpc: URL \"%.200s\" must start with http:// or https://",
             url ? url : "");
        return NULL;
    }
    rpc_client *c = calloc(1, sizeof *c);
    if (!c || !(c->url = strdup(url)) || !(c->curl = curl_easy_init())) {
        fail(err, errlen, "rpc: cannot create a client (out of memory or libcurl failure)");
        rpc_client_free(c);
        return NULL;
    }
    c->opts = opts ? *opts : rpc_default_options();
    if (c->opts.max_retries < 0)
        c->opts.max_retries = 0;
    c->next_id = 1;
    buf_init(&c->reply);
    return c;
}

void rpc_client_free(rpc_client *c)
{
    if (!c)
        return;
    if (c->curl)
        curl_easy_cleanup(c->curl);
    buf_free(&c->reply);
    free(c->url);
    free(c);
}

static int retryable_curl_error(CURLcode rc)
{
    switch (rc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
        return 1;
    default:
        return 0;
    }
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* One HTTP POST. Returns the CURLcode; *status gets the HTTP status (0 if none). */
static CURLcode post_once(rpc_client *c, const char *body, struct curl_slist *headers, long *status)
{
    CURL *h = c->curl;
    curl_easy_reset(h);
    buf_reset(&c->reply);
    c->retry_after_s = -1;
    c->curl_err[0] = '\0';
    curl_easy_setopt(h, CURLOPT_URL, c->url);
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, c);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->curl_err);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, c->opts.timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, c->opts.connect_timeout_ms);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    CURLcode rc = curl_easy_perform(h);
    *status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
    return rc;
}

/* POSTs body, retrying transport errors, 429 and 5xx with backoff. */
static CURLcode post_with_retries(rpc_client *c, const char *body, struct curl_slist *headers,
                                  long *status, int *attempts)
{
    CURLcode crc = CURLE_OK;
    long delay = c->opts.backoff_ms;
    *attempts = 0;
    for (;;) {
        (*attempts)++;
        crc = post_once(c, body, headers, status);
        int retry = 0;
        if (crc != CURLE_OK)
            retry = retryable_curl_error(crc);
        else if (*status == 429 || (*status >= 500 && *status <= 599))
            retry = 1;
        if (!retry || *attempts > c->opts.max_retries)
            break;
        long wait = delay;
        if (c->retry_after_s >= 0 && c->retry_after_s * 1000 > wait)
            wait = c->retry_after_s * 1000;
        if (wait > c->opts.backoff_max_ms)
            wait = c->opts.backoff_max_ms;
        sleep_ms(wait);
        delay = delay > c->opts.backoff_max_ms / 2 ? c->opts.backoff_max_ms : delay * 2;
    }
    return crc;
}

/* Request headers: JSON, and no "Expect: 100-continue" (libcurl adds it to large POST bodies,
 * and waiting for the 100 reply costs a round trip, or a second with servers that never send
 * one). */
static struct curl_slist *json_headers(void)
{
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    struct curl_slist *h2 = h ? curl_slist_append(h, "Expect:") : NULL;
    if (!h2) {
        curl_slist_free_all(h);
        return NULL;
    }
    return h2;
}

/* Fills rerr from a JSON-RPC error object. */
static void take_error_object(const cJSON *eobj, rpc_error *rerr)
{
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(eobj, "code");
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(eobj, "message");
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(eobj, "data");
    rerr->code = cJSON_IsNumber(code) ? (long)code->valuedouble : 0;
    snprintf(rerr->message, sizeof rerr->message, "%s",
             cJSON_IsString(msg) ? msg->valuestring : "(no message)");
    free(rerr->data);
    rerr->data = NULL;
    if (data && !cJSON_IsNull(data))
        rerr->data =
            cJSON_IsString(data) ? strdup(data->valuestring) : cJSON_PrintUnformatted(data);
}

/* Parses the reply to request id. Returns RPC_OK with *result, or an rpc_status. */
static int parse_reply(rpc_client *c, const char *method, long id, cJSON **result, rpc_error *rerr,
                       char *err, size_t errlen)
{
    cJSON *root = cJSON_ParseWithLength((const char *)c->reply.data, c->reply.len);
    if (!root) {
        fail(err, errlen, "rpc %s: the reply is not JSON (%zu bytes from %s)", method, c->reply.len,
             c->url);
        return RPC_EREPLY;
    }
    int rc = RPC_OK;
    const cJSON *rid = cJSON_GetObjectItemCaseSensitive(root, "id");
    const cJSON *eobj = cJSON_GetObjectItemCaseSensitive(root, "error");
    cJSON *res = cJSON_GetObjectItemCaseSensitive(root, "result");
    if (!cJSON_IsObject(root)) {
        fail(err, errlen, "rpc %s: the reply is not a JSON-RPC object", method);
        rc = RPC_EREPLY;
    } else if (cJSON_IsObject(eobj)) {
        rpc_error local = {0};
        rpc_error *e = rerr ? rerr : &local;
        take_error_object(eobj, e);
        fail(err, errlen, "rpc %s: error %ld: %s%s%s", method, e->code, e->message,
             e->data ? " (data: " : "", e->data ? e->data : "");
        if (e->data && err && errlen && strlen(err) + 2 < errlen)
            strcat(err, ")");
        rpc_error_clear(&local);
        rc = RPC_EERROR;
    } else if (!cJSON_IsNumber(rid) || (long)rid->valuedouble != id) {
        fail(err, errlen, "rpc %s: the reply's id does not match the request's (%ld)", method, id);
        rc = RPC_EREPLY;
    } else if (!res) {
        fail(err, errlen, "rpc %s: the reply has neither result nor error", method);
        rc = RPC_EREPLY;
    } else {
        *result = cJSON_DetachItemViaPointer(root, res);
    }
    cJSON_Delete(root);
    return rc;
}

int rpc_call(rpc_client *c, const char *method, const cJSON *params, cJSON **result,
             rpc_error *rerr, char *err, size_t errlen)
{
    *result = NULL;
    if (rerr) {
        rpc_error_clear(rerr);
    }
    if (!c || !method)
        return fail(err, errlen, "rpc: no client or no method"), RPC_EINVAL;
    if (params && !cJSON_IsArray(params))
        return fail(err, errlen, "rpc %s: params must be a JSON array", method), RPC_EINVAL;

    long id = c->next_id++;
    cJSON *req = cJSON_CreateObject();
    cJSON *p = params ? cJSON_Duplicate(params, 1) : cJSON_CreateArray();
    char *body = NULL;
    if (req && p && cJSON_AddStringToObject(req, "jsonrpc", "2.0") &&
        cJSON_AddNumberToObject(req, "id", (double)id) &&
        cJSON_AddStringToObject(req, "method", method) && cJSON_AddItemToObject(req, "params", p)) {
        p = NULL; /* owned by req */
        body = cJSON_PrintUnformatted(req);
    }
    cJSON_Delete(p);
    cJSON_Delete(req);
    struct curl_slist *headers = json_headers();
    if (!body || !headers) {
        free(body);
        curl_slist_free_all(headers);
        return fail(err, errlen, "rpc %s: out of memory", method), RPC_ENOMEM;
    }

    int rc = RPC_ETRANSPORT;
    long status = 0;
    int attempts = 0;
    CURLcode crc = post_with_retries(c, body, headers, &status, &attempts);
    if (rerr) {
        rerr->http_status = status;
        rerr->attempts = attempts;
    }
    if (crc != CURLE_OK) {
        fail(err, errlen, "rpc %s: %s (%s) after %d attempt%s to %s", method,
             curl_easy_strerror(crc), c->curl_err[0] ? c->curl_err : "no detail", attempts,
             attempts == 1 ? "" : "s", c->url);
        rc = RPC_ETRANSPORT;
    } else if (status != 200) {
        /* some nodes put a JSON-RPC error object in a non-200 reply: surface it if so */
        rc = parse_reply(c, method, id, result, rerr, err, errlen);
        if (rc != RPC_EERROR) {
            if (*result) {
                cJSON_Delete(*result);
                *result = NULL;
            }
            fail(err, errlen, "rpc %s: HTTP %ld after %d attempt%s to %s", method, status, attempts,
                 attempts == 1 ? "" : "s", c->url);
            rc = RPC_EHTTP;
        }
    } else {
        rc = parse_reply(c, method, id, result, rerr, err, errlen);
    }
    if (rerr) { /* parse_reply may have cleared nothing; keep the transport facts */
        rerr->http_status = status;
        rerr->attempts = attempts;
    }
    free(body);
    curl_slist_free_all(headers);
    return rc;
}

int rpc_call_batch(rpc_client *c, size_t n, const char *const *methods, const cJSON *const *params,
                   cJSON **results, int *status, rpc_error *errs, char *err, size_t errlen)
{
    for (size_t i = 0; i < n && results; i++)
        results[i] = NULL;
    if (!c || !methods || !results || !status || n == 0 || n > RPC_MAX_BATCH)
        return fail(err, errlen, "rpc batch: bad arguments (n = %zu)", n), RPC_EINVAL;
    long first_id = c->next_id;
    c->next_id += (long)n;
    cJSON *req = cJSON_CreateArray();
    int ok = req != NULL;
    for (size_t i = 0; i < n && ok; i++) {
        status[i] = RPC_EREPLY;
        if (errs)
            rpc_error_clear(&errs[i]);
        if (!methods[i] || (params && params[i] && !cJSON_IsArray(params[i]))) {
            cJSON_Delete(req);
            return fail(err, errlen, "rpc batch: call %zu has no method or non-array params", i),
                   RPC_EINVAL;
        }
        cJSON *o = cJSON_CreateObject();
        cJSON *p = params && params[i] ? cJSON_Duplicate(params[i], 1) : cJSON_CreateArray();
        ok = o && p && cJSON_AddStringToObject(o, "jsonrpc", "2.0") &&
             cJSON_AddNumberToObject(o, "id", (double)(first_id + (long)i)) &&
             cJSON_AddStringToObject(o, "method", methods[i]) &&
             cJSON_AddItemToObject(o, "params", p);
        if (ok) {
            p = NULL;
            ok = cJSON_AddItemToArray(req, o);
            if (ok)
                o = NULL;
        }
        cJSON_Delete(p);
        cJSON_Delete(o);
    }
    char *body = ok ? cJSON_PrintUnformatted(req) : NULL;
    cJSON_Delete(req);
    struct curl_slist *headers = json_headers();
    if (!body || !headers) {
        free(body);
        curl_slist_free_all(headers);
        return fail(err, errlen, "rpc batch: out of memory"), RPC_ENOMEM;
    }
    long http = 0;
    int attempts = 0;
    CURLcode crc = post_with_retries(c, body, headers, &http, &attempts);
    free(body);
    curl_slist_free_all(headers);
    if (crc != CURLE_OK)
        return fail(err, errlen, "rpc batch of %zu (%s, ...): %s (%s) after %d attempt%s to %s", n,
                    methods[0], curl_easy_strerror(crc), c->curl_err[0] ? c->curl_err : "no detail",
                    attempts, attempts == 1 ? "" : "s", c->url),
               RPC_ETRANSPORT;
    if (http != 200)
        return fail(err, errlen, "rpc batch of %zu (%s, ...): HTTP %ld after %d attempt%s to %s", n,
                    methods[0], http, attempts, attempts == 1 ? "" : "s", c->url),
               RPC_EHTTP;
    cJSON *root = cJSON_ParseWithLength((const char *)c->reply.data, c->reply.len);
    if (!cJSON_IsArray(root)) {
        /* a node without batch support answers with one error object */
        const cJSON *eobj = cJSON_GetObjectItemCaseSensitive(root, "error");
        const cJSON *msg = cJSON_GetObjectItemCaseSensitive(eobj, "message");
        fail(err, errlen, "rpc batch of %zu (%s, ...): the reply is not a JSON array%s%s", n,
             methods[0], cJSON_IsString(msg) ? ": " : "",
             cJSON_IsString(msg) ? msg->valuestring : "");
        cJSON_Delete(root);
        return RPC_EREPLY;
    }
    cJSON *item = root->child;
    while (item) {
        cJSON *next = item->next;
        const cJSON *rid = cJSON_GetObjectItemCaseSensitive(item, "id");
        long id = cJSON_IsNumber(rid) ? (long)rid->valuedouble : -1;
        if (id >= first_id && id < first_id + (long)n) {
            size_t i = (size_t)(id - first_id);
            const cJSON *eobj = cJSON_GetObjectItemCaseSensitive(item, "error");
            cJSON *res = cJSON_GetObjectItemCaseSensitive(item, "result");
            if (cJSON_IsObject(eobj)) {
                if (errs)
                    take_error_object(eobj, &errs[i]);
                status[i] = RPC_EERROR;
            } else if (res && !results[i]) {
                results[i] = cJSON_DetachItemViaPointer(item, res);
                status[i] = RPC_OK;
            }
        }
        item = next;
    }
    cJSON_Delete(root);
    return RPC_OK;
}

int rpc_call_u64(rpc_client *c, const char *method, const cJSON *params, unsigned long long *out,
                 rpc_error *rerr, char *err, size_t errlen)
{
    cJSON *res = NULL;
    int rc = rpc_call(c, method, params, &res, rerr, err, errlen);
    if (rc != RPC_OK)
        return rc;
    uint64_t v;
    char e[128];
    if (!cJSON_IsString(res) || hex_quantity_to_u64(res->valuestring, &v, e, sizeof e) < 0) {
        fail(err, errlen, "rpc %s: result is not a hex quantity", method);
        cJSON_Delete(res);
        return RPC_EREPLY;
    }
    cJSON_Delete(res);
    *out = v;
    return RPC_OK;
}
