#include "config/cpu_config_json.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/json_fields.h"

/* Room for "cpu-config.cpuid_modifiers[1023].modifiers[3]". */
#define WHERE_SIZE 96
/* How much of a refused string a message shows. */
#define SHOWN "%.72s"

/* "0x1f", "0b101" or "31", within 32 bits. No sign, no spaces: strtoull
 * would take both. */
static int parse_u32(const char *text, uint32_t *out)
{
	int base = 10;
	char *end;
	unsigned long long n;

	if (!strncmp(text, "0x", 2) || !strncmp(text, "0X", 2)) {
		base = 16;
		text += 2;
	} else if (!strncmp(text, "0b", 2)) {
		base = 2;
		text += 2;
	}
	if (!*text || strspn(text, "0123456789abcdefABCDEF") != strlen(text))
		return -EINVAL;
	errno = 0;
	n = strtoull(text, &end, base);
	if (errno || *end || n > UINT32_MAX)
		return -EINVAL;
	*out = (uint32_t)n;
	return 0;
}

static int number_field(const json_t *object, const char *where,
			const char *name, uint32_t *out, struct tern_error *err)
{
	const char *text = json_string_value(json_object_get(object, name));

	if (parse_u32(text, out))
		return tern_error_set(err, EINVAL,
				      "%s.%s '" SHOWN "': expected a 32-bit "
				      "number in hex (0x...), binary (0b...) "
				      "or decimal",
				      where, name, text);
	return 0;
}

static int bitmap_field(const json_t *object, const char *where, unsigned width,
			uint64_t *mask, uint64_t *value, struct tern_error *err)
{
	const char *text = json_string_value(json_object_get(object, "bitmap"));

	if (cpu_bitmap_parse(text, width, mask, value))
		return tern_error_set(err, EINVAL,
				      "%s.bitmap '" SHOWN "': expected 0b and "
				      "1 to %u of 0 (clear), 1 (set) and x "
				      "(keep), with _ to separate",
				      where, text, width);
	return 0;
}

static const struct json_field register_fields[] = {
	{"register", JSON_FIELD_STRING, 1, 0, 0},
	{"bitmap", JSON_FIELD_STRING, 1, 0, 0},
};

static int parse_register(const json_t *item, const char *where,
			  struct cpuid_modifier *mod, struct tern_error *err)
{
	static const enum cpuid_register regs[] = {CPUID_EAX, CPUID_EBX,
						   CPUID_ECX, CPUID_EDX};
	const char *name;
	uint64_t mask, value;
	int found = 0;
	int ret = JSON_FIELDS_CHECK(item, where, register_fields, 0, err);

	if (ret)
		return ret;
	name = json_string_value(json_object_get(item, "register"));
	for (size_t i = 0; !found && i < sizeof(regs) / sizeof(regs[0]); i++) {
		found = !strcmp(name, cpuid_register_name(regs[i]));
		mod->reg = regs[i];
	}
	if (!found)
		return tern_error_set(err, EINVAL,
				      "%s.register '" SHOWN "': use eax, ebx, "
				      "ecx or edx",
				      where, name);
	ret = bitmap_field(item, where, 32, &mask, &value, err);
	mod->mask = (uint32_t)mask;
	mod->value = (uint32_t)value;
	return ret;
}

static const struct json_field leaf_fields[] = {
	{"leaf", JSON_FIELD_STRING, 1, 0, 0},
	{"subleaf", JSON_FIELD_STRING, 1, 0, 0},
	/* KVM_CPUID_FLAG_SIGNIFCANT_INDEX, _STATEFUL_FUNC, _STATE_READ_NEXT */
	{"flags", JSON_FIELD_INT, 1, 0, 7},
	{"modifiers", JSON_FIELD_ARRAY, 1, 0, 0},
};

