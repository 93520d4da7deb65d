#include "oracle/rlp.h"

#include <stdarg.h>
#include <stdio.h>
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

/* Writes the header for a payload of n bytes (base 0x80 strings, 0xc0 lists) into h. */
static size_t make_header(uint8_t h[9], uint8_t base, size_t n)
{
    if (n <= 55) {
        h[0] = (uint8_t)(base + n);
        return 1;
    }
    uint8_t len_bytes[8];
    size_t k = 0;
    for (size_t v = n; v; v >>= 8)
        len_bytes[k++] = (uint8_t)v;
    h[0] = (uint8_t)(base + 55 + k);
    for (size_t i = 0; i < k; i++)
        h[1 + i] = len_bytes[k - 1 - i];
    return 1 + k;
}

void rlp_put_bytes(buf *out, const uint8_t *p, size_t n)
{
    if (n == 1 && p[0] < 0x80) {
        buf_push(out, p[0]);
        return;
    }
    uint8_t h[9];
    buf_append(out, h, make_header(h, 0x80, n));
    buf_append(out, p, n);
}

void rlp_put_u64(buf *out, uint64_t v)
{
    uint8_t be[8];
    size_t k = 0;
    for (uint64_t t = v; t; t >>= 8)
        k++;
    for (size_t i = 0; i < k; i++)
        be[k - 1 - i] = (uint8_t)(v >> (8 * i));
    rlp_put_bytes(out, be, k);
}

void rlp_put_u256(buf *out, const u256 *v)
{
    size_t z = 0;
    while (z < 32 && v->b[z] == 0)
        z++;
    rlp_put_bytes(out, v->b + z, 32 - z);
}

size_t rlp_list_begin(buf *out)
{
    return out->len;
}

void rlp_list_end(buf *out, size_t marker)
{
    if (out->failed || marker > out->len) {
        out->failed = 1;
        return;
    }
    uint8_t h[9];
    size_t hn = make_header(h, 0xc0, out->len - marker);
    buf_insert(out, marker, h, hn);
}

/* Decodes the item header at in[pos..end) (offsets relative to base). */
static int decode_at(const uint8_t *base, size_t pos, size_t end, rlp_item *item, char *err,
                     size_t errlen)
{
    if (pos >= end)
        return fail(err, errlen, "rlp: truncated input at offset %zu (item expected)", pos);
    uint8_t b0 = base[pos];
    size_t avail = end - pos - 1;
    size_t hlen, plen;
    int is_list = b0 >= 0xc0;
    item->offset = pos;
    if (b0 < 0x80) {
        item->is_list = 0;
        item->payload = base + pos;
        item->payload_len = 1;
        item->payload_offset = pos;
        item->total_len = 1;
        return 0;
    }
    uint8_t short_base = is_list ? 0xc0 : 0x80;
    if (b0 <= short_base + 55) {
        hlen = 1;
        plen = b0 - short_base;
    } else {
        size_t k = b0 - short_base - 55;
        if (k > avail)
            return fail(err, errlen,
                        "rlp: truncated length at offset %zu (%zu bytes needed, %zu left)", pos + 1,
                        k, avail);
        if (base[pos + 1] == 0)
            return fail(err, errlen, "rlp: length with a leading zero byte at offset %zu", pos + 1);
        if (k > sizeof(size_t))
            return fail(err, errlen, "rlp: length at offset %zu is too large", pos + 1);
        plen = 0;
        for (size_t i = 0; i < k; i++)
            plen = plen << 8 | base[pos + 1 + i];
        if (plen <= 55)
            return fail(
                err, errlen,
                "rlp: non-canonical long-form length %zu at offset %zu (short form required)", plen,
                pos);
        hlen = 1 + k;
    }
    if (plen > end - pos - hlen)
        return fail(err, errlen,
                    "rlp: truncated %s at offset %zu: payload of %zu bytes, %zu available",
                    is_list ? "list" : "string", pos, plen, end - pos - hlen);
    if (!is_list && plen == 1 && base[pos + hlen] < 0x80)
        return fail(
            err, errlen,
            "rlp: non-canonical single byte 0x%02x at offset %zu (must be encoded as itself)",
            base[pos + hlen], pos);
    item->is_list = is_list;
    item->payload = base + pos + hlen;
    item->payload_len = plen;
    item->payload_offset = pos + hlen;
    item->total_len = hlen + plen;
    return 0;
}

int rlp_decode(const uint8_t *in, size_t len, rlp_item *item, char *err, size_t errlen)
{
    if (decode_at(in, 0, len, item, err, errlen) < 0)
        return -1;
    if (item->total_len != len)
        return fail(err, errlen, "rlp: %zu trailing bytes at offset %zu", len - item->total_len,
                    item->total_len);
    return 0;
}

int rlp_iter_init(rlp_iter *it, const uint8_t *base, const rlp_item *list, char *err, size_t errlen)
{
    if (!list->is_list)
        return fail(err, errlen, "rlp: list expected at offset %zu, found a string", list->offset);
    it->base = base;
    it->pos = list->payload_offset;
    it->end = list->payload_offset + list->payload_len;
    return 0;
}

int rlp_next(rlp_iter *it, rlp_item *item, char *err, size_t errlen)
{
    if (it->pos >= it->end)
        return 0;
    if (decode_at(it->base, it->pos, it->end, item, err, errlen) < 0)
        return -1;
    it->pos += item->total_len;
    return 1;
}

static int item_uint(const rlp_item *item, uint8_t *out, size_t width, char *err, size_t errlen)
{
    if (item->is_list)
        return fail(err, errlen, "rlp: integer expected at offset %zu, found a list", item->offset);
    if (item->payload_len > width)
        return fail(err, errlen, "rlp: integer at offset %zu has %zu bytes, at most %zu allowed",
                    item->offset, item->payload_len, width);
    if (item->payload_len && item->payload[0] == 0)
        return fail(err, errlen, "rlp: integer at offset %zu has a leading zero byte",
                    item->offset);
    memset(out, 0, width);
    memcpy(out + width - item->payload_len, item->payload, item->payload_len);
    return 0;
}

int rlp_item_u64(const rlp_item *item, uint64_t *out, char *err, size_t errlen)
{
    uint8_t be[8];
    if (item_uint(item, be, 8, err, errlen) < 0)
        return -1;
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | be[i];
    *out = v;
    return 0;
}

int rlp_item_u256(const rlp_item *item, u256 *out, char *err, size_t errlen)
{
    return item_uint(item, out->b, 32, err, errlen);
}
