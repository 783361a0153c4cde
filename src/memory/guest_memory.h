/* Guest physical memory: anonymous host mappings laid out around the x86
 * 32-bit MMIO hole, with bounds-checked translation from guest physical
 * addresses. Every access the VMM makes on behalf of a guest or a loader goes
 * through guest_memory_ptr(), so a hostile address can never reach outside the
 * guest's RAM. */
#ifndef TERN_MEMORY_GUEST_MEMORY_H
#define TERN_MEMORY_GUEST_MEMORY_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GUEST_MEMORY_MAX_REGIONS 2

/* What backs guest RAM: ordinary anonymous pages (transparent huge pages
 * asked for), or 2 MiB pages from the host's hugetlbfs pool
 * (Firecracker's machine-config.huge_pages "2M"). */
enum guest_memory_backing {
	GUEST_MEMORY_ANONYMOUS,
	GUEST_MEMORY_HUGETLB_2M,
};

struct guest_memory_region {
	uint64_t gpa;
	uint64_t size;
	uint8_t *hva;
};

struct guest_memory {
	struct guest_memory_region regions[GUEST_MEMORY_MAX_REGIONS];
	int region_count;
	uint64_t ram_size; /* total bytes of RAM, as the user asked */
	uint8_t *mapping; /* one host mapping backing every region */
	size_t mapping_size;
	enum guest_memory_backing backing;

	/* Pages tern's own threads wrote (device rings and buffers), which
	 * KVM's dirty log never sees: one bit per 4 KiB page of `mapping`,
	 * set while vmm_dirty_on (see guest_memory_mark_dirty). */
	_Atomic uint64_t *vmm_dirty;
	size_t vmm_dirty_words;
	_Atomic bool vmm_dirty_on;

	/* Hotpluggable memory (virtio-mem, virtio/virtio_mem.h): the last
	 * hotplug_size bytes of `mapping`, after RAM, so snapshots, live
	 * migration and dirty tracking cover it like RAM. It is in no
	 * region (the e820 map and RAM's KVM slots never show it); the
	 * guest sees it at hotplug_gpa once the device is attached, and
	 * guest_memory_ptr() reaches only its plugged blocks (one bit per
	 * hotplug_block_size bytes in hotplug_plugged). */
	uint8_t *hotplug_hva;
	uint64_t hotplug_size;
	uint64_t hotplug_gpa;
	uint64_t hotplug_block_size;
	_Atomic uint64_t *hotplug_plugged;
};

#define GUEST_MEMORY_PAGE_SIZE 4096
/* Transparent huge page size on x86-64: guest RAM starts on this boundary. */
#define GUEST_MEMORY_HUGE_PAGE_SIZE (2u << 20)

/* Maps ram_size bytes of guest RAM: below the MMIO hole first, the rest from
 * 4 GiB up. Returns 0 or a negative errno. */
int guest_memory_init(struct guest_memory *mem, uint64_t ram_size);

/* guest_memory_init with a choice of backing. GUEST_MEMORY_HUGETLB_2M needs
 * ram_size to be a multiple of 2 MiB (-EINVAL otherwise) and reserves all
 * of it from the host's pool when mapping (-ENOMEM when the pool is too
 * small), so a short pool is an error now, not a SIGBUS when the guest
 * first touches a page the pool cannot give. */
int guest_memory_init_backed(struct guest_memory *mem, uint64_t ram_size,
			     enum guest_memory_backing backing);

/* The host's 2 MiB hugetlbfs pages that a new mapping can still reserve
 * (free_hugepages - resv_hugepages in sysfs_dir, normally
 * GUEST_MEMORY_HUGETLB_SYSFS). Returns 0 or a negative errno (-ENOENT: the
 * host kernel has no 2 MiB hugetlbfs pool). */
#define GUEST_MEMORY_HUGETLB_SYSFS "/sys/kernel/mm/hugepages/hugepages-2048kB"
int guest_memory_hugetlb_available(const char *sysfs_dir, uint64_t *pages);
void guest_memory_destroy(struct guest_memory *mem);

/* guest_memory_init_backed with hotplug_size more bytes mapped after RAM
 * for hotpluggable memory (0: none), backed the same way. Returns 0 or a
 * negative errno. */
int guest_memory_init_hotplug(struct guest_memory *mem, uint64_t ram_size,
			      enum guest_memory_backing backing,
			      uint64_t hotplug_size);

/* Places the hotpluggable memory at gpa in blocks of block_size (a power
 * of two dividing hotplug_size), every block unplugged. Once, before the
 * guest runs. Returns 0, -EINVAL (no hotplug memory, bad sizes, already
 * attached) or -ENOMEM. */
int guest_memory_hotplug_attach(struct guest_memory *mem, uint64_t gpa,
				uint64_t block_size);

/* Marks blocks [first, first+count) plugged or unplugged (the caller
 * checked the range). Any thread. */
void guest_memory_hotplug_mark(struct guest_memory *mem, uint64_t first,
			       uint64_t count, bool plugged);

/* How many of blocks [first, first+count) are plugged. */
uint64_t guest_memory_hotplug_count(const struct guest_memory *mem,
				    uint64_t first, uint64_t count);

/* Replaces the contents of guest RAM with a private (copy-on-write) mapping
 * of fd, at the same host addresses, so KVM's memory slots stay valid and
 * pages are read from the file only when first touched (snapshot restore).
 * hugetlbfs RAM cannot map a regular file: its contents are read in whole
 * instead, and RAM stays on huge pages. The file must hold at least
 * ram_size bytes. Returns 0 or a negative errno. */
int guest_memory_map_file(struct guest_memory *mem, int fd);

/* Empties guest RAM: a fresh anonymous mapping at the same host addresses
 * (KVM's memory slots stay valid), so every page reads as zero and the
 * host gets the old pages back, whether they were anonymous or a
 * snapshot's file. For a reset of the VM, with its vCPUs and device
 * threads away from guest memory. Returns 0 or a negative errno. */
int guest_memory_clear(struct guest_memory *mem);

/* Host pointer for [gpa, gpa+len), or NULL when any byte of the range lies
 * outside guest RAM and the plugged blocks of hotpluggable memory, or the
 * range crosses regions. len 0 is refused. */
void *guest_memory_ptr(const struct guest_memory *mem, uint64_t gpa,
		       uint64_t len);

/* Copy helpers over guest_memory_ptr(); return 0 or -EFAULT. */
int guest_memory_write(const struct guest_memory *mem, uint64_t gpa,
		       const void *src, size_t len);
int guest_memory_read(const struct guest_memory *mem, uint64_t gpa, void *dst,
		      size_t len);

/* Tracking of tern's own writes to guest RAM (for Diff snapshots and live
 * migration, merged with KVM's dirty log). start allocates the bitmap (once)
 * and clears it; call it with the VM paused. Returns 0 or -ENOMEM. */
int guest_memory_dirty_start(struct guest_memory *mem);

/* Records that tern wrote [hva, hva+len) of guest RAM. Costs one relaxed
 * load when tracking is off; an atomic OR per 64 pages when on, so any
 * thread may call it. Pointers outside RAM are ignored. */
void guest_memory_mark_dirty(const struct guest_memory *mem, const void *hva,
			     size_t len);

/* ORs the pages marked since the last call into bitmap (bit n: page n of
 * `mapping`, words = mapping_size / 4096 / 64 rounded up) and clears them. */
void guest_memory_dirty_take(const struct guest_memory *mem, uint64_t *bitmap,
			     size_t words);

/* End of RAM below the MMIO hole (exclusive). */
uint64_t guest_memory_low_end(const struct guest_memory *mem);

#endif
