#include "vm/vm.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "arch/x86/bios_handover.h"
#include "arch/x86/boot/kernel_loader.h"
#include "arch/x86/firmware.h"
#include "arch/x86/layout.h"
#include "arch/x86/mptable.h"
#include "arch/x86/acpi/acpi_tables.h"
#include "arch/x86/reset_rom.h"
#include "arch/x86/vcpu_setup.h"
#include "backends/console_escape.h"
#include "backends/serial_backend.h"
#include "backends/terminal.h"
#include "config/config_check.h"
#include "devices/acpi_ged.h"
#include "devices/acpi_pm1.h"
#include "devices/acpi_power.h"
#include "devices/boot_marker.h"
#include "devices/cmos_rtc.h"
#include "devices/debug_console.h"
#include "devices/debug_exit.h"
#include "devices/pc_testdev.h"
#include "devices/fw_cfg.h"
#include "devices/i8042.h"
#include "devices/pci/pci_bus.h"
#include "devices/reset_port.h"
#include "devices/serial_8250.h"
#include "mmds/mmds_store.h"
#include "snapshot/uffd_backend.h"
#include "util/file_map.h"
#include "util/host_path.h"
#include "util/idle_memory.h"
#include "sandbox/seccomp.h"
#include "util/log.h"
#include "util/size.h"
#include "virtio/virtio_balloon.h"
#include "virtio/virtio_net.h"
#include "virtio/virtio_rng.h"
#include "virtio/virtio_vsock.h"
#include "vm/vm_disks.h"
#include "vm/vm_hyperv.h"
#include "vm/vm_legacy_pic.h"
#include "vm/vm_memory_hotplug.h"
#include "vm/vm_pmem.h"
#include "vm/vm_reset.h"
#include "vm/vm_virtio.h"

/* Three pages KVM needs for the real-mode TSS on Intel, and one for the
 * EPT identity map, placed just below the BIOS area at the top of the
 * 32-bit hole where no RAM or device lives (api.rst, KVM_SET_TSS_ADDR). */
#define KVM_TSS_GPA 0xfffbd000ULL
#define KVM_IDENTITY_MAP_GPA 0xfffbc000ULL

static int kvm_check_extension(int fd, int cap)
{
	return ioctl(fd, KVM_CHECK_EXTENSION, cap);
}

static int vm_ioctl_check(int ret, const char *what, struct tern_error *err)
{
	if (ret < 0)
		return tern_error_set(err, errno, "%s failed: %s", what,
				      strerror(errno));
	return 0;
}

static void kvm_set_irq_level(void *opaque, unsigned gsi, int level)
{
	struct vm *vm = opaque;
	struct kvm_irq_level irq = {.irq = gsi, .level = level};

	if (ioctl(vm->fd, KVM_IRQ_LINE, &irq) < 0)
		log_warn("KVM_IRQ_LINE gsi %u failed: %s", gsi,
			 strerror(errno));
}

/* Every way a PC resets ends here; the log says which one the guest took
 * (Linux's reboot= methods each use a different one). */
static void guest_reset(struct vm *vm, const char *how)
{
	log_info("guest reset: %s", how);
	vm_request_stop(vm, VM_STOP_GUEST_RESET);
}

static void reset_by_keyboard_controller(void *opaque)
{
	guest_reset(opaque, "i8042 reset line (keyboard controller)");
}

static void reset_by_acpi(void *opaque)
{
	guest_reset(opaque, "ACPI reset register");
}

static void reset_by_reset_control(void *opaque)
{
	guest_reset(opaque, "reset control register (port 0xcf9)");
}

static void reset_by_reset_vector(void *opaque)
{
	guest_reset(opaque, "jump to the reset vector");
}

static void request_guest_poweroff(void *opaque)
{
	vm_request_stop(opaque, VM_STOP_GUEST_POWEROFF);
}

/* The first write wins, like the first stop reason: a second vCPU's value
 * must not change the status of a VM already stopping. */
static void request_debug_exit(void *opaque, uint32_t value)
{
	struct vm *vm = opaque;

	if (vm_stop_requested(vm))
		return;
	atomic_store(&vm->debug_exit_value, value);
	vm_request_stop(vm, VM_STOP_DEBUG_EXIT);
}

static void host_utc_now(struct timespec *ts)
{
	clock_gettime(CLOCK_REALTIME, ts);
}

static int create_kvm_vm(struct vm *vm, struct tern_error *err)
{
	int ret;

	do {
		/* KVM_CREATE_VM can fail with EINTR while the kernel sets up
		 * the VM's MMU notifier (api.rst). */
		vm->fd = ioctl(vm->kvm.fd, KVM_CREATE_VM, 0);
	} while (vm->fd < 0 && errno == EINTR);
	if (vm->fd < 0)
		return tern_error_set(err, errno, "KVM_CREATE_VM failed: %s",
				      strerror(errno));

	/* A firmware image may reach far below 4 GiB: its real-mode pages go
	 * where QEMU puts them, reserved in the firmware's e820 map. */
	ret = vm_ioctl_check(ioctl(vm->fd, KVM_SET_TSS_ADDR,
				   vm->config.firmware_path
					   ? LAYOUT_FIRMWARE_KVM_TSS_GPA
					   : KVM_TSS_GPA),
			     "KVM_SET_TSS_ADDR", err);
	if (!ret) {
		uint64_t identity_map = vm->config.firmware_path
			? LAYOUT_FIRMWARE_KVM_IDENTITY_MAP_GPA
			: KVM_IDENTITY_MAP_GPA;

		ret = vm_ioctl_check(
			ioctl(vm->fd, KVM_SET_IDENTITY_MAP_ADDR, &identity_map),
			"KVM_SET_IDENTITY_MAP_ADDR", err);
	}
	if (!ret)
		ret = vm_ioctl_check(ioctl(vm->fd, KVM_CREATE_IRQCHIP, 0),
				     "KVM_CREATE_IRQCHIP", err);
	if (!ret) {
		struct kvm_pit_config pit = {.flags = 0};

		ret = vm_ioctl_check(ioctl(vm->fd, KVM_CREATE_PIT2, &pit),
				     "KVM_CREATE_PIT2", err);
	}
	return ret;
}

/* Checked before mapping so the refusal names both numbers; the mmap's own
 * reservation (guest_memory_init_backed) still closes the race with
 * another process taking pages in between. */
