/* Section ids of the state file (src/snapshot/state_file.h). An id never
 * changes meaning within one format version; a new kind of state gets a new
 * id. vCPU sections are SNAP_VCPU_BASE + index * SNAP_VCPU_STRIDE + kind;
 * device sections SNAP_DEVICE_BASE + the device's slot. */
#ifndef TERN_SNAPSHOT_SNAPSHOT_SECTIONS_H
#define TERN_SNAPSHOT_SNAPSHOT_SECTIONS_H

enum snap_section_id {
	SNAP_VM_META = 0x1,
	SNAP_VM_CLOCK = 0x2,
	SNAP_VM_PIC_MASTER = 0x3,
	SNAP_VM_PIC_SLAVE = 0x4,
	SNAP_VM_IOAPIC = 0x5,
	SNAP_VM_PIT = 0x6,
	SNAP_VM_MEMORY = 0x7,
	SNAP_VM_CONFIG = 0x8, /* JSON: src/snapshot/config_state.h */
	SNAP_VM_FIRMWARE = 0x9, /* src/snapshot/firmware_state.h */

	SNAP_VCPU_BASE = 0x1000,
	SNAP_VCPU_STRIDE = 0x20,

	SNAP_DEVICE_BASE = 0x10000,
	SNAP_VIRTIO_BASE = 0x20000,
};

enum snap_vcpu_kind {
	SNAP_VCPU_CPUID,
	SNAP_VCPU_REGS,
	SNAP_VCPU_SREGS,
	SNAP_VCPU_XSAVE,
	SNAP_VCPU_FPU, /* instead of XSAVE on hosts without it */
	SNAP_VCPU_XCRS,
	SNAP_VCPU_MSRS,
	SNAP_VCPU_LAPIC,
	SNAP_VCPU_EVENTS,
	SNAP_VCPU_MP_STATE,
	SNAP_VCPU_DEBUGREGS,
};

static inline unsigned snap_vcpu_id(int index, enum snap_vcpu_kind kind)
{
	return SNAP_VCPU_BASE + (unsigned)index * SNAP_VCPU_STRIDE +
		(unsigned)kind;
}

#endif
