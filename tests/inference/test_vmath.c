/*
 * inference/vmath.h and the SIMD A3 quantiser: on every kernel path this CPU has, the array
 * functions give exactly the bits of the scalar cmath.h definitions, element by element, over
 * a strided sweep of all float bit patterns, dense sweeps of the ranges the model uses, the
 * branch thresholds and their neighbours, and the special values (+-0, +-inf, NaNs,
 * subnormals); q8_quantize_rows gives the scalar path's bytes and scales on random rows and
 * on blocks built to hit ties, clamps, NaN, inf and zeros. Array lengths that are not
 * multiples of 8 check the tails. The sampler's row kernels (tempering with the argmax, the
 * chunk statistics with their A1 sums, the SC input's A3) are checked against their written-out
 * definitions on rows of odd lengths holding ties, -inf, NaN, +-0 and any bit pattern, with and
 * without allowed masks.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "inference/cmath.h"
#include "inference/matmul.h"
#include "inference/vmath.h"

#define MAXN 2000003

static float *g_x, *g_y, *g_z, *g_w;
static size_t g_n;

static void add(float v)
{
    if (g_n < MAXN)
        g_x[g_n++] = v;
}

static void add_neighbours(float v)
{
    float a = v, b = v;
    for (int i = 0; i < 8; i++) {
        add(a);
        add(b);
        add(-a);
        add(-b);
        a = nextafterf(a, INFINITY);
        b = nextafterf(b, -INFINITY);
    }
}

/* The input set: strided bit patterns, dense ranges, thresholds, specials. */
static void build_inputs(void)
{
    g_n = 0;
    for (uint64_t u = 0; u < 0x100000000ull; u += 8191)
        add(cm_u2f((uint32_t)u));
    for (int i = -400000; i <= 400000; i++)
        add((float)i * (1.0f / 3000.0f)); /* [-133, 133] */
    for (int i = -100000; i <= 100000; i++)
        add((float)i * 1e-5f); /* around 0 */
    const float marks[] = {0x1p-12f, 0.55f,   9.0f,    89.0f, -104.0f, 88.72f,    -103.97f,
                           4.5f,     0.275f,  1.0f,    0.5f,  127.0f,  0x1p-126f, 0x1p-149f,
                           0x1p22f,  0x1p23f, 0x1p31f, 1e30f, 3.0e38f, 0.3466f,   -87.0f};
    for (size_t i = 0; i < sizeof marks / sizeof marks[0]; i++)
        add_neighbours(marks[i]);
    add(0.0f);
    add(-0.0f);
    add(INFINITY);
    add(-INFINITY);
    add(cm_u2f(0x7fc00000u));
    add(cm_u2f(0xffc00000u));
    add(cm_u2f(0x7f800001u));
    add(cm_u2f(0xff812345u));
    add(cm_u2f(0x00000001u));
    add(cm_u2f(0x807fffffu));
}

/* Same bits; two NaNs count as equal: which operand's NaN a product of two NaNs returns is
 * not fixed by IEEE-754, and compilers commute a*b freely (the golden logits never hold a
 * NaN). */
static uint64_t g_pool = 12345;
static size_t rnd_pool(void)
{
    g_pool = g_pool * 6364136223846793005ull + 1442695040888963407ull;
    return (size_t)(g_pool >> 33);
}

static int bits_equal(float a, float b)
{
    return cm_f2u(a) == cm_f2u(b) || (a != a && b != b);
}

static int paths_run(void (*check)(void))
{
    kernel_path paths[] = {KERNEL_PORTABLE, KERNEL_AVX2, KERNEL_AVX512VNNI};
    kernel_path before = kernels_selected();
    int ran = 0;
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        if (kernels_select(paths[i]))
            continue;
        check();
        ran++;
    }
    kernels_select(before);
    return ran;
}

static void check_exp(void)
{
    const float ms[] = {0.0f, 1.5f, -3.25f};
    for (size_t k = 0; k < 3; k++) {
        size_t n = g_n - k; /* tails of 0..7 over the three rounds */
        vm_expf_sub(g_x, ms[k], g_y, n);
        vm_exp_terms(g_x, ms[k], g_z, g_w, n);
        for (size_t i = 0; i < n; i++) {
            float d = g_x[i] - ms[k];
            float e = cm_expf(d);
            if (!bits_equal(g_y[i], e) || !bits_equal(g_z[i], e) || !bits_equal(g_w[i], e * d))
                fail_msg("exp path %s: x=%a m=%g: got %a / %a / %a, want %a / %a",
                         kernel_path_name(kernels_selected()), (double)g_x[i], (double)ms[k],
                         (double)g_y[i], (double)g_z[i], (double)g_w[i], (double)e,
                         (double)(e * d));
        }
    }
    /* the sampler's chunk statistics (their own cm_expf form) over the whole sweep */
    for (size_t k = 0; k < 3; k++) {
        size_t n = g_n - 2 * k;
        float se, st;
        vm_exp_stats(g_x, ms[k], NULL, g_y, n, &se, &st);
        for (size_t i = 0; i < n; i++)
            if (!bits_equal(g_y[i], cm_expf(g_x[i] - ms[k])))
                fail_msg("exp_stats path %s: x=%a m=%g: got %a want %a",
                         kernel_path_name(kernels_selected()), (double)g_x[i], (double)ms[k],
                         (double)g_y[i], (double)cm_expf(g_x[i] - ms[k]));
    }
    /* in place */
    memcpy(g_y, g_x, g_n * sizeof(float));
    vm_expf_sub(g_y, 0.0f, g_y, g_n);
    for (size_t i = 0; i < g_n; i++)
        if (!bits_equal(g_y[i], cm_expf(g_x[i])))
            fail_msg("exp in place: x=%a", (double)g_x[i]);
}

