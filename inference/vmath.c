/*
 * Portable array forms of the elementwise operations and the run-time choice of the AVX2
 * versions (vmath_avx2.c), made together with the matmul kernels' path.
 */
#include "inference/vmath.h"

#include <math.h>
#include <string.h>

#include "inference/matmul.h"
#include "inference/vmath_internal.h"

#if defined(__x86_64__)
#define VM_HAVE_AVX2 1
static int use_avx2(void)
{
    return kernels_selected() != KERNEL_PORTABLE;
}
#endif

void vm_expf_sub(const float *x, float m, float *y, size_t n)
{
#ifdef VM_HAVE_AVX2
    if (kernels_selected() == KERNEL_AVX512VNNI) {
        vm_expf_sub_avx512(x, m, y, n);
        return;
    }
    if (use_avx2()) {
        vm_expf_sub_avx2(x, m, y, n);
        return;
    }
#endif
    for (size_t i = 0; i < n; i++)
        y[i] = cm_expf(x[i] - m);
}

void vm_exp_terms(const float *z, float m, float *e, float *term, size_t n)
{
#ifdef VM_HAVE_AVX2
    if (kernels_selected() == KERNEL_AVX512VNNI) {
        vm_exp_terms_avx512(z, m, e, term, n);
        return;
    }
    if (use_avx2()) {
        vm_exp_terms_avx2(z, m, e, term, n);
        return;
    }
#endif
    for (size_t i = 0; i < n; i++) {
        float d = z[i] - m;
        e[i] = cm_expf(d);
        term[i] = e[i] * d;
    }
}

void vm_tanhf_array(const float *x, float *y, size_t n)
{
#ifdef VM_HAVE_AVX2
    if (kernels_selected() == KERNEL_AVX512VNNI) {
        vm_tanhf_array_avx512(x, y, n);
        return;
    }
    if (use_avx2()) {
        vm_tanhf_array_avx2(x, y, n);
        return;
    }
#endif
    for (size_t i = 0; i < n; i++)
        y[i] = cm_tanhf(x[i]);
}

void vm_softcap(float *y, size_t n, float cap)
{
#ifdef VM_HAVE_AVX2
    if (kernels_selected() == KERNEL_AVX512VNNI) {
        vm_softcap_avx512(y, n, cap);
        return;
    }
    if (use_avx2()) {
        vm_softcap_avx2(y, n, cap);
        return;
    }
#endif
    for (size_t i = 0; i < n; i++)
        y[i] = cap * cm_tanhf(y[i] / cap);
}

void vm_gelu_glu(const float *gate, const float *up, float *out, size_t n)
{
#ifdef VM_HAVE_AVX2
    if (kernels_selected() == KERNEL_AVX512VNNI) {
        vm_gelu_glu_avx512(gate, up, out, n);
        return;
    }
    if (use_avx2()) {
        vm_gelu_glu_avx2(gate, up, out, n);
        return;
    }
#endif
    for (size_t i = 0; i < n; i++)
        out[i] = vm_gelu_scalar(gate[i]) * up[i];
}

/* The key-pair layout of the AVX-512 score kernel, or the plain one. */
static int pair_layout(size_t d)
{
#ifdef VM_HAVE_AVX2
    return kernels_selected() == KERNEL_AVX512VNNI && d % 8 == 0 && d <= VM_PAIR_DMAX;
#else
    (void)d;
    return 0;
#endif
}

size_t vm_keys_packed_len(size_t n, size_t d)
{
    return (n + 7) / 8 * 8 * d; /* the pair layout's padding; the plain layout needs less */
}

void vm_keys_put(const float *row, size_t j, size_t d, float *keys)
{
#ifdef VM_HAVE_AVX2
    if (pair_layout(d)) {
        vm_keys_put_avx512(row, j, d, keys);
        return;
    }
#endif
    memcpy(keys + j * d, row, d * sizeof(float));
}

