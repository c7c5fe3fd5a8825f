#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-only
# Build xlmig for another Debian release's Xen, in a root of that release:
# `tools/build-root/build.sh trixie` builds the tree against Debian 13's
# libxen-dev (Xen 4.20) into build/trixie/ of the tree (the programs,
# libxlmig.so and the save-helper shim, laid out as in the tree, so the
# Xen testbed's mkoverlay.sh can take them from there).
#
# The root (debootstrap minbase plus the build packages, from the mirror
# apt uses here) is made once and cached under XLMIG_BUILD_ROOT_CACHE
# (default /var/cache/xlmig-build-root), one directory per release named
# by the recipe's key; a changed recipe or XLMIG_BUILD_ROOT_REFRESH=1
# makes it again.  Needs root (debootstrap, chroot).  Arguments after the
# release go to make (e.g. WERROR=1).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
suite=${1:?usage: build.sh SUITE [MAKE-ARGS...]}
shift
cache=${XLMIG_BUILD_ROOT_CACHE:-/var/cache/xlmig-build-root}
mirror=${XLMIG_BUILD_ROOT_MIRROR:-http://deb.debian.org/debian}
secmirror=${XLMIG_BUILD_ROOT_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
out=$top/build/$suite

log() { printf 'build-root: %s\n' "$*" >&2; }
die() { printf 'build-root: error: %s\n' "$*" >&2; exit 1; }

case "$suite" in
bookworm|trixie) ;;
*) die "unknown release '$suite' (bookworm or trixie)" ;;
esac
# What the library and the programs need to build (not the docs, tests).
pkgs=build-essential,pkg-config,make,libxen-dev,libyajl-dev,libssl-dev
pkgs=$pkgs,libgcrypt20-dev,libisal-dev,libmnl-dev,liblz4-dev,libzstd-dev

[ "$(id -u)" -eq 0 ] || die "must run as root (debootstrap, chroot)"
command -v debootstrap >/dev/null ||
    die "debootstrap is not installed (apt-get install debootstrap)"

make_root() {
    local r=$1
    debootstrap --variant=minbase --include="$pkgs" "$suite" "$r" \
        "$mirror" >"$r.log" 2>&1 ||
        { tail -20 "$r.log" >&2; return 1; }
    cat >"$r/etc/apt/sources.list" <<EOS
deb $mirror $suite main
deb $mirror $suite-updates main
deb $secmirror $suite-security main
EOS
    mount -t proc proc "$r/proc"
    chroot "$r" sh -c 'export DEBIAN_FRONTEND=noninteractive;
        apt-get -q update && apt-get -q -y dist-upgrade && apt-get clean' \
        >>"$r.log" 2>&1
    local st=$?
    umount "$r/proc"
    return $st
}

# The key changes with the recipe: then the cached root is remade.
key=$( { declare -f make_root; echo "$suite $mirror $secmirror $pkgs"; } |
       sha256sum | cut -c1-12)
root=$cache/$suite-$key
# One build at a time (the root's /src is shared): the lock is held to
# the end.
mkdir -p "$cache"
exec 9>"$cache/lock"
flock 9
if [ -n "${XLMIG_BUILD_ROOT_REFRESH:-}" ] || [ ! -f "$root/.done" ]; then
    # (never into a tree left bind-mounted by a killed run)
    for m in "$cache/$suite"-*/src; do umount -l "$m" 2>/dev/null || true; done
    rm -rf --one-file-system "$cache/$suite"-*
    t0=$SECONDS
    log "debootstrap $suite minbase + build packages into $root"
    make_root "$root" || die "making the $suite build root failed (see $root.log)"
    chroot "$root" dpkg-query -W -f='${Version}\n' libxen-dev >"$root/.done"
    log "root made in $((SECONDS - t0)) s ($(du -sm "$root" | cut -f1) MiB)"
fi
log "$suite root: libxen-dev $(cat "$root/.done")"

# The tree's files (tracked and new, not ignored) copied into OUT, which
# is bind-mounted into the root and built there.
mkdir -p "$out"
(cd "$top" && git ls-files -z --cached --others --exclude-standard |
    grep -zv '^build/' | tar --null -T - -cf -) | tar -xf - -C "$out"
mkdir -p "$root/src"
mount --bind "$out" "$root/src"
trap 'umount -l "$root/src" 2>/dev/null || true' EXIT
t0=$SECONDS
chroot "$root" make -C /src --no-print-directory "$@" xlmig >&2 ||
    die "build in the $suite root failed"
log "built in $((SECONDS - t0)) s: $out"
