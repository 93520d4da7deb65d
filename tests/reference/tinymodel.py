"""A small random DiffusionGemma GGUF written by the reference's own writer.

For the reference's self-tests and for trying the tools before `sibyl mkmodel` is at hand;
the fidelity test proper uses the project's model writer. Dimensions are tiny but keep
every feature of the real model: sliding and global layers with different head dims and
kv-head counts, global layers without attn_v, partial ("proportional") RoPE on global
layers, a sliding window shorter than the test prompts, MoE with top-k, separate encoder
and decoder layer scalars, self-conditioning block, softcap.

    /usr/bin/python3 tests/reference/tinymodel.py OUT.gguf [--seed N] [--q8]
"""

import argparse
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gguf  # noqa: E402

ARCH = "diffusion-gemma"


def make(path, seed=1, q8=False, hidden=64, n_heads=4, layers=("s", "s", "g"), d_swa=16,
         kv_swa=2, d_global=32, kv_global=1, ffn=96, experts=8, top_k=2, exp_ffn=32,
         vocab=512, window=8, canvas=16, rope_rot=4, emb_std=0.3, qk_norm=1.0, router_std=None):
    rng = np.random.default_rng(seed)
    w = gguf.GGUFWriter()
    nl = len(layers)
    sliding = [t == "s" for t in layers]
    U32, F32 = gguf.T_U32, gguf.T_F32
    w.add("general.architecture", gguf.T_STR, ARCH)
    w.add("general.name", gguf.T_STR, "reference-tiny-random")
    w.add(ARCH + ".block_count", U32, nl)
    w.add(ARCH + ".context_length", U32, 4096)
    w.add(ARCH + ".embedding_length", U32, hidden)
    w.add(ARCH + ".feed_forward_length", U32, ffn)
    w.add(ARCH + ".attention.head_count", U32, n_heads)
    w.add(ARCH + ".attention.head_count_kv", gguf.T_ARR,
          (gguf.T_I32, [kv_swa if s else kv_global for s in sliding]))
    w.add(ARCH + ".attention.key_length", U32, d_global)
    w.add(ARCH + ".attention.value_length", U32, d_global)
    w.add(ARCH + ".attention.key_length_swa", U32, d_swa)
    w.add(ARCH + ".attention.value_length_swa", U32, d_swa)
    w.add(ARCH + ".attention.layer_norm_rms_epsilon", F32, 1e-6)
    w.add(ARCH + ".attention.sliding_window", U32, window)
    w.add(ARCH + ".attention.sliding_window_pattern", gguf.T_ARR, (gguf.T_BOOL, sliding))
    w.add(ARCH + ".rope.freq_base", F32, 1e6)
    w.add(ARCH + ".rope.freq_base_swa", F32, 1e4)
    w.add(ARCH + ".rope.dimension_count", U32, d_global)
    w.add(ARCH + ".rope.dimension_count_swa", U32, d_swa)
    w.add(ARCH + ".expert_count", U32, experts)
    w.add(ARCH + ".expert_used_count", U32, top_k)
    w.add(ARCH + ".expert_feed_forward_length", U32, exp_ffn)
    w.add(ARCH + ".final_logit_softcapping", F32, 30.0)
    w.add("diffusion.canvas_length", U32, canvas)

    mat_t = gguf.GGML_Q8_0 if q8 else gguf.GGML_F32

    def lin(out, inp):  # [out, in], std 1/sqrt(in): unit-variance outputs for unit inputs
        return rng.normal(0, 1 / math.sqrt(inp), (out, inp)).astype(np.float32)

    def norm_w(n):
        return (1.0 + 0.1 * rng.normal(size=n)).astype(np.float32)

    w.add_tensor("token_embd.weight", rng.normal(0, emb_std, (vocab, hidden)), mat_t)
    w.add_tensor("output_norm.weight", norm_w(hidden))
    rf = np.full(d_global // 2, 1e30, np.float32)
    rf[:rope_rot] = 1.0
    w.add_tensor("rope_freqs.weight", rf)
    w.add_tensor("self_cond_pre_norm.weight", norm_w(hidden))
    w.add_tensor("self_cond_gate.weight", lin(ffn, hidden), mat_t)
    w.add_tensor("self_cond_up.weight", lin(ffn, hidden), mat_t)
    w.add_tensor("self_cond_down.weight", lin(hidden, ffn), mat_t)
    for i, s in enumerate(sliding):
        p = "blk.%d." % i
        d, kv = (d_swa, kv_swa) if s else (d_global, kv_global)
        w.add_tensor(p + "attn_norm.weight", norm_w(hidden))
        w.add_tensor(p + "attn_q.weight", lin(n_heads * d, hidden), mat_t)
        w.add_tensor(p + "attn_k.weight", lin(kv * d, hidden), mat_t)
        if s:
            w.add_tensor(p + "attn_v.weight", lin(kv * d, hidden), mat_t)
        w.add_tensor(p + "attn_output.weight", lin(hidden, n_heads * d), mat_t)
        # q.k has no 1/sqrt(d): q_norm/k_norm weights set the score scale (qk_norm^2 * d)
        w.add_tensor(p + "attn_q_norm.weight", qk_norm * norm_w(d))
        w.add_tensor(p + "attn_k_norm.weight", qk_norm * norm_w(d))
        for n in ("post_attention_norm", "ffn_norm", "post_ffw_norm_1", "pre_ffw_norm_2",
                  "post_ffw_norm_2", "post_ffw_norm"):
            w.add_tensor(p + n + ".weight", norm_w(hidden))
        w.add_tensor(p + "ffn_gate.weight", lin(ffn, hidden), mat_t)
        w.add_tensor(p + "ffn_up.weight", lin(ffn, hidden), mat_t)
        w.add_tensor(p + "ffn_down.weight", lin(hidden, ffn), mat_t)
        # router input has element rms ~ 1/sqrt(hidden): std router_std gives logits of std
        # ~router_std (decided routing); None: 1/sqrt(hidden) as for any matrix (near ties)
        rs = router_std if router_std is not None else 1 / math.sqrt(hidden)
        w.add_tensor(p + "ffn_gate_inp.weight",
                     rng.normal(0, rs, (experts, hidden)).astype(np.float32), mat_t)
        w.add_tensor(p + "ffn_gate_inp.scale", norm_w(hidden))
        # [E, 2F, H]: per expert the gate rows first, then the up rows
        gu = np.stack([np.concatenate([lin(exp_ffn, hidden), lin(exp_ffn, hidden)])
                       for _ in range(experts)])
        w.add_tensor(p + "ffn_gate_up_exps.weight", gu, mat_t)
        w.add_tensor(p + "ffn_down_exps.weight",
                     np.stack([lin(hidden, exp_ffn) for _ in range(experts)]), mat_t)
        w.add_tensor(p + "ffn_down_exps.scale", norm_w(experts))
        w.add_tensor(p + "layer_output_scale.weight", np.array([0.9 + 0.2 * rng.random()], np.float32))
        w.add_tensor(p + "enc_layer_output_scale.weight",
                     np.array([0.9 + 0.2 * rng.random()], np.float32))
    w.write(path)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--q8", action="store_true", help="store matrices as Q8_0")
    a = ap.parse_args()
    make(a.out, seed=a.seed, q8=a.q8)
