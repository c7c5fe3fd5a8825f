#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-only
# Transport security on the namespace testbed: net show and net check say
# which security each network uses; a man in the middle that flips one
# byte of a migration stream makes the migration fail with a clear error
# while the domain keeps running on the source and verifies; a node
# configured with transport = "plain" and one with "tls" refuse each
# other with a message naming the mismatch on both sides; a cluster
# configured plain says "unencrypted" in the pre-flight and the report.
. "$(dirname "$0")/lib.sh"

NODES=3
RELAY=$MIG_ROOT/tests/helpers/flip-relay
[ -x "$RELAY" ] || bail "build the tests first (make tests)"
command -v nft >/dev/null || skip_all "needs nft (a redirect to the relay)"
plan 28

cluster_up
daemons || bail "daemons did not start"

# 1. What net show and net check say.
xl node1 net show
like "TLS 1.3 (" "$out" "net show names the transport security"
sec=$(grep -o 'TLS 1.3 ([a-z -]*)' <<<"$out" | head -1)
diag "transport here: $sec"
xl node1 net check -S 1
is 0 "$rc" "net check passes"
like "$sec" "$out" "and names the security of each connection it made"
xl node1 --json net check -S 1
like "\"transport\": \"$sec\"" "$out" "in its JSON too"

# 2. A man in the middle on node1's way to node2 over mig0: connections
#    to 10.10.0.2:8002 go to a relay (nft, in node1's namespace), which
#    reaches node2 over mig1 and flips one byte 8 MiB into each
#    connection, that is inside a migration stream.  node1's own
#    connections over mig1 are dropped, so no network is left to fail
#    over to.
xl node1 sim create vm --memory 256 --dirty-rate 500 --working-set 16
is 0 "$rc" "a 256 MiB domain on node1"
on node1 setpriv --reuid=65534 --regid=65534 --clear-groups \
    "$RELAY" 10.10.0.1 9002 10.11.0.2 8002 $((8 << 20)) \
    2>"$TESTBED/relay.log" &
relay=$!
sleep 0.3
on node1 nft -f - <<'EOF'
table ip mitm {
    chain out {
        type nat hook output priority -100;
        ip daddr 10.10.0.2 tcp dport 8002 dnat to 10.10.0.1:9002
    }
    chain block {
        type filter hook output priority 0;
        meta skuid 0 ip daddr 10.11.0.2 tcp dport 8002 drop
    }
}
EOF
is 0 "$?" "the relay sits between node1 and node2"
xl node1 migrate-cluster vm node2
is 1 "$rc" "a migration whose stream had one byte flipped fails"
like "flipped byte" "$(cat "$TESTBED/relay.log")" "the relay did flip one"
like "runs on this node" "$err" "the source says where the domain runs"
like "bad record mac" "$(cat "$TESTBED/node2.xlmigd.log")" \
    "the target says the stream failed its TLS integrity check"
# The source sees the target's alert when it reads it before the reset;
# under load the reset may come first.
like "stream over mig0 (10.10.0.1 -> 10.10.0.2): failed: " "$out" \
    "and the source's report says the stream failed"
case "$out" in
*"alert bad record mac"*) diag "the source read the target's alert" ;;
*) diag "the connection was reset before the source read the alert" ;;
esac
diag "source: $err" "$(grep "stream over" <<<"$out")"
one_copy vm node1 "after the flipped byte"
on node1 nft delete table ip mitm
kill "$relay" 2>/dev/null
wait "$relay" 2>/dev/null
xl node1 migrate-cluster vm node2
is 0 "$rc" "without the relay the same migration succeeds"
one_copy vm node2 "after the relay is gone"

# 3. node3 configured with transport = "plain", the others with "tls".
PCFG=$TESTBED/plain.cfg
{ cat "$CFG"; echo 'transport = "plain"'; } >"$PCFG"
DAEMON_CFG=$PCFG daemon node3 || bail "node3 did not restart"
xl node2 migrate-cluster vm node3
is 1 "$rc" "a TLS node cannot migrate to a plain one"
like "node3 is configured with transport = plain; this node requires transport = tls" \
    "$err" "the TLS side names the mismatch"
like "requires transport = tls; this node is configured with transport = plain" \
    "$(cat "$TESTBED/node3.xlmigd.log")" "and so does the plain side"
one_copy vm node2 "after the refusal of a plain node"
run on node3 "$X" -c "$PCFG" -b sim net check -S 0
like "node1 requires transport = tls; this node is configured with transport = plain" \
    "$out$err" "a check from the plain node names the mismatch"

# 4. All plain: it works, and every report says it is unencrypted.
DAEMON_CFG=$PCFG daemon node2 || bail "node2 did not restart"
run on node2 "$X" -c "$PCFG" -b sim net show
like "unencrypted" "$out" "net show of a plain node: unencrypted"
run on node2 "$X" -c "$PCFG" -b sim migrate-cluster vm node3
is 0 "$rc" "plain nodes migrate to each other"
like "transport   unencrypted (transport = plain in" "$out" \
    "the pre-flight says the stream is unencrypted"
like "transport: unencrypted" "$out" "and so does the report"
run on node2 "$X" -c "$PCFG" -b sim --json migrate-cluster vm node2 \
    --dry-run 2>/dev/null
one_copy vm node3 "over the plain transport"
