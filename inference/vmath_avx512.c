/*
 * AVX-512 versions of the attention pieces of vmath (compiled with -mavx512f -mavx512vl; run
 * only on the KERNEL_AVX512VNNI path, whose CPU check covers them). Same bits as the AVX2 and
 * portable code: every score keeps its own eight A1 lanes (two keys share a zmm, one per
 * 256-bit half) and the same A1 combine; every weighted-sum element gets the same sequence of
 * one rounded multiply and one rounded add per key. No FMA (-ffp-contract=off, and only
 * separate mul/add intrinsics are used).
 */
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "inference/vmath_internal.h"

static inline float combine8_256(__m256 acc)
{
    __m128 a = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
    __m128 b = _mm_add_ps(a, _mm_movehl_ps(a, a));
    return _mm_cvtss_f32(_mm_add_ss(b, _mm_shuffle_ps(b, b, 1)));
}

/* The eight floats at p in both 256-bit halves. */
static inline __m512 bcast8(const float *p)
{
    return _mm512_castpd_ps(_mm512_broadcast_f64x4(_mm256_castps_pd(_mm256_loadu_ps(p))));
}

static inline __m256 hi256(__m512 x)
{
    return _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(x), 1));
}

/* ---- A7 scores against packed keys ------------------------------------------------------ */

/* Pair layout (vm_keys_put): pair b holds keys 2b and 2b+1 at dst + 2b*d; its 16-float chunk
 * c is key 2b's dims 8c..8c+7, then key 2b+1's. One plain 512-bit load then gives two keys'
 * A1 lanes side by side (lanes 0-7 and 8-15), with no shuffle in the hot loop. The kernel
 * runs whole 8-key tiles: the room up to a multiple of 8 keys (vm_keys_packed_len) holds
 * whatever it holds, and the scores computed from it are dropped. */
void vm_keys_put_avx512(const float *row, size_t j, size_t d, float *keys)
{
    float *half = keys + (j / 2) * 2 * d + (j % 2) * 8;
    for (size_t i = 0; i < d; i += 8)
        _mm256_storeu_ps(half + 2 * i, _mm256_loadu_ps(row + i));
}

/* The A1 combine of 16 scores at once. r_k holds the eight lane accumulators of score 2k
 * (lanes 0-7) and of score 2k+1 (lanes 8-15). Each step is the scalar step on whole
 * registers, first operand the lower lanes as in combine8: a_l = acc_l + acc_{l+4} (128-bit
 * blocks 0,2 + blocks 1,3 of each pair), b_0 = a_0 + a_2 and b_1 = a_1 + a_3, then b_0 + b_1.
 * The shuffles leave score 4m+k in lane 4k+m; the last permute puts score s in lane s. */
static inline __m512 combine16(__m512 r0, __m512 r1, __m512 r2, __m512 r3, __m512 r4, __m512 r5,
                               __m512 r6, __m512 r7)
{
    __m512 t0 =
        _mm512_add_ps(_mm512_shuffle_f32x4(r0, r1, 0x88), _mm512_shuffle_f32x4(r0, r1, 0xdd));
    __m512 t1 =
        _mm512_add_ps(_mm512_shuffle_f32x4(r2, r3, 0x88), _mm512_shuffle_f32x4(r2, r3, 0xdd));
    __m512 t2 =
        _mm512_add_ps(_mm512_shuffle_f32x4(r4, r5, 0x88), _mm512_shuffle_f32x4(r4, r5, 0xdd));
    __m512 t3 =
        _mm512_add_ps(_mm512_shuffle_f32x4(r6, r7, 0x88), _mm512_shuffle_f32x4(r6, r7, 0xdd));
    __m512 w0 = _mm512_add_ps(_mm512_shuffle_ps(t0, t1, 0x44), _mm512_shuffle_ps(t0, t1, 0xee));
    __m512 w1 = _mm512_add_ps(_mm512_shuffle_ps(t2, t3, 0x44), _mm512_shuffle_ps(t2, t3, 0xee));
    __m512 z = _mm512_add_ps(_mm512_shuffle_ps(w0, w1, 0x88), _mm512_shuffle_ps(w0, w1, 0xdd));
    const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    return _mm512_permutexvar_ps(order, z);
}

