#include "oracle/journal.h"

#include <errno.h>
#include <lmdb.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "oracle/keccak.h"

#define JREQ_VERSION 1

/* nonce_only and in_batch took padding bytes: the layout of version-1 records must not move. */
_Static_assert(offsetof(jreq_fixed, nonce_only) == 467 && offsetof(jreq_fixed, in_batch) == 468 &&
                   offsetof(jreq_fixed, nonce) == 472 && sizeof(jreq_fixed) == 1160,
               "jreq_fixed layout changed: bump JREQ_VERSION and convert old records");

struct journal {
    MDB_env *env;
    MDB_dbi req, log, nonce, meta, audit;
};

struct journal_txn {
    journal *j;
    MDB_txn *txn;
};

static const char *const state_names[RS_COUNT] = {
    "none",      "seen",      "confirmed", "computing", "computed",
    "submitted", "fulfilled", "rejected",  "cancelled", "failed"};

const char *req_state_name(int s)
{
    return (s > 0 && s < RS_COUNT) ? state_names[s] : "unknown";
}

int req_state_is_final(int s)
{
    return s == RS_FULFILLED || s == RS_REJECTED || s == RS_CANCELLED || s == RS_FAILED;
}

void jreq_init(jreq *r)
{
    memset(r, 0, sizeof *r);
    r->f.version = JREQ_VERSION;
}

void jreq_free(jreq *r)
{
    free(r->input);
    free(r->params);
    free(r->output);
    free(r->raw_tx);
    r->input = r->params = r->output = r->raw_tx = NULL;
    r->input_len = r->params_len = r->output_len = r->raw_tx_len = 0;
}

int jreq_set(uint8_t **field, uint32_t *field_len, const void *p, size_t n)
{
    if (n > UINT32_MAX)
        return -1;
    uint8_t *c = malloc(n ? n : 1);
    if (!c)
        return -1;
    if (n)
        memcpy(c, p, n);
    free(*field);
    *field = c;
    *field_len = (uint32_t)n;
    return 0;
}

static void lmdb_err(char *err, size_t errlen, const char *what, int rc)
{
    snprintf(err, errlen, "journal: %s: %s", what, mdb_strerror(rc));
}

/* flags: 0 (a write transaction) or MDB_RDONLY. 0, or -1 with the reason in err. */
static int txn_begin(journal *j, unsigned flags, MDB_txn **txn, char *err, size_t errlen)
{
    int rc = mdb_txn_begin(j->env, NULL, flags, txn);
    if (rc) {
        lmdb_err(err, errlen, "begin", rc);
        return -1;
    }
    return 0;
}

/* ---- record (de)serialisation ---- */

static uint8_t *jreq_encode(const jreq *r, size_t *len)
{
    size_t n = sizeof r->f + 16 + r->input_len + r->params_len + r->output_len + r->raw_tx_len;
    uint8_t *b = malloc(n), *p = b;
    if (!b)
        return NULL;
    memcpy(p, &r->f, sizeof r->f);
    p += sizeof r->f;
    const uint8_t *blobs[4] = {r->input, r->params, r->output, r->raw_tx};
    uint32_t lens[4] = {r->input_len, r->params_len, r->output_len, r->raw_tx_len};
    for (int i = 0; i < 4; i++) {
        memcpy(p, &lens[i], 4);
        p += 4;
        if (lens[i])
            memcpy(p, blobs[i], lens[i]);
        p += lens[i];
    }
    *len = n;
    return b;
}

static int jreq_decode(const uint8_t *b, size_t n, jreq *r)
{
    jreq_init(r);
    if (n < sizeof r->f || b[0] != JREQ_VERSION)
        return -1;
    memcpy(&r->f, b, sizeof r->f);
    size_t off = sizeof r->f;
    uint8_t **blobs[4] = {&r->input, &r->params, &r->output, &r->raw_tx};
    uint32_t *lens[4] = {&r->input_len, &r->params_len, &r->output_len, &r->raw_tx_len};
    for (int i = 0; i < 4; i++) {
        uint32_t l;
        if (n - off < 4)
            goto bad;
        memcpy(&l, b + off, 4);
        off += 4;
        if (n - off < l)
            goto bad;
        if (l && jreq_set(blobs[i], lens[i], b + off, l))
            goto bad;
        off += l;
    }
    return 0;
bad:
    jreq_free(r);
    return -1;
}

