/* ternctl reboot: the guest reboots and the VM stays running, as with
 * virsh reboot.
 *
 * ctrl-alt-del (the default): tern's SendCtrlAltDel on the guest's
 * keyboard; its init reboots, and tern boots the kernel again in the same
 * process, because ternd starts every VM with tern.on_reboot "restart"
 * unless its definition says otherwise (vm_manager.c). The guest decides,
 * as with shutdown; one without a keyboard driver is refused with tern's
 * reason.
 * reset: the guest is not asked: ternd stops the VM's tern (destroy's way)
 * and starts a new one from the definition, as a reset button would. For
 * guests that cannot hear Ctrl-Alt-Del, or do not react. */
#ifndef TERN_TERND_VM_REBOOT_H
#define TERN_TERND_VM_REBOOT_H

#include "ternd/vm_manager.h"
#include "util/error.h"

enum vm_reboot_mode {
	VM_REBOOT_CTRL_ALT_DEL,
	VM_REBOOT_RESET,
};

/* "ctrl-alt-del", "reset"; 0, or -EINVAL with err set for another name. */
int vm_reboot_mode_parse(const char *text, enum vm_reboot_mode *mode,
			 struct tern_error *err);

/* -EBUSY for a shut-off VM (or, for ctrl-alt-del, a paused one, or one
 * whose tern exits on a reboot), -EREMOTEIO when tern refuses. */
int vm_reboot(struct vm_manager *m, const char *name, enum vm_reboot_mode mode,
	      struct tern_error *err);

#endif