/* Four queries x eight keys: 16 accumulators, each query chunk (duplicated into both halves
 * in qd, 2d floats per query) meets four key pairs. Lane 8u + s of (*r01, *r23) is the
 * score of query u (r01: queries 0-1, r23: 2-3) against key s. */
static inline void tile4x8(const float *qd, const float *kb, size_t d, __m512 *r01, __m512 *r23)
{
    const float *q0 = qd, *q1 = q0 + 2 * d, *q2 = q1 + 2 * d, *q3 = q2 + 2 * d;
    const float *k0 = kb, *k1 = k0 + 2 * d, *k2 = k1 + 2 * d, *k3 = k2 + 2 * d;
    __m512 a00 = _mm512_setzero_ps(), a01 = a00, a02 = a00, a03 = a00;
    __m512 a10 = a00, a11 = a00, a12 = a00, a13 = a00;
    __m512 a20 = a00, a21 = a00, a22 = a00, a23 = a00;
    __m512 a30 = a00, a31 = a00, a32 = a00, a33 = a00;
    for (size_t i = 0; i < 2 * d; i += 16) {
        __m512 y0 = _mm512_loadu_ps(k0 + i), y1 = _mm512_loadu_ps(k1 + i);
        __m512 y2 = _mm512_loadu_ps(k2 + i), y3 = _mm512_loadu_ps(k3 + i);
        __m512 x = _mm512_loadu_ps(q0 + i);
        a00 = _mm512_add_ps(a00, _mm512_mul_ps(x, y0));
        a01 = _mm512_add_ps(a01, _mm512_mul_ps(x, y1));
        a02 = _mm512_add_ps(a02, _mm512_mul_ps(x, y2));
        a03 = _mm512_add_ps(a03, _mm512_mul_ps(x, y3));
        x = _mm512_loadu_ps(q1 + i);
        a10 = _mm512_add_ps(a10, _mm512_mul_ps(x, y0));
        a11 = _mm512_add_ps(a11, _mm512_mul_ps(x, y1));
        a12 = _mm512_add_ps(a12, _mm512_mul_ps(x, y2));
        a13 = _mm512_add_ps(a13, _mm512_mul_ps(x, y3));
        x = _mm512_loadu_ps(q2 + i);
        a20 = _mm512_add_ps(a20, _mm512_mul_ps(x, y0));
        a21 = _mm512_add_ps(a21, _mm512_mul_ps(x, y1));
        a22 = _mm512_add_ps(a22, _mm512_mul_ps(x, y2));
        a23 = _mm512_add_ps(a23, _mm512_mul_ps(x, y3));
        x = _mm512_loadu_ps(q3 + i);
        a30 = _mm512_add_ps(a30, _mm512_mul_ps(x, y0));
        a31 = _mm512_add_ps(a31, _mm512_mul_ps(x, y1));
        a32 = _mm512_add_ps(a32, _mm512_mul_ps(x, y2));
        a33 = _mm512_add_ps(a33, _mm512_mul_ps(x, y3));
    }
    *r01 = combine16(a00, a01, a02, a03, a10, a11, a12, a13);
    *r23 = combine16(a20, a21, a22, a23, a30, a31, a32, a33);
}

/* Queries in groups of four (a short last group repeats its last query; the repeats' scores
 * are dropped), each group against the whole packed list; a last partial tile of keys stores
 * only its first n % 8 scores. d a multiple of 8, <= VM_PAIR_DMAX (the caller checks), so the
 * duplicated queries fit on the stack; they are written with whole 512-bit stores so that the
 * loads right after forward from them. */
