/*
 * The "json" kind: an answer that always parses as JSON, optionally of a fixed flat shape.
 *
 *   input  = abi.encode(string prompt, string schema), both well-formed UTF-8 without NUL
 *            bytes. schema is "" (any JSON value) or a JSON object of 1..16 distinct keys
 *            (1..64 bytes each) whose values are the strings "string", "number" or "bool".
 *            Anything else -> REJECT_ADAPTER_PARSE.
 *   params = as the text kind; a nonzero maxNewTokens below the layout's length (below) ->
 *            REJECT_PARAMS_INVALID.
 *   output = UTF-8 JSON text, compact (no whitespace): with a schema an object with exactly
 *            the schema's keys in the schema's order, values of the declared types
 *            ({"name":"Ada","age":36,"ok":true}); without one a JSON string ("...").
 *
 * The user turn is the prompt as given (Gemma 4 chat template, thinking off). The answer has a
 * fixed layout of token positions that the sampler restricts (A9c); the skeleton is forced
 * token by token (each piece tokenized on its own) and each value gets a slot:
 *     {"k1": <slot>, "k2": "<slot>"}      (a string value's quotes are skeleton)
 *   number slot, 12 positions: position 0 a digit or "-"; the others a digit, "." or a
 *     terminator (a token whose text starts with ",", "}" or is only spaces/newlines).
 *   string slot, 24 positions: safe tokens (normal tokens whose text is valid UTF-8 without
 *     '"', '\' or control characters) or a quote token (text starting with '"').
 *   bool slot, 1 position: the bool kind's yes/no tokens (adapters/bool.c).
 *   no schema: "\"", a 48-position string slot, "\"".
 * Generation stops after the layout (maxNewTokens = its length).
 * Classes come from reading every vocabulary entry once. Reading a slot (part of the kind's
 * definition): a string value is the text of its tokens before the first quote token; a
 * number value is an optional "-", the digits, then optionally "." and digits, read until a
 * terminator or anything that does not continue that form (a second "."); it is written in
 * canonical JSON form: no leading zeros (no digits reads as 0), a "." without digits after it
 * dropped, "-" kept only before a nonzero value; a bool is true for a yes token. The output is
 * built from these values with JSON escaping, so it parses for every seed.
 */
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/kind.h"
#include "inference/tokenizer.h"
#include "oracle/abi.h"
#include "oracle/buf.h"

#define JSON_MAX_KEYS 16
#define JSON_MAX_KEY_BYTES 64
#define JSON_NUMBER_SLOT 12
#define JSON_STRING_SLOT 24
#define JSON_FREE_SLOT 48

enum { T_STRING, T_NUMBER, T_BOOL };
enum {
    C_DIGIT = 1,
    C_MINUS = 2,
    C_POINT = 4,
    C_NUMTERM = 8,
    C_SAFE = 16,
    C_QUOTE = 32,
    C_YES = 64,
    C_NO = 128
};

typedef struct {
    char *key; /* decoded (UTF-8) */
    int type;
    uint32_t slot_pos; /* first output position of its slot */
} field;

/* Appends s[0..n) as the inside of a JSON string (quotes not included). Allocation failures
 * show in buf_ok, as for every buf. */
static void put_escaped(buf *b, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char e[8];
        if (c == '"' || c == '\\') {
            e[0] = '\\';
            e[1] = (char)c;
            buf_append(b, e, 2);
        } else if (c < 0x20) {
            snprintf(e, sizeof e, "\\u%04x", c);
            buf_append(b, e, 6);
        } else {
            buf_append(b, &s[i], 1);
        }
    }
}

static void put(buf *b, const char *s)
{
    buf_append(b, s, strlen(s));
}

