#include "attest/record.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oracle/hex.h"
#include "oracle/keccak.h"

void audit_record_init(audit_record *r)
{
    memset(r, 0, sizeof *r);
}

void audit_record_free(audit_record *r)
{
    free(r->input);
    free(r->params);
    free(r->output);
    if (r->trace) {
        trace_free(r->trace);
        free(r->trace);
    }
    audit_record_init(r);
}

void audit_record_attestation(const audit_record *r, sibyl_attestation *a)
{
    memset(a, 0, sizeof *a);
    memcpy(a->request_id.b, r->request_id, 32);
    memcpy(a->seed.b, r->seed, 32);
    memcpy(a->model_hash, r->model_hash, 32);
    memcpy(a->input_hash, r->input_hash, 32);
    memcpy(a->params_hash, r->params_hash, 32);
    memcpy(a->output_hash, r->output_hash, 32);
    memcpy(a->engine_version, r->engine_version, 32);
    a->reject_code = r->reject_code;
}

static int dup_bytes(uint8_t **dst, size_t *dst_len, const uint8_t *p, size_t n)
{
    *dst = malloc(n ? n : 1);
    if (!*dst)
        return -1;
    if (n)
        memcpy(*dst, p, n);
    *dst_len = n;
    return 0;
}

/* ---- audit blob ---- */

static void put_le(buf *b, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        buf_push(b, (uint8_t)(v >> (8 * i)));
}

