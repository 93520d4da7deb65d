#include "oracle/submitter.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "oracle/abi.h"
#include "oracle/buf.h"
#include "oracle/hex.h"
#include "oracle/keccak.h"
#include "oracle/log.h"
#include "oracle/rpc.h"
#include "oracle/testhook.h"
#include "oracle/tx.h"

#define GWEI_MILLI_TO_WEI 1000000ULL /* 1 milli-gwei = 1e6 wei */
#define FILLER_GAS 21000
/* InferenceOracle.CALLBACK_GAS_RESERVE: gas the contract keeps beyond a callback's limit */
#define CALLBACK_GAS_RESERVE 40000

typedef struct {
    uint8_t id[32];
    uint64_t nonce;
    uint64_t sent_block;
    uint64_t mined_block; /* 0 = not mined */
    int missing_checks;   /* heads for which the nonce was used but no receipt of ours found */
    int64_t sent_ns;      /* when the current version was sent (0 = before a restart) */
    int unsent;           /* the current version never reached the RPC node (transport failure): the
                           * tracker sends it again on its next pass, without waiting for blocks */
    uint64_t idle_kick;   /* head + 1 when it was last replaced for an idle chain (0 = never) */
} inflight;

/* A transaction is "not mined in time" after resend_after_blocks blocks AND this long: on a
 * chain that makes a block per transaction (anvil automine) blocks alone say nothing about
 * how long a transaction has waited in the pool. */
#define RESEND_MIN_NS 1000000000LL
/* The same for the lowest unmined nonce: every ready transaction goes into the next block on
 * anvil automine, so one that missed resend_after_blocks of them is stuck in the pool (anvil can
 * leave a transaction that arrived while its predecessor was being mined waiting), and every
 * later nonce waits behind it. */
#define RESEND_LOWEST_MIN_NS 250000000LL
/* The lowest unmined nonce with no block at all since it was sent, this long: a chain that makes
 * blocks only for new transactions (anvil automine) can leave a transaction in its pool (it fits
 * a block to the gas limit and keeps the rest until another transaction arrives), and with no
 * other transaction coming no block ever comes. A replacement (bumped fees) is a new
 * transaction: the chain mines. Once per head at most, so a chain with long block times pays
 * at most one bump per block for it. */
#define RESEND_IDLE_NS 3000000000LL

typedef struct {
    uint8_t (*ids)[32];
    size_t n, cap;
} idqueue;

/* eth_estimateGas results by transaction shape (see gas_estimate_cache in docs/operating.md). */
#define GAS_CACHE 64
typedef struct {
    int valid;
    uint8_t kind;
    uint32_t callback_gas, out_words; /* output length in 64-byte steps */
    uint64_t gas;                     /* margin included */
} gas_entry;

/* The next block's base fee as one thread knows it (each thread keeps its own copy). */
typedef struct {
    int hf_valid; /* copies of head_fee* taken with head at each wake-up */
    uint64_t hf, hf_block;
    uint64_t fee_head;
    int64_t fee_time;
    uint64_t base_fee;
    int fee_valid;
} fee_state;

/* What one thread talks to the chain with: its own connection and fee view. */
typedef struct {
    rpc_client *rpc;
    fee_state fee;
} lane;

struct submitter {
    submitter_deps d;
    char addr_hex[43], oracle_hex[43];
    abi_signature sig_fulfill, sig_reject, sig_attest, sig_answer_many;
    uint8_t sel_not_open[4], sel_already_voted[4], sel_expired[4], sel_not_supplied[4];
    uint8_t sel_not_node[4], sel_output_supplied[4];
    uint8_t topic_disagreement[32]; /* QuorumDisagreement */
    uint8_t topic_skipped[32];      /* AnswerSkipped: an answer inside answerMany reverted */
    uint8_t sel_answer_out_of_gas[4];
    /* 1: one answer per transaction (answers_per_tx = 1, or the contract has no answerMany, or
     * a batch reverted for another reason than gas). Set before the threads start, or by the
     * tracker under mu. */
    int no_batch;

    /* Two threads: the sender signs and sends computed requests; the tracker follows what is
     * in flight (receipts, resends, fillers, reorgs). Tracking a few hundred transactions per
     * head never delays a send. */
    pthread_t thread, tracker;
    int started, tracker_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;  /* wakes the sender */
    pthread_cond_t tcv; /* wakes the tracker */
    idqueue q;          /* computed requests to submit (under mu) */
    inflight *handoff;  /* sent by the sender, not yet taken by the tracker (under mu) */
    size_t n_handoff, cap_handoff;
    size_t n_tracked; /* the tracker's count, for submitter_in_flight (under mu) */
    uint64_t head;    /* newest head (under mu) */
    int reorg, reconnect, stop;
    int nonce_check;    /* a reorg happened: the sender compares its nonce counter with the chain */
    int head_fee_valid; /* the newest head's header gave the next base fee (under mu) */
    uint64_t head_fee;  /* that base fee, wei (under mu) */
    uint64_t head_fee_block;  /* the head it belongs to (under mu) */
    uint64_t block_gas_limit; /* the newest header's gasLimit, 0 = not known (under mu) */
    int registered;           /* this key is a registered node: 0 pauses the sender (under mu) */
    uint64_t sent_head;       /* the head when the sender last sent (under mu) */
    int64_t sent_ns;          /* and when (0 = never) (under mu) */
    int paused_logged;        /* the pause was logged (sender) */

    lane send_lane, track_lane;

    /* tracker-owned */
    inflight *fl;
    size_t n_fl, cap_fl;
    uint64_t tracked_head;

    /* shared by both threads under gas_mu: the tracker drops an estimate that ran out of gas */
    pthread_mutex_t gas_mu;
    gas_entry gas_cache[GAS_CACHE];
    unsigned gas_next;
};

/* gas_mu held */
static gas_entry *gas_find(submitter *s, uint8_t kind, uint32_t cb, uint32_t words)
{
    for (int i = 0; i < GAS_CACHE; i++) {
        gas_entry *g = &s->gas_cache[i];
        if (g->valid && g->kind == kind && g->callback_gas == cb && g->out_words == words)
            return g;
    }
    return NULL;
}

/* The cached estimate for a shape: 1 found (in *gas), 0 none. */
static int gas_lookup(submitter *s, uint8_t kind, uint32_t cb, uint32_t words, uint64_t *gas)
{
    pthread_mutex_lock(&s->gas_mu);
    gas_entry *g = gas_find(s, kind, cb, words);
    if (g)
        *gas = g->gas;
    pthread_mutex_unlock(&s->gas_mu);
    return g != NULL;
}

static void gas_store(submitter *s, uint8_t kind, uint32_t cb, uint32_t words, uint64_t gas)
{
    pthread_mutex_lock(&s->gas_mu);
    gas_entry *g = gas_find(s, kind, cb, words);
    if (!g)
        g = &s->gas_cache[s->gas_next++ % GAS_CACHE];
    if (!(g->valid && g->kind == kind && g->callback_gas == cb && g->out_words == words &&
          g->gas >= gas)) {
        g->valid = 1;
        g->kind = kind;
        g->callback_gas = cb;
        g->out_words = words;
        g->gas = gas;
    }
    pthread_mutex_unlock(&s->gas_mu);
}

/* A transaction of this shape ran out of gas: the next one is estimated afresh. */
static void gas_forget(submitter *s, uint8_t kind, uint32_t cb, uint32_t words)
{
    pthread_mutex_lock(&s->gas_mu);
    gas_entry *g = gas_find(s, kind, cb, words);
    if (g)
        g->valid = 0;
    pthread_mutex_unlock(&s->gas_mu);
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int idq_push(idqueue *q, const uint8_t id[32])
{
    if (q->n == q->cap) {
        size_t ncap = q->cap ? q->cap * 2 : 64;
        void *p = realloc(q->ids, ncap * 32);
        if (!p)
            return -1;
        q->ids = p;
        q->cap = ncap;
    }
    memcpy(q->ids[q->n++], id, 32);
    return 0;
}

static void selector_of(const char *sig, uint8_t out[4])
{
    uint8_t h[32];
    keccak256(sig, strlen(sig), h);
    memcpy(out, h, 4);
}

int submitter_create(const submitter_deps *d, submitter **out, char *err, size_t errlen)
{
    *out = NULL;
    submitter *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    s->d = *d;
    hex_encode(s->addr_hex, d->addr, 20);
    hex_encode(s->oracle_hex, d->cfg->oracle_address, 20);
    rpc_options o = rpc_default_options();
    o.max_retries = 2;
    o.backoff_ms = 100;
    s->send_lane.rpc = rpc_client_new(d->cfg->rpc_http, &o, err, errlen);
    s->track_lane.rpc = s->send_lane.rpc ? rpc_client_new(d->cfg->rpc_http, &o, err, errlen) : NULL;
    if (!s->track_lane.rpc) {
        rpc_client_free(s->send_lane.rpc);
        free(s);
        return -1;
    }
    if (abi_signature_parse("fulfill(uint256,bytes,(uint256,bytes32,bytes32,bytes32,bytes32,"
                            "uint256,bytes32,uint16),bytes)",
                            &s->sig_fulfill, err, errlen) ||
        abi_signature_parse("reject(uint256,(uint256,bytes32,bytes32,bytes32,bytes32,uint256,"
                            "bytes32,uint16),bytes)",
                            &s->sig_reject, err, errlen) ||
        abi_signature_parse("attest(uint256,(uint256,bytes32,bytes32,bytes32,bytes32,uint256,"
                            "bytes32,uint16),bytes)",
                            &s->sig_attest, err, errlen) ||
        abi_signature_parse("answerMany(bytes[])", &s->sig_answer_many, err, errlen)) {
        abi_signature_free(&s->sig_fulfill);
        abi_signature_free(&s->sig_reject);
        abi_signature_free(&s->sig_attest);
        rpc_client_free(s->send_lane.rpc);
        rpc_client_free(s->track_lane.rpc);
        free(s);
        return -1;
    }
    selector_of("RequestNotOpen(uint256,uint8)", s->sel_not_open);
    selector_of("AlreadyVoted(uint256,address)", s->sel_already_voted);
    selector_of("RequestExpired(uint256,uint64)", s->sel_expired);
    selector_of("OutputNotSupplied(uint256,bytes32)", s->sel_not_supplied);
    selector_of("NotNode(address)", s->sel_not_node);
    selector_of("outputSupplied(uint256,bytes32)", s->sel_output_supplied);
    const char *qd = "QuorumDisagreement(uint256,address,bytes32,uint16,bytes32,uint16)";
    keccak256(qd, strlen(qd), s->topic_disagreement);
    const char *sk = "AnswerSkipped(uint256,uint256,bytes)";
    keccak256(sk, strlen(sk), s->topic_skipped);
    selector_of("AnswerOutOfGas(uint256)", s->sel_answer_out_of_gas);
    s->no_batch = d->cfg->answers_per_tx <= 1;
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->gas_mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    pthread_cond_init(&s->tcv, NULL);
    s->registered = 1;
    *out = s;
    return 0;
}

/* ---- RPC helpers ---- */

static void rpc_failed(submitter *s, const char *what, const char *err)
{
    metrics_add(s->d.m, MC_RPC_ERRORS, 1);
    log_msg(LOG_WARN, NULL, "%s: %s", what, err);
}

static int get_nonce(submitter *s, const char *tag, uint64_t *out)
{
    cJSON *p = cJSON_CreateArray();
    cJSON_AddItemToArray(p, cJSON_CreateString(s->addr_hex));
    cJSON_AddItemToArray(p, cJSON_CreateString(tag));
    unsigned long long v;
    char err[512];
    int rc =
        rpc_call_u64(s->send_lane.rpc, "eth_getTransactionCount", p, &v, NULL, err, sizeof err);
    cJSON_Delete(p);
    if (rc) {
        rpc_failed(s, "eth_getTransactionCount", err);
        return -1;
    }
    *out = v;
    return 0;
}

static int json_u64(const cJSON *o, const char *name, uint64_t *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!cJSON_IsString(v))
        return -1;
    return hex_quantity_to_u64(v->valuestring, out, NULL, 0);
}

/* The next block's base fee. Cached for one head, and for up to a second across heads: the
 * base fee moves at most 12.5% per block and maxFee = 2 * baseFee + tip has room for that, while
 * a fast chain (anvil automine: a block per transaction) would otherwise cost one extra RPC per
 * transaction. */
static int current_base_fee(submitter *s, lane *L, uint64_t head, uint64_t *out)
{
    fee_state *f = &L->fee;
    if (f->hf_valid && f->hf_block == head) {
        *out = f->hf; /* computed from the newHeads header: no round trip */
        return 0;
    }
    int64_t now = now_ns();
    if (f->fee_valid && (f->fee_head == head || now - f->fee_time < 1000000000LL)) {
        *out = f->base_fee;
        return 0;
    }
    cJSON *p = cJSON_CreateArray();
    cJSON_AddItemToArray(p, cJSON_CreateString("0x1"));
    cJSON_AddItemToArray(p, cJSON_CreateString("latest"));
    cJSON_AddItemToArray(p, cJSON_CreateArray());
    cJSON *res = NULL;
    char err[512];
    int rc = rpc_call(L->rpc, "eth_feeHistory", p, &res, NULL, err, sizeof err);
    cJSON_Delete(p);
    if (rc) {
        rpc_failed(s, "eth_feeHistory", err);
        return -1;
    }
    const cJSON *bf = cJSON_GetObjectItemCaseSensitive(res, "baseFeePerGas");
    int n = cJSON_GetArraySize(bf);
    const cJSON *last = n > 0 ? cJSON_GetArrayItem(bf, n - 1) : NULL;
    uint64_t v;
    if (!cJSON_IsString(last) || hex_quantity_to_u64(last->valuestring, &v, NULL, 0)) {
        cJSON_Delete(res);
        rpc_failed(s, "eth_feeHistory", "no baseFeePerGas in the reply");
        return -1;
    }
    cJSON_Delete(res);
    f->base_fee = v;
    f->fee_head = head;
    f->fee_time = now;
    f->fee_valid = 1;
    *out = v;
    return 0;
}

