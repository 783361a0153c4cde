/* The Multiboot v1 loader against crafted images: valid ELF32 and a.out
 * kludge images load where they say with the information structure the
 * specification describes, and every hostile field (checksum, flags,
 * addresses, sizes, overlaps, truncation) is refused with a clear error. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <elf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/boot/boot_image.h"
#include "arch/x86/boot/kernel_loader.h"
#include "arch/x86/layout.h"

#define MB_MAGIC 0x1BADB002u
#define LOAD_GPA 0x100000u
#define CODE_OFFSET 0x1000
#define CODE_SIZE 0x1000
#define BSS_SIZE 0x3000
#define IMAGE_SIZE (CODE_OFFSET + CODE_SIZE)
#define HEADER_OFFSET 0x100 /* ELF: inside the headers' page */
#define AOUT_LOAD_GPA 0x200000u

struct fixture {
	struct guest_memory mem;
	uint8_t image[IMAGE_SIZE];
	struct kernel_load_request req;
	struct boot_entry entry;
	struct load_error err;
};

struct mb_info {
	uint32_t flags, mem_lower, mem_upper, boot_device, cmdline;
	uint32_t mods_count, mods_addr, syms[4], mmap_length, mmap_addr;
	uint32_t drives_length, drives_addr, config_table, boot_loader_name;
};

struct mb_module {
	uint32_t start, end, string, reserved;
};

struct mb_mmap {
	uint32_t size;
	uint64_t addr, len;
	uint32_t type;
} __attribute__((packed));

static uint32_t *header(struct fixture *f, size_t offset)
{
	return (uint32_t *)(f->image + offset);
}

static void put_header(struct fixture *f, size_t offset, uint32_t flags)
{
	uint32_t *h = header(f, offset);

	h[0] = MB_MAGIC;
	h[1] = flags;
	h[2] = -(MB_MAGIC + flags);
}

static Elf32_Phdr *phdr(struct fixture *f, int i)
{
	return (Elf32_Phdr *)(f->image + sizeof(Elf32_Ehdr)) + i;
}

/* An ELF32 with one PT_LOAD at 1 MiB (code plus a bss tail) and the
 * Multiboot header after the program headers. */
static void make_elf(struct fixture *f)
{
	Elf32_Ehdr *ehdr = (Elf32_Ehdr *)f->image;

	memset(f->image, 0, sizeof(f->image));
	memcpy(ehdr->e_ident, ELFMAG, SELFMAG);
	ehdr->e_ident[EI_CLASS] = ELFCLASS32;
	ehdr->e_ident[EI_DATA] = ELFDATA2LSB;
	ehdr->e_type = ET_EXEC;
	ehdr->e_machine = EM_386;
	ehdr->e_entry = LOAD_GPA + 0x10;
	ehdr->e_phoff = sizeof(Elf32_Ehdr);
	ehdr->e_phentsize = sizeof(Elf32_Phdr);
	ehdr->e_phnum = 1;
	*phdr(f, 0) = (Elf32_Phdr){
		.p_type = PT_LOAD,
		.p_offset = CODE_OFFSET,
		.p_vaddr = LOAD_GPA,
		.p_paddr = LOAD_GPA,
		.p_filesz = CODE_SIZE,
		.p_memsz = CODE_SIZE + BSS_SIZE,
	};
	put_header(f, HEADER_OFFSET, 0x3);
	memset(f->image + CODE_OFFSET, 0xc3, CODE_SIZE);
}

/* A flat image whose header (at offset 0x40) says: file offset 0 goes to
 * 2 MiB, load IMAGE_SIZE bytes, a bss up to +0x8000, enter at +0x80. */
