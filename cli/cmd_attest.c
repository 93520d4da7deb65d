/*
 * The auditor's tools (docs/auditing.md):
 *   sibyl attest verify <tx | id> --rpc URL --oracle ADDR    every check of a request's answer
 *   sibyl attest export [--journal DIR | -c CONF] [-o FILE]   the node's attestations, JSON lines
 *   sibyl replay <tx | id> -m MODEL --rpc URL --oracle ADDR  re-run from chain data
 *   sibyl replay --record FILE [--line N | --id ID] -m MODEL re-run from an exported record
 *
 * Exit codes (all of them): 0 OK / MATCH, 1 a check failed / MISMATCH, 2 usage, I/O or RPC
 * error, 3 no such request or not answered yet, 4 (replay) the model file is not the attested
 * model ("model differs").
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <curl/curl.h>

#include "attest/attestation.h"
#include "attest/chain.h"
#include "attest/record.h"
#include "attest/replay.h"
#include "cli/commands.h"
#include "inference/engine.h"
#include "oracle/config.h"
#include "oracle/hex.h"
#include "oracle/journal.h"
#include "oracle/secp.h"

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2, EXIT_NOT_FOUND = 3, EXIT_MODEL_DIFFERS = 4 };

static int parse_u64(const char *s, unsigned long long *out)
{
    char *end;
    errno = 0;
    if (!*s || *s == '-')
        return -1;
    *out = strtoull(s, &end, 10);
    return errno || *end ? -1 : 0;
}

/* ---- attest verify ---- */

static void verify_usage(FILE *f)
{
    fprintf(f,
            "usage: sibyl attest verify <tx hash | request id> --rpc URL --oracle ADDRESS\n"
            "                           [--from-block N]\n\n"
            "Checks a request's answer from chain data alone: the InferenceRequested event, every\n"
            "vote (fulfill / attest / reject calldata) and the oracle's views. Recomputes\n"
            "inputHash, paramsHash, outputHash and the EIP-712 digest, recovers the signer and\n"
            "checks it is a registered node and that modelHash is the registry's hash for the\n"
            "modelId. A tx hash may be the request's transaction or one that answered it.\n\n"
            "exit: 0 every check OK, 1 a check FAILed, 2 usage/RPC error, 3 no such request or\n"
            "not answered yet\n");
}

