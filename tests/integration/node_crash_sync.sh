#!/usr/bin/env bash
# node_crash.sh with journal_sync = true: every journal commit is fsync'd (LMDB without
# MDB_NOSYNC), the production default. kill -9 at every pipeline point and from outside; every
# request fulfilled exactly once, one transaction each. (A power loss, which only the fsync
# protects against, cannot be staged here; this checks the synced path under crashes.)
CRASH_JOURNAL_SYNC=true exec "$(dirname "$0")/node_crash.sh"
