/*
 * event: reading InferenceRequested logs (the JSON objects of eth_subscribe logs / eth_getLogs)
 * into journal records. Untrusted input: every field is checked, nothing is assumed about a log
 * that arrived over the network, and a malformed one is an error with the reason, never a crash.
 */
#ifndef SIBYL_ORACLE_EVENT_H
#define SIBYL_ORACLE_EVENT_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "oracle/abi.h"
#include "oracle/journal.h"

/* The event as the contract declares it (docs/protocol.md). */
#define EVENT_INFERENCE_REQUESTED                                                                  \
    "InferenceRequested(uint256 indexed id,address indexed requester,bytes32 indexed modelId,"     \
    "bytes32 adapter,bytes input,bytes params,uint256 seed,uint32 callbackGasLimit,"               \
    "uint64 deadline)"

/* Decodes log (topics, data, blockNumber, blockHash, transactionHash, logIndex) with event (the
 * parsed EVENT_INFERENCE_REQUESTED) into r (jreq_init'ed here; jreq_free it). The state and
 * timestamps are left to the caller. 0, or -1 with the reason in err. */
int event_decode_request(const abi_signature *event, const cJSON *log, jreq *r, char *err,
                         size_t errlen);

/* Small JSON helpers for hex fields: 0 or -1 (missing, not a string, not valid hex). */
int json_hex_u64(const cJSON *o, const char *name, uint64_t *out);
int json_hex32(const cJSON *o, const char *name, uint8_t out[32]);

#endif
