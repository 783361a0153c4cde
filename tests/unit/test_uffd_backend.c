/* mem_backend Uffd without KVM: the handshake message (Firecracker's
 * GuestRegionUffdMapping array), the regions of guest memory it names, and
 * the whole protocol against a handler thread written here as Firecracker's
 * example handlers work (recvmsg with SCM_RIGHTS, UFFDIO_COPY of each
 * faulting page from its "file"), plus the refusals: no socket, a handler
 * that closes at once. The protocol part needs userfaultfd (skipped where
 * the kernel refuses it to this user). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "arch/x86/layout.h"
#include "memory/guest_memory.h"
#include "snapshot/uffd_backend.h"
#include "vm/vm.h"

#define PAGE GUEST_MEMORY_PAGE_SIZE

static json_t *parse(const char *text)
{
	json_error_t jerr;
	json_t *doc = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);

	if (!doc)
		fail_msg("not JSON (%s): %s", jerr.text, text);
	return doc;
}

static uint64_t field(const json_t *obj, const char *key)
{
	const json_t *v = json_object_get(obj, key);

	assert_non_null(v);
	assert_true(json_is_integer(v));
	return (uint64_t)json_integer_value(v);
}

static void message_is_firecrackers_array(void **state)
{
	const struct uffd_region_mapping m[] = {
		{0x7f0000000000ull, 3ull << 30, 0, 4096},
		{0x7f00c0000000ull, 1ull << 30, 3ull << 30, 4096},
		{0x7f0100000000ull, 128ull << 20, 4ull << 30, 4096},
	};
	char buf[UFFD_MESSAGE_MAX];
	int len = uffd_message_encode(m, 3, buf, sizeof(buf));
	json_t *doc;

	assert_true(len > 0);
	assert_int_equal((size_t)len, strlen(buf));
	doc = parse(buf);
	assert_true(json_is_array(doc));
	assert_int_equal(json_array_size(doc), 3);
	for (size_t i = 0; i < 3; i++) {
		const json_t *o = json_array_get(doc, i);

		assert_int_equal(json_object_size(o), 5);
		assert_true(field(o, "base_host_virt_addr") ==
			    m[i].base_host_virt_addr);
		assert_true(field(o, "size") == m[i].size);
		assert_true(field(o, "offset") == m[i].offset);
		assert_true(field(o, "page_size") == m[i].page_size);
		/* Bytes too, under the name Firecracker sent before 1.12. */
		assert_true(field(o, "page_size_kib") == m[i].page_size);
	}
	json_decref(doc);
	assert_int_equal(uffd_message_encode(m, 0, buf, sizeof(buf)), 2);
	assert_string_equal(buf, "[]");
}

static void message_never_overflows(void **state)
{
	/* The largest numbers still fit the 1024 bytes a handler reads. */
	struct uffd_region_mapping big[UFFD_MAX_REGIONS];
	char buf[UFFD_MESSAGE_MAX], small[UFFD_MESSAGE_MAX];
	int len;

	for (int i = 0; i < UFFD_MAX_REGIONS; i++)
		big[i] = (struct uffd_region_mapping){UINT64_MAX, UINT64_MAX,
						      UINT64_MAX, UINT64_MAX};
	len = uffd_message_encode(big, UFFD_MAX_REGIONS, buf, sizeof(buf));
	assert_true(len > 0 && len < UFFD_MESSAGE_MAX);
	/* (jansson reads integers up to INT64_MAX only.) */
	assert_int_equal(buf[0], '[');
	assert_int_equal(buf[len - 1], ']');
	for (size_t size = 0; size <= (size_t)len; size++)
		assert_int_equal(
			uffd_message_encode(big, UFFD_MAX_REGIONS, small, size),
			-ENOSPC);
	assert_int_equal(uffd_message_encode(big, UFFD_MAX_REGIONS, small,
					     (size_t)len + 1),
			 len);
	assert_string_equal(small, buf);
}

static void mappings_follow_the_memory_file(void **state)
{
	struct vm *vm = calloc(1, sizeof(*vm));
	struct uffd_region_mapping m[UFFD_MAX_REGIONS];
	uint64_t ram = LAYOUT_MMIO_HOLE_START + (256ull << 20), sum = 0;
	int n;

	assert_non_null(vm);
	/* Reserved, never touched: MAP_NORESERVE. */
	assert_int_equal(guest_memory_init_hotplug(&vm->memory, ram,
						   GUEST_MEMORY_ANONYMOUS,
						   128ull << 20),
			 0);
	n = uffd_backend_mappings(vm, m);
	assert_int_equal(n, 3);
	assert_true(m[0].base_host_virt_addr == (uintptr_t)vm->memory.mapping);
	assert_true(m[0].offset == 0);
	assert_true(m[0].size == LAYOUT_MMIO_HOLE_START);
	assert_true(m[1].offset == LAYOUT_MMIO_HOLE_START);
	assert_true(m[1].size == 256ull << 20);
	assert_true(m[2].offset == ram);
	assert_true(m[2].size == 128ull << 20);
	for (int i = 0; i < n; i++) {
		assert_true(m[i].base_host_virt_addr ==
			    (uintptr_t)vm->memory.mapping + m[i].offset);
		assert_true(m[i].page_size == PAGE);
		sum += m[i].size;
	}
	/* Firecracker's handlers check the regions cover the file. */
	assert_true(sum == vm->memory.mapping_size);
	guest_memory_destroy(&vm->memory);
	free(vm);
}

