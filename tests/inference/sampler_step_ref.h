/*
 * Test helper (unit tests only): one sampler step over C rows of logits, computed two ways.
 *
 *   ref_step  sampler.c's host path: sampler_position / sampler_position_forced per position,
 *             the SC input as sampler.c makes it (e_v / S of the unmasked statistics), the
 *             stable sort and acceptance walk, the renoise of A9b/A9c.
 *   emu_step  the CUDA kernels of inference/cuda/cuda_sampler.cu run on the CPU: the same
 *             sampler_step.h pieces in the kernels' decomposition (256 threads per position,
 *             32 groups of 8 lanes, the argmax tree, one thread per draw, ranks then one walk).
 *
 * tests/inference/test_sampler_step.c checks emu_step == ref_step on random logits without a
 * GPU; tests/cuda/test_cuda_kernels.c checks the GPU's cuk_sample_step against both.
 */
#ifndef SIBYL_TESTS_SAMPLER_STEP_REF_H
#define SIBYL_TESTS_SAMPLER_STEP_REF_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "inference/philox.h"
#include "inference/sampler.h"
#include "inference/sampler_step.h"

/* The inputs of one step (host memory). Tables: masks [n_tab][V], lists concatenated with
 * list_off [n_tab + 1]; per position forced / mask / noise as in backend.h. */
typedef struct {
    const float *logits; /* C x V */
    uint32_t C, V, Vp;
    float tau, bound;
    uint64_t seed;
    uint32_t canvas, step;
    int make_sc;
    const uint8_t *masks;
    const int32_t *lists, *list_off;
    const int32_t *forced, *mask, *noise;
} step_in;

typedef struct {
    float *S, *H;               /* C */
    int32_t *argmax, *draw, *x; /* C */
    float *P;                   /* C x Vp (when make_sc) */
    uint32_t n_acc;
    float mean;
} step_out;

static inline int step_out_alloc(step_out *o, uint32_t C, uint32_t Vp)
{
    memset(o, 0, sizeof *o);
    o->S = calloc(C, sizeof(float));
    o->H = calloc(C, sizeof(float));
    o->argmax = calloc(C, sizeof(int32_t));
    o->draw = calloc(C, sizeof(int32_t));
    o->x = calloc(C, sizeof(int32_t));
    o->P = calloc((size_t)C * Vp, sizeof(float));
    return o->S && o->H && o->argmax && o->draw && o->x && o->P ? 0 : -1;
}

static inline void step_out_free(step_out *o)
{
    free(o->S), free(o->H), free(o->argmax), free(o->draw), free(o->x), free(o->P);
}

static inline const uint8_t *step_mask(const step_in *in, int32_t k)
{
    return k >= 0 ? in->masks + (size_t)k * in->V : NULL;
}

/* Acceptance, mean and next ids from H and the draws, sampler.c's way. */
static inline void ref_finish(const step_in *in, step_out *o)
{
    uint32_t C = in->C;
    int32_t *order = malloc(C * sizeof(int32_t));
    uint8_t *acc_mask = malloc(C);
    for (uint32_t i = 0; i < C; i++)
        order[i] = (int32_t)i;
    for (uint32_t i = 1; i < C; i++) { /* insertion sort by (H, position): sort_by_h */
        int32_t k = order[i];
        uint32_t j = i;
        while (j > 0 && (o->H[order[j - 1]] > o->H[k]))
            order[j] = order[j - 1], j--;
        order[j] = k;
    }
    float acc = 0.0f, hsum = 0.0f;
    o->n_acc = 0;
    for (uint32_t r = 0; r < C; r++) {
        int32_t i = order[r];
        acc_mask[i] = acc <= in->bound;
        o->n_acc += acc_mask[i];
        acc = acc + o->H[i];
    }
    for (uint32_t i = 0; i < C; i++) {
        if (acc_mask[i]) {
            o->x[i] = o->draw[i];
        } else if (in->forced[i] >= 0) {
            o->x[i] = in->forced[i];
        } else {
            uint32_t w = philox_word(in->seed, in->canvas, in->step, i, PHILOX_PURPOSE_RENOISE_ID);
            int32_t k = in->noise[i];
            o->x[i] = k >= 0 ? in->lists[in->list_off[k] +
                                         (int32_t)philox_id_from_word(
                                             w, (uint32_t)(in->list_off[k + 1] - in->list_off[k]))]
                             : (int32_t)philox_id_from_word(w, in->V);
        }
        hsum = hsum + o->H[i];
    }
    o->mean = hsum / (float)C;
    free(order);
    free(acc_mask);
}

static inline void ref_step(const step_in *in, step_out *o)
{
    uint32_t V = in->V, Vp = in->Vp, nc = (V + 1023) / 1024;
    float *z = malloc(V * sizeof(float)), *e = malloc(Vp * sizeof(float));
    float *e2 = malloc(Vp * sizeof(float)), *cs = malloc(nc * sizeof(float));
    for (uint32_t i = 0; i < in->C; i++) {
        const float *row = in->logits + (size_t)i * V;
        for (uint32_t v = 0; v < V; v++)
            z[v] = row[v] / in->tau;
        float u = philox_uniform(in->seed, in->canvas, in->step, i, PHILOX_PURPOSE_CATEGORICAL);
        const uint8_t *mask = step_mask(in, in->mask[i]);
        if (in->forced[i] >= 0)
            o->S[i] = sampler_position_forced(V, in->forced[i], e, cs, &o->H[i], &o->argmax[i],
                                              &o->draw[i]);
        else
            o->S[i] = sampler_position(z, V, mask, u, e, cs, &o->H[i], &o->argmax[i], &o->draw[i]);
        if (in->make_sc) { /* sampler.c: e / S of the unmasked statistics */
            float S = o->S[i];
            const float *ev = e;
            if (in->forced[i] >= 0 || mask) {
                float H;
                int32_t a, y;
                S = sampler_position(z, V, NULL, 0.5f, e2, cs, &H, &a, &y);
                ev = e2;
            }
            float *p = o->P + (size_t)i * Vp;
            for (uint32_t v = 0; v < V; v++)
                p[v] = ev[v] / S;
            for (uint32_t v = V; v < Vp; v++)
                p[v] = 0.0f;
        }
    }
    free(z), free(e), free(e2), free(cs);
    ref_finish(in, o);
}

