/* trace: the per-step trace's binary form (exact bytes, strict decoding), its cap, and the
 * step-by-step comparison a replay reports. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "attest/trace.h"

#define CL 4

/* A step whose values follow from (canvas, step, salt). */
static void add_step(sibyl_trace *t, int canvas, int step, int salt)
{
    int32_t ids[CL];
    for (int i = 0; i < CL; i++)
        ids[i] = 100 * canvas + 10 * step + i + salt;
    engine_step st;
    memset(&st, 0, sizeof st);
    st.canvas = canvas;
    st.step = step;
    st.argmax = ids;
    st.canvas_length = CL;
    memset(st.logits_hash, canvas * 16 + step + salt, 32);
    trace_append(t, &st);
}

static void make(sibyl_trace *t, int canvases, int steps)
{
    trace_init(t, 0);
    for (int c = 0; c < canvases; c++)
        for (int s = 0; s < steps; s++)
            add_step(t, c, s, 0);
}

static void test_encode_layout_and_roundtrip(void **state)
{
    (void)state;
    sibyl_trace t;
    make(&t, 2, 3);
    assert_int_equal(t.n_steps, 6);
    buf b = BUF_INIT;
    trace_encode(&t, &b);
    assert_int_equal(buf_ok(&b), 0);
    assert_int_equal(b.len, trace_encoded_size(&t));
    assert_int_equal(b.len, TRACE_HEADER_BYTES + 6 * (8 + 32 + CL * 4));
    /* header: magic, version 1, canvas length 4, 6 steps, flags 0, all little-endian */
    static const uint8_t hdr[20] = {'S', 'T', 'R', 'C', 1, 0, 0, 0, CL, 0,
                                    0,   0,   6,   0,   0, 0, 0, 0, 0,  0};
    assert_memory_equal(b.data, hdr, 20);
    /* second step: canvas 0, step 1, logits hash bytes 1, argmax 10..13 little-endian */
    const uint8_t *s1 = b.data + 20 + (8 + 32 + CL * 4);
    static const uint8_t s1_head[8] = {0, 0, 0, 0, 1, 0, 0, 0};
    assert_memory_equal(s1, s1_head, 8);
    assert_int_equal(s1[8], 1);
    assert_int_equal(s1[40], 10);
    assert_int_equal(s1[41], 0);
    assert_int_equal(s1[44], 11);

    sibyl_trace d;
    char err[256];
    assert_int_equal(trace_decode(b.data, b.len, &d, err, sizeof err), 0);
    assert_int_equal(d.n_steps, 6);
    assert_int_equal(d.canvas_length, CL);
    assert_int_equal(d.truncated, 0);
    trace_diff diff;
    assert_int_equal(trace_compare(&t, &d, &diff), TRACE_SAME);
    assert_int_equal(trace_argmax(&d, 5)[3], 100 + 20 + 3);
    trace_free(&d);
    buf_free(&b);
    trace_free(&t);
}

static void test_decode_rejects_bad_input(void **state)
{
    (void)state;
    sibyl_trace t, d;
    make(&t, 1, 2);
    buf b = BUF_INIT;
    trace_encode(&t, &b);
    char err[256];
    /* every truncation and one extra byte */
    for (size_t n = 0; n < b.len; n++)
        assert_int_equal(trace_decode(b.data, n, &d, err, sizeof err), -1);
    uint8_t *longer = malloc(b.len + 1);
    memcpy(longer, b.data, b.len);
    longer[b.len] = 0;
    assert_int_equal(trace_decode(longer, b.len + 1, &d, err, sizeof err), -1);
    assert_non_null(strstr(err, "header says 2 steps"));
    /* magic, version, flags, a step count that would overflow, a zero canvas length */
    memcpy(longer, b.data, b.len);
    longer[0] = 'X';
    assert_int_equal(trace_decode(longer, b.len, &d, err, sizeof err), -1);
    memcpy(longer, b.data, b.len);
    longer[4] = 2;
    assert_int_equal(trace_decode(longer, b.len, &d, err, sizeof err), -1);
    assert_non_null(strstr(err, "version 2"));
    memcpy(longer, b.data, b.len);
    longer[16] = 4;
    assert_int_equal(trace_decode(longer, b.len, &d, err, sizeof err), -1);
    memcpy(longer, b.data, b.len);
    memset(longer + 12, 0xff, 4);
    assert_int_equal(trace_decode(longer, b.len, &d, err, sizeof err), -1);
    memcpy(longer, b.data, b.len);
    memset(longer + 8, 0, 4);
    assert_int_equal(trace_decode(longer, b.len, &d, err, sizeof err), -1);
    /* an empty trace is fine */
    sibyl_trace e;
    trace_init(&e, 0);
    buf eb = BUF_INIT;
    trace_encode(&e, &eb);
    assert_int_equal(trace_decode(eb.data, eb.len, &d, err, sizeof err), 0);
    assert_int_equal(d.n_steps, 0);
    trace_free(&d);
    buf_free(&eb);
    free(longer);
    buf_free(&b);
    trace_free(&t);
}

