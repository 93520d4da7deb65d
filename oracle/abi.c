/*
 * The contract ABI: type parser, encoder, strict decoder, event logs. See abi.h.
 *
 * Encoding and decoding share one picture: a "list" (a tuple, a fixed array, the items of a
 * dynamic array) is a head of fixed-size slots followed by a tail. A static member sits in its
 * slot; a dynamic member's slot holds the offset, from the start of the list, of its encoding
 * in the tail. The canonical layout puts the tails in member order, back to back, so the
 * decoder can demand that each offset equals the running tail position: that one check rules
 * out out-of-bounds, overlapping and gapped layouts at once.
 */
#include "oracle/abi.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oracle/keccak.h"

/* Static encodings larger than this are refused by the parser (T[k] with a huge k). */
#define ABI_MAX_STATIC_SIZE ((size_t)16 << 20)

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* ------------------------------------------------------------------ types */

void abi_type_free(abi_type *t)
{
    if (!t)
        return;
    abi_type_free(t->elem);
    for (size_t i = 0; i < t->n_fields; i++)
        abi_type_free(t->fields[i]);
    free(t->fields);
    free(t->name);
    free(t);
}

typedef struct {
    const char *s; /* whole input, for positions in messages */
    const char *p;
    char *err;
    size_t errlen;
} parser;

static void skip_spaces(parser *ps)
{
    while (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n')
        ps->p++;
}

static int is_ident_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '$';
}

static int perr(parser *ps, const char *what)
{
    return fail(ps->err, ps->errlen, "abi: %s at position %zu in \"%.200s\"", what,
                (size_t)(ps->p - ps->s), ps->s);
}

/* Reads an unsigned decimal of at most 9 digits; -1 if none. */
static long read_small_uint(const char *p, size_t n)
{
    if (n == 0 || n > 9 || (n > 1 && p[0] == '0'))
        return -1;
    long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        v = v * 10 + (p[i] - '0');
    }
    return v;
}

static abi_type *new_type(abi_kind kind)
{
    abi_type *t = calloc(1, sizeof *t);
    if (t)
        t->kind = kind;
    return t;
}

static int parse_type_at(parser *ps, abi_type **out, int depth, int allow_empty_tuple);

/* "(" [param ("," param)*] ")" where param = type [indexed] [name] */
static int parse_tuple(parser *ps, abi_type **out, int depth, int allow_empty)
{
    abi_type *t = new_type(ABI_TUPLE);
    if (!t)
        return perr(ps, "out of memory");
    ps->p++; /* '(' */
    skip_spaces(ps);
    if (*ps->p == ')') {
        ps->p++;
        if (!allow_empty) {
            ps->p--;
            abi_type_free(t);
            return perr(ps, "empty tuple not allowed here");
        }
        *out = t;
        return 0;
    }
    for (;;) {
        abi_type *f = NULL;
        if (parse_type_at(ps, &f, depth + 1, 0) < 0) {
            abi_type_free(t);
            return -1;
        }
        abi_type **grown = realloc(t->fields, (t->n_fields + 1) * sizeof *grown);
        if (!grown) {
            abi_type_free(f);
            abi_type_free(t);
            return perr(ps, "out of memory");
        }
        t->fields = grown;
        t->fields[t->n_fields++] = f;
        /* optional "indexed" and name */
        for (int word = 0; word < 2; word++) {
            skip_spaces(ps);
            const char *q = ps->p;
            while (is_ident_char(*q))
                q++;
            size_t n = (size_t)(q - ps->p);
            if (n == 0)
                break;
            if (n == 7 && !strncmp(ps->p, "indexed", 7) && !f->indexed && !f->name) {
                f->indexed = 1;
            } else if (!f->name) {
                f->name = strndup(ps->p, n);
                if (!f->name) {
                    abi_type_free(t);
                    return perr(ps, "out of memory");
                }
            } else {
                abi_type_free(t);
                return perr(ps, "unexpected word after parameter name");
            }
            ps->p = q;
        }
        skip_spaces(ps);
        if (*ps->p == ',') {
            ps->p++;
            continue;
        }
        if (*ps->p == ')') {
            ps->p++;
            break;
        }
        abi_type_free(t);
        return perr(ps, "',' or ')' expected");
    }
    *out = t;
    return 0;
}

