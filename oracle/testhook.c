#include "oracle/testhook.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static pthread_once_t once = PTHREAD_ONCE_INIT;
static char crash_point[64];
static long crash_after = 1;
static long passes;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

static void read_env(void)
{
    const char *v = getenv("SIBYL_TEST_CRASH_AT");
    if (!v || !*v)
        return;
    snprintf(crash_point, sizeof crash_point, "%s", v);
    char *colon = strchr(crash_point, ':');
    if (colon) {
        *colon = 0;
        crash_after = strtol(colon + 1, NULL, 10);
        if (crash_after < 1)
            crash_after = 1;
    }
}

void testhook_crash_point(const char *point)
{
    pthread_once(&once, read_env);
    if (!crash_point[0] || strcmp(point, crash_point))
        return;
    pthread_mutex_lock(&mu);
    long n = ++passes;
    pthread_mutex_unlock(&mu);
    if (n == crash_after) {
        char msg[128];
        int len = snprintf(msg, sizeof msg,
                           "{\"level\":\"warn\",\"msg\":\"SIBYL_TEST_CRASH_AT: killing the node at "
                           "%s (pass %ld)\"}\n",
                           point, n);
        ssize_t w = write(STDERR_FILENO, msg, (size_t)len);
        (void)w;
        kill(getpid(), SIGKILL);
    }
}

int testhook_wrong_output(void)
{
    const char *v = getenv("SIBYL_TEST_WRONG_OUTPUT");
    return v && !strcmp(v, "1");
}
