/* The virtio-mmio transport's registers (spec 4.2.2, version 2) driven as
 * Linux's virtio_mmio driver does, with virtio-rng behind them and no KVM:
 * the irqfd is a plain eventfd the test reads. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>

#include "arch/x86/layout.h"
#include "devices/io_bus.h"
#include "devices/serial_8250.h"
#include "memory/guest_memory.h"
#include "virtio/virtio_mmio.h"
#include "virtio/virtio_rng.h"
#include "vm/vm.h"
#include "vm/vm_legacy_pic.h"
#include "vm/vm_virtio.h"

#define BASE LAYOUT_VIRTIO_MMIO_GPA
#define QSIZE 8
#define DESC_GPA 0x10000ULL
#define AVAIL_GPA 0x11000ULL
#define USED_GPA 0x12000ULL
#define BUF_GPA 0x20000ULL

struct fixture {
	struct guest_memory mem;
	struct io_bus mmio;
	struct virtio_device *vdev;
	struct virtio_mmio *vm;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct device *dev;
	int error = 0;

	assert_int_equal(guest_memory_init(&f->mem, MiB(64)), 0);
	f->vdev = virtio_rng_create();
	assert_int_equal(virtio_device_start(f->vdev, &f->mem), 0);
	dev = virtio_mmio_create(f->vdev, BASE, 16, -1, &error);
	assert_non_null(dev);
	f->vm = container_of(dev, struct virtio_mmio, dev);
	assert_int_equal(io_bus_register(&f->mmio, BASE, 0x1000, dev), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	io_bus_destroy_devices(&f->mmio);
	guest_memory_destroy(&f->mem);
	free(f);
	return 0;
}

static uint32_t rd(struct fixture *f, uint64_t reg)
{
	uint32_t v = 0;

	io_bus_read(&f->mmio, BASE + reg, &v, 4);
	return v;
}

static void wr(struct fixture *f, uint64_t reg, uint32_t v)
{
	io_bus_write(&f->mmio, BASE + reg, &v, 4);
}

static uint64_t edges(struct fixture *f, int ms)
{
	struct pollfd p = {.fd = f->vm->irqfd, .events = POLLIN};
	uint64_t count = 0;

	if (poll(&p, 1, ms) == 1 &&
	    read(f->vm->irqfd, &count, sizeof(count)) != sizeof(count))
		count = 0;
	return count;
}

static void bring_up(struct fixture *f)
{
	wr(f, VIRTIO_MMIO_REG_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	wr(f, VIRTIO_MMIO_REG_STATUS,
	   VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	wr(f, VIRTIO_MMIO_REG_DRIVER_FEATURES_SEL, 1);
	wr(f, VIRTIO_MMIO_REG_DRIVER_FEATURES, 1); /* VERSION_1 */
	wr(f, VIRTIO_MMIO_REG_STATUS,
	   VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
		   VIRTIO_CONFIG_S_FEATURES_OK);
	assert_true(rd(f, VIRTIO_MMIO_REG_STATUS) &
		    VIRTIO_CONFIG_S_FEATURES_OK);
	wr(f, VIRTIO_MMIO_REG_QUEUE_SEL, 0);
	assert_int_equal(rd(f, VIRTIO_MMIO_REG_QUEUE_READY), 0);
	assert_int_equal(rd(f, VIRTIO_MMIO_REG_QUEUE_NUM_MAX), VIRTQ_MAX_SIZE);
	wr(f, VIRTIO_MMIO_REG_QUEUE_NUM, QSIZE);
	wr(f, VIRTIO_MMIO_REG_QUEUE_DESC_LOW, DESC_GPA);
	wr(f, VIRTIO_MMIO_REG_QUEUE_DESC_HIGH, 0);
	wr(f, VIRTIO_MMIO_REG_QUEUE_DRIVER_LOW, AVAIL_GPA);
	wr(f, VIRTIO_MMIO_REG_QUEUE_DEVICE_LOW, USED_GPA);
	wr(f, VIRTIO_MMIO_REG_QUEUE_READY, 1);
	assert_int_equal(rd(f, VIRTIO_MMIO_REG_QUEUE_READY), 1);
	wr(f, VIRTIO_MMIO_REG_STATUS,
	   VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
		   VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK);
}

