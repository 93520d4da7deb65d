/*
 * AVX2 versions of the elementwise pieces of the profile: A3 activation quantisation and the
 * array forms of cm_expf / cm_tanhf (inference/cmath.h) with their users (GELU, softcap,
 * softmax exponentials, the sampler's entropy terms).
 *
 * Each lane performs exactly the IEEE operations of the scalar code in the same order: the
 * same constants, one rounded multiply and one rounded add where the scalar code has them
 * (this file is compiled with -mavx2 only, no -mfma, and -ffp-contract=off), and the scalar
 * branches become selects computed on every lane. So every output bit equals the scalar
 * result (tests/inference/test_vmath.c compares them over dense sweeps and special values).
 * Only run after the run-time CPU check of matmul.c (kernels_selected() != KERNEL_PORTABLE).
 */
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "inference/cmath.h"
#include "inference/vmath_internal.h"

static inline __m256 v_abs(__m256 x)
{
    return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), x);
}

/* cm_expf on 8 lanes, NaN lanes excepted (the callers blend x + x into them). */
static inline __m256 v_expf_nonan(__m256 x)
{
    x = _mm256_min_ps(x, _mm256_set1_ps(89.0f));   /* x < 89 ? x : 89  (x not NaN) */
    x = _mm256_max_ps(x, _mm256_set1_ps(-104.0f)); /* x > -104 ? x : -104 */
    const __m256 magic = _mm256_set1_ps(CM_ROUND_MAGIC);
    __m256 t = _mm256_mul_ps(x, _mm256_set1_ps(CM_LOG2E));
    t = _mm256_add_ps(t, magic);
    __m256 nf = _mm256_sub_ps(t, magic);
    __m256i n = _mm256_cvttps_epi32(nf);
    __m256 r = _mm256_sub_ps(x, _mm256_mul_ps(nf, _mm256_set1_ps(CM_LN2_HI)));
    r = _mm256_sub_ps(r, _mm256_mul_ps(nf, _mm256_set1_ps(CM_LN2_LO)));
    __m256 q = _mm256_set1_ps(CM_EXP_Q4);
    q = _mm256_add_ps(_mm256_mul_ps(q, r), _mm256_set1_ps(CM_EXP_Q3));
    q = _mm256_add_ps(_mm256_mul_ps(q, r), _mm256_set1_ps(CM_EXP_Q2));
    q = _mm256_add_ps(_mm256_mul_ps(q, r), _mm256_set1_ps(CM_EXP_Q1));
    q = _mm256_add_ps(_mm256_mul_ps(q, r), _mm256_set1_ps(CM_EXP_Q0));
    __m256 r2 = _mm256_mul_ps(r, r);
    __m256 u = _mm256_mul_ps(r2, q);
    u = _mm256_add_ps(r, u);
    __m256 p = _mm256_add_ps(_mm256_set1_ps(1.0f), u);
    __m256i n1 = _mm256_srai_epi32(n, 1);
    __m256i n2 = _mm256_sub_epi32(n, n1);
    const __m256i bias = _mm256_set1_epi32(127);
    __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, bias), 23));
    __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, bias), 23));
    p = _mm256_mul_ps(p, s1);
    return _mm256_mul_ps(p, s2);
}

static inline __m256 v_expf(__m256 x)
{
    __m256 y = v_expf_nonan(x);
    __m256 nan = _mm256_cmp_ps(x, x, _CMP_UNORD_Q);
    return _mm256_blendv_ps(y, _mm256_add_ps(x, x), nan);
}

