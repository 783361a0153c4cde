/* --pmem path=FILE[,id=NAME][,root][,readonly]: a virtio-pmem device, the
 * command line's spelling of PUT /pmem/{id} and the document's "pmem". */
#ifndef TERN_CLI_PMEM_OPTION_H
#define TERN_CLI_PMEM_OPTION_H

#include "util/error.h"
#include "vm/vm_config.h"

/* Parses one --pmem value into config->pmems, checked against the devices
 * before it (count, duplicate id, one root device). The file must exist.
 * Returns 0 or -EINVAL with err set. */
int pmem_option_parse(const char *text, struct vm_config *config,
		      struct tern_error *err);

#endif
