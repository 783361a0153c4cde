/* --firmware: a PC BIOS image (SeaBIOS's bios.bin) instead of a kernel.
 * The image is mapped read-only so that it ends at 4 GiB, its last 128 KiB
 * are copied to 0xe0000 (arch/x86/layout.h says why), the boot vCPU starts
 * at the reset vector in real mode as after a power-on, and fw_cfg carries
 * what SeaBIOS reads from QEMU: the e820 map, the ACPI tables with their
 * loader script, the serial console's port and no interactive boot menu.
 * What SeaBIOS probes and tern answers is listed in docs/firmware.md. */
#ifndef TERN_ARCH_X86_FIRMWARE_H
#define TERN_ARCH_X86_FIRMWARE_H

#include <stddef.h>
#include <stdint.h>

#include "arch/x86/acpi/acpi_tables.h"
#include "devices/device.h"
#include "memory/guest_memory.h"
#include "util/error.h"

/* 0 when an image of size bytes can be mapped (64 KiB to 16 MiB, a
 * multiple of 64 KiB, as QEMU's -bios), -EINVAL otherwise. */
int firmware_check_size(uint64_t size);

/* The file at path can be a firmware image: a regular file of a size
 * firmware_check_size() accepts. where names it in the message (an option
 * or a field). Returns 0 or a negative errno with err set. */
int firmware_check_file(const char *path, const char *where,
			struct tern_error *err);

/* Guest physical address of an image of size bytes: it ends at 4 GiB. */
uint64_t firmware_gpa(uint64_t size);

/* Copies the image's last 128 KiB (or all of a smaller one) into RAM below
 * 1 MiB, ending at 0x100000. Returns 0 or a negative errno. */
int firmware_install_low_copy(struct guest_memory *mem, const uint8_t *image,
			      size_t size);

/* The e820 map SeaBIOS starts from ("etc/e820": 20-byte packed entries of
 * address, length and type): RAM as guest memory has it, the ECAM window
 * and KVM's real-mode pages reserved; SeaBIOS reserves its own areas.
 * Returns the bytes written to out (cap bytes), or 0 when they do not
 * fit. */
size_t firmware_e820(const struct guest_memory *mem, uint8_t *out, size_t cap);

/* Adds every fw_cfg file and item SeaBIOS reads. Returns 0 or a negative
 * errno. */
int firmware_fill_fw_cfg(struct device *fw_cfg, const struct guest_memory *mem,
			 const struct acpi_platform *platform,
			 int serial_console);

#endif
