/*
 * journal: the node's durable memory, in LMDB. Every request the node has seen, its state and
 * everything needed to finish it after a crash (the event, the output, the signed attestation,
 * the signed raw transaction and the fees), plus the watcher's cursor and the nonce counter.
 *
 * Rule: every state transition is in an LMDB write transaction committed BEFORE the side effect
 * that depends on it (computing before the engine runs, the signed transaction before it is
 * sent). Transitions that happen together may share one transaction (journal_update_many: one
 * commit, one fsync).
 * A restart therefore finds every open request in a state from which it can safely go on:
 * re-running the engine gives the same output (it is deterministic), and re-sending the same
 * signed bytes is harmless ("already known" / "nonce too low").
 *
 * States (req_state): seen -> confirmed -> computing -> computed -> submitted -> fulfilled |
 * rejected; failed from computing/computed/submitted; cancelled from any state when a reorg
 * removes the request's block (final states included: the answer left the chain with it). A
 * cancelled request that had signed a transaction keeps cancel_pending = 1 until a transaction
 * with its nonce is mined (its filler, or the old transaction itself), so later nonces never
 * stall. If the same id is included again on the new branch, the request starts again at seen
 * (journal_insert_seen); a nonce it had signed for moves first to a nonce record, which finishes
 * the filler duty on its own. A request is thus answered at most once per inclusion, and every
 * nonce handed out is consumed exactly once.
 *
 * Databases: "req" (requestId -> record; also nonce records), "log" ((txHash, logIndex) ->
 * requestId: dedupe), "nonce" (nonce -> requestId: which request, or nonce record, owns each
 * nonce), "meta" (cursor, nonce counter, model hash cache), "audit" (requestId -> what an auditor's
 * replay needs beyond the record: the chain, the oracle and the per-step trace; opaque bytes here,
 * attest/record.h owns the format; written in the same transaction as the attestation). Records are
 * stored in this host's byte order (the journal is a local file, not an exchange format); a version
 * byte guards the layout.
 *
 * All functions return 0 on success, negative on failure (message in err).
 */
#ifndef SIBYL_ORACLE_JOURNAL_H
#define SIBYL_ORACLE_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    RS_SEEN = 1,      /* event journaled, waiting for confirmations */
    RS_CONFIRMED = 2, /* deep enough, queued for the engine */
    RS_COMPUTING = 3, /* the engine is (or was, before a crash) running it */
    RS_COMPUTED = 4,  /* output (or reject code) and signed attestation stored */
    RS_SUBMITTED = 5, /* signed transaction stored (and sent, or about to be) */
    RS_FULFILLED = 6, /* our fulfill (or quorum attest) is mined and deep enough; final */
    RS_REJECTED = 7,  /* our attested reject is mined and deep enough; final */
    RS_CANCELLED = 8, /* the request left the canonical chain (reorg); final */
    RS_FAILED = 9,    /* cannot be finished (e.g. someone else answered first); final */
    RS_COUNT = 10
} req_state;

const char *req_state_name(int state);
int req_state_is_final(int state);

/* What the transaction does. */
enum {
    TXK_NONE = 0,
    TXK_FULFILL = 1,
    TXK_REJECT = 2,
    TXK_ATTEST = 3,
    TXK_FILLER = 4,
    TXK_BATCH = 5 /* answerMany: several answers in one transaction (a batch record's kind) */
};

#define JREQ_MAX_TX_HASHES 16

