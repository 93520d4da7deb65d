/*
 * The CUDA kernels against the CPU on random inputs: every result must be bit-identical.
 *
 * The CPU side is the project's own CPU code where it exists (sum8/dot8/q8_matmul/quantisers
 * of inference/matmul.c and quant.c, cm_* of cmath.h, philox.h). Where the CPU engine's
 * function is not exposed as a kernel of its own, the reference below is a plain transcription
 * of docs/arithmetic.md built on those functions (named ref_*), written to be read against the
 * profile line by line.
 *
 * Exits 77 (ctest SKIP_RETURN_CODE) when there is no GPU, 0 when every check passes, 1 when
 * any fails. Plain C, no cmocka, so it also builds on the GPU machine's bare image.
 * Usage: test_cuda_kernels [--big]   (--big adds full-size shapes: vocab 262144, hidden 2816)
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inference/cmath.h"
#include "inference/cuda_backend.h"
#include "inference/matmul.h"
#include "inference/philox.h"
#include "inference/quant.h"
#include "inference/sampler.h"
#include "tests/inference/sampler_step_ref.h"

#define SKIP 77

static int g_fail, g_checks;
static cuda_ctx *g_ctx;
static char g_err[512];

/* ---------------------------------------------------------------- helpers */

static uint64_t g_rng = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(void)
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (uint32_t)(g_rng >> 16);
}
/* Uniform in [-scale, scale) with a spread of magnitudes, exact zeros now and then. */
static float rndf(float scale)
{
    uint32_t r = rnd();
    if ((r & 255) == 0)
        return 0.0f;
    float u = (float)(rnd() >> 8) * 0x1p-24f * 2.0f - 1.0f;
    if ((r & 7) == 1)
        u *= 1e-3f;
    return u * scale;
}
static float *rand_vec(size_t n, float scale)
{
    float *x = malloc(n * sizeof *x + 4);
    for (size_t i = 0; i < n; i++)
        x[i] = rndf(scale);
    return x;
}

static void *dup_to_dev(const void *src, size_t bytes)
{
    void *d = NULL;
    if (cuda_alloc(g_ctx, bytes, &d, g_err, sizeof g_err) ||
        (src && cuda_upload(g_ctx, d, src, bytes, g_err, sizeof g_err))) {
        fprintf(stderr, "FATAL: %s\n", g_err);
        exit(1);
    }
    return d;
}
static void *dev_alloc(size_t bytes)
{
    void *d = dup_to_dev(NULL, bytes);
    /* poison: a result the kernel failed to write cannot pass by accident */
    uint8_t *p = malloc(bytes ? bytes : 1);
    memset(p, 0xA5, bytes);
    if (bytes && cuda_upload(g_ctx, d, p, bytes, g_err, sizeof g_err)) {
        fprintf(stderr, "FATAL: %s\n", g_err);
        exit(1);
    }
    free(p);
    return d;
}
static void from_dev(void *dst, const void *d, size_t bytes)
{
    if (cuda_sync(g_ctx, g_err, sizeof g_err) ||
        cuda_download(g_ctx, dst, d, bytes, g_err, sizeof g_err)) {
        fprintf(stderr, "FATAL: %s\n", g_err);
        exit(1);
    }
}
static void check_rc(int rc, const char *what)
{
    if (rc) {
        fprintf(stderr, "FATAL: launch of %s failed\n", what);
        exit(1);
    }
}

/* Compare n 4-byte words (floats or ints) bit for bit. */
static int same_words(const char *what, const void *gpu, const void *cpu, size_t n)
{
    const uint32_t *g = gpu, *c = cpu;
    g_checks++;
    for (size_t i = 0; i < n; i++)
        if (g[i] != c[i]) {
            float fg, fc;
            memcpy(&fg, &g[i], 4);
            memcpy(&fc, &c[i], 4);
            fprintf(stderr,
                    "FAIL %s: element %zu of %zu: gpu 0x%08x (%.9g / %d) cpu 0x%08x (%.9g / %d)\n",
                    what, i, n, g[i], (double)fg, (int)g[i], c[i], (double)fc, (int)c[i]);
            g_fail++;
            return 0;
        }
    return 1;
}
static int same_bytes(const char *what, const void *gpu, const void *cpu, size_t n)
{
    g_checks++;
    const uint8_t *g = gpu, *c = cpu;
    for (size_t i = 0; i < n; i++)
        if (g[i] != c[i]) {
            fprintf(stderr, "FAIL %s: byte %zu of %zu: gpu %u cpu %u\n", what, i, n, g[i], c[i]);
            g_fail++;
            return 0;
        }
    return 1;
}

/* ---------------------------------------------------------------- references (A6-A9) */

static void ref_rmsnorm(const float *x, const float *w, float *y, int n, float eps)
{
    float ss = dot8(x, x, (size_t)n);
    float mean = ss / (float)n;
    float r = 1.0f / sqrtf(mean + eps);
    for (int i = 0; i < n; i++)
        y[i] = w ? (x[i] * r) * w[i] : x[i] * r;
}
static void ref_softmax(const float *x, float *y, int n)
{
    float m = x[0];
    for (int i = 1; i < n; i++)
        m = x[i] > m ? x[i] : m;
    for (int i = 0; i < n; i++)
        y[i] = cm_expf(x[i] - m);
    float S = sum8(y, (size_t)n);
    for (int i = 0; i < n; i++)
        y[i] = y[i] / S;
}
static float ref_gelu(float x)
{
    float u = x + 0.044715f * ((x * x) * x);
    float t = cm_tanhf(0.7978845608f * u);
    return (0.5f * x) * (1.0f + t);
}

