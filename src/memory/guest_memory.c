#include "memory/guest_memory.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arch/x86/layout.h"
#include "util/log.h"

/* glibc's <sys/mman.h> has MAP_HUGE_SHIFT but not the size constants. */
#ifndef MAP_HUGE_2MB
#define MAP_HUGE_2MB (21 << MAP_HUGE_SHIFT)
#endif

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

/* The advice belongs to the mapping, so every mapping of guest RAM (the
 * first, a snapshot's file, a reset's fresh one) gets it again; a MAP_FIXED
 * remap without it would quietly drop THP for the rest of the VM's life.
 * MADV_HUGEPAGE covers hosts whose THP mode is "madvise"; it is only a hint,
 * and means nothing on hugetlbfs RAM, which is huge already. */
static void advise_ram(const struct guest_memory *mem, void *ram)
{
	if (mem->backing == GUEST_MEMORY_ANONYMOUS &&
	    mem->mapping_size >= GUEST_MEMORY_HUGE_PAGE_SIZE)
		(void)madvise(ram, mem->mapping_size, MADV_HUGEPAGE);
	keep_out_of_core_dumps(ram, mem->mapping_size);
}

/* Anonymous RAM starting on a 2 MiB boundary, with transparent huge pages
 * asked for (advise_ram). KVM maps guest memory with 2 MiB pages only where
 * the guest address and the host address agree modulo 2 MiB: a plain mmap
 * (not 2 MiB-aligned on Linux before 6.7) left every guest page mapped at
 * 4 KiB even with the host's THP on (measured in the test host: KVM's
 * pages_2m 0, pages_4k 67196 for a 512 MiB guest; aligned: pages_2m 131,
 * as QEMU, which aligns its RAM too). Large pages shorten the guest's
 * two-level page walks; with nested KVM every walk is expensive. Returns
 * NULL with errno set. */
static void *map_anonymous_ram(size_t size, void *at)
{
	size_t extra = !at && size >= GUEST_MEMORY_HUGE_PAGE_SIZE &&
			size <= SIZE_MAX - GUEST_MEMORY_HUGE_PAGE_SIZE
		? GUEST_MEMORY_HUGE_PAGE_SIZE
		: 0;
	uint8_t *raw, *ram;
	size_t head;

	raw = mmap(at, size + extra, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE |
			   (at ? MAP_FIXED : 0),
		   -1, 0);
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
	return ram;
}

/* 2 MiB hugetlbfs pages, always 2 MiB-aligned. Without MAP_NORESERVE: the
 * kernel reserves every page of the pool at mmap time and fails with
 * ENOMEM when it cannot, where MAP_NORESERVE (Firecracker's choice) would
 * let the VM start and die of SIGBUS on the first page the pool lacks.
 * The pages themselves are taken (and zeroed) only when first touched. */
static void *map_hugetlb_ram(size_t size, void *at)
{
	void *ram = mmap(at, size, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB |
				 MAP_HUGE_2MB | (at ? MAP_FIXED : 0),
			 -1, 0);

	return ram == MAP_FAILED ? NULL : ram;
}

/* at NULL: anywhere; otherwise over the old RAM (MAP_FIXED), so KVM's
 * memory slots stay valid. */
static void *map_ram(const struct guest_memory *mem, void *at)
{
	void *ram = mem->backing == GUEST_MEMORY_HUGETLB_2M
		? map_hugetlb_ram(mem->mapping_size, at)
		: map_anonymous_ram(mem->mapping_size, at);

	if (ram)
		advise_ram(mem, ram);
	return ram;
}

static int read_number(const char *dir, const char *name, uint64_t *value)
{
	char path[512], text[32];
	ssize_t n;
	char *end;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	if (n <= 0)
		return n < 0 ? -errno : -EINVAL;
	text[n] = '\0';
	errno = 0;
	*value = strtoull(text, &end, 10);
	if (errno || end == text || (*end && *end != '\n'))
		return -EINVAL;
	return 0;
}

int guest_memory_hugetlb_available(const char *sysfs_dir, uint64_t *pages)
{
	uint64_t free_pages, reserved;
	int ret = read_number(sysfs_dir, "free_hugepages", &free_pages);

	if (!ret)
		ret = read_number(sysfs_dir, "resv_hugepages", &reserved);
	if (ret)
		return ret;
	/* Reserved pages are counted free until their owner touches them. */
	*pages = free_pages > reserved ? free_pages - reserved : 0;
	return 0;
}

int guest_memory_init(struct guest_memory *mem, uint64_t ram_size)
{
	return guest_memory_init_backed(mem, ram_size, GUEST_MEMORY_ANONYMOUS);
}

int guest_memory_init_backed(struct guest_memory *mem, uint64_t ram_size,
			     enum guest_memory_backing backing)
{
	return guest_memory_init_hotplug(mem, ram_size, backing, 0);
}

