function __redo_targets --description 'targets redo can build here'
    command redo --complete-targets 2>/dev/null
end
