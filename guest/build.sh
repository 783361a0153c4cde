#!/bin/bash
# Builds the guest the tests and benchmarks boot: the stock Debian cloud
# kernel (shared with the test host), its vmlinux ELF for PVH boot, and a
# busybox initramfs (see init.sh). Cached under build/cache/guest; rebuilt
# when these scripts change.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/paths.sh"
HERE="$TERN_ROOT/guest"

"$TERN_ROOT/testhost/build.sh"

stamp="$GUEST_CACHE/.stamp"
inputs_hash=$(cat "$HERE"/*.sh "$HERE"/tools/* | sha256sum | cut -c1-16)
if [[ -f "$stamp" && "$(cat "$stamp")" == "$inputs_hash" &&
	-f "$GUEST_VMLINUX" && -f "$GUEST_INITRAMFS" ]]; then
	exit 0
fi
mkdir -p "$GUEST_CACHE"
"$HERE/extract-vmlinux.sh" "$GUEST_BZIMAGE" "$GUEST_VMLINUX"
"$HERE/build-initramfs.sh" "$GUEST_INITRAMFS"
echo "$inputs_hash" >"$stamp"