static void identification_registers(void **state)
{
	struct fixture *f = *state;
	uint16_t narrow = 0x1234;

	assert_int_equal(rd(f, VIRTIO_MMIO_REG_MAGIC), 0x74726976);
	assert_int_equal(rd(f, VIRTIO_MMIO_REG_VERSION), 2);
	assert_int_equal(rd(f, VIRTIO_MMIO_REG_DEVICE_ID), 4);
	assert_int_equal(rd(f, VIRTIO_MMIO_REG_VENDOR_ID),
			 VIRTIO_MMIO_VENDOR_ID);
	wr(f, VIRTIO_MMIO_REG_DEVICE_FEATURES_SEL, 1);
	assert_true(rd(f, VIRTIO_MMIO_REG_DEVICE_FEATURES) & 1); /* VERSION_1 */
	/* No shared memory regions: length reads all-ones. */
	assert_int_equal(rd(f, VIRTIO_MMIO_REG_SHM_LEN_LOW), 0xffffffffu);
	/* Registers are 32-bit only; a 16-bit read yields 0. */
	io_bus_read(&f->mmio, BASE + VIRTIO_MMIO_REG_MAGIC, &narrow, 2);
	assert_int_equal(narrow, 0);
	/* A queue that does not exist. */
	wr(f, VIRTIO_MMIO_REG_QUEUE_SEL, 1);
	assert_int_equal(rd(f, VIRTIO_MMIO_REG_QUEUE_NUM_MAX), 0);
}

static void notify_is_served_with_an_edge_and_ack_clears(void **state)
{
	struct fixture *f = *state;
	struct vring_desc *d = guest_memory_ptr(&f->mem, DESC_GPA, 16);
	uint16_t *avail = guest_memory_ptr(&f->mem, AVAIL_GPA, 6);
	uint16_t *used = guest_memory_ptr(&f->mem, USED_GPA, 4);

	bring_up(f);
	*d = (struct vring_desc){BUF_GPA, 16, VRING_DESC_F_WRITE, 0};
	avail[2] = 0;
	__atomic_store_n(&avail[1], 1, __ATOMIC_RELEASE);
	wr(f, VIRTIO_MMIO_REG_QUEUE_NOTIFY, 0); /* the MMIO-exit path */
	assert_int_equal(edges(f, 2000), 1);
	assert_int_equal(__atomic_load_n(&used[1], __ATOMIC_ACQUIRE), 1);
	assert_int_equal(rd(f, VIRTIO_MMIO_REG_INTERRUPT_STATUS), 1);
	wr(f, VIRTIO_MMIO_REG_INTERRUPT_ACK, 1);
	assert_int_equal(rd(f, VIRTIO_MMIO_REG_INTERRUPT_STATUS), 0);
	/* Notify for a queue that does not exist is ignored. */
	wr(f, VIRTIO_MMIO_REG_QUEUE_NOTIFY, 9);
	assert_int_equal(edges(f, 20), 0);
}

static void live_queue_cannot_be_moved_and_reset_forgets_it(void **state)
{
	struct fixture *f = *state;

	bring_up(f);
	wr(f, VIRTIO_MMIO_REG_QUEUE_NUM, 4);
	assert_int_equal(f->vdev->queues[0].size, QSIZE);
	wr(f, VIRTIO_MMIO_REG_STATUS, 0);
	assert_int_equal(rd(f, VIRTIO_MMIO_REG_STATUS), 0);
	assert_int_equal(rd(f, VIRTIO_MMIO_REG_QUEUE_READY), 0);
	assert_int_equal(f->vdev->queues[0].desc_gpa, 0);
}

