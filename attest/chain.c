#include "attest/chain.h"

#include <stdlib.h>
#include <string.h>

#include "attest/attestation.h"
#include "oracle/abi.h"
#include "oracle/event.h"
#include "oracle/hex.h"
#include "oracle/keccak.h"
#include "oracle/secp.h"

#define SIG_FULFILL                                                                                \
    "fulfill(uint256,bytes,(uint256,bytes32,bytes32,bytes32,bytes32,uint256,bytes32,uint16),"      \
    "bytes)"
#define SIG_ATTEST                                                                                 \
    "attest(uint256,(uint256,bytes32,bytes32,bytes32,bytes32,uint256,bytes32,uint16),bytes)"
#define SIG_REJECT                                                                                 \
    "reject(uint256,(uint256,bytes32,bytes32,bytes32,bytes32,uint256,bytes32,uint16),bytes)"
#define SIG_DIGEST                                                                                 \
    "attestationDigest((uint256,bytes32,bytes32,bytes32,bytes32,uint256,bytes32,uint16))"
#define EV_ATTESTED "Attested(uint256,address,bytes32,uint16,uint256)"
#define EV_FULFILLED "Fulfilled(uint256,bytes32,bytes)"
#define EV_REJECTED "Rejected(uint256,uint16)"
#define EV_SUPPLIED "OutputSupplied(uint256,bytes32,address)"

const char *chain_status_name(int s)
{
    static const char *const names[] = {"None", "Open", "Fulfilled", "Rejected", "Cancelled"};
    return s >= 0 && s <= 4 ? names[s] : "unknown";
}

static void topic_of(const char *sig, uint8_t out[32])
{
    keccak256(sig, strlen(sig), out);
}

/* ---- RPC helpers ---- */

/* eth_call of sig(words...) on the oracle at "latest"; the return data must be `want` bytes. */
static int view(rpc_client *rpc, const uint8_t oracle[20], const char *sig,
                const uint8_t (*words)[32], size_t nw, uint8_t *out, size_t want, char *err,
                size_t errlen)
{
    uint8_t sel[32];
    keccak256(sig, strlen(sig), sel);
    size_t n = 4 + 32 * nw;
    uint8_t *cd = malloc(n);
    char *hex = malloc(2 * n + 3);
    if (!cd || !hex) {
        free(cd);
        free(hex);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    memcpy(cd, sel, 4);
    for (size_t i = 0; i < nw; i++)
        memcpy(cd + 4 + 32 * i, words[i], 32);
    hex_encode(hex, cd, n);
    free(cd);
    char to[43];
    hex_encode(to, oracle, 20);
    cJSON *p = cJSON_CreateArray(), *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "to", to);
    cJSON_AddStringToObject(o, "data", hex);
    free(hex);
    cJSON_AddItemToArray(p, o);
    cJSON_AddItemToArray(p, cJSON_CreateString("latest"));
    cJSON *res = NULL;
    char e[512];
    int rc = rpc_call(rpc, "eth_call", p, &res, NULL, e, sizeof e);
    cJSON_Delete(p);
    if (rc) {
        snprintf(err, errlen, "eth_call %s: %s", sig, e);
        return -1;
    }
    size_t len = 0;
    rc = cJSON_IsString(res) ? hex_decode(res->valuestring, out, want, &len, NULL, 0) : -1;
    cJSON_Delete(res);
    if (rc || len != want) {
        snprintf(err, errlen,
                 "%s returned %s, expected %zu bytes (is this address an "
                 "InferenceOracle?)",
                 sig, rc ? "more or malformed data" : "too few bytes", want);
        return -1;
    }
    return 0;
}