static inline __m256 v_tanhf(__m256 x)
{
    __m256 a = v_abs(x);
    /* a < 0.55: x + x*(z*P(z)) */
    __m256 z = _mm256_mul_ps(x, x);
    __m256 p = _mm256_set1_ps(CM_TANH_P5);
    p = _mm256_add_ps(_mm256_mul_ps(p, z), _mm256_set1_ps(CM_TANH_P4));
    p = _mm256_add_ps(_mm256_mul_ps(p, z), _mm256_set1_ps(CM_TANH_P3));
    p = _mm256_add_ps(_mm256_mul_ps(p, z), _mm256_set1_ps(CM_TANH_P2));
    p = _mm256_add_ps(_mm256_mul_ps(p, z), _mm256_set1_ps(CM_TANH_P1));
    p = _mm256_add_ps(_mm256_mul_ps(p, z), _mm256_set1_ps(CM_TANH_P0));
    p = _mm256_mul_ps(z, p);
    __m256 small = _mm256_add_ps(x, _mm256_mul_ps(x, p));
    /* 0.55 <= a < 9: 1 - 2/(e + 1), e = expf(a + a); a >= 9: 1; then the sign of x */
    const __m256 one = _mm256_set1_ps(1.0f);
    __m256 e = v_expf_nonan(_mm256_add_ps(a, a));
    __m256 t = _mm256_sub_ps(one, _mm256_div_ps(_mm256_set1_ps(2.0f), _mm256_add_ps(e, one)));
    t = _mm256_blendv_ps(one, t, _mm256_cmp_ps(a, _mm256_set1_ps(9.0f), _CMP_LT_OQ));
    __m256 neg = _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_LT_OQ);
    t = _mm256_blendv_ps(t, _mm256_xor_ps(t, _mm256_set1_ps(-0.0f)), neg);
    __m256 y = _mm256_blendv_ps(t, small, _mm256_cmp_ps(a, _mm256_set1_ps(0.55f), _CMP_LT_OQ));
    y = _mm256_blendv_ps(y, x, _mm256_cmp_ps(a, _mm256_set1_ps(0x1p-12f), _CMP_LT_OQ));
    return _mm256_blendv_ps(y, _mm256_add_ps(x, x), _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
}

/* ---- arrays: 8 lanes at a time, the tail through the scalar header functions ---------- */

void vm_expf_sub_avx2(const float *x, float m, float *y, size_t n)
{
    size_t i = 0;
    __m256 vm = _mm256_set1_ps(m);
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, v_expf(_mm256_sub_ps(_mm256_loadu_ps(x + i), vm)));
    for (; i < n; i++)
        y[i] = cm_expf(x[i] - m);
}

void vm_exp_terms_avx2(const float *z, float m, float *e, float *term, size_t n)
{
    size_t i = 0;
    __m256 vm = _mm256_set1_ps(m);
    for (; i + 8 <= n; i += 8) {
        __m256 d = _mm256_sub_ps(_mm256_loadu_ps(z + i), vm);
        __m256 ev = v_expf(d);
        _mm256_storeu_ps(e + i, ev);
        _mm256_storeu_ps(term + i, _mm256_mul_ps(ev, d));
    }
    for (; i < n; i++) {
        float d = z[i] - m;
        e[i] = cm_expf(d);
        term[i] = e[i] * d;
    }
}

void vm_tanhf_array_avx2(const float *x, float *y, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, v_tanhf(_mm256_loadu_ps(x + i)));
    for (; i < n; i++)
        y[i] = cm_tanhf(x[i]);
}

void vm_softcap_avx2(float *y, size_t n, float cap)
{
    size_t i = 0;
    __m256 c = _mm256_set1_ps(cap);
    for (; i + 8 <= n; i += 8) {
        __m256 t = v_tanhf(_mm256_div_ps(_mm256_loadu_ps(y + i), c));
        _mm256_storeu_ps(y + i, _mm256_mul_ps(c, t));
    }
    for (; i < n; i++)
        y[i] = cap * cm_tanhf(y[i] / cap);
}

void vm_gelu_glu_avx2(const float *gate, const float *up, float *out, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 x = _mm256_loadu_ps(gate + i);
        __m256 x3 = _mm256_mul_ps(_mm256_mul_ps(x, x), x);
        __m256 u = _mm256_add_ps(x, _mm256_mul_ps(_mm256_set1_ps(0.044715f), x3));
        __m256 t = v_tanhf(_mm256_mul_ps(_mm256_set1_ps(0.7978845608f), u));
        __m256 g = _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5f), x),
                                 _mm256_add_ps(_mm256_set1_ps(1.0f), t));
        _mm256_storeu_ps(out + i, _mm256_mul_ps(g, _mm256_loadu_ps(up + i)));
    }
    for (; i < n; i++)
        out[i] = vm_gelu_scalar(gate[i]) * up[i];
}

