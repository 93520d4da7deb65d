/*
 * log: JSON-lines logs on stderr, one object per line:
 *     {"ts":"2026-01-02T03:04:05.678Z","level":"info","msg":"...","request":"17"}
 * "request" (the request id, in decimal) appears where a message is about one request.
 * Lines are written whole (one write per line) so threads never interleave within a line.
 */
#ifndef SIBYL_ORACLE_LOG_H
#define SIBYL_ORACLE_LOG_H

#include <stdint.h>

enum { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3 };

/* Messages below min_level are dropped. Default: LOG_INFO. */
void log_set_level(int min_level);
/* id may be NULL (no "request" field). */
void log_msg(int level, const uint8_t *id, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
