#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <elf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/boot/kernel_loader.h"
#include "arch/x86/e820.h"
#include "arch/x86/layout.h"

#define LOAD_GPA 0x1000000ULL
#define ENTRY_GPA (LOAD_GPA + 0x100)
#define CODE_OFFSET 0x1000
#define CODE_SIZE 0x1000
#define BSS_SIZE 0x3000
#define NOTE_OFFSET 0x200
#define IMAGE_SIZE (CODE_OFFSET + CODE_SIZE)

struct fixture {
	struct guest_memory mem;
	uint8_t image[IMAGE_SIZE];
	struct kernel_load_request req;
	struct boot_entry entry;
	struct load_error err;
};

struct hvm_start_info {
	uint32_t magic, version, flags, nr_modules;
	uint64_t modlist_paddr, cmdline_paddr, rsdp_paddr, memmap_paddr;
	uint32_t memmap_entries, reserved;
};

static Elf64_Phdr *phdr(struct fixture *f, int i)
{
	return (Elf64_Phdr *)(f->image + sizeof(Elf64_Ehdr)) + i;
}

static Elf64_Nhdr *note(struct fixture *f)
{
	return (Elf64_Nhdr *)(f->image + NOTE_OFFSET);
}

/* A vmlinux reduced to what the loader reads: one PT_LOAD with a bss tail
 * and one PT_NOTE holding the Xen PVH entry note, 8-byte descriptor. */
