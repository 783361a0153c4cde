/* Table layouts: ACPI 6.4, sections 5.2.5 (RSDP), 5.2.8 (XSDT), 5.2.9 (FADT),
 * 5.2.12 (MADT); MCFG: PCI Firmware Specification 3.2, section 4.1.2. */
#include "arch/x86/acpi/acpi_tables.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/acpi/aml.h"
#include "arch/x86/layout.h"
#include "devices/acpi_ged.h"
#include "devices/acpi_pm1.h"
#include "devices/cmos_rtc.h"
#include "devices/i8042.h"
#include "devices/serial_8250.h"
#include "util/le_bytes.h"

#define ACPI_OEM_ID "TERN  "
#define ACPI_OEM_TABLE_ID "TERNVM  "
#define ACPI_CREATOR_ID "TERN"

#define TABLE_HEADER_SIZE 36
#define RSDP_SIZE ACPI_RSDP_SIZE
#define FADT_SIZE 276
#define FADT_REVISION 6
#define FADT_MINOR_REVISION 4

/* No fixed-feature power button: hardware-reduced ACPI has the GED's
 * instead; full ACPI clears the flag and uses PM1's (acpi_pm1.h). */
#define FADT_FLAG_PWR_BUTTON (1u << 4)
#define FADT_FLAG_SLP_BUTTON (1u << 5)
#define FADT_FLAG_RESET_REG_SUP (1u << 10)
#define FADT_FLAG_HW_REDUCED_ACPI (1u << 20)
/* No VGA, and leave PCIe ASPM alone. The keyboard controller is announced
 * in the DSDT (PNP0303), which is where Linux looks for it under ACPI. */
#define FADT_BOOT_ARCH_LEGACY_DEVICES (1u << 0)
#define FADT_BOOT_ARCH_8042 (1u << 1)
#define FADT_BOOT_ARCH_NO_VGA (1u << 2)
#define FADT_BOOT_ARCH_NO_ASPM (1u << 4)
/* The SCI is unused in hardware-reduced mode, but Linux programs the IOAPIC
 * pin FADT names anyway: name the ISA SCI pin, never 0 (the timer). */
#define FADT_SCI_GSI ACPI_PM1_SCI_GSI

#define GAS_SYSTEM_IO 1
#define GAS_ACCESS_BYTE 1

#define MADT_FLAG_PCAT_COMPAT 1u
#define MADT_TYPE_LOCAL_APIC 0
#define MADT_TYPE_IOAPIC 1
#define MADT_TYPE_LOCAL_APIC_NMI 4
#define MADT_LAPIC_ENABLED 1u

uint8_t acpi_checksum(const void *data, size_t len)
{
	const uint8_t *bytes = data;
	uint8_t sum = 0;

	for (size_t i = 0; i < len; i++)
		sum = (uint8_t)(sum + bytes[i]);
	return sum;
}

/* For firmware that places the tables itself: where the pointers and the
 * checksums are, so its loader script can fix them up. */
#define LINK_MAX_POINTERS (8 + 8)
#define LINK_MAX_CHECKSUMS 8

struct link_pointer {
	int in_rsdp; /* the pointer sits in the RSDP blob, else the tables */
	uint32_t offset;
	uint8_t size;
};

struct link_checksum {
	int in_rsdp;
	uint32_t offset, start, length;
};

struct link_log {
	uint8_t *rsdp; /* RSDP_SIZE bytes: the RSDP goes here, not in out */
	struct link_pointer pointers[LINK_MAX_POINTERS];
	int pointer_count;
	struct link_checksum checksums[LINK_MAX_CHECKSUMS];
	int checksum_count;
};

/* Where the next table goes; every table starts 16-byte aligned. */
struct table_writer {
	uint8_t *out;
	size_t cap, used;
	uint64_t base_gpa;
	int error;
	struct link_log *log; /* NULL: tables at fixed addresses */
};

