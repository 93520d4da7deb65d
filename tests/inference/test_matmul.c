/*
 * inference/matmul.c: sum8/dot8 against A1 written out index by index, and q8_matmul on every
 * kernel path this CPU has, with 1, 2 and 3 threads, against a naive reference written
 * straight from A5, on random shapes (odd row counts, T = 1, K = 32, long K, extreme int8
 * values including -128 in weights). Results must be bit-identical everywhere.
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

#include "inference/matmul.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}

static float rndf(void)
{
    return ((float)(rnd() & 0xffffff) * 0x1p-24f - 0.5f) * 8.0f;
}

/* A1 written directly from the text: lane l sums indices l, l+8, ... */
static float ref_sum8(const float *x, size_t n, const float *y)
{
    float acc[8];
    for (int l = 0; l < 8; l++) {
        acc[l] = 0.0f;
        for (size_t i = (size_t)l; i < n; i += 8) {
            float v = y ? x[i] * y[i] : x[i];
            acc[l] = acc[l] + v;
        }
    }
    float a[4];
    for (int l = 0; l < 4; l++)
        a[l] = acc[l] + acc[l + 4];
    float b0 = a[0] + a[2], b1 = a[1] + a[3];
    return b0 + b1;
}

static uint32_t bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static const kernel_path all_paths[] = {KERNEL_PORTABLE, KERNEL_AVX2, KERNEL_AVX512VNNI};

static void test_sum8_dot8(void **state)
{
    (void)state;
    float x[1037], y[1037];
    for (int i = 0; i < 1037; i++) {
        x[i] = rndf() * (i % 3 ? 1e-3f : 1e3f);
        y[i] = rndf();
    }
    for (size_t p = 0; p < sizeof all_paths / sizeof all_paths[0]; p++) {
        if (kernels_select(all_paths[p]) != 0)
            continue;
        for (size_t n = 0; n <= 1037; n = n < 40 ? n + 1 : n + 97) {
            assert_int_equal(bits(sum8(x, n)), bits(ref_sum8(x, n, NULL)));
            assert_int_equal(bits(dot8(x, y, n)), bits(ref_sum8(x, n, y)));
        }
    }
    kernels_select(KERNEL_AUTO);
}

/* A5 written directly from the text. */
static void ref_matmul(const block_q8_0 *w, int N, const q8_act *A, float *y, int ldy)
{
    int nb = A->cols / QK;
    for (int t = 0; t < A->rows; t++)
        for (int n = 0; n < N; n++) {
            float acc = 0.0f;
            for (int b = 0; b < nb; b++) {
                int32_t isum = 0;
                for (int i = 0; i < QK; i++)
                    isum += (int32_t)A->q[(size_t)t * A->cols + (size_t)b * QK + i] *
                            (int32_t)w[(size_t)n * nb + b].q[i];
                float s = fp16_to_f32(w[(size_t)n * nb + b].d) * A->d[(size_t)t * nb + b];
                acc = acc + (float)isum * s;
            }
            y[(size_t)t * ldy + n] = acc;
        }
}

/* Random weights: mostly ordinary values, some blocks at the extremes (+-127, -128) and some
 * zero or subnormal f16 scales. */
static void fill_weights(block_q8_0 *w, size_t nblocks)
{
    for (size_t b = 0; b < nblocks; b++) {
        uint32_t kind = rnd() % 16;
        w[b].d = (uint16_t)(kind == 0 ? 0 : kind == 1 ? 0x0003 : 0x2000 + rnd() % 0x1400);
        if (rnd() % 2)
            w[b].d |= 0x8000;
        for (int i = 0; i < QK; i++) {
            int v = kind == 2 ? (i % 2 ? -128 : 127) : (int)(rnd() % 255) - 127;
            w[b].q[i] = (int8_t)v;
        }
    }
}

