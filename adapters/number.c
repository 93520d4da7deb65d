/*
 * The "number" kind: an integer in a declared range.
 *
 *   input  = abi.encode(string prompt, int256 min, int256 max): min <= max, both in
 *            [-(10^18 - 1), 10^18 - 1], prompt well-formed UTF-8 without NUL bytes (anything
 *            else -> REJECT_ADAPTER_PARSE).
 *   params = as the text kind; a nonzero maxNewTokens below the answer's length (D or D + 1,
 *            below) -> REJECT_PARAMS_INVALID.
 *   output = abi.encode(int256 value) with min <= value <= max, for every seed.
 *
 * The user turn is the prompt as given (Gemma 4 chat template, no system prompt, thinking off):
 * the contract writes its own question ("How many ...? Answer with a number."). Let D be the
 * number of decimal digits of max(|min|, |max|) (at least 1). The sampler restricts the
 * answer's positions (A9c): a "digit" is a normal token whose text is exactly one of "0".."9",
 * "minus" one whose text is exactly "-", "end" any end-of-generation token (tok_is_eog):
 *     min >= 0:  position 0 a digit; positions 1..D-1 a digit or end. At most D digits.
 *     min <  0:  position 0 minus or a digit; positions 1..D a digit or end. At most D+1
 *                digits (or minus and D digits).
 * and generation stops after those positions (maxNewTokens = D, or D + 1 when min < 0). No
 * end token is forced after the last digit: forcing one told the demo model how many digits
 * to write, and it then wrote wrong ones (docs/arithmetic.md A9c).
 * Reading (part of the kind's definition): the answer's tokens up to the first end token are
 * an optional minus then decimal digits (leading zeros allowed); no digit at all reads as 0;
 * the value is then clamped (saturated) to [min, max]: anything below min gives min, above max
 * gives max. So "a number answer always parses and is in range" holds for every seed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/kind.h"
#include "inference/tokenizer.h"
#include "oracle/abi.h"

#define NUMBER_LIMIT 999999999999999999LL /* 10^18 - 1 */

/* An int256 ABI word that fits [-(10^18-1), 10^18-1]; 0 or -1. */
static int word_i64(const uint8_t w[32], int64_t *out)
{
    uint8_t fill = (w[24] & 0x80) ? 0xFF : 0x00;
    for (int i = 0; i < 24; i++)
        if (w[i] != fill)
            return -1;
    uint64_t u = 0;
    for (int i = 24; i < 32; i++)
        u = u << 8 | w[i];
    int64_t x = (int64_t)u;
    if (x > NUMBER_LIMIT || x < -NUMBER_LIMIT)
        return -1;
    *out = x;
    return 0;
}

static int n_digits(uint64_t x)
{
    int d = 1;
    while (x >= 10) {
        x /= 10;
        d++;
    }
    return d;
}