void vm_dot8_packed_avx512(const float *const *q, size_t nq, const float *keys, size_t n, size_t d,
                           float *out, size_t ldo)
{
    float qd[4 * 2 * VM_PAIR_DMAX];
    for (size_t t = 0; t < nq; t += 4) {
        size_t nv = nq - t < 4 ? nq - t : 4;
        for (size_t u = 0; u < 4; u++) {
            const float *src = q[t + (u < nv ? u : nv - 1)];
            for (size_t i = 0; i < d; i += 8)
                _mm512_storeu_ps(qd + u * 2 * d + 2 * i, bcast8(src + i));
        }
        float *o0 = out + t * ldo;
        for (size_t j = 0; j < n; j += 8) {
            __m512 r01, r23;
            tile4x8(qd, keys + j * d, d, &r01, &r23);
            __m256 s[4] = {_mm512_castps512_ps256(r01), hi256(r01), _mm512_castps512_ps256(r23),
                           hi256(r23)};
            __mmask8 keep = n - j < 8 ? (__mmask8)((1u << (n - j)) - 1) : 0xff;
            for (size_t u = 0; u < nv; u++)
                _mm256_mask_storeu_ps(o0 + u * ldo + j, keep, s[u]);
        }
    }
}

/* ---- A7 weighted sums against packed values ------------------------------------------- */

/* Value layout (vm_values_put), d a multiple of 16: dims in chunks of 64 (then of 16 for the
 * rest); chunk [c, c+w) of every value row together, row j's at dst + c*n + j*w. Each pass of
 * the kernel below (four queries x one chunk) then streams one contiguous block. */
static inline size_t vchunk(size_t c, size_t d)
{
    return c + 64 <= d ? 64 : 16;
}

void vm_values_put_avx512(const float *row, size_t j, size_t n, size_t d, float *vals)
{
    for (size_t c = 0; c < d; c += vchunk(c, d)) {
        size_t w = vchunk(c, d);
        memcpy(vals + c * n + j * w, row + c, w * sizeof(float));
    }
}

/* Four queries x 64 dims in 16 registers: each 64 floats of a value row, loaded once, serve
 * four queries (half the passes over the values of a two-query kernel). Every element gets
 * its own sequential sum from +0: one rounded multiply, one rounded add per key. v: the
 * chunk's block; o[u]: query u's output at the chunk. */
static inline void wsum4x64(const float *const *p, const float *v, size_t n, float *const *o)
{
    const float *p0 = p[0], *p1 = p[1], *p2 = p[2], *p3 = p[3];
    __m512 a00 = _mm512_setzero_ps(), a01 = a00, a02 = a00, a03 = a00;
    __m512 a10 = a00, a11 = a00, a12 = a00, a13 = a00;
    __m512 a20 = a00, a21 = a00, a22 = a00, a23 = a00;
    __m512 a30 = a00, a31 = a00, a32 = a00, a33 = a00;
    for (size_t j = 0; j < n; j++) {
        const float *r = v + j * 64;
        __m512 x0 = _mm512_loadu_ps(r), x1 = _mm512_loadu_ps(r + 16);
        __m512 x2 = _mm512_loadu_ps(r + 32), x3 = _mm512_loadu_ps(r + 48);
        __m512 w = _mm512_set1_ps(p0[j]);
        a00 = _mm512_add_ps(a00, _mm512_mul_ps(w, x0));
        a01 = _mm512_add_ps(a01, _mm512_mul_ps(w, x1));
        a02 = _mm512_add_ps(a02, _mm512_mul_ps(w, x2));
        a03 = _mm512_add_ps(a03, _mm512_mul_ps(w, x3));
        w = _mm512_set1_ps(p1[j]);
        a10 = _mm512_add_ps(a10, _mm512_mul_ps(w, x0));
        a11 = _mm512_add_ps(a11, _mm512_mul_ps(w, x1));
        a12 = _mm512_add_ps(a12, _mm512_mul_ps(w, x2));
        a13 = _mm512_add_ps(a13, _mm512_mul_ps(w, x3));
        w = _mm512_set1_ps(p2[j]);
        a20 = _mm512_add_ps(a20, _mm512_mul_ps(w, x0));
        a21 = _mm512_add_ps(a21, _mm512_mul_ps(w, x1));
        a22 = _mm512_add_ps(a22, _mm512_mul_ps(w, x2));
        a23 = _mm512_add_ps(a23, _mm512_mul_ps(w, x3));
        w = _mm512_set1_ps(p3[j]);
        a30 = _mm512_add_ps(a30, _mm512_mul_ps(w, x0));
        a31 = _mm512_add_ps(a31, _mm512_mul_ps(w, x1));
        a32 = _mm512_add_ps(a32, _mm512_mul_ps(w, x2));
        a33 = _mm512_add_ps(a33, _mm512_mul_ps(w, x3));
    }
    _mm512_storeu_ps(o[0], a00), _mm512_storeu_ps(o[0] + 16, a01);
    _mm512_storeu_ps(o[0] + 32, a02), _mm512_storeu_ps(o[0] + 48, a03);
    _mm512_storeu_ps(o[1], a10), _mm512_storeu_ps(o[1] + 16, a11);
    _mm512_storeu_ps(o[1] + 32, a12), _mm512_storeu_ps(o[1] + 48, a13);
    _mm512_storeu_ps(o[2], a20), _mm512_storeu_ps(o[2] + 16, a21);
    _mm512_storeu_ps(o[2] + 32, a22), _mm512_storeu_ps(o[2] + 48, a23);
    _mm512_storeu_ps(o[3], a30), _mm512_storeu_ps(o[3] + 16, a31);
    _mm512_storeu_ps(o[3] + 32, a32), _mm512_storeu_ps(o[3] + 48, a33);
}

