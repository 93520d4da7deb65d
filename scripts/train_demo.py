#!/usr/bin/python3
"""Train the demo model: a small DiffusionGemma that adds two numbers, and export it as GGUF.

The task: the user turn of the Gemma 4 chat template holds "A+B" (A, B in 0..10^D-1, written
in decimal without leading zeros); the answer canvas holds the decimal digits of A+B, then
<eos>, then <pad> up to the canvas length. Any program (or contract) can check the answer.

The architecture is DiffusionGemma's (shared/design/diffusiongemma.md sections 2-3, the same
math as tests/reference/dgemma.py): RMSNorm without +1, q/k norms and weightless v norm,
attention scale 1.0, sliding layers (own V, RoPE theta 1e4 over the whole head) and a global
last layer (V = raw K, proportional RoPE theta 1e6 over a quarter of the pairs), dense MLP in
parallel with a top-k MoE whose router reads the raw residual, separate encoder and decoder
layer scalars, final softcap 30, tied embedding, and the decoder's self-conditioning block.

Training objective (uniform-state diffusion, as DiffusionGemma): draw t ~ U(0,1) per example,
replace each answer-canvas token with probability t by a uniformly random id of the whole
vocabulary, and predict the clean canvas with cross-entropy on every canvas position. Self-
conditioning: for half of the examples a first pass without SC gives logits z; the second
pass gets softmax(z / tau) (detached, tau ~ U(0.4, 0.8), the sampler's temperature range) as
its SC input, as the engine's sampler feeds the previous step's tempered logits.

One training pass runs prompt and canvas together (like llama.cpp's diffusion-gemma-eval):
prompt rows are the encoder (causal, encoder scalar, embedding * sqrt(H)), canvas rows the
decoder (bidirectional over the whole prompt and canvas, decoder scalar, SC input), which is
the same computation as an encoder prefill followed by one decoder pass over the cache.

    scripts/train-demo                  # the wrapper: installs python3-torch, builds sibyl
    /usr/bin/python3 scripts/train_demo.py --sibyl build/cli/sibyl --out models/demo-add.gguf

Determinism: all randomness comes from torch.Generator / numpy generators seeded from
--seed; torch runs with a fixed thread count (--threads). See docs/demo-model.md.
"""

import argparse
import math
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "reference"))
import gguf  # noqa: E402

ARCH = "diffusion-gemma"


# ---------------------------------------------------------------------------- configuration

class Cfg:
    hidden = 64
    n_head = 4
    d_swa, kv_swa = 16, 2       # sliding layers: head dim, KV heads
    d_glob, kv_glob = 32, 1     # global layers
    layers = ("s", "s", "s", "g")
    ff = 128                    # dense MLP and SC MLP
    n_exp, top_k, exp_ff = 4, 2, 64
    vocab = 512                 # sibyl mkmodel's small Gemma 4 vocabulary (preset tiny)
    canvas = 8
    window = 64
    context = 128
    theta_swa, theta_glob = 1e4, 1e6
    softcap = 30.0
    eps = 1e-6
    # sampler defaults written into the file (diffusion.eb_*)
    eb_max_steps = 8


# ---------------------------------------------------------------------------- tokens and data

def c_prompt_ids(sibyl, base_gguf, questions):
    """Prompt ids of each question as the C tokenizer makes them (chat template, one user turn)."""
    with tempfile.NamedTemporaryFile("w", suffix=".tsv", delete=False) as f:
        for q in questions:
            f.write(q + "\t0\n")
        path = f.name
    try:
        out = subprocess.run([sibyl, "eval-demo", "-m", base_gguf, "-f", path, "--ids"],
                             check=True, capture_output=True, text=True).stdout
    finally:
        os.unlink(path)
    rows = []
    for line in out.splitlines():
        if line.startswith("prompt:"):
            rows.append([int(x) for x in line.split(":", 1)[1].split()])
    if len(rows) != len(questions):
        raise SystemExit("sibyl eval-demo --ids gave %d rows for %d questions"
                         % (len(rows), len(questions)))
    return rows