static int parse_base(parser *ps, abi_type **out)
{
    const char *q = ps->p;
    while ((*q >= 'a' && *q <= 'z') || (*q >= '0' && *q <= '9'))
        q++;
    size_t n = (size_t)(q - ps->p);
    const char *w = ps->p;
    abi_type *t = NULL;
    long num;
    if (n == 0)
        return perr(ps, "type expected");
    if ((n == 4 && !strncmp(w, "uint", 4)) || (n == 3 && !strncmp(w, "int", 3))) {
        t = new_type(w[0] == 'u' ? ABI_UINT : ABI_INT);
        if (t)
            t->bits = 256;
    } else if (n > 4 && !strncmp(w, "uint", 4)) {
        num = read_small_uint(w + 4, n - 4);
        if (num < 8 || num > 256 || num % 8)
            return perr(ps, "uintN needs N in 8..256, a multiple of 8");
        if ((t = new_type(ABI_UINT)))
            t->bits = (unsigned)num;
    } else if (n > 3 && !strncmp(w, "int", 3)) {
        num = read_small_uint(w + 3, n - 3);
        if (num < 8 || num > 256 || num % 8)
            return perr(ps, "intN needs N in 8..256, a multiple of 8");
        if ((t = new_type(ABI_INT)))
            t->bits = (unsigned)num;
    } else if (n == 7 && !strncmp(w, "address", 7)) {
        t = new_type(ABI_ADDRESS);
    } else if (n == 4 && !strncmp(w, "bool", 4)) {
        t = new_type(ABI_BOOL);
    } else if (n == 6 && !strncmp(w, "string", 6)) {
        t = new_type(ABI_STRING);
    } else if (n == 5 && !strncmp(w, "bytes", 5)) {
        t = new_type(ABI_BYTES);
    } else if (n == 4 && !strncmp(w, "byte", 4)) {
        if ((t = new_type(ABI_FIXED_BYTES)))
            t->size = 1;
    } else if (n > 5 && !strncmp(w, "bytes", 5)) {
        num = read_small_uint(w + 5, n - 5);
        if (num < 1 || num > 32)
            return perr(ps, "bytesN needs N in 1..32");
        if ((t = new_type(ABI_FIXED_BYTES)))
            t->size = (unsigned)num;
    } else {
        return perr(ps, "unknown type");
    }
    if (!t)
        return perr(ps, "out of memory");
    ps->p = q;
    *out = t;
    return 0;
}

static void compute_layout(abi_type *t)
{
    switch (t->kind) {
    case ABI_BYTES:
    case ABI_STRING:
    case ABI_ARRAY:
        t->dynamic = 1;
        t->static_size = 0;
        break;
    case ABI_FIXED_ARRAY:
        t->dynamic = t->elem->dynamic;
        t->static_size = t->dynamic ? 0 : t->size * t->elem->static_size;
        break;
    case ABI_TUPLE:
        t->dynamic = 0;
        t->static_size = 0;
        for (size_t i = 0; i < t->n_fields; i++) {
            if (t->fields[i]->dynamic)
                t->dynamic = 1;
            else
                t->static_size += t->fields[i]->static_size;
        }
        if (t->dynamic)
            t->static_size = 0;
        break;
    default:
        t->dynamic = 0;
        t->static_size = 32;
    }
}

/* Size of a member's slot in the head of a list. */
static size_t head_size(const abi_type *t)
{
    return t->dynamic ? 32 : t->static_size;
}

