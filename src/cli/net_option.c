#include "cli/net_option.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "backends/tap.h"

int net_parse_mac(const char *text, uint8_t mac[6])
{
	int zero = 1;

	for (int i = 0; i < 6; i++) {
		const char *p = text + 3 * i;

		if (!isxdigit((unsigned char)p[0]) ||
		    !isxdigit((unsigned char)p[1]))
			return -EINVAL;
		if (p[2] != (i == 5 ? '\0' : ':'))
			return -EINVAL;
		sscanf(p, "%2hhx", &mac[i]);
		zero &= mac[i] == 0;
	}
	/* Bit 0 of the first octet marks a group address, which no NIC
	 * may use as its own. */
	if (zero || mac[0] & 1)
		return -EINVAL;
	return 0;
}

static int parse_pair(const char *key, const char *value,
		      struct vm_net_config *net, int *have_tap,
		      struct tern_error *err)
{
	struct tern_error name_err = {{0}};

	if (!strcmp(key, "tap")) {
		if (*have_tap)
			return tern_error_set(err, EINVAL,
					      "--net: tap= given twice");
		if (tap_check_name(value, &name_err))
			return tern_error_set(err, EINVAL, "--net: %s",
					      name_err.message);
		snprintf(net->tap_name, sizeof(net->tap_name), "%s", value);
		*have_tap = 1;
		return 0;
	}
	if (!strcmp(key, "mac")) {
		if (net->mac_given)
			return tern_error_set(err, EINVAL,
					      "--net: mac= given twice");
		if (net_parse_mac(value, net->mac))
			return tern_error_set(
				err, EINVAL,
				"--net: mac '%s' is not a unicast "
				"MAC address (example: "
				"52:54:00:12:34:56)",
				value);
		net->mac_given = 1;
		return 0;
	}
	return tern_error_set(err, EINVAL,
			      "--net: unknown key '%s' (use tap=NAME and "
			      "mac=MAC)",
			      key);
}

int net_option_parse(const char *text, struct vm_config *config,
		     struct tern_error *err)
{
	struct vm_net_config net;
	char buf[256], *save = NULL;
	int have_tap = 0, ret;

	memset(&net, 0, sizeof(net));

	if (config->net_count >= VM_MAX_NETS)
		return tern_error_set(err, EINVAL,
				      "--net: at most %d interfaces",
				      VM_MAX_NETS);
	if (strlen(text) >= sizeof(buf))
		return tern_error_set(err, EINVAL, "--net: value too long");
	memcpy(buf, text, strlen(text) + 1);
	for (char *item = strtok_r(buf, ",", &save); item;
	     item = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(item, '=');

		if (!eq)
			return tern_error_set(err, EINVAL,
					      "--net: '%s' is not KEY=VALUE",
					      item);
		*eq = '\0';
		ret = parse_pair(item, eq + 1, &net, &have_tap, err);
		if (ret)
			return ret;
	}
	if (!have_tap)
		return tern_error_set(err, EINVAL,
				      "--net '%s' needs tap=NAME (a host tap "
				      "interface)",
				      text);
	config->nets[config->net_count++] = net;
	return 0;
}

/* FNV-1a: a fixed, well-spread hash, so the same tap name gives the same
 * MAC on every run (the guest's view of its NIC stays put). */
static uint32_t hash_name(const char *name, uint32_t salt)
{
	uint32_t h = 2166136261u ^ salt;

	for (const char *p = name; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	return h;
}

static int mac_in_use(const struct vm_config *config, int self)
{
	for (int i = 0; i < config->net_count; i++)
		if (i != self && (config->nets[i].mac_given || i < self) &&
		    !memcmp(config->nets[i].mac, config->nets[self].mac, 6))
			return 1;
	return 0;
}

int net_options_finish(struct vm_config *config, struct tern_error *err)
{
	for (int i = 0; i < config->net_count; i++) {
		struct vm_net_config *net = &config->nets[i];

		for (int j = 0; j < i; j++)
			if (!strcmp(config->nets[j].tap_name, net->tap_name))
				return tern_error_set(
					err, EINVAL,
					"--net: tap %s named twice",
					net->tap_name);
		if (net->mac_given) {
			if (mac_in_use(config, i))
				return tern_error_set(
					err, EINVAL,
					"--net: MAC %02x:%02x:%02x:%02x:%02x:"
					"%02x given twice",
					net->mac[0], net->mac[1], net->mac[2],
					net->mac[3], net->mac[4], net->mac[5]);
			continue;
		}
		/* 52:54:00 has the locally administered bit set and is
		 * the prefix people know from QEMU guests. */
		for (uint32_t salt = 0;; salt++) {
			uint32_t h = hash_name(net->tap_name, salt);

			net->mac[0] = 0x52;
			net->mac[1] = 0x54;
			net->mac[2] = 0x00;
			net->mac[3] = (uint8_t)(h >> 16);
			net->mac[4] = (uint8_t)(h >> 8);
			net->mac[5] = (uint8_t)h;
			if (!mac_in_use(config, i))
				break;
		}
	}
	return 0;
}
