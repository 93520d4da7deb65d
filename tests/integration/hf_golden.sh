#!/usr/bin/env bash
# The engine and the numpy reference against transformers' own logits (committed fixture,
# tests/reference/hf_golden/README.md). Needs $SIBYL_BUILD (a built tree) and /usr/bin/python3.
set -euo pipefail
cd "$(dirname "$0")/../.."
SIBYL=${SIBYL_BUILD:-build}/cli/sibyl
PY=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
declare -A SHA=(
  [f32]=61a616350f858f693b1e734af8ce0ed7bfc019cbdb7bd093c06d8ad87ec601b2
  [q8_0]=950ec07f63d4c03c7fa20b73fa8884dd9fa94744087a2c149911c2a73505f4d9
)
for ty in f32 q8_0; do
  "$SIBYL" mkmodel -o "$tmp/tiny_$ty.gguf" --preset tiny --type "$ty" >/dev/null
  got=$(sha256sum "$tmp/tiny_$ty.gguf" | cut -d' ' -f1)
  if [ "$got" != "${SHA[$ty]}" ]; then
    echo "tiny $ty model changed ($got): these golden logits belong to ${SHA[$ty]}; regenerate them on purpose"
    exit 1
  fi
  $PY scripts/device/make_fixture.py -m "$tmp/tiny_$ty.gguf" -o "$tmp/fx_$ty" --sibyl "$SIBYL" >/dev/null
  echo "== tiny $ty: numpy reference vs transformers (strict)"
  $PY scripts/device/compare_hf.py "$tmp/fx_$ty" "tests/reference/hf_golden/tiny_$ty"
  echo "== tiny $ty: engine vs transformers (regression bound of docs/fidelity.md)"
  $PY scripts/device/compare_hf.py "$tmp/fx_$ty" "tests/reference/hf_golden/tiny_$ty" \
    --sibyl-logits "$tmp/fx_$ty/sibyl_logits.f32" --json "$tmp/m_$ty.json" >/dev/null || true
  $PY - "$tmp/m_$ty.json" <<'PYEOF'
import json, sys
m = json.load(open(sys.argv[1]))
rows = [v for k, v in m.items() if k.endswith(": sibyl vs hf")]
if len(rows) != 4:
    print("expected 4 'sibyl vs hf' cases in", sys.argv[1], "got", len(rows)); sys.exit(1)
top1 = sum(r["top1"] for r in rows) / len(rows)
kl = sum(r["kl_mean"] for r in rows) / len(rows)
print("engine vs transformers: mean top-1 %.1f %%, mean KL %.4f over %d cases" % (100 * top1, kl, len(rows)))
sys.exit(0 if top1 >= 0.75 and kl <= 0.15 else 1)
PYEOF
done
