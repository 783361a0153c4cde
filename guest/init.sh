#!/bin/sh
# /init of the guest image the tests boot under tern (busybox sh).
# Signals the boot marker, prints TERN-GUEST-READY, then acts on tern.mode=
# from the kernel command line:
#   reboot    reboot at once (boot-time benchmark)
#   poweroff  power off at once
#   demo      print what the guest sees, then a shell
#   demo-once print what the guest sees, then reboot (no terminal to type in)
#   (none)    a shell on the console, prompt "# "; reboot when it exits
# The virtio modules of the kernel are in /lib/modules, not loaded: tests
# load what they need with modprobe.
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /dev/pts /dev/shm /tmp
mount -t devpts devpts /dev/pts
hostname tern-guest

# Boot-time marker: byte 123 to I/O port 0x3f0; see README.
tern-boot-marker

mode=
for arg in $(cat /proc/cmdline); do
	case "$arg" in
	tern.mode=*) mode="${arg#tern.mode=}" ;;
	esac
done

echo TERN-GUEST-READY
case "$mode" in
reboot) reboot -f ;;
poweroff) poweroff -f ;;
demo | demo-once)
	echo "tern guest: $(uname -sr), $(nproc) CPU(s)," \
		"$(sed -n 's/MemTotal: *//p' /proc/meminfo) of memory"
	[ "$mode" = demo-once ] && reboot -f
	echo "Type 'reboot' to leave (or Ctrl-A x in tern's console)."
	;;
esac

# busybox's reboot, poweroff and halt without -f ask init to do it by a
# signal (TERM, USR2, USR1); this script is init, so it does what they ask.
# halt powers off: a halted guest would leave its VMM running for ever.
trap 'reboot -f' TERM
trap 'poweroff -f' USR1 USR2

export PS1='# '
while :; do
	# In the background and waited for: a shell running in the foreground
	# would hold the traps above until it exits. cttyhack reopens the
	# console as the shell's terminal, whatever stdin it was given, and
	# tern-default-signals gives it back the Ctrl-C and Ctrl-\ that sh
	# takes from background commands.
	tern-default-signals setsid cttyhack sh &
	wait $!
	echo "tern guest: shell exited; rebooting"
	reboot -f
	sleep 5
done
