#!/bin/bash
# Unpacks the Debian cloud kernel package (vmlinuz and modules) into
# build/cache/kernel-root. Shared by the test host and the guest image.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/paths.sh"

if compgen -G "$KERNEL_ROOT/boot/vmlinuz-*" >/dev/null; then
	exit 0
fi
package=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null |
	sed -n 's/^ *Depends: \(linux-image-[0-9].*-cloud-amd64\)$/\1/p' | head -n1)
if [[ -z "$package" ]]; then
	apt-get update -qq
	package=$(apt-cache depends linux-image-cloud-amd64 |
		sed -n 's/^ *Depends: \(linux-image-[0-9].*-cloud-amd64\)$/\1/p' | head -n1)
fi
debs="$TERN_CACHE/debs"
mkdir -p "$debs"
if ! compgen -G "$debs/${package}_*.deb" >/dev/null; then
	(cd "$debs" && { apt-get download -qq -o APT::Sandbox::User=root "$package" ||
		{ apt-get update -qq && apt-get download -qq -o APT::Sandbox::User=root "$package"; }; })
fi
rm -rf "$KERNEL_ROOT.tmp"
dpkg -x "$(compgen -G "$debs/${package}_*.deb" | head -n1)" "$KERNEL_ROOT.tmp"
mv "$KERNEL_ROOT.tmp" "$KERNEL_ROOT"
