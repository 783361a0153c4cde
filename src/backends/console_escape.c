#include "backends/console_escape.h"

/* One byte of a balloon line: 1 when it ends the line. */
static int balloon_line_byte(struct console_escape *e, uint8_t c)
{
	if (c == '\r' || c == '\n') {
		e->balloon_text[e->balloon_len] = '\0';
		e->in_balloon_line = 0;
		return 1;
	}
	if (e->balloon_len < CONSOLE_ESCAPE_BALLOON_MAX)
		e->balloon_text[e->balloon_len++] = (char)c;
	return 0;
}

enum console_escape_event console_escape_feed(struct console_escape *e,
					      const uint8_t *in, size_t len,
					      uint8_t *out, size_t *out_len,
					      size_t *used)
{
	size_t i, n = 0;
	enum console_escape_event event = CONSOLE_ESCAPE_NONE;

	for (i = 0; i < len && event == CONSOLE_ESCAPE_NONE; i++) {
		uint8_t c = in[i];

		if (e->in_balloon_line) {
			if (balloon_line_byte(e, c))
				event = CONSOLE_ESCAPE_BALLOON;
			continue;
		}
		if (e->armed) {
			e->armed = 0;
			if (c == 'x' || c == 'X') {
				event = CONSOLE_ESCAPE_QUIT;
				continue;
			}
			if (c == 'b' || c == 'B') {
				e->in_balloon_line = 1;
				e->balloon_len = 0;
				continue;
			}
			if (c != CONSOLE_ESCAPE_KEY)
				continue; /* unknown escape: swallowed */
		} else if (c == CONSOLE_ESCAPE_KEY) {
			e->armed = 1;
			continue;
		}
		out[n++] = c;
	}
	*out_len = n;
	*used = i;
	return event;
}