/* eth_getLogs on the oracle for topics [t0, t1] from block `from`. */
static int get_logs(rpc_client *rpc, const uint8_t oracle[20], const uint8_t t0[32],
                    const uint8_t t1[32], uint64_t from, cJSON **out, char *err, size_t errlen)
{
    char addr[43], h0[67], h1[67], q[24];
    hex_encode(addr, oracle, 20);
    hex_encode(h0, t0, 32);
    hex_encode(h1, t1, 32);
    hex_quantity_from_u64(q, from);
    cJSON *p = cJSON_CreateArray(), *f = cJSON_CreateObject(), *tp = cJSON_CreateArray();
    cJSON_AddStringToObject(f, "fromBlock", q);
    cJSON_AddStringToObject(f, "toBlock", "latest");
    cJSON_AddStringToObject(f, "address", addr);
    cJSON_AddItemToArray(tp, cJSON_CreateString(h0));
    cJSON_AddItemToArray(tp, cJSON_CreateString(h1));
    cJSON_AddItemToObject(f, "topics", tp);
    cJSON_AddItemToArray(p, f);
    char e[512];
    int rc = rpc_call(rpc, "eth_getLogs", p, out, NULL, e, sizeof e);
    cJSON_Delete(p);
    if (rc) {
        snprintf(err, errlen, "eth_getLogs: %s", e);
        return -1;
    }
    if (!cJSON_IsArray(*out)) {
        cJSON_Delete(*out);
        *out = NULL;
        snprintf(err, errlen, "eth_getLogs: the reply is not an array");
        return -1;
    }
    return 0;
}

static int log_topic(const cJSON *log, int i, uint8_t out[32])
{
    const cJSON *t = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(log, "topics"), i);
    return cJSON_IsString(t) && !hex_decode_exact(t->valuestring, out, 32, NULL, 0) ? 0 : -1;
}

static int log_from(const cJSON *log, const uint8_t oracle[20])
{
    uint8_t a[20];
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(log, "address");
    return cJSON_IsString(v) && !hex_decode_exact(v->valuestring, a, 20, NULL, 0) &&
           !memcmp(a, oracle, 20);
}

/* The request id named by a transaction: from the oracle's logs about a request in its receipt.
 * A transaction that concerns several requests (an answerMany) names none of them: the message
 * lists them, to be named by id. 0, CHAIN_NOT_FOUND, CHAIN_ERROR. */
static int id_from_tx(rpc_client *rpc, const uint8_t oracle[20], const char *tx, uint8_t id[32],
                      char *err, size_t errlen)
{
    cJSON *p = cJSON_CreateArray();
    cJSON_AddItemToArray(p, cJSON_CreateString(tx));
    cJSON *rcpt = NULL;
    char e[512];
    int rc = rpc_call(rpc, "eth_getTransactionReceipt", p, &rcpt, NULL, e, sizeof e);
    cJSON_Delete(p);
    if (rc) {
        snprintf(err, errlen, "eth_getTransactionReceipt %s: %s", tx, e);
        return CHAIN_ERROR;
    }
    if (cJSON_IsNull(rcpt)) {
        cJSON_Delete(rcpt);
        snprintf(err, errlen,
                 "no mined transaction %s on this chain (for a request id in hex, give fewer "
                 "than 64 digits, or the decimal id)",
                 tx);
        return CHAIN_NOT_FOUND;
    }
    const char *evs[] = {EVENT_INFERENCE_REQUESTED, EV_ATTESTED, EV_FULFILLED, EV_REJECTED,
                         EV_SUPPLIED};
    uint8_t topics[5][32];
    abi_signature s;
    if (abi_signature_parse(EVENT_INFERENCE_REQUESTED, &s, err, errlen)) {
        cJSON_Delete(rcpt);
        return CHAIN_ERROR;
    }
    abi_signature_hash(&s, topics[0]);
    abi_signature_free(&s);
    for (int i = 1; i < 5; i++)
        topic_of(evs[i], topics[i]);
    const cJSON *lg;
    int found = 0, several = 0;
    char ids[256] = "";
    cJSON_ArrayForEach(lg, cJSON_GetObjectItemCaseSensitive(rcpt, "logs"))
    {
        uint8_t t0[32], other[32];
        if (!log_from(lg, oracle) || log_topic(lg, 0, t0))
            continue;
        for (int i = 0; i < 5; i++) {
            if (memcmp(t0, topics[i], 32) || log_topic(lg, 1, other))
                continue;
            if (!found || memcmp(other, id, 32)) {
                if (found)
                    several = 1;
                u256 v;
                memcpy(v.b, other, 32);
                char dec[U256_DEC_MAX];
                u256_to_dec(&v, dec);
                if (strlen(ids) + strlen(dec) + 3 < sizeof ids)
                    snprintf(ids + strlen(ids), sizeof ids - strlen(ids), "%s%s", found ? ", " : "",
                             dec);
                memcpy(id, other, 32);
                found = 1;
            }
            break;
        }
    }
    cJSON_Delete(rcpt);
    if (several) {
        snprintf(err, errlen,
                 "transaction %s concerns several requests (ids %s): name the one to verify by "
                 "its id",
                 tx, ids);
        return CHAIN_NOT_FOUND;
    }
    if (!found) {
        char o[43];
        eth_address_checksum(oracle, o);
        snprintf(err, errlen,
                 "transaction %s has no log of oracle %s about a request (wrong --oracle?)", tx, o);
        return CHAIN_NOT_FOUND;
    }
    return CHAIN_OK;
}

