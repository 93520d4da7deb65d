# Helpers for the node's integration tests and scripts/demo (sourced). They start what they need
# on free loopback ports (anvil, the node) and stop it all on exit (node_env_cleanup is the EXIT
# trap). Requires: $ROOT (repo root), $SIBYL_BUILD (the Release build dir).
#
# Accounts: anvil's well-known dev keys. #0 deploys and owns the oracle, #1 is the node's key
# (imported into a v3 keystore), #2 is the user who asks the example consumer.

set -euo pipefail

: "${ROOT:?}" "${SIBYL_BUILD:?}"
SIBYL=$SIBYL_BUILD/cli/sibyl
NM=$ROOT/contracts/node_modules
ANVIL=$NM/@foundry-rs/anvil-linux-amd64/bin/anvil
CAST=$NM/.bin/cast
FORGE=$NM/.bin/forge
OWNER_KEY=0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80
NODE_KEY=0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d
USER_ADDR=0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC
MODEL_ID=tiny
WORK=$(mktemp -d "${TMPDIR:-/tmp}/sibyl-it.XXXXXX")
ANVIL_PID=
NODE_PID=
ANVIL_ARGS=()
declare -A SEL_CACHE
NODE_ADDR=$("$CAST" wallet address --private-key "$NODE_KEY")

log() { echo "[$(date +%H:%M:%S)] $*" >&2; }
die() { log "FAIL: $*"; exit 1; }

node_env_cleanup() {
  local rc=$?
  [ -n "$NODE_PID" ] && kill -TERM "$NODE_PID" 2>/dev/null && wait "$NODE_PID" 2>/dev/null
  [ -n "$ANVIL_PID" ] && kill -TERM "$ANVIL_PID" 2>/dev/null && wait "$ANVIL_PID" 2>/dev/null
  if [ $rc != 0 ] && [ -f "$WORK/node.log" ]; then
    log "last node log lines:"; tail -25 "$WORK/node.log" >&2
  fi
  [ -n "${KEEP_WORK:-}" ] || rm -rf "$WORK"
  exit $rc
}
trap node_env_cleanup EXIT

free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# anvil_start [extra anvil args...]: starts anvil on $PORT (chosen once), state in $WORK/anvil.json
anvil_start() {
  PORT=${PORT:-$(free_port)}
  RPC=http://127.0.0.1:$PORT
  ANVIL_ARGS=("$@")
  local quiet=(--silent) # ANVIL_VERBOSE=1: anvil logs every call and block in $WORK/anvil.log
  [ -z "${ANVIL_VERBOSE:-}" ] || quiet=()
  "$ANVIL" --host 127.0.0.1 --port "$PORT" "${quiet[@]}" "${ANVIL_ARGS[@]}" >"$WORK/anvil.log" 2>&1 &
  ANVIL_PID=$!
  for _ in $(seq 100); do
    curl -s -X POST -H 'Content-Type: application/json' \
      --data '{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}' "$RPC" >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  die "anvil did not start"
}

anvil_stop() {
  kill -TERM "$ANVIL_PID" 2>/dev/null; wait "$ANVIL_PID" 2>/dev/null || true; ANVIL_PID=
}

rpc() { # rpc METHOD PARAMS-JSON -> result (JSON)
  curl -s -X POST -H 'Content-Type: application/json' \
    --data "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"$1\",\"params\":$2}" "$RPC" | jq -c '.result'
}

bytecode() { # bytecode Contract -> 0x creation code
  jq -r '.bytecode.object' "$ROOT/contracts/out/$1.sol/$1.json"
}

contracts_build() { # only when an artifact is missing or older than a source
  local a=$ROOT/contracts/out/InferenceOracle.sol/InferenceOracle.json
  local b=$ROOT/contracts/out/ExampleConsumer.sol/ExampleConsumer.json
  if [ -f "$a" ] && [ -f "$b" ] && [ -z "$(find "$ROOT/contracts/src" -newer "$a" -print -quit)" ]; then
    return 0
  fi
  (cd "$ROOT/contracts" && "$FORGE" build >/dev/null)
}

