#!/usr/bin/env bash
# Sends that fail in transport are sent again promptly, not only when blocks come. The node's
# JSON-RPC (HTTP) path goes through a TCP forwarder (tests/integration/lib/tcp_forward.py), its
# websocket to anvil directly. With the forwarder stopped, three requests arrive over the
# websocket (anvil automine: one block each); the node computes them and signs three fulfills
# (consecutive nonces; the fees come from the newHeads header and the gas from the estimate cache,
# so nothing else needs HTTP) whose eth_sendRawTransaction fails: the connection is refused.
# The forwarder comes back and then the chain stays quiet: automine makes no block without a
# transaction, so a resend rule counting blocks since the send would wait forever, and one that
# only re-sends the lowest unmined nonce would leave the other two behind. Expected: all three
# re-sent from their journaled bytes and fulfilled within seconds, one nonce each.
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SIBYL_BUILD=${SIBYL_BUILD:-$ROOT/build}
source "$ROOT/tests/integration/lib/node-env.bash"

PROXY_PID=
st_cleanup() {
  local rc=$?
  set +e # a failing test must still reach node_env_cleanup
  if [ -n "$PROXY_PID" ]; then kill -TERM "$PROXY_PID" 2>/dev/null; wait "$PROXY_PID" 2>/dev/null || true; fi
  (exit $rc); node_env_cleanup
}
trap st_cleanup EXIT

anvil_start
# two new tokens at most: every answer fits one 64-byte word, so all share one gas-cache entry
deploy 200000 "$("$CAST" abi-encode "f(uint32,uint32)" 2 0)"
make_model "$WORK/model.gguf"
register "$WORK/model.gguf"
make_keystore
PROXY_PORT=$(free_port)
proxy_start() {
  /usr/bin/python3 "$ROOT/tests/integration/lib/tcp_forward.py" "$PROXY_PORT" "$PORT" &
  PROXY_PID=$!
  for _ in $(seq 100); do
    curl -s -X POST -H 'Content-Type: application/json' \
      --data '{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}' "http://127.0.0.1:$PROXY_PORT" >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  die "the forwarder did not start"
}
proxy_stop() { kill -TERM "$PROXY_PID"; wait "$PROXY_PID" 2>/dev/null || true; PROXY_PID=; }

# one answer per transaction: three nonces whose sends failed (node_answer_many.sh has batches)
write_conf "$WORK/oracle.conf.in" "confirmations = 0" "receipt_depth = 0" "answers_per_tx = 1"
sed "s|^rpc_http = .*|rpc_http = http://127.0.0.1:$PROXY_PORT|" "$WORK/oracle.conf.in" >"$WORK/oracle.conf"
proxy_start
node_start "$WORK/oracle.conf"
node_wait_healthy
ask "warm up" # fills the gas estimate cache
wait_done 1 30
n=$(node_nonce latest)

proxy_stop
ask "while the RPC path is down 1" "while the RPC path is down 2" "while the RPC path is down 3"
wait_log '"eth_sendRawTransaction: ' 3 30
[ "$(grep -c '"sent fulfill' "$WORK/node.log")" = 1 ] || die "a send was counted as sent although it failed"
[ "$(node_nonce pending)" = "$n" ] || die "a transaction reached anvil although the RPC path was down"
head=$("$CAST" block-number --rpc-url "$RPC")
proxy_start

# no block is mined from here on but by the node's own transactions
end=$((SECONDS + 15))
while [ "$(consumer_u answeredCount)" -lt 4 ]; do
  [ $SECONDS -ge $end ] && die "the fulfills that failed in transport were not re-sent within 15 s on a quiet chain (answered: $(consumer_u answeredCount) of 4)"
  sleep 0.2
done
sleep 1
[ "$(node_nonce latest)" = $((n + 3)) ] || die "the node used $(( $(node_nonce latest) - n )) nonces for 3 requests"
[ "$(count_events "Fulfilled(uint256,bytes32,bytes)")" = 4 ] || die "expected 4 fulfilments"
[ "$(grep -c 're-sent nonce .*the earlier send did not reach the node' "$WORK/node.log")" = 3 ] ||
  die "expected 3 re-sends of transactions that never reached the node"
blocks=$(( $("$CAST" block-number --rpc-url "$RPC") - head ))
[ "$blocks" -le 3 ] || die "$blocks blocks after the outage: something else made blocks (the chain was to stay quiet)"
node_stop
log "ok: 3 fulfills lost in transport (nonces $n..$((n + 2))) re-sent and mined on a quiet chain"
