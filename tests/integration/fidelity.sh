#!/usr/bin/env bash
# Fidelity of the engine (`sibyl logits`) to the numpy float reference (tests/reference/) on
# small random DiffusionGemma models, with f32 weights and with Q8_0 weights.
# For each model, tests/reference/fidelity_suite.py runs four cases (short prompt, prompt
# longer than the sliding window, the same with a self-conditioning input, prompt + committed
# canvas) and checks
#   - implementation: the engine equals the reference with the int8 block products of
#     docs/arithmetic.md emulated, up to float32 rounding and rare int8 rounding flips;
#   - fidelity to the float model within the tolerance for random models of docs/fidelity.md
#     (top-1 >= 75 %, mean KL <= 0.1: random weights amplify the quantisation error; the
#     99 % / 1e-3 target is for trained models).
# Prints the measured numbers. Needs $SIBYL_BUILD (the Release build dir) and /usr/bin/python3
# with numpy.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${SIBYL_BUILD:-$ROOT/build}
SIBYL=$BUILD/cli/sibyl
PY=/usr/bin/python3
[ -x "$SIBYL" ] || { echo "fidelity: $SIBYL not built"; exit 1; }
"$PY" -c 'import numpy' || { echo "fidelity: $PY has no numpy"; exit 1; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# Models: the reference's own writer, with the init that keeps a random model reasonably
# conditioned (attention scores of unit scale, decided routing; see docs/fidelity.md).
ROOT="$ROOT" "$PY" - "$TMP" <<'PYEOF'
import os, sys
sys.path.insert(0, os.path.join(os.environ.get("ROOT", "."), "tests", "reference"))
import tinymodel
out = sys.argv[1]
tinymodel.make(os.path.join(out, "tiny_f32.gguf"), seed=1, qk_norm=0.5, router_std=8.0)
tinymodel.make(os.path.join(out, "tiny_q8_0.gguf"), seed=1, q8=True, qk_norm=0.5, router_std=8.0)
PYEOF

fail=0
for m in tiny_f32 tiny_q8_0; do
  if ! "$PY" "$ROOT/tests/reference/fidelity_suite.py" -m "$TMP/$m.gguf" --sibyl "$SIBYL" \
      --label "$m" --top1-min 0.75 --kl-max 0.1 --json "$TMP/$m.json"; then
    echo "fidelity: $m FAILED"
    fail=1
  fi
done

# Bad input must give a clear error, not a crash.
if "$SIBYL" logits -m "$TMP/tiny_f32.gguf" --prompt-ids 2,x --canvas-ids 1 -o "$TMP/x.f32" \
    2>"$TMP/err"; then
  echo "fidelity: bad ids accepted"; fail=1
fi
grep -q "not a list of token ids" "$TMP/err" || { echo "fidelity: unclear error:"; cat "$TMP/err"; fail=1; }
if "$SIBYL" logits -m "$TMP/tiny_f32.gguf" --prompt-ids 2 --canvas-ids 1,99999 -o "$TMP/x.f32" \
    2>"$TMP/err"; then
  echo "fidelity: out-of-vocabulary id accepted"; fail=1
fi
grep -q "outside the vocabulary" "$TMP/err" || { echo "fidelity: unclear error:"; cat "$TMP/err"; fail=1; }
if "$SIBYL" logits -m "$TMP/tiny_f32.gguf" --prompt-ids 2 --canvas-ids 1 --sc-logits "$TMP/err" \
    -o "$TMP/x.f32" 2>"$TMP/err2"; then
  echo "fidelity: short SC file accepted"; fail=1
fi
grep -q "expected exactly" "$TMP/err2" || { echo "fidelity: unclear error:"; cat "$TMP/err2"; fail=1; }

[ $fail = 0 ] && echo "fidelity: PASS"
exit $fail
