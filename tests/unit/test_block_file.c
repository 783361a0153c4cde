#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <seccomp.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backends/block_queue.h"

#define IMAGE_SIZE (1u << 20)

struct fixture {
	char path[128];
	enum block_engine engine;
	struct block_file file;
	struct block_queue *queue;
	bool open;
};

struct outcome {
	int result;
	int calls;
};

static void record_done(struct block_request *req, int result)
{
	struct outcome *out = req->opaque;

	out->result = result;
	out->calls++;
}

static void make_image(const char *path, off_t size)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, size), 0);
	close(fd);
}

static int fixture_open(struct fixture *f, bool readonly,
			enum block_cache_mode cache)
{
	struct tern_error err = {{0}};
	int ret = block_file_open(&f->file, f->path, readonly, cache, &err);

	if (ret)
		return ret;
	ret = block_queue_create(&f->queue, &f->file, f->engine, 16, &err);
	if (ret) {
		print_message("# %s\n", err.message);
		block_file_close(&f->file);
		return ret;
	}
	f->open = true;
	return 0;
}

static void fixture_close(struct fixture *f)
{
	if (!f->open)
		return;
	block_queue_destroy(f->queue);
	block_file_close(&f->file);
	f->open = false;
}

static int setup_in(void **state, enum block_engine engine, const char *dir)
{
	struct fixture *f = calloc(1, sizeof(*f));

	f->engine = engine;
	snprintf(f->path, sizeof(f->path), "%s/tern-block-XXXXXX", dir);
	close(mkstemp(f->path));
	make_image(f->path, IMAGE_SIZE);
	*state = f;
	return 0;
}

static int setup_uring(void **state)
{
	return setup_in(state, BLOCK_ENGINE_IO_URING, "/tmp");
}

static int setup_threads(void **state)
{
	return setup_in(state, BLOCK_ENGINE_THREADS, "/tmp");
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	fixture_close(f);
	unlink(f->path);
	free(f);
	return 0;
}

static void open_or_skip(struct fixture *f, bool readonly,
			 enum block_cache_mode cache)
{
	int ret = fixture_open(f, readonly, cache);

	if (ret == -ENOSYS || ret == -EPERM ||
	    (ret && f->engine == BLOCK_ENGINE_IO_URING)) {
		print_message("# io_uring unavailable here (%d)\n", ret);
		skip();
	}
	assert_int_equal(ret, 0);
}

/* Submits one request and waits for it; returns its result. */
static int run(struct fixture *f, enum block_op op, uint64_t offset,
	       const struct iovec *iov, int count, uint64_t length)
{
	struct outcome out = {0, 0};
	struct block_request req = {
		.op = op,
		.offset = offset,
		.iov = iov,
		.iov_count = count,
		.length = length,
		.done = record_done,
		.opaque = &out,
	};
	int ret = block_queue_submit(f->queue, &req);

	if (ret)
		return ret;
	block_queue_drain(f->queue);
	assert_int_equal(out.calls, 1);
	return out.result;
}

static int run_io(struct fixture *f, enum block_op op, uint64_t offset,
		  void *buf, size_t len)
{
	struct iovec iov = {buf, len};

	return run(f, op, offset, &iov, 1, 0);
}

static void assert_filled(const uint8_t *buf, size_t len, uint8_t value)
{
	for (size_t i = 0; i < len; i++)
		if (buf[i] != value)
			fail_msg("byte %zu is 0x%x, not 0x%x", i, buf[i],
				 value);
}

static void write_then_read_back(void **state)
{
	struct fixture *f = *state;
	static uint8_t a[4096], b[512], c[1536], back[6144];
	struct iovec iov[3] = {{a, sizeof(a)}, {b, sizeof(b)}, {c, sizeof(c)}};

	open_or_skip(f, false, BLOCK_CACHE_WRITEBACK);
	memset(a, 0xa1, sizeof(a));
	memset(b, 0xb2, sizeof(b));
	memset(c, 0xc3, sizeof(c));
	assert_int_equal(run(f, BLOCK_OP_WRITE, 8192, iov, 3, 0), 0);
	assert_int_equal(run_io(f, BLOCK_OP_READ, 8192, back, sizeof(back)), 0);
	assert_filled(back, 4096, 0xa1);
	assert_filled(back + 4096, 512, 0xb2);
	assert_filled(back + 4608, 1536, 0xc3);
	/* The last sector of the image is reachable. */
	assert_int_equal(run_io(f, BLOCK_OP_WRITE, IMAGE_SIZE - 512, b, 512),
			 0);
	assert_int_equal(run_io(f, BLOCK_OP_READ, IMAGE_SIZE - 512, back, 512),
			 0);
	assert_filled(back, 512, 0xb2);
}

