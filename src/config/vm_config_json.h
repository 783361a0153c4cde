/* struct vm_config <-> the JSON document that `GET /vm/config` returns and
 * `tern run --config-file` reads: Firecracker's shape ("boot-source",
 * "machine-config", "logger", "metrics", the devices ("drives",
 * "network-interfaces", "vsock", "balloon", "entropy" = virtio-rng) and
 * the sections tern has no device for, which must be empty)
 * plus a "tern" object for tern-only options ("serial", "kvm_device",
 * "virtio_transport"). Every value goes through the same checks
 * as the command line (config/config_check.h).
 *
 * Each apply function is all-or-nothing: on error the config and its strings
 * are unchanged. Strings taken from JSON are copied into a
 * vm_config_storage, which the config then points into. */
#ifndef TERN_CONFIG_VM_CONFIG_JSON_H
#define TERN_CONFIG_VM_CONFIG_JSON_H

#include <jansson.h>

#include "util/error.h"
#include "vm/vm_config.h"

enum vm_config_string {
	VM_CONFIG_STR_KERNEL,
	VM_CONFIG_STR_INITRD,
	VM_CONFIG_STR_CMDLINE,
	VM_CONFIG_STR_SERIAL,
	VM_CONFIG_STR_KVM_DEVICE,
	VM_CONFIG_STR_LOG_PATH,
	VM_CONFIG_STR_METRICS_PATH,
	VM_CONFIG_STR_LOG_MODULE,
	VM_CONFIG_STR_METRICS_PROPERTIES,
	VM_CONFIG_STR_FIRMWARE,
	VM_CONFIG_STR_COUNT,
};

struct vm_config_storage {
	char *strings[VM_CONFIG_STR_COUNT];
	/* What vm_config.cpu_custom points at (or did: a template set later
	 * clears the pointer and leaves this until it is replaced). */
	struct cpu_custom_template *cpu_custom;
};

void vm_config_storage_free(struct vm_config_storage *storage);

/* How a function applying a JSON value reads it: flags is the API
 * wrappers' own argument (partial, from) or, for a section's apply
 * function, CONFIG_SECTION_* below. */
typedef int (*vm_config_apply_fn)(struct vm_config *config,
				  struct vm_config_storage *storage,
				  const json_t *value, int flags,
				  struct tern_error *err);

/* Runs fn on a copy and commits only if it succeeds: a refused request
 * leaves the configuration as it was. */
int vm_config_json_apply_atomically(struct vm_config *config,
				    struct vm_config_storage *storage,
				    vm_config_apply_fn fn, const json_t *value,
				    int flags, struct tern_error *err);

/* Reads a JSON file of at most VM_CONFIG_FILE_MAX bytes; what names it in
 * messages ("config file"). quiet: a file named inside a document, which
 * may come from someone other than the operator (ternd's VM definitions):
 * only a regular file, and a parse error says where, not what jansson
 * read there. */
int vm_config_json_read_file(const char *path, const char *what, int quiet,
			     json_t **doc, struct tern_error *err);

/* An apply function's flags. */
/* The value comes from a snapshot's configuration record: open no file
 * (drive images, the kernel, a cpu-config file need not exist on the
 * restoring host), leave the host's own settings alone, and take the
 * record's shape (fields tern always writes are required). */
#define CONFIG_SECTION_FROM_RECORD 1
/* The section is null or absent (value NULL) in a document and the other
 * sections have been read: apply judges whether that is allowed. */
#define CONFIG_SECTION_LATE 2

/* A section's apply functions, one per row of the table of sections
 * (config/config_sections.c). */
int vm_config_section_boot_source(struct vm_config *config,
				  struct vm_config_storage *storage,
				  const json_t *value, int flags,
				  struct tern_error *err);
int vm_config_section_machine(struct vm_config *config,
			      struct vm_config_storage *storage,
			      const json_t *value, int flags,
			      struct tern_error *err);
int vm_config_section_logger(struct vm_config *config,
			     struct vm_config_storage *storage,
			     const json_t *value, int flags,
			     struct tern_error *err);
int vm_config_section_metrics(struct vm_config *config,
			      struct vm_config_storage *storage,
			      const json_t *value, int flags,
			      struct tern_error *err);
int vm_config_section_entropy(struct vm_config *config,
			      struct vm_config_storage *storage,
			      const json_t *value, int flags,
			      struct tern_error *err);
int vm_config_section_vsock(struct vm_config *config,
			    struct vm_config_storage *storage,
			    const json_t *value, int flags,
			    struct tern_error *err);
int vm_config_section_nets(struct vm_config *config,
			   struct vm_config_storage *storage,
			   const json_t *value, int flags,
			   struct tern_error *err);
int vm_config_section_drives(struct vm_config *config,
			     struct vm_config_storage *storage,
			     const json_t *value, int flags,
			     struct tern_error *err);
int vm_config_section_pmem(struct vm_config *config,
			   struct vm_config_storage *storage,
			   const json_t *value, int flags,
			   struct tern_error *err);
int vm_config_section_balloon(struct vm_config *config,
			      struct vm_config_storage *storage,
			      const json_t *value, int flags,
			      struct tern_error *err);
int vm_config_section_memory_hotplug(struct vm_config *config,
				     struct vm_config_storage *storage,
				     const json_t *value, int flags,
				     struct tern_error *err);
int vm_config_section_mmds(struct vm_config *config,
			   struct vm_config_storage *storage,
			   const json_t *value, int flags,
			   struct tern_error *err);
int vm_config_section_cpu_config(struct vm_config *config,
				 struct vm_config_storage *storage,
				 const json_t *value, int flags,
				 struct tern_error *err);
