#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-only
# Attacks on a node daemon's migration port while a real migration runs
# into it: peers that connect and send nothing, random junk, the header
# of a message of 2 GiB, and a truncated header, in a burst of 60
# concurrent bogus connections.
# The real migration must still complete (one running copy that
# verifies), the daemon must stay up, log each refusal with the peer's
# address, and drop silent peers after its authentication timeout.
# (Frame-level attacks -- replayed handshake, wrong key, bad MAC,
# oversized and truncated frames -- are unit-tested in tests/unit/peer.c;
# here they go against a live xlmigd.)
. "$(dirname "$0")/../cluster/lib.sh"

NODES=2
plan 8

cluster_up
daemons || bail "daemons did not start"
PORT=$(sed -n 's/^port *= *\([0-9]*\).*/\1/p' "$CFG")
PORT=${PORT:-8002}
T=10.10.0.2

# bogus KIND: one connection from node1 to node2's migration port
bogus() {
    case "$1" in
    silent) on node1 timeout 15 bash -c "exec 3<>/dev/tcp/$T/$PORT;
            cat <&3 >/dev/null; echo closed" ;;
    junk) on node1 timeout 15 bash -c "exec 3<>/dev/tcp/$T/$PORT;
          head -c 4096 /dev/urandom >&3; cat <&3 >/dev/null" ;;
    huge) on node1 timeout 15 bash -c "exec 3<>/dev/tcp/$T/$PORT;
          printf 'XLMP\\000\\001\\000\\001\\000\\000\\000\\000\\177\\377\\377\\377\\000\\000\\000\\000' >&3
          cat <&3 >/dev/null" ;;
    trunc) on node1 timeout 15 bash -c "exec 3<>/dev/tcp/$T/$PORT;
           printf 'XLM' >&3; exec 3>&-" ;;
    esac
}

xl node1 sim create vm --memory 256 --dirty-rate 3000 --working-set 32

start=$(date +%s)
( sleep 0.3
  for i in $(seq 15); do
      for k in silent junk huge trunc; do bogus $k >/dev/null 2>&1 &
      done
  done
  wait ) &
burst=$!
bogus silent >"$TESTBED/silent.out" 2>&1 &
silent=$!
xl node1 migrate-cluster -B 100MiB vm node2
is 0 "$rc" "the real migration completes during 60 bogus connections"
one_copy vm node2 "under attack"
wait $silent
silent_s=$(( $(date +%s) - start ))
like "closed" "$(cat "$TESTBED/silent.out")" \
    "a silent peer is dropped by the daemon (after ${silent_s} s)"
ok "$([ "$silent_s" -le 14 ] && echo 0 || echo 1)" \
    "within its authentication timeout (${silent_s} s <= 14 s)"
wait $burst
alive=1
on node2 "$X" -b sim list >/dev/null 2>&1 && alive=0
ok $alive "node2's daemon is still up"
n=$(grep -c "refused connection from 10.10.0.1" "$TESTBED/node2.xlmigd.log")
ok "$([ "$n" -ge 50 ] && echo 0 || echo 1)" \
    "each refusal is logged with the peer's address ($n lines)"
xl node2 migrate-cluster vm node1
is 0 "$rc" "and migrates back afterwards"
