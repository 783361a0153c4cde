/* The host terminal behind --serial stdio: raw mode so every key reaches the
 * guest (Ctrl-C included), restored exactly as found when tern stops. */
#ifndef TERN_BACKENDS_TERMINAL_H
#define TERN_BACKENDS_TERMINAL_H

#include <termios.h>

struct terminal {
	int fd;
	int raw;
	struct termios saved;
};

/* Does nothing (and returns 0) when fd is not a terminal. */
int terminal_enter_raw(struct terminal *term, int fd);
void terminal_restore(struct terminal *term);

#endif
