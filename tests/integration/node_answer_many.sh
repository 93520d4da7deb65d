#!/usr/bin/env bash
# Several answers in one transaction (answerMany, answers_per_tx): answers that are ready together
# go out as one transaction; an answer the contract refuses inside it (here: its request expired
# while the node's key was unregistered) is skipped with AnswerSkipped and finished by the node
# as that revert says, while the others in the same transaction are fulfilled once.
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SIBYL_BUILD=${SIBYL_BUILD:-$ROOT/build}
source "$ROOT/tests/integration/lib/node-env.bash"

anvil_start
# two new tokens at most: every answer fits one 64-byte word, so all share one gas-cache entry
# (the expired ones must not be estimated one by one before they are sent)
deploy 200000 "$("$CAST" abi-encode "f(uint32,uint32)" 2 0)"
make_model "$WORK/model.gguf"
register "$WORK/model.gguf"
make_keystore
write_conf "$WORK/oracle.conf" "confirmations = 0" "receipt_depth = 0" "answers_per_tx = 32"
node_start "$WORK/oracle.conf"
node_wait_healthy
SKIPPED_SIG="AnswerSkipped(uint256,uint256,bytes)"

# one request alone: one plain fulfill (and a cached gas estimate for this shape, so the later
# answers are not estimated one by one before they are sent)
ask "warm 1+1"
wait_done 1 30
nonce0=$(node_nonce)

owner_send "$ORACLE" "setRequestTimeout(uint64)" 60
owner_send "$ORACLE" "removeNode(address)" "$NODE_ADDR"
ask "old 1+2" "old 1+3" "old 1+4"
rpc evm_increaseTime "[120]" >/dev/null # the three above expire with the next block
ask "new 2+1" "new 2+2" "new 2+3" "new 2+4" "new 2+5"
wait_log '"msg":"computed' 9 60
wait_log "sending paused" 1 15
lines0=$(wc -l <"$WORK/node.log")
owner_send "$ORACLE" "addNode(address)" "$NODE_ADDR"
wait_done 6 60
wait_log "skipped with RequestExpired" 3 30
node_stop

[ "$(node_nonce)" = $((nonce0 + 1)) ] ||
  die "node nonce $(node_nonce), expected $((nonce0 + 1)): the 8 answers should share one transaction"
txs=$(tail -n +"$((lines0 + 1))" "$WORK/node.log" | grep -o '"msg":"sent [a-z]* nonce [0-9]* tx 0x[0-9a-f]*' | awk '{print $NF}' | sort -u | wc -l)
[ "$txs" = 1 ] || die "the node logged $txs transactions for the 8 answers, expected 1"
tail -n +"$((lines0 + 1))" "$WORK/node.log" | grep -q 'one of 8 in answerMany' || die "no 'one of 8 in answerMany' in the log"
[ "$(count_events "Fulfilled(uint256,bytes32,bytes)")" = 6 ] || die "$(count_events "Fulfilled(uint256,bytes32,bytes)") Fulfilled events, expected 6"
[ "$(count_events "$SKIPPED_SIG")" = 3 ] || die "$(count_events "$SKIPPED_SIG") AnswerSkipped events, expected 3"
# the skipped ones are the expired ones (requests 2..4), each failed in the node's journal
topic=$("$CAST" keccak "$SKIPPED_SIG")
skipped_ids=$(rpc eth_getLogs "[{\"fromBlock\":\"0x0\",\"toBlock\":\"latest\",\"address\":\"$ORACLE\",\"topics\":[\"$topic\"]}]" | jq -r '.[].topics[1]' | while read -r t; do printf '%d ' "$t"; done)
[ "$skipped_ids" = "2 3 4 " ] || die "skipped ids: '$skipped_ids', expected '2 3 4 '"
for id in 2 3 4; do
  grep "\"request\":\"$id\"" "$WORK/node.log" | grep -q '"msg":"request failed: our answer in answerMany was skipped with RequestExpired' ||
    die "request $id: no 'failed: ... skipped with RequestExpired' line"
done
for id in 5 6 7 8 9; do
  grep "\"request\":\"$id\"" "$WORK/node.log" | grep -q '"msg":"request fulfilled: fulfillment mined (answerMany)' ||
    die "request $id: not fulfilled through answerMany"
done
log "ok: 8 answers in one answerMany; the 3 expired ones skipped and failed, the 5 others fulfilled once"
