#include "arch/x86/acpi/aml.h"

#include <stdlib.h>
#include <string.h>

enum {
	AML_ZERO = 0x00,
	AML_ONE = 0x01,
	AML_NAME_OP = 0x08,
	AML_BYTE_PREFIX = 0x0a,
	AML_WORD_PREFIX = 0x0b,
	AML_DWORD_PREFIX = 0x0c,
	AML_STRING_PREFIX = 0x0d,
	AML_QWORD_PREFIX = 0x0e,
	AML_SCOPE_OP = 0x10,
	AML_BUFFER_OP = 0x11,
	AML_PACKAGE_OP = 0x12,
	AML_METHOD_OP = 0x14,
	AML_ARG0_OP = 0x68,
	AML_NOTIFY_OP = 0x86,
	AML_LEQUAL_OP = 0x93,
	AML_IF_OP = 0xa0,
	AML_EXT_OP_PREFIX = 0x5b,
	AML_DEVICE_OP = 0x82, /* after the extended prefix */
	AML_ROOT_CHAR = '\\',
	AML_DUAL_NAME_PREFIX = 0x2e,
	AML_MULTI_NAME_PREFIX = 0x2f,
	AML_ONES = 0xff,
};

/* What kind of object an open PkgLength belongs to, so close knows whether
 * a buffer size term goes first. Stored in the high bit of open_at. */
#define OPEN_IS_BUFFER ((size_t)1 << (sizeof(size_t) * 8 - 1))

void aml_init(struct aml *aml)
{
	memset(aml, 0, sizeof(*aml));
}

void aml_free(struct aml *aml)
{
	free(aml->data);
	memset(aml, 0, sizeof(*aml));
}

static int reserve(struct aml *aml, size_t extra)
{
	size_t want, cap;
	uint8_t *grown;

	if (aml->failed)
		return -1;
	want = aml->len + extra;
	if (want <= aml->cap)
		return 0;
	cap = aml->cap ? aml->cap : 256;
	while (cap < want)
		cap *= 2;
	grown = realloc(aml->data, cap);
	if (!grown) {
		aml->failed = 1;
		return -1;
	}
	aml->data = grown;
	aml->cap = cap;
	return 0;
}

void aml_bytes(struct aml *aml, const void *bytes, size_t len)
{
	if (reserve(aml, len))
		return;
	memcpy(aml->data + aml->len, bytes, len);
	aml->len += len;
}

void aml_byte(struct aml *aml, uint8_t byte)
{
	aml_bytes(aml, &byte, 1);
}

static void put_le(struct aml *aml, uint64_t value, int bytes)
{
	for (int i = 0; i < bytes; i++)
		aml_byte(aml, (uint8_t)(value >> (8 * i)));
}

static void name_segment(struct aml *aml, const char *seg, size_t len)
{
	char padded[4] = {'_', '_', '_', '_'};

	memcpy(padded, seg, len > 4 ? 4 : len);
	aml_bytes(aml, padded, 4);
}

void aml_name_string(struct aml *aml, const char *path)
{
	const char *segs[16];
	size_t lens[16];
	int count = 0;

	while (*path == AML_ROOT_CHAR || *path == '^')
		aml_byte(aml, (uint8_t)*path++);
	while (*path && count < 16) {
		const char *dot = strchr(path, '.');
		size_t len = dot ? (size_t)(dot - path) : strlen(path);

		segs[count] = path;
		lens[count++] = len;
		path += len + (dot ? 1 : 0);
	}
	if (count == 0) {
		aml_byte(aml, 0); /* NullName */
		return;
	}
	if (count == 2)
		aml_byte(aml, AML_DUAL_NAME_PREFIX);
	else if (count > 2) {
		aml_byte(aml, AML_MULTI_NAME_PREFIX);
		aml_byte(aml, (uint8_t)count);
	}
	for (int i = 0; i < count; i++)
		name_segment(aml, segs[i], lens[i]);
}

void aml_integer(struct aml *aml, uint64_t value)
{
	if (value == 0)
		aml_byte(aml, AML_ZERO);
	else if (value == 1)
		aml_byte(aml, AML_ONE);
	else if (value <= 0xff) {
		aml_byte(aml, AML_BYTE_PREFIX);
		put_le(aml, value, 1);
	} else if (value <= 0xffff) {
		aml_byte(aml, AML_WORD_PREFIX);
		put_le(aml, value, 2);
	} else if (value <= 0xffffffff) {
		aml_byte(aml, AML_DWORD_PREFIX);
		put_le(aml, value, 4);
	} else {
		aml_byte(aml, AML_QWORD_PREFIX);
		put_le(aml, value, 8);
	}
}

