#!/usr/bin/python3
"""Runs `sibyl logits` on a model's standard cases (fidelity.standard_cases: short prompt,
prompt longer than the sliding window, the same with an SC input, prompt + committed canvas)
and compares each with the numpy reference twice:

  implementation  engine vs the reference with the engine's int8 block products emulated
                  (dgemma arith="q8"): the same numbers up to float32 rounding (max |diff|
                  ~2e-6), except where a rounding lands an activation on the other side of an
                  int8 step (a "flip", which random models amplify). Checked: every case kind
                  is flip-free for its first ids or for one of up to 6 redraws.
  fidelity        engine vs the float model (dgemma arith="float"): the cost of the arithmetic
                  profile. Checked against --top1-min / --kl-max (mean over the cases).

    /usr/bin/python3 tests/reference/fidelity_suite.py -m MODEL --sibyl build/cli/sibyl \\
        [--label NAME] [--top1-min 0.99] [--kl-max 1e-3] [--impl-check redraw|off] [--json OUT]

Exit 0 when both checks pass, 1 otherwise, 2 on bad input or a failed engine run.
"""

import argparse
import json
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dgemma  # noqa: E402
import fidelity  # noqa: E402
import gguf  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-m", "--model", required=True)
    ap.add_argument("--sibyl", required=True)
    ap.add_argument("--label", default=None)
    ap.add_argument("--top1-min", type=float, default=0.99)
    ap.add_argument("--kl-max", type=float, default=1e-3)
    ap.add_argument("--tau", type=float, default=0.8)
    ap.add_argument("--impl-check", choices=("redraw", "off"), default="redraw",
                    help="off: report engine vs emulation but do not judge it (random models "
                    "with many layers are so sensitive that nearly every run has a flip)")
    ap.add_argument("--json")
    a = ap.parse_args()
    label = a.label or os.path.basename(a.model)

    r = gguf.Reader(a.model)
    ref_f = dgemma.Model(r, arith="float")
    ref_q = dgemma.Model(r, arith="q8")
    V = ref_f.cfg.vocab

    def run_variant(seed, tmp, show):
        """All standard cases drawn with this seed: engine, float and emulated references."""
        out, float_logits = {}, {}
        for c in fidelity.standard_cases(ref_f.cfg, seed):
            sc, sc_path = None, None
            if c.get("sc_from"):
                sc = (float_logits[c["sc_from"]] / a.tau).astype(np.float32)
                sc_path = os.path.join(tmp, "sc.f32")
                sc.astype("<f4").tofile(sc_path)
            path = os.path.join(tmp, "engine.f32")
            fidelity.run_engine(a.sibyl, a.model, c["prompt_ids"], c["commit_ids"],
                                c["canvas_ids"], sc_path, path)
            eng = fidelity.read_f32(path, len(c["canvas_ids"]), V, "engine output")
            zs = {}
            for name, m in (("float", ref_f), ("q8", ref_q)):
                cache = m.new_cache()
                m.encode(c["prompt_ids"], cache)
                for chunk in c["commit_ids"]:
                    m.encode(chunk, cache)
                zs[name] = m.decode(c["canvas_ids"], cache, sc_logits=sc)
            float_logits[c["name"]] = zs["float"]
            res = {"case": c["name"], "seed": seed,
                   "context": len(c["prompt_ids"]) + sum(len(x) for x in c["commit_ids"]),
                   "engine_vs_float": fidelity.compare(zs["float"], eng, a.tau),
                   "engine_vs_q8_emulation": fidelity.compare(zs["q8"], eng, a.tau),
                   "q8_emulation_vs_float": fidelity.compare(zs["float"], zs["q8"], a.tau)}
            if show:
                for key, what in (("engine_vs_float", "engine vs float   "),
                                  ("engine_vs_q8_emulation", "engine vs q8-emul "),
                                  ("q8_emulation_vs_float", "q8-emul vs float  ")):
                    print(fidelity.summary_line("%s %-9s %s" % (label, c["name"], what), res[key]))
            out[c["name"]] = res
        return out

    def flip_free(res):
        return res["engine_vs_q8_emulation"]["max_abs_diff"] <= 1e-4

    with tempfile.TemporaryDirectory() as tmp:
        first = run_variant(7, tmp, True)
        results = list(first.values())
        # A case whose engine run differs from the emulation by more than float rounding has an
        # int8 rounding flip somewhere (or an error): redraw its ids until one draw is flip-free,
        # so that every path (prompt, window, SC, committed canvas) is checked to ~1e-6.
        pending = sorted(n for n, x in first.items() if not flip_free(x))
        exact = len(first) - len(pending)
        tries = {}
        for seed in range(8, 14):
            if not pending or a.impl_check == "off":
                break
            more = run_variant(seed, tmp, False)
            for n in list(pending):
                tries[n] = tries.get(n, 0) + 1
                if flip_free(more[n]):
                    pending.remove(n)
                    print("%s %-9s flip-free with ids of seed %d (engine vs q8-emul max|d| %.3g)"
                          % (label, n, seed, more[n]["engine_vs_q8_emulation"]["max_abs_diff"]))
    ok_impl = not pending or a.impl_check == "off"
    if pending and a.impl_check != "off":
        print("%s: cases %s never match the emulated profile: implementation error"
              % (label, pending))
    top1 = float(np.mean([x["engine_vs_float"]["top1"] for x in results]))
    kl = float(np.mean([x["engine_vs_float"]["kl_mean"] for x in results]))
    klt = float(np.mean([x["engine_vs_float"]["kl_tau_mean"] for x in results]))
    klmax = float(np.max([x["engine_vs_float"]["kl_max"] for x in results]))
    ok_fid = top1 >= a.top1_min and kl <= a.kl_max
    print("%s SUMMARY engine vs float: top1 %.2f%%  KL mean %.3g (max %.3g)  KL@T=%.2f mean %.3g"
          "  [want top1 >= %.2f%%, KL <= %.3g: %s];  engine vs emulation: %d/%d cases "
          "flip-free at first draw, %s"
          % (label, 100 * top1, kl, klmax, a.tau, klt, 100 * a.top1_min, a.kl_max,
             "PASS" if ok_fid else "FAIL", exact, len(results),
             ("PASS" if ok_impl else "FAIL") if a.impl_check != "off" else "not judged"))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"label": label, "model": a.model, "cases": results, "top1": top1,
                       "kl_mean": kl, "kl_tau_mean": klt, "kl_max": klmax,
                       "fidelity_pass": ok_fid, "implementation_pass": ok_impl}, f, indent=1)
    return 0 if ok_fid and ok_impl else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except SystemExit as e:
        if isinstance(e.code, str):
            print(e.code, file=sys.stderr)
            sys.exit(2)
        raise