static void fees_for(submitter *s, uint64_t base_fee, uint64_t *max_fee, uint64_t *tip)
{
    uint64_t cap = s->d.cfg->max_fee_gwei_milli * GWEI_MILLI_TO_WEI;
    uint64_t t = s->d.cfg->priority_fee_gwei_milli * GWEI_MILLI_TO_WEI;
    uint64_t mf = base_fee * 2 + t;
    if (mf > cap) {
        mf = cap;
        if (cap < base_fee)
            log_msg(LOG_WARN, NULL,
                    "max_fee_per_gas_gwei is below the base fee (%llu wei): transactions will "
                    "wait until the base fee falls",
                    (unsigned long long)base_fee);
    }
    if (t > mf)
        t = mf;
    *max_fee = mf;
    *tip = t;
}

static cJSON *call_object(submitter *s, const uint8_t *data, size_t len)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "from", s->addr_hex);
    cJSON_AddStringToObject(o, "to", s->oracle_hex);
    char *hex = malloc(2 * len + 3);
    if (!hex) {
        cJSON_Delete(o);
        return NULL;
    }
    hex_encode(hex, data, len);
    cJSON_AddStringToObject(o, "data", hex);
    free(hex);
    return o;
}

/* eth_call of our call data to the oracle at the latest block, the result dropped (gas 0: the
 * RPC node's default). RPC_OK, RPC_EERROR (the revert in *re: clear it), or another failure. */
static int call_latest(submitter *s, rpc_client *rpc, const uint8_t *data, size_t len, uint64_t gas,
                       rpc_error *re, char *err, size_t errlen)
{
    cJSON *p = cJSON_CreateArray();
    cJSON *o = call_object(s, data, len);
    if (gas) {
        char g[32];
        snprintf(g, sizeof g, "0x%llx", (unsigned long long)gas);
        cJSON_AddStringToObject(o, "gas", g);
    }
    cJSON_AddItemToArray(p, o);
    cJSON_AddItemToArray(p, cJSON_CreateString("latest"));
    cJSON *res = NULL;
    memset(re, 0, sizeof *re);
    int rc = rpc_call(rpc, "eth_call", p, &res, re, err, errlen);
    cJSON_Delete(p);
    cJSON_Delete(res);
    return rc;
}

/* What a revert means for us. REVERT_REFULFILL: an attest whose output bytes are no longer
 * stored on chain (a reorg dropped the fulfill that supplied them): send fulfill instead.
 * REVERT_NOT_NODE: this key is not a registered node (removed): pause until it is again. */
enum { REVERT_OTHER = 0, REVERT_DONE = 1, REVERT_REFULFILL = 2, REVERT_NOT_NODE = 3 };

/* Reads revert data "0x<selector>..." and says whether it means "the request is finished
 * anyway". final_state gets the state to record. */
static int classify_revert(submitter *s, const char *data, int *final_state, char *name,
                           size_t namecap)
{
    uint8_t b[4 + 64];
    size_t n = 0;
    snprintf(name, namecap, "revert %.40s", data ? data : "(no data)");
    if (!data || hex_decode(data, b, sizeof b, &n, NULL, 0) || n < 4)
        return REVERT_OTHER;
    if (!memcmp(b, s->sel_not_open, 4) && n == 4 + 64) {
        int status = b[4 + 63];
        /* Status: 0 None, 1 Open, 2 Fulfilled, 3 Rejected, 4 Cancelled */
        *final_state = status == 2 ? RS_FULFILLED : status == 3 ? RS_REJECTED : RS_CANCELLED;
        snprintf(name, namecap, "RequestNotOpen(status %d)", status);
        return status == 0 ? REVERT_OTHER : REVERT_DONE;
    }
    if (!memcmp(b, s->sel_already_voted, 4)) {
        *final_state = RS_FULFILLED;
        snprintf(name, namecap, "AlreadyVoted");
        return REVERT_DONE;
    }
    if (!memcmp(b, s->sel_expired, 4)) {
        *final_state = RS_FAILED;
        snprintf(name, namecap, "RequestExpired");
        return REVERT_DONE;
    }
    if (!memcmp(b, s->sel_not_supplied, 4)) {
        snprintf(name, namecap, "OutputNotSupplied");
        return REVERT_REFULFILL;
    }
    if (!memcmp(b, s->sel_not_node, 4)) {
        snprintf(name, namecap, "NotNode");
        return REVERT_NOT_NODE;
    }
    return REVERT_OTHER;
}

/* ---- journal transitions ---- */

typedef struct {
    int to;
    int from_mask; /* 1 << state allowed */
    const char *why;
} finish_args;

static int finish_fn(journal_txn *t, jreq *r, void *user)
{
    (void)t;
    finish_args *a = user;
    if (!(a->from_mask & (1 << r->f.state)) && !r->f.cancel_pending)
        return 1;
    if (r->f.state != RS_CANCELLED)
        r->f.state = (uint8_t)a->to;
    r->f.cancel_pending = 0;
    r->f.t_done = now_ns();
    return 0;
}

static void finish(submitter *s, const uint8_t id[32], int from, int to, const char *why)
{
    finish_args a = {to, (1 << RS_COMPUTED) | (1 << RS_SUBMITTED), why};
    char err[256];
    jreq r;
    int old = from;
    if (journal_get(s->d.j, id, &r, err, sizeof err) == 1) {
        old = r.f.state;
        jreq_free(&r);
    }
    int rc = journal_update(s->d.j, id, finish_fn, &a, err, sizeof err);
    if (rc < 0) {
        log_msg(LOG_ERROR, id, "journal: %s", err);
        return;
    }
    if (rc == 0 && old != RS_CANCELLED) {
        metrics_transition(s->d.m, old, to);
        log_msg(to == RS_FAILED ? LOG_WARN : LOG_INFO, id, "request %s: %s", req_state_name(to),
                why);
    }
}

typedef struct {
    submitter *s;
    const uint8_t *data;
    size_t data_len;
    uint64_t gas, max_fee, tip, head;
    int resend; /* 0 = first signature (takes a nonce) */
    /* sign_again_fn: the record must still be what resend() read (the nonce it holds and
     * whether it is a cancelled one's filler); a request re-included meanwhile is not */
    uint64_t expect_nonce;
    int expect_cancelled;
    /* sign_again_fn on a batch record: the members its new version answers (none: a filler) */
    int batch;
    const uint8_t *live;
    size_t n_live;
    uint8_t hash[32];
    uint64_t nonce;
    int kind;
    uint8_t *raw; /* copy of the signed bytes (malloc'd; the caller frees) */
    size_t raw_len;
    char err[256];
} sign_args;

static int sign_into(sign_args *a, jreq *r, int kind, uint64_t nonce)
{
    submitter *s = a->s;
    tx_fields tx;
    memset(&tx, 0, sizeof tx);
    tx.type = TX_EIP1559;
    tx.chain_id = s->d.cfg->chain_id;
    tx.nonce = nonce;
    tx.has_to = 1;
    if (kind == TXK_FILLER) {
        memcpy(tx.to, s->d.addr, 20); /* a zero-value transfer to ourselves */
        tx.gas_limit = FILLER_GAS;
    } else {
        memcpy(tx.to, s->d.cfg->oracle_address, 20);
        tx.gas_limit = a->gas;
        tx.data = a->data;
        tx.data_len = a->data_len;
    }
    u256_from_u64(&tx.max_fee_per_gas, a->max_fee);
    u256_from_u64(&tx.max_priority_fee_per_gas, a->tip);
    buf raw = BUF_INIT;
    if (tx_sign(s->d.secp, &tx, s->d.key, &raw, a->hash, a->err, sizeof a->err)) {
        buf_free(&raw);
        return -1;
    }
    uint8_t *copy = malloc(raw.len ? raw.len : 1);
    if (!copy || jreq_set(&r->raw_tx, &r->raw_tx_len, raw.data, raw.len)) {
        free(copy);
        buf_free(&raw);
        snprintf(a->err, sizeof a->err, "out of memory");
        return -1;
    }
    memcpy(copy, raw.data, raw.len);
    free(a->raw);
    a->raw = copy;
    a->raw_len = raw.len;
    buf_free(&raw);
    r->f.nonce = nonce;
    r->f.gas_limit = tx.gas_limit;
    r->f.max_fee_per_gas = a->max_fee;
    r->f.max_priority_fee_per_gas = a->tip;
    r->f.tx_kind = (uint8_t)kind;
    if (r->f.n_tx_hashes < JREQ_MAX_TX_HASHES) {
        memcpy(r->f.tx_hashes[r->f.n_tx_hashes++], a->hash, 32);
    } else {
        /* keep the first versions and the newest one */
        memcpy(r->f.tx_hashes[JREQ_MAX_TX_HASHES - 1], a->hash, 32);
    }
    r->f.sent_block = a->head;
    a->nonce = nonce;
    a->kind = kind;
    return 0;
}

/* First signature: takes the next nonce, stores the signed bytes, state -> submitted. */
static int sign_new_fn(journal_txn *t, jreq *r, void *user)
{
    sign_args *a = user;
    if (r->f.state != RS_COMPUTED)
        return 1;
    uint64_t nonce;
    if (journal_txn_next_nonce(t, &nonce)) {
        snprintf(a->err, sizeof a->err, "cannot read the nonce counter");
        return -1;
    }
    if (sign_into(a, r, a->kind, nonce))
        return -1;
    if (journal_txn_set_next_nonce(t, nonce + 1) || journal_txn_claim_nonce(t, nonce, r->f.id)) {
        snprintf(a->err, sizeof a->err, "cannot store the nonce");
        return -1;
    }
    r->f.state = RS_SUBMITTED;
    r->f.in_batch = 0;
    return 0;
}

/* Re-signature with the same nonce and higher fees (or a filler for a cancelled request). */
static int sign_again_fn(journal_txn *t, jreq *r, void *user)
{
    (void)t;
    sign_args *a = user;
    int cancelled = r->f.state == RS_CANCELLED && r->f.cancel_pending;
    if (r->f.state != RS_SUBMITTED && !cancelled)
        return 1;
    if (r->f.mined_block || !r->f.n_tx_hashes || r->f.nonce != a->expect_nonce ||
        cancelled != a->expect_cancelled)
        return 1;
    if (a->batch && !cancelled) {
        if (!a->n_live) {
            /* every answer it carried left the chain: its nonce goes to a filler */
            r->f.state = RS_CANCELLED;
            r->f.cancel_pending = 1;
            return sign_into(a, r, TXK_FILLER, r->f.nonce) ? -1 : 0;
        }
        if (jreq_set(&r->input, &r->input_len, a->live, a->n_live * 32)) {
            snprintf(a->err, sizeof a->err, "out of memory");
            return -1;
        }
    }
    /* the call data (the same call, for a request still open) is passed in */
    return sign_into(a, r, cancelled ? TXK_FILLER : r->f.tx_kind, r->f.nonce) ? -1 : 0;
}

typedef struct {
    uint64_t block, gas_used, price;
    uint8_t block_hash[32];
    int clear; /* 1: forget the mined block (reorg) */
} mined_args;

static int mined_fn(journal_txn *t, jreq *r, void *user)
{
    (void)t;
    mined_args *a = user;
    if (a->clear) {
        r->f.mined_block = 0;
        memset(r->f.mined_block_hash, 0, 32);
        return 0;
    }
    r->f.mined_block = a->block;
    memcpy(r->f.mined_block_hash, a->block_hash, 32);
    r->f.gas_used = a->gas_used;
    r->f.effective_gas_price = a->price;
    return 0;
}

/* A reverted transaction to be replaced by a new one (new nonce, fresh gas estimate). */
static int resubmit_fn(journal_txn *t, jreq *r, void *user)
{
    (void)t;
    (void)user;
    if (r->f.state != RS_SUBMITTED)
        return 1;
    r->f.state = RS_COMPUTED;
    r->f.n_tx_hashes = 0;
    r->f.mined_block = 0;
    r->f.sent_block = 0;
    return 0;
}

/* ---- encoding the call ---- */

/* kind: TXK_FULFILL (output bytes + attestation), TXK_ATTEST (attestation only, for an output
 * another node already supplied) or TXK_REJECT. */
static int encode_call(submitter *s, const jreq *r, int kind, buf *out, char *err, size_t errlen)
{
    int with_output = kind == TXK_FULFILL;
    abi_value args;
    if (abi_value_list(&args, ABI_TUPLE, with_output ? 4 : 3)) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    u256 id, seed;
    memcpy(id.b, r->f.id, 32);
    memcpy(seed.b, r->f.seed, 32);
    size_t i = 0;
    int rc = 0;
    abi_value_u256(&args.items[i++], &id);
    if (with_output)
        rc |= abi_value_bytes(&args.items[i++], r->output, r->output_len);
    abi_value *att = &args.items[i++];
    rc |= abi_value_list(att, ABI_TUPLE, 8);
    if (!rc) {
        abi_value_u256(&att->items[0], &id);
        abi_value_fixed_bytes(&att->items[1], r->f.model_hash, 32);
        abi_value_fixed_bytes(&att->items[2], r->f.input_hash, 32);
        abi_value_fixed_bytes(&att->items[3], r->f.params_hash, 32);
        abi_value_fixed_bytes(&att->items[4], r->f.output_hash, 32);
        abi_value_u256(&att->items[5], &seed);
        abi_value_fixed_bytes(&att->items[6], r->f.engine_version, 32);
        abi_value_uint(&att->items[7], r->f.reject_code);
    }
    rc |= abi_value_bytes(&args.items[i++], r->f.signature, 65);
    if (rc) {
        abi_value_free(&args);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    const abi_signature *fn = kind == TXK_REJECT   ? &s->sig_reject
                              : kind == TXK_ATTEST ? &s->sig_attest
                                                   : &s->sig_fulfill;
    rc = abi_encode_call(fn, &args, out, err, errlen);
    abi_value_free(&args);
    return rc;
}

/* ---- sending ---- */

/* What an eth_sendRawTransaction outcome means: 0 sent (or already known / mined), -1 transport
 * failure (retry later), -2 refused. */
static int send_outcome(submitter *s, int rc, const rpc_error *re, const char *err,
                        const uint8_t *id)
{
    if (rc == RPC_OK)
        return 0;
    if (rc == RPC_EERROR) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", re->message);
        for (char *c = msg; *c; c++)
            if (*c >= 'A' && *c <= 'Z')
                *c = (char)(*c - 'A' + 'a');
        if (strstr(msg, "already known") || strstr(msg, "nonce too low") ||
            strstr(msg, "already imported") || strstr(msg, "known transaction"))
            return 0; /* a version of it is in the pool or mined: not an error */
        log_msg(LOG_WARN, id, "eth_sendRawTransaction refused: %s", msg);
        metrics_add(s->d.m, MC_RPC_ERRORS, 1);
        return -2;
    }
    rpc_failed(s, "eth_sendRawTransaction", err);
    return -1;
}

