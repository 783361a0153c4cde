/* A bounded FIFO of bytes that never refuses a writer: when it is full the
 * oldest bytes make room and are counted as dropped. For consoles, where
 * the newest output matters most and no producer (a guest's vCPU, a VM's
 * relay) may ever wait for a slow or absent reader. Not thread-safe:
 * callers lock. */
#ifndef TERN_UTIL_BYTE_RING_H
#define TERN_UTIL_BYTE_RING_H

#include <stddef.h>
#include <stdint.h>

struct byte_ring {
	uint8_t *buf;
	size_t capacity;
	size_t head; /* the oldest byte */
	size_t used;
	uint64_t dropped; /* oldest bytes overwritten, in total */
};

/* 0, or -ENOMEM. capacity must be > 0. */
int byte_ring_init(struct byte_ring *ring, size_t capacity);
void byte_ring_free(struct byte_ring *ring);

/* Appends len bytes, dropping the oldest as needed (of a len larger than
 * the capacity only the last capacity bytes stay). Returns how many bytes
 * were dropped by this call. */
size_t byte_ring_push(struct byte_ring *ring, const void *data, size_t len);

/* The oldest bytes that are contiguous in memory: *data and their count
 * (0 when empty). */
size_t byte_ring_peek(const struct byte_ring *ring, const uint8_t **data);

/* Forgets the n oldest bytes (n <= used). */
void byte_ring_consume(struct byte_ring *ring, size_t n);

static inline size_t byte_ring_used(const struct byte_ring *ring)
{
	return ring->used;
}

static inline size_t byte_ring_space(const struct byte_ring *ring)
{
	return ring->capacity - ring->used;
}

#endif
