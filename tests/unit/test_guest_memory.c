#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "arch/x86/layout.h"
#include "memory/guest_memory.h"

static void small_memory_is_one_low_region(void **state)
{
	struct guest_memory mem;

	assert_int_equal(guest_memory_init(&mem, MiB(64)), 0);
	assert_int_equal(mem.region_count, 1);
	assert_int_equal(guest_memory_low_end(&mem), MiB(64));
	assert_non_null(guest_memory_ptr(&mem, 0, MiB(64)));
	assert_null(guest_memory_ptr(&mem, 0, MiB(64) + 1));
	assert_null(guest_memory_ptr(&mem, MiB(64), 1));
	guest_memory_destroy(&mem);
}

static void large_memory_skips_the_mmio_hole(void **state)
{
	struct guest_memory mem;

	assert_int_equal(guest_memory_init(&mem, GiB(5)), 0);
	assert_int_equal(mem.region_count, 2);
	assert_int_equal(guest_memory_low_end(&mem), LAYOUT_MMIO_HOLE_START);
	assert_int_equal(mem.regions[1].gpa, LAYOUT_MMIO_HOLE_END);
	assert_int_equal(mem.regions[1].size, GiB(5) - LAYOUT_MMIO_HOLE_START);
	assert_null(guest_memory_ptr(&mem, LAYOUT_MMIO_HOLE_START, 1));
	assert_null(guest_memory_ptr(&mem, LAYOUT_MMIO_HOLE_START - 1, 2));
	assert_non_null(guest_memory_ptr(&mem, LAYOUT_MMIO_HOLE_END, 4096));
	assert_non_null(guest_memory_ptr(&mem, GiB(6) - 1, 1));
	assert_null(guest_memory_ptr(&mem, GiB(6), 1));
	guest_memory_destroy(&mem);
}

/* KVM maps guest RAM with 2 MiB pages only where guest-physical and host
 * addresses agree modulo 2 MiB; the mapping also covers exactly the RAM
 * (the alignment slack is given back), so it reads and writes end to
 * end. */
static void ram_starts_on_a_huge_page_boundary(void **state)
{
	static const uint64_t sizes[] = {MiB(1), MiB(3), MiB(64) + 4096,
					 MiB(512)};

	for (unsigned i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		struct guest_memory mem;
		uint8_t *last;

		assert_int_equal(guest_memory_init(&mem, sizes[i]), 0);
		if (sizes[i] >= GUEST_MEMORY_HUGE_PAGE_SIZE)
			assert_int_equal((uintptr_t)mem.mapping %
						 GUEST_MEMORY_HUGE_PAGE_SIZE,
					 0);
		assert_int_equal(mem.mapping_size, sizes[i]);
		mem.mapping[0] = 1;
		last = guest_memory_ptr(&mem, sizes[i] - 1, 1);
		assert_ptr_equal(last, mem.mapping + sizes[i] - 1);
		*last = 2;
		assert_int_equal(mem.mapping[0] + *last, 3);
		guest_memory_destroy(&mem);
	}
}

static void wrapping_ranges_are_refused(void **state)
{
	struct guest_memory mem;
	char byte = 0;

	assert_int_equal(guest_memory_init(&mem, MiB(64)), 0);
	assert_null(guest_memory_ptr(&mem, 16, UINT64_MAX));
	assert_null(guest_memory_ptr(&mem, UINT64_MAX, 2));
	assert_null(guest_memory_ptr(&mem, 0, 0));
	assert_int_equal(guest_memory_write(&mem, MiB(64) - 1, "ab", 2),
			 -EFAULT);
	assert_int_equal(guest_memory_write(&mem, MiB(64) - 1, "a", 1), 0);
	assert_int_equal(guest_memory_read(&mem, MiB(64) - 1, &byte, 1), 0);
	assert_int_equal(byte, 'a');
	guest_memory_destroy(&mem);
}

static void zero_size_is_refused(void **state)
{
	struct guest_memory mem;

	assert_int_equal(guest_memory_init(&mem, 0), -EINVAL);
}

