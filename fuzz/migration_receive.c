/* Fuzz target: the live migration receiver (src/migration/
 * migration_receive.c, migration_wire.c, migration_stream.c) reading the input
 * as the stream from a hostile source over a socketpair: handshake, MACHINE,
 * RAM runs, SYNCs, the STATE file and END, then the restore into a VM without
 * KVM (fuzz/lib/fuzz_vm.h; the KVM-only sections fail at their ioctls). A
 * feeder thread writes the input and reads whatever the receiver answers,
 * so neither side can block the other.
 *
 * FUZZ_WRITE_SEED=PATH build/fuzz/migration_receive writes a well-formed
 * stream for the fuzz VM (a seed) and exits. */
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz_vm.h"
#include "migration/migration_receive.h"
#include "migration/migration_stream.h"
#include "migration/migration_wire.h"

struct feeder {
	int fd;
	const uint8_t *data;
	size_t size;
};

static void *feed(void *arg)
{
	struct feeder *f = arg;
	size_t sent = 0;
	bool open_for_writing = true;

	for (;;) {
		struct pollfd pfd = {.fd = f->fd,
				     .events = POLLIN |
					     (open_for_writing ? POLLOUT : 0)};
		char sink[4096];

		if (poll(&pfd, 1, -1) < 0)
			continue;
		if (pfd.revents & POLLIN) {
			if (read(f->fd, sink, sizeof(sink)) <= 0)
				return NULL; /* the receiver is done */
		} else if (pfd.revents & (POLLHUP | POLLERR)) {
			return NULL;
		}
		if (open_for_writing && (pfd.revents & POLLOUT)) {
			ssize_t n = send(f->fd, f->data + sent, f->size - sent,
					 MSG_NOSIGNAL | MSG_DONTWAIT);

			if (n > 0)
				sent += (size_t)n;
			if (n < 0 || sent == f->size) {
				shutdown(f->fd, SHUT_WR);
				open_for_writing = false;
			}
		}
	}
}

static void append(uint8_t **buf, size_t *len, const void *data, size_t n)
{
	*buf = realloc(*buf, *len + n);
	memcpy(*buf + *len, data, n);
	*len += n;
}

static void append_message(uint8_t **buf, size_t *len, uint32_t type,
			   const void *payload, uint32_t n)
{
	uint8_t header[MIGRATION_MESSAGE_HEADER_SIZE];

	migration_wire_message_header(header, type, n);
	append(buf, len, header, sizeof(header));
	if (n)
		append(buf, len, payload, n);
}

static void write_seed(const char *path)
{
	struct vm *vm = fuzz_vm_get();
	struct migration_machine machine = {
		.vcpu_count = (uint32_t)vm->vcpu_count,
		.memory_size = vm->memory.ram_size,
		.mapping_size = vm->memory.mapping_size,
	};
	uint8_t hello[MIGRATION_HANDSHAKE_SIZE], shape[MIGRATION_MACHINE_SIZE];
	uint8_t ram[8 + MIGRATION_PAGE_SIZE] = {0};
	struct tern_error err = {{0}};
	struct state_file sf;
	uint8_t *stream = NULL, *state;
	size_t len = 0, state_len;

	migration_wire_handshake(hello);
	append(&stream, &len, hello, sizeof(hello));
	migration_wire_encode_machine(shape, &machine);
	append_message(&stream, &len, MIGRATION_MSG_MACHINE, shape,
		       sizeof(shape));
	ram[1] = 0x10; /* offset 0x1000 (little-endian u64), one page */
	memset(ram + 8, 0xab, MIGRATION_PAGE_SIZE);
	append_message(&stream, &len, MIGRATION_MSG_RAM, ram, sizeof(ram));
	append_message(&stream, &len, MIGRATION_MSG_SYNC, NULL, 0);
	state_file_init(&sf);
	if (fuzz_vm_save(vm, &sf) ||
	    state_file_serialize(&sf, &state, &state_len, &err))
		exit(1);
	append_message(&stream, &len, MIGRATION_MSG_STATE, state,
		       (uint32_t)state_len);
	append_message(&stream, &len, MIGRATION_MSG_END, NULL, 0);
	fuzz_write_file(path, stream, len);
	exit(0);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	if (getenv("FUZZ_WRITE_SEED"))
		write_seed(getenv("FUZZ_WRITE_SEED"));
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vm *vm = fuzz_vm_get();
	struct migration_machine machine;
	struct tern_error err = {{0}};
	struct feeder f = {.data = data, .size = size};
	pthread_t thread;
	int fds[2];

	struct migration_stream *stream;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds))
		abort();
	f.fd = fds[1];
	if (pthread_create(&thread, NULL, feed, &f))
		abort();
	/* The plain stream, as over TCP; the TLS one decrypts to it. */
	if (migration_stream_plain(fds[0], &stream))
		abort();
	if ((migration_receive_machine(stream, &machine, &err) ||
	     migration_receive_vm(vm, stream, &machine, &err)) &&
	    getenv("FUZZ_VERBOSE"))
		fprintf(stderr, "refused: %s\n", err.message);
	migration_stream_close(stream);
	pthread_join(thread, NULL);
	close(fds[1]);
	return 0;
}