/* The fixed-size part of a record. */
typedef struct {
    uint8_t version;
    uint8_t state;
    uint8_t tx_kind;
    uint8_t cancel_pending; /* a cancelled request still owns a nonce: a filler must use it */
    uint8_t id[32];
    /* the event */
    uint8_t log_tx_hash[32];
    uint32_t log_index;
    uint64_t block_number;
    uint8_t block_hash[32];
    uint8_t requester[20];
    uint8_t model_id[32];
    uint8_t adapter[32];
    uint8_t seed[32];
    uint32_t callback_gas_limit;
    uint64_t deadline;
    /* the answer */
    uint16_t reject_code;
    uint8_t model_hash[32], input_hash[32], params_hash[32], output_hash[32];
    uint8_t engine_version[32];
    uint8_t signature[65];
    /* 1: a nonce record, not a request (see journal_insert_seen): it only carries a nonce that a
     * transaction of this node must still consume (its filler) after the request that signed it
     * was re-included and started again under its own id. Takes a byte that was padding before,
     * so records written before it read 0. */
    uint8_t nonce_only;
    /* 1: this request's answer went out inside an answerMany whose batch record (see
     * journal_batch_key) owns the nonce; the request's own nonce field names that nonce and it
     * has no signed bytes of its own. Another byte that was padding. */
    uint8_t in_batch;
    /* the transaction */
    uint64_t nonce;
    uint64_t gas_limit;
    uint64_t max_fee_per_gas, max_priority_fee_per_gas; /* wei */
    uint32_t n_tx_hashes;                               /* every version sent, last = current */
    uint8_t tx_hashes[JREQ_MAX_TX_HASHES][32];
    uint64_t sent_block;  /* head when the current version was sent */
    uint64_t mined_block; /* 0 = not mined (as far as we know) */
    uint8_t mined_block_hash[32];
    uint64_t gas_used, effective_gas_price;
    /* timings (CLOCK_REALTIME, ns) */
    int64_t t_seen, t_confirmed, t_computed, t_sent, t_done;
    int64_t t_dequeued, t_engine_start, t_engine_end; /* worker: queue wait and engine run */
    double engine_seconds;
} jreq_fixed;

typedef struct {
    jreq_fixed f;
    uint8_t *input;
    uint32_t input_len;
    uint8_t *params;
    uint32_t params_len;
    uint8_t *output;
    uint32_t output_len;
    uint8_t *raw_tx;
    uint32_t raw_tx_len;
} jreq;

void jreq_init(jreq *r);
void jreq_free(jreq *r);
/* Replaces one of r's byte fields with a copy of p[0..n). 0 or -1 (out of memory). */
int jreq_set(uint8_t **field, uint32_t *field_len, const void *p, size_t n);

typedef struct journal journal;
typedef struct journal_txn journal_txn;

/* dir is created if missing. sync = 0 skips the fsync at commit (survives a process crash,
 * not a power loss). */
int journal_open(const char *dir, uint64_t map_mb, int sync, journal **out, char *err,
                 size_t errlen);
void journal_close(journal *j);

/* Stores a new request seen in a log. Returns 1 when it was new, 0 when (txHash, logIndex) was
 * already journaled in the same block (duplicate delivery), 2 when the id was known from a
 * different log or block (a reorg re-included it: the old record is replaced only if it is
 * cancelled, else 0), 3 like 2 where the old record had signed a transaction: its nonce, and
 * everything needed to finish it (the signed bytes, the hashes of every version, the fees), move
 * in the same commit to a nonce record (nonce_only = 1, under journal_nonce_record_key(id,
 * nonce), owner of the nonce in "nonce"), so that the nonce still gets its filler when the
 * request is cancelled-pending, or later if a reorg drops the mined one; the request itself
 * starts again from "seen" with the new log's content and gets a fresh nonce when it is
 * answered. moved_nonce (may be NULL) gets that nonce when 3 is returned. */
int journal_insert_seen(journal *j, const jreq *r, char *err, size_t errlen);
int journal_insert_seen_ex(journal *j, const jreq *r, uint64_t *moved_nonce, char *err,
                           size_t errlen);
/* Where a request's old nonce goes when it is re-included: keccak256("sibyl nonce record" || id
 * || nonce as 8 big-endian bytes). Never a request id in practice (ids are counters). */
void journal_nonce_record_key(const uint8_t id[32], uint64_t nonce, uint8_t out[32]);

/* Batch records. A transaction that carries several answers (answerMany) is owned by a record
 * of its own, nonce_only = 1 and tx_kind = TXK_BATCH, under journal_batch_key(first member's id,
 * nonce): it holds the transaction part (nonce, fees, every signed version, the signed bytes) and,
 * in its input field, the ids of the requests its newest version answers (32 bytes each). Those
 * members are "submitted" with the batch's nonce and no transaction hashes of their own
 * (n_tx_hashes = 0); they become final when the batch's receipt is deep enough. */
void journal_batch_key(const uint8_t first_id[32], uint64_t nonce, uint8_t out[32]);

/* Reads a record; 1 found, 0 not found, <0 error. Free with jreq_free. */
int journal_get(journal *j, const uint8_t id[32], jreq *out, char *err, size_t errlen);

/* One transition: reads the record, calls fn, and writes the record back in the same write
 * transaction. fn returns 0 to commit, > 0 to leave everything unchanged (journal_update then
 * returns that value), < 0 to fail. t gives fn access to the meta values in the same
 * transaction. Returns 0, the positive value of fn, -1 on error, -2 when the id is unknown. */
