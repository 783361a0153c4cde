#!/bin/bash
# Builds the guest the tests and benchmarks boot: the stock Debian cloud
# kernel (shared with the test host), its vmlinux ELF for PVH boot, a
# busybox initramfs (see init.sh), cached under build/cache/guest and
# rebuilt when these scripts change; and Debian's generic kernel of the same
# release (testhost/fetch-generic-kernel.sh, with its own stamp).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/paths.sh"
HERE="$TERN_ROOT/guest"

"$TERN_ROOT/testhost/build.sh"
# For the guest test of tern's MP table (GUEST_MPPARSE_BZIMAGE).
"$TERN_ROOT/testhost/fetch-generic-kernel.sh"

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