static int number_run(const adapter_job *job, adapter_result *res, char *err, size_t errlen)
{
    memset(res, 0, sizeof *res);
    const tokenizer *tok = engine_get_tokenizer(job->eng);
    uint32_t V = tok_n_vocab(tok);
    abi_type *ty = NULL;
    abi_value val;
    memset(&val, 0, sizeof val);
    char *user = NULL;
    int32_t *ids = NULL;
    int8_t *cls = NULL; /* 0..9 digit, 10 minus, -1 other */
    size_t n_ids = 0;
    gen_result gr;
    memset(&gr, 0, sizeof gr);
    rbuild rb;
    rb_init(&rb, V);
    int rc = KIND_FAIL;

    if (abi_type_parse("(string,int256,int256)", &ty, err, errlen))
        goto out;
    char aerr[160];
    if (abi_decode(ty, job->input, job->input_len, &val, aerr, sizeof aerr)) {
        rc =
            kind_reject(res, REJECT_ADAPTER_PARSE, err, errlen,
                        "input is not abi.encode(string prompt, int256 min, int256 max): %s", aerr);
        goto out;
    }
    const abi_value *prompt = &val.items[0];
    int64_t lo, hi;
    if (word_i64(val.items[1].word, &lo) || word_i64(val.items[2].word, &hi)) {
        rc = kind_reject(res, REJECT_ADAPTER_PARSE, err, errlen,
                         "min and max must lie in [-(10^18-1), 10^18-1]");
        goto out;
    }
    if (lo > hi) {
        rc = kind_reject(res, REJECT_ADAPTER_PARSE, err, errlen,
                         "min %lld is greater than max %lld", (long long)lo, (long long)hi);
        goto out;
    }
    if (!kind_utf8_valid(prompt->data, prompt->len) || memchr(prompt->data, 0, prompt->len)) {
        rc = kind_reject(res, REJECT_ADAPTER_PARSE, err, errlen,
                         "the prompt is not UTF-8 text without NUL bytes");
        goto out;
    }
    uint64_t alo = lo < 0 ? (uint64_t)(-lo) : (uint64_t)lo;
    uint64_t ahi = hi < 0 ? (uint64_t)(-hi) : (uint64_t)hi;
    int D = n_digits(alo > ahi ? alo : ahi);
    int neg = lo < 0;
    gen_params gp;
    uint32_t max_new_req;
    if ((rc = kind_params(job, &gp, &max_new_req, res, err, errlen)) != KIND_OK)
        goto out;
    uint32_t L = (uint32_t)D + (uint32_t)neg;
    if ((rc = kind_fixed_length(job->eng, &gp, L, max_new_req, res, err, errlen)) != KIND_OK)
        goto out;

    rc = KIND_FAIL;
    cls = malloc(V);
    int first = rb_new_mask(&rb), rest = rb_new_mask(&rb);
    if (!cls || first < 0 || rest < 0) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    uint8_t *mf = rb_mask(&rb, first), *mr = rb_mask(&rb, rest);
    int have_digit[10] = {0}, have_minus = 0;
    char buf[8];
    size_t len;
    for (uint32_t v = 0; v < V; v++) {
        cls[v] = -1;
        const char *t = kind_token_text(tok, (int32_t)v, buf, sizeof buf, &len);
        if (!t || len != 1)
            continue;
        if (t[0] >= '0' && t[0] <= '9') {
            cls[v] = (int8_t)(t[0] - '0');
            have_digit[t[0] - '0'] = 1;
            mf[v] = mr[v] = 1;
        } else if (t[0] == '-' && neg) {
            cls[v] = 10;
            have_minus = 1;
            mf[v] = 1;
        }
    }
    for (int d = 0; d < 10; d++)
        if (!have_digit[d]) {
            rc = kind_reject(res, REJECT_ENGINE_FAILURE, err, errlen,
                             "the model's vocabulary has no token for the digit %d", d);
            goto out;
        }
    if (neg && !have_minus) {
        rc = kind_reject(res, REJECT_ENGINE_FAILURE, err, errlen,
                         "the model's vocabulary has no minus token");
        goto out;
    }
    kind_mark_end(tok, mr);
    int bad = rb_masked(&rb, first);
    for (uint32_t j = 1; j < L; j++)
        bad |= rb_masked(&rb, rest);
    if (bad) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    gp.restriction = rb_finish(&rb);

    if (!(user = malloc(prompt->len + 1))) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    memcpy(user, prompt->data, prompt->len);
    user[prompt->len] = 0;
    const char *role = "user";
    const char *text = user;
    if ((rc = kind_chat_ids(tok, NULL, &role, &text, 1, &ids, &n_ids, res, err, errlen)) != KIND_OK)
        goto out;
    if ((rc = kind_generate(job, ids, n_ids, &gp, &gr, res, err, errlen)) != KIND_OK)
        goto out;

    /* Read: optional minus, digits; saturate at 10^18 (beyond any bound), then clamp. */
    size_t n = kind_answer_len(tok, &gr), i = 0;
    int minus = 0;
    if (n > 0 && cls[gr.tokens[0]] == 10) {
        minus = 1;
        i = 1;
    }
    uint64_t ux = 0; /* stays below 10^19 + 9: fits */
    for (; i < n; i++) {
        int c = cls[gr.tokens[i]];
        if (c < 0 || c > 9) { /* the restriction makes this impossible */
            rc = kind_reject(res, REJECT_ENGINE_FAILURE, err, errlen,
                             "the engine's answer has a token that is not a digit");
            goto out;
        }
        ux = ux * 10 + (uint64_t)c;
        if (ux > (uint64_t)NUMBER_LIMIT)
            ux = (uint64_t)NUMBER_LIMIT + 1;
    }
    int64_t x = (int64_t)ux;
    if (minus)
        x = -x;
    if (x < lo)
        x = lo;
    if (x > hi)
        x = hi;
    rc = kind_output_word(res, x, err, errlen);
out:
    gen_result_free(&gr);
    rb_free(&rb);
    free(ids);
    free(user);
    free(cls);
    abi_value_free(&val);
    abi_type_free(ty);
    return rc == KIND_FAIL ? -1 : 0;
}

const adapter_def adapter_number = {"number", number_run};
