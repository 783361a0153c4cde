#include "fuzz_vm.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arch/x86/acpi/acpi_tables.h"
#include "arch/x86/layout.h"
#include "config/config_check.h"
#include "devices/acpi_power.h"
#include "devices/boot_marker.h"
#include "devices/cmos_rtc.h"
#include "devices/i8042.h"
#include "devices/pci/pci_bus.h"
#include "devices/serial_8250.h"
#include "snapshot/config_state.h"
#include "snapshot/device_state.h"
#include "snapshot/snapshot_sections.h"
#include "snapshot/vm_state.h"
#include "util/log.h"
#include "virtio/virtio_balloon.h"
#include "virtio/virtio_blk.h"
#include "virtio/virtio_rng.h"
#include "virtio/virtio_vsock.h"
#include "vm/vm_virtio.h"

#define RAM_SIZE (64ull << 20)
#define GUEST_CID 3

static char image_path[64], vsock_path[64];

static void remove_files(void)
{
	unlink(image_path);
	unlink(vsock_path);
}

static void no_irq(void *opaque, unsigned gsi, int level)
{
}

static void no_event(void *opaque)
{
}

static void fixed_now(struct timespec *ts)
{
	ts->tv_sec = 1700000000;
	ts->tv_nsec = 0;
}

static void must(int ret, const char *what, const struct tern_error *err)
{
	if (ret) {
		fprintf(stderr, "fuzz_vm: %s: %s\n", what,
			err ? err->message : strerror(-ret));
		abort();
	}
}

static void add_platform(struct vm *vm)
{
	static const struct irq_line com1 = {no_irq, NULL, SERIAL_COM1_GSI};
	static const struct irq_line kbd = {no_irq, NULL, I8042_KEYBOARD_GSI};
	static const struct acpi_power_events power = {
		.poweroff = no_event, .reset = no_event}; /* S3 ignored */

	vm->serial = serial_8250_create(&com1, -1);
	must(io_bus_register(&vm->pio_bus, SERIAL_COM1_PORT, SERIAL_PORT_COUNT,
			     vm->serial),
	     "serial", NULL);
	must(io_bus_register(&vm->pio_bus, I8042_DATA_PORT, I8042_PORT_SPAN,
			     i8042_create(no_event, NULL, &kbd)),
	     "i8042", NULL);
	must(io_bus_register(&vm->pio_bus, CMOS_RTC_PORT, CMOS_RTC_PORT_COUNT,
			     cmos_rtc_create(fixed_now, NULL)),
	     "rtc", NULL);
	must(io_bus_register(&vm->pio_bus, ACPI_SLEEP_CONTROL_PORT,
			     ACPI_POWER_PORT_COUNT, acpi_power_create(&power)),
	     "acpi", NULL);
	vm->boot_marker = boot_marker_create();
	must(io_bus_register(&vm->pio_bus, TERN_BOOT_MARKER_PORT, 1,
			     vm->boot_marker),
	     "boot marker", NULL);
}

