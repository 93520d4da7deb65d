/*
 * Tokenizer: BPE merge order on a hand-made vocabulary, byte fallback, special tokens inside
 * text, encode/decode round trips on the small Gemma 4 style vocabulary, the chat template's
 * id sequence, and loading the vocabulary back from a GGUF written with gguf_write.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "inference/gguf.h"
#include "inference/gguf_write.h"
#include "inference/tokenizer.h"

#define SP "\xe2\x96\x81"

static tokenizer *make_tok(const char *const *pieces, const int32_t *types, uint32_t n,
                           const char *const *merges, uint32_t nm)
{
    uint32_t lens[64], mlens[64];
    for (uint32_t i = 0; i < n; i++)
        lens[i] = (uint32_t)strlen(pieces[i]);
    for (uint32_t i = 0; i < nm; i++)
        mlens[i] = (uint32_t)strlen(merges[i]);
    tok_vocab v = {.n_tokens = n,
                   .tokens = pieces,
                   .token_lens = lens,
                   .token_types = types,
                   .n_merges = nm,
                   .merges = merges,
                   .merge_lens = mlens,
                   .bos = -1,
                   .eos = -1,
                   .pad = -1,
                   .unk = -1,
                   .model = "gemma4"};
    tokenizer *t;
    char err[256];
    if (tok_create(&v, &t, err, sizeof err))
        fail_msg("%s", err);
    return t;
}

static void expect_ids(const tokenizer *t, const char *text, const int32_t *want, size_t nw)
{
    int32_t *ids;
    size_t n;
    char err[256];
    if (tok_encode(t, text, strlen(text), &ids, &n, err, sizeof err))
        fail_msg("%s", err);
    if (n != nw) {
        for (size_t i = 0; i < n; i++)
            fprintf(stderr, "%d ", ids[i]);
        fprintf(stderr, "\n");
    }
    assert_int_equal(n, nw);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(ids[i], want[i]);
    free(ids);
}

/* The lowest-rank pair merges first, whatever its position. */
static void test_merge_rank_order(void **state)
{
    (void)state;
    const char *pieces[] = {"a", "b", "c", "ab", "bc", "abc", "<0x64>", "<0x0A>"};
    const int32_t types[] = {1, 1, 1, 1, 1, 1, 6, 6};
    const char *m1[] = {"b c", "a b", "a bc"};
    tokenizer *t = make_tok(pieces, types, 8, m1, 3);
    expect_ids(t, "abc", (const int32_t[]){5}, 1);
    expect_ids(t, "ab", (const int32_t[]){3}, 1);
    expect_ids(t, "abab", (const int32_t[]){3, 3}, 2);
    /* 'd' is not a piece: byte fallback; '\n' likewise */
    expect_ids(t, "dab\n", (const int32_t[]){6, 3, 7}, 3);
    tok_free(t);
    /* with "a b" first, "abc" becomes ab + c (no "ab c" merge) */
    const char *m2[] = {"a b", "b c", "a bc"};
    t = make_tok(pieces, types, 8, m2, 3);
    expect_ids(t, "abc", (const int32_t[]){3, 2}, 2);
    /* ties on rank go to the leftmost pair */
    expect_ids(t, "aab", (const int32_t[]){0, 3}, 2);
    tok_free(t);
}

static tokenizer *small_tok(uint32_t n, tok_vocab_owned *vo)
{
    char err[256];
    if (tok_build_small_vocab(n, vo, err, sizeof err))
        fail_msg("%s", err);
    tokenizer *t;
    if (tok_create(&vo->v, &t, err, sizeof err))
        fail_msg("%s", err);
    return t;
}

