#include "oracle/buf.h"

#include <stdlib.h>
#include <string.h>

void buf_init(buf *b)
{
    b->data = NULL;
    b->len = b->cap = 0;
    b->failed = 0;
}

void buf_free(buf *b)
{
    if (b->data) {
        explicit_bzero(b->data, b->cap);
        free(b->data);
    }
    buf_init(b);
}

void buf_reset(buf *b)
{
    b->len = 0;
    b->failed = 0;
}

int buf_reserve(buf *b, size_t n)
{
    if (b->failed)
        return -1;
    if (n <= b->cap - b->len)
        return 0;
    if (n > SIZE_MAX / 2 - b->len) {
        b->failed = 1;
        return -1;
    }
    size_t cap = b->cap ? b->cap : 64;
    while (cap - b->len < n)
        cap *= 2;
    /* Not realloc: the old block is wiped before it is released. */
    uint8_t *p = malloc(cap);
    if (!p) {
        b->failed = 1;
        return -1;
    }
    if (b->data) {
        memcpy(p, b->data, b->len);
        explicit_bzero(b->data, b->cap);
        free(b->data);
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

void buf_append(buf *b, const void *p, size_t n)
{
    if (n == 0 || buf_reserve(b, n) < 0)
        return;
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

void buf_push(buf *b, uint8_t byte)
{
    buf_append(b, &byte, 1);
}

void buf_zeros(buf *b, size_t n)
{
    if (n == 0 || buf_reserve(b, n) < 0)
        return;
    memset(b->data + b->len, 0, n);
    b->len += n;
}

void buf_insert(buf *b, size_t pos, const void *p, size_t n)
{
    if (n == 0 || pos > b->len || buf_reserve(b, n) < 0) {
        if (pos > b->len)
            b->failed = 1;
        return;
    }
    memmove(b->data + pos + n, b->data + pos, b->len - pos);
    memcpy(b->data + pos, p, n);
    b->len += n;
}

int buf_ok(const buf *b)
{
    return b->failed ? -1 : 0;
}