static int check_hugetlb_pool(uint64_t ram_size, struct tern_error *err)
{
	uint64_t needed = ram_size / GUEST_MEMORY_HUGE_PAGE_SIZE, available;
	int ret = guest_memory_hugetlb_available(GUEST_MEMORY_HUGETLB_SYSFS,
						 &available);

	if (ret)
		return tern_error_set(err, -ret,
				      "huge_pages 2M: cannot read the host's "
				      "2 MiB page pool (%s): %s",
				      GUEST_MEMORY_HUGETLB_SYSFS,
				      strerror(-ret));
	if (available < needed)
		return tern_error_set(
			err, ENOMEM,
			"huge_pages 2M: the host has %llu free 2 MiB "
			"hugetlbfs pages, the guest's %llu MiB need %llu "
			"(raise "
			"%s/nr_hugepages)",
			(unsigned long long)available,
			(unsigned long long)(ram_size >> 20),
			(unsigned long long)needed, GUEST_MEMORY_HUGETLB_SYSFS);
	return 0;
}

static int map_guest_memory(struct vm *vm, struct tern_error *err)
{
	bool hugetlb = vm->config.huge_pages == VM_HUGE_PAGES_2M;
	uint64_t hotplug = vm->config.memory_hotplug.total_bytes;
	int ret = hugetlb
		? check_hugetlb_pool(vm->config.memory_size + hotplug, err)
		: 0;

	if (ret)
		return ret;
	/* Hotpluggable memory is the mapping's tail (vm_memory_hotplug.c). */
	ret = guest_memory_init_hotplug(&vm->memory, vm->config.memory_size,
					hugetlb ? GUEST_MEMORY_HUGETLB_2M
						: GUEST_MEMORY_ANONYMOUS,
					hotplug);
	if (ret && hugetlb)
		return tern_error_set(
			err, -ret,
			"huge_pages 2M: cannot reserve %llu MiB of guest "
			"memory from the host's 2 MiB hugetlbfs pool: %s",
			(unsigned long long)(vm->config.memory_size >> 20),
			strerror(-ret));
	if (ret)
		return tern_error_set(
			err, -ret,
			"cannot reserve %llu MiB of guest memory: %s",
			(unsigned long long)(vm->config.memory_size >> 20),
			strerror(-ret));
	for (int i = 0; i < vm->memory.region_count; i++) {
		const struct guest_memory_region *region =
			&vm->memory.regions[i];
		struct kvm_userspace_memory_region slot = {
			.slot = (uint32_t)i,
			.guest_phys_addr = region->gpa,
			.memory_size = region->size,
			.userspace_addr = (uint64_t)(uintptr_t)region->hva,
		};

		if (ioctl(vm->fd, KVM_SET_USER_MEMORY_REGION, &slot) < 0)
			return tern_error_set(
				err, errno,
				"KVM refused guest memory at 0x%llx (%llu "
				"MiB): %s",
				(unsigned long long)region->gpa,
				(unsigned long long)(region->size >> 20),
				strerror(errno));
	}
	return 0;
}

static int open_serial_output(struct vm *vm, struct tern_error *err)
{
	vm->serial_output_fd = -1;
	switch (vm->config.serial_mode) {
	case SERIAL_MODE_STDIO:
		vm->serial_output_fd = STDOUT_FILENO;
		break;
	case SERIAL_MODE_FILE:
		vm->serial_output_fd = host_path_open_output(
			vm->config.serial_path, 0, 0644, "serial output", err);
		if (vm->serial_output_fd < 0)
			return vm->serial_output_fd;
		vm->serial_output_owned = 1;
		break;
	case SERIAL_MODE_UNIX:
		return serial_socket_open(vm->config.serial_path,
					  &vm->serial_backend, err);
	case SERIAL_MODE_NONE:
		break;
	}
	return 0;
}

static int register_device(struct io_bus *bus, uint64_t base, uint64_t length,
			   struct device *dev, struct tern_error *err)
{
	int ret;

	if (!dev)
		return tern_error_set(err, ENOMEM, "out of memory for devices");
	ret = io_bus_register(bus, base, length, dev);
	if (ret)
		return tern_error_set(err, -ret,
				      "cannot place %s at 0x%llx: %s",
				      dev->ops->name, (unsigned long long)base,
				      strerror(-ret));
	return 0;
}

/* --pc-testdev: its three windows on the port and MMIO buses. A window
 * left off a bus by an error is destroyed here, so the buses' destroy of
 * the others frees the device. */
static int create_pc_testdev(struct vm *vm, struct tern_error *err)
{
	static const struct {
		enum pc_testdev_window window;
		int mmio;
		uint64_t base, length;
	} places[PC_TESTDEV_WINDOWS] = {
		{PC_TESTDEV_WINDOW_PORTS, 0, PC_TESTDEV_PORT,
		 PC_TESTDEV_PORT_COUNT},
		{PC_TESTDEV_WINDOW_IRQ, 0, PC_TESTDEV_IRQ_PORT,
		 PC_TESTDEV_IRQ_LINES},
		{PC_TESTDEV_WINDOW_IOMEM, 1, PC_TESTDEV_IOMEM_GPA,
		 PC_TESTDEV_IOMEM_SIZE},
	};
	struct pc_testdev *t =
		pc_testdev_create(&(struct irq_line){kvm_set_irq_level, vm, 0});
	int ret = 0;

	if (!t)
		return tern_error_set(err, ENOMEM, "out of memory for devices");
	for (int i = 0; i < PC_TESTDEV_WINDOWS; i++) {
		struct device *dev = pc_testdev_window(t, places[i].window);

		if (!ret)
			ret = register_device(
				places[i].mmio ? &vm->mmio_bus : &vm->pio_bus,
				places[i].base, places[i].length, dev, err);
		if (ret) /* not on a bus */
			dev->ops->destroy(dev);
	}
	return ret;
}

