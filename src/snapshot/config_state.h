/* The VM's configuration in a state file (section vm.config): the JSON
 * document GET /vm/config returns, written at create. At load it is read
 * as untrusted input and compared with the loading tern's configuration:
 * what the guest sees must match (vCPU count, memory size, the virtio
 * transport, the same drives, interfaces, vsock, balloon and entropy device
 * in the same order, with the same ids, MACs, CID, read-only flags and
 * balloon features); where the host keeps them may differ (disk image
 * path, tap name, vsock socket path, cache and I/O engine, serial, logger),
 * so a snapshot can be restored on another host. */
#ifndef TERN_SNAPSHOT_CONFIG_STATE_H
#define TERN_SNAPSHOT_CONFIG_STATE_H

#include "config/vm_config_json.h"
#include "snapshot/state_file.h"
#include "vm/vm.h"

/* The section's size limit: the same as a config file's. */
#define CONFIG_STATE_MAX_SIZE VM_CONFIG_FILE_MAX

/* The snapshot's VM as its configuration described it. The strings
 * (kernel, initrd, command line) live in storage. */
struct snapshot_config {
	struct vm_config config;
	struct vm_config_storage storage;
	/* config.virtio_transport resolved with config.cmdline (auto: mmio
	 * when the command line has pci=off). */
	enum virtio_transport transport;
};

int config_state_save(const struct vm_config *config, struct state_file *sf,
		      struct tern_error *err);

/* Parses and checks the section: a missing, oversized or malformed one is
 * an error naming what is wrong. Free the result with
 * config_state_free(), also after a failure. */
int config_state_parse(const struct state_file *sf, struct snapshot_config *out,
		       struct tern_error *err);
void config_state_free(struct snapshot_config *snap);

/* Refuses a configuration that differs from the snapshot's in what the
 * guest sees, naming the first difference (see the top of this file).
 * transport: current's, resolved. */
int config_state_compare(const struct snapshot_config *snap,
			 const struct vm_config *current,
			 enum virtio_transport transport,
			 struct tern_error *err);

/* Parse and compare with vm's own configuration. */
int config_state_check(const struct vm *vm, const struct state_file *sf,
		       struct tern_error *err);

#endif
