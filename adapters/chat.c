/*
 * The "chat" kind: a conversation in, the model's next reply out.
 *
 *   input  = abi.encode(string[] roles, string[] contents), the same length n >= 1.
 *            roles[i] is "system" (allowed only at i = 0), "user" or "model"; after the
 *            optional system message the roles alternate user, model, user, ... and the last
 *            is "user". Every content is well-formed UTF-8 without NUL bytes. Anything else
 *            (bad ABI, lengths differ, unknown role, wrong order, bad UTF-8) ->
 *            REJECT_ADAPTER_PARSE.
 *   params = as the text kind: empty or abi.encode(uint32 maxNewTokens, uint32 steps).
 *   output = the reply, UTF-8, control tokens (EOS, turn markers) removed, like text.
 *
 * The prompt is the Gemma 4 chat template with thinking off (diffusiongemma.md §5):
 *   <bos>[<|turn>system\n{system}<turn|>\n]
 *   (<|turn>{role}\n{content}<turn|>\n)...  <|turn>model\n<|channel>thought\n<channel|>
 * each content stripped of leading/trailing ASCII whitespace, tokenized as one string (special
 * tokens inside a content are matched, as the reference does). Earlier model turns are
 * rendered as they are given (no thought channel). No restriction: the sampler runs as for
 * text.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/kind.h"
#include "inference/tokenizer.h"
#include "oracle/abi.h"

static int chat_run(const adapter_job *job, adapter_result *res, char *err, size_t errlen)
{
    memset(res, 0, sizeof *res);
    const tokenizer *tok = engine_get_tokenizer(job->eng);
    abi_type *ty = NULL;
    abi_value val;
    memset(&val, 0, sizeof val);
    const char **roles = NULL, **texts = NULL;
    int32_t *ids = NULL;
    size_t n_ids = 0;
    gen_result gr;
    memset(&gr, 0, sizeof gr);
    int rc = KIND_FAIL;

    if (abi_type_parse("(string[],string[])", &ty, err, errlen))
        goto out;
    char aerr[160];
    if (abi_decode(ty, job->input, job->input_len, &val, aerr, sizeof aerr)) {
        rc = kind_reject(res, REJECT_ADAPTER_PARSE, err, errlen,
                         "input is not abi.encode(string[] roles, string[] contents): %s", aerr);
        goto out;
    }
    const abi_value *r = &val.items[0], *c = &val.items[1];
    size_t n = r->n_items;
    if (n == 0 || c->n_items != n) {
        rc = kind_reject(res, REJECT_ADAPTER_PARSE, err, errlen,
                         "%zu roles and %zu contents (need the same number, at least 1)", n,
                         c->n_items);
        goto out;
    }
    roles = calloc(n, sizeof *roles);
    texts = calloc(n, sizeof *texts);
    if (!roles || !texts) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    const char *system = NULL;
    size_t nt = 0;
    for (size_t i = 0; i < n; i++) {
        const abi_value *ri = &r->items[i], *ci = &c->items[i];
        if (!kind_utf8_valid(ci->data, ci->len) || memchr(ci->data, 0, ci->len)) {
            rc = kind_reject(res, REJECT_ADAPTER_PARSE, err, errlen,
                             "content %zu is not UTF-8 text without NUL bytes", i);
            goto out;
        }
        const char *role = (const char *)ri->data;
        if (i == 0 && ri->len == 6 && !memcmp(role, "system", 6)) {
            system = (const char *)ci->data;
            continue;
        }
        const char *want = nt % 2 == 0 ? "user" : "model";
        if (ri->len != strlen(want) || memcmp(role, want, ri->len)) {
            rc = kind_reject(res, REJECT_ADAPTER_PARSE, err, errlen,
                             "role %zu must be \"%s\" (an optional system message first, then "
                             "user and model alternating, ending with user)",
                             i, want);
            goto out;
        }
        roles[nt] = want;
        texts[nt] = (const char *)ci->data;
        nt++;
    }
    if (nt == 0 || nt % 2 == 0) {
        rc = kind_reject(res, REJECT_ADAPTER_PARSE, err, errlen,
                         "the conversation must end with a user message");
        goto out;
    }
    gen_params gp;
    uint32_t max_new_req;
    if ((rc = kind_params(job, &gp, &max_new_req, res, err, errlen)) != KIND_OK)
        goto out;
    if ((rc = kind_chat_ids(tok, system, roles, texts, nt, &ids, &n_ids, res, err, errlen)) !=
        KIND_OK)
        goto out;
    if ((rc = kind_generate(job, ids, n_ids, &gp, &gr, res, err, errlen)) != KIND_OK)
        goto out;
    char *text = NULL;
    size_t text_len = 0;
    if (tok_decode(tok, gr.tokens, gr.n_tokens, TOK_DECODE_SKIP_CONTROL, &text, &text_len, err,
                   errlen)) {
        rc = kind_reject(res, REJECT_ENGINE_FAILURE, err, errlen, "cannot decode the answer");
        goto out;
    }
    res->output = (uint8_t *)text;
    res->output_len = text_len;
    rc = KIND_OK;
out:
    gen_result_free(&gr);
    free(ids);
    free(roles);
    free(texts);
    abi_value_free(&val);
    abi_type_free(ty);
    return rc == KIND_FAIL ? -1 : 0;
}

const adapter_def adapter_chat = {"chat", chat_run};
