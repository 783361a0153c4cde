/* Guest physical address map of a tern x86 guest. One place, so the loaders,
 * the tables and the e820 map can never disagree about who owns which page. */
#ifndef TERN_ARCH_X86_LAYOUT_H
#define TERN_ARCH_X86_LAYOUT_H

#include <stdint.h>

#define KiB(x) ((uint64_t)(x) << 10)
#define MiB(x) ((uint64_t)(x) << 20)
#define GiB(x) ((uint64_t)(x) << 30)

/* Boot-time structures, all below the EBDA so the e820 map marks them RAM
 * that the kernel may reuse once it has read them. */
#define LAYOUT_GDT_GPA 0x0500ULL
#define LAYOUT_PVH_START_INFO_GPA 0x6000ULL /* hvm_start_info + memmap */
/* The Multiboot information structure, memory map and module list: the
 * PVH start info's page, since only one loader runs per boot. */
#define LAYOUT_MULTIBOOT_INFO_GPA 0x6000ULL
#define LAYOUT_ZERO_PAGE_GPA 0x7000ULL /* struct boot_params */
#define LAYOUT_PML4_GPA 0x9000ULL /* identity map, 1 GiB pages off */
#define LAYOUT_PDPT_GPA 0xa000ULL
#define LAYOUT_PD_GPA                                                          \
	0xb000ULL /* 4 page directories: first 4 GiB, 2 MiB pages */
#define LAYOUT_BOOT_STACK_GPA 0x8ff0ULL
#define LAYOUT_CMDLINE_GPA 0x20000ULL
#define LAYOUT_CMDLINE_MAX                                                     \
	0x10000ULL /* 64 KiB, well above any kernel limit                      \
		    */

/* From the EBDA's usual place up to 1 MiB nothing is RAM to the guest: the
 * e820 map reserves it, as a PC BIOS does, and Linux reserves from 0x9f000
 * up anyway when the BIOS data area names no EBDA. */
#define LAYOUT_BIOS_RESERVED_GPA 0x9f000ULL

/* ACPI tables live in the BIOS read-only area, where a kernel that is given
 * no RSDP address scans for "RSD PTR " (0xe0000-0xfffff, 16-byte aligned). */
#define LAYOUT_ACPI_GPA 0xe0000ULL
#define LAYOUT_ACPI_SIZE 0x10000ULL

/* The interrupt handlers a PC BIOS leaves in its ROM, for Multiboot boots
 * only (arch/x86/bios_handover.c): in the reserved area below the
 * real-mode reset vector's alias, at 0xf000:0xf000 (segment 0xf000, as
 * a BIOS's own code is). */
#define LAYOUT_BIOS_HANDLERS_GPA 0xff000ULL
#define LAYOUT_BIOS_HANDLERS_SEGMENT 0xf000u

#define LAYOUT_LOW_RAM_END 0xa0000ULL /* 640 KiB: VGA/BIOS area follows */
#define LAYOUT_HIGH_MEMORY_GPA 0x100000ULL /* 1 MiB */

/* Default load address of a bzImage's protected-mode code when the kernel is
 * not relocatable or its pref_address does not fit. */
#define LAYOUT_KERNEL_DEFAULT_GPA 0x100000ULL

/* 32-bit hole for device MMIO: RAM stops at 3 GiB and resumes at 4 GiB. */
#define LAYOUT_MMIO_HOLE_START 0xc0000000ULL
#define LAYOUT_MMIO_HOLE_END 0x100000000ULL

/* Device windows inside the hole. PCI has one root bus (bus 0): 32-bit BARs
 * come from the PCI MMIO window, config space is reachable through ports
 * 0xcf8/0xcfc and through ECAM (announced by the ACPI MCFG table and reserved
 * in the e820 map). virtio-mmio devices (--transport mmio) sit one per 4 KiB
 * slot in their own window, announced on the kernel command line. */
#define LAYOUT_PCI_MMIO_GPA 0xc0000000ULL
#define LAYOUT_PCI_MMIO_SIZE 0x10000000ULL /* 256 MiB */
#define LAYOUT_VIRTIO_MMIO_GPA 0xd0000000ULL
#define LAYOUT_VIRTIO_MMIO_SLOT_SIZE 0x1000ULL
#define LAYOUT_VIRTIO_MMIO_MAX_SLOTS 32
/* A second BAR window, up to the IOAPIC, for --firmware only: PC firmware
 * (SeaBIOS) assigns BARs itself, top-down from 0xfec00000, whatever tern
 * chose; BARs then decode in either window, and the DSDT announces both. */
