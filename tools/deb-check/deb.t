#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-only
# `make deb-check`: the Debian packages as an administrator meets them.
# Builds them from the tree (its tracked and untracked-but-not-ignored
# files, exported, so the work tree keeps its own build) with
# `dpkg-buildpackage -us -uc -b` and DEB_BUILD_OPTIONS=nocheck, which
# must run no test; runs lintian, which must find no error (warnings and
# notes go to the TAP diagnostics); installs xlmig and libxlmig0 with apt
# into a clean Debian 12 root and checks what is there: the programs run
# (`xlmig --version`, or `xlmig help` while the CLI has no --version;
# the output says which), `man` shows the three pages, the unit, the
# conffile, the example config (accepted by the installed xlmig), the
# baselines, save helper and shim under /usr, the bash completion; then
# purges them (and the dependencies apt pulled in) and checks that the
# root's file list is as before, package-manager state and caches aside,
# and that nothing named xlmig is left.
#
# The clean root is debootstrap bookworm minbase plus man-db, from the
# mirror apt uses here, made once and cached as a tarball under
# XLMIG_DEB_CHECK_CACHE (default /var/cache/xlmig-deb-check) with the
# .debs apt fetches; XLMIG_DEB_CHECK_REFRESH=1 remakes it.  Needs root
# and the mirror; skips otherwise.  XLMIG_DEB_CHECK_KEEP=1 keeps the
# work directory.  Timings go to the diagnostics.
. "$(dirname "$0")/../../tests/tap/tap.sh"

here=$MIG_ROOT/tools/deb-check
cache=${XLMIG_DEB_CHECK_CACHE:-/var/cache/xlmig-deb-check}
suite=bookworm
base_pkgs=man-db
version=$(sed -n 's/^XLMIG_VERSION *:= *//p' "$MIG_ROOT/Config.mk")

