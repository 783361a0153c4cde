#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "arch/x86/acpi/acpi_tables.h"
#include "arch/x86/acpi/aml.h"
#include "arch/x86/layout.h"
#include "devices/acpi_ged.h"
#include "devices/acpi_pm1.h"

#define BASE LAYOUT_ACPI_GPA

static uint8_t area[LAYOUT_ACPI_SIZE];

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
		(uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

/* The table at a guest address inside the area, checked for bounds and
 * checksum; its signature must be sig. */
static const uint8_t *table_at(uint64_t gpa, const char *sig, long used)
{
	const uint8_t *t;
	uint32_t length;

	assert_true(gpa >= BASE && gpa + 36 <= BASE + (uint64_t)used);
	t = area + (gpa - BASE);
	length = get32(t + 4);
	assert_true(gpa + length <= BASE + (uint64_t)used);
	assert_memory_equal(t, sig, 4);
	assert_int_equal(acpi_checksum(t, length), 0);
	return t;
}

static long build(int cpus, const struct acpi_mmio_device *mmio, int mmio_count)
{
	uint32_t apic_ids[64];
	struct acpi_platform platform = {
		.cpu_count = cpus,
		.apic_ids = apic_ids,
		.mmio_devices = mmio,
		.mmio_device_count = mmio_count,
	};

	for (int i = 0; i < cpus && i < 64; i++)
		apic_ids[i] = (uint32_t)i;
	memset(area, 0xcc, sizeof(area));
	return acpi_tables_build(&platform, BASE, area, sizeof(area));
}

static const uint8_t *xsdt_entry(const char *sig, long used)
{
	const uint8_t *xsdt = table_at(get64(area + 24), "XSDT", used);
	uint32_t count = (get32(xsdt + 4) - 36) / 8;

	for (uint32_t i = 0; i < count; i++) {
		uint64_t gpa = get64(xsdt + 36 + i * 8);

		if (!memcmp(area + (gpa - BASE), sig, 4))
			return table_at(gpa, sig, used);
	}
	fail_msg("no %s in the XSDT", sig);
	return NULL;
}

static void rsdp_is_valid_and_points_to_xsdt(void **state)
{
	long used = build(1, NULL, 0);

	assert_true(used > 0);
	assert_memory_equal(area, "RSD PTR ", 8);
	assert_int_equal(acpi_checksum(area, 20), 0);
	assert_int_equal(acpi_checksum(area, 36), 0);
	assert_int_equal(area[15], 2);
	table_at(get64(area + 24), "XSDT", used);
}

static void every_table_is_checksummed(void **state)
{
	long used = build(4, NULL, 0);
	const uint8_t *fadt = xsdt_entry("FACP", used);

	xsdt_entry("APIC", used);
	xsdt_entry("MCFG", used);
	table_at(get64(fadt + 140), "DSDT", used);
}

static void fadt_is_hardware_reduced_with_sleep_registers(void **state)
{
	long used = build(1, NULL, 0);
	const uint8_t *fadt = xsdt_entry("FACP", used);

	assert_int_equal(get32(fadt + 4), 276);
	assert_true(get32(fadt + 112) & (1u << 20));
	assert_int_equal(fadt[244], 1); /* system I/O */
	assert_int_equal(get64(fadt + 248), ACPI_SLEEP_CONTROL_PORT);
	assert_int_equal(get64(fadt + 260), ACPI_SLEEP_STATUS_PORT);
	assert_int_equal(get64(fadt + 120), ACPI_RESET_PORT);
	assert_int_equal(fadt[128], ACPI_RESET_VALUE);
	/* MSI must stay allowed: virtio devices need it. */
	assert_false(fadt[109] & (1u << 3));
	/* A FACS for S3's waking vector, in both FIRMWARE_CTRL fields, and
	 * no PM1 blocks. */
	assert_int_equal(get32(fadt + 36), get64(fadt + 132));
	assert_true(get64(fadt + 132) >= BASE &&
		    get64(fadt + 132) + 64 <= BASE + (uint64_t)used);
	assert_int_equal(get64(fadt + 132) % 64, 0);
	assert_memory_equal(area + (get64(fadt + 132) - BASE), "FACS", 4);
	assert_int_equal(get32(fadt + 56), 0);
	assert_int_equal(get32(fadt + 64), 0);
}

static void madt_lists_every_cpu_and_the_ioapic(void **state)
{
	long used = build(64, NULL, 0);
	const uint8_t *madt = xsdt_entry("APIC", used);
	uint32_t length = get32(madt + 4);
	int cpus = 0, ioapics = 0;

	assert_int_equal(get32(madt + 36), LAYOUT_LAPIC_GPA);
	for (uint32_t off = 44; off < length; off += madt[off + 1]) {
		assert_true(madt[off + 1] >= 2);
		if (madt[off] == 0) {
			assert_int_equal(madt[off + 3], cpus);
			assert_int_equal(get32(madt + off + 4), 1);
			cpus++;
		} else if (madt[off] == 1) {
			assert_int_equal(get32(madt + off + 4),
					 LAYOUT_IOAPIC_GPA);
			ioapics++;
		}
	}
	assert_int_equal(cpus, 64);
	assert_int_equal(ioapics, 1);
}

static void mcfg_describes_bus_zero_ecam(void **state)
{
	long used = build(1, NULL, 0);
	const uint8_t *mcfg = xsdt_entry("MCFG", used);

	assert_int_equal(get32(mcfg + 4), 60);
	assert_int_equal(get64(mcfg + 44), LAYOUT_PCI_ECAM_GPA);
	assert_int_equal(mcfg[54], 0);
	assert_int_equal(mcfg[55], 0);
}

static int dsdt_contains(const uint8_t *dsdt, const void *needle, size_t len)
{
	uint32_t length = get32(dsdt + 4);

	for (uint32_t i = 36; i + len <= length; i++)
		if (!memcmp(dsdt + i, needle, len))
			return 1;
	return 0;
}

static void dsdt_has_pci_serial_s5_and_mmio_devices(void **state)
{
	const struct acpi_mmio_device mmio[2] = {
		{LAYOUT_VIRTIO_MMIO_GPA, 0x1000, 5},
		{LAYOUT_VIRTIO_MMIO_GPA + 0x1000, 0x1000, 6},
	};
	long used = build(2, mmio, 2);
	const uint8_t *fadt = xsdt_entry("FACP", used);
	const uint8_t *dsdt = table_at(get64(fadt + 140), "DSDT", used);

	assert_true(dsdt_contains(dsdt, "PCI0", 4));
	assert_true(dsdt_contains(dsdt, "COM1", 4));
	assert_true(dsdt_contains(dsdt, "PS2K", 4));
	assert_true(dsdt_contains(dsdt, "_S5_", 4));
	/* No \_S3 with hardware-reduced ACPI: Linux would sleep and never
	 * write a waking vector (acpi_tables.c). */
	assert_false(dsdt_contains(dsdt, "_S3_", 4));
	assert_true(dsdt_contains(dsdt, "VR00", 4));
	assert_true(dsdt_contains(dsdt, "VR01", 4));
	assert_true(dsdt_contains(dsdt, "LNRO0005", 8));
}

/* Linux's rtc_cmos binds to PNP0B00 and takes its IRQ from _CRS: ports
 * 0x70-0x71, then ISA IRQ 8 (IRQNoFlags: edge, active high). The FADT
 * names the century register, which Linux then reads and writes. */
static void dsdt_has_the_rtc_with_irq_8(void **state)
{
	static const uint8_t pnp0b00[] = {0x0c, 0x41, 0xd0, 0x0b, 0x00};
	static const uint8_t crs[] = {0x47, 0x01, 0x70, 0x00, 0x70, 0x00,
				      0x01, 0x02, 0x22, 0x00, 0x01, 0x79};
	long used = build(1, NULL, 0);
	const uint8_t *fadt = xsdt_entry("FACP", used);
	const uint8_t *dsdt = table_at(get64(fadt + 140), "DSDT", used);

	assert_true(dsdt_contains(dsdt, "RTC_", 4));
	assert_true(dsdt_contains(dsdt, pnp0b00, sizeof(pnp0b00)));
	assert_true(dsdt_contains(dsdt, crs, sizeof(crs)));
	assert_int_equal(fadt[108], 0x32);
}

/* The _EVT method of the power button's GED, byte for byte (checked with
 * iasl -d): Method (_EVT, 1) { If (LEqual (Arg0, 5)) {
 * Notify (\_SB.PWRB, 0x80) } }. */
static const uint8_t evt_method[] = {
	0x14, 0x19, '_',  'E',	'V', 'T', 0x01, /* Method, 1 arg */
	0xa0, 0x12, /* If */
	0x93, 0x68, 0x0a, 0x05, /* LEqual (Arg0, 5) */
	0x86, 0x5c, 0x2e, '_',	'S', 'B', '_',	'P', 'W', 'R', 'B', /* Notify */
	0x0a, 0x80,
};

static void aml_writes_the_power_buttons_event_method(void **state)
{
	struct aml aml;

	aml_init(&aml);
	aml_method_open(&aml, "_EVT", 1);
	aml_if_open(&aml);
	aml_lequal(&aml);
	aml_arg(&aml, 0);
	aml_integer(&aml, 5);
	aml_notify(&aml, "\\_SB_.PWRB", 0x80);
	aml_close(&aml);
	aml_close(&aml);
	assert_false(aml.failed);
	assert_int_equal(aml.depth, 0);
	assert_int_equal(aml.len, sizeof(evt_method));
	assert_memory_equal(aml.data, evt_method, sizeof(evt_method));
	aml_free(&aml);

	/* Out of range: Arg7 does not exist, a method takes 7 args at most. */
	aml_init(&aml);
	aml_arg(&aml, 7);
	assert_true(aml.failed);
	aml_free(&aml);
	aml_init(&aml);
	aml_method_open(&aml, "_EVT", 8);
	assert_true(aml.failed);
	aml_free(&aml);
}

/* Hardware-reduced ACPI: the power button device, and the GED with its
 * edge-triggered interrupt on ACPI_GED_GSI and the _EVT method; the FADT
 * says there is no fixed power button. */
static void dsdt_has_the_power_button_and_its_ged(void **state)
{
	static const uint8_t pnp0c0c[] = {0x0c, 0x41, 0xd0, 0x0c, 0x0c};
	/* Extended interrupt: consumer, edge, active high, exclusive. */
	static const uint8_t crs[] = {0x89,	    0x06, 0x00, 0x03, 0x01,
				      ACPI_GED_GSI, 0x00, 0x00, 0x00, 0x79};
	long used = build(1, NULL, 0);
	const uint8_t *fadt = xsdt_entry("FACP", used);
	const uint8_t *dsdt = table_at(get64(fadt + 140), "DSDT", used);

	assert_true(dsdt_contains(dsdt, "PWRB", 4));
	assert_true(dsdt_contains(dsdt, pnp0c0c, sizeof(pnp0c0c)));
	assert_true(dsdt_contains(dsdt, "GED_", 4));
	assert_true(dsdt_contains(dsdt, "ACPI0013", 9));
	assert_true(dsdt_contains(dsdt, crs, sizeof(crs)));
	assert_true(dsdt_contains(dsdt, evt_method, sizeof(evt_method)));
	assert_true(get32(fadt + 112) & (1u << 4)); /* PWR_BUTTON: none */
}

/* Full ACPI (--firmware): the fixed power button of the PM1 blocks, on
 * the SCI; no GED. */
static void full_acpi_has_the_fixed_power_button(void **state)
{
	uint32_t apic_id = 0;
	struct acpi_platform platform = {
		.cpu_count = 1, .apic_ids = &apic_id, .full_acpi = 1};
	long used;
	const uint8_t *fadt, *dsdt;

	memset(area, 0xcc, sizeof(area));
	used = acpi_tables_build(&platform, BASE, area, sizeof(area));
	assert_true(used > 0);
	fadt = xsdt_entry("FACP", used);
	dsdt = table_at(get64(fadt + 140), "DSDT", used);
	assert_false(get32(fadt + 112) & (1u << 4));
	assert_false(get32(fadt + 112) & (1u << 20));
	assert_int_equal(fadt[46], ACPI_PM1_SCI_GSI);
	assert_false(dsdt_contains(dsdt, "GED_", 4));
	/* Name (\_S3, Package (2) { 1, 0 }): NameOp, root, the name,
	 * PackageOp, length 4, 2 elements, One, Zero. */
	assert_true(dsdt_contains(dsdt, "\x08\\_S3_\x12\x04\x02\x01\x00", 10));
}

/* SeaBIOS's romfile_loader, as a test double: places the two blobs at the
 * addresses it would pick, then runs the script's ADD_POINTER and
 * ADD_CHECKSUM entries on them. */
#define FW_TABLES_GPA 0x0fff0000ULL
#define FW_RSDP_GPA 0x000f5a40ULL

static uint8_t *fw_blob(const char *name, struct acpi_firmware_blobs *b,
			uint64_t *gpa, size_t *len)
{
	if (!strcmp(name, ACPI_FIRMWARE_TABLES_FILE)) {
		*gpa = FW_TABLES_GPA;
		*len = b->tables_len;
		return b->tables;
	}
	assert_string_equal(name, ACPI_FIRMWARE_RSDP_FILE);
	*gpa = FW_RSDP_GPA;
	*len = sizeof(b->rsdp);
	return b->rsdp;
}

static void run_loader(struct acpi_firmware_blobs *b, int *allocs)
{
	assert_int_equal(b->loader_len % 128, 0);
	for (size_t at = 0; at < b->loader_len; at += 128) {
		const uint8_t *e = b->loader + at;
		uint64_t gpa, src_gpa;
		size_t len, src_len;
		uint8_t *blob, *sum_at;

		switch (get32(e)) {
		case 1: /* ALLOCATE: file, align, zone (HIGH 1, FSEG 2) */
			fw_blob((const char *)e + 4, b, &gpa, &len);
			assert_int_equal(e[64], gpa == FW_RSDP_GPA ? 2 : 1);
			(*allocs)++;
			break;
		case 2: /* ADD_POINTER: dest, src, offset, size */
			blob = fw_blob((const char *)e + 4, b, &gpa, &len);
			fw_blob((const char *)e + 60, b, &src_gpa, &src_len);
			/* 8 bytes, or 4 for FIRMWARE_CTRL */
			assert_true(e[120] == 8 || e[120] == 4);
			assert_true(get32(e + 116) + e[120] <= len);
			blob += get32(e + 116);
			assert_true((e[120] == 8 ? get64(blob) : get32(blob)) <
				    src_len);
			src_gpa += e[120] == 8 ? get64(blob) : get32(blob);
			for (int i = 0; i < e[120]; i++)
				blob[i] = (uint8_t)(src_gpa >> (8 * i));
			break;
		case 3: /* ADD_CHECKSUM: file, offset, start, length */
			blob = fw_blob((const char *)e + 4, b, &gpa, &len);
			assert_true(get32(e + 64) + get32(e + 68) <= len);
			sum_at = blob + get32(e + 60);
			*sum_at = (uint8_t)(*sum_at -
					    acpi_checksum(blob + get32(e + 64),
							  get32(e + 68)));
			break;
		default:
			fail_msg("unknown loader command %u", get32(e));
		}
	}
}

static const uint8_t *fw_table(const struct acpi_firmware_blobs *b,
			       uint64_t gpa, const char *sig)
{
	const uint8_t *t;

	assert_true(gpa >= FW_TABLES_GPA &&
		    gpa + 36 <= FW_TABLES_GPA + b->tables_len);
	t = b->tables + (gpa - FW_TABLES_GPA);
	assert_memory_equal(t, sig, 4);
	assert_true(gpa + get32(t + 4) <= FW_TABLES_GPA + b->tables_len);
	assert_int_equal(acpi_checksum(t, get32(t + 4)), 0);
	return t;
}

static void firmware_loader_links_the_tables_where_it_puts_them(void **state)
{
	uint32_t apic_ids[3] = {0, 1, 2};
	struct acpi_platform platform = {
		.cpu_count = 3, .apic_ids = apic_ids, .full_acpi = 1};
	struct acpi_firmware_blobs b;
	const uint8_t *xsdt, *fadt = NULL, *facs;
	int allocs = 0;

	assert_int_equal(acpi_tables_build_for_firmware(&platform, &b), 0);
	run_loader(&b, &allocs);
	assert_int_equal(allocs, 2);
	assert_memory_equal(b.rsdp, "RSD PTR ", 8);
	assert_int_equal(acpi_checksum(b.rsdp, 20), 0);
	assert_int_equal(acpi_checksum(b.rsdp, 36), 0);
	xsdt = fw_table(&b, get64(b.rsdp + 24), "XSDT");
	for (uint32_t i = 0; i < (get32(xsdt + 4) - 36) / 8; i++) {
		uint64_t gpa = get64(xsdt + 36 + i * 8);
		const uint8_t *t = fw_table(&b, gpa,
					    (const char *)b.tables +
						    (gpa - FW_TABLES_GPA));

		if (!memcmp(t, "FACP", 4))
			fadt = t;
	}
	assert_non_null(fadt);
	fw_table(&b, get64(fadt + 140), "DSDT");
	/* Full ACPI for a BIOS-booted OS: not hardware-reduced, the PM1
	 * blocks named, and a FACS (no checksum, 64-byte aligned). */
	assert_int_equal(get32(fadt + 112) & (1u << 20), 0);
	assert_int_equal(get32(fadt + 56), 0x608);
	assert_int_equal(get32(fadt + 64), 0x60c);
	assert_int_equal(fadt[88], 4);
	assert_int_equal(fadt[89], 2);
	assert_int_equal(get64(fadt + 152), 0x608);
	assert_int_equal(get64(fadt + 176), 0x60c);
	assert_int_equal(get64(fadt + 132) % 64, 0);
	/* FIRMWARE_CTRL too (kvm-unit-tests reads only that one). */
	assert_int_equal(get32(fadt + 36), get64(fadt + 132));
	facs = b.tables + (get64(fadt + 132) - FW_TABLES_GPA);
	assert_memory_equal(facs, "FACS", 4);
	assert_int_equal(get32(facs + 4), 64);
	acpi_firmware_blobs_free(&b);
}

static void bad_platforms_are_refused(void **state)
{
	uint32_t apic_ids[1] = {0xff};
	struct acpi_platform broadcast_id = {.cpu_count = 1,
					     .apic_ids = apic_ids};

	assert_int_equal(build(0, NULL, 0), -EINVAL);
	assert_int_equal(
		acpi_tables_build(&broadcast_id, BASE, area, sizeof(area)),
		-EINVAL);
}

static void too_small_an_area_is_refused(void **state)
{
	uint32_t apic_ids[1] = {0};
	struct acpi_platform platform = {.cpu_count = 1, .apic_ids = apic_ids};

	assert_int_equal(acpi_tables_build(&platform, BASE, area, 100), -E2BIG);
}

static void pkg_length_uses_the_shortest_encoding(void **state)
{
	uint8_t out[4];

	assert_int_equal(aml_encode_pkg_length(0, out), 1);
	assert_int_equal(out[0], 1);
	assert_int_equal(aml_encode_pkg_length(62, out), 1);
	assert_int_equal(out[0], 63);
	/* 63 content bytes + 2 length bytes = 65 = 0x41. */
	assert_int_equal(aml_encode_pkg_length(63, out), 2);
	assert_int_equal(out[0], 0x41);
	assert_int_equal(out[1], 0x04);
	assert_int_equal(aml_encode_pkg_length(3000, out), 2);
	assert_int_equal((out[0] & 0x0f) | out[1] << 4, 3002);
	assert_int_equal(aml_encode_pkg_length(5000, out), 3);
	assert_int_equal(aml_encode_pkg_length(1 << 20, out), 4);
	assert_int_equal(aml_encode_pkg_length((size_t)1 << 28, out), 0);
}

static void aml_objects_nest_like_asl(void **state)
{
	struct aml aml;
	/* Scope(\_SB) { Name(_UID, 0x2a) } */
	const uint8_t expected[] = {0x10, 0x0d, '\\', '_', 'S', 'B',  '_',
				    0x08, '_',	'U',  'I', 'D', 0x0a, 0x2a};

	aml_init(&aml);
	aml_scope_open(&aml, "\\_SB");
	aml_name(&aml, "_UID");
	aml_integer(&aml, 42);
	aml_close(&aml);
	assert_false(aml.failed);
	assert_int_equal(aml.len, sizeof(expected));
	assert_memory_equal(aml.data, expected, sizeof(expected));
	aml_free(&aml);
}

static void aml_eisa_id_compresses(void **state)
{
	struct aml aml;
	/* PNP0A03 is 0x030ad041 as a little-endian DWord. */
	const uint8_t expected[] = {0x0c, 0x41, 0xd0, 0x0a, 0x03};

	aml_init(&aml);
	aml_eisa_id(&aml, "PNP0A03");
	assert_memory_equal(aml.data, expected, sizeof(expected));
	aml_free(&aml);
}

static void unbalanced_close_is_an_error(void **state)
{
	struct aml aml;

	aml_init(&aml);
	aml_close(&aml);
	assert_true(aml.failed);
	aml_free(&aml);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(rsdp_is_valid_and_points_to_xsdt),
		cmocka_unit_test(every_table_is_checksummed),
		cmocka_unit_test(fadt_is_hardware_reduced_with_sleep_registers),
		cmocka_unit_test(madt_lists_every_cpu_and_the_ioapic),
		cmocka_unit_test(mcfg_describes_bus_zero_ecam),
		cmocka_unit_test(dsdt_has_pci_serial_s5_and_mmio_devices),
		cmocka_unit_test(dsdt_has_the_rtc_with_irq_8),
		cmocka_unit_test(aml_writes_the_power_buttons_event_method),
		cmocka_unit_test(dsdt_has_the_power_button_and_its_ged),
		cmocka_unit_test(full_acpi_has_the_fixed_power_button),
		cmocka_unit_test(bad_platforms_are_refused),
		cmocka_unit_test(
			firmware_loader_links_the_tables_where_it_puts_them),
		cmocka_unit_test(too_small_an_area_is_refused),
		cmocka_unit_test(pkg_length_uses_the_shortest_encoding),
		cmocka_unit_test(aml_objects_nest_like_asl),
		cmocka_unit_test(aml_eisa_id_compresses),
		cmocka_unit_test(unbalanced_close_is_an_error),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