/* The same for a 16-dim chunk. */
static inline void wsum4x16(const float *const *p, const float *v, size_t n, float *const *o)
{
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t j = 0; j < n; j++) {
        __m512 x = _mm512_loadu_ps(v + j * 16);
        a0 = _mm512_add_ps(a0, _mm512_mul_ps(_mm512_set1_ps(p[0][j]), x));
        a1 = _mm512_add_ps(a1, _mm512_mul_ps(_mm512_set1_ps(p[1][j]), x));
        a2 = _mm512_add_ps(a2, _mm512_mul_ps(_mm512_set1_ps(p[2][j]), x));
        a3 = _mm512_add_ps(a3, _mm512_mul_ps(_mm512_set1_ps(p[3][j]), x));
    }
    _mm512_storeu_ps(o[0], a0), _mm512_storeu_ps(o[1], a1);
    _mm512_storeu_ps(o[2], a2), _mm512_storeu_ps(o[3], a3);
}

/* d a multiple of 16 (the caller checks). Queries in groups of four; a short last group
 * repeats its last query into a scratch output that is dropped. */
void vm_wsum_packed_avx512(const float *p, size_t ldp, size_t np, const float *v, size_t n,
                           size_t d, float *const *o)
{
    float drop[64];
    for (size_t t = 0; t < np; t += 4) {
        size_t nv = np - t < 4 ? np - t : 4;
        const float *pt[4];
        for (size_t u = 0; u < 4; u++)
            pt[u] = p + (t + (u < nv ? u : nv - 1)) * ldp;
        for (size_t c = 0; c < d; c += vchunk(c, d)) {
            float *oc[4];
            for (size_t u = 0; u < 4; u++)
                oc[u] = u < nv ? o[t + u] + c : drop;
            if (vchunk(c, d) == 64)
                wsum4x64(pt, v + c * n, n, oc);
            else
                wsum4x16(pt, v + c * n, n, oc);
        }
    }
}

/* ---- cm_expf / cm_tanhf on 16 lanes: the operations of vmath_avx2.c's v_expf / v_tanhf ---- */

static inline __m512 z_abs(__m512 x)
{
    return _mm512_castsi512_ps(
        _mm512_and_si512(_mm512_castps_si512(x), _mm512_set1_epi32(0x7fffffff)));
}