void vm_dot8_packed(const float *const *q, size_t nq, const float *keys, size_t n, size_t d,
                    float *out, size_t ldo)
{
#ifdef VM_HAVE_AVX2
    if (pair_layout(d)) {
        vm_dot8_packed_avx512(q, nq, keys, n, d, out, ldo);
        return;
    }
    if (d % 8 == 0 && use_avx2()) {
        vm_dot8_packed_avx2(q, nq, keys, n, d, out, ldo);
        return;
    }
#endif
    for (size_t t = 0; t < nq; t++)
        for (size_t j = 0; j < n; j++)
            out[t * ldo + j] = dot8(q[t], keys + j * d, d);
}

void vm_softmax(float *x, size_t n)
{
    if (n == 0)
        return;
#ifdef VM_HAVE_AVX2
    if (kernels_selected() == KERNEL_AVX512VNNI) {
        vm_softmax_avx512(x, n);
        return;
    }
#endif
    float mx = x[0];
    for (size_t i = 1; i < n; i++)
        if (x[i] > mx)
            mx = x[i];
    vm_expf_sub(x, mx, x, n);
    float S = sum8(x, n);
    for (size_t i = 0; i < n; i++)
        x[i] = x[i] / S;
}

/* The chunked value layout of the AVX-512 weighted-sum kernel, or the plain one. */
static int chunk_layout(size_t d)
{
#ifdef VM_HAVE_AVX2
    return kernels_selected() == KERNEL_AVX512VNNI && d % 16 == 0;
#else
    (void)d;
    return 0;
#endif
}

void vm_values_put(const float *row, size_t j, size_t n, size_t d, float *vals)
{
#ifdef VM_HAVE_AVX2
    if (chunk_layout(d)) {
        vm_values_put_avx512(row, j, n, d, vals);
        return;
    }
#else
    (void)n;
#endif
    memcpy(vals + j * d, row, d * sizeof(float));
}

void vm_wsum_packed(const float *p, size_t ldp, size_t np, const float *vals, size_t n, size_t d,
                    float *const *o)
{
#ifdef VM_HAVE_AVX2
    if (chunk_layout(d)) {
        vm_wsum_packed_avx512(p, ldp, np, vals, n, d, o);
        return;
    }
    if (d % 8 == 0 && use_avx2()) {
        vm_wsum_packed_avx2(p, ldp, np, vals, n, d, o);
        return;
    }
#endif
    for (size_t t = 0; t < np; t++) {
        const float *pt = p + t * ldp;
        for (size_t i = 0; i < d; i++)
            o[t][i] = 0.0f;
        for (size_t j = 0; j < n; j++)
            for (size_t i = 0; i < d; i++)
                o[t][i] = o[t][i] + pt[j] * vals[j * d + i];
    }
}

void vm_rmsnorm_rope(float *x, const float *w, size_t d, float eps, const float *c, const float *sn,
                     size_t half)
{
#ifdef VM_HAVE_AVX2
    if (kernels_selected() == KERNEL_AVX512VNNI) {
        vm_rmsnorm_rope_avx512(x, w, d, eps, c, sn, half);
        return;
    }
#endif
    float ss = dot8(x, x, d);
    float mean = ss / (float)d;
    float r = 1.0f / sqrtf(mean + eps);
    for (size_t i = 0; i < d; i++)
        x[i] = w ? (x[i] * r) * w[i] : x[i] * r;
    for (size_t i = 0; i < half; i++) {
        float x0 = x[i], x1 = x[i + half];
        x[i] = x0 * c[i] - x1 * sn[i];
        x[i + half] = x1 * c[i] + x0 * sn[i];
    }
}

/* quant.c's A3 entry point picks this when the CPU has AVX2 (same bits as the scalar loop). */
int vm_quantize_rows_simd(const float *x, int rows, int cols, q8_act *out)
{
#ifdef VM_HAVE_AVX2
    if (kernels_selected() == KERNEL_AVX512VNNI) {
        q8_quantize_rows_avx512(x, rows, cols, out);
        return 1;
    }
    if (use_avx2()) {
        q8_quantize_rows_avx2(x, rows, cols, out);
        return 1;
    }
#else
    (void)x, (void)rows, (void)cols, (void)out;
#endif
    return 0;
}
