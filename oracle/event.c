#include "oracle/event.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oracle/hex.h"

int json_hex_u64(const cJSON *o, const char *name, uint64_t *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) ? hex_quantity_to_u64(v->valuestring, out, NULL, 0) : -1;
}

int json_hex32(const cJSON *o, const char *name, uint8_t out[32])
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) ? hex_decode_exact(v->valuestring, out, 32, NULL, 0) : -1;
}

int event_decode_request(const abi_signature *event, const cJSON *log, jreq *r, char *err,
                         size_t errlen)
{
    jreq_init(r);
    const cJSON *topics = cJSON_GetObjectItemCaseSensitive(log, "topics");
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(log, "data");
    int nt = cJSON_GetArraySize(topics);
    if (!cJSON_IsArray(topics) || nt < 1 || nt > 4 || !cJSON_IsString(data)) {
        snprintf(err, errlen, "log without topics or data");
        return -1;
    }
    uint8_t tp[4][32];
    for (int i = 0; i < nt; i++) {
        const cJSON *t = cJSON_GetArrayItem(topics, i);
        if (!cJSON_IsString(t) || hex_decode_exact(t->valuestring, tp[i], 32, err, errlen))
            return -1;
    }
    uint8_t *d = NULL;
    size_t dlen = 0;
    if (hex_decode_alloc(data->valuestring, &d, &dlen, err, errlen))
        return -1;
    abi_value v;
    int rc = abi_decode_log(event, (const uint8_t(*)[32])tp, (size_t)nt, d, dlen, &v, err, errlen);
    free(d);
    if (rc)
        return -1;
    uint64_t cbgas = 0, deadline = 0;
    if (v.n_items != 9) {
        snprintf(err, errlen, "event has %zu fields, expected 9", v.n_items);
        abi_value_free(&v);
        return -1;
    }
    if (abi_value_get_u64(&v.items[7], &cbgas, err, errlen) ||
        abi_value_get_u64(&v.items[8], &deadline, err, errlen)) {
        abi_value_free(&v);
        return -1;
    }
    memcpy(r->f.id, v.items[0].word, 32);
    memcpy(r->f.requester, v.items[1].word + 12, 20);
    memcpy(r->f.model_id, v.items[2].word, 32);
    memcpy(r->f.adapter, v.items[3].word, 32);
    memcpy(r->f.seed, v.items[6].word, 32);
    r->f.callback_gas_limit = (uint32_t)cbgas;
    r->f.deadline = deadline;
    if (jreq_set(&r->input, &r->input_len, v.items[4].data, v.items[4].len) ||
        jreq_set(&r->params, &r->params_len, v.items[5].data, v.items[5].len)) {
        abi_value_free(&v);
        jreq_free(r);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    abi_value_free(&v);
    uint64_t li = 0;
    if (json_hex_u64(log, "blockNumber", &r->f.block_number) ||
        json_hex32(log, "blockHash", r->f.block_hash) ||
        json_hex32(log, "transactionHash", r->f.log_tx_hash) ||
        json_hex_u64(log, "logIndex", &li)) {
        jreq_free(r);
        snprintf(err, errlen,
                 "log without blockNumber/blockHash/transactionHash/logIndex "
                 "(pending log?)");
        return -1;
    }
    r->f.log_index = (uint32_t)li;
    return 0;
}
