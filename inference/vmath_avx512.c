/*
 * AVX-512 versions of vmath: attention pieces, cm_expf/cm_tanhf arrays (GELU, softcap), the
 * RMSNorm/residual steps and A3 (compiled with -mavx512f -mavx512vl; run only on the
 * KERNEL_AVX512VNNI path, whose CPU check covers them). Same bits as the AVX2 and portable
 * code: every score or sum of squares keeps its own eight A1 lanes (two rows share a zmm, one
 * per 256-bit half) and the same A1 combine; every weighted-sum element gets the same sequence
 * of one rounded multiply and one rounded add per key; elementwise functions do each element's
 * scalar operations. No FMA (-ffp-contract=off, and only separate mul/add intrinsics are
 * used).
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

/* Rows a and b side by side: lanes 0-7 hold row a's A1 lanes, lanes 8-15 row b's. */
static inline __m512 load_pair(const float *a, const float *b)
{
    /* AVX512F forms (no DQ): the 64-bit-lane insert moves the same 256 bits */
    __m512d lo = _mm512_castpd256_pd512(_mm256_castps_pd(_mm256_loadu_ps(a)));
    return _mm512_castpd_ps(_mm512_insertf64x4(lo, _mm256_castps_pd(_mm256_loadu_ps(b)), 1));
}

/* Each half's A1 combine: o[0] from lanes 0-7, o[1] from lanes 8-15. */
static inline void store_pair(__m512 acc, float *o)
{
    o[0] = combine8_256(_mm512_castps512_ps256(acc));
    o[1] = combine8_256(hi256(acc));
}

/* dot8(x[j], x[j]) for up to four rows of n values (n a multiple of 8): two rows share a zmm,
 * one per 256-bit half, each half with its own eight A1 lanes and A1 combine, so the four
 * dependency chains of additions run side by side. */
void vm_sumsq8_rows_avx512(const float *const *x, size_t m, size_t n, float *out)
{
    const float *r[4];
    for (size_t j = 0; j < 4; j++)
        r[j] = x[j < m ? j : 0];
    __m512 a = _mm512_setzero_ps(), b = _mm512_setzero_ps();
    for (size_t i = 0; i < n; i += 8) {
        __m512 u = load_pair(r[0] + i, r[1] + i), v = load_pair(r[2] + i, r[3] + i);
        a = _mm512_add_ps(a, _mm512_mul_ps(u, u));
        b = _mm512_add_ps(b, _mm512_mul_ps(v, v));
    }
    float o[4];
    store_pair(a, o);
    store_pair(b, o + 2);
    for (size_t j = 0; j < m; j++)
        out[j] = o[j];
}

/* ---- cm_expf / cm_tanhf on 16 lanes: the operations of vmath_avx2.c's v_expf / v_tanhf ---- */