/* ---- votes ---- */

static void att_from_value(const abi_value *t, sibyl_attestation *a)
{
    memcpy(a->request_id.b, t->items[0].word, 32);
    memcpy(a->model_hash, t->items[1].word, 32);
    memcpy(a->input_hash, t->items[2].word, 32);
    memcpy(a->params_hash, t->items[3].word, 32);
    memcpy(a->output_hash, t->items[4].word, 32);
    memcpy(a->seed.b, t->items[5].word, 32);
    memcpy(a->engine_version, t->items[6].word, 32);
    a->reject_code = (uint16_t)(t->items[7].word[30] << 8 | t->items[7].word[31]);
}

/* Reads the transaction of vote v: which call, its attestation, signature and output. */
/* A node may carry several answers in one transaction, answerMany(bytes[]) (docs/protocol.md):
 * then the vote's call is the element that answers request id. Replaces data[0..n) with that
 * element's bytes and returns 0; 1 when data is no answerMany; -1 (message in v) when it is one
 * without an element for id. When several elements answer id (a relay batching the votes of
 * several nodes), the first is taken. */
static int answer_many_element(const uint8_t id[32], uint8_t **data, size_t *n, chain_vote *v)
{
    abi_signature s;
    uint8_t sel[4];
    if (abi_signature_parse("answerMany(bytes[])", &s, NULL, 0))
        return 1;
    abi_selector(&s, sel);
    if (*n < 4 || memcmp(*data, sel, 4)) {
        abi_signature_free(&s);
        return 1;
    }
    abi_value val;
    char e[256];
    int rc = -1;
    if (abi_decode(s.params, *data + 4, *n - 4, &val, e, sizeof e)) {
        snprintf(v->decode_err, sizeof v->decode_err, "answerMany calldata: %s", e);
        abi_signature_free(&s);
        return -1;
    }
    snprintf(v->decode_err, sizeof v->decode_err,
             "the answerMany transaction has no answer for this request");
    const abi_value *calls = &val.items[0];
    for (size_t i = 0; i < calls->n_items; i++) {
        const abi_value *c = &calls->items[i];
        if (c->len < 36 || memcmp(c->data + 4, id, 32))
            continue;
        uint8_t *copy = malloc(c->len);
        if (!copy) {
            snprintf(v->decode_err, sizeof v->decode_err, "out of memory");
            break;
        }
        memcpy(copy, c->data, c->len);
        free(*data);
        *data = copy;
        *n = c->len;
        v->decode_err[0] = 0;
        rc = 0;
        break;
    }
    abi_value_free(&val);
    abi_signature_free(&s);
    return rc;
}

