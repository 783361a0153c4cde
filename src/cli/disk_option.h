/* --disk path=FILE[,readonly][,id=NAME][,cache=writeback|none]
 *        [,engine=io_uring|threads] */
#ifndef TERN_CLI_DISK_OPTION_H
#define TERN_CLI_DISK_OPTION_H

#include "util/error.h"
#include "vm/vm_config.h"

/* Parses one --disk value into config->disks[config->disk_count++],
 * checking it against the disks before it (count, duplicate id or file).
 * The file must exist. Returns 0 or -EINVAL with err set. */
int disk_option_parse(const char *text, struct vm_config *config,
		      struct tern_error *err);

#endif
