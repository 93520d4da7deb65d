/*
 * Tokenizer (see tokenizer.h): Gemma 4 style BPE over SentencePiece pieces with byte fallback,
 * special-token partitioning, decoding, and the Gemma 4 chat template.
 *
 * Lookups use two open-addressing hash tables built at creation: piece text -> id, and
 * (left id, right id) -> (merge rank, merged id).
 */
#include "inference/tokenizer.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inference/gguf.h"

#define SPACE_MARK "\xe2\x96\x81" /* U+2581, SentencePiece's visible space */

typedef struct {
    uint64_t key; /* left << 32 | right, or UINT64_MAX when empty */
    int32_t rank;
    int32_t merged;
} merge_slot;

struct tokenizer {
    uint32_t n;
    char *arena;    /* all piece bytes */
    uint64_t *offs; /* piece i = arena[offs[i] .. offs[i] + lens[i]) */
    uint32_t *lens;
    int32_t *types;
    int32_t bos, eos, pad, unk;
    int add_bos;
    int32_t byte_id[256]; /* id of "<0xNN>" or -1 */
    int32_t *piece_table; /* hash of piece -> id, -1 empty */
    uint64_t piece_mask;
    merge_slot *merges;
    uint64_t merge_mask;
    int32_t *specials; /* control/user-defined/unknown ids, longest text first */
    uint32_t n_specials;
    int32_t eog[3];
};

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= (uint8_t)s[i];
        h *= 1099511628211ull;
    }
    return h ^ (h >> 29);
}

static uint64_t hash_u64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

static const char *piece(const tokenizer *t, int32_t id)
{
    return t->arena + t->offs[id];
}

int32_t tok_find(const tokenizer *t, const char *text, size_t len)
{
    uint64_t i = hash_bytes(text, len) & t->piece_mask;
    for (;;) {
        int32_t id = t->piece_table[i];
        if (id < 0)
            return -1;
        if (t->lens[id] == len && memcmp(piece(t, id), text, len) == 0)
            return id;
        i = (i + 1) & t->piece_mask;
    }
}

static int merge_find(const tokenizer *t, int32_t l, int32_t r, int32_t *rank, int32_t *merged)
{
    if (!t->merges || l < 0 || r < 0)
        return 0;
    uint64_t key = ((uint64_t)(uint32_t)l << 32) | (uint32_t)r;
    uint64_t i = hash_u64(key) & t->merge_mask;
    for (;;) {
        const merge_slot *s = &t->merges[i];
        if (s->key == UINT64_MAX)
            return 0;
        if (s->key == key) {
            *rank = s->rank;
            *merged = s->merged;
            return 1;
        }
        i = (i + 1) & t->merge_mask;
    }
}

static uint64_t pow2_at_least(uint64_t n)
{
    uint64_t p = 16;
    while (p < n)
        p <<= 1;
    return p;
}

static int is_byte_piece(const char *p, uint32_t len, int *byte)
{
    static const char hex[] = "0123456789ABCDEF";
    if (len != 6 || memcmp(p, "<0x", 3) != 0 || p[5] != '>')
        return 0;
    const char *h = strchr(hex, p[3]), *l = strchr(hex, p[4]);
    if (!h || !l || !p[3] || !p[4])
        return 0;
    *byte = (int)((h - hex) * 16 + (l - hex));
    return 1;
}

/* Sort key for special tokens: longest text first, then lowest id. */
static int u64_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

void tok_free(tokenizer *t)
{
    if (!t)
        return;
    free(t->arena);
    free(t->offs);
    free(t->lens);
    free(t->types);
    free(t->piece_table);
    free(t->merges);
    free(t->specials);
    free(t);
}

