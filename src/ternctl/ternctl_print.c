#include "ternctl/ternctl_print.h"
#include "ternctl/ternctl_print_snapshots.h"

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
	fprintf(out, "%-16s%s\n", "Autostart:",
		json_is_true(json_object_get(vm, "autostart")) ? "enabled"
							       : "disabled");
	print_time(out, "Defined:", json_object_get(vm, "defined_at"));
	ternctl_print_balloon(out, vm);
}

void ternctl_print_names(FILE *out, const json_t *list)
{
	size_t i;
	json_t *item;

	json_array_foreach(list, i, item)
		fprintf(out, "%s\n", text_or(item, "name", "?"));
}

void ternctl_format_size(char *buf, size_t size, const json_t *bytes)
{
	static const char *const units[] = {"B",   "KiB", "MiB",
					    "GiB", "TiB", "PiB"};
	double value = (double)json_integer_value(bytes);
	size_t unit = 0;

	if (!json_is_integer(bytes)) {
		snprintf(buf, size, "-");
		return;
	}
	while (value >= 1024 && unit + 1 < sizeof(units) / sizeof(units[0])) {
		value /= 1024;
		unit++;
	}
	if (unit == 0)
		snprintf(buf, size, "%lld B",
			 (long long)json_integer_value(bytes));
	else
		snprintf(buf, size, "%.2f %s", value, units[unit]);
}

/* "a, b" from ["a", "b"]; "-" for none. */
static void join_names(char *buf, size_t size, const json_t *names)
{
	size_t i, used = 0;
	json_t *name;

	snprintf(buf, size, "-");
	json_array_foreach(names, i, name)
	{
		int n = snprintf(buf + used, size - used, "%s%s", i ? ", " : "",
				 json_string_value(name));

		if (n < 0 || (size_t)n >= size - used)
			break;
		used += (size_t)n;
	}
}

void ternctl_print_volumes(FILE *out, const json_t *answer)
{
	const json_t *volumes = json_object_get(answer, "volumes");
	size_t i, width = 4;
	json_t *v;

	json_array_foreach(volumes, i, v)
	{
		size_t len = strlen(text_or(v, "name", "?"));

		if (len > width)
			width = len;
	}
	fprintf(out, " %-*s   %-12s %-12s %s\n", (int)width, "Name", "Capacity",
		"Allocation", "Used by");
	for (i = 0; i < width + 44; i++)
		fputc('-', out);
	fputc('\n', out);
	json_array_foreach(volumes, i, v)
	{
		char capacity[32], allocation[32], users[256];

		ternctl_format_size(capacity, sizeof(capacity),
				    json_object_get(v, "capacity"));
		ternctl_format_size(allocation, sizeof(allocation),
				    json_object_get(v, "allocation"));
		join_names(users, sizeof(users), json_object_get(v, "used_by"));
		fprintf(out, " %-*s   %-12s %-12s %s\n", (int)width,
			text_or(v, "name", "?"),
			json_is_integer(json_object_get(v, "capacity"))
				? capacity
				: "(no file)",
			allocation, users);
	}
	fprintf(out, "\nPool: %s\n", text_or(answer, "pool", "?"));
}

void ternctl_print_volume(FILE *out, const json_t *v)
{
	char capacity[32], allocation[32], users[512];

	ternctl_format_size(capacity, sizeof(capacity),
			    json_object_get(v, "capacity"));
	ternctl_format_size(allocation, sizeof(allocation),
			    json_object_get(v, "allocation"));
	join_names(users, sizeof(users), json_object_get(v, "used_by"));
	fprintf(out, "%-16s%s\n", "Name:", text_or(v, "name", "?"));
	fprintf(out, "%-16s%s\n", "Path:", text_or(v, "path", "-"));
	fprintf(out, "%-16s%s\n", "Capacity:", capacity);
	fprintf(out, "%-16s%s\n", "Allocation:", allocation);
	fprintf(out, "%-16s%s\n", "Cloned from:", text_or(v, "origin", "-"));
	fprintf(out, "%-16s%s\n", "Used by:", users);
	fprintf(out, "%-16s%s\n", "In use:",
		json_is_true(json_object_get(v, "in_use")) ? "yes (a VM runs)"
							   : "no");
	print_time(out, "Created:", json_object_get(v, "created_at"));
}

