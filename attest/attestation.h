/*
 * attestation: what a node signs about one answer (or refusal), and the model file's hash.
 *
 *   requestId, seed            from the InferenceRequested event
 *   modelHash                  sha256 of the GGUF file (what `sha256sum model.gguf` prints)
 *   inputHash, paramsHash      keccak256 of the event's input and params bytes
 *   outputHash                 keccak256 of the output bytes (keccak256("") for a reject)
 *   engineVersion              ENGINE_ARITH_VERSION, ASCII left-aligned in bytes32
 *   rejectCode                 0 for an answer, a REJECT_* code (adapters/adapter.h) otherwise
 *
 * The signature is EIP-712 over the domain {name "SibylInferenceOracle", version "1", chainId,
 * verifyingContract = the oracle} (oracle/eip712.h).
 */
#ifndef SIBYL_ATTEST_ATTESTATION_H
#define SIBYL_ATTEST_ATTESTATION_H

#include <stddef.h>
#include <stdint.h>

#include "oracle/eip712.h"
#include "oracle/journal.h"

/* sha256 of the file at path. Hashing a multi-GB file takes a while, so the result is cached
 * in the journal under the file's identity (device, inode, size, mtime): a restart, or a second
 * model entry for the same file, does not rehash; any change to the file does. j may be NULL
 * (no cache). progress != 0 logs a progress line every ~10% for files over 64 MiB. */
int attest_model_hash(const char *path, journal *j, int progress, uint8_t out[32], char *err,
                      size_t errlen);

/* Fills a from request id, seed, the hashes and the reject code. output may be NULL when
 * output_len is 0. */
void attest_build(sibyl_attestation *a, const uint8_t request_id[32], const uint8_t seed[32],
                  const uint8_t model_hash[32], const uint8_t *input, size_t input_len,
                  const uint8_t *params, size_t params_len, const uint8_t *output,
                  size_t output_len, uint16_t reject_code);

/* engineVersion: ENGINE_ARITH_VERSION left-aligned, zero-padded. */
void attest_engine_version(uint8_t out[32]);

#endif
