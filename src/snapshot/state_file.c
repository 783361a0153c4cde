#include "snapshot/state_file.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "util/host_path.h"
#include "util/version.h"
#include "util/le_bytes.h"

#define HEADER_SIZE (8 + 4 + 4 + STATE_FILE_VERSION_SIZE)
#define TABLE_ENTRY_SIZE (4 + 4 + STATE_FILE_NAME_SIZE + 8 + 8)
#define TRAILER_MAGIC "TSUM"
#define TRAILER_SIZE 8
/* Payloads start 8-byte aligned (the header and table entries are
 * multiples of 8), so consumers may read KVM structs in place. */
#define PAYLOAD_ALIGN 8

static size_t align_up(size_t n)
{
	return (n + PAYLOAD_ALIGN - 1) & ~(size_t)(PAYLOAD_ALIGN - 1);
}

void state_file_init(struct state_file *sf)
{
	memset(sf, 0, sizeof(*sf));
	sf->format_version = STATE_FILE_FORMAT_VERSION;
	snprintf(sf->tern_version, sizeof(sf->tern_version), "%s",
		 TERN_VERSION);
}

int state_file_add(struct state_file *sf, uint32_t id, const char *name,
		   const void *payload, size_t length, struct tern_error *err)
{
	struct state_section *section;

	if (strlen(name) >= STATE_FILE_NAME_SIZE)
		return tern_error_set(err, EINVAL,
				      "snapshot section name '%s' is too long",
				      name);
	if (length > STATE_FILE_MAX_SECTION_SIZE)
		return tern_error_set(err, EFBIG,
				      "snapshot section %s is too large (%zu "
				      "bytes)",
				      name, length);
	if (state_file_find(sf, id))
		return tern_error_set(err, EEXIST,
				      "snapshot section %s added twice", name);
	if (sf->section_count >= STATE_FILE_MAX_SECTIONS)
		return tern_error_set(err, ENOSPC,
				      "too many snapshot sections");
	if (sf->section_count == sf->capacity) {
		uint32_t capacity = sf->capacity ? sf->capacity * 2 : 16;
		struct state_section *grown =
			realloc(sf->sections, capacity * sizeof(*sf->sections));

		if (!grown)
			return tern_error_set(err, ENOMEM,
					      "out of memory for the snapshot");
		sf->sections = grown;
		sf->capacity = capacity;
	}
	section = &sf->sections[sf->section_count];
	memset(section, 0, sizeof(*section));
	section->data = malloc(length ? length : 1);
	if (!section->data)
		return tern_error_set(err, ENOMEM,
				      "out of memory for the snapshot");
	if (length)
		memcpy(section->data, payload, length);
	section->id = id;
	section->length = length;
	snprintf(section->name, sizeof(section->name), "%s", name);
	sf->section_count++;
	return 0;
}

static uint32_t checksum(const uint8_t *buf, size_t len)
{
	uLong crc = crc32(0L, Z_NULL, 0);

	/* zlib takes uInt lengths: feed large buffers in pieces. */
	while (len) {
		uInt piece = len > (1u << 30) ? (1u << 30) : (uInt)len;

		crc = crc32(crc, buf, piece);
		buf += piece;
		len -= piece;
	}
	return (uint32_t)crc;
}

int state_file_serialize(const struct state_file *sf, uint8_t **out,
			 size_t *out_len, struct tern_error *err)
{
	size_t total =
		HEADER_SIZE + (size_t)sf->section_count * TABLE_ENTRY_SIZE;
	uint8_t *buf, *p;
	size_t offset;

	for (uint32_t i = 0; i < sf->section_count; i++)
		total += align_up(sf->sections[i].length);
	total += TRAILER_SIZE;
	buf = calloc(1, total);
	if (!buf)
		return tern_error_set(err, ENOMEM,
				      "out of memory for the snapshot");

	memcpy(buf, STATE_FILE_MAGIC, 8);
	le_put32(buf + 8, sf->format_version);
	le_put32(buf + 12, sf->section_count);
	memcpy(buf + 16, sf->tern_version,
	       strnlen(sf->tern_version, STATE_FILE_VERSION_SIZE));

	p = buf + HEADER_SIZE;
	offset = HEADER_SIZE + (size_t)sf->section_count * TABLE_ENTRY_SIZE;
	for (uint32_t i = 0; i < sf->section_count; i++) {
		const struct state_section *s = &sf->sections[i];

		le_put32(p, s->id);
		memcpy(p + 8, s->name, strnlen(s->name, STATE_FILE_NAME_SIZE));
		le_put64(p + 8 + STATE_FILE_NAME_SIZE, offset);
		le_put64(p + 16 + STATE_FILE_NAME_SIZE, s->length);
		if (s->length)
			memcpy(buf + offset, s->data, s->length);
		offset += align_up(s->length); /* calloc'ed padding */
		p += TABLE_ENTRY_SIZE;
	}
	memcpy(buf + offset, TRAILER_MAGIC, 4);
	le_put32(buf + offset + 4, checksum(buf, offset));
	*out = buf;
	*out_len = total;
	return 0;
}

