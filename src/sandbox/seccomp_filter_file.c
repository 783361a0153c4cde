#include "sandbox/seccomp_filter_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_ENTRIES 16
#define MAX_NAME 64

static const char *const category_names[SECCOMP_FILTER_CATEGORY_COUNT] = {
	[SECCOMP_FILTER_VMM] = "vmm",
	[SECCOMP_FILTER_API] = "api",
	[SECCOMP_FILTER_VCPU] = "vcpu",
};

struct reader {
	const uint8_t *data;
	size_t size;
	size_t at;
};

static int take(struct reader *r, void *out, size_t len)
{
	if (len > r->size - r->at)
		return -1;
	memcpy(out, r->data + r->at, len);
	r->at += len;
	return 0;
}

static int take_u64(struct reader *r, uint64_t *out)
{
	uint8_t b[8];

	if (take(r, b, sizeof(b)))
		return -1;
	*out = 0;
	for (int i = 7; i >= 0; i--)
		*out = *out << 8 | b[i];
	return 0;
}

static int category_of(const char *name)
{
	for (int c = 0; c < SECCOMP_FILTER_CATEGORY_COUNT; c++)
		if (!strcmp(name, category_names[c]))
			return c;
	return -1;
}

void seccomp_filter_file_free(struct seccomp_filter_file *file)
{
	for (int c = 0; c < SECCOMP_FILTER_CATEGORY_COUNT; c++)
		free(file->programs[c].filter);
	memset(file, 0, sizeof(*file));
}

static int read_entry(struct reader *r, struct seccomp_filter_file *out,
		      int seen[], struct tern_error *err)
{
	char name[MAX_NAME + 1];
	uint64_t name_len, count;
	struct sock_filter *insns;
	int c;

	if (take_u64(r, &name_len))
		return tern_error_set(err, EINVAL, "the file ends early");
	if (name_len > MAX_NAME)
		return tern_error_set(err, EINVAL,
				      "a thread category's name is %llu bytes "
				      "long (at most %d)",
				      (unsigned long long)name_len, MAX_NAME);
	if (take(r, name, (size_t)name_len))
		return tern_error_set(err, EINVAL, "the file ends early");
	name[name_len] = '\0';
	if (memchr(name, '\0', (size_t)name_len))
		return tern_error_set(err, EINVAL,
				      "a thread category's name holds a NUL");
	c = category_of(name);
	if (c < 0)
		return tern_error_set(err, EINVAL,
				      "unknown thread category '%s' (vmm, api "
				      "and vcpu are Firecracker's)",
				      name);
	if (seen[c])
		return tern_error_set(err, EINVAL,
				      "thread category '%s' is there twice",
				      name);
	seen[c] = 1;
	if (take_u64(r, &count))
		return tern_error_set(err, EINVAL, "the file ends early");
	if (count > SECCOMP_FILTER_MAX_INSNS)
		return tern_error_set(err, EINVAL,
				      "the '%s' filter has %llu instructions "
				      "(the kernel takes at most %d)",
				      name, (unsigned long long)count,
				      SECCOMP_FILTER_MAX_INSNS);
	if (count * 8 > r->size - r->at)
		return tern_error_set(err, EINVAL, "the file ends early");
	if (!count)
		return 0;
	insns = calloc((size_t)count, sizeof(*insns));
	if (!insns)
		return tern_error_set(err, ENOMEM, "out of memory");
	for (uint64_t i = 0; i < count; i++) {
		const uint8_t *p = r->data + r->at + i * 8;

		insns[i].code = (uint16_t)(p[0] | p[1] << 8);
		insns[i].jt = p[2];
		insns[i].jf = p[3];
		insns[i].k = (uint32_t)p[4] | (uint32_t)p[5] << 8 |
			(uint32_t)p[6] << 16 | (uint32_t)p[7] << 24;
	}
	r->at += (size_t)count * 8;
	out->programs[c].filter = insns;
	out->programs[c].len = (unsigned short)count;
	return 0;
}

int seccomp_filter_file_parse(const uint8_t *data, size_t size,
			      struct seccomp_filter_file *out,
			      struct tern_error *err)
{
	struct reader r = {data, size, 0};
	int seen[SECCOMP_FILTER_CATEGORY_COUNT] = {0};
	uint64_t entries;
	int ret = 0;

	memset(out, 0, sizeof(*out));
	if (take_u64(&r, &entries))
		return tern_error_set(err, EINVAL, "the file ends early");
	if (entries > MAX_ENTRIES)
		return tern_error_set(err, EINVAL,
				      "%llu thread categories (Firecracker's "
				      "files have 3)",
				      (unsigned long long)entries);
	for (uint64_t i = 0; !ret && i < entries; i++)
		ret = read_entry(&r, out, seen, err);
	/* Firecracker refuses a file without every category: a thread
	 * would run unfiltered by omission. */
	for (int c = 0; !ret && c < SECCOMP_FILTER_CATEGORY_COUNT; c++)
		if (!seen[c])
			ret = tern_error_set(err, EINVAL,
					     "thread category '%s' is missing",
					     category_names[c]);
	if (!ret && r.at != r.size)
		ret = tern_error_set(err, EINVAL,
				     "%zu bytes follow the filters",
				     r.size - r.at);
	if (ret)
		seccomp_filter_file_free(out);
	return ret;
}

int seccomp_filter_file_read(const char *path, struct seccomp_filter_file *out,
			     struct tern_error *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	uint8_t *data;
	ssize_t got;
	int ret;

	memset(out, 0, sizeof(*out));
	if (fd < 0)
		return tern_error_set(err, errno, "--seccomp-filter %.200s: %s",
				      path, strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_size > SECCOMP_FILTER_FILE_MAX_SIZE) {
		close(fd);
		return tern_error_set(err, EINVAL,
				      "--seccomp-filter %.200s: not a regular "
				      "file of at most %u bytes",
				      path, SECCOMP_FILTER_FILE_MAX_SIZE);
	}
	data = malloc((size_t)st.st_size + 1);
	if (!data) {
		close(fd);
		return tern_error_set(err, ENOMEM, "out of memory");
	}
	got = read(fd, data, (size_t)st.st_size + 1);
	close(fd);
	if (got != st.st_size) {
		free(data);
		return tern_error_set(err, EIO,
				      "--seccomp-filter %.200s: the file "
				      "changed while read",
				      path);
	}
	ret = seccomp_filter_file_parse(data, (size_t)got, out, err);
	free(data);
	if (ret) {
		char reason[sizeof(err->message)];

		snprintf(reason, sizeof(reason), "%s", err->message);
		return tern_error_set(err, -ret > 0 ? -ret : EINVAL,
				      "--seccomp-filter %.200s: %s", path,
				      reason);
	}
	return 0;
}
