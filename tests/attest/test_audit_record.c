/* record: the journal's audit entries (real LMDB, including a journal written before they
 * existed), the export's JSON lines (round trip, strict parsing, lookup by line and id) and the
 * replay comparison on hand-made run results (a test double of an engine run). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <lmdb.h>

#include "attest/attestation.h"
#include "attest/record.h"
#include "attest/replay.h"
#include "oracle/keccak.h"
#include "oracle/secp.h"

static char dir[256];
static const uint8_t KEY[32] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16,
                                17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
static const uint8_t ORACLE[20] = {0x5f, 0xbd, 0xb2, 0x31, 0x56, 0x78, 0xaf, 0xec, 0xb3, 0x67,
                                   0xf0, 0x32, 0xd9, 0x3f, 0x64, 0x2f, 0x64, 0x18, 0x0a, 0xa3};

static void make_trace(sibyl_trace *t)
{
    trace_init(t, 0);
    for (int s = 0; s < 3; s++) {
        int32_t ids[4] = {7 + s, 8, 9, -1};
        engine_step st;
        memset(&st, 0, sizeof st);
        st.step = s;
        st.argmax = ids;
        st.canvas_length = 4;
        memset(st.logits_hash, 0x30 + s, 32);
        trace_append(t, &st);
    }
}

/* A computed request as the node journals it, signed with KEY. */
static void make_jreq(jreq *r, uint8_t signer[20])
{
    jreq_init(r);
    r->f.id[31] = 7;
    r->f.state = RS_FULFILLED;
    memset(r->f.requester, 0xaa, 20);
    memcpy(r->f.model_id, "tiny", 4);
    memcpy(r->f.adapter, "text", 4);
    memset(r->f.seed, 0x5e, 32);
    r->f.callback_gas_limit = 200000;
    r->f.deadline = 1800000000ULL;
    r->f.block_number = 42;
    memset(r->f.block_hash, 0xb1, 32);
    memset(r->f.log_tx_hash, 0x71, 32);
    r->f.log_index = 3;
    r->f.n_tx_hashes = 2;
    memset(r->f.tx_hashes[1], 0xa2, 32);
    jreq_set(&r->input, &r->input_len, "9+58", 4);
    jreq_set(&r->params, &r->params_len, "", 0);
    jreq_set(&r->output, &r->output_len, "67", 2);
    uint8_t mh[32];
    memset(mh, 0x4d, 32);
    sibyl_attestation a;
    attest_build(&a, r->f.id, r->f.seed, mh, r->input, r->input_len, r->params, r->params_len,
                 r->output, r->output_len, 0);
    memcpy(r->f.model_hash, a.model_hash, 32);
    memcpy(r->f.input_hash, a.input_hash, 32);
    memcpy(r->f.params_hash, a.params_hash, 32);
    memcpy(r->f.output_hash, a.output_hash, 32);
    memcpy(r->f.engine_version, a.engine_version, 32);
    secp256k1_context *ctx = secp_context_create(NULL, 0);
    assert_non_null(ctx);
    sibyl_domain d = {31337, {0}};
    memcpy(d.verifying_contract, ORACLE, 20);
    assert_int_equal(sibyl_attestation_sign(ctx, &d, &a, KEY, r->f.signature, NULL, 0), 0);
    assert_int_equal(secp_key_address(ctx, KEY, signer, NULL, 0), 0);
    secp_context_destroy(ctx);
}

static int put_audit_fn(journal_txn *t, jreq *r, void *user)
{
    const buf *b = user;
    return journal_txn_put_audit(t, r->f.id, b->data, b->len);
}

static void make_record(audit_record *rec)
{
    jreq r;
    uint8_t signer[20];
    make_jreq(&r, signer);
    sibyl_trace t;
    make_trace(&t);
    buf b = BUF_INIT;
    audit_blob_encode(31337, ORACLE, signer, &t, &b);
    char err[256];
    assert_int_equal(audit_record_from_journal(&r, b.data, b.len, rec, err, sizeof err), 0);
    buf_free(&b);
    trace_free(&t);
    jreq_free(&r);
}

