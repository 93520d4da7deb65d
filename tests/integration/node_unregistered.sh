#!/usr/bin/env bash
# The node key is removed from the registry (removeNode) while the node runs:
#  - the node notices it from the NodeRemoved event at once (registry_refresh_seconds is an
#    hour here, so the periodic re-read cannot be what notices it) and logs it;
#  - requests made meanwhile are computed but nothing is sent: the node's nonce does not move,
#    so no transaction reverted with NotNode and burnt gas;
#  - a restart while removed keeps them waiting (the journal holds them, start-up reads isNode);
#  - addNode: sending resumes, every waiting request is fulfilled exactly once (the three
#    answers that waited share one answerMany transaction).
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
FULFILLED_SIG='Fulfilled(uint256,bytes32,bytes)'

node_start "$WORK/oracle.conf"
node_wait_healthy
ask "1+1" # id 1: registered, answered
wait_done 1 60
nonce0=$(node_nonce)

owner_send "$ORACLE" "removeNode(address)" "$NODE_ADDR"
wait_log "key is NOT registered with the oracle (removed?)" 1 15
ask "2+2" "3+3" "4+4" # ids 2..4
wait_log '"computed: answer' 4 60
wait_log "sending paused" 1 15
sleep 2
[ "$(consumer_u answeredCount)" = 1 ] || die "answered while the key was not registered"
[ "$(node_nonce)" = "$nonce0" ] || die "the node sent transactions while not registered (nonce $nonce0 -> $(node_nonce))"

log "restart while removed"
node_stop
node_start "$WORK/oracle.conf"
node_wait_healthy
wait_log "sending paused" 2 30
sleep 2
[ "$(node_nonce)" = "$nonce0" ] || die "the restarted node sent transactions while not registered"

owner_send "$ORACLE" "addNode(address)" "$NODE_ADDR"
wait_log "key is registered with the oracle (again)" 1 15
wait_done 4 60
sleep 1
[ "$(count_events "$FULFILLED_SIG")" = 4 ] || die "$(count_events "$FULFILLED_SIG") Fulfilled events, expected 4"
# the three waiting answers go out together: one answerMany (answers_per_tx), or up to three
# transactions; never an answer twice (it would show as AnswerSkipped)
sent=$(($(node_nonce) - nonce0))
[ "$sent" -ge 1 ] && [ "$sent" -le 3 ] || die "node nonce $nonce0 -> $(node_nonce): expected 1 to 3 transactions"
[ "$(count_events "AnswerSkipped(uint256,uint256,bytes)")" = 0 ] || die "an answer was sent twice (AnswerSkipped)"
grep -q "reverted with NotNode\|says NotNode" "$WORK/node.log" && die "a transaction or estimate hit NotNode"
node_stop
log "ok: removed key paused sending (no transaction), restart kept the answers, re-adding sent each once"
