/*
 * The tokenizer on the real Gemma vocabulary: Gemma 3's tokenizer.json (262144 tokens, 514906
 * merges; fetched by scripts/setup into build-deps/, or named by $SIBYL_GEMMA_TOKENIZER_JSON).
 * Gemma 4 keeps that vocabulary and renames some of its unused/special tokens; the test applies
 * the renames of diffusiongemma.md §5 (ids 46-52 tool tokens, 100/101 channel, 105/106 turn) and
 * then checks the published Gemma 4 chat-template ids for "Why is the sky blue?". Every
 * non-special id in that sequence (user, \n, Why, ▁is, ▁the, ▁sky, ▁blue, ?, model, thought)
 * comes from the real vocabulary and merges, so this checks the BPE itself.
 * Skipped (not failed) when the file is absent.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>
#include <cmocka.h>

#include "inference/tokenizer.h"

static char *slurp(const char *path, size_t *n)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    fseek(fp, 0, SEEK_END);
    long sz = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *b = malloc((size_t)sz + 1);
    if (b && fread(b, 1, (size_t)sz, fp) != (size_t)sz) {
        free(b);
        b = NULL;
    }
    fclose(fp);
    if (b) {
        b[sz] = 0;
        *n = (size_t)sz;
    }
    return b;
}

typedef struct {
    tokenizer *tok;
    char **tokens;
    uint32_t n;
} gemma_fixture;

static int setup(void **state)
{
    const char *path = getenv("SIBYL_GEMMA_TOKENIZER_JSON");
    if (!path)
        path = "build-deps/gemma3-tokenizer.json";
    size_t len;
    char *json = slurp(path, &len);
    if (!json) {
        *state = NULL;
        return 0;
    }
    cJSON *root = cJSON_ParseWithLength(json, len);
    free(json);
    assert_non_null(root);
    cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    cJSON *merges = cJSON_GetObjectItemCaseSensitive(model, "merges");
    cJSON *added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
    assert_true(cJSON_IsObject(vocab) && cJSON_IsArray(merges) && cJSON_IsArray(added));
    uint32_t n = (uint32_t)cJSON_GetArraySize(vocab);
    assert_int_equal(n, 262144);
    char **tokens = calloc(n, sizeof *tokens);
    uint32_t *lens = calloc(n, sizeof *lens);
    int32_t *types = calloc(n, sizeof *types);
    for (cJSON *e = vocab->child; e; e = e->next) {
        int id = e->valueint;
        assert_true(id >= 0 && (uint32_t)id < n && tokens[id] == NULL);
        tokens[id] = strdup(e->string);
        lens[id] = (uint32_t)strlen(e->string);
        int b;
        types[id] = (lens[id] == 6 && sscanf(e->string, "<0x%2X>", (unsigned *)&b) == 1)
                        ? TOK_TYPE_BYTE
                        : TOK_TYPE_NORMAL;
    }
    for (cJSON *e = added->child; e; e = e->next) {
        int id = cJSON_GetObjectItemCaseSensitive(e, "id")->valueint;
        if (id < 0 || (uint32_t)id >= n)
            continue; /* added tokens past the 262144-entry vocabulary (image soft token) */
        int special = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "special"));
        if (types[id] != TOK_TYPE_BYTE)
            types[id] = special ? TOK_TYPE_CONTROL : TOK_TYPE_USER_DEFINED;
    }
    types[3] = TOK_TYPE_UNKNOWN;
    /* Gemma 4's renames (diffusiongemma.md §5) */
    static const struct {
        int id;
        const char *text;
        int32_t type;
    } g4[] = {{46, "<|tool>", TOK_TYPE_USER_DEFINED},
              {47, "<tool|>", TOK_TYPE_USER_DEFINED},
              {48, "<|tool_call>", TOK_TYPE_USER_DEFINED},
              {49, "<tool_call|>", TOK_TYPE_USER_DEFINED},
              {50, "<|tool_response>", TOK_TYPE_USER_DEFINED},
              {51, "<tool_response|>", TOK_TYPE_USER_DEFINED},
              {52, "<|\"|>", TOK_TYPE_USER_DEFINED},
              {100, "<|channel>", TOK_TYPE_USER_DEFINED},
              {101, "<channel|>", TOK_TYPE_USER_DEFINED},
              {105, "<|turn>", TOK_TYPE_CONTROL},
              {106, "<turn|>", TOK_TYPE_CONTROL}};
    for (size_t i = 0; i < sizeof g4 / sizeof g4[0]; i++) {
        free(tokens[g4[i].id]);
        tokens[g4[i].id] = strdup(g4[i].text);
        lens[g4[i].id] = (uint32_t)strlen(g4[i].text);
        types[g4[i].id] = g4[i].type;
    }
    uint32_t nm = (uint32_t)cJSON_GetArraySize(merges);
    assert_int_equal(nm, 514906);
    char **ms = calloc(nm, sizeof *ms);
    uint32_t *mlens = calloc(nm, sizeof *mlens);
    uint32_t k = 0;
    for (cJSON *e = merges->child; e; e = e->next, k++) {
        if (cJSON_IsString(e)) {
            ms[k] = strdup(e->valuestring);
        } else { /* ["left", "right"] */
            const char *l = cJSON_GetArrayItem(e, 0)->valuestring;
            const char *r = cJSON_GetArrayItem(e, 1)->valuestring;
            ms[k] = malloc(strlen(l) + strlen(r) + 2);
            sprintf(ms[k], "%s %s", l, r);
        }
        mlens[k] = (uint32_t)strlen(ms[k]);
    }
    cJSON_Delete(root);
    tok_vocab v = {.n_tokens = n,
                   .tokens = (const char *const *)tokens,
                   .token_lens = lens,
                   .token_types = types,
                   .n_merges = nm,
                   .merges = (const char *const *)ms,
                   .merge_lens = mlens,
                   .bos = 2,
                   .eos = 1,
                   .pad = 0,
                   .unk = 3,
                   .add_bos = 1,
                   .model = "gemma4"};
    gemma_fixture *fx = calloc(1, sizeof *fx);
    char err[256];
    if (tok_create(&v, &fx->tok, err, sizeof err))
        fail_msg("%s", err);
    for (uint32_t i = 0; i < nm; i++)
        free(ms[i]);
    free(ms);
    free(mlens);
    free(lens);
    free(types);
    fx->tokens = tokens;
    fx->n = n;
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    gemma_fixture *fx = *state;
    if (!fx)
        return 0;
    tok_free(fx->tok);
    for (uint32_t i = 0; i < fx->n; i++)
        free(fx->tokens[i]);
    free(fx->tokens);
    free(fx);
    return 0;
}