/* ---------------------------------------------------------------- tests */

static void test_sum8_dot8(void)
{
    static const int ns[] = {1, 7, 8, 9, 33, 255, 1000, 2816};
    for (size_t k = 0; k < sizeof ns / sizeof *ns; k++) {
        int n = ns[k], rows = 37;
        float *x = rand_vec((size_t)rows * n, 10.0f), *y = rand_vec((size_t)rows * n, 3.0f);
        float *dx = dup_to_dev(x, sizeof(float) * rows * n),
              *dy = dup_to_dev(y, sizeof(float) * rows * n);
        float *ds = dev_alloc(sizeof(float) * rows), *dd = dev_alloc(sizeof(float) * rows);
        check_rc(cuk_sum8_rows(g_ctx, dx, rows, n, ds), "sum8");
        check_rc(cuk_dot8_rows(g_ctx, dx, dy, rows, n, dd), "dot8");
        float gs[37], gd[37], cs[37], cd[37];
        from_dev(gs, ds, sizeof gs);
        from_dev(gd, dd, sizeof gd);
        for (int r = 0; r < rows; r++) {
            cs[r] = sum8(x + (size_t)r * n, (size_t)n);
            cd[r] = dot8(x + (size_t)r * n, y + (size_t)r * n, (size_t)n);
        }
        same_words("sum8", gs, cs, (size_t)rows);
        same_words("dot8", gd, cd, (size_t)rows);
        cuda_free(g_ctx, dx), cuda_free(g_ctx, dy), cuda_free(g_ctx, ds), cuda_free(g_ctx, dd);
        free(x), free(y);
    }
}

static void test_quantize(void)
{
    int rows = 19, cols = 2816;
    float *x = rand_vec((size_t)rows * cols, 50.0f);
    for (int i = 0; i < 32; i++)
        x[64 + i] = 0.0f; /* an all-zero block */
    for (int i = 0; i < 32; i++)
        x[128 + i] = (float)(i - 16) * 0.5f; /* ties at .5 */
    x[200] = 1e-40f;                         /* subnormal */
    float *dx = dup_to_dev(x, sizeof(float) * rows * cols);
    int8_t *dq = dev_alloc((size_t)rows * cols);
    float *dd = dev_alloc(sizeof(float) * rows * cols / 32);
    check_rc(cuk_q8_quantize(g_ctx, dx, rows, cols, dq, dd), "q8_quantize");
    q8_act a;
    q8_act_alloc(&a, rows, cols);
    q8_quantize_rows(x, rows, cols, &a);
    int8_t *gq = malloc((size_t)rows * cols);
    float *gd = malloc(sizeof(float) * rows * cols / 32);
    from_dev(gq, dq, (size_t)rows * cols);
    from_dev(gd, dd, sizeof(float) * rows * cols / 32);
    same_bytes("A3 q", gq, a.q, (size_t)rows * cols);
    same_words("A3 d", gd, a.d, (size_t)rows * cols / 32);

    q8_act_free(&a);
    free(x), free(gq), free(gd);
    cuda_free(g_ctx, dx), cuda_free(g_ctx, dq), cuda_free(g_ctx, dd);
}

/* Random Q8_0 weights: real quantised rows (realistic f16 scales). */
static block_q8_0 *rand_weights(int rows, int cols, float scale)
{
    block_q8_0 *w = malloc(sizeof(block_q8_0) * (size_t)rows * cols / 32);
    float *row = malloc(sizeof(float) * cols);
    for (int r = 0; r < rows; r++) {
        for (int i = 0; i < cols; i++)
            row[i] = rndf(scale);
        q8_0_quantize_row(row, w + (size_t)r * cols / 32, cols);
    }
    free(row);
    return w;
}

static void test_matmul(int big)
{
    static const int shapes[][3] = {/* arows, wrows, cols */
                                    {1, 7, 32},      {5, 33, 96},    {130, 70, 704},
                                    {256, 64, 2816}, {3, 300, 4096}, {129, 40, 2112}};
    int nshapes = (int)(sizeof shapes / sizeof *shapes);
    for (int s = 0; s < nshapes + (big ? 1 : 0); s++) {
        int T = s < nshapes ? shapes[s][0] : 256, N = s < nshapes ? shapes[s][1] : 4096,
            K = s < nshapes ? shapes[s][2] : 2816;
        float *x = rand_vec((size_t)T * K, 4.0f);
        block_q8_0 *w = rand_weights(N, K, 0.05f);
        q8_act a;
        q8_act_alloc(&a, T, K);
        q8_quantize_rows(x, T, K, &a);
        q8_weight W = {w, N, K};
        float *cy = malloc(sizeof(float) * T * N), *gy = malloc(sizeof(float) * T * N);
        if (q8_matmul(&W, &a, cy, N, NULL)) {
            fprintf(stderr, "FATAL: CPU q8_matmul failed\n");
            exit(1);
        }
        void *dw = dup_to_dev(w, sizeof(block_q8_0) * N * K / 32);
        void *dq = dup_to_dev(a.q, (size_t)T * K),
             *dd = dup_to_dev(a.d, sizeof(float) * T * K / 32);
        for (int kind = 0; kind < 2; kind++) {
            float *dy = dev_alloc(sizeof(float) * T * N);
            check_rc(cuk_q8_matmul(g_ctx, (cuk_mm_kind)kind, dw, N, K, dq, dd, T, dy, N), "matmul");
            from_dev(gy, dy, sizeof(float) * T * N);
            char what[96];
            snprintf(what, sizeof what, "A5 %s T=%d N=%d K=%d", kind ? "mma" : "dp4a", T, N, K);
            same_words(what, gy, cy, (size_t)T * N);
            cuda_free(g_ctx, dy);
        }
        q8_act_free(&a);
        free(x), free(w), free(cy), free(gy);
        cuda_free(g_ctx, dw), cuda_free(g_ctx, dq), cuda_free(g_ctx, dd);
    }
}

