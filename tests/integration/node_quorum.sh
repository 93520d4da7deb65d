#!/usr/bin/env bash
# Quorum k = 3 (or QUORUM_K = 2) with three nodes (own keys, keystores, journals, metrics
# ports; one oracle). With k = 2 the third vote comes too late and must be "nothing to send".
# Phase 1: node A alone votes on every request with fulfill (it supplies the output bytes; k is
# not reached). Then B and C start, find the output supplied and confirm with attest (hash
# only); the k-th vote finalises. Phase 2: all three run while new requests arrive.
# Checked on chain: every request Fulfilled exactly once, each node voted exactly once per
# request (k = 3; with k = 2 exactly two counted votes each), phase-1 votes of B and C are attest calls and A's are fulfill calls, and the fee
# split of docs/protocol.md (escrow / k each, the remainder to the first voter), to the wei.
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SIBYL_BUILD=${SIBYL_BUILD:-$ROOT/build}
source "$ROOT/tests/integration/lib/node-env.bash"

# anvil dev accounts #1 (node-env's node key), #3, #4
KEYS=("$NODE_KEY" 0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6
      0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a)
PIDS=()
quorum_cleanup() {
  local rc=$?
  set +e # under set -e a failing run would stop at "(exit $rc)" before the cleanup
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
  if [ $rc != 0 ]; then
    for i in 1 2; do [ -f "$WORK/node$i.log" ] && { log "node $i log:"; tail -15 "$WORK/node$i.log" >&2; }; done
  fi
  (exit $rc); node_env_cleanup
}
trap quorum_cleanup EXIT

K=${QUORUM_K:-3}
case $K in 2|3) ;; *) die "QUORUM_K must be 2 or 3" ;; esac
anvil_start
deploy
make_model "$WORK/model.gguf"
FEE=1000000000 # what ask() pays
owner_send "$ORACLE" "registerModel(bytes32,bytes32,uint16,uint128,bool)" "$MODEL_ID_HEX" \
  "0x$(sha256sum "$WORK/model.gguf" | cut -d' ' -f1)" "$K" $FEE true
ADDRS=()
for i in 0 1 2; do
  ADDRS[$i]=$("$CAST" wallet address --private-key "${KEYS[$i]}")
  owner_send "$ORACLE" "addNode(address)" "${ADDRS[$i]}"
done
printf 'test-password\n' >"$WORK/password"; chmod 600 "$WORK/password"

start_node() { # start_node I: node I with its own keystore, journal and metrics port
  local i=$1 d=$WORK/n$1
  mkdir -p "$d/keys"
  "$CAST" wallet import node --private-key "${KEYS[$i]}" --keystore-dir "$d/keys" \
    --unsafe-password test-password >/dev/null
  chmod 600 "$d/keys/node"
  KEYSTORE=$d/keys/node
  METRICS_PORT=$(free_port) write_conf "$d/oracle.conf.in" "confirmations = 0" "receipt_depth = 0"
  sed "s|^journal_dir = .*|journal_dir = $d/journal|" "$d/oracle.conf.in" >"$d/oracle.conf"
  if [ "$i" = 0 ]; then
    node_start "$d/oracle.conf"; PIDS+=("$NODE_PID")
  else
    "$SIBYL" run -c "$d/oracle.conf" >>"$WORK/node$i.log" 2>&1 &
    PIDS+=($!)
  fi
}

TOPIC_ATT=$("$CAST" keccak "Attested(uint256,address,bytes32,uint16,uint256)")
attested() { rpc eth_getLogs "[{\"fromBlock\":\"0x0\",\"toBlock\":\"latest\",\"address\":\"$ORACLE\",\"topics\":[\"$TOPIC_ATT\"]}]" | jq 'length'; }
wait_attested() { # wait_attested N SECONDS
  local end=$((SECONDS + $2))
  until [ "$(attested)" -ge "$1" ]; do
    [ $SECONDS -lt $end ] || die "only $(attested) of $1 votes within $2 s"
    sleep 0.2
  done
}

N1=3
start_node 0
ask "q one" "q two" "q three"
wait_attested $N1 40
sleep 0.5
[ "$(attested)" = $N1 ] || die "node A alone: $(attested) votes, expected $N1"
[ "$(consumer_u answeredCount)" = 0 ] || die "finalised with one vote of $K"
start_node 1
start_node 2
wait_done $N1 40

N=$((N1 + 3))
ask "q four" "q five" "q six"
wait_done $N 40
sleep 1 # late votes (refused by the contract) would show here

# every vote, with its transaction's selector
rpc eth_getLogs "[{\"fromBlock\":\"0x0\",\"toBlock\":\"latest\",\"address\":\"$ORACLE\"}]" >"$WORK/logs.json"
jq -r --arg t "$TOPIC_ATT" '.[] | select(.topics[0] == $t) | .transactionHash' "$WORK/logs.json" |
  while read -r h; do rpc eth_getTransactionByHash "[\"$h\"]" | jq -r '[.hash, .input] | join(" ")'; done >"$WORK/sel.txt"
for i in 0 1 2; do
  bal[$i]=$("$CAST" call --rpc-url "$RPC" "$ORACLE" "balances(address)(uint256)" "${ADDRS[$i]}" | cut -d' ' -f1)
done
/usr/bin/python3 - "$WORK/logs.json" "$WORK/sel.txt" "$N" "$N1" "$FEE" "${ADDRS[@]}" "${bal[@]}" "$TOPIC_ATT" "$K" \
  "$("$CAST" keccak "Fulfilled(uint256,bytes32,bytes)")" "$("$CAST" sig "answerMany(bytes[])")" <<'PY' || die "on-chain checks failed"
