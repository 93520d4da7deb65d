#!/usr/bin/env bash
# sibyl generate / bench end to end on a `sibyl mkmodel --preset tiny` model: the answer and
# the trace hash are the same with 1 and 2 threads, the trace hash is the last line, bench
# reports the weights as used in place, and bad input gives a clear error and exit code 1/2.
set -euo pipefail
SIBYL=${SIBYL_BUILD:?}/cli/sibyl
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT

"$SIBYL" mkmodel -o "$DIR/tiny.gguf" --preset tiny --type q8_0 --seed 3 >/dev/null

run() { "$SIBYL" generate -m "$DIR/tiny.gguf" -p "Why is the sky blue?" --chat --seed 42 \
          --max-new-tokens 40 --trace-hash "$@" 2>"$DIR/stderr"; }
a=$(run --threads 1)
b=$(run --threads 2)
[ "$a" = "$b" ] || { echo "1 vs 2 threads differ:"; echo "$a"; echo "$b"; exit 1; }
last=$(echo "$a" | tail -1)
[[ "$last" =~ ^trace-hash:\ [0-9a-f]{64}$ ]] || { echo "bad last line: $last"; exit 1; }
grep -q "canvas 0 step 1/8" "$DIR/stderr" || { echo "no progress lines:"; cat "$DIR/stderr"; exit 1; }
grep -q "tokens/s" "$DIR/stderr" || { echo "no tokens/s line"; exit 1; }

# A different seed gives a different trace.
c=$(run --threads 1 --seed 43 | tail -1)
[ "$c" != "$last" ] || { echo "seed does not change the trace"; exit 1; }

# --quiet: nothing on stderr.
run --threads 1 --quiet >/dev/null
[ ! -s "$DIR/stderr" ] || { echo "--quiet printed:"; cat "$DIR/stderr"; exit 1; }

out=$("$SIBYL" bench -m "$DIR/tiny.gguf" --threads 2 --steps 2 --canvases 2)
echo "$out" | grep -q "step/matmul" || { echo "bench: no ratio"; echo "$out"; exit 1; }
echo "$out" | grep -q "used in place from the mmap" || { echo "bench: no mmap line"; exit 1; }

expect_fail() { # expect_fail CODE PATTERN args...
  local code=$1 pat=$2; shift 2
  set +e; msg=$("$SIBYL" "$@" 2>&1 >/dev/null); rc=$?; set -e
  [ "$rc" = "$code" ] || { echo "sibyl $*: exit $rc, wanted $code ($msg)"; exit 1; }
  echo "$msg" | grep -q "$pat" || { echo "sibyl $*: message '$msg' lacks '$pat'"; exit 1; }
}
expect_fail 1 "without CUDA" generate -m "$DIR/tiny.gguf" -p hi --backend cuda
expect_fail 1 "cannot load model" generate -m "$DIR/missing.gguf" -p hi
expect_fail 2 "not a number" generate -m "$DIR/tiny.gguf" -p hi --steps many
expect_fail 2 "unknown option" generate -m "$DIR/tiny.gguf" -p hi --frobnicate
expect_fail 1 "steps 0 out of range" generate -m "$DIR/tiny.gguf" -p hi --steps 0
expect_fail 2 "required" generate -p hi
echo "generate_cli: ok"
