#!/usr/bin/env python3
"""Transformers golden logits for a GGUF DiffusionGemma model (runs where torch and
transformers are installed: the device machine; also on a CPU).

For each fixture folder made by scripts/device/make_fixture.py it builds the transformers
DiffusionGemmaConfig + DiffusionGemmaForBlockDiffusion with the GGUF's dimensions, loads the
dequantised GGUF weights into it (GGUF names mapped back to HF names: diffusiongemma.md
section 6 inverted; tied embedding/lm_head and encoder/decoder weights; the encoder and
decoder layer_scalar copies; the self-conditioning block), and runs in float32, with TF32
off and eager attention, what the reference runs: the encoder over the prompt (and any
committed canvases) into a DynamicCache, then the decoder over the canvas, with or without
the SC input. It writes per fixture, under OUT/<fixture name>/:
  hf_logits.f32   the canvas logits of every case, concatenated (raw little-endian f32)
  hf.json         versions, device, the config used, per-case offsets, checks and errors
and OUT/hf_golden.log. Whatever was computed is written even when a later step fails.

    python3 scripts/device/hf_golden.py --out $OUT build/hf-fixture/tiny [more fixtures]

The device tool sends the session's checkout (not a helper's worktree): put scripts/device,
tests/reference and the fixtures under an ignored folder of that checkout and carry it.
Measured on an H100 with transformers 5.17.0: docs/fidelity.md.

Exit code: 0 all cases computed, 1 some failed (see hf.json / the log), 2 bad arguments.
"""

import argparse
import json
import os
import platform
import re
import sys
import time
import traceback

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "reference"))
import gguf  # noqa: E402

LOG = None


def log(*args):
    msg = " ".join(str(a) for a in args)
    print(msg, flush=True)
    if LOG:
        LOG.write(msg + "\n")
        LOG.flush()


# ------------------------------------------------------------------ GGUF -> HF config

