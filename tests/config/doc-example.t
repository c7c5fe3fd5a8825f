#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-only
# The complete example of docs/xlmig.cfg.5.md is a valid config, and
# the one installed as an example (examples/xlmig.cfg) is the same; a
# config error reaches the user with file, line and key and exit code 1.
. "$(dirname "$0")/../tap/tap.sh"

plan 7
tmp=$(mktemp -d)
tap_cleanup() { rm -rf "$tmp"; }

sed -n '/^## Example/,/^## Checking/p' "$MIG_ROOT/docs/xlmig.cfg.5.md" |
    sed -n 's/^    //p' >"$tmp/example.cfg"
like 'cluster = "rack7"' "$(cat "$tmp/example.cfg")" "example extracted"
run "$XLMIG" -c "$tmp/example.cfg" --json net show -n dom0-b
is 0 "$rc" "example config accepted"
like '"local_address": "fd00:10:11::2"' "$out" "node's IPv6 address found"
is "" "$err" "no warnings"
grep -v '^$' "$MIG_ROOT/examples/xlmig.cfg" | cmp -s - "$tmp/example.cfg"
ok $? "examples/xlmig.cfg is the example of the man page"

run "$XLMIG" -c "$MIG_ROOT/tests/data/config/bad-node-outside.cfg" net show
is 1 "$rc" "bad config exits 1"
like "bad-node-outside.cfg:3: node: node a: address 10.10.1.1 is outside network mig0 (10.10.0.0/24)" \
    "$err" "error names file, line and key"
