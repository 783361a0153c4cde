#include "ternd/network_definition.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "config/json_fields.h"

static const char *const kind_names[] = {
	[NETWORK_MANAGED] = "managed",
	[NETWORK_BRIDGE] = "bridge",
};

const char *network_kind_name(enum network_kind kind)
{
	return (unsigned)kind < 2 ? kind_names[kind] : NULL;
}

int network_kind_parse(const char *text, enum network_kind *kind)
{
	for (unsigned i = 0; i < 2; i++)
		if (!strcmp(text, kind_names[i])) {
			*kind = (enum network_kind)i;
			return 0;
		}
	return -EINVAL;
}

int network_ifname_check(const char *what, const char *name,
			 struct tern_error *err)
{
	size_t len = strnlen(name, IFNAMSIZ);

	if (len == 0 || len >= IFNAMSIZ)
		return tern_error_set(err, EINVAL,
				      "a %s name has 1 to %d characters", what,
				      IFNAMSIZ - 1);
	if (!strcmp(name, ".") || !strcmp(name, ".."))
		return tern_error_set(
			err, EINVAL, "'%s' is not a valid %s name", name, what);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c == '/' || c == ':' || isspace(c) || !isprint(c))
			return tern_error_set(err, EINVAL,
					      "%s name '%.15s' has a character "
					      "interface names cannot have",
					      what, name);
	}
	return 0;
}

static int parse_octet(const char **p, unsigned *value)
{
	unsigned v = 0;
	int digits = 0;

	while (**p >= '0' && **p <= '9' && digits < 4) {
		v = v * 10 + (unsigned)(**p - '0');
		(*p)++;
		digits++;
	}
	/* No leading zeros: "010" means 8 to some parsers and 10 to others. */
	if (!digits || digits > 3 || v > 255 ||
	    (digits > 1 && (*p)[-digits] == '0'))
		return -1;
	*value = v;
	return 0;
}

int network_subnet_parse(const char *text, uint32_t *subnet, int *prefix,
			 struct tern_error *err)
{
	const char *p = text;
	uint32_t addr = 0, mask;
	unsigned octet, bits = 0;
	int ok = 1;

	for (int i = 0; ok && i < 4; i++) {
		ok = !parse_octet(&p, &octet) && *p == (i < 3 ? '.' : '/');
		addr = addr << 8 | octet;
		p += ok;
	}
	ok = ok && !parse_octet(&p, &bits) && !*p;
	if (!ok)
		return tern_error_set(err, EINVAL,
				      "subnet '%.40s': expected an IPv4 "
				      "network as A.B.C.D/N (192.168.122.0/24)",
				      text);
	if (bits < 8 || bits > 30)
		return tern_error_set(err, EINVAL,
				      "subnet '%.40s': the prefix length is 8 "
				      "to 30 (room for the gateway and guests)",
				      text);
	mask = ~0u << (32 - bits);
	if (addr & ~mask)
		return tern_error_set(err, EINVAL,
				      "subnet '%.40s' has host bits set: the "
				      "network address is needed (the bridge "
				      "gets its first address)",
				      text);
	*subnet = addr;
	*prefix = (int)bits;
	return 0;
}

void network_ip_text(uint32_t ip, char *buf, size_t size)
{
	snprintf(buf, size, "%u.%u.%u.%u", ip >> 24, ip >> 16 & 0xff,
		 ip >> 8 & 0xff, ip & 0xff);
}

void network_subnet_text(const struct network_def *def, char *buf, size_t size)
{
	char ip[16];

	if (!def->prefix) {
		snprintf(buf, size, "%s", "");
		return;
	}
	network_ip_text(def->subnet, ip, sizeof(ip));
	snprintf(buf, size, "%s/%d", ip, def->prefix);
}

uint32_t network_netmask(const struct network_def *def)
{
	return def->prefix ? ~0u << (32 - def->prefix) : 0;
}

uint32_t network_gateway(const struct network_def *def)
{
	return def->subnet + 1;
}

void network_dhcp_range(const struct network_def *def, uint32_t *first,
			uint32_t *last)
{
	*first = def->subnet + 2;
	*last = (def->subnet | ~network_netmask(def)) - 1;
}

