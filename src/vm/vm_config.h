/* The checked configuration of one VM. The command line (and later the API
 * and the config file) produce it; the VM core trusts it. */
#ifndef TERN_VM_VM_CONFIG_H
#define TERN_VM_VM_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cpu/cpuid.h"
#include "util/rate_limiter.h"
#include "vm/vm_disk_config.h"

/* Interfaces one VM may have (each is one PCI function). */
#define VM_MAX_NETS 8

/* One virtio-net interface on a host tap (--net). */
#define VM_NET_ID_MAX 64 /* Firecracker's iface_id */

struct vm_net_config {
	char id[VM_NET_ID_MAX + 1]; /* iface_id; --net: net0, net1, ... */
	char tap_name[16]; /* IFNAMSIZ, checked like the kernel does */
	uint8_t mac[6];
	int mac_given; /* mac= was on the command line, not derived */
	/* Firecracker's mtu: offered to the guest (VIRTIO_NET_F_MTU); 0: not
	 * offered, the guest picks its own. */
	uint16_t mtu;
	/* Firecracker's rx_rate_limiter / tx_rate_limiter: frames the guest
	 * receives / sends; all zero: no limit. */
	struct rate_limiter_config rx_rate_limiter;
	struct rate_limiter_config tx_rate_limiter;
};

enum serial_mode {
	SERIAL_MODE_STDIO,
	SERIAL_MODE_FILE,
	SERIAL_MODE_NONE,
	SERIAL_MODE_UNIX, /* a Unix socket tern listens on */
};

enum virtio_transport {
	VIRTIO_TRANSPORT_AUTO, /* PCI, or MMIO when the cmdline has pci=off */
	VIRTIO_TRANSPORT_PCI,
	VIRTIO_TRANSPORT_MMIO,
};

/* --on-reboot: what a guest reset (any of a PC's reset paths, or a triple
 * fault) does. */
enum vm_reboot_action {
	VM_REBOOT_EXIT, /* tern exits with status 0 */
	VM_REBOOT_RESTART, /* the VM boots its kernel again, same process */
};

/* --acpi (see vm_config_full_acpi()). */
enum vm_acpi_mode {
	VM_ACPI_DEFAULT, /* full with --firmware, else reduced */
	VM_ACPI_REDUCED,
	VM_ACPI_FULL,
};

/* Firecracker's mmds-config: which interfaces answer MMDS requests, at
 * which address, with which MMDS version (src/mmds). */
struct vm_mmds_config {
	int enabled; /* configured: at least one interface */
	char ifaces[VM_MAX_NETS][VM_NET_ID_MAX + 1]; /* iface_ids */
	int iface_count;
	uint32_t ipv4; /* network byte order; link-local */
	int version; /* enum mmds_version: 1 or 2 */
	int imds_compat;
};

struct mmds_store;

/* --balloon: a virtio-balloon device. */
struct vm_balloon_config {
	int enabled;
	uint64_t target_bytes; /* size=: initial target, < memory_size */
	int deflate_on_oom; /* deflate-on-oom */
	uint32_t stats_interval_s; /* stats=SECONDS; 0: no statistics */
	int free_page_reporting; /* free-page-reporting */
	int free_page_hinting; /* free-page-hinting */
};

/* A Multiboot module after the initrd (--module PATH[,STRING]). */
#define VM_MAX_MODULES 16

struct vm_module_config {
	/* The option's text: the path is its first path_len bytes (up to
	 * the comma), the module's string the rest after the comma. */
	const char *spec;
	size_t path_len;
	const char *string; /* NULL: no comma; the string is the path */
};

/* Firecracker's machine-config.huge_pages. None and Transparent both run
 * on anonymous RAM with transparent huge pages asked for (tern's way since
 * before the field); 2M puts RAM on the host's 2 MiB hugetlbfs pool. */
enum vm_huge_pages {
	VM_HUGE_PAGES_NONE,
	VM_HUGE_PAGES_TRANSPARENT,
	VM_HUGE_PAGES_2M,
};

/* Firecracker's pmem devices (PUT /pmem/{id}): a host file shown to the
 * guest as persistent memory through virtio-pmem (virtio/virtio_pmem.h). */