static void decode_vote_tx(rpc_client *rpc, const uint8_t oracle[20], const uint8_t id[32],
                           chain_vote *v)
{
    char tx[67], e[512];
    hex_encode(tx, v->tx, 32);
    cJSON *p = cJSON_CreateArray();
    cJSON_AddItemToArray(p, cJSON_CreateString(tx));
    cJSON *t = NULL;
    int rc = rpc_call(rpc, "eth_getTransactionByHash", p, &t, NULL, e, sizeof e);
    cJSON_Delete(p);
    if (rc || !cJSON_IsObject(t)) {
        snprintf(v->decode_err, sizeof v->decode_err, "eth_getTransactionByHash: %s",
                 rc ? e : "no such transaction");
        cJSON_Delete(t);
        return;
    }
    const cJSON *to = cJSON_GetObjectItemCaseSensitive(t, "to");
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(t, "input");
    uint8_t toa[20];
    uint8_t *data = NULL;
    size_t n = 0;
    if (!cJSON_IsString(to) || hex_decode_exact(to->valuestring, toa, 20, NULL, 0) ||
        memcmp(toa, oracle, 20)) {
        snprintf(v->decode_err, sizeof v->decode_err,
                 "the transaction does not call the oracle directly; its calldata is not read");
        cJSON_Delete(t);
        return;
    }
    if (!cJSON_IsString(in) || hex_decode_alloc(in->valuestring, &data, &n, e, sizeof e)) {
        snprintf(v->decode_err, sizeof v->decode_err, "transaction input: %s",
                 cJSON_IsString(in) ? e : "missing");
        cJSON_Delete(t);
        return;
    }
    cJSON_Delete(t);
    if (answer_many_element(id, &data, &n, v) < 0) {
        free(data);
        return;
    }
    const char *sigs[3] = {SIG_FULFILL, SIG_ATTEST, SIG_REJECT};
    const vote_kind kinds[3] = {VOTE_FULFILL, VOTE_ATTEST, VOTE_REJECT};
    snprintf(v->decode_err, sizeof v->decode_err,
             "the calldata is not fulfill / attest / reject of the oracle");
    for (int i = 0; i < 3; i++) {
        abi_signature s;
        uint8_t sel[4];
        if (abi_signature_parse(sigs[i], &s, NULL, 0))
            continue;
        abi_selector(&s, sel);
        abi_value val;
        if (n >= 4 && !memcmp(data, sel, 4)) {
            if (abi_decode(s.params, data + 4, n - 4, &val, e, sizeof e)) {
                snprintf(v->decode_err, sizeof v->decode_err, "%s calldata: %s", s.name, e);
            } else {
                size_t k = kinds[i] == VOTE_FULFILL ? 1 : 0; /* index before the tuple */
                const abi_value *sig = &val.items[k + 2];
                att_from_value(&val.items[k + 1], &v->att);
                if (sig->len != 65) {
                    snprintf(v->decode_err, sizeof v->decode_err,
                             "the signature is %zu bytes, not 65", sig->len);
                } else {
                    memcpy(v->signature, sig->data, 65);
                    v->kind = kinds[i];
                    v->decoded = 1;
                    v->decode_err[0] = 0;
                    if (kinds[i] == VOTE_FULFILL) {
                        v->output = malloc(val.items[1].len ? val.items[1].len : 1);
                        if (v->output) {
                            if (val.items[1].len)
                                memcpy(v->output, val.items[1].data, val.items[1].len);
                            v->output_len = val.items[1].len;
                            v->has_output = 1;
                        }
                    }
                }
            }
            abi_value_free(&val);
            abi_signature_free(&s);
            break;
        }
        abi_signature_free(&s);
    }
    free(data);
}

/* ---- fetch ---- */

