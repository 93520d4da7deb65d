#!/usr/bin/env bash
# A model file whose sha256 differs from the modelHash registered for its modelId: the node
# checks the registry at start, refuses to serve that modelId (error log line, metric
# sibyl_models_hash_mismatch 1) and answers its requests with an attested reject
# UNKNOWN_MODEL that carries the registered hash (the contract accepts it); a second model
# with the right hash is served as usual.
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SIBYL_BUILD=${SIBYL_BUILD:-$ROOT/build}
source "$ROOT/tests/integration/lib/node-env.bash"

anvil_start
deploy
make_model "$WORK/model.gguf"
"$SIBYL" mkmodel --preset tiny --seed 7 -o "$WORK/good.gguf" >/dev/null
[ "$(sha256sum <"$WORK/model.gguf")" != "$(sha256sum <"$WORK/good.gguf")" ] || die "the two models are the same file"
# "tiny" is registered with the hash of another file; "good" with its own
WRONG=0x$(printf 'another model file' | sha256sum | cut -d' ' -f1)
owner_send "$ORACLE" "registerModel(bytes32,bytes32,uint16,uint128,bool)" "$MODEL_ID_HEX" "$WRONG" 1 1000000000 true
GOOD=$("$CAST" format-bytes32-string good)
owner_send "$ORACLE" "registerModel(bytes32,bytes32,uint16,uint128,bool)" "$GOOD" \
  "0x$(sha256sum "$WORK/good.gguf" | cut -d' ' -f1)" 1 1000000000 true
owner_send "$ORACLE" "addNode(address)" "$NODE_ADDR"
make_keystore
write_conf "$WORK/oracle.conf" "confirmations = 0" "receipt_depth = 0" "model = good $WORK/good.gguf"
node_start "$WORK/oracle.conf"

TEXT=$("$CAST" format-bytes32-string text)
ask "to the mismatched model"                                        # id 1 -> reject 1
ask_with "$GOOD" "$TEXT" "0x$(printf 'to the good one' | od -An -v -tx1 | tr -d ' \n')" 0x  # id 2 -> answer
wait_done 2 60

row() { "$CAST" call --rpc-url "$RPC" "$CONSUMER" "answers(uint256)(uint8,uint16,address,bytes)" "$1"; }
[ "$(row 1 | sed -n 1p)" = 3 ] || die "request 1: consumer state $(row 1 | sed -n 1p), expected 3 (Rejected)"
[ "$(row 1 | sed -n 2p | cut -d' ' -f1)" = 1 ] || die "request 1: reject code $(row 1 | sed -n 2p), expected 1 (UNKNOWN_MODEL)"
[ "$(row 2 | sed -n 1p)" = 2 ] || die "request 2: state $(row 2 | sed -n 1p), expected 2 (Answered)"
grep -q "differs from the modelHash ${WRONG} registered for its model id: NOT serving it" "$WORK/node.log" ||
  die "no log line about the mismatched model"
m=$(curl -s "http://127.0.0.1:$METRICS_PORT/metrics")
grep -qx "sibyl_models_hash_mismatch 1" <<<"$m" || die "metric sibyl_models_hash_mismatch is not 1"
grep -qx "sibyl_models_served 1" <<<"$m" || die "metric sibyl_models_served is not 1"
grep -q "WrongModelHash" "$WORK/node.log" && die "the node sent an answer the contract refused"
node_stop
log "ok: mismatched model refused at start (log + metric), its request rejected UNKNOWN_MODEL, the other model served"
