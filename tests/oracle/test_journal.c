/* journal: LMDB records, dedupe, transitions, nonces, cursor, persistence across reopen. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "oracle/journal.h"

static char dir[256];

static journal *open_j(void)
{
    journal *j;
    char err[256];
    if (journal_open(dir, 16, 0, &j, err, sizeof err))
        fail_msg("journal_open: %s", err);
    return j;
}

static void make_req(jreq *r, uint8_t id, uint8_t block_hash_byte)
{
    jreq_init(r);
    r->f.id[31] = id;
    r->f.state = RS_SEEN;
    r->f.log_tx_hash[0] = id;
    r->f.log_index = 2;
    r->f.block_number = 100 + id;
    r->f.block_hash[0] = block_hash_byte;
    assert_int_equal(jreq_set(&r->input, &r->input_len, "hello", 5), 0);
    assert_int_equal(jreq_set(&r->params, &r->params_len, "", 0), 0);
}

static int to_computing(journal_txn *t, jreq *r, void *user)
{
    (void)t;
    (void)user;
    if (r->f.state != RS_SEEN)
        return 1;
    r->f.state = RS_COMPUTING;
    return jreq_set(&r->output, &r->output_len, "answer", 6);
}

static int take_nonce(journal_txn *t, jreq *r, void *user)
{
    uint64_t n;
    assert_int_equal(journal_txn_next_nonce(t, &n), 0);
    *(uint64_t *)user = n;
    r->f.nonce = n;
    r->f.state = RS_SUBMITTED;
    assert_int_equal(journal_txn_claim_nonce(t, n, r->f.id), 0);
    return journal_txn_set_next_nonce(t, n + 1);
}

static int refuse(journal_txn *t, jreq *r, void *user)
{
    (void)t;
    (void)user;
    r->f.state = RS_FAILED; /* must not be written */
    return -1;
}

static int count_fn(const jreq *r, void *user)
{
    (void)r;
    (*(int *)user)++;
    return 0;
}

static void test_insert_dedupe_update(void **state)
{
    (void)state;
    journal *j = open_j();
    char err[256];
    jreq r, got;
    make_req(&r, 1, 0xaa);
    assert_int_equal(journal_insert_seen(j, &r, err, sizeof err), 1);
    assert_int_equal(journal_insert_seen(j, &r, err, sizeof err), 0); /* same log, same block */
    assert_int_equal(journal_get(j, r.f.id, &got, err, sizeof err), 1);
    assert_int_equal(got.f.state, RS_SEEN);
    assert_int_equal(got.input_len, 5);
    assert_memory_equal(got.input, "hello", 5);
    assert_int_equal(got.params_len, 0);
    jreq_free(&got);

    assert_int_equal(journal_update(j, r.f.id, to_computing, NULL, err, sizeof err), 0);
    assert_int_equal(journal_update(j, r.f.id, to_computing, NULL, err, sizeof err), 1);
    assert_int_equal(journal_update(j, r.f.id, refuse, NULL, err, sizeof err), -1);
    assert_int_equal(journal_get(j, r.f.id, &got, err, sizeof err), 1);
    assert_int_equal(got.f.state, RS_COMPUTING); /* the refused change was not written */
    assert_memory_equal(got.output, "answer", 6);
    jreq_free(&got);

    /* the same id from another block while the old record is not cancelled: ignored */
    jreq r2;
    make_req(&r2, 1, 0xbb);
    assert_int_equal(journal_insert_seen(j, &r2, err, sizeof err), 0);
    uint8_t unknown[32] = {9};
    assert_int_equal(journal_update(j, unknown, to_computing, NULL, err, sizeof err), -2);
    jreq_free(&r);
    jreq_free(&r2);
    journal_close(j);
}

static int cancel(journal_txn *t, jreq *r, void *user)
{
    (void)t;
    (void)user;
    r->f.state = RS_CANCELLED;
    return 0;
}

static void test_reinclusion_after_cancel(void **state)
{
    (void)state;
    journal *j = open_j();
    char err[256];
    jreq r, r2, got;
    make_req(&r, 2, 0x01);
    assert_int_equal(journal_insert_seen(j, &r, err, sizeof err), 1);
    assert_int_equal(journal_update(j, r.f.id, cancel, NULL, err, sizeof err), 0);
    make_req(&r2, 2, 0x02); /* the same id on the new branch */
    assert_int_equal(journal_insert_seen(j, &r2, err, sizeof err), 2);
    assert_int_equal(journal_get(j, r.f.id, &got, err, sizeof err), 1);
    assert_int_equal(got.f.state, RS_SEEN);
    assert_int_equal(got.f.block_hash[0], 0x02);
    jreq_free(&got);
    jreq_free(&r);
    jreq_free(&r2);
    journal_close(j);
}

