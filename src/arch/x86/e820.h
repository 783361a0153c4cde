/* The e820 map tern gives the guest, derived from the guest memory layout.
 * Shared by the zero page (bzImage) and the PVH memory map. */
#ifndef TERN_ARCH_X86_E820_H
#define TERN_ARCH_X86_E820_H

#include <stdint.h>

#include "memory/guest_memory.h"

#define E820_TYPE_RAM 1
#define E820_TYPE_RESERVED 2

#define E820_MAX_ENTRIES 8

struct e820_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
};

struct e820_map {
	struct e820_entry entries[E820_MAX_ENTRIES];
	int count;
};

/* Builds the map: conventional RAM up to the EBDA, the EBDA and BIOS area
 * reserved, RAM from 1 MiB to the hole, the ECAM window and the reset-vector
 * ROM reserved, RAM above 4 GiB. Sorted, no overlaps.
 */
void e820_build(const struct guest_memory *mem, struct e820_map *map);

#endif
