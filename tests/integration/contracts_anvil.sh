#!/usr/bin/env bash
# End to end on a real anvil, with nothing but forge and cast: deploy with script/Deploy.s.sol,
# ask through ExampleConsumer, read the request back from the InferenceRequested log alone,
# sign the EIP-712 attestation with `cast wallet sign --data` (an EIP-712 implementation
# independent of the contract), relay fulfill from a third account, read the answer; then the
# same for a reject, and a node withdrawing its fee. Exit 0 = pass.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT/contracts"
# The native binaries, not node_modules/.bin: the npm wrappers there always exit 0, even when
# the tool failed (forge 1.7.1 / cast 1.7.1 npm packages), so a failed `cast send` would pass.
CAST=node_modules/@foundry-rs/cast-linux-amd64/bin/cast
FORGE=node_modules/@foundry-rs/forge-linux-amd64/bin/forge
ANVIL=node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil
WORK=$(mktemp -d)
ANVIL_PID=
cleanup() {
  if [ -n "$ANVIL_PID" ]; then kill "$ANVIL_PID" 2>/dev/null || true; wait "$ANVIL_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

PORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
RPC=http://127.0.0.1:$PORT
"$ANVIL" --host 127.0.0.1 --port "$PORT" --silent >"$WORK/anvil.log" 2>&1 &
ANVIL_PID=$!
for _ in $(seq 50); do "$CAST" block-number --rpc-url "$RPC" >/dev/null 2>&1 && break; sleep 0.1; done
"$CAST" block-number --rpc-url "$RPC" >/dev/null || fail "anvil did not start"

# anvil's well-known test accounts: 0 deploys and owns, 1 is the node, 3 asks, 4 relays
DEPLOYER_KEY=0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80
NODE_KEY=0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d
NODE=0x70997970C51812dc3A010C7d01b50e0d17dc79C8
USER_KEY=0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6
RELAYER_KEY=0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a
MODEL_HASH=0x$(printf 'sibyl integration model' | sha256sum | cut -c1-64)
FEE=1000000000000000

NODES=$NODE MODEL_ID=diffusiongemma-tiny MODEL_HASH=$MODEL_HASH MODEL_FEE=$FEE REQUEST_TIMEOUT=600 \
  "$FORGE" script script/Deploy.s.sol:Deploy --rpc-url "$RPC" --private-key "$DEPLOYER_KEY" \
  --broadcast >"$WORK/deploy.log" 2>&1 || { cat "$WORK/deploy.log"; fail "deploy script"; }
ORACLE=$(awk '$1 == "InferenceOracle" {print $2}' "$WORK/deploy.log")
CONSUMER=$(awk '$1 == "ExampleConsumer" {print $2}' "$WORK/deploy.log")
[ -n "$ORACLE" ] && [ -n "$CONSUMER" ] || { cat "$WORK/deploy.log"; fail "no addresses printed"; }
echo "oracle $ORACLE consumer $CONSUMER"
CHAIN_ID=$("$CAST" chain-id --rpc-url "$RPC")

EVENT='InferenceRequested(uint256,address,bytes32,bytes32,bytes,bytes,uint256,uint32,uint64)'
TOPIC0=$("$CAST" keccak "$EVENT")
ATT='(uint256,bytes32,bytes32,bytes32,bytes32,uint256,bytes32,uint16)'

# ask PROMPT -> sets ID, INPUT_HASH, PARAMS_HASH, SEED from the log only
ask() {
  "$CAST" send "$CONSUMER" "ask(string)" "$1" --value "$FEE" --private-key "$USER_KEY" \
    --rpc-url "$RPC" --json >"$WORK/ask.json"
  local fields
  fields=$(/usr/bin/python3 -c '
import json, sys
logs = [l for l in json.load(open(sys.argv[1]))["logs"] if l["topics"][0] == sys.argv[2]]
if logs: print(logs[0]["topics"][1], logs[0]["data"])
' "$WORK/ask.json" "$TOPIC0")
  [ -n "$fields" ] || fail "no InferenceRequested log"
  ID=$((${fields%% *}))
  local decoded
  decoded=$("$CAST" decode-abi "f()(bytes32,bytes,bytes,uint256,uint32,uint64)" "${fields#* }")
  local input params
  input=$(echo "$decoded" | sed -n 2p)
  params=$(echo "$decoded" | sed -n 3p)
  SEED=$(echo "$decoded" | sed -n 4p | awk '{print $1}')
  INPUT_HASH=$("$CAST" keccak "$input")
  PARAMS_HASH=$("$CAST" keccak "$params")
  [ "$(echo "$decoded" | sed -n 1p)" = "$("$CAST" format-bytes32-string text)" ] || fail "adapter"
  [ "$input" = "$("$CAST" from-utf8 "$1")" ] || fail "input bytes in the log: $input"
}

# sign OUTPUT_HASH CODE -> SIG (the node's EIP-712 signature, by cast's own implementation)
sign() {
  cat >"$WORK/typed.json" <<EOF
{"types":{"EIP712Domain":[{"name":"name","type":"string"},{"name":"version","type":"string"},
{"name":"chainId","type":"uint256"},{"name":"verifyingContract","type":"address"}],
"Attestation":[{"name":"requestId","type":"uint256"},{"name":"modelHash","type":"bytes32"},
{"name":"inputHash","type":"bytes32"},{"name":"paramsHash","type":"bytes32"},
{"name":"outputHash","type":"bytes32"},{"name":"seed","type":"uint256"},
{"name":"engineVersion","type":"bytes32"},{"name":"rejectCode","type":"uint16"}]},
"primaryType":"Attestation",
"domain":{"name":"SibylInferenceOracle","version":"1","chainId":$CHAIN_ID,"verifyingContract":"$ORACLE"},
"message":{"requestId":$ID,"modelHash":"$MODEL_HASH","inputHash":"$INPUT_HASH","paramsHash":"$PARAMS_HASH",
"outputHash":"$1","seed":"$SEED","engineVersion":"$ENGINE","rejectCode":$2}}
EOF
  SIG=$("$CAST" wallet sign --private-key "$NODE_KEY" --data --from-file "$WORK/typed.json")
}
ENGINE=$("$CAST" format-bytes32-string sibyl-arith-1)

# 1. an answer
ask "What is 2+2?"
[ "$ID" = 1 ] || fail "first id $ID"
OUTPUT_HEX=$("$CAST" from-utf8 "4")
OUTPUT_HASH=$("$CAST" keccak "$OUTPUT_HEX")
sign "$OUTPUT_HASH" 0
"$CAST" send "$ORACLE" "fulfill(uint256,bytes,$ATT,bytes)" "$ID" "$OUTPUT_HEX" \
  "($ID,$MODEL_HASH,$INPUT_HASH,$PARAMS_HASH,$OUTPUT_HASH,$SEED,$ENGINE,0)" "$SIG" \
  --private-key "$RELAYER_KEY" --rpc-url "$RPC" >"$WORK/fulfill.log" || { cat "$WORK/fulfill.log"; fail "fulfill"; }
ANSWER=$("$CAST" call "$CONSUMER" "answerText(uint256)(string)" "$ID" --rpc-url "$RPC")
[ "$ANSWER" = '"4"' ] || fail "answer $ANSWER"
[ "$("$CAST" call "$ORACLE" "balances(address)(uint256)" "$NODE" --rpc-url "$RPC" | awk '{print $1}')" = "$FEE" ] ||
  fail "node not credited"
echo "fulfilled request $ID: $ANSWER"

# the same signature cannot be used twice
if "$CAST" send "$ORACLE" "fulfill(uint256,bytes,$ATT,bytes)" "$ID" "$OUTPUT_HEX" \
  "($ID,$MODEL_HASH,$INPUT_HASH,$PARAMS_HASH,$OUTPUT_HASH,$SEED,$ENGINE,0)" "$SIG" \
  --private-key "$RELAYER_KEY" --rpc-url "$RPC" >"$WORK/again.log" 2>&1; then
  fail "a second fulfill was accepted"
fi
grep -q 'RequestNotOpen(1, 2)' "$WORK/again.log" || { cat "$WORK/again.log"; fail "second fulfill: wrong error"; }

# 2. a reject (code 2: input too long) refunds the consumer
ask "$(printf 'x%.0s' $(seq 300))"
EMPTY_HASH=$("$CAST" keccak 0x)
sign "$EMPTY_HASH" 2
"$CAST" send "$ORACLE" "reject(uint256,$ATT,bytes)" "$ID" \
  "($ID,$MODEL_HASH,$INPUT_HASH,$PARAMS_HASH,$EMPTY_HASH,$SEED,$ENGINE,2)" "$SIG" \
  --private-key "$RELAYER_KEY" --rpc-url "$RPC" >"$WORK/reject.log" || { cat "$WORK/reject.log"; fail "reject"; }
STATE=$("$CAST" call "$CONSUMER" "answers(uint256)(uint8,uint16,address,bytes)" "$ID" --rpc-url "$RPC" | head -2 | tr '\n' ' ')
[ "$STATE" = "3 2 " ] || fail "consumer state after reject: $STATE"
[ "$("$CAST" call "$ORACLE" "balances(address)(uint256)" "$CONSUMER" --rpc-url "$RPC" | awk '{print $1}')" = "$FEE" ] ||
  fail "consumer not refunded"
echo "rejected request $ID with code 2"

# 3. the node takes its fee
BEFORE=$("$CAST" balance 0x000000000000000000000000000000000000dEaD --rpc-url "$RPC")
"$CAST" send "$ORACLE" "withdraw(address)" 0x000000000000000000000000000000000000dEaD \
  --private-key "$NODE_KEY" --rpc-url "$RPC" >/dev/null
AFTER=$("$CAST" balance 0x000000000000000000000000000000000000dEaD --rpc-url "$RPC")
[ "$((AFTER - BEFORE))" = "$FEE" ] || fail "withdraw moved $((AFTER - BEFORE))"
echo "contracts_anvil: ok"