static void test_grouped_matmul(void)
{
    int G = 5, N = 48, K = 704, T = 37;
    int counts[5] = {3, 0, 17, 1, 16}; /* 37 rows in all */
    int32_t off[6] = {0}, rows[37];
    for (int g = 0; g < G; g++)
        off[g + 1] = off[g] + counts[g];
    for (int i = 0; i < T; i++)
        rows[i] = (int32_t)(rnd() % 50); /* gathered from 50 activations */
    float *x = rand_vec((size_t)50 * K, 2.0f);
    block_q8_0 *w = rand_weights(G * N, K, 0.1f);
    q8_act a;
    q8_act_alloc(&a, 50, K);
    q8_quantize_rows(x, 50, K, &a);
    float *cy = malloc(sizeof(float) * T * N), *gy = malloc(sizeof(float) * T * N);
    q8_act one;
    q8_act_alloc(&one, 1, K);
    for (int g = 0; g < G; g++)
        for (int i = off[g]; i < off[g + 1]; i++) {
            memcpy(one.q, a.q + (size_t)rows[i] * K, (size_t)K);
            memcpy(one.d, a.d + (size_t)rows[i] * K / 32, sizeof(float) * K / 32);
            q8_weight W = {w + (size_t)g * N * K / 32, N, K};
            q8_matmul(&W, &one, cy + (size_t)i * N, N, NULL);
        }
    void *dw = dup_to_dev(w, sizeof(block_q8_0) * G * N * K / 32);
    void *dq = dup_to_dev(a.q, (size_t)50 * K), *dd = dup_to_dev(a.d, sizeof(float) * 50 * K / 32);
    void *doff = dup_to_dev(off, sizeof off), *drows = dup_to_dev(rows, sizeof rows);
    for (int kind = 0; kind < 2; kind++) {
        float *dy = dev_alloc(sizeof(float) * T * N);
        check_rc(cuk_q8_matmul_grouped(g_ctx, (cuk_mm_kind)kind, dw, N, K, G, doff, drows, 17, dq,
                                       dd, dy, N),
                 "grouped");
        from_dev(gy, dy, sizeof(float) * T * N);
        same_words(kind ? "A5 grouped (experts) mma" : "A5 grouped (experts) dp4a", gy, cy,
                   (size_t)T * N);
        cuda_free(g_ctx, dy);
    }
    q8_act_free(&a), q8_act_free(&one);
    free(x), free(w), free(cy), free(gy);
    cuda_free(g_ctx, dw), cuda_free(g_ctx, dq), cuda_free(g_ctx, dd), cuda_free(g_ctx, doff);
    cuda_free(g_ctx, drows);
}

