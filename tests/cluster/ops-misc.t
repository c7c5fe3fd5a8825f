#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-only
# Cluster operations besides drain, on the namespace cluster: xlmig
# estimate against the measured migration of a steadily dirtying guest,
# of random and of mixed content;
# xlmig validate on a sound cluster, then with a gateway on a migration
# network and with a node holding another key; xlmig balance proposing,
# then performing, the move that brings a node under the threshold;
# maintenance mode usage errors.
. "$(dirname "$0")/lib.sh"

plan 35

jget() {   # jget JSON PERL-EXPR, $r the parsed JSON
    perl -MJSON::PP -e 'my $r = decode_json($ARGV[0]); print eval $ARGV[1]' \
        "$1" "$2"
}

cluster_up
MEM=512 daemon node1 && MEM=1024 daemon node2 && MEM=1024 daemon node3 ||
    bail "daemons did not start"

# ---- estimate ----
# Random content: every page goes raw, whatever the compression mode.
xl node1 sim create steady --memory 64 --dirty-rate 3000 --content random
xl node1 --json estimate -B 32MiB steady node2
is 0 "$rc" "estimate of a 64 MiB guest dirtying 3000 pages/s at 32 MiB/s"
est=$(jget "$out" '$r->{estimate}{total_ms}')
like '"rounds":' "$out" "the estimate predicts rounds"
like '"downtime_ms":' "$out" "and the downtime"
ok "$([ "$(jget "$out" '$r->{raw_bandwidth}')" -gt 0 ] && echo 0 || echo 1)" \
   "the bandwidth to node2 was measured"
is "mig0, mig1" "$(jget "$out" '$r->{network}')" \
   "over both private networks at once, as a migration goes"
xl node1 --json migrate-cluster -B 32MiB steady node2
is 0 "$rc" "the same guest migrates"
meas=$(printf '%s\n' "$out" | grep '"type":"report"' |
       perl -MJSON::PP -ne 'print decode_json($_)->{report}{stats}{total_time_ms}')
stream=$(printf '%s\n' "$out" | grep '"type":"report"' |
         perl -MJSON::PP -ne 'print decode_json($_)->{report}{phases_ms}{stream} // -1')
ok "$([ "$stream" -ge $((meas - 10)) ] && [ "$stream" -le $((meas + 2000)) ] &&
      echo 0 || echo 1)" \
   "the report's phases: the stream phase (${stream} ms) holds the engine's ${meas} ms"
# The downtime runs until the domain ran on node2: the stream's part,
# plus at most the handoff (ready, go, the confirm) in which it lies.
read -r dt sdt hof <<<"$(printf '%s\n' "$out" | grep '"type":"report"' |
    perl -MJSON::PP -ne '$r = decode_json($_)->{report};
        print join(" ", $r->{stats}{downtime_us} // -1,
                   $r->{stream_downtime_us} // -1,
                   $r->{phases_ms}{handoff} // -1)')"
ok "$([ "$sdt" -gt 0 ] && [ "$dt" -gt "$sdt" ] &&
      [ "$dt" -le $((sdt + (hof + 1) * 1000)) ] && echo 0 || echo 1)" \
   "the downtime (${dt} us) is the stream's (${sdt} us) and part of the ${hof} ms handoff"
err_pct=$(( (est - meas) * 100 / meas ))
diag "estimate ${est} ms, measured ${meas} ms, error ${err_pct}%"
ok "$([ "${err_pct#-}" -le 25 ] && echo 0 || echo 1)" \
   "the estimate is within 25% of the measured time (${err_pct}%)"
one_copy steady node2 "after the estimated migration"
# Mixed content: the content sample finds the zero fifth the stream
# leaves out and how the rest compresses under the limit (without it,
# the estimate would be the random guest's, over 4 times the time).
xl node1 sim create mixed --memory 64 --dirty-rate 3000 --content mixed
xl node1 --json estimate -B 32MiB mixed node2
est=$(jget "$out" '$r->{estimate}{total_ms}')
zero=$(jget "$out" 'int(100 * $r->{estimate}{skipped_share})')
comp=$(jget "$out" '$r->{estimate}{compression}')
ok "$([ "$rc" = 0 ] && [ "$zero" -ge 10 ] && [ "$zero" -le 30 ] &&
      echo 0 || echo 1)" \
   "estimate of mixed content: ${zero}% zero pages left out (a fifth)"
ok "$([ "$comp" = lz4 ] || [ "$comp" = zstd ]; echo $?)" \
   "and at 32 MiB/s the pages go compressed ($comp)"
xl node1 --json migrate-cluster -B 32MiB mixed node2
meas=$(printf '%s\n' "$out" | grep '"type":"report"' |
       perl -MJSON::PP -ne 'print decode_json($_)->{report}{stats}{total_time_ms}')
is 0 "$rc" "the mixed guest migrates"
err_pct=$(( (est - meas) * 100 / meas ))
diag "mixed: estimate ${est} ms, measured ${meas} ms, error ${err_pct}%"
ok "$([ "${err_pct#-}" -le 40 ] && echo 0 || echo 1)" \
   "the mixed estimate is within 40% of the measured time (${err_pct}%)"
xl node1 estimate nosuch node2
is 1 "$rc" "estimate of a domain that does not exist fails"
xl node1 estimate
is 2 "$rc" "estimate without a domain is a usage error"

# ---- validate ----
xl node1 validate
is 0 "$rc" "validate passes on a sound cluster"
like "0 failed" "$out" "every check passes"
like "reach        node3/mig1       ok" "$out" "each node is checked on each network"
xl node1 --json validate
like '"ok":true' "$out" "validate --json"

on node2 ip route add 10.99.0.0/24 via 10.10.0.3 dev mig0
xl node1 validate
is 1 "$rc" "validate fails when a migration network has a gateway"
like "network      node2/mig0       FAIL public: gateway 10.10.0.3" "$out" \
     "the node, the network and the gateway are named"
like "network      node3/mig0       ok" "$out" "the other nodes pass"
on node2 ip route del 10.99.0.0/24 via 10.10.0.3 dev mig0

head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$TESTBED/other.key"
chmod 600 "$TESTBED/other.key"
sed "s|^key_file = .*|key_file = \"$TESTBED/other.key\"|" "$CFG" \
    >"$TESTBED/other.cfg"
DAEMON_CFG=$TESTBED/other.cfg daemon node3 -m 1024 || bail "node3 daemon"
xl node1 validate
is 1 "$rc" "validate fails when a node has another key"
like "node3/mig0       FAIL" "$out" "node3 fails on mig0"
like "failed to prove cluster membership" "$out" "authentication is named"
like "daemon       node3            FAIL" "$out" "node3 counts as unreachable"
MEM=1024 daemon node3 || bail "node3 daemon"

# ---- balance ----
for i in 1 2 3; do xl node1 sim create "b$i" --memory 140; done
xl node1 balance
is 0 "$rc" "balance proposes moves"
like "move b" "$out" "a move off node1 is proposed"
is "node1:b1:running" "$(copies b1)" "without --apply nothing moves"
xl node1 balance --apply
is 0 "$rc" "balance --apply performs the move"
like "done: b" "$out" "and says so"
xl node1 balance
like "nothing to do" "$out" "afterwards every node is under 80%"

# ---- maintenance usage ----
xl node1 maintenance sideways
is 2 "$rc" "an unknown maintenance action is a usage error"