/* The schema's fields; 0 or a message in err (the caller rejects). */
static int parse_schema(const char *schema, field *fs, size_t *nf, char *err, size_t errlen)
{
    *nf = 0;
    cJSON *root = cJSON_ParseWithOpts(schema, NULL, 1);
    if (!root) {
        snprintf(err, errlen, "the schema is not JSON");
        return -1;
    }
    int rc = -1;
    if (!cJSON_IsObject(root)) {
        snprintf(err, errlen, "the schema must be a JSON object of key -> type");
        goto out;
    }
    for (cJSON *it = root->child; it; it = it->next) {
        if (*nf == JSON_MAX_KEYS) {
            snprintf(err, errlen, "the schema has more than %d keys", JSON_MAX_KEYS);
            goto out;
        }
        const char *k = it->string;
        size_t kl = k ? strlen(k) : 0;
        if (kl == 0 || kl > JSON_MAX_KEY_BYTES || !kind_utf8_valid((const uint8_t *)k, kl)) {
            snprintf(err, errlen, "schema key %zu must be 1..%d bytes of UTF-8", *nf,
                     JSON_MAX_KEY_BYTES);
            goto out;
        }
        for (size_t i = 0; i < *nf; i++)
            if (!strcmp(fs[i].key, k)) {
                snprintf(err, errlen, "schema key \"%s\" appears twice", k);
                goto out;
            }
        const char *t = cJSON_IsString(it) ? it->valuestring : NULL;
        int type;
        if (t && !strcmp(t, "string"))
            type = T_STRING;
        else if (t && !strcmp(t, "number"))
            type = T_NUMBER;
        else if (t && !strcmp(t, "bool"))
            type = T_BOOL;
        else {
            snprintf(err, errlen,
                     "schema key \"%s\": the type must be \"string\", \"number\" or "
                     "\"bool\"",
                     k);
            goto out;
        }
        if (!(fs[*nf].key = strdup(k))) {
            snprintf(err, errlen, "out of memory");
            rc = -2;
            goto out;
        }
        fs[*nf].type = type;
        (*nf)++;
    }
    if (*nf == 0) {
        snprintf(err, errlen, "the schema has no keys");
        goto out;
    }
    rc = 0;
out:
    cJSON_Delete(root);
    return rc;
}

/* Token classes (C_* bits) of every vocabulary entry. */
static int classify(const tokenizer *tok, uint8_t *cls)
{
    uint32_t V = tok_n_vocab(tok);
    if (kind_bool_classes(tok, cls))
        return -1;
    for (uint32_t v = 0; v < V; v++)
        cls[v] = cls[v] == 1 ? C_YES : cls[v] == 2 ? C_NO : 0;
    char buf[256];
    size_t len;
    for (uint32_t v = 0; v < V; v++) {
        const char *t = kind_token_text(tok, (int32_t)v, buf, sizeof buf, &len);
        if (!t || len == 0)
            continue;
        if (len == 1 && t[0] >= '0' && t[0] <= '9')
            cls[v] |= C_DIGIT;
        if (len == 1 && t[0] == '-')
            cls[v] |= C_MINUS;
        if (len == 1 && t[0] == '.')
            cls[v] |= C_POINT;
        if (t[0] == '"')
            cls[v] |= C_QUOTE;
        int blank = 1, safe = kind_utf8_valid((const uint8_t *)t, len);
        for (size_t i = 0; i < len; i++) {
            unsigned char c = (unsigned char)t[i];
            if (c != ' ' && c != '\n')
                blank = 0;
            if (c < 0x20 || c == '"' || c == '\\')
                safe = 0;
        }
        if (t[0] == ',' || t[0] == '}' || blank)
            cls[v] |= C_NUMTERM;
        if (safe)
            cls[v] |= C_SAFE;
    }
    return 0;
}

/* Appends the canonical JSON number read from toks[0..n). */
static void put_number(buf *b, const uint8_t *cls, const tokenizer *tok, const int32_t *toks,
                       size_t n)
{
    char ip[JSON_NUMBER_SLOT + 2], fp[JSON_NUMBER_SLOT + 2];
    size_t ni = 0, nfp = 0, i = 0;
    int minus = 0, point = 0;
    char tb[8];
    size_t tl;
    if (n && (cls[toks[0]] & C_MINUS))
        minus = 1, i = 1;
    for (; i < n; i++) {
        uint8_t c = cls[toks[i]];
        if (c & C_DIGIT) {
            const char *t = kind_token_text(tok, toks[i], tb, sizeof tb, &tl);
            if (point)
                fp[nfp++] = t[0];
            else
                ip[ni++] = t[0];
        } else if ((c & C_POINT) && !point) {
            point = 1;
        } else {
            break; /* a terminator, or a form that does not continue */
        }
    }
    size_t s = 0;
    while (s + 1 < ni && ip[s] == '0')
        s++;
    if (ni == 0)
        ip[ni++] = '0';
    int nonzero = 0;
    for (size_t k = s; k < ni; k++)
        nonzero |= ip[k] != '0';
    for (size_t k = 0; k < nfp; k++)
        nonzero |= fp[k] != '0';
    if (minus && nonzero)
        buf_append(b, "-", 1);
    buf_append(b, ip + s, ni - s);
    if (nfp) {
        buf_append(b, ".", 1);
        buf_append(b, fp, nfp);
    }
}

