#!/bin/bash
# Unpacks the bzImage of Debian's generic kernel (linux-image-VERSION-amd64)
# into build/cache/generic-kernel/vmlinuz: the same kernel release as the
# cached cloud kernel, but built with CONFIG_X86_MPPARSE, so an acpi=off
# guest finds its vCPUs and IOAPIC in tern's MP table
# (tests/guest/test_boot.py). Only the bzImage is kept: the guest boots the
# test initramfs, whose modules are the cloud kernel's and are not loaded.
# Idempotent; redone when the cloud kernel's release changes.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/paths.sh"

# The cloud kernel's release names the generic one: 6.1.0-57-cloud-amd64
# -> linux-image-6.1.0-57-amd64.
"$TERN_ROOT/testhost/fetch-kernel.sh"
release=$(ls "$KERNEL_ROOT/lib/modules")
package="linux-image-${release%-cloud-amd64}-amd64"
if [[ "$package" == "linux-image-$release" ]]; then
	echo "fetch-generic-kernel: cloud kernel release $release not *-cloud-amd64" >&2
	exit 1
fi

dir="$TERN_CACHE/generic-kernel"
stamp="$dir/.stamp"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$package" && -f "$dir/vmlinuz" ]]; then
	exit 0
fi
mkdir -p "$dir"
# Same package version as the cloud kernel's where the archive still has
# it (both come from one source upload); else what apt offers for that
# release name (same ABI, and only its bzImage is used).
cloud_deb=$(compgen -G "$TERN_CACHE/debs/linux-image-${release}_*.deb" | head -n1 || true)
version=
if [[ -n "$cloud_deb" ]]; then
	version=$(dpkg-deb -f "$cloud_deb" Version)
fi
download() {
	if [[ -n "$version" ]] &&
		apt-get download -qq -o APT::Sandbox::User=root "$package=$version" 2>/dev/null; then
		return 0
	fi
	apt-get download -qq -o APT::Sandbox::User=root "$package"
}
if ! compgen -G "$dir/${package}_*.deb" >/dev/null; then
	(cd "$dir" && { download || { apt-get update -qq && download; }; })
fi
deb=$(compgen -G "$dir/${package}_*.deb" | head -n1)
# The package's data archive holds ./boot/vmlinuz-RELEASE; nothing else is
# unpacked (its modules unpack to 390 MiB).
dpkg-deb --fsys-tarfile "$deb" |
	tar -xO "./boot/vmlinuz-${package#linux-image-}" >"$dir/vmlinuz.tmp"
if [[ ! -s "$dir/vmlinuz.tmp" ]]; then
	echo "fetch-generic-kernel: no boot/vmlinuz-${package#linux-image-} in $deb" >&2
	rm -f "$dir/vmlinuz.tmp"
	exit 1
fi
mv "$dir/vmlinuz.tmp" "$dir/vmlinuz"
echo "$package" >"$stamp"
echo "fetch-generic-kernel: $dir/vmlinuz from $(basename "$deb")" >&2
