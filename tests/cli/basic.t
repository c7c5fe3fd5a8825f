#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-only
# The xlmig command line: help, version, info on both backends, exit codes
# and messages for good and bad invocations, argv[0] dispatch; --version,
# the range of every numeric option, one meaning per short option, the
# deprecated spellings NEWS lists.
. "$(dirname "$0")/../tap/tap.sh"

plan 101

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
    is "xlmig: not running in a Xen dom0: /dev/xen/privcmd: No such file or directory (run xlmig as root in a Xen dom0, or --backend=sim to try it on simulated domains)" \
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
run "$tmp/xl-migrate-cluster" -h
is 0 "$rc" "xl-migrate-cluster -h exits 0"
like "usage: xl-migrate-cluster [-v] [-c CONFIG] [--json] [-n]" "$out" \
     "it prints migrate-cluster's usage under its own name"
like "  -d, --downtime MS" "$out" "and migrate-cluster's options"
ok "$(case "$out" in *Commands:*) echo 1 ;; *) echo 0 ;; esac)" \
   "not the whole tool's command list"
run "$tmp/xl-migrate-cluster" -d 0 vm node2
is 2 "$rc" "xl-migrate-cluster takes migrate-cluster's options: -d 0 refused"
like "xl-migrate-cluster: invalid downtime: '0' (1 to 3600000 ms)" "$err" \
     "with the range"
run "$tmp/xl-migrate-cluster" --version
is 0 "$rc" "xl-migrate-cluster --version exits 0"

# ---- --version ----
run "$XLMIG" --version
is 0 "$rc" "--version exits 0"
like "xlmig 0." "$out" "--version prints the version"
run "$XLMIG" -V
is 0 "$rc" "-V exits 0"
like "xlmig 0." "$out" "-V prints the version"

# ---- every numeric option within its range (exit 2 and the range) ----
ranges() {
    cat <<'EOF2'
migrate-cluster -d 0 vm node2|invalid downtime: '0' (1 to 3600000 ms)
migrate-cluster -d 3600001 vm node2|invalid downtime: '3600001'
drain -B 12q|drain: -B/--bandwidth: bandwidth '12q': expected a number with an optional unit (Mbit, Gbit, MiB, ...)
migrate-cluster -B 20Tbit vm node2|bandwidth '20Tbit': out of range (0 or unlimited, or 1 Mbit/s to 10 Tbit/s = 10000000 Mbit/s)
migrate-cluster --bandwidth=-5 vm node2|bandwidth '-5': expected a number
balance -B 0.5|bandwidth '0.5': out of range
integration -B 8MBps x|bandwidth '8MBps': expected a number
estimate -B 1e9 vm|bandwidth '1e9': expected a number
balance -d 0|invalid downtime: '0' (1 to 3600000 ms)
integration -d 3600001 x|invalid downtime: '3600001' (1 to 3600000 ms)
migrate-cluster --compression gzip vm node2|--compression is auto, off, lz4 or zstd, not 'gzip'
drain --compression=LZ4|--compression is auto, off, lz4 or zstd, not 'LZ4'
save -r 0 vm f|invalid round limit: '0' (1 to 1000 rounds)
estimate -s 39 vm|invalid sample time: '39' (40 to 60000 ms)
estimate -S 0 vm|invalid probe size: '0' (1 to 1024 MiB)
probe -i 60001 127.0.0.1|invalid interval: '60001' (1 to 60000 ms)
probe -D 0 127.0.0.1|invalid duration: '0' (1 to 86400000 ms)
net check -T 0|invalid timeout: '0' (1 to 60000 ms)
balance -t 101|invalid threshold: '101' (1 to 100 %)
validate -k 0|invalid clock skew: '0' (1 to 3600000 ms)
sim create x --memory 0|invalid memory: '0' (1 to 1048576 MiB)
EOF2
}
while IFS='|' read -r args msg; do
    # shellcheck disable=SC2086
    run "$XLMIG" -b sim $args
    if [ "$rc" = 2 ] && case "$err" in *"$msg"*) true ;; *) false ;; esac
    then ok 0 "$args: exit 2, $msg"
    else ok 1 "$args: exit 2, $msg"; diag "rc $rc" "$err"; fi
done < <(ranges)
XLMIGD_SOCKET=/nonexistent/xlmigd.sock run "$XLMIG" -b sim migrate-cluster \
    -d 1 -B 0 -r 1000 vm node2
is 1 "$rc" "-d 1 -B 0 -r 1000 are within range (it fails later: no daemon)"
for b in 800 10Gbit "1.5 Gbit/s" 100MiB 1GiB/s unlimited; do
    XLMIGD_SOCKET=/nonexistent/xlmigd.sock run "$XLMIG" -b sim \
        migrate-cluster -B "$b" --compression zstd vm node2
    is 1 "$rc" "-B '$b' --compression zstd are accepted (no daemon later)"
done

# ---- the config's migration defaults are checked where they are read ----
for f in bad-downtime-zero:"downtime_limit_ms: 0 is out of range (must be between 1 and 3600000)" \
         bad-bandwidth-unit:"bandwidth_limit: bandwidth '12q': expected a number with an optional unit" \
         bad-bandwidth-both:"bandwidth_limit_mbps: give bandwidth_limit or its older spelling" \
         bad-compression:"compression: 'gzip' is not one of auto, off, lz4, zstd"; do
    run "$XLMIG" -c "$MIG_ROOT/tests/data/config/${f%%:*}.cfg" -b sim \
        estimate vm
    is 1 "$rc" "${f%%:*}.cfg: exit 1"
    like "${f%%:*}.cfg:" "$err" "${f%%:*}.cfg: the error names the file"
    like "${f#*:}" "$err" "${f%%:*}.cfg: key, value and range"
done

# ---- one meaning per short option, across every command's help ----
for c in $("$XLMIG" help | awk '/^Commands:/ { on = 1; next }
                                 on && /^  / { print $1 }'); do
    "$XLMIG" help "$c" | sed "s/^/$c /"
done >"$tmp/helps"
clash=$(perl -ne 'next unless /^(\S+)\s+-(\w),\s+--([\w-]+)/;
    push @{ $m{$2}{$3} }, $1;
    END { for my $l (sort keys %m) {
        my @means = sort keys %{ $m{$l} };
        print "-$l: ", join("; ", map { "--$_ (@{ $m{$l}{$_} })" } @means),
              "\n" if @means > 1 } }' "$tmp/helps")
is "" "$clash" "no short option means two things"
like "-F, --from NODE" "$(grep '^migrate-cluster' "$tmp/helps")" \
     "options accepted before but not shown are listed (-F)"

# ---- deprecated spellings (NEWS) still work ----
XLMIGD_SOCKET=/nonexistent/xlmigd.sock run "$XLMIG" -b sim restore -n a2 \
    "$tmp/none.sav"
is 1 "$rc" "restore -n NAME still parses (the missing file fails it)"
like "cannot open $tmp/none.sav" "$err" "-n took NAME, FILE is the file"
run "$XLMIG" net show -n nosuch --node nosuch -s
is 2 "$rc" "net show keeps -n NODE beside --node NODE (-s is no option of show)"
like "unknown option '-s'" "$err" "only the unknown option is refused"
rm -rf "$tmp"
