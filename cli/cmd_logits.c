/*
 * sibyl logits: one decoder pass of the engine on given inputs, its canvas logits written as
 * raw little-endian float32 [n_canvas x vocab]. The engine side of the fidelity check
 * (tests/reference/fidelity.py, docs/fidelity.md), which compares these logits with the
 * numpy float reference for the same inputs.
 *
 *   sibyl logits -m MODEL --prompt-ids 2,105,... [--commit-ids ID,...]... --canvas-ids ID,...
 *                [--sc-logits FILE.f32] [--threads N] -o OUT.f32
 *
 * The prompt is encoded at positions 0..P-1, each --commit-ids canvas after it (in order, as
 * the sampler commits canvases), then the canvas is decoded at the next positions. With
 * --sc-logits, FILE holds the previous step's tempered logits z_prev [n_canvas x vocab] (what
 * the sampler keeps between steps): they become the self-conditioning probabilities exactly
 * as the sampler makes them (A9: sampler_position's chunked softmax, p = e / S).
 *
 * It uses the model and the CPU backend directly, not engine_open, so it needs no tokenizer
 * in the file (test models made by the reference's writer have none).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/commands.h"
#include "inference/backend.h"
#include "inference/model.h"
#include "inference/sampler.h"
#include "inference/threadpool.h"

static void logits_usage(FILE *f)
{
    fprintf(f, "usage: sibyl logits -m MODEL --prompt-ids IDS [--commit-ids IDS]... "
               "--canvas-ids IDS\n"
               "                    [--sc-logits FILE.f32] [--threads N] -o OUT.f32\n"
               "  IDS: comma-separated token ids. Writes the canvas logits, raw float32 "
               "[canvas x vocab].\n"
               "  --sc-logits: previous step's tempered logits (raw float32 [canvas x vocab]) "
               "for self-conditioning.\n");
}

typedef struct {
    int32_t *v;
    uint32_t n;
} id_list;

/* Parses "1,2,3" into a fresh array. Returns 0, or -1 with a message. */
static int parse_ids(const char *s, const char *what, id_list *out, char *err, size_t errlen)
{
    out->v = NULL;
    out->n = 0;
    size_t cap = 1;
    for (const char *p = s; *p; p++)
        cap += (*p == ',');
    out->v = malloc(cap * sizeof *out->v);
    if (!out->v) {
        snprintf(err, errlen, "%s: out of memory", what);
        return -1;
    }
    const char *p = s;
    while (*p) {
        char *end;
        errno = 0;
        long long x = strtoll(p, &end, 10);
        if (end == p || errno || x < 0 || x > INT32_MAX || (*end && *end != ',')) {
            snprintf(err, errlen, "%s: '%s' is not a list of token ids (at '%.20s')", what, s, p);
            free(out->v);
            out->v = NULL;
            return -1;
        }
        out->v[out->n++] = (int32_t)x;
        p = *end ? end + 1 : end;
    }
    return 0;
}

static int check_ids(const id_list *l, uint32_t vocab, const char *what, char *err, size_t errlen)
{
    for (uint32_t i = 0; i < l->n; i++)
        if ((uint32_t)l->v[i] >= vocab) {
            snprintf(err, errlen, "%s: id %d at index %u is outside the vocabulary (%u)", what,
                     l->v[i], i, vocab);
            return -1;
        }
    return 0;
}

/* Reads n floats exactly from path. */
static int read_f32(const char *path, float *out, size_t n, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    size_t got = fread(out, sizeof(float), n, f);
    int extra = fgetc(f) != EOF;
    fclose(f);
    if (got != n || extra) {
        snprintf(err, errlen, "%s: expected exactly %zu float32 values (canvas x vocab)%s", path, n,
                 extra ? ", the file is longer" : "");
        return -1;
    }
    return 0;
}

/* The SC probabilities from tempered logits z [n x V] the way the sampler makes them. */
static int sc_probs_from_logits(const float *z, uint32_t n, uint32_t V, uint32_t Vp, float *probs,
                                char *err, size_t errlen)
{
    uint32_t nc = (V + 1023) / 1024;
    float *chunks = malloc((size_t)nc * sizeof *chunks);
    if (!chunks) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (uint32_t i = 0; i < n; i++) {
        const float *zi = z + (size_t)i * V;
        float *p = probs + (size_t)i * Vp;
        for (uint32_t v = 0; v < V; v++)
            if (!(zi[v] == zi[v]) || zi[v] > 3.0e38f || zi[v] < -3.0e38f) {
                snprintf(err, errlen, "--sc-logits: row %u id %u is not a finite number", i, v);
                free(chunks);
                return -1;
            }
        float H;
        int32_t am, drawn;
        float S = sampler_position(zi, V, NULL, 0.0f, p, chunks, &H, &am, &drawn);
        for (uint32_t v = 0; v < V; v++)
            p[v] = p[v] / S;
        for (uint32_t v = V; v < Vp; v++)
            p[v] = 0.0f;
    }
    free(chunks);
    return 0;
}

