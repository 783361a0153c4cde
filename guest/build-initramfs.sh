#!/bin/bash
# Writes the guest initramfs: busybox with all its applets, guest/init.sh as
# /init, and the cloud kernel's virtio modules (decompressed, with
# modules.dep so busybox modprobe resolves dependencies).
# usage: guest/build-initramfs.sh OUTPUT.cpio.gz
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/paths.sh"
[[ $# -eq 1 ]] || { echo "usage: $0 OUTPUT.cpio.gz" >&2; exit 2; }
out=$1

version=$(ls "$KERNEL_ROOT/lib/modules")
src="$KERNEL_ROOT/lib/modules/$version"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root="$work/root"
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,tmp,root,etc}
cp /bin/busybox "$root/bin/busybox"
for applet in $(/bin/busybox --list-full); do
	[[ "$applet" == bin/busybox ]] && continue
	ln -sf /bin/busybox "$root/$applet"
done
# mke2fs from e2fsprogs (busybox's makes ext2 only) for the disk tests, with
# the shared libraries it links; it replaces busybox's applet link.
add_binary() {
	local bin=$1 lib
	rm -f "$root/sbin/$(basename "$bin")"
	cp "$bin" "$root/sbin/"
	for lib in $(ldd "$bin" | grep -o '/[^ ]*'); do
		mkdir -p "$root$(dirname "$lib")"
		cp -L "$lib" "$root$lib"
	done
}
add_binary /usr/sbin/mke2fs
ln -sf mke2fs "$root/sbin/mkfs.ext4"
cp /etc/mke2fs.conf "$root/etc/"
ln -sf /proc/mounts "$root/etc/mtab"
cp "$TERN_ROOT/guest/init.sh" "$root/init"
cc -static -O2 -Wall -Werror -o "$root/bin/tern-boot-marker" \
	"$TERN_ROOT/guest/tools/boot-marker.c"
cc -static -O2 -Wall -Werror -o "$root/bin/tern-vsock" \
	"$TERN_ROOT/guest/tools/vsock.c"
cc -static -O2 -Wall -Werror -o "$root/bin/tern-default-signals" \
	"$TERN_ROOT/guest/tools/default-signals.c"
chmod +x "$root/init"

# virtio devices the later issues give the guest (virtio_mem: memory
# hotplug), with their dependencies,
# and the ACPI power button's driver and evdev for tern.power=button.
wanted="virtio_pci virtio_mmio virtio_blk virtio_net virtio_console virtio_balloon
	virtio_rng vmw_vsock_virtio_transport virtio_pmem nd_pmem virtio_mem
	button evdev"
dst="$root/lib/modules/$version"
declare -A seen=()
add_module() {
	local name=${1//-/_} file rel dep
	[[ -n "${seen[$name]:-}" ]] && return
	seen[$name]=1
	file=$(find "$src/kernel" \( -name "$name.ko*" -o -name "${name//_/-}.ko*" \) | head -n1)
	[[ -n "$file" ]] || { echo "build-initramfs: no module $name" >&2; exit 1; }
	for dep in $(modinfo -F depends "$file" | tr ',' ' '); do
		add_module "$dep"
	done
	rel=${file#"$src/"}
	rel=${rel%.xz}
	rel=${rel%.zst}
	mkdir -p "$dst/$(dirname "$rel")"
	case "$file" in
	*.ko.xz) xz -dc "$file" >"$dst/$rel" ;;
	*.ko.zst) zstd -qdc "$file" >"$dst/$rel" ;;
	*) cp "$file" "$dst/$rel" ;;
	esac
}
for m in $wanted; do add_module "$m"; done
cp "$src"/modules.builtin* "$src"/modules.order "$dst/" 2>/dev/null || true
depmod -b "$root" "$version"

mkdir -p "$(dirname "$out")"
(cd "$root" && find . | cpio -o -H newc --quiet) | gzip -6 >"$out.tmp"
mv "$out.tmp" "$out"
