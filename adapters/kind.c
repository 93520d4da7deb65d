/* What the request kinds share: see kind.h. */
#include "adapters/kind.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inference/tokenizer.h"

#define SPACE_MARK "\xe2\x96\x81" /* U+2581, a space inside pieces */

int kind_utf8_valid(const uint8_t *p, size_t n)
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

int kind_reject(adapter_result *res, int code, char *err, size_t errlen, const char *fmt, ...)
{
    res->reject_code = code;
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return KIND_REJECTED;
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

int kind_params(const adapter_job *job, gen_params *gp, uint32_t *max_new_req, adapter_result *res,
                char *err, size_t errlen)
{
    gen_params_default(job->eng, gp);
    gp->seed = job->seed;
    *max_new_req = 0;
    if (job->params_len) {
        uint32_t max_new, steps;
        if (job->params_len != 64 || abi_u32(job->params, &max_new) ||
            abi_u32(job->params + 32, &steps))
            return kind_reject(res, REJECT_PARAMS_INVALID, err, errlen,
                               "params must be empty or abi.encode(uint32 maxNewTokens, uint32 "
                               "steps) (64 bytes), got %zu bytes",
                               job->params_len);
        if (max_new)
            gp->max_new_tokens = max_new;
        if (steps)
            gp->max_steps = steps;
        *max_new_req = max_new;
    }
    if (gen_params_check(job->eng, gp, err, errlen)) {
        res->reject_code = REJECT_PARAMS_INVALID;
        return KIND_REJECTED;
    }
    return KIND_OK;
}

/* Leading/trailing ASCII whitespace removed, as Python's str.strip() on ASCII (the template's
 * content.strip(), like tok_chat_prompt). */
static void strip_ascii(const char **s, size_t *n)
{
    while (*n && strchr(" \t\n\r\f\v", (*s)[0]))
        (*s)++, (*n)--;
    while (*n && strchr(" \t\n\r\f\v", (*s)[*n - 1]))
        (*n)--;
}

int kind_chat_ids(const tokenizer *tok, const char *system, const char *const *roles,
                  const char *const *texts, size_t n, int32_t **ids, size_t *n_ids,
                  adapter_result *res, char *err, size_t errlen)
{
    *ids = NULL;
    *n_ids = 0;
    static const char *const needed[] = {"<bos>", "<|turn>", "<turn|>", "<|channel>", "<channel|>"};
    for (size_t i = 0; i < sizeof needed / sizeof needed[0]; i++) {
        int32_t id = tok_find(tok, needed[i], strlen(needed[i]));
        if (id < 0 || tok_type(tok, id) == TOK_TYPE_NORMAL || tok_type(tok, id) == TOK_TYPE_BYTE)
            return kind_reject(res, REJECT_ADAPTER_PARSE, err, errlen,
                               "the model's vocabulary has no chat template token %s", needed[i]);
    }
    static const char end_turn[] = "<turn|>\n";
    static const char tail[] = "<|turn>model\n<|channel>thought\n<channel|>";
    size_t cap = 5 + sizeof tail;
    if (system)
        cap += strlen(system) + 32;
    for (size_t i = 0; i < n; i++)
        cap += strlen(texts[i]) + strlen(roles[i]) + 32;
    char *s = malloc(cap);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return KIND_FAIL;
    }
    size_t o = 0;
#define PUT(p, l)                                                                                  \
    do {                                                                                           \
        memcpy(s + o, (p), (l));                                                                   \
        o += (l);                                                                                  \
    } while (0)
    PUT("<bos>", 5);
    for (size_t i = 0; i < n + (system != NULL); i++) {
        const char *role = "system", *t = system;
        if (system == NULL || i > 0) {
            role = roles[i - (system != NULL)];
            t = texts[i - (system != NULL)];
        }
        size_t tl = strlen(t);
        strip_ascii(&t, &tl);
        PUT("<|turn>", 7);
        PUT(role, strlen(role));
        PUT("\n", 1);
        PUT(t, tl);
        PUT(end_turn, sizeof end_turn - 1);
    }
    PUT(tail, sizeof tail - 1);
#undef PUT
    int rc = tok_encode(tok, s, o, ids, n_ids, err, errlen);
    free(s);
    if (rc)
        return KIND_FAIL;
    return KIND_OK;
}