static inline __m512 z_abs(__m512 x)
{
    return _mm512_castsi512_ps(
        _mm512_and_si512(_mm512_castps_si512(x), _mm512_set1_epi32(0x7fffffff)));
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

/* cm_tanhf on u (1..4) vectors at once, its steps interleaved across the vectors: every step of
 * cm_tanhf is one long dependency chain (two Horner polynomials, a division), so one vector
 * at a time leaves most of the core idle; four independent chains side by side fill it.
 * Each lane gets exactly cm_tanhf's operations:
 * - a branch whose lanes are all unused is skipped (all |x| < 0.55: no exp/division; none
 *   below 0.55: no polynomial), a NaN lane is never "below 0.55" so it always takes the
 *   general path;
 * - the exp branch is cm_expf(2a) for 0.55 <= a < 9: 2a in [1.1, 18) needs neither of
 *   cm_expf's clamps, and n = rint(2a*log2e) in [1, 26] makes its two exact power-of-two
 *   scalings one exact scaling by 2^n. Lanes outside that range compute garbage there that
 *   the blends below discard (no exception is ever unmasked);
 * - t = 1 - 2/(e + 1) > 0, so "x < 0 ? -t : t" is t with x's sign bit (x is not -0 here:
 *   tiny lanes return x);
 * - a NaN lane runs the exp steps, whose every operation passes the NaN on, and keeps that
 *   NaN (cm_tanhf's x + x: a NaN, and test_vmath counts all NaNs as equal). */
static inline __attribute__((always_inline)) void z_tanh_n(const __m512 *x, __m512 *y, const int u)
{
    __m512 a[4], small[4], t[4];
    __mmask16 ms[4], any_small = 0, all_small = 0xffff;
    for (int k = 0; k < u; k++) {
        a[k] = z_abs(x[k]);
        ms[k] = _mm512_cmp_ps_mask(a[k], _mm512_set1_ps(0.55f), _CMP_LT_OQ);
        any_small |= ms[k];
        all_small &= ms[k];
    }
    if (any_small) {
        __m512 z[4], p[4];
        for (int k = 0; k < u; k++)
            z[k] = _mm512_mul_ps(x[k], x[k]);
        for (int k = 0; k < u; k++)
            p[k] = _mm512_add_ps(_mm512_mul_ps(_mm512_set1_ps(CM_TANH_P5), z[k]),
                                 _mm512_set1_ps(CM_TANH_P4));
        for (int k = 0; k < u; k++)
            p[k] = _mm512_add_ps(_mm512_mul_ps(p[k], z[k]), _mm512_set1_ps(CM_TANH_P3));
        for (int k = 0; k < u; k++)
            p[k] = _mm512_add_ps(_mm512_mul_ps(p[k], z[k]), _mm512_set1_ps(CM_TANH_P2));
        for (int k = 0; k < u; k++)
            p[k] = _mm512_add_ps(_mm512_mul_ps(p[k], z[k]), _mm512_set1_ps(CM_TANH_P1));
        for (int k = 0; k < u; k++)
            p[k] = _mm512_add_ps(_mm512_mul_ps(p[k], z[k]), _mm512_set1_ps(CM_TANH_P0));
        for (int k = 0; k < u; k++)
            small[k] = _mm512_add_ps(x[k], _mm512_mul_ps(x[k], _mm512_mul_ps(z[k], p[k])));
        if (all_small == 0xffff) { /* every lane < 0.55 (so none is NaN) */
            for (int k = 0; k < u; k++)
                y[k] = _mm512_mask_blend_ps(
                    _mm512_cmp_ps_mask(a[k], _mm512_set1_ps(0x1p-12f), _CMP_LT_OQ), small[k], x[k]);
            return;
        }
    }
    const __m512 one = _mm512_set1_ps(1.0f), magic = _mm512_set1_ps(CM_ROUND_MAGIC);
    __m512 v[4], nf[4], r[4], q[4];
    __m512i n[4];
    for (int k = 0; k < u; k++) {
        v[k] = _mm512_add_ps(a[k], a[k]);
        nf[k] = _mm512_add_ps(_mm512_mul_ps(v[k], _mm512_set1_ps(CM_LOG2E)), magic);
    }
    for (int k = 0; k < u; k++) {
        /* magic + n is exact (|n| < 2^22), so its bits are magic's plus n: n + 127 from them */
        n[k] =
            _mm512_add_epi32(_mm512_castps_si512(nf[k]), _mm512_set1_epi32(127 - (int)0x4b400000));
        nf[k] = _mm512_sub_ps(nf[k], magic);
    }
    for (int k = 0; k < u; k++)
        r[k] = _mm512_sub_ps(v[k], _mm512_mul_ps(nf[k], _mm512_set1_ps(CM_LN2_HI)));
    for (int k = 0; k < u; k++)
        r[k] = _mm512_sub_ps(r[k], _mm512_mul_ps(nf[k], _mm512_set1_ps(CM_LN2_LO)));
    for (int k = 0; k < u; k++)
        q[k] = _mm512_add_ps(_mm512_mul_ps(_mm512_set1_ps(CM_EXP_Q4), r[k]),
                             _mm512_set1_ps(CM_EXP_Q3));
    for (int k = 0; k < u; k++)
        q[k] = _mm512_add_ps(_mm512_mul_ps(q[k], r[k]), _mm512_set1_ps(CM_EXP_Q2));
    for (int k = 0; k < u; k++)
        q[k] = _mm512_add_ps(_mm512_mul_ps(q[k], r[k]), _mm512_set1_ps(CM_EXP_Q1));
    for (int k = 0; k < u; k++)
        q[k] = _mm512_add_ps(_mm512_mul_ps(q[k], r[k]), _mm512_set1_ps(CM_EXP_Q0));
    for (int k = 0; k < u; k++)
        q[k] = _mm512_add_ps(r[k], _mm512_mul_ps(_mm512_mul_ps(r[k], r[k]), q[k]));
    for (int k = 0; k < u; k++) {
        __m512 p = _mm512_add_ps(one, q[k]);
        __m512 e = _mm512_mul_ps(p, _mm512_castsi512_ps(_mm512_slli_epi32(n[k], 23)));
        t[k] = _mm512_sub_ps(one, _mm512_div_ps(_mm512_set1_ps(2.0f), _mm512_add_ps(e, one)));
    }
    for (int k = 0; k < u; k++) {
        /* "not a >= 9" also keeps a NaN lane's t, which is then a NaN (the exp steps carry
         * it through), as cm_tanhf's x + x is */
        __mmask16 below9 = _mm512_cmp_ps_mask(a[k], _mm512_set1_ps(9.0f), _CMP_NGE_UQ);
        __m512 tk = _mm512_mask_blend_ps(below9, one, t[k]);
        /* tk ^ (x & sign bit) */
        tk = _mm512_castsi512_ps(
            _mm512_ternarylogic_epi32(_mm512_castps_si512(tk), _mm512_castps_si512(x[k]),
                                      _mm512_set1_epi32((int)0x80000000u), 0x78));
        if (any_small) {
            tk = _mm512_mask_blend_ps(ms[k], tk, small[k]);
            tk = _mm512_mask_blend_ps(
                _mm512_cmp_ps_mask(a[k], _mm512_set1_ps(0x1p-12f), _CMP_LT_OQ), tk, x[k]);
        }
        y[k] = tk;
    }
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
    for (; i + 64 <= n; i += 64) {
        __m512 v[4], t[4];
        for (int k = 0; k < 4; k++)
            v[k] = _mm512_loadu_ps(x + i + 16 * k);
        z_tanh_n(v, t, 4);
        for (int k = 0; k < 4; k++)
            _mm512_storeu_ps(y + i + 16 * k, t[k]);
    }
    for (; i + 16 <= n; i += 16) {
        __m512 v = _mm512_loadu_ps(x + i), t;
        z_tanh_n(&v, &t, 1);
        _mm512_storeu_ps(y + i, t);
    }
    vm_tanhf_array_avx2(x + i, y + i, n - i);
}

/* y = cap * tanh(y / cap) on u vectors */
static inline __attribute__((always_inline)) void z_softcap_n(float *y, __m512 c, const int u)
{
    __m512 v[4], t[4];
    for (int k = 0; k < u; k++)
        v[k] = _mm512_div_ps(_mm512_loadu_ps(y + 16 * k), c);
    z_tanh_n(v, t, u);
    for (int k = 0; k < u; k++)
        _mm512_storeu_ps(y + 16 * k, _mm512_mul_ps(c, t[k]));
}

void vm_softcap_avx512(float *y, size_t n, float cap)
{
    size_t i = 0;
    __m512 c = _mm512_set1_ps(cap);
    for (; i + 64 <= n; i += 64)
        z_softcap_n(y + i, c, 4);
    for (; i + 16 <= n; i += 16)
        z_softcap_n(y + i, c, 1);
    vm_softcap_avx2(y + i, n - i, cap);
}

/* out = gelu(gate) * up on u vectors (A6: u = x + 0.044715*((x*x)*x), t = tanh(0.79788*u),
 * g = (0.5*x)*(1 + t)) */
static inline __attribute__((always_inline)) void z_gelu_glu_n(const float *gate, const float *up,
                                                               __m512 *out, const int u)
{
    __m512 x[4], v[4], t[4];
    for (int k = 0; k < u; k++) {
        x[k] = _mm512_loadu_ps(gate + 16 * k);
        __m512 x3 = _mm512_mul_ps(_mm512_mul_ps(x[k], x[k]), x[k]);
        __m512 w = _mm512_add_ps(x[k], _mm512_mul_ps(_mm512_set1_ps(0.044715f), x3));
        v[k] = _mm512_mul_ps(_mm512_set1_ps(0.7978845608f), w);
    }
    z_tanh_n(v, t, u);
    for (int k = 0; k < u; k++) {
        __m512 g = _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(0.5f), x[k]),
                                 _mm512_add_ps(_mm512_set1_ps(1.0f), t[k]));
        out[k] = _mm512_mul_ps(g, _mm512_loadu_ps(up + 16 * k));
    }
}

