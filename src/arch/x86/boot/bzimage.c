/* Linux x86 boot protocol (Documentation/arch/x86/boot.rst), 64-bit entry:
 * the protected-mode part of the bzImage goes at its preferred address, the
 * setup header is copied into a zero page (struct boot_params) that tern
 * completes with the command line, the initrd and the e820 map, and the vCPU
 * starts at load address + 0x200 in long mode with rsi = zero page. Header
 * fields are read by offset from the untrusted file, never through a struct
 * overlaid on it. */
#include <errno.h>
#include <string.h>

#include "arch/x86/boot/boot_image.h"
#include "arch/x86/e820.h"
#include "arch/x86/layout.h"
#include "util/le_bytes.h"

/* Offsets in the file and in struct boot_params (the setup header sits at
 * the same offset in both). */
#define BP_ACPI_RSDP_ADDR 0x070
#define BP_EXT_RAMDISK_IMAGE 0x0c0
#define BP_EXT_RAMDISK_SIZE 0x0c4
#define BP_EXT_CMD_LINE_PTR 0x0c8
#define BP_E820_ENTRIES 0x1e8
#define HDR_START 0x1f1
#define HDR_SETUP_SECTS 0x1f1
#define HDR_JUMP 0x200
#define HDR_MAGIC 0x202
#define HDR_VERSION 0x206
#define HDR_TYPE_OF_LOADER 0x210
#define HDR_LOADFLAGS 0x211
#define HDR_CODE32_START 0x214
#define HDR_RAMDISK_IMAGE 0x218
#define HDR_RAMDISK_SIZE 0x21c
#define HDR_HEAP_END_PTR 0x224
#define HDR_CMD_LINE_PTR 0x228
#define HDR_INITRD_ADDR_MAX 0x22c
#define HDR_KERNEL_ALIGNMENT 0x230
#define HDR_RELOCATABLE 0x234
#define HDR_XLOADFLAGS 0x236
#define HDR_CMDLINE_SIZE 0x238
#define HDR_PREF_ADDRESS 0x258
#define HDR_INIT_SIZE 0x260
#define HDR_END_2_12 0x264 /* end of init_size, the last field we read */
#define HDR_END_MAX 0x290 /* boot_params has padding up to here */
#define BP_E820_TABLE 0x2d0
#define BP_E820_TABLE_MAX 128
#define BP_SIZE 4096

#define LOADFLAG_LOADED_HIGH 0x01
#define LOADFLAG_CAN_USE_HEAP 0x80
#define XLF_KERNEL_64 0x01

#define SECTOR_SIZE 512
#define DEFAULT_SETUP_SECTS 4
#define ENTRY_64_OFFSET 0x200
#define MIN_BOOT_PROTOCOL 0x020c /* 2.12: xloadflags, the 64-bit entry flag */
#define LOADER_TYPE_UNDEFINED 0xff
#define HEAP_END 0xfe00
#define PAGE_SIZE 4096ULL
#define LEGACY_CMDLINE_MAX 255
#define LEGACY_INITRD_END_MAX 0x38000000ULL

/* What the header says, after validation. */
struct bzimage {
	uint64_t setup_size; /* real-mode part, skipped */
	uint64_t payload_size; /* protected-mode part, loaded */
	uint64_t load_gpa;
	uint64_t footprint; /* bytes from load_gpa the kernel may use */
	uint64_t header_end;
	uint64_t cmdline_max;
	uint64_t initrd_end_max;
};

static int parse_header(const struct kernel_load_request *req,
			const struct guest_memory *mem, struct bzimage *img,
			struct load_error *err)
{
	const uint8_t *k = req->kernel;
	size_t size = req->kernel_size;
	unsigned int setup_sects, version;
	uint64_t alignment, pref, init_size;

