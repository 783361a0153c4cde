# bash completion for ternctl (docs/ternd.md). Source it, or install it as
# PREFIX/share/bash-completion/completions/ternctl (make install does).
#
# Completes the verbs, each verb's options, and the names it takes: VMs
# from `ternctl list --all --name`, volumes from `ternctl vol-list --name`,
# networks from `ternctl net-list --name`, a VM's snapshots from
# `ternctl snapshot-list VM --name`,
# asked of the ternd the command line names with -c/--connect (else
# $TERND_SOCKET, else ternctl's default), a remote one (-c tls://HOST:PORT)
# with the line's --tls-cert, --tls-key and --tls-ca. Nothing is completed when ternd
# does not answer: ternctl's errors go to /dev/null, never to the prompt.

_ternctl_names()
{
	# $1: list, vol-list or net-list; the socket options from the line so far.
	ternctl "${_ternctl_connect[@]}" "$1" ${2:+"$2"} --name 2>/dev/null
}

_ternctl()
{
	local cur prev verb i word
	local verbs="define undefine start shutdown destroy list info console
		pause resume autostart vol-create vol-clone vol-resize vol-delete
		vol-list vol-info net-define net-undefine net-start net-destroy
		net-list net-info events metrics reboot setmem snapshot-create
		snapshot-list snapshot-info snapshot-revert snapshot-delete
		migrate"
	local -a operands=()
	_ternctl_connect=()

	COMPREPLY=()
	cur=${COMP_WORDS[COMP_CWORD]}
	prev=${COMP_WORDS[COMP_CWORD - 1]}

	# The verb, the operands before the cursor, and -c SOCKET.
	for ((i = 1; i < COMP_CWORD; i++)); do
		word=${COMP_WORDS[i]}
		case $word in
		-c | --connect)
			((i++))
			_ternctl_connect+=(-c "${COMP_WORDS[i]}")
			;;
		--connect=*)
			_ternctl_connect+=(-c "${word#--connect=}")
			;;
		--tls-cert | --tls-key | --tls-ca)
			((i++))
			_ternctl_connect+=("$word" "${COMP_WORDS[i]}")
			;;
		--tls-cert=* | --tls-key=* | --tls-ca=*)
			_ternctl_connect+=("$word")
			;;
		--bridge | --subnet | --kind | --mode | --scrollback | \
			--listen-address | --port | --timeout) ((i++)) ;;
		-*) ;;
		*)
			if [[ -z $verb ]]; then
				verb=$word
			else
				operands+=("$word")
			fi
			;;
		esac
	done

	case $prev in
	-c | --connect | --tls-cert | --tls-key | --tls-ca)
		compopt -o filenames 2>/dev/null
		COMPREPLY=($(compgen -f -- "$cur"))
		return
		;;
	--kind)
		COMPREPLY=($(compgen -W "managed bridge" -- "$cur"))
		return
		;;
	--bridge | --subnet | --scrollback | --listen-address | --port | \
		--timeout) return ;;
	esac

	if [[ -z $verb ]]; then
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "-c --connect --tls-cert --tls-key
				--tls-ca --json -h --help -V --version" -- "$cur"))
		else
			COMPREPLY=($(compgen -W "$verbs" -- "$cur"))
		fi
		return
	fi

	# "snapshot create ..." is "snapshot-create ...".
	if [[ $verb == snapshot ]]; then
		if ((${#operands[@]} == 0)); then
			[[ $cur != -* ]] && COMPREPLY=($(compgen -W "create list info
				revert delete" -- "$cur"))
			return
		fi
		verb=snapshot-${operands[0]}
		operands=("${operands[@]:1}")
	fi

	if [[ $prev == --mode ]]; then
		case $verb in
		shutdown) COMPREPLY=($(compgen -W "acpi ctrl-alt-del" -- "$cur")) ;;
		reboot) COMPREPLY=($(compgen -W "ctrl-alt-del reset" -- "$cur")) ;;
		esac
		return
	fi

	if [[ $cur == -* ]]; then
		local options="--help"
		case $verb in
		list) options+=" --all --name --json" ;;
		info | vol-info | vol-create | vol-clone) options+=" --json" ;;
		vol-resize) options+=" --shrink --json" ;;
		vol-list | net-list) options+=" --name --json" ;;
		net-info) options+=" --json" ;;
		net-define) options+=" --bridge --subnet --nat --dhcp --kind" ;;
		autostart) options+=" --disable" ;;
		console) options+=" --force --scrollback" ;;
		events) options+=" --follow --json" ;;
		shutdown) options+=" --mode" ;;
		reboot) options+=" --mode" ;;
		undefine) options+=" --snapshots-too" ;;
		snapshot-list) options+=" --name --json" ;;
		snapshot-info) options+=" --json" ;;
		migrate) options+=" --listen-address --port --timeout
			--undefine-source --tls-cert --tls-key --tls-ca" ;;
		esac
		COMPREPLY=($(compgen -W "$options" -- "$cur"))
		return
	fi

	# The operand at the cursor: its position after the verb.
	local n=${#operands[@]}
	case $verb in
	start | autostart)
		# Shut-off VMs are the ones to start; all are offered.
		((n == 0)) && COMPREPLY=($(compgen -W "$(_ternctl_names list --all)" -- "$cur"))
		;;
	shutdown | destroy | pause | resume | console | reboot | setmem)
		((n == 0)) && COMPREPLY=($(compgen -W "$(_ternctl_names list)" -- "$cur"))
		;;
	undefine | info)
		((n == 0)) && COMPREPLY=($(compgen -W "$(_ternctl_names list --all)" -- "$cur"))
		;;
	define)
		if ((n == 0)); then
			COMPREPLY=($(compgen -W "$(_ternctl_names list --all)" -- "$cur"))
		elif ((n == 1)); then
			compopt -o filenames 2>/dev/null
			COMPREPLY=($(compgen -f -- "$cur"))
		fi
		;;
	snapshot-create | snapshot-list)
		((n == 0)) && COMPREPLY=($(compgen -W "$(_ternctl_names list --all)" -- "$cur"))
		;;
	snapshot-info | snapshot-revert | snapshot-delete)
		if ((n == 0)); then
			COMPREPLY=($(compgen -W "$(_ternctl_names list --all)" -- "$cur"))
		elif ((n == 1)); then
			COMPREPLY=($(compgen -W "$(_ternctl_names snapshot-list "${operands[0]}")" -- "$cur"))
		fi
		;;
	migrate)
		# The running VMs, then the destination: a socket or tls://.
		if ((n == 0)); then
			COMPREPLY=($(compgen -W "$(_ternctl_names list)" -- "$cur"))
		elif ((n == 1)); then
			compopt -o filenames 2>/dev/null
			COMPREPLY=($(compgen -f -- "$cur"))
		fi
		;;
	vol-clone | vol-delete | vol-info)
		((n == 0)) && COMPREPLY=($(compgen -W "$(_ternctl_names vol-list)" -- "$cur"))
		;;
	net-undefine | net-start | net-destroy | net-info)
		((n == 0)) && COMPREPLY=($(compgen -W "$(_ternctl_names net-list)" -- "$cur"))
		;;
	vol-resize)
		if ((n == 0)); then
			COMPREPLY=($(compgen -W "$(_ternctl_names vol-list)" -- "$cur"))
		fi
		;;
	esac
}

complete -F _ternctl ternctl
