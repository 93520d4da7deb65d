"""DiffusionGemma forward pass in plain numpy: the float reference for fidelity checks.

Written from the transformers model (models/diffusion_gemma) as summarised in
shared/design/diffusiongemma.md sections 2-3, independently of the C engine. It computes
in float64 by default (float32 on request) with no quantisation and no bf16 roundings, so
it is "the float model" that the engine's int8-block arithmetic is measured against.

    model = Model(gguf.Reader("tiny.gguf"))
    cache = model.new_cache()
    model.encode(prompt_ids, cache)          # causal prefill, positions 0..P-1
    model.encode(committed_canvas, cache)    # optional: earlier canvases, next positions
    logits = model.decode(canvas_ids, cache) # [C, vocab], canvas at positions L..L+C-1
    logits2 = model.decode(canvas_ids, cache, sc_logits=logits / tau)   # with self-conditioning

Tensor names are those of diffusiongemma.md section 6 (GGUF arch "diffusion-gemma").
"""

import math

import numpy as np

try:  # run as a package (tests.reference.dgemma) or as a plain script next to gguf.py
    from . import gguf
except ImportError:  # pragma: no cover
    import gguf


class ModelError(Exception):
    pass


def rmsnorm(x, w=None, eps=1e-6):
    """x * (mean(x^2) + eps)^(-1/2) [* w] over the last axis (no +1 offset on w)."""
    ms = np.mean(x * x, axis=-1, keepdims=True)
    y = x / np.sqrt(ms + eps)
    return y * w if w is not None else y


def gelu_tanh(x):
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x * x * x)))


def softmax(x, axis=-1):
    m = np.max(x, axis=axis, keepdims=True)
    e = np.exp(x - m)
    return e / np.sum(e, axis=axis, keepdims=True)


def rope(x, pos, inv_freq):
    """Rotate-half (NeoX) RoPE over the whole head: x [T, H, d], pos [T], inv_freq [d/2]."""
    half = x.shape[-1] // 2
    ang = pos[:, None].astype(np.float64) * inv_freq[None, :]  # [T, d/2]
    c = np.cos(ang)[:, None, :].astype(x.dtype)
    s = np.sin(ang)[:, None, :].astype(x.dtype)
    x1, x2 = x[..., :half], x[..., half:]
    return np.concatenate([x1 * c - x2 * s, x2 * c + x1 * s], axis=-1)


def round_half_away(v):
    """sign(v) * trunc(|v| + 0.5), the float32 addition rounded (arithmetic.md A3)."""
    v = v.astype(np.float32)
    return np.sign(v) * np.floor(np.abs(v) + np.float32(0.5))


def q8_weight(w):
    """arithmetic.md A4: an f32 matrix (last axis = input features, multiple of 32) to Q8_0
    blocks, returned dequantised: q * f16(d) with q computed from the f32 d."""
    shape = w.shape
    x = np.asarray(w, np.float32).reshape(-1, 32)
    amax = np.max(np.abs(x), axis=1)
    d = (amax / np.float32(127.0)).astype(np.float32)
    inv = np.zeros_like(d)
    np.divide(np.float32(1.0), d, out=inv, where=d != 0)
    q = np.clip(round_half_away(x * inv[:, None]), -127, 127)
    d16 = d.astype(np.float16).astype(np.float64)
    return (q.astype(np.float64) * d16[:, None]).reshape(shape)


def q8_act(x):
    """arithmetic.md A3: activations quantised per 32-block of the last axis, dequantised."""
    shape = x.shape
    v = np.asarray(x, np.float32).reshape(-1, 32)
    amax = np.max(np.abs(v), axis=1)
    d = (amax / np.float32(127.0)).astype(np.float32)
    inv = np.zeros_like(amax)
    np.divide(np.float32(127.0), amax, out=inv, where=amax != 0)
    q = np.clip(round_half_away(v * inv[:, None]), -127, 127)
    return (q.astype(np.float64) * d.astype(np.float64)[:, None]).reshape(shape)


class Layer:
    pass