int guest_memory_init_hotplug(struct guest_memory *mem, uint64_t ram_size,
			      enum guest_memory_backing backing,
			      uint64_t hotplug_size)
{
	uint64_t low_size;
	void *mapping;

	memset(mem, 0, sizeof(*mem));
	if (ram_size == 0 || ram_size > SIZE_MAX ||
	    hotplug_size > SIZE_MAX - ram_size ||
	    hotplug_size % GUEST_MEMORY_HUGE_PAGE_SIZE)
		return -EINVAL;
	if (backing == GUEST_MEMORY_HUGETLB_2M &&
	    ram_size % GUEST_MEMORY_HUGE_PAGE_SIZE)
		return -EINVAL;

	/* One mapping for all RAM keeps the host side contiguous (one
	 * madvise, one dump for snapshots); anonymous RAM is MAP_NORESERVE
	 * because the guest rarely touches all of it and overcommit should
	 * count only what it does. */
	mem->mapping_size = ram_size + hotplug_size;
	mem->backing = backing;
	mapping = map_ram(mem, NULL);
	if (!mapping) {
		int ret = -errno;

		memset(mem, 0, sizeof(*mem));
		return ret;
	}

	mem->mapping = mapping;
	mem->ram_size = ram_size;
	if (hotplug_size) {
		mem->hotplug_hva = (uint8_t *)mapping + ram_size;
		mem->hotplug_size = hotplug_size;
	}

	low_size = ram_size < LAYOUT_MMIO_HOLE_START ? ram_size
						     : LAYOUT_MMIO_HOLE_START;
	add_region(mem, 0, low_size, mapping);
	if (ram_size > low_size)
		add_region(mem, LAYOUT_MMIO_HOLE_END, ram_size - low_size,
			   (uint8_t *)mapping + low_size);
	return 0;
}

/* hugetlbfs RAM takes no regular file's pages: the contents are copied in,
 * every byte of RAM overwritten. */
static int read_file_into_ram(struct guest_memory *mem, int fd)
{
	size_t done = 0;

	while (done < mem->mapping_size) {
		ssize_t n = pread(fd, mem->mapping + done,
				  mem->mapping_size - done, (off_t)done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		done += (size_t)n;
	}
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
	if (mem->backing == GUEST_MEMORY_HUGETLB_2M)
		return read_file_into_ram(mem, fd);
	mapping = mmap(mem->mapping, mem->mapping_size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_FIXED | MAP_NORESERVE, fd, 0);
	if (mapping == MAP_FAILED)
		return -errno;
	advise_ram(mem, mapping);
	return 0;
}

int guest_memory_clear(struct guest_memory *mem)
{
	if (!mem->mapping)
		return -EINVAL;
	return map_ram(mem, mem->mapping) ? 0 : -errno;
}

void guest_memory_destroy(struct guest_memory *mem)
{
	if (mem->mapping)
		munmap(mem->mapping, mem->mapping_size);
	free((void *)mem->vmm_dirty);
	free((void *)mem->hotplug_plugged);
	memset(mem, 0, sizeof(*mem));
}

int guest_memory_hotplug_attach(struct guest_memory *mem, uint64_t gpa,
				uint64_t block_size)
{
	uint64_t blocks;

	if (!mem->hotplug_size || mem->hotplug_plugged || !block_size ||
	    (block_size & (block_size - 1)) || gpa % block_size ||
	    mem->hotplug_size % block_size ||
	    gpa > UINT64_MAX - mem->hotplug_size)
		return -EINVAL;
	blocks = mem->hotplug_size / block_size;
	mem->hotplug_plugged = calloc((blocks + 63) / 64, sizeof(uint64_t));
	if (!mem->hotplug_plugged)
		return -ENOMEM;
	mem->hotplug_gpa = gpa;
	mem->hotplug_block_size = block_size;
	return 0;
}

void guest_memory_hotplug_mark(struct guest_memory *mem, uint64_t first,
			       uint64_t count, bool plugged)
{
	for (uint64_t b = first; b < first + count; b++) {
		uint64_t bit = 1ULL << (b % 64);

		if (plugged)
			atomic_fetch_or_explicit(&mem->hotplug_plugged[b / 64],
						 bit, memory_order_release);
		else
			atomic_fetch_and_explicit(&mem->hotplug_plugged[b / 64],
						  ~bit, memory_order_release);
	}
}

uint64_t guest_memory_hotplug_count(const struct guest_memory *mem,
				    uint64_t first, uint64_t count)
{
	uint64_t n = 0;

	if (!mem->hotplug_plugged)
		return 0;
	for (uint64_t b = first; b < first + count;) {
		uint64_t word = atomic_load_explicit(
			&mem->hotplug_plugged[b / 64], memory_order_acquire);
		unsigned bit = (unsigned)(b % 64);
		uint64_t take = first + count - b < 64 - bit ? first + count - b
							     : 64 - bit;
		uint64_t mask =
			take == 64 ? ~0ULL : ((1ULL << take) - 1) << bit;

		n += (uint64_t)__builtin_popcountll(word & mask);
		b += take;
	}
	return n;
}

/* A device's access to hotpluggable memory: only inside plugged blocks,
 * so a guest cannot make tern read or populate memory it gave back. */
static void *hotplug_ptr(const struct guest_memory *mem, uint64_t gpa,
			 uint64_t len)
{
	uint64_t off, first, last;

	if (!mem->hotplug_plugged || gpa < mem->hotplug_gpa)
		return NULL;
	off = gpa - mem->hotplug_gpa;
	if (off >= mem->hotplug_size || len > mem->hotplug_size - off)
		return NULL;
	first = off / mem->hotplug_block_size;
	last = (off + len - 1) / mem->hotplug_block_size;
	if (guest_memory_hotplug_count(mem, first, last - first + 1) !=
	    last - first + 1)
		return NULL;
	return mem->hotplug_hva + off;
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
	return hotplug_ptr(mem, gpa, len);
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