static inline __m512 z_neg(__m512 x)
{
    return _mm512_castsi512_ps(
        _mm512_xor_si512(_mm512_castps_si512(x), _mm512_set1_epi32((int)0x80000000u)));
}

static inline __m512 z_expf_nonan(__m512 x)
{
    x = _mm512_min_ps(x, _mm512_set1_ps(89.0f));   /* x < 89 ? x : 89 */
    x = _mm512_max_ps(x, _mm512_set1_ps(-104.0f)); /* x > -104 ? x : -104 */
    const __m512 magic = _mm512_set1_ps(CM_ROUND_MAGIC);
    __m512 t = _mm512_mul_ps(x, _mm512_set1_ps(CM_LOG2E));
    t = _mm512_add_ps(t, magic);
    __m512 nf = _mm512_sub_ps(t, magic);
    __m512i n = _mm512_cvttps_epi32(nf);
    __m512 r = _mm512_sub_ps(x, _mm512_mul_ps(nf, _mm512_set1_ps(CM_LN2_HI)));
    r = _mm512_sub_ps(r, _mm512_mul_ps(nf, _mm512_set1_ps(CM_LN2_LO)));
    __m512 q = _mm512_set1_ps(CM_EXP_Q4);
    q = _mm512_add_ps(_mm512_mul_ps(q, r), _mm512_set1_ps(CM_EXP_Q3));
    q = _mm512_add_ps(_mm512_mul_ps(q, r), _mm512_set1_ps(CM_EXP_Q2));
    q = _mm512_add_ps(_mm512_mul_ps(q, r), _mm512_set1_ps(CM_EXP_Q1));
    q = _mm512_add_ps(_mm512_mul_ps(q, r), _mm512_set1_ps(CM_EXP_Q0));
    __m512 r2 = _mm512_mul_ps(r, r);
    __m512 u = _mm512_mul_ps(r2, q);
    u = _mm512_add_ps(r, u);
    __m512 p = _mm512_add_ps(_mm512_set1_ps(1.0f), u);
    __m512i n1 = _mm512_srai_epi32(n, 1);
    __m512i n2 = _mm512_sub_epi32(n, n1);
    const __m512i bias = _mm512_set1_epi32(127);
    __m512 s1 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(n1, bias), 23));
    __m512 s2 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(n2, bias), 23));
    p = _mm512_mul_ps(p, s1);
    return _mm512_mul_ps(p, s2);
}

static inline __m512 z_expf(__m512 x)
{
    __mmask16 nan = _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q);
    return _mm512_mask_blend_ps(nan, z_expf_nonan(x), _mm512_add_ps(x, x));
}

static inline __m512 z_tanhf(__m512 x)
{
    __m512 a = z_abs(x);
    __m512 z = _mm512_mul_ps(x, x);
    __m512 p = _mm512_set1_ps(CM_TANH_P5);
    p = _mm512_add_ps(_mm512_mul_ps(p, z), _mm512_set1_ps(CM_TANH_P4));
    p = _mm512_add_ps(_mm512_mul_ps(p, z), _mm512_set1_ps(CM_TANH_P3));
    p = _mm512_add_ps(_mm512_mul_ps(p, z), _mm512_set1_ps(CM_TANH_P2));
    p = _mm512_add_ps(_mm512_mul_ps(p, z), _mm512_set1_ps(CM_TANH_P1));
    p = _mm512_add_ps(_mm512_mul_ps(p, z), _mm512_set1_ps(CM_TANH_P0));
    p = _mm512_mul_ps(z, p);
    __m512 small = _mm512_add_ps(x, _mm512_mul_ps(x, p));
    const __m512 one = _mm512_set1_ps(1.0f);
    __m512 e = z_expf_nonan(_mm512_add_ps(a, a));
    __m512 t = _mm512_sub_ps(one, _mm512_div_ps(_mm512_set1_ps(2.0f), _mm512_add_ps(e, one)));
    t = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, _mm512_set1_ps(9.0f), _CMP_LT_OQ), one, t);
    t = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_LT_OQ), t, z_neg(t));
    __m512 y =
        _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, _mm512_set1_ps(0.55f), _CMP_LT_OQ), t, small);
    y = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, _mm512_set1_ps(0x1p-12f), _CMP_LT_OQ), y, x);
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q), y, _mm512_add_ps(x, x));
}

