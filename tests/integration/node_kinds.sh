#!/usr/bin/env bash
# Every request kind end to end on a real anvil: the contracts deployed by script/Deploy.s.sol
# (the oracle, ExampleConsumer for `text` and one typed consumer per other kind), `sibyl run`
# serving the demo model (models/sibyl-demo-add.gguf), one question of each kind asked through
# its consumer with cast. Each is answered exactly once, and the value the consumer decoded and
# stored is checked: `number` "12+34" in [0, 198] is 46 (at least 3 times of 5: the model is
# right 97 % of the time), a `choice` index is below the number of options, a `bool` decoded,
# `json` parses (and has exactly the schema's keys and types when one is given), `chat` and
# `text` replies are non-empty. No consumer saw an invalid output, so
# the node's output encodings are the contracts' (docs/protocol.md, "Consumers"). Then one
# malformed input per kind gets an attested reject with a non-zero code, recorded by the
# consumer, and the node keeps serving.
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SIBYL_BUILD=${SIBYL_BUILD:-$ROOT/build}
source "$ROOT/tests/integration/lib/node-env.bash"

# the native binaries: the npm wrappers always exit 0, so a failed send would pass unnoticed
CASTN=$NM/@foundry-rs/cast-linux-amd64/bin/cast
FORGEN=$NM/@foundry-rs/forge-linux-amd64/bin/forge
USER_KEY=0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a # anvil dev #2
MODEL_ID=add
FEE=1000000000
DEMO_MODEL=$ROOT/models/sibyl-demo-add.gguf
[ -f "$DEMO_MODEL" ] || die "$DEMO_MODEL missing"
cp "$DEMO_MODEL" "$WORK/model.gguf"

anvil_start
(cd "$ROOT/contracts" &&
  NODES=$NODE_ADDR MODEL_ID=$MODEL_ID MODEL_HASH=0x$(sha256sum "$DEMO_MODEL" | cut -c1-64) MODEL_FEE=$FEE \
    REQUEST_TIMEOUT=3600 "$FORGEN" script script/Deploy.s.sol:Deploy --rpc-url "$RPC" \
    --private-key "$OWNER_KEY" --broadcast) >"$WORK/deploy.log" 2>&1 || { tail -30 "$WORK/deploy.log"; die "deploy script"; }
addr() { awk -v n="$1" '$1 == n {print $2}' "$WORK/deploy.log" | head -1; }
ORACLE=$(addr InferenceOracle)
TEXT_C=$(addr ExampleConsumer)
CHAT_C=$(addr ChatConsumer)
CHOICE_C=$(addr ChoiceConsumer)
NUMBER_C=$(addr NumberConsumer)
BOOL_C=$(addr BoolConsumer)
JSON_C=$(addr JsonConsumer)
for a in "$ORACLE" "$TEXT_C" "$CHAT_C" "$CHOICE_C" "$NUMBER_C" "$BOOL_C" "$JSON_C"; do
  [[ $a =~ ^0x[0-9a-fA-F]{40}$ ]] || { cat "$WORK/deploy.log"; die "deploy script printed no address ($a)"; }
done

make_keystore
write_conf "$WORK/oracle.conf" "confirmations = 0" "receipt_depth = 0"
node_start "$WORK/oracle.conf"
node_wait_healthy
curl -sf "http://127.0.0.1:$METRICS_PORT/healthz" >/dev/null || die "/healthz never became ok"

# send CONSUMER SIG ARGS... : a request paid by the user; prints the oracle's request id
send() {
  local to=$1; shift
  "$CASTN" send --rpc-url "$RPC" --private-key "$USER_KEY" --value "$FEE" "$to" "$@" >"$WORK/send.out" 2>&1 ||
    die "cast send $*: $(tail -3 "$WORK/send.out")"
  "$CASTN" call --rpc-url "$RPC" "$to" "lastRequestId()(uint256)" | cut -d' ' -f1
}
call1() { "$CASTN" call --rpc-url "$RPC" "$@" | cut -d' ' -f1; } # first word of a one-value view
# str CONSUMER SIG ID: a string view, decoded from the raw ABI (no quoting questions)
str() {
  "$CASTN" call --rpc-url "$RPC" "$1" "$2" "$3" | /usr/bin/python3 -c '
import sys
b = bytes.fromhex(sys.stdin.read().strip()[2:])
n = int.from_bytes(b[32:64], "big")
sys.stdout.write(b[64:64 + n].decode("utf-8"))'
}

