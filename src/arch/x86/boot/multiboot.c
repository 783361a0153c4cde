/* Multiboot v1 images (The Multiboot Specification, version 0.6.96), the
 * format of kvm-unit-tests' x86 tests, of GRUB-era hobby kernels and of Xen:
 * a header in the first 8 KiB, the image loaded either by its ELF32 program
 * headers or by the header's own addresses (the "a.out kludge", flags bit
 * 16), and the vCPU entered in 32-bit protected mode with paging off, eax =
 * 0x2BADB002 and ebx = the Multiboot information structure (section 3.2).
 *
 * Every header field, ELF field and size is hostile: each is checked against
 * the file and against guest RAM before use, so a crafted image gets one
 * clear error and never a write outside the guest. Images load into RAM below
 * the 32-bit MMIO hole, also below 1 MiB (kvm-unit-tests' realmode test
 * links at 0x8000), but never over the pages tern boots them with. */
#include <elf.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "arch/x86/boot/boot_image.h"
#include "arch/x86/e820.h"
#include "arch/x86/layout.h"

#define MB_HEADER_MAGIC 0x1BADB002u
#define MB_BOOTLOADER_MAGIC 0x2BADB002u
#define MB_SEARCH_LIMIT 8192 /* 3.1.1: within the first 8192 bytes */
#define MB_HEADER_MIN 12 /* magic, flags, checksum */
#define MB_HEADER_AOUT 32 /* + the five address fields */

/* Header flags (3.1.2). Bits 0-15 are requirements: a boot loader that does
 * not know one must refuse the image. tern aligns modules on pages (bit 0)
 * and always gives memory information (bit 1); for a video mode (bit 2) it
 * has no display, so, like QEMU, it boots without and leaves the info
 * structure's video fields unset, which the kernel sees in its flags. */
#define MB_FLAG_PAGE_ALIGN (1u << 0)
#define MB_FLAG_MEMORY_INFO (1u << 1)
#define MB_FLAG_VIDEO_MODE (1u << 2)
#define MB_FLAG_AOUT_KLUDGE (1u << 16)
#define MB_FLAGS_REQUIRED_MASK 0xffffu
#define MB_FLAGS_REQUIRED_KNOWN                                                \
	(MB_FLAG_PAGE_ALIGN | MB_FLAG_MEMORY_INFO | MB_FLAG_VIDEO_MODE)

/* Information structure flags (3.3): which fields are valid. */
#define MBI_MEMORY (1u << 0)
#define MBI_CMDLINE (1u << 2)
#define MBI_MODULES (1u << 3)
#define MBI_MMAP (1u << 6)
#define MBI_BOOT_LOADER_NAME (1u << 9)

#define MB_PAGE_SIZE 4096ULL
#define MB_MAX_SEGMENTS 64 /* loadable ELF segments; real images have 1-4 */
#define MB_MAX_TOTAL_MODULES (BOOT_MAX_MODULES + 1) /* + the initrd */

struct multiboot_info {
	uint32_t flags;
	uint32_t mem_lower; /* KiB from 0 */
	uint32_t mem_upper; /* KiB from 1 MiB */
	uint32_t boot_device;
	uint32_t cmdline;
	uint32_t mods_count;
	uint32_t mods_addr;
	uint32_t syms[4];
	uint32_t mmap_length;
	uint32_t mmap_addr;
	uint32_t drives_length;
	uint32_t drives_addr;
	uint32_t config_table;
	uint32_t boot_loader_name;
	uint32_t apm_table;
	uint32_t vbe[4];
	uint32_t framebuffer[7];
};

struct multiboot_module {
	uint32_t mod_start;
	uint32_t mod_end; /* exclusive, as GRUB and QEMU give it */
	uint32_t string;
	uint32_t reserved;
};

struct multiboot_mmap_entry {
	uint32_t size; /* of the rest of the entry: 20 */
	uint64_t addr;
	uint64_t len;
	uint32_t type;
} __attribute__((packed));

_Static_assert(offsetof(struct multiboot_info, mmap_length) == 44, "3.3");
_Static_assert(offsetof(struct multiboot_info, boot_loader_name) == 64, "3.3");
_Static_assert(sizeof(struct multiboot_info) == 116, "3.3");
_Static_assert(sizeof(struct multiboot_mmap_entry) == 24, "3.3 mmap");