void aml_string(struct aml *aml, const char *text)
{
	aml_byte(aml, AML_STRING_PREFIX);
	aml_bytes(aml, text, strlen(text) + 1);
}

/* EISA IDs pack three letters in 5 bits each and four hex digits, stored
 * big-endian in a little-endian DWord (ACPI 6.4 section 19.6.35, EISAID). */
void aml_eisa_id(struct aml *aml, const char *id)
{
	uint32_t value = 0;

	for (int i = 0; i < 3 && id[i]; i++)
		value = (value << 5) | (uint32_t)((id[i] - 'A' + 1) & 0x1f);
	for (int i = 3; i < 7 && id[i]; i++) {
		char c = id[i];
		uint32_t digit = (uint32_t)(c >= 'A' ? c - 'A' + 10 : c - '0');

		value = (value << 4) | (digit & 0xf);
	}
	value = __builtin_bswap32(value);
	aml_byte(aml, AML_DWORD_PREFIX);
	put_le(aml, value, 4);
}

void aml_name(struct aml *aml, const char *path)
{
	aml_byte(aml, AML_NAME_OP);
	aml_name_string(aml, path);
}

static void open_pkg(struct aml *aml, int is_buffer)
{
	if (aml->depth >= AML_MAX_DEPTH) {
		aml->failed = 1;
		return;
	}
	aml->open_at[aml->depth++] =
		aml->len | (is_buffer ? OPEN_IS_BUFFER : 0);
}

void aml_scope_open(struct aml *aml, const char *path)
{
	aml_byte(aml, AML_SCOPE_OP);
	open_pkg(aml, 0);
	aml_name_string(aml, path);
}

void aml_device_open(struct aml *aml, const char *path)
{
	aml_byte(aml, AML_EXT_OP_PREFIX);
	aml_byte(aml, AML_DEVICE_OP);
	open_pkg(aml, 0);
	aml_name_string(aml, path);
}

void aml_package_open(struct aml *aml, uint8_t element_count)
{
	aml_byte(aml, AML_PACKAGE_OP);
	open_pkg(aml, 0);
	aml_byte(aml, element_count);
}

void aml_buffer_open(struct aml *aml)
{
	aml_byte(aml, AML_BUFFER_OP);
	open_pkg(aml, 1);
}

void aml_method_open(struct aml *aml, const char *path, uint8_t arg_count)
{
	if (arg_count > 7) {
		aml->failed = 1;
		return;
	}
	aml_byte(aml, AML_METHOD_OP);
	open_pkg(aml, 0);
	aml_name_string(aml, path);
	/* MethodFlags: ArgCount in bits 0-2; NotSerialized, SyncLevel 0. */
	aml_byte(aml, arg_count);
}

void aml_if_open(struct aml *aml)
{
	aml_byte(aml, AML_IF_OP);
	open_pkg(aml, 0);
}

void aml_lequal(struct aml *aml)
{
	aml_byte(aml, AML_LEQUAL_OP);
}

void aml_arg(struct aml *aml, int index)
{
	if (index < 0 || index > 6) {
		aml->failed = 1;
		return;
	}
	aml_byte(aml, (uint8_t)(AML_ARG0_OP + index));
}

void aml_notify(struct aml *aml, const char *path, uint64_t value)
{
	aml_byte(aml, AML_NOTIFY_OP);
	aml_name_string(aml, path);
	aml_integer(aml, value);
}

int aml_encode_pkg_length(size_t content_len, uint8_t out[4])
{
	/* The PkgLength counts itself: try each encoding size. */
	if (content_len + 1 < 0x40) {
		out[0] = (uint8_t)(content_len + 1);
		return 1;
	}
	for (int n = 2; n <= 4; n++) {
		size_t total = content_len + (size_t)n;

		if (total < ((size_t)1 << (4 + 8 * (n - 1)))) {
			out[0] = (uint8_t)(((n - 1) << 6) | (total & 0x0f));
			for (int i = 1; i < n; i++)
				out[i] = (uint8_t)(total >> (4 + 8 * (i - 1)));
			return n;
		}
	}
	return 0;
}

static void insert_at(struct aml *aml, size_t at, const uint8_t *bytes,
		      size_t len)
{
	if (reserve(aml, len))
		return;
	memmove(aml->data + at + len, aml->data + at, aml->len - at);
	memcpy(aml->data + at, bytes, len);
	aml->len += len;
}

