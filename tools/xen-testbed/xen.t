#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-only
# The Xen testbed run (`make xen-check`, or as root
# `prove -v --exec '' tools/xen-testbed/xen.t`): two emulated hosts running
# Debian's Xen under QEMU TCG (XENTB_DIST=bookworm: Debian 12, Xen 4.17,
# the default; trixie: Debian 13, Xen 4.20, as xen-trixie.t runs it, with
# xlmig built in a Debian 13 root by tools/build-root/build.sh first),
# joined by a public and two private
# migration networks inside a network namespace of our own and a shared
# disk, a PVH guest as users run one (a vif on the public bridge that a
# client probes every 5 ms during each hop, its records on the shared
# disk, memory it checks), and the scenarios below, in TAP.  Each
# scenario that fails is retried once (the output says so) before it
# counts as failed; a failed attempt prints the consoles' last lines.
#
# Scenarios: boot (dom0s up, xlmig info/list on real Xen, guest created),
# xlmig-migrate, xlmig-bridge, xlmig-drain, xlmig-throttle, xlmig-killed,
# xlmig-public, xlmig-cpu (`xlmig migrate-cluster` and `xlmig drain`
# through xlmigd --backend=xen, with plain `xl migrate` hops of the same
# domain between xlmig's in xlmig-migrate; XENTB_ONLY=xlmig names the
# seven), and by name only: xl-baseline (plain `xl migrate` A->B->A over
# mig1 before any xlmigd runs), xlmig-mixed (xlmig, xl, xl, xlmig hops),
# drain3 (a third host; XENTB_ONLY=drain3), and xlmig-integration
# (`xlmig integration`), run on its own: XENTB_ONLY=xlmig-integration.
# In a full run it once preceded a failure of the throttle scenario that
# is not understood yet, so the default run leaves it out.  hvm (an HVM
# guest with Debian's QEMU device model migrated A->B->A; the hosts boot
# the image with the HVM layer) is too slow under TCG for the default run:
# XENTB_ONLY=hvm.  Timings go to the TAP diagnostics and $XENTB_RUN/timings.
#
# Environment: XEN_TESTBED_CACHE (see setup.sh), XENTB_KEEP=1 keeps the run
# directory, XENTB_ONLY="boot xl-baseline" runs a subset, XENTB_CPU and
# XENTB_NARROW_CPU (QEMU -cpu of the normal and of the CPU-incompatible host),
# XENTB_RETRY=0 (no second attempt: for measuring), XENTB_HVM_TIMEOUT (s,
# per step of the hvm scenario),
# XENTB_PROBE_MS (the client's interval during hops, default 20),
# XENTB_ROUNDS (the pre-copy round limit of xlmig's hops, default 8),
# XENTB_XLMIG_CONFIG (lines appended to the cluster config of both nodes,
# e.g. 'compression = "off"' to measure what a feature costs).
# How to run it, what it measured, what fails how: docs/xen-testbed.md.
here=${XENTB_HERE:-$(cd "$(dirname "$0")" && pwd)}
MIG_ROOT=$(cd "$here/../.." && pwd)
export MIG_ROOT

if [ -z "${XENTB_IN_NETNS:-}" ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "1..0 # SKIP the Xen testbed needs root (debootstrap, unshare)"
        exit 0
    fi
    export XENTB_DIST=${XENTB_DIST:-bookworm}
    t0=$(date +%s.%N)
    timeout 1800 "$here/setup.sh" >&2 ||
        { echo "Bail out! testbed setup failed"; exit 255; }
    t1=$(date +%s.%N)
    # The xlmig of a trixie dom0 is built against Xen 4.20 (incremental:
    # seconds when up to date).
    if [ "$XENTB_DIST" = trixie ] && [ -z "${XENTB_XLMIG_TREE:-}" ]; then
        timeout 1200 "$MIG_ROOT/tools/build-root/build.sh" trixie >&2 ||
            { echo "Bail out! the build for trixie failed"; exit 255; }
    fi
    run=$(mktemp -d /tmp/xentb-run.XXXXXX)
    timeout 300 "$here/mkoverlay.sh" "$run" >&2 ||
        { echo "Bail out! overlay build failed"; exit 255; }
    t2=$(date +%s.%N)
    awk -v a="$t0" -v b="$t1" -v c="$t2" \
        'BEGIN{printf "setup %.1f\nbuild+overlay %.1f\n", b-a, c-b}' \
        >"$run/timings"
    echo "dist $XENTB_DIST" >>"$run/timings"
    # Run a copy, so that editing the tree during a run cannot upset it.
    mkdir -p "$run/bin"
    cp "$0" "$here/lib.sh" "$run/bin/"
    XENTB_IN_NETNS=1 XENTB_RUN=$run XENTB_HERE=$here MIG_ROOT=$MIG_ROOT \
        unshare --net -- "$run/bin/xen.t" "$@"
    rc=$?
    # QEMUs of this run still alive (the inner script was killed): end them.
    for f in "$run"/*.pid; do
        [ -f "$f" ] || continue
        pid=$(cat "$f")
        if grep -qs "$run/" "/proc/$pid/cmdline"; then
            kill "$pid" 2>/dev/null
            echo "# ended leftover QEMU $pid of this run"
        fi
    done
    awk -v a="$t0" -v b="$(date +%s.%N)" \
        'BEGIN{printf "# whole run (setup, boots, scenarios): %.1f s\n", b-a}'
    if [ "$rc" -eq 0 ] && [ -z "${XENTB_KEEP:-}" ]; then
        rm -rf "$run"
    else
        rm -f "$run"/dom0*.img "$run/shared.img"
        echo "# run directory kept: $run (consoles, timings)"
    fi
    exit "$rc"
fi

# --- inside our own network namespace from here on -----------------------
. "$MIG_ROOT/tests/tap/tap.sh"
. "$(dirname "$0")/lib.sh"
ip link set lo up
# The public network's bridge (the probe's side) and the shared disk: an
# ext4 image both hosts attach as /dev/vda (lib.sh, shared_disk_args).
pub_bridge_create || echo "Bail out! cannot make the bridge $XENTB_PUB_BRIDGE"
truncate -s 64M "$XENTB_RUN/shared.img" &&
    mkfs.ext4 -q -F -L xentb-shared "$XENTB_RUN/shared.img" ||
    echo "Bail out! cannot make the shared disk image"

GUEST=xentb-guest
GUESTCFG=/etc/xen/xentb-guest.cfg
XENTB_NARROW_CPU=${XENTB_NARROW_CPU:-qemu64,+svm,+npt,-rdtscp}
BOOT_TIMEOUT=${XENTB_BOOT_TIMEOUT:-420}
# A migration step: a hop of the 128 MiB guest takes 1-4 minutes under TCG.
MIGRATE_TIMEOUT=${XENTB_MIGRATE_TIMEOUT:-420}
VERIFY_TIMEOUT=${XENTB_VERIFY_TIMEOUT:-120}
declare -A ADDR=([A]=1 [B]=2 [C]=3)
declare -A MIG1=([A]=198.51.100.1 [B]=198.51.100.2)
declare -A PEER=([A]=B [B]=A)

timing() {   # timing NAME SECONDS: record a figure for the summary
    echo "$1 $2" >>"$XENTB_RUN/timings"
}

# --- check collection, retry and TAP emission -----------------------------
# A scenario records its checks with check(); scenario() runs it, retries
# it once when a check failed, then emits the last attempt's checks as TAP
# (padding with "not reached" up to the scenario's declared count).
C_ST=() C_DESC=() C_DIAG=()
check() {    # check STATUS DESCRIPTION [DIAGNOSTIC]
    C_ST+=("$1") C_DESC+=("$2") C_DIAG+=("${3:-}")
    [ "$1" -eq 0 ]
}
skip_check() {   # skip_check DESCRIPTION REASON
    C_ST+=(0) C_DESC+=("$1 # SKIP $2") C_DIAG+=("")
}
todo_check() {   # todo_check DESCRIPTION REASON: not ok, expected so
    C_ST+=(1) C_DESC+=("$1 # TODO $2") C_DIAG+=("")
}

consoles() {
    local h
    for h in A B; do
        echo "--- host $h console, last lines:"
        console_tail "$h" 15
        if host_alive "$h" && [ -n "${H_READY[$h]:-}" ]; then
            dom0 "$h" 20 "tail -n 8 /var/log/xen/console/guest-*.log 2>/dev/null" \
                >/dev/null 2>&1
            [ -z "$out" ] || { echo "--- guest console on $h:"; echo "$out"; }
        fi
    done
}

ABORT=""
scenario() {   # scenario NAME COUNT FUNCTION RESET_FUNCTION
    local name=$1 count=$2 fn=$3 reset=$4 attempt i failed why t0
    if [ -n "$ABORT" ]; then
        for i in $(seq 1 "$count"); do
            ok 1 "$name: check $i not reached ($ABORT)"
        done
        return
    fi
    for attempt in $(seq 1 $((1 + ${XENTB_RETRY:-1}))); do
        C_ST=() C_DESC=() C_DIAG=()
        t0=$(xentb_now)
        "$fn"
        failed="" why=""
        for i in "${!C_ST[@]}"; do
            [ "${C_ST[$i]}" -eq 0 ] || case "${C_DESC[$i]}" in
                *"# TODO"*) ;;
                *) failed+="${C_DESC[$i]}; "
                   why+="${C_DESC[$i]}:"$'\n'"${C_DIAG[$i]}"$'\n' ;;
            esac
        done
        [ "${#C_ST[@]}" -ge "$count" ] || failed+="stopped early; "
        timing "scenario-$name-attempt$attempt" "$(xentb_elapsed "$t0")"
        [ -n "$failed" ] || break
        diag "scenario $name: attempt $attempt failed: $failed"
        diag "$why"
        diag "$(consoles)"
        [ "$attempt" -gt "${XENTB_RETRY:-1}" ] && break
        diag "scenario $name: retrying once"
        "$reset"
    done
    if [ "$name" = boot ] && { [ -z "${H_READY[A]:-}" ] ||
                               [ -z "${H_READY[B]:-}" ]; }; then
        ABORT="the hosts did not boot"
    fi
    for i in $(seq 0 $((count - 1))); do
        if [ "$i" -lt "${#C_ST[@]}" ]; then
            ok "${C_ST[$i]}" "$name: ${C_DESC[$i]}"
            [ -z "${C_DIAG[$i]}" ] || diag "${C_DIAG[$i]}"
        else
            ok 1 "$name: check $((i + 1)) not reached (an earlier step failed)"
        fi
    done
}

# --- guest helpers ----------------------------------------------------------
# The guest's memtest lines, from dom0 H's xenconsoled logs.
guest_log() {
    dom0 "$1" 20 "cat /var/log/xen/console/guest-*.log 2>/dev/null | tr -d '\r' | grep -a MEMTEST"
}

# guest_wait_report LOGFN KEY H SEED MIN BAD: wait until LOGFN H shows a
# report of the guest (SEED, or any when empty) with KEY=N above MIN that
# says ok; sets W_SEED, W_NUM, W_LINE.  Fails at once on a line matching
# BAD (grep), or after VERIFY_TIMEOUT (W_LINE then says so).  Logs of
# several domain names (NAME, NAME--incoming) may hold lines: the highest
# N counts.
guest_wait_report() {
    local logfn=$1 key=$2 h=$3 seed=$4 min=$5 bad=$6 l
    local deadline=$((SECONDS + VERIFY_TIMEOUT))
    W_LINE="" W_NUM="" W_SEED=""
    while [ "$SECONDS" -lt "$deadline" ]; do
        "$logfn" "$h"
        if grep -q "$bad" <<<"$out"; then
            W_LINE=$(grep "$bad" <<<"$out" | tail -n 1)
            return 1
        fi
        l=$(grep -E "seed=${seed:-[0-9a-f]+} $key=[0-9]+ ok" <<<"$out" |
            sed "s/.* $key=\([0-9]*\) .*/\1 &/" | sort -n | tail -n 1 |
            cut -d' ' -f2-)
        if [ -n "$l" ]; then
            W_SEED=$(sed 's/.*seed=\([0-9a-f]*\).*/\1/' <<<"$l")
            W_NUM=$(sed "s/.* $key=\([0-9]*\).*/\1/" <<<"$l")
            W_LINE=$l
            [ "$W_NUM" -le "$min" ] || return 0
        fi
        sleep 3
    done
    W_LINE="${W_LINE:-no $key= report seen} (after $VERIFY_TIMEOUT s)"
    return 1
}

