/*
 * chain: an attested request as the chain shows it, for `sibyl attest verify` and the online
 * `sibyl replay`. Everything comes from the oracle's public record: the InferenceRequested log,
 * every vote (Attested logs, and the calldata of the fulfill / attest / reject transaction that
 * carried each signature), the final Fulfilled / Rejected log and the oracle's views
 * (getRequest, models, isNode, acceptedEngineVersion, attestationDigest).
 *
 * Untrusted input: every log, transaction and return value is checked; a malformed one is an
 * error (or a failed check) with the reason, never a crash.
 */
#ifndef SIBYL_ATTEST_CHAIN_H
#define SIBYL_ATTEST_CHAIN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "attest/record.h"
#include "oracle/eip712.h"
#include "oracle/rpc.h"

enum { CHAIN_OK = 0, CHAIN_ERROR = -1, CHAIN_NOT_FOUND = -2 };

typedef enum { VOTE_FULFILL = 1, VOTE_ATTEST = 2, VOTE_REJECT = 3 } vote_kind;

/* One vote: an Attested log and the transaction that carried it. */
typedef struct {
    uint8_t node[20]; /* the signer as the contract recovered it (Attested topic 2) */
    uint8_t event_output_hash[32];
    uint16_t event_reject_code;
    uint8_t tx[32];
    uint64_t block;
    int decoded; /* the transaction's calldata was read (else decode_err) */
    char decode_err[1024];
    vote_kind kind;
    sibyl_attestation att;
    uint8_t signature[65];
    int has_output; /* fulfill: the output bytes it carried */
    uint8_t *output;
    size_t output_len;
} chain_vote;

typedef struct {
    uint8_t oracle[20];
    uint64_t chain_id;
    audit_record req; /* the request's fields (from the event); no answer yet */
    /* getRequest(id) */
    uint8_t status; /* 0 None, 1 Open, 2 Fulfilled, 3 Rejected, 4 Cancelled */
    uint16_t quorum;
    uint8_t committed_model_hash[32], committed_input_hash[32], committed_params_hash[32];
    uint8_t committed_seed[32];
    uint8_t registry_model_hash[32]; /* models(modelId), today */
    chain_vote *votes;
    size_t n_votes;
    /* the final answer, when the request is finalised */
    int fulfilled, rejected;
    uint8_t final_output_hash[32];
    uint8_t *final_output;
    size_t final_output_len;
    uint16_t final_reject_code;
} chain_request;

const char *chain_status_name(int status);

/* ref: a transaction hash (0x + 64 hex digits: the request's transaction, or one that answered
 * it) or a request id (decimal, or 0x-hex shorter than 64 digits). from_block bounds the log
 * search. Returns CHAIN_OK, CHAIN_NOT_FOUND (no such request on this oracle; message in err)
 * or CHAIN_ERROR. */
int chain_fetch(rpc_client *rpc, const uint8_t oracle[20], const char *ref, uint64_t from_block,
                chain_request *out, char *err, size_t errlen);
void chain_request_free(chain_request *c);

/* Prints every check of every vote ("OK   ..." / "FAIL ..."); returns the number of FAILs, or
 * -1 on an RPC failure (message in err). */
int chain_verify(rpc_client *rpc, const chain_request *c, FILE *out, char *err, size_t errlen);

/* The record a replay needs: the request, and the final answer (or the first vote when none is
 * final) with its attestation and signature. -1 when there is no vote with its calldata. */
int chain_to_record(const chain_request *c, audit_record *r, char *err, size_t errlen);

#endif