/* ---- A3 ------------------------------------------------------------------------------ */

/* round_half_away(x*id) clamped to [-127, 127] on 8 lanes, as int32. */
static inline __m256i v_quant8(__m256 x, __m256 id)
{
    __m256 v = _mm256_mul_ps(x, id);
    __m256 a = _mm256_add_ps(v_abs(v), _mm256_set1_ps(0.5f));
    a = _mm256_and_ps(a, _mm256_cmp_ps(v, v, _CMP_ORD_Q)); /* NaN -> 0 */
    a = _mm256_min_ps(a, _mm256_set1_ps(127.0f));          /* trunc commutes with the clamp */
    __m256i i = _mm256_cvttps_epi32(a);
    return _mm256_sign_epi32(i, _mm256_castps_si256(v)); /* negate where v < 0 (i = 0 at -0) */
}

void q8_quantize_rows_avx2(const float *x, int rows, int cols, q8_act *out)
{
    const int nb = cols / QK;
    const __m256i perm = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    for (int r = 0; r < rows; r++) {
        for (int b = 0; b < nb; b++) {
            const float *xb = x + (size_t)r * cols + (size_t)b * QK;
            int8_t *qb = out->q + (size_t)r * cols + (size_t)b * QK;
            __m256 x0 = _mm256_loadu_ps(xb), x1 = _mm256_loadu_ps(xb + 8);
            __m256 x2 = _mm256_loadu_ps(xb + 16), x3 = _mm256_loadu_ps(xb + 24);
            /* max(v, acc) = v > acc ? v : acc: a NaN never wins, as in the scalar loop; the
             * maximum of the remaining values is the same in any order. */
            __m256 m = _mm256_setzero_ps();
            m = _mm256_max_ps(v_abs(x0), m);
            m = _mm256_max_ps(v_abs(x1), m);
            m = _mm256_max_ps(v_abs(x2), m);
            m = _mm256_max_ps(v_abs(x3), m);
            __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
            h = _mm_max_ps(h, _mm_movehl_ps(h, h));
            h = _mm_max_ss(h, _mm_shuffle_ps(h, h, 1));
            float amax = _mm_cvtss_f32(h);
            if (amax == 0.0f) {
                out->d[(size_t)r * nb + b] = 0.0f;
                memset(qb, 0, QK);
                continue;
            }
            float d = amax / 127.0f;
            float idf = 127.0f / amax;
            out->d[(size_t)r * nb + b] = d;
            __m256 id = _mm256_set1_ps(idf);
            __m256i i0 = v_quant8(x0, id), i1 = v_quant8(x1, id);
            __m256i i2 = v_quant8(x2, id), i3 = v_quant8(x3, id);
            __m256i p01 = _mm256_packs_epi32(i0, i1), p23 = _mm256_packs_epi32(i2, i3);
            __m256i p = _mm256_packs_epi16(p01, p23);
            p = _mm256_permutevar8x32_epi32(p, perm);
            _mm256_storeu_si256((__m256i *)qb, p);
        }
    }
}

/* ---- A7 attention pieces ------------------------------------------------------------- */

/* The A1 combine of one 8-lane accumulator: (l, l+4), then (0,2), (1,3), then the halves. */
static inline float v_combine8(__m256 acc)
{
    __m128 a = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
    __m128 b = _mm_add_ps(a, _mm_movehl_ps(a, a)); /* b0 = a0 + a2, b1 = a1 + a3 */
    return _mm_cvtss_f32(_mm_add_ss(b, _mm_shuffle_ps(b, b, 1)));
}

