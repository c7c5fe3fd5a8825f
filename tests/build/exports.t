#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-only
# xlmig and xlmigd use libxlmig's public interface alone: both programs,
# as built in the tree and as linked for `make install` (xlmig/inst/),
# need libxlmig.so.0 and find it through their run path; every function
# of the library they call is one libxlmig.so exports; none of the
# library is linked into them.  The library exports libxlmig_* functions
# only, exactly those its installed headers declare, and the CLI's
# sources include no header of the library's insides.
. "$(dirname "$0")/../tap/tap.sh"

so=$MIG_ROOT/libxlmig/libxlmig.so
ar=$MIG_ROOT/libxlmig/libxlmig.a
bins="xlmig/xlmig xlmig/xlmigd xlmig/inst/xlmig xlmig/inst/xlmigd"
for f in "$so" "$ar" $bins; do
    f=${f#"$MIG_ROOT"/}
    [ -e "$MIG_ROOT/$f" ] || skip_all "$f is not built (run make)"
done
for t in nm readelf ldd "${CC:-cc}"; do
    command -v "$t" >/dev/null || skip_all "no $t"
done

plan 22

tmp=$(mktemp -d)
tap_cleanup() { rm -rf "$tmp"; }
# none FILE DESCRIPTION WHAT: passes if FILE is empty, else shows it.
none() {
    [ ! -s "$1" ]
    ok $? "$2"
    [ ! -s "$1" ] || diag "$3" "$(head -20 "$1")"
}

# Functions libxlmig.so exports (compiler-made names left out).
nm -D --defined-only "$so" | awk '$2 == "T" && $3 !~ /^_/ { print $3 }' |
    sort -u >"$tmp/exported"
# The library's names: every global libxlmig.a defines, exported or not,
# and any name with its prefixes that the programs look for.
{ nm -g --defined-only "$ar" 2>/dev/null | awk 'NF == 3 { print $3 }'
  nm -D --undefined-only "$MIG_ROOT"/xlmig/xlmig \
      "$MIG_ROOT"/xlmig/xlmigd | awk '{ sub(/@.*/, "", $2); print $2 }' |
      grep -E '^(libxlmig_|policy_|netcfg_)'
} | sort -u >"$tmp/library"

# The run path each program must carry: the tree's own library beside
# them, the installed libdir for the install copies (the Makefile's
# stamp records which).
inst_runpath=$(cat "$MIG_ROOT/xlmig/inst/runpath.stamp")
for b in $bins; do
    case $b in
    */inst/*) want=$inst_runpath ;;
    *) want='$ORIGIN/../libxlmig' ;;
    esac
    readelf -d "$MIG_ROOT/$b" >"$tmp/dyn"
    grep -q '(NEEDED).*\[libxlmig\.so\.0\]' "$tmp/dyn"
    ok $? "$b is linked against libxlmig.so.0"
    runpath=$(sed -n 's/.*(RUNPATH).*\[\(.*\)\]/\1/p' "$tmp/dyn")
    is "$want" "$runpath" "$b finds it through its RUNPATH"

    nm -D --undefined-only "$MIG_ROOT/$b" |
        awk '{ sub(/@.*/, "", $2); print $2 }' | sort -u >"$tmp/undef"
    comm -12 "$tmp/undef" "$tmp/library" >"$tmp/calls"
    comm -23 "$tmp/calls" "$tmp/exported" >"$tmp/hidden"
    [ -s "$tmp/calls" ] || echo "(no call of libxlmig at all)" >"$tmp/hidden"
    none "$tmp/hidden" "$b calls libxlmig's exported functions only" \
        "not exported:"

    nm --defined-only "$MIG_ROOT/$b" | awk 'NF == 3 { print $3 }' |
        sort -u | comm -12 - "$tmp/library" >"$tmp/copied"
    none "$tmp/copied" "$b holds no copy of the library" "linked in:"
done

# The tree's programs load the tree's library, whatever is installed.
for b in xlmig/xlmig xlmig/xlmigd; do
    got=$(env -u LD_LIBRARY_PATH ldd "$MIG_ROOT/$b" |
          sed -n 's/.*libxlmig\.so\.0 => \([^ ]*\) .*/\1/p')
    is "$(realpath "$so")" "$(realpath -q "$got")" \
        "$b loads libxlmig/libxlmig.so.0 of the tree"
done

grep -v '^libxlmig_[a-z0-9]' "$tmp/exported" >"$tmp/odd"
none "$tmp/odd" "libxlmig.so exports libxlmig_* functions only" "exported:"

# Functions the installed headers declare: names before '(' once the
# comments are gone.
for h in "$MIG_ROOT"/libxlmig/include/*.h; do
    "${CC:-cc}" -E -fpreprocessed -P -x c "$h" 2>/dev/null
done | tr '\n' ' ' | grep -oE '\blibxlmig_[a-z0-9_]+[[:space:]]*\(' |
    tr -d ' \t(' | sort -u >"$tmp/declared"
comm -23 "$tmp/declared" "$tmp/exported" >"$tmp/missing"
[ -s "$tmp/declared" ] || echo "(no declaration found)" >"$tmp/missing"
none "$tmp/missing" "every function the headers declare is exported" \
    "declared, not exported:"
comm -13 "$tmp/declared" "$tmp/exported" >"$tmp/undeclared"
none "$tmp/undeclared" "every exported function is declared in the headers" \
    "exported, undeclared:"

# Quoted includes of the CLI: its own headers and the public ones only.
grep -h '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' \
    "$MIG_ROOT"/xlmig/*.[ch] | sed 's/.*"\(.*\)".*/\1/' | sort -u |
    grep -vE '^(xlmig\.h|opsutil\.h|libxlmig(_[a-z]+)?\.h)$' >"$tmp/inc"
none "$tmp/inc" "the CLI includes only its own and libxlmig's public headers" \
    "includes:"
