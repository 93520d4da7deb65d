#!/usr/bin/env bash
# A reorg the node learns of only after it happened, so that it must walk back through several
# of the block hashes it kept to find the fork (anvil announces replacement blocks from the fork
# upward, so a node that is listening always finds the fork one step below the first new head).
#
# The node's websocket goes through a proxy the test can cut (tcp-cut-proxy.py); JSON-RPC over
# HTTP stays up. confirmations = 2, receipt_depth = 0.
#  - request 1 is answered; the chain's height then is the fork F (it stays);
#  - requests 2 and 3 are answered and request 4 is seen (not yet confirmed) above F;
#  - the websocket is cut; anvil_reorg replaces every block above F with a branch that asks
#    2 and 3 again with other prompts (and never asks 4), and 3 more blocks are mined on top
#    (the next head the node hears is not the child of anything it recorded);
#  - the websocket comes back.
# Expected: the node walks back over >= 5 heights to F (its log line and
# sibyl_reorg_walked_blocks_total), voids 2 and 3 and cancels 4 (3 reorg cancellations), leaves
# 1 alone, and answers the new 2 and 3 exactly once each with their new inputs; 4 is never
# answered. Part 2: a reorg made while the node is stopped is found at its restart. Part 3: one
# made below the stopped node's cursor is found at the request's confirmation.
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SIBYL_BUILD=${SIBYL_BUILD:-$ROOT/build}
source "$ROOT/tests/integration/lib/node-env.bash"

PROXY_PID=
proxy_cleanup() {
  local rc=$?
  [ -n "$PROXY_PID" ] && kill -TERM "$PROXY_PID" 2>/dev/null && wait "$PROXY_PID" 2>/dev/null
  (exit $rc) # node_env_cleanup exits with the status it finds in $?
  node_env_cleanup
}
trap proxy_cleanup EXIT

anvil_start
deploy
make_model "$WORK/model.gguf"
register "$WORK/model.gguf"
make_keystore
WS_PORT=$(free_port)
/usr/bin/python3 "$ROOT/tests/integration/lib/tcp-cut-proxy.py" "$WS_PORT" "$PORT" "$WORK/proxy.ready" &
PROXY_PID=$!
for _ in $(seq 100); do [ -f "$WORK/proxy.ready" ] && break; sleep 0.05; done
[ -f "$WORK/proxy.ready" ] || die "the websocket proxy did not start"
# one answer per transaction: the checks below count the node's nonces per answer
write_conf "$WORK/oracle.conf" "confirmations = 2" "receipt_depth = 0" "answers_per_tx = 1"
sed -i "s|^rpc_ws = .*|rpc_ws = ws://127.0.0.1:$WS_PORT|" "$WORK/oracle.conf"
node_start "$WORK/oracle.conf"
node_wait_healthy

