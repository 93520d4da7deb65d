#include "oracle/node.h"

#include <libwebsockets.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "adapters/adapter.h"
#include "attest/attestation.h"
#include "attest/record.h"
#include "attest/trace.h"
#include "inference/engine.h"
#include "oracle/abi.h"
#include "oracle/eip712.h"
#include "oracle/event.h"
#include "oracle/forkwalk.h"
#include "oracle/hex.h"
#include "oracle/journal.h"
#include "oracle/keccak.h"
#include "oracle/keystore.h"
#include "oracle/log.h"
#include "oracle/metrics.h"
#include "oracle/rpc.h"
#include "oracle/secp.h"
#include "oracle/submitter.h"
#include "oracle/testhook.h"
#include "oracle/tx.h"
#include "oracle/watcher.h"

#define RING 4096       /* recent block hashes kept for reorg detection and the fork walk */
#define REORG_DEPTH 256 /* requests this deep leave the confirmation list (not the journal) */
#define WALK_BATCH 128  /* block hashes fetched per JSON-RPC batch while looking for the fork */

typedef struct {
    uint8_t id[32];
    uint64_t block;
    uint8_t hash[32];
    int confirmed;
} tracked;

typedef struct {
    uint8_t model_id[32];
    engine *eng;
    uint8_t hash[32];
    const char *path;
    atomic_int serving; /* the registry's modelHash is this file's (or none is registered) */
    unsigned quorum;    /* as last read from the registry (lws thread) */
} served_model;

typedef struct {
    const config *cfg;
    volatile sig_atomic_t *stop;
    journal *j;
    metrics *m;
    secp256k1_context *secp;
    uint8_t key[32], addr[20];
    sibyl_domain domain;
    served_model models[CONFIG_MAX_MODELS];
    int n_models;
    uint8_t quorum1_models[CONFIG_MAX_MODELS][32]; /* registered with quorum 1 at start */
    int n_quorum1;
    abi_signature event;
    uint8_t topic0[32];
    /* registry events that make the node re-read the registry at once (see handle_log) */
    uint8_t topic_node_added[32], topic_node_removed[32], topic_model_registered[32];
    submitter *sub;
    watcher *w;
    struct lws_context *lws;
    lws_sorted_usec_list_t tick;

    /* lws thread only */
    rpc_client *rpc;
    uint64_t ring_num[RING];
    uint8_t ring_hash[RING][32];
    uint64_t head;
    uint8_t head_hash[32];
    tracked *tr;
    size_t n_tr, cap_tr;
    uint64_t cursor_saved;
    int connected_once;
    int64_t registry_read_ns; /* when the registry was last re-read */
    int is_node;              /* this key is registered (as last read) */

    /* engine worker */
    pthread_t worker;
    int worker_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint8_t (*q)[32];
    size_t qn, qcap;
    int worker_stop;
    uint8_t current[32];
    int has_current;
    atomic_int cancel_current;
    rpc_client *worker_rpc;
    sibyl_trace trace; /* the current request's per-step trace (for auditors' replays) */
} node;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* ---- engine queue ---- */

static void queue_push(node *n, const uint8_t id[32])
{
    pthread_mutex_lock(&n->mu);
    if (n->qn == n->qcap) {
        size_t ncap = n->qcap ? n->qcap * 2 : 64;
        void *p = realloc(n->q, ncap * 32);
        if (!p) {
            pthread_mutex_unlock(&n->mu);
            log_msg(LOG_ERROR, id, "out of memory queueing a request");
            return;
        }
        n->q = p;
        n->qcap = ncap;
    }
    memcpy(n->q[n->qn++], id, 32);
    pthread_cond_signal(&n->cv);
    pthread_mutex_unlock(&n->mu);
}

/* ---- block hash ring ---- */

static int ring_get(node *n, uint64_t b, uint8_t out[32])
{
    if (n->ring_num[b % RING] != b || b == 0)
        return 0;
    memcpy(out, n->ring_hash[b % RING], 32);
    return 1;
}

static void ring_set(node *n, uint64_t b, const uint8_t h[32])
{
    n->ring_num[b % RING] = b;
    memcpy(n->ring_hash[b % RING], h, 32);
}

/* The canonical hash at height b: 1 found, 0 no such block, -1 RPC error. */
static int fetch_block_hash(node *n, uint64_t b, uint8_t out[32])
{
    char q[24], err[512];
    hex_quantity_from_u64(q, b);
    cJSON *p = cJSON_CreateArray();
    cJSON_AddItemToArray(p, cJSON_CreateString(q));
    cJSON_AddItemToArray(p, cJSON_CreateFalse());
    cJSON *res = NULL;
    int rc = rpc_call(n->rpc, "eth_getBlockByNumber", p, &res, NULL, err, sizeof err);
    cJSON_Delete(p);
    if (rc) {
        metrics_add(n->m, MC_RPC_ERRORS, 1);
        log_msg(LOG_WARN, NULL, "eth_getBlockByNumber %llu: %s", (unsigned long long)b, err);
        return -1;
    }
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(res, "hash");
    int found = cJSON_IsString(h) && !hex_decode_exact(h->valuestring, out, 32, NULL, 0);
    cJSON_Delete(res);
    return found;
}

static int canonical_hash(node *n, uint64_t b, uint8_t out[32])
{
    if (b > n->head && n->head)
        return 0;
    if (ring_get(n, b, out))
        return 1;
    int rc = fetch_block_hash(n, b, out);
    if (rc == 1)
        ring_set(n, b, out);
    return rc;
}

/* ---- transitions ---- */

static int confirm_fn(journal_txn *t, jreq *r, void *user)
{
    (void)t;
    (void)user;
    if (r->f.state != RS_SEEN)
        return 1;
    r->f.state = RS_CONFIRMED;
    r->f.t_confirmed = now_ns();
    return 0;
}

static void confirm(node *n, const uint8_t id[32])
{
    char err[256];
    int rc = journal_update(n->j, id, confirm_fn, NULL, err, sizeof err);
    if (rc < 0) {
        log_msg(LOG_ERROR, id, "journal: %s", err);
        return;
    }
    if (rc > 0)
        return;
    metrics_transition(n->m, RS_SEEN, RS_CONFIRMED);
    testhook_crash_point("after_confirm");
    queue_push(n, id);
}

typedef struct {
    int old_state;
    int include_final; /* a reorg removed its block: even a finished request is void */
} cancel_args;

static int cancel_fn(journal_txn *t, jreq *r, void *user)
{
    (void)t;
    cancel_args *a = user;
    a->old_state = r->f.state;
    if (r->f.state == RS_CANCELLED || (req_state_is_final(r->f.state) && !a->include_final))
        return 1;
    if (r->f.state == RS_SUBMITTED && r->f.n_tx_hashes)
        r->f.cancel_pending = 1; /* its nonce must still be consumed */
    /* (an answer inside an answerMany owns no nonce: the batch goes out again without it) */
    r->f.state = RS_CANCELLED;
    r->f.t_done = now_ns();
    return 0;
}

static void cancel_request_ex(node *n, const uint8_t id[32], const char *why, int include_final)
{
    char err[256];
    cancel_args a = {0, include_final};
    int rc = journal_update(n->j, id, cancel_fn, &a, err, sizeof err);
    if (rc != 0)
        return;
    metrics_transition(n->m, a.old_state, RS_CANCELLED);
    metrics_add(n->m, MC_REORG_CANCELLATIONS, 1);
    if (req_state_is_final(a.old_state))
        log_msg(LOG_WARN, id,
                "request void (%s) after it was %s: its answer left the chain with it; if the "
                "request is included again it is served again",
                why, req_state_name(a.old_state));
    else
        log_msg(LOG_WARN, id, "request cancelled (%s) in state %s", why,
                req_state_name(a.old_state));
    pthread_mutex_lock(&n->mu);
    if (n->has_current && !memcmp(n->current, id, 32))
        atomic_store(&n->cancel_current, 1);
    pthread_mutex_unlock(&n->mu);
}

static void cancel_request(node *n, const uint8_t id[32], const char *why)
{
    cancel_request_ex(n, id, why, 0);
}

