#include "oracle/hex.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static int digit_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

size_t hex_encode(char *out, const uint8_t *in, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    out[0] = '0';
    out[1] = 'x';
    for (size_t i = 0; i < n; i++) {
        out[2 + 2 * i] = digits[in[i] >> 4];
        out[3 + 2 * i] = digits[in[i] & 15];
    }
    out[2 + 2 * n] = '\0';
    return 2 + 2 * n;
}

/* Checks the prefix and the digits; returns the digit count or -1. */
static long check_hex(const char *hex, int need_even, char *err, size_t errlen)
{
    if (!hex)
        return fail(err, errlen, "hex string is missing");
    if (hex[0] != '0' || (hex[1] != 'x' && hex[1] != 'X'))
        return fail(err, errlen, "hex string must start with 0x");
    size_t n = strlen(hex + 2);
    for (size_t i = 0; i < n; i++)
        if (digit_value(hex[2 + i]) < 0)
            return fail(err, errlen, "invalid hex character '%c' at position %zu",
                        (hex[2 + i] >= 0x20 && hex[2 + i] < 0x7f) ? hex[2 + i] : '?', 2 + i);
    if (need_even && n % 2)
        return fail(err, errlen, "hex string has an odd number of digits (%zu)", n);
    return (long)n;
}

int hex_decode(const char *hex, uint8_t *out, size_t cap, size_t *out_len, char *err, size_t errlen)
{
    long digits = check_hex(hex, 1, err, errlen);
    if (digits < 0)
        return -1;
    size_t n = (size_t)digits / 2;
    if (n > cap)
        return fail(err, errlen, "hex string holds %zu bytes, at most %zu expected", n, cap);
    for (size_t i = 0; i < n; i++)
        out[i] = (uint8_t)(digit_value(hex[2 + 2 * i]) << 4 | digit_value(hex[3 + 2 * i]));
    if (out_len)
        *out_len = n;
    return 0;
}

int hex_decode_exact(const char *hex, uint8_t *out, size_t n, char *err, size_t errlen)
{
    long digits = check_hex(hex, 1, err, errlen);
    if (digits < 0)
        return -1;
    if ((size_t)digits != 2 * n)
        return fail(err, errlen, "hex string holds %ld bytes, %zu expected", digits / 2, n);
    return hex_decode(hex, out, n, NULL, err, errlen);
}

int hex_decode_alloc(const char *hex, uint8_t **out, size_t *out_len, char *err, size_t errlen)
{
    *out = NULL;
    long digits = check_hex(hex, 1, err, errlen);
    if (digits < 0)
        return -1;
    size_t n = (size_t)digits / 2;
    uint8_t *p = malloc(n ? n : 1);
    if (!p)
        return fail(err, errlen, "out of memory decoding %zu hex bytes", n);
    hex_decode(hex, p, n, out_len, err, errlen);
    *out = p;
    return 0;
}

int hex_quantity_to_u64(const char *hex, uint64_t *out, char *err, size_t errlen)
{
    long digits = check_hex(hex, 0, err, errlen);
    if (digits < 0)
        return -1;
    if (digits == 0)
        return fail(err, errlen, "quantity \"%s\" has no digits", hex);
    if (digits > 1 && hex[2] == '0')
        return fail(err, errlen, "quantity \"%.40s\" has a leading zero", hex);
    if (digits > 16)
        return fail(err, errlen, "quantity \"%.40s\" does not fit in 64 bits", hex);
    uint64_t v = 0;
    for (long i = 0; i < digits; i++)
        v = v << 4 | (uint64_t)digit_value(hex[2 + i]);
    *out = v;
    return 0;
}

size_t hex_quantity_from_u64(char *out, uint64_t v)
{
    return (size_t)snprintf(out, 19, "0x%llx", (unsigned long long)v);
}

void u256_from_u64(u256 *out, uint64_t v)
{
    memset(out->b, 0, 24);
    for (int i = 0; i < 8; i++)
        out->b[31 - i] = (uint8_t)(v >> (8 * i));
}

