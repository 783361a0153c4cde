#include "migration/migration_receive.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "snapshot/state_file.h"
#include "snapshot/state_sequence.h"

/* A peer that takes no data or sends none for this long is gone: neither
 * side waits forever (the source's VM must get back to running). */
static void set_stall_timeout(int fd)
{
	struct timeval timeout = {.tv_sec = MIGRATION_STALL_TIMEOUT_S};

	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
}

static int resolve(const char *address, int passive, struct addrinfo **out,
		   struct tern_error *err)
{
	char host[256], port[16];
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
				 .ai_flags = passive ? AI_PASSIVE : 0};
	int ret = migration_parse_address(address, host, sizeof(host), port,
					  sizeof(port), err);

	if (ret)
		return ret;
	ret = getaddrinfo(host[0] ? host : NULL, port, &hints, out);
	if (ret)
		return tern_error_set(err, EINVAL, "migration address %s: %s",
				      address, gai_strerror(ret));
	return 0;
}

int migration_listen(const char *address, struct tern_error *err)
{
	struct addrinfo *ai;
	int fd, one = 1, ret = resolve(address, 1, &ai, err);

	if (ret)
		return ret;
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		ret = -errno;
	} else {
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 ||
		    listen(fd, 1) < 0) {
			ret = -errno;
			close(fd);
		}
	}
	freeaddrinfo(ai);
	if (ret)
		return tern_error_set(err, -ret, "cannot listen on %s: %s",
				      address, strerror(-ret));
	return fd;
}

int migration_connect(const char *address, struct tern_error *err)
{
	struct addrinfo *ai, *p;
	int fd = -1, one = 1, ret = resolve(address, 0, &ai, err);

	if (ret)
		return ret;
	ret = -ECONNREFUSED;
	for (p = ai; p; p = p->ai_next) {
		fd = socket(p->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			ret = -errno;
			continue;
		}
		if (!connect(fd, p->ai_addr, p->ai_addrlen))
			break;
		ret = -errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	if (fd < 0)
		return tern_error_set(err, -ret,
				      "cannot connect to the migration "
				      "destination %s: %s",
				      address, strerror(-ret));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	set_stall_timeout(fd);
	return fd;
}

int migration_receive_machine(int fd, struct migration_machine *machine,
			      struct tern_error *err)
{
	uint8_t out[MIGRATION_HANDSHAKE_SIZE], in[MIGRATION_HANDSHAKE_SIZE];
	uint8_t *payload = NULL;
	uint32_t type, length;
	int ret;

	set_stall_timeout(fd);
	migration_wire_handshake(out);
	ret = migration_recv_all(fd, in, sizeof(in));
	if (!ret)
		ret = migration_send_all(fd, out, sizeof(out));
	if (ret)
		return tern_error_set(err, -ret,
				      "migration handshake with the source: "
				      "%s",
				      ret == -EPIPE ? "connection closed"
						    : strerror(-ret));
	ret = migration_wire_check_handshake(in, err);
	if (!ret)
		ret = migration_recv_message(fd, &type, &payload, &length, err);
	if (!ret && type != MIGRATION_MSG_MACHINE)
		ret = tern_error_set(err, EPROTO,
				     "the migration stream starts with "
				     "message type %u, not the machine",
				     type);
	if (!ret)
		ret = migration_wire_parse_machine(payload, length, machine,
						   err);
	if (!ret && machine->vcpu_count > VM_MAX_CPUS)
		ret = tern_error_set(err, EPROTO,
				     "the migrating VM has %u vCPUs; tern "
				     "runs at most %d",
				     machine->vcpu_count, VM_MAX_CPUS);
	free(payload);
	return ret;
}

/* RAM arrived already: the same two passes as a snapshot load. */
static int restore_state(struct vm *vm, const struct state_file *sf,
			 struct tern_error *err)
{
	int ret = state_sequence_check(vm, sf, err);

	if (!ret)
		ret = state_sequence_restore(vm, sf, err);
	return ret;
}

int migration_receive_vm(struct vm *vm, int fd,
			 const struct migration_machine *machine,
			 struct tern_error *err)
{
	struct state_file sf;
	int have_state = 0, ret = 0;

	if (vm->memory.mapping_size != machine->mapping_size ||
	    vm->memory.ram_size != machine->memory_size)
		return tern_error_set(
			err, EINVAL,
			"the migrating VM's RAM is laid out as "
			"%llu bytes; this VM has %llu",
			(unsigned long long)machine->mapping_size,
			(unsigned long long)vm->memory.mapping_size);
	memset(&sf, 0, sizeof(sf));
	for (;;) {
		uint8_t *payload = NULL;
		uint32_t type, length;
		const uint8_t *pages;
		size_t pages_len;
		uint64_t offset;

		ret = migration_recv_message(fd, &type, &payload, &length, err);
		if (ret)
			break;
		if (type == MIGRATION_MSG_RAM) {
			ret = migration_wire_parse_ram(
				payload, length, vm->memory.mapping_size,
				&offset, &pages, &pages_len, err);
			if (!ret)
				memcpy(vm->memory.mapping + offset, pages,
				       pages_len);
			free(payload);
		} else if (type == MIGRATION_MSG_STATE && !have_state) {
			/* The parser takes the buffer over. */
			ret = state_file_parse(&sf, payload, length, err);
			have_state = !ret;
		} else if (type == MIGRATION_MSG_SYNC) {
			free(payload);
			ret = migration_send_message(fd, MIGRATION_MSG_SYNC,
						     NULL, 0);
			if (ret)
				ret = tern_error_set(err, -ret,
						     "migration stream: %s",
						     strerror(-ret));
		} else if (type == MIGRATION_MSG_END) {
			free(payload);
			if (!have_state)
				ret = tern_error_set(err, EPROTO,
						     "the migration stream "
						     "ended without the VM "
						     "state");
			break;
		} else {
			free(payload);
			ret = tern_error_set(err, EPROTO,
					     "unexpected migration message "
					     "type %u",
					     type);
		}
		if (ret)
			break;
	}
	if (!ret)
		ret = restore_state(vm, &sf, err);
	state_file_free(&sf);
	return ret;
}

void migration_send_refusal(int fd, const char *reason)
{
	size_t len = strnlen(reason, MIGRATION_MAX_ERROR_SIZE);

	(void)migration_send_message(fd, MIGRATION_MSG_ERROR, reason,
				     (uint32_t)len);
}

int migration_send_ack(int fd, struct tern_error *err)
{
	int ret = migration_send_message(fd, MIGRATION_MSG_ACK, NULL, 0);

	if (ret)
		return tern_error_set(err, -ret,
				      "cannot acknowledge the migration: %s",
				      strerror(-ret));
	return 0;
}
