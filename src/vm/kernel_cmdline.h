/* Reading the kernel command line tern hands a guest, where tern's own
 * choices follow from it (the transport from pci=off, the PIC from
 * noapic or acpi=off, a root= of tern's only when the line names none).
 * Parameters are separated by spaces or tabs, as Linux's parser takes
 * them; quoting is not looked at. */
#ifndef TERN_VM_KERNEL_CMDLINE_H
#define TERN_VM_KERNEL_CMDLINE_H

#include <stdbool.h>

/* Whether cmdline (NULL: none) has word as a whole parameter ("noapic",
 * "pci=off"). */
bool kernel_cmdline_has_word(const char *cmdline, const char *word);

/* Whether cmdline (NULL: none) has a parameter key=VALUE ("root"). */
bool kernel_cmdline_has_key(const char *cmdline, const char *key);

#endif