static cJSON *raw_tx_params(const uint8_t *raw, size_t len)
{
    char *hex = malloc(2 * len + 3);
    if (!hex)
        return NULL;
    hex_encode(hex, raw, len);
    cJSON *p = cJSON_CreateArray();
    cJSON_AddItemToArray(p, cJSON_CreateString(hex));
    free(hex);
    return p;
}

/* 0 sent (or already known / mined), -1 transport failure (retry later), -2 refused. */
static int send_raw(submitter *s, rpc_client *rpc, const uint8_t *raw, size_t len,
                    const uint8_t *id)
{
    cJSON *p = raw_tx_params(raw, len);
    if (!p)
        return -1;
    cJSON *res = NULL;
    rpc_error re;
    memset(&re, 0, sizeof re);
    char err[512];
    int rc = rpc_call(rpc, "eth_sendRawTransaction", p, &res, &re, err, sizeof err);
    cJSON_Delete(p);
    cJSON_Delete(res);
    rc = send_outcome(s, rc, &re, err, id);
    rpc_error_clear(&re);
    return rc;
}

static void add_inflight(submitter *s, const uint8_t id[32], uint64_t nonce, uint64_t sent_block,
                         uint64_t mined_block)
{
    /* one entry per (request, nonce): a request signing again with a new nonce (its old
     * transaction reverted, or it was re-included after a reorg) is another entry; the old one
     * leaves the list, or follows its nonce to a nonce record (entry_record) */
    for (size_t i = 0; i < s->n_fl; i++)
        if (!memcmp(s->fl[i].id, id, 32) && s->fl[i].nonce == nonce)
            return;
    if (s->n_fl == s->cap_fl) {
        size_t ncap = s->cap_fl ? s->cap_fl * 2 : 64;
        inflight *p = realloc(s->fl, ncap * sizeof *p);
        if (!p) {
            log_msg(LOG_ERROR, id, "out of memory tracking a transaction");
            return;
        }
        s->fl = p;
        s->cap_fl = ncap;
    }
    /* keep sorted by nonce */
    size_t pos = s->n_fl;
    while (pos > 0 && s->fl[pos - 1].nonce > nonce) {
        s->fl[pos] = s->fl[pos - 1];
        pos--;
    }
    inflight *e = &s->fl[pos];
    memset(e, 0, sizeof *e);
    memcpy(e->id, id, 32);
    e->nonce = nonce;
    e->sent_block = sent_block;
    e->mined_block = mined_block;
    e->sent_ns = mined_block ? 0 : now_ns();
    s->n_fl++;
}

static void remove_inflight(submitter *s, size_t i)
{
    memmove(&s->fl[i], &s->fl[i + 1], (s->n_fl - i - 1) * sizeof *s->fl);
    s->n_fl--;
}

/* Sender: a transaction just sent (or refused, or lost in transport (unsent = 1): the tracker
 * re-sends it) goes to the tracker. */
static void hand_to_tracker(submitter *s, const uint8_t id[32], uint64_t nonce, uint64_t head,
                            int unsent)
{
    pthread_mutex_lock(&s->mu);
    if (s->n_handoff == s->cap_handoff) {
        size_t ncap = s->cap_handoff ? s->cap_handoff * 2 : 64;
        inflight *p = realloc(s->handoff, ncap * sizeof *p);
        if (!p) {
            pthread_mutex_unlock(&s->mu);
            log_msg(LOG_ERROR, id, "out of memory tracking a transaction");
            return;
        }
        s->handoff = p;
        s->cap_handoff = ncap;
    }
    inflight *e = &s->handoff[s->n_handoff++];
    memset(e, 0, sizeof *e);
    memcpy(e->id, id, 32);
    e->nonce = nonce;
    e->sent_block = head;
    e->sent_ns = now_ns();
    e->unsent = unsent;
    pthread_mutex_unlock(&s->mu);
}

/* The contract says this key is not a registered node: stop sending (every vote would revert
 * and burn gas) until the node sees it registered again (submitter_set_registered). */
static void pause_not_node(submitter *s, const uint8_t *id, const char *why)
{
    pthread_mutex_lock(&s->mu);
    int was = s->registered;
    s->registered = 0;
    pthread_mutex_unlock(&s->mu);
    if (was)
        log_msg(LOG_WARN, id,
                "%s: this node's key is NOT registered with the oracle; sending paused until "
                "it is registered again (computed answers wait in the journal)",
                why);
}

/* outputSupplied(id, outputHash) at the latest block: 1 yes, 0 no, -1 RPC trouble. */
static int output_supplied(submitter *s, const uint8_t id[32], const uint8_t output_hash[32])
{
    uint8_t data[4 + 64];
    memcpy(data, s->sel_output_supplied, 4);
    memcpy(data + 4, id, 32);
    memcpy(data + 36, output_hash, 32);
    cJSON *p = cJSON_CreateArray();
    cJSON_AddItemToArray(p, call_object(s, data, sizeof data));
    cJSON_AddItemToArray(p, cJSON_CreateString("latest"));
    cJSON *res = NULL;
    char err[512];
    int rc = rpc_call(s->send_lane.rpc, "eth_call", p, &res, NULL, err, sizeof err);
    cJSON_Delete(p);
    if (rc) {
        cJSON_Delete(res);
        rpc_failed(s, "eth_call outputSupplied", err);
        return -1;
    }
    uint8_t word[32];
    size_t n = 0;
    rc = cJSON_IsString(res) ? hex_decode(res->valuestring, word, sizeof word, &n, err, sizeof err)
                             : -1;
    cJSON_Delete(res);
    if (rc || n != 32) {
        rpc_failed(s, "eth_call outputSupplied", "not one 32-byte word");
        return -1;
    }
    return word[31] != 0;
}

/* A computed request made ready to sign: its call data, kind, fees and gas. */
typedef struct {
    uint8_t id[32];
    buf data;
    sign_args a;
    /* timings for the debug line (ns) */
    int64_t t_seen, t_computed, engine_ns, st_confirm, st_start, st_finish, t_picked, t_gas;
} prepared;

static void prepared_free(prepared *p)
{
    buf_free(&p->data);
    free(p->a.raw);
    p->a.raw = NULL;
}

/* Everything before the signature (no journal write): 0 ready in *p, 1 nothing to send (not
 * computed any more, or finished here), -1 RPC trouble: retry later. */
static int prepare_new(submitter *s, const uint8_t id[32], uint64_t head, prepared *p)
{
    char err[512];
    jreq r;
    memset(p, 0, sizeof *p);
    memcpy(p->id, id, 32);
    int found = journal_get(s->d.j, id, &r, err, sizeof err);
    if (found <= 0) {
        if (found < 0)
            log_msg(LOG_ERROR, id, "journal: %s", err);
        return 1;
    }
    if (r.f.state != RS_COMPUTED) {
        jreq_free(&r);
        return 1;
    }
    /* With quorum k > 1 the first fulfill stores the output bytes on chain; a later vote for
     * the same output only needs the hash (attest: no output calldata, no storage write). */
    uint8_t kind = r.f.reject_code ? TXK_REJECT : TXK_FULFILL;
    int quorum1 = 0;
    for (int i = 0; i < s->d.n_quorum1_models; i++)
        if (!memcmp(s->d.quorum1_models[i], r.f.model_id, 32))
            quorum1 = 1;
    if (kind == TXK_FULFILL && !quorum1) {
        int sup = output_supplied(s, r.f.id, r.f.output_hash);
        if (sup < 0) {
            jreq_free(&r);
            return -1;
        }
        if (sup)
            kind = TXK_ATTEST;
    }
    buf_init(&p->data);
    if (encode_call(s, &r, kind, &p->data, err, sizeof err)) {
        log_msg(LOG_ERROR, id, "cannot encode the transaction: %s", err);
        finish(s, id, RS_COMPUTED, RS_FAILED, "cannot encode the transaction");
        jreq_free(&r);
        buf_free(&p->data);
        return 1;
    }
    p->t_computed = r.f.t_computed;
    p->t_seen = r.f.t_seen;
    uint32_t cb_gas = r.f.callback_gas_limit,
             out_words = kind == TXK_FULFILL ? (uint32_t)((r.output_len + 63) / 64) : 0;
    /* not the node's own time: waiting for the engine and the engine run */
    p->engine_ns = (r.f.t_dequeued - r.f.t_confirmed) + (r.f.t_engine_end - r.f.t_engine_start);
    /* the node's own stages, for the debug timing line */
    p->st_confirm = r.f.t_confirmed - p->t_seen;
    p->st_start = r.f.t_engine_start - r.f.t_dequeued;
    p->st_finish = p->t_computed - r.f.t_engine_end;
    p->t_picked = now_ns();
    jreq_free(&r);

    uint64_t base_fee, max_fee, tip;
    if (current_base_fee(s, &s->send_lane, head, &base_fee)) {
        buf_free(&p->data);
        return -1;
    }
    fees_for(s, base_fee, &max_fee, &tip);

    /* gas: eth_estimateGas, or the estimate of an earlier transaction of the same shape */
    uint64_t cached = 0;
    unsigned long long gas = 0;
    /* Only a quorum-1 answer always does the same work (it finalises: callback included). With
     * quorum k the k-th vote also runs the callback while the earlier ones do not, so an
     * estimate of one is no estimate of another; inside an answerMany a too-low one would
     * revert the whole batch. */
    int cacheable = s->d.cfg->gas_estimate_cache && quorum1;
    if (cacheable && gas_lookup(s, kind, cb_gas, out_words, &cached)) {
        gas = cached;
    } else {
        cJSON *prm = cJSON_CreateArray();
        cJSON_AddItemToArray(prm, call_object(s, p->data.data, p->data.len));
        rpc_error re;
        memset(&re, 0, sizeof re);
        int rc = rpc_call_u64(s->send_lane.rpc, "eth_estimateGas", prm, &gas, &re, err, sizeof err);
        cJSON_Delete(prm);
        if (rc == RPC_EERROR) {
            int final_state = RS_FAILED;
            char name[128];
            int rk = classify_revert(s, re.data, &final_state, name, sizeof name);
            char msg[600];
            snprintf(msg, sizeof msg, "%s", re.message);
            rpc_error_clear(&re);
            buf_free(&p->data);
            if (rk == REVERT_REFULFILL) {
                /* the supplying fulfill was reorged out since we looked: look again shortly */
                log_msg(LOG_INFO, id, "attest refused (output no longer supplied): retrying");
                return -1;
            }
            if (rk == REVERT_NOT_NODE) {
                /* removed from the registry: nothing is sent until it is registered again */
                pause_not_node(s, id, "eth_estimateGas says NotNode");
                return -1;
            }
            if (rk == REVERT_DONE) {
                char why[256];
                snprintf(why, sizeof why, "nothing to send: %s (another node answered or it ended)",
                         name);
                finish(s, id, RS_COMPUTED, final_state, why);
            } else {
                char why[900];
                snprintf(why, sizeof why, "the contract refuses the answer: %s (%s)", msg, name);
                finish(s, id, RS_COMPUTED, RS_FAILED, why);
            }
            return 1;
        }
        rpc_error_clear(&re);
        if (rc) {
            rpc_failed(s, "eth_estimateGas", err);
            buf_free(&p->data);
            return -1;
        }
        gas += gas * s->d.cfg->gas_margin_percent / 100;
        if (cacheable)
            gas_store(s, kind, cb_gas, out_words, gas);
    }
    if (!quorum1) {
        /* With quorum k any vote may turn out to be the k-th by the time it is mined (others
         * voted meanwhile) and then runs the requester's callback, which its estimate may not
         * have included: room for it, as the contract asks (_callback: limit + limit / 63 +
         * CALLBACK_GAS_RESERVE). Unused gas is not paid for. */
        gas += cb_gas + cb_gas / 63 + CALLBACK_GAS_RESERVE;
    }
    p->t_gas = now_ns();
    p->a.s = s;
    p->a.data = p->data.data;
    p->a.data_len = p->data.len;
    p->a.gas = gas;
    p->a.max_fee = max_fee;
    p->a.tip = tip;
    p->a.head = head;
    p->a.kind = kind;
    return 0;
}