/* --- The protocol against a handler thread ------------------------------ */

enum handler_kind {
	HANDLER_SERVES, /* serves every fault from its pattern */
	HANDLER_CLOSES, /* accepts and closes at once */
};

struct handler {
	enum handler_kind kind;
	int listen_fd;
	char path[108];
	pthread_t thread;
	_Atomic int served;
	_Atomic int removed;
	char message[UFFD_MESSAGE_MAX];
	size_t file_size;
};

/* The "memory file": every byte of page n is (n * 7 + 1) & 0xff. */
static uint8_t pattern_of(uint64_t file_offset)
{
	return (uint8_t)((file_offset / PAGE) * 7 + 1);
}

static int receive(int conn, char *msg, size_t size)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} control;
	struct iovec iov = {.iov_base = msg, .iov_len = size - 1};
	struct msghdr mh = {.msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = control.buf,
			    .msg_controllen = sizeof(control.buf)};
	struct cmsghdr *cm;
	ssize_t n = recvmsg(conn, &mh, MSG_CMSG_CLOEXEC);
	int fd = -1;

	if (n <= 0)
		return -1;
	msg[n] = '\0';
	cm = CMSG_FIRSTHDR(&mh);
	if (cm && cm->cmsg_type == SCM_RIGHTS)
		memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	return fd;
}

static void serve(struct handler *h, int conn, int uffd)
{
	json_t *doc = json_loads(h->message, 0, NULL);
	static uint8_t page[PAGE];

	for (;;) {
		struct pollfd p[2] = {{.fd = uffd, .events = POLLIN},
				      {.fd = conn, .events = POLLIN}};
		struct uffd_msg msg;

		if (poll(p, 2, -1) < 0)
			break;
		/* tern's end closed: the test is over. */
		if (p[1].revents)
			break;
		if (read(uffd, &msg, sizeof(msg)) != sizeof(msg))
			continue;
		if (msg.event == UFFD_EVENT_REMOVE) {
			/* As Firecracker's example handler: the range reads
			 * as zeros from now on. */
			struct uffdio_range range = {
				.start = msg.arg.remove.start,
				.len = msg.arg.remove.end -
					msg.arg.remove.start};

			if (ioctl(uffd, UFFDIO_UNREGISTER, &range) == 0)
				atomic_fetch_add(&h->removed, 1);
			continue;
		}
		if (msg.event != UFFD_EVENT_PAGEFAULT)
			continue;
		for (size_t i = 0; i < json_array_size(doc); i++) {
			const json_t *o = json_array_get(doc, i);
			uint64_t base = field(o, "base_host_virt_addr");
			uint64_t addr =
				msg.arg.pagefault.address & ~(PAGE - 1ull);
			struct uffdio_copy copy;

			if (addr < base || addr >= base + field(o, "size"))
				continue;
			memset(page,
			       pattern_of(field(o, "offset") + addr - base),
			       PAGE);
			copy = (struct uffdio_copy){.dst = addr,
						    .src = (uintptr_t)page,
						    .len = PAGE};
			/* Counted before the copy wakes the faulting thread,
			 * which then checks the count. */
			atomic_fetch_add(&h->served, 1);
			if (ioctl(uffd, UFFDIO_COPY, &copy) < 0)
				atomic_fetch_sub(&h->served, 1);
		}
	}
	json_decref(doc);
}

static void *handler_main(void *arg)
{
	struct handler *h = arg;
	int conn = accept4(h->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	int uffd;

	if (conn < 0)
		return NULL;
	if (h->kind == HANDLER_CLOSES) {
		close(conn);
		return NULL;
	}
	uffd = receive(conn, h->message, sizeof(h->message));
	if (uffd >= 0) {
		serve(h, conn, uffd);
		close(uffd);
	}
	close(conn);
	return NULL;
}

static void handler_start(struct handler *h, enum handler_kind kind)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};

	memset(h, 0, sizeof(*h));
	h->kind = kind;
	snprintf(h->path, sizeof(h->path), "/tmp/tern-uffd-test-%d-%d.sock",
		 (int)getpid(), (int)kind);
	unlink(h->path);
	strcpy(addr.sun_path, h->path);
	h->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(h->listen_fd >= 0);
	assert_int_equal(
		bind(h->listen_fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	assert_int_equal(listen(h->listen_fd, 1), 0);
	assert_int_equal(pthread_create(&h->thread, NULL, handler_main, h), 0);
}

static void handler_join(struct handler *h)
{
	pthread_join(h->thread, NULL);
	close(h->listen_fd);
	unlink(h->path);
}

static int uffd_usable(void)
{
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);

	if (fd < 0)
		fd = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return 0;
	close(fd);
	return 1;
}

