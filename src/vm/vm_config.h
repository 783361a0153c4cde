/* The checked configuration of one VM. The command line (and later the API
 * and the config file) produce it; the VM core trusts it. */
#ifndef TERN_VM_VM_CONFIG_H
#define TERN_VM_VM_CONFIG_H

#include <stdint.h>

#include "cpu/cpuid.h"
#include "vm/vm_disk_config.h"

/* Interfaces one VM may have (each is one PCI function). */
#define VM_MAX_NETS 8

/* One virtio-net interface on a host tap (--net). */
struct vm_net_config {
	char tap_name[16]; /* IFNAMSIZ, checked like the kernel does */
	uint8_t mac[6];
	int mac_given; /* mac= was on the command line, not derived */
};

enum serial_mode {
	SERIAL_MODE_STDIO,
	SERIAL_MODE_FILE,
	SERIAL_MODE_NONE,
};

enum virtio_transport {
	VIRTIO_TRANSPORT_AUTO, /* PCI, or MMIO when the cmdline has pci=off */
	VIRTIO_TRANSPORT_PCI,
	VIRTIO_TRANSPORT_MMIO,
};

struct vm_config {
	const char *kvm_path;
	uint64_t memory_size;
	int cpu_count;
	const char *kernel_path;
	const char *initrd_path; /* NULL: none */
	const char *cmdline;
	enum serial_mode serial_mode;
	const char *serial_path; /* SERIAL_MODE_FILE only */
	const struct cpu_template *cpu_template;
	struct vm_disk_config disks[VM_MAX_DISKS]; /* --disk, in order */
	int disk_count;
	struct vm_net_config nets[VM_MAX_NETS];
	int net_count;
	int virtio_rng; /* --rng: a virtio-rng device */
	enum virtio_transport virtio_transport; /* --transport */
};

#define VM_MIN_MEMORY (64ULL << 20)
/* 8-bit xAPIC IDs in the MADT bound the vCPU count; KVM's own limit may
 * be lower and is checked too. */
#define VM_MAX_CPUS 64

#endif