/* One leaf's entry becomes one cpuid_modifier per register modifier. */
static int parse_leaf(const json_t *item, const char *where,
		      struct cpu_custom_template *t, struct tern_error *err)
{
	struct cpuid_modifier base = {0};
	const json_t *list, *reg;
	size_t i;
	int ret = JSON_FIELDS_CHECK(item, where, leaf_fields, 0, err);

	if (!ret)
		ret = number_field(item, where, "leaf", &base.leaf, err);
	if (!ret)
		ret = number_field(item, where, "subleaf", &base.subleaf, err);
	if (ret)
		return ret;
	base.flags =
		(uint32_t)json_integer_value(json_object_get(item, "flags"));
	list = json_object_get(item, "modifiers");
	json_array_foreach(list, i, reg)
	{
		char inner[WHERE_SIZE];
		struct cpuid_modifier *mod;

		if (t->mods.cpuid_count >= CPU_CUSTOM_MAX_CPUID)
			return tern_error_set(err, E2BIG,
					      "%s.modifiers: more than %d "
					      "register modifiers in all",
					      where, CPU_CUSTOM_MAX_CPUID);
		snprintf(inner, sizeof(inner), "%s.modifiers[%zu]", where, i);
		mod = &t->cpuid[t->mods.cpuid_count];
		*mod = base;
		ret = parse_register(reg, inner, mod, err);
		if (ret)
			return ret;
		t->mods.cpuid_count++;
	}
	return 0;
}

static const struct json_field msr_fields[] = {
	{"addr", JSON_FIELD_STRING, 1, 0, 0},
	{"bitmap", JSON_FIELD_STRING, 1, 0, 0},
};

static int parse_msr(const json_t *item, const char *where,
		     struct cpu_custom_template *t, struct tern_error *err)
{
	struct msr_modifier *mod = &t->msrs[t->mods.msr_count];
	int ret = JSON_FIELDS_CHECK(item, where, msr_fields, 0, err);

	if (!ret)
		ret = number_field(item, where, "addr", &mod->addr, err);
	if (!ret)
		ret = bitmap_field(item, where, 64, &mod->mask, &mod->value,
				   err);
	if (!ret)
		t->mods.msr_count++;
	return ret;
}

static int parse_cap(const json_t *item, const char *where,
		     struct cpu_custom_template *t, struct tern_error *err)
{
	struct kvm_cap_modifier *cap = &t->caps[t->mods.cap_count];
	const char *text = json_string_value(item);
	const char *digits = text;

	if (!text)
		return tern_error_set(err, EINVAL,
				      "%s: expected a string such as \"171\" "
				      "or \"!171\"",
				      where);
	cap->removed = *digits == '!';
	digits += cap->removed;
	/* Decimal only, as Firecracker reads them. */
	if (!*digits || strspn(digits, "0123456789") != strlen(digits) ||
	    parse_u32(digits, &cap->cap))
		return tern_error_set(err, EINVAL,
				      "%s '" SHOWN "': expected a KVM "
				      "capability number in decimal, with ! "
				      "in front to remove it from the checks",
				      where, text);
	t->mods.cap_count++;
	return 0;
}

typedef int (*parse_item_fn)(const json_t *item, const char *where,
			     struct cpu_custom_template *t,
			     struct tern_error *err);

static int parse_list(const json_t *body, const char *where, const char *name,
		      int max, const int *count, parse_item_fn parse,
		      struct cpu_custom_template *t, struct tern_error *err)
{
	const json_t *list = json_fields_get(body, name);
	const json_t *item;
	size_t i;

	if (!list)
		return 0;
	if (!json_is_array(list))
		return tern_error_set(err, EINVAL,
				      "%s.%s: expected a JSON array", where,
				      name);
	json_array_foreach(list, i, item)
	{
		char inner[WHERE_SIZE];
		int ret;

		if (*count >= max)
			return tern_error_set(err, E2BIG,
					      "%s.%s: more than %d entries",
					      where, name, max);
		snprintf(inner, sizeof(inner), "%s.%s[%zu]", where, name, i);
		ret = parse(item, inner, t, err);
		if (ret)
			return ret;
	}
	return 0;
}

