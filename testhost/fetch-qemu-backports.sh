#!/bin/bash
# Unpacks Debian's QEMU from bookworm-backports (10.0) into
# build/cache/qemu-backports, beside the system's QEMU 7.2, without
# installing it and without touching the machine's apt configuration: the
# backports suite is read through a private source list and package lists
# under build/cache. Prints the path of the unpacked qemu-system-x86_64.
# Why the test host uses it: README.md, "The test host's emulator".
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/paths.sh"

root="$TERN_CACHE/qemu-backports"
binary="$root/usr/bin/qemu-system-x86_64"
if [[ -x "$binary" ]]; then
	echo "$binary"
	exit 0
fi

apt_dir="$TERN_CACHE/apt-backports"
mkdir -p "$apt_dir/lists/partial" "$apt_dir/archives/partial" "$TERN_CACHE/debs"
echo "deb http://deb.debian.org/debian bookworm-backports main" >"$apt_dir/sources.list"
apt_options=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o "Dir::Etc::SourceParts=-"
	-o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache::Archives=$apt_dir/archives"
	-o APT::Sandbox::User=root -qq)
apt-get "${apt_options[@]}" update >&2
packages=(qemu-system-x86/bookworm-backports qemu-system-common/bookworm-backports
	qemu-system-data/bookworm-backports)
(cd "$TERN_CACHE/debs" && apt-get "${apt_options[@]}" download "${packages[@]}" >&2)

rm -rf "$root.tmp"
for deb in "$TERN_CACHE"/debs/qemu-system-{x86,common,data}_1%3a10.*.deb; do
	dpkg -x "$deb" "$root.tmp"
done
mv "$root.tmp" "$root"
# It links against the system's libraries: say so now rather than at the
# first test-host boot.
if ldd "$binary" | grep -q "not found"; then
	echo "fetch-qemu-backports: $binary lacks libraries:" >&2
	ldd "$binary" | grep "not found" >&2
	exit 1
fi
echo "$binary"