static void check_tanh(void)
{
    for (size_t k = 0; k < 3; k++) {
        size_t n = g_n - 2 * k;
        vm_tanhf_array(g_x, g_y, n);
        for (size_t i = 0; i < n; i++)
            if (!bits_equal(g_y[i], cm_tanhf(g_x[i])))
                fail_msg("tanh path %s: x=%a got %a want %a", kernel_path_name(kernels_selected()),
                         (double)g_x[i], (double)g_y[i], (double)cm_tanhf(g_x[i]));
    }
    const float caps[] = {30.0f, 15.0f, 7.3f};
    for (size_t k = 0; k < 3; k++) {
        size_t n = g_n - 1 - k;
        memcpy(g_y, g_x, n * sizeof(float));
        vm_softcap(g_y, n, caps[k]);
        for (size_t i = 0; i < n; i++) {
            float want = caps[k] * cm_tanhf(g_x[i] / caps[k]);
            if (!bits_equal(g_y[i], want))
                fail_msg("softcap path %s: x=%a got %a want %a",
                         kernel_path_name(kernels_selected()), (double)g_x[i], (double)g_y[i],
                         (double)want);
        }
    }
}

static void check_gelu(void)
{
    size_t n = g_n - 5;
    for (size_t i = 0; i < n; i++)
        g_z[i] = g_x[(i * 7919) % g_n]; /* "up" values: a shuffled copy */
    vm_gelu_glu(g_x, g_z, g_y, n);
    for (size_t i = 0; i < n; i++) {
        float x = g_x[i];
        float u = x + 0.044715f * ((x * x) * x);
        float t = cm_tanhf(0.7978845608f * u);
        float want = ((0.5f * x) * (1.0f + t)) * g_z[i];
        if (!bits_equal(g_y[i], want))
            fail_msg("gelu path %s: x=%a up=%a got %a want %a",
                     kernel_path_name(kernels_selected()), (double)x, (double)g_z[i],
                     (double)g_y[i], (double)want);
    }
    /* in place into gate */
    memcpy(g_w, g_x, n * sizeof(float));
    vm_gelu_glu(g_w, g_z, g_w, n);
    for (size_t i = 0; i < n; i++)
        if (!bits_equal(g_w[i], g_y[i]))
            fail_msg("gelu in place: x=%a", (double)g_x[i]);
}

/* The RMSNorm/residual/combine steps against their written expressions: odd lengths (masked
 * tails), operands from the whole input pool (specials included), and in place. */
static void check_elementwise(void)
{
    const size_t ns[] = {0, 1, 7, 15, 16, 17, 33, 1024, 1029};
    static float a[1029], b[1029], w[1029], y[1029], acc[1029];
    for (size_t c = 0; c < sizeof ns / sizeof ns[0]; c++) {
        size_t n = ns[c];
        float s = g_x[524352 + rnd_pool() % 1000000]; /* a scalar from the dense sweep */
        for (size_t i = 0; i < n; i++) {
            a[i] = g_x[rnd_pool() % g_n];
            b[i] = g_x[rnd_pool() % g_n];
            w[i] = g_x[524352 + rnd_pool() % 1000000];
        }
        y[n < 1029 ? n : 0] = 7.0f; /* a sentinel after the end */
        vm_scale_mul(a, s, w, y, n);
        for (size_t i = 0; i < n; i++)
            if (!bits_equal(y[i], (a[i] * s) * w[i]))
                fail_msg("scale_mul path %s n=%zu i=%zu", kernel_path_name(kernels_selected()), n,
                         i);
        vm_scale_mul(a, s, NULL, y, n);
        for (size_t i = 0; i < n; i++)
            if (!bits_equal(y[i], a[i] * s))
                fail_msg("scale_mul (no w) path %s n=%zu i=%zu",
                         kernel_path_name(kernels_selected()), n, i);
        vm_add(a, b, y, n);
        for (size_t i = 0; i < n; i++)
            if (!bits_equal(y[i], a[i] + b[i]))
                fail_msg("add path %s n=%zu i=%zu", kernel_path_name(kernels_selected()), n, i);
        vm_add_scale(a, b, s, y, n);
        for (size_t i = 0; i < n; i++)
            if (!bits_equal(y[i], (a[i] + b[i]) * s))
                fail_msg("add_scale path %s n=%zu i=%zu", kernel_path_name(kernels_selected()), n,
                         i);
        if (n < 1029 && y[n] != 7.0f)
            fail_msg("path %s n=%zu: wrote past the end", kernel_path_name(kernels_selected()), n);
        memcpy(acc, b, n * sizeof(float));
        vm_axpy(acc, s, a, n);
        for (size_t i = 0; i < n; i++)
            if (!bits_equal(acc[i], b[i] + s * a[i]))
                fail_msg("axpy path %s n=%zu i=%zu", kernel_path_name(kernels_selected()), n, i);
        /* in place: y is an input */
        memcpy(y, a, n * sizeof(float));
        vm_scale_mul(y, s, w, y, n);
        for (size_t i = 0; i < n; i++)
            if (!bits_equal(y[i], (a[i] * s) * w[i]))
                fail_msg("scale_mul in place n=%zu i=%zu", n, i);
        memcpy(y, b, n * sizeof(float));
        vm_add_scale(a, y, s, y, n);
        for (size_t i = 0; i < n; i++)
            if (!bits_equal(y[i], (a[i] + b[i]) * s))
                fail_msg("add_scale in place n=%zu i=%zu", n, i);
        /* axpy over 1..8 rows (the MoE combine): from +0, and continuing an accumulator,
         * rows from the whole pool (specials and -0 products included) */
        for (size_t m = 1; m <= 8; m++)
            for (int from_zero = 0; from_zero < 2; from_zero++) {
                const float *rows[8];
                float ws[8];
                for (size_t k = 0; k < m; k++) {
                    rows[k] = g_x + rnd_pool() % (g_n - n);
                    ws[k] = k == 2 ? -0.0f : g_x[524352 + rnd_pool() % 1000000];
                }
                memcpy(acc, b, n * sizeof(float));
                acc[n < 1029 ? n : 0] = n < 1029 ? 7.0f : acc[0];
                vm_axpy_rows(acc, ws, rows, m, n, from_zero);
                for (size_t i = 0; i < n; i++) {
                    float want = from_zero ? 0.0f : b[i];
                    for (size_t k = 0; k < m; k++)
                        want = want + ws[k] * rows[k][i];
                    if (!bits_equal(acc[i], want))
                        fail_msg("axpy_rows path %s n=%zu m=%zu from_zero=%d i=%zu",
                                 kernel_path_name(kernels_selected()), n, m, from_zero, i);
                }
                if (n < 1029 && acc[n] != 7.0f)
                    fail_msg("axpy_rows path %s n=%zu: wrote past the end",
                             kernel_path_name(kernels_selected()), n);
            }
    }
}