/* answerMany(calls): each element is one answer's own call data (what encode_call gives). */
static int encode_many(submitter *s, const buf *calls, size_t n, buf *out, char *err, size_t errlen)
{
    abi_value args;
    int rc = abi_value_list(&args, ABI_TUPLE, 1);
    if (!rc)
        rc = abi_value_list(&args.items[0], ABI_ARRAY, n);
    for (size_t i = 0; !rc && i < n; i++)
        rc = abi_value_bytes(&args.items[0].items[i], calls[i].data, calls[i].len);
    if (rc) {
        abi_value_free(&args);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    rc = abi_encode_call(&s->sig_answer_many, &args, out, err, errlen);
    abi_value_free(&args);
    return rc;
}

/* A member of batch record b that the batch still answers: submitted with the batch's nonce and
 * no transaction of its own (one that was cancelled, finished or submitted again is not). */
static int batch_member_live(const jreq *m, const jreq *b)
{
    return m->f.state == RS_SUBMITTED && m->f.in_batch && m->f.nonce == b->f.nonce &&
           !m->f.n_tx_hashes;
}

/* The members listed in batch record b (its input field): their count. */
static size_t batch_listed(const jreq *b)
{
    return b->f.tx_kind == TXK_BATCH ? b->input_len / 32 : 0;
}

/* One transaction of a send: one answer (its own call) or several (answerMany). */
typedef struct {
    prepared *p; /* its answers, p[0..n) */
    size_t n;
    int *in;      /* out: in[i] = 1 when p[i] was still computed and is in the transaction */
    size_t n_in;  /* out */
    sign_args *a; /* out: the signature: the one answer's own, or &batch */
    sign_args batch;
    buf data;        /* answerMany's call data */
    uint8_t key[32]; /* out: the record that owns the nonce (the request, or the batch record) */
} tx_unit;

/* Signs one unit inside the journal transaction: -1 error (everything is aborted), 0 otherwise
 * (u->n_in = 0: nothing left to send). */
static int sign_unit(journal_txn *t, tx_unit *u)
{
    jreq *recs = calloc(u->n, sizeof *recs);
    int rc = -1;
    if (!recs)
        return -1;
    u->n_in = 0;
    size_t last = 0;
    for (size_t i = 0; i < u->n; i++) {
        int g = journal_txn_get(t, u->p[i].id, &recs[i]);
        if (g < 0)
            goto out;
        u->in[i] = g == 1 && recs[i].f.state == RS_COMPUTED; /* else cancelled meanwhile */
        if (u->in[i]) {
            u->n_in++;
            last = i;
        }
    }
    if (u->n_in == 1) {
        /* one answer: its own call, as if it came alone */
        sign_args *a = &u->p[last].a;
        if (sign_new_fn(t, &recs[last], a) || journal_txn_put(t, &recs[last]))
            goto out;
        u->a = a;
        memcpy(u->key, u->p[last].id, 32);
        rc = 0;
        goto out;
    }
    if (u->n_in == 0) {
        rc = 0;
        goto out;
    }
    /* several: one answerMany owned by a batch record, the members point at its nonce */
    buf *calls = calloc(u->n_in, sizeof *calls);
    sign_args *b = &u->batch;
    if (!calls)
        goto out;
    size_t k = 0, first = u->n;
    b->s = u->p[0].a.s;
    b->head = u->p[0].a.head;
    for (size_t i = 0; i < u->n; i++) {
        if (!u->in[i])
            continue;
        if (first == u->n)
            first = i;
        calls[k++] = u->p[i].data; /* borrowed */
        b->gas += u->p[i].a.gas;
        if (u->p[i].a.max_fee > b->max_fee)
            b->max_fee = u->p[i].a.max_fee;
        if (u->p[i].a.tip > b->tip)
            b->tip = u->p[i].a.tip;
    }
    buf_init(&u->data);
    int erc = encode_many(b->s, calls, u->n_in, &u->data, b->err, sizeof b->err);
    free(calls);
    if (erc)
        goto out;
    b->data = u->data.data;
    b->data_len = u->data.len;
    uint64_t nonce;
    if (journal_txn_next_nonce(t, &nonce)) {
        snprintf(b->err, sizeof b->err, "cannot read the nonce counter");
        goto out;
    }
    jreq br;
    jreq_init(&br);
    journal_batch_key(u->p[first].id, nonce, br.f.id);
    br.f.nonce_only = 1;
    br.f.state = RS_SUBMITTED;
    br.f.t_seen = recs[first].f.t_seen;
    br.f.t_computed = recs[first].f.t_computed;
    uint8_t *ids = malloc(u->n_in * 32);
    k = 0;
    for (size_t i = 0; ids && i < u->n; i++)
        if (u->in[i])
            memcpy(ids + 32 * k++, u->p[i].id, 32);
    int src = !ids || jreq_set(&br.input, &br.input_len, ids, u->n_in * 32) ||
              sign_into(b, &br, TXK_BATCH, nonce) || journal_txn_put(t, &br) ||
              journal_txn_set_next_nonce(t, nonce + 1) ||
              journal_txn_claim_nonce(t, nonce, br.f.id);
    free(ids);
    memcpy(u->key, br.f.id, 32);
    jreq_free(&br);
    if (src) {
        if (!b->err[0])
            snprintf(b->err, sizeof b->err, "cannot store the batch record");
        goto out;
    }
    for (size_t i = 0; i < u->n; i++) {
        if (!u->in[i])
            continue;
        jreq *m = &recs[i];
        m->f.state = RS_SUBMITTED;
        m->f.nonce = nonce;
        m->f.tx_kind = (uint8_t)u->p[i].a.kind;
        m->f.n_tx_hashes = 0;
        m->f.in_batch = 1;
        m->f.gas_limit = u->p[i].a.gas;
        m->f.max_fee_per_gas = b->max_fee;
        m->f.max_priority_fee_per_gas = b->tip;
        m->f.sent_block = b->head;
        u->p[i].a.nonce = nonce;
        memcpy(u->p[i].a.hash, b->hash, 32);
        if (journal_txn_put(t, m))
            goto out;
    }
    u->a = b;
    rc = 0;
out:
    for (size_t i = 0; i < u->n; i++)
        jreq_free(&recs[i]);
    free(recs);
    return rc;
}

typedef struct {
    tx_unit *u;
    size_t n;
} sign_units_args;

static int sign_units_fn(journal_txn *t, void *user)
{
    sign_units_args *a = user;
    for (size_t i = 0; i < a->n; i++)
        if (sign_unit(t, &a->u[i]))
            return -1;
    return 0;
}

/* Signs n prepared requests in ONE journal transaction (consecutive nonces, one commit), and
 * only after that commit sends them in ONE JSON-RPC batch. With answers_per_tx > 1 the
 * answers are packed into as few answerMany transactions as that allows, sized evenly. 0, or
 * -1 when the journal write failed (nothing was signed: retry later). */
static int sign_and_send(submitter *s, prepared *p, size_t n, uint64_t head)
{
    char err[512] = "";
    size_t per_tx = 1;
    pthread_mutex_lock(&s->mu);
    if (!s->no_batch)
        per_tx = s->d.cfg->answers_per_tx;
    pthread_mutex_unlock(&s->mu);
    size_t nu = (n + per_tx - 1) / per_tx;
    tx_unit *units = calloc(nu, sizeof *units);
    int *in = calloc(n, sizeof *in);
    const char **methods = malloc(nu * sizeof *methods);
    cJSON **params = calloc(nu, sizeof *params), **results = calloc(nu, sizeof *results);
    int *st = malloc(nu * sizeof *st);
    rpc_error *errs = calloc(nu, sizeof *errs);
    size_t *which = malloc(nu * sizeof *which);
    int rc = -1;
    if (!units || !in || !methods || !params || !results || !st || !errs || !which) {
        log_msg(LOG_ERROR, NULL, "out of memory signing %zu transactions", n);
        goto out;
    }
    for (size_t i = 0, from = 0; i < nu; i++) {
        size_t take = (n - from) / (nu - i); /* even sizes: 33 answers go as 17 + 16 */
        take += (n - from) % (nu - i) != 0;
        units[i].p = p + from;
        units[i].n = take;
        units[i].in = in + from;
        from += take;
    }
    sign_units_args sa = {units, nu};
    if (journal_run(s->d.j, sign_units_fn, &sa, err, sizeof err)) {
        for (size_t i = 0; i < n; i++)
            if (p[i].a.err[0])
                log_msg(LOG_ERROR, p[i].id, "signing the transaction failed: %s", p[i].a.err);
        for (size_t i = 0; i < nu; i++)
            if (units[i].batch.err[0])
                log_msg(LOG_ERROR, NULL, "signing a batch transaction failed: %s",
                        units[i].batch.err);
        log_msg(LOG_ERROR, NULL, "signing %zu transaction(s) failed: %s", nu, err);
        goto out;
    }
    rc = 0;
    int64_t t_signed = now_ns();
    size_t m = 0;
    for (size_t i = 0; i < nu; i++) {
        tx_unit *u = &units[i];
        if (!u->n_in)
            continue; /* cancelled meanwhile */
        for (size_t k = 0; k < u->n; k++)
            if (u->in[k]) {
                metrics_transition(s->d.m, RS_COMPUTED, RS_SUBMITTED);
                testhook_crash_point("after_sign");
            }
        params[m] = raw_tx_params(u->a->raw, u->a->raw_len);
        methods[m] = "eth_sendRawTransaction";
        which[m++] = i;
    }
    if (!m)
        goto out;
    int brc = RPC_ENOMEM, brc0 = RPC_ENOMEM;
    char err0[512] = "out of memory"; /* the lowest nonce's call */
    snprintf(err, sizeof err, "out of memory");
    for (size_t k = 0; k < m; k++)
        if (!params[k])
            goto sent;
    /* The batch's lowest nonce goes last, in a call of its own: until it arrives the others
     * wait in the pool as future transactions, and then all become executable at once. A chain
     * that mines on every transaction (anvil automine, hardhat) puts the whole batch in one
     * block instead of splitting it at random into blocks of one or a few; each block costs such
     * a chain a state root over its whole state. Elsewhere the order costs one round trip. */
    brc = RPC_OK;
    if (m > 1)
        brc = rpc_call_batch(s->send_lane.rpc, m - 1, methods + 1, (const cJSON *const *)params + 1,
                             results + 1, st + 1, errs + 1, err, sizeof err);
    brc0 = rpc_call_batch(s->send_lane.rpc, 1, methods, (const cJSON *const *)params, results, st,
                          errs, err0, sizeof err0);
sent:;
    int64_t t_sent = now_ns();
    uint64_t low_nonce = units[which[0]].a->nonce;
    for (size_t k = 0; k < m; k++) {
        tx_unit *u = &units[which[k]];
        for (size_t i = 0; i < u->n; i++)
            if (u->in[i])
                testhook_crash_point("after_send"); /* counted per answer, like after_sign */
        int call_rc = k ? brc : brc0;
        int src = call_rc == RPC_OK ? send_outcome(s, st[k], &errs[k], errs[k].message, u->key)
                                    : send_outcome(s, call_rc, &errs[k], k ? err : err0, u->key);
        /* a transport failure (-1) is re-sent at the tracker's next pass; a refusal (-2) after
         * resend_after_blocks, with bumped fees */
        hand_to_tracker(s, u->key, u->a->nonce, head, src == -1);
        if (src != 0)
            continue;
        metrics_add(s->d.m, MC_TX_SENT, 1);
        char txh[67];
        hex_encode(txh, u->a->hash, 32);
        for (size_t i = 0; i < u->n; i++) {
            prepared *q = &u->p[i];
            if (!u->in[i])
                continue;
            int64_t overhead_ns = (t_sent - q->t_seen) - q->engine_ns;
            metrics_observe_stage(s->d.m, STAGE_SUBMIT, (double)(t_sent - q->t_computed) / 1e9);
            metrics_observe_stage(s->d.m, STAGE_NODE_OVERHEAD, (double)overhead_ns / 1e9);
            log_msg(LOG_DEBUG, q->id,
                    "timing: seen->sent %lld us, node overhead %lld us (confirm %lld, computing "
                    "commit %lld, sign+commit %lld, submit queue %lld, fees+estimateGas %lld, "
                    "sign+commit %lld, send %lld us; %zu in this batch)",
                    (long long)((t_sent - q->t_seen) / 1000), (long long)(overhead_ns / 1000),
                    (long long)(q->st_confirm / 1000), (long long)(q->st_start / 1000),
                    (long long)(q->st_finish / 1000),
                    (long long)((q->t_picked - q->t_computed) / 1000),
                    (long long)((q->t_gas - q->t_picked) / 1000),
                    (long long)((t_signed - q->t_gas) / 1000),
                    (long long)((t_sent - t_signed) / 1000), m);
            char many[64] = "";
            if (u->n_in > 1)
                snprintf(many, sizeof many, ", one of %zu in answerMany", u->n_in);
            log_msg(LOG_INFO, q->id,
                    "sent %s nonce %llu tx %s (gas %llu, maxFee %llu wei%s; batch of %zu from "
                    "nonce %llu)",
                    q->a.kind == TXK_REJECT   ? "reject"
                    : q->a.kind == TXK_ATTEST ? "attest"
                                              : "fulfill",
                    (unsigned long long)u->a->nonce, txh, (unsigned long long)q->a.gas,
                    (unsigned long long)u->a->max_fee, many, m, (unsigned long long)low_nonce);
        }
    }
out:
    for (size_t k = 0; params && results && k < nu; k++) {
        cJSON_Delete(params[k]);
        cJSON_Delete(results[k]);
        if (errs)
            rpc_error_clear(&errs[k]);
    }
    for (size_t i = 0; units && i < nu; i++) {
        buf_free(&units[i].data);
        free(units[i].batch.raw);
    }
    free(units);
    free(in);
    free(methods);
    free(params);
    free(results);
    free(st);
    free(errs);
    free(which);
    return rc;
}

/* Submits computed requests: prepares them one by one, then signs all the ready ones in one
 * journal transaction and sends them in one batch. Returns how many of ids were handled; the
 * rest (from the first RPC failure on) must be tried again later. A batch's nonces above its
 * lowest wait in the pool as future transactions for a moment (see sign_and_send): 64 stays
 * within geth's default per-account queue (txpool.accountqueue) and, at a few hundred thousand
 * gas each, well within one block. */
#define SUBMIT_CHUNK 64
/* A batch's gas limits add up to at most half a block's gas limit (this when the header gave
 * none): a chain that mines on every transaction puts the batch into one block only if it fits,
 * and a remainder left in the pool waits there until some other transaction arrives. */
#define BATCH_GAS_DEFAULT 15000000ULL
static size_t submit_batch(submitter *s, const uint8_t (*ids)[32], size_t n, uint64_t head,
                           uint64_t block_gas_limit, int *trouble)
{
    *trouble = 1;
    pthread_mutex_lock(&s->mu);
    size_t chunk = SUBMIT_CHUNK * (s->no_batch ? 1 : s->d.cfg->answers_per_tx);
    pthread_mutex_unlock(&s->mu);
    if (n > chunk)
        n = chunk;
    uint64_t gas_budget = block_gas_limit ? block_gas_limit / 2 : BATCH_GAS_DEFAULT, gas_sum = 0;
    prepared *p = calloc(n, sizeof *p);
    if (!p)
        return 0;
    size_t np = 0, done = 0;
    int full = 0;
    for (; done < n; done++) {
        int rc = prepare_new(s, ids[done], head, &p[np]);
        if (rc < 0)
            break;
        if (rc == 0) {
            if (np && gas_sum + p[np].a.gas > gas_budget) {
                prepared_free(&p[np]); /* it opens the next batch */
                full = 1;
                break;
            }
            gas_sum += p[np].a.gas;
            np++;
        }
    }
    *trouble = done < n && !full;
    if (np && sign_and_send(s, p, np, head) < 0) {
        /* nothing signed: every prepared id goes back with the rest */
        done = 0;
        *trouble = 1;
    }
    for (size_t i = 0; i < np; i++)
        prepared_free(&p[i]);
    free(p);
    return done;
}

/* The in-flight entry's nonce is still this record's to finish: its signed transaction for that
 * nonce is pending (submitted), or it is a cancelled request's whose filler must consume it. */
static int holds_nonce(const jreq *r, uint64_t nonce)
{
    return r->f.n_tx_hashes && r->f.nonce == nonce &&
           (r->f.state == RS_SUBMITTED || (r->f.state == RS_CANCELLED && r->f.cancel_pending));
}

/* The journal record that holds an in-flight entry's nonce, into r. A request re-included after a
 * reorg starts again under its id while the nonce of its old transaction moves to a nonce record
 * (journal_insert_seen): the entry follows the nonce there (e->id changes). 1 found, 0 nothing
 * of ours left to do for this nonce (the entry can go), -1 journal error. */
static int entry_record(submitter *s, inflight *e, jreq *r)
{
    char err[256];
    int rc = journal_get(s->d.j, e->id, r, err, sizeof err);
    if (rc < 0) {
        log_msg(LOG_ERROR, e->id, "journal: %s", err);
        return -1;
    }
    if (rc == 1 && holds_nonce(r, e->nonce))
        return 1;
    if (rc == 1)
        jreq_free(r);
    rc = journal_nonce_record(s->d.j, e->nonce, r, err, sizeof err);
    if (rc < 0) {
        log_msg(LOG_ERROR, e->id, "journal: %s", err);
        return -1;
    }
    if (rc == 0)
        return 0;
    int followed = 0; /* another entry already follows this nonce record */
    for (size_t i = 0; i < s->n_fl; i++)
        if (&s->fl[i] != e && s->fl[i].nonce == e->nonce && !memcmp(s->fl[i].id, r->f.id, 32))
            followed = 1;
    if (r->f.nonce_only && !followed && holds_nonce(r, e->nonce)) {
        char key[67];
        hex_encode(key, r->f.id, 32);
        log_msg(LOG_INFO, e->id,
                "re-included: nonce %llu (its earlier transaction) is finished by nonce record %s",
                (unsigned long long)e->nonce, key);
        memcpy(e->id, r->f.id, 32);
        return 1;
    }
    jreq_free(r);
    return 0;
}

/* Calls fn (may be NULL) for every member batch record b still answers (batch_member_live);
 * returns how many there are. */
typedef void (*member_fn)(submitter *s, const jreq *m, void *user);
static size_t batch_each_live(submitter *s, const jreq *b, member_fn fn, void *user)
{
    size_t n = batch_listed(b), live = 0;
    for (size_t i = 0; i < n; i++) {
        char err[256];
        jreq m;
        if (journal_get(s->d.j, b->input + 32 * i, &m, err, sizeof err) != 1)
            continue;
        if (batch_member_live(&m, b)) {
            live++;
            if (fn)
                fn(s, &m, user);
        }
        jreq_free(&m);
    }
    return live;
}

/* The calls (and ids) of the members a batch still answers, for its next version. */
typedef struct {
    buf *calls;
    uint8_t *ids;
    size_t n, cap;
    int failed;
} batch_calls;

static void collect_call(submitter *s, const jreq *m, void *user)
{
    batch_calls *c = user;
    char err[256];
    if (c->failed)
        return;
    if (c->n == c->cap) {
        size_t ncap = c->cap ? 2 * c->cap : 32;
        buf *nc = realloc(c->calls, ncap * sizeof *nc);
        if (nc)
            c->calls = nc;
        uint8_t *ni = realloc(c->ids, ncap * 32);
        if (ni)
            c->ids = ni;
        if (!nc || !ni) {
            c->failed = 1;
            return;
        }
        c->cap = ncap;
    }
    buf_init(&c->calls[c->n]);
    if (encode_call(s, m, m->f.tx_kind, &c->calls[c->n], err, sizeof err)) {
        buf_free(&c->calls[c->n]);
        log_msg(LOG_ERROR, m->f.id, "cannot encode the answer again: %s", err);
        c->failed = 1;
        return;
    }
    memcpy(c->ids + 32 * c->n++, m->f.id, 32);
}

static void batch_calls_free(batch_calls *c)
{
    for (size_t i = 0; i < c->n; i++)
        buf_free(&c->calls[i]);
    free(c->calls);
    free(c->ids);
    memset(c, 0, sizeof *c);
}

/* A member back to "computed" and into the sender's queue: its answer goes out again (new
 * nonce; fulfill or attest as the chain says then). */
static void submit_again(submitter *s, const uint8_t id[32], const char *why, const char *how)
{
    char err[256];
    if (journal_update(s->d.j, id, resubmit_fn, NULL, err, sizeof err) != 0)
        return;
    log_msg(LOG_WARN, id, "%s: submitting again%s", why, how);
    metrics_transition(s->d.m, RS_SUBMITTED, RS_COMPUTED);
    pthread_mutex_lock(&s->mu);
    idq_push(&s->q, id);
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

/* Re-signs the entry's nonce with bumped fees (or as a filler, for a cancelled request) and
 * sends it; at the fee cap the same bytes are sent again. */
static void resend(submitter *s, inflight *e, uint64_t head)
{
    char err[512];
    jreq r;
    if (journal_get(s->d.j, e->id, &r, err, sizeof err) != 1)
        return;
    if (!holds_nonce(&r, e->nonce)) {
        jreq_free(&r);
        return;
    }
    int cancelled = r.f.state == RS_CANCELLED && r.f.cancel_pending;
    int batch = !cancelled && r.f.tx_kind == TXK_BATCH;
    batch_calls bc = {0};
    buf data = BUF_INIT;
    if (batch) {
        /* the answers it still carries (a member cancelled by a reorg is left out) */
        batch_each_live(s, &r, collect_call, &bc);
        if (bc.failed || (bc.n && encode_many(s, bc.calls, bc.n, &data, err, sizeof err))) {
            batch_calls_free(&bc);
            jreq_free(&r);
            buf_free(&data);
            return;
        }
    } else if (!cancelled && encode_call(s, &r, r.f.tx_kind, &data, err, sizeof err)) {
        jreq_free(&r);
        buf_free(&data);
        return;
    }
    uint64_t base_fee, max_fee, tip;
    if (current_base_fee(s, &s->track_lane, head, &base_fee)) {
        jreq_free(&r);
        buf_free(&data);
        return;
    }
    fees_for(s, base_fee, &max_fee, &tip);
    uint64_t bump = 100 + s->d.cfg->fee_bump_percent;
    uint64_t cap = s->d.cfg->max_fee_gwei_milli * GWEI_MILLI_TO_WEI;
    uint64_t min_fee = r.f.max_fee_per_gas * bump / 100 + 1;
    uint64_t min_tip = r.f.max_priority_fee_per_gas * bump / 100 + 1;
    if (max_fee < min_fee)
        max_fee = min_fee;
    if (tip < min_tip)
        tip = min_tip;
    if (max_fee > cap) {
        max_fee = cap;
        if (tip > max_fee)
            tip = max_fee;
    }
    sign_args a;
    memset(&a, 0, sizeof a);
    a.s = s;
    a.data = data.data;
    a.data_len = data.len;
    a.gas = r.f.gas_limit;
    a.max_fee = max_fee;
    a.tip = tip;
    a.head = head;
    a.expect_nonce = r.f.nonce;
    a.expect_cancelled = cancelled;
    a.batch = batch;
    a.live = bc.ids;
    a.n_live = bc.n;
    size_t listed = batch_listed(&r);
    int same = max_fee <= r.f.max_fee_per_gas && !cancelled && (!batch || bc.n == listed);
    uint8_t *raw = NULL;
    size_t raw_len = 0;
    if (same) {
        /* at the cap already: re-broadcast the same bytes */
        raw = r.raw_tx;
        raw_len = r.raw_tx_len;
        r.raw_tx = NULL;
        r.raw_tx_len = 0;
    } else if (journal_update(s->d.j, e->id, sign_again_fn, &a, err, sizeof err) == 0) {
        /* exactly the bytes just journaled (the record may change once committed) */
        raw = a.raw;
        raw_len = a.raw_len;
        a.raw = NULL;
    }
    uint64_t old_fee = r.f.max_fee_per_gas;
    jreq_free(&r);
    free(a.raw);
    buf_free(&data);
    batch_calls_free(&bc);
    if (!raw)
        return;
    int src = send_raw(s, s->track_lane.rpc, raw, raw_len, e->id);
    free(raw);
    metrics_add(s->d.m, MC_TX_RESENT, 1);
    if (src == 0)
        log_msg(LOG_INFO, e->id, "re-sent nonce %llu (%s, maxFee %llu wei)",
                (unsigned long long)e->nonce,
                cancelled            ? "filler for a cancelled request"
                : batch && !a.n_live ? "filler: every answer of its answerMany was cancelled"
                : batch && a.n_live < listed ? "answerMany without its cancelled answers"
                : same                       ? "same bytes"
                                             : "bumped",
                (unsigned long long)(same ? old_fee : max_fee));
    e->sent_block = head;
    e->sent_ns = now_ns();
    e->unsent = src == -1;
}

/* A receipt object (or null): 1 mined (fields filled), 0 not mined. */
static int parse_receipt(const cJSON *res, mined_args *m, int *success)
{
    if (!res || cJSON_IsNull(res))
        return 0;
    uint64_t status = 0;
    const cJSON *bh = cJSON_GetObjectItemCaseSensitive(res, "blockHash");
    memset(m, 0, sizeof *m);
    if (json_u64(res, "blockNumber", &m->block) || json_u64(res, "status", &status) ||
        !cJSON_IsString(bh) || hex_decode_exact(bh->valuestring, m->block_hash, 32, NULL, 0))
        return 0; /* pending-style receipt: not mined yet */
    json_u64(res, "gasUsed", &m->gas_used);
    json_u64(res, "effectiveGasPrice", &m->price);
    *success = status == 1;
    return 1;
}

/* Receipt of one hash: 1 found (fields filled; *keep, when not NULL, gets the receipt), 0 none,
 * -1 error. */
static int get_receipt(submitter *s, const uint8_t hash[32], mined_args *m, int *success,
                       cJSON **keep)
{
    char hx[67], err[512];
    hex_encode(hx, hash, 32);
    cJSON *p = cJSON_CreateArray();
    cJSON_AddItemToArray(p, cJSON_CreateString(hx));
    cJSON *res = NULL;
    int rc =
        rpc_call(s->track_lane.rpc, "eth_getTransactionReceipt", p, &res, NULL, err, sizeof err);
    cJSON_Delete(p);
    if (rc) {
        rpc_failed(s, "eth_getTransactionReceipt", err);
        return -1;
    }
    rc = parse_receipt(res, m, success);
    if (rc == 1 && keep) {
        cJSON_Delete(*keep);
        *keep = res;
        res = NULL;
    }
    cJSON_Delete(res);
    return rc;
}

/* Why a mined call reverted: replays it with eth_call at the latest block. Returns 1 when the
 * call succeeds now (the transaction ran out of gas: send it again with a fresh estimate), 2
 * when the key is not a registered node (send it again once it is), 0 when the revert is
 * final. */
static int explain_revert(submitter *s, const uint8_t id[32], int *final_state, char *why,
                          size_t cap)
{
    char err[512];
    jreq r;
    *final_state = RS_FAILED;
    snprintf(why, cap, "the transaction reverted");
    if (journal_get(s->d.j, id, &r, err, sizeof err) != 1)
        return 0;
    buf data = BUF_INIT;
    if (encode_call(s, &r, r.f.tx_kind, &data, err, sizeof err)) {
        jreq_free(&r);
        buf_free(&data);
        return 0;
    }
    jreq_free(&r);
    rpc_error re;
    int rc = call_latest(s, s->track_lane.rpc, data.data, data.len, 0, &re, err, sizeof err);
    buf_free(&data);
    if (rc == RPC_EERROR) {
        char name[128];
        int rk = classify_revert(s, re.data, final_state, name, sizeof name);
        if (rk == REVERT_REFULFILL) {
            /* our attest lost the output it confirmed (reorg): submit again, as fulfill */
            rpc_error_clear(&re);
            snprintf(why, cap, "our attest reverted with OutputNotSupplied");
            return 1;
        }
        if (rk == REVERT_NOT_NODE) {
            rpc_error_clear(&re);
            snprintf(why, cap, "our transaction reverted with NotNode");
            return 2;
        }
        if (rk == REVERT_DONE)
            snprintf(why, cap,
                     "our transaction reverted with %s: answered by another node or "
                     "ended; done",
                     name);
        else
            snprintf(why, cap, "our transaction reverted: %s (%s)", re.message, name);
    }
    rpc_error_clear(&re);
    if (rc == RPC_OK)
        snprintf(why, cap, "our transaction reverted but the call succeeds now (out of gas?)");
    return rc == RPC_OK;
}

/* A receipt's log emitted by the oracle contract (not, say, by a consumer's callback). */
static int from_oracle(submitter *s, const cJSON *lg)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(lg, "address");
    uint8_t addr[20];
    return cJSON_IsString(a) && !hex_decode_exact(a->valuestring, addr, 20, NULL, 0) &&
           !memcmp(addr, s->d.cfg->oracle_address, 20);
}

/* A mined answerMany's answers that the contract skipped (AnswerSkipped logs): each one is
 * finished, submitted again or failed as its revert data says, as if it had been a transaction
 * of its own. The others stay submitted until the batch is deep enough. */
static void batch_skips(submitter *s, const jreq *b, const cJSON *receipt)
{
    const cJSON *lg;
    cJSON_ArrayForEach(lg, cJSON_GetObjectItemCaseSensitive(receipt, "logs"))
    {
        const cJSON *topics = cJSON_GetObjectItemCaseSensitive(lg, "topics");
        const cJSON *t0 = cJSON_GetArrayItem(topics, 0), *t1 = cJSON_GetArrayItem(topics, 1);
        const cJSON *data = cJSON_GetObjectItemCaseSensitive(lg, "data");
        uint8_t topic[32], id[32];
        if (!from_oracle(s, lg) || !cJSON_IsString(t0) || !cJSON_IsString(t1) ||
            !cJSON_IsString(data) || hex_decode_exact(t0->valuestring, topic, 32, NULL, 0) ||
            memcmp(topic, s->topic_skipped, 32) ||
            hex_decode_exact(t1->valuestring, id, 32, NULL, 0))
            continue;
        int listed = 0;
        for (size_t i = 0; i < batch_listed(b); i++)
            listed |= !memcmp(b->input + 32 * i, id, 32);
        if (!listed)
            continue;
        /* data: (uint256 index, bytes reason) -> the reason's bytes, as "0x..." revert data */
        size_t dlen = strlen(data->valuestring);
        uint8_t *d = malloc(dlen / 2 + 1);
        char *reason = malloc(dlen + 3);
        size_t dn = 0;
        uint64_t rlen = 0;
        if (d && reason && !hex_decode(data->valuestring, d, dlen / 2 + 1, &dn, NULL, 0) &&
            dn >= 96) {
            for (int k = 24; k < 32; k++)
                rlen = rlen << 8 | d[64 + k];
            if (rlen > dn - 96)
                rlen = 0;
            hex_encode(reason, d + 96, (size_t)rlen);
        } else if (reason) {
            snprintf(reason, dlen + 3, "0x");
        }
        int fs = RS_FAILED;
        char name[128], why[400];
        int rk = reason ? classify_revert(s, reason, &fs, name, sizeof name) : REVERT_OTHER;
        if (!reason)
            snprintf(name, sizeof name, "(out of memory)");
        free(d);
        free(reason);
        if (rk == REVERT_DONE) {
            snprintf(why, sizeof why,
                     "our answer in answerMany was skipped with %s: answered by another node or "
                     "ended; done",
                     name);
            finish(s, id, RS_SUBMITTED, fs, why);
        } else if (rk == REVERT_REFULFILL) {
            submit_again(s, id, "our attest in answerMany was skipped with OutputNotSupplied",
                         " (as fulfill: the output it confirmed left the chain)");
        } else if (rk == REVERT_NOT_NODE) {
            pause_not_node(s, id, "our answer in answerMany was skipped with NotNode");
            submit_again(s, id, "our answer in answerMany was skipped with NotNode",
                         " once this key is registered again");
        } else {
            snprintf(why, sizeof why, "the contract skipped our answer in answerMany: %s", name);
            finish(s, id, RS_SUBMITTED, RS_FAILED, why);
        }
    }
}

/* Our mined vote differs from the request's first vote: the contract says so with a
 * QuorumDisagreement log naming this node. Worth a warning: with deterministic engines it means
 * another node (or this one) computes something else. */
static void note_disagreement(submitter *s, const cJSON *receipt)
{
    const cJSON *lg;
    cJSON_ArrayForEach(lg, cJSON_GetObjectItemCaseSensitive(receipt, "logs"))
    {
        const cJSON *topics = cJSON_GetObjectItemCaseSensitive(lg, "topics");
        const cJSON *t0 = cJSON_GetArrayItem(topics, 0), *t1 = cJSON_GetArrayItem(topics, 1),
                    *t2 = cJSON_GetArrayItem(topics, 2);
        const cJSON *data = cJSON_GetObjectItemCaseSensitive(lg, "data");
        uint8_t topic[32], id[32], who[32], d[4 * 32];
        size_t dn = 0;
        if (!from_oracle(s, lg) || !cJSON_IsString(t0) || !cJSON_IsString(t1) ||
            !cJSON_IsString(t2) || !cJSON_IsString(data) ||
            hex_decode_exact(t0->valuestring, topic, 32, NULL, 0) ||
            hex_decode_exact(t1->valuestring, id, 32, NULL, 0) ||
            memcmp(topic, s->topic_disagreement, 32) ||
            hex_decode_exact(t2->valuestring, who, 32, NULL, 0) ||
            memcmp(who + 12, s->d.addr, 20) ||
            hex_decode(data->valuestring, d, sizeof d, &dn, NULL, 0) || dn != sizeof d)
            continue;
        char first[67], ours[67];
        hex_encode(first, d, 32);
        hex_encode(ours, d + 64, 32);
        log_msg(LOG_WARN, id,
                "quorum disagreement: our vote (output hash %s, reject code %u) differs from the "
                "first vote (output hash %s, reject code %u)",
                ours, (unsigned)(d[3 * 32 + 30] << 8 | d[3 * 32 + 31]), first,
                (unsigned)(d[32 + 30] << 8 | d[32 + 31]));
    }
}

/* A receipt seen and/or a final state, written for many requests in one journal transaction. */
typedef struct {
    mined_args m;
    int has_mined;
    int to; /* final state, 0 = none yet */
    const char *why;
    int old_state; /* out */
    int finished;  /* out: the final state was written */
    uint64_t nonce;
    int quiet;         /* a batch record: not a request (no metrics, no log line) */
    const jreq *batch; /* a member of this batch record: final as its own kind says, if the
                        * batch still answers it; it gets the batch's transaction hashes */
} settle_args;

static int settle_fn(journal_txn *t, jreq *r, void *user)
{
    settle_args *a = user;
    a->old_state = r->f.state;
    if (a->batch) {
        if (!batch_member_live(r, a->batch))
            return 1; /* skipped, cancelled or answered again meanwhile */
        a->to = r->f.tx_kind == TXK_REJECT ? RS_REJECTED : RS_FULFILLED;
        a->why = r->f.tx_kind == TXK_REJECT   ? "attested reject mined (answerMany)"
                 : r->f.tx_kind == TXK_ATTEST ? "attestation mined (answerMany)"
                                              : "fulfillment mined (answerMany)";
        r->f.n_tx_hashes = a->batch->f.n_tx_hashes;
        memcpy(r->f.tx_hashes, a->batch->f.tx_hashes, sizeof r->f.tx_hashes);
    }
    int changed = 0;
    if (a->has_mined && mined_fn(t, r, &a->m) == 0)
        changed = 1;
    if (a->to) {
        finish_args fa = {a->to, (1 << RS_COMPUTED) | (1 << RS_SUBMITTED), a->why};
        a->finished = finish_fn(t, r, &fa) == 0;
        changed |= a->finished;
    }
    return changed ? 0 : 1;
}

/* The account's mined nonce (eth_getTransactionCount latest), then, only when some of our
 * unmined transactions have a nonce below it, their receipts (newest version) in ONE JSON-RPC
 * batch. rcpt[i] gets fl[i]'s receipt result (or NULL). A head that mined none of ours costs one
 * small call, and each transaction's receipt is asked for about once, not on every head it
 * waits through. 0 or -1. */
static int fetch_receipts(submitter *s, const jreq *recs, cJSON **rcpt, uint64_t *latest)
{
    size_t n = s->n_fl, m = 0;
    char err[512];
    cJSON *cp = cJSON_CreateArray();
    cJSON_AddItemToArray(cp, cJSON_CreateString(s->addr_hex));
    cJSON_AddItemToArray(cp, cJSON_CreateString("latest"));
    unsigned long long count = 0;
    int crc = rpc_call_u64(s->track_lane.rpc, "eth_getTransactionCount", cp, &count, NULL, err,
                           sizeof err);
    cJSON_Delete(cp);
    if (crc) {
        rpc_failed(s, "eth_getTransactionCount", err);
        return -1;
    }
    *latest = count;
    const char **methods = malloc((n + 1) * sizeof *methods);
    cJSON **params = calloc(n + 1, sizeof *params), **res = calloc(n + 1, sizeof *res);
    int *st = malloc((n + 1) * sizeof *st);
    size_t *which = malloc((n + 1) * sizeof *which);
    int rc = -1;
    if (!methods || !params || !res || !st || !which)
        goto out;
    for (size_t i = 0; i < n && m < RPC_MAX_BATCH; i++) {
        const jreq *r = &recs[i];
        if (s->fl[i].mined_block || !r->f.n_tx_hashes || s->fl[i].nonce >= count)
            continue;
        uint32_t k = r->f.n_tx_hashes < JREQ_MAX_TX_HASHES ? r->f.n_tx_hashes : JREQ_MAX_TX_HASHES;
        char hx[67];
        hex_encode(hx, r->f.tx_hashes[k - 1], 32);
        params[m] = cJSON_CreateArray();
        cJSON_AddItemToArray(params[m], cJSON_CreateString(hx));
        methods[m] = "eth_getTransactionReceipt";
        which[m++] = i;
    }
    if (m) {
        int brc = rpc_call_batch(s->track_lane.rpc, m, methods, (const cJSON *const *)params, res,
                                 st, NULL, err, sizeof err);
        if (brc != RPC_OK) {
            rpc_failed(s, "receipts", err);
            goto out;
        }
    }
    for (size_t k = 0; k < m; k++) {
        if (st[k] == RPC_OK) {
            rcpt[which[k]] = res[k];
            res[k] = NULL;
        } else {
            rpc_failed(s, "eth_getTransactionReceipt", "an error in the batch reply");
        }
    }
    rc = 0;
out:
    for (size_t k = 0; params && res && k < m; k++) {
        cJSON_Delete(params[k]);
        cJSON_Delete(res[k]);
    }
    free(methods);
    free(params);
    free(res);
    free(st);
    free(which);
    return rc;
}

static void fail_member(submitter *s, const jreq *m, void *user)
{
    finish(s, m->f.id, RS_SUBMITTED, RS_FAILED, user);
}

static void resubmit_member(submitter *s, const jreq *m, void *user)
{
    gas_forget(s, m->f.tx_kind, m->f.callback_gas_limit,
               m->f.tx_kind == TXK_FULFILL ? (uint32_t)((m->output_len + 63) / 64) : 0);
    submit_again(s, m->f.id, user, " with a fresh gas estimate");
}

/* A batch record's own end (reverted, or its nonce used by someone else): no request state. */
static void batch_record_done(submitter *s, const uint8_t key[32], const char *why)
{
    char err[256];
    finish_args fa = {RS_FAILED, 1 << RS_SUBMITTED, why};
    if (journal_update(s->d.j, key, finish_fn, &fa, err, sizeof err) < 0)
        log_msg(LOG_ERROR, key, "journal: %s", err);
}

/* Why a mined answerMany reverted: its answers replayed with eth_call at the latest block with
 * twice its gas limit. 1 when for gas (AnswerOutOfGas, or the call succeeds now), 0 for another
 * reason (e.g. a contract without answerMany), -1 when the RPC node could not say. */
static int batch_revert_was_gas(submitter *s, const jreq *b)
{
    batch_calls bc = {0};
    buf data = BUF_INIT;
    char err[512];
    int rc = -1;
    batch_each_live(s, b, collect_call, &bc);
    if (bc.failed || encode_many(s, bc.calls, bc.n, &data, err, sizeof err))
        goto out;
    /* twice its limit: a batch that goes through then was short of gas (the contract's
     * AnswerOutOfGas can come back without data when the starved answer had almost nothing) */
    rpc_error re;
    int crc = call_latest(s, s->track_lane.rpc, data.data, data.len, 2 * b->f.gas_limit, &re, err,
                          sizeof err);
    uint8_t rd[4 + 32]; /* AnswerOutOfGas(uint256) */
    size_t n = 0;
    if (crc == RPC_OK)
        rc = 1;
    else if (crc == RPC_EERROR)
        rc = re.data && !hex_decode(re.data, rd, sizeof rd, &n, NULL, 0) && n == sizeof rd &&
             !memcmp(rd, s->sel_answer_out_of_gas, 4);
    else
        rpc_failed(s, "eth_call answerMany", err);
    rpc_error_clear(&re);
out:
    buf_free(&data);
    batch_calls_free(&bc);
    return rc;
}

/* Our answerMany reverted as a whole. The contract does that when an answer ran out of gas
 * (AnswerOutOfGas: the batch's gas limit was too low), or when it has no answerMany at all.
 * Its answers are submitted again, with fresh estimates; a revert for another reason stops
 * batching (one answer per transaction from now on), so the same answers cannot burn gas in a
 * loop. */
static void batch_reverted(submitter *s, const inflight *e, const jreq *b, const mined_args *m)
{
    int gas = batch_revert_was_gas(s, b);
    if (gas == 0) {
        pthread_mutex_lock(&s->mu);
        s->no_batch = 1;
        pthread_mutex_unlock(&s->mu);
    }
    log_msg(LOG_WARN, e->id, "our answerMany (nonce %llu) reverted, gas used %llu of %llu: %s",
            (unsigned long long)e->nonce, (unsigned long long)m->gas_used,
            (unsigned long long)b->f.gas_limit,
            gas ? "out of gas; its answers go out again with fresh gas estimates"
                : "not for gas; one answer per transaction from now on");
    batch_each_live(s, b, resubmit_member,
                    gas ? "our answerMany ran out of gas" : "our answerMany reverted");
    batch_record_done(s, e->id, "answerMany reverted");
}

/* One pass over the transactions in flight: one batch of receipts, then every receipt and final
 * state found is written in one journal transaction. */
static void track(submitter *s, uint64_t head)
{
    if (!s->n_fl)
        return;
    char err[512];
    size_t n = s->n_fl;
    jreq *recs = calloc(n, sizeof *recs);
    cJSON **rcpt = calloc(n, sizeof *rcpt);
    settle_args *sa = NULL;
    uint8_t(*sids)[32] = NULL;
    void **susers = NULL;
    int *sres = NULL;
    size_t ns = 0;
    if (!recs || !rcpt) {
        log_msg(LOG_ERROR, NULL, "out of memory tracking %zu transactions", n);
        goto out;
    }
    /* the records; nonces no longer ours to finish leave the list */
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        jreq r;
        if (entry_record(s, &s->fl[i], &r) != 1)
            continue;
        s->fl[w] = s->fl[i];
        recs[w++] = r;
    }
    s->n_fl = w;
    n = w;
    /* room to settle every record and every batch member in one commit */
    size_t cap = n;
    for (size_t i = 0; i < n; i++)
        cap += batch_listed(&recs[i]);
    sa = calloc(cap ? cap : 1, sizeof *sa);
    sids = malloc((cap ? cap : 1) * 32);
    susers = calloc(cap ? cap : 1, sizeof *susers);
    sres = malloc((cap ? cap : 1) * sizeof *sres);
    if (!sa || !sids || !susers || !sres) {
        log_msg(LOG_ERROR, NULL, "out of memory tracking %zu transactions", n);
        goto out;
    }
    uint64_t latest;
    int64_t t0 = now_ns();
    if (!n || fetch_receipts(s, recs, rcpt, &latest))
        goto out;
    int64_t t1 = now_ns();
    for (size_t i = 0, r_i = 0; r_i < n; r_i++) {
        inflight *e = &s->fl[i];
        jreq *r = &recs[r_i];
        int done = 0;
        if (!e->mined_block && e->nonce < latest) {
            /* the nonce is used: find which of our versions made it (newest first) */
            mined_args m;
            int success = 0, found = parse_receipt(rcpt[r_i], &m, &success);
            uint32_t nh =
                r->f.n_tx_hashes < JREQ_MAX_TX_HASHES ? r->f.n_tx_hashes : JREQ_MAX_TX_HASHES;
            for (uint32_t k = nh ? nh - 1 : 0; k-- > 0 && !found;) {
                int g = get_receipt(s, r->f.tx_hashes[k], &m, &success, &rcpt[r_i]);
                if (g < 0)
                    goto out;
                found = g;
            }
            if (found) {
                e->mined_block = m.block;
                metrics_observe_stage(
                    s->d.m, STAGE_MINED,
                    (double)(now_ns() - (r->f.t_computed ? r->f.t_computed : r->f.t_seen)) / 1e9);
                int is_batch = r->f.tx_kind == TXK_BATCH && r->f.state == RS_SUBMITTED;
                if (!success && is_batch) {
                    m.clear = 0;
                    journal_update(s->d.j, e->id, mined_fn, &m, err, sizeof err);
                    batch_reverted(s, e, r, &m);
                    done = 1;
                } else if (!success) {
                    m.clear = 0;
                    journal_update(s->d.j, e->id, mined_fn, &m, err, sizeof err);
                    int fs;
                    char why[700];
                    int retry = explain_revert(s, e->id, &fs, why, sizeof why);
                    if (retry && r->f.state == RS_SUBMITTED) {
                        if (retry == 2) {
                            /* removed from the registry: sign again once registered */
                            pause_not_node(s, e->id, why);
                            submit_again(s, e->id, why,
                                         " (fulfill or attest as the chain says now) once this "
                                         "key is registered again");
                        } else {
                            /* out of gas (or the attested output left the chain): forget the
                             * shape's cached estimate, sign it again */
                            gas_forget(s, r->f.tx_kind, r->f.callback_gas_limit,
                                       r->f.tx_kind == TXK_FULFILL
                                           ? (uint32_t)((r->output_len + 63) / 64)
                                           : 0);
                            submit_again(s, e->id, why,
                                         " (fulfill or attest as the chain says now) with a "
                                         "fresh gas estimate");
                        }
                    } else if (r->f.state == RS_CANCELLED) {
                        finish(s, e->id, RS_CANCELLED, RS_CANCELLED, "nonce consumed");
                    } else {
                        finish(s, e->id, RS_SUBMITTED, fs, why);
                    }
                    done = 1;
                } else {
                    note_disagreement(s, rcpt[r_i]);
                    if (is_batch)
                        batch_skips(s, r, rcpt[r_i]);
                    settle_args *a = &sa[ns];
                    a->m = m;
                    a->has_mined = 1;
                    a->nonce = e->nonce;
                    memcpy(sids[ns], e->id, 32);
                    susers[ns++] = a;
                }
            } else if (++e->missing_checks >= 3) {
                const char *why = "the nonce was used by a transaction this node did not sign "
                                  "(is the key used elsewhere?)";
                if (r->f.state == RS_CANCELLED) {
                    finish(s, e->id, RS_CANCELLED, RS_CANCELLED, "nonce consumed");
                } else if (r->f.tx_kind == TXK_BATCH) {
                    batch_each_live(s, r, fail_member, (void *)why);
                    batch_record_done(s, e->id, why);
                } else {
                    finish(s, e->id, RS_SUBMITTED, RS_FAILED, why);
                }
                done = 1;
            }
        }
        if (!done && e->mined_block) {
            if (head >= e->mined_block + s->d.cfg->receipt_depth) {
                settle_args *a =
                    ns && susers[ns - 1] == &sa[ns - 1] && !memcmp(sids[ns - 1], e->id, 32)
                        ? &sa[ns - 1]
                        : NULL;
                if (!a) {
                    a = &sa[ns];
                    a->nonce = e->nonce;
                    memcpy(sids[ns], e->id, 32);
                    susers[ns++] = a;
                }
                a->to = r->f.state == RS_CANCELLED   ? RS_CANCELLED
                        : r->f.tx_kind == TXK_REJECT ? RS_REJECTED
                                                     : RS_FULFILLED;
                a->why = r->f.state == RS_CANCELLED   ? "nonce consumed after cancellation"
                         : r->f.tx_kind == TXK_REJECT ? "attested reject mined"
                         : r->f.tx_kind == TXK_ATTEST ? "attestation mined"
                                                      : "fulfillment mined";
                if (r->f.tx_kind == TXK_BATCH && r->f.state == RS_SUBMITTED) {
                    /* the record and every answer it still carries, in the same commit */
                    a->quiet = 1;
                    mined_args bm;
                    memset(&bm, 0, sizeof bm);
                    if (a->has_mined) {
                        bm = a->m;
                    } else {
                        bm.block = r->f.mined_block;
                        memcpy(bm.block_hash, r->f.mined_block_hash, 32);
                        bm.gas_used = r->f.gas_used;
                        bm.price = r->f.effective_gas_price;
                    }
                    for (size_t k = 0; k < batch_listed(r); k++) {
                        settle_args *ma = &sa[ns];
                        ma->m = bm;
                        ma->has_mined = 1;
                        ma->nonce = e->nonce;
                        ma->batch = r;
                        memcpy(sids[ns], r->input + 32 * k, 32);
                        susers[ns++] = ma;
                    }
                }
                done = 1;
            }
        } else if (!done && r->f.state == RS_CANCELLED && r->f.tx_kind != TXK_FILLER) {
            resend(s, e, head); /* its nonce goes to a filler */
        } else if (!done && r->f.tx_kind == TXK_BATCH && r->f.state == RS_SUBMITTED &&
                   batch_each_live(s, r, NULL, NULL) < batch_listed(r)) {
            /* a reorg cancelled some of its answers: the batch goes out again without them
             * (same nonce, bumped fees), or as a filler when none is left */
            resend(s, e, head);
        } else if (!done && e->unsent && e->nonce >= latest) {
            /* The current version never reached the node (the connection failed): send the same
             * journaled bytes again now. Waiting for resend_after_blocks would wait forever on a
             * quiet chain (automine makes no block without a transaction), and the rule below
             * only re-sends the lowest unmined nonce (or one priced below the base fee). */
            int src = send_raw(s, s->track_lane.rpc, r->raw_tx, r->raw_tx_len, e->id);
            if (src != -1) {
                e->unsent = 0;
                e->sent_block = head;
                e->sent_ns = now_ns();
            }
            if (src == 0) {
                metrics_add(s->d.m, MC_TX_RESENT, 1);
                log_msg(LOG_INFO, e->id,
                        "re-sent nonce %llu (the earlier send did not reach the node)",
                        (unsigned long long)e->nonce);
            }
        } else if (!done && e->nonce == latest && head == e->sent_block &&
                   e->idle_kick != head + 1 && now_ns() - e->sent_ns >= RESEND_IDLE_NS) {
            log_msg(LOG_INFO, e->id,
                    "nonce %llu waited %.1f s with no new block: replacing it so the chain mines",
                    (unsigned long long)e->nonce, (double)(now_ns() - e->sent_ns) / 1e9);
            e->idle_kick = head + 1;
            resend(s, e, head);
        } else if (!done && head >= e->sent_block + s->d.cfg->resend_after_blocks) {
            /* Not mined in time. Only the lowest unmined nonce can hold the others back, so a
             * later one is bumped only when its fee cap is below the base fee (it could not be
             * mined even once the lower ones are): a stalled queue costs one replacement, not
             * one per transaction waiting behind it. */
            int64_t waited = now_ns() - e->sent_ns;
            uint64_t bf;
            if ((e->nonce == latest && waited >= RESEND_LOWEST_MIN_NS) ||
                (waited >= RESEND_MIN_NS && !current_base_fee(s, &s->track_lane, head, &bf) &&
                 r->f.max_fee_per_gas < bf))
                resend(s, e, head);
        }
        if (done)
            remove_inflight(s, i);
        else
            i++;
    }
    log_msg(LOG_DEBUG, NULL,
            "track: head %llu, %zu in flight, nonce %llu mined, receipts batch %lld us, %zu "
            "to record",
            (unsigned long long)head, n, (unsigned long long)latest, (long long)((t1 - t0) / 1000),
            ns);
out:
    /* receipts and final states: one commit */
    if (ns) {
        if (journal_update_many(s->d.j, (const uint8_t(*)[32])sids, ns, settle_fn, susers, sres,
                                err, sizeof err)) {
            log_msg(LOG_ERROR, NULL, "journal: recording %zu receipt(s): %s", ns, err);
            /* nothing written: follow them again from the next head */
            for (size_t k = 0; k < ns; k++)
                if (!sa[k].batch)
                    add_inflight(s, sids[k], sa[k].nonce, head, 0);
        } else {
            for (size_t k = 0; k < ns; k++) {
                settle_args *a = &sa[k];
                if (!a->finished || a->quiet)
                    continue;
                if (a->old_state == RS_CANCELLED) {
                    log_msg(LOG_INFO, sids[k], "cancelled request: %s (nonce %llu)", a->why,
                            (unsigned long long)a->nonce);
                    continue;
                }
                metrics_transition(s->d.m, a->old_state, a->to);
                log_msg(a->to == RS_FAILED ? LOG_WARN : LOG_INFO, sids[k], "request %s: %s",
                        req_state_name(a->to), a->why);
            }
        }
    }
    for (size_t k = 0; recs && rcpt && k < n; k++) {
        jreq_free(&recs[k]);
        cJSON_Delete(rcpt[k]);
    }
    free(recs);
    free(rcpt);
    free(sa);
    free(sids);
    free(susers);
    free(sres);
}