int tok_create(const tok_vocab *v, tokenizer **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!v || v->n_tokens == 0 || !v->tokens || !v->token_lens) {
        set_err(err, errlen, "tokenizer: empty vocabulary");
        return -1;
    }
    if (!v->model || strcmp(v->model, "gemma4") != 0) {
        set_err(err, errlen,
                "tokenizer: model '%s' not supported (only 'gemma4': BPE with merges over "
                "SentencePiece pieces)",
                v->model ? v->model : "(none)");
        return -1;
    }
    if (v->n_tokens > (uint32_t)INT32_MAX) {
        set_err(err, errlen, "tokenizer: %u tokens is too many", v->n_tokens);
        return -1;
    }
    tokenizer *t = calloc(1, sizeof *t);
    if (!t)
        goto oom;
    uint32_t n = v->n_tokens;
    t->n = n;
    uint64_t total = 0;
    for (uint32_t i = 0; i < n; i++)
        total += v->token_lens[i];
    t->arena = malloc(total ? total : 1);
    t->offs = malloc(n * sizeof *t->offs);
    t->lens = malloc(n * sizeof *t->lens);
    t->types = malloc(n * sizeof *t->types);
    t->piece_mask = pow2_at_least((uint64_t)n * 2) - 1;
    t->piece_table = malloc((t->piece_mask + 1) * sizeof *t->piece_table);
    if (!t->arena || !t->offs || !t->lens || !t->types || !t->piece_table)
        goto oom;
    memset(t->piece_table, 0xff, (t->piece_mask + 1) * sizeof *t->piece_table);
    for (int b = 0; b < 256; b++)
        t->byte_id[b] = -1;
    t->bos = v->bos;
    t->eos = v->eos;
    t->pad = v->pad;
    t->unk = v->unk;
    t->add_bos = v->add_bos;
    for (int32_t *sp = &t->bos; sp <= &t->unk; sp++)
        if (*sp >= (int32_t)n)
            *sp = -1;
    uint64_t pos = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t len = v->token_lens[i];
        if (len && !v->tokens[i]) {
            set_err(err, errlen, "tokenizer: token %u has no text", i);
            tok_free(t);
            return -1;
        }
        if (len)
            memcpy(t->arena + pos, v->tokens[i], len);
        t->offs[i] = pos;
        t->lens[i] = len;
        pos += len;
        int byte;
        int32_t ty = v->token_types ? v->token_types[i] : TOK_TYPE_NORMAL;
        if (!v->token_types) {
            if (is_byte_piece(v->tokens[i], len, &byte))
                ty = TOK_TYPE_BYTE;
            else if ((int32_t)i == v->bos || (int32_t)i == v->eos || (int32_t)i == v->pad)
                ty = TOK_TYPE_CONTROL;
            else if ((int32_t)i == v->unk)
                ty = TOK_TYPE_UNKNOWN;
        }
        t->types[i] = ty;
        if (ty == TOK_TYPE_BYTE && is_byte_piece(v->tokens[i], len, &byte) && t->byte_id[byte] < 0)
            t->byte_id[byte] = (int32_t)i;
        /* first id wins for duplicate texts (as in llama.cpp's token_to_id map) */
        uint64_t h = hash_bytes(piece(t, (int32_t)i), len) & t->piece_mask;
        for (;;) {
            int32_t id = t->piece_table[h];
            if (id < 0) {
                t->piece_table[h] = (int32_t)i;
                break;
            }
            if (t->lens[id] == len && memcmp(piece(t, id), piece(t, (int32_t)i), len) == 0)
                break;
            h = (h + 1) & t->piece_mask;
        }
    }
    /* merges: "left right", split at the first space after the first byte */
    if (v->n_merges) {
        t->merge_mask = pow2_at_least((uint64_t)v->n_merges * 2) - 1;
        t->merges = malloc((t->merge_mask + 1) * sizeof *t->merges);
        if (!t->merges)
            goto oom;
        for (uint64_t i = 0; i <= t->merge_mask; i++)
            t->merges[i].key = UINT64_MAX;
        char *buf = NULL;
        size_t bufcap = 0;
        for (uint32_t m = 0; m < v->n_merges; m++) {
            const char *s = v->merges[m];
            uint32_t len = v->merge_lens[m];
            const char *sp = len > 1 ? memchr(s + 1, ' ', len - 1) : NULL;
            if (!sp)
                continue; /* malformed: ignored, like llama.cpp (which maps it to "" "") */
            size_t ll = (size_t)(sp - s), rl = len - ll - 1;
            int32_t l = tok_find(t, s, ll), r = tok_find(t, sp + 1, rl);
            if (l < 0 || r < 0)
                continue;
            if (ll + rl > bufcap) {
                bufcap = (ll + rl) * 2;
                char *nb = realloc(buf, bufcap);
                if (!nb) {
                    free(buf);
                    goto oom;
                }
                buf = nb;
            }
            memcpy(buf, s, ll);
            memcpy(buf + ll, sp + 1, rl);
            int32_t merged = tok_find(t, buf, ll + rl);
            if (merged < 0)
                continue; /* a merge whose result is not a token could never be emitted */
            uint64_t key = ((uint64_t)(uint32_t)l << 32) | (uint32_t)r;
            uint64_t h = hash_u64(key) & t->merge_mask;
            while (t->merges[h].key != UINT64_MAX && t->merges[h].key != key)
                h = (h + 1) & t->merge_mask;
            if (t->merges[h].key == UINT64_MAX) { /* first (lowest) rank wins */
                t->merges[h].key = key;
                t->merges[h].rank = (int32_t)m;
                t->merges[h].merged = merged;
            }
        }
        free(buf);
    }
    /* special tokens, longest first (ties: lowest id) */
    t->specials = malloc(n * sizeof *t->specials);
    uint64_t *keys = malloc(n * sizeof *keys);
    if (!t->specials || !keys) {
        free(keys);
        goto oom;
    }
    for (uint32_t i = 0; i < n; i++) {
        int32_t ty = t->types[i];
        if ((ty == TOK_TYPE_CONTROL || ty == TOK_TYPE_USER_DEFINED || ty == TOK_TYPE_UNKNOWN) &&
            t->lens[i] > 0)
            keys[t->n_specials++] = ((uint64_t)(UINT32_MAX - t->lens[i]) << 32) | i;
    }
    qsort(keys, t->n_specials, sizeof *keys, u64_cmp);
    for (uint32_t i = 0; i < t->n_specials; i++)
        t->specials[i] = (int32_t)(keys[i] & 0xffffffffu);
    free(keys);
    t->eog[0] = t->eos;
    t->eog[1] = tok_find(t, "<turn|>", 7);
    t->eog[2] = tok_find(t, "<|tool_response>", 16);
    *out = t;
    return 0;
