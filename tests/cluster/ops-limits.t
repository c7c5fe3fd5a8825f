#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-only
# max_outgoing and max_incoming, enforced by the daemons for every
# migration however it was started, on the namespace cluster with both
# limits at 1: a second migration from node1 waits in node1's queue with
# its place shown by status, and a cancel takes it out with the domain
# still running there; a migration from node3 into node2, which already
# receives one, waits for node2's slot (node2 refuses it as busy and
# says why) and runs once the slot frees; node2 never receives two at
# once; maintenance shows in every node's status.
. "$(dirname "$0")/lib.sh"

plan 26

# jnode JSON NODE PERL-EXPR: evaluate EXPR with $n the status of NODE
jnode() {
    perl -MJSON::PP -e 'my $r = decode_json($ARGV[0]);
        my ($n) = grep { ($_->{node} // "") eq $ARGV[1] } @{ $r->{nodes} };
        print eval $ARGV[2]' "$1" "$2" "$3"
}
# report FILE PERL-EXPR: EXPR with $r the migration report in FILE
report() {
    grep '"type":"report"' "$1" |
        perl -MJSON::PP -e 'my $r = decode_json(scalar <STDIN>)->{report};
                            print eval $ARGV[0]' "$2"
}
# migrate_bg NODE OUT ARGS...: xlmig migrate-cluster --json in the
# background; its pid in $bg
migrate_bg() {
    local n=$1 o=$2
    shift 2
    on "$n" "$X" -c "$CFG" -b sim --json migrate-cluster "$@" >"$o" 2>&1 &
    bg=$!
}
# wait_phase NODE DOMAIN STATE-OR-PHASE: until NODE's status shows it
wait_phase() {
    local i s
    for i in $(seq 100); do
        s=$(on "$1" "$X" -c "$CFG" -b sim --json status --local 2>/dev/null |
            perl -MJSON::PP -e 'local $/; my $r = decode_json(<STDIN>);
                for (@{ $r->{nodes}[0]{outgoing} }) {
                    print "$_->{state} ", $_->{phase} // "", "\n"
                        if $_->{domain} eq $ARGV[0] }' "$2")
        case " $s " in *" $3 "*) return 0 ;; esac
        sleep 0.2
    done
    diag "$2 on $1 never showed $3 (last: $s)"
    return 1
}

cluster_up
sed -e 's/^max_outgoing = .*/max_outgoing = 1/' \
    -e 's/^max_incoming = .*/max_incoming = 1/' "$CFG" >"$TESTBED/limits.cfg"
CFG=$TESTBED/limits.cfg
DAEMON_CFG=$CFG daemons || bail "daemons did not start"

for d in a b; do xl node1 sim create "$d" --memory 192 --dirty-rate 2000; done
xl node3 sim create c --memory 64 --dirty-rate 500

# ---- the source's limit: a queue ----
migrate_bg node1 "$TESTBED/a.out" -B 16MiB a node2
mig_a=$bg
wait_streaming a node2 || diag "$(cat "$TESTBED/a.out")"
migrate_bg node1 "$TESTBED/b.out" -B 16MiB b node3
mig_b=$bg
wait_phase node1 b queued
is 0 "$?" "a second migration from node1 (max_outgoing = 1) waits"
xl node1 status
like "out 1 running, 1 queued (max 1)" "$out" "status counts it as queued"
like "queued, place 1 (max_outgoing reached)" "$out" "with its place"
xl node1 --json status --local
is "running queued 1" \
   "$(jnode "$out" node1 'join " ", (map { $_->{state} } @{ $n->{outgoing} }),
      map { $_->{queue_position} // () } @{ $n->{outgoing} }')" \
   "JSON: a runs, b is queued at place 1"
is "" "$(copies b | grep -o 'node3:[^ ]*')" "nothing of b reached node3"

# ---- the target's limit: a busy target ----
migrate_bg node3 "$TESTBED/c.out" c node2
mig_c=$bg
wait_phase node3 c waiting
is 0 "$?" "a migration from node3 into node2 (max_incoming = 1) waits"
xl node3 status c
like "waiting for a slot on node2 (its max_incoming)" "$out" \
     "status says what it waits for"
grep -q "node2 already receives 1 migration(s), its limit (max_incoming = 1" \
    "$TESTBED/node2.xlmigd.log"
ok $? "node2 refused it as busy and said why"
xl node2 --json status --local
is 1 "$(jnode "$out" node2 'scalar @{ $n->{incoming} }')" \
   "node2 receives one migration, not two"

# ---- a cancel takes a queued migration out ----
xl node1 cancel b
is 0 "$rc" "cancel of the queued migration"
wait $mig_b
is 1 "$?" "its migrate-cluster exits 1"
is cancelled "$(report "$TESTBED/b.out" '$r->{outcome}')" \
   "its report says cancelled"
like "cancelled while it waited for a slot" "$(cat "$TESTBED/b.out")" \
     "and why"
is "node1:b:running" "$(copies b)" "b runs on node1 as before"
on node1 "$X" -c "$CFG" -b sim --json history b >"$TESTBED/hist.json"
is "cancelled" "$(jfield "$TESTBED/hist.json" '$r->{migrations}[0]{outcome}')" \
   "the history records the cancelled migration"
ok "$([ "$(jfield "$TESTBED/hist.json" '$r->{migrations}[0]{queued_ms}')" -gt 0 ] &&
      echo 0 || echo 1)" "with how long it was queued"

# ---- both wait their turn and then run ----
migrate_bg node1 "$TESTBED/b2.out" -B 16MiB b node3
mig_b=$bg
wait_phase node1 b queued
wait $mig_a
is 0 "$?" "a migrates"
wait $mig_c
is 0 "$?" "c migrates into node2 once a left its slot"
ok "$([ "$(report "$TESTBED/c.out" '$r->{target_wait_ms} // 0')" -gt 0 ] &&
      echo 0 || echo 1)" "c's report says how long it waited for node2"
wait $mig_b
is 0 "$?" "b migrates once a left node1's slot"
ok "$([ "$(report "$TESTBED/b2.out" '$r->{queued_ms} // 0')" -gt 0 ] &&
      echo 0 || echo 1)" "b's report says how long it was queued"
one_copy a node2 "a"
one_copy c node2 "c"

# ---- maintenance shows in status ----
xl node3 maintenance enter
xl node1 status
like "node3: maintenance ON" "$out" "a node in maintenance shows it"
xl node3 maintenance exit
