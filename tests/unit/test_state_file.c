/* The snapshot state file: a round trip, and every way a hostile or damaged
 * file is refused (never a crash: these run under ASan/UBSan too). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "snapshot/state_file.h"

#define HEADER_SIZE 48
#define ENTRY_SIZE 48

static void build_valid(uint8_t **buf, size_t *len)
{
	struct state_file sf;
	struct tern_error err = {{0}};
	uint8_t big[300];

	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7);
	state_file_init(&sf);
	assert_int_equal(state_file_add(&sf, 1, "alpha", "hello", 5, &err), 0);
	assert_int_equal(state_file_add(&sf, 2, "beta", big, sizeof(big), &err),
			 0);
	assert_int_equal(state_file_add(&sf, 3, "empty", NULL, 0, &err), 0);
	assert_int_equal(state_file_serialize(&sf, buf, len, &err), 0);
	state_file_free(&sf);
}

/* Parses a copy of buf (the parser takes it over). */
static int parse_copy(const uint8_t *buf, size_t len, struct tern_error *err)
{
	struct state_file sf;
	uint8_t *copy = malloc(len ? len : 1);
	int ret;

	memcpy(copy, buf, len);
	ret = state_file_parse(&sf, copy, len, err);
	state_file_free(&sf);
	return ret;
}

static void refix_checksum(uint8_t *buf, size_t len)
{
	uint32_t crc = (uint32_t)crc32(crc32(0, Z_NULL, 0), buf, len - 8);

	memcpy(buf + len - 4, &crc, 4);
}

static void expect_refusal(const uint8_t *buf, size_t len, const char *needle)
{
	struct tern_error err = {{0}};

	assert_true(parse_copy(buf, len, &err) < 0);
	if (!strstr(err.message, needle))
		fail_msg("expected '%s' in '%s'", needle, err.message);
}

static void round_trip(void **state)
{
	struct state_file sf;
	struct tern_error err = {{0}};
	const struct state_section *s;
	uint8_t *buf;
	size_t len;

	build_valid(&buf, &len);
	assert_int_equal(state_file_parse(&sf, buf, len, &err), 0);
	assert_int_equal(sf.section_count, 3);
	s = state_file_require(&sf, 1, "alpha", 5, &err);
	assert_non_null(s);
	assert_memory_equal(s->data, "hello", 5);
	s = state_file_require(&sf, 2, "beta", 300, &err);
	assert_non_null(s);
	assert_int_equal(s->data[299], (uint8_t)(299 * 7));
	assert_null(state_file_require(&sf, 9, "gamma", 0, &err));
	assert_non_null(
		strstr(err.message, "lacks the required section gamma"));
	assert_null(state_file_require(&sf, 1, "alpha", 6, &err));
	assert_non_null(strstr(err.message, "has 5 bytes, expected 6"));
	state_file_free(&sf);
}

static void write_and_read_a_file(void **state)
{
	char dir[] = "/tmp/tern-state-XXXXXX";
	char path[128];
	struct state_file sf;
	struct tern_error err = {{0}};

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/snap", dir);
	state_file_init(&sf);
	assert_int_equal(state_file_add(&sf, 7, "seven", "7", 1, &err), 0);
	assert_true(state_file_add(&sf, 7, "again", "7", 1, &err) < 0);
	assert_true(state_file_add(&sf, 8, "a-name-far-too-long-for-the-table",
				   "7", 1, &err) < 0);
	assert_int_equal(state_file_write(&sf, path, &err), 0);
	state_file_free(&sf);
	assert_int_equal(state_file_read(&sf, path, &err), 0);
	assert_non_null(state_file_find(&sf, 7));
	state_file_free(&sf);
	unlink(path);
	rmdir(dir);
	assert_true(state_file_read(&sf, path, &err) < 0);
	state_file_free(&sf);
}

static void oversized_file(void **state)
{
	char path[] = "/tmp/tern-state-big-XXXXXX";
	struct state_file sf;
	struct tern_error err = {{0}};
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	/* Sparse: no disk used. */
	assert_int_equal(ftruncate(fd, (off_t)STATE_FILE_MAX_SIZE + 1), 0);
	close(fd);
	assert_true(state_file_read(&sf, path, &err) < 0);
	assert_non_null(strstr(err.message, "too large"));
	state_file_free(&sf);
	unlink(path);
}

static void wrong_magic(void **state)
{
	uint8_t *buf;
	size_t len;

	build_valid(&buf, &len);
	buf[0] = 'X';
	expect_refusal(buf, len, "wrong magic");
	expect_refusal(buf, 3, "wrong magic");
	free(buf);
}

static void other_format_version(void **state)
{
	uint8_t *buf;
	size_t len;

	build_valid(&buf, &len);
	/* Version 1 had no configuration section. */
	buf[8] = 1;
	expect_refusal(buf, len, "format version 1 (written by tern");
	expect_refusal(buf, len, "reads format version 2");
	buf[8] = 3;
	expect_refusal(buf, len, "format version 3 (written by tern");
	free(buf);
}