# guest_wait_verified H SEED MINPASS: wait until the guest (SEED, or any
# when empty) reports a check with pass > MINPASS on host H; sets G_SEED,
# G_PASS, G_LINE; fails at once on a FAIL line.
guest_wait_verified() {
    guest_wait_report guest_log pass "$1" "$2" "$3" 'FAIL'
    local r=$?
    G_SEED=$W_SEED G_PASS=$W_NUM G_LINE=$W_LINE
    return $r
}

# The guest's disk checks (diskrec), from dom0 H's xenconsoled logs.
disk_log() {
    dom0 "$1" 20 "cat /var/log/xen/console/guest-*.log 2>/dev/null | tr -d '\r' | grep -a DISKREC"
}

# guest_wait_disk H SEED MINCHECK: wait until the guest (SEED, or any when
# empty) reports on H a disk check numbered above MINCHECK that found
# every acknowledged record; sets D_SEED, D_CHECK, D_ACKED, D_LINE; fails
# at once on a FAIL line.
guest_wait_disk() {
    guest_wait_report disk_log check "$1" "$2" "$3" 'FAIL\|failed\|cannot'
    local r=$?
    D_SEED=$W_SEED D_CHECK=$W_NUM D_LINE=$W_LINE
    D_ACKED=$(sed -n 's/.* acked=\([0-9]*\).*/\1/p' <<<"$W_LINE")
    return $r
}

# The client: `xlmig probe` from the namespace's side of the public
# network (192.0.2.250) to the guest's echo service, one request every
# XENTB_PROBE_MS ms, for the whole hop.  `make xen-check` asks every 5 ms;
# the default here, 20, is for make check's subset: at 5 ms the emulated
# hosts lose most requests and xlmig's hops take 5-6 minutes instead of
# 3-4 (docs/xen-testbed.md has the figures).
GUEST_IP=192.0.2.10
# xlmig's hops stop pre-copy after this many rounds (forcing the stop with
# what is left): under TCG the client's requests and the guest's workloads
# dirty memory faster than the emulated hosts send it, so xlmig's default
# (30 rounds) would outlast a step's timeout; xl migrate stops after 5.
XENTB_ROUNDS=${XENTB_ROUNDS:-8}
# The bandwidth limit of xlmig-migrate's way back (and in bytes/s).
XENTB_LIMIT=16Mbit XENTB_LIMIT_BPS=2000000
XENTB_PROBE_MS=${XENTB_PROBE_MS:-20}
probe_start() {
    "$XLMIG" --json probe -i "$XENTB_PROBE_MS" -D 1800000 "$GUEST_IP" \
        >"$XENTB_RUN/probe.out" 2>&1 &
    PROBE_PID=$!
}
# probe_stop: end it (SIGINT); sets P_GAP (ms), P_LOST, P_SENT, P_RECV.
probe_stop() {
    sleep 2     # answers after the hop count too
    kill -INT "$PROBE_PID" 2>/dev/null
    wait "$PROBE_PID" 2>/dev/null
    PROBE_PID=""
    local j
    j=$(cat "$XENTB_RUN/probe.out")
    P_GAP=$(sed -n 's/.*"longest_gap_ms":\([0-9.]*\).*/\1/p' <<<"$j")
    P_LOST=$(sed -n 's/.*"lost":\([0-9]*\).*/\1/p' <<<"$j")
    P_SENT=$(sed -n 's/.*"sent":\([0-9]*\).*/\1/p' <<<"$j")
    P_RECV=$(sed -n 's/.*"received":\([0-9]*\).*/\1/p' <<<"$j")
    P_OUT=$j
}
# guest_answers: a short probe gets answers from the guest.
guest_answers() {
    out=$("$XLMIG" --json probe -i 5 -D 1000 "$GUEST_IP" 2>&1)
    grep -q '"received":[1-9]' <<<"$out"
}