	if (size < HDR_VERSION + 2 || memcmp(k + HDR_MAGIC, "HdrS", 4) != 0)
		return load_fail(err, ENOEXEC,
				 "not a Linux kernel: no bzImage setup header "
				 "(\"HdrS\" at 0x202) and no ELF header");
	version = le_get16(k + HDR_VERSION);
	if (version < MIN_BOOT_PROTOCOL)
		return load_fail(err, ENOEXEC,
				 "boot protocol %u.%02u is too old: tern needs "
				 "2.12 or newer for the 64-bit entry point",
				 version >> 8, version & 0xff);
	if (size < HDR_END_2_12 + 4)
		return load_fail(err, EINVAL,
				 "file is truncated: %zu bytes end inside the "
				 "setup header",
				 size);
	if (!(k[HDR_LOADFLAGS] & LOADFLAG_LOADED_HIGH))
		return load_fail(err, ENOEXEC,
				 "zImage kernels (loaded below 1 MiB) are not "
				 "supported; use a bzImage");
	if (!(le_get16(k + HDR_XLOADFLAGS) & XLF_KERNEL_64))
		return load_fail(err, ENOEXEC,
				 "kernel has no 64-bit entry point "
				 "(XLF_KERNEL_64 not set): not an x86-64 "
				 "kernel");

	setup_sects =
		k[HDR_SETUP_SECTS] ? k[HDR_SETUP_SECTS] : DEFAULT_SETUP_SECTS;
	img->setup_size = (uint64_t)(setup_sects + 1) * SECTOR_SIZE;
	if (size <= img->setup_size)
		return load_fail(err, EINVAL,
				 "file is truncated: %zu bytes, but the setup "
				 "code alone is %llu and the kernel follows it",
				 size, (unsigned long long)img->setup_size);
	img->payload_size = size - img->setup_size;

	img->header_end = HDR_JUMP + 2 + (uint64_t)k[HDR_JUMP + 1];
	if (img->header_end > HDR_END_MAX)
		img->header_end = HDR_END_MAX;
	if (img->header_end < HDR_END_2_12 + 4)
		img->header_end = HDR_END_2_12 + 4;

	init_size = le_get32(k + HDR_INIT_SIZE);
	img->footprint =
		init_size > img->payload_size ? init_size : img->payload_size;

	/* Load where the kernel was linked to run, so it need not relocate
	 * itself; a relocatable kernel that does not fit there goes at the
	 * first aligned address above 1 MiB. */
	pref = le_get64(k + HDR_PREF_ADDRESS);
	if (pref == 0)
		pref = LAYOUT_KERNEL_DEFAULT_GPA;
	img->load_gpa = pref;
	if (k[HDR_RELOCATABLE] &&
	    (pref < LAYOUT_HIGH_MEMORY_GPA ||
	     pref + img->footprint > guest_memory_low_end(mem))) {
		alignment = le_get32(k + HDR_KERNEL_ALIGNMENT);
		if (alignment < PAGE_SIZE || (alignment & (alignment - 1)) ||
		    alignment > GiB(1))
			return load_fail(
				err, EINVAL,
				"corrupt setup header: kernel_alignment "
				"%#llx is not a power of two between "
				"4 KiB and 1 GiB",
				(unsigned long long)alignment);
		img->load_gpa = (LAYOUT_HIGH_MEMORY_GPA + alignment - 1) &
			~(alignment - 1);
	}
	if (img->load_gpa < LAYOUT_HIGH_MEMORY_GPA ||
	    img->load_gpa > guest_memory_low_end(mem) ||
	    img->footprint > guest_memory_low_end(mem) - img->load_gpa)
		return load_fail(err, E2BIG,
				 "kernel needs %llu MiB from %#llx, more than "
				 "the guest's low memory (ends at %#llx); give "
				 "the guest more --memory",
				 (unsigned long long)(img->footprint >> 20),
				 (unsigned long long)img->load_gpa,
				 (unsigned long long)guest_memory_low_end(mem));

	/* Zero in either field means the kernel left it out; the protocol
	 * then prescribes the limits of older versions. */
	img->cmdline_max = le_get32(k + HDR_CMDLINE_SIZE);
	if (img->cmdline_max == 0)
		img->cmdline_max = LEGACY_CMDLINE_MAX;
	img->initrd_end_max = (uint64_t)le_get32(k + HDR_INITRD_ADDR_MAX) + 1;
	if (img->initrd_end_max == 1)
		img->initrd_end_max = LEGACY_INITRD_END_MAX;
	return 0;
}