static void test_elementwise(void)
{
    int rows = 21, n = 2816;
    size_t tot = (size_t)rows * n;
    float *x = rand_vec(tot, 30.0f), *w = rand_vec((size_t)n, 2.0f), *u = rand_vec(tot, 3.0f);
    float *cy = malloc(sizeof(float) * tot), *gy = malloc(sizeof(float) * tot);
    float *dx = dup_to_dev(x, sizeof(float) * tot), *dw = dup_to_dev(w, sizeof(float) * n);
    float *du = dup_to_dev(u, sizeof(float) * tot), *dy = dev_alloc(sizeof(float) * tot);

    for (int scaled = 0; scaled < 2; scaled++) {
        check_rc(cuk_rmsnorm(g_ctx, dx, scaled ? dw : NULL, dy, rows, n, 1e-6f), "rmsnorm");
        for (int r = 0; r < rows; r++)
            ref_rmsnorm(x + (size_t)r * n, scaled ? w : NULL, cy + (size_t)r * n, n, 1e-6f);
        from_dev(gy, dy, sizeof(float) * tot);
        same_words(scaled ? "rmsnorm" : "rmsnorm no-scale", gy, cy, tot);
    }
    /* per-head norm shape: rows of 256 */
    check_rc(cuk_rmsnorm(g_ctx, dx, dw, dy, (int)(tot / 256), 256, 1e-6f), "rmsnorm head");
    for (size_t r = 0; r < tot / 256; r++)
        ref_rmsnorm(x + r * 256, w, cy + r * 256, 256, 1e-6f);
    from_dev(gy, dy, sizeof(float) * tot);
    same_words("rmsnorm d=256", gy, cy, tot);

    static const int sn[] = {128, 1000, 300};
    for (int k = 0; k < 3; k++) {
        int rr = (int)(tot / (size_t)sn[k]);
        if (rr > 50)
            rr = 50;
        check_rc(cuk_softmax(g_ctx, dx, dy, rr, sn[k]), "softmax");
        for (int r = 0; r < rr; r++)
            ref_softmax(x + (size_t)r * sn[k], cy + (size_t)r * sn[k], sn[k]);
        from_dev(gy, dy, sizeof(float) * rr * sn[k]);
        same_words("softmax", gy, cy, (size_t)rr * sn[k]);
    }

    /* gated GELU on a fused gate|up layout: gate = cols [0,704), up = [704,1408) */
    int gr = 9, gn = 704;
    check_rc(cuk_gelu_gate(g_ctx, dx, 1408, dx + 704, 1408, dy, gn, gr, gn), "gelu");
    for (int r = 0; r < gr; r++)
        for (int i = 0; i < gn; i++)
            cy[r * gn + i] = ref_gelu(x[r * 1408 + i]) * x[r * 1408 + 704 + i];
    from_dev(gy, dy, sizeof(float) * gr * gn);
    same_words("gelu gate", gy, cy, (size_t)gr * gn);

    check_rc(cuk_softcap(g_ctx, dx, dy, tot, 30.0f), "softcap");
    for (size_t i = 0; i < tot; i++)
        cy[i] = 30.0f * cm_tanhf(x[i] / 30.0f);
    from_dev(gy, dy, sizeof(float) * tot);
    same_words("softcap", gy, cy, tot);

    check_rc(cuk_add(g_ctx, dx, du, dy, tot), "add");
    for (size_t i = 0; i < tot; i++)
        cy[i] = x[i] + u[i];
    from_dev(gy, dy, sizeof(float) * tot);
    same_words("add", gy, cy, tot);

    float k = 1.0f / sqrtf((float)n);
    check_rc(cuk_mul_vec_scalar(g_ctx, dx, dw, k, dy, rows, n), "mul_vec_scalar");
    for (size_t i = 0; i < tot; i++)
        cy[i] = (x[i] * w[i % n]) * k;
    from_dev(gy, dy, sizeof(float) * tot);
    same_words("router input scale", gy, cy, tot);

    check_rc(cuk_scale_by(g_ctx, dx, dw + 3, dy, tot), "scale_by");
    for (size_t i = 0; i < tot; i++)
        cy[i] = x[i] * w[3];
    from_dev(gy, dy, sizeof(float) * tot);
    same_words("layer scalar", gy, cy, tot);

    /* RoPE with the CPU backend's tables: sliding (d 256, theta 1e4, all pairs) and global
     * (d 512, theta 1e6, rope_freqs 64 x 1.0 then 1e30 = no rotation) */
    static const struct {
        int d, global;
        float theta;
        int pos0;
    } rp[] = {{256, 0, 10000.0f, 0}, {512, 1, 1000000.0f, 260000}, {64, 0, 10000.0f, 77}};
    for (int k2 = 0; k2 < 3; k2++) {
        int d = rp[k2].d, half = d / 2, heads = 4, toks = (int)(tot / (size_t)(d * heads));
        if (toks > 11)
            toks = 11;
        size_t m = (size_t)toks * heads * d;
        float freqs[256];
        for (int i = 0; i < half; i++) {
            float fi = cm_expf(-((float)(2 * i) / (float)d) * cm_logf(rp[k2].theta));
            if (rp[k2].global) {
                float div = i < 64 ? 1.0f : 1e30f;
                fi = div >= 1e29f ? 0.0f : fi / div;
            }
            freqs[i] = fi;
        }
        float *dr = dup_to_dev(x, sizeof(float) * m),
              *dfr = dup_to_dev(freqs, sizeof(float) * half);
        check_rc(cuk_rope(g_ctx, dr, toks, heads, d, half, dfr, rp[k2].pos0), "rope");
        memcpy(cy, x, sizeof(float) * m);
        for (int t = 0; t < toks; t++)
            for (int h = 0; h < heads; h++) {
                float *v = cy + ((size_t)t * heads + h) * d;
                for (int i = 0; i < half; i++) {
                    float a = (float)(uint32_t)(rp[k2].pos0 + t) * freqs[i], c = cm_cosf(a),
                          s = cm_sinf(a);
                    float x0 = v[i], x1 = v[i + half];
                    v[i] = x0 * c - x1 * s;
                    v[i + half] = x1 * c + x0 * s;
                }
            }
        from_dev(gy, dr, sizeof(float) * m);
        same_words("rope", gy, cy, m);
        cuda_free(g_ctx, dr), cuda_free(g_ctx, dfr);
    }

    check_rc(cuk_scale(g_ctx, dx, 53.066f, dy, tot), "scale");
    for (size_t i = 0; i < tot; i++)
        cy[i] = x[i] * 53.066f;
    from_dev(gy, dy, sizeof(float) * tot);
    same_words("scale", gy, cy, tot);

    check_rc(cuk_add_scale(g_ctx, dx, du, 0.75f, dy, tot), "add_scale");
    for (size_t i = 0; i < tot; i++)
        cy[i] = (x[i] + u[i]) * 0.75f;
    from_dev(gy, dy, sizeof(float) * tot);
    same_words("residual * layer scalar", gy, cy, tot);

    /* embedding rows: ((float)q * d) * sqrt(hidden) */
    int V = 300, H = 256, nid = 17;
    block_q8_0 *emb = rand_weights(V, H, 0.5f);
    int32_t ids[17];
    for (int i = 0; i < nid; i++)
        ids[i] = (int32_t)(rnd() % V);
    void *demb = dup_to_dev(emb, sizeof(block_q8_0) * V * H / 32),
         *dids = dup_to_dev(ids, sizeof ids);
    float sc = sqrtf((float)H);
    check_rc(cuk_embed(g_ctx, demb, H, dids, nid, sc, dy), "embed");
    for (int t = 0; t < nid; t++) {
        float row[256];
        q8_0_dequantize_row(emb + (size_t)ids[t] * H / 32, row, H);
        for (int i = 0; i < H; i++)
            cy[t * H + i] = row[i] * sc;
    }
    from_dev(gy, dy, sizeof(float) * nid * H);
    same_words("embedding", gy, cy, (size_t)nid * H);
    free(emb);
    cuda_free(g_ctx, demb), cuda_free(g_ctx, dids);

    free(x), free(w), free(u), free(cy), free(gy);
    cuda_free(g_ctx, dx), cuda_free(g_ctx, dw), cuda_free(g_ctx, du), cuda_free(g_ctx, dy);
}