# Before a hop: the disk check the guest last reported on SRC (the next
# one may have begun before the hop: the check after it proves the
# target's view), and the client.
hop_begin() {
    guest_wait_disk "$1" "" 0
    HOP_DCHECK=$((${D_CHECK:-0} + 1))
    probe_start
}
# hop_end TOOL SRC DST TIME PAUSE: the client's figures, the guest's disk
# check on DST, one row of the table.
hop_end() {
    local tool=$1 src=$2 dst=$3 t=$4 pause=$5
    probe_stop
    [ -n "$P_RECV" ] && [ "$P_RECV" -gt 0 ] && guest_answers
    check $? "$src->$dst ($tool): the client reached the guest on the public network during the hop and after (longest gap ${P_GAP:-?} ms, ${P_LOST:-?} of ${P_SENT:-?} requests lost)" \
        "$P_OUT"$'\n'"after: $out" || return
    guest_wait_disk "$dst" "$D_SEED" "$HOP_DCHECK"
    check $? "$src->$dst ($tool): guest read all ${D_ACKED:-?} acknowledged records back from $dst's view of the shared disk" \
        "$D_LINE" || return
    TABLE+=("$(printf '| %-6s | %s->%s | %8s s | %9s | %9s ms | %5s / %-6s | %7s |' \
        "$tool" "$src" "$dst" "$t" "$pause" "${P_GAP:-?}" "${P_LOST:-?}" \
        "${P_SENT:-?}" "${D_ACKED:-?}")")
    timing "hop-$tool-$src-$dst-gap-ms" "${P_GAP:-?}"
    timing "hop-$tool-$src-$dst-lost" "${P_LOST:-?}"
}
TABLE=()

# guest_create H: a fresh guest on H (destroyed first wherever it runs).
guest_create() {
    local h=$1 t0
    for x in A B; do
        dom0 "$x" 60 "xl destroy $GUEST 2>/dev/null; xl destroy $GUEST--incoming 2>/dev/null; rm -f /var/log/xen/console/guest-*.log; true"
    done
    t0=$(xentb_now)
    dom0 "$h" 180 "xl create $GUESTCFG"
    local r=$rc
    timing "xl-create-$h" "$(xentb_elapsed "$t0")"
    return "$r"
}

# --- scenario: boot ----------------------------------------------------------
boot_hosts() {
    local h
    # Host 2's links connect to host 1's: a lost host means restarting both.
    if [ -n "${H_LOST[A]:-}${H_LOST[B]:-}" ] || ! host_alive A ||
       ! host_alive B; then
        host_stop A
        host_stop B
    fi
    for h in A B; do
        host_alive "$h" || host_start "$h" "${ADDR[$h]}"
    done
}

scen_boot() {
    local h t xv mem cpus sched
    boot_hosts
    for h in A B; do
        host_wait_ready "$h" "$BOOT_TIMEOUT"
        local r=$?
        t=$(xentb_elapsed "${H_T0[$h]}")
        [ "$r" -ne 0 ] || { dom0 "$h" 60 "xl info >/dev/null"; r=$rc; }
        t=$(xentb_elapsed "${H_T0[$h]}")
        timing "boot-to-xl-info-$h" "$t"
        check "$r" "host $h: Xen and dom0 up, xl info answers ($t s)" \
            "$out" || return
    done
    for h in A B; do
        dom0 "$h" 60 "xl info"
        xv=$(awk -F': ' '/^xen_version/{print $2}' <<<"$out")
        mem=$(awk -F': ' '/^total_memory/{print $2}' <<<"$out")
        cpus=$(awk -F': ' '/^nr_cpus/{print $2}' <<<"$out")
        sched=$(awk -F': ' '/^xen_scheduler/{print $2}' <<<"$out")
        dom0 "$h" 60 "xlmig --backend xen info"
        local info=$out r=$rc
        [ "$r" -eq 0 ] &&
            grep -q "^hypervisor *: Xen $xv\$" <<<"$info" &&
            grep -q "^scheduler *: $sched\$" <<<"$info" &&
            grep -q "^nr_cpus *: $cpus\$" <<<"$info" &&
            grep -q "^total_memory *: $mem MiB\$" <<<"$info"
        check $? "host $h: xlmig --backend xen info reports Xen $xv, $mem MiB, $cpus CPU(s), $sched like xl info" \
            "$info"
        dom0 "$h" 60 "xlmig --json info | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d[\"backend\"]==\"xen\", d; print(d[\"hypervisor\"], d[\"total_memory_kib\"], d[\"nr_cpus\"], d[\"scheduler\"])'"
        check "$rc" "host $h: xlmig --json info parses, backend xen ($out)" \
            "$out"
    done
    guest_create A
    check "$rc" "xl create of the PVH guest on A" "$out" || return
    guest_wait_verified A "" 0
    check $? "guest on A: memtest self-test and first memory check ok" \
        "$G_LINE" || return
    A_SEED=$G_SEED
    guest_wait_disk A "" 0
    check $? "guest on A: shared disk mounted, its acknowledged records read back (${D_LINE:-?})" \
        "$D_LINE$(disk_log A >/dev/null; dom0 A 20 "tail -n 20 /var/log/xen/console/guest-*.log"; echo; echo "$out")" ||
        return
    guest_answers
    check $? "guest on A answers the probe on the public network ($GUEST_IP)" \
        "$out"
    dom0 A 60 "xlmig list"
    local r=$rc
    [ "$r" -eq 0 ] && grep -q "Domain-0" <<<"$out" &&
        grep -q "$GUEST" <<<"$out"
    check $? "xlmig list on A shows Domain-0 and $GUEST" "$out"
    dom0 B 60 "xlmig list"
    r=$rc
    [ "$r" -eq 0 ] && grep -q "Domain-0" <<<"$out" &&
        ! grep -q "$GUEST" <<<"$out"
    check $? "xlmig list on B shows Domain-0 and no guest" "$out"
}
reset_boot() { host_stop A; host_stop B; }

# --- scenario: plain xl migrate, the baseline ------------------------------
# One hop SRC -> DST over mig1: xl migrate-receive on DST behind socat
# (256 KiB buffers: small ones cost ~1 MiB/s under TCG), xl migrate on SRC
# with the connection as its transport command.
xl_hop() {
    local src=$1 dst=$2 port=$((5000 + _xentb_seq)) t0 t lastpass
    guest_wait_verified "$src" "$A_SEED" 0
    lastpass=${G_PASS:-0}
    dom0 "$dst" 30 "setsid socat -b 262144 TCP-LISTEN:$port,reuseaddr EXEC:'xl migrate-receive' >/tmp/recv.log 2>&1 & for i in \$(seq 1 20); do ss -ltn | grep -q ':$port ' && exit 0; sleep 0.5; done; exit 1"
    check "$rc" "$src->$dst: xl migrate-receive listening on ${MIG1[$dst]}:$port" \
        "$out" || return
    dom0 "$src" 10 "cat /sys/class/net/mig1/statistics/tx_bytes"
    local tx0=${out:-0}
    hop_begin "$src"
    t0=$(xentb_now)
    dom0 "$src" "$MIGRATE_TIMEOUT" "xl migrate -s '' $GUEST 'exec socat -b 262144 - TCP:${MIG1[$dst]}:$port'"
    local r=$rc mout=$out
    t=$(xentb_elapsed "$t0")
    timing "xl-migrate-$src-$dst" "$t"
    dom0 "$src" 10 "cat /sys/class/net/mig1/statistics/tx_bytes"
    local mib
    mib=$(awk -v a="$tx0" -v b="${out:-0}" 'BEGIN{printf "%.1f", (b-a)/1048576}')
    timing "xl-migrate-$src-$dst-MiB-sent" "$mib"
    timing "xl-migrate-$src-$dst-MiB/s" "$(awk -v m="$mib" -v t="$t" 'BEGIN{printf "%.2f", m/t}')"
    dom0 "$dst" 10 "cat /tmp/recv.log"
    check "$r" "$src->$dst: xl migrate exits 0 ($t s, $mib MiB sent on mig1)" \
        "$mout"$'\n'"receiver: $out" || { probe_stop; return 1; }
    dom0 "$src" 30 "xl list $GUEST"
    local on_src=$rc
    dom0 "$dst" 30 "xl list $GUEST"
    [ "$on_src" -ne 0 ] && [ "$rc" -eq 0 ]
    check $? "$src->$dst: $GUEST runs on $dst only" "$out" ||
        { probe_stop; return 1; }
    guest_wait_verified "$dst" "$A_SEED" "$lastpass"
    check $? "$src->$dst: guest verified its memory on $dst (same seed, pass $lastpass -> ${G_PASS:-?})" \
        "$G_LINE" || { probe_stop; return 1; }
    # xl reports no pause: the client's longest gap bounds it.
    hop_end xl "$src" "$dst" "$t" "-"
}

