/*
 * sibyl generate: run the diffusion engine on one prompt and print the answer.
 *
 * On a terminal the argmax canvas is redrawn after every denoising step (one line, cut to the
 * terminal width), so the text can be seen settling; otherwise one progress line per step goes
 * to stderr. The answer goes to stdout; `--trace-hash` adds a last line with the trace hash
 * (sha256 over every step's logits hash and the output tokens, docs/arithmetic.md).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "cli/commands.h"
#include "inference/engine.h"
#include "inference/tokenizer.h"

static void generate_usage(FILE *f)
{
    fprintf(f, "usage: sibyl generate -m MODEL.gguf -p PROMPT [options]\n"
               "  -m, --model FILE        GGUF model (arch diffusion-gemma)\n"
               "  -p, --prompt TEXT       the prompt\n"
               "      --chat              wrap the prompt in the Gemma 4 chat template\n"
               "      --system TEXT       system message (with --chat)\n"
               "      --seed N            64-bit seed (default 0)\n"
               "      --steps N           denoising steps per canvas (default: the model's)\n"
               "      --max-new-tokens N  (default: one canvas)\n"
               "      --threads N         CPU threads (default: all cores)\n"
               "      --backend cpu|cuda  (default cpu)\n"
               "      --trace-hash        print 'trace-hash: <hex>' as the last line\n"
               "      --quiet             no progress output\n"
               "      --kind KIND         one request of a request kind (text, chat, choice,\n"
               "                          number, bool, json) as the node runs it; see\n"
               "                          `sibyl generate --kind text --help`\n");
}

/* Parses an unsigned decimal number; -1 on junk or overflow beyond max. */
static int parse_u64(const char *s, unsigned long long max, unsigned long long *out)
{
    if (!s || !*s || *s == '-')
        return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || *end || v > max)
        return -1;
    *out = v;
    return 0;
}

typedef struct {
    const tokenizer *tok;
    int tty, quiet, width, steps;
} progress;

static int on_step(void *user, const engine_step *st)
{
    progress *pg = user;
    if (pg->quiet)
        return 0;
    if (!pg->tty) {
        fprintf(stderr, "canvas %d step %d/%d: accepted %u, mean entropy %.5f\n", st->canvas,
                st->step + 1, pg->steps, st->n_accepted, (double)st->mean_entropy);
        return 0;
    }
    char *text = NULL;
    size_t len = 0;
    char head[96];
    int hl = snprintf(head, sizeof head, "[%d:%2d/%d acc %3u H %.3f] ", st->canvas, st->step + 1,
                      pg->steps, st->n_accepted, (double)st->mean_entropy);
    fprintf(stderr, "\r\033[K%s", head);
    if (tok_decode(pg->tok, st->argmax, st->canvas_length, TOK_DECODE_SKIP_CONTROL, &text, &len,
                   NULL, 0) == 0) {
        int room = pg->width - hl - 1, shown = 0;
        for (size_t i = 0; i < len && shown < room; i++) {
            unsigned char c = (unsigned char)text[i];
            if (c < 0x20)
                c = ' ';
            if ((c & 0xC0) != 0x80)
                shown++;
            fputc(c, stderr);
        }
        free(text);
    }
    fflush(stderr);
    return 0;
}

int cmd_generate(int argc, char **argv)
{
    const char *model = NULL, *prompt = NULL, *system = NULL, *backend = "cpu";
    int chat = 0, trace = 0, quiet = 0;
    unsigned long long seed = 0, steps = 0, max_new = 0, threads = 0;
    int have_steps = 0, have_max = 0;
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--kind")) {
#ifdef SIBYL_WITH_NODE
            return generate_kind(argc, argv);
#else
            fprintf(stderr, "sibyl generate: --kind needs the node build (adapters/)\n");
            return 2;
#endif
        }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define NEEDV                                                                                      \
    if (!v) {                                                                                      \
        fprintf(stderr, "sibyl generate: %s needs a value\n", a);                                  \
        return 2;                                                                                  \
    }                                                                                              \
    i++;
