#include "vm/vm_legacy_pic.h"

#include <string.h>

#include "util/log.h"
#include "vm/kernel_cmdline.h"

bool vm_config_guest_uses_pic(const struct vm_config *config)
{
	/* A firmware boots the guest's own boot loader: tern never sees the
	 * command line that counts. */
	if (config->firmware_path)
		return false;
	return kernel_cmdline_has_word(config->cmdline, "noapic") ||
		kernel_cmdline_has_word(config->cmdline, "acpi=off");
}

void vm_legacy_pic_warn(const struct vm_config *config)
{
	if (config->acpi_mode == VM_ACPI_REDUCED &&
	    kernel_cmdline_has_word(config->cmdline, "noapic") &&
	    !config->firmware_path)
		log_warn("the kernel command line has noapic, and with "
			 "hardware-reduced ACPI (--acpi reduced) Linux sets up "
			 "no 8259 PIC: the guest will have no interrupt "
			 "controller (leave --acpi out, or drop noapic)");
}
