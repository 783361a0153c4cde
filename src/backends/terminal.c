#include "backends/terminal.h"

#include <errno.h>
#include <unistd.h>

int terminal_enter_raw(struct terminal *term, int fd)
{
	struct termios raw;

	term->fd = fd;
	term->raw = 0;
	if (!isatty(fd))
		return 0;
	if (tcgetattr(fd, &term->saved) < 0)
		return -errno;
	raw = term->saved;
	cfmakeraw(&raw);
	/* Keep output post-processing off too: the guest sends its own CR LF,
	 * and tern's log lines end in CR LF for the same reason. */
	if (tcsetattr(fd, TCSANOW, &raw) < 0)
		return -errno;
	term->raw = 1;
	return 0;
}

void terminal_restore(struct terminal *term)
{
	if (term->raw)
		tcsetattr(term->fd, TCSANOW, &term->saved);
	term->raw = 0;
}
