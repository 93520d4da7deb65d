/* The subcommands of the sibyl binary. Each returns the process exit code. */
#ifndef SIBYL_CLI_COMMANDS_H
#define SIBYL_CLI_COMMANDS_H

#define SIBYL_VERSION_STRING "0.1.0"

int cmd_generate(int argc, char **argv); /* cmd_generate.c */
int cmd_bench(int argc, char **argv);    /* cmd_bench.c */
int cmd_logits(int argc, char **argv);   /* cmd_logits.c */
int cmd_mkmodel(int argc, char **argv); /* cli/cmd_mkmodel.c */
int cmd_run(int argc, char **argv);     /* cli/cmd_run.c */
int cmd_keys(int argc, char **argv); /* cli/cmd_keys.c */
int cmd_eval_demo(int argc, char **argv); /* cmd_demo.c */
int generate_kind(int argc, char **argv); /* cli/cmd_kind.c: sibyl generate --kind (node build) */
int cmd_attest(int argc, char **argv);    /* cmd_attest.c */
int cmd_replay(int argc, char **argv);    /* cmd_attest.c */

#endif
