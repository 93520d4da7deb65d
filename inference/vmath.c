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

void vm_div(const float *x, float s, float *y, size_t n)
{
#ifdef VM_HAVE_AVX2
    if (kernels_selected() == KERNEL_AVX512VNNI) {
        vm_div_avx512(x, s, y, n);
        return;
    }
    if (use_avx2()) {
        vm_div_avx2(x, s, y, n);
        return;
    }
#endif
    for (size_t i = 0; i < n; i++)
        y[i] = x[i] / s;
}

ptrdiff_t vm_argmax(const float *z, const uint8_t *allowed, size_t n)
{
#ifdef VM_HAVE_AVX2
    if (kernels_selected() == KERNEL_AVX512VNNI)
        return vm_argmax_avx512(z, allowed, n);
    if (use_avx2())
        return vm_argmax_avx2(z, allowed, n);
#endif
    return vm_argmax_scalar(z, allowed, n);
}

ptrdiff_t vm_div_argmax(const float *x, float s, float *y, const uint8_t *allowed, size_t n)
{
#ifdef VM_HAVE_AVX2
    if (kernels_selected() == KERNEL_AVX512VNNI)
        return vm_div_argmax_avx512(x, s, y, allowed, n);
    if (use_avx2())
        return vm_div_argmax_avx2(x, s, y, allowed, n);
#endif
    for (size_t i = 0; i < n; i++)
        y[i] = x[i] / s;
    return vm_argmax_scalar(y, allowed, n);
}

void vm_exp_stats(const float *z, float m, const uint8_t *allowed, float *e, size_t n, float *sum_e,
                  float *sum_t)
{
#ifdef VM_HAVE_AVX2
    if (kernels_selected() == KERNEL_AVX512VNNI) {
        vm_exp_stats_avx512(z, m, allowed, e, n, sum_e, sum_t);
        return;
    }
    if (use_avx2()) {
        vm_exp_stats_avx2(z, m, allowed, e, n, sum_e, sum_t);
        return;
    }
#endif
    /* A1: lane i % 8 takes element i, in increasing i; then the A1 combine. */
    float a[8] = {0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f};
    float b[8] = {0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f};
    for (size_t i = 0; i < n; i++) {
        float term = 0.0f;
        if (!allowed || allowed[i]) {
            float d = z[i] - m;
            e[i] = cm_expf(d);
            term = e[i] * d;
        } else {
            e[i] = 0.0f;
        }
        a[i % 8] = a[i % 8] + e[i];
        b[i % 8] = b[i % 8] + term;
    }
    *sum_e = ((a[0] + a[4]) + (a[2] + a[6])) + ((a[1] + a[5]) + (a[3] + a[7]));
    if (sum_t)
        *sum_t = ((b[0] + b[4]) + (b[2] + b[6])) + ((b[1] + b[5]) + (b[3] + b[7]));
}

void vm_div_quantize(const float *e, float S, size_t n, size_t npad, int8_t *q, float *d)
{
#ifdef VM_HAVE_AVX2
    if (kernels_selected() == KERNEL_AVX512VNNI) {
        vm_div_quantize_avx512(e, S, n, npad, q, d);
        return;
    }
#endif
    /* By the definition, 1024 values at a time (A3 works block by block). */
    float buf[1024];
    for (size_t g = 0; g < npad; g += 1024) {
        size_t len = npad - g < 1024 ? npad - g : 1024, have = n > g ? n - g : 0;
        if (have > len)
            have = len;
        vm_div(e + g, S, buf, have);
        for (size_t i = have; i < len; i++)
            buf[i] = 0.0f;
        q8_act view = {q + g, d + g / QK, 1, (int)len};
        q8_quantize_rows(buf, 1, (int)len, &view);
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

/* The AVX-512 forms run 16 lanes with a masked last vector (masked-off lanes are neither read
 * nor written). */
void vm_scale_mul(const float *x, float s, const float *w, float *y, size_t n)
{
#ifdef VM_HAVE_AVX2
    if (kernels_selected() == KERNEL_AVX512VNNI) {
        vm_scale_mul_avx512(x, s, w, y, n);
        return;
    }
#endif
    if (w)
        for (size_t i = 0; i < n; i++)
            y[i] = (x[i] * s) * w[i];
    else
        for (size_t i = 0; i < n; i++)
            y[i] = x[i] * s;
}

void vm_add(const float *a, const float *b, float *y, size_t n)
{
#ifdef VM_HAVE_AVX2
    if (kernels_selected() == KERNEL_AVX512VNNI) {
        vm_add_avx512(a, b, y, n);
        return;
    }
#endif
    for (size_t i = 0; i < n; i++)
        y[i] = a[i] + b[i];
}

void vm_add_scale(const float *a, const float *b, float s, float *y, size_t n)
{
#ifdef VM_HAVE_AVX2
    if (kernels_selected() == KERNEL_AVX512VNNI) {
        vm_add_scale_avx512(a, b, s, y, n);
        return;
    }
#endif
    for (size_t i = 0; i < n; i++)
        y[i] = (a[i] + b[i]) * s;
}

void vm_axpy(float *acc, float w, const float *x, size_t n)
{
#ifdef VM_HAVE_AVX2
    if (kernels_selected() == KERNEL_AVX512VNNI) {
        vm_axpy_avx512(acc, w, x, n);
        return;
    }
#endif
    for (size_t i = 0; i < n; i++)
        acc[i] = acc[i] + w * x[i];
}

void vm_axpy_rows(float *acc, const float *w, const float *const *x, size_t m, size_t n,
                  int from_zero)
{
#ifdef VM_HAVE_AVX2
    if (kernels_selected() == KERNEL_AVX512VNNI) {
        vm_axpy_rows_avx512(acc, w, x, m, n, from_zero);
        return;
    }
#endif
    if (from_zero)
        for (size_t i = 0; i < n; i++)
            acc[i] = 0.0f;
    for (size_t k = 0; k < m; k++)
        for (size_t i = 0; i < n; i++)
            acc[i] = acc[i] + w[k] * x[k][i];
}

void vm_sumsq8_rows(const float *const *x, size_t m, size_t n, float *out)
{
#ifdef VM_HAVE_AVX2
    if (m <= 4 && n % 8 == 0 && kernels_selected() == KERNEL_AVX512VNNI) {
        vm_sumsq8_rows_avx512(x, m, n, out);
        return;
    }
#endif
    for (size_t j = 0; j < m; j++)
        out[j] = dot8(x[j], x[j], n);
}

void vm_quantize_scaled_row(const float *x, float s, const float *w, const float *post, int n,
                            q8_act *out, int t, float *tmp)
{
    int8_t *q = out->q + (size_t)t * (size_t)n;
    float *d = out->d + (size_t)t * (size_t)(n / QK);
#ifdef VM_HAVE_AVX2
    if (kernels_selected() == KERNEL_AVX512VNNI) {
        vm_quantize_scaled_row_avx512(x, s, w, post, n, q, d);
        return;
    }
#endif
    vm_scale_mul(x, s, w, tmp, (size_t)n);
    if (post)
        for (int i = 0; i < n; i++)
            tmp[i] = tmp[i] * *post;
    q8_act row = {q, d, 1, n};
    q8_quantize_rows(tmp, 1, n, &row);
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
