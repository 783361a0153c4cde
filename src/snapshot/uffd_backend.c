#include "snapshot/uffd_backend.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
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
#include <time.h>
#include <unistd.h>

#include "memory/guest_memory.h"
#include "util/log.h"
#include "vm/vm.h"

#ifndef USERFAULTFD_IOC_NEW
#define USERFAULTFD_IOC_NEW _IO(0xAA, 0x00)
#endif

/* What the handler may do on the registered ranges: copy pages in. */
#define UFFD_NEEDED_RANGE_IOCTLS (1ULL << _UFFDIO_COPY)

int uffd_message_encode(const struct uffd_region_mapping *mappings, int count,
			char *buf, size_t size)
{
	size_t used = 0;

	for (int i = 0; i <= count; i++) {
		int n;

		if (i == count)
			n = snprintf(buf + used, size - used, "%s]",
				     count ? "" : "[");
		else
			n = snprintf(buf + used, size - used,
				     "%c{\"base_host_virt_addr\":%llu,"
				     "\"size\":%llu,\"offset\":%llu,"
				     "\"page_size\":%llu,"
				     "\"page_size_kib\":%llu}",
				     i ? ',' : '[',
				     (unsigned long long)mappings[i]
					     .base_host_virt_addr,
				     (unsigned long long)mappings[i].size,
				     (unsigned long long)mappings[i].offset,
				     (unsigned long long)mappings[i].page_size,
				     (unsigned long long)mappings[i].page_size);
		if (n < 0 || (size_t)n >= size - used)
			return -ENOSPC;
		used += (size_t)n;
	}
	return (int)used;
}

int uffd_backend_mappings(const struct vm *vm,
			  struct uffd_region_mapping out[UFFD_MAX_REGIONS])
{
	const struct guest_memory *mem = &vm->memory;
	uint64_t page = mem->backing == GUEST_MEMORY_HUGETLB_2M
		? GUEST_MEMORY_HUGE_PAGE_SIZE
		: GUEST_MEMORY_PAGE_SIZE;
	int n = 0;

	/* The memory file is the host mapping byte for byte: a region's
	 * offset there is its distance from the mapping's start. */
	for (int i = 0; i < mem->region_count && n < UFFD_MAX_REGIONS; i++) {
		out[n].base_host_virt_addr = (uintptr_t)mem->regions[i].hva;
		out[n].size = mem->regions[i].size;
		out[n].offset = (uint64_t)(mem->regions[i].hva - mem->mapping);
		out[n].page_size = page;
		n++;
	}
	if (mem->hotplug_size && n < UFFD_MAX_REGIONS) {
		out[n].base_host_virt_addr = (uintptr_t)mem->hotplug_hva;
		out[n].size = mem->hotplug_size;
		out[n].offset = (uint64_t)(mem->hotplug_hva - mem->mapping);
		out[n].page_size = page;
		n++;
	}
	return n;
}

/* The syscall first; where unprivileged userfaultfd is off
 * (vm.unprivileged_userfaultfd 0 and no CAP_SYS_PTRACE), /dev/userfaultfd
 * (Linux 6.1) gives one to whoever may open the node. Both without
 * UFFD_USER_MODE_ONLY: tern's device threads touch guest memory from
 * system calls too (disk reads into guest buffers, tap writes), and those
 * faults must wait for the handler like the vCPUs' do. */
static int create_uffd(struct tern_error *err)
{
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	int sys_errno, dev;

	if (fd >= 0)
		return fd;
	sys_errno = errno;
	dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
	if (dev >= 0) {
		fd = ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC | O_NONBLOCK);
		close(dev);
		if (fd >= 0)
			return fd;
	}
	if (sys_errno == EPERM)
		return tern_error_set(
			err, EPERM,
			"mem_backend Uffd: cannot create the UFFD object: the "
			"kernel refuses "
			"userfaultfd to tern (Operation not permitted): set "
			"sysctl vm.unprivileged_userfaultfd=1, or let tern "
			"open /dev/userfaultfd");
	return tern_error_set(err, sys_errno,
			      "mem_backend Uffd: cannot create the UFFD "
			      "object: userfaultfd: %s (os "
			      "error %d)",
			      strerror(sys_errno), sys_errno);
}

