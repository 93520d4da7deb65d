#include "attest/trace.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void trace_init(sibyl_trace *t, size_t max_bytes)
{
    memset(t, 0, sizeof *t);
    t->max_bytes = max_bytes ? max_bytes : TRACE_DEFAULT_MAX_BYTES;
}

void trace_free(sibyl_trace *t)
{
    free(t->canvas);
    free(t->step);
    free(t->logits_hash);
    free(t->argmax);
    size_t max = t->max_bytes;
    trace_init(t, max);
}

void trace_reset(sibyl_trace *t)
{
    t->n_steps = 0;
    t->canvas_length = 0;
    t->truncated = 0;
}

static size_t step_bytes(uint32_t canvas_length)
{
    return 8 + 32 + (size_t)canvas_length * 4;
}

size_t trace_encoded_size(const sibyl_trace *t)
{
    return TRACE_HEADER_BYTES + (size_t)t->n_steps * step_bytes(t->canvas_length);
}

/* Grows the arrays to hold cap steps of canvas_length ids. 0 or -1. */
static int grow(sibyl_trace *t, uint32_t cap)
{
    uint32_t *c = realloc(t->canvas, (size_t)cap * sizeof *c);
    if (!c)
        return -1;
    t->canvas = c;
    uint32_t *s = realloc(t->step, (size_t)cap * sizeof *s);
    if (!s)
        return -1;
    t->step = s;
    uint8_t(*h)[32] = realloc(t->logits_hash, (size_t)cap * 32);
    if (!h)
        return -1;
    t->logits_hash = h;
    int32_t *a = realloc(t->argmax, (size_t)cap * t->canvas_length * sizeof *a);
    if (!a)
        return -1;
    t->argmax = a;
    t->cap = cap;
    return 0;
}

void trace_append(sibyl_trace *t, const engine_step *st)
{
    if (t->truncated || st->canvas < 0 || st->step < 0 || !st->canvas_length || !st->argmax)
        return;
    if (t->n_steps == 0 && t->canvas_length != st->canvas_length) {
        /* the storage was sized for another canvas length: start over */
        free(t->argmax);
        t->argmax = NULL;
        t->cap = 0;
        t->canvas_length = st->canvas_length;
    }
    if (st->canvas_length != t->canvas_length ||
        trace_encoded_size(t) + step_bytes(t->canvas_length) > t->max_bytes) {
        t->truncated = 1;
        return;
    }
    if (t->n_steps == t->cap && grow(t, t->cap ? t->cap * 2 : 64)) {
        t->truncated = 1;
        return;
    }
    uint32_t i = t->n_steps++;
    t->canvas[i] = (uint32_t)st->canvas;
    t->step[i] = (uint32_t)st->step;
    memcpy(t->logits_hash[i], st->logits_hash, 32);
    memcpy(t->argmax + (size_t)i * t->canvas_length, st->argmax,
           (size_t)t->canvas_length * sizeof(int32_t));
}

const int32_t *trace_argmax(const sibyl_trace *t, uint32_t i)
{
    return t->argmax + (size_t)i * t->canvas_length;
}

/* ---- binary form ---- */