static uint64_t get_le(const uint8_t *p, int bytes)
{
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

void audit_blob_encode(uint64_t chain_id, const uint8_t oracle[20], const uint8_t signer[20],
                       const sibyl_trace *t, buf *out)
{
    buf_append(out, AUDIT_MAGIC, 4);
    put_le(out, AUDIT_VERSION, 4);
    put_le(out, chain_id, 8);
    buf_append(out, oracle, 20);
    buf_append(out, signer, 20);
    trace_encode(t, out);
}

int audit_record_from_journal(const jreq *jr, const uint8_t *blob, size_t blob_len, audit_record *r,
                              char *err, size_t errlen)
{
    audit_record_init(r);
    const jreq_fixed *f = &jr->f;
    memcpy(r->request_id, f->id, 32);
    memcpy(r->requester, f->requester, 20);
    memcpy(r->model_id, f->model_id, 32);
    memcpy(r->adapter, f->adapter, 32);
    memcpy(r->seed, f->seed, 32);
    r->callback_gas_limit = f->callback_gas_limit;
    r->deadline = f->deadline;
    r->block_number = f->block_number;
    memcpy(r->block_hash, f->block_hash, 32);
    memcpy(r->request_tx, f->log_tx_hash, 32);
    r->log_index = f->log_index;
    memcpy(r->model_hash, f->model_hash, 32);
    memcpy(r->input_hash, f->input_hash, 32);
    memcpy(r->params_hash, f->params_hash, 32);
    memcpy(r->output_hash, f->output_hash, 32);
    memcpy(r->engine_version, f->engine_version, 32);
    r->reject_code = f->reject_code;
    memcpy(r->signature, f->signature, 65);
    r->has_signature = 1;
    if (f->n_tx_hashes > 0 && f->n_tx_hashes <= JREQ_MAX_TX_HASHES) {
        memcpy(r->answer_tx, f->tx_hashes[f->n_tx_hashes - 1], 32);
        r->has_answer_tx = 1;
    }
    snprintf(r->state, sizeof r->state, "%s", req_state_name(f->state));
    if (dup_bytes(&r->input, &r->input_len, jr->input, jr->input_len) ||
        dup_bytes(&r->params, &r->params_len, jr->params, jr->params_len) ||
        dup_bytes(&r->output, &r->output_len, jr->output, jr->output_len)) {
        audit_record_free(r);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (!blob)
        return 0;
    if (blob_len < AUDIT_HEADER_BYTES || memcmp(blob, AUDIT_MAGIC, 4) ||
        get_le(blob + 4, 4) != AUDIT_VERSION) {
        audit_record_free(r);
        snprintf(err, errlen, "audit blob: not an audit blob of version %u", AUDIT_VERSION);
        return -1;
    }
    r->has_domain = 1;
    r->chain_id = get_le(blob + 8, 8);
    memcpy(r->oracle, blob + 16, 20);
    memcpy(r->signer, blob + 36, 20);
    r->has_signer = 1;
    r->trace = malloc(sizeof *r->trace);
    if (!r->trace || trace_decode(blob + AUDIT_HEADER_BYTES, blob_len - AUDIT_HEADER_BYTES,
                                  r->trace, err, errlen)) {
        free(r->trace);
        r->trace = NULL;
        audit_record_free(r);
        if (!*err)
            snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

/* ---- JSON ---- */

static int add_hex(cJSON *o, const char *name, const uint8_t *p, size_t n)
{
    char *s = malloc(2 * n + 3);
    if (!s)
        return -1;
    hex_encode(s, p, n);
    cJSON *v = cJSON_AddStringToObject(o, name, s);
    free(s);
    return v ? 0 : -1;
}

static int add_u64(cJSON *o, const char *name, uint64_t v)
{
    /* numbers above 2^53 lose precision in JSON doubles: those go as decimal strings */
    if (v <= (1ULL << 53))
        return cJSON_AddNumberToObject(o, name, (double)v) ? 0 : -1;
    char s[24];
    snprintf(s, sizeof s, "%" PRIu64, v);
    return cJSON_AddStringToObject(o, name, s) ? 0 : -1;
}

static cJSON *trace_to_json(const sibyl_trace *t)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON *steps = cJSON_AddArrayToObject(o, "steps");
    if (!cJSON_AddNumberToObject(o, "canvasLength", t->canvas_length) ||
        !cJSON_AddBoolToObject(o, "truncated", t->truncated) || !steps)
        goto fail;
    for (uint32_t i = 0; i < t->n_steps; i++) {
        cJSON *s = cJSON_CreateObject();
        if (!s)
            goto fail;
        cJSON_AddItemToArray(steps, s);
        if (!cJSON_AddNumberToObject(s, "canvas", t->canvas[i]) ||
            !cJSON_AddNumberToObject(s, "step", t->step[i]) ||
            add_hex(s, "logitsHash", t->logits_hash[i], 32))
            goto fail;
        cJSON *a = cJSON_CreateIntArray((const int *)trace_argmax(t, i), (int)t->canvas_length);
        if (!a)
            goto fail;
        cJSON_AddItemToObject(s, "argmax", a);
    }
    return o;
fail:
    cJSON_Delete(o);
    return NULL;
}

char *audit_record_to_json(const audit_record *r)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    u256 id;
    memcpy(id.b, r->request_id, 32);
    char dec[U256_DEC_MAX];
    u256_to_dec(&id, dec);
    int bad = !cJSON_AddStringToObject(o, "format", RECORD_FORMAT);
    if (r->has_domain) {
        char oracle[43];
        hex_encode(oracle, r->oracle, 20);
        bad |= add_u64(o, "chainId", r->chain_id) || !cJSON_AddStringToObject(o, "oracle", oracle);
    }
    bad |= !cJSON_AddStringToObject(o, "requestId", dec);
    bad |= add_hex(o, "requester", r->requester, 20) || add_hex(o, "modelId", r->model_id, 32) ||
           add_hex(o, "adapter", r->adapter, 32) || add_hex(o, "input", r->input, r->input_len) ||
           add_hex(o, "params", r->params, r->params_len) || add_hex(o, "seed", r->seed, 32) ||
           add_u64(o, "callbackGasLimit", r->callback_gas_limit) ||
           add_u64(o, "deadline", r->deadline) || add_u64(o, "blockNumber", r->block_number) ||
           add_hex(o, "blockHash", r->block_hash, 32) ||
           add_hex(o, "requestTx", r->request_tx, 32) || add_u64(o, "logIndex", r->log_index);
    bad |=
        add_hex(o, "modelHash", r->model_hash, 32) || add_hex(o, "inputHash", r->input_hash, 32) ||
        add_hex(o, "paramsHash", r->params_hash, 32) ||
        add_hex(o, "outputHash", r->output_hash, 32) ||
        add_hex(o, "engineVersion", r->engine_version, 32) ||
        add_u64(o, "rejectCode", r->reject_code) || add_hex(o, "output", r->output, r->output_len);
    if (r->has_signature)
        bad |= add_hex(o, "signature", r->signature, 65);
    if (r->has_signer)
        bad |= add_hex(o, "signer", r->signer, 20);
    if (r->has_answer_tx)
        bad |= add_hex(o, "answerTx", r->answer_tx, 32);
    if (r->state[0])
        bad |= !cJSON_AddStringToObject(o, "state", r->state);
    if (r->trace) {
        cJSON *t = trace_to_json(r->trace);
        if (t)
            cJSON_AddItemToObject(o, "trace", t);
        else
            bad = 1;
    } else {
        bad |= !cJSON_AddNullToObject(o, "trace");
    }
    char *s = bad ? NULL : cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

/* ---- JSON in ---- */

static const cJSON *member(const cJSON *o, const char *name, char *err, size_t errlen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!v)
        snprintf(err, errlen, "record: no \"%s\"", name);
    return v;
}

static int get_hex_exact(const cJSON *o, const char *name, uint8_t *out, size_t n, char *err,
                         size_t errlen)
{
    const cJSON *v = member(o, name, err, errlen);
    if (!v)
        return -1;
    char e[160];
    if (!cJSON_IsString(v) || hex_decode_exact(v->valuestring, out, n, e, sizeof e)) {
        snprintf(err, errlen, "record: \"%s\" must be 0x + %zu hex bytes%s%s", name, n,
                 cJSON_IsString(v) ? ": " : "", cJSON_IsString(v) ? e : "");
        return -1;
    }
    return 0;
}

static int get_hex_alloc(const cJSON *o, const char *name, uint8_t **out, size_t *n, char *err,
                         size_t errlen)
{
    const cJSON *v = member(o, name, err, errlen);
    if (!v)
        return -1;
    char e[160];
    if (!cJSON_IsString(v) || hex_decode_alloc(v->valuestring, out, n, e, sizeof e)) {
        snprintf(err, errlen, "record: \"%s\" must be 0x-hex bytes%s%s", name,
                 cJSON_IsString(v) ? ": " : "", cJSON_IsString(v) ? e : "");
        return -1;
    }
    return 0;
}

static int get_u64(const cJSON *o, const char *name, uint64_t max, uint64_t *out, char *err,
                   size_t errlen)
{
    const cJSON *v = member(o, name, err, errlen);
    if (!v)
        return -1;
    if (cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble <= (double)(1ULL << 53) &&
        v->valuedouble == (double)(uint64_t)v->valuedouble && (uint64_t)v->valuedouble <= max) {
        *out = (uint64_t)v->valuedouble;
        return 0;
    }
    if (cJSON_IsString(v)) {
        u256 x;
        uint64_t y;
        if (!u256_from_dec(v->valuestring, &x, NULL, 0) && !u256_to_u64(&x, &y, NULL, 0) &&
            y <= max) {
            *out = y;
            return 0;
        }
    }
    snprintf(err, errlen, "record: \"%s\" must be an integer in [0, %" PRIu64 "]", name, max);
    return -1;
}

static int trace_from_json(const cJSON *o, sibyl_trace *t, char *err, size_t errlen)
{
    trace_init(t, 0);
    uint64_t cl;
    const cJSON *trunc = cJSON_GetObjectItemCaseSensitive(o, "truncated");
    const cJSON *steps = cJSON_GetObjectItemCaseSensitive(o, "steps");
    if (!cJSON_IsObject(o) || get_u64(o, "canvasLength", 1u << 20, &cl, err, errlen))
        goto bad_shape;
    if (!cJSON_IsBool(trunc) || !cJSON_IsArray(steps) || (!cl && cJSON_GetArraySize(steps)))
        goto bad_shape;
    t->max_bytes = (size_t)-1; /* what the file holds is what it holds */
    int32_t *ids = malloc((cl ? cl : 1) * sizeof *ids);
    if (!ids) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    const cJSON *s;
    uint32_t i = 0;
    cJSON_ArrayForEach(s, steps)
    {
        uint64_t c, k;
        uint8_t h[32];
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(s, "argmax");
        if (get_u64(s, "canvas", INT32_MAX, &c, err, errlen) ||
            get_u64(s, "step", INT32_MAX, &k, err, errlen) ||
            get_hex_exact(s, "logitsHash", h, 32, err, errlen)) {
            free(ids);
            trace_free(t);
            size_t l = strlen(err);
            snprintf(err + l, errlen > l ? errlen - l : 0, " (trace step %u)", i);
            return -1;
        }
        if (!cJSON_IsArray(a) || (uint64_t)cJSON_GetArraySize(a) != cl) {
            free(ids);
            trace_free(t);
            snprintf(err, errlen, "record: trace step %u: argmax must hold %" PRIu64 " ids", i, cl);
            return -1;
        }
        uint32_t p = 0;
        const cJSON *x;
        cJSON_ArrayForEach(x, a)
        {
            if (!cJSON_IsNumber(x) || x->valuedouble < INT32_MIN || x->valuedouble > INT32_MAX ||
                x->valuedouble != (double)(int32_t)x->valuedouble) {
                free(ids);
                trace_free(t);
                snprintf(err, errlen, "record: trace step %u: argmax[%u] is not a token id", i, p);
                return -1;
            }
            ids[p++] = (int32_t)x->valuedouble;
        }
        engine_step st;
        memset(&st, 0, sizeof st);
        st.canvas = (int)c;
        st.step = (int)k;
        st.argmax = ids;
        st.canvas_length = (uint32_t)cl;
        memcpy(st.logits_hash, h, 32);
        trace_append(t, &st);
        if (t->truncated || t->n_steps != i + 1) {
            free(ids);
            trace_free(t);
            snprintf(err, errlen, "record: trace step %u: out of memory", i);
            return -1;
        }
        i++;
    }
    free(ids);
    t->canvas_length = (uint32_t)cl;
    t->truncated = cJSON_IsTrue(trunc);
    return 0;
bad_shape:
    snprintf(err, errlen,
             "record: \"trace\" must be null or {canvasLength, truncated, steps: [...]}");
    return -1;
}

int audit_record_from_json(const char *text, audit_record *r, char *err, size_t errlen)
{
    audit_record_init(r);
    cJSON *o = cJSON_Parse(text);
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        snprintf(err, errlen, "record: not a JSON object");
        return -1;
    }
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(o, "format");
    if (!cJSON_IsString(fmt) || strcmp(fmt->valuestring, RECORD_FORMAT)) {
        snprintf(err, errlen, "record: \"format\" must be \"%s\"", RECORD_FORMAT);
        goto fail;
    }
    uint64_t v;
    if (cJSON_GetObjectItemCaseSensitive(o, "oracle")) {
        if (get_u64(o, "chainId", UINT64_MAX, &r->chain_id, err, errlen) ||
            get_hex_exact(o, "oracle", r->oracle, 20, err, errlen))
            goto fail;
        r->has_domain = 1;
    }
    const cJSON *id = member(o, "requestId", err, errlen);
    if (!id)
        goto fail;
    if (!cJSON_IsString(id) || audit_parse_request_id(id->valuestring, r->request_id, NULL, 0)) {
        snprintf(err, errlen, "record: \"requestId\" must be a decimal string");
        goto fail;
    }
    if (get_hex_exact(o, "requester", r->requester, 20, err, errlen) ||
        get_hex_exact(o, "modelId", r->model_id, 32, err, errlen) ||
        get_hex_exact(o, "adapter", r->adapter, 32, err, errlen) ||
        get_hex_alloc(o, "input", &r->input, &r->input_len, err, errlen) ||
        get_hex_alloc(o, "params", &r->params, &r->params_len, err, errlen) ||
        get_hex_exact(o, "seed", r->seed, 32, err, errlen))
        goto fail;
    if (get_u64(o, "callbackGasLimit", UINT32_MAX, &v, err, errlen))
        goto fail;
    r->callback_gas_limit = (uint32_t)v;
    if (get_u64(o, "deadline", UINT64_MAX, &r->deadline, err, errlen) ||
        get_u64(o, "blockNumber", UINT64_MAX, &r->block_number, err, errlen) ||
        get_hex_exact(o, "blockHash", r->block_hash, 32, err, errlen) ||
        get_hex_exact(o, "requestTx", r->request_tx, 32, err, errlen) ||
        get_u64(o, "logIndex", UINT32_MAX, &v, err, errlen))
        goto fail;
    r->log_index = (uint32_t)v;
    if (get_hex_exact(o, "modelHash", r->model_hash, 32, err, errlen) ||
        get_hex_exact(o, "inputHash", r->input_hash, 32, err, errlen) ||
        get_hex_exact(o, "paramsHash", r->params_hash, 32, err, errlen) ||
        get_hex_exact(o, "outputHash", r->output_hash, 32, err, errlen) ||
        get_hex_exact(o, "engineVersion", r->engine_version, 32, err, errlen) ||
        get_u64(o, "rejectCode", UINT16_MAX, &v, err, errlen) ||
        get_hex_alloc(o, "output", &r->output, &r->output_len, err, errlen))
        goto fail;
    r->reject_code = (uint16_t)v;
    if (cJSON_GetObjectItemCaseSensitive(o, "signature")) {
        if (get_hex_exact(o, "signature", r->signature, 65, err, errlen))
            goto fail;
        r->has_signature = 1;
    }
    if (cJSON_GetObjectItemCaseSensitive(o, "signer")) {
        if (get_hex_exact(o, "signer", r->signer, 20, err, errlen))
            goto fail;
        r->has_signer = 1;
    }
    if (cJSON_GetObjectItemCaseSensitive(o, "answerTx")) {
        if (get_hex_exact(o, "answerTx", r->answer_tx, 32, err, errlen))
            goto fail;
        r->has_answer_tx = 1;
    }
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(o, "state");
    if (cJSON_IsString(st))
        snprintf(r->state, sizeof r->state, "%s", st->valuestring);
    const cJSON *tr = cJSON_GetObjectItemCaseSensitive(o, "trace");
    if (tr && !cJSON_IsNull(tr)) {
        r->trace = malloc(sizeof *r->trace);
        if (!r->trace) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
        if (trace_from_json(tr, r->trace, err, errlen)) {
            free(r->trace);
            r->trace = NULL;
            goto fail;
        }
    }
    cJSON_Delete(o);
    return 0;
fail:
    cJSON_Delete(o);
    audit_record_free(r);
    return -1;
}

int audit_parse_request_id(const char *s, uint8_t id[32], char *err, size_t errlen)
{
    u256 v;
    int rc = (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) ? u256_from_hex(s, &v, err, errlen)
                                                           : u256_from_dec(s, &v, err, errlen);
    if (rc)
        return -1;
    memcpy(id, v.b, 32);
    return 0;
}

/* One line of f into a growing buffer: 1 read, 0 at EOF, -1 out of memory. */
static int read_line(FILE *f, char **line, size_t *cap)
{
    size_t n = 0;
    int c;
    int any = 0;
    while ((c = fgetc(f)) != EOF) {
        any = 1;
        if (n + 1 >= *cap) {
            size_t nc = *cap ? *cap * 2 : 4096;
            char *p = realloc(*line, nc);
            if (!p)
                return -1;
            *line = p;
            *cap = nc;
        }
        if (c == '\n')
            break;
        (*line)[n++] = (char)c;
    }
    if (!any)
        return 0;
    if (!*line) {
        *line = malloc(1);
        if (!*line)
            return -1;
        *cap = 1;
    }
    (*line)[n] = 0;
    return 1;
}

int audit_record_read_file(const char *path, unsigned long line, const char *id, audit_record *r,
                           char *err, size_t errlen)
{
    uint8_t want[32];
    if (id && audit_parse_request_id(id, want, NULL, 0)) {
        snprintf(err, errlen, "'%s' is not a request id (decimal or 0x-hex)", id);
        return -1;
    }
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    char *buf_line = NULL;
    size_t cap = 0;
    unsigned long no = 0;
    int result = 0, rc;
    while ((rc = read_line(f, &buf_line, &cap)) == 1) {
        no++;
        if (!buf_line[0] || (!id && line && no != line))
            continue;
        char e[256] = "";
        if (audit_record_from_json(buf_line, r, e, sizeof e)) {
            snprintf(err, errlen, "%s line %lu: %s", path, no, e);
            result = -1;
            break;
        }
        if (!id || !memcmp(r->request_id, want, 32)) {
            result = 1;
            break;
        }
        audit_record_free(r);
    }
    if (rc < 0) {
        snprintf(err, errlen, "out of memory reading %s", path);
        result = -1;
    }
    free(buf_line);
    fclose(f);
    if (result == 0)
        snprintf(err, errlen, "%s: %s", path,
                 id ? "no record of that request id" : "no such line (or no records)");
    return result;
}