int kind_generate(const adapter_job *job, const int32_t *ids, size_t n_ids, const gen_params *gp,
                  gen_result *gr, adapter_result *res, char *err, size_t errlen)
{
    memset(gr, 0, sizeof *gr);
    int rc = engine_generate(job->eng, ids, (uint32_t)n_ids, gp, job->on_step, job->step_user, gr,
                             err, errlen);
    if (rc == 0) {
        res->engine_seconds = gr->seconds;
        res->n_tokens = gr->n_tokens;
        return KIND_OK;
    }
    if (rc == ENGINE_ECANCELLED) {
        res->cancelled = 1;
        return KIND_REJECTED;
    }
    if (rc == ENGINE_ETOOLONG) {
        res->reject_code = REJECT_INPUT_TOO_LONG;
        return KIND_REJECTED;
    }
    if (rc == ENGINE_EINVAL) {
        res->reject_code = REJECT_PARAMS_INVALID;
        return KIND_REJECTED;
    }
    if (rc == ENGINE_ENOMEM || rc == ENGINE_EBACKEND)
        return KIND_FAIL; /* a node problem, not the request's: do not attest it */
    res->reject_code = REJECT_ENGINE_FAILURE;
    return KIND_REJECTED;
}

/* ---- token classes ---- */

const char *kind_token_text(const tokenizer *tok, int32_t id, char *buf, size_t cap, size_t *len)
{
    if (tok_type(tok, id) != TOK_TYPE_NORMAL)
        return NULL;
    size_t pl;
    const char *p = tok_piece(tok, id, &pl);
    if (!p)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < pl;) {
        if (pl - i >= 3 && !memcmp(p + i, SPACE_MARK, 3)) {
            if (o + 1 >= cap)
                return NULL;
            buf[o++] = ' ';
            i += 3;
        } else {
            if (o + 1 >= cap)
                return NULL;
            buf[o++] = p[i++];
        }
    }
    buf[o] = 0;
    *len = o;
    return buf;
}

uint32_t kind_mark_end(const tokenizer *tok, uint8_t *mask)
{
    uint32_t V = tok_n_vocab(tok), n = 0;
    for (uint32_t v = 0; v < V; v++)
        if (tok_is_eog(tok, (int32_t)v)) {
            mask[v] = 1;
            n++;
        }
    return n;
}

/* s[0..n) without leading spaces, lowercased ASCII, into out (cap bytes); 0 or -1 if too long. */
static int fold(const char *s, size_t n, char *out, size_t cap)
{
    while (n && *s == ' ')
        s++, n--;
    if (n + 1 > cap)
        return -1;
    for (size_t i = 0; i < n; i++)
        out[i] = (s[i] >= 'A' && s[i] <= 'Z') ? (char)(s[i] - 'A' + 'a') : s[i];
    out[n] = 0;
    return 0;
}

int kind_bool_classes(const tokenizer *tok, uint8_t *cls)
{
    uint32_t V = tok_n_vocab(tok);
    memset(cls, 0, V);
    int have_yes = 0, have_no = 0;
    char buf[64], f[16];
    size_t len;
    for (uint32_t v = 0; v < V; v++) {
        const char *t = kind_token_text(tok, (int32_t)v, buf, sizeof buf, &len);
        if (!t || fold(t, len, f, sizeof f))
            continue;
        if (!strcmp(f, "yes") || !strcmp(f, "true"))
            cls[v] = 1, have_yes = 1;
        else if (!strcmp(f, "no") || !strcmp(f, "false"))
            cls[v] = 2, have_no = 1;
    }
    if (have_yes && have_no)
        return 0;
    /* A vocabulary without both words as tokens: the first letters. */
    memset(cls, 0, V);
    have_yes = have_no = 0;
    for (uint32_t v = 0; v < V; v++) {
        const char *t = kind_token_text(tok, (int32_t)v, buf, sizeof buf, &len);
        if (!t || fold(t, len, f, sizeof f))
            continue;
        if (!strcmp(f, "y") || !strcmp(f, "t"))
            cls[v] = 1, have_yes = 1;
        else if (!strcmp(f, "n") || !strcmp(f, "f"))
            cls[v] = 2, have_no = 1;
    }
    return have_yes && have_no ? 0 : -1;
}

