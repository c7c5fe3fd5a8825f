#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-only
# `xlmig cpuid`: show, baselines, check (exit 0 compatible, 1 not, 2 bad
# input), level and set-compat, in text and JSON, on the sim backend and
# with policy files; the Xen backend outside a dom0 fails cleanly.
. "$(dirname "$0")/../tap/tap.sh"

DATA="$MIG_ROOT/tests/data/policy"
tmp=$(mktemp -d /tmp/xlmig-cpuid-cli.XXXXXX)
tap_cleanup() { rm -rf "$tmp"; }

# json_get JSON PERL-EXPR: evaluate EXPR on the decoded document $d.
json_get() {
    printf '%s' "$1" | perl -MJSON::PP -e 'local $/; my $d = decode_json(<STDIN>); my $r = eval $ARGV[0]; die $@ if $@; print ref($r) eq "ARRAY" ? join(" ", @$r) : (defined $r ? (JSON::PP::is_bool($r) ? ($r ? "true" : "false") : $r) : "null")' "$2" 2>&1
}

plan 53

# show
run "$XLMIG" -b sim cpuid show --host
is 0 "$rc" "show --host on sim exits 0"
like "featureset  : " "$out" "the featureset words are printed"
like " sse2" "$out" "real features are named"
run "$XLMIG" -b sim --json cpuid show --host
is 0 "$rc" "--json show --host exits 0"
is "1" "$(json_get "$out" '$d->{version}')" "the JSON has version 1"
like "sse2" "$(json_get "$out" '$d->{features}')" "the JSON lists features"
run "$XLMIG" -b sim cpuid show --host --json
like '"vendor": ' "$out" "--json also works after the subcommand"
run "$XLMIG" cpuid show --policy Haswell-noTSX
like "vendor      : intel" "$out" "show --policy takes a baseline name"
run "$XLMIG" cpuid show --policy "$DATA/good-mixed.json"
like "7b0  00000020: avx2" "$out" "show --policy takes a file"
run "$XLMIG" cpuid show
is 2 "$rc" "show with nothing to show exits 2"
run "$XLMIG" cpuid show --host --policy Haswell
is 2 "$rc" "show with two sources exits 2"
if [ -e /dev/xen/privcmd ] && grep -q control_d /proc/xen/capabilities 2>/dev/null; then
    run "$XLMIG" cpuid show --host
    is 0 "$rc" "show --host on the xen backend in a dom0 exits 0"
else
    run "$XLMIG" cpuid show --host
    is 1 "$rc" "show --host on the xen backend outside a dom0 exits 1"
fi

# baselines
run "$XLMIG" cpuid baselines
is 0 "$rc" "baselines exits 0"
like "(20 baselines in " "$out" "twenty baselines"
like "SapphireRapids       intel" "$out" "SapphireRapids listed"
like "x86-64 psABI" "$out" "each names its source"
run "$XLMIG" --json cpuid baselines
is "20" "$(json_get "$out" 'scalar @{$d->{baselines}}')" "JSON lists 20"
run env XLMIG_BASELINE_DIR="$tmp/none" "$XLMIG" cpuid baselines
is 1 "$rc" "a missing XLMIG_BASELINE_DIR fails"
like "is not a directory" "$err" "and says so"

# check: exit codes and output
run "$XLMIG" cpuid check --policy Haswell --host-policy Haswell-noTSX
is 1 "$rc" "Haswell on Haswell-noTSX exits 1"
is "Haswell on Haswell-noTSX: not compatible: host lacks 2 features: hle rtm" \
   "$out" "and names hle and rtm"
run "$XLMIG" cpuid check --policy EPYC-Rome EPYC-Milan
is 0 "$rc" "EPYC-Rome on EPYC-Milan exits 0"
run "$XLMIG" --json cpuid check --policy x86-64-v4 --host-policy EPYC-Milan
is 1 "$rc" "--json check of an incompatible pair exits 1"
is "false" "$(json_get "$out" '$d->{result}{compatible}')" "JSON says not compatible"
is "avx512f avx512dq avx512cd avx512bw avx512vl" \
   "$(json_get "$out" '$d->{result}{missing}')" "JSON lists the missing features"
