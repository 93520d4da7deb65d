#!/usr/bin/env bash
# A reorg deeper than 256 blocks (deeper than the node's confirmation list; before, also the
# limit of its fork walk), with requests already answered and final on the dropped branch:
#  - three requests (ids 1..3) are fulfilled (receipt_depth 0: final at once), then 300 empty
#    blocks are mined on top;
#  - evm_revert to a snapshot taken before them drops all 303+ blocks: the answers and the
#    node's transactions leave the chain with them (its account nonce falls back);
#  - the new branch asks the first two again (same ids, same prompts) and a different third
#    (id 3, another prompt);
#  - then anvil_reorg replaces the top 300 blocks of the new branch (a fork walk of 300 blocks)
#    with blocks that ask once more (id 4).
# Expected: ids 1..4 of the final chain fulfilled exactly once each, id 3 with the new prompt's
# answer (the contract checks the attested input hash), the dropped "A 3+3" never answered on
# the final chain, and the node's nonce counter follows the chain (no transaction stuck behind
# a gap, none reverted).
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SIBYL_BUILD=${SIBYL_BUILD:-$ROOT/build}
source "$ROOT/tests/integration/lib/node-env.bash"

# one answer per transaction: the checks below follow the node's nonce per answer
devnet_with_node "confirmations = 0" "receipt_depth = 0" "answers_per_tx = 1"
FULFILLED_SIG='Fulfilled(uint256,bytes32,bytes)'
row() { "$CAST" call --rpc-url "$RPC" "$CONSUMER" "answers(uint256)(uint8,uint16,address,bytes)" "$1"; }
input_hash_of() { "$CAST" call --rpc-url "$RPC" "$ORACLE" "getRequest(uint256)((address,uint64,uint32,uint8,uint16,uint16,uint16,bool,uint128,bytes32,bytes32,bytes32,bytes32,uint256,bytes32,bytes32))" "$1" | tr -d '()' | cut -d, -f12 | tr -d ' '; }

SNAP=$(rpc evm_snapshot '[]' | tr -d '"')
nonce0=$(node_nonce)
ask "A 1+1" "A 2+2" "A 3+3" # ids 1..3
wait_done 3 60
[ "$(node_nonce)" = $((nonce0 + 3)) ] || die "expected 3 transactions before the reorg"
mine 300
sleep 2 # the node follows the 300 heads
grep -q '"request fulfilled' "$WORK/node.log" || die "nothing fulfilled before the reorg"
lines0=$(wc -l <"$WORK/node.log")

log "evm_revert: dropping $(( $("$CAST" block-number --rpc-url "$RPC") - DEPLOY_BLOCK )) blocks"
[ "$(rpc evm_revert "[\"$SNAP\"]")" = true ] || die "evm_revert failed"
[ "$(node_nonce)" = "$nonce0" ] || die "the revert did not take the node's transactions off the chain"
ask "A 1+1" "A 2+2" "B 9+9" # ids 1..3 again; 3 is another request now
wait_done 3 60
[ "$(count_events "$FULFILLED_SIG")" = 3 ] || die "$(count_events "$FULFILLED_SIG") Fulfilled events on the new branch, expected 3"
[ "$(node_nonce)" = $((nonce0 + 3)) ] || die "node nonce $(node_nonce), expected $((nonce0 + 3)) (one transaction per request)"
want=$("$CAST" keccak 'B 9+9')
[ "$(input_hash_of 3)" = "$want" ] || die "request 3 on the new branch is not 'B 9+9'"

log "anvil_reorg of 300 blocks"
mine 300
sleep 2
before_reorg=$(wc -l <"$WORK/node.log")
# the replacement branch carries one more ask (id 4) in its first block
ASK_SEL=$("$CAST" sig "ask(string)")
RAW=$(rpc eth_signTransaction "[{\"from\":\"$USER_ADDR\",\"to\":\"$CONSUMER\",\"data\":\"$("$CAST" calldata 'ask(string)' 'C 5+5')\",\"value\":\"0x3b9aca00\",\"gas\":\"0x61a80\",\"maxFeePerGas\":\"0xba43b7400\",\"maxPriorityFeePerGas\":\"0x3b9aca00\",\"nonce\":\"$(rpc eth_getTransactionCount "[\"$USER_ADDR\",\"pending\"]" | tr -d '"')\",\"chainId\":\"0x7a69\"}]" | tr -d '"')
[ "$(rpc anvil_reorg "[300, [[\"$RAW\", 0]]]")" = null ] || die "anvil_reorg failed"
wait_done 4 60
tail -n +"$((before_reorg + 1))" "$WORK/node.log" | grep -q '"reorg: new head' || die "the node did not notice the anvil_reorg"
[ "$(count_events "$FULFILLED_SIG")" = 4 ] || die "$(count_events "$FULFILLED_SIG") Fulfilled events, expected 4"
[ "$(node_nonce)" = $((nonce0 + 4)) ] || die "node nonce $(node_nonce), expected $((nonce0 + 4))"
for i in 1 2 3 4; do
  [ "$(row "$i" | sed -n 1p)" = 2 ] || die "request $i: consumer state $(row "$i" | sed -n 1p), expected 2 (Answered)"
done
tail -n +"$((lines0 + 1))" "$WORK/node.log" | grep -q 'reverted' && die "a transaction of the node reverted"
node_stop
log "ok: 300+-block revert and 300-block reorg: re-included requests answered once, the dropped one never, nonces follow the chain"
