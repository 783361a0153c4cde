/* Fuzz target: the bodies of ternd's migration requests (ternd/vm_migration.c),
 * POST /v1/vms/NAME/incoming on a destination and POST /v1/vms/NAME/migrate
 * on a source: what a client sends, taken as hostile. The first byte picks
 * the parser, the rest is the body. What a parser accepts must be what the
 * rest of ternd relies on: a key of 64 hex digits, a NUL-terminated
 * address, a definition as JSON text, a tcp: destination. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ternd/vm_migration.h"

static void check_psk(const char *psk)
{
	if (strlen(psk) != 64 || strspn(psk, "0123456789abcdefABCDEF") != 64)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tern_error err;

	if (size < 1)
		return 0;
	const char *body = (const char *)data + 1;
	size_t len = size - 1;

	if (data[0] & 1) {
		struct vm_migration_incoming in;

		if (!vm_migration_incoming_parse(body, len, &in, &err)) {
			check_psk(in.psk);
			if (!in.definition || in.definition[0] != '{' ||
			    !memchr(in.listen_address, '\0',
				    sizeof(in.listen_address)) ||
			    !in.listen_address[0] || in.port > 65535)
				abort();
		}
		vm_migration_incoming_free(&in);
	} else {
		struct vm_migration_outgoing out;

		if (!vm_migration_outgoing_parse(body, len, &out, &err) &&
		    !out.check_only) {
			check_psk(out.psk);
			if (strncmp(out.destination, "tcp:", 4) ||
			    !memchr(out.destination, '\0',
				    sizeof(out.destination)))
				abort();
		}
	}
	return 0;
}
