/* The live migration wire protocol: handshakes, message headers and
 * payloads from a hostile peer (bad magic or version, unknown types,
 * oversized and truncated messages, RAM runs outside guest memory) are
 * refused with an error, never a crash (these run under ASan/UBSan too). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "migration/migration_receive.h"
#include "migration/migration_wire.h"

#define MAPPING_SIZE (64ull << 20)

static void put_u32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void handshake_round_trip(void **state)
{
	uint8_t hs[MIGRATION_HANDSHAKE_SIZE];
	struct tern_error err;

	migration_wire_handshake(hs);
	assert_int_equal(migration_wire_check_handshake(hs, &err), 0);
}

static void handshake_bad_magic(void **state)
{
	uint8_t hs[MIGRATION_HANDSHAKE_SIZE];
	struct tern_error err;

	migration_wire_handshake(hs);
	hs[0] = 'X';
	assert_int_equal(migration_wire_check_handshake(hs, &err), -EPROTO);
	assert_non_null(strstr(err.message, "magic"));
	/* An HTTP client that connected by mistake. */
	memcpy(hs, "GET / HTTP/1.1\r\n", 16);
	assert_int_equal(migration_wire_check_handshake(hs, &err), -EPROTO);
}

static void handshake_other_version(void **state)
{
	uint8_t hs[MIGRATION_HANDSHAKE_SIZE];
	struct tern_error err;

	migration_wire_handshake(hs);
	put_u32(hs + 8, MIGRATION_VERSION + 1);
	assert_int_equal(migration_wire_check_handshake(hs, &err), -EPROTO);
	assert_non_null(strstr(err.message, "version 2"));
	put_u32(hs + 8, 0);
	assert_int_equal(migration_wire_check_handshake(hs, &err), -EPROTO);
}

static int parse_header(uint32_t type, uint32_t length)
{
	uint8_t h[MIGRATION_MESSAGE_HEADER_SIZE];
	struct tern_error err;
	uint32_t t = 0, l = 0;
	int ret;

	migration_wire_message_header(h, type, length);
	ret = migration_wire_parse_message_header(h, &t, &l, &err);
	if (!ret) {
		assert_int_equal(t, type);
		assert_int_equal(l, length);
	}
	return ret;
}

static void message_header_bounds(void **state)
{
	assert_int_equal(
		parse_header(MIGRATION_MSG_MACHINE, MIGRATION_MACHINE_SIZE), 0);
	assert_int_equal(parse_header(MIGRATION_MSG_MACHINE, 23), -EPROTO);
	assert_int_equal(parse_header(MIGRATION_MSG_RAM, 8 + 4096), 0);
	assert_int_equal(parse_header(MIGRATION_MSG_RAM,
				      8 + MIGRATION_MAX_RUN_PAGES * 4096),
			 0);
	assert_int_equal(parse_header(MIGRATION_MSG_RAM,
				      8 + MIGRATION_MAX_RUN_PAGES * 4096 + 1),
			 -EPROTO);
	assert_int_equal(parse_header(MIGRATION_MSG_RAM, 8), -EPROTO);
	assert_int_equal(parse_header(MIGRATION_MSG_STATE, 0), -EPROTO);
	assert_int_equal(
		parse_header(MIGRATION_MSG_STATE, MIGRATION_MAX_STATE_SIZE), 0);
	assert_int_equal(
		parse_header(MIGRATION_MSG_STATE, MIGRATION_MAX_STATE_SIZE + 1),
		-EPROTO);
	assert_int_equal(parse_header(MIGRATION_MSG_STATE, UINT32_MAX),
			 -EPROTO);
	assert_int_equal(parse_header(MIGRATION_MSG_END, 0), 0);
	assert_int_equal(parse_header(MIGRATION_MSG_END, 1), -EPROTO);
	assert_int_equal(parse_header(MIGRATION_MSG_ACK, 4), -EPROTO);
	assert_int_equal(parse_header(MIGRATION_MSG_SYNC, 0), 0);
	assert_int_equal(parse_header(MIGRATION_MSG_SYNC, 8), -EPROTO);
	assert_int_equal(
		parse_header(MIGRATION_MSG_ERROR, MIGRATION_MAX_ERROR_SIZE + 1),
		-EPROTO);
	assert_int_equal(parse_header(0, 0), -EPROTO);
	assert_int_equal(parse_header(99, 8), -EPROTO);
}