oom:
    tok_free(t);
    set_err(err, errlen, "tokenizer: out of memory");
    return -1;
}

uint32_t tok_n_vocab(const tokenizer *t)
{
    return t->n;
}
int32_t tok_bos(const tokenizer *t)
{
    return t->bos;
}
int32_t tok_eos(const tokenizer *t)
{
    return t->eos;
}
int32_t tok_pad(const tokenizer *t)
{
    return t->pad;
}
int tok_add_bos(const tokenizer *t)
{
    return t->add_bos;
}

const char *tok_piece(const tokenizer *t, int32_t id, size_t *len)
{
    if (id < 0 || (uint32_t)id >= t->n)
        return NULL;
    if (len)
        *len = t->lens[id];
    return piece(t, id);
}

int32_t tok_type(const tokenizer *t, int32_t id)
{
    if (id < 0 || (uint32_t)id >= t->n)
        return -1;
    return t->types[id];
}

int tok_is_eog(const tokenizer *t, int32_t id)
{
    return id >= 0 && (id == t->eog[0] || id == t->eog[1] || id == t->eog[2]);
}

/* ---- output buffer of ids ---- */

typedef struct {
    int32_t *p;
    size_t n, cap;
    int oom;
} idbuf;

static void ids_push(idbuf *b, int32_t id)
{
    if (b->oom)
        return;
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        int32_t *np = realloc(b->p, cap * sizeof *np);
        if (!np) {
            b->oom = 1;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
    b->p[b->n++] = id;
}

/* ---- BPE over one word ---- */

typedef struct {
    int32_t id; /* vocabulary id of the symbol's text, or -1 */
    uint32_t start, len;
    int32_t prev, next;
} sym;

typedef struct {
    int32_t rank;
    int32_t left, right;
    int32_t lid, rid; /* ids at push time: a stale entry no longer matches */
    int32_t merged;
} cand;

static int cand_less(const cand *a, const cand *b)
{
    return a->rank < b->rank || (a->rank == b->rank && a->left < b->left);
}

typedef struct {
    cand *h;
    size_t n, cap;
} heap;

static int heap_push(heap *q, cand c)
{
    if (q->n == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 64;
        cand *nh = realloc(q->h, cap * sizeof *nh);
        if (!nh)
            return -1;
        q->h = nh;
        q->cap = cap;
    }
    size_t i = q->n++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!cand_less(&c, &q->h[p]))
            break;
        q->h[i] = q->h[p];
        i = p;
    }
    q->h[i] = c;
    return 0;
}

