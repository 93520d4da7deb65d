#!/usr/bin/env bash
# The node end to end on a real anvil: 50 requests from the example consumer are all fulfilled
# exactly once, every attestation was accepted by the contract (its signature is verified
# on-chain, Attested events), every callback ran, /metrics and /healthz answer.
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SIBYL_BUILD=${SIBYL_BUILD:-$ROOT/build}
source "$ROOT/tests/integration/lib/node-env.bash"

N=50
devnet_with_node "confirmations = 0" "receipt_depth = 0"

prompts=()
for i in $(seq $N); do prompts+=("Question number $i: what comes after $i?"); done
ask "${prompts[@]}"
wait_done $N 120

answered=$(consumer_u answeredCount)
[ "$answered" = $N ] || die "answeredCount $answered, expected $N"
fulfilled=$(count_events "Fulfilled(uint256,bytes32,bytes)")
attested=$(count_events "Attested(uint256,address,bytes32,uint16,uint256)")
callbacks=$(count_events "CallbackResult(uint256,bool)")
[ "$fulfilled" = $N ] || die "$fulfilled Fulfilled events, expected $N"
[ "$attested" = $N ] || die "$attested Attested events, expected $N (one vote each)"
[ "$callbacks" = $N ] || die "$callbacks CallbackResult events, expected $N"
# every id exactly once, and every callback succeeded
topic=$("$CAST" keccak "Fulfilled(uint256,bytes32,bytes)")
ids=$(rpc eth_getLogs "[{\"fromBlock\":\"0x0\",\"toBlock\":\"latest\",\"address\":\"$ORACLE\",\"topics\":[\"$topic\"]}]" | jq -r '.[].topics[1]' | sort -u | wc -l)
[ "$ids" = $N ] || die "$ids distinct fulfilled ids, expected $N"
topic=$("$CAST" keccak "CallbackResult(uint256,bool)")
ok=$(rpc eth_getLogs "[{\"fromBlock\":\"0x0\",\"toBlock\":\"latest\",\"address\":\"$ORACLE\",\"topics\":[\"$topic\"]}]" | jq -r '.[].data' | grep -c '1$')
[ "$ok" = $N ] || die "$ok successful callbacks, expected $N"
# the answer the consumer got is what the attestation hashed (checked on-chain), and non-empty
out=$("$CAST" call --rpc-url "$RPC" "$CONSUMER" "answerOf(uint256)(bytes)" 7)
[ ${#out} -gt 2 ] || die "empty answer for request 7"

# the node's own view
metrics=$(curl -sf "http://127.0.0.1:$METRICS_PORT/metrics")
grep -q "^sibyl_requests{state=\"fulfilled\"} $N\$" <<<"$metrics" || die "metrics: fulfilled != $N"
grep -q '^sibyl_stage_seconds_bucket{stage="node_overhead",le="+Inf"} '"$N"'$' <<<"$metrics" || die "metrics: no node_overhead histogram"
grep -q '^sibyl_engine_seconds_count '"$N"'$' <<<"$metrics" || die "metrics: engine runs != $N"
node_stop
grep -q '"level":"error"' "$WORK/node.log" && die "errors in the node log"
log "ok: $N requests fulfilled exactly once, callbacks ran, metrics agree"