FULFILLED_SIG='Fulfilled(uint256,bytes32,bytes)'
metrics() { curl -sf "http://127.0.0.1:$METRICS_PORT/metrics"; }
metric() { metrics | awk -v k="$1" '$1 == k { print $2 }'; }
height() { printf '%d' "$(rpc eth_blockNumber '[]' | tr -d '"')"; }
wait_head() { # until the node has followed the chain's head
  local h end=$((SECONDS + 20))
  h=$(height)
  while [ "$(metric sibyl_head_block)" != "$h" ]; do
    [ $SECONDS -ge $end ] && die "the node's head is $(metric sibyl_head_block), the chain's $h"
    sleep 0.05
  done
}
input_hash_of() { "$CAST" call --rpc-url "$RPC" "$ORACLE" "getRequest(uint256)((address,uint64,uint32,uint8,uint16,uint16,uint16,bool,uint128,bytes32,bytes32,bytes32,bytes32,uint256,bytes32,bytes32))" "$1" | tr -d '()' | cut -d, -f12 | tr -d ' '; }
answer_state() { "$CAST" call --rpc-url "$RPC" "$CONSUMER" "answers(uint256)(uint8,uint16,address,bytes)" "$1" | sed -n 1p; }
# lines of the node log about request ID matching PATTERN, from line FROM on
id_lines() { tail -n +"$3" "$WORK/node.log" | grep -F "\"request\":\"$1\"" | grep -c -- "$2" || true; }
# raw_ask PROMPT NONCE: the user's ask(PROMPT), signed by anvil (unlocked account), not sent
raw_ask() {
  rpc eth_signTransaction "[{\"from\":\"$USER_ADDR\",\"to\":\"$CONSUMER\",\"data\":\"$("$CAST" calldata 'ask(string)' "$1")\",\"value\":\"0x3b9aca00\",\"gas\":\"0xf4240\",\"maxFeePerGas\":\"0xba43b7400\",\"maxPriorityFeePerGas\":\"0x3b9aca00\",\"nonce\":\"$(printf 0x%x "$2")\",\"chainId\":\"0x7a69\"}]" | tr -d '"'
}
user_nonce() { printf '%d' "$(rpc eth_getTransactionCount "[\"$USER_ADDR\",\"latest\"]" | tr -d '"')"; }

# request 1, below the fork
ask "A 1+1"
mine 2
wait_done 1 30
mine 2
FORK=$(height)
USER_NONCE=$(user_nonce)
NODE_NONCE=$(node_nonce)

# requests 2 and 3 answered, 4 seen, all above the fork; a few empty blocks between
ask "A 2+2" "A 3+3"
mine 2
wait_done 3 30
mine 4
ask "A 4+4"
wait_log '"request seen' 4 20
wait_head
TOP=$(height)
[ $((TOP - FORK)) -ge 8 ] || die "only $((TOP - FORK)) blocks above the fork"
RAW2=$(raw_ask "B 2+2" "$USER_NONCE")
RAW3=$(raw_ask "B 3+3" $((USER_NONCE + 1)))
cut_line=$(($(wc -l <"$WORK/node.log") + 1))

kill -USR1 "$PROXY_PID"
wait_log 'websocket .* closed, reconnecting' 1 20
[ "$(rpc anvil_reorg "[$((TOP - FORK)), [[\"$RAW2\", 0], [\"$RAW3\", 1]]]")" = null ] || die "anvil_reorg failed"
mine 3
log "anvil_reorg of $((TOP - FORK)) blocks above block $FORK while the websocket is cut; now at $(height)"
kill -USR2 "$PROXY_PID"

wait_done 3 60
wait_log 'branches meet at block' 1 30
line=$(tail -n +"$cut_line" "$WORK/node.log" | grep -m1 '"reorg: new head' || true)
[ -n "$line" ] || die "the node did not notice the reorg"
grep -q "branches meet at block $FORK " <<<"$line" || die "wrong fork (expected $FORK): $line"
walked=$(echo "$line" | sed -n 's/.*the fork walk compared \([0-9]*\) heights.*/\1/p')
[ "${walked:-0}" -ge 5 ] || die "the fork was found after a walk of ${walked:-0} heights, expected >= 5: $line"
[ "$(metric sibyl_reorg_walked_blocks_total)" -ge 5 ] || die "metrics: sibyl_reorg_walked_blocks_total $(metric sibyl_reorg_walked_blocks_total)"
# every cancellation is logged after its counter moved: wait for the three lines, then read it
wait_log '"request \(void\|cancelled\)' 3 20
[ "$(metric sibyl_reorg_cancellations_total)" = 3 ] || die "metrics: $(metrics | grep -E '^sibyl_reorg')"
for id in 2 3; do
  [ "$(id_lines $id '"request void' "$cut_line")" = 1 ] || die "request $id (answered on the dropped branch) was not voided once"
done
[ "$(id_lines 4 '"request cancelled' "$cut_line")" = 1 ] || die "request 4 (seen on the dropped branch) was not cancelled"
[ "$(id_lines 1 'void\|cancelled' 1)" = 0 ] || die "request 1, below the fork, was touched"
[ "$(id_lines 1 '"request fulfilled' 1)" = 1 ] || die "request 1 was not fulfilled exactly once"
# the new 2 and 3: answered once each, with the new prompts
sleep 1 # anything answered twice would show by now
[ "$(count_events "$FULFILLED_SIG")" = 3 ] || die "$(count_events "$FULFILLED_SIG") Fulfilled events on the final chain, expected 3"
for id in 2 3; do
  [ "$(id_lines $id '"request fulfilled' "$cut_line")" = 1 ] || die "request $id fulfilled $(id_lines $id '"request fulfilled' "$cut_line") times after the reorg"
  [ "$(input_hash_of $id)" = "$("$CAST" keccak "B $id+$id")" ] || die "request $id on the new branch is not 'B $id+$id'"
  [ "$(answer_state $id)" = 2 ] || die "request $id: consumer state $(answer_state $id), expected 2 (Answered)"
done
[ "$(input_hash_of 4)" = 0x0000000000000000000000000000000000000000000000000000000000000000 ] || die "request 4 exists on the new branch"
[ "$(node_nonce)" = $((NODE_NONCE + 2)) ] || die "node nonce $(node_nonce), expected $((NODE_NONCE + 2))"
log "ok: websocket cut over a reorg of $((TOP - FORK)) blocks: fork walk of $walked heights, 2 voided, 1 cancelled, the new 2 and 3 answered once"

# Part 2: the node is down while a reorg replaces the block of a request it has seen but not
# yet confirmed (id 4 again, "D 4+4"); the new branch asks id 4 with "E 4+4". At restart the
# journal's cursor (a block of the dropped branch) is all the node remembers of the old chain:
# without noticing the reorg it would take the new id 4 for the one it already has.
FORK2=$(height)
ask "D 4+4"
wait_log '"request seen' 7 20 # 4 + the new 2 and 3 + this one
mine 1
wait_head
sleep 0.5 # the cursor follows the head one tick (200 ms) behind
node_stop
TOP=$(height)
NODE_NONCE=$(node_nonce)
# the user's nonce at FORK2 is the current one minus the dropped ask
RAW4=$(raw_ask "E 4+4" $(($(user_nonce) - 1)))
restart_line=$(($(wc -l <"$WORK/node.log") + 1))
[ "$(rpc anvil_reorg "[$((TOP - FORK2)), [[\"$RAW4\", 0]]]")" = null ] || die "second anvil_reorg failed"
mine 3
node_start "$WORK/oracle.conf"
node_wait_healthy
wait_done 4 60
tail -n +"$restart_line" "$WORK/node.log" | grep -q '"reorg: new head' || die "the restarted node did not notice the reorg made while it was down"
sleep 1
[ "$(count_events "$FULFILLED_SIG")" = 4 ] || die "$(count_events "$FULFILLED_SIG") Fulfilled events after the restart, expected 4"
[ "$(id_lines 4 '"request fulfilled' "$restart_line")" = 1 ] || die "request 4 fulfilled $(id_lines 4 '"request fulfilled' "$restart_line") times after the restart"
[ "$(input_hash_of 4)" = "$("$CAST" keccak "E 4+4")" ] || die "request 4 is not 'E 4+4'"
[ "$(answer_state 4)" = 2 ] || die "request 4: consumer state $(answer_state 4), expected 2"
for id in 1 2 3; do
  [ "$(id_lines $id 'void\|cancelled' "$restart_line")" = 0 ] || die "request $id, below the second fork, was touched"
done
[ "$(node_nonce)" = $((NODE_NONCE + 1)) ] || die "node nonce $(node_nonce), expected $((NODE_NONCE + 1))"
log "ok: a reorg made while the node was down is found at restart; the new request 4 answered once"

# Part 3: as part 2, but the node is stopped while its cursor is still below the request's
# block (the cursor trails the head by one block), so the restart sees no reorg at the cursor;
# only the confirmation check finds the old request 5 ("F 5+5") off the chain. The new branch's
# id 5 ("G 5+5") was read at the restart while the old one was still open: after the
# cancellation the node must read the new branch again, or it never answers it.
ask "F 5+5"
wait_log '"request seen' 9 20 # part 2 added the new 4 (8)
wait_head
node_stop
NODE_NONCE=$(node_nonce)
RAW5=$(raw_ask "G 5+5" $(($(user_nonce) - 1)))
restart_line=$(($(wc -l <"$WORK/node.log") + 1))
[ "$(rpc anvil_reorg "[1, [[\"$RAW5\", 0]]]")" = null ] || die "third anvil_reorg failed"
mine 3
node_start "$WORK/oracle.conf"
node_wait_healthy
wait_log '"request cancelled' 1 20 # (counted from the start of the log: part 1 has one)
[ "$(id_lines 5 '"request cancelled' "$restart_line")" = 1 ] || die "the old request 5 was not cancelled after the restart"
[ "$(id_lines 5 '"request seen' "$restart_line")" -ge 1 ] || die "the new request 5 was not seen after the old one was cancelled"
mine 1 # the next head confirms it
wait_done 5 60
sleep 1
[ "$(id_lines 5 '"request fulfilled' "$restart_line")" = 1 ] || die "request 5 fulfilled $(id_lines 5 '"request fulfilled' "$restart_line") times after the restart"
[ "$(input_hash_of 5)" = "$("$CAST" keccak "G 5+5")" ] || die "request 5 is not 'G 5+5'"
[ "$(count_events "$FULFILLED_SIG")" = 5 ] || die "$(count_events "$FULFILLED_SIG") Fulfilled events, expected 5"
[ "$(node_nonce)" = $((NODE_NONCE + 1)) ] || die "node nonce $(node_nonce), expected $((NODE_NONCE + 1))"
node_stop
log "ok: a request replaced below the restarted node's cursor is cancelled at its confirmation and the new one answered once"
