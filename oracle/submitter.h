/*
 * submitter: turns computed requests into EIP-1559 transactions and sees them mined.
 *
 * Two threads, each with its own JSON-RPC connection. The sender, for each computed request:
 * fees from the newest header (maxFee = min(cap, 2 * baseFee + tip); eth_feeHistory when the
 * header has none), gas from eth_estimateGas plus gas_margin_percent (or the cached estimate of
 * the same transaction shape), then, in ONE journal transaction, the next nonce is taken, the
 * transaction signed and stored (state "submitted"), and only then sent. Several transactions
 * are in flight at once (consecutive nonces).
 *
 * The tracker, on every new head, asks eth_getTransactionCount(latest) which nonces are mined,
 * reads the receipts of those only, and finalises a request once its receipt is receipt_depth
 * blocks deep.
 * A transaction not mined after resend_after_blocks is re-signed with the same nonce and fees
 * raised by fee_bump_percent (capped); one whose send failed in transport (it never reached the
 * RPC node) is sent again, same bytes, at the tracker's next pass (every head, or 0.5 s), blocks
 * or not. A reply "already known" / "nonce too low" to a (re)send means a version is in the pool
 * or mined, not an error. A simulated or mined revert saying the
 * request is no longer open (another node answered, or it expired) or that this node already
 * voted finishes the request as done. A request cancelled by a reorg after its transaction
 * was signed gives its nonce to a zero-value self-transfer, so later nonces never stall; if the
 * request is re-included meanwhile, that nonce belongs to a nonce record (journal.h) and the
 * tracker follows it there, while the request is answered again with a new nonce.
 *
 * Start-up: the nonce counter in the journal is reconciled with the chain
 * (eth_getTransactionCount pending), and every transaction that was signed but maybe not
 * sent (crash) is re-broadcast from its journaled bytes.
 */
#ifndef SIBYL_ORACLE_SUBMITTER_H
#define SIBYL_ORACLE_SUBMITTER_H

#include <stddef.h>
#include <stdint.h>

#include <secp256k1.h>

#include "oracle/config.h"
#include "oracle/journal.h"
#include "oracle/metrics.h"

typedef struct submitter submitter;

typedef struct {
    const config *cfg;
    journal *j;
    metrics *m;
    const secp256k1_context *secp;
    const uint8_t *key;  /* 32 bytes: the node's private key */
    const uint8_t *addr; /* 20 bytes: its address */
    /* Model ids registered with quorum 1 when the node started: their answers skip the
     * outputSupplied check (a quorum-1 fulfill never leaves bytes to attest to). Only a hint:
     * a wrong entry costs gas (fulfill instead of attest), never correctness. */
    const uint8_t (*quorum1_models)[32];
    int n_quorum1_models;
} submitter_deps;

int submitter_create(const submitter_deps *d, submitter **out, char *err, size_t errlen);
/* Reconciles nonces, loads the in-flight transactions from the journal, starts the thread. */
int submitter_start(submitter *s, char *err, size_t errlen);
/* A request reached "computed": submit it. */
void submitter_enqueue(submitter *s, const uint8_t id[32]);
/* Chain events from the watcher thread. */
/* next_base_fee: the base fee of the block after head, from its header (tx_next_base_fee), or
 * NULL when the header has none: then fees come from eth_feeHistory. block_gas_limit: the
 * header's gasLimit (0 when it has none); a batch of transactions is sized to half of it. */
void submitter_on_head(submitter *s, uint64_t head, const uint64_t *next_base_fee,
                       uint64_t block_gas_limit);
void submitter_on_reorg(submitter *s);
/* A final request whose mined transaction a reorg took off the chain while its request block
 * stayed; the caller has put it back to "submitted" in the journal (before submitter_on_reorg).
 * The tracker follows its journaled transaction again and re-sends the same bytes if the chain
 * does not have them. */
void submitter_follow_again(submitter *s, const uint8_t id[32], uint64_t nonce, uint64_t head);
void submitter_on_reconnect(submitter *s);
/* Whether this key is a registered node (isNode), as the node last read it. 0 pauses sending:
 * computed answers wait in the journal (no transaction that would revert NotNode and burn gas)
 * until it is 1 again. The submitter also pauses by itself when the contract answers NotNode. */
void submitter_set_registered(submitter *s, int registered);
/* Number of transactions not yet final (for tests and shutdown logs). */
int submitter_in_flight(submitter *s);
void submitter_stop(submitter *s);
void submitter_destroy(submitter *s);

#endif
