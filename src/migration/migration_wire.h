/* The live migration protocol between two tern processes, over one
 * stream (migration_stream.h: TLS, or plain TCP when asked for).
 *
 * Handshake, each way first: magic "TERNMIGR", version u32, reserved u32.
 * Then messages: type u32, length u32, payload of `length` bytes (all
 * integers little-endian):
 *   MACHINE  source->dest: vcpu_count u32, reserved u32, memory_size u64,
 *            mapping_size u64 (the shape of the VM to create)
 *   RAM      source->dest: offset u64 into the host-contiguous RAM image
 *            (as the snapshot memory file lays it out), then whole pages
 *   STATE    source->dest: a snapshot state file (src/snapshot/state_file.h)
 *            with the vCPU, VM and device sections
 *   END      source->dest: nothing follows; the destination resumes
 *   ACK      dest->source: the destination's VM runs
 *   ERROR    dest->source: a refusal, its reason as text
 *   SYNC     both ways: the source asks, the destination answers once it
 *            has applied everything sent before (so the pages still queued
 *            in socket buffers are not copied during the downtime)
 *
 * Everything from the peer is hostile: every length is checked against the
 * type's bounds before anything is read into memory. */
#ifndef TERN_MIGRATION_MIGRATION_WIRE_H
#define TERN_MIGRATION_MIGRATION_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "migration/migration_stream.h"
#include "util/error.h"

#define MIGRATION_MAGIC "TERNMIGR"
#define MIGRATION_VERSION 1
#define MIGRATION_HANDSHAKE_SIZE 16
#define MIGRATION_MESSAGE_HEADER_SIZE 8
#define MIGRATION_PAGE_SIZE 4096
/* One RAM message carries at most this many pages (256 KiB). */
#define MIGRATION_MAX_RUN_PAGES 64
#define MIGRATION_MACHINE_SIZE 24
/* The state of a VM is a few hundred KiB (XSAVE per vCPU, device queues)
 * plus, for a --firmware VM, its image (at most 16 MiB); a peer cannot make
 * tern allocate more. */
#define MIGRATION_MAX_STATE_SIZE (24u << 20)
#define MIGRATION_MAX_ERROR_SIZE 512
/* A peer that takes no data or sends none for this long is gone: neither
 * side waits forever (the source's VM must get back to running). */
#define MIGRATION_STALL_TIMEOUT_S 60

enum migration_msg_type {
	MIGRATION_MSG_MACHINE = 1,
	MIGRATION_MSG_RAM = 2,
	MIGRATION_MSG_STATE = 3,
	MIGRATION_MSG_END = 4,
	MIGRATION_MSG_ACK = 5,
	MIGRATION_MSG_ERROR = 6,
	MIGRATION_MSG_SYNC = 7,
};

struct migration_machine {
	uint32_t vcpu_count;
	uint64_t memory_size;
	uint64_t mapping_size;
};

void migration_wire_handshake(uint8_t out[MIGRATION_HANDSHAKE_SIZE]);
int migration_wire_check_handshake(const uint8_t in[MIGRATION_HANDSHAKE_SIZE],
				   struct tern_error *err);

void migration_wire_message_header(uint8_t out[MIGRATION_MESSAGE_HEADER_SIZE],
				   uint32_t type, uint32_t length);
/* Checks a received header: a known type and a length within its bounds. */
int migration_wire_parse_message_header(
	const uint8_t in[MIGRATION_MESSAGE_HEADER_SIZE], uint32_t *type,
	uint32_t *length, struct tern_error *err);

void migration_wire_encode_machine(uint8_t out[MIGRATION_MACHINE_SIZE],
				   const struct migration_machine *m);
int migration_wire_parse_machine(const uint8_t *payload, size_t length,
				 struct migration_machine *m,
				 struct tern_error *err);

/* A RAM payload: the offset, and the pages' bytes within payload. Refuses
 * a run that is not whole pages or reaches past mapping_size. */
int migration_wire_parse_ram(const uint8_t *payload, size_t length,
			     uint64_t mapping_size, uint64_t *offset,
			     const uint8_t **pages, size_t *pages_len,
			     struct tern_error *err);

/* Messages on the connection: 0, or a negative errno (-EPIPE at the end
 * of the stream). */
int migration_send_message(struct migration_stream *s, uint32_t type,
			   const void *payload, uint32_t length);
/* Reads one message: the header checked, the payload into a malloc'ed
 * buffer (NULL for an empty one) the caller frees. */
int migration_recv_message(struct migration_stream *s, uint32_t *type,
			   uint8_t **payload, uint32_t *length,
			   struct tern_error *err);

/* "tcp:HOST:PORT" into host and port (host may be empty for a listener). */
int migration_parse_address(const char *address, char *host, size_t host_size,
			    char *port, size_t port_size,
			    struct tern_error *err);

#endif
