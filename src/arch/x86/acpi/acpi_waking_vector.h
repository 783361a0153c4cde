/* Where a guest waking from ACPI S3 resumes: the waking vectors of the
 * FACS (ACPI 6.4 section 5.2.10), found the way an OS finds its tables:
 * the RSDP in the BIOS area (0xe0000-0xfffff), its XSDT (or RSDT), the
 * FADT, and its X_FIRMWARE_CTRL (or FIRMWARE_CTRL). On a PC the firmware
 * reads the vector at wake; in tern, vm/vm_sleep.c does, for a direct
 * kernel boot (tables at LAYOUT_ACPI_GPA) and for --firmware (tables where
 * SeaBIOS put them) alike. Everything read is guest memory and hostile:
 * every pointer and length is checked against guest RAM. */
#ifndef TERN_ARCH_X86_ACPI_ACPI_WAKING_VECTOR_H
#define TERN_ARCH_X86_ACPI_ACPI_WAKING_VECTOR_H

#include <stdint.h>

#include "memory/guest_memory.h"

struct acpi_waking_vector {
	uint64_t facs_gpa;
	uint32_t vector; /* Firmware_Waking_Vector: real mode */
	uint64_t x_vector; /* X_Firmware_Waking_Vector (FACS version >= 1) */
};

/* Returns 0 and fills *out, or -ENOENT (no RSDP, FADT or FACS where they
 * must be), -EINVAL (a table that does not fit in guest RAM or is
 * malformed). */
int acpi_find_waking_vector(const struct guest_memory *mem,
			    struct acpi_waking_vector *out);

#endif
