#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-only
# Every repository path the tree names resolves inside the tree, and
# nothing points to the design page that lived outside it: check-docrefs
# passes on the tree, and fails, naming the file, the line and the path,
# on a copy of the tree with one bad reference planted at a time.
#
# The rule (tests/build/check-docrefs has it in full): every source file
# that is not a build product or test data is read, binary files aside.
# A reference is a word that starts with a top-level folder of the tree
# and a slash (docs/..., libxlmig/..., tests/..., tools/...); in files
# under libxlmig/ also one that starts with a folder of libxlmig/ (core/,
# host/, ...), resolved against libxlmig/; and the target of a Markdown
# link, resolved against the .md file's folder.  URLs and words that
# continue another path, a variable or a template (/run/xlmig/...,
# $dir/..., <net/if.h>, xen/tools/...) are not references.  A reference
# resolves when the path exists, or the build makes it from a source
# beside it (X.o, X.t, X from X.c; X from X.in; a word of the folder's
# Makefile, also one it completes with a variable); a glob must match
# something, a placeholder (<name>, NAME) needs only the folder before
# it.  Any mention of the old design page's
# file name fails.
#
# The planted texts below spell their paths through variables ($L for
# the library's folder, $S for tests, ...) so that this file itself
# names nothing that does not exist.
. "$(dirname "$0")/../tap/tap.sh"

CHECK=$MIG_ROOT/tests/build/check-docrefs
L=libxlmig D=docs T=tools S=tests P=DESIGN p=design
tmp=$(mktemp -d)
tap_cleanup() { rm -rf "$tmp"; }

[ -x "$CHECK" ] || bail "no $CHECK"

# The number of the line appended to the tree's FILE.
after() { echo $(($(wc -l <"$MIG_ROOT/$1") + 1)); }

# Planted references: FILE (in the copy; a new file, or one of the tree
# that gets the text as its last line), the text (one line), the exit
# status wanted, and what the output must name ("" for nothing at all).
cases=(
    "README.md"      "Only \`$L/backend_xen.c\` includes libxl headers." 1
        "README.md:$(after README.md): $L/backend_xen.c: no such file"
    "$D/protocol.md" "one host ($P.md, invariant 1)" 1
        "$D/protocol.md:$(after $D/protocol.md): names the design page"
    "$L/cluster/node.c" "/* the channel of cluster/peer.h */" 1
        "node.c:$(after $L/cluster/node.c): cluster/peer.h ($L/cluster/peer.h)"
    "$D/planted.md"  "See \`$L/cluster/gone.c\` for it." 1
        "$D/planted.md:1: $L/cluster/gone.c: no such file or folder"
    "$D/planted.md"  "the old $L/backend_xen.c, now split" 1
        "$L/backend_xen.c: no such file"
    "$L/core/planted.c" "/* as host/gone.h says */" 1
        "$L/core/planted.c:1: host/gone.h ($L/host/gone.h): no such file"
    "$D/planted.md"  "Read $P.md first." 1
        "$D/planted.md:1: names the design page outside the tree"
    "$T/planted.sh"  "# see ../$p.md" 1
        "$T/planted.sh:1: names the design page outside the tree"
    "$D/planted.md"  "[the protocol](gone.md)" 1
        "$D/planted.md:1: link gone.md: no such file"
    "$D/planted.md"  "every $T/*.nothing" 1
        "$T/*.nothing: no such file"
    "$D/planted.md"  "$L/cluster/handoff.{h,x}" 1
        "($L/cluster/handoff.x): no such file"
    "$T/planted.sh"  "\"\$MIG_ROOT/$T/gone\" run" 1
        "$T/planted.sh:1: $T/gone: no such file"
    "$D/planted.md"  "$S/build/gone.t" 1
        "$S/build/gone.t: no such file"
    "$D/planted.md"  "https://example.org/$D/gone.md and /run/xlmig/gone" 0 ""
    "$D/planted.md"  "xen/tools/libs/light/gone.c" 0 ""
    "$L/core/planted.c" "#include <net/gone.h>" 0 ""
    "$D/planted.md"  "$L/<layer>/<name>.c and policy/baselines/NAME.json" 0 ""
    "$D/planted.md"  "$L/*/*.c" 0 ""
    "$D/planted.md"  "$L/libxlmig.a, $L/core/ctx.o, tests/unit/handoff.t" 0 ""
    "$D/planted.md"  "$L/libxlmig.so.0 and $L/xlmig-save-helper" 0 ""
    "$D/planted.md"  "$L/cluster/handoff.{h,c}, see $D/protocol.md." 0 ""
    "$D/planted.md"  "[the handoff](protocol.md#the-handoff)" 0 ""
    "$D/planted.md"  "core/gone.c (relative to the library: not read here)" 0 ""
    "$T/.gitignore"  "$T/gone" 0 ""
)
nbad=0
for ((i = 0; i < ${#cases[@]}; i += 4)); do
    [ "${cases[i + 2]}" = 1 ] && nbad=$((nbad + 1))
done
plan $((3 + nbad * 2 + ${#cases[@]} / 4 - nbad))

run "$CHECK"
is 0 "$rc" "the tree's references all resolve"
is "" "$out$err" "and the check says nothing"

# A copy of the tree's sources, outside git: the check then reads every
# file of it.
mkdir "$tmp/tree"
if git -C "$MIG_ROOT" rev-parse --show-toplevel >/dev/null 2>&1; then
    (cd "$MIG_ROOT" && git ls-files -z --cached --others --exclude-standard |
        xargs -0 sh -c 'for f; do [ -f "$f" ] && printf "%s\0" "$f"; done' - |
        tar --null -T - -cf -) | tar -xf - -C "$tmp/tree"
else
    (cd "$MIG_ROOT" && tar --exclude=.git -cf - .) | tar -xf - -C "$tmp/tree"
fi
run "$CHECK" "$tmp/tree"
is 0 "$rc" "a copy of the tree outside git passes too"

for ((i = 0; i < ${#cases[@]}; i += 4)); do
    f=${cases[i]} text=${cases[i + 1]} want=${cases[i + 2]}
    what=${cases[i + 3]}
    mkdir -p "$tmp/tree/$(dirname "$f")"
    if [ -f "$tmp/tree/$f" ]; then
        cp "$tmp/tree/$f" "$tmp/saved"
        printf '%s\n' "$text" >>"$tmp/tree/$f"
        run "$CHECK" "$tmp/tree"
        mv "$tmp/saved" "$tmp/tree/$f"
    else
        printf '%s\n' "$text" >"$tmp/tree/$f"
        run "$CHECK" "$tmp/tree"
        rm -f "$tmp/tree/$f"
    fi
    if [ "$want" = 1 ]; then
        is 1 "$rc" "fails on \"$text\" in $f"
        like "$what" "$out" "and names it"
    else
        is "0 " "$rc $out" "passes with \"$text\" in $f"
    fi
done