scen_xl_baseline() {
    if ! host_alive A || ! host_alive B || [ -z "${A_SEED:-}" ]; then
        reset_xl_baseline
    fi
    xl_hop A B || return
    xl_hop B A
}
reset_xl_baseline() {
    boot_hosts
    host_alive A && host_alive B || return
    # Hosts (re)started: wait for their agents; harmless when already up.
    local h
    for h in A B; do host_wait_ready "$h" "$BOOT_TIMEOUT" || return; done
    # Leftovers of a failed hop (never pkill -f: it matches the agent's job).
    for h in A B; do dom0 "$h" 20 "pkill -x socat; pkill -x xl; true"; done
    guest_create A && guest_wait_verified A "" 0 && A_SEED=$G_SEED
}

# --- scenarios: xlmig migrate-cluster ---------------------------------------
# xlmigd --backend=xen runs in each dom0 with one cluster config: the two
# private migration networks first, then pub, which a route through a
# gateway makes public (never used while allow_public = 0).
#   xlmig-migrate  A->B and back with `xlmig migrate-cluster` (the guest
#                  runs on one host only and verifies its memory after each
#                  hop; xlmig's stats printed);
#   xlmig-drain    A->B, then `xlmig drain B` run on A: B's xlmigd
#                  drains B as a job, the guest is back on A, verified;
#   xlmig-integration  `xlmig integration --nodes B,A --hops 2` run on A:
#                  two hops, each checked; its TAP made JUnit XML here;
#   xlmig-throttle A->B under a 1 ms downtime limit: throttled through the
#                  credit2 cap, forced at 12 rounds, cap restored;
#   xlmig-killed   B's xlmigd killed mid-stream: the migration fails, the
#                  guest runs on A and verifies;
#   xlmig-public   A's private links down: refused, the public network is
#                  named as not allowed, the guest stays on A;
#   xlmig-cpu      B rebooted with a narrower CPU ($XENTB_NARROW_CPU): the
#                  CPU pre-flight refuses before any memory moves.
XLMIG_CFG=/etc/xen/xlmig.cfg
XLMIG_KEY=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')