#define LAYOUT_PCI_MMIO_HIGH_GPA 0xf0000000ULL
#define LAYOUT_PCI_MMIO_HIGH_SIZE 0x0ec00000ULL /* to 0xfec00000 */
#define LAYOUT_PCI_ECAM_GPA 0xe0000000ULL
#define LAYOUT_PCI_ECAM_SIZE 0x100000ULL /* bus 0: 32 devices, 8 functions */

/* IOAPIC and LAPIC default bases (Intel MP spec / SDM). */
#define LAYOUT_IOAPIC_GPA 0xfec00000ULL
#define LAYOUT_LAPIC_GPA 0xfee00000ULL
/* The IOAPIC's id in the MADT and the MP table (KVM's IOAPIC resets to 0). */
#define LAYOUT_IOAPIC_ID 0

/* tern's reset-vector ROM (src/arch/x86/reset_rom.c): the last 64 KiB below
 * 4 GiB, where a PC's firmware sits and where a CPU fetches its first
 * instruction after a reset (0xfffffff0), mapped read-only; its last 16
 * bytes are also copied to 0xffff0, the real-mode alias (0xf000:0xfff0)
 * that a guest's "jump to the BIOS" reboot lands on. Reserved in the e820
 * map, outside every PCI window. */
#define LAYOUT_RESET_ROM_GPA 0xffff0000ULL
#define LAYOUT_RESET_ROM_SIZE 0x10000ULL
#define LAYOUT_RESET_VECTOR_GPA 0xfffffff0ULL
#define LAYOUT_RESET_VECTOR_ALIAS_GPA 0xffff0ULL
#define LAYOUT_RESET_VECTOR_SIZE 16

/* --firmware: the image (a PC BIOS such as SeaBIOS) ends at 4 GiB, mapped
 * read-only in place of the reset-vector ROM; its last 128 KiB are also
 * copied into RAM at 0xe0000-0xfffff, the legacy BIOS area a PC chipset
 * maps there at reset (SeaBIOS's real-mode code runs from that copy and
 * writes its data into it: tern leaves it RAM, as if the PAM registers
 * always said read-write). Up to 16 MiB, as QEMU's PC flash. KVM's
 * real-mode TSS and identity map then sit where QEMU puts them, below the
 * image's largest extent. */
#define LAYOUT_FIRMWARE_MIN_SIZE KiB(64)
#define LAYOUT_FIRMWARE_MAX_SIZE MiB(16)
#define LAYOUT_FIRMWARE_LOW_GPA 0xe0000ULL
#define LAYOUT_FIRMWARE_LOW_SIZE KiB(128)
#define LAYOUT_FIRMWARE_KVM_IDENTITY_MAP_GPA 0xfeffc000ULL
#define LAYOUT_FIRMWARE_KVM_TSS_GPA 0xfeffd000ULL
#define LAYOUT_FIRMWARE_KVM_PAGES_SIZE 0x4000ULL

/* tern's reset port: the reset-vector ROM writes TERN_RESET_PORT_VALUE to
 * I/O port TERN_RESET_PORT, which tern takes as a reset (a PC's firmware
 * would reinitialise the machine from there). Next to the boot marker in
 * the ISA floppy controller's ports, which tern never emulates; 0x3f1 is a
 * read-only status register there, so no floppy driver writes it, and any
 * other value is ignored. */
#define TERN_RESET_PORT 0x03f1
#define TERN_RESET_PORT_VALUE 0x52 /* 'R' */

/* tern's boot-time marker: a guest byte write of TERN_BOOT_MARKER_VALUE to
 * I/O port TERN_BOOT_MARKER_PORT makes tern log the time since its own start.
 * The port is the ISA floppy controller's, which tern never emulates; the
 * value is the one Firecracker's boot timer uses, so existing guest images
 * that signal it need only the port changed. */
#define TERN_BOOT_MARKER_PORT 0x03f0
#define TERN_BOOT_MARKER_VALUE 123

#endif