# deploy CALLBACK_GAS PARAMS_HEX: InferenceOracle (owner #0, timeout 1 day) and ExampleConsumer.
deploy() {
  local params=${2:-0x}
  contracts_build
  local args out
  args=$("$CAST" abi-encode "c(address,uint64,uint32)" 0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266 86400 1000000)
  out=$("$CAST" send --rpc-url "$RPC" --private-key "$OWNER_KEY" --json --create "$(bytecode InferenceOracle)${args#0x}")
  ORACLE=$(echo "$out" | jq -r .contractAddress)
  MODEL_ID_HEX=$("$CAST" format-bytes32-string "$MODEL_ID")
  args=$("$CAST" abi-encode "c(address,bytes32,bytes32,bytes,uint32)" "$ORACLE" "$MODEL_ID_HEX" \
    "$("$CAST" format-bytes32-string text)" "$params" "${1:-200000}")
  out=$("$CAST" send --rpc-url "$RPC" --private-key "$OWNER_KEY" --json --create "$(bytecode ExampleConsumer)${args#0x}")
  CONSUMER=$(echo "$out" | jq -r .contractAddress)
  DEPLOY_BLOCK=$("$CAST" block-number --rpc-url "$RPC")
  SEL_CACHE[answeredCount]=$("$CAST" sig "answeredCount()")
  SEL_CACHE[rejectedCount]=$("$CAST" sig "rejectedCount()")
  [ "$ORACLE" != null ] && [ "$CONSUMER" != null ] || die "deployment failed"
}

owner_send() { "$CAST" send --rpc-url "$RPC" --private-key "$OWNER_KEY" "$@" >/dev/null; }

# register MODEL_PATH: the model (sha256 of the file, quorum 1, fee 1 gwei) and the node key
register() {
  local h
  h=0x$(sha256sum "$1" | cut -d' ' -f1)
  owner_send "$ORACLE" "registerModel(bytes32,bytes32,uint16,uint128,bool)" "$MODEL_ID_HEX" "$h" 1 1000000000 true
  owner_send "$ORACLE" "addNode(address)" "$NODE_ADDR"
}

make_model() { # make_model PATH: the tiny preset, random weights (sibyl mkmodel)
  "$SIBYL" mkmodel --preset tiny -o "$1" >/dev/null
}

make_keystore() { # -> $KEYSTORE, password in $WORK/password
  mkdir -p "$WORK/keys"
  printf 'test-password\n' >"$WORK/password"
  chmod 600 "$WORK/password"
  "$CAST" wallet import node --private-key "$NODE_KEY" --keystore-dir "$WORK/keys" \
    --unsafe-password test-password >/dev/null
  KEYSTORE=$WORK/keys/node
  chmod 600 "$KEYSTORE"
}

# write_conf FILE [key=value ...]: a config for this devnet; extra lines override nothing, they
# are appended (so pass only keys not set here).
write_conf() {
  local f=$1; shift
  METRICS_PORT=${METRICS_PORT:-$(free_port)}
  {
    echo "rpc_http = $RPC"
    echo "rpc_ws = ws://127.0.0.1:$PORT"
    echo "chain_id = 31337"
    echo "oracle_address = $ORACLE"
    echo "model = $MODEL_ID $WORK/model.gguf"
    echo "keystore = $KEYSTORE"
    echo "password_file = $WORK/password"
    echo "journal_dir = $WORK/journal"
    echo "journal_sync = false"
    echo "metrics_listen = 127.0.0.1:$METRICS_PORT"
    echo "start_block = ${DEPLOY_BLOCK:-0}"
    echo "threads = 1"
    for kv in "$@"; do echo "$kv"; done
  } >"$f"
}

node_start() { # node_start CONF [env assignments...]
  local conf=$1; shift
  env "$@" "$SIBYL" run -c "$conf" >>"$WORK/node.log" 2>&1 &
  NODE_PID=$!
}

node_wait_healthy() { # until the started node's /healthz answers; fails after 10 s
  for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$METRICS_PORT/healthz" >/dev/null && return 0
    sleep 0.1
  done
  die "the node's /healthz never answered ok"
}

wait_log() { # wait_log PATTERN COUNT SECONDS: until node.log has COUNT lines with PATTERN
  local end=$((SECONDS + $3))
  while [ "$(grep -c -- "$1" "$WORK/node.log" || true)" -lt "$2" ]; do
    [ $SECONDS -ge $end ] && die "no '$1' (x$2) in the node log within $3 s"
    sleep 0.05
  done
}

node_nonce() { # node_nonce [BLOCK=latest]: the node account's transaction count
  printf '%d' "$(rpc eth_getTransactionCount "[\"$NODE_ADDR\",\"${1:-latest}\"]" | tr -d '"')"
}

node_stop() { # SIGTERM and wait; fails if it does not exit cleanly in 10 s
  local pid=$NODE_PID
  NODE_PID=
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 200); do
    kill -0 "$pid" 2>/dev/null || { wait "$pid"; return $?; }
    sleep 0.05
  done
  kill -9 "$pid"; wait "$pid" 2>/dev/null || true
  die "node did not stop within 10 s of SIGTERM"
}