static cand heap_pop(heap *q)
{
    cand top = q->h[0];
    cand last = q->h[--q->n];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        const cand *best = &last;
        if (l < q->n && cand_less(&q->h[l], best)) {
            m = l;
            best = &q->h[l];
        }
        if (r < q->n && cand_less(&q->h[r], best))
            m = r;
        if (m == i)
            break;
        q->h[i] = q->h[m];
        i = m;
    }
    if (q->n)
        q->h[i] = last;
    return top;
}

static size_t utf8_len(uint8_t c)
{
    if (c < 0x80)
        return 1;
    if ((c & 0xe0) == 0xc0)
        return 2;
    if ((c & 0xf0) == 0xe0)
        return 3;
    if ((c & 0xf8) == 0xf0)
        return 4;
    return 1; /* stray continuation or invalid lead byte: one byte */
}

typedef struct {
    sym *s;
    size_t cap;
    heap q;
} bpe_work;

static int try_pair(const tokenizer *t, bpe_work *w, int32_t l, int32_t r)
{
    if (l < 0 || r < 0)
        return 0;
    int32_t rank, merged;
    if (!merge_find(t, w->s[l].id, w->s[r].id, &rank, &merged))
        return 0;
    cand c = {rank, l, r, w->s[l].id, w->s[r].id, merged};
    return heap_push(&w->q, c);
}

