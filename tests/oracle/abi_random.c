#include "tests/oracle/abi_random.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oracle/hex.h"
#include "oracle/secp.h"
#include "tests/oracle/testutil.h"

static void puts_buf(buf *b, const char *s)
{
    buf_append(b, s, strlen(s));
}

static void scalar_type(buf *out)
{
    char s[16];
    switch (tu_rand() % 6) {
    case 0:
        snprintf(s, sizeof s, "uint%u", (unsigned)(8 * (1 + tu_rand() % 32)));
        break;
    case 1:
        snprintf(s, sizeof s, "int%u", (unsigned)(8 * (1 + tu_rand() % 32)));
        break;
    case 2:
        snprintf(s, sizeof s, "address");
        break;
    case 3:
        snprintf(s, sizeof s, "bool");
        break;
    case 4:
        snprintf(s, sizeof s, "bytes%u", (unsigned)(1 + tu_rand() % 32));
        break;
    default:
        snprintf(s, sizeof s, "uint256");
    }
    puts_buf(out, s);
}

void ar_type(buf *out, int max_depth)
{
    unsigned pick = (unsigned)(tu_rand() % (max_depth > 0 ? 10 : 6));
    if (pick < 4) {
        scalar_type(out);
    } else if (pick == 4) {
        puts_buf(out, "bytes");
    } else if (pick == 5) {
        puts_buf(out, "string");
    } else if (pick < 8) {
        ar_type(out, max_depth - 1);
        char s[8];
        if (pick == 6)
            snprintf(s, sizeof s, "[]");
        else
            snprintf(s, sizeof s, "[%u]", (unsigned)(1 + tu_rand() % 3));
        puts_buf(out, s);
    } else {
        unsigned n = (unsigned)(1 + tu_rand() % 3);
        buf_push(out, '(');
        for (unsigned i = 0; i < n; i++) {
            if (i)
                buf_push(out, ',');
            ar_type(out, max_depth - 1);
        }
        buf_push(out, ')');
    }
}

static void random_word_bits(uint8_t w[32], unsigned bits, int is_signed)
{
    memset(w, 0, 32);
    unsigned mode = (unsigned)(tu_rand() % 5);
    unsigned nbytes = bits / 8;
    if (mode == 0) {
        /* zero */
    } else if (mode == 1) {
        w[31] = (uint8_t)(tu_rand() % 10); /* small */
    } else if (mode == 2) {
        memset(w + 32 - nbytes, 0xff, nbytes); /* all ones: max or -1 */
    } else {
        tu_rand_bytes(w + 32 - nbytes, nbytes);
    }
    if (is_signed && (w[32 - nbytes] & 0x80))
        memset(w, 0xff, 32 - nbytes);
    if (is_signed && mode == 2 && tu_rand() % 2) { /* the minimum: 0x80 00 .. */
        memset(w, 0xff, 32);
        w[32 - nbytes] = 0x80;
        memset(w + 33 - nbytes, 0, nbytes - 1);
    }
}

void ar_value(const abi_type *t, abi_value *v)
{
    uint8_t b[80];
    size_t n;
    switch (t->kind) {
    case ABI_UINT:
    case ABI_INT:
        abi_value_uint(v, 0);
        v->kind = t->kind;
        random_word_bits(v->word, t->bits, t->kind == ABI_INT);
        break;
    case ABI_ADDRESS:
        tu_rand_bytes(b, 20);
        abi_value_address(v, b);
        break;
    case ABI_BOOL:
        abi_value_bool(v, (int)(tu_rand() % 2));
        break;
    case ABI_FIXED_BYTES:
        tu_rand_bytes(b, t->size);
        abi_value_fixed_bytes(v, b, t->size);
        break;
    case ABI_BYTES:
        n = tu_rand() % 70;
        tu_rand_bytes(b, n);
        abi_value_bytes(v, b, n);
        break;
    case ABI_STRING: {
        static const char alphabet[] =
            "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ";
        char s[48];
        n = 1 + tu_rand() % 40;
        s[0] = (char)('a' + tu_rand() % 26); /* never looks like a number */
        for (size_t i = 1; i < n; i++)
            s[i] = alphabet[tu_rand() % (sizeof alphabet - 1)];
        s[n] = '\0';
        abi_value_string(v, s);
        break;
    }
    case ABI_ARRAY:
    case ABI_FIXED_ARRAY:
        n = t->kind == ABI_ARRAY ? tu_rand() % 4 : t->size;
        abi_value_list(v, t->kind, n);
        for (size_t i = 0; i < n; i++)
            ar_value(t->elem, &v->items[i]);
        break;
    case ABI_TUPLE:
        abi_value_list(v, ABI_TUPLE, t->n_fields);
        for (size_t i = 0; i < t->n_fields; i++)
            ar_value(t->fields[i], &v->items[i]);
        break;
    }
}

