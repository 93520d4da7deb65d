/*
 * node: the oracle daemon (`sibyl run`). Wires config, journal, watcher, engine, adapters,
 * attestation, submitter and metrics together.
 *
 * Threads: the lws service thread (websocket watcher, metrics HTTP server, confirmations,
 * reorg handling, backfill), one engine worker (requests run one after another, each using
 * the configured number of engine threads), and the submitter.
 *
 * Pipeline of one request and the journal transition written before each side effect:
 *   log seen -> "seen" -> (confirmations) -> "confirmed" -> "computing" -> engine ->
 *   "computed" (output, attestation, signature) -> "submitted" (signed tx) -> send ->
 *   receipt deep enough -> "fulfilled" / "rejected".
 * A reorg that removes a request's block cancels it ("cancelled") wherever it is.
 */
#ifndef SIBYL_ORACLE_NODE_H
#define SIBYL_ORACLE_NODE_H

#include <signal.h>
#include <stddef.h>

#include "oracle/config.h"

/* Runs until *stop becomes nonzero (set it from a signal handler). Returns 0 after a clean
 * shutdown, negative when start-up failed (message in err). */
int node_run(const config *cfg, volatile sig_atomic_t *stop, char *err, size_t errlen);

#endif