static void put_u32(buf *b, uint32_t v)
{
    uint8_t w[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    buf_append(b, w, 4);
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

void trace_encode(const sibyl_trace *t, buf *out)
{
    buf_reserve(out, trace_encoded_size(t));
    buf_append(out, TRACE_MAGIC, 4);
    put_u32(out, TRACE_VERSION);
    put_u32(out, t->canvas_length);
    put_u32(out, t->n_steps);
    put_u32(out, t->truncated ? 1u : 0u);
    for (uint32_t i = 0; i < t->n_steps; i++) {
        put_u32(out, t->canvas[i]);
        put_u32(out, t->step[i]);
        buf_append(out, t->logits_hash[i], 32);
        const int32_t *a = trace_argmax(t, i);
        for (uint32_t k = 0; k < t->canvas_length; k++)
            put_u32(out, (uint32_t)a[k]);
    }
}

int trace_decode(const uint8_t *p, size_t n, sibyl_trace *t, char *err, size_t errlen)
{
    trace_init(t, 0);
    if (n < TRACE_HEADER_BYTES || memcmp(p, TRACE_MAGIC, 4)) {
        snprintf(err, errlen, "trace: not a trace (no \"%s\" header)", TRACE_MAGIC);
        return -1;
    }
    uint32_t version = get_u32(p + 4), cl = get_u32(p + 8), ns = get_u32(p + 12),
             flags = get_u32(p + 16);
    if (version != TRACE_VERSION) {
        snprintf(err, errlen, "trace: version %u, this build reads version %u", version,
                 TRACE_VERSION);
        return -1;
    }
    if (flags > 1) {
        snprintf(err, errlen, "trace: unknown flags 0x%x", flags);
        return -1;
    }
    if ((ns && !cl) || cl > (1u << 20)) {
        snprintf(err, errlen, "trace: canvas length %u is not plausible", cl);
        return -1;
    }
    size_t per = step_bytes(cl);
    if ((n - TRACE_HEADER_BYTES) / per < ns || n - TRACE_HEADER_BYTES != (size_t)ns * per) {
        snprintf(err, errlen, "trace: %zu bytes, but the header says %u steps of %zu bytes", n, ns,
                 per);
        return -1;
    }
    t->canvas_length = cl;
    t->truncated = (int)(flags & 1);
    t->max_bytes = n > TRACE_DEFAULT_MAX_BYTES ? n : TRACE_DEFAULT_MAX_BYTES;
    if (ns && grow(t, ns)) {
        trace_free(t);
        snprintf(err, errlen, "trace: out of memory for %u steps", ns);
        return -1;
    }
    const uint8_t *q = p + TRACE_HEADER_BYTES;
    for (uint32_t i = 0; i < ns; i++) {
        t->canvas[i] = get_u32(q);
        t->step[i] = get_u32(q + 4);
        memcpy(t->logits_hash[i], q + 8, 32);
        q += 40;
        int32_t *a = t->argmax + (size_t)i * cl;
        for (uint32_t k = 0; k < cl; k++, q += 4)
            a[k] = (int32_t)get_u32(q);
    }
    t->n_steps = ns;
    return 0;
}

/* ---- comparison ---- */

trace_diff_kind trace_compare(const sibyl_trace *rec, const sibyl_trace *rep, trace_diff *d)
{
    memset(d, 0, sizeof *d);
    d->n_recorded = rec->n_steps;
    d->n_replayed = rep->n_steps;
    if (rec->n_steps && rep->n_steps && rec->canvas_length != rep->canvas_length) {
        d->kind = TRACE_DIFF_CANVAS_LENGTH;
        return d->kind;
    }
    uint32_t n = rec->n_steps < rep->n_steps ? rec->n_steps : rep->n_steps;
    for (uint32_t i = 0; i < n; i++) {
        d->index = i;
        d->canvas = rec->canvas[i];
        d->step = rec->step[i];
        d->replayed_canvas = rep->canvas[i];
        d->replayed_step = rep->step[i];
        if (rec->canvas[i] != rep->canvas[i] || rec->step[i] != rep->step[i]) {
            d->kind = TRACE_DIFF_INDEX;
            return d->kind;
        }
        d->logits_differ = memcmp(rec->logits_hash[i], rep->logits_hash[i], 32) != 0;
        const int32_t *a = trace_argmax(rec, i), *b = trace_argmax(rep, i);
        for (uint32_t k = 0; k < rec->canvas_length; k++)
            if (a[k] != b[k]) {
                d->argmax_differ = 1;
                d->position = k;
                d->recorded_token = a[k];
                d->replayed_token = b[k];
                break;
            }
        if (d->logits_differ || d->argmax_differ) {
            d->kind = TRACE_DIFF_VALUES;
            return d->kind;
        }
    }
    /* equal over the common steps */
    if (rec->n_steps == rep->n_steps || (rec->truncated && rep->n_steps > rec->n_steps)) {
        d->kind = TRACE_SAME;
        return d->kind;
    }
    d->kind = TRACE_DIFF_LENGTH;
    d->index = n;
    if (rec->n_steps > n) {
        d->canvas = rec->canvas[n];
        d->step = rec->step[n];
    } else {
        d->canvas = d->replayed_canvas = rep->canvas[n];
        d->step = d->replayed_step = rep->step[n];
    }
    return d->kind;
}