static void test_published_chat_ids(void **state)
{
    gemma_fixture *fx = *state;
    if (!fx)
        skip();
    /* diffusiongemma.md §5 */
    const int32_t want[] = {2,   105, 2364, 107,  11355, 563, 506,   7217, 3730, 236881,
                            106, 107, 105,  4368, 107,   100, 45518, 107,  101};
    int32_t *ids;
    size_t n;
    char err[256];
    assert_int_equal(
        tok_chat_prompt(fx->tok, NULL, "Why is the sky blue?", &ids, &n, err, sizeof err), 0);
    for (size_t i = 0; i < n; i++)
        fprintf(stderr, "%d%s", ids[i], i + 1 < n ? "," : "\n");
    assert_int_equal(n, sizeof want / sizeof want[0]);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(ids[i], want[i]);
    free(ids);
}

static void test_round_trip_real_vocab(void **state)
{
    gemma_fixture *fx = *state;
    if (!fx)
        skip();
    const char *text = "Les \xc3\xa9l\xc3\xa8ves \xe4\xb8\xad\xe6\x96\x87 \xf0\x9f\xab\xa9 "
                       "  code:\n\tint x = 42;\n\n\nEnd.";
    int32_t *ids;
    size_t n;
    char err[256];
    assert_int_equal(tok_encode(fx->tok, text, strlen(text), &ids, &n, err, sizeof err), 0);
    assert_true(n > 5 && n < strlen(text));
    char *back;
    size_t bl;
    assert_int_equal(tok_decode(fx->tok, ids, n, 0, &back, &bl, err, sizeof err), 0);
    assert_string_equal(back, text);
    free(back);
    free(ids);
    /* " the" is one token, "▁the" = 506 */
    assert_int_equal(tok_encode(fx->tok, " the", 4, &ids, &n, err, sizeof err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(ids[0], 506);
    free(ids);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_published_chat_ids),
        cmocka_unit_test(test_round_trip_real_vocab),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