static uint8_t *table_alloc_aligned(struct table_writer *w, size_t len,
				    size_t align, uint64_t *gpa)
{
	size_t at = (w->used + align - 1) & ~(align - 1);

	if (w->error || at > w->cap || len > w->cap - at) {
		w->error = w->error ? w->error : -E2BIG;
		return NULL;
	}
	memset(w->out + at, 0, len);
	w->used = at + len;
	*gpa = w->base_gpa + at;
	return w->out + at;
}

static uint8_t *table_alloc(struct table_writer *w, size_t len, uint64_t *gpa)
{
	return table_alloc_aligned(w, len, 16, gpa);
}

static void log_pointer(struct table_writer *w, const uint8_t *field,
			int in_rsdp, uint8_t size)
{
	struct link_log *log = w->log;

	if (!log)
		return;
	if (log->pointer_count == LINK_MAX_POINTERS) {
		w->error = w->error ? w->error : -E2BIG;
		return;
	}
	log->pointers[log->pointer_count++] = (struct link_pointer){
		.in_rsdp = in_rsdp,
		.offset = (uint32_t)(field - (in_rsdp ? log->rsdp : w->out)),
		.size = size,
	};
}

static void log_checksum(struct table_writer *w, const uint8_t *start,
			 int in_rsdp, uint32_t checksum_at, uint32_t length)
{
	struct link_log *log = w->log;
	uint32_t base;

	if (!log)
		return;
	if (log->checksum_count == LINK_MAX_CHECKSUMS) {
		w->error = w->error ? w->error : -E2BIG;
		return;
	}
	base = (uint32_t)(start - (in_rsdp ? log->rsdp : w->out));
	log->checksums[log->checksum_count++] = (struct link_checksum){
		.in_rsdp = in_rsdp,
		.offset = base + checksum_at,
		.start = base,
		.length = length,
	};
}

static void header_fill(uint8_t *t, const char *signature, uint32_t length,
			uint8_t revision)
{
	memcpy(t, signature, 4);
	le_put32(t + 4, length);
	t[8] = revision;
	memcpy(t + 10, ACPI_OEM_ID, 6);
	memcpy(t + 16, ACPI_OEM_TABLE_ID, 8);
	le_put32(t + 24, 1); /* OEM revision */
	memcpy(t + 28, ACPI_CREATOR_ID, 4);
	le_put32(t + 32, 1); /* creator revision */
}

static void header_seal(struct table_writer *w, uint8_t *t, uint32_t length)
{
	t[9] = 0;
	t[9] = (uint8_t)(0 - acpi_checksum(t, length));
	log_checksum(w, t, 0, 9, length);
}

static void put_gas_io(uint8_t *p, size_t off, uint16_t port)
{
	p[off] = GAS_SYSTEM_IO;
	p[off + 1] = 8; /* register width in bits */
	p[off + 2] = 0;
	p[off + 3] = GAS_ACCESS_BYTE;
	le_put64(p + off + 4, port);
}

static void dsdt_pci_root(struct aml *aml, const struct acpi_platform *platform)
{
	aml_device_open(aml, "PCI0");
	aml_name(aml, "_HID");
	aml_eisa_id(aml, "PNP0A08");
	aml_name(aml, "_CID");
	aml_eisa_id(aml, "PNP0A03");
	aml_name(aml, "_SEG");
	aml_integer(aml, 0);
	aml_name(aml, "_UID");
	aml_integer(aml, 0);
	aml_name(aml, "_BBN");
	aml_integer(aml, 0);
	aml_name(aml, "_CRS");
	aml_buffer_open(aml);
	aml_resource_bus_range(aml, 0, 0);
	aml_resource_io(aml, 0xcf8, 8);
	aml_resource_io_window(aml, 0x0000, 0x0cf7);
	aml_resource_io_window(aml, 0x0d00, 0xffff);
	aml_resource_memory32_window(
		aml, (uint32_t)LAYOUT_PCI_MMIO_GPA,
		(uint32_t)(LAYOUT_PCI_MMIO_GPA + LAYOUT_PCI_MMIO_SIZE - 1));
	aml_resource_memory32_window(aml, (uint32_t)LAYOUT_PCI_MMIO_HIGH_GPA,
				     (uint32_t)(LAYOUT_PCI_MMIO_HIGH_GPA +
						LAYOUT_PCI_MMIO_HIGH_SIZE - 1));
	aml_resource_end(aml);
	aml_close(aml); /* _CRS buffer */
	aml_close(aml); /* PCI0 */

	/* Linux uses ECAM only when its window is reserved by the firmware:
	 * in the e820 map, and here as a motherboard resource. */
	aml_device_open(aml, "ECAM");
	aml_name(aml, "_HID");
	aml_eisa_id(aml, "PNP0C02");
	aml_name(aml, "_UID");
	aml_integer(aml, 1);
	aml_name(aml, "_CRS");
	aml_buffer_open(aml);
	aml_resource_memory32_fixed(aml, (uint32_t)LAYOUT_PCI_ECAM_GPA,
				    (uint32_t)LAYOUT_PCI_ECAM_SIZE);
	aml_resource_end(aml);
	aml_close(aml);
	aml_close(aml);
}

