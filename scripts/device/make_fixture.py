#!/usr/bin/python3
"""Builds the inputs of the transformers golden check (scripts/device/hf_golden.py) for one
GGUF model, with the numpy reference's logits and, optionally, `sibyl logits` output for the
same inputs. Runs here (numpy only).

    /usr/bin/python3 scripts/device/make_fixture.py -m tiny.gguf -o build/hf-fixture/tiny \\
        [--sibyl build/cli/sibyl]

Writes into the output folder:
  model.gguf          a copy of the model (so the folder travels to the device as one piece)
  inputs.json         the cases: prompt ids, committed canvases, canvas ids, SC input file
  sc_<case>.f32       self-conditioning input, raw f32 [C, V] (reference logits / tau)
  ref_logits.f32      numpy float reference logits of every case, concatenated, raw f32
  sibyl_logits.f32    the engine's logits for every case (with --sibyl)
Cases (ids drawn from a fixed seed inside the vocabulary):
  short        prompt of 5 tokens, no SC
  long         prompt longer than the sliding window (tests the window-1 rule), no SC
  long_sc      as long, with SC input = long's reference logits / tau
  committed    short prompt + one committed canvas encoded after it, then the canvas
"""

import argparse
import json
import os
import shutil
import subprocess
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "reference"))
import dgemma  # noqa: E402
import gguf  # noqa: E402
from fidelity import standard_cases as make_cases  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-m", "--model", required=True)
    ap.add_argument("-o", "--out", required=True)
    ap.add_argument("--sibyl", help="also run `SIBYL logits` on every case")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--tau", type=float, default=0.8, help="temperature of the SC input")
    a = ap.parse_args()

    os.makedirs(a.out, exist_ok=True)
    dst = os.path.join(a.out, "model.gguf")
    if os.path.abspath(a.model) != os.path.abspath(dst):
        shutil.copyfile(a.model, dst)
    model = dgemma.Model(gguf.Reader(dst))
    cases = make_cases(model.cfg, a.seed)
    ref = {}
    for c in cases:
        sc = None
        c["sc_logits"] = None
        if c.get("sc_from"):
            sc = (ref[c["sc_from"]] / a.tau).astype(np.float32)
            c["sc_logits"] = "sc_%s.f32" % c["name"]
            sc.astype("<f4").tofile(os.path.join(a.out, c["sc_logits"]))
        cache = model.new_cache()
        model.encode(c["prompt_ids"], cache)
        for chunk in c["commit_ids"]:
            model.encode(chunk, cache)
        ref[c["name"]] = model.decode(c["canvas_ids"], cache, sc_logits=sc)
        print("reference %-10s context %4d canvas %d" % (c["name"], cache["pos"].shape[0],
                                                       len(c["canvas_ids"])))
    with open(os.path.join(a.out, "ref_logits.f32"), "wb") as f:
        for c in cases:
            ref[c["name"]].astype("<f4").tofile(f)
    if a.sibyl:
        with open(os.path.join(a.out, "sibyl_logits.f32"), "wb") as f:
            for c in cases:
                tmp = os.path.join(a.out, "sibyl_tmp.f32")
                cmd = [a.sibyl, "logits", "-m", dst,
                       "--prompt-ids", ",".join(map(str, c["prompt_ids"])),
                       "--canvas-ids", ",".join(map(str, c["canvas_ids"])), "-o", tmp]
                for chunk in c["commit_ids"]:
                    cmd += ["--commit-ids", ",".join(map(str, chunk))]
                if c["sc_logits"]:
                    cmd += ["--sc-logits", os.path.join(a.out, c["sc_logits"])]
                p = subprocess.run(cmd, capture_output=True, text=True)
                if p.returncode:
                    sys.exit("make_fixture: sibyl failed on %s: %s" % (c["name"], p.stderr))
                with open(tmp, "rb") as t:
                    f.write(t.read())
                os.remove(tmp)
    desc = {"model": "model.gguf", "vocab": model.cfg.vocab, "tau": a.tau, "cases": cases,
            "ref_logits": "ref_logits.f32",
            "sibyl_logits": "sibyl_logits.f32" if a.sibyl else None}
    with open(os.path.join(a.out, "inputs.json"), "w") as f:
        json.dump(desc, f, indent=1)
    print("fixture written to", a.out)


if __name__ == "__main__":
    main()
