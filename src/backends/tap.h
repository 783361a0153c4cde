/* A Linux tap interface as a network backend: Ethernet frames in and out of
 * a non-blocking file descriptor, each frame preceded by a virtio-net header
 * (IFF_VNET_HDR) so checksum and segmentation offloads pass straight between
 * the guest and the host kernel without tern touching the payload. */
#ifndef TERN_BACKENDS_TAP_H
#define TERN_BACKENDS_TAP_H

#include <net/if.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "util/error.h"

struct tap {
	int fd;
	char name[IFNAMSIZ];
	int created; /* tern made the interface; it vanishes on close */
};

/* Checks a name the way the kernel does (dev_valid_name): 1 to IFNAMSIZ-1
 * bytes, not "." or "..", no '/', ':' or white space. Returns 0 or -EINVAL
 * with the reason in err. */
int tap_check_name(const char *name, struct tern_error *err);

/* Attaches to the tap interface NAME (e.g. made with `ip tuntap add NAME
 * mode tap`), or creates it when it does not exist (that needs
 * CAP_NET_ADMIN). Frames carry a vnet_hdr_size-byte virtio-net header
 * (10, or 12 with VIRTIO_F_VERSION_1 / mergeable buffers). */
int tap_open(struct tap *tap, const char *name, int vnet_hdr_size,
	     struct tern_error *err);

/* Offloads the host kernel may leave to the guest, as TUN_F_* flags
 * (<linux/if_tun.h>): frames from the tap may then carry partial checksums
 * (TUN_F_CSUM) or be up to 64 KiB segments (TUN_F_TSO4/6, TUN_F_UFO). Call
 * it with what the guest negotiated to receive. */
int tap_set_offloads(struct tap *tap, unsigned offloads,
		     struct tern_error *err);

/* One frame (header + Ethernet frame) per call. Return the bytes moved or a
 * negative errno; -EAGAIN when no frame is waiting (read) or the tap's
 * queue is full (write). */
ssize_t tap_readv(struct tap *tap, const struct iovec *iov, int iovcnt);
ssize_t tap_writev(struct tap *tap, const struct iovec *iov, int iovcnt);

void tap_close(struct tap *tap);

#endif