static const char *yes_no(const json_t *object, const char *key)
{
	return json_is_true(json_object_get(object, key)) ? "yes" : "no";
}

void ternctl_print_networks(FILE *out, const json_t *answer)
{
	const json_t *networks = json_object_get(answer, "networks");
	size_t i, width = 4;
	json_t *n;

	json_array_foreach(networks, i, n)
	{
		size_t len = strlen(text_or(n, "name", "?"));

		if (len > width)
			width = len;
	}
	fprintf(out, " %-*s   %-9s %-8s %-15s %-18s %-4s %s\n", (int)width,
		"Name", "State", "Kind", "Bridge", "Subnet", "NAT", "DHCP");
	for (i = 0; i < width + 66; i++)
		fputc('-', out);
	fputc('\n', out);
	json_array_foreach(networks, i, n)
	{
		fprintf(out, " %-*s   %-9s %-8s %-15s %-18s %-4s %s\n",
			(int)width, text_or(n, "name", "?"),
			json_is_true(json_object_get(n, "active")) ? "active"
								   : "inactive",
			text_or(n, "kind", "?"), text_or(n, "bridge", "?"),
			text_or(n, "subnet", "-"), yes_no(n, "nat"),
			yes_no(n, "dhcp"));
	}
}

void ternctl_print_network(FILE *out, const json_t *n)
{
	const json_t *leases = json_object_get(n, "leases"), *lease;
	json_t *pid = json_object_get(n, "dnsmasq_pid");
	char users[512], attached[512];
	size_t i;

	join_names(users, sizeof(users), json_object_get(n, "used_by"));
	join_names(attached, sizeof(attached), json_object_get(n, "attached"));
	fprintf(out, "%-16s%s\n", "Name:", text_or(n, "name", "?"));
	fprintf(out, "%-16s%s\n", "Kind:", text_or(n, "kind", "?"));
	fprintf(out, "%-16s%s\n", "State:",
		json_is_true(json_object_get(n, "active")) ? "active"
							   : "inactive");
	fprintf(out, "%-16s%s\n", "Reason:", text_or(n, "reason", "-"));
	fprintf(out, "%-16s%s\n", "Bridge:", text_or(n, "bridge", "?"));
	fprintf(out, "%-16s%s\n", "Subnet:", text_or(n, "subnet", "-"));
	fprintf(out, "%-16s%s\n", "Gateway:", text_or(n, "gateway", "-"));
	fprintf(out, "%-16s%s\n", "NAT:", yes_no(n, "nat"));
	fprintf(out, "%-16s%s\n", "DHCP:", yes_no(n, "dhcp"));
	if (json_is_integer(pid))
		fprintf(out, "%-16s%lld\n",
			"dnsmasq pid:", (long long)json_integer_value(pid));
	fprintf(out, "%-16s%s\n", "Used by:", users);
	fprintf(out, "%-16s%s\n", "VMs on it:", attached);
	json_array_foreach(leases, i, lease)
		fprintf(out, "%-16s%s %s %s\n",
			i ? "" : "Leases:", text_or(lease, "ip", "?"),
			text_or(lease, "mac", "?"), text_or(lease, "vm", "-"));
}

void ternctl_print_event(FILE *out, const json_t *event)
{
	time_t t = (time_t)json_integer_value(json_object_get(event, "time"));
	char text[64] = "?";
	struct tm tm;

	if (gmtime_r(&t, &tm))
		strftime(text, sizeof(text), "%Y-%m-%d %H:%M:%S UTC", &tm);
	fprintf(out, "%s  #%lld  %s %s %s: %s\n", text,
		(long long)json_integer_value(json_object_get(event, "id")),
		text_or(event, "object", "?"), text_or(event, "name", "?"),
		text_or(event, "kind", "?"), text_or(event, "reason", ""));
}

void ternctl_print_json(FILE *out, const json_t *doc)
{
	json_dumpf(doc, out, JSON_INDENT(2));
	fputc('\n', out);
}