import json, sys
logs = json.load(open(sys.argv[1]))
ANSWER_MANY = sys.argv[15]
def calls_of(inp):
    """(selector, request id) of every answer a transaction carries: the call itself, or each
    element of an answerMany(bytes[])"""
    b = bytes.fromhex(inp[2:])
    if b[:4].hex() != ANSWER_MANY[2:]:
        return [("0x" + b[:4].hex(), int.from_bytes(b[4:36], "big"))]
    body = b[4:]
    word = lambda o: int.from_bytes(body[o:o + 32], "big")
    arr = word(0)
    out = []
    for i in range(word(arr)):
        el = arr + 32 + word(arr + 32 + 32 * i)
        n = word(el)
        e = body[el + 32:el + 32 + n]
        out.append(("0x" + e[:4].hex(), int.from_bytes(e[4:36], "big")))
    return out
sel = {}
for line in open(sys.argv[2]):
    h, inp = line.split()
    for s_, rid_ in calls_of(inp):
        sel[(h, rid_)] = s_
n, n1, fee = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
addrs = [a.lower() for a in sys.argv[6:9]]
bals = [int(b) for b in sys.argv[9:12]]
t_att, k, t_ful = sys.argv[12], int(sys.argv[13]), sys.argv[14]
FULFILL, ATTEST = "0x1542c9a9", "0x138a6277"
votes, fulfilled = {}, {}
for l in logs:
    rid = int(l["topics"][1], 16) if len(l["topics"]) > 1 else None
    if l["topics"][0] == t_att:
        node = "0x" + l["topics"][2][-40:]
        votes.setdefault(rid, []).append((node, sel[(l["transactionHash"], rid)]))
    elif l["topics"][0] == t_ful:
        fulfilled[rid] = fulfilled.get(rid, 0) + 1
bad = []
expect_bal = [0, 0, 0]
calls = {FULFILL: 0, ATTEST: 0}
for rid in range(1, n + 1):
    v = votes.get(rid, [])
    if fulfilled.get(rid) != 1:
        bad.append(f"request {rid}: Fulfilled {fulfilled.get(rid, 0)} times")
    voters = [x[0] for x in v]
    if len(v) != k or len(set(voters)) != k or not set(voters) <= set(addrs):
        bad.append(f"request {rid}: voters {voters}, expected {k} distinct nodes")
        continue
    if rid <= n1 and voters[0] != addrs[0]:
        bad.append(f"request {rid}: first voter {voters[0]}, expected node A")
    if v[0][1] != FULFILL:
        bad.append(f"request {rid}: first vote by {v[0][1]}, expected fulfill")
    if rid <= n1:
        want = {addrs[0]: FULFILL, addrs[1]: ATTEST, addrs[2]: ATTEST}
        for node, s in v:
            if s != want.get(node):
                bad.append(f"request {rid}: {node} voted with {s}, expected {want[node]}")
    for node, s in v:
        calls[s] = calls.get(s, 0) + 1
    for j, (node, _) in enumerate(v[:k]):
        expect_bal[addrs.index(node)] += fee // k + (fee % k if j == 0 else 0)
if bals != expect_bal:
    bad.append(f"balances {bals}, expected {expect_bal}")
if sum(bals) != n * fee:
    bad.append(f"balances sum {sum(bals)} != {n * fee}")
print(f"votes: {calls[FULFILL]} fulfill, {calls[ATTEST]} attest; balances {bals}", file=sys.stderr)
for b in bad:
    print("  " + b, file=sys.stderr)
sys.exit(1 if bad else 0)
PY
for i in 0 1 2; do
  [ "$K" = 3 ] || break
  for id in $(seq $N); do
    v=$("$CAST" call --rpc-url "$RPC" "$ORACLE" "hasVoted(uint256,address)(bool)" "$id" "${ADDRS[$i]}")
    [ "$v" = true ] || die "node $i did not vote on request $id"
  done
done
grep -q "sent attest" "$WORK/node1.log" || die "node B never logged an attest"
for p in "${PIDS[@]}"; do kill -0 "$p" || die "a node died"; done
if [ "$K" = 2 ]; then # the third vote of each phase-1 request: refused, not an error
  cat "$WORK"/node*.log | grep -c 'nothing to send: RequestNotOpen(status 2)\|reverted with RequestNotOpen(status 2)\|skipped with RequestNotOpen(status 2)' >"$WORK/late" || true
  [ "$(cat "$WORK/late")" -ge $N ] || die "expected >= $N late votes ended as done, saw $(cat "$WORK/late")"
fi
# the auditor's view of a phase-1 request: A's fulfill and the others' attest calls all check out
"$SIBYL" attest verify 1 --rpc "$RPC" --oracle "$ORACLE" >"$WORK/verify1" 2>&1 ||
  { cat "$WORK/verify1" >&2; die "attest verify 1 failed"; }
grep -q "calldata: fulfill" "$WORK/verify1" && grep -q "calldata: attest" "$WORK/verify1" &&
  grep -q "^OK   final: $K votes for the final answer, quorum $K" "$WORK/verify1" ||
  { cat "$WORK/verify1" >&2; die "attest verify 1: not the expected votes"; }
log "ok: $N requests, k = $K of 3 nodes, each finalised once with $K votes, fee split to the wei"
