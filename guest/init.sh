#!/bin/sh
# /init of the guest image the tests boot under tern (busybox sh).
# Signals the boot marker, prints TERN-GUEST-READY, then acts on tern.mode=
# from the kernel command line:
#   reboot    reboot at once (boot-time benchmark)
#   poweroff  power off at once
#   demo      print what the guest sees, then a shell
#   demo-once print what the guest sees, then reboot (no terminal to type in)
#   dhcp      bring up eth0 by DHCP (busybox udhcpc), print
#             "TERN-DHCP <address>", then ping each address of tern.ping=A,B
#             and print "TERN-PING <address> ok|failed"; then idle (no
#             console to type in: ternd's VMs)
#   (none)    a shell on the console, prompt "# "; reboot when it exits
# tern.modules=A,B loads those modules first (the guest loads none by
# itself: tests choose), and tern.power=button makes the ACPI power button power the guest off, as
# a distribution's acpid or logind does (busybox acpid; off by default, so
# tests that press the button see only the interrupt arrive).
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
ping_list=
power=
modules=
for arg in $(cat /proc/cmdline); do
	case "$arg" in
	tern.mode=*) mode="${arg#tern.mode=}" ;;
	tern.ping=*) ping_list="${arg#tern.ping=}" ;;
	tern.power=*) power="${arg#tern.power=}" ;;
	tern.modules=*) modules="${arg#tern.modules=}" ;;
	esac
done

for module in $(echo "$modules" | tr ',' ' '); do
	modprobe "$module" || echo "tern guest: modprobe $module failed"
done

# busybox acpid reads the button's key from /dev/input/event* (the button
# driver reports through evdev) and runs /etc/acpi/PWRF/00000080 for it.
if [ "$power" = button ]; then
	modprobe button
	modprobe evdev
	mkdir -p /etc/acpi/PWRF
	cat >/etc/acpi/PWRF/00000080 <<'SCRIPT'
#!/bin/sh
echo "tern guest: power button: powering off" >/dev/console
poweroff -f
SCRIPT
	chmod +x /etc/acpi/PWRF/00000080
	acpid -c /etc/acpi -l /tmp/acpid.log
fi

# udhcpc's script: sets what the server offered on the interface.
dhcp_script() {
	cat >/tmp/udhcpc.sh <<'SCRIPT'
#!/bin/sh
case "$1" in
bound | renew)
	ip addr flush dev "$interface"
	ip addr add "$ip/${mask:-24}" dev "$interface"
	[ -n "$router" ] && ip route add default via "${router%% *}" dev "$interface"
	echo "TERN-DHCP $ip"
	;;
esac
SCRIPT
	chmod +x /tmp/udhcpc.sh
}

dhcp_mode() {
	modprobe virtio_pci 2>/dev/null
	modprobe virtio_net
	ip link set lo up
	ip link set eth0 up
	dhcp_script
	udhcpc -i eth0 -s /tmp/udhcpc.sh -q -f -n -t 30 -T 2 -x hostname:tern-guest ||
		echo "TERN-DHCP failed"
	for address in $(echo "$ping_list" | tr ',' ' '); do
		if ping -c 3 -W 5 "$address" >/dev/null 2>&1; then
			echo "TERN-PING $address ok"
		else
			echo "TERN-PING $address failed"
		fi
	done
	while :; do sleep 3600; done
}

echo TERN-GUEST-READY
case "$mode" in
reboot) reboot -f ;;
dhcp) dhcp_mode ;;
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