static void test_nonces_cursor_meta_persist(void **state)
{
    (void)state;
    journal *j = open_j();
    char err[256];
    jreq a, b;
    make_req(&a, 3, 1);
    make_req(&b, 4, 1);
    assert_int_equal(journal_insert_seen(j, &a, err, sizeof err), 1);
    assert_int_equal(journal_insert_seen(j, &b, err, sizeof err), 1);
    assert_int_equal(journal_set_next_nonce(j, 7, err, sizeof err), 0);
    uint64_t n1 = 0, n2 = 0;
    assert_int_equal(journal_update(j, a.f.id, take_nonce, &n1, err, sizeof err), 0);
    assert_int_equal(journal_update(j, b.f.id, take_nonce, &n2, err, sizeof err), 0);
    assert_int_equal(n1, 7);
    assert_int_equal(n2, 8); /* gapless */
    uint8_t h[32] = {0x5a};
    assert_int_equal(journal_set_cursor(j, 1234, h, err, sizeof err), 0);
    assert_int_equal(journal_meta_put(j, "k", "v", 1, err, sizeof err), 0);
    journal_close(j);

    j = open_j(); /* everything survives a reopen */
    uint64_t next, block;
    int found;
    uint8_t hh[32], owner[32];
    assert_int_equal(journal_get_next_nonce(j, &next, &found), 0);
    assert_true(found);
    assert_int_equal(next, 9);
    assert_int_equal(journal_nonce_owner(j, 8, owner), 1);
    assert_memory_equal(owner, b.f.id, 32);
    assert_int_equal(journal_nonce_owner(j, 99, owner), 0);
    assert_int_equal(journal_get_cursor(j, &block, hh, &found), 0);
    assert_true(found);
    assert_int_equal(block, 1234);
    assert_int_equal(hh[0], 0x5a);
    char v[8];
    size_t len;
    assert_int_equal(journal_meta_get(j, "k", v, sizeof v, &len), 1);
    assert_int_equal(len, 1);
    int open = 0, all = 0;
    assert_int_equal(journal_foreach(j, 1, count_fn, &open, err, sizeof err), 0);
    assert_int_equal(journal_foreach(j, 0, count_fn, &all, err, sizeof err), 0);
    assert_int_equal(all, 4);  /* ids 1, 2, 3, 4 from the tests so far */
    assert_int_equal(open, 4); /* computing, seen, submitted, submitted */
    jreq_free(&a);
    jreq_free(&b);
    journal_close(j);
}

static int skip_seen(journal_txn *t, jreq *r, void *user)
{
    (void)user;
    if (r->f.state != RS_SEEN)
        return 1;
    uint64_t n;
    assert_int_equal(journal_txn_next_nonce(t, &n), 0);
    r->f.nonce = n;
    r->f.state = RS_SUBMITTED;
    return journal_txn_set_next_nonce(t, n + 1);
}