static void dsdt_serial(struct aml *aml)
{
	aml_device_open(aml, "COM1");
	aml_name(aml, "_HID");
	aml_eisa_id(aml, "PNP0501");
	aml_name(aml, "_UID");
	aml_integer(aml, 1);
	aml_name(aml, "_CRS");
	aml_buffer_open(aml);
	aml_resource_io(aml, SERIAL_COM1_PORT, SERIAL_PORT_COUNT);
	aml_resource_irq(aml, SERIAL_COM1_GSI);
	aml_resource_end(aml);
	aml_close(aml);
	aml_close(aml);
}

/* The keyboard controller, so that Linux binds its i8042 driver and IRQ 1
 * without kernel parameters: Ctrl-Alt-Del (the API's SendCtrlAltDel) is
 * typed on it. */
static void dsdt_keyboard(struct aml *aml)
{
	aml_device_open(aml, "PS2K");
	aml_name(aml, "_HID");
	aml_eisa_id(aml, "PNP0303");
	aml_name(aml, "_CRS");
	aml_buffer_open(aml);
	aml_resource_io(aml, I8042_DATA_PORT, 1);
	aml_resource_io(aml, I8042_COMMAND_PORT, 1);
	aml_resource_irq(aml, I8042_KEYBOARD_GSI);
	aml_resource_end(aml);
	aml_close(aml);
	aml_close(aml);
}

/* The CMOS RTC, so that Linux's rtc_cmos binds to it with IRQ 8 as rtc0:
 * without this device (and with no legacy PIC in hardware-reduced ACPI)
 * its fallback platform device asks for an IRQ 8 nothing has mapped, and
 * the probe fails with -EINVAL. */
static void dsdt_rtc(struct aml *aml)
{
	aml_device_open(aml, "RTC_");
	aml_name(aml, "_HID");
	aml_eisa_id(aml, "PNP0B00");
	aml_name(aml, "_CRS");
	aml_buffer_open(aml);
	aml_resource_io(aml, CMOS_RTC_PORT, CMOS_RTC_PORT_COUNT);
	aml_resource_irq(aml, CMOS_RTC_GSI);
	aml_resource_end(aml);
	aml_close(aml);
	aml_close(aml);
}

/* The power button of hardware-reduced ACPI (devices/acpi_ged.h):
 *
 *   Device (PWRB) { Name (_HID, EisaId ("PNP0C0C")) }
 *   Device (GED_) {
 *     Name (_HID, "ACPI0013")
 *     Name (_CRS, ResourceTemplate () {
 *       Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive) { GSI }
 *     })
 *     Method (_EVT, 1) { If (LEqual (Arg0, GSI)) { Notify (PWRB, 0x80) } }
 *   }
 *
 * Linux's GED driver calls _EVT with the GSI that fired; 0x80 is the
 * button's "pressed" notification (ACPI 6.4 section 4.8.2.2.1.3). */
