/* The escape key of --serial stdio's console: Ctrl-A x quits tern, Ctrl-A b
 * SIZE Enter sets the balloon's target, Ctrl-A Ctrl-A sends one Ctrl-A, any
 * other Ctrl-A pair is swallowed; every other byte goes to the guest. The
 * keys are QEMU's -nographic console's, which people already know.
 *
 * It lives in backends/ next to terminal.c because it is the other half of
 * the host terminal behind --serial stdio: terminal.c makes every key reach
 * tern (raw mode, Ctrl-C included), so tern needs a key of its own to be
 * told things. --serial unix: (serial_socket.c) has none: its client owns
 * the escape (ternctl console's Ctrl-]).
 *
 * A pure state machine on the bytes read from standard input: no I/O, no
 * VM. An escape split across two reads is kept in the state; the caller
 * acts on the events (vm.c stops the VM, moves the balloon) and hands the
 * guest's bytes to the UART. */
#ifndef TERN_BACKENDS_CONSOLE_ESCAPE_H
#define TERN_BACKENDS_CONSOLE_ESCAPE_H

#include <stddef.h>
#include <stdint.h>

/* Ctrl-A. */
#define CONSOLE_ESCAPE_KEY 0x01

/* The longest balloon line kept: later bytes up to Enter are dropped. */
#define CONSOLE_ESCAPE_BALLOON_MAX 31

enum console_escape_event {
	CONSOLE_ESCAPE_NONE, /* all the input was read */
	CONSOLE_ESCAPE_QUIT, /* Ctrl-A x (or X) */
	CONSOLE_ESCAPE_BALLOON, /* Ctrl-A b (or B), a line, then CR or LF */
};

/* Zeroed is the start: no escape pending. */
struct console_escape {
	int armed; /* Ctrl-A seen, its second key not yet */
	int in_balloon_line; /* after Ctrl-A b, until CR or LF */
	size_t balloon_len;
	/* The line after CONSOLE_ESCAPE_BALLOON, NUL-terminated, until the
	 * next call. */
	char balloon_text[CONSOLE_ESCAPE_BALLOON_MAX + 1];
};

/* Reads in[0..len) up to the byte that completes an event (that byte
 * included) or to its end, and returns the event; *used says how far it
 * read. The guest's bytes among them are written to out, which has room
 * for len, and counted in *out_len. After an event the caller calls again
 * with the rest, except after CONSOLE_ESCAPE_QUIT, when nothing later
 * matters. */
enum console_escape_event console_escape_feed(struct console_escape *e,
					      const uint8_t *in, size_t len,
					      uint8_t *out, size_t *out_len,
					      size_t *used);

#endif