/* Several queries against one key list in the plain layout (vm_keys_put: n rows of d
 * floats, one after another): tiles of four queries x two keys, so each 8 floats of a key row
 * serve four products and each key row is read from cache once per four queries. Every score
 * keeps its own A1 lanes and combine, so out equals dot8(q[t], key j) bit for bit. d a
 * multiple of 8. */
void vm_dot8_packed_avx2(const float *const *q, size_t nq, const float *keys, size_t n, size_t d,
                         float *out, size_t ldo)
{
    size_t t = 0;
    for (; t + 4 <= nq; t += 4) {
        const float *q0 = q[t], *q1 = q[t + 1], *q2 = q[t + 2], *q3 = q[t + 3];
        float *o0 = out + t * ldo, *o1 = o0 + ldo, *o2 = o1 + ldo, *o3 = o2 + ldo;
        size_t j = 0;
        for (; j + 2 <= n; j += 2) {
            const float *ka = keys + j * d, *kb = ka + d;
            __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
            __m256 a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
            __m256 b0 = _mm256_setzero_ps(), b1 = _mm256_setzero_ps();
            __m256 b2 = _mm256_setzero_ps(), b3 = _mm256_setzero_ps();
            for (size_t i = 0; i < d; i += 8) {
                __m256 kva = _mm256_loadu_ps(ka + i), kvb = _mm256_loadu_ps(kb + i);
                __m256 x = _mm256_loadu_ps(q0 + i);
                a0 = _mm256_add_ps(a0, _mm256_mul_ps(x, kva));
                b0 = _mm256_add_ps(b0, _mm256_mul_ps(x, kvb));
                x = _mm256_loadu_ps(q1 + i);
                a1 = _mm256_add_ps(a1, _mm256_mul_ps(x, kva));
                b1 = _mm256_add_ps(b1, _mm256_mul_ps(x, kvb));
                x = _mm256_loadu_ps(q2 + i);
                a2 = _mm256_add_ps(a2, _mm256_mul_ps(x, kva));
                b2 = _mm256_add_ps(b2, _mm256_mul_ps(x, kvb));
                x = _mm256_loadu_ps(q3 + i);
                a3 = _mm256_add_ps(a3, _mm256_mul_ps(x, kva));
                b3 = _mm256_add_ps(b3, _mm256_mul_ps(x, kvb));
            }
            o0[j] = v_combine8(a0), o0[j + 1] = v_combine8(b0);
            o1[j] = v_combine8(a1), o1[j + 1] = v_combine8(b1);
            o2[j] = v_combine8(a2), o2[j + 1] = v_combine8(b2);
            o3[j] = v_combine8(a3), o3[j + 1] = v_combine8(b3);
        }
        for (; j < n; j++) {
            const float *k = keys + j * d;
            __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
            __m256 a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
            for (size_t i = 0; i < d; i += 8) {
                __m256 kv = _mm256_loadu_ps(k + i);
                a0 = _mm256_add_ps(a0, _mm256_mul_ps(_mm256_loadu_ps(q0 + i), kv));
                a1 = _mm256_add_ps(a1, _mm256_mul_ps(_mm256_loadu_ps(q1 + i), kv));
                a2 = _mm256_add_ps(a2, _mm256_mul_ps(_mm256_loadu_ps(q2 + i), kv));
                a3 = _mm256_add_ps(a3, _mm256_mul_ps(_mm256_loadu_ps(q3 + i), kv));
            }
            o0[j] = v_combine8(a0), o1[j] = v_combine8(a1);
            o2[j] = v_combine8(a2), o3[j] = v_combine8(a3);
        }
    }
    for (; t < nq; t++)
        for (size_t j = 0; j < n; j++) {
            const float *k = keys + j * d;
            __m256 a0 = _mm256_setzero_ps();
            for (size_t i = 0; i < d; i += 8)
                a0 = _mm256_add_ps(
                    a0, _mm256_mul_ps(_mm256_loadu_ps(q[t] + i), _mm256_loadu_ps(k + i)));
            out[t * ldo + j] = v_combine8(a0);
        }
}

