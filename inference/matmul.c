/*
 * Canonical sums (A1) and the block-int8 matrix product (A5): the portable C path, the
 * run-time choice between it and the SIMD paths, and the parallel split over outputs.
 *
 * Every path computes each output y[t][n] with exactly the A5 sequence
 *     acc = +0; for b in order: acc = acc + (float)isum_b * (wd_b * ad_b)
 * in one thread, so the paths, the thread count and the tiling cannot change a bit.
 */
#include "inference/matmul.h"

#include <stdlib.h>
#include <string.h>

#include "inference/matmul_internal.h"

/* ---- path selection ------------------------------------------------------------------ */

static kernel_path g_selected = KERNEL_AUTO; /* the process-wide choice (matmul.h) */

static int cpu_has_avx2(void)
{
#ifdef SIBYL_HAVE_X86_KERNELS
    return __builtin_cpu_supports("avx2");
#else
    return 0;
#endif
}

static int cpu_has_avx512vnni(void)
{
#ifdef SIBYL_HAVE_X86_KERNELS
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
#else
    return 0;
#endif
}

static kernel_path best_path(void)
{
    if (cpu_has_avx512vnni())
        return KERNEL_AVX512VNNI;
    if (cpu_has_avx2())
        return KERNEL_AVX2;
    return KERNEL_PORTABLE;
}

int kernels_select(kernel_path path)
{
    switch (path) {
    case KERNEL_AUTO:
        g_selected = best_path();
        return 0;
    case KERNEL_PORTABLE:
        g_selected = path;
        return 0;
    case KERNEL_AVX2:
        if (!cpu_has_avx2())
            return -1;
        g_selected = path;
        return 0;
    case KERNEL_AVX512VNNI:
        if (!cpu_has_avx512vnni())
            return -1;
        g_selected = path;
        return 0;
    }
    return -1;
}

kernel_path kernels_selected(void)
{
    if (g_selected == KERNEL_AUTO)
        g_selected = best_path();
    return g_selected;
}

const char *kernel_path_name(kernel_path path)
{
    switch (path) {
    case KERNEL_AUTO:
        return "auto";
    case KERNEL_PORTABLE:
        return "portable";
    case KERNEL_AVX2:
        return "avx2";
    case KERNEL_AVX512VNNI:
        return "avx512vnni";
    }
    return "unknown";
}

/* ---- A1 ------------------------------------------------------------------------------ */

/* The A1 combine of eight lane sums: (l, l+4), then (0,2), (1,3), then the two halves. */
static float combine8(const float acc[8])
{
    float a0 = acc[0] + acc[4], a1 = acc[1] + acc[5];
    float a2 = acc[2] + acc[6], a3 = acc[3] + acc[7];
    float b0 = a0 + a2, b1 = a1 + a3;
    return b0 + b1;
}

static float sum8_portable(const float *x, size_t n)
{
    float acc[8] = {0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++)
            acc[l] = acc[l] + x[i + l];
    for (int l = 0; i + (size_t)l < n; l++)
        acc[l] = acc[l] + x[i + l];
    return combine8(acc);
}

static float dot8_portable(const float *x, const float *y, size_t n)
{
    float acc[8] = {0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++) {
            float p = x[i + l] * y[i + l];
            acc[l] = acc[l] + p;
        }
    for (int l = 0; i + (size_t)l < n; l++) {
        float p = x[i + l] * y[i + l];
        acc[l] = acc[l] + p;
    }
    return combine8(acc);
}

float sum8(const float *x, size_t n)
{
#ifdef SIBYL_HAVE_X86_KERNELS
    if (kernels_selected() != KERNEL_PORTABLE)
        return sum8_avx2(x, n);
#endif
    return sum8_portable(x, n);
}

float dot8(const float *x, const float *y, size_t n)
{
#ifdef SIBYL_HAVE_X86_KERNELS
    if (kernels_selected() != KERNEL_PORTABLE)
        return dot8_avx2(x, y, n);
#endif
    return dot8_portable(x, y, n);
}

/* ---- A5, portable ---------------------------------------------------------------------- */

static int32_t block_isum(const int8_t *a, const int8_t *w)
{
    int32_t s = 0;
    for (int i = 0; i < QK; i++)
        s += (int32_t)a[i] * (int32_t)w[i];
    return s;
}