static void round_trip(const tokenizer *t, const char *text, size_t len)
{
    int32_t *ids;
    size_t n;
    char err[256];
    if (tok_encode(t, text, len, &ids, &n, err, sizeof err))
        fail_msg("%s", err);
    for (size_t i = 0; i < n; i++)
        assert_true(ids[i] >= 0 && (uint32_t)ids[i] < tok_n_vocab(t));
    char *back;
    size_t bl;
    if (tok_decode(t, ids, n, 0, &back, &bl, err, sizeof err))
        fail_msg("%s", err);
    assert_int_equal(bl, len);
    assert_memory_equal(back, text, len);
    free(back);
    free(ids);
}

static void test_small_round_trips(void **state)
{
    (void)state;
    tok_vocab_owned vo;
    tokenizer *t = small_tok(4096, &vo);
    const char *texts[] = {
        "Why is the sky blue?",
        "The quick brown fox jumps over the lazy dog.",
        "  leading and trailing spaces  ",
        "line one\nline two\n\n\nline five\r\n\ttab",
        "caf\xc3\xa9 na\xc3\xafve \xe4\xb8\xad\xe6\x96\x87 "
        "\xd0\xbf\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82",
        "emoji \xf0\x9f\x98\x80\xf0\x9f\x8c\x8d and more",
        "special <|turn> inside <turn|> text <bos>",
        "",
        "\n",
        "x",
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
        round_trip(t, texts[i], strlen(texts[i]));
    /* arbitrary bytes, including invalid UTF-8 and NUL */
    char junk[300];
    for (int i = 0; i < 300; i++)
        junk[i] = (char)(i * 37 + 11);
    round_trip(t, junk, sizeof junk);
    /* a literal U+2581 in the text is the space mark: it decodes as a space (as in Gemma's
     * own tokenizer), so that is the one input that does not round-trip */
    int32_t *ids;
    size_t n;
    char err[256], *back;
    size_t bl;
    assert_int_equal(tok_encode(t, SP "x", 4, &ids, &n, err, sizeof err), 0);
    assert_int_equal(tok_decode(t, ids, n, 0, &back, &bl, err, sizeof err), 0);
    assert_string_equal(back, " x");
    free(back);
    free(ids);
    tok_free(t);
    tok_vocab_free(&vo);
}

static void test_small_pieces(void **state)
{
    (void)state;
    tok_vocab_owned vo;
    tokenizer *t = small_tok(4096, &vo);
    int32_t the = tok_find(t, "the", 3), sp_the = tok_find(t, SP "the", 6);
    assert_true(the >= 0 && sp_the >= 0);
    expect_ids(t, "the the", (const int32_t[]){the, sp_the}, 2);
    /* specials at Gemma 4 ids, matched inside text */
    expect_ids(t, "<|turn>", (const int32_t[]){105}, 1);
    expect_ids(t, "the<turn|>the", (const int32_t[]){the, 106, the}, 3);
    expect_ids(t, "\n", (const int32_t[]){107}, 1);
    /* emoji: 4 bytes -> 4 byte tokens (108 + byte value) */
    expect_ids(t, "\xf0\x9f\x98\x80",
               (const int32_t[]){108 + 0xf0, 108 + 0x9f, 108 + 0x98, 108 + 0x80}, 4);
    assert_true(tok_is_eog(t, 1));
    assert_true(tok_is_eog(t, 106));
    assert_true(tok_is_eog(t, 50));
    assert_false(tok_is_eog(t, 105));
    assert_int_equal(tok_bos(t), 2);
    assert_int_equal(tok_type(t, 105), TOK_TYPE_CONTROL);
    assert_int_equal(tok_type(t, 100), TOK_TYPE_USER_DEFINED);
    size_t l;
    assert_memory_equal(tok_piece(t, 101, &l), "<channel|>", 10);
    assert_null(tok_piece(t, 4096, &l));
    /* decode: controls rendered or skipped */
    const int32_t ids[] = {2, the, 106};
    char *s;
    size_t sl;
    char err[256];
    assert_int_equal(tok_decode(t, ids, 3, 0, &s, &sl, err, sizeof err), 0);
    assert_string_equal(s, "<bos>the<turn|>");
    free(s);
    assert_int_equal(tok_decode(t, ids, 3, TOK_DECODE_SKIP_CONTROL, &s, &sl, err, sizeof err), 0);
    assert_string_equal(s, "the");
    free(s);
    const int32_t bad[] = {5000};
    assert_int_not_equal(tok_decode(t, bad, 1, 0, &s, &sl, err, sizeof err), 0);
    assert_non_null(strstr(err, "5000"));
    tok_free(t);
    tok_vocab_free(&vo);
}

/* The template of diffusiongemma.md §5, checked piece by piece on the small vocabulary (the
 * same structure as the published sequence for the real vocabulary). */
static void test_chat_template(void **state)
{
    (void)state;
    tok_vocab_owned vo;
    tokenizer *t = small_tok(4096, &vo);
    int32_t user = tok_find(t, "user", 4), model = tok_find(t, "model", 5),
            thought = tok_find(t, "thought", 7), why = tok_find(t, "Why", 3),
            is = tok_find(t, SP "is", 5), the = tok_find(t, SP "the", 6),
            sky = tok_find(t, SP "sky", 6), blue = tok_find(t, SP "blue", 7),
            q = tok_find(t, "?", 1);
    assert_true(user > 0 && model > 0 && thought > 0 && why > 0 && is > 0 && the > 0 && sky > 0 &&
                blue > 0 && q > 0);
    const int32_t want[] = {2,   105, user, 107,   why, is,  the,     sky, blue, q,
                            106, 107, 105,  model, 107, 100, thought, 107, 101};
    int32_t *ids;
    size_t n;
    char err[256];
    assert_int_equal(
        tok_chat_prompt(t, NULL, "  Why is the sky blue?\n", &ids, &n, err, sizeof err), 0);
    assert_int_equal(n, sizeof want / sizeof want[0]);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(ids[i], want[i]);
    free(ids);
    /* with a system turn */
    assert_int_equal(tok_chat_prompt(t, "Be brief.", "Why?", &ids, &n, err, sizeof err), 0);
    int32_t sys = tok_find(t, "system", 6);
    assert_int_equal(ids[0], 2);
    assert_int_equal(ids[1], 105);
    if (sys >= 0)
        assert_int_equal(ids[2], sys);
    char *s;
    size_t sl;
    assert_int_equal(tok_decode(t, ids, n, 0, &s, &sl, err, sizeof err), 0);
    assert_string_equal(s, "<bos><|turn>system\nBe brief.<turn|>\n<|turn>user\nWhy?<turn|>\n"
                           "<|turn>model\n<|channel>thought\n<channel|>");
    free(s);
    free(ids);
    tok_free(t);
    tok_vocab_free(&vo);
}

static void test_small_vocab_sizes(void **state)
{
    (void)state;
    tok_vocab_owned vo;
    char err[256];
    assert_int_not_equal(tok_build_small_vocab(400, &vo, err, sizeof err), 0);
    assert_non_null(strstr(err, "too few"));
    const uint32_t sizes[] = {459, 512, 4096, 32768};
    for (size_t k = 0; k < 4; k++) {
        tokenizer *t = small_tok(sizes[k], &vo);
        assert_int_equal(tok_n_vocab(t), sizes[k]);
        /* all pieces distinct */
        for (uint32_t i = 0; i < sizes[k]; i++) {
            size_t l;
            const char *p = tok_piece(t, (int32_t)i, &l);
            assert_int_equal(tok_find(t, p, l), (int32_t)i);
        }
        round_trip(t, "Hello, world! \xf0\x9f\x98\x80\n", 19);
        tok_free(t);
        tok_vocab_free(&vo);
    }
}

static void test_from_gguf(void **state)
{
    (void)state;
    tok_vocab_owned vo;
    char err[256];
    assert_int_equal(tok_build_small_vocab(1024, &vo, err, sizeof err), 0);
    char path[128];
    snprintf(path, sizeof path, "/tmp/sibyl_test_tok_%d.gguf", (int)getpid());
    gguf_writer *w;
    assert_int_equal(gguf_writer_open(path, &w, err, sizeof err), 0);
    gguf_writer_add_str(w, "tokenizer.ggml.model", "gemma4");
    gguf_writer_add_arr_str(w, "tokenizer.ggml.tokens", vo.v.tokens, vo.v.token_lens,
                            vo.v.n_tokens);
    gguf_writer_add_arr(w, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32, vo.v.scores, vo.v.n_tokens);
    gguf_writer_add_arr(w, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, vo.v.token_types,
                        vo.v.n_tokens);
    gguf_writer_add_arr_str(w, "tokenizer.ggml.merges", vo.v.merges, vo.v.merge_lens,
                            vo.v.n_merges);
    gguf_writer_add_u32(w, "tokenizer.ggml.bos_token_id", 2);
    gguf_writer_add_u32(w, "tokenizer.ggml.eos_token_id", 1);
    gguf_writer_add_u32(w, "tokenizer.ggml.padding_token_id", 0);
    gguf_writer_add_u32(w, "tokenizer.ggml.unknown_token_id", 3);
    gguf_writer_add_bool(w, "tokenizer.ggml.add_bos_token", 1);
    assert_int_equal(gguf_writer_write_header(w), 0);
    assert_int_equal(gguf_writer_close(w, err, sizeof err), 0);
    gguf_file *f;
    assert_int_equal(gguf_open(path, &f, err, sizeof err), 0);
    tokenizer *a, *b;
    if (tokenizer_from_gguf(f, &a, err, sizeof err))
        fail_msg("%s", err);
    assert_int_equal(tok_create(&vo.v, &b, err, sizeof err), 0);
    const char *text = "The oracle said: <|turn>why not?\n\xc3\xa9\xf0\x9f\x98\x80";
    int32_t *ia, *ib;
    size_t na, nb;
    assert_int_equal(tok_encode(a, text, strlen(text), &ia, &na, err, sizeof err), 0);
    assert_int_equal(tok_encode(b, text, strlen(text), &ib, &nb, err, sizeof err), 0);
    assert_int_equal(na, nb);
    assert_memory_equal(ia, ib, na * sizeof *ia);
    assert_int_equal(tok_bos(a), 2);
    assert_int_equal(tok_eos(a), 1);
    assert_true(tok_add_bos(a));
    free(ia);
    free(ib);
    tok_free(a);
    tok_free(b);
    gguf_close(f);
    unlink(path);
    tok_vocab_free(&vo);
}

static void test_rejects(void **state)
{
    (void)state;
    const char *pieces[] = {"a"};
    uint32_t lens[] = {1};
    tok_vocab v = {.n_tokens = 1,
                   .tokens = pieces,
                   .token_lens = lens,
                   .bos = -1,
                   .eos = -1,
                   .pad = -1,
                   .unk = -1,
                   .model = "llama"};
    tokenizer *t;
    char err[256];
    assert_int_not_equal(tok_create(&v, &t, err, sizeof err), 0);
    assert_non_null(strstr(err, "llama"));
    v.model = "gemma4";
    assert_int_equal(tok_create(&v, &t, err, sizeof err), 0);
    /* no byte tokens, no unk: 'b' cannot be encoded */
    int32_t *ids;
    size_t n;
    assert_int_not_equal(tok_encode(t, "ab", 2, &ids, &n, err, sizeof err), 0);
    assert_non_null(strstr(err, "byte fallback"));
    /* the chat template needs its specials */
    assert_int_not_equal(tok_chat_prompt(t, NULL, "hi", &ids, &n, err, sizeof err), 0);
    assert_non_null(strstr(err, "<bos>"));
    tok_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_merge_rank_order),  cmocka_unit_test(test_small_round_trips),
        cmocka_unit_test(test_small_pieces),      cmocka_unit_test(test_chat_template),
        cmocka_unit_test(test_small_vocab_sizes), cmocka_unit_test(test_from_gguf),
        cmocka_unit_test(test_rejects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