static void track_add(node *n, const uint8_t id[32], uint64_t block, const uint8_t hash[32],
                      int confirmed)
{
    for (size_t i = 0; i < n->n_tr; i++)
        if (!memcmp(n->tr[i].id, id, 32)) {
            n->tr[i].block = block;
            memcpy(n->tr[i].hash, hash, 32);
            n->tr[i].confirmed = confirmed;
            return;
        }
    if (n->n_tr == n->cap_tr) {
        size_t ncap = n->cap_tr ? n->cap_tr * 2 : 64;
        tracked *p = realloc(n->tr, ncap * sizeof *p);
        if (!p)
            return;
        n->tr = p;
        n->cap_tr = ncap;
    }
    tracked *e = &n->tr[n->n_tr++];
    memcpy(e->id, id, 32);
    e->block = block;
    memcpy(e->hash, hash, 32);
    e->confirmed = confirmed;
}

static void registry_refresh(node *n);

/* ---- logs ---- */

static void handle_log(node *n, const cJSON *log)
{
    uint8_t addr[20];
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(log, "address");
    if (!cJSON_IsString(a) || hex_decode_exact(a->valuestring, addr, 20, NULL, 0) ||
        memcmp(addr, n->cfg->oracle_address, 20))
        return;
    const cJSON *topics = cJSON_GetObjectItemCaseSensitive(log, "topics");
    const cJSON *t0 = cJSON_GetArrayItem(topics, 0);
    uint8_t topic[32];
    if (!cJSON_IsString(t0) || hex_decode_exact(t0->valuestring, topic, 32, NULL, 0))
        return;
    if (!memcmp(topic, n->topic_node_added, 32) || !memcmp(topic, n->topic_node_removed, 32) ||
        !memcmp(topic, n->topic_model_registered, 32)) {
        /* The registry changed: read it again now rather than at the next periodic refresh,
         * so that a removed key stops sending within the block that removed it. The event is
         * only a wake-up (the read is of the latest state), so replays and reorgs of these
         * logs cannot leave a stale view behind. */
        const cJSON *t1 = cJSON_GetArrayItem(topics, 1);
        uint8_t who[32];
        int ours = cJSON_IsString(t1) && !hex_decode_exact(t1->valuestring, who, 32, NULL, 0) &&
                   !memcmp(who + 12, n->addr, 20);
        if (ours || !memcmp(topic, n->topic_model_registered, 32))
            registry_refresh(n);
        return;
    }
    if (memcmp(topic, n->topic0, 32))
        return;
    char err[512];
    jreq r;
    if (event_decode_request(&n->event, log, &r, err, sizeof err)) {
        uint64_t b = 0;
        json_hex_u64(log, "blockNumber", &b);
        log_msg(LOG_ERROR, NULL, "malformed InferenceRequested log in block %llu skipped: %s",
                (unsigned long long)b, err);
        return;
    }
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(log, "removed"))) {
        jreq old;
        if (journal_get(n->j, r.f.id, &old, err, sizeof err) == 1) {
            if (!memcmp(old.f.block_hash, r.f.block_hash, 32))
                cancel_request(n, r.f.id, "its log was removed by a reorg");
            jreq_free(&old);
        }
        jreq_free(&r);
        return;
    }
    /* with no confirmations to wait for, "seen" and "confirmed" are one journal commit */
    int direct = n->cfg->confirmations == 0;
    r.f.state = direct ? RS_CONFIRMED : RS_SEEN;
    r.f.t_seen = now_ns();
    if (direct)
        r.f.t_confirmed = r.f.t_seen;
    uint64_t moved_nonce = 0;
    int rc = journal_insert_seen_ex(n->j, &r, &moved_nonce, err, sizeof err);
    if (rc < 0) {
        log_msg(LOG_ERROR, r.f.id, "journal: %s", err);
        jreq_free(&r);
        return;
    }
    if (rc == 0) {
        jreq_free(&r);
        return; /* seen before */
    }
    metrics_transition(n->m, rc >= 2 ? RS_CANCELLED : 0, RS_SEEN);
    testhook_crash_point("after_seen");
    log_msg(LOG_INFO, r.f.id, "request seen in block %llu (%u input bytes)%s",
            (unsigned long long)r.f.block_number, r.input_len,
            rc >= 2 ? ", again after a reorg: served afresh" : "");
    if (rc == 3)
        log_msg(LOG_INFO, r.f.id,
                "its earlier transaction's nonce %llu stays with a nonce record (filler if "
                "needed); the new answer gets a new nonce",
                (unsigned long long)moved_nonce);
    track_add(n, r.f.id, r.f.block_number, r.f.block_hash, direct);
    if (direct) {
        metrics_transition(n->m, RS_SEEN, RS_CONFIRMED);
        testhook_crash_point("after_confirm");
        queue_push(n, r.f.id);
    }
    jreq_free(&r);
}

/* eth_getLogs over [from, to] in pages (requests and registry events). 0 or -1 (RPC failure). */
static int backfill(node *n, uint64_t from, uint64_t to)
{
    char addr[43], topic[4][67];
    hex_encode(addr, n->cfg->oracle_address, 20);
    hex_encode(topic[0], n->topic0, 32);
    hex_encode(topic[1], n->topic_node_added, 32);
    hex_encode(topic[2], n->topic_node_removed, 32);
    hex_encode(topic[3], n->topic_model_registered, 32);
    uint64_t page = n->cfg->backfill_page_blocks;
    for (uint64_t lo = from; lo <= to; lo += page) {
        uint64_t hi = lo + page - 1 < to ? lo + page - 1 : to;
        char qlo[24], qhi[24], err[512];
        hex_quantity_from_u64(qlo, lo);
        hex_quantity_from_u64(qhi, hi);
        cJSON *p = cJSON_CreateArray(), *f = cJSON_CreateObject(), *tp = cJSON_CreateArray();
        cJSON *any = cJSON_CreateArray();
        cJSON_AddStringToObject(f, "fromBlock", qlo);
        cJSON_AddStringToObject(f, "toBlock", qhi);
        cJSON_AddStringToObject(f, "address", addr);
        for (int k = 0; k < 4; k++)
            cJSON_AddItemToArray(any, cJSON_CreateString(topic[k]));
        cJSON_AddItemToArray(tp, any);
        cJSON_AddItemToObject(f, "topics", tp);
        cJSON_AddItemToArray(p, f);
        cJSON *res = NULL;
        int rc = rpc_call(n->rpc, "eth_getLogs", p, &res, NULL, err, sizeof err);
        cJSON_Delete(p);
        if (rc) {
            metrics_add(n->m, MC_RPC_ERRORS, 1);
            log_msg(LOG_WARN, NULL, "backfill eth_getLogs [%llu, %llu]: %s", (unsigned long long)lo,
                    (unsigned long long)hi, err);
            return -1;
        }
        const cJSON *lg;
        cJSON_ArrayForEach(lg, res) handle_log(n, lg);
        cJSON_Delete(res);
        if (hi == to)
            break;
    }
    return 0;
}

static void save_cursor(node *n, uint64_t block)
{
    uint8_t h[32] = {0};
    ring_get(n, block, h);
    char err[256];
    if (journal_set_cursor(n->j, block, h, err, sizeof err))
        log_msg(LOG_ERROR, NULL, "journal: %s", err);
    else
        n->cursor_saved = block;
}

/* ---- heads and reorgs ---- */

/* The fork walk's lookups (forkwalk.h): the ring's records, and canonical hashes of heights
 * lo..hi (hi - lo < WALK_BATCH) in ONE JSON-RPC batch. */
static int walk_recorded(void *user, uint64_t b, uint8_t hash[32])
{
    return ring_get(user, b, hash);
}

static void walk_learn(void *user, uint64_t b, const uint8_t hash[32])
{
    ring_set(user, b, hash);
}