void aml_close(struct aml *aml)
{
	uint8_t prefix[4 + 9];
	size_t start, content_len, prefix_len = 0;
	int is_buffer, n;

	if (aml->failed)
		return;
	if (aml->depth == 0) {
		aml->failed = 1;
		return;
	}
	start = aml->open_at[--aml->depth];
	is_buffer = (start & OPEN_IS_BUFFER) != 0;
	start &= ~OPEN_IS_BUFFER;
	content_len = aml->len - start;

	if (is_buffer) {
		/* Buffer: PkgLength covers the size term too. */
		struct aml size_term;

		aml_init(&size_term);
		aml_integer(&size_term, content_len);
		if (size_term.failed) {
			aml->failed = 1;
			aml_free(&size_term);
			return;
		}
		n = aml_encode_pkg_length(content_len + size_term.len, prefix);
		memcpy(prefix + n, size_term.data, size_term.len);
		prefix_len = (size_t)n + size_term.len;
		aml_free(&size_term);
	} else {
		n = aml_encode_pkg_length(content_len, prefix);
		prefix_len = (size_t)n;
	}
	if (n == 0) {
		aml->failed = 1;
		return;
	}
	insert_at(aml, start, prefix, prefix_len);
}

void aml_resource_io(struct aml *aml, uint16_t base, uint8_t length)
{
	/* Small item, I/O port descriptor, 16-bit decode. */
	const uint8_t item[8] = {
		0x47,
		1,
		(uint8_t)base,
		(uint8_t)(base >> 8),
		(uint8_t)base,
		(uint8_t)(base >> 8),
		1,
		length,
	};
	aml_bytes(aml, item, sizeof(item));
}

void aml_resource_irq(struct aml *aml, uint8_t irq)
{
	/* Small item, IRQ descriptor without flags: edge, active high. */
	uint16_t mask = (uint16_t)(1u << (irq & 15));
	const uint8_t item[3] = {0x22, (uint8_t)mask, (uint8_t)(mask >> 8)};

	aml_bytes(aml, item, sizeof(item));
}

void aml_resource_memory32_fixed(struct aml *aml, uint32_t base,
				 uint32_t length)
{
	aml_byte(aml, 0x86);
	put_le(aml, 9, 2);
	aml_byte(aml, 1); /* read-write */
	put_le(aml, base, 4);
	put_le(aml, length, 4);
}

/* General flags of an address space descriptor: a producer (a bridge
 * window) whose minimum and maximum are fixed. */
#define ADDR_FLAGS_FIXED_WINDOW 0x0c

enum { ADDR_SPACE_MEMORY = 0, ADDR_SPACE_IO = 1, ADDR_SPACE_BUS = 2 };

static void word_address(struct aml *aml, uint8_t space, uint8_t type_flags,
			 uint16_t first, uint16_t last)
{
	aml_byte(aml, 0x88);
	put_le(aml, 13, 2);
	aml_byte(aml, space);
	aml_byte(aml, ADDR_FLAGS_FIXED_WINDOW);
	aml_byte(aml, type_flags);
	put_le(aml, 0, 2); /* granularity */
	put_le(aml, first, 2);
	put_le(aml, last, 2);
	put_le(aml, 0, 2); /* translation */
	put_le(aml, (uint32_t)last - first + 1, 2);
}

void aml_resource_bus_range(struct aml *aml, uint16_t first, uint16_t last)
{
	word_address(aml, ADDR_SPACE_BUS, 0, first, last);
}

void aml_resource_io_window(struct aml *aml, uint16_t first, uint16_t last)
{
	word_address(aml, ADDR_SPACE_IO, 3 /* ISA and non-ISA ranges */, first,
		     last);
}

void aml_resource_memory32_window(struct aml *aml, uint32_t first,
				  uint32_t last)
{
	aml_byte(aml, 0x87);
	put_le(aml, 23, 2);
	aml_byte(aml, ADDR_SPACE_MEMORY);
	aml_byte(aml, ADDR_FLAGS_FIXED_WINDOW);
	aml_byte(aml, 1); /* read-write, non-cacheable */
	put_le(aml, 0, 4);
	put_le(aml, first, 4);
	put_le(aml, last, 4);
	put_le(aml, 0, 4);
	put_le(aml, (uint64_t)last - first + 1, 4);
}

void aml_resource_interrupt(struct aml *aml, uint32_t gsi, int level_triggered)
{
	/* Extended interrupt descriptor: consumer, exclusive, active high. */
	aml_byte(aml, 0x89);
	put_le(aml, 6, 2);
	aml_byte(aml, (uint8_t)(0x01 | (level_triggered ? 0 : 0x02)));
	aml_byte(aml, 1);
	put_le(aml, gsi, 4);
}

void aml_resource_end(struct aml *aml)
{
	const uint8_t end_tag[2] = {0x79, 0};

	aml_bytes(aml, end_tag, sizeof(end_tag));
}