run "$XLMIG" --json cpuid check --policy Haswell --host-policy EPYC
is "true" "$(json_get "$out" '$d->{result}{vendor_mismatch}')" "JSON reports a vendor mismatch"
run "$XLMIG" -b sim cpuid check --policy host host
is 0 "$rc" "this host fits itself"
run "$XLMIG" cpuid check --policy "$DATA/unknown-feature.json" Haswell
is 2 "$rc" "a malformed policy file exits 2"
like "unknown-feature.json: field \"features[1]\": unknown feature 'avx513'" \
     "$err" "naming the file and the field"
run "$XLMIG" --json cpuid check --policy "$DATA/truncated.json" Haswell
is 2 "$rc" "a truncated file exits 2 with --json"
like '"message":"' "$out" "with a JSON error object"
run "$XLMIG" cpuid check --policy Haswell node7
is 2 "$rc" "an unknown target node exits 2"
like "not supported yet" "$err" "and explains how to pass its policy"
run "$XLMIG" cpuid check --policy Haswell
is 2 "$rc" "check without a target exits 2"
run "$XLMIG" cpuid check --policy Haswell Broadwell Skylake-Server
is 2 "$rc" "check with an extra argument exits 2"
run "$XLMIG" cpuid check --bogus
is 2 "$rc" "an unknown option exits 2"

# level
run "$XLMIG" cpuid level Haswell Broadwell Skylake-Server
is 0 "$rc" "level of three policies exits 0"
like "highest baseline : Haswell" "$out" "the highest common baseline is Haswell"
like '  cpuid = "host,page1gb=0,3dnowprefetch=0,' "$out" "a cpuid= line is printed"
run "$XLMIG" --json cpuid level Haswell-noTSX EPYC
is "x86-64-v3" "$(json_get "$out" '$d->{highest_baseline}')" \
   "Intel with AMD levels to x86-64-v3"
is "unknown" "$(json_get "$out" '$d->{intersection}{vendor}')" "with mixed vendors"
run "$XLMIG" cpuid level --baseline Skylake-Server Haswell Broadwell
is 1 "$rc" "a baseline some node cannot run exits 1"
like "node Haswell cannot run baseline Skylake-Server" "$err" "naming the node"
run "$XLMIG" cpuid level --baseline Pentium4 Haswell
is 2 "$rc" "an unknown baseline exits 2"
run "$XLMIG" -b sim cpuid level
is 0 "$rc" "level of this host alone exits 0"

# set-compat on the sim backend with an xl.cfg of our own
printf 'name = "web1"\nmemory = 512\ncpuid = "host"\n' >"$tmp/web1.cfg"
run "$XLMIG" -b sim cpuid set-compat -f "$tmp/web1.cfg" web1 x86-64-v2
is 0 "$rc" "set-compat writes the config"
like "cannot tell whether web1 runs" "$err" "sim: warns that it cannot see domains yet"
is 1 "$(grep -c '^cpuid = "host,' "$tmp/web1.cfg")" "one masked cpuid= line"
run "$XLMIG" -b sim cpuid show -f "$tmp/web1.cfg" web1
like "vendor      : " "$out" "show DOMAIN reads the domain's config"
case "$out" in
*" avx2"*) ok 1 "the x86-64-v2 domain has no avx2" ;;
*) ok 0 "the x86-64-v2 domain has no avx2" ;;
esac
run "$XLMIG" -b sim --json cpuid set-compat -f "$tmp/web1.cfg" web1 Haswell
like "host," "$(json_get "$out" '$d->{cpuid}')" "--json set-compat returns the line"
run "$XLMIG" -b sim cpuid set-compat -f "$tmp/none.cfg" web1 Haswell
is 1 "$rc" "set-compat without a config exits 1"
run "$XLMIG" -b sim cpuid set-compat web1
is 2 "$rc" "set-compat without a baseline exits 2"