static int walk_canonical(void *user, uint64_t lo, uint64_t hi, uint8_t (*out)[32], int *found,
                          char *err, size_t errlen)
{
    node *n = user;
    if (hi < lo || hi - lo >= WALK_BATCH) {
        snprintf(err, errlen, "%llu..%llu is not a batch of 1..%d heights", (unsigned long long)lo,
                 (unsigned long long)hi, WALK_BATCH);
        return -1;
    }
    size_t k = (size_t)(hi - lo + 1);
    const char *methods[WALK_BATCH];
    cJSON *params[WALK_BATCH], *res[WALK_BATCH];
    int st[WALK_BATCH];
    for (size_t i = 0; i < k; i++) {
        char q[24];
        hex_quantity_from_u64(q, lo + i);
        methods[i] = "eth_getBlockByNumber";
        params[i] = cJSON_CreateArray();
        cJSON_AddItemToArray(params[i], cJSON_CreateString(q));
        cJSON_AddItemToArray(params[i], cJSON_CreateFalse());
        res[i] = NULL;
    }
    int rc = rpc_call_batch(n->rpc, k, methods, (const cJSON *const *)params, res, st, NULL, err,
                            errlen);
    for (size_t i = 0; i < k; i++) {
        const cJSON *h = rc == RPC_OK && st[i] == RPC_OK
                             ? cJSON_GetObjectItemCaseSensitive(res[i], "hash")
                             : NULL;
        found[i] = cJSON_IsString(h) && !hex_decode_exact(h->valuestring, out[i], 32, NULL, 0);
        cJSON_Delete(params[i]);
        cJSON_Delete(res[i]);
    }
    if (rc != RPC_OK) {
        metrics_add(n->m, MC_RPC_ERRORS, 1);
        return -1;
    }
    return 0;
}

/* The highest height at or below `top` whose hash we recorded is still canonical (the branches
 * meet there), walking down through the ring with batched lookups (forkwalk.h); every canonical
 * hash read on the way is recorded and *walked counts the heights compared. *known = 0 when the
 * ring ran out (a reorg deeper than RING blocks, or heights this run never saw) before a match,
 * or a lookup failed: the returned height is then only a height the fork is at or below. */
static uint64_t find_fork(node *n, uint64_t top, int *known, uint64_t *walked)
{
    forkwalk_chain c = {walk_recorded, walk_canonical, walk_learn, n, WALK_BATCH, RING};
    uint64_t fork;
    char err[512];
    int rc = forkwalk_find(&c, top, &fork, walked, err, sizeof err);
    if (rc == FORKWALK_ERROR)
        log_msg(LOG_WARN, NULL, "reorg: %s (taking the fork as unknown)", err);
    *known = rc == FORKWALK_MET;
    return fork;
}

/* Journaled records a reorg above `above` may touch: requests whose own block is above it
 * (their block may be gone), and, separately, final answers whose transaction was mined above
 * it (the request's block may stay while the block of our answer is gone). */
typedef struct {
    uint64_t above;
    uint8_t (*ids)[32];
    uint64_t *blocks;
    uint8_t (*hashes)[32];
    size_t n, cap;
    uint8_t (*answer_ids)[32];
    size_t n_answers, cap_answers;
} reorg_scan;

/* A record whose answer transaction was mined above `above` and counted final: a request's own
 * transaction, or an answerMany's (its batch record, which answers for its members: a member's
 * copy of the batch's hashes is not its own transaction). */
static int answer_mined_above(const jreq *r, uint64_t above)
{
    int batch = r->f.nonce_only && r->f.tx_kind == TXK_BATCH;
    if (r->f.in_batch || (r->f.nonce_only && !batch))
        return 0;
    return r->f.n_tx_hashes && r->f.mined_block > above &&
           (r->f.state == RS_FULFILLED || r->f.state == RS_REJECTED);
}

static int reorg_scan_fn(const jreq *r, void *user)
{
    reorg_scan *sc = user;
    if (answer_mined_above(r, sc->above)) {
        if (sc->n_answers == sc->cap_answers) {
            size_t ncap = sc->cap_answers ? sc->cap_answers * 2 : 16;
            void *p = realloc(sc->answer_ids, ncap * 32);
            if (!p)
                return -1;
            sc->answer_ids = p;
            sc->cap_answers = ncap;
        }
        memcpy(sc->answer_ids[sc->n_answers++], r->f.id, 32);
    }
    if (r->f.block_number <= sc->above || r->f.state == RS_CANCELLED)
        return 0;
    if (sc->n == sc->cap) {
        size_t ncap = sc->cap ? sc->cap * 2 : 64;
        void *a = realloc(sc->ids, ncap * 32), *b = realloc(sc->blocks, ncap * 8);
        void *c = realloc(sc->hashes, ncap * 32);
        if (a)
            sc->ids = a;
        if (b)
            sc->blocks = b;
        if (c)
            sc->hashes = c;
        if (!a || !b || !c)
            return -1;
        sc->cap = ncap;
    }
    memcpy(sc->ids[sc->n], r->f.id, 32);
    sc->blocks[sc->n] = r->f.block_number;
    memcpy(sc->hashes[sc->n], r->f.block_hash, 32);
    sc->n++;
    return 0;
}

typedef struct {
    uint64_t above;
    const uint8_t *id; /* reopen_batch_fn: the batch record */
    int old_state;     /* out */
    uint64_t nonce;    /* out */
    uint64_t mined;    /* out: the block our transaction was mined in */
} reopen_args;

static int reopen_fn(journal_txn *t, jreq *r, void *user)
{
    (void)t;
    reopen_args *a = user;
    if (!answer_mined_above(r, a->above))
        return 1;
    a->old_state = r->f.state;
    a->nonce = r->f.nonce;
    a->mined = r->f.mined_block;
    r->f.state = RS_SUBMITTED;
    r->f.mined_block = 0;
    memset(r->f.mined_block_hash, 0, 32);
    r->f.t_done = 0;
    return 0;
}

/* The same for an answerMany: its batch record and every member it finalised go back to
 * "submitted" in one journal transaction (a crash in between would leave a batch in flight whose
 * members look final: the tracker would drop them from its next version). */
typedef struct {
    reopen_args rec;
    size_t members;  /* out */
    size_t rejected; /* out: of them, rejected before (the others fulfilled) */
} reopen_batch_args;

static int reopen_batch_fn(journal_txn *t, void *user)
{
    reopen_batch_args *a = user;
    jreq b;
    if (journal_txn_get(t, a->rec.id, &b) != 1)
        return 1;
    int rc = reopen_fn(t, &b, &a->rec);
    if (rc == 0)
        rc = journal_txn_put(t, &b);
    for (size_t i = 0; rc == 0 && i < b.input_len / 32; i++) {
        jreq m;
        int g = journal_txn_get(t, b.input + 32 * i, &m);
        if (g < 0)
            rc = -1;
        if (g != 1)
            continue;
        if (m.f.in_batch && m.f.nonce == b.f.nonce &&
            (m.f.state == RS_FULFILLED || m.f.state == RS_REJECTED)) {
            a->rejected += m.f.state == RS_REJECTED;
            m.f.state = RS_SUBMITTED;
            m.f.n_tx_hashes = 0;
            m.f.mined_block = 0;
            memset(m.f.mined_block_hash, 0, 32);
            m.f.t_done = 0;
            rc = journal_txn_put(t, &m);
            a->members++;
        }
        jreq_free(&m);
    }
    jreq_free(&b);
    return rc;
}

/* A final request (fulfilled or rejected) whose request block stayed on the chain while the
 * block that mined our answer left it: the request is open again on the chain, and only our
 * signed transaction answers it. It goes back to "submitted" and the tracker follows that
 * transaction again (same nonce, same bytes: re-sent if the new branch does not include it).
 * This must happen before submitter_on_reorg: the nonce check there would otherwise take the
 * nonce for free again (its request looks finished) and give it to another answer. */