static int create_platform_devices(struct vm *vm, struct tern_error *err)
{
	struct irq_line com1_irq = {kvm_set_irq_level, vm, SERIAL_COM1_GSI};
	int ret;

	ret = open_serial_output(vm, err);
	if (ret)
		return ret;

	vm->serial = serial_8250_create(&com1_irq, vm->serial_output_fd);
	if (vm->serial && vm->config.serial_mode == SERIAL_MODE_FILE)
		serial_8250_set_output_limit(
			vm->serial, vm_config_serial_file_limit(&vm->config));
	if (vm->serial && vm->serial_backend)
		serial_8250_set_backend(vm->serial, vm->serial_backend);
	if (vm->serial)
		serial_8250_set_rate_limit(vm->serial,
					   &vm->config.serial_rate_limiter);
	ret = register_device(&vm->pio_bus, SERIAL_COM1_PORT, SERIAL_PORT_COUNT,
			      vm->serial, err);
	if (ret)
		return ret;

	/* One range over 0x60-0x64: port 0x61 inside it is served by KVM's
	 * in-kernel PIT (speaker gate) and never reaches tern. */
	vm->i8042 = i8042_create(
		reset_by_keyboard_controller, vm,
		&(struct irq_line){kvm_set_irq_level, vm, I8042_KEYBOARD_GSI});
	ret = register_device(&vm->pio_bus, I8042_DATA_PORT, I8042_PORT_SPAN,
			      vm->i8042, err);
	if (ret)
		return ret;

	vm->rtc = cmos_rtc_create(
		host_utc_now,
		&(struct irq_line){kvm_set_irq_level, vm, CMOS_RTC_GSI});
	ret = register_device(&vm->pio_bus, CMOS_RTC_PORT, CMOS_RTC_PORT_COUNT,
			      vm->rtc, err);
	if (ret)
		return ret;
	if (vm->rtc)
		cmos_rtc_set_alarm_hook(vm->rtc, vm_sleep_rtc_alarm, vm);
	ret = cmos_rtc_start(vm->rtc);
	if (ret)
		return tern_error_set(err, -ret,
				      "cannot start the RTC's timer thread: %s",
				      strerror(-ret));

	vm->acpi_power = acpi_power_create(&(struct acpi_power_events){
		request_guest_poweroff, reset_by_acpi, vm, vm_sleep_enter,
		vm_sleep_wake});
	ret = register_device(&vm->pio_bus, ACPI_SLEEP_CONTROL_PORT,
			      ACPI_POWER_PORT_COUNT, vm->acpi_power, err);
	if (ret)
		return ret;

	ret = register_device(
		&vm->pio_bus, TERN_RESET_PORT, 1,
		reset_port_create(
			"reset-vector-port", 0xff, TERN_RESET_PORT_VALUE,
			&(struct reset_port_events){reset_by_reset_vector, vm}),
		err);
	if (ret)
		return ret;

	vm->fw_cfg = fw_cfg_create(&(struct fw_cfg_machine){
		.ram_size = vm->config.memory_size,
		.cpu_count = (uint16_t)vm->config.cpu_count});
	ret = register_device(&vm->pio_bus, FW_CFG_PORT, FW_CFG_PORT_COUNT,
			      vm->fw_cfg, err);
	if (ret)
		return ret;

	if (vm->config.firmware_path) {
		ret = register_device(&vm->pio_bus, DEBUG_CONSOLE_PORT, 1,
				      debug_console_create(), err);
		if (ret)
			return ret;
	}
	vm_legacy_pic_warn(&vm->config);
	if (vm_config_full_acpi(&vm->config)) {
		/* Full ACPI's PM1 blocks (devices/acpi_pm1.h says why), with
		 * the fixed power button on the SCI. */
		vm->acpi_pm1 = acpi_pm1_create(
			&(struct acpi_power_events){
				request_guest_poweroff, reset_by_acpi, vm,
				vm_sleep_enter, vm_sleep_wake},
			&(struct irq_line){kvm_set_irq_level, vm,
					   ACPI_PM1_SCI_GSI});
		ret = register_device(&vm->pio_bus, ACPI_PM1_EVT_PORT,
				      ACPI_PM1_PORT_COUNT, vm->acpi_pm1, err);
		if (ret)
			return ret;
	} else {
		vm->acpi_ged = acpi_ged_create(&(struct irq_line){
			kvm_set_irq_level, vm, ACPI_GED_GSI});
		if (!vm->acpi_ged)
			return tern_error_set(err, ENOMEM,
					      "out of memory for devices");
	}

	if (vm->config.debug_exit_port) {
		ret = register_device(
			&vm->pio_bus, vm->config.debug_exit_port,
			DEBUG_EXIT_PORT_COUNT,
			debug_exit_create(&(struct debug_exit_events){
				request_debug_exit, vm}),
			err);
		if (ret)
			return ret;
	}

	if (vm->config.pc_testdev) {
		ret = create_pc_testdev(vm, err);
		if (ret)
			return ret;
	}
	if (vm->config.hyperv_testdev) {
		ret = vm_add_hyperv_testdev(vm, err);
		if (ret)
			return ret;
	}

	vm->boot_marker = boot_marker_create();
	return register_device(&vm->pio_bus, TERN_BOOT_MARKER_PORT, 1,
			       vm->boot_marker, err);
}

static int create_pci_bus(struct vm *vm, struct tern_error *err)
{
	struct device *reset_control;
	int ret = irq_routing_init(&vm->irq_routing, vm->fd);

	if (ret)
		return tern_error_set(err, -ret,
				      "out of memory for IRQ routes");
	vm->pci_bus = pci_bus_create();
	if (!vm->pci_bus)
		return tern_error_set(err, ENOMEM, "out of memory for PCI");
	ret = pci_bus_attach(vm->pci_bus, &vm->pio_bus, &vm->mmio_bus);
	if (!ret && vm->config.firmware_path)
		ret = pci_bus_enable_firmware_window(vm->pci_bus,
						     &vm->mmio_bus);
	if (ret)
		return tern_error_set(err, -ret, "cannot place the PCI bus: %s",
				      strerror(-ret));
	reset_control = reset_port_create(
		"reset-control", RESET_CONTROL_RESET_CPU,
		RESET_CONTROL_RESET_CPU,
		&(struct reset_port_events){reset_by_reset_control, vm});
	if (!reset_control)
		return tern_error_set(err, ENOMEM, "out of memory for devices");
	pci_bus_set_reset_control(vm->pci_bus, reset_control);
	return 0;
}

/* The ROM below 4 GiB in its own memory slot above guest RAM's, read-only
 * where KVM can make it so (guest writes then exit as MMIO that nothing
 * answers, as writes to a flash chip). */
static int map_rom_slot(struct vm *vm, uint64_t gpa, const char *what,
			struct tern_error *err)
{
	int readonly =
		ioctl(vm->fd, KVM_CHECK_EXTENSION, KVM_CAP_READONLY_MEM) > 0;
	struct kvm_userspace_memory_region slot = {
		.slot = VM_RESET_ROM_SLOT,
		.flags = readonly ? KVM_MEM_READONLY : 0,
		.guest_phys_addr = gpa,
		.memory_size = vm->reset_rom_size,
		.userspace_addr = (uint64_t)(uintptr_t)vm->reset_rom,
	};