/* Submits n writes, request i of page bufs[i] to offset i * 4096, each
 * recording its outcome in out[i]. */
static void submit_page_writes(struct fixture *f, int n, uint8_t (*bufs)[4096],
			       struct block_request *reqs, struct iovec *iov,
			       struct outcome *out)
{
	for (int i = 0; i < n; i++) {
		iov[i] = (struct iovec){bufs[i], 4096};
		out[i] = (struct outcome){-1, 0};
		reqs[i] = (struct block_request){
			.op = BLOCK_OP_WRITE,
			.offset = (uint64_t)i * 4096,
			.iov = &iov[i],
			.iov_count = 1,
			.done = record_done,
			.opaque = &out[i],
		};
		assert_int_equal(block_queue_submit(f->queue, &reqs[i]), 0);
	}
}

static void many_requests_in_flight(void **state)
{
	struct fixture *f = *state;
	static uint8_t bufs[16][4096], back[16 * 4096];
	struct block_request reqs[16];
	struct iovec iov[16];
	struct outcome out[16];

	open_or_skip(f, false, BLOCK_CACHE_WRITEBACK);
	for (int i = 0; i < 16; i++)
		memset(bufs[i], i + 1, sizeof(bufs[i]));
	submit_page_writes(f, 16, bufs, reqs, iov, out);
	assert_int_equal(block_queue_in_flight(f->queue), 16);
	/* depth 16: one more waits for room */
	assert_int_equal(block_queue_submit(f->queue, &reqs[0]), -EBUSY);
	block_queue_drain(f->queue);
	for (int i = 0; i < 16; i++) {
		assert_int_equal(out[i].calls, 1);
		assert_int_equal(out[i].result, 0);
	}
	assert_int_equal(run_io(f, BLOCK_OP_READ, 0, back, sizeof(back)), 0);
	for (int i = 0; i < 16; i++)
		assert_filled(back + i * 4096, 4096, (uint8_t)(i + 1));
}

/* The threads engine raises its event fd once for a batch of completions
 * that nobody reaped yet (each raise wakes the device's I/O thread), and
 * the batch is still delivered whole, each request exactly once. */
static void threads_signal_once_per_batch(void **state)
{
	struct fixture *f = *state;
	static uint8_t bufs[16][4096];
	struct block_request reqs[16];
	struct iovec iov[16];
	struct outcome out[16];

	open_or_skip(f, false, BLOCK_CACHE_WRITEBACK);
	for (int round = 0; round < 3; round++) {
		int n = round == 1 ? 1 : 16;
		uint64_t raised = 0;

		submit_page_writes(f, n, bufs, reqs, iov, out);
		block_queue_kick(f->queue);
		usleep(300 * 1000); /* every worker is done by then */
		assert_int_equal(read(block_queue_event_fd(f->queue), &raised,
				      sizeof(raised)),
				 sizeof(raised));
		block_queue_complete(f->queue);
		assert_int_equal(block_queue_in_flight(f->queue), 0);
		assert_int_equal(raised, 1);
		for (int i = 0; i < n; i++) {
			assert_int_equal(out[i].calls, 1);
			assert_int_equal(out[i].result, 0);
		}
	}
}

static void flush_succeeds(void **state)
{
	struct fixture *f = *state;
	static uint8_t buf[512];

	open_or_skip(f, false, BLOCK_CACHE_WRITEBACK);
	assert_int_equal(run_io(f, BLOCK_OP_WRITE, 0, buf, sizeof(buf)), 0);
	assert_int_equal(run(f, BLOCK_OP_FLUSH, 0, NULL, 0, 0), 0);
}

