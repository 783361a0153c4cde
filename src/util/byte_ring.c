#include "util/byte_ring.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int byte_ring_init(struct byte_ring *ring, size_t capacity)
{
	memset(ring, 0, sizeof(*ring));
	if (!capacity)
		return -EINVAL;
	ring->buf = malloc(capacity);
	if (!ring->buf)
		return -ENOMEM;
	ring->capacity = capacity;
	return 0;
}

void byte_ring_free(struct byte_ring *ring)
{
	free(ring->buf);
	memset(ring, 0, sizeof(*ring));
}

size_t byte_ring_push(struct byte_ring *ring, const void *data, size_t len)
{
	const uint8_t *in = data;
	size_t dropped = 0, tail, first;

	if (!len)
		return 0;
	if (len >= ring->capacity) {
		/* Only the newest capacity bytes can stay. */
		dropped = ring->used + (len - ring->capacity);
		in += len - ring->capacity;
		len = ring->capacity;
		ring->head = 0;
		ring->used = 0;
	} else if (len > byte_ring_space(ring)) {
		size_t make = len - byte_ring_space(ring);

		byte_ring_consume(ring, make);
		dropped = make;
	}
	tail = (ring->head + ring->used) % ring->capacity;
	first = ring->capacity - tail < len ? ring->capacity - tail : len;
	memcpy(ring->buf + tail, in, first);
	memcpy(ring->buf, in + first, len - first);
	ring->used += len;
	ring->dropped += dropped;
	return dropped;
}

size_t byte_ring_peek(const struct byte_ring *ring, const uint8_t **data)
{
	size_t run = ring->capacity - ring->head;

	*data = ring->buf + ring->head;
	return ring->used < run ? ring->used : run;
}

void byte_ring_consume(struct byte_ring *ring, size_t n)
{
	if (n > ring->used)
		n = ring->used;
	ring->head = (ring->head + n) % ring->capacity;
	ring->used -= n;
	if (!ring->used)
		ring->head = 0;
}
