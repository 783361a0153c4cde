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

/* The largest config file tern reads. */
#define VM_CONFIG_FILE_MAX (1 << 20)

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
 * file must be there). _record: the same from a snapshot's configuration,
 * whose file need not exist on this host. */
int vm_config_json_apply_pmem(struct vm_config *config,
			      struct vm_config_storage *storage,
			      const json_t *body, struct tern_error *err);
int vm_config_json_apply_pmem_record(struct vm_config *config,
				     struct vm_config_storage *storage,
				     const json_t *body,
				     struct tern_error *err);
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

/* Reads, parses and applies a config file. */
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