/* Whether the host mapping holding addr has VmFlag `flag` (two letters)
 * in /proc/self/smaps. */
static bool has_vm_flag(const void *addr, const char *flag)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[512];
	bool inside = false, found = false;

	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		unsigned long start, end;
		char *save, *word;

		if (sscanf(line, "%lx-%lx ", &start, &end) == 2) {
			inside = start <= (uintptr_t)addr &&
				(uintptr_t)addr < end;
			continue;
		}
		if (!inside || strncmp(line, "VmFlags:", 8) != 0)
			continue;
		for (word = strtok_r(line + 8, " \n", &save); word;
		     word = strtok_r(NULL, " \n", &save))
			found |= strcmp(word, flag) == 0;
		break;
	}
	fclose(f);
	return found;
}

/* Guest RAM is the guest's data: tern's core dumps leave it out (VmFlag
 * dd, MADV_DONTDUMP), also once a snapshot's memory file replaced the
 * mapping. */
static void ram_is_left_out_of_core_dumps(void **state)
{
	struct guest_memory mem;
	int fd = memfd_create("guest-ram", MFD_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, MiB(64)), 0);
	assert_int_equal(guest_memory_init(&mem, MiB(64)), 0);
	assert_true(has_vm_flag(mem.mapping, "dd"));
	assert_true(has_vm_flag(mem.mapping + MiB(64) - 1, "dd"));
	assert_int_equal(guest_memory_map_file(&mem, fd), 0);
	assert_true(has_vm_flag(mem.mapping, "dd"));
	assert_true(has_vm_flag(mem.mapping + MiB(64) - 1, "dd"));
	close(fd);
	guest_memory_destroy(&mem);
}

/* Transparent huge pages stay asked for (VmFlag hg) on every mapping of
 * guest RAM: the first, a snapshot's file mapped over it, and a reset's
 * fresh one. A MAP_FIXED remap without the advice used to drop it. */
static void huge_page_advice_survives_remaps(void **state)
{
	struct guest_memory mem;
	int fd = memfd_create("guest-ram", MFD_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, MiB(64)), 0);
	assert_int_equal(guest_memory_init(&mem, MiB(64)), 0);
	if (!has_vm_flag(mem.mapping, "hg")) {
		close(fd);
		guest_memory_destroy(&mem);
		skip(); /* a host kernel without THP */
	}
	assert_int_equal(guest_memory_map_file(&mem, fd), 0);
	assert_true(has_vm_flag(mem.mapping, "hg"));
	assert_int_equal(guest_memory_clear(&mem), 0);
	assert_true(has_vm_flag(mem.mapping, "hg"));
	assert_true(has_vm_flag(mem.mapping, "dd"));
	close(fd);
	guest_memory_destroy(&mem);
}

static void remove_file(const char *dir, const char *name)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_int_equal(unlink(path), 0);
}