static void test_journal_audit_entries(void **state)
{
    (void)state;
    char jdir[300], err[256];
    snprintf(jdir, sizeof jdir, "%s/j1", dir);
    journal *j;
    assert_int_equal(journal_open(jdir, 16, 0, &j, err, sizeof err), 0);
    jreq r;
    uint8_t signer[20];
    make_jreq(&r, signer);
    r.f.state = RS_SEEN;
    assert_int_equal(journal_insert_seen(j, &r, err, sizeof err), 1);
    uint8_t *p = NULL;
    size_t n = 0;
    assert_int_equal(journal_get_audit(j, r.f.id, &p, &n, err, sizeof err), 0);
    sibyl_trace t;
    make_trace(&t);
    buf b = BUF_INIT;
    audit_blob_encode(31337, ORACLE, signer, &t, &b);
    assert_int_equal(journal_update(j, r.f.id, put_audit_fn, &b, err, sizeof err), 0);
    assert_int_equal(journal_get_audit(j, r.f.id, &p, &n, err, sizeof err), 1);
    assert_int_equal(n, b.len);
    assert_memory_equal(p, b.data, n);
    /* the record from the journal has the domain, the signer and the trace */
    audit_record rec;
    assert_int_equal(audit_record_from_journal(&r, p, n, &rec, err, sizeof err), 0);
    assert_int_equal(rec.has_domain, 1);
    assert_int_equal(rec.chain_id, 31337);
    assert_memory_equal(rec.oracle, ORACLE, 20);
    assert_memory_equal(rec.signer, signer, 20);
    assert_non_null(rec.trace);
    assert_int_equal(rec.trace->n_steps, 3);
    assert_memory_equal(rec.answer_tx, r.f.tx_hashes[1], 32);
    assert_string_equal(rec.state, "seen");
    audit_record_free(&rec);
    /* a damaged blob is an error, not a crash */
    p[0] = 'X';
    assert_int_equal(audit_record_from_journal(&r, p, n, &rec, err, sizeof err), -1);
    assert_int_equal(audit_record_from_journal(&r, p, 10, &rec, err, sizeof err), -1);
    free(p);
    buf_free(&b);
    trace_free(&t);
    jreq_free(&r);
    journal_close(j);
}

/* A journal written before audit entries existed (only the four original sub-databases) opens,
 * keeps its records, and simply has no audit entry for them. */