static int verify_main(int argc, char **argv)
{
    const char *ref = NULL, *rpc_url = NULL, *oracle_s = NULL;
    unsigned long long from = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            verify_usage(stdout);
            return EXIT_OK;
        } else if (!strcmp(a, "--rpc") && i + 1 < argc) {
            rpc_url = argv[++i];
        } else if (!strcmp(a, "--oracle") && i + 1 < argc) {
            oracle_s = argv[++i];
        } else if (!strcmp(a, "--from-block") && i + 1 < argc) {
            if (parse_u64(argv[++i], &from)) {
                fprintf(stderr, "sibyl attest verify: --from-block needs a block number\n");
                return EXIT_USAGE;
            }
        } else if (a[0] != '-' && !ref) {
            ref = a;
        } else {
            fprintf(stderr, "sibyl attest verify: unexpected argument '%s'\n", a);
            verify_usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (!ref || !rpc_url || !oracle_s) {
        fprintf(stderr, "sibyl attest verify: needs a tx hash or request id, --rpc and --oracle\n");
        verify_usage(stderr);
        return EXIT_USAGE;
    }
    char err[1024];
    uint8_t oracle[20];
    if (eth_address_parse(oracle_s, oracle, err, sizeof err)) {
        fprintf(stderr, "sibyl attest verify: --oracle: %s\n", err);
        return EXIT_USAGE;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    rpc_client *rpc = rpc_client_new(rpc_url, NULL, err, sizeof err);
    if (!rpc) {
        fprintf(stderr, "sibyl attest verify: %s\n", err);
        curl_global_cleanup();
        return EXIT_USAGE;
    }
    chain_request c;
    int rc = chain_fetch(rpc, oracle, ref, from, &c, err, sizeof err);
    int result;
    if (rc == CHAIN_NOT_FOUND) {
        fprintf(stderr, "sibyl attest verify: %s\n", err);
        result = EXIT_NOT_FOUND;
    } else if (rc) {
        fprintf(stderr, "sibyl attest verify: %s\n", err);
        result = EXIT_USAGE;
    } else if (c.n_votes == 0) {
        u256 id;
        memcpy(id.b, c.req.request_id, 32);
        char dec[U256_DEC_MAX];
        u256_to_dec(&id, dec);
        fprintf(stderr,
                "sibyl attest verify: request %s exists (block %llu, status %s) but has no "
                "answer yet: nothing to verify\n",
                dec, (unsigned long long)c.req.block_number, chain_status_name(c.status));
        result = EXIT_NOT_FOUND;
    } else {
        int fails = chain_verify(rpc, &c, stdout, err, sizeof err);
        if (fails < 0) {
            fprintf(stderr, "sibyl attest verify: %s\n", err);
            result = EXIT_USAGE;
        } else if (fails) {
            printf("FAIL: %d check(s) failed\n", fails);
            result = EXIT_FAIL;
        } else {
            printf("OK: every check passed\n");
            result = EXIT_OK;
        }
    }
    if (rc == CHAIN_OK)
        chain_request_free(&c);
    rpc_client_free(rpc);
    curl_global_cleanup();
    return result;
}

/* ---- attest export ---- */

static void export_usage(FILE *f)
{
    fprintf(f,
            "usage: sibyl attest export [--journal DIR | -c oracle.conf] [-o FILE]\n\n"
            "Writes every attestation the node made (answers and rejects), one JSON object per\n"
            "line, with everything a replay needs: the request, model hash, output, attestation,\n"
            "signature, transactions and the per-step trace (docs/auditing.md). Reads the\n"
            "journal of a running node safely. Default: the journal_dir of ./oracle.conf if it\n"
            "exists, else ./journal. Output: stdout unless -o.\n");
}

typedef struct {
    journal *j;
    FILE *out;
    unsigned long n, n_trace;
    int failed;
    char err[512];
} export_ctx;

static int export_one(const jreq *r, void *user)
{
    export_ctx *x = user;
    static const uint8_t zero[65];
    if (!memcmp(r->f.signature, zero, 65))
        return 0; /* never attested (not computed yet, or cancelled before) */
    uint8_t *blob = NULL;
    size_t blen = 0;
    int found = journal_get_audit(x->j, r->f.id, &blob, &blen, x->err, sizeof x->err);
    if (found < 0) {
        x->failed = 1;
        return 1;
    }
    audit_record rec;
    if (audit_record_from_journal(r, found ? blob : NULL, blen, &rec, x->err, sizeof x->err)) {
        free(blob);
        x->failed = 1;
        return 1;
    }
    free(blob);
    char *line = audit_record_to_json(&rec);
    if (rec.trace)
        x->n_trace++;
    audit_record_free(&rec);
    if (!line) {
        snprintf(x->err, sizeof x->err, "out of memory");
        x->failed = 1;
        return 1;
    }
    int bad = fputs(line, x->out) < 0 || fputc('\n', x->out) < 0;
    free(line);
    if (bad) {
        snprintf(x->err, sizeof x->err, "write: %s", strerror(errno));
        x->failed = 1;
        return 1;
    }
    x->n++;
    return 0;
}

static int export_main(int argc, char **argv)
{
    const char *dir = NULL, *conf = NULL, *out_path = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            export_usage(stdout);
            return EXIT_OK;
        } else if (!strcmp(a, "--journal") && i + 1 < argc) {
            dir = argv[++i];
        } else if ((!strcmp(a, "-c") || !strcmp(a, "--config")) && i + 1 < argc) {
            conf = argv[++i];
        } else if (!strcmp(a, "-o") && i + 1 < argc) {
            out_path = argv[++i];
        } else {
            fprintf(stderr, "sibyl attest export: unexpected argument '%s'\n", a);
            export_usage(stderr);
            return EXIT_USAGE;
        }
    }
    char err[1024];
    static config cfg; /* large; one per process */
    uint64_t map_mb = 1024;
    if (!dir) {
        if (!conf) {
            FILE *f = fopen("oracle.conf", "r");
            if (f) {
                fclose(f);
                conf = "oracle.conf";
            }
        }
        if (conf) {
            if (config_load(conf, &cfg, err, sizeof err)) {
                fprintf(stderr, "sibyl attest export: %s\n", err);
                return EXIT_USAGE;
            }
            dir = cfg.journal_dir;
            map_mb = cfg.journal_map_mb;
        } else {
            dir = "journal";
        }
    }
    struct stat st;
    if (stat(dir, &st) || !S_ISDIR(st.st_mode)) {
        /* journal_open would create an empty one */
        fprintf(stderr, "sibyl attest export: no journal directory at %s\n", dir);
        return EXIT_USAGE;
    }
    journal *j;
    if (journal_open(dir, map_mb, 0, &j, err, sizeof err)) {
        fprintf(stderr, "sibyl attest export: %s\n", err);
        return EXIT_USAGE;
    }
    FILE *out = stdout;
    if (out_path && !(out = fopen(out_path, "w"))) {
        fprintf(stderr, "sibyl attest export: %s: %s\n", out_path, strerror(errno));
        journal_close(j);
        return EXIT_USAGE;
    }
    export_ctx x;
    memset(&x, 0, sizeof x);
    x.j = j;
    x.out = out;
    int rc = journal_foreach(j, 0, export_one, &x, err, sizeof err);
    journal_close(j);
    int close_bad = out != stdout ? fclose(out) != 0 : fflush(out) != 0;
    if (rc < 0 || x.failed || close_bad) {
        fprintf(stderr, "sibyl attest export: %s\n",
                x.failed ? x.err
                : rc < 0 ? err
                         : "write failed");
        return EXIT_USAGE;
    }
    fprintf(stderr, "sibyl attest export: %lu attestation(s), %lu with a trace, from %s\n", x.n,
            x.n_trace, dir);
    return EXIT_OK;
}

