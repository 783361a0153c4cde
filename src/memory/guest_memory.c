#include "memory/guest_memory.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "arch/x86/layout.h"
#include "util/log.h"

static void add_region(struct guest_memory *mem, uint64_t gpa, uint64_t size,
		       uint8_t *hva)
{
	struct guest_memory_region *region = &mem->regions[mem->region_count++];

	region->gpa = gpa;
	region->size = size;
	region->hva = hva;
}

/* Guest RAM stays out of tern's core dumps: it is the guest's data (its
 * keys, its files), possibly gigabytes of it, and a crash of tern is
 * debugged from tern's own memory. The flag belongs to the mapping, so
 * every mmap of guest RAM sets it again. Refused, it costs only the dump's
 * privacy and size: a warning, the VM runs the same. */
static void keep_out_of_core_dumps(void *ram, size_t size)
{
	if (madvise(ram, size, MADV_DONTDUMP) < 0)
		log_warn("guest RAM will be in core dumps: "
			 "madvise(MADV_DONTDUMP): %s",
			 strerror(errno));
}

/* Anonymous RAM starting on a 2 MiB boundary, with transparent huge pages
 * asked for. KVM maps guest memory with 2 MiB pages only where the guest
 * address and the host address agree modulo 2 MiB: a plain mmap (not
 * 2 MiB-aligned on Linux before 6.7) left every guest page mapped at 4 KiB
 * even with the host's THP on (measured in the test host: KVM's pages_2m
 * 0, pages_4k 67196 for a 512 MiB guest; aligned: pages_2m 131, as QEMU,
 * which aligns its RAM too). Large pages shorten the guest's two-level
 * page walks; with nested KVM every walk is expensive. madvise covers
 * hosts whose THP mode is "madvise"; it is only a hint. Returns NULL with
 * errno set. */
