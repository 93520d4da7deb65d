#!/usr/bin/env bash
# Re-sign after running out of gas: the node reuses a cached gas estimate for transactions of the
# same shape (gas_estimate_cache). Here the cached estimate becomes too low on purpose: the model
# starts with quorum 2 (a second registered node never runs), so request 1's fulfill only stores
# the output (no callback: cheap) and its estimate is cached. Then the owner re-registers the
# model with quorum 1: request 2 (same shape) now finalises, which needs the callback's gas on
# top. Its transaction, signed with the cached estimate, is mined and reverts
# (InsufficientGasForCallback); the node sees the revert, replays the call (it succeeds),
# drops the cached estimate and signs a new transaction with a fresh eth_estimateGas. Checked:
# request 2 answered exactly once (one Fulfilled, one callback), one reverted transaction of
# the node's on chain, the log line once, no error.
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SIBYL_BUILD=${SIBYL_BUILD:-$ROOT/build}
source "$ROOT/tests/integration/lib/node-env.bash"

anvil_start
# maxNewTokens 1, steps 1: every output is a few bytes, so both requests have the same shape
deploy 200000 "$("$CAST" abi-encode 'f(uint32,uint32)' 1 1)"
make_model "$WORK/model.gguf"
H=0x$(sha256sum "$WORK/model.gguf" | cut -d' ' -f1)
reg() { owner_send "$ORACLE" "registerModel(bytes32,bytes32,uint16,uint128,bool)" "$MODEL_ID_HEX" "$H" "$1" 1000000000 true; }
reg 2
owner_send "$ORACLE" "addNode(address)" "$NODE_ADDR"
owner_send "$ORACLE" "addNode(address)" 0x90F79bf6EB2c4f870365E785982E1f101E93b906 # never runs
make_keystore
write_conf "$WORK/oracle.conf" "confirmations = 0" "receipt_depth = 0" "log_level = debug"
node_start "$WORK/oracle.conf"
node_wait_healthy

TOPIC_ATT=$("$CAST" keccak "Attested(uint256,address,bytes32,uint16,uint256)")
attested() { rpc eth_getLogs "[{\"fromBlock\":\"0x0\",\"toBlock\":\"latest\",\"address\":\"$ORACLE\",\"topics\":[\"$TOPIC_ATT\"]}]" | jq 'length'; }
ask "1+1" # id 1: one vote of two, output stored, not finalised
end=$((SECONDS + 40))
until [ "$(attested)" -ge 1 ]; do [ $SECONDS -lt $end ] || die "request 1 got no vote"; sleep 0.2; done
grep -q '"request":"1"' "$WORK/node.log" && grep 'sent fulfill' "$WORK/node.log" | grep -q '"request":"1"' || die "request 1 not sent as fulfill"
[ "$(consumer_u answeredCount)" = 0 ] || die "request 1 finalised with quorum 2"

reg 1
ask "2+2" # id 2: quorum 1, finalises with the callback
wait_done 1 60
sleep 1
[ "$(consumer_u answeredCount)" = 1 ] || die "answeredCount $(consumer_u answeredCount), expected 1"
[ "$(count_events "Fulfilled(uint256,bytes32,bytes)")" = 1 ] || die "Fulfilled events != 1"
[ "$(count_events "CallbackResult(uint256,bool)")" = 1 ] || die "CallbackResult events != 1"
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
[ "$ok" = 2 ] || die "$ok successful transactions of the node, expected 2 (request 1's vote, request 2's answer)"
grep -q '"level":"error"' "$WORK/node.log" && die "errors in the node log"
node_stop
log "ok: the out-of-gas transaction was re-signed with a fresh estimate; request answered exactly once"
