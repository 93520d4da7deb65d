#!/usr/bin/env bash
# An attest whose supplying fulfill is reorged out (quorum 2, automine off, blocks mined by hand):
# node A's fulfill supplies output X (vote 1 of 2) and A stops; node B finds X supplied and sends
# the cheap attest; before it is mined the chain is rolled back to just before A's fulfill, which
# is dropped. B's attest is mined and reverts (OutputNotSupplied); B replays it, learns why, and
# submits again as a fulfill (supplying X itself), exactly once. A third node C then attests and
# the request is Fulfilled with X. Checked on chain: B's attest reverted, B's fulfill supplied X
# (OutputSupplied by B), A has no vote on the final chain, B and C each voted once.
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SIBYL_BUILD=${SIBYL_BUILD:-$ROOT/build}
source "$ROOT/tests/integration/lib/node-env.bash"

KEYS=("$NODE_KEY" 0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6
      0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a)
PIDS=(); NPID=()
ar_cleanup() {
  local rc=$?
  set +e # under set -e a failing run would stop at "(exit $rc)" and leave anvil and nodes running
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
  if [ $rc != 0 ]; then
    for i in 0 1 2; do [ -f "$WORK/node$i.log" ] && { log "node $i log:"; tail -12 "$WORK/node$i.log" >&2; }; done
  fi
  (exit $rc); node_env_cleanup
}
trap ar_cleanup EXIT

anvil_start
deploy
make_model "$WORK/model.gguf"
owner_send "$ORACLE" "registerModel(bytes32,bytes32,uint16,uint128,bool)" "$MODEL_ID_HEX" \
  "0x$(sha256sum "$WORK/model.gguf" | cut -d' ' -f1)" 2 1000000000 true
ADDRS=()
for i in 0 1 2; do
  ADDRS[$i]=$("$CAST" wallet address --private-key "${KEYS[$i]}")
  owner_send "$ORACLE" "addNode(address)" "${ADDRS[$i]}"
done
printf 'test-password\n' >"$WORK/password"; chmod 600 "$WORK/password"
start_node() { # start_node I
  local i=$1 d=$WORK/n$1
  mkdir -p "$d/keys"
  "$CAST" wallet import node --private-key "${KEYS[$i]}" --keystore-dir "$d/keys" \
    --unsafe-password test-password >/dev/null
  chmod 600 "$d/keys/node"
  KEYSTORE=$d/keys/node
  METRICS_PORT=$(free_port) write_conf "$d/oracle.conf.in" "confirmations = 0" "receipt_depth = 0"
  sed "s|^journal_dir = .*|journal_dir = $d/journal|" "$d/oracle.conf.in" >"$d/oracle.conf"
  "$SIBYL" run -c "$d/oracle.conf" >>"$WORK/node$i.log" 2>&1 &
  PIDS+=($!); NPID[$i]=$!
}
wait_node_log() { # wait_node_log NODE PATTERN SECONDS
  local end=$((SECONDS + $3))
  until grep -q -- "$2" "$WORK/node$1.log" 2>/dev/null; do
    [ $SECONDS -lt $end ] || die "node $1: no '$2' within $3 s"
    sleep 0.1
  done
}
txhash() { grep "$2" "$WORK/node$1.log" | tail -1 | sed -E 's/.* tx (0x[0-9a-f]{64}).*/\1/'; }
status() { rpc eth_getTransactionReceipt "[\"$1\"]" | jq -r .status; }
voted() { "$CAST" call --rpc-url "$RPC" "$ORACLE" "hasVoted(uint256,address)(bool)" 1 "${ADDRS[$1]}"; }

rpc evm_setAutomine '[false]' >/dev/null
start_node 0
ask "6+7" # request 1
mine 1
wait_node_log 0 'sent fulfill' 30
A_TX=$(txhash 0 'sent fulfill')
snap=$(rpc evm_snapshot '[]' | tr -d '"')
mine 1 # A's fulfill: output supplied, one vote
[ "$(status "$A_TX")" = 0x1 ] || die "A's fulfill did not succeed"
wait_node_log 0 'request fulfilled' 20
kill -TERM "${NPID[0]}"; wait "${NPID[0]}" 2>/dev/null || true

start_node 1
wait_node_log 1 'sent attest' 30
B_ATT=$(txhash 1 'sent attest')
rpc evm_revert "[\"$snap\"]" >/dev/null # back to just before A's fulfill
rpc anvil_dropTransaction "[\"$A_TX\"]" >/dev/null
[ "$(voted 0)" = false ] || die "A's vote is still on the chain"
# B's attest is in the pool (or B re-sends it); mine until it is in a block
end=$((SECONDS + 30))
until [ "$(rpc eth_getTransactionReceipt "[\"$B_ATT\"]")" != null ]; do
  [ $SECONDS -lt $end ] || die "B's attest was never mined"
  mine 1; sleep 0.5
done
[ "$(status "$B_ATT")" = 0x0 ] || die "B's attest did not revert"
wait_node_log 1 'OutputNotSupplied: submitting again' 30
wait_node_log 1 'sent fulfill' 30
B_FUL=$(txhash 1 'sent fulfill')
mine 1
[ "$(status "$B_FUL")" = 0x1 ] || die "B's fulfill did not succeed"
[ "$(voted 1)" = true ] || die "B has no vote"
[ "$(consumer_u answeredCount)" = 0 ] || die "finalised with one vote of two"
sup=$(rpc eth_getLogs "[{\"fromBlock\":\"0x0\",\"toBlock\":\"latest\",\"address\":\"$ORACLE\",\"topics\":[\"$("$CAST" keccak "OutputSupplied(uint256,bytes32,address)")\"]}]")
[ "$(echo "$sup" | jq 'length')" = 1 ] || die "expected one OutputSupplied on the final chain"
[ "$(echo "$sup" | jq -r '.[0].topics[3]' | tail -c 41)" = "$(echo "${ADDRS[1]#0x}" | tr A-F a-f)" ] || die "the output was not supplied by B"

rpc evm_setAutomine '[true]' >/dev/null
start_node 2
wait_done 1 40
[ "$(voted 2)" = true ] || die "C has no vote"
[ "$(voted 0)" = false ] || die "A voted on the final chain"
[ "$(count_events "Fulfilled(uint256,bytes32,bytes)")" = 1 ] || die "expected one Fulfilled"
n=$(grep -c 'OutputNotSupplied: submitting again' "$WORK/node1.log" || true)
[ "$n" = 1 ] || die "B re-submitted $n times, expected once"
grep -q '"level":"error"' "$WORK/node1.log" "$WORK/node2.log" && die "errors in the node logs"
log "ok: B's attest lost its supplying fulfill to a reorg, reverted, B re-sent it as a fulfill once; C finalised"