/* Sums of squares of 1..4 rows side by side: each is dot8(x, x). */
static void check_sumsq(void)
{
    const size_t ns[] = {8, 24, 1024, 1000, 13};
    for (size_t c = 0; c < sizeof ns / sizeof ns[0]; c++)
        for (size_t m = 1; m <= 4; m++) {
            const float *rows[4];
            float out[4] = {0};
            for (size_t j = 0; j < m; j++)
                rows[j] = j == 3 && c == 1 ? g_x + rnd_pool() % (g_n - ns[c]) /* specials */
                                           : g_x + 524352 + rnd_pool() % (1000000 - ns[c]);
            vm_sumsq8_rows(rows, m, ns[c], out);
            for (size_t j = 0; j < m; j++)
                if (!bits_equal(out[j], dot8(rows[j], rows[j], ns[c])))
                    fail_msg("sumsq8 path %s n=%zu m=%zu j=%zu",
                             kernel_path_name(kernels_selected()), ns[c], m, j);
        }
}

static void test_elementwise(void **state)
{
    (void)state;
    assert_true(paths_run(check_elementwise) >= 1);
    assert_true(paths_run(check_sumsq) >= 1);
}

static void test_exp(void **state)
{
    (void)state;
    assert_true(paths_run(check_exp) >= 1);
}

static void test_tanh_softcap(void **state)
{
    (void)state;
    assert_true(paths_run(check_tanh) >= 1);
}

static void test_gelu(void **state)
{
    (void)state;
    assert_true(paths_run(check_gelu) >= 1);
}

/* ---- A7 rows ---------------------------------------------------------------------------- */

/* Several queries against one packed key list (the decoder's items), and their weighted sums
 * over the packed values: head dims on the AVX-512 layouts (multiples of 8 up to 512, with and
 * without 64-dim chunks), on the plain ones (12: the portable loops; 520: above the pair
 * layout's limit), key counts and query counts with every tail of the 8-key and 4-query tiles
 * (and none at all); rows mostly from the dense sweeps, one in 16 from anywhere (specials). */