int chain_fetch(rpc_client *rpc, const uint8_t oracle[20], const char *ref, uint64_t from_block,
                chain_request *c, char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    memcpy(c->oracle, oracle, 20);
    unsigned long long cid;
    char e[512];
    if (rpc_call_u64(rpc, "eth_chainId", NULL, &cid, NULL, e, sizeof e)) {
        snprintf(err, errlen, "eth_chainId: %s", e);
        return CHAIN_ERROR;
    }
    c->chain_id = cid;
    uint8_t id[32];
    size_t rl = strlen(ref);
    if (rl == 66 && ref[0] == '0' && (ref[1] == 'x' || ref[1] == 'X')) {
        int rc = id_from_tx(rpc, oracle, ref, id, err, errlen);
        if (rc)
            return rc;
    } else if (audit_parse_request_id(ref, id, NULL, 0)) {
        snprintf(err, errlen,
                 "'%s' is neither a transaction hash (0x + 64 hex digits) nor a request id", ref);
        return CHAIN_ERROR;
    }

    /* the request */
    abi_signature ev;
    uint8_t t0[32];
    if (abi_signature_parse(EVENT_INFERENCE_REQUESTED, &ev, err, errlen))
        return CHAIN_ERROR;
    abi_signature_hash(&ev, t0);
    cJSON *logs = NULL;
    if (get_logs(rpc, oracle, t0, id, from_block, &logs, err, errlen)) {
        abi_signature_free(&ev);
        return CHAIN_ERROR;
    }
    int n = cJSON_GetArraySize(logs);
    u256 idv;
    memcpy(idv.b, id, 32);
    char dec[U256_DEC_MAX], o[43];
    u256_to_dec(&idv, dec);
    eth_address_checksum(oracle, o);
    if (n == 0) {
        cJSON_Delete(logs);
        abi_signature_free(&ev);
        snprintf(err, errlen,
                 "no request %s on oracle %s (no InferenceRequested log from block "
                 "%llu on)",
                 dec, o, (unsigned long long)from_block);
        return CHAIN_NOT_FOUND;
    }
    jreq jr;
    int rc = event_decode_request(&ev, cJSON_GetArrayItem(logs, n - 1), &jr, e, sizeof e);
    cJSON_Delete(logs);
    abi_signature_free(&ev);
    if (rc) {
        snprintf(err, errlen, "request %s: malformed InferenceRequested log: %s", dec, e);
        return CHAIN_ERROR;
    }
    rc = audit_record_from_journal(&jr, NULL, 0, &c->req, err, errlen);
    jreq_free(&jr);
    if (rc)
        return CHAIN_ERROR;
    c->req.has_signature = 0;
    c->req.state[0] = 0;
    c->req.has_domain = 1;
    c->req.chain_id = c->chain_id;
    memcpy(c->req.oracle, oracle, 20);

    /* the oracle's view of it */
    uint8_t w[16][32];
    if (view(rpc, oracle, "getRequest(uint256)", (const uint8_t(*)[32])id, 1, &w[0][0], sizeof w,
             err, errlen))
        return CHAIN_ERROR;
    c->status = w[3][31];
    c->quorum = (uint16_t)(w[4][30] << 8 | w[4][31]);
    memcpy(c->committed_model_hash, w[10], 32);
    memcpy(c->committed_input_hash, w[11], 32);
    memcpy(c->committed_params_hash, w[12], 32);
    memcpy(c->committed_seed, w[13], 32);
    uint8_t m[4][32];
    if (view(rpc, oracle, "models(bytes32)", (const uint8_t(*)[32])c->req.model_id, 1, &m[0][0],
             sizeof m, err, errlen))
        return CHAIN_ERROR;
    memcpy(c->registry_model_hash, m[0], 32);

    /* the votes */
    uint8_t ta[32];
    topic_of(EV_ATTESTED, ta);
    if (get_logs(rpc, oracle, ta, id, c->req.block_number, &logs, err, errlen))
        return CHAIN_ERROR;
    n = cJSON_GetArraySize(logs);
    if (n > 0 && !(c->votes = calloc((size_t)n, sizeof *c->votes))) {
        cJSON_Delete(logs);
        snprintf(err, errlen, "out of memory");
        return CHAIN_ERROR;
    }
    const cJSON *lg;
    cJSON_ArrayForEach(lg, logs)
    {
        chain_vote *v = &c->votes[c->n_votes];
        uint8_t t2[32], d[64];
        const cJSON *data = cJSON_GetObjectItemCaseSensitive(lg, "data");
        if (log_topic(lg, 2, t2) || log_topic(lg, 3, v->event_output_hash) ||
            json_hex32(lg, "transactionHash", v->tx) ||
            json_hex_u64(lg, "blockNumber", &v->block) || !cJSON_IsString(data) ||
            hex_decode_exact(data->valuestring, d, 64, NULL, 0)) {
            cJSON_Delete(logs);
            snprintf(err, errlen, "request %s: malformed Attested log", dec);
            return CHAIN_ERROR;
        }
        memcpy(v->node, t2 + 12, 20);
        v->event_reject_code = (uint16_t)(d[30] << 8 | d[31]);
        c->n_votes++;
        decode_vote_tx(rpc, oracle, id, v);
    }
    cJSON_Delete(logs);

    /* the final answer */
    uint8_t tf[32];
    topic_of(EV_FULFILLED, tf);
    if (get_logs(rpc, oracle, tf, id, c->req.block_number, &logs, err, errlen))
        return CHAIN_ERROR;
    if (cJSON_GetArraySize(logs) > 0) {
        const cJSON *f = cJSON_GetArrayItem(logs, 0);
        const cJSON *data = cJSON_GetObjectItemCaseSensitive(f, "data");
        uint8_t *raw = NULL;
        size_t rawn = 0;
        abi_type *bt = NULL;
        abi_value val;
        if (log_topic(f, 2, c->final_output_hash) || !cJSON_IsString(data) ||
            hex_decode_alloc(data->valuestring, &raw, &rawn, NULL, 0) ||
            abi_type_parse("bytes", &bt, NULL, 0) || abi_decode(bt, raw, rawn, &val, e, sizeof e)) {
            free(raw);
            abi_type_free(bt);
            cJSON_Delete(logs);
            snprintf(err, errlen, "request %s: malformed Fulfilled log", dec);
            return CHAIN_ERROR;
        }
        c->final_output = malloc(val.len ? val.len : 1);
        if (c->final_output && val.len)
            memcpy(c->final_output, val.data, val.len);
        c->final_output_len = val.len;
        c->fulfilled = c->final_output != NULL;
        abi_value_free(&val);
        abi_type_free(bt);
        free(raw);
    }
    cJSON_Delete(logs);
    uint8_t tr[32];
    topic_of(EV_REJECTED, tr);
    if (get_logs(rpc, oracle, tr, id, c->req.block_number, &logs, err, errlen))
        return CHAIN_ERROR;
    if (cJSON_GetArraySize(logs) > 0) {
        uint8_t code[32];
        if (!log_topic(cJSON_GetArrayItem(logs, 0), 2, code)) {
            c->rejected = 1;
            c->final_reject_code = (uint16_t)(code[30] << 8 | code[31]);
        }
    }
    cJSON_Delete(logs);
    return CHAIN_OK;
}