/* Tokens in tiles of 4 so each weight block (and its f16 scale) is read once per tile. */
void q8_matmul_rows_portable(const mm_job *job, int n0, int n1)
{
    const q8_act *A = job->A;
    const int nb = job->nb, K = A->cols, T = A->rows;
    for (int n = n0; n < n1; n++) {
        const block_q8_0 *wr = job->W->blocks + (size_t)n * nb;
        for (int t0 = 0; t0 < T; t0 += 4) {
            int tt = T - t0 < 4 ? T - t0 : 4;
            float acc[4] = {0.0f, 0.0f, 0.0f, 0.0f};
            for (int b = 0; b < nb; b++) {
                float wd = fp16_to_f32(wr[b].d);
                for (int j = 0; j < tt; j++) {
                    const int t = t0 + j;
                    int32_t isum = block_isum(A->q + (size_t)t * K + (size_t)b * QK, wr[b].q);
                    float s = wd * A->d[(size_t)t * nb + b];
                    float p = (float)isum * s;
                    acc[j] = acc[j] + p;
                }
            }
            for (int j = 0; j < tt; j++)
                job->y[(size_t)(t0 + j) * job->ldy + n] = acc[j];
        }
    }
}

/* ---- dispatch -------------------------------------------------------------------------- */

typedef void (*rows_fn)(const mm_job *job, int n0, int n1);

struct mm_task {
    const mm_job *job;
    rows_fn fn;
};

static void mm_range(void *arg, int begin, int end, int worker)
{
    (void)worker;
    const struct mm_task *task = arg;
    task->fn(task->job, begin, end);
}

/* Builds the token-interleaved copy of A described in matmul_internal.h. */
static int pack_activations(mm_job *job, void **mem)
{
    const q8_act *A = job->A;
    const int nb = job->nb, K = A->cols;
    const size_t groups = ((size_t)A->rows + MM_TGROUP - 1) / MM_TGROUP;
    const size_t nblk = groups * (size_t)nb; /* (group, block) pairs */
    const size_t qbytes = nblk * MM_TGROUP * QK;
    const size_t sbytes = nblk * MM_TGROUP * sizeof(float);
    uint8_t *m = aligned_alloc(64, qbytes + 2 * sbytes);
    if (!m)
        return -1;
    int8_t *apack = (int8_t *)m;
    float *adp = (float *)(m + qbytes);
    int32_t *asn = (int32_t *)(m + qbytes + sbytes);
    for (size_t G = 0; G < groups; G++)
        for (int b = 0; b < nb; b++)
            for (int j = 0; j < MM_TGROUP; j++) {
                const size_t t = G * MM_TGROUP + (size_t)j;
                const size_t o = (G * (size_t)nb + (size_t)b) * MM_TGROUP + (size_t)j;
                int8_t *dst = apack + o * QK;
                if (t < (size_t)A->rows) {
                    const int8_t *src = A->q + t * (size_t)K + (size_t)b * QK;
                    int32_t s = 0;
                    for (int i = 0; i < QK; i++) {
                        dst[i] = src[i];
                        s += src[i];
                    }
                    adp[o] = A->d[t * (size_t)nb + (size_t)b];
                    asn[o] = -128 * s;
                } else {
                    memset(dst, 0, QK);
                    adp[o] = 0.0f;
                    asn[o] = 0;
                }
            }
    job->apack = apack;
    job->adp = adp;
    job->asn = asn;
    *mem = m;
    return 0;
}

int q8_matmul(const q8_weight *W, const q8_act *A, float *y, int ldy, threadpool *tp)
{
    if (!W || !A || !y || W->cols != A->cols || W->cols % QK != 0 || ldy < W->rows ||
        W->rows < 0 || A->rows < 0)
        return -1;
    if (W->rows == 0 || A->rows == 0)
        return 0;
    mm_job job = {.W = W, .A = A, .y = y, .ldy = ldy, .nb = W->cols / QK};
    struct mm_task task = {.job = &job, .fn = q8_matmul_rows_portable};
    int grain = 4;
    void *packed = NULL;
#ifdef SIBYL_HAVE_X86_KERNELS
    kernel_path path = kernels_selected();
    if (path == KERNEL_AVX2 || path == KERNEL_AVX512VNNI) {
        if (pack_activations(&job, &packed) != 0)
            return -1;
        task.fn = path == KERNEL_AVX2 ? q8_matmul_rows_avx2 : q8_matmul_rows_avx512vnni;
        grain = path == KERNEL_AVX2 ? 8 : 16;
    }
#endif
    tp_parallel_for(tp, W->rows, grain, mm_range, &task);
    free(packed);
    return 0;
}
