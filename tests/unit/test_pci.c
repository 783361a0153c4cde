/* The PCI bus as a guest drives it: configuration mechanism #1 and ECAM,
 * the host bridge Linux's probe looks for, BAR sizing and moving, memory
 * decoding and the capability list. No KVM needed. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "arch/x86/layout.h"
#include "devices/io_bus.h"
#include "devices/pci/pci_bus.h"
#include "devices/pci/pci_host_bridge.h"
#include "devices/reset_port.h"

struct test_device {
	struct pci_device pdev;
	uint32_t reg; /* one register at BAR 0 offset 8 */
	int mapped_calls;
	uint64_t last_gpa;
	bool last_mapped;
	int *destroyed;
};

static void td_read(struct pci_device *pdev, int bar, uint64_t offset,
		    void *data, uint32_t size)
{
	struct test_device *td = (struct test_device *)pdev;
	uint32_t value = offset == 8 ? td->reg : 0x5a5a5a5a;

	memcpy(data, &value, size > 4 ? 4 : size);
}

static void td_write(struct pci_device *pdev, int bar, uint64_t offset,
		     const void *data, uint32_t size)
{
	struct test_device *td = (struct test_device *)pdev;

	if (offset == 8 && size == 4)
		memcpy(&td->reg, data, 4);
}

static void td_mapped(struct pci_device *pdev, int bar, uint64_t gpa,
		      bool mapped)
{
	struct test_device *td = (struct test_device *)pdev;

	td->mapped_calls++;
	td->last_gpa = gpa;
	td->last_mapped = mapped;
}

static void td_destroy(struct pci_device *pdev)
{
	struct test_device *td = (struct test_device *)pdev;

	(*td->destroyed)++;
	free(td);
}

static const struct pci_device_ops td_ops = {
	.name = "test",
	.bar_read = td_read,
	.bar_write = td_write,
	.bar_mapped = td_mapped,
	.destroy = td_destroy,
};

struct fixture {
	struct io_bus pio, mmio;
	struct pci_bus *bus;
	struct test_device *td;
	int destroyed;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	f->bus = pci_bus_create();
	assert_non_null(f->bus);
	assert_int_equal(pci_bus_attach(f->bus, &f->pio, &f->mmio), 0);
	f->td = calloc(1, sizeof(*f->td));
	f->td->destroyed = &f->destroyed;
	pci_device_init(&f->td->pdev, &td_ops, 0x1234, 0x5678, 0x018000, 2,
			0x1af4, 0x1100);
	pci_device_add_bar(&f->td->pdev, 0, 0x4000);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	if (!f->destroyed && !f->td->pdev.slot)
		free(f->td); /* never plugged: still the test's */
	pci_bus_destroy(f->bus);
	free(f);
	return 0;
}

static void outl(struct fixture *f, uint16_t port, uint32_t v)
{
	io_bus_write(&f->pio, port, &v, 4);
}

static uint32_t inl(struct fixture *f, uint16_t port)
{
	uint32_t v = 0;

	io_bus_read(&f->pio, port, &v, 4);
	return v;
}

static uint32_t conf1_read(struct fixture *f, unsigned slot, unsigned reg)
{
	outl(f, 0xcf8, 0x80000000u | (slot << 11) | (reg & 0xfc));
	return inl(f, 0xcfc);
}

static void conf1_write(struct fixture *f, unsigned slot, unsigned reg,
			uint32_t v)
{
	outl(f, 0xcf8, 0x80000000u | (slot << 11) | (reg & 0xfc));
	outl(f, 0xcfc, v);
}

static uint32_t ecam_read(struct fixture *f, unsigned slot, unsigned reg)
{
	uint32_t v = 0;

	io_bus_read(&f->mmio, LAYOUT_PCI_ECAM_GPA + (slot << 15) + reg, &v, 4);
	return v;
}

static void linux_conf1_probe_finds_the_host_bridge(void **state)
{
	struct fixture *f = *state;
	uint8_t byte = 1;

	/* pci_check_type1(): a byte to 0xcfb, then the latch must hold
	 * 0x80000000 exactly. */
	io_bus_write(&f->pio, 0xcfb, &byte, 1);
	outl(f, 0xcf8, 0x80000000u);
	assert_int_equal(inl(f, 0xcf8), 0x80000000u);
	assert_int_equal(conf1_read(f, 0, 0),
			 PCI_HOST_BRIDGE_DEVICE_ID << 16 |
				 PCI_HOST_BRIDGE_VENDOR_ID);
	assert_int_equal(conf1_read(f, 0, 8) >> 8, PCI_CLASS_HOST_BRIDGE);
	/* Nothing in slot 5, on bus 1 or in function 1. */
	assert_int_equal(conf1_read(f, 5, 0), 0xffffffffu);
	outl(f, 0xcf8, 0x80010000u);
	assert_int_equal(inl(f, 0xcfc), 0xffffffffu);
	outl(f, 0xcf8, 0x80000100u);
	assert_int_equal(inl(f, 0xcfc), 0xffffffffu);
	/* Enable bit clear: no config cycle. */
	outl(f, 0xcf8, 0x00000000u);
	assert_int_equal(inl(f, 0xcfc), 0xffffffffu);
	/* The bridge's command register stays 0: it decodes nothing. */
	conf1_write(f, 0, 4, 0xffff);
	assert_int_equal(conf1_read(f, 0, 4) & 0xffff, 0);
}