void chain_request_free(chain_request *c)
{
    for (size_t i = 0; i < c->n_votes; i++)
        free(c->votes[i].output);
    free(c->votes);
    free(c->final_output);
    audit_record_free(&c->req);
    memset(c, 0, sizeof *c);
}

/* ---- verify ---- */

static int check(FILE *out, int ok, int *fails, const char *fmt, const char *a, const char *b)
{
    fprintf(out, "%s ", ok ? "OK  " : "FAIL");
    fprintf(out, fmt, a ? a : "", b ? b : "");
    fputc('\n', out);
    if (!ok)
        (*fails)++;
    return ok;
}

static void h32(char out[67], const uint8_t *p)
{
    hex_encode(out, p, 32);
}

/* The output bytes a vote's attestation speaks for: its own (fulfill), else the final ones or
 * another fulfill's with the same hash. NULL when unknown. */
static const uint8_t *vote_output(const chain_request *c, const chain_vote *v, size_t *len)
{
    if (v->has_output) {
        *len = v->output_len;
        return v->output;
    }
    if (c->fulfilled && !memcmp(c->final_output_hash, v->att.output_hash, 32)) {
        *len = c->final_output_len;
        return c->final_output;
    }
    for (size_t i = 0; i < c->n_votes; i++)
        if (c->votes[i].has_output &&
            !memcmp(c->votes[i].att.output_hash, v->att.output_hash, 32)) {
            *len = c->votes[i].output_len;
            return c->votes[i].output;
        }
    return NULL;
}

