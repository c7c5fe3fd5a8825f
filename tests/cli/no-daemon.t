#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-only
# With the default backend (xen) and no xlmigd: every command that needs
# the node daemon names xlmigd for Xen and its systemd unit, never the sim
# daemon, and exits 1; migrate-cluster says nothing was sent.  The sim
# backend's commands still name the sim daemon.
. "$(dirname "$0")/../tap/tap.sh"

export XLMIGD_SOCKET=/nonexistent/xlmigd.sock
plan 17

for cmd in "migrate-cluster dom B" "status" "cancel dom" "recover dom"; do
    # shellcheck disable=SC2086
    run "$XLMIG" $cmd
    is 1 "$rc" "${cmd%% *} without xlmigd exits 1"
    like "systemctl start xlmigd.service, or xlmigd --backend=xen" "$err" \
        "${cmd%% *} names xlmigd for Xen and its systemd unit"
    ok "$(grep -qE 'sim daemon|backend=sim' <<<"$err"; [ $? = 1 ]; echo $?)" \
        "${cmd%% *} does not name the sim daemon"
done

run "$XLMIG" migrate-cluster dom B
like "cannot migrate dom to B: cannot reach xlmigd at /nonexistent/xlmigd.sock" \
    "$err" "migrate-cluster names the socket"
like "nothing was sent, dom was not touched" "$err" \
    "and says the domain was not touched"
ok "$(grep -q 'did it end' <<<"$err"; [ $? = 1 ]; echo $?)" \
    "and does not guess that xlmigd ended"

run "$XLMIG" -b sim migrate-cluster dom B
like "cannot reach the sim daemon at /nonexistent/xlmigd.sock (start xlmigd --backend=sim" \
    "$err" "with --backend sim it names the sim daemon"
run "$XLMIG" sim create x --memory 4
like "cannot reach the sim daemon" "$err" "sim create names the sim daemon"