static void test_journal_without_audit_db(void **state)
{
    (void)state;
    char jdir[300], err[256];
    snprintf(jdir, sizeof jdir, "%s/j_old", dir);
    assert_int_equal(mkdir(jdir, 0700), 0);
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    assert_int_equal(mdb_env_create(&env), 0);
    mdb_env_set_maxdbs(env, 8);
    assert_int_equal(mdb_env_open(env, jdir, 0, 0600), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    const char *names[] = {"req", "log", "nonce", "meta"};
    for (int i = 0; i < 4; i++)
        assert_int_equal(mdb_dbi_open(txn, names[i], MDB_CREATE, &dbi), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
    journal *j;
    assert_int_equal(journal_open(jdir, 16, 0, &j, err, sizeof err), 0);
    jreq r;
    uint8_t signer[20];
    make_jreq(&r, signer);
    assert_int_equal(journal_insert_seen(j, &r, err, sizeof err), 1);
    uint8_t *p = (uint8_t *)1;
    size_t n = 9;
    assert_int_equal(journal_get_audit(j, r.f.id, &p, &n, err, sizeof err), 0);
    assert_null(p);
    assert_int_equal(n, 0);
    /* such a record exports without domain or trace */
    audit_record rec;
    assert_int_equal(audit_record_from_journal(&r, NULL, 0, &rec, err, sizeof err), 0);
    assert_null(rec.trace);
    assert_int_equal(rec.has_domain, 0);
    char *line = audit_record_to_json(&rec);
    assert_non_null(strstr(line, "\"trace\":null"));
    assert_null(strstr(line, "\"oracle\""));
    free(line);
    audit_record_free(&rec);
    jreq_free(&r);
    journal_close(j);
}

static void test_json_roundtrip(void **state)
{
    (void)state;
    audit_record rec, back;
    make_record(&rec);
    char *line = audit_record_to_json(&rec);
    assert_non_null(line);
    assert_null(strchr(line, '\n'));
    assert_non_null(strstr(line, "\"format\":\"sibyl-audit-1\""));
    assert_non_null(strstr(line, "\"requestId\":\"7\""));
    assert_non_null(strstr(line, "\"input\":\"0x392b3538\""));
    assert_non_null(strstr(line, "\"argmax\":[7,8,9,-1]"));
    char err[256];
    assert_int_equal(audit_record_from_json(line, &back, err, sizeof err), 0);
    assert_memory_equal(back.request_id, rec.request_id, 32);
    assert_memory_equal(back.requester, rec.requester, 20);
    assert_memory_equal(back.model_id, rec.model_id, 32);
    assert_memory_equal(back.adapter, rec.adapter, 32);
    assert_memory_equal(back.seed, rec.seed, 32);
    assert_int_equal(back.callback_gas_limit, 200000);
    assert_int_equal(back.deadline, 1800000000ULL);
    assert_int_equal(back.block_number, 42);
    assert_int_equal(back.log_index, 3);
    assert_int_equal(back.input_len, 4);
    assert_memory_equal(back.input, "9+58", 4);
    assert_int_equal(back.params_len, 0);
    assert_int_equal(back.output_len, 2);
    assert_memory_equal(back.output_hash, rec.output_hash, 32);
    assert_memory_equal(back.signature, rec.signature, 65);
    assert_memory_equal(back.signer, rec.signer, 20);
    assert_int_equal(back.chain_id, 31337);
    assert_non_null(back.trace);
    trace_diff d;
    assert_int_equal(trace_compare(rec.trace, back.trace, &d), TRACE_SAME);
    /* and the same line again */
    char *again = audit_record_to_json(&back);
    assert_string_equal(line, again);
    free(again);
    free(line);
    audit_record_free(&back);
    audit_record_free(&rec);
}

static void test_json_rejects_bad_records(void **state)
{
    (void)state;
    audit_record rec, back;
    make_record(&rec);
    char *line = audit_record_to_json(&rec);
    char err[256];
    struct {
        const char *find, *replace, *msg;
    } cases[] = {
        {"\"format\":\"sibyl-audit-1\"", "\"format\":\"sibyl-audit-9\"", "format"},
        {"\"requestId\":\"7\"", "\"requestId\":7", "requestId"},
        {"\"input\":\"0x392b3538\"", "\"input\":\"0x392b353\"", "input"},
        {"\"input\":\"0x392b3538\"", "\"inpot\":\"0x392b3538\"", "no \"input\""},
        {"\"argmax\":[7,8,9,-1]", "\"argmax\":[7,8,9]", "argmax must hold 4"},
        {"\"argmax\":[7,8,9,-1]", "\"argmax\":[7,8,9,1.5]", "not a token id"},
        {"\"callbackGasLimit\":200000", "\"callbackGasLimit\":-1", "callbackGasLimit"},
        {"\"rejectCode\":0", "\"rejectCode\":70000", "rejectCode"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *p = strstr(line, cases[i].find);
        assert_non_null(p);
        size_t fl = strlen(cases[i].find), rl = strlen(cases[i].replace);
        char *bad = malloc(strlen(line) + rl + 1);
        memcpy(bad, line, (size_t)(p - line));
        strcpy(bad + (p - line), cases[i].replace);
        strcat(bad, p + fl);
        err[0] = 0;
        assert_int_equal(audit_record_from_json(bad, &back, err, sizeof err), -1);
        if (!strstr(err, cases[i].msg))
            fail_msg("case %zu: '%s' does not mention '%s'", i, err, cases[i].msg);
        free(bad);
    }
    assert_int_equal(audit_record_from_json("[1,2]", &back, err, sizeof err), -1);
    assert_int_equal(audit_record_from_json("{", &back, err, sizeof err), -1);
    free(line);
    audit_record_free(&rec);
}

static void test_read_file_by_line_and_id(void **state)
{
    (void)state;
    char path[300], err[256];
    snprintf(path, sizeof path, "%s/records.jsonl", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (int id = 1; id <= 3; id++) {
        audit_record rec;
        make_record(&rec);
        rec.request_id[31] = (uint8_t)id;
        char *line = audit_record_to_json(&rec);
        fprintf(f, "%s\n", line);
        free(line);
        audit_record_free(&rec);
    }
    fclose(f);
    audit_record r;
    assert_int_equal(audit_record_read_file(path, 2, NULL, &r, err, sizeof err), 1);
    assert_int_equal(r.request_id[31], 2);
    audit_record_free(&r);
    assert_int_equal(audit_record_read_file(path, 0, "3", &r, err, sizeof err), 1);
    assert_int_equal(r.request_id[31], 3);
    audit_record_free(&r);
    assert_int_equal(audit_record_read_file(path, 0, "0x1", &r, err, sizeof err), 1);
    assert_int_equal(r.request_id[31], 1);
    audit_record_free(&r);
    assert_int_equal(audit_record_read_file(path, 4, NULL, &r, err, sizeof err), 0);
    assert_int_equal(audit_record_read_file(path, 0, "9", &r, err, sizeof err), 0);
    assert_int_equal(audit_record_read_file(path, 0, "x9", &r, err, sizeof err), -1);
    char missing[300];
    snprintf(missing, sizeof missing, "%s/none.jsonl", dir);
    assert_int_equal(audit_record_read_file(missing, 0, NULL, &r, err, sizeof err), -1);
}

/* A run result as the engine would give it (test double: filled by hand). */
static void fake_run(replay_run_result *run, const audit_record *rec, const char *output)
{
    memset(run, 0, sizeof *run);
    make_trace(&run->trace);
    run->res.output_len = strlen(output);
    run->res.output = malloc(run->res.output_len + 1);
    memcpy(run->res.output, output, run->res.output_len);
    (void)rec;
}

static void test_compare(void **state)
{
    (void)state;
    audit_record rec;
    make_record(&rec);
    replay_run_result run;
    replay_report rep;

    fake_run(&run, &rec, "67");
    replay_compare(&rec, &run, &rep);
    assert_true(rep.match);
    assert_true(rep.signature_checked && rep.signature_ok);
    char *ok_text = NULL;
    size_t ok_len = 0;
    FILE *okf = open_memstream(&ok_text, &ok_len);
    replay_print(okf, &rec, &run, &rep, NULL);
    fclose(okf);
    assert_non_null(
        strstr(ok_text, "OK   trace: 3 steps, every logits hash and argmax canvas equal"));
    assert_non_null(strstr(ok_text, "\nMATCH request 7: replayed the same output, outputHash 0x"));
    assert_null(strstr(ok_text, "FAIL"));
    free(ok_text);
    replay_run_result_free(&run);

    /* another output: first differing byte, hash differs, the trace still equal */
    fake_run(&run, &rec, "68");
    replay_compare(&rec, &run, &rep);
    assert_false(rep.match);
    assert_false(rep.output_ok);
    assert_int_equal(rep.output_diff_at, 1);
    assert_false(rep.replay_hash_ok);
    assert_int_equal(rep.tdiff.kind, TRACE_SAME);
    replay_run_result_free(&run);

    /* a longer output differs where the shorter ends */
    fake_run(&run, &rec, "670");
    replay_compare(&rec, &run, &rep);
    assert_false(rep.output_ok);
    assert_int_equal(rep.output_diff_at, 2);
    replay_run_result_free(&run);

    /* the trace differs at step 2 */
    fake_run(&run, &rec, "67");
    run.trace.logits_hash[2][0] ^= 1;
    replay_compare(&rec, &run, &rep);
    assert_false(rep.match);
    assert_int_equal(rep.tdiff.kind, TRACE_DIFF_VALUES);
    assert_int_equal(rep.tdiff.step, 2);
    replay_run_result_free(&run);

    /* a reject where an answer was attested */
    fake_run(&run, &rec, "");
    run.res.reject_code = REJECT_PARAMS_INVALID;
    snprintf(run.why, sizeof run.why, "bad params");
    replay_compare(&rec, &run, &rep);
    assert_false(rep.reject_ok);
    assert_false(rep.match);
    char *text = NULL;
    size_t tl = 0;
    FILE *mf = open_memstream(&text, &tl);
    replay_print(mf, &rec, &run, &rep, NULL);
    fclose(mf);
    assert_non_null(strstr(text, "FAIL answer: attested an answer, the replay gives reject code 3: "
                                 "bad params\n"));
    assert_non_null(strstr(text, "FAIL output: first difference at byte 0 (record 2 bytes, "
                                 "replay 0): record \"67\", replay \"\"\n"));
    assert_non_null(strstr(text, "MISMATCH request 7: reject code differs; output differs at "
                                 "byte 0; replayed output hash differs;"));
    free(text);
    replay_run_result_free(&run);

    /* an edited record: its output no longer hashes to the attestation, and the seed edit
     * changes what the signature recovers to */
    rec.output[0] = '9';
    fake_run(&run, &rec, "67");
    replay_compare(&rec, &run, &rep);
    assert_false(rep.output_hash_ok);
    assert_true(rep.signature_ok);
    assert_false(rep.match);
    replay_run_result_free(&run);
    rec.output[0] = '6';
    rec.seed[0] ^= 1;
    fake_run(&run, &rec, "67");
    replay_compare(&rec, &run, &rep);
    assert_false(rep.signature_ok);
    assert_false(rep.match);
    replay_run_result_free(&run);
    rec.seed[0] ^= 1;

    /* without a trace (online): only the output counts */
    trace_free(rec.trace);
    free(rec.trace);
    rec.trace = NULL;
    fake_run(&run, &rec, "67");
    replay_compare(&rec, &run, &rep);
    assert_true(rep.match);
    assert_false(rep.have_trace);
    replay_run_result_free(&run);
    audit_record_free(&rec);
}

static void test_engine_seed(void **state)
{
    (void)state;
    uint8_t s[32];
    memset(s, 0xff, 24);
    for (int i = 0; i < 8; i++)
        s[24 + i] = (uint8_t)(i + 1);
    assert_true(replay_engine_seed(s) == 0x0102030405060708ULL);
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/sibyl-test-record.XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_journal_audit_entries),
        cmocka_unit_test(test_journal_without_audit_db),
        cmocka_unit_test(test_json_roundtrip),
        cmocka_unit_test(test_json_rejects_bad_records),
        cmocka_unit_test(test_read_file_by_line_and_id),
        cmocka_unit_test(test_compare),
        cmocka_unit_test(test_engine_seed),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
