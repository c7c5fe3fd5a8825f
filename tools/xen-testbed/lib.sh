# SPDX-License-Identifier: LGPL-2.1-only
# Host-side helpers of the Xen testbed, sourced by xen.t inside its own
# network namespace: start and stop emulated hosts (QEMU TCG running Xen
# and a Debian dom0), talk to each dom0's agent over a virtio-serial port
# (FIFOs on this side), show console tails.
#
# Hosts are numbered 1 and 2 and named A and B (3 and C for a third).
# Networks, one QEMU socket link each between the two hosts (host 1
# listens on 127.0.0.1 of the namespace, host 2 connects), or with
# XENTB_LINK=mcast one multicast group each on the namespace's loopback,
# which any number of hosts join (a hub; a third host needs it),
# addresses from the documentation ranges:
#   pub   192.0.2.N/24      public network (cluster control, refused for
#                           migration traffic); taps on a bridge of the
#                           namespace instead, which has 192.0.2.250
#                           (the clients' side), and in dom0 a bridge
#                           the guest's vif joins
#   mig1  198.51.100.N/24   private migration network 1
#   mig2  203.0.113.N/24    private migration network 2
# Needs: XENTB_RUN (run dir with dom0.img), XEN_TESTBED_CACHE, XENTB_DIST
# (the release whose cached image the hosts boot: bookworm or trixie).
# XENTB_DOM0_IMG names the dom0 image in XENTB_RUN hosts boot from
# (dom0.img; dom0-hvm.img adds the QEMU device model).

: "${XEN_TESTBED_CACHE:=/var/cache/xlmig-xen-testbed}"
: "${XENTB_DIST:=bookworm}"
XENTB_IMG=$XEN_TESTBED_CACHE/$XENTB_DIST
XENTB_DOM0_IMG=${XENTB_DOM0_IMG:-dom0.img}
XENTB_QEMU=${XENTB_QEMU:-qemu-system-x86_64}
# -rdtscp: else "SVM Insn len emulation failed" for PVH guests under TCG;
# -pcid,-invpcid gave the cleanest runs.
# qemu64 with SVM/NPT (HAP for the PVH guest) and the SSE4 family, but no
# XSAVE: with `-cpu max` dom0 processes died now and then of corrupted
# state (ld.so inconsistencies, malloc aborts, garbage in libxenguest's
# pfn types), the same failures the B->A hops hit; this model ran clean.
XENTB_CPU=${XENTB_CPU:-qemu64,+svm,+npt,-rdtscp,+ssse3,+sse4.1,+sse4.2,+popcnt}
# smap=0 smep=0 are required under TCG (dom0 faults in create_bounce_frame
# without them); one dom0 vCPU avoids soft lockups; no boot scrub saves RSS.
XENTB_XEN_CMDLINE=${XENTB_XEN_CMDLINE:-smap=0 smep=0 dom0_mem=1024M,max:1024M \
dom0_max_vcpus=1 console=com1 com1=115200,8n1 noreboot bootscrub=false}
XENTB_DOM0_CMDLINE=${XENTB_DOM0_CMDLINE:-console=hvc0 earlyprintk=xen \
loglevel=4}
XENTB_NETS="pub mig1 mig2"
# The bridge in the run's namespace that joins both hosts' public NICs
# (taps) and the build machine's side of the public network (192.0.2.250,
# where the probe runs); empty: pub is a socket link like the others.
XENTB_PUB_BRIDGE=${XENTB_PUB_BRIDGE-xtbpub}
XENTB_PUB_CLIENT=192.0.2.250