void vm_gelu_glu_avx512(const float *gate, const float *up, float *out, size_t n)
{
    size_t i = 0;
    __m512 h[4];
    for (; i + 64 <= n; i += 64) {
        z_gelu_glu_n(gate + i, up + i, h, 4);
        for (int k = 0; k < 4; k++)
            _mm512_storeu_ps(out + i + 16 * k, h[k]);
    }
    for (; i + 16 <= n; i += 16) {
        z_gelu_glu_n(gate + i, up + i, h, 1);
        _mm512_storeu_ps(out + i, h[0]);
    }
    vm_gelu_glu_avx2(gate + i, up + i, out + i, n - i);
}

/* ---- the simple elementwise steps: 16 lanes, the last 1..15 as one masked vector (masked-off
 * lanes are neither read nor written); the same per-element operations -------------------- */

/* Runs STEP(i, k) for i = 0, 16, ... < n with k the lane mask of that vector. */
#define Z_LOOP(n, STEP)                                                                            \
    do {                                                                                           \
        size_t i_ = 0;                                                                             \
        for (; i_ + 16 <= (n); i_ += 16)                                                           \
            STEP(i_, (__mmask16)0xffff);                                                           \
        if (i_ < (n))                                                                              \
            STEP(i_, (__mmask16)((1u << ((n)-i_)) - 1));                                           \
    } while (0)

void vm_scale_mul_avx512(const float *x, float s, const float *w, float *y, size_t n)
{
    const __m512 vs = _mm512_set1_ps(s);
#define STEP_W(i, k)                                                                               \
    _mm512_mask_storeu_ps(y + (i), k,                                                              \
                          _mm512_mul_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(k, x + (i)), vs),      \
                                        _mm512_maskz_loadu_ps(k, w + (i))))
#define STEP_NOW(i, k)                                                                             \
    _mm512_mask_storeu_ps(y + (i), k, _mm512_mul_ps(_mm512_maskz_loadu_ps(k, x + (i)), vs))
    if (w)
        Z_LOOP(n, STEP_W);
    else
        Z_LOOP(n, STEP_NOW);
#undef STEP_W
#undef STEP_NOW
}

void vm_add_avx512(const float *a, const float *b, float *y, size_t n)
{
#define STEP(i, k)                                                                                 \
    _mm512_mask_storeu_ps(                                                                         \
        y + (i), k,                                                                                \
        _mm512_add_ps(_mm512_maskz_loadu_ps(k, a + (i)), _mm512_maskz_loadu_ps(k, b + (i))))
    Z_LOOP(n, STEP);
#undef STEP
}

void vm_add_scale_avx512(const float *a, const float *b, float s, float *y, size_t n)
{
    const __m512 vs = _mm512_set1_ps(s);
#define STEP(i, k)                                                                                 \
    _mm512_mask_storeu_ps(y + (i), k,                                                              \
                          _mm512_mul_ps(_mm512_add_ps(_mm512_maskz_loadu_ps(k, a + (i)),           \
                                                      _mm512_maskz_loadu_ps(k, b + (i))),          \
                                        vs))
    Z_LOOP(n, STEP);
#undef STEP
}

