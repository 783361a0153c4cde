#!/bin/bash
# Builds the initramfs of the data-path benchmarks (bench/blk, bench/net):
# the test initramfs (guest/build.sh) with an extra cpio archive in front
# that carries fio and iperf3 from the build machine's Debian packages, with
# their shared libraries (ldd) and the dynamic loader. Linux unpacks
# concatenated archives one after the other into the same rootfs, so the test
# image itself stays small. The extra archive is not compressed: gunzip of
# some 80 MB (fio links librbd, glusterfs, ICU, ...) would take the emulated
# guest far longer than copying it.
# Cached under build/cache/guest; rebuilt when this script, the test
# initramfs or the fio/iperf3 binaries change. Prints nothing.
# usage: guest/build-bench-initramfs.sh
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/paths.sh"
[[ $# -eq 0 ]] || { echo "usage: $0" >&2; exit 2; }

"$TERN_ROOT/guest/build.sh" >/dev/null
tools="/usr/bin/fio /usr/bin/iperf3"
for tool in $tools; do
	[[ -x "$tool" ]] || {
		echo "build-bench-initramfs: no $tool (scripts/install-deps.sh)" >&2
		exit 1
	}
done

stamp="$GUEST_CACHE/.bench-stamp"
inputs_hash=$(cat "${BASH_SOURCE[0]}" "$GUEST_INITRAMFS" $tools | sha256sum | cut -c1-16)
if [[ -f "$stamp" && "$(cat "$stamp")" == "$inputs_hash" && -f "$GUEST_BENCH_INITRAMFS" ]]; then
	exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root="$work/root"
mkdir -p "$root/usr/bin"
for tool in $tools; do
	cp "$tool" "$root/usr/bin/"
	# ldd prints "name => /path (addr)" and the loader as "/path (addr)".
	for lib in $(ldd "$tool" | grep -o '/[^ ]*'); do
		[[ -e "$root$lib" ]] && continue
		mkdir -p "$root$(dirname "$lib")"
		cp -L "$lib" "$root$lib"
	done
done
# Drop symbols from the copies: a smaller image to load into every guest.
find "$root" -type f -name '*.so*' -exec strip --strip-unneeded {} + 2>/dev/null || true

(cd "$root" && find . -mindepth 1 | cpio -o -H newc --quiet) >"$work/bench.cpio"
cat "$work/bench.cpio" "$GUEST_INITRAMFS" >"$GUEST_BENCH_INITRAMFS.tmp"
mv "$GUEST_BENCH_INITRAMFS.tmp" "$GUEST_BENCH_INITRAMFS"
echo "$inputs_hash" >"$stamp"