int cmd_attest(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        FILE *f = argc < 2 ? stderr : stdout;
        fprintf(f, "usage: sibyl attest verify <tx hash | request id> --rpc URL --oracle ADDR\n"
                   "       sibyl attest export [--journal DIR | -c oracle.conf] [-o FILE]\n"
                   "See also: sibyl replay. docs/auditing.md.\n");
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    if (!strcmp(argv[1], "verify"))
        return verify_main(argc - 1, argv + 1);
    if (!strcmp(argv[1], "export"))
        return export_main(argc - 1, argv + 1);
    fprintf(stderr, "sibyl attest: '%s' is not a subcommand (verify, export)\n", argv[1]);
    return EXIT_USAGE;
}

/* ---- replay ---- */

static void replay_usage(FILE *f)
{
    fprintf(f,
            "usage: sibyl replay <tx hash | request id> -m model.gguf --rpc URL --oracle ADDR\n"
            "       sibyl replay --record FILE [--line N | --id ID] -m model.gguf\n"
            "options: --ignore-model-hash  replay even when sha256(model) != attested modelHash\n"
            "         --from-block N       (online) where to start searching logs\n"
            "         --threads N          CPU threads (default: all cores)\n"
            "         --backend cpu|cuda   (default cpu)\n\n"
            "Re-runs an attested request on this machine through the same adapter and compares:\n"
            "with a recorded trace (sibyl attest export) step by step, reporting the first\n"
            "(canvas, step) whose logits hash or argmax canvas differs and the first differing\n"
            "position with both token ids; without one (online), the output and its hash.\n\n"
            "exit: 0 MATCH, 1 MISMATCH, 2 usage/IO/RPC error, 3 no such request or not answered\n"
            "yet, 4 model differs (the file is not the attested model)\n");
}

