/* One VM object owns everything of one guest: the KVM VM, guest memory, the
 * buses and devices, the vCPUs, and why it stopped. */
#ifndef TERN_VM_VM_H
#define TERN_VM_VM_H

#include <stdatomic.h>

struct pci_bus;

#include "arch/x86/acpi/acpi_tables.h"
#include "cpu/vcpu.h"
#include "devices/io_bus.h"
#include "memory/guest_memory.h"
#include "util/error.h"
#include "virtio/virtio_mmio.h"
#include "vm/irq_routing.h"
#include "vm/kvm_system.h"
#include "vm/vm_config.h"

enum vm_stop_reason {
	VM_STOP_NONE,
	VM_STOP_GUEST_RESET, /* reboot: i8042 reset line */
	VM_STOP_GUEST_POWEROFF, /* poweroff */
	VM_STOP_USER_QUIT, /* Ctrl-A x on the console */
	VM_STOP_SIGNAL, /* SIGINT, SIGTERM or SIGHUP to tern */
	VM_STOP_TRIPLE_FAULT,
	VM_STOP_INTERNAL_ERROR, /* KVM internal error or failed VM entry */
	VM_STOP_UNHANDLED_EXIT,
};

struct vm {
	struct vm_config config;
	struct kvm_system kvm;
	int fd;
	struct guest_memory memory;
	struct io_bus pio_bus;
	struct io_bus mmio_bus;
	struct vcpu vcpus[VM_MAX_CPUS];
	int vcpu_count;

	struct irq_routing irq_routing; /* GSI routes: the one owner */
	struct pci_bus *pci_bus;
	/* virtio-mmio slots in use, for the DSDT and the command line */
	struct acpi_mmio_device virtio_mmio[VIRTIO_MMIO_MAX_DEVICES];
	int virtio_mmio_count;

	struct device *serial;
	struct device *boot_marker;
	int serial_output_fd;
	int serial_output_owned;

	_Atomic int stop_reason;
	int stop_eventfd;
	int stop_signal; /* the signal behind VM_STOP_SIGNAL */
};

/* Opens KVM, creates the VM with its in-kernel interrupt controllers, guest
 * memory, the platform devices and the vCPUs. No guest code is loaded yet. */
int vm_create(struct vm *vm, const struct vm_config *config,
	      struct tern_error *err);

/* Writes the ACPI tables, loads the configured kernel, initrd and command
 * line, and points the boot vCPU at the kernel's entry. */
int vm_load_kernel(struct vm *vm, struct tern_error *err);

/* Runs the guest until it stops; serves console input meanwhile. */
enum vm_stop_reason vm_run(struct vm *vm);

/* The first reason given wins; later calls only wake the VM's loop. */
void vm_request_stop(struct vm *vm, enum vm_stop_reason reason);
int vm_stop_requested(struct vm *vm);

void vm_destroy(struct vm *vm);

#endif