/* After a reorg: receipts we counted may be gone. */
static void recheck_mined(submitter *s)
{
    for (size_t i = 0; i < s->n_fl; i++) {
        inflight *e = &s->fl[i];
        if (!e->mined_block)
            continue;
        char err[256];
        jreq r;
        if (entry_record(s, e, &r) != 1)
            continue;
        mined_args m;
        int success, found = 0;
        for (uint32_t k = r.f.n_tx_hashes; k-- > 0 && !found;)
            found = get_receipt(s, r.f.tx_hashes[k], &m, &success, NULL) == 1 &&
                    !memcmp(m.block_hash, r.f.mined_block_hash, 32);
        if (!found) {
            log_msg(LOG_WARN, e->id, "our mined transaction left the chain (reorg): re-sending");
            mined_args c = {0};
            c.clear = 1;
            journal_update(s->d.j, e->id, mined_fn, &c, err, sizeof err);
            e->mined_block = 0;
            e->unsent = send_raw(s, s->track_lane.rpc, r.raw_tx, r.raw_tx_len, e->id) == -1;
        }
        jreq_free(&r);
    }
}

static void rebroadcast_all(submitter *s)
{
    for (size_t i = 0; i < s->n_fl; i++) {
        inflight *e = &s->fl[i];
        if (e->mined_block)
            continue;
        jreq r;
        if (entry_record(s, e, &r) != 1)
            continue;
        if (r.raw_tx_len)
            e->unsent = send_raw(s, s->track_lane.rpc, r.raw_tx, r.raw_tx_len, e->id) == -1;
        jreq_free(&r);
    }
}