	if (ioctl(vm->fd, KVM_SET_USER_MEMORY_REGION, &slot) < 0)
		return tern_error_set(err, errno,
				      "KVM refused the %s at 0x%llx: %s", what,
				      (unsigned long long)gpa, strerror(errno));
	return 0;
}

static int alloc_rom(struct vm *vm, size_t size, const char *what,
		     struct tern_error *err)
{
	void *rom = mmap(NULL, size, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (rom == MAP_FAILED)
		return tern_error_set(err, errno, "cannot map the %s: %s", what,
				      strerror(errno));
	vm->reset_rom = rom;
	vm->reset_rom_size = size;
	return 0;
}

/* The reset-vector ROM (src/arch/x86/reset_rom.c) and its real-mode alias
 * in RAM. */
static int map_reset_rom(struct vm *vm, struct tern_error *err)
{
	int ret = alloc_rom(vm, LAYOUT_RESET_ROM_SIZE, "reset-vector ROM", err);

	if (ret)
		return ret;
	reset_rom_fill(vm->reset_rom, LAYOUT_RESET_ROM_SIZE);
	ret = map_rom_slot(vm, LAYOUT_RESET_ROM_GPA, "reset-vector ROM", err);
	if (!ret && reset_rom_install_alias(&vm->memory))
		return tern_error_set(err, EFAULT,
				      "cannot place the reset vector's "
				      "real-mode alias");
	return ret;
}

/* --firmware: the image, read once into tern's own copy (the file may
 * change or go away while the VM runs; a reset copies the low part again
 * from this one), ending at 4 GiB. */
static int map_firmware(struct vm *vm, struct tern_error *err)
{
	struct file_map image;
	int ret = file_map_open(&image, vm->config.firmware_path, "firmware",
				err);

	if (ret)
		return ret;
	if (firmware_check_size(image.size)) {
		ret = tern_error_set(
			err, EINVAL,
			"firmware %s: %zu bytes; a firmware image "
			"is 64 KiB to 16 MiB, a multiple of 64 KiB",
			vm->config.firmware_path, image.size);
	} else {
		ret = alloc_rom(vm, image.size, "firmware", err);
		if (!ret)
			memcpy(vm->reset_rom, image.data, image.size);
	}
	file_map_close(&image);
	if (!ret)
		ret = map_rom_slot(vm, firmware_gpa(vm->reset_rom_size),
				   "firmware", err);
	return ret;
}

static void fill_acpi_platform(struct vm *vm, struct acpi_platform *platform,
			       uint32_t *apic_ids)
{
	for (int i = 0; i < vm->config.cpu_count; i++)
		apic_ids[i] = cpuid_apic_id(i, vm->config.cpu_count);
	*platform = (struct acpi_platform){
		.cpu_count = vm->config.cpu_count,
		.apic_ids = apic_ids,
		.mmio_devices = vm->virtio_mmio,
		.mmio_device_count = vm->virtio_mmio_count,
		.full_acpi = vm_config_full_acpi(&vm->config),
	};
}

/* After every device exists: the ACPI tables describe them. */
static int fill_firmware_config(struct vm *vm, struct tern_error *err)
{
	uint32_t apic_ids[VM_MAX_CPUS];
	struct acpi_platform platform;
	int ret;

	fill_acpi_platform(vm, &platform, apic_ids);
	ret = firmware_fill_fw_cfg(vm->fw_cfg, &vm->memory, &platform,
				   vm->config.serial_mode != SERIAL_MODE_NONE);
	if (ret)
		return tern_error_set(err, -ret,
				      "cannot give the firmware its "
				      "configuration: %s",
				      strerror(-ret));
	return 0;
}

static int add_vsock(struct vm *vm, struct tern_error *err)
{
	struct virtio_device *vdev;
	int ret = virtio_vsock_create(vm->config.vsock_cid,
				      vm->config.vsock_socket_path, &vdev, err);

	return ret ? ret : vm_add_virtio_device(vm, vdev, err);
}

static int add_balloon(struct vm *vm, struct tern_error *err)
{
	const struct vm_balloon_config *cfg = &vm->config.balloon;
	struct virtio_balloon_options options = {
		.target_bytes = cfg->target_bytes,
		.deflate_on_oom = cfg->deflate_on_oom,
		.stats_interval_s = cfg->stats_interval_s,
		.free_page_reporting = cfg->free_page_reporting,
		.free_page_hinting = cfg->free_page_hinting,
	};
	struct virtio_device *balloon = virtio_balloon_create(&options);
	int ret = vm_add_virtio_device(vm, balloon, err);

	if (!ret)
		vm->balloon = balloon;
	return ret;
}

/* Whether interface i is one of mmds-config's network_interfaces (and
 * the instance has a store to serve). */
static bool net_serves_mmds(const struct vm_config *config, int i)
{
	if (!config->mmds.enabled || !config->mmds_store)
		return false;
	for (int k = 0; k < config->mmds.iface_count; k++)
		if (!strcmp(config->mmds.ifaces[k], config->nets[i].id))
			return true;
	return false;
}

/* One line per virtio device the configuration asks for. */
static int create_virtio_devices(struct vm *vm, struct tern_error *err)
{
	int ret = 0;

	if (vm->config.virtio_rng)
		ret = vm_add_virtio_device(
			vm,
			virtio_rng_create_limited(&vm->config.rng_rate_limiter),
			err);
	if (!ret && vm->config.vsock_cid)
		ret = add_vsock(vm, err);
	if (!ret && vm->config.balloon.enabled)
		ret = add_balloon(vm, err);
	for (int i = 0; !ret && i < vm->config.net_count; i++) {
		bool mmds = net_serves_mmds(&vm->config, i);
		struct virtio_device *net;

		/* Tokens only once a guest can reach the store, and here,
		 * before the device's thread and its seccomp list. */
		if (mmds)
			ret = mmds_store_prepare_tokens(vm->config.mmds_store,
							err);
		if (!ret)
			ret = virtio_net_create_mmds(
				&vm->config.nets[i],
				mmds ? vm->config.mmds_store : NULL,
				vm->config.mmds.ipv4, &net, err);
		if (!ret)
			ret = vm_add_virtio_device_id(
				vm, net, vm->config.nets[i].id, err);
	}
	return ret;
}

static int create_vcpus(struct vm *vm, struct tern_error *err)
{
	for (int i = 0; i < vm->config.cpu_count; i++) {
		int ret = vcpu_create(&vm->vcpus[i], vm, i, err);

		if (ret)
			return ret;
		vm->vcpu_count++;
		ret = vcpu_configure(&vm->vcpus[i], err);
		if (ret)
			return ret;
	}
	return 0;
}

/* Before anything is built: a CPU template this host cannot take, or a
 * KVM capability the custom template requires and KVM lacks, is the start
 * request's error (Firecracker refuses both at InstanceStart too). */
static int check_cpu_config(struct vm *vm, struct tern_error *err)
{
	const struct cpu_custom_template *custom = vm->config.cpu_custom;
	int ret = cpu_template_check_host(vm->config.cpu_template,
					  &vm->kvm.supported_cpuid,
					  "CPU template", err);

	if (!ret && vm->config.kvm_hyperv)
		ret = hyperv_check_host(vm->kvm.fd, kvm_check_extension, err);

	for (int i = 0; !ret && custom && i < custom->mods.cap_count; i++) {
		const struct kvm_cap_modifier *cap = &custom->mods.caps[i];
		int answer;

		if (cap->removed)
			continue;
		answer = ioctl(vm->kvm.fd, KVM_CHECK_EXTENSION,
			       (unsigned long)cap->cap);
		if (answer <= 0)
			ret = tern_error_set(
				err, ENOTSUP,
				"cpu-config.kvm_capabilities: this host's KVM "
				"lacks capability %u (KVM_CHECK_EXTENSION "
				"answered %d), which the CPU template requires",
				cap->cap, answer);
	}
	return ret;
}

int vm_create(struct vm *vm, const struct vm_config *config,
	      struct tern_error *err)
{
	int ret;

