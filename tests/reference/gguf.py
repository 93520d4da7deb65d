"""GGUF files in pure Python + numpy: read metadata and tensors, dequantise, and write.

This is the reference side of the fidelity check, written independently of the C reader
(inference/gguf.c): it reads the same file and turns every tensor into float32 numpy
arrays with ggml's dequantisation formulas. Shapes follow numpy order, i.e. the ggml shape
{ne0, ne1, ...} becomes numpy (..., ne1, ne0): a matrix stored {in, out} comes back as
[out, in], the orientation of a torch nn.Linear weight.

Supported tensor types: F32, F16, BF16, Q8_0, Q4_K, Q6_K (docs/arithmetic.md A4).
The writer (GGUFWriter) is small and exists for tests and fixtures: F32, F16 and Q8_0.
"""

import struct

import numpy as np

GGUF_MAGIC = b"GGUF"
DEFAULT_ALIGNMENT = 32

# Metadata value types (GGUF spec numbering).
T_U8, T_I8, T_U16, T_I16, T_U32, T_I32, T_F32, T_BOOL, T_STR, T_ARR, T_U64, T_I64, T_F64 = range(13)
_SCALAR_FMT = {
    T_U8: "<B", T_I8: "<b", T_U16: "<H", T_I16: "<h", T_U32: "<I", T_I32: "<i",
    T_F32: "<f", T_BOOL: "<?", T_U64: "<Q", T_I64: "<q", T_F64: "<d",
}
_SCALAR_NP = {
    T_U8: "<u1", T_I8: "<i1", T_U16: "<u2", T_I16: "<i2", T_U32: "<u4", T_I32: "<i4",
    T_F32: "<f4", T_BOOL: "<u1", T_U64: "<u8", T_I64: "<i8", T_F64: "<f8",
}

# ggml tensor types used here: id -> (name, elements per block, bytes per block).
GGML_F32, GGML_F16, GGML_Q8_0, GGML_Q4_K, GGML_Q6_K, GGML_BF16 = 0, 1, 8, 12, 14, 30
GGML_TYPES = {
    GGML_F32: ("F32", 1, 4),
    GGML_F16: ("F16", 1, 2),
    GGML_Q8_0: ("Q8_0", 32, 34),
    GGML_Q4_K: ("Q4_K", 256, 144),
    GGML_Q6_K: ("Q6_K", 256, 210),
    GGML_BF16: ("BF16", 1, 2),
}


class GGUFError(Exception):
    pass


class Tensor:
    """One tensor of a GGUF file: name, ggml type, ggml shape (ne0 first) and its raw bytes."""

    def __init__(self, name, ggml_type, ne, raw):
        self.name = name
        self.type = ggml_type
        self.ne = tuple(ne)
        self.raw = raw

    @property
    def type_name(self):
        return GGML_TYPES[self.type][0] if self.type in GGML_TYPES else "type%d" % self.type

    @property
    def shape(self):
        """numpy shape: the reverse of ggml's ne."""
        return tuple(reversed(self.ne))

    def numpy(self):
        """Dequantised float32 array in numpy order."""
        n = int(np.prod(self.ne, dtype=np.int64))
        flat = dequantize(self.raw, self.type, n, self.name)
        return flat.reshape(self.shape)


