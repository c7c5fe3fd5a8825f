# SPDX-License-Identifier: LGPL-2.1-only
# Shared by the cluster tests: a namespace testbed with one xlmigd per
# node (its own control socket and state directory), helpers to run
# commands on a node, and the invariant checks: how many copies of a
# domain run in the whole cluster, and whether the survivor verifies.

. "$(dirname "$0")/../tap/tap.sh"

X="$MIG_ROOT/xlmig/xlmig"
XD="$MIG_ROOT/xlmig/xlmigd"
TB="$MIG_ROOT/tools/testbed"
NODES=${NODES:-3}

[ "$(id -u)" = 0 ] || skip_all "needs root for network namespaces"
command -v ip >/dev/null || skip_all "needs iproute2"

cluster_up() {
    TESTBED=$("$TB" up -n "$NODES" "$@") || bail "cannot build the testbed"
    export TESTBED
    CFG=$TESTBED/xlmig.cfg
}

cluster_down() {
    [ -n "${TESTBED:-}" ] && "$TB" down -d "$TESTBED" >/dev/null 2>&1
    TESTBED=
}

# daemon NODE [xlmigd options...]: (re)start NODE's daemon
daemon() {
    local n=$1
    shift
    mkdir -p "$TESTBED/state-$n"
    "$TB" stop "$n" xlmigd >/dev/null 2>&1
    rm -f "$TESTBED/$n.sock"   # a crashed daemon's: wait for the new one
    "$TB" start "$n" xlmigd env XLMIG_STATE_DIR="$TESTBED/state-$n" \
        XLMIG_HANDOFF_TIMEOUT_MS="${HANDOFF_TIMEOUT_MS:-5000}" \
        XLMIG_USER_TIMEOUT_MS="${USER_TIMEOUT_MS:-5000}" \
        ${DAEMON_ENV:-} "$XD" -v --backend=sim -c "${DAEMON_CFG:-$CFG}" \
        -n "$n" -s "$TESTBED/$n.sock" -m "${MEM:-8192}" "$@"
    for _ in $(seq 50); do
        [ -S "$TESTBED/$n.sock" ] && return 0
        sleep 0.1
    done
    diag "xlmigd on $n did not start:" "$(cat "$TESTBED/$n.xlmigd.log")"
    return 1
}

daemons() {
    local i
    for i in $(seq 1 "$NODES"); do daemon "node$i" || return 1; done
}

# on NODE CMD...: run CMD in NODE with its daemon's socket and state
on() {
    local n=$1
    shift
    "$TB" exec -d "$TESTBED" "$n" env XLMIGD_SOCKET="$TESTBED/$n.sock" \
        XLMIG_STATE_DIR="$TESTBED/state-$n" "$@"
}

# xl NODE ARGS...: xlmig on NODE; sets $out $err $rc
xl() {
    local n=$1
    shift
    run on "$n" "$X" -c "$CFG" -b sim "$@"
}

# copies NAME: "node:state" of every copy in the cluster, space separated
copies() {
    local i list=""
    for i in $(seq 1 "$NODES"); do
        list="$list$(on "node$i" "$X" -b sim list 2>/dev/null |
                     awk -v n="node$i" -v d="$1" \
                         '$1 == d || $1 == d"--incoming" || $1 == d"--migratedaway" {printf "%s:%s:%s ", n, $1, $5}')"
    done
    echo "${list% }"
}

# one_copy NAME NODE DESC: exactly one copy, running on NODE, verified
one_copy() {
    local c
    c=$(copies "$1")
    is "$2:$1:running" "$c" "$3: exactly one running copy, on $2"
    run on "$2" "$X" sim verify "$1"
    is 0 "$rc" "$3: the copy on $2 verifies its memory"
    [ "$rc" = 0 ] || diag "$out" "$err" "$(tail -5 "$TESTBED/$2.xlmigd.log")"
}

# wait_streaming NAME NODE: wait (up to 30 s) until NODE prepares the
# incoming copy of NAME, that is until its migration streams.
wait_streaming() {
    local i
    for i in $(seq 300); do
        copies "$1" | grep -q "$2:$1--incoming" && return 0
        sleep 0.1
    done
    diag "no incoming copy of $1 appeared on $2"
    return 1
}

# tx_bytes NODE IF: bytes sent on IF inside NODE
tx_bytes() {
    on "$1" cat "/sys/class/net/$2/statistics/tx_bytes"
}

# jfield FILE PERL-EXPR: evaluate EXPR with $r the parsed JSON report
jfield() {
    perl -MJSON::PP -e 'local $/; open my $f, "<", $ARGV[0] or die;
        my $r = decode_json(<$f>); print eval $ARGV[1]' "$1" "$2"
}

# moved_ok NAME NOT_NODE DESC: one running copy, not on NOT_NODE, verified
moved_ok() {
    local c n
    c=$(copies "$1")
    n=${c%%:*}
    if [ "$c" = "$n:$1:running" ] && [ "$n" != "$2" ] &&
       on "$n" "$X" sim verify "$1" >/dev/null 2>&1; then
        ok 0 "$3 ($c)"
    else
        ok 1 "$3"
        diag "copies: $c"
    fi
}

tap_cleanup() { cluster_down; }
