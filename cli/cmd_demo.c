/*
 * sibyl eval-demo: exact-match accuracy of a model on a file of questions with known answers.
 *
 * The file has one example per line, "QUESTION<TAB>ANSWER". Each question goes through the
 * Gemma 4 chat template (one user turn, no system prompt, thinking off: what the node's text
 * adapter sends), the engine generates with the model's default sampler settings and seed
 * BASE+LINE (line counted from 0), and the decoded answer (control tokens skipped, surrounding
 * whitespace removed) must equal ANSWER byte for byte. The model is loaded once.
 *
 * The last line printed is "accuracy: N/M". With --min N the exit status is 1 when fewer than
 * N answers are right. --ids prints the prompt token ids instead of generating (the training
 * script checks its own tokenization against these).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "inference/engine.h"
#include "inference/gguf.h"
#include "inference/tokenizer.h"

static void eval_demo_usage(FILE *f)
{
    fprintf(f, "usage: sibyl eval-demo -m MODEL.gguf -f EXAMPLES.tsv [options]\n"
               "  -m, --model FILE     GGUF model (arch diffusion-gemma)\n"
               "  -f, --file FILE      one example per line: QUESTION<TAB>ANSWER\n"
               "      --limit N        use only the first N examples\n"
               "      --seed N         seed of the first example; example i uses N+i (default 0)\n"
               "      --threads N      CPU threads (default 1)\n"
               "      --min N          exit 1 if fewer than N answers are right\n"
               "  -v, --verbose        one line per example\n"
               "      --ids            print the prompt token ids of each question and stop\n");
}

static int parse_count(const char *s, unsigned long long max, unsigned long long *out)
{
    if (!s || !*s || *s == '-')
        return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v > max)
        return -1;
    *out = v;
    return 0;
}

/* Removes leading and trailing ASCII whitespace in place; returns the new start. */
static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
        s[--n] = 0;
    return s;
}

/* Prompt ids of question q: chat template, as the node's text adapter builds them. */
static int prompt_ids(const tokenizer *tok, const char *q, int32_t **ids, size_t *n, char *err,
                      size_t errlen)
{
    return tok_chat_prompt(tok, NULL, q, ids, n, err, errlen);
}

/* --ids needs only the tokenizer, so it works on any GGUF with a vocabulary. */
static int open_tokenizer(const char *path, gguf_file **g, tokenizer **tok, char *err,
                          size_t errlen)
{
    if (gguf_open(path, g, err, errlen))
        return -1;
    if (tokenizer_from_gguf(*g, tok, err, errlen)) {
        gguf_close(*g);
        return -1;
    }
    return 0;
}