class Tokens:
    """Prompt = PREFIX + chars of "A+B" + SUFFIX; taken from the C tokenizer and checked."""

    def __init__(self, sibyl, base_gguf):
        r = gguf.Reader(base_gguf)
        toks = r.get("tokenizer.ggml.tokens")
        self.char = {c: toks.index(c) for c in "0123456789+"}
        self.eos = int(r.get("tokenizer.ggml.eos_token_id"))
        self.pad = int(r.get("tokenizer.ggml.padding_token_id"))
        probe = "0123456789+0"
        ids = c_prompt_ids(sibyl, base_gguf, [probe])[0]
        body = [self.char[c] for c in probe]
        for i in range(len(ids) - len(body) + 1):
            if ids[i:i + len(body)] == body:
                self.prefix, self.suffix = ids[:i], ids[i + len(body):]
                break
        else:
            raise SystemExit("the C tokenizer does not write digits and '+' one token each")

    def prompt(self, q):
        return self.prefix + [self.char[c] for c in q] + self.suffix

    def answer(self, s, canvas):
        ids = [self.char[c] for c in s] + [self.eos]
        return ids + [self.pad] * (canvas - len(ids))


def draw_numbers(rng, n, digits):
    """n numbers: digit count uniform in 1..digits, then uniform among numbers of that length."""
    nd = rng.integers(1, digits + 1, n)
    lo = np.where(nd == 1, 0, 10 ** (nd - 1))
    hi = 10 ** nd
    return lo + (rng.random(n) * (hi - lo)).astype(np.int64)


def held_out(a, b):
    """The fixed split of the question space: a pair is held out (never trained on) iff this
    hash puts it in the first of 10 buckets. Splitting the pair space, rather than holding out
    whatever the test draw happens to hit, keeps 90 % of every small pool (e.g. the 100
    one-digit + one-digit pairs) in training."""
    h = ((int(a) * 1000003 + int(b)) * 0x9E3779B1) & 0xFFFFFFFF
    return (h >> 16) % 10 == 0


def test_set(seed, digits, n=1000):
    """The held-out examples: n distinct held-out pairs drawn from the task's distribution,
    fixed by (seed, digits)."""
    rng = np.random.Generator(np.random.PCG64([seed, 0x7e57]))
    pairs, seen = [], set()
    while len(pairs) < n:
        a, b = draw_numbers(rng, 1, digits)[0], draw_numbers(rng, 1, digits)[0]
        if held_out(a, b) and (a, b) not in seen:
            seen.add((a, b))
            pairs.append((int(a), int(b)))
    return pairs


# ---------------------------------------------------------------------------- the model (torch)

def rmsnorm(x, w=None, eps=1e-6):
    y = x * torch.rsqrt(torch.mean(x * x, dim=-1, keepdim=True) + eps)
    return y * w if w is not None else y


def gelu_tanh(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x * x * x)))


def rope(x, cos, sin):
    """x [B,T,h,d]; cos/sin [B,T,1,d/2]: rotate-half (NeoX) over the whole head."""
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1)


