#!/usr/bin/python3
"""Fidelity of the C engine's canvas logits to the float reference (tests/reference/dgemma.py).

For one model, prompt and canvas (and optionally self-conditioning logits), it computes the
reference canvas logits in float64 and compares them with the engine's logits for the same
inputs, per canvas position:
  - top-1 agreement (argmax, ties to the lowest id, on both sides),
  - KL(ref || engine) of the softmax at temperature 1 and at the sampler's first-step
    temperature (t_max, 0.8 by default),
  - max |ref - engine| over the logits.
It prints a summary (and --json writes it) and exits 1 when the tolerance is missed:
top-1 below --top1-min or mean KL (temperature 1) above --kl-max (docs/fidelity.md).

The engine's logits come from a file (--engine-logits, raw little-endian float32 [C, V]) or
from running `sibyl logits` (--sibyl PATH). Exit codes: 0 within tolerance, 1 outside,
2 bad input or a failed engine run.

    /usr/bin/python3 tests/reference/fidelity.py -m tiny.gguf --prompt-ids 2,105,2364 \\
        --canvas-ids 7,8,9,... --sibyl build/cli/sibyl
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dgemma  # noqa: E402
import gguf  # noqa: E402


def parse_ids(s, what):
    """Comma-separated ids, or @FILE holding them (commas or whitespace)."""
    if s is None:
        return []
    if s.startswith("@"):
        with open(s[1:]) as f:
            s = f.read()
    s = s.replace(",", " ").split()
    try:
        return [int(t) for t in s]
    except ValueError:
        raise SystemExit("fidelity: %s: not a list of integer ids" % what)


def standard_cases(cfg, seed=7):
    """The standard inputs of a model: short prompt; prompt longer than the sliding window;
    the same with an SC input (taken from the long case's logits by the caller); a prompt
    plus one committed canvas. Ids drawn from a fixed seed inside the vocabulary."""
    rng = np.random.default_rng(seed)
    V, C, W = cfg.vocab, cfg.canvas_length, max(cfg.window, 1)

    def ids(n):
        return [int(x) for x in rng.integers(0, V, n)]

    bos = [2] if V > 2 else []
    canvas = ids(C)
    short = bos + ids(4)
    long_ = bos + ids(W + 4)
    return [
        {"name": "short", "prompt_ids": short, "commit_ids": [], "canvas_ids": canvas},
        {"name": "long", "prompt_ids": long_, "commit_ids": [], "canvas_ids": canvas},
        {"name": "long_sc", "prompt_ids": long_, "commit_ids": [], "canvas_ids": canvas,
         "sc_from": "long"},
        {"name": "committed", "prompt_ids": short, "commit_ids": [ids(C)], "canvas_ids": ids(C)},
    ]


def read_f32(path, rows, cols, what):
    a = np.fromfile(path, dtype="<f4")
    if a.size != rows * cols:
        raise SystemExit("fidelity: %s %s has %d floats, expected %d x %d = %d"
                         % (what, path, a.size, rows, cols, rows * cols))
    return a.reshape(rows, cols)


def log_softmax(z):
    z = np.asarray(z, np.float64)
    m = np.max(z, axis=-1, keepdims=True)
    return z - m - np.log(np.sum(np.exp(z - m), axis=-1, keepdims=True))


def compare(ref, eng, tau):
    """Per-position metrics of engine logits against reference logits (both [C, V])."""
    ref = np.asarray(ref, np.float64)
    eng = np.asarray(eng, np.float64)
    out = {}
    top_r, top_e = np.argmax(ref, axis=-1), np.argmax(eng, axis=-1)
    out["top1"] = float(np.mean(top_r == top_e))
    out["top1_mismatch_positions"] = [int(i) for i in np.nonzero(top_r != top_e)[0]]
    for name, t in (("kl", 1.0), ("kl_tau", tau)):
        lr, le = log_softmax(ref / t), log_softmax(eng / t)
        kl = np.sum(np.exp(lr) * (lr - le), axis=-1)
        kl = np.maximum(kl, 0.0)  # rounding can give -1e-17
        out[name + "_mean"] = float(np.mean(kl))
        out[name + "_max"] = float(np.max(kl))
    out["max_abs_diff"] = float(np.max(np.abs(ref - eng)))
    out["ref_logit_std"] = float(np.std(ref))
    # how decided the reference is: margin between its best and second-best logit
    part = np.sort(ref, axis=-1)
    margin = part[:, -1] - part[:, -2]
    out["ref_top1_margin_min"] = float(np.min(margin))
    mism = out["top1_mismatch_positions"]
    out["ref_margin_at_mismatch_max"] = float(np.max(margin[mism])) if mism else 0.0
    out["tau"] = tau
    out["positions"] = int(ref.shape[0])
    return out


def reference_logits(model_path, prompt, commits, canvas, sc, arith="float"):
    r = gguf.Reader(model_path)
    m = dgemma.Model(r, arith=arith)
    cache = m.new_cache()
    if prompt:
        m.encode(prompt, cache)
    for c in commits:
        m.encode(c, cache)
    return m.decode(canvas, cache, sc_logits=sc), m


def run_engine(sibyl, model_path, prompt, commits, canvas, sc_path, out_path):
    cmd = [sibyl, "logits", "-m", model_path, "--prompt-ids", ",".join(map(str, prompt)),
           "--canvas-ids", ",".join(map(str, canvas)), "-o", out_path]
    for c in commits:
        cmd += ["--commit-ids", ",".join(map(str, c))]
    if sc_path:
        cmd += ["--sc-logits", sc_path]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit("fidelity: engine failed (%d): %s\n%s"
                         % (p.returncode, " ".join(cmd), p.stderr.strip()))


def summary_line(label, s):
    return ("%s: top1 %.2f%% (%d pos)  KL mean %.3g max %.3g  KL@T=%.2f mean %.3g max %.3g  "
            "max|d| %.3g  (ref logit std %.3g)"
            % (label, 100 * s["top1"], s["positions"], s["kl_mean"], s["kl_max"], s["tau"],
               s["kl_tau_mean"], s["kl_tau_max"], s["max_abs_diff"], s["ref_logit_std"]))


def main(argv=None):
    ap = argparse.ArgumentParser(description="Compare sibyl's canvas logits with the numpy "
                                 "float reference.")
    ap.add_argument("-m", "--model", required=True, help="GGUF model")
    ap.add_argument("--prompt-ids", required=True, help="ids, comma-separated, or @FILE")
    ap.add_argument("--commit-ids", action="append", default=[],
                    help="a committed canvas encoded after the prompt (repeatable, in order)")
    ap.add_argument("--canvas-ids", required=True, help="canvas ids, comma-separated, or @FILE")
    ap.add_argument("--sc-logits", help="self-conditioning input: raw f32 [C, V], the previous "
                    "step's tempered logits (the decoder applies softmax to them)")
    ap.add_argument("--engine-logits", help="engine output: raw f32 [C, V]")
    ap.add_argument("--sibyl", help="run `SIBYL logits` to get the engine output")
    ap.add_argument("--ref-out", help="also write the reference logits (raw f32) here")
    ap.add_argument("--arith", choices=("float", "q8"), default="float",
                    help="float: the float model (default); q8: the reference with the "
                    "engine's int8 block products emulated (checks the implementation)")
    ap.add_argument("--tau", type=float, help="second temperature (default: the model's "
                    "diffusion.eb_t_max, else 0.8)")
    ap.add_argument("--top1-min", type=float, default=0.99)
    ap.add_argument("--kl-max", type=float, default=1e-3)
    ap.add_argument("--label", default="fidelity")
    ap.add_argument("--json", help="write the metrics here")
    a = ap.parse_args(argv)

    prompt = parse_ids(a.prompt_ids, "--prompt-ids")
    commits = [parse_ids(c, "--commit-ids") for c in a.commit_ids]
    canvas = parse_ids(a.canvas_ids, "--canvas-ids")
    if not canvas:
        raise SystemExit("fidelity: empty canvas")
    if not a.engine_logits and not a.sibyl:
        raise SystemExit("fidelity: give --engine-logits FILE or --sibyl PATH")
    try:
        r = gguf.Reader(a.model)
        vocab = r.tensors["token_embd.weight"].ne[1]
    except (gguf.GGUFError, KeyError, OSError) as e:
        raise SystemExit("fidelity: cannot read model: %s" % e)
    sc = read_f32(a.sc_logits, len(canvas), vocab, "--sc-logits") if a.sc_logits else None
    tau = a.tau if a.tau is not None else float(r.get("diffusion.eb_t_max", 0.8))

    try:
        ref, _ = reference_logits(a.model, prompt, commits, canvas, sc, a.arith)
    except (dgemma.ModelError, gguf.GGUFError) as e:
        raise SystemExit("fidelity: reference: %s" % e)
    if a.ref_out:
        ref.astype("<f4").tofile(a.ref_out)

    if a.engine_logits:
        eng = read_f32(a.engine_logits, len(canvas), vocab, "--engine-logits")
    else:
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "engine.f32")
            run_engine(a.sibyl, a.model, prompt, commits, canvas, a.sc_logits, out)
            eng = read_f32(out, len(canvas), vocab, "engine output")
    if not np.all(np.isfinite(eng)):
        print("%s: engine logits contain NaN/Inf" % a.label)
        return 1

    s = compare(ref, eng, tau)
    s["label"] = a.label
    s["arith"] = a.arith
    s["top1_min"], s["kl_max_allowed"] = a.top1_min, a.kl_max
    ok = s["top1"] >= a.top1_min and s["kl_mean"] <= a.kl_max
    s["pass"] = bool(ok)
    print(summary_line(a.label, s) + ("  PASS" if ok else "  FAIL (want top1 >= %.2f%%, "
          "KL mean <= %.3g)" % (100 * a.top1_min, a.kl_max)))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(s, f, indent=1)
    return 0 if ok else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except SystemExit as e:
        if isinstance(e.code, str):
            print(e.code, file=sys.stderr)
            sys.exit(2)
        raise