static int write_all(int fd, const uint8_t *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static void fsync_directory_of(const char *path)
{
	char *copy = strdup(path);
	int fd;

	if (!copy)
		return;
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	free(copy);
}

int state_file_write(const struct state_file *sf, const char *path,
		     struct tern_error *err)
{
	uint8_t *buf;
	size_t len;
	char *tmp;
	int fd, ret;

	ret = host_path_check_replaceable(path, "snapshot", err);
	if (!ret)
		ret = state_file_serialize(sf, &buf, &len, err);
	if (ret)
		return ret;
	if (asprintf(&tmp, "%s.tmp-XXXXXX", path) < 0) {
		free(buf);
		return tern_error_set(err, ENOMEM, "out of memory");
	}
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		ret = tern_error_set(err, errno, "snapshot %s: %s", path,
				     strerror(errno));
		goto out;
	}
	ret = write_all(fd, buf, len);
	if (!ret && fsync(fd) < 0)
		ret = -errno;
	if (close(fd) < 0 && !ret)
		ret = -errno;
	if (!ret && rename(tmp, path) < 0)
		ret = -errno;
	if (ret) {
		unlink(tmp);
		ret = tern_error_set(err, -ret, "cannot write snapshot %s: %s",
				     path, strerror(-ret));
		goto out;
	}
	fsync_directory_of(path);
out:
	free(tmp);
	free(buf);
	return ret;
}

static int check_table_entry(struct state_file *sf, uint32_t i,
			     size_t payload_end, struct tern_error *err)
{
	const uint8_t *p =
		sf->buffer + HEADER_SIZE + (size_t)i * TABLE_ENTRY_SIZE;
	struct state_section *s = &sf->sections[i];

	s->id = le_get32(p);
	memcpy(s->name, p + 8, STATE_FILE_NAME_SIZE);
	if (memchr(s->name, '\0', STATE_FILE_NAME_SIZE) == NULL)
		return tern_error_set(err, EINVAL,
				      "snapshot is corrupt: section %u has an "
				      "unterminated name",
				      i);
	s->offset = le_get64(p + 8 + STATE_FILE_NAME_SIZE);
	s->length = le_get64(p + 16 + STATE_FILE_NAME_SIZE);
	if (s->length > STATE_FILE_MAX_SECTION_SIZE)
		return tern_error_set(err, EFBIG,
				      "snapshot section %s is oversized (%llu "
				      "bytes, at most %u)",
				      s->name, (unsigned long long)s->length,
				      STATE_FILE_MAX_SECTION_SIZE);
	if (s->offset % PAYLOAD_ALIGN)
		return tern_error_set(err, EINVAL,
				      "snapshot section %s is misaligned "
				      "(offset %llu)",
				      s->name, (unsigned long long)s->offset);
	if (s->offset > payload_end || s->length > payload_end - s->offset ||
	    s->offset <
		    HEADER_SIZE + (size_t)sf->section_count * TABLE_ENTRY_SIZE)
		return tern_error_set(err, EINVAL,
				      "snapshot section %s lies outside the "
				      "file (offset %llu, length %llu, file "
				      "data ends at %zu)",
				      s->name, (unsigned long long)s->offset,
				      (unsigned long long)s->length,
				      payload_end);
	for (uint32_t j = 0; j < i; j++)
		if (sf->sections[j].id == s->id)
			return tern_error_set(
				err, EINVAL,
				"snapshot has section %s twice (id 0x%x)",
				s->name, s->id);
	s->data = sf->buffer + s->offset;
	return 0;
}

int state_file_parse(struct state_file *sf, uint8_t *buf, size_t len,
		     struct tern_error *err)
{
	size_t payload_end;
	uint32_t count;

