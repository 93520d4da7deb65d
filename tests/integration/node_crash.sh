#!/usr/bin/env bash
# kill -9 of the node at every point of the pipeline (SIGKILL from the crash test hook, incl.
# between "signed" and "sent"), and from outside at arbitrary moments; after each restart every
# request is fulfilled exactly once and the node's account sent exactly one transaction per
# request (nothing sent twice, no nonce gap).
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SIBYL_BUILD=${SIBYL_BUILD:-$ROOT/build}
source "$ROOT/tests/integration/lib/node-env.bash"

anvil_start
deploy
make_model "$WORK/model.gguf"
register "$WORK/model.gguf"
make_keystore
write_conf "$WORK/oracle.conf" "confirmations = 0" "receipt_depth = 0"
# node_crash_sync.sh runs all of this with journal_sync = true (an fsync per commit)
sed -i "s/^journal_sync = .*/journal_sync = ${CRASH_JOURNAL_SYNC:-false}/" "$WORK/oracle.conf"

total=0
batch() { # batch LABEL COUNT: ask COUNT prompts
  local p=() i
  for i in $(seq "$2"); do p+=("$1 question $i"); done
  ask "${p[@]}"
  total=$((total + $2))
}

wait_dead() { # the crash hook must fire within 30 s
  local end=$((SECONDS + 30))
  while kill -0 "$NODE_PID" 2>/dev/null; do
    [ $SECONDS -ge $end ] && die "node did not crash at $1"
    sleep 0.05
  done
  node_wait_exit
}

for point in after_seen after_confirm after_computing after_computed after_sign after_send; do
  node_start "$WORK/oracle.conf" SIBYL_TEST_CRASH_AT=$point:3
  batch "$point" 5
  wait_dead "$point"
  grep -q "killing the node at $point" "$WORK/node.log" || die "no crash at $point"
  node_start "$WORK/oracle.conf"
  wait_done "$total" 60
  node_stop
  log "crash at $point: recovered, $total answered"
done

# kill -9 from outside, mid-run, three times
for k in 1 2 3; do
  node_start "$WORK/oracle.conf"
  batch "kill$k" 12
  sleep 0.$((2 * k))
  kill -9 "$NODE_PID"; node_wait_exit
done
node_start "$WORK/oracle.conf"
wait_done "$total" 90
node_stop

fulfilled=$(count_events "Fulfilled(uint256,bytes32,bytes)")
[ "$fulfilled" = "$total" ] || die "$fulfilled Fulfilled events for $total requests"
topic=$("$CAST" keccak "Fulfilled(uint256,bytes32,bytes)")
ids=$(rpc eth_getLogs "[{\"fromBlock\":\"0x0\",\"toBlock\":\"latest\",\"address\":\"$ORACLE\",\"topics\":[\"$topic\"]}]" | jq -r '.[].topics[1]' | sort -u | wc -l)
[ "$ids" = "$total" ] || die "$ids distinct ids fulfilled, $total requests"
sent=$(printf '%d' "$(rpc eth_getTransactionCount "[\"$NODE_ADDR\",\"latest\"]" | tr -d '"')")
# Several answers may share one transaction (answerMany): at most one per request, and no
# answer sent twice (a second one would show as AnswerSkipped: RequestNotOpen)
[ "$sent" -le "$total" ] && [ "$sent" -gt 0 ] || die "the node's account sent $sent transactions for $total requests"
skipped=$(count_events "AnswerSkipped(uint256,uint256,bytes)")
[ "$skipped" = 0 ] || die "$skipped answers were sent again after they were done (AnswerSkipped)"
grep -qx "journal_sync = ${CRASH_JOURNAL_SYNC:-false}" "$WORK/oracle.conf" || die "journal_sync not set"
log "ok: $total requests over 9 crashes, each fulfilled once, $sent transactions (journal_sync = ${CRASH_JOURNAL_SYNC:-false})"
