/*
 * libFuzzer target for the strict RLP decoder. Beyond "no crash": whatever decodes
 * re-encodes to exactly the input (canonical RLP only), and integer reads agree with the
 * item's bytes.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oracle/rlp.h"

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t len);

/* Re-encodes item (and its children) into out; -1 on a decode error inside. */
static int reencode(const uint8_t *base, const rlp_item *item, buf *out, int depth)
{
    char err[256];
    if (depth > 10000)
        return -1;
    if (!item->is_list) {
        uint64_t u;
        if (rlp_item_u64(item, &u, err, sizeof err) == 0) {
            buf tmp = BUF_INIT;
            rlp_put_u64(&tmp, u);
            if (tmp.len != item->total_len || memcmp(tmp.data, base + item->offset, tmp.len))
                abort(); /* an accepted integer must re-encode identically */
            buf_free(&tmp);
        }
        rlp_put_bytes(out, item->payload, item->payload_len);
        return 0;
    }
    rlp_iter it;
    rlp_item child;
    if (rlp_iter_init(&it, base, item, err, sizeof err) < 0)
        abort();
    size_t m = rlp_list_begin(out);
    int rc;
    while ((rc = rlp_next(&it, &child, err, sizeof err)) == 1)
        if (reencode(base, &child, out, depth + 1) < 0)
            return -1;
    if (rc < 0)
        return -1;
    rlp_list_end(out, m);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t len)
{
    rlp_item top;
    char err[256];
    if (rlp_decode(in, len, &top, err, sizeof err) < 0)
        return 0;
    buf out = BUF_INIT;
    if (reencode(in, &top, &out, 0) == 0) {
        if (out.len != len || memcmp(out.data, in, len)) {
            fprintf(stderr, "decoded RLP does not re-encode to itself\n");
            abort();
        }
    }
    buf_free(&out);
    return 0;
}
