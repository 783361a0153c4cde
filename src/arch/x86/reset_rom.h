/* tern's reset-vector ROM: the few bytes a PC's firmware would have at the
 * reset vector. A guest that reboots by jumping there (Linux's reboot=b, and
 * its default without EFI on a hardware-reduced ACPI machine) runs them and
 * so tells tern it wants a reset, instead of running whatever is at that
 * address for ever. */
#ifndef TERN_ARCH_X86_RESET_ROM_H
#define TERN_ARCH_X86_RESET_ROM_H

#include <stddef.h>
#include <stdint.h>

#include "memory/guest_memory.h"

/* Fills a ROM window of LAYOUT_RESET_ROM_SIZE bytes (mapped at
 * LAYOUT_RESET_ROM_GPA) with the reset vector in its last 16 bytes and HLT
 * everywhere else. */
void reset_rom_fill(uint8_t *rom, size_t size);

/* Copies the reset vector to its real-mode alias (0xffff0) in guest RAM,
 * which the e820 map reserves. Returns 0 or -EFAULT. */
int reset_rom_install_alias(struct guest_memory *mem);

/* The reset vector's LAYOUT_RESET_VECTOR_SIZE bytes (for tests). */
const uint8_t *reset_rom_vector(void);

#endif