/* ---- open / close ---- */

int journal_open(const char *dir, uint64_t map_mb, int sync, journal **out, char *err,
                 size_t errlen)
{
    *out = NULL;
    if (mkdir(dir, 0700) && errno != EEXIST) {
        snprintf(err, errlen, "journal: cannot create %s: %s", dir, strerror(errno));
        return -1;
    }
    journal *j = calloc(1, sizeof *j);
    if (!j) {
        snprintf(err, errlen, "journal: out of memory");
        return -1;
    }
    int rc = mdb_env_create(&j->env);
    if (rc) {
        lmdb_err(err, errlen, "mdb_env_create", rc);
        free(j);
        return -1;
    }
    mdb_env_set_maxdbs(j->env, 8);
    mdb_env_set_mapsize(j->env, (size_t)map_mb << 20);
    /* NOTLS: read transactions are used from several threads, one at a time each. */
    unsigned flags = MDB_NOTLS | (sync ? 0 : MDB_NOSYNC);
    rc = mdb_env_open(j->env, dir, flags, 0600);
    if (rc) {
        snprintf(err, errlen, "journal: cannot open LMDB environment in %s: %s", dir,
                 mdb_strerror(rc));
        mdb_env_close(j->env);
        free(j);
        return -1;
    }
    MDB_txn *txn;
    rc = mdb_txn_begin(j->env, NULL, 0, &txn);
    if (!rc)
        rc = mdb_dbi_open(txn, "req", MDB_CREATE, &j->req);
    if (!rc)
        rc = mdb_dbi_open(txn, "log", MDB_CREATE, &j->log);
    if (!rc)
        rc = mdb_dbi_open(txn, "nonce", MDB_CREATE, &j->nonce);
    if (!rc)
        rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &j->meta);
    /* added after the first journals were written: MDB_CREATE adds it to an existing journal,
     * whose older requests simply have no audit entry */
    if (!rc)
        rc = mdb_dbi_open(txn, "audit", MDB_CREATE, &j->audit);
    if (!rc)
        rc = mdb_txn_commit(txn);
    else
        mdb_txn_abort(txn);
    if (rc) {
        lmdb_err(err, errlen, "opening databases", rc);
        mdb_env_close(j->env);
        free(j);
        return -1;
    }
    *out = j;
    return 0;
}

void journal_close(journal *j)
{
    if (!j)
        return;
    mdb_env_close(j->env);
    free(j);
}

/* ---- helpers ---- */

static int put_record(journal *j, MDB_txn *txn, const jreq *r, char *err, size_t errlen)
{
    size_t n;
    uint8_t *b = jreq_encode(r, &n);
    if (!b) {
        snprintf(err, errlen, "journal: out of memory");
        return -1;
    }
    MDB_val k = {32, (void *)r->f.id}, v = {n, b};
    int rc = mdb_put(txn, j->req, &k, &v, 0);
    free(b);
    if (rc) {
        lmdb_err(err, errlen, "put request", rc);
        return -1;
    }
    return 0;
}

static int get_record(journal *j, MDB_txn *txn, const uint8_t id[32], jreq *r, char *err,
                      size_t errlen)
{
    MDB_val k = {32, (void *)id}, v;
    int rc = mdb_get(txn, j->req, &k, &v);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc) {
        lmdb_err(err, errlen, "get request", rc);
        return -1;
    }
    if (jreq_decode(v.mv_data, v.mv_size, r)) {
        snprintf(err, errlen, "journal: corrupt or foreign-version request record");
        return -1;
    }
    return 1;
}

static int commit(MDB_txn *txn, char *err, size_t errlen)
{
    int rc = mdb_txn_commit(txn);
    if (rc) {
        lmdb_err(err, errlen, "commit", rc);
        return -1;
    }
    return 0;
}

/* ---- requests ---- */

/* keccak256(tag || id || nonce as 8 big-endian bytes): the keys of records that are no request. */
static void tagged_key(const char *tag, const uint8_t id[32], uint64_t nonce, uint8_t out[32])
{
    size_t t = strlen(tag);
    uint8_t b[64 + 32 + 8];
    memcpy(b, tag, t);
    memcpy(b + t, id, 32);
    for (int i = 0; i < 8; i++)
        b[t + 32 + i] = (uint8_t)(nonce >> (56 - 8 * i));
    keccak256(b, t + 32 + 8, out);
}

