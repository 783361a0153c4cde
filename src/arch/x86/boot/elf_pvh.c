/* Uncompressed vmlinux ELF entered through the Xen PVH boot ABI that Linux
 * implements (arch/x86/platform/pvh): PT_LOAD segments go at their physical
 * addresses, the entry point comes from the XEN_ELFNOTE_PHYS32_ENTRY note,
 * and the vCPU starts in 32-bit protected mode with ebx pointing at an
 * hvm_start_info that carries the command line, the initrd as module 0 and
 * the e820 map. Every offset and size in the file is checked before use. */
#include <elf.h>
#include <errno.h>
#include <string.h>

#include "arch/x86/boot/boot_image.h"
#include "arch/x86/e820.h"
#include "arch/x86/layout.h"

#define XEN_ELFNOTE_PHYS32_ENTRY 18
#define HVM_START_MAGIC 0x336ec578
#define HVM_START_VERSION 1 /* version 1 adds the memory map */
#define PVH_CMDLINE_MAX 2047 /* Linux's COMMAND_LINE_SIZE on x86, less NUL */
#define PAGE_SIZE 4096ULL

struct hvm_start_info {
	uint32_t magic;
	uint32_t version;
	uint32_t flags;
	uint32_t nr_modules;
	uint64_t modlist_paddr;
	uint64_t cmdline_paddr;
	uint64_t rsdp_paddr;
	uint64_t memmap_paddr;
	uint32_t memmap_entries;
	uint32_t reserved;
};

struct hvm_modlist_entry {
	uint64_t paddr;
	uint64_t size;
	uint64_t cmdline_paddr;
	uint64_t reserved;
};

struct hvm_memmap_table_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
	uint32_t reserved;
};

_Static_assert(sizeof(struct hvm_start_info) == 56,
	       "xen/arch-x86/hvm/start_info.h");
_Static_assert(sizeof(struct hvm_modlist_entry) == 32, "hvm_modlist_entry");
_Static_assert(sizeof(struct hvm_memmap_table_entry) == 24, "memmap entry");

#define PVH_MODLIST_GPA (LAYOUT_PVH_START_INFO_GPA + 0x40)
#define PVH_MEMMAP_GPA (LAYOUT_PVH_START_INFO_GPA + 0x80)
_Static_assert(PVH_MEMMAP_GPA +
			       E820_MAX_ENTRIES *
				       sizeof(struct hvm_memmap_table_entry) <=
		       LAYOUT_ZERO_PAGE_GPA,
	       "PVH structures overlap the zero page");

/* [offset, offset+len) lies inside a file of file_size bytes. */
static int in_file(uint64_t offset, uint64_t len, uint64_t file_size)
{
	return offset <= file_size && len <= file_size - offset;
}

static int check_header(const struct kernel_load_request *req, Elf64_Ehdr *ehdr,
			struct load_error *err)
{
	if (req->kernel_size < sizeof(*ehdr))
		return load_fail(err, EINVAL,
				 "file is truncated: %zu bytes end inside the "
				 "ELF header",
				 req->kernel_size);
	memcpy(ehdr, req->kernel, sizeof(*ehdr));
	if (ehdr->e_ident[EI_CLASS] != ELFCLASS64 ||
	    ehdr->e_ident[EI_DATA] != ELFDATA2LSB ||
	    ehdr->e_machine != EM_X86_64)
		return load_fail(
			err, ENOEXEC,
			"ELF file is not a 64-bit x86 (x86-64) kernel");
	if (ehdr->e_type != ET_EXEC)
		return load_fail(err, ENOEXEC,
				 "ELF file is not an executable (e_type %u)",
				 ehdr->e_type);
	if (ehdr->e_phentsize != sizeof(Elf64_Phdr) || ehdr->e_phnum == 0 ||
	    !in_file(ehdr->e_phoff,
		     (uint64_t)ehdr->e_phnum * sizeof(Elf64_Phdr),
		     req->kernel_size))
		return load_fail(err, EINVAL,
				 "corrupt or truncated ELF program header "
				 "table (%u entries at offset %#llx)",
				 ehdr->e_phnum,
				 (unsigned long long)ehdr->e_phoff);
	return 0;
}

