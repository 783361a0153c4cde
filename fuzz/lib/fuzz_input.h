/* Reading a libFuzzer input as a stream of little-endian fields. Reading
 * past the end yields zeros, so a target never checks lengths itself and
 * every input, however short, is a complete run. */
#ifndef TERN_FUZZ_INPUT_H
#define TERN_FUZZ_INPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct fuzz_input {
	const uint8_t *p;
	size_t left;
};

static inline struct fuzz_input fuzz_input_of(const uint8_t *data, size_t size)
{
	return (struct fuzz_input){data, size};
}

static inline bool fuzz_done(const struct fuzz_input *in)
{
	return in->left == 0;
}

static inline uint8_t fuzz_u8(struct fuzz_input *in)
{
	if (!in->left)
		return 0;
	in->left--;
	return *in->p++;
}

static inline uint16_t fuzz_u16(struct fuzz_input *in)
{
	uint16_t lo = fuzz_u8(in);

	return (uint16_t)(lo | fuzz_u8(in) << 8);
}

static inline uint32_t fuzz_u32(struct fuzz_input *in)
{
	uint32_t lo = fuzz_u16(in);

	return lo | (uint32_t)fuzz_u16(in) << 16;
}

static inline uint64_t fuzz_u64(struct fuzz_input *in)
{
	uint64_t lo = fuzz_u32(in);

	return lo | (uint64_t)fuzz_u32(in) << 32;
}

/* Copies up to n bytes into dst and zero-fills the rest; returns how many
 * came from the input. */
static inline size_t fuzz_bytes(struct fuzz_input *in, void *dst, size_t n)
{
	size_t take = n < in->left ? n : in->left;

	memcpy(dst, in->p, take);
	memset((uint8_t *)dst + take, 0, n - take);
	in->p += take;
	in->left -= take;
	return take;
}

#endif