static void check_multi(void)
{
    const size_t ds[] = {8, 12, 24, 48, 64, 80, 128, 136, 256, 520};
    const size_t ns[] = {0, 1, 2, 3, 7, 8, 9, 17, 64, 300};
    const size_t nqs[] = {1, 2, 3, 4, 5, 7, 8, 9};
    enum { NMAX = 300, QMAX = 9, DMAX = 520, LDP = 13 };
    static const float *rows[NMAX];
    static float keys[(NMAX + 7) / 8 * 8 * DMAX], vals[NMAX * DMAX], out[QMAX * NMAX],
        o[QMAX][DMAX];
    const float *q[QMAX];
    float *op[QMAX];
    for (size_t a = 0; a < sizeof ds / sizeof ds[0]; a++)
        for (size_t b = 0; b < sizeof ns / sizeof ns[0]; b++)
            for (size_t c = 0; c < sizeof nqs / sizeof nqs[0]; c++) {
                size_t d = ds[a], n = ns[b], nq = nqs[c];
                for (size_t j = 0; j < n; j++)
                    rows[j] = j % 16 == 15 ? g_x + (rnd_pool() % (g_n - d))
                                           : g_x + 524352 + (rnd_pool() % (1000000 - d));
                for (size_t t = 0; t < nq; t++) {
                    q[t] = g_x + 524352 + (rnd_pool() % (1000000 - d));
                    op[t] = o[t];
                }
                assert_true(vm_keys_packed_len(n, d) <= sizeof keys / sizeof keys[0]);
                for (size_t j = n; j-- > 0;) /* any order */
                    vm_keys_put(rows[j], j, d, keys);
                for (size_t i = 0; i < QMAX * NMAX; i++)
                    out[i] = 12345.0f; /* nothing beyond n may be written */
                vm_dot8_packed(q, nq, keys, n, d, out, NMAX);
                for (size_t t = 0; t < QMAX; t++)
                    for (size_t j = 0; j < NMAX; j++) {
                        float want = t < nq && j < n ? dot8(q[t], rows[j], d) : 12345.0f;
                        if (!bits_equal(out[t * NMAX + j], want))
                            fail_msg("dot8_packed path %s d=%zu n=%zu nq=%zu t=%zu j=%zu: %a vs %a",
                                     kernel_path_name(kernels_selected()), d, n, nq, t, j,
                                     (double)out[t * NMAX + j], (double)want);
                    }
                const float *p = g_x + 1400000 + 11 * c; /* weights: dense sweep around 0 */
                for (size_t j = 0; j < n; j++)
                    vm_values_put(rows[j], j, n, d, vals);
                vm_wsum_packed(p, LDP, nq, vals, n, d, op);
                for (size_t t = 0; t < nq; t++) {
                    for (size_t i = 0; i < d; i++) {
                        float acc = 0.0f;
                        for (size_t j = 0; j < n; j++)
                            acc = acc + p[t * LDP + j] * rows[j][i];
                        if (!bits_equal(o[t][i], acc))
                            fail_msg("wsum_packed path %s d=%zu n=%zu nq=%zu t=%zu i=%zu: %a vs %a",
                                     kernel_path_name(kernels_selected()), d, n, nq, t, i,
                                     (double)o[t][i], (double)acc);
                    }
                }
            }
}

/* A6 softmax written out: first maximum by `>`, cm_expf, the A1 lanes and combine, divide. */
static void softmax_ref(const float *x, float *y, size_t n)
{
    float m = x[0], acc[8] = {0};
    for (size_t i = 1; i < n; i++)
        if (x[i] > m)
            m = x[i];
    for (size_t i = 0; i < n; i++) {
        y[i] = cm_expf(x[i] - m);
        acc[i % 8] = acc[i % 8] + y[i];
    }
    float a0 = acc[0] + acc[4], a1 = acc[1] + acc[5], a2 = acc[2] + acc[6], a3 = acc[3] + acc[7];
    float S = (a0 + a2) + (a1 + a3);
    for (size_t i = 0; i < n; i++)
        y[i] = y[i] / S;
}

/* Rows of scores: every length up to 40 and the decoder's 320 and beyond, from the dense
 * range and from anywhere (specials: NaN first or later, infinities, huge values); rows of
 * zeros of both signs (a zero maximum), ties, one value. */
static void check_softmax(void)
{
    enum { LEN = 333 };
    static float x[LEN], y[LEN], want[LEN];
    for (size_t n = 1; n <= LEN; n += n < 40 ? 1 : 293 - 40) {
        for (int kind = 0; kind < 6; kind++) {
            for (size_t i = 0; i < n; i++) {
                switch (kind) {
                case 0:
                    x[i] = g_x[524352 + rnd_pool() % 800000];
                    break; /* [-133, 133] */
                case 1:
                    x[i] = g_x[1324353 + rnd_pool() % 200000];
                    break; /* around 0 */
                case 2:
                    x[i] = g_x[rnd_pool() % g_n];
                    break; /* anything */
                case 3:
                    x[i] = rnd_pool() % 2 ? 0.0f : -0.0f;
                    break;
                case 4:
                    x[i] =
                        rnd_pool() % 3 ? -(float)(rnd_pool() % 5) : (rnd_pool() % 2 ? 0.0f : -0.0f);
                    break;
                default:
                    x[i] = (float)(rnd_pool() % 3);
                    break; /* ties at the maximum */
                }
            }
            if (kind == 2 && n > 2)
                x[n / 2] = cm_u2f(0x7fc00000u);
            if (kind == 2 && n % 3 == 0)
                x[0] = cm_u2f(0xffc00001u);
            softmax_ref(x, want, n);
            memcpy(y, x, n * sizeof(float));
            vm_softmax(y, n);
            for (size_t i = 0; i < n; i++)
                if (!bits_equal(y[i], want[i]))
                    fail_msg("softmax path %s n=%zu kind=%d i=%zu: %a vs %a",
                             kernel_path_name(kernels_selected()), n, kind, i, (double)y[i],
                             (double)want[i]);
        }
    }
}

/* Per-head RMSNorm + RoPE (qkv preparation): head dims with and without 16-float tails, with
 * and without a weight, no RoPE, full RoPE and partial RoPE (half not a multiple of 16);
 * values from the dense sweep and from anywhere (specials), angles from the dense range. */