static void make_aout(struct fixture *f)
{
	uint32_t *h;

	memset(f->image, 0x90, sizeof(f->image));
	put_header(f, 0x40, 0x10003);
	h = header(f, 0x40);
	h[3] = AOUT_LOAD_GPA + 0x40; /* header_addr */
	h[4] = AOUT_LOAD_GPA; /* load_addr */
	h[5] = AOUT_LOAD_GPA + IMAGE_SIZE; /* load_end_addr */
	h[6] = AOUT_LOAD_GPA + 0x8000; /* bss_end_addr */
	h[7] = AOUT_LOAD_GPA + 0x80; /* entry_addr */
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(guest_memory_init(&f->mem, 64ULL << 20), 0);
	make_elf(f);
	f->req.kernel = f->image;
	f->req.kernel_size = sizeof(f->image);
	f->req.cmdline = "answer=42";
	f->req.kernel_name = "/boot/test.elf";
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	guest_memory_destroy(&f->mem);
	free(f);
	return 0;
}

static int load(struct fixture *f)
{
	memset(&f->err, 0, sizeof(f->err));
	return kernel_load(&f->mem, &f->req, &f->entry, &f->err);
}

static void load_fails(struct fixture *f, int errnum, const char *words)
{
	int ret = load(f);

	if (ret != -errnum || !strstr(f->err.message, words))
		fail_msg("expected -%d with '%s', got %d: %s", errnum, words,
			 ret, f->err.message);
}

static struct mb_info *info(struct fixture *f)
{
	return guest_memory_ptr(&f->mem, LAYOUT_MULTIBOOT_INFO_GPA,
				sizeof(struct mb_info));
}

static const char *guest_string(struct fixture *f, uint32_t gpa)
{
	const char *s = guest_memory_ptr(&f->mem, gpa, 1);

	assert_non_null(s);
	return s;
}

static void elf_image_loads_and_enters_with_magic(void **state)
{
	struct fixture *f = *state;
	uint8_t *code;

	assert_int_equal(load(f), 0);
	assert_int_equal(f->entry.format, KERNEL_FORMAT_MULTIBOOT);
	assert_int_equal(f->entry.cpu_mode, BOOT_CPU_MODE_PROTECTED32);
	assert_int_equal(f->entry.entry_gpa, LOAD_GPA + 0x10);
	assert_int_equal(f->entry.rax, 0x2BADB002);
	assert_int_equal(f->entry.rbx, LAYOUT_MULTIBOOT_INFO_GPA);
	code = guest_memory_ptr(&f->mem, LOAD_GPA, CODE_SIZE + BSS_SIZE);
	assert_int_equal(code[0], 0xc3);
	assert_int_equal(code[CODE_SIZE - 1], 0xc3);
	assert_int_equal(code[CODE_SIZE], 0);
}

static void info_carries_memory_cmdline_and_map(void **state)
{
	struct fixture *f = *state;
	const struct mb_mmap *mmap;
	struct mb_info *mbi;

	assert_int_equal(load(f), 0);
	mbi = info(f);
	assert_int_equal(mbi->flags,
			 0x24d); /* mem, cmdline, mods, mmap, name */
	assert_int_equal(mbi->mem_lower, 636);
	assert_int_equal(mbi->mem_upper, (64 << 10) - 1024);
	assert_string_equal(guest_string(f, mbi->cmdline),
			    "/boot/test.elf answer=42");
	assert_string_equal(guest_string(f, mbi->boot_loader_name), "tern");
	assert_int_equal(mbi->mods_count, 0);
	assert_int_equal(mbi->mmap_length % sizeof(struct mb_mmap), 0);
	mmap = guest_memory_ptr(&f->mem, mbi->mmap_addr, mbi->mmap_length);
	assert_non_null(mmap);
	assert_int_equal(mmap[0].size, 20);
	assert_int_equal(mmap[0].addr, 0);
	assert_int_equal(mmap[0].type, 1);
	assert_int_equal(mmap[2].addr, 0x100000);
	assert_int_equal(mmap[2].len, (64ULL << 20) - 0x100000);
}