/* A7 reference: keys [lo, hi) of the position-major cache. */
static void ref_attention(const float *q, const float *k, const float *v, float *o, int nq,
                          int heads, int kvh, int d, int pos0, int causal, int window)
{
    float *sc = malloc(sizeof(float) * (size_t)(pos0 + nq));
    for (int i = 0; i < nq; i++)
        for (int h = 0; h < heads; h++) {
            int pos = pos0 + i, lo, hi;
            if (causal) {
                hi = pos + 1;
                lo = window ? (pos - window + 1 > 0 ? pos - window + 1 : 0) : 0;
            } else {
                hi = pos0 + nq;
                lo = window ? pos0 - (pos0 < window - 1 ? pos0 : window - 1) : 0;
            }
            int g = h / (heads / kvh), n = hi - lo;
            const float *qr = q + ((size_t)i * heads + h) * d;
            for (int j = 0; j < n; j++)
                sc[j] = dot8(qr, k + ((size_t)(lo + j) * kvh + g) * d, (size_t)d);
            ref_softmax(sc, sc, n);
            float *orow = o + ((size_t)i * heads + h) * d;
            for (int dd = 0; dd < d; dd++) {
                float acc = 0.0f;
                for (int j = 0; j < n; j++)
                    acc = acc + sc[j] * v[((size_t)(lo + j) * kvh + g) * d + dd];
                orow[dd] = acc;
            }
        }
    free(sc);
}

static void test_attention(void)
{
    static const struct {
        int nq, heads, kvh, d, pos0, causal, window;
    } cf[] = {{9, 4, 2, 64, 0, 1, 0},   {9, 4, 2, 64, 0, 1, 4},       {12, 4, 1, 128, 30, 0, 0},
              {12, 4, 2, 64, 30, 0, 8}, {16, 16, 8, 256, 5, 0, 1024}, {7, 16, 2, 512, 20, 1, 0},
              {5, 2, 2, 32, 3, 0, 1}};
    for (size_t c = 0; c < sizeof cf / sizeof *cf; c++) {
        int P = cf[c].pos0 + cf[c].nq;
        size_t qn = (size_t)cf[c].nq * cf[c].heads * cf[c].d, kn = (size_t)P * cf[c].kvh * cf[c].d;
        float *q = rand_vec(qn, 1.0f), *k = rand_vec(kn, 1.0f), *v = rand_vec(kn, 2.0f);
        float *co = malloc(sizeof(float) * qn), *go = malloc(sizeof(float) * qn);
        float *dq = dup_to_dev(q, sizeof(float) * qn), *dk = dup_to_dev(k, sizeof(float) * kn);
        float *dv = dup_to_dev(v, sizeof(float) * kn), *dout = dev_alloc(sizeof(float) * qn);
        float *ds = dev_alloc(sizeof(float) * (size_t)cf[c].nq * cf[c].heads * P);
        check_rc(cuk_attention(g_ctx, dq, dk, dv, dout, cf[c].nq, cf[c].heads, cf[c].kvh, cf[c].d,
                               cf[c].pos0, cf[c].causal, cf[c].window, ds, P),
                 "attention");
        ref_attention(q, k, v, co, cf[c].nq, cf[c].heads, cf[c].kvh, cf[c].d, cf[c].pos0,
                      cf[c].causal, cf[c].window);
        from_dev(go, dout, sizeof(float) * qn);
        char what[64];
        snprintf(what, sizeof what, "attention config %zu", c);
        same_words(what, go, co, qn);
        free(q), free(k), free(v), free(co), free(go);
        cuda_free(g_ctx, dq), cuda_free(g_ctx, dk), cuda_free(g_ctx, dv), cuda_free(g_ctx, dout);
        cuda_free(g_ctx, ds);
    }
}