/* Runs after the tests above (ids 1..4 exist; the counter is at 9). */
static void test_update_many(void **state)
{
    (void)state;
    journal *j = open_j();
    char err[256];
    jreq a, b;
    make_req(&a, 5, 1);
    make_req(&b, 6, 1);
    assert_int_equal(journal_insert_seen(j, &a, err, sizeof err), 1);
    assert_int_equal(journal_insert_seen(j, &b, err, sizeof err), 1);
    uint8_t ids[4][32] = {{0}};
    memcpy(ids[0], a.f.id, 32);
    memcpy(ids[1], a.f.id, 32); /* seen again in the same transaction: now submitted, skipped */
    ids[2][31] = 77;            /* unknown */
    memcpy(ids[3], b.f.id, 32);
    int res[4];
    assert_int_equal(
        journal_update_many(j, (const uint8_t(*)[32])ids, 4, skip_seen, NULL, res, err, sizeof err),
        0);
    assert_int_equal(res[0], 0);
    assert_int_equal(res[1], 1);
    assert_int_equal(res[2], -2);
    assert_int_equal(res[3], 0);
    jreq got;
    assert_int_equal(journal_get(j, a.f.id, &got, err, sizeof err), 1);
    assert_int_equal(got.f.state, RS_SUBMITTED);
    assert_int_equal(got.f.nonce, 9);
    jreq_free(&got);
    assert_int_equal(journal_get(j, b.f.id, &got, err, sizeof err), 1);
    assert_int_equal(got.f.nonce, 10); /* the second record saw the first one's counter */
    jreq_free(&got);

    /* one refusal aborts the whole transaction */
    memcpy(ids[0], a.f.id, 32);
    memcpy(ids[1], b.f.id, 32);
    void *users[2] = {NULL, NULL};
    assert_int_equal(
        journal_update_many(j, (const uint8_t(*)[32])ids, 2, refuse, users, res, err, sizeof err),
        -1);
    assert_int_equal(res[0], -1);
    assert_int_equal(journal_get(j, a.f.id, &got, err, sizeof err), 1);
    assert_int_equal(got.f.state, RS_SUBMITTED);
    jreq_free(&got);
    uint64_t next;
    int found;
    assert_int_equal(journal_get_next_nonce(j, &next, &found), 0);
    assert_int_equal(next, 11);
    assert_int_equal(journal_update_many(j, NULL, 0, refuse, NULL, res, err, sizeof err), 0);
    jreq_free(&a);
    jreq_free(&b);
    journal_close(j);
}

/* A signed request: takes the next nonce, stores "signed bytes", state submitted. */
static int sign_req(journal_txn *t, jreq *r, void *user)
{
    uint64_t n;
    assert_int_equal(journal_txn_next_nonce(t, &n), 0);
    *(uint64_t *)user = n;
    r->f.nonce = n;
    r->f.state = RS_SUBMITTED;
    r->f.n_tx_hashes = 1;
    r->f.tx_hashes[0][0] = 0xee;
    r->f.signature[0] = 1;
    r->f.max_fee_per_gas = 12345;
    assert_int_equal(journal_txn_claim_nonce(t, n, r->f.id), 0);
    if (jreq_set(&r->raw_tx, &r->raw_tx_len, "RAW", 3) ||
        jreq_set(&r->output, &r->output_len, "answer", 6))
        return -1;
    return journal_txn_set_next_nonce(t, n + 1);
}

/* What a reorg does to a submitted request (node.c cancel_fn). */
static int cancel_signed(journal_txn *t, jreq *r, void *user)
{
    (void)t;
    r->f.cancel_pending = user != NULL;
    r->f.state = RS_CANCELLED;
    return 0;
}

static int set_mined(journal_txn *t, jreq *r, void *user)
{
    (void)t;
    r->f.mined_block = *(uint64_t *)user;
    return 0;
}

static int claim_for_self(journal_txn *t, jreq *r, void *user)
{
    return journal_txn_claim_nonce(t, *(uint64_t *)user, r->f.id);
}

/* Runs after the tests above. A request re-included while the nonce of its signed transaction
 * still waits for a filler: the nonce moves to a nonce record, the request starts afresh. */