	memset(vm, 0, sizeof(*vm));
	vm->fd = -1;
	vm->kvm.fd = -1;
	vm->serial_output_fd = -1;
	pthread_mutex_init(&vm->pause_lock, NULL);
	pthread_cond_init(&vm->pause_cond, NULL);
	vm->stop_eventfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vm->stop_eventfd < 0)
		return tern_error_set(err, errno, "eventfd: %s",
				      strerror(errno));
	/* The VM's own: the instance's may change while it runs (PATCH
	 * /drives). */
	if (vm_config_copy(&vm->config, config))
		return tern_error_set(err, ENOMEM, "out of memory");

	ret = kvm_system_open(&vm->kvm, config->kvm_path, err);
	if (ret)
		return ret;
	if (config->cpu_count > vm->kvm.max_vcpus)
		return tern_error_set(err, EINVAL,
				      "%d vCPUs requested but this host's KVM "
				      "allows at most %d",
				      config->cpu_count, vm->kvm.max_vcpus);
	vm->vcpus = calloc((size_t)config->cpu_count, sizeof(*vm->vcpus));
	if (!vm->vcpus)
		return tern_error_set(err, ENOMEM, "out of memory");
	ret = check_cpu_config(vm, err);
	if (!ret)
		ret = create_kvm_vm(vm, err);
	if (!ret)
		ret = map_guest_memory(vm, err);
	if (!ret)
		ret = config->firmware_path ? map_firmware(vm, err)
					    : map_reset_rom(vm, err);
	if (!ret)
		ret = create_platform_devices(vm, err);
	if (!ret)
		ret = create_pci_bus(vm, err);
	if (!ret)
		ret = create_virtio_devices(vm, err);
	if (!ret)
		ret = vm_create_disks(vm, err);
	if (!ret)
		ret = vm_create_pmem_devices(vm, err);
	if (!ret)
		ret = vm_create_memory_hotplug(vm, err);
	if (!ret && config->firmware_path)
		ret = fill_firmware_config(vm, err);
	if (!ret)
		ret = create_vcpus(vm, err);
	/* Before any guest code runs: this is the state a reset returns to. */
	if (!ret && config->on_reboot == VM_REBOOT_RESTART)
		ret = vm_reset_prepare(vm, err);
	/* And the vCPUs' state an S3 wake returns them to. */
	if (!ret)
		ret = vm_sleep_prepare(vm, err);
	return ret;
}

struct boot_files {
	struct file_map kernel;
	struct file_map initrd;
	struct file_map modules[VM_MAX_MODULES];
	char *module_paths[VM_MAX_MODULES];
	struct boot_module boot_modules[VM_MAX_MODULES];
};

_Static_assert(VM_MAX_MODULES == BOOT_MAX_MODULES, "one module limit");

static int load_boot_image(struct vm *vm, struct boot_files *files,
			   struct tern_error *err)
{
	struct kernel_load_request request = {
		.kernel = files->kernel.data,
		.kernel_size = files->kernel.size,
		.initrd = files->initrd.data,
		.initrd_size = files->initrd.size,
		.initrd_string = vm->config.initrd_path,
		.modules = files->boot_modules,
		.module_count = vm->config.module_count,
		.cmdline = vm->config.cmdline ? vm->config.cmdline : "",
		.kernel_name = vm->config.kernel_path,
		/* tern's default command line is Linux's: a Multiboot
		 * kernel given none gets none. */
		.cmdline_is_linux_default = !vm->config.cmdline ||
			!strcmp(vm->config.cmdline, VM_CONFIG_DEFAULT_CMDLINE),
	};
	struct boot_entry entry;
	struct load_error load_err = {{0}};
	uint32_t apic_ids[VM_MAX_CPUS];
	struct acpi_platform platform;
	char *cmdline = vm_virtio_cmdline(vm, request.cmdline);
	int ret;

	fill_acpi_platform(vm, &platform, apic_ids);
	ret = acpi_tables_write(&vm->memory, &platform, &request.rsdp_gpa);
	if (ret) {
		free(cmdline);
		return tern_error_set(err, -ret,
				      "cannot write the ACPI tables: %s",
				      strerror(-ret));
	}

	if (cmdline)
		request.cmdline = cmdline;
	ret = kernel_load(&vm->memory, &request, &entry, &load_err);
	free(cmdline);
	if (ret)
		return tern_error_set(err, -ret, "kernel %s: %s",
				      vm->config.kernel_path, load_err.message);
	if (entry.format == KERNEL_FORMAT_MULTIBOOT) {
		ret = bios_handover_apply(vm->fd, &vm->memory, err);
		if (ret)
			return ret;
	} else {
		/* For a guest booted with acpi=off (arch/x86/mptable.h). */
		ret = mptable_write(&vm->memory, platform.cpu_count,
				    platform.apic_ids);
		if (ret)
			return tern_error_set(err, -ret,
					      "cannot write the MP table: %s",
					      strerror(-ret));
	}