static void dsdt_power_button(struct aml *aml)
{
	aml_device_open(aml, "PWRB");
	aml_name(aml, "_HID");
	aml_eisa_id(aml, "PNP0C0C");
	aml_close(aml);

	aml_device_open(aml, "GED_");
	aml_name(aml, "_HID");
	aml_string(aml, "ACPI0013");
	aml_name(aml, "_CRS");
	aml_buffer_open(aml);
	aml_resource_interrupt(aml, ACPI_GED_GSI, 0);
	aml_resource_end(aml);
	aml_close(aml);
	aml_method_open(aml, "_EVT", 1);
	aml_if_open(aml);
	aml_lequal(aml);
	aml_arg(aml, 0);
	aml_integer(aml, ACPI_GED_GSI);
	aml_notify(aml, "\\_SB_.PWRB", 0x80);
	aml_close(aml); /* If */
	aml_close(aml); /* _EVT */
	aml_close(aml); /* GED_ */
}

static void dsdt_virtio_mmio(struct aml *aml,
			     const struct acpi_mmio_device *dev, int index)
{
	char name[5];

	snprintf(name, sizeof(name), "VR%02X", (unsigned)index & 0xff);
	aml_device_open(aml, name);
	aml_name(aml, "_HID");
	aml_string(aml, "LNRO0005");
	aml_name(aml, "_UID");
	aml_integer(aml, (uint64_t)index);
	aml_name(aml, "_CRS");
	aml_buffer_open(aml);
	aml_resource_memory32_fixed(aml, (uint32_t)dev->base, dev->size);
	aml_resource_interrupt(aml, dev->gsi, 0);
	aml_resource_end(aml);
	aml_close(aml);
	aml_close(aml);
}

static uint64_t write_dsdt(struct table_writer *w,
			   const struct acpi_platform *platform)
{
	struct aml aml;
	uint64_t gpa = 0;
	uint8_t *t;

	aml_init(&aml);
	aml_scope_open(&aml, "\\_SB_");
	dsdt_pci_root(&aml, platform);
	dsdt_serial(&aml);
	dsdt_keyboard(&aml);
	dsdt_rtc(&aml);
	if (!platform->full_acpi)
		dsdt_power_button(&aml);
	for (int i = 0; i < platform->mmio_device_count; i++)
		dsdt_virtio_mmio(&aml, &platform->mmio_devices[i], i);
	aml_close(&aml);
	/* \_S3: suspend to RAM (vm/vm_sleep.h), with the SLP_TYP value
	 * QEMU's PIIX4 gives it. Its presence is what makes Linux offer "mem"
	 * in /sys/power/state, so it is there only where Linux resumes: with
	 * full ACPI. With hardware-reduced ACPI, ACPICA ignores the FACS
	 * ("if Hardware Reduced flag is set, there is no FACS",
	 * acpi_tb_initialize_facs) and never writes a waking vector, so a
	 * Linux that slept there could only be reset; the sleep registers
	 * still do S3 for a guest that writes the FACS itself. */
	if (platform->full_acpi) {
		aml_name(&aml, "\\_S3_");
		aml_package_open(&aml, 2);
		aml_integer(&aml, ACPI_S3_SLEEP_TYPE);
		aml_integer(&aml, 0);
		aml_close(&aml);
	}
	/* \_S5: SLP_TYPa, SLP_TYPb; what the guest writes to power off. */
	aml_name(&aml, "\\_S5_");
	aml_package_open(&aml, 2);
	aml_integer(&aml, ACPI_S5_SLEEP_TYPE);
	aml_integer(&aml, 0);
	aml_close(&aml);

	if (aml.failed || aml.depth != 0) {
		w->error = w->error ? w->error : -ENOMEM;
	} else {
		uint32_t length = (uint32_t)(TABLE_HEADER_SIZE + aml.len);

		t = table_alloc(w, length, &gpa);
		if (t) {
			header_fill(t, "DSDT", length, 2);
			memcpy(t + TABLE_HEADER_SIZE, aml.data, aml.len);
			header_seal(w, t, length);
		}
	}
	aml_free(&aml);
	return gpa;
}

