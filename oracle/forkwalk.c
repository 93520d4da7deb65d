#include "oracle/forkwalk.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int forkwalk_find(const forkwalk_chain *c, uint64_t top, uint64_t *fork, uint64_t *walked,
                  char *err, size_t errlen)
{
    *fork = top;
    *walked = 0;
    if (c->batch < 1 || c->batch > FORKWALK_MAX_BATCH) {
        snprintf(err, errlen, "fork walk: batch of %u heights (1..%d)", c->batch,
                 FORKWALK_MAX_BATCH);
        return FORKWALK_ERROR;
    }
    uint8_t(*canon)[32] = malloc((size_t)c->batch * 32);
    int *found = malloc((size_t)c->batch * sizeof *found);
    int rc = FORKWALK_BEYOND;
    uint64_t h = top; /* every height above h is ruled out */
    if (!canon || !found) {
        snprintf(err, errlen, "fork walk: out of memory");
        rc = FORKWALK_ERROR;
        goto out;
    }
    while (h > 0) {
        uint64_t want = c->batch;
        if (c->limit && c->limit - *walked < want)
            want = c->limit - *walked;
        if (want == 0)
            break; /* the limit: the fork is at or below h */
        uint64_t hi = h, lo = hi >= want ? hi - want + 1 : 1;
        char why[256] = "";
        if (c->canonical(c->user, lo, hi, canon, found, why, sizeof why)) {
            snprintf(err, errlen, "fork walk: canonical hashes of blocks %llu..%llu: %s",
                     (unsigned long long)lo, (unsigned long long)hi, why);
            rc = FORKWALK_ERROR;
            goto out;
        }
        for (uint64_t b = hi;; b--) {
            uint8_t mine[32];
            (*walked)++;
            if (!c->recorded(c->user, b, mine)) {
                h = b; /* nothing recorded here: our knowledge ends */
                goto out;
            }
            if (found[b - lo] && !memcmp(mine, canon[b - lo], 32)) {
                h = b;
                rc = FORKWALK_MET;
                goto out;
            }
            if (found[b - lo] && c->learn)
                c->learn(c->user, b, canon[b - lo]);
            if (b == lo)
                break;
        }
        h = lo - 1;
    }
out:
    *fork = h;
    free(canon);
    free(found);
    return rc;
}
