/* virtio-pmem (virtio 1.2+ spec, "PMEM Device", device ID 27): a host file
 * shown to the guest as persistent memory. The file is mapped into tern and
 * that mapping becomes a range of guest physical memory above RAM (the VM
 * registers it with KVM: vm/vm_pmem.c), so the guest's loads and stores
 * reach the file's pages directly; config space says where the range is
 * (start, size); the one request queue answers VIRTIO_PMEM_REQ_TYPE_FLUSH
 * by making the file durable (fdatasync). The guest's driver is Linux's
 * virtio_pmem (libnvdimm), which shows /dev/pmem0, /dev/pmem1, ... */
#ifndef TERN_VIRTIO_VIRTIO_PMEM_H
#define TERN_VIRTIO_VIRTIO_PMEM_H

#include <stdbool.h>
#include <stdint.h>

#include "util/error.h"
#include "util/rate_limiter.h"
#include "virtio/virtio_device.h"

#define VIRTIO_ID_PMEM_DEVICE 27
/* The guest range is whole 2 MiB pages (what Linux's memory hotplug and
 * DAX want); the file's last partial page is followed by anonymous memory
 * the file never sees. */
#define VIRTIO_PMEM_ALIGN (2ULL << 20)

/* A host file mapped for the guest. */
struct virtio_pmem_mapping {
	int fd;
	uint8_t *hva;
	uint64_t size; /* the mapping: file size rounded up to 2 MiB */
	uint64_t file_size;
	bool readonly;
};

/* Opens and maps path: shared and writable, or private and read-only
 * (readonly: the file is never written). An empty file, a directory or a
 * file larger than 1 TiB is refused. Returns 0 or a negative errno with
 * err set. */
int virtio_pmem_map_file(const char *path, bool readonly,
			 struct virtio_pmem_mapping *out,
			 struct tern_error *err);
void virtio_pmem_unmap(struct virtio_pmem_mapping *mapping);

/* The device for a mapping the guest sees at gpa; it takes the mapping
 * over (destroy unmaps it). NULL: out of memory (the mapping is then the
 * caller's still). Plug it with vm_add_virtio_device_id(). */
struct virtio_device *virtio_pmem_create(struct virtio_pmem_mapping *mapping,
					 uint64_t gpa);
/* The same with Firecracker's rate_limiter on flushes (NULL: none): each
 * costs one op and the file's size in bytes; a flush over the limit waits
 * in the ring until the limiter's timer fires. */
struct virtio_device *
virtio_pmem_create_limited(struct virtio_pmem_mapping *mapping, uint64_t gpa,
			   const struct rate_limiter_config *limit);

#endif