# devnet_with_node [CONF_LINE...]: the usual start of a node test: anvil, the contracts, the tiny
# model registered, the node key, $WORK/oracle.conf with the given lines, the node started and
# healthy.
devnet_with_node() {
  anvil_start
  deploy
  make_model "$WORK/model.gguf"
  register "$WORK/model.gguf"
  make_keystore
  write_conf "$WORK/oracle.conf" "$@"
  node_start "$WORK/oracle.conf"
  node_wait_healthy
}

node_wait_exit() { # the node killed itself (crash hook): wait for it
  wait "$NODE_PID" 2>/dev/null || true
  NODE_PID=
}

# ask PROMPT... : one request per prompt from the user account (anvil unlocked account #2), sent
# with eth_sendTransaction (no cast start-up per request).
ask() {
  [ $# -gt 0 ] || return 0
  ASK_SEL=${ASK_SEL:-$("$CAST" sig "ask(string)")}
  local nonce
  nonce=$(rpc eth_getTransactionCount "[\"$USER_ADDR\",\"pending\"]" | tr -d '"')
  /usr/bin/python3 - "$ASK_SEL" "$USER_ADDR" "$CONSUMER" "$nonce" "$@" <<'PY' |
import json, sys
sel, frm, to, nonce, prompts = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4], 16), sys.argv[5:]
batch = []
for i, p in enumerate(prompts):
    b = p.encode()
    pad = (32 - len(b) % 32) % 32
    data = sel + (32).to_bytes(32, "big").hex() + len(b).to_bytes(32, "big").hex() + (b + b"\0" * pad).hex()
    batch.append({"jsonrpc": "2.0", "id": i, "method": "eth_sendTransaction",
                  "params": [{"from": frm, "to": to, "data": data, "value": "0x3b9aca00",
                              "nonce": hex(nonce + i), "gas": hex(1000000)}]})
print(json.dumps(batch))
PY
  curl -s -X POST -H 'Content-Type: application/json' --data @- "$RPC" >"$WORK/ask.out"
  grep -q '"error"' "$WORK/ask.out" && die "ask: $(head -c 300 "$WORK/ask.out")"
  # With automine on, every ask is in a block before ask returns. anvil fits a block to its gas
  # limit (30 asks of 1,000,000 gas) and leaves the rest in its pool until some other
  # transaction arrives; a node that answers many requests per transaction may send none, so
  # after a second without progress an empty block is mined to pick them up.
  [ "$(rpc anvil_getAutomine '[]')" = true ] || return 0
  local want=$((nonce + $#)) end=$((SECONDS + 30)) waited=0 got
  while :; do
    got=$(printf '%d' "$(rpc eth_getTransactionCount "[\"$USER_ADDR\",\"latest\"]" | tr -d '"')")
    [ "$got" -ge "$want" ] && return 0
    [ $SECONDS -ge $end ] && die "ask: only $((got - nonce)) of $# asks mined"
    sleep 0.1
    waited=$((waited + 1))
    [ $((waited % 10)) = 0 ] && mine 1
  done
}

ask_with() { # ask_with MODELID_HEX ADAPTER_HEX INPUT_HEX PARAMS_HEX
  local data
  data=$("$CAST" calldata "askWith(bytes32,bytes32,bytes,bytes,uint32)" "$1" "$2" "$3" "$4" 200000)
  rpc eth_sendTransaction "[{\"from\":\"$USER_ADDR\",\"to\":\"$CONSUMER\",\"data\":\"$data\",\"value\":\"0x3b9aca00\"}]" >/dev/null
}

# consumer_u NAME: a uint256 view of the consumer without arguments (eth_call through curl)
consumer_u() {
  local sel=${SEL_CACHE[$1]:-}
  [ -n "$sel" ] || { sel=$("$CAST" sig "$1()"); SEL_CACHE[$1]=$sel; }
  printf '%d' "$(rpc eth_call "[{\"to\":\"$CONSUMER\",\"data\":\"$sel\"},\"latest\"]" | tr -d '"')"
}

# wait_done N SECONDS: until answeredCount + rejectedCount >= N
wait_done() {
  local n=$1 a r end=$((SECONDS + $2))
  while :; do
    a=$(consumer_u answeredCount); r=$(consumer_u rejectedCount)
    [ $((a + r)) -ge "$n" ] && return 0
    [ $SECONDS -ge $end ] && break
    sleep 0.2
  done
  die "only $((a + r)) of $n requests answered within $2 s"
}

mine() { rpc anvil_mine "[\"0x$(printf %x "${1:-1}")\",\"0x0\"]" >/dev/null; }

# count_events SIG: how many logs of event SIG the oracle emitted (from the deploy block)
count_events() {
  local topic
  topic=$("$CAST" keccak "$1")
  rpc eth_getLogs "[{\"fromBlock\":\"0x0\",\"toBlock\":\"latest\",\"address\":\"$ORACLE\",\"topics\":[\"$topic\"]}]" | jq 'length'
}
