#include "ternd/net_link.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/ethtool.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

static int fail(struct tern_error *err, const char *what, const char *name)
{
	int saved = errno;

	return tern_error_set(err, saved, "%s %s: %s", what, name,
			      strerror(saved));
}

static void ifreq_for(struct ifreq *ifr, const char *name)
{
	memset(ifr, 0, sizeof(*ifr));
	snprintf(ifr->ifr_name, sizeof(ifr->ifr_name), "%s", name);
}

/* One ioctl on a throw-away AF_INET socket (the family the address
 * ioctls need; the others take any). */
static int sock_ioctl(unsigned long request, void *arg)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), ret, saved;

	if (fd < 0)
		return -1;
	ret = ioctl(fd, request, arg);
	saved = errno;
	close(fd);
	errno = saved;
	return ret;
}

int net_link_exists(const char *name)
{
	return if_nametoindex(name) != 0;
}

/* The driver's name through ethtool's GDRVINFO ("bridge", "tun"), not
 * /sys/class/net: sysfs shows the network namespace of whoever mounted
 * it, which need not be ternd's. */
int net_link_is_bridge(const char *name)
{
	struct ethtool_drvinfo info = {.cmd = ETHTOOL_GDRVINFO};
	struct ifreq ifr;

	ifreq_for(&ifr, name);
	ifr.ifr_data = (char *)&info;
	return sock_ioctl(SIOCETHTOOL, &ifr) == 0 &&
		!strcmp(info.driver, "bridge");
}

int net_bridge_create(const char *name, struct tern_error *err)
{
	char buf[IFNAMSIZ];

	snprintf(buf, sizeof(buf), "%s", name);
	if (sock_ioctl(SIOCBRADDBR, buf) < 0)
		return fail(err, "cannot create bridge", name);
	return 0;
}

static int set_flags(const char *name, short set, short clear)
{
	struct ifreq ifr;

	ifreq_for(&ifr, name);
	if (sock_ioctl(SIOCGIFFLAGS, &ifr) < 0)
		return -1;
	ifr.ifr_flags = (short)((ifr.ifr_flags | set) & ~clear);
	return sock_ioctl(SIOCSIFFLAGS, &ifr);
}

int net_bridge_delete(const char *name, struct tern_error *err)
{
	char buf[IFNAMSIZ];

	if (!net_link_exists(name))
		return 0;
	/* The kernel refuses to delete a bridge that is up (EBUSY). */
	if (set_flags(name, 0, IFF_UP) < 0 && errno != ENODEV)
		return fail(err, "cannot take down bridge", name);
	snprintf(buf, sizeof(buf), "%s", name);
	if (sock_ioctl(SIOCBRDELBR, buf) < 0 && errno != ENXIO &&
	    errno != ENODEV)
		return fail(err, "cannot delete bridge", name);
	return 0;
}

int net_bridge_add_port(const char *bridge, const char *port,
			struct tern_error *err)
{
	struct ifreq ifr;
	unsigned index = if_nametoindex(port);

	if (!index)
		return fail(err, "no interface", port);
	ifreq_for(&ifr, bridge);
	ifr.ifr_ifindex = (int)index;
	/* EBUSY: already a port (of this bridge, after a restart: fine). */
	if (sock_ioctl(SIOCBRADDIF, &ifr) < 0 && errno != EBUSY) {
		char what[64];

		snprintf(what, sizeof(what), "cannot add %s to bridge", port);
		return fail(err, what, bridge);
	}
	return 0;
}

int net_link_set_up(const char *name, struct tern_error *err)
{
	if (set_flags(name, IFF_UP, 0) < 0)
		return fail(err, "cannot bring up", name);
	return 0;
}

int net_link_set_mac(const char *name, const uint8_t mac[6],
		     struct tern_error *err)
{
	struct ifreq ifr;

	ifreq_for(&ifr, name);
	ifr.ifr_hwaddr.sa_family = ARPHRD_ETHER;
	memcpy(ifr.ifr_hwaddr.sa_data, mac, 6);
	if (sock_ioctl(SIOCSIFHWADDR, &ifr) < 0)
		return fail(err, "cannot set the MAC address of", name);
	return 0;
}

static void set_sin(struct sockaddr *sa, uint32_t addr)
{
	struct sockaddr_in sin = {.sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(addr)};

	memcpy(sa, &sin, sizeof(sin));
}

int net_link_set_ipv4(const char *name, uint32_t addr, uint32_t mask,
		      struct tern_error *err)
{
	struct ifreq ifr;

	ifreq_for(&ifr, name);
	set_sin(&ifr.ifr_addr, addr);
	if (sock_ioctl(SIOCSIFADDR, &ifr) < 0)
		return fail(err, "cannot set the address of", name);
	ifreq_for(&ifr, name);
	set_sin(&ifr.ifr_netmask, mask);
	if (sock_ioctl(SIOCSIFNETMASK, &ifr) < 0)
		return fail(err, "cannot set the netmask of", name);
	return 0;
}

/* /dev/net/tun attached to the tap NAME (created if missing). */
static int tap_attach(const char *name, struct tern_error *err)
{
	struct ifreq ifr;
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return fail(err, "cannot open", "/dev/net/tun");
	ifreq_for(&ifr, name);
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		int ret = fail(err, "cannot attach to tap", name);

		close(fd);
		return ret;
	}
	return fd;
}

int net_tap_create(const char *name, struct tern_error *err)
{
	int fd = tap_attach(name, err);

	if (fd < 0)
		return fd;
	if (ioctl(fd, TUNSETPERSIST, 1L) < 0) {
		int ret = fail(err, "cannot make persistent tap", name);

		close(fd);
		return ret;
	}
	close(fd);
	return 0;
}

int net_tap_delete(const char *name, struct tern_error *err)
{
	int fd;

	if (!net_link_exists(name))
		return 0;
	fd = tap_attach(name, err);
	if (fd < 0)
		return fd;
	/* Not persistent any more: the interface goes with this close. */
	if (ioctl(fd, TUNSETPERSIST, 0L) < 0) {
		int ret = fail(err, "cannot delete tap", name);

		close(fd);
		return ret;
	}
	close(fd);
	return 0;
}

int net_tap_set_owner(const char *name, uint32_t uid, uint32_t gid,
		      struct tern_error *err)
{
	int fd = tap_attach(name, err), ret = 0;

	if (fd < 0)
		return fd;
	if (ioctl(fd, TUNSETOWNER, (unsigned long)uid) < 0 ||
	    ioctl(fd, TUNSETGROUP, (unsigned long)gid) < 0)
		ret = fail(err, "cannot set the owner of tap", name);
	close(fd);
	return ret;
}
