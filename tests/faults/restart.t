#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-only
# xlmigd stopped (SIGTERM, then SIGKILL after a second) and restarted on
# either side in the middle of a migration's pre-copy.  The in-flight
# migration must end cleanly, never silently: the tool fails with a
# message, the cluster holds no partial copy and no stray process, and
# the domain still runs (and verifies) on the source; never two copies.
# After the
# target's restart the domain migrates again.  (Crashes at every
# protocol step, with `xlmig recover` against a restarted target
# answering from its decision records, are in matrix.t.)
. "$(dirname "$0")/../cluster/lib.sh"

NODES=2
plan 14

cluster_up
daemons || bail "daemons did not start"

# procs NODE: processes in NODE's namespace minus (daemon + its domains)
procs() {
    local want got
    want=$(( 1 + $(on "$1" "$X" -b sim list 2>/dev/null | awk 'NR > 1' |
                   wc -l) ))
    got=$(ip netns pids "$("$TB" ns "$1")" | wc -l)
    echo $((got - want))
}

# restart_during NODE: migrate vm node1 -> node2, restart NODE's daemon
# 1 s into the pre-copy (the transfer is limited to 64 MiB/s).
restart_during() {
    ( sleep 1; daemon "$1" >/dev/null 2>&1 ) &
    xl node1 migrate-cluster -B 64MiB vm node2
    wait
}

xl node1 sim create vm --memory 256 --dirty-rate 2000
restart_during node2
is 1 "$rc" "target restarted mid-migration: the migration fails"
like "runs on this node" "$err" "and says the domain stayed here"
one_copy vm node1 "target restarted"
is "" "$(copies vm | grep -o 'node2[^ ]*')" "nothing of it is left on node2"
xl node1 migrate-cluster vm node2
one_copy vm node2 "migrated after the target's restart"

xl node2 destroy vm
xl node1 sim create vm --memory 256 --dirty-rate 2000
restart_during node1
is 1 "$rc" "source restarted mid-migration: the migration fails"
like "does not answer (did it end?)" "$err" "and says xlmigd ended and where to look"
for _ in $(seq 50); do
    [ "$(copies vm)" = "node1:vm:running" ] && break
    sleep 0.2
done
one_copy vm node1 "source restarted: its new xlmigd took the domain over"
is "0 0" "$(procs node1) $(procs node2)" "no stray process on either node"
xl node1 migrate-cluster vm node2
one_copy vm node2 "the taken-over domain migrates"
