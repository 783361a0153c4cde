/* Guests that take their interrupts from the 8259 PIC instead of the
 * IOAPIC. firectl's default kernel command line has `noapic` (written for
 * Firecracker's older machines, which had an MP table and no ACPI: Linux
 * then falls back to the PIC that KVM_CREATE_IRQCHIP emulates). Under
 * hardware-reduced ACPI Linux sets up no PIC at all, so such a guest would
 * have no interrupt controller. tern therefore gives a `noapic` guest full
 * ACPI (unless --acpi reduced is asked for: vm_config_full_acpi()) and
 * puts its virtio-mmio devices on the PIC's free pins first. A guest
 * booted with `acpi=off` gets the same pins: its kernel finds the IOAPIC
 * only in the MP table (arch/x86/mptable.h), which a kernel built without
 * CONFIG_X86_MPPARSE (Debian's cloud kernel) does not read. Both follow from
 * the command line alone, which a snapshot keeps, so a restored VM gets the
 * same machine. */
#ifndef TERN_VM_VM_LEGACY_PIC_H
#define TERN_VM_VM_LEGACY_PIC_H

#include <stdbool.h>

#include "vm/vm_config.h"

/* Whether the guest will leave the IOAPIC alone and use the PIC: a kernel
 * (no firmware) whose command line has noapic or acpi=off. */
bool vm_config_guest_uses_pic(const struct vm_config *config);

/* Logs a warning when the guest will use the PIC but --acpi reduced (or
 * tern.acpi) hides it: Linux then has no interrupt controller at all. */
void vm_legacy_pic_warn(const struct vm_config *config);

/* The 8259 PIC's inputs: GSIs at or above this reach only the IOAPIC. */
#define VM_LEGACY_PIC_PINS 16

#endif