static void byte_and_word_accesses_reach_their_register(void **state)
{
	struct fixture *f = *state;
	uint16_t word = 0;
	uint8_t byte = 0;

	outl(f, 0xcf8, 0x80000000u | 0x08);
	io_bus_read(&f->pio, 0xcfe, &word, 2); /* class: sub, base */
	assert_int_equal(word, 0x0600);
	io_bus_read(&f->pio, 0xcff, &byte, 1);
	assert_int_equal(byte, 0x06);
}

static void device_gets_slot_bar_and_decoding(void **state)
{
	struct fixture *f = *state;
	uint32_t v = 0;

	assert_int_equal(pci_bus_add_device(f->bus, &f->td->pdev), 1);
	assert_int_equal(conf1_read(f, 1, 0), 0x56781234);
	assert_int_equal(conf1_read(f, 1, 8), 0x01800002);
	assert_int_equal(conf1_read(f, 1, 0x2c), 0x11001af4);
	assert_int_equal(conf1_read(f, 1, 0x10), LAYOUT_PCI_MMIO_GPA);
	assert_int_equal(conf1_read(f, 1, 4) & 2, 2); /* memory on */
	assert_int_equal(f->td->mapped_calls, 1);
	assert_true(f->td->last_mapped);
	assert_int_equal(f->td->last_gpa, LAYOUT_PCI_MMIO_GPA);

	v = 0xcafe;
	io_bus_write(&f->mmio, LAYOUT_PCI_MMIO_GPA + 8, &v, 4);
	v = 0;
	io_bus_read(&f->mmio, LAYOUT_PCI_MMIO_GPA + 8, &v, 4);
	assert_int_equal(v, 0xcafe);
	/* Past the BAR's end nothing answers. */
	io_bus_read(&f->mmio, LAYOUT_PCI_MMIO_GPA + 0x4000, &v, 4);
	assert_int_equal(v, 0xffffffffu);
}

static void bar_sizing_reads_back_the_size_mask(void **state)
{
	struct fixture *f = *state;
	uint32_t v;

	pci_bus_add_device(f->bus, &f->td->pdev);
	/* Linux turns decoding off while sizing. */
	conf1_write(f, 1, 4, 0);
	assert_false(f->td->last_mapped);
	conf1_write(f, 1, 0x10, 0xffffffffu);
	assert_int_equal(conf1_read(f, 1, 0x10), 0xffffc000u);
	/* Unimplemented BARs and the ROM BAR read 0 after all-ones. */
	conf1_write(f, 1, 0x14, 0xffffffffu);
	assert_int_equal(conf1_read(f, 1, 0x14), 0);
	conf1_write(f, 1, 0x30, 0xffffffffu);
	assert_int_equal(conf1_read(f, 1, 0x30), 0);
	/* Move it 64 KiB up and turn decoding back on. */
	conf1_write(f, 1, 0x10, LAYOUT_PCI_MMIO_GPA + 0x10000);
	conf1_write(f, 1, 4, 2);
	assert_true(f->td->last_mapped);
	assert_int_equal(f->td->last_gpa, LAYOUT_PCI_MMIO_GPA + 0x10000);
	io_bus_read(&f->mmio, LAYOUT_PCI_MMIO_GPA + 0x10008, &v, 4);
	assert_int_equal(v, 0);
	io_bus_read(&f->mmio, LAYOUT_PCI_MMIO_GPA + 8, &v, 4);
	assert_int_equal(v, 0xffffffffu);
	/* A BAR moved outside the window decodes nowhere, nor in the
	 * firmware's window of a VM without --firmware. */
	conf1_write(f, 1, 0x10, 0x10000000u);
	assert_false(f->td->last_mapped);
	conf1_write(f, 1, 0x10, 0xfebfc000u);
	assert_false(f->td->last_mapped);
}

/* Where SeaBIOS (--firmware) puts it: top-down from the IOAPIC. */
static void bar_decodes_where_pc_firmware_puts_it(void **state)
{
	struct fixture *f = *state;
	uint32_t at = 0xfebfc000u, v = 0x5eab105;

	/* SeaBIOS takes the machine for QEMU's (and reads fw_cfg, sets up
	 * PCI) by the host bridge's subsystem IDs. */
	assert_int_equal(conf1_read(f, 0, 0x2c), 0x11001af4);
	assert_int_equal(pci_bus_enable_firmware_window(f->bus, &f->mmio), 0);
	pci_bus_add_device(f->bus, &f->td->pdev);
	conf1_write(f, 1, 0x10, at);
	assert_true(f->td->last_mapped);
	assert_int_equal(f->td->last_gpa, at);
	io_bus_write(&f->mmio, at + 8, &v, 4);
	v = 0;
	io_bus_read(&f->mmio, at + 8, &v, 4);
	assert_int_equal(v, 0x5eab105);
	/* Reaching into the IOAPIC is no window's. */
	conf1_write(f, 1, 0x10, 0xfec00000u);
	assert_false(f->td->last_mapped);
}

