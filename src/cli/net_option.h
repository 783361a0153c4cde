/* `--net tap=NAME[,mac=MAC]`: one virtio-net interface on a host tap. */
#ifndef TERN_CLI_NET_OPTION_H
#define TERN_CLI_NET_OPTION_H

#include <stdint.h>

#include "util/error.h"
#include "vm/vm_config.h"

/* Parses one --net value into config->nets[config->net_count++]. Returns 0
 * or -EINVAL with err set (unknown key, bad MAC, missing tap=, too many). */
int net_option_parse(const char *text, struct vm_config *config,
		     struct tern_error *err);

/* After every --net: gives each interface without mac= a stable MAC
 * derived from its tap name (52:54:00 plus a hash, locally administered),
 * and refuses a tap or MAC named twice. */
int net_options_finish(struct vm_config *config, struct tern_error *err);

/* "aa:bb:cc:dd:ee:ff" into mac; 0, or -EINVAL when it is not six hex
 * pairs, or is a multicast or all-zero address (a NIC needs a unicast
 * one). */
int net_parse_mac(const char *text, uint8_t mac[6]);

#endif