def gguf_config(r):
    """The model's dimensions from the GGUF (metadata, checked against tensor shapes)."""
    a = r.get("general.architecture", "diffusion-gemma")

    def key(name, default=None):
        return r.get(a + "." + name, default)

    n_layers = int(key("block_count"))
    pattern = key("attention.sliding_window_pattern")
    sliding, head_dim, n_kv = [], [], []
    for i in range(n_layers):
        p = "blk.%d." % i
        s = bool(pattern[i]) if pattern is not None else r.has(p + "attn_v.weight")
        d = r.tensors[p + "attn_q_norm.weight"].ne[0]
        sliding.append(s)
        head_dim.append(int(d))
        n_kv.append(int(r.tensors[p + "attn_k.weight"].ne[1] // d))

    def one(values, what):
        vals = sorted(set(values))
        if len(vals) > 1:
            raise ValueError("%s differs between layers of one type: %s (HF has one value)"
                             % (what, vals))
        return vals[0] if vals else None

    d_swa = one([d for d, s in zip(head_dim, sliding) if s], "sliding head_dim")
    kv_swa = one([k for k, s in zip(n_kv, sliding) if s], "sliding kv heads")
    d_glb = one([d for d, s in zip(head_dim, sliding) if not s], "global head_dim")
    kv_glb = one([k for k, s in zip(n_kv, sliding) if not s], "global kv heads")
    rot = None
    if r.has("rope_freqs.weight") and d_glb:
        rf = r.tensor("rope_freqs.weight")
        n_rot = int(np.sum(rf < 1e29))
        if not np.all(rf[:n_rot] == 1.0) or not np.all(rf[n_rot:] >= 1e29):
            raise ValueError("rope_freqs is not 'k x 1.0 then 1e30': HF proportional RoPE "
                             "cannot express it")
        rot = 2.0 * n_rot / d_glb  # HF: rope_angles = int(factor * head_dim // 2)
    gu = "blk.0.ffn_gate_up_exps.weight"
    exp_ff = (r.tensors[gu].ne[1] // 2 if r.has(gu)
              else r.tensors["blk.0.ffn_gate_exps.weight"].ne[1])
    return {
        "vocab_size": int(r.tensors["token_embd.weight"].ne[1]),
        "hidden_size": int(key("embedding_length")),
        "intermediate_size": int(r.tensors["blk.0.ffn_gate.weight"].ne[1]),
        "num_hidden_layers": n_layers,
        "num_attention_heads": int(key("attention.head_count")),
        "num_key_value_heads": int(kv_swa or kv_glb),
        "head_dim": int(d_swa or d_glb),
        "global_head_dim": int(d_glb or d_swa),
        "num_global_key_value_heads": int(kv_glb or kv_swa),
        "layer_types": ["sliding_attention" if s else "full_attention" for s in sliding],
        "sliding_window": int(key("attention.sliding_window", 1024)),
        "rms_norm_eps": float(key("attention.layer_norm_rms_epsilon", 1e-6)),
        "max_position_embeddings": int(key("context_length", 262144)),
        "theta_swa": float(key("rope.freq_base_swa", 1e4)),
        "theta": float(key("rope.freq_base", 1e6)),
        "partial_rotary_factor": float(rot if rot is not None else 1.0),
        "final_logit_softcapping": float(key("final_logit_softcapping", 30.0)),
        "num_experts": int(key("expert_count")),
        "top_k_experts": int(key("expert_used_count")),
        "moe_intermediate_size": int(exp_ff),
        "canvas_length": int(r.get("diffusion.canvas_length", 256)),
    }


def build_model(g, device):
    import torch
    import transformers
    from transformers import DiffusionGemmaConfig

    text = dict(
        vocab_size=g["vocab_size"], hidden_size=g["hidden_size"],
        intermediate_size=g["intermediate_size"], num_hidden_layers=g["num_hidden_layers"],
        num_attention_heads=g["num_attention_heads"],
        num_key_value_heads=g["num_key_value_heads"], head_dim=g["head_dim"],
        global_head_dim=g["global_head_dim"],
        num_global_key_value_heads=g["num_global_key_value_heads"],
        hidden_activation="gelu_pytorch_tanh",
        max_position_embeddings=g["max_position_embeddings"], rms_norm_eps=g["rms_norm_eps"],
        pad_token_id=0, eos_token_id=1, bos_token_id=2, tie_word_embeddings=True,
        rope_parameters={
            "sliding_attention": {"rope_type": "default", "rope_theta": g["theta_swa"]},
            "full_attention": {"rope_type": "proportional", "rope_theta": g["theta"],
                               "partial_rotary_factor": g["partial_rotary_factor"]},
        },
        attention_bias=False, attention_dropout=0.0, sliding_window=g["sliding_window"],
        layer_types=list(g["layer_types"]), use_bidirectional_attention="vision",
        num_experts=g["num_experts"], top_k_experts=g["top_k_experts"],
        moe_intermediate_size=g["moe_intermediate_size"],
    )
    # The vision tower is unused for text, but DiffusionGemmaEncoderModel always builds one:
    # try a tiny one, then the default, then build the text parts without it.
    tiny_vision = {"model_type": "gemma4_vision", "hidden_size": 32, "intermediate_size": 64,
                   "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 2,
                   "head_dim": 16}
    errors = []
    for vision in (tiny_vision, {"model_type": "gemma4_vision"}, None):
        try:
            cfg = DiffusionGemmaConfig(text_config=dict(text), vision_config=
                                       dict(vision) if vision else None,
                                       canvas_length=g["canvas_length"], tie_word_embeddings=True)
            cfg.text_config.final_logit_softcapping = g["final_logit_softcapping"]
            for c in (cfg, cfg.text_config):
                c._attn_implementation = "eager"
                if hasattr(c, "_experts_implementation"):
                    c._experts_implementation = "eager"
            if vision is None:
                raise RuntimeError("no vision config accepted: using the parts")
            from transformers import DiffusionGemmaForBlockDiffusion
            model = DiffusionGemmaForBlockDiffusion(cfg)
            kind = "DiffusionGemmaForBlockDiffusion"
            break
        except Exception as e:  # noqa: BLE001 - report and try the next way
            errors.append("vision=%s: %s: %s" % (vision and vision.get("hidden_size", "default"),
                                                 type(e).__name__, e))
            log("  model build attempt failed:", errors[-1])
            model = None
    if model is None:
        from transformers.models.diffusion_gemma import modeling_diffusion_gemma as mdg
        cfg = DiffusionGemmaConfig(text_config=dict(text), canvas_length=g["canvas_length"])
        cfg.text_config.final_logit_softcapping = g["final_logit_softcapping"]
        for c in (cfg, cfg.text_config):
            c._attn_implementation = "eager"
        model = torch.nn.Module()
        model.encoder_text = mdg.DiffusionGemmaEncoderTextModel(cfg.text_config)
        model.decoder = mdg.DiffusionGemmaDecoderModel(cfg)
        model.config = cfg
        kind = "parts (DiffusionGemmaEncoderTextModel + DiffusionGemmaDecoderModel)"
    for fn in ("set_attn_implementation", "set_experts_implementation"):
        if hasattr(model, fn):
            try:
                getattr(model, fn)("eager")
            except Exception as e:  # noqa: BLE001
                log("  %s('eager') failed: %s" % (fn, e))
    model.to(device=device, dtype=torch.float32)
    model.eval()
    return model, cfg, kind, errors, transformers.__version__


# ------------------------------------------------------------------ GGUF -> HF weights

LAYER_MAP = {
    "input_layernorm.weight": ["attn_norm.weight"],
    "post_attention_layernorm.weight": ["post_attention_norm.weight"],
    "pre_feedforward_layernorm.weight": ["ffn_norm.weight"],
    "post_feedforward_layernorm.weight": ["post_ffw_norm.weight"],
    "post_feedforward_layernorm_1.weight": ["post_ffw_norm_1.weight"],
    "pre_feedforward_layernorm_2.weight": ["pre_ffw_norm_2.weight"],
    "post_feedforward_layernorm_2.weight": ["post_ffw_norm_2.weight"],
    "self_attn.q_proj.weight": ["attn_q.weight"],
    "self_attn.k_proj.weight": ["attn_k.weight"],
    "self_attn.v_proj.weight": ["attn_v.weight"],
    "self_attn.o_proj.weight": ["attn_output.weight"],
    "self_attn.q_norm.weight": ["attn_q_norm.weight"],
    "self_attn.k_norm.weight": ["attn_k_norm.weight"],
    "mlp.gate_proj.weight": ["ffn_gate.weight"],
    "mlp.up_proj.weight": ["ffn_up.weight"],
    "mlp.down_proj.weight": ["ffn_down.weight"],
    "router.proj.weight": ["ffn_gate_inp.weight"],
    "router.scale": ["ffn_gate_inp.scale", "ffn_gate_inp_scale.weight"],
    "router.per_expert_scale": ["ffn_down_exps.scale", "ffn_down_exps_scale.weight"],
    "experts.gate_up_proj": ["ffn_gate_up_exps.weight", "@split"],
    "experts.down_proj": ["ffn_down_exps.weight"],
}
GLOBAL_MAP = {
    "embed_tokens.weight": ["token_embd.weight"],
    "norm.weight": ["output_norm.weight"],
    "self_conditioning.pre_norm.weight": ["self_cond_pre_norm.weight"],
    "self_conditioning.gate_proj.weight": ["self_cond_gate.weight"],
    "self_conditioning.up_proj.weight": ["self_cond_up.weight"],
    "self_conditioning.down_proj.weight": ["self_cond_down.weight"],
}


def gguf_source(r, hf_name):
    """The GGUF array for one HF parameter/buffer name, or None for parts we do not load."""
    name = hf_name
    encoder = False
    for pre in ("model.decoder.", "decoder."):
        if name.startswith(pre):
            name = name[len(pre):]
            break
    else:
        for pre in ("model.encoder.language_model.", "encoder_text.", "model.encoder."):
            if name.startswith(pre):
                name, encoder = name[len(pre):], True
                break
    if name == "lm_head.weight":
        return r.tensor("token_embd.weight")
    if name in GLOBAL_MAP:
        return r.tensor(GLOBAL_MAP[name][0])
    m = re.match(r"layers\.(\d+)\.(.+)$", name)
    if not m:
        return None
    i, rest = int(m.group(1)), m.group(2)
    p = "blk.%d." % i
    if rest == "layer_scalar":
        names = ([p + "enc_layer_output_scale.weight", p + "enc_layer_output_scale"] if encoder
                 else []) + [p + "layer_output_scale.weight", p + "layer_output_scale"]
        for n in names:
            if r.has(n):
                return r.tensor(n).reshape(-1)[:1]
        raise KeyError("no layer_output_scale for layer %d" % i)
    if rest not in LAYER_MAP:
        return None
    for n in LAYER_MAP[rest]:
        if n == "@split":
            g, u = r.tensor(p + "ffn_gate_exps.weight"), r.tensor(p + "ffn_up_exps.weight")
            return np.concatenate([g, u], axis=1)
        if r.has(p + n):
            return r.tensor(p + n)
    raise KeyError("GGUF has none of %s for HF %s" % (LAYER_MAP[rest], hf_name))


def load_weights(model, r):
    import torch

    loaded, skipped = [], []
    items = list(model.named_parameters(remove_duplicate=False)) + \
        list(model.named_buffers(remove_duplicate=False))
    for name, t in items:
        if any(s in name for s in ("vision_tower", "embed_vision", "rotary_emb", "inv_freq",
                                   "embed_scale")):
            skipped.append(name)
            continue
        src = gguf_source(r, name)
        if src is None:
            skipped.append(name)
            continue
        if tuple(src.shape) != tuple(t.shape):
            raise ValueError("shape mismatch for %s: HF %s, GGUF %s"
                             % (name, tuple(t.shape), tuple(src.shape)))
        with torch.no_grad():
            t.copy_(torch.from_numpy(np.ascontiguousarray(src, dtype=np.float32)))
        loaded.append(name)
    unexpected = [n for n in skipped if not any(
        s in n for s in ("vision_tower", "embed_vision", "rotary_emb", "inv_freq", "embed_scale",
                         "input_min", "input_max", "output_min", "output_max"))]
    if unexpected:
        raise ValueError("HF tensors with no GGUF source: %s" % unexpected[:20])
    return loaded, skipped


# ------------------------------------------------------------------ running the cases

def new_cache(cfg):
    from transformers import DynamicCache
    try:
        return DynamicCache(config=cfg.get_text_config(decoder=True))
    except TypeError:
        return DynamicCache(config=cfg.text_config)


def run_case(model, cfg, g, case, fixture, device):
    import torch

    enc = model.model.encoder if hasattr(model, "model") else model.encoder_text
    dec = model.model.decoder if hasattr(model, "model") else model.decoder
    emb = dec.embed_tokens.weight
    cache = new_cache(cfg)

    def ids(x):
        return torch.tensor([x], dtype=torch.long, device=device)

    L = 0
    with torch.no_grad():
        for chunk in [case["prompt_ids"]] + list(case["commit_ids"]):
            pos = torch.arange(L, L + len(chunk), device=device).unsqueeze(0)
            enc(input_ids=ids(chunk), past_key_values=cache, position_ids=pos)
            L += len(chunk)
        seen = cache.get_seq_length(0) if hasattr(cache, "get_seq_length") else None
        sc = None
        if case.get("sc_logits"):
            a = np.fromfile(os.path.join(fixture, case["sc_logits"]), dtype="<f4")
            sc = torch.from_numpy(a.reshape(1, len(case["canvas_ids"]), -1)).to(device)
        C = len(case["canvas_ids"])
        dpos = torch.arange(L, L + C, device=device).unsqueeze(0)
        out = dec(decoder_input_ids=ids(case["canvas_ids"]), past_key_values=cache,
                  self_conditioning_logits=sc, decoder_position_ids=dpos)
        h = out.last_hidden_state if hasattr(out, "last_hidden_state") else out[0]
        logits = (h @ emb.T).to(torch.float32)
        cap = g["final_logit_softcapping"]
        if cap:
            logits = torch.tanh(logits / cap) * cap
        result = logits[0].cpu().numpy()
        # cross-check: the whole model's forward (lm_head tied) on the same cache
        full_diff = None
        if hasattr(model, "lm_head"):
            try:
                o2 = model(past_key_values=cache, decoder_input_ids=ids(case["canvas_ids"]),
                           self_conditioning_logits=sc, decoder_position_ids=dpos)
                full_diff = float(np.max(np.abs(o2.logits[0].float().cpu().numpy() - result)))
            except Exception as e:  # noqa: BLE001
                full_diff = "model.forward failed: %s: %s" % (type(e).__name__, e)
    return result, {"context": L, "cache_seq_length": int(seen) if seen is not None else None,
                    "forward_vs_parts_max_abs_diff": full_diff}


def rope_check(model, g):
    """HF's inverse frequencies against the GGUF's (theta^(-2i/d), zero past the rotated part)."""
    dec = model.model.decoder if hasattr(model, "model") else model.decoder
    rot = dec.rotary_emb
    out = {}
    for lt, theta, d in (("sliding_attention", g["theta_swa"], g["head_dim"]),
                         ("full_attention", g["theta"], g["global_head_dim"])):
        f = getattr(rot, lt + "_inv_freq", None)
        if f is None:
            continue
        want = theta ** (-np.arange(0, d, 2) / d)
        if lt == "full_attention":
            n = int(g["partial_rotary_factor"] * d // 2)
            want[n:] = 0.0
        got = f.detach().cpu().double().numpy()
        out[lt] = ("shape %s vs %s" % (got.shape, want.shape) if got.shape != want.shape
                   else float(np.max(np.abs(got - want))))
    return out


def do_fixture(fixture, outdir, device):
    import torch

    with open(os.path.join(fixture, "inputs.json")) as f:
        desc = json.load(f)
    name = os.path.basename(os.path.normpath(fixture))
    od = os.path.join(outdir, name)
    os.makedirs(od, exist_ok=True)
    rep = {"fixture": name, "device": str(device), "torch": torch.__version__,
           "python": platform.python_version(), "cases": [], "errors": []}

    def save():
        with open(os.path.join(od, "hf.json"), "w") as f:
            json.dump(rep, f, indent=1, default=str)

    r = gguf.Reader(os.path.join(fixture, desc["model"]))
    g = gguf_config(r)
    rep["config"] = g
    log("[%s] config: %s" % (name, json.dumps(g)))
    save()
    model, cfg, kind, build_errors, tv = build_model(g, device)
    rep.update({"transformers": tv, "model_class": kind, "build_attempt_errors": build_errors})
    loaded, skipped = load_weights(model, r)
    rep["weights_loaded"], rep["weights_skipped"] = len(loaded), skipped
    log("[%s] %s, transformers %s: %d tensors loaded, %d skipped"
        % (name, kind, tv, len(loaded), len(skipped)))
    rep["rope_check_max_abs_diff"] = rope_check(model, g)
    log("[%s] rope inv_freq vs GGUF: %s" % (name, rep["rope_check_max_abs_diff"]))
    save()
    offset = 0
    path = os.path.join(od, "hf_logits.f32")
    with open(path, "wb") as out:
        for case in desc["cases"]:
            t0 = time.time()
            try:
                logits, info = run_case(model, cfg, g, case, fixture, device)
            except Exception as e:  # noqa: BLE001 - record, go on with the next case
                rep["errors"].append("%s: %s: %s" % (case["name"], type(e).__name__, e))
                log("[%s] case %s FAILED:\n%s" % (name, case["name"], traceback.format_exc()))
                rep["cases"].append({"name": case["name"], "ok": False})
                save()
                continue
            logits.astype("<f4").tofile(out)
            out.flush()
            entry = {"name": case["name"], "ok": True, "offset_floats": offset,
                     "rows": int(logits.shape[0]), "cols": int(logits.shape[1]),
                     "seconds": round(time.time() - t0, 3), **info}
            offset += logits.size
            rep["cases"].append(entry)
            log("[%s] case %-10s done: %s" % (name, case["name"], json.dumps(entry)))
            save()
    return not rep["errors"]


def main():
    global LOG
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("fixtures", nargs="+", help="folders made by make_fixture.py")
    ap.add_argument("--out", required=True, help="output folder ($OUT on the device)")
    ap.add_argument("--device", default=None, help="cuda or cpu (default: cuda if available)")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    LOG = open(os.path.join(a.out, "hf_golden.log"), "w")
    try:
        import torch
    except ImportError as e:
        log("hf_golden: torch is not installed here (%s)" % e)
        return 2
    try:
        import transformers  # noqa: F401
        from transformers import DiffusionGemmaConfig  # noqa: F401
    except ImportError as e:
        log("hf_golden: transformers with DiffusionGemma is not installed here (%s)" % e)
        return 2
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")
    device = torch.device(a.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    log("hf_golden: torch %s, transformers %s, device %s"
        % (torch.__version__, transformers.__version__, device))
    ok = True
    for fx in a.fixtures:
        try:
            ok = do_fixture(fx, a.out, device) and ok
        except Exception:  # noqa: BLE001 - one fixture's failure must not lose the others
            log("hf_golden: fixture %s FAILED:\n%s" % (fx, traceback.format_exc()))
            ok = False
    log("hf_golden: %s" % ("all cases computed" if ok else "some cases FAILED (see above)"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
