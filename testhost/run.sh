#!/bin/bash
# Runs one command inside the nested SVM test host (ENVIRONMENT.md section
# 2): a QEMU-TCG virtual machine with emulated AMD-V in which /dev/kvm is
# real KVM, and which sees this machine's whole file system through
# virtio-fs. The command runs as root in the same working directory, its
# output streams to stdout, and run.sh exits with its status.
#
# usage: testhost/run.sh [--timeout SECS] [--cpus N] [--memory MIB] -- CMD [ARG...]
#
# Exit status: the command's own; 124 when --timeout expired; 125 when the
# test host itself died without reporting a status (a QEMU crash, a panic),
# so callers can tell a broken test host from a failing test.
# Environment: TESTHOST_PASS_ENV="NAME ..." copies those variables into the
# command's environment; TESTHOST_SINGLE_THREAD=1 uses single-threaded TCG,
# slower but clear of a known QEMU 7.2 multi-threaded TCG assertion;
# TESTHOST_EMULATOR=backports|system picks the emulator: QEMU 10.0 from
# bookworm-backports (unpacked by fetch-qemu-backports.sh; the default) or
# the system's QEMU 7.2 (README.md, "The test host's emulator", says why);
# TESTHOST_KVM_TRACE=0 turns off the test host's kvm trace events, which
# otherwise record every guest's exits so that a triple fault's last events
# are printed after the command (testhost/kvm-trace.sh); TESTHOST_LOCK names
# the lock file that lets one test host run at a time (default
# /tmp/tern-testhost.lock).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/paths.sh"

timeout_secs=3600
cpus=2
memory_mib=6144
usage() {
	sed -n 's/^# usage: //p' "${BASH_SOURCE[0]}" >&2
	exit 2
}
while [[ $# -gt 0 ]]; do
	case "$1" in
	--timeout) timeout_secs=$2; shift 2 ;;
	--cpus) cpus=$2; shift 2 ;;
	--memory) memory_mib=$2; shift 2 ;;
	--) shift; break ;;
	*) usage ;;
	esac
done
[[ $# -gt 0 ]] || usage

# One test host at a time on this machine: two emulated hosts on two cores
# slow each other into time-outs and stalls that are no test's fault. A
# second caller (a developer's run beside CI's, a demo) waits and says so.
# The lock goes with this shell; virtiofsd is started without it.
# TESTHOST_LOCK_HELD=1: the caller holds it (tests/run, whose time limits
# start once it does).
lock=${TESTHOST_LOCK:-/tmp/tern-testhost.lock}
lock_fd=
if [[ "${TESTHOST_LOCK_HELD:-}" != 1 ]]; then
	exec {lock_fd}>>"$lock"
	if ! flock -n "$lock_fd"; then
		echo "testhost: waiting for the test host run that holds $lock" >&2
		flock "$lock_fd"
	fi
fi

"$TERN_ROOT/testhost/build.sh"

work=$(mktemp -d /tmp/tern-testhost.XXXXXX)
virtiofsd_pid=
cleanup() {
	[[ -n "$virtiofsd_pid" ]] && kill "$virtiofsd_pid" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

# The script the test host's init runs: same directory, chosen environment,
# and the status written where this side can read it back.
{
	echo '#!/bin/bash'
	echo 'export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
	echo 'export HOME=/root TERM=${TERM:-linux} LANG=C.UTF-8 TERN_IN_TESTHOST=1'
	for name in ${TESTHOST_PASS_ENV:-}; do
		[[ -n "${!name+set}" ]] && printf 'export %s=%q\n' "$name" "${!name}"
	done
	printf 'cd %q || exit 1\n' "$PWD"
	# A hang report a minute before the time limit (hang-report.sh).
	report_after=$((timeout_secs > 120 ? timeout_secs - 60 : timeout_secs))
	printf '(sleep %d; bash %q %d) >&2 &\n' "$report_after" \
		"$TERN_ROOT/testhost/hang-report.sh" "$report_after"
	printf 'export TESTHOST_KVM_TRACE=%q\n' "${TESTHOST_KVM_TRACE:-1}"
	printf 'bash %q start\n' "$TERN_ROOT/testhost/kvm-trace.sh"
	printf '%q ' "$@"
	echo
	echo 'status=$?'
	printf 'bash %q report "$status" >&2\n' "$TERN_ROOT/testhost/kvm-trace.sh"
	printf 'echo $status >%q\n' "$work/status"
} >"$work/cmd.sh"

/usr/lib/qemu/virtiofsd --socket-path="$work/vfs.sock" -o source=/ \
	-o cache=always -o sandbox=chroot >"$work/virtiofsd.log" 2>&1 &
virtiofsd_pid=$!
for _ in $(seq 100); do
	[[ -S "$work/vfs.sock" ]] && break
	sleep 0.1
done
if [[ ! -S "$work/vfs.sock" ]]; then
	echo "testhost: virtiofsd did not start:" >&2
	cat "$work/virtiofsd.log" >&2
	exit 125
fi

qemu=(qemu-system-x86_64)
case "${TESTHOST_EMULATOR:-backports}" in
system) ;;
backports)
	# Without Debian's registry (or with the package gone from it) the
	# tests still run, on 7.2, and say so.
	if binary=$("$TERN_ROOT/testhost/fetch-qemu-backports.sh"); then
		qemu=("$binary" -L "${binary%/bin/*}/share/qemu" -L /usr/share/qemu)
	else
		echo "testhost: QEMU 10.0 from bookworm-backports is not available;" \
			"using the system's $(qemu-system-x86_64 --version | head -n1)" >&2
	fi
	;;
*)
	echo "testhost: TESTHOST_EMULATOR=$TESTHOST_EMULATOR: expected system or backports" >&2
	exit 2
	;;