void journal_nonce_record_key(const uint8_t id[32], uint64_t nonce, uint8_t out[32])
{
    tagged_key("sibyl nonce record", id, nonce, out);
}

/* The nonce of a cancelled record being replaced, if it still owns one: a nonce record takes it
 * (the record's transaction part, under its own key) and becomes the nonce's owner. 0 done (or
 * nothing to move, *moved = 0), -1 error. */
static int move_nonce(journal *j, MDB_txn *txn, const jreq *old, int *moved, uint64_t *nonce,
                      char *err, size_t errlen)
{
    *moved = 0;
    if (!old->f.n_tx_hashes)
        return 0; /* never signed anything */
    uint64_t n = old->f.nonce;
    MDB_val k = {8, &n}, v;
    int rc = mdb_get(txn, j->nonce, &k, &v);
    if (rc == MDB_NOTFOUND || (rc == 0 && (v.mv_size != 32 || memcmp(v.mv_data, old->f.id, 32))))
        return 0; /* the nonce was handed out again since (the chain never used it) */
    if (rc) {
        lmdb_err(err, errlen, "get nonce owner", rc);
        return -1;
    }
    jreq nr;
    jreq_init(&nr);
    nr.f = old->f;
    journal_nonce_record_key(old->f.id, n, nr.f.id);
    nr.f.nonce_only = 1;
    memset(nr.f.signature, 0, sizeof nr.f.signature); /* no attestation to export */
    if (old->raw_tx_len && jreq_set(&nr.raw_tx, &nr.raw_tx_len, old->raw_tx, old->raw_tx_len)) {
        snprintf(err, errlen, "journal: out of memory");
        return -1;
    }
    MDB_val nv = {32, nr.f.id};
    rc = put_record(j, txn, &nr, err, errlen);
    jreq_free(&nr);
    if (rc)
        return -1;
    if ((rc = mdb_put(txn, j->nonce, &k, &nv, 0))) {
        lmdb_err(err, errlen, "put nonce owner", rc);
        return -1;
    }
    *moved = 1;
    *nonce = n;
    return 0;
}

void journal_batch_key(const uint8_t first_id[32], uint64_t nonce, uint8_t out[32])
{
    tagged_key("sibyl batch record", first_id, nonce, out);
}

int journal_insert_seen(journal *j, const jreq *r, char *err, size_t errlen)
{
    return journal_insert_seen_ex(j, r, NULL, err, errlen);
}

int journal_insert_seen_ex(journal *j, const jreq *r, uint64_t *moved_nonce, char *err,
                           size_t errlen)
{
    MDB_txn *txn;
    if (txn_begin(j, 0, &txn, err, errlen))
        return -1;
    int rc;
    uint8_t logkey[36];
    memcpy(logkey, r->f.log_tx_hash, 32);
    memcpy(logkey + 32, &r->f.log_index, 4);
    MDB_val lk = {sizeof logkey, logkey}, lv;
    /* Same (txHash, logIndex) in the same block: a duplicate delivery. The same log in another
     * block (the transaction re-included after a reorg) is handled as a new sighting below. */
    int result = 1;
    jreq old;
    jreq_init(&old);
    int found = get_record(j, txn, r->f.id, &old, err, errlen);
    if (found < 0) {
        mdb_txn_abort(txn);
        return -1;
    }
    if (found) {
        int same_log =
            !memcmp(old.f.log_tx_hash, r->f.log_tx_hash, 32) && old.f.log_index == r->f.log_index;
        int same_block = !memcmp(old.f.block_hash, r->f.block_hash, 32);
        if ((same_log && same_block) || old.f.state != RS_CANCELLED) {
            jreq_free(&old);
            mdb_txn_abort(txn);
            return 0;
        }
        /* Re-included. Its old nonce (whose filler may not be mined yet) stays behind in a
         * nonce record; the request starts afresh. */
        int moved = 0;
        uint64_t nonce = 0;
        if (move_nonce(j, txn, &old, &moved, &nonce, err, errlen)) {
            jreq_free(&old);
            mdb_txn_abort(txn);
            return -1;
        }
        result = moved ? 3 : 2;
        if (moved && moved_nonce)
            *moved_nonce = nonce;
    } else if (mdb_get(txn, j->log, &lk, &lv) == 0) {
        /* the log is known under another id: cannot happen for a sane contract; ignore it */
        mdb_txn_abort(txn);
        return 0;
    }
    jreq_free(&old);
    MDB_val idv = {32, (void *)r->f.id};
    if ((rc = mdb_put(txn, j->log, &lk, &idv, 0))) {
        lmdb_err(err, errlen, "put log", rc);
        mdb_txn_abort(txn);
        return -1;
    }
    if (put_record(j, txn, r, err, errlen)) {
        mdb_txn_abort(txn);
        return -1;
    }
    if (commit(txn, err, errlen))
        return -1;
    return result;
}

