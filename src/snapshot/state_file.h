/* The snapshot state file: a versioned container of named sections.
 *
 * Layout (all integers little-endian):
 *   header   magic "TERNSNAP", format version u32, section count u32,
 *            tern version (32 bytes, NUL-padded)
 *   table    per section: id u32, reserved u32, name (24 bytes), offset
 *            u64, length u64
 *   payloads at their offsets, in table order
 *   trailer  "TSUM" + CRC-32 (zlib) of every byte before the trailer
 *
 * A snapshot is untrusted input: the reader checks everything before any
 * section reaches a consumer, and refuses with one sentence. The writer
 * writes a temporary file, fsyncs it and renames it over the path, so a
 * crash never leaves a half-written snapshot under the name. */
#ifndef TERN_SNAPSHOT_STATE_FILE_H
#define TERN_SNAPSHOT_STATE_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

#define STATE_FILE_MAGIC "TERNSNAP"
/* 2: the vm.config section (the VM's configuration) is required. */
#define STATE_FILE_FORMAT_VERSION 2
#define STATE_FILE_MAX_SECTIONS 1024
/* Far above any device's or vCPU's state (XSAVE is a few KiB); guest RAM
 * lives in the memory file, never here. */
#define STATE_FILE_MAX_SECTION_SIZE (16u << 20)
/* A whole state file: far above a VM with many vCPUs and devices, low enough
 * that a hostile file cannot make tern read gigabytes. */
#define STATE_FILE_MAX_SIZE (256u << 20)
#define STATE_FILE_NAME_SIZE 24
#define STATE_FILE_VERSION_SIZE 32

struct state_section {
	uint32_t id;
	char name[STATE_FILE_NAME_SIZE]; /* NUL-terminated */
	uint64_t offset;
	uint64_t length;
	uint8_t *data; /* points into the owner's buffer */
};

struct state_file {
	uint32_t format_version;
	char tern_version[STATE_FILE_VERSION_SIZE + 1];
	struct state_section *sections;
	uint32_t section_count;
	uint32_t capacity;
	/* Reader: the whole file; writer: NULL (sections own their data). */
	uint8_t *buffer;
	size_t buffer_size;
};

/* --- Writer --- */
void state_file_init(struct state_file *sf);
/* Copies payload; id must be unique, name short. Returns 0 or -errno. */
int state_file_add(struct state_file *sf, uint32_t id, const char *name,
		   const void *payload, size_t length, struct tern_error *err);
/* Serializes into a malloc'ed buffer (for tests and the writer). */
int state_file_serialize(const struct state_file *sf, uint8_t **out,
			 size_t *out_len, struct tern_error *err);
/* Temp file in path's directory, fsync, rename, fsync the directory. */
int state_file_write(const struct state_file *sf, const char *path,
		     struct tern_error *err);

/* --- Reader --- */
/* Parses and checks buf (taken over: freed by state_file_free). */
int state_file_parse(struct state_file *sf, uint8_t *buf, size_t len,
		     struct tern_error *err);
int state_file_read(struct state_file *sf, const char *path,
		    struct tern_error *err);

/* The section with that id, or NULL. */
const struct state_section *state_file_find(const struct state_file *sf,
					    uint32_t id);
/* Like find, but a missing section, or one whose length differs from
 * `length` (when length != 0), is an error naming it. */
const struct state_section *state_file_require(const struct state_file *sf,
					       uint32_t id, const char *name,
					       size_t length,
					       struct tern_error *err);

void state_file_free(struct state_file *sf);

#endif