xlmig_config() {
    cat <<EOF
# Generated by tools/xen-testbed/xen.t
cluster = "xentb"
key_file = "xlmig.key"
allow_public = 0
network = [
    "name=mig1,cidr=198.51.100.0/24",
    "name=mig2,cidr=203.0.113.0/24",
    "name=pub,cidr=192.0.2.0/24",
]
node = [
    "name=A,mgmt=192.0.2.1,mig1=198.51.100.1,mig2=203.0.113.1,pub=192.0.2.1",
    "name=B,mgmt=192.0.2.2,mig1=198.51.100.2,mig2=203.0.113.2,pub=192.0.2.2",
${THREE:+    \"name=C,mgmt=192.0.2.3,mig1=198.51.100.3,mig2=203.0.113.3,pub=192.0.2.3\",}
]
port = 8002
${XENTB_XLMIG_CONFIG:+$XENTB_XLMIG_CONFIG}
EOF
}

# xlmigd_start H: (re)start xlmigd --backend=xen in H's dom0 with the
# cluster config and key, once more if it does not come up (short-lived
# dom0 processes crash now and then under TCG); sets out/rc.  $XLMIGD_ENV
# (NAME=VALUE ...) goes into its environment.
xlmigd_start() {
    _xlmigd_start "$1" && return
    diag "xlmigd on $1 did not start, trying once more:" "$out"
    _xlmigd_start "$1"
}
# xlmigd_running H: its xlmigd is alive and its socket there.
xlmigd_running() {
    dom0 "$1" 20 "[ -S /run/xlmig/xlmigd.sock ] && kill -0 \$(cat /run/xlmigd.pid)"
}
_xlmigd_start() {
    local h=$1 cfg
    cfg=$(xlmig_config | base64 -w0)
    dom0 "$h" 60 "set -e; mkdir -p /etc/xen /run/xlmig
echo $cfg | base64 -d >$XLMIG_CFG
(umask 077; echo $XLMIG_KEY >/etc/xen/xlmig.key)
ip route replace 10.254.0.0/16 via 192.0.2.254 dev pub
if [ -f /run/xlmigd.pid ]; then kill \$(cat /run/xlmigd.pid) 2>/dev/null || true; sleep 1; fi
rm -f /run/xlmig/xlmigd.sock /run/xlmigd.pid
${XLMIGD_ENV:+env $XLMIGD_ENV }setsid xlmigd -v --backend=xen -c $XLMIG_CFG -n $h </dev/null >>/var/log/xlmigd.log 2>&1 &
echo \$! >/run/xlmigd.pid
for i in \$(seq 1 60); do [ -S /run/xlmig/xlmigd.sock ] && exit 0; sleep 0.5; done
tail -n 20 /var/log/xlmigd.log; exit 1"
}

# runs_only_on H: the guest runs on H under its own name and no copy of
# it (NAME, NAME--incoming, NAME--migratedaway) exists anywhere else;
# sets out.
runs_only_on() {
    local h=$1 o=${PEER[$1]} r1 r2 l1 l2
    local pick="xl list | awk '{print \$1}' | grep -x -e $GUEST -e $GUEST--incoming -e $GUEST--migratedaway"
    dom0 "$h" 30 "$pick"
    r1=$rc l1=$out
    dom0 "$o" 30 "$pick"
    r2=$rc l2=$out
    out="on $h: ${l1:-nothing}; on $o: ${l2:-nothing}"
    [ "$r1" -eq 0 ] && [ "$l1" = "$GUEST" ] && [ "$r2" -eq 1 ]
}

tx_bytes() {   # tx_bytes H: bytes sent on mig1+mig2+pub by H's dom0
    dom0 "$1" 10 "cat /sys/class/net/{mig1,mig2,pub}/statistics/tx_bytes | awk '{s+=\$1} END {print s}'"
    echo "${out:-0}"
}

# hop_json OUTPUT: from `xlmig --json migrate-cluster`, the progress
# lines (one per line: state round total_bytes bandwidth dirty_rate
# remaining_bytes), then "verdict: ..." (ok when at least two came while
# the stream ran, with bytes above zero and bytes and rounds growing),
# then "figures: total_ms downtime_ms handoff_ms MiB" from the report.
hop_json() {
    python3 - "$1" <<'EOF'
import json, sys
prog, rep = [], {}
for l in sys.argv[1].splitlines():
    try:
        o = json.loads(l)
    except ValueError:
        continue
    if o.get("type") == "progress":
        prog.append(o["stats"])
    elif o.get("type") == "report":
        rep = o["report"]
live = [p for p in prog if p.get("state") in ("precopy", "stop-and-copy")]
for p in prog:
    print("%s round=%s total_bytes=%s bandwidth=%s dirty_rate=%s "
          "remaining_bytes=%s" % (p.get("state"), p.get("round"),
          p.get("total_bytes"), p.get("bandwidth"), p.get("dirty_rate"),
          p.get("remaining_bytes")))
b = [p.get("total_bytes", 0) for p in live]
r = [p.get("round", 0) for p in live]
good = (len(live) >= 2 and b[0] > 0 and b[-1] > b[0] and
        all(x <= y for x, y in zip(b, b[1:])) and
        all(x <= y for x, y in zip(r, r[1:])))
print("verdict: %s (%d live lines)" % ("ok" if good else "bad", len(live)))
att = (rep.get("attempts") or [{}])[-1]
print("transport: %s" % att.get("transport"))
print("paths: %s" % " ".join("%s:%s:%d" % (
      (p.get("path") or "?").split()[0].split("#")[0], p.get("state"),
      p.get("bytes_sent", 0)) for p in att.get("paths", [])))
print("wire: %d stream_ms: %s" % (sum(p.get("bytes_sent", 0)
      for p in att.get("paths", [])), rep.get("phases_ms", {}).get("stream", 0)))
for c in rep.get("preflight", []):
    print("  %-4s %-11s %s" % ("ok" if c.get("ok") else "FAIL", c.get("check"),
                               c.get("detail")))
st = rep.get("stats", {})
print("figures: %s %.1f %s %.1f" % (st.get("total_time_ms", 0),
      st.get("downtime_us", 0) / 1000.0,
      rep.get("phases_ms", {}).get("handoff", 0),
      st.get("total_bytes", 0) / 1048576.0))
EOF
}

# One xlmig hop SRC -> DST with checks: exits 0 (time, MiB), runs on DST
# only, guest verifies there.  XLMIG_HOP_JSON=1: through `xlmig --json`,
# HOP_FIGURES set from the report; XLMIG_HOP_PROGRESS=1 too: the live
# progress lines printed and checked.
xlmig_hop() {
    local src=$1 dst=$2 opts=${3:--r $XENTB_ROUNDS} t0 t r mout lastpass tx0 mib js=""
    guest_wait_verified "$src" "$A_SEED" 0
    lastpass=${G_PASS:-0}
    tx0=$(tx_bytes "$src")
    hop_begin "$src"
    t0=$(xentb_now)
    [ -z "${XLMIG_HOP_JSON:-}" ] || js="--json"
    dom0 "$src" "$MIGRATE_TIMEOUT" "xlmig $js migrate-cluster $opts $GUEST $dst"
    r=$rc mout=$out
    t=$(xentb_elapsed "$t0")
    XLMIG_HOP_MS=$(sed -n "s/.*migrate-cluster: [a-z]* in \([0-9]*\) ms.*/\1/p" <<<"$mout" | head -n 1)
    # The pause: xlmig's downtime, from the policy's stop to the guest
    # running on the target.
    XLMIG_PAUSE=$(sed -n 's/^migrate-cluster: .*downtime \([0-9.]*\) ms.*/\1 ms/p' <<<"$mout" | head -n 1)
    if [ -n "$js" ]; then
        local hj
        hj=$(hop_json "$mout")
        HOP_FIGURES=$(sed -n 's/^figures: //p' <<<"$hj")
        XLMIG_HOP_MS=${HOP_FIGURES%% *}
        XLMIG_PAUSE=$(awk '{print $2 " ms"}' <<<"$HOP_FIGURES")
        mout=$hj$'\n'$(grep -v '^{' <<<"$mout")
    fi
    HOP_OUT=$mout
    mib=$(awk -v a="$tx0" -v b="$(tx_bytes "$src")" 'BEGIN{printf "%.1f", (b-a)/1048576}')
    timing "xlmig-migrate-$src-$dst" "$t"
    timing "xlmig-migrate-$src-$dst-MiB-sent" "$mib"
    timing "xlmig-migrate-$src-$dst-MiB/s" "$(awk -v m="$mib" -v t="$t" 'BEGIN{printf "%.2f", m/t}')"
    diag "xlmig migrate-cluster $GUEST $dst on $src ($t s):" "$mout"
    # The pre-copy decisions of xlmig's policy (the save-helper shim).
    dom0 "$src" 10 "grep -a 'pre-copy' /var/log/xlmigd.log | tail -n 14 | sed 's/.*pre-copy: //'"
    diag "pre-copy rounds on $src:" "$out"
    local slog
    dom0 "$src" 10 "tail -n 25 /var/log/xlmigd.log"
    slog=$out
    dom0 "$dst" 10 "tail -n 12 /var/log/xlmigd.log"
    check "$r" "$src->$dst: xlmig migrate-cluster exits 0 ($t s, $mib MiB sent)" \
        "$mout"$'\n'"xlmigd on $src: $slog"$'\n'"xlmigd on $dst: $out" ||
        { probe_stop; return 1; }
    if [ -n "${XLMIG_HOP_PROGRESS:-}" ]; then
        grep -q '^verdict: ok' <<<"$mout"
        check $? "$src->$dst: live progress while the stream ran: $(sed -n 's/^verdict: //p' <<<"$mout"), bytes and rounds growing" \
            "$mout" || { probe_stop; return 1; }
    fi
    grep -q "ok   disk  *disk xvda (/dev/vda) is the same storage on $dst (serial:XENTB-SHARED0)" <<<"$mout" &&
        grep -q "ok   bridge  *vif 0's bridge pub exists on $dst" <<<"$mout"
    check $? "$src->$dst: the pre-flight found the disk the same storage on $dst (its serial) and the vif's bridge there" \
        "$mout" || { probe_stop; return 1; }
    runs_only_on "$dst"
    check $? "$src->$dst: $GUEST runs on $dst only" "$out" ||
        { probe_stop; return 1; }
    guest_wait_verified "$dst" "$A_SEED" "$lastpass"
    check $? "$src->$dst: guest verified its memory on $dst (same seed, pass $lastpass -> ${G_PASS:-?})" \
        "$G_LINE" || { probe_stop; return 1; }
    hop_end xlmig "$src" "$dst" "$t" "${XLMIG_PAUSE:-?}"
}

# Before an xlmig scenario (and on its retry): both hosts up, the guest
# on A only and verified, xlmigd running on both.
xlmig_ready() {
    local h
    boot_hosts
    for h in A B; do host_wait_ready "$h" "$BOOT_TIMEOUT" || return; done
    if [ -z "${A_SEED:-}" ] || ! runs_only_on A; then
        guest_create A && guest_wait_verified A "" 0 && A_SEED=$G_SEED ||
            return
    fi
    for h in A B; do
        xlmigd_running "$h" || xlmigd_start "$h" || return
        # A drain that failed half way may have left its node in
        # maintenance: every scenario starts with both in service.
        dom0 "$h" 30 "xlmig maintenance exit >/dev/null" || return
    done
}

xlmig_migrate() {
    local h ok=0 o=""
    for h in A B; do
        xlmigd_running "$h" || ok=1
        dom0 "$h" 10 "grep -h -e pre-copy -e serving /var/log/xlmigd.log | tail -n 2"
        o+="$h: $out"$'\n'
    done
    check "$ok" "xlmigd --backend=xen running on A and B" "$o" || return
    # The prediction, through Xen's log-dirty mode, against the hop.
    dom0 A "$MIGRATE_TIMEOUT" "xlmig --json estimate $GUEST B"
    local est
    est=$(sed -n 's/.*"total_ms":\([0-9]*\).*/\1/p' <<<"$out" | head -n 1)
    grep -q '"dirty_rate":' <<<"$out" && [ -n "$est" ]
    check $? "xlmig estimate samples the guest's dirty log on Xen (predicts ${est:-?} ms)" \
        "$out" || return
    # The PVH guest's pages, mapped from dom0: what they compress to.
    local mrate comp
    mrate=$(sed -n 's/.*"memory_rate":\([0-9.e+]*\).*/\1/p' <<<"$out")
    comp=$(sed -n 's/.*"compression":"\([a-z0-9]*\)".*/\1/p' <<<"$out")
    [ -n "$mrate" ] && [ -n "$comp" ] &&
        grep -q '"skipped_share":0\(\.0*\)\?[,}]' <<<"$out"
    check $? "and samples its content through foreign mappings (memory $(awk "BEGIN { printf \"%.2f\", ${mrate:-0} / 1048576 }") MiB/s, ${comp:-?}, no page left out)" \
        "$out" || return
    XLMIG_HOP_JSON=1 XLMIG_HOP_PROGRESS=1 xlmig_hop A B || return
    diag "estimate ${est} ms against the A->B hop's ${XLMIG_HOP_MS:-?} ms"
    local tr paths
    tr=$(sed -n 's/^transport: //p' <<<"$HOP_OUT")
    dom0 A 10 "grep -a -m 1 'TLS: ' /var/log/xlmigd.log | sed 's/.*TLS: /TLS: /'; echo tcp_available_ulp: \$(cat /proc/sys/net/ipv4/tcp_available_ulp)"
    diag "kernel TLS on A:" "$out"
    paths=$(sed -n 's/^paths: //p' <<<"$HOP_OUT")
    # TLS unless the run's extra config asks for plain explicitly.
    local want_tr="TLS 1.3"
    grep -q '^ *transport *= *"plain"' <<<"${XENTB_XLMIG_CONFIG:-}" &&
        want_tr=unencrypted
    [[ "$tr" == "$want_tr"* ]] &&
        awk '{ for (i = 1; i <= NF; i++) { split($i, p, ":"); if (p[3] > 1048576) n[p[1]]++ } }
             END { exit !(n["mig1"] && n["mig2"]) }' <<<"$paths"
    check $? "A->B over $tr on both migration networks (path:state:bytes: $paths)" \
        "$HOP_OUT" || return
    local rate0
    rate0=$(sed -n 's/^wire: \([0-9]*\) stream_ms: \([0-9]*\).*/\1 \2/p' <<<"$HOP_OUT" |
            awk '$2 > 0 { printf "%.2f", $1 / $2 * 1000 / 1e6 }')
    relay_account || return
    # The tools mixed on one domain (administrators mix them during
    # adoption): the guest xlmig moved goes back and forth by plain xl
    # migrate, then back by xlmig.
    xl_hop B A || return
    xl_hop A B || return
    # The way back under a bandwidth limit: the transport's token bucket
    # holds every path's bytes to it, so the stream takes at least
    # bytes/limit (when the emulated hosts could go faster).
    XLMIG_HOP_JSON=1 xlmig_hop B A "-r $XENTB_ROUNDS -B $XENTB_LIMIT" || return
    local wire sms need
    wire=$(sed -n 's/^wire: \([0-9]*\) .*/\1/p' <<<"$HOP_OUT")
    sms=$(sed -n 's/^wire: .* stream_ms: \([0-9]*\).*/\1/p' <<<"$HOP_OUT")
    need=$(awk -v b="${wire:-0}" -v l="$XENTB_LIMIT_BPS" 'BEGIN { printf "%d", b / l * 1000 }')
    timing "xlmig-limited-B-A-stream-ms" "${sms:-?} (bytes/limit ${need} ms)"
    [ -n "$sms" ] && [ "${wire:-0}" -gt 1048576 ] &&
        [ "$sms" -ge $((need * 97 / 100)) ]
    check $? "B->A under -B $XENTB_LIMIT: the stream took ${sms:-?} ms for ${wire:-?} bytes on the wire, bytes/limit = $need ms (A->B unlimited: ${rate0:-?} MB/s)" \
        "$HOP_OUT"
}

