/*
 * replay: re-runs an attested request on this machine, through the same adapter the node used
 * (adapter_find on the request's adapter field: every kind works unchanged), and compares what
 * it computes with what the node attested.
 *
 *   1. the record itself: its input/params/output hash to the attested inputHash / paramsHash /
 *      outputHash, and (when the record names its chain and oracle) the signature recovers;
 *   2. with a recorded trace: step by step, the first (canvas, step) whose logits hash or argmax
 *      canvas differs, and there the first differing position with both token ids;
 *   3. the answer: reject code, the output bytes (first differing byte) and keccak256(output)
 *      against the attested outputHash.
 *
 * The verdict is MATCH when all of it agrees. Printing is the caller's (replay_print).
 */
#ifndef SIBYL_ATTEST_REPLAY_H
#define SIBYL_ATTEST_REPLAY_H

#include <stdint.h>
#include <stdio.h>

#include "adapters/adapter.h"
#include "attest/record.h"
#include "attest/trace.h"
#include "inference/engine.h"

/* The engine seed of a request: the low 64 bits of the event's uint256 seed (as the node). */
uint64_t replay_engine_seed(const uint8_t seed[32]);

/* What the re-run produced. */
typedef struct {
    int unknown_adapter; /* no adapter of the record's name in this build */
    adapter_result res;
    char why[512]; /* the adapter's reason for a reject */
    sibyl_trace trace;
} replay_run_result;

/* Runs the record's request on eng. 0, or -1 on a local failure (message in err). */
int replay_run(engine *eng, const audit_record *rec, replay_run_result *out, char *err,
               size_t errlen);
void replay_run_result_free(replay_run_result *r);

/* The comparison. */
typedef struct {
    int input_hash_ok, params_hash_ok, output_hash_ok; /* the record against its attestation */
    int signature_checked, signature_ok;
    uint8_t signer[20];
    int engine_version_ok;
    int have_trace;
    trace_diff tdiff;      /* valid when have_trace */
    int reject_ok;         /* same reject code (0 = both answers) */
    int output_ok;         /* same output bytes */
    size_t output_diff_at; /* first differing byte (when !output_ok) */
    int replay_hash_ok;    /* keccak256(replayed output) == attested outputHash */
    int match;
} replay_report;

void replay_compare(const audit_record *rec, const replay_run_result *run, replay_report *rep);

/* Prints the report, one check per line, and the verdict line "MATCH ..." or "MISMATCH: ...".
 * tok (may be NULL) decodes token ids in the trace difference. */
void replay_print(FILE *f, const audit_record *rec, const replay_run_result *run,
                  const replay_report *rep, const tokenizer *tok);

#endif
