#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-only
# The xlmig command line: help, version, info on both backends, exit codes
# and messages for good and bad invocations, argv[0] dispatch.
. "$(dirname "$0")/../tap/tap.sh"

plan 44

run "$XLMIG" help
is 0 "$rc" "help exits 0"
like "Commands:" "$out" "help lists the commands"
like "  info " "$out" "help shows the info row"

run "$XLMIG" help info
is 0 "$rc" "help COMMAND exits 0"
like "usage: xlmig info" "$out" "help COMMAND prints its usage line"

run "$XLMIG" help nosuch
is 2 "$rc" "help of an unknown command exits 2"
like "unknown command 'nosuch'" "$err" "and says so"

run "$XLMIG" version
is 0 "$rc" "version exits 0"
like "xlmig 0." "$out" "version printed"
run "$XLMIG" --json version
like '"version":1' "$out" "version as JSON"

run "$XLMIG"
is 2 "$rc" "no command exits 2"
like "usage: xlmig" "$err" "no command prints the usage line"

run "$XLMIG" frobnicate
is 2 "$rc" "unknown command exits 2"
like "unknown command 'frobnicate'" "$err" "unknown command named"

run "$XLMIG" --bogus info
is 2 "$rc" "unknown global option exits 2"
like "unknown option '--bogus'" "$err" "unknown global option named"

run "$XLMIG" info -q
is 2 "$rc" "unknown command option exits 2"
like "usage: xlmig info" "$err" "bad option prints the command's usage"

run "$XLMIG" info extra
is 2 "$rc" "extra argument exits 2"

run "$XLMIG" --backend kvm info
is 2 "$rc" "unknown backend exits 2"
like "unknown backend 'kvm'" "$err" "unknown backend named"

run "$XLMIG" -c
is 2 "$rc" "option without its value exits 2"

if [ -e /dev/xen/privcmd ] && grep -q control_d /proc/xen/capabilities 2>/dev/null; then
    run "$XLMIG" info
    is 0 "$rc" "xen info in a dom0 exits 0"
    like "hypervisor             : Xen 4." "$out" "Xen version reported"
    run "$XLMIG" --json info
    like '"backend": "xen"' "$out" "JSON names the xen backend"
    like '"scheduler"' "$out" "JSON has the scheduler"
    ok 0 "(no error message expected in a dom0)"
else
    run "$XLMIG" info
    is 1 "$rc" "xen info outside a dom0 exits 1"
    is "xlmig: not running in a Xen dom0: /dev/xen/privcmd: No such file or directory (use --backend=sim)" \
       "$err" "one clear line, no libxl noise"
    run "$XLMIG" --json info
    is 1 "$rc" "--json info outside a dom0 exits 1"
    like '"name":"NOT_DOM0"' "$out" "JSON error object names the error"
    like '"message":"not running in a Xen dom0' "$out" "JSON error has the message"
fi

run "$XLMIG" --backend sim info
is 0 "$rc" "sim info exits 0"
like "hypervisor             : xlmig-sim" "$out" "sim hypervisor named"
like "total_memory" "$out" "memory reported"
run "$XLMIG" -b sim --json info
like '"free_memory_kib":' "$out" "sim info as JSON"
ok "$(printf '%s' "$out" | perl -MJSON::PP -e 'local $/; decode_json(<STDIN>); print "ok"' >/dev/null 2>&1; echo $?)" \
   "sim info JSON parses"

run "$XLMIG" probe
is 2 "$rc" "probe without an address exits 2"
run "$XLMIG" probe 127.0.0.1:99999
is 2 "$rc" "probe with a bad port exits 2"
run "$XLMIG" probe -i 0 127.0.0.1
is 2 "$rc" "probe with a zero interval exits 2"
run "$XLMIG" probe -d 50 nohost
like "bad address nohost" "$err" "probe names a bad address"

tmp=$(mktemp -d)
run "$XLMIG" keygen "$tmp/key"
is 0 "$rc" "keygen exits 0"
is "600" "$(stat -c %a "$tmp/key")" "the key file has mode 0600"
is 65 "$(wc -c <"$tmp/key")" "64 hex digits and a newline"
run "$XLMIG" keygen "$tmp/key"
is 1 "$rc" "keygen refuses to overwrite"
like "use -f" "$err" "and says how"
run "$XLMIG" keygen -f "$tmp/key"
is 0 "$rc" "keygen -f replaces the key"
ln -s "$XLMIG" "$tmp/xl-migrate-cluster"
run "$tmp/xl-migrate-cluster" --help-me
is 2 "$rc" "xl-migrate-cluster with a bad option exits 2"
like "usage: xl-migrate-cluster" "$err" "its usage names xl-migrate-cluster"
rm -rf "$tmp"