static void reopen_answer(node *n, const uint8_t id[32], uint64_t fork, uint64_t number)
{
    uint8_t mined_hash[32], c[32];
    char err[256];
    jreq r;
    if (journal_get(n->j, id, &r, err, sizeof err) != 1)
        return;
    int still = answer_mined_above(&r, fork);
    int is_batch = r.f.nonce_only;
    uint64_t mined = r.f.mined_block;
    memcpy(mined_hash, r.f.mined_block_hash, 32);
    jreq_free(&r);
    if (!still)
        return; /* cancelled above: its own block left the chain */
    int rc = mined <= number ? canonical_hash(n, mined, c) : 0;
    if (rc < 0) {
        log_msg(LOG_WARN, id,
                "reorg: cannot tell whether block %llu (our answer's) is still canonical; the "
                "request stays final",
                (unsigned long long)mined);
        return;
    }
    if (rc == 1 && !memcmp(c, mined_hash, 32))
        return;
    if (is_batch) {
        reopen_batch_args ba = {{fork, id, 0, 0, 0}, 0, 0};
        if (journal_run(n->j, reopen_batch_fn, &ba, err, sizeof err) != 0)
            return;
        for (size_t i = 0; i < ba.members; i++)
            metrics_transition(n->m, i < ba.rejected ? RS_REJECTED : RS_FULFILLED, RS_SUBMITTED);
        log_msg(LOG_WARN, id,
                "reorg: our answerMany (nonce %llu, %zu answers) left the chain with block %llu "
                "after its requests were final; their blocks stayed, so they are open again: "
                "following it again",
                (unsigned long long)ba.rec.nonce, ba.members, (unsigned long long)ba.rec.mined);
        submitter_follow_again(n->sub, id, ba.rec.nonce, number);
        return;
    }
    reopen_args a = {fork, id, 0, 0, 0};
    if (journal_update(n->j, id, reopen_fn, &a, err, sizeof err) != 0)
        return;
    metrics_transition(n->m, a.old_state, RS_SUBMITTED);
    log_msg(LOG_WARN, id,
            "reorg: our transaction (nonce %llu) left the chain with block %llu after the request "
            "was %s; its block stayed, so the request is open again: following our transaction "
            "again",
            (unsigned long long)a.nonce, (unsigned long long)a.mined, req_state_name(a.old_state));
    submitter_follow_again(n->sub, id, a.nonce, number);
}

/* A head `number` (child of `parent`) that does not extend the chain we followed (n->head is
 * still the old head here): find the fork, void every request whose block left the chain, read
 * the new branch. */
static void handle_reorg(node *n, uint64_t number, const uint8_t parent[32])
{
    metrics_add(n->m, MC_REORGS, 1);
    uint64_t h = number ? number - 1 : 0;
    uint8_t mine[32];
    int known = 1;
    uint64_t walked = 0;
    if (h && ring_get(n, h, mine) && !memcmp(mine, parent, 32)) {
        /* only the top was replaced */
    } else {
        if (h)
            ring_set(n, h, parent);
        /* Heights above our old head were never recorded (the chain grew while we were not
         * listening): the walk starts at our old head, the first height we can compare. */
        uint64_t top = h > 1 ? h - 1 : 0;
        if (n->head && top > n->head)
            top = n->head;
        h = top ? find_fork(n, top, &known, &walked) : 0;
        metrics_add(n->m, MC_REORG_WALKED_BLOCKS, walked);
    }
    uint64_t fork = h; /* the highest height known to be on both branches */
    if (!known) {
        /* Deeper than anything this run recorded: re-check every journaled request against the
         * chain and read the new branch from the start block again (duplicates are ignored). */
        fork = n->cfg->start_block ? n->cfg->start_block - 1 : 0;
        log_msg(LOG_WARN, NULL,
                "reorg: new head %llu; the fork is below block %llu, the oldest block this run "
                "recorded a hash of (it keeps %d): re-checking every request and re-reading from "
                "block %llu",
                (unsigned long long)number, (unsigned long long)h, RING,
                (unsigned long long)fork + 1);
    } else {
        log_msg(LOG_WARN, NULL,
                "reorg: new head %llu, branches meet at block %llu (a new branch of %llu blocks; "
                "the fork walk compared %llu heights)",
                (unsigned long long)number, (unsigned long long)fork,
                (unsigned long long)(number - fork), (unsigned long long)walked);
    }
    for (uint64_t b = number + 1; b <= n->head && b < number + RING; b++)
        n->ring_num[b % RING] = 0;
    n->head = number;
    /* Every journaled request above the fork whose block is gone is void, whatever its state,
     * however deep: queued or running work stops, a signed transaction's nonce goes to a filler,
     * and a finished one may be seen (and served) again if the new branch includes it. */
    reorg_scan sc = {fork, NULL, NULL, NULL, 0, 0, NULL, 0, 0};
    char err[256];
    if (journal_foreach(n->j, 0, reorg_scan_fn, &sc, err, sizeof err) != 0)
        log_msg(LOG_ERROR, NULL, "reorg: reading the journal: %s", err);
    for (size_t i = 0; i < sc.n; i++) {
        uint8_t c[32];
        int rc = sc.blocks[i] <= number ? canonical_hash(n, sc.blocks[i], c) : 0;
        if (rc == 0 || (rc == 1 && memcmp(c, sc.hashes[i], 32)))
            cancel_request_ex(n, sc.ids[i], "its block left the canonical chain", 1);
    }
    for (size_t i = 0; i < sc.n_answers; i++)
        reopen_answer(n, sc.answer_ids[i], fork, number);
    free(sc.ids);
    free(sc.blocks);
    free(sc.hashes);
    free(sc.answer_ids);
    submitter_on_reorg(n->sub);
    /* read the new branch */
    backfill(n, fork + 1, number);
    if (n->cursor_saved > fork)
        save_cursor(n, fork);
}

static void handle_head(node *n, const cJSON *head)
{
    uint64_t number;
    uint8_t hash[32], parent[32];
    if (json_hex_u64(head, "number", &number) || json_hex32(head, "hash", hash) ||
        json_hex32(head, "parentHash", parent)) {
        log_msg(LOG_WARN, NULL, "newHeads: header without number/hash/parentHash");
        return;
    }
    uint8_t known[32];
    if (n->head && number < n->head && !(ring_get(n, number, known) && memcmp(known, hash, 32))) {
        /* An older block than our head: usually a late notification (at a (re)connect the head
         * is read with eth_blockNumber while the subscription still delivers the blocks before
         * it). Only a reorg if our head has left the chain. */
        uint8_t ours[32], canon[32];
        if (ring_get(n, n->head, ours) && fetch_block_hash(n, n->head, canon) == 1 &&
            !memcmp(ours, canon, 32)) {
            ring_set(n, number, hash);
            return;
        }
    }
    metrics_set_head(n->m, number);
    int reorg = 0;
    if (ring_get(n, number, known) && memcmp(known, hash, 32))
        reorg = 1; /* the same height announced again with another hash */
    else if (number > 1 && ring_get(n, number - 1, known) && memcmp(known, parent, 32))
        reorg = 1; /* our parent is not its parent */
    else if (n->head && number < n->head)
        reorg = 1; /* the chain went back */
    else if (n->head && number > n->head + 1 && !ring_get(n, number - 1, known)) {
        /* Heights were skipped (the chain moved on while we were not listening): nothing above
         * our head was recorded to compare with, so ask whether our head is still canonical. */
        uint8_t canon[32];
        if (fetch_block_hash(n, n->head, canon) == 1 && memcmp(canon, n->head_hash, 32))
            reorg = 1;
    }
    /* The new head's hash is recorded before handle_reorg (it checks requests against the
     * recorded chain), its parent only after: handle_reorg compares the recorded hash of
     * number - 1 with the parent to decide whether only the top was replaced (recording the
     * parent first made every reorg look one block deep and left the fork walk unused). */
    ring_set(n, number, hash);
    if (reorg)
        handle_reorg(n, number, parent);
    if (number > 1)
        ring_set(n, number - 1, parent);
    n->head = number;
    memcpy(n->head_hash, hash, 32);

    /* confirmations */
    uint32_t c = n->cfg->confirmations;
    uint64_t reread_from = 0; /* lowest block of a request cancelled here, 0 if none */
    for (size_t i = 0; i < n->n_tr; i++) {
        tracked *e = &n->tr[i];
        if (e->confirmed || e->block + c > number)
            continue;
        uint8_t ch[32];
        int rc = canonical_hash(n, e->block, ch);
        if (rc < 0)
            continue; /* try again at the next head */
        e->confirmed = 1;
        if (rc == 0 || memcmp(ch, e->hash, 32)) {
            cancel_request(n, e->id, "its block is not on the canonical chain");
            if (!reread_from || e->block < reread_from)
                reread_from = e->block;
        } else {
            confirm(n, e->id);
        }
    }
    /* A reorg noticed only here (its old blocks never announced to us, or made while the node
     * was down with the cursor below the fork): the new branch may carry the same request id
     * again, and its log, read while the old request was still open, was taken for a
     * duplicate. Read the new branch again now that the old one is cancelled. */
    if (reread_from && reread_from <= number)
        backfill(n, reread_from, number);
    /* forget requests deeper than any reorg we handle */
    for (size_t i = 0; i < n->n_tr;) {
        if (n->tr[i].confirmed && n->tr[i].block + REORG_DEPTH < number) {
            n->tr[i] = n->tr[--n->n_tr];
            continue;
        }
        i++;
    }
    /* the next block's base fee, from this header: the submitter prices without a round trip */
    uint64_t base_fee, gas_used, gas_limit = 0, next_fee;
    int has_limit = !json_hex_u64(head, "gasLimit", &gas_limit);
    int has_fee = has_limit && !json_hex_u64(head, "baseFeePerGas", &base_fee) &&
                  !json_hex_u64(head, "gasUsed", &gas_used);
    if (has_fee)
        next_fee = tx_next_base_fee(base_fee, gas_used, gas_limit);
    submitter_on_head(n->sub, number, has_fee ? &next_fee : NULL, has_limit ? gas_limit : 0);
}

