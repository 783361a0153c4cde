#include "cli/net_option.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "config/config_check.h"

static int parse_pair(const char *key, const char *value,
		      struct vm_net_config *net, int *have_tap,
		      struct tern_error *err)
{
	if (!strcmp(key, "tap")) {
		if (*have_tap)
			return tern_error_set(err, EINVAL,
					      "--net: tap= given twice");
		if (config_check_tap_name("--net", value, err))
			return -EINVAL;
		snprintf(net->tap_name, sizeof(net->tap_name), "%s", value);
		*have_tap = 1;
		return 0;
	}
	if (!strcmp(key, "mac")) {
		if (net->mac_given)
			return tern_error_set(err, EINVAL,
					      "--net: mac= given twice");
		if (config_parse_mac("--net: mac", value, net->mac, err))
			return -EINVAL;
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
	snprintf(net.id, sizeof(net.id), "net%d", config->net_count);
	config->nets[config->net_count++] = net;
	return 0;
}

int net_options_finish(struct vm_config *config, struct tern_error *err)
{
	return config_finish_nets("--net", config, err);
}