#define NUM(dst, max)                                                                              \
    NEEDV if (parse_u64(v, max, &dst))                                                             \
    {                                                                                              \
        fprintf(stderr, "sibyl generate: %s: '%s' is not a number in 0..%llu\n", a, v,             \
                (unsigned long long)(max));                                                        \
        return 2;                                                                                  \
    }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            generate_usage(stdout);
            return 0;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            NEEDV model = v;
        } else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) {
            NEEDV prompt = v;
        } else if (!strcmp(a, "--system")) {
            NEEDV system = v;
        } else if (!strcmp(a, "--backend")) {
            NEEDV backend = v;
        } else if (!strcmp(a, "--seed")) {
            NUM(seed, UINT64_MAX);
        } else if (!strcmp(a, "--steps")) {
            NUM(steps, 1024);
            have_steps = 1;
        } else if (!strcmp(a, "--max-new-tokens")) {
            NUM(max_new, UINT32_MAX);
            have_max = 1;
        } else if (!strcmp(a, "--threads")) {
            NUM(threads, 1024);
        } else if (!strcmp(a, "--chat")) {
            chat = 1;
        } else if (!strcmp(a, "--trace-hash")) {
            trace = 1;
        } else if (!strcmp(a, "--quiet") || !strcmp(a, "-q")) {
            quiet = 1;
        } else {
            fprintf(stderr, "sibyl generate: unknown option '%s'\n", a);
            generate_usage(stderr);
            return 2;
        }
#undef NUM
#undef NEEDV
    }
    if (!model || !prompt) {
        fprintf(stderr, "sibyl generate: -m MODEL and -p PROMPT are required\n");
        generate_usage(stderr);
        return 2;
    }
    engine_options opt = {model, ENGINE_BACKEND_CPU, (int)threads};
    if (!strcmp(backend, "cuda"))
        opt.backend = ENGINE_BACKEND_CUDA;
    else if (strcmp(backend, "cpu")) {
        fprintf(stderr, "sibyl generate: --backend must be cpu or cuda, not '%s'\n", backend);
        return 2;
    }
    char err[512];
    engine *e;
    if (engine_open(&opt, &e, err, sizeof err)) {
        fprintf(stderr, "sibyl generate: %s\n", err);
        return 1;
    }
    const tokenizer *tok = engine_get_tokenizer(e);
    int32_t *ids = NULL;
    size_t n = 0;
    int rc;
    if (chat) {
        rc = tok_chat_prompt(tok, system, prompt, &ids, &n, err, sizeof err);
    } else {
        int32_t *body = NULL;
        size_t nb = 0;
        rc = tok_encode(tok, prompt, strlen(prompt), &body, &nb, err, sizeof err);
        if (!rc) {
            int bos = tok_add_bos(tok) && tok_bos(tok) >= 0;
            ids = malloc((nb + 1) * sizeof *ids);
            if (!ids) {
                rc = -1;
                snprintf(err, sizeof err, "out of memory");
            } else {
                if (bos)
                    ids[n++] = tok_bos(tok);
                memcpy(ids + n, body, nb * sizeof *ids);
                n += nb;
            }
        }
        free(body);
    }
    if (rc) {
        fprintf(stderr, "sibyl generate: tokenizing the prompt: %s\n", err);
        engine_close(e);
        return 1;
    }
    gen_params p;
    gen_params_default(e, &p);
    p.seed = seed;
    if (have_steps)
        p.max_steps = (uint32_t)steps;
    if (have_max)
        p.max_new_tokens = (uint32_t)max_new;
    progress pg = {tok, isatty(2), quiet, 100, (int)p.max_steps};
    struct winsize ws;
    if (pg.tty && ioctl(2, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20)
        pg.width = ws.ws_col;
    gen_result r;
    rc = engine_generate(e, ids, (uint32_t)n, &p, on_step, &pg, &r, err, sizeof err);
    free(ids);
    if (pg.tty && !quiet)
        fprintf(stderr, "\r\033[K");
    if (rc) {
        fprintf(stderr, "sibyl generate: %s\n", err);
        engine_close(e);
        return 1;
    }
    char *text = NULL;
    size_t len = 0;
    if (tok_decode(tok, r.tokens, r.n_tokens, TOK_DECODE_SKIP_CONTROL, &text, &len, err,
                   sizeof err)) {
        fprintf(stderr, "sibyl generate: decoding: %s\n", err);
        gen_result_free(&r);
        engine_close(e);
        return 1;
    }
    fwrite(text, 1, len, stdout);
    fputc('\n', stdout);
    free(text);
    if (!quiet)
        fprintf(stderr, "%u tokens, %u canvas(es), %u steps in %.3f s: %.1f tokens/s\n", r.n_tokens,
                r.n_canvases, r.n_steps, r.seconds, r.seconds > 0 ? r.n_tokens / r.seconds : 0.0);
    if (trace) {
        printf("trace-hash: ");
        for (int i = 0; i < 32; i++)
            printf("%02x", r.trace_hash[i]);
        printf("\n");
    }
    gen_result_free(&r);
    engine_close(e);
    return 0;
}