/* ---- watcher callbacks ---- */

static void on_connected(void *user)
{
    node *n = user;
    metrics_set_connected(n->m, 1);
    metrics_add(n->m, MC_WS_CONNECTS, 1);
    char err[512];
    unsigned long long head;
    if (rpc_call_u64(n->rpc, "eth_blockNumber", NULL, &head, NULL, err, sizeof err)) {
        log_msg(LOG_WARN, NULL, "eth_blockNumber: %s", err);
        metrics_add(n->m, MC_RPC_ERRORS, 1);
        return;
    }
    uint64_t cursor = 0;
    uint8_t chash[32];
    int found = 0;
    journal_get_cursor(n->j, &cursor, chash, &found);
    uint64_t from = n->cfg->start_block;
    if (found) {
        /* re-read a few blocks: logs are deduplicated, and a reorg near the cursor is caught */
        uint64_t overlap = (uint64_t)n->cfg->confirmations + 4;
        from = cursor + 1 > overlap ? cursor + 1 - overlap : 0;
        if (from < n->cfg->start_block)
            from = n->cfg->start_block;
    }
    static const uint8_t zero[32];
    if (found && !n->head && cursor && memcmp(chash, zero, 32)) {
        /* The first connection of this run: the journaled cursor block stands in for the head
         * we followed before the restart, so that a reorg below it while we were down is
         * detected like one seen live (the fork walk then ends at what this run never saw, and
         * every journaled request is checked against the chain). */
        ring_set(n, cursor, chash);
        n->head = cursor;
        memcpy(n->head_hash, chash, 32);
    }
    if ((uint64_t)head < n->head && n->head) {
        log_msg(LOG_WARN, NULL, "the chain is now at block %llu, below the %llu seen before", head,
                (unsigned long long)n->head);
    }
    log_msg(LOG_INFO, NULL, "websocket %s subscribed; backfilling blocks %llu..%llu",
            n->cfg->rpc_ws, (unsigned long long)from, head);
    uint8_t hh[32];
    if (fetch_block_hash(n, head, hh) == 1) {
        /* treat the current head like an announced one: detects a changed chain */
        cJSON *h = cJSON_CreateObject();
        char q[24], hx[67], px[67];
        uint8_t ph[32];
        hex_quantity_from_u64(q, head);
        hex_encode(hx, hh, 32);
        cJSON_AddStringToObject(h, "number", q);
        cJSON_AddStringToObject(h, "hash", hx);
        if (head > 0 && fetch_block_hash(n, head - 1, ph) == 1) {
            hex_encode(px, ph, 32);
            cJSON_AddStringToObject(h, "parentHash", px);
            if (from <= head && backfill(n, from, head) == 0)
                save_cursor(n, head);
            handle_head(n, h);
        } else if (from <= head && backfill(n, from, head) == 0) {
            save_cursor(n, head);
        }
        cJSON_Delete(h);
    }
    n->connected_once = 1;
    submitter_on_reconnect(n->sub);
}

static void on_disconnected(void *user, const char *why)
{
    node *n = user;
    (void)why;
    metrics_set_connected(n->m, 0);
}

static void on_log(void *user, const cJSON *log)
{
    handle_log(user, log);
}

static void on_head(void *user, const cJSON *head)
{
    handle_head(user, head);
}

static void tick(lws_sorted_usec_list_t *sul)
{
    node *n = lws_container_of(sul, node, tick);
    if (*n->stop) {
        lws_cancel_service(n->lws);
        return;
    }
    if (now_ns() - n->registry_read_ns >= (int64_t)n->cfg->registry_refresh_s * 1000000000LL)
        registry_refresh(n);
    /* The cursor moves only over blocks whose logs this node fetched with eth_getLogs and
     * handled (the subscription's copies are deduplicated). The logs and newHeads
     * subscriptions are separate streams: under load a block's logs can arrive after later
     * heads, and a cursor that followed the heads alone could pass a log that a kill -9 then
     * loses for good. It trails the head by one block, whose logs may still be indexed. */
    if (n->head > 1 && n->head - 1 > n->cursor_saved && n->connected_once) {
        uint64_t to = n->head - 1;
        if (backfill(n, n->cursor_saved + 1, to) == 0)
            save_cursor(n, to);
    }
    lws_sul_schedule(n->lws, 0, &n->tick, tick, 200 * LWS_US_PER_MS);
}

/* ---- engine worker ---- */

static int step_cb(void *user, const engine_step *st)
{
    node *n = user;
    trace_append(&n->trace, st);
    return atomic_load(&n->cancel_current) || *n->stop;
}

static int computing_fn(journal_txn *t, jreq *r, void *user)
{
    (void)t;
    int *old = user;
    *old = r->f.state;
    if (r->f.state != RS_CONFIRMED && r->f.state != RS_COMPUTING)
        return 1;
    r->f.state = RS_COMPUTING;
    return 0;
}

typedef struct {
    const adapter_result *res;
    const sibyl_attestation *att;
    const uint8_t *sig;
    int64_t t, t_dequeued, t_engine_start, t_engine_end;
    const buf *audit; /* attest/record.h's audit blob: stored with the attestation */
} computed_args;

static int computed_fn(journal_txn *t, jreq *r, void *user)
{
    computed_args *a = user;
    if (r->f.state != RS_COMPUTING)
        return 1;
    if (!a->res->reject_code &&
        jreq_set(&r->output, &r->output_len, a->res->output, a->res->output_len))
        return -1;
    r->f.reject_code = (uint16_t)a->res->reject_code;
    memcpy(r->f.model_hash, a->att->model_hash, 32);
    memcpy(r->f.input_hash, a->att->input_hash, 32);
    memcpy(r->f.params_hash, a->att->params_hash, 32);
    memcpy(r->f.output_hash, a->att->output_hash, 32);
    memcpy(r->f.engine_version, a->att->engine_version, 32);
    memcpy(r->f.signature, a->sig, 65);
    r->f.engine_seconds = a->res->engine_seconds;
    r->f.t_computed = a->t;
    r->f.t_dequeued = a->t_dequeued;
    r->f.t_engine_start = a->t_engine_start ? a->t_engine_start : a->t;
    r->f.t_engine_end = a->t_engine_end ? a->t_engine_end : a->t;
    if (journal_txn_put_audit(t, r->f.id, a->audit->data, a->audit->len))
        return -1;
    r->f.state = RS_COMPUTED;
    return 0;
}

static int failed_fn(journal_txn *t, jreq *r, void *user)
{
    (void)t;
    (void)user;
    if (req_state_is_final(r->f.state))
        return 1;
    r->f.state = RS_FAILED;
    r->f.t_done = now_ns();
    return 0;
}

/* Calls the oracle's view `sig` (one bytes32/uint256 argument) at the latest block and decodes
 * its return data into out, which must be exactly `want` bytes long. */
