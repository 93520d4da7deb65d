/* sibyl mkmodel: writes a random-weight DiffusionGemma GGUF (inference/mkmodel.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "inference/mkmodel.h"

static void mkmodel_usage(FILE *fp)
{
    fprintf(fp,
            "usage: sibyl mkmodel -o FILE --preset NAME [--type q8_0|f32|f16|bf16] [--seed N]\n"
            "                     [--layers N] [--threads N] [--dry-run] [--split-experts]\n"
            "\n"
            "Writes a GGUF of arch diffusion-gemma with random, well-conditioned weights and\n"
            "the metadata, tensor names and shapes of the published files (docs/models.md).\n"
            "presets: tiny, small, bench, 26b-a4b. --layers overrides the preset's layer count\n"
            "(same shapes, fewer layers). --dry-run generates everything and writes nothing.\n"
            "--split-experts writes ffn_gate_exps + ffn_up_exps instead of the fused\n"
            "ffn_gate_up_exps (the converter's default).\n");
}

static int parse_u64(const char *s, unsigned long long *v)
{
    char *end;
    if (!s || !*s)
        return -1;
    *v = strtoull(s, &end, 0);
    return *end ? -1 : 0;
}

int cmd_mkmodel(int argc, char **argv)
{
    mk_options o = {0};
    o.type = GGML_TYPE_Q8_0;
    o.seed = 1;
    const char *preset = NULL;
    unsigned long long layers = 0, v;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            mkmodel_usage(stdout);
            return 0;
        } else if (!strcmp(a, "-o") && next) {
            o.path = next;
            i++;
        } else if (!strcmp(a, "--preset") && next) {
            preset = next;
            i++;
        } else if (!strcmp(a, "--type") && next) {
            i++;
            if (!strcmp(next, "q8_0"))
                o.type = GGML_TYPE_Q8_0;
            else if (!strcmp(next, "f32"))
                o.type = GGML_TYPE_F32;
            else if (!strcmp(next, "f16"))
                o.type = GGML_TYPE_F16;
            else if (!strcmp(next, "bf16"))
                o.type = GGML_TYPE_BF16;
            else {
                fprintf(stderr, "sibyl mkmodel: unknown --type '%s' (q8_0, f32, f16, bf16)\n",
                        next);
                return 2;
            }
        } else if (!strcmp(a, "--seed") && next && !parse_u64(next, &v)) {
            o.seed = v;
            i++;
        } else if (!strcmp(a, "--layers") && next && !parse_u64(next, &layers) && layers > 0 &&
                   layers <= 1024) {
            i++;
        } else if (!strcmp(a, "--threads") && next && !parse_u64(next, &v) && v <= 64) {
            o.n_threads = (int)v;
            i++;
        } else if (!strcmp(a, "--dry-run")) {
            o.dry_run = 1;
        } else if (!strcmp(a, "--split-experts")) {
            o.split_experts = 1;
        } else {
            fprintf(stderr, "sibyl mkmodel: bad or incomplete option '%s'\n", a);
            mkmodel_usage(stderr);
            return 2;
        }
    }
    if (!preset || (!o.path && !o.dry_run)) {
        mkmodel_usage(stderr);
        return 2;
    }
    if (mk_preset_find(preset, &o.preset)) {
        fprintf(stderr, "sibyl mkmodel: unknown preset '%s' (tiny, small, bench, 26b-a4b)\n",
                preset);
        return 2;
    }
    if (layers)
        o.preset.n_layers = (uint32_t)layers;
    mk_result r;
    char err[512];
    if (mk_write_model(&o, &r, err, sizeof err)) {
        fprintf(stderr, "sibyl mkmodel: %s\n", err);
        return 1;
    }
    double mb = (double)r.file_bytes / 1e6;
    printf("%s %s: preset %s, %u layers, %llu parameters, %llu tensors, %llu bytes, %.2f s "
           "(%.0f MB/s)\n",
           o.dry_run ? "generated (dry run)" : "wrote", o.dry_run ? "-" : o.path, preset,
           o.preset.n_layers, (unsigned long long)r.n_params, (unsigned long long)r.n_tensors,
           (unsigned long long)r.file_bytes, r.seconds, r.seconds > 0 ? mb / r.seconds : 0.0);
    return 0;
}
