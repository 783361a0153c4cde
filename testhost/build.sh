#!/bin/bash
# Builds the nested test host of ENVIRONMENT.md section 2 from Debian
# packages: the cloud kernel, and a busybox initramfs whose /init loads KVM
# (kvm-amd on QEMU's emulated SVM) and virtio-fs, mounts the build machine's
# root through virtio-fs and runs one command there (see run.sh).
# Idempotent: the result is cached under build/cache/testhost and rebuilt
# only when this script or its init changes.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/paths.sh"
HERE="$TERN_ROOT/testhost"

"$TERN_ROOT/scripts/install-deps.sh"

stamp="$TESTHOST_CACHE/.stamp"
inputs_hash=$(cat "$HERE/build.sh" "$HERE/init.sh" | sha256sum | cut -c1-16)
if [[ -f "$stamp" && "$(cat "$stamp")" == "$inputs_hash" &&
	-f "$TESTHOST_KERNEL" && -f "$TESTHOST_INITRAMFS" ]]; then
	exit 0
fi

# --- the kernel package ----------------------------------------------------
# linux-image-cloud-amd64 is a metapackage; the kernel is its versioned
# dependency. apt-get download needs no root and installs nothing.
"$TERN_ROOT/testhost/fetch-kernel.sh"
version=$(ls "$KERNEL_ROOT/lib/modules")
moddir="$KERNEL_ROOT/lib/modules/$version"

# --- the initramfs -----------------------------------------------------------
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root="$work/root"
mkdir -p "$root"/{bin,dev,proc,sys,host,modules}
cp /bin/busybox "$root/bin/busybox"
for applet in sh mount umount insmod mkdir ln cat echo poweroff setsid cttyhack \
	chroot sleep mknod sync ip ifconfig; do
	ln -s busybox "$root/bin/$applet"
done

# Modules in load order: each after its dependencies, from modinfo.
# vhost_vsock: QEMU's vhost-vsock-pci in tests/diagnostics/guest_stalls.py.
# loop: unbound /dev/loopN nodes, the block devices the CLI suite's
# --allow-block-devices refusal is checked against.
# bridge, veth, nf_tables, nft_chain_nat, nft_masq: ternd's networks (a
# bridge, its NAT table, and a veth pair to a namespace standing for the
# outside world in tests/ternd/test_ternd_network.py).
wanted="kvm-amd virtiofs virtio_pci tun vhost_vsock loop bridge veth nf_tables
	nft_chain_nat nft_masq"
declare -A seen=()
order=()
add_module() {
	local name=${1//-/_} file dep
	[[ -n "${seen[$name]:-}" ]] && return
	seen[$name]=1
	file=$(find "$moddir/kernel" -name "$name.ko*" -o -name "${name//_/-}.ko*" | head -n1)
	if [[ -z "$file" ]]; then
		echo "testhost/build.sh: module $name not in kernel $version" >&2
		exit 1
	fi
	for dep in $(modinfo -F depends "$file" | tr ',' ' '); do
		add_module "$dep"
	done
	order+=("$file")
}
for m in $wanted; do add_module "$m"; done
: >"$root/modules/order"
for file in "${order[@]}"; do
	base=$(basename "$file")
	# busybox insmod reads plain ELF only: decompress here.
	case "$file" in
	*.ko.xz) xz -dc "$file" >"$root/modules/${base%.xz}" ;;
	*.ko.zst) zstd -qdc "$file" >"$root/modules/${base%.zst}" ;;
	*.ko.gz) gzip -dc "$file" >"$root/modules/${base%.gz}" ;;
	*) cp "$file" "$root/modules/$base" ;;
	esac
	echo "${base%.ko*}.ko" >>"$root/modules/order"
done

cp "$HERE/init.sh" "$root/init"
chmod +x "$root/init"

mkdir -p "$TESTHOST_CACHE"
(cd "$root" && find . | cpio -o -H newc --quiet) | gzip -1 >"$TESTHOST_INITRAMFS.tmp"
mv "$TESTHOST_INITRAMFS.tmp" "$TESTHOST_INITRAMFS"
cp "$KERNEL_ROOT/boot/vmlinuz-$version" "$TESTHOST_KERNEL"
echo "$inputs_hash" >"$stamp"
echo "testhost: built for kernel $version (${#order[@]} modules)" >&2
