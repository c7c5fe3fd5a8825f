# SPDX-License-Identifier: LGPL-2.1-only
# TAP helpers for the shell tests, with the same names as tests/tap/tap.h.
# Source it, call plan N, then assertions.  MIG_ROOT is the tree's top.

: "${MIG_ROOT:=$(cd "$(dirname "$0")/../.." && pwd)}"
export MIG_ROOT
XLMIG="$MIG_ROOT/xlmig/xlmig"
_tap_n=0
_tap_fail=0
_tap_plan=0

plan() { _tap_plan=$1; echo "1..$1"; }
skip_all() { echo "1..0 # SKIP $*"; exit 0; }
diag() { printf '%s\n' "$@" | sed 's/^/# /'; }
bail() { echo "Bail out! $*"; exit 255; }

ok() {   # ok COND_STATUS DESCRIPTION
    _tap_n=$((_tap_n + 1))
    if [ "$1" -eq 0 ]; then
        echo "ok $_tap_n - $2"
    else
        _tap_fail=$((_tap_fail + 1))
        echo "not ok $_tap_n - $2"
    fi
}

is() {   # is WANTED SEEN DESCRIPTION
    if [ "$1" = "$2" ]; then ok 0 "$3"; else
        ok 1 "$3"; diag "wanted: $1" "  seen: $2"; fi
}

like() { # like SUBSTRING TEXT DESCRIPTION
    case "$2" in
    *"$1"*) ok 0 "$3" ;;
    *) ok 1 "$3"; diag "wanted a text containing: $1" "  seen: $2" ;;
    esac
}

# run CMD...: sets $out, $err, $rc
run() {
    local o e
    o=$(mktemp) e=$(mktemp)
    "$@" >"$o" 2>"$e"
    rc=$?
    out=$(cat "$o") err=$(cat "$e")
    rm -f "$o" "$e"
}

# A test may define tap_cleanup(); it runs at exit, before the plan check.
_tap_end() {
    if declare -F tap_cleanup >/dev/null; then tap_cleanup; fi
    if [ "$_tap_plan" -ne "$_tap_n" ]; then
        echo "# Looks like you planned $_tap_plan tests but ran $_tap_n."
        exit 255
    fi
    [ "$_tap_fail" -eq 0 ] || exit 1
}
trap _tap_end EXIT
