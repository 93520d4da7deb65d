/*
 * rlp: Recursive Length Prefix, Ethereum's serialisation for transactions.
 *
 * Encoding appends to a buf (oracle/buf.h). A list is written by rlp_list_begin(), then its
 * items, then rlp_list_end(), which inserts the list header in front of the payload.
 *
 * Decoding is strict (canonical RLP only) and works on views into the caller's bytes (no
 * copies). Every error names the byte offset from the start of the decoded input:
 * truncated items, a single byte below 0x80 wrapped as a string, a short length written in
 * long form, a length with leading zero bytes, trailing bytes after the top item, and (for
 * integers) leading zero bytes. Functions return 0 (or 1, see rlp_next) on success and -1 on
 * failure with a message in err.
 */
#ifndef SIBYL_ORACLE_RLP_H
#define SIBYL_ORACLE_RLP_H

#include <stddef.h>
#include <stdint.h>

#include "oracle/buf.h"
#include "oracle/hex.h"

/* ---- encoding ---- */

void rlp_put_bytes(buf *out, const uint8_t *p, size_t n);
/* An integer: big-endian without leading zeros (0 is the empty string). */
void rlp_put_u64(buf *out, uint64_t v);
void rlp_put_u256(buf *out, const u256 *v);
/* Starts a list: returns the marker to give rlp_list_end. */
size_t rlp_list_begin(buf *out);
/* Closes the list opened at marker by inserting its header. */
void rlp_list_end(buf *out, size_t marker);

/* ---- decoding ---- */

typedef struct {
    int is_list;
    const uint8_t *payload; /* the string's bytes or the list's encoded items */
    size_t payload_len;
    size_t offset;         /* offset of the item's first header byte in the input */
    size_t payload_offset; /* offset of payload in the input */
    size_t total_len;      /* header + payload */
} rlp_item;

/* Decodes the one item that must make up all of in[0..len). */
int rlp_decode(const uint8_t *in, size_t len, rlp_item *item, char *err, size_t errlen);

/* Iterates over the items of a list. */
typedef struct {
    const uint8_t *base; /* start of the whole input, for offsets */
    size_t pos, end;
} rlp_iter;

/* Fails when item is not a list. */
int rlp_iter_init(rlp_iter *it, const uint8_t *base, const rlp_item *list, char *err,
                  size_t errlen);
/* Returns 1 with the next item, 0 at the end of the list, -1 on malformed input. */
int rlp_next(rlp_iter *it, rlp_item *item, char *err, size_t errlen);

/* Reads a string item as an integer (no leading zeros; at most 8 / 32 bytes). */
int rlp_item_u64(const rlp_item *item, uint64_t *out, char *err, size_t errlen);
int rlp_item_u256(const rlp_item *item, u256 *out, char *err, size_t errlen);

#endif
