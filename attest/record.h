/*
 * record: everything a replay needs about one attested request, in one place: the request as
 * the InferenceRequested event carried it, the answer (output or reject code), the signed
 * attestation, where it happened (chain, oracle, transactions) and, when the node recorded it,
 * the per-step trace.
 *
 * Three sources and one exchange format:
 *   - the node's journal: the request record (jreq) plus its audit blob (below), written by the
 *     node in the same transaction that stores the attestation;
 *   - the chain (attest/chain.h), without a trace;
 *   - a JSON line of `sibyl attest export` (the exchange format, docs/auditing.md).
 *
 * Audit blob (the journal's "audit" sub-database, requestId -> blob; little-endian):
 *     "SAUD"  u32 version (1)  u64 chainId  u8 oracle[20]  u8 signer[20] (the node's address)
 *     then a trace (attest/trace.h)
 *
 * Functions return 0 on success, -1 with a message in err.
 */
#ifndef SIBYL_ATTEST_RECORD_H
#define SIBYL_ATTEST_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "attest/trace.h"
#include "oracle/eip712.h"
#include "oracle/journal.h"

#define AUDIT_MAGIC "SAUD"
#define AUDIT_VERSION 1u
#define AUDIT_HEADER_BYTES 56
#define RECORD_FORMAT "sibyl-audit-1"

typedef struct {
    /* where */
    int has_domain;
    uint64_t chain_id;
    uint8_t oracle[20];
    /* the request (InferenceRequested) */
    uint8_t request_id[32];
    uint8_t requester[20];
    uint8_t model_id[32];
    uint8_t adapter[32];
    uint8_t seed[32];
    uint32_t callback_gas_limit;
    uint64_t deadline;
    uint64_t block_number;
    uint8_t block_hash[32];
    uint8_t request_tx[32];
    uint32_t log_index;
    uint8_t *input, *params;
    size_t input_len, params_len;
    /* the answer and its attestation */
    uint8_t model_hash[32], input_hash[32], params_hash[32], output_hash[32];
    uint8_t engine_version[32];
    uint16_t reject_code;
    uint8_t *output;
    size_t output_len;
    int has_signature;
    uint8_t signature[65];
    int has_signer;
    uint8_t signer[20]; /* the node that signed, as it recorded itself (journal records only) */
    int has_answer_tx;
    uint8_t answer_tx[32]; /* the transaction that carried the signature (the last one sent) */
    char state[16];        /* the node's state name ("fulfilled", ...); "" when unknown */
    /* the trace (NULL: none recorded) */
    sibyl_trace *trace;
} audit_record;

void audit_record_init(audit_record *r);
void audit_record_free(audit_record *r);

/* The attestation the record's fields describe. */
void audit_record_attestation(const audit_record *r, sibyl_attestation *a);

/* ---- the journal's audit blob ---- */
void audit_blob_encode(uint64_t chain_id, const uint8_t oracle[20], const uint8_t signer[20],
                       const sibyl_trace *t, buf *out);

/* A record from the journal: r is filled from the request record and, when blob is not NULL,
 * the audit blob (domain and trace). */
int audit_record_from_journal(const jreq *jr, const uint8_t *blob, size_t blob_len, audit_record *r,
                              char *err, size_t errlen);

/* ---- JSON lines ---- */
/* One JSON object (no newline inside); malloc'd string, NULL when out of memory. */
char *audit_record_to_json(const audit_record *r);
/* Parses one line of `sibyl attest export`; every field is checked. */
int audit_record_from_json(const char *text, audit_record *r, char *err, size_t errlen);

/* Reads line `line` (1-based; 0 = the first one) or the record of request `id` (id != NULL,
 * decimal or 0x-hex) from a JSON-lines file. 1 found, 0 not found, -1 error. */
int audit_record_read_file(const char *path, unsigned long line, const char *id, audit_record *r,
                           char *err, size_t errlen);

/* Parses a request id: decimal, or 0x + 1..64 hex digits. */
int audit_parse_request_id(const char *s, uint8_t id[32], char *err, size_t errlen);

#endif
