#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-only
# xlmigd's backend choice: --backend=xen outside a Xen dom0 fails with a
# clear message (exit 1) before it listens anywhere; sim-only options are
# refused with the xen backend; an unknown backend is a usage error.
# (The xen backend itself runs in tools/xen-testbed, `make xen-check`.)
. "$(dirname "$0")/../tap/tap.sh"

XLMIGD=$MIG_ROOT/xlmig/xlmigd
SOCK=$(mktemp -u /tmp/xlmigd-backend.XXXXXX)
tap_cleanup() { rm -f "$SOCK"; }

if [ -e /dev/xen/privcmd ] || [ -e /proc/xen/privcmd ]; then
    skip_all "this machine is a Xen host: the refusal cannot be seen here"
fi
plan 9

run "$XLMIGD" --backend=xen -s "$SOCK"
is 1 "$rc" "xen backend outside a dom0 exits 1"
like "not running in a Xen dom0" "$err" "and says it is not a dom0"
ok "$([ ! -e "$SOCK" ]; echo $?)" "and never created its control socket"

run "$XLMIGD" --backend=xen -m 512 -s "$SOCK"
is 1 "$rc" "--memory with the xen backend exits 1"
like "are for the sim backend" "$err" "and says --memory is for sim"

run "$XLMIGD" --backend=xen -C nehalem -s "$SOCK"
like "are for the sim backend" "$err" "--cpu-policy with xen is refused too"

run "$XLMIGD" --backend=kvm -s "$SOCK"
is 2 "$rc" "unknown backend exits 2"
like "unknown backend 'kvm' (xen or sim)" "$err" "and names the choices"

run "$XLMIGD" -h
like "backend=sim|xen" "$out" "usage names both backends"