/* Where the information structure's parts go, inside one page below the
 * EBDA; strings (the command line, module strings, the boot loader name)
 * share the command line's 64 KiB area. */
#define MB_INFO_GPA LAYOUT_MULTIBOOT_INFO_GPA
#define MB_MMAP_GPA (MB_INFO_GPA + 0x80)
#define MB_MODULES_GPA (MB_INFO_GPA + 0x200)
_Static_assert(sizeof(struct multiboot_info) <= 0x80, "info overlaps mmap");
_Static_assert(0x80 + E820_MAX_ENTRIES * sizeof(struct multiboot_mmap_entry) <=
		       0x200,
	       "mmap overlaps the module list");
_Static_assert(MB_MODULES_GPA +
			       MB_MAX_TOTAL_MODULES *
				       sizeof(struct multiboot_module) <=
		       LAYOUT_ZERO_PAGE_GPA,
	       "module list leaves its page");

struct loaded_range {
	uint64_t start, end; /* guest physical, [start, end) */
	uint64_t vaddr; /* ELF: where the image thinks it runs */
};

struct loaded_image {
	struct loaded_range ranges[MB_MAX_SEGMENTS];
	int count;
	uint64_t end; /* highest end of any range */
	uint64_t entry;
};

static int in_file(uint64_t offset, uint64_t len, uint64_t file_size)
{
	return offset <= file_size && len <= file_size - offset;
}

enum multiboot_probe multiboot_find_header(const uint8_t *image, size_t size,
					   struct multiboot_header *hdr)
{
	enum multiboot_probe result = MULTIBOOT_NONE;
	size_t limit = size < MB_SEARCH_LIMIT ? size : MB_SEARCH_LIMIT;

	for (size_t off = 0; off + MB_HEADER_MIN <= limit; off += 4) {
		uint32_t words[MB_HEADER_AOUT / 4] = {0};
		size_t avail = limit - off;

		if (avail > sizeof(words))
			avail = sizeof(words);
		memcpy(words, image + off, avail);
		if (words[0] != MB_HEADER_MAGIC)
			continue;
		if ((uint32_t)(words[0] + words[1] + words[2]) != 0) {
			/* Keep looking: the magic can occur by chance. */
			if (result == MULTIBOOT_NONE) {
				result = MULTIBOOT_BAD_CHECKSUM;
				hdr->offset = off;
			}
			continue;
		}
		*hdr = (struct multiboot_header){
			.offset = off,
			.length = avail,
			.flags = words[1],
			.header_addr = words[3],
			.load_addr = words[4],
			.load_end_addr = words[5],
			.bss_end_addr = words[6],
			.entry_addr = words[7],
		};
		return MULTIBOOT_FOUND;
	}
	return result;
}

/* What tern keeps below 1 MiB while the image starts: an image loaded over
 * one of these would be overwritten by it, or overwrite it. */
static const struct {
	uint64_t start, end;
	const char *what;
} tern_low_ranges[] = {
	{0, 0x1000, "the real-mode IVT and tern's GDT"},
	{MB_INFO_GPA, MB_INFO_GPA + 0x1000, "the Multiboot information"},
	{LAYOUT_CMDLINE_GPA, LAYOUT_CMDLINE_GPA + LAYOUT_CMDLINE_MAX,
	 "the command line and module strings"},
	{LAYOUT_BIOS_RESERVED_GPA, LAYOUT_HIGH_MEMORY_GPA,
	 "the reserved BIOS area and ACPI tables"},
};

/* The host pointer for [gpa, gpa+len) in *dst, if that is guest RAM below
 * the MMIO hole clear of tern's boot pages. gpa, len < 2^32: no wrap. */
