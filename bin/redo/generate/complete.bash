_redo() {
    local cur=${COMP_WORDS[COMP_CWORD]} prev= reply
    (( COMP_CWORD > 0 )) && prev=${COMP_WORDS[COMP_CWORD-1]}
    # `--flag=value`: bash splits at the `=`.
    if [[ $cur == = ]]; then
        cur=
    elif [[ $prev == = ]] && (( COMP_CWORD > 1 )); then
        prev=${COMP_WORDS[COMP_CWORD-2]}
    fi
    local applet=${COMP_WORDS[0]##*/}
    _redo_flags "$applet"
    [[ -n $reply ]] || applet=redo
    COMPREPLY=()
    _redo_valued "$applet"
    if [[ -n $prev && " $reply " == *" $prev "* ]]; then
        _redo_values "$prev"
        [[ -n $reply ]] && COMPREPLY=($(compgen -W "$reply" -- "$cur"))
        return 0
    fi
    if [[ $cur == -* ]]; then
        _redo_flags "$applet"
        COMPREPLY=($(compgen -W "$reply" -- "$cur"))
        return 0
    fi
    _redo_operands "$applet"
    case $reply in
    "") ;;
    targets)
        local IFS=$'\n'
        COMPREPLY=($(compgen -W "$(command redo --complete-targets 2>/dev/null)" -- "$cur"))
        ;;
    *) COMPREPLY=($(compgen -W "$reply" -- "$cur")) ;;
    esac
    return 0
}
