#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-only
# An IPv6 (ULA) migration network on the namespace cluster: classified
# private with the ula range, public once an IPv6 default route goes
# through it, and used by `net check` (to xlmigd) when the IPv4 network
# is down.
. "$(dirname "$0")/../tap/tap.sh"

[ "$(id -u)" -eq 0 ] || skip_all "needs root for network namespaces"
TESTBED_SH=$MIG_ROOT/tools/testbed
TB=""
tap_cleanup() { [ -n "$TB" ] && [ -d "$TB" ] && "$TESTBED_SH" down -d "$TB"; }
trap 'exit 143' TERM INT HUP PIPE
plan 9

on() { local n=$1; shift; "$TESTBED_SH" exec -d "$TB" "$n" "$@"; }
xl() { local n=$1; shift; run "$TESTBED_SH" exec -d "$TB" "$n" "$XLMIG" \
       -c "$TB/xlmig.cfg" "$@"; }

TB=$("$TESTBED_SH" up -n 2 --ipv6)
ok $? "testbed up with mig1 on IPv6"
[ -n "$TB" ] || bail "no testbed"
xl node1 --json net show
like '"local_address": "fd00:10:11::1"' "$out" "IPv6 address found"
like '"range": "ula"' "$out" "ULA range reported"
on node1 ip -6 route add default via fd00:10:11::fe dev mig1
xl node1 net show
like "fd00:10:11::fe (default) public   ula           no" "$out" \
    "an IPv6 default route makes mig1 public"
on node1 ip -6 route del default via fd00:10:11::fe dev mig1

mkdir -p "$TB/state-node2"
"$TESTBED_SH" start -d "$TB" node2 xlmigd \
    env XLMIG_STATE_DIR="$TB/state-node2" "$MIG_ROOT/xlmig/xlmigd" \
    --backend=sim -c "$TB/xlmig.cfg" -n node2 -s "$TB/node2.sock"
for i in $(seq 1 50); do
    on node2 ss -ltnH | grep -q 'fd00:10:11::2]%mig1' && break
    sleep 0.1
done
on node2 ss -ltnH | grep -qF '[fd00:10:11::2]%mig1:8002'
ok $? "xlmigd listens on the IPv6 migration address"
on node2 ip link set mig0 down
xl node1 net check -T 300 -s 1 node2
is 0 "$rc" "check exits 0"
like "migration to node2 would use mig1 (fd00:10:11::1 -> fd00:10:11::2 on mig1)" \
    "$out" "IPv6 network used when mig0 is down"
xl node1 --json net check -s 1 node2
like '"probe_bytes": 1048576' "$out" "probe counted over IPv6"
"$TESTBED_SH" down -d "$TB"
[ ! -d "$TB" ]
ok $? "testbed removed"
