/* The subcommands of the sibyl binary. Each returns the process exit code. */
#ifndef SIBYL_CLI_COMMANDS_H
#define SIBYL_CLI_COMMANDS_H

#define SIBYL_VERSION_STRING "0.1.0"

int cmd_keys(int argc, char **argv); /* cli/cmd_keys.c */

#endif