static void linux_default_cmdline_is_not_passed(void **state)
{
	struct fixture *f = *state;

	f->req.cmdline = "console=ttyS0 reboot=k";
	f->req.cmdline_is_linux_default = 1;
	assert_int_equal(load(f), 0);
	assert_string_equal(guest_string(f, info(f)->cmdline),
			    "/boot/test.elf");
}

static void modules_follow_the_image_in_order(void **state)
{
	struct fixture *f = *state;
	static const uint8_t initrd[] = "first module";
	static const uint8_t second[5000] = {7};
	struct boot_module mods[] = {{second, sizeof(second), "two,args"}};
	const struct mb_module *list;

	f->req.initrd = initrd;
	f->req.initrd_size = sizeof(initrd);
	f->req.initrd_string = "/tmp/env";
	f->req.modules = mods;
	f->req.module_count = 1;
	assert_int_equal(load(f), 0);
	assert_int_equal(info(f)->mods_count, 2);
	list = guest_memory_ptr(&f->mem, info(f)->mods_addr, 2 * sizeof(*list));
	assert_non_null(list);
	/* Page-aligned after the image's bss. */
	assert_int_equal(list[0].start, LOAD_GPA + CODE_SIZE + BSS_SIZE);
	assert_int_equal(list[0].end, list[0].start + sizeof(initrd));
	assert_int_equal(list[1].start, list[0].start + 0x1000);
	assert_int_equal(list[1].end, list[1].start + sizeof(second));
	assert_memory_equal(guest_memory_ptr(&f->mem, list[0].start, 1), initrd,
			    sizeof(initrd));
	assert_int_equal(
		*(uint8_t *)guest_memory_ptr(&f->mem, list[1].start, 1), 7);
	assert_string_equal(guest_string(f, list[0].string), "/tmp/env");
	assert_string_equal(guest_string(f, list[1].string), "two,args");
}

static void module_beyond_ram_is_refused(void **state)
{
	struct fixture *f = *state;
	static const uint8_t byte = 1;
	struct boot_module mods[] = {{&byte, 64ULL << 20, "huge"}};

	f->req.modules = mods;
	f->req.module_count = 1;
	load_fails(f, E2BIG, "module 0 (huge");
}

static void too_many_modules_are_refused(void **state)
{
	struct fixture *f = *state;
	static const uint8_t byte = 1;
	struct boot_module mods[BOOT_MAX_MODULES + 1];

	for (int i = 0; i <= BOOT_MAX_MODULES; i++)
		mods[i] = (struct boot_module){&byte, 1, "m"};
	f->req.modules = mods;
	f->req.module_count = BOOT_MAX_MODULES + 1;
	load_fails(f, E2BIG, "more than");
}

static void linux_kernel_refuses_modules(void **state)
{
	struct fixture *f = *state;
	static const uint8_t byte = 1;
	struct boot_module mods[] = {{&byte, 1, "m"}};

	header(f, HEADER_OFFSET)[0] = 0; /* no Multiboot header: PVH path */
	f->req.modules = mods;
	f->req.module_count = 1;
	load_fails(f, EINVAL, "only for Multiboot");
}

static void overlong_strings_are_refused(void **state)
{
	struct fixture *f = *state;
	char *cmdline = malloc(LAYOUT_CMDLINE_MAX + 1);

	memset(cmdline, 'x', LAYOUT_CMDLINE_MAX);
	cmdline[LAYOUT_CMDLINE_MAX] = '\0';
	f->req.cmdline = cmdline;
	load_fails(f, E2BIG, "command line");
	free(cmdline);
}

static void bad_checksum_is_named(void **state)
{
	struct fixture *f = *state;

	header(f, HEADER_OFFSET)[2] ^= 1;
	/* An ELF32 without a valid header: not loadable, and the reason is
	 * the checksum. */
	load_fails(f, ENOEXEC, "bad checksum");
}