static void fill(struct fixture *f, uint64_t offset, size_t len, uint8_t v)
{
	uint8_t *buf = malloc(len);

	memset(buf, v, len);
	assert_int_equal(run_io(f, BLOCK_OP_WRITE, offset, buf, len), 0);
	free(buf);
}

static void check_zeroed_between(struct fixture *f, uint64_t start,
				 uint64_t len)
{
	uint8_t *buf = malloc(len + 8192);

	assert_int_equal(
		run_io(f, BLOCK_OP_READ, start - 4096, buf, len + 8192), 0);
	assert_filled(buf, 4096, 0x5a);
	assert_filled(buf + 4096, len, 0);
	assert_filled(buf + 4096 + len, 4096, 0x5a);
	free(buf);
}

static void discard_makes_zeros(void **state)
{
	struct fixture *f = *state;

	open_or_skip(f, false, BLOCK_CACHE_WRITEBACK);
	fill(f, 0, 256 * 1024, 0x5a);
	/* /tmp's ext4 punches holes (so do xfs, btrfs, tmpfs); elsewhere a
	 * discard may keep the data, which virtio-blk allows. */
	assert_int_equal(run(f, BLOCK_OP_DISCARD, 65536, NULL, 0, 65536), 0);
	check_zeroed_between(f, 65536, 65536);
}

static void write_zeroes_makes_zeros(void **state)
{
	struct fixture *f = *state;

	open_or_skip(f, false, BLOCK_CACHE_WRITEBACK);
	fill(f, 0, 256 * 1024, 0x5a);
	/* Not page-aligned: a partial block is zeroed too. */
	assert_int_equal(run(f, BLOCK_OP_WRITE_ZEROES, 8192 + 512, NULL, 0,
			     3 * 4096 + 1024),
			 0);
	check_zeroed_between(f, 8192 + 512, 3 * 4096 + 1024);
}

/* tmpfs has no FALLOC_FL_ZERO_RANGE: write-zeroes falls back to writing
 * zeros, bigger than the 1 MiB zero buffer too. */
static void write_zeroes_without_zero_range(void **state)
{
	struct fixture *f = *state;
	char path[128];

	if (access("/dev/shm", W_OK)) {
		skip();
		return;
	}
	snprintf(path, sizeof(path), "/dev/shm/tern-block-XXXXXX");
	close(mkstemp(path));
	make_image(path, 4 << 20);
	unlink(f->path);
	strcpy(f->path, path);
	open_or_skip(f, false, BLOCK_CACHE_WRITEBACK);
	fill(f, 0, 4 << 20, 0x5a);
	assert_int_equal(
		run(f, BLOCK_OP_WRITE_ZEROES, 4096, NULL, 0, (3 << 20) + 512),
		0);
	check_zeroed_between(f, 4096, (3 << 20) + 512);
	/* the second one takes the fallback straight away */
	assert_int_equal(run(f, BLOCK_OP_WRITE_ZEROES, 4096, NULL, 0, 512), 0);
}

static void readonly_refuses_changes(void **state)
{
	struct fixture *f = *state;
	static uint8_t buf[512];

	open_or_skip(f, true, BLOCK_CACHE_WRITEBACK);
	assert_int_equal(run_io(f, BLOCK_OP_READ, 0, buf, sizeof(buf)), 0);
	assert_int_equal(run_io(f, BLOCK_OP_WRITE, 0, buf, sizeof(buf)),
			 -EROFS);
	assert_int_equal(run(f, BLOCK_OP_DISCARD, 0, NULL, 0, 512), -EROFS);
	assert_int_equal(run(f, BLOCK_OP_WRITE_ZEROES, 0, NULL, 0, 512),
			 -EROFS);
	assert_int_equal(run(f, BLOCK_OP_FLUSH, 0, NULL, 0, 0), 0);
}