int journal_get(journal *j, const uint8_t id[32], jreq *out, char *err, size_t errlen)
{
    MDB_txn *txn;
    jreq_init(out);
    int rc = mdb_txn_begin(j->env, NULL, MDB_RDONLY, &txn);
    if (rc) {
        lmdb_err(err, errlen, "begin read", rc);
        return -1;
    }
    int found = get_record(j, txn, id, out, err, errlen);
    mdb_txn_abort(txn);
    return found;
}

/* journal_update's body, inside an open write transaction (committed or aborted here). */
static int update_in(journal *j, MDB_txn *txn, const uint8_t id[32], journal_update_fn fn,
                     void *user, char *err, size_t errlen)
{
    jreq r;
    int found = get_record(j, txn, id, &r, err, errlen);
    if (found <= 0) {
        mdb_txn_abort(txn);
        if (found == 0)
            snprintf(err, errlen, "journal: unknown request");
        return found == 0 ? -2 : -1;
    }
    journal_txn t = {j, txn};
    int frc = fn(&t, &r, user);
    if (frc != 0) {
        jreq_free(&r);
        mdb_txn_abort(txn);
        if (frc < 0)
            snprintf(err, errlen, "journal: transition refused");
        return frc < 0 ? -1 : frc;
    }
    if (put_record(j, txn, &r, err, errlen)) {
        jreq_free(&r);
        mdb_txn_abort(txn);
        return -1;
    }
    jreq_free(&r);
    return commit(txn, err, errlen);
}

int journal_update(journal *j, const uint8_t id[32], journal_update_fn fn, void *user, char *err,
                   size_t errlen)
{
    MDB_txn *txn;
    if (txn_begin(j, 0, &txn, err, errlen))
        return -1;
    return update_in(j, txn, id, fn, user, err, errlen);
}

int journal_update_by_nonce(journal *j, uint64_t nonce, journal_update_fn fn, void *user,
                            uint8_t id[32], char *err, size_t errlen)
{
    MDB_txn *txn;
    if (txn_begin(j, 0, &txn, err, errlen))
        return -1;
    int rc;
    MDB_val k = {8, &nonce}, v;
    rc = mdb_get(txn, j->nonce, &k, &v);
    if (rc || v.mv_size != 32) {
        mdb_txn_abort(txn);
        if (rc && rc != MDB_NOTFOUND) {
            lmdb_err(err, errlen, "get nonce owner", rc);
            return -1;
        }
        snprintf(err, errlen, "journal: no record owns nonce %llu", (unsigned long long)nonce);
        return -2;
    }
    uint8_t owner[32];
    memcpy(owner, v.mv_data, 32);
    if (id)
        memcpy(id, owner, 32);
    return update_in(j, txn, owner, fn, user, err, errlen);
}

int journal_update_many(journal *j, const uint8_t (*ids)[32], size_t n, journal_update_fn fn,
                        void *const *users, int *results, char *err, size_t errlen)
{
    if (n == 0)
        return 0;
    MDB_txn *txn;
    if (txn_begin(j, 0, &txn, err, errlen))
        return -1;
    journal_txn t = {j, txn};
    for (size_t i = 0; i < n; i++) {
        jreq r;
        int found = get_record(j, txn, ids[i], &r, err, errlen);
        if (found < 0) {
            mdb_txn_abort(txn);
            return -1;
        }
        if (found == 0) {
            results[i] = -2;
            continue;
        }
        int frc = fn(&t, &r, users ? users[i] : NULL);
        results[i] = frc;
        if (frc < 0) {
            jreq_free(&r);
            mdb_txn_abort(txn);
            snprintf(err, errlen, "journal: transition refused (record %zu of %zu)", i + 1, n);
            return -1;
        }
        if (frc == 0 && put_record(j, txn, &r, err, errlen)) {
            jreq_free(&r);
            mdb_txn_abort(txn);
            return -1;
        }
        jreq_free(&r);
    }
    return commit(txn, err, errlen);
}