/* The firmware control structure: the global lock (unused) and the waking
 * vector an OS that sleeps in S3 writes and the waking VM resumes at
 * (vm/vm_sleep.c reads it). Hardware-reduced ACPI may have one too (ACPI
 * 6.4 section 5.2.9: only when both FIRMWARE_CTRL fields are zero is there
 * none), and S3 needs it in both modes. 64-byte aligned, no checksum (ACPI
 * 6.4 section 5.2.10); version 2: X_Firmware_Waking_Vector exists, and no
 * 64BIT_WAKE_SUPPORTED_F (a 64-bit vector is entered in 32-bit protected
 * mode). */
#define FACS_SIZE 64

static uint64_t write_facs(struct table_writer *w)
{
	uint64_t gpa;
	uint8_t *t = table_alloc_aligned(w, FACS_SIZE, 64, &gpa);

	if (!t)
		return 0;
	memcpy(t, "FACS", 4);
	le_put32(t + 4, FACS_SIZE);
	t[32] = 2; /* version */
	return gpa;
}

/* Both fields, as QEMU fills the 32-bit one only and kvm-unit-tests reads
 * only that one; ACPI 6.4 lets an OS use X_FIRMWARE_CTRL when both are
 * set, and they agree. */
static void fadt_facs(struct table_writer *w, uint8_t *t, uint64_t facs_gpa)
{
	le_put32(t + 36, (uint32_t)facs_gpa); /* FIRMWARE_CTRL */
	log_pointer(w, t + 36, 0, 4);
	le_put64(t + 132, facs_gpa); /* X_FIRMWARE_CTRL */
	log_pointer(w, t + 132, 0, 8);
}

/* The PM1 blocks of devices/acpi_pm1.h, in both the 32-bit and the
 * extended fields. SMI_CMD stays 0: ACPI mode is always on. */
static void fadt_full_acpi(uint8_t *t)
{
	le_put32(t + 56, ACPI_PM1_EVT_PORT); /* PM1a_EVT_BLK */
	le_put32(t + 64, ACPI_PM1_CNT_PORT); /* PM1a_CNT_BLK */
	t[88] = ACPI_PM1_EVT_LEN;
	t[89] = ACPI_PM1_CNT_LEN;
	t[148] = GAS_SYSTEM_IO; /* X_PM1a_EVT_BLK */
	t[149] = ACPI_PM1_EVT_LEN * 8;
	t[151] = 2; /* word access */
	le_put64(t + 152, ACPI_PM1_EVT_PORT);
	t[172] = GAS_SYSTEM_IO; /* X_PM1a_CNT_BLK */
	t[173] = ACPI_PM1_CNT_LEN * 8;
	t[175] = 2;
	le_put64(t + 176, ACPI_PM1_CNT_PORT);
}

static uint64_t write_fadt(struct table_writer *w, uint64_t dsdt_gpa,
			   const struct acpi_platform *platform)
{
	uint64_t gpa, facs = write_facs(w);
	uint8_t *t = table_alloc(w, FADT_SIZE, &gpa);

	if (!t)
		return 0;
	header_fill(t, "FACP", FADT_SIZE, FADT_REVISION);
	le_put16(t + 46, FADT_SCI_GSI);
	t[108] = CMOS_RTC_CENTURY_REGISTER; /* CENTURY: the RTC has one */
	le_put16(t + 109,
		 FADT_BOOT_ARCH_NO_VGA | FADT_BOOT_ARCH_NO_ASPM |
			 (platform->full_acpi ? FADT_BOOT_ARCH_LEGACY_DEVICES |
					  FADT_BOOT_ARCH_8042
					      : 0));
	le_put32(t + 112,
		 (platform->full_acpi ? 0 : FADT_FLAG_HW_REDUCED_ACPI) |
			 (platform->full_acpi ? 0 : FADT_FLAG_PWR_BUTTON) |
			 FADT_FLAG_RESET_REG_SUP | FADT_FLAG_SLP_BUTTON);
	if (facs)
		fadt_facs(w, t, facs);
	if (platform->full_acpi)
		fadt_full_acpi(t);
	put_gas_io(t, 116, ACPI_RESET_PORT);
	t[128] = ACPI_RESET_VALUE;
	t[131] = FADT_MINOR_REVISION;
	le_put64(t + 140, dsdt_gpa); /* X_DSDT; the 32-bit DSDT field stays 0 */
	log_pointer(w, t + 140, 0, 8);
	put_gas_io(t, 244, ACPI_SLEEP_CONTROL_PORT);
	put_gas_io(t, 256, ACPI_SLEEP_STATUS_PORT);
	memcpy(t + 268, "TERNKVM ", 8); /* hypervisor vendor identity */
	header_seal(w, t, FADT_SIZE);
	return gpa;
}