static int image_dst(struct guest_memory *mem, const char *what, uint64_t gpa,
		     uint64_t len, uint8_t **dst, struct load_error *err)
{
	uint64_t low_end = guest_memory_low_end(mem), end = gpa + len;

	for (size_t i = 0;
	     i < sizeof(tern_low_ranges) / sizeof(tern_low_ranges[0]); i++)
		if (gpa < tern_low_ranges[i].end &&
		    tern_low_ranges[i].start < end)
			return load_fail(
				err, EINVAL,
				"%s (%#llx-%#llx) overlaps %s (%#llx-%#llx), "
				"which tern needs to boot it; link the image "
				"elsewhere",
				what, (unsigned long long)gpa,
				(unsigned long long)end,
				tern_low_ranges[i].what,
				(unsigned long long)tern_low_ranges[i].start,
				(unsigned long long)tern_low_ranges[i].end);
	*dst = end <= low_end ? guest_memory_ptr(mem, gpa, len) : NULL;
	if (!*dst)
		return load_fail(err, E2BIG,
				 "%s (%#llx-%#llx) is outside the guest's RAM "
				 "(up to %#llx); give the guest more --memory "
				 "or link the image lower",
				 what, (unsigned long long)gpa,
				 (unsigned long long)end,
				 (unsigned long long)low_end);
	return 0;
}

static int add_range(struct loaded_image *img, struct guest_memory *mem,
		     const char *what, uint64_t start, uint64_t len,
		     uint64_t vaddr, uint8_t **dst, struct load_error *err)
{
	uint64_t end = start + len;
	int ret = image_dst(mem, what, start, len, dst, err);

	if (ret)
		return ret;
	for (int i = 0; i < img->count; i++)
		if (start < img->ranges[i].end && img->ranges[i].start < end)
			return load_fail(
				err, EINVAL,
				"%s (%#llx-%#llx) overlaps another "
				"segment (%#llx-%#llx)",
				what, (unsigned long long)start,
				(unsigned long long)end,
				(unsigned long long)img->ranges[i].start,
				(unsigned long long)img->ranges[i].end);
	if (img->count == MB_MAX_SEGMENTS)
		return load_fail(err, EINVAL, "more than %d loadable segments",
				 MB_MAX_SEGMENTS);
	img->ranges[img->count++] = (struct loaded_range){
		.start = start, .end = end, .vaddr = vaddr};
	if (end > img->end)
		img->end = end;
	return 0;
}

/* The a.out kludge (3.1.3): the header's addresses say which bytes of the
 * file go where; used whenever flags bit 16 is set, ELF or not, as GRUB and
 * QEMU do. */
static int load_aout_kludge(struct guest_memory *mem,
			    const struct kernel_load_request *req,
			    const struct multiboot_header *hdr,
			    struct loaded_image *img, struct load_error *err)
{
	uint64_t file_start, load_size, mem_end;
	uint8_t *dst;
	int ret;

	if (hdr->length < MB_HEADER_AOUT)
		return load_fail(err, EINVAL,
				 "Multiboot header at offset %#zx is cut off: "
				 "the a.out kludge (flags bit 16) needs %d "
				 "bytes within the first 8 KiB of the file",
				 hdr->offset, MB_HEADER_AOUT);
	if (hdr->load_addr > hdr->header_addr ||
	    hdr->header_addr - hdr->load_addr > hdr->offset)
		return load_fail(err, EINVAL,
				 "Multiboot load_addr %#x and header_addr %#x "
				 "put the load before the start of the file",
				 hdr->load_addr, hdr->header_addr);
	file_start = hdr->offset - (hdr->header_addr - hdr->load_addr);
	load_size = req->kernel_size - file_start;
	if (hdr->load_end_addr) {
		if (hdr->load_end_addr <= hdr->load_addr)
			return load_fail(err, EINVAL,
					 "Multiboot load_end_addr %#x is not "
					 "above load_addr %#x",
					 hdr->load_end_addr, hdr->load_addr);
		load_size = (uint64_t)hdr->load_end_addr - hdr->load_addr;
		if (!in_file(file_start, load_size, req->kernel_size))
			return load_fail(err, EINVAL,
					 "file is truncated: Multiboot "
					 "load_end_addr asks for %llu bytes "
					 "from offset %#llx, the file has %zu",
					 (unsigned long long)load_size,
					 (unsigned long long)file_start,
					 req->kernel_size);
	}
	mem_end = hdr->load_addr + load_size;
	if (hdr->bss_end_addr) {
		if (hdr->bss_end_addr < mem_end)
			return load_fail(err, EINVAL,
					 "Multiboot bss_end_addr %#x is below "
					 "the end of the loaded image %#llx",
					 hdr->bss_end_addr,
					 (unsigned long long)mem_end);
		mem_end = hdr->bss_end_addr;
	}
	ret = add_range(img, mem, "the Multiboot image", hdr->load_addr,
			mem_end - hdr->load_addr, hdr->load_addr, &dst, err);
	if (ret)
		return ret;
	memcpy(dst, req->kernel + file_start, load_size);
	memset(dst + load_size, 0, mem_end - hdr->load_addr - load_size);
	if (hdr->entry_addr < hdr->load_addr || hdr->entry_addr >= mem_end)
		return load_fail(err, EINVAL,
				 "Multiboot entry_addr %#x is outside the "
				 "loaded image (%#x-%#llx)",
				 hdr->entry_addr, hdr->load_addr,
				 (unsigned long long)mem_end);
	img->entry = hdr->entry_addr;
	return 0;
}