static void make_image(struct fixture *f, uint32_t descsz)
{
	Elf64_Ehdr *ehdr = (Elf64_Ehdr *)f->image;
	uint64_t entry = ENTRY_GPA;

	memset(f->image, 0, sizeof(f->image));
	memcpy(ehdr->e_ident, ELFMAG, SELFMAG);
	ehdr->e_ident[EI_CLASS] = ELFCLASS64;
	ehdr->e_ident[EI_DATA] = ELFDATA2LSB;
	ehdr->e_type = ET_EXEC;
	ehdr->e_machine = EM_X86_64;
	ehdr->e_phoff = sizeof(Elf64_Ehdr);
	ehdr->e_phentsize = sizeof(Elf64_Phdr);
	ehdr->e_phnum = 2;

	*phdr(f, 0) = (Elf64_Phdr){
		.p_type = PT_LOAD,
		.p_offset = CODE_OFFSET,
		.p_paddr = LOAD_GPA,
		.p_filesz = CODE_SIZE,
		.p_memsz = CODE_SIZE + BSS_SIZE,
	};
	*phdr(f, 1) = (Elf64_Phdr){
		.p_type = PT_NOTE,
		.p_offset = NOTE_OFFSET,
		.p_filesz = sizeof(Elf64_Nhdr) + 4 + 8,
	};
	*note(f) =
		(Elf64_Nhdr){.n_namesz = 4, .n_descsz = descsz, .n_type = 18};
	memcpy(f->image + NOTE_OFFSET + sizeof(Elf64_Nhdr), "Xen", 4);
	memcpy(f->image + NOTE_OFFSET + sizeof(Elf64_Nhdr) + 4, &entry, descsz);
	memset(f->image + CODE_OFFSET, 0xcc, CODE_SIZE);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(guest_memory_init(&f->mem, MiB(128)), 0);
	make_image(f, 8);
	f->req.kernel = f->image;
	f->req.kernel_size = IMAGE_SIZE;
	f->req.cmdline = "console=ttyS0 quiet";
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

static struct hvm_start_info *start_info(struct fixture *f)
{
	return guest_memory_ptr(&f->mem, LAYOUT_PVH_START_INFO_GPA,
				sizeof(struct hvm_start_info));
}

static void valid_image_enters_at_pvh_note(void **state)
{
	struct fixture *f = *state;
	uint8_t *loaded;
	static const uint8_t zeros[BSS_SIZE];

	/* Dirty the bss so the test sees the loader clear it. */
	memset(guest_memory_ptr(&f->mem, LOAD_GPA + CODE_SIZE, BSS_SIZE), 0x5a,
	       BSS_SIZE);
	assert_int_equal(load(f), 0);
	assert_int_equal(f->entry.format, KERNEL_FORMAT_ELF_PVH);
	assert_int_equal(f->entry.cpu_mode, BOOT_CPU_MODE_PROTECTED32);
	assert_int_equal(f->entry.entry_gpa, ENTRY_GPA);
	assert_int_equal(f->entry.rbx, LAYOUT_PVH_START_INFO_GPA);
	loaded = guest_memory_ptr(&f->mem, LOAD_GPA, CODE_SIZE + BSS_SIZE);
	assert_memory_equal(loaded, f->image + CODE_OFFSET, CODE_SIZE);
	assert_memory_equal(loaded + CODE_SIZE, zeros, BSS_SIZE);
}

static void four_byte_entry_note_is_accepted(void **state)
{
	struct fixture *f = *state;

	make_image(f, 4);
	assert_int_equal(load(f), 0);
	assert_int_equal(f->entry.entry_gpa, ENTRY_GPA);
}

static void start_info_carries_cmdline_memmap_and_initrd(void **state)
{
	struct fixture *f = *state;
	static const uint8_t initrd[5000] = {7, 7, 7};
	struct hvm_start_info *info;
	struct e820_map map;
	uint64_t module[4], memmap[3];
	char cmdline[32];

	f->req.initrd = initrd;
	f->req.initrd_size = sizeof(initrd);
	assert_int_equal(load(f), 0);
	info = start_info(f);
	assert_int_equal(info->magic, 0x336ec578);
	assert_int_equal(info->version, 1);
	assert_int_equal(
		guest_memory_read(&f->mem, info->cmdline_paddr, cmdline, 20),
		0);
	assert_string_equal(cmdline, "console=ttyS0 quiet");

	assert_int_equal(info->nr_modules, 1);
	assert_int_equal(guest_memory_read(&f->mem, info->modlist_paddr, module,
					   sizeof(module)),
			 0);
	assert_int_equal(module[0] % 4096, 0);
	assert_int_equal(module[1], sizeof(initrd));
	assert_true(module[0] >= LOAD_GPA + CODE_SIZE + BSS_SIZE);
	assert_memory_equal(guest_memory_ptr(&f->mem, module[0], module[1]),
			    initrd, sizeof(initrd));

	e820_build(&f->mem, &map);
	assert_int_equal(info->memmap_entries, map.count);
	for (int i = 0; i < map.count; i++) {
		assert_int_equal(guest_memory_read(&f->mem,
						   info->memmap_paddr + i * 24,
						   memmap, 24),
				 0);
		assert_int_equal(memmap[0], map.entries[i].addr);
		assert_int_equal(memmap[1], map.entries[i].size);
		assert_int_equal((uint32_t)memmap[2], map.entries[i].type);
	}
}

static void no_initrd_means_no_module(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(load(f), 0);
	assert_int_equal(start_info(f)->nr_modules, 0);
}

static void missing_pvh_note_is_refused(void **state)
{
	struct fixture *f = *state;

	note(f)->n_type = 17;
	assert_int_equal(load(f), -ENOEXEC);
	assert_non_null(strstr(f->err.message, "PVH"));
}

static void note_of_another_owner_is_ignored(void **state)
{
	struct fixture *f = *state;

	memcpy(f->image + NOTE_OFFSET + sizeof(Elf64_Nhdr), "Gnu", 4);
	assert_int_equal(load(f), -ENOEXEC);
}

static void corrupt_note_sizes_are_refused(void **state)
{
	struct fixture *f = *state;

	note(f)->n_namesz = 0xfffffff0;
	assert_int_equal(load(f), -EINVAL);
	make_image(f, 8);
	note(f)->n_descsz = 0xffffffff;
	assert_int_equal(load(f), -EINVAL);
	make_image(f, 8);
	note(f)->n_descsz = 2;
	assert_int_equal(load(f), -EINVAL);
}

static void entry_outside_kernel_is_refused(void **state)
{
	struct fixture *f = *state;
	uint64_t bad = 0x500;

	memcpy(f->image + NOTE_OFFSET + sizeof(Elf64_Nhdr) + 4, &bad, 8);
	assert_int_equal(load(f), -EINVAL);
}

static void thirty_two_bit_elf_is_refused(void **state)
{
	struct fixture *f = *state;

	f->image[EI_CLASS] = ELFCLASS32;
	assert_int_equal(load(f), -ENOEXEC);
	assert_non_null(strstr(f->err.message, "x86-64"));
}

static void program_headers_beyond_file_are_refused(void **state)
{
	struct fixture *f = *state;
	Elf64_Ehdr *ehdr = (Elf64_Ehdr *)f->image;

	ehdr->e_phoff = IMAGE_SIZE - 8;
	assert_int_equal(load(f), -EINVAL);
	ehdr->e_phoff = UINT64_MAX - 8;
	assert_int_equal(load(f), -EINVAL);
	ehdr->e_phoff = sizeof(Elf64_Ehdr);
	ehdr->e_phentsize = 32;
	assert_int_equal(load(f), -EINVAL);
}

static void segment_beyond_file_is_refused(void **state)
{
	struct fixture *f = *state;

	phdr(f, 0)->p_filesz = IMAGE_SIZE;
	phdr(f, 0)->p_memsz = IMAGE_SIZE;
	assert_int_equal(load(f), -EINVAL);
	make_image(f, 8);
	phdr(f, 0)->p_offset = UINT64_MAX;
	assert_int_equal(load(f), -EINVAL);
}

static void segment_outside_guest_ram_is_refused(void **state)
{
	struct fixture *f = *state;

	phdr(f, 0)->p_paddr = MiB(128) - 0x1000;
	assert_int_equal(load(f), -E2BIG);
	assert_non_null(strstr(f->err.message, "--memory"));
	phdr(f, 0)->p_paddr = 0x7000; /* over tern's zero page */
	assert_int_equal(load(f), -E2BIG);
	phdr(f, 0)->p_paddr = UINT64_MAX - 0x100;
	assert_int_equal(load(f), -E2BIG);
}

static void filesz_above_memsz_is_refused(void **state)
{
	struct fixture *f = *state;

	phdr(f, 0)->p_memsz = CODE_SIZE - 1;
	assert_int_equal(load(f), -EINVAL);
}

static void truncated_images_are_refused_at_every_length(void **state)
{
	struct fixture *f = *state;

	for (size_t len = 4; len < IMAGE_SIZE; len += 7) {
		uint8_t *copy = malloc(len);

		memcpy(copy, f->image, len);
		f->req.kernel = copy;
		f->req.kernel_size = len;
		assert_true(load(f) < 0);
		free(copy);
	}
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(valid_image_enters_at_pvh_note),
		T(four_byte_entry_note_is_accepted),
		T(start_info_carries_cmdline_memmap_and_initrd),
		T(no_initrd_means_no_module),
		T(missing_pvh_note_is_refused),
		T(note_of_another_owner_is_ignored),
		T(corrupt_note_sizes_are_refused),
		T(entry_outside_kernel_is_refused),
		T(thirty_two_bit_elf_is_refused),
		T(program_headers_beyond_file_are_refused),
		T(segment_beyond_file_is_refused),
		T(segment_outside_guest_ram_is_refused),
		T(filesz_above_memsz_is_refused),
		T(truncated_images_are_refused_at_every_length),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