void vm_axpy_avx512(float *acc, float w, const float *x, size_t n)
{
    const __m512 vw = _mm512_set1_ps(w);
#define STEP(i, k)                                                                                 \
    _mm512_mask_storeu_ps(acc + (i), k,                                                            \
                          _mm512_add_ps(_mm512_maskz_loadu_ps(k, acc + (i)),                       \
                                        _mm512_mul_ps(vw, _mm512_maskz_loadu_ps(k, x + (i)))))
    Z_LOOP(n, STEP);
#undef STEP
}

/* acc stays in a register over the m rows: +0 (a real add of +0, so -0 products become +0
 * as in the scalar loop) or acc, then one rounded multiply and one rounded add per row. */
void vm_axpy_rows_avx512(float *acc, const float *w, const float *const *x, size_t m, size_t n,
                         int from_zero)
{
#define STEP(i, k)                                                                                 \
    do {                                                                                           \
        __m512 a = from_zero ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(k, acc + (i));          \
        for (size_t r = 0; r < m; r++)                                                             \
            a = _mm512_add_ps(                                                                     \
                a, _mm512_mul_ps(_mm512_set1_ps(w[r]), _mm512_maskz_loadu_ps(k, x[r] + (i))));     \
        _mm512_mask_storeu_ps(acc + (i), k, a);                                                    \
    } while (0)
    Z_LOOP(n, STEP);
#undef STEP
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

/* round_half_away(x*id) clamped to [-127, 127] on 16 lanes, as int32 (the sampler's fused
 * P = e/S quantiser packs four of these itself). */
static inline __m512i z_quant32(__m512 x, __m512 id)
{
    __m512 v = _mm512_mul_ps(x, id);
    __m512 a = _mm512_add_ps(z_abs(v), _mm512_set1_ps(0.5f));
    a = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(v, v, _CMP_ORD_Q), a); /* NaN -> 0 */
    a = _mm512_min_ps(a, _mm512_set1_ps(127.0f)); /* trunc commutes with the clamp */
    __m512i i = _mm512_cvttps_epi32(a);
    __mmask16 neg = _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_LT_OQ);
    return _mm512_mask_sub_epi32(i, neg, _mm512_setzero_si512(), i); /* v < 0: -i */
}

/* round_half_away(x*id) clamped to [-127, 127] (NaN -> 0) with fewer operations than the
 * scalar form, same values: v + copysign(0.5, v) is sign(v) * (|v| + 0.5f) exactly (RNE
 * rounding is symmetric; v = -0 gives -0.5, which truncates to 0), truncation commutes with
 * the sign and with the clamp to +-127, and a NaN lane (only NaN v is unordered) is zeroed. */
static inline __m128i z_quant8(__m512 x, __m512 id)
{
    __m512 v = _mm512_mul_ps(x, id);
    __m512i h = _mm512_ternarylogic_epi32(
        _mm512_castps_si512(v), _mm512_set1_epi32((int)0x80000000u),
        _mm512_castps_si512(_mm512_set1_ps(0.5f)), 0xea); /* (v & sign) | 0.5 */
    __m512 t = _mm512_add_ps(v, _mm512_castsi512_ps(h));
    t = _mm512_max_ps(_mm512_min_ps(t, _mm512_set1_ps(127.0f)), _mm512_set1_ps(-127.0f));
    __m512i i = _mm512_maskz_cvttps_epi32(_mm512_cmp_ps_mask(v, v, _CMP_ORD_Q), t);
    return _mm512_cvtsepi32_epi8(i); /* |i| <= 127: no saturation */
}

/* The 16 block maxima m[0..15] (16 lanes each, all >= +0, no NaN) reduced to one vector
 * whose lane i is block i's maximum: a transposing tree of shuffles and max (max of non-NaN
 * values is exact and order-free). */
static inline __m512 z_hmax16(const __m512 *m)
{
    __m512 c[8], d[4], e[2];
    for (int j = 0; j < 8; j++) /* lanes 0-7: block 2j, lanes 8-15: block 2j+1 */
        c[j] = _mm512_max_ps(_mm512_shuffle_f32x4(m[2 * j], m[2 * j + 1], 0x44),
                             _mm512_shuffle_f32x4(m[2 * j], m[2 * j + 1], 0xee));
    for (int j = 0; j < 4; j++) /* 128-bit chunk k: block 4j+k */
        d[j] = _mm512_max_ps(_mm512_shuffle_f32x4(c[2 * j], c[2 * j + 1], 0x88),
                             _mm512_shuffle_f32x4(c[2 * j], c[2 * j + 1], 0xdd));
    for (int j = 0; j < 2; j++) /* chunk k, floats 0-1: block 8j+k, floats 2-3: block 8j+4+k */
        e[j] = _mm512_max_ps(_mm512_shuffle_ps(d[2 * j], d[2 * j + 1], 0x44),
                             _mm512_shuffle_ps(d[2 * j], d[2 * j + 1], 0xee));
    /* chunk k, float j: block 4j + k */
    __m512 f =
        _mm512_max_ps(_mm512_shuffle_ps(e[0], e[1], 0x88), _mm512_shuffle_ps(e[0], e[1], 0xdd));
    const __m512i idx = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    return _mm512_permutexvar_ps(idx, f);
}

/* The value quantised at x[i] in each mode of z_quant_row: the row itself, or one of the
 * scaled rows of vm_quantize_scaled_row, (x*s)*w, x*s, ((x*s)*w)*p (one rounding per product,
 * in that order). */