/* A request whose nonce the chain no longer has and nothing of ours will use: a filler. */
static int need_filler_fn(journal_txn *t, jreq *r, void *user)
{
    (void)t;
    uint64_t nonce = *(const uint64_t *)user;
    if (r->f.nonce != nonce || r->f.state != RS_CANCELLED || r->f.cancel_pending)
        return 1;
    r->f.cancel_pending = 1;
    r->f.mined_block = 0;
    memset(r->f.mined_block_hash, 0, 32);
    return 0;
}

/* Sender, after a reorg: a deep reorg can take mined transactions of ours off the chain, so
 * the account's nonce there falls below the journal's counter. Nonces up to the highest one
 * still in flight (submitted, or a cancelled request's filler) must be used: those whose
 * request is void get a filler (zero-value self-transfer) through the tracker. Above that the
 * counter goes back to where the chain is, so the next transaction does not wait behind a gap
 * forever. (A request still open keeps its nonce and its signed bytes: the tracker re-sends
 * them when their receipt is gone.) */
static void nonce_resync(submitter *s, uint64_t head)
{
    uint64_t pending, next;
    int found = 0;
    if (get_nonce(s, "pending", &pending) || journal_get_next_nonce(s->d.j, &next, &found) ||
        !found || pending >= next)
        return;
    uint64_t keep = pending; /* 1 + the highest nonce still in flight */
    char err[256];
    for (uint64_t k = pending; k < next; k++) {
        jreq r;
        /* owner and record in one snapshot: a re-inclusion moving the nonce to a nonce record
         * between two reads would hide a nonce still in flight */
        if (journal_nonce_record(s->d.j, k, &r, err, sizeof err) != 1)
            continue;
        if (holds_nonce(&r, k))
            keep = k + 1;
        jreq_free(&r);
    }
    for (uint64_t k = pending; k < keep; k++) {
        uint8_t id[32];
        if (journal_update_by_nonce(s->d.j, k, need_filler_fn, &k, id, err, sizeof err) == 0) {
            log_msg(LOG_WARN, id, "reorg: nonce %llu left the chain with a void request: filler",
                    (unsigned long long)k);
            hand_to_tracker(s, id, k, head, 0);
        }
    }
    if (keep < next) {
        if (journal_set_next_nonce(s->d.j, keep, err, sizeof err))
            log_msg(LOG_ERROR, NULL, "journal: %s", err);
        else
            log_msg(LOG_WARN, NULL,
                    "reorg: the chain has nonce %llu for this key, the journal %llu; nonces "
                    "from %llu on are free again (their transactions left the chain with their "
                    "requests)",
                    (unsigned long long)pending, (unsigned long long)next,
                    (unsigned long long)keep);
    }
}

