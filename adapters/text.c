/*
 * The "text" adapter.
 *
 *   input  = the user's prompt, UTF-8 (invalid UTF-8 -> REJECT_ADAPTER_PARSE). The node applies the
 *            model's chat template (tok_chat_prompt: one user turn, no system prompt, thinking
 *            off), so a contract sends a question, not a raw token stream.
 *   params = empty (the model's defaults), or abi.encode(uint32 maxNewTokens, uint32 steps):
 *            exactly 64 bytes, canonical ABI; a 0 keeps that default. Anything else ->
 *            REJECT_PARAMS_INVALID; values the model refuses (gen_params_check) ->
 *            REJECT_PARAMS_INVALID.
 *   output = the generated text, UTF-8, control tokens (EOS, turn markers) removed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/adapter.h"
#include "inference/tokenizer.h"

/* 1 when p[0..n) is well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
static int utf8_valid(const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = p[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len;
        uint32_t cp;
        if (c >= 0xC2 && c <= 0xDF) {
            len = 2;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            len = 3;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            len = 4;
            cp = c & 0x07;
        } else {
            return 0;
        }
        if (n - i < len)
            return 0;
        for (size_t k = 1; k < len; k++) {
            if ((p[i + k] & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (p[i + k] & 0x3F);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += len;
    }
    return 1;
}

/* A canonical ABI uint32 word: 28 zero bytes then the value. */
static int abi_u32(const uint8_t w[32], uint32_t *out)
{
    for (int i = 0; i < 28; i++)
        if (w[i])
            return -1;
    *out = (uint32_t)w[28] << 24 | (uint32_t)w[29] << 16 | (uint32_t)w[30] << 8 | w[31];
    return 0;
}

static int text_run(const adapter_job *job, adapter_result *res, char *err, size_t errlen)
{
    memset(res, 0, sizeof *res);
    if (!utf8_valid(job->input, job->input_len)) {
        res->reject_code = REJECT_ADAPTER_PARSE;
        snprintf(err, errlen, "input is not valid UTF-8");
        return 0;
    }
    gen_params gp;
    gen_params_default(job->eng, &gp);
    gp.seed = job->seed;
    if (job->params_len) {
        uint32_t max_new, steps;
        if (job->params_len != 64 || abi_u32(job->params, &max_new) ||
            abi_u32(job->params + 32, &steps)) {
            res->reject_code = REJECT_PARAMS_INVALID;
            snprintf(err, errlen,
                     "params must be empty or abi.encode(uint32 maxNewTokens, uint32 steps) "
                     "(64 bytes), got %zu bytes",
                     job->params_len);
            return 0;
        }
        if (max_new)
            gp.max_new_tokens = max_new;
        if (steps)
            gp.max_steps = steps;
    }
    if (gen_params_check(job->eng, &gp, err, errlen)) {
        res->reject_code = REJECT_PARAMS_INVALID;
        return 0;
    }

    const tokenizer *tok = engine_get_tokenizer(job->eng);
    char *prompt = malloc(job->input_len + 1);
    if (!prompt) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    memcpy(prompt, job->input, job->input_len);
    prompt[job->input_len] = 0;
    int32_t *ids = NULL;
    size_t n_ids = 0;
    int rc = tok_chat_prompt(tok, NULL, prompt, &ids, &n_ids, err, errlen);
    free(prompt);
    if (rc) {
        res->reject_code = REJECT_ADAPTER_PARSE;
        return 0;
    }
    gen_result gr;
    memset(&gr, 0, sizeof gr);
    rc = engine_generate(job->eng, ids, (uint32_t)n_ids, &gp, job->on_step, job->step_user, &gr,
                         err, errlen);
    free(ids);
    if (rc == ENGINE_ECANCELLED) {
        res->cancelled = 1;
        return 0;
    }
    if (rc == ENGINE_ETOOLONG) {
        res->reject_code = REJECT_INPUT_TOO_LONG;
        return 0;
    }
    if (rc == ENGINE_EINVAL) {
        res->reject_code = REJECT_PARAMS_INVALID;
        return 0;
    }
    if (rc == ENGINE_ENOMEM || rc == ENGINE_EBACKEND) {
        return -1; /* a node problem, not the request's: do not attest it */
    }
    if (rc) {
        res->reject_code = REJECT_ENGINE_FAILURE;
        return 0;
    }
    res->engine_seconds = gr.seconds;
    res->n_tokens = gr.n_tokens;
    char *text = NULL;
    size_t text_len = 0;
    rc = tok_decode(tok, gr.tokens, gr.n_tokens, TOK_DECODE_SKIP_CONTROL, &text, &text_len, err,
                    errlen);
    gen_result_free(&gr);
    if (rc) {
        res->reject_code = REJECT_ENGINE_FAILURE;
        return 0;
    }
    res->output = (uint8_t *)text;
    res->output_len = text_len;
    return 0;
}

const adapter_def adapter_text = {"text", text_run};
