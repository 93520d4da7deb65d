#include "tests/oracle/testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

const char *tu_cast_path(void)
{
    return SIBYL_CAST;
}

const char *tu_anvil_path(void)
{
    return SIBYL_ANVIL;
}

void tu_require_tool(const char *path)
{
    if (access(path, X_OK) != 0)
        fail_msg("required tool %s is not installed (%s): run scripts/setup", path,
                 strerror(errno));
}

char *tu_run(const char *fmt, ...)
{
    char cmd[65536];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof cmd)
        fail_msg("command too long");
    FILE *f = popen(cmd, "r");
    if (!f)
        fail_msg("popen failed: %s", strerror(errno));
    size_t cap = 4096, len = 0;
    char *out = malloc(cap);
    assert_non_null(out);
    size_t got;
    while ((got = fread(out + len, 1, cap - len - 1, f)) > 0) {
        len += got;
        if (cap - len < 2) {
            cap *= 2;
            out = realloc(out, cap);
            assert_non_null(out);
        }
    }
    int status = pclose(f);
    out[len] = '\0';
    while (len && (out[len - 1] == '\n' || out[len - 1] == ' ' || out[len - 1] == '\r'))
        out[--len] = '\0';
    if (status != 0)
        fail_msg("command failed (status %d): %.400s\noutput: %.400s", status, cmd, out);
    return out;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

void tu_rng_seed(uint64_t seed)
{
    rng_state = seed ? seed : 1;
    printf("# random seed %llu\n", (unsigned long long)seed);
}

uint64_t tu_rand(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    rng_state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

void tu_rand_bytes(uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(tu_rand() >> 32);
}

int tu_free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(s >= 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t len = sizeof a;
    assert_int_equal(getsockname(s, (struct sockaddr *)&a, &len), 0);
    close(s);
    return ntohs(a.sin_port);
}

int tu_wait_port(int port, int timeout_ms)
{
    for (int waited = 0; waited < timeout_ms; waited += 50) {
        int s = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {0};
        a.sin_family = AF_INET;
        a.sin_port = htons((uint16_t)port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        int ok = connect(s, (struct sockaddr *)&a, sizeof a) == 0;
        close(s);
        if (ok)
            return 0;
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return -1;
}

pid_t tu_anvil_start(char *url, size_t cap)
{
    tu_require_tool(tu_anvil_path());
    int port = tu_free_port();
    char port_s[16];
    snprintf(port_s, sizeof port_s, "%d", port);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        freopen("/dev/null", "w", stdout);
        execl(tu_anvil_path(), "anvil", "--host", "127.0.0.1", "--port", port_s, "--silent",
              (char *)NULL);
        _exit(127);
    }
    if (tu_wait_port(port, 15000) != 0) {
        tu_stop(pid);
        fail_msg("anvil did not start on port %d", port);
    }
    snprintf(url, cap, "http://127.0.0.1:%d", port);
    return pid;
}

void tu_stop(pid_t pid)
{
    if (pid <= 0)
        return;
    kill(pid, SIGTERM);
    int status;
    for (int i = 0; i < 100; i++) {
        if (waitpid(pid, &status, WNOHANG) == pid)
            return;
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
}

char *tu_tempdir(void)
{
    char *d = strdup("/tmp/sibyl-test-XXXXXX");
    assert_non_null(d);
    assert_non_null(mkdtemp(d));
    return d;
}

void tu_rmdir(const char *dir)
{
    char *out = tu_run("rm -rf '%s'", dir);
    free(out);
}
