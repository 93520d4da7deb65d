#!/usr/bin/env bash
# A fulfilment that cannot be mined (the base fee jumps above its maxFee) is re-signed with the
# same nonce and bumped fees after resend_after_blocks, then mined: the request is fulfilled
# once and the node's account used exactly one nonce.
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SIBYL_BUILD=${SIBYL_BUILD:-$ROOT/build}
source "$ROOT/tests/integration/lib/node-env.bash"

anvil_start
deploy
make_model "$WORK/model.gguf"
register "$WORK/model.gguf"
make_keystore
write_conf "$WORK/oracle.conf" "confirmations = 0" "receipt_depth = 0" "resend_after_blocks = 2" \
  "fee_bump_percent = 25" "priority_fee_gwei = 1" "max_fee_per_gas_gwei = 100"
rpc anvil_setAutomine '[false]' >/dev/null
node_start "$WORK/oracle.conf"
node_wait_healthy

ask "please be patient"
rpc evm_mine '[]' >/dev/null                       # the request is mined
for _ in $(seq 100); do grep -q '"sent fulfill' "$WORK/node.log" && break; sleep 0.1; done
grep -q '"sent fulfill' "$WORK/node.log" || die "no fulfill sent"
maxfee=$(grep -o 'maxFee [0-9]*' "$WORK/node.log" | head -1 | cut -d' ' -f2)
# the next block's base fee jumps above the pending fulfilment's maxFee
rpc anvil_setNextBlockBaseFeePerGas "[\"0x$(printf %x $((maxfee + 1000000000)))\"]" >/dev/null
rpc evm_mine '[]' >/dev/null
sleep 0.5
[ "$(consumer_u answeredCount)" = 0 ] || die "the fulfilment was mined under a base fee above its maxFee?"
# more blocks: after 2 blocks (and 1 s) the node re-signs with bumped fees; then it gets mined
for _ in $(seq 12); do
  rpc evm_mine '[]' >/dev/null; sleep 0.5
  [ "$(consumer_u answeredCount)" = 1 ] && break
done
wait_done 1 5
grep -q 're-sent nonce 0 (bumped' "$WORK/node.log" || die "no bumped resend in the log"
resent=$(curl -sf "http://127.0.0.1:$METRICS_PORT/metrics" | sed -n 's/^sibyl_tx_resent_total //p')
[ "${resent:-0}" -ge 1 ] || die "metrics: no resend counted"
sent=$(printf '%d' "$(rpc eth_getTransactionCount "[\"$NODE_ADDR\",\"latest\"]" | tr -d '"')")
[ "$sent" = 1 ] || die "the node used $sent nonces for one request"
[ "$(count_events "Fulfilled(uint256,bytes32,bytes)")" = 1 ] || die "expected one fulfilment"
node_stop
log "ok: stuck fulfilment re-signed with bumped fees (same nonce) and mined once"
