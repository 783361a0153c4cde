/* What ternd accepts as a VM definition: a name it can use in paths and
 * URLs, and a tern configuration document (the shape `GET /vm/config`
 * returns and `tern run --config-file` reads) that tern's own parser and
 * checks accept. A definition refused here never reaches the database. */
#ifndef TERN_TERND_VM_DEFINITION_H
#define TERN_TERND_VM_DEFINITION_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "ternd/ternd_name.h"
#include "util/error.h"
#include "vm/vm_config.h"
#include "vm/vm_disk_config.h"

/* Names: see ternd_name.h. */
#define VM_NAME_MAX TERND_NAME_MAX

/* The version of the configuration document stored with each definition:
 * a later tern that changes the document's shape converts older versions
 * when it reads them. */
#define VM_CONFIG_DOC_VERSION 1

struct vm_summary {
	int vcpus;
	uint64_t memory_mib;
};

/* The pool volumes a definition's drives name, in drive order. */
struct vm_volume_refs {
	char names[VM_MAX_DISKS][TERND_NAME_MAX + 1];
	size_t count;
};

/* The networks a definition's network interfaces name ("network": NAME,
 * ternd's other addition), in interface order, with the tap and guest MAC
 * each gets (network_definition.h: derived from the VM's name and the
 * position, the MAC only when the interface gives none). */
struct vm_network_refs {
	char names[VM_MAX_NETS][TERND_NAME_MAX + 1];
	char taps[VM_MAX_NETS][16];
	char macs[VM_MAX_NETS][18];
	size_t count;
};

/* 0, or -EINVAL with err saying what is wrong with the name. */
int vm_name_check(const char *name, struct tern_error *err);

/* Checks a document as tern would read it (vm_config_json_apply_document
 * plus "a kernel is named"; tern opens each disk), its drives' volumes
 * resolved to files in pool_dir; fills *summary and *refs when given.
 * 0 or -EINVAL. */
int vm_definition_check(const json_t *doc, const char *pool_dir,
			struct vm_summary *summary, struct vm_volume_refs *refs,
			struct vm_network_refs *nets, struct tern_error *err);

/* ternd's one addition to tern's document: a drive may name a pool volume,
 * "volume": "NAME", in place of "path_on_host" (never both; a volume at
 * most once per definition). Returns a new document (a deep copy) in which
 * each such drive has "path_on_host": "POOL_DIR/NAME" instead, which is
 * what tern reads; pool_dir NULL gives placeholder paths, for checking.
 * NULL with err set (-EINVAL's message) when a volume field is wrong. */
json_t *vm_definition_resolve(const json_t *doc, const char *pool_dir,
			      struct vm_volume_refs *refs,
			      struct tern_error *err);
/* The same for network interfaces, in place in a resolved copy: an
 * interface may name a ternd network, "network": "NAME", in place of
 * "host_dev_name" (never both); it then gets "host_dev_name": the VM's
 * tap for it, and "guest_mac" unless it has one. vm NULL: a placeholder
 * name, for checking. 0 or -EINVAL. */
int vm_definition_resolve_networks(json_t *doc, const char *vm,
				   struct vm_network_refs *refs,
				   struct tern_error *err);

#endif
