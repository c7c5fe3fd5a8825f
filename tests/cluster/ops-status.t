#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-only
# xlmig status on the namespace cluster: while a migration streams, the
# source shows it (phase, bytes, rate, ETA, network path), the target
# shows it coming in, a third node sees both through its peers' status
# requests, a DOMAIN filter and --local narrow it, --json carries the
# same; an unreachable daemon is named.  Afterwards xlmig history: the
# source's record of the migration out, the target's of it in, one in
# full by an id prefix, with its report.
. "$(dirname "$0")/lib.sh"

plan 32

# jnode JSON NODE PERL-EXPR: evaluate EXPR with $n the status of NODE
jnode() {
    perl -MJSON::PP -e 'my $r = decode_json($ARGV[0]);
        my ($n) = grep { ($_->{node} // "") eq $ARGV[1] } @{ $r->{nodes} };
        print eval $ARGV[2]' "$1" "$2" "$3"
}

cluster_up
daemons || bail "daemons did not start"

xl node1 status
is 0 "$rc" "status with nothing running exits 0"
like "node1: maintenance off; out 0 running (max 2); in 0 (max 2)" "$out" \
     "this node first, with its limits"
like "node3: maintenance off" "$out" "and every peer"

xl node1 sim create big --memory 192 --dirty-rate 2000
on node1 "$X" -c "$CFG" -b sim migrate-cluster -B 16MiB big node2 \
    >"$TESTBED/big.out" 2>&1 &
mig=$!
wait_streaming big node2 || diag "$(cat "$TESTBED/big.out")"
sleep 1

xl node1 status
is 0 "$rc" "status during a migration exits 0"
like "  big -> node2" "$out" "the source shows the migration out"
like "    Phase:             stream" "$out" "in its stream phase"
like "    Network:           mig0 (10.10.0.1 -> 10.10.0.2)" "$out" \
     "with its network path"
like "    Time remaining:" "$out" "and an estimated time remaining"
like "  big <- node1" "$out" "the target, asked as a peer, shows it coming in"
diag "$out"

xl node1 --json status
is 0 "$rc" "status --json exits 0"
ok "$(jnode "$out" node1 '$n->{outgoing}[0]{bytes} > 0 &&
      $n->{outgoing}[0]{rate} > 0 && defined $n->{outgoing}[0]{eta_ms}
      ? 0 : 1')" "JSON: bytes, rate and ETA of the migration out"
is "running stream node2" \
   "$(jnode "$out" node1 'join " ", map { $n->{outgoing}[0]{$_} } qw(state phase target)')" \
   "JSON: its state, phase and target"
is "big node1 receiving" \
   "$(jnode "$out" node2 'join " ", map { $n->{incoming}[0]{$_} } qw(domain source state)')" \
   "JSON: node2's migration in, from node1"
is "$(jnode "$out" node1 '$n->{outgoing}[0]{id}')" \
   "$(jnode "$out" node2 '$n->{incoming}[0]{id}')" \
   "both sides name the same migration id"

xl node3 status big
like "  big -> node2" "$out" "a third node sees the migration out of node1"
like "  big <- node1" "$out" "and into node2"
xl node3 status other
like "nothing of other runs" "$out" "a DOMAIN filter shows only that domain"
xl node3 status --local
like "node3:" "$out" "--local: this node"
ok "$(case "$out" in *node1:*) echo 1 ;; *) echo 0 ;; esac)" \
   "--local asks no peer"

wait $mig
is 0 "$?" "the migration ends"
xl node1 status big
like "nothing of big runs" "$out" "and status shows nothing of it any more"

# ---- history ----
# hist NODE PERL-EXPR: EXPR with $m the newest record of NODE's history
hist() {
    on "$1" "$X" -c "$CFG" -b sim --json history |
        perl -MJSON::PP -e 'local $/; my $m = decode_json(<STDIN>)->{migrations}[0];
                            print eval $ARGV[0]' "$2"
}
xl node1 history
is 0 "$rc" "history exits 0"
like "DURATION   DOWNTIME" "$out" "it has a header"
is "out big node1 node2 migrated" \
   "$(hist node1 'join " ", @$m{qw(direction domain source target outcome)}')" \
   "the source recorded the migration out"
ok "$(hist node1 '$m->{duration_ms} > 0 && $m->{bytes} > 0 &&
      defined $m->{downtime_ms} && defined $m->{prediction_error_pct}
      ? 0 : 1')" "with its duration, bytes, downtime and prediction error"
is "in big node1 node2 committed" \
   "$(hist node2 'join " ", @$m{qw(direction domain source target outcome)}')" \
   "the target recorded it in"
id=$(hist node1 '$m->{id}')
is "$id" "$(hist node2 '$m->{id}')" "both under the migration's id"
xl node1 history show "${id:0:8}"
is 0 "$rc" "history show ID-PREFIX exits 0"
like "outcome:             migrated" "$out" "it shows the outcome"
like "pre-flight, node1 -> node2:" "$out" "and the report"
xl node1 history show 0123456789
is 1 "$rc" "history show of an unknown id exits 1"

"$TB" stop node3 xlmigd >/dev/null 2>&1
xl node1 status
like "node3: no status:" "$out" "a node whose xlmigd is down is named"
