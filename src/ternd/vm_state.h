/* A VM's state as ternd records and reports it, with virsh's words. */
#ifndef TERN_TERND_VM_STATE_H
#define TERN_TERND_VM_STATE_H

enum vm_state {
	VM_STATE_SHUT_OFF, /* defined, no tern process */
	VM_STATE_RUNNING,
	VM_STATE_PAUSED, /* the process lives, its vCPUs are stopped */
	/* Live migration (vm_migration.h): the source's guest runs on while
	 * its memory goes to another host; the destination's tern waits for
	 * the stream and has no guest yet. */
	VM_STATE_MIGRATING,
	VM_STATE_INCOMING,
};

/* "shut off", "running", "paused", "migrating", "incoming". */
const char *vm_state_name(enum vm_state state);
/* 0, or -1 for a word that is none of the above. */
int vm_state_parse(const char *name, enum vm_state *state);

static inline int vm_state_active(enum vm_state state)
{
	return state != VM_STATE_SHUT_OFF;
}

/* A migration owns the VM: other actions than destroy wait for its end. */
static inline int vm_state_migration(enum vm_state state)
{
	return state == VM_STATE_MIGRATING || state == VM_STATE_INCOMING;
}

#endif