static int oracle_view(node *n, rpc_client *rpc, const char *sig, const uint8_t arg[32],
                       uint8_t *out, size_t want, char *err, size_t errlen)
{
    uint8_t sel[32];
    keccak256(sig, strlen(sig), sel);
    char data[2 + 8 + 64 + 1], to[43], arghex[67];
    hex_encode(arghex, arg, 32);
    snprintf(data, sizeof data, "0x%02x%02x%02x%02x%s", sel[0], sel[1], sel[2], sel[3], arghex + 2);
    hex_encode(to, n->cfg->oracle_address, 20);
    cJSON *p = cJSON_CreateArray(), *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "to", to);
    cJSON_AddStringToObject(o, "data", data);
    cJSON_AddItemToArray(p, o);
    cJSON_AddItemToArray(p, cJSON_CreateString("latest"));
    cJSON *res = NULL;
    int rc = rpc_call(rpc, "eth_call", p, &res, NULL, err, errlen);
    cJSON_Delete(p);
    if (rc)
        return -1;
    size_t len = 0;
    rc = cJSON_IsString(res) ? hex_decode(res->valuestring, out, want, &len, err, errlen) : -1;
    cJSON_Delete(res);
    if (rc || len != want) {
        snprintf(err, errlen,
                 "%s returned %zu bytes, expected %zu (is oracle_address an "
                 "InferenceOracle?)",
                 sig, len, want);
        return -1;
    }
    return 0;
}

/* For a request whose model this node does not serve: the model hash the request committed
 * to (the attestation must carry it), read with getRequest(id). */
static int registered_model_hash(node *n, const uint8_t id[32], uint8_t out[32], char *err,
                                 size_t errlen)
{
    uint8_t b[16 * 32];
    if (oracle_view(n, n->worker_rpc, "getRequest(uint256)", id, b, sizeof b, err, errlen))
        return -1;
    memcpy(out, b + 10 * 32, 32); /* Request.modelHash: the 11th word */
    return 0;
}

/* The registry's modelHash for model_id (models(bytes32), word 0); all zero when the model was
 * never registered. */
static int registry_model_hash(node *n, const uint8_t model_id[32], uint8_t out[32],
                               unsigned *quorum, char *err, size_t errlen)
{
    uint8_t b[4 * 32];
    if (oracle_view(n, n->rpc, "models(bytes32)", model_id, b, sizeof b, err, errlen))
        return -1;
    memcpy(out, b, 32);
    *quorum = (unsigned)b[2 * 32 + 30] << 8 | b[2 * 32 + 31]; /* word 2: uint16 quorum */
    return 0;
}

/* isNode(this key): 1 yes, 0 no, -1 RPC trouble. */
static int registry_is_node(node *n, char *err, size_t errlen)
{
    uint8_t arg[32] = {0}, b[32];
    memcpy(arg + 12, n->addr, 20);
    if (oracle_view(n, n->rpc, "isNode(address)", arg, b, sizeof b, err, errlen))
        return -1;
    return b[31] != 0;
}

/* Whether a model is served, given the registry's modelHash for its id. */
static int serves(const served_model *sm, const uint8_t reg[32])
{
    static const uint8_t zero[32] = {0};
    return !memcmp(reg, zero, 32) || !memcmp(reg, sm->hash, 32);
}

/* Re-reads the registry (lws thread, every registry_refresh_seconds): a model whose modelHash
 * changed to this file's is served from now on, one changed away from it is not (its requests
 * get reject UNKNOWN_MODEL, unless they were made while the hash was this file's), and a
 * change of quorum or of this node's registration is logged. */
static void registry_refresh(node *n)
{
    n->registry_read_ns = now_ns();
    char err[512];
    int served = 0, refused = 0;
    for (int i = 0; i < n->n_models; i++) {
        served_model *sm = &n->models[i];
        uint8_t reg[32];
        unsigned quorum = 0;
        if (registry_model_hash(n, sm->model_id, reg, &quorum, err, sizeof err)) {
            metrics_add(n->m, MC_RPC_ERRORS, 1);
            log_msg(LOG_WARN, NULL, "re-reading the model registry: %s", err);
            return;
        }
        int now = serves(sm, reg), was = atomic_load(&sm->serving);
        if (now != was) {
            char rh[67];
            hex_encode(rh, reg, 32);
            log_msg(now ? LOG_INFO : LOG_WARN, NULL,
                    now ? "model %s: the registry's modelHash is now %s, this file's: serving it"
                        : "model %s: the registry's modelHash changed to %s, not this file's: no "
                          "longer serving it (new requests get reject UNKNOWN_MODEL)",
                    sm->path, rh);
            atomic_store(&sm->serving, now);
        }
        if (quorum != sm->quorum) {
            log_msg(LOG_INFO, NULL, "model %s: quorum changed from %u to %u", sm->path, sm->quorum,
                    quorum);
            sm->quorum = quorum;
        }
        served += now;
        refused += !now;
    }
    metrics_set_models(n->m, served, refused);
    int is_node = registry_is_node(n, err, sizeof err);
    if (is_node < 0) {
        metrics_add(n->m, MC_RPC_ERRORS, 1);
        log_msg(LOG_WARN, NULL, "re-reading the node registry: %s", err);
    } else {
        if (is_node != n->is_node)
            log_msg(is_node ? LOG_INFO : LOG_WARN, NULL,
                    is_node ? "this node's key is registered with the oracle (again): sending "
                              "resumes"
                            : "this node's key is NOT registered with the oracle (removed?): "
                              "sending paused until it is added again (votes would revert with "
                              "NotNode and burn gas; computed answers wait in the journal)");
        n->is_node = is_node;
        /* every read, not only changes: the submitter may have paused itself on a NotNode */
        submitter_set_registered(n->sub, is_node);
    }
}

/* Back to the engine queue after an RPC failure: the worker retries it later. */
static void requeue_later(node *n, const uint8_t id[32])
{
    struct timespec ts = {0, 500000000L};
    nanosleep(&ts, NULL);
    queue_push(n, id);
}

