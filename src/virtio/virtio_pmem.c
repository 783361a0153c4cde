#include "virtio/virtio_pmem.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/virtio_config.h>
#include <linux/virtio_pmem.h>

#include "devices/device.h"

/* A guest range of at most 1 TiB: far above anything a microVM maps, and
 * small enough that gpa + size cannot approach the CPU's address width. */
#define PMEM_MAX_SIZE (1ULL << 40)

/* Answers in the response's le32 ret (Linux reads anything but 0 as
 * -EIO). */
#define PMEM_RESP_OK 0
#define PMEM_RESP_ERROR 1

struct virtio_pmem {
	struct virtio_device vdev;
	struct virtio_pmem_mapping mapping;
	uint64_t gpa;
	/* Firecracker's pmem rate_limiter: one op and the file's size in
	 * bytes per flush (a flush writes back the whole file); held-back
	 * requests wait in the ring. */
	struct rate_limiter limiter;
	bool limiter_watched;
};

/* What a snapshot keeps: where the guest saw the range. A restore into a
 * range elsewhere or of another size (the file grew or shrank) would
 * show the guest's driver memory that is not what it mapped. The
 * limiter's state follows it (a state from before pmem limiters has
 * none). */
struct pmem_state {
	uint64_t gpa;
	uint64_t size;
};

static struct virtio_pmem *to_pmem(struct virtio_device *vdev)
{
	return container_of(vdev, struct virtio_pmem, vdev);
}

