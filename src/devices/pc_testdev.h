/* QEMU's pc-testdev, the ISA test device kvm-unit-tests' x86 tests drive
 * (tern run --pc-testdev): a scratch I/O register, ISA interrupt lines the
 * test raises and lowers itself, a "flush page" port and a scratch MMIO
 * window. Test-only: a VM gets it only when asked for. */
#ifndef TERN_DEVICES_PC_TESTDEV_H
#define TERN_DEVICES_PC_TESTDEV_H

#include <stdint.h>

#include "devices/device.h"
#include "devices/irq_line.h"

/* Ports 0xe0-0xe3: one 32-bit register, read back as written (the
 * emulator and realmode tests check I/O instructions of every width with
 * it); ports 0xe4-0xe7: "flush page", the guest writes a physical address
 * (eventinj). One range of 8 ports. */
#define PC_TESTDEV_PORT 0xe0
#define PC_TESTDEV_PORT_COUNT 8
/* Ports 0x2000 + line: a byte written there sets ISA interrupt line `line`
 * to that level (0 low, anything else high): set_irq_line() in
 * kvm-unit-tests, for the ioapic and realmode tests. */
#define PC_TESTDEV_IRQ_PORT 0x2000
#define PC_TESTDEV_IRQ_LINES 24
/* 64 KiB of scratch MMIO at 0xff000000 (kvm-unit-tests' IORAM_BASE_PHYS):
 * reads give back what was written, but every access exits to tern, so
 * the emulator test can check KVM's instruction emulator on MMIO. */
#define PC_TESTDEV_IOMEM_GPA 0xff000000ULL
#define PC_TESTDEV_IOMEM_SIZE 0x10000ULL

enum pc_testdev_window {
	PC_TESTDEV_WINDOW_PORTS, /* at PC_TESTDEV_PORT, port I/O */
	PC_TESTDEV_WINDOW_IRQ, /* at PC_TESTDEV_IRQ_PORT, port I/O */
	PC_TESTDEV_WINDOW_IOMEM, /* at PC_TESTDEV_IOMEM_GPA, MMIO */
	PC_TESTDEV_WINDOWS
};

struct pc_testdev;

/* irq: a setter whose gsi field is ignored; the device passes the line
 * number as the GSI (ISA IRQ n is GSI n, as tern's interrupt routing and
 * QEMU's have it). NULL: out of memory. */
struct pc_testdev *pc_testdev_create(const struct irq_line *irq);

/* The device to register for one window. Each window is its own struct
 * device (the buses hand a device only the offset into its range, so one
 * device on three ranges could not tell them apart) with the same ops
 * table; the last window destroyed frees the whole device. */
struct device *pc_testdev_window(struct pc_testdev *t,
				 enum pc_testdev_window window);

#endif
