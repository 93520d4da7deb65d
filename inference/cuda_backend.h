/*
 * The CUDA backend's kernels, callable from C (docs/arithmetic.md on the GPU, bit for bit).
 *
 * Every kernel here computes exactly what the CPU backend computes for the same inputs: the
 * same operations in the same order per output (A1 sum8 as an 8-thread butterfly, A5 as one
 * int8 dot product per 32-block folded in increasing block order by the one thread that owns
 * the output, A9's chunked vocabulary sums, ...). Tiles split work across outputs only.
 *
 * Pointers named d_* are device pointers. Launchers are asynchronous on the context's stream
 * and return 0, or a negative value with the CUDA error text in err. Only built when CMake
 * found nvcc (SIBYL_HAVE_CUDA); running needs a GPU and driver (cuda_probe says whether).
 */
#ifndef SIBYL_INFERENCE_CUDA_BACKEND_H
#define SIBYL_INFERENCE_CUDA_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "inference/quant.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Vocabulary reductions use chunks of this many ids (A9). */
#define CUDA_VOCAB_CHUNK 1024

/* The engine backend (backend.h) that runs passes with these kernels (cuda/cuda_forward.c). */
struct backend_ops;
const struct backend_ops *cuda_backend(void);

typedef struct {
    char name[256];
    int device;
    int cc_major, cc_minor;
    int sm_count;
    size_t total_mem, free_mem;
} cuda_device_info;

/* Is there a usable GPU? 0 and info filled, or -1 with the reason in err ("no GPU": driver
 * missing or too old, no device, ...). Never aborts. */
int cuda_probe(cuda_device_info *info, char *err, size_t errlen);

typedef struct cuda_ctx cuda_ctx;
int cuda_ctx_create(int device, cuda_ctx **out, char *err, size_t errlen);
void cuda_ctx_destroy(cuda_ctx *c);
/* Waits for all queued work; returns the first asynchronous error, if any. */
int cuda_sync(cuda_ctx *c, char *err, size_t errlen);
int cuda_alloc(cuda_ctx *c, size_t bytes, void **d_out, char *err, size_t errlen);
void cuda_free(cuda_ctx *c, void *d_ptr);
int cuda_upload(cuda_ctx *c, void *d_dst, const void *src, size_t bytes, char *err, size_t errlen);
int cuda_download(cuda_ctx *c, void *dst, const void *d_src, size_t bytes, char *err,
                  size_t errlen);
int cuda_memset0(cuda_ctx *c, void *d_dst, size_t bytes, char *err, size_t errlen);
int cuda_copy(cuda_ctx *c, void *d_dst, const void *d_src, size_t bytes); /* async, d2d */
/* Device-to-device copy bandwidth (bytes read + written per second) over `bytes`, median of
 * `reps` timed copies; for the weight-streaming bound in benchmarks. */
int cuda_measure_copy_bw(cuda_ctx *c, size_t bytes, int reps, double *bytes_per_s, char *err,
                         size_t errlen);
/* Elapsed milliseconds of `fn(arg)` enqueued on the context's stream, timed with events. */
int cuda_time_ms(cuda_ctx *c, void (*fn)(void *arg), void *arg, float *ms, char *err,
                 size_t errlen);

/* CUDA graphs: work queued on the context's stream between cuda_capture_begin and
 * cuda_capture_end is recorded, not run; cuda_capture_end makes *g (created on first use) a
 * runnable copy of it, updating the previous instance in place when the work has the same shape
 * (only kernel arguments differ), and cuda_graph_launch queues it. With g == NULL,
 * cuda_capture_end only ends the capture (after an error). No upload, download, sync or mark
 * may happen while capturing. */
typedef struct cuda_graph cuda_graph;
int cuda_capture_begin(cuda_ctx *c, char *err, size_t errlen);
int cuda_capture_end(cuda_ctx *c, cuda_graph **g, char *err, size_t errlen);
int cuda_graph_launch(cuda_ctx *c, cuda_graph *g, char *err, size_t errlen);
void cuda_graph_destroy(cuda_graph *g);

/* Device-side timeline: cuda_mark queues an event tagged `tag` (0..31) on the stream; after the
 * work is done, cuda_marks_collect adds the time from each mark to the next into seconds[tag]
 * (tags >= ntags are skipped: a mark that only ends the previous interval) and forgets them. */
int cuda_mark(cuda_ctx *c, int tag);
int cuda_marks_collect(cuda_ctx *c, double *seconds, int ntags);

