#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-only
# Build the cached part of the Xen testbed for one Debian release
# (XENTB_DIST: bookworm, Debian 12 with Xen 4.17, the default; or trixie,
# Debian 13 with Xen 4.20): a dom0 root file system (debootstrap minbase
# plus the Xen tools and the libraries xlmig needs), trimmed and packed as a
# zstd cpio, and that release's Xen hypervisor and kernel (downloaded in
# the root, unpacked, never installed).  Everything lands in
# $XEN_TESTBED_CACHE/$XENTB_DIST (default /var/cache/xlmig-xen-testbed/
# bookworm); a rerun whose recipe is unchanged does nothing.
# XEN_TESTBED_REFRESH=1 rebuilds.
#
# Output in that directory: xen (ELF for qemu -kernel), vmlinuz,
# dom0-base.cpio.zst, dom0-hvm.cpio.zst (what an HVM guest needs on top:
# Debian's QEMU device model and SeaBIOS, appended for the hvm scenario
# only), guest-modules.cpio.gz (the guest's front ends and ext4, appended
# to its initramfs), versions (what was fetched) and stamp (the recipe key).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
suite=${XENTB_DIST:-bookworm}
cache=${XEN_TESTBED_CACHE:-/var/cache/xlmig-xen-testbed}/$suite
mirror=${XEN_TESTBED_MIRROR:-http://deb.debian.org/debian}
secmirror=${XEN_TESTBED_SECURITY_MIRROR:-http://deb.debian.org/debian-security}

log() { printf 'setup: %s\n' "$*" >&2; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

# The release's Xen and its name for libssl.
case "$suite" in
bookworm) xen=4.17 ssl=libssl3 ;;
trixie) xen=4.20 ssl=libssl3t64 ;;
*) die "XENTB_DIST=$suite: bookworm or trixie" ;;
esac
# dom0 packages: the toolstack, what the init and the scenarios run, and the
# run-time libraries of xlmig (checked against the binary at every run by
# mkoverlay.sh).
dom0_pkgs=xen-utils-$xen,xenstore-utils,kmod,iproute2,procps,socat
dom0_pkgs=$dom0_pkgs,libyajl2,libisal2,$ssl,libgcrypt20,coreutils
# The HVM layer: Debian's device model and the BIOS hvmloader loads.
hvm_pkgs="qemu-system-xen seabios"
# Kernel modules dom0 loads (with their dependencies); the rest are
# removed.  tls is kernel TLS for xlmig's connections, and gcm with ctr
# and ghash-generic the AES-GCM it encrypts with (the crypto API loads
# them by name, so modprobe's dependencies do not list them; ctr is
# built into Debian 13's kernel, a module in Debian 12's): without them
# the kernel refuses the session keys OpenSSL hands it, and TLS stays in
# user space.
dom0_mods="xenfs xen-evtchn xen-gntdev xen-gntalloc xen-privcmd xen-blkback
xen-netback bridge virtio_pci virtio_net virtio_console virtio_blk tls gcm
ctr ghash-generic"
# Kernel modules the guest loads (its front ends and the shared disk's file
# system), packed apart for its initramfs: see step 3.
guest_mods="xen-blkfront xen-netfront ext4"

# The key changes when this recipe changes: then the cache is rebuilt.
key=$( { cat "$0"; echo "$dom0_pkgs $dom0_mods $guest_mods $hvm_pkgs $suite"; } |
       sha256sum | cut -c1-16)
if [ -z "${XEN_TESTBED_REFRESH:-}" ] && [ -f "$cache/stamp" ] &&
   [ "$(cat "$cache/stamp")" = "$key" ] && [ -s "$cache/xen" ] &&
   [ -s "$cache/vmlinuz" ] && [ -s "$cache/dom0-base.cpio.zst" ] &&
   [ -s "$cache/dom0-hvm.cpio.zst" ] &&
   [ -s "$cache/guest-modules.cpio.gz" ]; then
    log "cache $cache is up to date ($(tr '\n' ' ' <"$cache/versions"))"
    exit 0
fi