int u256_to_u64(const u256 *v, uint64_t *out, char *err, size_t errlen)
{
    for (int i = 0; i < 24; i++)
        if (v->b[i])
            return fail(err, errlen, "value does not fit in 64 bits");
    uint64_t r = 0;
    for (int i = 24; i < 32; i++)
        r = r << 8 | v->b[i];
    *out = r;
    return 0;
}

int u256_is_zero(const u256 *v)
{
    for (int i = 0; i < 32; i++)
        if (v->b[i])
            return 0;
    return 1;
}

int u256_cmp(const u256 *a, const u256 *b)
{
    int c = memcmp(a->b, b->b, 32);
    return (c > 0) - (c < 0);
}

/* v = v * mul + add; returns the carry out of the top byte (nonzero = overflow). */
static unsigned mul_add_small(u256 *v, unsigned mul, unsigned add)
{
    unsigned carry = add;
    for (int i = 31; i >= 0; i--) {
        unsigned t = v->b[i] * mul + carry;
        v->b[i] = (uint8_t)t;
        carry = t >> 8;
    }
    return carry;
}

int u256_from_dec(const char *s, u256 *out, char *err, size_t errlen)
{
    if (!s || !*s)
        return fail(err, errlen, "decimal number is empty");
    size_t n = strlen(s);
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return fail(err, errlen, "invalid decimal character '%c' at position %zu",
                        (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?', i);
    if (n > 1 && s[0] == '0')
        return fail(err, errlen, "decimal number \"%.40s\" has a leading zero", s);
    u256 v;
    memset(&v, 0, sizeof v);
    for (size_t i = 0; i < n; i++)
        if (mul_add_small(&v, 10, (unsigned)(s[i] - '0')))
            return fail(err, errlen, "decimal number \"%.80s\" exceeds 2^256-1", s);
    *out = v;
    return 0;
}

size_t u256_to_dec(const u256 *v, char out[U256_DEC_MAX])
{
    u256 t = *v;
    char rev[U256_DEC_MAX];
    size_t n = 0;
    do {
        unsigned rem = 0; /* t /= 10, long division from the top byte */
        for (int i = 0; i < 32; i++) {
            unsigned cur = rem << 8 | t.b[i];
            t.b[i] = (uint8_t)(cur / 10);
            rem = cur % 10;
        }
        rev[n++] = (char)('0' + rem);
    } while (!u256_is_zero(&t));
    for (size_t i = 0; i < n; i++)
        out[i] = rev[n - 1 - i];
    out[n] = '\0';
    return n;
}

int u256_from_hex(const char *s, u256 *out, char *err, size_t errlen)
{
    long digits = check_hex(s, 0, err, errlen);
    if (digits < 0)
        return -1;
    if (digits == 0)
        return fail(err, errlen, "hex number \"%s\" has no digits", s);
    if (digits > 64)
        return fail(err, errlen, "hex number has %ld digits, at most 64 fit in 256 bits", digits);
    memset(out->b, 0, 32);
    for (long i = 0; i < digits; i++) {
        long pos = 63 - (digits - 1 - i); /* nibble index from the top */
        uint8_t d = (uint8_t)digit_value(s[2 + i]);
        out->b[pos / 2] |= (pos % 2) ? d : (uint8_t)(d << 4);
    }
    return 0;
}

size_t u256_to_hex(const u256 *v, char out[U256_HEX_MAX])
{
    static const char digits[] = "0123456789abcdef";
    size_t n = 2;
    out[0] = '0';
    out[1] = 'x';
    int started = 0;
    for (int i = 0; i < 64; i++) {
        int d = (i % 2) ? (v->b[i / 2] & 15) : (v->b[i / 2] >> 4);
        if (d || started || i == 63) {
            out[n++] = digits[d];
            started = 1;
        }
    }
    out[n] = '\0';
    return n;
}