static void test_moe(void)
{
    int T = 45, E = 128, K = 8, H = 96;
    float *lg = rand_vec((size_t)T * E, 3.0f), *sc = rand_vec((size_t)E, 1.0f);
    for (int e = 0; e < E; e++)
        lg[e] = 0.5f;             /* token 0: all tied, picks experts 0..7 */
    lg[E + 5] = lg[E + 9] = 4.0f; /* token 1: a tie at the top */
    float *dl = dup_to_dev(lg, sizeof(float) * T * E), *dsc = dup_to_dev(sc, sizeof(float) * E);
    int32_t *dids = dev_alloc(sizeof(int32_t) * T * K);
    float *dw = dev_alloc(sizeof(float) * T * K);
    check_rc(cuk_moe_route(g_ctx, dl, T, E, K, dsc, dids, dw), "moe_route");
    int32_t *gids = malloc(sizeof(int32_t) * T * K), *cids = malloc(sizeof(int32_t) * T * K);
    float *gw = malloc(sizeof(float) * T * K), *cw = malloc(sizeof(float) * T * K);
    from_dev(gids, dids, sizeof(int32_t) * T * K);
    from_dev(gw, dw, sizeof(float) * T * K);
    float p[128];
    for (int t = 0; t < T; t++) {
        ref_softmax(lg + (size_t)t * E, p, E);
        int sel[8], used[128] = {0};
        float sump = 0.0f;
        for (int r = 0; r < K; r++) {
            int b = -1;
            for (int e = 0; e < E; e++)
                if (!used[e] && (b < 0 || p[e] > p[b]))
                    b = e;
            used[b] = 1;
            sel[r] = b;
            sump = sump + p[b];
        }
        /* ascending id */
        int n = 0;
        for (int e = 0; e < E; e++)
            if (used[e]) {
                cids[t * K + n] = e;
                cw[t * K + n] = (p[e] / sump) * sc[e];
                n++;
            }
        (void)sel;
    }
    same_words("moe route ids", gids, cids, (size_t)T * K);
    same_words("moe route weights", gw, cw, (size_t)T * K);

    /* grouping + combination of per-(token, slot) expert outputs */
    int32_t *doff = dev_alloc(sizeof(int32_t) * (E + 1)),
            *drows = dev_alloc(sizeof(int32_t) * T * K);
    int32_t *dslot = dev_alloc(sizeof(int32_t) * T * K);
    check_rc(cuk_moe_group(g_ctx, dids, T, K, E, doff, drows, dslot), "moe_group");
    int32_t off[129], rows[45 * 8], slot[45 * 8];
    from_dev(off, doff, sizeof off);
    from_dev(rows, drows, sizeof rows);
    from_dev(slot, dslot, sizeof slot);
    int ok = off[0] == 0 && off[E] == T * K;
    for (int i = 0; i < T * K && ok; i++) {
        int e = cids[i];
        ok = slot[i] >= off[e] && slot[i] < off[e + 1] && rows[slot[i]] == i / K;
    }
    for (int e = 0; e < E && ok; e++)
        for (int r = off[e] + 1; r < off[e + 1]; r++)
            ok = ok && rows[r - 1] < rows[r];
    g_checks++;
    if (!ok) {
        fprintf(stderr, "FAIL moe grouping is inconsistent\n");
        g_fail++;
    }
    float *y = rand_vec((size_t)T * K * H, 5.0f);
    float *dy = dup_to_dev(y, sizeof(float) * T * K * H), *dout = dev_alloc(sizeof(float) * T * H);
    check_rc(cuk_moe_combine(g_ctx, dy, H, dslot, dw, T, K, H, dout), "moe_combine");
    float *go = malloc(sizeof(float) * T * H), *co = malloc(sizeof(float) * T * H);
    for (int t = 0; t < T; t++)
        for (int i = 0; i < H; i++) {
            float acc = 0.0f;
            for (int s = 0; s < K; s++)
                acc = acc + cw[t * K + s] * y[(size_t)slot[t * K + s] * H + i];
            co[t * H + i] = acc;
        }
    from_dev(go, dout, sizeof(float) * T * H);
    same_words("moe combine", go, co, (size_t)T * H);
    free(lg), free(sc), free(gids), free(cids), free(gw), free(cw), free(y), free(go), free(co);
    cuda_free(g_ctx, dl), cuda_free(g_ctx, dsc), cuda_free(g_ctx, dids), cuda_free(g_ctx, dw);
    cuda_free(g_ctx, doff), cuda_free(g_ctx, drows), cuda_free(g_ctx, dslot), cuda_free(g_ctx, dy);
    cuda_free(g_ctx, dout);
}

/* The sampler's step (cuk_sample_step, A9/A9c/A10) against sampler.c's host path (ref_step of
 * tests/inference/sampler_step_ref.h) and against the same kernels run on the CPU (emu_step):
 * vocabularies off the chunk size, planted ties, masks, restriction masks, forced positions. */