	memset(sf, 0, sizeof(*sf));
	sf->buffer = buf;
	sf->buffer_size = len;
	if (len < 8 || memcmp(buf, STATE_FILE_MAGIC, 8) != 0)
		return tern_error_set(err, EINVAL,
				      "not a tern snapshot (wrong magic)");
	if (len < HEADER_SIZE + TRAILER_SIZE)
		return tern_error_set(err, EINVAL,
				      "snapshot is truncated (%zu bytes)", len);
	sf->format_version = le_get32(buf + 8);
	memcpy(sf->tern_version, buf + 16, STATE_FILE_VERSION_SIZE);
	sf->tern_version[STATE_FILE_VERSION_SIZE] = '\0';
	for (char *c = sf->tern_version; *c; c++)
		if (*c < 0x20 || *c > 0x7e)
			*c = '?'; /* it goes into a message */
	if (sf->format_version != STATE_FILE_FORMAT_VERSION)
		return tern_error_set(
			err, EPROTONOSUPPORT,
			"snapshot format version %u (written by tern %s) "
			"cannot be restored by tern %s, which reads format "
			"version %u",
			sf->format_version, sf->tern_version, TERN_VERSION,
			STATE_FILE_FORMAT_VERSION);
	payload_end = len - TRAILER_SIZE;
	if (memcmp(buf + payload_end, TRAILER_MAGIC, 4) != 0)
		return tern_error_set(err, EINVAL,
				      "snapshot is truncated or corrupt (no "
				      "checksum trailer at its end)");
	if (le_get32(buf + payload_end + 4) != checksum(buf, payload_end))
		return tern_error_set(err, EINVAL,
				      "snapshot checksum mismatch: the file is "
				      "corrupt");
	count = le_get32(buf + 12);
	if (count > STATE_FILE_MAX_SECTIONS)
		return tern_error_set(err, EINVAL,
				      "snapshot has %u sections (at most %u)",
				      count, STATE_FILE_MAX_SECTIONS);
	if ((size_t)count * TABLE_ENTRY_SIZE > payload_end - HEADER_SIZE)
		return tern_error_set(err, EINVAL,
				      "snapshot is truncated: its section "
				      "table runs past the end");
	sf->sections = calloc(count ? count : 1, sizeof(*sf->sections));
	if (!sf->sections)
		return tern_error_set(err, ENOMEM,
				      "out of memory for the snapshot");
	sf->section_count = count;
	sf->capacity = count;
	for (uint32_t i = 0; i < count; i++) {
		int ret = check_table_entry(sf, i, payload_end, err);

		if (ret)
			return ret;
	}
	return 0;
}

int state_file_read(struct state_file *sf, const char *path,
		    struct tern_error *err)
{
	struct stat st;
	uint8_t *buf;
	size_t done = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	memset(sf, 0, sizeof(*sf));
	if (fd < 0)
		return tern_error_set(err, errno, "snapshot %s: %s", path,
				      strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return tern_error_set(
			err, EINVAL, "snapshot %s is not a regular file", path);
	}
	if ((uint64_t)st.st_size > STATE_FILE_MAX_SIZE) {
		close(fd);
		return tern_error_set(err, EFBIG,
				      "snapshot %s is too large (%llu bytes, "
				      "at most %u)",
				      path, (unsigned long long)st.st_size,
				      STATE_FILE_MAX_SIZE);
	}
	buf = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (!buf) {
		close(fd);
		return tern_error_set(err, ENOMEM,
				      "out of memory for the snapshot");
	}
	while (done < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + done, (size_t)st.st_size - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		done += (size_t)n;
	}
	close(fd);
	return state_file_parse(sf, buf, done, err);
}

const struct state_section *state_file_find(const struct state_file *sf,
					    uint32_t id)
{
	for (uint32_t i = 0; i < sf->section_count; i++)
		if (sf->sections[i].id == id)
			return &sf->sections[i];
	return NULL;
}

const struct state_section *state_file_require(const struct state_file *sf,
					       uint32_t id, const char *name,
					       size_t length,
					       struct tern_error *err)
{
	const struct state_section *s = state_file_find(sf, id);

	if (!s) {
		tern_error_set(err, ENOENT,
			       "snapshot lacks the required section %s", name);
		return NULL;
	}
	if (length && s->length != length) {
		tern_error_set(err, EINVAL,
			       "snapshot section %s has %llu bytes, expected "
			       "%zu",
			       name, (unsigned long long)s->length, length);
		return NULL;
	}
	return s;
}

void state_file_free(struct state_file *sf)
{
	if (!sf->buffer)
		for (uint32_t i = 0; i < sf->section_count; i++)
			free(sf->sections[i].data);
	free(sf->sections);
	free(sf->buffer);
	memset(sf, 0, sizeof(*sf));
}