static void capability_list_is_linked(void **state)
{
	struct fixture *f = *state;
	uint8_t body_a[6] = {1, 2, 3, 4, 5, 6}, body_b[2] = {7, 8};
	uint8_t a, b;

	a = pci_device_add_capability(&f->td->pdev, PCI_CAP_ID_VENDOR, body_a,
				      sizeof(body_a));
	b = pci_device_add_capability(&f->td->pdev, PCI_CAP_ID_MSIX, body_b,
				      sizeof(body_b));
	assert_int_equal(a, 0x40);
	assert_int_equal(b, 0x48);
	pci_bus_add_device(f->bus, &f->td->pdev);
	assert_true(conf1_read(f, 1, 4) >> 16 & PCI_STATUS_CAP_LIST);
	assert_int_equal(conf1_read(f, 1, 0x34) & 0xff, 0x40);
	assert_int_equal(conf1_read(f, 1, 0x40), 0x02014809u);
	assert_int_equal(conf1_read(f, 1, 0x48), 0x08070011u);
	/* Read-only unless the device says otherwise. */
	conf1_write(f, 1, 0x40, 0);
	assert_int_equal(conf1_read(f, 1, 0x40), 0x02014809u);
	/* A full list refuses more. */
	assert_int_equal(
		pci_device_add_capability(&f->td->pdev, 9, body_a, 250), 0);
}

static void ecam_reaches_the_same_and_the_extended_space(void **state)
{
	struct fixture *f = *state;
	uint32_t v = 0xffffffffu;

	pci_bus_add_device(f->bus, &f->td->pdev);
	assert_int_equal(ecam_read(f, 1, 0), conf1_read(f, 1, 0));
	assert_int_equal(ecam_read(f, 0, 8) >> 8, PCI_CLASS_HOST_BRIDGE);
	/* No extended capabilities: the header at 0x100 is 0. */
	assert_int_equal(ecam_read(f, 1, 0x100), 0);
	assert_int_equal(ecam_read(f, 7, 0), 0xffffffffu);
	/* BAR write through ECAM. */
	io_bus_write(&f->mmio, LAYOUT_PCI_ECAM_GPA + (1 << 15) + 0x10, &v, 4);
	assert_int_equal(ecam_read(f, 1, 0x10), 0xffffc000u);
	/* Misaligned config accesses are dropped. */
	assert_int_equal(pci_bus_config_read(f->bus, 0, 1, 0, 2, 4),
			 0xffffffffu);
}

static void count_reset(void *opaque)
{
	(*(int *)opaque)++;
}

/* Port 0xcf9 as a byte is the reset control register (bit 2 resets); a
 * dword at 0xcf8 is still the address latch. The bus owns the device. */
static void port_cf9_is_the_reset_control_register(void **state)
{
	struct fixture *f = *state;
	int resets = 0;
	uint8_t b;

	pci_bus_set_reset_control(
		f->bus,
		reset_port_create(
			"reset-control", RESET_CONTROL_RESET_CPU,
			RESET_CONTROL_RESET_CPU,
			&(struct reset_port_events){count_reset, &resets}));
	b = 0x02; /* reset type only */
	io_bus_write(&f->pio, 0xcf9, &b, 1);
	assert_int_equal(resets, 0);
	outl(f, 0xcf8, 0x80000000u);
	assert_int_equal(inl(f, 0xcf8), 0x80000000u);
	assert_int_equal(resets, 0);
	b = 0x06;
	io_bus_write(&f->pio, 0xcf9, &b, 1);
	assert_int_equal(resets, 1);
	b = 0xff;
	io_bus_read(&f->pio, 0xcf9, &b, 1);
	assert_int_equal(b, 0);
}

static void bus_destroys_its_devices(void **state)
{
	struct fixture *f = *state;

	pci_bus_add_device(f->bus, &f->td->pdev);
	pci_bus_destroy(f->bus);
	assert_int_equal(f->destroyed, 1);
	f->bus = NULL;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(linux_conf1_probe_finds_the_host_bridge),
		T(bar_decodes_where_pc_firmware_puts_it),
		T(byte_and_word_accesses_reach_their_register),
		T(device_gets_slot_bar_and_decoding),
		T(bar_sizing_reads_back_the_size_mask),
		T(capability_list_is_linked),
		T(ecam_reaches_the_same_and_the_extended_space),
		T(bus_destroys_its_devices),
		T(port_cf9_is_the_reset_control_register),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
