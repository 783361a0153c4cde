/* The ACPI tables a tern guest boots with: RSDP, XSDT, FADT (hardware-
 * reduced unless full_acpi), FACS (the S3 waking vector), MADT, MCFG and a
 * DSDT describing the PCI root bridge, the serial port, the keyboard
 * controller, the CMOS RTC, the power button and its Generic Event Device
 * (hardware-reduced only: full ACPI has PM1's fixed button), virtio-mmio
 * devices, and the S3 (suspend to RAM, vm/vm_sleep.h; full ACPI only, see
 * acpi_tables.c) and S5 (soft-off) sleep states. They replace
 * the MP table: Linux reads CPUs, the IOAPIC, PCI and power-off from them,
 * with no kernel parameters. */
#ifndef TERN_ARCH_X86_ACPI_ACPI_TABLES_H
#define TERN_ARCH_X86_ACPI_ACPI_TABLES_H

#include <stddef.h>
#include <stdint.h>

#include "memory/guest_memory.h"

/* A virtio-mmio device as the DSDT announces it (_HID "LNRO0005"), for
 * kernels that cannot take virtio_mmio.device= on the command line. */
struct acpi_mmio_device {
	uint64_t base;
	uint32_t size;
	uint32_t gsi;
};

struct acpi_platform {
	int cpu_count;
	const uint32_t *apic_ids; /* cpu_count entries */
	const struct acpi_mmio_device *mmio_devices;
	int mmio_device_count;
	/* Full ACPI instead of hardware-reduced (--firmware, --acpi full:
	 * vm_config_full_acpi()): the FADT names
	 * the PM1 blocks of devices/acpi_pm1.h, a FACS and the 8042, so the
	 * OS treats the machine as a PC with an 8259 PIC (which the BIOS has
	 * programmed and the OS must mask; see acpi_pm1.h). */
	int full_acpi;
};

/* Builds every table into out (capacity cap) as it must appear at guest
 * physical address base_gpa; the RSDP comes first, at base_gpa. Returns the
 * bytes used, or a negative errno: -E2BIG when the tables do not fit,
 * -EINVAL for a bad platform description, -ENOMEM. */
long acpi_tables_build(const struct acpi_platform *platform, uint64_t base_gpa,
		       uint8_t *out, size_t cap);

/* Builds the tables and writes them at LAYOUT_ACPI_GPA; *rsdp_gpa gets the
 * RSDP's address for the boot protocol. Returns 0 or a negative errno. */
int acpi_tables_write(struct guest_memory *mem,
		      const struct acpi_platform *platform, uint64_t *rsdp_gpa);

/* The tables for firmware that places them itself (SeaBIOS, through fw_cfg,
 * as QEMU hands them over): the RSDP and the other tables as two blobs in
 * which every pointer holds an offset into the tables blob, and the loader
 * script ("linker/loader") that makes the firmware allocate both (the RSDP
 * in the BIOS's F segment, where operating systems scan for it), add the
 * tables' address to each pointer and fix each checksum. */
#define ACPI_FIRMWARE_RSDP_FILE "etc/acpi/rsdp"
#define ACPI_FIRMWARE_TABLES_FILE "etc/acpi/tables"
#define ACPI_FIRMWARE_LOADER_FILE "etc/table-loader"
#define ACPI_RSDP_SIZE 36

struct acpi_firmware_blobs {
	uint8_t rsdp[ACPI_RSDP_SIZE];
	uint8_t *tables;
	size_t tables_len;
	uint8_t *loader;
	size_t loader_len;
};

/* Returns 0 or a negative errno as acpi_tables_build(); free the blobs with
 * acpi_firmware_blobs_free() after success. */
int acpi_tables_build_for_firmware(const struct acpi_platform *platform,
				   struct acpi_firmware_blobs *blobs);
void acpi_firmware_blobs_free(struct acpi_firmware_blobs *blobs);

/* The sum of bytes, 0 for a correctly checksummed table. */
uint8_t acpi_checksum(const void *data, size_t len);

/* Hardware-reduced ACPI's sleep and reset registers (FADT SLEEP_CONTROL_REG,
 * RESET_REG), I/O ports served by devices/acpi_power.c. */
#define ACPI_SLEEP_CONTROL_PORT 0x600
#define ACPI_SLEEP_STATUS_PORT 0x601
#define ACPI_RESET_PORT 0x602
#define ACPI_POWER_PORT_COUNT 3
#define ACPI_RESET_VALUE 0x01
/* The SLP_TYP value \_S5 names; ACPI 6.4 section 4.8.3.7 puts SLP_TYP in
 * bits 2-4 and SLP_EN in bit 5 of the sleep control register. */
#define ACPI_S5_SLEEP_TYPE 5
/* S3 (suspend to RAM): 1, the value QEMU's PIIX4 gives \_S3, which
 * kvm-unit-tests' s3 test writes without reading the DSDT. The same value
 * in the PM1 control block (full ACPI) and the sleep control register. */
#define ACPI_S3_SLEEP_TYPE 1
#define ACPI_SLEEP_STATUS_WAK 0x80
#define ACPI_SLEEP_TYPE_SHIFT 2
#define ACPI_SLEEP_TYPE_MASK 0x1c
#define ACPI_SLEEP_ENABLE 0x20

#endif
