# Sourced by the test host and guest image scripts: where the cached pieces
# live. Everything is under build/cache so `make clean` keeps it and a fresh
# clone rebuilds it from Debian packages.
TERN_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TERN_CACHE="$TERN_ROOT/build/cache"
# The Debian cloud kernel serves twice: as the test host's kernel and as the
# guest kernel tern boots inside it.
KERNEL_ROOT="$TERN_CACHE/kernel-root"
TESTHOST_CACHE="$TERN_CACHE/testhost"
TESTHOST_KERNEL="$TESTHOST_CACHE/vmlinuz"
TESTHOST_INITRAMFS="$TESTHOST_CACHE/initramfs.cpio.gz"
