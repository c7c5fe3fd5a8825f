#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-only
# The Xen backend's save-helper shim and wrapper are built for the Xen
# release of the libraries the build links, and refuse any other: the
# shim exports xc_domain_save at the symbol version libxenguest.so has
# here; the wrapper runs that release's libxl-save-helper and refuses,
# naming both, when it is missing; the shim, preloaded into a program
# whose libxenguest lacks that version, refuses the save (-1, ENOSYS)
# with a message naming the version it was built for and the library it
# found, and says so in the progress file xlmigd reads.
. "$(dirname "$0")/../tap/tap.sh"

shim=$MIG_ROOT/libxlmig/xlmig-save-shim.so
helper=$MIG_ROOT/libxlmig/xlmig-save-helper
for f in "$shim" "$helper"; do
    [ -e "$f" ] || skip_all "${f#"$MIG_ROOT"/} is not built (run make)"
done
for t in readelf pkg-config "${CC:-cc}"; do
    command -v "$t" >/dev/null || skip_all "no $t"
done
libdir=$(pkg-config --variable=libdir xenguest) ||
    skip_all "no xenguest.pc (libxen-dev)"
rel=$(pkg-config --modversion xenguest | cut -d. -f1,2)

plan 9

tmp=$(mktemp -d)
tap_cleanup() { rm -rf "$tmp"; }

# 1-2. The symbol version: libxenguest's, on the shim's only export.
want=$(readelf --dyn-syms -W "$libdir/libxenguest.so" |
       sed -n 's/.* xc_domain_save@@\?\([^ ]*\).*/\1/p' | head -n1)
ok "$([ -n "$want" ]; echo $?)" "libxenguest.so exports a versioned xc_domain_save ($want)"
got=$(readelf --dyn-syms -W "$shim" |
      awk '$5 == "GLOBAL" && $7 != "UND" && $7 != "ABS" { print $8 }')
is "xc_domain_save@@$want" "$got" \
    "the shim exports xc_domain_save alone, at libxenguest's version"

# 3-5. The wrapper: this release's helper, refused when missing.
like "/usr/lib/xen-$rel/bin/libxl-save-helper" "$(cat "$helper")" \
    "the wrapper runs Xen $rel's libxl-save-helper"
XLMIG_REAL_SAVE_HELPER=$tmp/none run "$helper" --save-domain 1 2 3
ok "$([ "$rc" -ne 0 ]; echo $?)" "the wrapper fails without the helper (rc $rc)"
like "built for Xen $rel, but $tmp/none is missing" "$err" \
    "... and says which Xen it was built for and what is missing"

# 6-9. The shim before a libxenguest without that version: a stub at
# VERS_9.9.0.  The caller is linked against an unversioned build of it,
# so that its reference binds the preloaded shim first (a versioned
# reference would skip it; glibc's dlvsym would take an unversioned
# definition for any version).
cat >"$tmp/stub.c" <<'EOS'
int xc_domain_save(void *xch, int fd, unsigned dom, unsigned flags,
                   void *cb, int type, int recv_fd);
int xc_domain_save(void *xch, int fd, unsigned dom, unsigned flags,
                   void *cb, int type, int recv_fd) { return 42; }
EOS
cat >"$tmp/caller.c" <<'EOS'
#include <errno.h>
#include <stdio.h>
int xc_domain_save(void *xch, int fd, unsigned dom, unsigned flags,
                   void *cb, int type, int recv_fd);
int main(void)
{
    char cb[256] = { 0 };
    int r = xc_domain_save(0, -1, 7, 0, cb, 0, -1);
    printf("rc=%d errno=%d\n", r, r < 0 ? errno : 0);
    return 0;
}
EOS
printf 'VERS_9.9.0 { global: xc_domain_save; local: *; };\n' >"$tmp/stub.map"
mkdir "$tmp/link"
${CC:-cc} -shared -fPIC -o "$tmp/link/libxenguest.so.99" \
    -Wl,-soname,libxenguest.so.99 "$tmp/stub.c" &&
    ${CC:-cc} -shared -fPIC -o "$tmp/libxenguest.so.99" \
        -Wl,-soname,libxenguest.so.99 -Wl,--version-script="$tmp/stub.map" \
        "$tmp/stub.c" &&
    ${CC:-cc} -o "$tmp/caller" "$tmp/caller.c" \
        "$tmp/link/libxenguest.so.99" -Wl,-rpath,"$tmp" ||
    bail "cannot build the stub libxenguest"
run "$tmp/caller"
is "rc=42 errno=0" "$out" "without the shim the stub's xc_domain_save runs"
mkdir "$tmp/precopy"
printf 'downtime_limit_ms=300\n' >"$tmp/precopy/7.params"
XLMIG_PRECOPY_DIR=$tmp/precopy LD_PRELOAD=$shim run "$tmp/caller"
is "rc=-1 errno=38" "$out" \
    "the shim refuses the save: -1, ENOSYS"
like "built for Xen $rel (libxenguest $want), but $tmp/libxenguest.so.99 has no xc_domain_save@$want: refusing the save" \
    "$err" "... naming the Xen it was built for and the library found"
like "refused built_for=$rel running=" "$(cat "$tmp/precopy/7.progress" 2>&1)" \
    "... and reports the refusal in the progress file"
