#!/usr/bin/env bash
# The committed demo model (models/sibyl-demo-add.gguf, docs/demo-model.md) answers held-out
# additions correctly through the C engine: the first 50 of the 1,000 held-out examples, with
# the default sampler settings, must give at least 45 exact answers (90 %). The full measure
# is scripts/eval-demo (1,000 examples). Also checks that eval-demo notices wrong answers:
# the same questions with every expected answer changed must score 0.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${SIBYL_BUILD:-$ROOT/build}
SIBYL=$BUILD/cli/sibyl
MODEL=$ROOT/models/sibyl-demo-add.gguf
TESTS=$ROOT/models/sibyl-demo-add.test.tsv
[ -x "$SIBYL" ] || { echo "demo_model: $SIBYL not built"; exit 1; }
[ -f "$MODEL" ] && [ -f "$TESTS" ] || { echo "demo_model: $MODEL or $TESTS missing"; exit 1; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

out=$("$SIBYL" eval-demo -m "$MODEL" -f "$TESTS" --limit 50 --threads 1 --min 45 -v) || {
  echo "$out"; echo "demo_model: fewer than 45/50 right"; exit 1; }
echo "$out" | tail -2
echo "$out" | tail -1 | grep -Eq '^accuracy: (4[5-9]|50)/50$' || { echo "demo_model: bad summary"; exit 1; }

# wrong expected answers (answer + 1) must all be counted wrong
head -50 "$TESTS" | awk -F'\t' '{ printf "%s\t%d\n", $1, $2 + 1 }' >"$TMP/wrong.tsv"
bad=$("$SIBYL" eval-demo -m "$MODEL" -f "$TMP/wrong.tsv" --threads 1 | tail -1)
[ "$bad" = "accuracy: 0/50" ] || { echo "demo_model: shifted answers scored '$bad'"; exit 1; }

# a malformed file is refused with a clear error
printf 'no tab here\n' >"$TMP/bad.tsv"
if "$SIBYL" eval-demo -m "$MODEL" -f "$TMP/bad.tsv" 2>"$TMP/err"; then
  echo "demo_model: malformed file accepted"; exit 1
fi
grep -q "no TAB" "$TMP/err" || { echo "demo_model: unexpected error: $(cat "$TMP/err")"; exit 1; }
echo "demo_model: ok"
