#include "attest/replay.h"

#include <stdlib.h>
#include <string.h>

#include "attest/attestation.h"
#include "inference/tokenizer.h"
#include "oracle/hex.h"
#include "oracle/keccak.h"
#include "oracle/secp.h"

uint64_t replay_engine_seed(const uint8_t seed[32])
{
    uint64_t s = 0;
    for (int i = 24; i < 32; i++)
        s = s << 8 | seed[i];
    return s;
}

static int collect_step(void *user, const engine_step *st)
{
    trace_append(user, st);
    return 0;
}

int replay_run(engine *eng, const audit_record *rec, replay_run_result *out, char *err,
               size_t errlen)
{
    memset(out, 0, sizeof *out);
    /* never truncate the replay's own trace before the recorded one would have been */
    trace_init(&out->trace,
               rec->trace && rec->trace->truncated ? rec->trace->max_bytes : (size_t)-1 / 2);
    const adapter_def *ad = adapter_find(rec->adapter);
    if (!ad) {
        out->unknown_adapter = 1;
        out->res.reject_code = REJECT_UNKNOWN_ADAPTER;
        snprintf(out->why, sizeof out->why, "no such adapter in this build");
        return 0;
    }
    adapter_job job;
    memset(&job, 0, sizeof job);
    job.eng = eng;
    job.seed = replay_engine_seed(rec->seed);
    job.input = rec->input;
    job.input_len = rec->input_len;
    job.params = rec->params;
    job.params_len = rec->params_len;
    job.on_step = collect_step;
    job.step_user = &out->trace;
    if (ad->run(&job, &out->res, out->why, sizeof out->why) < 0) {
        snprintf(err, errlen, "the %s adapter failed on this machine: %s", ad->name, out->why);
        return -1;
    }
    return 0;
}

void replay_run_result_free(replay_run_result *r)
{
    adapter_result_free(&r->res);
    trace_free(&r->trace);
}

void replay_compare(const audit_record *rec, const replay_run_result *run, replay_report *rep)
{
    memset(rep, 0, sizeof *rep);
    uint8_t h[32];
    keccak256(rec->input, rec->input_len, h);
    rep->input_hash_ok = !memcmp(h, rec->input_hash, 32);
    keccak256(rec->params, rec->params_len, h);
    rep->params_hash_ok = !memcmp(h, rec->params_hash, 32);
    keccak256(rec->output, rec->output_len, h);
    rep->output_hash_ok = !memcmp(h, rec->output_hash, 32);
    uint8_t ev[32];
    attest_engine_version(ev);
    rep->engine_version_ok = !memcmp(ev, rec->engine_version, 32);
    if (rec->has_domain && rec->has_signature) {
        secp256k1_context *ctx = secp_context_create(NULL, 0);
        if (ctx) {
            sibyl_domain d;
            d.chain_id = rec->chain_id;
            memcpy(d.verifying_contract, rec->oracle, 20);
            sibyl_attestation a;
            audit_record_attestation(rec, &a);
            rep->signature_checked = 1;
            rep->signature_ok =
                !sibyl_attestation_recover(ctx, &d, &a, rec->signature, rep->signer, NULL, 0) &&
                (!rec->has_signer || !memcmp(rep->signer, rec->signer, 20));
            secp_context_destroy(ctx);
        }
    }
    rep->have_trace = rec->trace != NULL;
    if (rep->have_trace)
        trace_compare(rec->trace, &run->trace, &rep->tdiff);
    rep->reject_ok = run->res.reject_code == rec->reject_code;
    size_t n = rec->output_len < run->res.output_len ? rec->output_len : run->res.output_len;
    size_t i = 0;
    while (i < n && rec->output[i] == run->res.output[i])
        i++;
    rep->output_ok = i == n && rec->output_len == run->res.output_len;
    rep->output_diff_at = i;
    keccak256(run->res.output, run->res.output_len, h);
    rep->replay_hash_ok = !memcmp(h, rec->output_hash, 32);
    rep->match = rep->input_hash_ok && rep->params_hash_ok && rep->output_hash_ok &&
                 (!rep->signature_checked || rep->signature_ok) && rep->engine_version_ok &&
                 (!rep->have_trace || rep->tdiff.kind == TRACE_SAME) && rep->reject_ok &&
                 rep->output_ok && rep->replay_hash_ok;
}