static void process(node *n, const uint8_t id[32])
{
    char err[512];
    int old = 0;
    int64_t t_dequeued = now_ns(), t_engine_start = 0, t_engine_end = 0;
    int rc = journal_update(n->j, id, computing_fn, &old, err, sizeof err);
    if (rc != 0) {
        if (rc < 0)
            log_msg(LOG_ERROR, id, "journal: %s", err);
        return;
    }
    if (old != RS_COMPUTING)
        metrics_transition(n->m, old, RS_COMPUTING);
    testhook_crash_point("after_computing");
    jreq r;
    if (journal_get(n->j, id, &r, err, sizeof err) != 1)
        return;

    adapter_result res;
    memset(&res, 0, sizeof res);
    trace_reset(&n->trace);
    const served_model *sm = NULL;
    for (int i = 0; i < n->n_models; i++)
        if (!memcmp(n->models[i].model_id, r.f.model_id, 32))
            sm = &n->models[i];
    const adapter_def *ad = adapter_find(r.f.adapter);
    uint8_t model_hash[32];
    int have_hash = 0;
    if (sm && !atomic_load(&sm->serving)) {
        /* the registry names another file now: serve only a request made while it named ours */
        if (registered_model_hash(n, id, model_hash, err, sizeof err)) {
            log_msg(LOG_WARN, id, "cannot read the request's model hash: %s", err);
            metrics_add(n->m, MC_RPC_ERRORS, 1);
            jreq_free(&r);
            requeue_later(n, id);
            return;
        }
        have_hash = 1;
        if (memcmp(model_hash, sm->hash, 32))
            sm = NULL;
    }
    char why[512] = "";
    if (!sm) {
        res.reject_code = REJECT_UNKNOWN_MODEL;
        snprintf(why, sizeof why, "this node does not serve the model");
    } else if (!ad) {
        res.reject_code = REJECT_UNKNOWN_ADAPTER;
        snprintf(why, sizeof why, "no such adapter");
    } else if (r.input_len > n->cfg->max_input_bytes) {
        res.reject_code = REJECT_INPUT_TOO_LONG;
        snprintf(why, sizeof why, "input is %u bytes, max_input_bytes is %u", r.input_len,
                 n->cfg->max_input_bytes);
    } else {
        adapter_job job;
        memset(&job, 0, sizeof job);
        job.eng = sm->eng;
        job.seed = 0;
        for (int i = 24; i < 32; i++)
            job.seed = job.seed << 8 | r.f.seed[i]; /* the low 64 bits */
        job.input = r.input;
        job.input_len = r.input_len;
        job.params = r.params;
        job.params_len = r.params_len;
        job.on_step = step_cb;
        job.step_user = n;
        pthread_mutex_lock(&n->mu);
        memcpy(n->current, id, 32);
        n->has_current = 1;
        atomic_store(&n->cancel_current, 0);
        pthread_mutex_unlock(&n->mu);
        struct timespec t0, t1;
        t_engine_start = now_ns();
        clock_gettime(CLOCK_MONOTONIC, &t0);
        rc = ad->run(&job, &res, why, sizeof why);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        t_engine_end = now_ns();
        pthread_mutex_lock(&n->mu);
        n->has_current = 0;
        pthread_mutex_unlock(&n->mu);
        double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
        if (res.engine_seconds == 0)
            res.engine_seconds = secs;
        metrics_observe_engine(n->m, res.engine_seconds);
        if (res.cancelled) {
            log_msg(LOG_INFO, id, "engine run cancelled after %.3f s", secs);
            jreq_free(&r);
            return;
        }
        if (rc == 0 && !res.reject_code && res.output_len && testhook_wrong_output())
            res.output[res.output_len - 1] ^= 1;
        if (rc < 0) {
            log_msg(LOG_ERROR, id, "node-side failure, request not answered: %s", why);
            if (journal_update(n->j, id, failed_fn, NULL, err, sizeof err) == 0)
                metrics_transition(n->m, RS_COMPUTING, RS_FAILED);
            adapter_result_free(&res);
            jreq_free(&r);
            return;
        }
    }
    if (sm) {
        memcpy(model_hash, sm->hash, 32);
    } else if (!have_hash && registered_model_hash(n, id, model_hash, err, sizeof err)) {
        log_msg(LOG_WARN, id, "cannot read the request's model hash for the reject: %s", err);
        metrics_add(n->m, MC_RPC_ERRORS, 1);
        jreq_free(&r);
        requeue_later(n, id);
        return;
    }
    if (res.reject_code)
        log_msg(LOG_INFO, id, "rejecting: %s (code %d): %s", reject_code_name(res.reject_code),
                res.reject_code, why);
    sibyl_attestation att;
    attest_build(&att, r.f.id, r.f.seed, model_hash, r.input, r.input_len, r.params, r.params_len,
                 res.output, res.output_len, (uint16_t)res.reject_code);
    uint8_t sig[65];
    if (sibyl_attestation_sign(n->secp, &n->domain, &att, n->key, sig, err, sizeof err)) {
        log_msg(LOG_ERROR, id, "signing the attestation failed: %s", err);
        adapter_result_free(&res);
        jreq_free(&r);
        return;
    }
    buf audit = BUF_INIT;
    audit_blob_encode(n->cfg->chain_id, n->cfg->oracle_address, n->addr, &n->trace, &audit);
    if (buf_ok(&audit)) {
        log_msg(LOG_ERROR, id, "out of memory for the audit trace");
        buf_free(&audit);
        adapter_result_free(&res);
        jreq_free(&r);
        return;
    }
    computed_args ca = {&res,       &att,           sig,          now_ns(),
                        t_dequeued, t_engine_start, t_engine_end, &audit};
    rc = journal_update(n->j, id, computed_fn, &ca, err, sizeof err);
    buf_free(&audit);
    int64_t t_confirmed = r.f.t_confirmed;
    jreq_free(&r);
    if (rc == 0) {
        metrics_transition(n->m, RS_COMPUTING, RS_COMPUTED);
        metrics_observe_stage(n->m, STAGE_COMPUTE, (double)(ca.t - t_confirmed) / 1e9);
        log_msg(LOG_INFO, id, "computed: %s, %zu output bytes, engine %.3f s",
                res.reject_code ? "reject" : "answer", res.output_len, res.engine_seconds);
        testhook_crash_point("after_computed");
        submitter_enqueue(n->sub, id);
    } else if (rc < 0) {
        log_msg(LOG_ERROR, id, "journal: %s", err);
    }
    adapter_result_free(&res);
}

static void *worker_main(void *arg)
{
    node *n = arg;
    for (;;) {
        pthread_mutex_lock(&n->mu);
        while (!n->worker_stop && n->qn == 0)
            pthread_cond_wait(&n->cv, &n->mu);
        if (n->worker_stop) {
            pthread_mutex_unlock(&n->mu);
            break;
        }
        uint8_t id[32];
        memcpy(id, n->q[0], 32);
        memmove(n->q, n->q + 1, (n->qn - 1) * 32);
        n->qn--;
        pthread_mutex_unlock(&n->mu);
        process(n, id);
    }
    return NULL;
}

/* ---- start-up ---- */

typedef struct {
    node *n;
    int counts[RS_COUNT];
} resume_ctx;

static int resume_fn(const jreq *r, void *user)
{
    resume_ctx *rc = user;
    node *n = rc->n;
    if (r->f.nonce_only)
        return 0; /* not a request: a nonce record or a batch record (the submitter's) */
    rc->counts[r->f.state < RS_COUNT ? r->f.state : 0]++;
    switch (r->f.state) {
    case RS_SEEN:
        track_add(n, r->f.id, r->f.block_number, r->f.block_hash, n->cfg->confirmations == 0);
        if (n->cfg->confirmations == 0)
            confirm(n, r->f.id);
        break;
    case RS_CONFIRMED:
    case RS_COMPUTING:
        track_add(n, r->f.id, r->f.block_number, r->f.block_hash, 1);
        queue_push(n, r->f.id);
        break;
    case RS_COMPUTED:
        track_add(n, r->f.id, r->f.block_number, r->f.block_hash, 1);
        submitter_enqueue(n->sub, r->f.id);
        break;
    case RS_SUBMITTED:
        track_add(n, r->f.id, r->f.block_number, r->f.block_hash, 1);
        break;
    default:
        break;
    }
    return 0;
}

static int gauge_fn(const jreq *r, void *user)
{
    if (r->f.nonce_only)
        return 0; /* not a request: a nonce left by a re-included one */
    metrics_transition(user, 0, r->f.state);
    return 0;
}

static int load_key(node *n, char *err, size_t errlen)
{
    char pw[1024];
    if (config_password(n->cfg, pw, sizeof pw, err, errlen))
        return -1;
    int rc =
        keystore_read_file(n->secp, n->cfg->keystore, pw, strlen(pw), n->key, n->addr, err, errlen);
    memset(pw, 0, sizeof pw);
    return rc;
}

