#include "mmds/mmds_token.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include "util/siphash.h"

static const char b64[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int mmds_token_key_init(struct mmds_token_key *key, struct tern_error *err)
{
	size_t got = 0;

	while (got < sizeof(key->key)) {
		ssize_t n =
			getrandom(key->key + got, sizeof(key->key) - got, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return tern_error_set(err, errno ? errno : EIO,
					      "MMDS token key: getrandom: %s",
					      strerror(errno ? errno : EIO));
		got += (size_t)n;
	}
	return 0;
}

/* The tag covers a domain string with the expiry, so a SipHash value
 * computed by other users of a key (none today) never passes as a tag. */
static uint64_t token_tag(const struct mmds_token_key *key,
			  const uint8_t expiry[8])
{
	uint8_t msg[16] = "tern-mmds";

	memcpy(msg + 8, expiry, 8);
	return siphash24(key->key, msg, sizeof(msg));
}

static void put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint64_t get_le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

/* 16 bytes: five whole groups of three, then one byte and "==". */
static void encode16(const uint8_t in[16], char out[MMDS_TOKEN_SIZE])
{
	char *o = out;

	for (int i = 0; i < 15; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 |
			in[i + 2];

		*o++ = b64[v >> 18];
		*o++ = b64[(v >> 12) & 63];
		*o++ = b64[(v >> 6) & 63];
		*o++ = b64[v & 63];
	}
	*o++ = b64[in[15] >> 2];
	*o++ = b64[(in[15] & 3) << 4];
	*o++ = '=';
	*o++ = '=';
	*o = '\0';
}

static int b64_value(char c)
{
	const char *p = c ? strchr(b64, c) : NULL;

	return p ? (int)(p - b64) : -1;
}

/* The exact inverse of encode16: anything else (other lengths, bits set
 * that encode16 leaves clear, padding elsewhere) is refused. */
static bool decode16(const char *in, size_t len, uint8_t out[16])
{
	int v[MMDS_TOKEN_LEN - 2];

	if (len != MMDS_TOKEN_LEN || in[22] != '=' || in[23] != '=')
		return false;
	for (int i = 0; i < MMDS_TOKEN_LEN - 2; i++)
		if ((v[i] = b64_value(in[i])) < 0)
			return false;
	if (v[21] & 15)
		return false;
	for (int i = 0, j = 0; i < 15; i += 3, j += 4) {
		uint32_t w = (uint32_t)v[j] << 18 | (uint32_t)v[j + 1] << 12 |
			(uint32_t)v[j + 2] << 6 | (uint32_t)v[j + 3];

		out[i] = (uint8_t)(w >> 16);
		out[i + 1] = (uint8_t)(w >> 8);
		out[i + 2] = (uint8_t)w;
	}
	out[15] = (uint8_t)(v[20] << 2 | v[21] >> 4);
	return true;
}

void mmds_token_issue(const struct mmds_token_key *key, uint32_t ttl_s,
		      uint64_t now_ms, char out[MMDS_TOKEN_SIZE])
{
	uint8_t raw[16];

	put_le64(raw, now_ms + (uint64_t)ttl_s * 1000);
	put_le64(raw + 8, token_tag(key, raw));
	encode16(raw, out);
}

bool mmds_token_valid(const struct mmds_token_key *key, const char *token,
		      size_t len, uint64_t now_ms)
{
	uint8_t raw[16];
	uint64_t diff;

	if (!decode16(token, len, raw))
		return false;
	/* Compared without an early exit: the time taken says nothing about
	 * how much of a guessed tag was right. */
	diff = get_le64(raw + 8) ^ token_tag(key, raw);
	if (diff)
		return false;
	return get_le64(raw) > now_ms;
}
