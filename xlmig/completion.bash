# SPDX-License-Identifier: GPL-2.0-only
# bash completion for xlmig and xl-migrate-cluster, installed as
# $(bashcompdir)/xlmig and, a link to it, xl-migrate-cluster.
#
# The commands and the options of each come from the program itself
# (`xlmig help`, `xlmig help COMMAND`), so they follow the command table;
# an option takes a value when its help line names one (`-d, --downtime
# MS`).  What the arguments are is known here: domain names from `xlmig
# list`, node names from the cluster config (-c, default
# /etc/xen/xlmig.cfg), CPU baselines from `xlmig cpuid baselines`, files.
# The -c and --backend given on the line are passed on; errors are
# silent.

# _xlmig_run ARGS...: the program with the line's -c and --backend.
_xlmig_run()
{
    "$_xlmig_prog" "${_xlmig_globals[@]}" "$@" 2>/dev/null </dev/null
}

# Options of the help text on stdin, one "NAME" or "NAME=" (takes a
# value) per line: the option words at the start of a help line, and a
# value when one upper-case word follows after a single space.
_xlmig_parse_options()
{
    sed -n -e 's/^ *\(-[A-Za-z0-9]\), \(--[a-z0-9-]*\) [A-Z][A-Z_]*\( .*\)\{0,1\}$/\1=\n\2=/p' \
        -e 't' \
        -e 's/^ *\(-[A-Za-z0-9]\), \(--[a-z0-9-]*\)\( .*\)\{0,1\}$/\1\n\2/p' \
        -e 't' \
        -e 's/^ *\(--\{0,1\}[A-Za-z0-9][a-z0-9-]*\) [A-Z][A-Z_]*\( .*\)\{0,1\}$/\1=/p' \
        -e 't' \
        -e 's/^ *\(--\{0,1\}[A-Za-z0-9][a-z0-9-]*\)\( .*\)\{0,1\}$/\1/p'
}

_xlmig_global_options()
{
    _xlmig_run help | sed -n '/^Global options:/,/^$/p' |
        _xlmig_parse_options
}

# _xlmig_command_options COMMAND
_xlmig_command_options()
{
    _xlmig_run help "$1" | sed -n '/^Options:/,$p' | _xlmig_parse_options
}

_xlmig_commands()
{
    _xlmig_run help | sed -n '/^Commands:/,/^$/s/^  \([a-z][^ ]*\) .*/\1/p'
}

_xlmig_domains()
{
    _xlmig_run list | awk 'NR > 1 && $1 != "Domain-0" { print $1 }'
}

_xlmig_nodes()
{
    local cfg=/etc/xen/xlmig.cfg i

    for ((i = 0; i < ${#_xlmig_globals[@]}; i++)); do
        case ${_xlmig_globals[i]} in
        -c|--config) cfg=${_xlmig_globals[i + 1]} ;;
        --config=*) cfg=${_xlmig_globals[i]#--config=} ;;
        esac
    done
    [ -r "$cfg" ] || return
    # The strings of the node list: the ones with a mgmt= item.
    sed 's/#.*//' "$cfg" | grep -o '"[^"]*mgmt=[^"]*"' |
        sed -n 's/^"\(.*,\)\{0,1\}[[:space:]]*name=\([^,"[:space:]]*\).*/\2/p'
}

_xlmig_baselines()
{
    _xlmig_run cpuid baselines | awk 'NR > 1 && $1 !~ /^\(/ { print $1 }'
}

# _xlmig_reply WORD...: the words that start with the current one.
_xlmig_reply()
{
    local IFS=$'\n'
    COMPREPLY=($(compgen -W "$*" -- "$_xlmig_cur"))
}

_xlmig_files()
{
    local IFS=$'\n'
    compopt -o filenames 2>/dev/null
    COMPREPLY=($(compgen -f -- "$_xlmig_cur"))
}

# _xlmig_value COMMAND OPTION: complete the value of OPTION.
_xlmig_value()
{
    case $2 in
    -c|--config|--report|-f|--host-policy|--policy)
        case $2 in
        --policy|--host-policy) _xlmig_reply host $(_xlmig_baselines) ;;
        esac
        local files=("${COMPREPLY[@]}")
        _xlmig_files
        COMPREPLY=("${files[@]}" "${COMPREPLY[@]}")
        ;;
    -b|--backend) _xlmig_reply xen sim ;;
    -L|--on-limit) _xlmig_reply abort force ;;
    --compression) _xlmig_reply auto off lz4 zstd ;;
    -B|--bandwidth)
        # A bare number is Mbit/s; these show the units.
        _xlmig_reply unlimited 100Mbit 1Gbit 10Gbit 100MiB
        ;;
    --baseline) _xlmig_reply $(_xlmig_baselines) ;;
    --from) _xlmig_reply $(_xlmig_nodes) ;;
    -n|--node)
        [ "$1" = net ] && _xlmig_reply $(_xlmig_nodes)
        ;;
    esac
}