static int check_elf32(const struct kernel_load_request *req, Elf32_Ehdr *ehdr,
		       struct load_error *err)
{
	if (req->kernel_size < sizeof(*ehdr) ||
	    memcmp(req->kernel, ELFMAG, SELFMAG) != 0)
		return load_fail(err, ENOEXEC,
				 "Multiboot image is neither a 32-bit ELF file "
				 "nor uses the a.out kludge (header flags bit "
				 "16)");
	memcpy(ehdr, req->kernel, sizeof(*ehdr));
	if (ehdr->e_ident[EI_CLASS] != ELFCLASS32 ||
	    ehdr->e_ident[EI_DATA] != ELFDATA2LSB || ehdr->e_machine != EM_386)
		return load_fail(err, ENOEXEC,
				 "Multiboot ELF image is not 32-bit x86 "
				 "(i386): a 64-bit one needs the a.out kludge "
				 "(header flags bit 16)");
	if (ehdr->e_type != ET_EXEC)
		return load_fail(err, ENOEXEC,
				 "ELF file is not an executable (e_type %u)",
				 ehdr->e_type);
	if (ehdr->e_phentsize != sizeof(Elf32_Phdr) || ehdr->e_phnum == 0 ||
	    !in_file(ehdr->e_phoff,
		     (uint64_t)ehdr->e_phnum * sizeof(Elf32_Phdr),
		     req->kernel_size))
		return load_fail(err, EINVAL,
				 "corrupt or truncated ELF program header "
				 "table (%u entries at offset %#x)",
				 ehdr->e_phnum, ehdr->e_phoff);
	return 0;
}

/* The ELF entry point is a virtual address; where the image links its
 * virtual addresses elsewhere than its physical ones, the segment holding
 * it says where it really is. */
static int elf_entry_gpa(struct loaded_image *img, uint32_t e_entry,
			 struct load_error *err)
{
	for (int i = 0; i < img->count; i++) {
		const struct loaded_range *r = &img->ranges[i];

		if (e_entry >= r->vaddr &&
		    e_entry - r->vaddr < r->end - r->start) {
			img->entry = r->start + (e_entry - r->vaddr);
			return 0;
		}
	}
	return load_fail(err, EINVAL,
			 "ELF entry point %#x is outside every loaded segment",
			 e_entry);
}

static int load_elf32(struct guest_memory *mem,
		      const struct kernel_load_request *req,
		      struct loaded_image *img, struct load_error *err)
{
	Elf32_Ehdr ehdr;
	int ret = check_elf32(req, &ehdr, err);

