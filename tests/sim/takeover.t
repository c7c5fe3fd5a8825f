#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-only
# Sim domains outlive xlmigd, as Xen domains outlive the toolstack: after
# a crash (SIGKILL) or a stop (SIGTERM) the next xlmigd of the same state
# directory takes them over, running or paused as they were, with their
# memory intact.  A domain a migration had paused (stopped behind the
# daemon's back, as stop-and-copy does) is resumed; one a user paused
# stays paused.  Records whose process is gone, or whose pid now belongs
# to another process, are forgotten and that process is left alone.
. "$(dirname "$0")/../tap/tap.sh"
. "$(dirname "$0")/daemon.sh"

tap_cleanup() { daemon_stop; [ -n "$other" ] && kill "$other" 2>/dev/null; }
X() { "$XLMIG" -b sim "$@"; }
LOG="${TMPDIR:-/tmp}/xlmigd-test-$$.log"
REG="$XLMIG_STATE_DIR/sim-domains"

# pid_of DOMID: the domain process recorded for DOMID
pid_of() { sed -n 's/.*"pid":\([0-9]*\).*/\1/p' "$REG/$1.json"; }
# dead PID: the process has ended (a zombie counts: nobody may reap it)
dead() { local s; s=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)
         [ -z "$s" ] || [ "$s" = Z ]; }
crash() { kill -9 "$_daemon_pid"; wait "$_daemon_pid" 2>/dev/null; _daemon_pid=""; }

plan 18

daemon_start
X sim create run1 --memory 32 --dirty-rate 5000 --working-set 4 >/dev/null
X sim create held --memory 16 >/dev/null
X sim create stopped --memory 16 --dirty-rate 2000 >/dev/null
X sim create gone --memory 16 >/dev/null
X pause held >/dev/null
p_run1=$(pid_of 1)
p_stopped=$(pid_of 3)
p_gone=$(pid_of 4)
ok "$([ -n "$p_run1" ] && [ -n "$p_stopped" ]; echo $?)" \
    "each domain is recorded with its process"

# While no daemon runs: a migration's pause behind its back, a domain
# that dies, and a record whose pid another process has taken.
crash
dead "$p_run1"
ok "$([ $? -ne 0 ]; echo $?)" "a crash of xlmigd leaves its domains running"
kill -STOP "$p_stopped"
kill -9 "$p_gone"
sleep 100 & other=$!
sed "s/\"pid\":[0-9]*/\"pid\":$other/; s/\"domid\":4/\"domid\":9/; s/\"name\":\"gone\"/\"name\":\"impostor\"/" \
    "$REG/4.json" >"$REG/9.json"

daemon_start
is running "$(state run1)" "the restarted xlmigd took over the running domain"
is paused "$(state held)" "the one a user paused stays paused"
is running "$(state stopped)" "the one a migration left paused runs again"
like "resumed stopped: a migration had paused it" "$(cat "$LOG")" \
    "and the log says why it was resumed"
is absent "$(state gone)" "a domain whose process died is forgotten"
ok "$([ ! -e "$REG/4.json" ]; echo $?)" "and its record removed"
is absent "$(state impostor)" "a record whose pid is another process is refused"
kill -0 "$other" 2>/dev/null
ok $? "and that process is left alone"
for d in run1 held stopped; do
    run X sim verify "$d"
    is 0 "$rc" "$d verifies its memory after the takeover"
done

# It keeps working: dirty tracking (a live save) and destroy.
run X save --live run1 "$XLMIG_STATE_DIR/run1.save"
is 0 "$rc" "a live save of the taken-over domain works"
X destroy run1 >/dev/null 2>&1   # gone already: save ends it, as xl save does
run X restore "$XLMIG_STATE_DIR/run1.save"
run X sim verify run1
is 0 "$rc" "and its restored copy verifies"

# A clean stop (SIGTERM) keeps the domains too.
p_held=$(pid_of 2)
kill "$_daemon_pid"; wait "$_daemon_pid" 2>/dev/null; _daemon_pid=""
dead "$p_held"
ok "$([ $? -ne 0 ]; echo $?)" "xlmigd stopped with SIGTERM leaves its domains running"
daemon_start
is paused "$(state held)" "and the next one takes them over"
run X destroy held
dead "$p_held"
ok $? "destroying a taken-over domain ends its process"
