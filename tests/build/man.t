#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-only
# The man pages (docs/NAME.N.md, made into docs/man/NAME.N by pandoc):
# each renders without a warning from groff, as man(1) and lintian run
# it, and has a NAME line that whatis understands; every command of the
# command table (`xlmig help`) has its subsection in xlmig(1), which
# names every option `xlmig help COMMAND` lists, and xlmig(1) documents
# no command the table lacks, nor misses a global option; xlmigd(8) names
# every option of `xlmigd --help` (an option is named when it is a term
# of a definition list of the page's section); the unit's Documentation=
# names these pages.  A command added to the table fails here until
# docs/xlmig.1.md has its "### COMMAND" subsection.
. "$(dirname "$0")/../tap/tap.sh"

man_dir=$MIG_ROOT/docs/man
pages=(xlmig.1 xlmigd.8 xlmig.cfg.5)
for p in "${pages[@]}"; do
    [ -s "$man_dir/$p" ] || bail "no $man_dir/$p (make docs)"
done
command -v man >/dev/null && command -v lexgrog >/dev/null ||
    bail "man-db is not installed (make deps)"

cmds=($("$XLMIG" help | sed -n '/^Commands:/,/^$/s/^  \([a-z][^ ]*\) .*/\1/p'))
[ ${#cmds[@]} -gt 0 ] || bail "no commands in xlmig help"

plan $((3 * ${#pages[@]} + 2 * ${#cmds[@]} + 4))

export LC_ALL=C.UTF-8 MANWIDTH=80
for p in "${pages[@]}"; do
    run man --warnings -E UTF-8 -l -Tutf8 -Z "$man_dir/$p"
    is 0 "$rc" "$p renders"
    is "" "$err" "$p renders without warnings"
    run lexgrog "$man_dir/$p"
    like ": \"${p%.*} - " "$out" "$p has a NAME line whatis reads"
done

# The roff source with the escapes that matter for matching undone.
plain() {
    sed -e 's/\\-/-/g' -e 's/\\f\[[A-Z]*\]//g' -e 's/\\f[BIRPV]//g' \
        -e 's/\\\[aq\]/'"'"'/g' "$man_dir/$1"
}
# The terms of the definition lists (.TP: options, variables, files) of
# PAGE's section (.SH) NAME, or of xlmig(1)'s subsection (.SS) NAME.
terms() { sed -n '/^\.TP$/{n;p}'; }
section() { plain "$1" | sed -n "/^\.SH $2\$/,/^\.SH /p" | terms; }
subsection() {
    plain xlmig.1 | sed -n "/^\.SS $1\$/,/^\.S[SH] /p" | sed '$d' | terms
}
# The options in help text: -x and --long words at the start of a line.
options() {
    sed -n 's/^ *\(-[A-Za-z0-9]\)\(, *\(--[a-z0-9-]*\)\)\{0,1\}.*/\1 \3/p;
            s/^ *\(--[a-z0-9-]*\).*/\1/p'
}
# Each word of $2 appears as an option in text $1; prints the missing.
missing() {
    local o
    for o in $2; do
        grep -qE -- "(^|[^A-Za-z0-9-])$o([^A-Za-z0-9-]|\$)" <<<"$1" ||
            printf '%s ' "$o"
    done
}

for c in "${cmds[@]}"; do
    plain xlmig.1 | grep -qx "\.SS $c"
    ok $? "xlmig(1) documents the command $c"
    text=$(subsection "$c")
    opts=$("$XLMIG" help "$c" | sed -n '/^Options:/,$p' | options)
    is "" "$(missing "$text" "$opts")" "xlmig(1) names every option of $c"
done

documented=$(plain xlmig.1 | sed -n '/^\.SH COMMANDS$/,/^\.SH /s/^\.SS //p')
extra=""
for d in $documented; do
    [[ " ${cmds[*]} " == *" $d "* ]] || extra="$extra $d"
done
is "" "$extra" "xlmig(1) documents no command the table lacks"

globals=$("$XLMIG" help | sed -n '/^Global options:/,/^$/p' | options)
is "" "$(missing "$(section xlmig.1 'GLOBAL OPTIONS')" "$globals")" \
    "xlmig(1) names every global option"

dopts=$("$MIG_ROOT/xlmig/xlmigd" --help | grep -oE -- '--?[A-Za-z][a-z-]*' |
        sort -u)
is "" "$(missing "$(section xlmigd.8 OPTIONS)" "$dopts")" \
    "xlmigd(8) names every option of xlmigd --help"

doc=$(sed -n 's/^Documentation=//p' "$MIG_ROOT/xlmig/xlmigd.service.in")
want=$(for p in "${pages[@]}"; do printf 'man:%s(%s) ' "${p%.*}" "${p##*.}"
       done)
is "$(tr ' ' '\n' <<<"$want" | sort | xargs)" \
    "$(tr ' ' '\n' <<<"$doc" | sort | xargs)" \
    "the unit's Documentation= names the man pages"