	return x86_vcpu_set_boot_entry(vm->vcpus[0].fd, &vm->memory, &entry,
				       err);
}

/* The vCPUs are in KVM's power-on state (a reset restored it): real mode
 * at 0xf000:0xfff0, which the low copy answers (the CPU fetches from the
 * image at 0xfffffff0 first, and SeaBIOS's reset vector jumps into the F
 * segment). */
static int load_firmware(struct vm *vm, struct tern_error *err)
{
	int ret = firmware_install_low_copy(&vm->memory, vm->reset_rom,
					    vm->reset_rom_size);

	if (ret)
		return tern_error_set(err, -ret,
				      "cannot copy the firmware below 1 MiB: "
				      "%s",
				      strerror(-ret));
	return 0;
}

int vm_load_kernel(struct vm *vm, struct tern_error *err)
{
	struct boot_files *files;
	int ret;

	if (vm->config.firmware_path)
		return load_firmware(vm, err);
	files = calloc(1, sizeof(*files));
	if (!files)
		return tern_error_set(err, ENOMEM, "out of memory");
	ret = file_map_open(&files->kernel, vm->config.kernel_path, "kernel",
			    err);
	if (!ret && vm->config.initrd_path)
		ret = file_map_open(&files->initrd, vm->config.initrd_path,
				    "initrd", err);
	for (int i = 0; !ret && i < vm->config.module_count; i++) {
		const struct vm_module_config *m = &vm->config.modules[i];
		char *path = strndup(m->spec, m->path_len);

		files->module_paths[i] = path;
		ret = path
			? file_map_open(&files->modules[i], path, "module", err)
			: tern_error_set(err, ENOMEM, "out of memory");
		files->boot_modules[i] = (struct boot_module){
			files->modules[i].data, files->modules[i].size,
			m->string ? m->string : path};
	}
	if (!ret)
		ret = load_boot_image(vm, files, err);
	/* Loading copied everything into guest memory: the files are not
	 * needed once the guest runs. */
	for (int i = 0; i < vm->config.module_count; i++) {
		file_map_close(&files->modules[i]);
		free(files->module_paths[i]);
	}
	file_map_close(&files->initrd);
	file_map_close(&files->kernel);
	free(files);
	return ret;
}

void vm_request_stop(struct vm *vm, enum vm_stop_reason reason)
{
	int expected = VM_STOP_NONE;
	uint64_t one = 1;
	ssize_t ignored;

	atomic_compare_exchange_strong(&vm->stop_reason, &expected,
				       (int)reason);
	ignored = write(vm->stop_eventfd, &one, sizeof(one));
	(void)ignored;
	/* Parked vCPUs must wake to see the stop. */
	pthread_mutex_lock(&vm->pause_lock);
	pthread_cond_broadcast(&vm->pause_cond);
	pthread_mutex_unlock(&vm->pause_lock);
}

int vm_pause_requested(struct vm *vm)
{
	return atomic_load(&vm->pause_requested) ||
		vm_sleep_state(&vm->sleep) != VM_SLEEP_AWAKE;
}

void vm_vcpu_thread_started(struct vm *vm)
{
	pthread_mutex_lock(&vm->pause_lock);
	vm->vcpus_running++;
	pthread_mutex_unlock(&vm->pause_lock);
}

void vm_vcpu_thread_exited(struct vm *vm)
{
	pthread_mutex_lock(&vm->pause_lock);
	vm->vcpus_running--;
	pthread_cond_broadcast(&vm->pause_cond);
	pthread_mutex_unlock(&vm->pause_lock);
}

void vm_vcpu_pause_point(struct vm *vm, struct vcpu *vcpu)
{
	pthread_mutex_lock(&vm->pause_lock);
	vm->vcpus_parked++;
	pthread_cond_broadcast(&vm->pause_cond);
	/* A pause first: an S3 wake resets the vCPUs only once the VM
	 * runs again, so a paused VM's state is what it was. */
	while (!vm_stop_requested(vm) &&
	       (atomic_load(&vm->pause_requested) || vm_sleep_hold(vm, vcpu)))
		pthread_cond_wait(&vm->pause_cond, &vm->pause_lock);
	vm->vcpus_parked--;
	pthread_mutex_unlock(&vm->pause_lock);
	vm_sleep_after_park(vm, vcpu);
}

int vm_pause(struct vm *vm, struct tern_error *err)
{
	pthread_mutex_lock(&vm->pause_lock);
	if (vm->paused) {
		pthread_mutex_unlock(&vm->pause_lock);
		return 0;
	}
	atomic_store(&vm->pause_requested, 1);
	pthread_mutex_unlock(&vm->pause_lock);

	for (int i = 0; i < vm->vcpu_count; i++)
		vcpu_kick(&vm->vcpus[i]);

	/* A kick can be lost: the signal lands while the vCPU thread is in
	 * user space, and a KVM that does not honour immediate_exit (the
	 * build machines' PVM) then runs the guest until its next exit, which
	 * a guest spinning in emulated code may never make. So kick again
	 * every few milliseconds until every vCPU has parked. */
	pthread_mutex_lock(&vm->pause_lock);
	while (vm->vcpus_parked < vm->vcpus_running && !vm_stop_requested(vm)) {
		struct timespec deadline;

		clock_gettime(CLOCK_REALTIME, &deadline);
		deadline.tv_nsec += VCPU_REKICK_NS;
		if (deadline.tv_nsec >= 1000000000L) {
			deadline.tv_sec++;
			deadline.tv_nsec -= 1000000000L;
		}
		if (pthread_cond_timedwait(&vm->pause_cond, &vm->pause_lock,
					   &deadline) == ETIMEDOUT) {
			pthread_mutex_unlock(&vm->pause_lock);
			for (int i = 0; i < vm->vcpu_count; i++)
				vcpu_kick(&vm->vcpus[i]);
			pthread_mutex_lock(&vm->pause_lock);
		}
	}
	vm->paused = !vm_stop_requested(vm);
	pthread_mutex_unlock(&vm->pause_lock);
	if (!vm->paused)
		return tern_error_set(err, ESHUTDOWN, "the VM is stopping");

	/* kvmclock: keep the value the guest last saw, so that on resume its
	 * monotonic clocks continue from there instead of leaping over the
	 * pause (which would fire every timer at once and trip the soft
	 * lockup watchdog). The guest's wall clock lags by the pause; NTP or
	 * the guest agent corrects it, as after a host suspend. */
	if (ioctl(vm->fd, KVM_GET_CLOCK, &vm->paused_clock) < 0) {
		log_warn("KVM_GET_CLOCK failed: %s; the guest clock will "
			 "include the pause",
			 strerror(errno));
		vm->paused_clock.clock = 0;
	} else if (!(vm->paused_clock.flags & KVM_CLOCK_REALTIME)) {
		/* Older kernels, or a host clocksource other than the TSC:
		 * the host's time now, for a snapshot's clock_realtime. */
		struct timespec now;

		clock_gettime(CLOCK_REALTIME, &now);
		vm->paused_clock.realtime =
			(uint64_t)now.tv_sec * 1000000000ULL +
			(uint64_t)now.tv_nsec;
		vm->paused_clock.flags |= KVM_CLOCK_REALTIME;
	}
	return 0;
}