static int bpe_word(const tokenizer *t, bpe_work *w, const char *text, size_t len, idbuf *out)
{
    size_t ns = 0;
    if (len > w->cap) {
        sym *s = realloc(w->s, len * sizeof *s);
        if (!s)
            return -1;
        w->s = s;
        w->cap = len;
    }
    /* Gemma 4 (llama.cpp): a run of newlines that is itself a token is kept whole */
    int all_nl = 1;
    for (size_t i = 0; i < len && all_nl; i++)
        all_nl = text[i] == '\n';
    int32_t whole = all_nl ? tok_find(t, text, len) : -1;
    if (whole >= 0) {
        ids_push(out, whole);
        return 0;
    }
    for (size_t off = 0; off < len;) {
        size_t cl = utf8_len((uint8_t)text[off]);
        if (cl > len - off)
            cl = len - off;
        w->s[ns].start = (uint32_t)off;
        w->s[ns].len = (uint32_t)cl;
        w->s[ns].id = tok_find(t, text + off, cl);
        w->s[ns].prev = (int32_t)ns - 1;
        w->s[ns].next = off + cl < len ? (int32_t)ns + 1 : -1;
        ns++;
        off += cl;
    }
    w->q.n = 0;
    for (size_t i = 1; i < ns; i++)
        if (try_pair(t, w, (int32_t)i - 1, (int32_t)i))
            return -1;
    while (w->q.n) {
        cand c = heap_pop(&w->q);
        sym *l = &w->s[c.left], *r = &w->s[c.right];
        if (l->len == 0 || r->len == 0 || l->next != c.right || l->id != c.lid || r->id != c.rid)
            continue; /* stale */
        l->len += r->len;
        l->id = c.merged;
        r->len = 0;
        l->next = r->next;
        if (r->next >= 0)
            w->s[r->next].prev = c.left;
        if (try_pair(t, w, l->prev, c.left) || try_pair(t, w, c.left, l->next))
            return -1;
    }
    for (int32_t i = ns ? 0 : -1; i >= 0; i = w->s[i].next) {
        const sym *s = &w->s[i];
        if (s->id >= 0) {
            ids_push(out, s->id);
            continue;
        }
        for (uint32_t k = 0; k < s->len; k++) {
            int32_t b = t->byte_id[(uint8_t)text[s->start + k]];
            if (b < 0)
                b = t->unk;
            if (b < 0)
                return -2;
            ids_push(out, b);
        }
    }
    return 0;
}

/* Encodes plain text (no special tokens): spaces become U+2581, then runs of newlines and
 * runs of other bytes are BPE'd separately. */
static int encode_raw(const tokenizer *t, bpe_work *w, const char *text, size_t len, idbuf *out,
                      char *err, size_t errlen)
{
    size_t nsp = 0;
    for (size_t i = 0; i < len; i++)
        nsp += text[i] == ' ';
    char *esc = malloc(len + 2 * nsp + 1);
    if (!esc) {
        set_err(err, errlen, "tokenizer: out of memory");
        return -1;
    }
    size_t el = 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ') {
            memcpy(esc + el, SPACE_MARK, 3);
            el += 3;
        } else {
            esc[el++] = text[i];
        }
    }
    int rc = 0;
    for (size_t i = 0; i < el && rc == 0;) {
        size_t j = i;
        int nl = esc[i] == '\n';
        while (j < el && (esc[j] == '\n') == nl)
            j++;
        rc = bpe_word(t, w, esc + i, j - i, out);
        i = j;
    }
    free(esc);
    if (rc == -2)
        set_err(err, errlen,
                "tokenizer: text needs byte fallback but the vocabulary has no "
                "<0xNN> tokens and no unk");
    else if (rc)
        set_err(err, errlen, "tokenizer: out of memory");
    return rc ? -1 : 0;
}

typedef struct {
    size_t start, len;
    int32_t id; /* >= 0: a special token; -1: raw text */
} frag;

