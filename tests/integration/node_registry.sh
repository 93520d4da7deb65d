#!/usr/bin/env bash
# The node follows the registry while running (registry_refresh_seconds = 1):
#  - started with "tiny" registered under another file's hash: not served, a request gets an
#    attested reject UNKNOWN_MODEL;
#  - the owner re-registers it with this file's hash: the node serves it from then on (answer);
#  - re-registered away again: not served any more (reject), metrics follow;
#  - the quorum change and the node key's removal / re-adding are noticed and logged.
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SIBYL_BUILD=${SIBYL_BUILD:-$ROOT/build}
source "$ROOT/tests/integration/lib/node-env.bash"

anvil_start
deploy
make_model "$WORK/model.gguf"
RIGHT=0x$(sha256sum "$WORK/model.gguf" | cut -d' ' -f1)
WRONG=0x$(printf 'another model file' | sha256sum | cut -d' ' -f1)
reg() { owner_send "$ORACLE" "registerModel(bytes32,bytes32,uint16,uint128,bool)" "$MODEL_ID_HEX" "$1" "${2:-1}" 1000000000 true; }
reg "$WRONG"
owner_send "$ORACLE" "addNode(address)" "$NODE_ADDR"
make_keystore
write_conf "$WORK/oracle.conf" "confirmations = 0" "receipt_depth = 0" "registry_refresh_seconds = 1"
node_start "$WORK/oracle.conf"
node_wait_healthy

row() { "$CAST" call --rpc-url "$RPC" "$CONSUMER" "answers(uint256)(uint8,uint16,address,bytes)" "$1"; }
metric() { curl -s "http://127.0.0.1:$METRICS_PORT/metrics" | sed -n "s/^$1 //p"; }

ask "while registered under another hash" # id 1
wait_done 1 60
[ "$(row 1 | sed -n 1p)" = 3 ] || die "request 1: consumer state $(row 1 | sed -n 1p), expected 3 (Rejected)"
[ "$(row 1 | sed -n 2p | cut -d' ' -f1)" = 1 ] || die "request 1: reject code, expected 1 (UNKNOWN_MODEL)"

reg "$RIGHT" 2
wait_log "now $RIGHT, this file's: serving it" 1 15
wait_log "quorum changed from 1 to 2" 1 5
[ "$(metric sibyl_models_served)" = 1 ] || die "sibyl_models_served is not 1 after the re-registration"
reg "$RIGHT" 1
wait_log "quorum changed from 2 to 1" 1 15
ask "3+4" # id 2
wait_done 2 60
[ "$(row 2 | sed -n 1p)" = 2 ] || die "request 2: state $(row 2 | sed -n 1p), expected 2 (Answered)"

reg "$WRONG"
wait_log "changed to $WRONG, not this file's: no longer serving it" 1 15
[ "$(metric sibyl_models_hash_mismatch)" = 1 ] || die "sibyl_models_hash_mismatch is not 1"
ask "after the hash moved away" # id 3
wait_done 3 60
[ "$(row 3 | sed -n 1p)" = 3 ] || die "request 3: state $(row 3 | sed -n 1p), expected 3 (Rejected)"
[ "$(row 3 | sed -n 2p | cut -d' ' -f1)" = 1 ] || die "request 3: reject code, expected 1"

owner_send "$ORACLE" "removeNode(address)" "$NODE_ADDR"
wait_log "key is NOT registered with the oracle (removed?)" 1 15
owner_send "$ORACLE" "addNode(address)" "$NODE_ADDR"
wait_log "key is registered with the oracle (again)" 1 15
grep -q "WrongModelHash" "$WORK/node.log" && die "the node sent an answer the contract refused"
node_stop
log "ok: registry changes followed while running (model served / not served, quorum, node key)"