static int parse_type_at(parser *ps, abi_type **out, int depth, int allow_empty_tuple)
{
    if (depth > ABI_MAX_DEPTH)
        return perr(ps, "type nested too deeply");
    skip_spaces(ps);
    abi_type *t = NULL;
    if (*ps->p == '(') {
        if (parse_tuple(ps, &t, depth, allow_empty_tuple) < 0)
            return -1;
    } else if (parse_base(ps, &t) < 0) {
        return -1;
    }
    compute_layout(t);
    while (*ps->p == '[') {
        if (++depth > ABI_MAX_DEPTH) {
            abi_type_free(t);
            return perr(ps, "type nested too deeply");
        }
        if (t->kind == ABI_TUPLE && t->n_fields == 0) {
            abi_type_free(t);
            return perr(ps, "array of empty tuples");
        }
        const char *q = ps->p + 1;
        while (*q >= '0' && *q <= '9')
            q++;
        if (*q != ']') {
            abi_type_free(t);
            return perr(ps, "']' expected");
        }
        size_t digits = (size_t)(q - ps->p - 1);
        abi_type *a = new_type(digits ? ABI_FIXED_ARRAY : ABI_ARRAY);
        if (!a) {
            abi_type_free(t);
            return perr(ps, "out of memory");
        }
        a->elem = t;
        t = a;
        if (digits) {
            long k = read_small_uint(ps->p + 1, digits);
            if (k < 1) {
                abi_type_free(t);
                return perr(ps, "fixed array length must be a number >= 1 without leading zeros");
            }
            t->size = (unsigned)k;
            if (!t->elem->dynamic && t->elem->static_size > ABI_MAX_STATIC_SIZE / (size_t)k) {
                abi_type_free(t);
                return perr(ps, "fixed array too large");
            }
        }
        compute_layout(t);
        ps->p = q + 1;
    }
    if (t->static_size > ABI_MAX_STATIC_SIZE) {
        abi_type_free(t);
        return perr(ps, "type too large");
    }
    *out = t;
    return 0;
}

int abi_type_parse(const char *s, abi_type **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!s)
        return fail(err, errlen, "abi: type string is missing");
    parser ps = {s, s, err, errlen};
    abi_type *t = NULL;
    if (parse_type_at(&ps, &t, 0, 1) < 0)
        return -1;
    skip_spaces(&ps);
    if (*ps.p) {
        abi_type_free(t);
        return perr(&ps, "unexpected characters after the type");
    }
    *out = t;
    return 0;
}

int abi_type_is_dynamic(const abi_type *t)
{
    return t->dynamic;
}

/* Appends the canonical string of t at out+*n; -1 when it does not fit. */
static int canonical_at(const abi_type *t, char *out, size_t cap, size_t *n)
{
    char tmp[24] = "";
    const char *word = tmp;
    switch (t->kind) {
    case ABI_UINT:
        snprintf(tmp, sizeof tmp, "uint%u", t->bits);
        break;
    case ABI_INT:
        snprintf(tmp, sizeof tmp, "int%u", t->bits);
        break;
    case ABI_ADDRESS:
        word = "address";
        break;
    case ABI_BOOL:
        word = "bool";
        break;
    case ABI_FIXED_BYTES:
        snprintf(tmp, sizeof tmp, "bytes%u", t->size);
        break;
    case ABI_BYTES:
        word = "bytes";
        break;
    case ABI_STRING:
        word = "string";
        break;
    case ABI_ARRAY:
    case ABI_FIXED_ARRAY:
        if (canonical_at(t->elem, out, cap, n) < 0)
            return -1;
        if (t->kind == ABI_ARRAY)
            word = "[]";
        else
            snprintf(tmp, sizeof tmp, "[%u]", t->size);
        break;
    case ABI_TUPLE:
        if (*n + 1 >= cap)
            return -1;
        out[(*n)++] = '(';
        for (size_t i = 0; i < t->n_fields; i++) {
            if (i) {
                if (*n + 1 >= cap)
                    return -1;
                out[(*n)++] = ',';
            }
            if (canonical_at(t->fields[i], out, cap, n) < 0)
                return -1;
        }
        word = ")";
        break;
    }
    size_t k = strlen(word);
    if (*n + k >= cap)
        return -1;
    memcpy(out + *n, word, k + 1);
    *n += k;
    return 0;
}

int abi_type_canonical(const abi_type *t, char *out, size_t cap)
{
    size_t n = 0;
    if (cap == 0)
        return -1;
    out[0] = '\0';
    return canonical_at(t, out, cap, &n);
}