static void check_norm_rope(void)
{
    const size_t ds[] = {8, 12, 32, 64, 100, 128, 136, 256, 512};
    enum { DMAX = 512 };
    static float x[DMAX], y[DMAX], want[DMAX];
    for (size_t a = 0; a < sizeof ds / sizeof ds[0]; a++)
        for (int kind = 0; kind < 8; kind++) {
            size_t d = ds[a];
            size_t half = kind % 4 == 0 ? 0 : kind % 4 == 1 ? d / 2 : kind % 4 == 2 ? d / 4 : 10;
            if (2 * half > d)
                half = d / 2;
            const float *w = kind & 4 ? NULL : g_x + 524352 + rnd_pool() % 800000;
            const float *c = g_x + 524352 + rnd_pool() % 800000;
            const float *sn = g_x + 524352 + rnd_pool() % 800000;
            for (size_t i = 0; i < d; i++)
                x[i] = kind == 7 && i % 13 == 5 ? g_x[rnd_pool() % g_n]
                                                : g_x[524352 + rnd_pool() % 800000];
            float acc[8] = {0};
            for (size_t i = 0; i < d; i++)
                acc[i % 8] = acc[i % 8] + x[i] * x[i];
            float a0 = acc[0] + acc[4], a1 = acc[1] + acc[5], a2 = acc[2] + acc[6];
            float a3 = acc[3] + acc[7], ss = (a0 + a2) + (a1 + a3);
            float r = 1.0f / sqrtf(ss / (float)d + 1e-6f);
            for (size_t i = 0; i < d; i++)
                want[i] = w ? (x[i] * r) * w[i] : x[i] * r;
            for (size_t i = 0; i < half; i++) {
                float x0 = want[i], x1 = want[i + half];
                want[i] = x0 * c[i] - x1 * sn[i];
                want[i + half] = x1 * c[i] + x0 * sn[i];
            }
            memcpy(y, x, d * sizeof(float));
            vm_rmsnorm_rope(y, w, d, 1e-6f, c, sn, half);
            for (size_t i = 0; i < d; i++)
                if (!bits_equal(y[i], want[i]))
                    fail_msg("rmsnorm_rope path %s d=%zu half=%zu kind=%d i=%zu: %a vs %a",
                             kernel_path_name(kernels_selected()), d, half, kind, i, (double)y[i],
                             (double)want[i]);
        }
}

static void test_attention_rows(void **state)
{
    (void)state;
    assert_true(paths_run(check_multi) >= 1);
    assert_true(paths_run(check_softmax) >= 1);
    assert_true(paths_run(check_norm_rope) >= 1);
}

/* ---- A3 --------------------------------------------------------------------------------- */

#define QROWS 64
#define QCOLS 2080 /* the widest row tested: 65 blocks */

static uint64_t g_rng = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void)
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (uint32_t)(g_rng >> 16);
}

static void fill_rows(float *x, int cols)
{
    for (int r = 0; r < QROWS; r++)
        for (int b = 0; b < cols / QK; b++) {
            float *xb = x + (size_t)r * cols + (size_t)b * QK;
            int kind = (r * 8 + b) % 9;
            float scale = ldexpf(1.0f, (int)(rnd() % 60) - 30);
            for (int i = 0; i < QK; i++)
                xb[i] = ((float)(int32_t)rnd() / 2147483648.0f) * scale;
            switch (kind) {
            case 0: /* ties: amax 127 so id = 1, values k + 0.5 */
                for (int i = 0; i < QK; i++)
                    xb[i] = (float)((int)(rnd() % 254) - 127) + 0.5f;
                xb[0] = 127.0f;
                xb[1] = -126.5f;
                break;
            case 1:
                memset(xb, 0, QK * sizeof(float));
                xb[5] = -0.0f;
                break;
            case 2:
                xb[3] = cm_u2f(0x7fc00000u);
                xb[9] = cm_u2f(0xffc00001u);
                break;
            case 3:
                xb[7] = INFINITY;
                xb[8] = -INFINITY;
                break;
            case 4:
                for (int i = 0; i < QK; i++)
                    xb[i] = cm_u2f(rnd() & 0x807fffffu); /* subnormals */
                break;
            case 5:
                xb[11] = 3.0e38f;
                xb[12] = -3.0e38f;
                break;
            case 6:
                for (int i = 0; i < QK; i++)
                    xb[i] = cm_u2f(rnd()); /* any bit pattern */
                break;
            default:
                break;
            }
        }
}

