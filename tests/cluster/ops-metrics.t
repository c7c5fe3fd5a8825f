#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-only
# xlmigd's metrics for Prometheus, as node_exporter's textfile collector
# reads them, scraped after real migrations on the namespace cluster:
# every file parses as the text exposition format (HELP and TYPE before
# the samples, names and labels well formed, counters not negative,
# histogram buckets cumulative up to +Inf = _count), and the counters
# say what happened: a migration that worked, one the pre-flight
# refused, one cancelled, the target's view of them, a drain of node3
# (its result and maintenance), bytes, and the duration and downtime
# histograms.
. "$(dirname "$0")/lib.sh"

plan 22

prom() { echo "$TESTBED/state-$1/xlmig.prom"; }

# valid FILE: the exposition format, checked line by line; prints the
# problems (nothing when it is valid)
valid() {
    perl -e '
        my $name = qr/[a-zA-Z_:][a-zA-Z0-9_:]*/;
        my $lbl = qr/[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"/;
        my (%type, %help, %hist, @bad, $samples);
        while (<>) {
            chomp;
            if (/^# HELP ($name) \S/) {
                push @bad, "$.: second HELP of $1" if $help{$1}++;
            } elsif (/^# TYPE ($name) (counter|gauge|histogram|summary|untyped)$/) {
                push @bad, "$.: second TYPE of $1" if $type{$1};
                $type{$1} = $2;
            } elsif (/^#/) {
                push @bad, "$.: bad comment: $_";
            } elsif (/^($name)(?:\{((?:$lbl,)*$lbl?)\})? (\S+)$/) {
                my ($n, $l, $v) = ($1, $2 // "", $3);
                $samples++;
                push @bad, "$.: bad value $v"
                    unless $v =~ /^(?:[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]Inf|NaN)$/;
                my $base = $n;
                $base =~ s/_(bucket|sum|count)$// unless $type{$n};
                my $t = $type{$base};
                push @bad, "$.: $n before its TYPE" unless $t;
                push @bad, "$.: counter $n is $v" if $t && $t eq "counter" && $v < 0;
                push @bad, "$.: counter $n does not end in _total"
                    if $t && $t eq "counter" && $n !~ /_total$/;
                if ($t && $t eq "histogram") {
                    (my $key = $l) =~ s/,?le="[^"]*"//;
                    my $h = $hist{"$base\{$key}"} //= { last => -1 };
                    if ($n =~ /_bucket$/) {
                        push @bad, "$.: bucket without le" unless $l =~ /le="([^"]*)"/;
                        push @bad, "$.: buckets not cumulative" if $v < $h->{last};
                        $h->{last} = $v;
                        $h->{inf} = $v if $l =~ /le="\+Inf"/;
                    }
                    $h->{count} = $v if $n =~ /_count$/;
                }
            } else {
                push @bad, "$.: not a sample: $_";
            }
        }
        for my $k (sort keys %hist) {
            my $h = $hist{$k};
            push @bad, "$k: +Inf bucket ($h->{inf}) is not _count ($h->{count})"
                unless defined $h->{inf} && defined $h->{count} && $h->{inf} == $h->{count};
        }
        push @bad, "no samples" unless $samples;
        print "$_\n" for @bad;' "$1"
}

# metric NODE SAMPLE: its value in NODE's file (name and labels as written)
metric() {
    awk -v s="$2" '$1 == s { print $2 }' "$(prom "$1")"
}

cluster_up
for n in node1 node2 node3; do
    daemon "$n" --metrics "$(prom "$n")" || bail "daemon $n did not start"
done

ok "$([ -s "$(prom node1)" ] && echo 0 || echo 1)" \
   "xlmigd writes its metrics file at start"
is "" "$(valid "$(prom node1)")" "it parses before any migration"

# Random content: every page travels, so the bytes sent exceed 64 MiB.
xl node1 sim create ok1 --memory 64 --dirty-rate 1000 --content random
xl node1 migrate-cluster ok1 node2
is 0 "$rc" "a migration that works"
xl node1 migrate-cluster nosuch node2
is 1 "$rc" "a migration the pre-flight refuses"
xl node1 sim create slow --memory 128 --dirty-rate 1000
on node1 "$X" -c "$CFG" -b sim migrate-cluster -B 8MiB slow node3 \
    >"$TESTBED/slow.out" 2>&1 &
mig=$!
wait_streaming slow node3
xl node1 cancel slow
wait $mig
is 1 "$?" "a migration cancelled"

# A drain of node3 (one domain), which tells its xlmigd how it ended.
xl node3 sim create d1 --memory 64 --dirty-rate 500
xl node3 drain
is 0 "$rc" "a drain of node3"

for n in node1 node2 node3; do
    is "" "$(valid "$(prom "$n")")" "$n's file parses after the migrations"
done
is 3 "$(metric node1 'xlmig_migrations_started_total{direction="out"}')" \
   "node1: three migrations began"
is 1 "$(metric node1 'xlmig_migrations_succeeded_total{direction="out"}')" \
   "one succeeded"
is 1 "$(metric node1 'xlmig_migrations_failed_total{direction="out",outcome="refused"}')" \
   "one was refused"
is 1 "$(metric node1 'xlmig_migrations_failed_total{direction="out",outcome="cancelled"}')" \
   "one was cancelled"
ok "$([ "$(metric node1 'xlmig_migration_bytes_total{direction="out"}')" -gt $((64 << 20)) ] &&
      echo 0 || echo 1)" "the bytes sent count the 64 MiB domain"
is 1 "$(metric node1 'xlmig_migration_downtime_seconds_count')" \
   "the downtime histogram has the one that worked"
is 3 "$(metric node1 'xlmig_migration_duration_seconds_count{direction="out"}')" \
   "the duration histogram all three"
is 0 "$(metric node1 'xlmig_migrations_running{direction="out"}')" \
   "none runs now"
is 2 "$(( $(metric node1 'xlmig_migrations_succeeded_total{direction="in"}') +
           $(metric node2 'xlmig_migrations_succeeded_total{direction="in"}') ))" \
   "the targets count the migrations in (ok1, and d1 from the drain)"
is 1 "$(metric node3 'xlmig_migrations_failed_total{direction="in",outcome="aborted"}')" \
   "node3 counts the cancelled one as aborted"
is 1 "$(metric node3 'xlmig_drains_total{result="all_moved"}')" \
   "node3 counts its drain"
is 1 "$(metric node3 'xlmig_maintenance')" "and is in maintenance after it"
is 0 "$(metric node3 'xlmig_drain_running')" "with no drain running"