static struct vm *small_vm(void)
{
	struct vm *vm = calloc(1, sizeof(*vm));

	assert_non_null(vm);
	assert_int_equal(guest_memory_init_hotplug(&vm->memory, 8u << 20,
						   GUEST_MEMORY_ANONYMOUS,
						   2u << 20),
			 0);
	/* What creating a VM writes must not shadow the handler's pages. */
	memset(vm->memory.mapping + 5 * PAGE, 0xee, PAGE);
	return vm;
}

static void free_vm(struct vm *vm)
{
	uffd_backend_close(vm->uffd);
	guest_memory_destroy(&vm->memory);
	free(vm);
}

static void handler_serves_guest_memory(void **state)
{
	struct handler h;
	struct tern_error err = {{0}};
	struct vm *vm;
	json_t *doc;
	int ret;

	if (!uffd_usable()) {
		skip();
		return;
	}
	vm = small_vm();
	handler_start(&h, HANDLER_SERVES);
	ret = uffd_backend_attach(vm, h.path, &err);
	if (ret)
		fail_msg("attach: %s", err.message);
	assert_non_null(vm->uffd);
	/* The probe's page came from the handler. */
	assert_true(atomic_load(&h.served) >= 1);
	assert_int_equal(vm->memory.mapping[0], pattern_of(0));
	/* A page tern wrote before the load reads as the handler's. */
	assert_int_equal(vm->memory.mapping[5 * PAGE + 9],
			 pattern_of(5 * PAGE));
	assert_int_equal(vm->memory.mapping[(8u << 20) - 1],
			 pattern_of((8u << 20) - 1));
	/* Hotpluggable memory is the third part of the file. */
	assert_int_equal(vm->memory.hotplug_hva[PAGE],
			 pattern_of((8u << 20) + PAGE));
	assert_true(atomic_load(&h.served) >= 4);
	doc = parse(h.message);
	assert_int_equal(json_array_size(doc), 2);
	json_decref(doc);
	/* Memory tern gives back (the balloon's madvise) reaches the handler
	 * as a remove event (EVENT_REMOVE, as Firecracker asks for). */
	assert_int_equal(
		madvise(vm->memory.mapping + 5 * PAGE, PAGE, MADV_DONTNEED), 0);
	/* madvise returns once the handler read the event; it unregisters
	 * just after. */
	for (int i = 0; i < 5000 && !atomic_load(&h.removed); i++)
		usleep(1000);
	assert_int_equal(atomic_load(&h.removed), 1);
	assert_int_equal(vm->memory.mapping[5 * PAGE + 9], 0);
	free_vm(vm); /* closes tern's end: the handler ends */
	handler_join(&h);
}

static void missing_socket_is_refused(void **state)
{
	struct tern_error err = {{0}};
	struct vm *vm;

	if (!uffd_usable()) {
		skip();
		return;
	}
	vm = small_vm();
	assert_int_equal(
		uffd_backend_attach(vm, "/nonexistent/uffd.sock", &err),
		-ENOENT);
	assert_non_null(strstr(err.message,
			       "Failed to connect to UDS Unix "
			       "stream '/nonexistent/uffd.sock'"));
	assert_non_null(strstr(err.message, "(os error 2)"));
	assert_null(vm->uffd);
	/* Nothing stays registered: memory reads as plain empty pages. */
	assert_int_equal(vm->memory.mapping[PAGE], 0);
	free_vm(vm);
}

static void handler_closing_at_once_is_refused(void **state)
{
	struct handler h;
	struct tern_error err = {{0}};
	struct vm *vm;
	int ret;

	if (!uffd_usable()) {
		skip();
		return;
	}
	vm = small_vm();
	handler_start(&h, HANDLER_CLOSES);
	ret = uffd_backend_attach(vm, h.path, &err);
	handler_join(&h);
	assert_true(ret < 0);
	assert_null(vm->uffd);
	if (!strstr(err.message, "closed the connection") &&
	    !strstr(err.message, "Failed to send"))
		fail_msg("unexpected error: %s", err.message);
	assert_int_equal(vm->memory.mapping[PAGE], 0);
	free_vm(vm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(message_is_firecrackers_array),
		cmocka_unit_test(message_never_overflows),
		cmocka_unit_test(mappings_follow_the_memory_file),
		cmocka_unit_test(handler_serves_guest_memory),
		cmocka_unit_test(missing_socket_is_refused),
		cmocka_unit_test(handler_closing_at_once_is_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