esac
accel=tcg
[[ "${TESTHOST_SINGLE_THREAD:-0}" == 1 ]] && accel=tcg,thread=single
run_qemu() {
	timeout "${foreground[@]}" -k 10 "$timeout_secs" "${qemu[@]}" \
		-accel "$accel" -cpu EPYC,+svm,+npt -smp "$cpus" -m "$memory_mib" \
		-nographic -no-reboot -nodefaults "${console[@]}" \
		-object "memory-backend-memfd,id=mem,size=${memory_mib}M,share=on" \
		-numa node,memdev=mem \
		-chardev "socket,id=vfs,path=$work/vfs.sock" \
		-device vhost-user-fs-pci,chardev=vfs,tag=hostfs \
		-kernel "$TESTHOST_KERNEL" -initrd "$TESTHOST_INITRAMFS" \
		-append "console=ttyS0 panic=-1 quiet loglevel=3 tern.script=$work/cmd.sh" \
		<"$stdin" 2> >(grep -v -e "TCG doesn't support requested feature" \
			-e "fw_cfg item names should be prefixed" >&2)
}

set +e
if [[ -t 0 ]]; then
	# At a terminal (scripts/demo) the console is the person's: every byte
	# both ways, at once. timeout puts its child in a background process
	# group, where QEMU's first read of the terminal stops it with SIGTTIN:
	# --foreground keeps it in the terminal's group. The output goes to the
	# terminal unfiltered (a line filter would hold back a shell prompt,
	# which ends without a newline, and echo of typed characters until
	# Enter); SeaBIOS's serial console, which would reset the terminal and
	# turn off its line wrap, is off (sercon-port 0). QEMU's monitor is not
	# multiplexed in and the terminal's signal keys are not QEMU's, so
	# Ctrl-C reaches the guest and Ctrl-A x reaches tern's console.
	stdin=/dev/stdin
	foreground=(--foreground)
	printf '\0\0' >"$work/sercon-port"
	console=(-chardev stdio,id=console,signal=off -serial chardev:console
		-fw_cfg "name=etc/sercon-port,file=$work/sercon-port")
	run_qemu
	qemu_status=$?
else
	stdin=/dev/null
	foreground=()
	console=(-serial mon:stdio)
	run_qemu |
		sed -u -e 's/\r$//' -e 's/\x1bc//g; s/\x1b\[[?0-9;]*[a-zA-Z]//g' \
			-e '/^SeaBIOS (version/d; s/^Booting from ROM\.*//' \
			-e '/^\[ *[0-9.]*\] reboot: Power down$/d; /^$/d'
	qemu_status=${PIPESTATUS[0]}
fi
set -e

if [[ $qemu_status -eq 124 ]]; then
	echo "testhost: timed out after ${timeout_secs}s" >&2
	exit 124
fi
if [[ ! -s "$work/status" ]]; then
	echo "testhost: the test host died without reporting an exit status" \
		"(qemu exit $qemu_status)" >&2
	exit 125
fi
exit "$(cat "$work/status")"
