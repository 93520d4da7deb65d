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

#include "adapters/kind.h"
#include "inference/tokenizer.h"

static int text_run(const adapter_job *job, adapter_result *res, char *err, size_t errlen)
{
    memset(res, 0, sizeof *res);
    if (!kind_utf8_valid(job->input, job->input_len)) {
        res->reject_code = REJECT_ADAPTER_PARSE;
        snprintf(err, errlen, "input is not valid UTF-8");
        return 0;
    }
    gen_params gp;
    uint32_t max_new_req;
    int krc = kind_params(job, &gp, &max_new_req, res, err, errlen);
    if (krc != KIND_OK)
        return krc == KIND_FAIL ? -1 : 0;

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
    krc = kind_generate(job, ids, n_ids, &gp, &gr, res, err, errlen);
    free(ids);
    if (krc != KIND_OK)
        return krc == KIND_FAIL ? -1 : 0;
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