int cmd_eval_demo(int argc, char **argv)
{
    const char *model = NULL, *file = NULL;
    unsigned long long limit = ~0ULL, seed = 0, threads = 1, min = 0;
    int verbose = 0, ids_only = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        unsigned long long *num = NULL, max = 0;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            eval_demo_usage(stdout);
            return 0;
        } else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
            verbose = 1;
            continue;
        } else if (!strcmp(a, "--ids")) {
            ids_only = 1;
            continue;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model") || !strcmp(a, "-f") ||
                   !strcmp(a, "--file")) {
            if (!v) {
                fprintf(stderr, "sibyl eval-demo: %s needs a value\n", a);
                return 2;
            }
            if (!strcmp(a, "-m") || !strcmp(a, "--model"))
                model = v;
            else
                file = v;
            i++;
            continue;
        } else if (!strcmp(a, "--limit")) {
            num = &limit, max = ~0ULL;
        } else if (!strcmp(a, "--seed")) {
            num = &seed, max = ~0ULL;
        } else if (!strcmp(a, "--threads")) {
            num = &threads, max = 1024;
        } else if (!strcmp(a, "--min")) {
            num = &min, max = ~0ULL;
        } else {
            fprintf(stderr, "sibyl eval-demo: unknown option '%s'\n", a);
            eval_demo_usage(stderr);
            return 2;
        }
        if (!v || parse_count(v, max, num)) {
            fprintf(stderr, "sibyl eval-demo: %s needs a number in 0..%llu\n", a, max);
            return 2;
        }
        i++;
    }
    if (!model || !file) {
        eval_demo_usage(stderr);
        return 2;
    }
    FILE *in = fopen(file, "r");
    if (!in) {
        fprintf(stderr, "sibyl eval-demo: cannot open '%s': %s\n", file, strerror(errno));
        return 1;
    }
    char err[512];
    engine *e = NULL;
    gguf_file *g = NULL;
    tokenizer *own_tok = NULL;
    const tokenizer *tok;
    if (ids_only) {
        if (open_tokenizer(model, &g, &own_tok, err, sizeof err)) {
            fprintf(stderr, "sibyl eval-demo: %s: %s\n", model, err);
            fclose(in);
            return 1;
        }
        tok = own_tok;
    } else {
        engine_options opt = {model, ENGINE_BACKEND_CPU, (int)threads};
        if (engine_open(&opt, &e, err, sizeof err)) {
            fprintf(stderr, "sibyl eval-demo: %s\n", err);
            fclose(in);
            return 1;
        }
        tok = engine_get_tokenizer(e);
    }
    gen_params p;
    if (e)
        gen_params_default(e, &p);
    char *line = NULL;
    size_t cap = 0;
    unsigned long long n = 0, right = 0, lineno = 0;
    int rc = 0;
    double seconds = 0;
    unsigned long long steps = 0;
    while (n < limit && getline(&line, &cap, in) >= 0) {
        lineno++;
        char *tab = strchr(line, '\t');
        if (!tab) {
            if (*trim(line) == 0)
                continue; /* blank line */
            fprintf(stderr, "sibyl eval-demo: %s:%llu: no TAB between question and answer\n", file,
                    lineno);
            rc = 1;
            break;
        }
        *tab = 0;
        char *q = trim(line), *want = trim(tab + 1);
        int32_t *ids = NULL;
        size_t nids = 0;
        if (prompt_ids(tok, q, &ids, &nids, err, sizeof err)) {
            fprintf(stderr, "sibyl eval-demo: %s:%llu: tokenizing: %s\n", file, lineno, err);
            rc = 1;
            break;
        }
        if (ids_only) {
            printf("prompt:");
            for (size_t j = 0; j < nids; j++)
                printf(" %d", ids[j]);
            printf("\n");
            free(ids);
            n++;
            continue;
        }
        p.seed = seed + n;
        gen_result r;
        if (engine_generate(e, ids, (uint32_t)nids, &p, NULL, NULL, &r, err, sizeof err)) {
            fprintf(stderr, "sibyl eval-demo: %s:%llu: %s\n", file, lineno, err);
            free(ids);
            rc = 1;
            break;
        }
        free(ids);
        char *text = NULL;
        size_t len = 0;
        if (tok_decode(tok, r.tokens, r.n_tokens, TOK_DECODE_SKIP_CONTROL, &text, &len, err,
                       sizeof err)) {
            fprintf(stderr, "sibyl eval-demo: %s:%llu: decoding: %s\n", file, lineno, err);
            gen_result_free(&r);
            rc = 1;
            break;
        }
        char *got = trim(text);
        int ok = strcmp(got, want) == 0;
        right += (unsigned long long)ok;
        seconds += r.seconds;
        steps += r.n_steps;
        if (verbose)
            printf("%s %s = %s%s%s (%u steps)\n", ok ? "ok   " : "WRONG", q, got,
                   ok ? "" : ", expected ", ok ? "" : want, r.n_steps);
        free(text);
        gen_result_free(&r);
        n++;
    }
    free(line);
    fclose(in);
    if (e)
        engine_close(e);
    if (own_tok)
        tok_free(own_tok);
    if (g)
        gguf_close(g);
    if (rc || ids_only)
        return rc;
    if (n == 0) {
        fprintf(stderr, "sibyl eval-demo: %s has no examples\n", file);
        return 1;
    }
    printf("%llu examples, %.2f denoising steps per answer, %.2f ms per answer\n", n,
           (double)steps / (double)n, 1e3 * seconds / (double)n);
    printf("accuracy: %llu/%llu\n", right, n);
    return right < min ? 1 : 0;
}