int journal_foreach(journal *j, int open, journal_each_fn fn, void *user, char *err, size_t errlen)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    int rc = mdb_txn_begin(j->env, NULL, MDB_RDONLY, &txn);
    if (rc) {
        lmdb_err(err, errlen, "begin read", rc);
        return -1;
    }
    if ((rc = mdb_cursor_open(txn, j->req, &cur))) {
        lmdb_err(err, errlen, "cursor", rc);
        mdb_txn_abort(txn);
        return -1;
    }
    MDB_val k, v;
    int result = 0;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        jreq r;
        if (jreq_decode(v.mv_data, v.mv_size, &r)) {
            snprintf(err, errlen, "journal: corrupt request record");
            result = -1;
            break;
        }
        if (!open || !req_state_is_final(r.f.state) || r.f.cancel_pending)
            result = fn(&r, user);
        jreq_free(&r);
        if (result)
            break;
    }
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    return result;
}

/* ---- meta ---- */

static int meta_get_txn(journal *j, MDB_txn *txn, const char *key, void *val, size_t cap,
                        size_t *len)
{
    MDB_val k = {strlen(key), (void *)key}, v;
    int rc = mdb_get(txn, j->meta, &k, &v);
    if (rc)
        return rc == MDB_NOTFOUND ? 0 : -1;
    if (v.mv_size > cap)
        return -1;
    memcpy(val, v.mv_data, v.mv_size);
    if (len)
        *len = v.mv_size;
    return 1;
}

int journal_meta_get(journal *j, const char *key, void *val, size_t cap, size_t *len)
{
    MDB_txn *txn;
    if (mdb_txn_begin(j->env, NULL, MDB_RDONLY, &txn))
        return -1;
    int rc = meta_get_txn(j, txn, key, val, cap, len);
    mdb_txn_abort(txn);
    return rc;
}

int journal_meta_put(journal *j, const char *key, const void *val, size_t len, char *err,
                     size_t errlen)
{
    MDB_txn *txn;
    if (txn_begin(j, 0, &txn, err, errlen))
        return -1;
    int rc;
    MDB_val k = {strlen(key), (void *)key}, v = {len, (void *)val};
    if ((rc = mdb_put(txn, j->meta, &k, &v, 0))) {
        lmdb_err(err, errlen, "put meta", rc);
        mdb_txn_abort(txn);
        return -1;
    }
    return commit(txn, err, errlen);
}

int journal_get_cursor(journal *j, uint64_t *block, uint8_t hash[32], int *found)
{
    uint8_t b[40];
    size_t n = 0;
    int rc = journal_meta_get(j, "cursor", b, sizeof b, &n);
    *found = rc == 1 && n == 40;
    if (*found) {
        memcpy(block, b, 8);
        memcpy(hash, b + 8, 32);
    }
    return rc < 0 ? -1 : 0;
}

int journal_set_cursor(journal *j, uint64_t block, const uint8_t hash[32], char *err, size_t errlen)
{
    uint8_t b[40];
    memcpy(b, &block, 8);
    memcpy(b + 8, hash, 32);
    return journal_meta_put(j, "cursor", b, sizeof b, err, errlen);
}

int journal_get_next_nonce(journal *j, uint64_t *nonce, int *found)
{
    size_t n = 0;
    int rc = journal_meta_get(j, "next_nonce", nonce, sizeof *nonce, &n);
    *found = rc == 1 && n == 8;
    return rc < 0 ? -1 : 0;
}

int journal_set_next_nonce(journal *j, uint64_t nonce, char *err, size_t errlen)
{
    return journal_meta_put(j, "next_nonce", &nonce, sizeof nonce, err, errlen);
}

int journal_txn_next_nonce(journal_txn *t, uint64_t *nonce)
{
    size_t n = 0;
    int rc = meta_get_txn(t->j, t->txn, "next_nonce", nonce, sizeof *nonce, &n);
    if (rc < 0 || (rc == 1 && n != 8))
        return -1;
    if (rc == 0)
        *nonce = 0;
    return 0;
}

