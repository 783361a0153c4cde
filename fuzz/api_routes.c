/* Fuzz target: the API's routes (src/api/api_routes.c) and everything
 * behind them on a not-started instance: "METHOD PATH\nBODY" as
 * libmicrohttpd would hand them over (api_http feeds the whole HTTP
 * exchange). The instance is fuzz/lib/fuzz_instance.c's: nothing boots.
 *
 * Bodies name files (logger, metrics, snapshot paths): the target runs in
 * an empty directory of its own, emptied after every input, and skips
 * bodies with '/' or '\\' (which JSON could turn into '/'), so no input
 * reaches a file outside it. */
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api_routes.h"
#include "fuzz_instance.h"
#include "util/log.h"

static char work_dir[64];

static int remove_entry(const char *path, const struct stat *st, int flag,
			struct FTW *ftw)
{
	return ftw->level ? remove(path) : 0;
}

static void empty_work_dir(void)
{
	nftw(work_dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

static void remove_work_dir(void)
{
	empty_work_dir();
	rmdir(work_dir);
}

static void setup_once(void)
{
	if (work_dir[0])
		return;
	snprintf(work_dir, sizeof(work_dir), "/tmp/tern-fuzz-api-XXXXXX");
	if (!mkdtemp(work_dir) || chdir(work_dir))
		abort();
	atexit(remove_work_dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_instance fi;
	const uint8_t *eol = memchr(data, '\n', size);
	char request[256], *path;
	const char *body;
	size_t body_len;

	if (!eol || (size_t)(eol - data) >= sizeof(request))
		return 0;
	body = (const char *)eol + 1;
	body_len = size - (size_t)(eol - data) - 1;
	if (memchr(body, '/', body_len) || memchr(body, '\\', body_len))
		return -1; /* not added to the corpus */
	memcpy(request, data, (size_t)(eol - data));
	request[eol - data] = '\0';
	path = strchr(request, ' ');
	if (!path)
		return 0;
	*path++ = '\0';

	setup_once();
	fuzz_instance_start(&fi);

	/* In two parts, like each request: route, then the next one sees
	 * what the first configured. */
	for (int i = 0; i < 2; i++) {
		struct api_reply reply = {0};
		char *copy = malloc(body_len + 1);

		memcpy(copy, body, body_len);
		copy[body_len] = '\0';
		api_route(fi.inst, request, path, copy, body_len, &reply);
		if (reply.status < 200 || reply.status > 599)
			abort();
		free(reply.body);
		free(copy);
	}

	fuzz_instance_stop(&fi);
	log_close_file();
	empty_work_dir();
	return 0;
}
