/* Fuzz target: virtio-blk requests (src/virtio/virtio_blk.c and its
 * decoder) from a hostile driver, on a 1 MiB image in /dev/shm and either
 * block engine, requests completing through the watched completion fd.
 * The image has a partial sector after its last whole one, as Firecracker
 * takes such files: no request may reach it (checked after each input). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_virtio.h"
#include "virtio/virtio_blk.h"

#define IMAGE_SIZE (1u << 20)
#define TAIL_SIZE 100
#define TAIL_BYTE 0xe7

static char image_path[64];

static void remove_image(void)
{
	unlink(image_path);
}

static const char *image(void)
{
	uint8_t tail[TAIL_SIZE];
	int fd;

	if (image_path[0])
		return image_path;
	snprintf(image_path, sizeof(image_path), "/dev/shm/tern-fuzz-blk-%d",
		 (int)getpid());
	fd = open(image_path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	memset(tail, TAIL_BYTE, sizeof(tail));
	if (fd < 0 || pwrite(fd, tail, sizeof(tail), IMAGE_SIZE) != TAIL_SIZE)
		abort();
	close(fd);
	atexit(remove_image);
	return image_path;
}

/* The partial sector is as written and the file as long as it was. */
static void check_tail(void)
{
	uint8_t tail[TAIL_SIZE + 1];
	int fd = open(image_path, O_RDONLY);
	ssize_t n = fd < 0 ? -1 : pread(fd, tail, sizeof(tail), IMAGE_SIZE);

	if (fd >= 0)
		close(fd);
	if (n != TAIL_SIZE)
		abort();
	for (size_t i = 0; i < TAIL_SIZE; i++)
		if (tail[i] != TAIL_BYTE)
			abort();
}

static unsigned failures_in_a_row;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = fuzz_input_of(data, size);
	uint8_t setup = fuzz_u8(&in);
	struct virtio_blk_options opts = {
		.path = image(),
		.readonly = setup & 1,
		.id = "fuzz-disk",
		.engine = (setup & 2) ? BLOCK_ENGINE_THREADS
				      : BLOCK_ENGINE_IO_URING,
	};
	struct tern_error err = {{0}};
	struct virtio_device *vdev;
	struct fuzz_driver d;

	/* Seen once in a CI run after ~8,700 inputs, not reproducible from the
	 * saved input alone: creation failed for a reason of the process's
	 * accumulated state, not of this input (it chooses only read-only and
	 * the engine). Said and skipped; a target whose creations keep failing
	 * is broken and stops. */
	if (virtio_blk_create(&opts, &vdev, &err)) {
		fprintf(stderr,
			"virtio_blk fuzz: cannot create the device: %s\n",
			err.message);
		if (++failures_in_a_row > 100)
			abort();
		return 0;
	}
	failures_in_a_row = 0;
	fuzz_driver_init(&d, vdev->queue_count);
	fuzz_device_attach(&d, vdev, &in);
	fuzz_device_run(&d, &in);
	check_tail();
	return 0;
}