int chain_verify(rpc_client *rpc, const chain_request *c, FILE *out, char *err, size_t errlen)
{
    int fails = 0;
    char a[67], b[67];
    const audit_record *q = &c->req;
    u256 idv;
    memcpy(idv.b, q->request_id, 32);
    char dec[U256_DEC_MAX], oracle[43];
    u256_to_dec(&idv, dec);
    eth_address_checksum(c->oracle, oracle);
    fprintf(out, "request %s on oracle %s, chain %llu: block %llu, status %s, %zu vote(s)\n", dec,
            oracle, (unsigned long long)c->chain_id, (unsigned long long)q->block_number,
            chain_status_name(c->status), c->n_votes);
    /* the request as committed */
    uint8_t ih[32], ph[32];
    keccak256(q->input, q->input_len, ih);
    keccak256(q->params, q->params_len, ph);
    h32(a, ih);
    h32(b, c->committed_input_hash);
    check(out, !memcmp(ih, c->committed_input_hash, 32), &fails,
          "request: keccak256(event input) %s = committed inputHash %s", a, b);
    h32(a, ph);
    h32(b, c->committed_params_hash);
    check(out, !memcmp(ph, c->committed_params_hash, 32), &fails,
          "request: keccak256(event params) %s = committed paramsHash %s", a, b);
    h32(a, c->committed_model_hash);
    h32(b, c->registry_model_hash);
    check(out, !memcmp(c->committed_model_hash, c->registry_model_hash, 32), &fails,
          "request: committed modelHash %s = the registry's modelHash for modelId %s", a, b);

    secp256k1_context *ctx = secp_context_create(err, errlen);
    if (!ctx)
        return -1;
    sibyl_domain dom;
    dom.chain_id = c->chain_id;
    memcpy(dom.verifying_contract, c->oracle, 20);
    for (size_t i = 0; i < c->n_votes; i++) {
        const chain_vote *v = &c->votes[i];
        char tx[67], node[43];
        h32(tx, v->tx);
        eth_address_checksum(v->node, node);
        fprintf(out, "vote %zu: node %s, transaction %s (block %llu)\n", i + 1, node, tx,
                (unsigned long long)v->block);
        if (!check(out, v->decoded, &fails, "  calldata: %s%s",
                   v->decoded ? (v->kind == VOTE_FULFILL  ? "fulfill(...)"
                                 : v->kind == VOTE_ATTEST ? "attest(...)"
                                                          : "reject(...)")
                              : v->decode_err,
                   NULL))
            continue;
        const sibyl_attestation *t = &v->att;
        check(out, !memcmp(t->request_id.b, q->request_id, 32), &fails,
              "  attestation.requestId = the request's id%s%s", NULL, NULL);
        h32(a, t->seed.b);
        check(out, !memcmp(t->seed.b, q->seed, 32), &fails, "  seed %s = the event's seed%s", a,
              NULL);
        h32(a, t->input_hash);
        check(out, !memcmp(t->input_hash, ih, 32), &fails,
              "  inputHash %s = keccak256(event input)%s", a, NULL);
        h32(a, t->params_hash);
        check(out, !memcmp(t->params_hash, ph, 32), &fails,
              "  paramsHash %s = keccak256(event params)%s", a, NULL);
        h32(a, t->model_hash);
        check(out, !memcmp(t->model_hash, c->registry_model_hash, 32), &fails,
              "  modelHash %s = the registry's modelHash for modelId%s", a, NULL);
        check(out, !memcmp(t->model_hash, c->committed_model_hash, 32), &fails,
              "  modelHash = the modelHash the request committed to%s%s", NULL, NULL);
        /* outputHash */
        uint8_t oh[32];
        if (v->kind == VOTE_REJECT) {
            keccak256("", 0, oh);
            h32(a, t->output_hash);
            check(out, !memcmp(oh, t->output_hash, 32) && t->reject_code != 0, &fails,
                  "  reject: outputHash %s = keccak256(\"\"), rejectCode %s", a,
                  t->reject_code ? "nonzero" : "ZERO");
        } else {
            size_t ol = 0;
            const uint8_t *o = vote_output(c, v, &ol);
            if (!o) {
                check(out, 0, &fails, "  outputHash: no output bytes on chain for it%s%s", NULL,
                      NULL);
            } else {
                keccak256(o, ol, oh);
                h32(a, t->output_hash);
                char n[32];
                snprintf(n, sizeof n, "%zu", ol);
                check(out, !memcmp(oh, t->output_hash, 32) && t->reject_code == 0, &fails,
                      "  outputHash %s = keccak256(output, %s bytes)", a, n);
            }
        }
        check(out,
              !memcmp(t->output_hash, v->event_output_hash, 32) &&
                  t->reject_code == v->event_reject_code,
              &fails, "  the Attested event names the same answer%s%s", NULL, NULL);
        /* engine version */
        uint8_t acc[32];
        if (view(rpc, c->oracle, "acceptedEngineVersion(bytes32)",
                 (const uint8_t(*)[32])t->engine_version, 1, acc, 32, err, errlen)) {
            secp_context_destroy(ctx);
            return -1;
        }
        char ev[40];
        snprintf(ev, sizeof ev, "\"%.32s\"", (const char *)t->engine_version);
        check(out, acc[31] == 1, &fails, "  engineVersion %s is accepted by the oracle%s", ev,
              NULL);
        /* digest and signer */
        uint8_t dg[32], cdg[32], w[8][32];
        sibyl_attestation_digest(&dom, t, dg);
        memcpy(w[0], t->request_id.b, 32);
        memcpy(w[1], t->model_hash, 32);
        memcpy(w[2], t->input_hash, 32);
        memcpy(w[3], t->params_hash, 32);
        memcpy(w[4], t->output_hash, 32);
        memcpy(w[5], t->seed.b, 32);
        memcpy(w[6], t->engine_version, 32);
        eip712_word_u64(w[7], t->reject_code);
        if (view(rpc, c->oracle, SIG_DIGEST, (const uint8_t(*)[32])w, 8, cdg, 32, err, errlen)) {
            secp_context_destroy(ctx);
            return -1;
        }
        h32(a, dg);
        check(out, !memcmp(dg, cdg, 32), &fails,
              "  EIP-712 digest %s (recomputed) = the oracle's attestationDigest%s", a, NULL);
        uint8_t signer[20];
        char e[256];
        int rok = !secp_recover(ctx, dg, v->signature, signer, e, sizeof e);
        char sa[43];
        if (rok)
            eth_address_checksum(signer, sa);
        check(out, rok && !memcmp(signer, v->node, 20), &fails, "  signature recovers to %s%s",
              rok ? sa : e,
              rok && memcmp(signer, v->node, 20) ? " (not the Attested node)" : " (the voter)");
        if (rok) {
            uint8_t word[32] = {0}, isn[32];
            memcpy(word + 12, signer, 20);
            if (view(rpc, c->oracle, "isNode(address)", (const uint8_t(*)[32])word, 1, isn, 32, err,
                     errlen)) {
                secp_context_destroy(ctx);
                return -1;
            }
            check(out, isn[31] == 1, &fails, "  signer %s is a registered node%s", sa,
                  isn[31] == 1 ? "" : " (not now: removed since?)");
        }
    }
    secp_context_destroy(ctx);
    if (c->fulfilled || c->rejected) {
        int agree = 0;
        for (size_t i = 0; i < c->n_votes; i++) {
            const chain_vote *v = &c->votes[i];
            if (c->fulfilled && v->event_reject_code == 0 &&
                !memcmp(v->event_output_hash, c->final_output_hash, 32))
                agree++;
            if (c->rejected && v->event_reject_code == c->final_reject_code)
                agree++;
        }
        char qa[16], ag[16];
        snprintf(qa, sizeof qa, "%u", c->quorum);
        snprintf(ag, sizeof ag, "%d", agree);
        check(out, agree >= c->quorum && c->quorum > 0, &fails,
              "final: %s votes for the final answer, quorum %s", ag, qa);
        if (c->fulfilled) {
            uint8_t oh[32];
            keccak256(c->final_output, c->final_output_len, oh);
            h32(a, oh);
            check(out, !memcmp(oh, c->final_output_hash, 32), &fails,
                  "final: Fulfilled output hashes to its outputHash %s%s", a, NULL);
        }
    }
    return fails;
}

