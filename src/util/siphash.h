/* SipHash-2-4 (Aumasson and Bernstein, 2012): a keyed pseudo-random
 * function with a 128-bit key and a 64-bit result, made for
 * authenticating short messages. MMDS session tokens (src/mmds/mmds_token.c)
 * carry one as their tag. */
#ifndef TERN_UTIL_SIPHASH_H
#define TERN_UTIL_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

uint64_t siphash24(const uint8_t key[16], const void *data, size_t len);

#endif