static void test_reinclusion_moves_nonce(void **state)
{
    (void)state;
    journal *j = open_j();
    char err[256];
    jreq r, r2, got;
    uint64_t n = 0, moved = 99;
    make_req(&r, 20, 0x01);
    assert_int_equal(journal_insert_seen(j, &r, err, sizeof err), 1);
    assert_int_equal(journal_update(j, r.f.id, sign_req, &n, err, sizeof err), 0);
    assert_int_equal(journal_update(j, r.f.id, cancel_signed, &n, err, sizeof err), 0);
    make_req(&r2, 20, 0x02); /* same id, another block, another seed */
    r2.f.seed[0] = 9;
    assert_int_equal(journal_insert_seen_ex(j, &r2, &moved, err, sizeof err), 3);
    assert_int_equal(moved, n);
    assert_int_equal(journal_insert_seen(j, &r2, err, sizeof err), 0); /* duplicate delivery */

    /* the request: afresh, with the new content */
    assert_int_equal(journal_get(j, r.f.id, &got, err, sizeof err), 1);
    assert_int_equal(got.f.state, RS_SEEN);
    assert_int_equal(got.f.seed[0], 9);
    assert_int_equal(got.f.block_hash[0], 0x02);
    assert_int_equal(got.f.n_tx_hashes, 0);
    assert_int_equal(got.f.cancel_pending, 0);
    assert_int_equal(got.f.nonce_only, 0);
    assert_int_equal(got.raw_tx_len, 0);
    jreq_free(&got);

    /* the nonce record: the transaction part, owner of the nonce, still waiting for a filler */
    uint8_t key[32], owner[32], zero[65] = {0};
    journal_nonce_record_key(r.f.id, n, key);
    assert_memory_not_equal(key, r.f.id, 32);
    assert_int_equal(journal_get(j, key, &got, err, sizeof err), 1);
    assert_memory_equal(got.f.id, key, 32);
    assert_int_equal(got.f.nonce_only, 1);
    assert_int_equal(got.f.state, RS_CANCELLED);
    assert_int_equal(got.f.cancel_pending, 1);
    assert_int_equal(got.f.nonce, n);
    assert_int_equal(got.f.n_tx_hashes, 1);
    assert_int_equal(got.f.tx_hashes[0][0], 0xee);
    assert_int_equal(got.f.max_fee_per_gas, 12345);
    assert_int_equal(got.raw_tx_len, 3);
    assert_memory_equal(got.raw_tx, "RAW", 3);
    assert_memory_equal(got.f.signature, zero, 65); /* nothing to export as an attestation */
    assert_int_equal(got.output_len, 0);
    jreq_free(&got);
    assert_int_equal(journal_nonce_owner(j, n, owner), 1);
    assert_memory_equal(owner, key, 32);
    assert_int_equal(journal_nonce_record(j, n, &got, err, sizeof err), 1);
    assert_memory_equal(got.f.id, key, 32);
    jreq_free(&got);
    assert_int_equal(journal_nonce_record(j, 12345678, &got, err, sizeof err), 0);
    /* updates by nonce reach the nonce record, not the request */
    uint64_t blk = 77;
    assert_int_equal(journal_update_by_nonce(j, n, set_mined, &blk, owner, err, sizeof err), 0);
    assert_memory_equal(owner, key, 32);
    assert_int_equal(journal_get(j, key, &got, err, sizeof err), 1);
    assert_int_equal(got.f.mined_block, 77);
    jreq_free(&got);
    assert_int_equal(journal_get(j, r.f.id, &got, err, sizeof err), 1);
    assert_int_equal(got.f.mined_block, 0);
    jreq_free(&got);
    assert_int_equal(journal_update_by_nonce(j, 12345678, set_mined, &blk, NULL, err, sizeof err),
                     -2);

    /* a cancelled request whose nonce was handed out again since: nothing to move */
    jreq c, c2;
    uint64_t m = 0;
    make_req(&c, 21, 0x01);
    assert_int_equal(journal_insert_seen(j, &c, err, sizeof err), 1);
    assert_int_equal(journal_update(j, c.f.id, sign_req, &m, err, sizeof err), 0);
    assert_int_equal(journal_update(j, c.f.id, cancel_signed, NULL, err, sizeof err), 0);
    assert_int_equal(journal_update(j, r.f.id, claim_for_self, &m, err, sizeof err), 0);
    make_req(&c2, 21, 0x02);
    assert_int_equal(journal_insert_seen(j, &c2, err, sizeof err), 2);
    journal_nonce_record_key(c.f.id, m, key);
    assert_int_equal(journal_get(j, key, &got, err, sizeof err), 0);
    jreq_free(&got);
    jreq_free(&r);
    jreq_free(&r2);
    jreq_free(&c);
    jreq_free(&c2);
    journal_close(j);
}

/* journal_run: a batch record and its members written in one transaction, the nonce owned by
 * the record; a refusal (or a quiet > 0) leaves nothing behind. */
typedef struct {
    uint8_t members[2][32];
    int result; /* what the function returns after writing */
    uint8_t key[32];
} batch_txn;

static int write_batch(journal_txn *t, void *user)
{
    batch_txn *b = user;
    uint64_t nonce;
    assert_int_equal(journal_txn_next_nonce(t, &nonce), 0);
    jreq br;
    jreq_init(&br);
    journal_batch_key(b->members[0], nonce, br.f.id);
    memcpy(b->key, br.f.id, 32);
    br.f.nonce_only = 1;
    br.f.tx_kind = TXK_BATCH;
    br.f.state = RS_SUBMITTED;
    br.f.nonce = nonce;
    br.f.n_tx_hashes = 1;
    assert_int_equal(jreq_set(&br.input, &br.input_len, b->members, sizeof b->members), 0);
    assert_int_equal(journal_txn_put(t, &br), 0);
    jreq_free(&br);
    assert_int_equal(journal_txn_claim_nonce(t, nonce, b->key), 0);
    assert_int_equal(journal_txn_set_next_nonce(t, nonce + 1), 0);
    for (int i = 0; i < 2; i++) {
        jreq m;
        assert_int_equal(journal_txn_get(t, b->members[i], &m), 1);
        m.f.state = RS_SUBMITTED;
        m.f.nonce = nonce;
        assert_int_equal(journal_txn_put(t, &m), 0);
        jreq_free(&m);
    }
    return b->result;
}

