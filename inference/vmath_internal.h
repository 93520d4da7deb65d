/*
 * Between inference/vmath.c (portable code and dispatch) and the per-ISA file vmath_avx2.c.
 * Not for other modules: use inference/vmath.h and inference/quant.h.
 */
#ifndef SIBYL_INFERENCE_VMATH_INTERNAL_H
#define SIBYL_INFERENCE_VMATH_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "inference/cmath.h"
#include "inference/quant.h"

/* A6 GELU (tanh form), the scalar definition. */
static inline float vm_gelu_scalar(float x)
{
    float u = x + 0.044715f * ((x * x) * x);
    float t = cm_tanhf(0.7978845608f * u);
    return (0.5f * x) * (1.0f + t);
}

/* vm_argmax by its definition, one id at a time: the reference of the SIMD versions, and
 * their way out when a row holds a NaN or no allowed value above -inf. */
static inline ptrdiff_t vm_argmax_scalar(const float *z, const uint8_t *allowed, size_t n)
{
    ptrdiff_t am = -1;
    for (size_t i = 0; i < n; i++)
        if ((!allowed || allowed[i]) && (am < 0 || z[i] > z[am]))
            am = (ptrdiff_t)i;
    return am;
}

/* A3 through the SIMD path when the selected kernels allow it: returns 1 when it quantised the
 * rows, 0 when the caller must run the scalar loop. */
int vm_quantize_rows_simd(const float *x, int rows, int cols, q8_act *out);

/* The AVX-512 score kernel keeps four duplicated queries on its stack: head dims up to this
 * use its key-pair layout, larger ones the plain layout and the AVX2 kernel. */
#define VM_PAIR_DMAX 512

#if defined(__x86_64__)
void vm_expf_sub_avx2(const float *x, float m, float *y, size_t n);
void vm_exp_terms_avx2(const float *z, float m, float *e, float *term, size_t n);
void vm_tanhf_array_avx2(const float *x, float *y, size_t n);
void vm_softcap_avx2(float *y, size_t n, float cap);
void vm_gelu_glu_avx2(const float *gate, const float *up, float *out, size_t n);
void vm_div_avx2(const float *x, float s, float *y, size_t n);
ptrdiff_t vm_argmax_avx2(const float *z, const uint8_t *allowed, size_t n);
ptrdiff_t vm_div_argmax_avx2(const float *x, float s, float *y, const uint8_t *allowed, size_t n);
void vm_exp_stats_avx2(const float *z, float m, const uint8_t *allowed, float *e, size_t n,
                       float *sum_e, float *sum_t);
void vm_div_avx512(const float *x, float s, float *y, size_t n);
ptrdiff_t vm_argmax_avx512(const float *z, const uint8_t *allowed, size_t n);
ptrdiff_t vm_div_argmax_avx512(const float *x, float s, float *y, const uint8_t *allowed, size_t n);
void vm_exp_stats_avx512(const float *z, float m, const uint8_t *allowed, float *e, size_t n,
                         float *sum_e, float *sum_t);
void vm_div_quantize_avx512(const float *e, float S, size_t n, size_t npad, int8_t *q, float *d);
void vm_dot8_packed_avx2(const float *const *q, size_t nq, const float *keys, size_t n, size_t d,
                         float *out, size_t ldo);
void vm_wsum_packed_avx2(const float *p, size_t ldp, size_t np, const float *v, size_t n, size_t d,
                         float *const *o);
void vm_keys_put_avx512(const float *row, size_t j, size_t d, float *keys);
void vm_dot8_packed_avx512(const float *const *q, size_t nq, const float *keys, size_t n, size_t d,
                           float *out, size_t ldo);
void vm_softmax_avx512(float *x, size_t n);
void vm_rmsnorm_rope_avx512(float *x, const float *w, size_t d, float eps, const float *c,
                            const float *sn, size_t half);
void vm_values_put_avx512(const float *row, size_t j, size_t n, size_t d, float *vals);
void vm_wsum_packed_avx512(const float *p, size_t ldp, size_t np, const float *v, size_t n,
                           size_t d, float *const *o);
void vm_expf_sub_avx512(const float *x, float m, float *y, size_t n);
void vm_exp_terms_avx512(const float *z, float m, float *e, float *term, size_t n);
void vm_tanhf_array_avx512(const float *x, float *y, size_t n);
void vm_softcap_avx512(float *y, size_t n, float cap);
void vm_gelu_glu_avx512(const float *gate, const float *up, float *out, size_t n);
void vm_scale_mul_avx512(const float *x, float s, const float *w, float *y, size_t n);
void vm_add_avx512(const float *a, const float *b, float *y, size_t n);
void vm_add_scale_avx512(const float *a, const float *b, float s, float *y, size_t n);
void vm_axpy_avx512(float *acc, float w, const float *x, size_t n);
void vm_axpy_rows_avx512(float *acc, const float *w, const float *const *x, size_t m, size_t n,
                         int from_zero);
void vm_quantize_scaled_row_avx512(const float *x, float s, const float *w, const float *post,
                                   int n, int8_t *q, float *d);
void vm_sumsq8_rows_avx512(const float *const *x, size_t m, size_t n, float *out);
void q8_quantize_rows_avx512(const float *x, int rows, int cols, q8_act *out);
void q8_quantize_rows_avx2(const float *x, int rows, int cols, q8_act *out);
#endif

#endif
