/* One VM object owns everything of one guest: the KVM VM, guest memory, the
 * buses and devices, the vCPUs, and why it stopped. */
#ifndef TERN_VM_VM_H
#define TERN_VM_VM_H

#include <stdatomic.h>

struct pci_bus;
struct vm_power_on_state;
struct vm_hotplug_slots;
struct uffd_backend;

#include "arch/x86/acpi/acpi_tables.h"
#include "cpu/vcpu.h"
#include "devices/io_bus.h"
#include "memory/guest_memory.h"
#include "util/error.h"
#include "util/log.h"
#include "virtio/virtio_mmio.h"
#include "vm/irq_routing.h"
#include "vm/kvm_system.h"
#include "vm/vm_config.h"
#include "vm/vm_sleep.h"

#define VM_MAX_VIRTIO_DEVICES 32
#define VM_DEVICE_ID_MAX 65 /* Firecracker's ids: up to 64 characters */

struct vm_virtio_entry {
	struct virtio_device *vdev;
	char id[VM_DEVICE_ID_MAX]; /* "rng0", or the drive's/interface's id */
};

/* KVM memory slot of the reset-vector ROM: after guest RAM's. */
#define VM_RESET_ROM_SLOT GUEST_MEMORY_MAX_REGIONS

enum vm_stop_reason {
	VM_STOP_NONE,
	/* reboot: i8042 reset line, ACPI reset register, port 0xcf9, a jump to
	 * the reset vector */
	VM_STOP_GUEST_RESET,
	VM_STOP_GUEST_POWEROFF, /* poweroff */
	VM_STOP_USER_QUIT, /* Ctrl-A x on the console */
	VM_STOP_SIGNAL, /* SIGINT, SIGTERM or SIGHUP to tern */
	VM_STOP_TRIPLE_FAULT, /* a reset too, as on a PC; logged with registers
			       */
	VM_STOP_INTERNAL_ERROR, /* KVM internal error or failed VM entry */
	VM_STOP_UNHANDLED_EXIT,
	VM_STOP_MIGRATED, /* the VM now runs in the migration's destination */
	VM_STOP_DEBUG_EXIT, /* a write to --debug-exit's port: debug_exit_value
			     */
	/* --on-reboot restart could not boot the VM again (kernel gone, ...) */
	VM_STOP_RESTART_FAILED,
};

struct vm {
	struct vm_config config;
	struct kvm_system kvm;
	int fd;
	struct guest_memory memory;
	/* The reset-vector ROM (LAYOUT_RESET_ROM_SIZE bytes) or, with
	 * --firmware, the firmware image; in slot VM_RESET_ROM_SLOT. */
	uint8_t *reset_rom;
	size_t reset_rom_size;
	struct device *fw_cfg;
	struct io_bus pio_bus;
	struct io_bus mmio_bus;
	/* config.cpu_count of them, on the heap: a VM_MAX_CPUS array here
	 * was 30 KiB of every VM, most of it for vCPUs it does not have. */
	struct vcpu *vcpus;
	int vcpu_count;

	struct irq_routing irq_routing; /* GSI routes: the one owner */
	/* --hyperv: who answers the hypercalls KVM passes to userspace
	 * (--hyperv-testdev; none: HV_STATUS_INVALID_HYPERCALL_CODE), and
	 * the limiter for what guests can repeat there. */
	struct hyperv_hcall_handler hyperv_hcall;
	struct log_ratelimit hyperv_log;
	struct pci_bus *pci_bus;
	/* virtio-mmio slots in use, for the DSDT and the command line */
	struct acpi_mmio_device virtio_mmio[VIRTIO_MMIO_MAX_DEVICES];
	int virtio_mmio_count;

	/* Every virtio device plugged, for metrics; the transports own
	 * them. */
	struct vm_virtio_entry virtio_devices[VM_MAX_VIRTIO_DEVICES];
	int virtio_device_count;

	/* --balloon's device, for run-time targets (API, console escape);
	 * owned by its transport like every virtio device. NULL: none. */
	struct virtio_device *balloon;
	/* The virtio-mem device (vm/vm_memory_hotplug.h), NULL: none; its
	 * KVM slots; where RAM and pmem end in guest physical addresses. */
	struct virtio_device *memory_hotplug;
	struct vm_hotplug_slots *hotplug_slots;
	uint64_t device_memory_end;