int cmd_replay(int argc, char **argv)
{
    const char *ref = NULL, *rpc_url = NULL, *oracle_s = NULL, *record = NULL, *id = NULL;
    const char *model = NULL, *backend = "cpu";
    unsigned long long from = 0, line = 0, threads = 0;
    int ignore_hash = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int more = i + 1 < argc;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            replay_usage(stdout);
            return EXIT_OK;
        } else if (!strcmp(a, "--rpc") && more) {
            rpc_url = argv[++i];
        } else if (!strcmp(a, "--oracle") && more) {
            oracle_s = argv[++i];
        } else if (!strcmp(a, "--record") && more) {
            record = argv[++i];
        } else if (!strcmp(a, "--id") && more) {
            id = argv[++i];
        } else if ((!strcmp(a, "-m") || !strcmp(a, "--model")) && more) {
            model = argv[++i];
        } else if (!strcmp(a, "--backend") && more) {
            backend = argv[++i];
        } else if (!strcmp(a, "--ignore-model-hash")) {
            ignore_hash = 1;
        } else if ((!strcmp(a, "--line") || !strcmp(a, "--from-block") ||
                    !strcmp(a, "--threads")) &&
                   more) {
            unsigned long long *dst = !strcmp(a, "--line")         ? &line
                                      : !strcmp(a, "--from-block") ? &from
                                                                   : &threads;
            if (parse_u64(argv[++i], dst) || (dst == &line && line == 0) ||
                (dst == &threads && threads > 1024)) {
                fprintf(stderr, "sibyl replay: %s needs a %s number\n", a,
                        dst == &from ? "block" : "positive");
                return EXIT_USAGE;
            }
        } else if (a[0] != '-' && !ref) {
            ref = a;
        } else {
            fprintf(stderr, "sibyl replay: unexpected argument '%s'\n", a);
            replay_usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (!model || (!record && (!ref || !rpc_url || !oracle_s)) || (record && ref) || (id && line)) {
        fprintf(stderr, "sibyl replay: needs -m and either --record FILE or a tx hash / request "
                        "id with --rpc and --oracle (and not both --line and --id)\n");
        replay_usage(stderr);
        return EXIT_USAGE;
    }
    engine_options opt = {model, ENGINE_BACKEND_CPU, (int)threads};
    if (!strcmp(backend, "cuda")) {
        opt.backend = ENGINE_BACKEND_CUDA;
    } else if (strcmp(backend, "cpu")) {
        fprintf(stderr, "sibyl replay: --backend must be cpu or cuda, not '%s'\n", backend);
        return EXIT_USAGE;
    }
    char err[1024];
    audit_record rec;
    audit_record_init(&rec);
    if (record) {
        int rc = audit_record_read_file(record, (unsigned long)line, id, &rec, err, sizeof err);
        if (rc <= 0) {
            fprintf(stderr, "sibyl replay: %s\n", err);
            return rc == 0 ? EXIT_NOT_FOUND : EXIT_USAGE;
        }
    } else {
        uint8_t oracle[20];
        if (eth_address_parse(oracle_s, oracle, err, sizeof err)) {
            fprintf(stderr, "sibyl replay: --oracle: %s\n", err);
            return EXIT_USAGE;
        }
        curl_global_init(CURL_GLOBAL_DEFAULT);
        rpc_client *rpc = rpc_client_new(rpc_url, NULL, err, sizeof err);
        if (!rpc) {
            fprintf(stderr, "sibyl replay: %s\n", err);
            curl_global_cleanup();
            return EXIT_USAGE;
        }
        chain_request c;
        int rc = chain_fetch(rpc, oracle, ref, from, &c, err, sizeof err);
        rpc_client_free(rpc);
        curl_global_cleanup();
        if (rc) {
            fprintf(stderr, "sibyl replay: %s\n", err);
            return rc == CHAIN_NOT_FOUND ? EXIT_NOT_FOUND : EXIT_USAGE;
        }
        if (c.n_votes == 0) {
            fprintf(stderr, "sibyl replay: the request has no answer yet (status %s)\n",
                    chain_status_name(c.status));
            chain_request_free(&c);
            return EXIT_NOT_FOUND;
        }
        rc = chain_to_record(&c, &rec, err, sizeof err);
        chain_request_free(&c);
        if (rc) {
            fprintf(stderr, "sibyl replay: %s\n", err);
            return EXIT_USAGE;
        }
    }
    u256 idv;
    memcpy(idv.b, rec.request_id, 32);
    char dec[U256_DEC_MAX];
    u256_to_dec(&idv, dec);
    printf("request %s: adapter \"%.32s\", %zu input bytes, %zu params bytes, %s, %s\n", dec,
           (const char *)rec.adapter, rec.input_len, rec.params_len,
           rec.reject_code ? "attested a reject" : "attested an answer",
           rec.trace ? "with a recorded trace" : "no trace (output comparison only)");

    /* the model file must be the attested model */
    uint8_t mh[32];
    if (attest_model_hash(model, NULL, 0, mh, err, sizeof err)) {
        fprintf(stderr, "sibyl replay: %s\n", err);
        audit_record_free(&rec);
        return EXIT_USAGE;
    }
    char a[67], b[67];
    hex_encode(a, mh, 32);
    hex_encode(b, rec.model_hash, 32);
    if (memcmp(mh, rec.model_hash, 32)) {
        printf("FAIL model: sha256(%s) %s != attested modelHash %s\n", model, a, b);
        if (!ignore_hash) {
            printf("MODEL DIFFERS: request %s was answered with another model file; not "
                   "replayed (--ignore-model-hash replays anyway)\n",
                   dec);
            audit_record_free(&rec);
            return EXIT_MODEL_DIFFERS;
        }
        printf("     model: --ignore-model-hash: replaying with this file anyway\n");
    } else {
        printf("OK   model: sha256(%s) = attested modelHash %s\n", model, b);
    }

    engine *e = NULL;
    if (engine_open(&opt, &e, err, sizeof err)) {
        fprintf(stderr, "sibyl replay: %s: %s\n", model, err);
        audit_record_free(&rec);
        return EXIT_USAGE;
    }
    replay_run_result run;
    if (replay_run(e, &rec, &run, err, sizeof err)) {
        fprintf(stderr, "sibyl replay: %s\n", err);
        replay_run_result_free(&run);
        engine_close(e);
        audit_record_free(&rec);
        return EXIT_USAGE;
    }
    replay_report rep;
    replay_compare(&rec, &run, &rep);
    replay_print(stdout, &rec, &run, &rep, engine_get_tokenizer(e));
    int result = rep.match ? EXIT_OK : EXIT_FAIL;
    if (!rep.match && memcmp(mh, rec.model_hash, 32))
        printf("note: the model file differs from the attested one (--ignore-model-hash)\n");
    replay_run_result_free(&run);
    engine_close(e);
    audit_record_free(&rec);
    return result;
}
