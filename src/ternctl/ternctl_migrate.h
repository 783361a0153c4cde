/* ternctl migrate NAME DEST: a running VM moves from the ternd of -c to
 * the ternd of DEST, ternctl driving both (virsh's default, client-managed
 * migration; docs/ternd.md, "Migration"). */
#ifndef TERN_TERNCTL_TERNCTL_MIGRATE_H
#define TERN_TERNCTL_TERNCTL_MIGRATE_H

/* Default --timeout, in seconds. */
#define TERNCTL_MIGRATE_TIMEOUT_S 300

struct ternctl_migrate_options {
	const char *source; /* -c: a Unix socket or tls://HOST:PORT */
	const char *dest; /* the same forms */
	const char *name;
	const char *listen_address; /* NULL: the host of a tls:// DEST */
	const char *port; /* NULL: one the destination chooses */
	const char *timeout; /* NULL: TERNCTL_MIGRATE_TIMEOUT_S */
	int undefine_source;
};

/* The exit status: 0 migrated, 1 not (the VM runs on at the source, or
 * was never touched; the message says which), 2 a usage error. Prints
 * what it does. */
int ternctl_migrate(const struct ternctl_migrate_options *o);

/* --port's and --timeout's values: 0 with *value, -1 for text that is not
 * a whole number from min to max. */
int ternctl_migrate_number(const char *text, long min, long max, long *value);

#endif
