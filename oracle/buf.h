/*
 * buf: a growable byte buffer, the output type of every encoder in oracle/ (RLP, ABI, tx).
 *
 * Appending never fails visibly at the call site: an allocation failure sets `failed`, later
 * appends do nothing, and the encoder that owns the buffer reports it once at the end
 * (buf_ok). This keeps encoders free of per-byte error plumbing.
 */
#ifndef SIBYL_ORACLE_BUF_H
#define SIBYL_ORACLE_BUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint8_t *data;
    size_t len, cap;
    int failed; /* nonzero after an allocation failure */
} buf;

#define BUF_INIT                                                                                   \
    {                                                                                              \
        NULL, 0, 0, 0                                                                              \
    }

void buf_init(buf *b);
/* Frees the storage (wiping it first: encoders may hold key material) and resets b. */
void buf_free(buf *b);
/* Empties b, keeping its storage. */
void buf_reset(buf *b);
/* Makes room for n more bytes. Returns 0, or -1 (and sets failed) on allocation failure. */
int buf_reserve(buf *b, size_t n);
void buf_append(buf *b, const void *p, size_t n);
void buf_push(buf *b, uint8_t byte);
/* Appends n zero bytes. */
void buf_zeros(buf *b, size_t n);
/* Inserts n bytes at position pos (pos <= len), moving the rest right. */
void buf_insert(buf *b, size_t pos, const void *p, size_t n);
/* 0 when every append so far succeeded, -1 otherwise. */
int buf_ok(const buf *b);

#endif