static void read_phdr(const struct kernel_load_request *req,
		      const Elf64_Ehdr *ehdr, int index, Elf64_Phdr *phdr)
{
	memcpy(phdr,
	       req->kernel + ehdr->e_phoff + (size_t)index * sizeof(*phdr),
	       sizeof(*phdr));
}

/* Walks the notes of one PT_NOTE segment; returns 1 and sets *entry when
 * it holds the PVH entry note, 0 when not, negative on corrupt notes. */
static int find_pvh_note(const uint8_t *notes, uint64_t size, uint64_t *entry,
			 struct load_error *err)
{
	uint64_t off = 0;

	while (size - off >= sizeof(Elf64_Nhdr)) {
		Elf64_Nhdr nhdr;
		uint64_t name_len, desc_len, desc_off;

		memcpy(&nhdr, notes + off, sizeof(nhdr));
		name_len = ((uint64_t)nhdr.n_namesz + 3) & ~3ULL;
		desc_len = ((uint64_t)nhdr.n_descsz + 3) & ~3ULL;
		desc_off = off + sizeof(nhdr) + name_len;
		if (name_len > size - off - sizeof(nhdr) ||
		    desc_len > size - desc_off)
			return load_fail(err, EINVAL,
					 "corrupt ELF note at segment offset "
					 "%#llx",
					 (unsigned long long)off);
		if (nhdr.n_type == XEN_ELFNOTE_PHYS32_ENTRY &&
		    nhdr.n_namesz == 4 &&
		    memcmp(notes + off + sizeof(nhdr), "Xen", 4) == 0) {
			if (nhdr.n_descsz == 4) {
				uint32_t value;

				memcpy(&value, notes + desc_off, 4);
				*entry = value;
			} else if (nhdr.n_descsz == 8) {
				memcpy(entry, notes + desc_off, 8);
			} else {
				return load_fail(err, EINVAL,
						 "corrupt PVH entry note "
						 "(%u-byte address)",
						 nhdr.n_descsz);
			}
			return 1;
		}
		off = desc_off + desc_len;
	}
	return 0;
}

static int load_segments(struct guest_memory *mem,
			 const struct kernel_load_request *req,
			 const Elf64_Ehdr *ehdr, uint64_t *kernel_end,
			 uint64_t *pvh_entry, struct load_error *err)
{
	int loaded = 0, found = 0;

	*kernel_end = 0;
	for (int i = 0; i < ehdr->e_phnum; i++) {
		Elf64_Phdr ph;
		uint8_t *dst;

		read_phdr(req, ehdr, i, &ph);
		if (ph.p_type != PT_LOAD && ph.p_type != PT_NOTE)
			continue;
		if (!in_file(ph.p_offset, ph.p_filesz, req->kernel_size))
			return load_fail(err, EINVAL,
					 "file is truncated or corrupt: "
					 "segment %d lies beyond its end",
					 i);
		if (ph.p_type == PT_NOTE) {
			if (!found) {
				int ret = find_pvh_note(
					req->kernel + ph.p_offset, ph.p_filesz,
					pvh_entry, err);
				if (ret < 0)
					return ret;
				found = ret;
			}
			continue;
		}
		if (ph.p_filesz > ph.p_memsz)
			return load_fail(err, EINVAL,
					 "corrupt ELF segment %d: file size "
					 "exceeds memory size",
					 i);
		if (ph.p_memsz == 0)
			continue;
		/* Below 1 MiB live tern's boot structures. */
		dst = ph.p_paddr >= LAYOUT_HIGH_MEMORY_GPA
			? guest_memory_ptr(mem, ph.p_paddr, ph.p_memsz)
			: NULL;
		if (!dst)
			return load_fail(
				err, E2BIG,
				"ELF segment %d (%#llx, %llu KiB) is "
				"outside the guest's RAM above 1 MiB; "
				"give the guest more --memory",
				i, (unsigned long long)ph.p_paddr,
				(unsigned long long)(ph.p_memsz >> 10));
		memcpy(dst, req->kernel + ph.p_offset, ph.p_filesz);
		memset(dst + ph.p_filesz, 0, ph.p_memsz - ph.p_filesz);
		if (ph.p_paddr + ph.p_memsz > *kernel_end)
			*kernel_end = ph.p_paddr + ph.p_memsz;
		loaded++;
	}
	if (!loaded)
		return load_fail(err, ENOEXEC,
				 "ELF file has no loadable segment");
	if (!found)
		return load_fail(err, ENOEXEC,
				 "ELF kernel has no PVH entry note "
				 "(XEN_ELFNOTE_PHYS32_ENTRY): build it with "
				 "CONFIG_PVH=y or boot its bzImage");
	if (*pvh_entry < LAYOUT_HIGH_MEMORY_GPA || *pvh_entry >= *kernel_end)
		return load_fail(err, EINVAL,
				 "PVH entry point %#llx is outside the loaded "
				 "kernel",
				 (unsigned long long)*pvh_entry);
	return 0;
}