static void machine_round_trip_and_invalid(void **state)
{
	struct migration_machine in = {2, 256ull << 20, 256ull << 20}, out;
	uint8_t buf[MIGRATION_MACHINE_SIZE];
	struct tern_error err;

	migration_wire_encode_machine(buf, &in);
	assert_int_equal(
		migration_wire_parse_machine(buf, sizeof(buf), &out, &err), 0);
	assert_int_equal(out.vcpu_count, 2);
	assert_true(out.memory_size == in.memory_size);
	assert_int_equal(
		migration_wire_parse_machine(buf, sizeof(buf) - 1, &out, &err),
		-EPROTO);
	put_u32(buf, 0);
	assert_int_equal(
		migration_wire_parse_machine(buf, sizeof(buf), &out, &err),
		-EPROTO);
	in.mapping_size = in.memory_size - 4096; /* smaller than RAM */
	migration_wire_encode_machine(buf, &in);
	assert_int_equal(
		migration_wire_parse_machine(buf, sizeof(buf), &out, &err),
		-EPROTO);
	in.mapping_size = in.memory_size + 1; /* not whole pages */
	migration_wire_encode_machine(buf, &in);
	assert_int_equal(
		migration_wire_parse_machine(buf, sizeof(buf), &out, &err),
		-EPROTO);
}

static int parse_ram(uint64_t offset, size_t pages_bytes)
{
	size_t len = 8 + pages_bytes;
	uint8_t *payload = calloc(1, len);
	const uint8_t *pages;
	size_t pages_len;
	uint64_t off;
	struct tern_error err;
	int ret;

	put_u64(payload, offset);
	ret = migration_wire_parse_ram(payload, len, MAPPING_SIZE, &off, &pages,
				       &pages_len, &err);
	if (!ret) {
		assert_true(off == offset);
		assert_ptr_equal(pages, payload + 8);
		assert_int_equal(pages_len, pages_bytes);
		assert_true(off + pages_len <= MAPPING_SIZE);
	}
	free(payload);
	return ret;
}

static void ram_runs(void **state)
{
	assert_int_equal(parse_ram(0, 4096), 0);
	assert_int_equal(parse_ram(MAPPING_SIZE - 4096, 4096), 0);
	assert_int_equal(parse_ram(MAPPING_SIZE - 8192, 8192), 0);
	/* Past the end, straddling it, wrapping around, misaligned. */
	assert_int_equal(parse_ram(MAPPING_SIZE, 4096), -EPROTO);
	assert_int_equal(parse_ram(MAPPING_SIZE - 4096, 8192), -EPROTO);
	assert_int_equal(parse_ram(UINT64_MAX - 4095, 4096), -EPROTO);
	assert_int_equal(parse_ram(UINT64_MAX & ~4095ull, 8192), -EPROTO);
	assert_int_equal(parse_ram(2048, 4096), -EPROTO);
	/* Not whole pages, empty, too long. */
	assert_int_equal(parse_ram(0, 4095), -EPROTO);
	assert_int_equal(parse_ram(0, 0), -EPROTO);
	assert_int_equal(parse_ram(0, (MIGRATION_MAX_RUN_PAGES + 1) * 4096),
			 -EPROTO);
}

static struct migration_stream *plain(int fd)
{
	struct migration_stream *s = NULL;

	assert_int_equal(migration_stream_plain(fd, &s), 0);
	return s;
}

static void stream_round_trip(void **state)
{
	struct migration_stream *s0, *s1;
	int sv[2];
	uint8_t *payload = NULL;
	uint32_t type, length;
	struct tern_error err;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	s0 = plain(sv[0]);
	s1 = plain(sv[1]);
	assert_int_equal(
		migration_send_message(s0, MIGRATION_MSG_ERROR, "no", 2), 0);
	assert_int_equal(migration_send_message(s0, MIGRATION_MSG_END, NULL, 0),
			 0);
	assert_int_equal(
		migration_recv_message(s1, &type, &payload, &length, &err), 0);
	assert_int_equal(type, MIGRATION_MSG_ERROR);
	assert_int_equal(length, 2);
	assert_memory_equal(payload, "no", 2);
	free(payload);
	assert_int_equal(
		migration_recv_message(s1, &type, &payload, &length, &err), 0);
	assert_int_equal(type, MIGRATION_MSG_END);
	assert_null(payload);
	migration_stream_close(s0);
	/* End of stream where a header should be. */
	assert_int_equal(
		migration_recv_message(s1, &type, &payload, &length, &err),
		-EPIPE);
	migration_stream_close(s1);
}

