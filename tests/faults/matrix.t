#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-only
# The fault matrix: a live migration node1 -> node2 of a dirtying domain
# with one fault injected (libxlmig/core/fault.c, $XLMIG_FAULT in both
# daemons) at each protocol step, on the sending and on the receiving
# side, then network faults on the testbed.  After each case:
#   - never two running copies; exactly one running copy that verifies
#     its memory, also when a daemon crashed (domains outlive xlmigd: the
#     restarted daemon takes them over and settles the handoff from its
#     records), or the ambiguous state (exit 3), which `xlmig recover`
#     must then settle;
#   - no --incoming or --migratedaway copy left anywhere;
#   - no process left: each node's namespace holds its daemon and one
#     process per listed domain;
#   - a failed migration says what happened on stderr.
# The table at the end: case, outcome, where the domain ended, time to
# recover (from the start of the migration to one settled copy), and the
# first line of the tool's message.  A case marked "(not reached)" ran
# without its fault firing.
. "$(dirname "$0")/../cluster/lib.sh"

NODES=2
HANDOFF_TIMEOUT_MS=2000
export HANDOFF_TIMEOUT_MS

# case name, XLMIG_FAULT spec (empty: a network fault, see net_case)
CASES=(
    "src handshake drop|src:handshake:drop"
    "src preflight drop|src:preflight:drop"
    "src begin crash|src:begin:crash"
    "src round 0 drop|src:round:drop"
    "src round corrupt|src:round:corrupt"
    "src round crash|src:round:crash"
    "src stopcopy drop|src:stopcopy:drop"
    "src stopcopy crash|src:stopcopy:crash"
    "src ready hang|src:ready:hang"
    "src ready crash|src:ready:crash"
    "src go drop|src:go:drop"
    "src go corrupt|src:go:corrupt"
    "src go crash|src:go:crash"
    "src confirm crash|src:confirm:crash"
    "src destroy crash|src:destroy:crash"
    "dst handshake drop|dst:handshake:drop"
    "dst preflight crash|dst:preflight:crash"
    "dst begin drop|dst:begin:drop"
    "dst round crash|dst:round:crash:3"
    "dst round corrupt|dst:round:corrupt:3"
    "dst stopcopy crash|dst:stopcopy:crash"
    "dst ready hang|dst:ready:hang"
    "dst ready crash|dst:ready:crash"
    "dst go crash|dst:go:crash"
    "dst unpause crash|dst:unpause:crash"
    "dst confirm drop|dst:confirm:drop"
    "dst confirm crash|dst:confirm:crash"
    "dst destroy crash after a lost go|src:go:drop,dst:destroy:crash"
)
NETCASES=("net cut mig0" "net cut both" "net 5% loss" "net flapping"
          "net 100 Mbit/s")
# per case: invariant, verify, leftovers, processes, message
plan $(( (${#CASES[@]} + ${#NETCASES[@]}) * 5 ))

command -v nft >/dev/null || diag "no nft: the loss case runs without loss"
cluster_up
daemons || bail "daemons did not start"
ROWS=()

alive() { on "$1" "$X" -b sim list >/dev/null 2>&1; }

# procs_ok NODE: the namespace holds the daemon and one process per domain
procs_ok() {
    local ns want got i
    ns=$("$TB" ns "$1")
    for i in $(seq 20); do
        want=$(( 1 + $(on "$1" "$X" -b sim list 2>/dev/null |
                       awk 'NR > 1' | wc -l) ))
        got=$(ip netns pids "$ns" | wc -l)
        [ "$got" = "$want" ] && return 0
        sleep 0.2
    done
    diag "$1: $got processes in its namespace, expected $want"
    return 1
}

# check NAME RC T0 CRASHED: the assertions and the table row
check() {
    local name=$1 mrc=$2 t0=$3 crashed=$4 c outcome where vok=0 n
    if [ "$mrc" = 3 ]; then
        outcome="ambiguous, recovered"
        for _ in 1 2 3; do
            xl node1 recover vm
            [ "$rc" = 0 ] && break
            sleep 1
        done
        [ "$rc" = 0 ] || outcome="ambiguous, recover failed: $err"
    elif [ "$mrc" = 0 ]; then
        outcome="migrated"
    else
        outcome="failed (exit $mrc)"
    fi
    # A stuck target gives its partial copy up when its own wait for go
    # times out, and a restarted source resolves its handoff in the
    # background: allow them that long.
    for _ in $(seq 60); do
        c=$(copies vm)
        case "$c" in *--incoming*|*--migratedaway*) sleep 0.25 ;; *) break ;;
        esac
    done
    n=$(echo "$c" | grep -o ':running' | wc -l)
    case "$c" in
    "node1:vm:running") where=node1 ;;
    "node2:vm:running") where=node2 ;;
    "") where="lost" ;;
    *) where="$c" ;;
    esac
    # Safe: exactly one running copy.
    if [ "$n" = 1 ] && [ "$where" != "$c" ]; then
        ok 0 "$name: $outcome; exactly one running copy, on $where"
        run on "$where" "$X" sim verify vm
        is 0 "$rc" "$name: the copy on $where verifies its memory"
        [ "$rc" = 0 ] || vok=1
    else
        ok 1 "$name: $outcome; copies: '$c'"
        ok 1 "$name: no single copy to verify"
    fi
    case "$c" in
    *--incoming*|*--migratedaway*) ok 1 "$name: partial or paused copy left" ;;
    *) ok 0 "$name: no partial or paused copy left" ;;
    esac
    procs_ok node1 && procs_ok node2
    ok $? "$name: no stray process on either node"
    if [ "$mrc" = 0 ]; then
        ok 0 "$name: migrated, nothing to explain"
    elif [ "$crashed" = node1 ]; then
        like "xlmigd on this node does not answer (did it end?)" "$merr" \
            "$name: the tool says xlmigd ended and where to look"
    else
        like "xlmig: " "$merr" "$name: the tool says what happened"
    fi
    [ -n "$crashed" ] && where="$where ($crashed restarted)"
    ROWS+=("$(printf '%-30s %-28s %-36s %5s ms  %s' "$name" "$outcome" \
              "$where" $(( ($(date +%s%N) - t0) / 1000000 )) \
              "$(echo "$merr" | grep -m1 . | cut -c1-110)")")
    # Leave the cluster empty for the next case.
    for i in 1 2; do
        for d in vm vm--incoming vm--migratedaway; do
            on "node$i" "$X" -b sim destroy "$d" >/dev/null 2>&1
        done
    done
}

