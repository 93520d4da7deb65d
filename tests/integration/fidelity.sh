#!/usr/bin/env bash
# Fidelity of the engine (`sibyl logits`) to the numpy float reference (tests/reference/) on
# small random DiffusionGemma models, with f32 weights and with Q8_0 weights.
# For each model, tests/reference/fidelity_suite.py runs four cases (short prompt, prompt
# longer than the sliding window, the same with a self-conditioning input, prompt + committed
# canvas), prints the numbers and checks:
#   - implementation (reference-writer models, made well conditioned): the engine equals the
#     reference with the int8 block products of docs/arithmetic.md emulated, to float32
#     rounding (~2e-6), for every case kind (redrawing ids past rare int8 rounding flips);
#   - fidelity to the float model: the well-conditioned models within top-1 >= 95 %, mean
#     KL <= 0.01; the `sibyl mkmodel` tiny preset (random init, less well conditioned) within
#     top-1 >= 75 %, mean KL <= 0.15. The 99 % / 1e-3 target of docs/fidelity.md is for
#     trained models; random weights amplify the quantisation error (see docs/fidelity.md).
# FIDELITY_SMALL=1 also runs the small preset (about 10 s more).
# Needs $SIBYL_BUILD (the Release build dir) and /usr/bin/python3 with numpy.
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

for t in f32 q8_0; do
  "$SIBYL" mkmodel --preset tiny --type $t -o "$TMP/mk_tiny_$t.gguf" >/dev/null
done
if [ "${FIDELITY_SMALL:-0}" = 1 ]; then
  "$SIBYL" mkmodel --preset small --type q8_0 -o "$TMP/mk_small_q8_0.gguf" >/dev/null
fi

fail=0
suite() { # suite MODEL TOP1_MIN KL_MAX IMPL_CHECK
  if ! "$PY" "$ROOT/tests/reference/fidelity_suite.py" -m "$TMP/$1.gguf" --sibyl "$SIBYL" \
      --label "$1" --top1-min "$2" --kl-max "$3" --impl-check "$4" --json "$TMP/$1.json"; then
    echo "fidelity: $1 FAILED"
    fail=1
  fi
}
suite tiny_f32 0.95 0.01 redraw
suite tiny_q8_0 0.95 0.01 redraw
suite mk_tiny_f32 0.75 0.15 off
suite mk_tiny_q8_0 0.75 0.15 off
[ "${FIDELITY_SMALL:-0}" = 1 ] && suite mk_small_q8_0 0.75 0.15 off
# The trained demo model (docs/demo-model.md): the issue's target, top-1 >= 99 %, KL <= 1e-3.
cp "$ROOT/models/sibyl-demo-add.gguf" "$TMP/demo_add.gguf"
suite demo_add 0.99 0.001 off

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
