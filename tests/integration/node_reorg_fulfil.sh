#!/usr/bin/env bash
# A reorg that removes only our fulfilment, not the request: the request's block R stays on the
# chain, the block B > R that mined our fulfill (and the blocks above it) are replaced by
# anvil_reorg with empty blocks. anvil drops the transactions of replaced blocks (they do not go
# back to the pool), so the request is Open again on the new chain and only the node can answer
# it. confirmations = 2, receipt_depth = 3.
#  1. the reorg comes before receipt_depth: the tracker still follows the transaction, notices
#     that its receipt left the chain and sends the same signed bytes again;
#  2. the reorg comes after receipt_depth, when the journal already says "fulfilled": the node
#     must see that the block of its answer left the chain, follow the transaction again and
#     re-send it (same nonce), and not hand that nonce out to another request;
#  3. as 2, with the reorg made while the node is stopped: found at its restart;
#  4. the node keeps serving: a later request is fulfilled too;
#  5. as 2 for an answerMany: two answers held back (key unregistered) go out in one transaction;
#     the reorg of its block after both were final re-opens the batch and both its answers.
# Each time checked on the final chain: the request's status is Fulfilled, one Fulfilled event
# and one consumer callback (Answered) for its id, the journal says fulfilled, one node nonce per
# answer, and the request was never cancelled (its block stayed).
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SIBYL_BUILD=${SIBYL_BUILD:-$ROOT/build}
source "$ROOT/tests/integration/lib/node-env.bash"

devnet_with_node "confirmations = 2" "receipt_depth = 3"

