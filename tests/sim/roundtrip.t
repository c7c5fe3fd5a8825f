#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-only
# Live save piped into restore through xlmigd, for sizes from 16 MiB to
# 1 GiB and idle, moderate, hot/cold, zero-heavy and heavy guests (heavy
# converges only with the throttle), of mixed content (the default) and
# of random content (the heavy ones: random pages are the fastest to
# write); both copies must verify page by page.
# A heavy guest with auto-converge off and --on-limit abort gives up and
# keeps running.
. "$(dirname "$0")/../tap/tap.sh"
. "$(dirname "$0")/daemon.sh"

tap_cleanup() { daemon_stop; rm -f "$tmp"/*; rmdir "$tmp" 2>/dev/null; }
tmp=$(mktemp -d)
X() { "$XLMIG" -b sim "$@"; }

# name  memory  dirty-rate  working-set  zero-fraction  extra create  save
cases=(
    "idle-16m       16   0         0    0    -        -"
    "moderate-64m   64   20000     16   0    -        -"
    "hotcold-256m   256  20000     64   0    --hot=80 -"
    "zeroheavy-128m 128  5000      0    0.9  -        -"
    "heavy-64m      64   100000000 32   0    --content=random -d5:-B200"
    "moderate-1g    1024 20000     256  0.1  -        -"
)

field() {  # field NAME JSON: the number after "NAME":
    sed -n "s/.*\"result\".*\"$1\":\([0-9]*\).*/\1/p" <<<"$2"
}

plan $((${#cases[@]} * 6 + 5))
daemon_start

for c in "${cases[@]}"; do
    read -r name mem rate ws zero extra sopt <<<"$c"
    [ "$extra" = - ] && extra=""
    [ "$sopt" = - ] && sopt=""
    sopt=${sopt//:/ }
    run X sim create "$name" --memory "$mem" --dirty-rate "$rate" \
        --working-set "$ws" --zero-fraction "$zero" $extra
    is 0 "$rc" "$name: created"
    sleep 0.2
    X --json save -c --live $sopt "$name" - 2>"$tmp/save.err" |
        X restore -n "$name-copy" - >"$tmp/restore.out" 2>&1
    st=("${PIPESTATUS[@]}")
    save=$(grep '"type":"result"' "$tmp/save.err")
    is "0 0" "${st[*]}" "$name: live save | restore both exit 0"
    run X sim verify "$name-copy"
    is 0 "$rc" "$name: the restored copy verifies"
    run X sim verify "$name"
    is 0 "$rc" "$name: the source, still running, verifies"
    case "$name" in
    heavy*)
        t=$(field throttle_max_pct "$save")
        ok "$([ "${t:-0}" -gt 0 ]; echo $?)" \
            "$name: converged only with the throttle (reached ${t:-?}%)" ;;
    zeroheavy*)
        z=$(field zero_pages "$save") n=$(field normal_pages "$save")
        ok "$([ "${z:-0}" -gt "${n:-0}" ]; echo $?)" \
            "$name: most pages travel as zero flags ($z zero, $n normal)" ;;
    *)
        d=$(field downtime_us "$save")
        ok "$([ -n "$d" ] && [ "$d" -lt 1000000 ]; echo $?)" \
            "$name: downtime reported (${d:-?} us)" ;;
    esac
    X destroy "$name-copy"
    X destroy "$name"
    is absent "$(state "$name")" "$name: destroyed"
done

# No throttle, abort at the round limit: the source keeps running.
X sim create stubborn --memory 64 --dirty-rate 100000000 --working-set 32 \
    --content random
run X save -c --live -d 5 -B 200MiB -A -r 4 --on-limit abort stubborn "$tmp/s.sav"
is 1 "$rc" "a heavy guest without auto-converge aborts at the round limit"
like "did not converge" "$err" "and says it did not converge"
like "keeps running" "$err" "and that the domain keeps running"
is running "$(state stubborn)" "the source still runs"
run X sim verify stubborn
is 0 "$rc" "and verifies"
