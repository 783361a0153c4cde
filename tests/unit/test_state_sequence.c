/* The one save/restore sequence (src/snapshot/state_sequence.h): its table
 * is well-formed and owns every kind of section a state file holds, and no
 * other file runs a section's save, check or restore itself, so snapshots
 * and live migration cannot drift apart again (a section saved by one path
 * and dropped by the other). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices/io_bus.h"
#include "snapshot/snapshot_sections.h"
#include "snapshot/state_sequence.h"

static void table_is_well_formed(void **state)
{
	size_t count;
	const struct state_sequence_entry *e = state_sequence_entries(&count);

	assert_true(count > 0);
	for (size_t i = 0; i < count; i++) {
		assert_non_null(e[i].name);
		/* Every entry saves and checks; restore may be NULL only for
		 * state applied before the VM exists (the configuration). */
		assert_non_null(e[i].save);
		assert_non_null(e[i].check);
		assert_true(e[i].first_id <= e[i].last_id);
		for (size_t j = 0; j < i; j++) {
			assert_string_not_equal(e[i].name, e[j].name);
			if (e[i].first_id <= e[j].last_id &&
			    e[j].first_id <= e[i].last_id)
				fail_msg("entries %s and %s own the same ids",
					 e[i].name, e[j].name);
		}
	}
}

static void expect_owned(uint32_t id)
{
	if (!state_sequence_owner(id))
		fail_msg("section id 0x%x belongs to no entry of the sequence",
			 id);
}

/* Every id snapshot_sections.h defines is read back by exactly one entry
 * (the table's ranges are disjoint, above). */
static void every_section_kind_is_owned(void **state)
{
	for (uint32_t id = SNAP_VM_META; id <= SNAP_VM_FIRMWARE; id++)
		expect_owned(id);
	for (int cpu = 0; cpu < VM_MAX_CPUS; cpu++)
		for (int kind = SNAP_VCPU_CPUID; kind <= SNAP_VCPU_DEBUGREGS;
		     kind++)
			expect_owned(snap_vcpu_id(cpu, kind));
	for (uint32_t i = 0; i < 2 * IO_BUS_MAX_RANGES; i++)
		expect_owned(SNAP_DEVICE_BASE + i);
	expect_owned(SNAP_VIRTIO_BASE);
	/* Not everything: an unknown id is refused at load. */
	assert_null(state_sequence_owner(0));
	assert_null(state_sequence_owner(0xffffffffu));
}

/* The functions the table calls, which only the table may call. */
static const char *const section_functions[] = {
	"config_state_save(",	   "config_state_check(",
	"device_state_save(",	   "device_state_check(",
	"device_state_restore(",   "device_state_restored(",
	"vm_state_save(",	   "vm_state_check(",
	"vm_state_restore(",	   "vcpu_state_save(",
	"vcpu_state_check_cpuid(", "vcpu_state_restore(",
	"device_state_reset(",	   "vm_state_reset(",
	"vcpu_state_reset(",	   "firmware_state_save(",
	"firmware_state_check(",   "firmware_state_restore(",
};

static char offenders[4096];

/* Is the file one where these functions may appear: the sequence, or a
 * section's own definition (its .c and .h)? */
static int allowed(const char *path)
{
	static const char *const own[] = {
		"src/snapshot/state_sequence.c", "src/snapshot/config_state.",
		"src/snapshot/device_state.",	 "src/snapshot/vm_state.",
		"src/snapshot/vcpu_state.",	 "src/snapshot/firmware_state.",
	};

	for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++)
		if (strstr(path, own[i]))
			return 1;
	return 0;
}

static int scan_file(const char *path, const struct stat *st, int type,
		     struct FTW *ftw)
{
	size_t len = strlen(path);
	char *text;
	FILE *f;
	long size;

	if (type != FTW_F || len < 2 || strcmp(path + len - 2, ".c") ||
	    allowed(path))
		return 0;
	f = fopen(path, "r");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	rewind(f);
	text = calloc(1, (size_t)size + 1);
	assert_non_null(text);
	assert_int_equal(fread(text, 1, (size_t)size, f), (size_t)size);
	fclose(f);
	for (size_t i = 0;
	     i < sizeof(section_functions) / sizeof(section_functions[0]); i++)
		if (strstr(text, section_functions[i]))
			snprintf(offenders + strlen(offenders),
				 sizeof(offenders) - strlen(offenders),
				 " %s calls %s;", path, section_functions[i]);
	free(text);
	return 0;
}

/* Run from the repository's top (tests/run does). Snapshot and migration
 * go through state_sequence_save/check/restore; a file that calls a
 * section's function itself has begun its own copy of the sequence. */
static void only_the_sequence_runs_sections(void **state)
{
	FILE *probe = fopen("src/snapshot/state_sequence.c", "r");

	if (!probe) {
		print_message("not run from the repository's top\n");
		fail();
	}
	fclose(probe);
	offenders[0] = '\0';
	assert_int_equal(nftw("src", scan_file, 16, FTW_PHYS), 0);
	if (offenders[0])
		fail_msg("outside the state sequence:%s", offenders);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(table_is_well_formed),
		cmocka_unit_test(every_section_kind_is_owned),
		cmocka_unit_test(only_the_sequence_runs_sections),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