log "asking one question of each kind"
T_ID=$(send "$TEXT_C" "ask(string)" "12+34")
C_ID=$(send "$CHAT_C" "ask(string,string)" "" "12+34")
O_ID=$(send "$CHOICE_C" "askChoice(string,string[])" "12+34" '["45","46","47"]')
# the demo model is not always right: `sibyl generate --chat -p 12+34` gave 46 for 97 of 100
# seeds (56 for 3), and on-chain seeds differ from run to run. So five askings, at least three
# of them 46 (all wrong answers still in range): a wrong majority has odds of about 3 in 10,000.
N_IDS=()
for _ in 1 2 3 4 5; do N_IDS+=("$(send "$NUMBER_C" "askNumber(string,int256,int256)" "12+34" 0 198)"); done
B_ID=$(send "$BOOL_C" "askBool(string)" "Is 12+34 equal to 46?")
J_ID=$(send "$JSON_C" "askJson(string,string)" "12+34" "")
S_ID=$(send "$JSON_C" "askJson(string,string)" "12+34" '{"sum":"number","odd":"bool"}')
GOOD=11

log "and one malformed input of each kind"
RT_ID=$(send "$TEXT_C" "askWith(bytes32,bytes32,bytes,bytes,uint32)" "$("$CASTN" format-bytes32-string $MODEL_ID)" \
  "$("$CASTN" format-bytes32-string text)" 0xc328fffe 0x 200000) # not UTF-8
RC_ID=$(send "$CHAT_C" "askChat(string[],string[])" '["user","model"]' '["12+34","46"]') # last role not user
RO_ID=$(send "$CHOICE_C" "askChoice(string,string[])" "12+34" '["46"]')                    # one option
RN_ID=$(send "$NUMBER_C" "askNumber(string,int256,int256)" "12+34" 10 0)                   # min > max
RB_ID=$(send "$BOOL_C" "askRaw(bytes)" 0x1234)                                             # not ABI
RJ_ID=$(send "$JSON_C" "askJson(string,string)" "12+34" '{"sum":"date"}')                 # bad schema type
BAD=6
TOTAL=$((GOOD + BAD))

end=$((SECONDS + 120))
while [ $SECONDS -lt $end ]; do
  done_=$(($(count_events "Fulfilled(uint256,bytes32,bytes)") + $(count_events "Rejected(uint256,uint16)")))
  [ "$done_" -ge $TOTAL ] && break
  sleep 0.2
done
fulfilled=$(count_events "Fulfilled(uint256,bytes32,bytes)")
rejected=$(count_events "Rejected(uint256,uint16)")
log "$fulfilled fulfilled, $rejected rejected"
[ "$fulfilled" = $GOOD ] || die "$fulfilled Fulfilled events, expected $GOOD"
[ "$rejected" = $BAD ] || die "$rejected Rejected events, expected $BAD"
[ "$(count_events "Attested(uint256,address,bytes32,uint16,uint256)")" = $TOTAL ] || die "not one vote per request"
topic=$("$CASTN" keccak "CallbackResult(uint256,bool)")
cb=$(rpc eth_getLogs "[{\"fromBlock\":\"0x0\",\"toBlock\":\"latest\",\"address\":\"$ORACLE\",\"topics\":[\"$topic\"]}]")
[ "$(echo "$cb" | jq -r '.[].topics[1]' | sort -u | wc -l)" = $TOTAL ] || die "not one callback per request"
[ "$(echo "$cb" | jq -r '.[].data' | grep -c '1$')" = $TOTAL ] || die "a callback failed"

# states of KindConsumerBase: 2 Answered, 3 Invalid, 4 Rejected (ExampleConsumer: 2 Answered, 3 Rejected)
state() { call1 "$1" "stateOf(uint256)(uint8)" "$2"; }
for c in "$CHAT_C:$C_ID" "$CHOICE_C:$O_ID" "${N_IDS[@]/#/$NUMBER_C:}" "$BOOL_C:$B_ID" "$JSON_C:$J_ID" "$JSON_C:$S_ID"; do
  s=$(state "${c%:*}" "${c#*:}")
  [ "$s" = 2 ] || die "request ${c#*:}: consumer state $s, expected 2 (Answered; 3 = the output did not decode)"
done
for c in "$CHAT_C" "$CHOICE_C" "$NUMBER_C" "$BOOL_C" "$JSON_C"; do
  [ "$(call1 "$c" "invalidCount()(uint256)")" = 0 ] || die "$c recorded an invalid output"