/* ---- a record for replay ---- */

int chain_to_record(const chain_request *c, audit_record *r, char *err, size_t errlen)
{
    const chain_vote *pick = NULL;
    for (size_t i = 0; i < c->n_votes && !pick; i++) {
        const chain_vote *v = &c->votes[i];
        if (!v->decoded)
            continue;
        if ((c->fulfilled && v->att.reject_code == 0 &&
             !memcmp(v->att.output_hash, c->final_output_hash, 32)) ||
            (c->rejected && v->att.reject_code == c->final_reject_code) ||
            (!c->fulfilled && !c->rejected))
            pick = v;
    }
    if (!pick) {
        snprintf(err, errlen, "no vote of this request could be read from the chain");
        return -1;
    }
    size_t ol = 0;
    const uint8_t *o = pick->att.reject_code ? (const uint8_t *)"" : vote_output(c, pick, &ol);
    if (!o) {
        snprintf(err, errlen, "the output bytes of the answer are not on chain");
        return -1;
    }
    audit_record_init(r);
    *r = c->req; /* shallow: replace the owned buffers with copies below */
    r->input = malloc(c->req.input_len ? c->req.input_len : 1);
    r->params = malloc(c->req.params_len ? c->req.params_len : 1);
    r->output = malloc(ol ? ol : 1);
    r->trace = NULL;
    if (!r->input || !r->params || !r->output) {
        free(r->input);
        free(r->params);
        free(r->output);
        audit_record_init(r);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    memcpy(r->input, c->req.input, c->req.input_len);
    memcpy(r->params, c->req.params, c->req.params_len);
    memcpy(r->output, o, ol);
    r->output_len = ol;
    const sibyl_attestation *a = &pick->att;
    memcpy(r->model_hash, a->model_hash, 32);
    memcpy(r->input_hash, a->input_hash, 32);
    memcpy(r->params_hash, a->params_hash, 32);
    memcpy(r->output_hash, a->output_hash, 32);
    memcpy(r->engine_version, a->engine_version, 32);
    r->reject_code = a->reject_code;
    memcpy(r->signature, pick->signature, 65);
    r->has_signature = 1;
    memcpy(r->signer, pick->node, 20); /* as the contract recovered it (Attested event) */
    r->has_signer = 1;
    memcpy(r->answer_tx, pick->tx, 32);
    r->has_answer_tx = 1;
    snprintf(r->state, sizeof r->state, "%s",
             c->fulfilled  ? "fulfilled"
             : c->rejected ? "rejected"
                           : "open");
    return 0;
}
