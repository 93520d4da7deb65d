/* sibyl run: the oracle node daemon. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <curl/curl.h>

#include "cli/commands.h"
#include "oracle/config.h"
#include "oracle/node.h"

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: sibyl run [-c oracle.conf]\n\n"
               "Runs the oracle node: watches the InferenceOracle contract, answers requests with\n"
               "attested inference and keeps going until SIGINT or SIGTERM (clean shutdown).\n"
               "The config format and every key: oracle.conf and docs/operating.md.\n"
               "The keystore password comes from password_file or $SIBYL_KEYSTORE_PASSWORD.\n");
}

int cmd_run(int argc, char **argv)
{
    const char *path = "oracle.conf";
    for (int i = 1; i < argc; i++) {
        if ((!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config")) && i + 1 < argc) {
            path = argv[++i];
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "sibyl run: unexpected argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    config cfg;
    char err[1024];
    if (config_load(path, &cfg, err, sizeof err)) {
        fprintf(stderr, "sibyl run: %s\n", err);
        return 1;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = node_run(&cfg, &stop_requested, err, sizeof err);
    curl_global_cleanup();
    if (rc) {
        fprintf(stderr, "sibyl run: %s\n", err);
        return 1;
    }
    return 0;
}