static void write_e820(struct guest_memory *mem, uint8_t *zero_page)
{
	struct e820_map map;

	e820_build(mem, &map);
	zero_page[BP_E820_ENTRIES] = (uint8_t)map.count;
	for (int i = 0; i < map.count && i < BP_E820_TABLE_MAX; i++) {
		size_t off = BP_E820_TABLE + (size_t)i * 20;

		le_put64(zero_page + off, map.entries[i].addr);
		le_put64(zero_page + off + 8, map.entries[i].size);
		le_put32(zero_page + off + 16, map.entries[i].type);
	}
}

int bzimage_load(struct guest_memory *mem,
		 const struct kernel_load_request *req,
		 struct boot_entry *entry, struct load_error *err)
{
	struct bzimage img = {0};
	uint8_t *zero_page;
	uint64_t cmdline_gpa, initrd_gpa = 0;
	size_t header_bytes;
	int ret;

	ret = parse_header(req, mem, &img, err);
	if (ret)
		return ret;

	if (guest_memory_write(mem, img.load_gpa, req->kernel + img.setup_size,
			       img.payload_size))
		return load_fail(err, EFAULT, "no guest memory at %#llx",
				 (unsigned long long)img.load_gpa);

	ret = boot_write_cmdline(mem, req->cmdline, img.cmdline_max,
				 &cmdline_gpa, err);
	if (ret)
		return ret;

	if (req->initrd) {
		uint64_t kernel_end =
			(img.load_gpa + img.footprint + PAGE_SIZE - 1) &
			~(PAGE_SIZE - 1);

		ret = boot_place_initrd(mem, req->initrd, req->initrd_size,
					kernel_end, img.initrd_end_max,
					&initrd_gpa, err);
		if (ret)
			return ret;
	}

	zero_page = guest_memory_ptr(mem, LAYOUT_ZERO_PAGE_GPA, BP_SIZE);
	if (!zero_page)
		return load_fail(err, EFAULT,
				 "no guest memory for the zero page");
	memset(zero_page, 0, BP_SIZE);
	header_bytes = img.header_end - HDR_START;
	if (header_bytes > req->kernel_size - HDR_START)
		header_bytes = req->kernel_size - HDR_START;
	memcpy(zero_page + HDR_START, req->kernel + HDR_START, header_bytes);

	zero_page[HDR_TYPE_OF_LOADER] = LOADER_TYPE_UNDEFINED;
	zero_page[HDR_LOADFLAGS] |= LOADFLAG_CAN_USE_HEAP;
	le_put16(zero_page + HDR_HEAP_END_PTR, HEAP_END);
	le_put32(zero_page + HDR_CODE32_START, (uint32_t)img.load_gpa);
	le_put32(zero_page + HDR_CMD_LINE_PTR, (uint32_t)cmdline_gpa);
	le_put32(zero_page + BP_EXT_CMD_LINE_PTR,
		 (uint32_t)(cmdline_gpa >> 32));
	if (req->initrd) {
		le_put32(zero_page + HDR_RAMDISK_IMAGE, (uint32_t)initrd_gpa);
		le_put32(zero_page + HDR_RAMDISK_SIZE,
			 (uint32_t)req->initrd_size);
		le_put32(zero_page + BP_EXT_RAMDISK_IMAGE,
			 (uint32_t)(initrd_gpa >> 32));
		le_put32(zero_page + BP_EXT_RAMDISK_SIZE,
			 (uint32_t)((uint64_t)req->initrd_size >> 32));
	}
	/* Read by kernels of boot protocol 2.14 and later; older ones leave
	 * the field alone and scan the BIOS area, where the RSDP also is. */
	le_put64(zero_page + BP_ACPI_RSDP_ADDR, req->rsdp_gpa);
	write_e820(mem, zero_page);

	entry->format = KERNEL_FORMAT_BZIMAGE;
	entry->cpu_mode = BOOT_CPU_MODE_LONG64;
	entry->entry_gpa = img.load_gpa + ENTRY_64_OFFSET;
	entry->rsi = LAYOUT_ZERO_PAGE_GPA;
	return 0;
}
