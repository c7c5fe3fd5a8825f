#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-only
# Build the per-run part of the testbed in RUNDIR: the guest initramfs
# (busybox, memtest, diskrec, echod, init, the guest's modules), a small cpio carrying the dom0 /init, the agent,
# the guest files and the freshly built xlmig with libxlmig.so (and xlmigd
# and the save-helper shim when the tree has them), and RUNDIR/dom0.img =
# the cached dom0 base cpio + that cpio (Linux unpacks concatenated
# archives, later files win), and RUNDIR/dom0-hvm.img = base + the HVM
# layer (QEMU device model) + that cpio, for the hvm scenario.
# XENTB_DIST (bookworm: Xen 4.17, default; trixie: Xen 4.20) picks the
# cached image; the xlmig installed is the one built for its Xen: this
# tree's build for bookworm, build/trixie/ (make build-trixie) for trixie,
# or XENTB_XLMIG_TREE.
# Usage: mkoverlay.sh RUNDIR
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
dist=${XENTB_DIST:-bookworm}
cache=${XEN_TESTBED_CACHE:-/var/cache/xlmig-xen-testbed}/$dist
run=${1:?usage: mkoverlay.sh RUNDIR}
die() { printf 'mkoverlay: error: %s\n' "$*" >&2; exit 1; }

case "$dist" in
bookworm) tree=${XENTB_XLMIG_TREE:-$top} how="make" ;;
trixie) tree=${XENTB_XLMIG_TREE:-$top/build/trixie} how="make build-trixie" ;;
*) die "XENTB_DIST=$dist: bookworm or trixie" ;;
esac
# The copies linked for installing: they find libxlmig.so.0 in ../lib,
# /usr/local/lib here (built for prefix /usr/local, the default).
xlmig=$tree/xlmig/inst/xlmig
xlmigd=$tree/xlmig/inst/xlmigd
libxlmig=$tree/libxlmig/libxlmig.so.0
[ -x "$xlmig" ] || die "$xlmig is not built (run $how)"
[ -e "$libxlmig" ] || die "$libxlmig is not built (run $how)"
[ -s "$cache/dom0-base.cpio.zst" ] ||
    die "no $dist dom0 base image (run XENTB_DIST=$dist setup.sh)"
# The Xen tools of the image must be the release xlmig was built for.
want=$(sed -n 's/^xen-utils=\([0-9]*\.[0-9]*\).*/\1/p' "$cache/versions")
got=$(readelf -d "$libxlmig" |
      sed -n 's/.*(NEEDED).*\[libxenlight\.so\.\([0-9.]*\)\].*/\1/p')
[ "$want" = "$got" ] ||
    die "$libxlmig is built for Xen ${got:-?}, the $dist image has Xen" \
        "${want:-?} (run $how)"

# The list of files in the base image, to check xlmig's libraries against.
files=$cache/dom0-files
if [ ! -s "$files" ] || [ "$files" -ot "$cache/dom0-base.cpio.zst" ]; then
    zstd -dc "$cache/dom0-base.cpio.zst" | cpio -t --quiet >"$files.tmp"
    mv "$files.tmp" "$files"
fi
check_libs() {
    local bin=$1 lib missing=""
    for lib in $(readelf -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
        [ "$lib" != "${libxlmig##*/}" ] || continue
        grep -Eq "^(\./)?(usr/)?lib/(x86_64-linux-gnu/)?$lib\$" "$files" ||
            missing="$missing $lib"
    done
    [ -z "$missing" ] ||
        die "$bin needs$missing, absent from the dom0 image: add the" \
            "package to dom0_pkgs in tools/xen-testbed/setup.sh"
}
check_libs "$xlmig"
[ ! -x "$xlmigd" ] || check_libs "$xlmigd"
check_libs "$libxlmig"

stage=$run/stage
rm -rf "$stage" && mkdir -p "$stage"

# The guest's disk and network workloads (guest/diskrec.c, guest/echod.c).
guest_workloads() {
    local f
    for f in diskrec echod; do
        ${CC:-cc} -O2 -Wall -static -o "$1/bin/$f" "$here/guest/$f.c"
    done
}
# The guest's kernel modules (setup.sh: front ends, ext4), a second cpio
# archive after the first (Linux unpacks concatenated archives), inside
# the one gzip stream: libxenguest inflates a gzip ramdisk as one stream.
guest_modules() {
    [ -s "$cache/guest-modules.cpio.gz" ] ||
        die "no guest modules in $cache (run setup.sh)"
    gzip -dc "$cache/guest-modules.cpio.gz"
}

# Guest initramfs.
g=$stage/guest
mkdir -p "$g/bin" "$g/dev" "$g/proc" "$g/sys"
cp /bin/busybox "$g/bin/busybox"
${CC:-cc} -O2 -Wall -static -o "$g/bin/memtest" "$here/guest/memtest.c"
guest_workloads "$g"
cp "$here/guest/init" "$g/init"
mknod -m 600 "$g/dev/console" c 5 1
mkdir -p "$stage/o/opt/xentb"
{
    (cd "$g" && find . -print0 | cpio --null -o -H newc --quiet)
    guest_modules
} | gzip -6 >"$stage/o/opt/xentb/guest-initrd.gz"

# dom0 overlay.
o=$stage/o
mkdir -p "$o/usr/local/bin" "$o/usr/local/lib" "$o/etc/xen"
install -m 755 "$here/dom0/init" "$o/init"
install -m 755 "$here/dom0/agent" "$o/opt/xentb/agent"
install -m 644 "$here/dom0/guest.cfg" "$o/etc/xen/xentb-guest.cfg"
install -m 644 "$here/dom0/hvm-guest.cfg" "$o/etc/xen/xentb-hvm.cfg"
install -D -m 755 "$here/dom0/xentb-block" "$o/etc/xen/scripts/xentb-block"
install -m 755 "$here/dom0/xentb-vif" "$o/etc/xen/scripts/xentb-vif"
install -m 755 "$xlmig" "$o/usr/local/bin/xlmig"
[ ! -x "$xlmigd" ] || install -m 755 "$xlmigd" "$o/usr/local/bin/xlmigd"
install -m 755 "$libxlmig" "$o/usr/local/lib/libxlmig.so.0"
# The pre-copy shim and the save-helper wrapper xlmigd hands to libxl
# (built for prefix /usr/local, the default).
if [ -x "$tree/libxlmig/xlmig-save-helper" ]; then
    mkdir -p "$o/usr/local/libexec/xlmig"
    install -m 755 "$tree/libxlmig/xlmig-save-helper" \
        "$tree/libxlmig/xlmig-save-shim.so" "$o/usr/local/libexec/xlmig/"
fi
(cd "$o" && find . -print0 | cpio --null -o -H newc --quiet) |
    gzip -6 >"$run/overlay.cpio.gz"
cat "$cache/dom0-base.cpio.zst" "$run/overlay.cpio.gz" >"$run/dom0.img"
if [ -s "$cache/dom0-hvm.cpio.zst" ]; then
    cat "$cache/dom0-base.cpio.zst" "$cache/dom0-hvm.cpio.zst" \
        "$run/overlay.cpio.gz" >"$run/dom0-hvm.img"
fi
rm -rf "$stage"
