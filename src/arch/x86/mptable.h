/* The Intel MultiProcessor Specification (1.4) table: how a guest that
 * ignores ACPI (`acpi=off`, as Kata Containers boots Firecracker guests)
 * still finds its processors, the IOAPIC and the ISA interrupt routing.
 * Without it Linux sees one CPU and only the 8259 PIC. Firecracker writes
 * one for every guest; tern writes it beside the ACPI tables for every
 * kernel it boots itself (not for Multiboot kernels, which are handed a
 * BIOS's state instead, nor under --firmware, whose BIOS writes its own). */
#ifndef TERN_ARCH_X86_MPTABLE_H
#define TERN_ARCH_X86_MPTABLE_H

#include <stddef.h>
#include <stdint.h>

#include "memory/guest_memory.h"

/* The floating pointer sits in the last KiB of base memory, one of the
 * places the specification (and Linux's smp_scan_config) searches; the
 * configuration table it points to fills the reserved kilobytes below it
 * (the e820 map reserves both: arch/x86/layout.h). */
#define MPTABLE_FLOATING_GPA 0x9fc00ULL
#define MPTABLE_CONFIG_GPA 0x9f000ULL
#define MPTABLE_CONFIG_MAX (MPTABLE_FLOATING_GPA - MPTABLE_CONFIG_GPA)

/* IOAPIC pins described (KVM's IOAPIC has 24). */
#define MPTABLE_IOAPIC_PINS 24

/* Builds the configuration table for cpu_count processors with the given
 * local APIC ids (the first is the boot processor) into config (capacity
 * cap) and the 16-byte floating pointer into floating, which points at
 * config_gpa. Returns the configuration table's length, or -EINVAL (no
 * processors, or an APIC id a one-byte field cannot hold), -E2BIG. */
long mptable_build(int cpu_count, const uint32_t *apic_ids, uint64_t config_gpa,
		   uint8_t *config, size_t cap, uint8_t floating[16]);

/* Builds the table and writes both parts into guest memory at their
 * places. Returns 0 or a negative errno. */
int mptable_write(struct guest_memory *mem, int cpu_count,
		  const uint32_t *apic_ids);

#endif
