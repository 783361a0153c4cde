/* What the bzImage, PVH and Multiboot loaders share: error reporting, and
 * placing the command line and the initrd in guest memory. Internal to boot/.
 */
#ifndef TERN_ARCH_X86_BOOT_BOOT_IMAGE_H
#define TERN_ARCH_X86_BOOT_BOOT_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "arch/x86/boot/kernel_loader.h"

/* Formats err->message and returns -errnum, so callers can write
 * `return load_fail(err, EINVAL, "...")`. */
int load_fail(struct load_error *err, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Copies the command line to LAYOUT_CMDLINE_GPA; max_length excludes the
 * NUL. Returns its guest address in *gpa. */
int boot_write_cmdline(struct guest_memory *mem, const char *cmdline,
		       uint64_t max_length, uint64_t *gpa,
		       struct load_error *err);

/* Copies the initrd page-aligned as high as possible within
 * [lowest_gpa, highest_end) and within low RAM, where a kernel finds it
 * without relocating it. Returns its guest address in *gpa. */
int boot_place_initrd(struct guest_memory *mem, const uint8_t *initrd,
		      uint64_t size, uint64_t lowest_gpa, uint64_t highest_end,
		      uint64_t *gpa, struct load_error *err);

int bzimage_load(struct guest_memory *mem,
		 const struct kernel_load_request *req,
		 struct boot_entry *entry, struct load_error *err);
int elf_pvh_load(struct guest_memory *mem,
		 const struct kernel_load_request *req,
		 struct boot_entry *entry, struct load_error *err);

/* A Multiboot v1 header found in an image's first 8 KiB. */
struct multiboot_header {
	size_t offset; /* in the file, 4-byte aligned */
	size_t length; /* bytes of it inside the file and the 8 KiB: 12-32 */
	uint32_t flags;
	/* The a.out kludge's fields (flags bit 16); 0 beyond length. */
	uint32_t header_addr;
	uint32_t load_addr;
	uint32_t load_end_addr;
	uint32_t bss_end_addr;
	uint32_t entry_addr;
};

enum multiboot_probe {
	MULTIBOOT_NONE,
	MULTIBOOT_FOUND,
	/* The magic is there, but no copy with a valid checksum: hdr->offset
	 * says where the first one is. */
	MULTIBOOT_BAD_CHECKSUM,
};

enum multiboot_probe multiboot_find_header(const uint8_t *image, size_t size,
					   struct multiboot_header *hdr);

int multiboot_load(struct guest_memory *mem,
		   const struct kernel_load_request *req,
		   const struct multiboot_header *hdr, struct boot_entry *entry,
		   struct load_error *err);

#endif