static int write_start_info(struct guest_memory *mem, uint64_t cmdline_gpa,
			    uint64_t initrd_gpa, uint64_t initrd_size,
			    uint64_t rsdp_gpa, struct load_error *err)
{
	struct hvm_start_info info = {
		.magic = HVM_START_MAGIC,
		.version = HVM_START_VERSION,
		.cmdline_paddr = cmdline_gpa,
		.memmap_paddr = PVH_MEMMAP_GPA,
		.rsdp_paddr = rsdp_gpa,
	};
	struct hvm_memmap_table_entry memmap[E820_MAX_ENTRIES] = {{0}};
	struct e820_map map;

	e820_build(mem, &map);
	for (int i = 0; i < map.count; i++) {
		memmap[i].addr = map.entries[i].addr;
		memmap[i].size = map.entries[i].size;
		memmap[i].type = map.entries[i].type;
	}
	info.memmap_entries = (uint32_t)map.count;
	if (initrd_size) {
		struct hvm_modlist_entry module = {
			.paddr = initrd_gpa,
			.size = initrd_size,
		};
		info.nr_modules = 1;
		info.modlist_paddr = PVH_MODLIST_GPA;
		if (guest_memory_write(mem, PVH_MODLIST_GPA, &module,
				       sizeof(module)))
			return load_fail(err, EFAULT,
					 "no guest memory for the module list");
	}
	if (guest_memory_write(mem, PVH_MEMMAP_GPA, memmap,
			       (size_t)map.count * sizeof(memmap[0])) ||
	    guest_memory_write(mem, LAYOUT_PVH_START_INFO_GPA, &info,
			       sizeof(info)))
		return load_fail(err, EFAULT,
				 "no guest memory for the PVH start info");
	return 0;
}

int elf_pvh_load(struct guest_memory *mem,
		 const struct kernel_load_request *req,
		 struct boot_entry *entry, struct load_error *err)
{
	Elf64_Ehdr ehdr;
	uint64_t kernel_end, pvh_entry = 0, cmdline_gpa, initrd_gpa = 0;
	int ret;

	ret = check_header(req, &ehdr, err);
	if (!ret)
		ret = load_segments(mem, req, &ehdr, &kernel_end, &pvh_entry,
				    err);
	if (!ret)
		ret = boot_write_cmdline(mem, req->cmdline, PVH_CMDLINE_MAX,
					 &cmdline_gpa, err);
	if (!ret && req->initrd)
		ret = boot_place_initrd(
			mem, req->initrd, req->initrd_size,
			(kernel_end + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1),
			LAYOUT_MMIO_HOLE_START, &initrd_gpa, err);
	if (!ret)
		ret = write_start_info(mem, cmdline_gpa, initrd_gpa,
				       req->initrd ? req->initrd_size : 0,
				       req->rsdp_gpa, err);
	if (ret)
		return ret;

	entry->format = KERNEL_FORMAT_ELF_PVH;
	entry->cpu_mode = BOOT_CPU_MODE_PROTECTED32;
	entry->entry_gpa = pvh_entry;
	entry->rbx = LAYOUT_PVH_START_INFO_GPA;
	return 0;
}