struct reader {
	struct migration_stream *s;
	uint8_t *buf;
	size_t len;
	int ret;
};

static void *read_everything(void *arg)
{
	struct reader *r = arg;

	r->ret = migration_stream_read_all(r->s, r->buf, r->len);
	return NULL;
}

/* A header and a payload larger than the socket's buffer: sendmsg sends
 * part, and the rest follows from where it stopped, in order. */
static void stream_message_larger_than_the_socket_buffer(void **state)
{
	const size_t body_len = 4u << 20, total = 24 + body_len;
	struct migration_stream *s0, *s1;
	struct reader r = {0};
	uint8_t head[24], *body = malloc(body_len);
	pthread_t thread;
	int sv[2];

	assert_non_null(body);
	for (size_t i = 0; i < sizeof(head); i++)
		head[i] = (uint8_t)(0xa0 + i);
	for (size_t i = 0; i < body_len; i++)
		body[i] = (uint8_t)(i * 13 + i / 4096);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	s0 = plain(sv[0]);
	s1 = plain(sv[1]);
	r.s = s1;
	r.len = total;
	r.buf = malloc(total);
	assert_non_null(r.buf);
	assert_int_equal(pthread_create(&thread, NULL, read_everything, &r), 0);
	assert_int_equal(migration_stream_write_message(s0, head, sizeof(head),
							body, body_len),
			 0);
	pthread_join(thread, NULL);
	assert_int_equal(r.ret, 0);
	assert_memory_equal(r.buf, head, sizeof(head));
	assert_memory_equal(r.buf + sizeof(head), body, body_len);
	migration_stream_close(s0);
	migration_stream_close(s1);
	free(r.buf);
	free(body);
}

static void stream_truncated(void **state)
{
	uint8_t header[MIGRATION_MESSAGE_HEADER_SIZE];
	uint8_t *payload = NULL;
	uint32_t type, length;
	struct migration_stream *s1;
	struct tern_error err;
	int sv[2];

	/* A header announcing a whole page, then the peer goes away. */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	migration_wire_message_header(header, MIGRATION_MSG_RAM, 8 + 4096);
	assert_int_equal(write(sv[0], header, sizeof(header)), sizeof(header));
	assert_int_equal(write(sv[0], "12345678abc", 11), 11);
	close(sv[0]);
	s1 = plain(sv[1]);
	assert_int_equal(
		migration_recv_message(s1, &type, &payload, &length, &err),
		-EPIPE);
	assert_non_null(strstr(err.message, "truncated"));
	migration_stream_close(s1);

	/* Half a header. */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(write(sv[0], header, 5), 5);
	close(sv[0]);
	s1 = plain(sv[1]);
	assert_int_equal(
		migration_recv_message(s1, &type, &payload, &length, &err),
		-EPIPE);
	migration_stream_close(s1);
}

static void stream_oversized_refused_before_reading(void **state)
{
	uint8_t header[MIGRATION_MESSAGE_HEADER_SIZE];
	uint8_t *payload = NULL;
	uint32_t type, length;
	struct migration_stream *s1;
	struct tern_error err;
	int sv[2];

	/* 4 GiB of state announced: refused from the header alone, nothing
	 * allocated, nothing more read. */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	migration_wire_message_header(header, MIGRATION_MSG_STATE, UINT32_MAX);
	assert_int_equal(write(sv[0], header, sizeof(header)), sizeof(header));
	s1 = plain(sv[1]);
	assert_int_equal(
		migration_recv_message(s1, &type, &payload, &length, &err),
		-EPROTO);
	assert_null(payload);
	close(sv[0]);
	migration_stream_close(s1);
}