# pub_bridge_create: the namespace's bridge for the public network.
pub_bridge_create() {
    [ -n "$XENTB_PUB_BRIDGE" ] || return 0
    ip link show "$XENTB_PUB_BRIDGE" >/dev/null 2>&1 && return 0
    ip link add "$XENTB_PUB_BRIDGE" type bridge &&
        ip addr add "$XENTB_PUB_CLIENT/24" dev "$XENTB_PUB_BRIDGE" &&
        ip link set "$XENTB_PUB_BRIDGE" up
}
# pub_attach N: host N's tap (made by its QEMU) onto that bridge.
pub_attach() {
    local i
    [ -n "$XENTB_PUB_BRIDGE" ] || return 0
    for i in $(seq 1 50); do
        ip link set "xtbpub$1" master "$XENTB_PUB_BRIDGE" 2>/dev/null &&
            ip link set "xtbpub$1" up && return 0
        sleep 0.1
    done
    echo "lib.sh: tap xtbpub$1 did not appear" >&2
}
# shared_disk_args: the disk both hosts attach ($XENTB_RUN/shared.img, raw,
# serial XENTB-SHARED0, /dev/vda in dom0).  Two QEMU processes of one
# kernel see each other's writes through its page cache (raw format, no
# O_DIRECT, no image locking): a shared block device without a storage
# server to emulate.
shared_disk_args() {
    [ -f "$XENTB_RUN/shared.img" ] || return 0
    echo "-drive file=$XENTB_RUN/shared.img,if=none,id=shared,format=raw,cache=writeback,file.locking=off"
    echo "-device virtio-blk-pci,drive=shared,serial=XENTB-SHARED0,share-rw=on"
}
XENTB_PORT0=${XENTB_PORT0:-41000}
XENTB_LINK=${XENTB_LINK:-socket}

declare -A H_PID H_IN H_OUT H_T0 H_NUM H_READY H_LOST
_xentb_seq=0

xentb_now() { date +%s.%N | cut -c1-14; }
xentb_elapsed() { awk -v a="$1" -v b="$(xentb_now)" 'BEGIN{printf "%.1f", b-a}'; }

# xentb_mcast_setup: multicast on the namespace's loopback (XENTB_LINK=mcast).
xentb_mcast_setup() {
    ip link set lo multicast on &&
        ip route replace 224.0.0.0/4 dev lo
}

# host_start NAME NUM [CPU]: boot one emulated host in the background.
host_start() {
    local name=$1 n=$2 cpu=${3:-$XENTB_CPU} k=0 net role port nd
    local -a args
    args=(-accel tcg -cpu "$cpu" -smp 1 -m 2048 -nodefaults -display none
          -no-reboot -monitor none
          -kernel "$XENTB_IMG/xen" -append "$XENTB_XEN_CMDLINE"
          -initrd "$XENTB_IMG/vmlinuz $XENTB_DOM0_CMDLINE xentb.n=$n,$XENTB_RUN/$XENTB_DOM0_IMG"
          -chardev "file,id=con,path=$XENTB_RUN/$name.console"
          -serial chardev:con
          -device virtio-serial-pci
          -chardev "pipe,id=ctl,path=$XENTB_RUN/$name.ctl"
          -device virtserialport,chardev=ctl,name=xentb.ctl
          -pidfile "$XENTB_RUN/$name.pid")
    for net in $XENTB_NETS; do
        k=$((k + 1))
        port=$((XENTB_PORT0 + k))
        if [ "$XENTB_LINK" = mcast ]; then
            role="mcast=239.255.0.$k:$port,localaddr=127.0.0.1"
        elif [ "$n" = 1 ]; then role="listen=127.0.0.1:$port"
        else role="connect=127.0.0.1:$port"; fi
        nd="socket,id=$net,$role"
        # pub: a tap on the namespace's bridge, where the probe runs.
        [ "$net" != pub ] || [ -z "$XENTB_PUB_BRIDGE" ] ||
            nd="tap,id=pub,ifname=xtbpub$n,script=no,downscript=no"
        args+=(-netdev "$nd"
               -device "virtio-net-pci,netdev=$net,mac=52:54:00:0$k:00:0$n")
    done
    args+=($(shared_disk_args))
    rm -f "$XENTB_RUN/$name".ctl.{in,out} "$XENTB_RUN/$name.console"
    mkfifo "$XENTB_RUN/$name.ctl.in" "$XENTB_RUN/$name.ctl.out"
    H_T0[$name]=$(xentb_now)
    H_NUM[$name]=$n
    H_READY[$name]="" H_LOST[$name]=""
    "$XENTB_QEMU" "${args[@]}" >"$XENTB_RUN/$name.qemu.log" 2>&1 &
    H_PID[$name]=$!
    pub_attach "$n"
    # O_RDWR opens of a FIFO do not block.
    exec {H_IN[$name]}<>"$XENTB_RUN/$name.ctl.in"
    exec {H_OUT[$name]}<>"$XENTB_RUN/$name.ctl.out"
    # Host 2 connects to host 1's listening sockets: wait for them.
    if [ "$n" = 1 ] && [ "$XENTB_LINK" != mcast ]; then
        local i
        for i in $(seq 1 50); do
            ss -ltn 2>/dev/null | grep -q ":$((XENTB_PORT0 + 3)) " && break
            sleep 0.2
        done
    fi
}

