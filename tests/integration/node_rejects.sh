#!/usr/bin/env bash
# Requests the node cannot serve get an attested reject with the right reason code (the
# contract checks the signature and the hashes), and the node keeps serving: unknown model,
# unknown adapter, oversized input, input that is not UTF-8, malformed params, params out of
# range; then a good request is fulfilled.
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SIBYL_BUILD=${SIBYL_BUILD:-$ROOT/build}
source "$ROOT/tests/integration/lib/node-env.bash"

anvil_start
deploy
make_model "$WORK/model.gguf"
register "$WORK/model.gguf"
# a second model the node does not serve
OTHER=$("$CAST" format-bytes32-string other)
owner_send "$ORACLE" "registerModel(bytes32,bytes32,uint16,uint128,bool)" "$OTHER" 0x$(printf other | sha256sum | cut -d' ' -f1) 1 1000000000 true
make_keystore
write_conf "$WORK/oracle.conf" "confirmations = 0" "receipt_depth = 0" "max_input_bytes = 64"
node_start "$WORK/oracle.conf"

TEXT=$("$CAST" format-bytes32-string text)
NOSUCH=$("$CAST" format-bytes32-string nosuch)
hexof() { printf '%s' "$1" | od -An -v -tx1 | tr -d ' \n' | sed 's/^/0x/'; }
long=$(hexof "$(printf 'x%.0s' $(seq 100))")
# reason codes of docs/protocol.md
ask_with "$OTHER" "$TEXT" "$(hexof hello)" 0x                  # 1 UNKNOWN_MODEL
ask_with "$MODEL_ID_HEX" "$NOSUCH" "$(hexof hello)" 0x         # 5 UNKNOWN_ADAPTER
ask_with "$MODEL_ID_HEX" "$TEXT" "$long" 0x                    # 2 INPUT_TOO_LONG (> max_input_bytes)
ask_with "$MODEL_ID_HEX" "$TEXT" 0xc328fffe 0x                 # 4 ADAPTER_PARSE (not UTF-8)
ask_with "$MODEL_ID_HEX" "$TEXT" "$(hexof hello)" 0x1234       # 3 PARAMS_INVALID (malformed)
ask_with "$MODEL_ID_HEX" "$TEXT" "$(hexof hello)" "$("$CAST" abi-encode 'f(uint32,uint32)' 4 4000000000)"  # 3 (out of range)
ask "and now a good question"                                   # answered
wait_done 7 60

expect=(1 5 2 4 3 3)
for id in 1 2 3 4 5 6; do
  got=$("$CAST" call --rpc-url "$RPC" "$CONSUMER" "answers(uint256)(uint8,uint16,address,bytes)" $id | sed -n 2p | cut -d' ' -f1)
  state=$("$CAST" call --rpc-url "$RPC" "$CONSUMER" "answers(uint256)(uint8,uint16,address,bytes)" $id | sed -n 1p)
  [ "$state" = 3 ] || die "request $id: consumer state $state, expected 3 (Rejected)"
  [ "$got" = "${expect[$((id - 1))]}" ] || die "request $id: reject code $got, expected ${expect[$((id - 1))]}"
done
state=$("$CAST" call --rpc-url "$RPC" "$CONSUMER" "answers(uint256)(uint8,uint16,address,bytes)" 7 | sed -n 1p)
[ "$state" = 2 ] || die "request 7: state $state, expected 2 (Answered)"
[ "$(count_events "Rejected(uint256,uint16)")" = 6 ] || die "expected 6 Rejected events"
kill -0 "$NODE_PID" || die "the node died"
node_stop
log "ok: 6 attested rejects with the codes of docs/protocol.md, then a fulfilment"