/* 16 lanes at a time; the tail (< 16) through the AVX2 versions, which give the same bits. */
void vm_expf_sub_avx512(const float *x, float m, float *y, size_t n)
{
    size_t i = 0;
    __m512 vm = _mm512_set1_ps(m);
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(y + i, z_expf(_mm512_sub_ps(_mm512_loadu_ps(x + i), vm)));
    vm_expf_sub_avx2(x + i, m, y + i, n - i);
}

void vm_exp_terms_avx512(const float *z, float m, float *e, float *term, size_t n)
{
    size_t i = 0;
    __m512 vm = _mm512_set1_ps(m);
    for (; i + 16 <= n; i += 16) {
        __m512 d = _mm512_sub_ps(_mm512_loadu_ps(z + i), vm);
        __m512 ev = z_expf(d);
        _mm512_storeu_ps(e + i, ev);
        _mm512_storeu_ps(term + i, _mm512_mul_ps(ev, d));
    }
    vm_exp_terms_avx2(z + i, m, e + i, term + i, n - i);
}

void vm_tanhf_array_avx512(const float *x, float *y, size_t n)
{
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(y + i, z_tanhf(_mm512_loadu_ps(x + i)));
    vm_tanhf_array_avx2(x + i, y + i, n - i);
}

void vm_softcap_avx512(float *y, size_t n, float cap)
{
    size_t i = 0;
    __m512 c = _mm512_set1_ps(cap);
    for (; i + 16 <= n; i += 16) {
        __m512 t = z_tanhf(_mm512_div_ps(_mm512_loadu_ps(y + i), c));
        _mm512_storeu_ps(y + i, _mm512_mul_ps(c, t));
    }
    vm_softcap_avx2(y + i, n - i, cap);
}

void vm_gelu_glu_avx512(const float *gate, const float *up, float *out, size_t n)
{
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 x = _mm512_loadu_ps(gate + i);
        __m512 x3 = _mm512_mul_ps(_mm512_mul_ps(x, x), x);
        __m512 u = _mm512_add_ps(x, _mm512_mul_ps(_mm512_set1_ps(0.044715f), x3));
        __m512 t = z_tanhf(_mm512_mul_ps(_mm512_set1_ps(0.7978845608f), u));
        __m512 g = _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(0.5f), x),
                                 _mm512_add_ps(_mm512_set1_ps(1.0f), t));
        _mm512_storeu_ps(out + i, _mm512_mul_ps(g, _mm512_loadu_ps(up + i)));
    }
    vm_gelu_glu_avx2(gate + i, up + i, out + i, n - i);
}

/* ---- A6 softmax ---------------------------------------------------------------------------- */

/* The A6 softmax in place, n >= 1, 16 lanes at a time with masked tails.
 * max: every lane runs the scalar step m = (x > m ? x : m) from x[0] over its elements, then
 * the lanes are merged the same way. The maximum of a set does not depend on the order except
 * for the sign of a zero maximum, so that case is redone in list order; a NaN x[0] stays in
 * every lane, as in the scalar loop, and a later NaN never wins there either.
 * S = sum8(e): A1 lane l takes e[16k+l] (low half) and then e[16k+8+l] (high half), which is
 * its increasing index order; the tail adds only the lanes that exist. */