	for (int i = 0; !ret && i < ehdr.e_phnum; i++) {
		Elf32_Phdr ph;
		char what[32];
		uint8_t *dst;

		memcpy(&ph, req->kernel + ehdr.e_phoff + (size_t)i * sizeof(ph),
		       sizeof(ph));
		if (ph.p_type != PT_LOAD || ph.p_memsz == 0)
			continue;
		if (!in_file(ph.p_offset, ph.p_filesz, req->kernel_size))
			return load_fail(err, EINVAL,
					 "file is truncated or corrupt: "
					 "segment %d lies beyond its end",
					 i);
		if (ph.p_filesz > ph.p_memsz)
			return load_fail(err, EINVAL,
					 "corrupt ELF segment %d: file size "
					 "exceeds memory size",
					 i);
		snprintf(what, sizeof(what), "ELF segment %d", i);
		ret = add_range(img, mem, what, ph.p_paddr, ph.p_memsz,
				ph.p_vaddr, &dst, err);
		if (ret)
			return ret;
		memcpy(dst, req->kernel + ph.p_offset, ph.p_filesz);
		memset(dst + ph.p_filesz, 0, ph.p_memsz - ph.p_filesz);
	}
	if (ret)
		return ret;
	if (!img->count)
		return load_fail(err, ENOEXEC,
				 "ELF file has no loadable segment");
	return elf_entry_gpa(img, ehdr.e_entry, err);
}

/* Strings go one after another into the command line area. */
struct string_area {
	uint64_t next, end;
};

static int put_string(struct guest_memory *mem, struct string_area *area,
		      const char *first, const char *second, uint32_t *gpa,
		      struct load_error *err)
{
	size_t len1 = strlen(first), len2 = second ? strlen(second) : 0;
	size_t total = len1 + (len2 ? 1 + len2 : 0) + 1;
	uint8_t *dst;

	if (total > area->end - area->next)
		return load_fail(
			err, E2BIG,
			"the command line and module strings are "
			"longer than %llu KiB in all",
			(unsigned long long)(LAYOUT_CMDLINE_MAX >> 10));
	dst = guest_memory_ptr(mem, area->next, total);
	if (!dst)
		return load_fail(err, EFAULT,
				 "no guest memory for the command line");
	memcpy(dst, first, len1);
	if (len2) {
		dst[len1] = ' ';
		memcpy(dst + len1 + 1, second, len2);
	}
	dst[total - 1] = '\0';
	*gpa = (uint32_t)area->next;
	area->next += total;
	return 0;
}

/* Modules follow the image (from 1 MiB on, for an image below it), each
 * page-aligned (flags bit 0 asks for it; it costs nothing to always do it),
 * in the order given: where QEMU puts them, so guests tested there find
 * them where they expect. */
static int place_modules(struct guest_memory *mem,
			 const struct kernel_load_request *req,
			 uint64_t image_end, struct string_area *strings,
			 struct multiboot_module *mods, int *count,
			 struct load_error *err)
{
	struct boot_module all[MB_MAX_TOTAL_MODULES];
	uint64_t gpa = image_end > LAYOUT_HIGH_MEMORY_GPA
		? (image_end + MB_PAGE_SIZE - 1) & ~(MB_PAGE_SIZE - 1)
		: LAYOUT_HIGH_MEMORY_GPA;
	uint64_t low_end = guest_memory_low_end(mem);
	int n = 0;

	if (req->module_count < 0 || req->module_count > BOOT_MAX_MODULES)
		return load_fail(err, E2BIG, "more than %d modules",
				 BOOT_MAX_MODULES);
	if (req->initrd)
		all[n++] = (struct boot_module){
			req->initrd, req->initrd_size,
			req->initrd_string ? req->initrd_string : ""};
	for (int i = 0; i < req->module_count; i++)
		all[n++] = req->modules[i];
	for (int i = 0; i < n; i++) {
		int ret;

		if (all[i].size == 0 || all[i].size > low_end ||
		    gpa > low_end - all[i].size)
			return load_fail(err, E2BIG,
					 "module %d (%s, %zu KiB) does not fit "
					 "in guest memory between %#llx and "
					 "%#llx; give the guest more --memory",
					 i, all[i].string, all[i].size >> 10,
					 (unsigned long long)gpa,
					 (unsigned long long)low_end);
		if (guest_memory_write(mem, gpa, all[i].data, all[i].size))
			return load_fail(err, EFAULT,
					 "no guest memory at %#llx for module "
					 "%d",
					 (unsigned long long)gpa, i);
		mods[i] = (struct multiboot_module){
			.mod_start = (uint32_t)gpa,
			.mod_end = (uint32_t)(gpa + all[i].size),
		};
		ret = put_string(mem, strings, all[i].string, NULL,
				 &mods[i].string, err);
		if (ret)
			return ret;
		gpa = (gpa + all[i].size + MB_PAGE_SIZE - 1) &
			~(MB_PAGE_SIZE - 1);
	}
	*count = n;
	return 0;
}