/* ---- restriction builder ---- */

int rb_init(rbuild *b, uint32_t vocab)
{
    memset(b, 0, sizeof *b);
    b->vocab = vocab;
    return 0;
}

void rb_free(rbuild *b)
{
    free(b->forced);
    free(b->mask);
    for (uint32_t k = 0; k < b->n_masks; k++)
        free(b->masks[k]);
    free(b->masks);
    memset(b, 0, sizeof *b);
}

int rb_new_mask(rbuild *b)
{
    if (b->n_masks >= 0xFFFFu)
        return -1;
    uint8_t **m = realloc(b->masks, (b->n_masks + 1) * sizeof *m);
    if (!m)
        return -1;
    b->masks = m;
    if (!(m[b->n_masks] = calloc(b->vocab, 1)))
        return -1;
    return (int)b->n_masks++;
}

uint8_t *rb_mask(rbuild *b, int k)
{
    return b->masks[k];
}

static int rb_push(rbuild *b, int32_t forced, uint16_t mask)
{
    if (b->n == b->cap) {
        uint32_t nc = b->cap ? b->cap * 2 : 16;
        int32_t *f = realloc(b->forced, nc * sizeof *f);
        if (!f)
            return -1;
        b->forced = f;
        uint16_t *m = realloc(b->mask, nc * sizeof *m);
        if (!m)
            return -1;
        b->mask = m;
        b->cap = nc;
    }
    b->forced[b->n] = forced;
    b->mask[b->n] = mask;
    b->n++;
    return 0;
}

int rb_force(rbuild *b, int32_t id)
{
    return rb_push(b, id, GEN_MASK_NONE);
}

int rb_masked(rbuild *b, int k)
{
    return rb_push(b, -1, (uint16_t)k);
}

int rb_force_text(rbuild *b, const tokenizer *tok, const char *text, char *err, size_t errlen)
{
    int32_t *ids = NULL;
    size_t n = 0;
    if (tok_encode(tok, text, strlen(text), &ids, &n, err, errlen))
        return -1;
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        if (tok_is_eog(tok, ids[i])) {
            snprintf(err, errlen, "the text \"%s\" contains an end-of-generation token", text);
            rc = -2;
        } else if (rb_force(b, ids[i])) {
            snprintf(err, errlen, "out of memory");
            rc = -1;
        }
    }
    free(ids);
    return rc;
}

const gen_restriction *rb_finish(rbuild *b)
{
    b->r.n_positions = b->n;
    b->r.forced = b->forced;
    b->r.mask = b->mask;
    b->r.n_masks = b->n_masks;
    b->r.masks = (const uint8_t *const *)b->masks;
    b->r.free_noise = 1; /* see kind.h */
    return &b->r;
}

int kind_fixed_length(const engine *eng, gen_params *gp, uint32_t n, uint32_t max_new_req,
                      adapter_result *res, char *err, size_t errlen)
{
    uint32_t ctx = engine_get_info(eng)->context_length;
    if (n > ctx)
        return kind_reject(res, REJECT_INPUT_TOO_LONG, err, errlen,
                           "the answer's layout needs %u tokens; the model's context is %u", n,
                           ctx);
    if (max_new_req && max_new_req < n)
        return kind_reject(res, REJECT_PARAMS_INVALID, err, errlen,
                           "maxNewTokens %u is below the %u tokens this answer needs", max_new_req,
                           n);
    gp->max_new_tokens = n;
    return KIND_OK;
}

size_t kind_answer_len(const tokenizer *tok, const gen_result *gr)
{
    size_t n = 0;
    while (n < gr->n_tokens && !tok_is_eog(tok, gr->tokens[n]))
        n++;
    return n;
}

int kind_output_word(adapter_result *res, int64_t x, char *err, size_t errlen)
{
    uint8_t *w = malloc(32);
    if (!w) {
        snprintf(err, errlen, "out of memory");
        return KIND_FAIL;
    }
    uint64_t u = (uint64_t)x;
    memset(w, x < 0 ? 0xFF : 0x00, 24);
    for (int i = 0; i < 8; i++)
        w[31 - i] = (uint8_t)(u >> (8 * i));
    res->output = w;
    res->output_len = 32;
    return KIND_OK;
}