host_alive() { [ -n "${H_PID[$1]:-}" ] && kill -0 "${H_PID[$1]}" 2>/dev/null; }

# host_stop NAME: end the QEMU process this script started.
host_stop() {
    local name=$1 pid=${H_PID[$1]:-}
    [ -n "$pid" ] || return 0
    kill "$pid" 2>/dev/null
    local i
    for i in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    [ -z "${H_IN[$name]:-}" ] || exec {H_IN[$name]}>&-
    [ -z "${H_OUT[$name]:-}" ] || exec {H_OUT[$name]}>&-
    unset "H_PID[$name]" "H_IN[$name]" "H_OUT[$name]"
}

# host_wait_ready NAME TIMEOUT: wait for the agent's @@READY (toolstack up);
# returns at once when it was seen already.
host_wait_ready() {
    local name=$1 deadline=$((SECONDS + $2)) line
    [ -z "${H_READY[$name]:-}" ] || return 0
    while [ "$SECONDS" -lt "$deadline" ]; do
        host_alive "$name" || { out="QEMU of host $name exited"; return 1; }
        if IFS= read -r -t 2 -u "${H_OUT[$name]}" line; then
            case "$line" in @@READY*) H_READY[$name]=1; return 0 ;; esac
        fi
    done
    out="host $name: no agent after $2 s"
    return 1
}

# dom0 NAME TIMEOUT COMMAND: run COMMAND (a bash string) in dom0 NAME;
# sets $out (stdout+stderr) and $rc (124: timed out, 125: host lost).  An
# agent that does not answer in time is marked lost (H_LOST): later calls
# fail at once instead of waiting again.
dom0() {
    local name=$1 tmo=$2 cmd=$3 id line deadline got=0
    _xentb_seq=$((_xentb_seq + 1))
    id=c$_xentb_seq
    out="" rc=125
    host_alive "$name" || { out="host $name is not running"; return 125; }
    [ -z "${H_LOST[$name]:-}" ] ||
        { out="agent of host $name lost earlier"; return 125; }
    printf '%s %s %s\n' "$id" "$tmo" "$(printf '%s' "$cmd" | base64 -w0)" \
        >&"${H_IN[$name]}"
    deadline=$((SECONDS + tmo + 15))
    while [ "$SECONDS" -lt "$deadline" ]; do
        if ! IFS= read -r -t 2 -u "${H_OUT[$name]}" line; then
            host_alive "$name" || { out="host $name died"; return 125; }
            continue
        fi
        case "$line" in
        "@@BEGIN $id") got=1; out="" ;;
        "@@END $id "*) rc=${line##* }; out=${out%$'\n'}; return "$rc" ;;
        *) [ "$got" = 1 ] && out+="$line"$'\n' ;;
        esac
    done
    out="${out}(no answer from host $name within $tmo s)"
    H_LOST[$name]=1
    rc=124
    return 124
}

# console_tail NAME [LINES]: the host's serial console (Xen + dom0), printable.
console_tail() {
    local f=$XENTB_RUN/$1.console
    [ -f "$f" ] || { echo "(no console log for $1)"; return; }
    tr -d '\r' <"$f" | tr -c '[:print:]\n' '?' | tail -n "${2:-20}"
}