/* ---- the kernels' decomposition on the CPU (cuda_sampler.cu: SMP_THREADS = 256) ---- */

#define EMU_THREADS 256u

/* block_argmax: a strided share per thread, then the shared-memory tree. */
static inline void emu_argmax(const float *row, uint32_t V, float tau, const uint8_t *mask,
                              float *m, int32_t *am)
{
    float val[EMU_THREADS];
    int32_t id[EMU_THREADS];
    for (uint32_t t = 0; t < EMU_THREADS; t++)
        ss_argmax_part(row, V, tau, mask, t, EMU_THREADS, &val[t], &id[t]);
    for (uint32_t o = EMU_THREADS / 2; o > 0; o >>= 1)
        for (uint32_t t = 0; t < o; t++)
            if (id[t + o] >= 0 && ss_better(val[t + o], id[t + o], val[t], id[t])) {
                val[t] = val[t + o];
                id[t] = id[t + o];
            }
    *m = val[0];
    *am = id[0];
}

/* block_chunk_sums: per chunk, 8 lane sums, then ss_combine8. */
static inline void emu_chunks(const float *row, uint32_t V, float tau, float m, const uint8_t *mask,
                              float *cs, float *zc)
{
    for (uint32_t ch = 0; ch < ss_chunks(V); ch++) {
        float ae[8], az[8];
        for (uint32_t l = 0; l < 8; l++) {
            az[l] = 0.0f;
            ss_lane_sums(row, V, ch, l, tau, m, mask, &ae[l], zc ? &az[l] : NULL);
        }
        cs[ch] = ss_combine8(ae);
        if (zc)
            zc[ch] = ss_combine8(az);
    }
}

static inline void emu_step(const step_in *in, step_out *o)
{
    uint32_t V = in->V, Vp = in->Vp, C = in->C, nch = ss_chunks(V);
    float *cs = malloc(2 * nch * sizeof(float)), *zc = cs + nch, *m = malloc(C * sizeof(float));
    for (uint32_t i = 0; i < C; i++) { /* k_sample_stats */
        const float *row = in->logits + (size_t)i * V;
        if (in->forced[i] >= 0) {
            ss_forced(&o->S[i], &o->H[i]);
            m[i] = 0.0f;
            o->argmax[i] = o->draw[i] = in->forced[i];
            continue;
        }
        const uint8_t *mask = step_mask(in, in->mask[i]);
        emu_argmax(row, V, in->tau, mask, &m[i], &o->argmax[i]);
        emu_chunks(row, V, in->tau, m[i], mask, cs, zc);
        float S = ss_fold(cs, nch), Z = ss_fold(zc, nch);
        float u = philox_uniform(in->seed, in->canvas, in->step, i, PHILOX_PURPOSE_CATEGORICAL);
        o->S[i] = S;
        o->H[i] = ss_entropy(S, Z);
        o->draw[i] = ss_draw(row, V, in->tau, m[i], mask, cs, S, u);
    }
    for (uint32_t i = 0; in->make_sc && i < C; i++) { /* k_sample_sc */
        const float *row = in->logits + (size_t)i * V;
        float mm = m[i], S = o->S[i];
        if (in->forced[i] >= 0 || in->mask[i] >= 0) {
            int32_t am;
            emu_argmax(row, V, in->tau, NULL, &mm, &am);
            emu_chunks(row, V, in->tau, mm, NULL, cs, NULL);
            S = ss_fold(cs, nch);
        }
        float *p = o->P + (size_t)i * Vp;
        for (uint32_t v = 0; v < Vp; v++)
            p[v] = v < V ? ss_sc_prob(row, v, in->tau, mm, S) : 0.0f;
    }
    /* k_sample_finish */
    int32_t *order = malloc(C * sizeof(int32_t));
    uint8_t *acc = malloc(C);
    for (uint32_t i = 0; i < C; i++)
        order[ss_rank(o->H, C, i)] = (int32_t)i;
    o->n_acc = ss_accept(o->H, order, C, in->bound, acc);
    o->mean = ss_mean(o->H, C);
    for (uint32_t i = 0; i < C; i++) {
        int32_t k = in->noise[i];
        const int32_t *list = k >= 0 ? in->lists + in->list_off[k] : NULL;
        uint32_t n = k >= 0 ? (uint32_t)(in->list_off[k + 1] - in->list_off[k]) : 0u;
        o->x[i] = ss_next_id(acc[i], o->draw[i], in->forced[i], list, n, V, in->seed, in->canvas,
                             in->step, i);
    }
    free(order), free(acc), free(cs), free(m);
}

#endif