void vm_softmax_avx512(float *x, size_t n)
{
    size_t i = 0, rem = n % 16;
    __mmask16 tail = (__mmask16)((1u << rem) - 1);
    __m512 m = _mm512_set1_ps(x[0]);
    for (; i + 16 <= n; i += 16)
        m = _mm512_max_ps(_mm512_loadu_ps(x + i), m);
    if (rem)
        m = _mm512_mask_max_ps(m, tail, _mm512_maskz_loadu_ps(tail, x + i), m);
    __m256 m8 = _mm256_max_ps(hi256(m), _mm512_castps512_ps256(m));
    __m128 m4 = _mm_max_ps(_mm256_extractf128_ps(m8, 1), _mm256_castps256_ps128(m8));
    m4 = _mm_max_ps(_mm_movehl_ps(m4, m4), m4);
    m4 = _mm_max_ss(_mm_shuffle_ps(m4, m4, 1), m4);
    float mx = _mm_cvtss_f32(m4);
    if (mx == 0.0f) {
        mx = x[0];
        for (size_t k = 1; k < n; k++)
            if (x[k] > mx)
                mx = x[k];
    }
    __m512 vm = _mm512_set1_ps(mx);
    __m256 acc = _mm256_setzero_ps();
    for (i = 0; i + 16 <= n; i += 16) {
        __m512 e = z_expf(_mm512_sub_ps(_mm512_loadu_ps(x + i), vm));
        _mm512_storeu_ps(x + i, e);
        acc = _mm256_add_ps(acc, _mm512_castps512_ps256(e));
        acc = _mm256_add_ps(acc, hi256(e));
    }
    if (rem) {
        __m512 e = z_expf(_mm512_sub_ps(_mm512_maskz_loadu_ps(tail, x + i), vm));
        _mm512_mask_storeu_ps(x + i, tail, e);
        acc = _mm256_mask_add_ps(acc, (__mmask8)(tail & 0xff), acc, _mm512_castps512_ps256(e));
        acc = _mm256_mask_add_ps(acc, (__mmask8)(tail >> 8), acc, hi256(e));
    }
    __m512 S = _mm512_set1_ps(combine8_256(acc));
    for (i = 0; i + 16 <= n; i += 16)
        _mm512_storeu_ps(x + i, _mm512_div_ps(_mm512_loadu_ps(x + i), S));
    if (rem)
        _mm512_mask_storeu_ps(x + i, tail, _mm512_div_ps(_mm512_maskz_loadu_ps(tail, x + i), S));
}

/* ---- per-head RMSNorm and RoPE (A6) ----------------------------------------------------- */

/* In place, as vm_rmsnorm_rope. ss = dot8(x, x): A1 lane l takes x[16k+l]^2 (low half) and
 * then x[16k+8+l]^2 (high half), its increasing index order; a tail adds only the lanes that
 * exist. Then the scalar mean, 1/sqrtf and the elementwise products; RoPE loads both halves of
 * a pair before storing either. */
void vm_rmsnorm_rope_avx512(float *x, const float *w, size_t d, float eps, const float *c,
                            const float *sn, size_t half)
{
    size_t i = 0, rem = d % 16;
    __mmask16 tail = (__mmask16)((1u << rem) - 1);
    __m256 acc = _mm256_setzero_ps();
    for (; i + 16 <= d; i += 16) {
        __m512 v = _mm512_loadu_ps(x + i);
        __m512 sq = _mm512_mul_ps(v, v);
        acc = _mm256_add_ps(acc, _mm512_castps512_ps256(sq));
        acc = _mm256_add_ps(acc, hi256(sq));
    }
    if (rem) {
        __m512 v = _mm512_maskz_loadu_ps(tail, x + i);
        __m512 sq = _mm512_mul_ps(v, v);
        acc = _mm256_mask_add_ps(acc, (__mmask8)(tail & 0xff), acc, _mm512_castps512_ps256(sq));
        acc = _mm256_mask_add_ps(acc, (__mmask8)(tail >> 8), acc, hi256(sq));
    }
    float mean = combine8_256(acc) / (float)d;
    __m512 r = _mm512_set1_ps(1.0f / sqrtf(mean + eps));
    for (i = 0; i < d; i += 16) {
        __mmask16 k = d - i < 16 ? tail : 0xffff;
        __m512 y = _mm512_mul_ps(_mm512_maskz_loadu_ps(k, x + i), r);
        if (w)
            y = _mm512_mul_ps(y, _mm512_maskz_loadu_ps(k, w + i));
        _mm512_mask_storeu_ps(x + i, k, y);
    }
    for (i = 0; i < half; i += 16) {
        __mmask16 k = half - i < 16 ? (__mmask16)((1u << (half - i)) - 1) : 0xffff;
        __m512 x0 = _mm512_maskz_loadu_ps(k, x + i), x1 = _mm512_maskz_loadu_ps(k, x + i + half);
        __m512 cv = _mm512_maskz_loadu_ps(k, c + i), sv = _mm512_maskz_loadu_ps(k, sn + i);
        __m512 y0 = _mm512_sub_ps(_mm512_mul_ps(x0, cv), _mm512_mul_ps(x1, sv));
        __m512 y1 = _mm512_add_ps(_mm512_mul_ps(x1, cv), _mm512_mul_ps(x0, sv));
        _mm512_mask_storeu_ps(x + i, k, y0);
        _mm512_mask_storeu_ps(x + i + half, k, y1);
    }
}