static void test_cap_truncates(void **state)
{
    (void)state;
    sibyl_trace t;
    size_t per = 8 + 32 + CL * 4;
    trace_init(&t, TRACE_HEADER_BYTES + 3 * per); /* room for 3 steps */
    for (int s = 0; s < 5; s++)
        add_step(&t, 0, s, 0);
    assert_int_equal(t.n_steps, 3);
    assert_int_equal(t.truncated, 1);
    assert_true(trace_encoded_size(&t) <= t.max_bytes);
    /* a truncated recorded trace compares over its steps: a longer replay is the same */
    sibyl_trace full;
    make(&full, 1, 5);
    trace_diff d;
    assert_int_equal(trace_compare(&t, &full, &d), TRACE_SAME);
    /* but a replay shorter than the recorded steps is not */
    sibyl_trace two;
    make(&two, 1, 2);
    assert_int_equal(trace_compare(&t, &two, &d), TRACE_DIFF_LENGTH);
    assert_int_equal(d.canvas, 0);
    assert_int_equal(d.step, 2);
    /* the flag survives the binary form; reset forgets it */
    buf b = BUF_INIT;
    trace_encode(&t, &b);
    sibyl_trace dec;
    char err[128];
    assert_int_equal(trace_decode(b.data, b.len, &dec, err, sizeof err), 0);
    assert_int_equal(dec.truncated, 1);
    trace_reset(&t);
    assert_int_equal(t.n_steps, 0);
    assert_int_equal(t.truncated, 0);
    add_step(&t, 0, 0, 0);
    assert_int_equal(t.n_steps, 1);
    /* a step with another canvas length than the first marks it truncated */
    int32_t ids[8] = {0};
    engine_step st = {0, 1, ids, 8, 0.0f, 0, {0}};
    trace_append(&t, &st);
    assert_int_equal(t.n_steps, 1);
    assert_int_equal(t.truncated, 1);
    trace_free(&dec);
    buf_free(&b);
    trace_free(&two);
    trace_free(&full);
    trace_free(&t);
}

static void test_compare_reports_the_first_difference(void **state)
{
    (void)state;
    sibyl_trace rec, rep;
    make(&rec, 2, 3);
    trace_diff d;

    /* the logits of canvas 1 step 1 differ, the argmax does not */
    trace_init(&rep, 0);
    for (int c = 0; c < 2; c++)
        for (int s = 0; s < 3; s++) {
            add_step(&rep, c, s, 0);
            if (c == 1 && s == 1)
                memset(rep.logits_hash[rep.n_steps - 1], 0xee, 32);
        }
    assert_int_equal(trace_compare(&rec, &rep, &d), TRACE_DIFF_VALUES);
    assert_int_equal(d.canvas, 1);
    assert_int_equal(d.step, 1);
    assert_int_equal(d.index, 4);
    assert_true(d.logits_differ);
    assert_false(d.argmax_differ);
    trace_free(&rep);

    /* the argmax of canvas 0 step 2 differs at position 2: both ids reported */
    trace_init(&rep, 0);
    for (int c = 0; c < 2; c++)
        for (int s = 0; s < 3; s++) {
            add_step(&rep, c, s, 0);
            if (c == 0 && s == 2)
                rep.argmax[(size_t)(rep.n_steps - 1) * CL + 2] = 999;
        }
    assert_int_equal(trace_compare(&rec, &rep, &d), TRACE_DIFF_VALUES);
    assert_int_equal(d.canvas, 0);
    assert_int_equal(d.step, 2);
    assert_false(d.logits_differ);
    assert_true(d.argmax_differ);
    assert_int_equal(d.position, 2);
    assert_int_equal(d.recorded_token, 22);
    assert_int_equal(d.replayed_token, 999);
    trace_free(&rep);

    /* the replay made fewer steps in canvas 0: entry 2 is another (canvas, step) */
    trace_init(&rep, 0);
    add_step(&rep, 0, 0, 0);
    add_step(&rep, 0, 1, 0);
    add_step(&rep, 1, 0, 0);
    assert_int_equal(trace_compare(&rec, &rep, &d), TRACE_DIFF_INDEX);
    assert_int_equal(d.index, 2);
    assert_int_equal(d.canvas, 0);
    assert_int_equal(d.step, 2);
    assert_int_equal(d.replayed_canvas, 1);
    assert_int_equal(d.replayed_step, 0);
    trace_free(&rep);

    /* the replay went on for another canvas */
    make(&rep, 3, 3);
    assert_int_equal(trace_compare(&rec, &rep, &d), TRACE_DIFF_LENGTH);
    assert_int_equal(d.n_recorded, 6);
    assert_int_equal(d.n_replayed, 9);
    assert_int_equal(d.canvas, 2);
    assert_int_equal(d.step, 0);
    trace_free(&rep);

    /* another canvas length */
    trace_init(&rep, 0);
    int32_t ids[8] = {0};
    engine_step st = {0, 0, ids, 8, 0.0f, 0, {0}};
    trace_append(&rep, &st);
    assert_int_equal(trace_compare(&rec, &rep, &d), TRACE_DIFF_CANVAS_LENGTH);
    trace_free(&rep);

    /* a different seed-like salt at the very first step */
    trace_init(&rep, 0);
    add_step(&rep, 0, 0, 1);
    assert_int_equal(trace_compare(&rec, &rep, &d), TRACE_DIFF_VALUES);
    assert_int_equal(d.index, 0);
    assert_true(d.logits_differ && d.argmax_differ);
    assert_int_equal(d.position, 0);
    trace_free(&rep);
    trace_free(&rec);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode_layout_and_roundtrip),
        cmocka_unit_test(test_decode_rejects_bad_input),
        cmocka_unit_test(test_cap_truncates),
        cmocka_unit_test(test_compare_reports_the_first_difference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