static void test_quantize_rows(void **state)
{
    (void)state;
    float *x = malloc(sizeof(float) * QROWS * QCOLS);
    q8_act ref, got;
    assert_non_null(x);
    assert_int_equal(q8_act_alloc(&ref, QROWS, QCOLS), 0);
    assert_int_equal(q8_act_alloc(&got, QROWS, QCOLS), 0);
    kernel_path before = kernels_selected();
    int compared = 0;
    /* rows of 1, 8, 16, 17, 32 and 65 blocks: whole and short groups of the SIMD paths */
    const int widths[] = {32, 256, 512, 544, 1024, QCOLS};
    for (int round = 0; round < 60; round++) {
        const int cols = widths[round % 6];
        fill_rows(x, cols);
        assert_int_equal(kernels_select(KERNEL_PORTABLE), 0);
        q8_quantize_rows(x, QROWS, cols, &ref);
        kernel_path paths[] = {KERNEL_AVX2, KERNEL_AVX512VNNI};
        for (size_t p = 0; p < 2; p++) {
            if (kernels_select(paths[p]))
                continue;
            memset(got.q, 0x55, (size_t)QROWS * QCOLS);
            memset(got.d, 0x55, sizeof(float) * QROWS * (QCOLS / QK));
            q8_quantize_rows(x, QROWS, cols, &got);
            /* and nothing written past the rows */
            assert_memory_equal(ref.q, got.q, (size_t)QROWS * cols);
            assert_memory_equal(ref.d, got.d, sizeof(float) * QROWS * (cols / QK));
            if (cols < QCOLS) {
                uint32_t dpast;
                memcpy(&dpast, got.d + (size_t)QROWS * (cols / QK), sizeof dpast);
                assert_int_equal(got.q[(size_t)QROWS * cols], 0x55);
                assert_int_equal(dpast, 0x55555555u);
            }
            compared++;
        }
    }
    kernels_select(before);
    printf("A3: %d SIMD comparisons against the scalar path\n", compared);
    q8_act_free(&ref);
    q8_act_free(&got);
    free(x);
}

/* The fused scale-then-A3 row against the portable path (scale, then the scalar A3). */
static void test_quantize_scaled_row(void **state)
{
    (void)state;
    float *x = malloc(sizeof(float) * QROWS * QCOLS), *tmp = malloc(sizeof(float) * QCOLS);
    float *w = malloc(sizeof(float) * QCOLS);
    q8_act ref, got;
    assert_non_null(x);
    assert_non_null(tmp);
    assert_non_null(w);
    assert_int_equal(q8_act_alloc(&ref, QROWS, QCOLS), 0);
    assert_int_equal(q8_act_alloc(&got, QROWS, QCOLS), 0);
    for (int i = 0; i < QCOLS; i++)
        w[i] = g_x[524352 + rnd_pool() % 1000000];
    kernel_path before = kernels_selected();
    const int widths[] = {32, 256, 544, 1024, QCOLS};
    int compared = 0;
    for (int round = 0; round < 20; round++) {
        const int cols = widths[round % 5];
        fill_rows(x, cols);
        const float s = round % 3 ? 0.37f : 1.0e-3f, post = 0.03125f + (float)round;
        for (int mode = 0; mode < 3; mode++) {
            const float *wm = mode == 1 ? NULL : w, *pm = mode == 2 ? &post : NULL;
            assert_int_equal(kernels_select(KERNEL_PORTABLE), 0);
            for (int r = 0; r < QROWS; r++)
                vm_quantize_scaled_row(x + (size_t)r * cols, s, wm, pm, cols, &ref, r, tmp);
            for (int r = 0; r < 2; r++) { /* the reference is the written expression */
                for (int i = 0; i < cols; i++) {
                    float y = x[(size_t)r * cols + i] * s;
                    y = wm ? y * wm[i] : y;
                    tmp[i] = pm ? y * *pm : y;
                }
                q8_act one;
                assert_int_equal(q8_act_alloc(&one, 1, cols), 0);
                q8_quantize_rows(tmp, 1, cols, &one);
                assert_memory_equal(one.q, ref.q + (size_t)r * cols, (size_t)cols);
                assert_memory_equal(one.d, ref.d + (size_t)r * (cols / QK),
                                    sizeof(float) * (cols / QK));
                q8_act_free(&one);
            }
            kernel_path paths[] = {KERNEL_AVX2, KERNEL_AVX512VNNI};
            for (size_t p = 0; p < 2; p++) {
                if (kernels_select(paths[p]))
                    continue;
                memset(got.q, 0x55, (size_t)QROWS * QCOLS);
                for (int r = 0; r < QROWS; r++)
                    vm_quantize_scaled_row(x + (size_t)r * cols, s, wm, pm, cols, &got, r, tmp);
                assert_memory_equal(ref.q, got.q, (size_t)QROWS * cols);
                assert_memory_equal(ref.d, got.d, sizeof(float) * QROWS * (cols / QK));
                compared++;
            }
        }
    }
    kernels_select(before);
    printf("scaled A3 rows: %d SIMD comparisons against the portable path\n", compared);
    q8_act_free(&ref);
    q8_act_free(&got);
    free(x);
    free(tmp);
    free(w);
}

/* ---- A9 sampler rows -------------------------------------------------------------------- */

/* Row lengths around the 8/16/32-lane steps, the 512-value groups and the 1024-id chunks. */
static const size_t g_row_n[] = {1,    2,    7,    8,    9,    15,   16,   17,   31,
                                 32,   33,   63,   64,   100,  511,  512,  513,  1000,
                                 1023, 1024, 1025, 1535, 1536, 2049, 4099, 8192, 32765};
#define ROW_MAX 32800

static float *g_r, *g_e, *g_e2, *g_y2;
static uint8_t *g_allow;

/* A row of one of several kinds: logits-like values, ties of the maximum, -inf entries, all
 * -inf, NaNs (first or later), +-0 only, any bit pattern. */