#define VM_MAX_PMEM 4
struct vm_pmem_config {
	char id[VM_DISK_ID_MAX + 1];
	/* Owned like a disk's path (vm_disk_config.h). */
	char *path;
	bool root; /* root=/dev/pmem0 on a command line that names no root */
	bool readonly; /* mapped read-only; the guest's writes are dropped */
	/* Firecracker's pmem rate_limiter: each flush costs one op and the
	 * file's size in bytes. */
	struct rate_limiter_config rate_limiter;
};

/* Firecracker's memory-hotplug (PUT /hotplug/memory, --memory-hotplug):
 * a virtio-mem device (virtio/virtio_mem.h) with total_bytes of
 * hotpluggable memory; total_bytes 0: none. */
struct vm_memory_hotplug_config {
	uint64_t total_bytes;
	uint64_t slot_bytes; /* default 128 MiB */
	uint64_t block_bytes; /* default 2 MiB */
};

struct vm_config {
	const char *kvm_path;
	uint64_t memory_size;
	enum vm_huge_pages huge_pages; /* --huge-pages */
	int cpu_count;
	const char *kernel_path;
	/* --firmware: a PC BIOS image booted instead of a kernel (no kernel,
	 * initrd, modules or command line then); NULL: none. */
	const char *firmware_path;
	const char *initrd_path; /* NULL: none */
	struct vm_module_config modules[VM_MAX_MODULES]; /* --module */
	int module_count;
	const char *cmdline;
	enum serial_mode serial_mode;
	const char *serial_path; /* SERIAL_MODE_FILE and _UNIX only */
	/* SERIAL_MODE_FILE: the most bytes of guest output written to the
	 * file; 0 is the default (SERIAL_FILE_LIMIT_DEFAULT), UINT64_MAX no
	 * limit. Command line only (--serial-file-limit). */
	uint64_t serial_file_limit;
	/* Firecracker's serial.rate_limiter: guest output beyond it is
	 * dropped (and counted), as Firecracker does; zero: no limit. */
	struct token_bucket_config serial_rate_limiter;
	/* --allow-block-devices: a disk may be a host block device; without
	 * it only regular files. The operator's choice on the command line,
	 * never the config file's or the API's. */
	int allow_block_devices;
	/* Started as `firecracker`: a drive that names no cache_type is
	 * Unsafe, Firecracker's default (run as writeback with flushes
	 * honoured all the same: block_file.h); tern's own is Writeback. */
	int drive_cache_unsafe_by_default;
	const struct cpu_template *cpu_template;
	/* Firecracker's custom CPU template (cpu-config), applied after
	 * cpu_template; NULL: none. Owned by the configuration's storage. */
	const struct cpu_custom_template *cpu_custom;
	struct vm_disk_config disks[VM_MAX_DISKS]; /* --disk, in order */
	int disk_count;
	struct vm_net_config nets[VM_MAX_NETS];
	int net_count;
	int virtio_rng; /* --rng: a virtio-rng device */
	/* Firecracker's entropy.rate_limiter on the virtio-rng's requests. */
	struct rate_limiter_config rng_rate_limiter;
	enum virtio_transport virtio_transport; /* --transport */
	uint64_t vsock_cid; /* --vsock cid=: 0 means no vsock device */
	char vsock_socket_path[108]; /* --vsock socket= (a sun_path) */
	struct vm_balloon_config balloon;
	struct vm_pmem_config pmems[VM_MAX_PMEM]; /* in order: /dev/pmem0.. */
	int pmem_count;
	struct vm_memory_hotplug_config memory_hotplug;
	/* --debug-exit[=PORT]: QEMU's isa-debug-exit on this port; 0: none */
	uint16_t debug_exit_port;
	/* --pc-testdev: QEMU's pc-testdev for kvm-unit-tests
	 * (devices/pc_testdev.h) */
	int pc_testdev;
	/* machine-config.kvm_hyperv (--hyperv): Hyper-V enlightenments
	 * (cpu/hyperv.h); off by default. */
	int kvm_hyperv;
	/* --hyperv-testdev: QEMU's hyperv-testdev for kvm-unit-tests
	 * (devices/hyperv_testdev.h); needs kvm_hyperv. */
	int hyperv_testdev;
	enum vm_reboot_action on_reboot; /* --on-reboot */
	/* --acpi: which ACPI the tables describe (vm_config_full_acpi()). */
	enum vm_acpi_mode acpi_mode;
	/* Firecracker's machine-config.smt: two threads per core in the
	 * guest's topology (cpu/cpuid.c). track_dirty_pages: recorded and
	 * reported (docs/api.md says what it changes in tern). */
	int smt;
	int track_dirty_pages;
	struct vm_mmds_config mmds;
	/* --mmds-size-limit: the most bytes the MMDS data store may hold
	 * (its compact JSON text); 0: the API's body limit, as Firecracker. */
	uint64_t mmds_size_limit;
	/* Not configuration: the instance's MMDS data store, which the VM's
	 * MMDS interfaces serve; NULL: none. It outlives the VM. */
	struct mmds_store *mmds_store;