int tok_encode(const tokenizer *t, const char *text, size_t len, int32_t **ids, size_t *n,
               char *err, size_t errlen)
{
    *ids = NULL;
    *n = 0;
    /* 1. split out special tokens: for each special (longest first), cut every raw fragment
     * at each of its occurrences (llama.cpp's tokenizer_st_partition order) */
    size_t nf = len ? 1 : 0, cap = 16;
    frag *fr = malloc(cap * sizeof *fr), *tmp = NULL;
    if (!fr)
        goto oom;
    if (nf)
        fr[0] = (frag){0, len, -1};
    for (uint32_t si = 0; si < t->n_specials && nf; si++) {
        int32_t id = t->specials[si];
        const char *sp = piece(t, id);
        size_t sl = t->lens[id];
        int any = 0;
        for (size_t k = 0; k < nf && !any; k++)
            any = fr[k].id < 0 && fr[k].len >= sl && memmem(text + fr[k].start, fr[k].len, sp, sl);
        if (!any)
            continue;
        size_t tcap = nf * 2 + 8, tn = 0;
        tmp = malloc(tcap * sizeof *tmp);
        if (!tmp)
            goto oom;
        for (size_t k = 0; k < nf; k++) {
            frag f = fr[k];
            while (f.id < 0 && f.len >= sl) {
                const char *m = memmem(text + f.start, f.len, sp, sl);
                if (!m)
                    break;
                size_t at = (size_t)(m - text);
                if (tn + 3 > tcap) {
                    tcap *= 2;
                    frag *nt = realloc(tmp, tcap * sizeof *nt);
                    if (!nt)
                        goto oom;
                    tmp = nt;
                }
                if (at > f.start)
                    tmp[tn++] = (frag){f.start, at - f.start, -1};
                tmp[tn++] = (frag){at, sl, id};
                f.len -= at + sl - f.start;
                f.start = at + sl;
            }
            if (f.len > 0 || f.id >= 0) {
                if (tn + 1 > tcap) {
                    tcap *= 2;
                    frag *nt = realloc(tmp, tcap * sizeof *nt);
                    if (!nt)
                        goto oom;
                    tmp = nt;
                }
                tmp[tn++] = f;
            }
        }
        free(fr);
        fr = tmp;
        tmp = NULL;
        nf = tn;
    }
    /* 2. BPE each raw fragment */
    idbuf out = {0};
    bpe_work w = {0};
    int rc = 0;
    for (size_t k = 0; k < nf && rc == 0; k++) {
        if (fr[k].id >= 0)
            ids_push(&out, fr[k].id);
        else
            rc = encode_raw(t, &w, text + fr[k].start, fr[k].len, &out, err, errlen);
    }
    free(w.s);
    free(w.q.h);
    free(fr);
    if (rc) {
        free(out.p);
        return -1;
    }
    if (out.oom) {
        free(out.p);
        set_err(err, errlen, "tokenizer: out of memory");
        return -1;
    }
    *ids = out.p ? out.p : malloc(sizeof(int32_t));
    if (!*ids)
        goto oom2;
    *n = out.n;
    return 0;
oom:
    free(fr);
    free(tmp);
oom2:
    set_err(err, errlen, "tokenizer: out of memory");
    return -1;
}

int tok_decode(const tokenizer *t, const int32_t *ids, size_t n, unsigned flags, char **text,
               size_t *len, char *err, size_t errlen)
{
    *text = NULL;
    *len = 0;
    size_t cap = 1;
    for (size_t i = 0; i < n; i++) {
        if (ids[i] < 0 || (uint32_t)ids[i] >= t->n) {
            set_err(err, errlen, "tokenizer: id %d at position %zu is out of range (vocab %u)",
                    ids[i], i, t->n);
            return -1;
        }
        cap += t->lens[ids[i]];
    }
    char *s = malloc(cap);
    if (!s) {
        set_err(err, errlen, "tokenizer: out of memory");
        return -1;
    }
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t id = ids[i];
        const char *p = piece(t, id);
        uint32_t pl = t->lens[id];
        int byte;
        if (t->types[id] == TOK_TYPE_BYTE && is_byte_piece(p, pl, &byte)) {
            s[o++] = (char)byte;
            continue;
        }
        if (t->types[id] == TOK_TYPE_CONTROL && (flags & TOK_DECODE_SKIP_CONTROL))
            continue;
        for (uint32_t k = 0; k < pl;) {
            if (pl - k >= 3 && memcmp(p + k, SPACE_MARK, 3) == 0) {
                s[o++] = ' ';
                k += 3;
            } else {
                s[o++] = p[k++];
            }
        }
    }
    s[o] = 0;
    *text = s;
    *len = o;
    return 0;
}

static void strip_ascii(const char **s, size_t *n)
{
    const char *p = *s;
    size_t l = *n;
    while (l && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == '\v' || *p == '\f')) {
        p++;
        l--;
    }
    while (l && (p[l - 1] == ' ' || p[l - 1] == '\t' || p[l - 1] == '\n' || p[l - 1] == '\r' ||
                 p[l - 1] == '\v' || p[l - 1] == '\f'))
        l--;
    *s = p;
    *n = l;
}

