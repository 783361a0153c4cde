/* The byte stream a live migration runs over. The sender and the receiver
 * (migration_send.c, migration_receive.c, migration_wire.c) only read and
 * write whole buffers through this interface; whether the bytes cross a
 * plain socket or a TLS session (migration_tls.c) is decided once, where
 * the connection is made (migration_transport.c).
 *
 * A stream owns its socket: migration_stream_close() closes both. */
#ifndef TERN_MIGRATION_MIGRATION_STREAM_H
#define TERN_MIGRATION_MIGRATION_STREAM_H

#include <stddef.h>
#include <sys/types.h>

struct migration_stream;

struct migration_stream_ops {
	/* As read(2) and send(2) on a blocking socket: the bytes moved (> 0),
	 * 0 at the end of the stream, or a negative errno (-ETIMEDOUT when the
	 * socket's timeout expired, -EPROTO when a TLS record is bad). */
	ssize_t (*read)(struct migration_stream *s, void *buf, size_t len);
	ssize_t (*write)(struct migration_stream *s, const void *buf,
			 size_t len);
	/* Optional: head then body, all of both, as one unit: 0 or a
	 * negative errno. Without it, two whole writes. */
	int (*write_message)(struct migration_stream *s, const void *head,
			     size_t head_len, const void *body,
			     size_t body_len);
	/* Ends the session (TLS: close_notify, best effort), closes the
	 * socket and frees the stream. */
	void (*close)(struct migration_stream *s);
};

struct migration_stream {
	const struct migration_stream_ops *ops;
	int fd; /* the socket underneath (its timeouts apply to the stream) */
	/* For the logs: "plain TCP (insecure)", "TLS 1.3, certificates"... */
	const char *description;
};

/* A stream straight on a connected socket (or one end of a socketpair).
 * Takes fd over; on failure (-ENOMEM) fd is closed. */
int migration_stream_plain(int fd, struct migration_stream **out);

/* Blocking: 0 once all of buf moved, or a negative errno (-EPIPE at the
 * end of the stream). */
int migration_stream_write_all(struct migration_stream *s, const void *buf,
			       size_t len);
int migration_stream_read_all(struct migration_stream *s, void *buf,
			      size_t len);
/* A message's header and its payload (a RAM run's pages), whole, as
 * migration_stream_write_all() of each would: but a small header then
 * costs no packet (plain: one sendmsg) or TLS record (an AEAD pass, a
 * record header and tag, a syscall on each side) of its own. */
int migration_stream_write_message(struct migration_stream *s, const void *head,
				   size_t head_len, const void *body,
				   size_t body_len);

/* A read or write that waits longer than this fails with -ETIMEDOUT
 * (SO_RCVTIMEO / SO_SNDTIMEO on the socket; 0: wait forever). */
void migration_stream_set_timeouts(struct migration_stream *s, int receive_s,
				   int send_s);

/* NULL is fine. */
void migration_stream_close(struct migration_stream *s);

#endif