static void test_sampler(int big)
{
    static const int Vs[] = {1000, 4113, 32768, 262144};
    int nv = big ? 4 : 3;
    for (int vi = 0; vi < nv; vi++)
        for (int rules = 0; rules < 3; rules++) {
            uint32_t V = (uint32_t)Vs[vi], C = vi == 3 ? 16 : 37, Vp = (V + 31) / 32 * 32;
            uint32_t nch = (V + 1023) / 1024;
            size_t tot = (size_t)C * V;
            float *lg = rand_vec(tot, 30.0f);
            for (int i = 0; i < 40; i++)
                lg[(size_t)(i % C) * V + (rnd() % V)] = 29.5f; /* ties of the maximum */
            memcpy(lg + V, lg, V * sizeof(float));             /* equal entropies */
            /* tables: 0 = a 10-id mask, 1 = a sparse mask, 2 = "allowed" */
            uint32_t ntab = 3;
            uint8_t *masks = calloc((size_t)ntab * V, 1);
            int32_t *lists = malloc(sizeof(int32_t) * ntab * V), off[4] = {0};
            for (uint32_t k = 0; k < ntab; k++) {
                uint8_t *m = masks + (size_t)k * V;
                for (uint32_t v = 0; v < V; v++)
                    m[v] = k == 0   ? (v >= 40 && v < 50)
                           : k == 1 ? rnd() % 97 == 0
                                    : ((rnd() % 5) != 0 && !(v >= 1024 && v < 2048));
                m[V - 1] = 1;
                int32_t n = off[k];
                for (uint32_t v = 0; v < V; v++)
                    if (m[v])
                        lists[n++] = (int32_t)v;
                off[k + 1] = n;
            }
            int32_t *rix = malloc(sizeof(int32_t) * 3 * C);
            for (uint32_t i = 0; i < C; i++) {
                int32_t f = -1, mk = -1, nz = -1;
                if (rules == 1)
                    mk = nz = 2;
                else if (rules == 2)
                    switch (i % 5) {
                    case 0:
                        f = (int32_t)(rnd() % V);
                        break;
                    case 1:
                        mk = nz = 0;
                        break;
                    case 2:
                        mk = 1, nz = 2;
                        break;
                    case 3:
                        mk = nz = 2;
                        break;
                    default:
                        break;
                    }
                rix[i] = f, rix[C + i] = mk, rix[2 * C + i] = nz;
            }
            step_in in = {.logits = lg,
                          .C = C,
                          .V = V,
                          .Vp = Vp,
                          .tau = 0.4f + (0.8f - 0.4f) * ((float)(vi + 3) / 48.0f),
                          .bound = 0.1f * (float)(1 + vi + rules),
                          .seed = 0x1234567890abcdefull + (uint64_t)vi,
                          .canvas = 2,
                          .step = 5,
                          .make_sc = 1,
                          .masks = masks,
                          .lists = lists,
                          .list_off = off,
                          .forced = rix,
                          .mask = rix + C,
                          .noise = rix + 2 * C};
            step_out r, e, g;
            step_out_alloc(&r, C, Vp), step_out_alloc(&e, C, Vp), step_out_alloc(&g, C, Vp);
            ref_step(&in, &r);
            emu_step(&in, &e);

            float *dl = dup_to_dev(lg, sizeof(float) * tot);
            cuk_rules dr = {dup_to_dev(masks, (size_t)ntab * V),
                            dup_to_dev(lists, sizeof(int32_t) * (size_t)off[3]),
                            dup_to_dev(off, sizeof off),
                            NULL,
                            NULL,
                            NULL};
            int32_t *drix = dup_to_dev(rix, sizeof(int32_t) * 3 * C);
            dr.forced = drix, dr.mask = drix + C, dr.noise = drix + 2 * C;
            cuk_step_params par = {in.tau, in.bound, in.seed, in.canvas, in.step, 1, 0};
            cuk_step_params *dpar = dup_to_dev(&par, sizeof par);
            float *dm = dev_alloc(sizeof(float) * C), *dS = dev_alloc(sizeof(float) * C);
            float *dH = dev_alloc(sizeof(float) * C), *dch = dev_alloc(sizeof(float) * C * 2 * nch);
            float *dP = dev_alloc(sizeof(float) * C * Vp);
            int32_t *ddraw = dev_alloc(sizeof(int32_t) * C), *dx = dev_alloc(sizeof(int32_t) * C);
            int32_t *dres = dev_alloc(sizeof(int32_t) * (C + 2));
            check_rc(cuk_sample_step(g_ctx, dl, (int)C, (int)V, (int)Vp, &dr, dpar, dm, dS, dH,
                                     ddraw, dch, dP, dx, dres, dres + C),
                     "sample step");
            int32_t *res = malloc(sizeof(int32_t) * (C + 2));
            from_dev(g.S, dS, sizeof(float) * C), from_dev(g.H, dH, sizeof(float) * C);
            from_dev(g.draw, ddraw, sizeof(int32_t) * C), from_dev(g.x, dx, sizeof(int32_t) * C);
            from_dev(g.P, dP, sizeof(float) * C * Vp),
                from_dev(res, dres, sizeof(int32_t) * (C + 2));
            memcpy(g.argmax, res, sizeof(int32_t) * C);
            char what[96];
#define CHK(name, gg, cc, n)                                                                       \
    snprintf(what, sizeof what, "sample step V=%u rules %d %s", V, rules, name);                   \
    same_words(what, gg, cc, n)
            CHK("emulation == host (S)", e.S, r.S, C);
            CHK("emulation == host (draw)", e.draw, r.draw, C);
            CHK("S", g.S, r.S, C);
            CHK("entropy", g.H, r.H, C);
            CHK("argmax", g.argmax, r.argmax, C);
            CHK("categorical draw", g.draw, r.draw, C);
            CHK("next ids", g.x, r.x, C);
            CHK("SC input", g.P, r.P, (size_t)C * Vp);
            CHK("accepted", &res[C], &r.n_acc, 1);
            CHK("mean entropy", &res[C + 1], &r.mean, 1);
#undef CHK
            free(res), free(masks), free(lists), free(rix), free(lg);
            step_out_free(&r), step_out_free(&e), step_out_free(&g);
            cuda_free(g_ctx, dl), cuda_free(g_ctx, (void *)dr.masks),
                cuda_free(g_ctx, (void *)dr.lists);
            cuda_free(g_ctx, (void *)dr.list_off), cuda_free(g_ctx, drix), cuda_free(g_ctx, dpar);
            cuda_free(g_ctx, dm), cuda_free(g_ctx, dS), cuda_free(g_ctx, dH), cuda_free(g_ctx, dch);
            cuda_free(g_ctx, dP), cuda_free(g_ctx, ddraw), cuda_free(g_ctx, dx),
                cuda_free(g_ctx, dres);
        }
}

/* The SC product with a long fold (K = vocab): E^T is built on the host, as the engine does
 * (model.c), and uploaded. */