int cpu_config_json_parse(const json_t *body, const char *where,
			  struct cpu_custom_template **out,
			  struct tern_error *err)
{
	struct cpu_custom_template *t = calloc(1, sizeof(*t));
	int ret;

	*out = NULL;
	if (!t)
		return tern_error_set(err, ENOMEM, "out of memory");
	t->mods.cpuid = t->cpuid;
	t->mods.msrs = t->msrs;
	t->mods.caps = t->caps;
	ret = parse_list(body, where, "kvm_capabilities", CPU_CUSTOM_MAX_CAPS,
			 &t->mods.cap_count, parse_cap, t, err);
	if (!ret)
		ret = parse_list(body, where, "cpuid_modifiers",
				 CPU_CUSTOM_MAX_CPUID, &t->mods.cpuid_count,
				 parse_leaf, t, err);
	if (!ret)
		ret = parse_list(body, where, "msr_modifiers",
				 CPU_CUSTOM_MAX_MSRS, &t->mods.msr_count,
				 parse_msr, t, err);
	if (ret ||
	    (!t->mods.cap_count && !t->mods.cpuid_count &&
	     !t->mods.msr_count)) {
		free(t);
		return ret;
	}
	*out = t;
	return 0;
}

static json_t *hex(uint32_t n)
{
	return json_sprintf("0x%x", n);
}

static json_t *bitmap(uint64_t mask, uint64_t value, unsigned width)
{
	char text[64 + 3];

	cpu_bitmap_format(mask, value, width, text);
	return json_string(text);
}

/* Consecutive register modifiers of one leaf, sub-leaf and flags go back
 * into one entry, as they came. */
static json_t *export_cpuid(const struct cpu_modifiers *m)
{
	json_t *list = json_array();
	json_t *regs = NULL;

	for (int i = 0; list && i < m->cpuid_count; i++) {
		const struct cpuid_modifier *c = &m->cpuid[i];
		const struct cpuid_modifier *prev = i ? &m->cpuid[i - 1] : NULL;

		if (!prev || prev->leaf != c->leaf ||
		    prev->subleaf != c->subleaf || prev->flags != c->flags) {
			json_t *entry = json_pack(
				"{s:o, s:o, s:i, s:o}", "leaf", hex(c->leaf),
				"subleaf", hex(c->subleaf), "flags",
				(int)c->flags, "modifiers", json_array());

			/* Borrowed: the entry in the list keeps it. */
			regs = json_object_get(entry, "modifiers");
			json_array_append_new(list, entry);
		}
		if (regs)
			json_array_append_new(
				regs,
				json_pack("{s:s, s:o}", "register",
					  cpuid_register_name(c->reg), "bitmap",
					  bitmap(c->mask, c->value, 32)));
	}
	return list;
}

json_t *cpu_config_json_export(const struct cpu_custom_template *tmpl)
{
	const struct cpu_modifiers *m = &tmpl->mods;
	json_t *caps = json_array();
	json_t *msrs = json_array();

	for (int i = 0; caps && i < m->cap_count; i++)
		json_array_append_new(
			caps,
			json_sprintf("%s%u", m->caps[i].removed ? "!" : "",
				     m->caps[i].cap));
	for (int i = 0; msrs && i < m->msr_count; i++)
		json_array_append_new(msrs,
				      json_pack("{s:o, s:o}", "addr",
						hex(m->msrs[i].addr), "bitmap",
						bitmap(m->msrs[i].mask,
						       m->msrs[i].value, 64)));
	return json_pack("{s:o*, s:o*, s:o*}", "kvm_capabilities", caps,
			 "cpuid_modifiers", export_cpuid(m), "msr_modifiers",
			 msrs);
}
