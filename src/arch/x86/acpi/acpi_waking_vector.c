#include "arch/x86/acpi/acpi_waking_vector.h"

#include <errno.h>
#include <string.h>

#include "arch/x86/acpi/acpi_tables.h"
#include "util/le_bytes.h"

#define RSDP_SCAN_START 0xe0000ULL
#define RSDP_SCAN_END 0x100000ULL
#define RSDP_V1_SIZE 20
#define HEADER_SIZE 36
/* No table tern or SeaBIOS writes comes near; a bound on what is read. */
#define TABLE_MAX (1u << 20)
#define FADT_FIRMWARE_CTRL 36
#define FADT_X_FIRMWARE_CTRL 132
#define FACS_MIN_SIZE 64

static const uint8_t *find_rsdp(const struct guest_memory *mem)
{
	for (uint64_t gpa = RSDP_SCAN_START; gpa < RSDP_SCAN_END; gpa += 16) {
		const uint8_t *p = guest_memory_ptr(mem, gpa, ACPI_RSDP_SIZE);

		if (p && !memcmp(p, "RSD PTR ", 8) &&
		    acpi_checksum(p, RSDP_V1_SIZE) == 0)
			return p;
	}
	return NULL;
}

/* The table at gpa, its whole length in guest RAM, or NULL. */
static const uint8_t *table_at(const struct guest_memory *mem, uint64_t gpa,
			       uint32_t *length)
{
	const uint8_t *h = gpa ? guest_memory_ptr(mem, gpa, HEADER_SIZE) : NULL;

	if (!h)
		return NULL;
	*length = le_get32(h + 4);
	if (*length < HEADER_SIZE || *length > TABLE_MAX)
		return NULL;
	return guest_memory_ptr(mem, gpa, *length);
}

/* The FADT through the XSDT (entry_size 8) or the RSDT (4). */
static const uint8_t *find_fadt(const struct guest_memory *mem,
				uint64_t root_gpa, int entry_size,
				uint32_t *fadt_len)
{
	uint32_t length;
	const uint8_t *root = table_at(mem, root_gpa, &length);

	if (!root)
		return NULL;
	for (uint32_t off = HEADER_SIZE; off + (uint32_t)entry_size <= length;
	     off += (uint32_t)entry_size) {
		uint64_t gpa = entry_size == 8 ? le_get64(root + off)
					       : le_get32(root + off);
		const uint8_t *t = table_at(mem, gpa, fadt_len);

		if (t && !memcmp(t, "FACP", 4))
			return t;
	}
	return NULL;
}

int acpi_find_waking_vector(const struct guest_memory *mem,
			    struct acpi_waking_vector *out)
{
	const uint8_t *rsdp = find_rsdp(mem), *fadt = NULL, *facs;
	uint32_t fadt_len = 0, facs_len;
	uint64_t facs_gpa = 0;

	if (!rsdp)
		return -ENOENT;
	/* ACPI 2.0+: the XSDT, when its checksum holds and it exists. */
	if (rsdp[15] >= 2 && acpi_checksum(rsdp, ACPI_RSDP_SIZE) == 0 &&
	    le_get64(rsdp + 24))
		fadt = find_fadt(mem, le_get64(rsdp + 24), 8, &fadt_len);
	if (!fadt)
		fadt = find_fadt(mem, le_get32(rsdp + 16), 4, &fadt_len);
	if (!fadt)
		return -ENOENT;
	/* X_FIRMWARE_CTRL wins when the FADT is long enough to have it and it
	 * is set (ACPI 6.4 section 5.2.9). */
	if (fadt_len >= FADT_X_FIRMWARE_CTRL + 8)
		facs_gpa = le_get64(fadt + FADT_X_FIRMWARE_CTRL);
	if (!facs_gpa && fadt_len >= FADT_FIRMWARE_CTRL + 4)
		facs_gpa = le_get32(fadt + FADT_FIRMWARE_CTRL);
	if (!facs_gpa)
		return -ENOENT;
	facs = guest_memory_ptr(mem, facs_gpa, FACS_MIN_SIZE);
	if (!facs || memcmp(facs, "FACS", 4))
		return -ENOENT;
	facs_len = le_get32(facs + 4);
	if (facs_len < FACS_MIN_SIZE)
		return -EINVAL;
	out->facs_gpa = facs_gpa;
	out->vector = le_get32(facs + 12);
	out->x_vector = facs[32] >= 1 ? le_get64(facs + 24) : 0;
	return 0;
}