static void test_sc_product(void)
{
    int V = 1000, H = 96, C = 5; /* V not a multiple of 32: zero blocks at the end */
    int Vp = (V + 31) / 32 * 32;
    block_q8_0 *emb = rand_weights(V, H, 0.3f);
    block_q8_0 *cet = malloc(sizeof(block_q8_0) * H * Vp / 32);
    float *full = malloc(sizeof(float) * V * H), *col = malloc(sizeof(float) * Vp);
    for (int v = 0; v < V; v++)
        q8_0_dequantize_row(emb + (size_t)v * H / 32, full + (size_t)v * H, H);
    for (int i = 0; i < H; i++) {
        for (int v = 0; v < Vp; v++)
            col[v] = v < V ? full[(size_t)v * H + i] : 0.0f;
        q8_0_quantize_row(col, cet + (size_t)i * Vp / 32, Vp);
    }
    void *det = dup_to_dev(cet, sizeof(block_q8_0) * H * Vp / 32);

    /* the SC product itself: [C x Vp] x E^T -> [C x H] with K = Vp (long fold) */
    float *p = rand_vec((size_t)C * Vp, 0.01f);
    q8_act a;
    q8_act_alloc(&a, C, Vp);
    q8_quantize_rows(p, C, Vp, &a);
    q8_weight W = {cet, H, Vp};
    float *cy = malloc(sizeof(float) * C * H), *gy = malloc(sizeof(float) * C * H);
    q8_matmul(&W, &a, cy, H, NULL);
    void *dq = dup_to_dev(a.q, (size_t)C * Vp), *dd = dup_to_dev(a.d, sizeof(float) * C * Vp / 32);
    float *dy = dev_alloc(sizeof(float) * C * H);
    check_rc(cuk_q8_matmul(g_ctx, CUK_MM_MMA, det, H, Vp, dq, dd, C, dy, H), "sc product");
    from_dev(gy, dy, sizeof(float) * C * H);
    same_words("SC product (K = vocab)", gy, cy, (size_t)C * H);
    q8_act_free(&a);
    free(emb), free(cet), free(full), free(col), free(p), free(cy), free(gy);
    cuda_free(g_ctx, det), cuda_free(g_ctx, dq), cuda_free(g_ctx, dd);
    cuda_free(g_ctx, dy);
}

static void test_philox(void)
{
    uint32_t *d = dev_alloc(sizeof(uint32_t) * 1000), g[1000], c[1000];
    uint64_t seed = 0xfedcba9876543210ull;
    check_rc(cuk_philox(g_ctx, seed, 3, 17, 2, 1000, d), "philox");
    for (int i = 0; i < 1000; i++)
        c[i] = philox_word(seed, 3, 17, (uint32_t)i, 2);
    from_dev(g, d, sizeof g);
    same_words("philox", g, c, 1000);
    cuda_free(g_ctx, d);
}

/* The logits hash (A9): GPU row hashes against sampler_row_hash, for vocabularies that end on
 * a leaf boundary, in a short leaf, and inside the first leaf; then the host fold. */
static void test_logits_hash(int big)
{
    /* 4146 and 8193: a last leaf of 50 and 1 floats (XXH3's short paths); 60 and 61: one
     * leaf just under and over the long path (240 bytes) */
    static const int Vs[] = {9000, 4096, 777, 4146, 8193, 60, 61, 262144};
    int nV = big ? 8 : 7, C = 37;
    for (int t = 0; t < nV; t++) {
        int V = Vs[t], n_leaves = (V + 4095) / 4096;
        float *z = rand_vec((size_t)C * V, 30.0f);
        void *dz = dup_to_dev(z, sizeof(float) * C * V);
        uint8_t *dl = dev_alloc((size_t)C * n_leaves * 16), *dr = dev_alloc((size_t)C * 32);
        uint8_t *g = malloc((size_t)C * 32), *c = malloc((size_t)C * 32);
        check_rc(cuk_row_hashes(g_ctx, dz, C, V, dl, dr), "row hashes");
        from_dev(g, dr, (size_t)C * 32);
        for (int r = 0; r < C; r++)
            sampler_row_hash(z + (size_t)r * V, (uint32_t)V, c + 32 * r);
        char what[64];
        snprintf(what, sizeof what, "row hashes V=%d", V);
        same_bytes(what, g, c, (size_t)C * 32);
        free(z), free(g), free(c);
        cuda_free(g_ctx, dz), cuda_free(g_ctx, dl), cuda_free(g_ctx, dr);
    }
}

int main(int argc, char **argv)
{
    int big = argc > 1 && strcmp(argv[1], "--big") == 0;
    cuda_device_info info;
    if (cuda_probe(&info, g_err, sizeof g_err)) {
        printf("SKIP: %s\n", g_err);
        return SKIP;
    }
    printf("GPU: %s (sm_%d%d, %d SMs, %.1f GiB)\n", info.name, info.cc_major, info.cc_minor,
           info.sm_count, (double)info.total_mem / (1024.0 * 1024 * 1024));
    if (cuda_ctx_create(0, &g_ctx, g_err, sizeof g_err)) {
        fprintf(stderr, "FATAL: %s\n", g_err);
        return 1;
    }
    kernels_select(KERNEL_PORTABLE); /* the plain-C path; every SIMD path equals it (test_matmul) */
    struct {
        const char *name;
        void (*fn)(void);
    } tests[] = {
        {"sum8/dot8 (A1)", test_sum8_dot8},
        {"activation quantisation (A3)", test_quantize},
        {"grouped expert product (A5/A8)", test_grouped_matmul},
        {"norms, softmax, gelu, rope, embedding (A6)", test_elementwise},
        {"attention (A7)", test_attention},
        {"moe routing and combination (A8)", test_moe},
        {"self-conditioning product (A9)", test_sc_product},
        {"philox (A10)", test_philox},
    };
    for (size_t i = 0; i < sizeof tests / sizeof *tests; i++) {
        int before = g_fail;
        tests[i].fn();
        printf("%-48s %s\n", tests[i].name, g_fail == before ? "ok" : "FAILED");
    }
    int before = g_fail;
    test_matmul(big);
    printf("%-48s %s\n", "block-int8 product dp4a + mma (A5)", g_fail == before ? "ok" : "FAILED");
    before = g_fail;
    test_logits_hash(big);
    printf("%-48s %s\n", "logits hash tree (A9)", g_fail == before ? "ok" : "FAILED");
    before = g_fail;
    test_sampler(big);
    printf("%-48s %s\n", "sampler (A9, A10)", g_fail == before ? "ok" : "FAILED");
    cuda_ctx_destroy(g_ctx);
    printf("%d checks, %d failed\n", g_checks, g_fail);
    return g_fail ? 1 : 0;
}
