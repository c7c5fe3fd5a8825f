#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-only
# Migration networks on a namespace cluster built by tools/testbed: the
# classification of the private and public networks (default route, a
# gateway route in another table, a multipath next hop), the refusal
# message, xlmigd listening only on migration addresses, `net check`
# (authenticated, to each peer's xlmigd) with the order of networks,
# skipping a down link on either side, allow_public, and binding: with a
# route that would send the peer's mig0 address out of pub0, the probe
# still leaves through mig0 (counted on the interfaces).  Every namespace
# is removed at exit.
. "$(dirname "$0")/../tap/tap.sh"

[ "$(id -u)" -eq 0 ] || skip_all "needs root for network namespaces"
command -v ip >/dev/null || skip_all "needs iproute2"
TESTBED_SH=$MIG_ROOT/tools/testbed
TB=""

tap_cleanup() {
    [ -n "$TB" ] && [ -d "$TB" ] && "$TESTBED_SH" down -d "$TB"
}

# A signal still runs the EXIT trap, hence tap_cleanup.
trap 'exit 143' TERM INT HUP PIPE
plan 57

tb() { "$TESTBED_SH" "$@"; }
# daemon NODE NAME CFG: xlmigd (sim backend) on NODE, log $TB/NODE.NAME.log
daemon() {
    mkdir -p "$TB/state-$1"
    tb start -d "$TB" "$1" "$2" env XLMIG_STATE_DIR="$TB/state-$1" \
        "$MIG_ROOT/xlmig/xlmigd" --backend=sim -c "$3" -n "$1" \
        -s "$TB/$1.$2.sock"
}
on() { local n=$1; shift; tb exec -d "$TB" "$n" "$@"; }
xl() { local n=$1; shift; run tb exec -d "$TB" "$n" "$XLMIG" -c "$CFG" "$@"; }
stat_of() { on "$1" cat "/sys/class/net/$2/statistics/$3"; }
wait_listen() {   # NODE ADDR:PORT
    local i
    for i in $(seq 1 50); do
        on "$1" ss -ltnH | grep -q "$2" && return 0
        sleep 0.1
    done
    return 1
}

TB=$(tb up -n 3 --public-net)
ok $? "testbed up with 3 nodes"
[ -n "$TB" ] && [ -f "$TB/env" ] || bail "no testbed"
. "$TB/env"
CFG=$TB/xlmig.cfg
is 4 "$(ip netns list | grep -c "^$PREFIX-")" "hub and 3 node namespaces"
is 600 "$(stat -c %a "$TB/xlmig.key")" "key file mode 0600"
run on node1 ip route get 8.8.8.8
like "via 192.0.2.254 dev pub0" "$out" "public network has the default gateway"

# --- classification and the refusal message
xl node1 net show
is 0 "$rc" "net show exits 0"
like "node node1" "$out" "node found from the local addresses"
like "$(printf 'mig0     10.10.0.0/24       10.10.0.1        mig0       up          1500 -                      private  rfc1918       yes')" \
    "$out" "mig0: private, rfc1918, allowed"
like "mig1     10.11.0.0/24       10.11.0.1        mig1       up" "$out" \
    "mig1 row"
like "192.0.2.254 (default)  public   documentation no" "$out" \
    "pub: gateway, public, not allowed"
like "note: network pub (192.0.2.0/24) is public: interface pub0 has a default route via gateway 192.0.2.254, so migration traffic could leave the cluster; it is not used. To allow it, set allow_public = 1 in $CFG (public networks are then used only after every private one)" \
    "$out" "refusal names network, interface, gateway and how to allow it"
xl node1 --json net show
like '"class": "public"' "$out" "JSON has the class"
like '"gateway": "192.0.2.254"' "$out" "JSON has the gateway"

on node1 ip route add default via 10.11.0.9 dev mig1 table 100
xl node1 --json net show
like '"gateway": "10.11.0.9"' "$out" "gateway route in another table seen"
on node1 ip route del default via 10.11.0.9 dev mig1 table 100
on node1 ip route add 10.50.0.0/16 nexthop via 10.11.0.9 dev mig1 \
    nexthop via 192.0.2.254 dev pub0
xl node1 net show
like "10.11.0.9              public" "$out" "multipath next hop makes mig1 public"
like "interface mig1 has a route to 10.50.0.0/16 via gateway 10.11.0.9" \
    "$out" "refusal names the route"
on node1 ip route del 10.50.0.0/16
xl node1 net show
like "mig1       up          1500 -                      private" "$out" \
    "mig1 private again"

# --- xlmigd binds migration addresses only
daemon node2 xlmigd "$CFG"
daemon node3 xlmigd "$CFG"
wait_listen node2 10.11.0.2%mig1:8002
ok $? "xlmigd listening on node2"
wait_listen node3 10.11.0.3%mig1:8002
ok $? "xlmigd listening on node3"
listening=$(on node2 ss -ltnH | awk '{print $4}' | sort | tr '\n' ' ')
is "10.10.0.2%mig0:8002 10.11.0.2%mig1:8002 " "$listening" \
    "node2 listens on its two migration addresses (and devices) only"
like "not listening on pub: network pub (192.0.2.0/24) is public" \
    "$(cat "$TB/node2.xlmigd.log")" "xlmigd says why not on pub"

