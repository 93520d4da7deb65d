#!/usr/bin/env bash
# The node serves every request kind end to end on a real anvil with the demo model
# (models/sibyl-demo-add.gguf): number, choice, bool, json and chat requests from the example
# consumer are fulfilled (attestation checked on-chain) with outputs in the kinds' encodings
# (number "12+34" in [0, 198] is abi.encode(int256 46)), and a malformed choice is an attested
# reject with code 4.
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SIBYL_BUILD=${SIBYL_BUILD:-$ROOT/build}
source "$ROOT/tests/integration/lib/node-env.bash"

anvil_start
deploy
cp "$ROOT/models/sibyl-demo-add.gguf" "$WORK/model.gguf"
register "$WORK/model.gguf"
make_keystore
write_conf "$WORK/oracle.conf" "confirmations = 0" "receipt_depth = 0"
node_start "$WORK/oracle.conf"

kind() { "$CAST" format-bytes32-string "$1"; }
enc() { "$CAST" abi-encode "$@"; }
# request ids are assigned in order from 1
ask_with "$MODEL_ID_HEX" "$(kind number)" "$(enc 'f(string,int256,int256)' '12+34' 0 198)" 0x
ask_with "$MODEL_ID_HEX" "$(kind choice)" "$(enc 'f(string,string[])' '12+34' '[46,47,48]')" 0x
ask_with "$MODEL_ID_HEX" "$(kind bool)" "$(enc 'f(string)' 'Is 12+34 46?')" 0x
ask_with "$MODEL_ID_HEX" "$(kind json)" "$(enc 'f(string,string)' '12+34' '{"sum": "number", "ok": "bool"}')" 0x
ask_with "$MODEL_ID_HEX" "$(kind chat)" "$(enc 'f(string[],string[])' '[user]' '[12+34]')" 0x
ask_with "$MODEL_ID_HEX" "$(kind choice)" "$(enc 'f(string,string[])' 'q' '[only]')" 0x
wait_done 6 120

answer() { "$CAST" call --rpc-url "$RPC" "$CONSUMER" "answerOf(uint256)(bytes)" "$1"; }
a=$(answer 1)
[ "$a" = "$(enc 'f(int256)' 46)" ] || die "number: $a"
a=$(answer 2)
case "$a" in "$(enc 'f(uint256)' 0)" | "$(enc 'f(uint256)' 1)" | "$(enc 'f(uint256)' 2)") ;; *) die "choice: $a" ;; esac
a=$(answer 3)
case "$a" in "$(enc 'f(bool)' true)" | "$(enc 'f(bool)' false)") ;; *) die "bool: $a" ;; esac
a=$("$CAST" to-ascii "$(answer 4)")
echo "$a" | /usr/bin/python3 -c 'import json,sys; d=json.loads(sys.stdin.read()); assert list(d)==["sum","ok"] and isinstance(d["sum"],(int,float)) and isinstance(d["ok"],bool)' ||
  die "json: $a"
a=$("$CAST" to-ascii "$(answer 5)")
[ "$a" = "46" ] || die "chat: $a"
[ "$(consumer_u answeredCount)" = 5 ] || die "answeredCount $(consumer_u answeredCount), expected 5"
[ "$(consumer_u rejectedCount)" = 1 ] || die "rejectedCount $(consumer_u rejectedCount), expected 1"
topic=$("$CAST" keccak "Attested(uint256,address,bytes32,uint16,uint256)")
codes=$(rpc eth_getLogs "[{\"fromBlock\":\"0x0\",\"toBlock\":\"latest\",\"address\":\"$ORACLE\",\"topics\":[\"$topic\"]}]" | jq -r '.[].data[2:66]' | sort | uniq -c | tr -s ' ')
echo "$codes" | grep -q "1 0000000000000000000000000000000000000000000000000000000000000004" || die "no reject with code 4: $codes"
node_stop
grep -q '"level":"error"' "$WORK/node.log" && die "errors in the node log"
log "ok: number, choice, bool, json and chat fulfilled in their encodings, a bad choice rejected with 4"