int cmd_logits(int argc, char **argv)
{
    const char *model_path = NULL, *prompt_s = NULL, *canvas_s = NULL, *sc_path = NULL;
    const char *out_path = NULL;
    const char *commit_s[64];
    int n_commit = 0;
    long threads = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            logits_usage(stdout);
            return 0;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "sibyl logits: option '%s' needs a value (or is unknown)\n", a);
            logits_usage(stderr);
            return 2;
        }
        const char *v = argv[++i];
        if (!strcmp(a, "-m") || !strcmp(a, "--model"))
            model_path = v;
        else if (!strcmp(a, "--prompt-ids"))
            prompt_s = v;
        else if (!strcmp(a, "--canvas-ids"))
            canvas_s = v;
        else if (!strcmp(a, "--commit-ids")) {
            if (n_commit == (int)(sizeof commit_s / sizeof commit_s[0])) {
                fprintf(stderr, "sibyl logits: at most 64 --commit-ids\n");
                return 2;
            }
            commit_s[n_commit++] = v;
        } else if (!strcmp(a, "--sc-logits"))
            sc_path = v;
        else if (!strcmp(a, "-o") || !strcmp(a, "--out"))
            out_path = v;
        else if (!strcmp(a, "--threads")) {
            char *end;
            errno = 0;
            threads = strtol(v, &end, 10);
            if (*end || errno || threads < 0 || threads > 1024) {
                fprintf(stderr, "sibyl logits: --threads '%s' is not 0..1024\n", v);
                return 2;
            }
        } else {
            fprintf(stderr, "sibyl logits: unknown option '%s'\n", a);
            logits_usage(stderr);
            return 2;
        }
    }
    if (!model_path || !prompt_s || !canvas_s || !out_path) {
        fprintf(stderr, "sibyl logits: -m, --prompt-ids, --canvas-ids and -o are required\n");
        logits_usage(stderr);
        return 2;
    }

    char err[512] = "";
    int rc = 1;
    id_list prompt = {0}, canvas = {0}, commits[64];
    memset(commits, 0, sizeof commits);
    threadpool *tp = NULL;
    model *m = NULL;
    const backend_ops *ops = cpu_backend();
    void *state = NULL;
    float *sc = NULL, *probs = NULL, *logits = NULL;
    FILE *out = NULL;

    if (parse_ids(prompt_s, "--prompt-ids", &prompt, err, sizeof err) ||
        parse_ids(canvas_s, "--canvas-ids", &canvas, err, sizeof err))
        goto done;
    for (int c = 0; c < n_commit; c++)
        if (parse_ids(commit_s[c], "--commit-ids", &commits[c], err, sizeof err))
            goto done;
    if (!prompt.n || !canvas.n) {
        snprintf(err, sizeof err, "the prompt and the canvas need at least one id each");
        goto done;
    }
    if (threads == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        threads = n > 0 ? n : 1;
    }
    if (!(tp = tp_create((int)threads, err, sizeof err)))
        goto done;
    if (model_load(model_path, tp, &m, err, sizeof err))
        goto done;
    const model_hparams *hp = &m->hp;
    if (check_ids(&prompt, hp->vocab, "--prompt-ids", err, sizeof err) ||
        check_ids(&canvas, hp->vocab, "--canvas-ids", err, sizeof err))
        goto done;
    uint64_t total = prompt.n + canvas.n;
    for (int c = 0; c < n_commit; c++) {
        if (check_ids(&commits[c], hp->vocab, "--commit-ids", err, sizeof err))
            goto done;
        total += commits[c].n;
    }
    if (canvas.n > hp->canvas_length) {
        snprintf(err, sizeof err, "canvas of %u ids is longer than the model's canvas_length %u",
                 canvas.n, hp->canvas_length);
        goto done;
    }
    if (hp->context_length && total > hp->context_length) {
        snprintf(err, sizeof err, "%llu positions exceed the model's context length %u",
                 (unsigned long long)total, hp->context_length);
        goto done;
    }
    size_t nv = (size_t)canvas.n * hp->vocab;
    if (sc_path) {
        sc = malloc(nv * sizeof *sc);
        probs = malloc((size_t)canvas.n * hp->vocab_pad * sizeof *probs);
        if (!sc || !probs) {
            snprintf(err, sizeof err, "out of memory for the SC input");
            goto done;
        }
        if (read_f32(sc_path, sc, nv, err, sizeof err) ||
            sc_probs_from_logits(sc, canvas.n, hp->vocab, hp->vocab_pad, probs, err, sizeof err))
            goto done;
    }
    if (!(logits = malloc(nv * sizeof *logits))) {
        snprintf(err, sizeof err, "out of memory for the logits");
        goto done;
    }
    if (ops->create(m, tp, &state, err, sizeof err) ||
        ops->reset(state, (uint32_t)total, err, sizeof err) ||
        ops->encode(state, prompt.v, prompt.n, 0, err, sizeof err))
        goto done;
    uint32_t pos = prompt.n;
    for (int c = 0; c < n_commit; c++) {
        if (ops->encode(state, commits[c].v, commits[c].n, pos, err, sizeof err))
            goto done;
        pos += commits[c].n;
    }
    if (ops->decode(state, canvas.v, canvas.n, pos, probs, logits, err, sizeof err))
        goto done;
    if (!(out = fopen(out_path, "wb"))) {
        snprintf(err, sizeof err, "%s: %s", out_path, strerror(errno));
        goto done;
    }
    if (fwrite(logits, sizeof(float), nv, out) != nv || fclose(out)) {
        out = NULL;
        snprintf(err, sizeof err, "%s: write failed: %s", out_path, strerror(errno));
        goto done;
    }
    out = NULL;
    rc = 0;
done:
    if (rc)
        fprintf(stderr, "sibyl logits: %s\n", err[0] ? err : "failed");
    if (out)
        fclose(out);
    if (state)
        ops->destroy(state);
    model_free(m);
    tp_destroy(tp);
    free(prompt.v);
    free(canvas.v);
    for (int c = 0; c < n_commit; c++)
        free(commits[c].v);
    free(sc);
    free(probs);
    free(logits);
    return rc;
}
