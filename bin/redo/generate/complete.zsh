_redo() {
  local applet=${words[1]:t} cur=${words[CURRENT]} prev=${words[CURRENT-1]}
  local -a reply
  _redo_flags $applet
  (( $#reply )) || applet=redo
  _redo_valued $applet
  if (( CURRENT > 2 )) && [[ " $reply " == *" $prev "* ]]; then
    _redo_values $prev
    [[ -n $reply ]] && compadd -- ${=reply}
    return
  fi
  if [[ $cur == -* ]]; then
    _redo_flags $applet
    _describe -t options 'option' reply
    return
  fi
  _redo_operands $applet
  case $reply in
    '') ;;
    targets)
      local -a targets
      targets=(${(f)"$(command redo --complete-targets 2>/dev/null)"})
      compadd -- $targets
      ;;
    *) compadd -- ${=reply} ;;
  esac
}
