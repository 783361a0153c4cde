#!/bin/bash
# Builds the Debian 12 (bookworm) system the distribution guest test and
# bench/boot boot under tern: a raw ext4 root disk image made with mmdebstrap
# from deb.debian.org (variant minbase plus systemd, udev, dbus, hwclock and
# the cloud kernel with its initramfs), and that kernel and initramfs copied
# out beside it for --kernel/--initrd. Cached under build/cache/debian and
# rebuilt only when this script changes.
#
# The image is a test system, not a product: root has no password and the
# serial console logs root in by itself (a getty override), so a test reaches
# a shell on ttyS0 without typing a password.
#
# usage: guest/build-debian.sh     (prints nothing when the cache is current)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/paths.sh"

inputs_hash=$(sha256sum <"${BASH_SOURCE[0]}" | cut -c1-16)
stamp="$DEBIAN_CACHE/.stamp"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$inputs_hash" && -f "$DEBIAN_IMAGE" &&
	-f "$DEBIAN_KERNEL" && -f "$DEBIAN_INITRD" ]]; then
	exit 0
fi
"$TERN_ROOT/scripts/install-deps.sh"

mirror=http://deb.debian.org/debian
packages=(
	systemd systemd-sysv udev dbus # init, devices, timedated/logind's bus
	linux-image-cloud-amd64 initramfs-tools zstd # the kernel and its initramfs
	util-linux-extra # hwclock
	e2fsprogs        # fsck of the root file system at boot
)

work=$(mktemp -d /tmp/tern-debian.XXXXXX)
trap 'rm -rf "$work"' EXIT
root="$work/root"

# The customisation, run in the finished tree ($1) before it is packed.
customize=$(
	cat <<'EOF'
set -e
echo tern-debian >"$1/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 tern-debian\n' >"$1/etc/hosts"
echo '/dev/vda / ext4 rw,errors=remount-ro 0 1' >"$1/etc/fstab"
chroot "$1" passwd -d root >/dev/null
# A machine ID of its own, so the first boot is not a "first boot" that
# asks systemd-firstboot's questions on the console.
rm -f "$1/etc/machine-id"
chroot "$1" systemd-machine-id-setup >/dev/null
# The serial console logs root in: the tests' way to a shell.
mkdir -p "$1/etc/systemd/system/serial-getty@ttyS0.service.d"
cat >"$1/etc/systemd/system/serial-getty@ttyS0.service.d/autologin.conf" <<'UNIT'
[Service]
ExecStart=
ExecStart=-/sbin/agetty --autologin root --noclear --keep-baud 115200,57600,38400,9600 %I $TERM
UNIT
# bench/boot's boot (tern.bench on the kernel command line): the boot time
# on the console once startup has finished, then power off.
cat >"$1/etc/systemd/system/tern-bench.service" <<'UNIT'
[Unit]
Description=Report the boot time on the console and power off (bench/boot)
ConditionKernelCommandLine=tern.bench

[Service]
Type=exec
StandardOutput=journal+console
ExecStart=/bin/sh -c 'systemctl is-system-running --wait >/dev/null; systemd-analyze time; systemctl poweroff'

[Install]
WantedBy=multi-user.target
UNIT
chroot "$1" systemctl enable tern-bench.service 2>/dev/null
# The package caches and lists are not needed in a test image.
rm -rf "$1"/var/cache/apt/*.bin "$1"/var/lib/apt/lists/*
EOF
)

echo "guest/build-debian.sh: building the Debian 12 image (mmdebstrap, $mirror)" >&2
mmdebstrap --mode=root --variant=minbase --quiet \
	--include="$(
		IFS=,
		echo "${packages[*]}"
	)" \
	--dpkgopt='path-exclude=/usr/share/man/*' \
	--dpkgopt='path-exclude=/usr/share/doc/*' \
	--dpkgopt='path-include=/usr/share/doc/*/copyright' \
	--dpkgopt='path-exclude=/usr/share/locale/*' \
	--dpkgopt='path-exclude=/usr/share/info/*' \
	--customize-hook="$customize" \
	bookworm "$root" "$mirror"

mkdir -p "$DEBIAN_CACHE"
kernel=$(compgen -G "$root/boot/vmlinuz-*" | head -n1)
initrd=$(compgen -G "$root/boot/initrd.img-*" | head -n1)
if [[ -z "$kernel" || -z "$initrd" ]]; then
	echo "guest/build-debian.sh: no kernel or initramfs under /boot of the image" >&2
	exit 1
fi
cp "$kernel" "$DEBIAN_KERNEL.tmp"
cp "$initrd" "$DEBIAN_INITRD.tmp"
# The file system: the tree's size plus room for the journal, logs and the
# tests' writes; sparse, so the unused part costs nothing on disk.
used_mib=$(du -sm "$root" | cut -f1)
size_mib=$((used_mib + used_mib / 2 + 128))
rm -f "$DEBIAN_IMAGE.tmp"
mke2fs -q -t ext4 -L debian-root -d "$root" "$DEBIAN_IMAGE.tmp" "${size_mib}M"
mv "$DEBIAN_KERNEL.tmp" "$DEBIAN_KERNEL"
mv "$DEBIAN_INITRD.tmp" "$DEBIAN_INITRD"
mv "$DEBIAN_IMAGE.tmp" "$DEBIAN_IMAGE"
echo "$inputs_hash" >"$stamp"
echo "guest/build-debian.sh: $(basename "$kernel"), ${size_mib} MiB image" >&2
