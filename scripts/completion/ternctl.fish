# fish completion for ternctl (docs/ternd.md). Install it as
# PREFIX/share/fish/vendor_completions.d/ternctl.fish (make install does).
#
# What to offer is decided in one place, the bash completion (ternctl.bash,
# installed as PREFIX/share/bash-completion/completions/ternctl): this file
# hands it the command line and offers what it answers, so the verbs,
# options and names (asked of ternd) are the same in every shell.

function __ternctl_bash_completion
    set -l here (dirname (status filename))
    for script in $here/ternctl.bash $here/../../bash-completion/completions/ternctl
        if test -f $script
            echo $script
            return 0
        end
    end
    return 1
end

function __ternctl_complete
    set -l script (__ternctl_bash_completion); or return
    # The words before the cursor and the one at it, as bash would see them.
    set -l words (commandline -opc) (commandline -ct)
    bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
        _ternctl; printf "%s\n" "${COMPREPLY[@]}"' ternctl-completion $script $words 2>/dev/null
end

complete -c ternctl -f -a '(__ternctl_complete)'
