/* Intel MultiProcessor Specification 1.4 tables: how the guest learns its CPU
 * count, APIC IDs, the IOAPIC and the ISA interrupt routing without ACPI. */
#ifndef TERN_ARCH_X86_MPTABLE_H
#define TERN_ARCH_X86_MPTABLE_H

#include <stdint.h>

#include "memory/guest_memory.h"

/* Writes the floating pointer and configuration table at LAYOUT_EBDA_GPA for
 * cpu_count processors whose APIC IDs are apic_ids[0..cpu_count-1] (cpu 0 the
 * BSP). ISA IRQs 0-15 are routed to the IOAPIC pins of the same number, as
 * the in-kernel IOAPIC expects. Returns 0 or -E2BIG if the table does not fit
 * in the EBDA. */
int mptable_write(struct guest_memory *mem, int cpu_count,
		  const uint32_t *apic_ids);

#endif
