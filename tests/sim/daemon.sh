# SPDX-License-Identifier: LGPL-2.1-only
# Start a private xlmigd --backend=sim for one test: its socket is unique
# to the test's PID, and tap_cleanup (call daemon_stop) ends it by PID.
XLMIGD="$MIG_ROOT/xlmig/xlmigd"
XLMIGD_SOCKET="${TMPDIR:-/tmp}/xlmigd-test-$$.sock"
export XLMIGD_SOCKET
# Its own state: domains outlive a daemon and the next one of the same
# state directory takes them over.
XLMIG_STATE_DIR=$(mktemp -d "${TMPDIR:-/tmp}/xlmigd-test-$$.XXXXXX")
export XLMIG_STATE_DIR
_daemon_pid=""

daemon_start() {   # daemon_start [ENV=VALUE...]
    rm -f "$XLMIGD_SOCKET"   # a crashed daemon's: wait for the new one
    env "$@" "$XLMIGD" -v --backend=sim -s "$XLMIGD_SOCKET" \
        2>"${TMPDIR:-/tmp}/xlmigd-test-$$.log" &
    _daemon_pid=$!
    for _ in $(seq 50); do
        [ -S "$XLMIGD_SOCKET" ] && return 0
        sleep 0.1
    done
    bail "xlmigd did not start: $(cat "${TMPDIR:-/tmp}/xlmigd-test-$$.log")"
}

daemon_stop() {
    local d
    if [ -n "$_daemon_pid" ]; then
        # Domains outlive their daemon: end them first.
        for d in $("$XLMIG" -b sim list 2>/dev/null | awk 'NR > 1 { print $1 }'); do
            "$XLMIG" -b sim destroy "$d" >/dev/null 2>&1
        done
        kill "$_daemon_pid" 2>/dev/null
        wait "$_daemon_pid" 2>/dev/null
        _daemon_pid=""
    fi
    rm -f "$XLMIGD_SOCKET" "${TMPDIR:-/tmp}/xlmigd-test-$$.log"
    rm -rf "$XLMIG_STATE_DIR"
}

# state NAME: the domain's state column in `xlmig list`, or "absent".
state() {
    "$XLMIG" -b sim list 2>/dev/null |
        awk -v n="$1" '$1 == n { print $5; f = 1 } END { if (!f) print "absent" }'
}
