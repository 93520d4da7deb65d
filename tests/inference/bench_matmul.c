/*
 * bench_matmul: int8 multiply-add peak of this machine and q8_matmul throughput.
 * A benchmark, not a test (not registered with ctest; timings on a shared machine are noisy,
 * so every figure is measured several times and reported as best and median).
 *
 *   build/tests/inference/bench_matmul [--reps N] [--threads N] [--T N] [--N N] [--K N]...
 *                                      [--peak-iters N] [--no-peak] [--cpu-time]
 * --cpu-time: one thread, timed by its own CPU time (CLOCK_THREAD_CPUTIME_ID), which on a
 * shared, overloaded machine measures the core's rate while the thread actually runs.
 *
 * (a) peak: a tight loop of independent multiply-adds on registers (no memory traffic),
 *     counted in int8 MACs per second, on 1 thread and on `threads` threads at once:
 *       vnni512   vpdpbusd zmm  (64 MACs per instruction), operands in registers
 *       vnni512-l1 the same with operands loaded/broadcast from L1 as the kernel does
 *       vnni256   vpdpbusd ymm  (AVX512-VL encoding, 32 MACs)
 *       avx2      vpmaddubsw + vpmaddwd + vpaddd on ymm (32 MACs per vpmaddubsw)
 *       avx2-l1   the AVX2 kernel's step (broadcast, vpsignb, vpmaddubsw, vpmaddwd, vpaddd)
 *                 with operands from L1
 * (b) q8_matmul GMAC/s (T*N*K / time) on each kernel path for a ~300M-parameter-model shape,
 *     and as a percentage of the matching peak with the same thread count.
 * (c) with more than one thread: the cost of one empty tp_parallel_for (dispatch + join).
 */
#include <immintrin.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "inference/matmul.h"

/* Wall clock, or with --cpu-time the calling thread's CPU time: on a shared, overloaded
 * machine the latter counts only the time the thread actually ran (used for 1-thread rates). */
static clockid_t g_clock = CLOCK_MONOTONIC;

