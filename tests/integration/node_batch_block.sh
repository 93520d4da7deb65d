#!/usr/bin/env bash
# Every batch of answers the node sends is mined in ONE block on an instant-mining chain (anvil
# automine): the batch's lowest nonce goes last, so the others wait in the pool until all can
# be mined together (oracle/submitter.c, sign_and_send). Without that anvil splits a batch at
# random into blocks of one or a few, and every block costs it a state root over its whole state.
# The node's key is removed from the registry while 60 requests are computed, so their answers
# wait (sending paused); when the key is added again they go out together, in batches capped
# at half the block's gas limit. For every batch the node logged ("batch of M from nonce L"),
# all M transactions must have the same block number, and some batch must hold many of them.
# (main before this behaviour sent the 60 as one batch, which anvil mined as 2+1+57, 8+1+51,
# 1+1+58 answers per block in three runs.)
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SIBYL_BUILD=${SIBYL_BUILD:-$ROOT/build}
source "$ROOT/tests/integration/lib/node-env.bash"

N=60
# one answer per transaction: this test is about the order of many transactions (answerMany,
# which packs many answers into few transactions, is node_answer_many.sh's)
devnet_with_node "confirmations = 0" "receipt_depth = 0" "answers_per_tx = 1"

owner_send "$ORACLE" "removeNode(address)" "$NODE_ADDR"
prompts=()
for i in $(seq $N); do prompts+=("batch question $i"); done
ask "${prompts[@]}"
wait_log '"msg":"computed' $N 60
wait_log "sending paused" 1 15
owner_send "$ORACLE" "addNode(address)" "$NODE_ADDR"
wait_done $N 60
node_stop

# nonce, tx hash, batch size, batch's lowest nonce: one line per sent transaction
sed -n 's/.*"sent [a-z]* nonce \([0-9]*\) tx \(0x[0-9a-f]*\) (.*batch of \([0-9]*\) from nonce \([0-9]*\)).*/\1 \2 \3 \4/p' \
  "$WORK/node.log" >"$WORK/sent.txt"
[ "$(wc -l <"$WORK/sent.txt")" = $N ] || die "$(wc -l <"$WORK/sent.txt") sent lines, expected $N"
while read -r _ tx _ _; do
  printf '{"jsonrpc":"2.0","id":1,"method":"eth_getTransactionReceipt","params":["%s"]}\n' "$tx"
done <"$WORK/sent.txt" | jq -s -c . >"$WORK/receipts.json"
curl -s -X POST -H 'Content-Type: application/json' --data @"$WORK/receipts.json" "$RPC" |
  jq -r '.[].result.blockNumber' >"$WORK/blocks.txt"
paste -d' ' "$WORK/sent.txt" "$WORK/blocks.txt" >"$WORK/sent_blocks.txt"
/usr/bin/python3 - "$WORK/sent_blocks.txt" <<'PY' || die "a batch was split over several blocks"
import sys
batches = {}
for line in open(sys.argv[1]):
    nonce, tx, size, lowest, block = line.split()
    b = batches.setdefault(int(lowest), {"size": int(size), "blocks": set(), "n": 0})
    b["blocks"].add(block)
    b["n"] += 1
split = [l for l, b in batches.items() if len(b["blocks"]) != 1 or b["n"] != b["size"]]
sizes = sorted(b["size"] for b in batches.values())
print(f"{len(batches)} batches, sizes {sizes}; blocks with answers: "
      f"{len(set().union(*(b['blocks'] for b in batches.values())))}")
if split:
    for l in split:
        print(f"batch from nonce {l}: {batches[l]['n']} of {batches[l]['size']} seen, blocks {sorted(batches[l]['blocks'])}")
    sys.exit(1)
if sizes[-1] < 10:
    print("no batch held 10 transactions or more: the test proved nothing")
    sys.exit(1)
PY
log "ok: every batch of answers was mined in one block"
