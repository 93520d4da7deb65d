/*
 * The "bool" kind: yes or no.
 *
 *   input  = abi.encode(string prompt), prompt well-formed UTF-8 without NUL bytes (anything
 *            else -> REJECT_ADAPTER_PARSE).
 *   params = as the text kind (the answer is 1 token).
 *   output = abi.encode(bool answer).
 *
 * The user turn is the prompt as given (Gemma 4 chat template, no system prompt, thinking off).
 * The answer is one token: the sampler restricts output position 0 to the yes and no tokens
 * (A9c) and generation stops after it (maxNewTokens = 1). Yes tokens: normal tokens whose text,
 * leading spaces removed and lowercased, is "yes" or "true"; no tokens: "no" or "false". A
 * vocabulary that lacks a yes or a no token of that kind (the small test vocabularies) uses the
 * single letters "y"/"t" (yes) and "n"/"f" (no), either case, instead. The answer is true iff the
 * token is a yes token, for every seed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/kind.h"
#include "inference/tokenizer.h"
#include "oracle/abi.h"

static int bool_run(const adapter_job *job, adapter_result *res, char *err, size_t errlen)
{
    memset(res, 0, sizeof *res);
    const tokenizer *tok = engine_get_tokenizer(job->eng);
    uint32_t V = tok_n_vocab(tok);
    abi_type *ty = NULL;
    abi_value val;
    memset(&val, 0, sizeof val);
    int32_t *ids = NULL;
    uint8_t *cls = NULL;
    size_t n_ids = 0;
    gen_result gr;
    memset(&gr, 0, sizeof gr);
    rbuild rb;
    rb_init(&rb, V);
    int rc = KIND_FAIL;

    if (abi_type_parse("(string)", &ty, err, errlen))
        goto out;
    char aerr[160];
    if (abi_decode(ty, job->input, job->input_len, &val, aerr, sizeof aerr)) {
        rc = kind_reject(res, REJECT_ADAPTER_PARSE, err, errlen,
                         "input is not abi.encode(string prompt): %s", aerr);
        goto out;
    }
    const abi_value *prompt = &val.items[0];
    if (!kind_utf8_valid(prompt->data, prompt->len) || memchr(prompt->data, 0, prompt->len)) {
        rc = kind_reject(res, REJECT_ADAPTER_PARSE, err, errlen,
                         "the prompt is not UTF-8 text without NUL bytes");
        goto out;
    }
    gen_params gp;
    uint32_t max_new_req;
    if ((rc = kind_params(job, &gp, &max_new_req, res, err, errlen)) != KIND_OK)
        goto out;
    if ((rc = kind_fixed_length(job->eng, &gp, 1, max_new_req, res, err, errlen)) != KIND_OK)
        goto out;

    rc = KIND_FAIL;
    cls = malloc(V);
    int k = rb_new_mask(&rb);
    if (!cls || k < 0) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    if (kind_bool_classes(tok, cls)) {
        rc = kind_reject(res, REJECT_ENGINE_FAILURE, err, errlen,
                         "the model's vocabulary has no yes/no tokens");
        goto out;
    }
    uint8_t *m = rb_mask(&rb, k);
    for (uint32_t v = 0; v < V; v++)
        m[v] = cls[v] != 0;
    if (rb_masked(&rb, k)) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    gp.restriction = rb_finish(&rb);
    const char *role = "user";
    const char *text = (const char *)prompt->data; /* NUL-terminated by abi_decode */
    if ((rc = kind_chat_ids(tok, NULL, &role, &text, 1, &ids, &n_ids, res, err, errlen)) != KIND_OK)
        goto out;
    if ((rc = kind_generate(job, ids, n_ids, &gp, &gr, res, err, errlen)) != KIND_OK)
        goto out;
    if (gr.n_tokens < 1 || cls[gr.tokens[0]] == 0) { /* the restriction makes this impossible */
        rc = kind_reject(res, REJECT_ENGINE_FAILURE, err, errlen,
                         "the engine's answer is not a yes/no token");
        goto out;
    }
    rc = kind_output_word(res, cls[gr.tokens[0]] == 1, err, errlen);
out:
    gen_result_free(&gr);
    rb_free(&rb);
    free(ids);
    free(cls);
    abi_value_free(&val);
    abi_type_free(ty);
    return rc == KIND_FAIL ? -1 : 0;
}

const adapter_def adapter_bool = {"bool", bool_run};