/* o[i] = sum over j in order of p[j] * v[j][i], from +0, for d a multiple of 8, value row j
 * at v + j*d. 64 output dims stay in registers while the keys stream by, so o is neither
 * loaded nor stored per key; each element still sees the same sequence of one multiply and
 * one add per key. */
static void wsum_row(const float *p, const float *v, size_t n, size_t d, float *o)
{
    size_t c = 0;
    for (; c + 64 <= d; c += 64) {
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps();
        __m256 a3 = _mm256_setzero_ps(), a4 = _mm256_setzero_ps(), a5 = _mm256_setzero_ps();
        __m256 a6 = _mm256_setzero_ps(), a7 = _mm256_setzero_ps();
        for (size_t j = 0; j < n; j++) {
            const float *r = v + j * d + c;
            __m256 pj = _mm256_broadcast_ss(p + j);
            a0 = _mm256_add_ps(a0, _mm256_mul_ps(pj, _mm256_loadu_ps(r)));
            a1 = _mm256_add_ps(a1, _mm256_mul_ps(pj, _mm256_loadu_ps(r + 8)));
            a2 = _mm256_add_ps(a2, _mm256_mul_ps(pj, _mm256_loadu_ps(r + 16)));
            a3 = _mm256_add_ps(a3, _mm256_mul_ps(pj, _mm256_loadu_ps(r + 24)));
            a4 = _mm256_add_ps(a4, _mm256_mul_ps(pj, _mm256_loadu_ps(r + 32)));
            a5 = _mm256_add_ps(a5, _mm256_mul_ps(pj, _mm256_loadu_ps(r + 40)));
            a6 = _mm256_add_ps(a6, _mm256_mul_ps(pj, _mm256_loadu_ps(r + 48)));
            a7 = _mm256_add_ps(a7, _mm256_mul_ps(pj, _mm256_loadu_ps(r + 56)));
        }
        _mm256_storeu_ps(o + c, a0);
        _mm256_storeu_ps(o + c + 8, a1);
        _mm256_storeu_ps(o + c + 16, a2);
        _mm256_storeu_ps(o + c + 24, a3);
        _mm256_storeu_ps(o + c + 32, a4);
        _mm256_storeu_ps(o + c + 40, a5);
        _mm256_storeu_ps(o + c + 48, a6);
        _mm256_storeu_ps(o + c + 56, a7);
    }
    for (; c < d; c += 8) {
        __m256 a0 = _mm256_setzero_ps();
        for (size_t j = 0; j < n; j++)
            a0 = _mm256_add_ps(
                a0, _mm256_mul_ps(_mm256_broadcast_ss(p + j), _mm256_loadu_ps(v + j * d + c)));
        _mm256_storeu_ps(o + c, a0);
    }
}

/* Weighted sums of several queries over one value list in the plain layout (vm_values_put:
 * row j at v + j*d), d a multiple of 8. Two queries at a time: 32 dims of each in registers,
 * so each value row chunk is loaded once for both; per element the same sequential sum from
 * +0 as wsum_row, which takes a last odd query alone. */