class Config:
    """Hyper-parameters, read from the GGUF metadata and checked against the tensor shapes."""

    def __init__(self, r):
        self.arch = r.get("general.architecture", "diffusion-gemma")
        a = self.arch

        def key(name, default=None):
            return r.get(a + "." + name, default)

        self.n_layers = int(key("block_count"))
        self.hidden = int(key("embedding_length"))
        self.n_heads = int(key("attention.head_count"))
        self.eps = float(key("attention.layer_norm_rms_epsilon", 1e-6))
        self.window = int(key("attention.sliding_window", 0) or 0)
        self.theta_global = float(key("rope.freq_base", 1e6))
        self.theta_sliding = float(key("rope.freq_base_swa", 1e4))
        self.softcap = float(key("final_logit_softcapping", 0.0) or 0.0)
        self.n_experts = int(key("expert_count", 0) or 0)
        self.top_k = int(key("expert_used_count", 0) or 0)
        self.canvas_length = int(r.get("diffusion.canvas_length", 256))
        pattern = key("attention.sliding_window_pattern")
        if pattern is not None:
            pattern = [bool(p) for p in np.atleast_1d(pattern)]
            if len(pattern) != self.n_layers:
                raise ModelError("sliding_window_pattern has %d entries for %d layers"
                                 % (len(pattern), self.n_layers))
        kv = key("attention.head_count_kv")
        self.sliding = []
        self.head_dim = []
        self.n_kv = []
        for i in range(self.n_layers):
            p = "blk.%d." % i
            sliding = pattern[i] if pattern is not None else r.has(p + "attn_v.weight")
            d = r.tensors[p + "attn_q_norm.weight"].ne[0]
            nkv_rows = r.tensors[p + "attn_k.weight"].ne[1]
            if nkv_rows % d:
                raise ModelError("layer %d: attn_k has %d rows, not a multiple of head dim %d"
                                 % (i, nkv_rows, d))
            nkv = nkv_rows // d
            if kv is not None:
                want = int(np.atleast_1d(kv)[i] if np.ndim(kv) else kv)
                if want != nkv:
                    raise ModelError("layer %d: head_count_kv says %d, attn_k shape says %d"
                                     % (i, want, nkv))
            if self.n_heads % nkv:
                raise ModelError("layer %d: %d heads not a multiple of %d kv heads"
                                 % (i, self.n_heads, nkv))
            self.sliding.append(sliding)
            self.head_dim.append(d)
            self.n_kv.append(nkv)
        if self.window <= 0 and any(self.sliding):
            raise ModelError("sliding layers but no attention.sliding_window")
        self.vocab = r.tensors["token_embd.weight"].ne[1]


def _find(r, *names):
    for n in names:
        if r.has(n):
            return n
    return None


