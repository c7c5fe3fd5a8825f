#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-only
# migrate-cluster between namespace hosts: domains of 64 MiB to 1 GiB,
# idle and dirtying, of mixed and random content, each checked by its own
# memory verification and by exactly one running copy afterwards; the
# pre-flight refusals (CPU, memory, public-only path, wrong key), before
# any page moves; cancel; mig0 cut mid-transfer completing over mig1; a
# lost go settled over mig1.
. "$(dirname "$0")/lib.sh"

plan 78

cluster_up --public-net
# node1 loses the go of migrations of "victim" (test-only injection).
DAEMON_ENV=XLMIG_TEST_LOSE_GO=victim:2000 daemon node1 || bail "node1 daemon"
daemon node2 && daemon node3 || bail "daemons did not start"

# ---- moves of several sizes ----
xl node1 sim create small --memory 64
xl node1 sim create busy --memory 256 --dirty-rate 20000 --working-set 64 \
    --content mixed
xl node1 sim create big --memory 1024 --dirty-rate 2000 --content random
is 0 "$rc" "create a 1 GiB domain"

xl node1 migrate-cluster -n small node2
is 0 "$rc" "dry run passes"
like "ok   cpu" "$out" "dry run shows the CPU verdict"
is "node1:small:running" "$(copies small)" "dry run moves nothing"

xl node1 migrate-cluster small node2
is 0 "$rc" "64 MiB idle domain migrates"
like "outcome: migrated" "$out" "report says migrated"
like "predicted: " "$out" "the report gives the prediction"
like "  from its content: memory at " "$out" \
    "and what it assumed of the domain's content"
like "prediction error: " "$out" "and its error against the measured time"
one_copy small node2 "64 MiB idle"

xl node1 migrate-cluster busy node3
is 0 "$rc" "256 MiB domain dirtying 20000 pages/s migrates"
like "downtime" "$out" "final statistics printed"
one_copy busy node3 "256 MiB dirtying"

xl node1 --json migrate-cluster big node2
is 0 "$rc" "1 GiB domain migrates"
like '"outcome":"migrated"' "$out" "JSON report"
like '"prediction":{"version":1,"total_ms":' "$out" "the JSON report records the prediction"
like '"prediction_error_pct":' "$out" "beside the result"
like '"prediction_networks":"mig0, mig1"' "$out" \
     "the prediction's probe went over both private networks"
like '"type":"progress"' "$out" "JSON progress lines"
ref=$(grep -o '"by_ref_bytes":[0-9]*' <<<"$out" | tail -1 | cut -d: -f2)
sec=$(grep -o '"transport":"[^"]*"' <<<"$out" | head -1 | cut -d'"' -f4)
like "TLS 1.3 (" "$sec" "the report names the transport security: $sec"
if [ "$sec" = "TLS 1.3 (user space)" ]; then
    # OpenSSL must see every byte to encrypt it: copies, never references.
    is 0 "${ref:-x}" "the pages were copied through user-space TLS"
else
    ok "$([ "${ref:-0}" -gt $((512 << 20)) ]; echo $?)" \
       "the pages went by reference over TCP (${ref:-?} bytes)"
fi
# Both private networks carried the stream (net/multipath.c).
paths=$(grep '"type":"report"' <<<"$out" | perl -MJSON::PP -ne '
    my $r = decode_json($_)->{report}; my $a = $r->{attempts}[-1]{paths};
    print join("; ", map { "$_->{path}=$_->{state}:" . int($_->{bytes_sent} / 1048576) } @$a)')
ok "$(perl -e 'my @p = split /; /, $ARGV[0]; exit !(@p == 2 &&
        !grep { !/=up:(\d+)$/ || $1 < 64 } @p)' "$paths"; echo $?)" \
   "the stream went over both networks: $paths"
one_copy big node2 "1 GiB"

xl node2 migrate-cluster small node1
is 0 "$rc" "and back to node1"
one_copy small node1 "back home"

# ---- pre-flight refusals ----
# A restarted daemon takes its domains over; node3's are in the way of
# the memory check below.
daemon node3 -C x86-64-v2 -m 8192 || bail "node3 daemon"
is "node3:busy:running" "$(copies busy)" "node3's restarted daemon took busy over"
xl node3 destroy busy
before=$(tx_bytes node1 mig0)
xl node1 migrate-cluster small node3
after=$(tx_bytes node1 mig0)
is 1 "$rc" "CPU-incompatible target refused"
like "FAIL cpu" "$out" "the CPU check failed"
like "host lacks" "$out" "missing features are named"
like "small runs on this node" "$err" "the message says where the domain is"
ok "$([ $((after - before)) -lt 262144 ] && echo 0 || echo 1)" \
   "no memory moved before the refusal ($((after - before)) bytes sent)"
one_copy small node1 "after the CPU refusal"

daemon node3 -m 32 || bail "node3 daemon"
xl node1 migrate-cluster small node3
like "FAIL memory" "$out" "target short of memory refused"
like "needs 64 MiB, node3 has 32 MiB free" "$out" "with the figures"
is 1 "$rc" "exit 1"
daemon node3 -m 8192 || bail "node3 daemon"