static void header_after_8k_is_not_seen(void **state)
{
	struct fixture *f = *state;
	uint8_t *big = calloc(1, 0x3000);
	struct multiboot_header hdr;

	memcpy(big, f->image, sizeof(f->image));
	memset(big + HEADER_OFFSET, 0, 12);
	memcpy(big + 0x2000, f->image + HEADER_OFFSET, 12);
	assert_int_equal(multiboot_find_header(big, 0x3000, &hdr),
			 MULTIBOOT_NONE);
	memcpy(big + 0x1ff4, f->image + HEADER_OFFSET, 12);
	assert_int_equal(multiboot_find_header(big, 0x3000, &hdr),
			 MULTIBOOT_FOUND);
	assert_int_equal(hdr.offset, 0x1ff4);
	assert_int_equal(hdr.length, 12);
	free(big);
}

static void misaligned_header_is_not_seen(void **state)
{
	struct fixture *f = *state;
	struct multiboot_header hdr;

	memmove(f->image + HEADER_OFFSET + 2, f->image + HEADER_OFFSET, 12);
	memset(f->image + HEADER_OFFSET, 0, 2);
	assert_int_equal(
		multiboot_find_header(f->image, sizeof(f->image), &hdr),
		MULTIBOOT_NONE);
}

static void unknown_required_flag_is_refused(void **state)
{
	struct fixture *f = *state;

	put_header(f, HEADER_OFFSET, 0x3 | (1u << 5));
	load_fails(f, ENOEXEC, "flags 0x20");
}

static void elf64_with_header_is_left_to_pvh(void **state)
{
	struct fixture *f = *state;

	f->image[EI_CLASS] = ELFCLASS64;
	load_fails(f, ENOEXEC, "x86-64");
}

static void elf_of_another_machine_is_refused(void **state)
{
	struct fixture *f = *state;

	((Elf32_Ehdr *)f->image)->e_machine = EM_ARM;
	load_fails(f, ENOEXEC, "not 32-bit x86");
}

static void segment_over_tern_boot_pages_is_refused(void **state)
{
	struct fixture *f = *state;
	static const uint32_t starts[] = {0,	   0x5000,  0x1f000,
					  0x2f000, 0x9e000, 0xff000};

	for (size_t i = 0; i < sizeof(starts) / sizeof(starts[0]); i++) {
		phdr(f, 0)->p_paddr = starts[i];
		load_fails(f, EINVAL, "which tern needs to boot it");
	}
}

static void segment_below_1mib_between_tern_pages_loads(void **state)
{
	struct fixture *f = *state;
	const struct mb_module *list;
	static const uint8_t initrd[] = "m";

	/* kvm-unit-tests' realmode test links at 0x8000. */
	phdr(f, 0)->p_paddr = phdr(f, 0)->p_vaddr = 0x8000;
	((Elf32_Ehdr *)f->image)->e_entry = 0x8010;
	f->req.initrd = initrd;
	f->req.initrd_size = sizeof(initrd);
	assert_int_equal(load(f), 0);
	assert_int_equal(f->entry.entry_gpa, 0x8010);
	list = guest_memory_ptr(&f->mem, info(f)->mods_addr, sizeof(*list));
	assert_int_equal(list[0].start, LOAD_GPA); /* modules from 1 MiB */
}

static void segment_beyond_ram_is_refused(void **state)
{
	struct fixture *f = *state;

	phdr(f, 0)->p_paddr = (64u << 20) - 0x1000;
	load_fails(f, E2BIG, "outside the guest's RAM");
	phdr(f, 0)->p_paddr = 0xfffff000u; /* would wrap in 32 bits */
	load_fails(f, E2BIG, "outside the guest's RAM");
}

static void huge_memsz_is_refused(void **state)
{
	struct fixture *f = *state;

	phdr(f, 0)->p_memsz = 0xffffffffu;
	load_fails(f, E2BIG, "outside the guest's RAM");
}

