#!/usr/bin/env bash
# A reorg while the engine is already running the request: the run stops at the next step (the
# engine's step callback) and nothing is sent for it. A long run (small preset, 512 tokens, 128
# steps) is started, the request's block is replaced with anvil_reorg while the run is in
# progress, and then: the log says the run was cancelled after less than half the time the same
# job takes uncancelled (measured afterwards on the new branch), the node's nonce is still 0
# when the request is cancelled (no transaction), no Fulfilled event for it; the node keeps serving.
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SIBYL_BUILD=${SIBYL_BUILD:-$ROOT/build}
source "$ROOT/tests/integration/lib/node-env.bash"

anvil_start
deploy
"$SIBYL" mkmodel --preset small -o "$WORK/model.gguf" >/dev/null
register "$WORK/model.gguf"
make_keystore
write_conf "$WORK/oracle.conf" "confirmations = 1" "receipt_depth = 0"
node_start "$WORK/oracle.conf"
node_wait_healthy

metric() { curl -sf "http://127.0.0.1:$METRICS_PORT/metrics" | grep -F "$1 " | awk '{print $2}'; }
nonce() { printf '%d' "$(rpc eth_getTransactionCount "[\"$NODE_ADDR\",\"latest\"]" | tr -d '"')"; }
TEXT=$("$CAST" format-bytes32-string text)
LONG=$("$CAST" abi-encode 'f(uint32,uint32)' 512 128)
PROMPT=0x$(printf 'a long answer please' | od -An -v -tx1 | tr -d ' \n')

# 1. the request is confirmed (1 block), the engine starts, then its block is replaced
ask_with "$MODEL_ID_HEX" "$TEXT" "$PROMPT" "$LONG"
wait_log '"request seen' 1 20
mine 1
end=$((SECONDS + 20))
until [ "$(metric 'sibyl_requests{state="computing"}')" = 1 ]; do
  [ $SECONDS -lt $end ] || die "the request never reached computing"
  sleep 0.05
done
sleep 0.1 # inside the run (it takes seconds)
rpc anvil_reorg '[2, []]' >/dev/null
wait_log 'request cancelled .* in state computing' 1 20
wait_log 'engine run cancelled after' 1 20
[ "$(nonce)" = 0 ] || die "the node sent a transaction for a cancelled run"
mine 3
sleep 1
[ "$(nonce)" = 0 ] || die "the node sent a transaction for a cancelled run"
[ "$(count_events "Fulfilled(uint256,bytes32,bytes)")" = 0 ] || die "a reorged request was fulfilled"
t_cancel=$(grep -o 'engine run cancelled after [0-9.]*' "$WORK/node.log" | awk '{print $5}')

# 2. the same job on the new branch runs to the end and is answered
ask_with "$MODEL_ID_HEX" "$TEXT" "$PROMPT" "$LONG"
wait_log '"request seen' 2 20
mine 1
# (Fulfilled, not the consumer's count: 1.4 kB of output is more than askWith's callback gas stores)
end=$((SECONDS + 60))
until [ "$(count_events "Fulfilled(uint256,bytes32,bytes)")" = 1 ]; do
  [ $SECONDS -lt $end ] || die "the request on the new branch was not fulfilled within 60 s"
  sleep 0.2
done
t_full=$(grep -o 'engine [0-9.]* s' "$WORK/node.log" | tail -1 | awk '{print $2}')
log "cancelled run stopped after $t_cancel s; the full run takes $t_full s"
/usr/bin/python3 -c "import sys; sys.exit(0 if float('$t_cancel') < float('$t_full') / 2 else 1)" ||
  die "the cancelled run ($t_cancel s) did not stop early (full run $t_full s)"
[ "$(nonce)" = 1 ] || die "expected exactly one transaction from the node"
node_stop
log "ok: a running engine job stopped on reorg, nothing sent; the node kept serving"
