#!/bin/bash
# The test host kernel's own record of a guest's triple fault. On AMD, KVM
# re-initialises the vCPU before it tells the VMM about the shutdown, so
# tern's dump shows only the reset state; the test host's trace events still
# hold the guest's last exits (its RIP at each, the exception being
# delivered) and the events KVM injected. A trigger on the shutdown exit
# keeps a snapshot of the ring buffer as it was at that moment.
#
#   kvm-trace.sh start    before the test command (quietly does nothing
#                         where tracefs or the kvm events are missing)
#   kvm-trace.sh report STATUS   after it: when the command failed
#                         (STATUS not 0), the last events before the latest
#                         triple fault, if there was one (guests that reset
#                         that way on purpose, reboot=t, say nothing then)
# TESTHOST_KVM_TRACE=0 turns it off.
set -u
T=/sys/kernel/tracing
SVM_EXIT_SHUTDOWN=127

[[ ${TESTHOST_KVM_TRACE:-1} == 0 ]] && exit 0

start() {
	[[ -d $T/events ]] || mount -t tracefs tracefs "$T" 2>/dev/null || return 0
	[[ -d $T/events/kvm/kvm_exit ]] || return 0
	echo 0 >"$T/tracing_on"
	echo 2048 >"$T/buffer_size_kb"
	for event in kvm_exit kvm_inj_exception kvm_inj_virq kvm_page_fault; do
		[[ -e $T/events/kvm/$event/enable ]] && echo 1 >"$T/events/kvm/$event/enable"
	done
	# Allocate the snapshot buffer now (1 takes a snapshot, 2 empties it),
	# so that the trigger only swaps buffers.
	echo 1 >"$T/snapshot" && echo 2 >"$T/snapshot" || return 0
	echo "snapshot if exit_reason == $SVM_EXIT_SHUTDOWN" \
		>"$T/events/kvm/kvm_exit/trigger" 2>/dev/null || return 0
	echo 1 >"$T/tracing_on"
}

report() {
	[[ ${1:-1} != 0 && -r $T/snapshot ]] || return 0
	local events
	events=$(grep -v '^#' "$T/snapshot" 2>/dev/null | grep -v '^\s*$') || return 0
	grep -q 'reason shutdown' <<<"$events" || return 0
	echo "testhost: kvm trace up to the last triple fault (the test host's KVM:" \
		"each vCPU thread's exits with the guest's RIP, what KVM injected):"
	# Up to the shutdown exit, the last 60 events.
	awk '/reason shutdown/ { print; exit } { print }' <<<"$events" |
		tail -n 60 | sed 's/^/testhost:   /'
}

case ${1:-} in
start) start ;;
report) report "${2:-1}" ;;
*) echo "usage: kvm-trace.sh start|report STATUS" >&2; exit 2 ;;
esac
exit 0