enum { ZQ_PLAIN, ZQ_SCALE_W, ZQ_SCALE, ZQ_SCALE_W_POST };

static inline __attribute__((always_inline)) __m512
z_row_value(const float *x, __m512 s, const float *w, __m512 p, size_t i, const int mode)
{
    __m512 v = _mm512_loadu_ps(x + i);
    if (mode == ZQ_PLAIN)
        return v;
    v = _mm512_mul_ps(v, s);
    if (mode == ZQ_SCALE)
        return v;
    v = _mm512_mul_ps(v, _mm512_loadu_ps(w + i));
    return mode == ZQ_SCALE_W_POST ? _mm512_mul_ps(v, p) : v;
}

/* A3 of one row of n values (a multiple of QK), sixteen blocks per step: their maxima by one
 * transposing reduction and d = amax/127, id = 127/amax by two vector divisions (IEEE
 * division: the scalar quotients' bits). A block with amax == 0 gets d = +0 and id = 0, so its
 * x*id are +-0 or NaN and all quantise to 0, as the scalar path's zero block. The last group of
 * a row may be short: its missing blocks are neither loaded nor stored. Scaled modes compute
 * each value twice (for the maximum, then for q) instead of storing it. */
static inline __attribute__((always_inline)) void z_quant_row(const float *x, float sf,
                                                              const float *w, float pf, int n,
                                                              int8_t *qr, float *dr, const int mode)
{
    const int nb = n / QK;
    const __m512 s = _mm512_set1_ps(sf), p = _mm512_set1_ps(pf);
    __attribute__((aligned(64))) float ids[16];
    for (int g = 0; g < nb; g += 16) {
        const int ng = nb - g < 16 ? nb - g : 16;
        __m512 m[16];
        for (int b = 0; b < 16; b++) {
            if (b < ng) {
                const size_t i = (size_t)(g + b) * QK;
                /* max(v, acc) = v > acc ? v : acc: NaN never wins */
                __m512 mb =
                    _mm512_max_ps(z_abs(z_row_value(x, s, w, p, i, mode)), _mm512_setzero_ps());
                m[b] = _mm512_max_ps(z_abs(z_row_value(x, s, w, p, i + 16, mode)), mb);
            } else {
                m[b] = _mm512_setzero_ps();
            }
        }
        __m512 amax = z_hmax16(m);
        __m512 dv = _mm512_div_ps(amax, _mm512_set1_ps(127.0f));
        __m512 idv = _mm512_div_ps(_mm512_set1_ps(127.0f), amax);
        idv = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(amax, _mm512_setzero_ps(), _CMP_NEQ_OQ), idv);
        _mm512_mask_storeu_ps(dr + g, (__mmask16)((1u << ng) - 1), dv);
        _mm512_store_ps(ids, idv);
        for (int b = 0; b < ng; b++) {
            const size_t i = (size_t)(g + b) * QK;
            __m512 id = _mm512_set1_ps(ids[b]);
            _mm_storeu_si128((__m128i *)(qr + i), z_quant8(z_row_value(x, s, w, p, i, mode), id));
            _mm_storeu_si128((__m128i *)(qr + i + 16),
                             z_quant8(z_row_value(x, s, w, p, i + 16, mode), id));
        }
    }
}

void q8_quantize_rows_avx512(const float *x, int rows, int cols, q8_act *out)
{
    const int nb = cols / QK;
    for (int r = 0; r < rows; r++)
        z_quant_row(x + (size_t)r * cols, 1.0f, NULL, 1.0f, cols, out->q + (size_t)r * cols,
                    out->d + (size_t)r * nb, ZQ_PLAIN);
}

void vm_quantize_scaled_row_avx512(const float *x, float s, const float *w, const float *post,
                                   int n, int8_t *q, float *d)
{
    if (!w)
        z_quant_row(x, s, NULL, 1.0f, n, q, d, ZQ_SCALE);
    else if (!post)
        z_quant_row(x, s, w, 1.0f, n, q, d, ZQ_SCALE_W);
    else
        z_quant_row(x, s, w, *post, n, q, d, ZQ_SCALE_W_POST);
}

/* ---- A9 sampler rows on 16 lanes: tempering with the argmax, chunk statistics --------- */

static inline __m256 z_lo(__m512 v)
{
    return _mm512_castps512_ps256(v);
}

static inline __m256 z_hi(__m512 v)
{
    return _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
}

/* The lanes of ids i..i+15 (within k) whose allowed byte is nonzero. */
static inline __mmask16 z_allowed(const uint8_t *allowed, __mmask16 k)
{
    __m128i b = _mm_maskz_loadu_epi8(k, allowed);
    return _mm_mask_test_epi8_mask(k, b, b);
}

static inline __mmask16 z_allowed16(const uint8_t *allowed)
{
    __m128i b = _mm_loadu_si128((const __m128i *)allowed);
    return _mm_test_epi8_mask(b, b);
}

/* Running first maxima: two sets of 16 lanes (even and odd vectors, for two independent
 * dependency chains), each lane holding the largest value of its ids and the first id with
 * it (`>` only replaces), -inf / id -1 while it has seen nothing above -inf. */
typedef struct {
    __m512 best[2];
    __m512i id[2];
    __mmask16 nan;
} z_firstmax;

