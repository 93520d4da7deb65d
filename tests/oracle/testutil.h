/*
 * Helpers shared by the oracle tests: running the real Foundry tools (cast, anvil) that
 * scripts/setup installs, and small conveniences. A missing tool fails the test with a
 * message saying how to install it; nothing is skipped.
 */
#ifndef SIBYL_TESTS_ORACLE_TESTUTIL_H
#define SIBYL_TESTS_ORACLE_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Absolute paths from CMake (tests/oracle/CMakeLists.txt). */
const char *tu_cast_path(void);
const char *tu_anvil_path(void);

/* Fails the current cmocka test when the tool is not executable. */
void tu_require_tool(const char *path);

/* Runs a shell command, returns its stdout (trailing whitespace trimmed, malloc'd) and fails
 * the test if the command exits non-zero. */
char *tu_run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Deterministic pseudo-random numbers (xorshift) so that failures are reproducible; the seed
 * is printed by tu_rng_seed. */
void tu_rng_seed(uint64_t seed);
uint64_t tu_rand(void);
void tu_rand_bytes(uint8_t *p, size_t n);

/* A free TCP port on 127.0.0.1 (bound then released). */
int tu_free_port(void);
/* Waits until 127.0.0.1:port accepts connections; 0 on success. */
int tu_wait_port(int port, int timeout_ms);

/* Starts anvil on a free loopback port; returns its pid and writes its URL. */
pid_t tu_anvil_start(char *url, size_t cap);
void tu_stop(pid_t pid);

/* A fresh temporary directory (mkdtemp) and its recursive removal. */
char *tu_tempdir(void);
void tu_rmdir(const char *dir);

#endif
