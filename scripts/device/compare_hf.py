#!/usr/bin/python3
"""Compares the transformers golden logits (hf_golden.py's output) with the numpy reference
and with `sibyl logits`, per case of a fixture (make_fixture.py): top-1 agreement, KL at
temperature 1 and at tau, max |diff|.

    /usr/bin/python3 scripts/device/compare_hf.py FIXTURE_DIR HF_DIR [--sibyl-logits F]

HF_DIR is the folder hf_golden.py wrote for this fixture (with hf.json, hf_logits.f32).
Sibyl's logits are taken from --sibyl-logits, else from the fixture's sibyl_logits.f32 if
present. Exit 1 if the numpy reference misses HF by more than float tolerance (top-1 below
--top1-min, KL mean above --kl-max, or max |diff| above --abs-max); sibyl's numbers are
reported, judged against the engine tolerance of docs/fidelity.md, but only reported.
"""

import argparse
import json
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "reference"))
import fidelity  # noqa: E402


def split(path, cases, vocab):
    a = np.fromfile(path, dtype="<f4")
    out, off = {}, 0
    for c in cases:
        n = len(c["canvas_ids"]) * vocab
        if off + n > a.size:
            break
        out[c["name"]] = a[off:off + n].reshape(-1, vocab)
        off += n
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("fixture")
    ap.add_argument("hf_dir")
    ap.add_argument("--sibyl-logits")
    ap.add_argument("--top1-min", type=float, default=0.99)
    ap.add_argument("--kl-max", type=float, default=1e-6)
    ap.add_argument("--abs-max", type=float, default=1e-3)
    ap.add_argument("--json", help="write all metrics here")
    a = ap.parse_args()

    with open(os.path.join(a.fixture, "inputs.json")) as f:
        desc = json.load(f)
    V, tau, cases = desc["vocab"], desc["tau"], desc["cases"]
    ref = split(os.path.join(a.fixture, desc["ref_logits"]), cases, V)
    with open(os.path.join(a.hf_dir, "hf.json")) as f:
        hfrep = json.load(f)
    hf_all = np.fromfile(os.path.join(a.hf_dir, "hf_logits.f32"), dtype="<f4")
    hf = {}
    for e in hfrep.get("cases", []):
        if e.get("ok"):
            hf[e["name"]] = hf_all[e["offset_floats"]:e["offset_floats"] + e["rows"] * e["cols"]] \
                .reshape(e["rows"], e["cols"])
    sib_path = a.sibyl_logits or (os.path.join(a.fixture, desc["sibyl_logits"])
                                  if desc.get("sibyl_logits") else None)
    sib = split(sib_path, cases, V) if sib_path and os.path.exists(sib_path) else {}

    print("transformers %s on %s (%s); errors: %s" % (hfrep.get("transformers"),
          hfrep.get("device"), hfrep.get("model_class"), hfrep.get("errors") or "none"))
    ok = True
    report = {}
    for c in cases:
        n = c["name"]
        if n not in hf:
            print("%-10s no HF logits (case failed on the device)" % n)
            ok = False
            continue
        pairs = [("ref vs hf", hf[n], ref[n])]
        if n in sib:
            pairs += [("sibyl vs hf", hf[n], sib[n]), ("sibyl vs ref", ref[n], sib[n])]
        for label, x, y in pairs:
            s = fidelity.compare(x, y, tau)
            report["%s: %s" % (n, label)] = s
            print(fidelity.summary_line("%-10s %-12s" % (n, label), s))
            if label == "ref vs hf" and not (s["top1"] >= a.top1_min and s["kl_mean"] <= a.kl_max
                                             and s["max_abs_diff"] <= a.abs_max):
                ok = False
                print("    ^ reference and transformers disagree beyond float tolerance")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(report, f, indent=1)
    print("numpy reference vs transformers: %s" % ("AGREE" if ok else "DISAGREE"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