static const struct json_field network_fields[] = {
	{"kind", JSON_FIELD_STRING, 0, 0, 0},
	{"bridge", JSON_FIELD_STRING, 1, 0, 0},
	{"subnet", JSON_FIELD_STRING, 0, 0, 0},
	{"nat", JSON_FIELD_BOOL, 0, 0, 0},
	{"dhcp", JSON_FIELD_BOOL, 0, 0, 0},
};

static int check_kind(struct network_def *def, const json_t *body,
		      struct tern_error *err)
{
	const char *kind = json_string_value(json_fields_get(body, "kind"));

	if (kind && network_kind_parse(kind, &def->kind))
		return tern_error_set(
			err, EINVAL,
			"network kind '%.32s': use managed (ternd "
			"creates the bridge) or bridge (an "
			"existing one)",
			kind);
	if (!kind)
		def->kind = def->prefix ? NETWORK_MANAGED : NETWORK_BRIDGE;
	if (def->kind == NETWORK_MANAGED && !def->prefix)
		return tern_error_set(err, EINVAL,
				      "a managed network needs a subnet "
				      "(\"subnet\": \"192.168.122.0/24\")");
	if (def->kind == NETWORK_BRIDGE &&
	    (def->prefix || def->nat || def->dhcp))
		return tern_error_set(err, EINVAL,
				      "a bridge network names a bridge someone "
				      "else manages: it takes no subnet, NAT "
				      "or DHCP (define a managed network for "
				      "those)");
	return 0;
}

int network_def_from_json(const char *name, const json_t *body,
			  struct network_def *def, struct tern_error *err)
{
	const char *bridge, *subnet;
	int ret = ternd_name_check("network", name, err);

	if (ret)
		return ret;
	if (!json_is_object(body))
		return tern_error_set(err, EINVAL,
				      "a network definition is a JSON object "
				      "({\"bridge\": ..., \"subnet\": ...})");
	ret = JSON_FIELDS_CHECK(body, "network", network_fields, 0, err);
	if (ret)
		return ret;
	memset(def, 0, sizeof(*def));
	snprintf(def->name, sizeof(def->name), "%s", name);
	bridge = json_string_value(json_fields_get(body, "bridge"));
	ret = network_ifname_check("bridge", bridge, err);
	if (ret)
		return ret;
	snprintf(def->bridge, sizeof(def->bridge), "%s", bridge);
	subnet = json_string_value(json_fields_get(body, "subnet"));
	if (subnet) {
		ret = network_subnet_parse(subnet, &def->subnet, &def->prefix,
					   err);
		if (ret)
			return ret;
	}
	def->nat = json_is_true(json_fields_get(body, "nat"));
	def->dhcp = json_is_true(json_fields_get(body, "dhcp"));
	return check_kind(def, body, err);
}

/* FNV-1a: small, and stable for ever (a tap's name and a guest's MAC
 * depend on it across ternd versions). */
static uint32_t fnv1a(const char *a, const char *b, unsigned n)
{
	uint32_t h = 2166136261u;
	char num[16];
	const char *parts[] = {a, "/", b, num};

	snprintf(num, sizeof(num), "%u", n);
	for (size_t i = 0; i < 4; i++)
		for (const char *p = parts[i]; *p; p++) {
			h ^= (unsigned char)*p;
			h *= 16777619u;
		}
	return h;
}

void network_tap_name(const char *vm, unsigned position, char out[IFNAMSIZ])
{
	snprintf(out, IFNAMSIZ, "tn%08x-%u", fnv1a("tap", vm, 0),
		 position % 10);
}

static void mac_from(uint32_t h, uint8_t mac[6])
{
	mac[0] = 0x52;
	mac[1] = 0x54;
	mac[2] = 0x00;
	mac[3] = (uint8_t)(h >> 16);
	mac[4] = (uint8_t)(h >> 8);
	mac[5] = (uint8_t)h;
}

void network_vm_mac(const char *vm, unsigned position, uint8_t mac[6])
{
	mac_from(fnv1a("mac", vm, position), mac);
}

void network_bridge_mac(const char *network, uint8_t mac[6])
{
	mac_from(fnv1a("bridge", network, 0), mac);
}

void network_mac_text(const uint8_t mac[6], char *buf, size_t size)
{
	snprintf(buf, size, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1],
		 mac[2], mac[3], mac[4], mac[5]);
}

void network_nft_table(const char *network, char *buf, size_t size)
{
	snprintf(buf, size, "ternd-%s", network);
}
