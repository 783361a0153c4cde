#include "ternctl/ternctl_print.h"

#include <string.h>
#include <time.h>

static const char *text_or(const json_t *obj, const char *key,
			   const char *fallback)
{
	const char *text = json_string_value(json_object_get(obj, key));

	return text ? text : fallback;
}

static void format_number(char *buf, size_t size, const json_t *value,
			  const char *unit)
{
	if (json_is_integer(value))
		snprintf(buf, size, "%lld%s",
			 (long long)json_integer_value(value), unit);
	else
		snprintf(buf, size, "-");
}

void ternctl_print_list(FILE *out, const json_t *answer, int all)
{
	const json_t *vms = json_object_get(answer, "vms");
	size_t i, width = 4;
	json_t *vm;

	json_array_foreach(vms, i, vm)
	{
		size_t len = strlen(text_or(vm, "name", "?"));

		if (len > width)
			width = len;
	}
	fprintf(out, " %-*s   %-9s %-6s %s\n", (int)width, "Name", "State",
		"vCPUs", "Memory");
	for (i = 0; i < width + 31; i++)
		fputc('-', out);
	fputc('\n', out);
	json_array_foreach(vms, i, vm)
	{
		const char *state = text_or(vm, "state", "?");
		char vcpus[24], memory[32];

		if (!all && !strcmp(state, "shut off"))
			continue;
		format_number(vcpus, sizeof(vcpus),
			      json_object_get(vm, "vcpus"), "");
		format_number(memory, sizeof(memory),
			      json_object_get(vm, "memory_mib"), " MiB");
		fprintf(out, " %-*s   %-9s %-6s %s\n", (int)width,
			text_or(vm, "name", "?"), state, vcpus, memory);
	}
	fputc('\n', out);
}

static void print_time(FILE *out, const char *label, const json_t *value)
{
	time_t t = (time_t)json_integer_value(value);
	char text[64];
	struct tm tm;

	if (!json_is_integer(value) || !gmtime_r(&t, &tm))
		return;
	strftime(text, sizeof(text), "%Y-%m-%d %H:%M:%S UTC", &tm);
	fprintf(out, "%-16s%s\n", label, text);
}

void ternctl_print_info(FILE *out, const json_t *vm)
{
	char vcpus[24], memory[32], pid[24];

	format_number(vcpus, sizeof(vcpus), json_object_get(vm, "vcpus"), "");
	format_number(memory, sizeof(memory), json_object_get(vm, "memory_mib"),
		      " MiB");
	format_number(pid, sizeof(pid), json_object_get(vm, "pid"), "");
	fprintf(out, "%-16s%s\n", "Name:", text_or(vm, "name", "?"));
	fprintf(out, "%-16s%s\n", "State:", text_or(vm, "state", "?"));
	fprintf(out, "%-16s%s\n", "Reason:", text_or(vm, "reason", "-"));
	print_time(out, "Since:", json_object_get(vm, "state_changed_at"));
	fprintf(out, "%-16s%s\n", "vCPUs:", vcpus);
	fprintf(out, "%-16s%s\n", "Memory:", memory);
	fprintf(out, "%-16s%s\n", "PID:", pid);
	fprintf(out, "%-16s%s\n",
		"API socket:", text_or(vm, "api_socket", "-"));
	fprintf(out, "%-16s%s\n", "Log:", text_or(vm, "log_file", "-"));
	fprintf(out, "%-16s%s\n",
		"Console log:", text_or(vm, "console_log", "-"));
	print_time(out, "Defined:", json_object_get(vm, "defined_at"));
}

void ternctl_print_json(FILE *out, const json_t *doc)
{
	json_dumpf(doc, out, JSON_INDENT(2));
	fputc('\n', out);
}