typedef int (*journal_update_fn)(journal_txn *t, jreq *r, void *user);
int journal_update(journal *j, const uint8_t id[32], journal_update_fn fn, void *user, char *err,
                   size_t errlen);

/* journal_update on the record that owns a nonce (request or nonce record), the owner looked up
 * in the same write transaction, so that a re-inclusion moving the nonce cannot slip in between.
 * id (may be NULL) gets the owner's id. Returns like journal_update; -2 when no record owns it. */
int journal_update_by_nonce(journal *j, uint64_t nonce, journal_update_fn fn, void *user,
                            uint8_t id[32], char *err, size_t errlen);

/* Several transitions in ONE write transaction (one commit, one fsync with journal_sync): fn is
 * called for each ids[i] with users[i] (users may be NULL: fn gets NULL), in order, so a later
 * call sees what an earlier one wrote (e.g. the nonce counter). results[i] gets fn's return, or
 * -2 for an unknown id (skipped). A record whose fn returns > 0 is left unchanged. Any fn < 0
 * or LMDB failure aborts the whole transaction: nothing is written and -1 is returned.
 * Returns 0 when committed. */
int journal_update_many(journal *j, const uint8_t (*ids)[32], size_t n, journal_update_fn fn,
                        void *const *users, int *results, char *err, size_t errlen);

/* Runs fn inside ONE write transaction (one commit): fn reads and writes records with
 * journal_txn_get / journal_txn_put and may use the journal_txn_* nonce functions. fn returns 0
 * to commit, > 0 to abort quietly (journal_run returns it), < 0 to fail (-1). */
typedef int (*journal_txn_fn)(journal_txn *t, void *user);
int journal_run(journal *j, journal_txn_fn fn, void *user, char *err, size_t errlen);
/* Inside journal_run or journal_update: 1 found (free with jreq_free), 0 none, -1 error. */
int journal_txn_get(journal_txn *t, const uint8_t id[32], jreq *out);
/* Inside journal_run or journal_update: writes (inserts or replaces) a record. 0 or -1. */
int journal_txn_put(journal_txn *t, const jreq *r);

/* Inside journal_update: the nonce counter (the next nonce to hand out) and which request
 * owns a nonce. */
int journal_txn_next_nonce(journal_txn *t, uint64_t *nonce);
int journal_txn_set_next_nonce(journal_txn *t, uint64_t nonce);
int journal_txn_claim_nonce(journal_txn *t, uint64_t nonce, const uint8_t id[32]);

/* Inside journal_update: stores the request's audit entry (opaque bytes, attest/record.h),
 * committed together with the record. 0 or -1. */
int journal_txn_put_audit(journal_txn *t, const uint8_t id[32], const void *p, size_t n);
/* Reads it into a malloc'd copy: 1 found, 0 none (e.g. a request computed by a node version
 * before audit entries), -1 error. */
int journal_get_audit(journal *j, const uint8_t id[32], uint8_t **out, size_t *len, char *err,
                      size_t errlen);

/* Calls fn for every record (open == 1: only those not in a final state). fn's return != 0
 * stops the walk and becomes the result. Records passed to fn are freed after it returns. */
typedef int (*journal_each_fn)(const jreq *r, void *user);
int journal_foreach(journal *j, int open, journal_each_fn fn, void *user, char *err, size_t errlen);

/* Meta values. */
int journal_get_cursor(journal *j, uint64_t *block, uint8_t hash[32], int *found);
int journal_set_cursor(journal *j, uint64_t block, const uint8_t hash[32], char *err,
                       size_t errlen);
int journal_get_next_nonce(journal *j, uint64_t *nonce, int *found);
int journal_set_next_nonce(journal *j, uint64_t nonce, char *err, size_t errlen);
/* Owner of a nonce: 1 found, 0 none. */
int journal_nonce_owner(journal *j, uint64_t nonce, uint8_t id[32]);
/* The owner of a nonce and its record, read in one snapshot: 1 found (free out with jreq_free),
 * 0 none, -1 error. */
int journal_nonce_record(journal *j, uint64_t nonce, jreq *out, char *err, size_t errlen);
/* A small key -> bytes store for caches (e.g. the model hash by file identity). */
int journal_meta_get(journal *j, const char *key, void *val, size_t cap, size_t *len);
int journal_meta_put(journal *j, const char *key, const void *val, size_t len, char *err,
                     size_t errlen);

#endif