/* now + ms as an absolute CLOCK_REALTIME time, for pthread_cond_timedwait */
static struct timespec deadline_in(long ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

/* An absolute CLOCK_REALTIME time from ns since the epoch, for pthread_cond_timedwait */
static struct timespec abs_time(int64_t ns)
{
    struct timespec ts;
    ts.tv_sec = (time_t)(ns / 1000000000LL);
    ts.tv_nsec = (long)(ns % 1000000000LL);
    return ts;
}

/* (mu held) Whether the sender holds the answers queued so far, to send them together with
 * those still coming: only while answers are batched (answerMany), fewer than two transactions'
 * worth are waiting, its last send is not in a block yet (no new head since) and that send was
 * less than batch_wait_ms ago. A chain that mines every transaction at once (anvil automine)
 * makes a block per send, and each block costs such a chain a state root over its whole state:
 * during a burst the answers computed while the chain mines our last send then share the next
 * block. On a chain with block times the wait is a small part of one block; a lone answer (no
 * send in flight) never waits. */
static int coalescing(const submitter *s)
{
    if (s->no_batch || !s->d.cfg->batch_wait_ms || !s->sent_ns || s->head != s->sent_head ||
        s->q.n >= 2 * (size_t)s->d.cfg->answers_per_tx)
        return 0;
    return now_ns() < s->sent_ns + (int64_t)s->d.cfg->batch_wait_ms * 1000000;
}

/* The sender: computed requests -> signed (one journal commit per batch) -> sent (one JSON-RPC
 * batch) -> handed to the tracker. Nothing else runs on this thread, so a request never waits
 * behind receipt tracking. */
static void *sender_main(void *arg)
{
    submitter *s = arg;
    idqueue work = {0};
    int backoff = 0;
    for (;;) {
        pthread_mutex_lock(&s->mu);
        while (!s->stop && !s->nonce_check &&
               (backoff || !s->q.n || !s->registered || coalescing(s))) {
            if (!s->registered && s->q.n && !s->paused_logged) {
                log_msg(LOG_WARN, NULL,
                        "sending paused: this node's key is not registered with the oracle; %zu "
                        "computed answer(s) wait",
                        s->q.n);
                s->paused_logged = 1;
            }
            struct timespec ts = deadline_in(500);
            if (s->q.n && s->registered && !backoff && coalescing(s))
                ts = abs_time(s->sent_ns + (int64_t)s->d.cfg->batch_wait_ms * 1000000);
            if (pthread_cond_timedwait(&s->cv, &s->mu, &ts) == ETIMEDOUT && backoff)
                backoff = 0; /* retry now */
        }
        if (s->stop) {
            pthread_mutex_unlock(&s->mu);
            break;
        }
        if (s->nonce_check) {
            s->nonce_check = 0;
            uint64_t head = s->head;
            pthread_mutex_unlock(&s->mu);
            nonce_resync(s, head);
            continue;
        }
        if (s->paused_logged) {
            log_msg(LOG_INFO, NULL, "sending resumed: this node's key is registered again");
            s->paused_logged = 0;
        }
        idqueue tmp = s->q;
        s->q = work;
        work = tmp;
        s->q.n = 0;
        uint64_t head = s->head;
        s->send_lane.fee.hf_valid = s->head_fee_valid;
        s->send_lane.fee.hf = s->head_fee;
        s->send_lane.fee.hf_block = s->head_fee_block;
        uint64_t block_gas_limit = s->block_gas_limit;
        pthread_mutex_unlock(&s->mu);

        for (size_t i = 0; i < work.n;) {
            size_t want = work.n - i; /* submit_batch takes what fits */
            int trouble;
            size_t done = submit_batch(s, (const uint8_t(*)[32])(work.ids + i), want, head,
                                       block_gas_limit, &trouble);
            i += done;
            if (trouble) {
                /* RPC or journal trouble (or the key turned out unregistered): put this and
                 * the rest back, try again shortly */
                pthread_mutex_lock(&s->mu);
                for (size_t k = i; k < work.n; k++)
                    idq_push(&s->q, work.ids[k]);
                pthread_mutex_unlock(&s->mu);
                backoff = 1;
                break;
            }
        }
        work.n = 0;
        pthread_mutex_lock(&s->mu);
        s->sent_head = head;
        s->sent_ns = now_ns();
        pthread_cond_signal(&s->tcv); /* the tracker takes over what was just sent */
        pthread_mutex_unlock(&s->mu);
    }
    free(work.ids);
    return NULL;
}

/* The tracker: on every head (and right after a send, a reorg or a reconnect) one pass over the
 * transactions in flight: mined nonces, receipts, final states, resends and fillers. */
static void *tracker_main(void *arg)
{
    submitter *s = arg;
    for (;;) {
        pthread_mutex_lock(&s->mu);
        if (!s->stop && s->head == s->tracked_head && !s->reorg && !s->reconnect && !s->n_handoff) {
            struct timespec ts = deadline_in(500);
            pthread_cond_timedwait(&s->tcv, &s->mu, &ts);
        }
        if (s->stop) {
            pthread_mutex_unlock(&s->mu);
            break;
        }
        uint64_t head = s->head;
        s->track_lane.fee.hf_valid = s->head_fee_valid;
        s->track_lane.fee.hf = s->head_fee;
        s->track_lane.fee.hf_block = s->head_fee_block;
        int reorg = s->reorg, reconnect = s->reconnect;
        s->reorg = s->reconnect = 0;
        size_t nh = s->n_handoff;
        inflight *h = nh ? malloc(nh * sizeof *h) : NULL;
        if (h) {
            memcpy(h, s->handoff, nh * sizeof *h);
            s->n_handoff = 0;
        } else {
            nh = 0;
        }
        pthread_mutex_unlock(&s->mu);

        for (size_t i = 0; i < nh; i++) {
            add_inflight(s, h[i].id, h[i].nonce, h[i].sent_block, 0);
            for (size_t k = 0; k < s->n_fl; k++)
                if (!memcmp(s->fl[k].id, h[i].id, 32) && s->fl[k].nonce == h[i].nonce) {
                    s->fl[k].sent_ns = h[i].sent_ns;
                    s->fl[k].unsent = h[i].unsent;
                }
        }
        free(h);
        if (reconnect)
            rebroadcast_all(s);
        if (reorg)
            recheck_mined(s);
        /* also after a reorg at the same height: a request cancelled after its transaction was
         * signed needs its filler now, not at the next block */
        track(s, head);
        s->tracked_head = head;
        pthread_mutex_lock(&s->mu);
        s->n_tracked = s->n_fl;
        pthread_mutex_unlock(&s->mu);
    }
    return NULL;
}

typedef struct {
    submitter *s;
} load_ctx;

static int load_fn(const jreq *r, void *user)
{
    submitter *s = ((load_ctx *)user)->s;
    if (r->f.state == RS_SUBMITTED || (r->f.state == RS_CANCELLED && r->f.cancel_pending))
        if (r->f.n_tx_hashes)
            add_inflight(s, r->f.id, r->f.nonce, r->f.sent_block, r->f.mined_block);
    return 0;
}

int submitter_start(submitter *s, char *err, size_t errlen)
{
    uint64_t latest, pending, jn = 0;
    int found = 0;
    if (get_nonce(s, "latest", &latest) || get_nonce(s, "pending", &pending)) {
        snprintf(err, errlen, "cannot read the node account's nonce from %s", s->d.cfg->rpc_http);
        return -1;
    }
    if (journal_get_next_nonce(s->d.j, &jn, &found)) {
        snprintf(err, errlen, "journal: cannot read the nonce counter");
        return -1;
    }
    if (!found || jn < pending) {
        if (found && jn < latest)
            log_msg(LOG_WARN, NULL,
                    "the chain has nonce %llu for this key, the journal %llu: another program "
                    "used the key; continuing from the chain's",
                    (unsigned long long)pending, (unsigned long long)jn);
        jn = pending;
        if (journal_set_next_nonce(s->d.j, jn, err, errlen))
            return -1;
    }
    if (!s->no_batch) {
        /* an empty answerMany: a contract without it (an older deployment) reverts */
        buf data = BUF_INIT;
        char e2[512];
        rpc_error re;
        memset(&re, 0, sizeof re);
        int rc = encode_many(s, NULL, 0, &data, e2, sizeof e2)
                     ? -1
                     : call_latest(s, s->send_lane.rpc, data.data, data.len, 0, &re, e2, sizeof e2);
        rpc_error_clear(&re);
        buf_free(&data);
        if (rc == RPC_EERROR) {
            s->no_batch = 1;
            log_msg(LOG_WARN, NULL,
                    "the oracle contract has no answerMany: one answer per transaction "
                    "(answers_per_tx = 1 says so without this check)");
        } else if (rc) {
            log_msg(LOG_WARN, NULL,
                    "cannot check the oracle for answerMany (%s); assuming it "
                    "has it (a batch that reverts stops batching)",
                    e2);
        }
    }
    load_ctx lc = {s};
    if (journal_foreach(s->d.j, 1, load_fn, &lc, err, errlen) < 0)
        return -1;
    log_msg(LOG_INFO, NULL,
            "submitter: account %s, chain nonce %llu (pending %llu), next %llu, "
            "%zu transaction(s) in flight",
            s->addr_hex, (unsigned long long)latest, (unsigned long long)pending,
            (unsigned long long)jn, s->n_fl);
    rebroadcast_all(s);
    s->n_tracked = s->n_fl;
    if (pthread_create(&s->tracker, NULL, tracker_main, s)) {
        snprintf(err, errlen, "cannot start the submitter's tracker thread");
        return -1;
    }
    s->tracker_started = 1;
    if (pthread_create(&s->thread, NULL, sender_main, s)) {
        snprintf(err, errlen, "cannot start the submitter thread");
        return -1;
    }
    s->started = 1;
    return 0;
}

void submitter_enqueue(submitter *s, const uint8_t id[32])
{
    pthread_mutex_lock(&s->mu);
    idq_push(&s->q, id);
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

void submitter_on_head(submitter *s, uint64_t head, const uint64_t *next_base_fee,
                       uint64_t block_gas_limit)
{
    pthread_mutex_lock(&s->mu);
    if (block_gas_limit)
        s->block_gas_limit = block_gas_limit;
    s->head_fee_valid = next_base_fee != NULL;
    s->head_fee = next_base_fee ? *next_base_fee : 0;
    s->head_fee_block = head;
    if (head != s->head) {
        s->head = head;
        pthread_cond_signal(&s->tcv);
        pthread_cond_signal(&s->cv); /* answers held for coalescing go now (sender_main) */
    }
    pthread_mutex_unlock(&s->mu);
}

void submitter_on_reorg(submitter *s)
{
    pthread_mutex_lock(&s->mu);
    s->reorg = 1;
    s->nonce_check = 1;
    pthread_cond_signal(&s->cv);
    pthread_cond_signal(&s->tcv);
    pthread_mutex_unlock(&s->mu);
}

void submitter_follow_again(submitter *s, const uint8_t id[32], uint64_t nonce, uint64_t head)
{
    hand_to_tracker(s, id, nonce, head, 1); /* "unsent": the tracker sends the journaled bytes */
    pthread_mutex_lock(&s->mu);
    pthread_cond_signal(&s->tcv);
    pthread_mutex_unlock(&s->mu);
}

void submitter_on_reconnect(submitter *s)
{
    pthread_mutex_lock(&s->mu);
    s->reconnect = 1;
    pthread_cond_signal(&s->tcv);
    pthread_mutex_unlock(&s->mu);
}

void submitter_set_registered(submitter *s, int registered)
{
    pthread_mutex_lock(&s->mu);
    s->registered = registered != 0;
    if (registered)
        pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

int submitter_in_flight(submitter *s)
{
    pthread_mutex_lock(&s->mu);
    int n = (int)(s->n_tracked + s->n_handoff);
    pthread_mutex_unlock(&s->mu);
    return n;
}

void submitter_stop(submitter *s)
{
    pthread_mutex_lock(&s->mu);
    s->stop = 1;
    pthread_cond_signal(&s->cv);
    pthread_cond_signal(&s->tcv);
    pthread_mutex_unlock(&s->mu);
    if (s->started)
        pthread_join(s->thread, NULL);
    if (s->tracker_started)
        pthread_join(s->tracker, NULL);
    s->started = s->tracker_started = 0;
}

void submitter_destroy(submitter *s)
{
    if (!s)
        return;
    submitter_stop(s);
    rpc_client_free(s->send_lane.rpc);
    rpc_client_free(s->track_lane.rpc);
    abi_signature_free(&s->sig_fulfill);
    abi_signature_free(&s->sig_reject);
    abi_signature_free(&s->sig_attest);
    abi_signature_free(&s->sig_answer_many);
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->gas_mu);
    pthread_cond_destroy(&s->cv);
    pthread_cond_destroy(&s->tcv);
    free(s->q.ids);
    free(s->handoff);
    free(s->fl);
    free(s);
}
