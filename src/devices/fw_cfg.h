/* QEMU's firmware configuration interface (docs/specs/fw_cfg.rst in QEMU),
 * the traditional port I/O form only: a guest writes a 16-bit key to the
 * selector port 0x510 and reads the item's bytes one at a time from the data
 * port 0x511. tern offers what kvm-unit-tests and similar guests read: the
 * signature "QEMU", the interface ID, the RAM size, the CPU counts and an
 * empty file directory. No DMA (the ID says so), no writable items; an
 * unknown key reads as zeros, as in QEMU. */
#ifndef TERN_DEVICES_FW_CFG_H
#define TERN_DEVICES_FW_CFG_H

#include <stdint.h>

#include "devices/device.h"

#define FW_CFG_PORT 0x510
#define FW_CFG_PORT_COUNT 2 /* selector 0x510, data 0x511 */

/* Keys (QEMU include/standard-headers/linux/qemu_fw_cfg.h). */
#define FW_CFG_SIGNATURE 0x00
#define FW_CFG_ID 0x01
#define FW_CFG_RAM_SIZE 0x03
#define FW_CFG_NB_CPUS 0x05
#define FW_CFG_MAX_CPUS 0x0f
#define FW_CFG_FILE_DIR 0x19
#define FW_CFG_ARCH_LOCAL 0x8000

struct fw_cfg_machine {
	uint64_t ram_size; /* bytes, as --memory gives it */
	uint16_t cpu_count;
};

struct device *fw_cfg_create(const struct fw_cfg_machine *machine);

#endif
