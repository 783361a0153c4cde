/* Intel MultiProcessor Specification 1.4 tables: how the guest learns its CPU
 * count, APIC IDs, the IOAPIC and the ISA interrupt routing without ACPI. */
#ifndef TERN_ARCH_X86_MPTABLE_H
#define TERN_ARCH_X86_MPTABLE_H

#include <stddef.h>
#include <stdint.h>

#include "memory/guest_memory.h"

/* Writes the floating pointer at LAYOUT_MP_FLOATING_GPA and the configuration
 * table at LAYOUT_MP_CONFIG_GPA for cpu_count processors whose APIC IDs are
 * apic_ids[0..cpu_count-1] (cpu 0 the BSP). ISA IRQs 0-15 are routed to the
 * IOAPIC pins of the same number, as the in-kernel IOAPIC expects. Returns 0 or
 * -E2BIG if the table does not fit in LAYOUT_MP_CONFIG_MAX bytes or an APIC ID
 * does not fit in a byte. */
/* Bytes of configuration table for cpu_count processors. */
size_t mptable_config_size(int cpu_count);

int mptable_write(struct guest_memory *mem, int cpu_count,
		  const uint32_t *apic_ids);

#endif
