/* QEMU's firmware configuration interface (docs/specs/fw_cfg.rst in QEMU),
 * the traditional port I/O form only: a guest writes a 16-bit key to the
 * selector port 0x510 and reads the item's bytes one at a time from the data
 * port 0x511. tern offers what kvm-unit-tests and similar guests read: the
 * signature "QEMU", the interface ID, the RAM size, the CPU counts and the
 * file directory; with --firmware also the files SeaBIOS reads (e820 map,
 * ACPI tables and their loader script, console port, ...), added with
 * fw_cfg_add_file(). No DMA (the ID says so), no writable items; an unknown
 * key reads as zeros, as in QEMU. */
#ifndef TERN_DEVICES_FW_CFG_H
#define TERN_DEVICES_FW_CFG_H

#include <stddef.h>
#include <stdint.h>

#include "devices/device.h"

#define FW_CFG_PORT 0x510
#define FW_CFG_PORT_COUNT 2 /* selector 0x510, data 0x511 */

/* Keys (QEMU include/standard-headers/linux/qemu_fw_cfg.h). */
#define FW_CFG_SIGNATURE 0x00
#define FW_CFG_ID 0x01
#define FW_CFG_RAM_SIZE 0x03
#define FW_CFG_NOGRAPHIC 0x04
#define FW_CFG_NB_CPUS 0x05
#define FW_CFG_BOOT_MENU 0x0e
#define FW_CFG_MAX_CPUS 0x0f
#define FW_CFG_FILE_DIR 0x19
#define FW_CFG_FILE_FIRST 0x20
#define FW_CFG_ARCH_LOCAL 0x8000

/* A file name's room in the directory, with its terminating NUL. */
#define FW_CFG_FILE_NAME_SIZE 56
/* Files one device serves: what SeaBIOS needs, with room to spare. */
#define FW_CFG_MAX_FILES 16
/* The largest item: guards against a runaway caller, far above what the
 * ACPI tables of 64 vCPUs take. */
#define FW_CFG_ITEM_MAX_SIZE (1u << 20)

struct fw_cfg_machine {
	uint64_t ram_size; /* bytes, as --memory gives it */
	uint16_t cpu_count;
};

struct device *fw_cfg_create(const struct fw_cfg_machine *machine);

/* Adds a legacy numbered item (key below FW_CFG_FILE_FIRST) with a copy of
 * data. Returns 0, -EINVAL (key taken, file range, too big) or -ENOMEM. */
int fw_cfg_add_item(struct device *dev, uint16_t key, const void *data,
		    size_t len);

/* Adds a named file with a copy of data and lists it in the directory (the
 * next free key from FW_CFG_FILE_FIRST). Call before the guest runs.
 * Returns 0, -EINVAL (bad or duplicate name, too big), -ENOSPC or
 * -ENOMEM. */
int fw_cfg_add_file(struct device *dev, const char *name, const void *data,
		    size_t len);

#endif