static void fill_acts(q8_act *A, int T, int K)
{
    float *x = malloc((size_t)T * K * sizeof *x);
    for (int i = 0; i < T * K; i++)
        x[i] = rndf() * (float)(1 + i % 5);
    if (T * K >= 64)
        for (int i = 0; i < 32; i++)
            x[32 + i] = 0.0f; /* one all-zero block */
    q8_quantize_rows(x, T, K, A);
    for (int i = 0; i < 32 && i < T * K; i++)
        A->q[i] = (int8_t)(i % 2 ? 127 : -127); /* extremes */
    free(x);
}

/* ws: one workspace shared by every call of the test, so it is reused by larger and smaller
 * shapes after it grew. */
static void check_shape(int T, int N, int K, threadpool *tps[3], mm_workspace *ws)
{
    int nb = K / QK;
    block_q8_0 *w = malloc((size_t)N * nb * sizeof *w);
    fill_weights(w, (size_t)N * nb);
    q8_weight W = {.blocks = w, .rows = N, .cols = K};
    q8_act A;
    assert_int_equal(q8_act_alloc(&A, T, K), 0);
    fill_acts(&A, T, K);
    int ldy = N + 3;
    size_t ny = (size_t)T * ldy;
    float *want = malloc(ny * sizeof *want), *got = malloc(ny * sizeof *got);
    for (size_t i = 0; i < ny; i++)
        want[i] = -1.0f; /* padding must be left alone */
    ref_matmul(w, N, &A, want, ldy);
    for (size_t p = 0; p < sizeof all_paths / sizeof all_paths[0]; p++) {
        if (kernels_select(all_paths[p]) != 0)
            continue;
        for (int ti = 0; ti < 3; ti++) {
            for (size_t i = 0; i < ny; i++)
                got[i] = -1.0f;
            for (int use_ws = 0; use_ws < 2; use_ws++) {
                for (size_t i = 0; i < ny; i++)
                    got[i] = -1.0f;
                assert_int_equal(use_ws ? q8_matmul_ws(&W, &A, got, ldy, tps[ti], ws)
                                        : q8_matmul(&W, &A, got, ldy, tps[ti]),
                                 0);
                for (size_t i = 0; i < ny; i++) {
                    if (bits(got[i]) != bits(want[i]))
                        fail_msg("path %s threads %d T=%d N=%d K=%d%s: y[%zu] = %a, want %a",
                                 kernel_path_name(all_paths[p]), tp_threads(tps[ti]), T, N, K,
                                 use_ws ? " (workspace)" : "", i, got[i], want[i]);
                }
            }
        }
    }
    kernels_select(KERNEL_AUTO);
    free(want);
    free(got);
    free(w);
    q8_act_free(&A);
}

static void test_matmul_paths(void **state)
{
    (void)state;
    char err[128];
    threadpool *tps[3] = {NULL, tp_create(2, err, sizeof err), tp_create(3, err, sizeof err)};
    assert_non_null(tps[1]);
    assert_non_null(tps[2]);
    for (size_t p = 0; p < sizeof all_paths / sizeof all_paths[0]; p++)
        printf("path %-10s %s\n", kernel_path_name(all_paths[p]),
               kernels_select(all_paths[p]) == 0 ? "tested" : "not supported by this CPU");
    kernels_select(KERNEL_AUTO);
    const int shapes[][3] = {
        {1, 1, 32},    {1, 17, 32},   {3, 5, 64},    {5, 33, 96},    {8, 16, 256}, {9, 31, 160},
        {1, 64, 1024}, {17, 47, 288}, {33, 40, 128}, {2, 100, 4096}, {70, 19, 64}, {4, 8, 32},
    };
    mm_workspace ws = {0};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        check_shape(shapes[s][0], shapes[s][1], shapes[s][2], tps, &ws);
    for (int r = 0; r < 12; r++)
        check_shape(1 + (int)(rnd() % 40), 1 + (int)(rnd() % 70), 32 * (1 + (int)(rnd() % 20)), tps,
                    &ws);
    assert_non_null(ws.mem);
    mm_workspace_free(&ws);
    assert_null(ws.mem);
    tp_destroy(tps[1]);
    tp_destroy(tps[2]);
}

