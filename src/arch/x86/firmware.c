#include "arch/x86/firmware.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "arch/x86/e820.h"
#include "arch/x86/layout.h"
#include "devices/fw_cfg.h"
#include "devices/serial_8250.h"
#include "util/le_bytes.h"

#define E820_ENTRY_SIZE 20
#define FIRMWARE_E820_MAX 8

int firmware_check_size(uint64_t size)
{
	if (size < LAYOUT_FIRMWARE_MIN_SIZE ||
	    size > LAYOUT_FIRMWARE_MAX_SIZE || size % LAYOUT_FIRMWARE_MIN_SIZE)
		return -EINVAL;
	return 0;
}

int firmware_check_file(const char *path, const char *where,
			struct tern_error *err)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return tern_error_set(err, errno, "%s %s: %s", where, path,
				      strerror(errno));
	if (!S_ISREG(st.st_mode))
		return tern_error_set(err, EINVAL, "%s %s: not a regular file",
				      where, path);
	if (firmware_check_size((uint64_t)st.st_size))
		return tern_error_set(err, EINVAL,
				      "%s %s: %lld bytes; a firmware image is "
				      "64 KiB to 16 MiB, a multiple of 64 KiB "
				      "(SeaBIOS's bios.bin is 128 KiB)",
				      where, path, (long long)st.st_size);
	return 0;
}

uint64_t firmware_gpa(uint64_t size)
{
	return LAYOUT_MMIO_HOLE_END - size;
}

int firmware_install_low_copy(struct guest_memory *mem, const uint8_t *image,
			      size_t size)
{
	size_t len = size < LAYOUT_FIRMWARE_LOW_SIZE ? size
						     : LAYOUT_FIRMWARE_LOW_SIZE;

	return guest_memory_write(mem, LAYOUT_HIGH_MEMORY_GPA - len,
				  image + size - len, len);
}

static uint8_t *put_entry(uint8_t *p, uint64_t addr, uint64_t len,
			  uint32_t type)
{
	le_put64(p, addr);
	le_put64(p + 8, len);
	le_put32(p + 16, type);
	return p + E820_ENTRY_SIZE;
}

size_t firmware_e820(const struct guest_memory *mem, uint8_t *out, size_t cap)
{
	size_t need = (size_t)(mem->region_count + 2) * E820_ENTRY_SIZE;
	uint8_t *p = out;

	if (cap < need)
		return 0;
	/* QEMU hands SeaBIOS whole RAM ranges: it removes the VGA hole and
	 * the BIOS area below 1 MiB itself and reserves what it uses. */
	for (int i = 0; i < mem->region_count; i++)
		p = put_entry(p, mem->regions[i].gpa, mem->regions[i].size,
			      E820_TYPE_RAM);
	/* Linux trusts the MCFG's ECAM window only when it is reserved. */
	p = put_entry(p, LAYOUT_PCI_ECAM_GPA, LAYOUT_PCI_ECAM_SIZE,
		      E820_TYPE_RESERVED);
	put_entry(p, LAYOUT_FIRMWARE_KVM_IDENTITY_MAP_GPA,
		  LAYOUT_FIRMWARE_KVM_PAGES_SIZE, E820_TYPE_RESERVED);
	return need;
}

static int add_u16_file(struct device *fw_cfg, const char *name, uint16_t value)
{
	uint8_t bytes[2];

	le_put16(bytes, value);
	return fw_cfg_add_file(fw_cfg, name, bytes, sizeof(bytes));
}

static int add_acpi(struct device *fw_cfg, const struct acpi_platform *platform)
{
	struct acpi_firmware_blobs blobs;
	int ret = acpi_tables_build_for_firmware(platform, &blobs);

	if (ret)
		return ret;
	ret = fw_cfg_add_file(fw_cfg, ACPI_FIRMWARE_TABLES_FILE, blobs.tables,
			      blobs.tables_len);
	if (!ret)
		ret = fw_cfg_add_file(fw_cfg, ACPI_FIRMWARE_RSDP_FILE,
				      blobs.rsdp, sizeof(blobs.rsdp));
	/* The script last: it names the two files above. */
	if (!ret)
		ret = fw_cfg_add_file(fw_cfg, ACPI_FIRMWARE_LOADER_FILE,
				      blobs.loader, blobs.loader_len);
	acpi_firmware_blobs_free(&blobs);
	return ret;
}

int firmware_fill_fw_cfg(struct device *fw_cfg, const struct guest_memory *mem,
			 const struct acpi_platform *platform,
			 int serial_console)
{
	uint8_t e820[FIRMWARE_E820_MAX * E820_ENTRY_SIZE];
	size_t e820_len = firmware_e820(mem, e820, sizeof(e820));
	uint8_t no[2] = {0, 0};
	int ret;

	if (!e820_len)
		return -E2BIG;
	ret = fw_cfg_add_file(fw_cfg, "etc/e820", e820, e820_len);
	/* No "Press ESC for boot menu" and its wait: a VM boots at once. */
	if (!ret)
		ret = fw_cfg_add_item(fw_cfg, FW_CFG_BOOT_MENU, no, sizeof(no));
	/* No VGA: SeaBIOS's sercon shows its own screen output (and a boot
	 * loader's, through int 10h) on COM1. */
	if (!ret && serial_console)
		ret = add_u16_file(fw_cfg, "etc/sercon-port", SERIAL_COM1_PORT);
	if (!ret)
		ret = add_acpi(fw_cfg, platform);
	return ret;
}