static double now(void)
{
    struct timespec ts;
    clock_gettime(g_clock, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* ---- (a) peak loops: 12 independent accumulators, results folded so nothing is dead ---- */

#define PEAK_ITERS 20000000L

__attribute__((target("avx512f,avx512bw,avx512vnni"), noinline)) static uint64_t
peak_vnni512(long iters, int seed)
{
    __m512i a = _mm512_set1_epi32(0x01020304 + seed), b = _mm512_set1_epi32(0x05060708);
    /* Distinct start values: with equal ones the twelve chains compute equal values and the
     * compiler merges them into ONE dependent vpdpbusd per iteration (gcc 12 does), which
     * measures the instruction's latency times 12 instead of its throughput. */
    __m512i c0 = _mm512_set1_epi32(0), c1 = _mm512_set1_epi32(1), c2 = _mm512_set1_epi32(2),
            c3 = _mm512_set1_epi32(3), c4 = _mm512_set1_epi32(4), c5 = _mm512_set1_epi32(5),
            c6 = _mm512_set1_epi32(6), c7 = _mm512_set1_epi32(7), c8 = _mm512_set1_epi32(8),
            c9 = _mm512_set1_epi32(9), c10 = _mm512_set1_epi32(10), c11 = _mm512_set1_epi32(11);
    for (long i = 0; i < iters; i++) {
        c0 = _mm512_dpbusd_epi32(c0, a, b);
        c1 = _mm512_dpbusd_epi32(c1, a, b);
        c2 = _mm512_dpbusd_epi32(c2, a, b);
        c3 = _mm512_dpbusd_epi32(c3, a, b);
        c4 = _mm512_dpbusd_epi32(c4, a, b);
        c5 = _mm512_dpbusd_epi32(c5, a, b);
        c6 = _mm512_dpbusd_epi32(c6, a, b);
        c7 = _mm512_dpbusd_epi32(c7, a, b);
        c8 = _mm512_dpbusd_epi32(c8, a, b);
        c9 = _mm512_dpbusd_epi32(c9, a, b);
        c10 = _mm512_dpbusd_epi32(c10, a, b);
        c11 = _mm512_dpbusd_epi32(c11, a, b);
        __asm__ volatile("" : "+v"(a), "+v"(b));
    }
    __m512i s = _mm512_add_epi32(_mm512_add_epi32(_mm512_add_epi32(c0, c1), c2),
                                 _mm512_add_epi32(_mm512_add_epi32(c3, c4), c5));
    s = _mm512_add_epi32(s, _mm512_add_epi32(_mm512_add_epi32(c6, c7), c8));
    s = _mm512_add_epi32(s, _mm512_add_epi32(_mm512_add_epi32(c9, c10), c11));
    return (uint64_t)_mm512_reduce_add_epi32(s);
}

/* Like vnni512, but fed from memory the way a matmul kernel is: per step three weight vectors
 * are loaded and four activation dwords broadcast from an L1-resident buffer (the register
 * tile of matmul_avx512.c), then 12 independent vpdpbusd. Shows what the core sustains when
 * the operands change every step, not only when they sit in registers. */
#define L1BUF_BYTES 4096
static _Alignas(64) int8_t l1buf[L1BUF_BYTES];

__attribute__((target("avx512f,avx512bw,avx512vnni"), noinline)) static uint64_t
peak_vnni512_l1(long iters, int seed)
{
    l1buf[seed & 63] = (int8_t)seed;
    __m512i c0 = _mm512_setzero_si512(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0,
            c7 = c0, c8 = c0, c9 = c0, c10 = c0, c11 = c0;
    for (long i = 0; i < iters; i++) {
        const int8_t *w = l1buf + (i & 7) * 192, *a = l1buf + 2048 + (i & 7) * 128;
        const __m512i w0 = _mm512_load_si512(w), w1 = _mm512_load_si512(w + 64),
                      w2 = _mm512_load_si512(w + 128);
        __m512i b0, b1, b2, b3;
        __asm__("vpbroadcastd %1, %0" : "=v"(b0) : "m"(*(const int32_t *)(a + 0)));
        __asm__("vpbroadcastd %1, %0" : "=v"(b1) : "m"(*(const int32_t *)(a + 32)));
        __asm__("vpbroadcastd %1, %0" : "=v"(b2) : "m"(*(const int32_t *)(a + 64)));
        __asm__("vpbroadcastd %1, %0" : "=v"(b3) : "m"(*(const int32_t *)(a + 96)));
        c0 = _mm512_dpbusd_epi32(c0, w0, b0);
        c1 = _mm512_dpbusd_epi32(c1, w1, b0);
        c2 = _mm512_dpbusd_epi32(c2, w2, b0);
        c3 = _mm512_dpbusd_epi32(c3, w0, b1);
        c4 = _mm512_dpbusd_epi32(c4, w1, b1);
        c5 = _mm512_dpbusd_epi32(c5, w2, b1);
        c6 = _mm512_dpbusd_epi32(c6, w0, b2);
        c7 = _mm512_dpbusd_epi32(c7, w1, b2);
        c8 = _mm512_dpbusd_epi32(c8, w2, b2);
        c9 = _mm512_dpbusd_epi32(c9, w0, b3);
        c10 = _mm512_dpbusd_epi32(c10, w1, b3);
        c11 = _mm512_dpbusd_epi32(c11, w2, b3);
    }
    __m512i s = _mm512_add_epi32(_mm512_add_epi32(_mm512_add_epi32(c0, c1), c2),
                                 _mm512_add_epi32(_mm512_add_epi32(c3, c4), c5));
    s = _mm512_add_epi32(s, _mm512_add_epi32(_mm512_add_epi32(c6, c7), c8));
    s = _mm512_add_epi32(s, _mm512_add_epi32(_mm512_add_epi32(c9, c10), c11));
    return (uint64_t)_mm512_reduce_add_epi32(s);
}

__attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni"), noinline)) static uint64_t
peak_vnni256(long iters, int seed)
{
    __m256i a = _mm256_set1_epi32(0x01020304 + seed), b = _mm256_set1_epi32(0x05060708);
    /* distinct start values, as in peak_vnni512 */
    __m256i c0 = _mm256_set1_epi32(0), c1 = _mm256_set1_epi32(1), c2 = _mm256_set1_epi32(2),
            c3 = _mm256_set1_epi32(3), c4 = _mm256_set1_epi32(4), c5 = _mm256_set1_epi32(5),
            c6 = _mm256_set1_epi32(6), c7 = _mm256_set1_epi32(7), c8 = _mm256_set1_epi32(8),
            c9 = _mm256_set1_epi32(9), c10 = _mm256_set1_epi32(10), c11 = _mm256_set1_epi32(11);
    for (long i = 0; i < iters; i++) {
        c0 = _mm256_dpbusd_epi32(c0, a, b);
        c1 = _mm256_dpbusd_epi32(c1, a, b);
        c2 = _mm256_dpbusd_epi32(c2, a, b);
        c3 = _mm256_dpbusd_epi32(c3, a, b);
        c4 = _mm256_dpbusd_epi32(c4, a, b);
        c5 = _mm256_dpbusd_epi32(c5, a, b);
        c6 = _mm256_dpbusd_epi32(c6, a, b);
        c7 = _mm256_dpbusd_epi32(c7, a, b);
        c8 = _mm256_dpbusd_epi32(c8, a, b);
        c9 = _mm256_dpbusd_epi32(c9, a, b);
        c10 = _mm256_dpbusd_epi32(c10, a, b);
        c11 = _mm256_dpbusd_epi32(c11, a, b);
        __asm__ volatile("" : "+v"(a), "+v"(b));
    }
    __m256i s = _mm256_add_epi32(_mm256_add_epi32(_mm256_add_epi32(c0, c1), c2),
                                 _mm256_add_epi32(_mm256_add_epi32(c3, c4), c5));
    s = _mm256_add_epi32(s, _mm256_add_epi32(_mm256_add_epi32(c6, c7), c8));
    s = _mm256_add_epi32(s, _mm256_add_epi32(_mm256_add_epi32(c9, c10), c11));
    uint32_t v[8];
    memcpy(v, &s, sizeof v);
    return (uint64_t)v[0] + v[7];
}

__attribute__((target("avx2"), noinline)) static uint64_t peak_avx2(long iters, int seed)
{
    __m256i a = _mm256_set1_epi32(0x01020304 + seed);
    /* A different second operand per chain: the multiplies do not depend on the accumulator,
     * so with one shared (a, b) the compiler computes the product once per iteration and
     * only the six vpaddd remain. */
    __m256i b0 = _mm256_set1_epi32(0x05060708), b1 = _mm256_set1_epi32(0x05060709),
            b2 = _mm256_set1_epi32(0x0506070a), b3 = _mm256_set1_epi32(0x0506070b),
            b4 = _mm256_set1_epi32(0x0506070c), b5 = _mm256_set1_epi32(0x0506070d);
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i c0 = _mm256_setzero_si256(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0;
#define AVX2_STEP(c, b) c = _mm256_add_epi32(c, _mm256_madd_epi16(_mm256_maddubs_epi16(a, b), ones))
    for (long i = 0; i < iters; i++) {
        AVX2_STEP(c0, b0);
        AVX2_STEP(c1, b1);
        AVX2_STEP(c2, b2);
        AVX2_STEP(c3, b3);
        AVX2_STEP(c4, b4);
        AVX2_STEP(c5, b5);
        __asm__ volatile("" : "+x"(a));
    }
    __m256i s = _mm256_add_epi32(_mm256_add_epi32(_mm256_add_epi32(c0, c1), c2),
                                 _mm256_add_epi32(_mm256_add_epi32(c3, c4), c5));
    uint32_t v[8];
    memcpy(v, &s, sizeof v);
    return (uint64_t)v[0] + v[7];
}

/* The AVX2 kernel's step fed from L1: per step |w| and w loaded, then for 4 tokens a broadcast
 * activation dword, vpsignb, vpmaddubsw, vpmaddwd, vpaddd (32 MACs each). */
__attribute__((target("avx2"), noinline)) static uint64_t peak_avx2_l1(long iters, int seed)
{
    l1buf[seed & 63] = (int8_t)seed;
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i c0 = _mm256_setzero_si256(), c1 = c0, c2 = c0, c3 = c0;
#define AVX2_L1_STEP(c, off)                                                                       \
    {                                                                                              \
        __m256i b;                                                                                 \
        __asm__("vpbroadcastd %1, %0" : "=x"(b) : "m"(*(const int32_t *)(a + (off))));             \
        c = _mm256_add_epi32(                                                                      \
            c, _mm256_madd_epi16(_mm256_maddubs_epi16(wa, _mm256_sign_epi8(b, ws)), ones));        \
        __asm__("" : "+x"(c));                                                                     \
    }
    for (long i = 0; i < iters; i++) {
        const int8_t *w = l1buf + (i & 7) * 64, *a = l1buf + 2048 + (i & 7) * 128;
        const __m256i wa = _mm256_load_si256((const __m256i *)w);
        const __m256i ws = _mm256_load_si256((const __m256i *)(w + 32));
        AVX2_L1_STEP(c0, 0)
        AVX2_L1_STEP(c1, 32)
        AVX2_L1_STEP(c2, 64)
        AVX2_L1_STEP(c3, 96)
    }
    __m256i s = _mm256_add_epi32(_mm256_add_epi32(c0, c1), _mm256_add_epi32(c2, c3));
    uint32_t v[8];
    memcpy(v, &s, sizeof v);
    return (uint64_t)v[0] + v[7];
}

struct peak_kind {
    const char *name;
    uint64_t (*fn)(long, int);
    double macs_per_iter;
    int (*supported)(void);
};

static int has_vnni512(void)
{
    return __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512vl");
}
static int has_avx2(void)
{
    return __builtin_cpu_supports("avx2");
}

static const struct peak_kind peaks[] = {
    {"vnni512", peak_vnni512, 12 * 64, has_vnni512},
    {"vnni512-l1", peak_vnni512_l1, 12 * 64, has_vnni512},
    {"vnni256", peak_vnni256, 12 * 32, has_vnni512},
    {"avx2", peak_avx2, 6 * 32, has_avx2},
    {"avx2-l1", peak_avx2_l1, 4 * 32, has_avx2},
};

struct peak_thread {
    const struct peak_kind *k;
    long iters;
    double secs;
    uint64_t sink;
};

static void *peak_thread_main(void *p)
{
    struct peak_thread *pt = p;
    double t0 = now();
    pt->sink = pt->k->fn(pt->iters, (int)(uintptr_t)p & 7);
    pt->secs = now() - t0;
    return NULL;
}

/* GMAC/s of `nt` threads running the loop at the same time (sum of per-thread rates). */
static double peak_run(const struct peak_kind *k, int nt, long iters)
{
    struct peak_thread pt[64];
    pthread_t th[64];
    for (int i = 0; i < nt; i++) {
        pt[i] = (struct peak_thread){.k = k, .iters = iters};
        pthread_create(&th[i], NULL, peak_thread_main, &pt[i]);
    }
    double rate = 0;
    uint64_t sink = 0;
    for (int i = 0; i < nt; i++) {
        pthread_join(th[i], NULL);
        rate += (double)iters * k->macs_per_iter / pt[i].secs;
        sink ^= pt[i].sink;
    }
    if (sink == 0x5eed)
        printf(" ");
    return rate * 1e-9;
}

/* ---- (c) thread pool dispatch ------------------------------------------------------------ */

static void empty_range(void *arg, int begin, int end, int worker)
{
    (void)begin;
    (void)end;
    (void)worker;
    __asm__ volatile("" ::"r"(arg) : "memory");
}

/* Microseconds per tp_parallel_for of an empty body over `threads` workers. */
static double bench_dispatch(threadpool *tp, int reps, double *median)
{
    double *r = malloc((size_t)reps * sizeof *r);
    for (int i = 0; i < reps; i++) {
        const int n = 2000;
        double t0 = now();
        for (int k = 0; k < n; k++)
            tp_parallel_for(tp, 64, 1, empty_range, NULL);
        r[i] = (now() - t0) / n * 1e6;
    }
    qsort(r, (size_t)reps, sizeof *r, cmp_double);
    double best = r[0];
    *median = r[reps / 2];
    free(r);
    return best;
}

/* ---- (b) q8_matmul ------------------------------------------------------------------------ */

static double bench_matmul(int T, int N, int K, threadpool *tp, int reps, double *median)
{
    int nb = K / QK;
    block_q8_0 *w = malloc((size_t)N * nb * sizeof *w);
    for (size_t i = 0; i < (size_t)N * nb; i++) {
        w[i].d = (uint16_t)(0x2000 + i % 1000);
        for (int j = 0; j < QK; j++)
            w[i].q[j] = (int8_t)((i * 31 + (size_t)j * 17) % 255 - 127);
    }
    q8_weight W = {.blocks = w, .rows = N, .cols = K};
    float *x = malloc((size_t)T * K * sizeof *x);
    for (size_t i = 0; i < (size_t)T * K; i++)
        x[i] = (float)((i * 7919) % 2001) * 0.001f - 1.0f;
    q8_act A;
    q8_act_alloc(&A, T, K);
    q8_quantize_rows(x, T, K, &A);
    float *y = malloc((size_t)T * N * sizeof *y);
    q8_matmul(&W, &A, y, N, tp); /* warm-up */
    double *rates = malloc((size_t)reps * sizeof *rates);
    for (int r = 0; r < reps; r++) {
        double t0 = now();
        q8_matmul(&W, &A, y, N, tp);
        double dt = now() - t0;
        rates[r] = (double)T * N * K / dt * 1e-9;
    }
    qsort(rates, (size_t)reps, sizeof *rates, cmp_double);
    double best = rates[reps - 1];
    *median = rates[reps / 2];
    free(rates);
    free(y);
    free(x);
    free(w);
    q8_act_free(&A);
    return best;
}

int main(int argc, char **argv)
{
    int reps = 7, threads = 2, T = 256, N = 4096;
    int Ks[8] = {1024, 2048}, nK = 2, k_given = 0;
    long iters = PEAK_ITERS;
    int skip_peak = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--T") && i + 1 < argc)
            T = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--N") && i + 1 < argc)
            N = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--K") && i + 1 < argc) {
            if (!k_given)
                nK = 0;
            k_given = 1;
            if (nK < 8)
                Ks[nK++] = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--peak-iters") && i + 1 < argc)
            iters = atol(argv[++i]);
        else if (!strcmp(argv[i], "--no-peak"))
            skip_peak = 1;
        else if (!strcmp(argv[i], "--cpu-time"))
            g_clock = CLOCK_THREAD_CPUTIME_ID;
        else {
            fprintf(stderr,
                    "usage: %s [--reps N] [--threads N] [--T N] [--N N] [--K N]... "
                    "[--peak-iters N] [--no-peak] [--cpu-time]\n",
                    argv[0]);
            return 2;
        }
    }
    if (g_clock == CLOCK_THREAD_CPUTIME_ID)
        threads = 1; /* thread CPU time is only meaningful for one thread */
    if (reps < 1 || threads < 1 || threads > 64 || T < 1 || N < 1) {
        fprintf(stderr, "bench_matmul: bad argument\n");
        return 2;
    }
    for (int i = 0; i < nK; i++)
        if (Ks[i] < QK || Ks[i] % QK) {
            fprintf(stderr, "bench_matmul: K must be a positive multiple of %d\n", QK);
            return 2;
        }

    double peak_nt[5] = {0, 0, 0, 0, 0};
    if (!skip_peak) {
        printf("(a) int8 MAC peak, GMAC/s (best / median of %d)\n", reps);
        for (size_t k = 0; k < sizeof peaks / sizeof peaks[0]; k++) {
            if (!peaks[k].supported()) {
                printf("  %-10s not supported\n", peaks[k].name);
                continue;
            }
            for (int nt = 1; nt <= threads; nt = nt == threads ? nt + 1 : threads) {
                double r[64];
                for (int i = 0; i < reps && i < 64; i++)
                    r[i] = peak_run(&peaks[k], nt, iters);
                int n = reps < 64 ? reps : 64;
                qsort(r, (size_t)n, sizeof r[0], cmp_double);
                printf("  %-10s %d thread%s %8.1f / %8.1f\n", peaks[k].name, nt, nt > 1 ? "s" : " ",
                       r[n - 1], r[n / 2]);
                if (nt == threads)
                    peak_nt[k] = r[n - 1];
            }
        }
    }

    char err[128];
    threadpool *tp = tp_create(threads, err, sizeof err);
    if (!tp) {
        fprintf(stderr, "bench_matmul: %s\n", err);
        return 1;
    }
    printf("(b) q8_matmul, %d threads, GMAC/s = T*N*K/time (best / median of %d)\n", threads, reps);
    const kernel_path paths[] = {KERNEL_PORTABLE, KERNEL_AVX2, KERNEL_AVX512VNNI};
    for (int ki = 0; ki < nK; ki++) {
        for (size_t p = 0; p < 3; p++) {
            if (kernels_select(paths[p]) != 0)
                continue;
            double med,
                best = bench_matmul(T, N, Ks[ki], tp, paths[p] == KERNEL_PORTABLE ? 2 : reps, &med);
            double pk = paths[p] == KERNEL_AVX512VNNI ? peak_nt[0]
                        : paths[p] == KERNEL_AVX2     ? peak_nt[3]
                                                      : 0;
            printf("  T=%d N=%d K=%-5d %-10s %8.1f / %8.1f", T, N, Ks[ki],
                   kernel_path_name(paths[p]), best, med);
            if (pk > 0)
                printf("   %5.1f%% / %5.1f%% of %s peak", 100 * best / pk, 100 * med / pk,
                       paths[p] == KERNEL_AVX512VNNI ? "vnni512" : "avx2");
            const double pl1 = paths[p] == KERNEL_AVX512VNNI ? peak_nt[1]
                               : paths[p] == KERNEL_AVX2     ? peak_nt[4]
                                                             : 0;
            if (pl1 > 0)
                printf(", %5.1f%% / %5.1f%% of %s", 100 * best / pl1, 100 * med / pl1,
                       paths[p] == KERNEL_AVX512VNNI ? "vnni512-l1" : "avx2-l1");
            printf("\n");
        }
    }
    if (threads > 1 && g_clock == CLOCK_MONOTONIC) {
        double med, best = bench_dispatch(tp, reps, &med);
        printf("(c) thread pool: empty tp_parallel_for over %d threads: %.2f / %.2f us (best / "
               "median)\n",
               threads, best, med);
    }
    tp_destroy(tp);
    return 0;
}