static void test_matmul_bad_shapes(void **state)
{
    (void)state;
    block_q8_0 w[4];
    memset(w, 0, sizeof w);
    q8_weight W = {.blocks = w, .rows = 2, .cols = 64};
    q8_act A;
    assert_int_equal(q8_act_alloc(&A, 1, 32), 0);
    float y[8];
    assert_int_equal(q8_matmul(&W, &A, y, 2, NULL), -1); /* cols differ */
    W.cols = 32;
    W.rows = 4;
    assert_int_equal(q8_matmul(&W, &A, y, 3, NULL), -1); /* ldy < rows */
    assert_int_equal(q8_matmul(&W, &A, y, 4, NULL), 0);
    q8_act_free(&A);
}

static uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

/* Frozen bits: a fixed problem (inputs from an LCG, independent of this file's xorshift)
 * through A3 quantisation, A4 weight quantisation, q8_matmul, sum8 and dot8, hashed and compared
 * with a committed constant, on every path. Catches any change of the arithmetic between builds
 * (-O0 / -O3, sanitizers) and commits. Changing the constant = a new profile version. */
#define MATMUL_FROZEN_HASH 0xd87043c81f94c21bull

static void test_frozen_bits(void **state)
{
    (void)state;
    enum { T = 7, N = 45, K = 320 };
    static float x[T * K], wf[N * K], y[T * N];
    static block_q8_0 w[N * K / QK];
    uint32_t s = 2463534242u;
    for (int i = 0; i < T * K; i++) {
        s = s * 1664525u + 1013904223u;
        x[i] = ((float)(s >> 8) * 0x1p-24f - 0.5f) * (float)(1 + i % 7);
    }
    for (int i = 0; i < N * K; i++) {
        s = s * 1664525u + 1013904223u;
        wf[i] = ((float)(s >> 8) * 0x1p-24f - 0.5f) * 0.1f;
    }
    for (int n = 0; n < N; n++)
        q8_0_quantize_row(wf + (size_t)n * K, w + (size_t)n * (K / QK), K);
    q8_act A;
    assert_int_equal(q8_act_alloc(&A, T, K), 0);
    q8_quantize_rows(x, T, K, &A);
    q8_weight W = {.blocks = w, .rows = N, .cols = K};
    uint64_t first = 0;
    for (size_t p = 0; p < sizeof all_paths / sizeof all_paths[0]; p++) {
        if (kernels_select(all_paths[p]) != 0)
            continue;
        assert_int_equal(q8_matmul(&W, &A, y, N, NULL), 0);
        uint64_t h = 0xcbf29ce484222325ull;
        h = fnv1a(h, A.q, (size_t)T * K);
        h = fnv1a(h, A.d, (size_t)T * (K / QK) * sizeof(float));
        h = fnv1a(h, w, sizeof w);
        h = fnv1a(h, y, sizeof y);
        for (size_t n = 0; n <= T * K; n += 37) {
            float a = sum8(x, n), b = dot8(x, x + 1, n);
            h = fnv1a(h, &a, sizeof a);
            h = fnv1a(h, &b, sizeof b);
        }
        printf("path %-10s frozen hash 0x%016llxull\n", kernel_path_name(all_paths[p]),
               (unsigned long long)h);
        if (!first)
            first = h;
        assert_true(h == first);
    }
    kernels_select(KERNEL_AUTO);
    q8_act_free(&A);
    assert_true(first == MATMUL_FROZEN_HASH);
}

static void test_path_names(void **state)
{
    (void)state;
    assert_string_equal(kernel_path_name(KERNEL_PORTABLE), "portable");
    assert_int_equal(kernels_select(KERNEL_PORTABLE), 0);
    assert_int_equal(kernels_selected(), KERNEL_PORTABLE);
    assert_int_equal(kernels_select(KERNEL_AUTO), 0);
    assert_int_not_equal(kernels_selected(), KERNEL_AUTO);
    assert_int_equal(kernels_select((kernel_path)99), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sum8_dot8),         cmocka_unit_test(test_matmul_paths),
        cmocka_unit_test(test_matmul_bad_shapes), cmocka_unit_test(test_frozen_bits),
        cmocka_unit_test(test_path_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
