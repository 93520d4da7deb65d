/*
 * sibyl generate --kind K: one request of a request kind (adapters/, docs/operating.md "Request
 * kinds") run exactly as the node runs it: the kind's fields are ABI-encoded into the request's
 * input, the options into its params, the adapter answers or rejects, and the answer is printed
 * decoded (an index, a number, true/false, text or JSON). Needs the node build (adapters/).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/adapter.h"
#include "cli/commands.h"
#include "oracle/abi.h"

static void kind_usage(FILE *f)
{
    fprintf(f, "usage: sibyl generate --kind KIND -m MODEL.gguf [fields] [options]\n"
               "  KIND and its fields:\n"
               "    text    -p PROMPT\n"
               "    chat    [--system TEXT] [--turn user:TEXT|model:TEXT]... -p LAST_USER_MESSAGE\n"
               "    choice  -p PROMPT --option TEXT --option TEXT ... (2..26)\n"
               "    number  -p PROMPT --min N --max N\n"
               "    bool    -p PROMPT\n"
               "    json    -p PROMPT [--schema '{\"key\": \"string|number|bool\", ...}']\n"
               "  options: --seed N, --steps N, --max-new-tokens N (the request's params),\n"
               "           --threads N, --backend cpu|cuda, --hex (also print the output bytes)\n");
}

static int parse_num(const char *s, long long lo, long long hi, long long *out)
{
    if (!s || !*s)
        return -1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int list_of(abi_value *v, const char *const *s, size_t n)
{
    if (abi_value_list(v, ABI_ARRAY, n))
        return -1;
    for (size_t i = 0; i < n; i++)
        if (abi_value_string(&v->items[i], s[i]))
            return -1;
    return 0;
}

int generate_kind(int argc, char **argv)
{
    const char *kind = NULL, *model = NULL, *prompt = NULL, *system = NULL, *schema = "";
    const char *backend = "cpu";
    long long seed = 0, steps = 0, max_new = 0, threads = 0, lo = 0, hi = 0;
    int have_lo = 0, have_hi = 0, hex = 0;
    const char **opts = calloc((size_t)argc, sizeof *opts);
    const char **roles = calloc((size_t)argc + 2, sizeof *roles);
    const char **texts = calloc((size_t)argc + 2, sizeof *texts);
    size_t n_opts = 0, n_turns = 0;
    int rc = 2;
    abi_value v;
    memset(&v, 0, sizeof v);
    abi_type *t = NULL;
    buf in, params;
    buf_init(&in);
    buf_init(&params);
    engine *e = NULL;
    if (!opts || !roles || !texts) {
        fprintf(stderr, "sibyl generate: out of memory\n");
        goto out;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        int takes = strcmp(a, "--hex") != 0 && strcmp(a, "-h") != 0 && strcmp(a, "--help") != 0 &&
                    strcmp(a, "--quiet") != 0 && strcmp(a, "-q") != 0;
        if (takes && !val) {
            fprintf(stderr, "sibyl generate: %s needs a value\n", a);
            goto out;
        }
        long long *num = NULL, nlo = 0, nhi = 0;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            kind_usage(stdout);
            rc = 0;
            goto out;
        } else if (!strcmp(a, "--hex")) {
            hex = 1;
            continue;
        } else if (!strcmp(a, "--quiet") || !strcmp(a, "-q")) {
            continue; /* the kinds print nothing but the answer anyway */
        } else if (!strcmp(a, "--kind")) {
            kind = val;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            model = val;
        } else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) {
            prompt = val;
        } else if (!strcmp(a, "--system")) {
            system = val;
        } else if (!strcmp(a, "--schema")) {
            schema = val;
        } else if (!strcmp(a, "--backend")) {
            backend = val;
        } else if (!strcmp(a, "--option")) {
            opts[n_opts++] = val;
        } else if (!strcmp(a, "--turn")) {
            const char *c = strchr(val, ':');
            if (!c || (strncmp(val, "user:", 5) && strncmp(val, "model:", 6))) {
                fprintf(stderr, "sibyl generate: --turn takes user:TEXT or model:TEXT\n");
                goto out;
            }
            roles[n_turns] = val[0] == 'u' ? "user" : "model";
            texts[n_turns++] = c + 1;
        } else if (!strcmp(a, "--seed")) {
            num = &seed, nlo = 0, nhi = INT64_MAX;
        } else if (!strcmp(a, "--steps")) {
            num = &steps, nlo = 0, nhi = UINT32_MAX;
        } else if (!strcmp(a, "--max-new-tokens")) {
            num = &max_new, nlo = 0, nhi = UINT32_MAX;
        } else if (!strcmp(a, "--threads")) {
            num = &threads, nlo = 0, nhi = 1024;
        } else if (!strcmp(a, "--min")) {
            num = &lo, nlo = INT64_MIN, nhi = INT64_MAX, have_lo = 1;
        } else if (!strcmp(a, "--max")) {
            num = &hi, nlo = INT64_MIN, nhi = INT64_MAX, have_hi = 1;
        } else {
            fprintf(stderr, "sibyl generate: unknown option '%s'\n", a);
            kind_usage(stderr);
            goto out;
        }
        if (num && parse_num(val, nlo, nhi, num)) {
            fprintf(stderr, "sibyl generate: %s: '%s' is not a number in %lld..%lld\n", a, val, nlo,
                    nhi);
            goto out;
        }
        i++;
    }
    if (!kind || !model || !prompt) {
        fprintf(stderr, "sibyl generate: --kind, -m MODEL and -p PROMPT are required\n");
        kind_usage(stderr);
        goto out;
    }
    uint8_t name[32] = {0};
    const adapter_def *ad = NULL;
    if (strlen(kind) <= 32) {
        memcpy(name, kind, strlen(kind));
        ad = adapter_find(name);
    }
    if (!ad) {
        fprintf(stderr,
                "sibyl generate: unknown kind '%s' (text, chat, choice, number, bool, json)\n",
                kind);
        goto out;
    }

    /* The request's input in the kind's encoding. */
    char err[512];
    const char *type = NULL;
    int bad = 0;
    if (!strcmp(kind, "text")) {
        buf_append(&in, prompt, strlen(prompt));
    } else if (!strcmp(kind, "chat")) {
        /* system first, then the turns, then -p as the last user message */
        size_t n = 0;
        const char **r = calloc(n_turns + 2, sizeof *r), **c = calloc(n_turns + 2, sizeof *c);
        if (!r || !c) {
            free(r);
            free(c);
            fprintf(stderr, "sibyl generate: out of memory\n");
            goto out;
        }
        if (system)
            r[n] = "system", c[n++] = system;
        for (size_t i = 0; i < n_turns; i++)
            r[n] = roles[i], c[n++] = texts[i];
        r[n] = "user", c[n++] = prompt;
        bad = abi_value_list(&v, ABI_TUPLE, 2) || list_of(&v.items[0], r, n) ||
              list_of(&v.items[1], c, n);
        free(r);
        free(c);
        type = "(string[],string[])";
    } else if (!strcmp(kind, "choice")) {
        bad = abi_value_list(&v, ABI_TUPLE, 2) || abi_value_string(&v.items[0], prompt) ||
              list_of(&v.items[1], opts, n_opts);
        type = "(string,string[])";
    } else if (!strcmp(kind, "number")) {
        if (!have_lo || !have_hi) {
            fprintf(stderr, "sibyl generate: --kind number needs --min and --max\n");
            goto out;
        }
        bad = abi_value_list(&v, ABI_TUPLE, 3) || abi_value_string(&v.items[0], prompt);
        if (!bad) {
            abi_value_int(&v.items[1], lo);
            abi_value_int(&v.items[2], hi);
        }
        type = "(string,int256,int256)";
    } else if (!strcmp(kind, "bool")) {
        bad = abi_value_list(&v, ABI_TUPLE, 1) || abi_value_string(&v.items[0], prompt);
        type = "(string)";
    } else {
        bad = abi_value_list(&v, ABI_TUPLE, 2) || abi_value_string(&v.items[0], prompt) ||
              abi_value_string(&v.items[1], schema);
        type = "(string,string)";
    }
    if (bad ||
        (type &&
         (abi_type_parse(type, &t, err, sizeof err) || abi_encode(t, &v, &in, err, sizeof err))) ||
        buf_ok(&in)) {
        fprintf(stderr, "sibyl generate: encoding the %s input failed\n", kind);
        rc = 1;
        goto out;
    }
    if (steps || max_new) { /* abi.encode(uint32 maxNewTokens, uint32 steps) */
        buf_zeros(&params, 64);
        if (buf_ok(&params)) {
            fprintf(stderr, "sibyl generate: out of memory\n");
            rc = 1;
            goto out;
        }
        for (int b = 0; b < 4; b++) {
            params.data[31 - b] = (uint8_t)((unsigned long long)max_new >> (8 * b));
            params.data[63 - b] = (uint8_t)((unsigned long long)steps >> (8 * b));
        }
    }

    engine_options eo = {model, ENGINE_BACKEND_CPU, (int)threads};
    if (!strcmp(backend, "cuda"))
        eo.backend = ENGINE_BACKEND_CUDA;
    else if (strcmp(backend, "cpu")) {
        fprintf(stderr, "sibyl generate: --backend must be cpu or cuda, not '%s'\n", backend);
        goto out;
    }
    if (engine_open(&eo, &e, err, sizeof err)) {
        fprintf(stderr, "sibyl generate: %s\n", err);
        rc = 1;
        goto out;
    }
    adapter_job job = {e, (uint64_t)seed, in.data, in.len, params.data, params.len, NULL, NULL};
    adapter_result res;
    err[0] = 0;
    if (ad->run(&job, &res, err, sizeof err)) {
        fprintf(stderr, "sibyl generate: %s\n", err);
        rc = 1;
        goto out;
    }
    if (res.reject_code) {
        printf("rejected: %d %s\n", res.reject_code, reject_code_name(res.reject_code));
        fprintf(stderr, "sibyl generate: %s: %s\n", kind, err);
        rc = 1;
        goto out;
    }
    if (res.output_len == 32 &&
        (!strcmp(kind, "choice") || !strcmp(kind, "number") || !strcmp(kind, "bool"))) {
        uint64_t u = 0;
        for (int i = 24; i < 32; i++)
            u = u << 8 | res.output[i];
        if (!strcmp(kind, "choice"))
            printf("%llu %s\n", (unsigned long long)u, u < n_opts ? opts[u] : "(not an option?)");
        else if (!strcmp(kind, "number"))
            printf("%lld\n", (long long)(int64_t)u);
        else
            printf("%s\n", u ? "true" : "false");
    } else {
        fwrite(res.output, 1, res.output_len, stdout);
        fputc('\n', stdout);
    }
    if (hex) {
        printf("output: 0x");
        for (size_t i = 0; i < res.output_len; i++)
            printf("%02x", res.output[i]);
        printf("\n");
    }
    fprintf(stderr, "%u tokens in %.3f s\n", res.n_tokens, res.engine_seconds);
    adapter_result_free(&res);
    rc = 0;
out:
    engine_close(e);
    abi_type_free(t);
    abi_value_free(&v);
    buf_free(&in);
    buf_free(&params);
    free(opts);
    free(roles);
    free(texts);
    return rc;
}