/* ---- A1 ---- out[r] = sum8(x[r][0..n)) / dot8(x[r], y[r]); rows contiguous with stride n. */
int cuk_sum8_rows(cuda_ctx *c, const float *d_x, int rows, int n, float *d_out);
int cuk_dot8_rows(cuda_ctx *c, const float *d_x, const float *d_y, int rows, int n, float *d_out);

/* ---- A3 ---- q [rows][cols] int8, d [rows][cols/32] f32; cols a multiple of 32. */
int cuk_q8_quantize(cuda_ctx *c, const float *d_x, int rows, int cols, int8_t *d_q, float *d_d);

typedef enum { CUK_MM_DP4A = 0, CUK_MM_MMA = 1 } cuk_mm_kind;

/* ---- A5 ----
 * y[t][n] = sum over blocks of (float)isum * (wd[n][b] * ad[t][b]) in increasing b.
 * W: wrows x cols Q8_0 (row-major blocks); A: arows x cols (q, d from cuk_q8_quantize);
 * y row stride ldy. kind picks the integer engine: both give identical bits. */
int cuk_q8_matmul(cuda_ctx *c, cuk_mm_kind kind, const block_q8_0 *d_w, int wrows, int cols,
                  const int8_t *d_aq, const float *d_ad, int arows, float *d_y, int ldy);

/* Grouped product for experts (A5 per group): group g uses weight matrix
 * d_w + g * (wrows * cols/32) and the activation rows rows[off[g] .. off[g+1]) (a row index
 * into A, or, when d_rows is NULL, rows off[g].. of A itself); output row off[g]+i of y.
 * max_rows bounds any group's size (launch shape only). */
int cuk_q8_matmul_grouped(cuda_ctx *c, cuk_mm_kind kind, const block_q8_0 *d_w, int wrows, int cols,
                          int groups, const int32_t *d_off, const int32_t *d_rows, int max_rows,
                          const int8_t *d_aq, const float *d_ad, float *d_y, int ldy);

/* ---- A6 ---- */
/* y = rmsnorm(x) (* w when d_w != NULL); rows of n, eps as given; y may equal x. */
int cuk_rmsnorm(cuda_ctx *c, const float *d_x, const float *d_w, float *d_y, int rows, int n,
                float eps);
/* Row softmax over n values (max, cm_expf, sum8, divide); y may equal x. */
int cuk_softmax(cuda_ctx *c, const float *d_x, float *d_y, int rows, int n);
/* h[r][i] = gelu_tanh(gate[r][i]) * up[r][i], i < n; row strides ldg, ldu, ldh. */
int cuk_gelu_gate(cuda_ctx *c, const float *d_gate, int ldg, const float *d_up, int ldu, float *d_h,
                  int ldh, int rows, int n);
/* y = cap * cm_tanhf(x / cap), count values; y may equal x. */
int cuk_softcap(cuda_ctx *c, const float *d_x, float *d_y, size_t count, float cap);
/* y = a + b elementwise. */
int cuk_add(cuda_ctx *c, const float *d_a, const float *d_b, float *d_y, size_t count);
/* y[r][i] = (x[r][i] * w[i]) * k  (router input, A8); rows of n. */
int cuk_mul_vec_scalar(cuda_ctx *c, const float *d_x, const float *d_w, float k, float *d_y,
                       int rows, int n);
/* y = x * s[0] (s a device scalar: layer_scalar). */
int cuk_scale_by(cuda_ctx *c, const float *d_x, const float *d_s, float *d_y, size_t count);
/* x[t][i] = ((float)q * d) * scale for token ids[t] of a Q8_0 embedding [vocab][hidden]. */
int cuk_embed(cuda_ctx *c, const block_q8_0 *d_emb, int hidden, const int32_t *d_ids, int n,
              float scale, float *d_x);
/* RoPE in place on x [tokens][heads][d]: token t at position pos0 + t; pairs (i, i+half) for
 * i < half, angle a = (float)(pos0 + t) * freqs[i] (freqs: device array of half values, made
 * on the host exactly as the CPU backend makes them), y = x*cos - x'*sin, y' = x'*cos + x*sin. */
int cuk_rope(cuda_ctx *c, float *d_x, int tokens, int heads, int d, int half, const float *d_freqs,
             int pos0);
/* y = x * k elementwise (k a host float). */
int cuk_scale(cuda_ctx *c, const float *d_x, float k, float *d_y, size_t count);
/* x = (r + m) * k elementwise (the layer's closing residual with layer_scalar k). */
int cuk_add_scale(cuda_ctx *c, const float *d_r, const float *d_m, float k, float *d_x,
                  size_t count);

