/*
 * forkwalk: where the branch a node followed meets the chain it sees now.
 *
 * The node records the hashes of the blocks it followed (by height, with gaps where it heard
 * nothing). After a reorg, the fork is the highest height whose recorded hash the chain still
 * has. forkwalk_find walks down from a height to that one, comparing each recorded hash with the
 * chain's canonical hash, which it asks for in batches (one call per batch of heights) through
 * the caller's lookup. It knows nothing of JSON-RPC: the caller supplies both lookups, so the
 * walk runs as well against an RPC node as against a test's array of hashes.
 *
 * The walk ends at the first of:
 *  - a height whose recorded hash is canonical: FORKWALK_MET, the branches meet there;
 *  - a height with nothing recorded (a gap, or below the oldest record), or the walk's limit of
 *    heights compared, or height 0: FORKWALK_BEYOND, the node cannot tell where the fork is,
 *    only that it is at or below *fork;
 *  - a canonical lookup that failed: FORKWALK_ERROR with the lookup's message; nothing is
 *    guessed, *fork again only bounds the fork from above.
 * Heights where the chain has no block (it is shorter now) are mismatches: the walk goes on.
 * On the way down, every canonical hash read at a height whose record it contradicts is handed
 * to `learn` (the node then records the new branch's hash there).
 */
#ifndef SIBYL_ORACLE_FORKWALK_H
#define SIBYL_ORACLE_FORKWALK_H

#include <stddef.h>
#include <stdint.h>

#define FORKWALK_MAX_BATCH 1024

enum { FORKWALK_ERROR = -1, FORKWALK_BEYOND = 0, FORKWALK_MET = 1 };

typedef struct {
    /* The hash recorded at `height`: 1 (into hash) or 0 when nothing is recorded there. */
    int (*recorded)(void *user, uint64_t height, uint8_t hash[32]);
    /* The chain's canonical hashes of heights lo..hi (hi - lo < batch): hashes[h - lo], with
     * found[h - lo] = 1 where the chain has a block at h, 0 where it has none. 0, or -1 with a
     * message in err when the lookup failed (then nothing it wrote is used). */
    int (*canonical)(void *user, uint64_t lo, uint64_t hi, uint8_t (*hashes)[32], int *found,
                     char *err, size_t errlen);
    /* May be NULL. Called with the canonical hash of a height whose record it contradicts. */
    void (*learn)(void *user, uint64_t height, const uint8_t hash[32]);
    void *user;
    unsigned batch; /* heights per canonical() call: 1..FORKWALK_MAX_BATCH */
    uint64_t limit; /* at most this many heights compared (0: no limit) */
} forkwalk_chain;

/* Walks down from `top` (see above). *fork: the meeting height (FORKWALK_MET) or a height the
 * fork is at or below (otherwise); *walked: heights compared. Returns FORKWALK_MET,
 * FORKWALK_BEYOND or FORKWALK_ERROR (err says why; also for a bad batch size or no memory). */
int forkwalk_find(const forkwalk_chain *c, uint64_t top, uint64_t *fork, uint64_t *walked,
                  char *err, size_t errlen);

#endif
