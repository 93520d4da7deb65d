/* Device probe, context, memory and timing for the CUDA backend (inference/cuda_backend.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inference/cuda/cuda_common.cuh"

static int fail(char *err, size_t errlen, const char *what, cudaError_t e)
{
    if (err && errlen)
        snprintf(err, errlen, "%s: %s", what, cudaGetErrorString(e));
    return -1;
}

extern "C" int cuda_probe(cuda_device_info *info, char *err, size_t errlen)
{
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
        cudaGetLastError(); /* clear the sticky-free error so later calls start clean */
        if (err && errlen)
            snprintf(err, errlen, "no GPU: %s (%s)", cudaGetErrorString(e), cudaGetErrorName(e));
        return -1;
    }
    if (n <= 0) {
        if (err && errlen)
            snprintf(err, errlen, "no GPU: no CUDA device found");
        return -1;
    }
    if (info) {
        cudaDeviceProp prop;
        memset(info, 0, sizeof *info);
        if ((e = cudaGetDeviceProperties(&prop, 0)) != cudaSuccess)
            return fail(err, errlen, "cudaGetDeviceProperties", e);
        snprintf(info->name, sizeof info->name, "%s", prop.name);
        info->device = 0;
        info->cc_major = prop.major;
        info->cc_minor = prop.minor;
        info->sm_count = prop.multiProcessorCount;
        if ((e = cudaSetDevice(0)) != cudaSuccess)
            return fail(err, errlen, "cudaSetDevice", e);
        if ((e = cudaMemGetInfo(&info->free_mem, &info->total_mem)) != cudaSuccess)
            return fail(err, errlen, "cudaMemGetInfo", e);
        if (prop.major < 8) {
            if (err && errlen)
                snprintf(err, errlen, "GPU %s has compute capability %d.%d; sm_80 or newer needed",
                         prop.name, prop.major, prop.minor);
            return -1;
        }
    }
    return 0;
}

extern "C" int cuda_ctx_create(int device, cuda_ctx **out, char *err, size_t errlen)
{
    cudaError_t e;
    *out = NULL;
    cuda_ctx *c = (cuda_ctx *)calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errlen, "out of host memory");
        return -1;
    }
    c->device = device;
    if ((e = cudaSetDevice(device)) != cudaSuccess) {
        free(c);
        return fail(err, errlen, "cudaSetDevice", e);
    }
    if ((e = cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking)) != cudaSuccess) {
        free(c);
        return fail(err, errlen, "cudaStreamCreate", e);
    }
    if ((e = cudaEventCreate(&c->ev0)) != cudaSuccess ||
        (e = cudaEventCreate(&c->ev1)) != cudaSuccess) {
        cudaStreamDestroy(c->stream);
        free(c);
        return fail(err, errlen, "cudaEventCreate", e);
    }
    *out = c;
    return 0;
}

extern "C" void cuda_ctx_destroy(cuda_ctx *c)
{
    if (!c)
        return;
    cudaStreamSynchronize(c->stream);
    for (int i = 0; i < c->n_created; i++)
        cudaEventDestroy(c->marks[i]);
    free(c->marks);
    free(c->mark_tag);
    cudaEventDestroy(c->ev0);
    cudaEventDestroy(c->ev1);
    cudaStreamDestroy(c->stream);
    free(c);
}

extern "C" int cuda_sync(cuda_ctx *c, char *err, size_t errlen)
{
    cudaError_t e = cudaStreamSynchronize(c->stream);
    if (e == cudaSuccess)
        e = cudaGetLastError();
    return e == cudaSuccess ? 0 : fail(err, errlen, "cuda kernel", e);
}

extern "C" int cuda_alloc(cuda_ctx *c, size_t bytes, void **d_out, char *err, size_t errlen)
{
    (void)c;
    *d_out = NULL;
    cudaError_t e = cudaMalloc(d_out, bytes ? bytes : 1);
    if (e != cudaSuccess) {
        cudaGetLastError();
        if (err && errlen)
            snprintf(err, errlen, "cudaMalloc of %zu bytes: %s", bytes, cudaGetErrorString(e));
        return -1;
    }
    return 0;
}