static void fill_row(float *x, size_t n, int kind)
{
    for (size_t i = 0; i < n; i++)
        x[i] = ((float)(int32_t)rnd() / 2147483648.0f) * 20.0f;
    switch (kind) {
    case 1: /* ties of the maximum */
        for (size_t k = 0; k < 5; k++)
            x[rnd() % n] = 25.0f;
        break;
    case 2:
        for (size_t k = 0; k < n / 3 + 1; k++)
            x[rnd() % n] = -INFINITY;
        break;
    case 3:
        for (size_t i = 0; i < n; i++)
            x[i] = -INFINITY;
        break;
    case 4:
        x[0] = cm_u2f(0x7fc00000u);
        break;
    case 5:
        x[rnd() % n] = cm_u2f(0xffc00001u);
        break;
    case 6:
        for (size_t i = 0; i < n; i++)
            x[i] = (rnd() & 1) ? 0.0f : -0.0f;
        break;
    case 7:
        for (size_t i = 0; i < n; i++)
            x[i] = cm_u2f(rnd());
        break;
    case 8:
        x[rnd() % n] = INFINITY;
        x[rnd() % n] = INFINITY;
        break;
    default:
        break;
    }
}

/* none, all, about half, a handful, exactly one (at a random id) */
static const uint8_t *fill_allow(size_t n, int kind)
{
    if (kind == 0)
        return NULL;
    for (size_t i = 0; i < n; i++)
        g_allow[i] = kind == 1   ? 1
                     : kind == 2 ? (uint8_t)(rnd() & 1)
                     : kind == 3 ? (rnd() % 97 == 0)
                                 : 0;
    if (kind == 4)
        g_allow[rnd() % n] = 7;
    return g_allow;
}

static ptrdiff_t ref_argmax(const float *z, const uint8_t *allowed, size_t n)
{
    ptrdiff_t am = -1;
    for (size_t i = 0; i < n; i++)
        if ((!allowed || allowed[i]) && (am < 0 || z[i] > z[am]))
            am = (ptrdiff_t)i;
    return am;
}

/* A1 written out: lane i % 8, then (l, l+4), (0, 2), (1, 3), halves. */
static float ref_sum8(const float *x, size_t n)
{
    float a[8] = {0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f};
    for (size_t i = 0; i < n; i++)
        a[i % 8] = a[i % 8] + x[i];
    float b0 = (a[0] + a[4]) + (a[2] + a[6]), b1 = (a[1] + a[5]) + (a[3] + a[7]);
    return b0 + b1;
}

static void check_sampler_rows(void)
{
    const float taus[] = {0.7f, 1.0f, 0.1f, 3.0f};
    const char *path = kernel_path_name(kernels_selected());
    int round = 0;
    for (size_t t = 0; t < sizeof g_row_n / sizeof g_row_n[0]; t++) {
        size_t n = g_row_n[t];
        for (int kind = 0; kind < 9; kind++)
            for (int ak = 0; ak < 5; ak++, round++) {
                fill_row(g_r, n, kind);
                const uint8_t *allowed = fill_allow(n, ak);
                float tau = taus[round % 4];
                /* tempering with the argmax, and the argmax alone */
                ptrdiff_t am = vm_div_argmax(g_r, tau, g_y, allowed, n);
                for (size_t i = 0; i < n; i++)
                    g_z[i] = g_r[i] / tau;
                if (am != ref_argmax(g_z, allowed, n))
                    fail_msg("div_argmax path %s n=%zu kind %d mask %d: got %td want %td", path, n,
                             kind, ak, am, ref_argmax(g_z, allowed, n));
                for (size_t i = 0; i < n; i++)
                    if (!bits_equal(g_y[i], g_z[i]))
                        fail_msg("div path %s n=%zu: x=%a got %a", path, n, (double)g_r[i],
                                 (double)g_y[i]);
                if (vm_argmax(g_r, allowed, n) != ref_argmax(g_r, allowed, n))
                    fail_msg("argmax path %s n=%zu kind %d mask %d", path, n, kind, ak);
                vm_div(g_r, tau, g_y2, n);
                for (size_t i = 0; i < n; i++)
                    if (!bits_equal(g_y2[i], g_z[i]))
                        fail_msg("vm_div path %s n=%zu", path, n);
                /* chunk statistics against the max (or an arbitrary m), with and without terms */
                float m = am >= 0 ? g_z[am] : 0.0f;
                if (round % 7 == 3)
                    m = -1.25f;
                float se, st, se2;
                vm_exp_stats(g_z, m, allowed, g_e, n, &se, &st);
                vm_exp_stats(g_z, m, allowed, g_e2, n, &se2, NULL);
                for (size_t i = 0; i < n; i++) {
                    float d = g_z[i] - m;
                    int on = !allowed || allowed[i];
                    g_w[i] = on ? cm_expf(d) : 0.0f;
                    g_y2[i] = on ? g_w[i] * d : 0.0f;
                    if (!bits_equal(g_e[i], g_w[i]) || !bits_equal(g_e2[i], g_w[i]))
                        fail_msg("exp_stats path %s n=%zu: z=%a m=%a got %a want %a", path, n,
                                 (double)g_z[i], (double)m, (double)g_e[i], (double)g_w[i]);
                }
                float want_e = ref_sum8(g_w, n), want_t = ref_sum8(g_y2, n);
                if (!bits_equal(se, want_e) || !bits_equal(se2, want_e) || !bits_equal(st, want_t))
                    fail_msg("exp_stats sums path %s n=%zu kind %d mask %d: %a %a %a want %a %a",
                             path, n, kind, ak, (double)se, (double)se2, (double)st, (double)want_e,
                             (double)want_t);
            }
    }
}