static void out_of_range_is_refused(void **state)
{
	struct fixture *f = *state;
	static uint8_t buf[1024];

	open_or_skip(f, false, BLOCK_CACHE_WRITEBACK);
	assert_int_equal(run_io(f, BLOCK_OP_READ, IMAGE_SIZE, buf, 512),
			 -ERANGE);
	assert_int_equal(run_io(f, BLOCK_OP_WRITE, IMAGE_SIZE - 512, buf, 1024),
			 -ERANGE);
	assert_int_equal(run_io(f, BLOCK_OP_READ, UINT64_MAX - 511, buf, 1024),
			 -ERANGE);
	assert_int_equal(run(f, BLOCK_OP_DISCARD, 512, NULL, 0, UINT64_MAX),
			 -ERANGE);
	assert_int_equal(
		run(f, BLOCK_OP_WRITE_ZEROES, IMAGE_SIZE, NULL, 0, 512),
		-ERANGE);
	/* malformed: no buffers, no length */
	assert_int_equal(run(f, BLOCK_OP_READ, 0, NULL, 0, 0), -EINVAL);
	assert_int_equal(run(f, BLOCK_OP_DISCARD, 0, NULL, 0, 0), -EINVAL);
	assert_int_equal(run(f, (enum block_op)99, 0, NULL, 0, 0), -EINVAL);
	assert_int_equal(block_queue_in_flight(f->queue), 0);
}

/* Writes `len` bytes of `value` at the end of the file (its size grows). */
static void append_bytes(const char *path, size_t len, uint8_t value)
{
	uint8_t buf[512];
	int fd = open(path, O_WRONLY | O_APPEND);

	assert_true(fd >= 0 && len <= sizeof(buf));
	memset(buf, value, len);
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	close(fd);
}

/* The bytes of the file past `offset` (at most 512) all hold value. */
static void assert_file_tail(const char *path, uint64_t offset, size_t len,
			     uint8_t value)
{
	uint8_t buf[512];
	struct stat st;
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0 && len <= sizeof(buf));
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_size, offset + len);
	assert_int_equal(pread(fd, buf, len, (off_t)offset), (ssize_t)len);
	assert_filled(buf, len, value);
	close(fd);
}

/* As Firecracker: an image of 1 MiB + 100 bytes is a disk of 2048 sectors;
 * every request stops at the last whole sector, and the 100 bytes past it
 * are never read or written, by any operation. */
static void odd_sized_image_hides_its_partial_sector(void **state)
{
	struct fixture *f = *state;
	static uint8_t buf[1024], back[512];

	append_bytes(f->path, 100, 0xe7);
	open_or_skip(f, false, BLOCK_CACHE_WRITEBACK);
	assert_int_equal(f->file.size, IMAGE_SIZE);
	assert_int_equal(f->file.hidden_bytes, 100);
	/* the last whole sector is the disk's last */
	memset(buf, 0x4c, sizeof(buf));
	assert_int_equal(run_io(f, BLOCK_OP_WRITE, IMAGE_SIZE - 512, buf, 512),
			 0);
	assert_int_equal(run_io(f, BLOCK_OP_READ, IMAGE_SIZE - 512, back, 512),
			 0);
	assert_filled(back, 512, 0x4c);
	/* the partial sector is not: as past the end of any disk */
	assert_int_equal(run_io(f, BLOCK_OP_READ, IMAGE_SIZE, back, 512),
			 -ERANGE);
	assert_int_equal(run_io(f, BLOCK_OP_WRITE, IMAGE_SIZE, buf, 512),
			 -ERANGE);
	assert_int_equal(run_io(f, BLOCK_OP_WRITE, IMAGE_SIZE - 512, buf, 1024),
			 -ERANGE);
	assert_int_equal(
		run(f, BLOCK_OP_WRITE_ZEROES, IMAGE_SIZE, NULL, 0, 512),
		-ERANGE);
	assert_int_equal(
		run(f, BLOCK_OP_DISCARD, IMAGE_SIZE - 512, NULL, 0, 1024),
		-ERANGE);
	/* zeroing and discarding up to the end stop there too */
	assert_int_equal(
		run(f, BLOCK_OP_WRITE_ZEROES, IMAGE_SIZE - 8192, NULL, 0, 8192),
		0);
	assert_int_equal(
		run(f, BLOCK_OP_DISCARD, IMAGE_SIZE - 65536, NULL, 0, 65536),
		0);
	assert_int_equal(run(f, BLOCK_OP_FLUSH, 0, NULL, 0, 0), 0);
	fixture_close(f);
	assert_file_tail(f->path, IMAGE_SIZE, 100, 0xe7);
}