static void add_virtio(struct vm *vm)
{
	struct virtio_balloon_options balloon = {.stats_interval_s = 1,
						 .free_page_reporting = true};
	struct virtio_blk_options blk = {.path = image_path, .id = "disk0"};
	struct tern_error err = {{0}};
	struct virtio_device *vdev;
	int fd;

	snprintf(image_path, sizeof(image_path), "/dev/shm/tern-fuzz-vm-%d",
		 (int)getpid());
	snprintf(vsock_path, sizeof(vsock_path), "/tmp/tern-fuzz-vm-%d.sock",
		 (int)getpid());
	fd = open(image_path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || ftruncate(fd, 1 << 20))
		abort();
	close(fd);
	atexit(remove_files);

	vm->config.virtio_transport = VIRTIO_TRANSPORT_PCI;
	must(vm_add_virtio_device(vm, virtio_rng_create(), &err), "rng", &err);
	vm->balloon = virtio_balloon_create(&balloon);
	must(vm_add_virtio_device(vm, vm->balloon, &err), "balloon", &err);
	must(virtio_blk_create(&blk, &vdev, &err), "blk", &err);
	must(vm_add_virtio_device_id(vm, vdev, "disk0", &err), "blk", &err);
	vm->config.virtio_transport = VIRTIO_TRANSPORT_MMIO;
	must(virtio_vsock_create(GUEST_CID, vsock_path, &vdev, &err), "vsock",
	     &err);
	must(vm_add_virtio_device(vm, vdev, &err), "vsock", &err);
	vm->config.vsock_cid = GUEST_CID;
	snprintf(vm->config.vsock_socket_path,
		 sizeof(vm->config.vsock_socket_path), "%s", vsock_path);
	vm->config.virtio_rng = 1;
	vm->config.balloon.enabled = 1;
	vm->config.balloon.stats_interval_s = 1;
	vm->config.balloon.free_page_reporting = 1;
}

struct vm *fuzz_vm_get(void)
{
	static struct vm *vm;

	if (vm)
		return vm;
	log_set_level(LOG_OFF);
	signal(SIGPIPE, SIG_IGN);
	vm = calloc(1, sizeof(*vm));
	if (!vm)
		abort();
	vm_config_set_defaults(&vm->config);
	vm->config.memory_size = RAM_SIZE;
	vm->fd = -1;
	/* One vCPU without a KVM fd: its state sections are checked, and
	 * the ioctls that would apply them fail with EBADF. */
	vm->vcpu_count = 1;
	vm->vcpus = calloc(1, sizeof(*vm->vcpus));
	if (!vm->vcpus)
		abort();
	vm->vcpus[0] = (struct vcpu){.vm = vm, .index = 0, .fd = -1};
	vm->serial_output_fd = -1;
	vm->stop_eventfd = -1;
	must(guest_memory_init(&vm->memory, RAM_SIZE), "memory", NULL);
	must(irq_routing_init(&vm->irq_routing, -1), "irq routing", NULL);
	add_platform(vm);
	vm->pci_bus = pci_bus_create();
	if (!vm->pci_bus)
		abort();
	must(pci_bus_attach(vm->pci_bus, &vm->pio_bus, &vm->mmio_bus), "pci",
	     NULL);
	add_virtio(vm);
	return vm;
}

int fuzz_vm_save(struct vm *vm, struct state_file *sf)
{
	struct snap_vm_meta meta = {0};
	struct tern_error err = {{0}};
	int ret;

	meta.vcpu_count = (uint32_t)vm->vcpu_count;
	meta.memory_size = vm->memory.ram_size;
	meta.region_count = (uint32_t)vm->memory.region_count;
	for (int i = 0; i < vm->memory.region_count; i++) {
		meta.region_gpa[i] = vm->memory.regions[i].gpa;
		meta.region_size[i] = vm->memory.regions[i].size;
	}
	ret = state_file_add(sf, SNAP_VM_META, "vm.meta", &meta, sizeof(meta),
			     &err);
	if (!ret) {
		/* What an empty CPUID list looks like (no features to
		 * compare with this host's). */
		struct kvm_cpuid2 cpuid = {0};

		ret = state_file_add(sf, snap_vcpu_id(0, SNAP_VCPU_CPUID),
				     "vcpu0.cpuid", &cpuid, sizeof(cpuid),
				     &err);
	}
	if (!ret)
		ret = config_state_save(&vm->config, sf, &err);
	if (!ret)
		ret = device_state_save(vm, sf, &err);
	if (ret)
		fprintf(stderr, "fuzz_vm_save: %s\n", err.message);
	return ret;
}

void fuzz_write_file(const char *path, const void *buf, size_t len)
{
	FILE *f = fopen(path, "wb");

	if (!f || fwrite(buf, 1, len, f) != len || fclose(f)) {
		perror(path);
		exit(1);
	}
}