static void *map_ram(uint64_t ram_size)
{
	size_t size = (size_t)ram_size;
	size_t extra = size >= GUEST_MEMORY_HUGE_PAGE_SIZE &&
			size <= SIZE_MAX - GUEST_MEMORY_HUGE_PAGE_SIZE
		? GUEST_MEMORY_HUGE_PAGE_SIZE
		: 0;
	uint8_t *raw, *ram;
	size_t head;

	raw = mmap(NULL, size + extra, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (raw == MAP_FAILED)
		return NULL;
	head = extra ? (GUEST_MEMORY_HUGE_PAGE_SIZE -
			(uintptr_t)raw % GUEST_MEMORY_HUGE_PAGE_SIZE) %
			GUEST_MEMORY_HUGE_PAGE_SIZE
		     : 0;
	ram = raw + head;
	if (head)
		munmap(raw, head);
	if (extra - head)
		munmap(ram + size, extra - head);
	if (extra)
		(void)madvise(ram, size, MADV_HUGEPAGE);
	keep_out_of_core_dumps(ram, size);
	return ram;
}

int guest_memory_init(struct guest_memory *mem, uint64_t ram_size)
{
	uint64_t low_size;
	void *mapping;

	memset(mem, 0, sizeof(*mem));
	if (ram_size == 0 || ram_size > SIZE_MAX)
		return -EINVAL;

	/* One mapping for all RAM keeps the host side contiguous (one
	 * madvise, one dump for snapshots); MAP_NORESERVE because the guest
	 * rarely touches all of it and overcommit should count only what it
	 * does. */
	mapping = map_ram(ram_size);
	if (!mapping)
		return -errno;

	mem->mapping = mapping;
	mem->mapping_size = ram_size;
	mem->ram_size = ram_size;

	low_size = ram_size < LAYOUT_MMIO_HOLE_START ? ram_size
						     : LAYOUT_MMIO_HOLE_START;
	add_region(mem, 0, low_size, mapping);
	if (ram_size > low_size)
		add_region(mem, LAYOUT_MMIO_HOLE_END, ram_size - low_size,
			   (uint8_t *)mapping + low_size);
	return 0;
}

int guest_memory_map_file(struct guest_memory *mem, int fd)
{
	struct stat st;
	void *mapping;

	if (!mem->mapping)
		return -EINVAL;
	if (fstat(fd, &st) < 0)
		return -errno;
	/* A shorter file would SIGBUS on the first access past its end. */
	if ((uint64_t)st.st_size < mem->mapping_size)
		return -EINVAL;
	mapping = mmap(mem->mapping, mem->mapping_size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_FIXED | MAP_NORESERVE, fd, 0);
	if (mapping == MAP_FAILED)
		return -errno;
	keep_out_of_core_dumps(mapping, mem->mapping_size);
	return 0;
}

int guest_memory_clear(struct guest_memory *mem)
{
	void *mapping;

	if (!mem->mapping)
		return -EINVAL;
	mapping = mmap(mem->mapping, mem->mapping_size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE,
		       -1, 0);
	if (mapping == MAP_FAILED)
		return -errno;
	/* The advice belongs to the mapping, which is new: as in map_ram(). */
	if (mem->mapping_size >= GUEST_MEMORY_HUGE_PAGE_SIZE)
		(void)madvise(mapping, mem->mapping_size, MADV_HUGEPAGE);
	keep_out_of_core_dumps(mapping, mem->mapping_size);
	return 0;
}

void guest_memory_destroy(struct guest_memory *mem)
{
	if (mem->mapping)
		munmap(mem->mapping, mem->mapping_size);
	free((void *)mem->vmm_dirty);
	memset(mem, 0, sizeof(*mem));
}

void *guest_memory_ptr(const struct guest_memory *mem, uint64_t gpa,
		       uint64_t len)
{
	if (len == 0)
		return NULL;

	for (int i = 0; i < mem->region_count; i++) {
		const struct guest_memory_region *region = &mem->regions[i];

		/* Written as subtractions so a huge gpa or len cannot wrap
		 * around and pass the check. */
		if (gpa < region->gpa)
			continue;
		if (gpa - region->gpa >= region->size)
			continue;
		if (len > region->size - (gpa - region->gpa))
			return NULL;
		return region->hva + (gpa - region->gpa);
	}
	return NULL;
}

int guest_memory_write(const struct guest_memory *mem, uint64_t gpa,
		       const void *src, size_t len)
{
	void *dst = guest_memory_ptr(mem, gpa, len);

	if (!dst)
		return -EFAULT;
	memcpy(dst, src, len);
	return 0;
}

int guest_memory_read(const struct guest_memory *mem, uint64_t gpa, void *dst,
		      size_t len)
{
	const void *src = guest_memory_ptr(mem, gpa, len);

	if (!src)
		return -EFAULT;
	memcpy(dst, src, len);
	return 0;
}

uint64_t guest_memory_low_end(const struct guest_memory *mem)
{
	return mem->region_count > 0 ? mem->regions[0].size : 0;
}

int guest_memory_dirty_start(struct guest_memory *mem)
{
	size_t pages = mem->mapping_size / GUEST_MEMORY_PAGE_SIZE;

	if (!mem->vmm_dirty) {
		mem->vmm_dirty_words = (pages + 63) / 64;
		mem->vmm_dirty =
			calloc(mem->vmm_dirty_words ? mem->vmm_dirty_words : 1,
			       sizeof(uint64_t));
		if (!mem->vmm_dirty)
			return -ENOMEM;
	}
	for (size_t w = 0; w < mem->vmm_dirty_words; w++)
		atomic_store_explicit(&mem->vmm_dirty[w], 0,
				      memory_order_relaxed);
	/* Release: a device thread that sees the flag sees the bitmap. */
	atomic_store_explicit(&mem->vmm_dirty_on, true, memory_order_release);
	return 0;
}

void guest_memory_mark_dirty(const struct guest_memory *mem, const void *hva,
			     size_t len)
{
	const uint8_t *p = hva;
	size_t first, last;

	if (!atomic_load_explicit(&mem->vmm_dirty_on, memory_order_acquire))
		return;
	if (!len || p < mem->mapping || p >= mem->mapping + mem->mapping_size)
		return;
	first = (size_t)(p - mem->mapping);
	if (len > mem->mapping_size - first)
		len = mem->mapping_size - first;
	last = (first + len - 1) / GUEST_MEMORY_PAGE_SIZE;
	first /= GUEST_MEMORY_PAGE_SIZE;
	for (size_t page = first; page <= last;) {
		size_t word = page / 64;
		unsigned bit = (unsigned)(page % 64);
		size_t n =
			last - page + 1 < 64 - bit ? last - page + 1 : 64 - bit;
		uint64_t bits = (n == 64 ? ~0ULL : ((1ULL << n) - 1)) << bit;

		/* Skip the locked OR when the bits are already set: the
		 * common case for a ring page written many times. */
		if ((atomic_load_explicit(&mem->vmm_dirty[word],
					  memory_order_relaxed) &
		     bits) != bits)
			atomic_fetch_or_explicit(&mem->vmm_dirty[word], bits,
						 memory_order_relaxed);
		page += n;
	}
}

void guest_memory_dirty_take(const struct guest_memory *mem, uint64_t *bitmap,
			     size_t words)
{
	if (!mem->vmm_dirty)
		return;
	if (words > mem->vmm_dirty_words)
		words = mem->vmm_dirty_words;
	for (size_t w = 0; w < words; w++)
		bitmap[w] |= atomic_exchange_explicit(&mem->vmm_dirty[w], 0,
						      memory_order_acq_rel);
}