int virtio_pmem_map_file(const char *path, bool readonly,
			 struct virtio_pmem_mapping *out,
			 struct tern_error *err)
{
	int fd = open(path, (readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	struct stat st;
	uint8_t *hva, *file_part;
	uint64_t size;

	memset(out, 0, sizeof(*out));
	out->fd = -1;
	if (fd < 0)
		return tern_error_set(err, errno, "pmem %s: %s", path,
				      strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 ||
	    (uint64_t)st.st_size > PMEM_MAX_SIZE) {
		close(fd);
		return tern_error_set(err, EINVAL,
				      "pmem %s: not a regular file of 1 byte "
				      "to 1 TiB",
				      path);
	}
	size = ((uint64_t)st.st_size + VIRTIO_PMEM_ALIGN - 1) &
		~(VIRTIO_PMEM_ALIGN - 1);
	/* The whole range first, anonymous; then the file over its start:
	 * the tail past the file's end reads zeros instead of raising
	 * SIGBUS. */
	hva = mmap(NULL, size, PROT_READ | (readonly ? 0 : PROT_WRITE),
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (hva == MAP_FAILED) {
		close(fd);
		return tern_error_set(err, errno, "pmem %s: mmap: %s", path,
				      strerror(errno));
	}
	file_part =
		mmap(hva, (size_t)st.st_size,
		     PROT_READ | (readonly ? 0 : PROT_WRITE),
		     (readonly ? MAP_PRIVATE : MAP_SHARED) | MAP_FIXED, fd, 0);
	if (file_part == MAP_FAILED) {
		int saved = errno;

		munmap(hva, size);
		close(fd);
		return tern_error_set(err, saved, "pmem %s: mmap: %s", path,
				      strerror(saved));
	}
	/* Like guest RAM: the guest's data stays out of tern's core dumps. */
	(void)madvise(hva, size, MADV_DONTDUMP);
	*out = (struct virtio_pmem_mapping){
		.fd = fd,
		.hva = hva,
		.size = size,
		.file_size = (uint64_t)st.st_size,
		.readonly = readonly,
	};
	return 0;
}

void virtio_pmem_unmap(struct virtio_pmem_mapping *mapping)
{
	if (mapping->hva)
		munmap(mapping->hva, mapping->size);
	if (mapping->fd >= 0)
		close(mapping->fd);
	mapping->hva = NULL;
	mapping->fd = -1;
}

static void pmem_config_read(struct virtio_device *vdev, uint32_t offset,
			     void *data, uint32_t size)
{
	struct virtio_pmem *pmem = to_pmem(vdev);
	struct virtio_pmem_config config = {
		.start = pmem->gpa,
		.size = pmem->mapping.size,
	};

	memcpy(data, (uint8_t *)&config + offset, size);
}

/* Read-only config space (spec: the driver must not write it). */
static void pmem_config_write(struct virtio_device *vdev, uint32_t offset,
			      const void *data, uint32_t size)
{
}

/* The answer to one request. A read-only file has nothing to flush: its
 * mapping is private and the guest's writes never reach it. */
static uint32_t serve_request(struct virtio_pmem *pmem,
			      const struct virtq_chain *chain)
{
	struct virtio_pmem_req req;

	if (virtq_chain_read(chain, 0, &req, sizeof(req)) != sizeof(req) ||
	    req.type != VIRTIO_PMEM_REQ_TYPE_FLUSH)
		return PMEM_RESP_ERROR;
	if (pmem->mapping.readonly)
		return PMEM_RESP_OK;
	/* Blocks the device's I/O thread (and the guest's accesses to its
	 * registers) while the host writes the file back: a flush is rare
	 * (fsync, unmount) and the guest's driver waits for it anyway. */
	return fdatasync(pmem->mapping.fd) == 0 ? PMEM_RESP_OK
						: PMEM_RESP_ERROR;
}

static enum virtio_serve_result serve_chain(struct virtio_device *vdev,
					    struct virtq_chain *chain,
					    uint32_t *written)
{
	struct virtio_pmem *pmem = to_pmem(vdev);
	struct virtio_pmem_resp resp;

	if (!rate_limiter_consume(&pmem->limiter, pmem->mapping.file_size)) {
		/* Back to the ring until the limiter's timer fires. */
		virtio_stat_add(&vdev->stats.rate_limiter_throttled, 1);
		return VIRTIO_SERVE_LATER;
	}
	resp = (struct virtio_pmem_resp){.ret = serve_request(pmem, chain)};
	*written = (uint32_t)virtq_chain_write(chain, 0, &resp, sizeof(resp));
	virtio_stat_add(&vdev->stats.requests, 1);
	virtio_stat_add(&vdev->stats.bytes_read, chain->readable_len);
	virtio_stat_add(&vdev->stats.bytes_written, *written);
	/* A chain without room for the answer is the guest's error; it is
	 * handed back all the same. */
	if (resp.ret != PMEM_RESP_OK || *written != sizeof(resp))
		virtio_stat_add(&vdev->stats.errors, 1);
	return VIRTIO_SERVE_PUSH;
}

static void pmem_queue_notify(struct virtio_device *vdev, uint16_t q)
{
	virtio_device_serve_queue(vdev, q, serve_chain);
}

static void pmem_limiter_ready(struct virtio_device *vdev, int fd,
			       uint32_t events)
{
	rate_limiter_timer_fired(&to_pmem(vdev)->limiter);
	if (vdev->queues[0].enabled &&
	    (vdev->status & VIRTIO_CONFIG_S_DRIVER_OK) &&
	    !(vdev->status & VIRTIO_CONFIG_S_NEEDS_RESET))
		pmem_queue_notify(vdev, 0);
}

static int pmem_activate(struct virtio_device *vdev)
{
	struct virtio_pmem *pmem = to_pmem(vdev);
	int ret;

	if (pmem->limiter_watched)
		return 0;
	ret = virtio_device_watch_fd(vdev,
				     rate_limiter_timer_fd(&pmem->limiter),
				     EPOLLIN, pmem_limiter_ready);
	if (!ret)
		pmem->limiter_watched = true;
	return ret;
}

static void pmem_reset(struct virtio_device *vdev)
{
	rate_limiter_unblock(&to_pmem(vdev)->limiter);
}

static int pmem_update_rate_limiter(struct virtio_device *vdev, unsigned which,
				    const struct rate_limiter_update *update)
{
	if (which != 0)
		return -ENOENT;
	rate_limiter_update(&to_pmem(vdev)->limiter, update);
	return 0;
}

static void pmem_destroy(struct virtio_device *vdev)
{
	struct virtio_pmem *pmem = to_pmem(vdev);

	virtio_pmem_unmap(&pmem->mapping);
	rate_limiter_destroy(&pmem->limiter);
	free(pmem);
}

/* Requests are answered at once: no state but the range and the limiter;
 * the contents live in the file (a shared mapping). */
static int pmem_save(struct virtio_device *vdev, void *buf, size_t *len)
{
	struct virtio_pmem *pmem = to_pmem(vdev);
	struct pmem_state state = {pmem->gpa, pmem->mapping.size};
	struct rate_limiter_state limiter;

	if (*len < sizeof(state) + sizeof(limiter))
		return -ENOSPC;
	rate_limiter_save(&pmem->limiter, &limiter);
	memcpy(buf, &state, sizeof(state));
	memcpy((uint8_t *)buf + sizeof(state), &limiter, sizeof(limiter));
	*len = sizeof(state) + sizeof(limiter);
	return 0;
}

static int pmem_check(struct virtio_device *vdev, const void *buf, size_t len)
{
	struct virtio_pmem *pmem = to_pmem(vdev);
	struct pmem_state state;
	struct rate_limiter_state limiter;

	if (len != sizeof(state) && len != sizeof(state) + sizeof(limiter))
		return -EINVAL;
	memcpy(&state, buf, sizeof(state));
	if (len > sizeof(state)) {
		memcpy(&limiter, (const uint8_t *)buf + sizeof(state),
		       sizeof(limiter));
		if (rate_limiter_state_check(&limiter))
			return -EINVAL;
	}
	if (state.gpa != pmem->gpa || state.size != pmem->mapping.size) {
		log_error("virtio-pmem: the snapshot's device is %llu bytes "
			  "at 0x%llx, this one %llu bytes at 0x%llx (the "
			  "file's size changed?)",
			  (unsigned long long)state.size,
			  (unsigned long long)state.gpa,
			  (unsigned long long)pmem->mapping.size,
			  (unsigned long long)pmem->gpa);
		return -EINVAL;
	}
	return 0;
}

static int pmem_restore(struct virtio_device *vdev, const void *buf, size_t len)
{
	struct pmem_state state;
	struct rate_limiter_state limiter;
	int ret = pmem_check(vdev, buf, len);

	if (ret || len == sizeof(state))
		return ret;
	memcpy(&limiter, (const uint8_t *)buf + sizeof(state), sizeof(limiter));
	rate_limiter_restore(&to_pmem(vdev)->limiter, &limiter);
	return 0;
}

static const struct virtio_device_ops virtio_pmem_ops = {
	.name = "virtio-pmem",
	.device_id = VIRTIO_ID_PMEM_DEVICE,
	.config_read = pmem_config_read,
	.config_write = pmem_config_write,
	.queue_notify = pmem_queue_notify,
	.destroy = pmem_destroy,
	.save = pmem_save,
	.restore = pmem_restore,
	.check = pmem_check,
	.activate = pmem_activate,
	.reset = pmem_reset,
	.update_rate_limiter = pmem_update_rate_limiter,
};

struct virtio_device *
virtio_pmem_create_limited(struct virtio_pmem_mapping *mapping, uint64_t gpa,
			   const struct rate_limiter_config *limit)
{
	static const struct rate_limiter_config no_limit;
	struct virtio_pmem *pmem = calloc(1, sizeof(*pmem));
	struct tern_error err;

	if (!pmem)
		return NULL;
	if (rate_limiter_init(&pmem->limiter, limit ? limit : &no_limit,
			      &err)) {
		log_error("virtio-pmem: %s", err.message);
		free(pmem);
		return NULL;
	}
	/* No features (VIRTIO_PMEM_F_SHMEM_REGION is for transports with
	 * shared memory regions); one request queue. */
	if (virtio_device_init(&pmem->vdev, &virtio_pmem_ops, 1, 0,
			       sizeof(struct virtio_pmem_config))) {
		rate_limiter_destroy(&pmem->limiter);
		free(pmem);
		return NULL;
	}
	pmem->mapping = *mapping;
	pmem->gpa = gpa;
	mapping->hva = NULL;
	mapping->fd = -1;
	return &pmem->vdev;
}

struct virtio_device *virtio_pmem_create(struct virtio_pmem_mapping *mapping,
					 uint64_t gpa)
{
	return virtio_pmem_create_limited(mapping, gpa, NULL);
}
