#include "arch/x86/e820.h"

#include "arch/x86/layout.h"

static void add_entry(struct e820_map *map, uint64_t addr, uint64_t size,
		      uint32_t type)
{
	if (size == 0 || map->count >= E820_MAX_ENTRIES)
		return;
	map->entries[map->count++] = (struct e820_entry){
		.addr = addr,
		.size = size,
		.type = type,
	};
}

void e820_build(const struct guest_memory *mem, struct e820_map *map)
{
	uint64_t low_end = guest_memory_low_end(mem);

	map->count = 0;
	add_entry(map, 0, LAYOUT_BIOS_RESERVED_GPA, E820_TYPE_RAM);
	/* The EBDA's place, the VGA hole and the BIOS area (where the ACPI
	 * tables are) a PC has below 1 MiB: kernels expect it reserved. */
	add_entry(map, LAYOUT_BIOS_RESERVED_GPA,
		  LAYOUT_HIGH_MEMORY_GPA - LAYOUT_BIOS_RESERVED_GPA,
		  E820_TYPE_RESERVED);
	if (low_end > LAYOUT_HIGH_MEMORY_GPA)
		add_entry(map, LAYOUT_HIGH_MEMORY_GPA,
			  low_end - LAYOUT_HIGH_MEMORY_GPA, E820_TYPE_RAM);
	/* Linux trusts the MCFG's ECAM window only when the firmware reserves
	 * it (arch/x86/pci/mmconfig-shared.c checks the e820 map). */
	add_entry(map, LAYOUT_PCI_ECAM_GPA, LAYOUT_PCI_ECAM_SIZE,
		  E820_TYPE_RESERVED);
	/* The reset-vector ROM: firmware, never RAM, as a PC's BIOS flash. */
	add_entry(map, LAYOUT_RESET_ROM_GPA, LAYOUT_RESET_ROM_SIZE,
		  E820_TYPE_RESERVED);
	for (int i = 0; i < mem->region_count; i++) {
		const struct guest_memory_region *region = &mem->regions[i];

		if (region->gpa >= LAYOUT_MMIO_HOLE_END)
			add_entry(map, region->gpa, region->size,
				  E820_TYPE_RAM);
	}
}