static void test_run_batch_record(void **state)
{
    (void)state;
    journal *j = open_j();
    char err[256];
    jreq a, b;
    make_req(&a, 31, 1);
    make_req(&b, 32, 1);
    assert_int_equal(journal_insert_seen(j, &a, err, sizeof err), 1);
    assert_int_equal(journal_insert_seen(j, &b, err, sizeof err), 1);
    assert_int_equal(journal_set_next_nonce(j, 40, err, sizeof err), 0);
    batch_txn bt;
    memset(&bt, 0, sizeof bt);
    memcpy(bt.members[0], a.f.id, 32);
    memcpy(bt.members[1], b.f.id, 32);

    /* refused, or aborted quietly: nothing written */
    bt.result = -1;
    assert_int_equal(journal_run(j, write_batch, &bt, err, sizeof err), -1);
    bt.result = 3;
    assert_int_equal(journal_run(j, write_batch, &bt, err, sizeof err), 3);
    jreq got;
    assert_int_equal(journal_get(j, bt.key, &got, err, sizeof err), 0);
    assert_int_equal(journal_get(j, a.f.id, &got, err, sizeof err), 1);
    assert_int_equal(got.f.state, RS_SEEN);
    jreq_free(&got);
    uint64_t next;
    int found;
    assert_int_equal(journal_get_next_nonce(j, &next, &found), 0);
    assert_int_equal(next, 40);

    bt.result = 0;
    assert_int_equal(journal_run(j, write_batch, &bt, err, sizeof err), 0);
    /* the key depends on the first member and the nonce, and is no request id */
    uint8_t k2[32];
    journal_batch_key(a.f.id, 40, k2);
    assert_memory_equal(k2, bt.key, 32);
    journal_batch_key(a.f.id, 41, k2);
    assert_memory_not_equal(k2, bt.key, 32);
    journal_nonce_record_key(a.f.id, 40, k2);
    assert_memory_not_equal(k2, bt.key, 32);
    /* the nonce's owner is the batch record, which lists both members */
    assert_int_equal(journal_nonce_record(j, 40, &got, err, sizeof err), 1);
    assert_memory_equal(got.f.id, bt.key, 32);
    assert_int_equal(got.f.tx_kind, TXK_BATCH);
    assert_int_equal(got.f.nonce_only, 1);
    assert_int_equal(got.input_len, 64);
    assert_memory_equal(got.input + 32, b.f.id, 32);
    jreq_free(&got);
    assert_int_equal(journal_get(j, b.f.id, &got, err, sizeof err), 1);
    assert_int_equal(got.f.state, RS_SUBMITTED);
    assert_int_equal(got.f.nonce, 40);
    assert_int_equal(got.f.n_tx_hashes, 0);
    jreq_free(&got);
    assert_int_equal(journal_get_next_nonce(j, &next, &found), 0);
    assert_int_equal(next, 41);
    jreq_free(&a);
    jreq_free(&b);
    journal_close(j);
}

static void test_bad_dir(void **state)
{
    (void)state;
    journal *j;
    char err[256];
    assert_true(journal_open("/proc/no/such/dir", 16, 1, &j, err, sizeof err) < 0);
    assert_non_null(strstr(err, "journal"));
    assert_string_equal(req_state_name(RS_SUBMITTED), "submitted");
    assert_true(req_state_is_final(RS_CANCELLED));
    assert_false(req_state_is_final(RS_COMPUTED));
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/sibyl-test-journal.%d", (int)getpid());
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_insert_dedupe_update),
        cmocka_unit_test(test_reinclusion_after_cancel),
        cmocka_unit_test(test_nonces_cursor_meta_persist),
        cmocka_unit_test(test_update_many),
        cmocka_unit_test(test_reinclusion_moves_nonce),
        cmocka_unit_test(test_run_batch_record),
        cmocka_unit_test(test_bad_dir),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd))
        rc = rc ? rc : 1;
    return rc;
}