int abi_signature_parse(const char *s, abi_signature *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (!s)
        return fail(err, errlen, "abi: signature is missing");
    parser ps = {s, s, err, errlen};
    skip_spaces(&ps);
    const char *q = ps.p;
    while (is_ident_char(*q))
        q++;
    if (q == ps.p || (*ps.p >= '0' && *ps.p <= '9'))
        return perr(&ps, "function or event name expected");
    out->name = strndup(ps.p, (size_t)(q - ps.p));
    if (!out->name)
        return perr(&ps, "out of memory");
    ps.p = q;
    if (*ps.p != '(') {
        abi_signature_free(out);
        return perr(&ps, "'(' expected after the name");
    }
    if (parse_tuple(&ps, &out->params, 0, 1) < 0) {
        abi_signature_free(out);
        return -1;
    }
    compute_layout(out->params);
    skip_spaces(&ps);
    if (*ps.p) {
        abi_signature_free(out);
        return perr(&ps, "unexpected characters after the signature");
    }
    return 0;
}

void abi_signature_free(abi_signature *sig)
{
    free(sig->name);
    abi_type_free(sig->params);
    sig->name = NULL;
    sig->params = NULL;
}

int abi_signature_canonical(const abi_signature *sig, char *out, size_t cap)
{
    size_t k = strlen(sig->name);
    if (k + 3 > cap)
        return -1;
    memcpy(out, sig->name, k);
    size_t n = k;
    out[n] = '\0';
    return canonical_at(sig->params, out, cap, &n);
}

int abi_signature_hash(const abi_signature *sig, uint8_t out[32])
{
    size_t cap = 4096;
    char *s = malloc(cap);
    if (!s)
        return -1;
    while (abi_signature_canonical(sig, s, cap) < 0) {
        free(s);
        if (cap > ((size_t)1 << 24))
            return -1;
        cap *= 4;
        if (!(s = malloc(cap)))
            return -1;
    }
    keccak256(s, strlen(s), out);
    free(s);
    return 0;
}

int abi_selector(const abi_signature *sig, uint8_t out[4])
{
    uint8_t h[32];
    if (abi_signature_hash(sig, h) < 0)
        return -1;
    memcpy(out, h, 4);
    return 0;
}

/* ------------------------------------------------------------------ values */

static void value_init(abi_value *v, abi_kind kind)
{
    memset(v, 0, sizeof *v);
    v->kind = kind;
}

void abi_value_uint(abi_value *v, uint64_t x)
{
    value_init(v, ABI_UINT);
    for (int i = 0; i < 8; i++)
        v->word[31 - i] = (uint8_t)(x >> (8 * i));
}

void abi_value_u256(abi_value *v, const u256 *x)
{
    value_init(v, ABI_UINT);
    memcpy(v->word, x->b, 32);
}

void abi_value_int(abi_value *v, int64_t x)
{
    value_init(v, ABI_INT);
    uint64_t u = (uint64_t)x;
    memset(v->word, x < 0 ? 0xff : 0x00, 24);
    for (int i = 0; i < 8; i++)
        v->word[31 - i] = (uint8_t)(u >> (8 * i));
}

void abi_value_address(abi_value *v, const uint8_t addr[20])
{
    value_init(v, ABI_ADDRESS);
    memcpy(v->word + 12, addr, 20);
}

void abi_value_bool(abi_value *v, int b)
{
    value_init(v, ABI_BOOL);
    v->word[31] = b ? 1 : 0;
}

void abi_value_fixed_bytes(abi_value *v, const uint8_t *p, size_t n)
{
    value_init(v, ABI_FIXED_BYTES);
    memcpy(v->word, p, n > 32 ? 32 : n);
}

static int value_set_data(abi_value *v, abi_kind kind, const void *p, size_t n)
{
    value_init(v, kind);
    v->data = malloc(n + 1);
    if (!v->data)
        return -1;
    if (n)
        memcpy(v->data, p, n);
    v->data[n] = 0;
    v->len = n;
    return 0;
}

int abi_value_bytes(abi_value *v, const uint8_t *p, size_t n)
{
    return value_set_data(v, ABI_BYTES, p, n);
}

int abi_value_string(abi_value *v, const char *s)
{
    return value_set_data(v, ABI_STRING, s, strlen(s));
}

int abi_value_list(abi_value *v, abi_kind kind, size_t n)
{
    value_init(v, kind);
    if (n == 0)
        return 0;
    v->items = calloc(n, sizeof *v->items);
    if (!v->items)
        return -1;
    v->n_items = n;
    return 0;
}

