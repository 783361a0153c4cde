#include "vm/vm_power_button.h"

#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>

#include <linux/kvm.h>

#include "devices/acpi_ged.h"
#include "devices/acpi_pm1.h"
#include "devices/acpi_power.h"

/* Whether the guest unmasked the GED's IOAPIC pin: Linux's GED driver does
 * so when it requests the interrupt, and an edge on a masked pin is lost
 * (KVM's IOAPIC latches only unmasked edges). */
static int ged_pin_unmasked(struct vm *vm, struct tern_error *err)
{
	struct kvm_irqchip chip;

	memset(&chip, 0, sizeof(chip));
	chip.chip_id = KVM_IRQCHIP_IOAPIC;
	if (ioctl(vm->fd, KVM_GET_IRQCHIP, &chip) < 0)
		return tern_error_set(err, errno,
				      "KVM_GET_IRQCHIP (IOAPIC) failed: %s",
				      strerror(errno));
	return chip.chip.ioapic.redirtbl[ACPI_GED_GSI].fields.mask ? 0 : 1;
}

int vm_press_power_button(struct vm *vm, struct tern_error *err)
{
	int ret;

	if (vm->acpi_pm1) {
		ret = acpi_pm1_press_power_button(vm->acpi_pm1);
		if (ret == -ENODEV)
			tern_error_set(err, ENODEV,
				       "the guest has not enabled the ACPI "
				       "power button (PM1 PWRBTN_EN clear: no "
				       "ACPI button driver yet): the press "
				       "would go nowhere");
		return ret;
	}
	if (!vm->acpi_ged)
		return tern_error_set(err, ENODEV,
				      "this VM has no power button");
	/* A sleeping VM wakes whatever its GED's pin says: the OS masked
	 * nothing for a button it cannot hear while asleep. */
	if (vm->acpi_power &&
	    acpi_power_wake(vm->acpi_power, "the power button"))
		return 0;
	ret = ged_pin_unmasked(vm, err);
	if (ret < 0)
		return ret;
	if (!ret)
		return tern_error_set(err, ENODEV,
				      "the guest has not enabled the ACPI "
				      "power button's interrupt (GSI %d is "
				      "masked: no ACPI GED driver yet): the "
				      "press would go nowhere",
				      ACPI_GED_GSI);
	acpi_ged_press_power_button(vm->acpi_ged);
	return 0;
}

uint64_t vm_power_button_presses(const struct vm *vm)
{
	if (vm->acpi_pm1)
		return acpi_pm1_power_button_presses(vm->acpi_pm1);
	return vm->acpi_ged ? acpi_ged_power_button_presses(vm->acpi_ged) : 0;
}
