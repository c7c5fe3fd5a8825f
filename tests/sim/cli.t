#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-only
# The sim hypervisor through the CLI and xlmigd: create, list, pause,
# unpause, verify, destroy, their errors and exit codes, the content
# models, and a malformed saved file refused by restore with no domain
# left behind.
. "$(dirname "$0")/../tap/tap.sh"
. "$(dirname "$0")/daemon.sh"

tap_cleanup() { daemon_stop; rm -f "$tmp"/*; rmdir "$tmp" 2>/dev/null; }
tmp=$(mktemp -d)
X() { "$XLMIG" -b sim "$@"; }

plan 44

XLMIGD_SOCKET=/nonexistent/xlmigd.sock run "$XLMIG" -b sim list
is 1 "$rc" "list without a daemon exits 1"
like "cannot reach the sim daemon at /nonexistent/xlmigd.sock" "$err" \
    "and names the socket"

daemon_start

run X list
is 0 "$rc" "list of an empty host exits 0"
run X sim create a --memory 16 --dirty-rate 1000 --working-set 4
is 0 "$rc" "sim create exits 0"
run X sim create a --memory 16
is 1 "$rc" "creating a duplicate name exits 1"
like "already exists" "$err" "and says so"
run X sim create b
is 2 "$rc" "sim create without --memory exits 2"
run X sim create b --memory 16 --zero-fraction 2
is 2 "$rc" "a zero fraction above 1 exits 2"
run X sim create b --memory 16 --content zeros
is 2 "$rc" "an unknown content model exits 2"
like "invalid content 'zeros' (random or mixed)" "$err" \
    "and names the value and the choices"
is absent "$(state b)" "and creates nothing"

# Both content models: each verifies; only mixed has zero pages (the
# gen table's 4 pages aside) with no --zero-fraction.
zeros() {  # zeros DOMAIN: the zero pages of a checkpoint save
    X --json save -c "$1" - 2>&1 >/dev/null |
        sed -n 's/.*"result".*"zero_pages":\([0-9]*\).*/\1/p'
}
for c in random mixed; do
    run X sim create "c-$c" --memory 16 --content "$c"
    is 0 "$rc" "sim create --content $c exits 0"
    run X sim verify "c-$c"
    is 0 "$rc" "a domain of $c content verifies"
done
zr=$(zeros c-random) zm=$(zeros c-mixed)
ok "$([ "${zr:-99}" -le 4 ] && [ "${zm:-0}" -gt 400 ]; echo $?)" \
    "4096 pages: random content has no zero pages (${zr:-?}), mixed has (${zm:-?})"
X destroy c-random && X destroy c-mixed
is running "$(state a)" "the new domain runs"

run X --json list
like '"name": "a"' "$out" "list --json names it"

run X pause a
is 0 "$rc" "pause exits 0"
is paused "$(state a)" "list shows it paused"
run X sim verify a
is 0 "$rc" "a paused domain verifies"
run X unpause a
is 0 "$rc" "unpause exits 0"
is running "$(state a)" "list shows it running again"
run X sim verify a
is 0 "$rc" "a running domain verifies"
like "memory intact" "$out" "verify reports intact memory"

run X --json save -c --live a "$tmp/live.sav"
is 0 "$rc" "a live checkpoint save exits 0"
like '{"type":"progress","stats":{"version":1,"state":"precopy","round":0' \
    "$out" "--json prints a progress line per round"
like '{"type":"result","op":"save","stats":{"version":1,"state":"done"' \
    "$out" "and the final stats"
run X save -c --live a "$tmp/live.sav"
like "save: done in" "$out" "without --json the stats are text"
like "downtime" "$out" "naming the downtime"

run X save -c a "$tmp/a.sav"
is 0 "$rc" "a non-live checkpoint save exits 0"
is running "$(state a)" "the checkpointed domain runs on"

# A truncated file: refused, nothing left behind, the source untouched.
head -c 100000 "$tmp/a.sav" >"$tmp/trunc.sav"
run X restore -n t "$tmp/trunc.sav"
is 1 "$rc" "restore of a truncated file exits 1"
like "truncated" "$err" "and says the stream is truncated"
is absent "$(state t)" "no partial domain is left"
is running "$(state a)" "the source still runs"

run X restore -p -n a2 "$tmp/a.sav"
is 0 "$rc" "restore -p of the saved file exits 0"
is paused "$(state a2)" "the restored domain is paused"
run X sim verify a2
is 0 "$rc" "and verifies"

run X save a "$tmp/a3.sav"
is absent "$(state a)" "save without -c destroys the domain, as xl save"

# Ctrl-C of the client cancels the save: the domain is not destroyed.
X sim create c --memory 64 --dirty-rate 1000
"$XLMIG" -b sim save --live -B 40MiB c "$tmp/c.sav" 2>/dev/null &
client=$!
sleep 0.5
kill -TERM "$client"
wait "$client"
sleep 2
is running "$(state c)" "a cancelled save leaves the domain running"
run X destroy c

run X destroy a2
is 0 "$rc" "destroy exits 0"
is absent "$(state a2)" "the destroyed domain is gone"
run X destroy nosuch
like "not found" "$err" "destroying an unknown domain says not found"