# The name is taken on the target.
xl node3 sim create small --memory 32
xl node1 migrate-cluster small node3
like "FAIL name" "$out" "a domain of that name on the target is refused"
xl node3 destroy small

# Public-only path: both private links of node1 down.
on node1 ip link set mig0 down
on node1 ip link set mig1 down
xl node1 migrate-cluster small node2
is 1 "$rc" "no private network: refused"
like "no allowed migration network of node node1 can reach node2" "$err" "the message says no allowed network reaches the target"
like "pub: network pub (192.0.2.0/24) is public" "$err" "and that the public network is not allowed"
on node1 ip link set mig0 up
on node1 ip link set mig1 up
one_copy small node1 "after the network refusal"

# Wrong key on the target.
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$TESTBED/other.key"
chmod 600 "$TESTBED/other.key"
sed "s|^key_file = .*|key_file = \"$TESTBED/other.key\"|" "$CFG" \
    >"$TESTBED/other.cfg"
DAEMON_CFG=$TESTBED/other.cfg daemon node3 || bail "node3 daemon"
xl node1 migrate-cluster small node3
is 1 "$rc" "a target with another key is refused"
like "failed to prove cluster membership" "$out$err" "authentication named"
grep -q "refused connection from 10.10.0.1" "$TESTBED/node3.xlmigd.log"
ok $? "the target logged the refusal with the peer's address"
one_copy small node1 "after the key refusal"
daemon node3 || bail "node3 daemon"

# ---- cancel mid-transfer ----
xl node1 sim create slow --memory 512 --dirty-rate 1000
(wait_streaming slow node2; sleep 0.5; on node1 "$X" cancel slow >/dev/null 2>&1) &
xl node1 migrate-cluster -B 64MiB slow node2
wait
is 1 "$rc" "a cancelled migration exits 1"
like "cancelled" "$out$err" "and says it was cancelled"
one_copy slow node1 "after cancel"
is "" "$(copies slow | grep -o 'node2[^ ]*')" "nothing is left on the target"

# ---- Ctrl-C cancels ----
(wait_streaming slow node2; sleep 0.5
 pkill -INT -f "migrate-cluster -B 64MiB slow node2") &
run on node1 "$X" -c "$CFG" -b sim migrate-cluster -B 64MiB slow node2
wait
is 1 "$rc" "Ctrl-C cancels the migration (exit 1)"
like "cancelling the migration of slow" "$err" "and says so"
one_copy slow node1 "after Ctrl-C"

# ---- mig0 cut during pre-copy: restart over mig1 ----
(wait_streaming slow node2; sleep 0.5; on node1 ip link set mig0 down) &
xl node1 migrate-cluster -B 64MiB slow node2
wait
is 0 "$rc" "the migration completes after mig0 is cut"
like "stream over mig0 (10.10.0.1 -> 10.10.0.2): sent" "$out" "the stream began on mig0 and was sent"
grep -Eq "path mig0 \(10.10.0.1 -> 10.10.0.2\): [0-9.]+ MiB sent, failed" <<<"$out"
ok $? "the cut path mig0 is reported failed"
# Its device down, it sends nothing: the stall check takes it for dead
# (3.5 s), before TCP's user timeout (5 s here) would.
like "failed: its link acknowledged nothing for 3 s: taken for dead" "$out" \
    "found dead by the stall check, not by TCP's timeout"
grep -Eq "path mig1 \(10.11.0.1 -> 10.11.0.2\): [0-9.]+ MiB sent, up" <<<"$out"
ok $? "and mig1 carried it on" || diag "$out"
one_copy slow node2 "after the mig0 cut"
on node1 ip link set mig0 up

# ---- a lost go: the source asks over every network ----
# The connection is cut just before go: the target sees it end, gives up
# and destroys its copy; the source must learn that by asking, not guess.
xl node1 sim create victim --memory 64 --dirty-rate 1000
xl node1 migrate-cluster victim node3
is 1 "$rc" "a go lost with its link fails the migration"
like "handoff settled by asking node3 over mig0" "$out" "settled by asking the target"
like "never received go" "$err" "the message says what happened"
one_copy victim node1 "after a lost go"

# ---- a lost go with no network left: ambiguous, then recover ----
(
    # When node1 renames its copy it is about to send go: cut node3 off.
    for _ in $(seq 100); do
        copies victim | grep -q migratedaway && break
        sleep 0.05
    done
    on node3 ip link set mig0 down
    on node3 ip link set mig1 down
) &
xl node1 migrate-cluster victim node3
wait
is 3 "$rc" "no network after go: exit 3, ambiguous"
like "xlmig recover victim" "$err" "the message says how to settle it"
c=$(copies victim)
is 0 "$(echo "$c" | tr ' ' '\n' | grep -c ':running$')" \
   "no copy runs while it is ambiguous ($c)"
like "node1:victim--migratedaway:paused" "$c" "the source keeps its paused copy"
on node3 ip link set mig0 up
on node3 ip link set mig1 up
xl node1 recover victim
is 0 "$rc" "recover settles it once a network works"
c=$(copies victim)
is 1 "$(echo "$c" | tr ' ' '\n' | grep -c ':running$')" \
   "exactly one running copy after recover ($c)"
