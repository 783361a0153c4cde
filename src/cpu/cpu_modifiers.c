#include "cpu/cpu_modifiers.h"

#include <errno.h>
#include <string.h>

int cpu_bitmap_parse(const char *text, unsigned width, uint64_t *mask,
		     uint64_t *value)
{
	unsigned bit = 0;
	size_t len;

	*mask = 0;
	*value = 0;
	if (!text || width == 0 || width > 64)
		return -EINVAL;
	if (!strncmp(text, "0b", 2))
		text += 2;
	len = strlen(text);
	/* From the lowest bit (the last character) up, as a short bitmap
	 * fills the low bits. */
	for (size_t i = len; i > 0; i--) {
		char c = text[i - 1];

		if (c == '_')
			continue;
		if (bit == width)
			return -EINVAL;
		if (c == '0' || c == '1')
			*mask |= 1ull << bit;
		if (c == '1')
			*value |= 1ull << bit;
		else if (c != '0' && c != 'x')
			return -EINVAL;
		bit++;
	}
	return bit ? 0 : -EINVAL;
}

void cpu_bitmap_format(uint64_t mask, uint64_t value, unsigned width, char *out)
{
	*out++ = '0';
	*out++ = 'b';
	for (unsigned i = width; i > 0; i--) {
		uint64_t bit = 1ull << (i - 1);

		*out++ = !(mask & bit) ? 'x' : (value & bit) ? '1' : '0';
	}
	*out = '\0';
}

const char *cpuid_register_name(enum cpuid_register reg)
{
	switch (reg) {
	case CPUID_EAX:
		return "eax";
	case CPUID_EBX:
		return "ebx";
	case CPUID_ECX:
		return "ecx";
	case CPUID_EDX:
		return "edx";
	}
	return NULL;
}