static int negotiate(int uffd, const struct guest_memory *mem,
		     struct tern_error *err)
{
	/* EVENT_REMOVE as Firecracker asks for it, whether or not there is
	 * a balloon: the handler then hears of every range tern gives back
	 * (balloon, virtio-mem unplug, free page reporting) and serves
	 * zeros there afterwards instead of the snapshot's stale page. */
	struct uffdio_api api = {
		.api = UFFD_API,
		.features = UFFD_FEATURE_EVENT_REMOVE,
	};

	if (mem->backing == GUEST_MEMORY_HUGETLB_2M)
		api.features |= UFFD_FEATURE_MISSING_HUGETLBFS;
	if (ioctl(uffd, UFFDIO_API, &api) < 0)
		return tern_error_set(
			err, errno,
			"mem_backend Uffd: cannot create the UFFD object: "
			"UFFDIO_API with %s: %s (this "
			"host's kernel lacks the feature)",
			mem->backing == GUEST_MEMORY_HUGETLB_2M
				? "EVENT_REMOVE and MISSING_HUGETLBFS"
				: "EVENT_REMOVE",
			strerror(errno));
	if (!(api.ioctls & (1ULL << _UFFDIO_REGISTER)))
		return tern_error_set(err, ENOTSUP,
				      "mem_backend Uffd: cannot create the "
				      "UFFD object: the kernel "
				      "offers no UFFDIO_REGISTER");
	return 0;
}

static int register_regions(int uffd, const struct uffd_region_mapping *m,
			    int count, struct tern_error *err)
{
	for (int i = 0; i < count; i++) {
		struct uffdio_register reg = {
			.range = {.start = m[i].base_host_virt_addr,
				  .len = m[i].size},
			.mode = UFFDIO_REGISTER_MODE_MISSING,
		};

		if (ioctl(uffd, UFFDIO_REGISTER, &reg) < 0)
			return tern_error_set(
				err, errno,
				"Failed to register memory address range "
				"with the userfaultfd object: %s (region "
				"%d, %llu MiB)",
				strerror(errno), i,
				(unsigned long long)(m[i].size >> 20));
		if ((reg.ioctls & UFFD_NEEDED_RANGE_IOCTLS) !=
		    UFFD_NEEDED_RANGE_IOCTLS)
			return tern_error_set(
				err, ENOTSUP,
				"the kernel offers no UFFDIO_COPY on guest "
				"memory region %d: a handler could not fill "
				"it",
				i);
	}
	return 0;
}

static int connect_handler(const char *path, struct tern_error *err)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	int fd, e;

	if (strlen(path) >= sizeof(addr.sun_path))
		return tern_error_set(err, ENAMETOOLONG,
				      "mem_backend Uffd: Failed to connect to "
				      "UDS Unix stream "
				      "'%.100s...': the path is longer than "
				      "%zu bytes",
				      path, sizeof(addr.sun_path) - 1);
	strcpy(addr.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return tern_error_set(err, errno, "socket: %s",
				      strerror(errno));
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0)
		return fd;
	e = errno;
	close(fd);
	return tern_error_set(
		err, e,
		"mem_backend Uffd: Failed to connect to UDS Unix stream "
		"'%.100s': %s (os error %d)%s",
		path, strerror(e), e,
		e == ECONNREFUSED || e == ENOENT
			? ": no page fault handler listens there"
			: "");
}

