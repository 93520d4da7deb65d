/*
 * Canonical sums (A1) and the block-int8 matrix product (A5): the portable C path, the
 * run-time choice between it and the SIMD paths, and the parallel split over outputs.
 *
 * Every path computes each output y[t][n] with exactly the A5 sequence
 *     acc = +0; for b in order: acc = acc + (float)isum_b * (wd_b * ad_b)
 * in one thread, so the paths, the thread count and the tiling cannot change a bit.
 */
#include "inference/matmul.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "inference/matmul_internal.h"

/* ---- path selection ------------------------------------------------------------------ */

/* The process-wide choice (matmul.h). Atomic because sum8/dot8 may read (and lazily resolve)
 * it from worker threads while nothing else writes it. */
static _Atomic kernel_path g_selected = KERNEL_AUTO;

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
    return cpu_has_avx2() && __builtin_cpu_supports("avx512f") &&
           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx512vnni");
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
    kernel_path p = atomic_load_explicit(&g_selected, memory_order_relaxed);
    if (p == KERNEL_AUTO) {
        p = best_path();
        atomic_store_explicit(&g_selected, p, memory_order_relaxed);
    }
    return p;
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

/* Builds the token-interleaved copy of A described in matmul_internal.h, in ws when given
 * (grown as needed) or in a new buffer returned in *mem (the caller frees it). */
static int pack_activations(mm_job *job, mm_workspace *ws, void **mem)
{
    const q8_act *A = job->A;
    const int nb = job->nb, K = A->cols;
    const size_t groups = ((size_t)A->rows + MM_TGROUP - 1) / MM_TGROUP;
    const size_t nblk = groups * (size_t)nb; /* (group, block) pairs */
    const size_t qbytes = nblk * MM_TGROUP * QK;
    const size_t sbytes = nblk * MM_TGROUP * sizeof(float);
    const size_t need = qbytes + 2 * sbytes;
    uint8_t *m;
    *mem = NULL;
    if (ws) {
        if (ws->size < need) {
            void *grown = aligned_alloc(64, (need + 63) & ~(size_t)63);
            if (!grown)
                return -1;
            free(ws->mem);
            ws->mem = grown;
            ws->size = need;
        }
        m = ws->mem;
    } else {
        m = aligned_alloc(64, (need + 63) & ~(size_t)63);
        if (!m)
            return -1;
        *mem = m;
    }
    int8_t *apack = (int8_t *)m;
    float *adp = (float *)(m + qbytes);
    int32_t *asn = (int32_t *)(m + qbytes + sbytes);
    const size_t gstride = (size_t)nb * MM_TGROUP; /* (block, token) slots per group */
    for (size_t t = 0; t < groups * MM_TGROUP; t++) {
        const size_t G = t / MM_TGROUP, j = t % MM_TGROUP;
        const size_t o = G * gstride + j; /* slot of block 0 */
        if (t < (size_t)A->rows) {
            mm_pack_row_avx2(A->q + t * (size_t)K, nb, apack + o * QK, asn + o);
            for (int b = 0; b < nb; b++)
                adp[o + (size_t)b * MM_TGROUP] = A->d[t * (size_t)nb + (size_t)b];
        } else {
            for (int b = 0; b < nb; b++) {
                memset(apack + (o + (size_t)b * MM_TGROUP) * QK, 0, QK);
                adp[o + (size_t)b * MM_TGROUP] = 0.0f;
                asn[o + (size_t)b * MM_TGROUP] = 0;
            }
        }
    }
    job->apack = apack;
    job->adp = adp;
    job->asn = asn;
    return 0;
}

void mm_workspace_free(mm_workspace *ws)
{
    if (!ws)
        return;
    free(ws->mem);
    ws->mem = NULL;
    ws->size = 0;
}

int q8_matmul(const q8_weight *W, const q8_act *A, float *y, int ldy, threadpool *tp)
{
    return q8_matmul_ws(W, A, y, ldy, tp, NULL);
}

int q8_matmul_ws(const q8_weight *W, const q8_act *A, float *y, int ldy, threadpool *tp,
                 mm_workspace *ws)
{
    if (!W || !A || !y || W->cols != A->cols || W->cols % QK != 0 || ldy < W->rows || W->rows < 0 ||
        A->rows < 0)
        return -1;
    if (W->rows == 0 || A->rows == 0)
        return 0;
    mm_job job = {.W = W, .A = A, .y = y, .ldy = ldy, .nb = W->cols / QK};
    struct mm_task task = {.job = &job, .fn = q8_matmul_rows_portable};
    int grain = 16;
    void *packed = NULL;
#ifdef SIBYL_HAVE_X86_KERNELS
    kernel_path path = kernels_selected();
    if (path == KERNEL_AVX2 || path == KERNEL_AVX512VNNI) {
        if (pack_activations(&job, ws, &packed) != 0)
            return -1;
        task.fn = path == KERNEL_AVX2 ? q8_matmul_rows_avx2 : q8_matmul_rows_avx512vnni;
        /* chunks of a few panels: each chunk allocates its kernel's scratch once */
        grain = path == KERNEL_AVX2 ? 4 * MM_AVX2_PANEL : 2 * MM_AVX512_PANEL;
        if (path == KERNEL_AVX512VNNI) {
            /* Longer ranges: the kernel prefetches each next panel's weights while it works
             * on the current one, so a range's first panel is the only one that waits on
             * memory. About two ranges per thread keep some balance on a busy machine. */
            const int nt = tp ? tp_threads(tp) : 1;
            const int per = (W->rows + 2 * nt - 1) / (2 * nt);
            const int panels = (per + MM_AVX512_PANEL - 1) / MM_AVX512_PANEL;
            if (panels * MM_AVX512_PANEL > grain)
                grain = panels * MM_AVX512_PANEL;
        }
    }
#endif
    tp_parallel_for_dynamic(tp, W->rows, grain, mm_range, &task);
    free(packed);
    return 0;
}
