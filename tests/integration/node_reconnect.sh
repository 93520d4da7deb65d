#!/usr/bin/env bash
# The chain connection goes away mid-run: anvil is stopped (dumping its state) while requests
# are in flight and restarted from that state on the same port; requests are made while the
# node is still reconnecting, and while the node itself is down. The websocket reconnects, the
# backfill (eth_getLogs from the journaled cursor) catches every event, and every request is
# fulfilled exactly once.
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SIBYL_BUILD=${SIBYL_BUILD:-$ROOT/build}
source "$ROOT/tests/integration/lib/node-env.bash"

anvil_start --dump-state "$WORK/state.json"
deploy
make_model "$WORK/model.gguf"
register "$WORK/model.gguf"
make_keystore
write_conf "$WORK/oracle.conf" "confirmations = 0" "receipt_depth = 0"
node_start "$WORK/oracle.conf"

batch() { local p=() i; for i in $(seq "$2"); do p+=("$1 $i"); done; ask "${p[@]}"; }
batch warmup 5
wait_done 5 30

# anvil goes away with work in flight, comes back from its dumped state
batch inflight 10
sleep 0.1
anvil_stop
[ -s "$WORK/state.json" ] || die "anvil wrote no state"
sleep 1.5
anvil_start --load-state "$WORK/state.json" --dump-state "$WORK/state.json"
batch "while reconnecting" 10
wait_done 25 60

# the node is down while requests come in: only the backfill can find them
node_stop
batch "while the node is down" 10
node_start "$WORK/oracle.conf"
wait_done 35 60
node_stop

total=35
topic=$("$CAST" keccak "Fulfilled(uint256,bytes32,bytes)")
logs=$(rpc eth_getLogs "[{\"fromBlock\":\"0x0\",\"toBlock\":\"latest\",\"address\":\"$ORACLE\",\"topics\":[\"$topic\"]}]")
n=$(echo "$logs" | jq 'length'); ids=$(echo "$logs" | jq -r '.[].topics[1]' | sort -u | wc -l)
[ "$n" = $total ] && [ "$ids" = $total ] || die "$n fulfilments of $ids distinct ids, expected $total"
grep -q 'websocket .* closed, reconnecting\|connection failed' "$WORK/node.log" || die "the websocket never dropped?"
[ "$(grep -c 'subscribed; backfilling' "$WORK/node.log")" -ge 3 ] || die "expected >= 3 (re)subscriptions with backfill"
log "ok: $total requests across an anvil restart and a node restart, each fulfilled once"