class Reader:
    """Reads a whole GGUF file (v2 or v3) into memory; tensors are dequantised on demand."""

    def __init__(self, path):
        with open(path, "rb") as f:
            self.buf = memoryview(f.read())
        self.path = path
        self.pos = 0
        self.kv = {}
        self.tensors = {}
        self._parse()

    # -- primitive reads; every one checks the file length so corruption gives a clear error
    def _take(self, n, what):
        if n < 0 or self.pos + n > len(self.buf):
            raise GGUFError("%s: truncated while reading %s at byte %d" % (self.path, what, self.pos))
        b = self.buf[self.pos:self.pos + n]
        self.pos += n
        return b

    def _scalar(self, t, what):
        fmt = _SCALAR_FMT[t]
        return struct.unpack(fmt, self._take(struct.calcsize(fmt), what))[0]

    def _string(self, what):
        n = self._scalar(T_U64, what + " length")
        return bytes(self._take(n, what)).decode("utf-8", errors="replace")

    def _value(self, t, what):
        if t == T_STR:
            return self._string(what)
        if t == T_ARR:
            et = self._scalar(T_U32, what + " element type")
            n = self._scalar(T_U64, what + " count")
            if et == T_STR:
                return [self._string(what) for _ in range(n)]
            if et not in _SCALAR_NP:
                raise GGUFError("%s: %s has array element type %d" % (self.path, what, et))
            dt = np.dtype(_SCALAR_NP[et])
            arr = np.frombuffer(self._take(n * dt.itemsize, what), dtype=dt).copy()
            return arr.astype(bool) if et == T_BOOL else arr
        if t not in _SCALAR_FMT:
            raise GGUFError("%s: %s has value type %d" % (self.path, what, t))
        return self._scalar(t, what)

    def _parse(self):
        if bytes(self._take(4, "magic")) != GGUF_MAGIC:
            raise GGUFError("%s: not a GGUF file (bad magic)" % self.path)
        self.version = self._scalar(T_U32, "version")
        if self.version not in (2, 3):
            raise GGUFError("%s: GGUF version %d not supported" % (self.path, self.version))
        n_tensors = self._scalar(T_U64, "tensor count")
        n_kv = self._scalar(T_U64, "kv count")
        for _ in range(n_kv):
            key = self._string("key")
            t = self._scalar(T_U32, "type of " + key)
            self.kv[key] = self._value(t, key)
        infos = []
        for _ in range(n_tensors):
            name = self._string("tensor name")
            nd = self._scalar(T_U32, name + " n_dims")
            if not 1 <= nd <= 4:
                raise GGUFError("%s: tensor %s has %d dims" % (self.path, name, nd))
            ne = [self._scalar(T_U64, name + " dim") for _ in range(nd)]
            t = self._scalar(T_U32, name + " type")
            off = self._scalar(T_U64, name + " offset")
            infos.append((name, ne, t, off))
        align = int(self.kv.get("general.alignment", DEFAULT_ALIGNMENT))
        data_start = (self.pos + align - 1) // align * align
        for name, ne, t, off in infos:
            if t not in GGML_TYPES:
                raise GGUFError("%s: tensor %s has unsupported type %d" % (self.path, name, t))
            _, bs, bb = GGML_TYPES[t]
            n = int(np.prod(ne, dtype=np.int64))
            if ne[0] % bs:
                raise GGUFError("%s: tensor %s row of %d not a multiple of %d" % (self.path, name, ne[0], bs))
            nbytes = n // bs * bb
            start = data_start + off
            if start + nbytes > len(self.buf):
                raise GGUFError("%s: tensor %s data runs past the end of the file" % (self.path, name))
            self.tensors[name] = Tensor(name, t, ne, self.buf[start:start + nbytes])

    def get(self, key, default=None):
        return self.kv.get(key, default)

    def has(self, name):
        return name in self.tensors

    def tensor(self, name):
        if name not in self.tensors:
            raise GGUFError("%s: tensor %s is missing" % (self.path, name))
        return self.tensors[name].numpy()


# ---------------------------------------------------------------- dequantisation (ggml formulas)

def _f16(raw_u16):
    return raw_u16.view(np.float16).astype(np.float32)


def dequantize(raw, t, n, name="tensor"):
    b = np.frombuffer(raw, dtype=np.uint8)
    if t == GGML_F32:
        return b.view("<f4").astype(np.float32)
    if t == GGML_F16:
        return b.view("<f2").astype(np.float32)
    if t == GGML_BF16:
        return (b.view("<u2").astype(np.uint32) << 16).view(np.float32)
    if t == GGML_Q8_0:
        blk = b.reshape(-1, 34)
        d = _f16(blk[:, 0:2].copy().view("<u2"))
        q = blk[:, 2:].view(np.int8).astype(np.float32)
        return (q * d).reshape(-1)  # x = q * d, exact in f32
    if t == GGML_Q4_K:
        return _dequant_q4_k(b.reshape(-1, 144))
    if t == GGML_Q6_K:
        return _dequant_q6_k(b.reshape(-1, 210))
    raise GGUFError("%s: cannot dequantise ggml type %d" % (name, t))


def _dequant_q4_k(blk):
    nb = blk.shape[0]
    d = _f16(blk[:, 0:2].copy().view("<u2"))[:, 0]
    dmin = _f16(blk[:, 2:4].copy().view("<u2"))[:, 0]
    s = blk[:, 4:16].astype(np.uint32)
    qs = blk[:, 16:144]
    # 8 sub-blocks of 32: 6-bit scale and min each, packed in 12 bytes
    sc = np.empty((nb, 8), np.uint32)
    mn = np.empty((nb, 8), np.uint32)
    for j in range(8):
        if j < 4:
            sc[:, j] = s[:, j] & 63
            mn[:, j] = s[:, j + 4] & 63
        else:
            sc[:, j] = (s[:, j + 4] & 0xF) | ((s[:, j - 4] >> 6) << 4)
            mn[:, j] = (s[:, j + 4] >> 4) | ((s[:, j] >> 6) << 4)
    out = np.empty((nb, 256), np.float32)
    for c in range(4):  # 4 chunks of 64 values from 32 bytes
        q = qs[:, 32 * c:32 * c + 32]
        for h, shift in ((0, 0), (1, 4)):
            j = 2 * c + h
            d1 = d * sc[:, j].astype(np.float32)
            m1 = dmin * mn[:, j].astype(np.float32)
            vals = ((q >> shift) & 0xF).astype(np.float32)
            out[:, 64 * c + 32 * h:64 * c + 32 * h + 32] = d1[:, None] * vals - m1[:, None]
    return out.reshape(-1)