static uint64_t write_madt(struct table_writer *w,
			   const struct acpi_platform *platform)
{
	uint32_t length = TABLE_HEADER_SIZE + 8 +
		(uint32_t)platform->cpu_count * 8 + 12 + 6;
	uint64_t gpa;
	uint8_t *t = table_alloc(w, length, &gpa);
	size_t off = TABLE_HEADER_SIZE + 8;

	if (!t)
		return 0;
	header_fill(t, "APIC", length, 5);
	le_put32(t + 36, (uint32_t)LAYOUT_LAPIC_GPA);
	le_put32(t + 40, MADT_FLAG_PCAT_COMPAT);
	for (int i = 0; i < platform->cpu_count; i++, off += 8) {
		t[off] = MADT_TYPE_LOCAL_APIC;
		t[off + 1] = 8;
		t[off + 2] = (uint8_t)i; /* ACPI processor UID */
		t[off + 3] = (uint8_t)platform->apic_ids[i];
		le_put32(t + off + 4, MADT_LAPIC_ENABLED);
	}
	t[off] = MADT_TYPE_IOAPIC;
	t[off + 1] = 12;
	t[off + 2] = LAYOUT_IOAPIC_ID;
	le_put32(t + off + 4, (uint32_t)LAYOUT_IOAPIC_GPA);
	le_put32(t + off + 8, 0); /* GSI base */
	off += 12;
	/* LINT1 of every processor is NMI, as on a PC. No interrupt source
	 * overrides: KVM's default routing sends ISA IRQ n to IOAPIC pin n,
	 * the PIT included, which is what their absence means. */
	t[off] = MADT_TYPE_LOCAL_APIC_NMI;
	t[off + 1] = 6;
	t[off + 2] = 0xff; /* all processors */
	le_put16(t + off + 3, 0);
	t[off + 5] = 1;
	header_seal(w, t, length);
	return gpa;
}

static uint64_t write_mcfg(struct table_writer *w)
{
	uint32_t length = TABLE_HEADER_SIZE + 8 + 16;
	uint64_t gpa;
	uint8_t *t = table_alloc(w, length, &gpa);

	if (!t)
		return 0;
	header_fill(t, "MCFG", length, 1);
	le_put64(t + 44, LAYOUT_PCI_ECAM_GPA);
	le_put16(t + 52, 0); /* segment */
	t[54] = 0; /* first bus */
	t[55] = (uint8_t)(LAYOUT_PCI_ECAM_SIZE / MiB(1) - 1); /* last bus */
	header_seal(w, t, length);
	return gpa;
}

static uint64_t write_xsdt(struct table_writer *w, const uint64_t *tables,
			   int count)
{
	uint32_t length = TABLE_HEADER_SIZE + (uint32_t)count * 8;
	uint64_t gpa;
	uint8_t *t = table_alloc(w, length, &gpa);

	if (!t)
		return 0;
	header_fill(t, "XSDT", length, 1);
	for (int i = 0; i < count; i++) {
		le_put64(t + TABLE_HEADER_SIZE + (size_t)i * 8, tables[i]);
		log_pointer(w, t + TABLE_HEADER_SIZE + (size_t)i * 8, 0, 8);
	}
	header_seal(w, t, length);
	return gpa;
}

