#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-only
# The config's migration defaults reach a plain migration: with
# bandwidth_limit = "80Mbit" (10^7 bytes/s) in the config, `xlmig
# migrate-cluster` without -B takes at least its bytes / 10^7 s; -B
# overrides it; the config's downtime_limit_ms and compression show in
# the report, and a job another node runs (-F) takes them too.
. "$(dirname "$0")/lib.sh"

NODES=2
plan 18

jrep() {   # jrep PERL-EXPR: of the report line of $out, $r the report
    printf '%s\n' "$out" | grep '"type":"report"' |
        E=$1 perl -MJSON::PP -ne 'my $r = decode_json($_)->{report};
                                  print eval $ENV{E}' 
}

cluster_up
sed -i 's/^downtime_limit_ms = .*/downtime_limit_ms = 250/' "$CFG"
printf 'bandwidth_limit = "80Mbit"\ncompression = "lz4"\n' >>"$CFG"
printf 'connections_per_network = 2\n' >>"$CFG"
daemons || bail "daemons did not start"
LIMIT=10000000   # bytes/s

# ---- the config's limit, no option ----
xl node1 sim create vm --memory 48 --zero-fraction 0 --content random
xl node1 --json migrate-cluster vm node2
is 0 "$rc" "a plain migrate-cluster (no -B, no -d) migrates"
bytes=$(jrep '$r->{stats}{total_bytes}')
ms=$(jrep '$r->{stats}{total_time_ms}')
min_ms=$((bytes * 1000 / LIMIT))
diag "config limit: $bytes bytes in $ms ms (at least $min_ms ms at 80 Mbit/s)"
ok "$([ "$bytes" -gt $((40 << 20)) ] && echo 0 || echo 1)" \
   "the stream carried the guest's 48 MiB ($bytes bytes)"
ok "$([ "$ms" -ge $((min_ms * 95 / 100)) ] && echo 0 || echo 1)" \
   "it took at least bytes / the config's bandwidth_limit ($ms >= $min_ms ms)"
is 10000000 "$(jrep '$r->{params}{bandwidth_limit}')" \
   "the report's parameters have the config's bandwidth (bytes/s)"
is 250 "$(jrep '$r->{params}{downtime_limit_ms}')" \
   "and its downtime_limit_ms"
is lz4 "$(jrep '$r->{params}{compression}')" "and its compression"
is "mig0#1 mig0#2 mig1#1 mig1#2" \
   "$(jrep 'join " ", map { (split / /, $_->{path})[0] } @{$r->{attempts}[-1]{paths}}')" \
   "connections_per_network = 2: two paths on each network"
one_copy vm node2 "after the limited migration"

# ---- -B overrides it ----
xl node2 --json migrate-cluster -B 1Gbit vm node1
is 0 "$rc" "migrate-cluster -B 1Gbit migrates"
bytes2=$(jrep '$r->{stats}{total_bytes}')
ms2=$(jrep '$r->{stats}{total_time_ms}')
diag "-B 1Gbit: $bytes2 bytes in $ms2 ms"
ok "$([ "$ms2" -lt $((bytes2 * 1000 / LIMIT / 2)) ] && echo 0 || echo 1)" \
   "it is not held to the config's limit ($ms2 ms < half of $((bytes2 * 1000 / LIMIT)) ms)"
is 125000000 "$(jrep '$r->{params}{bandwidth_limit}')" \
   "the report has the option's bandwidth"
is 250 "$(jrep '$r->{params}{downtime_limit_ms}')" \
   "and still the config's downtime limit"

# ---- the text report; jobs of another node ----
xl node1 migrate-cluster -n vm node2
is 0 "$rc" "a dry run of a plain migrate-cluster"
like "limits: downtime 250 ms, bandwidth 80 Mbit/s, compression lz4" \
     "$out" "the text report says the config's limits, in Mbit/s"
xl node2 migrate-cluster -n -F node1 vm node2
like "limits: downtime 250 ms, bandwidth 80 Mbit/s, compression lz4" \
     "$out" "a job of another node (-F) takes the config's limits"
xl node2 migrate-cluster -n -F node1 -d 40 -B 100MiB vm node2
like "limits: downtime 40 ms, bandwidth 839 Mbit/s, compression lz4" \
     "$out" "options given override them in a job of another node"
like "migrate-cluster -n -d 40 -B 100MiB -- vm node2" \
     "$(grep 'job .* for node2' "$TESTBED/node1.xlmigd.log")" \
     "the job's log line names the options as given"
cluster_down
