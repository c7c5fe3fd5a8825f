#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-only
# The soak (`make soak`, needs root): one domain dirtying memory migrated
# back and forth between two namespace hosts SOAK_MOVES times (100), its
# memory verified after every move, the cluster checked for exactly one
# running copy.  Prints the number of failures (the target is 0) and the
# distribution of downtime (from the pause until the domain ran on the
# target, from each migration's report).  Bounded: about a second per move.
# Exit 0 when no move failed.
. "$(dirname "$0")/../cluster/lib.sh"

NODES=2
MOVES=${SOAK_MOVES:-100}
plan 1

cluster_up
daemons || bail "daemons did not start"
xl node1 sim create soak --memory 128 --dirty-rate 5000 --working-set 32
[ "$rc" = 0 ] || bail "cannot create the domain: $err"

fail=0
here=node1 there=node2
: >"$TESTBED/downtime"
t0=$(date +%s)
for i in $(seq "$MOVES"); do
    xl "$here" --json migrate-cluster soak "$there"
    d=$(echo "$out" | grep -o '"downtime_us":[0-9]*' | tail -1 | cut -d: -f2)
    c=$(copies soak)
    run on "$there" "$X" sim verify soak
    if [ "$rc" != 0 ] || [ "$c" != "$there:soak:running" ] || [ -z "$d" ]
    then
        fail=$((fail + 1))
        diag "move $i $here -> $there failed: copies '$c': $err"
        # Carry on from wherever the domain runs.
        case "$c" in "$here:soak:running") continue ;; esac
    fi
    echo "$d" >>"$TESTBED/downtime"
    tmp=$here here=$there there=$tmp
done
elapsed=$(( $(date +%s) - t0 ))
diag "soak: $MOVES moves in $elapsed s, $fail failed"
diag "$(sort -n "$TESTBED/downtime" | awk '
    { v[NR] = $1 / 1000; s += v[NR] }
    END { if (!NR) exit
          printf "downtime ms: min %.1f  p50 %.1f  p90 %.1f  p99 %.1f  max %.1f  mean %.1f (n=%d)",
                 v[1], v[int(NR * .5) + (NR * .5 > int(NR * .5))],
                 v[int(NR * .9) + (NR * .9 > int(NR * .9))],
                 v[int(NR * .99) + (NR * .99 > int(NR * .99))],
                 v[NR], s / NR, NR }')"
is 0 "$fail" "$MOVES moves back and forth, every one verified"