class Model:
    """arith="float": the float model (the reference). arith="q8": the same computation with
    every matrix product done as the engine's profile defines it (A3 activations x A4
    weights, products exact), everything else in float64; it predicts what quantisation
    alone costs and separates that from implementation errors of the engine."""

    def __init__(self, reader, dtype=np.float64, arith="float"):
        if arith not in ("float", "q8"):
            raise ModelError("arith must be 'float' or 'q8'")
        self.r = reader
        self.dtype = dtype
        self.arith = arith
        self.cfg = cfg = Config(reader)
        f, fm = self._w, self._mat
        self.embd = fm("token_embd.weight")  # [V, H]; also the (tied) output head
        self.output_norm = f("output_norm.weight")
        self.embed_scale = math.sqrt(cfg.hidden)
        if arith == "q8":
            self.embed_scale = float(np.sqrt(np.float32(cfg.hidden)))  # A6: sqrtf
            # A9: vocabulary-major copy E^T, vocab padded to a multiple of 32, requantised
            V = cfg.vocab
            et = np.zeros((cfg.hidden, (V + 31) // 32 * 32))
            et[:, :V] = self.embd.T
            self.embd_t = q8_weight(et)
        self.sc_pre_norm = f("self_cond_pre_norm.weight")
        self.sc_gate = fm("self_cond_gate.weight")
        self.sc_up = fm("self_cond_up.weight")
        self.sc_down = fm("self_cond_down.weight")
        rope_freqs = reader.tensor("rope_freqs.weight").astype(np.float64) \
            if reader.has("rope_freqs.weight") else None
        self.layers = []
        for i in range(cfg.n_layers):
            p = "blk.%d." % i
            L = Layer()
            L.sliding = cfg.sliding[i]
            L.d = cfg.head_dim[i]
            L.nkv = cfg.n_kv[i]
            L.attn_norm = f(p + "attn_norm.weight")
            L.wq = fm(p + "attn_q.weight")
            L.wk = fm(p + "attn_k.weight")
            L.wv = fm(p + "attn_v.weight") if reader.has(p + "attn_v.weight") else None
            if L.sliding and L.wv is None:
                raise ModelError("layer %d is sliding but has no attn_v" % i)
            L.wo = fm(p + "attn_output.weight")
            L.q_norm = f(p + "attn_q_norm.weight")
            L.k_norm = f(p + "attn_k_norm.weight")
            L.post_attn_norm = f(p + "post_attention_norm.weight")
            L.ffn_norm = f(p + "ffn_norm.weight")
            L.gate = fm(p + "ffn_gate.weight")
            L.up = fm(p + "ffn_up.weight")
            L.down = fm(p + "ffn_down.weight")
            L.post_ffw_norm_1 = f(p + "post_ffw_norm_1.weight")
            L.pre_ffw_norm_2 = f(p + "pre_ffw_norm_2.weight")
            L.post_ffw_norm_2 = f(p + "post_ffw_norm_2.weight")
            L.post_ffw_norm = f(p + "post_ffw_norm.weight")
            L.router = fm(p + "ffn_gate_inp.weight")  # [E, H]
            L.router_scale = f(_find(reader, p + "ffn_gate_inp.scale", p + "ffn_gate_inp_scale.weight"))
            if reader.has(p + "ffn_gate_up_exps.weight"):
                gu = fm(p + "ffn_gate_up_exps.weight")  # [E, 2F, H], gate rows first
                half = gu.shape[1] // 2
                L.exp_gate, L.exp_up = gu[:, :half, :], gu[:, half:, :]
            else:
                L.exp_gate = fm(p + "ffn_gate_exps.weight")
                L.exp_up = fm(p + "ffn_up_exps.weight")
            L.exp_down = fm(p + "ffn_down_exps.weight")  # [E, H, F]
            L.per_expert_scale = f(_find(reader, p + "ffn_down_exps.scale",
                                         p + "ffn_down_exps_scale.weight"))
            L.scale_dec = float(f(_find(reader, p + "layer_output_scale.weight",
                                        p + "layer_output_scale")).reshape(-1)[0])
            enc = _find(reader, p + "enc_layer_output_scale.weight", p + "enc_layer_output_scale")
            L.scale_enc = float(f(enc).reshape(-1)[0]) if enc else L.scale_dec
            # RoPE inverse frequencies: theta^(-2i/d), divided by rope_freqs on global layers
            # (llama.cpp's encoding of "proportional" RoPE: entries >= 1e29 mean no rotation).
            theta = cfg.theta_sliding if L.sliding else cfg.theta_global
            inv = theta ** (-np.arange(0, L.d, 2, dtype=np.float64) / L.d)
            if not L.sliding and rope_freqs is not None:
                if rope_freqs.shape[0] != L.d // 2:
                    raise ModelError("rope_freqs has %d entries, global head dim is %d"
                                     % (rope_freqs.shape[0], L.d))
                inv = np.where(rope_freqs >= 1e29, 0.0, inv / rope_freqs)
            L.inv_freq = inv
            self.layers.append(L)
            if L.router.shape[0] != cfg.n_experts and cfg.n_experts:
                raise ModelError("layer %d: router has %d experts, metadata %d"
                                 % (i, L.router.shape[0], cfg.n_experts))
        if not cfg.top_k:
            raise ModelError("expert_used_count missing")

    def _w(self, name):
        if name is None:
            raise ModelError("a required tensor is missing (see diffusiongemma.md section 6)")
        return self.r.tensor(name).astype(self.dtype)

    def _mat(self, name):
        """A matrix used in products: in q8 mode converted by A4 unless stored as Q8_0."""
        w = self._w(name)
        if self.arith == "q8" and self.r.tensors[name].type != gguf.GGML_Q8_0:
            w = q8_weight(w).astype(self.dtype)
        return w

    def _lin(self, x, w):
        """x [T, in] times w [out, in]^T."""
        if self.arith == "q8":
            x = q8_act(x)
        return x @ w.T

    # ------------------------------------------------------------------ pieces
    def new_cache(self):
        return {"pos": np.zeros(0, np.int64),
                "k": [None] * self.cfg.n_layers, "v": [None] * self.cfg.n_layers}

    def _qkv(self, L, h, pos):
        T = h.shape[0]
        q = self._lin(h, L.wq).reshape(T, -1, L.d)
        q = rope(rmsnorm(q, L.q_norm, self.cfg.eps), pos, L.inv_freq)
        kraw = self._lin(h, L.wk).reshape(T, L.nkv, L.d)
        # global layers have no v_proj: V is the raw k_proj output (before k_norm, no RoPE)
        v = self._lin(h, L.wv).reshape(T, L.nkv, L.d) if L.wv is not None else kraw
        v = rmsnorm(v, None, self.cfg.eps)
        k = rope(rmsnorm(kraw, L.k_norm, self.cfg.eps), pos, L.inv_freq)
        return q, k, v

    @staticmethod
    def _attend(q, k, v, mask):
        """q [T,Hq,d], k/v [S,Hkv,d], mask [T,S] bool or None; scale 1.0; -> [T, Hq*d]."""
        T, Hq, d = q.shape
        group = Hq // k.shape[1]
        out = np.empty((T, Hq, d), q.dtype)
        for h in range(Hq):
            s = q[:, h, :] @ k[:, h // group, :].T  # [T, S]
            if mask is not None:
                s = np.where(mask, s, -np.inf)
            out[:, h, :] = softmax(s) @ v[:, h // group, :]
        return out.reshape(T, Hq * d)

    def _ffn(self, L, r):
        eps = self.cfg.eps
        a = rmsnorm(r, L.ffn_norm, eps)
        m = self._lin(gelu_tanh(self._lin(a, L.gate)) * self._lin(a, L.up), L.down)
        m = rmsnorm(m, L.post_ffw_norm_1, eps)
        # the router reads the raw residual, not the normed one
        z = rmsnorm(r, None, eps) * L.router_scale * (self.cfg.hidden ** -0.5)
        p = softmax(self._lin(z, L.router))  # [T, E]
        k = self.cfg.top_k
        top = np.argsort(-p, axis=-1, kind="stable")[:, :k]  # ties -> lower expert id
        w = np.take_along_axis(p, top, axis=-1)
        w = w / np.sum(w, axis=-1, keepdims=True)
        w = w * L.per_expert_scale[top]
        b = rmsnorm(r, L.pre_ffw_norm_2, eps)
        e = np.zeros_like(r)
        for ex in np.unique(top):
            rows, slot = np.nonzero(top == ex)
            xb = b[rows]
            y = self._lin(gelu_tanh(self._lin(xb, L.exp_gate[ex])) * self._lin(xb, L.exp_up[ex]),
                          L.exp_down[ex])
            e[rows] += w[rows, slot][:, None] * y
        e = rmsnorm(e, L.post_ffw_norm_2, eps)
        return r + rmsnorm(m + e, L.post_ffw_norm, eps)

    # ------------------------------------------------------------------ the two modes
    def embed(self, ids):
        ids = np.asarray(ids, np.int64)
        if ids.size and (ids.min() < 0 or ids.max() >= self.cfg.vocab):
            raise ModelError("token id out of range [0, %d)" % self.cfg.vocab)
        return self.embd[ids] * self.embed_scale

    def encode(self, ids, cache):
        """Causal pass over ids at the next positions; appends their K,V to the cache."""
        eps, W = self.cfg.eps, self.cfg.window
        start = int(cache["pos"].shape[0])
        pos = np.arange(start, start + len(ids), dtype=np.int64)
        allpos = np.concatenate([cache["pos"], pos])
        x = self.embed(ids)
        for li, L in enumerate(self.layers):
            h = rmsnorm(x, L.attn_norm, eps)
            q, k, v = self._qkv(L, h, pos)
            K = k if cache["k"][li] is None else np.concatenate([cache["k"][li], k])
            V = v if cache["v"][li] is None else np.concatenate([cache["v"][li], v])
            cache["k"][li], cache["v"][li] = K, V
            mask = allpos[None, :] <= pos[:, None]
            if L.sliding:
                mask &= allpos[None, :] > pos[:, None] - W
            o = self._attend(q, K, V, mask)
            x = x + rmsnorm(self._lin(o, L.wo), L.post_attn_norm, eps)
            x = self._ffn(L, x) * L.scale_enc
        cache["pos"] = allpos
        return x

    def soft_embedding(self, sc_logits):
        """Self-conditioning input: softmax(previous tempered logits) @ E * sqrt(hidden)."""
        p = softmax(np.asarray(sc_logits, self.dtype))
        if self.arith == "q8":
            pp = np.zeros((p.shape[0], self.embd_t.shape[1]))
            pp[:, :p.shape[1]] = p
            return self._lin(pp, self.embd_t) * self.embed_scale
        return p @ self.embd * self.embed_scale

    def decode(self, canvas, cache, sc_logits=None):
        """Bidirectional pass of the canvas over the cached context; returns logits [C, V]."""
        eps, W = self.cfg.eps, self.cfg.window
        Lctx = int(cache["pos"].shape[0])
        C = len(canvas)
        pos = np.arange(Lctx, Lctx + C, dtype=np.int64)
        e = self.embed(canvas)
        if sc_logits is not None:
            sc_logits = np.asarray(sc_logits).reshape(C, self.cfg.vocab)
            g = rmsnorm(self.soft_embedding(sc_logits), self.sc_pre_norm, eps)
            sc = self._lin(gelu_tanh(self._lin(g, self.sc_gate)) * self._lin(g, self.sc_up),
                           self.sc_down)
        else:
            sc = 0.0  # first step of a canvas: the SC block maps 0 to exactly 0
        x = rmsnorm(e + sc, None, eps)  # self_conditioning.post_norm (no weight)
        for li, L in enumerate(self.layers):
            h = rmsnorm(x, L.attn_norm, eps)
            q, k, v = self._qkv(L, h, pos)
            if Lctx:
                Kc, Vc = cache["k"][li], cache["v"][li]
                if L.sliding:  # HF's sliding cache keeps the last window-1 keys
                    keep = min(Lctx, W - 1)
                    Kc, Vc = Kc[Lctx - keep:], Vc[Lctx - keep:]
                k, v = np.concatenate([Kc, k]), np.concatenate([Vc, v])
            o = self._attend(q, k, v, None)
            x = x + rmsnorm(self._lin(o, L.wo), L.post_attn_norm, eps)
            x = self._ffn(L, x) * L.scale_dec
        h = rmsnorm(x, self.output_norm, eps)
        logits = self._lin(h, self.embd)
        if self.cfg.softcap > 0:
            logits = self.cfg.softcap * np.tanh(logits / self.cfg.softcap)
        return logits


# ---------------------------------------------------------------- deterministic sampler parts

def temperature(k, n, t_min=0.4, t_max=0.8):
    """Temperature with k steps remaining of n (diffusiongemma.md section 4)."""
    return t_min + (t_max - t_min) * k / n


def entropy(z):
    """Entropy (nats) of softmax(z) per row: -sum p (z - logsumexp z)."""
    m = np.max(z, axis=-1, keepdims=True)
    e = np.exp(z - m)
    s = np.sum(e, axis=-1, keepdims=True)
    p = e / s
    return -np.sum(p * (z - m - np.log(s)), axis=-1)


def entropy_bound_accept(H, bound=0.1):
    """Positions sorted by entropy ascending (ties: lower position); position accepted iff the
    sum of the entropies before it is <= bound."""
    order = np.argsort(H, kind="stable")
    acc = np.zeros(len(H), bool)
    total = 0.0
    for i in order:
        acc[i] = total <= bound
        total += H[i]
    return acc
