#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-only
# The bash completion of xlmig and xl-migrate-cluster (xlmig/completion.bash),
# sourced here and driven as bash drives it, through COMP_WORDS and
# COMP_CWORD: commands and options from the program's help, option
# values, domain names from `xlmig list` (a sim xlmigd of this test's
# own), node names from the config given with -c, CPU baselines, files.
. "$(dirname "$0")/../tap/tap.sh"
. "$MIG_ROOT/tests/sim/daemon.sh"

export LC_ALL=C
tmp=$(mktemp -d)
tap_cleanup() { daemon_stop; rm -rf "$tmp"; }
PATH=$MIG_ROOT/xlmig:$PATH
cfg=$MIG_ROOT/examples/xlmig.cfg

# shellcheck source=../../xlmig/completion.bash
. "$MIG_ROOT/xlmig/completion.bash" || bail "cannot source the completion"

# comp LINE: the completions of LINE's last word, as bash would offer
# them (words split at blanks and around '=', as COMP_WORDBREAKS has it;
# a trailing space starts a new, empty word), sorted, on one line.
comp() {
    read -r -a COMP_WORDS <<<"${1//=/ = }"
    COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
    if [ "${1: -1}" = " " ]; then
        COMP_WORDS+=("")
        COMP_CWORD=${#COMP_WORDS[@]}
        COMP_CWORD=$((COMP_CWORD - 1))
    fi
    COMPREPLY=()
    "$func" "${COMP_WORDS[0]}" "${COMP_WORDS[COMP_CWORD]}" \
        "${COMP_WORDS[COMP_CWORD - 1]}"
    printf '%s\n' "${COMPREPLY[@]}" | sort | xargs
}

cases=(
    "xlmig mig"                      "migrate-cluster"
    "xlmig dr"                       "drain"
    "xlmig help ca"                  "cancel"
    "xlmig -"                        "--backend --config --dry-run --json --verbose --version -N -V -b -c -j -v"
    "xlmig --backend "               "sim xen"
    "xlmig drain --r"                "--report"
    "xlmig migrate-cluster --d"      "--downtime --dry-run"
    "xlmig migrate-cluster -L "      "abort force"
    "xlmig migrate-cluster --compression " "auto lz4 off zstd"
    "xlmig balance --comp"           "--compression"
    "xlmig drain -B "                "100Mbit 100MiB 10Gbit 1Gbit unlimited"
    "xlmig maintenance "             "enter exit status"
    "xlmig net "                     "check responder show"
    "xlmig cpuid s"                  "set-compat show"
    "xlmig -c $cfg migrate-cluster web1 dom0-"   "dom0-a dom0-b dom0-c"
    "xlmig -c $cfg migrate-cluster --from dom0-" "dom0-a dom0-b dom0-c"
    "xlmig --config=$cfg drain "     "dom0-a dom0-b dom0-c"
    "xlmig -c $cfg maintenance enter dom0-b" "dom0-b"
    "xlmig -c $cfg net check -n "    "dom0-a dom0-b dom0-c"
    "xlmig -c $cfg drain -d 300 "    "dom0-a dom0-b dom0-c"
    "xlmig --backend=s"              "sim"
    "xlmig cpuid set-compat web1 Has" "Haswell Haswell-noTSX"
    "xlmig cpuid level --baseline x86-64-v" "x86-64-v2 x86-64-v3 x86-64-v4"
    "xlmig cpuid check --policy ho"  "host"
    "xlmig keygen ${cfg%.cfg}.c"     "$cfg"
    "xl-migrate-cluster -c $cfg web1 dom0-c" "dom0-c"
    "xl-migrate-cluster --fr"        "--from"
    "xlmig --backend sim pause d"    "dom1 dom2"
    "xlmig -b sim migrate-cluster dom2 " ""
    "xlmig -b sim sim verify dom"    "dom1 dom2"
    "xlmig list d"                   ""
)
plan $((${#cases[@]} / 2 + 3))

spec=$(complete -p xlmig 2>/dev/null)
like "-F _xlmig" "$spec" "sourcing it registers the completion of xlmig"
like "-F _xlmig" "$(complete -p xl-migrate-cluster 2>/dev/null)" \
    "and of xl-migrate-cluster"
func=${spec#*-F }
func=${func%% *}

# Domains of a sim xlmigd of this test.
daemon_start
"$XLMIG" -b sim sim create dom1 --memory 8 >/dev/null &&
    "$XLMIG" -b sim sim create dom2 --memory 8 >/dev/null ||
    bail "cannot create sim domains"

all=$(comp "xlmig " | wc -w)
is "$("$XLMIG" help | sed -n '/^Commands:/,/^$/p' | grep -c '^  [a-z]')" \
    "$all" "an empty command word offers every command of the table"

for ((i = 0; i < ${#cases[@]}; i += 2)); do
    line=${cases[i]} want=${cases[i + 1]}
    is "$want" "$(comp "$line")" "completes '${line/#"$MIG_ROOT"/}'"
done