# The mirrors apt uses here (apt-get indextargets), for the suite and
# its security updates, unless given.
apt_uri() {
    apt-get indextargets --format '$(REPO_URI) $(RELEASE) $(COMPONENT)' \
        'Identifier: Packages' 2>/dev/null |
        awk -v s="$1" '$2 == s && $3 == "main" { print $1; exit }'
}
mirror=${XLMIG_DEB_CHECK_MIRROR:-$(apt_uri $suite)}
mirror=${mirror:-http://deb.debian.org/debian/}
secmirror=${XLMIG_DEB_CHECK_SECURITY_MIRROR:-$(apt_uri $suite-security)}
secmirror=${secmirror:-http://deb.debian.org/debian-security/}

[ "$(id -u)" -eq 0 ] ||
    skip_all "needs root (debootstrap and chroot make the clean root)"
probe=$(mktemp -u)
/usr/lib/apt/apt-helper -o Acquire::http::Timeout=10 download-file \
    "${mirror%/}/dists/$suite/Release" "$probe" >/dev/null 2>&1 ||
    skip_all "no network to the mirror $mirror"
rm -f "$probe"
"$MIG_ROOT/tools/install-deps" >&2 &&
    "$MIG_ROOT/tools/install-deps" "$here/host-packages" >&2 ||
    bail "cannot install the packages the check needs"

plan 31

t0=$(date +%s)
mkdir -p "$cache/archives/partial"
work=$(mktemp -d "$cache/run.XXXXXX")
root=$work/root
mounted=()
tap_cleanup() {
    local m
    for m in "${mounted[@]}"; do umount -l "$m" 2>/dev/null; done
    if [ -n "${XLMIG_DEB_CHECK_KEEP:-}" ]; then
        echo "# work directory kept: $work"
    else
        rm -rf "$work"
    fi
}
elapsed() { echo $(( $(date +%s) - $1 )); }
diag_lines() { sed 's/^/# /'; }

# --- the packages ---------------------------------------------------------
t=$(date +%s)
src=$work/xlmig-$version
mkdir -p "$src"
if git -C "$MIG_ROOT" rev-parse --show-toplevel >/dev/null 2>&1; then
    (cd "$MIG_ROOT" && git ls-files -z --cached --others --exclude-standard |
        xargs -0 sh -c 'for f; do [ -f "$f" ] && printf "%s\0" "$f"; done' - |
        tar --null -T - -cf -) | tar -xf - -C "$src"
else
    (cd "$MIG_ROOT" && tar --exclude=.git -cf - .) | tar -xf - -C "$src"
    make -s -C "$src" clean >/dev/null 2>&1
fi
# As a Debian builder runs it: nothing of the make that runs this test.
(cd "$src" && unset MAKEFLAGS MFLAGS MAKELEVEL &&
    DEB_BUILD_OPTIONS="nocheck parallel=2" dpkg-buildpackage -us -uc -b) \
    >"$work/build.log" 2>&1
rc=$?
is 0 "$rc" "dpkg-buildpackage -us -uc -b builds the packages"
[ "$rc" -eq 0 ] ||
    { tail -30 "$work/build.log" | diag_lines; bail "no packages"; }
grep -qE '^(prove|All tests successful|Result: )' "$work/build.log"
ok $((!$?)) "with DEB_BUILD_OPTIONS=nocheck no test runs"
for p in xlmig libxlmig0 libxlmig-dev; do
    deb=$(ls "$work/${p}_${version}"_*.deb 2>/dev/null)
    [ -n "$deb" ]; ok $? "package $p is built"
done
diag "package build: $(elapsed "$t") s"

run lintian --pedantic --display-info "$work"/xlmig_"$version"_*.changes
is 0 "$(grep -c '^E:' <<<"$out")" "lintian finds no error"
sed '/^$/d' <<<"$out" | diag_lines

# --- the clean root -----------------------------------------------------
make_base() {
    local b=$work/base
    debootstrap --variant=minbase --include="$base_pkgs" "$suite" "$b" \
        "$mirror" >"$work/debootstrap.log" 2>&1 ||
        { tail -20 "$work/debootstrap.log" | diag_lines; return 1; }
    printf 'deb %s %s main\ndeb %s %s-updates main\ndeb %s %s-security main\n' \
        "$mirror" $suite "$mirror" $suite "$secmirror" $suite \
        >"$b/etc/apt/sources.list"
    printf '#!/bin/sh\nexit 101\n' >"$b/usr/sbin/policy-rc.d"
    chmod 755 "$b/usr/sbin/policy-rc.d"
    cp /etc/resolv.conf "$b/etc/resolv.conf"
    chroot "$b" sh -c 'export DEBIAN_FRONTEND=noninteractive;
        apt-get -q update && apt-get -q -y dist-upgrade && apt-get clean' \
        >>"$work/debootstrap.log" 2>&1 || return 1
    (cd "$b" && tar -cf - .) | zstd -q -T2 >"$base.new" && mv "$base.new" "$base"
    rm -rf "$b"
}
# The key changes with the recipe: then the cached root is remade.
key=$( { declare -f make_base; echo "$suite $mirror $secmirror $base_pkgs"; } |
       sha256sum | cut -c1-16)
base=$cache/base-$key.tar.zst
t=$(date +%s)
if [ -n "${XLMIG_DEB_CHECK_REFRESH:-}" ] || [ ! -s "$base" ]; then
    rm -f "$cache"/base-*.tar.zst
    make_base || bail "debootstrap of a clean $suite root failed"
    diag "clean root made (debootstrap $suite minbase + $base_pkgs): $(elapsed "$t") s"
fi
mkdir "$root"
zstd -q -dc "$base" | tar -xf - -C "$root" || bail "cannot unpack $base"
cp /etc/resolv.conf "$root/etc/resolv.conf"
mount -t proc proc "$root/proc" && mounted+=("$root/proc")
mount --bind "$cache/archives" "$root/var/cache/apt/archives" &&
    mounted+=("$root/var/cache/apt/archives")
diag "clean root ready: $(elapsed "$t") s"

# The root's files, but the package manager's state, caches and logs.
files() {
    (cd "$root" && find . -xdev \( -path ./proc -o -path ./var/cache \
        -o -path ./var/lib/dpkg -o -path ./var/lib/apt -o -path ./var/log \
        -o -path ./tmp -o -path ./etc/ld.so.cache \) -prune -o -print) |
        sort
}
files >"$work/before"
chroot "$root" dpkg-query -W -f='${Package}\n' | sort >"$work/pkgs-before"

in_root() { chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
    LANG=C.UTF-8 HOME=/root DEBIAN_FRONTEND=noninteractive "$@"; }

# --- install ----------------------------------------------------------------
t=$(date +%s)
mkdir -p "$root/tmp/debs"
cp "$work"/xlmig_"$version"_*.deb "$work"/libxlmig0_"$version"_*.deb \
    "$root/tmp/debs/"
in_root apt-get -q update >"$work/install.log" 2>&1
in_root sh -c 'apt-get -q -y --no-install-recommends install /tmp/debs/*.deb' \
    >>"$work/install.log" 2>&1
rc=$?
is 0 "$rc" "apt installs xlmig and libxlmig0 into a clean $suite root"
[ "$rc" -eq 0 ] || tail -20 "$work/install.log" | diag_lines
diag "install (with dependencies): $(elapsed "$t") s"

run in_root xlmig --version
if [ "$rc" -eq 0 ]; then
    like "$version" "$out" "xlmig --version runs and says $version"
else
    diag "xlmig has no --version yet: checking xlmig help instead"
    run in_root xlmig help
    like "Commands:" "$out" "xlmig help runs (no --version yet)"
fi
run in_root xlmig version
is "xlmig $version" "$out" "xlmig version says $version"
run in_root xlmigd --help
like "usage: xlmigd" "$out" "xlmigd runs"
run in_root xl-migrate-cluster --help
like "usage:" "$out" "xl-migrate-cluster runs"
for page in "1 xlmig" "8 xlmigd" "5 xlmig.cfg" "1 xl-migrate-cluster"; do
    run in_root env MANWIDTH=80 man -P cat $page
    like "SYNOPSIS" "$out" "man $page shows the page"
done
unit=$root/lib/systemd/system/xlmigd.service
grep -q '^ExecStart=/usr/sbin/xlmigd ' "$unit"
ok $? "the unit is installed and starts /usr/sbin/xlmigd"
[ ! -e "$root/etc/systemd/system/multi-user.target.wants/xlmigd.service" ]
ok $? "and is not enabled"
run in_root dpkg-query -W -f='${Conffiles}' xlmig
like "/etc/default/xlmigd" "$out" "/etc/default/xlmigd is a conffile"
ex=/usr/share/doc/xlmig/examples
[ -s "$root$ex/xlmig.cfg" ] && [ -s "$root$ex/xlmig-drain.cron" ]
ok $? "the example config and cron entry are in $ex"
run in_root xlmig -c $ex/xlmig.cfg net show -n dom0-b
is 0 "$rc" "the installed xlmig accepts the example config"
run in_root xlmig cpuid baselines
like "baselines in /usr/share/xlmig/baselines)" "$out" \
    "xlmig finds its baselines under /usr/share"
grep -q 'LD_PRELOAD="/usr/libexec/xlmig/xlmig-save-shim.so' \
    "$root/usr/libexec/xlmig/xlmig-save-helper" &&
    [ -s "$root/usr/libexec/xlmig/xlmig-save-shim.so" ]
ok $? "the save helper preloads the shim installed beside it"
strings "$root"/usr/lib/x86_64-linux-gnu/libxlmig.so.0 |
    grep -qx /usr/libexec/xlmig/xlmig-save-helper
ok $? "libxlmig runs the save helper under /usr/libexec"
readelf -d "$root/usr/sbin/xlmig" | grep -qE '\((RUNPATH|RPATH)\)'
ok $((!$?)) "the programs have no run path"
run in_root bash -c '. /usr/share/bash-completion/completions/xlmig &&
    COMP_WORDS=(xlmig migrate-c) COMP_CWORD=1 && _xlmig &&
    echo "${COMPREPLY[*]}"'
is "migrate-cluster" "$out" "the installed bash completion completes"

# --- purge ------------------------------------------------------------------
t=$(date +%s)
in_root apt-get -q -y purge xlmig libxlmig0 >"$work/purge.log" 2>&1
is 0 $? "apt purges xlmig and libxlmig0"
in_root apt-get -q -y --purge autoremove >>"$work/purge.log" 2>&1
is 0 $? "and the dependencies it pulled in"
diag "purge: $(elapsed "$t") s"
rm -rf "$root/tmp/debs"
chroot "$root" dpkg-query -W -f='${Package}\n' | sort >"$work/pkgs-after"
is "" "$(diff "$work/pkgs-before" "$work/pkgs-after")" \
    "the root has the packages it had before"
files >"$work/after"
left=$(diff "$work/before" "$work/after")
is "" "$left" "the root has the files it had before"
# Caches aside: man-db keeps the pages man formatted under /var/cache/man
# until its own daily job prunes them.
left=$(cd "$root" && find . -xdev \( -path ./proc -o -path ./var/cache \) \
       -prune -o -iname '*xlmig*' -print)
is "" "$left" "nothing named xlmig is left outside caches"
run chroot "$root" dpkg-query -W xlmig libxlmig0
like "no packages found" "$err" "dpkg knows neither package any more"

diag "deb-check: $(elapsed "$t0") s in all"