def _dequant_q6_k(blk):
    nb = blk.shape[0]
    ql = blk[:, 0:128].astype(np.int32)
    qh = blk[:, 128:192].astype(np.int32)
    sc = blk[:, 192:208].view(np.int8).astype(np.float32)
    d = _f16(blk[:, 208:210].copy().view("<u2"))[:, 0]
    out = np.empty((nb, 256), np.float32)
    for half in range(2):
        l_ = ql[:, 64 * half:64 * half + 64]
        h_ = qh[:, 32 * half:32 * half + 32]
        s_ = sc[:, 8 * half:8 * half + 8]
        q1 = ((l_[:, 0:32] & 0xF) | (((h_ >> 0) & 3) << 4)) - 32
        q2 = ((l_[:, 32:64] & 0xF) | (((h_ >> 2) & 3) << 4)) - 32
        q3 = ((l_[:, 0:32] >> 4) | (((h_ >> 4) & 3) << 4)) - 32
        q4 = ((l_[:, 32:64] >> 4) | (((h_ >> 6) & 3) << 4)) - 32
        base = 128 * half
        for k, q in enumerate((q1, q2, q3, q4)):
            # the scale of value l is sc[l/16 + 2k]: two 16-wide groups per 32
            for g in range(2):
                ds = d * s_[:, g + 2 * k]
                out[:, base + 32 * k + 16 * g:base + 32 * k + 16 * g + 16] = \
                    ds[:, None] * q[:, 16 * g:16 * g + 16].astype(np.float32)
    return out.reshape(-1)


def quantize_q8_0(x):
    """ggml-style Q8_0 of a float32 array whose last dim is a multiple of 32 (tests/fixtures)."""
    x = np.asarray(x, np.float32).reshape(-1, 32)
    amax = np.abs(x).max(axis=1)
    d = (amax / np.float32(127.0)).astype(np.float32)
    inv = np.where(d != 0, np.float32(1.0) / np.where(d != 0, d, 1), 0).astype(np.float32)
    q = np.clip(np.round(x * inv[:, None]), -127, 127).astype(np.int8)
    out = np.empty((x.shape[0], 34), np.uint8)
    out[:, 0:2] = d.astype(np.float16).view(np.uint8).reshape(-1, 2)
    out[:, 2:] = q.view(np.uint8)
    return out.tobytes()


# ---------------------------------------------------------------- writer

class GGUFWriter:
    """Collects metadata and tensors and writes a GGUF v3 file in one go."""

    def __init__(self, alignment=DEFAULT_ALIGNMENT):
        self.kv = []
        self.tensors = []
        self.alignment = alignment

    def add(self, key, vtype, value):
        self.kv.append((key, vtype, value))

    def add_tensor(self, name, array, ggml_type=GGML_F32):
        """array in numpy order; stored with ggml ne = reversed(shape)."""
        a = np.ascontiguousarray(array, dtype=np.float32)
        if ggml_type == GGML_F32:
            raw = a.astype("<f4").tobytes()
        elif ggml_type == GGML_F16:
            raw = a.astype("<f2").tobytes()
        elif ggml_type == GGML_Q8_0:
            raw = quantize_q8_0(a)
        else:
            raise GGUFError("writer: unsupported type %d" % ggml_type)
        self.tensors.append((name, tuple(reversed(a.shape)), ggml_type, raw))

    @staticmethod
    def _str(s):
        b = s.encode("utf-8")
        return struct.pack("<Q", len(b)) + b

    def _val(self, t, v):
        if t == T_STR:
            return self._str(v)
        if t == T_ARR:
            et, items = v
            out = struct.pack("<IQ", et, len(items))
            for it in items:
                out += self._val(et, it)
            return out
        return struct.pack(_SCALAR_FMT[t], v)

    def write(self, path):
        head = GGUF_MAGIC + struct.pack("<IQQ", 3, len(self.tensors), len(self.kv))
        for key, t, v in self.kv:
            head += self._str(key) + struct.pack("<I", t) + self._val(t, v)
        offsets, off = [], 0
        for name, ne, t, raw in self.tensors:
            offsets.append(off)
            off += (len(raw) + self.alignment - 1) // self.alignment * self.alignment
        for (name, ne, t, raw), o in zip(self.tensors, offsets):
            head += self._str(name) + struct.pack("<I", len(ne))
            head += b"".join(struct.pack("<Q", n) for n in ne)
            head += struct.pack("<IQ", t, o)
        pad = (-len(head)) % self.alignment
        with open(path, "wb") as f:
            f.write(head + b"\0" * pad)
            for name, ne, t, raw in self.tensors:
                f.write(raw)
                f.write(b"\0" * ((-len(raw)) % self.alignment))