# _xlmig_argument COMMAND N SUBCOMMAND: complete positional argument N
# (0 is the first after the command).
_xlmig_argument()
{
    local cmd=$1 n=$2 sub=$3

    case $cmd/$n in
    migrate-cluster/0|estimate/0|save/0|cancel/0|recover/0|destroy/0|\
    pause/0|unpause/0|list/0)
        _xlmig_reply $(_xlmig_domains) ;;
    migrate-cluster/1|estimate/1|drain/0|maintenance/1)
        _xlmig_reply $(_xlmig_nodes) ;;
    save/1|restore/0|keygen/0)
        _xlmig_files ;;
    help/0) _xlmig_reply $(_xlmig_commands) ;;
    maintenance/0) _xlmig_reply enter exit status ;;
    cpuid/0) _xlmig_reply show baselines check level set-compat ;;
    net/0) _xlmig_reply show check responder ;;
    sim/0) _xlmig_reply create verify ;;
    cpuid/*)
        case $sub/$n in
        show/1|check/1|set-compat/1) _xlmig_reply $(_xlmig_domains) ;;
        check/2) _xlmig_reply $(_xlmig_nodes) ;;
        set-compat/2) _xlmig_reply $(_xlmig_baselines) ;;
        level/*) _xlmig_files ;;
        esac ;;
    net/*) [ "$sub" = check ] && _xlmig_reply $(_xlmig_nodes) ;;
    sim/1) [ "$sub" = verify ] && _xlmig_reply $(_xlmig_domains) ;;
    esac
}

_xlmig()
{
    local prog=${COMP_WORDS[0]} cword=$COMP_CWORD
    local cmd="" sub="" opts="" w prev i n=0 o
    local -a words=("${COMP_WORDS[@]}")

    # --opt=value: bash splits it at '=' into three words.
    _xlmig_cur=${words[cword]}
    prev=${words[cword - 1]}
    if [ "$_xlmig_cur" = "=" ]; then
        _xlmig_cur="" prev=${words[cword - 1]}
    elif [ "$prev" = "=" ]; then
        prev=${words[cword - 2]}
    fi
    COMPREPLY=()

    # The program to ask: xlmig beside xl-migrate-cluster.
    _xlmig_prog=$prog
    [ "${prog##*/}" = xl-migrate-cluster ] &&
        _xlmig_prog=${prog%xl-migrate-cluster}xlmig
    [ "${prog##*/}" = xl-migrate-cluster ] && cmd=migrate-cluster
    _xlmig_globals=()

    # The global options before the command, keeping -c and --backend.
    opts=$(_xlmig_global_options)
    for ((i = 1; i < cword; i++)); do
        w=${words[i]}
        if [ "${words[i + 1]}" = "=" ]; then
            case $w in
            --config|--backend)
                _xlmig_globals+=("$w=${words[i + 2]}") ;;
            esac
            i=$((i + 2))
            continue
        fi
        case $w in
        --config=*|--backend=*)
            _xlmig_globals+=("$w")
            continue ;;
        -*)
            if grep -qx -- "$w=" <<<"$opts"; then
                case $w in
                -c|--config|-b|--backend)
                    _xlmig_globals+=("$w" "${words[i + 1]}") ;;
                esac
                i=$((i + 1))
            fi
            continue ;;
        esac
        [ -z "$cmd" ] && { cmd=$w; i=$((i + 1)); }
        break
    done

    if [ -z "$cmd" ]; then
        if grep -qx -- "$prev=" <<<"$opts"; then
            _xlmig_value "" "$prev"
        elif [[ $_xlmig_cur == -* ]]; then
            _xlmig_reply $(sed 's/=$//' <<<"$opts")
        else
            _xlmig_reply $(_xlmig_commands)
        fi
        return 0
    fi

    # The command's words: options (and their values) and positionals.
    opts=$(_xlmig_command_options "$cmd")
    [ "${prog##*/}" = xl-migrate-cluster ] &&
        opts=$(printf '%s\n%s\n' "$opts" "$(_xlmig_global_options)")
    for ((; i < cword; i++)); do
        w=${words[i]}
        [ "${words[i + 1]}" = "=" ] && { i=$((i + 2)); continue; }
        case $w in
        -*) grep -qx -- "$w=" <<<"$opts" && i=$((i + 1)); continue ;;
        esac
        [ $n -eq 0 ] && sub=$w
        n=$((n + 1))
    done

    if grep -qx -- "$prev=" <<<"$opts"; then
        _xlmig_value "$cmd" "$prev"
    elif [[ $_xlmig_cur == -* ]]; then
        _xlmig_reply $(sed 's/=$//' <<<"$opts")
    else
        _xlmig_argument "$cmd" "$n" "$sub"
    fi
    return 0
}

complete -F _xlmig xlmig xl-migrate-cluster