	/* Control plane: the same document (config file, GET /vm/config)
	 * carries where logs and metrics go. */
	int log_level; /* enum log_level */
	const char *log_path; /* NULL: stderr */
	int log_show_level;
	int log_show_origin;
	const char *log_module; /* only events of this module; NULL: all */
	const char *metrics_path; /* NULL: no JSON metrics file */
	int metrics_emit_id; /* each metrics line carries the instance id */
	/* Firecracker's metrics.properties: a JSON object of strings, compact
	 * text, copied into each metrics line; NULL: none. */
	const char *metrics_properties;
};

/* vm/vm_legacy_pic.h: a kernel command line with noapic or acpi=off. */
bool vm_config_guest_uses_pic(const struct vm_config *config);

/* A configuration owns its disks' and pmem devices' paths (heap strings
 * sized to their content: a PATH_MAX array per slot made each copy of the
 * configuration 85 KiB, resident for the VM's life). Every slot's path is
 * NULL or owned, also past disk_count and pmem_count. So a struct
 * assignment would share them: copy with vm_config_copy(), hand over with
 * vm_config_move(), free with vm_config_release(). */
/* dst gets its own copy of src; 0, or -ENOMEM with dst holding nothing to
 * release. dst's previous strings are not freed. */
int vm_config_copy(struct vm_config *dst, const struct vm_config *src);
/* *dst = *src, and src no longer owns the strings. */
void vm_config_move(struct vm_config *dst, struct vm_config *src);
/* Frees the owned strings (the rest of the struct is left as it is). */
void vm_config_release(struct vm_config *config);
/* A copy of path for a disk or pmem slot: NULL when path is PATH_MAX
 * bytes or longer (errno ENAMETOOLONG) or memory ran out (ENOMEM). */
char *vm_config_path_dup(const char *path);

/* Full ACPI (PM1 event and control blocks, an 8259 PIC the OS must mask:
 * devices/acpi_pm1.h) or hardware-reduced ACPI (GED, sleep registers), as
 * QEMU's pc and microvm machines. A firmware VM is always full: a BIOS
 * programs the PIC. A direct kernel boot is reduced unless --acpi full
 * (kvm-unit-tests' s3 test reads the PM1 blocks from the FADT), or unless
 * its command line has noapic and --acpi is not given: Linux sets up the
 * PIC only when the FADT is not hardware-reduced (vm/vm_legacy_pic.h). */
static inline int vm_config_full_acpi(const struct vm_config *c)
{
	return c->firmware_path != NULL || c->acpi_mode == VM_ACPI_FULL ||
		(c->acpi_mode == VM_ACPI_DEFAULT &&
		 vm_config_guest_uses_pic(c));
}

#define SERIAL_FILE_LIMIT_DEFAULT (256ULL << 20)

static inline uint64_t vm_config_serial_file_limit(const struct vm_config *c)
{
	if (!c->serial_file_limit)
		return SERIAL_FILE_LIMIT_DEFAULT;
	return c->serial_file_limit == UINT64_MAX ? 0 : c->serial_file_limit;
}

#define VM_MIN_MEMORY (64ULL << 20)
/* 8-bit xAPIC IDs in the MADT bound the vCPU count; KVM's own limit may
 * be lower and is checked too. */
#define VM_MAX_CPUS 64

#endif
