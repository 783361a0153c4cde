/* The VM's power button: what `PUT /actions SendPowerButton` presses, the
 * way QEMU's system_powerdown (and so libvirt's `virsh shutdown`) asks a
 * guest to shut down cleanly. A direct kernel boot (hardware-reduced ACPI)
 * has the GED of devices/acpi_ged.h, a --firmware VM (full ACPI) the fixed
 * power button of devices/acpi_pm1.h. A press nobody would hear is refused
 * rather than reported as done: the GED's IOAPIC pin still masked (no ACPI
 * GED driver bound), or PWRBTN_EN clear (no button driver). A press also
 * wakes a VM asleep in ACPI S3 (vm/vm_sleep.h), in both modes. */
#ifndef TERN_VM_VM_POWER_BUTTON_H
#define TERN_VM_VM_POWER_BUTTON_H

#include <stdint.h>

#include "util/error.h"
#include "vm/vm.h"

/* Returns 0, or a negative errno with err set: -ENODEV when the guest does
 * not listen, another when KVM cannot say. Any thread: the devices lock
 * themselves. */
int vm_press_power_button(struct vm *vm, struct tern_error *err);

/* Presses delivered to this VM's guest, for metrics. */
uint64_t vm_power_button_presses(const struct vm *vm);

#endif
