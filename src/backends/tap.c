#include "backends/tap.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define TUN_DEVICE "/dev/net/tun"

#define TAP_KNOWN_OFFLOADS                                                     \
	(TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN | TUN_F_UFO)

int tap_check_name(const char *name, struct tern_error *err)
{
	size_t len = name ? strlen(name) : 0;

	if (len == 0)
		return tern_error_set(err, EINVAL, "tap name is empty");
	if (len >= IFNAMSIZ)
		return tern_error_set(err, EINVAL,
				      "tap name '%s' is longer than %d "
				      "characters",
				      name, IFNAMSIZ - 1);
	if (!strcmp(name, ".") || !strcmp(name, ".."))
		return tern_error_set(err, EINVAL,
				      "'%s' is not a valid interface name",
				      name);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c == '/' || c == ':' || isspace(c) || !isprint(c))
			return tern_error_set(err, EINVAL,
					      "tap name '%s' has a character "
					      "interface names cannot have",
					      name);
	}
	return 0;
}

static int open_tun_device(struct tern_error *err)
{
	int fd = open(TUN_DEVICE, O_RDWR | O_NONBLOCK | O_CLOEXEC);

	if (fd >= 0)
		return fd;
	switch (errno) {
	case ENOENT:
	case ENODEV:
	case ENXIO:
		return tern_error_set(err, errno,
				      "no %s on this host: load the tun "
				      "module (modprobe tun)",
				      TUN_DEVICE);
	case EACCES:
	case EPERM:
		return tern_error_set(err, errno,
				      "no permission to open %s: run tern as "
				      "root or give this user access to it",
				      TUN_DEVICE);
	}
	return tern_error_set(err, errno, "cannot open %s: %s", TUN_DEVICE,
			      strerror(errno));
}

/* TUNSETIFF's errors, for an interface that did or did not exist before
 * (drivers/net/tun.c, tun_set_iff). */
static int explain_setiff_error(const char *name, int existed, int errnum,
				struct tern_error *err)
{
	switch (errnum) {
	case EBUSY:
		return tern_error_set(err, errnum,
				      "tap %s is busy: another process "
				      "(another tern?) is attached to it",
				      name);
	case EPERM:
	case EACCES:
		if (existed)
			return tern_error_set(
				err, errnum,
				"no permission to attach to tap %s: it "
				"belongs to another user or group "
				"(ip tuntap add %s mode tap user USER)",
				name, name);
		return tern_error_set(err, errnum,
				      "no permission to create tap %s: that "
				      "needs CAP_NET_ADMIN; or create it "
				      "first (ip tuntap add %s mode tap "
				      "user USER)",
				      name, name);
	case EINVAL:
		if (existed)
			return tern_error_set(err, errnum,
					      "%s is not a tap interface (a "
					      "tun, multi-queue tap or other "
					      "device has that name)",
					      name);
		break;
	}
	return tern_error_set(err, errnum, "cannot attach to tap %s: %s", name,
			      strerror(errnum));
}

int tap_open(struct tap *tap, const char *name, int vnet_hdr_size,
	     struct tern_error *err)
{
	struct ifreq ifr;
	unsigned int features = 0;
	int existed, ret;

	tap->fd = -1;
	tap->created = 0;
	ret = tap_check_name(name, err);
	if (ret)
		return ret;
	tap->fd = open_tun_device(err);
	if (tap->fd < 0)
		return tap->fd;

	if (ioctl(tap->fd, TUNGETFEATURES, &features) == 0 &&
	    !(features & IFF_VNET_HDR)) {
		ret = tern_error_set(err, ENOTSUP,
				     "this kernel's tap driver has no "
				     "virtio-net header support "
				     "(IFF_VNET_HDR)");
		goto fail;
	}

	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, name, strlen(name));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	existed = if_nametoindex(name) != 0;
	if (ioctl(tap->fd, TUNSETIFF, &ifr) < 0) {
		ret = explain_setiff_error(name, existed, errno, err);
		goto fail;
	}
	memcpy(tap->name, ifr.ifr_name, IFNAMSIZ);
	tap->name[IFNAMSIZ - 1] = '\0';
	tap->created = !existed;

	if (ioctl(tap->fd, TUNSETVNETHDRSZ, &vnet_hdr_size) < 0) {
		ret = tern_error_set(err, errno,
				     "tap %s: cannot set the virtio-net "
				     "header size to %d: %s",
				     name, vnet_hdr_size, strerror(errno));
		goto fail;
	}
	/* No offloads until the guest says what it can take: frames from the
	 * host stay fully checksummed and at most MTU-sized. */
	ret = tap_set_offloads(tap, 0, err);
	if (ret)
		goto fail;
	return 0;

fail:
	tap_close(tap);
	return ret;
}

int tap_set_offloads(struct tap *tap, unsigned offloads, struct tern_error *err)
{
	if (offloads & ~TAP_KNOWN_OFFLOADS)
		return tern_error_set(
			err, EINVAL, "tap %s: unknown offload flags 0x%x",
			tap->name, offloads & ~TAP_KNOWN_OFFLOADS);
	if (ioctl(tap->fd, TUNSETOFFLOAD, (unsigned long)offloads) < 0)
		return tern_error_set(err, errno,
				      "tap %s: cannot set offloads 0x%x: %s",
				      tap->name, offloads, strerror(errno));
	return 0;
}

ssize_t tap_readv(struct tap *tap, const struct iovec *iov, int iovcnt)
{
	ssize_t n;

	do {
		n = readv(tap->fd, iov, iovcnt);
	} while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}

ssize_t tap_writev(struct tap *tap, const struct iovec *iov, int iovcnt)
{
	ssize_t n;

	do {
		n = writev(tap->fd, iov, iovcnt);
	} while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}

void tap_close(struct tap *tap)
{
	if (tap->fd >= 0)
		close(tap->fd);
	tap->fd = -1;
}