static inline void zfm_add(z_firstmax *a, int set, __m512 v, __m512i ids, __mmask16 live)
{
    __mmask16 gt = _mm512_mask_cmp_ps_mask(live, v, a->best[set], _CMP_GT_OQ);
    a->best[set] = _mm512_mask_mov_ps(a->best[set], gt, v);
    a->id[set] = _mm512_mask_mov_epi32(a->id[set], gt, ids);
    a->nan = (__mmask16)(a->nan | _mm512_mask_cmp_ps_mask(live, v, v, _CMP_UNORD_Q));
}

/* The sequential rule's answer from the lanes: with no NaN among the allowed values, it is the
 * first id holding the largest value, if that is above -inf. Otherwise (a NaN, or nothing above
 * -inf, or nothing allowed) the scalar rule runs over z. */
static ptrdiff_t zfm_result(const z_firstmax *a, const float *z, const uint8_t *allowed, size_t n)
{
    if (a->nan)
        return vm_argmax_scalar(z, allowed, n);
    float best[32];
    int32_t id[32];
    _mm512_storeu_ps(best, a->best[0]);
    _mm512_storeu_ps(best + 16, a->best[1]);
    _mm512_storeu_si512(id, a->id[0]);
    _mm512_storeu_si512(id + 16, a->id[1]);
    ptrdiff_t am = -1;
    float m = 0.0f;
    for (int l = 0; l < 32; l++)
        if (id[l] >= 0 && (am < 0 || best[l] > m || (best[l] == m && id[l] < am))) {
            am = id[l];
            m = best[l];
        }
    return am >= 0 ? am : vm_argmax_scalar(z, allowed, n);
}

/* divide: y = x / s first (then the argmax is over y); else the argmax of x. Ids fit int32
 * (a vocabulary row). */
static inline __attribute__((always_inline)) ptrdiff_t
z_argmax_row(const float *x, float s, float *y, const uint8_t *allowed, size_t n, int divide)
{
    const __m512 vs = _mm512_set1_ps(s);
    const __m512i step = _mm512_set1_epi32(16);
    z_firstmax a;
    a.best[0] = a.best[1] = _mm512_set1_ps(-INFINITY);
    a.id[0] = a.id[1] = _mm512_set1_epi32(-1);
    a.nan = 0;
    __m512i ids = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m512 v0 = _mm512_loadu_ps(x + i), v1 = _mm512_loadu_ps(x + i + 16);
        if (divide) {
            v0 = _mm512_div_ps(v0, vs);
            v1 = _mm512_div_ps(v1, vs);
            _mm512_storeu_ps(y + i, v0);
            _mm512_storeu_ps(y + i + 16, v1);
        }
        __mmask16 k0 = allowed ? z_allowed16(allowed + i) : (__mmask16)0xffff;
        __mmask16 k1 = allowed ? z_allowed16(allowed + i + 16) : (__mmask16)0xffff;
        zfm_add(&a, 0, v0, ids, k0);
        ids = _mm512_add_epi32(ids, step);
        zfm_add(&a, 1, v1, ids, k1);
        ids = _mm512_add_epi32(ids, step);
    }
    for (; i < n; i += 16) {
        __mmask16 k = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1);
        __m512 v = _mm512_maskz_loadu_ps(k, x + i);
        if (divide) {
            v = _mm512_div_ps(v, vs);
            _mm512_mask_storeu_ps(y + i, k, v);
        }
        zfm_add(&a, 0, v, ids, allowed ? z_allowed(allowed + i, k) : k);
        ids = _mm512_add_epi32(ids, step);
    }
    return zfm_result(&a, divide ? y : x, allowed, n);
}

void vm_div_avx512(const float *x, float s, float *y, size_t n)
{
    const __m512 vs = _mm512_set1_ps(s);
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(y + i, _mm512_div_ps(_mm512_loadu_ps(x + i), vs));
    if (i < n) {
        __mmask16 k = (__mmask16)((1u << (n - i)) - 1);
        _mm512_mask_storeu_ps(y + i, k, _mm512_div_ps(_mm512_maskz_loadu_ps(k, x + i), vs));
    }
}

/* (allowed NULL is passed as a constant so that the unmasked loops carry no mask code.) */
ptrdiff_t vm_argmax_avx512(const float *z, const uint8_t *allowed, size_t n)
{
    if (!allowed)
        return z_argmax_row(z, 1.0f, NULL, NULL, n, 0);
    return z_argmax_row(z, 1.0f, NULL, allowed, n, 0);
}

ptrdiff_t vm_div_argmax_avx512(const float *x, float s, float *y, const uint8_t *allowed, size_t n)
{
    if (!allowed)
        return z_argmax_row(x, s, y, NULL, n, 1);
    return z_argmax_row(x, s, y, allowed, n, 1);
}

/* cm_expf on 16 lanes with fewer operations than z_expf and the same bits: the rounding
 * n = rint(x * log2e) by vrndscaleps (round to nearest even, exact like the 1.5*2^23 trick for
 * |x * log2e| <= 151), and the scaling p * 2^n1 * 2^n2 by one vscalefps: p is in
 * [0.70, 1.42], so p * 2^n1 (n1 = n >> 1 >= -75) is exact and the result is one rounding of
 * p * 2^n in either form, overflow and gradual underflow included. */