/* A disk smaller than one sector is a disk of no sectors. */
static void image_below_one_sector_has_no_sectors(void **state)
{
	struct fixture *f = *state;
	static uint8_t buf[512];

	make_image(f->path, 0);
	append_bytes(f->path, 511, 0xe7);
	open_or_skip(f, false, BLOCK_CACHE_WRITEBACK);
	assert_int_equal(f->file.size, 0);
	assert_int_equal(f->file.hidden_bytes, 511);
	assert_int_equal(run_io(f, BLOCK_OP_WRITE, 0, buf, 512), -ERANGE);
	fixture_close(f);
	assert_file_tail(f->path, 0, 511, 0xe7);
}

/* A file the guest resized (refresh_size) is read the same way. */
static void refreshed_size_hides_the_partial_sector(void **state)
{
	struct fixture *f = *state;
	struct tern_error err = {{0}};

	open_or_skip(f, false, BLOCK_CACHE_WRITEBACK);
	assert_int_equal(f->file.hidden_bytes, 0);
	append_bytes(f->path, 512, 0xe7);
	append_bytes(f->path, 7, 0xe7);
	assert_int_equal(block_file_refresh_size(&f->file, f->path, &err), 0);
	assert_int_equal(f->file.size, IMAGE_SIZE + 512);
	assert_int_equal(f->file.hidden_bytes, 7);
}

static void cache_none_keeps_off_the_partial_sector(void **state)
{
	struct fixture *f = *state;
	uint8_t *buf = NULL;
	int ret;

	append_bytes(f->path, 300, 0xe7);
	ret = fixture_open(f, false, BLOCK_CACHE_NONE);
	if (ret == -EINVAL) {
		print_message("# no O_DIRECT on this file system\n");
		skip();
	}
	if (ret && f->engine == BLOCK_ENGINE_IO_URING)
		skip();
	assert_int_equal(ret, 0);
	assert_int_equal(f->file.size, IMAGE_SIZE);
	assert_int_equal(posix_memalign((void **)&buf, 4096, 8192), 0);
	memset(buf, 0x4c, 8192);
	/* aligned (the O_DIRECT descriptor) and unaligned (the buffered one) */
	assert_int_equal(
		run_io(f, BLOCK_OP_WRITE, IMAGE_SIZE - 4096, buf, 4096), 0);
	assert_int_equal(
		run_io(f, BLOCK_OP_WRITE, IMAGE_SIZE - 512, buf + 1, 512), 0);
	assert_int_equal(
		run_io(f, BLOCK_OP_WRITE, IMAGE_SIZE - 4096, buf, 8192),
		-ERANGE);
	assert_int_equal(run_io(f, BLOCK_OP_READ, IMAGE_SIZE - 4096, buf, 4096),
			 0);
	free(buf);
	fixture_close(f);
	assert_file_tail(f->path, IMAGE_SIZE, 300, 0xe7);
}

static void non_images_are_refused(void **state)
{
	struct block_file file;
	struct tern_error err = {{0}};

	assert_int_equal(block_file_open(&file, "/dev/null", false,
					 BLOCK_CACHE_WRITEBACK, &err),
			 -EINVAL);
	assert_non_null(strstr(err.message, "not a regular file"));
	assert_int_equal(block_file_open(&file, "/nonexistent/disk.img", false,
					 BLOCK_CACHE_WRITEBACK, &err),
			 -ENOENT);
}

static void short_image_ends_where_its_size_says(void **state)
{
	struct fixture *f = *state;
	static uint8_t buf[1024];

	make_image(f->path, 1536); /* three sectors */
	open_or_skip(f, false, BLOCK_CACHE_WRITEBACK);
	assert_int_equal(f->file.size, 1536);
	assert_int_equal(run_io(f, BLOCK_OP_READ, 512, buf, 1024), 0);
	assert_int_equal(run_io(f, BLOCK_OP_READ, 1024, buf, 1024), -ERANGE);
}

