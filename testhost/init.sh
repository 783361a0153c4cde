#!/bin/sh
# /init of the test host (busybox sh). Loads KVM and virtio-fs, mounts the
# build machine's file system at /host, and runs there the script named by
# tern.script= on the kernel command line (written by run.sh, which also
# collects its exit status). Then powers off: QEMU runs with -no-reboot.
export PATH=/bin

say() { echo "testhost: $*"; }

mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev

while read -r module; do
	insmod "/modules/$module" 2>/dev/null || say "insmod $module failed"
done </modules/order

script=
for arg in $(cat /proc/cmdline); do
	case "$arg" in
	tern.script=*) script="${arg#tern.script=}" ;;
	esac
done

if ! mount -t virtiofs hostfs /host; then
	say "cannot mount the build machine's file system (virtio-fs)"
	poweroff -f
fi
mount -t proc proc /host/proc
mount -t sysfs sys /host/sys
# The jailer's cgroups (the sandbox suite runs here on machines without
# /dev/kvm), in the hybrid layout of the build machines, so that both
# --cgroup-version 1 and 2 are tested: v1 pids and cpuset hierarchies, the
# unified (v2) one beside them.
cgroups=/host/sys/fs/cgroup
mount -t tmpfs -o mode=755 cgroup "$cgroups" &&
	mkdir "$cgroups/pids" "$cgroups/cpuset" "$cgroups/unified" &&
	mount -t cgroup -o pids cgroup "$cgroups/pids" &&
	mount -t cgroup -o cpuset cgroup "$cgroups/cpuset" &&
	mount -t cgroup2 cgroup2 "$cgroups/unified" || say "cannot mount the cgroup hierarchies"
mount -t devtmpfs dev /host/dev
mkdir -p /host/dev/pts /host/dev/shm
mount -t devpts -o newinstance,ptmxmode=0666 devpts /host/dev/pts
ln -sf pts/ptmx /host/dev/ptmx 2>/dev/null
mount -t tmpfs shm /host/dev/shm
# devtmpfs is the test host's own, so these links touch nothing outside.
ln -sf /proc/self/fd /host/dev/fd
ln -sf /proc/self/fd/0 /host/dev/stdin
ln -sf /proc/self/fd/1 /host/dev/stdout
ln -sf /proc/self/fd/2 /host/dev/stderr
# Loopback up, as on any machine: tests (migration over 127.0.0.1) use it.
ip link set lo up 2>/dev/null || ifconfig lo 127.0.0.1 up || say "cannot bring up lo"
[ -e /dev/kvm ] || say "no /dev/kvm: kvm-amd did not load (is SVM emulated?)"

if [ -n "$script" ]; then
	# cttyhack gives the command the console as its controlling terminal,
	# so an interactive program (tern --serial stdio) can use it.
	setsid cttyhack chroot /host /bin/bash "$script"
else
	say "no tern.script= on the command line; nothing to run"
fi
sync
poweroff -f