static inline __m512 z_expf_scalef(__m512 x)
{
    __mmask16 nan = _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q);
    __m512 y = _mm512_min_ps(x, _mm512_set1_ps(89.0f));
    y = _mm512_max_ps(y, _mm512_set1_ps(-104.0f));
    __m512 nf = _mm512_roundscale_ps(_mm512_mul_ps(y, _mm512_set1_ps(CM_LOG2E)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_sub_ps(y, _mm512_mul_ps(nf, _mm512_set1_ps(CM_LN2_HI)));
    r = _mm512_sub_ps(r, _mm512_mul_ps(nf, _mm512_set1_ps(CM_LN2_LO)));
    __m512 q = _mm512_set1_ps(CM_EXP_Q4);
    q = _mm512_add_ps(_mm512_mul_ps(q, r), _mm512_set1_ps(CM_EXP_Q3));
    q = _mm512_add_ps(_mm512_mul_ps(q, r), _mm512_set1_ps(CM_EXP_Q2));
    q = _mm512_add_ps(_mm512_mul_ps(q, r), _mm512_set1_ps(CM_EXP_Q1));
    q = _mm512_add_ps(_mm512_mul_ps(q, r), _mm512_set1_ps(CM_EXP_Q0));
    __m512 u = _mm512_add_ps(r, _mm512_mul_ps(_mm512_mul_ps(r, r), q));
    __m512 p = _mm512_scalef_ps(_mm512_add_ps(_mm512_set1_ps(1.0f), u), nf);
    return _mm512_mask_add_ps(p, nan, x, x);
}

/* e and the two A1 sums: lane l of each 8-lane accumulator takes ids l, l+8, l+16, ... in
 * order, i.e. the low then the high half of each 16-id vector; missing tail lanes add +0,
 * which changes no sum (a sum that starts at +0 is never -0). */
static inline __attribute__((always_inline)) void z_exp_stats(const float *z, float m,
                                                              const uint8_t *allowed, float *e,
                                                              size_t n, float *sum_e, float *sum_t,
                                                              int terms)
{
    const __m512 vm = _mm512_set1_ps(m);
    __m256 se = _mm256_setzero_ps(), st = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m512 d0 = _mm512_sub_ps(_mm512_loadu_ps(z + i), vm);
        __m512 d1 = _mm512_sub_ps(_mm512_loadu_ps(z + i + 16), vm);
        __m512 ev0 = z_expf_scalef(d0), ev1 = z_expf_scalef(d1);
        __m512 t0 = _mm512_mul_ps(ev0, d0), t1 = _mm512_mul_ps(ev1, d1);
        if (allowed) {
            __mmask16 k0 = z_allowed16(allowed + i), k1 = z_allowed16(allowed + i + 16);
            ev0 = _mm512_maskz_mov_ps(k0, ev0);
            t0 = _mm512_maskz_mov_ps(k0, t0);
            ev1 = _mm512_maskz_mov_ps(k1, ev1);
            t1 = _mm512_maskz_mov_ps(k1, t1);
        }
        _mm512_storeu_ps(e + i, ev0);
        _mm512_storeu_ps(e + i + 16, ev1);
        se = _mm256_add_ps(se, z_lo(ev0));
        se = _mm256_add_ps(se, z_hi(ev0));
        se = _mm256_add_ps(se, z_lo(ev1));
        se = _mm256_add_ps(se, z_hi(ev1));
        if (terms) {
            st = _mm256_add_ps(st, z_lo(t0));
            st = _mm256_add_ps(st, z_hi(t0));
            st = _mm256_add_ps(st, z_lo(t1));
            st = _mm256_add_ps(st, z_hi(t1));
        }
    }
    for (; i + 16 <= n; i += 16) {
        __m512 d = _mm512_sub_ps(_mm512_loadu_ps(z + i), vm);
        __m512 ev = z_expf_scalef(d);
        __m512 t = _mm512_mul_ps(ev, d);
        if (allowed) {
            __mmask16 k = z_allowed16(allowed + i);
            ev = _mm512_maskz_mov_ps(k, ev);
            t = _mm512_maskz_mov_ps(k, t);
        }
        _mm512_storeu_ps(e + i, ev);
        se = _mm256_add_ps(se, z_lo(ev));
        se = _mm256_add_ps(se, z_hi(ev));
        if (terms) {
            st = _mm256_add_ps(st, z_lo(t));
            st = _mm256_add_ps(st, z_hi(t));
        }
    }
    if (i < n) {
        __mmask16 k = (__mmask16)((1u << (n - i)) - 1);
        __m512 d = _mm512_sub_ps(_mm512_maskz_loadu_ps(k, z + i), vm);
        __m512 ev = z_expf_scalef(d);
        __m512 t = _mm512_mul_ps(ev, d);
        __mmask16 live = allowed ? z_allowed(allowed + i, k) : k;
        ev = _mm512_maskz_mov_ps(live, ev);
        t = _mm512_maskz_mov_ps(live, t);
        _mm512_mask_storeu_ps(e + i, k, ev);
        se = _mm256_add_ps(se, z_lo(ev));
        se = _mm256_add_ps(se, z_hi(ev));
        if (terms) {
            st = _mm256_add_ps(st, z_lo(t));
            st = _mm256_add_ps(st, z_hi(t));
        }
    }
    *sum_e = combine8_256(se);
    if (terms)
        *sum_t = combine8_256(st);
}

void vm_exp_stats_avx512(const float *z, float m, const uint8_t *allowed, float *e, size_t n,
                         float *sum_e, float *sum_t)
{
    if (!allowed && sum_t)
        z_exp_stats(z, m, NULL, e, n, sum_e, sum_t, 1);
    else if (!allowed)
        z_exp_stats(z, m, NULL, e, n, sum_e, NULL, 0);
    else if (sum_t)
        z_exp_stats(z, m, allowed, e, n, sum_e, sum_t, 1);
    else
        z_exp_stats(z, m, allowed, e, n, sum_e, NULL, 0);
}