extern "C" void cuda_free(cuda_ctx *c, void *d_ptr)
{
    (void)c;
    if (d_ptr)
        cudaFree(d_ptr);
}

extern "C" int cuda_upload(cuda_ctx *c, void *d_dst, const void *src, size_t bytes, char *err,
                           size_t errlen)
{
    cudaError_t e = cudaMemcpyAsync(d_dst, src, bytes, cudaMemcpyHostToDevice, c->stream);
    if (e == cudaSuccess)
        e = cudaStreamSynchronize(c->stream);
    return e == cudaSuccess ? 0 : fail(err, errlen, "upload", e);
}

extern "C" int cuda_download(cuda_ctx *c, void *dst, const void *d_src, size_t bytes, char *err,
                             size_t errlen)
{
    cudaError_t e = cudaMemcpyAsync(dst, d_src, bytes, cudaMemcpyDeviceToHost, c->stream);
    if (e == cudaSuccess)
        e = cudaStreamSynchronize(c->stream);
    return e == cudaSuccess ? 0 : fail(err, errlen, "download", e);
}

extern "C" int cuda_memset0(cuda_ctx *c, void *d_dst, size_t bytes, char *err, size_t errlen)
{
    cudaError_t e = cudaMemsetAsync(d_dst, 0, bytes, c->stream);
    return e == cudaSuccess ? 0 : fail(err, errlen, "memset", e);
}

extern "C" int cuda_copy(cuda_ctx *c, void *d_dst, const void *d_src, size_t bytes)
{
    if (!bytes)
        return 0;
    cudaError_t e = cudaMemcpyAsync(d_dst, d_src, bytes, cudaMemcpyDeviceToDevice, c->stream);
    if (e != cudaSuccess) {
        fprintf(stderr, "cuda copy: %s\n", cudaGetErrorString(e));
        return -1;
    }
    return 0;
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

extern "C" int cuda_measure_copy_bw(cuda_ctx *c, size_t bytes, int reps, double *bytes_per_s,
                                    char *err, size_t errlen)
{
    void *a = NULL, *b = NULL;
    float *ms = NULL;
    int rc = -1;
    if (reps < 1)
        reps = 1;
    if (cuda_alloc(c, bytes, &a, err, errlen) || cuda_alloc(c, bytes, &b, err, errlen))
        goto out;
    if (cuda_memset0(c, a, bytes, err, errlen))
        goto out;
    if (!(ms = (float *)calloc((size_t)reps, sizeof *ms)))
        goto out;
    cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice, c->stream); /* warm-up */
    for (int r = 0; r < reps; r++) {
        cudaEventRecord(c->ev0, c->stream);
        cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice, c->stream);
        cudaEventRecord(c->ev1, c->stream);
        if (cudaEventSynchronize(c->ev1) != cudaSuccess) {
            cuda_sync(c, err, errlen);
            goto out;
        }
        cudaEventElapsedTime(&ms[r], c->ev0, c->ev1);
    }
    qsort(ms, (size_t)reps, sizeof *ms, cmp_float);
    *bytes_per_s = 2.0 * (double)bytes / ((double)ms[reps / 2] * 1e-3);
    rc = cuda_sync(c, err, errlen);
out:
    free(ms);
    cuda_free(c, a);
    cuda_free(c, b);
    return rc;
}

extern "C" int cuda_time_ms(cuda_ctx *c, void (*fn)(void *arg), void *arg, float *ms, char *err,
                            size_t errlen)
{
    cudaEventRecord(c->ev0, c->stream);
    fn(arg);
    cudaEventRecord(c->ev1, c->stream);
    cudaError_t e = cudaEventSynchronize(c->ev1);
    if (e != cudaSuccess)
        return fail(err, errlen, "timed work", e);
    cudaEventElapsedTime(ms, c->ev0, c->ev1);
    return cuda_sync(c, err, errlen);
}

