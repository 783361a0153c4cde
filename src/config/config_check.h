/* The checks every spelling of a VM configuration goes through: the command
 * line, the config file and the API call the same functions, so a value is
 * accepted or refused (with the same reason) whichever way it comes. `field`
 * names the value the way its spelling does ("--cpus",
 * "machine-config.vcpu_count"), so the message points at what to fix. */
#ifndef TERN_CONFIG_CONFIG_CHECK_H
#define TERN_CONFIG_CONFIG_CHECK_H

#include <stdint.h>

#include "util/error.h"
#include "vm/vm_config.h"

#define VM_CONFIG_DEFAULT_MEMORY (256ULL << 20)
/* reboot=k: the i8042 reset is the path tern turns into a clean exit. */
#define VM_CONFIG_DEFAULT_CMDLINE "console=ttyS0 reboot=k"

/* tern's defaults: 1 vCPU, 256 MiB, stdio serial, host template, ... */
void vm_config_set_defaults(struct vm_config *config);

int config_check_cpu_count(const char *field, long long value,
			   struct tern_error *err);
/* `shown` is the value as the user wrote it, for the message. */
int config_check_memory(const char *field, uint64_t bytes, const char *shown,
			struct tern_error *err);
/* stdio, none or file:PATH; on success sets serial_mode and serial_path
 * (pointing into text). */
int config_parse_serial(const char *field, const char *text,
			struct vm_config *config, struct tern_error *err);
/* pci, mmio, or auto (MMIO when the command line has pci=off). */
int config_parse_transport(const char *field, const char *text,
			   enum virtio_transport *transport,
			   struct tern_error *err);
const char *config_transport_name(enum virtio_transport transport);
/* exit or restart (--on-reboot, tern.on_reboot). */
int config_parse_on_reboot(const char *field, const char *text,
			   enum vm_reboot_action *action,
			   struct tern_error *err);
const char *config_on_reboot_name(enum vm_reboot_action action);
/* full or reduced (--acpi). */
int config_parse_acpi_mode(const char *field, const char *text,
			   enum vm_acpi_mode *mode, struct tern_error *err);
int config_find_cpu_template(const char *field, const char *name,
			     const struct cpu_template **tmpl,
			     struct tern_error *err);
int config_parse_log_level(const char *field, const char *text, int *level,
			   struct tern_error *err);
/* A path that will be opened later must at least be non-empty and hold no
 * NUL or newline (it is logged). */
int config_check_path(const char *field, const char *path,
		      struct tern_error *err);
/* A file tern will read (a kernel, an initrd): checked as a path, then
 * opened for reading now and required to be a regular file. */
int config_check_input_file(const char *field, const char *path,
			    struct tern_error *err);
/* logger.module: a module path prefix such as "api" or "virtio::virtio_blk"
 * (see util/log.h). */
int config_check_log_module(const char *field, const char *module,
			    struct tern_error *err);
/* drives.partuuid: hex digits and hyphens, 1 to VM_DISK_PARTUUID_MAX. */
int config_check_partuuid(const char *field, const char *text,
			  struct tern_error *err);
/* Firecracker's name of a cache mode: Writeback, None (tern's O_DIRECT),
 * Unsafe. */
const char *config_disk_cache_name(enum block_cache_mode cache);

/* Huge pages (--huge-pages, machine-config.huge_pages): Firecracker's
 * names None, Transparent and 2M. Any but None needs guest RAM to be a
 * whole number of 2 MiB pages, checked once both are known. */
int config_parse_huge_pages(const char *field, const char *text,
			    enum vm_huge_pages *out, struct tern_error *err);
const char *config_huge_pages_name(enum vm_huge_pages huge_pages);
int config_check_huge_pages_fit(const struct vm_config *config,
				const char *memory_field,
				struct tern_error *err);

/* Balloon (--balloon, the document's "balloon", PUT /balloon): the target
 * is a whole number of the balloon's 4 KiB pages; statistics are asked for
 * every 0 (never) to 86400 seconds; the target stays below guest RAM, which
 * is checked once both are known (memory_field names the RAM size the way
 * the caller's spelling does). */
int config_check_balloon_target(const char *field, uint64_t bytes,
				const char *shown, struct tern_error *err);
int config_check_balloon_stats(const char *field, long long seconds,
			       const char *shown, struct tern_error *err);
int config_check_balloon_fits(const struct vm_config *config,
			      const char *balloon_field,
			      const char *memory_field, struct tern_error *err);

/* Disks (--disk, the document's "drives", PUT /drives/{id}). The id is
 * what the guest reads as the serial: 1 to VM_DISK_ID_MAX printable ASCII
 * characters without spaces. cache: writeback or none (any case);
 * engine: io_uring or threads, or Firecracker's Async and Sync. */
int config_check_disk_id(const char *field, const char *id,
			 struct tern_error *err);
int config_parse_disk_cache(const char *field, const char *text,
			    enum block_cache_mode *cache,
			    struct tern_error *err);
int config_parse_disk_engine(const char *field, const char *text,
			     enum block_engine *engine, struct tern_error *err);
/* Adds *disk to config->disks (where names the list: "--disk",
 * "drives"): the file must exist and not be another disk's, the id must be
 * new unless replace (PUT of an existing drive_id: that disk is replaced in
 * place), at most one root device, at most VM_MAX_DISKS, a path shorter
 * than PATH_MAX. The config gets its own copy of disk->path. */
int config_add_disk(const char *where, struct vm_config *config,
		    const struct vm_disk_config *disk, int replace,
		    struct tern_error *err);
/* Adds (or, with replace, replaces by id) a pmem device: ids unique, at
 * most VM_MAX_PMEM, one root device among pmem devices and drives. The
 * config gets its own copy of pmem->path. */
int config_add_pmem(const char *where, struct vm_config *config,
		    const struct vm_pmem_config *pmem, int replace,
		    struct tern_error *err);

/* Vsock (--vsock, the document's "vsock", PUT /vsock): the guest's CID is
 * 3 to 2^32-2; the Unix socket path must leave room for "_PORT" in a
 * sockaddr_un. */
int config_check_vsock_cid(const char *field, unsigned long long cid,
			   struct tern_error *err);
int config_check_vsock_path(const char *field, const char *path,
			    struct tern_error *err);

/* Network interfaces (--net, the document's "network-interfaces", PUT
 * /network-interfaces/{id}). A MAC is six hex pairs with colons, unicast
 * and not all zeros; a tap name is what the kernel takes as an interface
 * name. */
int config_parse_mac(const char *field, const char *text, uint8_t mac[6],
		     struct tern_error *err);
int config_check_tap_name(const char *field, const char *name,
			  struct tern_error *err);
/* Adds *net to config->nets (where: "--net", "network-interfaces"); a known
 * id is replaced in place when replace, else refused; then as
 * config_finish_nets(). */
int config_add_net(const char *where, struct vm_config *config,
		   const struct vm_net_config *net, int replace,
		   struct tern_error *err);
/* Gives each interface without a MAC of its own a stable one derived from
 * its tap name (52:54:00 plus a hash, locally administered), and refuses
 * an id, tap or MAC named twice. */
int config_finish_nets(const char *where, struct vm_config *config,
		       struct tern_error *err);

/* A firmware (--firmware, tern.firmware) goes with no kernel, initrd,
 * module or command line, and with the PCI transport. */
int config_check_firmware(const struct vm_config *config,
			  struct tern_error *err);

/* The configuration is complete enough to start a VM: a kernel or a
 * firmware, and config_check_firmware(). */
int config_check_bootable(const struct vm_config *config, const char *field,
			  struct tern_error *err);

#endif