static void second_writer_is_locked_out(void **state)
{
	struct fixture *f = *state;
	struct block_file a, b;
	struct tern_error err = {{0}};

	assert_int_equal(block_file_open(&a, f->path, false,
					 BLOCK_CACHE_WRITEBACK, &err),
			 0);
	assert_int_equal(block_file_open(&b, f->path, false,
					 BLOCK_CACHE_WRITEBACK, &err),
			 -EBUSY);
	assert_non_null(strstr(err.message, "locked"));
	assert_int_equal(
		block_file_open(&b, f->path, true, BLOCK_CACHE_WRITEBACK, &err),
		-EBUSY);
	block_file_close(&a);
	/* readers share */
	assert_int_equal(
		block_file_open(&a, f->path, true, BLOCK_CACHE_WRITEBACK, &err),
		0);
	assert_int_equal(
		block_file_open(&b, f->path, true, BLOCK_CACHE_WRITEBACK, &err),
		0);
	block_file_close(&b);
	block_file_close(&a);
}

/* A live migration's hand-over: the destination opens the image while the
 * source holds the lock, and takes the lock once the source released it. */
static void lock_is_handed_over(void **state)
{
	struct fixture *f = *state;
	struct block_file src, dst;
	struct tern_error err = {{0}};

	assert_int_equal(block_file_open(&src, f->path, false,
					 BLOCK_CACHE_WRITEBACK, &err),
			 0);
	assert_true(src.locked);
	assert_int_equal(block_file_open_unlocked(&dst, f->path, false,
						  BLOCK_CACHE_WRITEBACK, &err),
			 0);
	assert_false(dst.locked);
	assert_int_equal(dst.size, src.size);
	assert_int_equal(block_file_lock(&dst, f->path, &err), -EBUSY);
	assert_non_null(strstr(err.message, "locked"));
	assert_false(dst.locked);
	assert_int_equal(block_file_sync(&src), 0);
	assert_int_equal(block_file_unlock(&src), 0);
	assert_false(src.locked);
	assert_int_equal(block_file_unlock(&src), 0); /* idempotent */
	assert_int_equal(block_file_lock(&dst, f->path, &err), 0);
	assert_true(dst.locked);
	assert_int_equal(block_file_lock(&dst, f->path, &err), 0);
	/* The source cannot take it back while the destination holds it. */
	assert_int_equal(block_file_lock(&src, f->path, &err), -EBUSY);
	block_file_close(&dst);
	assert_int_equal(block_file_lock(&src, f->path, &err), 0);
	block_file_close(&src);
}

static void cache_none_handles_aligned_and_unaligned_buffers(void **state)
{
	struct fixture *f = *state;
	uint8_t *buf = NULL, *back = NULL, plain[512];
	int fd, ret = fixture_open(f, false, BLOCK_CACHE_NONE);

	if (ret == -EINVAL) {
		print_message("# no O_DIRECT on this file system\n");
		skip();
	}
	if (ret && f->engine == BLOCK_ENGINE_IO_URING)
		skip();
	assert_int_equal(ret, 0);
	assert_true(f->file.direct_alignment >= 1);
	assert_int_equal(posix_memalign((void **)&buf, 4096, 16384), 0);
	assert_int_equal(posix_memalign((void **)&back, 4096, 16384), 0);
	memset(buf, 0x77, 16384);
	assert_int_equal(run_io(f, BLOCK_OP_WRITE, 4096, buf, 8192), 0);
	assert_int_equal(run_io(f, BLOCK_OP_READ, 4096, back, 8192), 0);
	assert_filled(back, 8192, 0x77);
	/* An odd buffer address goes through the buffered descriptor. */
	memset(buf, 0x33, 16384);
	assert_int_equal(run_io(f, BLOCK_OP_WRITE, 4096, buf + 3, 512), 0);
	assert_int_equal(run_io(f, BLOCK_OP_READ, 4096, back + 1, 1024), 0);
	assert_filled(back + 1, 512, 0x33);
	assert_filled(back + 513, 512, 0x77);
	assert_int_equal(run(f, BLOCK_OP_FLUSH, 0, NULL, 0, 0), 0);
	free(buf);
	free(back);
	fixture_close(f);
	/* what went through either descriptor is in the file */
	fd = open(f->path, O_RDONLY);
	assert_int_equal(pread(fd, plain, sizeof(plain), 4096), 512);
	assert_filled(plain, 512, 0x33);
	assert_int_equal(pread(fd, plain, sizeof(plain), 4096 + 512), 512);
	assert_filled(plain, 512, 0x77);
	close(fd);
}

