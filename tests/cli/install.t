#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-only
# `make install DESTDIR=...` installs the binaries, both libraries, the
# header and libxlmig.pc, and a program builds against that tree through
# pkg-config, linked both ways.
. "$(dirname "$0")/../tap/tap.sh"

plan 15

dest=$(mktemp -d)
tap_cleanup() { rm -rf "$dest"; }

run make -s -C "$MIG_ROOT" install DESTDIR="$dest" prefix=/usr/local
is 0 "$rc" "make install DESTDIR exits 0"
for f in sbin/xlmig sbin/xl-migrate-cluster sbin/xlmigd lib/libxlmig.a \
         lib/libxlmig.so.0 include/libxlmig.h lib/pkgconfig/libxlmig.pc \
         lib/systemd/system/xlmigd.service; do
    [ -e "$dest/usr/local/$f" ]; ok $? "installed $f"
done

grep -q "^ExecStart=/usr/local/sbin/xlmigd " \
    "$dest/usr/local/lib/systemd/system/xlmigd.service"
ok $? "the unit starts the installed xlmigd"
soname=$(objdump -p "$dest/usr/local/lib/libxlmig.so" | awk '/SONAME/ {print $2}')
is "libxlmig.so.0" "$soname" "shared library has its soname"

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
run make -s -C "$MIG_ROOT" uninstall DESTDIR="$dest" prefix=/usr/local
[ -z "$(find "$dest/usr/local" -type f -o -type l)" ]
ok $? "make uninstall removes every installed file"