# --- check
xl node1 net check
is 0 "$rc" "net check exits 0"
like "peer node2: reachable" "$out" "node2 reachable"
like "peer node3: reachable" "$out" "node3 reachable"
like "migration to node2 would use mig0 (10.10.0.1 -> 10.10.0.2 on mig0)" \
    "$out" "first private network used"
xl node1 --json net check -s 1 node3
is 0 "$rc" "net check --json NODE exits 0"
like '"used_network": "mig0"' "$out" "JSON names the network used"
like '"reachable": true' "$out" "JSON says reachable"
like '"rtt_ms": 0.' "$out" "JSON has an RTT"
like '"throughput_mbit_s":' "$out" "JSON has a throughput"
like '"probe_bytes": 1048576' "$out" "xlmigd read the 1 MiB probe"
case "$out" in *'"node": "node2"'*) ok 1 "only the named peer" ;;
               *) ok 0 "only the named peer" ;; esac

# --- binding: a host route would send 10.10.0.2 out of pub0
on node1 ip route add 10.10.0.2/32 via 192.0.2.254 dev pub0
run on node1 ip route get 10.10.0.2
like "via 192.0.2.254 dev pub0" "$out" "routing table points 10.10.0.2 at pub0"
m0p=$(stat_of node1 mig0 tx_packets) m0b=$(stat_of node1 mig0 tx_bytes)
p0p=$(stat_of node1 pub0 tx_packets)
xl node1 net check -s 8 node2
is 0 "$rc" "check still succeeds"
like "migration to node2 would use mig0" "$out" "over mig0"
dm0p=$(( $(stat_of node1 mig0 tx_packets) - m0p ))
dm0b=$(( $(stat_of node1 mig0 tx_bytes) - m0b ))
dp0p=$(( $(stat_of node1 pub0 tx_packets) - p0p ))
diag "mig0: +$dm0p packets +$dm0b bytes; pub0: +$dp0p packets"
[ "$dm0b" -ge 1048576 ] && [ "$dm0p" -ge 20 ]
ok $? "probe bytes left through mig0 (+$dm0p packets, +$dm0b bytes)"
[ "$dp0p" -le 10 ]
ok $? "next to nothing left through pub0 (+$dp0p packets)"
# The counters do see a misrouted connection: an unbound one leaves
# through pub0, as the routing table says.
p0p=$(stat_of node1 pub0 tx_packets)
on node1 timeout 1 bash -c 'echo >/dev/tcp/10.10.0.2/8002' 2>/dev/null
dp0p=$(( $(stat_of node1 pub0 tx_packets) - p0p ))
[ "$dp0p" -ge 1 ]
ok $? "an unbound connection to 10.10.0.2 goes out of pub0 (+$dp0p packets)"
on node1 ip route del 10.10.0.2/32

# --- a down link is skipped, on the peer's side and on ours
on node2 ip link set mig0 down
t0=$(date +%s%N)
xl node1 net check -T 300 -s 0 node2
t1=$(date +%s%N)
is 0 "$rc" "peer's mig0 down: check exits 0"
like "migration to node2 would use mig1" "$out" "mig1 used instead"
like "Connection timed out" "$out" "mig0 timed out"
[ $(( (t1 - t0) / 1000000 )) -lt 3000 ]
ok $? "within the short connect timeout ($(( (t1 - t0) / 1000000 )) ms)"
on node2 ip link set mig0 up
on node1 ip link set mig0 down
xl node1 net show
like "mig0       down" "$out" "local link down shown"
xl node1 net check -s 0 node2
like "local link is down" "$out" "local down link skipped"
like "migration to node2 would use mig1" "$out" "mig1 used"
on node1 ip link set mig0 up

# --- allow_public: public networks only after every private one
sed 's/^allow_public = 0/allow_public = 1/' "$CFG" >"$TB/public.cfg"
tb stop -d "$TB" node2 xlmigd
daemon node2 xlmigd2 "$TB/public.cfg"
wait_listen node2 192.0.2.2%pub0:8002
ok $? "with allow_public = 1 xlmigd also listens on pub"
on node2 ip link set mig0 down
on node2 ip link set mig1 down
xl node1 net check -T 300 -s 0 node2
is 1 "$rc" "allow_public = 0: peer unreachable, exit 1"
like "1 peer(s) unreachable" "$err" "and says so"
CFG=$TB/public.cfg
xl node1 net check -T 300 -s 0 node2
is 0 "$rc" "allow_public = 1: reachable"
like "migration to node2 would use pub (192.0.2.1 -> 192.0.2.2 on pub0)" \
    "$out" "public network used after both private ones failed"
on node2 ip link set mig0 up
on node2 ip link set mig1 up
xl node1 net check -s 0 node2
like "would use mig0" "$out" "private network preferred again when up"
CFG=$TB/xlmig.cfg

# --- failures
tb stop -d "$TB" node3 xlmigd
xl node1 net check -s 0 node3
is 1 "$rc" "no xlmigd: exit 1"
like "Connection refused" "$out" "refusal reported per network"
xl hub net show
is 1 "$rc" "outside the cluster (the hub namespace): exit 1"
like "is not a node of cluster" "$err" "and says so"
xl node1 net bogus
is 2 "$rc" "unknown subcommand exits 2"

# --- teardown
tb down -d "$TB"
is 0 "$(ip netns list | grep -c "^$PREFIX-")" "down removes every namespace"
[ ! -d "$TB" ]
ok $? "and the state directory"
