#!/usr/bin/env bash
# A request re-included by a reorg BEFORE the filler for its old nonce is mined is served again,
# exactly once, for its new inputs (automine off, blocks mined by hand):
#  1. request 1 is mined and the node signs and sends its fulfill (nonce n, pending);
#  2. evm_revert to before it, the pool emptied; one block at its height with another hash: the
#     node sees the reorg, cancels request 1 and gives nonce n to a filler (a zero-value
#     self-transfer), which is taken out of the pool again before any block holds it;
#  3. the same ask again: request 1 on the new branch, one block higher, so another seed (it
#     hashes the previous block's hash); the node sees it while nonce n still waits for its
#     filler;
#  4. blocks are mined until it is answered: nonce n must be the filler (re-sent: it left the
#     pool), nonce n + 1 the fulfill for the new seed (the contract checks the seed), nothing
#     else sent.
# Then the same with request 2, the node killed (SIGKILL, SIBYL_TEST_CRASH_AT=after_seen) the
# moment the re-inclusion is journaled, and with request 3, the node killed once the new fulfill
# is signed and journaled but not sent (after_sign); each time restarted: the same outcome.
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SIBYL_BUILD=${SIBYL_BUILD:-$ROOT/build}
source "$ROOT/tests/integration/lib/node-env.bash"

devnet_with_node "confirmations = 0" "receipt_depth = 0"
rpc evm_setAutomine '[false]' >/dev/null

FULFILLED_SIG='Fulfilled(uint256,bytes32,bytes)'
seed_of() { # seed_of ID: the request's seed as the oracle stores it
  "$CAST" call --rpc-url "$RPC" "$ORACLE" "getRequest(uint256)((address,uint64,uint32,uint8,uint16,uint16,uint16,bool,uint128,bytes32,bytes32,bytes32,bytes32,uint256,bytes32,bytes32))" "$1" |
    tr -d '()' | cut -d, -f14 | tr -d ' '
}
tx_at() { # tx_at NONCE: the node's mined transaction with that nonce (JSON), searched from the top
  local b tx
  b=$("$CAST" block-number --rpc-url "$RPC")
  for _ in $(seq 20); do
    tx=$(rpc eth_getBlockByNumber "[\"0x$(printf %x "$b")\",true]" |
      jq -c --arg a "$(echo "$NODE_ADDR" | tr A-F a-f)" --arg n "0x$(printf %x "$1")" \
        '.transactions[] | select(.from == $a and .nonce == $n)')
    [ -n "$tx" ] && { echo "$tx"; return 0; }
    b=$((b - 1))
  done
  die "no mined transaction of the node with nonce $1"
}