/* What a destination makes of a MACHINE message fed to it raw. */
static int receive_crafted_machine(uint32_t vcpus, uint64_t memory,
				   uint64_t mapping, struct tern_error *err)
{
	uint8_t hello[MIGRATION_HANDSHAKE_SIZE];
	uint8_t header[MIGRATION_MESSAGE_HEADER_SIZE];
	uint8_t payload[MIGRATION_MACHINE_SIZE];
	struct migration_machine m = {vcpus, memory, mapping};
	struct migration_stream *s1;
	int sv[2], ret;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	migration_wire_handshake(hello);
	migration_wire_message_header(header, MIGRATION_MSG_MACHINE,
				      sizeof(payload));
	migration_wire_encode_machine(payload, &m);
	assert_int_equal(write(sv[0], hello, sizeof(hello)), sizeof(hello));
	assert_int_equal(write(sv[0], header, sizeof(header)), sizeof(header));
	assert_int_equal(write(sv[0], payload, sizeof(payload)),
			 sizeof(payload));
	s1 = plain(sv[1]);
	ret = migration_receive_machine(s1, &m, err);
	migration_stream_close(s1);
	close(sv[0]);
	return ret;
}

/* The source's vCPU count and memory size go through the checks of --cpus
 * and --memory: before, 1 PiB of RAM or 64 MiB + 4 KiB passed and the
 * destination tried to allocate it. */
static void machine_message_checked_like_the_command_line(void **state)
{
	struct tern_error err;

	assert_int_equal(
		receive_crafted_machine(2, 64ull << 20, 64ull << 20, &err), 0);
	assert_int_equal(
		receive_crafted_machine(1, 1ull << 50, 1ull << 50, &err),
		-EINVAL);
	assert_non_null(strstr(err.message, "more than this host's RAM"));
	assert_int_equal(receive_crafted_machine(1, (64ull << 20) + 4096,
						 (64ull << 20) + 4096, &err),
			 -EINVAL);
	assert_non_null(strstr(err.message, "whole number of MiB"));
	assert_int_equal(
		receive_crafted_machine(1, 4ull << 20, 4ull << 20, &err),
		-EINVAL);
	assert_non_null(strstr(err.message, "too small"));
	assert_int_equal(receive_crafted_machine(VM_MAX_CPUS + 1, 64ull << 20,
						 64ull << 20, &err),
			 -EINVAL);
	assert_non_null(strstr(err.message, "too many"));
	assert_non_null(strstr(err.message, "the migrating VM's vCPU count"));
}

static void addresses(void **state)
{
	char host[64], port[8];
	struct tern_error err;

	assert_int_equal(migration_parse_address("tcp:127.0.0.1:4444", host,
						 sizeof(host), port,
						 sizeof(port), &err),
			 0);
	assert_string_equal(host, "127.0.0.1");
	assert_string_equal(port, "4444");
	assert_int_equal(migration_parse_address("tcp:[::1]:5", host,
						 sizeof(host), port,
						 sizeof(port), &err),
			 0);
	assert_string_equal(host, "::1");
	assert_int_equal(migration_parse_address("tcp::4444", host,
						 sizeof(host), port,
						 sizeof(port), &err),
			 0);
	assert_string_equal(host, "");
	assert_int_equal(migration_parse_address("unix:/x", host, sizeof(host),
						 port, sizeof(port), &err),
			 -EINVAL);
	assert_int_equal(migration_parse_address("tcp:host", host, sizeof(host),
						 port, sizeof(port), &err),
			 -EINVAL);
	assert_int_equal(migration_parse_address("tcp:host:", host,
						 sizeof(host), port,
						 sizeof(port), &err),
			 -EINVAL);
	assert_int_equal(migration_parse_address("tcp:host:12a", host,
						 sizeof(host), port,
						 sizeof(port), &err),
			 -EINVAL);
	assert_int_equal(migration_parse_address("tcp:h:123456789", host,
						 sizeof(host), port,
						 sizeof(port), &err),
			 -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(handshake_round_trip),
		cmocka_unit_test(handshake_bad_magic),
		cmocka_unit_test(handshake_other_version),
		cmocka_unit_test(message_header_bounds),
		cmocka_unit_test(machine_round_trip_and_invalid),
		cmocka_unit_test(ram_runs),
		cmocka_unit_test(stream_round_trip),
		cmocka_unit_test(stream_truncated),
		cmocka_unit_test(stream_oversized_refused_before_reading),
		cmocka_unit_test(stream_message_larger_than_the_socket_buffer),
		cmocka_unit_test(machine_message_checked_like_the_command_line),
		cmocka_unit_test(addresses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
