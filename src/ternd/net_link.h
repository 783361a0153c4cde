/* The host's network interfaces that ternd's networks need, through the
 * classic ioctls rather than rtnetlink: creating and deleting a bridge
 * (SIOCBRADDBR, SIOCBRDELBR), adding a port (SIOCBRADDIF), flags, MAC
 * and IPv4 address (SIOCSIF*), and persistent taps (TUNSETIFF,
 * TUNSETPERSIST). Each is one call with a struct ifreq, where rtnetlink
 * would need a message builder and an acknowledgement parser for the same
 * result; none of these ioctls is deprecated, and `ip` is not needed on
 * the host. Every function returns 0 or a negative errno with err set. */
#ifndef TERN_TERND_NET_LINK_H
#define TERN_TERND_NET_LINK_H

#include <stdint.h>

#include "util/error.h"

/* Whether an interface of that name exists; whether it is a bridge. */
int net_link_exists(const char *name);
int net_link_is_bridge(const char *name);

/* -EEXIST when an interface of that name exists. */
int net_bridge_create(const char *name, struct tern_error *err);
/* Takes it down and deletes it; 0 when it does not exist. */
int net_bridge_delete(const char *name, struct tern_error *err);
int net_bridge_add_port(const char *bridge, const char *port,
			struct tern_error *err);

int net_link_set_up(const char *name, struct tern_error *err);
int net_link_set_mac(const char *name, const uint8_t mac[6],
		     struct tern_error *err);
/* addr and mask in host byte order. */
int net_link_set_ipv4(const char *name, uint32_t addr, uint32_t mask,
		      struct tern_error *err);

/* A persistent tap (it stays when its file descriptor closes, until
 * net_tap_delete), with a virtio-net header, for tern to attach to by
 * name. An existing tap of that name is taken as it is. */
int net_tap_create(const char *name, struct tern_error *err);
/* 0 when it does not exist (any more); -EBUSY while a process (a tern
 * still running) holds it. */
int net_tap_delete(const char *name, struct tern_error *err);

/* Gives the persistent tap name to uid:gid, so that a process running as
 * them (a jailed VM's tern, without CAP_NET_ADMIN) may attach to it. */
int net_tap_set_owner(const char *name, uint32_t uid, uint32_t gid,
		      struct tern_error *err);

#endif