static void auto_engine_picks_one(void **state)
{
	struct fixture *f = *state;

	f->engine = BLOCK_ENGINE_AUTO;
	assert_int_equal(fixture_open(f, false, BLOCK_CACHE_WRITEBACK), 0);
	assert_non_null(block_queue_engine_name(f->queue));
	assert_true(block_queue_event_fd(f->queue) >= 0);
	assert_int_equal(block_queue_depth(f->queue), 16);
}

/* In a child (seccomp cannot be undone): with io_uring_setup refused as a
 * seccomp profile or an old kernel would, auto picks the threads engine
 * and still works, and a forced io_uring fails with a clear error. */
static int fallback_child(const char *path)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
	struct tern_error err = {{0}};
	struct block_file file;
	struct block_queue *queue;
	static uint8_t buf[512];
	struct iovec iov = {buf, sizeof(buf)};
	struct outcome out = {-1, 0};
	struct block_request req = {
		.op = BLOCK_OP_READ,
		.iov = &iov,
		.iov_count = 1,
		.done = record_done,
		.opaque = &out,
	};

	if (!ctx ||
	    seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS),
			     SCMP_SYS(io_uring_setup), 0) ||
	    seccomp_load(ctx))
		return 10;
	if (block_file_open(&file, path, false, BLOCK_CACHE_WRITEBACK, &err))
		return 11;
	if (block_queue_create(&queue, &file, BLOCK_ENGINE_IO_URING, 4, &err) !=
		    -ENOSYS ||
	    !strstr(err.message, "io_uring is not available"))
		return 12;
	if (block_queue_create(&queue, &file, BLOCK_ENGINE_AUTO, 4, &err))
		return 13;
	if (strcmp(block_queue_engine_name(queue), "threads"))
		return 14;
	if (block_queue_submit(queue, &req))
		return 15;
	block_queue_drain(queue);
	if (out.calls != 1 || out.result != 0)
		return 16;
	block_queue_destroy(queue);
	block_file_close(&file);
	return 0;
}

static void auto_engine_falls_back_without_io_uring(void **state)
{
	struct fixture *f = *state;
	int status;
	pid_t pid = fork();

	if (pid == 0)
		_exit(fallback_child(f->path));
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

#define BOTH(test)                                                             \
	{"io_uring/" #test, test, setup_uring, teardown, NULL},                \
	{                                                                      \
		"threads/" #test, test, setup_threads, teardown, NULL          \
	}

int main(void)
{
	const struct CMUnitTest tests[] = {
		BOTH(write_then_read_back),
		BOTH(many_requests_in_flight),
		BOTH(flush_succeeds),
		BOTH(discard_makes_zeros),
		BOTH(write_zeroes_makes_zeros),
		BOTH(write_zeroes_without_zero_range),
		BOTH(readonly_refuses_changes),
		BOTH(out_of_range_is_refused),
		BOTH(short_image_ends_where_its_size_says),
		BOTH(cache_none_handles_aligned_and_unaligned_buffers),
		BOTH(odd_sized_image_hides_its_partial_sector),
		BOTH(image_below_one_sector_has_no_sectors),
		BOTH(cache_none_keeps_off_the_partial_sector),
		cmocka_unit_test_setup_teardown(
			refreshed_size_hides_the_partial_sector, setup_threads,
			teardown),
		cmocka_unit_test_setup_teardown(non_images_are_refused,
						setup_threads, teardown),
		cmocka_unit_test_setup_teardown(second_writer_is_locked_out,
						setup_threads, teardown),
		cmocka_unit_test_setup_teardown(lock_is_handed_over,
						setup_threads, teardown),
		cmocka_unit_test_setup_teardown(threads_signal_once_per_batch,
						setup_threads, teardown),
		cmocka_unit_test_setup_teardown(auto_engine_picks_one,
						setup_threads, teardown),
		cmocka_unit_test_setup_teardown(
			auto_engine_falls_back_without_io_uring, setup_threads,
			teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
