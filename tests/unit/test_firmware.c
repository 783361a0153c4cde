/* --firmware's pieces that need no KVM: which images fit, the e820 map
 * SeaBIOS starts from, the copy below 1 MiB, and the fw_cfg files it
 * reads. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/firmware.h"
#include "arch/x86/layout.h"
#include "devices/acpi_pm1.h"
#include "devices/fw_cfg.h"
#include "util/le_bytes.h"

static void image_sizes_are_qemus(void **state)
{
	assert_int_equal(firmware_check_size(KiB(128)), 0);
	assert_int_equal(firmware_check_size(KiB(256)), 0);
	assert_int_equal(firmware_check_size(KiB(64)), 0);
	assert_int_equal(firmware_check_size(MiB(16)), 0);
	assert_int_equal(firmware_check_size(0), -EINVAL);
	assert_int_equal(firmware_check_size(KiB(32)), -EINVAL);
	assert_int_equal(firmware_check_size(KiB(128) + 512), -EINVAL);
	assert_int_equal(firmware_check_size(MiB(16) + KiB(64)), -EINVAL);
	assert_int_equal(firmware_gpa(KiB(256)), 0xfffc0000ULL);
}

static void e820_has_ram_and_the_reserved_windows(void **state)
{
	struct guest_memory mem;
	uint8_t map[10 * 20];
	size_t len;

	assert_int_equal(guest_memory_init(&mem, GiB(4)), 0);
	len = firmware_e820(&mem, map, sizeof(map));
	assert_int_equal(len, 4 * 20);
	/* RAM below the hole from 0 (SeaBIOS carves the BIOS area out), RAM
	 * above 4 GiB, then ECAM and KVM's pages. */
	assert_int_equal(le_get64(map), 0);
	assert_int_equal(le_get64(map + 8), LAYOUT_MMIO_HOLE_START);
	assert_int_equal(le_get32(map + 16), 1);
	assert_int_equal(le_get64(map + 20), GiB(4));
	assert_int_equal(le_get64(map + 28), GiB(1));
	assert_int_equal(le_get64(map + 40), LAYOUT_PCI_ECAM_GPA);
	assert_int_equal(le_get32(map + 56), 2);
	assert_int_equal(le_get64(map + 60),
			 LAYOUT_FIRMWARE_KVM_IDENTITY_MAP_GPA);
	assert_int_equal(firmware_e820(&mem, map, 3 * 20), 0);
	guest_memory_destroy(&mem);
}

static void low_copy_is_the_images_last_128_kib(void **state)
{
	struct guest_memory mem;
	size_t size = KiB(256);
	uint8_t *image = malloc(size), *low;

	assert_non_null(image);
	for (size_t i = 0; i < size; i++)
		image[i] = (uint8_t)(i / 4096);
	assert_int_equal(guest_memory_init(&mem, MiB(64)), 0);
	assert_int_equal(firmware_install_low_copy(&mem, image, size), 0);
	low = guest_memory_ptr(&mem, LAYOUT_FIRMWARE_LOW_GPA,
			       LAYOUT_FIRMWARE_LOW_SIZE);
	assert_memory_equal(low, image + size - KiB(128), KiB(128));
	/* A 64 KiB image fills only the F segment. */
	assert_int_equal(firmware_install_low_copy(&mem, image, KiB(64)), 0);
	assert_memory_equal(guest_memory_ptr(&mem, 0xf0000, KiB(64)), image,
			    KiB(64));
	guest_memory_destroy(&mem);
	free(image);
}

static int has_file(struct device *dev, const char *want)
{
	uint8_t b[2];
	uint32_t count = 0;

	b[0] = FW_CFG_FILE_DIR;
	b[1] = 0;
	dev->ops->io_write(dev, 0, b, 2);
	for (int i = 0; i < 4; i++) {
		dev->ops->io_read(dev, 1, b, 1);
		count = count << 8 | b[0];
	}
	for (uint32_t f = 0; f < count; f++) {
		char entry[64];

		dev->ops->io_read(dev, 1, entry, 4);
		dev->ops->io_read(dev, 1, entry, 4);
		dev->ops->io_read(dev, 1, entry, 56);
		if (!strcmp(entry, want))
			return 1;
	}
	return 0;
}

