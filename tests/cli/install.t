#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-only
# `make install DESTDIR=...` installs the binaries, both libraries, the
# headers, libxlmig.pc, the unit, the man pages, the bash completion and
# the examples; the installed programs run on the installed
# libxlmig.so.0, found through their run path alone, and a program builds
# against that tree through pkg-config, linked both ways.  After that
# build, `make install prefix=/usr` rebuilds what names an install path:
# the unit, the save-helper and baseline directories compiled into
# libxlmig, the wrapper and libxlmig.pc all name /usr; RUNPATH=0 links the
# programs without a run path.  The tree is built back for its own
# prefix at the end.
. "$(dirname "$0")/../tap/tap.sh"

plan 45

dest=$(mktemp -d)
tap_cleanup() { rm -rf "$dest"; }
built_prefix=$(sed -n 's/^prefix=//p' "$MIG_ROOT/libxlmig/libxlmig.pc" \
               2>/dev/null)

run make -s -C "$MIG_ROOT" install DESTDIR="$dest" prefix=/usr/local
is 0 "$rc" "make install DESTDIR exits 0"
for f in sbin/xlmig sbin/xl-migrate-cluster sbin/xlmigd lib/libxlmig.a \
         lib/libxlmig.so.0 include/libxlmig.h include/libxlmig_policy.h \
         include/libxlmig_netcfg.h lib/pkgconfig/libxlmig.pc \
         lib/systemd/system/xlmigd.service share/man/man1/xlmig.1 \
         share/man/man1/xl-migrate-cluster.1 share/man/man8/xlmigd.8 \
         share/man/man5/xlmig.cfg.5 share/bash-completion/completions/xlmig \
         share/bash-completion/completions/xl-migrate-cluster \
         share/doc/xlmig/examples/xlmig.cfg \
         share/doc/xlmig/examples/xlmig-drain.cron; do
    [ -e "$dest/usr/local/$f" ]; ok $? "installed $f"
done

grep -q "^ExecStart=/usr/local/sbin/xlmigd " \
    "$dest/usr/local/lib/systemd/system/xlmigd.service"
ok $? "the unit starts the installed xlmigd"
soname=$(objdump -p "$dest/usr/local/lib/libxlmig.so" | awk '/SONAME/ {print $2}')
is "libxlmig.so.0" "$soname" "shared library has its soname"

# The installed programs need libxlmig.so.0 and find it in the libdir
# beside them ($ORIGIN/../lib), so no LD_LIBRARY_PATH, under DESTDIR too.
readelf -d "$dest/usr/local/sbin/xlmig" |
    grep -q '(NEEDED).*\[libxlmig\.so\.0\]'
ok $? "the installed xlmig is linked against libxlmig.so.0"
readelf -d "$dest/usr/local/sbin/xlmig" "$dest/usr/local/sbin/xlmigd" |
    grep -E '\((RUNPATH|RPATH)\)' | grep -qF -e "$MIG_ROOT" -e libxlmig
ok $((!$?)) "their run path names nothing of the build tree"
lib=$(env -u LD_LIBRARY_PATH ldd "$dest/usr/local/sbin/xlmig" |
      sed -n 's/.*libxlmig\.so\.0 => \([^ ]*\) .*/\1/p')
is "$(realpath "$dest/usr/local/lib/libxlmig.so.0")" "$(realpath -q "$lib")" \
    "the installed xlmig loads the installed libxlmig.so.0"
run env -u LD_LIBRARY_PATH "$dest/usr/local/sbin/xlmig" version
is "xlmig 0.1.0" "$out" "the installed xlmig runs"
run env -u LD_LIBRARY_PATH "$dest/usr/local/sbin/xlmigd" --help
like "usage: xlmigd" "$out" "the installed xlmigd runs"

cat >"$dest/prog.c" <<'C'
#include <stdio.h>
#include <libxlmig.h>
int main(void)
{
    libxlmig_ctx *ctx;
    libxlmig_host_info hi;
    int rc;

    if (libxlmig_ctx_alloc(&ctx, NULL)) return 2;
    libxlmig_host_info_init(&hi);
    rc = libxlmig_backend_open(ctx, LIBXLMIG_BACKEND_SIM) ||
         libxlmig_host_info_get(ctx, &hi);
    printf("%s %s\n", rc ? "fail" : hi.backend, libxlmig_strerror(-1003));
    libxlmig_host_info_dispose(&hi);
    libxlmig_ctx_free(ctx);
    return rc;
}
C
# A DESTDIR tree is a sysroot for pkg-config.
export PKG_CONFIG_PATH="$dest/usr/local/lib/pkgconfig"
export PKG_CONFIG_SYSROOT_DIR="$dest"
flags=$(pkg-config --cflags --libs libxlmig)
ok $? "pkg-config finds libxlmig in the tree"
# A library built with SANITIZE=1 needs its runtime in the program too.
san=""
if nm -D "$dest/usr/local/lib/libxlmig.so" | grep -q __asan; then
    san="-fsanitize=address,undefined"
