#!/usr/bin/env bash
# A filler transaction for a cancelled nonce. With automine off, a request is mined, the node
# signs and sends its fulfill (nonce n, still pending), then the chain is rolled back under it
# (evm_revert) and the pool emptied: the request is gone, and so is the node's transaction, so
# nonce n would stay a gap that stalls every later transaction of the node. The node cancels
# the request (a reorg) and gives nonce n to a zero-value transfer to itself (the filler); once
# it is mined the request is done ("nonce consumed after cancellation"). A new request (the
# same id on the new branch) is then answered with nonce n + 1. Checked on chain: nonce n is
# a 0-value self-transfer, nonce n + 1 the fulfill, the cancelled request never fulfilled.
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SIBYL_BUILD=${SIBYL_BUILD:-$ROOT/build}
source "$ROOT/tests/integration/lib/node-env.bash"

devnet_with_node "confirmations = 0" "receipt_depth = 0"

n=$(node_nonce latest)
rpc evm_setAutomine '[false]' >/dev/null
snap=$(rpc evm_snapshot '[]' | tr -d '"')
ask "doomed after signing"
mine 1
wait_log 'sent fulfill' 1 30
[ "$(node_nonce pending)" = $((n + 1)) ] || die "the node's fulfill is not pending"
rpc evm_revert "[\"$snap\"]" >/dev/null
rpc anvil_dropAllTransactions '[]' >/dev/null
[ "$(node_nonce pending)" = "$n" ] || die "the pool still has the node's transaction"
mine 1 # a block at the request's height with another hash: the node sees the reorg
wait_log 'request cancelled' 1 20
wait_log 'filler for a cancelled request' 1 20
mine 1
wait_log 'nonce consumed after cancellation' 1 20
[ "$(node_nonce latest)" = $((n + 1)) ] || die "nonce $n was not consumed"
tx=$(rpc eth_getBlockByNumber '["latest",true]' | jq -c '.transactions[0]')
[ "$(echo "$tx" | jq -r .to)" = "$(echo "$NODE_ADDR" | tr A-F a-f)" ] && [ "$(echo "$tx" | jq -r .value)" = 0x0 ] ||
  die "nonce $n is not a zero-value self-transfer: $tx"
[ "$(printf '%d' "$(echo "$tx" | jq -r .nonce)")" = "$n" ] || die "the filler has another nonce: $tx"

# the node is not stalled: a new request (id 1 again on this branch) is answered with nonce n+1
ask "after the filler"
mine 1
wait_log 'sent fulfill' 2 30
mine 1
wait_done 1 30
[ "$(node_nonce latest)" = $((n + 2)) ] || die "the fulfill did not take nonce $((n + 1))"
[ "$(count_events "Fulfilled(uint256,bytes32,bytes)")" = 1 ] || die "expected exactly one fulfilment"
grep -q '"level":"error"' "$WORK/node.log" && die "errors in the node log"
node_stop
log "ok: the cancelled request's nonce $n went to a filler; the next request was answered with nonce $((n + 1))"