void vm_wsum_packed_avx2(const float *p, size_t ldp, size_t np, const float *v, size_t n, size_t d,
                         float *const *o)
{
    size_t t = 0;
    for (; t + 2 <= np; t += 2) {
        const float *pa = p + t * ldp, *pb = pa + ldp;
        float *oa = o[t], *ob = o[t + 1];
        size_t c = 0;
        for (; c + 32 <= d; c += 32) {
            __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
            __m256 a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
            __m256 b0 = _mm256_setzero_ps(), b1 = _mm256_setzero_ps();
            __m256 b2 = _mm256_setzero_ps(), b3 = _mm256_setzero_ps();
            for (size_t j = 0; j < n; j++) {
                const float *r = v + j * d + c;
                __m256 x0 = _mm256_loadu_ps(r), x1 = _mm256_loadu_ps(r + 8);
                __m256 x2 = _mm256_loadu_ps(r + 16), x3 = _mm256_loadu_ps(r + 24);
                __m256 wa = _mm256_broadcast_ss(pa + j), wb = _mm256_broadcast_ss(pb + j);
                a0 = _mm256_add_ps(a0, _mm256_mul_ps(wa, x0));
                a1 = _mm256_add_ps(a1, _mm256_mul_ps(wa, x1));
                a2 = _mm256_add_ps(a2, _mm256_mul_ps(wa, x2));
                a3 = _mm256_add_ps(a3, _mm256_mul_ps(wa, x3));
                b0 = _mm256_add_ps(b0, _mm256_mul_ps(wb, x0));
                b1 = _mm256_add_ps(b1, _mm256_mul_ps(wb, x1));
                b2 = _mm256_add_ps(b2, _mm256_mul_ps(wb, x2));
                b3 = _mm256_add_ps(b3, _mm256_mul_ps(wb, x3));
            }
            _mm256_storeu_ps(oa + c, a0), _mm256_storeu_ps(oa + c + 8, a1);
            _mm256_storeu_ps(oa + c + 16, a2), _mm256_storeu_ps(oa + c + 24, a3);
            _mm256_storeu_ps(ob + c, b0), _mm256_storeu_ps(ob + c + 8, b1);
            _mm256_storeu_ps(ob + c + 16, b2), _mm256_storeu_ps(ob + c + 24, b3);
        }
        for (; c < d; c += 8) {
            __m256 a0 = _mm256_setzero_ps(), b0 = _mm256_setzero_ps();
            for (size_t j = 0; j < n; j++) {
                __m256 x0 = _mm256_loadu_ps(v + j * d + c);
                a0 = _mm256_add_ps(a0, _mm256_mul_ps(_mm256_broadcast_ss(pa + j), x0));
                b0 = _mm256_add_ps(b0, _mm256_mul_ps(_mm256_broadcast_ss(pb + j), x0));
            }
            _mm256_storeu_ps(oa + c, a0);
            _mm256_storeu_ps(ob + c, b0);
        }
    }
    for (; t < np; t++)
        wsum_row(p + t * ldp, v, n, d, o[t]);
}

/* ---- A9 sampler rows on 8 lanes (the operations of vmath_avx512.c's versions) --------- */

/* All-ones lanes for the ids i..i+7 whose allowed byte is nonzero. */
static inline __m256 v_allowed8(const uint8_t *allowed)
{
    __m256i w = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)allowed)); /* 8 bytes */
    return _mm256_castsi256_ps(_mm256_cmpgt_epi32(w, _mm256_setzero_si256()));
}

void vm_div_avx2(const float *x, float s, float *y, size_t n)
{
    const __m256 vs = _mm256_set1_ps(s);
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_div_ps(_mm256_loadu_ps(x + i), vs));
    for (; i < n; i++)
        y[i] = x[i] / s;
}

/* Lane l keeps the largest value of ids l, l+8, ... and the first id with it (`>` only
 * replaces; -inf / -1 until something above -inf is seen); the tail ids are candidates of
 * their own. No NaN among the allowed values and a candidate above -inf: the answer is the
 * first id holding the largest candidate value; otherwise the scalar rule runs over z. */