FULFILLED_TOPIC=$("$CAST" keccak "Fulfilled(uint256,bytes32,bytes)")
ANSWERED_TOPIC=$("$CAST" keccak "Answered(uint256,bytes)")
NODE_NONCE0=$(node_nonce)
height() { printf '%d' "$(rpc eth_blockNumber '[]' | tr -d '"')"; }
block_hash() { rpc eth_getBlockByNumber "[\"0x$(printf %x "$1")\",false]" | jq -r .hash; }
metric() { curl -sf "http://127.0.0.1:$METRICS_PORT/metrics" | awk -v k="$1" '$1 == k { print $2 }'; }
id_topic() { printf '0x%064x' "$1"; }
# logs_of ADDRESS TOPIC0 ID: the canonical chain's logs of that event for request ID (JSON array)
logs_of() {
  rpc eth_getLogs "[{\"fromBlock\":\"0x0\",\"toBlock\":\"latest\",\"address\":\"$1\",\"topics\":[\"$2\",\"$(id_topic "$3")\"]}]"
}
status_of() { # the oracle's Status of request ID (0 None, 1 Open, 2 Fulfilled, 3 Rejected, 4 Cancelled)
  "$CAST" call --rpc-url "$RPC" "$ORACLE" "getRequest(uint256)((address,uint64,uint32,uint8,uint16,uint16,uint16,bool,uint128,bytes32,bytes32,bytes32,bytes32,uint256,bytes32,bytes32))" "$1" |
    tr -d '()' | cut -d, -f4 | tr -d ' '
}
id_lines() { grep -F "\"request\":\"$1\"" "$WORK/node.log" | grep -c -- "$2" || true; }
# fulfil_block ID: the block of the (single) Fulfilled event for request ID on the chain now
fulfil_block() {
  local l
  l=$(logs_of "$ORACLE" "$FULFILLED_TOPIC" "$1")
  [ "$(jq length <<<"$l")" = 1 ] || die "request $1: $(jq length <<<"$l") Fulfilled events, expected 1"
  printf '%d' "$(jq -r '.[0].blockNumber' <<<"$l")"
}
# answered_once ID ANSWERS: request ID answered exactly once on the final chain
answered_once() {
  local id=$1
  [ "$(status_of "$id")" = 2 ] || die "request $id: status $(status_of "$id"), expected 2 (Fulfilled)"
  fulfil_block "$id" >/dev/null
  [ "$(logs_of "$CONSUMER" "$ANSWERED_TOPIC" "$id" | jq length)" = 1 ] ||
    die "request $id: $(logs_of "$CONSUMER" "$ANSWERED_TOPIC" "$id" | jq length) consumer callbacks, expected 1"
  [ "$(consumer_u answeredCount)" = "$2" ] || die "answeredCount $(consumer_u answeredCount), expected $2"
  [ "$(id_lines "$id" 'void\|cancelled')" = 0 ] || die "request $id (its block stayed) was cancelled"
}
# ask_and_mine PROMPT ID: the request (block R), then the blocks that confirm it; the node's
# fulfill is mined by automine in a later block. Waits until the tracker has the receipt.
ask_and_mine() {
  local mined
  mined=$(metric 'sibyl_stage_seconds_count{stage="mined"}')
  ask "$1"
  wait_log '"request seen' "$2" 20
  R=$(height)
  R_HASH=$(block_hash "$R")
  mine 2
  wait_done "$2" 30
  B=$(fulfil_block "$2")
  [ "$B" -gt "$R" ] || die "request $2: fulfilled in block $B, not above its block $R"
  local end=$((SECONDS + 20))
  while [ "$(metric 'sibyl_stage_seconds_count{stage="mined"}')" = "$mined" ]; do
    [ $SECONDS -lt $end ] || die "request $2: the tracker never saw its receipt"
    sleep 0.05
  done
}
# reorg_from BLOCK: anvil_reorg replaces BLOCK..head with empty blocks (the height stays).
# Automine is off from here until the caller turns it on again: the node re-sends at once, and
# the chain must show the request open first.
reorg_from() {
  local top
  rpc evm_setAutomine '[false]' >/dev/null
  top=$(height)
  [ "$(rpc anvil_reorg "[$((top - $1 + 1)), []]")" = null ] || die "anvil_reorg failed"
  [ "$(height)" = "$top" ] || die "anvil_reorg changed the height"
  [ "$(block_hash "$R")" = "$R_HASH" ] || die "the request's block $R was replaced too"
  [ "$(logs_of "$ORACLE" "$FULFILLED_TOPIC" "$ID" | jq length)" = 0 ] || die "the fulfilment is still on the chain"
  [ "$(status_of "$ID")" = 1 ] || die "request $ID: status $(status_of "$ID") after the reorg, expected 1 (Open)"
  log "anvil_reorg replaced blocks $1..$top (fulfilment of request $ID in $B; its request in $R stays)"
}

# answered_again N FROM WHAT: mine a block every 0.3 s (automine is off) until N requests are
# answered; on timeout show the node log from line FROM and fail with WHAT
answered_again() {
  local end=$((SECONDS + 30))
  while [ "$(consumer_u answeredCount)" -lt "$1" ]; do
    [ $SECONDS -lt $end ] || {
      tail -n +"$2" "$WORK/node.log" >&2
      die "$3"
    }
    mine 1
    sleep 0.3
  done
}

# 1. reorg before receipt_depth
ID=1
ask_and_mine "A 1+1" 1
[ "$(id_lines 1 '"request fulfilled')" = 0 ] || die "request 1 final before receipt_depth"
reorg_from "$B"
wait_log 'our mined transaction left the chain (reorg): re-sending' 1 20
rpc evm_setAutomine '[true]' >/dev/null
mine 1 # the re-sent bytes
wait_done 1 30
[ "$(fulfil_block 1)" -gt "$B" ] || die "request 1 fulfilled again in block $(fulfil_block 1), expected above $B"
mine 3
wait_log '"request fulfilled' 1 20
answered_once 1 1
[ "$(id_lines 1 '"request fulfilled')" = 1 ] || die "request 1: journal fulfilled $(id_lines 1 '"request fulfilled') times"
[ "$(node_nonce)" = $((NODE_NONCE0 + 1)) ] || die "node nonce $(node_nonce), expected $((NODE_NONCE0 + 1))"
log "ok: a reorg of the fulfilment before receipt_depth: re-sent, fulfilled once"

# 2. reorg after receipt_depth (the journal already says fulfilled)
ID=2
ask_and_mine "A 2+2" 2
mine 3
wait_log '"request fulfilled' 2 20
[ "$(id_lines 2 '"request fulfilled')" = 1 ] || die "request 2 not final after receipt_depth"
line=$(($(wc -l <"$WORK/node.log") + 1))
reorg_from "$B"
wait_log 'reorg: new head' 2 20
answered_again 2 "$line" "request 2, whose fulfilment a reorg removed after it was final, was never fulfilled again"
rpc evm_setAutomine '[true]' >/dev/null
mine 3
wait_log '"request fulfilled' 3 20
answered_once 2 2
[ "$(node_nonce)" = $((NODE_NONCE0 + 2)) ] || die "node nonce $(node_nonce), expected $((NODE_NONCE0 + 2))"
log "ok: a reorg of the fulfilment after receipt_depth: followed again, fulfilled once"

# 3. as 2, but the reorg is made while the node is stopped: found at its restart
ID=3
ask_and_mine "A 3+3" 3
mine 3
wait_log '"request fulfilled' 4 20
[ "$(id_lines 3 '"request fulfilled')" = 1 ] || die "request 3 not final after receipt_depth"
sleep 0.5 # the cursor follows the head one tick (200 ms) behind
node_stop
reorg_from "$B"
line=$(($(wc -l <"$WORK/node.log") + 1))
node_start "$WORK/oracle.conf"
node_wait_healthy
answered_again 3 "$line" "request 3, whose fulfilment a reorg removed while the node was down, was never fulfilled again"
rpc evm_setAutomine '[true]' >/dev/null
mine 3
wait_log '"request fulfilled' 5 20
tail -n +"$line" "$WORK/node.log" | grep -q 'left the chain with block' || die "the restarted node did not say why it sent again"
answered_once 3 3
[ "$(node_nonce)" = $((NODE_NONCE0 + 3)) ] || die "node nonce $(node_nonce), expected $((NODE_NONCE0 + 3))"
log "ok: a reorg of a final fulfilment made while the node was down: found at restart, fulfilled once"

# 4. the node keeps serving
ID=4
ask_and_mine "A 4+4" 4
mine 3
wait_log '"request fulfilled' 6 20
for id in 1 2 3 4; do answered_once $id 4; done
[ "$(node_nonce)" = $((NODE_NONCE0 + 4)) ] || die "node nonce $(node_nonce), expected $((NODE_NONCE0 + 4))"

# 5. an answerMany reorged out after its answers were final
owner_send "$ORACLE" "removeNode(address)" "$NODE_ADDR"
wait_log "key is NOT registered" 1 15
ask "A 5+5" "A 6+6"
wait_log '"request seen' 6 20
R=$(height)
R_HASH=$(block_hash "$R")
mine 2
wait_log '"msg":"computed' 6 30
wait_log "sending paused" 1 15
owner_send "$ORACLE" "addNode(address)" "$NODE_ADDR"
wait_done 6 30
B=$(fulfil_block 5)
[ "$(fulfil_block 6)" = "$B" ] || die "requests 5 and 6 were not answered in one block"
grep -F '"request":"6"' "$WORK/node.log" | grep -q 'one of 2 in answerMany' || die "5 and 6 did not share an answerMany"
mine 3
wait_log '"request fulfilled' 8 20
ID=5
line=$(($(wc -l <"$WORK/node.log") + 1))
reorg_from "$B"
[ "$(status_of 6)" = 1 ] || die "request 6: status $(status_of 6) after the reorg, expected 1 (Open)"
answered_again 6 "$line" "requests 5 and 6, whose answerMany a reorg removed after they were final, were not fulfilled again"
rpc evm_setAutomine '[true]' >/dev/null
mine 3
wait_log '"request fulfilled' 10 20
tail -n +"$line" "$WORK/node.log" | grep -q 'our answerMany (nonce [0-9]*, 2 answers) left the chain' ||
  die "the node did not say that its answerMany left the chain"
for id in 5 6; do answered_once $id 6; done
[ "$(node_nonce)" = $((NODE_NONCE0 + 5)) ] || die "node nonce $(node_nonce), expected $((NODE_NONCE0 + 5)) (one answerMany for 5 and 6)"
log "ok: an answerMany reorged out after receipt_depth: followed again, both answers fulfilled once"

for id in 1 2 3 4; do answered_once $id 6; done
[ "$(metric 'sibyl_requests{state="fulfilled"}')" = 6 ] || die "metrics: $(metric 'sibyl_requests{state="fulfilled"}') fulfilled, expected 6"
grep -q '"level":"error"' "$WORK/node.log" && die "errors in the node log"
node_stop
# the journal, read with the node stopped: every request fulfilled
"$SIBYL" attest export --journal "$WORK/journal" -o "$WORK/export.jsonl" >/dev/null
for id in 1 2 3 4 5 6; do
  st=$(jq -r --arg id "$id" 'select(.requestId == $id) | .state' "$WORK/export.jsonl")
  [ "$st" = fulfilled ] || die "journal: request $id is '$st', expected fulfilled"
done
log "ok: fulfilments reorged out before and after receipt_depth are fulfilled once each; the node kept serving"