void abi_value_free(abi_value *v)
{
    if (!v)
        return;
    for (size_t i = 0; i < v->n_items; i++)
        abi_value_free(&v->items[i]);
    free(v->items);
    free(v->data);
    memset(v, 0, sizeof *v);
}

int abi_value_get_u64(const abi_value *v, uint64_t *out, char *err, size_t errlen)
{
    if (v->kind != ABI_UINT)
        return fail(err, errlen, "abi: value is not an unsigned integer");
    u256 u;
    memcpy(u.b, v->word, 32);
    return u256_to_u64(&u, out, err, errlen);
}

const abi_value *abi_value_field(const abi_type *t, const abi_value *v, const char *name)
{
    if (t->kind != ABI_TUPLE || v->kind != ABI_TUPLE || v->n_items != t->n_fields)
        return NULL;
    for (size_t i = 0; i < t->n_fields; i++)
        if (t->fields[i]->name && !strcmp(t->fields[i]->name, name))
            return &v->items[i];
    return NULL;
}

/* ------------------------------------------------------------------ word checks */

static const char *kind_name(abi_kind k)
{
    static const char *names[] = {"uint",  "int",    "address", "bool",        "bytesN",
                                  "bytes", "string", "array",   "fixed array", "tuple"};
    return (unsigned)k < sizeof names / sizeof names[0] ? names[k] : "?";
}

/* Is word a valid encoding of the scalar type t? Returns NULL or what is wrong. */
static const char *check_word(const abi_type *t, const uint8_t w[32])
{
    size_t i;
    switch (t->kind) {
    case ABI_UINT:
        for (i = 0; i < 32 - t->bits / 8; i++)
            if (w[i])
                return "dirty high bits (value exceeds the type's width)";
        return NULL;
    case ABI_INT: {
        size_t top = 32 - t->bits / 8; /* first byte that belongs to the value */
        uint8_t fill = (w[top] & 0x80) ? 0xff : 0x00;
        for (i = 0; i < top; i++)
            if (w[i] != fill)
                return "dirty high bits (not the sign extension of the value)";
        return NULL;
    }
    case ABI_ADDRESS:
        for (i = 0; i < 12; i++)
            if (w[i])
                return "dirty high bits in an address";
        return NULL;
    case ABI_BOOL:
        for (i = 0; i < 31; i++)
            if (w[i])
                return "bool is neither 0 nor 1";
        return w[31] > 1 ? "bool is neither 0 nor 1" : NULL;
    case ABI_FIXED_BYTES:
        for (i = t->size; i < 32; i++)
            if (w[i])
                return "non-zero padding after bytesN";
        return NULL;
    default:
        return "not a scalar type";
    }
}

static int is_scalar(abi_kind k)
{
    return k == ABI_UINT || k == ABI_INT || k == ABI_ADDRESS || k == ABI_BOOL ||
           k == ABI_FIXED_BYTES;
}

/* ------------------------------------------------------------------ encoding */

typedef struct {
    buf *out;
    char *err;
    size_t errlen;
} encoder;

static int enc_value(encoder *e, const abi_type *t, const abi_value *v);

static const abi_type *member_type(const abi_type *list_type, size_t i)
{
    return list_type->kind == ABI_TUPLE ? list_type->fields[i] : list_type->elem;
}

static void put_word_u64(buf *out, uint64_t n)
{
    uint8_t w[32] = {0};
    for (int i = 0; i < 8; i++)
        w[31 - i] = (uint8_t)(n >> (8 * i));
    buf_append(out, w, 32);
}