extern "C" int cuda_mark(cuda_ctx *c, int tag)
{
    if (!c->marks) {
        c->marks = (cudaEvent_t *)calloc(CUDA_MAX_MARKS, sizeof *c->marks);
        c->mark_tag = (unsigned char *)calloc(CUDA_MAX_MARKS, 1);
        if (!c->marks || !c->mark_tag)
            return -1;
    }
    if (c->n_marks >= CUDA_MAX_MARKS)
        return 0; /* timeline full: later ops go untimed */
    if (c->n_marks == c->n_created) {
        if (cudaEventCreate(&c->marks[c->n_created]) != cudaSuccess)
            return -1;
        c->n_created++;
    }
    c->mark_tag[c->n_marks] = (unsigned char)tag;
    if (cudaEventRecord(c->marks[c->n_marks], c->stream) != cudaSuccess)
        return -1;
    c->n_marks++;
    return 0;
}

extern "C" int cuda_marks_collect(cuda_ctx *c, double *seconds, int ntags)
{
    int n = c->n_marks;
    c->n_marks = 0;
    if (n < 2)
        return 0;
    if (cudaEventSynchronize(c->marks[n - 1]) != cudaSuccess)
        return -1;
    for (int i = 0; i + 1 < n; i++) {
        float ms = 0.0f;
        if (c->mark_tag[i] >= ntags)
            continue;
        if (cudaEventElapsedTime(&ms, c->marks[i], c->marks[i + 1]) != cudaSuccess)
            return -1;
        seconds[c->mark_tag[i]] += 1e-3 * (double)ms;
    }
    return 0;
}

/* ---------------------------------------------------------------- CUDA graphs */

struct cuda_graph {
    cudaGraphExec_t exec;
};

extern "C" int cuda_capture_begin(cuda_ctx *c, char *err, size_t errlen)
{
    cudaError_t e = cudaStreamBeginCapture(c->stream, cudaStreamCaptureModeThreadLocal);
    return e == cudaSuccess ? 0 : fail(err, errlen, "cudaStreamBeginCapture", e);
}

extern "C" int cuda_capture_end(cuda_ctx *c, cuda_graph **g, char *err, size_t errlen)
{
    cudaGraph_t graph = NULL;
    cudaError_t e = cudaStreamEndCapture(c->stream, &graph);
    if (e != cudaSuccess || !g) {
        if (graph)
            cudaGraphDestroy(graph);
        cudaGetLastError();
        return e == cudaSuccess ? 0 : fail(err, errlen, "cudaStreamEndCapture", e);
    }
    if (*g && (*g)->exec) { /* same shape as the last capture: update the instance in place */
        cudaGraphExecUpdateResultInfo info;
        if (cudaGraphExecUpdate((*g)->exec, graph, &info) == cudaSuccess) {
            cudaGraphDestroy(graph);
            return 0;
        }
        cudaGetLastError();
        cudaGraphExecDestroy((*g)->exec);
        (*g)->exec = NULL;
    }
    if (!*g && !(*g = (cuda_graph *)calloc(1, sizeof **g))) {
        cudaGraphDestroy(graph);
        if (err && errlen)
            snprintf(err, errlen, "out of memory");
        return -1;
    }
    e = cudaGraphInstantiate(&(*g)->exec, graph, 0);
    cudaGraphDestroy(graph);
    if (e != cudaSuccess) {
        (*g)->exec = NULL;
        return fail(err, errlen, "cudaGraphInstantiate", e);
    }
    return 0;
}

extern "C" int cuda_graph_launch(cuda_ctx *c, cuda_graph *g, char *err, size_t errlen)
{
    if (!g || !g->exec) {
        if (err && errlen)
            snprintf(err, errlen, "cuda graph: nothing captured");
        return -1;
    }
    cudaError_t e = cudaGraphLaunch(g->exec, c->stream);
    return e == cudaSuccess ? 0 : fail(err, errlen, "cudaGraphLaunch", e);
}

extern "C" void cuda_graph_destroy(cuda_graph *g)
{
    if (!g)
        return;
    if (g->exec)
        cudaGraphExecDestroy(g->exec);
    free(g);
}