/* The decimal form of a uintN/intN word. */
static void word_decimal(const abi_type *t, const uint8_t w[32], buf *out)
{
    u256 u;
    memcpy(u.b, w, 32);
    if (t->kind == ABI_INT && (w[0] & 0x80)) {
        /* two's complement negation */
        unsigned carry = 1;
        for (int i = 31; i >= 0; i--) {
            unsigned x = (uint8_t)~u.b[i] + carry;
            u.b[i] = (uint8_t)x;
            carry = x >> 8;
        }
        buf_push(out, '-');
    }
    char dec[U256_DEC_MAX];
    u256_to_dec(&u, dec);
    puts_buf(out, dec);
}

static void hex_bytes(const uint8_t *p, size_t n, buf *out)
{
    char *s = malloc(2 * n + 3);
    hex_encode(s, p, n);
    puts_buf(out, s);
    free(s);
}

static void format(const abi_type *t, const abi_value *v, buf *out, int json)
{
    const char *q = json ? "\"" : "";
    switch (t->kind) {
    case ABI_UINT:
    case ABI_INT:
        word_decimal(t, v->word, out);
        break;
    case ABI_ADDRESS:
        puts_buf(out, q);
        if (json) {
            char cs[43];
            eth_address_checksum(v->word + 12, cs);
            puts_buf(out, cs);
        } else {
            hex_bytes(v->word + 12, 20, out);
        }
        puts_buf(out, q);
        break;
    case ABI_BOOL:
        puts_buf(out, v->word[31] ? "true" : "false");
        break;
    case ABI_FIXED_BYTES:
        puts_buf(out, q);
        hex_bytes(v->word, t->size, out);
        puts_buf(out, q);
        break;
    case ABI_BYTES:
        puts_buf(out, q);
        hex_bytes(v->data, v->len, out);
        puts_buf(out, q);
        break;
    case ABI_STRING:
        buf_push(out, '"');
        buf_append(out, v->data, v->len);
        buf_push(out, '"');
        break;
    case ABI_ARRAY:
    case ABI_FIXED_ARRAY:
    case ABI_TUPLE:
        buf_push(out, (t->kind == ABI_TUPLE && !json) ? '(' : '[');
        for (size_t i = 0; i < v->n_items; i++) {
            if (i)
                buf_push(out, ',');
            format(t->kind == ABI_TUPLE ? t->fields[i] : t->elem, &v->items[i], out, json);
        }
        buf_push(out, (t->kind == ABI_TUPLE && !json) ? ')' : ']');
        break;
    }
}

void ar_cast_arg(const abi_type *t, const abi_value *v, buf *out)
{
    format(t, v, out, 0);
}

void ar_cast_json(const abi_type *t, const abi_value *v, buf *out)
{
    format(t, v, out, 1);
}

void ar_normalise_json(const char *in, buf *out)
{
    for (const char *p = in; *p;) {
        if (*p == '"') {
            const char *e = p + 1;
            while (*e && *e != '"') {
                if (*e == '\\' && e[1])
                    e++;
                e++;
            }
            int numeric = e > p + 1;
            for (const char *c = p + 1; c < e; c++)
                if (!((*c >= '0' && *c <= '9') || (c == p + 1 && *c == '-')))
                    numeric = 0;
            if (numeric)
                buf_append(out, p + 1, (size_t)(e - p - 1));
            else
                buf_append(out, p, (size_t)(e - p + (*e ? 1 : 0)));
            p = *e ? e + 1 : e;
        } else {
            if (*p != ' ' && *p != '\n' && *p != '\t' && *p != '\r')
                buf_push(out, (uint8_t)*p);
            p++;
        }
    }
    buf_push(out, 0);
}
