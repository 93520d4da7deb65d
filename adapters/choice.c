/*
 * The "choice" kind: pick one of 2..26 options.
 *
 *   input  = abi.encode(string prompt, string[] options): 2..26 options, each non-empty, all
 *            strings well-formed UTF-8 (anything else -> REJECT_ADAPTER_PARSE).
 *   params = as the text kind (empty, or abi.encode(uint32 maxNewTokens, uint32 steps)); the
 *            answer is 1 token (a nonzero maxNewTokens is fine: it is never below 1).
 *   output = abi.encode(uint256 index), 0-based index into options.
 *
 * The user turn (Gemma 4 chat template, no system prompt, thinking off) is
 *     {prompt}\n\nA. {options[0]}\nB. {options[1]}\n...\n\nAnswer with the letter of one option.
 * The answer is one token: the sampler restricts output position 0 to the label tokens of the
 * options (every normal token whose text, leading spaces removed, is exactly one of the
 * letters "A".."Z" of an option; A9c), and generation stops after it (maxNewTokens = 1). The
 * index is the letter's, so every seed gives a valid index, without retrying.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/kind.h"
#include "inference/tokenizer.h"
#include "oracle/abi.h"

#define CHOICE_MAX 26

static int choice_run(const adapter_job *job, adapter_result *res, char *err, size_t errlen)
{
    memset(res, 0, sizeof *res);
    const tokenizer *tok = engine_get_tokenizer(job->eng);
    uint32_t V = tok_n_vocab(tok);
    abi_type *ty = NULL;
    abi_value val;
    memset(&val, 0, sizeof val);
    char *user = NULL;
    int32_t *ids = NULL, *label_of = NULL;
    size_t n_ids = 0;
    gen_result gr;
    memset(&gr, 0, sizeof gr);
    rbuild rb;
    rb_init(&rb, V);
    int rc = KIND_FAIL;

    if (abi_type_parse("(string,string[])", &ty, err, errlen))
        goto out;
    char aerr[160];
    if (abi_decode(ty, job->input, job->input_len, &val, aerr, sizeof aerr)) {
        rc = kind_reject(res, REJECT_ADAPTER_PARSE, err, errlen,
                         "input is not abi.encode(string prompt, string[] options): %s", aerr);
        goto out;
    }
    const abi_value *prompt = &val.items[0], *opts = &val.items[1];
    size_t n = opts->n_items;
    if (n < 2 || n > CHOICE_MAX) {
        rc = kind_reject(res, REJECT_ADAPTER_PARSE, err, errlen,
                         "%zu options (a choice needs 2..%d)", n, CHOICE_MAX);
        goto out;
    }
    if (!kind_utf8_valid(prompt->data, prompt->len) || memchr(prompt->data, 0, prompt->len)) {
        rc = kind_reject(res, REJECT_ADAPTER_PARSE, err, errlen,
                         "the prompt is not UTF-8 text without NUL bytes");
        goto out;
    }
    size_t cap = prompt->len + 64;
    for (size_t i = 0; i < n; i++) {
        const abi_value *o = &opts->items[i];
        if (o->len == 0 || !kind_utf8_valid(o->data, o->len) || memchr(o->data, 0, o->len)) {
            rc = kind_reject(res, REJECT_ADAPTER_PARSE, err, errlen,
                             "option %zu is empty or not UTF-8 text without NUL bytes", i);
            goto out;
        }
        cap += o->len + 8;
    }
    gen_params gp;
    uint32_t max_new_req;
    if ((rc = kind_params(job, &gp, &max_new_req, res, err, errlen)) != KIND_OK)
        goto out;
    if ((rc = kind_fixed_length(job->eng, &gp, 1, max_new_req, res, err, errlen)) != KIND_OK)
        goto out;

    /* The label tokens. */
    rc = KIND_FAIL;
    label_of = malloc(V * sizeof *label_of);
    int k = rb_new_mask(&rb);
    if (!label_of || k < 0) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    uint8_t *m = rb_mask(&rb, k);
    int have[CHOICE_MAX] = {0};
    char buf[16];
    size_t len;
    for (uint32_t v = 0; v < V; v++) {
        label_of[v] = -1;
        const char *t = kind_token_text(tok, (int32_t)v, buf, sizeof buf, &len);
        if (!t)
            continue;
        while (len && *t == ' ')
            t++, len--;
        if (len == 1 && t[0] >= 'A' && t[0] < 'A' + (int)n) {
            label_of[v] = t[0] - 'A';
            m[v] = 1;
            have[t[0] - 'A'] = 1;
        }
    }
    for (size_t i = 0; i < n; i++)
        if (!have[i]) {
            rc = kind_reject(res, REJECT_ENGINE_FAILURE, err, errlen,
                             "the model's vocabulary has no token for the label %c", 'A' + (int)i);
            goto out;
        }
    if (rb_masked(&rb, k)) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    gp.restriction = rb_finish(&rb);

    /* The user turn. */
    if (!(user = malloc(cap))) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    size_t o = 0;
    memcpy(user, prompt->data, prompt->len);
    o = prompt->len;
    memcpy(user + o, "\n\n", 2);
    o += 2;
    for (size_t i = 0; i < n; i++) {
        user[o++] = (char)('A' + i);
        user[o++] = '.';
        user[o++] = ' ';
        memcpy(user + o, opts->items[i].data, opts->items[i].len);
        o += opts->items[i].len;
        user[o++] = '\n';
    }
    static const char ask[] = "\nAnswer with the letter of one option.";
    memcpy(user + o, ask, sizeof ask);
    const char *role = "user";
    const char *text = user;
    if ((rc = kind_chat_ids(tok, NULL, &role, &text, 1, &ids, &n_ids, res, err, errlen)) != KIND_OK)
        goto out;
    if ((rc = kind_generate(job, ids, n_ids, &gp, &gr, res, err, errlen)) != KIND_OK)
        goto out;
    if (gr.n_tokens < 1 || gr.tokens[0] < 0 || (uint32_t)gr.tokens[0] >= V ||
        label_of[gr.tokens[0]] < 0) {
        /* The restriction makes this impossible; refuse rather than answer wrongly. */
        rc = kind_reject(res, REJECT_ENGINE_FAILURE, err, errlen,
                         "the engine's answer is not a label token");
        goto out;
    }
    rc = kind_output_word(res, label_of[gr.tokens[0]], err, errlen);
out:
    gen_result_free(&gr);
    rb_free(&rb);
    free(ids);
    free(user);
    free(label_of);
    abi_value_free(&val);
    abi_type_free(ty);
    return rc == KIND_FAIL ? -1 : 0;
}

const adapter_def adapter_choice = {"choice", choice_run};