static void truncated(void **state)
{
	uint8_t *buf;
	size_t len;

	build_valid(&buf, &len);
	expect_refusal(buf, 20, "truncated");
	for (size_t cut = 1; cut < len - 8; cut += 13)
		expect_refusal(buf, len - cut, "");
	expect_refusal(buf, len - 1, "truncated");
	free(buf);
}

static void checksum_mismatch(void **state)
{
	uint8_t *buf;
	size_t len;

	build_valid(&buf, &len);
	buf[len - 20] ^= 1;
	expect_refusal(buf, len, "checksum mismatch");
	free(buf);
}

static void duplicate_section(void **state)
{
	uint8_t *buf;
	size_t len;

	build_valid(&buf, &len);
	buf[HEADER_SIZE + ENTRY_SIZE] = 1; /* beta's id := alpha's */
	refix_checksum(buf, len);
	expect_refusal(buf, len, "section beta twice");
	free(buf);
}

static void section_past_the_end(void **state)
{
	uint8_t *buf;
	size_t len;
	uint64_t length = 10000;

	build_valid(&buf, &len);
	memcpy(buf + HEADER_SIZE + ENTRY_SIZE + 40, &length, 8);
	refix_checksum(buf, len);
	expect_refusal(buf, len, "section beta lies outside the file");
	free(buf);
}

static void offset_wrapping(void **state)
{
	uint8_t *buf;
	size_t len;
	uint64_t offset = UINT64_MAX - 7; /* aligned, wraps */

	build_valid(&buf, &len);
	memcpy(buf + HEADER_SIZE + 32, &offset, 8);
	refix_checksum(buf, len);
	expect_refusal(buf, len, "section alpha lies outside the file");
	free(buf);
}

static void misaligned_section(void **state)
{
	uint8_t *buf;
	size_t len;
	uint64_t offset;

	build_valid(&buf, &len);
	memcpy(&offset, buf + HEADER_SIZE + 32, 8);
	offset += 3;
	memcpy(buf + HEADER_SIZE + 32, &offset, 8);
	refix_checksum(buf, len);
	expect_refusal(buf, len, "section alpha is misaligned");
	free(buf);
}

static void oversized_section(void **state)
{
	uint8_t *buf;
	size_t len;
	uint64_t length = (uint64_t)STATE_FILE_MAX_SECTION_SIZE + 1;

	build_valid(&buf, &len);
	memcpy(buf + HEADER_SIZE + 40, &length, 8);
	refix_checksum(buf, len);
	expect_refusal(buf, len, "oversized");
	free(buf);
}

static void too_many_sections(void **state)
{
	uint8_t *buf;
	size_t len;
	uint32_t count = 100;

	build_valid(&buf, &len);
	memcpy(buf + 12, &count, 4);
	refix_checksum(buf, len);
	expect_refusal(buf, len, "section table runs past the end");
	count = 0xffffffff;
	memcpy(buf + 12, &count, 4);
	refix_checksum(buf, len);
	expect_refusal(buf, len, "sections (at most");
	free(buf);
}

static void unterminated_name(void **state)
{
	uint8_t *buf;
	size_t len;

	build_valid(&buf, &len);
	memset(buf + HEADER_SIZE + 8, 'A', STATE_FILE_NAME_SIZE);
	refix_checksum(buf, len);
	expect_refusal(buf, len, "unterminated name");
	free(buf);
}

/* Any single corrupted byte or byte run is refused (the CRC catches it, or
 * an earlier check does), and never crashes. */
static void random_corruption(void **state)
{
	uint8_t *buf, *copy;
	size_t len;
	unsigned seed = 12345;

	build_valid(&buf, &len);
	copy = malloc(len);
	for (int round = 0; round < 2000; round++) {
		struct tern_error err = {{0}};
		int flips = 1 + rand_r(&seed) % 4;

		memcpy(copy, buf, len);
		for (int f = 0; f < flips; f++) {
			size_t at = (size_t)rand_r(&seed) % len;
			uint8_t x = (uint8_t)(1 + rand_r(&seed) % 255);

			copy[at] ^= x;
		}
		assert_true(parse_copy(copy, len, &err) < 0);
		assert_true(err.message[0] != '\0');
		/* And with the checksum made right again, the structural
		 * checks alone must hold: accepted or refused, no crash. */
		refix_checksum(copy, len);
		parse_copy(copy, len, &err);
	}
	free(copy);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(round_trip),
		cmocka_unit_test(write_and_read_a_file),
		cmocka_unit_test(oversized_file),
		cmocka_unit_test(wrong_magic),
		cmocka_unit_test(other_format_version),
		cmocka_unit_test(truncated),
		cmocka_unit_test(checksum_mismatch),
		cmocka_unit_test(duplicate_section),
		cmocka_unit_test(section_past_the_end),
		cmocka_unit_test(offset_wrapping),
		cmocka_unit_test(misaligned_section),
		cmocka_unit_test(oversized_section),
		cmocka_unit_test(too_many_sections),
		cmocka_unit_test(unterminated_name),
		cmocka_unit_test(random_corruption),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
