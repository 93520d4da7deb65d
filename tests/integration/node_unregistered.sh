#!/usr/bin/env bash
# The node key is removed from the registry (removeNode) while the node runs:
#  - the node notices it from the NodeRemoved event at once (registry_refresh_seconds is an
#    hour here, so the periodic re-read cannot be what notices it) and logs it;
#  - requests made meanwhile are computed but nothing is sent: the node's nonce does not move,
#    so no transaction reverted with NotNode and burnt gas;
#  - a restart while removed keeps them waiting (the journal holds them, start-up reads isNode);
#  - addNode: sending resumes, every waiting request is fulfilled exactly once, with exactly one
#    transaction each.
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SIBYL_BUILD=${SIBYL_BUILD:-$ROOT/build}
source "$ROOT/tests/integration/lib/node-env.bash"

anvil_start
deploy
make_model "$WORK/model.gguf"
register "$WORK/model.gguf"
make_keystore
write_conf "$WORK/oracle.conf" "confirmations = 0" "receipt_depth = 0" \
  "registry_refresh_seconds = 3600"
healthy() { for _ in $(seq 100); do curl -sf "http://127.0.0.1:$METRICS_PORT/healthz" >/dev/null && return 0; sleep 0.1; done; die "node not healthy"; }
wait_log() { # wait_log TEXT SECONDS [COUNT]: until the node log has TEXT (COUNT times)
  local end=$((SECONDS + $2))
  until [ "$(grep -c "$1" "$WORK/node.log")" -ge "${3:-1}" ]; do
    [ $SECONDS -lt $end ] || die "no log line '$1' (x${3:-1}) within $2 s"
    sleep 0.1
  done
}
node_nonce() { printf '%d' "$(rpc eth_getTransactionCount "[\"$NODE_ADDR\",\"latest\"]" | tr -d '"')"; }
FULFILLED_SIG='Fulfilled(uint256,bytes32,bytes)'

node_start "$WORK/oracle.conf"
healthy
ask "1+1" # id 1: registered, answered
wait_done 1 60
nonce0=$(node_nonce)

owner_send "$ORACLE" "removeNode(address)" "$NODE_ADDR"
wait_log "key is NOT registered with the oracle (removed?)" 15
ask "2+2" "3+3" "4+4" # ids 2..4
wait_log '"computed: answer' 60 4
wait_log "sending paused" 15
sleep 2
[ "$(consumer_u answeredCount)" = 1 ] || die "answered while the key was not registered"
[ "$(node_nonce)" = "$nonce0" ] || die "the node sent transactions while not registered (nonce $nonce0 -> $(node_nonce))"

log "restart while removed"
node_stop
node_start "$WORK/oracle.conf"
healthy
wait_log "sending paused" 30 2
sleep 2
[ "$(node_nonce)" = "$nonce0" ] || die "the restarted node sent transactions while not registered"

owner_send "$ORACLE" "addNode(address)" "$NODE_ADDR"
wait_log "key is registered with the oracle (again)" 15
wait_done 4 60
sleep 1
[ "$(count_events "$FULFILLED_SIG")" = 4 ] || die "$(count_events "$FULFILLED_SIG") Fulfilled events, expected 4"
[ "$(node_nonce)" = $((nonce0 + 3)) ] || die "node nonce $nonce0 -> $(node_nonce): expected exactly 3 transactions"
grep -q "reverted with NotNode\|says NotNode" "$WORK/node.log" && die "a transaction or estimate hit NotNode"
node_stop
log "ok: removed key paused sending (no transaction), restart kept the answers, re-adding sent each once"
