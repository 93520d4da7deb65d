#include "oracle/log.h"

#include "oracle/hex.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile int min_level = LOG_INFO;

void log_set_level(int level)
{
    min_level = level;
}

/* Appends s to out as JSON string contents; returns the new length (bounded by cap). */
static size_t json_escape(char *out, size_t len, size_t cap, const char *s)
{
    for (; *s && len + 7 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            out[len++] = '\\';
            out[len++] = (char)c;
        } else if (c == '\n') {
            out[len++] = '\\';
            out[len++] = 'n';
        } else if (c < 0x20) {
            len += (size_t)snprintf(out + len, cap - len, "\\u%04x", c);
        } else {
            out[len++] = (char)c;
        }
    }
    return len;
}

void log_msg(int level, const uint8_t *id, const char *fmt, ...)
{
    if (level < min_level)
        return;
    static const char *const names[] = {"debug", "info", "warn", "error"};
    char msg[2048], line[4608];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);

    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = (size_t)snprintf(line, sizeof line,
                                "{\"ts\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\",\"level\":\"%s\","
                                "\"msg\":\"",
                                tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                                tm.tm_sec, ts.tv_nsec / 1000000,
                                names[level < 0   ? 0
                                      : level > 3 ? 3
                                                  : level]);
    n = json_escape(line, n, sizeof line - 80, msg);
    n += (size_t)snprintf(line + n, sizeof line - n, "\"");
    if (id) {
        u256 v;
        char dec[U256_DEC_MAX];
        memcpy(v.b, id, 32);
        u256_to_dec(&v, dec);
        n += (size_t)snprintf(line + n, sizeof line - n, ",\"request\":\"%s\"", dec);
    }
    n += (size_t)snprintf(line + n, sizeof line - n, "}\n");
    ssize_t w = write(STDERR_FILENO, line, n);
    (void)w;
}