int vm_resume(struct vm *vm, struct tern_error *err)
{
	pthread_mutex_lock(&vm->pause_lock);
	if (!vm->paused) {
		pthread_mutex_unlock(&vm->pause_lock);
		return 0;
	}
	if (vm->paused_clock.clock) {
		struct kvm_clock_data clock = {.clock = vm->paused_clock.clock};

		if (ioctl(vm->fd, KVM_SET_CLOCK, &clock) < 0)
			log_warn("KVM_SET_CLOCK failed: %s", strerror(errno));
	}
	vm->paused = 0;
	atomic_store(&vm->pause_requested, 0);
	pthread_cond_broadcast(&vm->pause_cond);
	pthread_mutex_unlock(&vm->pause_lock);
	(void)err;
	return 0;
}

void vm_set_start_paused(struct vm *vm)
{
	pthread_mutex_lock(&vm->pause_lock);
	atomic_store(&vm->pause_requested, 1);
	vm->paused = 1;
	pthread_mutex_unlock(&vm->pause_lock);
}

int vm_stop_requested(struct vm *vm)
{
	return atomic_load(&vm->stop_reason) != VM_STOP_NONE;
}

static void ignore_signal(int signo)
{
	(void)signo;
}

/* Signals that stop tern, and SIGUSR2 (the vCPU report), are taken through
 * a signalfd in the main loop, so they are blocked in every thread; the vCPU
 * kick signal needs a handler (a no-op) so that it interrupts KVM_RUN
 * instead of killing the process. */
static int setup_signals(sigset_t *stop_signals)
{
	struct sigaction kick = {.sa_handler = ignore_signal};
	sigset_t blocked;

	sigemptyset(stop_signals);
	sigaddset(stop_signals, SIGINT);
	sigaddset(stop_signals, SIGTERM);
	sigaddset(stop_signals, SIGHUP);
	sigaddset(stop_signals, SIGUSR2);
	blocked = *stop_signals;
	sigaddset(&blocked, VCPU_KICK_SIGNAL);
	sigaction(VCPU_KICK_SIGNAL, &kick, NULL);
	signal(SIGPIPE, SIG_IGN);
	pthread_sigmask(SIG_BLOCK, &blocked, NULL);
	return signalfd(-1, stop_signals, SFD_CLOEXEC | SFD_NONBLOCK);
}

struct console_input {
	int open; /* stdin not yet at end of file */
	struct console_escape escape; /* Ctrl-A's keys (console_escape.h) */
	uint8_t pending[256];
	size_t pending_len; /* bytes read but not yet taken by the UART */
};

/* Ctrl-A b SIZE Enter: the least a person (or a test) needs to move the
 * balloon at run time before the API exists; SIZE as for --memory. */
static void console_set_balloon(struct vm *vm, const char *text)
{
	uint64_t bytes;
	int ret;

	if (!vm->balloon) {
		log_warn("no balloon to set: start tern with --balloon");
		return;
	}
	if (size_parse(text, &bytes)) {
		log_warn("balloon target '%s' is not a size", text);
		return;
	}
	ret = virtio_balloon_set_target(vm->balloon, bytes);
	if (ret)
		log_warn("balloon target '%s' must be a multiple of 4 KiB and "
			 "less than the guest's memory",
			 text);
	else
		log_info("balloon target set to %llu MiB",
			 (unsigned long long)(bytes >> 20));
}

/* Filters the console's escapes out of fresh input into in->pending, acting
 * on each as it comes; returns 1 on Ctrl-A x. stdin is read only into an
 * empty pending, no longer than it, so pending has room for what is kept. */
static int filter_escape(struct vm *vm, struct console_input *in,
			 const uint8_t *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		size_t out_len, used;
		enum console_escape_event event = console_escape_feed(
			&in->escape, buf + done, len - done,
			in->pending + in->pending_len, &out_len, &used);

		in->pending_len += out_len;
		done += used;
		if (event == CONSOLE_ESCAPE_QUIT)
			return 1;
		if (event == CONSOLE_ESCAPE_BALLOON)
			console_set_balloon(vm, in->escape.balloon_text);
	}
	return 0;
}

static void serve_console_input(struct vm *vm, struct console_input *in)
{
	uint8_t buf[sizeof(in->pending)];
	ssize_t n;

	if (in->pending_len == 0) {
		n = read(STDIN_FILENO, buf, sizeof(buf));
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
			in->open = 0; /* the guest keeps running */
			return;
		}
		if (n < 0)
			return;
		if (filter_escape(vm, in, buf, (size_t)n)) {
			vm_request_stop(vm, VM_STOP_USER_QUIT);
			return;
		}
	}
	if (in->pending_len) {
		size_t taken = serial_8250_receive(vm->serial, in->pending,
						   in->pending_len);

		memmove(in->pending, in->pending + taken,
			in->pending_len - taken);
		in->pending_len -= taken;
	}
}

static void take_signal(struct vm *vm, const struct signalfd_siginfo *info,
			const struct console_input *input)
{
	if (info->ssi_signo == SIGUSR2) {
		log_info("SIGUSR2: each vCPU reports its state");
		for (int i = 0; i < vm->vcpu_count; i++)
			vcpu_request_report(&vm->vcpus[i]);
		serial_8250_report(vm->serial);
		log_info("console input: %zu bytes read and waiting for room "
			 "in the UART, standard input %s",
			 input->pending_len, input->open ? "open" : "closed");
		return;
	}
	vm->stop_signal = (int)info->ssi_signo;
	vm_request_stop(vm, VM_STOP_SIGNAL);
}

