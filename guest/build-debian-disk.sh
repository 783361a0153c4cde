#!/bin/bash
# Builds the Debian 12 system of guest/build-debian.sh as a PC disk, the way
# an installer leaves one: an MBR partition table whose one partition (from
# 1 MiB) holds the same ext4 root file system, with GRUB for BIOS (Debian's
# grub-pc-bin) in the MBR and in the gap before the partition. tern boots it
# with --firmware /usr/share/seabios/bios.bin --disk path=disk.img, as
# `qemu-system-x86_64 -drive file=disk.img` does. GRUB talks to the serial
# console (its menu, then Linux with console=ttyS0). Cached as
# build/cache/debian/disk.img, rebuilt when this script or the root file
# system image changes; a few seconds on top of build-debian.sh.
#
# No loop devices, mounts or grub-install (which wants a block device):
# debugfs edits the file system image (fstab naming /dev/vda1, GRUB's
# grub.cfg), grub-mkimage makes core.img with every module the boot needs
# built in, and the two boot pieces are written where grub-install writes
# them: boot.img in the MBR's first 440 bytes (the disk signature and the
# partition table after them stay), core.img from sector 1, its first
# sector (diskboot.img) listing the sectors of the rest.
#
# usage: guest/build-debian-disk.sh     (prints nothing when the cache is current)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/paths.sh"

"$TERN_ROOT/guest/build-debian.sh"
inputs_hash=$( (sha256sum <"${BASH_SOURCE[0]}"; cat "$DEBIAN_CACHE/.stamp") |
	sha256sum | cut -c1-16)
stamp="$DEBIAN_CACHE/.disk-stamp"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$inputs_hash" && -f "$DEBIAN_DISK" ]]; then
	exit 0
fi
"$TERN_ROOT/scripts/install-deps.sh"

grub_dir=/usr/lib/grub/i386-pc
work=$(mktemp -d /tmp/tern-debian-disk.XXXXXX)
trap 'rm -rf "$work"' EXIT
fs="$work/root.ext4"
cp --sparse=always "$DEBIAN_IMAGE" "$fs"

# The kernel and initramfs by their versioned names (GRUB reads them from
# the file system; Debian's /vmlinuz links are not relied on).
kernel=$(debugfs -R "ls -p /boot" "$fs" 2>/dev/null | tr '/' '\n' | grep -m1 '^vmlinuz-')
initrd=$(debugfs -R "ls -p /boot" "$fs" 2>/dev/null | tr '/' '\n' | grep -m1 '^initrd.img-')
if [[ -z "$kernel" || -z "$initrd" ]]; then
	echo "guest/build-debian-disk.sh: no kernel or initramfs under /boot of $DEBIAN_IMAGE" >&2
	exit 1
fi

echo '/dev/vda1 / ext4 rw,errors=remount-ro 0 1' >"$work/fstab"
# Debian's GRUB entry, on the serial console: what update-grub writes on a
# machine whose only terminal is ttyS0 (GRUB_TERMINAL=serial), less the
# search by UUID (one disk, one partition).
cat >"$work/grub.cfg" <<CFG
serial --unit=0 --speed=115200
terminal_input serial
terminal_output serial
set timeout=1
set default=0
menuentry 'Debian GNU/Linux' {
	set root=(hd0,msdos1)
	echo 'Loading Linux $kernel ...'
	linux /boot/$kernel root=/dev/vda1 ro quiet console=ttyS0
	echo 'Loading initial ramdisk ...'
	initrd /boot/$initrd
}
CFG
debugfs -w "$fs" >/dev/null 2>&1 <<CMDS
rm /etc/fstab
write $work/fstab /etc/fstab
mkdir /boot/grub
write $work/grub.cfg /boot/grub/grub.cfg
CMDS
debugfs -R "cat /boot/grub/grub.cfg" "$fs" 2>/dev/null | grep -q "$kernel" || {
	echo "guest/build-debian-disk.sh: debugfs did not write grub.cfg" >&2
	exit 1
}

# GRUB's core: everything for reading the partition and booting Linux built
# in, so /boot/grub needs nothing but grub.cfg.
grub-mkimage -O i386-pc -o "$work/core.img" -p '(hd0,msdos1)/boot/grub' \
	biosdisk part_msdos ext2 normal configfile linux serial terminal echo test
core_sectors=$((($(stat -c %s "$work/core.img") + 511) / 512))
first_sector=2048
if ((core_sectors + 1 > first_sector)); then
	echo "guest/build-debian-disk.sh: core.img ($core_sectors sectors) does not fit before the partition" >&2
	exit 1
fi
# diskboot.img's block list (its last 12 bytes: start LBA, sector count,
# load segment): the rest of core.img follows it, from sector 2.
printf "$(printf '\\x%02x\\x%02x' $(((core_sectors - 1) & 255)) $(((core_sectors - 1) >> 8)))" |
	dd of="$work/core.img" bs=1 seek=$((0x1fc)) conv=notrunc status=none

fs_bytes=$(stat -c %s "$fs")
disk="$DEBIAN_DISK.tmp"
rm -f "$disk"
truncate -s $((first_sector * 512 + fs_bytes)) "$disk"
sfdisk --quiet "$disk" <<TABLE
label: dos
label-id: 0x7465726e
start=$first_sector, type=83, bootable
TABLE
dd if="$grub_dir/boot.img" of="$disk" bs=440 count=1 conv=notrunc status=none
dd if="$work/core.img" of="$disk" bs=512 seek=1 conv=notrunc status=none
dd if="$fs" of="$disk" bs=1M seek=$((first_sector * 512 / 1048576)) conv=notrunc,sparse status=none
mv "$disk" "$DEBIAN_DISK"
echo "$inputs_hash" >"$stamp"
echo "guest/build-debian-disk.sh: $(basename "$DEBIAN_DISK"), GRUB core $core_sectors sectors, $kernel" >&2