int vm_config_section_tern(struct vm_config *config,
			   struct vm_config_storage *storage,
			   const json_t *value, int flags,
			   struct tern_error *err);
int vm_config_section_balloon_fits(const struct vm_config *config,
				   struct tern_error *err);

/* The largest config file tern reads. */
#define VM_CONFIG_FILE_MAX (1 << 20)

/* A whole document (the config file, PUT /vm/config, ternd's
 * definitions): config/config_sections.c. */
int vm_config_json_apply_document(struct vm_config *config,
				  struct vm_config_storage *storage,
				  const json_t *doc, struct tern_error *err);
/* PUT (partial = 0: vcpu_count and mem_size_mib required, the rest back to
 * defaults) or PATCH (partial = 1) /machine-config. */
int vm_config_json_apply_machine(struct vm_config *config,
				 struct vm_config_storage *storage,
				 const json_t *body, int partial,
				 struct tern_error *err);
int vm_config_json_apply_boot_source(struct vm_config *config,
				     struct vm_config_storage *storage,
				     const json_t *body,
				     struct tern_error *err);
int vm_config_json_apply_logger(struct vm_config *config,
				struct vm_config_storage *storage,
				const json_t *body, struct tern_error *err);
int vm_config_json_apply_metrics(struct vm_config *config,
				 struct vm_config_storage *storage,
				 const json_t *body, struct tern_error *err);
/* PUT /serial {"serial_out_path": PATH}: the console goes to PATH. */
int vm_config_json_apply_serial(struct vm_config *config,
				struct vm_config_storage *storage,
				const json_t *body, struct tern_error *err);

/* PUT /entropy: tern's virtio-rng device (the same as --rng). */
int vm_config_json_apply_entropy(struct vm_config *config,
				 struct vm_config_storage *storage,
				 const json_t *body, struct tern_error *err);

/* PUT /mmds/config: which interfaces serve the MMDS (each an existing
 * iface_id), its IPv4 address (link-local; default 169.254.169.254), its
 * version (V1, the default, or V2) and imds_compat. */
int vm_config_json_apply_mmds(struct vm_config *config,
			      struct vm_config_storage *storage,
			      const json_t *body, struct tern_error *err);
/* The mmds-config section (null when the MMDS is not configured). */
json_t *vm_config_json_export_mmds(const struct vm_config *config);

/* PUT /drives/{id}: a virtio-blk disk (the same as --disk); a known
 * drive_id replaces that disk. */
/* PUT /pmem/{id}: one virtio-pmem device (a known id is replaced; the
 * file must be there). */
int vm_config_json_apply_pmem(struct vm_config *config,
			      struct vm_config_storage *storage,
			      const json_t *body, struct tern_error *err);
int vm_config_json_apply_drive(struct vm_config *config,
			       struct vm_config_storage *storage,
			       const json_t *body, struct tern_error *err);

/* PUT /network-interfaces/{id}: a virtio-net interface (the same as
 * --net); a known iface_id replaces that interface. */
int vm_config_json_apply_net(struct vm_config *config,
			     struct vm_config_storage *storage,
			     const json_t *body, struct tern_error *err);

/* PUT /vsock: the virtio-vsock device (the same as --vsock). */
int vm_config_json_apply_vsock(struct vm_config *config,
			       struct vm_config_storage *storage,
			       const json_t *body, struct tern_error *err);

/* PUT /balloon: tern's virtio-balloon (the same as --balloon). */
int vm_config_json_apply_balloon(struct vm_config *config,
				 struct vm_config_storage *storage,
				 const json_t *body, struct tern_error *err);

/* PUT /hotplug/memory: the virtio-mem device's hotpluggable memory (the
 * same as --memory-hotplug); a second PUT replaces the first. */
int vm_config_json_apply_memory_hotplug(struct vm_config *config,
					struct vm_config_storage *storage,
					const json_t *body,
					struct tern_error *err);

/* PUT /cpu-config: Firecracker's custom CPU template (config/cpu_config_json.h)
 * and tern's "template": NAME, the template the modifiers apply on top of
 * (absent: host, as in Firecracker, where the last of a static and a custom
 * template wins). */
int vm_config_json_apply_cpu_config(struct vm_config *config,
				    struct vm_config_storage *storage,
				    const json_t *body, struct tern_error *err);

/* Reads, parses and applies a config file (config/config_sections.c). */
int vm_config_json_load_file(struct vm_config *config,
			     struct vm_config_storage *storage,
			     const char *path, struct tern_error *err);

/* New references; NULL only when out of memory. */
json_t *vm_config_json_export(const struct vm_config *config);

/* How much of tern shows in an exported document. */
enum vm_config_export_shape {
	/* Everything, the "tern" section whole: the snapshot's record. */
	VM_CONFIG_EXPORT_FULL,
	/* GET /vm/config of tern run: Firecracker's sections, and a "tern"
	 * section only with what differs from tern's defaults (the user
	 * asked for a tern extension), so a default VM validates against
	 * Firecracker's specification. */
	VM_CONFIG_EXPORT_API,
	/* GET /vm/config of tern firecracker: Firecracker's sections only. */
	VM_CONFIG_EXPORT_FIRECRACKER,
};

json_t *vm_config_json_export_shaped(const struct vm_config *config,
				     enum vm_config_export_shape shape);
json_t *vm_config_json_export_machine(const struct vm_config *config);
/* The "balloon" section: null when there is no balloon. */
json_t *vm_config_json_export_balloon(const struct vm_config *config);

#endif
