#!/usr/bin/env bash
# A reorg cancels one answer of an answerMany that is sent but not mined: the batch goes out
# again without it (same nonce, bumped fees), and the other answer is fulfilled once.
# Automine is off. The node's key is unregistered while requests A (block R1) and B (block R2)
# are computed, so their answers wait; addNode is mined in R3 and the node sends both in one
# answerMany, which waits in the pool. anvil_reorg then replaces R2 and R3 with a block that
# holds only the addNode transaction: B's request is gone (cancelled), A's block R1 stays, and
# the key is still registered. Expected: "answerMany without its cancelled answers" in the log,
# A fulfilled exactly once, B never answered (no Fulfilled, no AnswerSkipped: the version that
# carried B was replaced), one node nonce for the whole batch.
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SIBYL_BUILD=${SIBYL_BUILD:-$ROOT/build}
source "$ROOT/tests/integration/lib/node-env.bash"

devnet_with_node "confirmations = 0" "receipt_depth = 0" "answers_per_tx = 32"
height() { printf '%d' "$(rpc eth_blockNumber '[]' | tr -d '"')"; }
OWNER_ADDR=$("$CAST" wallet address --private-key "$OWNER_KEY")

owner_send "$ORACLE" "removeNode(address)" "$NODE_ADDR"
wait_log "key is NOT registered" 1 15
nonce0=$(node_nonce)
rpc evm_setAutomine '[false]' >/dev/null
ask "A 1+1"
mine 1
ask "B 2+2"
mine 1
R2=$(height)
wait_log '"msg":"computed' 2 30
wait_log "sending paused" 1 15

# addNode, signed here so the reorg can put the same transaction into the new branch
ononce=$(rpc eth_getTransactionCount "[\"$OWNER_ADDR\",\"pending\"]" | tr -d '"')
RAW=$(rpc eth_signTransaction "[{\"from\":\"$OWNER_ADDR\",\"to\":\"$ORACLE\",\"data\":\"$("$CAST" calldata 'addNode(address)' "$NODE_ADDR")\",\"gas\":\"0x30d40\",\"maxFeePerGas\":\"0xba43b7400\",\"maxPriorityFeePerGas\":\"0x3b9aca00\",\"nonce\":\"$ononce\",\"chainId\":\"0x7a69\"}]" | tr -d '"')
[ "$(rpc eth_sendRawTransaction "[\"$RAW\"]")" != null ] || die "addNode not accepted"
mine 1
wait_log "one of 2 in answerMany" 2 20
[ "$(node_nonce pending)" = $((nonce0 + 1)) ] || die "the node's answerMany is not pending"
line=$(($(wc -l <"$WORK/node.log") + 1))

[ "$(rpc anvil_reorg "[2, [[\"$RAW\", 0]]]")" = null ] || die "anvil_reorg failed"
[ "$(height)" = $((R2 + 1)) ] || die "anvil_reorg changed the height"
wait_log 'answerMany without its cancelled answers' 1 30
tail -n +"$line" "$WORK/node.log" | grep -F '"request":"2"' | grep -q 'cancelled' || die "request B (id 2) was not cancelled"
rpc evm_setAutomine '[true]' >/dev/null
mine 1
wait_done 1 30
sleep 0.5
node_stop

[ "$(count_events "Fulfilled(uint256,bytes32,bytes)")" = 1 ] || die "$(count_events "Fulfilled(uint256,bytes32,bytes)") Fulfilled events, expected 1 (A)"
[ "$(count_events "AnswerSkipped(uint256,uint256,bytes)")" = 0 ] || die "an answerMany carrying B was mined"
topic=$("$CAST" keccak "Fulfilled(uint256,bytes32,bytes)")
fid=$(rpc eth_getLogs "[{\"fromBlock\":\"0x0\",\"toBlock\":\"latest\",\"address\":\"$ORACLE\",\"topics\":[\"$topic\"]}]" | jq -r '.[0].topics[1]')
[ "$(printf '%d' "$fid")" = 1 ] || die "the fulfilled request is $fid, expected 1 (A)"
[ "$(node_nonce)" = $((nonce0 + 1)) ] || die "node nonce $nonce0 -> $(node_nonce): expected one transaction"
grep -q '"level":"error"' "$WORK/node.log" && die "errors in the node log"
log "ok: the cancelled answer left the answerMany before it was mined; the other was fulfilled once"
