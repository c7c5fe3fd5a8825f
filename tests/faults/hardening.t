#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-only
# xlmigd against the network it listens on and the users of its node
# (each a way in that a review found): a deeply nested HELLO before
# authentication, 1100 slow connections while a real migration runs, a
# migration id that walks out of the state directory, a memory promise
# smaller than the domain's config, a node name proven with the key but
# claimed from another node's address, a resolve from a node that is not
# the migration's source, a refusal text that would forge a log line,
# storage that the config does not name, fds passed in bulk and users
# other than root on the control socket, and names with shell
# metacharacters.  After each the daemon still serves.
. "$(dirname "$0")/../cluster/lib.sh"

NODES=3
PR=$MIG_ROOT/tests/helpers/peer-req
[ -x "$PR" ] || bail "build the tests first (make tests)"
plan 34

cluster_up
daemons || bail "daemons did not start"
PORT=$(sed -n 's/^port *= *\([0-9]*\).*/\1/p' "$CFG")
PORT=${PORT:-8002}
KEY=$TESTBED/xlmig.key
N2=10.10.0.2
LOG2=$TESTBED/node2.xlmigd.log

alive() {   # alive NODE DESC
    run on "$1" "$X" -b sim list
    is 0 "$rc" "$2"
}
# rpc FROM_NODE AS_NODE OP ARGS: an authenticated request to node2
rpc() {
    run on "$1" "$PR" "$N2" "$PORT" rpc "$KEY" "$2" "$3" "$4"
}
id32=0123456789abcdef0123456789abcdef

# 1. A HELLO of 524000 '[' and as many ']' (1 MB) before any handshake:
#    raw, it never passes the transport preamble; over TLS (a holder of
#    the key) the message layer refuses it unread.
run on node1 "$PR" "$N2" "$PORT" nested-hello 524000
is 0 "$rc" "a raw 1 MB nested HELLO is refused or the connection closed"
like "did not open with an xlmig transport preamble" "$(cat "$LOG2")" \
    "the raw bytes are refused at the transport preamble"
run on node1 "$PR" -k "$KEY" "$N2" "$PORT" nested-hello 524000
is 0 "$rc" "a 1 MB nested HELLO over TLS is refused or the connection closed"
alive node2 "and node2's daemon still serves"
like "before the handshake, over the limit of 4096" "$(cat "$LOG2")" \
    "its log says the unauthenticated message was too large"
# The same nesting in an authenticated request: refused before parsing.
{ printf '{"x":'; head -c 200000 /dev/zero | tr '\0' '['
  head -c 200000 /dev/zero | tr '\0' ']'; printf '}'; } >"$TESTBED/deep.json"
rpc node1 node1 node_info "@$TESTBED/deep.json"
like "nested deeper than 64 levels" "$(cat "$LOG2")" \
    "an authenticated request nested 200000 deep is refused unparsed"
alive node2 "and the daemon still serves"

# 2. 1100 connections from node3 that send a byte every 8 s, while a
#    real migration runs from node1 to node2.
xl node1 sim create vm --memory 256 --dirty-rate 2000 --working-set 32
on node3 "$PR" "$N2" "$PORT" slow 1100 25 >"$TESTBED/slow.out" 2>&1 &
slow=$!
sleep 2
t0=$(date +%s%N)
xl node1 migrate-cluster vm node2
t_mig=$(( ($(date +%s%N) - t0) / 1000000 ))
is 0 "$rc" "a migration completes while 1100 slow connections are held"
diag "migration under the slow connections: ${t_mig} ms"
one_copy vm node2 "under 1100 slow connections"
wait $slow
read -r _ acc _ closed _ maxs <"$TESTBED/slow.out"
diag "slow connections: $(cat "$TESTBED/slow.out")"
is 1100 "$closed" "the daemon closed every slow connection ($acc accepted)"
ok "$(awk -v s="$maxs" 'BEGIN{exit !(s <= 12)}'; echo $?)" \
    "none stayed longer than the handshake deadline (${maxs} s <= 12 s)"
like "too many handshakes at once (32 from one address" "$(cat "$LOG2")" \
    "refusals over the cap are logged with the address"

# 3. Migration ids that walk out of the state directory.
mkdir -p "$TESTBED/outside"
rpc node1 node1 migrate_begin \
    '{"id":"../../././././././outside/pwned1","domain":"x","memory_kib":1024,"config":"{}"}'