static void wait_for_stop(struct vm *vm, int signal_fd)
{
	struct console_input input = {
		.open = vm->config.serial_mode == SERIAL_MODE_STDIO,
	};

	while (!vm_stop_requested(vm)) {
		struct pollfd fds[3 + SERIAL_BACKEND_MAX_FDS] = {
			{.fd = vm->stop_eventfd, .events = POLLIN},
			{.fd = signal_fd, .events = POLLIN},
			{.fd = STDIN_FILENO, .events = POLLIN},
		};
		/* While the UART's buffer is full, stop reading stdin and
		 * retry shortly: the guest drains it at its own pace. */
		int waiting = input.pending_len > 0;
		int nfds = input.open && !waiting ? 3 : 2;
		int timeout = waiting ? 10 : -1, backend_fds = 0;
		struct signalfd_siginfo info;

		/* The backend's entries after stdin's slot, used or not. */
		if (vm->serial_backend)
			backend_fds = vm->serial_backend->ops->poll_fill(
				vm->serial_backend, fds + 3, &timeout);
		if (backend_fds) {
			if (nfds == 2)
				fds[2].fd = -1; /* poll skips it */
			nfds = 3 + backend_fds;
		}
		if (poll(fds, (nfds_t)nfds, timeout) < 0 && errno != EINTR)
			break;
		if (backend_fds)
			vm->serial_backend->ops->serve(vm->serial_backend,
						       fds + 3, backend_fds,
						       vm->serial);
		if (fds[1].revents & POLLIN &&
		    read(signal_fd, &info, sizeof(info)) == sizeof(info))
			take_signal(vm, &info, &input);
		if (nfds >= 3 && fds[2].fd >= 0 &&
		    fds[2].revents & (POLLNVAL | POLLERR))
			input.open = 0; /* no usable stdin: run headless */
		else if (input.open &&
			 (waiting || fds[2].revents & (POLLIN | POLLHUP)))
			serve_console_input(vm, &input);
	}
}

enum vm_stop_reason vm_run(struct vm *vm)
{
	struct tern_error err = {{0}};
	struct terminal term = {0};
	sigset_t stop_signals;
	int signal_fd = setup_signals(&stop_signals);

	if (vm->config.serial_mode == SERIAL_MODE_STDIO)
		terminal_enter_raw(&term, STDIN_FILENO);

	for (int i = 0; i < vm->vcpu_count; i++) {
		if (vcpu_start(&vm->vcpus[i], &err)) {
			log_error("%s", err.message);
			vm_request_stop(vm, VM_STOP_INTERNAL_ERROR);
			break;
		}
	}
	/* Set-up is over: what only it used goes back (util/idle_memory.h).
	 * Once per boot, on this thread before its seccomp list. */
	log_debug("idle memory: %zu KiB of read-only pages unmapped",
		  idle_memory_release() >> 10);
	/* Last of all threads (see sandbox/seccomp.h): creating the VM and
	 * its threads needed the ceiling; the loop needs only its list. With
	 * --on-reboot restart this thread rebuilds the machine after each
	 * reset (kernel files, vCPU threads), so it keeps the ceiling. */
	if (vm->config.on_reboot != VM_REBOOT_RESTART)
		seccomp_enter_thread(SECCOMP_THREAD_MAIN);
	wait_for_stop(vm, signal_fd);

	for (int i = 0; i < vm->vcpu_count; i++)
		vcpu_kick(&vm->vcpus[i]);
	for (int i = 0; i < vm->vcpu_count; i++)
		vcpu_join(&vm->vcpus[i]);

	terminal_restore(&term);
	if (signal_fd >= 0)
		close(signal_fd);
	return (enum vm_stop_reason)atomic_load(&vm->stop_reason);
}

void vm_destroy(struct vm *vm)
{
	vm_reset_forget(vm);
	vm_sleep_forget(vm);
	/* The RTC's thread must not wake a VM whose devices go away. */
	if (vm->rtc)
		cmos_rtc_set_alarm_hook(vm->rtc, NULL, NULL);
	for (int i = 0; i < vm->vcpu_count; i++)
		vcpu_destroy(&vm->vcpus[i]);
	vm->vcpu_count = 0;
	free(vm->vcpus);
	vm->vcpus = NULL;
	io_bus_destroy_devices(&vm->pio_bus);
	io_bus_destroy_devices(&vm->mmio_bus);
	vm->acpi_pm1 = NULL; /* destroyed with the port bus's devices */
	vm->acpi_power = NULL;
	if (vm->acpi_ged)
		vm->acpi_ged->ops->destroy(vm->acpi_ged);
	vm->acpi_ged = NULL;
	/* After the buses (their ranges point into it), before guest memory
	 * (the virtio I/O threads it stops may still touch it). */
	pci_bus_destroy(vm->pci_bus);
	vm->pci_bus = NULL;
	vm->balloon = NULL; /* destroyed with its transport above */
	vm_memory_hotplug_destroy(vm);
	vm->virtio_device_count = 0;
	irq_routing_destroy(&vm->irq_routing);
	/* After the UART (destroyed with the port bus) that wrote to it. */
	if (vm->serial_backend)
		vm->serial_backend->ops->destroy(vm->serial_backend);
	vm->serial_backend = NULL;
	if (vm->serial_output_owned && vm->serial_output_fd >= 0)
		close(vm->serial_output_fd);
	if (vm->fd >= 0)
		close(vm->fd);
	guest_memory_destroy(&vm->memory);
	uffd_backend_close(vm->uffd);
	vm->uffd = NULL;
	if (vm->reset_rom)
		munmap(vm->reset_rom, vm->reset_rom_size);
	vm->reset_rom = NULL;
	vm->fw_cfg = NULL; /* destroyed with the port bus's devices */
	kvm_system_close(&vm->kvm);
	if (vm->stop_eventfd >= 0)
		close(vm->stop_eventfd);
	pthread_cond_destroy(&vm->pause_cond);
	pthread_mutex_destroy(&vm->pause_lock);
	vm->fd = -1;
	vm->stop_eventfd = -1;
	vm_config_release(&vm->config);
}
