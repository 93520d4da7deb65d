/*
 * sibyl: one binary, subcommands in the style of git and cast.
 *
 * Each subcommand lives in cli/cmd_<group>.c and has the signature
 *     int cmd_<name>(int argc, char **argv)
 * where argv[0] is the subcommand's own name. It returns the process exit code.
 */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"

struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
};

static int cmd_version(int argc, char **argv);
static int cmd_help(int argc, char **argv);

/* Node commands (keys, run, attest, replay...) are built only with the node libraries:
 * put them inside the #ifdef SIBYL_WITH_NODE block. */
static const struct command commands[] = {
    {"help", cmd_help, "list the subcommands"},
    {"version", cmd_version, "print the version and the engine's arithmetic profile"},
    {"generate", cmd_generate, "run the diffusion engine on a prompt"},
    {"bench", cmd_bench, "time the engine on a model (step time, per-op breakdown)"},
    {"logits", cmd_logits, "canvas logits of one decoder pass, for the fidelity check"},
    {"mkmodel", cmd_mkmodel, "write a random-weight DiffusionGemma GGUF (test models)"},
    {"eval-demo", cmd_eval_demo, "exact-match accuracy of a model on QUESTION<TAB>ANSWER lines"},
#ifdef SIBYL_WITH_NODE
    {"keys", cmd_keys, "the node's signing key: new, import, address (keystore v3)"},
    {"run", cmd_run, "run the oracle node (sibyl run -c oracle.conf)"},
    {"attest", cmd_attest, "auditors: verify an answer on chain, export the node's attestations"},
    {"replay", cmd_replay, "auditors: re-run an attested request here and compare (MATCH)"},
#endif
};

static int cmd_version(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    printf("sibyl %s\n", SIBYL_VERSION_STRING);
    return 0;
}

static int cmd_help(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    printf("usage: sibyl <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        printf("  %-10s %s\n", commands[i].name, commands[i].summary);
    printf("\n'sibyl <command> --help' describes one command.\n");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        cmd_help(0, NULL);
        return 2;
    }
    const char *name = argv[1];
    if (!strcmp(name, "--help") || !strcmp(name, "-h"))
        return cmd_help(0, NULL);
    if (!strcmp(name, "--version"))
        return cmd_version(0, NULL);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(commands[i].name, name))
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "sibyl: '%s' is not a command; see 'sibyl help'\n", name);
    return 2;
}
