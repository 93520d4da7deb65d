/*
 * testhook: crash points for the crash-recovery tests. NOT a feature: a test hook.
 *
 * When the environment variable SIBYL_TEST_CRASH_AT is "<point>" or "<point>:<n>", the process
 * kills itself with SIGKILL the n-th time (default 1st) it passes that point, exactly like
 * `kill -9` at the worst moment. Points (in pipeline order):
 *   after_seen       the event is journaled, nothing else done
 *   after_confirm    confirmed and queued for the engine
 *   after_computing  "computing" journaled, the engine not started
 *   after_computed   output + signed attestation journaled, no transaction yet
 *   after_sign       the signed transaction journaled, not sent
 *   after_send       sent, the node has not recorded anything after it
 * Unset (always, in production) it costs one getenv at the first call.
 */
#ifndef SIBYL_ORACLE_TESTHOOK_H
#define SIBYL_ORACLE_TESTHOOK_H

void testhook_crash_point(const char *point);

/* SIBYL_TEST_WRONG_OUTPUT=1 (NOT a feature: a test hook) makes the node attest to an output
 * whose last byte is flipped, i.e. behave like a node that computes something else, so the
 * quorum tests can show a disagreement. Returns 1 when set. */
int testhook_wrong_output(void);

#endif