static void overlapping_segments_are_refused(void **state)
{
	struct fixture *f = *state;
	Elf32_Ehdr *ehdr = (Elf32_Ehdr *)f->image;

	ehdr->e_phnum = 2;
	*phdr(f, 1) = *phdr(f, 0);
	phdr(f, 1)->p_paddr += CODE_SIZE; /* inside the first one's bss */
	phdr(f, 1)->p_vaddr += CODE_SIZE;
	load_fails(f, EINVAL, "overlaps");
}

static void segment_beyond_file_is_refused(void **state)
{
	struct fixture *f = *state;

	phdr(f, 0)->p_filesz = CODE_SIZE + 1;
	load_fails(f, EINVAL, "beyond its end");
	phdr(f, 0)->p_filesz = CODE_SIZE;
	phdr(f, 0)->p_offset = 0xfffffff0u;
	load_fails(f, EINVAL, "beyond its end");
}

static void filesz_above_memsz_is_refused(void **state)
{
	struct fixture *f = *state;

	phdr(f, 0)->p_memsz = 0x10;
	load_fails(f, EINVAL, "exceeds memory size");
}

static void program_headers_beyond_file_are_refused(void **state)
{
	struct fixture *f = *state;

	((Elf32_Ehdr *)f->image)->e_phnum = 0xffff;
	load_fails(f, EINVAL, "program header");
}

static void entry_outside_segments_is_refused(void **state)
{
	struct fixture *f = *state;

	((Elf32_Ehdr *)f->image)->e_entry = 0x12345678;
	load_fails(f, EINVAL, "entry point");
}

static void entry_is_translated_from_virtual(void **state)
{
	struct fixture *f = *state;

	phdr(f, 0)->p_vaddr = 0xc0100000u; /* a higher-half kernel */
	((Elf32_Ehdr *)f->image)->e_entry = 0xc0100020u;
	assert_int_equal(load(f), 0);
	assert_int_equal(f->entry.entry_gpa, LOAD_GPA + 0x20);
}

static void aout_kludge_loads_by_header_addresses(void **state)
{
	struct fixture *f = *state;
	uint8_t *dst;

	make_aout(f);
	assert_int_equal(load(f), 0);
	assert_int_equal(f->entry.entry_gpa, AOUT_LOAD_GPA + 0x80);
	dst = guest_memory_ptr(&f->mem, AOUT_LOAD_GPA, 0x8000);
	assert_memory_equal(dst, f->image, IMAGE_SIZE);
	assert_int_equal(dst[IMAGE_SIZE], 0);
	assert_int_equal(dst[0x7fff], 0);
	/* Modules go after the bss. */
	assert_int_equal(info(f)->mods_count, 0);
}

static void aout_load_end_stops_the_copy(void **state)
{
	struct fixture *f = *state;
	uint8_t *dst;

	make_aout(f);
	header(f, 0x40)[5] = AOUT_LOAD_GPA + 0x100;
	assert_int_equal(load(f), 0);
	dst = guest_memory_ptr(&f->mem, AOUT_LOAD_GPA, 0x8000);
	assert_int_equal(dst[0xff], 0x90);
	assert_int_equal(dst[0x100], 0);
}

static void aout_load_end_zero_loads_the_file(void **state)
{
	struct fixture *f = *state;

	make_aout(f);
	header(f, 0x40)[5] = 0;
	header(f, 0x40)[6] = 0;
	assert_int_equal(load(f), 0);
	assert_int_equal(*(uint8_t *)guest_memory_ptr(
				 &f->mem, AOUT_LOAD_GPA + IMAGE_SIZE - 1, 1),
			 0x90);
}

