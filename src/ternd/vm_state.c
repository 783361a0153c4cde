#include "ternd/vm_state.h"

#include <string.h>

static const char *const names[] = {
	[VM_STATE_SHUT_OFF] = "shut off", [VM_STATE_RUNNING] = "running",
	[VM_STATE_PAUSED] = "paused",	  [VM_STATE_MIGRATING] = "migrating",
	[VM_STATE_INCOMING] = "incoming",
};

const char *vm_state_name(enum vm_state state)
{
	if ((unsigned)state >= sizeof(names) / sizeof(names[0]))
		return "unknown";
	return names[state];
}

int vm_state_parse(const char *name, enum vm_state *state)
{
	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!strcmp(name, names[i])) {
			*state = (enum vm_state)i;
			return 0;
		}
	}
	return -1;
}