int tok_chat_prompt(const tokenizer *t, const char *system, const char *user, int32_t **ids,
                    size_t *n, char *err, size_t errlen)
{
    *ids = NULL;
    *n = 0;
    static const char *const needed[] = {"<bos>", "<|turn>", "<turn|>", "<|channel>", "<channel|>"};
    for (size_t i = 0; i < sizeof needed / sizeof needed[0]; i++) {
        int32_t id = tok_find(t, needed[i], strlen(needed[i]));
        if (id < 0 || t->types[id] == TOK_TYPE_NORMAL || t->types[id] == TOK_TYPE_BYTE) {
            set_err(err, errlen, "tokenizer: chat template needs the special token %s", needed[i]);
            return -1;
        }
    }
    if (!user) {
        set_err(err, errlen, "tokenizer: chat prompt without a user message");
        return -1;
    }
    const char *u = user, *sy = system;
    size_t ul = strlen(user), sl = system ? strlen(system) : 0;
    strip_ascii(&u, &ul);
    if (sy)
        strip_ascii(&sy, &sl);
    static const char head_sys[] = "<|turn>system\n";
    static const char end_turn[] = "<turn|>\n";
    static const char head_user[] = "<|turn>user\n";
    static const char tail[] = "<|turn>model\n<|channel>thought\n<channel|>";
    size_t cap =
        5 + sizeof head_sys + sl + sizeof end_turn * 2 + sizeof head_user + ul + sizeof tail + 1;
    char *s = malloc(cap);
    if (!s) {
        set_err(err, errlen, "tokenizer: out of memory");
        return -1;
    }
    size_t o = 0;
#define PUT(p, l)                                                                                  \
    do {                                                                                           \
        memcpy(s + o, (p), (l));                                                                   \
        o += (l);                                                                                  \
    } while (0)
    PUT("<bos>", 5);
    if (sy) {
        PUT(head_sys, sizeof head_sys - 1);
        PUT(sy, sl);
        PUT(end_turn, sizeof end_turn - 1);
    }
    PUT(head_user, sizeof head_user - 1);
    PUT(u, ul);
    PUT(end_turn, sizeof end_turn - 1);
    PUT(tail, sizeof tail - 1);
#undef PUT
    int rc = tok_encode(t, s, o, ids, n, err, errlen);
    free(s);
    return rc;
}

/* ---- reading the vocabulary from a GGUF ---- */