/* Encodes the n members of list_type (tuple fields or repeated elem) from items. */
static int enc_list(encoder *e, const abi_type *list_type, const abi_value *items, size_t n)
{
    size_t start = e->out->len;
    size_t *slots = NULL;
    if (n) {
        slots = calloc(n, sizeof *slots);
        if (!slots)
            return fail(e->err, e->errlen, "abi: out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        const abi_type *mt = member_type(list_type, i);
        slots[i] = e->out->len;
        if (mt->dynamic)
            buf_zeros(e->out, 32);
        else if (enc_value(e, mt, &items[i]) < 0)
            goto error;
    }
    for (size_t i = 0; i < n; i++) {
        const abi_type *mt = member_type(list_type, i);
        if (!mt->dynamic)
            continue;
        size_t offset = e->out->len - start;
        if (buf_ok(e->out) == 0)
            for (int b = 0; b < 8; b++)
                e->out->data[slots[i] + 31 - b] = (uint8_t)((uint64_t)offset >> (8 * b));
        if (enc_value(e, mt, &items[i]) < 0)
            goto error;
    }
    free(slots);
    return 0;
error:
    free(slots);
    return -1;
}

static int enc_value(encoder *e, const abi_type *t, const abi_value *v)
{
    if (v->kind != t->kind)
        return fail(e->err, e->errlen, "abi: %s value given for a %s", kind_name(v->kind),
                    kind_name(t->kind));
    if (is_scalar(t->kind)) {
        const char *bad = check_word(t, v->word);
        if (bad)
            return fail(e->err, e->errlen, "abi: cannot encode %s value: %s", kind_name(t->kind),
                        bad);
        buf_append(e->out, v->word, 32);
        return 0;
    }
    switch (t->kind) {
    case ABI_BYTES:
    case ABI_STRING:
        put_word_u64(e->out, v->len);
        buf_append(e->out, v->data, v->len);
        buf_zeros(e->out, (32 - v->len % 32) % 32);
        return 0;
    case ABI_ARRAY:
        put_word_u64(e->out, v->n_items);
        return enc_list(e, t, v->items, v->n_items);
    case ABI_FIXED_ARRAY:
        if (v->n_items != t->size)
            return fail(e->err, e->errlen, "abi: fixed array of %u items given %zu", t->size,
                        v->n_items);
        return enc_list(e, t, v->items, v->n_items);
    case ABI_TUPLE:
        if (v->n_items != t->n_fields)
            return fail(e->err, e->errlen, "abi: tuple of %zu components given %zu", t->n_fields,
                        v->n_items);
        return enc_list(e, t, v->items, v->n_items);
    default:
        return fail(e->err, e->errlen, "abi: unknown type kind");
    }
}

int abi_encode(const abi_type *t, const abi_value *v, buf *out, char *err, size_t errlen)
{
    encoder e = {out, err, errlen};
    int rc;
    if (t->kind == ABI_TUPLE) {
        if (v->kind != ABI_TUPLE || v->n_items != t->n_fields)
            return fail(err, errlen, "abi: parameter list of %zu values expected", t->n_fields);
        rc = enc_list(&e, t, v->items, v->n_items);
    } else {
        /* the one-element list (t) */
        abi_type *fields[1] = {(abi_type *)t};
        abi_type list = {.kind = ABI_TUPLE, .fields = fields, .n_fields = 1};
        rc = enc_list(&e, &list, v, 1);
    }
    if (rc == 0 && buf_ok(out) < 0)
        return fail(err, errlen, "abi: out of memory");
    return rc;
}

int abi_encode_call(const abi_signature *sig, const abi_value *args, buf *out, char *err,
                    size_t errlen)
{
    uint8_t sel[4];
    if (abi_selector(sig, sel) < 0)
        return fail(err, errlen, "abi: cannot hash the signature of %s", sig->name);
    buf_append(out, sel, 4);
    return abi_encode(sig->params, args, out, err, errlen);
}

/* ------------------------------------------------------------------ decoding */

typedef struct {
    const uint8_t *in; /* the whole input: offsets in messages are relative to it */
    char *err;
    size_t errlen;
} decoder;

/* Reads the word at pos as a length/offset that must fit comfortably in a size_t. */
static int read_size_word(decoder *d, size_t pos, const char *what, size_t *out)
{
    const uint8_t *w = d->in + pos;
    for (int i = 0; i < 24; i++)
        if (w[i])
            return fail(d->err, d->errlen, "abi: %s word at offset %zu is out of range", what, pos);
    uint64_t v = 0;
    for (int i = 24; i < 32; i++)
        v = v << 8 | w[i];
    if (v > (uint64_t)(SIZE_MAX / 64))
        return fail(d->err, d->errlen, "abi: %s word at offset %zu is out of range", what, pos);
    *out = (size_t)v;
    return 0;
}

static int dec_value(decoder *d, const abi_type *t, size_t pos, size_t end, abi_value *v,
                     size_t *used);

/* Decodes a list of n members (see member_type) whose head starts at start; the list's bytes
 * may extend up to end. *used gets the size of head + tails. */
static int dec_list(decoder *d, const abi_type *list_type, size_t n, size_t start, size_t end,
                    abi_value *items, size_t *used)
{
    size_t head = 0;
    for (size_t i = 0; i < n; i++)
        head += head_size(member_type(list_type, i));
    if (head > end - start)
        return fail(d->err, d->errlen,
                    "abi: truncated data at offset %zu: %zu bytes of head needed, %zu left", start,
                    head, end - start);
    size_t slot = start, tail = start + head;
    for (size_t i = 0; i < n; i++) {
        const abi_type *mt = member_type(list_type, i);
        size_t member_used;
        if (mt->dynamic) {
            size_t off = 0;
            if (read_size_word(d, slot, "offset", &off) < 0)
                return -1;
            if (off != tail - start)
                return fail(d->err, d->errlen,
                            "abi: offset word at offset %zu holds %zu; the canonical encoding has "
                            "%zu there "
                            "(out of bounds or non-canonical layout)",
                            slot, off, tail - start);
            if (dec_value(d, mt, tail, end, &items[i], &member_used) < 0)
                return -1;
            tail += member_used;
            slot += 32;
        } else {
            if (dec_value(d, mt, slot, end, &items[i], &member_used) < 0)
                return -1;
            slot += member_used;
        }
    }
    *used = tail - start;
    return 0;
}

static int dec_value(decoder *d, const abi_type *t, size_t pos, size_t end, abi_value *v,
                     size_t *used)
{
    value_init(v, t->kind);
    if (is_scalar(t->kind)) {
        if (end - pos < 32)
            return fail(d->err, d->errlen, "abi: truncated data at offset %zu: %s word expected",
                        pos, kind_name(t->kind));
        const char *bad = check_word(t, d->in + pos);
        if (bad)
            return fail(d->err, d->errlen, "abi: %s at offset %zu", bad, pos);
        memcpy(v->word, d->in + pos, 32);
        *used = 32;
        return 0;
    }
    size_t n = 0, avail;
    switch (t->kind) {
    case ABI_BYTES:
    case ABI_STRING: {
        if (end - pos < 32)
            return fail(d->err, d->errlen, "abi: truncated data at offset %zu: length expected",
                        pos);
        if (read_size_word(d, pos, "length", &n) < 0)
            return -1;
        avail = end - pos - 32;
        size_t padded = n + (32 - n % 32) % 32;
        if (padded > avail)
            return fail(d->err, d->errlen,
                        "abi: truncated data at offset %zu: length %zu needs %zu bytes, %zu left",
                        pos, n, padded, avail);
        for (size_t i = n; i < padded; i++)
            if (d->in[pos + 32 + i])
                return fail(d->err, d->errlen, "abi: non-zero padding at offset %zu", pos + 32 + i);
        if (value_set_data(v, t->kind, d->in + pos + 32, n) < 0)
            return fail(d->err, d->errlen, "abi: out of memory");
        *used = 32 + padded;
        return 0;
    }
    case ABI_ARRAY: {
        if (end - pos < 32)
            return fail(d->err, d->errlen, "abi: truncated data at offset %zu: length expected",
                        pos);
        if (read_size_word(d, pos, "array length", &n) < 0)
            return -1;
        /* every element takes at least 32 bytes of head: bound n before allocating */
        avail = end - pos - 32;
        if (n > avail / 32 || (!t->elem->dynamic && n > avail / t->elem->static_size))
            return fail(d->err, d->errlen,
                        "abi: array length %zu at offset %zu exceeds the %zu bytes left", n, pos,
                        avail);
        if (abi_value_list(v, ABI_ARRAY, n) < 0)
            return fail(d->err, d->errlen, "abi: out of memory");
        if (dec_list(d, t, n, pos + 32, end, v->items, used) < 0)
            return -1;
        *used += 32;
        return 0;
    }
    case ABI_FIXED_ARRAY:
    case ABI_TUPLE:
        n = t->kind == ABI_TUPLE ? t->n_fields : t->size;
        if (abi_value_list(v, t->kind, n) < 0)
            return fail(d->err, d->errlen, "abi: out of memory");
        return dec_list(d, t, n, pos, end, v->items, used);
    default:
        return fail(d->err, d->errlen, "abi: unknown type kind");
    }
}

int abi_decode(const abi_type *t, const uint8_t *data, size_t len, abi_value *out, char *err,
               size_t errlen)
{
    decoder d = {data, err, errlen};
    size_t used = 0;
    int rc;
    value_init(out, t->kind);
    if (t->kind == ABI_TUPLE) {
        if (abi_value_list(out, ABI_TUPLE, t->n_fields) < 0)
            return fail(err, errlen, "abi: out of memory");
        rc = dec_list(&d, t, t->n_fields, 0, len, out->items, &used);
    } else {
        abi_type *fields[1] = {(abi_type *)t};
        abi_type list = {.kind = ABI_TUPLE, .fields = fields, .n_fields = 1};
        rc = dec_list(&d, &list, 1, 0, len, out, &used);
    }
    if (rc == 0 && used != len)
        rc = fail(err, errlen, "abi: %zu trailing bytes at offset %zu", len - used, used);
    if (rc < 0)
        abi_value_free(out);
    return rc;
}

int abi_decode_log(const abi_signature *ev, const uint8_t (*topics)[32], size_t n_topics,
                   const uint8_t *data, size_t len, abi_value *out, char *err, size_t errlen)
{
    const abi_type *params = ev->params;
    size_t n_indexed = 0;
    value_init(out, ABI_TUPLE);
    for (size_t i = 0; i < params->n_fields; i++)
        n_indexed += params->fields[i]->indexed ? 1 : 0;
    if (n_topics != 1 + n_indexed)
        return fail(err, errlen,
                    "abi: event %s has %zu indexed parameters, so %zu topics; the log has %zu",
                    ev->name, n_indexed, 1 + n_indexed, n_topics);
    uint8_t topic0[32];
    if (abi_signature_hash(ev, topic0) < 0)
        return fail(err, errlen, "abi: cannot hash the signature of %s", ev->name);
    if (memcmp(topic0, topics[0], 32))
        return fail(err, errlen, "abi: topic 0 of the log is not the topic of event %s", ev->name);

    /* the non-indexed parameters, as one list decoded from data */
    abi_type **fields = calloc(params->n_fields ? params->n_fields : 1, sizeof *fields);
    abi_value tmp;
    value_init(&tmp, ABI_TUPLE);
    if (!fields || abi_value_list(out, ABI_TUPLE, params->n_fields) < 0) {
        free(fields);
        return fail(err, errlen, "abi: out of memory");
    }
    abi_type data_type = {.kind = ABI_TUPLE, .fields = fields};
    for (size_t i = 0; i < params->n_fields; i++)
        if (!params->fields[i]->indexed)
            fields[data_type.n_fields++] = params->fields[i];
    compute_layout(&data_type);
    int rc = abi_decode(&data_type, data, len, &tmp, err, errlen);
    free(fields);
    if (rc < 0) {
        abi_value_free(out);
        return -1;
    }
    size_t next_topic = 1, next_data = 0;
    for (size_t i = 0; i < params->n_fields; i++) {
        const abi_type *pt = params->fields[i];
        abi_value *v = &out->items[i];
        if (!pt->indexed) {
            *v = tmp.items[next_data]; /* move */
            value_init(&tmp.items[next_data++], ABI_BOOL);
            continue;
        }
        const uint8_t *topic = topics[next_topic++];
        if (is_scalar(pt->kind)) {
            const char *bad = check_word(pt, topic);
            if (bad) {
                abi_value_free(&tmp);
                abi_value_free(out);
                return fail(err, errlen, "abi: topic %zu (parameter %zu of %s): %s", next_topic - 1,
                            i, ev->name, bad);
            }
            value_init(v, pt->kind);
            memcpy(v->word, topic, 32);
        } else {
            value_init(v, ABI_FIXED_BYTES);
            memcpy(v->word, topic, 32);
            v->is_topic_hash = 1;
        }
    }
    abi_value_free(&tmp);
    return 0;
}
