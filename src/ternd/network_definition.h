/* What ternd accepts as a network, and the names and addresses it derives
 * from one: a network is either "managed" (ternd creates its bridge, gives
 * it the subnet's first address, and may add NAT and DHCP/DNS) or
 * "bridge" (an existing bridge someone else manages, which VMs join).
 * Everything here is pure, so the unit tests cover every rule. */
#ifndef TERN_TERND_NETWORK_DEFINITION_H
#define TERN_TERND_NETWORK_DEFINITION_H

#include <jansson.h>
#include <net/if.h>
#include <stddef.h>
#include <stdint.h>

#include "ternd/ternd_name.h"
#include "util/error.h"

enum network_kind {
	NETWORK_MANAGED,
	NETWORK_BRIDGE,
};

struct network_def {
	char name[TERND_NAME_MAX + 1];
	enum network_kind kind;
	char bridge[IFNAMSIZ];
	uint32_t subnet; /* network address, host byte order; managed only */
	int prefix; /* 8 to 30; 0 for a bridge network */
	int nat; /* masquerade the subnet's traffic to other networks */
	int dhcp; /* dnsmasq serves DHCP and DNS on the bridge */
};

/* "managed", "bridge"; NULL for an unknown kind. */
const char *network_kind_name(enum network_kind kind);
int network_kind_parse(const char *text, enum network_kind *kind);

/* A definition from a request body: {"bridge": BR, "subnet": "A.B.C.D/N",
 * "nat": bool, "dhcp": bool, "kind": "managed"|"bridge"}. Without "kind" a
 * network with a subnet is managed and one without is a bridge network. A
 * managed network needs a subnet; a bridge network takes none, nor NAT or
 * DHCP (its owner provides them). 0 or -EINVAL with err naming the field. */
int network_def_from_json(const char *name, const json_t *body,
			  struct network_def *def, struct tern_error *err);

/* "A.B.C.D/N" with N from 8 to 30 (room for the gateway and at least one
 * guest) and no host bits set. 0 or -EINVAL. */
int network_subnet_parse(const char *text, uint32_t *subnet, int *prefix,
			 struct tern_error *err);
/* "A.B.C.D/N", or "" for a bridge network. */
void network_subnet_text(const struct network_def *def, char *buf, size_t size);
/* A host-order IPv4 address as dotted text. */
void network_ip_text(uint32_t ip, char *buf, size_t size);
/* The bridge's (gateway's) address: the subnet's first. */
uint32_t network_gateway(const struct network_def *def);
uint32_t network_netmask(const struct network_def *def);
/* What DHCP hands out: after the gateway up to before the broadcast. */
void network_dhcp_range(const struct network_def *def, uint32_t *first,
			uint32_t *last);

/* An interface name the kernel takes (dev_valid_name); what names it (for
 * the message), "bridge". 0 or -EINVAL. */
int network_ifname_check(const char *what, const char *name,
			 struct tern_error *err);

/* The tap ternd makes for a VM's position-th network interface:
 * "tn" + 8 hex digits of a hash of the VM's name + "-" + position, so it
 * is the same at every start and fits IFNAMSIZ whatever the VM's name. */
void network_tap_name(const char *vm, unsigned position, char out[IFNAMSIZ]);
/* The guest MAC of that interface when the definition gives none:
 * 52:54:00 (locally administered) + 3 bytes of a hash of the VM's name
 * and position: stable across starts, so DHCP leases follow the VM. */
void network_vm_mac(const char *vm, unsigned position, uint8_t mac[6]);
/* A managed bridge's own MAC, fixed from the network's name: a Linux
 * bridge otherwise takes the lowest of its ports' and changes as VMs come
 * and go. */
void network_bridge_mac(const char *network, uint8_t mac[6]);
void network_mac_text(const uint8_t mac[6], char *buf, size_t size);

/* The nftables table of a NAT network: "ternd-NAME" (family ip). */
void network_nft_table(const char *network, char *buf, size_t size);

#endif