static void fw_cfg_gets_what_seabios_reads(void **state)
{
	struct device *dev = fw_cfg_create(
		&(struct fw_cfg_machine){.ram_size = MiB(256), .cpu_count = 1});
	uint32_t apic_id = 0;
	struct acpi_platform platform = {.cpu_count = 1, .apic_ids = &apic_id};
	struct guest_memory mem;

	assert_int_equal(guest_memory_init(&mem, MiB(256)), 0);
	assert_int_equal(firmware_fill_fw_cfg(dev, &mem, &platform, 1), 0);
	assert_true(has_file(dev, "etc/e820"));
	assert_true(has_file(dev, "etc/sercon-port"));
	assert_true(has_file(dev, "etc/table-loader"));
	assert_true(has_file(dev, "etc/acpi/rsdp"));
	assert_true(has_file(dev, "etc/acpi/tables"));
	dev->ops->destroy(dev);

	/* --serial none: no serial console for the firmware either. */
	dev = fw_cfg_create(
		&(struct fw_cfg_machine){.ram_size = MiB(256), .cpu_count = 1});
	assert_int_equal(firmware_fill_fw_cfg(dev, &mem, &platform, 0), 0);
	assert_false(has_file(dev, "etc/sercon-port"));
	dev->ops->destroy(dev);
	guest_memory_destroy(&mem);
}

static int poweroffs;

static void count_poweroff(void *opaque)
{
	(void)opaque;
	poweroffs++;
}

static void never_called(void *opaque)
{
	(void)opaque;
	fail_msg("PM1 reset");
}

static uint16_t pm1_read16(struct device *dev, uint64_t port)
{
	uint16_t v = 0;

	dev->ops->io_read(dev, port - ACPI_PM1_EVT_PORT, &v, 2);
	return v;
}

static void pm1_write16(struct device *dev, uint64_t port, uint16_t v)
{
	dev->ops->io_write(dev, port - ACPI_PM1_EVT_PORT, &v, 2);
}

/* Linux's view of full ACPI's PM1 blocks: ACPI mode on, enable bits kept,
 * no status ever, and `poweroff` (SLP_TYP 5 with SLP_EN) ends the VM. */
static void pm1_blocks_power_off_on_s5(void **state)
{
	struct device *dev = acpi_pm1_create(
		&(struct acpi_power_events){count_poweroff, never_called, NULL,
					    NULL, NULL},
		NULL);
	uint8_t buf[16], hi;
	size_t len = sizeof(buf);
	struct {
		uint16_t enable, control;
	} bad = {0, ACPI_PM1_SLP_EN};

	assert_non_null(dev);
	poweroffs = 0;
	assert_int_equal(pm1_read16(dev, ACPI_PM1_CNT_PORT) & ACPI_PM1_SCI_EN,
			 ACPI_PM1_SCI_EN);
	pm1_write16(dev, ACPI_PM1_EVT_PORT + 2, 0x0120);
	assert_int_equal(pm1_read16(dev, ACPI_PM1_EVT_PORT + 2), 0x0120);
	pm1_write16(dev, ACPI_PM1_EVT_PORT, 0xffff); /* clear all: none set */
	assert_int_equal(pm1_read16(dev, ACPI_PM1_EVT_PORT), 0);
	/* S1 (not offered) is ignored, and so is S3 with no sleep callback;
	 * S5 powers off, written whole or as the high byte alone. */
	pm1_write16(dev, ACPI_PM1_CNT_PORT,
		    2 << ACPI_PM1_SLP_TYP_SHIFT | ACPI_PM1_SLP_EN);
	pm1_write16(dev, ACPI_PM1_CNT_PORT,
		    1 << ACPI_PM1_SLP_TYP_SHIFT | ACPI_PM1_SLP_EN);
	assert_int_equal(poweroffs, 0);
	assert_int_equal(pm1_read16(dev, ACPI_PM1_CNT_PORT) & ACPI_PM1_SLP_EN,
			 0);
	pm1_write16(dev, ACPI_PM1_CNT_PORT,
		    5 << ACPI_PM1_SLP_TYP_SHIFT | ACPI_PM1_SLP_EN);
	assert_int_equal(poweroffs, 1);
	hi = (5 << ACPI_PM1_SLP_TYP_SHIFT | ACPI_PM1_SLP_EN) >> 8;
	dev->ops->io_write(dev, ACPI_PM1_CNT_PORT + 1 - ACPI_PM1_EVT_PORT, &hi,
			   1);
	assert_int_equal(poweroffs, 2);
	assert_int_equal(dev->ops->save(dev, buf, &len), 0);
	assert_int_equal(dev->ops->restore(dev, buf, len), 0);
	assert_int_equal(pm1_read16(dev, ACPI_PM1_EVT_PORT + 2), 0x0120);
	assert_int_equal(dev->ops->restore(dev, &bad, sizeof(bad)), -EINVAL);
	assert_int_equal(dev->ops->restore(dev, &bad, 3), -EINVAL);
	dev->ops->destroy(dev);
}

