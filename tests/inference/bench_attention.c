/*
 * bench_attention: the CPU cost of one decoder attention item (A7) on one thread, kernel by
 * kernel: the scores of a few queries against a packed key list (vm_dot8_packed), their
 * softmax (vm_softmax, one row per query) and the weighted sums over the packed values
 * (vm_wsum_packed), plus packing one list (vm_keys_put + vm_values_put). The defaults are an
 * item of the bench model's sliding layers (d 128, 256 canvas + 64 prompt keys, 8 queries);
 * --d 256 gives its global layers. A benchmark, not a test (not registered with ctest).
 *
 *   build/tests/inference/bench_attention [--d N] [--keys N] [--queries N] [--reps N]
 *
 * The kernels are the ones kernels_select() picks (SIBYL_KERNEL chooses another path). Each
 * kernel runs --reps times back to back over the same lists (they stay in this core's L2, as
 * in the model while a thread works through one KV head's items); times are the thread's CPU
 * time, best and median of 7 rounds. In the model the same items run slower whenever the
 * machine is shared (docs/performance.md, attn2): compare builds here, then in `sibyl bench`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "inference/vmath.h"

#define ROUNDS 7

static double thread_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int parse_size(const char *s, size_t lo, size_t hi, size_t *out)
{
    char *end;
    unsigned long v = strtoul(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: bench_attention [--d N] [--keys N] [--queries N] [--reps N]\n"
               "  --d N        head dim, a multiple of 16 up to 512 (default 128)\n"
               "  --keys N     list length (default 320: 256 canvas + 64 prompt keys)\n"
               "  --queries N  queries per item, 1..64 (default 8)\n"
               "  --reps N     items per timed round (default 2000)\n");
}

/* Deterministic values in [-0.5, 0.5): the kernels' speed does not depend on them. */
static float value(size_t a, size_t b)
{
    return (float)((a * 7 + b * 3) % 17) / 17.0f - 0.5f;
}

int main(int argc, char **argv)
{
    size_t d = 128, n = 320, nq = 8, reps = 2000;
    for (int i = 1; i < argc; i++) {
        size_t *dst = NULL, lo = 1, hi = 1000000;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--d")) {
            dst = &d, lo = 16, hi = 512;
        } else if (!strcmp(argv[i], "--keys")) {
            dst = &n, hi = 65536;
        } else if (!strcmp(argv[i], "--queries")) {
            dst = &nq, hi = 64;
        } else if (!strcmp(argv[i], "--reps")) {
            dst = &reps;
        }
        if (!dst || i + 1 >= argc || parse_size(argv[i + 1], lo, hi, dst)) {
            fprintf(stderr, "bench_attention: bad or missing value for '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
        i++;
    }
    if (d % 16) {
        fprintf(stderr, "bench_attention: --d must be a multiple of 16 (got %zu)\n", d);
        return 2;
    }
    size_t room = n + 8;
    float *keys = calloc(vm_keys_packed_len(room, d), sizeof(float));
    float *vals = calloc(room * d, sizeof(float));
    float *rows = malloc(n * d * sizeof(float));
    float *sc = malloc(nq * room * sizeof(float));
    float *qbuf = malloc(nq * d * sizeof(float)), *obuf = malloc(nq * d * sizeof(float));
    const float **q = malloc(nq * sizeof *q);
    float **o = malloc(nq * sizeof *o);
    if (!keys || !vals || !rows || !sc || !qbuf || !obuf || !q || !o) {
        fprintf(stderr, "bench_attention: out of memory\n");
        return 1;
    }
    for (size_t j = 0; j < n; j++)
        for (size_t i = 0; i < d; i++)
            rows[j * d + i] = value(j, i);
    for (size_t u = 0; u < nq; u++) {
        for (size_t i = 0; i < d; i++)
            qbuf[u * d + i] = value(u + 1000, i);
        q[u] = qbuf + u * d;
        o[u] = obuf + u * d;
    }

    /* t[k][r]: kernel k's seconds per item in round r (0 pack, 1 scores, 2 softmax, 3 wsum) */
    double t[4][ROUNDS];
    for (int r = 0; r < ROUNDS; r++) {
        size_t packs = reps / 16 + 1;
        double a = thread_seconds();
        for (size_t k = 0; k < packs; k++)
            for (size_t j = 0; j < n; j++) {
                vm_keys_put(rows + j * d, j, d, keys);
                vm_values_put(rows + j * d, j, n, d, vals);
            }
        double b = thread_seconds();
        for (size_t k = 0; k < reps; k++)
            vm_dot8_packed(q, nq, keys, n, d, sc, room);
        double c = thread_seconds();
        for (size_t k = 0; k < reps; k++)
            for (size_t u = 0; u < nq; u++)
                vm_softmax(sc + u * room, n);
        double e = thread_seconds();
        for (size_t k = 0; k < reps; k++)
            vm_wsum_packed(sc, room, nq, vals, n, d, o);
        double f = thread_seconds();
        t[0][r] = (b - a) / (double)packs;
        t[1][r] = (c - b) / (double)reps;
        t[2][r] = (e - c) / (double)reps;
        t[3][r] = (f - e) / (double)reps;
    }
    double check = 0;
    for (size_t i = 0; i < nq * d; i++)
        check += obuf[i];

    printf("item: %zu queries x %zu keys, d %zu (%.2f MMAC of scores, the same of weighted sums)\n",
           nq, n, d, (double)(nq * n * d) / 1e6);
    static const char *const names[4] = {"pack list", "scores", "softmax", "weighted sums"};
    for (int k = 0; k < 4; k++) {
        qsort(t[k], ROUNDS, sizeof(double), cmp_double);
        printf("  %-14s best %8.2f us  median %8.2f us", names[k], 1e6 * t[k][0],
               1e6 * t[k][ROUNDS / 2]);
        if (k == 1 || k == 3)
            printf("  (%.0f GMAC/s best)", (double)(nq * n * d) / t[k][0] / 1e9);
        printf("\n");
    }
    printf("output sum %.6g\n", check);
    free(keys), free(vals), free(rows), free(sc), free(qbuf), free(obuf), free(q), free(o);
    return 0;
}
