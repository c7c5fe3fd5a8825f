#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-only
# Drain and balance of another node, on the namespace cluster: `xlmig
# drain node1` run on node2 makes node1's xlmigd drain node1 and follows
# it (plan, moves, report, exit status); a second drain of node1, from
# any node, is refused while it runs; stopping the follower stops the
# drain cleanly and running it again finishes it; a follower killed
# outright leaves the drain going on node1; `balance --apply` on node2
# moves a domain off node1 through node1's xlmigd; `migrate-cluster
# --from node1` on node2 migrates one of node1's domains.
. "$(dirname "$0")/lib.sh"

plan 42

# running_drain: wait (up to 10 s) until node1's drain put it in
# maintenance (right after taking its lock)
running_drain() {
    local i
    for i in $(seq 100); do
        [ -e "$TESTBED/state-node1/maintenance" ] && return 0
        sleep 0.1
    done
    return 1
}

cluster_up
MEM=1024 daemon node1 && MEM=1024 daemon node2 && MEM=1024 daemon node3 ||
    bail "daemons did not start"

for i in 1 2 3; do
    xl node1 sim create "a$i" --memory $((16 * i)) --dirty-rate 2000
done
is 0 "$rc" "3 domains created on node1"

# ---- a dry run of node1's drain, asked from node2 ----
xl node2 drain -n node1
is 0 "$rc" "dry run of node1's drain from node2"
like "drain plan for node1" "$out" "node1 plans its own drain"
like "planned drain time" "$out" "the plan with its estimates comes back"
is "node1:a1:running" "$(copies a1)" "the dry run moves nothing"
xl node2 maintenance status node1
like "in service" "$out" "node1 stays in service"

xl node2 drain -n --cron node1
is 0 "$rc" "the same with --cron"
is "" "$out" "--cron prints nothing on stdout"

# ---- usage errors ----
xl node2 drain nosuch
is 3 "$rc" "draining a node the cluster does not have exits 3"
like "no node nosuch" "$err" "the node is named"

# ---- the drain, from node2 ----
xl node2 drain --report "$TESTBED/r1.json" node1
is 0 "$rc" "node2 drains node1 (exit 0)"
like "a3 -> node" "$out" "each migration shows as it happens"
like "drain of node1: all moved" "$out" "the summary is node1's"
for i in 1 2 3; do
    moved_ok "a$i" node1 "a$i moved off node1, one copy, verified"
done
is "all moved" "$(jfield "$TESTBED/r1.json" '$r->{result}')" \
   "node1's report is saved on node2"
is "node1" "$(jfield "$TESTBED/state-node1/drain-report.json" '$r->{node}')" \
   "and kept on node1"
xl node2 maintenance status node1
like "in maintenance" "$out" "node1 is in maintenance"
xl node1 maintenance exit

# ---- refused while running; stopped; continued ----
for i in 1 2 3 4; do xl node2 sim create "s$i" --memory 24; done
for i in 1 2 3 4; do xl node2 migrate-cluster "s$i" node1 >/dev/null; done
on node2 sh -c 'echo $$ >"$1"; shift; exec "$@"' sh "$TESTBED/f.pid" \
    "$X" -c "$CFG" -b sim drain -B 8MiB node1 >"$TESTBED/f.out" 2>&1 &
bg=$!
running_drain
ok "$?" "the drain of node1 runs"
like " drain -B 8MiB --report" "$(grep 'job .* for node2' "$TESTBED/node1.xlmigd.log")" \
     "node1 runs it with the bandwidth limit asked for"
xl node3 drain node1
is 3 "$rc" "a second drain of node1, from node3, exits 3"
like "another drain of node1 is running" "$err" "and says why"
xl node1 drain
is 3 "$rc" "so does a drain on node1 itself"
kill -TERM "$(cat "$TESTBED/f.pid")"
wait "$bg"
is 4 "$?" "stopping the follower stops the drain: exit 4 (interrupted)" ||
    diag "$(cat "$TESTBED/f.out")"
xl node2 drain --report "$TESTBED/r2.json" node1
is 0 "$rc" "running it again finishes the drain"
is 4 "$(jfield "$TESTBED/r2.json" \
       'scalar grep { $_->{outcome} =~ /^migrated/ } @{$r->{domains}}')" \
   "its report counts all four, earlier moves included"
bad=""
for i in 1 2 3 4; do
    c=$(copies "s$i")
    case "$c" in node2:s$i:running|node3:s$i:running) ;; *) bad="$bad s$i($c)";; esac
done
is "" "$bad" "each domain runs once, off node1"
xl node1 maintenance exit

# ---- the follower killed: the drain goes on ----
for i in 1 2; do xl node2 migrate-cluster "s$i" node1 >/dev/null; done
on node2 sh -c 'echo $$ >"$1"; shift; exec "$@"' sh "$TESTBED/k.pid" \
    "$X" -c "$CFG" -b sim drain -B 8MiB node1 >/dev/null 2>&1 &
bg=$!
running_drain
kill -KILL "$(cat "$TESTBED/k.pid")"
ok "$?" "the follower is killed while node1 drains"
wait "$bg" 2>/dev/null
for _ in $(seq 300); do
    running_drain_done=$(on node1 "$X" -b sim list | grep -c '^s')
    [ "$running_drain_done" = 0 ] && break
    sleep 0.1
done
is 0 "$running_drain_done" "node1 finished the drain without its follower"
xl node1 maintenance exit

# ---- balance --apply, the move starting on another node ----
xl node1 sim create c1 --memory 500
xl node1 sim create c2 --memory 400
xl node2 balance --apply
is 0 "$rc" "balance --apply on node2, node1 at 88%"
like "move c1 (500 MiB) node1 -> " "$out" "moves c1 off node1"
like "done: c1 runs on" "$out" "through node1's xlmigd"
moved_ok c1 node1 "c1 moved off node1, one copy, verified"

# ---- migrate-cluster --from: a migration of another node's domain ----
xl node2 migrate-cluster --from node1 c2 node3
is 0 "$rc" "node2 has node1 migrate c2 to node3"
like "c2 now runs on the target" "$out" "node1's output shows on node2"
one_copy c2 node3 "c2 after migrate-cluster --from node1"
xl node2 migrate-cluster --from node1 nosuch node3
is 1 "$rc" "a domain node1 does not have: exit 1"
like "nosuch" "$err" "node1's error is shown"
xl node2 migrate-cluster --from node9 c2 node1
is 1 "$rc" "a node the cluster does not have: exit 1"
like "node9" "$err" "and names it"
