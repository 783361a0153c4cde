/* A VM's state as ternd records and reports it, with virsh's words. */
#ifndef TERN_TERND_VM_STATE_H
#define TERN_TERND_VM_STATE_H

enum vm_state {
	VM_STATE_SHUT_OFF, /* defined, no tern process */
	VM_STATE_RUNNING,
	VM_STATE_PAUSED, /* the process lives, its vCPUs are stopped */
};

/* "shut off", "running", "paused". */
const char *vm_state_name(enum vm_state state);
/* 0, or -1 for a word that is none of the above. */
int vm_state_parse(const char *name, enum vm_state *state);

static inline int vm_state_active(enum vm_state state)
{
	return state != VM_STATE_SHUT_OFF;
}

#endif