static inline __attribute__((always_inline)) ptrdiff_t
v_argmax_row(const float *x, float s, float *y, const uint8_t *allowed, size_t n, int divide)
{
    const __m256 vs = _mm256_set1_ps(s);
    __m256 best = _mm256_set1_ps(-INFINITY), nan = _mm256_setzero_ps();
    __m256i id = _mm256_set1_epi32(-1), ids = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        if (divide) {
            v = _mm256_div_ps(v, vs);
            _mm256_storeu_ps(y + i, v);
        }
        __m256 gt = _mm256_cmp_ps(v, best, _CMP_GT_OQ);
        __m256 un = _mm256_cmp_ps(v, v, _CMP_UNORD_Q);
        if (allowed) {
            __m256 live = v_allowed8(allowed + i);
            gt = _mm256_and_ps(gt, live);
            un = _mm256_and_ps(un, live);
        }
        best = _mm256_blendv_ps(best, v, gt);
        id = _mm256_castps_si256(
            _mm256_blendv_ps(_mm256_castsi256_ps(id), _mm256_castsi256_ps(ids), gt));
        nan = _mm256_or_ps(nan, un);
        ids = _mm256_add_epi32(ids, _mm256_set1_epi32(8));
    }
    const float *z = divide ? y : x;
    float cb[16];
    int32_t ci[16];
    _mm256_storeu_ps(cb, best);
    _mm256_storeu_si256((__m256i *)ci, id);
    int nc = 8, has_nan = _mm256_movemask_ps(nan) != 0;
    for (; i < n; i++) {
        if (divide)
            y[i] = x[i] / s;
        if (allowed && !allowed[i])
            continue;
        if (z[i] != z[i])
            has_nan = 1;
        else if (z[i] > -INFINITY) {
            cb[nc] = z[i];
            ci[nc++] = (int32_t)i;
        }
    }
    if (has_nan)
        return vm_argmax_scalar(z, allowed, n);
    ptrdiff_t am = -1;
    float m = 0.0f;
    for (int l = 0; l < nc; l++)
        if (ci[l] >= 0 && (am < 0 || cb[l] > m || (cb[l] == m && ci[l] < am))) {
            am = ci[l];
            m = cb[l];
        }
    return am >= 0 ? am : vm_argmax_scalar(z, allowed, n);
}

ptrdiff_t vm_argmax_avx2(const float *z, const uint8_t *allowed, size_t n)
{
    if (!allowed)
        return v_argmax_row(z, 1.0f, NULL, NULL, n, 0);
    return v_argmax_row(z, 1.0f, NULL, allowed, n, 0);
}

ptrdiff_t vm_div_argmax_avx2(const float *x, float s, float *y, const uint8_t *allowed, size_t n)
{
    if (!allowed)
        return v_argmax_row(x, s, y, NULL, n, 1);
    return v_argmax_row(x, s, y, allowed, n, 1);
}

/* e and the A1 sums: lane l takes ids l, l+8, ...; the tail's missing lanes add +0, which
 * changes no sum (a sum that starts at +0 is never -0). */
void vm_exp_stats_avx2(const float *z, float m, const uint8_t *allowed, float *e, size_t n,
                       float *sum_e, float *sum_t)
{
    const __m256 vm = _mm256_set1_ps(m);
    __m256 se = _mm256_setzero_ps(), st = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 d = _mm256_sub_ps(_mm256_loadu_ps(z + i), vm);
        __m256 ev = v_expf(d);
        __m256 t = _mm256_mul_ps(ev, d);
        if (allowed) {
            __m256 live = v_allowed8(allowed + i);
            ev = _mm256_and_ps(ev, live);
            t = _mm256_and_ps(t, live);
        }
        _mm256_storeu_ps(e + i, ev);
        se = _mm256_add_ps(se, ev);
        st = _mm256_add_ps(st, t);
    }
    if (i < n) {
        int32_t lanes[8] = {0};
        for (size_t l = 0; i + l < n; l++)
            lanes[l] = -1;
        __m256i k = _mm256_loadu_si256((const __m256i *)lanes);
        __m256 d = _mm256_sub_ps(_mm256_maskload_ps(z + i, k), vm);
        __m256 ev = v_expf(d);
        __m256 t = _mm256_mul_ps(ev, d);
        for (size_t l = 0; i + l < n; l++)
            if (allowed && !allowed[i + l])
                lanes[l] = 0;
        __m256 live = _mm256_castsi256_ps(_mm256_loadu_si256((const __m256i *)lanes));
        ev = _mm256_and_ps(ev, live);
        t = _mm256_and_ps(t, live);
        _mm256_maskstore_ps(e + i, k, ev);
        se = _mm256_add_ps(se, ev);
        st = _mm256_add_ps(st, t);
    }
    *sum_e = v_combine8(se);
    if (sum_t)
        *sum_t = v_combine8(st);
}