[ "$(id -u)" -eq 0 ] || die "must run as root (debootstrap, chroot)"
"$top/tools/install-deps" "$here/host-packages" >&2

t0=$(date +%s)
mkdir -p "$cache"
work=$(mktemp -d "$cache/build.XXXXXX")
root=$work/root
mounted=""
cleanup() {
    local m
    for m in $mounted; do umount -l "$m" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

# 1. dom0 root: minbase plus the tools, upgraded from the security suite
#    (the hypervisor comes from there too, and tools must match).
log "debootstrap $suite minbase into $root"
debootstrap --variant=minbase --include="$dom0_pkgs" "$suite" "$root" \
    "$mirror" >"$work/debootstrap.log" 2>&1 ||
    { tail -20 "$work/debootstrap.log" >&2; die "debootstrap failed"; }
cat >"$root/etc/apt/sources.list" <<EOF
deb $mirror $suite main
deb $mirror $suite-updates main
deb $secmirror $suite-security main
EOF
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 755 "$root/usr/sbin/policy-rc.d"
mount -t proc proc "$root/proc" && mounted="$root/proc"
log "upgrading dom0 root from $suite-security"
chroot "$root" sh -c 'export DEBIAN_FRONTEND=noninteractive;
    apt-get -q update && apt-get -q -y dist-upgrade' \
    >"$work/upgrade.log" 2>&1 ||
    { tail -20 "$work/upgrade.log" >&2; die "upgrade of dom0 root failed"; }
toolver=$(chroot "$root" dpkg-query -W -f='${Version}' "xen-utils-$xen")

# 2. The hypervisor and the kernel of the same release, downloaded in the
#    root (with its apt sources), unpacked aside.
kpkg=$(chroot "$root" apt-cache depends linux-image-amd64 |
       awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
[ -n "$kpkg" ] || die "cannot resolve linux-image-amd64 in the $suite root"
log "downloading xen-hypervisor-$xen-amd64 and $kpkg"
mkdir -p "$root/tmp/dl"
chroot "$root" sh -c "cd /tmp/dl && apt-get -o APT::Sandbox::User=root \
    download -q xen-hypervisor-$xen-amd64 $kpkg" >>"$work/upgrade.log" 2>&1 ||
    { tail -20 "$work/upgrade.log" >&2; die "download of Xen/kernel failed"; }
dl=$root/tmp/dl
dpkg-deb -x "$dl"/xen-hypervisor-$xen-amd64_*.deb "$work/xen"
dpkg-deb -x "$dl/$kpkg"_*.deb "$work/kernel"
xenver=$(dpkg-deb -f "$dl"/xen-hypervisor-$xen-amd64_*.deb Version)
rm -rf "$dl"
umount -R "$root/proc" && mounted=""
# Debian 13's kernel has its modules under /usr/lib/modules.
if [ ! -d "$work/kernel/lib/modules" ]; then
    mkdir -p "$work/kernel/lib"
    mv "$work/kernel/usr/lib/modules" "$work/kernel/lib/modules"
fi
kver=$(ls "$work/kernel/lib/modules")
gunzip -c "$work"/xen/boot/xen-$xen-amd64.gz >"$work/xen.elf"
[ "$toolver" = "$xenver" ] ||
    log "warning: xen-utils $toolver differs from hypervisor $xenver"

# install_modules DEST MODULES: the modules with their dependencies (the
# closure modprobe computes) and the kernel's module lists into DEST, with
# a modules.dep for (busybox) modprobe there.
install_modules() {
    local dest=$1 mods=$2 f rel
    for f in $(for m in $mods; do
                   modprobe -d "$work/kernel" -S "$kver" --show-depends "$m" |
                       awk '$1 == "insmod" { print $2 }'
               done | sort -u); do
        rel=${f#"$work/kernel/"}
        mkdir -p "$dest/$(dirname "$rel")"
        cp "$f" "$dest/$rel"
    done
    mkdir -p "$dest/lib/modules/$kver"
    cp "$work/kernel/lib/modules/$kver"/modules.{order,builtin,builtin.modinfo} \
        "$dest/lib/modules/$kver/" 2>/dev/null || true
    depmod -b "$dest" "$kver"
}

# 3. Kernel: modules dom0 needs (closure computed by modprobe), the image
#    for the guests in /boot.
depmod -b "$work/kernel" "$kver"
install_modules "$root" "$dom0_mods"
mkdir -p "$root/boot"
cp "$work/kernel/boot/vmlinuz-$kver" "$root/boot/vmlinuz"
# The guest's modules, as a cpio (newc, gzip) that mkoverlay.sh appends to
# the guest's initramfs.
install_modules "$work/guest-mods" "$guest_mods"
(cd "$work/guest-mods" && find . -print0 | cpio --null -o -H newc --quiet) |
    gzip -6 >"$work/guest-modules.cpio.gz"

# 4. Trim what a RAM-resident dom0 never reads.
trim() {
    rm -rf "$root"/usr/share/{doc,man,info,locale,lintian,bug} \
           "$root"/var/cache/apt/* "$root"/var/lib/apt/lists/* \
           "$root"/var/cache/debconf/*-old "$root"/var/log/*.log \
           "$root"/usr/share/zoneinfo/right "$root"/usr/share/zoneinfo/posix
    find "$root" -xdev -name '__pycache__' -prune -exec rm -rf {} +
}
trim
[ -c "$root/dev/console" ] || mknod -m 600 "$root/dev/console" c 5 1
[ -c "$root/dev/null" ] || mknod -m 666 "$root/dev/null" c 1 3
echo xentb >"$root/etc/hostname"

# 5. Pack (the policy-rc.d kept for step 6 left out).
log "packing dom0 root ($(du -sm "$root" | cut -f1) MiB)"
(cd "$root" && find . -xdev ! -path ./usr/sbin/policy-rc.d -print0 |
    cpio --null -o -H newc --quiet) |
    zstd -q -T2 -10 >"$work/dom0-base.cpio.zst"

# 6. The HVM layer: what installing the device model adds or changes
#    (entries whose inode changed after the mark: dpkg keeps the packages'
#    modification times), packed apart; with the new directories, which
#    Linux's initramfs unpacker does not make for a file by itself.
touch "$work/mark"
sleep 1
mount -t proc proc "$root/proc" && mounted="$root/proc"
log "installing $hvm_pkgs for the HVM layer"
chroot "$root" sh -c "export DEBIAN_FRONTEND=noninteractive;
    apt-get -q update && apt-get -q -y --no-install-recommends install \
        $hvm_pkgs" >"$work/hvm.log" 2>&1 ||
    { tail -20 "$work/hvm.log" >&2; die "installing $hvm_pkgs failed"; }
hvmver=$(chroot "$root" dpkg-query -W -f='${Version}' qemu-system-xen)
# (with what a package's scripts mounted under it, e.g. binfmt_misc)
umount -R "$root/proc" && mounted=""
trim
(cd "$root" && find . -xdev -cnewer "$work/mark" ! -path . \
    ! -path ./usr/sbin/policy-rc.d -print0 |
    cpio --null -o -H newc --quiet) |
    zstd -q -T2 -10 >"$work/dom0-hvm.cpio.zst"

# 7. Publish atomically.
mv "$work/xen.elf" "$cache/xen"
cp "$root/boot/vmlinuz" "$cache/vmlinuz"
mv "$work/dom0-base.cpio.zst" "$cache/dom0-base.cpio.zst"
mv "$work/dom0-hvm.cpio.zst" "$cache/dom0-hvm.cpio.zst"
mv "$work/guest-modules.cpio.gz" "$cache/guest-modules.cpio.gz"
printf 'dist=%s\nxen=%s\nkernel=%s\nxen-utils=%s\nqemu-system-xen=%s\n' \
    "$suite" "$xenver" "$kver" "$toolver" "$hvmver" >"$cache/versions"
echo "$key" >"$cache/stamp"
log "done in $(( $(date +%s) - t0 )) s: $(du -sh "$cache/dom0-base.cpio.zst" |
    cut -f1) dom0 image, $(du -sh "$cache/dom0-hvm.cpio.zst" | cut -f1) HVM
    layer; $(tr '\n' ' ' <"$cache/versions")"