# What relaying the Xen stream through xlmig's transport cost in the last
# A->B hop: the relay's own account from both xlmigd logs (bytes, wall
# time, the relay thread's CPU time and its share in the transport's
# calls); the plain `xl migrate` hops of the same run, where libxl writes
# the socket itself, are beside it in the table of hops.
relay_account() {
    local sline rline sb rb
    dom0 A 10 "grep -a 'xen relay: sent' /var/log/xlmigd.log | tail -n 1"
    sline=${out#*xen relay: }
    dom0 B 10 "grep -a 'xen relay: received' /var/log/xlmigd.log | tail -n 1"
    rline=${out#*xen relay: }
    sb=$(sed -n 's/^sent \([0-9]*\) bytes .*/\1/p' <<<"$sline")
    rb=$(sed -n 's/^received \([0-9]*\) bytes .*/\1/p' <<<"$rline")
    diag "the relay's account of the A->B hop (total ms, stop-to-end ms, handoff ms, MiB: $HOP_FIGURES):" \
        "  A: $sline" "  B: $rline"
    timing "xlmig-relay-A-B" "$HOP_FIGURES"
    timing "xlmig-relay-A-B-source" "$sline"
    timing "xlmig-relay-A-B-target" "$rline"
    [ -n "$sb" ] && [ "$sb" -gt 1048576 ] && [ "$sb" = "$rb" ]
    check $? "the relays on A and B moved the same whole stream (${sb:-?} and ${rb:-?} bytes) and accounted for their CPU time" \
        "A: $sline"$'\n'"B: $rline"
}

xlmig_target_killed() {
    local t0 t lastpass
    guest_wait_verified A "$A_SEED" 0
    lastpass=${G_PASS:-0}
    # The migration runs in the background; B's xlmigd is killed once it
    # has created the incoming domain and received for a few seconds,
    # with its process group: libxl's restore helper (a child holding the
    # stream socket) would otherwise read the whole stream on its own.
    dom0 A 10 "rm -f /tmp/xlmig-killed.out; setsid sh -c 'xlmig migrate-cluster $GUEST B >/tmp/xlmig-killed.out 2>&1; echo rc=\$? >>/tmp/xlmig-killed.out' </dev/null >/dev/null 2>&1 &"
    t0=$(xentb_now)
    # A deadline, not a count: every xl call is slow under TCG.
    dom0 B "$MIGRATE_TIMEOUT" "end=\$((\$(date +%s) + $((MIGRATE_TIMEOUT - 30))))
while [ \$(date +%s) -lt \$end ]; do xl list $GUEST--incoming >/dev/null 2>&1 && break; sleep 1; done
xl list $GUEST--incoming >/dev/null 2>&1 || { echo 'no incoming domain appeared'; exit 1; }
sleep 3; kill -9 -- -\$(cat /run/xlmigd.pid) && xl list"
    local kout=$out kr=$rc
    [ "$kr" -eq 0 ] || { dom0 A 10 "cat /tmp/xlmig-killed.out"; kout+=$'\n'"on A: $out"; }
    check "$kr" "B's xlmigd killed while it receives (after $(xentb_elapsed "$t0") s)" \
        "$kout" || return
    dom0 A "$MIGRATE_TIMEOUT" "end=\$((\$(date +%s) + $((MIGRATE_TIMEOUT - 30)))); while [ \$(date +%s) -lt \$end ]; do grep -q '^rc=' /tmp/xlmig-killed.out && break; sleep 1; done; cat /tmp/xlmig-killed.out"
    t=$(xentb_elapsed "$t0")
    timing "xlmig-target-killed-A-B" "$t"
    diag "xlmig migrate-cluster with B's xlmigd killed ($t s):" "$out"
    grep -q '^rc=1$' <<<"$out" && grep -q "runs on this node" <<<"$out"
    check $? "the migration fails and says $GUEST runs on A ($t s)" "$out"
    dom0 A 30 "xl list $GUEST"
    check "$rc" "$GUEST runs on A again" "$out" || return
    guest_wait_verified A "$A_SEED" "$lastpass"
    check $? "guest verified its memory on A (pass $lastpass -> ${G_PASS:-?})" \
        "$G_LINE"
    # What the receiver, killed inside libxl, left on B: the restarted
    # xlmigd settles it from its records (never committed: destroyed).
    dom0 B 60 "xl list | grep $GUEST; true"
    [ -z "$out" ] || diag "left on B by the killed receiver: $out"
    xlmigd_start B
    check "$rc" "xlmigd restarted on B" "$out" || return
    dom0 B 90 "end=\$((\$(date +%s) + 60)); while [ \$(date +%s) -lt \$end ]; do xl list | grep -q $GUEST || exit 0; sleep 2; done; xl list | grep $GUEST; grep -a -e settle -e incoming -e 'not committed' /var/log/xlmigd.log | tail -n 5; exit 1"
    check "$rc" "the restarted xlmigd on B destroyed the partial $GUEST--incoming" "$out"
}

# A guest that cannot converge under a 1 ms downtime limit: the policy
# throttles it through its scheduler cap, step by step, forces the stop
# at the round limit, and the cap is put back whatever happens.
xlmig_throttled() {
    xlmig_hop A B "-d 1 -r 12" || return
    dom0 A 10 "grep -a -e 'pre-copy: throttle' -e 'pre-copy: done' /var/log/xlmigd.log | tail -n 12 | sed 's/.*pre-copy: //'"
    diag "throttle steps on A:" "$out"
    grep -q '^throttle=20 cap=80' <<<"$out" && grep -q '^throttle=restored cap=0' <<<"$out"
    check $? "A throttled the guest through its credit2 cap (20% first) and put the cap back" \
        "$out"
}

# refused_on_A WHAT COMMAND PATTERN DESCRIPTION: xlmig, run by COMMAND
# on A's dom0, refuses the migration of the guest (exit 1, PATTERN in its
# output) before any stream started, and the guest stays on A only, with
# under 1 MiB sent on all of A's links meanwhile.
refused_on_A() {
    local what=$1 cmd=$2 pat=$3 desc=$4 tx0 r mout sent
    tx0=$(tx_bytes A)
    dom0 A "$MIGRATE_TIMEOUT" "$cmd"
    r=$rc mout=$out
    diag "xlmig migrate-cluster $what:" "$mout"
    [ "$r" -eq 1 ] && grep -q "$pat" <<<"$mout" &&
        ! grep -q "^stream over" <<<"$mout"
    check $? "$desc, no stream started (exit $r)" "$mout" || return
    sent=$(( $(tx_bytes A) - tx0 ))
    runs_only_on A && [ "$sent" -lt 1048576 ]
    check $? "$GUEST still runs on A only ($out), $sent bytes sent on all links" \
        "$out"
}

xlmig_public_refused() {
    refused_on_A "with only pub left" \
        "ip link set mig1 down; ip link set mig2 down; xlmig migrate-cluster $GUEST B; r=\$?; ip link set mig1 up; ip link set mig2 up; exit \$r" \
        "network pub (192.0.2.0/24) is public" \
        "only the public network left: refused, pub named as public"
}

xlmig_cpu_incompatible() {
    host_stop B
    host_start B 2 "$XENTB_NARROW_CPU"
    host_wait_ready B "$BOOT_TIMEOUT"
    check $? "B rebooted with -cpu $XENTB_NARROW_CPU" "$out" || return
    xlmigd_start A && xlmigd_start B
    check "$rc" "xlmigd on A and on the narrow B" "$out" || return
    refused_on_A "to the narrow host" "xlmig migrate-cluster $GUEST B" \
        "FAIL cpu" "refused by the CPU pre-flight"
}

# The guest moved to B (restored there), then B drained from A: B's
# xlmigd runs `xlmig drain` as a job (a log-dirty sample of the guest,
# the plan, the migration back to A) and A follows it.
xlmig_drain_remote() {
    local r dout
    xlmig_hop A B || return
    dom0 A "$MIGRATE_TIMEOUT" "xlmig drain --report /tmp/drain-B.json B"
    r=$rc dout=$out
    diag "xlmig drain B, run on A:" "$dout"
    dom0 A 10 "cat /tmp/drain-B.json"
    diag "B's drain report:" "$out"
    [ "$r" -eq 0 ] && grep -q '"result":"all moved"' <<<"$out" &&
        grep -q '"prediction":' <<<"$out" && ! grep -q 'Domain-0' <<<"$out"
    check $? "A drains B: exit $r, all moved (Domain-0 not among them), with B's prediction" \
        "$dout"$'\n'"$out" || return
    runs_only_on A
    check $? "$GUEST runs on A only after the drain" "$out" || return
    guest_wait_verified A "$A_SEED" 0
    check $? "guest verified its memory on A after the drain (pass ${G_PASS:-?})" \
        "$G_LINE"
    dom0 A 30 "xlmig maintenance exit B && xlmig maintenance status B"
    grep -q "in service" <<<"$out"
    check $? "B taken out of maintenance from A" "$out"
}

# The integration job of an OSSTest-style harness on real Xen: two hops
# around A and B from A, checked after each; its TAP comes back to the
# build machine, which makes the JUnit XML (dom0 has no Perl) and checks
# it against the schema the cluster test uses.
xlmig_integration() {
    local r tap xml=$XENTB_RUN/integration.tap.xml
    dom0 A "$((2 * MIGRATE_TIMEOUT))" \
        "xlmig integration --nodes B,A --hops 2 --tap /tmp/integration.tap $GUEST"
    r=$rc
    diag "xlmig integration on A:" "$out"
    dom0 A 10 "cat /tmp/integration.tap"
    tap=$out
    printf '%s\n' "$tap" >"$XENTB_RUN/integration.tap"
    diag "its TAP:" "$tap"
    [ "$r" -eq 0 ] && grep -q '^1\.\.[0-9]' <<<"$tap" &&
        ! grep -q '^not ok' <<<"$tap"
    check $? "xlmig integration: two hops A->B->A, every check passed (exit $r)" \
        "$tap" || return
    if command -v tap2junit >/dev/null && command -v xmllint >/dev/null; then
        (cd "$XENTB_RUN" && tap2junit --name "xlmig-integration-$GUEST" \
            integration.tap >/dev/null 2>&1) &&
            xmllint --noout --schema "$MIG_ROOT/tests/data/junit/junit.xsd" \
                "$xml" >/dev/null 2>&1 &&
            ! grep -q '<failure' "$xml"
        check $? "its TAP as JUnit XML (tap2junit), valid, without failures" \
            "$(cat "$xml" 2>/dev/null)"
    else
        skip_check "its TAP as JUnit XML" "no tap2junit or xmllint here"
    fi
    runs_only_on A
    check $? "$GUEST runs on A only after the job" "$out" || return
    guest_wait_verified A "$A_SEED" 0
    check $? "guest verified its memory on A after the job (pass ${G_PASS:-?})" \
        "$G_LINE"
}

# The two tools on one domain: moved by xlmig, moved back by plain xl
# migrate, and the reverse, each hop with the same checks.
xlmig_mixed() {
    xlmig_hop A B || return
    xl_hop B A || return
    xl_hop A B || return
    xlmig_hop B A
}

# A vif on a bridge only A has (hot-plugged): the pre-flight refuses
# before any byte moves and names the bridge; the guest stays on A.
xlmig_bridge_refused() {
    dom0 A 120 "ip link add xtbonly type bridge 2>/dev/null; ip link set xtbonly up && xl network-attach $GUEST bridge=xtbonly mac=00:16:3e:00:02:0b script=xentb-vif && xl network-list $GUEST"
    check "$rc" "a second vif on bridge xtbonly, which only A has" "$out" ||
        return
    refused_on_A "with a vif on a bridge B lacks" \
        "xlmig migrate-cluster $GUEST B" \
        "FAIL bridge  *vif 1 needs bridge xtbonly, which B lacks" \
        "refused by the pre-flight naming the vif and the bridge"
    # xlmig validate sees the same across the cluster.
    dom0 A "$MIGRATE_TIMEOUT" "xlmig validate"
    diag "xlmig validate with the vif on xtbonly:" "$out"
    grep -q "^bridge  *$GUEST@A->B  *FAIL vif 1 needs bridge xtbonly, which B lacks" <<<"$out"
    check $? "xlmig validate names the bridge B lacks for $GUEST" "$out"
    dom0 A 120 "xl network-detach $GUEST 1 && ip link del xtbonly"
    check "$rc" "the vif on xtbonly detached again" "$out"
}

scen_xlmig_migrate() { xlmig_ready; xlmig_migrate; }
scen_xlmig_mixed() { xlmig_ready; xlmig_mixed; }
scen_xlmig_bridge() { xlmig_ready; xlmig_bridge_refused; }
scen_xlmig_integration() { xlmig_ready; xlmig_integration; }
scen_xlmig_drain() { xlmig_ready; xlmig_drain_remote; }
scen_xlmig_killed() { xlmig_ready; xlmig_target_killed; }
scen_xlmig_public() { xlmig_ready; xlmig_public_refused; }
scen_xlmig_throttle() { xlmig_ready; xlmig_throttled; }
scen_xlmig_cpu() { xlmig_ready; xlmig_cpu_incompatible; }
# The scenarios prepare their own state (xlmig_ready); B stays narrow
# after xlmig-cpu, which therefore runs last.
reset_none() { :; }

# --- scenario: an HVM guest (run on its own: XENTB_ONLY=hvm) ----------------
# The guest of dom0/hvm-guest.cfg, with Debian's QEMU device model in each
# dom0 (the hosts boot the image with the HVM layer), migrated by xlmig
# A->B->A and verified like the PVH guest.  Slow under TCG: see
# docs/xen-testbed.md for the figures.
HVM_TIMEOUT=${XENTB_HVM_TIMEOUT:-900}
scen_hvm() {
    local pvh=$GUEST pvhcfg=$GUESTCFG vt=$VERIFY_TIMEOUT h
    local mt=$MIGRATE_TIMEOUT
    GUEST=xentb-hvm GUESTCFG=/etc/xen/xentb-hvm.cfg
    VERIFY_TIMEOUT=$HVM_TIMEOUT MIGRATE_TIMEOUT=$HVM_TIMEOUT
    hvm_run
    for h in A B; do
        dom0 "$h" 60 "xl destroy $GUEST 2>/dev/null; xl destroy $GUEST--incoming 2>/dev/null; true"
    done
    # The PVH guest is gone (hvm_run destroys it): the next scenario makes
    # a fresh one.
    GUEST=$pvh GUESTCFG=$pvhcfg A_SEED="" VERIFY_TIMEOUT=$vt
    MIGRATE_TIMEOUT=$mt
}
hvm_run() {
    local h t0 t
    boot_hosts
    for h in A B; do
        host_wait_ready "$h" "$BOOT_TIMEOUT"
        check $? "host $h: up with the HVM layer" "$out" || return
        dom0 "$h" 60 "xl destroy xentb-guest 2>/dev/null; true"
        xlmigd_running "$h" || xlmigd_start "$h" || return
    done
    t0=$(xentb_now)
    guest_create A
    t=$(xentb_elapsed "$t0")
    local r=$rc c=$out
    dom0 A 20 "tail -n 15 /var/log/xen/qemu-dm-$GUEST.log 2>/dev/null"
    check "$r" "xl create of the HVM guest on A ($t s)" \
        "$c"$'\n'"device model log: $out" || return
    t0=$(xentb_now)
    guest_wait_verified A "" 0
    r=$?
    t=$(xentb_elapsed "$t0")
    timing "hvm-create-to-memtest" "$t"
    dom0 A 20 "tail -n 15 /var/log/xen/console/guest-$GUEST.log 2>/dev/null | tr -d '\r'"
    check "$r" "HVM guest on A: memtest ok ($t s after xl create)" \
        "$G_LINE"$'\n'"console: $out" || return
    A_SEED=$G_SEED
    xlmig_hop A B || return
    xlmig_hop B A || return
    dom0 A 60 "xl destroy $GUEST"
    check "$rc" "HVM guest destroyed" "$out"
}
reset_hvm() { host_stop A; host_stop B; }

# --- scenario: a drain choosing among two targets (XENTB_ONLY=drain3) --------
# A third host C, all three on multicast links (XENTB_LINK=mcast), in the
# cluster config; `xlmig drain A` moves the guest to B or C, whichever its
# plan picks; checked there.  Three TCG hosts on two cores: see
# docs/xen-testbed.md for what it costs.
scen_drain3() {
    local t0 t h dst="" r dout n=0
    xlmig_ready || { check 1 "A and B ready" "$out"; return; }
    t0=$(xentb_now)
    host_alive C || host_start C 3
    host_wait_ready C "$BOOT_TIMEOUT" && { xlmigd_running C || xlmigd_start C; }
    r=$?
    t=$(xentb_elapsed "$t0")
    timing "host-C-to-xlmigd" "$t"
    check "$r" "third host C up, xlmigd running there ($t s)" \
        "$out"$'\n'"$(console_tail C 15)" || return
    guest_wait_verified A "$A_SEED" 0
    t0=$(xentb_now)
    dom0 A "$MIGRATE_TIMEOUT" "xlmig drain --report /tmp/drain-A.json A"
    r=$rc dout=$out
    t=$(xentb_elapsed "$t0")
    timing "drain3" "$t"
    dom0 A 10 "cat /tmp/drain-A.json"
    diag "xlmig drain A ($t s):" "$dout" "report: $out"
    [ "$r" -eq 0 ] && grep -q '"result":"all moved"' <<<"$out"
    check $? "xlmig drain A: exit $r, all moved ($t s)" "$dout"$'\n'"$out" ||
        return
    for h in A B C; do
        dom0 "$h" 30 "xl list | awk '{print \$1}' | grep -x -e $GUEST -e $GUEST--incoming -e $GUEST--migratedaway"
        [ -z "$out" ] || { n=$((n + 1)); dst=$h; }
    done
    [ "$n" -eq 1 ] && [ "$dst" != A ]
    check $? "the guest runs on exactly one host, not A: ${dst:-none} ($n copies)" ||
        return
    guest_wait_verified "$dst" "$A_SEED" 0
    check $? "guest verified its memory on $dst (pass ${G_PASS:-?})" "$G_LINE" ||
        return
    dom0 A 30 "xlmig maintenance exit A"
    check "$rc" "A taken out of maintenance" "$out"
    A_SEED=""
}
reset_drain3() { host_stop A; host_stop B; host_stop C; A_SEED=""; }

# --- run ----------------------------------------------------------------------
tap_cleanup() {
    local h rss
    # A client still probing (the run was ended during a hop).
    [ -z "${PROBE_PID:-}" ] || kill -INT "$PROBE_PID" 2>/dev/null
    for h in A B C; do
        host_alive "$h" || continue
        rss=$(ps -o rss= -p "${H_PID[$h]}" 2>/dev/null)
        [ -z "$rss" ] || timing "qemu-rss-MiB-$h" "$((rss / 1024))"
    done
    host_stop A
    host_stop B
    host_stop C
    diag "timings (s):" "$(sed 's/^/  /' "$XENTB_RUN/timings")"
    [ "${#TABLE[@]}" -eq 0 ] && return
    {
        echo "| tool   | hop  |     time   |   pause   |  longest gap | lost / sent    | records |"
        printf '%s\n' "${TABLE[@]}"
    } >"$XENTB_RUN/table"
    diag "hops side by side (time: the command's wall time; pause: xlmig's downtime, from the policy's stop to the guest running on the target, xl reports none; gap and lost: the client's, one request per $XENTB_PROBE_MS ms; records: acknowledged records the guest read back on the target):" \
        "$(cat "$XENTB_RUN/table")"
}

only=${XENTB_ONLY:-boot xlmig}
only=$(for s in $only; do
    [ "$s" = xlmig ] && s="xlmig-migrate xlmig-bridge xlmig-drain xlmig-throttle xlmig-killed xlmig-public xlmig-cpu"
    echo "$s"
done)
n=0
for s in $only; do
    case "$s" in
    boot) n=$((n + 12)) ;;
    xl-baseline) n=$((n + 12)) ;;
    xlmig-migrate) n=$((n + 31)) ;;
    xlmig-mixed) n=$((n + 24)) ;;
    xlmig-bridge) n=$((n + 5)) ;;
    xlmig-drain) n=$((n + 10)) ;;
    xlmig-integration) n=$((n + 4)) ;;
    xlmig-throttle) n=$((n + 7)) ;;
    xlmig-killed) n=$((n + 6)) ;;
    xlmig-public) n=$((n + 2)) ;;
    xlmig-cpu) n=$((n + 4)) ;;
    hvm) n=$((n + 17)) ;;
    drain3) n=$((n + 5)) ;;
    esac