struct sci_recorder {
	int level;
	int changes;
};

static void record_sci(void *opaque, unsigned gsi, int level)
{
	struct sci_recorder *rec = opaque;

	assert_int_equal(gsi, ACPI_PM1_SCI_GSI);
	rec->changes += rec->level != level;
	rec->level = level;
}

/* The fixed power button as ACPICA drives it: refused until the OS sets
 * PWRBTN_EN; a press sets PWRBTN_STS and raises the SCI, which stays up
 * until the OS writes 1 to the status bit. Saved states carry the status,
 * and the first layout (4 bytes, no status) still restores. */
static void pm1_fixed_power_button_raises_the_sci(void **state)
{
	struct sci_recorder rec = {0};
	struct device *dev = acpi_pm1_create(
		&(struct acpi_power_events){count_poweroff, never_called, NULL,
					    NULL, NULL},
		&(struct irq_line){record_sci, &rec, ACPI_PM1_SCI_GSI});
	uint8_t buf[16];
	size_t len = sizeof(buf);
	const uint16_t old_layout[2] = {ACPI_PM1_PWRBTN, 0};
	const uint16_t bad_status[3] = {ACPI_PM1_PWRBTN, 0, 0x0001};

	assert_int_equal(acpi_pm1_press_power_button(dev), -ENODEV);
	assert_int_equal(pm1_read16(dev, ACPI_PM1_EVT_PORT), 0);
	assert_int_equal(rec.level, 0);
	pm1_write16(dev, ACPI_PM1_EVT_PORT + 2, ACPI_PM1_PWRBTN);
	assert_int_equal(acpi_pm1_press_power_button(dev), 0);
	assert_int_equal(pm1_read16(dev, ACPI_PM1_EVT_PORT), ACPI_PM1_PWRBTN);
	assert_int_equal(rec.level, 1);
	assert_int_equal(acpi_pm1_power_button_presses(dev), 1);

	/* Saved with the status set, restored: the SCI comes back up. */
	assert_int_equal(dev->ops->save(dev, buf, &len), 0);
	assert_int_equal(len, 6);
	pm1_write16(dev, ACPI_PM1_EVT_PORT, 0x00ff); /* not the button's */
	assert_int_equal(rec.level, 1);
	pm1_write16(dev, ACPI_PM1_EVT_PORT, ACPI_PM1_PWRBTN);
	assert_int_equal(pm1_read16(dev, ACPI_PM1_EVT_PORT), 0);
	assert_int_equal(rec.level, 0);
	assert_int_equal(dev->ops->restore(dev, buf, len), 0);
	dev->ops->restored(dev);
	assert_int_equal(rec.level, 1);

	/* Disabling the event drops the SCI; the status stays. */
	pm1_write16(dev, ACPI_PM1_EVT_PORT + 2, 0);
	assert_int_equal(rec.level, 0);
	assert_int_equal(pm1_read16(dev, ACPI_PM1_EVT_PORT), ACPI_PM1_PWRBTN);

	assert_int_equal(dev->ops->restore(dev, old_layout, 4), 0);
	dev->ops->restored(dev);
	assert_int_equal(pm1_read16(dev, ACPI_PM1_EVT_PORT), 0);
	assert_int_equal(pm1_read16(dev, ACPI_PM1_EVT_PORT + 2),
			 ACPI_PM1_PWRBTN);
	assert_int_equal(dev->ops->check(dev, bad_status, 6), -EINVAL);
	assert_int_equal(dev->ops->check(dev, bad_status, 5), -EINVAL);
	dev->ops->destroy(dev);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(image_sizes_are_qemus),
		cmocka_unit_test(e820_has_ram_and_the_reserved_windows),
		cmocka_unit_test(low_copy_is_the_images_last_128_kib),
		cmocka_unit_test(fw_cfg_gets_what_seabios_reads),
		cmocka_unit_test(pm1_blocks_power_off_on_s5),
		cmocka_unit_test(pm1_fixed_power_button_raises_the_sci),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
