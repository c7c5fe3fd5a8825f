#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-only
# xlmig integration, the OSSTest-style job, on the namespace cluster, run
# from node3 with a sim domain that answers echo requests on the public
# network: three hops between node1 and node2 (migrations from node1 by
# node1's xlmigd, from node2 as a job of node2's), the TAP parsed by
# TAP::Parser and the JUnit XML validated by xmllint against the schema
# CI servers read; then a drain of the node it runs on and its return;
# then a hop the target refuses, which must fail the job (exit 1, a
# failure in the JUnit XML) and leave the domain running once at home.
. "$(dirname "$0")/lib.sh"

command -v tap2junit >/dev/null ||
    skip_all "needs tap2junit (libtap-formatter-junit-perl)"
command -v xmllint >/dev/null || skip_all "needs xmllint (libxml2-utils)"

plan 29

XSD=$MIG_ROOT/tests/data/junit/junit.xsd
IP=192.0.2.101

# tapcheck FILE: "PLAN PASSED FAILED" as TAP::Parser reads FILE
tapcheck() {
    perl -MTAP::Parser -e '
        my $p = TAP::Parser->new({ source => $ARGV[0] });
        1 while $p->next;
        printf "%s %d %d%s\n", $p->tests_planned // "none",
            scalar($p->passed), scalar($p->failed),
            $p->parse_errors ? " errors: " . join("; ", $p->parse_errors) : ""
    ' "$1"
}
# xpath FILE EXPR
xpath() { xmllint --xpath "$2" "$1" 2>/dev/null; }

cluster_up
for n in node1 node2 node3; do
    daemon "$n" -P pub0 || bail "daemon $n did not start"
done
xl node1 sim create vm --memory 64 --dirty-rate 1000 --ip "$IP" \
    --mac 00:16:3e:00:01:01 || bail "no domain"

# ---- usage ----
xl node3 integration vm
is 2 "$rc" "without --nodes: a usage error"
xl node3 integration --nodes node1,nosuch vm
is 2 "$rc" "a node not in the cluster: a usage error"
like "no node nosuch in the cluster" "$err" "and it is named"
xl node3 integration --nodes node1,node2 --hops 0 vm
is 2 "$rc" "--hops 0 is out of range"
xl node3 integration -n --nodes node1,node2 --hops 3 vm
is 0 "$rc" "-n prints the series"
like "vm: 3 hop(s) around node1,node2" "$out" "without moving anything"

# ---- three hops ----
xl node3 integration --nodes node1,node2 --hops 3 --probe "$IP" \
    --tap "$TESTBED/hops.tap" --junit "$TESTBED/hops.xml" vm
is 0 "$rc" "three hops pass: exit 0"
diag "$(cat "$TESTBED/hops.tap")"
is "11 11 0" "$(tapcheck "$TESTBED/hops.tap")" \
   "TAP::Parser: 11 planned, 11 passed, none failed"
like "ok 3 - hop 1: vm migrated node1 -> node2 in" "$(cat "$TESTBED/hops.tap")" \
     "hop 1 by node1's xlmigd"
like "ok 6 - hop 2: vm migrated node2 -> node1 in" "$(cat "$TESTBED/hops.tap")" \
     "hop 2 as a job of node2's"
like "ok 10 - hop 3: vm runs exactly once in the cluster, on node2" \
     "$(cat "$TESTBED/hops.tap")" "after every hop: once in the cluster"
like "ok 11 - hop 3: vm answers its probe at $IP:7" \
     "$(cat "$TESTBED/hops.tap")" "and it answers its probe"
xmllint --noout --schema "$XSD" "$TESTBED/hops.xml" 2>"$TESTBED/xsd.err"
ok $? "the JUnit XML is valid against the schema CI servers read"
is "11 0" "$(xpath "$TESTBED/hops.xml" 'string(//testsuite/@tests)') $(xpath "$TESTBED/hops.xml" 'string(//testsuite/@failures)')" \
   "it has 11 tests, no failure"
is 11 "$(xpath "$TESTBED/hops.xml" 'count(//testcase)')" "one testcase each"
one_copy vm node2 "after the hops"

# ---- a drain and the return ----
xl node3 maintenance enter     # the drain of node2 must pick node1
xl node3 integration --drain --probe "$IP" --tap "$TESTBED/drain.tap" \
    --junit "$TESTBED/drain.xml" vm
is 0 "$rc" "a drain of node2 and the return pass: exit 0"
diag "$(cat "$TESTBED/drain.tap")"
like "ok 3 - drain 1: drain of node2 moved every domain away" \
     "$(cat "$TESTBED/drain.tap")" "the drain ran on node2"
like "ok 6 - return 1: vm migrated node1 -> node2" \
     "$(cat "$TESTBED/drain.tap")" "and vm came back"
is "8 8 0" "$(tapcheck "$TESTBED/drain.tap")" "TAP::Parser: 8 of 8 passed"
xl node2 maintenance status
like "in service" "$out" "node2 left maintenance for the return"

# ---- a hop that fails ----
xl node1 maintenance enter
xl node3 integration --nodes node1,node2 --hops 2 --probe "$IP" \
    --tap "$TESTBED/fail.tap" --junit "$TESTBED/fail.xml" vm
is 1 "$rc" "a refused hop fails the job: exit 1"
like "not ok 3 - hop 1: vm migrated node2 -> node1" \
     "$(cat "$TESTBED/fail.tap")" "the TAP says which check failed"
like "node1 is in maintenance mode" "$(cat "$TESTBED/fail.tap")" "and why"
xmllint --noout --schema "$XSD" "$TESTBED/fail.xml" 2>>"$TESTBED/xsd.err"
ok $? "the JUnit XML of a failed job is valid too"
is 1 "$(xpath "$TESTBED/fail.xml" 'string(//testsuite/@failures)')" \
   "with one failure"
one_copy vm node2 "after the refused hop"
[ -s "$TESTBED/xsd.err" ] && diag "$(cat "$TESTBED/xsd.err")"
