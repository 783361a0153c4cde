#include "migration/migration_wire.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

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

static uint32_t get_u32(const uint8_t *p)
{
	uint32_t v = 0;

	for (int i = 3; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static uint64_t get_u64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

void migration_wire_handshake(uint8_t out[MIGRATION_HANDSHAKE_SIZE])
{
	memcpy(out, MIGRATION_MAGIC, 8);
	put_u32(out + 8, MIGRATION_VERSION);
	put_u32(out + 12, 0);
}

int migration_wire_check_handshake(const uint8_t in[MIGRATION_HANDSHAKE_SIZE],
				   struct tern_error *err)
{
	uint32_t version = get_u32(in + 8);

	if (memcmp(in, MIGRATION_MAGIC, 8))
		return tern_error_set(err, EPROTO,
				      "the peer is not a tern migration "
				      "stream (bad magic)");
	if (version != MIGRATION_VERSION)
		return tern_error_set(err, EPROTO,
				      "the peer speaks migration protocol "
				      "version %u; this tern speaks %u",
				      version, MIGRATION_VERSION);
	return 0;
}

void migration_wire_message_header(uint8_t out[MIGRATION_MESSAGE_HEADER_SIZE],
				   uint32_t type, uint32_t length)
{
	put_u32(out, type);
	put_u32(out + 4, length);
}

int migration_wire_parse_message_header(
	const uint8_t in[MIGRATION_MESSAGE_HEADER_SIZE], uint32_t *type,
	uint32_t *length, struct tern_error *err)
{
	uint32_t t = get_u32(in), len = get_u32(in + 4);
	uint32_t min = 0, max = 0;

	switch (t) {
	case MIGRATION_MSG_MACHINE:
		min = max = MIGRATION_MACHINE_SIZE;
		break;
	case MIGRATION_MSG_RAM:
		min = 8 + MIGRATION_PAGE_SIZE;
		max = 8 + MIGRATION_MAX_RUN_PAGES * MIGRATION_PAGE_SIZE;
		break;
	case MIGRATION_MSG_STATE:
		min = 1;
		max = MIGRATION_MAX_STATE_SIZE;
		break;
	case MIGRATION_MSG_END:
	case MIGRATION_MSG_ACK:
	case MIGRATION_MSG_SYNC:
		break;
	case MIGRATION_MSG_ERROR:
		max = MIGRATION_MAX_ERROR_SIZE;
		break;
	default:
		return tern_error_set(err, EPROTO,
				      "unknown migration message type %u", t);
	}
	if (len < min || len > max)
		return tern_error_set(err, EPROTO,
				      "migration message type %u has %u bytes "
				      "(allowed: %u to %u)",
				      t, len, min, max);
	*type = t;
	*length = len;
	return 0;
}

void migration_wire_encode_machine(uint8_t out[MIGRATION_MACHINE_SIZE],
				   const struct migration_machine *m)
{
	put_u32(out, m->vcpu_count);
	put_u32(out + 4, 0);
	put_u64(out + 8, m->memory_size);
	put_u64(out + 16, m->mapping_size);
}

int migration_wire_parse_machine(const uint8_t *payload, size_t length,
				 struct migration_machine *m,
				 struct tern_error *err)
{
	if (length != MIGRATION_MACHINE_SIZE)
		return tern_error_set(err, EPROTO,
				      "migration machine message has %zu "
				      "bytes, not %d",
				      length, MIGRATION_MACHINE_SIZE);
	m->vcpu_count = get_u32(payload);
	m->memory_size = get_u64(payload + 8);
	m->mapping_size = get_u64(payload + 16);
	if (m->vcpu_count == 0 || m->memory_size == 0 ||
	    m->mapping_size < m->memory_size ||
	    m->mapping_size % MIGRATION_PAGE_SIZE)
		return tern_error_set(err, EPROTO,
				      "the migrating machine (%u vCPUs, "
				      "%llu bytes of RAM, %llu mapped) is "
				      "invalid",
				      m->vcpu_count,
				      (unsigned long long)m->memory_size,
				      (unsigned long long)m->mapping_size);
	return 0;
}

int migration_wire_parse_ram(const uint8_t *payload, size_t length,
			     uint64_t mapping_size, uint64_t *offset,
			     const uint8_t **pages, size_t *pages_len,
			     struct tern_error *err)
{
	uint64_t off, len;

	if (length < 8 + MIGRATION_PAGE_SIZE ||
	    (length - 8) % MIGRATION_PAGE_SIZE ||
	    length - 8 > MIGRATION_MAX_RUN_PAGES * MIGRATION_PAGE_SIZE)
		return tern_error_set(err, EPROTO,
				      "migration RAM message of %zu bytes is "
				      "not whole pages",
				      length);
	off = get_u64(payload);
	len = length - 8;
	if (off % MIGRATION_PAGE_SIZE || off > mapping_size ||
	    len > mapping_size - off)
		return tern_error_set(err, EPROTO,
				      "migration RAM run at offset 0x%llx "
				      "(%llu bytes) lies outside the %llu "
				      "bytes of guest RAM",
				      (unsigned long long)off,
				      (unsigned long long)len,
				      (unsigned long long)mapping_size);
	*offset = off;
	*pages = payload + 8;
	*pages_len = (size_t)len;
	return 0;
}

int migration_send_message(struct migration_stream *s, uint32_t type,
			   const void *payload, uint32_t length)
{
	uint8_t header[MIGRATION_MESSAGE_HEADER_SIZE];

	migration_wire_message_header(header, type, length);
	return migration_stream_write_message(s, header, sizeof(header),
					      payload, length);
}

int migration_recv_message(struct migration_stream *s, uint32_t *type,
			   uint8_t **payload, uint32_t *length,
			   struct tern_error *err)
{
	uint8_t header[MIGRATION_MESSAGE_HEADER_SIZE];
	uint8_t *buf = NULL;
	int ret = migration_stream_read_all(s, header, sizeof(header));

	if (ret)
		return tern_error_set(err, -ret, "migration stream: %s",
				      /* Worded as the sender's write errors:
				       * which side notices a cut first is
				       * timing. */
				      ret == -EPIPE ? "connection closed by "
						      "the peer"
						    : strerror(-ret));
	ret = migration_wire_parse_message_header(header, type, length, err);
	if (ret)
		return ret;
	if (*length) {
		buf = malloc(*length);
		if (!buf)
			return tern_error_set(err, ENOMEM, "out of memory");
		ret = migration_stream_read_all(s, buf, *length);
		if (ret) {
			free(buf);
			return tern_error_set(
				err, -ret,
				"migration stream: %s in a message of %u "
				"bytes",
				ret == -EPIPE ? "truncated" : strerror(-ret),
				*length);
		}
	}
	*payload = buf;
	return 0;
}

int migration_parse_address(const char *address, char *host, size_t host_size,
			    char *port, size_t port_size,
			    struct tern_error *err)
{
	const char *rest, *colon;
	size_t host_len;

	if (!address || strncmp(address, "tcp:", 4))
		return tern_error_set(err, EINVAL,
				      "migration address '%.64s': use "
				      "tcp:HOST:PORT",
				      address ? address : "");
	rest = address + 4;
	colon = strrchr(rest, ':');
	if (!colon || !colon[1])
		return tern_error_set(err, EINVAL,
				      "migration address '%.64s' has no port",
				      address);
	host_len = (size_t)(colon - rest);
	if (host_len >= host_size || strlen(colon + 1) >= port_size)
		return tern_error_set(err, EINVAL,
				      "migration address '%.64s' is too long",
				      address);
	memcpy(host, rest, host_len);
	host[host_len] = '\0';
	/* [::1]:4444 */
	if (host_len >= 2 && host[0] == '[' && host[host_len - 1] == ']') {
		memmove(host, host + 1, host_len - 2);
		host[host_len - 2] = '\0';
	}
	strcpy(port, colon + 1);
	for (const char *p = port; *p; p++)
		if (*p < '0' || *p > '9')
			return tern_error_set(err, EINVAL,
					      "migration address '%.64s': the "
					      "port is not a number",
					      address);
	return 0;
}
