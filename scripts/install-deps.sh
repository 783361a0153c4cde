#!/usr/bin/env bash
# Installs what building and testing tern needs on a fresh Debian (bookworm)
# machine. Idempotent: packages already present are not touched, and the
# package lists are refreshed only when something must be installed.
set -euo pipefail

packages=(
	build-essential binutils make pkg-config clang-format
	clang libclang-rt-14-dev  # fuzz/: libFuzzer, ASan and UBSan runtimes
	libcmocka-dev          # unit tests
	# Each -dev package below also ships the .a that build/tern-static
	# (the jailer's tern) links: libjansson.a, libmicrohttpd.a, libseccomp.a,
	# liburing.a, libz.a, libssl.a + libcrypto.a; libc.a, libm.a and
	# libpthread.a come with build-essential (libc6-dev).
	libjansson-dev         # JSON (API, config file)
	libmicrohttpd-dev      # HTTP API on a Unix socket
	libgnutls28-dev        # GnuTLS: ternd's TLS listener (--listen); tern-static's stand-in for microhttpd's unused TLS
	libseccomp-dev         # sandbox
	liburing-dev           # block backend
	zlib1g-dev             # snapshot state file checksum (crc32)
	libssl-dev openssl     # migration over TLS 1.3 and ternctl's tls:// (OpenSSL); test keys, scripts/ternd-tls-certs
	libsqlite3-dev         # ternd's state database
	dnsmasq-base nftables  # ternd's networks: DHCP/DNS and NAT
	man-db groff-base      # the ternd suite renders docs/man with man -l
	qemu-system-x86        # the nested test host, and the benchmark baseline
	busybox-static cpio kmod zstd xz-utils  # test host and guest images
	mmdebstrap             # the Debian 12 guest system (guest/build-debian.sh)
	seabios                # --firmware's BIOS image (tests/guest/test_firmware.py)
	fish zsh               # ternctl's fish and zsh completions (tests/ternd/test_ternd.py)
	grub-pc-bin grub-common fdisk  # the GRUB disk it boots (guest/build-debian-disk.sh)
	e2fsprogs              # mke2fs in the guest image, debugfs in disk tests
	python3 python3-pexpect                 # guest and CLI tests
	pyflakes3              # the format suite checks every Python file
	util-linux iproute2 procps
	fio iperf3             # guest userland of bench/blk and bench/net
)

missing=()
for pkg in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" ||
		missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing packages: ${missing[*]}; run this script as root" >&2
	exit 1
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