int node_run(const config *cfg, volatile sig_atomic_t *stop, char *err, size_t errlen)
{
    node *n = calloc(1, sizeof *n);
    if (!n) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int result = -1;
    n->cfg = cfg;
    n->stop = stop;
    pthread_mutex_init(&n->mu, NULL);
    pthread_cond_init(&n->cv, NULL);
    trace_init(&n->trace, 0);
    log_set_level(cfg->log_level);

    if (!(n->secp = secp_context_create(err, errlen)))
        goto out;
    if (load_key(n, err, errlen))
        goto out;
    char addr_hex[43];
    eth_address_checksum(n->addr, addr_hex);
    n->domain.chain_id = cfg->chain_id;
    memcpy(n->domain.verifying_contract, cfg->oracle_address, 20);
    if (journal_open(cfg->journal_dir, cfg->journal_map_mb, cfg->journal_sync, &n->j, err, errlen))
        goto out;
    if (!(n->m = metrics_create())) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    if (abi_signature_parse(EVENT_INFERENCE_REQUESTED, &n->event, err, errlen) ||
        abi_signature_hash(&n->event, n->topic0)) {
        goto out;
    }
    const char *ev_added = "NodeAdded(address)", *ev_removed = "NodeRemoved(address)",
               *ev_model = "ModelRegistered(bytes32,bytes32,uint16,uint128,bool)";
    keccak256(ev_added, strlen(ev_added), n->topic_node_added);
    keccak256(ev_removed, strlen(ev_removed), n->topic_node_removed);
    keccak256(ev_model, strlen(ev_model), n->topic_model_registered);

    /* the chain must be the configured one */
    if (!(n->rpc = rpc_client_new(cfg->rpc_http, NULL, err, errlen)))
        goto out;
    if (!(n->worker_rpc = rpc_client_new(cfg->rpc_http, NULL, err, errlen)))
        goto out;
    unsigned long long chain_id;
    char e2[512];
    if (rpc_call_u64(n->rpc, "eth_chainId", NULL, &chain_id, NULL, e2, sizeof e2)) {
        snprintf(err, errlen, "cannot reach %s: %s", cfg->rpc_http, e2);
        goto out;
    }
    if (chain_id != cfg->chain_id) {
        snprintf(err, errlen, "%s serves chain %llu, the config says chain_id = %llu",
                 cfg->rpc_http, chain_id, (unsigned long long)cfg->chain_id);
        goto out;
    }

    /* models: hash (cached), compare with the registry, open */
    int refused = 0;
    for (int i = 0; i < cfg->n_models; i++) {
        served_model *sm = &n->models[n->n_models];
        memcpy(sm->model_id, cfg->models[i].id, 32);
        sm->path = cfg->models[i].path;
        if (attest_model_hash(cfg->models[i].path, n->j, 1, sm->hash, err, errlen))
            goto out;
        /* A file that is not the registered model would only earn WrongModelHash reverts:
         * refuse to serve it, so its requests get an honest UNKNOWN_MODEL reject (this node has
         * no file with the registered hash) instead of a failed transaction. */
        uint8_t reg[32], zero[32] = {0};
        unsigned quorum = 0;
        if (registry_model_hash(n, sm->model_id, reg, &quorum, e2, sizeof e2)) {
            snprintf(err, errlen, "reading the model registry: %s", e2);
            goto out;
        }
        char fh[67], rh[67];
        hex_encode(fh, sm->hash, 32);
        hex_encode(rh, reg, 32);
        int serving = 1;
        if (!memcmp(reg, zero, 32)) {
            log_msg(LOG_WARN, NULL, "model %s: its model id is not registered on-chain (yet)",
                    cfg->models[i].path);
        } else if (memcmp(reg, sm->hash, 32)) {
            log_msg(LOG_ERROR, NULL,
                    "model %s: sha256 %s differs from the modelHash %s registered for its model "
                    "id: NOT serving it (its requests get reject UNKNOWN_MODEL; the registry is "
                    "re-read every %u s)",
                    cfg->models[i].path, fh, rh, cfg->registry_refresh_s);
            refused++;
            serving = 0;
        }
        atomic_store(&sm->serving, serving);
        sm->quorum = quorum;
        engine_options eo;
        memset(&eo, 0, sizeof eo);
        eo.model_path = cfg->models[i].path;
        eo.backend = (engine_backend)cfg->backend;
        eo.n_threads = cfg->threads;
        if (engine_open(&eo, &sm->eng, e2, sizeof e2)) {
            if (!serving) { /* not needed now; a registry change cannot make it usable either */
                log_msg(LOG_ERROR, NULL, "model %s: %s", cfg->models[i].path, e2);
                continue;
            }
            snprintf(err, errlen, "model %s: %s", cfg->models[i].path, e2);
            goto out;
        }
        if (quorum == 1)
            memcpy(n->quorum1_models[n->n_quorum1++], sm->model_id, 32);
        n->n_models++;
        log_msg(LOG_INFO, NULL, "model %s loaded, sha256 %s", cfg->models[i].path, fh);
    }
    int served = 0;
    for (int i = 0; i < n->n_models; i++)
        served += atomic_load(&n->models[i].serving);
    metrics_set_models(n->m, served, refused);
    n->is_node = registry_is_node(n, e2, sizeof e2);
    if (n->is_node == 0)
        log_msg(LOG_WARN, NULL,
                "this node's key is NOT registered with the oracle: sending paused until it is "
                "added (votes would revert with NotNode)");
    n->registry_read_ns = now_ns();

    journal_foreach(n->j, 0, gauge_fn, n->m, e2, sizeof e2);

    /* worker threads leave SIGINT/SIGTERM to the main thread */
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    submitter_deps sd = {cfg,         n->j, n->m, n->secp, n->key, n->addr, n->quorum1_models,
                         n->n_quorum1};
    if (submitter_create(&sd, &n->sub, err, errlen)) {
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        goto out;
    }
    submitter_set_registered(n->sub, n->is_node != 0); /* -1 (unknown): try, the revert tells */
    if (submitter_start(n->sub, err, errlen)) {
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        goto out;
    }
    if (pthread_create(&n->worker, NULL, worker_main, n)) {
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        snprintf(err, errlen, "cannot start the engine worker");
        goto out;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    n->worker_started = 1;

    /* resume what a previous run left open */
    resume_ctx rcx;
    memset(&rcx, 0, sizeof rcx);
    rcx.n = n;
    if (journal_foreach(n->j, 1, resume_fn, &rcx, err, errlen) < 0)
        goto out;
    log_msg(LOG_INFO, NULL,
            "node %s on chain %llu, oracle %s: resuming %d seen, %d confirmed, %d computing, "
            "%d computed, %d submitted",
            addr_hex, (unsigned long long)cfg->chain_id, cfg->rpc_http, rcx.counts[RS_SEEN],
            rcx.counts[RS_CONFIRMED], rcx.counts[RS_COMPUTING], rcx.counts[RS_COMPUTED],
            rcx.counts[RS_SUBMITTED]);

    /* libwebsockets: the watcher's client and the metrics server share one context */
    struct lws_protocols protos[3];
    metrics_http_protocol(n->m, &protos[0]);
    watcher_protocol(&protos[1]);
    memset(&protos[2], 0, sizeof protos[2]);
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.protocols = protos;
    info.gid = -1;
    info.uid = -1;
    if (cfg->metrics_port) {
        info.port = cfg->metrics_port;
        info.iface = cfg->metrics_host;
    } else {
        info.port = CONTEXT_PORT_NO_LISTEN;
    }
    lws_set_log_level(getenv("SIBYL_LWS_DEBUG") ? 0x7ff : LLL_ERR, NULL);
    n->lws = lws_create_context(&info);
    if (!n->lws) {
        snprintf(err, errlen, "cannot start libwebsockets (metrics_listen %s:%d in use?)",
                 cfg->metrics_host, cfg->metrics_port);
        goto out;
    }
    if (cfg->metrics_port)
        log_msg(LOG_INFO, NULL, "metrics on http://%s:%d/metrics and /healthz", cfg->metrics_host,
                cfg->metrics_port);
    watcher_callbacks cb = {on_connected, on_disconnected, on_log, on_head};
    uint8_t topics[4][32];
    memcpy(topics[0], n->topic0, 32);
    memcpy(topics[1], n->topic_node_added, 32);
    memcpy(topics[2], n->topic_node_removed, 32);
    memcpy(topics[3], n->topic_model_registered, 32);
    if (watcher_create(cfg->rpc_ws, cfg->oracle_address, (const uint8_t(*)[32])topics, 4, &cb, n,
                       &n->w, err, errlen))
        goto out;
    watcher_start(n->w, n->lws);
    lws_sul_schedule(n->lws, 0, &n->tick, tick, 200 * LWS_US_PER_MS);

    while (!*stop)
        if (lws_service(n->lws, 0) < 0)
            break;
    log_msg(LOG_INFO, NULL, "shutting down");
    result = 0;

out:
    if (n->w)
        watcher_stop(n->w);
    if (n->worker_started) {
        pthread_mutex_lock(&n->mu);
        n->worker_stop = 1;
        atomic_store(&n->cancel_current, 1);
        pthread_cond_signal(&n->cv);
        pthread_mutex_unlock(&n->mu);
        pthread_join(n->worker, NULL);
    }
    if (n->sub)
        submitter_destroy(n->sub);
    if (n->lws) {
        lws_sul_cancel(&n->tick);
        lws_context_destroy(n->lws); /* the cursor stays where tick() last checked it */
    }
    watcher_destroy(n->w);
    for (int i = 0; i < n->n_models; i++)
        engine_close(n->models[i].eng);
    rpc_client_free(n->rpc);
    rpc_client_free(n->worker_rpc);
    abi_signature_free(&n->event);
    journal_close(n->j);
    metrics_destroy(n->m);
    secp_context_destroy(n->secp);
    memset(n->key, 0, sizeof n->key);
    free(n->tr);
    free(n->q);
    trace_free(&n->trace);
    pthread_mutex_destroy(&n->mu);
    pthread_cond_destroy(&n->cv);
    free(n);
    return result;
}