int tokenizer_from_gguf(const struct gguf_file *f, tokenizer **out, char *err, size_t errlen)
{
    *out = NULL;
    const char *model;
    uint64_t model_len;
    if (gguf_get_str(f, "tokenizer.ggml.model", &model, &model_len)) {
        set_err(err, errlen, "tokenizer: %s", gguf_last_error(f));
        return -1;
    }
    char model_z[32];
    if (model_len >= sizeof model_z) {
        set_err(err, errlen, "tokenizer: tokenizer.ggml.model is too long");
        return -1;
    }
    memcpy(model_z, model, model_len);
    model_z[model_len] = 0;
    int64_t kt = gguf_find_key(f, "tokenizer.ggml.tokens");
    gguf_type et;
    uint64_t nt;
    if (kt < 0 || gguf_kv_arr(f, kt, &et, &nt) || et != GGUF_TYPE_STRING || nt == 0 ||
        nt > (uint64_t)INT32_MAX) {
        set_err(err, errlen, "tokenizer: tokenizer.ggml.tokens missing or not a string array");
        return -1;
    }
    tok_vocab v = {0};
    v.n_tokens = (uint32_t)nt;
    v.model = model_z;
    v.bos = v.eos = v.pad = v.unk = -1;
    const char **toks = malloc(nt * sizeof *toks);
    uint32_t *lens = malloc(nt * sizeof *lens);
    float *scores = NULL;
    int32_t *types = NULL;
    const char **merges = NULL;
    uint32_t *mlens = NULL;
    int rc = -1;
    if (!toks || !lens)
        goto oom;
    for (uint64_t i = 0; i < nt; i++) {
        uint64_t l;
        gguf_kv_arr_str(f, kt, i, &toks[i], &l);
        if (l > UINT32_MAX) {
            set_err(err, errlen, "tokenizer: token %llu is too long", (unsigned long long)i);
            goto done;
        }
        lens[i] = (uint32_t)l;
    }
    v.tokens = toks;
    v.token_lens = lens;
    const void *data;
    uint64_t n;
    if (gguf_get_arr(f, "tokenizer.ggml.scores", &et, &n, &data) == 0) {
        if (et != GGUF_TYPE_FLOAT32 || n != nt) {
            set_err(err, errlen, "tokenizer: tokenizer.ggml.scores must be f32[%llu]",
                    (unsigned long long)nt);
            goto done;
        }
        if (!(scores = malloc(nt * sizeof *scores)))
            goto oom;
        memcpy(scores, data, nt * 4);
        v.scores = scores;
    }
    if (gguf_get_arr(f, "tokenizer.ggml.token_type", &et, &n, &data) == 0) {
        if (et != GGUF_TYPE_INT32 || n != nt) {
            set_err(err, errlen, "tokenizer: tokenizer.ggml.token_type must be i32[%llu]",
                    (unsigned long long)nt);
            goto done;
        }
        if (!(types = malloc(nt * sizeof *types)))
            goto oom;
        memcpy(types, data, nt * 4);
        v.token_types = types;
    }
    int64_t km = gguf_find_key(f, "tokenizer.ggml.merges");
    if (km >= 0) {
        uint64_t nm;
        if (gguf_kv_arr(f, km, &et, &nm) || et != GGUF_TYPE_STRING || nm > UINT32_MAX) {
            set_err(err, errlen, "tokenizer: tokenizer.ggml.merges must be a string array");
            goto done;
        }
        merges = malloc((nm ? nm : 1) * sizeof *merges);
        mlens = malloc((nm ? nm : 1) * sizeof *mlens);
        if (!merges || !mlens)
            goto oom;
        for (uint64_t i = 0; i < nm; i++) {
            uint64_t l;
            gguf_kv_arr_str(f, km, i, &merges[i], &l);
            mlens[i] = l > UINT32_MAX ? 0 : (uint32_t)l;
        }
        v.n_merges = (uint32_t)nm;
        v.merges = merges;
        v.merge_lens = mlens;
    }
    static const char *const id_keys[4] = {
        "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
        "tokenizer.ggml.padding_token_id", "tokenizer.ggml.unknown_token_id"};
    int32_t *id_dst[4] = {&v.bos, &v.eos, &v.pad, &v.unk};
    for (int i = 0; i < 4; i++) {
        uint32_t id;
        int r = gguf_get_u32(f, id_keys[i], &id);
        if (r == GGUF_ENOTFOUND)
            continue;
        if (r || id >= nt) {
            set_err(err, errlen, "tokenizer: %s: %s", id_keys[i],
                    r ? gguf_last_error(f) : "id out of range");
            goto done;
        }
        *id_dst[i] = (int32_t)id;
    }
    int ab = 1;
    if (gguf_get_bool(f, "tokenizer.ggml.add_bos_token", &ab) == GGUF_ETYPE) {
        set_err(err, errlen, "tokenizer: %s", gguf_last_error(f));
        goto done;
    }
    v.add_bos = ab;
    rc = tok_create(&v, out, err, errlen);
    goto done;
oom:
    set_err(err, errlen, "tokenizer: out of memory");
done:
    free(toks);
    free(lens);
    free(scores);
    free(types);
    free(merges);
    free(mlens);
    return rc;
}