class DGemma(torch.nn.Module):
    def __init__(self, c, gen):
        super().__init__()
        self.c = c
        H = c.hidden
        P = torch.nn.Parameter

        def mat(out, inp):
            return P(torch.randn(out, inp, generator=gen) / math.sqrt(inp))

        def ones(n, scale=1.0):
            return P(torch.full((n,), scale))

        self.embd = P(torch.randn(c.vocab, H, generator=gen) * (1.0 / math.sqrt(H)))
        self.output_norm = ones(H)
        self.sc_pre_norm = ones(H)
        self.sc_gate, self.sc_up, self.sc_down = mat(c.ff, H), mat(c.ff, H), mat(H, c.ff)
        self.blocks = torch.nn.ModuleList()
        for t in c.layers:
            b = torch.nn.Module()
            b.sliding = t == "s"
            d, kv = (c.d_swa, c.kv_swa) if b.sliding else (c.d_glob, c.kv_glob)
            b.d, b.kv = d, kv
            b.attn_norm = ones(H)
            b.wq, b.wk = mat(c.n_head * d, H), mat(kv * d, H)
            b.wv = mat(kv * d, H) if b.sliding else None
            b.wo = mat(H, c.n_head * d)
            qk = math.sqrt(2.0) * d ** -0.25  # q.k over d dims has std ~2 at init
            b.q_norm, b.k_norm = ones(d, qk), ones(d, qk)
            b.post_attn_norm, b.ffn_norm = ones(H), ones(H)
            b.gate, b.up, b.down = mat(c.ff, H), mat(c.ff, H), mat(H, c.ff)
            b.post_ffw_norm_1, b.pre_ffw_norm_2 = ones(H), ones(H)
            b.post_ffw_norm_2, b.post_ffw_norm = ones(H), ones(H)
            b.router = P(torch.randn(c.n_exp, H, generator=gen))
            b.router_scale = ones(H)
            b.exp_gate = P(torch.randn(c.n_exp, c.exp_ff, H, generator=gen) / math.sqrt(H))
            b.exp_up = P(torch.randn(c.n_exp, c.exp_ff, H, generator=gen) / math.sqrt(H))
            b.exp_down = P(torch.randn(c.n_exp, H, c.exp_ff, generator=gen) / math.sqrt(c.exp_ff))
            b.per_expert_scale = ones(c.n_exp)
            b.scale_enc, b.scale_dec = ones(1), ones(1)
            theta = c.theta_swa if b.sliding else c.theta_glob
            inv = theta ** (-torch.arange(0, d, 2, dtype=torch.float64) / d)
            if not b.sliding:  # proportional RoPE: only the first d/8 pairs rotate
                inv[d // 8:] = 0.0
            b.register_buffer("inv_freq", inv.float(), persistent=False)
            self.blocks.append(b)

    def ffn(self, b, r):
        c = self.c
        a = rmsnorm(r, b.ffn_norm)
        m = F.linear(gelu_tanh(F.linear(a, b.gate)) * F.linear(a, b.up), b.down)
        m = rmsnorm(m, b.post_ffw_norm_1)
        z = rmsnorm(r) * b.router_scale * (c.hidden ** -0.5)
        p = torch.softmax(F.linear(z, b.router), dim=-1)            # [B,T,E]
        top_p, top_i = torch.topk(p, c.top_k, dim=-1)
        w = top_p / top_p.sum(-1, keepdim=True)
        w = w * b.per_expert_scale[top_i]
        wfull = torch.zeros_like(p).scatter(-1, top_i, w)           # [B,T,E]
        x = rmsnorm(r, b.pre_ffw_norm_2)
        g = torch.einsum("bth,efh->btef", x, b.exp_gate)
        u = torch.einsum("bth,efh->btef", x, b.exp_up)
        y = torch.einsum("btef,ehf->bteh", gelu_tanh(g) * u, b.exp_down)
        e = torch.einsum("bteh,bte->bth", y, wfull)
        e = rmsnorm(e, b.post_ffw_norm_2)
        return r + rmsnorm(m + e, b.post_ffw_norm)

    def forward(self, prompt, plen, canvas, sc_probs=None):
        """prompt [B,Pm] (padded), plen [B], canvas [B,K,C]: K independent canvases per prompt
        (each one decoder pass over the same encoded prompt; they do not see each other),
        sc_probs [B,K,C,V] or None. Returns canvas logits [B,K,C,V] (softcapped)."""
        c = self.c
        B, Pm = prompt.shape
        _, K, C = canvas.shape
        N = K * C
        T = Pm + N
        s = math.sqrt(c.hidden)
        dev = prompt.device
        ar_p = torch.arange(Pm, device=dev)
        ar_n = torch.arange(N, device=dev)
        pvalid = ar_p[None, :] < plen[:, None]                        # [B,Pm]
        pos = torch.cat([ar_p[None, :].expand(B, Pm),
                         plen[:, None] + (ar_n % C)[None, :]], 1)     # [B,T]
        # encoder rows
        xe = self.embd[prompt] * s
        # decoder rows: embedding + self-conditioning, then the weightless norm
        e = self.embd[canvas.reshape(B, N)] * s
        if sc_probs is not None:
            soft = torch.matmul(sc_probs.reshape(B, N, -1), self.embd) * s
            g = rmsnorm(soft, self.sc_pre_norm)
            e = e + F.linear(gelu_tanh(F.linear(g, self.sc_gate)) * F.linear(g, self.sc_up),
                             self.sc_down)
        xd = rmsnorm(e)
        x = torch.cat([xe, xd], 1)                                    # [B,T,H]
        is_dec = torch.cat([torch.zeros(Pm, dtype=torch.bool, device=dev),
                            torch.ones(N, dtype=torch.bool, device=dev)])
        block = torch.cat([torch.full((Pm,), -1, device=dev), ar_n // C])
        # masks [B,T(query),T(key)]
        kvalid = torch.cat([pvalid, torch.ones(B, N, dtype=torch.bool, device=dev)], 1)
        qi = torch.arange(T, device=dev)
        causal = qi[None, :] <= qi[:, None]                           # key <= query
        enc_mask = causal[None] & kvalid[:, None, :] & ~is_dec[None, None, :]
        same = (block[:, None] == block[None, :]) & is_dec[None, :]  # canvas key, own canvas
        dec_mask = (kvalid & ~is_dec[None, :])[:, None, :] | same[None]
        base = torch.where(is_dec[None, :, None], dec_mask, enc_mask)
        # sliding: encoder query i sees key j iff pos_i - W < pos_j; decoder sees the last W-1
        # cached prompt positions (and its whole canvas)
        pq, pk = pos[:, :, None], pos[:, None, :]
        enc_win = pk > pq - c.window
        dec_win = (pk >= plen[:, None, None] - (c.window - 1)) | is_dec[None, None, :]
        slide = base & torch.where(is_dec[None, :, None], dec_win, enc_win)
        eye = torch.eye(T, dtype=torch.bool, device=dev)[None]        # pad rows: see themselves
        base, slide = base | eye, slide | eye
        scale = torch.where(is_dec, 1.0, 0.0)[None, :, None]
        for b in self.blocks:
            h = rmsnorm(x, b.attn_norm)
            ang = pos[:, :, None].float() * b.inv_freq[None, None, :]
            cos, sin = torch.cos(ang)[:, :, None, :], torch.sin(ang)[:, :, None, :]
            q = F.linear(h, b.wq).view(B, T, c.n_head, b.d)
            q = rope(rmsnorm(q, b.q_norm), cos, sin)
            kraw = F.linear(h, b.wk).view(B, T, b.kv, b.d)
            v = F.linear(h, b.wv).view(B, T, b.kv, b.d) if b.sliding else kraw
            v = rmsnorm(v)
            k = rope(rmsnorm(kraw, b.k_norm), cos, sin)
            rep = c.n_head // b.kv
            k = k.repeat_interleave(rep, dim=2)
            v = v.repeat_interleave(rep, dim=2)
            att = torch.einsum("bqhd,bkhd->bhqk", q, k)
            mask = slide if b.sliding else base
            att = att.masked_fill(~mask[:, None], float("-inf"))
            o = torch.einsum("bhqk,bkhd->bqhd", torch.softmax(att, -1), v).reshape(B, T, -1)
            x = x + rmsnorm(F.linear(o, b.wo), b.post_attn_norm)
            lsc = b.scale_dec * scale + b.scale_enc * (1.0 - scale)
            x = self.ffn(b, x) * lsc
        h = rmsnorm(x[:, Pm:], self.output_norm)
        logits = F.linear(h, self.embd)
        return (c.softcap * torch.tanh(logits / c.softcap)).view(B, K, C, -1)


# ---------------------------------------------------------------------------- export

def export(model, tok_gguf, path, cfg, name):
    c = cfg
    r = gguf.Reader(tok_gguf)
    w = gguf.GGUFWriter()
    U32, F32, STR, ARR, BOOL = gguf.T_U32, gguf.T_F32, gguf.T_STR, gguf.T_ARR, gguf.T_BOOL
    sliding = [t == "s" for t in c.layers]
    A = ARCH + "."
    w.add("general.architecture", STR, ARCH)
    w.add("general.name", STR, name)
    w.add(A + "block_count", U32, len(c.layers))
    w.add(A + "context_length", U32, c.context)
    w.add(A + "embedding_length", U32, c.hidden)
    w.add(A + "feed_forward_length", U32, c.ff)
    w.add(A + "attention.head_count", U32, c.n_head)
    w.add(A + "attention.head_count_kv", ARR,
          (gguf.T_I32, [c.kv_swa if s else c.kv_glob for s in sliding]))
    w.add(A + "attention.key_length", U32, c.d_glob)
    w.add(A + "attention.value_length", U32, c.d_glob)
    w.add(A + "attention.key_length_swa", U32, c.d_swa)
    w.add(A + "attention.value_length_swa", U32, c.d_swa)
    w.add(A + "attention.layer_norm_rms_epsilon", F32, c.eps)
    w.add(A + "attention.sliding_window", U32, c.window)
    w.add(A + "attention.sliding_window_pattern", ARR, (BOOL, sliding))
    w.add(A + "attention.causal", BOOL, False)
    w.add(A + "rope.freq_base", F32, c.theta_glob)
    w.add(A + "rope.freq_base_swa", F32, c.theta_swa)
    w.add(A + "rope.dimension_count", U32, c.d_glob)
    w.add(A + "rope.dimension_count_swa", U32, c.d_swa)
    w.add(A + "expert_count", U32, c.n_exp)
    w.add(A + "expert_used_count", U32, c.top_k)
    w.add(A + "expert_feed_forward_length", U32, c.exp_ff)
    w.add(A + "final_logit_softcapping", F32, c.softcap)
    w.add("diffusion.canvas_length", U32, c.canvas)
    w.add("diffusion.eb_max_steps", U32, c.eb_max_steps)
    w.add("diffusion.eb_t_min", F32, 0.4)
    w.add("diffusion.eb_t_max", F32, 0.8)
    w.add("diffusion.eb_entropy_bound", F32, 0.1)
    w.add("diffusion.eb_stability_threshold", U32, 1)
    w.add("diffusion.eb_confidence_threshold", F32, 0.005)
    # the vocabulary exactly as sibyl mkmodel writes it
    w.add("tokenizer.ggml.model", STR, r.get("tokenizer.ggml.model"))
    w.add("tokenizer.ggml.pre", STR, r.get("tokenizer.ggml.pre"))
    w.add("tokenizer.ggml.tokens", ARR, (STR, r.get("tokenizer.ggml.tokens")))
    w.add("tokenizer.ggml.scores", ARR, (F32, [float(x) for x in r.get("tokenizer.ggml.scores")]))
    w.add("tokenizer.ggml.token_type", ARR,
          (gguf.T_I32, [int(x) for x in r.get("tokenizer.ggml.token_type")]))
    w.add("tokenizer.ggml.merges", ARR, (STR, r.get("tokenizer.ggml.merges")))
    for k in ("bos_token_id", "eos_token_id", "padding_token_id", "unknown_token_id"):
        w.add("tokenizer.ggml." + k, U32, int(r.get("tokenizer.ggml." + k)))
    w.add("tokenizer.ggml.add_bos_token", BOOL, bool(r.get("tokenizer.ggml.add_bos_token")))
    w.add("tokenizer.ggml.add_space_prefix", BOOL, False)
    w.add("tokenizer.chat_template", STR, r.get("tokenizer.chat_template"))

    def t(x):
        return x.detach().cpu().numpy().astype(np.float32)

    m = model
    w.add_tensor("token_embd.weight", t(m.embd))
    w.add_tensor("output_norm.weight", t(m.output_norm))
    rf = np.full(c.d_glob // 2, 1e30, np.float32)
    rf[:c.d_glob // 8] = 1.0
    w.add_tensor("rope_freqs.weight", rf)
    w.add_tensor("self_cond_pre_norm.weight", t(m.sc_pre_norm))
    w.add_tensor("self_cond_gate.weight", t(m.sc_gate))
    w.add_tensor("self_cond_up.weight", t(m.sc_up))
    w.add_tensor("self_cond_down.weight", t(m.sc_down))
    for i, b in enumerate(m.blocks):
        p = "blk.%d." % i
        w.add_tensor(p + "attn_norm.weight", t(b.attn_norm))
        w.add_tensor(p + "attn_q.weight", t(b.wq))
        w.add_tensor(p + "attn_k.weight", t(b.wk))
        if b.sliding:
            w.add_tensor(p + "attn_v.weight", t(b.wv))
        w.add_tensor(p + "attn_output.weight", t(b.wo))
        w.add_tensor(p + "attn_q_norm.weight", t(b.q_norm))
        w.add_tensor(p + "attn_k_norm.weight", t(b.k_norm))
        w.add_tensor(p + "post_attention_norm.weight", t(b.post_attn_norm))
        w.add_tensor(p + "ffn_norm.weight", t(b.ffn_norm))
        w.add_tensor(p + "ffn_gate.weight", t(b.gate))
        w.add_tensor(p + "ffn_up.weight", t(b.up))
        w.add_tensor(p + "ffn_down.weight", t(b.down))
        w.add_tensor(p + "post_ffw_norm_1.weight", t(b.post_ffw_norm_1))
        w.add_tensor(p + "pre_ffw_norm_2.weight", t(b.pre_ffw_norm_2))
        w.add_tensor(p + "post_ffw_norm_2.weight", t(b.post_ffw_norm_2))
        w.add_tensor(p + "post_ffw_norm.weight", t(b.post_ffw_norm))
        w.add_tensor(p + "ffn_gate_inp.weight", t(b.router))
        w.add_tensor(p + "ffn_gate_inp.scale", t(b.router_scale))
        w.add_tensor(p + "ffn_gate_up_exps.weight",
                     np.concatenate([t(b.exp_gate), t(b.exp_up)], axis=1))  # [E, 2F, H]
        w.add_tensor(p + "ffn_down_exps.weight", t(b.exp_down))              # [E, H, F]
        w.add_tensor(p + "ffn_down_exps.scale", t(b.per_expert_scale))
        w.add_tensor(p + "layer_output_scale.weight", t(b.scale_dec))
        w.add_tensor(p + "enc_layer_output_scale.weight", t(b.scale_enc))
    w.write(path)


def check_against_reference(model, path, tok, pairs):
    """The exported file through tests/reference/dgemma.py must give the torch logits."""
    import dgemma
    ref = dgemma.Model(gguf.Reader(path))
    worst = 0.0
    g = torch.Generator().manual_seed(5)
    for a, b in pairs:
        p = tok.prompt("%d+%d" % (a, b))
        cv = torch.randint(0, model.c.vocab, (model.c.canvas,), generator=g)
        with torch.no_grad():
            lt = model(torch.tensor([p]), torch.tensor([len(p)]), cv[None, None])[0, 0]
            sc = torch.softmax(lt / 0.6, -1)
            lt2 = model(torch.tensor([p]), torch.tensor([len(p)]), cv[None, None],
                        sc[None, None])[0, 0]
        cache = ref.new_cache()
        ref.encode(p, cache)
        lr = ref.decode(cv.numpy(), cache)
        lr2 = ref.decode(cv.numpy(), cache, sc_logits=lt.double().numpy() / 0.6)
        worst = max(worst, float(np.max(np.abs(lr - lt.double().numpy()))),
                    float(np.max(np.abs(lr2 - lt2.double().numpy()))))
    return worst


# ---------------------------------------------------------------------------- training

def batch(rng, tok, cfg, n, digits):
    a = draw_numbers(rng, n, digits)
    b = draw_numbers(rng, n, digits)
    keep = np.array([not held_out(x, y) for x, y in zip(a, b)])
    a, b = a[keep], b[keep]
    prompts = [tok.prompt("%d+%d" % (x, y)) for x, y in zip(a, b)]
    plen = torch.tensor([len(p) for p in prompts])
    Pm = int(plen.max())
    P = torch.full((len(prompts), Pm), tok.pad, dtype=torch.long)
    for i, p in enumerate(prompts):
        P[i, :len(p)] = torch.tensor(p)
    tgt = torch.tensor([tok.answer(str(int(x + y)), cfg.canvas) for x, y in zip(a, b)])
    return P, plen, tgt


def train(args, cfg, tok):
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    model = DGemma(cfg, gen)
    n_params = sum(p.numel() for p in model.parameters())
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    other = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01},
                             {"params": other, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.98))
    rng = np.random.Generator(np.random.PCG64([args.seed, 0xda7a]))
    ng = torch.Generator().manual_seed(args.seed + 1)
    print("parameters: %d" % n_params, flush=True)
    t0 = time.time()
    run_loss, run_acc = 0.0, 0.0
    for step in range(1, args.steps + 1):
        lr = args.lr * min(1.0, step / args.warmup)
        lr *= 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, step / args.steps)))
        for grp in opt.param_groups:
            grp["lr"] = lr
        P, plen, tgt = batch(rng, tok, cfg, args.batch, args.digits)
        B, C, K = tgt.shape[0], tgt.shape[1], args.canvases
        tgt = tgt[:, None, :].expand(B, K, C)
        t = torch.rand(B, K, 1, generator=ng)
        noise = torch.rand(B, K, C, generator=ng) < t
        rnd = torch.randint(0, cfg.vocab, (B, K, C), generator=ng)
        x = torch.where(noise, rnd, tgt)
        use_sc = (torch.rand(B, K, 1, 1, generator=ng) < 0.5).float()
        tau = 0.4 + 0.4 * torch.rand(B, K, 1, 1, generator=ng)
        with torch.no_grad():
            z = model(P, plen, x)
        sc = torch.softmax(z / tau, -1) * use_sc
        logits = model(P, plen, x, sc)
        loss = F.cross_entropy(logits.reshape(-1, cfg.vocab), tgt.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            acc = (logits.argmax(-1) == tgt).all(-1).float().mean().item()
        run_loss += loss.item()
        run_acc += acc
        if step % args.log_every == 0:
            k = args.log_every
            print("step %5d  lr %.2e  loss %.4f  canvas-exact %.3f  %.0f s"
                  % (step, lr, run_loss / k, run_acc / k, time.time() - t0), flush=True)
            run_loss, run_acc = 0.0, 0.0
        if args.ckpt and step % args.ckpt_every == 0:
            torch.save({"step": step, "model": model.state_dict()}, args.ckpt)
        if step == args.stop_after:
            break
    return model, n_params, time.time() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sibyl", required=True, help="the sibyl binary (tokenizer, vocabulary)")
    ap.add_argument("--out", required=True, help="output GGUF")
    ap.add_argument("--test-out", help="write the 1000 held-out examples here (QUESTION\\tANSWER)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--digits", type=int, default=2)
    ap.add_argument("--steps", type=int, default=2400)
    ap.add_argument("--batch", type=int, default=32, help="questions per step")
    ap.add_argument("--canvases", type=int, default=4,
                    help="noised answer canvases per question (share one encoder pass)")
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--log-every", type=int, default=50)
    ap.add_argument("--ckpt", help="save a torch checkpoint here every --ckpt-every steps")
    ap.add_argument("--ckpt-every", type=int, default=250)
    ap.add_argument("--stop-after", type=int, default=0,
                    help="end training after this step (the schedule still spans --steps)")
    ap.add_argument("--from-ckpt", help="skip training: export this checkpoint")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cfg = Cfg()
    with tempfile.TemporaryDirectory() as td:
        base = os.path.join(td, "vocab.gguf")
        subprocess.run([args.sibyl, "mkmodel", "--preset", "tiny", "--type", "f32", "-o", base],
                       check=True, capture_output=True)
        tok = Tokens(args.sibyl, base)
        pairs = test_set(args.seed, args.digits)
        # the Python prompt ids must be the C tokenizer's
        sample = pairs[:200]
        qs = ["%d+%d" % p for p in sample]
        c_ids = c_prompt_ids(args.sibyl, base, qs)
        for q, ids in zip(qs, c_ids):
            if ids != tok.prompt(q):
                raise SystemExit("prompt ids differ from the C tokenizer's for %r" % q)
        if args.test_out:
            with open(args.test_out, "w") as f:
                for a, b in pairs:
                    f.write("%d+%d\t%d\n" % (a, b, a + b))
        if args.from_ckpt:
            model = DGemma(cfg, torch.Generator().manual_seed(args.seed))
            model.load_state_dict(torch.load(args.from_ckpt)["model"])
            n_params, secs = sum(p.numel() for p in model.parameters()), 0.0
        else:
            model, n_params, secs = train(args, cfg, tok)
        model.eval()
        name = "sibyl-demo-add%d" % args.digits
        export(model, base, args.out, cfg, name)
        worst = check_against_reference(model, args.out, tok, pairs[:3])
        print("exported %s: %d parameters, trained %.0f s; torch vs tests/reference/dgemma.py "
              "max |logit diff| %.2e" % (args.out, n_params, secs, worst))
        if worst > 1e-3:
            raise SystemExit("the exported file does not compute what was trained")


if __name__ == "__main__":
    main()