/* ---- A7 ----
 * q [nq][heads][d], o same shape; k, v [positions][kv_heads][d] (the cache, with this
 * batch's keys already at positions pos0 ..). Query i sits at position pos0 + i and sees
 * keys [lo, hi): causal: hi = pos+1, lo = window ? max(0, pos-window+1) : 0;
 * bidirectional (decoder canvas): hi = pos0 + nq, lo = window ? pos0 - min(pos0, window-1) : 0.
 * d_scratch holds nq*heads*max_keys floats (max_keys >= longest list). */
int cuk_attention(cuda_ctx *c, const float *d_q, const float *d_k, const float *d_v, float *d_o,
                  int nq, int heads, int kv_heads, int d, int pos0, int causal, int window,
                  float *d_scratch, int max_keys);

/* ---- A8 ----
 * logits [T][E] -> per token: top-k experts (ids ascending in the output, the order in which
 * outputs are combined) and weights w = (p / sumk) * per_expert_scale[e]. */
int cuk_moe_route(cuda_ctx *c, const float *d_logits, int T, int E, int k,
                  const float *d_expert_scale, int32_t *d_ids, float *d_w);
/* From ids [T][k]: off [E+1] (group starts), rows [T*k] (token of each grouped row, tokens
 * ascending inside a group), slot_row [T][k] (grouped row of each (token, slot)). */
int cuk_moe_group(cuda_ctx *c, const int32_t *d_ids, int T, int k, int E, int32_t *d_off,
                  int32_t *d_rows, int32_t *d_slot_row);
/* out[t][i] = sum over slots (ascending expert id) acc = acc + w[t][s] * y[slot_row[t][s]][i]. */
int cuk_moe_combine(cuda_ctx *c, const float *d_y, int ldy, const int32_t *d_slot_row,
                    const float *d_w, int T, int k, int n, float *d_out);

/* ---- A9 / A9c / A10: the sampler's step (inference/sampler_step.h on the device) ----
 * The rules of a generation: masks [n][V] bytes (nonzero = allowed), lists (the allowed ids of
 * each mask, ascending, concatenated; mask k's are lists[list_off[k] .. list_off[k+1])); and,
 * per canvas position i, forced[i] (the id or -1), mask[i] (a mask index or -1 = every id),
 * noise[i] (the index of the renoise list or -1 = [0, V)). All device pointers. */
typedef struct {
    const uint8_t *masks;
    const int32_t *lists, *list_off;
    const int32_t *forced, *mask, *noise;
} cuk_rules;
/* The step's scalars, in device memory: a captured graph replays with new values. */
typedef struct {
    float tau, bound;
    uint64_t seed;
    uint32_t canvas, step;
    int32_t make_sc; /* write the next step's SC input into probs */
    int32_t pad;
} cuk_step_params;
/* One step over C rows of V logits (C <= 1024): per position m, S, H, argmax, draw (chunks:
 * C x 2*ceil(V/1024) floats of scratch); the SC input P (C rows of Vpad, zero past V) when
 * make_sc; then acceptance and the next ids x. out[0] = accepted count, out[1] = mean entropy
 * (float bits). Bit-identical to sampler.c's host step. */
int cuk_sample_step(cuda_ctx *c, const float *d_logits, int C, int V, int Vpad, const cuk_rules *r,
                    const cuk_step_params *d_par, float *d_m, float *d_S, float *d_H,
                    int32_t *d_draw, float *d_chunks, float *d_probs, int32_t *d_x,
                    int32_t *d_argmax, int32_t *d_out);
/* Philox4x32-10 word 0 for counters (canvas, step, pos, purpose), pos = 0..n-1. */
int cuk_philox(cuda_ctx *c, uint64_t seed, uint32_t canvas, uint32_t step, uint32_t purpose, int n,
               uint32_t *d_out);

/* ---- The step's logits hash (A9) ----
 * Row hashes of a rows x V logits block (sampler_row_hash of each row) into d_row_hashes
 * (rows x 32 bytes); d_leaves is scratch of rows x ceil(V / 4096) x 16 bytes (the leaves'
 * XXH3-128 digests). The host folds the row hashes into logits_hash (sha256 of their
 * concatenation). */
int cuk_row_hashes(cuda_ctx *c, const float *d_logits, int rows, int V, uint8_t *d_leaves,
                   uint8_t *d_row_hashes);

/* A4 conversions (weights from F32/F16/BF16/K-quants, the SC matrix E^T) run on the host at
 * load (model.c) and are uploaded: the device never quantises weights. */

#ifdef __cplusplus
}
#endif

#endif
