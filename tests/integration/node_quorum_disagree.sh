#!/usr/bin/env bash
# Disagreeing nodes, quorum k = 2 of 3: node B attests to a different output (test hook
# SIBYL_TEST_WRONG_OUTPUT=1: its last output byte flipped, like a node that computes something
# else). A votes first (fulfill, supplies output X); B then votes for its own output Y with a
# fulfill (Y is not supplied), the contract emits QuorumDisagreement naming B and finalises
# nothing; C agrees with A (attest X) and the request is Fulfilled with X. Checked on chain: one
# Fulfilled per request carrying A's output hash, one QuorumDisagreement per request naming B,
# A and C paid escrow/2 each, B nothing; B's log warns about the disagreement.
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SIBYL_BUILD=${SIBYL_BUILD:-$ROOT/build}
source "$ROOT/tests/integration/lib/node-env.bash"

# anvil dev accounts #1 (node-env's node key), #3, #4
KEYS=("$NODE_KEY" 0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6
      0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a)
PIDS=()
disagree_cleanup() {
  local rc=$?
  set +e # under set -e a failing run would stop at "(exit $rc)" before the cleanup
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
  if [ $rc != 0 ]; then
    for i in 0 1 2; do [ -f "$WORK/node$i.log" ] && { log "node $i log:"; tail -15 "$WORK/node$i.log" >&2; }; done
  fi
  (exit $rc); node_env_cleanup
}
trap disagree_cleanup EXIT

anvil_start
deploy
make_model "$WORK/model.gguf"
FEE=1000000000 # what ask() pays
owner_send "$ORACLE" "registerModel(bytes32,bytes32,uint16,uint128,bool)" "$MODEL_ID_HEX" \
  "0x$(sha256sum "$WORK/model.gguf" | cut -d' ' -f1)" 2 $FEE true
ADDRS=()
for i in 0 1 2; do
  ADDRS[$i]=$("$CAST" wallet address --private-key "${KEYS[$i]}")
  owner_send "$ORACLE" "addNode(address)" "${ADDRS[$i]}"
done
printf 'test-password\n' >"$WORK/password"; chmod 600 "$WORK/password"

start_node() { # start_node I [env assignments...]
  local i=$1 d=$WORK/n$1; shift
  mkdir -p "$d/keys"
  "$CAST" wallet import node --private-key "${KEYS[$i]}" --keystore-dir "$d/keys" \
    --unsafe-password test-password >/dev/null
  chmod 600 "$d/keys/node"
  KEYSTORE=$d/keys/node
  METRICS_PORT=$(free_port) write_conf "$d/oracle.conf.in" "confirmations = 0" "receipt_depth = 0"
  sed "s|^journal_dir = .*|journal_dir = $d/journal|" "$d/oracle.conf.in" >"$d/oracle.conf"
  env "$@" "$SIBYL" run -c "$d/oracle.conf" >>"$WORK/node$i.log" 2>&1 &
  PIDS+=($!)
}
count() { # count EVENT-SIGNATURE
  rpc eth_getLogs "[{\"fromBlock\":\"0x0\",\"toBlock\":\"latest\",\"address\":\"$ORACLE\",\"topics\":[\"$("$CAST" keccak "$1")\"]}]" | jq 'length'
}
ATT="Attested(uint256,address,bytes32,uint16,uint256)"
QD="QuorumDisagreement(uint256,address,bytes32,uint16,bytes32,uint16)"
wait_count() { # wait_count EVENT N SECONDS
  local end=$((SECONDS + $3))
  until [ "$(count "$1")" -ge "$2" ]; do
    [ $SECONDS -lt $end ] || die "only $(count "$1") $1 events of $2 within $3 s"
    sleep 0.2
  done
}

N=3
start_node 0
ask "2+3" "40+2" "7+7"
wait_count "$ATT" $N 40
start_node 1 SIBYL_TEST_WRONG_OUTPUT=1
wait_count "$ATT" $((2 * N)) 40
[ "$(count "$QD")" = $N ] || die "$(count "$QD") QuorumDisagreement events, expected $N"
[ "$(consumer_u answeredCount)" = 0 ] || die "a request was finalised by two disagreeing votes"
start_node 2
wait_done $N 40
sleep 1

rpc eth_getLogs "[{\"fromBlock\":\"0x0\",\"toBlock\":\"latest\",\"address\":\"$ORACLE\"}]" >"$WORK/logs.json"
for i in 0 1 2; do
  bal[$i]=$("$CAST" call --rpc-url "$RPC" "$ORACLE" "balances(address)(uint256)" "${ADDRS[$i]}" | cut -d' ' -f1)
done
/usr/bin/python3 - "$WORK/logs.json" "$N" "$FEE" "${ADDRS[@]}" "${bal[@]}" "$("$CAST" keccak "$ATT")" \
  "$("$CAST" keccak "$QD")" "$("$CAST" keccak "Fulfilled(uint256,bytes32,bytes)")" <<'PY' || die "on-chain checks failed"
import json, sys
logs = json.load(open(sys.argv[1]))
n, fee = int(sys.argv[2]), int(sys.argv[3])
a, b, c = [x.lower() for x in sys.argv[4:7]]
bals = [int(x) for x in sys.argv[7:10]]
t_att, t_qd, t_ful = sys.argv[10:13]
bad, votes, qd, ful = [], {}, {}, {}
for l in logs:
    t = l["topics"]
    rid = int(t[1], 16) if len(t) > 1 else None
    if t[0] == t_att:
        votes.setdefault(rid, []).append(("0x" + t[2][-40:], t[3]))
    elif t[0] == t_qd:
        qd.setdefault(rid, []).append(("0x" + t[2][-40:], "0x" + l["data"][2:66]))
    elif t[0] == t_ful:
        ful.setdefault(rid, []).append(t[2])
for rid in range(1, n + 1):
    v = votes.get(rid, [])
    if [x[0] for x in v] != [a, b, c]:
        bad.append(f"request {rid}: voters {[x[0] for x in v]}, expected A, B, C in that order")
        continue
    if v[0][1] != v[2][1] or v[0][1] == v[1][1]:
        bad.append(f"request {rid}: A and C must agree and B differ: {v}")
    if qd.get(rid) != [(b, v[0][1])]:
        bad.append(f"request {rid}: QuorumDisagreement {qd.get(rid)}, expected one naming B with A's hash")
    if ful.get(rid) != [v[0][1]]:
        bad.append(f"request {rid}: Fulfilled {ful.get(rid)}, expected once with A's output hash")
want = [n * (fee // 2), 0, n * (fee // 2)]
if bals != want:
    bad.append(f"balances {bals}, expected {want}")
for x in bad:
    print("  " + x, file=sys.stderr)
sys.exit(1 if bad else 0)
PY
w=$(grep -c 'quorum disagreement: our vote' "$WORK/node1.log" || true)
[ "$w" = $N ] || die "node B logged $w disagreement warnings, expected $N"
grep -q 'quorum disagreement' "$WORK/node0.log" "$WORK/node2.log" && die "an agreeing node warned about a disagreement"
for p in "${PIDS[@]}"; do kill -0 "$p" || die "a node died"; done
log "ok: $N requests, B disagreed on each (QuorumDisagreement, warned), A + C finalised with A's output, paid escrow/2 each"