static int write_info(struct guest_memory *mem,
		      const struct kernel_load_request *req, uint64_t image_end,
		      struct load_error *err)
{
	struct string_area strings = {LAYOUT_CMDLINE_GPA,
				      LAYOUT_CMDLINE_GPA + LAYOUT_CMDLINE_MAX};
	struct multiboot_info info = {
		.flags = MBI_MEMORY | MBI_CMDLINE | MBI_MODULES | MBI_MMAP |
			MBI_BOOT_LOADER_NAME,
		.mem_lower = (uint32_t)(LAYOUT_BIOS_RESERVED_GPA >> 10),
		.mem_upper = (uint32_t)((guest_memory_low_end(mem) -
					 LAYOUT_HIGH_MEMORY_GPA) >>
					10),
		.mods_addr = MB_MODULES_GPA,
		.mmap_addr = MB_MMAP_GPA,
	};
	struct multiboot_module mods[MB_MAX_TOTAL_MODULES];
	struct multiboot_mmap_entry mmap[E820_MAX_ENTRIES];
	struct e820_map map;
	int count = 0, ret;

	/* GRUB and QEMU start the command line with the image's name; some
	 * kernels (kvm-unit-tests: argv[0]) rely on it. */
	ret = put_string(
		mem, &strings, req->kernel_name ? req->kernel_name : "kernel",
		req->cmdline[0] && !req->cmdline_is_linux_default ? req->cmdline
								  : NULL,
		&info.cmdline, err);
	if (!ret)
		ret = put_string(mem, &strings, "tern", NULL,
				 &info.boot_loader_name, err);
	if (!ret)
		ret = place_modules(mem, req, image_end, &strings, mods, &count,
				    err);
	if (ret)
		return ret;
	info.mods_count = (uint32_t)count;

	e820_build(mem, &map);
	for (int i = 0; i < map.count; i++)
		mmap[i] = (struct multiboot_mmap_entry){
			.size = sizeof(mmap[i]) - sizeof(mmap[i].size),
			.addr = map.entries[i].addr,
			.len = map.entries[i].size,
			.type = map.entries[i].type,
		};
	info.mmap_length = (uint32_t)(map.count * sizeof(mmap[0]));
	if ((count &&
	     guest_memory_write(mem, MB_MODULES_GPA, mods,
				(size_t)count * sizeof(mods[0]))) ||
	    guest_memory_write(mem, MB_MMAP_GPA, mmap, info.mmap_length) ||
	    guest_memory_write(mem, MB_INFO_GPA, &info, sizeof(info)))
		return load_fail(err, EFAULT,
				 "no guest memory for the Multiboot "
				 "information");
	return 0;
}

int multiboot_load(struct guest_memory *mem,
		   const struct kernel_load_request *req,
		   const struct multiboot_header *hdr, struct boot_entry *entry,
		   struct load_error *err)
{
	struct loaded_image img = {0};
	uint32_t unknown =
		hdr->flags & MB_FLAGS_REQUIRED_MASK & ~MB_FLAGS_REQUIRED_KNOWN;
	int ret;

	if (unknown)
		return load_fail(err, ENOEXEC,
				 "Multiboot header asks for features tern "
				 "does not know (flags %#x)",
				 unknown);
	if (hdr->flags & MB_FLAG_AOUT_KLUDGE)
		ret = load_aout_kludge(mem, req, hdr, &img, err);
	else
		ret = load_elf32(mem, req, &img, err);
	if (!ret)
		ret = write_info(mem, req, img.end, err);
	if (ret)
		return ret;

	entry->format = KERNEL_FORMAT_MULTIBOOT;
	entry->cpu_mode = BOOT_CPU_MODE_PROTECTED32;
	entry->entry_gpa = img.entry;
	entry->rax = MB_BOOTLOADER_MAGIC;
	entry->rbx = MB_INFO_GPA;
	return 0;
}