/* Appends the JSON string read from toks[0..n): the text before the first quote token. */
static void put_string(buf *b, const uint8_t *cls, const tokenizer *tok, const int32_t *toks,
                       size_t n)
{
    buf_append(b, "\"", 1);
    char tb[256];
    size_t tl;
    for (size_t i = 0; i < n && !(cls[toks[i]] & C_QUOTE); i++) {
        const char *t = kind_token_text(tok, toks[i], tb, sizeof tb, &tl);
        if (t) /* every slot token is a safe one, so t is never NULL */
            put_escaped(b, t, tl);
    }
    buf_append(b, "\"", 1);
}

static int json_run(const adapter_job *job, adapter_result *res, char *err, size_t errlen)
{
    memset(res, 0, sizeof *res);
    const tokenizer *tok = engine_get_tokenizer(job->eng);
    uint32_t V = tok_n_vocab(tok);
    abi_type *ty = NULL;
    abi_value val;
    memset(&val, 0, sizeof val);
    int32_t *ids = NULL;
    uint8_t *cls = NULL;
    size_t n_ids = 0, nf = 0;
    field fs[JSON_MAX_KEYS];
    memset(fs, 0, sizeof fs);
    gen_result gr;
    memset(&gr, 0, sizeof gr);
    rbuild rb;
    rb_init(&rb, V);
    buf out;
    buf_init(&out);
    buf seg;
    buf_init(&seg);
    int rc = KIND_FAIL;

    if (abi_type_parse("(string,string)", &ty, err, errlen))
        goto out;
    char aerr[160];
    if (abi_decode(ty, job->input, job->input_len, &val, aerr, sizeof aerr)) {
        rc = kind_reject(res, REJECT_ADAPTER_PARSE, err, errlen,
                         "input is not abi.encode(string prompt, string schema): %s", aerr);
        goto out;
    }
    const abi_value *prompt = &val.items[0], *schema = &val.items[1];
    for (int i = 0; i < 2; i++) {
        const abi_value *s = &val.items[i];
        if (!kind_utf8_valid(s->data, s->len) || memchr(s->data, 0, s->len)) {
            rc = kind_reject(res, REJECT_ADAPTER_PARSE, err, errlen,
                             "the %s is not UTF-8 text without NUL bytes", i ? "schema" : "prompt");
            goto out;
        }
    }
    if (schema->len) {
        int prc = parse_schema((const char *)schema->data, fs, &nf, err, errlen);
        if (prc == -2)
            goto out;
        if (prc) {
            rc = KIND_REJECTED;
            res->reject_code = REJECT_ADAPTER_PARSE;
            goto out;
        }
    }
    gen_params gp;
    uint32_t max_new_req;
    if ((rc = kind_params(job, &gp, &max_new_req, res, err, errlen)) != KIND_OK)
        goto out;

    rc = KIND_FAIL;
    if (!(cls = malloc(V))) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    if (classify(tok, cls)) {
        rc = kind_reject(res, REJECT_ENGINE_FAILURE, err, errlen,
                         "the model's vocabulary has no yes/no tokens");
        goto out;
    }
    /* Masks: 0 number first, 1 number rest, 2 string, 3 bool. */
    static const uint8_t need[4] = {C_DIGIT | C_MINUS, C_DIGIT | C_POINT | C_NUMTERM,
                                    C_SAFE | C_QUOTE, C_YES | C_NO};
    for (int k = 0; k < 4; k++) {
        int mk = rb_new_mask(&rb);
        if (mk < 0) {
            snprintf(err, errlen, "out of memory");
            goto out;
        }
        uint8_t *m = rb_mask(&rb, mk);
        uint32_t cnt = 0;
        for (uint32_t v = 0; v < V; v++)
            if (cls[v] & need[k])
                m[v] = 1, cnt++;
        if (cnt == 0) {
            rc = kind_reject(res, REJECT_ENGINE_FAILURE, err, errlen,
                             "the model's vocabulary lacks the tokens of a JSON slot");
            goto out;
        }
    }
    int frc = 0;
    if (nf == 0) {
        frc = rb_force_text(&rb, tok, "\"", err, errlen);
        for (uint32_t j = 0; j < JSON_FREE_SLOT && !frc; j++)
            frc = rb_masked(&rb, 2);
        if (!frc)
            frc = rb_force_text(&rb, tok, "\"", err, errlen);
    } else {
        for (size_t i = 0; i <= nf && !frc; i++) {
            buf_reset(&seg);
            if (i > 0 && fs[i - 1].type == T_STRING)
                put(&seg, "\"");
            if (i == nf) {
                put(&seg, "}");
            } else {
                put(&seg, i == 0 ? "{\"" : ", \"");
                put_escaped(&seg, fs[i].key, strlen(fs[i].key));
                put(&seg, fs[i].type == T_STRING ? "\": \"" : "\": ");
            }
            buf_append(&seg, "", 1); /* NUL-terminate */
            if (buf_ok(&seg)) {
                snprintf(err, errlen, "out of memory");
                goto out;
            }
            frc = rb_force_text(&rb, tok, (const char *)seg.data, err, errlen);
            if (frc || i == nf)
                break;
            fs[i].slot_pos = rb.n;
            if (fs[i].type == T_NUMBER) {
                frc = rb_masked(&rb, 0);
                for (uint32_t j = 1; j < JSON_NUMBER_SLOT && !frc; j++)
                    frc = rb_masked(&rb, 1);
            } else if (fs[i].type == T_STRING) {
                for (uint32_t j = 0; j < JSON_STRING_SLOT && !frc; j++)
                    frc = rb_masked(&rb, 2);
            } else {
                frc = rb_masked(&rb, 3);
            }
        }
    }
    if (frc == -2) { /* a key whose text is an end-of-generation token */
        rc = KIND_REJECTED;
        res->reject_code = REJECT_ADAPTER_PARSE;
        goto out;
    }
    if (frc) {
        if (!err[0])
            snprintf(err, errlen, "out of memory");
        goto out;
    }
    if ((rc = kind_fixed_length(job->eng, &gp, rb.n, max_new_req, res, err, errlen)) != KIND_OK)
        goto out;
    gp.restriction = rb_finish(&rb);

    const char *role = "user";
    const char *text = (const char *)prompt->data;
    if ((rc = kind_chat_ids(tok, NULL, &role, &text, 1, &ids, &n_ids, res, err, errlen)) != KIND_OK)
        goto out;
    if ((rc = kind_generate(job, ids, n_ids, &gp, &gr, res, err, errlen)) != KIND_OK)
        goto out;
    if (gr.n_tokens != rb.n) { /* no end token can occur inside the layout */
        rc = kind_reject(res, REJECT_ENGINE_FAILURE, err, errlen,
                         "the engine's answer has %u tokens, the layout %u", gr.n_tokens, rb.n);
        goto out;
    }
    rc = KIND_FAIL;
    if (nf == 0) {
        put_string(&out, cls, tok, gr.tokens + 1, JSON_FREE_SLOT);
    } else {
        put(&out, "{");
        for (size_t i = 0; i < nf; i++) {
            const int32_t *t = gr.tokens + fs[i].slot_pos;
            put(&out, i ? ",\"" : "\"");
            put_escaped(&out, fs[i].key, strlen(fs[i].key));
            put(&out, "\":");
            if (fs[i].type == T_NUMBER)
                put_number(&out, cls, tok, t, JSON_NUMBER_SLOT);
            else if (fs[i].type == T_STRING)
                put_string(&out, cls, tok, t, JSON_STRING_SLOT);
            else
                put(&out, (cls[t[0]] & C_YES) ? "true" : "false");
        }
        put(&out, "}");
    }
    if (buf_ok(&out)) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    res->output = out.data;
    res->output_len = out.len;
    buf_init(&out);
    rc = KIND_OK;
out:
    buf_free(&out);
    buf_free(&seg);
    gen_result_free(&gr);
    rb_free(&rb);
    free(ids);
    free(cls);
    for (size_t i = 0; i < nf; i++)
        free(fs[i].key);
    abi_value_free(&val);
    abi_type_free(ty);
    return rc == KIND_FAIL ? -1 : 0;
}

const adapter_def adapter_json = {"json", json_run};
