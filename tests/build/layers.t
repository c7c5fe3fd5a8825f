#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-only
# The layering of libxlmig (docs/architecture.md): check-layers passes on
# the tree as built, and fails, naming the file and the layers, on a copy
# with one deliberate upward include, a backend including the other, a
# Xen header outside backend/xen, and an object calling a layer above it.
. "$(dirname "$0")/../tap/tap.sh"

LIB=$MIG_ROOT/libxlmig
CHECK=$LIB/check-layers
tmp=$(mktemp -d)
tap_cleanup() { rm -rf "$tmp"; }

objs() { (cd "$1" && ls core/*.o net/*.o engine/*.o host/*.o \
          backend/*/*.o backend/*.o cluster/*.o daemon/*.o 2>/dev/null |
          grep -v xen_save_shim); }

[ -x "$CHECK" ] || bail "no $CHECK"
ls "$LIB"/core/*.o >/dev/null 2>&1 || bail "build libxlmig first (make)"
plan 12

# shellcheck disable=SC2046
run "$CHECK" "$LIB" $(objs "$LIB")
is 0 "$rc" "the tree as built keeps its layers (includes and calls)"
is "" "$out$err" "and says nothing"

# A copy of the sources to break, one way at a time.
copy() {
    rm -rf "$tmp/lib" && mkdir -p "$tmp/lib" &&
    (cd "$LIB" && find core net engine host backend cluster daemon \
        -name '*.[ch]' -exec cp --parents {} "$tmp/lib" \;)
}

copy
sed -i '0,/#include "core\/core.h"/s//#include "core\/core.h"\n#include "cluster\/migrate.h"/' \
    "$tmp/lib/core/gc.c"
run "$CHECK" "$tmp/lib"
is 1 "$rc" "an upward include fails the check"
like "core/gc.c" "$out" "and names the file"
like "core includes cluster/migrate.h of cluster, a layer above it" "$out" \
    "and the two layers"

copy
echo '#include "backend/sim/sim.h"' >>"$tmp/lib/backend/xen/xen_backend.c"
run "$CHECK" "$tmp/lib"
is 1 "$rc" "the Xen backend including the sim backend fails"
like "backends never include each other" "$out" "and says why"

copy
echo '#include <libxl.h>' >>"$tmp/lib/cluster/migrate.c"
run "$CHECK" "$tmp/lib"
is 1 "$rc" "libxl.h outside backend/xen fails"
like "cluster/migrate.c: includes a Xen toolstack header outside backend/xen" \
    "$out" "and names the file"

# Calls: an engine object that calls a function of the cluster layer.
mkdir -p "$tmp/obj/engine" "$tmp/obj/cluster"
printf 'int libxlmig__t_up(void);\nint libxlmig__t_e(void) { return libxlmig__t_up(); }\n' |
    cc -x c -c -o "$tmp/obj/engine/e.o" -
printf 'int libxlmig__t_up(void) { return 1; }\n' |
    cc -x c -c -o "$tmp/obj/cluster/c.o" -
run "$CHECK" "$tmp/obj" engine/e.o cluster/c.o
is 1 "$rc" "an object calling a layer above it fails"
like "engine/e.o calls libxlmig__t_up of cluster/c.o: engine calls up into cluster" \
    "$out" "and names both objects and the symbol"
printf 'int libxlmig__t_e(void);\nint libxlmig__t_up(void) { return libxlmig__t_e(); }\n' |
    cc -x c -c -o "$tmp/obj/cluster/c.o" -
run "$CHECK" "$tmp/obj" engine/e.o cluster/c.o
like "call each other" "$out" "two objects calling each other fail too"
