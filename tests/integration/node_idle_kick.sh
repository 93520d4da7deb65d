#!/usr/bin/env bash
# A chain that mines only when a transaction arrives (anvil automine) can leave one of ours in
# its pool (it fits a block to the gas limit and keeps the rest until another transaction
# comes); with nothing else arriving no block ever comes and every later nonce waits. The lowest
# unmined nonce, with no block at all for 3 s since it was sent, is replaced with bumped fees (a
# new transaction: such a chain mines), at most once per head. Here automine is off, so nothing
# is mined until the test mines: the replacement must come once (not again while the head stays),
# and the request is then fulfilled exactly once with one nonce.
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SIBYL_BUILD=${SIBYL_BUILD:-$ROOT/build}
source "$ROOT/tests/integration/lib/node-env.bash"

devnet_with_node "confirmations = 0" "receipt_depth = 0"
nonce0=$(node_nonce)
rpc evm_setAutomine '[false]' >/dev/null
ask "idle 1+1"
mine 1
wait_log 'sent fulfill' 1 20
wait_log 'with no new block: replacing it' 1 10
grep -q 're-sent nonce [0-9]* (bumped' "$WORK/node.log" || die "the replacement was not sent with bumped fees"
sleep 4
[ "$(grep -c 'with no new block: replacing it' "$WORK/node.log")" = 1 ] || die "replaced more than once while the head stayed"
rpc evm_setAutomine '[true]' >/dev/null
mine 1
wait_done 1 30
sleep 0.5
node_stop
[ "$(count_events "Fulfilled(uint256,bytes32,bytes)")" = 1 ] || die "expected one fulfilment"
[ "$(node_nonce)" = $((nonce0 + 1)) ] || die "node nonce $nonce0 -> $(node_nonce), expected one transaction"
grep -q '"level":"error"' "$WORK/node.log" && die "errors in the node log"
log "ok: an unmined transaction on an idle chain was replaced once, and the request fulfilled once"
