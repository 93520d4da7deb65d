/*
 * Array forms of the profile's elementwise operations (docs/arithmetic.md A2, A3, A6, A9).
 *
 * Each function gives, element by element, exactly the bits of the scalar definition written
 * next to it (the functions of inference/cmath.h applied one element at a time); the AVX2
 * path (chosen with the matmul kernels: any path other than KERNEL_PORTABLE) only runs eight
 * elements at once. Inputs and outputs may be the same array where noted.
 */
#ifndef SIBYL_INFERENCE_VMATH_H
#define SIBYL_INFERENCE_VMATH_H

#include <stddef.h>
#include <stdint.h>

#include "inference/quant.h"

/* y[i] = cm_expf(x[i] - m). y may equal x. */
void vm_expf_sub(const float *x, float m, float *y, size_t n);

/* d = z[i] - m; e[i] = cm_expf(d); term[i] = e[i] * d (the sampler's entropy terms). */
void vm_exp_terms(const float *z, float m, float *e, float *term, size_t n);

/* y[i] = x[i] / s (a division, not a product by 1/s: A9's tempering and normalisation). y may
 * equal x. */
void vm_div(const float *x, float s, float *y, size_t n);

/* A9's argmax over the ids i < n with allowed[i] != 0 (allowed NULL = every id): the first
 * allowed id, replaced in increasing id order by each later allowed i with z[i] > z[current]
 * (so the first largest value wins ties, a NaN is never taken after the first allowed id and
 * a NaN first allowed id stays). Returns -1 when no id is allowed. */
ptrdiff_t vm_argmax(const float *z, const uint8_t *allowed, size_t n);

/* y = vm_div(x, s) and then vm_argmax(y, allowed, n), in one pass over x. */
ptrdiff_t vm_div_argmax(const float *x, float s, float *y, const uint8_t *allowed, size_t n);

/* One vocabulary chunk of A9's statistics: d = z[i] - m, e[i] = cm_expf(d), *sum_e =
 * sum8(e[0..n)) and, when sum_t is not NULL, *sum_t = sum8 of the terms e[i] * d. With
 * allowed (indexed like z; NULL = every id) a disallowed i gets e[i] = +0 and term +0. */
void vm_exp_stats(const float *z, float m, const uint8_t *allowed, float *e, size_t n, float *sum_e,
                  float *sum_t);

/* A9's self-conditioning input for one row, without writing P: P = vm_div(e, S) for the n
 * values and +0 for the padding up to npad (a multiple of 32, >= n), then A3 of that row of
 * npad values (q8_quantize_rows) into q (npad bytes) and d (npad / 32 scales). */
void vm_div_quantize(const float *e, float S, size_t n, size_t npad, int8_t *q, float *d);

/* y[i] = cm_tanhf(x[i]). y may equal x. */
void vm_tanhf_array(const float *x, float *y, size_t n);

/* Softcap in place: y[i] = cap * cm_tanhf(y[i] / cap). */
void vm_softcap(float *y, size_t n, float cap);

/* Gated GELU (A6): out[i] = g(gate[i]) * up[i] with u = x + 0.044715f*((x*x)*x),
 * t = cm_tanhf(0.7978845608f*u), g = (0.5f*x)*(1.0f + t). out may equal gate or up. */
void vm_gelu_glu(const float *gate, const float *up, float *out, size_t n);

/* The simple per-element steps of RMSNorm, residuals and the MoE combine (A6, A8, A11). Each
 * is exactly the written expression per element, one rounded operation per operator, in that
 * order; y may equal any input array. */
/* y[i] = (x[i] * s) * w[i]; without w (NULL): y[i] = x[i] * s. */
void vm_scale_mul(const float *x, float s, const float *w, float *y, size_t n);
/* y[i] = a[i] + b[i]. */
void vm_add(const float *a, const float *b, float *y, size_t n);
/* y[i] = (a[i] + b[i]) * s. */
void vm_add_scale(const float *a, const float *b, float s, float *y, size_t n);
/* acc[i] = acc[i] + w * x[i]. */
void vm_axpy(float *acc, float w, const float *x, size_t n);
/* vm_axpy of m rows in turn, acc read and written once: acc[i] = acc[i] + w[k] * x[k][i] for
 * k = 0..m-1 in that order, acc first set to +0 when from_zero (A8's combine). acc must not
 * be one of the x rows. */
void vm_axpy_rows(float *acc, const float *w, const float *const *x, size_t m, size_t n,
                  int from_zero);

/* out[j] = dot8(x[j], x[j], n) for j < m (m <= 4): RMSNorm's sums of squares of several rows,
 * computed side by side. */
void vm_sumsq8_rows(const float *const *x, size_t m, size_t n, float *out);

/* A3 (q8_quantize_rows) of the row y[i] = (x[i] * s) * w[i] (w NULL: x[i] * s), and with
 * post: y[i] = y[i] * *post, into row t of out (n values, a multiple of 32), without storing y
 * where the kernel path allows; tmp is n floats of scratch for the paths that do. */
void vm_quantize_scaled_row(const float *x, float s, const float *w, const float *post, int n,
                            q8_act *out, int t, float *tmp);

/* A7 scores of many queries against one key list, packed once (the decoder's canvas tiles
 * and the query heads of a KV group all read the same list). The packed layout depends on the
 * kernel path and on d: pack and score under the same kernels_select().
 * vm_keys_packed_len: floats to reserve for a packed list of n keys of d (on any path).
 * vm_keys_put: row (d floats) as key j of the packed list at keys; rows may come in any order.
 * vm_dot8_packed: out[t*ldo + j] = dot8(q[t], key j, d) for t < nq, j < n (only those), once
 * keys 0..n-1 are in. */
size_t vm_keys_packed_len(size_t n, size_t d);
void vm_keys_put(const float *row, size_t j, size_t d, float *keys);
void vm_dot8_packed(const float *const *q, size_t nq, const float *keys, size_t n, size_t d,
                    float *out, size_t ldo);

/* A6 softmax in place over n values: m = max x (the first of equal maxima, as a loop with
 * `>` from x[0]), e_i = cm_expf(x_i - m), S = sum8(e), x_i = e_i / S. */
void vm_softmax(float *x, size_t n);

/* A6 RMSNorm of one head (d values) in place, w NULL for the no-scale form, then the RoPE pairs
 * (i, i + half) for i < half with c[i] = cos, sn[i] = sin of the angles (half = 0: no RoPE):
 * ss = dot8(x, x), mean = ss / (float)d, r = 1.0f / sqrtf(mean + eps), x_i = (x_i * r) * w_i
 * (x_i * r), then x_i = x_i*c - x_{i+half}*s, x_{i+half} = x_{i+half}*c + x_i*s. */
void vm_rmsnorm_rope(float *x, const float *w, size_t d, float eps, const float *c, const float *sn,
                     size_t half);

/* A7 weighted sums of many queries over one value list, packed once like the keys (n*d
 * floats in a layout that depends on the kernel path, on d and on n).
 * vm_values_put: row (d floats) as value j of the packed list of n values at vals.
 * vm_wsum_packed: o[t][i] = sum over j = 0..n-1, in that order and from +0.0f, of
 * p[t*ldp + j] * value_j[i] (one rounded multiply, one rounded add per term), t < np, i < d. */
void vm_values_put(const float *row, size_t j, size_t n, size_t d, float *vals);
void vm_wsum_packed(const float *p, size_t ldp, size_t np, const float *vals, size_t n, size_t d,
                    float *const *o);

#endif
