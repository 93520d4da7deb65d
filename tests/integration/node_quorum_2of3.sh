#!/usr/bin/env bash
# node_quorum.sh with k = 2 of 3 nodes: the fee is split between the first two voters, the third
# node's vote comes after finalisation and ends as done (RequestNotOpen), not as an error.
QUORUM_K=2 exec "$(dirname "$0")/node_quorum.sh"