static void write_rsdp(struct table_writer *w, uint8_t *r, uint64_t xsdt_gpa)
{
	memcpy(r, "RSD PTR ", 8);
	memcpy(r + 9, ACPI_OEM_ID, 6);
	r[15] = 2; /* revision: ACPI 2.0+, XSDT */
	le_put32(r + 20, RSDP_SIZE);
	le_put64(r + 24, xsdt_gpa);
	r[8] = (uint8_t)(0 - acpi_checksum(r, 20));
	r[32] = (uint8_t)(0 - acpi_checksum(r, RSDP_SIZE));
	log_pointer(w, r + 24, 1, 8);
	/* The first checksum covers the ACPI 1.0 part, the second all of it,
	 * the first included: fixed in that order. */
	log_checksum(w, r, 1, 8, 20);
	log_checksum(w, r, 1, 32, RSDP_SIZE);
}

static long build_tables(const struct acpi_platform *platform,
			 uint64_t base_gpa, uint8_t *out, size_t cap,
			 struct link_log *log)
{
	struct table_writer w = {
		.out = out, .cap = cap, .base_gpa = base_gpa, .log = log};
	uint64_t rsdp_gpa, dsdt, tables[3], xsdt;
	uint8_t *rsdp;

	if (platform->cpu_count < 1 || platform->cpu_count > 255 ||
	    !platform->apic_ids || platform->mmio_device_count < 0 ||
	    platform->mmio_device_count > 255 ||
	    (platform->mmio_device_count && !platform->mmio_devices))
		return -EINVAL;
	for (int i = 0; i < platform->cpu_count; i++)
		if (platform->apic_ids[i] > 0xfe)
			return -EINVAL;

	if (log) {
		rsdp = log->rsdp;
		memset(rsdp, 0, RSDP_SIZE);
	} else {
		rsdp = table_alloc(&w, RSDP_SIZE, &rsdp_gpa);
	}
	dsdt = write_dsdt(&w, platform);
	tables[0] = write_fadt(&w, dsdt, platform);
	tables[1] = write_madt(&w, platform);
	tables[2] = write_mcfg(&w);
	xsdt = write_xsdt(&w, tables, 3);
	if (w.error)
		return w.error;
	write_rsdp(&w, rsdp, xsdt);
	return w.error ? w.error : (long)w.used;
}

long acpi_tables_build(const struct acpi_platform *platform, uint64_t base_gpa,
		       uint8_t *out, size_t cap)
{
	return build_tables(platform, base_gpa, out, cap, NULL);
}

int acpi_tables_write(struct guest_memory *mem,
		      const struct acpi_platform *platform, uint64_t *rsdp_gpa)
{
	uint8_t *area =
		guest_memory_ptr(mem, LAYOUT_ACPI_GPA, LAYOUT_ACPI_SIZE);
	long used;

	if (!area)
		return -EFAULT;
	used = acpi_tables_build(platform, LAYOUT_ACPI_GPA, area,
				 LAYOUT_ACPI_SIZE);
	if (used < 0)
		return (int)used;
	*rsdp_gpa = LAYOUT_ACPI_GPA;
	return 0;
}

/* QEMU's linker/loader commands (hw/acpi/bios-linker-loader.c in QEMU;
 * SeaBIOS src/fw/romfile_loader.h): 128-byte little-endian entries. */
#define LOADER_ENTRY_SIZE 128
#define LOADER_ALLOCATE 1
#define LOADER_ADD_POINTER 2
#define LOADER_ADD_CHECKSUM 3
#define LOADER_ZONE_HIGH 1
#define LOADER_ZONE_FSEG 2
#define LOADER_NAME_SIZE 56
#define LOADER_MAX_ENTRIES (2 + LINK_MAX_POINTERS + LINK_MAX_CHECKSUMS)