	struct device *serial;
	struct device *boot_marker;
	struct device *rtc; /* keeps its contents through a reset */
	/* --on-reboot restart: the vCPUs', interrupt controllers' and devices'
	 * state at creation, which a reset restores (vm/vm_reset.c). */
	struct vm_power_on_state *power_on;
	int serial_output_fd;
	int serial_output_owned;
	/* --serial unix:PATH (backends/serial_backend.h); NULL otherwise. */
	struct serial_backend *serial_backend;

	_Atomic int stop_reason;
	int stop_eventfd;
	int stop_signal; /* the signal behind VM_STOP_SIGNAL */
	_Atomic uint32_t debug_exit_value; /* behind VM_STOP_DEBUG_EXIT */

	/* Pause: vCPU threads park on pause_cond between two KVM_RUNs. */
	pthread_mutex_t pause_lock;
	pthread_cond_t pause_cond;
	_Atomic int pause_requested;
	int vcpus_running; /* threads alive, under pause_lock */
	int vcpus_parked; /* threads parked, under pause_lock */
	int paused; /* vm_pause() finished, under pause_lock */
	/* The kvmclock when the pause began; with KVM_CLOCK_REALTIME in its
	 * flags, realtime is the host's CLOCK_REALTIME then (ns). */
	struct kvm_clock_data paused_clock;
	/* A snapshot restore advances the kvmclock by the host's real time
	 * since the snapshotted VM's pause (clock_realtime). */
	int restore_clock_realtime;
	struct device *i8042;
	/* The power button (vm/vm_power_button.h): hardware-reduced ACPI's
	 * GED (owned here: it has no ports, so no bus holds it), or with
	 * --firmware full ACPI's PM1 device (owned by the port bus). */
	struct device *acpi_ged;
	struct device *acpi_pm1;
	/* Hardware-reduced ACPI's sleep and reset registers (owned by the
	 * port bus). */
	struct device *acpi_power;
	/* ACPI S3 (vm/vm_sleep.h): the vCPUs park while it is not awake. */
	struct vm_sleep sleep;
	/* KVM_MEM_LOG_DIRTY_PAGES is set on the memory slots: a snapshot was
	 * taken or restored, and a Diff snapshot may follow (src/snapshot). */
	int memory_dirty_log;
	/* Loaded with mem_backend Uffd (snapshot/uffd_backend.h): the
	 * userfaultfd and the handler's connection, NULL otherwise. */
	struct uffd_backend *uffd;
};

/* Opens KVM, creates the VM with its in-kernel interrupt controllers, guest
 * memory, the platform devices and the vCPUs. No guest code is loaded yet. */
int vm_create(struct vm *vm, const struct vm_config *config,
	      struct tern_error *err);

/* Writes the ACPI tables, loads the configured kernel, initrd and command
 * line, and points the boot vCPU at the kernel's entry. With --firmware:
 * copies the firmware's low part into RAM, and the boot vCPU stays at the
 * reset vector, where KVM creates it. */
int vm_load_kernel(struct vm *vm, struct tern_error *err);

/* Runs the guest until it stops; serves console input meanwhile. */
enum vm_stop_reason vm_run(struct vm *vm);

/* A guest reset by any path: the VM restarts or tern exits, as
 * config.on_reboot says. */
static inline int vm_stop_is_reset(enum vm_stop_reason reason)
{
	return reason == VM_STOP_GUEST_RESET || reason == VM_STOP_TRIPLE_FAULT;
}

/* The first reason given wins; later calls only wake the VM's loop. */
void vm_request_stop(struct vm *vm, enum vm_stop_reason reason);
int vm_stop_requested(struct vm *vm);

/* Stops every vCPU outside KVM_RUN and returns once all are parked (they
 * wait on a condition variable: no CPU use). The guest's kvmclock is read
 * here and written back by vm_resume(), so the guest sees no time pass while
 * paused. Called from the API thread. */
int vm_pause(struct vm *vm, struct tern_error *err);
int vm_resume(struct vm *vm, struct tern_error *err);

/* Before vm_run(): the vCPUs park before their first KVM_RUN and the VM
 * counts as paused until vm_resume() (a snapshot loaded without
 * resume_vm). */
void vm_set_start_paused(struct vm *vm);

/* For the vCPU threads (cpu/vcpu.c). A pause or an S3 sleep
 * (vm/vm_sleep.h) holds them at the pause point. */
int vm_pause_requested(struct vm *vm);
void vm_vcpu_pause_point(struct vm *vm, struct vcpu *vcpu);
void vm_vcpu_thread_started(struct vm *vm);
void vm_vcpu_thread_exited(struct vm *vm);

void vm_destroy(struct vm *vm);

#endif
