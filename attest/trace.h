/*
 * trace: what a replay compares, step by step. For every denoising step of a generation
 * (engine_step) it keeps the (canvas, step) index, the step's logits hash (engine_step) and the
 * argmax canvas. The node records one per answered request (in its journal, with the
 * attestation); `sibyl replay` records another while it re-runs the request and compares them.
 *
 * Binary form (all integers little-endian, whatever the host; docs/auditing.md):
 *     "STRC"  u32 version (1)  u32 canvas_length  u32 n_steps  u32 flags (bit 0: truncated)
 *     then n_steps times:  u32 canvas  u32 step  u8 logits_hash[32]  i32 argmax[canvas_length]
 * A trace is capped (max_bytes): a longer generation keeps its first steps and is marked
 * truncated, so a replay compares that prefix and then the output.
 *
 * Functions return 0 on success, -1 with a message in err.
 */
#ifndef SIBYL_ATTEST_TRACE_H
#define SIBYL_ATTEST_TRACE_H

#include <stddef.h>
#include <stdint.h>

#include "inference/engine.h"
#include "oracle/buf.h"

#define TRACE_MAGIC "STRC"
#define TRACE_VERSION 1u
#define TRACE_HEADER_BYTES 20
#define TRACE_DEFAULT_MAX_BYTES (64u << 20)

typedef struct {
    uint32_t canvas_length; /* 0 until the first step */
    uint32_t n_steps, cap;
    int truncated;    /* steps were dropped (cap reached or out of memory) */
    size_t max_bytes; /* encoded size limit */
    uint32_t *canvas, *step;
    uint8_t (*logits_hash)[32];
    int32_t *argmax; /* n_steps * canvas_length ids */
} sibyl_trace;

void trace_init(sibyl_trace *t, size_t max_bytes);
void trace_free(sibyl_trace *t);
/* Forgets the steps, keeps the storage (the node reuses one trace per request). */
void trace_reset(sibyl_trace *t);
/* Appends one step. Never fails visibly: a step that does not fit (cap, memory, a canvas
 * length other than the first step's) marks the trace truncated and is dropped. */
void trace_append(sibyl_trace *t, const engine_step *st);
/* The argmax canvas of step i. */
const int32_t *trace_argmax(const sibyl_trace *t, uint32_t i);
/* Size of the binary form. */
size_t trace_encoded_size(const sibyl_trace *t);

void trace_encode(const sibyl_trace *t, buf *out);
/* Decodes exactly p[0..n) (trace_init'ed here; trace_free it). */
int trace_decode(const uint8_t *p, size_t n, sibyl_trace *t, char *err, size_t errlen);

/* The first difference between a recorded trace and a replayed one. */
typedef enum {
    TRACE_SAME = 0,
    TRACE_DIFF_INDEX,        /* entry i is another (canvas, step) in the two traces */
    TRACE_DIFF_VALUES,       /* same (canvas, step), different logits hash and/or argmax canvas */
    TRACE_DIFF_LENGTH,       /* one trace ends early (the other made more steps) */
    TRACE_DIFF_CANVAS_LENGTH /* the traces have different canvas lengths */
} trace_diff_kind;

typedef struct {
    trace_diff_kind kind;
    uint32_t index;        /* the step entry (0-based) where they first differ */
    uint32_t canvas, step; /* recorded (canvas, step) at index (or the replayed one when the
                              recorded trace has ended) */
    uint32_t replayed_canvas, replayed_step;
    int logits_differ, argmax_differ;
    uint32_t position; /* first differing argmax position (argmax_differ) */
    int32_t recorded_token, replayed_token;
    uint32_t n_recorded, n_replayed;
} trace_diff;

/* Compares step by step. A truncated recorded trace is compared over its steps only. */
trace_diff_kind trace_compare(const sibyl_trace *recorded, const sibyl_trace *replayed,
                              trace_diff *d);

#endif