static uint8_t *loader_entry(struct acpi_firmware_blobs *blobs,
			     uint32_t command)
{
	uint8_t *e = blobs->loader + blobs->loader_len;

	blobs->loader_len += LOADER_ENTRY_SIZE;
	le_put32(e, command);
	return e;
}

static void loader_name(uint8_t *at, const char *name)
{
	memcpy(at, name, strlen(name) + 1); /* the rest is already zero */
}

static const char *blob_name(int in_rsdp)
{
	return in_rsdp ? ACPI_FIRMWARE_RSDP_FILE : ACPI_FIRMWARE_TABLES_FILE;
}

static void write_loader(struct acpi_firmware_blobs *blobs,
			 const struct link_log *log)
{
	uint8_t *e = loader_entry(blobs, LOADER_ALLOCATE);

	/* The tables anywhere in RAM, the RSDP where operating systems scan
	 * for it (0xe0000-0xfffff). */
	loader_name(e + 4, ACPI_FIRMWARE_TABLES_FILE);
	le_put32(e + 4 + LOADER_NAME_SIZE, 64);
	e[8 + LOADER_NAME_SIZE] = LOADER_ZONE_HIGH;
	e = loader_entry(blobs, LOADER_ALLOCATE);
	loader_name(e + 4, ACPI_FIRMWARE_RSDP_FILE);
	le_put32(e + 4 + LOADER_NAME_SIZE, 16);
	e[8 + LOADER_NAME_SIZE] = LOADER_ZONE_FSEG;
	/* Every pointer holds an offset into the tables blob; the firmware
	 * adds where it put that blob. */
	for (int i = 0; i < log->pointer_count; i++) {
		const struct link_pointer *p = &log->pointers[i];

		e = loader_entry(blobs, LOADER_ADD_POINTER);
		loader_name(e + 4, blob_name(p->in_rsdp));
		loader_name(e + 4 + LOADER_NAME_SIZE,
			    ACPI_FIRMWARE_TABLES_FILE);
		le_put32(e + 4 + 2 * LOADER_NAME_SIZE, p->offset);
		e[8 + 2 * LOADER_NAME_SIZE] = p->size;
	}
	/* Then the checksums, which the pointers changed. */
	for (int i = 0; i < log->checksum_count; i++) {
		const struct link_checksum *c = &log->checksums[i];

		e = loader_entry(blobs, LOADER_ADD_CHECKSUM);
		loader_name(e + 4, blob_name(c->in_rsdp));
		le_put32(e + 4 + LOADER_NAME_SIZE, c->offset);
		le_put32(e + 8 + LOADER_NAME_SIZE, c->start);
		le_put32(e + 12 + LOADER_NAME_SIZE, c->length);
	}
}

int acpi_tables_build_for_firmware(const struct acpi_platform *platform,
				   struct acpi_firmware_blobs *blobs)
{
	struct link_log *log = calloc(1, sizeof(*log));
	long used;

	memset(blobs, 0, sizeof(*blobs));
	blobs->tables = malloc(LAYOUT_ACPI_SIZE);
	blobs->loader = calloc(LOADER_MAX_ENTRIES, LOADER_ENTRY_SIZE);
	if (!log || !blobs->tables || !blobs->loader) {
		free(log);
		acpi_firmware_blobs_free(blobs);
		return -ENOMEM;
	}
	log->rsdp = blobs->rsdp;
	used = build_tables(platform, 0, blobs->tables, LAYOUT_ACPI_SIZE, log);
	if (used < 0) {
		free(log);
		acpi_firmware_blobs_free(blobs);
		return (int)used;
	}
	blobs->tables_len = (size_t)used;
	write_loader(blobs, log);
	free(log);
	return 0;
}

void acpi_firmware_blobs_free(struct acpi_firmware_blobs *blobs)
{
	free(blobs->tables);
	free(blobs->loader);
	blobs->tables = blobs->loader = NULL;
	blobs->tables_len = blobs->loader_len = 0;
}
