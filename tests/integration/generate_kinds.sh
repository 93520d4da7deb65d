#!/usr/bin/env bash
# sibyl generate --kind on the demo model (models/sibyl-demo-add.gguf): every request kind runs
# as the node runs it (adapters/): number "12+34" in [0, 198] is 46, choice and bool print a valid
# answer, json output parses (with and without a schema), and a bad input is a reject (exit 1).
set -euo pipefail
SIBYL=${SIBYL_BUILD:?}/cli/sibyl
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
M=$ROOT/models/sibyl-demo-add.gguf
gen() { "$SIBYL" generate -m "$M" --threads 1 "$@" 2>/dev/null; }

n=$(gen --kind number -p "12+34" --min 0 --max 198)
[ "$n" = "46" ] || { echo "number 12+34 gave '$n'"; exit 1; }
n=$(gen --kind number -p "12+34" --min -5 --max 9 --seed 3)
[[ "$n" =~ ^-?[0-9]+$ ]] && [ "$n" -ge -5 ] && [ "$n" -le 9 ] || { echo "clamped number gave '$n'"; exit 1; }

c=$(gen --kind choice -p "12+34" --option 46 --option 47 --option 48 | head -1)
[[ "$c" =~ ^[012]\ 4[678]$ ]] || { echo "choice gave '$c'"; exit 1; }

b=$(gen --kind bool -p "12+34")
[ "$b" = "true" ] || [ "$b" = "false" ] || { echo "bool gave '$b'"; exit 1; }

for schema in '{"sum": "number", "ok": "bool"}' ''; do
  j=$(gen --kind json -p "12+34" --schema "$schema")
  echo "$j" | /usr/bin/python3 -c 'import json,sys; json.loads(sys.stdin.read())' ||
    { echo "json ($schema) did not parse: $j"; exit 1; }
done

t=$(gen --kind chat -p "12+34")
[ "$t" = "46" ] || { echo "chat gave '$t'"; exit 1; }

set +e
out=$(gen --kind choice -p "q" --option only)
rc=$?
set -e
[ $rc -eq 1 ] && [ "$out" = "rejected: 4 ADAPTER_PARSE" ] || { echo "1 option: rc $rc, '$out'"; exit 1; }
set +e
"$SIBYL" generate --kind nosuch -m "$M" -p x 2>/dev/null
rc=$?
set -e
[ $rc -eq 2 ] || { echo "unknown kind: rc $rc"; exit 1; }
echo "generate_kinds: ok"