static void test_sampler_rows(void **state)
{
    (void)state;
    g_r = malloc(ROW_MAX * sizeof(float));
    g_e = malloc(ROW_MAX * sizeof(float));
    g_e2 = malloc(ROW_MAX * sizeof(float));
    g_y2 = malloc(ROW_MAX * sizeof(float));
    g_allow = malloc(ROW_MAX);
    assert_true(g_r && g_e && g_e2 && g_y2 && g_allow);
    assert_true(paths_run(check_sampler_rows) >= 1);
    free(g_r);
    free(g_e);
    free(g_e2);
    free(g_y2);
    free(g_allow);
}

/* vm_div_quantize against its definition: vm_div's quotients by plain division, +0 padding,
 * then the scalar A3 (q8_quantize_rows on the portable path). */
static void test_div_quantize(void **state)
{
    (void)state;
    const size_t ns[] = {1,   31,   32,   33,   500,  511,   512,  513,
                         544, 1023, 1024, 1056, 4096, 32768, 32765};
    const size_t maxp = 32768 + 64;
    float *e = malloc(maxp * sizeof(float)), *p = malloc(maxp * sizeof(float));
    q8_act ref, got;
    assert_true(e && p);
    assert_int_equal(q8_act_alloc(&ref, 1, (int)maxp), 0);
    assert_int_equal(q8_act_alloc(&got, 1, (int)maxp), 0);
    const float Ss[] = {1.0f, 1234.5f, 3.0f, 0.001f, 1e30f};
    kernel_path before = kernels_selected();
    int compared = 0;
    for (size_t t = 0; t < sizeof ns / sizeof ns[0]; t++)
        for (int kind = 0; kind < 6; kind++) {
            size_t n = ns[t], npad = (n + 31) / 32 * 32 + (kind == 5 ? 64 : 0);
            float S = Ss[(t + (size_t)kind) % 5];
            for (size_t i = 0; i < n; i++) { /* probabilities' numerators: e in [0, 1] */
                float u = (float)(rnd() >> 8) / 16777216.0f;
                e[i] = ldexpf(u, -(int)(rnd() % (kind == 1 ? 150 : 40)));
            }
            if (kind == 2) /* whole zero blocks, and single values in a zero block */
                for (size_t i = 0; i < n; i++)
                    if ((i / 32) % 3 != 0 || (i % 32 != 5 && (i / 32) % 6 == 0))
                        e[i] = 0.0f;
            if (kind == 3) /* signs, infinities, NaNs, huge values: any input row */
                for (size_t i = 0; i < n; i += 1 + rnd() % 40)
                    e[i] = (rnd() & 1) ? cm_u2f(rnd()) : (rnd() & 1) ? INFINITY : -3.0e38f;
            if (kind == 4)
                for (size_t i = 0; i < n; i++)
                    e[i] = (float)(rnd() % 5) * 0.25f; /* ties after rounding */
            for (size_t i = 0; i < npad; i++)
                p[i] = i < n ? e[i] / S : 0.0f;
            assert_int_equal(kernels_select(KERNEL_PORTABLE), 0);
            q8_act rv = {ref.q, ref.d, 1, (int)npad};
            q8_quantize_rows(p, 1, (int)npad, &rv);
            kernel_path paths[] = {KERNEL_PORTABLE, KERNEL_AVX2, KERNEL_AVX512VNNI};
            for (size_t k = 0; k < 3; k++) {
                if (kernels_select(paths[k]))
                    continue;
                memset(got.q, 0x55, npad);
                vm_div_quantize(e, S, n, npad, got.q, got.d);
                if (memcmp(ref.q, got.q, npad) || memcmp(ref.d, got.d, npad / 32 * sizeof(float)))
                    fail_msg("div_quantize path %s n=%zu npad=%zu kind %d",
                             kernel_path_name(paths[k]), n, npad, kind);
                compared++;
            }
        }
    kernels_select(before);
    printf("A9 SC input: %d comparisons against the definition\n", compared);
    q8_act_free(&ref);
    q8_act_free(&got);
    free(e);
    free(p);
}

static int setup(void **state)
{
    (void)state;
    g_x = malloc(MAXN * sizeof(float));
    g_y = malloc(MAXN * sizeof(float));
    g_z = malloc(MAXN * sizeof(float));
    g_w = malloc(MAXN * sizeof(float));
    if (!g_x || !g_y || !g_z || !g_w)
        return -1;
    build_inputs();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    free(g_x);
    free(g_y);
    free(g_z);
    free(g_w);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exp),
        cmocka_unit_test(test_tanh_softcap),
        cmocka_unit_test(test_gelu),
        cmocka_unit_test(test_attention_rows),
        cmocka_unit_test(test_quantize_rows),
        cmocka_unit_test(test_elementwise),
        cmocka_unit_test(test_quantize_scaled_row),
        cmocka_unit_test(test_sampler_rows),
        cmocka_unit_test(test_div_quantize),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