/* ---- A3 on 16 lanes: the operations of vmath_avx2.c's q8_quantize_rows_avx2 -------------- */

static inline __m128i z_quant8(__m512 x, __m512 id)
{
    __m512 v = _mm512_mul_ps(x, id);
    __m512 a = _mm512_add_ps(z_abs(v), _mm512_set1_ps(0.5f));
    a = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(v, v, _CMP_ORD_Q), a); /* NaN -> 0 */
    a = _mm512_min_ps(a, _mm512_set1_ps(127.0f)); /* trunc commutes with the clamp */
    __m512i i = _mm512_cvttps_epi32(a);
    __mmask16 neg = _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_LT_OQ);
    i = _mm512_mask_sub_epi32(i, neg, _mm512_setzero_si512(), i); /* v < 0: -i */
    return _mm512_cvtsepi32_epi8(i);                              /* |i| <= 127: no saturation */
}

void q8_quantize_rows_avx512(const float *x, int rows, int cols, q8_act *out)
{
    const int nb = cols / QK;
    for (int r = 0; r < rows; r++) {
        for (int b = 0; b < nb; b++) {
            const float *xb = x + (size_t)r * cols + (size_t)b * QK;
            int8_t *qb = out->q + (size_t)r * cols + (size_t)b * QK;
            __m512 x0 = _mm512_loadu_ps(xb), x1 = _mm512_loadu_ps(xb + 16);
            /* max(v, acc) = v > acc ? v : acc: NaN never wins; the maximum of the rest is the
             * same in any order (all values are >= +0 after the absolute value). */
            __m512 m = _mm512_max_ps(z_abs(x0), _mm512_setzero_ps());
            m = _mm512_max_ps(z_abs(x1), m);
            __m256 m8 =
                _mm256_max_ps(_mm512_castps512_ps256(m),
                              _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(m), 1)));
            __m128 h = _mm_max_ps(_mm256_castps256_ps128(m8), _mm256_extractf128_ps(m8, 1));
            h = _mm_max_ps(h, _mm_movehl_ps(h, h));
            h = _mm_max_ss(h, _mm_shuffle_ps(h, h, 1));
            float amax = _mm_cvtss_f32(h);
            if (amax == 0.0f) {
                out->d[(size_t)r * nb + b] = 0.0f;
                _mm256_storeu_si256((__m256i *)qb, _mm256_setzero_si256());
                continue;
            }
            float d = amax / 127.0f;
            float idf = 127.0f / amax;
            out->d[(size_t)r * nb + b] = d;
            __m512 id = _mm512_set1_ps(idf);
            _mm_storeu_si128((__m128i *)qb, z_quant8(x0, id));
            _mm_storeu_si128((__m128i *)(qb + 16), z_quant8(x1, id));
        }
    }
}
