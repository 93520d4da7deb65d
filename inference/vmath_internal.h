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

#if defined(__x86_64__)
void vm_expf_sub_avx2(const float *x, float m, float *y, size_t n);
void vm_exp_terms_avx2(const float *z, float m, float *e, float *term, size_t n);
void vm_tanhf_array_avx2(const float *x, float *y, size_t n);
void vm_softcap_avx2(float *y, size_t n, float cap);
void vm_gelu_glu_avx2(const float *gate, const float *up, float *out, size_t n);
void vm_dot8_rows_avx2(const float *q, const float *const *k, size_t n, size_t d, float *out);
void vm_wsum_rows_avx2(const float *p, const float *const *v, size_t n, size_t d, float *o);
void vm_dot8_multi_avx2(const float *const *q, size_t nq, const float *const *k, size_t n, size_t d,
                        float *out, size_t ldo);
void vm_wsum_multi_avx2(const float *p, size_t ldp, size_t np, const float *const *v, size_t n,
                        size_t d, float *const *o);
void vm_dot8_multi_avx512(const float *const *q, size_t nq, const float *const *k, size_t n,
                          size_t d, float *out, size_t ldo);
void vm_wsum_multi_avx512(const float *p, size_t ldp, size_t np, const float *const *v, size_t n,
                          size_t d, float *const *o);
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
void vm_expf_sub_avx512(const float *x, float m, float *y, size_t n);
void vm_exp_terms_avx512(const float *z, float m, float *e, float *term, size_t n);
void vm_tanhf_array_avx512(const float *x, float *y, size_t n);
void vm_softcap_avx512(float *y, size_t n, float cap);
void vm_gelu_glu_avx512(const float *gate, const float *up, float *out, size_t n);
void vm_scale_mul_avx512(const float *x, float s, const float *w, float *y, size_t n);
void vm_add_avx512(const float *a, const float *b, float *y, size_t n);
void vm_add_scale_avx512(const float *a, const float *b, float s, float *y, size_t n);
void vm_axpy_avx512(float *acc, float w, const float *x, size_t n);
void vm_quantize_scaled_row_avx512(const float *x, float s, const float *w, const float *post,
                                   int n, int8_t *q, float *d);
void vm_sumsq8_rows_avx512(const float *const *x, size_t m, size_t n, float *out);
void q8_quantize_rows_avx512(const float *x, int rows, int cols, q8_act *out);
void q8_quantize_rows_avx2(const float *x, int rows, int cols, q8_act *out);
#endif

#endif