/* ---- printing ---- */

static const char *ok(int v)
{
    return v ? "OK  " : "FAIL";
}

/* A token id and its text, for the trace difference. */
static void print_token(FILE *f, const tokenizer *tok, int32_t id)
{
    fprintf(f, "%d", id);
    if (!tok || id < 0)
        return;
    char *text = NULL, e[64];
    size_t len = 0;
    if (tok_decode(tok, &id, 1, 0, &text, &len, e, sizeof e) == 0) {
        fputs(" \"", f);
        for (size_t i = 0; i < len; i++) {
            unsigned char c = (unsigned char)text[i];
            if (c == '"' || c == '\\')
                fprintf(f, "\\%c", c);
            else if (c < 0x20)
                fprintf(f, "\\x%02x", c);
            else
                fputc(c, f);
        }
        fputc('"', f);
    }
    free(text);
}

/* Up to 24 bytes of p starting at off, escaped. */
static void print_excerpt(FILE *f, const uint8_t *p, size_t n, size_t off)
{
    fputc('"', f);
    for (size_t i = off; i < n && i < off + 24; i++) {
        if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '"' && p[i] != '\\')
            fputc(p[i], f);
        else
            fprintf(f, "\\x%02x", p[i]);
    }
    fputs(off + 24 < n ? "\"..." : "\"", f);
}

static void print_trace_diff(FILE *f, const trace_diff *d, const tokenizer *tok)
{
    switch (d->kind) {
    case TRACE_SAME:
        fprintf(f, "OK   trace: %u steps, every logits hash and argmax canvas equal\n",
                d->n_recorded);
        break;
    case TRACE_DIFF_CANVAS_LENGTH:
        fprintf(f, "FAIL trace: the canvas lengths differ (another model?)\n");
        break;
    case TRACE_DIFF_INDEX:
        fprintf(f,
                "FAIL trace: step entry %u is canvas %u step %u in the record, canvas %u step %u "
                "in the replay\n",
                d->index, d->canvas, d->step, d->replayed_canvas, d->replayed_step);
        break;
    case TRACE_DIFF_LENGTH:
        fprintf(f,
                "FAIL trace: the record has %u steps, the replay %u: first unmatched step is "
                "canvas %u step %u\n",
                d->n_recorded, d->n_replayed, d->canvas, d->step);
        break;
    case TRACE_DIFF_VALUES:
        fprintf(f, "FAIL trace: first difference at canvas %u step %u (step entry %u of %u):%s%s\n",
                d->canvas, d->step, d->index, d->n_recorded,
                d->logits_differ ? " logits hash differs" : " logits hash equal",
                d->argmax_differ ? ", argmax canvas differs" : ", argmax canvas equal");
        if (d->argmax_differ) {
            fprintf(f, "     position %u: recorded token ", d->position);
            print_token(f, tok, d->recorded_token);
            fprintf(f, ", replayed token ");
            print_token(f, tok, d->replayed_token);
            fputc('\n', f);
        }
        break;
    }
}

