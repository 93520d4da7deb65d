/*
 * libFuzzer target for the ABI type parser and the strict decoder.
 *
 * Input: a first byte b. If b < 0xf0 the type is TYPES[b % N] and the rest is data. Otherwise
 * the input up to the first '\n' is a type string (fuzzing the parser) and the rest is data.
 * Property checked beyond "no crash": whatever decodes re-encodes to exactly the input
 * (the decoder accepts canonical encodings only). Also decodes the data as an event log.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oracle/abi.h"

static const char *const TYPES[] = {
    "(uint256,bytes,address[])",
    "((uint8,string)[],bool)",
    "(bytes32,int8,bytes3,uint16[2])",
    "(string[],(bytes,uint64)[2])",
    "uint256[]",
    "bytes",
    "(uint256,address,uint256,address,bytes,bytes,uint64,uint64,uint64)",
    "((uint256,bytes)[],string,int256[])",
};

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t len);

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t len)
{
    if (len < 1)
        return 0;
    abi_type *t = NULL;
    const uint8_t *data;
    size_t n;
    char err[256];
    if (in[0] < 0xf0) {
        if (abi_type_parse(TYPES[in[0] % (sizeof TYPES / sizeof TYPES[0])], &t, err, sizeof err))
            abort();
        data = in + 1;
        n = len - 1;
    } else {
        const uint8_t *nl = memchr(in + 1, '\n', len - 1);
        if (!nl)
            return 0;
        size_t tl = (size_t)(nl - in - 1);
        char *ts = malloc(tl + 1);
        memcpy(ts, in + 1, tl);
        ts[tl] = '\0';
        int rc = abi_type_parse(ts, &t, err, sizeof err);
        free(ts);
        if (rc < 0)
            return 0;
        data = nl + 1;
        n = len - (size_t)(data - in);
    }
    abi_value v;
    if (abi_decode(t, data, n, &v, err, sizeof err) == 0) {
        buf b = BUF_INIT;
        if (abi_encode(t, &v, &b, err, sizeof err) < 0 || b.len != n ||
            (n && memcmp(b.data, data, n))) {
            fprintf(stderr, "decoded input does not re-encode to itself: %s\n", err);
            abort();
        }
        buf_free(&b);
        abi_value_free(&v);
    }
    abi_type_free(t);

    /* the same data as the body of an event log with indexed parameters */
    abi_signature ev;
    if (abi_signature_parse(
            "E(uint256 indexed id,address indexed who,bytes input,string tag,uint64 seed)", &ev,
            err, sizeof err))
        abort();
    uint8_t topics[3][32] = {{0}};
    abi_signature_hash(&ev, topics[0]);
    if (n >= 64) {
        memcpy(topics[1], data, 32);
        memcpy(topics[2], data + 32, 32);
    }
    abi_value lv;
    if (abi_decode_log(&ev, (const uint8_t(*)[32])topics, 3, data, n, &lv, err, sizeof err) == 0)
        abi_value_free(&lv);
    abi_signature_free(&ev);
    return 0;
}
