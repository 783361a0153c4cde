/* A small AML (ACPI Machine Language) writer: just the terms tern's DSDT
 * needs (scopes, devices, names, integers, strings, packages, buffers,
 * resource templates, and the few statements of the power button's event
 * method). Encodings follow ACPI 6.4 section 20.2. Objects with
 * a PkgLength are written open/close: the length is inserted when the object
 * is closed, so callers nest them like the ASL they stand for. */
#ifndef TERN_ARCH_X86_ACPI_AML_H
#define TERN_ARCH_X86_ACPI_AML_H

#include <stddef.h>
#include <stdint.h>

#define AML_MAX_DEPTH 8

struct aml {
	uint8_t *data;
	size_t len, cap;
	size_t open_at[AML_MAX_DEPTH];
	int depth;
	int failed; /* out of memory or unbalanced nesting: the result is void
		     */
};

void aml_init(struct aml *aml);
void aml_free(struct aml *aml);

void aml_bytes(struct aml *aml, const void *bytes, size_t len);
void aml_byte(struct aml *aml, uint8_t byte);
/* A NameString: "\\_SB_", "PCI0", "_HID". Segments shorter than four
 * characters are padded with '_'. */
void aml_name_string(struct aml *aml, const char *path);
/* The smallest integer encoding of value (Zero, One, Byte ... QWord). */
void aml_integer(struct aml *aml, uint64_t value);
void aml_string(struct aml *aml, const char *text);
/* A compressed EISA ID such as "PNP0A08", as an integer. */
void aml_eisa_id(struct aml *aml, const char *id);

/* Name(path, <object written next>). */
void aml_name(struct aml *aml, const char *path);

void aml_scope_open(struct aml *aml, const char *path);
void aml_device_open(struct aml *aml, const char *path);
void aml_package_open(struct aml *aml, uint8_t element_count);
/* Buffer(){...}: the size term is written at close. */
void aml_buffer_open(struct aml *aml);
/* Method(path, arg_count, NotSerialized){...}: arg_count 0-7. */
void aml_method_open(struct aml *aml, const char *path, uint8_t arg_count);
/* If(<predicate written next>){<then the body>}. */
void aml_if_open(struct aml *aml);
void aml_close(struct aml *aml);

/* Statements and expressions, written in AML's prefix order: an operator,
 * then its operands. */
/* LEqual(<operand>, <operand>), both written next. */
void aml_lequal(struct aml *aml);
/* Arg0 ... Arg6 of the enclosing method. */
void aml_arg(struct aml *aml, int index);
/* Notify(path, value): the OS's notify handlers for that object run. */
void aml_notify(struct aml *aml, const char *path, uint64_t value);

/* Resource template items (ACPI 6.4 section 6.4), written inside an open
 * buffer; aml_resource_end() adds the end tag. */
void aml_resource_io(struct aml *aml, uint16_t base, uint8_t length);
void aml_resource_irq(struct aml *aml, uint8_t irq);
void aml_resource_memory32_fixed(struct aml *aml, uint32_t base,
				 uint32_t length);
void aml_resource_bus_range(struct aml *aml, uint16_t first, uint16_t last);
void aml_resource_io_window(struct aml *aml, uint16_t first, uint16_t last);
void aml_resource_memory32_window(struct aml *aml, uint32_t first,
				  uint32_t last);
void aml_resource_interrupt(struct aml *aml, uint32_t gsi, int level_triggered);
void aml_resource_end(struct aml *aml);

/* Encodes a PkgLength for a package whose contents (after the PkgLength)
 * are content_len bytes; returns the number of bytes written to out[4], or
 * 0 when the length cannot be encoded (over 2^28). */
int aml_encode_pkg_length(size_t content_len, uint8_t out[4]);

#endif
