#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-only
# xlmig drain on the namespace cluster: 8 sim domains off node1 with at
# most 2 at once (every one lands on another node, verifies, none lost);
# a second drain of the node refused by the lock; a node in maintenance
# never chosen (and still in maintenance after its daemon restarts); a
# domain that fits nowhere reported while the others move; a drain
# stopped by SIGTERM and continued by running it again.
. "$(dirname "$0")/lib.sh"

plan 48

cluster_up
MEM=2048 daemon node1 && MEM=640 daemon node2 && MEM=640 daemon node3 ||
    bail "daemons did not start"

# ---- 8 domains, mixed dirty rates ----
for i in 1 2 3 4 5 6 7 8; do
    rate=$(( i % 2 ? 3000 : 0 ))
    xl node1 sim create "d$i" --memory $((16 + 8 * i)) --dirty-rate $rate
done
is 0 "$rc" "8 domains created on node1"

xl node1 drain -n
is 0 "$rc" "dry run: every domain can move"
like "planned drain time" "$out" "the dry run prints the plan"
like "est." "$out" "with estimated times"
is "node1:d1:running" "$(copies d1)" "the dry run moves nothing"
xl node1 maintenance status
like "in service" "$out" "the dry run leaves node1 in service"

# ---- the drain, and a second one refused by the lock ----
on node1 "$X" -c "$CFG" -b sim drain --report "$TESTBED/drain1.json" \
    >"$TESTBED/drain1.out" 2>&1 &
drain_pid=$!
sleep 0.5
xl node1 drain
is 3 "$rc" "a second drain of node1 exits 3 while the first runs"
like "another drain of node1 is running" "$err" "the lock is named"
wait "$drain_pid"
is 0 "$?" "the first drain moves everything (exit 0)"
diag "$(tail -3 "$TESTBED/drain1.out")"
for i in 1 2 3 4 5 6 7 8; do
    moved_ok "d$i" node1 "d$i moved off node1, one copy, verified"
done
is "all moved" "$(jfield "$TESTBED/drain1.json" '$r->{result}')" \
   "the report says all moved"
is 8 "$(jfield "$TESTBED/drain1.json" \
       'scalar grep { $_->{outcome} eq "migrated" } @{$r->{domains}}')" \
   "the report lists 8 migrations"
is 8 "$(jfield "$TESTBED/drain1.json" \
       'scalar grep { $_->{prediction}{total_ms} > 0 } @{$r->{domains}}')" \
   "each migration has its prediction beside its result"