int journal_txn_set_next_nonce(journal_txn *t, uint64_t nonce)
{
    MDB_val k = {10, (void *)"next_nonce"}, v = {8, &nonce};
    return mdb_put(t->txn, t->j->meta, &k, &v, 0) ? -1 : 0;
}

int journal_run(journal *j, journal_txn_fn fn, void *user, char *err, size_t errlen)
{
    MDB_txn *txn;
    if (txn_begin(j, 0, &txn, err, errlen))
        return -1;
    journal_txn t = {j, txn};
    int rc = fn(&t, user);
    if (rc) {
        mdb_txn_abort(txn);
        if (rc < 0)
            snprintf(err, errlen, "journal: transaction refused");
        return rc < 0 ? -1 : rc;
    }
    return commit(txn, err, errlen);
}

int journal_txn_get(journal_txn *t, const uint8_t id[32], jreq *out)
{
    char err[128];
    return get_record(t->j, t->txn, id, out, err, sizeof err);
}

int journal_txn_put(journal_txn *t, const jreq *r)
{
    char err[128];
    return put_record(t->j, t->txn, r, err, sizeof err) ? -1 : 0;
}

int journal_txn_claim_nonce(journal_txn *t, uint64_t nonce, const uint8_t id[32])
{
    MDB_val k = {8, &nonce}, v = {32, (void *)id};
    return mdb_put(t->txn, t->j->nonce, &k, &v, 0) ? -1 : 0;
}

int journal_nonce_record(journal *j, uint64_t nonce, jreq *out, char *err, size_t errlen)
{
    MDB_txn *txn;
    jreq_init(out);
    int rc = mdb_txn_begin(j->env, NULL, MDB_RDONLY, &txn);
    if (rc) {
        lmdb_err(err, errlen, "begin read", rc);
        return -1;
    }
    MDB_val k = {8, &nonce}, v;
    rc = mdb_get(txn, j->nonce, &k, &v);
    int found = 0;
    if (rc == 0 && v.mv_size == 32) {
        uint8_t id[32];
        memcpy(id, v.mv_data, 32);
        found = get_record(j, txn, id, out, err, errlen);
    } else if (rc && rc != MDB_NOTFOUND) {
        lmdb_err(err, errlen, "get nonce owner", rc);
        found = -1;
    }
    mdb_txn_abort(txn);
    return found;
}

int journal_nonce_owner(journal *j, uint64_t nonce, uint8_t id[32])
{
    MDB_txn *txn;
    if (mdb_txn_begin(j->env, NULL, MDB_RDONLY, &txn))
        return -1;
    MDB_val k = {8, &nonce}, v;
    int rc = mdb_get(txn, j->nonce, &k, &v);
    int found = rc == 0 && v.mv_size == 32;
    if (found)
        memcpy(id, v.mv_data, 32);
    mdb_txn_abort(txn);
    return rc && rc != MDB_NOTFOUND ? -1 : found;
}

/* ---- audit entries ---- */

int journal_txn_put_audit(journal_txn *t, const uint8_t id[32], const void *p, size_t n)
{
    MDB_val k = {32, (void *)id}, v = {n, (void *)p};
    return mdb_put(t->txn, t->j->audit, &k, &v, 0) ? -1 : 0;
}

int journal_get_audit(journal *j, const uint8_t id[32], uint8_t **out, size_t *len, char *err,
                      size_t errlen)
{
    *out = NULL;
    *len = 0;
    MDB_txn *txn;
    int rc = mdb_txn_begin(j->env, NULL, MDB_RDONLY, &txn);
    if (rc) {
        lmdb_err(err, errlen, "begin read", rc);
        return -1;
    }
    MDB_val k = {32, (void *)id}, v;
    rc = mdb_get(txn, j->audit, &k, &v);
    int result = 0;
    if (rc == 0) {
        *out = malloc(v.mv_size ? v.mv_size : 1);
        if (!*out) {
            snprintf(err, errlen, "journal: out of memory");
            result = -1;
        } else {
            memcpy(*out, v.mv_data, v.mv_size);
            *len = v.mv_size;
            result = 1;
        }
    } else if (rc != MDB_NOTFOUND) {
        lmdb_err(err, errlen, "get audit", rc);
        result = -1;
    }
    mdb_txn_abort(txn);
    return result;
}