done

text=$(str "$TEXT_C" "answerText(uint256)" "$T_ID")
reply=$(str "$CHAT_C" "replyOf(uint256)" "$C_ID")
index=$(call1 "$CHOICE_C" "choiceOf(uint256)(uint256)" "$O_ID")
numbers=()
for id in "${N_IDS[@]}"; do numbers+=("$(call1 "$NUMBER_C" "numberOf(uint256)(int256)" "$id")"); done
yes=$(call1 "$BOOL_C" "boolOf(uint256)(bool)" "$B_ID")
json_any=$(str "$JSON_C" "jsonOf(uint256)" "$J_ID")
json_schema=$(str "$JSON_C" "jsonOf(uint256)" "$S_ID")
log "text '$text', chat '$reply', choice $index, numbers ${numbers[*]}, bool $yes, json '$json_any', json+schema '$json_schema'"
[ -n "$text" ] || die "empty text answer"
[ -n "$reply" ] || die "empty chat reply"
[ "$index" -lt 3 ] || die "choice index $index of 3 options"
right=0
for x in "${numbers[@]}"; do
  [ "$x" -ge 0 ] && [ "$x" -le 198 ] || die "number: $x is outside [0, 198]"
  [ "$x" != 46 ] || right=$((right + 1))
done
[ $right -ge 3 ] || die "number: 12+34 gave ${numbers[*]}, expected 46 at least 3 times of 5"
[ "$yes" = true ] || [ "$yes" = false ] || die "bool: '$yes'"
/usr/bin/python3 -c 'import json, sys; json.loads(sys.argv[1])' "$json_any" || die "json does not parse: $json_any"
/usr/bin/python3 - "$json_schema" <<'PY' || die "json does not fit its schema: $json_schema"
import json, sys
v = json.loads(sys.argv[1])
assert isinstance(v, dict) and set(v) == {"sum", "odd"}, v
assert isinstance(v["sum"], (int, float)) and not isinstance(v["sum"], bool), v
assert isinstance(v["odd"], bool), v
PY

# the rejects: recorded by each consumer with the non-zero code the oracle's Rejected event has
topic=$("$CASTN" keccak "Rejected(uint256,uint16)")
rejects=$(rpc eth_getLogs "[{\"fromBlock\":\"0x0\",\"toBlock\":\"latest\",\"address\":\"$ORACLE\",\"topics\":[\"$topic\"]}]")
attested_code() { # attested_code ID -> the code of request ID's Rejected event
  echo "$rejects" | jq -r --arg id "$(printf '0x%064x' "$1")" '.[] | select(.topics[1] == $id) | .topics[2]' |
    xargs -r printf '%d\n'
}
rt=$("$CASTN" call --rpc-url "$RPC" "$TEXT_C" "answers(uint256)(uint8,uint16,address,bytes)" "$RT_ID")
[ "$(echo "$rt" | sed -n 1p)" = 3 ] || die "text: malformed input not rejected ($rt)"
code=$(echo "$rt" | sed -n 2p | cut -d' ' -f1)
[ "$code" -gt 0 ] && [ "$code" = "$(attested_code "$RT_ID")" ] || die "text: reject code $code"
codes="text $code"
for c in "chat:$CHAT_C:$RC_ID" "choice:$CHOICE_C:$RO_ID" "number:$NUMBER_C:$RN_ID" "bool:$BOOL_C:$RB_ID" "json:$JSON_C:$RJ_ID"; do
  IFS=: read -r kind addr_ id <<<"$c"
  a=$("$CASTN" call --rpc-url "$RPC" "$addr_" "asks(uint256)(uint8,uint16,address)" "$id")
  [ "$(echo "$a" | sed -n 1p)" = 4 ] || die "$kind: malformed input not rejected ($a)"
  code=$(echo "$a" | sed -n 2p | cut -d' ' -f1)
  [ "$code" -gt 0 ] && [ "$code" = "$(attested_code "$id")" ] ||
    die "$kind: reject code $code, attested $(attested_code "$id")"
  codes="$codes, $kind $code"
done
log "reject codes: $codes"

kill -0 "$NODE_PID" || die "the node died"
node_stop
grep -q '"level":"error"' "$WORK/node.log" && die "errors in the node log"
log "ok: $GOOD typed answers (number 12+34 = 46 $right times of 5) and $BAD attested rejects, each exactly once"
