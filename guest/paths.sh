# Sourced: the guest kernel and initramfs the tests and benchmarks boot.
source "$(dirname "${BASH_SOURCE[0]}")/../testhost/paths.sh"
GUEST_CACHE="$TERN_CACHE/guest"
# The stock Debian cloud kernel, unmodified: its bzImage, and the vmlinux ELF
# inside it for the PVH boot path.
GUEST_BZIMAGE="$TESTHOST_KERNEL"
GUEST_VMLINUX="$GUEST_CACHE/vmlinux"
GUEST_INITRAMFS="$GUEST_CACHE/initramfs.cpio.gz"
# Debian's generic kernel of the cloud kernel's release, built with
# CONFIG_X86_MPPARSE (testhost/fetch-generic-kernel.sh): its bzImage only.
GUEST_MPPARSE_BZIMAGE="$TERN_CACHE/generic-kernel/vmlinuz"
# The test initramfs plus fio and iperf3, for bench/blk and bench/net.
GUEST_BENCH_INITRAMFS="$GUEST_CACHE/bench-initramfs.cpio"
# The Debian 12 system of guest/build-debian.sh: a raw ext4 root disk and the
# distribution's own kernel and initramfs from it.
DEBIAN_CACHE="$TERN_CACHE/debian"
DEBIAN_IMAGE="$DEBIAN_CACHE/rootfs.ext4"
DEBIAN_KERNEL="$DEBIAN_CACHE/vmlinuz"
DEBIAN_INITRD="$DEBIAN_CACHE/initrd.img"
# The same system as a PC disk with an MBR partition table and GRUB
# (guest/build-debian-disk.sh), booted by --firmware.
DEBIAN_DISK="$DEBIAN_CACHE/disk.img"
