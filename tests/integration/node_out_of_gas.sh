#!/usr/bin/env bash
# Re-sign after running out of gas: the node reuses a cached gas estimate for answers of the
# same shape (gas_estimate_cache: quorum-1 models, kind, callbackGasLimit, output length). Here
# the cached estimate is too low on purpose: request 1 comes from a plain account (the oracle
# makes no callback to an address without code: cheap), and its estimate is cached; request 2,
# the same shape, comes from the example consumer and finalises with the callback, which needs
# the callback's gas on top. Its transaction, signed with the cached estimate, is mined and
# reverts (InsufficientGasForCallback); the node sees the revert, replays the call (it
# succeeds), drops the cached estimate and signs a new transaction with a fresh eth_estimateGas.
# Checked: request 2 answered exactly once (one callback), one reverted transaction of the
# node's on chain, the log line once, no error.
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SIBYL_BUILD=${SIBYL_BUILD:-$ROOT/build}
source "$ROOT/tests/integration/lib/node-env.bash"

anvil_start
# maxNewTokens 1, steps 1: every output is a few bytes, so both requests have the same shape
deploy 200000 "$("$CAST" abi-encode 'f(uint32,uint32)' 1 1)"
make_model "$WORK/model.gguf"
register "$WORK/model.gguf"
make_keystore
write_conf "$WORK/oracle.conf" "confirmations = 0" "receipt_depth = 0" "log_level = debug"
node_start "$WORK/oracle.conf"
node_wait_healthy

# plain_request PROMPT: from the user's plain account, straight to the oracle, with the
# consumer's callbackGasLimit (200000), adapter and params: the same shape as its requests
plain_request() {
  "$CAST" send --rpc-url "$RPC" --unlocked --from "$USER_ADDR" --value 1000000000 "$ORACLE" \
    "request(bytes32,bytes32,bytes,bytes,uint32)" "$MODEL_ID_HEX" "$("$CAST" format-bytes32-string text)" \
    "$("$CAST" from-utf8 "$1")" "$("$CAST" abi-encode 'f(uint32,uint32)' 1 1)" 200000 >/dev/null
}
plain_request "1+1" # id 1
wait_log '"request fulfilled' 1 40
grep 'sent fulfill' "$WORK/node.log" | grep -q '"request":"1"' || die "request 1 not sent as fulfill"
# (its CallbackResult says false: nothing to call)
ask "2+2" # id 2: from the consumer, finalises with the callback
wait_done 1 60
sleep 1
[ "$(consumer_u answeredCount)" = 1 ] || die "answeredCount $(consumer_u answeredCount), expected 1"
[ "$(count_events "Fulfilled(uint256,bytes32,bytes)")" = 2 ] || die "Fulfilled events != 2"
[ "$(count_events "CallbackResult(uint256,bool)")" = 2 ] || die "CallbackResult events != 2"
n=$(grep -c 'our transaction reverted but the call succeeds now' "$WORK/node.log" || true)
[ "$n" = 1 ] || die "expected one out-of-gas re-signature, the log shows $n"
# on chain: the node's transactions for request 2, exactly one reverted
head=$(printf '%d' "$(rpc eth_blockNumber '[]' | tr -d '"')")
reverted=0; ok=0
for b in $(seq 1 "$head"); do
  for h in $(rpc eth_getBlockByNumber "[\"0x$(printf %x "$b")\",true]" | jq -r --arg f "$(echo "$NODE_ADDR" | tr A-F a-f)" '.transactions[] | select(.from == $f) | .hash'); do
    s=$(rpc eth_getTransactionReceipt "[\"$h\"]" | jq -r .status)
    [ "$s" = 0x1 ] && ok=$((ok + 1)) || reverted=$((reverted + 1))
  done
done
[ "$reverted" = 1 ] || die "$reverted reverted transactions of the node, expected 1"
[ "$ok" = 2 ] || die "$ok successful transactions of the node, expected 2 (request 1's answer, request 2's)"
log "ok: the out-of-gas transaction was re-signed with a fresh estimate; request answered exactly once"

# The same inside an answerMany: a restart empties the estimate cache, request 3 from the plain
# account fills it with the cheap estimate again; requests 4 and 5 (consumer: callbacks) wait
# while the key is unregistered and then go out together with that estimate each. The contract
# reverts the whole batch (AnswerOutOfGas: an answer's callback had too little gas); the node
# replays it with more gas, finds it was gas, and sends both again with fresh estimates, still
# batching. Each answered exactly once.
node_stop
node_start "$WORK/oracle.conf"
node_wait_healthy
plain_request "3+3" # id 3
wait_log '"request fulfilled' 3 40
owner_send "$ORACLE" "removeNode(address)" "$NODE_ADDR"
wait_log "key is NOT registered" 1 15
ask "4+4" "5+5"
wait_log '"msg":"computed' 5 30
wait_log "sending paused" 1 15
owner_send "$ORACLE" "addNode(address)" "$NODE_ADDR"
wait_done 3 60
sleep 1
grep -q 'our answerMany (nonce [0-9]*) reverted, gas used [0-9]* of [0-9]*: out of gas; its answers go out again with fresh gas estimates' "$WORK/node.log" ||
  die "no out-of-gas answerMany revert in the log"
grep -q 'one answer per transaction from now on' "$WORK/node.log" && die "the out-of-gas batch stopped batching"
[ "$(consumer_u answeredCount)" = 3 ] || die "answeredCount $(consumer_u answeredCount), expected 3"
[ "$(count_events "Fulfilled(uint256,bytes32,bytes)")" = 5 ] || die "Fulfilled events != 5"
[ "$(count_events "AnswerSkipped(uint256,uint256,bytes)")" = 0 ] || die "an answer was skipped"
grep -q '"level":"error"' "$WORK/node.log" && die "errors in the node log"
node_stop
log "ok: an answerMany out of gas reverted as a whole and both answers went out again, once each"