done
plan "$n"
# The hosts boot the image with the device model when an HVM guest runs.
case " $(echo $only) " in *" hvm "*) XENTB_DOM0_IMG=dom0-hvm.img ;; esac
# A third host: multicast links, C in the cluster config.
THREE=""
case " $(echo $only) " in
*" drain3 "*) THREE=1 XENTB_LINK=mcast; xentb_mcast_setup ;;
esac
for s in $only; do
    case "$s" in
    boot) scenario boot 12 scen_boot reset_boot ;;
    xl-baseline) scenario xl-baseline 12 scen_xl_baseline reset_xl_baseline ;;
    xlmig-migrate) scenario xlmig-migrate 31 scen_xlmig_migrate reset_none ;;
    xlmig-mixed) scenario xlmig-mixed 24 scen_xlmig_mixed reset_none ;;
    xlmig-bridge) scenario xlmig-bridge 5 scen_xlmig_bridge reset_none ;;
    xlmig-drain) scenario xlmig-drain 10 scen_xlmig_drain reset_none ;;
    xlmig-integration)
        scenario xlmig-integration 4 scen_xlmig_integration reset_none ;;
    xlmig-throttle) scenario xlmig-throttle 7 scen_xlmig_throttle reset_none ;;
    xlmig-killed) scenario xlmig-killed 6 scen_xlmig_killed reset_none ;;
    xlmig-public) scenario xlmig-public 2 scen_xlmig_public reset_none ;;
    xlmig-cpu) scenario xlmig-cpu 4 scen_xlmig_cpu reset_none ;;
    hvm) scenario hvm 17 scen_hvm reset_hvm ;;
    drain3) scenario drain3 5 scen_drain3 reset_drain3 ;;
    esac
done