static int send_message(int sock, const char *msg, size_t len, int uffd,
			struct tern_error *err)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} control;
	struct iovec iov = {.iov_base = (void *)msg, .iov_len = len};
	struct msghdr mh = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = control.buf,
		.msg_controllen = sizeof(control.buf),
	};
	struct cmsghdr *cm;
	ssize_t n;

	memset(&control, 0, sizeof(control));
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &uffd, sizeof(int));
	do
		n = sendmsg(sock, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return tern_error_set(
			err, errno,
			"mem_backend Uffd: Failed to send the "
			"file descriptor to the handler: %s (os error "
			"%d)",
			strerror(errno), errno);
	/* A stream socket with room takes a message this small whole. */
	if ((size_t)n != len)
		return tern_error_set(
			err, EIO,
			"mem_backend Uffd: Failed to send the "
			"file descriptor to the handler: %zd of %zu "
			"bytes sent",
			n, len);
	return 0;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int socket_error(int sock)
{
	int e = 0;
	socklen_t len = sizeof(e);

	if (getsockopt(sock, SOL_SOCKET, SO_ERROR, &e, &len) < 0)
		return errno;
	return e;
}

/* Until the handler has read the message (tern's queued bytes, SIOCOUTQ,
 * drop to 0). A handler that closes the connection unread makes the kernel
 * drop the message and the userfaultfd with it, and sets ECONNRESET on
 * tern's end before it frees the bytes: reading the queue first, then the
 * error, tells the two apart. */
static int wait_until_taken(int sock, struct tern_error *err)
{
	int64_t deadline = now_ms() + UFFD_HANDSHAKE_TIMEOUT_MS;

	for (;;) {
		struct pollfd p = {.fd = sock, .events = POLLRDHUP};
		int queued = -1, e;

		if (ioctl(sock, SIOCOUTQ, &queued) < 0)
			return tern_error_set(err, errno, "SIOCOUTQ: %s",
					      strerror(errno));
		e = socket_error(sock);
		if (e)
			return tern_error_set(
				err, e,
				"the page fault handler closed the "
				"connection without taking the userfaultfd "
				"(%s)",
				strerror(e));
		if (queued == 0)
			return 0;
		if (now_ms() >= deadline)
			return tern_error_set(
				err, ETIMEDOUT,
				"the page fault handler did not read the "
				"memory mappings within %d s",
				UFFD_HANDSHAKE_TIMEOUT_MS / 1000);
		/* Short naps: a closing peer wakes the poll, reading the
		 * message does not. */
		(void)poll(&p, 1, 20);
	}
}

/* The first page of guest RAM, touched from a helper thread through a
 * system call (write to a pipe): if the handler never serves it, the
 * helper stays blocked and tern gives up after a while; a system call's
 * access, unlike a plain load, fails with EFAULT instead of a crash when
 * the memory is gone by the time it wakes. The helper and the caller share
 * the pipe; the last to finish closes it. */
struct probe {
	_Atomic int refs;
	int read_fd, write_fd;
	const void *page;
};

static void probe_put(struct probe *p)
{
	if (atomic_fetch_sub(&p->refs, 1) == 1) {
		close(p->read_fd);
		free(p);
	}
}

static void *probe_thread(void *arg)
{
	struct probe *p = arg;
	ssize_t n;

	do
		n = write(p->write_fd, p->page, 1);
	while (n < 0 && errno == EINTR);
	close(p->write_fd);
	probe_put(p);
	return NULL;
}

static int probe_first_page(const struct vm *vm, int sock,
			    struct tern_error *err)
{
	int64_t deadline = now_ms() + UFFD_HANDSHAKE_TIMEOUT_MS;
	struct probe *p = calloc(1, sizeof(*p));
	int fds[2], ret = 0;
	pthread_t thread;
	char byte;

	if (!p)
		return tern_error_set(err, ENOMEM, "out of memory");
	if (pipe2(fds, O_CLOEXEC) < 0) {
		free(p);
		return tern_error_set(err, errno, "pipe: %s", strerror(errno));
	}
	p->read_fd = fds[0];
	p->write_fd = fds[1];
	p->page = vm->memory.mapping;
	atomic_init(&p->refs, 2);
	if (pthread_create(&thread, NULL, probe_thread, p)) {
		close(fds[0]);
		close(fds[1]);
		free(p);
		return tern_error_set(err, EAGAIN, "cannot start a thread");
	}
	pthread_detach(thread);
	for (;;) {
		struct pollfd fd[2] = {{.fd = p->read_fd, .events = POLLIN},
				       {.fd = sock, .events = POLLRDHUP}};
		int64_t left = deadline - now_ms();
		ssize_t n;

		if (left <= 0) {
			ret = tern_error_set(
				err, ETIMEDOUT,
				"the page fault handler took the userfaultfd "
				"but served no page within %d s",
				UFFD_HANDSHAKE_TIMEOUT_MS / 1000);
			break;
		}
		/* Once the handler hangs up, a little more time only: a
		 * handler may close the socket and serve on, but one that
		 * exited serves nothing. */
		if (poll(fd, 2, left > 100 ? 100 : (int)left) < 0 &&
		    errno != EINTR) {
			ret = tern_error_set(err, errno, "poll: %s",
					     strerror(errno));
			break;
		}
		if (fd[1].revents & (POLLRDHUP | POLLHUP | POLLERR) &&
		    deadline - now_ms() > 2000)
			deadline = now_ms() + 2000;
		if (!(fd[0].revents & (POLLIN | POLLHUP)))
			continue;
		n = read(p->read_fd, &byte, 1);
		if (n == 1)
			break;
		ret = tern_error_set(err, EFAULT,
				     "tern cannot read guest memory served "
				     "by the page fault handler");
		break;
	}
	probe_put(p);
	return ret;
}

/* Pages tern wrote while creating the VM would be present, and a
 * missing-page handler never sees a present page. MADV_DONTNEED drops them
 * in place (the mapping and its advice stay; hugetlbfs pages since Linux
 * 5.18); a fresh mapping over the old one where it cannot. */
static int empty_guest_memory(struct guest_memory *mem, struct tern_error *err)
{
	int ret;

	if (madvise(mem->mapping, mem->mapping_size, MADV_DONTNEED) == 0)
		return 0;
	ret = guest_memory_clear(mem);
	if (ret)
		return tern_error_set(err, -ret,
				      "cannot empty guest memory for the page "
				      "fault handler: %s",
				      strerror(-ret));
	return 0;
}

void uffd_backend_close(struct uffd_backend *backend)
{
	if (!backend)
		return;
	if (backend->uffd >= 0)
		close(backend->uffd);
	if (backend->socket >= 0)
		close(backend->socket);
	free(backend);
}

int uffd_backend_attach(struct vm *vm, const char *socket_path,
			struct tern_error *err)
{
	struct uffd_region_mapping mappings[UFFD_MAX_REGIONS];
	struct uffd_backend *b;
	char msg[UFFD_MESSAGE_MAX];
	int count = uffd_backend_mappings(vm, mappings);
	int len = uffd_message_encode(mappings, count, msg, sizeof(msg));
	int ret;

	if (len < 0)
		return tern_error_set(err, EINVAL,
				      "the memory mappings do not fit in "
				      "%d bytes",
				      UFFD_MESSAGE_MAX);
	b = malloc(sizeof(*b));
	if (!b)
		return tern_error_set(err, ENOMEM, "out of memory");
	b->uffd = -1;
	b->socket = -1;
	ret = empty_guest_memory(&vm->memory, err);
	if (!ret) {
		b->uffd = create_uffd(err);
		if (b->uffd < 0)
			ret = b->uffd;
	}
	if (!ret)
		ret = negotiate(b->uffd, &vm->memory, err);
	if (!ret)
		ret = register_regions(b->uffd, mappings, count, err);
	/* Connect only now: a handler whose peer hangs up without a message
	 * may give up (Firecracker's examples kill their peer then). */
	if (!ret) {
		b->socket = connect_handler(socket_path, err);
		if (b->socket < 0)
			ret = b->socket;
	}
	if (!ret)
		ret = send_message(b->socket, msg, (size_t)len, b->uffd, err);
	if (!ret)
		ret = wait_until_taken(b->socket, err);
	if (!ret)
		ret = probe_first_page(vm, b->socket, err);
	if (ret) {
		/* Closing the last reference to the userfaultfd unregisters
		 * the ranges and wakes any fault still waiting. */
		uffd_backend_close(b);
		return ret;
	}
	log_info("guest memory served by the page fault handler at %s "
		 "(%d regions)",
		 socket_path, count);
	vm->uffd = b;
	return 0;
}