# scenario ID PROMPT SEEN_BEFORE [CRASH_POINT RESUME_LINE]: steps 1-4 above for request ID
# (SEEN_BEFORE "request seen" lines in the log so far); with CRASH_POINT the node (started with
# SIBYL_TEST_CRASH_AT=CRASH_POINT:2) dies at the re-inclusion's pass there and is restarted, and
# must say RESUME_LINE.
scenario() {
  local id=$1 prompt=$2 seen=$3 crash=${4:-} resume=${5:-} n snap old_seed new_seed fills
  n=$(node_nonce latest)
  fills=$(grep -c 'filler for a cancelled request' "$WORK/node.log" || true)
  snap=$(rpc evm_snapshot '[]' | tr -d '"')
  ask "$prompt"
  mine 1
  wait_log '"request seen' $((seen + 1)) 20
  for _ in $(seq 200); do [ "$(node_nonce pending)" = $((n + 1)) ] && break; sleep 0.05; done
  [ "$(node_nonce pending)" = $((n + 1)) ] || die "request $id: the node's fulfill is not pending"
  old_seed=$(seed_of "$id")
  rpc evm_revert "[\"$snap\"]" >/dev/null
  rpc anvil_dropAllTransactions '[]' >/dev/null
  [ "$(node_nonce pending)" = "$n" ] || die "the pool still has the node's transaction"
  mine 1 # the request's height again, another hash: the node sees the reorg
  wait_log 'filler for a cancelled request' $((fills + 1)) 20
  rpc anvil_dropAllTransactions '[]' >/dev/null # the filler is not mined yet
  [ "$(node_nonce pending)" = "$n" ] || die "the filler is still pooled"
  ask "$prompt" # the same request id on the new branch
  mine 1
  new_seed=$(seed_of "$id")
  [ "$new_seed" != "$old_seed" ] || die "request $id has the same seed on the new branch"
  if [ -n "$crash" ]; then
    for _ in $(seq 300); do kill -0 "$NODE_PID" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$NODE_PID" 2>/dev/null && die "the node did not die at $crash within 30 s"
    node_wait_exit
    grep -q "SIBYL_TEST_CRASH_AT: killing the node at $crash (pass 2)" "$WORK/node.log" ||
      die "the node did not die at $crash"
    node_start "$WORK/oracle.conf"
    node_wait_healthy
    wait_log "$resume" 1 10
  else
    wait_log '"request seen' $((seen + 2)) 20
  fi
  local end=$((SECONDS + 40))
  while [ "$(consumer_u answeredCount)" -lt "$id" ]; do
    [ $SECONDS -ge $end ] && die "request $id (re-included before its old nonce's filler was mined) was never answered"
    mine 1
    sleep 0.3
  done
  mine 2
  sleep 1
  [ "$(node_nonce latest)" = $((n + 2)) ] || die "request $id: the node used $(( $(node_nonce latest) - n )) nonces, expected 2 (filler + fulfill)"
  local filler fulfill
  filler=$(tx_at "$n")
  [ "$(echo "$filler" | jq -r .to)" = "$(echo "$NODE_ADDR" | tr A-F a-f)" ] && [ "$(echo "$filler" | jq -r .value)" = 0x0 ] ||
    die "nonce $n is not a zero-value self-transfer: $filler"
  fulfill=$(tx_at $((n + 1)))
  [ "$(echo "$fulfill" | jq -r .to)" = "$(echo "$ORACLE" | tr A-F a-f)" ] || die "nonce $((n + 1)) is not the fulfill: $fulfill"
  [ "$(rpc eth_getTransactionReceipt "[$(echo "$fulfill" | jq .hash)]" | jq -r .status)" = 0x1 ] ||
    die "the fulfill for request $id reverted"
  [ "$(seed_of "$id")" = "$new_seed" ] || die "request $id's seed changed again?"
  [ "$(count_events "$FULFILLED_SIG")" = "$id" ] || die "$(count_events "$FULFILLED_SIG") Fulfilled events, expected $id"
  log "request $id: re-included before its filler was mined; nonce $n filler, nonce $((n + 1)) fulfill for the new seed"
}

scenario 1 "A 1+1" 0
node_stop
node_start "$WORK/oracle.conf" SIBYL_TEST_CRASH_AT=after_seen:2
node_wait_healthy
# it dies before logging the sighting: the journal has it (confirmed, as confirmations = 0)
scenario 2 "B 2+2" 2 after_seen 'resuming 0 seen, 1 confirmed, 0 computing, 0 computed, 0 submitted'
node_stop
node_start "$WORK/oracle.conf" SIBYL_TEST_CRASH_AT=after_sign:2
node_wait_healthy
# the filler's nonce record and the new fulfill (signed, maybe never sent) are both resumed
scenario 3 "C 3+3" 3 after_sign 'resuming 0 seen, 0 confirmed, 0 computing, 0 computed, 1 submitted'
[ "$(consumer_u rejectedCount)" = 0 ] || die "a request was rejected"
grep -q '"level":"error"' "$WORK/node.log" && die "errors in the node log"
node_stop
log "ok: re-included requests answered once each for their new seeds; the old nonces went to fillers"