fi
run cc $san -o "$dest/prog" "$dest/prog.c" $flags
is 0 "$rc" "a program compiles and links against the installed tree"
run env LD_LIBRARY_PATH="$dest/usr/local/lib" "$dest/prog"
is "sim not running in a Xen dom0" "$out" "it runs with the shared library"

# The policy and network types and calls of the installed headers.
cat >"$dest/prog2.c" <<'C'
#include <stdio.h>
#include <stdlib.h>
#include <libxlmig.h>
int main(void)
{
    struct policy_cpuid dom = { .vendor = POLICY_VENDOR_AMD };
    struct policy_cpuid host = dom;
    struct policy_check chk;
    char buf[NETCFG_ADDRSTRLEN], *sum;
    netcfg_addr a;

    if (!libxlmig_cpu_policy_fits(&dom, &host, &chk)) return 2;
    sum = libxlmig_cpu_check_summary(&chk);
    if (libxlmig_net_addr_parse("fd00::1", &a, NULL)) return 3;
    printf("%s %s %s %s\n", libxlmig_cpu_vendor_to_string(dom.vendor), sum,
           libxlmig_net_addr_str(&a, buf),
           libxlmig_net_class_str(NETCFG_CLASS_PRIVATE));
    free(sum);
    return 0;
}
C
run cc $san -o "$dest/prog2" "$dest/prog2.c" $flags
is 0 "$rc" "a program on the policy and network calls builds"
run env LD_LIBRARY_PATH="$dest/usr/local/lib" "$dest/prog2"
is "amd compatible fd00::1 private" "$out" "and runs"

run make -s -C "$MIG_ROOT" uninstall DESTDIR="$dest" prefix=/usr/local
[ -z "$(find "$dest/usr/local" -type f -o -type l)" ]
ok $? "make uninstall removes every installed file"

# Another prefix after the plain build: everything that names a path is
# rebuilt for it.
usr="$dest/usr-prefix"
run make -s -C "$MIG_ROOT" install DESTDIR="$usr" prefix=/usr
is 0 "$rc" "make install prefix=/usr after a plain make exits 0"
unit="$usr/usr/lib/systemd/system/xlmigd.service"
grep -q "^ExecStart=/usr/sbin/xlmigd " "$unit"
ok $? "the unit starts /usr/sbin/xlmigd"
grep -q "^Documentation=man:xlmigd(8)" "$unit"
ok $? "the unit's documentation is the man page xlmigd(8)"
so="$usr/usr/lib/libxlmig.so.0"
strings "$so" | grep -qx /usr/libexec/xlmig/xlmig-save-helper
ok $? "libxlmig looks for the save helper under /usr/libexec"
strings "$so" | grep -qx /usr/share/xlmig/baselines
ok $? "libxlmig looks for the baselines under /usr/share"
strings "$so" | grep -q /usr/local/
ok $((!$?)) "libxlmig names nothing under /usr/local"
[ -x "$usr/usr/libexec/xlmig/xlmig-save-helper" ] &&
    [ -e "$usr/usr/libexec/xlmig/xlmig-save-shim.so" ]
ok $? "the wrapper and the shim are installed under /usr/libexec/xlmig"
grep -q 'LD_PRELOAD="/usr/libexec/xlmig/xlmig-save-shim.so' \
    "$usr/usr/libexec/xlmig/xlmig-save-helper"
ok $? "the wrapper preloads the shim installed under /usr"
[ -e "$usr/usr/share/xlmig/baselines/Haswell.json" ]
ok $? "the baselines are installed under /usr/share/xlmig"
is "prefix=/usr" "$(head -1 "$usr/usr/lib/pkgconfig/libxlmig.pc")" \
    "libxlmig.pc has prefix /usr"

run make -s -C "$MIG_ROOT" install DESTDIR="$dest/norunpath" prefix=/usr \
    RUNPATH=0
is 0 "$rc" "make install RUNPATH=0 exits 0"
readelf -d "$dest/norunpath/usr/sbin/xlmig" \
    "$dest/norunpath/usr/sbin/xlmigd" | grep -qE '\((RUNPATH|RPATH)\)'
ok $((!$?)) "with RUNPATH=0 the installed programs have no run path"

run make -s -C "$MIG_ROOT" all ${built_prefix:+prefix=$built_prefix}
is 0 "$rc" "the tree builds back for its own prefix"