is 1 "$rc" "migrate_begin with a path for an id is refused"
like "malformed migration request" "$err" "as malformed"
rpc node1 node1 resolve '{"id":"../../../../etc/passwd"}'
like "without a valid migration id" "$err" "a resolve of a path is refused"
files=$(find "$TESTBED" -name 'pwned*' | wc -l)
is 0 "$files" "and no file was written for them anywhere"

# 4. A promise of 1 MiB for a 64 GiB config.
cfg='{\"version\":1,\"name\":\"big\",\"uuid\":\"00000000-0000-0000-0000-00000000000b\",\"mac\":\"00:16:3e:00:00:0b\",\"ip\":\"10.0.0.11\",\"memory_mib\":65536,\"dirty_rate\":0,\"working_set_mib\":0,\"zero_fraction\":0,\"hot_pct\":0,\"seed\":1}'
rpc node1 node1 migrate_begin \
    "{\"id\":\"$id32\",\"domain\":\"big\",\"memory_kib\":1024,\"config\":\"$cfg\",\"cpu_policy\":{}}"
is 1 "$rc" "1 MiB promised for a 64 GiB config is refused"
like "config gives it 67108864 KiB, but 1024 KiB were announced" "$err" \
    "and the message names both sizes"
run on node2 "$X" -b sim list
is 0 "$(echo "$out" | grep -c big)" "and no domain was made for it"

# 5. Identities: node3 holds the key, but it is not node1.
run on node3 "$PR" -b 10.10.0.3 "$N2" "$PORT" rpc "$KEY" node1 node_info '{}'
is 1 "$rc" "node3 claiming to be node1 gets nothing"
like "proves the cluster key as node 'node1', but that is not one of node1's addresses" \
    "$(cat "$LOG2")" "and node2 logs why"
# The migration of step 2 was node1's: its decision is node1's to ask.
mid=$(ls "$TESTBED/state-node2/decisions" | head -1)
run on node3 "$PR" "$N2" "$PORT" rpc "$KEY" node3 resolve "{\"id\":\"$mid\"}"
is 1 "$rc" "node3 cannot resolve node1's migration"
like "from node1: refused" "$err" "and is told whose it is"
run on node1 "$PR" "$N2" "$PORT" rpc "$KEY" node1 resolve "{\"id\":\"$mid\"}"
like '"decision":"committed"' "$out" "node1 still can"

# 6. A refusal text that would start a forged log line.
run on node1 "$PR" -k "$KEY" "$N2" "$PORT" refused \
    "$(printf 'bye\nxlmig: FORGED LINE by the peer')"
sleep 0.5
n=$(grep -c '^xlmig: FORGED LINE' "$LOG2")
is 0 "$n" "a peer's text cannot start a line of the daemon's log"

# 7. Storage the config does not name.
rpc node1 node1 node_info '{"storage":"/etc"}'
like '"storage_ok":false' "$out" "a peer learns nothing of /etc"
rpc node1 node1 node_info "{\"storage\":\"$TESTBED/storage\"}"
like '"storage_ok":true' "$out" "the configured storage is answered"

# 8. The control socket: fds in bulk, other users.
pid=$(pgrep -f "xlmigd .*-n node2 -s $TESTBED/node2.sock" | head -1)
before=$(ls /proc/"$pid"/fd | wc -l)
for _ in $(seq 50); do
    "$PR" ctl "$TESTBED/node2.sock" fds 5 || break
done
after=$(ls /proc/"$pid"/fd | wc -l)
ok "$([ "$after" -le $((before + 2)) ] && echo 0 || echo 1)" \
    "50 requests with 5 fds each leave no fd behind ($before -> $after)"
perm=$(stat -c %a "$TESTBED/node2.sock")
is 600 "$perm" "the control socket is mode 0600"
chmod 666 "$TESTBED/node2.sock"
run "$PR" ctl "$TESTBED/node2.sock" uid 65534
chmod 600 "$TESTBED/node2.sock"
is 1 "$rc" "another user is refused even when the socket is opened up"
like "refused a control connection from uid 65534" "$(cat "$LOG2")" \
    "and the daemon logs who it was"

# 9. Names with shell metacharacters.
xl node2 sim create 'a;rm -rf x' --memory 64
is 1 "$rc" "a domain name with shell metacharacters is refused"
like "invalid domain name" "$err" "with the rule it broke"
