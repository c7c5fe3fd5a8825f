#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-only
# The host-independent parts of the Xen testbed (tools/xen-testbed), fast
# enough for `make check`: the guest's memtest checker built natively (it
# passes on intact memory, fails on a flipped bit, names the page), its
# disk record checker (passes on intact records, fails on an overwritten
# one, names it) and the testbed's shell scripts parse.  The testbed itself runs by `make xen-check`.
. "$(dirname "$0")/../tap/tap.sh"
tb=$MIG_ROOT/tools/xen-testbed

plan 29

tmp=$(mktemp -d)
tap_cleanup() { rm -rf "$tmp"; }

run ${CC:-cc} -O2 -Wall -Werror -o "$tmp/memtest" "$tb/guest/memtest.c"
is 0 "$rc" "memtest builds without warnings"

run "$tmp/memtest" -m 2 -p 1 -n 2 -s 42
is 0 "$rc" "intact memory: two checks, exit 0"
like "seed=000000000000002a selftest ok pages=512" "$out" \
    "self-test finds its own corruption, seed as given"
like "pass=2 ok bad=0" "$out" "second periodic check ok"
is 2 "$(grep -c ' ok bad=0 ' <<<"$out")" "one line per check"

run "$tmp/memtest" -m 2 -p 1 -n 1 -x 100
is 1 "$rc" "a flipped bit makes memtest exit 1"
like "pass=1 FAIL bad=1 first=100" "$out" "and the check names the page"

run "$tmp/memtest" -m 2 -x 512
is 2 "$rc" "corrupting a page outside the buffer is a usage error"
run "$tmp/memtest" -m 0
is 2 "$rc" "zero MiB is a usage error"

run ${CC:-cc} -O2 -Wall -Werror -o "$tmp/diskrec" "$tb/guest/diskrec.c"
is 0 "$rc" "diskrec builds without warnings"
run "$tmp/diskrec" -f "$tmp/records" -p 1 -n 2 -s 7
is 0 "$rc" "intact records: two checks, exit 0"
like "DISKREC seed=00000007 check=2 ok acked=" "$out" \
    "the second check found every acknowledged record"
run "$tmp/diskrec" -f "$tmp/records" -p 1 -n 1 -x 3
is 1 "$rc" "a record overwritten behind the writer's back makes it exit 1"
like "check=1 FAIL acked=" "$out" "and the check fails"
like "first=3" "$out" "naming the record"

for f in xen.t xen-trixie.t lib.sh setup.sh mkoverlay.sh dom0/init \
         dom0/agent guest/init dom0/xentb-block dom0/xentb-vif \
         ../build-root/build.sh; do
    run bash -n "$tb/$f"
    is 0 "$rc" "$f parses"
done

# A release the testbed and the build root do not know is refused by name.
XENTB_DIST=sid XEN_TESTBED_CACHE=$tmp/cache run "$tb/setup.sh"
like "1 setup: error: XENTB_DIST=sid: bookworm or trixie" "$rc $err" \
    "setup.sh refuses an unknown XENTB_DIST"
XENTB_DIST=sid XEN_TESTBED_CACHE=$tmp/cache run "$tb/mkoverlay.sh" "$tmp/run"
like "1 mkoverlay: error: XENTB_DIST=sid: bookworm or trixie" "$rc $err" \
    "mkoverlay.sh refuses an unknown XENTB_DIST"
run "$tb/../build-root/build.sh" sid
like "1 build-root: error: unknown release 'sid' (bookworm or trixie)" \
    "$rc $err" "build.sh refuses an unknown release"