# The most migrations running at once, overall and into one node.
overlap='my ($m, %t) = (0);
    for my $d (@{$r->{domains}}) { my $n = 0; my $k = 0;
        for my $e (@{$r->{domains}}) {
            next unless $e->{start_ms} <= $d->{start_ms} && $d->{start_ms} < $e->{end_ms};
            $n++; $k++ if $e->{target} eq $d->{target} }
        $m = $n if $n > $m; $t{x} = $k if $k > ($t{x} // 0) }'
is 2 "$(jfield "$TESTBED/drain1.json" "$overlap; \$m")" \
   "at most 2 migrations ran at once, and 2 did"
ok "$([ "$(jfield "$TESTBED/drain1.json" "$overlap; \$t{x}")" -le 2 ] &&
      echo 0 || echo 1)" "at most 2 at once into any one node"
xl node1 maintenance status
like "in maintenance" "$out" "node1 is in maintenance after the drain"
MEM=2048 daemon node1 || bail "node1 daemon"
xl node2 maintenance status node1
like "in maintenance" "$out" "maintenance survives a daemon restart"
on2=$(jfield "$TESTBED/drain1.json" \
      'join " ", sort map { $_->{name} } grep { $_->{target} eq "node2" } @{$r->{domains}}')
xl node2 migrate-cluster "${on2%% *}" node1
is 1 "$rc" "a node in maintenance takes no migration"

# ---- a node in maintenance is never chosen ----
xl node1 maintenance exit
xl node2 maintenance enter node3
is 0 "$rc" "node3 put in maintenance from node2"
xl node2 maintenance status node3
like "in maintenance" "$out" "node3 reports maintenance"
before3=$(on node3 "$X" -b sim list | grep -c '^d')
xl node2 drain --report "$TESTBED/drain2.json"
is 0 "$rc" "drain of node2 with node3 in maintenance"
is 0 "$(jfield "$TESTBED/drain2.json" \
       'scalar grep { ($_->{target} // "") ne "node1" } @{$r->{domains}}')" \
   "every domain of node2 went to node1, never to node3"
is "$before3" "$(on node3 "$X" -b sim list | grep -c '^d')" \
   "nothing arrived on node3"
bad=""
for d in $on2; do
    c=$(copies "$d")
    [ "$c" = "node1:$d:running" ] && on node1 "$X" sim verify "$d" \
        >/dev/null 2>&1 || bad="$bad $d($c)"
done
is "" "$bad" "each of node2's domains runs once, on node1, verified"

# ---- a domain that fits nowhere ----
xl node2 maintenance exit
xl node2 maintenance exit node3
xl node1 sim create huge --memory 700
is 0 "$rc" "a 700 MiB domain on node1 (node2 and node3 have 640 MiB)"
xl node1 drain --cron --report "$TESTBED/drain3.json"
is 1 "$rc" "a drain leaving a domain behind exits 1"
is "" "$out" "--cron prints nothing on stdout"
like "huge cannot move" "$err" "the domain left behind is named on stderr"
like "needs 700 MiB" "$(jfield "$TESTBED/drain3.json" \
       'join ";", map { $_->{error} // "" } grep { $_->{name} eq "huge" } @{$r->{domains}}')" \
     "the report gives the reason"
is "some could not move" "$(jfield "$TESTBED/drain3.json" '$r->{result}')" \
   "the report says some could not move"
one_copy huge node1 "huge after the drain"
is "$on2" "$(jfield "$TESTBED/drain3.json" \
    'join " ", sort map { $_->{name} } grep { $_->{outcome} eq "migrated" } @{$r->{domains}}')" \
   "the others moved"

# ---- interrupted, then continued ----
xl node1 maintenance exit
xl node1 destroy huge
for i in 1 2 3; do xl node1 sim create "r$i" --memory 32; done
# One at a time, slowly, so SIGTERM lands while one migration runs.
sed 's/^max_outgoing = .*/max_outgoing = 1/' "$CFG" >"$TESTBED/serial.cfg"
on node1 sh -c 'echo $$ >"$1"; shift; exec "$@"' sh "$TESTBED/drain4.pid" \
    "$X" -c "$TESTBED/serial.cfg" -b sim drain -B 16MiB \
    >"$TESTBED/drain4.out" 2>&1 &
bg=$!
for _ in $(seq 200); do
    grep -q '"outcome":"migrated"' "$TESTBED/state-node1/drain-progress.json" \
        2>/dev/null && break
    sleep 0.05
done
kill -TERM "$(cat "$TESTBED/drain4.pid")"
wait "$bg"
is 4 "$?" "a drain stopped by SIGTERM exits 4 (interrupted)"
left=$(on node1 "$X" -b sim list | grep -c '^r')
ok "$([ "$left" -ge 1 ] && [ "$left" -le 2 ] && echo 0 || echo 1)" \
   "it stopped part way ($left of 3 left)"
like '"result":"interrupted"' \
     "$(cat "$TESTBED/state-node1/drain-progress.json" 2>/dev/null)" \
     "its progress is kept for the next run"
xl node1 drain --report "$TESTBED/drain5.json"
is 0 "$rc" "running it again finishes the drain"
is 3 "$(jfield "$TESTBED/drain5.json" \
       'scalar grep { $_->{outcome} =~ /^migrated/ } @{$r->{domains}}')" \
   "the report counts the earlier moves too"
for i in 1 2 3; do
    moved_ok "r$i" node1 "r$i moved, one copy, verified"
done
