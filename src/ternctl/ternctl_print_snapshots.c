#include "ternctl/ternctl_print_snapshots.h"

#include <string.h>
#include <time.h>

#include "ternctl/ternctl_print.h"

static const char *text_or(const json_t *obj, const char *key,
			   const char *fallback)
{
	const char *text = json_string_value(json_object_get(obj, key));

	return text ? text : fallback;
}

static void format_time(char *buf, size_t size, const json_t *when)
{
	time_t t = (time_t)json_integer_value(when);
	struct tm tm;

	snprintf(buf, size, "-");
	if (json_is_integer(when) && gmtime_r(&t, &tm))
		strftime(buf, size, "%Y-%m-%d %H:%M:%S UTC", &tm);
}

void ternctl_print_snapshots(FILE *out, const json_t *answer)
{
	const json_t *list = json_object_get(answer, "snapshots");
	char when[64], size[32];
	size_t i, width = 4;
	json_t *s;

	json_array_foreach(list, i, s)
	{
		size_t len = strlen(text_or(s, "name", "?"));

		if (len > width)
			width = len;
	}
	fprintf(out, " %-*s  %-23s  %-8s  %s\n", (int)width, "Name",
		"Creation Time", "State", "Size");
	fprintf(out, "-");
	for (i = 0; i < width + 2 + 23 + 2 + 8 + 2 + 10; i++)
		fputc('-', out);
	fputc('\n', out);
	json_array_foreach(list, i, s)
	{
		format_time(when, sizeof(when),
			    json_object_get(s, "created_at"));
		ternctl_format_size(size, sizeof(size),
				    json_object_get(s, "disk_usage"));
		fprintf(out, " %-*s  %-23s  %-8s  %s%s\n", (int)width,
			text_or(s, "name", "?"), when, text_or(s, "state", "?"),
			size,
			json_is_false(json_object_get(s, "files_present"))
				? "  (files missing)"
				: "");
	}
	fputc('\n', out);
}

void ternctl_print_snapshot(FILE *out, const json_t *s)
{
	char when[64], size[32];

	format_time(when, sizeof(when), json_object_get(s, "created_at"));
	ternctl_format_size(size, sizeof(size),
			    json_object_get(s, "disk_usage"));
	fprintf(out, "%-16s%s\n", "Name:", text_or(s, "name", "?"));
	fprintf(out, "%-16s%s\n", "VM:", text_or(s, "vm", "?"));
	fprintf(out, "%-16s%s\n", "State:", text_or(s, "state", "?"));
	fprintf(out, "%-16s%s\n", "Created:", when);
	fprintf(out, "%-16s%s\n", "Directory:", text_or(s, "directory", "-"));
	fprintf(out, "%-16s%s%s\n", "Size on disk:", size,
		json_is_false(json_object_get(s, "files_present"))
			? " (files missing)"
			: "");
}

void ternctl_print_balloon(FILE *out, const json_t *vm)
{
	const json_t *b = json_object_get(vm, "balloon");
	const json_t *actual = json_object_get(b, "actual_mib");

	if (!json_is_object(b))
		return;
	fprintf(out, "%-16s%lld MiB of %lld MiB (balloon target %lld MiB)\n",
		"Guest memory:",
		(long long)json_integer_value(
			json_object_get(b, "guest_memory_mib")),
		(long long)json_integer_value(json_object_get(b, "memory_mib")),
		(long long)json_integer_value(
			json_object_get(b, "target_mib")));
	if (json_is_integer(actual))
		fprintf(out, "%-16s%lld MiB\n", "Balloon actual:",
			(long long)json_integer_value(actual));
	else
		fprintf(out, "%-16s%s\n",
			"Balloon actual:", "- (the balloon has no statistics)");
}