static void aout_hostile_addresses_are_refused(void **state)
{
	struct fixture *f = *state;
	static const struct {
		int field; /* 3 header, 4 load, 5 load_end, 6 bss_end, 7 entry
			    */
		uint32_t value;
		int errnum;
		const char *words;
	} cases[] = {
		{4, AOUT_LOAD_GPA + 0x44, EINVAL, "before the start"},
		{3, AOUT_LOAD_GPA + 0x1000, EINVAL, "before the start"},
		{5, AOUT_LOAD_GPA, EINVAL, "not above load_addr"},
		{5, AOUT_LOAD_GPA + IMAGE_SIZE + 1, EINVAL, "truncated"},
		{5, 0xffffffffu, EINVAL, "truncated"},
		{6, AOUT_LOAD_GPA + 0x10, EINVAL, "bss_end_addr"},
		{6, 0xffffffffu, E2BIG, "outside the guest's RAM"},
		{7, AOUT_LOAD_GPA - 1, EINVAL, "entry_addr"},
		{7, AOUT_LOAD_GPA + 0x8000, EINVAL, "entry_addr"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		make_aout(f);
		header(f, 0x40)[cases[i].field] = cases[i].value;
		load_fails(f, cases[i].errnum, cases[i].words);
	}
}

static void aout_over_tern_boot_pages_is_refused(void **state)
{
	struct fixture *f = *state;
	uint32_t *h;

	make_aout(f);
	h = header(f, 0x40);
	h[3] = 0x5040;
	h[4] = 0x5000;
	h[5] = 0x5000 + IMAGE_SIZE; /* over the Multiboot information */
	h[6] = 0;
	h[7] = 0x5080;
	load_fails(f, EINVAL, "the Multiboot information");
}

static void aout_header_cut_off_is_refused(void **state)
{
	struct fixture *f = *state;

	make_aout(f);
	memset(f->image + 0x40, 0, 32);
	/* The 32-byte header would end 16 bytes past the first 8 KiB. */
	put_header(f, 0x1ff0, 0x10003);
	load_fails(f, EINVAL, "cut off");
}

static void truncated_images_are_refused_at_every_length(void **state)
{
	struct fixture *f = *state;

	for (int kind = 0; kind < 2; kind++) {
		if (kind)
			make_aout(f);
		for (size_t len = 1; len < IMAGE_SIZE; len += 7) {
			uint8_t *copy = malloc(len);

			memcpy(copy, f->image, len);
			f->req.kernel = copy;
			f->req.kernel_size = len;
			memset(&f->err, 0, sizeof(f->err));
			assert_true(kernel_load(&f->mem, &f->req, &f->entry,
						&f->err) < 0);
			free(copy);
		}
	}
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(elf_image_loads_and_enters_with_magic),
		T(info_carries_memory_cmdline_and_map),
		T(linux_default_cmdline_is_not_passed),
		T(modules_follow_the_image_in_order),
		T(module_beyond_ram_is_refused),
		T(too_many_modules_are_refused),
		T(linux_kernel_refuses_modules),
		T(overlong_strings_are_refused),
		T(bad_checksum_is_named),
		T(header_after_8k_is_not_seen),
		T(misaligned_header_is_not_seen),
		T(unknown_required_flag_is_refused),
		T(elf64_with_header_is_left_to_pvh),
		T(elf_of_another_machine_is_refused),
		T(segment_over_tern_boot_pages_is_refused),
		T(segment_below_1mib_between_tern_pages_loads),
		T(segment_beyond_ram_is_refused),
		T(huge_memsz_is_refused),
		T(overlapping_segments_are_refused),
		T(segment_beyond_file_is_refused),
		T(filesz_above_memsz_is_refused),
		T(program_headers_beyond_file_are_refused),
		T(entry_outside_segments_is_refused),
		T(entry_is_translated_from_virtual),
		T(aout_kludge_loads_by_header_addresses),
		T(aout_load_end_stops_the_copy),
		T(aout_load_end_zero_loads_the_file),
		T(aout_hostile_addresses_are_refused),
		T(aout_over_tern_boot_pages_is_refused),
		T(aout_header_cut_off_is_refused),
		T(truncated_images_are_refused_at_every_length),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