/* ---- A9's self-conditioning input: A3 of P = e / S, without writing P -------------------- */

/* The 4 x 4 transpose of 32-bit elements: out[b] = in[4 * (b % 4) + b / 4]. */
static const int32_t z_t44[16] = {0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15};

/* m[b] holds 16 values >= +0 (no NaN) of block b; returns the vector of the 16 block maxima in
 * block order. Four levels of pairwise shuffles and maxima (any order gives the same maximum
 * of such values): 256-bit halves, 128-bit quarters, pairs, single lanes; lane 4L + k of the
 * last level holds block 4k + L, hence the final transpose. */
static inline __m512 z_block_max16(const __m512 *m, __m512i t44)
{
    __m512 r[8], s[4], t[2];
    for (int k = 0; k < 8; k++)
        r[k] = _mm512_max_ps(_mm512_shuffle_f32x4(m[2 * k], m[2 * k + 1], 0x44),
                             _mm512_shuffle_f32x4(m[2 * k], m[2 * k + 1], 0xEE));
    for (int j = 0; j < 4; j++)
        s[j] = _mm512_max_ps(_mm512_shuffle_f32x4(r[2 * j], r[2 * j + 1], 0x88),
                             _mm512_shuffle_f32x4(r[2 * j], r[2 * j + 1], 0xDD));
    for (int i = 0; i < 2; i++)
        t[i] = _mm512_max_ps(_mm512_shuffle_ps(s[2 * i], s[2 * i + 1], 0x44),
                             _mm512_shuffle_ps(s[2 * i], s[2 * i + 1], 0xEE));
    __m512 u =
        _mm512_max_ps(_mm512_shuffle_ps(t[0], t[1], 0x88), _mm512_shuffle_ps(t[0], t[1], 0xDD));
    return _mm512_permutexvar_ps(t44, u);
}

/* Groups of 16 blocks (512 values) inside [0, n): P through a 2 KiB L1 buffer, the 16 block
 * maxima, d and 1/d-style id for all 16 at once (the same divisions as the per-block code),
 * then the bytes of two blocks per 64-byte store (the two packs interleave 128-bit lanes, the
 * transpose puts the blocks back in order). The rest (the last values and the padding) goes
 * through vm_div and q8_quantize_rows_avx512, which give the same bits. */
void vm_div_quantize_avx512(const float *e, float S, size_t n, size_t npad, int8_t *q, float *d)
{
    const __m512 vs = _mm512_set1_ps(S), c127 = _mm512_set1_ps(127.0f);
    const __m512i t44 = _mm512_loadu_si512(z_t44);
    _Alignas(64) float buf[512 + QK];
    size_t g = 0;
    for (; g + 512 <= n; g += 512) {
        __m512 m[16];
        for (int b = 0; b < 16; b++) {
            __m512 p0 = _mm512_div_ps(_mm512_loadu_ps(e + g + 32 * b), vs);
            __m512 p1 = _mm512_div_ps(_mm512_loadu_ps(e + g + 32 * b + 16), vs);
            _mm512_store_ps(buf + 32 * b, p0);
            _mm512_store_ps(buf + 32 * b + 16, p1);
            /* as q8_quantize_rows_avx512: a NaN never wins (max returns its second operand) */
            m[b] = _mm512_max_ps(z_abs(p1), _mm512_max_ps(z_abs(p0), _mm512_setzero_ps()));
        }
        __m512 amax = z_block_max16(m, t44);
        __mmask16 nz = _mm512_cmp_ps_mask(amax, _mm512_setzero_ps(), _CMP_NEQ_UQ);
        _mm512_storeu_ps(d + g / QK, _mm512_maskz_div_ps(nz, amax, c127));
        __m512 idv = _mm512_maskz_div_ps(nz, c127, amax); /* amax 0: id 0, every q 0 */
        for (int b = 0; b < 16; b += 2) {
            __m512 id0 = _mm512_permutexvar_ps(_mm512_set1_epi32(b), idv);
            __m512 id1 = _mm512_permutexvar_ps(_mm512_set1_epi32(b + 1), idv);
            const float *x = buf + 32 * b;
            __m512i i0 = z_quant32(_mm512_load_ps(x), id0);
            __m512i i1 = z_quant32(_mm512_load_ps(x + 16), id0);
            __m512i i2 = z_quant32(_mm512_load_ps(x + 32), id1);
            __m512i i3 = z_quant32(_mm512_load_ps(x + 48), id1);
            __m512i p = _mm512_packs_epi16(_mm512_packs_epi32(i0, i1), _mm512_packs_epi32(i2, i3));
            _mm512_storeu_si512(q + g + 32 * b, _mm512_permutexvar_epi32(t44, p));
        }
    }
    while (g < npad) {
        size_t len = npad - g < 512 ? npad - g : 512, have = n > g ? n - g : 0;
        if (have > len)
            have = len;
        vm_div_avx512(e + g, S, buf, have);
        for (size_t i = have; i < len; i++)
            buf[i] = 0.0f;
        q8_act view = {q + g, d + g / QK, 1, (int)len};
        q8_quantize_rows_avx512(buf, 1, (int)len, &view);
        g += len;
    }
}