void replay_print(FILE *f, const audit_record *rec, const replay_run_result *run,
                  const replay_report *rep, const tokenizer *tok)
{
    fprintf(f, "%s record: input matches the attested inputHash\n", ok(rep->input_hash_ok));
    fprintf(f, "%s record: params match the attested paramsHash\n", ok(rep->params_hash_ok));
    fprintf(f, "%s record: output matches the attested outputHash\n", ok(rep->output_hash_ok));
    if (rep->signature_checked) {
        char a[43], b[43];
        eth_address_checksum(rep->signer, a);
        if (rec->has_signer) {
            eth_address_checksum(rec->signer, b);
            fprintf(f, "%s record: signature recovers to the recorded signer %s%s%s\n",
                    ok(rep->signature_ok), b, rep->signature_ok ? "" : ", but to ",
                    rep->signature_ok ? "" : a);
        } else {
            fprintf(f, "%s record: signature recovers (to %s; no recorded signer to compare)\n",
                    ok(rep->signature_ok), rep->signature_ok ? a : "nothing");
        }
    }
    fprintf(f, "%s engine version: attested \"%.32s\", this build \"%s\"\n",
            ok(rep->engine_version_ok), (const char *)rec->engine_version, ENGINE_ARITH_VERSION);
    if (rep->have_trace)
        print_trace_diff(f, &rep->tdiff, tok);
    else
        fprintf(f, "     trace: none recorded; comparing the output only (%u replayed steps)\n",
                run->trace.n_steps);
    if (!rep->reject_ok) {
        char a[48], b[48];
        snprintf(a, sizeof a, rec->reject_code ? "reject code %d" : "an answer", rec->reject_code);
        snprintf(b, sizeof b, run->res.reject_code ? "reject code %d" : "an answer",
                 run->res.reject_code);
        fprintf(f, "FAIL answer: attested %s, the replay gives %s%s%s\n", a, b,
                run->res.reject_code ? ": " : "", run->res.reject_code ? run->why : "");
    }
    if (!rep->reject_ok &&
        (rec->reject_code == REJECT_UNKNOWN_MODEL || rec->reject_code == REJECT_INPUT_TOO_LONG))
        fprintf(f,
                "     note: reject %d can be the node's own decision (a model it does not "
                "serve, its max_input_bytes), not an engine result: a replay cannot show it\n",
                rec->reject_code);
    if (rep->reject_ok && rec->reject_code)
        fprintf(f, "OK   answer: both reject with code %d (%s)\n", rec->reject_code,
                reject_code_name(rec->reject_code));
    if (rep->output_ok) {
        fprintf(f, "OK   output: %zu bytes equal\n", rec->output_len);
    } else {
        fprintf(f,
                "FAIL output: first difference at byte %zu (record %zu bytes, replay %zu): "
                "record ",
                rep->output_diff_at, rec->output_len, run->res.output_len);
        print_excerpt(f, rec->output, rec->output_len, rep->output_diff_at);
        fprintf(f, ", replay ");
        print_excerpt(f, run->res.output, run->res.output_len, rep->output_diff_at);
        fputc('\n', f);
    }
    fprintf(f, "%s output hash: keccak256(replayed output) %s the attested outputHash\n",
            ok(rep->replay_hash_ok), rep->replay_hash_ok ? "equals" : "differs from");
    u256 id;
    memcpy(id.b, rec->request_id, 32);
    char dec[U256_DEC_MAX];
    u256_to_dec(&id, dec);
    if (rep->match) {
        char h[67];
        hex_encode(h, rec->output_hash, 32);
        fprintf(f, "MATCH request %s: replayed %s, outputHash %s\n", dec,
                rec->reject_code ? "the same reject" : "the same output", h);
        return;
    }
    fprintf(f, "MISMATCH request %s: ", dec);
    if (!rep->input_hash_ok || !rep->params_hash_ok || !rep->output_hash_ok)
        fprintf(f, "the record does not hash to its attestation (edited?); ");
    if (rep->signature_checked && !rep->signature_ok)
        fprintf(f, "bad signature; ");
    if (rep->have_trace && rep->tdiff.kind != TRACE_SAME)
        fprintf(f, "trace differs from canvas %u step %u; ", rep->tdiff.canvas, rep->tdiff.step);
    if (!rep->reject_ok)
        fprintf(f, "reject code differs; ");
    if (!rep->output_ok)
        fprintf(f, "output differs at byte %zu; ", rep->output_diff_at);
    if (!rep->replay_hash_ok)
        fprintf(f, "replayed output hash differs; ");
    if (!rep->engine_version_ok)
        fprintf(f, "engine version differs; ");
    fputc('\n', f);
}
