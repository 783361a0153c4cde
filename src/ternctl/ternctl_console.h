/* ternctl console NAME: the VM's serial console through ternd
 * (POST /v1/vms/NAME/console, upgraded to a byte stream; see
 * ternd/console_route.h). The terminal is raw while attached, so every key
 * reaches the guest, except Ctrl-] which detaches, as virsh console's
 * does; it is restored on every way out. Standard input need not be a
 * terminal (scripts, tests): it is relayed as is, and its end detaches
 * too. */
#ifndef TERN_TERNCTL_TERNCTL_CONSOLE_H
#define TERN_TERNCTL_TERNCTL_CONSOLE_H

#include <stddef.h>

#include "util/error.h"

/* The detach key: Ctrl-] (0x1d), as virsh's. */
#define TERNCTL_CONSOLE_ESCAPE 0x1d

struct ternctl_console_options {
	const char *socket; /* ternd's */
	const char *name; /* the VM, checked */
	size_t scrollback; /* bytes of the console log shown first */
	int force; /* take the console from its current client */
};

/* How a console ended. */
enum ternctl_console_end {
	TERNCTL_CONSOLE_DETACHED, /* Ctrl-], or the end of standard input */
	TERNCTL_CONSOLE_CLOSED, /* ternd closed it: the VM stopped, another
				   client took it over, ternd stopped */
	TERNCTL_CONSOLE_SIGNAL, /* SIGINT, SIGTERM or SIGHUP to ternctl */
};

/* 0 with *end once attached and then ended, or a negative errno with err
 * set when the console could not be had (ternd's reason). */
int ternctl_console(const struct ternctl_console_options *o,
		    enum ternctl_console_end *end, struct tern_error *err);

/* The bytes of in before the detach key, and whether it was there: the
 * pure part of reading the keyboard. */
size_t ternctl_console_scan(const void *in, size_t len, int *escape);

#endif