static void bad_queue_sets_needs_reset_with_a_config_edge(void **state)
{
	struct fixture *f = *state;

	bring_up(f);
	wr(f, VIRTIO_MMIO_REG_STATUS, 0);
	wr(f, VIRTIO_MMIO_REG_STATUS,
	   VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	wr(f, VIRTIO_MMIO_REG_DRIVER_FEATURES_SEL, 1);
	wr(f, VIRTIO_MMIO_REG_DRIVER_FEATURES, 1);
	wr(f, VIRTIO_MMIO_REG_STATUS,
	   VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
		   VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK);
	wr(f, VIRTIO_MMIO_REG_QUEUE_NUM, QSIZE);
	wr(f, VIRTIO_MMIO_REG_QUEUE_DESC_LOW, 0xfffff000u); /* not RAM */
	wr(f, VIRTIO_MMIO_REG_QUEUE_READY, 1);
	assert_true(rd(f, VIRTIO_MMIO_REG_STATUS) &
		    VIRTIO_CONFIG_S_NEEDS_RESET);
	assert_int_equal(edges(f, 100), 1);
	assert_int_equal(rd(f, VIRTIO_MMIO_REG_INTERRUPT_STATUS), 2);
}

/* The VM side: slot placement, the DSDT list, the command line. */
static void mmio_devices_get_slots_gsis_and_cmdline(void **state)
{
	struct vm *vm = calloc(1, sizeof(*vm));
	struct tern_error err = {{0}};
	char *cmdline;

	(void)state;
	vm->fd = -1;
	vm->config.cmdline = "console=ttyS0 pci=off";
	assert_int_equal(guest_memory_init(&vm->memory, MiB(64)), 0);
	assert_int_equal(vm_virtio_transport(vm), VIRTIO_TRANSPORT_MMIO);
	assert_int_equal(vm_add_virtio_device(vm, virtio_rng_create(), &err),
			 0);
	assert_int_equal(vm_add_virtio_device(vm, virtio_rng_create(), &err),
			 0);
	assert_int_equal(vm->virtio_mmio_count, 2);
	assert_int_equal(vm->virtio_mmio[1].base, BASE + 0x1000);
	assert_int_equal(vm->virtio_mmio[1].size, 0x1000);
	assert_int_equal(vm->virtio_mmio[1].gsi, 17);
	/* Listed for metrics, named by type and number. */
	assert_int_equal(vm->virtio_device_count, 2);
	assert_string_equal(vm->virtio_devices[1].id, "rng1");
	cmdline = vm_virtio_cmdline(vm, vm->config.cmdline);
	assert_string_equal(cmdline,
			    "console=ttyS0 pci=off "
			    "virtio_mmio.device=4K@0xd0000000:16 "
			    "virtio_mmio.device=4K@0xd0001000:17");
	free(cmdline);
	io_bus_destroy_devices(&vm->mmio_bus);
	guest_memory_destroy(&vm->memory);

	vm->config.cmdline = "console=ttyS0 xpci=off";
	assert_int_equal(vm_virtio_transport(vm), VIRTIO_TRANSPORT_PCI);
	vm->config.virtio_transport = VIRTIO_TRANSPORT_MMIO;
	assert_int_equal(vm_virtio_transport(vm), VIRTIO_TRANSPORT_MMIO);
	free(vm);
}

/* 16 slots, each on its own IOAPIC pin: 16-23, then the ISA pins no
 * platform device uses; a 17th device is refused naming the limit. */
static void sixteen_mmio_devices_get_distinct_free_pins(void **state)
{
	static const uint32_t expected[16] = {16, 17, 18, 19, 20, 21, 22, 23,
					      3,  6,  7,  10, 11, 13, 14, 15};
	struct vm *vm = calloc(1, sizeof(*vm));
	struct tern_error err = {{0}};

	(void)state;
	vm->fd = -1;
	vm->config.virtio_transport = VIRTIO_TRANSPORT_MMIO;
	assert_int_equal(guest_memory_init(&vm->memory, MiB(64)), 0);
	for (int i = 0; i < 16; i++) {
		assert_int_equal(
			vm_add_virtio_device(vm, virtio_rng_create(), &err), 0);
		assert_int_equal(vm->virtio_mmio[i].gsi, expected[i]);
		assert_int_equal(virtio_mmio_slot_gsi(i), expected[i]);
	}
	assert_int_not_equal(vm->virtio_mmio[8].gsi, SERIAL_COM1_GSI);
	assert_int_equal(vm_add_virtio_device(vm, virtio_rng_create(), &err),
			 -ENOSPC);
	assert_non_null(strstr(err.message, "room for 16 virtio-mmio"));
	assert_int_equal(vm->virtio_mmio_count, 16);
	io_bus_destroy_devices(&vm->mmio_bus);
	guest_memory_destroy(&vm->memory);
	free(vm);
}

/* A guest on the 8259 PIC (noapic or acpi=off: vm/vm_legacy_pic.h) gets
 * the PIC's free pins first; noapic alone also turns full ACPI on unless
 * --acpi says otherwise (Linux sets up no PIC under hardware-reduced
 * ACPI). */
static void pic_guests_get_isa_pins_first(void **state)
{
	static const uint32_t expected[16] = {3,  6,  7,  10, 11, 13, 14, 15,
					      16, 17, 18, 19, 20, 21, 22, 23};
	static const char *const pic_lines[] = {"console=ttyS0 noapic reboot=k",
						"noapic", "acpi=off pci=off"};
	static const char *const apic_lines[] = {"console=ttyS0", "noapicx",
						 "xnoapic", "acpi=offx", NULL};
	struct vm *vm = calloc(1, sizeof(*vm));
	struct tern_error err = {{0}};

	(void)state;
	for (size_t i = 0; i < 3; i++) {
		vm->config.cmdline = pic_lines[i];
		assert_true(vm_config_guest_uses_pic(&vm->config));
	}
	for (size_t i = 0; i < 5; i++) {
		vm->config.cmdline = apic_lines[i];
		assert_false(vm_config_guest_uses_pic(&vm->config));
		assert_false(vm_config_full_acpi(&vm->config));
	}
	/* acpi_mode: absent follows noapic, given wins */
	vm->config.cmdline = "console=ttyS0 noapic";
	assert_true(vm_config_full_acpi(&vm->config));
	vm->config.acpi_mode = VM_ACPI_REDUCED;
	assert_false(vm_config_full_acpi(&vm->config));
	vm->config.acpi_mode = VM_ACPI_DEFAULT;
	/* a firmware boots its own command line */
	vm->config.firmware_path = "bios.bin";
	assert_false(vm_config_guest_uses_pic(&vm->config));
	vm->config.firmware_path = NULL;

	vm->fd = -1;
	vm->config.virtio_transport = VIRTIO_TRANSPORT_MMIO;
	assert_int_equal(guest_memory_init(&vm->memory, MiB(64)), 0);
	for (int i = 0; i < 16; i++) {
		assert_int_equal(
			vm_add_virtio_device(vm, virtio_rng_create(), &err), 0);
		assert_int_equal(vm->virtio_mmio[i].gsi, expected[i]);
		assert_int_equal(virtio_mmio_slot_gsi_pic(i), expected[i]);
	}
	io_bus_destroy_devices(&vm->mmio_bus);
	guest_memory_destroy(&vm->memory);
	free(vm);
}

static void root_disk_is_named_on_the_command_line(void **state)
{
	struct vm *vm = calloc(1, sizeof(*vm));
	char *cmdline;

	(void)state;
	vm->config.disk_count = 2;
	assert_null(vm_virtio_cmdline(vm, "console=ttyS0")); /* no root */
	vm->config.disks[1].root = true;
	cmdline = vm_virtio_cmdline(vm, "console=ttyS0");
	assert_string_equal(cmdline, "console=ttyS0 root=/dev/vda rw");
	free(cmdline);
	vm->config.disks[1].readonly = true;
	cmdline = vm_virtio_cmdline(vm, "console=ttyS0");
	assert_string_equal(cmdline, "console=ttyS0 root=/dev/vda ro");
	free(cmdline);
	assert_null(vm_virtio_cmdline(vm, "console=ttyS0 root=/dev/sda1"));
	assert_null(vm_virtio_cmdline(vm, "root=PARTUUID=x console=ttyS0"));
	free(vm);
}

/* Firecracker's pmem root_device: root=/dev/pmem0 (vm_pmem.c plugs the
 * root device first), rw or ro as the device, unless the command line
 * names a root. */
static void root_pmem_is_named_on_the_command_line(void **state)
{
	struct vm *vm = calloc(1, sizeof(*vm));
	char *cmdline;

	(void)state;
	vm->config.pmem_count = 2;
	assert_null(vm_virtio_cmdline(vm, "console=ttyS0")); /* no root */
	vm->config.pmems[1].root = true;
	cmdline = vm_virtio_cmdline(vm, "console=ttyS0");
	assert_string_equal(cmdline, "console=ttyS0 root=/dev/pmem0 rw");
	free(cmdline);
	vm->config.pmems[1].readonly = true;
	cmdline = vm_virtio_cmdline(vm, "console=ttyS0");
	assert_string_equal(cmdline, "console=ttyS0 root=/dev/pmem0 ro");
	free(cmdline);
	assert_null(vm_virtio_cmdline(vm, "console=ttyS0 root=/dev/vda"));
	free(vm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	/* Firecracker's is_root_device: root=/dev/vda ro|rw, unless the
	 * command line names a root itself. */

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(identification_registers),
		T(notify_is_served_with_an_edge_and_ack_clears),
		T(live_queue_cannot_be_moved_and_reset_forgets_it),
		T(bad_queue_sets_needs_reset_with_a_config_edge),
		cmocka_unit_test(mmio_devices_get_slots_gsis_and_cmdline),
		cmocka_unit_test(sixteen_mmio_devices_get_distinct_free_pins),
		cmocka_unit_test(pic_guests_get_isa_pins_first),
		cmocka_unit_test(root_disk_is_named_on_the_command_line),
		cmocka_unit_test(root_pmem_is_named_on_the_command_line),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