# settle_daemons: restart a daemon that crashed, without the fault
settle_daemons() {
    crashed=""
    for i in 1 2; do
        if ! alive "node$i"; then
            crashed="${crashed:+$crashed+}node$i"
            DAEMON_ENV= daemon "node$i" || bail "node$i daemon restart"
        fi
    done
}

for entry in "${CASES[@]}"; do
    name=${entry%%|*}
    spec=${entry#*|}
    DAEMON_ENV="XLMIG_FAULT=$spec" daemons || bail "daemons with $spec"
    xl node1 sim create vm --memory 48 --dirty-rate 4000 --working-set 8
    [ "$rc" = 0 ] || bail "cannot create the domain: $err"
    fired=$(cat "$TESTBED"/node*.xlmigd.log | grep -c "fault injection")
    t0=$(date +%s%N)
    xl node1 migrate-cluster vm node2
    mrc=$rc merr=$err
    [ "$(cat "$TESTBED"/node*.xlmigd.log | grep -c "fault injection")" \
        -gt "$fired" ] || name="$name (not reached)"
    settle_daemons
    check "$name" "$mrc" "$t0" "$crashed"
done

# ---- network faults ----
DAEMON_ENV= daemons || bail "daemons"
ns1=$("$TB" ns node1)
net_case() {
    local name=$1 setup=$2 undo=$3
    xl node1 sim create vm --memory 48 --dirty-rate 4000 --working-set 8
    t0=$(date +%s%N)
    eval "$setup"
    xl node1 migrate-cluster -B 400MiB vm node2
    mrc=$rc merr=$err
    wait
    eval "$undo"
    settle_daemons
    check "$name" "$mrc" "$t0" "$crashed"
}
net_case "net cut mig0" "(sleep 0.5; on node1 ip link set mig0 down) &" \
    "on node1 ip link set mig0 up"
net_case "net cut both" \
    "(sleep 0.5; on node1 ip link set mig0 down; on node1 ip link set mig1 down) &" \
    "on node1 ip link set mig0 up; on node1 ip link set mig1 up"
net_case "net 5% loss" \
    "ip netns exec $ns1 nft -f - <<<'table inet xlmigloss { chain o { type filter hook output priority 0; meta l4proto tcp numgen random mod 100 < 5 drop; } }' 2>/dev/null" \
    "ip netns exec $ns1 nft delete table inet xlmigloss 2>/dev/null"
net_case "net flapping" \
    "(for k in 1 2 3 4; do sleep 0.4; on node1 ip link set mig0 down; sleep 0.4; on node1 ip link set mig0 up; done) &" \
    "on node1 ip link set mig0 up"
net_case "net 100 Mbit/s" \
    "on node1 tc qdisc add dev mig0 root tbf rate 100mbit burst 64kb latency 50ms" \
    "on node1 tc qdisc del dev mig0 root"

# The table goes to stderr too, so that `make check` (prove, not verbose)
# shows it.
{
    diag ""
    diag "$(printf '%-30s %-28s %-36s %8s  %s' case outcome 'where it ended' \
        recovery 'first line the tool printed')"
    for r in "${ROWS[@]}"; do diag "$r"; done
} | tee /dev/stderr
