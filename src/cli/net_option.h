/* `--net tap=NAME[,mac=MAC]`: one virtio-net interface on a host tap. */
#ifndef TERN_CLI_NET_OPTION_H
#define TERN_CLI_NET_OPTION_H

#include "util/error.h"
#include "vm/vm_config.h"

/* Parses one --net value into config->nets[config->net_count++]. Returns 0
 * or -EINVAL with err set (unknown key, bad MAC, missing tap=, too many). */
int net_option_parse(const char *text, struct vm_config *config,
		     struct tern_error *err);

/* After every --net: config_finish_nets() (stable derived MACs; a tap or
 * MAC named twice is refused). */
int net_options_finish(struct vm_config *config, struct tern_error *err);

#endif