static void write_file(const char *dir, const char *name, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* The pool a mapping can still reserve: free minus reserved pages, never
 * below zero; a pool that is not there or not a number is an error. */
static void hugetlb_pool_is_read_from_sysfs(void **state)
{
	char dir[] = "/tmp/test_hugetlb.XXXXXX";
	uint64_t pages = 99;

	assert_non_null(mkdtemp(dir));
	assert_int_equal(guest_memory_hugetlb_available(dir, &pages), -ENOENT);
	write_file(dir, "free_hugepages", "130\n");
	write_file(dir, "resv_hugepages", "2\n");
	assert_int_equal(guest_memory_hugetlb_available(dir, &pages), 0);
	assert_int_equal(pages, 128);
	write_file(dir, "resv_hugepages", "131\n");
	assert_int_equal(guest_memory_hugetlb_available(dir, &pages), 0);
	assert_int_equal(pages, 0);
	write_file(dir, "free_hugepages", "lots\n");
	assert_int_equal(guest_memory_hugetlb_available(dir, &pages), -EINVAL);
	write_file(dir, "free_hugepages", "");
	assert_int_equal(guest_memory_hugetlb_available(dir, &pages), -EINVAL);
	remove_file(dir, "free_hugepages");
	remove_file(dir, "resv_hugepages");
	assert_int_equal(rmdir(dir), 0);
}

/* hugetlbfs RAM is whole 2 MiB pages; with this host's pool empty the
 * mapping's reservation fails at once (no SIGBUS later) and leaves
 * nothing behind; with pages in the pool, the RAM is on them. */
static void hugetlb_ram_is_whole_pages_reserved_up_front(void **state)
{
	struct guest_memory mem;
	uint64_t pages = 0;
	int ret;

	assert_int_equal(
		guest_memory_init_backed(&mem, MiB(3), GUEST_MEMORY_HUGETLB_2M),
		-EINVAL);
	if (guest_memory_hugetlb_available(GUEST_MEMORY_HUGETLB_SYSFS, &pages))
		skip(); /* no 2 MiB hugetlbfs on this host */
	ret = guest_memory_init_backed(&mem, MiB(4), GUEST_MEMORY_HUGETLB_2M);
	if (pages >= 2) {
		assert_int_equal(ret, 0);
		assert_int_equal(mem.backing, GUEST_MEMORY_HUGETLB_2M);
		assert_true(has_vm_flag(mem.mapping, "ht"));
		assert_true(has_vm_flag(mem.mapping, "dd"));
		mem.mapping[MiB(4) - 1] = 1;
		guest_memory_destroy(&mem);
	} else if (ret) {
		/* Surplus pages (nr_overcommit_hugepages) may still serve. */
		assert_int_equal(ret, -ENOMEM);
		assert_null(mem.mapping);
		assert_int_equal(mem.region_count, 0);
	} else {
		guest_memory_destroy(&mem);
	}
}

/* A snapshot's memory file cannot be mapped over hugetlbfs RAM: it is
 * read in whole instead, and the RAM keeps its own mapping. Shown with
 * anonymous RAM marked as hugetlbfs, which takes the same path. */
static void hugetlb_ram_reads_a_memory_file_in(void **state)
{
	struct guest_memory mem;
	int fd = memfd_create("guest-ram", MFD_CLOEXEC);
	uint8_t *before;

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, MiB(4)), 0);
	assert_int_equal(pwrite(fd, "head", 4, 0), 4);
	assert_int_equal(pwrite(fd, "tail", 4, MiB(4) - 4), 4);
	assert_int_equal(guest_memory_init(&mem, MiB(4)), 0);
	mem.backing = GUEST_MEMORY_HUGETLB_2M;
	before = mem.mapping;
	memset(mem.mapping + MiB(1), 0xaa, 4096);
	assert_int_equal(guest_memory_map_file(&mem, fd), 0);
	assert_ptr_equal(mem.mapping, before);
	assert_memory_equal(mem.mapping, "head", 4);
	assert_memory_equal(mem.mapping + MiB(4) - 4, "tail", 4);
	assert_int_equal(mem.mapping[MiB(1)], 0);
	/* Writes stay in RAM, not in the file. */
	mem.mapping[0] = 'H';
	{
		char c = 0;

		assert_int_equal(pread(fd, &c, 1, 0), 1);
		assert_int_equal(c, 'h');
	}
	close(fd);
	guest_memory_destroy(&mem);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(small_memory_is_one_low_region),
		cmocka_unit_test(large_memory_skips_the_mmio_hole),
		cmocka_unit_test(ram_starts_on_a_huge_page_boundary),
		cmocka_unit_test(wrapping_ranges_are_refused),
		cmocka_unit_test(zero_size_is_refused),
		cmocka_unit_test(ram_is_left_out_of_core_dumps),
		cmocka_unit_test(huge_page_advice_survives_remaps),
		cmocka_unit_test(hugetlb_pool_is_read_from_sysfs),
		cmocka_unit_test(hugetlb_ram_is_whole_pages_reserved_up_front),
		cmocka_unit_test(hugetlb_ram_reads_a_memory_file_in),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
