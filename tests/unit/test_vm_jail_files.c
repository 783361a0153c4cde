/* What ternd takes from, and puts into, a running jail
 * (src/ternd/vm_jail_files.c) when the jailed tern is hostile: its root
 * is the VM's uid's, so a link or a second name put there must never make
 * ternd (root) touch a file outside the jail. Taking files and putting
 * the key need root (they change owners); the rest runs as any user. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ternd/vm_jail.h"
#include "ternd/vm_jail_files.h"

struct fixture {
	char dir[64];
	char vm_dir[128]; /* DIR/vm, with its jail-dir */
	char root[300]; /* DIR/jail/tern-static/uUID/root */
	char pending[128]; /* DIR/pending: the catalog's side */
	uid_t uid;
};

static void path_in(const struct fixture *f, char *buf, size_t size,
		    const char *base, const char *name)
{
	snprintf(buf, size, "%s/%s", base, name);
	(void)f;
}

static void write_file(const char *path, const char *text, uid_t uid)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	if (geteuid() == 0)
		assert_int_equal(fchown(fd, uid, uid), 0);
	close(fd);
}

static void read_file(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	assert_true(fd >= 0);
	n = read(fd, buf, size - 1);
	assert_true(n >= 0);
	buf[n] = '\0';
	close(fd);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char path[256], record[300];

	/* As root the jail's uid is another; as a user it is one's own. */
	f->uid = geteuid() == 0 ? 54321 : geteuid();
	snprintf(f->dir, sizeof(f->dir), "/tmp/ternd-jailf-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->vm_dir, sizeof(f->vm_dir), "%s/vm", f->dir);
	snprintf(f->pending, sizeof(f->pending), "%s/pending", f->dir);
	assert_int_equal(mkdir(f->vm_dir, 0700), 0);
	assert_int_equal(mkdir(f->pending, 0700), 0);
	snprintf(path, sizeof(path), "%s/jail", f->dir);
	assert_int_equal(mkdir(path, 0711), 0);
	snprintf(path, sizeof(path), "%s/jail/tern-static", f->dir);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/jail/tern-static/u%u", f->dir,
		 (unsigned)f->uid);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(record, sizeof(record), "%s\n\n", path);
	snprintf(f->root, sizeof(f->root), "%s/root", path);
	assert_int_equal(mkdir(f->root, 0700), 0);
	if (geteuid() == 0)
		assert_int_equal(chown(f->root, f->uid, f->uid), 0);
	path_in(f, path, sizeof(path), f->vm_dir, "jail-dir");
	write_file(path, record, 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static void unjailed_vm_is_enoent(void **state)
{
	struct fixture *f = *state;
	struct vm_jail_stage s;
	struct tern_error err;

	assert_int_equal(vm_jail_stage_open(f->dir, &s, &err), -ENOENT);
	assert_int_equal(vm_jail_put_psk(f->dir, "00", &err), -ENOENT);
}

/* A link the tern left where the directory goes is removed, not
 * followed: the directory it names keeps its file. */
static void stage_replaces_a_link_and_follows_none(void **state)
{
	struct fixture *f = *state;
	char outside[256], inside[512], kept[512], buf[16];
	struct vm_jail_stage s;
	struct tern_error err;
	struct stat st;

	snprintf(outside, sizeof(outside), "%s/outside", f->dir);
	assert_int_equal(mkdir(outside, 0700), 0);
	path_in(f, kept, sizeof(kept), outside, "kept");
	write_file(kept, "kept", 0);
	path_in(f, inside, sizeof(inside), f->root, VM_JAIL_SNAPSHOT_DIR);
	assert_int_equal(symlink(outside, inside), 0);

	assert_int_equal(vm_jail_stage_open(f->vm_dir, &s, &err), 0);
	assert_int_equal(lstat(inside, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_uid, f->uid);
	read_file(kept, buf, sizeof(buf));
	assert_string_equal(buf, "kept");
	vm_jail_stage_close(&s);
	assert_int_equal(lstat(inside, &st), -1);
	read_file(kept, buf, sizeof(buf));
	assert_string_equal(buf, "kept");
}

static void stage_takes_the_tern_s_file_as_root_s(void **state)
{
	struct fixture *f = *state;
	char written[512], taken[256], buf[16];
	struct vm_jail_stage s;
	struct tern_error err;
	struct stat st;
	int to;

	if (geteuid() != 0)
		skip();
	assert_int_equal(vm_jail_stage_open(f->vm_dir, &s, &err), 0);
	snprintf(written, sizeof(written), "%s/%s/state", f->root,
		 VM_JAIL_SNAPSHOT_DIR);
	write_file(written, "state", f->uid);
	to = open(f->pending, O_RDONLY | O_DIRECTORY);
	assert_true(to >= 0);
	assert_int_equal(vm_jail_stage_take(&s, "state", to, f->pending, &err),
			 0);
	close(to);
	vm_jail_stage_close(&s);
	path_in(f, taken, sizeof(taken), f->pending, "state");
	assert_int_equal(lstat(taken, &st), 0);
	assert_int_equal(st.st_uid, 0);
	assert_int_equal(st.st_gid, 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	read_file(taken, buf, sizeof(buf));
	assert_string_equal(buf, "state");
	assert_int_equal(access(written, F_OK), -1);
}

/* A symlink, or a second name of a file outside (a hard link), is refused
 * and the file it names keeps its owner and contents. */
static void stage_refuses_links(void **state)
{
	struct fixture *f = *state;
	char secret[256], in_stage[512], taken[256], buf[16];
	struct vm_jail_stage s;
	struct tern_error err;
	struct stat st;
	int to;

	if (geteuid() != 0)
		skip();
	snprintf(secret, sizeof(secret), "%s/secret", f->dir);
	write_file(secret, "secret", f->uid);
	to = open(f->pending, O_RDONLY | O_DIRECTORY);
	assert_true(to >= 0);

	assert_int_equal(vm_jail_stage_open(f->vm_dir, &s, &err), 0);
	snprintf(in_stage, sizeof(in_stage), "%s/%s/mem", f->root,
		 VM_JAIL_SNAPSHOT_DIR);
	assert_int_equal(symlink(secret, in_stage), 0);
	assert_int_equal(vm_jail_stage_take(&s, "mem", to, f->pending, &err),
			 -EPERM);
	assert_non_null(strstr(err.message, "one link"));

	snprintf(in_stage, sizeof(in_stage), "%s/%s/state", f->root,
		 VM_JAIL_SNAPSHOT_DIR);
	assert_int_equal(link(secret, in_stage), 0);
	assert_int_equal(vm_jail_stage_take(&s, "state", to, f->pending, &err),
			 -EPERM);
	vm_jail_stage_close(&s);
	close(to);

	assert_int_equal(lstat(secret, &st), 0);
	assert_int_equal(st.st_uid, f->uid);
	assert_int_equal(st.st_mode & 0777, 0600);
	read_file(secret, buf, sizeof(buf));
	assert_string_equal(buf, "secret");
	path_in(f, taken, sizeof(taken), f->pending, "mem");
	assert_int_equal(lstat(taken, &st), -1);
	path_in(f, taken, sizeof(taken), f->pending, "state");
	assert_int_equal(lstat(taken, &st), -1);
}

/* The key replaces whatever the tern put under its name (a link to a
 * file outside is removed, never written through). */
static void psk_goes_into_the_jail_through_no_link(void **state)
{
	struct fixture *f = *state;
	char secret[256], psk[512], buf[80];
	struct tern_error err;
	struct stat st;

	/* The key becomes the uid's and its group's (the same number). */
	if (geteuid() != 0)
		skip();
	snprintf(secret, sizeof(secret), "%s/secret", f->dir);
	write_file(secret, "secret", 0);
	snprintf(psk, sizeof(psk), "%s%s", f->root, VM_JAIL_PSK);
	assert_int_equal(symlink(secret, psk), 0);
	assert_int_equal(vm_jail_put_psk(f->vm_dir, "abcd", &err), 0);
	assert_int_equal(lstat(psk, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0400);
	assert_int_equal(st.st_uid, f->uid);
	read_file(psk, buf, sizeof(buf));
	assert_string_equal(buf, "abcd\n");
	read_file(secret, buf, sizeof(buf));
	assert_string_equal(buf, "secret");
	vm_jail_remove_psk(f->vm_dir);
	assert_int_equal(lstat(psk, &st), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(unjailed_vm_is_enoent, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			stage_replaces_a_link_and_follows_none, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			stage_takes_the_tern_s_file_as_root_s, setup, teardown),
		cmocka_unit_test_setup_teardown(stage_refuses_links, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			psk_goes_into_the_jail_through_no_link, setup,
			teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
